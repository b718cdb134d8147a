// End-to-end test of the browser extension in real headless Chromium, offline: the unpacked build is
// loaded with --load-extension, https://x.com/someartist/media is answered by a local fixture that
// reproduces X's media-tab markup (tests/e2e/fixtures/x-media-tab.html), and pbs.twimg.com by real
// images of each class from ILLUST_ONLY_DATA, one corrupt file and one 404. Checks, on one page load:
// verdicts match the same model run in Node, screenshots and photos end hidden and illustrations
// visible, no cell is ever painted before its verdict (a rAF recorder in the page), the corrupt and
// the missing image stay visible (fail open), cells appended by scrolling, re-mounted cells and cells rendered after
// SPA navigation are judged, the popup's
// counts and switches work live, the placeholder and the page-level "show all" reveal, and nothing
// is requested from any host but x.com and pbs.twimg.com.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dataDir = process.env.ILLUST_ONLY_DATA ?? path.join(root, '..', 'shared', 'data');
const extensionDir = path.join(root, 'build', 'extension');
const CHROMIUM = '/usr/bin/chromium';
const ALLOWED_HOSTS = new Set(['x.com', 'pbs.twimg.com']);
const LABELS_HIDDEN_BY_DEFAULT = new Set(['screenshot', 'photo']);
const JUDGE_TIMEOUT_MS = 45000;

function missingPrerequisite() {
  if (!existsSync(dataDir)) return `real images not found at ${dataDir} (set ILLUST_ONLY_DATA)`;
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not installed (bash tools/setup.sh)`;
  for (const part of ['model/illust-only.onnx', 'model/contract.json', 'build/wasm/illust_core.wasm', 'web/lib/core.js']) {
    if (!existsSync(path.join(root, part))) return `${part} not built yet (npm run build; the model comes from tools/export_onnx.py)`;
  }
  return null;
}

/** Candidate files of one class, spread over its sources (sorted, round-robin), deterministic. */
function candidates(label) {
  const classDir = path.join(dataDir, label);
  const perSource = readdirSync(classDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()
    .map((source) => readdirSync(path.join(classDir, source)).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => path.join(classDir, source, f)));
  const out = [];
  for (let i = 0; out.length < 200 && perSource.some((files) => i < files.length); i += 1) {
    for (const files of perSource) if (i < files.length) out.push(files[i]);
  }
  return out;
}

/**
 * Runs the same model in Node (onnxruntime-node + the same wasm core + classifier.js) and picks, per
 * class, images it labels correctly with a clear margin at the default threshold, so the test checks
 * the extension and not the model's accuracy. Returns [{file, label, scores}] and the contract.
 */
async function pickImages(counts) {
  const contract = JSON.parse(readFileSync(path.join(root, 'model', 'contract.json'), 'utf8'));
  const ort = await import('onnxruntime-node');
  const { loadCore } = await import(pathToFileURL(path.join(root, 'web', 'lib', 'core.js')));
  const { createClassifier } = await import(pathToFileURL(path.join(root, 'web', 'lib', 'classifier.js')));
  const { thresholdForStrictness } = await import(pathToFileURL(path.join(root, 'web', 'lib', 'decide.js')));
  const core = await loadCore({ wasmBinary: readFileSync(path.join(root, 'build', 'wasm', 'illust_core.wasm')) });
  const classifier = await createClassifier({
    ort, core, contract, provider: 'cpu', numThreads: 1, model: readFileSync(path.join(root, 'model', 'illust-only.onnx')),
  });
  const t = thresholdForStrictness(0.5, contract);
  const picked = [];
  for (const [label, count] of Object.entries(counts)) {
    const chosen = [];
    for (const file of candidates(label)) {
      if (chosen.length === count) break;
      const result = await classifier.classify(new Uint8Array(readFileSync(file)));
      if (!result.ok || result.label !== label) continue;
      const p = result.scores.illustration;
      const clear = label === 'illustration' ? p >= (1 + t) / 2 : p <= t / 2;
      if (clear) chosen.push({ file, label, scores: result.scores });
    }
    assert.equal(chosen.length, count, `the model labels too few ${label} images clearly right to build the fixture`);
    picked.push(...chosen);
  }
  await classifier.release();
  return { picked, contract, thresholdForStrictness };
}

const skipReason = missingPrerequisite();

test('extension on an X media tab: hides screenshots and photos without flashing, fails open, obeys the popup', { skip: skipReason ?? false, timeout: 180000 }, async () => {
  const { default: buildExtension } = await import(pathToFileURL(path.join(root, 'tools', 'build', 'extension.mjs')));
  await buildExtension({ root, log: () => {} });
  const { chromium } = await import('playwright-core');
  const { picked, contract, thresholdForStrictness } = await pickImages({ illustration: 5, screenshot: 4, photo: 4 });

  // Media ids: what X's look like (base64url, 15 chars). The first batch is on screen at load; the
  // second arrives when the grid is scrolled to its end, with lazily loaded images.
  const media = new Map(); // media id → {bytes, label, scores}
  const cellsOf = (items, variants) => items.map((item, i) => {
    const mediaId = `Fx${String(media.size).padStart(3, '0')}${item.label.slice(0, 4)}AbCdEf`.slice(0, 15);
    media.set(mediaId, { ...item, bytes: item.file ? readFileSync(item.file) : item.bytes });
    return { statusId: String(1800000000000000000n + BigInt(media.size)), mediaId, variant: variants[i % variants.length] };
  });
  const corrupt = { label: 'corrupt', bytes: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0 this is not image data'.repeat(40))]) };
  const missing = { label: 'missing', bytes: null }; // pbs.twimg.com answers 404
  const byClass = (label) => picked.filter((p) => p.label === label);
  const batch0 = cellsOf([...byClass('illustration').slice(0, 4), ...byClass('screenshot').slice(0, 3), ...byClass('photo').slice(0, 3), corrupt, missing],
    ['both', 'img', 'background']);
  const batch1 = cellsOf([byClass('illustration')[4], byClass('screenshot')[3], byClass('photo')[3]], ['lazy', 'both', 'lazy']);
  const fixture = readFileSync(path.join(root, 'tests', 'e2e', 'fixtures', 'x-media-tab.html'), 'utf8')
    .replace('/*CELL_BATCHES*/[]', JSON.stringify([batch0, batch1]));

  const profile = mkdtempSync(path.join(os.tmpdir(), 'illust-only-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 800, height: 600 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--disable-extensions-except=${extensionDir}`, `--load-extension=${extensionDir}`],
  });
  const requests = []; // {host, url, fromWorker}
  try {
    await context.route('**/*', (route) => {
      const request = route.request();
      const url = new URL(request.url());
      // Playwright also sees the extension's own pages (the popup) load their files.
      if (url.protocol === 'chrome-extension:') return route.continue();
      requests.push({ host: url.host, url: url.href, fromWorker: Boolean(request.serviceWorker()) });
      if (url.host === 'x.com' && url.pathname === '/someartist/media') return route.fulfill({ contentType: 'text/html; charset=utf-8', body: fixture });
      const id = url.host === 'pbs.twimg.com' && url.pathname.match(/^\/media\/([\w-]+)$/)?.[1];
      if (id && media.get(id)?.bytes) return route.fulfill({ contentType: 'image/jpeg', body: media.get(id).bytes });
      return route.fulfill({ status: 404, body: '' });
    });
    const worker = context.serviceWorkers()[0] ?? await context.waitForEvent('serviceworker');
    const extensionId = new URL(worker.url()).host;

    const page = await context.newPage();
    const consoleLines = [];
    page.on('console', (message) => consoleLines.push(message.text()));
    // The flash recorder: before every frame, any media cell whose picture is visible while its
    // state is not one that allows showing is a flash.
    await page.addInitScript(() => {
      window.__flashes = [];
      const shownStates = new Set(['visible', 'revealed', 'error']);
      const check = () => {
        for (const cell of document.querySelectorAll('a[href*="/photo/"]')) {
          const picture = cell.querySelector('img[src*="pbs.twimg.com/media/"], [style*="pbs.twimg.com/media/"]');
          if (!picture || getComputedStyle(picture).visibility !== 'visible') continue;
          if (!document.documentElement.hasAttribute('data-illust-only-active')) continue; // switched off
          const state = cell.dataset.illustOnlyState ?? null;
          if (!shownStates.has(state)) window.__flashes.push({ media: cell.closest('li')?.dataset.testMedia, state });
        }
        requestAnimationFrame(check);
      };
      requestAnimationFrame(check);
    });
    await page.goto('https://x.com/someartist/media');

    const states = () => page.evaluate(() => Object.fromEntries([...document.querySelectorAll('li[data-test-media]')].map((li) => {
      const a = li.querySelector('a');
      const picture = a.querySelector('img[src*="pbs.twimg.com/media/"], [style*="pbs.twimg.com/media/"]');
      return [li.dataset.testMedia, { state: a.dataset.illustOnlyState ?? null, label: a.dataset.illustOnlyLabel ?? null,
        shown: Boolean(picture) && getComputedStyle(picture).visibility === 'visible' }];
    })));
    const waitForStates = async (ids, predicate, what) => {
      const deadline = Date.now() + JUDGE_TIMEOUT_MS;
      for (;;) {
        const now = await states();
        if (ids.every((id) => now[id] && predicate(now[id], id))) return now;
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(now)}\nconsole: ${consoleLines.join('\n')}`);
        await page.waitForTimeout(100);
      }
    };
    const judged = (s) => s.state !== null && s.state !== 'pending';
    const failing = new Set(['corrupt', 'missing']);
    const expectedState = (id) => (failing.has(media.get(id).label) ? 'error' : LABELS_HIDDEN_BY_DEFAULT.has(media.get(id).label) ? 'hidden' : 'visible');
    const assertVerdicts = (now, ids) => {
      for (const id of ids) {
        const { label } = media.get(id);
        assert.equal(now[id].state, expectedState(id), `${id} (${label}): ${JSON.stringify(now[id])}`);
        if (!failing.has(label)) assert.equal(now[id].label, label, `${id}: extension label vs Node`);
        assert.equal(now[id].shown, now[id].state !== 'hidden', `${id}: shown must follow state`);
      }
    };

    // 1. The first screen: every cell judged, as expected; the corrupt and the missing one shown.
    const ids0 = batch0.map((c) => c.mediaId);
    assertVerdicts(await waitForStates(ids0, judged, 'the first batch to be judged'), ids0);
    // The console says why: a decoder error code for the corrupt file, fetch_failed for the 404.
    for (const id of ids0.filter((i) => failing.has(media.get(i).label))) {
      const why = media.get(id).label === 'missing' ? /fetch_failed: .*HTTP 404/ : /(corrupt|truncated|unsupported_format): /;
      assert.ok(consoleLines.some((l) => l.includes(`showing media ${id} unjudged (`) && why.test(l)),
        `the fail-open reason for ${id} is logged: ${consoleLines.join('\n')}`);
    }

    // 2. Infinite scroll: appended (and lazily loaded) cells are judged; the re-mounted first cell
    //    keeps its verdict.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    const ids1 = batch1.map((c) => c.mediaId);
    const afterScroll = await waitForStates(ids1, judged, 'the appended batch to be judged');
    assertVerdicts(afterScroll, [...ids0, ...ids1]);
    const all = [...ids0, ...ids1];
    const hiddenIds = all.filter((id) => expectedState(id) === 'hidden');

    // SPA navigation: off the media tab the page is left alone; back on it, the freshly rendered
    // cells take their known verdicts at once (the flash recorder watches this too).
    await page.evaluate(() => window.fixtureNavigate('/someartist'));
    await page.waitForFunction(() => !document.documentElement.hasAttribute('data-illust-only-active'));
    await page.evaluate(() => window.fixtureNavigate('/someartist/media'));
    const remounted = await page.evaluate(() => ({
      active: document.documentElement.hasAttribute('data-illust-only-active'),
      // Lazy images get their src later; the others are media cells right away.
      states: [...document.querySelectorAll('li[data-test-media] a')]
        .filter((a) => a.querySelector('img[src*="pbs.twimg.com/media/"], [style*="pbs.twimg.com/media/"]'))
        .map((a) => a.dataset.illustOnlyState ?? null),
    }));
    assert.ok(remounted.active, 'judging resumes on the media tab');
    assert.ok(remounted.states.length >= ids0.length, `cells re-rendered: ${remounted.states.length}`);
    assert.ok(remounted.states.every((s) => s && s !== 'pending'), `re-rendered cells judged at once: ${remounted.states}`);
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight)); // lazy images load
    assertVerdicts(await waitForStates(all, judged, 'the re-rendered cells to be judged'), all);

    // 3. The popup: counts, provider, and switches applied live.
    const tabId = await worker.evaluate(async () => (await chrome.tabs.query({ url: 'https://x.com/*' }))[0].id);
    const popup = await context.newPage();
    await popup.goto(`chrome-extension://${extensionId}/popup.html?tab=${tabId}`);
    await popup.waitForFunction((n) => document.getElementById('judged').textContent === String(n), all.length - failing.size);
    assert.equal(await popup.textContent('#hidden'), String(hiddenIds.length));
    assert.equal(await popup.textContent('#errors'), String(failing.size));
    await popup.waitForFunction(() => /wasm/.test(document.getElementById('provider').textContent));

    const photoIds = all.filter((id) => media.get(id).label === 'photo');
    await popup.uncheck('#hidePhotos');
    await waitForStates(photoIds, (s) => s.state === 'visible' && s.shown, 'photos shown after "Hide photos" is off');
    await popup.check('#hidePhotos');
    await waitForStates(photoIds, (s) => s.state === 'hidden', 'photos hidden again');

    // Strictness 0 → the lowest threshold: each cell follows decide() on the Node scores (cells
    // within 0.05 of the threshold are left out: two runtimes may round differently there).
    const lowest = thresholdForStrictness(0, contract);
    const clearAtLowest = all.filter((id) => media.get(id).scores && Math.abs(media.get(id).scores.illustration - lowest) > 0.05);
    await popup.evaluate(() => { const s = document.getElementById('strictness'); s.value = '0'; s.dispatchEvent(new Event('change')); });
    await waitForStates(clearAtLowest, (s, id) => s.state === (media.get(id).scores.illustration >= lowest ? 'visible' : 'hidden'), 'verdicts at strictness 0');
    await popup.evaluate(() => { const s = document.getElementById('strictness'); s.value = '0.5'; s.dispatchEvent(new Event('change')); });
    assertVerdicts(await waitForStates(hiddenIds, (s) => s.state === 'hidden', 'verdicts back at strictness 0.5'), all);

    // 4. Reveal one cell through its placeholder (without following the link), then all of them
    //    through the page-level control.
    const [firstHidden, ...otherHidden] = hiddenIds;
    const placeholder = page.locator(`li[data-test-media="${firstHidden}"] .illust-only-placeholder`);
    assert.match(await placeholder.textContent(), /^hidden: (screenshot|photo) — show$/);
    await placeholder.click();
    await waitForStates([firstHidden], (s) => s.state === 'revealed' && s.shown, 'the clicked cell revealed');
    assert.equal(new URL(page.url()).pathname, '/someartist/media', 'the placeholder click must not follow the link');
    const control = page.locator('#illust-only-page-control');
    assert.equal(await control.locator('.count').textContent(), `Illust Only: ${otherHidden.length} hidden`);
    await control.locator('button.reveal-all').click();
    await waitForStates(otherHidden, (s) => s.state === 'revealed' && s.shown, 'all cells revealed');
    assert.equal(await control.locator('.count').textContent(), 'Illust Only: 0 hidden');

    // 5. Switched off: the page is left alone.
    await popup.uncheck('#enabled');
    await page.waitForFunction(() => !document.documentElement.hasAttribute('data-illust-only-active'));
    assert.ok(Object.values(await states()).every((s) => s.shown), 'everything shows when switched off');

    // No flash, ever; no host but X's.
    assert.deepEqual(await page.evaluate(() => window.__flashes.slice(0, 10)), [], 'cells painted before their verdict');
    const foreign = requests.filter((r) => !ALLOWED_HOSTS.has(r.host));
    assert.deepEqual(foreign, [], 'requests to hosts other than x.com and pbs.twimg.com');
    const workerFetches = requests.filter((r) => r.fromWorker);
    assert.ok(workerFetches.length >= all.length, 'the service worker fetched the media');
    for (const r of workerFetches) assert.match(r.url, /^https:\/\/pbs\.twimg\.com\/media\/[\w-]+\?format=jpg&name=small$/);

    // The last X tab closed: the offscreen document (and the model's memory) goes too.
    const offscreenCount = () => worker.evaluate(async () => (await chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'] })).length);
    assert.equal(await offscreenCount(), 1);
    await page.close();
    const deadline = Date.now() + 10000;
    while (await offscreenCount() > 0) {
      assert.ok(Date.now() < deadline, 'the offscreen document outlived the last X tab');
      await popup.waitForTimeout(100);
    }
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
