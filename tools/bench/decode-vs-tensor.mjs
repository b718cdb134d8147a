// decode-vs-tensor.mjs: the wasm core's decode (full-size RGB out) against its toTensor (the model's
// input out) on the same images, calls interleaved so the machine's load hits both alike. Prints the
// fastest of N runs per image and call, and decode/toTensor. Several builds side by side (a copy of
// build/wasm from before a change, say) are measured in the same run, interleaved too, so their ratios
// compare even on a busy machine.
//   node tools/bench/decode-vs-tensor.mjs [--runs 7] [--core DIR]... IMAGE...   (--help says more)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULT_MAX_PIXELS, tensorOptionsFromContract } from '../../web/lib/core.js';
import { parseCommandLine, parseToolArgs, UsageError } from '../lib/run-cli.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NAME = 'tools/bench/decode-vs-tensor.mjs';
const USAGE = `usage: node ${NAME} [--runs N] [--core DIR]... IMAGE...
  --runs N    calls of each per image and build, the fastest kept (default 7)
  --core DIR  a build of the wasm core (illust_core.mjs + .wasm; default build/wasm); repeat to compare`;
const parsed = parseCommandLine(NAME, USAGE, (argv) => {
  const { values, positionals } = parseToolArgs(argv, { runs: { type: 'string', default: '7' }, core: { type: 'string', multiple: true } });
  if (!values.help && !positionals.length) throw new UsageError('no images given');
  if (!(Number(values.runs) >= 1)) throw new UsageError(`--runs must be a number from 1 (got ${values.runs})`);
  return { ...values, images: positionals };
}, process.argv.slice(2), process);
if (parsed.exit !== undefined) process.exit(parsed.exit);
const { images } = parsed.options;
const runs = Number(parsed.options.runs);
const cores = (parsed.options.core ?? [path.join(ROOT, 'build/wasm')]).map((dir) => path.resolve(dir));

const contract = JSON.parse(readFileSync(path.join(ROOT, 'model/contract.json'), 'utf8'));
const tensorOptions = { ...tensorOptionsFromContract(contract), maxPixels: DEFAULT_MAX_PIXELS };
const decodeOptions = { alphaBackground: tensorOptions.alphaBackground, maxPixels: DEFAULT_MAX_PIXELS };

// A fresh instance per image keeps one huge image's heap from slowing the next one's calls.
const factories = [];
for (const dir of cores) {
  const { default: factory } = await import(pathToFileURL(path.join(dir, 'illust_core.mjs')).href);
  factories.push({ dir, factory, wasmBinary: readFileSync(path.join(dir, 'illust_core.wasm')) });
}

const fastest = (xs) => Math.min(...xs);
console.log(`| image | size | ${cores.map((d) => `${path.relative(ROOT, d) || d}: toTensor ms / decode ms / ratio`).join(' | ')} |`);
console.log(`|---|---|${cores.map(() => '---').join('|')}|`);
for (const file of images) {
  const bytes = readFileSync(file);
  const modules = await Promise.all(factories.map(({ factory, wasmBinary }) => factory({ wasmBinary })));
  const times = modules.map(() => ({ tensor: [], decode: [] }));
  let size = '?';
  for (let run = 0; run < runs; run++) {
    modules.forEach((m, k) => {
      let t = performance.now();
      const tensor = m.toTensor(bytes, tensorOptions);
      times[k].tensor.push(performance.now() - t);
      t = performance.now();
      const decoded = m.decode(bytes, decodeOptions);
      times[k].decode.push(performance.now() - t);
      if (!tensor.ok || !decoded.ok) throw new Error(`${file}: ${tensor.message ?? decoded.message}`);
      size = `${decoded.width}x${decoded.height}`;
    });
  }
  const cells = times.map(({ tensor, decode }) =>
    `${fastest(tensor).toFixed(1)} / ${fastest(decode).toFixed(1)} / ${(fastest(decode) / fastest(tensor)).toFixed(2)}`);
  console.log(`| ${path.basename(file)} | ${size} | ${cells.join(' | ')} |`);
}
