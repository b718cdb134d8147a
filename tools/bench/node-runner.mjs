// Child process that runs one Node suite for tools/bench.mjs (forked, driven over IPC), so each suite
// has its own process: its start-up, memory (peak RSS from getrusage) and threads are its own.
// Suite 'node-ort': tools/lib/node-classifier.mjs, i.e. the CLI's pipeline: the wasm core run by Node
// for decode + preprocess, onnxruntime-node (native CPU) for inference.
// Messages in: {type:'setup', root, files, modelFile, threads, warmup} · {type:'chunk', start, end, repeat} ·
// {type:'close'}. Each gets one reply; failures are replies with {error}, never a crash.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

let images = [];
let classifier = null;

async function setup({ root, files, modelFile, threads, warmup }) {
  const { openNodeClassifier } = await import(pathToFileURL(path.join(root, 'tools', 'lib', 'node-classifier.mjs')).href);
  images = await Promise.all(files.map((f) => readFile(f).then((b) => new Uint8Array(b))));
  const t0 = performance.now();
  ({ classifier } = await openNodeClassifier({ runtime: 'node', model: modelFile, threads }));
  const startupMs = performance.now() - t0;
  for (let i = 0; i < warmup; i++) await classifier.classify(images[i % images.length]);
  return { startupMs, count: images.length, info: { provider: classifier.provider, threads: classifier.threads } };
}

/** Like the page's runChunk: with repeat > 1 the fastest of `repeat` runs per image is kept. */
async function chunk({ start, end, repeat = 1 }) {
  const rows = [];
  for (let i = start; i < Math.min(end, images.length); i++) {
    let best = null;
    for (let r = 0; r < repeat; r++) {
      const cpu0 = process.cpuUsage();
      const t = performance.now();
      const result = await classifier.classify(images[i]);
      const total = performance.now() - t;
      const { user, system } = process.cpuUsage(cpu0); // the whole process: onnxruntime's threads too
      const cpu = (user + system) / 1000;
      const row = result.ok ? { decode: result.ms.preprocess, infer: result.ms.inference, total, cpu, label: result.label }
        : { error: `${result.code}: ${result.message}`, decode: result.ms.preprocess, infer: 0, total, cpu };
      if (!best || row.total < best.total) best = row;
    }
    rows.push(best);
  }
  return rows;
}

process.on('message', async (message) => {
  let reply;
  try {
    if (message.type === 'setup') reply = await setup(message);
    else if (message.type === 'chunk') reply = await chunk(message);
    else if (message.type === 'close') {
      await classifier?.release?.();
      reply = { maxRssBytes: process.resourceUsage().maxRSS * 1024 };
    } else reply = { error: `unknown message ${message.type}` };
  } catch (error) {
    reply = { error: String(error?.message ?? error) };
  }
  process.send(reply, () => { if (message.type === 'close') process.exit(0); });
});
