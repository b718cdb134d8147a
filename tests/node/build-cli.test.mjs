// tools/build.mjs's arguments: a step name it does not know is a usage error, not a silent no-op; a
// step that fails says why, not with a stack trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
});
