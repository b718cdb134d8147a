// Finds the image files named on a command line (files or folders, walked recursively) and reads them
// safely. Shared by tools/classify.mjs and tools/evaluate.mjs so both treat odd inputs the same way:
// symlink loops, unreadable folders, FIFOs and devices (reading one could hang), huge files. Every
// problem becomes an entry with an `error` string, never an exception, so one bad file cannot stop a run.
import { constants } from 'node:fs';
import { open, opendir, stat } from 'node:fs/promises';
import path from 'node:path';

// Extensions taken when walking a folder (a file named explicitly is always taken). Lower case. One list
// with the demo page's folder walk, which ships it (tools/lib does not), so both take the same files.
import { IMAGE_EXTENSIONS } from '../../web/demo/files.js';

export { IMAGE_EXTENSIONS };

/** Files above this are refused before reading: the core caps images at 50 megapixels anyway. */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

export function hasImageExtension(file) {
  return IMAGE_EXTENSIONS.includes(path.extname(file).toLowerCase());
}

function describe(error) {
  const reasons = { ENOENT: 'no such file or directory', EACCES: 'permission denied', ELOOP: 'too many symbolic links',
    ENOTDIR: 'not a directory', EISDIR: 'is a directory', EMFILE: 'too many open files', ENAMETOOLONG: 'name too long' };
  return reasons[error?.code] ?? String(error?.message ?? error);
}

// Names that are not valid UTF-8 (old archives in Shift-JIS or Latin-1) cannot be opened through a
// JS string: such a path is carried as its bytes (a Buffer, which fs accepts) beside its printable form.
const shown = (file) => (typeof file === 'string' ? file : file.toString('utf8'));

function childPath(dir, name /* Buffer */) {
  const text = name.toString('utf8');
  if (typeof dir === 'string' && Buffer.from(text, 'utf8').equals(name)) return path.join(dir, text);
  return Buffer.concat([typeof dir === 'string' ? Buffer.from(dir, 'utf8') : dir, Buffer.from(path.sep), name]);
}

/**
 * Yields {path} for each image file under `inputs` (files or folders), or {path, error} for what cannot
 * be listed or is not a regular file. `path` is printable; an entry whose name is not valid UTF-8 also
 * has `fsPath` (its exact bytes, a Buffer): open `entry.fsPath ?? entry.path`. Folders are walked
 * depth-first in sorted order, following symlinks; a folder reached twice (a symlink loop, or two links
 * to one place) is walked once. options.allFiles: take every regular file in folders, not only image
 * extensions.
 */
export async function* walkImageFiles(inputs, { allFiles = false } = {}) {
  const seenDirs = new Set();
  const entry = (file, fields) => ({ path: shown(file), ...(typeof file === 'string' ? {} : { fsPath: file }), ...fields });

  async function* visit(file, named) {
    let info;
    try {
      info = await stat(file); // follows symlinks; a dangling or looping link fails here
    } catch (error) {
      // In a folder, a broken link named notes.txt is not an image we failed to judge: skip it.
      if (named || allFiles || hasImageExtension(shown(file))) yield entry(file, { error: `cannot read: ${describe(error)}` });
      return;
    }
    if (info.isDirectory()) {
      // Hidden folders (.git, .cache) hold no images worth judging; hidden files still count when they
      // look like images (data sets have names such as ".github__pr-assets__x.jpg").
      if (!named && path.basename(shown(file)).startsWith('.')) return;
      const key = `${info.dev}:${info.ino}`;
      if (seenDirs.has(key)) return; // symlink loop or second link to a folder already walked
      seenDirs.add(key);
      let names;
      try {
        names = [];
        for await (const dirent of await opendir(file, { encoding: 'buffer' })) names.push(dirent.name);
      } catch (error) {
        yield entry(file, { error: `cannot list folder: ${describe(error)}` });
        return;
      }
      const sorted = names.map((name) => [name.toString('utf8'), name]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      for (const [, name] of sorted) yield* visit(childPath(file, name), false);
      return;
    }
    if (!named && !allFiles && !hasImageExtension(shown(file))) return;
    if (!info.isFile()) {
      // Only named paths reach here with an odd type worth reporting; in folders, skip them quietly
      // unless they look like images.
      yield entry(file, { error: 'not a regular file' });
      return;
    }
    yield entry(file, { size: info.size });
  }

  for (const input of inputs) yield* visit(input, true);
}

/**
 * Reads a whole regular file into a Uint8Array. Returns {ok:true, bytes} or {ok:false, error}.
 * Refuses files over maxBytes and anything that is not a regular file at open time (so a file swapped
 * for a FIFO after walking still cannot hang the read).
 */
export async function readImageFile(file, { maxBytes = MAX_FILE_BYTES } = {}) {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile()) return { ok: false, error: 'not a regular file' };
    if (info.size > maxBytes) return { ok: false, error: `file too large: ${info.size} bytes exceeds ${maxBytes} bytes` };
    const bytes = new Uint8Array(info.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break; // the file shrank while we read it: hand the core what there is
      filled += bytesRead;
    }
    return { ok: true, bytes: filled === bytes.length ? bytes : bytes.subarray(0, filled) };
  } catch (error) {
    return { ok: false, error: `cannot read: ${describe(error)}` };
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** Option files (contract, corrections, held-out predictions) are small; the model is ~9 MB. */
export const MAX_TEXT_FILE_BYTES = 64 * 1024 * 1024;
export const MAX_MODEL_FILE_BYTES = 1024 * 1024 * 1024;

/**
 * Reads a file named by an option (--model, --contract, --corrections, --folds) with readImageFile's
 * guards, so a FIFO or /dev/zero given by mistake fails at once instead of hanging or filling memory.
 * Resolves to the bytes; rejects with an Error whose message says why ("not a regular file", …).
 */
export async function readOptionFile(file, { maxBytes = MAX_TEXT_FILE_BYTES } = {}) {
  const read = await readImageFile(file, { maxBytes });
  if (!read.ok) throw new Error(read.error.replace(/^cannot read: /, ''));
  return read.bytes;
}

/** readOptionFile, decoded as UTF-8 text. */
export async function readOptionText(file, options) {
  return new TextDecoder().decode(await readOptionFile(file, options));
}
