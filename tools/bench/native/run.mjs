// Builds and runs core_bench.cpp (the C++ core compiled natively) for tools/bench.mjs. CMake builds it
// (target core_bench in build/bench/native, Release), from the same description as the core's tests and
// wasm build: a g++ call of its own listed the core's .cpp files but not libwebp's C decoder, so it
// stopped linking when WebP came. The core and libwebp are -O3 like the wasm build; no -march=native, so
// the figure is for the portable x86-64 baseline like a shipped binary's. CMake rebuilds only what changed.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function buildIfStale(root, log) {
  const buildDir = path.join(root, 'build', 'bench', 'native');
  log(`  building ${path.relative(root, path.join(buildDir, 'core_bench'))} (CMake, Release)`);
  await run('cmake', ['-S', root, '-B', buildDir, '-G', 'Ninja', '-DCMAKE_BUILD_TYPE=Release'], { maxBuffer: 16 << 20 });
  await run('cmake', ['--build', buildDir, '--target', 'core_bench'], { maxBuffer: 16 << 20 });
  return path.join(buildDir, 'core_bench');
}

/**
 * Builds the program if stale. Resolves to run(files, warmup) → rows [{decode, infer: 0, total, cpu}], one
 * per file in order (a fresh process per call: the program reads all bytes before timing, warms up,
 * then times each image). Rejects with an Error saying what failed (no compiler, build error).
 */
export async function prepareNativeCore({ root, log }) {
  const contract = JSON.parse(await readFile(path.join(root, 'model', 'contract.json'), 'utf8'));
  const { width, height } = contract.input;
  const p = contract.preprocess;
  let binary;
  try {
    binary = await buildIfStale(root, log);
  } catch (error) {
    const said = String(error?.stderr || error?.stdout || ''); // ninja prints the compiler's errors on stdout
    const detail = said.split('\n').filter(Boolean).slice(-5).join(' ');
    throw new Error(`cannot build the native core bench: ${error?.message ?? error} ${detail}`.trim());
  }
  const params = [width, height, p.resize, p.scale, ...p.mean, ...p.std, ...p.pad_color, ...p.alpha_background].map(String);
  return async (files, warmup) => {
    const child = execFile(binary, [String(warmup), ...params], { maxBuffer: 16 << 20 });
    const output = new Promise((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`core_bench exited with ${code}`))));
    });
    child.stdin.end(files.join('\n') + '\n');
    return (await output).trim().split('\n').map((line) => {
      const [msText, cpuText, status] = line.split(' ');
      const ms = Number(msText);
      const cpu = Number(cpuText);
      return status === 'ok' ? { decode: ms, infer: 0, total: ms, cpu } : { error: status, decode: ms, infer: 0, total: ms, cpu };
    });
  };
}
