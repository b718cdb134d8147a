// web/lib/classifier-pool.js in real headless Chromium, cross-origin isolated and under the extension
// pages' CSP (script-src 'self' 'wasm-unsafe-eval'), with the files laid out as the demo build copies
// them (lib/, ort/) and the shipped model:
//  - a pool of two 1-thread workers gives exactly the scores of one in-page 1-thread classifier on the
//    same images, and both workers take images;
//  - bad bytes come back as the core's error values, a classify() after release() or with no worker
//    left is a no_model value, never a rejection;
//  - a worker that dies while judging answers its image with an error and leaves the pool;
//  - a missing runtime (ORT's bundle, or its .mjs / .wasm: named, not blamed on the model), a wrong model file or a worker that never starts makes the pool itself reject
//    with a readable message.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ensureNativeSide, fixture, root } from '../node/core-helpers.mjs';

const CSP = "script-src 'self' 'wasm-unsafe-eval'; object-src 'self'";
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const demoDir = path.join(root, 'build', 'demo');
const IMAGES = ['jpeg_baseline_420.jpg', 'jpeg_exif_orientation_6.jpg', 'png_rgba8.png', 'bmp_rgb24.bmp', 'gif_palette.gif',
  'jpeg_baseline_444.jpg', 'jpeg_progressive.jpg', 'png_gray16.png'];
const BAD = { empty: 'empty.bin', corrupt: 'corrupt_dqt.jpg', avif: 'magic.avif' };

const PAGE_JS = `
import { createClassifierPool, poolPlan } from './lib/classifier-pool.js';
import { createClassifier } from './lib/classifier.js';
import { loadCore } from './lib/core.js';
const here = (p) => new URL(p, location.href).href;
const report = {};
const brief = (r) => ({ ok: r.ok, code: r.code, message: r.message, scores: r.scores, label: r.label });
const bytesOf = async (name) => new Uint8Array(await (await fetch('./images/' + name)).arrayBuffer());
async function run() {
  report.isolated = crossOriginIsolated;
  report.plan = poolPlan();
  const contract = await (await fetch('./model/contract.json')).json();
  const model = new Uint8Array(await (await fetch('./model/' + contract.model_file)).arrayBuffer());
  const names = await (await fetch('./images.json')).json();
  const images = await Promise.all(names.good.map(bytesOf));
  const options = { model, contract, ortUrl: here('./ort/ort.wasm.min.mjs'), wasmPaths: here('./ort/'), workers: 2, threads: 1 };

  const pool = await createClassifierPool(options);
  await pool.allStarted; // workers start one after another; wait for both so each gets images
  report.pool = (await Promise.all(images.map((b) => pool.classify(b)))).map(brief);
  report.callerBytesIntact = images[0].byteLength > 0;
  report.workers = pool.workers;
  report.judgedPerWorker = pool.judgedPerWorker;
  report.bad = {};
  for (const [what, name] of Object.entries(names.bad)) report.bad[what] = brief(await pool.classify(await bytesOf(name)));
  report.bad.notBytes = brief(await pool.classify('not bytes'));
  const detached = new ArrayBuffer(16);
  structuredClone(detached, { transfer: [detached] });
  report.bad.detached = brief(await pool.classify(detached));
  report.bad.detachedInCore = brief((await loadCore()).probe(detached));
  // Options a worker cannot receive: that image's error; both workers go on judging afterwards.
  report.bad.uncloneable = brief(await pool.classify(images[0], { settings: { pick() {} } }));
  const before = pool.judgedPerWorker.slice();
  report.afterUncloneable = (await Promise.all(images.map((b) => pool.classify(b)))).map(brief);
  report.judgedAfterUncloneable = pool.judgedPerWorker.map((n, i) => n - before[i]);
  await pool.release();
  report.afterRelease = brief(await pool.classify(images[0]));

  const ort = await import('./ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = here('./ort/');
  ort.env.wasm.numThreads = 1;
  const single = await createClassifier({ ort, model, contract, core: await loadCore(), provider: 'wasm', numThreads: 1 });
  report.single = [];
  for (const b of images) report.single.push(brief(await single.classify(b)));

  const crashing = await createClassifierPool({ ...options, workers: 1, workerUrl: here('./crash-worker.js') });
  report.crashed = brief(await crashing.classify(images[0]));
  report.afterCrash = brief(await crashing.classify(images[0]));
  report.crashedWorkers = crashing.workers;

  report.silent = await createClassifierPool({ ...options, workers: 1, workerUrl: here('./silent-worker.js'), startTimeoutMs: 300 })
    .then(() => 'resolved', (e) => e.message);
  report.missingRuntime = await createClassifierPool({ ...options, ortUrl: here('./ort/missing.mjs') }).then(() => 'resolved', (e) => e.message);
  report.wrongModel = await createClassifierPool({ ...options, model: new Uint8Array([8, 1, 18, 4, 1, 2, 3]) }).then(() => 'resolved', (e) => e.message);
  // ORT's runtime files missing from a build: its .wasm (the .mjs found), or both.
  report.missingOrtWasm = await createClassifierPool({ ...options, workers: 1,
    wasmPaths: { mjs: here('./ort/ort-wasm-simd-threaded.mjs'), wasm: here('./ort/missing.wasm') } }).then(() => 'resolved', (e) => e.message);
  report.missingOrtFiles = await createClassifierPool({ ...options, workers: 1, wasmPaths: here('./no-ort/') }).then(() => 'resolved', (e) => e.message);
}
run().catch((e) => { report.error = String(e && e.stack || e); }).finally(() => { window.__report = report; });
`;

// Says it is ready, then dies (an uncaught error) on the first image, as a worker out of memory would.
const CRASH_WORKER_JS = `
self.onmessage = ({ data }) => {
  if (data.type === 'init') self.postMessage({ type: 'ready', threads: 1 });
  else setTimeout(() => { throw new Error('simulated crash'); });
};
`;

// Never answers its init, as a worker whose runtime hangs while compiling.
const SILENT_WORKER_JS = 'self.onmessage = () => {};';

let server;
let baseUrl;
let profileDir;

function missingPrerequisite() {
  if (!existsSync('/usr/bin/chromium')) return '/usr/bin/chromium not installed (bash tools/setup.sh)';
  for (const part of ['lib/classifier-pool.js', 'lib/illust_core.wasm', 'ort/ort.wasm.min.mjs', 'model/contract.json']) {
    if (!existsSync(path.join(demoDir, part))) return `build/demo/${part} missing: run \`npm run build\``;
  }
  return null;
}

before(async () => {
  if (missingPrerequisite()) return;
  ensureNativeSide();
  const memory = {
    '/index.html': ['text/html', '<!doctype html><meta charset="utf-8"><title>pool</title><script type="module" src="./page.js"></script>'],
    '/page.js': ['text/javascript', PAGE_JS],
    '/crash-worker.js': ['text/javascript', CRASH_WORKER_JS],
    '/silent-worker.js': ['text/javascript', SILENT_WORKER_JS],
    '/images.json': ['application/json', JSON.stringify({ good: IMAGES, bad: BAD })],
  };
  const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.onnx': 'application/octet-stream' };
  server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://x');
    let file = memory[pathname];
    if (!file && /^\/(lib|ort|model)\/[\w.-]+$/.test(pathname) && existsSync(path.join(demoDir, pathname))) {
      file = [types[path.extname(pathname)] ?? 'application/octet-stream', readFileSync(path.join(demoDir, pathname))];
    }
    if (!file && /^\/images\/[\w.-]+$/.test(pathname)) {
      try { file = ['application/octet-stream', fixture(pathname.slice('/images/'.length))]; } catch { /* 404 below */ }
    }
    if (!file) { res.writeHead(404).end(); return; }
    res.writeHead(200, {
      'Content-Type': file[0], 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store',
      'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    res.end(file[1]);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${server.address().port}`;
  profileDir = mkdtempSync(path.join(tmpdir(), 'illust-pool-chromium-'));
});

after(() => {
  server?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

test('classifier pool: same scores as one session, both workers busy, errors as values, dead workers leave', { timeout: 120_000 }, async (t) => {
  const missing = missingPrerequisite();
  if (missing) { t.skip(missing); return; }
  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(profileDir, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
    await page.goto(`${baseUrl}/index.html`);
    await page.waitForFunction(() => window.__report, null, { timeout: 100_000 })
      .catch((error) => { throw new Error(`${error.message}; page errors: ${pageErrors.join(' | ') || 'none'}`); });
    const report = await page.evaluate(() => window.__report);
    assert.equal(report.error, undefined, report.error);
    assert.equal(report.isolated, true, 'the page must be cross-origin isolated, as the offscreen document is');
    assert.ok(report.plan.workers >= 1 && report.plan.threads >= 1);

    assert.equal(report.pool.length, IMAGES.length);
    report.pool.forEach((result, i) => {
      assert.equal(result.ok, true, `${IMAGES[i]}: ${result.message}`);
      // Same runtime, same thread count, same bytes: the numbers must be identical, not just close.
      assert.deepEqual(result.scores, report.single[i].scores, `${IMAGES[i]}: pool and single session differ`);
      assert.equal(result.label, report.single[i].label);
    });
    assert.equal(report.callerBytesIntact, true, "classify() must not detach the caller's bytes");
    assert.equal(report.workers, 2);
    assert.equal(report.judgedPerWorker.length, 2);
    assert.ok(report.judgedPerWorker.every((n) => n > 0), `both workers should judge images: ${report.judgedPerWorker}`);

    assert.equal(report.bad.empty.code, 'empty_input');
    assert.equal(report.bad.corrupt.ok, false);
    assert.match(report.bad.corrupt.code, /^(corrupt|truncated)$/);
    assert.equal(report.bad.avif.code, 'unsupported_format');
    assert.equal(report.bad.notBytes.code, 'bad_argument');
    assert.equal(report.bad.detached.code, 'bad_argument', 'a detached buffer is an error value, not a throw');
    assert.equal(report.bad.detachedInCore.code, 'bad_argument');
    assert.equal(report.bad.uncloneable.code, 'bad_argument');
    assert.match(report.bad.uncloneable.message, /cannot send the image to a classifier worker/);
    assert.deepEqual(report.afterUncloneable.map((r) => r.scores), report.pool.map((r) => r.scores));
    assert.ok(report.judgedAfterUncloneable.every((n) => n > 0), `a worker stopped taking images: ${report.judgedAfterUncloneable}`);
    assert.equal(report.afterRelease.code, 'no_model');

    assert.equal(report.crashed.ok, false);
    assert.equal(report.crashed.code, 'internal');
    assert.match(report.crashed.message, /worker stopped/);
    assert.equal(report.afterCrash.code, 'no_model');
    assert.equal(report.crashedWorkers, 0);

    assert.equal(report.silent, 'the classifier worker did not start within 0.3 s');
    assert.match(report.missingRuntime, /cannot load the classifier's modules/);
    assert.match(report.wrongModel, /cannot load the model|wrong model file/);
    // A build without ORT's runtime files names them, not the model.
    for (const message of [report.missingOrtWasm, report.missingOrtFiles]) {
      assert.match(message, /^runtime: cannot start ONNX Runtime's wasm runtime \(.+\); are ort-wasm-simd-threaded\.mjs and \.wasm in its folder\?$/);
    }
    assert.match(report.missingOrtFiles, /no-ort\/ort-wasm-simd-threaded\.mjs/);
  } finally {
    await context.close();
  }
});
