// Turns evaluated records into the figures and documents of tools/evaluate.mjs: text tables for the
// terminal, a markdown summary (small enough to commit under docs/evaluation/) and an
// HTML error analysis with thumbnails (written only under build/, never committed).
// A record: {rel, path, truth, source, folderClass, ours: {label, scores} | {error},
//            heldOut?: {label, scores, fold} | {error}, nsfw?: {scores, illustration} | {error}, thumb?}
import { confusion, groupBy, markdownTable, percent, rocAuc, textTable, twoWay } from './metrics.mjs';

const NSFW_THRESHOLD = 0.5; // Drawing+Hentai ≥ 0.5 is nsfwjs's own two-way argmax

export const nsfwTwoWayLabel = (nsfw, positive) =>
  (nsfw && !nsfw.error ? (nsfw.illustration >= NSFW_THRESHOLD ? positive : `not ${positive}`) : null);

const predictedOf = (view) => (view && !view.error ? view.label : null);

/** All figures for one set of predictions ('ours' or 'heldOut') over the records that have it. */
export function analyse(records, labels, key, positive) {
  const withView = records.filter((r) => r[key] !== undefined);
  const pairs = withView.map((r) => ({ truth: r.truth, predicted: predictedOf(r[key]) }));
  const scoreOf = (r) => (r[key] && !r[key].error ? r[key].scores[positive] : NaN);
  return {
    key, count: withView.length,
    confusion: confusion(pairs, labels),
    twoWay: twoWay(pairs, positive),
    auc: rocAuc(withView.map((r) => ({ positive: r.truth === positive, score: scoreOf(r) }))),
  };
}

export function analyseBaseline(records, positive) {
  const withBaseline = records.filter((r) => r.nsfw !== undefined);
  const pairs = withBaseline.map((r) => ({ truth: r.truth === positive ? positive : `not ${positive}`, predicted: nsfwTwoWayLabel(r.nsfw, positive) }));
  return {
    count: withBaseline.length,
    twoWay: twoWay(pairs, positive),
    auc: rocAuc(withBaseline.map((r) => ({ positive: r.truth === positive, score: r.nsfw?.error ? NaN : r.nsfw?.illustration }))),
  };
}

/** Rows for the confusion matrix: header, one row per true class (with failures when any). */
export function confusionRows(result) {
  const { labels, matrix, failed } = result;
  const anyFailed = failed.some((n) => n > 0);
  const header = ['truth \\ predicted', ...labels, ...(anyFailed ? ['unreadable'] : []), 'recall'];
  const rows = labels.map((name, i) => [name, ...matrix[i], ...(anyFailed ? [failed[i]] : []), percent(result.perClass[name].recall)]);
  const precision = ['precision', ...labels.map((name) => percent(result.perClass[name].precision)), ...(anyFailed ? [''] : []), ''];
  return [header, ...rows, precision];
}

function twoWayRows(entries) {
  return [
    ['model', 'images', 'illustration recall', 'illustration precision', '2-way accuracy', 'AUC p(illustration)'],
    ...entries.map(({ name, result }) => [name, result.twoWay.total, percent(result.twoWay.recall),
      percent(result.twoWay.precision), percent(result.twoWay.accuracy), Number.isFinite(result.auc) ? result.auc.toFixed(3) : 'n/a']),
  ];
}

/** One row per source: size, our accuracy (and held-out), nsfwjs's 2-way accuracy, where errors went. */
export function perSourceRows(records, labels, positive) {
  const hasHeldOut = records.some((r) => r.heldOut !== undefined);
  const hasBaseline = records.some((r) => r.nsfw !== undefined);
  const header = ['class/source', 'images', 'ours correct', ...(hasHeldOut ? ['held-out correct'] : []),
    ...(hasBaseline ? ['nsfwjs 2-way correct'] : []), 'ours predicted (' + labels.map((l) => l.slice(0, 5)).join('/') + ')'];
  const rows = [];
  for (const [key, group] of groupBy(records, (r) => `${r.folderClass}/${r.source}`)) {
    const correct = (view) => group.filter((r) => predictedOf(r[view]) === r.truth).length;
    const counted = (view) => group.filter((r) => r[view] !== undefined).length;
    const nsfwCorrect = group.filter((r) => {
      const said = nsfwTwoWayLabel(r.nsfw, positive);
      return said !== null && (said === positive) === (r.truth === positive);
    }).length;
    const spread = labels.map((l) => group.filter((r) => predictedOf(r.ours) === l).length).join('/');
    rows.push([key, group.length, percent(correct('ours') / group.length),
      ...(hasHeldOut ? [counted('heldOut') ? percent(correct('heldOut') / counted('heldOut')) : 'n/a'] : []),
      ...(hasBaseline ? [counted('nsfw') ? percent(nsfwCorrect / counted('nsfw')) : 'n/a'] : []), spread]);
  }
  return [header, ...rows];
}

/**
 * Builds every section once as {title, note, rows} so the terminal, markdown and HTML show the same
 * numbers. meta: {labels, positive, shippedNote, heldOutNote}.
 */
export function buildSections(records, meta) {
  const { labels, positive } = meta;
  const sections = [];
  const ours = analyse(records, labels, 'ours', positive);
  const heldOut = records.some((r) => r.heldOut !== undefined) ? analyse(records, labels, 'heldOut', positive) : null;
  const baseline = records.some((r) => r.nsfw !== undefined) ? analyseBaseline(records, positive) : null;
  if (heldOut) {
    sections.push({ title: 'Held-out (honest): each image judged by a model that never saw its source', note: meta.heldOutNote,
      rows: confusionRows(heldOut.confusion), summary: summaryLine(heldOut) });
  }
  sections.push({ title: `Shipped model${meta.shippedNote ? ` (${meta.shippedNote})` : ''}`, note: meta.shippedLongNote,
    rows: confusionRows(ours.confusion), summary: summaryLine(ours) });
  const twoWayEntries = [
    ...(heldOut ? [{ name: 'ours, held-out', result: heldOut }] : []),
    { name: heldOut ? 'ours, shipped model' : 'ours', result: ours },
    ...(baseline ? [{ name: 'nsfwjs 4.4.0 (Drawing+Hentai ≥ 0.5)', result: baseline }] : []),
  ];
  sections.push({ title: `Two-way view: ${positive} vs not ${positive}`,
    note: baseline ? `nsfwjs MobileNetV2 on tfjs, fed pixels decoded by our wasm core; Drawing+Hentai count as ${positive}, Neutral/Porn/Sexy as not.` : 'nsfwjs baseline not run.',
    rows: twoWayRows(twoWayEntries) });
  sections.push({ title: 'Per source', note: 'correct = predicted label equals the true label; nsfwjs is judged two-way.',
    rows: perSourceRows(records, labels, positive) });
  return { sections, ours, heldOut, baseline };
}

function summaryLine(result) {
  const c = result.confusion;
  return `accuracy ${percent(c.accuracy)} (${c.correct}/${c.total}), macro recall ${percent(c.macroRecall)}` +
    (c.failed.some((n) => n > 0) ? `, unreadable ${c.failed.reduce((a, b) => a + b, 0)}` : '');
}

export function renderText(header, sections) {
  return [header, ...sections.map((s) => [`\n== ${s.title} ==`, ...(s.note ? [s.note] : []),
    textTable(s.rows), ...(s.summary ? [s.summary] : [])].join('\n'))].join('\n');
}

export function renderMarkdown(header, sections) {
  const bullets = header.split('\n').map((line) => `- ${line}`).join('\n');
  return [`# Illust Only evaluation\n\n${bullets}`, ...sections.map((s) => [`## ${s.title}`, ...(s.note ? [s.note] : []),
    markdownTable(s.rows), ...(s.summary ? [`**${s.summary}**`] : [])].join('\n\n'))].join('\n\n') + '\n';
}

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]);

function htmlTable(rows) {
  const [head, ...body] = rows;
  return `<table><thead><tr>${head.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>${
    body.map((row) => `<tr>${row.map((c, i) => (i === 0 ? `<th>${escapeHtml(c)}</th>` : `<td>${escapeHtml(c)}</td>`)).join('')}</tr>`).join('')}</tbody></table>`;
}

function scoreBars(scores, labels) {
  return labels.map((name) => `<div class="bar"><span class="name">${escapeHtml(name)}</span><span class="track"><span class="fill ${escapeHtml(name)}" style="width:${(100 * scores[name]).toFixed(1)}%"></span></span><span class="value">${scores[name].toFixed(3)}</span></div>`).join('');
}

function card(record, view, labels, positive) {
  const verdict = record[view];
  const nsfw = record.nsfw && !record.nsfw.error
    ? `<div class="nsfw">nsfwjs: Drawing+Hentai ${record.nsfw.illustration.toFixed(3)} → ${escapeHtml(nsfwTwoWayLabel(record.nsfw, positive))}</div>` : '';
  const other = view === 'heldOut' && record.ours && !record.ours.error
    ? `<div class="other">shipped model: ${escapeHtml(record.ours.label)}</div>`
    : (view === 'ours' && record.heldOut && !record.heldOut.error ? `<div class="other">held-out: ${escapeHtml(record.heldOut.label)}</div>` : '');
  const body = verdict.error
    ? `<div class="error">${escapeHtml(verdict.error)}</div>`
    : `<div class="said">said <b>${escapeHtml(verdict.label)}</b>${verdict.fold !== undefined ? ` (fold ${escapeHtml(verdict.fold)})` : ''}</div>${scoreBars(verdict.scores, labels)}`;
  const image = record.thumb ? `<img src="${escapeHtml(record.thumb)}" loading="lazy" alt="">` : '<div class="noimg">no thumbnail</div>';
  return `<figure><a href="${escapeHtml(record.href ?? '')}">${image}</a><figcaption><div class="path" title="${escapeHtml(record.rel)}">${escapeHtml(record.rel)}</div>${body}${other}${nsfw}</figcaption></figure>`;
}

/** Records the given view got wrong, grouped "truth → predicted", for the HTML error analysis. */
export function mistakesOf(records, view) {
  const wrong = records.filter((r) => r[view] !== undefined && predictedOf(r[view]) !== r.truth);
  return groupBy(wrong, (r) => `${r.truth} → ${predictedOf(r[view]) ?? 'unreadable'}`);
}

export function renderHtml({ header, sections, records, labels, positive, views }) {
  const galleries = views.map(({ view, title }) => {
    const groups = mistakesOf(records, view);
    const total = [...groups.values()].reduce((sum, g) => sum + g.length, 0);
    const parts = [...groups].sort(([a], [b]) => a.localeCompare(b)).map(([key, group]) =>
      `<h3>${escapeHtml(key)} <small>(${group.length})</small></h3><div class="grid">${group.map((r) => card(r, view, labels, positive)).join('')}</div>`);
    return `<section><h2>${escapeHtml(title)} <small>(${total} misclassified)</small></h2>${parts.join('') || '<p>None.</p>'}</section>`;
  }).join('');
  const tables = sections.map((s) => `<section><h2>${escapeHtml(s.title)}</h2>${s.note ? `<p>${escapeHtml(s.note)}</p>` : ''}${htmlTable(s.rows)}${s.summary ? `<p><b>${escapeHtml(s.summary)}</b></p>` : ''}</section>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Illust Only evaluation</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.2rem .5rem}td{text-align:right}
thead th{background:#f0f0f0}small{color:#666;font-weight:normal}
.grid{display:flex;flex-wrap:wrap;gap:.75rem}figure{margin:0;width:180px;border:1px solid #ddd;padding:.4rem;border-radius:4px}
figure img{max-width:170px;max-height:170px;display:block;margin:auto}.noimg{height:60px;color:#999}
.path{font-size:11px;color:#555;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.bar{display:flex;align-items:center;gap:4px;font-size:11px}.bar .name{width:62px}.bar .value{width:38px;text-align:right}
.track{flex:1;height:8px;background:#eee;position:relative}.fill{position:absolute;left:0;top:0;bottom:0;background:#888}
.fill.illustration{background:#2a7}.fill.screenshot{background:#37c}.fill.photo{background:#c73}
.error{color:#b00}.nsfw,.other{font-size:11px;color:#444}
</style></head><body>
<h1>Illust Only evaluation</h1><p>${escapeHtml(header).replaceAll('\n', '<br>')}</p>
${tables}${galleries}
</body></html>
`;
}
