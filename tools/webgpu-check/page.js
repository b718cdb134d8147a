// The WebGPU check's page (see run.sh): the classifier every user runs (lib/classifier.js), on the
// adapter this browser really gives, against WASM on the same images. Results go to the server by POST.
//   ?mode=probe  the adapter only
//   ?mode=wasm   WASM scores only (what the CI test uses: no GPU there)
//   ?mode=full   WebGPU and WASM scores and timings, their agreement, then a lost device: ORT's GPUDevice
//                is destroyed and the same classifier must judge the next images on WASM, unchanged.
// The classifier's modules are imported inside the try below, so a broken build is reported, not a hang.
let loadCore, createClassifier, probeWebGPU;

const PASSES = 3;
const post = (path, body) => fetch(path, { method: 'POST', body: JSON.stringify(body) });
const say = (line) => post('/log', line);
const mode = new URLSearchParams(location.search).get('mode') ?? 'full';
const result = { mode, userAgent: navigator.userAgent, crossOriginIsolated, cores: navigator.hardwareConcurrency };

async function describeAdapter() {
  const adapter = await probeWebGPU(10000);
  if (!adapter) return null;
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor, architecture: info.architecture, description: info.description,
    isFallbackAdapter: Boolean(adapter.isFallbackAdapter ?? info.isFallbackAdapter),
    maxBufferSize: adapter.limits.maxBufferSize, features: [...adapter.features].sort(),
  };
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
const scoreRow = (r) => [r.scores.illustration, r.scores.screenshot, r.scores.photo];

async function runProvider(provider, setup, images) {
  const notes = [];
  const started = performance.now();
  let webgpuOrt = null;
  const classifier = await createClassifier({
    ...setup, provider,
    ortWebgpu: async () => (webgpuOrt = await import('./ort/ort.webgpu.min.mjs')),
    log: (line) => { notes.push(line); say(`${provider}: ${line}`); },
  });
  const startMs = performance.now() - started;
  const passes = [];
  let scores = [];
  for (let pass = 0; pass < PASSES; pass++) {
    const inference = [], total = [];
    scores = [];
    for (const image of images) {
      const r = await classifier.classify(image.bytes);
      if (!r.ok) throw new Error(`${provider}: ${image.name}: ${r.code}: ${r.message}`);
      inference.push(r.ms.inference); total.push(r.ms.total); scores.push(scoreRow(r));
    }
    passes.push({ inferenceMedianMs: median(inference), totalMedianMs: median(total) });
  }
  const summary = { requested: provider, used: classifier.provider, threads: classifier.threads, startMs, passes, notes: [...notes] };
  await say(`${provider}: ran on ${summary.used}, started in ${startMs.toFixed(0)} ms, median inference per pass ` +
    passes.map((p) => p.inferenceMedianMs.toFixed(1)).join(' / ') + ' ms');
  return { summary, scores, classifier, notes, webgpuOrt: () => webgpuOrt };
}

function compare(a, b) {
  let maxAbsDiff = 0, sameTopClass = 0;
  a.forEach((row, i) => {
    row.forEach((value, j) => { maxAbsDiff = Math.max(maxAbsDiff, Math.abs(value - b[i][j])); });
    if (row.indexOf(Math.max(...row)) === b[i].indexOf(Math.max(...b[i]))) sameTopClass++;
  });
  return { images: a.length, maxAbsDiff, sameTopClass };
}

try {
  ({ loadCore } = await import('./lib/core.js'));
  ({ createClassifier, probeWebGPU } = await import('./lib/classifier.js'));
  result.adapter = await describeAdapter();
  await say(`adapter: ${JSON.stringify(result.adapter)}`);
  if (mode !== 'probe') {
    const contract = await (await fetch('./model/contract.json')).json();
    const model = new Uint8Array(await (await fetch(`./model/${contract.model_file}`)).arrayBuffer());
    const names = await (await fetch('./images/list.json')).json();
    const images = await Promise.all(names.map(async (name) => ({ name, bytes: new Uint8Array(await (await fetch(`./images/${encodeURIComponent(name)}`)).arrayBuffer()) })));
    const setup = { ort: await import('./ort/ort.wasm.min.mjs'), model, contract, core: await loadCore() };
    result.images = names;
    const gpu = mode === 'full' ? await runProvider('webgpu', setup, images) : null;
    const wasm = await runProvider('wasm', setup, images);
    result.wasm = { ...wasm.summary, scores: wasm.scores };
    if (gpu) {
      result.webgpu = { ...gpu.summary, scores: gpu.scores };
      result.agreement = compare(gpu.scores, wasm.scores);
      await say(`agreement: ${JSON.stringify(result.agreement)}`);
      const device = gpu.webgpuOrt()?.env?.webgpu?.device;
      if (gpu.summary.used === 'webgpu' && device) {
        device.destroy();
        const after = [];
        for (const image of images.slice(0, 5)) {
          const r = await gpu.classifier.classify(image.bytes);
          if (!r.ok) throw new Error(`after the device was lost: ${image.name}: ${r.code}: ${r.message}`);
          after.push(scoreRow(r));
        }
        result.deviceLost = { providerAfter: gpu.classifier.provider, log: gpu.notes.at(-1), ...compare(after, wasm.scores.slice(0, 5)) };
        await say(`device lost: ${JSON.stringify(result.deviceLost)}`);
      }
    }
  }
} catch (error) {
  result.error = String(error?.stack ?? error);
  await say(`error: ${result.error}`);
}
await post('/result', result);
