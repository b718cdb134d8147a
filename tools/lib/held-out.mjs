// Honest held-out figures for tools/evaluate.mjs. Training (tools/train.py) splits the data by source
// into folds and saves, per fold, which sources were held out, and the out-of-fold predictions (and/or
// one ONNX model per fold). Here every image is judged by what did not see its source: a fold model run
// through our real pipeline when the fold file names one, else the saved out-of-fold probabilities
// passed through the same decide() the extension uses. Images of sources in no fold get no held-out view.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openNodeClassifier } from './node-classifier.mjs';

const sourceKeys = (record) => [`${record.folderClass}/${record.source}`, record.source];

function asProbabilities(value, labels) {
  if (Array.isArray(value) && value.length === labels.length) return Object.fromEntries(labels.map((l, i) => [l, Number(value[i])]));
  if (value && typeof value === 'object' && labels.every((l) => l in value)) return Object.fromEntries(labels.map((l) => [l, Number(value[l])]));
  return null;
}

/**
 * Reads a folds file. Accepted shape (JSON):
 *   {folds: [{fold?, held_out_sources: ["class/source" | "source", …], model?: "file.onnx"}, …],
 *    predictions?: "oof.json" | [{file|path, probs: [..]|{label: p}, fold?}, …]}
 * Returns {description, judge(record, bytes) → {label, scores, fold} | {error} | null, release()}.
 */
export async function loadHeldOut(file, { runtime, contract: contractPath, threads, labels }) {
  const spec = JSON.parse(await readFile(file, 'utf8'));
  const base = path.dirname(file);
  const folds = Array.isArray(spec.folds) ? spec.folds : null;
  if (!folds?.length) throw new Error('no "folds" list');
  const foldOfSource = new Map();
  folds.forEach((fold, i) => {
    const sources = fold.held_out_sources ?? fold.val_sources ?? fold.sources;
    if (!Array.isArray(sources)) throw new Error(`fold ${i} has no held_out_sources list`);
    for (const source of sources) foldOfSource.set(source, fold.fold ?? i);
  });
  const foldFor = (record) => sourceKeys(record).map((k) => foldOfSource.get(k)).find((f) => f !== undefined);

  const { decide } = await import(pathToFileURL(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../web/lib/decide.js')).href);
  const contract = JSON.parse(await readFile(contractPath, 'utf8'));

  const modelFiles = folds.map((fold) => fold.model && path.resolve(base, fold.model));
  if (modelFiles.every(Boolean)) {
    const classifiers = new Map();
    for (const [i, fold] of folds.entries()) {
      const opened = await openNodeClassifier({ runtime, model: modelFiles[i], contract: contractPath, threads });
      classifiers.set(fold.fold ?? i, opened.classifier);
    }
    return {
      description: `${folds.length} fold models, each run on the sources it held out`,
      async judge(record, bytes) {
        const fold = foldFor(record);
        if (fold === undefined) return null;
        const result = await classifiers.get(fold).classify(bytes);
        return result.ok ? { label: result.label, scores: result.scores, fold } : { error: result.message, fold };
      },
      release: () => Promise.all([...classifiers.values()].map((c) => c.release?.())),
    };
  }

  let predictions = spec.predictions ?? spec.oof_predictions;
  if (typeof predictions === 'string') predictions = JSON.parse(await readFile(path.resolve(base, predictions), 'utf8'));
  if (predictions && !Array.isArray(predictions)) predictions = predictions.predictions ?? Object.entries(predictions).map(([k, v]) => ({ file: k, probs: v }));
  if (!Array.isArray(predictions) || !predictions.length) throw new Error('neither fold model files nor out-of-fold predictions');
  const byName = new Map();
  for (const entry of predictions) {
    const key = entry.file ?? entry.path ?? entry.rel;
    const scores = asProbabilities(entry.probs ?? entry.scores, labels);
    if (key && scores) byName.set(path.basename(key), { scores, fold: entry.fold });
  }
  return {
    description: `${byName.size} saved out-of-fold predictions over ${folds.length} source folds`,
    async judge(record) {
      const saved = byName.get(path.basename(record.path));
      if (!saved) return null;
      return { label: decide(saved.scores, contract).label, scores: saved.scores, fold: saved.fold ?? foldFor(record) };
    },
    release: async () => {},
  };
}
