// The demo page's module worker: owns the wasm core and the one ONNX Runtime session, so decoding and
// inference never block the page, even for hundreds of dropped images. Files are read and classified
// strictly one after another (one session, and only one file's bytes in memory at a time).
// Protocol: see messages.js.
import { MSG, PROVIDERS, MAX_FILE_BYTES } from './messages.js';

const here = (relative) => new URL(relative, import.meta.url).href;

let classifierReady = null;  // Promise<classifier>, set by INIT
let queue = Promise.resolve();
let generation = 0;          // bumped by CANCEL: queued jobs of an older generation are dropped

async function fetchOrThrow(url, what) {
  let response;
  try { response = await fetch(url); } catch (error) { throw new Error(`${what}: cannot fetch ${url} (${error.message})`); }
  if (!response.ok) throw new Error(`${what}: ${url} answered HTTP ${response.status}; was \`npm run build\` run after it was made?`);
  return response;
}

async function init({ provider, threads }) {
  const notes = [];
  // Imported here, not at the top, so a missing or broken build part becomes a readable INIT_FAILED
  // message on the page instead of a worker that never starts.
  const [{ loadCore }, { createClassifier }] = await Promise.all([
    import('./lib/core.js'), import('./lib/classifier.js'),
  ]).catch((error) => { throw new Error(`cannot load the page's modules (${error.message ?? error})`); });
  const contract = await (await fetchOrThrow(here('./model/contract.json'), 'model contract')).json();
  const [modelBytes, core, ort] = await Promise.all([
    fetchOrThrow(here(`./model/${contract.model_file}`), 'model').then((r) => r.arrayBuffer()),
    loadCore().catch((error) => { throw new Error(`wasm core: ${error.message ?? error}`); }),
    // The wasm-only bundle fetches a 14 MB runtime; the WebGPU bundle (27 MB) is imported by the
    // classifier only when an adapter exists, so machines without a GPU never download it.
    import('./ort/ort.wasm.min.mjs'),
  ]);
  const classifier = await createClassifier({
    ort,
    ortWebgpu: () => import('./ort/ort.webgpu.min.mjs'),
    model: new Uint8Array(modelBytes),
    contract,
    core,
    provider: PROVIDERS.includes(provider) ? provider : 'auto',
    numThreads: threads,
    // The fallback reasons (no adapter, warm-up failed or timed out) are shown next to the provider.
    log: (line) => { notes.push(line); console.info(`illust-only: ${line}`); },
  });
  return { classifier, contract, notes };
}

async function classifyFile(classifier, file) {
  if (!(file instanceof Blob)) return { ok: false, code: 'bad_argument', message: 'not a file' };
  if (file.size > MAX_FILE_BYTES) {
    return { ok: false, code: 'too_large', message: `file too large: ${(file.size / 2 ** 20).toFixed(1)} MB exceeds ${MAX_FILE_BYTES / 2 ** 20} MB` };
  }
  let bytes;
  try { bytes = new Uint8Array(await file.arrayBuffer()); } catch (error) {
    return { ok: false, code: 'unreadable', message: `cannot read the file: ${error.message ?? error}` };
  }
  return classifier.classify(bytes);
}

self.onmessage = ({ data }) => {
  switch (data?.type) {
    case MSG.INIT:
      classifierReady = init(data).then(
        ({ classifier, contract, notes }) => {
          self.postMessage({
            type: MSG.READY, provider: classifier.provider, threads: classifier.threads,
            modelVersion: classifier.modelVersion, contract, note: notes.join('; '),
            isolated: self.crossOriginIsolated === true,
          });
          return classifier;
        },
        (error) => {
          self.postMessage({ type: MSG.INIT_FAILED, message: String(error?.message ?? error) });
          throw error;
        });
      classifierReady.catch(() => {});
      break;
    case MSG.CLASSIFY: {
      const { id, file } = data;
      const jobGeneration = generation;
      queue = queue.then(async () => {
        if (jobGeneration !== generation) return;
        let result;
        try {
          result = await classifyFile(await classifierReady, file);
        } catch (error) {
          // The model could not be loaded: each file still gets an answer, so no card waits forever.
          result = { ok: false, code: 'not_ready', message: `classifier unavailable: ${error?.message ?? error}` };
        }
        if (jobGeneration === generation) self.postMessage({ type: MSG.RESULT, id, result });
      });
      break;
    }
    case MSG.CANCEL:
      generation++;
      break;
    default:
      console.warn('illust-only worker: unknown message', data);
  }
};
