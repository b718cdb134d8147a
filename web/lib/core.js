// core.js: loads the C++ image core (WebAssembly, built into build/wasm by tools/build/wasm.mjs) once
// and exposes it as plain functions: bytes in, plain result objects out, never a throw for bad input.
// Works in browsers, workers and extension pages (the glue sits next to this file as ./illust_core.mjs
// + ./illust_core.wasm, which is how the demo and extension build steps copy it) and in Node (same, or
// <repo>/build/wasm/ when run from the source tree; the .wasm is read from disk and passed as
// wasmBinary because the glue's fetch of file:// URLs fails under Node).
//
//   import { loadCore } from './core.js';
//   const core = await loadCore();                 // one instance per page/worker, one shared promise
//   core.probe(bytes)              → {ok:true, width, height, format, orientation} | {ok:false, code, message}
//   core.decode(bytes, {contract}) → {ok:true, width, height, format, channels:3, pixels: Uint8Array RGB}
//   core.toTensor(bytes, contract) → {ok:true, width, height, format, tensor: Float32Array, dims:[1,3,H,W]}
//
// `bytes`: Uint8Array, ArrayBuffer or any ArrayBufferView. `contract`: model/contract.json, parsed.
// Options (last argument): {maxPixels} (default 50e6; images over it fail with code 'too_large').
// Codes: empty_input, unsupported_format, truncated, corrupt, too_large, bad_argument, out_of_memory.
// Results own their memory (copied out of wasm), so they stay valid after later calls.

export const DEFAULT_MAX_PIXELS = 50_000_000;
// A wasm heap only grows: after one very large image (a 49-megapixel GIF or PNG needs 220-270 MiB) a page or
// worker would hold that memory for the rest of its life. Once a call leaves the heap above this, a
// fresh instance takes over between calls and the old one goes with its heap. Images up to about 12
// megapixels stay below it (a 12 MP JPEG needs ~70 MiB), so thumbnails and photos never pay for it.
export const RENEW_HEAP_ABOVE_BYTES = 128 * 2 ** 20;
export const ERROR_CODES = Object.freeze(['empty_input', 'unsupported_format', 'truncated', 'corrupt',
  'too_large', 'bad_argument', 'out_of_memory']);

let corePromise = null;

const isNode = typeof process === 'object' && process !== null && typeof process.versions?.node === 'string';

/**
 * Loads the wasm core once; later calls return the same promise (their options are ignored).
 * @param {{wasmBinary?: ArrayBuffer|Uint8Array, moduleUrl?: string|URL, createModule?: Function}} [opts]
 *   wasmBinary: the .wasm bytes (skips fetching); moduleUrl: where the glue is (default
 *   ./illust_core.mjs next to this file); createModule: the glue's default export, if you imported it
 *   statically yourself (then nothing is imported dynamically).
 */
export function loadCore(opts = {}) {
  if (!corePromise) {
    corePromise = instantiate(opts).catch((error) => {
      corePromise = null; // let a later call retry (say, after the build step ran)
      throw new Error(`illust core: could not load the wasm module: ${error?.message ?? error}`, { cause: error });
    });
  }
  return corePromise;
}

async function instantiate(opts) {
  return makeCore(await instantiateModule(opts), () => instantiateModule(opts));
}

async function instantiateModule({ wasmBinary, moduleUrl, createModule } = {}) {
  let glueUrl = moduleUrl ? new URL(String(moduleUrl), import.meta.url).href : new URL('./illust_core.mjs', import.meta.url).href;
  if (isNode && !createModule && glueUrl.startsWith('file:')) {
    const { existsSync, readFileSync } = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    if (!moduleUrl && !existsSync(fileURLToPath(glueUrl))) {
      // Running from the source tree (web/lib/): use the build output.
      glueUrl = new URL('../../build/wasm/illust_core.mjs', import.meta.url).href;
      if (!existsSync(fileURLToPath(glueUrl))) {
        throw new Error('build/wasm/illust_core.mjs not found: run `npm run build` (or `node tools/build.mjs wasm`)');
      }
    }
    if (!wasmBinary) wasmBinary = readFileSync(fileURLToPath(new URL('./illust_core.wasm', glueUrl)));
  }
  const factory = createModule ?? (await import(glueUrl)).default;
  const moduleArgs = {};
  if (wasmBinary) moduleArgs.wasmBinary = wasmBinary;
  else moduleArgs.locateFile = (file) => new URL(file, glueUrl).href;
  return factory(moduleArgs);
}

function failure(code, message) {
  return { ok: false, code, message };
}

function asBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  try {
    if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
    if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch {
    // A buffer detached (transferred to a worker) or resized from under its view: not readable bytes.
  }
  return null;
}

function maxPixelsFrom(opts) {
  const value = opts?.maxPixels ?? DEFAULT_MAX_PIXELS;
  return Number.isFinite(value) && value >= 1 ? Math.floor(value) : null;
}

const isRgb = (v) => Array.isArray(v) && v.length === 3 && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255);
const isTriple = (v) => Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));

const optionsCache = new WeakMap();

/** Turns model/contract.json (parsed) into the bindings' TensorOptions, or a string saying what is wrong. */
export function tensorOptionsFromContract(contract) {
  if (contract === null || typeof contract !== 'object') return 'contract must be the parsed model/contract.json object';
  if (optionsCache.has(contract)) return optionsCache.get(contract);
  const input = contract.input ?? {};
  const pre = contract.preprocess ?? {};
  let result;
  if (!Number.isInteger(input.width) || !Number.isInteger(input.height) || input.width < 1 || input.height < 1) {
    result = 'contract.input.width/height must be positive integers';
  } else if (input.channels !== undefined && input.channels !== 3) {
    result = `contract.input.channels must be 3 (got ${input.channels})`;
  } else if (input.layout !== undefined && input.layout !== 'NCHW') {
    result = `contract.input.layout must be NCHW (got ${input.layout})`;
  } else if (pre.resize !== 'squash' && pre.resize !== 'letterbox') {
    result = `contract.preprocess.resize must be "squash" or "letterbox" (got ${JSON.stringify(pre.resize)})`;
  } else if (pre.filter !== undefined && pre.filter !== 'box') {
    result = `contract.preprocess.filter must be "box" (got ${JSON.stringify(pre.filter)})`;
  } else if (!isRgb(pre.alpha_background) || (pre.resize === 'letterbox' && !isRgb(pre.pad_color))) {
    result = 'contract.preprocess.alpha_background/pad_color must be [r,g,b] integers 0..255';
  } else if (typeof pre.scale !== 'number' || !Number.isFinite(pre.scale) || !isTriple(pre.mean) || !isTriple(pre.std) || pre.std.includes(0)) {
    result = 'contract.preprocess.scale/mean/std must be finite numbers (std non-zero)';
  } else {
    result = Object.freeze({
      width: input.width, height: input.height, resize: pre.resize,
      padColor: isRgb(pre.pad_color) ? pre.pad_color : [0, 0, 0], alphaBackground: pre.alpha_background,
      scale: pre.scale, mean: pre.mean, std: pre.std,
    });
  }
  optionsCache.set(contract, result);
  return result;
}

const heapBytes = (module) => module.HEAPU8?.buffer.byteLength ?? 0;

function makeCore(firstModule, instantiateAgain) {
  let module = firstModule;
  let broken = null; // set when the wasm instance trapped: it cannot be trusted afterwards
  let restartFailed = null; // why the last fresh instance could not start, if it could not
  let renewing = null;

  // A trap must not end the core for good: whoever holds this object (a classifier in a long-lived
  // extension page) would fail every later image. A fresh instance replaces the broken one; calls made
  // while it starts fail with out_of_memory, like the one that trapped. Also used to let go of a heap
  // grown by a huge image (then calls go on with the old instance until the fresh one is up; if it cannot
  // start, the old one simply stays). Never rejects.
  function renew() {
    renewing ??= instantiateAgain().then(
      (fresh) => { module = fresh; broken = null; restartFailed = null; },
      (error) => { restartFailed = String(error?.message ?? error); },
    ).finally(() => { renewing = null; });
    return renewing;
  }

  // Every call goes through here: nothing thrown inside the module reaches the caller.
  function guarded(fn) {
    if (broken) {
      if (!renewing) renew(); // the last restart failed: try again
      const why = restartFailed ? `${broken}; restarting it failed too: ${restartFailed}` : broken;
      return failure('out_of_memory', `illust core is restarting after an earlier failure: ${why}`);
    }
    try {
      const result = fn();
      if (!renewing && heapBytes(module) > RENEW_HEAP_ABOVE_BYTES) renew(); // calls go on here meanwhile
      return result;
    } catch (error) {
      const message = String(error?.message ?? error);
      if (error instanceof TypeError || error?.name === 'BindingError') return failure('bad_argument', `bad argument: ${message}`);
      // A trap (abort, unreachable, failed memory growth) leaves the instance in an unknown state.
      broken = message;
      renew();
      return failure('out_of_memory', `illust core failed: ${message}`);
    }
  }

  const core = {
    /** The current wasm instance (replaced after a trap or a huge image). */
    get module() { return module; },
    /** Settles once a restart (after a trap or a huge image) is over (at once when none is under way); for tests. */
    settled: () => renewing ?? Promise.resolve(),
    probe(bytes, opts) {
      const input = asBytes(bytes);
      if (!input) return failure('bad_argument', 'bad argument: bytes must be a Uint8Array, ArrayBuffer or ArrayBufferView');
      const maxPixels = maxPixelsFrom(opts);
      if (maxPixels === null) return failure('bad_argument', 'bad argument: maxPixels must be a positive number');
      return guarded(() => module.probe(input, maxPixels));
    },
    decode(bytes, opts) {
      const input = asBytes(bytes);
      if (!input) return failure('bad_argument', 'bad argument: bytes must be a Uint8Array, ArrayBuffer or ArrayBufferView');
      const maxPixels = maxPixelsFrom(opts);
      if (maxPixels === null) return failure('bad_argument', 'bad argument: maxPixels must be a positive number');
      let alphaBackground = opts?.alphaBackground ?? opts?.contract?.preprocess?.alpha_background ?? [255, 255, 255];
      if (!isRgb(alphaBackground)) return failure('bad_argument', 'bad argument: alphaBackground must be [r,g,b] integers 0..255');
      return guarded(() => module.decode(input, { alphaBackground, maxPixels }));
    },
    toTensor(bytes, contract, opts) {
      const input = asBytes(bytes);
      if (!input) return failure('bad_argument', 'bad argument: bytes must be a Uint8Array, ArrayBuffer or ArrayBufferView');
      const options = tensorOptionsFromContract(contract);
      if (typeof options === 'string') return failure('bad_argument', `bad argument: ${options}`);
      const maxPixels = maxPixelsFrom(opts);
      if (maxPixels === null) return failure('bad_argument', 'bad argument: maxPixels must be a positive number');
      return guarded(() => module.toTensor(input, { ...options, maxPixels }));
    },
  };
  return Object.freeze(core);
}

/** Shortcut: loadCore() then core.probe(). */
export async function probe(bytes, opts) {
  return (await loadCore()).probe(bytes, opts);
}

/** Shortcut: loadCore() then core.decode(). */
export async function decode(bytes, opts) {
  return (await loadCore()).decode(bytes, opts);
}

/** Shortcut: loadCore() then core.toTensor(). */
export async function toTensor(bytes, contract, opts) {
  return (await loadCore()).toTensor(bytes, contract, opts);
}
