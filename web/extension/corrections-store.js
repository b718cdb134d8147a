// The extension's own IndexedDB for what the personal layer needs, apart from the verdict cache (its
// own database, so no other part's schema or upgrades touch it):
//   corrections  mediaId → {mediaId, label, embedding: Float32Array | null, modelVersion, time, account, notCarried?}
//   media        mediaId → {mediaId, scores, embedding, modelVersion, account, time}: each judged image's
//                scores and pooled embedding, so verdicts are re-decided after a correction without
//                fetching or running the network again, and an account's uncorrected images can speak
//                against a correction (web/lib/personal-layer.js).
// IndexedDB, not chrome.storage.local: embeddings are 5 KB each and structured clone keeps them
// Float32Arrays. Everything stays on the device. Every function rejects with an Error whose message
// says why (quota, private mode, a broken profile); the caller then keeps the shipped model (fail open).

const DB_NAME = 'illust-only-corrections';
const DB_VERSION = 1;
export const MAX_MEDIA_RECORDS = 5000; // ~25 MB of embeddings; the oldest are pruned beyond this

let dbPromise = null;
const closedListeners = new Set();

/**
 * listener() runs when the browser closes this database's connection (its data cleared, a disk error)
 * or another copy of the extension upgrades it: what was read from it may be gone.
 */
export function onClosed(listener) {
  closedListeners.add(listener);
  return () => closedListeners.delete(listener);
}

function closed(opening) {
  if (dbPromise === opening) dbPromise = null;
  for (const listener of closedListeners) {
    try { listener(); } catch (error) { console.warn('Illust Only: a corrections-store close listener threw', error); }
  }
}

function promisify(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });
}

function openDb() {
  if (dbPromise) return dbPromise;
  const opening = new Promise((resolve, reject) => {
    let request;
    try {
      request = indexedDB.open(DB_NAME, DB_VERSION);
    } catch (error) {
      reject(new Error(`IndexedDB unavailable (${error?.message ?? error})`));
      return;
    }
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains('corrections')) db.createObjectStore('corrections', { keyPath: 'mediaId' });
      if (!db.objectStoreNames.contains('media')) {
        const media = db.createObjectStore('media', { keyPath: 'mediaId' });
        media.createIndex('account', 'account');
        media.createIndex('time', 'time');
      }
    };
    request.onsuccess = () => {
      const db = request.result;
      db.onversionchange = () => { db.close(); closed(opening); };
      db.onclose = () => closed(opening); // closed by the browser: reopened on next use
      resolve(db);
    };
    request.onerror = () => reject(new Error(`cannot open the corrections database (${request.error?.message ?? 'unknown error'})`));
    request.onblocked = () => reject(new Error('the corrections database is blocked by another copy of the extension'));
  });
  dbPromise = opening;
  opening.catch(() => { if (dbPromise === opening) dbPromise = null; }); // a later call tries again
  return opening;
}

async function withStore(name, mode, work) {
  const db = await openDb();
  const transaction = db.transaction(name, mode);
  const done = new Promise((resolve, reject) => {
    transaction.oncomplete = resolve;
    transaction.onabort = () => reject(transaction.error ?? new Error('IndexedDB transaction aborted'));
    // The failed request's error says why (transaction.error is set only once it aborts).
    transaction.onerror = (event) => reject(event.target?.error ?? transaction.error ?? new Error('IndexedDB transaction failed'));
  });
  const result = await work(transaction.objectStore(name));
  await done;
  return result;
}

/** Opens the database now (the popup's "storage available?" check). */
export async function checkStorage() {
  await openDb();
}

export function listCorrections() {
  return withStore('corrections', 'readonly', (store) => promisify(store.getAll()));
}

/** Replaces every stored correction with `records` (already bounded by the caller). */
export function replaceCorrections(records) {
  return withStore('corrections', 'readwrite', (store) => {
    store.clear();
    for (const record of records) store.put(record);
  });
}

/**
 * change(every stored correction) → {put?: records to store, remove?: media ids to delete, ...anything
 * else} or null to write nothing; read and written in one transaction, so a correction written meanwhile
 * (on the page, while the popup imports or undoes) is neither overwritten nor lost. Resolves to change's
 * answer.
 */
export function changeCorrections(change) {
  return withStore('corrections', 'readwrite', async (store) => {
    const changes = change(await promisify(store.getAll()));
    for (const mediaId of changes?.remove ?? []) store.delete(mediaId);
    for (const record of changes?.put ?? []) store.put(record);
    return changes;
  });
}

/**
 * update(the stored correction of mediaId, or undefined) → the record to store instead, or null to leave
 * it; read and written in one transaction, so nothing written meanwhile is overwritten. Resolves to
 * whether it wrote.
 */
export function updateCorrection(mediaId, update) {
  return withStore('corrections', 'readwrite', async (store) => {
    const next = update(await promisify(store.get(mediaId)));
    if (next) store.put(next);
    return Boolean(next);
  });
}

/** Forgets every judged image's scores, embedding and account (the corrections themselves stay). */
export function clearMedia() {
  return withStore('media', 'readwrite', (store) => { store.clear(); });
}

export function getMedia(mediaId) {
  return withStore('media', 'readonly', (store) => promisify(store.get(mediaId)));
}

/** The model version of each of these media ids' stored embedding; ids with none are left out. */
export function mediaVersions(mediaIds) {
  return withStore('media', 'readonly', async (store) => {
    const records = await Promise.all(mediaIds.map((id) => promisify(store.get(id))));
    return new Map(records.filter(Boolean).map((r) => [r.mediaId, r.modelVersion]));
  });
}

/** The stored media of the given accounts (the personal layer's references). */
export function mediaOfAccounts(accounts) {
  return withStore('media', 'readonly', async (store) => {
    const index = store.index('account');
    const lists = await Promise.all([...accounts].map((account) => promisify(index.getAll(account))));
    return lists.flat();
  });
}

let putsSincePrune = Infinity; // the first write of each worker life checks the bound (a life may write only a few)
/** Stores one image's scores and embedding; now and then drops the oldest beyond MAX_MEDIA_RECORDS. */
export async function putMedia(record) {
  await withStore('media', 'readwrite', (store) => { store.put(record); });
  putsSincePrune += 1;
  if (putsSincePrune < 200) return;
  putsSincePrune = 0;
  await withStore('media', 'readwrite', async (store) => {
    const excess = (await promisify(store.count())) - MAX_MEDIA_RECORDS;
    if (excess <= 0) return;
    const keys = await promisify(store.index('time').getAllKeys(null, excess));
    for (const key of keys) store.delete(key);
  });
}
