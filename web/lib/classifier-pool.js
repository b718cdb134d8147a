// Runs the WASM classifier on several images at once: a few module workers (classifier-worker.js),
// each with its own ONNX Runtime instance, take queued images one at a time, first come first served.
// Why not one session with more ORT threads: its threads meet at a barrier after every layer, so on a
// small, busy machine they wait for each other. On this project's 2-core machine two 1-thread workers
// judged a stream of images faster than one 2-thread session when idle (24 vs 27 ms per image) and
// far faster with a core taken by other work (37 vs 60 ms; tools/bench/notes.md). Each worker holds a
// copy of the runtime and the model (~60 MB), so the pool stays small.
//
//   const pool = await createClassifierPool({ workerUrl, ortUrl, wasmPaths, model, contract, ...poolPlan() });
//   const result = await pool.classify(bytes);  // same results as classifier.js's classify()
//
// It resolves as soon as one worker is ready (the others join when they are), rejects only when none
// can start, and never rejects a classify(): a worker that dies answers its image with an error and
// leaves the pool; when none is left, every waiting image gets {ok:false, code:'no_model'}.

/** Workers and ORT threads per worker for a machine: two 1-thread workers on 2–4 cores. */
export function poolPlan({ cores = globalThis.navigator?.hardwareConcurrency ?? 2, isolated = globalThis.crossOriginIsolated === true } = {}) {
  const workers = cores >= 2 ? 2 : 1;
  // Threads need SharedArrayBuffer (cross-origin isolation). Keep about one core for the page.
  const threads = isolated ? Math.max(1, Math.min(4, Math.floor((cores - 1) / workers))) : 1;
  return { workers, threads };
}

const DEFAULT_WORKER_URL = new URL('./classifier-worker.js', import.meta.url);

/**
 * options: {model: Uint8Array|ArrayBuffer, contract, ortUrl (ORT's wasm bundle), wasmPaths?, workers,
 *           threads, workerUrl?, coreUrl? (the core's glue, when not next to core.js), log?,
 *           ortRuntime?: WebAssembly.Module of ORT's wasm runtime (compiled once, shared by the workers),
 *           sessionOptions?: ORT session options for every worker (classifier.js's), e.g. optimisations off
 *           for a model saved already optimised,
 *           warmUpRuns?: 1 | 2 (see classifier.js), startNextAfterFirstResult?: start the next worker
 *           only once the first has answered an image it was given at once (images already waiting),
 *           startTimeoutMs?: a worker not ready by then is dropped as failed (default 60 s)}
 */
export function createClassifierPool(options) {
  const { contract, ortUrl, wasmPaths, coreUrl, workers = 2, threads = 1, workerUrl = DEFAULT_WORKER_URL, log = () => {},
    ortRuntime = null, sessionOptions, warmUpRuns, startNextAfterFirstResult = false, startTimeoutMs = 60000 } = options;
  const given = options.model;
  if (!contract || !ortUrl || !(given instanceof ArrayBuffer || ArrayBuffer.isView(given))) {
    return Promise.reject(new Error('createClassifierPool: model (bytes), contract and ortUrl are required'));
  }
  // Each worker gets its own copy of the model (structured clone); the caller's bytes stay intact.
  const model = given instanceof ArrayBuffer ? given : given.buffer.slice(given.byteOffset, given.byteOffset + given.byteLength);

  const members = []; // {worker, state: 'starting'|'ready'|'dead', job, judged}
  const waiting = []; // jobs: {id, bytes, options, resolve}
  let nextId = 1;
  let released = false;
  let resolvePool;
  let rejectPool;
  const started = new Promise((resolve, reject) => { resolvePool = resolve; rejectPool = reject; });
  const failures = [];
  let settleAllStarted;
  const allStarted = new Promise((resolve) => { settleAllStarted = resolve; });

  const alive = () => members.filter((m) => m.state !== 'dead');
  let firstTimings = null;
  const answer = (job, result) => job.resolve(result);

  function pump() {
    for (const member of members) {
      if (waiting.length === 0) break;
      if (member.state === 'ready' && !member.job) {
        const job = waiting.shift();
        try {
          member.worker.postMessage({ type: 'classify', id: job.id, bytes: job.bytes, options: job.options }, [job.bytes]);
          member.job = job;
        } catch (error) {
          // Options a worker cannot receive (a function, say): this image's error, not a stuck worker.
          answer(job, { ok: false, code: 'bad_argument', message: `cannot send the image to a classifier worker: ${error?.message ?? error}` });
        }
      }
    }
    if (released && waiting.length === 0 && members.every((m) => !m.job)) {
      for (const member of members) { member.worker.terminate(); member.state = 'dead'; }
      settleAllStarted();
    }
  }

  function drop(member, why) {
    if (member.state === 'dead') return;
    clearTimeout(member.startTimer);
    const wasStarting = member.state === 'starting';
    member.state = 'dead';
    member.worker.terminate();
    if (wasStarting) failures.push(why);
    else log(`classifier worker stopped: ${why}`);
    if (member.job) answer(member.job, { ok: false, code: 'internal', message: `the classifier worker stopped: ${why}` });
    member.job = null;
    if (wasStarting || waitingToStartNext) { waitingToStartNext = false; startNext(); }
    if (alive().length === 0) {
      rejectPool(new Error(failures.length ? failures[0] : why));
      for (const job of waiting.splice(0)) answer(job, { ok: false, code: 'no_model', message: `classifier unavailable: ${why}` });
    }
    pump();
  }

  // Workers start one after another: the first judges images while the next compiles its runtime and
  // loads the model, so the first verdict comes as early as with a single session.
  let toStart = Math.max(1, Math.floor(workers));
  let waitingToStartNext = false;
  function startNext() {
    while (toStart > 0 && !released) {
      toStart -= 1;
      if (startWorker(members.length + 1)) return;
    }
    if (alive().length === 0) rejectPool(new Error(failures[0] ?? 'no classifier worker'));
    settleAllStarted();
  }

  function startWorker(number) {
    let worker;
    try {
      worker = new Worker(workerUrl, { type: 'module', name: `illust-only classifier ${number}` });
    } catch (error) {
      failures.push(`cannot start a classifier worker (${error?.message ?? error})`);
      return false;
    }
    const member = { worker, state: 'starting', job: null, judged: 0, createdAt: performance.timeOrigin + performance.now() };
    members.push(member);
    // A worker that neither starts nor fails (a runtime stuck compiling) would keep the pool, and every
    // image queued on it, waiting for ever: it counts as a failed start.
    member.startTimer = setTimeout(() => {
      if (member.state === 'starting') drop(member, `the classifier worker did not start within ${startTimeoutMs / 1000} s`);
    }, startTimeoutMs);
    worker.onmessage = ({ data }) => {
      if (data?.type === 'ready') {
        if (member.state !== 'starting') return;
        clearTimeout(member.startTimer);
        member.state = 'ready';
        firstTimings ??= { ...data.timings, workerCreated: member.createdAt };
        resolvePool(api);
        pump();
        // On a small machine the next worker's start (a second of CPU) would slow the first verdict.
        if (startNextAfterFirstResult && member.job) waitingToStartNext = true;
        else startNext();
      } else if (data?.type === 'init-failed') {
        drop(member, data.message);
      } else if (data?.type === 'result' && member.job?.id === data.id) {
        const job = member.job;
        member.job = null;
        member.judged += 1;
        answer(job, data.result);
        pump();
        if (waitingToStartNext) { waitingToStartNext = false; startNext(); }
      }
    };
    // A worker script that cannot load, or a crash: the event says little, so say what it was.
    worker.onerror = (event) => { event.preventDefault?.(); drop(member, `worker error: ${event.message || 'the worker script could not be loaded'}`); };
    worker.onmessageerror = () => drop(member, 'a message could not be read');
    worker.postMessage({ type: 'init', ortUrl: String(ortUrl), wasmPaths, coreUrl: coreUrl && String(coreUrl), model, contract, numThreads: threads,
      ortRuntime, sessionOptions, warmUpRuns });
    return true;
  }

  const api = {
    provider: 'wasm',
    threads,
    modelVersion: contract.version,
    /** Workers started and not dead (starting or ready). */
    get workers() { return alive().length; },
    /** Resolves once every planned worker is ready or has failed (the pool itself resolves at the first). */
    allStarted,
    /** Images answered by each worker started so far (dead ones included), for tests and benchmarks. */
    get judgedPerWorker() { return members.map((m) => m.judged); },
    /** The first ready worker's start-up steps (epoch ms, from the worker), for start-up breakdowns. */
    get firstWorkerTimings() { return firstTimings; },
    /** bytes: an image file's bytes (copied; the caller's array stays intact). Never rejects. */
    classify(bytes, classifyOptions) {
      if (released) return Promise.resolve({ ok: false, code: 'no_model', message: 'the classifier was released' });
      if (alive().length === 0) return Promise.resolve({ ok: false, code: 'no_model', message: 'classifier unavailable: no worker left' });
      let copy; // transferred to the worker
      try {
        if (bytes instanceof ArrayBuffer) copy = bytes.slice(0);
        else if (ArrayBuffer.isView(bytes)) copy = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength).slice().buffer;
      } catch { /* a detached buffer: no bytes to read */ }
      if (!copy) return Promise.resolve({ ok: false, code: 'bad_argument', message: 'expected the image bytes (Uint8Array or ArrayBuffer)' });
      return new Promise((resolve) => {
        waiting.push({ id: nextId++, bytes: copy, options: classifyOptions, resolve });
        pump();
      });
    },
    /** Stops the workers once the images already queued are answered. */
    release() {
      released = true;
      pump();
      return Promise.resolve();
    },
  };
  startNext();
  return started;
}
