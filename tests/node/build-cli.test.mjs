// tools/build.mjs's arguments: a step name it does not know is a usage error, not a silent no-op; a
// step that fails says why, not with a stack trace; and tools/serve.mjs on a port in use.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const build = (...args) => spawnSync(process.execPath, ['tools/build.mjs', ...args], { cwd: root, encoding: 'utf8' });

test('a misspelt step exits 2 and names the steps, building nothing', () => {
  const result = build('extention');
  assert.equal(result.status, 2);
  assert.match(result.stderr, /unknown step extention/);
  assert.match(result.stderr, /wasm\|demo\|extension/);
  assert.doesNotMatch(result.stdout, /build: /);
});

test('--help prints the usage and builds nothing', () => {
  const result = build('--help');
  assert.equal(result.status, 0);
  assert.match(result.stdout, /^usage: node tools\/build.mjs/);
  assert.doesNotMatch(result.stdout, /build: /);
});

test('a step that fails says why in one line and exits 1, without a stack trace', (t) => {
  // A scratch repository with the build scripts and no node_modules: the demo step lacks ORT's files.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'illust-build-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const file of ['tools/build.mjs', 'tools/build/demo.mjs']) cpSync(path.join(root, file), path.join(dir, file));
  for (const folder of ['web/demo', 'web/lib']) mkdirSync(path.join(dir, folder), { recursive: true });
  const result = spawnSync(process.execPath, [path.join(dir, 'tools', 'build.mjs'), 'demo'], { cwd: dir, encoding: 'utf8' });
  assert.equal(result.status, 1);
  assert.equal(result.stderr,
    'build: demo: FAILED: node_modules/onnxruntime-web/dist/ort.wasm.min.mjs is missing: run `bash tools/setup.sh`\n');
  // The wasm step with no CMakeLists.txt to configure: its message names the step once, not
  // "wasm: FAILED: wasm: ..." (the step's own messages start with its name).
  cpSync(path.join(root, 'tools/build/wasm.mjs'), path.join(dir, 'tools/build/wasm.mjs'));
  const wasm = spawnSync(process.execPath, [path.join(dir, 'tools', 'build.mjs'), 'wasm'], { cwd: dir, encoding: 'utf8' });
  assert.equal(wasm.status, 1);
  assert.match(wasm.stderr, /^build: wasm: FAILED: (emcmake cmake .* failed with exit code 1|could not run emcmake: .*)\n$/);
});

test('serve: a port already in use says how to choose another, exit 1', async (t) => {
  const { createServer } = await import('node:net');
  const taken = createServer();
  await new Promise((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => taken.close());
  const result = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'tools', 'serve.mjs'), '--port', String(taken.address().port)], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('close', (status) => resolve({ status, stderr }));
  });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /^serve: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE \(another server has that port: choose one with --port N\)$/m);
});
