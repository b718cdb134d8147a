// The WebGPU check (tools/webgpu-check/) is run by hand on a machine with a GPU; this keeps it working
// where there is none: its page runs the real classifier in Chromium, on WASM, on generated images, and
// must give the scores the CLI gives with the same runtime (onnxruntime-web). Its refusals are checked too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePngRgb } from '../../tools/lib/thumbnail.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const runner = path.join(root, 'tools/webgpu-check/run.sh');
const skip = !existsSync(path.join(root, 'build/demo/lib/classifier.js')) && 'build/demo is missing: run `npm run build`';
let dir;

before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'illust-webgpu-check-')); });
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

function image(width, height, pixel) {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgb.set(pixel(x, y), (y * width + x) * 3);
  return encodePngRgb(rgb, width, height);
}

test('the check page judges images on WASM in Chromium exactly as the CLI does', { skip, timeout: 180_000 }, () => {
  const images = path.join(dir, 'images');
  const out = path.join(dir, 'out');
  spawnSync('mkdir', ['-p', images]);
  writeFileSync(path.join(images, 'stripes.png'), image(120, 80, (x) => (x % 16 < 8 ? [250, 250, 250] : [20, 40, 200])));
  writeFileSync(path.join(images, 'gradient.png'), image(96, 128, (x, y) => [x * 2, y * 2, 255 - x]));
  writeFileSync(path.join(images, 'noise name.png'), image(64, 64, (x, y) => [(x * 37 + y * 91) % 256, (x * y) % 256, (x ^ y) % 256]));
  // run.sh's own limit (TIMEOUT) ends before spawnSync's, so a page that never answers is reported by it.
  const run = spawnSync('bash', [runner, images, out, 'wasm'], { encoding: 'utf8', timeout: 150_000, env: { ...process.env, TIMEOUT: '90' } });
  assert.equal(run.status, 0, `run.sh failed: ${run.stderr}`);
  const result = JSON.parse(readFileSync(path.join(out, 'result-wasm.json'), 'utf8'));
  assert.equal(result.error, undefined, result.error);
  assert.equal(result.crossOriginIsolated, true, 'the server sends COOP/COEP');
  assert.equal(result.wasm.used, 'wasm');
  assert.deepEqual(result.images, ['gradient.png', 'noise name.png', 'stripes.png']);
  assert.equal(result.wasm.passes.length, 3);

  const cli = spawnSync(process.execPath, [path.join(root, 'tools/classify.mjs'), '--runtime', 'web', images], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const byName = Object.fromEntries(cli.stdout.trim().split('\n').map((line) => JSON.parse(line)).map((r) => [path.basename(r.path), r.scores]));
  result.images.forEach((name, i) => {
    const expected = byName[name];
    assert.ok(expected, `the CLI judged ${name}`);
    ['illustration', 'screenshot', 'photo'].forEach((label, j) => {
      assert.ok(Math.abs(result.wasm.scores[i][j] - expected[label]) < 1e-5, `${name} ${label}: page ${result.wasm.scores[i][j]}, CLI ${expected[label]}`);
    });
  });
});

test('the check refuses missing arguments, an empty image folder, a missing build, an unknown mode or flag set, saying what is wrong', () => {
  const empty = path.join(dir, 'empty');
  const one = path.join(dir, 'one');
  spawnSync('mkdir', ['-p', empty, one]);
  writeFileSync(path.join(one, 'gray.png'), image(8, 8, () => [128, 128, 128]));
  const refusal = (args, env = {}) => spawnSync('bash', [runner, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  for (const args of [[], [one]]) {
    const noArgs = refusal(args);
    assert.equal(noArgs.status, 2, `run.sh with ${args.length} arguments`);
    assert.match(noArgs.stderr, /^usage: run\.sh IMAGES_DIR OUT_DIR \[full\|wasm\]$/m);
  }
  const packNoArgs = spawnSync('bash', [path.join(root, 'tools/webgpu-check/pack-for-device.sh')], { encoding: 'utf8' });
  assert.equal(packNoArgs.status, 2);
  assert.match(packNoArgs.stderr, /^usage: pack-for-device\.sh DATA_DIR/m);
  const noImages = refusal([empty, path.join(dir, 'o1')]);
  assert.equal(noImages.status, 2);
  assert.match(noImages.stderr, /no images in/);
  const noBuild = refusal([one, path.join(dir, 'o2')], { SITE_FROM: path.join(dir, 'nowhere') });
  assert.equal(noBuild.status, 2);
  assert.match(noBuild.stderr, /lib\/classifier\.js is missing \(run `npm run build`/);
  const badMode = refusal([one, path.join(dir, 'o3'), 'fast']);
  assert.equal(badMode.status, 2);
  assert.match(badMode.stderr, /unknown mode 'fast'/);
  if (!skip) {
    const badSet = refusal([one, path.join(dir, 'o4'), 'full'], { FLAG_SETS: 'cuda' });
    assert.equal(badSet.status, 2);
    assert.match(badSet.stderr, /unknown flag set 'cuda'/);
  }
});

test('a Chromium that dies at start is reported at once, and nothing is left running', { skip, timeout: 60_000 }, () => {
  const images = path.join(dir, 'crash-images');
  spawnSync('mkdir', ['-p', images]);
  writeFileSync(path.join(images, 'gray.png'), image(8, 8, () => [128, 128, 128]));
  const fake = path.join(dir, 'fake-chromium');
  writeFileSync(fake, '#!/bin/sh\necho "fake chromium: cannot start" >&2\nexit 1\n', { mode: 0o755 });
  const started = Date.now();
  const run = spawnSync('bash', [runner, images, path.join(dir, 'o5'), 'wasm'], { encoding: 'utf8', env: { ...process.env, CHROMIUM: fake, TIMEOUT: '40' } });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /Chromium ended before the page gave a result/);
  assert.ok(Date.now() - started < 20_000, `reported after ${Date.now() - started} ms, not at the 40 s limit`);
  const servers = spawnSync('pgrep', ['-f', `serve.py .* ${path.join(dir, 'o5')}`], { encoding: 'utf8' });
  assert.equal(servers.stdout.trim(), '', 'no server left running');
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const extensionSkip = (!existsSync(path.join(root, 'build/extension/manifest.json')) && 'build/extension is missing: run `npm run build`')
  || (!hasOpenssl && 'openssl is missing (extension-check.py serves x.com over HTTPS)');

test('the extension check judges every cell of a cold media tab and names the provider from the log', { skip: extensionSkip, timeout: 120_000 }, () => {
  const images = path.join(dir, 'tab-images');
  spawnSync('mkdir', ['-p', images]);
  writeFileSync(path.join(images, 'a.png'), image(120, 90, (x) => (x % 20 < 10 ? [240, 240, 240] : [30, 30, 160])));
  writeFileSync(path.join(images, 'b.png'), image(90, 120, (x, y) => [x * 2, y * 2, 100]));
  writeFileSync(path.join(images, 'c.png'), image(100, 100, (x, y) => [(x * 13) % 256, (y * 29) % 256, ((x + y) * 7) % 256]));
  const out = path.join(dir, 'tab-out');
  // 'default' has no GPU flags: without a GPU the extension ends on its WASM pool and logs why.
  const run = spawnSync('python3', [path.join(root, 'tools/webgpu-check/extension-check.py'), images, out, '--flags', 'default'],
    { encoding: 'utf8', timeout: 100_000, env: { ...process.env, TIMEOUT: '60' } });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  const report = JSON.parse(readFileSync(path.join(out, 'result-extension-default.json'), 'utf8'));
  assert.equal(report.cells, 3);
  assert.equal(report.judged, 3);
  assert.equal(report.provider, 'wasm');
  assert.deepEqual(Object.keys(report.states).sort(), ['a.png', 'b.png', 'c.png']);
  for (const state of Object.values(report.states)) assert.match(state, /^(visible|hidden)$/);
  assert.ok(report.firstVerdictMs > 0 && report.lastVerdictMs >= report.firstVerdictMs);
  const unknown = spawnSync('python3', [path.join(root, 'tools/webgpu-check/extension-check.py'), images, out, '--flags', 'cuda'], { encoding: 'utf8' });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown flag set 'cuda'/);
  const noFolder = spawnSync('python3', [path.join(root, 'tools/webgpu-check/extension-check.py'), path.join(dir, 'none'), out], { encoding: 'utf8' });
  assert.equal(noFolder.status, 2);
  assert.match(noFolder.stderr, /is not a folder/);
});

test('the extension check fails when cells could not be judged, and at once when Chromium dies', { skip: extensionSkip, timeout: 120_000 }, () => {
  const check = path.join(root, 'tools/webgpu-check/extension-check.py');
  const broken = path.join(dir, 'broken-images');
  spawnSync('mkdir', ['-p', broken]);
  writeFileSync(path.join(broken, 'truncated.png'), image(40, 40, () => [9, 9, 9]).subarray(0, 30));
  writeFileSync(path.join(broken, 'not-an-image.jpg'), 'plain text, not a JPEG');
  const errors = spawnSync('python3', [check, broken, path.join(dir, 'e1'), '--flags', 'default'], { encoding: 'utf8', timeout: 100_000, env: { ...process.env, TIMEOUT: '60' } });
  assert.equal(errors.status, 1, errors.stdout + errors.stderr);
  assert.match(errors.stderr, /2 cells could not be judged \(state "error"\)/);

  const fake = path.join(dir, 'dying-chromium');
  writeFileSync(fake, '#!/bin/sh\nexit 7\n', { mode: 0o755 });
  const started = Date.now();
  const dead = spawnSync('python3', [check, broken, path.join(dir, 'e2')], { encoding: 'utf8', env: { ...process.env, CHROMIUM: fake, TIMEOUT: '40' } });
  assert.equal(dead.status, 1);
  assert.match(dead.stderr, /Chromium exited \(status 7\) before every cell had a verdict/);
  assert.ok(Date.now() - started < 20_000, `reported after ${Date.now() - started} ms, not at the 40 s limit`);
});
