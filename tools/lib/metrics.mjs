// Classification figures for tools/evaluate.mjs, as plain functions of (truth, prediction) pairs so
// they can be checked by hand in tests: confusion matrix, accuracy, per-class recall and precision,
// a two-way (positive class vs the rest) view, ROC AUC, and per-source breakdowns.

/** NaN-safe ratio: a/b, or NaN when b is 0 (shown as "n/a", never as a fake 0 or 1). */
export const ratio = (a, b) => (b > 0 ? a / b : NaN);

/**
 * pairs: [{truth, predicted}] where predicted may be null (the image could not be classified).
 * Returns {labels, matrix (rows = truth, cols = predicted label), failed (per truth), total, correct,
 * accuracy, perClass: {label: {support, predicted, recall, precision, f1}}, macroRecall}.
 * Accuracy counts failed images as wrong: an image we cannot read is not a success.
 */
export function confusion(pairs, labels) {
  const index = new Map(labels.map((name, i) => [name, i]));
  const matrix = labels.map(() => labels.map(() => 0));
  const failed = labels.map(() => 0);
  let total = 0;
  for (const { truth, predicted } of pairs) {
    const row = index.get(truth);
    if (row === undefined) continue;
    total += 1;
    const col = index.get(predicted);
    if (col === undefined) failed[row] += 1;
    else matrix[row][col] += 1;
  }
  const correct = labels.reduce((sum, _, i) => sum + matrix[i][i], 0);
  const perClass = {};
  labels.forEach((name, i) => {
    const support = matrix[i].reduce((a, b) => a + b, 0) + failed[i];
    const predictedCount = matrix.reduce((sum, row) => sum + row[i], 0);
    const recall = ratio(matrix[i][i], support);
    const precision = ratio(matrix[i][i], predictedCount);
    perClass[name] = { support, predicted: predictedCount, recall, precision, f1: ratio(2 * precision * recall, precision + recall) };
  });
  const recalls = labels.map((name) => perClass[name].recall).filter(Number.isFinite);
  return {
    labels, matrix, failed, total, correct, accuracy: ratio(correct, total), perClass,
    macroRecall: ratio(recalls.reduce((a, b) => a + b, 0), recalls.length),
  };
}

/**
 * Two-way view: positive class vs everything else. pairs: [{truth, predicted}] with string labels (or
 * null for failures, counted as a wrong answer on either side).
 */
export function twoWay(pairs, positive) {
  let tp = 0, fp = 0, fn = 0, tn = 0, failed = 0;
  for (const { truth, predicted } of pairs) {
    const isPositive = truth === positive;
    if (predicted === null || predicted === undefined) { failed += 1; if (isPositive) fn += 1; else fp += 1; continue; }
    const saysPositive = predicted === positive;
    if (isPositive && saysPositive) tp += 1;
    else if (isPositive) fn += 1;
    else if (saysPositive) fp += 1;
    else tn += 1;
  }
  const recall = ratio(tp, tp + fn);
  const precision = ratio(tp, tp + fp);
  return {
    positive, tp, fp, fn, tn, failed, total: tp + fp + fn + tn,
    accuracy: ratio(tp + tn, tp + fp + fn + tn), recall, precision,
    f1: ratio(2 * precision * recall, precision + recall),
    specificity: ratio(tn, tn + fp),
  };
}

/**
 * Area under the ROC curve of `score` for separating positives from negatives (ties count half),
 * i.e. the chance that a random positive scores above a random negative. Threshold-free, so it
 * compares models whose scores are calibrated differently. items: [{positive: bool, score}].
 */
export function rocAuc(items) {
  const valid = items.filter((item) => Number.isFinite(item.score));
  const sorted = [...valid].sort((a, b) => a.score - b.score);
  let positives = 0, negatives = 0, rankSum = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && sorted[j].score === sorted[i].score) j += 1;
    const averageRank = (i + 1 + j) / 2; // 1-based ranks i+1..j share their mean
    for (let k = i; k < j; k += 1) if (sorted[k].positive) rankSum += averageRank;
    i = j;
  }
  for (const item of valid) { if (item.positive) positives += 1; else negatives += 1; }
  if (!positives || !negatives) return NaN;
  return (rankSum - positives * (positives + 1) / 2) / (positives * negatives);
}

/** Groups items by key(item) into a Map in first-seen order. */
export function groupBy(items, key) {
  const groups = new Map();
  for (const item of items) {
    const k = key(item);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(item);
  }
  return groups;
}

/** Formats a fraction as a percentage with one decimal, or "n/a". */
export const percent = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');

// East Asian wide and fullwidth code points (Unicode's EastAsianWidth W and F, as wcwidth groups them):
// a terminal gives each two columns.
const WIDE = [[0x1100, 0x115f], [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff],
  [0xa000, 0xa4cf], [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe30, 0xfe4f], [0xff00, 0xff60], [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f], [0x1f900, 0x1f9ff], [0x20000, 0x2fffd], [0x30000, 0x3fffd]];

/**
 * The columns text takes in a terminal: wide characters (Chinese and Japanese source folder names) two,
 * combining marks and zero-width characters none. padEnd/padStart count UTF-16 units, so such a name
 * pushed the rest of its row out of line.
 */
export function displayWidth(text) {
  let width = 0;
  for (const ch of String(text)) {
    const code = ch.codePointAt(0);
    if (/[\p{Mn}\p{Me}\u200b-\u200f]/u.test(ch)) continue;
    width += WIDE.some(([from, to]) => code >= from && code <= to) ? 2 : 1;
  }
  return width;
}

/**
 * text on one line: control characters written as JSON escapes (\n, \t, \u0000). A source folder whose
 * name holds a newline broke its table row in two; classify --pretty's lines use it too.
 */
// eslint-disable-next-line no-control-regex
export const oneLine = (text) => String(text).replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));

/** Renders rows (arrays of cells) as a fixed-width text table; first row is the header. */
export function textTable(rows, { alignRight = () => true } = {}) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => displayWidth(oneLine(row[c])))));
  const line = (row) => row.map((cell, c) => {
    const text = oneLine(cell);
    const padding = ' '.repeat(widths[c] - displayWidth(text));
    return c > 0 && alignRight(c) ? padding + text : text + padding;
  }).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** Renders rows as a GitHub markdown table; first row is the header. */
export function markdownTable(rows) {
  const escape = (cell) => oneLine(cell).replaceAll('|', '\\|');
  return [
    `| ${rows[0].map(escape).join(' | ')} |`,
    `|${rows[0].map((_, c) => (c === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.slice(1).map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}
