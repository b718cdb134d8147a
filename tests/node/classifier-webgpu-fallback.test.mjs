// createClassifier's provider choice when a WebGPU adapter exists but ORT's WebGPU session cannot start
// (its backend or device fails): it must fall back to WASM and say why, not give up on the model. Runs
// the real model on onnxruntime-web's wasm build in Node; only the GPU side is a stand-in (Node has no
// WebGPU), as are navigator.gpu's adapter and ORT's WebGPU bundle.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { createClassifier } from '../../web/lib/classifier.js';
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
