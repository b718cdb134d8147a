// decode-memory.mjs: what one large image costs the core in memory, printed, not asserted. For each
// case: the wasm heap of a fresh instance before and after toTensor (a wasm heap never shrinks, so its
// growth is the call's peak) and the native peak RSS of build/native/illust_core_cli on the same file.
//   node tools/bench/decode-memory.mjs            (needs npm run build; the native row needs build/native)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { DEFAULT_MAX_PIXELS, tensorOptionsFromContract } from '../../web/lib/core.js';
import { toolArgsOrExit } from '../lib/run-cli.mjs';
import { gifBytes } from './gif-bytes.mjs';

toolArgsOrExit('tools/bench/decode-memory.mjs', 'usage: node tools/bench/decode-memory.mjs\n' +
  '  prints what one large image costs the core: wasm heap growth and native peak RSS (no options)', {});
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const contract = JSON.parse(readFileSync(path.join(ROOT, 'model/contract.json'), 'utf8'));
const glue = path.join(ROOT, 'build/wasm/illust_core.mjs');
const cli = path.join(ROOT, 'build/native/illust_core_cli');
const MiB = 2 ** 20;

/** A grey PNG, for comparison: the same pixels as the GIFs in another format. */
function pngBytes(width, height) {
  const crc = (buf) => zlib.crc32(buf);
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body) >>> 0, 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 0; // 8-bit grey
  const raw = Buffer.alloc((width + 1) * height, 128);
  for (let y = 0; y < height; y++) raw[y * (width + 1)] = 0;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const CASES = [
  ['GIF 7000x7000, one frame (49 MP)', () => gifBytes({ width: 7000, height: 7000 })],
  ['GIF 7000x7000 screen, 1x1 first frame', () => gifBytes({ width: 7000, height: 7000, frameWidth: 1, frameHeight: 1 })],
  ['GIF 2000x2000, 40 frames (160 MP in all)', () => gifBytes({ width: 2000, height: 2000, frames: 40 })],
  ['GIF 7000x7000, 8 frames (392 MP in all)', () => gifBytes({ width: 7000, height: 7000, frames: 8 })],
  ['PNG 7000x7000 grey (for comparison)', () => pngBytes(7000, 7000)],
];

const createModule = (await import(glue)).default;
const wasmBinary = readFileSync(glue.replace(/\.mjs$/, '.wasm'));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'decode-memory-'));
const options = { ...tensorOptionsFromContract(contract), maxPixels: DEFAULT_MAX_PIXELS };
console.log('| case | file | result | wasm heap growth (toTensor) | wasm heap growth (decode) | native peak RSS (tensor) |');
console.log('|---|---|---|---|---|---|');
try {
  for (const [name, make] of CASES) {
    const bytes = make();
    const file = path.join(tmp, 'case');
    writeFileSync(file, bytes);
    const grown = async (call) => {
      const module = await createModule({ wasmBinary });
      module.toTensor(new Uint8Array([0xff, 0xd8, 0xff]), options); // settles the start-up heap
      const before = module.HEAPU8.buffer.byteLength;
      const result = call(module);
      return { result, growth: module.HEAPU8.buffer.byteLength - before };
    };
    const tensor = await grown((m) => m.toTensor(bytes, options));
    const decoded = await grown((m) => m.decode(bytes, { alphaBackground: options.alphaBackground, maxPixels: DEFAULT_MAX_PIXELS }));
    let rss = 'no build/native';
    if (existsSync(cli)) {
      const run = spawnSync('/usr/bin/time', ['-f', '%M', cli, '--mode', 'tensor', file], { encoding: 'utf8' });
      rss = `${(Number(run.stderr.trim().split('\n').pop()) / 1024).toFixed(0)} MiB`;
    }
    const r = tensor.result;
    const what = r.ok ? `ok ${r.width}x${r.height}` : `${r.code}: ${r.message}`;
    console.log(`| ${name} | ${(bytes.length / 1024).toFixed(0)} KiB | ${what} | ${(tensor.growth / MiB).toFixed(0)} MiB | ${(decoded.growth / MiB).toFixed(0)} MiB | ${rss} |`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
