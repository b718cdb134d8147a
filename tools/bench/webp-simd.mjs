// Measures what libwebp's SIMD paths buy in the wasm core: decode + preprocess (toTensor) of the
// bench's seeded real images re-encoded as WebP (lossy q80 as X serves them, and lossless), next to the
// JPEG originals, for each given wasm build. Builds differ only in CMake's ILLUST_WEBP_SIMD:
//
//   NODE_PATH=/usr/share/nodejs emcmake cmake -S . -B build/wasm-scalar -G Ninja -DILLUST_WEBP_SIMD=OFF
//   cmake --build build/wasm-scalar --target illust_core_wasm      # likewise SSE41 in build/wasm-sse41
//   node tools/bench/webp-simd.mjs build/wasm build/wasm-scalar build/wasm-sse41 [--images 60]
//
// Runs in Node (the same V8 and wasm engine as Chromium); builds take turns per image and each image's
// fastest of 5 runs counts, so other load on the machine hits every build alike. Prints median ms.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, parseToolArgs, UsageError } from '../lib/run-cli.mjs';
import { selectImages } from './images.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const USAGE = 'usage: node tools/bench/webp-simd.mjs BUILD_DIR... [--images N]\n' +
  '  BUILD_DIR   a wasm build of the core (its illust_core.mjs + .wasm), e.g. build/wasm build/wasm-scalar\n' +
  '  --images N  seeded real images, each also as lossy and lossless WebP (default 60)';
// Checked before any image is encoded: --help, or a typo, used to encode 60 images and end in a stack trace.
const parsed = parseCommandLine('webp-simd', USAGE, (argv) => {
  const { values, positionals } = parseToolArgs(argv, { images: { type: 'string', default: '60' } });
  if (values.help) return values;
  if (!positionals.length) throw new UsageError('name at least one wasm build folder');
  const count = Number(values.images);
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`--images must be a whole number >= 1, not "${values.images}"`);
  for (const dir of positionals) {
    if (!existsSync(path.join(dir, 'illust_core.mjs'))) throw new UsageError(`${dir} holds no wasm build (illust_core.mjs)`);
  }
  return { ...values, builds: positionals, count };
}, process.argv.slice(2), process);
if (parsed.exit !== undefined) process.exit(parsed.exit);
const { builds: args, count } = parsed.options;

const dataDir = process.env.ILLUST_ONLY_DATA || path.resolve(ROOT, '..', 'shared', 'data');
const images = await selectImages({ dataDir, count });
const work = mkdtempSync(path.join(os.tmpdir(), 'illust-webp-simd-'));
const encode = 'import sys\nfrom PIL import Image\nfor i, f in enumerate(sys.argv[2:]):\n' +
  '    im = Image.open(f)\n    im.save(f"{sys.argv[1]}/{i}.webp", quality=80)\n    im.save(f"{sys.argv[1]}/{i}.ll.webp", lossless=True)\n';
execFileSync('/usr/bin/python3', ['-c', encode, work, ...images.map((i) => i.file)]);
const sets = {
  jpeg: images.map((i) => readFileSync(i.file)),
  'webp lossy q80': images.map((_, i) => readFileSync(path.join(work, `${i}.webp`))),
  'webp lossless': images.map((_, i) => readFileSync(path.join(work, `${i}.ll.webp`))),
};
rmSync(work, { recursive: true, force: true });

const contract = JSON.parse(readFileSync(path.join(ROOT, 'model', 'contract.json'), 'utf8'));
const cores = [];
for (const [i, dir] of args.entries()) {
  // A separate copy of core.js per build: loadCore keeps one instance per module.
  const { loadCore } = await import(`../../web/lib/core.js?build=${i}`);
  cores.push({ dir, core: await loadCore({ moduleUrl: path.resolve(dir, 'illust_core.mjs') }) });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
console.log(`${images.length} images; median ms of decode + preprocess (fastest of 5 runs per image)`);
console.log(['set', ...cores.map((c) => c.dir)].join('\t'));
for (const [name, list] of Object.entries(sets)) {
  const times = cores.map(() => []);
  for (const bytes of list) {
    for (const [k, { core }] of cores.entries()) {
      let best = Infinity;
      for (let r = 0; r < 5; r++) {
        const t = performance.now();
        const result = core.toTensor(bytes, contract);
        best = Math.min(best, performance.now() - t);
        if (!result.ok) throw new Error(`${cores[k].dir}: ${result.message}`);
      }
      times[k].push(best);
    }
  }
  console.log([name, ...times.map((t) => median(t).toFixed(2))].join('\t'));
}
