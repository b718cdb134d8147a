// End-to-end test of what a store user installs: `npm run pack:extension`'s two zips (tools/pack-extension.mjs),
// read back by Python's zipfile (an independent reader) into fresh folders.
//  1. Each zip holds its build (build/extension/, build/extension-firefox/) byte for byte, nothing more,
//     and its manifest passes what the stores check before a review: MV3, the icons the Chrome Web Store
//     asks for (16, 48, 128: PNGs of that size), the languages (_locales: en, the default, and ja), in each a name within 45
//     characters and a description within 132, a version of 1–4
//     integers, no permission the shipped code does not use, a CSP without remote code; for
//     addons.mozilla.org a gecko id, data_collection_permissions and a strict_min_version that reads it.
//  2. The unzipped Chromium zip, loaded as it is in Debian's Chromium, judges a fake X media tab's cells
//     as the same model does in Node (a corrupt image stays visible).
//  3. The same for the unzipped Firefox zip in firefox-esr (a temporary add-on).
// A zip that missed a worker, ORT's wasm, the model or an icon would install and then only fail open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { firefoxMissing, launchFirefoxWithExtension } from '../../tools/lib/firefox-extension.mjs';
import { CHROMIUM, extensionTestsMissing, launchWithExtension, root } from './chromium-extension.mjs';
import { cellFactory, pickImages } from './extension-images.mjs';

const JUDGE_TIMEOUT_MS = 60000;
const BUILDS = { chromium: 'extension', firefox: 'extension-firefox' };
// What each permission is for, as the shipped code shows it: a permission none of these finds is unused.
const PERMISSION_USES = {
  storage: /\bchrome\.storage\.(local|session|onChanged)\b/,
  offscreen: /\bchrome\.offscreen\.createDocument\(/,
  webRequest: /\bwebRequest\??\.onHeadersReceived\b/,
  webRequestBlocking: /['"]blocking['"]/,
  webRequestFilterResponse: /\bfilterResponseData\(/,
};

const skipReason = extensionTestsMissing({ chromium: false });

/** Every file under dir, as sorted forward-slash paths relative to it. */
const filesUnder = (dir) => readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile())
  .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)).split(path.sep).join('/')).sort();

let packedOnce = null;
/**
 * Runs `npm run pack:extension`'s script once per process and unzips both zips with Python's zipfile
 * into a temporary folder: {chromium, firefox} (the unzipped folders), removed at exit.
 */
function packedAndUnzipped() {
  packedOnce ??= (() => {
    execFileSync(process.execPath, [path.join(root, 'tools', 'pack-extension.mjs')], { cwd: root, stdio: 'pipe' });
    const { version } = JSON.parse(readFileSync(path.join(root, 'build', 'extension', 'manifest.json'), 'utf8'));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'illust-only-packed-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const out = {};
    for (const [browser, suffix] of [['chromium', ''], ['firefox', '-firefox']]) {
      const zip = path.join(root, 'build', `illust-only-extension${suffix}-${version}.zip`);
      out[browser] = path.join(dir, browser);
      execFileSync('/usr/bin/python3', ['-c', 'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nz.extractall(sys.argv[2])', zip, out[browser]]);
    }
    return out;
  })();
  return packedOnce;
}

/** A PNG's width and height from its IHDR chunk (null for anything else). */
function pngSize(bytes) {
  if (bytes.length < 24 || bytes.toString('latin1', 1, 4) !== 'PNG' || bytes.toString('latin1', 12, 16) !== 'IHDR') return null;
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

test('store zips: each holds its build byte for byte, and its manifest passes the stores\' checks', { skip: skipReason ?? false, timeout: 120000 }, () => {
  const unzipped = packedAndUnzipped();
  for (const [browser, build] of Object.entries(BUILDS)) {
    const buildDir = path.join(root, 'build', build);
    const files = filesUnder(buildDir);
    assert.deepEqual(filesUnder(unzipped[browser]), files, `${browser}: the zip's files are the build's`);
    for (const file of files) {
      assert.ok(readFileSync(path.join(unzipped[browser], file)).equals(readFileSync(path.join(buildDir, file))), `${browser}: ${file} differs from the build`);
    }

    const dir = unzipped[browser];
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.manifest_version, 3, browser);
    assert.match(manifest.version, /^\d+(\.\d+){0,3}$/, `${browser}: version`);
    // The name and description are __MSG_…__ references: each language's own words must fit.
    assert.deepEqual(readdirSync(path.join(dir, '_locales')).sort(), ['en', 'ja'], `${browser}: every language is in the zip`);
    assert.equal(manifest.default_locale, 'en', browser);
    for (const lang of ['en', 'ja']) {
      const messages = JSON.parse(readFileSync(path.join(dir, '_locales', lang, 'messages.json'), 'utf8'));
      const [name, description] = [manifest.name, manifest.description].map((value) => value.replace(/^__MSG_(\w+)__$/, (_whole, key) => messages[key]?.message ?? assert.fail(`${browser} ${lang}: ${key} missing`)));
      assert.ok(name.length <= 45, `${browser} ${lang}: name "${name}" (addons.mozilla.org's linter refuses over 45 characters; Chrome allows 75)`);
      assert.ok(description.length <= 132, `${browser} ${lang}: description is ${description.length} characters (the Chrome Web Store allows 132)`);
    }
    for (const size of [16, 48, 128]) assert.ok(manifest.icons[size], `${browser}: an icon of ${size} px`);
    for (const [size, file] of [...Object.entries(manifest.icons), ...Object.entries(manifest.action.default_icon)]) {
      assert.deepEqual(pngSize(readFileSync(path.join(dir, file))), [Number(size), Number(size)], `${browser}: ${file} is a ${size} px PNG`);
    }
    assert.equal(manifest.content_security_policy.extension_pages, "script-src 'self' 'wasm-unsafe-eval'; object-src 'self'", `${browser}: no remote code`);
    const code = files.filter((f) => /\.m?js$/.test(f) && !f.startsWith('ort/')).map((f) => readFileSync(path.join(dir, f), 'utf8')).join('\n');
    for (const permission of manifest.permissions) {
      assert.ok(PERMISSION_USES[permission]?.test(code), `${browser}: permission ${permission} is not used by the shipped code`);
    }
  }

  const gecko = JSON.parse(readFileSync(path.join(unzipped.firefox, 'manifest.json'), 'utf8')).browser_specific_settings.gecko;
  assert.match(gecko.id, /^[\w.-]+@[\w.-]+$/, 'an add-on id addons.mozilla.org accepts');
  assert.deepEqual(gecko.data_collection_permissions, { required: ['none'] }, 'new add-ons must say what they collect: nothing');
  // data_collection_permissions is read from Firefox 140; an older minimum makes the linter warn.
  assert.ok(Number.parseFloat(gecko.strict_min_version) >= 140, `strict_min_version ${gecko.strict_min_version}`);
});

const { addCells } = cellFactory('Pk', 1600000000000000000n);
const corrupt = { label: 'corrupt', bytes: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0 this is not image data'.repeat(40))]) };

/** One cell of each class (real images the Node model labels clearly) and a corrupt one: {media, cells, page}. */
async function mediaTab() {
  const { byClass } = await pickImages({ illustration: 1, screenshot: 1, photo: 1 });
  const media = new Map();
  const cells = addCells(media, [...byClass('illustration'), ...byClass('screenshot'), ...byClass('photo'), corrupt], ['both', 'img']);
  const page = readFileSync(path.join(root, 'tests', 'e2e', 'fixtures', 'x-media-tab.html'), 'utf8').replace('/*CELL_BATCHES*/[]', JSON.stringify([cells]));
  return { media, cells, page };
}

/** Waits until every cell is judged (or given up on), then checks each against the Node label. */
async function assertJudged(page, media, cells, consoleLines) {
  const ids = cells.map((c) => c.mediaId);
  const deadline = Date.now() + JUDGE_TIMEOUT_MS;
  let states;
  for (;;) {
    states = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('li[data-test-media] a')]
      .map((a) => [a.closest('li').dataset.testMedia, { state: a.dataset.illustOnlyState ?? null, label: a.dataset.illustOnlyLabel ?? null }])));
    if (ids.every((id) => states[id]?.state && states[id].state !== 'pending')) break;
    if (Date.now() > deadline) assert.fail(`cells not judged: ${JSON.stringify(states)}\nconsole: ${consoleLines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (const id of ids) {
    const { label } = media.get(id);
    const expected = label === 'corrupt' ? { state: 'error' } : { state: label === 'illustration' ? 'visible' : 'hidden', label };
    assert.deepEqual(label === 'corrupt' ? { state: states[id].state } : states[id], expected, `${id} (${label})\nconsole: ${consoleLines.join('\n')}`);
  }
}

test('the Chromium store zip, unzipped and loaded as it is, judges an X media tab', { skip: skipReason ?? (existsSync(CHROMIUM) ? false : `${CHROMIUM} not installed`), timeout: 180000 }, async () => {
  const { chromium: dir } = packedAndUnzipped();
  const { media, cells, page: html } = await mediaTab();
  const { context, close } = await launchWithExtension([], { dir });
  try {
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === 'chrome-extension:') return route.continue();
      if (url.href.split('?')[0] === 'https://x.com/someartist/media') return route.fulfill({ contentType: 'text/html; charset=utf-8', body: html });
      const bytes = url.host === 'pbs.twimg.com' ? media.get(url.pathname.match(/^\/media\/([\w-]+)$/)?.[1])?.bytes : null;
      return bytes ? route.fulfill({ contentType: 'image/jpeg', body: bytes, headers: { 'Access-Control-Allow-Origin': '*' } }) : route.fulfill({ status: 404, body: '' });
    });
    const page = await context.newPage();
    const consoleLines = [];
    page.on('console', (message) => consoleLines.push(message.text()));
    await page.goto('https://x.com/someartist/media');
    await assertJudged(page, media, cells, consoleLines);
  } finally {
    await close();
  }
});

test('the Firefox store zip, unzipped and installed as it is, judges an X media tab', { skip: skipReason ?? firefoxMissing() ?? false, timeout: 300000 }, async () => {
  const { firefox: dir } = packedAndUnzipped();
  const { media, cells, page: html } = await mediaTab();
  const answer = (request, response) => {
    const url = new URL(request.url, `https://${request.headers.host}`);
    if (url.host === 'x.com' && url.pathname === '/someartist/media') { response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html); return; }
    const bytes = url.host === 'pbs.twimg.com' ? media.get(url.pathname.match(/^\/media\/([\w-]+)$/)?.[1])?.bytes : null;
    if (bytes) response.writeHead(200, { 'Content-Type': 'image/jpeg', 'Access-Control-Allow-Origin': '*' }).end(bytes);
    else response.writeHead(404).end();
  };
  const fx = await launchFirefoxWithExtension({ extensionDir: dir, answer });
  try {
    const page = await fx.browser.newPage();
    const consoleLines = [];
    page.on('console', (message) => consoleLines.push(message.text()));
    await page.goto('https://x.com/someartist/media', { waitUntil: 'domcontentloaded' });
    await assertJudged(page, media, cells, consoleLines);
  } finally {
    await fx.close();
  }
});
