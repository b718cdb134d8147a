#!/usr/bin/env node
// Measures what a user's corrections do, before anyone ships a personal layer on hope: each source of a
// labelled folder is one account a user browses; the user corrects k of its mistakes in the order they
// meet them scrolling its grid, and the personal layer (web/lib/personal-layer.js, the code the extension
// and the demo run) is fitted from those k alone. It reports (a) the account's accuracy on its remaining
// images and (b) what the same layer does to every other source, whose accuracy it must not lower.
// Scores and embeddings come from the real pipeline (wasm core + ONNX Runtime) and are cached per model
// version in build/embeddings/, so a re-run takes seconds and a retrained model is measured afresh.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { collectDataset, readCorrections } from './lib/dataset.mjs';
import { embedDataset } from './lib/embedding-cache.mjs';
import { DEFAULT_CONTRACT, ROOT, RUNTIMES, SetupError, loadContract, openNodeClassifier } from './lib/node-classifier.mjs';
import { UsageError, parseCommandLine, parseToolArgs, runIfMain } from './lib/run-cli.mjs';
import { decide } from '../web/lib/decide.js';
import { DEFAULT_ACCOUNT_GATE, DEFAULT_GATE, DEFAULT_PROPAGATE, MAX_CORRECTIONS, applyPersonalLayer, fitPersonalLayer } from '../web/lib/personal-layer.js';

export const USAGE = `Usage: node tools/simulate-corrections.mjs FOLDER [options]

FOLDER is laid out as FOLDER/<class>/<source>/<image> (e.g. ../shared/data). Each source is an account:
for each k, the user corrects the first k of its mistakes in file-name order (the order of its grid), a
personal layer is fitted from those k corrections only, and the tool measures (a) the account's accuracy
on its remaining images and (b) accuracy and illustration recall on every other source. Prints a table,
then one JSON line per k: {"k","sources","error_reduction","worst_other_drop","other_recall_drop",...}.

Options:
  --k LIST              numbers of corrections (default 1,3,5,10)
  --account-gate X[,X...]  cosine gate(s) of the prototype layer on the corrected account (default
                        ${DEFAULT_ACCOUNT_GATE}); several = a sweep, JSON lines for each
  --gate X[,X...]       cosine gate(s) on every other account (default ${DEFAULT_GATE}; above 1 = corrections
                        act only on their own account)
  --propagate N         rounds in which the account's images the corrections relabel stop counting
                        against them (default ${DEFAULT_PROPAGATE}; 0 = off)
  --method NAME         prototype (default) | residual (logistic head regularised toward the shipped one)
  --lambda X            residual only: L2 weight (default 1)
  --mixed-accounts      pair every screenshot or photo source with an illustration source (round robin)
                        into one account, as an artist who also posts photos and game screens; the
                        sources of ../shared/data hold one class each, which flatters a per-account layer
  --unseen              accounts only from sources the model was not trained on (those not in FOLDS);
                        other sources stay all sources
  --folds FILE          the model's folds.json, for --unseen (default: model/folds.json)
  --corrections FILE    label corrections (default: model/label-corrections.tsv; "none" to skip)
  --runtime node|web    ONNX Runtime flavour for images not in the cache (default node)
  --threads N           inference threads (default 1)
  --contract FILE       preprocessing contract (default: model/contract.json)
  --model FILE          ONNX model (default: next to the contract)
  -h, --help            show this help

Exit status: 0 when it ran, 1 when nothing could run (missing core build, wrong model), 2 usage error
(also a missing or empty FOLDER, or an unreadable --corrections file).`;

function numberList(text, flag, { integer, max = 1 }) {
  const values = String(text).split(',').map((part) => Number(part.trim()));
  const bad = values.find((v) => !Number.isFinite(v) || (integer ? !Number.isInteger(v) || v < 1 || v > 1000 : v < -1 || v > max));
  if (bad !== undefined || values.length === 0) throw new UsageError(`${flag} must be a comma-separated list of ${integer ? 'integers from 1 to 1000' : `numbers from -1 to ${max}`}, not "${text}"`);
  return values;
}

export function parseSimulateArgs(argv) {
  const { values, positionals } = parseToolArgs(argv, {
    k: { type: 'string', default: '1,3,5,10' }, gate: { type: 'string', default: String(DEFAULT_GATE) },
    'account-gate': { type: 'string', default: String(DEFAULT_ACCOUNT_GATE) },
    method: { type: 'string', default: 'prototype' }, lambda: { type: 'string', default: '1' },
    propagate: { type: 'string', default: String(DEFAULT_PROPAGATE) },
    unseen: { type: 'boolean', default: false }, 'mixed-accounts': { type: 'boolean', default: false }, folds: { type: 'string' }, corrections: { type: 'string' },
    runtime: { type: 'string', default: 'node' }, threads: { type: 'string', default: '1' },
    contract: { type: 'string', default: DEFAULT_CONTRACT }, model: { type: 'string' },
  });
  if (values.help) return { help: true };
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one FOLDER, got ${positionals.length}` : 'no FOLDER given');
  if (!['prototype', 'residual'].includes(values.method)) throw new UsageError(`--method must be prototype or residual, not "${values.method}"`);
  if (!RUNTIMES.includes(values.runtime)) throw new UsageError(`--runtime must be ${RUNTIMES.join(' or ')}, not "${values.runtime}"`);
  const lambda = Number(values.lambda);
  if (!(lambda >= 0)) throw new UsageError(`--lambda must be a number >= 0, not "${values.lambda}"`);
  return {
    help: false, dataDir: positionals[0], ks: numberList(values.k, '--k', { integer: true }),
    gates: numberList(values.gate, '--gate', { integer: false, max: 2 }), method: values.method, lambda,
    accountGates: numberList(values['account-gate'], '--account-gate', { integer: false, max: 2 }),
    propagate: values.propagate === '0' ? 0 : numberList(values.propagate, '--propagate', { integer: true })[0],
    unseen: values.unseen, mixedAccounts: values['mixed-accounts'], folds: values.folds ?? path.join(ROOT, 'model', 'folds.json'),
    corrections: values.corrections, runtime: values.runtime, threads: numberList(values.threads, '--threads', { integer: true })[0],
    contract: values.contract, model: values.model,
  };
}

const accuracy = (rows) => (rows.length ? rows.filter((r) => r.ok).length / rows.length : 1);
function recall(rows, positive) {
  const positives = rows.filter((r) => r.truth === positive);
  return positives.length ? positives.filter((r) => r.label === positive).length / positives.length : 1;
}

/**
 * The simulation on images that already carry {truth, source key, scores, embedding}: pure, so tests can
 * run it on a handful of vectors. Returns {perK: [{k, sources, error_reduction, …, accounts: […]}]}.
 */
export function simulate(images, { contract, ks, gate, accountGate, margin, propagate, method = 'prototype', lambda = 1, accountFilter = () => true }) {
  const positive = contract.decision.positive_label;
  const judged = images.map((image, index) => {
    const label = decide(image.scores, contract).label;
    return { ...image, index, label, ok: label === image.truth };
  });
  const bySource = new Map();
  for (const image of judged) {
    if (!bySource.has(image.sourceKey)) bySource.set(image.sourceKey, []);
    bySource.get(image.sourceKey).push(image);
  }
  for (const rows of bySource.values()) rows.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  const sourceKeys = [...bySource.keys()].sort();
  const baseAccuracy = new Map(sourceKeys.map((key) => [key, accuracy(bySource.get(key))]));
  const perK = [];
  for (const k of ks) {
    const accounts = [];
    let fitMs = 0;
    for (const key of sourceKeys) {
      if (!accountFilter(key)) continue;
      const rows = bySource.get(key);
      const mistakes = rows.filter((r) => !r.ok);
      if (mistakes.length === 0) continue;
      const corrected = mistakes.slice(0, k);
      const correctedSet = new Set(corrected.map((r) => r.index));
      const t0 = performance.now();
      // The account's other images, as the extension keeps them: each with the label the model gave it.
      const references = rows.filter((r) => !correctedSet.has(r.index)).map((r) => ({ id: r.index, embedding: r.embedding, label: r.label, account: key }));
      const layer = fitPersonalLayer(corrected.map((r) => ({ embedding: r.embedding, label: r.truth, scores: r.scores, account: key })),
        { labels: contract.labels, gate, accountGate, margin, propagate, references, method, lambda });
      fitMs += performance.now() - t0;
      // Each image is shown on its own source's account: the corrections' loose gate works only there.
      const judge = (r) => {
        const label = decide(applyPersonalLayer(layer, r.scores, r.embedding, { account: r.sourceKey, id: r.index }).scores, contract).label;
        return { truth: r.truth, label, ok: label === r.truth };
      };
      const remaining = rows.filter((r) => !correctedSet.has(r.index));
      const errorsBefore = remaining.filter((r) => !r.ok).length;
      const after = remaining.map(judge);
      const errorsAfter = after.filter((r) => !r.ok).length;
      // Every other source, judged with this account's layer.
      let worstDrop = 0;
      let worstSource = null;
      const othersBefore = [];
      const othersAfter = [];
      for (const other of sourceKeys) {
        if (other === key) continue;
        const otherRows = bySource.get(other);
        const otherAfter = otherRows.map(judge);
        othersBefore.push(...otherRows);
        othersAfter.push(...otherAfter);
        const drop = (baseAccuracy.get(other) - accuracy(otherAfter)) * 100;
        if (drop > worstDrop) { worstDrop = drop; worstSource = other; }
      }
      accounts.push({
        source: key, images: rows.length, mistakes: mistakes.length, corrections: corrected.length,
        remaining: remaining.length, errorsBefore, errorsAfter,
        accuracyBefore: accuracy(remaining), accuracyAfter: accuracy(after),
        errorReduction: errorsBefore > 0 ? (errorsBefore - errorsAfter) / errorsBefore : null,
        worstOtherDrop: worstDrop, worstOtherSource: worstSource,
        otherAccuracyDrop: (accuracy(othersBefore) - accuracy(othersAfter)) * 100,
        otherRecallDrop: (recall(othersBefore, positive) - recall(othersAfter, positive)) * 100,
      });
    }
    // error_reduction: over the accounts with errors left to fix after their k corrections.
    const measured = accounts.filter((a) => a.errorReduction !== null);
    const mean = (values) => (values.length ? values.reduce((s, v) => s + v, 0) / values.length : null);
    perK.push({
      k, sources: measured.length, accountsWithMistakes: accounts.length,
      error_reduction: mean(measured.map((a) => a.errorReduction)),
      worst_other_drop: Math.max(0, ...accounts.map((a) => a.worstOtherDrop)),
      other_recall_drop: Math.max(0, ...accounts.map((a) => a.otherRecallDrop)),
      worstOtherAccuracyDrop: Math.max(0, ...accounts.map((a) => a.otherAccuracyDrop)),
      accuracyBefore: mean(measured.map((a) => a.accuracyBefore)), accuracyAfter: mean(measured.map((a) => a.accuracyAfter)),
      fitMsMean: accounts.length ? fitMs / accounts.length : 0, accounts,
    });
  }
  return { perK };
}

const pct = (x) => (x === null ? '—' : `${(100 * x).toFixed(1)} %`);
const pts = (x) => `${x.toFixed(2)}`;

export function renderTable(result, { gate, accountGate, method }) {
  const lines = [
    method === 'prototype' ? `method prototype, account gate ${accountGate}, gate elsewhere ${gate}` : `method ${method}`,
    '| k | accounts (with errors left) | their remaining accuracy before → after | error_reduction | worst other source drop (pts) | worst pooled other accuracy drop (pts) | other_recall_drop (pts) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of result.perK) {
    lines.push(`| ${r.k} | ${r.accountsWithMistakes} (${r.sources}) | ${pct(r.accuracyBefore)} → ${pct(r.accuracyAfter)} | ${r.error_reduction === null ? '—' : r.error_reduction.toFixed(3)} | ${pts(r.worst_other_drop)} | ${pts(r.worstOtherAccuracyDrop)} | ${pts(r.other_recall_drop)} |`);
  }
  return lines.join('\n');
}

/** Accounts that miss a goal at k: error_reduction < 0.5, or a drop on another source > 0.5 pt. */
export function renderFailures(result) {
  const lines = [];
  for (const r of result.perK) {
    const weak = r.accounts.filter((a) => a.errorReduction !== null && a.errorReduction < 0.5);
    const harmful = r.accounts.filter((a) => a.worstOtherDrop > 0.5 || a.otherRecallDrop > 0);
    lines.push(`k=${r.k}: ${weak.length} of ${r.sources} accounts fix under half of their remaining errors; ${harmful.length} lower another source`);
    for (const a of weak) lines.push(`  fixes ${a.errorsBefore - a.errorsAfter} of ${a.errorsBefore}: ${a.source} (${a.images} images, ${a.mistakes} mistakes)`);
    for (const a of harmful) lines.push(`  harms: ${a.source} → ${a.worstOtherSource} −${a.worstOtherDrop.toFixed(1)} pts${a.otherRecallDrop > 0 ? `, other recall −${a.otherRecallDrop.toFixed(2)} pts` : ''}`);
  }
  return lines.join('\n');
}

/** How long the extension's refit takes at the store's bound: MAX_CORRECTIONS corrections spread over the data. */
export function timeFullFit(images, contract, { propagate } = {}) {
  const step = Math.max(1, Math.floor(images.length / MAX_CORRECTIONS));
  const chosen = new Set(images.filter((_, i) => i % step === 0).slice(0, MAX_CORRECTIONS));
  const accounts = new Set([...chosen].map((i) => i.sourceKey));
  const references = images.filter((i) => !chosen.has(i) && accounts.has(i.sourceKey))
    .map((i, id) => ({ id, embedding: i.embedding, label: decide(i.scores, contract).label, account: i.sourceKey }));
  const t0 = performance.now();
  fitPersonalLayer([...chosen].map((i) => ({ embedding: i.embedding, label: i.truth, account: i.sourceKey })), { labels: contract.labels, references, propagate });
  return { ms: performance.now() - t0, corrections: chosen.size, references: references.length };
}

/** --mixed-accounts: each non-illustration source joins an illustration source's account (round robin). */
export function mixAccounts(images, positive) {
  const keys = [...new Set(images.map((i) => i.sourceKey))].sort();
  const artists = keys.filter((k) => k.startsWith(`${positive}/`));
  const others = keys.filter((k) => !k.startsWith(`${positive}/`));
  if (artists.length === 0) return images;
  const account = new Map(artists.map((k) => [k, k]));
  others.forEach((k, j) => account.set(k, artists[j % artists.length]));
  return images.map((i) => ({ ...i, sourceKey: `${account.get(i.sourceKey)}+` }));
}

async function trainedSources(foldsFile) {
  const doc = JSON.parse(await readFile(foldsFile, 'utf8'));
  if (!Array.isArray(doc.held_out)) throw new SetupError(`${foldsFile} has no "held_out" list`);
  return new Set(doc.held_out.flat());
}

export async function main(argv, io = { stdout: process.stdout, stderr: process.stderr }) {
  const parsed = parseCommandLine('simulate-corrections', USAGE, parseSimulateArgs, argv, io);
  if (parsed.exit !== undefined) return parsed.exit;
  const options = parsed.options;
  try {
    const contract = await loadContract(options.contract);
    const correctionsFile = options.corrections ?? path.join(ROOT, 'model', 'label-corrections.tsv');
    const labelCorrections = options.corrections === 'none' ? new Map()
      : await readCorrections(correctionsFile, contract.labels).catch((error) => {
        if (options.corrections) throw new UsageError(`cannot read corrections ${correctionsFile}: ${error.message}`);
        return new Map();
      });
    // What the user pointed at (the folder, a corrections file) is a usage error, as in evaluate.mjs.
    const { images } = await collectDataset(options.dataDir, contract.labels, { corrections: labelCorrections })
      .catch((error) => { throw new UsageError(error.message); });
    if (images.length === 0) throw new UsageError(`no images found under ${options.dataDir}/{${contract.labels.join(',')}}/<source>/`);
    let opened = null;
    const lazyClassifier = {
      async classify(bytes, opts) {
        opened ??= openNodeClassifier({ runtime: options.runtime, model: options.model, contract: options.contract, threads: options.threads });
        return (await opened).classifier.classify(bytes, opts);
      },
    };
    const embedded = await embedDataset(images, lazyClassifier, {
      dataDir: options.dataDir, modelVersion: contract.version,
      progress: (done, total, computed) => { if (computed > 0 && computed % 250 === 0) io.stderr.write(`simulate-corrections: ${done}/${total} images (${computed} run through the model)\n`); },
    });
    let usable = embedded.images.filter((image) => !image.error)
      .map((image) => ({ ...image, sourceKey: `${image.folderClass}/${image.source}` }));
    if (options.mixedAccounts) usable = mixAccounts(usable, contract.decision.positive_label);
    const failed = embedded.images.length - usable.length;
    let accountFilter = () => true;
    let accountsNote = 'every source';
    if (options.unseen) {
      const trained = await trainedSources(options.folds);
      accountFilter = (key) => !trained.has(key.replace(/\+$/, ''));
      accountsNote = `sources the model was not trained on (not in ${path.relative(process.cwd(), options.folds) || options.folds})`;
    }
    io.stdout.write(`model ${contract.version}; ${usable.length} images from ${new Set(usable.map((i) => i.sourceKey)).size} sources` +
      `${failed ? ` (${failed} unreadable, left out)` : ''}; ${embedded.computed} run through the model, the rest from ${path.relative(process.cwd(), embedded.cacheFile)}\n` +
      `accounts: ${accountsNote}; corrections in file-name order; other sources: all the rest\n\n`);
    const jsonLines = [];
    const settings = options.method === 'prototype'
      ? options.gates.flatMap((gate) => options.accountGates.map((accountGate) => ({ gate, accountGate })))
      : [{ gate: null, accountGate: null }]; // the residual head has no gates
    for (const { gate, accountGate } of settings) {
      const result = simulate(usable, { contract, ks: options.ks, gate, accountGate, propagate: options.propagate, method: options.method, lambda: options.lambda, accountFilter });
      io.stdout.write(`${renderTable(result, { gate, accountGate, method: options.method })}\n\n${renderFailures(result)}\n\n`);
      for (const r of result.perK) {
        jsonLines.push(JSON.stringify({
          k: r.k, sources: r.sources, error_reduction: r.error_reduction === null ? null : Number(r.error_reduction.toFixed(4)),
          worst_other_drop: Number(r.worst_other_drop.toFixed(3)), other_recall_drop: Number(r.other_recall_drop.toFixed(3)),
          method: options.method,
          ...(options.method === 'prototype' ? { account_gate: accountGate, gate, propagate: options.propagate } : { lambda: options.lambda }), accounts: `${options.unseen ? 'unseen' : 'all'}${options.mixedAccounts ? '+mixed' : ''}`, fit_ms: Number(r.fitMsMean.toFixed(2)),
        }));
      }
    }
    const fit = timeFullFit(usable, contract, { propagate: options.propagate });
    io.stdout.write(`fitting ${fit.corrections} corrections (every nth image, its source as the account, the ${fit.references} other images of ` +
      `those sources as references): ${fit.ms.toFixed(0)} ms\n\n`);
    io.stdout.write(`${jsonLines.join('\n')}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`simulate-corrections: ${error.message} (see --help)\n`);
      return 2;
    }
    if (!(error instanceof SetupError)) throw error;
    io.stderr.write(`simulate-corrections: ${error.message}\n`);
    return 1;
  }
}

runIfMain(import.meta.url, 'simulate-corrections', main);
