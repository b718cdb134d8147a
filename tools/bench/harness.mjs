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
//   core-decode     wasm core toTensor only (issue 2: decode + preprocess)
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

async function loadImages(count) {
  return Promise.all(Array.from({ length: count }, (_, i) => fetchBytes(`/bench-images/${i}`)));
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

const SUITES = { ours: suiteOurs, 'core-decode': suiteCoreDecode, 'browser-decode': suiteBrowserDecode, nsfwjs: suiteNsfwjs };

let active = null; // {images, step}

async function measureMemory() {
  // Chromium answers at once when started with --enable-blink-features=ForceEagerMeasureMemory.
  try { return (await performance.measureUserAgentSpecificMemory()).bytes; } catch { return NaN; }
}

/**
 * Called by tools/bench.mjs first: fetches the images, sets the suite up, warms it up.
 * Resolves to {startupMs, info, count, memoryBytes, crossOriginIsolated} or {error}; never rejects.
 */
window.setupSuite = async (name, { count, maxImages = Infinity, warmup = 3, ...options }) => {
  try {
    const suite = SUITES[name];
    if (!suite) throw new Error(`unknown suite ${name}`);
    const images = await loadImages(Math.min(count, maxImages));
    const { startupMs, step, info } = await suite(options);
    for (let i = 0; i < warmup; i++) await step(images[i % images.length]);
    active = { images, step };
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
