// A module worker that hosts one WASM classifier (classifier.js: wasm core + its own ONNX Runtime
// instance) for classifier-pool.js, which runs several of them side by side. Protocol:
//   pool → worker: {type: 'init', ortUrl, wasmPaths, coreUrl?, model: ArrayBuffer, contract, numThreads,
//                   ortRuntime?: WebAssembly.Module (ORT's wasm, compiled once by the pool's owner), sessionOptions?,
//                   warmUpRuns?}
//                  {type: 'classify', id, bytes: ArrayBuffer (transferred), options}
//   worker → pool: {type: 'ready', threads, modelVersion, timings} | {type: 'init-failed', message}
//                  (timings: epoch ms of each start-up step, for the extension's cold-start breakdown)
//                  {type: 'result', id, result} (classify()'s result; it never throws)
// The modules are imported inside init, so a missing build part becomes a readable init-failed
// message instead of a worker that dies without saying why.
let classifierReady = null;
const epochNow = () => performance.timeOrigin + performance.now();
const timings = { workerStarted: performance.timeOrigin };

/**
 * Makes ORT's next instantiateStreaming (its runtime's, made inside InferenceSession.create) use a
 * module compiled once for all workers instead of compiling 14 MB again. ORT offers no hook for a
 * compiled module (only wasmBinary, bytes it compiles again). If the module does not fit, the
 * instantiation fails and ORT's Emscripten glue falls back to fetching and compiling as usual.
 */
function useCompiledRuntime(module) {
  const original = WebAssembly.instantiateStreaming;
  WebAssembly.instantiateStreaming = async (source, imports) => {
    WebAssembly.instantiateStreaming = original; // once: ORT's runtime only
    Promise.resolve(source).then((response) => response?.body?.cancel?.(), () => {});
    const instance = await WebAssembly.instantiate(module, imports);
    timings.sharedRuntimeInstantiated = epochNow(); // absent from the timings: ORT compiled its own
    return { module, instance };
  };
}

async function init({ ortUrl, wasmPaths, coreUrl, model, contract, numThreads, ortRuntime, sessionOptions, warmUpRuns }) {
  const [{ loadCore }, { createClassifier }, ort] = await Promise.all([
    import('./core.js'), import('./classifier.js'), import(ortUrl),
  ]).catch((error) => { throw new Error(`cannot load the classifier's modules (${error?.message ?? error})`); });
  timings.modulesImported = epochNow();
  if (wasmPaths) ort.env.wasm.wasmPaths = wasmPaths;
  // coreUrl: the core's glue when it is not next to core.js (the benchmarks run from the source tree).
  const core = await loadCore(coreUrl ? { moduleUrl: coreUrl } : {}).catch((error) => { throw new Error(`wasm core: ${error?.message ?? error}`); });
  timings.coreLoaded = epochNow();
  // Compiles ORT's 14 MB wasm runtime (unless another worker of this process compiled it: V8 reuses
  // it) and builds the session.
  if (ortRuntime instanceof WebAssembly.Module) useCompiledRuntime(ortRuntime); // after the core: its glue instantiates too
  const classifier = await createClassifier({ ort, model: new Uint8Array(model), contract, core, provider: 'wasm', numThreads,
    sessionOptions, warmUpRuns, onStep: (name) => { timings[name] = epochNow(); } });
  timings.ready = epochNow();
  return classifier;
}

self.onmessage = ({ data }) => {
  switch (data?.type) {
    case 'init':
      classifierReady = init(data);
      classifierReady.then(
        (classifier) => self.postMessage({ type: 'ready', threads: classifier.threads, modelVersion: classifier.modelVersion, timings }),
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
