// Runs the model on image bytes: wasm core for decode + preprocess, ONNX Runtime for inference,
// decide() for the verdict. Shared by the demo worker, the extension's offscreen document, the CLI and
// the benchmarks, so every user gets the same provider choice, the same checks and the same answers.
// The caller imports ORT (the bundle differs per environment) and the core, and passes them in.
import { decide } from './decide.js';

const WEBGPU_WARMUP_TIMEOUT_MS = 10000;
// Creating the GPU session compiles its shaders (a second or two); a driver whose device request never
// returns would otherwise hold every image for good.
const WEBGPU_SESSION_TIMEOUT_MS = 15000;

/** What createClassifier rejects with when WebGPU cannot start and `wasmFallback: false`. */
function webgpuUnavailable(reason) {
  return Object.assign(new Error(`webgpu: ${reason}`), { code: 'webgpu_unavailable' });
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function modelBytes(model) {
  if (model instanceof Uint8Array) return model;
  if (model instanceof ArrayBuffer) return new Uint8Array(model);
  if (typeof model === 'string' || model instanceof URL) {
    const response = await fetch(model);
    if (!response.ok) throw new Error(`model: cannot fetch ${model}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  throw new Error('model: expected bytes (Uint8Array/ArrayBuffer) or a URL');
}

/**
 * The words of a WebGPU failure worth showing a person. ORT puts its build path and a C++ condition
 * before the GPU's own message (seen on a real GPU when its device was lost:
 * "failed to call OrtRun(). ERROR_CODE: 1, ERROR_MESSAGE: /mnt/…/buffer_manager.cc:643 void … was false.
 * Failed to download data from buffer. wgpu::MapAsyncStatus value: 4, message: Failed to execute
 * 'mapAsync' on 'GPUBuffer': The Device was lost before mapping was resolved."), and the popup shows
 * only 200 characters: keep the last "message: " part, or drop ORT's prefix.
 */
export function gpuFailureReason(error) {
  const text = String(error?.message ?? error).replace(/\s+/g, ' ').trim();
  const said = text.lastIndexOf('message: ');
  const reason = said >= 0 ? text.slice(said + 'message: '.length)
    : text.replace(/^failed to call OrtRun\(\)\. ERROR_CODE: \d+, ERROR_MESSAGE: /, '');
  return reason.trim() || text || 'unknown error';
}

/** Returns a WebGPU adapter when one really exists (navigator.gpu may exist without one), else null. */
export async function probeWebGPU(timeoutMs = 3000) {
  try {
    const gpu = globalThis.navigator?.gpu;
    if (!gpu) return null;
    return (await withTimeout(gpu.requestAdapter(), timeoutMs, 'WebGPU requestAdapter')) ?? null;
  } catch {
    return null;
  }
}

/** True for a fallback adapter, i.e. software (Chromium's SwiftShader). */
export function isSoftwareAdapter(adapter) {
  return Boolean(adapter?.info?.isFallbackAdapter ?? adapter?.isFallbackAdapter);
}

/**
 * A WebGPU adapter worth using: {adapter}, or {adapter: null, reason} ('not in this browser', 'no
 * adapter', 'software adapter only'). A software adapter ran this model 50-120x slower than WASM (about 1 s against 13-20 ms per
 * image on 16 cores, 3.4-4.4 s against 37-40 ms on 2; tools/bench/notes.md), so only a caller that
 * forces WebGPU (allowSoftware) gets one.
 */
export async function findWebgpuAdapter({ timeoutMs = 3000, allowSoftware = false } = {}) {
  // Firefox on Linux has no WebGPU at all: said so, not as if a GPU were missing.
  if (!globalThis.navigator?.gpu) return { adapter: null, reason: 'not in this browser' };
  const adapter = await probeWebGPU(timeoutMs);
  if (!adapter) return { adapter: null, reason: 'no adapter' };
  if (isSoftwareAdapter(adapter) && !allowSoftware) return { adapter: null, reason: 'software adapter only' };
  return { adapter, reason: null };
}

/**
 * Inference threads for a machine with `cores` cores: one fewer, 1 to 4. Leaves one core to the page
 * and the browser: on 2 busy cores a second ORT thread made each image about 3x more expensive in CPU
 * (docs/benchmarks.md, tools/bench/notes.md).
 */
export function threadsForCores(cores) {
  return Math.max(1, Math.min(4, cores - 1));
}

function defaultThreads(ort) {
  if (ort.env?.wasm === undefined) return 1;
  // Node before 21 has no navigator: its callers pass numThreads (tools/lib/node-classifier.mjs).
  const cores = globalThis.navigator?.hardwareConcurrency ?? 2;
  // Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages.
  const isolated = globalThis.crossOriginIsolated ?? (typeof process !== 'undefined');
  return isolated ? threadsForCores(cores) : 1;
}

/**
 * Creates a classifier on one ORT session.
 * options: {ort, ortWebgpu?: () => Promise<ort module with WebGPU>, model, contract, core,
 *           provider: 'auto'|'webgpu'|'wasm'|'cpu', numThreads?, sessionOptions?, log?,
 *           onStep?: (name) => void, told when the WASM session exists and after its first warm-up run,
 *           warmUpRuns?: 1 | 2 (browser WASM: runs before it resolves; default 2),
 *           webgpuAdapter?: an adapter the caller found already (findWebgpuAdapter), not probed again,
 *           wasmFallback?: false: when WebGPU cannot start, reject (code 'webgpu_unavailable') instead of
 *           building a WASM session the caller does not want (the extension's pool does WASM itself),
 *           webgpuBudgetMs?: one limit for the WebGPU attempt as a whole (bundle, session start, warm-up),
 *           webgpuTimeoutMs?: for tests}
 * Rejects with an Error whose message says what is wrong (unreadable or wrong model file, no provider).
 */
export async function createClassifier(options) {
  const { ort, contract, core, provider = 'auto', log = () => {} } = options;
  if (!ort || !contract || !core) throw new Error('createClassifier: ort, contract and core are required');
  const bytes = await modelBytes(options.model);
  if (bytes.byteLength === 0) throw new Error('model: the model file is empty');

  const isNodeOrt = ort.env?.wasm === undefined || provider === 'cpu';
  const threads = options.numThreads ?? defaultThreads(ort);
  if (!isNodeOrt && ort.env.wasm.numThreads === undefined) ort.env.wasm.numThreads = threads;
  const baseOptions = {
    graphOptimizationLevel: 'all',
    ...(isNodeOrt ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
    ...options.sessionOptions,
  };

  async function openSession(ortModule, executionProviders) {
    let session;
    try {
      session = await ortModule.InferenceSession.create(bytes, { ...baseOptions, executionProviders });
    } catch (error) {
      const why = error?.message ?? error;
      // On WebGPU the cause is as often the GPU backend as the file: the caller falls back to WASM.
      if (executionProviders.includes('webgpu')) throw new Error(`cannot start a WebGPU session (${gpuFailureReason(error)})`);
      // ORT says this before it reads the model: its own runtime (the .mjs glue or the .wasm next to
      // its bundle) did not load, so the model is not to blame.
      if (/no available backend found/i.test(String(why))) {
        throw new Error(`runtime: cannot start ONNX Runtime's wasm runtime (${why}); are ort-wasm-simd-threaded.mjs and .wasm in its folder?`);
      }
      throw new Error(`model: cannot load the model (${why}); is it an ONNX file?`);
    }
    const inputName = contract.input.name;
    if (!session.inputNames.includes(inputName) || !session.outputNames.includes(contract.outputs.probs)) {
      await session.release?.();
      throw new Error(`model: wrong model file: expected input "${inputName}" and output "${contract.outputs.probs}", ` +
        `found inputs [${session.inputNames}] outputs [${session.outputNames}]`);
    }
    return session;
  }

  const { width, height, channels } = contract.input;
  const warmupTensor = (ortModule) => new ortModule.Tensor('float32', new Float32Array(channels * width * height), [1, channels, height, width]);

  async function warmUp(ortModule, session) {
    const out = await session.run({ [contract.input.name]: warmupTensor(ortModule) });
    const probs = out[contract.outputs.probs];
    if (!probs || probs.dims.at(-1) !== contract.labels.length) {
      throw new Error(`model: wrong model file: "${contract.outputs.probs}" has shape [${probs?.dims}], expected [N,${contract.labels.length}]`);
    }
    // ORT hands float16 out as raw 16-bit patterns (0.4 reads as 13905) and integers as BigInt: scores
    // that would decide nonsense, or break whoever prints them.
    if (probs.type !== 'float32' && probs.type !== 'float64') {
      throw new Error(`model: wrong model file: "${contract.outputs.probs}" is ${probs.type}, expected float32 probabilities`);
    }
  }

  /** A session on `providers`, warmed up `runs` times; released again when a warm-up fails. */
  async function warmSession(ortModule, providers, runs, onStep) {
    const candidate = await openSession(ortModule, providers);
    onStep?.('sessionCreated');
    try {
      for (let run = 1; run <= runs; run += 1) {
        await warmUp(ortModule, candidate);
        if (run === 1) onStep?.('firstWarmUpRun');
      }
    } catch (error) {
      await candidate.release?.(); // a model that loads but cannot run ours: nothing may hold its memory
      throw error;
    }
    return candidate;
  }

  let session = null;
  let ortUsed = ort;
  let used = null;
  const wantGpu = provider === 'webgpu' || provider === 'auto';
  if (wantGpu && !isNodeOrt) {
    // 'auto' skips a software adapter; a forced 'webgpu' takes it (the demo's ?provider=webgpu).
    const { adapter, reason } = options.webgpuAdapter
      ? { adapter: options.webgpuAdapter, reason: null }
      : await findWebgpuAdapter({ allowSoftware: provider === 'webgpu' });
    if (!adapter) {
      log(`webgpu: ${reason}${provider === 'webgpu' ? ' (forced webgpu unavailable)' : ''}; using wasm`);
      if (options.wasmFallback === false) throw webgpuUnavailable(reason);
    } else {
      // options.webgpuBudgetMs: one limit for the whole attempt (ORT's WebGPU bundle, session start,
      // warm-up), for a caller whose images are given up on sooner than the steps' own limits add up
      // to (the extension's verdict timeout): past it, WASM starts in time for them.
      const deadline = options.webgpuBudgetMs > 0 ? performance.now() + options.webgpuBudgetMs : Infinity;
      const limitMs = (stepMs) => Math.max(1, Math.round(Math.min(options.webgpuTimeoutMs ?? stepMs, deadline - performance.now())));
      try {
        const bundle = options.ortWebgpu ? options.ortWebgpu() : ort;
        ortUsed = deadline === Infinity ? await bundle : await withTimeout(Promise.resolve(bundle), limitMs(Infinity), 'WebGPU bundle load');
        const opening = openSession(ortUsed, ['webgpu']);
        let candidate;
        try {
          candidate = await withTimeout(opening, limitMs(WEBGPU_SESSION_TIMEOUT_MS), 'WebGPU session start');
        } catch (error) {
          opening.then((late) => late.release?.(), () => {}).catch(() => {}); // one that starts after all is freed
          throw error;
        }
        const warming = warmUp(ortUsed, candidate);
        try {
          await withTimeout(warming, limitMs(WEBGPU_WARMUP_TIMEOUT_MS), 'WebGPU warm-up');
        } catch (error) {
          // A run cannot be cancelled: free the GPU session once the abandoned warm-up settles.
          warming.catch(() => {}).finally(() => candidate.release?.()).catch(() => {});
          throw error;
        }
        session = candidate;
        used = 'webgpu';
      } catch (error) {
        // A model that is not ours fails on WASM too; anything else (ORT's WebGPU backend or device
        // failing to start, a session that cannot be created on the GPU) gets the WASM fallback, which
        // reports a truly unloadable model itself.
        if (/wrong model file/.test(error?.message ?? '')) throw error;
        log(`webgpu: ${gpuFailureReason(error)}; using wasm`);
        ortUsed = ort;
        if (options.wasmFallback === false) throw webgpuUnavailable(gpuFailureReason(error));
      }
    }
  }
  if (!session) {
    used = isNodeOrt ? 'cpu' : 'wasm';
    // V8 compiles ORT's wasm lazily and optimises its hot functions only after they ran: the second run
    // still takes 1.3–3x the steady time (Node: ~250, 55–144, then ~44 ms). A second warm-up pays that
    // while the model loads on the profile, not on the media tab's first thumbnails (media-tab A/B:
    // from the profile all 60 judged ~0.26 s sooner; tools/bench/notes.md). warmUpRuns: 1 when images
    // are already waiting (a media tab opened directly): the second run would only delay the first.
    const runs = !isNodeOrt && (options.warmUpRuns ?? 2) >= 2 ? 2 : 1;
    try {
      session = await warmSession(ortUsed, [used], runs, options.onStep);
    } catch (error) {
      // Our names but another input size or type, say: ORT's own words, under the model's name.
      if (/^(model|runtime): /.test(error?.message ?? '')) throw error;
      throw new Error(`model: a run on the contract's ${contract.input.width}x${contract.input.height} input failed (${error?.message ?? error})`);
    }
  }

  /**
   * A GPU that fails after the session started (device lost, driver reset, out of memory) does not
   * come back for this session: the classifier goes on with a WASM session on the base module, logs
   * why in the fallback wording ("webgpu: …; using wasm"), and frees the GPU session. Runs serialised.
   */
  async function fallBackToWasm(error) {
    const gpuSession = session;
    // The classifier switches only once the WASM session runs: if it cannot start (memory), this image
    // fails and the next one tries again, instead of a 'wasm' classifier left holding the dead session.
    const fresh = await warmSession(ort, ['wasm'], 1);
    log(`webgpu: stopped working (${gpuFailureReason(error)}); using wasm`);
    session = fresh;
    ortUsed = ort;
    used = 'wasm';
    Promise.resolve().then(() => gpuSession.release?.()).catch(() => {});
  }

  let queue = Promise.resolve();
  const serialise = (task) => { const run = queue.then(task, task); queue = run.catch(() => {}); return run; };
  const now = () => performance.now();

  async function classifyNow(bytesIn, { embedding = false, settings, maxPixels } = {}) {
    const t0 = now();
    let prepared;
    try {
      prepared = core.toTensor(bytesIn, contract, maxPixels === undefined ? undefined : { maxPixels });
    } catch (error) {
      prepared = { ok: false, code: 'internal', message: String(error?.message ?? error) };
    }
    const t1 = now();
    if (!prepared.ok) return { ok: false, code: prepared.code, message: prepared.message, ms: { preprocess: t1 - t0, inference: 0, total: t1 - t0 } };
    const run = () => session.run({ [contract.input.name]: new ortUsed.Tensor('float32', prepared.tensor, prepared.dims) });
    let out;
    try {
      out = await run();
    } catch (error) {
      let failure = error;
      if (used === 'webgpu') {
        try {
          await fallBackToWasm(error);
          out = await run();
        } catch (wasmError) {
          failure = wasmError;
        }
      }
      if (!out) return { ok: false, code: 'inference_failed', message: `inference failed: ${failure?.message ?? failure}`, ms: { preprocess: t1 - t0, inference: now() - t1, total: now() - t0 } };
    }
    const t2 = now();
    const probs = out[contract.outputs.probs].data;
    const scores = Object.fromEntries(contract.labels.map((name, i) => [name, probs[i]]));
    const verdict = decide(scores, contract, settings);
    const result = {
      ok: true, label: verdict.label, hide: verdict.hide, scores,
      width: prepared.width, height: prepared.height, format: prepared.format,
      ms: { preprocess: t1 - t0, inference: t2 - t1, total: t2 - t0 },
    };
    if (embedding && out[contract.outputs.embedding]) result.embedding = Float32Array.from(out[contract.outputs.embedding].data);
    return result;
  }

  return {
    /** 'webgpu', 'wasm' or 'cpu'; a WebGPU classifier turns 'wasm' if the GPU fails while it runs. */
    get provider() { return used; },
    get threads() { return used === 'webgpu' ? 0 : (isNodeOrt ? threads : (ortUsed.env.wasm.numThreads ?? threads)); },
    modelVersion: contract.version,
    /**
     * bytes: Uint8Array of an image file; opts: {embedding?, settings?, maxPixels? (the core's bound,
     * default 50e6: larger images fail with 'too_large' before they are decoded)}. Never rejects:
     * failures come back as {ok:false, code, message}.
     */
    classify: (bytesIn, opts) => serialise(() => classifyNow(bytesIn, opts)),
    release: () => serialise(() => session.release?.()),
  };
}
