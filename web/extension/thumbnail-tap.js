// Firefox only: a copy of each thumbnail the page itself downloads, taken as its bytes pass
// (webRequest.filterResponseData; Chromium has no such API and needs none), so the judged image is
// downloaded once, by the page.
// Why: Firefox's HTTP cache keeps the page's <img> download apart from anything the extension could
// read with fetch() or XMLHttpRequest. Its cache key marks an anonymous request (a CORS read, which
// pbs.twimg.com's `Access-Control-Allow-Origin: *` allows only without credentials) apart from the
// page's credentialed image load, and since Firefox 123 (CVE-2024-1554, pref
// network.fetch.cache_partition_cross_origin) every cross-origin fetch/XHR has a cache partition of its
// own ("FETCH:" keys). Measured in firefox-esr 153 with a trusted certificate, cacheable X-like headers:
// after the page's <img>, a content script's fetch (any credentials, mode or cache mode) or XHR was a
// second request every time; a canvas of the page's image is tainted for content scripts. So the
// content script no longer reads the thumbnail in Firefox: it has the page load it as an image (a
// no-op when the page already has) and the background page takes the bytes from this tap.
// Pure apart from the webRequest object it is given (unit-tested with a stand-in).

import { isGoneStatus } from './media-cells.js';

export const THUMBNAIL_URL_PATTERNS = [
  'https://pbs.twimg.com/media/*',
  'https://pbs.twimg.com/ext_tw_video_thumb/*',
  'https://pbs.twimg.com/amplify_video_thumb/*',
  'https://pbs.twimg.com/tweet_video_thumb/*',
];

// The tap sees every thumbnail an X tab loads (the timeline's too), so it holds little: a grid
// thumbnail is 20-150 KB, a copy is let go once handed over, and anything bigger is left to the fetch.
// webRequest's error for a load cancelled by the page or the browser, not failed.
const ABORTED = new Set(['NS_BINDING_ABORTED', 'NS_ERROR_ABORT']);

/**
 * options: {webRequest (browser.webRequest, or null), copying() (false: loads pass untouched, e.g.
 * while the extension is switched off), maxBytesEach, maxEntries, maxBytesTotal, keepMs, stallMs, now()}.
 * Returns {available, copyFor(url, {appearWithinMs, answerWithinMs}) → Promise<{bytes} | {httpStatus} | null>,
 * size()}. available:
 * the browser lets this extension filter responses (Firefox with the webRequest, webRequestBlocking and
 * webRequestFilterResponse permissions).
 */
export function createThumbnailTap({
  webRequest, copying = () => true, maxBytesEach = 2 * 2 ** 20, maxEntries = 300, maxBytesTotal = 24 * 2 ** 20, keepMs = 10 * 60 * 1000,
  stallMs = 5000, now = Date.now,
} = {}) {
  // url → {done: Uint8Array | null, failed, httpStatus (a 404/410 that failed it, else null), size, held,
  // lastDataAt, settledAt, listeners: Set<() => void>}
  const entries = new Map();
  const appearing = new Map(); // url → Set<() => void>: asked for before its response began
  // requestId → {url, sentAt}: the page's loads sent and not answered yet. On a slow link (or behind the
  // page's other thumbnails, a few at a time per host) the response begins seconds after the request:
  // that load is waited for, where a worker's fetch beside it would download the thumbnail twice.
  const sent = new Map();
  const awaitingAnswer = (url) => [...sent.values()].some((request) => request.url === url);
  // Its response began, it failed or was cancelled: no longer awaited as sent (those asking look again).
  const answered = (requestId) => {
    const request = sent.get(requestId);
    if (!request) return;
    sent.delete(requestId);
    for (const listener of [...(appearing.get(request.url) ?? [])]) listener();
  };
  // Bytes held, copies still arriving included (entry.held each): many loads at once, each under
  // maxBytesEach, must not add up past maxBytesTotal before they end.
  let heldBytes = 0;
  const release = (entry) => { heldBytes -= entry.held; entry.held = 0; };
  const notify = (entry) => { for (const listener of [...entry.listeners]) listener(); };
  const drop = (url) => {
    const entry = entries.get(url);
    if (!entry) return;
    entries.delete(url);
    release(entry);
  };
  const evict = () => {
    const cutoff = now() - keepMs;
    for (const [url, entry] of entries) { // oldest first (Map order = insertion order)
      const over = entries.size > maxEntries || heldBytes > maxBytesTotal;
      if (!over && !(entry.settledAt !== null && entry.settledAt < cutoff)) break;
      if (entry.settledAt === null && !over) continue; // still arriving
      drop(url);
      entry.chunks = null;
      entry.failed = true;
      notify(entry);
    }
  };

  // The page's load of url failed (an HTTP error, a network error, a load that broke off): kept as a
  // failed entry, so a worker waiting for the page's copy (copyFor) fetches at once instead of waiting
  // for a load that will not come. Another load's copy of url, held or arriving, is left as it is.
  // httpStatus: a 404/410 the page got, handed over as the answer (fetched again, it would be the same).
  const settleFailed = (url, httpStatus = null) => {
    const held = entries.get(url);
    if (held && !held.failed) return;
    drop(url);
    const entry = { done: null, failed: true, httpStatus, size: 0, held: 0, chunks: null, lastDataAt: now(), settledAt: now(), listeners: new Set() };
    entries.set(url, entry);
    for (const listener of appearing.get(url) ?? []) listener();
    appearing.delete(url);
    evict();
  };

  const onBeforeRequest = (details) => {
    if (details.tabId < 0 || !copying()) return;
    // Not answered within keepMs: no longer a load to wait for (a response's or error's event was lost).
    for (const [requestId, request] of sent) if (request.sentAt < now() - keepMs) sent.delete(requestId);
    sent.set(details.requestId, { url: details.url, sentAt: now() });
  };

  const onHeadersReceived = (details) => {
    sent.delete(details.requestId); // its entry (below) or failure takes over
    if (details.tabId < 0 || !copying()) return; // the page's own loads only, and only while judging
    if (details.statusCode !== 200) { // whole images only
      settleFailed(details.url, isGoneStatus(details.statusCode) ? details.statusCode : null);
      return;
    }
    // A response declared bigger than a copy may be (a full-size photo) is not filtered at all: every
    // filtered byte passes through this page on its way to the tab (a 3 MB image took 258 ms, not 80).
    const length = Number(details.responseHeaders?.find((h) => h.name.toLowerCase() === 'content-length')?.value);
    if (length > maxBytesEach) { settleFailed(details.url); return; }
    let filter;
    try { filter = webRequest.filterResponseData(details.requestId); } catch { return; }
    drop(details.url);
    const entry = { done: null, failed: false, httpStatus: null, size: 0, held: 0, chunks: [], lastDataAt: now(), settledAt: null, listeners: new Set() };
    entries.set(details.url, entry);
    for (const listener of appearing.get(details.url) ?? []) listener();
    appearing.delete(details.url);
    const give = () => { // failed midway, or too big to copy: kept as a failed entry (settleFailed)
      release(entry);
      entry.chunks = null;
      entry.failed = true;
      entry.settledAt = now();
      notify(entry);
    };
    filter.ondata = (event) => {
      const copy = entry.chunks ? new Uint8Array(event.data.slice(0)) : null;
      filter.write(event.data); // the page gets every byte as it comes, unchanged
      if (!copy) return;
      entry.size += copy.byteLength;
      if (entry.size > maxBytesEach) { give(); return; }
      entry.chunks.push(copy);
      entry.lastDataAt = now();
      if (entries.get(details.url) === entry) { // counted while it may still be handed over
        entry.held += copy.byteLength;
        heldBytes += copy.byteLength;
      }
      notify(entry);
      if (heldBytes > maxBytesTotal) evict();
    };
    filter.onstop = () => {
      filter.close();
      if (!entry.chunks) return;
      const bytes = new Uint8Array(entry.size);
      let at = 0;
      for (const chunk of entry.chunks) { bytes.set(chunk, at); at += chunk.byteLength; }
      entry.chunks = null;
      entry.settledAt = now();
      if (entries.get(details.url) === entry) entry.done = bytes; // counted in heldBytes as it came
      else entry.failed = true; // replaced by a newer load of the same URL meanwhile
      notify(entry);
      evict();
    };
    filter.onerror = give;
    evict();
  };

  // A load that failed before its headers came (refused, reset, no network). One the page gave up on
  // (an <img> removed before its image came) is no failure: the image is loaded anew when asked for.
  const onErrorOccurred = (details) => {
    if (details.tabId < 0) return;
    if (ABORTED.has(details.error)) { answered(details.requestId); return; }
    sent.delete(details.requestId);
    settleFailed(details.url);
  };

  let available = false;
  if (typeof webRequest?.filterResponseData === 'function' && webRequest.onHeadersReceived) {
    try {
      webRequest.onHeadersReceived.addListener(onHeadersReceived, { urls: THUMBNAIL_URL_PATTERNS, types: ['image'] }, ['blocking', 'responseHeaders']);
      webRequest.onErrorOccurred?.addListener(onErrorOccurred, { urls: THUMBNAIL_URL_PATTERNS, types: ['image'] });
      webRequest.onBeforeRequest?.addListener(onBeforeRequest, { urls: THUMBNAIL_URL_PATTERNS, types: ['image'] });
      available = true;
    } catch { /* no permission to filter: the content script reads the thumbnail itself */ }
  }

  /**
   * The bytes the page downloaded from url: at once if copied, when they have all come if arriving
   * (null once no byte comes for stallMs, or the load fails); a load not begun yet is awaited for
   * appearWithinMs, and one the page has sent, for its response, for answerWithinMs (from this ask).
   * {bytes: Uint8Array}; {httpStatus: 404 | 410}: the page's load of url was answered so (the caller
   * takes that as the answer, as Chromium's content script reports it); null: not to be had here (the
   * caller fetches).
   */
  const copyFor = (url, { appearWithinMs = 0, answerWithinMs = 0 } = {}) => new Promise((resolve) => {
    let timer = null;
    let entry = null;
    const finish = (bytes) => {
      clearTimeout(timer);
      entry?.listeners.delete(check);
      appearing.get(url)?.delete(onAppear);
      // Handed over: the worker judges it once and remembers the verdict, so the copy is let go (a
      // failed load's entry too: the worker fetches it now).
      if (entry && (bytes || entry.failed) && entries.get(url) === entry) drop(url);
      if (bytes) resolve({ bytes });
      else resolve(entry?.failed && entry.httpStatus ? { httpStatus: entry.httpStatus } : null);
    };
    const check = () => {
      if (entry.done) { finish(entry.done); return; }
      if (entry.failed) { finish(null); return; }
      clearTimeout(timer);
      timer = setTimeout(() => finish(null), Math.max(0, entry.lastDataAt + stallMs - now()));
    };
    const follow = () => {
      entry = entries.get(url);
      entry.listeners.add(check);
      check();
    };
    const appearBy = now() + appearWithinMs;
    const answerBy = now() + answerWithinMs;
    // Until appearBy, or answerBy while a load of url the page sent is unanswered; then null.
    const waitForLoad = () => {
      clearTimeout(timer);
      const until = awaitingAnswer(url) ? Math.max(appearBy, answerBy) : appearBy;
      if (until <= now()) { finish(null); return; }
      timer = setTimeout(waitForLoad, until - now());
    };
    function onAppear() { if (entries.has(url)) follow(); else waitForLoad(); }
    if (entries.has(url)) { follow(); return; }
    if (!available) { finish(null); return; }
    if (!appearing.has(url)) appearing.set(url, new Set());
    appearing.get(url).add(onAppear);
    waitForLoad();
  });

  return { get available() { return available; }, copyFor, size: () => entries.size };
}
