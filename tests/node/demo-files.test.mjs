// The demo's drop walk (web/demo/files.js) over the File and Directory Entries API, as Chromium hands it
// over: readEntries in chunks ending with an empty one, entry.file() by callback. An entry the browser
// refuses (a file deleted or locked between listing and reading, a folder it cannot list) is not
// something a test can make a real browser do here (as root every file is readable, and Chromium does
// not list dangling links), so these entries are built to fail the way the API reports it.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { IMAGE_EXTENSIONS, filesFromDataTransfer, filesFromInput } from '../../web/demo/files.js';
import { IMAGE_EXTENSIONS as CLI_IMAGE_EXTENSIONS } from '../../tools/lib/image-files.mjs';

const refused = (what) => Object.assign(new Error(`A requested file or directory could not be found (${what})`), { name: 'NotFoundError' });

function fileEntry(fullPath, { type = 'image/jpeg', fail = false } = {}) {
  const name = fullPath.split('/').pop();
  return {
    isFile: true, isDirectory: false, name, fullPath,
    file: (resolve, reject) => queueMicrotask(() => (fail ? reject(refused(name)) : resolve(new File([name], name, { type })))),
  };
}

function folderEntry(fullPath, children, { failAfterChunks = Infinity, chunkSize = 2 } = {}) {
  return {
    isFile: false, isDirectory: true, name: fullPath.split('/').pop(), fullPath,
    createReader() {
      let at = 0;
      let chunks = 0;
      return {
        readEntries(resolve, reject) {
          queueMicrotask(() => {
            if (chunks++ >= failAfterChunks) return reject(refused(fullPath));
            const chunk = children.slice(at, at + chunkSize);
            at += chunk.length;
            resolve(chunk);
          });
        },
      };
    },
  };
}

const dropOf = (...entries) => ({ items: entries.map((entry) => ({ kind: 'file', webkitGetAsEntry: () => entry, getAsFile: () => null })) });

test('drop walk: an unreadable file or folder is listed as failed under its own path, and its siblings are still taken', async () => {
  const drop = dropOf(folderEntry('/photos', [
    fileEntry('/photos/a-gone.jpg', { fail: true }), // sorts first: the walk must go on past it
    folderEntry('/photos/b-locked', [fileEntry('/photos/b-locked/x.jpg')], { failAfterChunks: 0 }),
    folderEntry('/photos/c', [fileEntry('/photos/c/1.jpg'), fileEntry('/photos/c/2.jpg'), fileEntry('/photos/c/3.jpg'), fileEntry('/photos/c/notes.txt', { type: 'text/plain' })]),
    fileEntry('/photos/d.png', { type: 'image/png' }),
  ]));
  const { files, skipped, failed } = await filesFromDataTransfer(drop);
  assert.deepEqual(files.map((f) => f.path), ['photos/c/1.jpg', 'photos/c/2.jpg', 'photos/c/3.jpg', 'photos/d.png']);
  assert.deepEqual(skipped, ['notes.txt']);
  assert.deepEqual(failed.map((f) => f.path), ['photos/a-gone.jpg', 'photos/b-locked']);
  for (const { message } of failed) assert.match(message, /^cannot read: A requested file or directory could not be found/);
});

test('drop walk: onFiles hands the entries the browser would not read over in their places among the files', async () => {
  // They were handed over only at the end, so their cards came after the whole folder's (or never, after Stop).
  const handed = [];
  const drop = dropOf(folderEntry('/photos', [
    fileEntry('/photos/a.jpg'),
    fileEntry('/photos/b-gone.jpg', { fail: true }),
    folderEntry('/photos/c-locked', [fileEntry('/photos/c-locked/x.jpg')], { failAfterChunks: 0 }),
    fileEntry('/photos/d.jpg'),
  ]));
  const { files, failed } = await filesFromDataTransfer(drop, { onFiles: (found) => handed.push(...found) });
  assert.deepEqual(handed.map((f) => [f.path, Boolean(f.file), Boolean(f.message)]),
    [['photos/a.jpg', true, false], ['photos/b-gone.jpg', false, true], ['photos/c-locked', false, true], ['photos/d.jpg', true, false]]);
  assert.deepEqual(files.map((f) => f.path), ['photos/a.jpg', 'photos/d.jpg']);
  assert.deepEqual(failed.map((f) => f.path), ['photos/b-gone.jpg', 'photos/c-locked']);
});

test('drop walk: a folder whose listing fails part-way keeps what it listed before', async () => {
  const children = [fileEntry('/big/1.jpg'), fileEntry('/big/2.jpg'), fileEntry('/big/3.jpg')];
  const { files, failed } = await filesFromDataTransfer(dropOf(folderEntry('/big', children, { failAfterChunks: 1, chunkSize: 2 }), fileEntry('/loose.jpg')));
  // The folder is said to have failed; the two entries listed before are taken, and the next dropped item.
  assert.deepEqual(failed.map((f) => f.path), ['big']);
  assert.deepEqual(files.map((f) => f.path), ['big/1.jpg', 'big/2.jpg', 'loose.jpg']);
});

test('folders: an image the browser leaves untyped (a phone\'s HEIC) is taken by its name, as the CLI takes it, and gets its error card', async () => {
  // Chromium types no .heic file (File.type is ""): the page skipped them as "not images".
  const drop = dropOf(folderEntry('/phone', [fileEntry('/phone/IMG_1.HEIC', { type: '' }), fileEntry('/phone/notes', { type: '' }),
    fileEntry('/phone/x.jxl', { type: '' })]));
  const { files, skipped } = await filesFromDataTransfer(drop);
  assert.deepEqual(files.map((f) => f.path), ['phone/IMG_1.HEIC', 'phone/x.jxl']);
  assert.deepEqual(skipped, ['notes']);
  // The folder picker walks by the same rule.
  const picked = (name, type) => Object.assign(new File(['x'], name, { type }), { webkitRelativePath: `phone/${name}` });
  const fromInput = filesFromInput({ files: [picked('IMG_2.heic', ''), picked('readme.md', 'text/markdown')] });
  assert.deepEqual(fromInput.files.map((f) => f.path), ['phone/IMG_2.heic']);
  assert.deepEqual(fromInput.skipped, ['readme.md']);
});

test('folders: the page takes the same image extensions as the CLI\'s folder walk', () => {
  assert.deepEqual([...IMAGE_EXTENSIONS], [...CLI_IMAGE_EXTENSIONS]);
});

/** A file entry whose file() answers only when released: reads outstanding at once are counted in `reads`. */
function heldFileEntry(fullPath, reads) {
  const name = fullPath.split('/').pop();
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  return {
    isFile: true, isDirectory: false, name, fullPath, release,
    file: (resolve) => {
      reads.outstanding += 1;
      reads.most = Math.max(reads.most, reads.outstanding);
      released.then(() => { reads.outstanding -= 1; resolve(new File([name], name, { type: 'image/jpeg' })); });
    },
  };
}

test('drop walk: a folder\'s files are asked of the browser together, not one after another, and kept in order', async () => {
  // Each entry.file() is a round trip to Chromium's browser process: one at a time, 1,471 files took ~2 s.
  const reads = { outstanding: 0, most: 0 };
  const entries = ['c.jpg', 'a.jpg', 'b.jpg', 'd.jpg'].map((name) => heldFileEntry(`/many/${name}`, reads));
  const walking = filesFromDataTransfer(dropOf(folderEntry('/many', entries, { chunkSize: 10 })));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(reads.most, 4, 'every file of the folder asked for before the first answer');
  for (const entry of [...entries].reverse()) entry.release(); // answers out of order
  const { files } = await walking;
  assert.deepEqual(files.map((f) => f.path), ['many/a.jpg', 'many/b.jpg', 'many/c.jpg', 'many/d.jpg']);
});

test('drop walk: onFiles hands files over as they are found, before the listing ends; a signal stops the listing', async () => {
  const reads = { outstanding: 0, most: 0 };
  const held = heldFileEntry('/big/3.jpg', reads); // the browser has not answered for it yet
  const handed = [];
  let firstHandOver;
  const handedSome = new Promise((resolve) => { firstHandOver = resolve; });
  const listing = new AbortController();
  const walking = filesFromDataTransfer(dropOf(folderEntry('/big', [fileEntry('/big/1.jpg'), fileEntry('/big/2.jpg'), held,
    fileEntry('/big/4.jpg')]), fileEntry('/later.jpg')), { onFiles: (files) => { handed.push(files.map((f) => f.path)); firstHandOver(); }, signal: listing.signal });
  await handedSome;
  assert.deepEqual(handed, [['big/1.jpg', 'big/2.jpg']], 'the files found before the unanswered one are handed over');
  listing.abort(); // Stop or Clear on the page
  held.release();
  const { files } = await walking;
  assert.deepEqual(files.map((f) => f.path), ['big/1.jpg', 'big/2.jpg', 'big/3.jpg'], 'nothing is listed after the stop');
  assert.deepEqual(handed, [['big/1.jpg', 'big/2.jpg']], 'and nothing more handed over');

  // Not stopped: every file is handed over once, in order, and the result lists them all.
  const all = [];
  const done = await filesFromDataTransfer(dropOf(folderEntry('/f', [fileEntry('/f/2.jpg'), fileEntry('/f/10.jpg'), fileEntry('/f/1.jpg')]), fileEntry('/g.jpg')),
    { onFiles: (files) => all.push(...files.map((f) => f.path)) });
  assert.deepEqual(all, ['f/1.jpg', 'f/2.jpg', 'f/10.jpg', 'g.jpg']);
  assert.deepEqual(done.files.map((f) => f.path), all);
});

test('drop walk: a walk given `after` lists nothing until it settles (a second drop waits for the first listing)', async () => {
  const reads = { outstanding: 0, most: 0 };
  const first = heldFileEntry('/first/1.jpg', reads);
  const handed = [];
  const onFiles = (files) => handed.push(...files.map((f) => f.path));
  const firstListed = filesFromDataTransfer(dropOf(folderEntry('/first', [first])), { onFiles });
  const second = filesFromDataTransfer(dropOf(folderEntry('/second', [fileEntry('/second/1.jpg')])), { onFiles, after: firstListed });
  await new Promise((resolve) => setTimeout(resolve, 60)); // twice the hand-over delay
  assert.deepEqual(handed, [], 'the second drop waits while the first is still listed');
  first.release();
  await second;
  assert.deepEqual(handed, ['first/1.jpg', 'second/1.jpg']);
});
