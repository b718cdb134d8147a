// The offscreen document's script: loads the wasm core, the model and ONNX Runtime Web (all shipped
// inside the extension; MV3 forbids remote code) on the first request, then classifies the image bytes
// the service worker sends, one at a time on one session: WebGPU when the browser has a real adapter
// that warms up in time (and the user allows it), WASM otherwise. It returns scores; the service worker
// applies the user's settings. Nothing here touches the network.
import { MSG, OFFSCREEN_TARGET } from './messages.js';
import { base64ToBytes } from './bytes-codec.js';
import { webgpuFallbackReason } from './classifier-label.js';

const here = (relative) => new URL(relative, import.meta.url).href;
const MAX_MESSAGE_BYTES = 10 * 2 ** 20; // mirrors the service worker's cap, for defence in depth

// The classifier for the provider the service worker asks for ('auto': WebGPU when a real adapter
// exists and warms up in time, else WASM; 'wasm', with `why`: off in settings, or WebGPU already failed
// in this browser session). The worker sends it with every message (offscreen documents cannot read
// chrome.storage); a change builds a new classifier and releases the old one once its queued runs are
// done.
let current = null; // {preference, provider once ready, ready: Promise<{classifier, info}>}; reset on failure so a later ask retries
const PREFERENCES = new Set(['auto', 'wasm']);

async function fetchOrThrow(url, what) {
  const response = await fetch(url).catch((error) => { throw new Error(`${what}: cannot read ${url} (${error.message})`); });
  if (!response.ok) throw new Error(`${what}: ${url} is missing from the extension (HTTP ${response.status}); rebuild it with \`npm run build\``);
  return response;
}

/** ORT's WebGPU bundle (66 KB + a 27 MB runtime): imported only when an adapter really exists. */
async function importOrtWebgpu() {
  const ortWebgpu = await import('./ort/ort.webgpu.min.mjs');
  ortWebgpu.env.wasm.wasmPaths = here('./ort/');
  return ortWebgpu;
}

async function startClassifier(preference) {
  const notes = [];
  // Dynamic imports so a missing build part becomes a readable error answer, not a dead document.
  const [{ loadCore }, { createClassifier }, ort] = await Promise.all([
    import('../lib/core.js'), import('../lib/classifier.js'), import('./ort/ort.wasm.min.mjs'),
  ]).catch((error) => { throw new Error(`cannot load the classifier's modules (${error?.message ?? error})`); });
  ort.env.wasm.wasmPaths = here('./ort/');
  const contract = await (await fetchOrThrow(here('./model/contract.json'), 'model contract')).json();
  const [modelBytes, core] = await Promise.all([
    fetchOrThrow(here(`./model/${contract.model_file}`), 'model').then((response) => response.arrayBuffer()),
    loadCore().catch((error) => { throw new Error(`wasm core: ${error?.message ?? error}`); }),
  ]);
  const classifier = await createClassifier({
    ort,
    ortWebgpu: importOrtWebgpu,
    model: new Uint8Array(modelBytes),
    contract,
    core,
    provider: preference,
    log: (line) => { notes.push(line); console.info(`Illust Only: ${line}`); },
  });
  const info = {
    provider: classifier.provider, threads: classifier.threads, modelVersion: classifier.modelVersion,
    crossOriginIsolated: globalThis.crossOriginIsolated === true, requested: preference,
    webgpuFallback: classifier.provider === 'webgpu' || preference === 'wasm' ? null : webgpuFallbackReason(notes),
    notes,
  };
  console.info('Illust Only: classifier ready', info);
  return { classifier, info };
}

function getClassifier(requested) {
  const preference = PREFERENCES.has(requested) ? requested : 'auto';
  // An 'auto' classifier that ended on WASM already is what a 'wasm' request wants: no rebuild.
  const fits = current && (current.preference === preference || (preference === 'wasm' && current.provider === 'wasm'));
  if (!fits) {
    const previous = current;
    const entry = { preference, provider: null, ready: startClassifier(preference) };
    current = entry;
    entry.ready.then(({ info }) => { entry.provider = info.provider; },
      () => { if (current === entry) current = null; });
    // Runs already queued on the old session finish first: release() is queued behind them.
    previous?.ready.then(({ classifier }) => classifier.release(), () => {}).catch(() => {});
  }
  return current.ready;
}

/**
 * The classifier's description for the service worker. Asked for 'wasm', the reason WebGPU is not
 * used is the worker's `why` (off in settings, or failed earlier in this browser session).
 */
function describe(info, requested, why) {
  if (requested !== 'wasm' || info.provider === 'webgpu') return info;
  return { ...info, requested, webgpuFallback: typeof why === 'string' ? why.slice(0, 200) : 'not requested' };
}

async function classify(base64, preference, why) {
  let bytes;
  try {
    if (typeof base64 !== 'string' || base64.length > MAX_MESSAGE_BYTES * 4 / 3 + 4) throw new TypeError('bad size');
    bytes = base64ToBytes(base64);
  } catch {
    return { ok: false, code: 'bad_argument', message: 'the image bytes did not arrive intact' };
  }
  let ready;
  try { ready = await getClassifier(preference); } catch (error) {
    return { ok: false, code: 'no_model', message: String(error?.message ?? error) };
  }
  const result = await ready.classifier.classify(bytes);
  // Scores only; the service worker decides with the user's current settings.
  const { ok, code, message, scores, width, height, format, ms } = result;
  return { ok, code, message, scores, width, height, format, ms, provider: describe(ready.info, preference, why) };
}

async function status(preference, why) {
  try {
    const { info } = await getClassifier(preference);
    return { ok: true, ...describe(info, preference, why) };
  } catch (error) {
    return { ok: false, code: 'no_model', message: String(error?.message ?? error) };
  }
}

chrome.runtime.onMessage.addListener((message, _sender, sendResponse) => {
  if (message?.target !== OFFSCREEN_TARGET) return false;
  const answer = (promise) => {
    promise.then(sendResponse, (error) => sendResponse({ ok: false, code: 'internal', message: String(error?.message ?? error) }));
    return true;
  };
  switch (message.type) {
    case MSG.OFFSCREEN_CLASSIFY:
      return answer(classify(message.bytes, message.provider, message.why));
    case MSG.OFFSCREEN_STATUS:
      return answer(status(message.provider, message.why));
    default:
      return false;
  }
});
