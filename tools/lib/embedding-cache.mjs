// Scores and pooled embeddings of a labelled folder, computed once per model version and kept under
// build/embeddings/ (git-ignored), so tools/simulate-corrections.mjs can be re-run in seconds and a
// retrained model (a new contract.version) never meets embeddings of the old one. An entry is reused
// only when the model version, the file's size and its modification time all match.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readImageFile } from './image-files.mjs';
import { ROOT } from './node-classifier.mjs';

export const CACHE_DIR = path.join(ROOT, 'build', 'embeddings');

function cacheFiles(dataDir, modelVersion, cacheDir) {
  const folder = createHash('sha1').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
  const safeVersion = String(modelVersion).replace(/[^A-Za-z0-9._-]/g, '_');
  const base = path.join(cacheDir, `${safeVersion}-${folder}`);
  return { index: `${base}.json`, vectors: `${base}.f32` };
}

async function readCache(files, modelVersion) {
  try {
    const index = JSON.parse(await readFile(files.index, 'utf8'));
    if (index.modelVersion !== modelVersion) return new Map();
    const buffer = await readFile(files.vectors);
    const all = new Float32Array(buffer.buffer, buffer.byteOffset, buffer.byteLength / 4);
    const entries = new Map();
    for (const [rel, entry] of Object.entries(index.entries)) {
      const { offset, dims } = entry;
      if (offset + dims > all.length) continue;
      entries.set(rel, { ...entry, embedding: all.slice(offset, offset + dims) });
    }
    return entries;
  } catch {
    return new Map(); // absent or damaged: computed again
  }
}

async function writeCache(files, modelVersion, entries) {
  const list = [...entries];
  const total = list.reduce((sum, [, e]) => sum + e.embedding.length, 0);
  const all = new Float32Array(total);
  const index = { modelVersion, entries: {} };
  let offset = 0;
  for (const [rel, e] of list) {
    all.set(e.embedding, offset);
    index.entries[rel] = { size: e.size, mtimeMs: e.mtimeMs, scores: e.scores, offset, dims: e.embedding.length };
    offset += e.embedding.length;
  }
  await mkdir(path.dirname(files.index), { recursive: true });
  await writeFile(`${files.vectors}.tmp`, new Uint8Array(all.buffer));
  await writeFile(`${files.index}.tmp`, JSON.stringify(index));
  await rename(`${files.vectors}.tmp`, files.vectors);
  await rename(`${files.index}.tmp`, files.index);
}

/**
 * Fills in {scores, embedding} for each image of `images` (from collectDataset) with the classifier,
 * reusing the cache. Images that cannot be read or judged get {error}. options: {dataDir, modelVersion,
 * cacheDir, progress(done, total, computed)}. Returns {images (same order, with scores/embedding or
 * error), computed (how many ran the model)}.
 */
export async function embedDataset(images, classifier, { dataDir, modelVersion, cacheDir = CACHE_DIR, progress = () => {} }) {
  const files = cacheFiles(dataDir, modelVersion, cacheDir);
  const cached = await readCache(files, modelVersion);
  const fresh = new Map();
  const out = [];
  let computed = 0;
  for (const [i, image] of images.entries()) {
    const info = await stat(image.fsPath ?? image.path).catch(() => null);
    const hit = cached.get(image.rel);
    if (info && hit && hit.size === info.size && hit.mtimeMs === info.mtimeMs) {
      fresh.set(image.rel, hit);
      out.push({ ...image, scores: hit.scores, embedding: hit.embedding });
    } else if (image.error || !info) {
      out.push({ ...image, error: image.error ?? 'cannot read the file' });
    } else {
      let result;
      try {
        const read = await readImageFile(image.fsPath ?? image.path);
        result = read.ok ? await classifier.classify(read.bytes, { embedding: true }) : { ok: false, message: read.error };
      } catch (error) {
        result = { ok: false, message: String(error?.message ?? error) };
      }
      computed += 1;
      if (result.ok && result.embedding) {
        const entry = { size: info.size, mtimeMs: info.mtimeMs, scores: result.scores, embedding: result.embedding };
        fresh.set(image.rel, entry);
        out.push({ ...image, scores: entry.scores, embedding: entry.embedding });
      } else {
        out.push({ ...image, error: result.message ?? 'no embedding' });
      }
      if (computed % 500 === 0) await writeCache(files, modelVersion, fresh); // a killed run keeps its work
    }
    progress(i + 1, images.length, computed);
  }
  if (computed > 0 || fresh.size !== cached.size) await writeCache(files, modelVersion, fresh);
  return { images: out, computed, cacheFile: files.index };
}
