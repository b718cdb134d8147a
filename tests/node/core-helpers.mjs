// core-helpers.mjs: shared by tests/node/core*.test.mjs. Finds (or builds) the native side the wasm
// core is compared with: the PIL-generated fixtures (build/native/fixtures/manifest.json) and
// build/native/illust_core_cli. tools/test.sh builds both in its native suite before the node suite
// runs; when they are missing (a node test run on its own) they are built here with cmake.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const nativeDir = path.join(root, 'build', 'native');
export const fixtureDir = path.join(nativeDir, 'fixtures');
export const cliPath = path.join(nativeDir, 'illust_core_cli');
export const contractPath = path.join(root, 'model', 'contract.json');
export const systemPython = '/usr/bin/python3';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Builds the CLI and fixtures if needed; returns the parsed fixture manifest. */
export function ensureNativeSide() {
  if (!existsSync(cliPath) || !existsSync(path.join(fixtureDir, 'manifest.json'))) {
    run('cmake', ['-S', root, '-B', nativeDir, '-G', 'Ninja', '-DCMAKE_BUILD_TYPE=RelWithDebInfo']);
    run('cmake', ['--build', nativeDir, '-j', '2', '--target', 'illust_core_cli', 'core_fixtures']);
  }
  return JSON.parse(readFileSync(path.join(fixtureDir, 'manifest.json'), 'utf8'));
}

/** Runs the native CLI on files; returns one parsed JSON object per file. */
export function nativeCli(args) {
  return run(cliPath, args).trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

export function readContract() {
  return JSON.parse(readFileSync(contractPath, 'utf8'));
}

export function fixture(name) {
  return readFileSync(path.join(fixtureDir, name));
}

/** Runs /usr/bin/python3 -c code with args; returns stdout. */
export function python(code, args = []) {
  return run(systemPython, ['-c', code, ...args]);
}
