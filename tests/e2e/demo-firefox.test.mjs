// The demo page in Debian's firefox-esr (puppeteer-core over WebDriver BiDi), served cross-origin
// isolated by tools/serve.mjs as `npm start` serves it: the model loads, files picked with the file
// input (BiDi has no OS-level drop) are judged with the scores Node gives the same files, and a
// corrupt one gets the core's reason. The rest of the page is tested in Chromium (demo.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../tools/serve.mjs';
import { FIREFOX, firefoxMissing } from '../../tools/lib/firefox-extension.mjs';
import { openNodeClassifier } from '../../tools/lib/node-classifier.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const site = path.join(root, 'build', 'demo');
const dataDir = process.env.ILLUST_ONLY_DATA ?? path.join(root, '..', 'shared', 'data');
const SOURCES = { illustration: 'waifu2x-samples', screenshot: 'nanobot-coc', photo: 'based-cooking' };

const siteMissing = ['index.html', 'lib/illust_core.wasm', 'model/illust-only.onnx'].filter((file) => !existsSync(path.join(site, file)));
const skipReason = firefoxMissing()
  ?? (siteMissing.length ? `demo site incomplete (missing build/demo/${siteMissing.join(', ')}): run \`npm run build\`` : null)
  ?? (!existsSync(dataDir) ? `real images not found at ${dataDir} (set ILLUST_ONLY_DATA)` : false);
if (skipReason) console.log(`# demo Firefox e2e: SKIPPED: ${skipReason}`);

let server;
let browser;
let workDir;
before(async () => {
  if (skipReason) return;
  workDir = await mkdtemp(path.join(os.tmpdir(), 'illust-demo-firefox-'));
  server = await startServer({ siteDir: site, port: 0 });
  const { default: puppeteer } = await import('puppeteer-core');
  browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true });
});
after(async () => {
  await browser?.close();
  server?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** The first JPEG of each source, and a corrupt file. */
async function pickFiles() {
  const files = Object.entries(SOURCES).map(([label, source]) => {
    const dir = path.join(dataDir, label, source);
    return path.join(dir, readdirSync(dir).filter((name) => /\.jpe?g$/i.test(name)).sort()[0]);
  });
  const corrupt = path.join(workDir, 'corrupt.jpg');
  await writeFile(corrupt, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]));
  return [...files, corrupt];
}

test('Firefox: ?threads=2 starts (one ORT thread, saying why) and judges picked files as Node does', { skip: skipReason, timeout: 240000 }, async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}?threads=2`);
  // Firefox loses the "loaded" message of ORT's pthread worker in some starts: with 2 threads the page
  // stayed at "Loading the model…" (a third of the loads on 2 cores).
  await page.waitForFunction(() => document.body.dataset.state !== 'loading', { timeout: 60000 });
  const engine = await page.$eval('#engine', (el) => el.textContent);
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', engine);
  assert.ok(await page.evaluate(() => crossOriginIsolated), 'served isolated, as `npm start` does');
  assert.match(engine, /^WASM, 1 thread · .*threads=2: 1 thread, as ONNX Runtime's threads can hang at start in Firefox/);

  const files = await pickFiles();
  await (await page.$('#file-input')).uploadFile(...files);
  await page.waitForFunction((n) => document.querySelectorAll('.card').length === n &&
    !document.querySelector('.card[data-state="queued"]') && document.body.dataset.state === 'ready', { timeout: 120000 }, files.length);
  const cards = await page.$$eval('.card', (list) => list.map((card) => ({
    name: card.querySelector('.name').textContent,
    label: card.dataset.label,
    scores: Object.fromEntries([...card.querySelectorAll('.bars li')].map((li) => [li.dataset.label, Number(li.dataset.p)])),
    error: card.querySelector('.error-message').textContent,
  })));

  const { classifier } = await openNodeClassifier();
  for (const file of files) {
    const card = cards.find((c) => c.name === path.basename(file));
    assert.ok(card, `a card for ${path.basename(file)}`);
    const expected = await classifier.classify(new Uint8Array(readFileSync(file)));
    if (!expected.ok) {
      assert.equal(card.label, 'error');
      assert.equal(card.error, expected.message);
      continue;
    }
    assert.equal(card.label, expected.label, card.name);
    for (const [label, p] of Object.entries(expected.scores)) {
      assert.ok(Math.abs(card.scores[label] - p) < 1e-5, `${card.name} ${label}: Firefox ${card.scores[label]}, Node ${p}`);
    }
  }
  await page.close();
});
