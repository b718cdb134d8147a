// Honest held-out figures for tools/evaluate.mjs. Training (tools/training/train.py, exported by
// tools/training/export_onnx.py) splits the sources into k folds by repository and saves:
//   model/folds.json            {seed, folds: k, unit, held_out: [["class/source", …] per fold]}
//   model/oof-predictions.tsv   file, source, group, fold, label, p_illustration, p_screenshot, p_photo
// where each row's probabilities come from the fold model that never saw that source. We pass them
// through the same decide() the extension uses, so held-out labels follow the shipped rule. These
// probabilities were computed by the PyTorch pipeline at training time, not re-run through our wasm core.
import path from 'node:path';
import { decide } from '../../web/lib/decide.js';
import { readOptionText } from './image-files.mjs';

/** Parses oof-predictions.tsv into Map("class/source/file" → {scores, fold, label}). */
export function parseOofTsv(text, labels) {
  const lines = text.split(/\r?\n/).filter((line) => line.trim());
  if (!lines.length) throw new Error('empty out-of-fold predictions file');
  const header = lines[0].split('\t');
  const column = (name) => header.indexOf(name);
  const need = ['file', 'source', 'fold', ...labels.map((l) => `p_${l}`)];
  const absent = need.filter((name) => column(name) < 0);
  if (absent.length) throw new Error(`out-of-fold predictions lack columns ${absent.join(', ')}`);
  const rows = new Map();
  for (const line of lines.slice(1)) {
    const cells = line.split('\t');
    const scores = Object.fromEntries(labels.map((l) => [l, Number(cells[column(`p_${l}`)])]));
    if (!labels.every((l) => Number.isFinite(scores[l]))) throw new Error(`bad probabilities in line: ${line.slice(0, 120)}`);
    rows.set(`${cells[column('source')]}/${cells[column('file')]}`, { scores, fold: Number(cells[column('fold')]), label: cells[column('label')] });
  }
  return rows;
}

/**
 * Loads held-out predictions. `file` is model/folds.json (oof-predictions.tsv is read from beside it)
 * or the .tsv itself. Returns {description, folds, judge(record) → {label, scores, fold} | null}.
 * `record.rel` is "class/source/file" as collected by tools/lib/dataset.mjs.
 */
export async function loadHeldOut(file, { contract, labels }) {
  let foldsDoc = null;
  let tsvFile = file;
  if (file.endsWith('.json')) {
    foldsDoc = JSON.parse(await readOptionText(file));
    if (!Array.isArray(foldsDoc.held_out)) throw new Error('folds file has no "held_out" list of sources per fold');
    tsvFile = path.join(path.dirname(file), 'oof-predictions.tsv');
  }
  let text;
  try { text = await readOptionText(tsvFile); } catch (error) { throw new Error(`cannot read ${tsvFile}: ${error.message}`); }
  const rows = parseOofTsv(text, labels);
  const folds = foldsDoc?.held_out?.length ?? new Set([...rows.values()].map((r) => r.fold)).size;
  return {
    folds,
    description: `${rows.size} out-of-fold predictions saved by training (${path.basename(tsvFile)}): ${folds} folds over ` +
      `${foldsDoc?.unit ?? 'source groups'}, each image scored by the fold model that never saw its source ` +
      '(PyTorch preprocessing at training time), labelled by decide() at the contract default',
    judge(record) {
      const saved = rows.get(record.rel);
      if (!saved) return null;
      return { label: decide(saved.scores, contract).label, scores: saved.scores, fold: saved.fold };
    },
  };
}
