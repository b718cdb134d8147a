// Reads a labelled image folder laid out like ../shared/data (class/source/image, class names from the
// contract's labels) into a flat list of {path, rel, truth, source}, so evaluation and tests agree on
// what "the data set" is. Sampling for quick runs is deterministic (evenly spaced in sorted order).
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { readOptionText, walkImageFiles } from './image-files.mjs';

/** Files lying directly in a class folder, outside any source folder, get this source name. */
export const LOOSE_SOURCE = '(no source folder)';

/** Picks n items spread evenly over a sorted list (all of them when n is absent or large enough). */
export function evenlySpaced(items, n) {
  if (!Number.isInteger(n) || n <= 0 || items.length <= n) return items;
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]);
}

/**
 * Reads label corrections (model/label-corrections.tsv, shared with tools/training/illust_data.py): tab-separated
 * columns file, label, reason; '#' lines are comments, a first cell "file" is the header. Returns
 * Map(file name → label); throws on a label that is not one of `labels`.
 */
export async function readCorrections(file, labels) {
  const corrections = new Map();
  const text = await readOptionText(file);
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [name, label] = line.split('\t').map((cell) => cell?.trim());
    if (name === 'file') continue;
    if (!labels.includes(label)) throw new Error(`${file}: unknown label "${label}" for ${name}`);
    corrections.set(name, label);
  }
  return corrections;
}

/**
 * Lists the images of a labelled folder. options: {limitPerSource, corrections: Map(file name → label)}.
 * Returns {images: [{path, fsPath?, error?, rel, truth, folderClass, source}], unreadable: [{path, error}],
 * ignored: [folder names]}. `truth` is the folder's class unless a correction names the file. An image
 * file that cannot be opened (a dangling link, a FIFO named x.jpg) is an image with an `error`: it
 * counts as a failure in the figures. `unreadable` lists the folders that could not be listed;
 * `notFolders` the class names that name a plain file there instead of a folder (skipped: a stray file
 * called "photo" is not a class of images).
 */
export async function collectDataset(dataDir, labels, { limitPerSource, corrections = new Map() } = {}) {
  const info = await stat(dataDir).catch(() => null);
  if (!info?.isDirectory()) throw new Error(`${dataDir} is not a folder`);
  const entries = await readdir(dataDir, { withFileTypes: true });
  const ignored = entries.filter((e) => !e.name.startsWith('.') && e.isDirectory() && !labels.includes(e.name)).map((e) => e.name);
  const images = [];
  const unreadable = [];
  const notFolders = [];
  for (const folderClass of labels) {
    const classDir = path.join(dataDir, folderClass);
    const classInfo = await stat(classDir).catch(() => null);
    if (classInfo && !classInfo.isDirectory()) {
      notFolders.push(folderClass);
      continue;
    }
    const bySource = new Map();
    for await (const entry of walkImageFiles([classDir])) {
      if (entry.error?.startsWith('cannot list folder')) {
        unreadable.push(entry);
        continue;
      }
      if (entry.error && entry.path === classDir) continue; // a missing class folder is simply empty
      const parts = path.relative(classDir, entry.path).split(path.sep);
      const source = parts.length > 1 ? parts[0] : LOOSE_SOURCE;
      if (!bySource.has(source)) bySource.set(source, []);
      bySource.get(source).push(entry);
    }
    for (const [source, entries] of bySource) {
      for (const { path: file, fsPath, error } of evenlySpaced(entries, limitPerSource)) {
        const name = path.basename(file);
        images.push({
          path: file, ...(fsPath ? { fsPath } : {}), ...(error ? { error } : {}),
          rel: path.relative(dataDir, file).split(path.sep).join('/'), folderClass, source,
          truth: corrections.get(name) ?? folderClass, corrected: corrections.has(name),
        });
      }
    }
  }
  return { images, unreadable, ignored, notFolders };
}
