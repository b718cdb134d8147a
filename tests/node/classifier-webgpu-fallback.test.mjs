// createClassifier's provider choice when a WebGPU adapter exists but ORT's WebGPU session cannot start
// (its backend or device fails): it must fall back to WASM and say why, not give up on the model. Runs
// the real model on onnxruntime-web's wasm build in Node; only the GPU side is a stand-in (Node has no
// WebGPU), as are navigator.gpu's adapter and ORT's WebGPU bundle.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { createClassifier, findWebgpuAdapter, gpuFailureReason, isSoftwareAdapter } from '../../web/lib/classifier.js';
import { webgpuFallbackReason } from '../../web/extension/classifier-label.js';
import { loadNodeCore } from '../../tools/lib/node-classifier.mjs';
import { encodePngRgb } from '../../tools/lib/thumbnail.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = path.join(ROOT, 'model', 'illust-only.onnx');
const contract = JSON.parse(readFileSync(path.join(ROOT, 'model', 'contract.json'), 'utf8'));
const skip = existsSync(MODEL) && existsSync(path.join(ROOT, 'build', 'wasm', 'illust_core.wasm'))
  ? false : 'needs model/illust-only.onnx and the wasm core build (npm run build)';

// A WebGPU bundle whose sessions fail the way ORT's do when its WebGPU backend cannot start.
const brokenWebgpuOrt = {
  env: { wasm: {} },
  InferenceSession: { create: async () => { throw new Error('no available backend found. ERR: [webgpu] Error: device lost'); } },
};

let hadNavigator;
before(() => {
  hadNavigator = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', {
    value: { gpu: { requestAdapter: async () => ({ name: 'stand-in adapter' }) }, hardwareConcurrency: 2 },
    configurable: true, writable: true,
  });
});
after(() => {
  if (hadNavigator) Object.defineProperty(globalThis, 'navigator', hadNavigator);
  else delete globalThis.navigator;
});

test('a WebGPU session that cannot start falls back to WASM and says why', { skip }, async () => {
  const ort = await import('onnxruntime-web');
  const notes = [];
  const classifier = await createClassifier({
    ort, ortWebgpu: async () => brokenWebgpuOrt, model: readFileSync(MODEL), contract, core: await loadNodeCore(),
    provider: 'auto', numThreads: 1, log: (line) => notes.push(line),
  });
  try {
    assert.equal(classifier.provider, 'wasm');
    assert.equal(webgpuFallbackReason(notes), 'cannot start a WebGPU session (no available backend found. ERR: [webgpu] Error: device lost)');
    // And it judges images: a generated gray frame runs end to end on the WASM session.
    const result = await classifier.classify(encodePngRgb(new Uint8Array(64 * 48 * 3).fill(128), 64, 48));
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.ok(contract.labels.includes(result.label));
  } finally {
    await classifier.release();
  }
});

test('a file that is not a model still fails, with the WASM error, after the WebGPU attempt', { skip }, async () => {
  const ort = await import('onnxruntime-web');
  const notes = [];
  await assert.rejects(createClassifier({
    ort, ortWebgpu: async () => ort, model: new TextEncoder().encode('not an onnx model at all'), contract,
    core: await loadNodeCore(), provider: 'auto', numThreads: 1, log: (line) => notes.push(line),
  }), /model: cannot load the model \(.*\); is it an ONNX file\?/);
  assert.match(webgpuFallbackReason(notes) ?? '', /^cannot start a WebGPU session/);
});

// What onnxruntime-web 1.30's WebGPU backend threw in Chromium on an NVIDIA H200 after the session's
// GPUDevice was destroyed (a device check, tools/bench/notes.md "WebGPU on a real GPU").
const ORT_DEVICE_LOST = 'failed to call OrtRun(). ERROR_CODE: 1, ERROR_MESSAGE: /mnt/azure_nvme_temp/_work/1/s/' +
  'onnxruntime/core/providers/webgpu/buffer_manager.cc:643 void onnxruntime::webgpu::BufferManager::Download(' +
  'WGPUBuffer, void *, size_t) const map_async_result.status == wgpu::MapAsyncStatus::Success was false. Failed ' +
  "to download data from buffer. wgpu::MapAsyncStatus value: 4, message: Failed to execute 'mapAsync' on " +
  "'GPUBuffer': The Device was lost before mapping was resolved.\n";

// A WebGPU bundle whose session starts and warms up, then loses its device: every later run rejects the
// way ORT's WebGPU backend does once the GPUDevice is lost.
function webgpuOrtThatLosesItsDevice(ort) {
  const state = { runs: 0, released: false };
  const session = {
    inputNames: [contract.input.name],
    outputNames: [contract.outputs.probs, contract.outputs.embedding],
    async run() {
      state.runs += 1;
      if (state.runs > 1) throw new Error(ORT_DEVICE_LOST);
      const probs = new ort.Tensor('float32', Float32Array.of(1 / 3, 1 / 3, 1 / 3), [1, 3]);
      return { [contract.outputs.probs]: probs };
    },
    async release() { state.released = true; },
  };
  return { state, module: { env: { wasm: {} }, Tensor: ort.Tensor, InferenceSession: { create: async () => session } } };
}

test('a WebGPU session whose device is lost later goes on with WASM and judges that image', { skip }, async () => {
  const ort = await import('onnxruntime-web');
  const core = await loadNodeCore();
  const image = encodePngRgb(Uint8Array.from({ length: 96 * 64 * 3 }, (_, i) => (i * 7) % 251), 96, 64);
  const lost = webgpuOrtThatLosesItsDevice(ort);
  const notes = [];
  const classifier = await createClassifier({
    ort, ortWebgpu: async () => lost.module, model: readFileSync(MODEL), contract, core,
    provider: 'auto', numThreads: 1, log: (line) => notes.push(line),
  });
  const reference = await createClassifier({ ort, model: readFileSync(MODEL), contract, core, provider: 'wasm', numThreads: 1 });
  try {
    assert.equal(classifier.provider, 'webgpu');
    assert.equal(classifier.threads, 0);
    const result = await classifier.classify(image);
    // The image that met the lost device is judged, on WASM, exactly as a WASM classifier judges it.
    assert.equal(result.ok, true, JSON.stringify(result));
    const expected = await reference.classify(image);
    assert.deepEqual(result.scores, expected.scores);
    assert.equal(result.label, expected.label);
    assert.equal(classifier.provider, 'wasm');
    assert.equal(classifier.threads, 1);
    // The popup shows the GPU's own words, not ORT's build path (it keeps 200 characters).
    assert.equal(webgpuFallbackReason(notes),
      "stopped working (Failed to execute 'mapAsync' on 'GPUBuffer': The Device was lost before mapping was resolved.)");
    assert.equal(lost.state.runs, 2, 'the lost session is not tried again');
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(lost.state.released, true, 'the lost GPU session is released');
    // And it stays on WASM for the images after it.
    const next = await classifier.classify(image);
    assert.deepEqual(next.scores, expected.scores);
    assert.equal(lost.state.runs, 2);
  } finally {
    await classifier.release();
    await reference.release();
  }
});

test('a WebGPU warm-up run that fails with ORT\'s long error is reported in the GPU\'s words', { skip }, async () => {
  const ort = await import('onnxruntime-web');
  const failing = webgpuOrtThatLosesItsDevice(ort);
  failing.state.runs = 1; // so its first run, the warm-up, already throws ORT_DEVICE_LOST
  const notes = [];
  const classifier = await createClassifier({
    ort, ortWebgpu: async () => failing.module, model: readFileSync(MODEL), contract, core: await loadNodeCore(),
    provider: 'auto', numThreads: 1, log: (line) => notes.push(line),
  });
  try {
    assert.equal(classifier.provider, 'wasm');
    assert.equal(webgpuFallbackReason(notes), "Failed to execute 'mapAsync' on 'GPUBuffer': The Device was lost before mapping was resolved.");
  } finally {
    await classifier.release();
  }
});

test('gpuFailureReason keeps the words a person can act on', () => {
  assert.equal(gpuFailureReason(new Error(ORT_DEVICE_LOST)),
    "Failed to execute 'mapAsync' on 'GPUBuffer': The Device was lost before mapping was resolved.");
  assert.equal(gpuFailureReason(new Error('failed to call OrtRun(). ERROR_CODE: 6, ERROR_MESSAGE: out of memory')), 'out of memory');
  assert.equal(gpuFailureReason(new Error('no available backend found. ERR: [webgpu] Error: device lost')),
    'no available backend found. ERR: [webgpu] Error: device lost');
  assert.equal(gpuFailureReason('plain\n  text'), 'plain text');
  assert.equal(gpuFailureReason(new Error('')), 'unknown error');
});

/** Runs fn with navigator.gpu.requestAdapter() answering adapter (the stand-in is restored after). */
async function withAdapter(adapter, fn) {
  const saved = globalThis.navigator;
  globalThis.navigator = { gpu: { requestAdapter: async () => adapter }, hardwareConcurrency: 2 };
  try { return await fn(); } finally { globalThis.navigator = saved; }
}

// Chromium's SwiftShader answers with a fallback adapter: info.isFallbackAdapter (older: adapter.isFallbackAdapter).
const SOFTWARE = { info: { vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true } };
const HARDWARE = { info: { vendor: 'nvidia', architecture: '', isFallbackAdapter: false } };

test('findWebgpuAdapter: a hardware adapter is used, a software one only when asked for', async () => {
  await withAdapter(HARDWARE, async () => assert.deepEqual(await findWebgpuAdapter(), { adapter: HARDWARE, reason: null }));
  await withAdapter(SOFTWARE, async () => {
    assert.deepEqual(await findWebgpuAdapter(), { adapter: null, reason: 'software adapter only' });
    assert.deepEqual(await findWebgpuAdapter({ allowSoftware: true }), { adapter: SOFTWARE, reason: null });
  });
  await withAdapter({ isFallbackAdapter: true }, async () => assert.equal((await findWebgpuAdapter()).reason, 'software adapter only'));
  await withAdapter(null, async () => assert.deepEqual(await findWebgpuAdapter(), { adapter: null, reason: 'no adapter' }));
  // A browser without the API (Firefox on Linux) is said so, as the extension's popup says it.
  const saved = globalThis.navigator;
  globalThis.navigator = { hardwareConcurrency: 2 };
  try {
    assert.deepEqual(await findWebgpuAdapter(), { adapter: null, reason: 'not in this browser' });
  } finally { globalThis.navigator = saved; }
  assert.equal(isSoftwareAdapter(SOFTWARE), true);
  assert.equal(isSoftwareAdapter(HARDWARE), false);
});

test("'auto' with only a software adapter runs on WASM without loading WebGPU and says why; a forced 'webgpu' takes it", { skip }, async () => {
  const ort = await import('onnxruntime-web');
  const core = await loadNodeCore();
  let webgpuLoads = 0;
  const working = webgpuOrtThatLosesItsDevice(ort); // its first run (the warm-up) works
  const ortWebgpu = async () => { webgpuLoads += 1; return working.module; };
  await withAdapter(SOFTWARE, async () => {
    const notes = [];
    const auto = await createClassifier({ ort, ortWebgpu, model: readFileSync(MODEL), contract, core, provider: 'auto', numThreads: 1, log: (line) => notes.push(line) });
    try {
      assert.equal(auto.provider, 'wasm');
      assert.equal(webgpuLoads, 0, "the WebGPU runtime is not even loaded");
      assert.deepEqual(notes, ['webgpu: software adapter only; using wasm']);
      assert.equal(webgpuFallbackReason(notes), 'software adapter only');
    } finally {
      await auto.release();
    }
    const forced = await createClassifier({ ort, ortWebgpu, model: readFileSync(MODEL), contract, core, provider: 'webgpu', numThreads: 1 });
    try {
      assert.equal(forced.provider, 'webgpu');
      assert.equal(webgpuLoads, 1);
    } finally {
      await forced.release();
    }
  });
});

test('a GPU lost while the WASM session cannot start yet: that image fails, the next one moves to WASM; nothing is left holding the dead session', { skip }, async () => {
  const ort = await import('onnxruntime-web');
  const core = await loadNodeCore();
  const image = encodePngRgb(Uint8Array.from({ length: 96 * 64 * 3 }, (_, i) => (i * 5) % 251), 96, 64);
  const lost = webgpuOrtThatLosesItsDevice(ort);
  // The base module refuses its first WASM session (as when memory runs short), then works.
  let refusals = 1;
  const base = { env: ort.env, Tensor: ort.Tensor, InferenceSession: { create: async (...args) => {
    if (refusals-- > 0) throw new Error('RangeError: WebAssembly.Memory(): could not allocate memory');
    return ort.InferenceSession.create(...args);
  } } };
  const classifier = await createClassifier({
    ort: base, ortWebgpu: async () => lost.module, model: readFileSync(MODEL), contract, core, provider: 'auto', numThreads: 1,
  });
  try {
    assert.equal(classifier.provider, 'webgpu');
    const first = await classifier.classify(image);
    assert.deepEqual([first.ok, first.code], [false, 'inference_failed']);
    assert.match(first.message, /could not allocate memory/);
    assert.equal(classifier.provider, 'webgpu', 'not called WASM while it still holds the GPU session');
    assert.equal(lost.state.released, false);
    const second = await classifier.classify(image);
    assert.equal(second.ok, true, JSON.stringify(second));
    assert.equal(classifier.provider, 'wasm');
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(lost.state.released, true, 'the lost GPU session is released once WASM runs');
  } finally {
    await classifier.release();
  }
});

test('a model with our names that cannot run our input is refused with its reason, and its session released', { skip }, async () => {
  const ort = await import('onnxruntime-web');
  const made = { created: 0, released: 0 };
  const fiveClasses = {
    env: { wasm: {} }, Tensor: ort.Tensor,
    InferenceSession: { create: async () => {
      made.created += 1;
      return {
        inputNames: [contract.input.name], outputNames: [contract.outputs.probs, contract.outputs.embedding],
        async run() { return { [contract.outputs.probs]: new ort.Tensor('float32', new Float32Array(5), [1, 5]) }; },
        async release() { made.released += 1; },
      };
    } },
  };
  await assert.rejects(createClassifier({ ort: fiveClasses, model: readFileSync(MODEL), contract, core: await loadNodeCore(), provider: 'wasm', numThreads: 1 }),
    new RegExp(`model: wrong model file: "${contract.outputs.probs}" has shape \\[1,5\\], expected \\[N,3\\]`));
  const wrongSize = { ...fiveClasses, InferenceSession: { create: async () => {
    made.created += 1;
    return {
      inputNames: [contract.input.name], outputNames: [contract.outputs.probs],
      async run() { throw new Error('failed to call OrtRun(). ERROR_CODE: 2, ERROR_MESSAGE: Got invalid dimensions for input: input for the following indices index: 2 Got: 224 Expected: 256'); },
      async release() { made.released += 1; },
    };
  } } };
  await assert.rejects(createClassifier({ ort: wrongSize, model: readFileSync(MODEL), contract, core: await loadNodeCore(), provider: 'wasm', numThreads: 1 }),
    new RegExp(`^Error: model: a run on the contract's ${contract.input.width}x${contract.input.height} input failed \\(.*Expected: 256\\)$`));
  assert.deepEqual(made, { created: 2, released: 2 });
});

test('a WebGPU session that never starts (a device request that never returns) falls back to WASM after a while; one that starts late is freed', { skip }, async () => {
  const ort = await import('onnxruntime-web');
  const late = { released: false };
  let startLate;
  const hangingOrt = {
    env: { wasm: {} },
    InferenceSession: {
      create: () => new Promise((resolve) => {
        startLate = () => resolve({ inputNames: [], outputNames: [], async release() { late.released = true; } });
      }),
    },
  };
  const notes = [];
  const classifier = await createClassifier({
    ort, ortWebgpu: async () => hangingOrt, model: readFileSync(MODEL), contract, core: await loadNodeCore(),
    provider: 'auto', numThreads: 1, log: (line) => notes.push(line), webgpuTimeoutMs: 200,
  });
  try {
    assert.equal(classifier.provider, 'wasm');
    assert.equal(webgpuFallbackReason(notes), 'session start timed out after 200 ms');
    startLate();
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(late.released, true, 'the GPU session that started after the timeout holds no memory');
  } finally {
    await classifier.release();
  }
});

test('wasmFallback: false rejects when WebGPU cannot start, with no WASM session built, and reuses the caller\'s adapter', { skip }, async () => {
  const ort = await import('onnxruntime-web');
  let wasmSessions = 0;
  const countingOrt = { ...ort, InferenceSession: { create: async (...args) => { wasmSessions += 1; return ort.InferenceSession.create(...args); } } };
  const probes = [];
  const requestAdapter = globalThis.navigator.gpu.requestAdapter;
  globalThis.navigator.gpu.requestAdapter = async () => { probes.push('probe'); return { name: 'stand-in adapter' }; };
  const notes = [];
  try {
    await assert.rejects(createClassifier({
      ort: countingOrt, ortWebgpu: async () => brokenWebgpuOrt, model: readFileSync(MODEL), contract, core: await loadNodeCore(),
      provider: 'webgpu', numThreads: 1, log: (line) => notes.push(line),
      webgpuAdapter: { name: 'found by the caller' }, wasmFallback: false,
    }), (error) => error.code === 'webgpu_unavailable' && /cannot start a WebGPU session/.test(error.message));
  } finally {
    globalThis.navigator.gpu.requestAdapter = requestAdapter;
  }
  assert.equal(wasmSessions, 0, 'no WASM session was built only to be thrown away');
  assert.deepEqual(probes, [], 'the adapter the caller found is not probed again');
  assert.match(webgpuFallbackReason(notes) ?? '', /^cannot start a WebGPU session/);
});

test('wasmFallback: false without an adapter rejects too, building nothing', { skip }, async () => {
  const ort = await import('onnxruntime-web');
  const requestAdapter = globalThis.navigator.gpu.requestAdapter;
  globalThis.navigator.gpu.requestAdapter = async () => null;
  let sessions = 0;
  const countingOrt = { ...ort, InferenceSession: { create: async () => { sessions += 1; throw new Error('not expected'); } } };
  try {
    await assert.rejects(createClassifier({
      ort: countingOrt, model: readFileSync(MODEL), contract, core: await loadNodeCore(), provider: 'auto', numThreads: 1,
      wasmFallback: false,
    }), (error) => error.code === 'webgpu_unavailable' && error.message === 'webgpu: no adapter');
  } finally {
    globalThis.navigator.gpu.requestAdapter = requestAdapter;
  }
  assert.equal(sessions, 0);
});

test('a WebGPU attempt that outlasts its budget (slow bundle, session start and warm-up) gives way to WASM in time, and says so', { skip }, async () => {
  const ort = await import('onnxruntime-web');
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  // Each step alone is within its own limit (15 s, 10 s); together they outlast a 400 ms budget.
  const slow = webgpuOrtThatLosesItsDevice(ort);
  const module = { ...slow.module, InferenceSession: { create: async (...args) => { await sleep(250); return slow.module.InferenceSession.create(...args); } } };
  const core = await loadNodeCore();
  const start = async (budget) => {
    const notes = [];
    const started = performance.now();
    const classifier = await createClassifier({
      ort, ortWebgpu: async () => { await sleep(250); return module; }, model: readFileSync(MODEL), contract, core,
      provider: 'webgpu', webgpuAdapter: { name: 'stand-in adapter' }, numThreads: 1, log: (line) => notes.push(line),
      ...(budget ? { webgpuBudgetMs: budget } : {}),
    });
    return { classifier, notes, ms: performance.now() - started };
  };
  const withBudget = await start(400);
  try {
    assert.equal(withBudget.classifier.provider, 'wasm');
    assert.match(webgpuFallbackReason(withBudget.notes), /^session start timed out after \d+ ms$/);
    assert.ok(withBudget.ms < 5000, `WASM took over without waiting for the steps' own limits (${Math.round(withBudget.ms)} ms)`);
  } finally {
    await withBudget.classifier.release();
  }
  const without = await start(0); // no budget: the same slow steps are each within their own limits
  try {
    assert.equal(without.classifier.provider, 'webgpu');
  } finally {
    await without.classifier.release();
  }
});
