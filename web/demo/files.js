// Turns what the user dropped or pasted into a flat list of files, walking into dropped folders.
// Browsers expose dropped folders only through the old File and Directory Entries API
// (webkitGetAsEntry), and only during the drop event: the entries must be taken synchronously, then
// read asynchronously. Names starting with "." (.DS_Store and the like) inside folders are skipped and
// counted, so the caller can say so.

/** One file to classify: the File, and the path to show (folder path for files from folders). */
function picked(file, path = file.name) {
  return { file, path: path.replace(/^\//, '') };
}

function readAllEntries(directory) {
  // readEntries returns the listing in chunks (100 in Chromium) and an empty chunk at the end.
  const reader = directory.createReader();
  const all = [];
  return new Promise((resolve, reject) => {
    const next = () => reader.readEntries((chunk) => {
      if (chunk.length === 0) return resolve(all);
      all.push(...chunk);
      next();
    }, reject);
    next();
  });
}

async function walkEntry(entry, out, stats) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push(picked(file, entry.fullPath));
  } else if (entry.isDirectory) {
    const children = await readAllEntries(entry);
    children.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    for (const child of children) {
      if (child.name.startsWith('.')) { stats.skipped++; continue; }
      await walkEntry(child, out, stats);
    }
  }
}

/**
 * Must be called synchronously inside the drop/paste handler (the DataTransfer empties afterwards).
 * Returns a Promise of {files: [{file, path}], skipped, failed: [{path, message}]}.
 */
export function filesFromDataTransfer(dataTransfer) {
  const items = [...(dataTransfer?.items ?? [])].filter((item) => item.kind === 'file');
  // Take every entry and file now, before the first await.
  const sources = items.map((item) => ({ entry: item.webkitGetAsEntry?.() ?? null, file: item.getAsFile() }));
  if (sources.length === 0) {
    for (const file of dataTransfer?.files ?? []) sources.push({ entry: null, file });
  }
  return (async () => {
    const files = [];
    const stats = { skipped: 0 };
    const failed = [];
    for (const { entry, file } of sources) {
      try {
        if (entry?.isDirectory) await walkEntry(entry, files, stats);
        else if (file) files.push(picked(file));
        else if (entry) await walkEntry(entry, files, stats);
      } catch (error) {
        // A folder or file the browser would not let us read: say so rather than skip it silently.
        failed.push({ path: entry?.fullPath ?? file?.name ?? '?', message: `cannot read: ${error?.message ?? error}` });
      }
    }
    return { files, skipped: stats.skipped, failed };
  })();
}

/** Files from <input type=file> (with webkitdirectory, webkitRelativePath holds the folder path). */
export function filesFromInput(input) {
  const files = [];
  let skipped = 0;
  for (const file of input.files ?? []) {
    const path = file.webkitRelativePath || file.name;
    if (file.webkitRelativePath && path.split('/').some((part) => part.startsWith('.'))) { skipped++; continue; }
    files.push(picked(file, path));
  }
  files.sort((a, b) => a.path.localeCompare(b.path, undefined, { numeric: true }));
  return { files, skipped, failed: [] };
}
