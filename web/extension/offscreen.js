// The offscreen document's script: loads the wasm core, the model and ONNX Runtime Web (all shipped
// inside the extension; MV3 forbids remote code) on the first request, then classifies the image bytes
// the service worker sends, one at a time on one session. It returns scores; the service worker
// applies the user's settings. Nothing here touches the network.
import { MSG, OFFSCREEN_TARGET } from './messages.js';
import { base64ToBytes } from './bytes-codec.js';

const here = (relative) => new URL(relative, import.meta.url).href;
const MAX_MESSAGE_BYTES = 10 * 2 ** 20; // mirrors the service worker's cap, for defence in depth

let classifierReady = null; // Promise<{classifier, info}>; reset on failure so a later ask retries

async function fetchOrThrow(url, what) {
  const response = await fetch(url).catch((error) => { throw new Error(`${what}: cannot read ${url} (${error.message})`); });
  if (!response.ok) throw new Error(`${what}: ${url} is missing from the extension (HTTP ${response.status}); rebuild it with \`npm run build\``);
  return response;
}

async function startClassifier() {
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
    model: new Uint8Array(modelBytes),
    contract,
    core,
    // Only ORT's wasm runtime ships with the extension (14 MB; the WebGPU build would add 27 MB).
    provider: 'wasm',
    log: (line) => { notes.push(line); console.info(`Illust Only: ${line}`); },
  });
  const info = {
    provider: classifier.provider, threads: classifier.threads, modelVersion: classifier.modelVersion,
    crossOriginIsolated: globalThis.crossOriginIsolated === true, notes,
  };
  console.info('Illust Only: classifier ready', info);
  return { classifier, info };
}

function getClassifier() {
  classifierReady ??= startClassifier();
  classifierReady.catch(() => { classifierReady = null; });
  return classifierReady;
}

async function classify(base64) {
  let bytes;
  try {
    if (typeof base64 !== 'string' || base64.length > MAX_MESSAGE_BYTES * 4 / 3 + 4) throw new TypeError('bad size');
    bytes = base64ToBytes(base64);
  } catch {
    return { ok: false, code: 'bad_argument', message: 'the image bytes did not arrive intact' };
  }
  let ready;
  try { ready = await getClassifier(); } catch (error) {
    return { ok: false, code: 'no_model', message: String(error?.message ?? error) };
  }
  const result = await ready.classifier.classify(bytes);
  // Scores only; the service worker decides with the user's current settings.
  const { ok, code, message, scores, width, height, format, ms } = result;
  return { ok, code, message, scores, width, height, format, ms, provider: ready.info };
}

async function status() {
  try {
    const { info } = await getClassifier();
    return { ok: true, ...info };
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
      return answer(classify(message.bytes));
    case MSG.OFFSCREEN_STATUS:
      return answer(status());
    default:
      return false;
  }
});
