// Sets up the project's real classification pipeline inside Node: the wasm core from build/wasm (the
// same binary the browser runs), the model and its contract from model/, and ONNX Runtime, either
// onnxruntime-node (native CPU) or onnxruntime-web (its wasm build, what browsers run). Used by
// tools/classify.mjs and tools/evaluate.mjs. Anything that stops every image from being classified
// (no core build, unreadable contract, wrong model file) throws a SetupError with a message for users.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { MAX_MODEL_FILE_BYTES, readOptionFile, readOptionText } from './image-files.mjs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_CONTRACT = path.join(ROOT, 'model', 'contract.json');
export const CORE_MODULE = path.join(ROOT, 'build', 'wasm', 'illust_core.mjs');
export const CORE_WASM = path.join(ROOT, 'build', 'wasm', 'illust_core.wasm');
export const RUNTIMES = Object.freeze(['node', 'web']);

/** A failure that makes the whole run impossible; its message is meant for the user as is. */
export class SetupError extends Error {}

/** Reads and checks model/contract.json (or another contract file). */
export async function loadContract(file = DEFAULT_CONTRACT) {
  let text;
  try {
    text = await readOptionText(file);
  } catch (error) {
    throw new SetupError(`contract: cannot read ${file}: ${error.message}`);
  }
  let contract;
  try {
    contract = JSON.parse(text);
  } catch (error) {
    throw new SetupError(`contract: ${file} is not valid JSON (${error.message})`);
  }
  const ok = Array.isArray(contract?.labels) && contract.labels.length >= 2 && contract.input?.name &&
    Number.isInteger(contract.input.width) && Number.isInteger(contract.input.height) &&
    contract.preprocess && contract.decision && contract.outputs?.probs;
  if (!ok) throw new SetupError(`contract: ${file} lacks labels, input, outputs, preprocess or decision`);
  // decide()'s reading of the decision: a threshold that is not a probability (a typo, a percentage,
  // a missing min/max once --strictness moves off 0.5) would label every illustration as something
  // else, quietly, so it is refused here once instead.
  const problem = decisionProblem(contract);
  if (problem) throw new SetupError(`contract: ${file}: ${problem}`);
  // The core's own reading of the preprocessing (what every image would otherwise fail with).
  const { tensorOptionsFromContract } = await import(pathToFileURL(path.join(ROOT, 'web', 'lib', 'core.js')).href);
  const tensorProblem = tensorOptionsFromContract(contract);
  if (typeof tensorProblem === 'string') throw new SetupError(`contract: ${file}: ${tensorProblem}`);
  return contract;
}

/**
 * What makes contract.decision unusable by decide() (web/lib/decide.js), or null: positive_label must be
 * one of the labels, and hide_below_min ≤ hide_below ≤ hide_below_max probabilities strictly between 0
 * and 1 (the strictness slider interpolates in log-odds between them).
 */
export function decisionProblem(contract) {
  const { positive_label: positive, hide_below: mid, hide_below_min: lo, hide_below_max: hi } = contract.decision ?? {};
  if (!contract.labels?.includes(positive)) {
    return `decision.positive_label must be one of the labels ${JSON.stringify(contract.labels)} (got ${JSON.stringify(positive)})`;
  }
  const probability = (x) => typeof x === 'number' && x > 0 && x < 1;
  if (![lo, mid, hi].every(probability) || !(lo <= mid && mid <= hi)) {
    return 'decision.hide_below_min <= hide_below <= hide_below_max must be numbers strictly between 0 and 1 ' +
      `(got ${JSON.stringify(lo)}, ${JSON.stringify(mid)}, ${JSON.stringify(hi)})`;
  }
  return null;
}

/** The model file a contract names, next to the contract. */
export function defaultModelPath(contractFile = DEFAULT_CONTRACT, contract) {
  return path.join(path.dirname(contractFile), contract?.model_file ?? 'illust-only.onnx');
}

let corePromise = null;
/** Loads the wasm core once per process from build/wasm (built by `npm run build`). */
export function loadNodeCore() {
  corePromise ??= (async () => {
    let wasmBinary;
    try {
      wasmBinary = await readFile(CORE_WASM);
    } catch {
      throw new SetupError(`wasm core not built: ${path.relative(process.cwd(), CORE_WASM) || CORE_WASM} is missing; run \`npm run build\``);
    }
    const { loadCore } = await import(pathToFileURL(path.join(ROOT, 'web', 'lib', 'core.js')).href);
    try {
      return await loadCore({ wasmBinary, moduleUrl: pathToFileURL(CORE_MODULE).href });
    } catch (error) {
      throw new SetupError(`wasm core: cannot load ${CORE_MODULE}: ${error?.message ?? error}`);
    }
  })();
  corePromise.catch(() => { corePromise = null; });
  return corePromise;
}

/** Imports the ORT flavour for a runtime name: 'node' → onnxruntime-node, 'web' → onnxruntime-web (wasm). */
export async function importOrt(runtime) {
  if (runtime === 'node') return import('onnxruntime-node');
  if (runtime === 'web') return import('onnxruntime-web');
  throw new SetupError(`unknown runtime "${runtime}" (expected ${RUNTIMES.join(' or ')})`);
}

/**
 * Opens a classifier for one model. options: {runtime = 'node', model (path), contract (path),
 * threads (default: threadsForCores(cores)), cores (default: the cores this process may use), log}.
 * Resolves to {classifier, contract, core, runtime, modelPath, contractPath}; rejects with SetupError
 * when nothing could run.
 */
export async function openNodeClassifier({ runtime = 'node', model, contract: contractPath = DEFAULT_CONTRACT, threads,
  cores = os.availableParallelism(), log = () => {} } = {}) {
  const contract = await loadContract(contractPath);
  const modelPath = model ?? defaultModelPath(contractPath, contract);
  let modelBytes;
  try {
    modelBytes = await readOptionFile(modelPath, { maxBytes: MAX_MODEL_FILE_BYTES });
  } catch (error) {
    throw new SetupError(`model: cannot read ${modelPath}: ${error.message}`);
  }
  const [core, ort] = await Promise.all([loadNodeCore(), importOrt(runtime)]);
  if (runtime === 'web') ort.env.logLevel = 'error'; // keep ORT's own warnings off our stderr
  const { createClassifier, threadsForCores } = await import(pathToFileURL(path.join(ROOT, 'web', 'lib', 'classifier.js')).href);
  let classifier;
  try {
    classifier = await createClassifier({
      ort, model: modelBytes, contract, core, provider: runtime === 'node' ? 'cpu' : 'wasm',
      // Node 20 has no navigator.hardwareConcurrency: left to classifier.js, every run got 1 thread.
      numThreads: threads ?? threadsForCores(cores), log,
    });
  } catch (error) {
    throw new SetupError(`${error?.message ?? error} [${modelPath}]`);
  }
  return { classifier, contract, core, runtime, modelPath, contractPath };
}
