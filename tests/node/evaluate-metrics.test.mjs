// Checks the figures tools/evaluate.mjs reports against numbers worked out by hand, so a wrong
// recall/precision/AUC formula cannot hide behind a plausible-looking report. Also pins the label
// corrections reader and the per-source sampling, which decide which images are scored at all.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { collectDataset, evenlySpaced, readCorrections } from '../../tools/lib/dataset.mjs';
import { analyseBaseline, confusionRows, perSourceRows } from '../../tools/lib/evaluation-report.mjs';
import { loadHeldOut, parseOofTsv } from '../../tools/lib/held-out.mjs';
import { confusion, displayWidth, markdownTable, rocAuc, textTable, twoWay } from '../../tools/lib/metrics.mjs';

const LABELS = ['illustration', 'screenshot', 'photo'];
const pairs = (spec) => spec.flatMap(([truth, predicted, n]) => Array.from({ length: n }, () => ({ truth, predicted })));

test('confusion: matrix, accuracy, per-class recall and precision, failures count as wrong', () => {
  const result = confusion(pairs([
    ['illustration', 'illustration', 8], ['illustration', 'photo', 1], ['illustration', null, 1],
    ['screenshot', 'screenshot', 5], ['screenshot', 'illustration', 5],
    ['photo', 'photo', 9], ['photo', 'screenshot', 1],
  ]), LABELS);
  assert.deepEqual(result.matrix, [[8, 0, 1], [5, 5, 0], [0, 1, 9]]);
  assert.deepEqual(result.failed, [1, 0, 0]);
  assert.equal(result.total, 30);
  assert.equal(result.correct, 22);
  assert.equal(result.accuracy, 22 / 30);
  assert.equal(result.perClass.illustration.recall, 8 / 10);
  assert.equal(result.perClass.illustration.precision, 8 / 13);
  assert.equal(result.perClass.screenshot.recall, 5 / 10);
  assert.equal(result.perClass.screenshot.precision, 5 / 6);
  assert.equal(result.perClass.photo.precision, 9 / 10);
  assert.ok(Math.abs(result.macroRecall - (0.8 + 0.5 + 0.9) / 3) < 1e-12);
  const rows = confusionRows(result);
  assert.deepEqual(rows[0], ['truth \\ predicted', ...LABELS, 'unreadable', 'recall']);
  assert.deepEqual(rows[1], ['illustration', 8, 0, 1, 1, '80.0%']);
  assert.deepEqual(rows.at(-1), ['precision', '61.5%', '83.3%', '90.0%', '', '']);
});

test('confusion: a class nobody predicted has precision n/a, not 0 or 1', () => {
  const result = confusion(pairs([['photo', 'photo', 3], ['screenshot', 'photo', 2]]), LABELS);
  assert.ok(Number.isNaN(result.perClass.illustration.precision));
  assert.ok(Number.isNaN(result.perClass.illustration.recall));
  assert.equal(result.perClass.photo.precision, 3 / 5);
});

test('twoWay: illustration vs the rest', () => {
  const result = twoWay(pairs([
    ['illustration', 'illustration', 6], ['illustration', 'photo', 2], ['illustration', null, 1],
    ['screenshot', 'illustration', 3], ['photo', 'photo', 7], ['screenshot', 'photo', 1],
  ]), 'illustration');
  assert.deepEqual({ tp: result.tp, fn: result.fn, fp: result.fp, tn: result.tn, failed: result.failed }, { tp: 6, fn: 3, fp: 3, tn: 8, failed: 1 });
  assert.equal(result.recall, 6 / 9);
  assert.equal(result.precision, 6 / 9);
  assert.equal(result.accuracy, 14 / 20);
});

test('rocAuc: perfect, reversed, ties and hand-counted cases', () => {
  const items = (pos, neg) => [...pos.map((score) => ({ positive: true, score })), ...neg.map((score) => ({ positive: false, score }))];
  assert.equal(rocAuc(items([0.9, 0.8], [0.1, 0.2])), 1);
  assert.equal(rocAuc(items([0.1, 0.2], [0.9, 0.8])), 0);
  assert.equal(rocAuc(items([0.5], [0.5])), 0.5);
  // positives 0.9, 0.4; negatives 0.5, 0.1: pairs won 0.9>0.5, 0.9>0.1, 0.4>0.1; lost 0.4<0.5 → 3/4
  assert.equal(rocAuc(items([0.9, 0.4], [0.5, 0.1])), 0.75);
  assert.ok(Number.isNaN(rocAuc(items([0.3], []))));
  assert.equal(rocAuc([...items([0.9], [0.1]), { positive: true, score: NaN }]), 1, 'unscored items are left out');
});

test('nsfwjs baseline: Drawing+Hentai ≥ 0.5 is illustration, judged two-way', () => {
  const record = (truth, illustration) => ({ truth, folderClass: truth, source: 's', nsfw: { illustration, scores: {} } });
  const records = [record('illustration', 0.9), record('illustration', 0.3), record('photo', 0.6), record('screenshot', 0.1),
    { truth: 'photo', folderClass: 'photo', source: 's', nsfw: { error: 'corrupt' } }];
  const result = analyseBaseline(records, 'illustration');
  assert.deepEqual({ tp: result.twoWay.tp, fn: result.twoWay.fn, fp: result.twoWay.fp, tn: result.twoWay.tn }, { tp: 1, fn: 1, fp: 2, tn: 1 });
  assert.equal(result.auc, 0.75);
});

test('perSourceRows: one row per class/source with our and the baseline accuracy', () => {
  const r = (folderClass, source, label, nsfwIll) => ({ truth: folderClass, folderClass, source, ours: { label, scores: {} }, nsfw: { illustration: nsfwIll, scores: {} } });
  const rows = perSourceRows([r('illustration', 'a', 'illustration', 0.9), r('illustration', 'a', 'photo', 0.2),
    r('photo', 'b', 'photo', 0.1)], LABELS, 'illustration');
  assert.deepEqual(rows[0], ['class/source', 'images', 'ours correct', 'nsfwjs 2-way correct', 'ours predicted (illus/scree/photo)']);
  assert.deepEqual(rows[1], ['illustration/a', 2, '50.0%', '50.0%', '1/0/1']);
  assert.deepEqual(rows[2], ['photo/b', 1, '100.0%', '100.0%', '0/0/1']);
});

test('evenlySpaced picks n items across the list, deterministically', () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(evenlySpaced(items, 3), [0, 3, 6]);
  assert.deepEqual(evenlySpaced(items, 20), items);
  assert.deepEqual(evenlySpaced(items, undefined), items);
});

test('readCorrections reads the shared TSV and refuses unknown labels', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'illust-corrections-'));
  try {
    const file = path.join(dir, 'label-corrections.tsv');
    await writeFile(file, '# comment\nfile\tlabel\treason\na_1.jpg\tphoto\tcamera photo, not art\nb_2.jpg\tillustration\tdrawn\n');
    assert.deepEqual([...await readCorrections(file, LABELS)], [['a_1.jpg', 'photo'], ['b_2.jpg', 'illustration']]);
    await writeFile(file, 'c.jpg\tpainting\twhy\n');
    await assert.rejects(readCorrections(file, LABELS), /unknown label "painting" for c\.jpg/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('held-out: reads folds.json + oof-predictions.tsv (train.py format) and labels rows with decide()', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'illust-heldout-'));
  try {
    await writeFile(path.join(dir, 'folds.json'), JSON.stringify({ seed: 0, folds: 2, unit: 'repository group of sources',
      held_out: [['illustration/a', 'photo/p'], ['screenshot/s']] }));
    await writeFile(path.join(dir, 'oof-predictions.tsv'), [
      'file\tsource\tgroup\tfold\tlabel\tp_illustration\tp_screenshot\tp_photo',
      'x.jpg\tillustration/a\trepo/a\t0\tillustration\t0.300000\t0.200000\t0.500000',
      'y.jpg\tscreenshot/s\trepo/s\t1\tscreenshot\t0.010000\t0.900000\t0.090000',
    ].join('\n') + '\n');
    const contract = { labels: LABELS, decision: { positive_label: 'illustration', hide_below: 0.25, hide_below_min: 0.02, hide_below_max: 0.95 } };
    const heldOut = await loadHeldOut(path.join(dir, 'folds.json'), { contract, labels: LABELS });
    assert.equal(heldOut.folds, 2);
    // 0.30 >= the contract threshold 0.25: illustration, although photo scores higher
    assert.deepEqual(heldOut.judge({ rel: 'illustration/a/x.jpg' }), { label: 'illustration', scores: { illustration: 0.3, screenshot: 0.2, photo: 0.5 }, fold: 0 });
    assert.equal(heldOut.judge({ rel: 'screenshot/s/y.jpg' }).label, 'screenshot');
    assert.equal(heldOut.judge({ rel: 'photo/p/unknown.jpg' }), null);
    assert.throws(() => parseOofTsv('file\tsource\n', LABELS), /lack columns fold, p_illustration/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('text and markdown tables: a source name with a newline or a tab stays on its row, escaped', () => {
  const rows = [['class/source', 'images'], ['photo/new\nline', 2], ['photo/tab\there', 3], ['photo/a|b', 4]];
  const text = textTable(rows).split('\n');
  assert.equal(text.length, 5, text.join('\n'));
  assert.deepEqual(text.slice(2), ['photo/new\\nline       2', 'photo/tab\\there       3', 'photo/a|b             4']);
  const markdown = markdownTable(rows).split('\n');
  assert.equal(markdown.length, 5, markdown.join('\n'));
  assert.deepEqual(markdown.slice(2), ['| photo/new\\nline | 2 |', '| photo/tab\\there | 3 |', '| photo/a\\|b | 4 |']);
});

test('text table: Chinese and Japanese source names take two columns each, and the columns after them stay in line', () => {
  const table = textTable([['source', 'n', 'accuracy'], ['原神-截图', 12, '91.7%'], ['ブルーアーカイブ', 3, '100.0%'], ['renpy', 140, '98.6%']]);
  const lines = table.split('\n');
  // Right-aligned to the end: every row ends in the terminal column where the header's dashes end.
  assert.equal(lines[1], '----------------  ---  --------');
  assert.deepEqual(lines.map((line) => displayWidth(line)), [31, 31, 31, 31, 31]);
  assert.equal(lines[2], '原神-截图          12     91.7%');
  assert.equal(displayWidth('原神'), 4);
  assert.equal(displayWidth('e\u0301'), 1);
});

test('collectDataset skips a plain file named like a class, and says which', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'illust-dataset-'));
  try {
    await mkdir(path.join(dir, 'illustration', 'artist-a'), { recursive: true });
    await writeFile(path.join(dir, 'illustration', 'artist-a', 'one.png'), 'not decoded here');
    await writeFile(path.join(dir, 'photo'), 'a stray file, not a folder of photos');
    const dataset = await collectDataset(dir, LABELS);
    assert.deepEqual(dataset.images.map((image) => image.rel), ['illustration/artist-a/one.png']);
    assert.deepEqual(dataset.notFolders, ['photo']);
    assert.deepEqual(dataset.unreadable, []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
