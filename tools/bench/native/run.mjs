// Builds and runs core_bench.cpp (the C++ core compiled natively) for tools/bench.mjs. Its own tiny
// build (one g++ call into build/bench/) keeps the benchmark independent of the project's CMake
// targets; it rebuilds only when a source is newer than the binary. -O3 matches the wasm build's -O3;
// no -march=native, so the figure is for the portable x86-64 baseline like a shipped binary's.
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));

async function coreSources(root) {
  const dir = path.join(root, 'wasm');
  const names = (await readdir(dir)).filter((n) => n.endsWith('.cpp') && n !== 'bindings.cpp');
  return names.sort().map((n) => path.join(dir, n));
}

async function buildIfStale(root, log) {
  const binary = path.join(root, 'build', 'bench', 'core_bench');
  const sources = [path.join(HERE, 'core_bench.cpp'), ...await coreSources(root)];
  const headers = (await readdir(path.join(root, 'wasm'))).filter((n) => n.endsWith('.h')).map((n) => path.join(root, 'wasm', n));
  const built = await stat(binary).catch(() => null);
  const newest = Math.max(...await Promise.all([...sources, ...headers].map(async (f) => (await stat(f)).mtimeMs)));
  if (built && built.mtimeMs >= newest) return binary;
  await mkdir(path.dirname(binary), { recursive: true });
  log(`  building ${path.relative(root, binary)} (g++ -O3, ${sources.length} sources)`);
  await run('g++', ['-std=c++17', '-O3', '-DNDEBUG', `-I${path.join(root, 'wasm')}`, '-I/usr/include/stb', ...sources, '-o', binary],
    { maxBuffer: 16 << 20 });
  return binary;
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
    const detail = error?.stderr ? String(error.stderr).split('\n').slice(0, 5).join(' ') : '';
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
