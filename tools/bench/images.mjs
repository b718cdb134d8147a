// Picks the benchmark's images: the same fixed, seeded mix of classes on every run and machine, so
// figures from different days compare. Reads ILLUST_ONLY_DATA's manifest.tsv (class, source, file);
// classes are interleaved (illustration, screenshot, photo, ...) so any prefix (`--images 30`,
// `--quick`) keeps the mix. The data is already sized like X's `small` thumbnails (longest side
// <= 640 px, JPEG q85), so images are served as they are.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const CLASSES = ['illustration', 'screenshot', 'photo'];

/** Small, well-known 32-bit PRNG: reproducible in any JS engine, unlike Math.random. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled(items, random) {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Returns [{file, cls, source}] of length count (or fewer when the data has fewer), or throws an Error
 * saying what is missing.
 */
export async function selectImages({ dataDir, count, seed = 20261126 }) {
  const manifest = path.join(dataDir, 'manifest.tsv');
  if (!existsSync(manifest)) throw new Error(`no image data: ${manifest} not found (set ILLUST_ONLY_DATA)`);
  const [header, ...rows] = (await readFile(manifest, 'utf8')).split('\n').filter(Boolean).map((l) => l.split('\t'));
  const col = (name) => { const i = header.indexOf(name); if (i < 0) throw new Error(`manifest.tsv lacks column ${name}`); return i; };
  const [ci, si, fi] = [col('class'), col('source'), col('file')];
  const byClass = Object.fromEntries(CLASSES.map((c) => [c, []]));
  for (const row of rows) {
    if (!byClass[row[ci]]) continue;
    byClass[row[ci]].push({ file: path.join(dataDir, row[ci], row[si], row[fi]), cls: row[ci], source: row[si] });
  }
  // Sort before shuffling so the manifest's row order cannot change the pick.
  const random = mulberry32(seed);
  const queues = CLASSES.map((c) => shuffled(byClass[c].sort((a, b) => (a.file < b.file ? -1 : 1)), random));
  const picked = [];
  for (let i = 0; picked.length < count && queues.some((q) => i < q.length); i++) {
    for (const q of queues) if (i < q.length && picked.length < count) picked.push(q[i]);
  }
  const missing = picked.filter((p) => !existsSync(p.file));
  if (missing.length) throw new Error(`${missing.length} manifest files are missing, e.g. ${missing[0].file}`);
  return picked;
}
