// The classifier host's logic: loads the model and ONNX Runtime Web (all shipped inside the extension;
// MV3 forbids remote code) on the first request, then classifies the image bytes the service worker
// sends. It runs in Chromium's offscreen document (offscreen-document.js wires its messages here) and
// in Firefox's background page (classifier-host-in-page.js calls answerHostMessage directly): the same
// code in both. WebGPU runs on one session when the browser has a real adapter that warms up in time
// (and the user allows it); otherwise a pool of workers (lib/classifier-pool.js), each with the wasm
// core and its own WASM runtime, judges several thumbnails at once. It returns scores; the service
// worker applies the user's settings. Nothing here touches the network.
import { MSG } from './messages.js';
import { webgpuFallbackReason } from './classifier-label.js';

const here = (relative) => new URL(relative, import.meta.url).href;
// Cold-start steps (epoch ms), for the status the service worker (and the media-tab benchmark) reads:
// where a fresh profile's first verdict goes.
const epochNow = () => performance.timeOrigin + performance.now();
const startup = { offscreenDocumentStarted: performance.timeOrigin, offscreenScriptStarted: epochNow() };
const MAX_MESSAGE_BYTES = 10 * 2 ** 20; // mirrors the service worker's cap, for defence in depth
// The largest picture a thumbnail can be: X serves photos at most 4096 px a side ("orig", "4096x4096"),
// video and GIF posters smaller, and the grid shows name=small (680 px). The core's own default (50
// megapixels, for the demo's photos) let a small file that declares a huge canvas (a decompression bomb)
// take ~450 MiB in each of the pool's workers, kept until their next garbage collection; refused here
// from its header (too_large), before anything is decoded.
const MAX_THUMBNAIL_PIXELS = 4096 * 4096;

// The classifier for the provider the service worker asks for ('auto': WebGPU when a real adapter
// exists and warms up in time, else WASM; 'wasm', with `why`: off in settings, or WebGPU already failed
// in this browser session). The worker sends it with every message (offscreen documents cannot read
// chrome.storage); a change builds a new classifier and releases the old one once its queued runs are
// done.
let current = null; // {preference, provider once ready, ready: Promise<{classifier, info}>}; reset on failure so a later ask retries
// Why WebGPU stopped working in this document after it had started (device lost, driver reset): later
// classifiers here use WASM, and the service worker remembers it for the browser session.
let webgpuBroke = null;
const PREFERENCES = new Set(['auto', 'wasm']);
let classifierStarts = 0; // in this document's life (each a model load), for the status
// A classifier that could not start (the model corrupt or missing from the build, a runtime file
// missing, no worker could start) is not started again for the next image: each try is a full model
// load (seconds of CPU, every worker's memory), and the page's cells show unjudged all the same. Its
// error answers at once until the back-off has passed (30 s, doubled after each failed try, at most
// 10 min), or sooner when the provider asked for changes (the user's "Use GPU"). A new document (the
// extension reloaded or updated, or opened again after the last X tab closed) starts afresh.
const RETRY_FIRST_MS = 30 * 1000;
const RETRY_MAX_MS = 10 * 60 * 1000;
let startFailure = null; // {preference, error, tries, retryAt (Date.now() ms)} since the last failed start

/**
 * An Error for a classifier that cannot start, with a stable `reason` and its `details` beside the
 * English message: the popup says it in the browser's language (classifier-label.js startFailureText).
 */
const startError = (reason, details, message) => Object.assign(new Error(message), { reason, details });

/** The answer for a classifier that could not start: its English message, and its reason when known. */
const noModel = (error, extra = {}) => ({ ok: false, code: 'no_model', message: String(error?.message ?? error),
  ...(typeof error?.reason === 'string' ? { reason: error.reason, details: error.details } : {}), ...extra });

/** what: 'model' or 'model contract'. */
async function fetchOrThrow(url, what) {
  const response = await fetch(url).catch((error) => {
    throw startError('file_fetch_failed', { what, file: url, cause: error.message }, `${what}: cannot read ${url} (${error.message})`);
  });
  if (!response.ok) {
    throw startError('file_missing', { what, file: url, status: response.status },
      `${what}: ${url} is missing from the extension (HTTP ${response.status}); rebuild it with \`npm run build\``);
  }
  return response;
}

/** ORT's WebGPU bundle (66 KB + a 27 MB runtime): imported only when an adapter really exists. */
async function importOrtWebgpu() {
  const ortWebgpu = await import('./ort/ort.webgpu.min.mjs');
  ortWebgpu.env.wasm.wasmPaths = here('./ort/');
  return ortWebgpu;
}

// The content script gives a verdict up 20 s after asking (settings.verdictTimeoutMs), and on a cold
// start its first requests wait for this: a GPU that has not started and warmed up within this budget
// (its steps' own limits, 15 s + 10 s, would outlast that timeout) gives way to WASM, which still
// starts in time (adapter search <= 3 s + this + the pool's start, ~2 s on 2 cores).
const WEBGPU_BUDGET_MS = 10000;

// Firefox answers a file missing from the extension with 200 and aborts the body's read ("The operation
// was aborted."): the read is where that shows, and the message must still name the file.
async function readBytesOrThrow(url, what) {
  const response = await fetchOrThrow(url, what);
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw startError('file_unreadable', { what, file: url, cause: error.message },
      `${what}: cannot read ${url} (${error.message}); is it missing from the extension? rebuild it with \`npm run build\``);
  }
}

async function readContract() {
  const url = here('./model/contract.json');
  const text = new TextDecoder().decode(await readBytesOrThrow(url, 'model contract'));
  try {
    return JSON.parse(text);
  } catch (error) {
    throw startError('contract_not_json', { file: url, cause: error.message }, `model contract: ${url} is not JSON (${error.message})`);
  }
}

async function readModel(file) {
  return readBytesOrThrow(here(`./model/${file}`), 'model');
}

// The model with ONNX Runtime's graph optimisations already applied (tools/build/extension.mjs writes it
// at build time): the pool's workers open it with optimisations off instead of each redoing the same
// passes at every start. WebGPU keeps the plain model: the fused ops are the CPU runtime's.
const OPTIMIZED_MODEL_FILE = 'illust-only.optimized.onnx';
const PREOPTIMIZED = { graphOptimizationLevel: 'disabled' };

/** {bytes, sessionOptions} for the pool: the optimised model, or the plain one where a build lacks it. */
async function readPoolModel(contract, log) {
  // Absent, Firefox's read fails (above) where Chromium's fetch does: either way the plain model serves.
  const bytes = await readBytesOrThrow(here(`./model/${OPTIMIZED_MODEL_FILE}`), 'model').catch(() => null);
  if (bytes) return { bytes, sessionOptions: PREOPTIMIZED };
  log(`model/${OPTIMIZED_MODEL_FILE} not in this build; each worker optimises the model itself`);
  return { bytes: await readModel(contract.model_file), sessionOptions: undefined };
}

const modulesUnavailable = (error) => startError('modules_unavailable', { cause: String(error?.message ?? error) },
  `cannot load the classifier's modules (${error?.message ?? error})`);

/** The classifier on WebGPU in this document, or null without a (hardware) adapter or when WebGPU fails. */
async function startWebgpuClassifier({ contract, core, log }) {
  const loadFailed = (error) => { throw modulesUnavailable(error); };
  const { createClassifier, findWebgpuAdapter } = await import('../lib/classifier.js').catch(loadFailed);
  const { adapter, reason } = await findWebgpuAdapter(); // a software adapter is slower than the pool
  if (!adapter) {
    // The wording classifier.js uses, read by webgpuFallbackReason; FOUND_NO_GPU (service-worker.js)
    // knows its reasons ('not in this browser': Firefox on Linux, for one).
    log(`webgpu: ${reason}; using wasm`);
    return null;
  }
  const modelBytes = readModel(contract.model_file);
  modelBytes.catch(() => {}); // awaited below, once ORT's bundle is in
  const ort = await import('./ort/ort.wasm.min.mjs').catch(loadFailed);
  ort.env.wasm.wasmPaths = here('./ort/');
  ort.env.wasm.numThreads = 1; // only for a WASM session should the GPU stop working later
  try {
    return await createClassifier({
      ort, ortWebgpu: importOrtWebgpu, model: await modelBytes, contract, core: await core(), provider: 'webgpu', log,
      webgpuAdapter: adapter, wasmFallback: false, // the worker pool below does WASM better
      webgpuBudgetMs: WEBGPU_BUDGET_MS,
    });
  } catch (error) {
    if (error?.code === 'webgpu_unavailable') return null; // logged in the fallback wording
    throw error;
  }
}

// ORT's wasm runtime (14 MB), compiled once here while the model is read, and handed to the pool's
// workers (lib/classifier-worker.js), which then neither fetch nor compile it themselves.
let ortRuntimeCompiled = null;
function compileOrtRuntime() {
  ortRuntimeCompiled ??= WebAssembly.compileStreaming(fetch(here('./ort/ort-wasm-simd-threaded.wasm')))
    .then((module) => { startup.ortRuntimeCompiled ??= epochNow(); return module; })
    .catch((error) => { console.info(`Illust Only: ORT's runtime not precompiled (${error?.message ?? error}); each worker compiles it`); return null; });
  return ortRuntimeCompiled;
}

/**
 * imagesWaiting: started for an image (a media tab opened directly) rather than ahead of need (a
 * profile page): the first verdict then matters more than the warm-up runs and the second worker.
 */
async function startClassifier(preference, { imagesWaiting = false } = {}) {
  const notes = [];
  const log = (line) => { notes.push(line); console.info(`Illust Only: ${line}`); };
  // Started before the GPU is probed: WASM is what nearly every machine ends on, and a compile that
  // WebGPU makes useless costs a background thread, not the first verdict.
  compileOrtRuntime();
  const contract = await readContract();
  // Read while the GPU is probed, for the same reason as the compile above.
  const poolModel = readPoolModel(contract, log);
  poolModel.catch(() => {}); // awaited below unless WebGPU runs
  // The wasm core is needed here only for WebGPU; the pool's workers load their own.
  const core = () => import('../lib/core.js').then(({ loadCore }) => loadCore())
    .catch((error) => { throw startError('core_unavailable', { cause: String(error?.message ?? error) }, `wasm core: ${error?.message ?? error}`); });

  if (preference === 'auto' && webgpuBroke) log(`webgpu: ${webgpuBroke}; using wasm`);
  let classifier = preference === 'auto' && !webgpuBroke ? await startWebgpuClassifier({ contract, core, log }) : null;
  if (!classifier) {
    const { bytes: modelBytes, sessionOptions } = await poolModel;
    startup.modelRead ??= epochNow();
    // WASM: a few workers, each with its own 1-thread runtime, judge thumbnails side by side.
    const { createClassifierPool, poolPlan } = await import('../lib/classifier-pool.js')
      .catch((error) => { throw modulesUnavailable(error); });
    const plan = poolPlan();
    startup.poolModuleLoaded ??= epochNow();
    classifier = await createClassifierPool({
      model: modelBytes, sessionOptions, contract, ortUrl: here('./ort/ort.wasm.min.mjs'), wasmPaths: here('./ort/'), ...plan, log,
      ortRuntime: await compileOrtRuntime(),
      ...(imagesWaiting ? { warmUpRuns: 1, startNextAfterFirstResult: true } : {}),
    });
    if (!startup.firstWorkerReady) {
      for (const [step, at] of Object.entries(classifier.firstWorkerTimings ?? {})) startup[`worker: ${step}`] = at;
      startup.firstWorkerReady = epochNow();
    }
  }
  const info = {
    provider: classifier.provider, threads: classifier.threads,
    modelVersion: classifier.modelVersion,
    crossOriginIsolated: globalThis.crossOriginIsolated === true, requested: preference,
    webgpuFallback: classifier.provider === 'webgpu' || preference === 'wasm' ? null : webgpuFallbackReason(notes),
    notes,
  };
  console.info(`Illust Only: classifier ready on ${info.provider}`, info); // tools/webgpu-check reads this line
  return { classifier, info };
}

function getClassifier(requested, { imagesWaiting = false } = {}) {
  const preference = PREFERENCES.has(requested) ? requested : 'auto';
  // An 'auto' classifier that ended on WASM already is what a 'wasm' request wants: no rebuild.
  const fits = current && (current.preference === preference || (preference === 'wasm' && current.provider === 'wasm'));
  if (!fits) {
    if (startFailure?.preference === preference && Date.now() < startFailure.retryAt) {
      const refused = Promise.reject(startFailure.error);
      refused.catch(() => {}); // a caller that only asks whether one is loading never awaits it
      return refused;
    }
    const previous = current;
    classifierStarts += 1;
    const entry = { preference, provider: null, ready: startClassifier(preference, { imagesWaiting }) };
    current = entry;
    entry.ready.then(({ info }) => { entry.provider = info.provider; startFailure = null; },
      (error) => {
        if (current === entry) current = null;
        const tries = startFailure?.preference === preference ? startFailure.tries + 1 : 1;
        startFailure = { preference, error, tries, retryAt: Date.now() + Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (tries - 1)) };
      });
    // Runs already queued on the old session finish first: release() is queued behind them.
    previous?.ready.then(({ classifier }) => classifier.release(), () => {}).catch(() => {});
  }
  return current.ready;
}

/**
 * The classifier's description for the service worker. Asked for 'wasm', the reason WebGPU is not
 * used is the worker's `why` (off in settings, or failed earlier in this browser session).
 */
function describe({ classifier, info: started }, requested, why) {
  // The pool's workers join (or, rarely, die) after it starts: count them now.
  const info = started.provider === 'wasm' ? { ...started, workers: classifier.workers } : started;
  if (requested !== 'wasm' || info.provider === 'webgpu') return info;
  return { ...info, requested, webgpuFallback: typeof why === 'string' ? why.slice(0, 200) : 'not requested' };
}

async function classify(buffer, preference, why) {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength > MAX_MESSAGE_BYTES) {
    return { ok: false, code: 'bad_argument', message: 'the image bytes did not arrive intact' };
  }
  const bytes = new Uint8Array(buffer);
  let ready;
  const currentReady = getClassifier(preference, { imagesWaiting: true });
  try { ready = await currentReady; } catch (error) {
    return noModel(error);
  }
  startup.firstImageArrived ??= epochNow();
  // The pooled embedding comes with the scores: the personal layer (corrections) decides with it.
  const result = await ready.classifier.classify(bytes, { embedding: true, maxPixels: MAX_THUMBNAIL_PIXELS });
  startup.firstResult ??= epochNow();
  // Every worker of the pool died: forget it, so the next image starts a new classifier.
  if (result.code === 'no_model' && ready.classifier.workers === 0 && current?.ready === currentReady) current = null;
  // The GPU failed after the WebGPU session started: the classifier judged this image on a WASM session
  // of its own; the next images go to a worker pool, which runs WASM faster (see startClassifier).
  if (ready.info.provider === 'webgpu' && ready.classifier.provider !== 'webgpu' && !webgpuBroke) {
    webgpuBroke = webgpuFallbackReason(ready.info.notes) ?? 'stopped working';
    if (current?.ready === currentReady) current = null;
    getClassifier(preference);
    ready.classifier.release().catch(() => {});
  }
  // Scores only; the service worker decides with the user's current settings.
  const { ok, code, message, scores, embedding, width, height, format, ms } = result;
  return { ok, code, message, scores, embedding, width, height, format, ms, provider: describe(ready, preference, why) };
}

/**
 * ifLoaded: only describe a classifier that is loaded; never start one, nor wait for one that is still
 * loading: {loaded: false, loading: true} then (the popup's question, asked every second; it says the
 * model is loading only on this answer).
 */
async function status(preference, why, imagesWaiting = false, ifLoaded = false) {
  if (ifLoaded && current === null) {
    // None loaded because the last start failed: why (the popup says it, also after the worker restarted).
    if (startFailure) return noModel(startFailure.error, { classifierStarts });
    return { ok: true, loaded: false, startup, classifierStarts };
  }
  try {
    const ready = getClassifier(preference, { imagesWaiting }); // a changed "Use GPU" rebuilds it
    if (ifLoaded && current.provider === null) return { ok: true, loaded: false, loading: true, startup, classifierStarts };
    return { ok: true, ...describe(await ready, preference, why), startup, classifierStarts };
  } catch (error) {
    return noModel(error, { classifierStarts });
  }
}

/** Frees the classifier (its workers and the model's memory); the next request starts a new one. */
export async function releaseClassifier() {
  const previous = current;
  current = null;
  await previous?.ready.then(({ classifier }) => classifier.release(), () => {});
}

/** True while a classifier is loaded or loading. */
export function hasClassifier() {
  return current !== null;
}

/**
 * The host's one entry point: a service worker message (OFFSCREEN_CLASSIFY {bytes: ArrayBuffer} or
 * OFFSCREEN_STATUS {imagesWaiting?, ifLoaded?}, each with provider and why) → its answer. Never rejects.
 */
export async function answerHostMessage(message) {
  try {
    switch (message?.type) {
      case MSG.OFFSCREEN_CLASSIFY:
        return await classify(message.bytes, message.provider, message.why);
      case MSG.OFFSCREEN_STATUS:
        return await status(message.provider, message.why, message.imagesWaiting === true, message.ifLoaded === true);
      default:
        return { ok: false, code: 'bad_argument', message: `not a classifier host message: ${String(message?.type).slice(0, 80)}` };
    }
  } catch (error) {
    return { ok: false, code: 'internal', message: String(error?.message ?? error) };
  }
}
