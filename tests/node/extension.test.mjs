// Unit tests for the extension's pure parts (no browser): media-cell parsing on real-looking X URLs,
// the verdict LRU, settings sanitising over a storage double, the popup's provider line, the build
// step's classic-script bundler and PNG icons, and the store zip (checked by Python's zipfile, an
// independent reader). The browser behaviour is in tests/e2e/extension.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

import { accountOfPath, isMediaTabPath, isProfilePath, mediaIdFromUrl, mediaIdsFromCssBackground, jpegUrlForMedia } from '../../web/extension/media-cells.js';
import { LruCache } from '../../web/extension/lru-cache.js';
import { DEFAULTS, sanitizeSettings, readSettings, writeSettings } from '../../web/extension/settings.js';
import { MSG } from '../../web/extension/messages.js';
import { classifierLabel, webgpuFallbackReason } from '../../web/extension/classifier-label.js';
import { bundleClassicScript, rewriteLibImports, drawIcon } from '../../tools/build/extension.mjs';
import { makeZip } from '../../tools/pack-extension.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

test('media tab paths: /USER/media only', () => {
  for (const p of ['/someartist/media', '/some_artist/media/', '/A/media', '/abcdefghijklmno/media']) assert.ok(isMediaTabPath(p), p);
  for (const p of ['/someartist', '/someartist/likes', '/home', '/someartist/media/x', '/abcdefghijklmnop/media', '/a-b/media', '', null]) {
    assert.equal(isMediaTabPath(p), false, String(p));
  }
});

test('the account of a media tab (corrections are scoped by it): lower-cased user, null elsewhere', () => {
  assert.equal(accountOfPath('/SomeArtist/media'), 'someartist');
  assert.equal(accountOfPath('/someartist/media/'), 'someartist');
  for (const p of ['/someartist', '/someartist/likes', '/home', '/', '/a/b/media', null]) assert.equal(accountOfPath(p), null, String(p));
});

test('profile paths (the model loads there): a user and its tabs, not X\'s own pages', () => {
  for (const p of ['/someartist', '/someartist/', '/some_artist/media', '/A/likes', '/abcdefghijklmno/with_replies', '/Artist/highlights']) {
    assert.ok(isProfilePath(p), p);
  }
  for (const p of ['/', '/home', '/explore', '/i/bookmarks', '/notifications', '/messages/123', '/Settings', '/search',
    '/someartist/status/123', '/someartist/followers', '/abcdefghijklmnop', '/a-b', '', null]) {
    assert.equal(isProfilePath(p), false, String(p));
  }
});

test('media ids from the URL forms X uses, nothing from other pbs paths', () => {
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/media/GZx3_aBc-9Q?format=jpg&name=small'), 'GZx3_aBc-9Q');
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/media/GZx3aBc9Q.jpg?name=orig'), 'GZx3aBc9Q');
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/media/GZx3aBc9Q.png:large'), 'GZx3aBc9Q');
  assert.equal(mediaIdFromUrl('//pbs.twimg.com/media/GZx3aBc9Q'), 'GZx3aBc9Q');
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/ext_tw_video_thumb/1/pu/img/x.jpg'), null);
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/profile_images/1/x.jpg'), null);
  assert.equal(mediaIdFromUrl('https://evil.example/pbs.twimg.com/media/X'), null);
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/media/' + 'a'.repeat(65)), null);
  assert.equal(mediaIdFromUrl(undefined), null);
  assert.deepEqual(mediaIdsFromCssBackground('url("https://pbs.twimg.com/media/AbC?format=webp&name=small")'), ['AbC']);
  assert.deepEqual(mediaIdsFromCssBackground("url(https://x/y.png), url('https://pbs.twimg.com/media/Q1.jpg')"), ['Q1']);
  assert.deepEqual(mediaIdsFromCssBackground('none'), []);
  assert.equal(jpegUrlForMedia('GZx3aBc9Q'), 'https://pbs.twimg.com/media/GZx3aBc9Q?format=jpg&name=small');
});

test('LRU keeps the most recently used, bounded', () => {
  const lru = new LruCache(3);
  lru.set('a', 1).set('b', 2).set('c', 3);
  assert.equal(lru.get('a'), 1); // a is now the newest
  lru.set('d', 4); // evicts b
  assert.equal(lru.has('b'), false);
  assert.deepEqual(lru.entries().map(([k]) => k), ['c', 'a', 'd']);
  assert.equal(lru.size, 3);
  assert.throws(() => new LruCache(0), RangeError);
});

test('settings: DEFAULTS merged over stored values; bad values fall back', async () => {
  assert.equal(DEFAULTS.enabled, true);
  assert.deepEqual(sanitizeSettings(null), { ...DEFAULTS });
  const s = sanitizeSettings({ enabled: 'yes', hidePhotos: false, strictness: 7, bogus: 1 });
  assert.equal(s.enabled, true);
  assert.equal(s.hidePhotos, false);
  assert.equal(s.strictness, 1);
  assert.equal('bogus' in s, false);
  assert.equal(sanitizeSettings({ strictness: NaN }).strictness, DEFAULTS.strictness);

  // chrome.storage.local semantics: get(object) fills absent keys from the object.
  const stored = { hideScreenshots: false };
  const storage = {
    async get(defaults) { return { ...defaults, ...stored }; },
    async set(patch) { Object.assign(stored, patch); },
  };
  assert.equal((await readSettings(storage)).hideScreenshots, false);
  const merged = await writeSettings({ strictness: -3, nonsense: true }, storage);
  assert.equal(merged.strictness, 0);
  assert.deepEqual(stored, { hideScreenshots: false, strictness: 0 });
});

test('settings: "Use GPU" is on by default; the verdict timeout stays within bounds', () => {
  assert.equal(DEFAULTS.useGpu, true);
  assert.equal(sanitizeSettings({ useGpu: false }).useGpu, false);
  assert.equal(sanitizeSettings({ useGpu: 'no' }).useGpu, true);
  assert.equal(DEFAULTS.verdictTimeoutMs, 20000);
  assert.equal(sanitizeSettings({ verdictTimeoutMs: 3000 }).verdictTimeoutMs, 3000);
  assert.equal(sanitizeSettings({ verdictTimeoutMs: 0 }).verdictTimeoutMs, 1000); // never fail open on everything
  assert.equal(sanitizeSettings({ verdictTimeoutMs: 1e12 }).verdictTimeoutMs, 120000); // never hide forever
  assert.equal(sanitizeSettings({ verdictTimeoutMs: Infinity }).verdictTimeoutMs, 20000);
});

test('provider line: what really ran, and why not WebGPU', () => {
  // The log lines web/lib/classifier.js writes when it falls back.
  assert.equal(webgpuFallbackReason(['webgpu: no adapter; using wasm']), 'no adapter');
  assert.equal(webgpuFallbackReason(['webgpu: no adapter (forced webgpu unavailable); using wasm']), 'no adapter (forced webgpu unavailable)');
  assert.equal(webgpuFallbackReason(['other', 'webgpu: WebGPU warm-up timed out after 10000 ms; using wasm']), 'warm-up timed out after 10000 ms');
  assert.equal(webgpuFallbackReason([]), null);
  assert.equal(webgpuFallbackReason(undefined), null);

  assert.equal(classifierLabel({ provider: 'wasm', threads: 2, modelVersion: 'v1', webgpuFallback: 'no adapter' }),
    'WASM · 2 threads (WebGPU: no adapter) · model v1');
  assert.equal(classifierLabel({ provider: 'wasm', threads: 1, modelVersion: 'v1', webgpuFallback: null }), 'WASM · 1 thread · model v1');
  assert.equal(classifierLabel({ provider: 'wasm', threads: 1, workers: 2, modelVersion: 'v1', webgpuFallback: 'no adapter' }),
    'WASM · 2 workers × 1 thread (WebGPU: no adapter) · model v1');
  assert.equal(classifierLabel({ provider: 'wasm', threads: 3, workers: 1, modelVersion: 'v1' }), 'WASM · 1 worker × 3 threads · model v1');
  assert.equal(classifierLabel({ provider: 'webgpu', threads: 0, modelVersion: 'v1' }), 'WebGPU · model v1');
  assert.equal(classifierLabel({ ok: false, message: 'model: wrong model file' }), 'unavailable (model: wrong model file)');
  assert.equal(classifierLabel(null), 'not started (no media tab judged yet)');
});

test('message types are unique strings', () => {
  const values = Object.values(MSG);
  assert.equal(new Set(values).size, values.length);
  for (const v of values) assert.match(v, /^illust-only\//);
});

test('content script bundles into one classic script that runs', () => {
  const script = bundleClassicScript(path.join(root, 'web', 'extension', 'content-script.js'));
  assert.doesNotMatch(script, /^\s*(import|export)\s/m);
  assert.match(script, /const MSG = Object\.freeze/);
  assert.match(script, /function mediaIdOfCell/);
  // It is a classic script: compiles as one, and without a DOM it fails on the DOM, not on syntax.
  assert.throws(() => vm.runInNewContext(script, {}), /document is not defined/);
});

test('the bundler refuses module syntax it does not handle', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'io-bundle-'));
  try {
    writeFileSync(path.join(dir, 'a.js'), "import { x as y } from './b.js';\n");
    writeFileSync(path.join(dir, 'b.js'), 'export const x = 1;\n');
    assert.throws(() => bundleClassicScript(path.join(dir, 'a.js')), /as/);
    writeFileSync(path.join(dir, 'a.js'), "export default 3;\n");
    assert.throws(() => bundleClassicScript(path.join(dir, 'a.js')), /unsupported module syntax/);
    writeFileSync(path.join(dir, 'a.js'), "import { x } from './b.js';\nconst x = 2;\n");
    assert.throws(() => bundleClassicScript(path.join(dir, 'a.js')), SyntaxError); // name clash
    writeFileSync(path.join(dir, 'a.js'), "import { x } from './missing.js';\n");
    assert.throws(() => bundleClassicScript(path.join(dir, 'a.js')), /does not exist/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
  assert.equal(rewriteLibImports("import { decide } from '../lib/decide.js';"), "import { decide } from './lib/decide.js';");
});

test('icons are valid PNGs (checked by PIL)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'io-icon-'));
  try {
    const file = path.join(dir, 'icon.png');
    writeFileSync(file, drawIcon(48));
    const out = execFileSync('/usr/bin/python3', ['-c',
      'import sys; from PIL import Image; im = Image.open(sys.argv[1]); im.load(); print(im.size, im.mode, im.getpixel((24, 10))[3], im.getpixel((0, 0))[3])', file]).toString().trim();
    assert.equal(out, '(48, 48) RGBA 255 0'); // opaque inside, transparent rounded corner
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

/** Deterministic incompressible bytes (xorshift32). */
function noise(length) {
  let x = 2463534242;
  return Buffer.from(Array.from({ length }, () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x & 0xff; }));
}

test('store zip: read back by Python zipfile, byte for byte', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'io-zip-'));
  try {
    const entries = [
      { name: 'manifest.json', data: Buffer.from('{"manifest_version": 3}\n') },
      { name: 'ort/noise.bin', data: noise(50000) }, // incompressible: stored
      { name: 'lib/text.js', data: Buffer.from('x'.repeat(10000)) }, // compressible: deflated
      { name: 'empty.txt', data: Buffer.alloc(0) },
    ];
    const zipPath = path.join(dir, 'x.zip');
    writeFileSync(zipPath, makeZip(entries));
    const listing = JSON.parse(execFileSync('/usr/bin/python3', ['-c', `
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps({i.filename: [hashlib.sha256(z.read(i)).hexdigest(), i.compress_type] for i in z.infolist()}))`, zipPath]).toString());
    const sha = (b) => createHash('sha256').update(b).digest('hex');
    for (const { name, data } of entries) assert.equal(listing[name][0], sha(data), name);
    assert.equal(listing['lib/text.js'][1], 8); // deflated
    assert.equal(listing['ort/noise.bin'][1], 0); // stored
    assert.deepEqual(makeZip(entries), readFileSync(zipPath)); // reproducible
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
