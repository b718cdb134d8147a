#!/usr/bin/env node
// The command-line classifier: runs the very pipeline the extension runs (wasm core decode + preprocess,
// the ONNX model, decide() at its default setting) on image files and folders, and prints one JSON
// object per image per line, so results can be piped into jq, diffed, or checked against the browser.
// `--runtime web` swaps onnxruntime-node for onnxruntime-web's wasm build to show both give the same
// answers. Exit codes: 0 it ran (even if some images could not be read), 1 nothing could run (no core
// build, bad contract, wrong or corrupt model), 2 usage error.
import { IMAGE_EXTENSIONS, readImageFile, walkImageFiles } from './lib/image-files.mjs';
import { oneLine } from './lib/metrics.mjs';
import { DEFAULT_CONTRACT, RUNTIMES, SetupError, openNodeClassifier } from './lib/node-classifier.mjs';
import { UsageError, parseCommandLine, parseToolArgs, runIfMain } from './lib/run-cli.mjs';

export const USAGE = `Usage: node tools/classify.mjs [options] PATH...

Classifies images as illustration / screenshot / photo. PATHs are files or folders (walked
recursively, following symlinks, taking files with image extensions; hidden folders skipped).
Prints one JSON line per image:
  {"path":…,"label":…,"scores":{"illustration":…,"screenshot":…,"photo":…},"ms":…}
or, for an image that could not be read or decoded:
  {"path":…,"error":"unsupported format: avif"}
"label" is the extension's decision at its default setting (decide() in web/lib/decide.js).

Options:
  --runtime node|web   ONNX Runtime flavour: onnxruntime-node (default) or onnxruntime-web's wasm
  --model FILE         ONNX model (default: the model_file named by the contract, next to it)
  --contract FILE      preprocessing contract (default: model/contract.json)
  --threads N          inference threads (default: one fewer than the cores, 1 to 4)
  --strictness S       slider position in [0,1] for the label (default 0.5 = contract default)
  --all-files          in folders, take every file, not only image extensions
  --pretty             human-readable aligned lines instead of JSON
  --summary            print counts per label, errors and timings to stderr at the end
  -h, --help           show this help

Exit status: 0 when it ran (even if some images failed), 1 when nothing could run (missing core
build, unreadable contract, wrong or corrupt model), 2 for usage errors.`;

const round = (x, digits) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

/** Parses argv (without node and script). Returns the options or throws UsageError. */
export function parseClassifyArgs(argv) {
  const { values, positionals } = parseToolArgs(argv, {
    runtime: { type: 'string', default: 'node' },
    model: { type: 'string' },
    contract: { type: 'string', default: DEFAULT_CONTRACT },
    threads: { type: 'string' },
    strictness: { type: 'string' },
    'all-files': { type: 'boolean', default: false },
    pretty: { type: 'boolean', default: false },
    summary: { type: 'boolean', default: false },
  });
  if (values.help) return { help: true };
  if (!RUNTIMES.includes(values.runtime)) throw new UsageError(`--runtime must be ${RUNTIMES.join(' or ')}, not "${values.runtime}"`);
  let threads;
  if (values.threads !== undefined) {
    threads = Number(values.threads);
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new UsageError(`--threads must be an integer from 1 to 64, not "${values.threads}"`);
  }
  let strictness;
  if (values.strictness !== undefined) {
    strictness = Number(values.strictness);
    if (values.strictness.trim() === '' || !Number.isFinite(strictness) || strictness < 0 || strictness > 1) {
      throw new UsageError(`--strictness must be a number from 0 to 1, not "${values.strictness}"`);
    }
  }
  if (positionals.length === 0) throw new UsageError('no PATH given: name image files or folders to classify');
  return {
    help: false, runtime: values.runtime, model: values.model, contract: values.contract, threads, strictness,
    allFiles: values['all-files'], pretty: values.pretty, summary: values.summary, paths: positionals,
  };
}

/** The JSON line for one classified image (the CLI's output format). */
export function resultLine(file, result) {
  if (!result.ok) return { path: file, error: result.message ?? result.error ?? 'unknown error' };
  const scores = Object.fromEntries(Object.entries(result.scores).map(([name, p]) => [name, round(p, 6)]));
  return { path: file, label: result.label, scores, ms: round(result.ms.total, 2) };
}

// One line per image even for names with a newline or a tab in them (JSON lines escape them anyway),
// in the path and in an error, which may quote it.
function prettyLine(line, labels) {
  if (line.error) return `${'error'.padEnd(12)} ${oneLine(line.path)}: ${oneLine(line.error)}`;
  const scores = labels.map((name) => `${name.slice(0, 5)} ${line.scores[name].toFixed(3)}`).join('  ');
  return `${String(line.label).padEnd(12)} ${scores}  ${line.ms.toFixed(1).padStart(7)} ms  ${oneLine(line.path)}`;
}

function median(values) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs the CLI; returns the exit code. io: {stdout, stderr} writers (process streams by default). */
export async function main(argv, io = { stdout: process.stdout, stderr: process.stderr }) {
  const say = (text) => io.stderr.write(`${text}\n`);
  const { options, exit } = parseCommandLine('classify', USAGE, parseClassifyArgs, argv, io);
  if (!options) return exit;

  let opened;
  try {
    opened = await openNodeClassifier({
      runtime: options.runtime, model: options.model, contract: options.contract, threads: options.threads,
      log: (message) => say(`classify: ${message}`),
    });
  } catch (error) {
    if (!(error instanceof SetupError)) throw error;
    say(`classify: ${error.message}`);
    return 1;
  }
  const { classifier, contract } = opened;
  const settings = options.strictness === undefined ? undefined : { strictness: options.strictness };

  const counts = {};
  const times = [];
  let errors = 0;
  const t0 = performance.now();
  for await (const entry of walkImageFiles(options.paths, { allFiles: options.allFiles })) {
    let line;
    if (entry.error) {
      line = { path: entry.path, error: entry.error };
    } else {
      const read = await readImageFile(entry.fsPath ?? entry.path);
      line = read.ok
        ? resultLine(entry.path, await classifier.classify(read.bytes, { settings }))
        : { path: entry.path, error: read.error };
    }
    if (line.error) errors += 1;
    else { counts[line.label] = (counts[line.label] ?? 0) + 1; times.push(line.ms); }
    io.stdout.write(`${options.pretty ? prettyLine(line, contract.labels) : JSON.stringify(line)}\n`);
  }
  const total = times.length + errors;
  // Nothing to judge is not an error (exit 0), but a silent run would look like a hang or a bug.
  if (total === 0) say(`classify: no image files found in ${options.paths.join(' ')} (folders are searched for ${IMAGE_EXTENSIONS.join(' ')}; --all-files takes every file)`);
  if (options.summary) {
    const perLabel = contract.labels.map((name) => `${name} ${counts[name] ?? 0}`).join(', ');
    say(`classify: ${total} file(s): ${perLabel}, errors ${errors}; ${times.length ? `median ${median(times).toFixed(1)} ms/image` : 'no image judged'}; ` +
      `runtime ${opened.runtime} (provider ${classifier.provider}, ${classifier.threads} thread(s)); ` +
      `wall ${((performance.now() - t0) / 1000).toFixed(1)} s; model ${opened.modelPath}`);
  }
  await classifier.release?.();
  return 0;
}

await runIfMain(import.meta.url, 'classify', main);
