// Turns the benchmark's raw per-image timings into the report: the tables printed by `npm run bench`
// and written to docs/benchmarks.md. Kept apart from the runner so the layout can change without
// touching any measurement. Hand-written analysis lives in tools/bench/notes.md and is copied in, so
// regenerating the file never loses it.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mib, ms, ratio, summarise } from './stats.mjs';
import { startupTable } from './media-tab.mjs';

const NOTES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'notes.md');
// Everything after this line of a report is notes.md, so the analysis can be re-copied without
// measuring again (`node tools/bench.mjs --notes-only docs/benchmarks.md`).
export const MEDIA_TAB_HEADING = '## Media tab: 60 thumbnails judged by the extension';
export const NOTES_MARKER = '<!-- analysis below: tools/bench/notes.md, copied in by tools/bench.mjs -->';

/** The media-tab section's body: the scenarios' table and the cold-start breakdown (tools/bench/media-tab.mjs). */
export function mediaTabMarkdown(mediaTab) {
  if (mediaTab.error) return `not run: ${mediaTab.error}`;
  const breakdown = startupTable(mediaTab.startup);
  return `${table(mediaTab.header, mediaTab.table)}

Times in ms from navigation start (b: from the click on Media): **median** (min–max) of ${mediaTab.runs} runs, each with new media
ids; image requests per cell: each run's count (the page's own and the extension's requests).
${breakdown ? `
Cold start of (a), step by step (ms from navigation start, median (min–max); \`page:\` marks are the
content script's, the rest the service worker's, the offscreen document's and its first worker's):

${table(['step', 'ms after navigation start'], breakdown)}
` : ''}`;
}

/** `report` with its media-tab section replaced by `body` (a `--suites media-tab` run updates only that section). */
export function withMediaTabSection(report, body) {
  const heading = report.indexOf(MEDIA_TAB_HEADING);
  if (heading < 0) throw new Error(`the report has no "${MEDIA_TAB_HEADING}" section`);
  const start = heading + MEDIA_TAB_HEADING.length + 1;
  const ends = [report.indexOf('\n## ', start), report.indexOf(NOTES_MARKER, start)].filter((i) => i >= 0);
  const end = ends.length ? Math.min(...ends) : report.length;
  return `${report.slice(0, start)}${body.trim()}\n\n${report.slice(end).replace(/^\n+/, '')}`;
}

const readNotes = () => (existsSync(NOTES) ? readFileSync(NOTES, 'utf8').trim() : '');

/** `report` (a Markdown report written by renderReport) with its analysis replaced by notes.md as it is now. */
export function withCurrentNotes(report) {
  const at = report.indexOf(NOTES_MARKER);
  if (at < 0) throw new Error('the report has no analysis marker (written before --notes-only existed): run the benchmark once');
  return `${report.slice(0, at)}${NOTES_MARKER}\n${readNotes()}\n`;
}

// nsfwjs answers Drawing/Hentai/Neutral/Porn/Sexy; its two drawn classes stand for "illustration".
const isIllustration = (label) => label === 'illustration' || label === 'Drawing' || label === 'Hentai';

function agreement(rows, images) {
  const judged = rows.map((r, i) => [r, images[i]]).filter(([r]) => !r.error && r.label);
  if (!judged.length) return NaN;
  const agree = judged.filter(([r, img]) => isIllustration(r.label) === (img.cls === 'illustration')).length;
  return agree / judged.length;
}

function stats(result) {
  const rows = result.rows ?? [];
  return {
    decode: summarise(rows, 'decode'),
    infer: summarise(rows, 'infer'),
    total: summarise(rows, 'total'),
    errors: rows.filter((r) => r.error).length,
  };
}

/** Mean CPU milliseconds per image: renderer ProcessTime for browser rows, getrusage / thread CPU time otherwise. */
function cpuOf(r) {
  if (!r || r.error) return NaN;
  if (Number.isFinite(r.memory?.cpuMsPerImage)) return r.memory.cpuMsPerImage;
  const values = (r.rows ?? []).map((row) => row.cpu).filter(Number.isFinite);
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

const medianOf = (r, field) => (r && !r.error ? stats(r)[field].median : NaN);
const pair = (s) => `${ms(s.median)} / ${ms(s.p95)}`;

function memoryText(result) {
  const m = result.memory ?? {};
  if (m.uaMemory || m.jsHeap) return `${mib(m.uaMemory)} MiB page, ${mib(m.jsHeap)} MiB JS heap`;
  if (m.nodeRss) return `${mib(m.nodeRss)} MiB peak RSS (node process)`;
  return '–';
}

function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** results: [{id, group, suite, title, options, rows, startupMs, memory, info, error}]. */
export function renderReport({ results, environment: env, images }) {
  const byId = (id) => results.find((r) => r.id === id && !r.error);
  const ok = (r) => !r.error && r.rows?.length;

  const pipelines = results.filter((r) => ['ours', 'nsfwjs', 'node-ort'].includes(r.suite) && r.group !== 'levers');
  const levers = results.filter((r) => r.group === 'levers');
  const pipelineTable = table(
    ['pipeline', 'start-up ms', 'decode+preprocess ms (median / p95)', 'inference ms (median / p95)', 'total ms (median / p95)', 'CPU ms per image (mean)', 'peak memory', 'illustration agreement', 'errors'],
    pipelines.map((r) => {
      if (!ok(r)) return [r.title, '–', '–', '–', '–', '–', '–', '–', `not run: ${String(r.error ?? 'no rows').split('\n')[0].slice(0, 120)}`];
      const s = stats(r);
      const agree = agreement(r.rows, images);
      // tfjs sizes its own thread pool; say so when it did not give the threads asked for.
      const title = r.suite === 'nsfwjs' && r.options.threads && r.info?.threads !== r.options.threads
        ? `${r.title} (tfjs reports ${r.info?.threads} thread)` : r.title;
      return [title, ms(r.startupMs), pair(s.decode), pair(s.infer), `**${pair(s.total)}**`, ms(cpuOf(r)), memoryText(r),
        Number.isFinite(agree) ? `${(agree * 100).toFixed(0)}%` : '–', String(s.errors)];
    }));

  const leverTable = table(
    ['lever', 'start-up ms', 'inference ms (median / p95)', 'per image ms (median / p95)', 'CPU ms per image', 'vs its baseline (ours with the same threads; the pool: ours with 2 threads; node rows: the plain node row): inference · per image · CPU'],
    levers.map((r) => {
      if (!ok(r)) return [r.title, '–', '–', '–', '–', `not run: ${String(r.error ?? 'no rows').split('\n')[0].slice(0, 120)}`];
      const base = byId(r.baseId ?? `ours:{"threads":${r.options.threads}}`);
      const s = stats(r);
      return [r.title, ms(r.startupMs), pair(s.infer), pair(s.total), ms(cpuOf(r)),
        base ? `${ratio(medianOf(r, 'infer'), medianOf(base, 'infer'), 2)} · ${ratio(medianOf(r, 'total'), medianOf(base, 'total'), 2)} · ${ratio(cpuOf(r), cpuOf(base), 2)}` : '–'];
    }));

  const decoders = results.filter((r) => ['core-decode', 'browser-decode', 'native-core'].includes(r.suite));
  const decodeTable = table(
    ['decode + preprocess to the 1x3xHxW tensor', 'median ms', 'p95 ms', 'CPU ms per image (mean)', 'errors'],
    decoders.map((r) => {
      if (!ok(r)) return [r.title, '–', '–', '–', `not run: ${String(r.error ?? 'no rows').split('\n')[0].slice(0, 120)}`];
      const s = stats(r);
      return [r.title, ms(s.decode.median), ms(s.decode.p95), ms(cpuOf(r)), String(s.errors)];
    }));

  // Ratios: "x times" always reads as slower/faster for ours.
  const ours1 = byId('ours:{"threads":1}');
  const ours2 = byId('ours:{"threads":2}');
  const oursBest = [ours1, ours2].filter(Boolean).sort((a, b) => medianOf(a, 'total') - medianOf(b, 'total'))[0];
  const nsfwBest = results.filter((r) => r.suite === 'nsfwjs' && ok(r)).sort((a, b) => medianOf(a, 'total') - medianOf(b, 'total'))[0];
  const nodeBest = results.filter((r) => r.suite === 'node-ort' && r.group !== 'levers' && ok(r)).sort((a, b) => medianOf(a, 'total') - medianOf(b, 'total'))[0];
  const nativeCore = byId('native-core');
  const coreDecode = byId('core-decode:{}');
  const browserDecode = byId('browser-decode:{}');
  // The native limit: the natively compiled core's decode + onnxruntime-node's inference.
  const nativeLimit = nodeBest && nativeCore ? medianOf(nativeCore, 'decode') + medianOf(nodeBest, 'infer') : NaN;
  // The same in CPU time: the native core's CPU plus onnxruntime-node's share of the node row's CPU,
  // apportioned by its share of the wall time (the node row times its phases but counts CPU per image).
  const nodeInferCpu = nodeBest ? cpuOf(nodeBest) * (medianOf(nodeBest, 'infer') / medianOf(nodeBest, 'total')) : NaN;
  const nativeLimitCpu = nativeCore ? cpuOf(nativeCore) + nodeInferCpu : NaN;
  const mediaTab = results.find((r) => r.group === 'media-tab');

  const ratioRows = [];
  const add = (what, value, goal) => ratioRows.push([what, value, goal ?? '']);
  if (oursBest && nsfwBest) {
    add(`nsfwjs (${nsfwBest.title.replace('nsfwjs 4.4.0: ', '')}) / ours (${oursBest.options.threads} thr): median total · CPU per image`,
      `${ratio(medianOf(nsfwBest, 'total'), medianOf(oursBest, 'total'))} · ${ratio(cpuOf(nsfwBest), cpuOf(oursBest))}`, '≥ 3x');
  }
  // The extension judges a media tab's thumbnails as a stream on its pool: time between verdicts.
  const pool = results.find((r) => r.suite === 'ours-pool' && ok(r));
  if (pool && nsfwBest) {
    add(`nsfwjs (${nsfwBest.title.replace('nsfwjs 4.4.0: ', '')}) / ours as the extension runs it (${pool.options.workers} workers × ${pool.options.threads} thread, a stream of images): per image · CPU per image`,
      `${ratio(medianOf(nsfwBest, 'total'), medianOf(pool, 'total'))} · ${ratio(cpuOf(nsfwBest), cpuOf(pool))}`);
  }
  for (const threads of [1, 2]) {
    const o = byId(`ours:{"threads":${threads}}`);
    const n = byId(`nsfwjs:{"backend":"wasm","threads":${threads}}`);
    if (o && n) add(`nsfwjs wasm / ours, both ${threads} thread${threads > 1 ? 's' : ''}: total · inference`,
      `${ratio(medianOf(n, 'total'), medianOf(o, 'total'))} · ${ratio(medianOf(n, 'infer'), medianOf(o, 'infer'))}`);
  }
  if (oursBest && Number.isFinite(nativeLimit)) add(`ours (${oursBest.options.threads} thr) / native limit (native core + onnxruntime-node ${nodeBest.options.threads} thr): median total · CPU per image (≈)`,
    `${ratio(medianOf(oursBest, 'total'), nativeLimit)} · ${ratio(cpuOf(oursBest), nativeLimitCpu)}`, '≤ 3x');
  if (oursBest && nodeBest) add(`ours / onnxruntime-node, inference only (${oursBest.options.threads} vs ${nodeBest.options.threads} thr)`,
    ratio(medianOf(oursBest, 'infer'), medianOf(nodeBest, 'infer')));
  if (coreDecode && browserDecode) add('browser decode path / wasm core, decode + preprocess: median · CPU per image', `${ratio(medianOf(browserDecode, 'decode'), medianOf(coreDecode, 'decode'), 2)} · ${ratio(cpuOf(browserDecode), cpuOf(coreDecode), 2)}`, '≥ 1x (core no slower)');
  const coreWebp = results.find((r) => r.suite === 'core-decode' && r.options?.imageSet === 'webp' && ok(r));
  if (coreDecode && coreWebp) add('wasm core, WebP / JPEG (the same images), decode + preprocess: median · CPU per image', `${ratio(medianOf(coreWebp, 'decode'), medianOf(coreDecode, 'decode'), 2)} · ${ratio(cpuOf(coreWebp), cpuOf(coreDecode), 2)}`, '≤ 1.5x');
  if (coreDecode && nativeCore) add('wasm core / native core, decode + preprocess: median · CPU per image', `${ratio(medianOf(coreDecode, 'decode'), medianOf(nativeCore, 'decode'))} · ${ratio(cpuOf(coreDecode), cpuOf(nativeCore))}`);
  if (mediaTab && !mediaTab.error) {
    const row = (name) => mediaTab.table.find((r) => r[0].startsWith(name));
    const fresh = row('(a)');
    const revisit = row('(d)');
    if (fresh) add('media tab, fresh profile, opened directly: first screen (24 cells) all judged, from navigation start (median, min–max)', `${fresh[2]} ms`, '< 2000 ms');
    if (revisit) add('media tab revisited after a browser restart: first screen\'s first verdict, from navigation start (median, min–max)', `${revisit[1]} ms`, '< 300 ms');
  }

  const envTable = table(['', ''], [
    ['date', env.date],
    ['machine', `${env.cpu}, ${env.cores} cores, ${mib(env.memory)} MiB RAM, ${env.os}`],
    ['load average (1 min) before / after', `${env.loadBefore[0].toFixed(2)} / ${env.loadAfter[0].toFixed(2)} (the machine is shared: figures move with it)`],
    ['browser', `Chromium ${env.chromium}, headless, --disable-gpu`],
    ['node', env.node],
    ...Object.entries(env.versions).map(([k, v]) => [k, v]),
    ['model', env.model],
    ['commit', env.commit],
    ['images', `${env.images.count} (${Object.entries(env.images.perClass).map(([k, v]) => `${v} ${k}`).join(', ')}), seed ${env.images.seed}, ${env.images.warmup} warm-up runs per suite not counted` +
      (env.images.repeat > 1 ? `; each image run ${env.images.repeat} times back to back, its fastest run kept` : '; each image run once')],
    ['command', `\`${env.command}\` (${env.durationS.toFixed(0)} s)`],
  ]);

  const mediaText = mediaTab ? mediaTabMarkdown(mediaTab) : 'not run';

  const notes = readNotes();
  const markdown = `# Benchmarks

Generated by \`npm run bench -- --out docs/benchmarks.md\` (tools/bench.mjs); do not edit by hand:
analysis lives in tools/bench/notes.md and is copied in below. Times are per image, bytes in memory →
verdict, one image at a time (what the extension does for each thumbnail), after warm-up.

## Machine and versions
${envTable}

## Bytes → verdict
${pipelineTable}

"decode+preprocess" is everything before the network: for ours the wasm core's toTensor, for nsfwjs
createImageBitmap + tf.browser.fromPixels + resizeBilinear (nsfwjs's own preprocessing), for the node
rows the wasm core run by Node. "illustration agreement": share of images where the pipeline's
illustration / not-illustration call matches the image's folder (nsfwjs: Drawing or Hentai count as
illustration; it was not trained for this task, the figure only shows its verdicts are not noise).
CPU ms per image: CPU time spent per image by the suite's own process, all threads (browser rows:
the tab's renderer process, DevTools ProcessTime, mean over the run; node rows: getrusage of the
suite's process; native core: thread CPU time). It hardly moves with other load, so on this shared
machine it is the steadier figure for comparing costs; wall times are what a user waits.
Peak memory, browser rows: the page's memory as performance.measureUserAgentSpecificMemory() reports
it (JS heaps of the page and its workers, wasm memories and array buffers included; the larger of the
readings after set-up and after the run) and the peak JS heap from the DevTools protocol (no wasm).
Node rows: the peak resident set of the suite's own Node process (getrusage). Suites run interleaved,
10 images per turn, so background load on the shared machine hits all of them alike.

${levers.length ? `## Levers: ORT session options on our pipeline (same images, interleaved)
${leverTable}

Below 1.00x means faster than our default pipeline. Session options go through classifier.js's
sessionOptions. Batching: each image's row is its share of a 5-image session.run (what a burst of
thumbnails costs per image; the first verdict of a batch waits for the whole batch). Pipelined:
"per image" is the time between consecutive verdicts while a worker decodes the next image.

` : ''}## Decode + preprocess: wasm core vs the browser's own path vs native
${decodeTable}

## Ratios and goals
${table(['comparison', 'value', 'goal'], ratioRows)}

## Media tab: 60 thumbnails judged by the extension
${mediaText}

${NOTES_MARKER}
${notes}
`;
  return { markdown, text: markdown };
}
