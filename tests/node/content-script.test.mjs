// The content script (web/extension/content-script.js, bundled as the build bundles it) on a small fake
// of X's page: just the DOM calls it makes, a location that SPA navigation changes, and a service worker
// whose answers the test holds and releases. For what only ordering across navigations shows; markup
// and CSS are checked in real Chromium (media-cells-dom.test.mjs, tests/e2e/extension.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import { bundleClassicScript } from '../../tools/build/extension.mjs';
import { MSG } from '../../web/extension/messages.js';
import { i18nFor } from './extension-messages.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = bundleClassicScript(path.join(root, 'web', 'extension', 'content-script.js'));

class FakeElement {
  constructor(localName, attributes = {}) {
    this.localName = localName;
    this.attributes = { ...attributes };
    this.dataset = {};
    this.children = [];
    this.parent = null;
    this.top = 0;
    this.isConnected = true; // false once X removed it from the page
  }
  getAttribute(name) { return this.attributes[name] ?? null; }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  append(...nodes) { for (const node of nodes) if (typeof node === 'object') { node.parent = this; this.children.push(node); } }
  remove() { if (this.parent) this.parent.children = this.parent.children.filter((c) => c !== this); }
  addEventListener(type, listener) { (this.listeners ??= []).push({ type, listener }); }
  contains(node) { return node === this || this.children.some((c) => c.contains(node)); }
  /** The user clicks this control: the script's own listeners on it and around it (its placeholder's, its bar's). */
  click() {
    for (let at = this; at; at = at.parent) {
      for (const { type, listener } of at.listeners ?? []) {
        if (type === 'click') listener({ target: this, isTrusted: true, preventDefault() {}, stopImmediatePropagation() {} });
      }
    }
  }
  attachShadow() { // the page's badge: only written to here
    const shadow = new FakeElement('#shadow-root');
    const parts = new Map();
    shadow.querySelector = (selector) => parts.get(selector) ?? parts.set(selector, new FakeElement('span')).get(selector);
    return shadow;
  }
  closest(selector) { // the class selectors the script's click handler asks for
    for (let at = this; at; at = at.parent) if (selector === `.${at.className}`) return at;
    return null;
  }
  getBoundingClientRect() { return { top: this.top, bottom: this.top + 100 }; }
  querySelector(selector) { return this.querySelectorAll(selector)[0] ?? null; }
  querySelectorAll(selector) {
    const scoped = /^:scope > \.(.+)$/.exec(selector);
    if (scoped) return this.children.filter((c) => c.className === scoped[1]);
    const byClass = /^\.(.+)$/.exec(selector);
    if (byClass) return this.children.filter((c) => c.className === byClass[1]);
    if (selector === 'video') return this.children.filter((c) => c.localName === 'video');
    // media-cells.js's PICTURE_SELECTOR and HELD_PICTURE_SELECTOR: the cell's <img>.
    return this.children.filter((c) => c.localName === 'img');
  }
}

/** X's player, once it autoplays a video in its cell: just what holding it takes. */
class FakeVideo extends FakeElement {
  constructor() {
    super('video');
    this.paused = true;
  }
  play() { this.paused = false; return Promise.resolve(); }
  pause() { this.paused = true; }
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The one FileReader call the content script makes (a Blob as a data: URL). */
class FakeFileReader {
  readAsDataURL(blob) {
    blob.arrayBuffer().then((buffer) => {
      this.result = `data:${blob.type || 'application/octet-stream'};base64,${Buffer.from(buffer).toString('base64')}`;
      this.onload();
    }, (error) => { this.error = error; this.onerror(); });
  }
}

/**
 * A fetch whose response (headers at once) sends each body's chunks `everyMs` apart; a body with
 * `stallAfter` chunks sends no more after those. Honours the request's abort signal, as the browser's does.
 */
function tricklingFetch(bodies, everyMs) {
  return (url, { signal } = {}) => {
    const { chunks, stallAfter = Infinity } = bodies[url];
    let timer;
    const body = new ReadableStream({
      start(controller) {
        let sent = 0;
        const next = () => {
          if (sent === chunks.length) { controller.close(); return; }
          if (sent >= stallAfter) return;
          controller.enqueue(chunks[sent]);
          sent += 1;
          timer = setTimeout(next, everyMs);
        };
        timer = setTimeout(next, everyMs);
        signal?.addEventListener('abort', () => { clearTimeout(timer); controller.error(signal.reason); });
      },
    });
    return Promise.resolve(new Response(body, { headers: { 'content-type': 'image/webp' } }));
  };
}

/** A media cell as X renders it: a link to the post's photo holding the thumbnail <img>. */
function photoCell(author, statusId, mediaId, top = 0) {
  const cell = new FakeElement('a', { href: `/${author}/status/${statusId}/photo/1` });
  cell.append(new FakeElement('img', { src: `https://pbs.twimg.com/media/${mediaId}?format=webp&name=small` }));
  cell.top = top;
  return cell;
}

/** A video's media cell with X's player autoplaying in it (the poster <img> kept: it names the key). */
function playingVideoCell(author, statusId, posterKey) {
  const cell = new FakeElement('a', { href: `/${author}/status/${statusId}/video/1` });
  const video = new FakeVideo();
  video.play();
  cell.append(new FakeElement('img', { src: `https://pbs.twimg.com/${posterKey}.jpg?name=small` }), video);
  return { cell, video };
}

/**
 * Runs the content script on a fake page at `pathname`. The service worker's answers: LOOKUP_VERDICTS
 * finds what `remembered` holds (media key → verdict; a test may change it); each CLASSIFY_MEDIA waits
 * until the test calls answer(mediaId). settingsDelayMs: the settings come that late (null: never).
 */
function startPage(pathname, { verdictTimeoutMs = 60000, settingsDelayMs = 0, enabled = true, timeScale = 1, remembered = {}, userSettings = {},
  fetch = () => Promise.reject(new Error('no network in this test')), thumbnailTap = false, holdCorrections = false } = {}) {
  const imageLoads = []; // URLs the script had the page load as images (new Image())
  const cells = [];
  const sent = [];
  const waiting = new Map(); // media key → resolve of its CLASSIFY_MEDIA
  const failing = new Map(); // media key → reject of its CLASSIFY_MEDIA
  const correcting = new Map(); // media key → resolve of its CORRECT_MEDIA, while holdCorrections
  const lookups = { held: null, failure: null }; // LOOKUP_VERDICTS wait while `held` (a promise); `failure` answers them
  let onMutations = null;
  let onScreen = null;
  let onStorageChanged = null;
  let onTabMessage = null; // the content script's listener for the popup's messages
  const windowListeners = {}; // the content script's own listeners on the page's window, by event type
  const watched = new Set(); // the cells the IntersectionObserver observes
  const timers = new Set(); // the script's timers, cleared when the test closes the page
  const location = { pathname, get href() { return `https://x.com${this.pathname}`; } };
  const rootElement = new FakeElement('html');
  Object.assign(rootElement, {
    toggleAttribute(name, on) { if (on) this.attributes[name] = ''; else delete this.attributes[name]; },
    hasAttribute(name) { return name in this.attributes; },
  });
  const document = {
    documentElement: rootElement,
    body: new FakeElement('body'),
    createElement: (name) => new FakeElement(name),
    querySelectorAll(selector) {
      const keyed = /^\[data-illust-only-media="(.*)"\]$/.exec(selector);
      if (keyed) return cells.filter((c) => c.dataset.illustOnlyMedia === keyed[1]);
      if (selector === '[data-illust-only-media]') return cells.filter((c) => c.dataset.illustOnlyMedia);
      // What an earlier instance of the script left (takeOverFromEarlierInstance): nothing on this page.
      if (selector === '[data-illust-only-media], [data-illust-only-state]') return cells.filter((c) => c.dataset.illustOnlyMedia || c.dataset.illustOnlyState);
      if (selector === '.illust-only-note, #illust-only-page-control') return [];
      return [...cells]; // CELL_SELECTOR
    },
  };
  const chrome = {
    runtime: {
      id: 'test',
      onMessage: { addListener(listener) { onTabMessage = listener; } },
      async sendMessage(message) {
        sent.push(message);
        if (message.type === MSG.GET_SETTINGS) {
          const answer = { ok: true, settings: { enabled, judgeVideos: true, hideScreenshots: true, hidePhotos: true, strictness: 0.5, verdictTimeoutMs, ...userSettings },
            ...(thumbnailTap ? { thumbnailTap: true } : {}) };
          if (settingsDelayMs === null) return new Promise(() => {}); // a worker that never answers
          return settingsDelayMs ? new Promise((resolve) => setTimeout(() => resolve(answer), settingsDelayMs)) : answer;
        }
        if (message.type === MSG.LOOKUP_VERDICTS) {
          await lookups.held;
          if (lookups.failure) return lookups.failure;
          return { ok: true, verdicts: Object.fromEntries(message.mediaIds.filter((id) => remembered[id]).map((id) => [id, remembered[id]])) };
        }
        if (message.type === MSG.CLASSIFY_MEDIA) {
          return new Promise((resolve, reject) => { waiting.set(message.mediaId, resolve); failing.set(message.mediaId, reject); });
        }
        if (message.type === MSG.CORRECT_MEDIA && holdCorrections) return new Promise((resolve) => { correcting.set(message.mediaId, resolve); });
        return { ok: true };
      },
    },
    storage: { onChanged: { addListener(listener) { onStorageChanged = listener; } } },
    i18n: i18nFor('en'),
  };
  const context = vm.createContext({
    document, location, chrome, console: { info() {}, warn() {}, log() {} },
    performance: { mark() {}, now: () => performance.now() }, innerHeight: 800, CSS: { escape: (s) => s }, Node: { ELEMENT_NODE: 1 },
    HTMLVideoElement: class {}, queueMicrotask, AbortSignal, AbortController, Blob, FileReader: FakeFileReader,
    setTimeout: (run, ms) => { const timer = setTimeout(() => { timers.delete(timer); run(); }, ms * timeScale); timers.add(timer); return timer; },
    clearTimeout: (timer) => { timers.delete(timer); clearTimeout(timer); },
    fetch,
    Image: class { set src(url) { imageLoads.push(url); } },
    MutationObserver: class { constructor(callback) { onMutations = callback; } observe() {} },
    IntersectionObserver: class {
      constructor(callback) { onScreen = callback; }
      observe(target) { watched.add(target); }
      unobserve(target) { watched.delete(target); }
    },
    addEventListener(type, listener) { windowListeners[type] = listener; },
  });
  vm.runInContext(script, context);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return {
    sent,
    imageLoads,
    root: rootElement,
    /** X renders these cells (and removes the others): one mutation callback. */
    async show(...shown) {
      const removed = cells.filter((cell) => !shown.includes(cell));
      for (const cell of removed) cell.isConnected = false;
      for (const cell of shown) cell.isConnected = true;
      cells.splice(0, cells.length, ...shown);
      const subtree = (nodes) => ({ nodeType: 1, closest: () => null, querySelectorAll: () => nodes });
      onMutations([{ type: 'childList', addedNodes: [subtree(shown)], removedNodes: removed.length ? [subtree(removed)] : [] }]);
      await settle();
    },
    /** An SPA navigation: X changes the location, then renders the new page. */
    async navigate(to, ...shown) {
      location.pathname = to;
      await this.show(...shown);
    },
    async answer(mediaId) {
      waiting.get(mediaId)({ ok: true, mediaId, label: 'illustration', hide: false, scores: { illustration: 0.9, screenshot: 0.05, photo: 0.05 } });
      waiting.delete(mediaId);
      await settle();
    },
    /** The service worker answers a held CORRECT_MEDIA: stored, with the verdict it decided then. */
    async answerCorrection(mediaId, verdict) {
      correcting.get(mediaId)({ ok: true, count: 1, verdict });
      correcting.delete(mediaId);
      await settle();
    },
    /** The service worker judges this media a photo to hide. */
    async answerPhoto(mediaId, hide = true) {
      waiting.get(mediaId)({ ok: true, mediaId, label: 'photo', hide, scores: { illustration: 0.1, screenshot: 0.1, photo: 0.8 } });
      waiting.delete(mediaId);
      await settle();
    },
    /** The browser's back or forward button: the location changes and popstate fires; X draws the page later. */
    async goBack(to) {
      location.pathname = to;
      windowListeners.popstate?.({ type: 'popstate' });
      await settle();
    },
    /** The popup's "Show all hidden on this page". */
    async revealAll() {
      onTabMessage({ type: MSG.REVEAL_ALL }, {}, () => {});
      await settle();
    },
    /** The user changed a setting in the popup. */
    async settingsChanged() {
      onStorageChanged({}, 'local');
      await settle();
      await settle();
    },
    /** The service worker answers this media with a failure (or never: the test leaves it waiting). */
    async fail(mediaId, code, more = {}) {
      waiting.get(mediaId)({ ok: false, code, message: 'test', ...more });
      waiting.delete(mediaId);
      await settle();
    },
    /**
     * The browser stops the service worker: every judgement still waiting for its answer fails with
     * Chromium's words for a listener whose channel closed (tests/e2e showed them), or the given ones.
     */
    async stopWorker(words = 'A listener indicated an asynchronous response by returning true, but the message channel closed before a response was received') {
      for (const mediaId of waiting.keys()) failing.get(mediaId)(new Error(words));
      waiting.clear();
      await settle();
    },
    /**
     * The browser stops the service worker as the judgements still waiting reach it: only the offscreen
     * document hears them, and leaves them alone, so Chromium answers each with nothing (undefined).
     */
    async stopWorkerUnheard() {
      for (const mediaId of waiting.keys()) waiting.get(mediaId)(undefined);
      waiting.clear();
      await settle();
    },
    /** These cells of a profile's posts come on screen (the IntersectionObserver's report). */
    async onScreen(...shown) {
      onScreen(shown.map((target) => ({ target, isIntersecting: true })));
      await settle();
    },
    /** X removes these cells from the page (one mutation callback). */
    async remove(...gone) {
      for (const cell of gone) cell.isConnected = false;
      cells.splice(0, cells.length, ...cells.filter((cell) => !gone.includes(cell)));
      onMutations([{ type: 'childList', addedNodes: [], removedNodes: [{ nodeType: 1, closest: () => null, querySelectorAll: () => gone }] }]);
      await settle();
    },
    /** These cells left the screen, or the page (the IntersectionObserver's report). */
    async offScreen(...gone) {
      onScreen(gone.map((target) => ({ target, isIntersecting: false })));
      await settle();
    },
    /** An attribute of a cell changed (X reused the element for another post). */
    async changed(cell) {
      onMutations([{ type: 'attributes', target: { closest: () => cell } }]);
      await settle();
    },
    watched,
    remembered,
    /** Remembered-verdicts lookups wait (the worker is busy) until the returned function is called. */
    holdLookups() {
      let release;
      lookups.held = new Promise((resolve) => { release = resolve; });
      return async () => { lookups.held = null; release(); await settle(); await settle(); };
    },
    /** From now on, lookups answer this failure (null: they answer again). */
    failLookups(failure) { lookups.failure = failure; },
    classifyRequests: () => sent.filter((m) => m.type === MSG.CLASSIFY_MEDIA),
    close() { for (const timer of timers) clearTimeout(timer); },
  };
}

test('judgements queued on one media tab are dropped when the user moves to another account\'s; those in flight keep its account', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const alices = Array.from({ length: 8 }, (_, i) => photoCell('alice', 1000 + i, `Alice${i}`, i * 120));
  await page.show(...alices);
  assert.equal(page.classifyRequests().length, 6, 'six in flight, two waiting');
  assert.ok(page.classifyRequests().every((m) => m.account === 'alice'));
  // The user moves on to Bob's profile, then his media tab, while Alice's verdicts are still coming.
  await page.navigate('/bob');
  await page.navigate('/bob/media', photoCell('bob', 2000, 'Bob0'));
  for (let i = 0; i < 6; i += 1) await page.answer(`Alice${i}`);
  // Alice's two queued media are not judged for a page that no longer shows them (nor under Bob's
  // account, whose corrections would decide them and whose references they would become).
  assert.deepEqual(page.classifyRequests().slice(6).map((m) => [m.mediaId, m.account]), [['Bob0', 'bob']]);
  const lookups = page.sent.filter((m) => m.type === MSG.LOOKUP_VERDICTS);
  assert.deepEqual(lookups.map((m) => [m.account, m.mediaIds.length]), [['alice', 8], ['bob', 1]]);
  // Back on Alice's media tab, the dropped ones are asked for again; those judged meanwhile are known.
  const again = Array.from({ length: 8 }, (_, i) => photoCell('alice', 1000 + i, `Alice${i}`, i * 120));
  await page.navigate('/alice/media', ...again);
  assert.deepEqual(page.classifyRequests().slice(7).map((m) => [m.mediaId, m.account]), [['Alice6', 'alice'], ['Alice7', 'alice']]);
  assert.deepEqual(again.map((c) => c.dataset.illustOnlyState), [...Array(6).fill('visible'), 'pending', 'pending']);
});

test('judgements queued on a media tab wait while a photo opened from it, or the home timeline, is shown, and go on back there', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const grid = () => Array.from({ length: 8 }, (_, i) => photoCell('alice', 1000 + i, `Alice${i}`, i * 120));
  await page.show(...grid());
  await page.navigate('/alice/status/1000/photo/1'); // X shows the photo over the grid
  for (let i = 0; i < 3; i += 1) await page.answer(`Alice${i}`);
  assert.equal(page.classifyRequests().length, 6, 'nothing sent off the media tab');
  await page.navigate('/alice/media', ...grid());
  await page.navigate('/home');
  for (let i = 3; i < 6; i += 1) await page.answer(`Alice${i}`);
  await page.navigate('/alice/media', ...grid());
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), Array.from({ length: 8 }, (_, i) => `Alice${i}`), 'each judged once, none dropped');
});

test('a profile\'s posts judged ahead keep its account when the user moves on to another profile; those not yet sent are dropped', async (t) => {
  const page = startPage('/alice');
  t.after(() => page.close());
  await wait(0); // the settings
  const alices = Array.from({ length: 4 }, (_, i) => photoCell('alice', 1000 + i, `Alice${i}`));
  await page.show(...alices);
  await page.onScreen(...alices);
  assert.equal(page.classifyRequests().length, 2, 'two judged ahead at a time');
  const bob = photoCell('bob', 2000, 'Bob0');
  await page.navigate('/bob', bob);
  await page.answer('Alice0');
  await page.answer('Alice1');
  await page.onScreen(bob);
  assert.deepEqual(page.classifyRequests().map((m) => [m.mediaId, m.account, m.priority]),
    [['Alice0', 'alice', 'low'], ['Alice1', 'alice', 'low'], ['Bob0', 'bob', 'low']],
    'the two in flight finish under alice; the two still waiting are not judged on bob\'s profile');
});

test('posts waiting to be judged ahead are kept while a photo opened from the profile is shown, and sent on the way back', async (t) => {
  const page = startPage('/alice');
  t.after(() => page.close());
  await wait(0); // the settings
  const alices = Array.from({ length: 4 }, (_, i) => photoCell('alice', 3000 + i, `Alice${i}`));
  await page.show(...alices);
  await page.onScreen(...alices);
  await page.navigate('/alice/status/3000/photo/1');
  await page.answer('Alice0');
  await page.answer('Alice1');
  assert.equal(page.classifyRequests().length, 2, 'nothing judged ahead while the photo is shown');
  await page.navigate('/alice');
  await page.answer('Alice2');
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0', 'Alice1', 'Alice2', 'Alice3'], 'the waiting two are sent back on the profile');
});

test('one request that never answers shows only its own cell while others answer; the whole queue only when nothing answers', async (t) => {
  const page = startPage('/alice/media', { verdictTimeoutMs: 1000 });
  t.after(() => page.close());
  await wait(0); // the settings
  const cells = Array.from({ length: 20 }, (_, i) => photoCell('alice', 1000 + i, `Alice${i}`, i * 120));
  const sentIds = () => page.classifyRequests().map((m) => m.mediaId);
  await page.show(...cells);
  assert.deepEqual(sentIds(), ['Alice0', 'Alice1', 'Alice2', 'Alice3', 'Alice4', 'Alice5']);
  await wait(500);
  for (const i of [1, 2, 3, 4, 5]) await page.answer(`Alice${i}`); // Alice0's never comes: one stalled thumbnail
  assert.equal(sentIds().length, 11);
  await wait(700); // Alice0 timed out at 1000 ms; Alice6-10 time out at 1500 ms
  assert.equal(cells[0].dataset.illustOnlyState, 'error', 'the stuck one shows');
  // The classifier answered meanwhile: the cells still waiting keep their turn instead of showing unjudged.
  assert.equal(sentIds().at(-1), 'Alice11', 'its slot went to the next cell');
  assert.ok(cells.slice(11).every((c) => c.dataset.illustOnlyState === 'pending'));
  await wait(600); // Alice6-10, sent at 500 ms, timed out
  // Alice6-9 were sent before the last answer, so each gave its slot to a waiting cell (Alice12-15).
  // Nothing answered after Alice10 was sent (the classifier is stuck): its timeout shows every cell
  // still waiting at once.
  assert.equal(sentIds().length, 16);
  assert.ok(cells.slice(16).every((c) => c.dataset.illustOnlyState === 'error'));
});

test('media whose cells X removed or reused before their turn are read from the URL the page showed, not left for the worker to fetch again', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const first = Array.from({ length: 9 }, (_, i) => photoCell('alice', 1000 + i, `Alice${i}`, i * 120));
  await page.show(...first);
  assert.equal(page.classifyRequests().length, 6, 'six in flight');
  // The user scrolls on: X's virtualised grid drops the first cells (Alice6-8 never got their turn)
  // and reuses one element for a new post.
  first[0].attributes.href = '/alice/status/2000/photo/1';
  first[0].children[0].attributes.src = 'https://pbs.twimg.com/media/AliceNew?format=webp&name=small';
  await page.show(first[0]);
  for (let i = 0; i < 6; i += 1) await page.answer(`Alice${i}`);
  for (const mediaId of ['AliceNew', 'Alice6', 'Alice7', 'Alice8']) await page.answer(mediaId);
  const urls = Object.fromEntries(page.classifyRequests().map((m) => [m.mediaId, m.url ?? null]));
  const pageUrl = (mediaId) => `https://pbs.twimg.com/media/${mediaId}?format=webp&name=small`;
  // Without the page's URL the worker fetches the JPEG: a second download of a thumbnail the page has.
  assert.deepEqual(urls, Object.fromEntries([...first.map((_, i) => `Alice${i}`), 'AliceNew'].map((id) => [id, pageUrl(id)])));
});

test('a thumbnail still arriving over a slow link is read from the page\'s download, however long it takes; a read that stalls is left to the worker', async (t) => {
  const url = (mediaId) => `https://pbs.twimg.com/media/${mediaId}?format=webp&name=small`;
  const chunks = Array.from({ length: 13 }, (_, i) => new Uint8Array(1000).fill(i));
  // Slow: a chunk every 500 ms, 6.5 s in all. Stalled: one chunk, then nothing.
  const fetch = tricklingFetch({ [url('Slow')]: { chunks }, [url('Stalled')]: { chunks, stallAfter: 1 } }, 500);
  const page = startPage('/alice/media', { fetch });
  t.after(() => page.close());
  await wait(0); // the settings
  await page.show(photoCell('alice', 1, 'Slow'), photoCell('alice', 2, 'Stalled', 120));
  await wait(7500);
  const sent = Object.fromEntries(page.classifyRequests().map((m) => [m.mediaId, m]));
  // Given up after 5 s the worker would fetch it again: a second download over the same slow link.
  assert.equal(sent.Slow?.bytesBase64, Buffer.concat(chunks).toString('base64'), 'the slow thumbnail\'s bytes, read whole');
  assert.equal(sent.Stalled?.url, url('Stalled'));
  assert.equal(sent.Stalled.bytesBase64, undefined, 'a stalled read is given up: the worker fetches it');
});

test('a thumbnail whose download has not begun (the page\'s request waits its turn on a slow link) is waited for, not fetched a second time by the worker', async (t) => {
  const url = (mediaId) => `https://pbs.twimg.com/media/${mediaId}?format=webp&name=small`;
  const bytes = new Uint8Array(1000).fill(7);
  // The response begins after 8 of the script's seconds (timeScale: its 5 s stall limit is 50 ms here),
  // then comes whole: what a read sharing the page's queued download sees.
  const fetch = (requested, { signal } = {}) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(new Response(bytes, { headers: { 'content-type': 'image/webp' } })), 80);
    signal?.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); });
  });
  const page = startPage('/alice/media', { fetch, timeScale: 0.01 });
  t.after(() => page.close());
  await wait(0); // the settings
  await page.show(photoCell('alice', 1, 'Queued'));
  await wait(150);
  const sent = page.classifyRequests().find((m) => m.mediaId === 'Queued');
  assert.equal(sent?.url, url('Queued'));
  // Given up before the response began, the read sent no bytes: the worker downloaded the thumbnail again.
  assert.ok(sent.bytesBase64 && Buffer.from(sent.bytesBase64, 'base64').equals(Buffer.from(bytes)), 'the page\'s download, read once it came');
});

test('Firefox (the worker taps the page\'s downloads): the thumbnail is not fetched but loaded as the page loads it, and sent without bytes', async (t) => {
  // Firefox's HTTP cache never answers this script's fetch() with the page's <img> download (an
  // anonymous CORS read, and since Firefox 123 any cross-origin fetch, is keyed apart): every read was
  // a second download. The worker copies the page's own download instead (thumbnail-tap.js).
  const fetched = [];
  const fetch = async (url) => { fetched.push(url); return new Response(new Uint8Array([1, 2, 3])); };
  const url = (mediaId) => `https://pbs.twimg.com/media/${mediaId}?format=webp&name=small`;
  const page = startPage('/alice/media', { fetch, thumbnailTap: true });
  t.after(() => page.close());
  await wait(0); // the settings
  await page.show(photoCell('alice', 1, 'Tapped'), photoCell('alice', 2, 'Tapped2', 120));
  await wait(10);
  assert.deepEqual(fetched, [], 'no read of the thumbnail: it would be a second download');
  assert.deepEqual(page.imageLoads, [url('Tapped'), url('Tapped2')], 'loaded as an image, sharing the page\'s download');
  const sent = Object.fromEntries(page.classifyRequests().map((m) => [m.mediaId, m]));
  assert.equal(sent.Tapped?.url, url('Tapped'));
  assert.equal(sent.Tapped.bytesBase64, undefined, 'the worker has the bytes from the page\'s download');

  // Chromium (no tap): the bytes are read from the HTTP cache, which answers with the page's download.
  const chromium = startPage('/alice/media', { fetch });
  t.after(() => chromium.close());
  await wait(0);
  await chromium.show(photoCell('alice', 3, 'Read'));
  await wait(10);
  assert.deepEqual(fetched, [url('Read')]);
  assert.deepEqual(chromium.imageLoads, []);
  assert.equal(chromium.classifyRequests()[0]?.bytesBase64, Buffer.from([1, 2, 3]).toString('base64'));
});

test('answers that come after their own timeout do not count as a working classifier', async (t) => {
  const page = startPage('/alice/media', { verdictTimeoutMs: 500 });
  t.after(() => page.close());
  await wait(0); // the settings
  const first = Array.from({ length: 6 }, (_, i) => photoCell('alice', 1000 + i, `A${i}`, i * 120));
  await page.show(...first);
  await wait(600); // all six timed out: a slow classifier
  const more = Array.from({ length: 8 }, (_, i) => photoCell('alice', 2000 + i, `B${i}`, 800 + i * 120));
  await page.show(...first, ...more);
  assert.equal(page.classifyRequests().length, 12);
  await wait(100);
  for (let i = 0; i < 6; i += 1) await page.answer(`A${i}`); // late: their cells already show
  await wait(700); // B0-B5 timed out with no answer in time since they were sent
  assert.ok(more.slice(6).every((c) => c.dataset.illustOnlyState === 'error'), 'the cells still waiting show at once');
  assert.equal(page.classifyRequests().length, 12);
});

test('judgements in flight when the browser stops the service worker are sent again (once), not shown unjudged', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const cells = [0, 1, 2].map((i) => photoCell('alice', 1000 + i, `Alice${i}`, i * 120));
  await page.show(...cells);
  await page.stopWorker();
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0', 'Alice1', 'Alice2', 'Alice0', 'Alice1', 'Alice2'],
    'each asked once more (the message starts the worker again)');
  assert.ok(cells.every((c) => c.dataset.illustOnlyState === 'pending'), 'still held, not shown unjudged');
  await page.answerPhoto('Alice0');
  await page.answer('Alice1');
  assert.equal(cells[0].dataset.illustOnlyState, 'hidden');
  assert.equal(cells[1].dataset.illustOnlyState, 'visible');
  await page.stopWorker(); // stopped again before Alice2's second answer: once is enough, it shows
  assert.equal(cells[2].dataset.illustOnlyState, 'error');
  assert.equal(page.classifyRequests().length, 6);
});

test('judgements the service worker never heard, stopped as they came (Chromium answers nothing), are sent again (once), not shown unjudged', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const cells = [0, 1].map((i) => photoCell('alice', 1000 + i, `Alice${i}`, i * 120));
  await page.show(...cells);
  await page.stopWorkerUnheard();
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0', 'Alice1', 'Alice0', 'Alice1'], 'each asked once more (the message starts the worker again)');
  assert.ok(cells.every((c) => c.dataset.illustOnlyState === 'pending'), 'still held, not shown unjudged');
  await page.answerPhoto('Alice0');
  assert.equal(cells[0].dataset.illustOnlyState, 'hidden');
  await page.stopWorkerUnheard(); // unheard again: once is enough, it shows
  assert.equal(cells[1].dataset.illustOnlyState, 'error');
  assert.equal(page.classifyRequests().length, 4);
});

test('Firefox: judgements in flight when the event page was suspended are sent again (once); an extension updated or removed meanwhile is not asked again', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const cells = [0, 1].map((i) => photoCell('alice', 1000 + i, `Alice${i}`, i * 120));
  await page.show(...cells);
  // Firefox's words when its event page was suspended while the content script waited for the answer.
  await page.stopWorker('Could not establish connection. Receiving end does not exist.');
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0', 'Alice1', 'Alice0', 'Alice1'], 'each asked once more (the message wakes the page)');
  assert.ok(cells.every((c) => c.dataset.illustOnlyState === 'pending'), 'still held, not shown unjudged');
  await page.answerPhoto('Alice0');
  assert.equal(cells[0].dataset.illustOnlyState, 'hidden');
  // This script's extension was updated or removed: no worker will ever answer it, so it shows at once.
  await page.stopWorker('Extension context invalidated.');
  assert.equal(cells[1].dataset.illustOnlyState, 'error');
  assert.equal(page.classifyRequests().length, 4);
});

test('media that failed for a passing reason (timeout, classifier, connection) are asked for again on the next page; an image\'s own failure is final', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const [stuck, corrupt, gone, offline] = [0, 1, 2, 3].map((i) => photoCell('alice', 1000 + i, `Alice${i}`, i * 120));
  await page.show(stuck, corrupt, gone, offline);
  await page.fail('Alice0', 'offscreen_failed');
  await page.fail('Alice1', 'corrupt');
  await page.fail('Alice2', 'fetch_failed', { httpStatus: 404 });
  await page.fail('Alice3', 'fetch_failed'); // a network error
  assert.ok([stuck, corrupt, gone, offline].every((c) => c.dataset.illustOnlyState === 'error'));
  await page.navigate('/alice');
  await page.navigate('/alice/media', stuck, corrupt, gone, offline);
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0', 'Alice1', 'Alice2', 'Alice3', 'Alice0', 'Alice3']);
  assert.equal(stuck.dataset.illustOnlyState, 'pending');
  await page.answer('Alice0');
  assert.equal(stuck.dataset.illustOnlyState, 'visible');
  assert.equal(corrupt.dataset.illustOnlyState, 'error');
  assert.equal(gone.dataset.illustOnlyState, 'error');
});

test('the page counts (and the "show all" badge) include cells X draws with a known verdict after the navigation, not only those there when the path changed', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  await page.show(photoCell('alice', 1000, 'Alice0'), photoCell('alice', 1001, 'Alice1', 120));
  await page.answerPhoto('Alice0');
  await page.answer('Alice1');
  assert.equal(page.root.attributes['data-illust-only-hidden'], '1');
  // Back to the profile, then to the media tab again: X changes the location first (a mutation of its
  // own: a spinner) and draws the grid, with fresh elements, a moment later.
  await page.navigate('/alice');
  await page.navigate('/alice/media');
  const again = [photoCell('alice', 1000, 'Alice0'), photoCell('alice', 1001, 'Alice1', 120)];
  await page.show(...again);
  assert.deepEqual(again.map((c) => c.dataset.illustOnlyState), ['hidden', 'visible'], 'known verdicts at once');
  assert.equal(page.classifyRequests().length, 2, 'nothing judged again');
  assert.equal(page.root.attributes['data-illust-only-judged'], '2');
  assert.equal(page.root.attributes['data-illust-only-hidden'], '1');
});

test('cells the user chose to show stay shown after a photo opened from the grid is closed; another account\'s media tab starts afresh', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const grid = () => [photoCell('alice', 1000, 'Alice0'), photoCell('alice', 1001, 'Alice1', 120)];
  await page.show(...grid());
  await page.answerPhoto('Alice0');
  await page.answerPhoto('Alice1');
  await page.revealAll();
  assert.deepEqual(page.root.attributes['data-illust-only-hidden'], '0');
  // The user opens a photo (X shows it over the grid), closes it: X draws the grid again.
  await page.navigate('/alice/status/1000/photo/1');
  const back = grid();
  await page.navigate('/alice/media', ...back);
  assert.deepEqual(back.map((c) => c.dataset.illustOnlyState), ['revealed', 'revealed']);
  await page.navigate('/bob/media');
  await page.navigate('/alice/media', ...grid());
  assert.equal(page.root.attributes['data-illust-only-hidden'], '2', 'hidden again after another media tab');
  assert.equal(page.classifyRequests().length, 2, 'nothing judged again');
});

test('"show" lasts while the user stays with the account (its profile, home), not through a visit to another account, on its media tab or not', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const grid = () => [photoCell('alice', 1000, 'Alice0'), photoCell('alice', 1001, 'Alice1', 120)];
  await page.show(...grid());
  await page.answerPhoto('Alice0');
  await page.answerPhoto('Alice1');
  const showAllAgain = async () => { await page.revealAll(); assert.equal(page.root.attributes['data-illust-only-hidden'], '0'); };
  const hiddenAfter = async (...path) => {
    for (const step of path) await page.navigate(step);
    const back = grid();
    await page.navigate('/alice/media', ...back);
    return back.filter((c) => c.dataset.illustOnlyState === 'hidden').length;
  };
  await showAllAgain();
  assert.equal(await hiddenAfter('/alice', '/home'), 0, 'her own profile and home keep it');
  assert.equal(await hiddenAfter('/bob'), 2, 'Bob\'s profile ends it, as his media tab does');
  await showAllAgain();
  assert.equal(await hiddenAfter('/bob/likes', '/bob/media'), 2);
  assert.equal(page.classifyRequests().length, 2, 'nothing judged again');
});

test('back from a media tab, its hidden cells stay hidden until X draws the page the user went back to', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const screenshot = photoCell('alice', 1000, 'Alice0');
  await page.show(screenshot);
  await page.answerPhoto('Alice0');
  assert.equal(screenshot.dataset.illustOnlyState, 'hidden');
  // popstate comes before X's own listener re-renders (its router draws the profile a moment later):
  // the grid is still on the page, and content.css holds its hidden cells only while the page is active.
  await page.goBack('/alice');
  assert.ok('data-illust-only-active' in page.root.attributes, 'the grid X still shows keeps its hidden cells hidden');
  await page.show(photoCell('alice', 1000, 'Alice0')); // X draws the profile: its own post with that photo
  assert.ok(!('data-illust-only-active' in page.root.attributes), 'the profile is left alone');
});

test('back from one account\'s media tab to another\'s, the grid X still shows keeps its states until X draws the new one; a cell left waiting shows once its media is dropped', async (t) => {
  const page = startPage('/bob/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const bobs = Array.from({ length: 10 }, (_, i) => photoCell('bob', 2000 + i, `Bob${i}`, i * 120));
  await page.show(...bobs);
  await page.answerPhoto('Bob0');
  await page.answer('Bob1');
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), bobs.slice(0, 8).map((c) => c.dataset.illustOnlyMedia), 'Bob8 and Bob9 wait their turn');
  // Back to Alice's media tab: the location changes, and something on the page changes (a mutation)
  // before X draws her grid, Bob's still on screen.
  await page.goBack('/alice/media');
  await page.show(...bobs);
  assert.deepEqual(bobs.slice(0, 3).map((c) => c.dataset.illustOnlyState), ['hidden', 'visible', 'pending'], 'no hidden cell shows for a frame');
  await page.answerPhoto('Bob2'); // in flight: its answer still applies to its cell
  assert.equal(bobs[2].dataset.illustOnlyState, 'hidden');
  // The freed slot drops Bob8 and Bob9 (nothing is judged for a grid left): their cells, still on
  // screen, are not held for a verdict that will not come.
  assert.deepEqual(bobs.slice(8).map((c) => c.dataset.illustOnlyState), ['error', 'error']);
  assert.equal(page.classifyRequests().length, 8);
  const alices = [photoCell('alice', 1000, 'Alice0'), photoCell('alice', 1001, 'Alice1', 120)];
  await page.show(...alices); // X draws Alice's grid
  assert.deepEqual(alices.map((c) => c.dataset.illustOnlyState), ['pending', 'pending']);
  assert.deepEqual(page.classifyRequests().slice(8).map((m) => [m.mediaId, m.account]), [['Alice0', 'alice']], 'the one free slot (Bob3-7 in flight)');
  assert.equal(page.root.attributes['data-illust-only-pending'], '2', 'the page counts only Alice\'s');
});

/**
 * What content.css holds invisible: a keyed cell whose state does not let it show, while the page is
 * judged (html[data-illust-only-active]) or while it is a cell of the media tab just left (data-illust-only-left-behind).
 */
function heldByCss(page, cell) {
  const kept = 'data-illust-only-active' in page.root.attributes || 'illustOnlyLeftBehind' in cell.dataset;
  return kept && Boolean(cell.dataset.illustOnlyMedia) && !['visible', 'revealed', 'error'].includes(cell.dataset.illustOnlyState);
}

test('leaving a media tab for a page that is not one (back to the profile, a link home), a change on the page before X draws it shows no hidden cell of the grid; the new page\'s own pictures are never held', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const grid = () => [photoCell('alice', 1000, 'Alice0'), photoCell('alice', 1001, 'Alice1', 120), photoCell('alice', 1002, 'Alice2', 240)];
  const cells = grid();
  await page.show(...cells);
  await page.answerPhoto('Alice0');
  await page.answer('Alice1');
  // Back to her profile: X shows its progress bar at once (a change on the page), the grid still drawn.
  await page.goBack('/alice');
  await page.show(...cells);
  assert.ok(!('data-illust-only-active' in page.root.attributes), 'nothing is judged on the profile');
  assert.deepEqual(cells.map((c) => heldByCss(page, c)), [true, false, true], 'the hidden cell and the one still waiting stay held');
  await page.answerPhoto('Alice2'); // in flight: its answer still applies to its cell
  assert.equal(cells[2].dataset.illustOnlyState, 'hidden');
  assert.ok(heldByCss(page, cells[2]));
  // X draws the profile: her posts, the same photos in new elements, one grid element reused for a post.
  const posts = [photoCell('alice', 1000, 'Alice0'), photoCell('alice', 1002, 'Alice2', 120)];
  cells[0].setAttribute('href', '/alice/status/1005/photo/1');
  cells[0].children[0].setAttribute('src', 'https://pbs.twimg.com/media/Alice5?format=webp&name=small');
  await page.show(cells[0], ...posts);
  assert.deepEqual([cells[0], ...posts].map((c) => heldByCss(page, c)), [false, false, false], 'the profile\'s own pictures show');
  assert.deepEqual(cells.map((c) => 'illustOnlyLeftBehind' in c.dataset), [false, false, false], 'the grid\'s cells are let go once X removed or reused them');

  // A link to the home timeline, the grid drawn again first.
  const again = grid();
  await page.navigate('/alice/media', ...again);
  assert.deepEqual(again.map((c) => c.dataset.illustOnlyState), ['hidden', 'visible', 'hidden'], 'known verdicts');
  await page.navigate('/home', ...again); // a change before X draws home
  assert.deepEqual(again.map((c) => heldByCss(page, c)), [true, false, true]);
  const retweet = photoCell('alice', 1000, 'Alice0'); // home shows her screenshot in a post of its own
  await page.show(retweet);
  assert.ok(!heldByCss(page, retweet), 'the home timeline\'s pictures show');

  // A photo opened over the grid (X keeps the grid under it) behaves as before: the grid is X's.
  const under = grid();
  await page.navigate('/alice/media', ...under);
  await page.navigate('/alice/status/1001/photo/1', ...under);
  assert.deepEqual(under.map((c) => heldByCss(page, c)), [false, false, false]);
  await page.navigate('/alice/media', ...under);
  assert.deepEqual(under.map((c) => c.dataset.illustOnlyState), ['hidden', 'visible', 'hidden'], 'closed: the grid as it was');
});

test('a cell of the media tab just left is never held for good: back on the media tab it is judged as the settings now say, switched off it shows, and one X leaves on the page shows after a while', async (t) => {
  const userSettings = {};
  const page = startPage('/alice/media', { userSettings, timeScale: 0.01 });
  t.after(() => page.close());
  await wait(0); // the settings
  const cell = photoCell('alice', 1000, 'Alice0');
  await page.show(cell);
  await page.answerPhoto('Alice0');
  // X keeps the grid's element on the page while home is shown; "Hide photos" is unticked there.
  await page.navigate('/home', cell);
  assert.ok(heldByCss(page, cell));
  userSettings.hidePhotos = false;
  page.remembered.Alice0 = photoNowShown;
  await page.settingsChanged();
  await page.navigate('/alice/media', cell);
  await wait(5);
  assert.equal(cell.dataset.illustOnlyState, 'visible', 'the new settings apply on the way back');
  assert.ok(!('illustOnlyLeftBehind' in cell.dataset));

  // Switched off while the grid left is still drawn: it shows.
  const other = photoCell('alice', 1001, 'Alice1', 120);
  await page.show(cell, other);
  await page.answerPhoto('Alice1');
  await page.navigate('/alice', cell, other);
  assert.ok(heldByCss(page, other));
  userSettings.enabled = false;
  await page.settingsChanged();
  assert.ok(!heldByCss(page, other), 'switched off');

  // A grid X never removes from a page that is not a media tab shows after a while (fail open).
  userSettings.enabled = true;
  await page.settingsChanged();
  const kept = photoCell('alice', 1002, 'Alice2', 240);
  await page.navigate('/alice/media', kept);
  await page.answerPhoto('Alice2');
  await page.navigate('/home', kept);
  assert.ok(heldByCss(page, kept));
  await wait(200); // the script's seconds are a hundredth here
  assert.ok(!heldByCss(page, kept), 'let go');
});

test('after a settings change, media the worker no longer remembers are judged again, their cells keeping the old verdict meanwhile', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const photo = photoCell('alice', 1000, 'Alice0');
  await page.show(photo);
  await page.answerPhoto('Alice0');
  assert.equal(photo.dataset.illustOnlyState, 'hidden');
  // "Forget remembered verdicts", then "Hide photos" switched off: the lookup finds nothing.
  await page.settingsChanged();
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0', 'Alice0']);
  assert.equal(photo.dataset.illustOnlyState, 'hidden', 'no flash while it is judged again');
  await page.answerPhoto('Alice0', false);
  assert.equal(photo.dataset.illustOnlyState, 'visible');
  // One the worker still remembers takes the remembered verdict, judged by nothing.
  page.remembered.Alice0 = { ok: true, mediaId: 'Alice0', label: 'photo', hide: true, scores: { illustration: 0.1, screenshot: 0.1, photo: 0.8 } };
  await page.settingsChanged();
  assert.equal(page.classifyRequests().length, 2);
  assert.equal(photo.dataset.illustOnlyState, 'hidden');
});

// Alice0's verdict once "Hide photos" is unticked: a photo, shown.
const photoNowShown = { ok: true, mediaId: 'Alice0', label: 'photo', hide: false, scores: { illustration: 0.1, screenshot: 0.1, photo: 0.8 } };

test('a settings change made while the page is off its media tab applies when the user comes back, to cells judged on the media tab and to posts judged ahead on the profile', async (t) => {
  // On the media tab, then a photo opened (the page is off its media tab), "Hide photos" unticked, back.
  const userSettings = {};
  const page = startPage('/alice/media', { userSettings });
  t.after(() => page.close());
  await wait(0);
  const photo = photoCell('alice', 1000, 'Alice0');
  await page.show(photo);
  await page.answerPhoto('Alice0');
  assert.equal(photo.dataset.illustOnlyState, 'hidden');
  await page.navigate('/alice/status/1000/photo/1', photo);
  userSettings.hidePhotos = false;
  page.remembered.Alice0 = photoNowShown;
  await page.settingsChanged();
  await page.navigate('/alice/media', photo);
  await wait(5);
  assert.equal(photo.dataset.illustOnlyState, 'visible', 'the new settings apply on the way back');
  assert.equal(page.classifyRequests().length, 1, 'decided again on the remembered scores, not judged again');

  // Judged ahead on the profile, "Hide photos" unticked there, then the click on Media.
  const aheadSettings = {};
  const profile = startPage('/alice', { userSettings: aheadSettings });
  t.after(() => profile.close());
  await wait(0);
  const post = photoCell('alice', 1000, 'Alice0');
  await profile.show(post);
  await profile.onScreen(post);
  await profile.answerPhoto('Alice0');
  aheadSettings.hidePhotos = false;
  profile.remembered.Alice0 = photoNowShown;
  await profile.settingsChanged();
  const cell = photoCell('alice', 1000, 'Alice0');
  await profile.navigate('/alice/media', cell);
  await wait(5);
  assert.equal(cell.dataset.illustOnlyState, 'visible');
});

test('a post judged ahead on the profile and answered after a settings change there and the click on Media (before X drew the grid) gets the new settings', async (t) => {
  const userSettings = {};
  const page = startPage('/alice', { userSettings });
  t.after(() => page.close());
  await wait(0);
  const post = photoCell('alice', 1000, 'Alice0');
  await page.show(post);
  await page.onScreen(post); // judged ahead, in flight
  assert.equal(page.classifyRequests().length, 1);
  userSettings.hidePhotos = false;
  page.remembered.Alice0 = photoNowShown;
  await page.settingsChanged();
  await page.navigate('/alice/media'); // X has not drawn the grid yet
  await page.answerPhoto('Alice0'); // decided before the change reached the worker
  const cell = photoCell('alice', 1000, 'Alice0');
  await page.show(cell);
  await wait(5);
  assert.equal(cell.dataset.illustOnlyState, 'visible');
  assert.equal(page.classifyRequests().length, 1, 'looked up, not judged again');
});

test('a verdict asked before a settings change and answered after it is asked for again under the new settings', async (t) => {
  const userSettings = {};
  const page = startPage('/alice/media', { userSettings });
  t.after(() => page.close());
  await wait(0);
  const photo = photoCell('alice', 1000, 'Alice0');
  await page.show(photo); // being judged with "Hide photos" on
  userSettings.hidePhotos = false;
  page.remembered.Alice0 = photoNowShown;
  await page.settingsChanged();
  await page.answerPhoto('Alice0'); // decided under the old settings, answered after the change
  await wait(5);
  assert.equal(photo.dataset.illustOnlyState, 'visible');
  assert.equal(page.classifyRequests().length, 1, 'asked again from memory, not judged again');
});

test('a setting changed on the profile: the grid drawn after the click on Media holds the cells judged visible before the change until the new verdict comes (no flash)', async (t) => {
  // On the media tab with "Hide photos" off, the photo shows; the user goes to the profile, ticks
  // "Hide photos" there, and clicks Media. The same holds for a screenshot or the strictness slider:
  // the content script only sees that its verdict is out of date.
  const userSettings = { hidePhotos: false };
  const page = startPage('/alice/media', { userSettings });
  t.after(() => page.close());
  await wait(0);
  await page.show(photoCell('alice', 1000, 'Alice0'));
  await page.answerPhoto('Alice0', false);
  await page.navigate('/alice');
  userSettings.hidePhotos = true;
  page.remembered.Alice0 = { ok: true, mediaId: 'Alice0', label: 'photo', hide: true, scores: { illustration: 0.1, screenshot: 0.1, photo: 0.8 } };
  await page.settingsChanged();
  const release = page.holdLookups(); // the worker's answer takes a moment: frames are painted meanwhile
  const cell = photoCell('alice', 1000, 'Alice0');
  await page.navigate('/alice/media', cell);
  assert.equal(cell.dataset.illustOnlyState, 'pending', 'held (content.css): "visible" was decided before "Hide photos" was ticked');
  await release();
  assert.equal(cell.dataset.illustOnlyState, 'hidden');
  assert.equal(page.classifyRequests().length, 1, 'decided again on the remembered scores, not judged again');
});

test('a setting changed in another tab while the media tab is open: a cell X mounts before the new verdict comes is held; those already showing stay', async (t) => {
  const userSettings = { hidePhotos: false };
  const page = startPage('/alice/media', { userSettings });
  t.after(() => page.close());
  await wait(0);
  const shown = photoCell('alice', 1000, 'Alice0');
  await page.show(shown);
  await page.answerPhoto('Alice0', false);
  assert.equal(shown.dataset.illustOnlyState, 'visible');
  const release = page.holdLookups();
  userSettings.hidePhotos = true;
  page.remembered.Alice0 = { ok: true, mediaId: 'Alice0', label: 'photo', hide: true, scores: { illustration: 0.1, screenshot: 0.1, photo: 0.8 } };
  await page.settingsChanged();
  assert.equal(shown.dataset.illustOnlyState, 'visible', 'a cell already showing does not blink out while the verdict is asked again');
  const remounted = photoCell('alice', 1000, 'Alice0'); // X re-mounts the cell while the user scrolls
  await page.show(remounted);
  assert.equal(remounted.dataset.illustOnlyState, 'pending', 'held: its verdict dates from before the change');
  await release();
  assert.equal(remounted.dataset.illustOnlyState, 'hidden');
});

test('cells held for a refresh after a settings change fail open: a lookup that fails, never answers, or a judgement again that fails shows them', async (t) => {
  for (const how of ['lookup fails', 'lookup never answers', 'judged again and failed']) {
    const userSettings = { hidePhotos: false };
    const page = startPage('/alice/media', { userSettings, timeScale: 0.01 }); // the lookup's 5 s → 50 ms
    t.after(() => page.close());
    await wait(0);
    await page.show(photoCell('alice', 1000, 'Alice0'));
    await page.answerPhoto('Alice0', false);
    await page.navigate('/alice');
    userSettings.hidePhotos = true;
    await page.settingsChanged();
    const release = page.holdLookups();
    if (how === 'lookup fails') page.failLookups({ ok: false, code: 'internal', message: 'IndexedDB closed' });
    const cell = photoCell('alice', 1000, 'Alice0');
    await page.navigate('/alice/media', cell);
    assert.equal(cell.dataset.illustOnlyState, 'pending', how);
    if (how !== 'lookup never answers') await release(); // "judged again": the worker no longer remembers it
    if (how === 'judged again and failed') await page.fail('Alice0', 'timeout');
    await wait(100);
    assert.equal(cell.dataset.illustOnlyState, 'visible', `${how}: shown under its old verdict`);
    await release();
  }
});

test('a service worker that never answers the settings holds cells only for a while: the defaults apply, and the cells are judged or shown', async (t) => {
  const page = startPage('/alice/media', { settingsDelayMs: null, timeScale: 0.01 }); // 5 s → 50 ms
  t.after(() => page.close());
  const cell = photoCell('alice', 1000, 'Alice0');
  await page.show(cell);
  assert.equal(cell.dataset.illustOnlyState, 'pending');
  assert.equal(page.classifyRequests().length, 0, 'held for the settings');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0'], 'asked with the default settings');
  await page.answerPhoto('Alice0');
  assert.equal(cell.dataset.illustOnlyState, 'hidden');
});

test('settings that come after the 5 s wait still apply: switched off, the page stops holding and judging', async (t) => {
  // 5 s → 50 ms; the settings come 1 s after the start. Waited for, not slept: a cold start of the
  // script (this test run alone) takes a good part of 100 ms.
  const page = startPage('/alice/media', { settingsDelayMs: 1000, enabled: false, timeScale: 0.01 });
  t.after(() => page.close());
  const cell = photoCell('alice', 1000, 'Alice0');
  await page.show(cell);
  const active = () => 'data-illust-only-active' in page.root.attributes;
  const until = async (done, what) => {
    for (const start = Date.now(); !done(); await new Promise((resolve) => setTimeout(resolve, 5))) {
      assert.ok(Date.now() - start < 5000, what);
    }
  };
  await until(active, 'the defaults apply after the wait');
  await until(() => !active(), 'the user\'s settings come: switched off, nothing is held');
  await page.show(cell, photoCell('alice', 1001, 'Alice1'));
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0'], 'nothing more is judged');
});

test('a post judged ahead is asked for once on its page, whatever the answer, however often X touches its cell', async (t) => {
  const page = startPage('/alice');
  t.after(() => page.close());
  await wait(0); // the settings
  const cell = photoCell('alice', 1000, 'Alice0');
  await page.show(cell);
  await page.onScreen(cell);
  await page.fail('Alice0', 'offscreen_failed');
  for (let i = 0; i < 3; i += 1) {
    await page.changed(cell); // X's re-renders: watched again, reported on screen again
    await page.onScreen(cell);
  }
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0']);
  await page.navigate('/bob');
  await page.navigate('/alice', cell);
  await page.onScreen(cell);
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0', 'Alice0'], 'asked again on the next visit');
});

test('a profile\'s posts are watched until they come on screen, and again when X reuses their element', async (t) => {
  const page = startPage('/alice');
  t.after(() => page.close());
  await wait(0); // the settings
  const [onScreen, below, removed] = [0, 1, 2].map((i) => photoCell('alice', 1000 + i, `Alice${i}`, i * 900));
  await page.show(onScreen, below, removed);
  assert.deepEqual([...page.watched], [onScreen, below, removed]);
  await page.onScreen(onScreen);
  // The observer holds no cell it has reported on screen: a long scroll would otherwise keep every cell
  // X ever rendered.
  assert.deepEqual([...page.watched], [below, removed]);
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0']);
  await page.offScreen(below); // still on the page, just not on screen yet
  await page.remove(removed); // X removes a cell that never came on screen (no report for it)
  assert.deepEqual([...page.watched], [below], 'a cell X removed is watched no more');
  // X reuses the element that was on screen for another of Alice's posts: it is watched, and judged, again.
  onScreen.setAttribute('href', '/alice/status/1003/photo/1');
  onScreen.children[0].setAttribute('src', 'https://pbs.twimg.com/media/Alice3?format=webp&name=small');
  await page.changed(onScreen);
  assert.ok(page.watched.has(onScreen), 'the reused element is watched again');
  await page.onScreen(onScreen);
  assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0', 'Alice3']);
  assert.ok(!page.watched.has(onScreen));
  // X removes a watched cell after the user left the profile: watched no more either (the observer
  // would keep the removed subtree alive).
  assert.deepEqual([...page.watched], [below]);
  await page.navigate('/home');
  await page.remove(below);
  assert.deepEqual([...page.watched], [], 'removed after leaving the profile: watched no more');
});

test('on a media tab, cells of other accounts\' posts (the profile timeline X still shows) are left alone and shown', async (t) => {
  const page = startPage('/Alice'); // the URL keeps the case the user typed; user names are case-insensitive
  t.after(() => page.close());
  await wait(0); // the settings
  const alices = [photoCell('alice', 1000, 'Alice0'), photoCell('ALICE', 1001, 'Alice1', 120)];
  const retweet = photoCell('bob', 2000, 'Bob0', 60); // nearer the viewport than Alice1
  await page.show(alices[0], retweet, alices[1]);
  // The click on Media: the URL changes while X still shows the profile's timeline.
  await page.navigate('/Alice/media', alices[0], retweet, alices[1]);
  const asked = (mediaId) => page.sent.some((m) => m.mediaId === mediaId || m.mediaIds?.includes(mediaId));
  assert.ok(!asked('Bob0'), 'never looked up or judged');
  const lookups = page.sent.filter((m) => m.type === MSG.LOOKUP_VERDICTS);
  assert.deepEqual(lookups.map((m) => [m.account, [...m.mediaIds]]), [['alice', ['Alice0', 'Alice1']]]);
  assert.deepEqual(page.classifyRequests().map((m) => [m.mediaId, m.account]), [['Alice0', 'alice'], ['Alice1', 'alice']]);
  // content.css holds a cell with a pbs.twimg.com/media picture unless its state is visible, revealed or error.
  assert.equal(retweet.dataset.illustOnlyState, 'error');
  assert.equal(retweet.dataset.illustOnlyMedia, undefined);
  await page.answer('Alice0'); // the counts are written after a verdict
  assert.deepEqual(['judged', 'pending', 'errors'].map((key) => page.root.attributes[`data-illust-only-${key}`]), ['1', '1', '0'],
    'the page counts only Alice\'s');
  // X reuses the element for one of Alice's own media: it is judged as hers.
  retweet.setAttribute('href', '/alice/status/1002/photo/1');
  retweet.children[0].setAttribute('src', 'https://pbs.twimg.com/media/Alice2?format=webp&name=small');
  await page.show(alices[0], retweet, alices[1]);
  assert.equal(retweet.dataset.illustOnlyState, 'pending');
  const { mediaId, account, url } = page.classifyRequests().at(-1);
  assert.deepEqual([mediaId, account, url], ['Alice2', 'alice', 'https://pbs.twimg.com/media/Alice2?format=webp&name=small']);
  assert.ok(!asked('Bob0'));
});

test('a verdict that comes after the user switched off, or left the media tab, leaves X\'s player playing', async (t) => {
  // Switched off from the popup while the video's verdict is on its way.
  const userSettings = {};
  const page = startPage('/alice/media', { userSettings });
  t.after(() => page.close());
  await wait(0); // the settings
  const key = 'ext_tw_video_thumb/1000/pu/img/Vid0';
  const { cell, video } = playingVideoCell('alice', 1000, key);
  await page.show(cell);
  assert.ok(video.paused, 'held while its verdict is pending');
  userSettings.enabled = false;
  await page.settingsChanged();
  assert.ok(!video.paused, 'switched off: playing again');
  await page.answerPhoto(key);
  assert.ok(!video.paused, 'a late "hide" does not pause the player of a page the extension left alone');

  // A video opened from the grid (X shows it over the grid) while the verdict is on its way.
  const other = startPage('/alice/media');
  t.after(() => other.close());
  await wait(0);
  const opened = playingVideoCell('alice', 1001, 'ext_tw_video_thumb/1001/pu/img/Vid1');
  await other.show(opened.cell);
  await other.navigate('/alice/status/1001/video/1', opened.cell);
  assert.ok(!opened.video.paused, 'off the media tab: playing again');
  await other.answerPhoto('ext_tw_video_thumb/1001/pu/img/Vid1');
  assert.ok(!opened.video.paused, 'a late "hide" does not pause it off the media tab');
});

test('a hidden video\'s or GIF\'s placeholder names what it hides, to screen readers too, also when X reuses the cell for other media', async (t) => {
  const page = startPage('/alice/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const labelsOf = (cell) => {
    const placeholder = cell.querySelector(':scope > .illust-only-placeholder');
    return [placeholder.querySelector('.illust-only-verdict').textContent,
      ...['.illust-only-show', '.illust-only-always'].map((control) => placeholder.querySelector(control).getAttribute('aria-label'))];
  };
  const videoKey = 'ext_tw_video_thumb/1000/pu/img/Vid0';
  const { cell } = playingVideoCell('alice', 1000, videoKey);
  await page.show(cell);
  await page.answerPhoto(videoKey);
  assert.deepEqual(labelsOf(cell), ['hidden video: photo', 'Show this video this once',
    'This is an illustration: show it and videos like it on this account from now on']);

  // X reuses the element for a photo, then for a GIF: the placeholder, kept, says so each time.
  cell.children = [];
  cell.setAttribute('href', '/alice/status/1001/photo/1');
  cell.append(new FakeElement('img', { src: 'https://pbs.twimg.com/media/Photo1?format=webp&name=small' }));
  await page.changed(cell);
  await page.answerPhoto('Photo1');
  assert.deepEqual(labelsOf(cell), ['hidden: photo', 'Show this image this once',
    'This is an illustration: show it and images like it on this account from now on']);
  cell.children = [];
  cell.setAttribute('href', '/alice/status/1002/video/1');
  cell.append(new FakeElement('img', { src: 'https://pbs.twimg.com/tweet_video_thumb/Gif2.jpg?name=small' }));
  await page.changed(cell);
  await page.answerPhoto('tweet_video_thumb/Gif2');
  assert.deepEqual(labelsOf(cell), ['hidden GIF: photo', 'Show this GIF this once',
    'This is an illustration: show it and GIFs like it on this account from now on']);
});

test('"Judge videos and GIFs" off and on again: the videos and GIFs X\'s grid removed meanwhile count again, and "show all" reaches them, as photos', async (t) => {
  const userSettings = {};
  const page = startPage('/alice/media', { userSettings });
  t.after(() => page.close());
  await wait(0); // the settings
  const videoKey = 'ext_tw_video_thumb/1000/pu/img/Vid0';
  const gifKey = 'tweet_video_thumb/Gif1';
  const video = playingVideoCell('alice', 1000, videoKey).cell;
  const gif = playingVideoCell('alice', 1001, gifKey).cell;
  const photo = photoCell('alice', 1002, 'Photo2', 120);
  await page.show(video, gif, photo);
  await page.answerPhoto(videoKey);
  await page.answerPhoto('Photo2');
  const counts = () => ['judged', 'hidden', 'pending'].map((key) => page.root.attributes[`data-illust-only-${key}`]);
  assert.deepEqual(counts(), ['2', '2', '1'], 'the GIF still waits for its verdict');
  // The user scrolls on: X's virtualised grid removes the video's and the GIF's cells (their media stay counted).
  await page.show(photo);
  assert.deepEqual(counts(), ['2', '2', '1']);
  userSettings.judgeVideos = false;
  await page.settingsChanged();
  assert.deepEqual(counts(), ['1', '1', '0'], 'videos and GIFs leave the counts');
  userSettings.judgeVideos = true;
  page.remembered[videoKey] = { ok: true, label: 'photo', hide: true, scores: { illustration: 0.1, screenshot: 0.1, photo: 0.8 } };
  page.remembered.Photo2 = page.remembered[videoKey];
  await page.settingsChanged();
  await wait(5);
  assert.deepEqual(counts(), ['2', '2', '1'], 'on again: counted as before, the GIF judged again');
  assert.ok(page.classifyRequests().some((m) => m.mediaId === gifKey && m.url === `https://pbs.twimg.com/${gifKey}.jpg?name=small`),
    'the GIF asked for again, from the URL the page showed');
  await page.revealAll();
  // The user scrolls back: the video X draws again was shown by "show all".
  const videoAgain = playingVideoCell('alice', 1000, videoKey).cell;
  await page.show(videoAgain, photo);
  assert.deepEqual([videoAgain.dataset.illustOnlyState, photo.dataset.illustOnlyState], ['revealed', 'revealed']);
});

test('a long session through many accounts\' grids keeps the verdicts of the most recent pages, not of every media since the tab opened', async (t) => {
  const photo = (mediaId) => ({ ok: true, mediaId, label: 'photo', hide: true, scores: { illustration: 0.1, screenshot: 0.1, photo: 0.8 } });
  const remembered = {};
  const grid = (user, count) => Array.from({ length: count }, (_, i) => {
    const mediaId = `${user}${i}`;
    remembered[mediaId] = photo(mediaId); // remembered by the worker: looked up, never judged
    return photoCell(user, 1000 + i, mediaId, (i % 30) * 120);
  });
  const page = startPage('/alice/media', { remembered });
  t.after(() => page.close());
  await wait(0); // the settings
  const alices = grid('alice', 10);
  await page.show(...alices);
  // Bob's long grid, scrolled through as X's virtualised list draws it (a few hundred cells at a time),
  // then Carol's media tab: Alice's verdicts are the oldest now.
  await page.navigate('/bob/media');
  const bobs = grid('bob', 5100);
  for (let start = 0; start < bobs.length; start += 300) await page.show(...bobs.slice(start, start + 300));
  await page.navigate('/carol/media', ...grid('carol', 10));
  const before = page.sent.length;
  const lookedUpSince = (start) => new Set(page.sent.slice(start).filter((m) => m.type === MSG.LOOKUP_VERDICTS).flatMap((m) => m.mediaIds));
  // Back to Bob's grid, where the user was: his most recent media are still known, no lookup.
  const bobsAgain = bobs.slice(-10).map((cell) => photoCell('bob', 1, cell.dataset.illustOnlyMedia));
  await page.navigate('/bob/media', ...bobsAgain);
  assert.ok(bobsAgain.every((cell) => cell.dataset.illustOnlyState === 'hidden'), 'the way back shows known verdicts at once');
  assert.equal(page.sent.length, before, 'nothing asked for the page just left');
  // Alice's, seen 5,100 media ago, were let go: looked up again (the worker remembers them), not judged.
  const alicesAgain = alices.map((cell) => photoCell('alice', 1, cell.dataset.illustOnlyMedia));
  const back = page.sent.length;
  await page.navigate('/alice/media', ...alicesAgain);
  await wait(0);
  assert.ok(alicesAgain.every((cell) => lookedUpSince(back).has(cell.dataset.illustOnlyMedia)), 'asked for again rather than kept for the whole session');
  assert.ok(alicesAgain.every((cell) => cell.dataset.illustOnlyState === 'hidden'));
  assert.equal(page.classifyRequests().length, 0, 'nothing judged again');
});

test('switched off on a media tab, a photo opened from the grid and closed, switched on: the grid X kept counts again and takes the settings changed meanwhile', async (t) => {
  const userSettings = {};
  const page = startPage('/alice/media', { userSettings });
  t.after(() => page.close());
  await wait(0); // the settings
  const cells = [photoCell('alice', 1000, 'Alice0'), photoCell('alice', 1001, 'Alice1', 120)];
  await page.show(...cells);
  await page.answerPhoto('Alice0');
  await page.answer('Alice1');
  userSettings.enabled = false;
  await page.settingsChanged();
  // Off, the user opens a photo and closes it (X keeps the grid's elements under it), and unticks "Hide photos".
  await page.navigate('/alice/status/1000/photo/1', ...cells);
  await page.navigate('/alice/media', ...cells);
  userSettings.hidePhotos = false;
  page.remembered.Alice0 = photoNowShown;
  page.remembered.Alice1 = { ok: true, label: 'illustration', hide: false, scores: { illustration: 0.9, screenshot: 0.05, photo: 0.05 } };
  await page.settingsChanged();
  userSettings.enabled = true;
  await page.settingsChanged();
  await wait(5);
  assert.deepEqual(cells.map((c) => c.dataset.illustOnlyState), ['visible', 'visible'], 'the photo follows "Hide photos" unticked');
  assert.equal(page.root.attributes['data-illust-only-judged'], '2', 'the page counts its cells');
  assert.equal(page.classifyRequests().length, 2, 'nothing judged again');
});

test('a correction\'s answer that comes after the user undid it in the popup does not bring it back', async (t) => {
  // The worker answers a correction with the verdict it decides just after storing it, which can take
  // seconds (a large layer refitted; after "Forget remembered verdicts" the image fetched and judged
  // again); an Undo in the popup meanwhile is announced and the page re-decides before that answer comes.
  const page = startPage('/alice/media', { holdCorrections: true });
  t.after(() => page.close());
  await wait(0); // the settings
  const cell = photoCell('alice', 1000, 'Alice0');
  await page.show(cell);
  await page.answer('Alice0'); // an illustration, shown
  cell.querySelector('.illust-only-correct').querySelector('.illust-only-hide-photo').click();
  await wait(0);
  assert.deepEqual([cell.dataset.illustOnlyState, cell.dataset.illustOnlyLabel], ['hidden', 'photo'], 'applied at once');
  // The correction's announce, then the Undo's: the worker decides as the model did again.
  page.remembered.Alice0 = { ok: true, mediaId: 'Alice0', label: 'illustration', hide: false, scores: { illustration: 0.9, screenshot: 0.05, photo: 0.05 } };
  await page.settingsChanged();
  await page.settingsChanged();
  assert.deepEqual([cell.dataset.illustOnlyState, cell.dataset.illustOnlyLabel], ['visible', 'illustration'], 'undone');
  await page.answerCorrection('Alice0', { ok: true, mediaId: 'Alice0', label: 'photo', hide: true, scores: { illustration: 0, screenshot: 0, photo: 1 } });
  await wait(5);
  assert.deepEqual([cell.dataset.illustOnlyState, cell.dataset.illustOnlyLabel], ['visible', 'illustration'], 'the undone correction stays undone');
});

test('a correction on a cell of the grid just left, which X still shows, is stored under that cell\'s account, on another account\'s media tab or off media tabs', async (t) => {
  const page = startPage('/bob/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const bobs = [photoCell('bob', 2000, 'Bob0'), photoCell('bob', 2001, 'Bob1', 120)];
  await page.show(...bobs);
  await page.answer('Bob0');
  await page.answerPhoto('Bob1');
  // Back to Alice's media tab, Bob's grid still drawn: the user corrects two of his cells there.
  await page.goBack('/alice/media');
  await page.show(...bobs);
  bobs[0].querySelector('.illust-only-correct').querySelector('.illust-only-hide-screenshot').click();
  bobs[1].querySelector('.illust-only-placeholder').querySelector('.illust-only-always').click();
  await wait(0);
  const corrections = () => page.sent.filter((m) => m.type === MSG.CORRECT_MEDIA).map((m) => [m.mediaId, m.label, m.account]);
  assert.deepEqual(corrections(), [['Bob0', 'screenshot', 'bob'], ['Bob1', 'illustration', 'bob']]);
  assert.deepEqual(bobs.map((c) => c.dataset.illustOnlyState), ['hidden', 'visible'], 'applied at once');
  // Back to his grid, then home, his grid still drawn: its placeholder's "illustration" works there too.
  await page.navigate('/bob/media', ...bobs);
  await page.navigate('/home', ...bobs);
  assert.ok('illustOnlyLeftBehind' in bobs[0].dataset);
  bobs[0].querySelector('.illust-only-placeholder').querySelector('.illust-only-always').click();
  await wait(0);
  assert.deepEqual(corrections().slice(2), [['Bob0', 'illustration', 'bob']]);
  assert.equal(bobs[0].dataset.illustOnlyState, 'visible');
});

test('a correction or a setting changed while X still shows the grid just left: its cells keep their verdicts, and "show" or a correction on one still works', async (t) => {
  const page = startPage('/bob/media');
  t.after(() => page.close());
  await wait(0); // the settings
  const bobs = [photoCell('bob', 2000, 'Bob0'), photoCell('bob', 2001, 'Bob1', 120), photoCell('bob', 2002, 'Bob2', 240)];
  await page.show(...bobs);
  for (const cell of bobs) await page.answerPhoto(cell.dataset.illustOnlyMedia);
  await page.goBack('/alice/media');
  await page.show(...bobs);
  // The user says one is an illustration; the worker stores it and announces the change (storage).
  bobs[2].querySelector('.illust-only-placeholder').querySelector('.illust-only-always').click();
  await page.settingsChanged();
  bobs[0].querySelector('.illust-only-placeholder').querySelector('.illust-only-show').click();
  bobs[1].querySelector('.illust-only-placeholder').querySelector('.illust-only-always').click();
  await wait(0);
  assert.deepEqual(bobs.map((c) => c.dataset.illustOnlyState), ['revealed', 'visible', 'visible'], '"show" shows, not a blank cell');
  assert.deepEqual(page.sent.filter((m) => m.type === MSG.CORRECT_MEDIA).map((m) => m.mediaId), ['Bob2', 'Bob1'], 'both corrections learned');
});

test('media whose remembered-verdicts lookup answers after the user left the media tab for home, or another account\'s profile, stay queued for the way back: their cells of the grid X still shows stay held', async (t) => {
  for (const to of ['/home', '/bob']) {
    const page = startPage('/alice/media');
    t.after(() => page.close());
    await wait(0); // the settings
    const release = page.holdLookups();
    const cells = [photoCell('alice', 1000, 'Alice0'), photoCell('alice', 1001, 'Alice1', 120)];
    await page.show(...cells);
    await page.navigate(to, ...cells); // a change on the page before X draws it
    await release(); // not remembered: to be judged
    assert.deepEqual(cells.map((c) => heldByCss(page, c)), [true, true], `${to}: no unjudged cell of the grid shows`);
    await page.navigate('/alice/media', ...cells);
    assert.deepEqual(page.classifyRequests().map((m) => m.mediaId), ['Alice0', 'Alice1'], `${to}: judged on the way back`);
    assert.equal(page.sent.filter((m) => m.type === MSG.LOOKUP_VERDICTS).length, 1, `${to}: not looked up again`);
  }
});
