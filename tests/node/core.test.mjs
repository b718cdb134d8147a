// core.test.mjs: the wasm build of the image core, loaded through web/lib/core.js exactly as the CLI,
// demo and extension load it, on the same PIL-generated fixtures as the native Catch2 tests. Checks the
// boundary contract of docs/ARCHITECTURE.md (plain objects, codes, copied typed arrays) and that wasm
// and native give byte-identical pixels and tensors.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import * as coreModule from '../../web/lib/core.js';
import { gifBytes } from '../../tools/bench/gif-bytes.mjs';
import { cliPath, contractPath, ensureNativeSide, fixture, fixtureDir, nativeCli, readContract } from './core-helpers.mjs';

let manifest;
let core;
let contract;
let dumpDir;

before(async () => {
  manifest = ensureNativeSide();
  core = await coreModule.loadCore();
  contract = readContract();
  dumpDir = mkdtempSync(path.join(tmpdir(), 'illust-core-test-'));
});

after(() => rmSync(dumpDir, { recursive: true, force: true }));

function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('loading', () => {
  test('loadCore returns one shared instance', async () => {
    assert.equal(await coreModule.loadCore(), core);
    assert.equal(await coreModule.loadCore({ wasmBinary: new Uint8Array(3) }), core); // options of later calls ignored
  });

  test('a failed load rejects with a clear message, and a later call can retry', async () => {
    // A second, separate instance of core.js (its own promise), so the shared one stays loaded.
    const fresh = await import(`../../web/lib/core.js?fresh=${Date.now()}`);
    await assert.rejects(fresh.loadCore({ moduleUrl: new URL('file:///nonexistent/illust_core.mjs') }),
      /illust core: could not load the wasm module/);
    const retried = await fresh.loadCore();
    assert.equal(retried.probe(fixture('png_rgb8.png')).ok, true);
    assert.notEqual(retried, core);
  });

  test('module-level shortcuts work', async () => {
    const bytes = fixture('png_rgb8.png');
    assert.deepEqual(await coreModule.probe(bytes), { ok: true, width: 37, height: 23, format: 'png', orientation: 1 });
    assert.equal((await coreModule.decode(bytes)).pixels.length, 37 * 23 * 3);
    assert.deepEqual((await coreModule.toTensor(bytes, contract)).dims, [1, 3, contract.input.height, contract.input.width]);
  });
});

describe('fixtures through wasm', () => {
  test('decodable fixtures: format, size and PIL pixels', () => {
    let checked = 0;
    for (const entry of manifest.images.filter((e) => e.ok)) {
      const bytes = fixture(entry.file);
      const probed = core.probe(bytes);
      assert.equal(probed.ok, true, `${entry.file}: ${probed.message}`);
      assert.equal(probed.format, entry.format, entry.file);
      const decoded = core.decode(bytes, { alphaBackground: manifest.alpha_background });
      assert.equal(decoded.ok, true, `${entry.file}: ${decoded.message}`);
      assert.deepEqual([decoded.width, decoded.height, decoded.channels], [entry.width, entry.height, 3], entry.file);
      assert.deepEqual([probed.width, probed.height], [entry.width, entry.height], entry.file);
      assert.ok(decoded.pixels instanceof Uint8Array);
      const expected = fixture(entry.expected_rgb);
      const diff = maxAbsDiff(decoded.pixels, expected);
      if (entry.compare === 'exact') assert.equal(diff, 0, entry.file);
      else assert.ok(diff <= entry.tolerance, `${entry.file}: max |diff| ${diff} > ${entry.tolerance}`);
      checked++;
    }
    assert.ok(checked > 20, `only ${checked} decodable fixtures`);
  });

  test('bad fixtures: error objects with the right code from every call', () => {
    const bad = manifest.images.filter((e) => !e.ok);
    assert.ok(bad.length > 10);
    for (const entry of bad) {
      const bytes = fixture(entry.file);
      for (const [name, result] of [['decode', core.decode(bytes)], ['toTensor', core.toTensor(bytes, contract)]]) {
        assert.deepEqual(Object.keys(result).sort(), ['code', 'message', 'ok'], `${entry.file} ${name}`);
        assert.equal(result.ok, false);
        assert.equal(result.code, entry.code, `${entry.file} ${name}: ${result.message}`);
        assert.ok(coreModule.ERROR_CODES.includes(result.code));
        if (entry.message_contains) assert.ok(result.message.includes(entry.message_contains), result.message);
        assert.match(result.message, /^[\x20-\x7e]+$/, `${entry.file}: message is not printable ASCII`);
      }
      if (entry.code !== 'corrupt' && !entry.decode_only) assert.equal(core.probe(bytes).code, entry.code, entry.file);
    }
    assert.equal(core.probe(fixture('magic.avif')).message, 'unsupported format: avif');
    assert.equal(core.probe(fixture('huge_30000x30000.png')).message, 'image too large: 30000x30000 exceeds 50 megapixels');
  });

  test('small files that would cost the decoder far more than their pixels are refused cheaply', async () => {
    // A fresh instance, so its heap size is this test's: wasm memory never shrinks, and an unbounded
    // PNG inflate grew it past 1 GB for the life of the worker.
    const fresh = await (await import(`../../web/lib/core.js?bombs=${Date.now()}`)).loadCore();
    const heapBefore = fresh.module.HEAPU8.buffer.byteLength;
    const bomb = fresh.decode(fixture('bomb_1x1_inflates_64mb.png'));
    assert.deepEqual([bomb.ok, bomb.code], [false, 'corrupt'], bomb.message);
    const scans = fresh.toTensor(fixture('jpeg_300_repeated_scans.jpg'), contract);
    assert.deepEqual([scans.ok, scans.code], [false, 'corrupt'], scans.message);
    const grown = fresh.module.HEAPU8.buffer.byteLength - heapBefore;
    assert.ok(grown < 16 * 2 ** 20, `the heap grew by ${grown} bytes`);
    assert.equal(fresh.decode(fixture('png_interlaced.png')).ok, true, 'a PNG after the refused one decodes');
  });

  test('tensors equal the PIL/numpy reference (squash and letterbox)', () => {
    for (const ref of manifest.tensors) {
      const bytes = fixture(ref.file);
      const squash = core.toTensor(bytes, { ...contract, preprocess: { ...contract.preprocess, resize: 'squash' } });
      assert.equal(squash.ok, true, squash.message);
      const expected = new Float32Array(new Uint8Array(fixture(ref.squash)).buffer);
      assert.ok(maxAbsDiff(squash.tensor, expected) < 1e-6, ref.file);
      const letterboxContract = { ...contract, preprocess: { ...contract.preprocess, resize: 'letterbox', pad_color: ref.pad_color } };
      const letterbox = core.toTensor(bytes, letterboxContract);
      assert.equal(letterbox.ok, true, letterbox.message);
      assert.ok(maxAbsDiff(letterbox.tensor, new Float32Array(new Uint8Array(fixture(ref.letterbox)).buffer)) < 1e-6);
    }
  });
});

describe('wasm and native agree', () => {
  test('probe/decode/tensor results and bytes match the native CLI on every fixture', () => {
    const files = manifest.images.map((e) => path.join(fixtureDir, e.file));
    const nativeProbe = nativeCli(['--mode', 'probe', ...files]);
    const nativeDecode = nativeCli(['--mode', 'decode', '--contract', contractPath, '--dump', dumpDir, ...files]);
    const nativeTensor = nativeCli(['--mode', 'tensor', '--contract', contractPath, '--dump', dumpDir, ...files]);
    for (let i = 0; i < files.length; i++) {
      const name = path.basename(files[i]);
      const bytes = readFileSync(files[i]);
      const probed = core.probe(bytes);
      const { file: _f, ...nativeProbeResult } = nativeProbe[i];
      assert.deepEqual(probed, nativeProbeResult, name);

      const decoded = core.decode(bytes, { contract });
      assert.equal(decoded.ok, nativeDecode[i].ok, name);
      if (decoded.ok) {
        assert.deepEqual([decoded.width, decoded.height, decoded.format], [nativeDecode[i].width, nativeDecode[i].height, nativeDecode[i].format]);
        assert.ok(Buffer.from(decoded.pixels.buffer, decoded.pixels.byteOffset, decoded.pixels.byteLength)
          .equals(readFileSync(path.join(dumpDir, `${name}.rgb`))), `${name}: decoded pixels differ between wasm and native`);
      } else {
        assert.deepEqual([decoded.code, decoded.message], [nativeDecode[i].code, nativeDecode[i].message], name);
      }

      const tensor = core.toTensor(bytes, contract);
      assert.equal(tensor.ok, nativeTensor[i].ok, name);
      if (tensor.ok) {
        assert.deepEqual(tensor.dims, nativeTensor[i].dims);
        assert.ok(Buffer.from(tensor.tensor.buffer, tensor.tensor.byteOffset, tensor.tensor.byteLength)
          .equals(readFileSync(path.join(dumpDir, `${name}.f32`))), `${name}: tensor differs between wasm and native`);
      } else {
        assert.equal(tensor.code, nativeTensor[i].code, name);
      }
    }
    assert.ok(cliPath);
  });
});

describe('boundary', () => {
  test('results are plain objects in the documented shape', () => {
    const result = core.toTensor(fixture('jpeg_baseline_420.jpg'), contract);
    assert.deepEqual(Object.keys(result).sort(), ['dims', 'format', 'height', 'ok', 'tensor', 'width']);
    assert.ok(result.tensor instanceof Float32Array);
    assert.equal(result.tensor.length, 3 * contract.input.width * contract.input.height);
    assert.deepEqual(result.dims, [1, 3, contract.input.height, contract.input.width]);
    assert.ok(result.tensor.every(Number.isFinite));
  });

  test('results are copies that survive later calls and wasm memory growth', () => {
    const first = core.toTensor(fixture('png_rgba8.png'), contract);
    const snapshot = Float32Array.from(first.tensor);
    const heapBefore = core.module.HEAPU8.buffer.byteLength;
    // A 4000x3000 BMP (36 MB of pixels) forces the wasm heap to grow past its initial 16 MB.
    const big = bmp24(4000, 3000, (x, y) => [x & 255, y & 255, (x ^ y) & 255]);
    const grown = core.toTensor(big, contract);
    assert.equal(grown.ok, true, grown.message);
    assert.ok(core.module.HEAPU8.buffer.byteLength > heapBefore, 'heap did not grow: the test lost its point');
    assert.deepEqual(first.tensor, snapshot);
    assert.equal(first.tensor.buffer.byteLength, first.tensor.length * 4, 'tensor is a view into a bigger buffer');
  });

  test('accepts ArrayBuffer, Uint8Array views and Node Buffers', () => {
    const bytes = fixture('png_rgb8.png');
    const padded = new Uint8Array(bytes.length + 10);
    padded.set(bytes, 5);
    const view = padded.subarray(5, 5 + bytes.length);
    const fromBuffer = core.probe(bytes);
    assert.deepEqual(core.probe(view), fromBuffer);
    assert.deepEqual(core.probe(new Uint8Array(bytes).buffer), fromBuffer);
    assert.deepEqual(core.probe(new DataView(padded.buffer, 5, bytes.length)), fromBuffer);
  });

  test('wrong arguments give bad_argument, never a throw', () => {
    const bytes = fixture('png_rgb8.png');
    for (const value of [undefined, null, 'png', 42, [1, 2, 3], {}]) {
      assert.equal(core.probe(value).code, 'bad_argument');
      assert.equal(core.toTensor(value, contract).code, 'bad_argument');
    }
    assert.equal(core.toTensor(bytes).code, 'bad_argument');
    assert.equal(core.toTensor(bytes, {}).code, 'bad_argument');
    const zeroStd = { ...contract, preprocess: { ...contract.preprocess, std: [1, 0, 1] } };
    assert.equal(core.toTensor(bytes, zeroStd).code, 'bad_argument');
    const weird = { ...contract, preprocess: { ...contract.preprocess, resize: 'crop' } };
    assert.match(core.toTensor(bytes, weird).message, /resize/);
    assert.equal(core.probe(bytes, { maxPixels: -1 }).code, 'bad_argument');
    assert.equal(core.decode(bytes, { alphaBackground: [300, 0, 0] }).code, 'bad_argument');
  });

  test('maxPixels option sets the cap', () => {
    const bytes = fixture('png_rgb8.png'); // 37 x 23 = 851 pixels
    assert.equal(core.probe(bytes, { maxPixels: 851 }).ok, true);
    const refused = core.toTensor(bytes, contract, { maxPixels: 850 });
    assert.equal(refused.code, 'too_large');
    assert.match(refused.message, /37x23/);
  });

  test('alpha is composited over contract.preprocess.alpha_background', () => {
    const bytes = fixture('png_rgba8.png'); // has fully transparent pixels at the bottom-left corner
    const black = core.decode(bytes, { alphaBackground: [0, 0, 0] });
    const red = core.decode(bytes, { contract: { preprocess: { alpha_background: [255, 0, 0] } } });
    const corner = (22 * 37 + 0) * 3;
    assert.deepEqual([...black.pixels.subarray(corner, corner + 3)], [0, 0, 0]);
    assert.deepEqual([...red.pixels.subarray(corner, corner + 3)], [255, 0, 0]);
  });

  test('toTensor takes every preprocessing number from the contract, not from the shipped one', () => {
    // At the image's own size (37x23, not square) the box resize is the identity, so each tensor value is
    // (decoded pixel * scale - mean[c]) / std[c], alpha composited over the contract's background.
    const bytes = fixture('png_rgba8.png');
    const pre = { ...contract.preprocess, resize: 'squash', alpha_background: [10, 200, 30], scale: 2 / 255, mean: [0.1, 0.2, 0.3], std: [0.5, 2, 4] };
    const tensor = core.toTensor(bytes, { ...contract, input: { ...contract.input, width: 37, height: 23 }, preprocess: pre });
    assert.equal(tensor.ok, true, tensor.message);
    assert.deepEqual(tensor.dims, [1, 3, 23, 37]);
    const { pixels } = core.decode(bytes, { alphaBackground: pre.alpha_background });
    const plane = 37 * 23;
    let worst = 0;
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) {
        const expected = (pixels[3 * i + c] * pre.scale - pre.mean[c]) / pre.std[c];
        worst = Math.max(worst, Math.abs(tensor.tensor[c * plane + i] - expected));
      }
    }
    assert.ok(worst < 1e-5, `worst difference ${worst}`);
  });
});

// An uncompressed 24-bit BMP (bottom-up rows, padded to 4 bytes), to build big inputs in memory.
function bmp24(width, height, colorAt) {
  const stride = Math.ceil((width * 3) / 4) * 4;
  const size = 54 + stride * height;
  const out = Buffer.alloc(size);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(size, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const [r, g, b] = colorAt(x, y);
      out[row + 3 * x] = b;
      out[row + 3 * x + 1] = g;
      out[row + 3 * x + 2] = r;
    }
  }
  return out;
}

describe('recovery', () => {
  test('a trap in the wasm instance costs that call, not the core: a fresh instance takes over', async () => {
    // A separate copy of core.js (its own shared promise), on the real build; only the trap is staged:
    // the first instance's toTensor throws what a wasm `unreachable` throws.
    const fresh = await import(`../../web/lib/core.js?recovery=${Date.now()}`);
    const glue = path.join(path.dirname(cliPath), '..', 'wasm', 'illust_core.mjs');
    const { default: factory } = await import(pathToFileURL(glue).href);
    const instances = [];
    const createModule = async (args) => {
      const module = await factory(args);
      if (instances.length === 0) module.toTensor = () => { throw new WebAssembly.RuntimeError('unreachable'); };
      instances.push(module);
      return module;
    };
    const wasmBinary = readFileSync(path.join(path.dirname(glue), 'illust_core.wasm'));
    const recovering = await fresh.loadCore({ createModule, wasmBinary });
    const bytes = fixture('jpeg_baseline_420.jpg');
    const trapped = recovering.toTensor(bytes, contract);
    assert.equal(trapped.ok, false);
    assert.equal(trapped.code, 'out_of_memory');
    assert.match(trapped.message, /illust core failed: unreachable/);
    const during = recovering.toTensor(bytes, contract);
    assert.match(during.message ?? '', /restarting after an earlier failure: unreachable/);
    await recovering.settled();
    assert.equal(instances.length, 2);
    assert.equal(recovering.module, instances[1]);
    const after = recovering.toTensor(bytes, contract);
    assert.equal(after.ok, true, after.message);
    assert.deepEqual(after.tensor, core.toTensor(bytes, contract).tensor);
  });
  test('a huge image does not keep its heap: a fresh instance takes over after it, with the same results', async () => {
    const fresh = await import(`../../web/lib/core.js?heap=${Date.now()}`);
    const own = await fresh.loadCore();
    const heap = () => own.module.HEAPU8.buffer.byteLength;
    const small = fixture('jpeg_baseline_420.jpg');
    const before = own.toTensor(small, contract);
    assert.equal(before.ok, true, before.message);
    const startHeap = heap();
    assert.ok(startHeap < fresh.RENEW_HEAP_ABOVE_BYTES);
    const firstInstance = own.module;
    // 35 bytes that decode to a 6000x6000 canvas (a GIF whose only frame is 1x1): 36 megapixels.
    const gif = Buffer.concat([Buffer.from('GIF89a'), Buffer.from([0x70, 0x17, 0x70, 0x17, 0x80, 0, 0]),
      Buffer.from([0, 0, 0, 255, 255, 255]), Buffer.from([0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0]),
      Buffer.from([2, 2, 0x44, 1, 0, 0x3b])]);
    const huge = own.toTensor(gif, contract);
    assert.equal(huge.ok, true, huge.message);
    assert.deepEqual([huge.width, huge.height], [6000, 6000]);
    assert.ok(heap() > fresh.RENEW_HEAP_ABOVE_BYTES, `the canvas grew the heap to ${heap()} bytes`);
    await own.settled();
    assert.notEqual(own.module, firstInstance);
    assert.equal(heap(), startHeap);
    assert.equal(huge.tensor.length, 3 * 224 * 224); // results were copied out: still whole
    assert.ok(huge.tensor.every((v) => v >= 0 && v <= 1));
    const after = own.toTensor(small, contract);
    assert.deepEqual(after.tensor, before.tensor);
  });
});

describe('memory', () => {
  // A fresh instance's heap only grows, and the same calls grow it the same way every run: its growth is
  // the call's peak, a deterministic figure (tools/bench/decode-memory.mjs prints the others).
  async function heapGrowth(bytes) {
    const glue = path.join(path.dirname(cliPath), '..', 'wasm', 'illust_core.mjs');
    const { default: factory } = await import(pathToFileURL(glue).href);
    const fresh = await import(`../../web/lib/core.js?memory=${Date.now()}${Math.random()}`);
    let module;
    const own = await fresh.loadCore({ createModule: async (args) => (module = await factory(args)),
      wasmBinary: readFileSync(glue.replace(/\.mjs$/, '.wasm')) });
    own.toTensor(fixture('gif_palette.gif'), contract); // the start-up allocations
    const before = module.HEAPU8.buffer.byteLength;
    const result = own.toTensor(bytes, contract);
    return { result, growth: module.HEAPU8.buffer.byteLength - before };
  }

  test('a GIF costs one canvas plus a byte a pixel, not stb\'s three canvases', async () => {
    const { result, growth } = await heapGrowth(gifBytes({ width: 4000, height: 4000 }));
    assert.equal(result.ok, true, result.message);
    assert.deepEqual([result.width, result.height], [4000, 4000]);
    assert.ok(result.tensor.every((v, i) => v === result.tensor[i - (i % (224 * 224))])); // one colour a plane
    // stb's loader held 9 bytes a pixel (output, background, history); the background is the output now.
    assert.ok(growth < 6 * 4000 * 4000, `${(growth / 16e6).toFixed(2)} bytes a pixel`);
  });

  test('a many-frame GIF whose frames together exceed the pixel cap gives its first frame', () => {
    // 40 frames of 2000x2000: 160 megapixels in all, 4 in the first. Frame 0 is red, later ones green or blue.
    const result = core.toTensor(gifBytes({ width: 2000, height: 2000, frames: 40 }), contract);
    assert.equal(result.ok, true, result.message);
    assert.deepEqual([result.width, result.height], [2000, 2000]);
    const plane = 224 * 224;
    const mean = (c) => result.tensor.subarray(c * plane, (c + 1) * plane).reduce((a, b) => a + b, 0) / plane;
    const { mean: m, std: sd, scale } = contract.preprocess;
    assert.ok(Math.abs(mean(0) - (255 * scale - m[0]) / sd[0]) < 1e-5);
    assert.ok(Math.abs(mean(1) - (0 - m[1]) / sd[1]) < 1e-5);
  });
});
