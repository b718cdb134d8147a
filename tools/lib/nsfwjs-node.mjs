// The baseline we compare against: nsfwjs 4.4.0 (MobileNetV2, five classes) on TensorFlow.js in Node,
// fed pixels decoded by our own wasm core so both models see exactly the same images. nsfwjs is an NSFW
// filter, not an illustration detector; its Drawing+Hentai classes are the nearest thing to
// "illustration", which is what the founding experiment used and what evaluate.mjs reports.
import { createRequire } from 'node:module';
import path from 'node:path';

export const NSFW_CLASSES = Object.freeze(['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy']);
export const NSFW_ILLUSTRATION_CLASSES = Object.freeze(['Drawing', 'Hentai']);

/** p(illustration) for nsfwjs: Drawing + Hentai (so ≥ 0.5 is its two-way argmax). */
export function nsfwIllustrationScore(scores) {
  return NSFW_ILLUSTRATION_CLASSES.reduce((sum, name) => sum + (scores[name] ?? 0), 0);
}

/** Runs fn with console.info/log silenced: nsfwjs and tfjs greet on stdout, which would corrupt JSON output. */
async function quietly(fn) {
  const { info, log, warn } = console;
  console.info = () => {}; console.log = () => {}; console.warn = () => {};
  try { return await fn(); } finally { Object.assign(console, { info, log, warn }); }
}

/**
 * Loads nsfwjs on tfjs's wasm backend (falls back to tfjs's cpu backend if wasm cannot start).
 * options: {core (our loaded wasm core), modelName = 'MobileNetV2', backend = 'wasm'}
 * Resolves to {backend, modelName, classify(bytes) → {ok:true, scores, illustration, ms} | {ok:false, code, message}}.
 */
export async function loadNsfwBaseline({ core, modelName = 'MobileNetV2', backend = 'wasm' } = {}) {
  if (!core) throw new Error('nsfwjs baseline: our wasm core is required to decode images');
  const tf = await import('@tensorflow/tfjs');
  const nsfwjs = await quietly(async () => {
    if (backend === 'wasm') {
      const wasmBackend = await import('@tensorflow/tfjs-backend-wasm');
      const require = createRequire(import.meta.url);
      const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
      wasmBackend.setWasmPaths(`${wasmDir}${path.sep}`);
    }
    if (!(await tf.setBackend(backend).catch(() => false))) await tf.setBackend('cpu');
    await tf.ready();
    return import('nsfwjs');
  });
  const model = await quietly(() => nsfwjs.load(modelName));

  async function classify(bytes) {
    const t0 = performance.now();
    const decoded = core.decode(bytes);
    if (!decoded.ok) return { ok: false, code: decoded.code, message: decoded.message };
    const image = tf.tensor3d(decoded.pixels, [decoded.height, decoded.width, 3], 'int32');
    try {
      const top = await model.classify(image, NSFW_CLASSES.length);
      const scores = Object.fromEntries(NSFW_CLASSES.map((name) => [name, top.find((c) => c.className === name)?.probability ?? 0]));
      return { ok: true, scores, illustration: nsfwIllustrationScore(scores), ms: performance.now() - t0 };
    } catch (error) {
      return { ok: false, code: 'inference_failed', message: `nsfwjs failed: ${error?.message ?? error}` };
    } finally {
      image.dispose();
    }
  }

  return { backend: tf.getBackend(), modelName, classify, dispose: () => model.dispose() };
}
