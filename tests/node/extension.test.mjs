// Unit tests for the extension's pure parts (no browser): media-cell parsing on real-looking X URLs
// (photo media ids, video and GIF poster keys; the markup side is in media-cells-dom.test.mjs),
// the verdict LRU, settings sanitising over a storage double, the popup's provider line, the build
// step's classic-script bundler and PNG icons, and the store zip (checked by Python's zipfile, an
// independent reader). The browser behaviour is in tests/e2e/extension.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, writeFileSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

import {
  accountOfPath, isMediaTabPath, isMediaViewerPath, isProfilePath, mediaIdFromUrl, mediaIdsFromCssBackground, jpegUrlForMedia, isJpegUrlOf, posterKeyFromUrl, mediaKeyFromUrl,
  mediaKeysFromCssBackground, isMediaKey, isPosterKey, mediaKindOfKey, HELD_PICTURE_SELECTOR,
  authorOfCell, profileUserOfPath, thumbnailUrlOfCell, mediaKeyOfCell,
} from '../../web/extension/media-cells.js';
import { LruCache } from '../../web/extension/lru-cache.js';
import { DEFAULTS, sanitizeSettings, readSettings, writeSettings } from '../../web/extension/settings.js';
import { MSG } from '../../web/extension/messages.js';
import { i18nFor } from './extension-messages.mjs';
import { classifierLabel, startFailureText, webgpuFallbackReason, webgpuReasonText } from '../../web/extension/classifier-label.js';
import { bundleClassicScript, rewriteLibImports, drawIcon, OPTIMIZED_MODEL_FILE, writeOptimizedModel } from '../../tools/build/extension.mjs';
import { createClassifier } from '../../web/lib/classifier.js';
import { loadNodeCore } from '../../tools/lib/node-classifier.mjs';
import { encodePngRgb } from '../../tools/lib/thumbnail.mjs';
import { makeZip } from '../../tools/pack-extension.mjs';

globalThis.chrome = { i18n: i18nFor('en') }; // the words the modules say (their only use of chrome here)

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

test('media tab paths: /USER/media only', () => {
  for (const p of ['/someartist/media', '/some_artist/media/', '/A/media', '/abcdefghijklmno/media']) assert.ok(isMediaTabPath(p), p);
  for (const p of ['/someartist', '/someartist/likes', '/home', '/someartist/media/x', '/abcdefghijklmnop/media', '/a-b/media', '', null]) {
    assert.equal(isMediaTabPath(p), false, String(p));
  }
});

test('a photo or video opened over the page (the grid left X\'s under it): /USER/status/ID/photo|video/N only', () => {
  for (const p of ['/someartist/status/123/photo/1', '/someartist/status/123/video/1', '/A/status/1/photo/4/']) assert.ok(isMediaViewerPath(p), p);
  for (const p of ['/someartist/status/123', '/someartist/media', '/home', '/someartist/status/123/photo/1/x', '/someartist/status/x/photo/1', '', null]) {
    assert.equal(isMediaViewerPath(p), false, String(p));
  }
});

test('the account of a media tab (corrections are scoped by it): lower-cased user, null elsewhere', () => {
  assert.equal(accountOfPath('/SomeArtist/media'), 'someartist');
  assert.equal(accountOfPath('/someartist/media/'), 'someartist');
  for (const p of ['/someartist', '/someartist/likes', '/home', '/', '/a/b/media', null]) assert.equal(accountOfPath(p), null, String(p));
});

test('profile paths (the model loads there): a user and its tabs, not X\'s own pages', () => {
  for (const p of ['/someartist', '/someartist/', '/some_artist/media', '/A/likes', '/abcdefghijklmno/with_replies', '/Artist/highlights']) {
    assert.ok(isProfilePath(p), p);
  }
  for (const p of ['/', '/home', '/explore', '/i/bookmarks', '/notifications', '/messages/123', '/Settings', '/search',
    '/someartist/status/123', '/someartist/followers', '/abcdefghijklmnop', '/a-b', '', null]) {
    assert.equal(isProfilePath(p), false, String(p));
  }
});

test('media ids from the URL forms X uses, nothing from other pbs paths', () => {
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/media/GZx3_aBc-9Q?format=jpg&name=small'), 'GZx3_aBc-9Q');
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/media/GZx3aBc9Q.jpg?name=orig'), 'GZx3aBc9Q');
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/media/GZx3aBc9Q.png:large'), 'GZx3aBc9Q');
  assert.equal(mediaIdFromUrl('//pbs.twimg.com/media/GZx3aBc9Q'), 'GZx3aBc9Q');
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/ext_tw_video_thumb/1/pu/img/x.jpg'), null);
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/profile_images/1/x.jpg'), null);
  assert.equal(mediaIdFromUrl('https://evil.example/pbs.twimg.com/media/X'), null);
  assert.equal(mediaIdFromUrl('https://pbs.twimg.com/media/' + 'a'.repeat(65)), null);
  assert.equal(mediaIdFromUrl(undefined), null);
  assert.deepEqual(mediaIdsFromCssBackground('url("https://pbs.twimg.com/media/AbC?format=webp&name=small")'), ['AbC']);
  assert.deepEqual(mediaIdsFromCssBackground("url(https://x/y.png), url('https://pbs.twimg.com/media/Q1.jpg')"), ['Q1']);
  assert.deepEqual(mediaIdsFromCssBackground('none'), []);
  assert.equal(jpegUrlForMedia('GZx3aBc9Q'), 'https://pbs.twimg.com/media/GZx3aBc9Q?format=jpg&name=small');
});

test('isJpegUrlOf: the media\'s JPEG under any size name, not another format or media', () => {
  const poster = 'ext_tw_video_thumb/1234567890123456789/pu/img/AbC-d_12';
  for (const url of [jpegUrlForMedia('GZx3aBc9Q'), 'https://pbs.twimg.com/media/GZx3aBc9Q?format=jpg&name=360x360',
    'https://pbs.twimg.com/media/GZx3aBc9Q.jpg:small']) assert.equal(isJpegUrlOf(url, 'GZx3aBc9Q'), true, url);
  for (const url of [jpegUrlForMedia(poster), `https://pbs.twimg.com/${poster}.jpg?name=small`, `https://pbs.twimg.com/${poster}.jpg`]) {
    assert.equal(isJpegUrlOf(url, poster), true, url);
  }
  for (const [url, key] of [['https://pbs.twimg.com/media/GZx3aBc9Q?format=webp&name=small', 'GZx3aBc9Q'],
    ['https://pbs.twimg.com/media/GZx3aBc9Q?format=png', 'GZx3aBc9Q'], ['https://pbs.twimg.com/media/GZx3aBc9Q', 'GZx3aBc9Q'],
    [`https://pbs.twimg.com/${poster}.jpg?format=webp`, poster], [jpegUrlForMedia('Other1'), 'GZx3aBc9Q'],
    ['https://example.com/media/GZx3aBc9Q?format=jpg', 'GZx3aBc9Q'], [null, 'GZx3aBc9Q'], [jpegUrlForMedia('GZx3aBc9Q'), '../x']]) {
    assert.equal(isJpegUrlOf(url, key), false, String(url));
  }
});

test('video and GIF poster keys: the thumbnail path, from the URL forms X uses', () => {
  const forms = {
    'https://pbs.twimg.com/ext_tw_video_thumb/1234567890123456789/pu/img/AbC-d_12.jpg?name=small': 'ext_tw_video_thumb/1234567890123456789/pu/img/AbC-d_12',
    'https://pbs.twimg.com/ext_tw_video_thumb/1234567890123456789/pu/img/AbC-d_12?format=jpg&name=small': 'ext_tw_video_thumb/1234567890123456789/pu/img/AbC-d_12',
    'https://pbs.twimg.com/ext_tw_video_thumb/1234567890/pr/img/Qw3.jpg': 'ext_tw_video_thumb/1234567890/pr/img/Qw3',
    'https://pbs.twimg.com/ext_tw_video_thumb/1234567890/img/Qw3.jpg:small': 'ext_tw_video_thumb/1234567890/img/Qw3',
    'https://pbs.twimg.com/amplify_video_thumb/1790000000000000000/img/x_Y-z.jpg?format=jpg&name=360x360': 'amplify_video_thumb/1790000000000000000/img/x_Y-z',
    'https://pbs.twimg.com/tweet_video_thumb/GZx9AbCdEfGhIjK.jpg': 'tweet_video_thumb/GZx9AbCdEfGhIjK',
    '//pbs.twimg.com/tweet_video_thumb/GZx9AbCdEfGhIjK?format=webp&name=small': 'tweet_video_thumb/GZx9AbCdEfGhIjK',
    ' https://pbs.twimg.com/tweet_video_thumb/Gif_1.png#x ': 'tweet_video_thumb/Gif_1',
  };
  for (const [url, key] of Object.entries(forms)) {
    assert.equal(posterKeyFromUrl(url), key, url);
    assert.equal(mediaKeyFromUrl(url), key, url);
    assert.equal(mediaIdFromUrl(url), null, `${url} is no photo`);
  }
  assert.equal(mediaKeyFromUrl('https://pbs.twimg.com/media/GZx3_aBc-9Q?format=jpg'), 'GZx3_aBc-9Q');
  assert.deepEqual(mediaKeysFromCssBackground('url("https://pbs.twimg.com/ext_tw_video_thumb/1/pu/img/a.jpg"), url(https://pbs.twimg.com/media/Q1)'),
    ['ext_tw_video_thumb/1/pu/img/a', 'Q1']);
  assert.deepEqual(mediaIdsFromCssBackground('url("https://pbs.twimg.com/tweet_video_thumb/Gif1.jpg")'), [], 'photo ids only');
});

test('odd or hostile poster URLs give no key (as odd media ids do)', () => {
  for (const url of [
    'https://pbs.twimg.com/ext_tw_video_thumb/123/pu/img/../../media/X.jpg',
    'https://pbs.twimg.com/ext_tw_video_thumb/123/pu/img/a%2F..%2Fb.jpg',
    'https://pbs.twimg.com/ext_tw_video_thumb/123/pu/img/a/b.jpg', // deeper than a poster
    'https://pbs.twimg.com/ext_tw_video_thumb/abc/pu/img/a.jpg', // the id is numeric
    'https://pbs.twimg.com/ext_tw_video_thumb/123/xx/img/a.jpg',
    'https://pbs.twimg.com/ext_tw_video_thumb/1234567890123456789012345678/pu/img/a.jpg', // id too long
    `https://pbs.twimg.com/tweet_video_thumb/${'a'.repeat(65)}.jpg`,
    'https://pbs.twimg.com/tweet_video_thumb/a.jpg.exe',
    'https://pbs.twimg.com/tweet_video_thumb/a b.jpg',
    'https://pbs.twimg.com/tweet_video/abc.mp4', // the GIF's video, not its poster
    'https://video.twimg.com/ext_tw_video/123/pu/vid/avc1/720x1280/a.mp4',
    'https://evil.example/pbs.twimg.com/tweet_video_thumb/a.jpg',
    'https://pbs.twimg.com.evil.example/tweet_video_thumb/a.jpg',
    'https://pbs.twimg.com/profile_images/1/a.jpg',
    'https://pbs.twimg.com/card_img/1/a?format=jpg',
    'javascript:alert(1)//pbs.twimg.com/tweet_video_thumb/a.jpg',
    '', null, 42,
  ]) {
    assert.equal(mediaKeyFromUrl(url), null, String(url));
  }
});

test('media keys: what the service worker accepts, what a key shows, the URL it fetches', () => {
  const video = 'ext_tw_video_thumb/1234567890/pu/img/AbC-d_12';
  for (const key of ['GZx3_aBc-9Q', video, 'amplify_video_thumb/1/img/x', 'tweet_video_thumb/Gif1']) assert.ok(isMediaKey(key), key);
  for (const key of ['', 'a'.repeat(65), 'media/GZx3', '../x', 'tweet_video_thumb/', 'tweet_video_thumb/a/b', `${video}/x`, 'x y', null, {}]) {
    assert.equal(isMediaKey(key), false, String(key));
    assert.equal(mediaKindOfKey(key), null, String(key));
    assert.equal(jpegUrlForMedia(key), null, String(key));
  }
  assert.equal(isPosterKey('GZx3_aBc-9Q'), false);
  assert.equal(isPosterKey(video), true);
  assert.equal(mediaKindOfKey('GZx3_aBc-9Q'), 'photo');
  assert.equal(mediaKindOfKey(video), 'video');
  assert.equal(mediaKindOfKey('amplify_video_thumb/1/img/x'), 'video');
  assert.equal(mediaKindOfKey('tweet_video_thumb/Gif1'), 'gif');
  assert.equal(jpegUrlForMedia(video), `https://pbs.twimg.com/${video}?format=jpg&name=small`);
  assert.equal(jpegUrlForMedia('tweet_video_thumb/Gif1'), 'https://pbs.twimg.com/tweet_video_thumb/Gif1?format=jpg&name=small');
  // Round trip: the fetched URL names the same key.
  assert.equal(posterKeyFromUrl(jpegUrlForMedia(video)), video);
});

test('content.css holds every picture the content script fails open on', () => {
  // The content script shows a cell whose held picture gives no key; a picture held by the CSS but
  // missing from that list would stay hidden forever.
  const css = readFileSync(path.join(root, 'web', 'extension', 'content.css'), 'utf8');
  for (const part of HELD_PICTURE_SELECTOR.split(', ')) {
    if (part.startsWith('video[poster*="pbs.twimg.com/media/')) continue; // photos are never held by a <video>
    assert.ok(css.includes(part), `content.css holds ${part}`);
  }
  for (const [, part] of css.matchAll(/((?:img|video)?\[(?:src|poster|style)\*="pbs\.twimg\.com\/[^"]+"\])/g)) {
    assert.ok(HELD_PICTURE_SELECTOR.includes(part), `HELD_PICTURE_SELECTOR lists ${part}`);
  }
});

/** A stand-in for a media cell element: its href, <img> srcs, <video> posters and background styles (in that order). */
function fakeCell({ href = '/someartist/status/1/photo/1', srcs = [], posters = [], styles = [] } = {}) {
  const pictures = [
    ...srcs.map((src) => ({ localName: 'img', getAttribute: (name) => (name === 'src' ? src : null) })),
    ...posters.map((poster) => ({ localName: 'video', getAttribute: (name) => (name === 'poster' ? poster : null) })),
    ...styles.map((style) => ({ localName: 'div', style: { backgroundImage: style }, getAttribute: (name) => (name === 'style' ? style : null) })),
  ];
  return {
    getAttribute: (name) => (name === 'href' ? href : null),
    querySelectorAll: () => pictures,
  };
}

test('profile user, post author and the thumbnail URL a cell shows (judged ahead, read from the page\'s cache)', () => {
  assert.equal(profileUserOfPath('/SomeArtist'), 'someartist');
  assert.equal(profileUserOfPath('/someartist/likes'), 'someartist');
  assert.equal(profileUserOfPath('/home'), null);
  assert.equal(authorOfCell(fakeCell({ href: '/Other_1/status/123/photo/2' })), 'other_1', 'a retweet links to its author');
  assert.equal(authorOfCell(fakeCell({ href: 'https://x.com/a/status/1/photo/1' })), null);
  const webp = 'https://pbs.twimg.com/media/AbC_d-1?format=webp&name=small';
  assert.equal(thumbnailUrlOfCell(fakeCell({ srcs: ['https://abs.twimg.com/emoji.svg', webp] })), webp);
  assert.equal(thumbnailUrlOfCell(fakeCell({ styles: [`url("${webp}")`] })), webp, 'from the background image');
  assert.equal(thumbnailUrlOfCell(fakeCell({ srcs: ['//pbs.twimg.com/media/AbC?format=jpg&name=small'] })), 'https://pbs.twimg.com/media/AbC?format=jpg&name=small');
  assert.equal(thumbnailUrlOfCell(fakeCell({ srcs: ['http://pbs.twimg.com/media/AbC?format=jpg'] })), null, 'never plain http');
  assert.equal(thumbnailUrlOfCell(fakeCell({ srcs: ['https://pbs.twimg.com/profile_images/1/a.jpg'] })), null);
});

test('video and GIF cells: their author, and the poster the page shows as the thumbnail URL (it names the cell\'s key)', () => {
  const href = '/SomeArtist/status/123/video/1';
  assert.equal(authorOfCell(fakeCell({ href })), 'someartist');
  assert.equal(authorOfCell(fakeCell({ href: '/Other_1/status/123/video/1' })), 'other_1');
  const poster = 'https://pbs.twimg.com/ext_tw_video_thumb/1234567890/pu/img/AbC-d_12?format=webp&name=small';
  const key = 'ext_tw_video_thumb/1234567890/pu/img/AbC-d_12';
  assert.equal(thumbnailUrlOfCell(fakeCell({ href, srcs: [poster] })), poster, 'the poster <img>');
  assert.equal(mediaKeyOfCell(fakeCell({ href, srcs: [poster] })), key);
  assert.equal(thumbnailUrlOfCell(fakeCell({ href, posters: [poster] })), poster, "an autoplaying player's poster");
  assert.equal(mediaKeyOfCell(fakeCell({ href, posters: [poster] })), key);
  const gif = '//pbs.twimg.com/tweet_video_thumb/GZx9AbCdEfGhIjK?format=jpg&name=small';
  assert.equal(thumbnailUrlOfCell(fakeCell({ href, styles: [`url("${gif}")`] })), `https:${gif}`, 'a GIF poster as background');
  for (const odd of ['https://pbs.twimg.com/ext_tw_video_thumb/123/pu/img/../../media/X.jpg', 'http://pbs.twimg.com/tweet_video_thumb/Gif1.jpg',
    'https://video.twimg.com/ext_tw_video/123/pu/vid/a.mp4']) {
    assert.equal(thumbnailUrlOfCell(fakeCell({ href, srcs: [odd] })), null, odd);
  }
  assert.equal(thumbnailUrlOfCell(fakeCell({ href: '/a/status/1/likes', srcs: [poster] })), null, 'not a media cell');
  // Whatever the URL, the one a cell gives always names the key the cell is judged by.
  for (const cell of [fakeCell({ href, srcs: [poster] }), fakeCell({ href, posters: [gif] }), fakeCell({ srcs: ['https://pbs.twimg.com/media/Q1?format=webp'] })]) {
    const url = thumbnailUrlOfCell(cell);
    if (url) assert.equal(mediaKeyFromUrl(url), mediaKeyOfCell(cell));
  }
});

test('LRU keeps the most recently used, bounded', () => {
  const lru = new LruCache(3);
  lru.set('a', 1).set('b', 2).set('c', 3);
  assert.equal(lru.get('a'), 1); // a is now the newest
  lru.set('d', 4); // evicts b
  assert.equal(lru.has('b'), false);
  assert.deepEqual(lru.entries().map(([k]) => k), ['c', 'a', 'd']);
  assert.equal(lru.size, 3);
  assert.throws(() => new LruCache(0), RangeError);
});

test('settings: DEFAULTS merged over stored values; bad values fall back', async () => {
  assert.equal(DEFAULTS.enabled, true);
  assert.deepEqual(sanitizeSettings(null), { ...DEFAULTS });
  const s = sanitizeSettings({ enabled: 'yes', hidePhotos: false, strictness: 7, bogus: 1 });
  assert.equal(s.enabled, true);
  assert.equal(s.hidePhotos, false);
  assert.equal(s.strictness, 1);
  assert.equal('bogus' in s, false);
  assert.equal(sanitizeSettings({ strictness: NaN }).strictness, DEFAULTS.strictness);

  // chrome.storage.local semantics: get(object) fills absent keys from the object.
  const stored = { hideScreenshots: false };
  const storage = {
    async get(defaults) { return { ...defaults, ...stored }; },
    async set(patch) { Object.assign(stored, patch); },
  };
  assert.equal((await readSettings(storage)).hideScreenshots, false);
  const merged = await writeSettings({ strictness: -3, nonsense: true }, storage);
  assert.equal(merged.strictness, 0);
  assert.deepEqual(stored, { hideScreenshots: false, strictness: 0 });
});

test('settings: "Use GPU" and "Judge videos and GIFs" are on by default; the verdict timeout stays within bounds', () => {
  assert.equal(DEFAULTS.useGpu, true);
  assert.equal(DEFAULTS.judgeVideos, true);
  assert.equal(sanitizeSettings({ judgeVideos: false }).judgeVideos, false);
  assert.equal(sanitizeSettings({ judgeVideos: 0 }).judgeVideos, true);
  assert.equal(sanitizeSettings({ useGpu: false }).useGpu, false);
  assert.equal(sanitizeSettings({ useGpu: 'no' }).useGpu, true);
  assert.equal(DEFAULTS.verdictTimeoutMs, 20000);
  assert.equal(sanitizeSettings({ verdictTimeoutMs: 3000 }).verdictTimeoutMs, 3000);
  assert.equal(sanitizeSettings({ verdictTimeoutMs: 0 }).verdictTimeoutMs, 1000); // never fail open on everything
  assert.equal(sanitizeSettings({ verdictTimeoutMs: 1e12 }).verdictTimeoutMs, 120000); // never hide forever
  assert.equal(sanitizeSettings({ verdictTimeoutMs: Infinity }).verdictTimeoutMs, 20000);
});

test('provider line: what really ran, and why not WebGPU', () => {
  // The log lines web/lib/classifier.js writes when it falls back.
  assert.equal(webgpuFallbackReason(['webgpu: no adapter; using wasm']), 'no adapter');
  assert.equal(webgpuFallbackReason(['webgpu: no adapter (forced webgpu unavailable); using wasm']), 'no adapter (forced webgpu unavailable)');
  assert.equal(webgpuFallbackReason(['other', 'webgpu: WebGPU warm-up timed out after 10000 ms; using wasm']), 'warm-up timed out after 10000 ms');
  assert.equal(webgpuFallbackReason([]), null);
  assert.equal(webgpuFallbackReason(undefined), null);

  assert.equal(classifierLabel({ provider: 'wasm', threads: 2, modelVersion: 'v1', webgpuFallback: 'no adapter' }),
    'WASM · 2 threads (WebGPU: no adapter) · model v1');
  assert.equal(classifierLabel({ provider: 'wasm', threads: 1, modelVersion: 'v1', webgpuFallback: null }), 'WASM · 1 thread · model v1');
  assert.equal(classifierLabel({ provider: 'wasm', threads: 1, workers: 2, modelVersion: 'v1', webgpuFallback: 'no adapter' }),
    'WASM · 2 workers × 1 thread (WebGPU: no adapter) · model v1');
  assert.equal(classifierLabel({ provider: 'wasm', threads: 3, workers: 1, modelVersion: 'v1' }), 'WASM · 1 worker × 3 threads · model v1');
  assert.equal(classifierLabel({ ok: true, loaded: false }), 'not loaded (nothing on the open pages needs judging)');
  assert.equal(classifierLabel({ ok: true, loaded: false, loading: true }), 'starting (loading the model)…');
  assert.equal(classifierLabel({ provider: 'webgpu', threads: 0, modelVersion: 'v1' }), 'WebGPU · model v1');
  assert.equal(classifierLabel({ ok: false, message: 'model: wrong model file' }), 'unavailable (model: wrong model file)');
  assert.equal(classifierLabel(null), 'not started (no media tab judged yet)');
});

test('provider line in Japanese: why not WebGPU and why the classifier cannot start, in Japanese; in English word for word as classifier.js, offscreen.js and the service worker write them', () => {
  // Every reason those files write (classifier.js, findWebgpuAdapter; offscreen.js; service-worker.js's
  // providerChoice), and the Japanese for each.
  const reasons = {
    'not in this browser': 'このブラウザーにはありません',
    'no adapter': 'GPU アダプターがありません',
    'software adapter only': 'ソフトウェアのアダプターしかありません',
    'off in settings': '設定でオフ',
    'not requested': '指定されていません',
    'stopped working': '動作しなくなりました',
    'stopped working (The Device was lost.)': '動作しなくなりました（The Device was lost.）',
    'cannot start a WebGPU session (no available backend found)': 'WebGPU のセッションを開始できません（no available backend found）',
    'bundle load timed out after 10000 ms': 'WebGPU 版の読み込みが 10000 ms 以内に終わりませんでした',
    'session start timed out after 15000 ms': 'セッションの開始が 15000 ms 以内に終わりませんでした',
    'warm-up timed out after 10000 ms': 'ウォームアップが 10000 ms 以内に終わりませんでした',
    'warm-up timed out after 10000 ms, earlier in this browser session': 'ウォームアップが 10000 ms 以内に終わりませんでした（このブラウザーの起動中に発生済み）',
    'Failed to execute \'mapAsync\' on \'GPUBuffer\'': 'Failed to execute \'mapAsync\' on \'GPUBuffer\'', // the GPU's own words
  };
  // A start failure's reason and details as offscreen.js and classifier-host-in-page.js give them.
  const url = 'chrome-extension://x/model/illust-only.onnx';
  const failures = [
    [{ reason: 'file_fetch_failed', details: { what: 'model', file: url, cause: 'Failed to fetch' }, message: `model: cannot read ${url} (Failed to fetch)` },
      `モデル：${url} を読み込めません（Failed to fetch）`],
    [{ reason: 'file_missing', details: { what: 'model contract', file: url, status: 404 }, message: `model contract: ${url} is missing from the extension (HTTP 404); rebuild it with \`npm run build\`` },
      `モデルの設定：拡張機能に ${url} がありません（HTTP 404）。\`npm run build\` で作り直してください`],
    [{ reason: 'contract_not_json', details: { file: url, cause: 'Unexpected token' }, message: `model contract: ${url} is not JSON (Unexpected token)` },
      `モデルの設定：${url} が JSON ではありません（Unexpected token）`],
    [{ reason: 'modules_unavailable', details: { cause: 'Failed to fetch dynamically imported module' }, message: 'cannot load the classifier\'s modules (Failed to fetch dynamically imported module)' },
      '判定エンジンのモジュールを読み込めません（Failed to fetch dynamically imported module）'],
    [{ reason: 'host_unavailable', details: { cause: 'x' }, message: 'cannot load the classifier (x)' }, '判定エンジンを読み込めません（x）'],
    [{ reason: 'core_unavailable', details: { cause: 'x' }, message: 'wasm core: x' }, 'wasm コアを読み込めません（x）'],
    // Without a reason known here (ORT's, a worker's): the English message.
    [{ message: 'classifier unavailable: no worker left' }, 'classifier unavailable: no worker left'],
  ];
  for (const reason of Object.keys(reasons)) assert.equal(webgpuReasonText(reason), reason);
  for (const [failure] of failures) assert.equal(startFailureText(failure), failure.message);
  try {
    globalThis.chrome.i18n = i18nFor('ja');
    for (const [reason, japanese] of Object.entries(reasons)) assert.equal(webgpuReasonText(reason), japanese, reason);
    for (const [failure, japanese] of failures) assert.equal(startFailureText(failure), japanese, failure.message);
    assert.equal(classifierLabel({ provider: 'wasm', threads: 1, workers: 2, modelVersion: 'v1', crossOriginIsolated: false, webgpuFallback: 'not in this browser' }),
      'WASM · 2 ワーカー × 1 スレッド (各 1 スレッド：クロスオリジン分離なし; WebGPU: このブラウザーにはありません) · モデル v1');
    assert.equal(classifierLabel({ ok: false, code: 'no_model', ...failures[3][0] }), `使用できません（${failures[3][1]}）`);
  } finally {
    globalThis.chrome.i18n = i18nFor('en');
  }
});

test('message types are unique strings', () => {
  const values = Object.values(MSG);
  assert.equal(new Set(values).size, values.length);
  for (const v of values) assert.match(v, /^illust-only\//);
});

test('content script bundles into one classic script that runs', () => {
  const script = bundleClassicScript(path.join(root, 'web', 'extension', 'content-script.js'));
  assert.doesNotMatch(script, /^\s*(import|export)\s/m);
  assert.match(script, /const MSG = Object\.freeze/);
  assert.match(script, /function mediaKeyOfCell/);
  // It is a classic script: compiles as one, and without a DOM it fails on the DOM, not on syntax.
  assert.throws(() => vm.runInNewContext(script, {}), /document is not defined/);
});

test('the bundler refuses module syntax it does not handle', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'io-bundle-'));
  try {
    writeFileSync(path.join(dir, 'a.js'), "import { x as y } from './b.js';\n");
    writeFileSync(path.join(dir, 'b.js'), 'export const x = 1;\n');
    assert.throws(() => bundleClassicScript(path.join(dir, 'a.js')), /as/);
    writeFileSync(path.join(dir, 'a.js'), "export default 3;\n");
    assert.throws(() => bundleClassicScript(path.join(dir, 'a.js')), /unsupported module syntax/);
    writeFileSync(path.join(dir, 'a.js'), "import { x } from './b.js';\nconst x = 2;\n");
    assert.throws(() => bundleClassicScript(path.join(dir, 'a.js')), SyntaxError); // name clash
    writeFileSync(path.join(dir, 'a.js'), "import { x } from './missing.js';\n");
    assert.throws(() => bundleClassicScript(path.join(dir, 'a.js')), /does not exist/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
  assert.equal(rewriteLibImports("import { decide } from '../lib/decide.js';"), "import { decide } from './lib/decide.js';");
});

test('icons are valid PNGs (checked by PIL)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'io-icon-'));
  try {
    const file = path.join(dir, 'icon.png');
    writeFileSync(file, drawIcon(48));
    const out = execFileSync('/usr/bin/python3', ['-c',
      'import sys; from PIL import Image; im = Image.open(sys.argv[1]); im.load(); print(im.size, im.mode, im.getpixel((24, 10))[3], im.getpixel((0, 0))[3])', file]).toString().trim();
    assert.equal(out, '(48, 48) RGBA 255 0'); // opaque inside, transparent rounded corner
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('build: the WASM workers\' model comes already optimised (fused) and judges real images as the plain model does', async (t) => {
  const built = path.join(root, 'build', 'extension', 'model');
  if (!existsSync(path.join(built, 'illust-only.onnx')) || !existsSync(path.join(root, 'build', 'wasm', 'illust_core.wasm'))) {
    t.skip('needs npm run build');
    return;
  }
  const optimized = readFileSync(path.join(built, OPTIMIZED_MODEL_FILE));
  // ORT fused each Conv with its activation: the workers have nothing left to optimise.
  assert.ok(optimized.includes('FusedConv'), 'the graph holds ORT\'s fused convolutions');
  const contract = JSON.parse(readFileSync(path.join(built, 'contract.json'), 'utf8'));
  const ort = await import('onnxruntime-web');
  const core = await loadNodeCore();
  // As offscreen.js opens each: the optimised model with ORT's optimisations off, the plain one with them on.
  const open = (model, sessionOptions) => createClassifier({ ort, model, contract, core, provider: 'wasm', numThreads: 1, sessionOptions });
  const plain = await open(readFileSync(path.join(built, 'illust-only.onnx')));
  const fused = await open(optimized, { graphOptimizationLevel: 'disabled' });
  const dataDir = process.env.ILLUST_ONLY_DATA ?? path.join(root, '..', 'shared', 'data');
  const images = [encodePngRgb(Uint8Array.from({ length: 120 * 90 * 3 }, (_, i) => (i * 13) % 251), 120, 90)];
  for (const label of ['illustration', 'screenshot', 'photo']) {
    const classDir = path.join(dataDir, label);
    if (!existsSync(classDir)) continue;
    const source = readdirSync(classDir).sort()[0];
    for (const file of readdirSync(path.join(classDir, source)).filter((f) => /\.jpe?g$/i.test(f)).sort().slice(0, 2)) {
      images.push(readFileSync(path.join(classDir, source, file)));
    }
  }
  for (const [i, bytes] of images.entries()) {
    const [a, b] = [await plain.classify(bytes, { embedding: true }), await fused.classify(bytes, { embedding: true })];
    assert.ok(a.ok && b.ok, `image ${i}: ${a.message ?? b.message}`);
    assert.equal(b.label, a.label, `image ${i}`);
    for (const name of contract.labels) assert.ok(Math.abs(a.scores[name] - b.scores[name]) < 1e-5, `image ${i} ${name}: ${a.scores[name]} vs ${b.scores[name]}`);
    assert.ok(a.embedding.every((v, k) => Math.abs(v - b.embedding[k]) < 1e-4), `image ${i}: embeddings differ`);
  }
  await Promise.all([plain.release(), fused.release()]);
});

/** Deterministic incompressible bytes (xorshift32). */
function noise(length) {
  let x = 2463534242;
  return Buffer.from(Array.from({ length }, () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x & 0xff; }));
}

test('store zip: read back by Python zipfile, byte for byte', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'io-zip-'));
  try {
    const entries = [
      { name: 'manifest.json', data: Buffer.from('{"manifest_version": 3}\n') },
      { name: 'ort/noise.bin', data: noise(50000) }, // incompressible: stored
      { name: 'lib/text.js', data: Buffer.from('x'.repeat(10000)) }, // compressible: deflated
      { name: 'empty.txt', data: Buffer.alloc(0) },
    ];
    const zipPath = path.join(dir, 'x.zip');
    writeFileSync(zipPath, makeZip(entries));
    const listing = JSON.parse(execFileSync('/usr/bin/python3', ['-c', `
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps({i.filename: [hashlib.sha256(z.read(i)).hexdigest(), i.compress_type] for i in z.infolist()}))`, zipPath]).toString());
    const sha = (b) => createHash('sha256').update(b).digest('hex');
    for (const { name, data } of entries) assert.equal(listing[name][0], sha(data), name);
    assert.equal(listing['lib/text.js'][1], 8); // deflated
    assert.equal(listing['ort/noise.bin'][1], 0); // stored
    assert.deepEqual(makeZip(entries), readFileSync(zipPath)); // reproducible
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('pack: a model gone from model/ since the last build is not packed from that build\'s copy: the build drops it, the pack refuses', { skip: existsSync(path.join(root, 'build', 'wasm', 'illust_core.wasm')) ? false : 'no wasm core built (npm run build)', timeout: 120000 }, (t) => {
  // A scratch repository with the build and pack scripts, the extension's sources, the wasm core and the model.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'io-pack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const part of ['package.json', 'tools/build.mjs', 'tools/build/extension.mjs', 'tools/pack-extension.mjs', 'tools/lib/run-cli.mjs',
    'web/extension', 'web/lib', 'build/wasm/illust_core.mjs', 'build/wasm/illust_core.wasm', 'model/contract.json', 'model/illust-only.onnx']) {
    cpSync(path.join(root, part), path.join(dir, part), { recursive: true });
  }
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  const run = (...args) => spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
  assert.equal(run('tools/build.mjs', 'extension').status, 0);
  assert.ok(existsSync(path.join(dir, 'build', 'extension', 'model', 'illust-only.onnx')));

  rmSync(path.join(dir, 'model', 'illust-only.onnx')); // e.g. an export that failed half-way
  const pack = run('tools/pack-extension.mjs');
  assert.match(pack.stdout, /WARNING: not built yet, the extension will fail open and say so: model\/illust-only\.onnx/);
  assert.equal(pack.status, 1, pack.stdout);
  assert.match(pack.stderr, /pack: refusing to pack an extension without model\/illust-only\.onnx/);
  for (const build of ['extension', 'extension-firefox']) {
    assert.equal(existsSync(path.join(dir, 'build', build, 'model', 'illust-only.onnx')), false, `${build}: the last build's model is gone`);
  }
  assert.deepEqual(readdirSync(path.join(dir, 'build')).filter((name) => name.endsWith('.zip')), [], 'no zip');
});

test('build: a model file ORT cannot load still builds (no optimised copy, a warning); the extension reports it at run time', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'io-optimized-'));
  try {
    const model = path.join(dir, 'illust-only.onnx');
    writeFileSync(model, 'not an ONNX model\n');
    const to = path.join(dir, 'out', OPTIMIZED_MODEL_FILE);
    const lines = [];
    await writeOptimizedModel(root, model, to, (line) => lines.push(line));
    assert.equal(existsSync(to), false, 'no optimised copy of a model that does not load');
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^WARNING: model\/illust-only\.optimized\.onnx not written \(illust-only\.onnx: .*[Pp]rotobuf parsing failed/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
