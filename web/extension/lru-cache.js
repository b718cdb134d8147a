// A bounded least-recently-used map for verdicts keyed by media id. X re-mounts the same media cell
// many times while scrolling; remembering its scores makes the second judgement instant, and the bound
// keeps a long scroll session from growing the service worker's memory without limit.

export class LruCache {
  #map = new Map(); // Map keeps insertion order: the first key is the least recently used
  constructor(capacity) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`LruCache capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }
  get size() { return this.#map.size; }
  has(key) { return this.#map.has(key); }
  get(key) {
    if (!this.#map.has(key)) return undefined;
    const value = this.#map.get(key);
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }
  set(key, value) {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.capacity) this.#map.delete(this.#map.keys().next().value);
    return this;
  }
  delete(key) { return this.#map.delete(key); }
  clear() { this.#map.clear(); }
  /** Oldest first, so set()-ing them back in order restores the same recency. */
  entries() { return [...this.#map.entries()]; }
}
