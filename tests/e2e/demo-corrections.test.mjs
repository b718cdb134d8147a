// End-to-end test of corrections on the demo page (issue #19) in real headless Chromium: two paintings of
// one artist that the shipped model calls non-illustrations, a clear illustration of that artist and a
// clear photo. Clicking the first card's label and choosing "Illustration" relabels it, the similar
// second painting follows (the same personal layer as the extension, fitted in the page's worker), the
// photo keeps its label, and the toolbar says "Learned from 1 correction"; "Clear" forgets it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../tools/serve.mjs';
import { pickArtist } from './pick-corrections.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const site = path.join(root, 'build', 'demo');
const dataDir = process.env.ILLUST_ONLY_DATA ?? path.join(root, '..', 'shared', 'data');
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-gpu'];

const missing = ['index.html', 'lib/personal-layer.js', 'lib/illust_core.wasm', 'model/illust-only.onnx'].filter((f) => !existsSync(path.join(site, f)));
const skipReason = missing.length ? `demo site incomplete (build/demo/${missing.join(', ')}): run \`npm run build\``
  : !existsSync(dataDir) ? `real images not found at ${dataDir} (set ILLUST_ONLY_DATA)` : false;

test('demo page: correcting a card\'s label relabels it and similar cards, and says what it learned from', { skip: skipReason, timeout: 180000 }, async () => {
  const artist = await pickArtist({ root, dataDir });
  assert.ok(artist, 'no source has two similar images the model hides and one it shows; the test needs one');
  // Named so the cards sort as dropped: 1 and 2 the hidden paintings, 3 the clear one.
  const work = mkdtempSync(path.join(os.tmpdir(), 'illust-demo-corrections-'));
  const files = [['1-first.jpg', artist.first.file], ['2-second.jpg', artist.second.file], ['3-clear.jpg', artist.clear.file]]
    .map(([name, from]) => { copyFileSync(from, path.join(work, name)); return path.join(work, name); });
  const server = await startServer({ siteDir: site, port: 0 });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60000 });
    assert.match(await page.textContent('#learned'), /Click a card's label to correct it/);
    await page.setInputFiles('#file-input', files);
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="done"]').length === 3, null, { timeout: 60000 });
    const labels = () => page.$$eval('.card', (cards) => Object.fromEntries(cards.map((c) => [c.querySelector('.name').textContent, { label: c.dataset.label, personal: c.dataset.personal }])));
    let now = await labels();
    assert.notEqual(now['1-first.jpg'].label, 'illustration');
    assert.notEqual(now['2-second.jpg'].label, 'illustration');
    assert.equal(now['3-clear.jpg'].label, 'illustration');
    // Screen readers: each label button names its image, and the progress bar has a name.
    assert.equal(await page.getByRole('button', { name: 'Illustration — 3-clear.jpg: click to correct', exact: true }).count(), 1);
    assert.equal(await page.getByRole('progressbar', { name: 'Images classified', includeHidden: true }).count(), 1);

    // The label is a button; it offers the three labels, the current one disabled.
    const first = page.locator('.card', { has: page.locator('.name', { hasText: '1-first.jpg' }) });
    const firstLabel = first.locator('button.label');
    assert.equal(await firstLabel.getAttribute('aria-expanded'), 'false');
    // The user may change their mind: Escape, or the label pressed again, closes the menu unchanged.
    await firstLabel.focus();
    await page.keyboard.press('Enter');
    assert.equal(await first.locator('.correct-menu').count(), 1);
    assert.equal(await firstLabel.getAttribute('aria-expanded'), 'true');
    await page.keyboard.press('Escape');
    assert.equal(await first.locator('.correct-menu').count(), 0, 'Escape closes the correction menu');
    assert.equal(await firstLabel.evaluate((el) => el === document.activeElement && el.getAttribute('aria-expanded')), 'false');
    await firstLabel.click();
    await firstLabel.click();
    assert.equal(await first.locator('.correct-menu').count(), 0, 'a second press on the label closes the menu');
    assert.deepEqual(await labels(), now);
    await firstLabel.click();
    assert.equal(await first.locator(`.correct-menu button[data-choice="${now['1-first.jpg'].label}"]`).isDisabled(), true);
    await first.locator('.correct-menu button[data-choice="illustration"]').click();
    await page.waitForFunction(() => /^Learned from 1 correction/.test(document.getElementById('learned').textContent));
    now = await labels();
    assert.deepEqual(now['1-first.jpg'], { label: 'illustration', personal: 'true' });
    assert.deepEqual(now['2-second.jpg'], { label: 'illustration', personal: 'true' }, 'the similar painting follows the correction');
    assert.equal(now['3-clear.jpg'].label, 'illustration');
    assert.equal(Number(await page.textContent('#count-illustration')), 3);

    // A correction made while the previous one is refitted: the worker's answer to the earlier one does not
    // know the later one yet, and applied, it put the label the user had just chosen back to the old one
    // until the next answer (Photo, Illustration, Photo). Each card's labels, in order, as shown:
    await page.evaluate(() => {
      window.labelsShown = {};
      for (const card of document.querySelectorAll('.card')) {
        const shown = window.labelsShown[card.querySelector('.name').textContent] = [card.querySelector('button.label').textContent];
        new MutationObserver(() => {
          const text = card.querySelector('button.label').textContent;
          if (text !== shown.at(-1)) shown.push(text);
        }).observe(card, { subtree: true, childList: true, characterData: true, attributes: true });
      }
    });
    // Two corrections in one go, before the worker answers the first.
    await page.evaluate(() => {
      for (const [name, choice] of [['2-second.jpg', 'screenshot'], ['3-clear.jpg', 'photo']]) {
        const card = [...document.querySelectorAll('.card')].find((c) => c.querySelector('.name').textContent === name);
        card.querySelector('button.label').click();
        card.querySelector(`.correct-menu button[data-choice="${choice}"]`).click();
      }
    });
    await page.waitForFunction(() => /^Learned from 3 corrections/.test(document.getElementById('learned').textContent));
    const shown = await page.evaluate(() => window.labelsShown);
    assert.deepEqual(shown['2-second.jpg'], ['Illustration', 'Screenshot'], 'each card changes at most once per correction');
    assert.deepEqual(shown['3-clear.jpg'], ['Illustration', 'Photo'], 'each card changes at most once per correction');
    assert.deepEqual(shown['1-first.jpg'], ['Illustration'], 'the card corrected first keeps its label');

    // A correction answered after Clear (its PERSONAL message was on its way) is forgotten with it: the
    // worker answers a new image after that message, so by its verdict the page has read it.
    await page.evaluate(() => {
      const label = [...document.querySelectorAll('.card')].find((c) => c.querySelector('.name').textContent === '3-clear.jpg').querySelector('button.label');
      label.click();
      label.closest('.card').querySelector('.correct-menu button[data-choice="photo"]').click();
      document.getElementById('clear').click();
    });
    await page.setInputFiles('#file-input', files[2]);
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="done"]').length === 1, null, { timeout: 60000 });
    assert.match(await page.textContent('#learned'), /^Click a card's label to correct it/, 'Clear forgets the corrections, even one still being learned');
    await page.click('#clear');
    await page.waitForFunction(() => /Click a card's label/.test(document.getElementById('learned').textContent));
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
    rmSync(work, { recursive: true, force: true });
  }
});
