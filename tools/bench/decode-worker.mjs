// Module worker for the "pipelined" lever suite (harness.mjs): runs the wasm core's toTensor off the
// main thread so the next image decodes while ONNX Runtime runs the current one. Messages in:
// {id, bytes, contract}; out: {id, ok, tensor (transferred), dims, ms} or {id, ok:false, code, message}.
import { loadCore } from '/web/lib/core.js';

const corePromise = loadCore({ moduleUrl: '/build/wasm/illust_core.mjs' });

self.onmessage = async ({ data: { id, bytes, contract } }) => {
  try {
    const core = await corePromise;
    const t0 = performance.now();
    const result = core.toTensor(bytes, contract);
    const ms = performance.now() - t0;
    if (!result.ok) return self.postMessage({ id, ok: false, code: result.code, message: result.message, ms });
    self.postMessage({ id, ok: true, tensor: result.tensor, dims: result.dims, ms }, [result.tensor.buffer]);
  } catch (error) {
    self.postMessage({ id, ok: false, code: 'internal', message: String(error?.message ?? error) });
  }
};
