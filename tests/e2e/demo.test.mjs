// End-to-end tests of the demo page in real headless Chromium, served by tools/serve.mjs from
// build/demo (so `npm run build` must have run). They drop real images of each class from
// ILLUST_ONLY_DATA, a folder among them, plus a WebP (encoded by Chromium) and a corrupt file, and check
// what a user sees: labels (the WebP's too), counts, error cards, the filter, the strictness slider (no re-run), the provider line, and
// that the page still works single-threaded without cross-origin isolation. Writes a screenshot to
// build/demo.png, or to $ILLUST_ONLY_DEMO_PNG (`npm run docs:demo` refreshes the README's docs/demo.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../../tools/serve.mjs';
import { decide, decisionReason } from '../../web/lib/decide.js';
import { walkImageFiles } from '../../tools/lib/image-files.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const site = path.join(root, 'build', 'demo');
const dataDir = process.env.ILLUST_ONLY_DATA ?? path.join(root, '..', 'shared', 'data');
// Test runs must not rewrite tracked files: the README's picture is refreshed on purpose only.
const screenshotPath = path.resolve(process.env.ILLUST_ONLY_DEMO_PNG ?? path.join(root, 'build', 'demo.png'));

// Sources whose repositories carry permissive licences, because docs/demo.png shows their thumbnails.
// Sources whose first image the model judges with a clear margin at the default threshold (the test
// is about the page, not about the model's hard cases: those are the model card's business).
const SOURCES = {
  illustration: ['waifu2x-samples', 'anime2sketch', 'style2paints-inputs'],
  screenshot: ['nanobot-coc', 'ark-recognizer', 'renpy'],
  photo: ['based-cooking', 'the-bread-code', 'food_mnist'],
};
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

const siteMissing = ['index.html', 'lib/core.js', 'lib/illust_core.wasm', 'model/illust-only.onnx', 'model/contract.json']
  .filter((file) => !existsSync(path.join(site, file)));
const skipReason = siteMissing.length
  ? `demo site incomplete (missing build/demo/${siteMissing.join(', build/demo/')}): run \`npm run build\` after the wasm core and model exist`
  : !existsSync(dataDir) ? `real images not found at ${dataDir} (set ILLUST_ONLY_DATA)` : false;
if (skipReason) console.log(`# demo e2e: SKIPPED: ${skipReason}`);

/** First image (sorted by name) of each listed source, as {label, file}. */
function pickImages() {
  const picked = [];
  for (const [label, sources] of Object.entries(SOURCES)) {
    for (const source of sources) {
      const dir = path.join(dataDir, label, source);
      const name = readdirSync(dir).filter((n) => /\.(jpe?g|png)$/i.test(n)).sort()[0];
      assert.ok(name, `no image in ${dir}`);
      picked.push({ label, file: path.join(dir, name) });
    }
  }
  return picked;
}

let workDir;
let browser;
before(async () => {
  if (skipReason) return;
  workDir = await mkdtemp(path.join(os.tmpdir(), 'illust-demo-e2e-'));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS, '--disable-gpu'] });
});
after(async () => {
  await browser?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Opens the page, collecting console errors and uncaught exceptions (the page must have none). */
async function openPage(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error') errors.push(`worker console: ${m.text()}`); }));
  await page.goto(url);
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 60000 });
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#engine'));
  return { page, errors };
}

/** A real OS-level drop of files and folders (the page sees webkitGetAsEntry directory entries). */
/** A fresh context on the demo at url whose model download waits for releaseModel(): files given meanwhile wait for it. */
async function demoWithModelHeld(url) {
  const context = await browser.newContext();
  let releaseModel;
  const modelHeld = new Promise((resolve) => { releaseModel = resolve; });
  await context.route('**/model/illust-only.onnx', async (route) => { await modelHeld; await route.continue(); });
  const page = await context.newPage();
  await page.goto(url);
  return { context, page, releaseModel };
}

async function dropPaths(page, paths) {
  const cdp = await page.context().newCDPSession(page);
  const box = await page.locator('#drop-zone').boundingBox();
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const data = { items: [], files: paths, dragOperationsMask: 1 };
  for (const type of ['dragEnter', 'dragOver', 'drop']) await cdp.send('Input.dispatchDragEvent', { type, ...at, data });
  await cdp.detach();
}

async function waitForCards(page, count) {
  await page.waitForFunction((n) => document.querySelectorAll('.card').length === n &&
    !document.querySelector('.card[data-state="queued"]') && document.body.dataset.state === 'ready', count, { timeout: 60000 });
}

/** Every card as the user sees it, plus the scores the page drew its bars from. */
function readCards(page) {
  return page.$$eval('.card', (cards) => cards.map((c) => ({
    name: c.querySelector('.name').textContent,
    state: c.dataset.state,
    label: c.dataset.label,
    labelText: c.querySelector('.label').textContent,
    reason: c.querySelector('.reason')?.textContent ?? '',
    hidden: c.dataset.hidden === 'true',
    visible: c.checkVisibility(),
    badgeVisible: c.querySelector('.hidden-badge').checkVisibility(),
    scores: Object.fromEntries([...c.querySelectorAll('.bars li')].map((li) => [li.dataset.label, Number(li.dataset.p)])),
    meta: c.querySelector('.meta').textContent,
    error: c.querySelector('.error-message').textContent,
    code: c.dataset.code,
  })));
}

async function readCounts(page) {
  const counts = {};
  for (const name of ['illustration', 'screenshot', 'photo', 'hidden', 'error']) counts[name] = Number(await page.textContent(`#count-${name}`));
  return counts;
}

test('demo page: dropped folder and files are classified, counted, filtered and re-decided', { skip: skipReason, timeout: 120000 }, async () => {
  const images = pickImages();
  const contract = JSON.parse(readFileSync(path.join(site, 'model', 'contract.json'), 'utf8'));

  // Stage a drop: a folder with one sub-folder per class, a WebP (decoded by the core's libwebp) and a
  // corrupt JPEG next to it. In the folder, what the page must skip and say so (a hidden folder,
  // a non-image file) and what it must not (an image whose name starts with ".", as in our data set).
  const dropDir = path.join(workDir, 'drop');
  const folder = path.join(dropDir, 'my-images');
  for (const [i, image] of images.entries()) {
    image.name = `${i === 3 ? '.' : ''}${path.basename(image.file)}`;
    await mkdir(path.join(folder, image.label), { recursive: true });
    await copyFile(image.file, path.join(folder, image.label, image.name));
  }
  await writeFile(path.join(folder, '.DS_Store'), 'Bud1');
  await mkdir(path.join(folder, '.git'));
  await copyFile(images[0].file, path.join(folder, '.git', 'not-this.jpg'));
  const jpeg = readFileSync(images[0].file);
  // The JPEG signature and first header bytes, then deterministic garbage: no decoder can use it.
  const corrupt = Buffer.alloc(4096);
  jpeg.copy(corrupt, 0, 0, 20);
  for (let i = 20, x = 12345; i < corrupt.length; i++) { x = (x * 1103515245 + 12345) >>> 0; corrupt[i] = x >>> 24; }
  await writeFile(path.join(dropDir, 'corrupt.jpg'), corrupt);

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, errors } = await openPage(context, `${(await server()).url}?provider=wasm`);
  // A real WebP, encoded by Chromium itself from a real image (no fixture file needed).
  const webp = await page.evaluate(async (b64) => {
    const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0))]));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    const blob = await canvas.convertToBlob({ type: 'image/webp', quality: 0.8 });
    return btoa(String.fromCharCode(...new Uint8Array(await blob.arrayBuffer())));
  }, readFileSync(images[3].file).toString('base64'));
  await writeFile(path.join(dropDir, 'picture.webp'), Buffer.from(webp, 'base64'));

  // The classifier pool: two 1-thread workers on this 2-core machine (poolPlan).
  assert.match(await page.textContent('#engine'), /^WASM, \d+ workers? × \d+ threads? · model \S+/);
  assert.equal(await page.getAttribute('#engine', 'data-workers'), String(os.cpus().length >= 2 ? 2 : 1));
  assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'tools/serve.mjs must send COOP/COEP');

  // Every text the notice shows: a folder takes a while to list, and the page must say the drop arrived.
  await page.evaluate(() => {
    window.noticeTexts = [];
    const notice = document.getElementById('notice');
    new MutationObserver(() => window.noticeTexts.push(notice.hidden ? '' : notice.textContent)).observe(notice, { childList: true, attributes: true, characterData: true, subtree: true });
  });
  await dropPaths(page, [folder, path.join(dropDir, 'picture.webp'), path.join(dropDir, 'corrupt.jpg')]);
  await waitForCards(page, images.length + 2);
  assert.equal(await page.textContent('#notice'), 'Skipped in folders, not images: .DS_Store, .git/.');
  const noticeTexts = await page.evaluate(() => window.noticeTexts.filter((text, i, all) => text !== all[i - 1]));
  assert.deepEqual(noticeTexts, ['Reading the dropped folder…', 'Skipped in folders, not images: .DS_Store, .git/.']);

  let cards = await readCards(page);
  // Folder contents keep their folder path; every dropped image got a card.
  for (const { label, name } of images) {
    assert.ok(cards.some((c) => c.name === `my-images/${label}/${name}`), `no card for ${label}/${name}`);
  }

  // The WebP (Chromium's own lossy encoding of images[3]) gets a verdict, close to its JPEG twin's.
  const webpCard = cards.find((c) => c.name === 'picture.webp');
  assert.equal(webpCard.state, 'done', webpCard.error);
  assert.match(webpCard.meta, /^\d+×\d+ webp · \d+ ms$/);
  assert.equal(webpCard.label, decide(webpCard.scores, contract).label);
  const twin = cards.find((c) => c.name === `my-images/${images[3].label}/${images[3].name}`);
  for (const label of Object.keys(twin.scores)) {
    assert.ok(Math.abs(webpCard.scores[label] - twin.scores[label]) < 0.2, `WebP vs JPEG ${label}: ${webpCard.scores[label]} vs ${twin.scores[label]}`);
  }
  // Error cards carry the core's message; nothing was skipped silently.
  const corruptCard = cards.find((c) => c.name === 'corrupt.jpg');
  assert.equal(corruptCard.state, 'error');
  assert.ok(corruptCard.error.length > 0 && corruptCard.code, 'corrupt file needs a code and message');

  // Labels: what decide() says for the page's own scores, and right for (nearly) every real image.
  const ok = cards.filter((c) => c.state === 'done' && c !== webpCard);
  assert.equal(ok.length, images.length);
  let correct = 0;
  for (const card of ok) {
    const sum = Object.values(card.scores).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-3, `probabilities of ${card.name} sum to ${sum}`);
    assert.equal(card.label, decide(card.scores, contract).label, card.name);
    assert.match(card.meta, /^\d+×\d+ jpeg · \d+ ms$/);
    if (card.name.startsWith(`my-images/${card.label}/`)) correct++;
  }
  assert.ok(correct >= images.length - 1, `only ${correct}/${images.length} real images labelled right: ${ok.map((c) => `${c.name}→${c.label}`).join(', ')}`);

  // Counts agree with the cards.
  const countsOf = (list) => ({
    illustration: list.filter((c) => c.label === 'illustration').length,
    screenshot: list.filter((c) => c.label === 'screenshot').length,
    photo: list.filter((c) => c.label === 'photo').length,
    hidden: list.filter((c) => c.hidden).length,
    error: list.filter((c) => c.state === 'error').length,
  });
  assert.deepEqual(await readCounts(page), countsOf(cards));
  assert.equal((await readCounts(page)).error, 1);
  // Every judged image counts: the real ones and the WebP.
  assert.match(await page.textContent('#engine'), new RegExp(`median \\d+\\.\\d ms per image \\(${images.length + 1}\\)`));
  // The dropped folder, the WebP and the corrupt file were one batch.
  assert.match(await page.textContent('#engine'), new RegExp(`last batch: ${images.length + 2} images in \\d+\\.\\d s \\(\\d+ ms each\\)`));

  await page.mouse.move(0, 0); // no hover highlight in the picture
  // The data's images are not ours to redistribute (see the data README): blur them in the committed picture.
  const blur = await page.addStyleTag({ content: '.thumb img { filter: blur(7px) !important; }' });
  await page.screenshot({ path: screenshotPath, fullPage: true });
  await blur.evaluate((node) => node.remove());

  // Filter: only illustrations, then only hidden, then all again.
  await page.check('input[name="filter"][value="illustration"]');
  cards = await readCards(page);
  assert.deepEqual(cards.filter((c) => c.visible).map((c) => c.name), cards.filter((c) => c.label === 'illustration').map((c) => c.name));
  await page.check('input[name="filter"][value="hidden"]');
  cards = await readCards(page);
  assert.ok(cards.some((c) => c.hidden), 'screenshots and photos are hidden by default');
  assert.deepEqual(cards.filter((c) => c.visible).map((c) => c.name), cards.filter((c) => c.hidden).map((c) => c.name));
  assert.ok(cards.filter((c) => c.visible).every((c) => c.badgeVisible));
  await page.check('input[name="filter"][value="all"]');
  assert.equal((await readCards(page)).filter((c) => c.visible).length, images.length + 2);

  // Strictness slider, by keyboard: the extremes re-decide from the stored scores without re-running
  // the model (the per-image times stay exactly as they were).
  const before = await readCards(page);
  const explained = [];
  for (const [key, strictness] of [['End', 1], ['Home', 0]]) {
    await page.focus('#strictness');
    await page.keyboard.press(key);
    cards = await readCards(page);
    for (const card of cards.filter((c) => c.state === 'done')) {
      const expected = decide(card.scores, contract, { strictness });
      assert.equal(card.label, expected.label, `${card.name} at strictness ${strictness}`);
      assert.equal(card.hidden, expected.hide, `${card.name} at strictness ${strictness}`);
      // A label that is not the card's largest bar (illustration 94% called a photo at strictness 100%)
      // says what decided it, and only then.
      assert.equal(card.reason, decisionReason(card.scores, contract, { strictness }) ?? '', `${card.name} at strictness ${strictness}`);
      if (card.reason) explained.push(`${card.labelText}: ${card.reason}`);
    }
    assert.deepEqual(cards.map((c) => c.meta), before.map((c) => c.meta), 'the slider must not re-run the model');
    assert.deepEqual(await readCounts(page), countsOf(cards));
    assert.match(await page.textContent('#threshold-text'),
      new RegExp(`p ≥ ${(strictness ? contract.decision.hide_below_max : contract.decision.hide_below_min).toFixed(2)}`));
  }
  assert.ok(explained.some((line) => /^(Screenshot|Photo): illustration [\d.]+% is below this strictness \(95\.0%\)$/.test(line)),
    `an illustration hidden at strictness 100% says why: ${JSON.stringify(explained)}`);
  const strictest = countsOf(await readCards(page));
  assert.ok(strictest.illustration >= countsOf(before).illustration, 'strictness 0 keeps at least as many illustrations');
  // A screen reader heard the batch end once (the progress text itself is not a live region), the
  // corrupt file's failure with it.
  assert.equal(await page.textContent('#status-live'), `${images.length + 1} of ${images.length + 2} images classified; 1 could not be read.`);

  // Clear forgets the figures of the images it removed, the last batch's time included.
  await page.click('#clear');
  assert.match(await page.textContent('#engine'), /no images yet$/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('demo page without cross-origin isolation runs 1 thread per worker (file and folder picker, paste)', { skip: skipReason, timeout: 60000 }, async () => {
  const plain = await startServer({ siteDir: site, port: 0, isolation: false });
  try {
    const context = await browser.newContext();
    const { page, errors } = await openPage(context, plain.url);
    assert.equal(await page.evaluate(() => crossOriginIsolated), false);
    assert.equal(await page.getAttribute('#engine', 'data-threads'), '1');
    assert.match(await page.textContent('#engine'), /^WASM, \d+ workers? × 1 thread \(page not cross-origin isolated\)/);
    // Threads asked for in the address cannot be had here: the notice says 1, as the engine line does.
    const { page: threaded } = await openPage(context, `${plain.url}?threads=2`);
    assert.equal(await threaded.textContent('#notice'), 'threads=2: this page is not cross-origin isolated, so ONNX Runtime runs 1 thread.');
    assert.match(await threaded.textContent('#engine'), /^WASM, 1 thread \(page not cross-origin isolated\)/);
    await threaded.close();

    const [illustration, photo] = [pickImages()[0], pickImages().find((i) => i.label === 'photo')];
    await page.setInputFiles('#file-input', illustration.file);
    await waitForCards(page, 1);
    // Paste: a clipboard holding an image file, as when a file is copied in a file manager.
    await page.evaluate(async ({ b64, name }) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0))], name, { type: 'image/jpeg' }));
      document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }));
    }, { b64: readFileSync(photo.file).toString('base64'), name: path.basename(photo.file) });
    await waitForCards(page, 2);
    // The folder picker: one image and a note that is not one.
    const picked = path.join(workDir, 'picked');
    await mkdir(picked);
    await copyFile(photo.file, path.join(picked, 'holiday.jpg'));
    await writeFile(path.join(picked, 'notes.txt'), 'not an image');
    await page.setInputFiles('#folder-input', picked);
    await waitForCards(page, 3);
    assert.equal(await page.textContent('#notice'), 'Skipped in folders, not images: notes.txt.');
    const cards = await readCards(page);
    assert.deepEqual(cards.map((c) => c.state), ['done', 'done', 'done']);
    assert.deepEqual(cards.map((c) => c.name), [path.basename(illustration.file), path.basename(photo.file), 'picked/holiday.jpg']);
    assert.deepEqual(cards[1].scores, cards[2].scores, 'the same bytes give the same scores');
    // A filter that matches nothing says so instead of leaving the page blank.
    await page.check('input[name="filter"][value="illustration"]');
    const illustrations = cards.filter((c) => c.label === 'illustration').length;
    assert.equal(await page.isVisible('#empty'), illustrations === 0);
    await page.check('input[name="filter"][value="hidden"]');
    assert.equal(await page.isVisible('#empty'), cards.some((c) => c.hidden) === false);
    // With both switches off nothing is hidden: the "only hidden" view explains its emptiness.
    await page.uncheck('#hide-screenshots');
    await page.uncheck('#hide-photos');
    assert.equal(await page.isVisible('#empty'), true);
    assert.equal(await page.textContent('#empty'), 'No image would be hidden (3 in all): choose "all" to see them.');
    await page.check('#hide-screenshots');
    await page.check('#hide-photos');
    await page.check('input[name="filter"][value="all"]');
    assert.equal(await page.isVisible('#empty'), false);
    await page.click('#clear');
    assert.equal(await page.locator('.card').count(), 0);
    assert.deepEqual(await readCounts(page), { illustration: 0, screenshot: 0, photo: 0, hidden: 0, error: 0 });
    assert.match(await page.textContent('#engine'), /no images yet/);
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await plain.close();
  }
});

test('demo page: a software WebGPU adapter is passed over for the WASM pool; ?provider=webgpu runs WebGPU on it or reports the fallback', { skip: skipReason, timeout: 90000 }, async () => {
  // SwiftShader gives headless Chromium a software WebGPU adapter with this flag (see TOOLCHAIN.md).
  const gpuBrowser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS, '--enable-unsafe-webgpu'] });
  try {
    const { page: auto, errors: autoErrors } = await openPage(await gpuBrowser.newContext(), (await server()).url);
    assert.equal(await auto.getAttribute('#engine', 'data-provider'), 'wasm');
    assert.match(await auto.textContent('#engine'), /^WASM, \d+ workers? × .*\(webgpu: software adapter only; using wasm\)$/);
    assert.deepEqual(autoErrors, []);
    const { page, errors } = await openPage(await gpuBrowser.newContext(), `${(await server()).url}?provider=webgpu`);
    const provider = await page.getAttribute('#engine', 'data-provider');
    const engine = await page.textContent('#engine');
    if (provider === 'webgpu') assert.match(engine, /^WebGPU · model/);
    else {
      assert.equal(provider, 'wasm');
      assert.match(engine, /^WASM, .*\(webgpu: .*using wasm\)$/, 'the fallback must say why');
    }
    console.log(`# demo e2e: webgpu request ran on: ${engine}`);
    await page.setInputFiles('#file-input', pickImages()[0].file);
    await waitForCards(page, 1);
    assert.equal((await readCards(page))[0].state, 'done');
    assert.deepEqual(errors, []);
  } finally {
    await gpuBrowser.close();
  }
});

test('demo page: the engine list only offers a switch, which asks before it clears results; odd ?provider/?threads are reported', { skip: skipReason, timeout: 90000 }, async () => {
  const context = await browser.newContext();
  const base = (await server()).url;
  const { page, errors } = await openPage(context, `${base}?provider=WASM&threads=99`);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  // Upper case is read as the engine it names; 99 threads are capped at the cores, and the page says so.
  assert.equal(await page.getAttribute('#engine', 'data-provider'), 'wasm');
  assert.equal(await page.getAttribute('#engine', 'data-threads'), String(cores));
  assert.equal(await page.textContent('#notice'), `threads=99 is more than this machine's ${cores} cores: using ${cores}.`);
  assert.equal(await page.inputValue('#provider'), 'wasm');

  await page.setInputFiles('#file-input', pickImages()[0].file);
  await waitForCards(page, 1);
  // Arrow keys change a closed <select>: that must not reload the page and drop the results.
  await page.focus('#provider');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.inputValue('#provider'), 'webgpu');
  assert.equal(await page.locator('.card').count(), 1);
  assert.equal(new URL(page.url()).searchParams.get('provider'), 'WASM', 'no navigation yet');
  assert.equal(await page.isVisible('#apply-provider'), true);
  // Declining the question keeps the page; accepting it loads the chosen engine.
  page.once('dialog', (dialog) => { assert.match(dialog.message(), /clears the 1 image shown/); dialog.dismiss(); });
  await page.click('#apply-provider');
  assert.equal(await page.locator('.card').count(), 1);
  page.once('dialog', (dialog) => dialog.accept());
  await Promise.all([page.waitForURL((url) => url.searchParams.get('provider') === 'webgpu'), page.click('#apply-provider')]);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60000 });
  assert.equal(await page.locator('.card').count(), 0);
  assert.equal(await page.getAttribute('#engine', 'data-provider'), 'wasm');
  assert.match(await page.textContent('#engine'), /^WASM, .*\(webgpu: no adapter \(forced webgpu unavailable\); using wasm\)$/);
  // Without a GPU (and without ?threads) a forced WebGPU runs on the WASM pool, as 'auto' would, and says why.
  const { page: forced } = await openPage(context, `${base}?provider=webgpu`);
  assert.equal(await forced.getAttribute('#engine', 'data-workers'), String(cores >= 2 ? 2 : 1));
  assert.match(await forced.textContent('#engine'), /^WASM, \d+ workers? × .*\(webgpu: no adapter \(forced webgpu unavailable\); using wasm\)$/);

  const { page: unknown } = await openPage(context, `${base}?provider=cuda`);
  assert.equal(await unknown.textContent('#notice'), 'Unknown engine "cuda" in the address: using auto.');
  assert.deepEqual(errors, []);
  await context.close();
});

test('demo page: when the worker cannot start, files get an error card at once, not "queued" forever', { skip: skipReason, timeout: 60000 }, async () => {
  const context = await browser.newContext();
  await context.route('**/worker.js', (route) => route.fulfill({ status: 404, body: 'gone' }));
  const page = await context.newPage();
  await page.goto((await server()).url);
  await page.waitForSelector('body[data-state="error"]', { timeout: 30000 });
  const files = pickImages().slice(0, 2).map((i) => i.file);
  await page.setInputFiles('#file-input', files[0]);
  await page.setInputFiles('#file-input', files[1]);
  await page.waitForFunction(() => document.querySelectorAll('.card').length === 2 && !document.querySelector('.card[data-state="queued"]'), null, { timeout: 10000 });
  const cards = await readCards(page);
  assert.deepEqual(cards.map((c) => c.code), ['not_ready', 'not_ready']);
  assert.match(cards[1].error, /the worker stopped/);
  assert.equal(await page.isVisible('#progress-row'), false, 'no progress bar left waiting');
  await context.close();
});

test('demo page: Tab reaches an error card as it reaches the others, and its label says which file failed and why', { skip: skipReason, timeout: 60000 }, async () => {
  // The error card's label was a disabled button: Tab skipped the card, so a keyboard or screen-reader
  // user never heard that the file failed, nor why.
  const context = await browser.newContext();
  const { page, errors } = await openPage(context, (await server()).url);
  // Named so the picker's order puts the corrupt file between two real images.
  const [before, after] = pickImages().slice(0, 2).map((i, n) => ({ name: `${n ? 3 : 1}.jpg`, mimeType: 'image/jpeg', buffer: readFileSync(i.file) }));
  await page.setInputFiles('#file-input', [before, { name: '2-corrupt.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a picture at all') }, after]);
  await waitForCards(page, 3);
  const reason = await page.textContent('.card[data-state="error"] .error-message');
  assert.ok(reason.length > 0);
  const focusedCard = () => page.evaluate(() => document.activeElement.matches('.card button.label') && document.activeElement.closest('.card').querySelector('.name').textContent);
  await page.locator('.card button.label').first().focus();
  await page.keyboard.press('Tab');
  assert.equal(await focusedCard(), '2-corrupt.jpg', 'Tab goes from the first card to the error card');
  // What Chromium gives screen readers for it: the file and that it failed, the reason, and no action.
  const cdp = await context.newCDPSession(page);
  const { root: documentNode } = await cdp.send('DOM.getDocument');
  const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: documentNode.nodeId, selector: '.card[data-state="error"] button.label' });
  const [node] = (await cdp.send('Accessibility.getPartialAXTree', { nodeId, fetchRelatives: false })).nodes;
  assert.equal(node.name.value, 'Error — 2-corrupt.jpg: nothing to correct');
  assert.equal(node.description?.value, reason);
  assert.equal(node.properties.find((p) => p.name === 'disabled')?.value.value, true, 'announced as unavailable');
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('.correct-menu').count(), 0, 'an error card offers no correction');
  await page.keyboard.press('Tab');
  assert.equal(await focusedCard(), after.name, 'and Tab goes on to the next card');
  assert.deepEqual(errors, []);
  await context.close();
});

test('demo page: Tab reaches cards still waiting for their verdict, whose labels say they wait', { skip: skipReason, timeout: 90000 }, async () => {
  // A waiting card's label was a disabled button: Tab skipped every card of a running batch until it
  // was judged, so a keyboard user could not reach them, nor hear that they were there.
  const { context, page, releaseModel } = await demoWithModelHeld((await server()).url);
  const files = pickImages().slice(0, 3).map((image, n) => ({ name: `${n + 1}.jpg`, mimeType: 'image/jpeg', buffer: readFileSync(image.file) }));
  await page.setInputFiles('#file-input', files);
  await page.waitForFunction(() => document.querySelectorAll('.card[data-state="queued"]').length === 3);
  const focusedCard = () => page.evaluate(() => document.activeElement.matches('.card button.label') && document.activeElement.closest('.card').querySelector('.name').textContent);
  await page.locator('.card button.label').first().focus();
  assert.equal(await focusedCard(), '1.jpg', 'a waiting card\'s label takes the focus');
  await page.keyboard.press('Tab');
  assert.equal(await focusedCard(), '2.jpg', 'Tab goes from one waiting card to the next');
  // What Chromium gives screen readers: the file, that it waits, and no action yet.
  const cdp = await context.newCDPSession(page);
  const axNode = async (selector) => {
    const { root } = await cdp.send('DOM.getDocument');
    const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector });
    return (await cdp.send('Accessibility.getPartialAXTree', { nodeId, fetchRelatives: false })).nodes[0];
  };
  const waiting = await axNode('.card:nth-child(2) button.label');
  assert.equal(waiting.name.value, 'Queued — 2.jpg: waiting for its verdict');
  assert.equal(waiting.properties.find((p) => p.name === 'disabled')?.value.value, true, 'announced as unavailable');
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('.correct-menu').count(), 0, 'a waiting card offers no correction');
  releaseModel();
  await waitForCards(page, 3);
  const judged = await axNode('.card:nth-child(2) button.label');
  assert.match(judged.name.value, /^(Illustration|Screenshot|Photo) — 2\.jpg: click to correct$/);
  assert.equal(judged.properties.find((p) => p.name === 'disabled'), undefined, 'once judged it is a live button');
  await page.locator('.card:nth-child(2) button.label').press('Enter');
  assert.equal(await page.locator('.card:nth-child(2) .correct-menu').count(), 1, 'and opens its corrections');
  await context.close();
});

test('demo page: under a filter, images not judged yet are not called "no illustration"; a pool worker that fails to start is not counted', { skip: skipReason, timeout: 90000 }, async () => {
  // A copy of the site whose second classifier worker fails as its script loads (workers are named
  // "illust-only classifier N"; Playwright's routes do not reach a worker's own workers).
  const brokenSite = path.join(workDir, 'site-second-worker-fails');
  await cp(site, brokenSite, { recursive: true });
  const workerScript = path.join(brokenSite, 'lib', 'classifier-worker.js');
  await writeFile(workerScript, `if (self.name.endsWith(' 2')) throw new Error('test: the second worker cannot start');\n${readFileSync(workerScript, 'utf8')}`);
  const brokenServer = await startServer({ siteDir: brokenSite, port: 0 });
  // The model is held back until the files are in, so they wait for it.
  const { context, page, releaseModel } = await demoWithModelHeld(brokenServer.url);
  try {
    await page.check('input[name="filter"][value="illustration"]');
    const files = pickImages().filter((i) => i.label !== 'illustration').slice(0, 3).map((i) => i.file);
    await page.setInputFiles('#file-input', files);
    assert.equal(await page.textContent('#empty'), 'No image is an illustration so far (0 of 3 judged).');
    assert.equal(await page.isVisible('#empty'), true);
    releaseModel();
    await waitForCards(page, 3);
    assert.deepEqual((await readCards(page)).map((c) => c.label === 'illustration'), [false, false, false]);
    assert.equal(await page.textContent('#empty'), 'No image is an illustration (3 in all): choose "all" to see them.');
    // The line said 2 workers while the second was starting; once it has failed, 1.
    await page.waitForFunction(() => /^WASM, 1 worker × /.test(document.getElementById('engine').textContent), null, { timeout: 30000 });
  } finally {
    await context.close();
    await brokenServer.close();
  }
});

test('demo page: an Enter meant for Stop never lands on Clear (held down, or pressed as the batch ends)', { skip: skipReason, timeout: 90000 }, async () => {
  const files = pickImages().slice(0, 3).map((i) => i.file);
  /** A page whose model is held back, so the files it is given wait with Stop focused. */
  async function pageWaitingForModel() {
    const held = await demoWithModelHeld((await server()).url);
    await held.page.setInputFiles('#file-input', files);
    await held.page.focus('#stop');
    return held;
  }
  const focusedId = (page) => page.evaluate(() => document.activeElement.id);

  // Enter held on Stop: the key repeats on whatever has the focus once the row is gone.
  const held = await pageWaitingForModel();
  await held.page.keyboard.down('Enter');
  await held.page.keyboard.down('Enter'); // the auto-repeat
  await held.page.keyboard.up('Enter');
  assert.deepEqual((await readCards(held.page)).map((c) => c.state), ['cancelled', 'cancelled', 'cancelled']);
  assert.equal(await focusedId(held.page), 'results', 'focus stays in the page, on the results');
  held.releaseModel();
  await held.context.close();

  // The batch ends while the user is about to press Stop.
  const late = await pageWaitingForModel();
  late.releaseModel();
  await waitForCards(late.page, 3);
  assert.equal(await focusedId(late.page), 'results');
  await late.page.keyboard.press('Enter');
  assert.deepEqual((await readCards(late.page)).map((c) => c.state), ['done', 'done', 'done']);
  await late.context.close();
});

test('demo page: a correction that takes the focused card out of the filtered view moves the focus to the next card shown', { skip: skipReason, timeout: 120000 }, async () => {
  const context = await browser.newContext();
  const { page, errors } = await openPage(context, (await server()).url);
  const images = pickImages();
  await page.setInputFiles('#file-input', images.map((i) => i.file));
  await waitForCards(page, images.length);
  await page.check('input[name="filter"][value="illustration"]');
  const focused = () => page.evaluate(() => {
    const el = document.activeElement;
    return { id: el.id, label: el.matches('.card button.label'), shown: el.checkVisibility(), name: el.closest('.card')?.querySelector('.name').textContent };
  });
  // Keyboard only: Enter opens the first shown card's menu, Enter again corrects it to "Screenshot" (the
  // first choice offered), so the card leaves "Only illustrations"; the focus goes on to the next one.
  await page.locator('.card[data-label="illustration"] button.label').first().focus();
  for (let corrected = 1; ; corrected++) {
    const before = await focused();
    assert.equal(before.label, true, `correction ${corrected}: the focus is on a card's label`);
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.choice), 'screenshot');
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => document.getElementById('learned').textContent.startsWith(`Learned from ${n} correction`), corrected);
    const after = await focused();
    assert.equal(after.shown, true, `after correcting ${before.name} the focus is on something shown, not <body>`);
    const left = await page.locator('.card[data-label="illustration"]').count();
    if (left === 0) {
      assert.equal(after.id, 'results', 'no card left in view: the focus is on the list');
      break;
    }
    assert.equal(after.label, true, `after correcting ${before.name} the focus is on the next card's label`);
    assert.notEqual(after.name, before.name);
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test('demo page: the live region says how each batch ended, the same words twice, failures and Stop too', { skip: skipReason, timeout: 90000 }, async () => {
  const { context, page, releaseModel } = await demoWithModelHeld((await server()).url);
  // Everything the region held, in order: what a screen reader is given to say.
  await page.evaluate(() => {
    window.liveTexts = [];
    const region = document.getElementById('status-live');
    new MutationObserver(() => window.liveTexts.push(region.textContent)).observe(region, { childList: true, characterData: true, subtree: true });
  });
  const said = (text) => page.waitForFunction((t) => document.getElementById('status-live').textContent === t, text, { timeout: 60000 });
  const images = pickImages();

  await page.setInputFiles('#file-input', images.slice(0, 3).map((i) => i.file));
  await page.click('#stop');
  await said('Stopped: 0 of 3 images judged.');
  // A stopped card stays in the Tab order as the others do (its label was a disabled button, skipped).
  const stoppedLabel = page.locator('.card').first().locator('button.label');
  assert.equal(await stoppedLabel.evaluate((button) => button.disabled), false);
  assert.equal(await stoppedLabel.getAttribute('aria-disabled'), 'true');
  assert.match(await stoppedLabel.getAttribute('aria-label'), /^Stopped — .+\.(jpe?g|png): nothing to correct$/);
  // Under "Only hidden", the cards Stop left unjudged are not spoken for ("none of 3 would be hidden").
  await page.check('input[name="filter"][value="hidden"]');
  assert.equal(await page.textContent('#empty'), 'No image would be hidden (0 of 3 judged before Stop): choose "all" to see them.');
  await page.check('input[name="filter"][value="all"]');
  releaseModel();
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60000 });

  // Two one-file batches end with the same words: the region is emptied in between, or the second
  // would be no change at all.
  for (const image of images.slice(3, 5)) {
    const cards = await page.locator('.card').count();
    await page.setInputFiles('#file-input', image.file);
    await waitForCards(page, cards + 1);
    await said('1 of 1 image classified.');
  }
  const texts = await page.evaluate(() => window.liveTexts.filter((text, i, all) => text !== all[i - 1]));
  assert.deepEqual(texts.slice(-3), ['1 of 1 image classified.', '', '1 of 1 image classified.']);

  // Files that all fail are not "classified".
  const corrupt = { mimeType: 'image/jpeg', buffer: Buffer.from('not a picture at all') };
  await page.setInputFiles('#file-input', [{ name: 'a.jpg', ...corrupt }, { name: 'b.jpg', ...corrupt }]);
  await said('0 of 2 images classified; 2 could not be read.');
  await context.close();
});

test('demo page: one correction menu at a time, and its greyed-out label follows the strictness slider', { skip: skipReason, timeout: 90000 }, async () => {
  const contract = JSON.parse(readFileSync(path.join(site, 'model', 'contract.json'), 'utf8'));
  const context = await browser.newContext();
  const { page, errors } = await openPage(context, (await server()).url);
  const images = pickImages();
  await page.setInputFiles('#file-input', images.map((i) => i.file));
  await waitForCards(page, images.length);
  const cards = await readCards(page);
  // A card whose label the slider's far end changes (the contract's bounds leave many such images).
  const flips = (card, strictness) => decide(card.scores, contract, { strictness }).label !== card.label;
  const strictness = cards.some((card) => flips(card, 1)) ? 1 : 0;
  const at = cards.findIndex((card) => flips(card, strictness));
  assert.ok(at >= 0, 'no image changes label at either end of the slider');
  const card = page.locator('.card').nth(at);
  const other = page.locator('.card').nth(at === 0 ? 1 : 0);

  await other.locator('button.label').click();
  await card.locator('button.label').click();
  assert.equal(await page.locator('.correct-menu').count(), 1, 'opening a menu closes the other');
  assert.equal(await card.locator('.correct-menu').count(), 1);
  assert.equal(await other.locator('button.label').getAttribute('aria-expanded'), 'false');
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('.correct-menu').count(), 0);
  assert.equal(await card.locator('button.label').evaluate((el) => el === document.activeElement), true, 'Escape gives the focus back to the label');

  // The menu stays open while the slider moves; what it greys out is the card's label now.
  await card.locator('button.label').click();
  await page.locator('#strictness').fill(String(strictness * 100));
  const now = decide(cards[at].scores, contract, { strictness }).label;
  assert.equal(await card.getAttribute('data-label'), now);
  const greyed = await card.locator('.correct-menu button[disabled]').evaluateAll((buttons) => buttons.map((b) => b.dataset.choice));
  assert.deepEqual(greyed, [now]);
  await card.locator(`.correct-menu button[data-choice="${cards[at].label}"]`).click();
  await page.waitForFunction(() => /^Learned from 1 correction/.test(document.getElementById('learned').textContent));
  assert.equal(await card.getAttribute('data-label'), cards[at].label, 'the label the card had left can be chosen back');
  assert.deepEqual(errors, []);
  await context.close();
});

test('demo page: an open correction menu and the score values fit in their card, laptop to phone width; each label reads at 4.5:1 in both schemes', { skip: skipReason, timeout: 120000 }, async () => {
  // The menu's three choices on one line widened the card's column past its edge: "Photo" was cut off
  // (and "Screenshot" on a phone), with every bar's value. The photo label read at 4.1:1 in light.
  const images = pickImages();
  for (const colorScheme of ['light', 'dark']) {
    const context = await browser.newContext({ colorScheme, viewport: { width: 1280, height: 800 } });
    const { page, errors } = await openPage(context, (await server()).url);
    await page.setInputFiles('#file-input', images.map((i) => i.file));
    await waitForCards(page, images.length);
    assert.deepEqual(new Set(await page.$$eval('.card', (cards) => cards.map((c) => c.dataset.label))),
      new Set(['illustration', 'screenshot', 'photo']), 'a card of each label');
    for (const width of [1280, 360]) {
      await page.setViewportSize({ width, height: 800 });
      for (let i = 0; i < images.length; i++) {
        const card = page.locator('.card').nth(i);
        await card.locator('button.label').click();
        const outside = await card.evaluate((el) => {
          const edge = el.getBoundingClientRect().right;
          return [...el.querySelectorAll('.correct-menu button, .bar-value, .label')]
            .filter((part) => part.getBoundingClientRect().right > edge + 0.5).map((part) => part.textContent);
        });
        assert.deepEqual(outside, [], `${colorScheme}, ${width} px, ${images[i].file}: cut off at the card's edge`);
        await page.keyboard.press('Escape');
      }
    }
    const contrasts = await page.$$eval('.card', (cards) => cards.map((card) => {
      const luminance = (color) => {
        const [r, g, b] = color.match(/[\d.]+/g).slice(0, 3).map((v) => {
          const c = Number(v) / 255;
          return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const [text, background] = [getComputedStyle(card.querySelector('.label')).color, getComputedStyle(card).backgroundColor]
        .map(luminance).sort((a, b) => b - a);
      return [card.dataset.label, Number(((text + 0.05) / (background + 0.05)).toFixed(2))];
    }));
    for (const [label, ratio] of contrasts) assert.ok(ratio >= 4.5, `${colorScheme}: the ${label} label reads at ${ratio}:1`);
    assert.deepEqual(errors, []);
    await context.close();
  }
});

/** A valid grayscale PNG of width×height (a gradient, so it compresses to little: 8000² is ~0.3 MB). */
function gradientPng(width, height) {
  const chunk = (type, body) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(Buffer.concat([Buffer.from(type), body])) >>> 0);
    return Buffer.concat([length, Buffer.from(type), body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // 8-bit grayscale
  const row = Buffer.alloc(width + 1); // filter byte 0, then the row
  for (let x = 1; x <= width; x++) row[x] = x & 255;
  const pixels = zlib.deflateSync(Buffer.concat(Array.from({ length: height }, () => row)), { level: 1 });
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', header), chunk('IDAT', pixels), chunk('IEND', Buffer.alloc(0))]);
}

/**
 * The demo page with its model never answered (the thumbnails come first): drop(files) gives it files
 * and waits till each card has its <img> or says "no preview"; thumbnailsGiven() names the cards whose
 * <img> got its file, in order.
 */
async function pageWatchingThumbnails() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await context.route('**/model/illust-only.onnx', () => {});
  const page = await context.newPage();
  await page.goto((await server()).url);
  await page.evaluate(() => {
    window.thumbnailsGiven = [];
    new MutationObserver((changes) => {
      for (const { target } of changes) window.thumbnailsGiven.push(target.closest('.card').querySelector('.name').textContent);
    }).observe(document.getElementById('results'), { subtree: true, attributes: true, attributeFilter: ['src'] });
  });
  const drop = async (files) => {
    await page.setInputFiles('#file-input', files);
    await page.waitForFunction((count) => document.querySelectorAll('.card img[src^="blob:"]').length +
      document.querySelectorAll('.card.no-thumb').length === count, files.length);
  };
  return { context, page, drop, thumbnailsGiven: () => page.evaluate(() => window.thumbnailsGiven) };
}

test('demo page: an image over the core\'s pixel cap gets no thumbnail, also while it waits for the model', { skip: skipReason, timeout: 60000 }, async () => {
  // Its card said "image too large", but its <img> decoded it in full: a 20000×20000 PNG (1.6 MB of
  // file) held the page's painting back ~10 s. The page reads the header with the core first.
  const { context, page, drop, thumbnailsGiven } = await pageWatchingThumbnails();
  await drop([
    { name: '1-huge.png', mimeType: 'image/png', buffer: gradientPng(8000, 8000) }, // 64 megapixels: over the cap
    { name: '2-photo.jpg', mimeType: 'image/jpeg', buffer: readFileSync(pickImages()[0].file) },
  ]);
  assert.deepEqual(await thumbnailsGiven(), ['2-photo.jpg'], 'only the photo\'s <img> gets the file');
  assert.equal(await page.locator('.card').first().evaluate((card) => card.classList.contains('no-thumb') && card.checkVisibility()), true, 'the huge one says "no preview"');
  await context.close();
});

// A JPEG whose frame header says width x height (the data stays the original's: only headers are read).
function jpegSized(jpeg, width, height) {
  const patched = Buffer.from(jpeg);
  for (let pos = 2; pos + 9 <= patched.length; pos += 2 + patched.readUInt16BE(pos + 2)) {
    if (patched[pos + 1] >= 0xc0 && patched[pos + 1] <= 0xc2) {
      patched.writeUInt16BE(height, pos + 5);
      patched.writeUInt16BE(width, pos + 7);
      return patched;
    }
  }
  throw new Error('no frame header');
}

// The JPEG behind `bytes` of APP1 segments (where a camera's XMP, an EXIF thumbnail, a big ICC profile sit).
function jpegBehindMetadata(jpeg, bytes) {
  const segments = [];
  for (let left = bytes; left > 0; left -= 65533) {
    const segment = Buffer.alloc(4 + Math.min(65533, left), 0x20);
    segment.writeUInt16BE(0xffe1, 0);
    segment.writeUInt16BE(segment.length - 2, 2);
    segments.push(segment);
  }
  return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
}

test('demo page: a JPEG over the pixel cap gets no thumbnail even behind more metadata than the first read', { skip: skipReason, timeout: 60000 }, async () => {
  // The page read the first 256 KiB for the core's probe: a frame header after 512 KiB of metadata was
  // not in it, and the <img> got the file.
  const { context, page, drop, thumbnailsGiven } = await pageWatchingThumbnails();
  const photo = readFileSync(pickImages()[0].file);
  await drop([
    { name: '1-huge.jpg', mimeType: 'image/jpeg', buffer: jpegBehindMetadata(jpegSized(photo, 8000, 8000), 512 * 1024) }, // 64 MP
    { name: '2-photo.jpg', mimeType: 'image/jpeg', buffer: photo },
    { name: '3-photo-with-metadata.jpg', mimeType: 'image/jpeg', buffer: jpegBehindMetadata(photo, 512 * 1024) },
  ]);
  assert.deepEqual((await thumbnailsGiven()).sort(), ['2-photo.jpg', '3-photo-with-metadata.jpg'],
    'only the photos\' <img>s get their files');
  assert.equal(await page.locator('.card').first().evaluate((card) => card.classList.contains('no-thumb') && card.checkVisibility()), true, 'the huge one says "no preview"');
  await context.close();
});

// The JPEG with `count` markers before its frame header: 0xFF fill bytes before its first segment
// (`fill`: they precede the first segment's own 0xFF), or empty APP1 segments (`empty`).
function jpegPadded(jpeg, kind, count) {
  const padding = kind === 'fill' ? Buffer.alloc(count, 0xff) : Buffer.concat(Array.from({ length: count }, () => Buffer.from('ffe10002', 'hex')));
  return Buffer.concat([jpeg.subarray(0, 2), padding, jpeg.subarray(2)]);
}

test('demo page: fill bytes or empty segments before a JPEG\'s frame header do not get it a thumbnail over the pixel cap', { skip: skipReason, timeout: 60000 }, async () => {
  // The worker's walk counted each 0xFF fill byte as a segment and gave up after 10,000: the probe then
  // read the first 256 KiB, found no size, and the <img> got a 64-megapixel JPEG. Fill bytes are skipped;
  // a JPEG whose frame header the walk cannot reach shows no preview.
  const { context, page, drop, thumbnailsGiven } = await pageWatchingThumbnails();
  const photo = readFileSync(pickImages()[0].file);
  const huge = jpegSized(photo, 8000, 8000); // 64 MP
  await drop([
    { name: '1-huge-fill.jpg', mimeType: 'image/jpeg', buffer: jpegPadded(huge, 'fill', 300 * 1024) },
    { name: '2-huge-empty.jpg', mimeType: 'image/jpeg', buffer: jpegPadded(huge, 'empty', 70000) },
    { name: '3-photo-fill.jpg', mimeType: 'image/jpeg', buffer: jpegPadded(photo, 'fill', 300 * 1024) },
  ]);
  assert.deepEqual(await thumbnailsGiven(), ['3-photo-fill.jpg'], 'only the photo\'s <img> gets its file');
  assert.deepEqual(await page.$$eval('.card', (cards) => cards.map((card) => card.classList.contains('no-thumb'))), [true, true, false],
    'the huge ones say "no preview"; the photo behind fill bytes shows (the browser skips them too)');
  await context.close();
});

test('demo page: on a phone, a long file name in the notice wraps instead of widening the page', { skip: skipReason, timeout: 60000 }, async () => {
  // Our data's names run to 70 characters without a space: "Skipped in folders, not images: <name>"
  // ran off the notice's edge, and the whole page scrolled sideways at 360 px (486 px wide).
  const folder = path.join(workDir, 'long-names');
  await mkdir(folder, { recursive: true });
  await copyFile(pickImages()[0].file, path.join(folder, 'picture.jpg'));
  await writeFile(path.join(folder, 'src__assets__documents__release-notes__2003-2009__20040310mariaangel_ac39b286.txt'), 'notes');
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  const { page, errors } = await openPage(context, (await server()).url);
  await page.setInputFiles('#folder-input', folder);
  await waitForCards(page, 1);
  assert.match(await page.textContent('#notice'), /^Skipped in folders, not images: src__assets__/);
  assert.deepEqual(await page.evaluate(() => {
    const notice = document.getElementById('notice');
    return { page: document.documentElement.scrollWidth, noticeOverflows: notice.scrollWidth > notice.clientWidth };
  }), { page: 360, noticeOverflows: false });
  assert.deepEqual(errors, []);
  await context.close();
});

test('demo page: a thumbnail\'s blob URL is made when its card comes near the view, not for every card of a big drop at once', { skip: skipReason, timeout: 60000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await context.route('**/model/illust-only.onnx', () => {}); // never answered: only the cards matter here
  const page = await context.newPage();
  await page.goto((await server()).url);
  const buffer = readFileSync(pickImages()[0].file);
  await page.setInputFiles('#file-input', Array.from({ length: 120 }, (_, i) => ({ name: `${i}.jpg`, mimeType: 'image/jpeg', buffer })));
  const thumbnail = (i) => page.locator('.card img').nth(i);
  await page.waitForFunction(() => document.querySelector('.card img')?.src.startsWith('blob:'));
  assert.equal(await thumbnail(119).getAttribute('src'), null, 'the last card, screens below, has no blob URL yet');
  await thumbnail(119).scrollIntoViewIfNeeded();
  await page.waitForFunction(() => [...document.querySelectorAll('.card img')].at(-1).src.startsWith('blob:'));
  await page.waitForFunction(() => [...document.querySelectorAll('.card img')].at(-1).complete);
  assert.equal(await thumbnail(119).evaluate((img) => img.naturalWidth > 0), true, 'the thumbnail shows once near the view');
  await context.close();
});

test('demo page: a big dropped folder shows cards while it is listed, and Stop ends the listing too', { skip: skipReason, timeout: 90000 }, async () => {
  // Listing ../shared/data (5,747 files) takes seconds: cards came only after all of it was listed.
  const { context, page } = await demoWithModelHeld((await server()).url);
  try {
    await dropPaths(page, [dataDir]);
    await page.waitForSelector('.card');
    assert.equal(await page.textContent('#notice'), 'Reading the dropped folder…', 'cards show while the folder is still listed');
    assert.equal(await page.isVisible('#stop'), true, 'Stop is at hand while listing');
    await page.click('#stop');
    const stoppedAt = await page.$$eval('.card', (cards) => cards.length);
    await page.waitForTimeout(1500); // the listing, had it gone on, would have added cards by now
    assert.equal(await page.$$eval('.card', (cards) => cards.length), stoppedAt, 'no card added after Stop');
    assert.ok(stoppedAt < 5000, `stopped while listing (${stoppedAt} cards)`);
    assert.equal(await page.isVisible('#notice'), false, 'the listing notice is gone');
    assert.deepEqual(await page.$$eval('.card', (cards) => [...new Set(cards.map((c) => c.dataset.state))]), ['cancelled']);
    await page.waitForFunction((n) => document.querySelector('#status-live').textContent === `Stopped: 0 of ${n} images judged.`, stoppedAt);
    assert.equal(await page.getAttribute('body', 'data-state'), 'loading', 'nothing left busy (the model is still held)');
  } finally {
    await context.close();
  }
});

test('demo page: a batch whose judging catches up with a folder still being listed keeps its start: "last batch" counts the whole wait', { skip: skipReason, timeout: 90000 }, async () => {
  // A fake clock (performance.now plus what the test adds) and a dropped folder of two subfolders whose
  // second answers only when the test says: the first image is judged while the listing waits.
  const context = await browser.newContext();
  await context.addInitScript(() => {
    const realNow = performance.now.bind(performance);
    window.clockAdded = 0;
    performance.now = () => realNow() + window.clockAdded;
  });
  const { page, errors } = await openPage(context, (await server()).url);
  const [first, second] = pickImages();
  const bytes = [first.file, second.file].map((file) => readFileSync(file).toString('base64'));
  await page.evaluate((images) => {
    const fileEntry = (folder, name, base64) => ({
      isFile: true, isDirectory: false, name, fullPath: `/drop/${folder}/${name}`,
      file: (resolve) => resolve(new File([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], name, { type: 'image/jpeg' })),
    });
    const folder = (name, children, listed = Promise.resolve()) => ({
      isFile: false, isDirectory: true, name, fullPath: `/${name}`,
      createReader: () => {
        let given = false;
        return { readEntries: (resolve) => { listed.then(() => { resolve(given ? [] : children); given = true; }); } };
      },
    });
    const secondListed = new Promise((resolve) => { window.listSecondFolder = resolve; });
    const drop = folder('drop', [folder('a', [fileEntry('a', 'first.jpg', images[0])]),
      folder('b', [fileEntry('b', 'second.jpg', images[1])], secondListed)]);
    const event = new Event('drop', { bubbles: true, cancelable: true });
    event.dataTransfer = { items: [{ kind: 'file', webkitGetAsEntry: () => drop, getAsFile: () => null }] };
    document.dispatchEvent(event);
  }, bytes);
  await page.waitForSelector('.card[data-state="done"]');
  assert.equal(await page.getAttribute('body', 'data-state'), 'busy', 'the folder is still being listed');
  await page.evaluate(() => { window.clockAdded = 100000; window.listSecondFolder(); });
  await waitForCards(page, 2);
  assert.match(await page.textContent('#engine'), /last batch: 2 images in 1\d\d\.\d s/, 'the 100 s the listing took count');
  assert.deepEqual(errors, []);
  await context.close();
});

// One isolated server for the whole file, started on first use.
let isolatedServer;
async function server() {
  isolatedServer ??= await startServer({ siteDir: site, port: 0 });
  return isolatedServer;
}
after(async () => { await isolatedServer?.close(); });

test('demo page: a folder dropped (or a file picked or pasted) while another is listed comes after it, and "Reading the dropped folder…" stays until both are listed', { skip: skipReason, timeout: 120000 }, async () => {
  // The two listings ran at once and handed their cards over interleaved (30 illustrations, 20
  // screenshots, 30 illustrations…); the first to end, or a file picked meanwhile, took the notice away.
  const { context, page } = await demoWithModelHeld((await server()).url);
  try {
    const expected = {};
    for (const label of ['illustration', 'screenshot']) {
      expected[label] = 0;
      for await (const { error } of walkImageFiles([path.join(dataDir, label)])) if (!error) expected[label]++;
    }
    await page.evaluate(() => {
      window.noticeTexts = [];
      const notice = document.getElementById('notice');
      new MutationObserver(() => window.noticeTexts.push(notice.hidden ? '' : notice.textContent)).observe(notice, { childList: true, attributes: true, characterData: true, subtree: true });
    });
    await dropPaths(page, [path.join(dataDir, 'illustration')]);
    await page.waitForFunction(() => document.querySelectorAll('.card').length >= 50);
    // A file picked and one pasted meanwhile wait for the folder too: their cards came among its cards.
    const [picked, pasted] = [pickImages()[0], pickImages().find((i) => i.label === 'photo')];
    await page.setInputFiles('#file-input', picked.file);
    assert.equal(await page.textContent('#notice'), 'Reading the dropped folder…', 'a file picked meanwhile leaves the notice');
    await page.evaluate(async ({ b64, name }) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0))], name, { type: 'image/jpeg' }));
      document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }));
    }, { b64: readFileSync(pasted.file).toString('base64'), name: `pasted-${path.basename(pasted.file)}` });
    await dropPaths(page, [path.join(dataDir, 'screenshot')]);
    assert.equal(await page.textContent('#notice'), 'Reading the dropped folders…');
    const total = expected.illustration + expected.screenshot + 2;
    await page.waitForFunction((n) => document.querySelectorAll('.card').length === n && document.getElementById('notice').hidden, total, { timeout: 90000 });

    const names = await page.$$eval('.card .name', (cards) => cards.map((c) => c.textContent));
    assert.equal(new Set(names).size, names.length, 'no card twice');
    const illustrations = names.flatMap((name, i) => (name.startsWith('illustration/') ? [i] : []));
    const screenshots = names.flatMap((name, i) => (name.startsWith('screenshot/') ? [i] : []));
    assert.deepEqual([illustrations.length, screenshots.length], [expected.illustration, expected.screenshot]);
    assert.ok(illustrations.at(-1) < screenshots[0], `the second drop's cards start at ${screenshots[0]}, before the first drop's last (${illustrations.at(-1)})`);
    assert.deepEqual([names.indexOf(path.basename(picked.file)), names.indexOf(`pasted-${path.basename(pasted.file)}`)],
      [expected.illustration, expected.illustration + 1], 'the picked and the pasted file come between the two folders');
    const noticeTexts = await page.evaluate(() => window.noticeTexts.filter((text, i, all) => text !== all[i - 1]));
    assert.deepEqual(noticeTexts, ['Reading the dropped folder…', 'Reading the dropped folders…', 'Reading the dropped folder…', '']);
  } finally {
    await context.close();
  }
});

test('demo page: Stop is at hand from the drop of a folder on, before its first image is found', { skip: skipReason, timeout: 90000 }, async () => {
  // A folder of other files with its one image last: only "Reading…" showed until it was found, with no Stop.
  const folder = path.join(workDir, 'image-last');
  await mkdir(folder, { recursive: true });
  for (let n = 0; n < 3000; n++) await writeFile(path.join(folder, `a${String(n).padStart(4, '0')}.txt`), 'notes');
  await copyFile(pickImages()[0].file, path.join(folder, 'z.jpg'));
  const { context, page } = await demoWithModelHeld((await server()).url);
  try {
    // What the page shows when the progress row (with Stop) first appears, however fast the listing is.
    await page.evaluate(() => {
      const row = document.getElementById('progress-row');
      new MutationObserver((_, observer) => {
        if (row.hidden) return;
        window.rowFirstShown = { cards: document.querySelectorAll('.card').length, text: document.getElementById('progress-text').textContent };
        observer.disconnect();
      }).observe(row, { attributes: true, attributeFilter: ['hidden'] });
    });
    await dropPaths(page, [folder]);
    await page.waitForFunction(() => window.rowFirstShown);
    assert.deepEqual(await page.evaluate(() => window.rowFirstShown), { cards: 0, text: 'looking for images…' }, 'Stop shows before any card');
    await page.waitForSelector('.card');
    await page.click('#stop');
    assert.equal(await page.isVisible('#progress-row'), false);
  } finally {
    await context.close();
  }
});

test('demo page: a folder whose images come slowly (many other files) is one batch; "no illustration" waits for its end', { skip: skipReason, timeout: 120000 }, async () => {
  // The model caught up between the folder's images: the engine line said "last batch: 1 image", then
  // 2, then 3 (timed from the latest image only), and under "Only illustrations" the page said "No image
  // is an illustration (1 in all)" while the folder was still being read.
  const folder = path.join(workDir, 'slow-listing');
  const screenshots = pickImages().filter((i) => i.label === 'screenshot');
  for (const [n, image] of screenshots.entries()) {
    await mkdir(path.join(folder, `f${n}`), { recursive: true });
    await copyFile(image.file, path.join(folder, `f${n}`, 'a.jpg'));
    for (let note = 0; note < 2000; note++) await writeFile(path.join(folder, `f${n}`, `n${note}.txt`), 'notes');
  }
  const context = await browser.newContext();
  const { page, errors } = await openPage(context, (await server()).url);
  try {
    // The model's first run is its slowest: warmed up, it judges each image before the next is found.
    await page.setInputFiles('#file-input', screenshots[0].file);
    await waitForCards(page, 1);
    await page.click('#clear');
    await page.check('input[name="filter"][value="illustration"]');
    await page.evaluate(() => {
      window.seen = [];
      const text = (id) => (document.getElementById(id).hidden ? '' : document.getElementById(id).textContent);
      const note = () => window.seen.push({ reading: text('notice').startsWith('Reading'), engine: text('engine'), empty: text('empty') });
      for (const id of ['notice', 'engine', 'empty']) new MutationObserver(note).observe(document.getElementById(id), { childList: true, attributes: true, characterData: true, subtree: true });
    });
    await dropPaths(page, [folder]);
    await page.waitForFunction(() => document.getElementById('status-live').textContent === '3 of 3 images classified.', null, { timeout: 60000 });
    const seen = await page.evaluate(() => window.seen);
    const whileReading = seen.filter((s) => s.reading);
    assert.ok(whileReading.some((s) => /judged/.test(s.empty)), 'cards were judged while the folder was read');
    assert.deepEqual(whileReading.filter((s) => /last batch/.test(s.engine)).map((s) => s.engine), [], 'no batch ended while the folder was read');
    assert.deepEqual(whileReading.filter((s) => /in all/.test(s.empty)).map((s) => s.empty), [], '"none is" said before the folder was read');
    assert.match(await page.textContent('#engine'), /last batch: 3 images in /);
    assert.equal(await page.textContent('#empty'), 'No image is an illustration (3 in all): choose "all" to see them.');

    // Stopped during the listing, nothing more is coming: the line no longer says "so far".
    await page.click('#clear');
    await dropPaths(page, [folder]);
    // Stop once the line has counted a judged card, while the folder is still being read (Playwright's
    // click would wait for the layout to settle).
    await page.waitForFunction(() => /so far \([1-9]/.test(document.getElementById('empty').textContent) && !document.getElementById('stop').click());
    await page.waitForFunction(() => /^Stopped: \d of \d images? judged\.$/.test(document.getElementById('status-live').textContent));
    assert.match(await page.textContent('#empty'), /^No image is an illustration \((\d in all|\d of \d judged before Stop)\): choose "all" to see them\.$/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('demo page: Clear lets go of every file of a dropped folder (repeated drops do not pile up)', { skip: skipReason, timeout: 90000 }, async () => {
  // The promise a later drop waits on (the earlier drop's listing) held that drop's whole file list.
  const { context, page } = await demoWithModelHeld((await server()).url);
  const filesHeld = async () => {
    const cdp = await context.newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const { result: prototype } = await cdp.send('Runtime.evaluate', { expression: 'File.prototype' });
    const { objects } = await cdp.send('Runtime.queryObjects', { prototypeObjectId: prototype.objectId });
    const { result } = await cdp.send('Runtime.callFunctionOn', { objectId: objects.objectId, functionDeclaration: 'function () { return this.length; }', returnByValue: true });
    await cdp.detach();
    return result.value;
  };
  try {
    for (let drop = 0; drop < 2; drop++) {
      await dropPaths(page, [path.join(dataDir, 'photo')]);
      await page.waitForFunction(() => document.querySelector('.card') && document.getElementById('notice').hidden, null, { timeout: 60000 });
      assert.ok(await filesHeld() > 0, 'the cards hold their files');
      await page.click('#clear');
      assert.equal(await filesHeld(), 0, `files still held after Clear (drop ${drop + 1})`);
    }
  } finally {
    await context.close();
  }
});

test('demo page: a file the browser will not open (a name that is not UTF-8) gets its error card in its place, also when stopped', { skip: skipReason, timeout: 120000 }, async () => {
  // Chromium lists such a file with no name and refuses to read it. Its card came after every other card
  // of the folder, named after the folder ("b/") with "The path supplied exists, but was not an entry of
  // requested type"; after Stop it never came.
  const folder = path.join(workDir, 'odd-names');
  const image = pickImages()[0].file;
  for (const sub of ['a', 'b', 'c']) await mkdir(path.join(folder, sub), { recursive: true });
  await copyFile(image, path.join(folder, 'a', '1.jpg'));
  await copyFile(image, Buffer.concat([Buffer.from(path.join(folder, 'b', 'caf')), Buffer.from([0xe9]), Buffer.from('.jpg')]));
  await copyFile(image, path.join(folder, 'c', '1.jpg'));
  const unnamed = { name: 'odd-names/b/\ufffd', state: 'error', code: 'unreadable' };
  const expectedError = 'cannot read: the browser gives this file no name, as it does for names that are not valid UTF-8 (rename it, or use tools/classify.mjs)';

  const context = await browser.newContext();
  const { page, errors } = await openPage(context, (await server()).url);
  await dropPaths(page, [folder]);
  await waitForCards(page, 3);
  const cards = await readCards(page);
  assert.deepEqual(cards.map((c) => [c.name, c.state, c.code]), [['odd-names/a/1.jpg', 'done', undefined],
    [unnamed.name, unnamed.state, unnamed.code], ['odd-names/c/1.jpg', 'done', undefined]]);
  assert.equal(cards[1].error, expectedError);
  assert.deepEqual(errors, []);
  await context.close();

  // Stopped while a big folder dropped with it is listed: the card found before Stop stays.
  const held = await demoWithModelHeld((await server()).url);
  try {
    await dropPaths(held.page, [folder, dataDir]);
    await held.page.waitForFunction(() => document.querySelectorAll('.card').length >= 50);
    await held.page.click('#stop');
    const stopped = await readCards(held.page);
    assert.deepEqual(stopped.slice(0, 3).map((c) => [c.name, c.state, c.code]), [['odd-names/a/1.jpg', 'cancelled', undefined],
      [unnamed.name, unnamed.state, unnamed.code], ['odd-names/c/1.jpg', 'cancelled', undefined]]);
    await held.page.waitForTimeout(1500); // the listing, had it gone on, would have added cards by now
    assert.equal(await held.page.locator('.card').count(), stopped.length, 'nothing added after Stop');
  } finally {
    await held.context.close();
  }
});
