// Real images for the extension's end-to-end tests (Chromium: extension.test.mjs; Firefox:
// extension-firefox.test.mjs): the same model run in Node picks, per class, images it labels clearly
// right, so the tests check the extension and not the model's accuracy. Also what both read back from
// the extension's storage.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dataDir = process.env.ILLUST_ONLY_DATA ?? path.join(root, '..', 'shared', 'data');

/** Candidate files of one class, spread over its sources (sorted, round-robin), deterministic. */
function candidates(label) {
  const classDir = path.join(dataDir, label);
  const perSource = readdirSync(classDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()
    .map((source) => readdirSync(path.join(classDir, source)).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => path.join(classDir, source, f)));
  const out = [];
  for (let i = 0; out.length < 200 && perSource.some((files) => i < files.length); i += 1) {
    for (const files of perSource) if (i < files.length) out.push(files[i]);
  }
  return out;
}

/**
 * Runs the same model in Node (onnxruntime-node + the same wasm core + classifier.js) and picks, per
 * class, images it labels correctly with a clear margin at the default threshold, so the test checks
 * the extension and not the model's accuracy. Also picks one `borderline` screenshot or photo: hidden
 * at the default threshold but an illustration at strictness 0 (clear of both thresholds), so
 * the strictness slider has a cell to move. Returns {picked: [{file, label, scores}], borderline,
 * contract, thresholdForStrictness} and byClass(label), the picked images of one class.
 */
export async function pickImages(counts) {
  const contract = JSON.parse(readFileSync(path.join(root, 'model', 'contract.json'), 'utf8'));
  const ort = await import('onnxruntime-node');
  const { loadCore } = await import(pathToFileURL(path.join(root, 'web', 'lib', 'core.js')));
  const { createClassifier } = await import(pathToFileURL(path.join(root, 'web', 'lib', 'classifier.js')));
  const { thresholdForStrictness } = await import(pathToFileURL(path.join(root, 'web', 'lib', 'decide.js')));
  const core = await loadCore({ wasmBinary: readFileSync(path.join(root, 'build', 'wasm', 'illust_core.wasm')) });
  const classifier = await createClassifier({
    ort, core, contract, provider: 'cpu', numThreads: 1, model: readFileSync(path.join(root, 'model', 'illust-only.onnx')),
  });
  const t = thresholdForStrictness(0.5, contract);
  const picked = [];
  for (const [label, count] of Object.entries(counts)) {
    const chosen = [];
    for (const file of candidates(label)) {
      if (chosen.length === count) break;
      const result = await classifier.classify(new Uint8Array(readFileSync(file)));
      if (!result.ok || result.label !== label) continue;
      const p = result.scores.illustration;
      const clear = label === 'illustration' ? p >= (1 + t) / 2 : p <= t / 2;
      if (clear) chosen.push({ file, label, scores: result.scores });
    }
    assert.equal(chosen.length, count, `the model labels too few ${label} images clearly right to build the fixture`);
    picked.push(...chosen);
  }
  const lowest = thresholdForStrictness(0, contract);
  // Clear of both thresholds by 0.05, or by a quarter of the gap where they are closer (the retrained
  // model's default threshold is under 0.1, its lowest 0.02: 0.05 either side leaves no room).
  const margin = Math.min(0.05, (t - lowest) / 4);
  let borderline = null;
  for (const label of ['screenshot', 'photo']) {
    for (const file of candidates(label)) {
      if (borderline) break;
      if (picked.some((x) => x.file === file)) continue;
      const result = await classifier.classify(new Uint8Array(readFileSync(file)));
      const p = result.ok ? result.scores.illustration : NaN;
      if (result.label === label && p >= lowest + margin && p <= t - margin) borderline = { file, label, scores: result.scores };
    }
  }
  assert.ok(borderline, `no screenshot or photo scores between ${lowest + margin} and ${t - margin} to test the strictness slider with`);
  await classifier.release();
  const byClass = (label) => picked.filter((p) => p.label === label);
  return { picked, byClass, borderline, contract, thresholdForStrictness };
}

/**
 * Numbers the fake X's cells. Media ids look like X's (base64url, 15 chars, starting with idPrefix) and
 * never repeat within a test file, so each cell means one fetch and one inference. Returns
 * addCells(media, items, variants): each item {file | bytes, label, scores?, hang?, delayMs?} goes into
 * `media` by its new id and comes back as a cell {statusId, mediaId, variant}; addVideoCells(media, items)
 * for video and GIF cells (the fixture's makeVideoCell): each item {file | bytes, label, poster: 'video' |
 * 'amplify' | 'gif', link?: 'photo', autoplay?, posterUrl?}, its poster key (the thumbnail's path, as
 * X's URLs have it) keying `media`, its poster frame the real image's bytes; and nextCell() for cells of
 * other kinds, drawn from the same count.
 */
export function cellFactory(idPrefix, firstStatusId) {
  let count = 0;
  const nextCell = () => {
    count += 1;
    return { number: String(count).padStart(3, '0'), statusId: String(firstStatusId + BigInt(count)) };
  };
  const addCells = (media, items, variants) => items.map((item, i) => {
    const { number, statusId } = nextCell();
    const mediaId = `${idPrefix}${number}${item.label.slice(0, 4)}AbCdEf`.slice(0, 15);
    media.set(mediaId, { ...item, bytes: item.file ? readFileSync(item.file) : item.bytes });
    return { statusId, mediaId, variant: variants[i % variants.length] };
  });
  const addVideoCells = (media, items) => items.map((item) => {
    const { number, statusId } = nextCell();
    const name = `V${number}${item.label.slice(0, 4)}-x_Z`;
    const mediaId = { video: `ext_tw_video_thumb/${statusId}/pu/img/${name}`, amplify: `amplify_video_thumb/${statusId}/img/${name}`,
      gif: `tweet_video_thumb/${name}` }[item.poster];
    media.set(mediaId, { ...item, bytes: item.file ? readFileSync(item.file) : item.bytes });
    return { statusId, mediaId, kind: item.poster === 'gif' ? 'gif' : 'video', link: item.link ?? 'video', autoplay: Boolean(item.autoplay),
      posterUrl: item.posterUrl };
  });
  return { addCells, addVideoCells, nextCell };
}

/** The media key a pbs.twimg.com path serves (as the fake X's servers read it): /media/ID, or a poster's path. */
export const mediaKeyOfPath = (pathname) => pathname.match(/^\/media\/([\w-]+)$/)?.[1]
  ?? pathname.match(/^\/((?:ext_tw_video_thumb|amplify_video_thumb|tweet_video_thumb)\/[\w/-]+?)(?:\.jpg)?$/)?.[1] ?? null;

/**
 * Answers pbs.twimg.com in a browser context as X does for `media` (media key → JPEG bytes), 404 for any
 * other; `beforeAnswer(key)` (may be async) runs first, to note or hold a request.
 */
export function serveMedia(context, media, beforeAnswer = null) {
  return context.route('https://pbs.twimg.com/**', async (route) => {
    const key = mediaKeyOfPath(new URL(route.request().url()).pathname);
    if (!media.has(key)) return route.fulfill({ status: 404, body: '' });
    await beforeAnswer?.(key);
    return route.fulfill({ contentType: 'image/jpeg', body: media.get(key) });
  });
}

/**
 * How many judged images the corrections' store keeps (corrections-store.js's "media"), read in an
 * extension page (a Playwright or Puppeteer page): what a private window must not add to.
 */
export function storedMediaCount(extensionPage) {
  return extensionPage.evaluate(() => new Promise((resolve, reject) => {
    const request = indexedDB.open('illust-only-corrections');
    request.onsuccess = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains('media')) { db.close(); resolve(0); return; }
      const count = db.transaction('media').objectStore('media').count();
      count.onsuccess = () => { db.close(); resolve(count.result); };
      count.onerror = () => reject(count.error);
    };
    request.onerror = () => reject(request.error);
  }));
}
