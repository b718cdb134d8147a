// The native limit: what the same model and the same images cost outside the browser.
//   node: wasm core + onnxruntime-node   tools/lib/node-classifier.mjs, i.e. the CLI's pipeline: the
//                                        wasm core run by Node for decode + preprocess, ONNX Runtime's
//                                        native CPU build for inference (1 and 2 threads)
//   native core                          the C++ core compiled natively (g++ -O2), decode + preprocess
//                                        only, built and run by tools/bench/native/ (see there)
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { sampleMemory } from './memory.mjs';
import { runNativeCoreBench } from './native/run.mjs';

async function runNodeOrt({ root, images, modelFile, threads, warmup }) {
  const { openNodeClassifier } = await import(pathToFileURL(path.join(root, 'tools', 'lib', 'node-classifier.mjs')).href);
  const bytes = await Promise.all(images.map((i) => readFile(i.file).then((b) => new Uint8Array(b))));
  const sampler = sampleMemory();
  try {
    const t0 = performance.now();
    const { classifier } = await openNodeClassifier({ runtime: 'node', model: modelFile, threads });
    const startupMs = performance.now() - t0;
    for (let i = 0; i < warmup; i++) await classifier.classify(bytes[i % bytes.length]);
    const rows = [];
    for (const b of bytes) {
      const t = performance.now();
      const result = await classifier.classify(b);
      const total = performance.now() - t;
      rows.push(result.ok ? { decode: result.ms.preprocess, infer: result.ms.inference, total, label: result.label }
        : { error: `${result.code}: ${result.message}`, decode: result.ms.preprocess, infer: 0, total });
    }
    await classifier.release?.();
    const memory = await sampler.stop();
    return { startupMs, rows, info: { provider: classifier.provider, threads: classifier.threads }, memory: { nodeRss: memory.peakNodeRss } };
  } catch (error) {
    await sampler.stop();
    return { error: String(error?.message ?? error) };
  }
}

/** Runs every native suite; each result is {id, title, ...} with rows or error. Never throws. */
export async function runNativeSuites({ root, images, modelFile, warmup, log }) {
  const results = [];
  for (const threads of [1, 2]) {
    const title = `node: wasm core + onnxruntime-node, ${threads} thread${threads > 1 ? 's' : ''}`;
    log(`${title} ...`);
    const result = await runNodeOrt({ root, images, modelFile, threads, warmup });
    log(result.error ? `  unavailable: ${result.error}` : `  done (start-up ${result.startupMs.toFixed(0)} ms)`);
    results.push({ id: `node-ort:${threads}`, suite: 'node-ort', title, options: { threads }, ...result });
  }
  log('native core (g++): decode + preprocess ...');
  const core = await runNativeCoreBench({ root, images, warmup, log });
  log(core.error ? `  unavailable: ${core.error}` : '  done');
  results.push({ id: 'native-core', suite: 'native-core', title: 'native core (g++ -O2): decode + preprocess', options: {}, ...core });
  return results;
}
