// Two ONNX models of model/contract.json side by side: onnxruntime-web's wasm build (what the extension
// and demo run) in Node, 1 thread, the two sessions interleaved run by run on the same tensors, so the
// machine's load falls on both alike. Prints each median and their ratio: the check that a new model
// stays within the cost the issue allows (1.3x) before the full benchmark runs.
//   node tools/bench/model-ab.mjs OLD.onnx NEW.onnx [RUNS=150]
// e.g. git show HEAD~1:model/illust-only.onnx > /tmp/old.onnx; node tools/bench/model-ab.mjs /tmp/old.onnx model/illust-only.onnx
import { readFileSync } from 'node:fs';
import path from 'node:path';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const ort = await import('onnxruntime-web');
ort.env.wasm.numThreads = 1;
const contract = JSON.parse(readFileSync(path.join(root, 'model/contract.json'), 'utf8'));
const [a, b, runs = '150'] = process.argv.slice(2);
if (!a || !b || !(Number(runs) > 0)) { console.error('usage: node tools/bench/model-ab.mjs OLD.onnx NEW.onnx [RUNS]'); process.exit(2); }
const sessions = await Promise.all([a, b].map((f) => ort.InferenceSession.create(readFileSync(f), { executionProviders: ['wasm'] })));
const dims = [1, 3, contract.input.height, contract.input.width];
const tensors = Array.from({ length: 8 }, (_, k) => new ort.Tensor('float32', Float32Array.from({ length: dims.reduce((x, y) => x * y) }, (_, i) => ((i * (k + 3)) % 255) / 255), dims));
const times = [[], []];
for (let i = 0; i < 10; i++) for (const s of sessions) await s.run({ [contract.input.name]: tensors[i % 8] });
for (let i = 0; i < Number(runs); i++) {
  const order = i % 2 ? [1, 0] : [0, 1];
  for (const j of order) { const t = performance.now(); await sessions[j].run({ [contract.input.name]: tensors[i % 8] }); times[j].push(performance.now() - t); }
}
const median = (xs) => xs.slice().sort((x, y) => x - y)[xs.length >> 1];
const [ma, mb] = times.map(median);
console.log(`A ${path.basename(a)} median ${ma.toFixed(2)} ms · B ${path.basename(b)} median ${mb.toFixed(2)} ms · B/A ${(mb / ma).toFixed(3)} (${runs} interleaved runs each, 1 thread)`);
