// A module worker that hosts one WASM classifier (classifier.js: wasm core + its own ONNX Runtime
// instance) for classifier-pool.js, which runs several of them side by side. Protocol:
//   pool → worker: {type: 'init', ortUrl, wasmPaths, coreUrl?, model: ArrayBuffer, contract, numThreads}
//                  {type: 'classify', id, bytes: ArrayBuffer (transferred), options}
//   worker → pool: {type: 'ready', threads, modelVersion} | {type: 'init-failed', message}
//                  {type: 'result', id, result} (classify()'s result; it never throws)
// The modules are imported inside init, so a missing build part becomes a readable init-failed
// message instead of a worker that dies without saying why.
let classifierReady = null;

async function init({ ortUrl, wasmPaths, coreUrl, model, contract, numThreads }) {
  const [{ loadCore }, { createClassifier }, ort] = await Promise.all([
    import('./core.js'), import('./classifier.js'), import(ortUrl),
  ]).catch((error) => { throw new Error(`cannot load the classifier's modules (${error?.message ?? error})`); });
  if (wasmPaths) ort.env.wasm.wasmPaths = wasmPaths;
  // coreUrl: the core's glue when it is not next to core.js (the benchmarks run from the source tree).
  const core = await loadCore(coreUrl ? { moduleUrl: coreUrl } : {}).catch((error) => { throw new Error(`wasm core: ${error?.message ?? error}`); });
  return createClassifier({ ort, model: new Uint8Array(model), contract, core, provider: 'wasm', numThreads });
}

self.onmessage = ({ data }) => {
  switch (data?.type) {
    case 'init':
      classifierReady = init(data);
      classifierReady.then(
        (classifier) => self.postMessage({ type: 'ready', threads: classifier.threads, modelVersion: classifier.modelVersion }),
        (error) => self.postMessage({ type: 'init-failed', message: String(error?.message ?? error) }));
      break;
    case 'classify': {
      const { id, bytes, options } = data;
      (async () => {
        let result;
        try {
          if (!classifierReady) throw new Error('not initialised');
          result = await (await classifierReady).classify(new Uint8Array(bytes), options);
        } catch (error) {
          result = { ok: false, code: 'no_model', message: `classifier unavailable: ${error?.message ?? error}` };
        }
        self.postMessage({ type: 'result', id, result });
      })();
      break;
    }
    default:
      console.warn('illust-only classifier worker: unknown message', data);
  }
};
