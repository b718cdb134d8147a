// Two ONNX models of model/contract.json side by side: onnxruntime-web's wasm build (what the extension
// and demo run) in Node, 1 thread, the two sessions interleaved run by run on the same tensors, so the
// machine's load falls on both alike. Prints each median and their ratio: the check that a new model
// stays within the cost the issue allows (1.3x) before the full benchmark runs.
//   node tools/bench/model-ab.mjs OLD.onnx NEW.onnx [RUNS=150]
// e.g. git show HEAD~1:model/illust-only.onnx > /tmp/old.onnx; node tools/bench/model-ab.mjs /tmp/old.onnx model/illust-only.onnx
// Each model is fed the input size of the contract.json beside it if that names it (an export's --out-dir), else of
// model/contract.json, so models of different input sizes compare too (preprocessing not included).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const ort = await import('onnxruntime-web');
ort.env.wasm.numThreads = 1;
const [a, b, runs = '150'] = process.argv.slice(2);
if (!a || !b || !(Number(runs) > 0)) { console.error('usage: node tools/bench/model-ab.mjs OLD.onnx NEW.onnx [RUNS]'); process.exit(2); }
const contractOf = (model) => { // the contract beside the model if it names this file, else model/'s
  const beside = path.join(path.dirname(model), 'contract.json');
  const own = existsSync(beside) ? JSON.parse(readFileSync(beside, 'utf8')) : null;
  return own?.model_file === path.basename(model) ? own : JSON.parse(readFileSync(path.join(root, 'model/contract.json'), 'utf8'));
};
const models = [a, b].map((file) => {
  const { input } = contractOf(file);
  const dims = [1, 3, input.height, input.width];
  const tensors = Array.from({ length: 8 }, (_, k) => new ort.Tensor('float32', Float32Array.from({ length: dims.reduce((x, y) => x * y) }, (_, i) => ((i * (k + 3)) % 255) / 255), dims));
  return { file, inputName: input.name, size: `${input.width}x${input.height}`, tensors };
});
const sessions = await Promise.all(models.map(({ file }) => ort.InferenceSession.create(readFileSync(file), { executionProviders: ['wasm'] })));
const run = (j, i) => sessions[j].run({ [models[j].inputName]: models[j].tensors[i % 8] });
const times = [[], []];
for (let i = 0; i < 10; i++) for (let j = 0; j < 2; j++) await run(j, i);
for (let i = 0; i < Number(runs); i++) {
  const order = i % 2 ? [1, 0] : [0, 1];
  for (const j of order) { const t = performance.now(); await run(j, i); times[j].push(performance.now() - t); }
}
const median = (xs) => xs.slice().sort((x, y) => x - y)[xs.length >> 1];
const [ma, mb] = times.map(median);
const label = (j) => `${path.basename(models[j].file)} (${models[j].size})`;
console.log(`A ${label(0)} median ${ma.toFixed(2)} ms · B ${label(1)} median ${mb.toFixed(2)} ms · B/A ${(mb / ma).toFixed(3)} (${runs} interleaved runs each, 1 thread)`);
