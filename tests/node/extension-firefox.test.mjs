// The Firefox build's pure parts: the manifest derived from web/extension/manifest.json, and the popup's
// provider line for what Firefox withholds (cross-origin isolation, WebGPU).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { FIREFOX_ADDON_ID, FIREFOX_MIN_VERSION, FIREFOX_ONLY_PERMISSIONS, firefoxManifest } from '../../tools/build/extension.mjs';
import { classifierLabel } from '../../web/extension/classifier-label.js';
import { answerWithin, keepAwakeWhile } from '../../web/extension/classifier-host-in-page.js';
import { i18nFor } from './extension-messages.mjs';

globalThis.chrome = { i18n: i18nFor('en') }; // the words the modules say (their only use of chrome here)

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const chromium = JSON.parse(readFileSync(path.join(root, 'web', 'extension', 'manifest.json'), 'utf8'));

test('Firefox manifest: event page, gecko id and minimum version, no offscreen or Chromium-only keys, the same hosts and CSP', () => {
  const firefox = firefoxManifest(chromium);
  assert.deepEqual(firefox.background, { scripts: ['service-worker.js'], type: 'module' });
  // webRequest: the background page copies the thumbnails the page downloads (thumbnail-tap.js), as
  // Firefox's HTTP cache never answers the content script's fetch with them; Chromium needs none of it.
  assert.deepEqual(firefox.permissions, [...chromium.permissions.filter((p) => p !== 'offscreen'), 'webRequest', 'webRequestBlocking', 'webRequestFilterResponse']);
  assert.deepEqual(FIREFOX_ONLY_PERMISSIONS, ['webRequest', 'webRequestBlocking', 'webRequestFilterResponse']);
  assert.ok(!chromium.permissions.some((p) => p.startsWith('webRequest')), 'the Chromium manifest asks for no webRequest');
  assert.ok(!firefox.permissions.includes('offscreen'));
  assert.deepEqual(firefox.host_permissions, ['https://x.com/*', 'https://twitter.com/*', 'https://pbs.twimg.com/*']);
  assert.deepEqual(firefox.host_permissions, chromium.host_permissions);
  assert.deepEqual(firefox.content_scripts, chromium.content_scripts);
  assert.deepEqual(firefox.content_security_policy, chromium.content_security_policy);
  assert.match(firefox.content_security_policy.extension_pages, /'wasm-unsafe-eval'/);
  assert.deepEqual(firefox.browser_specific_settings.gecko,
    { id: FIREFOX_ADDON_ID, strict_min_version: FIREFOX_MIN_VERSION, data_collection_permissions: { required: ['none'] } });
  // data_collection_permissions (required by addons.mozilla.org) is read from Firefox 140 on; an older
  // minimum makes AMO's linter warn that those releases install the add-on without it.
  assert.ok(Number.parseFloat(firefox.browser_specific_settings.gecko.strict_min_version) >= 140, FIREFOX_MIN_VERSION);
  for (const key of ['minimum_chrome_version', 'cross_origin_embedder_policy', 'cross_origin_opener_policy']) assert.ok(!(key in firefox), key);
  assert.ok(chromium.permissions.includes('offscreen'), 'the Chromium manifest is left as it was');
  assert.equal(chromium.background.service_worker, 'service-worker.js');
});

test('provider line: Firefox\'s fallbacks (no cross-origin isolation, no WebGPU) are said; Chromium\'s line is unchanged', () => {
  assert.equal(classifierLabel({ provider: 'wasm', threads: 1, workers: 2, modelVersion: 'v1', crossOriginIsolated: false, webgpuFallback: 'not in this browser' }),
    'WASM · 2 workers × 1 thread (1 thread each: not cross-origin isolated; WebGPU: not in this browser) · model v1');
  assert.equal(classifierLabel({ provider: 'wasm', threads: 1, workers: 2, modelVersion: 'v1', crossOriginIsolated: true, webgpuFallback: 'no adapter' }),
    'WASM · 2 workers × 1 thread (WebGPU: no adapter) · model v1');
  assert.equal(classifierLabel({ provider: 'webgpu', threads: 0, modelVersion: 'v1', crossOriginIsolated: false }), 'WebGPU · model v1');
});

test('Firefox classifier host: a classify that never answers becomes a failure value after the timeout; answers and errors pass through', async () => {
  const never = new Promise(() => {});
  const started = Date.now();
  assert.deepEqual(await answerWithin(never, 50), { ok: false, code: 'offscreen_failed', message: 'no answer from the classifier within 0.05 s' });
  assert.ok(Date.now() - started >= 45);
  assert.deepEqual(await answerWithin(Promise.resolve({ ok: true, scores: {} }), 50), { ok: true, scores: {} });
  assert.deepEqual(await answerWithin(Promise.reject(new Error('boom')), 50), { ok: false, code: 'internal', message: 'boom' });
});

test('Firefox classifier host: while work is in flight the event page is kept awake by a parent call on a timer, and only then', async () => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  let pings = 0;
  const options = { every: 20, ping: async () => { pings += 1; } };
  let finishFirst;
  const first = keepAwakeWhile(() => new Promise((resolve) => { finishFirst = resolve; }), options);
  const second = keepAwakeWhile(() => sleep(70).then(() => 'second'), options); // overlapping work shares the one timer
  await sleep(130);
  assert.ok(pings >= 4 && pings <= 7, `one timer while busy (${pings} pings in 130 ms at 20 ms)`);
  assert.equal(await second, 'second');
  finishFirst('first');
  assert.equal(await first, 'first');
  const settled = pings;
  await sleep(80);
  assert.equal(pings, settled, 'no pings once nothing is in flight');
  // A failing ping (the API gone) is ignored, and work that rejects still stops the timer.
  await assert.rejects(keepAwakeWhile(() => sleep(50).then(() => { throw new Error('boom'); }), { every: 10, ping: () => { throw new Error('no API'); } }), /boom/);
  const after = pings;
  await sleep(40);
  assert.equal(pings, after);
});
