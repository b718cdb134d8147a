// The media-tab scenario in both browsers, back to back on the same images: Chromium runs
// media-tab.mjs as the full benchmark does; Firefox (firefox-esr, the Firefox build of the extension,
// tools/lib/firefox-extension.mjs) runs the same loads: cold (first page after the browser starts: the
// background page loads the model), warm (a second tab, new media ids; the median of three), and from
// the profile (a new browser on the user's profile, a click on Media 2 s later, timed from the click).
// The figures are written by hand into tools/bench/notes.md; this prints a Markdown table.
//   node tools/bench/media-tab-browsers.mjs [--data ../shared/data] [--seed N] [--skip-chromium]
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { firefoxMissing, launchFirefoxWithExtension } from '../lib/firefox-extension.mjs';
import { toolArgsOrExit } from '../lib/run-cli.mjs';
import { selectImages } from './images.mjs';
import { runMediaTab } from './media-tab.mjs';
import { percentile } from './stats.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CELLS = 60;
const WARM_LOADS = 3;
const PROFILE_DWELL_MS = 2000;
const TIMEOUT_MS = 120000;
// As tools/bench.mjs launches Chromium for every suite.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'];

// Times, inside the page, each cell's move to a verdict (as media-tab.mjs's recorder does).
function recorderScript() {
  window.__judgeTimes = new Map();
  const final = new Set(['visible', 'hidden', 'revealed', 'error']);
  new MutationObserver(() => {
    for (const cell of document.querySelectorAll('a[data-illust-only-state]')) {
      const id = cell.closest('li')?.dataset.testMedia;
      if (id && !window.__judgeTimes.has(id) && final.has(cell.dataset.illustOnlyState)) {
        window.__judgeTimes.set(id, { ms: performance.now(), state: cell.dataset.illustOnlyState });
      }
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-illust-only-state'] });
}

async function firefoxLoad(fx, site, { cells, profileDwellMs = 0, closeAfter = false }) {
  site.html = site.fixture.replace('/*CELL_BATCHES*/[]', JSON.stringify([cells]));
  const page = await fx.browser.newPage();
  await page.evaluateOnNewDocument(recorderScript);
  await page.goto(profileDwellMs ? 'https://x.com/someartist' : 'https://x.com/someartist/media', { waitUntil: 'domcontentloaded' });
  let origin = 0;
  if (profileDwellMs) {
    await new Promise((resolve) => setTimeout(resolve, profileDwellMs));
    origin = await page.evaluate(() => { const t = performance.now(); window.fixtureNavigate('/someartist/media'); return t; });
  }
  await page.waitForFunction((n) => window.__judgeTimes.size >= n, { timeout: TIMEOUT_MS, polling: 50 }, cells.length);
  const times = await page.evaluate(() => [...window.__judgeTimes.values()]);
  if (closeAfter) await page.close();
  const ms = times.map((t) => t.ms - origin);
  const states = times.reduce((acc, t) => ({ ...acc, [t.state]: (acc[t.state] ?? 0) + 1 }), {});
  return { first: Math.min(...ms), median: percentile(ms, 50), all: Math.max(...ms), states };
}

/** Firefox's cold, warm (median of WARM_LOADS) and from-the-profile loads, or {error}. */
export async function runMediaTabFirefox({ root = ROOT, dataDir, seed, log = () => {} }) {
  const extensionDir = path.join(root, 'build', 'extension-firefox');
  if (!existsSync(path.join(extensionDir, 'manifest.json'))) return { error: 'build/extension-firefox not found: run `npm run build`' };
  const missing = firefoxMissing();
  if (missing) return { error: missing };
  const images = await selectImages({ dataDir, count: CELLS, seed });
  const bytesById = new Map();
  const variants = ['both', 'img', 'background'];
  const cellsFor = (run) => images.map((image, i) => {
    const mediaId = `F${run}${String(i).padStart(3, '0')}xBenchAbCdEf`.slice(0, 15);
    bytesById.set(mediaId, readFileSync(image.file));
    return { statusId: String(1900000000000000000n + BigInt(run * 1000 + i)), mediaId, variant: variants[i % variants.length] };
  });
  const runs = Array.from({ length: 2 + WARM_LOADS }, (_, i) => cellsFor(i + 1));
  const site = { fixture: readFileSync(path.join(root, 'tests', 'e2e', 'fixtures', 'x-media-tab.html'), 'utf8'), html: '' };
  const answer = (request, response) => {
    const url = new URL(request.url, `https://${request.headers.host}`);
    if (url.host === 'x.com' && /^\/someartist(\/media)?$/.test(url.pathname)) {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(site.html);
      return;
    }
    const body = url.host === 'pbs.twimg.com' && bytesById.get(url.pathname.match(/^\/media\/([\w-]+)$/)?.[1]);
    if (!body) { response.writeHead(404).end(); return; }
    response.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': body.length }).end(body);
  };
  let fx = null;
  try {
    fx = await launchFirefoxWithExtension({ extensionDir, answer });
    const version = await fx.browser.version();
    const cold = await firefoxLoad(fx, site, { cells: runs[0] });
    log(`  firefox cold: all ${CELLS} judged ${cold.all.toFixed(0)} ms after navigation start`);
    const warmLoads = [];
    for (let i = 0; i < WARM_LOADS; i += 1) {
      warmLoads.push(await firefoxLoad(fx, site, { cells: runs[2 + i], closeAfter: true }));
      log(`  firefox warm ${i + 1}/${WARM_LOADS}: all ${CELLS} judged ${warmLoads.at(-1).all.toFixed(0)} ms`);
    }
    const popup = await fx.openExtensionPage('popup.html');
    await popup.waitForFunction(() => /·/.test(document.getElementById('provider').textContent), { timeout: 30000 });
    const provider = await popup.$eval('#provider', (e) => e.textContent);
    await fx.close();
    fx = await launchFirefoxWithExtension({ extensionDir, answer });
    const viaProfile = await firefoxLoad(fx, site, { cells: runs[1], profileDwellMs: PROFILE_DWELL_MS });
    log(`  firefox from the profile: all ${CELLS} judged ${viaProfile.all.toFixed(0)} ms after the click`);
    const warm = [...warmLoads].sort((a, b) => a.all - b.all)[WARM_LOADS >> 1];
    return { version, provider, cold, warm, warmLoads, viaProfile };
  } catch (error) {
    return { error: String(error?.message ?? error).split('\n')[0] };
  } finally {
    await fx?.close();
  }
}

async function main() {
  const values = toolArgsOrExit('media-tab-browsers', 'usage: node tools/bench/media-tab-browsers.mjs [--data ../shared/data] [--seed N] [--skip-chromium]\n' +
    '  the media-tab scenario in Chromium and Firefox, back to back; prints a Markdown table', {
    data: { type: 'string', default: path.join(ROOT, '..', 'shared', 'data') },
    seed: { type: 'string', default: '20261126' }, 'skip-chromium': { type: 'boolean', default: false },
  });
  const log = (line) => console.error(line);
  const seed = Number(values.seed);
  const started = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const loadBefore = os.loadavg()[0];
  const chromium = values['skip-chromium'] ? { error: 'skipped' } : await runMediaTab({ root: ROOT, dataDir: values.data, seed, chromiumArgs: CHROMIUM_ARGS, log });
  const firefox = await runMediaTabFirefox({ dataDir: values.data, seed, log });
  const fmt = (v) => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : '–');
  const row = (name, c, f) => `| ${name} | ${c} | ${f} |`;
  const loads = (run) => (run ? `${fmt(run.first)} / ${fmt(run.median)} / **${fmt(run.all)}**` : '–');
  // media-tab.mjs's result shape may grow other scenarios: without these loads, its own table follows.
  const c = chromium.error || !chromium.cold ? null : chromium;
  const f = firefox.error ? null : firefox;
  const lines = [
    `Media tab, ${CELLS} thumbnails, ${started}, ${os.cpus().length} cores, load ${loadBefore.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}; first / median / **all** judged`,
    '', '| load | Chromium | Firefox |', '| --- | --- | --- |',
    row('cold (first page after the browser starts)', loads(c?.cold), loads(f?.cold)),
    row(`warm (second tab, new media ids; median of ${WARM_LOADS})`, loads(c?.warm), loads(f?.warm)),
    row('warm, each load: all judged', c ? c.warmLoads.map((w) => fmt(w.all)).join(' / ') : '–', f ? f.warmLoads.map((w) => fmt(w.all)).join(' / ') : '–'),
    row(`from the profile (click on Media after ${PROFILE_DWELL_MS / 1000} s; from the click)`, loads(c?.viaProfile), loads(f?.viaProfile)),
    row('warm: per thumbnail after the first verdict', c ? fmt((c.warm.all - c.warm.first) / (CELLS - 1)) : '–', f ? fmt((f.warm.all - f.warm.first) / (CELLS - 1)) : '–'),
    row('verdicts (warm)', c ? JSON.stringify(c.warm.states) : chromium.error, f ? JSON.stringify(f.warm.states) : firefox.error),
    row('browser', 'chromium (Debian)', f ? `firefox-esr ${f.version}` : '–'),
    row('classifier', 'offscreen document, WASM pool', f ? `background page: ${f.provider}` : '–'),
  ];
  if (!chromium.error && !c && Array.isArray(chromium.table)) {
    lines.push('', 'Chromium, as media-tab.mjs reports it:', '', '| measure | value |', '| --- | --- |', ...chromium.table.map(([k, v]) => `| ${k} | ${v} |`));
  }
  console.log(lines.join('\n'));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
