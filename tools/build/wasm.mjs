// Build step `wasm` (run by `npm run build`): compiles the C++ core with Emscripten into
// build/wasm/illust_core.mjs + illust_core.wasm. Configures once (emcmake cmake -G Ninja), then lets
// ninja decide what changed, so a build with nothing to do takes well under a second.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

function run(cmd, args, { cwd, env, log }) {
  const result = spawnSync(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (result.error) throw new Error(`wasm: could not run ${cmd}: ${result.error.message}`);
  if (result.status !== 0) {
    log(result.stdout.trim());
    log(result.stderr.trim());
    throw new Error(`wasm: ${cmd} ${args.join(' ')} failed with exit code ${result.status}`);
  }
  return result.stdout;
}

export default async function build({ root, log = console.log }) {
  const buildDir = path.join(root, 'build', 'wasm');
  // Debian's emcc needs its acorn from /usr/share/nodejs (see /work/shared/TOOLCHAIN.md).
  const env = { ...process.env, NODE_PATH: ['/usr/share/nodejs', process.env.NODE_PATH].filter(Boolean).join(path.delimiter) };
  if (!existsSync(path.join(buildDir, 'build.ninja'))) {
    log('configuring (emcmake cmake)');
    run('emcmake', ['cmake', '-S', root, '-B', buildDir, '-G', 'Ninja', '-DCMAKE_BUILD_TYPE=Release'], { cwd: root, env, log });
  }
  const out = run('cmake', ['--build', buildDir, '--target', 'illust_core_wasm'], { cwd: root, env, log });
  if (/no work to do/.test(out)) log('up to date');
  for (const file of ['illust_core.mjs', 'illust_core.wasm']) {
    if (!existsSync(path.join(buildDir, file))) throw new Error(`wasm: expected output missing: build/wasm/${file}`);
  }
  log('build/wasm/illust_core.mjs + illust_core.wasm');
}
