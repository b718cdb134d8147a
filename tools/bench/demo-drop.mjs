// A big folder dropped on the demo page, as a user drops it (an OS-level drop through the DevTools
// protocol: the page walks real directory entries): how soon the first card shows, and how long the
// folder takes to list. The model download is held back, so only the listing and the cards count.
// Several builds of the demo (--site, repeatable; e.g. one built at an older commit) take turns, run by
// run, in one browser: load on the machine hits each alike. Prints a Markdown table of medians.
//   node tools/bench/demo-drop.mjs [--site build/demo]... [--folder ../shared/data/screenshot] [--runs 5]
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../serve.mjs';
import { toolArgsOrExit } from '../lib/run-cli.mjs';
import { percentile } from './stats.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DATA = process.env.ILLUST_ONLY_DATA || path.resolve(ROOT, '..', 'shared', 'data');
const LISTING_NOTICE = 'Reading the dropped folder…';
const options = toolArgsOrExit('tools/bench/demo-drop.mjs',
  'usage: node tools/bench/demo-drop.mjs [--site DIR]... [--folder DIR] [--runs N]\n' +
  '  --site DIR    a built demo (default build/demo); repeat to compare builds side by side\n' +
  `  --folder DIR  the folder dropped (default ${path.relative(ROOT, path.join(DATA, 'screenshot'))})\n` +
  '  --runs N      drops per build (default 5)',
  { site: { type: 'string', multiple: true }, folder: { type: 'string' }, runs: { type: 'string', default: '5' } });
const sites = (options.site ?? [path.join(ROOT, 'build', 'demo')]).map((dir) => path.resolve(dir));
const folder = path.resolve(options.folder ?? path.join(DATA, 'screenshot'));
const runs = Number(options.runs);
for (const dir of [...sites, folder]) {
  if (!existsSync(dir)) { console.error(`demo-drop: ${dir} not found`); process.exit(1); }
}
if (!Number.isInteger(runs) || runs < 1) { console.error('demo-drop: --runs must be a whole number >= 1'); process.exit(2); }

/** One drop on a fresh page: {firstCardMs, listedMs, cards}. */
async function dropOnce(browser, url) {
  const context = await browser.newContext();
  await context.route('**/model/illust-only.onnx', () => {}); // never answered: cards stay queued
  const page = await context.newPage();
  await page.goto(url);
  const cdp = await context.newCDPSession(page);
  const box = await page.locator('#drop-zone').boundingBox();
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const data = { items: [], files: [folder], dragOperationsMask: 1 };
  // Timed inside the page, from the drop event (the page's own clock, unaffected by the protocol's trips).
  await page.evaluate((notice) => {
    window.__drop = {};
    document.addEventListener('drop', () => {
      window.__drop.at = performance.now();
      new MutationObserver((_, observer) => {
        window.__drop.firstCard ??= document.querySelector('.card') ? performance.now() : undefined;
        const listing = document.querySelector('#notice').textContent === notice;
        if (window.__drop.firstCard !== undefined && !listing) { window.__drop.listed = performance.now(); observer.disconnect(); }
      }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    }, { capture: true, once: true });
  }, LISTING_NOTICE);
  for (const type of ['dragEnter', 'dragOver', 'drop']) await cdp.send('Input.dispatchDragEvent', { type, ...at, data });
  await page.waitForFunction(() => window.__drop.listed !== undefined, null, { timeout: 300000, polling: 100 });
  const { at: dropAt, firstCard, listed } = await page.evaluate(() => window.__drop);
  const cards = await page.$$eval('.card', (all) => all.length);
  await context.close();
  return { firstCardMs: firstCard - dropAt, listedMs: listed - dropAt, cards };
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
const servers = await Promise.all(sites.map((siteDir) => startServer({ siteDir, port: 0 })));
const results = sites.map(() => []);
try {
  for (let run = 0; run < runs; run += 1) {
    for (const [i, server] of servers.entries()) results[i].push(await dropOnce(browser, server.url));
  }
} finally {
  await browser.close();
  await Promise.all(servers.map((server) => server.close()));
}
console.log(`Folder ${folder}, ${runs} drops per build, medians (ms from the drop event):\n`);
console.log('| demo build | cards | first card | folder listed |');
console.log('|---|---|---|---|');
for (const [i, site] of sites.entries()) {
  const r = results[i];
  console.log(`| ${path.relative(process.cwd(), site) || '.'} | ${r[0].cards} | ${Math.round(percentile(r.map((x) => x.firstCardMs), 50))} | ${Math.round(percentile(r.map((x) => x.listedMs), 50))} |`);
}
