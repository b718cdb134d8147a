// core-browser.test.mjs: the wasm core in real headless Chromium, on a page and in a module worker,
// both under the Manifest V3 extension-page CSP `script-src 'self' 'wasm-unsafe-eval'` (no eval, no
// new Function). Files are laid out the way the demo/extension build steps copy them (core.js with
// illust_core.mjs + .wasm next to it) and served by a tiny local server; the tensors must equal the ones
// Node computes from the same bytes (a JPEG, and the WebP and GIF paths: libwebp's SIMD, animations, alpha). Also checks the glue text itself has no eval/new Function, and that a worker lets go of the heap a huge image grew.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { loadCore } from '../../web/lib/core.js';
import { ensureNativeSide, fixture, readContract, root } from './core-helpers.mjs';

const CSP = "script-src 'self' 'wasm-unsafe-eval'; object-src 'self'";
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

const gluePath = path.join(root, 'build', 'wasm', 'illust_core.mjs');
// Fixtures judged on the page, in the worker and in Node (tests/fixtures/make_core_fixtures.py).
const IMAGES = ['jpeg_exif_orientation_6.jpg', 'webp_lossy_alpha.webp', 'webp_lossless.webp', 'webp_animated_offset_frame.webp',
  'gif_animated.gif', 'gif_transparent.gif'];

const PAGE_JS = `
import { loadCore } from './lib/core.js';
const report = { violations: [] };
// page.js's own eval probe below is expected to be blocked; anything else (the core, the glue) must not be.
document.addEventListener('securitypolicyviolation', (e) => {
  if (!e.sourceFile.endsWith('/page.js')) report.violations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile);
});
try { eval('1'); report.evalAllowed = true; } catch { report.evalAllowed = false; }
async function run() {
  const contract = await (await fetch('./contract.json')).json();
  const names = await (await fetch('./images.json')).json();
  const images = await Promise.all(names.map(async (name) => new Uint8Array(await (await fetch('./images/' + name)).arrayBuffer())));
  const core = await loadCore();
  report.page = images.map((bytes) => {
    const t = core.toTensor(bytes, contract);
    return { ok: t.ok, dims: t.dims, format: t.format, tensor: t.ok ? Array.from(t.tensor) : null, message: t.message };
  });
  report.pageBad = core.probe(new TextEncoder().encode('\\0\\0\\0\\x1cftypavif'));
  const worker = new Worker('./worker.js', { type: 'module' });
  report.worker = await new Promise((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => resolve({ error: String(e.message) });
    const hugeGif = new Uint8Array([...new TextEncoder().encode('GIF89a'), 0x70, 0x17, 0x70, 0x17, 0x80, 0, 0, 0, 0, 0, 255, 255, 255,
      0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b]); // 35 bytes, a 6000x6000 canvas
    worker.postMessage({ images, contract, hugeGif });
  });
}
run().catch((e) => { report.error = String(e && e.stack || e); }).finally(() => { window.__report = report; });
`;

const WORKER_JS = `
import { loadCore } from './lib/core.js';
self.onmessage = async ({ data }) => {
  try {
    const core = await loadCore();
    const results = data.images.map((bytes) => {
      const t = core.toTensor(bytes, data.contract);
      return { ok: t.ok, dims: t.dims, tensor: t.ok ? Array.from(t.tensor) : null, message: t.message };
    });
    // A huge canvas grows the heap; a fresh instance (fetched the way the first one was) must take over.
    const heap = () => core.module.HEAPU8.buffer.byteLength;
    const first = core.module;
    const huge = core.toTensor(data.hugeGif, data.contract);
    const grown = heap();
    await core.settled();
    const again = core.toTensor(data.images[0], data.contract);
    const renewal = { hugeOk: huge.ok, grown, after: heap(), replaced: core.module !== first,
      againTensor: again.ok ? Array.from(again.tensor) : null };
    self.postMessage({ results, renewal });
  } catch (e) {
    self.postMessage({ error: String(e && e.stack || e) });
  }
};
`;

let server;
let baseUrl;
let profileDir;

before(async () => {
  ensureNativeSide();
  const files = {
    '/index.html': ['text/html', '<!doctype html><meta charset="utf-8"><title>core</title><script type="module" src="./page.js"></script>'],
    '/page.js': ['text/javascript', PAGE_JS],
    '/worker.js': ['text/javascript', WORKER_JS],
    '/lib/core.js': ['text/javascript', readFileSync(path.join(root, 'web', 'lib', 'core.js'))],
    '/lib/illust_core.mjs': ['text/javascript', readFileSync(gluePath)],
    '/lib/illust_core.wasm': ['application/wasm', readFileSync(path.join(root, 'build', 'wasm', 'illust_core.wasm'))],
    '/contract.json': ['application/json', readFileSync(path.join(root, 'model', 'contract.json'))],
    '/images.json': ['application/json', JSON.stringify(IMAGES)],
    ...Object.fromEntries(IMAGES.map((name) => [`/images/${name}`, ['application/octet-stream', fixture(name)]])),
  };
  server = http.createServer((req, res) => {
    const file = files[new URL(req.url, 'http://x').pathname];
    if (!file) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'Content-Type': file[0], 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store' });
    res.end(file[1]);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${server.address().port}`;
  profileDir = mkdtempSync(path.join(tmpdir(), 'illust-core-chromium-'));
});

after(async () => {
  server?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

test('the glue contains no eval or new Function (built with -sDYNAMIC_EXECUTION=0)', () => {
  const glue = readFileSync(gluePath, 'utf8');
  assert.ok(glue.length > 1000);
  assert.doesNotMatch(glue, /new\s+Function\s*\(/);
  assert.doesNotMatch(glue, /(^|[^.\w$])eval\s*\(/);
});

test('loads and runs on a page and in a module worker under the MV3 CSP, matching Node', { timeout: 90_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(profileDir, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await context.newPage();
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    await page.goto(`${baseUrl}/index.html`);
    await page.waitForFunction(() => window.__report, null, { timeout: 60_000 });
    const report = await page.evaluate(() => window.__report);
    assert.equal(report.error, undefined, report.error);
    assert.equal(report.evalAllowed, false, 'CSP not in force: the test would prove nothing');
    assert.deepEqual(report.violations, [], `CSP violations: ${report.violations}`);
    assert.deepEqual(report.pageBad, { ok: false, code: 'unsupported_format', message: 'unsupported format: avif' });

    const contract = readContract();
    assert.equal(report.worker.error, undefined, `worker: ${report.worker.error}`);
    for (const [i, name] of IMAGES.entries()) {
      const node = (await loadCore()).toTensor(fixture(name), contract);
      assert.equal(node.ok, true, `${name}: ${node.message}`);
      for (const [where, result] of [['page', report.page[i]], ['worker', report.worker.results[i]]]) {
        assert.equal(result.ok, true, `${name} ${where}: ${result.message}`);
        assert.deepEqual(result.dims, [1, 3, contract.input.height, contract.input.width]);
        assert.deepEqual(Float32Array.from(result.tensor), node.tensor, `${name} ${where}: tensor differs from Node's`);
      }
    }
    // After a huge image the worker lets go of the grown heap: a fresh instance, same results.
    const { renewal } = report.worker;
    assert.equal(renewal.hugeOk, true);
    assert.ok(renewal.grown > 128 * 2 ** 20, `heap after the huge canvas: ${renewal.grown}`);
    assert.equal(renewal.replaced, true);
    assert.ok(renewal.after < 32 * 2 ** 20, `heap after the fresh instance took over: ${renewal.after}`);
    assert.deepEqual(renewal.againTensor, report.worker.results[0].tensor);
    assert.deepEqual(consoleErrors.filter((m) => /Content Security Policy|wasm/i.test(m)), []);
  } finally {
    await context.close();
  }
});
