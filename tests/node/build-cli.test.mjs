// tools/build.mjs's arguments: a step name it does not know is a usage error, not a silent no-op.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
