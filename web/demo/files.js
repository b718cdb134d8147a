// Turns what the user dropped or pasted into a flat list of files, walking into dropped folders.
// Browsers expose dropped folders only through the old File and Directory Entries API
// (webkitGetAsEntry), and only during the drop event: the entries must be taken synchronously, then
// read asynchronously. Inside folders, hidden folders (.git) and files neither typed as images by the
// browser nor named as the CLI's images (.DS_Store, README.md) are skipped and listed, so the caller can
// say so; the same rule as the CLI's folder walk (hidden image files, such as ".github__x.jpg" in our
// data, still count). Files
// dropped or picked one by one are always taken: a bad one becomes an error card.

/** One file to classify: the File, and the path to show (folder path for files from folders). */
function picked(file, path = file.name) {
  return { file, path: path.replace(/^\//, '') };
}

/** {entries, error}: the folder's listing, and why it stopped early (the entries listed until then are kept). */
function readAllEntries(directory) {
  // readEntries returns the listing in chunks (100 in Chromium) and an empty chunk at the end.
  const reader = directory.createReader();
  const entries = [];
  return new Promise((resolve) => {
    const next = () => reader.readEntries((chunk) => {
      if (chunk.length === 0) return resolve({ entries, error: null });
      entries.push(...chunk);
      next();
    }, (error) => resolve({ entries, error }));
    next();
  });
}

/**
 * The extensions a folder walk takes, here and in the CLI's (tools/lib/image-files.mjs imports this list).
 * Browsers type only the images they show: Chromium leaves a phone's .heic untyped, which the page called
 * "not an image" where the CLI says "unsupported format: heic".
 */
export const IMAGE_EXTENSIONS = Object.freeze(['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.gif', '.bmp',
  '.webp', '.avif', '.heic', '.heif', '.tif', '.tiff', '.jxl', '.ico']);

/** Whether a file found inside a folder is worth classifying (its type or its name says it is an image). */
const looksLikeImage = (file) => file.type.startsWith('image/') ||
  IMAGE_EXTENSIONS.some((extension) => file.name.toLowerCase().endsWith(extension));

// Folder entries sort as the file picker sorts paths: by name, numbers by value (n2 before n10; the CLI
// sorts by code point, as `ls` in the C locale does). One collator:
// localeCompare with options builds one per call (0.13-0.21 s of sorting for 1,471 files).
const byName = new Intl.Collator(undefined, { numeric: true }).compare;

// An entry the browser will not let us read (a dangling link, a file gone or locked meanwhile) is
// listed in stats.failed under its own path, and found in its place among the files; the walk goes on
// with its siblings.
const fileOfEntry = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));

// Chromium lists a file whose name is not valid UTF-8 (old Shift-JIS or Latin-1 archives) with an empty
// name, a fullPath that is its folder's, and refuses to open it ("The path supplied exists, but was not
// an entry of requested type"): its card was named after the folder, with that message.
const UNNAMED = '\ufffd';
const UNNAMED_MESSAGE = 'cannot read: the browser gives this file no name, as it does for names that are not valid UTF-8 (rename it, or use tools/classify.mjs)';

async function walkEntry(entry, out, stats, inFolder = false, fileRead = null) {
  if (stats.signal?.aborted) return;
  const fail = (error) => {
    const unnamed = entry.isFile && !entry.name;
    const path = (unnamed ? `${entry.fullPath.replace(/\/?$/, '/')}${UNNAMED}` : entry.fullPath || entry.name).replace(/^\//, '');
    const failure = { path, message: unnamed ? UNNAMED_MESSAGE : `cannot read: ${error?.message || error?.name || error}` };
    stats.failed.push(failure);
    stats.found?.(failure);
  };
  if (entry.isFile) {
    try {
      const file = await (fileRead ?? fileOfEntry(entry));
      if (inFolder && !looksLikeImage(file)) stats.skipped.push(entry.name);
      else { const found = picked(file, entry.fullPath); out.push(found); stats.found?.(found); }
    } catch (error) {
      fail(error);
    }
  } else if (entry.isDirectory) {
    const { entries: children, error } = await readAllEntries(entry);
    if (error) fail(error);
    children.sort((a, b) => byName(a.name, b.name));
    // Each entry.file() is a round trip to the browser process (~1.4 ms): a folder's files are asked for
    // together, then taken in order, instead of one after another (1,471 files: ~2 s before any card).
    const fileReads = new Map();
    for (const child of children) {
      if (!child.isFile) continue;
      const read = fileOfEntry(child);
      read.catch(() => {}); // its failure is listed when its turn comes
      fileReads.set(child, read);
    }
    for (const child of children) {
      if (stats.signal?.aborted) return;
      if (child.isDirectory && child.name.startsWith('.')) { stats.skipped.push(`${child.name}/`); continue; }
      await walkEntry(child, out, stats, true, fileReads.get(child));
    }
  }
}

// How long files found in folders wait to be handed to onFiles together: cards then appear as a big
// folder is listed (seconds for thousands of files), a few dozen at a time rather than one by one.
const FOUND_FILES_DELAY_MS = 30;

/**
 * Must be called synchronously inside the drop/paste handler (the DataTransfer empties afterwards).
 * Returns a Promise of {files: [{file, path}], skipped: [names], failed: [{path, message}]}.
 * onFolders(count) is called at once when folders are among what was dropped: listing a big one takes
 * seconds, and the caller can say meanwhile that the drop arrived. onFiles(found), when given, receives
 * what is found as it is found, in batches, in order: files ({file, path}, as in the result's files) and
 * the entries the browser would not read ({path, message}, as in its failed) in their places among them,
 * so work can start before the listing ends. signal (an AbortSignal) stops the listing: the result then
 * holds what was found until then, and onFiles hears nothing more. after (a Promise) holds the walk back
 * until it settles: a drop made while an earlier one is still listed is listed after it, so the two
 * drops' files are not handed over interleaved.
 */
export function filesFromDataTransfer(dataTransfer, { onFolders, onFiles, signal, after } = {}) {
  const items = [...(dataTransfer?.items ?? [])].filter((item) => item.kind === 'file');
  // Take every entry and file now, before the first await.
  const sources = items.map((item) => ({ entry: item.webkitGetAsEntry?.() ?? null, file: item.getAsFile() }));
  if (sources.length === 0) {
    for (const file of dataTransfer?.files ?? []) sources.push({ entry: null, file });
  }
  const folders = sources.filter(({ entry }) => entry?.isDirectory).length;
  if (folders > 0) onFolders?.(folders);
  return (async () => {
    await after;
    const files = [];
    const found = []; // files and failures, in the order they were found
    let handedOver = 0;
    let handOverTimer = null;
    const handOver = () => {
      clearTimeout(handOverTimer);
      handOverTimer = null;
      if (signal?.aborted || handedOver === found.length) return;
      const batch = found.slice(handedOver);
      handedOver = found.length;
      onFiles(batch);
    };
    // failed: what the browser would not let us read, said rather than skipped
    const stats = { skipped: [], failed: [], signal };
    if (onFiles) stats.found = (item) => { found.push(item); handOverTimer ??= setTimeout(handOver, FOUND_FILES_DELAY_MS); };
    for (const { entry, file } of sources) {
      if (signal?.aborted) break;
      if (entry?.isDirectory) await walkEntry(entry, files, stats);
      else if (file) { const one = picked(file); files.push(one); stats.found?.(one); }
      else if (entry) await walkEntry(entry, files, stats);
    }
    if (onFiles) handOver();
    return { files, skipped: stats.skipped, failed: stats.failed };
  })();
}

/** Files from <input type=file> (with webkitdirectory, webkitRelativePath holds the folder path). */
export function filesFromInput(input) {
  const files = [];
  const skipped = [];
  for (const file of input.files ?? []) {
    const path = file.webkitRelativePath || file.name;
    if (file.webkitRelativePath) {
      const hiddenFolder = path.split('/').slice(0, -1).find((part) => part.startsWith('.'));
      if (hiddenFolder) { if (!skipped.includes(`${hiddenFolder}/`)) skipped.push(`${hiddenFolder}/`); continue; }
      if (!looksLikeImage(file)) { skipped.push(file.name); continue; }
    }
    files.push(picked(file, path));
  }
  files.sort((a, b) => byName(a.path, b.path));
  return { files, skipped, failed: [] };
}
