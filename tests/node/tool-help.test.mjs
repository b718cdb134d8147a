// The smaller scripts' arguments (tools/lib/run-cli.mjs toolArgsOrExit): --help prints the usage and
// does nothing else; an option they do not know is a usage error (exit 2), never a stack trace or a run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = (script, ...args) => spawnSync(process.execPath, [script, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
const SCRIPTS = ['tools/pack-extension.mjs', 'tools/nsfwjs-reference.mjs', 'tools/onnx-reference.mjs', 'tools/bench/media-tab-browsers.mjs', 'tools/bench/demo-drop.mjs',
  'tools/bench/webp-simd.mjs', 'tools/bench/decode-memory.mjs', 'tools/bench/decode-vs-tensor.mjs'];

for (const script of SCRIPTS) {
  test(`${script}: --help prints the usage and runs nothing; an unknown option exits 2 with the usage`, () => {
    const help = run(script, '--help');
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`^usage: node ${script.replace(/[./]/g, '\\$&')}`));
    assert.equal(help.stderr, '');
    assert.doesNotMatch(help.stdout, /pack: |build: /, 'nothing built or packed');
    const wrong = run(script, '--no-such-option');
    assert.equal(wrong.status, 2);
    assert.match(wrong.stderr, /Unknown option '--no-such-option'[\s\S]*usage: /);
    assert.doesNotMatch(wrong.stderr, /\n\s+at /, 'no stack trace');
  });
}

test('tools/bench/media-tab.mjs run directly says that tools/bench.mjs runs it (--help: exit 0, otherwise 2), and measures nothing', () => {
  const help = run('tools/bench/media-tab.mjs', '--help');
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: node tools\/bench\.mjs --suites media-tab /);
  assert.equal(help.stderr, '');
  const bare = run('tools/bench/media-tab.mjs');
  assert.equal(bare.status, 2);
  assert.match(bare.stderr, /^usage: node tools\/bench\.mjs --suites media-tab /);
});
