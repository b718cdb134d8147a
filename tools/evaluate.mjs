#!/usr/bin/env node
// Measures the classifier on a labelled folder (class/source/image, like ../shared/data) through the
// real pipeline (wasm core + ONNX Runtime + decide() at its default), side by side with the nsfwjs
// baseline, and automates the founding experiment's error analysis: confusion matrix, accuracy, per-class
// recall/precision, figures per source, and an HTML page of every misclassified image with its
// thumbnail and scores. When the model's fold files are given (model/folds.json), it also reports the
// honest held-out figures (each image judged without its source in training) apart from in-sample ones.
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { collectDataset, readCorrections } from './lib/dataset.mjs';
import { buildSections, renderHtml, renderMarkdown, renderText } from './lib/evaluation-report.mjs';
import { loadHeldOut } from './lib/held-out.mjs';
import { readImageFile } from './lib/image-files.mjs';
import { DEFAULT_CONTRACT, ROOT, RUNTIMES, SetupError, loadContract, openNodeClassifier } from './lib/node-classifier.mjs';
import { loadNsfwBaseline } from './lib/nsfwjs-node.mjs';
import { thumbnailPng } from './lib/thumbnail.mjs';
import { UsageError, parseCommandLine, parseToolArgs, runIfMain } from './lib/run-cli.mjs';

export const USAGE = `Usage: node tools/evaluate.mjs DATA_DIR [options]

Evaluates the classifier on a labelled folder laid out as DATA_DIR/<class>/<source>/<image>
(classes: the contract's labels, e.g. ../shared/data). Prints the confusion matrix, accuracy,
per-class recall and precision, a two-way illustration view beside the nsfwjs baseline, and
figures per source; writes report.html (misclassified images with thumbnails in thumbs/ and
scores), report.md, predictions.jsonl and args.json to the output folder.

Options:
  --out DIR               output folder (default: build/evaluation/<date-time>)
  --folds FILE            folds.json from training (oof-predictions.tsv read beside it) or the .tsv,
                          for honest held-out figures (default: model/folds.json when it exists;
                          "none" to skip)
  --corrections FILE      label corrections "file_name<TAB>label" (default: model/label-corrections.tsv
                          when it exists; "none" to skip)
  --limit-per-source N    evaluate at most N images per source (evenly spaced), for quick runs
  --runtime node|web      ONNX Runtime flavour (default node)
  --model FILE            ONNX model (default: next to the contract)
  --contract FILE         preprocessing contract (default: model/contract.json)
  --threads N             inference threads (default: one fewer than the cores, 1 to 4)
  --no-baseline           skip nsfwjs
  --no-thumbnails         do not write thumbnails (thumbs/*.png) for report.html
  --thumbnail-size PX     longest side of thumbnails (default 160)
  --summary-md FILE       also write the markdown summary to FILE (e.g. docs/evaluation/SUMMARY.md)
  -h, --help              show this help

Exit status: 0 when it ran, 1 when nothing could run (missing core build, wrong model), 2 usage error.`;

function positiveInteger(text, flag, max = 1e9) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be an integer from 1 to ${max}, not "${text}"`);
  return n;
}

export function parseEvaluateArgs(argv) {
  const { values, positionals } = parseToolArgs(argv, {
    out: { type: 'string' }, folds: { type: 'string' }, corrections: { type: 'string' },
    'limit-per-source': { type: 'string' }, runtime: { type: 'string', default: 'node' },
    model: { type: 'string' }, contract: { type: 'string', default: DEFAULT_CONTRACT }, threads: { type: 'string' },
    'no-baseline': { type: 'boolean', default: false }, 'no-thumbnails': { type: 'boolean', default: false },
    'thumbnail-size': { type: 'string' }, 'summary-md': { type: 'string' },
  });
  if (values.help) return { help: true };
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one DATA_DIR, got ${positionals.length}` : 'no DATA_DIR given');
  if (!RUNTIMES.includes(values.runtime)) throw new UsageError(`--runtime must be ${RUNTIMES.join(' or ')}, not "${values.runtime}"`);
  return {
    help: false, dataDir: positionals[0], out: values.out, folds: values.folds, corrections: values.corrections,
    limitPerSource: values['limit-per-source'] === undefined ? undefined : positiveInteger(values['limit-per-source'], '--limit-per-source'),
    runtime: values.runtime, model: values.model, contract: values.contract,
    threads: values.threads === undefined ? undefined : positiveInteger(values.threads, '--threads', 64),
    baseline: !values['no-baseline'], thumbnails: !values['no-thumbnails'],
    thumbnailSize: values['thumbnail-size'] === undefined ? 160 : positiveInteger(values['thumbnail-size'], '--thumbnail-size', 1024),
    summaryMd: values['summary-md'],
  };
}

const timestamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
const round = (x) => (Number.isFinite(x) ? Number(x.toFixed(6)) : x);
const roundScores = (scores) => Object.fromEntries(Object.entries(scores).map(([k, v]) => [k, round(v)]));
const existing = async (file) => (await import('node:fs/promises')).stat(file).then((s) => s.isFile(), () => false);

/** Picks a default input file from model/ when present; "none" turns it off. */
async function optionalFile(given, fallback) {
  if (given === 'none') return null;
  if (given !== undefined) return given;
  return (await existing(fallback)) ? fallback : null;
}

export async function main(argv, io = { stdout: process.stdout, stderr: process.stderr }) {
  const say = (text) => io.stderr.write(`${text}\n`);
  const { options, exit } = parseCommandLine('evaluate', USAGE, parseEvaluateArgs, argv, io);
  if (!options) return exit;

  let contract;
  try {
    contract = await loadContract(options.contract);
  } catch (error) {
    say(`evaluate: ${error.message}`);
    return 1;
  }
  const labels = contract.labels;
  const positive = contract.decision.positive_label ?? labels[0];
  const modelDir = path.dirname(options.contract);
  const correctionsFile = await optionalFile(options.corrections, path.join(modelDir, 'label-corrections.tsv'));
  let corrections = new Map();
  if (correctionsFile) {
    try { corrections = await readCorrections(correctionsFile, labels); } catch (error) {
      say(`evaluate: cannot read corrections ${correctionsFile}: ${error.message}`); return 2;
    }
  }

  let dataset;
  try {
    dataset = await collectDataset(options.dataDir, labels, { limitPerSource: options.limitPerSource, corrections });
  } catch (error) {
    say(`evaluate: ${error.message} (see --help)`);
    return 2;
  }
  for (const name of dataset.notFolders) say(`evaluate: ignoring ${path.join(options.dataDir, name)}: a file, not a class folder`);
  if (!dataset.images.length) {
    say(`evaluate: no images found under ${options.dataDir}/{${labels.join(',')}}/<source>/`);
    return 2;
  }
  if (dataset.ignored.length) say(`evaluate: ignoring folders that are not classes: ${dataset.ignored.join(', ')}`);

  let opened;
  try {
    opened = await openNodeClassifier({ runtime: options.runtime, model: options.model, contract: options.contract,
      threads: options.threads, log: (m) => say(`evaluate: ${m}`) });
  } catch (error) {
    if (!(error instanceof SetupError)) throw error;
    say(`evaluate: ${error.message}`);
    return 1;
  }
  const { classifier, core } = opened;

  let baseline = null;
  if (options.baseline) {
    try {
      baseline = await loadNsfwBaseline({ core });
    } catch (error) {
      say(`evaluate: nsfwjs baseline unavailable, reporting without it: ${error?.message ?? error}`);
    }
  }

  const foldsFile = await optionalFile(options.folds, path.join(modelDir, 'folds.json'));
  let heldOut = null;
  if (foldsFile) {
    try {
      heldOut = await loadHeldOut(foldsFile, { contract, labels });
      say(`evaluate: held-out figures from ${foldsFile}: ${heldOut.description}`);
    } catch (error) {
      say(`evaluate: cannot use ${foldsFile} for held-out figures (${error.message}); reporting the shipped model only`);
    }
  }

  // Where the results go is checked before the run, which can take minutes: not after it.
  const outDir = options.out ?? path.join(ROOT, 'build', 'evaluation', timestamp());
  try {
    await mkdir(outDir, { recursive: true });
    if (options.summaryMd) await checkWritableFile(options.summaryMd);
  } catch (error) {
    say(`evaluate: cannot write the results: ${error.message}`);
    return 2;
  }

  if (options.thumbnails) await mkdir(path.join(outDir, 'thumbs'), { recursive: true });
  const started = performance.now();
  const records = [];
  const total = dataset.images.length;
  for (const [i, image] of dataset.images.entries()) {
    const { fsPath, error: openError, ...listed } = image;
    const record = { ...listed, href: fileHref(fsPath ?? image.path) };
    const read = openError ? { ok: false, error: openError } : await readImageFile(fsPath ?? image.path);
    if (!read.ok) {
      record.ours = { error: read.error };
      if (baseline) record.nsfw = { error: read.error };
    } else {
      const ours = await classifier.classify(read.bytes);
      record.ours = ours.ok ? { label: ours.label, scores: roundScores(ours.scores), ms: Number(ours.ms.total.toFixed(2)) } : { error: ours.message };
      if (baseline) {
        const nsfw = await baseline.classify(read.bytes);
        record.nsfw = nsfw.ok ? { scores: roundScores(nsfw.scores), illustration: round(nsfw.illustration) } : { error: nsfw.message };
      }
    }
    const verdict = heldOut?.judge(record);
    if (verdict) record.heldOut = verdict;
    // A mistake's thumbnail is made now, while its bytes are at hand: kept until the end, the bytes of
    // every mistake piled up (a folder of 20 MB photos the model got wrong held 2.2 GB at 100 of them).
    // Files beside the report (lazy-loaded), not data: URIs: a full run has hundreds of mistakes.
    if (options.thumbnails && read.ok && !record.ours.error && isMistake(record)) {
      const png = thumbnailPng(core, read.bytes, options.thumbnailSize);
      if (png) {
        record.thumb = `thumbs/${String(i).padStart(5, '0')}.png`;
        await writeFile(path.join(outDir, record.thumb), png);
      }
    }
    records.push(record);
    if ((i + 1) % 100 === 0 || i + 1 === total) {
      say(`evaluate: ${i + 1}/${total} images (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
  }
  for (const unreadable of dataset.unreadable) say(`evaluate: skipped ${unreadable.path}: ${unreadable.error}`);

  const sources = new Set(records.map((r) => `${r.folderClass}/${r.source}`)).size;
  const relModel = opened.modelPath.startsWith(`${ROOT}${path.sep}`) ? path.relative(ROOT, opened.modelPath) : opened.modelPath;
  // The fold file speaks only for the images training saw: for other images (a user's own folder) there
  // are no held-out figures, and nothing says the model was trained on them.
  const heldOutJudged = records.some((r) => r.heldOut);
  const shippedLongNote = heldOutJudged
    ? 'The model shipped in model/ was trained on most or all of these sources, so these figures are in-sample and optimistic.'
    : 'In-sample where the shipped model was trained on these sources; ' +
      (heldOut ? `none of these images has an out-of-fold prediction saved by training (${path.basename(foldsFile)})` : 'no fold file was given') +
      ', so no held-out figures.';
  const { sections } = buildSections(records, {
    labels, positive, shippedNote: 'in-sample', shippedLongNote, heldOutNote: heldOut?.description,
  });
  const correctedCount = records.filter((r) => r.corrected).length; // said only when some apply here
  const header = [
    `${records.length} images from ${sources} sources in ${options.dataDir}${options.limitPerSource ? ` (at most ${options.limitPerSource} per source)` : ''}` +
      `${correctedCount ? `, ${correctedCount} label corrections applied` : ''}.`,
    `Model ${relModel} (contract ${contract.name ?? '?'} ${contract.version ?? ''}), onnxruntime-${options.runtime} ` +
      `(${classifier.provider}, ${classifier.threads} thread(s)); label = decide() at its default threshold ` +
      `p(${positive}) ≥ ${contract.decision.hide_below}.`,
    baseline ? `Baseline: nsfwjs 4.4.0 ${baseline.modelName} on tfjs-${baseline.backend}.` : 'Baseline: not run.',
  ].join('\n');

  // The markdown may be committed: no absolute paths of this machine in it.
  const shownDataDir = path.isAbsolute(options.dataDir) ? path.basename(options.dataDir) : options.dataDir;
  const markdown = renderMarkdown(`${header.replaceAll(options.dataDir, shownDataDir)}\nRun ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`, sections);
  const views = [
    ...(heldOutJudged ? [{ view: 'heldOut', title: 'Misclassified, held-out (honest error analysis)' }] : []),
    { view: 'ours', title: 'Misclassified by the shipped model (in-sample)' },
  ];
  await writeFile(path.join(outDir, 'report.html'), renderHtml({ header, sections, records, labels, positive, views }));
  await writeFile(path.join(outDir, 'report.md'), markdown);
  await writeFile(path.join(outDir, 'predictions.jsonl'), records.map(({ thumb, href, path: _, ...rest }) => JSON.stringify(rest)).join('\n') + '\n');
  await writeFile(path.join(outDir, 'args.json'), `${JSON.stringify({ argv, resolved: { ...options, folds: foldsFile, corrections: correctionsFile, model: opened.modelPath }, date: new Date().toISOString() }, null, 2)}\n`);
  if (options.summaryMd) await writeFile(options.summaryMd, markdown);
  // Printed once the files are written: a reader that stops early (`| head`, `| grep -q`) ends the
  // process at this write, which before the files left a run of minutes with half a report.
  io.stdout.write(`${renderText(header, sections)}\n`);
  say(`evaluate: wrote ${path.join(outDir, 'report.html')} (and report.md, predictions.jsonl, args.json) in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  await classifier.release?.();
  baseline?.dispose?.();
  return 0;
}

/** Throws unless `file` can be written: its folder exists and it is not a folder itself. */
async function checkWritableFile(file) {
  const info = await stat(file).catch((error) => { if (error.code === 'ENOENT') return null; throw error; });
  if (info?.isDirectory()) throw new Error(`--summary-md ${file} is a folder`);
  const folder = await stat(path.dirname(path.resolve(file))).catch(() => null);
  if (!folder?.isDirectory()) throw new Error(`--summary-md ${file}: no folder ${path.dirname(path.resolve(file))}`);
  await access(info ? file : path.dirname(path.resolve(file)), fsConstants.W_OK);
}

/**
 * The file: URL the report links an image to. A name that is not UTF-8 comes as its bytes (a Buffer):
 * its printable form (U+FFFD for the odd bytes) named no file, so the link is made of the bytes,
 * percent-encoded, as browsers open them.
 */
function fileHref(file) {
  if (typeof file === 'string') return pathToFileURL(path.resolve(file)).href;
  const absolute = file[0] === 0x2f /* '/' */ ? file : Buffer.concat([Buffer.from(`${process.cwd()}/`), file]);
  const kept = (byte) => /[A-Za-z0-9\-._~/]/.test(String.fromCharCode(byte));
  return `file://${[...absolute].map((byte) => (kept(byte) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('')}`;
}

function isMistake(record) {
  const wrong = (view) => record[view] !== undefined && (record[view].error || record[view].label !== record.truth);
  return wrong('ours') || wrong('heldOut');
}

await runIfMain(import.meta.url, 'evaluate', main);
