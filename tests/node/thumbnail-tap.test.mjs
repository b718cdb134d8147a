// Firefox's thumbnail tap (web/extension/thumbnail-tap.js) with a stand-in for browser.webRequest: the
// page gets every byte unchanged, the worker gets a copy of what the page downloaded (at once, or when
// it has all come), and nothing when the load fails, stalls, is not the page's, or never begins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { THUMBNAIL_URL_PATTERNS, createThumbnailTap } from '../../web/extension/thumbnail-tap.js';

const URL_A = 'https://pbs.twimg.com/media/GZx3_aBc-9Q?format=webp&name=small';

/** A stand-in for browser.webRequest: load(url) plays one response through the registered listener. */
function fakeWebRequest() {
  let listener = null;
  let errorListener = null;
  let beforeRequestListener = null;
  const registered = [];
  let nextId = 1;
  const filters = new Map();
  const webRequest = {
    onHeadersReceived: { addListener(fn, filter, extra) { listener = fn; registered.push({ filter, extra }); } },
    onErrorOccurred: { addListener(fn) { errorListener = fn; } },
    onBeforeRequest: { addListener(fn) { beforeRequestListener = fn; } },
    filterResponseData(requestId) {
      const filter = { written: [], closed: false, write(data) { this.written.push(new Uint8Array(data.slice(0))); }, close() { this.closed = true; } };
      filters.set(requestId, filter);
      return filter;
    },
  };
  /** The page sends a request for url; its response (or error) comes later, with this requestId. */
  const send = (url, { tabId = 3 } = {}) => {
    const requestId = String(nextId++);
    beforeRequestListener?.({ requestId, url, tabId, type: 'image' });
    return requestId;
  };
  const load = (url, { tabId = 3, statusCode = 200, responseHeaders = [], requestId = String(nextId++) } = {}) => {
    listener({ requestId, url, tabId, statusCode, type: 'image', responseHeaders });
    const filter = filters.get(requestId);
    return {
      filter,
      data(bytes) { filter?.ondata({ data: new Uint8Array(bytes).buffer }); },
      stop() { filter?.onstop(); },
      fail() { filter.error = 'Channel redirected'; filter?.onerror(); },
    };
  };
  /** A load that fails before any headers come (error: Firefox's name for why). */
  const failBeforeHeaders = (url, { tabId = 3, error = 'NS_ERROR_CONNECTION_REFUSED', requestId = String(nextId++) } = {}) => {
    errorListener?.({ requestId, url, tabId, type: 'image', error });
  };
  return { webRequest, send, load, failBeforeHeaders, registered };
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));
/** The copy's bytes the tap hands over for url, or null (a 404/410 answer included: see copyFor's own test). */
const bytesOf = async (tap, url, options) => (await tap.copyFor(url, options))?.bytes ?? null;

test('the tap registers a blocking listener for image loads of thumbnails on pbs.twimg.com only', () => {
  const fake = fakeWebRequest();
  const tap = createThumbnailTap({ webRequest: fake.webRequest });
  assert.equal(tap.available, true);
  assert.deepEqual(fake.registered, [{ filter: { urls: THUMBNAIL_URL_PATTERNS, types: ['image'] }, extra: ['blocking', 'responseHeaders'] }]);
  assert.ok(THUMBNAIL_URL_PATTERNS.every((p) => p.startsWith('https://pbs.twimg.com/')));
  // Chromium (no webRequest permission, no filterResponseData): nothing to tap, the content script reads.
  assert.equal(createThumbnailTap({ webRequest: null }).available, false);
  assert.equal(createThumbnailTap({ webRequest: { onHeadersReceived: fake.webRequest.onHeadersReceived } }).available, false);
});

test('the page gets every byte unchanged; the worker gets the same bytes, at once or when they have all come', async () => {
  const fake = fakeWebRequest();
  const tap = createThumbnailTap({ webRequest: fake.webRequest });
  const load = fake.load(URL_A);
  load.data([1, 2, 3]);
  const asked = bytesOf(tap, URL_A); // arriving: waits for the rest
  load.data([4, 5]);
  await tick();
  load.stop();
  assert.deepEqual([...(await asked)], [1, 2, 3, 4, 5]);
  assert.equal(tap.size(), 0, 'a copy handed over is let go');
  assert.deepEqual(load.filter.written.map((chunk) => [...chunk]), [[1, 2, 3], [4, 5]], 'the page gets each chunk as it came');
  assert.equal(load.filter.closed, true);
  assert.equal(await bytesOf(tap, URL_A), null, 'asked again after the hand-over: not held (the worker would fetch)');
  const again = fake.load(URL_A); // the page loads it anew: copied anew
  again.data([7]);
  again.stop();
  assert.deepEqual([...(await bytesOf(tap, URL_A))], [7]);
});

test('a load asked for before it begins is awaited for a while; none begun: null (the worker fetches)', async () => {
  const fake = fakeWebRequest();
  const tap = createThumbnailTap({ webRequest: fake.webRequest });
  assert.equal(await bytesOf(tap, URL_A), null, 'not asked to wait: null at once');
  const asked = bytesOf(tap, URL_A, { appearWithinMs: 1000 });
  await tick(5);
  const load = fake.load(URL_A);
  load.data([9, 8]);
  load.stop();
  assert.deepEqual([...(await asked)], [9, 8]);
  const started = Date.now();
  assert.equal(await bytesOf(tap, 'https://pbs.twimg.com/media/Never?format=webp&name=small', { appearWithinMs: 30 }), null);
  assert.ok(Date.now() - started >= 25);
});

test('a load the page sent is awaited for its response past appearWithinMs (a slow server), up to answerWithinMs; one the page cancelled is not', async () => {
  const fake = fakeWebRequest();
  const tap = createThumbnailTap({ webRequest: fake.webRequest });
  // Sent before the ask, answered after appearWithinMs: the page's bytes, not null (a second download).
  const requestId = fake.send(URL_A);
  const asked = bytesOf(tap, URL_A, { appearWithinMs: 20, answerWithinMs: 2000 });
  await tick(60);
  const load = fake.load(URL_A, { requestId });
  load.data([4, 2]);
  load.stop();
  assert.deepEqual([...(await asked)], [4, 2]);
  // Never answered: null once answerWithinMs has passed.
  const never = 'https://pbs.twimg.com/media/Slow?format=webp&name=small';
  fake.send(never);
  const started = Date.now();
  assert.equal(await bytesOf(tap, never, { appearWithinMs: 10, answerWithinMs: 60 }), null);
  assert.ok(Date.now() - started >= 55);
  // Cancelled by the page (its <img> removed): no load to wait for any more.
  const cancelled = 'https://pbs.twimg.com/media/Gone?format=webp&name=small';
  const cancelledId = fake.send(cancelled);
  const waiting = bytesOf(tap, cancelled, { appearWithinMs: 10, answerWithinMs: 60000 });
  await tick(30);
  fake.failBeforeHeaders(cancelled, { requestId: cancelledId, error: 'NS_BINDING_ABORTED' });
  assert.equal(await waiting, null);
});

test('nothing from a failed, stalled, non-200 or non-tab load, or one over the size bound', async () => {
  const fake = fakeWebRequest();
  const tap = createThumbnailTap({ webRequest: fake.webRequest, stallMs: 40, maxBytesEach: 4 });
  const failed = fake.load(URL_A);
  failed.data([1]);
  const asked = bytesOf(tap, URL_A);
  failed.fail();
  assert.equal(await asked, null, 'a load that failed midway');

  const stalled = fake.load(URL_A);
  stalled.data([1]);
  const started = Date.now();
  assert.equal(await bytesOf(tap, URL_A), null, 'no byte for stallMs');
  assert.ok(Date.now() - started >= 35);
  stalled.data([2]); // bytes coming after all still reach the page
  assert.equal(stalled.filter.written.length, 2);

  fake.load(URL_A, { statusCode: 404 });
  fake.load(URL_A, { tabId: -1 }); // the extension's own or the browser's load
  assert.equal(tap.size(), 1, 'only the stalled load is held');

  const big = fake.load('https://pbs.twimg.com/media/Big?format=jpg&name=small');
  big.data([1, 2, 3]);
  big.data([4, 5, 6]);
  big.stop();
  assert.equal(await bytesOf(tap, 'https://pbs.twimg.com/media/Big?format=jpg&name=small'), null, 'over maxBytesEach: not kept');
  assert.equal(big.filter.written.length, 2, 'but the page got it all');
});

test('held copies are bounded in number, bytes and age (oldest first)', async () => {
  let clock = 0;
  const fake = fakeWebRequest();
  const tap = createThumbnailTap({ webRequest: fake.webRequest, maxEntries: 2, maxBytesTotal: 100, keepMs: 1000, now: () => clock });
  const url = (n) => `https://pbs.twimg.com/media/M${n}?format=webp&name=small`;
  for (const n of [1, 2, 3]) { const load = fake.load(url(n)); load.data([n]); load.stop(); }
  assert.equal(await bytesOf(tap, url(1)), null, 'the oldest went first');
  assert.deepEqual([...(await bytesOf(tap, url(3)))], [3]);
  clock = 5000;
  const load = fake.load(url(4));
  load.data(new Array(10).fill(4));
  load.stop();
  assert.equal(await bytesOf(tap, url(2)), null, 'older than keepMs');
  assert.equal(tap.size(), 1);
});

test('a page load that failed (HTTP error, network error, broken off midway) ends the wait at once: the worker fetches without waiting for a load that will not come', async () => {
  const fake = fakeWebRequest();
  const tap = createThumbnailTap({ webRequest: fake.webRequest });
  const url = (n) => `https://pbs.twimg.com/media/F${n}?format=webp&name=small`;
  const quick = async (promise, what) => {
    const started = Date.now();
    assert.equal(await promise, null, what);
    assert.ok(Date.now() - started < 500, `${what}: answered at once, not after the wait (${Date.now() - started} ms)`);
  };
  // The failure comes before the worker asks (the page's <img> got its answer first) …
  fake.load(url(1), { statusCode: 404 });
  await quick(bytesOf(tap, url(1), { appearWithinMs: 5000 }), 'a 404 before the ask');
  fake.failBeforeHeaders(url(2));
  await quick(bytesOf(tap, url(2), { appearWithinMs: 5000 }), 'a refused connection before the ask');
  const broken = fake.load(url(3));
  broken.data([1, 2]);
  broken.fail();
  await quick(bytesOf(tap, url(3), { appearWithinMs: 5000 }), 'a load broken off midway, before the ask');
  // … or after it (the worker is waiting for the load to begin).
  const waiting = bytesOf(tap, url(4), { appearWithinMs: 5000 });
  await tick(5);
  fake.load(url(4), { statusCode: 500 });
  await quick(waiting, 'a 500 while the worker waits');
  assert.equal(tap.size(), 0, 'a failure is let go once told');

  // Not failures: a load the page cancelled (the image is loaded anew when asked for), the extension's own.
  fake.failBeforeHeaders(url(5), { error: 'NS_BINDING_ABORTED' });
  fake.load(url(5), { tabId: -1, statusCode: 404 });
  const later = bytesOf(tap, url(5), { appearWithinMs: 5000 });
  await tick(5);
  const again = fake.load(url(5));
  again.data([5]);
  again.stop();
  assert.deepEqual([...(await later)], [5]);

  // A failed load does not spoil another load's copy of the same URL, held or arriving.
  const held = fake.load(url(6));
  held.data([6]);
  held.stop();
  fake.load(url(6), { statusCode: 404 });
  fake.failBeforeHeaders(url(6));
  assert.deepEqual([...(await bytesOf(tap, url(6)))], [6]);
  // A failure is forgotten when the page loads the URL anew.
  fake.load(url(7), { statusCode: 503 });
  const retried = fake.load(url(7));
  retried.data([7]);
  retried.stop();
  assert.deepEqual([...(await bytesOf(tap, url(7)))], [7]);
  // A 404 or 410 the page got is handed over as the answer (the worker does not fetch it again), before
  // the ask or while the worker waits; other failures are not (a 500 or a refused connection may pass).
  fake.load(url(8), { statusCode: 404 });
  assert.deepEqual(await tap.copyFor(url(8), { appearWithinMs: 5000 }), { httpStatus: 404 });
  const gone = tap.copyFor(url(9), { appearWithinMs: 5000 });
  await tick(5);
  fake.load(url(9), { statusCode: 410 });
  assert.deepEqual(await gone, { httpStatus: 410 });
  fake.load(url(10), { statusCode: 500 });
  assert.equal(await tap.copyFor(url(10)), null);
  fake.failBeforeHeaders(url(11));
  assert.equal(await tap.copyFor(url(11)), null);
  // … and a 404 does not spoil a copy of the same URL the page got meanwhile.
  const after404 = fake.load(url(12));
  after404.data([12]);
  after404.stop();
  fake.load(url(12), { statusCode: 404 });
  assert.deepEqual(await tap.copyFor(url(12)), { bytes: new Uint8Array([12]) });
  assert.equal(tap.size(), 0, 'each answer is let go once told');
  // Failed entries count towards the bound like copies.
  const fake2 = fakeWebRequest();
  const tap2 = createThumbnailTap({ webRequest: fake2.webRequest, maxEntries: 2 });
  for (const n of [1, 2, 3, 4]) fake2.load(url(n), { statusCode: 404 });
  assert.equal(tap2.size(), 2);
});

test('copies still arriving count towards the byte bound: many loads at once cannot add up past maxBytesTotal', async () => {
  const fake = fakeWebRequest();
  const tap = createThumbnailTap({ webRequest: fake.webRequest, maxBytesEach: 8, maxBytesTotal: 10 });
  const url = (n) => `https://pbs.twimg.com/media/A${n}?format=webp&name=small`;
  const first = fake.load(url(1));
  first.data([1, 1, 1, 1, 1, 1]);
  const asked = bytesOf(tap, url(1));
  const second = fake.load(url(2));
  second.data([2, 2, 2, 2, 2, 2]); // 12 bytes arriving in all, over 10: the oldest copy is let go
  assert.equal(await asked, null, 'the oldest arriving copy given up (the worker fetches)');
  assert.equal(tap.size(), 1);
  first.data([1]);
  first.stop();
  second.stop();
  assert.deepEqual([...(await bytesOf(tap, url(2)))], [2, 2, 2, 2, 2, 2]);
  assert.deepEqual(first.filter.written.map((chunk) => [...chunk]), [[1, 1, 1, 1, 1, 1], [1]], 'the page still got every byte');
  // The count stays right as copies come and go: afterwards two loads that fit are both held.
  for (const n of [3, 4]) { const load = fake.load(url(n)); load.data([n, n, n, n]); load.stop(); }
  assert.deepEqual([...(await bytesOf(tap, url(3)))], [3, 3, 3, 3]);
  assert.deepEqual([...(await bytesOf(tap, url(4)))], [4, 4, 4, 4]);
});

test('while switched off, and for a response declared over the per-copy bound, loads pass unfiltered', async () => {
  const fake = fakeWebRequest();
  let on = false;
  const tap = createThumbnailTap({ webRequest: fake.webRequest, copying: () => on, maxBytesEach: 4 });
  const off = fake.load(URL_A);
  assert.equal(off.filter, undefined, 'switched off: the page load is not filtered at all');
  assert.equal(tap.size(), 0);
  on = true;
  const big = fake.load(URL_A, { responseHeaders: [{ name: 'Content-Length', value: '5' }] });
  assert.equal(big.filter, undefined, 'declared bigger than a copy may be: not filtered');
  const started = Date.now();
  assert.equal(await bytesOf(tap, URL_A, { appearWithinMs: 1000 }), null);
  assert.ok(Date.now() - started < 500, 'the worker fetches at once, without waiting for a copy');
  const small = fake.load(URL_A, { responseHeaders: [{ name: 'content-length', value: '3' }] });
  small.data([1, 2, 3]);
  small.stop();
  assert.deepEqual([...(await bytesOf(tap, URL_A))], [1, 2, 3]);
});
