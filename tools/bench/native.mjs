// The native limit: what the same model and the same images cost outside the browser, as runners
// for tools/bench.mjs (same interface as the browser suites: setup, chunk, finish).
//   node: wasm core + onnxruntime-node   the CLI's pipeline in its own Node process (node-runner.mjs):
//                                        the wasm core run by Node for decode + preprocess, ONNX
//                                        Runtime's native CPU build for inference (1 and 2 threads)
//   native core                          the C++ core compiled natively (g++ -O3), decode + preprocess
//                                        only (tools/bench/native/)
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareNativeCore } from './native/run.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPLY_TIMEOUT_MS = 120000;

/** A forked node-runner.mjs with request/reply over IPC; a reply that never comes becomes {error}. */
function startChild() {
  const child = fork(path.join(HERE, 'node-runner.mjs'), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-2000); });
  const request = (message) => new Promise((resolve) => {
    const timer = setTimeout(() => { cleanup(); resolve({ error: `node runner: no reply to ${message.type} in ${REPLY_TIMEOUT_MS / 1000} s` }); }, REPLY_TIMEOUT_MS);
    const onMessage = (reply) => { cleanup(); resolve(reply); };
    const onExit = (code) => { cleanup(); resolve({ error: `node runner exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}` }); };
    const cleanup = () => { clearTimeout(timer); child.off('message', onMessage); child.off('exit', onExit); };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.send(message);
  });
  return { request, kill: () => child.kill() };
}

/** variant (e.g. 'int8'): a lever row for another model file, compared with the plain node row. */
export function nodeOrtRunner({ root, threads, modelFile, variant }) {
  let child;
  const plain = `node-ort:${threads}`;
  return {
    id: variant ? `${plain}:${variant}` : plain, group: variant ? 'levers' : 'native', suite: 'node-ort', where: 'node',
    options: { threads }, baseId: variant ? plain : undefined,
    title: `${variant ? 'lever: ' : ''}node: wasm core + onnxruntime-node${variant ? ` with the ${variant} model` : ''}, ${threads} thread${threads > 1 ? 's' : ''}`,
    async setup({ images, warmup }) {
      child = startChild();
      return child.request({ type: 'setup', root, files: images.map((i) => i.file), modelFile, threads, warmup });
    },
    chunk: (start, end, repeat) => child.request({ type: 'chunk', start, end, repeat }),
    async finish() {
      const reply = await child.request({ type: 'close' });
      child.kill();
      return { nodeRss: reply.maxRssBytes };
    },
  };
}

export function nativeCoreRunner({ root, log }) {
  let run;
  let files;
  return {
    id: 'native-core', group: 'native', suite: 'native-core', where: 'native', options: {},
    title: 'native core (g++ -O3): decode + preprocess',
    async setup({ images }) {
      try {
        run = await prepareNativeCore({ root, log });
      } catch (error) {
        return { error: error.message };
      }
      files = images.map((i) => i.file);
      return { startupMs: NaN, count: files.length, info: { compiler: 'g++ -O3' } };
    },
    // A fresh process per chunk: it warms up on the chunk's first image (not counted) before timing.
    // With repeat > 1 the chunk's files are passed that many times and each image keeps its fastest.
    async chunk(start, end, repeat = 1) {
      const part = files.slice(start, end);
      const rows = await run(Array.from({ length: repeat }, () => part).flat(), 1);
      return part.map((_, i) => rows.filter((__, j) => j % part.length === i).sort((a, b) => a.total - b.total)[0]);
    },
    finish: async () => ({}),
  };
}
