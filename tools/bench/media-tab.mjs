// Media-tab scenario: what a user of the extension waits for on an X media tab. Loads the unpacked
// extension (build/extension) into headless Chromium **with the flags a user's browser has** (no
// --disable-background-timer-throttling and the like; only what this machine needs to run Chromium at
// all) and serves https://x.com/someartist/media from the e2e fixture (tests/e2e/fixtures/
// x-media-tab.html): 60 cells, the page loading its own thumbnails (format=webp URLs answered with
// WebP, re-encoded by PIL at quality 80, as X's grid does), in a 1280×1660 window, so 24 cells (8 rows of the 3-column grid) are on the first screen.
// An init script timestamps, inside the page, each cell's move to a verdict (data-illust-only-state);
// times count from navigation start (performance.now()), or from the click on Media.
// Reported for the first screen (the cells in the viewport) and for all 60: time to the first verdict
// and until all are judged, per scenario:
//   (a) fresh: a new profile, the media tab opened directly (offscreen document + model start then);
//   (b) from the profile: a new profile opens the artist's profile (the model starts loading and the
//       profile's own posts on screen are judged ahead), the user clicks Media 2 s later (SPA
//       navigation, as X does), times from the click;
//   (c) warm: the browser of (a), a second tab with new media ids;
//   (d) revisit after a restart: the browser of (a) closed and started again on the same profile
//       directory, the same media tab opened again (verdicts remembered across restarts);
//   (e) busy: as (a), with another process keeping one core busy.
// Each scenario runs `runs` times (fresh media ids each time); the table gives the median and the
// spread (min–max). pbs.twimg.com is a local HTTPS server (a throwaway self-signed certificate; Chromium
// maps the hosts to it with --host-resolver-rules and trusts the certificate's key), answering like X's CDN
// (Cache-Control: max-age=604800), so images go through the browser's network stack and HTTP cache;
// it counts the image requests per media id (the page's and the extension's).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectImages } from './images.mjs';
import { percentile } from './stats.mjs';

const CELLS = 60;
const VIEWPORT = { width: 1280, height: 1660 }; // header 60 px + 8 rows of ~200 px: 24 cells on screen
const PROFILE_DWELL_MS = 2000; // how long the profile is looked at before the click on Media
const DEFAULT_RUNS = 3;
const TIMEOUT_MS = 120000;
// What a user's Chromium runs with here: no GPU on this machine, no sandbox as root, and no traffic
// to Google's services (there is no internet). Nothing that changes scheduling or throttling.
export const USER_LIKE_CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function recorderScript() {
  window.__judgeTimes = new Map();
  const final = new Set(['visible', 'hidden', 'revealed', 'error']);
  const observer = new MutationObserver(() => {
    for (const cell of document.querySelectorAll('#grid a[data-illust-only-state]')) {
      const id = cell.closest('li')?.dataset.testMedia;
      if (id && !window.__judgeTimes.has(id) && final.has(cell.dataset.illustOnlyState)) {
        window.__judgeTimes.set(id, { ms: performance.now(), state: cell.dataset.illustOnlyState });
      }
    }
  });
  observer.observe(document, { subtree: true, attributes: true, attributeFilter: ['data-illust-only-state'] });
}

/**
 * The images re-encoded as WebP (PIL, quality 80: what X's format=webp thumbnails are), as file paths
 * in a temporary folder, or null when PIL is missing (then format=webp is answered with the JPEG).
 */
function encodeWebp(files) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'illust-bench-webp-'));
  const script = 'import sys\nfrom PIL import Image\nout = sys.argv[1]\n' +
    'for i, f in enumerate(sys.argv[2:]):\n    Image.open(f).convert("RGB").save(f"{out}/{i}.webp", quality=80)\n';
  try {
    execFileSync('/usr/bin/python3', ['-c', script, dir, ...files], { stdio: ['ignore', 'ignore', 'inherit'] });
    return files.map((_, i) => path.join(dir, `${i}.webp`));
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
}

const spanOf = (times) => (times.length ? { first: Math.min(...times), all: Math.max(...times) } : { first: NaN, all: NaN });

/**
 * Loads the fixture in a new tab and waits for every verdict. With `profileDwellMs`, the tab opens the
 * user's profile first, stays there that long, then moves to the media tab the way X does (SPA
 * navigation, fixtureNavigate); times then count from that click.
 */
async function loadOnce(context, { fixture, cells, profileDwellMs = 0, closeAfter = false, countRequests, servePage }) {
  const page = await context.newPage();
  await page.addInitScript(recorderScript);
  if (process.env.ILLUST_BENCH_LOG_REQUESTS) page.on('requestfailed', (r) => console.log(`bench: page request failed ${r.url()} ${r.failure()?.errorText}`));
  const html = fixture.replace('/*CELL_BATCHES*/[]', JSON.stringify([cells]));
  const url = profileDwellMs ? 'https://x.com/someartist' : 'https://x.com/someartist/media';
  servePage(html);
  const requestsBefore = countRequests(cells);
  await page.goto(url);
  let origin = 0;
  if (profileDwellMs) {
    await page.waitForTimeout(profileDwellMs);
    origin = await page.evaluate(() => { const t = performance.now(); window.fixtureNavigate('/someartist/media'); return t; });
  }
  const ids = cells.map((c) => c.mediaId);
  await page.waitForFunction((want) => want.every((id) => window.__judgeTimes.has(id)), ids, { timeout: TIMEOUT_MS, polling: 50 });
  const { times, firstScreen, timeOrigin, marks } = await page.evaluate(() => ({
    times: Object.fromEntries(window.__judgeTimes),
    // The cells the user sees without scrolling (the page is never scrolled here).
    firstScreen: [...document.querySelectorAll('#grid li[data-test-media]')]
      .filter((li) => { const r = li.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; })
      .map((li) => li.dataset.testMedia),
    timeOrigin: performance.timeOrigin,
    marks: Object.fromEntries(performance.getEntriesByType('mark').filter((m) => m.name.startsWith('illust-only:'))
      .map((m) => [m.name.slice('illust-only:'.length), m.startTime])),
  }));
  // Image requests settle a moment after the last verdict (the page's own may still be loading).
  await page.waitForLoadState('load').catch(() => {});
  const requests = countRequests(cells) - requestsBefore;
  if (closeAfter) await page.close();
  const ms = (id) => times[id].ms - origin;
  const states = Object.values(times).reduce((acc, t) => ({ ...acc, [t.state]: (acc[t.state] ?? 0) + 1 }), {});
  return {
    screen: { ...spanOf(firstScreen.map(ms)), n: firstScreen.length },
    cells: { ...spanOf(ids.map(ms)), n: ids.length },
    states, requestsPerCell: requests / ids.length, navigationEpoch: timeOrigin + origin, marks,
  };
}

/**
 * A local HTTPS server for x.com's pages (the fixture, set with servePage) and pbs.twimg.com's
 * /media/<id> URLs (any format= answered with the stored bytes), or null without openssl. The page
 * comes from loopback too: Chromium refuses a public page's requests to a loopback address (Local
 * Network Access), and Playwright's interception would make the page count as public.
 */
export async function startLocalServer(bytesById, requestCounts, pageHtml, dir) {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
      '-subj', '/CN=pbs.twimg.com', '-addext', 'subjectAltName=DNS:pbs.twimg.com,DNS:x.com'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  // Chromium trusts this certificate by its key (--ignore-certificate-errors-spki-list): unlike
  // --ignore-certificate-errors, the responses then count as secure and go into the HTTP cache.
  const spki = execFileSync('sh', ['-c', `openssl x509 -in '${cert}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`],
    { encoding: 'utf8' }).trim();
  const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    if (req.headers.host === 'x.com') {
      const isPage = /^\/someartist(\/media)?\/?$/.test(new URL(req.url, 'https://x.com').pathname);
      if (!isPage) { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(pageHtml.current);
      return;
    }
    const id = new URL(req.url, 'https://pbs.twimg.com').pathname.match(/^\/media\/([\w-]+)$/)?.[1];
    // X's CDN: format=webp (what its pages show) is WebP, format=jpg JPEG; bytesById holds {jpg, webp?}.
    const variants = id && bytesById.get(id);
    const wantsWebp = new URL(req.url, 'https://pbs.twimg.com').searchParams.get('format') === 'webp' && variants?.webp;
    const body = variants && (wantsWebp ? variants.webp : variants.jpg);
    if (!body) { res.writeHead(404).end(); return; }
    requestCounts.set(id, (requestCounts.get(id) ?? 0) + 1);
    if (process.env.ILLUST_BENCH_LOG_REQUESTS) console.log(`bench: image request ${req.url} (${req.headers['sec-fetch-dest'] ?? '?'}, ${req.headers['user-agent']?.slice(0, 20)})`);
    res.writeHead(200, {
      'Content-Type': wantsWebp ? 'image/webp' : 'image/jpeg', 'Content-Length': body.length, 'Cache-Control': 'max-age=604800, must-revalidate',
      'Access-Control-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin', 'Timing-Allow-Origin': '*',
    });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, spki };
}

/** The offscreen document's start-up timestamps (epoch ms), asked by the service worker; null if none. */
async function startupTimes(context) {
  const worker = context.serviceWorkers()[0];
  if (!worker) return null;
  const steps = await worker.evaluate(() => chrome.runtime.sendMessage({ type: 'illust-only/offscreen-status', target: 'offscreen', provider: 'auto' })
    .then((answer) => ({ ...globalThis.illustOnlyStartupSteps, ...answer?.startup }), () => null)).catch(() => null);
  return steps && Object.keys(steps).length > 0 ? steps : null;
}

const median = (values) => percentile(values, 50);
const fmt = (v) => (Number.isFinite(v) ? `${v.toFixed(0)}` : '–');
const spread = (values) => {
  const finite = values.filter(Number.isFinite);
  return finite.length ? `**${fmt(median(finite))}** (${fmt(Math.min(...finite))}–${fmt(Math.max(...finite))})` : '–';
};

/**
 * Resolves to {scenarios: {fresh, profile, warm, revisit, busy: [load, ...]}, startup: [...], table:
 * [[scenario, measure...]...], header} or {error}. Never throws.
 */
export async function runMediaTab({ root, dataDir, seed, runs = DEFAULT_RUNS, only = null, chromiumArgs = USER_LIKE_CHROMIUM_ARGS, log = () => {},
  extensionDir = path.join(root, 'build', 'extension') }) {
  const fixtureFile = path.join(root, 'tests', 'e2e', 'fixtures', 'x-media-tab.html');
  if (!existsSync(path.join(extensionDir, 'manifest.json'))) return { error: `${extensionDir}/manifest.json not found: run \`npm run build\`` };
  if (!existsSync(path.join(extensionDir, 'model', 'illust-only.onnx'))) return { error: `${extensionDir} has no model/illust-only.onnx (it is copied from model/ at build time)` };
  if (!existsSync(fixtureFile)) return { error: `${path.relative(root, fixtureFile)} not found` };
  let images;
  try {
    images = await selectImages({ dataDir, count: CELLS, seed });
  } catch (error) {
    return { error: error.message };
  }
  const fixture = readFileSync(fixtureFile, 'utf8');
  const webpFiles = encodeWebp(images.map((image) => image.file));
  const bytesById = new Map();
  const requestCounts = new Map();
  const countRequests = (cells) => cells.reduce((sum, c) => sum + (requestCounts.get(c.mediaId) ?? 0), 0);
  const variants = ['both', 'img', 'background']; // the markup variants X uses (all render at load)
  let runNumber = 0;
  const newCells = () => {
    runNumber += 1;
    return images.map((image, i) => {
      const mediaId = `B${String(runNumber).padStart(2, '0')}${String(i).padStart(3, '0')}xBenchAbCd`.slice(0, 15);
      bytesById.set(mediaId, { jpg: readFileSync(image.file), webp: webpFiles && readFileSync(webpFiles[i]) });
      return { statusId: String(1900000000000000000n + BigInt(runNumber * 1000 + i)), mediaId, variant: variants[i % variants.length] };
    });
  };

  const tempDirs = webpFiles ? [path.dirname(webpFiles[0])] : [];
  const contexts = new Set();
  let imageServer = null;
  try {
    const certDir = mkdtempSync(path.join(os.tmpdir(), 'illust-bench-cert-'));
    tempDirs.push(certDir);
    const pageHtml = { current: '' };
    const servePage = (html) => { pageHtml.current = html; };
    const local = await startLocalServer(bytesById, requestCounts, pageHtml, certDir);
    imageServer = local?.server;
    if (!imageServer) return { error: 'openssl not found: the media-tab scenario needs a local HTTPS server for x.com and pbs.twimg.com' };
    const { port } = imageServer.address();
    const serverArgs = [`--host-resolver-rules=MAP pbs.twimg.com:443 127.0.0.1:${port}, MAP x.com:443 127.0.0.1:${port}`, `--ignore-certificate-errors-spki-list=${local.spki}`];
    const { chromium } = await import('playwright-core');
    const newProfileDir = () => { const dir = mkdtempSync(path.join(os.tmpdir(), 'illust-bench-ext-')); tempDirs.push(dir); return dir; };
    const launch = async (dir) => {
      const context = await chromium.launchPersistentContext(dir, {
        executablePath: '/usr/bin/chromium', headless: true, viewport: VIEWPORT,
        args: [...chromiumArgs, ...serverArgs, `--disable-extensions-except=${extensionDir}`, `--load-extension=${extensionDir}`],
      });
      contexts.add(context);
      context.serviceWorkers()[0] ?? await context.waitForEvent('serviceworker', { timeout: 30000 });
      return context;
    };
    const close = async (context) => { contexts.delete(context); await context.close(); };

    const scenarios = { fresh: [], profile: [], warm: [], revisit: [], busy: [] };
    const startup = [];
    for (let run = 1; run <= runs; run += 1) {
      // (a) fresh, (c) warm in a second tab, (d) the same media tab after a restart on the same profile.
      const dir = newProfileDir();
      const freshCells = newCells();
      let context = await launch(dir);
      const fresh = await loadOnce(context, { fixture, cells: freshCells, countRequests, servePage });
      scenarios.fresh.push(fresh);
      const times = await startupTimes(context);
      if (times) startup.push({ ...times, navigation: fresh.navigationEpoch, firstVerdict: fresh.navigationEpoch + fresh.cells.first, marks: fresh.marks });
      scenarios.warm.push(await loadOnce(context, { fixture, cells: newCells(), closeAfter: true, countRequests, servePage }));
      await close(context);
      context = await launch(dir);
      const revisit = await loadOnce(context, { fixture, cells: freshCells, countRequests, servePage });
      scenarios.revisit.push(revisit);
      if (process.env.ILLUST_BENCH_LOG_REQUESTS) log(`  revisit marks: ${JSON.stringify(revisit.marks)}`);
      await close(context);
      if (only === 'fresh') continue; // a quick look at (a), (c) and (d) alone
      // (b) from the profile, in a new profile.
      context = await launch(newProfileDir());
      scenarios.profile.push(await loadOnce(context, { fixture, cells: newCells(), profileDwellMs: PROFILE_DWELL_MS, countRequests, servePage }));
      await close(context);
      // (e) fresh, with another process spinning on one core (a user's machine is rarely idle).
      const hog = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
      try {
        await new Promise((resolve) => setTimeout(resolve, 300));
        context = await launch(newProfileDir());
        scenarios.busy.push(await loadOnce(context, { fixture, cells: newCells(), countRequests, servePage }));
        await close(context);
      } finally {
        hog.kill('SIGKILL');
      }
      const line = Object.entries(scenarios).filter(([, loads]) => loads.length > 0).map(([name, loads]) => `${name} ${fmt(loads.at(-1).screen.all)}/${fmt(loads.at(-1).cells.all)}`).join(', ');
      log(`  run ${run}/${runs}: first screen / all ${CELLS} judged (ms): ${line}`);
    }

    const names = {
      fresh: '(a) fresh profile, media tab opened directly',
      profile: `(b) from the artist's profile (open ${PROFILE_DWELL_MS / 1000} s, then a click on Media; from the click)`,
      warm: '(c) warm browser (second tab, new media ids)',
      revisit: '(d) revisit after a browser restart (same profile directory, same media tab)',
      busy: '(e) fresh profile, another process keeping one core busy',
    };
    const header = ['scenario', `first screen (${VIEWPORT.width}×${VIEWPORT.height}): first verdict ms`, 'first screen: all judged ms',
      `all ${CELLS}: first verdict ms`, `all ${CELLS}: all judged ms`, 'ms per cell after the first verdict', 'image requests per cell', 'verdicts'];
    const table = Object.entries(scenarios).filter(([, loads]) => loads.length > 0).map(([name, loads]) => [
      `${names[name]}; ${loads[0]?.screen.n ?? '?'} cells on the first screen`,
      spread(loads.map((l) => l.screen.first)), spread(loads.map((l) => l.screen.all)),
      spread(loads.map((l) => l.cells.first)), spread(loads.map((l) => l.cells.all)),
      spread(loads.map((l) => (l.cells.all - l.cells.first) / (l.cells.n - 1))),
      loads.map((l) => l.requestsPerCell.toFixed(2)).join(' / '),
      Object.entries(loads.at(-1)?.states ?? {}).map(([k, v]) => `${v} ${k}`).join(', '),
    ]);
    return { scenarios, startup, header, table, runs };
  } catch (error) {
    return { error: String(error?.message ?? error).split('\n')[0] };
  } finally {
    for (const context of contexts) await context.close().catch(() => {});
    imageServer?.close();
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** The cold-start breakdown of (a): each step's time from navigation start, median over the runs. */
export function startupTable(startup) {
  if (!startup?.length) return null;
  const steps = new Map();
  for (const times of startup) {
    const add = (name, epoch) => { if (Number.isFinite(epoch)) steps.set(name, [...(steps.get(name) ?? []), epoch - times.navigation]); };
    for (const [name, ms] of Object.entries(times.marks ?? {})) add(`page: ${name}`, times.navigation + ms);
    for (const [name, epoch] of Object.entries(times)) if (!['navigation', 'marks'].includes(name)) add(name, epoch);
  }
  return [...steps.entries()].map(([name, values]) => [name, median(values), values])
    .sort((a, b) => a[1] - b[1]).map(([name, med, values]) => [name, spread(values)]);
}

// This file is the scenario, not a command: run directly (as its neighbours in tools/bench/ are), it says
// how to run it instead of exiting 0 having done nothing.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const help = process.argv.slice(2).some((arg) => arg === '--help' || arg === '-h');
  (help ? process.stdout : process.stderr).write(
    'usage: node tools/bench.mjs --suites media-tab [--media-tab-runs N] [--extension DIR] [--out FILE]\n' +
    '  tools/bench/media-tab.mjs is the scenario, which tools/bench.mjs runs; --media-tab-runs 1 is the\n' +
    '  quickest check (one run of each scenario); node tools/bench.mjs --help says more\n');
  process.exit(help ? 0 : 2);
}
