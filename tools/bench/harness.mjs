// Page side of the benchmark (see harness.html). setupSuite sets a suite up (timed: that is its
// start-up cost) and warms it up on a few images (not counted); runChunk then runs bytes → verdict on a
// range of images, one at a time, returning per-image times split into decode+preprocess and
// inference. The runner interleaves chunks of all suites so that load from other processes on the
// machine hits every suite alike. Image bytes are fetched into memory before any timing, so the local
// server never shows up in the figures.
//
// Suites:
//   ours            wasm core toTensor + ONNX Runtime Web (wasm) via web/lib/classifier.js, the very
//                   code the demo and the extension run
//   ours-pool       the extension's pool: several workers, each with the core and its own ORT
//   core-decode     wasm core toTensor only (issue 2: decode + preprocess); with imageSet 'webp' on the
//                   same images as WebP (issue 23)
//   browser-decode  the browser's own path to the same tensor: createImageBitmap + OffscreenCanvas
//                   drawImage/getImageData + a JS normalise loop
//   nsfwjs          nsfwjs 4.4.0 (MobileNetV2) on @tensorflow/tfjs 4.22.0, wasm or webgl backend, its
//                   own decode path (createImageBitmap → tf.browser.fromPixels)

const now = () => performance.now();

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot fetch ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** imageSet 'webp': the same images re-encoded as WebP by tools/bench.mjs (served as /bench-webp/<i>). */
async function loadImages(count, imageSet = 'original') {
  const prefix = imageSet === 'webp' ? '/bench-webp/' : '/bench-images/';
  return Promise.all(Array.from({ length: count }, (_, i) => fetchBytes(`${prefix}${i}`)));
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(script);
  });
}

async function loadContract() {
  const response = await fetch('/model/contract.json');
  if (!response.ok) throw new Error('model/contract.json not found');
  return response.json();
}

async function loadOurCore() {
  const { loadCore } = await import('/web/lib/core.js');
  return loadCore({ moduleUrl: '/build/wasm/illust_core.mjs' });
}

// ---- our pipeline ----------------------------------------------------------------------------

async function suiteOurs({ threads = 1, modelUrl = '/model/illust-only.onnx', sessionOptions }) {
  const t0 = now();
  const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const [{ createClassifier }, core, contract] = await Promise.all([
    import('/web/lib/classifier.js'), loadOurCore(), loadContract()]);
  const classifier = await createClassifier({ ort, model: modelUrl, contract, core, provider: 'wasm', numThreads: threads, sessionOptions });
  const startupMs = now() - t0;
  const step = async (bytes) => {
    const result = await classifier.classify(bytes);
    if (!result.ok) return { error: `${result.code}: ${result.message}`, decode: result.ms.preprocess, infer: 0 };
    return { decode: result.ms.preprocess, infer: result.ms.inference, label: result.label };
  };
  return { startupMs, step, info: { provider: classifier.provider, threads: classifier.threads } };
}

// ---- levers that change how images flow (not expressible as ORT options) ------------------------

/** The verdict label through web/lib/decide.js, the rule every user of the model shares. */
let decideModule = null;
function verdict(contract, probs) {
  const scores = Object.fromEntries(contract.labels.map((name, i) => [name, probs[i]]));
  return decideModule.decide(scores, contract).label;
}

async function openRawSession({ threads, modelUrl }) {
  decideModule ??= await import('/web/lib/decide.js');
  const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const [contract, model] = await Promise.all([loadContract(), fetchBytes(modelUrl)]);
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', executionProviders: ['wasm'] });
  // One warm-up run inside start-up, as classifier.js does, so start-up figures compare.
  const { width, height } = contract.input;
  await session.run({ [contract.input.name]: new ort.Tensor('float32', new Float32Array(3 * width * height), [1, 3, height, width]) });
  return { ort, contract, session };
}

/**
 * Batching: `batch` queued images decoded by the core, stacked, run in one session.run (the model's
 * batch axis is dynamic). Each image's row is its share of the group: decode = the group's decode
 * time / size, infer = the run / size; what a burst of thumbnails costs per image, not latency.
 */
async function suiteOursBatch({ threads = 1, batch = 5, modelUrl }) {
  const t0 = now();
  const [{ ort, contract, session }, core] = await Promise.all([openRawSession({ threads, modelUrl }), loadOurCore()]);
  const { width, height } = contract.input;
  const plane = 3 * width * height;
  const runGroup = async (group) => {
    const ta = now();
    const stacked = new Float32Array(plane * group.length);
    const results = group.map((bytes, k) => {
      const r = core.toTensor(bytes, contract);
      if (r.ok) stacked.set(r.tensor, k * plane);
      return r;
    });
    const tb = now();
    const out = await session.run({ [contract.input.name]: new ort.Tensor('float32', stacked, [group.length, 3, height, width]) });
    const probs = out[contract.outputs.probs].data;
    const tc = now();
    const share = (ms) => ms / group.length;
    return results.map((r, k) => {
      if (!r.ok) return { error: `${r.code}: ${r.message}`, decode: share(tb - ta), infer: 0, total: share(tc - ta) };
      const label = verdict(contract, probs.subarray(k * contract.labels.length, (k + 1) * contract.labels.length));
      return { decode: share(tb - ta), infer: share(tc - tb), total: share(tc - ta), label };
    });
  };
  const startupMs = now() - t0;
  const runRange = async (images) => {
    const rows = [];
    for (let i = 0; i < images.length; i += batch) rows.push(...await runGroup(images.slice(i, i + batch)));
    return rows;
  };
  return { startupMs, runRange, step: async (bytes) => (await runGroup([bytes]))[0], info: { threads, batch } };
}

/**
 * Pipelining: a worker decodes image i+1 while ORT (on this thread) runs image i. Rows: decode = the
 * time this thread waited for a tensor (decode not hidden behind inference), infer = the run, total =
 * the time between consecutive verdicts (throughput, the figure a queue of thumbnails sees).
 */
async function suiteOursPipelined({ threads = 1, modelUrl }) {
  const t0 = now();
  const { ort, contract, session } = await openRawSession({ threads, modelUrl });
  const worker = new Worker(new URL('./decode-worker.mjs', import.meta.url), { type: 'module' });
  let nextId = 0;
  const pending = new Map();
  worker.onmessage = ({ data }) => { pending.get(data.id)?.(data); pending.delete(data.id); };
  worker.onerror = (event) => { for (const resolve of pending.values()) resolve({ ok: false, code: 'internal', message: String(event.message) }); pending.clear(); };
  // The bytes are copied to the worker, not transferred: the page keeps them for later repeats.
  const decode = (bytes) => new Promise((resolve) => { const id = nextId++; pending.set(id, resolve); worker.postMessage({ id, bytes, contract }); });
  const infer = async (prepared) => {
    const out = await session.run({ [contract.input.name]: new ort.Tensor('float32', prepared.tensor, prepared.dims) });
    return verdict(contract, out[contract.outputs.probs].data);
  };
  await decode(new Uint8Array(0)); // an error answer, but the worker's core is loaded by then
  const startupMs = now() - t0;
  const runRange = async (images) => {
    const rows = [];
    let next = images.length ? decode(images[0]) : null;
    let last = now();
    for (let i = 0; i < images.length; i++) {
      const tw = now();
      const prepared = await next;
      const waited = now() - tw;
      next = i + 1 < images.length ? decode(images[i + 1]) : null; // overlaps the run below
      if (!prepared.ok) { rows.push({ error: `${prepared.code}: ${prepared.message}`, decode: waited, infer: 0, total: now() - last }); last = now(); continue; }
      const ti = now();
      const label = await infer(prepared);
      const t = now();
      rows.push({ decode: waited, infer: t - ti, total: t - last, label });
      last = t;
    }
    return rows;
  };
  return { startupMs, runRange, step: async (bytes) => (await runRange([bytes]))[0], info: { threads } };
}

/**
 * The extension's worker pool (web/lib/classifier-pool.js): `workers` workers with `threads` ORT threads
 * each, fed a stream (the whole range queued at once, as a media tab queues its thumbnails). Rows:
 * decode and infer as measured inside the worker, total = the time between consecutive verdicts
 * (throughput per image, like the pipelined lever), so they compare with one session's per-image times.
 */
async function suiteOursPool({ workers = 2, threads = 1, modelUrl = '/model/illust-only.onnx' }) {
  const t0 = now();
  const [{ createClassifierPool }, contract, model] = await Promise.all([
    import('/web/lib/classifier-pool.js'), loadContract(), fetchBytes(modelUrl)]);
  const here = (p) => new URL(p, location.href).href;
  const pool = await createClassifierPool({
    model, contract, workers, threads, ortUrl: here('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs'),
    wasmPaths: here('/node_modules/onnxruntime-web/dist/'), coreUrl: here('/build/wasm/illust_core.mjs'),
  });
  await pool.allStarted;
  if (pool.workers !== workers) throw new Error(`only ${pool.workers} of ${workers} workers started`);
  const startupMs = now() - t0;
  const runRange = async (images) => {
    const rows = [];
    let last = now();
    await Promise.all(images.map((bytes, i) => pool.classify(bytes).then((result) => {
      const t = now();
      rows[i] = result.ok
        ? { decode: result.ms.preprocess, infer: result.ms.inference, total: t - last, label: result.label }
        : { error: `${result.code}: ${result.message}`, decode: result.ms?.preprocess ?? 0, infer: 0, total: t - last };
      last = t;
    })));
    return rows;
  };
  return { startupMs, runRange, step: async (bytes) => (await runRange([bytes]))[0], info: { workers, threads } };
}

// ---- decode + preprocess only ----------------------------------------------------------------

async function suiteCoreDecode() {
  const t0 = now();
  const [core, contract] = await Promise.all([loadOurCore(), loadContract()]);
  const startupMs = now() - t0;
  const step = async (bytes) => {
    const t = now();
    const result = core.toTensor(bytes, contract);
    if (!result.ok) return { error: `${result.code}: ${result.message}`, decode: now() - t, infer: 0 };
    return { decode: now() - t, infer: 0 };
  };
  return { startupMs, step, info: {} };
}

/** The browser's own way to the model's input tensor, following the same contract as the core. */
function makeBrowserPreprocess(contract) {
  const { width, height } = contract.input;
  const { resize, pad_color: pad, alpha_background: bg, scale, mean, std } = contract.preprocess;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  const plane = width * height;
  const mul = [0, 1, 2].map((c) => scale / std[c]);
  const add = [0, 1, 2].map((c) => -mean[c] / std[c]);
  return async (bytes) => {
    const bitmap = await createImageBitmap(new Blob([bytes]));
    let dx = 0, dy = 0, dw = width, dh = height;
    if (resize === 'letterbox') {
      const k = Math.min(width / bitmap.width, height / bitmap.height);
      dw = Math.round(bitmap.width * k); dh = Math.round(bitmap.height * k);
      dx = Math.floor((width - dw) / 2); dy = Math.floor((height - dh) / 2);
      ctx.fillStyle = `rgb(${pad.join(',')})`;
      ctx.fillRect(0, 0, width, height);
    }
    ctx.fillStyle = `rgb(${bg.join(',')})`; // what transparent pixels are composited over
    ctx.fillRect(dx, dy, dw, dh);
    ctx.drawImage(bitmap, dx, dy, dw, dh);
    bitmap.close();
    const rgba = ctx.getImageData(0, 0, width, height).data;
    const tensor = new Float32Array(3 * plane);
    for (let i = 0, p = 0; i < plane; i++, p += 4) {
      tensor[i] = rgba[p] * mul[0] + add[0];
      tensor[plane + i] = rgba[p + 1] * mul[1] + add[1];
      tensor[2 * plane + i] = rgba[p + 2] * mul[2] + add[2];
    }
    return tensor;
  };
}

async function suiteBrowserDecode() {
  const t0 = now();
  const preprocess = makeBrowserPreprocess(await loadContract());
  const startupMs = now() - t0;
  const step = async (bytes) => {
    const t = now();
    await preprocess(bytes);
    return { decode: now() - t, infer: 0 };
  };
  return { startupMs, step, info: {} };
}

// ---- nsfwjs ----------------------------------------------------------------------------------

async function suiteNsfwjs({ backend = 'wasm', threads = 1 }) {
  const t0 = now();
  const tfModule = await import('@tensorflow/tfjs');
  // The wasm backend's UMD build attaches itself to a global `tf` object; give it the very module
  // nsfwjs imports (a plain copy, because a module namespace cannot be extended).
  globalThis.tf = { ...tfModule };
  if (backend === 'wasm') {
    await loadScript('/node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.es2017.min.js');
    globalThis.tf.wasm.setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
    globalThis.tf.wasm.setThreadsCount(threads);
  }
  if (!(await tfModule.setBackend(backend))) throw new Error(`tfjs backend ${backend} is not available in this browser`);
  await tfModule.ready();
  // nsfwjs's documented "script tag" model bundles: they set window.model / window.group1_shard1of1.
  await loadScript('/node_modules/nsfwjs/dist/models/mobilenet_v2/model.min.js');
  await loadScript('/node_modules/nsfwjs/dist/models/mobilenet_v2/group1-shard1of1.min.js');
  const nsfwjs = await import('/node_modules/nsfwjs/dist/esm/index.js');
  const model = await nsfwjs.load('MobileNetV2'); // includes nsfwjs's own warm-up prediction
  const startupMs = now() - t0;
  const size = model.options.size;
  const step = async (bytes) => {
    const t = now();
    const bitmap = await createImageBitmap(new Blob([bytes]));
    // nsfwjs.infer's own preprocessing (fromPixels, /255, bilinear resize with alignCorners), done here
    // so it is timed apart from the network; the /255 happens in classify, which skips the resize for
    // an input already at `size`. Resizing before or after the linear /255 gives the same values.
    const input = tfModule.tidy(() => tfModule.image.resizeBilinear(tfModule.browser.fromPixels(bitmap).toFloat(), [size, size], true));
    bitmap.close();
    const t1 = now();
    const predictions = await model.classify(input, 1);
    input.dispose();
    return { decode: t1 - t, infer: now() - t1, label: predictions[0]?.className };
  };
  const info = { backend: tfModule.getBackend(), threads: backend === 'wasm' ? globalThis.tf.wasm.getThreadsCount() : 0 };
  return { startupMs, step, info };
}

const SUITES = { ours: suiteOurs, 'ours-batch': suiteOursBatch, 'ours-pipelined': suiteOursPipelined, 'ours-pool': suiteOursPool, 'core-decode': suiteCoreDecode, 'browser-decode': suiteBrowserDecode, nsfwjs: suiteNsfwjs };

let active = null; // {images, step}

async function measureMemory() {
  // Chromium answers at once when started with --enable-blink-features=ForceEagerMeasureMemory.
  try { return (await performance.measureUserAgentSpecificMemory()).bytes; } catch { return NaN; }
}

/**
 * Called by tools/bench.mjs first: fetches the images, sets the suite up, warms it up.
 * Resolves to {startupMs, info, count, memoryBytes, crossOriginIsolated} or {error}; never rejects.
 */
window.setupSuite = async (name, { count, maxImages = Infinity, warmup = 3, imageSet, ...options }) => {
  try {
    const suite = SUITES[name];
    if (!suite) throw new Error(`unknown suite ${name}`);
    const images = await loadImages(Math.min(count, maxImages), imageSet);
    const { startupMs, step, runRange, info } = await suite(options);
    // Suites that handle a range themselves (batching, pipelining) warm up on one range.
    if (runRange && warmup > 0) await runRange(images.slice(0, 10));
    else for (let i = 0; i < warmup; i++) await step(images[i % images.length]);
    active = { images, step, runRange };
    return { startupMs, info, count: images.length, memoryBytes: await measureMemory(), crossOriginIsolated };
  } catch (error) {
    return { error: String(error?.stack ?? error) };
  }
};

/**
 * Runs images [start, end) (clipped to the suite's images) one at a time; resolves to rows. With
 * repeat > 1 each image runs that many times back to back and its fastest run is kept (filters out
 * moments when another process had the CPU; see --repeat in tools/bench.mjs).
 */
window.runChunk = async (start, end, repeat = 1) => {
  if (active.runRange) {
    const range = active.images.slice(start, end);
    let best = null;
    for (let r = 0; r < repeat; r++) {
      const rows = await active.runRange(range);
      best = best ? best.map((row, i) => (rows[i].total < row.total ? rows[i] : row)) : rows;
    }
    return best;
  }
  const rows = [];
  for (let i = start; i < Math.min(end, active.images.length); i++) {
    let best = null;
    for (let r = 0; r < repeat; r++) {
      const t0 = now();
      let row;
      try { row = await active.step(active.images[i]); } catch (error) { row = { error: String(error?.message ?? error), decode: 0, infer: 0 }; }
      row.total = now() - t0;
      if (!best || row.total < best.total) best = row;
    }
    rows.push(best);
  }
  return rows;
};

window.measureMemory = measureMemory;
document.getElementById('status').textContent = 'ready';
window.harnessReady = true;
