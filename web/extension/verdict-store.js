// Remembered verdicts: the classifier's scores per media key (a photo's media id or a video's or GIF's poster key) and model version, in the extension's
// IndexedDB, so a media tab revisited after a browser restart shows its verdicts without downloading
// or judging anything again. Scores are stored, not the hide decision, so a settings change re-decides
// without inference; the model version is part of the key, so a new model never reuses old scores.
// Bounded: least recently used entries beyond `limit` are deleted (a read counts as a use).
//
//   const store = new VerdictStore();
//   await store.getMany(modelVersion, ['mediaA', 'mediaB']); // → Map(mediaId → value) of those remembered
//   await store.getMany(modelVersion, ids, {markUsed: false}); // the same, writing nothing (a private window)
//   store.put(modelVersion, 'mediaA', {ok: true, scores});     // written in a batch a moment later
//   await store.count(); await store.clear();
//
// Failures are never fatal: a store that cannot open (private profile quirks, quota) answers empty and
// says why once in the console; the extension then judges as if nothing was remembered.

const DB_NAME = 'illust-only';
const DB_VERSION = 2;
const STORE = 'verdicts'; // {modelVersion, mediaId, value, usedAt}, key [modelVersion, mediaId]
// A fresh random stamp, written by every transaction that changes STORE: count() recounts (50–90 ms at
// 50,000 entries; the popup asks every second) only when the stamp differs from its last count's, so
// the number stays exact whoever wrote (another copy of this class, in any of the extension's pages).
const META = 'meta';
const WRITE_STAMP = 'writeStamp';
const stampWrite = (transaction) => transaction.objectStore(META).put(crypto.randomUUID(), WRITE_STAMP);
const BY_USE = 'usedAt';
export const REMEMBERED_VERDICTS_LIMIT = 50000; // ~150 bytes each: under 10 MB, no unlimitedStorage needed
const WRITE_DELAY_MS = 200; // verdicts arrive in bursts: one transaction per burst
const EVICT_EVERY_WRITES = 500; // counting is cheap but not free: check the bound now and then

const asPromise = (request) => new Promise((resolve, reject) => {
  request.onsuccess = () => resolve(request.result);
  request.onerror = () => reject(request.error);
});
const finished = (transaction) => new Promise((resolve, reject) => {
  transaction.oncomplete = () => resolve();
  transaction.onerror = () => reject(transaction.error);
  transaction.onabort = () => reject(transaction.error ?? new Error('transaction aborted'));
});

export class VerdictStore {
  #indexedDB;
  #name;
  #db = null;
  #pending = new Map(); // "version\nid" → record waiting to be written
  #writeTimer = null;
  // The first write of each store (each service-worker life, ~30 s when idle) checks the bound: a count
  // kept only in memory would rarely reach EVICT_EVERY_WRITES in one life, and the store would grow.
  #writesSinceEvict = Infinity;
  #warned = false;
  #counted = null; // {stamp, count} of the last count
  #clears = 0; // clear() calls: a read begun before one marks nothing used (that would write it back)

  constructor({ indexedDB = globalThis.indexedDB, name = DB_NAME, limit = REMEMBERED_VERDICTS_LIMIT, now = Date.now } = {}) {
    this.#indexedDB = indexedDB;
    this.#name = name;
    this.limit = limit;
    this.now = now;
  }

  /** Opens the database now (a later first read is then quicker); the other methods open it as needed. */
  open() {
    return this.#open();
  }

  #open() {
    if (this.#db) return this.#db;
    const opening = new Promise((resolve, reject) => {
      if (!this.#indexedDB) { reject(new Error('IndexedDB is not available here')); return; }
      const request = this.#indexedDB.open(this.#name, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: ['modelVersion', 'mediaId'] }).createIndex(BY_USE, 'usedAt');
        if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
        stampWrite(request.transaction); // a store kept from version 1 is counted once, not every time
      };
      request.onsuccess = () => {
        const db = request.result;
        db.onversionchange = () => { db.close(); if (this.#db === opening) this.#db = null; };
        // Closed by the browser (its storage cleared, a disk error): the next use opens it again, instead
        // of failing on a dead connection until the worker restarts.
        db.onclose = () => { if (this.#db === opening) this.#db = null; };
        resolve(db);
      };
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error('the verdict database is blocked by an older connection'));
    });
    this.#db = opening;
    opening.catch(() => { if (this.#db === opening) this.#db = null; });
    return opening;
  }

  #warn(what, error) {
    if (this.#warned) return;
    this.#warned = true;
    console.warn(`Illust Only: remembered verdicts unavailable (${what}: ${error?.message ?? error}); judging without them`);
  }

  /**
   * The remembered values of these media ids under this model version, as Map(mediaId → value); marks
   * them used unless markUsed is false (a private window's read must write nothing to disk).
   */
  async getMany(modelVersion, mediaIds, { markUsed = true } = {}) {
    const found = new Map();
    const ids = [...new Set(mediaIds)];
    if (ids.length === 0) return found;
    for (const id of ids) {
      const waiting = this.#pending.get(`${modelVersion}\n${id}`);
      if (waiting) found.set(id, waiting.value);
    }
    const clearsBefore = this.#clears;
    try {
      const db = await this.#open();
      const transaction = db.transaction(STORE, 'readonly');
      const store = transaction.objectStore(STORE);
      const records = await Promise.all(ids.filter((id) => !found.has(id)).map((id) => asPromise(store.get([modelVersion, id]))));
      const usedAt = this.now();
      for (const record of records) {
        if (!record) continue;
        found.set(record.mediaId, record.value);
        if (!markUsed || this.#clears !== clearsBefore) continue;
        // A read is a use (keeps what is looked at from being evicted), written with the next batch:
        // a read-only transaction answers sooner, and a revisit waits for this answer.
        this.#queue({ ...record, usedAt });
      }
    } catch (error) {
      this.#warn('read', error);
    }
    return found;
  }

  /** Remembers a value (JSON-like) for a media id under a model version; written in a batch shortly after. */
  put(modelVersion, mediaId, value) {
    this.#queue({ modelVersion, mediaId, value, usedAt: this.now() });
  }

  #queue(record) {
    this.#pending.set(`${record.modelVersion}\n${record.mediaId}`, record);
    this.#writeTimer ??= setTimeout(() => { this.flush(); }, WRITE_DELAY_MS);
  }

  /** Writes what put() queued; resolves when it is stored (or could not be). */
  async flush() {
    clearTimeout(this.#writeTimer);
    this.#writeTimer = null;
    const records = [...this.#pending.values()];
    this.#pending.clear();
    if (records.length === 0) return;
    try {
      const db = await this.#open();
      const transaction = db.transaction([STORE, META], 'readwrite');
      const store = transaction.objectStore(STORE);
      for (const record of records) store.put(record);
      stampWrite(transaction);
      await finished(transaction);
      this.#writesSinceEvict += records.length;
      if (this.#writesSinceEvict >= Math.min(EVICT_EVERY_WRITES, this.limit)) {
        this.#writesSinceEvict = 0;
        await this.evictBeyondLimit();
      }
    } catch (error) {
      this.#warn('write', error);
    }
  }

  /** Deletes the least recently used entries beyond the limit. */
  async evictBeyondLimit() {
    const db = await this.#open();
    const transaction = db.transaction([STORE, META], 'readwrite');
    const store = transaction.objectStore(STORE);
    let excess = (await asPromise(store.count())) - this.limit;
    if (excess > 0) {
      stampWrite(transaction);
      await new Promise((resolve, reject) => {
        const cursorRequest = store.index(BY_USE).openCursor();
        cursorRequest.onsuccess = () => {
          const cursor = cursorRequest.result;
          if (!cursor || excess <= 0) { resolve(); return; }
          cursor.delete();
          excess -= 1;
          cursor.continue();
        };
        cursorRequest.onerror = () => reject(cursorRequest.error);
      });
    }
    await finished(transaction);
  }

  /** How many verdicts are remembered (all model versions); 0 when the store cannot open. */
  async count() {
    await this.flush();
    try {
      const db = await this.#open();
      // The stamp and the count in one transaction: they describe the same state of the store.
      const transaction = db.transaction([STORE, META]);
      const stamp = await asPromise(transaction.objectStore(META).get(WRITE_STAMP));
      if (stamp !== undefined && this.#counted?.stamp === stamp) return this.#counted.count;
      const count = await asPromise(transaction.objectStore(STORE).count());
      this.#counted = { stamp, count };
      return count;
    } catch (error) {
      this.#warn('count', error);
      return 0;
    }
  }

  /** Forgets every remembered verdict. */
  async clear() {
    this.#clears += 1;
    clearTimeout(this.#writeTimer);
    this.#writeTimer = null;
    this.#pending.clear();
    const db = await this.#open();
    const transaction = db.transaction([STORE, META], 'readwrite');
    transaction.objectStore(STORE).clear();
    stampWrite(transaction);
    await finished(transaction);
  }
}
