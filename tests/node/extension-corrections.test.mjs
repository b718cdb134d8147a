// The service worker's corrections logic (web/extension/corrections.js) with the real contract and the
// real personal layer, on a store kept in memory (the extension's is IndexedDB, exercised by
// tests/e2e/extension-corrections.test.mjs) and on one that fails like a full or unavailable disk.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createCorrections, importRefusalText } from '../../web/extension/corrections.js';
import { MAX_CORRECTIONS, exportCorrections, parseCorrectionsFile } from '../../web/lib/personal-layer.js';
import { i18nFor } from './extension-messages.mjs';

globalThis.chrome = { i18n: i18nFor('en') }; // the words the modules say (their only use of chrome here)

const contract = JSON.parse(readFileSync(new URL('../../model/contract.json', import.meta.url)));
const SCREENSHOT = { illustration: 0.05, screenshot: 0.9, photo: 0.05 };
const vector = (seed) => Float32Array.from({ length: 1280 }, (_, i) => ((i * 7919 + seed * 104729) % 97 < 15 ? ((i + seed) % 6) + 1 : 0));

function memoryStore() {
  const corrections = new Map();
  const media = new Map();
  const closedListeners = new Set();
  return {
    corrections, media,
    onClosed: (listener) => closedListeners.add(listener),
    // As when the browser clears the extension's data: the records go and the connection closes.
    clearedByBrowser: () => { corrections.clear(); media.clear(); for (const listener of closedListeners) listener(); },
    listCorrections: async () => [...corrections.values()],
    replaceCorrections: async (records) => { corrections.clear(); for (const r of records) corrections.set(r.mediaId, r); },
    // One transaction, as IndexedDB's: nothing else is read or written between its read and its writes.
    changeCorrections: async (change) => {
      const changes = change([...corrections.values()]);
      for (const id of changes?.remove ?? []) corrections.delete(id);
      for (const r of changes?.put ?? []) corrections.set(r.mediaId, r);
      return changes;
    },
    updateCorrection: async (id, update) => {
      const next = update(corrections.get(id));
      if (next) corrections.set(id, next);
      return Boolean(next);
    },
    getMedia: async (id) => media.get(id),
    mediaVersions: async (ids) => new Map(ids.filter((id) => media.has(id)).map((id) => [id, media.get(id).modelVersion])),
    mediaOfAccounts: async (accounts) => [...media.values()].filter((m) => accounts.has(m.account)),
    putMedia: async (r) => { media.set(r.mediaId, r); },
    clearMedia: async () => { media.clear(); },
  };
}

function setUp({ store = memoryStore(), version = contract.version, fetchable = () => true } = {}) {
  let announced = 0;
  const corrections = createCorrections({
    store, getContract: async () => ({ ...contract, version }), announce: () => { announced += 1; },
    computeEmbedding: async (mediaId) => (fetchable(mediaId)
      ? { ok: true, scores: SCREENSHOT, embedding: vector(Number(mediaId.replace(/\D/g, '')) || 1) }
      : { ok: false, code: 'fetch_failed', message: `https://pbs.twimg.com/media/${mediaId} answered HTTP 404` }),
  });
  return { corrections, store, announced: () => announced };
}

test('a correction decides its own media id and is counted; undo and reset forget it', async () => {
  const { corrections, store, announced } = setUp();
  await corrections.rememberMedia('m1', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  assert.equal((await corrections.adjust('m1', SCREENSHOT, 'painter')).personal, false, 'nothing learned yet: the shipped scores');
  const answer = await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  assert.deepEqual(answer, { ok: true, count: 1 });
  assert.equal(announced(), 1, 'open pages are told to re-decide');
  const adjusted = await corrections.adjust('m1', SCREENSHOT, 'painter');
  assert.equal(adjusted.personal, true);
  assert.equal(adjusted.scores.illustration, 1);
  const stored = store.corrections.get('m1');
  assert.equal(stored.modelVersion, contract.version);
  assert.equal(stored.account, 'painter');
  assert.equal(stored.embedding.length, 1280);
  assert.ok(Number.isFinite(stored.time));
  assert.deepEqual(await corrections.status(), { ok: true, count: 1, learned: 1, notCarried: 0, carrying: 0, labelsOnly: 0, modelVersion: contract.version, lastStepAt: stored.time });
  assert.deepEqual((await corrections.undo()).undone, { mediaId: 'm1', label: 'illustration', account: 'painter' });
  assert.equal((await corrections.adjust('m1', SCREENSHOT, 'painter')).personal, false);
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  await corrections.reset();
  assert.equal((await corrections.status()).count, 0);
});

test('undo of a media id corrected a second time gives the first correction back, not the shipped model', async () => {
  const { corrections, store } = setUp();
  await corrections.rememberMedia('m1', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  await new Promise((resolve) => { setTimeout(resolve, 2); }); // a later click
  assert.deepEqual(await corrections.correct({ mediaId: 'm1', label: 'photo', account: 'painter' }), { ok: true, count: 1 });
  assert.equal((await corrections.adjust('m1', SCREENSHOT, 'painter')).scores.photo, 1);
  const answer = await corrections.undo();
  assert.deepEqual([answer.undone, answer.restored], [{ mediaId: 'm1', label: 'photo', account: 'painter' }, { label: 'illustration' }]);
  const adjusted = await corrections.adjust('m1', SCREENSHOT, 'painter');
  assert.deepEqual([adjusted.personal, adjusted.scores.illustration], [true, 1], 'the earlier correction decides again');
  assert.equal((await corrections.status()).count, 1);
  assert.equal(store.corrections.get('m1').replaced, undefined);
  assert.equal(JSON.parse((await corrections.exportFile()).text).corrections[0].label, 'illustration');
  assert.deepEqual((await corrections.undo()).undone, { mediaId: 'm1', label: 'illustration', account: 'painter' });
  assert.equal((await corrections.status()).count, 0);
  assert.equal((await corrections.adjust('m1', SCREENSHOT, 'painter')).personal, false);
});

test('the browser clears the store: the learned layer is forgotten at once and the pages re-decide', async () => {
  const { corrections, store, announced } = setUp();
  for (const id of ['m1', 'm2']) await corrections.rememberMedia(id, { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  assert.equal((await corrections.adjust('m1', SCREENSHOT, 'painter')).personal, true);
  const before = announced();
  store.clearedByBrowser();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(announced(), before + 1, 'open pages are told to re-decide');
  assert.deepEqual(await corrections.adjust('m1', SCREENSHOT, 'painter'), { scores: SCREENSHOT, personal: false });
  assert.equal((await corrections.status()).count, 0);
  // Nothing learned, nothing to re-decide: a second clear announces nothing.
  store.clearedByBrowser();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(announced(), before + 1);
});

test('"Forget remembered verdicts" forgets the judged images but keeps the corrections, which still decide their own images', async () => {
  const { corrections, store, announced } = setUp();
  for (const id of ['m1', 'm2', 'm3']) await corrections.rememberMedia(id, { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  assert.equal((await corrections.adjust('m2', SCREENSHOT, 'painter')).personal, true, 'a similar image of the account follows the correction');
  const before = announced();
  assert.deepEqual(await corrections.forgetMedia(), { ok: true });
  assert.equal(store.media.size, 0, 'no judged image, score, embedding or account kept');
  assert.equal(announced(), before, 'open pages keep their verdicts (re-deciding would judge them all again)');
  assert.equal((await corrections.status()).count, 1, 'the correction stays');
  assert.equal((await corrections.adjust('m1', SCREENSHOT, 'painter')).scores.illustration, 1);
  assert.equal((await corrections.adjust('m2', SCREENSHOT, 'painter')).personal, false, 'its embedding is forgotten');
});

test('the browser clears the store (or the user resets) while corrections are carried over to a new model: none comes back', async () => {
  for (const interrupt of ['cleared', 'reset']) {
    const store = memoryStore();
    await store.replaceCorrections([{ mediaId: 'keep3', label: 'illustration', embedding: vector(3), modelVersion: 'old-model', time: 1, account: 'painter' }]);
    let release;
    const fetched = new Promise((resolve) => { release = resolve; });
    const corrections = createCorrections({
      store, getContract: async () => ({ ...contract, version: 'new-model' }), announce: () => {},
      computeEmbedding: async () => { await fetched; return { ok: true, scores: SCREENSHOT, embedding: vector(3) }; },
    });
    assert.equal((await corrections.status()).carrying, 1, 'the carry-over started and waits for the image');
    if (interrupt === 'cleared') store.clearedByBrowser();
    else await corrections.reset();
    release();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual([...store.corrections.keys()], [], `${interrupt}: a cleared correction came back`);
    assert.equal((await corrections.status()).count, 0);
  }
});

test('a media judged before it was kept is judged again for its embedding; one that cannot be fetched is refused', async () => {
  const { corrections, store } = setUp({ fetchable: (id) => id !== 'gone1' });
  assert.equal((await corrections.correct({ mediaId: 'old2', label: 'photo', account: 'someone' })).ok, true);
  assert.ok(store.media.get('old2').embedding, 'kept for the next refit');
  const refused = await corrections.correct({ mediaId: 'gone1', label: 'photo', account: 'someone' });
  assert.equal(refused.ok, false);
  assert.match(refused.message, /cannot learn from an image that did not load \(.*HTTP 404\)/);
  assert.equal(store.corrections.has('gone1'), false);
  assert.equal((await corrections.correct({ mediaId: 'old2', label: 'cat', account: 'someone' })).ok, false, 'unknown label');
});

test('a video or GIF cell is corrected by its poster key, like a photo, and survives export and import', async () => {
  const { corrections, store } = setUp();
  const poster = 'ext_tw_video_thumb/1234567890/pu/img/AbC-d_12';
  const gif = 'tweet_video_thumb/GZx3aBc9QAAbcde';
  await corrections.rememberMedia(poster, { ok: true, scores: SCREENSHOT, embedding: vector(3) }, 'painter');
  assert.deepEqual(await corrections.correct({ mediaId: poster, label: 'illustration', account: 'painter' }), { ok: true, count: 1 });
  assert.equal((await corrections.correct({ mediaId: gif, label: 'photo', account: 'painter' })).ok, true);
  const adjusted = await corrections.adjust(poster, SCREENSHOT, 'painter');
  assert.equal(adjusted.personal, true);
  assert.equal(adjusted.scores.illustration, 1);
  const file = (await corrections.exportFile()).text;
  await corrections.reset();
  assert.equal(store.corrections.size, 0);
  assert.equal((await corrections.importFile({ text: file })).ok, true);
  assert.deepEqual([...store.corrections.keys()].sort(), [poster, gif].sort());
});

test('the store keeps the latest corrections and drops the oldest', async () => {
  const { corrections, store } = setUp();
  const records = Array.from({ length: MAX_CORRECTIONS }, (_, i) => ({
    mediaId: `x${i}`, label: 'illustration', embedding: null, modelVersion: contract.version, time: 1000 + i, account: null,
  }));
  await store.replaceCorrections(records);
  const logged = [];
  const info = console.info;
  console.info = (...args) => logged.push(args.join(' '));
  try {
    assert.equal((await corrections.correct({ mediaId: 'new1', label: 'photo', account: 'a' })).count, MAX_CORRECTIONS);
  } finally {
    console.info = info;
  }
  assert.equal(store.corrections.size, MAX_CORRECTIONS);
  assert.equal(store.corrections.has('x0'), false, 'the oldest went');
  assert.ok(logged.some((line) => /dropped the 1 oldest/.test(line)), logged.join('\n'));
  // Undo takes the step back whole: the correction it pushed out comes back.
  assert.deepEqual((await corrections.undo()).undone, { mediaId: 'new1', label: 'photo', account: 'a' });
  assert.equal(store.corrections.size, MAX_CORRECTIONS);
  assert.equal(store.corrections.has('x0'), true, 'the oldest is back');
  assert.equal(store.corrections.has('new1'), false);
});

test('Undo of an import that pushed the oldest corrections past the bound brings them back', async () => {
  const { corrections, store } = setUp();
  await store.replaceCorrections(Array.from({ length: MAX_CORRECTIONS }, (_, i) => ({
    mediaId: `x${i}`, label: 'illustration', embedding: null, modelVersion: contract.version, time: 1000 + i, account: null,
  })));
  const file = exportCorrections(['m7', 'm8', 'm9'].map((mediaId, i) => ({
    mediaId, label: 'photo', embedding: vector(7 + i), modelVersion: contract.version, time: 5000 + i, account: 'cook',
  })), { labels: contract.labels });
  const info = console.info;
  console.info = () => {};
  try {
    assert.deepEqual(await corrections.importFile({ text: file }), { ok: true, imported: 3, inFile: 3, count: MAX_CORRECTIONS });
  } finally {
    console.info = info;
  }
  assert.deepEqual(['x0', 'x1', 'x2', 'x3'].map((id) => store.corrections.has(id)), [false, false, false, true], 'the three oldest made room');
  const answer = await corrections.undo();
  assert.deepEqual([answer.undone, answer.restored], [{ imported: 3 }, { count: 3 }]);
  assert.equal(store.corrections.size, MAX_CORRECTIONS);
  assert.deepEqual(['x0', 'x1', 'x2', 'm7'].map((id) => store.corrections.has(id)), [true, true, true, false]);
  assert.equal(store.corrections.get('x0').pushedOut, undefined);
  assert.equal((await corrections.status()).count, MAX_CORRECTIONS);
});

const afterTurns = (turns) => new Promise((resolve) => {
  const next = (left) => (left === 0 ? resolve() : setImmediate(() => next(left - 1)));
  next(turns);
});

// As IndexedDB: every read or write waits for the disk (a few turns of the event loop, so that another
// caller's request can come between two of them); changeCorrections is one transaction, whose read and
// writes nothing comes between.
function slowStore() {
  const inner = memoryStore();
  const slow = { ...inner };
  for (const [name, fn] of Object.entries(inner)) {
    if (typeof fn !== 'function' || name === 'onClosed' || name === 'clearedByBrowser') continue;
    slow[name] = async (...args) => { await afterTurns(4); return fn(...args); };
  }
  return slow;
}

test('a correction made on the page while the popup imports a file or undoes an import is kept, whatever the timing', async () => {
  const file = exportCorrections([{ mediaId: 'm7', label: 'photo', embedding: vector(7), modelVersion: contract.version, time: 5, account: 'cook' }], { labels: contract.labels });
  // Each pair of steps started with every offset of one against the other, in turns of the event loop.
  for (let offset = -24; offset <= 24; offset += 1) {
    const { corrections, store } = setUp({ store: slowStore() });
    await corrections.rememberMedia('m1', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
    const [imported, corrected] = await Promise.all([
      afterTurns(Math.max(0, -offset)).then(() => corrections.importFile({ text: file })),
      afterTurns(Math.max(0, offset)).then(() => corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' })),
    ]);
    assert.equal(imported.ok && corrected.ok, true);
    assert.deepEqual([...store.corrections.keys()].sort(), ['m1', 'm7'], `a correction started ${offset} turns after the import`);
  }
  for (let offset = -24; offset <= 24; offset += 1) {
    const { corrections, store } = setUp({ store: slowStore() });
    await corrections.rememberMedia('m2', { ok: true, scores: SCREENSHOT, embedding: vector(2) }, 'painter');
    await corrections.importFile({ text: file });
    const [undone] = await Promise.all([
      afterTurns(Math.max(0, -offset)).then(() => corrections.undo()),
      afterTurns(Math.max(0, offset)).then(() => corrections.correct({ mediaId: 'm2', label: 'illustration', account: 'painter' })),
    ]);
    // Undo took back the import, or (made first) the correction, the last step then: never both.
    const tookBack = undone.undone.imported ? 'm7' : 'm2';
    assert.deepEqual([...store.corrections.keys()], [tookBack === 'm7' ? 'm2' : 'm7'], `a correction started ${offset} turns after an Undo`);
  }
});

test('import: a valid file is merged, an invalid one refused whole with nothing changed', async () => {
  const { corrections, store } = setUp();
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  const file = exportCorrections([{ mediaId: 'm7', label: 'photo', embedding: vector(7), modelVersion: contract.version, time: 5, account: 'cook' }], { labels: contract.labels });
  assert.deepEqual(await corrections.importFile({ text: file }), { ok: true, imported: 1, inFile: 1, count: 2 });
  const before = [...store.corrections.keys()].sort();
  const bad = await corrections.importFile({ text: file.replace('"label":"photo"', '"label":"meme"') });
  assert.equal(bad.ok, false);
  assert.match(bad.message, /unknown label "meme"/);
  assert.deepEqual([...store.corrections.keys()].sort(), before);
  assert.equal((await corrections.importFile({ text: 'x'.repeat(10 * 2 ** 20) })).ok, false);
  // A correction that names no X media (a path, a file name, a poster with its extension) could never
  // decide a cell, yet was taken and counted as learned: the file is refused whole.
  for (const mediaId of ['../../x', 'cat.jpg', 'ext_tw_video_thumb/1/pu/img/abc.jpg']) {
    const foreign = await corrections.importFile({ text: file.replace('"mediaId":"m7"', `"mediaId":${JSON.stringify(mediaId)}`) });
    assert.deepEqual(foreign, { ok: false, message: `correction 1: not an X media id or poster: ${JSON.stringify(mediaId)}` });
    assert.deepEqual([...store.corrections.keys()].sort(), before);
  }
  // Nor an account a page never sends (pages send X user names lower-cased): its correction would reach
  // none of the account's other images.
  for (const account of ['Cook', 'photo/joycechen']) {
    const foreign = await corrections.importFile({ text: file.replace('"account":"cook"', `"account":${JSON.stringify(account)}`) });
    assert.deepEqual(foreign, { ok: false, message: `correction 1: not an X account name (lower case): ${JSON.stringify(account)}` });
    assert.deepEqual([...store.corrections.keys()].sort(), before);
  }
});

test('import: a file nested deeper than an export, one with "__proto__" keys, or one naming a media id twice: refused whole or taken once, nothing polluted', async () => {
  const { corrections, store } = setUp();
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  const record = { mediaId: 'm7', label: 'photo', embedding: vector(7), modelVersion: contract.version, time: 5, account: 'cook' };
  const file = exportCorrections([record], { labels: contract.labels });
  const before = [...store.corrections.keys()].sort();
  // Valid but for a field nested 200,000 levels deep: JSON.parse held the service worker for seconds,
  // then took the file. Refused before it is parsed.
  const deep = file.replace('"label":"photo"', `"label":"photo","note":${'['.repeat(200000)}${']'.repeat(200000)}`);
  assert.deepEqual(await corrections.importFile({ text: deep }), { ok: false, message: 'not an Illust Only corrections file (nested deeper than 16 levels)' });
  assert.deepEqual((await corrections.importFile({ text: '['.repeat(4 * 2 ** 20) })).ok, false);
  assert.deepEqual([...store.corrections.keys()].sort(), before);
  // "__proto__" is a plain key in JSON: it supplies no label, and no object gains properties.
  const proto = file.replace('"label":"photo"', '"__proto__":{"label":"photo","polluted":true}');
  assert.deepEqual(await corrections.importFile({ text: proto }), { ok: false, message: 'correction 1: unknown label "undefined" (expected illustration, screenshot, photo)' });
  assert.equal({}.polluted, undefined);
  assert.deepEqual([...store.corrections.keys()].sort(), before);
  // A media id twice: the newer decides, once.
  const twice = exportCorrections([record, { ...record, label: 'screenshot', time: 6 }], { labels: contract.labels });
  assert.deepEqual(await corrections.importFile({ text: twice }), { ok: true, imported: 1, inFile: 2, count: 2 });
  assert.equal(store.corrections.get('m7').label, 'screenshot');
});

test('Undo after an import takes back the import as a whole, whatever the times its corrections were made at; a later correction is undone first', async () => {
  const { corrections, store } = setUp();
  for (const id of ['m1', 'm2']) await corrections.rememberMedia(id, { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  const madeHere = store.corrections.get('m1').time;
  // From another device: m1 called a photo there later, m7 made there an hour ahead (its clock runs fast),
  // m8 made there long ago.
  const file = exportCorrections([
    { mediaId: 'm1', label: 'photo', embedding: vector(1), modelVersion: contract.version, time: madeHere + 1000, account: 'painter' },
    { mediaId: 'm7', label: 'photo', embedding: vector(7), modelVersion: contract.version, time: madeHere + 3600e3, account: 'cook' },
    { mediaId: 'm8', label: 'screenshot', embedding: vector(8), modelVersion: contract.version, time: 5, account: 'gamer' },
  ], { labels: contract.labels });
  assert.deepEqual(await corrections.importFile({ text: file }), { ok: true, imported: 3, inFile: 3, count: 3 });
  // A correction made here after the import is the last step, though m7's time is later.
  await new Promise((resolve) => { setTimeout(resolve, 2); });
  await corrections.correct({ mediaId: 'm2', label: 'screenshot', account: 'painter' });
  assert.deepEqual((await corrections.undo()).undone, { mediaId: 'm2', label: 'screenshot', account: 'painter' });
  // Then the import, all of it: m1 is the illustration it was here before.
  const answer = await corrections.undo();
  assert.deepEqual([answer.undone, answer.restored], [{ imported: 3 }, { count: 1 }]);
  assert.deepEqual([...store.corrections.keys()], ['m1']);
  assert.equal(store.corrections.get('m1').label, 'illustration');
  assert.equal((await corrections.adjust('m1', SCREENSHOT, 'painter')).scores.illustration, 1);
  assert.deepEqual((await corrections.undo()).undone, { mediaId: 'm1', label: 'illustration', account: 'painter' });
  assert.equal((await corrections.undo()).ok, false, 'nothing left to undo');
});

test('an imported correction dated in the future (a fast clock, a damaged file) counts as made when it came here: the user\'s later corrections are not dropped before it', async () => {
  const { corrections, store } = setUp();
  const file = exportCorrections([{ mediaId: 'm7', label: 'photo', embedding: vector(7), modelVersion: contract.version, time: 1e300, account: 'cook' }], { labels: contract.labels });
  const before = Date.now();
  assert.deepEqual(await corrections.importFile({ text: file }), { ok: true, imported: 1, inFile: 1, count: 1 });
  const { time } = store.corrections.get('m7');
  assert.ok(time >= before && time <= Date.now(), `kept as made at the import, not at ${time}`);
  await new Promise((resolve) => { setTimeout(resolve, 2); }); // a later import
  assert.deepEqual(await corrections.importFile({ text: file }), { ok: true, imported: 0, inFile: 1, count: 1 }, 'the same file again: already here');
  // The user goes on correcting until the store is full: these are newer than the import.
  await new Promise((resolve) => { setTimeout(resolve, 2); });
  const later = Date.now();
  for (let i = 0; i < MAX_CORRECTIONS - 1; i += 1) {
    store.corrections.set(`x${i}`, { mediaId: `x${i}`, label: 'illustration', embedding: null, modelVersion: contract.version, time: later, account: null });
  }
  await new Promise((resolve) => { setTimeout(resolve, 2); });
  const info = console.info;
  console.info = () => {};
  try {
    assert.equal((await corrections.correct({ mediaId: 'new1', label: 'photo', account: 'a' })).count, MAX_CORRECTIONS);
  } finally {
    console.info = info;
  }
  assert.equal(store.corrections.has('m7'), false, 'the imported one is the oldest and made room');
  assert.equal([...Array(MAX_CORRECTIONS - 1).keys()].every((i) => store.corrections.has(`x${i}`)), true, 'every correction made since is kept');
  assert.equal(JSON.parse((await corrections.exportFile()).text).corrections[0].mediaId, 'new1', 'the newest first in an export');
});

test('an imported correction for this model without an embedding decides its own image and is counted as such, not as learned from', async () => {
  const { corrections } = setUp();
  const file = exportCorrections([
    { mediaId: 'm7', label: 'photo', embedding: null, modelVersion: contract.version, time: 5, account: 'cook' },
    { mediaId: 'm8', label: 'photo', embedding: vector(8), modelVersion: contract.version, time: 6, account: 'cook' },
  ], { labels: contract.labels });
  assert.deepEqual(await corrections.importFile({ text: file }), { ok: true, imported: 2, inFile: 2, count: 2 });
  assert.equal((await corrections.adjust('m7', SCREENSHOT, 'cook')).scores.photo, 1, 'its own image takes its label');
  const { count, learned, carrying, notCarried, labelsOnly } = await corrections.status();
  assert.deepEqual({ count, learned, carrying, notCarried, labelsOnly }, { count: 2, learned: 1, carrying: 0, notCarried: 0, labelsOnly: 1 });
  assert.equal(learned + carrying + notCarried + labelsOnly, count, 'every correction is in one of the popup\'s figures');
});

test('importing this profile\'s own export back takes nothing and says so; Undo still undoes the last correction made here', async () => {
  const { corrections, store } = setUp();
  await corrections.rememberMedia('m1', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  await new Promise((resolve) => { setTimeout(resolve, 2); });
  await corrections.correct({ mediaId: 'm1', label: 'photo', account: 'painter' });
  const own = (await corrections.exportFile()).text;
  assert.deepEqual(await corrections.importFile({ text: own }), { ok: true, imported: 0, inFile: 1, count: 1 });
  const answer = await corrections.undo();
  assert.deepEqual([answer.undone, answer.restored], [{ mediaId: 'm1', label: 'photo', account: 'painter' }, { label: 'illustration' }],
    'the correction made here, with the one it replaced');
  assert.equal(store.corrections.get('m1').label, 'illustration');
});

test('import refused in Japanese: the reason is said in Japanese for every refusal the parser and the extension make; in English as the demo and the CLI say it', async () => {
  const record = { mediaId: 'm7', label: 'photo', embedding: vector(7), modelVersion: contract.version, time: 5, account: 'cook' };
  const file = (mutate) => {
    const doc = JSON.parse(exportCorrections([record], { labels: contract.labels }));
    mutate(doc, doc.corrections[0]);
    return JSON.stringify(doc);
  };
  const parse = (text) => parseCorrectionsFile(text, { labels: contract.labels, dims: 1280 });
  // One file per refusal the parser makes (each code once).
  const refusals = [42, 'x'.repeat(9 * 2 ** 20), '['.repeat(40), '{"format": ', '{"some": "other app"}',
    file((d) => { d.version = 2; }), file((d) => { d.corrections = 'none'; }), file((d, c) => { d.corrections = Array(MAX_CORRECTIONS + 1).fill({ ...c, embedding: null }); }),
    file((_d, c) => { c.embedding = 12; }), file((_d, c) => { c.embedding = '%%%'; }), file((_d, c) => { c.embedding = 'AHw='; }), // float16 +Infinity
    file((_d, c) => { c.embedding = 'ADwAPA=='; }), file((_d, c) => { c.mediaId = '<script>'; }), file((_d, c) => { c.label = 'meme'; }),
    file((_d, c) => { c.modelVersion = ''; }), file((_d, c) => { c.time = 'soon'; }), file((_d, c) => { c.account = 'not an account!'; })].map(parse);
  assert.deepEqual(refusals.map((r) => r.code), ['not_text', 'too_large', 'too_deep', 'not_json', 'not_ours', 'unsupported_version', 'no_list', 'too_many',
    'embedding_not_text', 'embedding_not_base64', 'embedding_not_finite', 'embedding_dims', 'bad_media_id', 'unknown_label', 'no_model_version', 'no_time', 'bad_account']);
  const { corrections, store } = setUp();
  const foreignId = file((_d, c) => { c.mediaId = 'cat.jpg'; });
  const foreignAccount = file((_d, c) => { c.account = 'Cook'; });
  try {
    // English: the parser's own message (the demo's, the CLI's), word for word.
    for (const refusal of refusals) assert.equal(importRefusalText(refusal), refusal.message, refusal.code);
    globalThis.chrome.i18n = i18nFor('ja');
    for (const refusal of refusals) {
      const text = importRefusalText(refusal);
      // What stays in Latin letters is the file's own values and names (JSON keys, labels, base64, NaN).
      const english = text.replace(/Illust Only|"format": "illust-only-corrections"|illustration, screenshot, photo|meme|base64|float16|NaN|JSON|MB|ID|"<script>"|"not an account!"/g, '');
      assert.doesNotMatch(english, /[A-Za-z]{2,}/, `${refusal.code}: English left in ${JSON.stringify(text)}`);
      assert.match(text, /[\u3040-\u30ff\u4e00-\u9fff]/, `${refusal.code}: ${JSON.stringify(text)} is Japanese`);
    }
    assert.equal(importRefusalText(parse(file((_d, c) => { c.label = 'meme'; }))), '1 件目の修正：不明なラベル「meme」（使えるのは illustration, screenshot, photo）');
    // Through the service worker's import, as the popup shows it; nothing changed.
    assert.deepEqual(await corrections.importFile({ text: '{"format": ' }), { ok: false, message: 'Illust Only の修正ファイルではありません（JSON ではない）' });
    assert.deepEqual(await corrections.importFile({ text: foreignId }), { ok: false, message: '1 件目の修正：X のメディア ID や動画のポスターではありません："cat.jpg"' });
    assert.deepEqual(await corrections.importFile({ text: foreignAccount }), { ok: false, message: '1 件目の修正：X のアカウント名（小文字）ではありません："Cook"' });
    assert.equal(store.corrections.size, 0);
    // A code this extension does not know (a newer parser's) keeps the parser's English words.
    assert.equal(importRefusalText({ ok: false, code: 'from_the_future', details: { index: 3 }, message: 'correction 3: something new' }), 'correction 3: something new');
  } finally {
    globalThis.chrome.i18n = i18nFor('en');
  }
});

test('import on a profile with no corrections yet: embeddings of another size than the model\'s are refused (they would refuse every later one)', async () => {
  const { corrections, store } = setUp();
  const foreign = exportCorrections([{ mediaId: 'm8', label: 'screenshot', embedding: Float32Array.from([1, 0, 0.5, 0.25]), modelVersion: contract.version, time: 5, account: 'gamer' }], { labels: contract.labels });
  const refused = await corrections.importFile({ text: foreign });
  assert.equal(refused.ok, false);
  assert.match(refused.message, /1280/);
  assert.equal(store.corrections.size, 0);
  const genuine = exportCorrections([{ mediaId: 'm9', label: 'photo', embedding: vector(9), modelVersion: contract.version, time: 6, account: 'cook' }], { labels: contract.labels });
  assert.deepEqual(await corrections.importFile({ text: genuine }), { ok: true, imported: 1, inFile: 1, count: 1 });
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  assert.equal((await corrections.status()).learned, 2);
});

test('a new model version: corrections are carried over by fetching their images again, or kept as labels and counted', async () => {
  const store = memoryStore();
  await store.replaceCorrections([
    { mediaId: 'keep3', label: 'illustration', embedding: vector(3), modelVersion: 'old-model', time: 1, account: 'painter' },
    { mediaId: 'gone4', label: 'photo', embedding: vector(4), modelVersion: 'old-model', time: 2, account: 'cook' },
  ]);
  const { corrections } = setUp({ store, version: 'new-model', fetchable: (id) => id !== 'gone4' });
  const first = await corrections.status();
  assert.equal(first.carrying, 2, 'being carried over');
  for (let i = 0; i < 50 && (await corrections.status()).carrying > 0; i += 1) await new Promise((r) => setTimeout(r, 10));
  const after = await corrections.status();
  assert.deepEqual({ count: after.count, learned: after.learned, notCarried: after.notCarried, carrying: after.carrying }, { count: 2, learned: 1, notCarried: 1, carrying: 0 });
  assert.equal(store.corrections.get('keep3').modelVersion, 'new-model');
  assert.equal(store.corrections.get('gone4').embedding, null);
  // Its label still decides its own media id.
  assert.equal((await corrections.adjust('gone4', SCREENSHOT, 'cook')).scores.photo, 1);
});

test('a correction made again or undone while corrections are carried over to a new model is not overwritten by the carry-over', async () => {
  const store = memoryStore();
  await store.replaceCorrections([
    { mediaId: 'again1', label: 'photo', embedding: vector(1), modelVersion: 'old-model', time: 1, account: 'painter' },
    { mediaId: 'undone2', label: 'screenshot', embedding: vector(2), modelVersion: 'old-model', time: 2, account: 'painter' },
  ]);
  const held = []; // the carry-over's judgements, answered when the test says
  const corrections = createCorrections({
    store, getContract: async () => ({ ...contract, version: 'new-model' }), announce: () => {},
    computeEmbedding: (mediaId) => new Promise((resolve) => held.push(() => resolve({ ok: true, scores: SCREENSHOT, embedding: vector(Number(mediaId.replace(/\D/g, ''))) }))),
  });
  assert.equal((await corrections.status()).carrying, 2); // starts the carry-over: it waits on again1's image
  while (held.length === 0) await new Promise((resolve) => setImmediate(resolve));
  // Meanwhile the user undoes the newest correction (undone2, not carried over yet) and corrects again1
  // once more (its image judged by the new model for the new record).
  assert.equal((await corrections.undo()).undone.mediaId, 'undone2');
  await corrections.rememberMedia('again1', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  assert.equal((await corrections.correct({ mediaId: 'again1', label: 'illustration', account: 'painter' })).ok, true);
  while (held.length > 0 || (await corrections.status()).carrying > 0) {
    held.shift()?.();
    await new Promise((resolve) => { setTimeout(resolve, 5); });
  }
  assert.equal(store.corrections.get('again1').label, 'illustration', 'the newer correction stays');
  assert.equal(store.corrections.get('again1').replaced.label, 'photo', 'and undo still gives the earlier one back');
  assert.equal(store.corrections.has('undone2'), false, 'an undone correction does not come back');
  assert.equal((await corrections.adjust('again1', SCREENSHOT, 'painter')).scores.illustration, 1);
});

test('storage unavailable: verdicts come from the shipped model, corrections are refused and the popup is told why', async () => {
  const broken = () => Promise.reject(new Error('QuotaExceededError: the disk is full'));
  // Every read and write fails (registering for close events still works, as in IndexedDB's store).
  const store = Object.fromEntries(Object.keys(memoryStore()).filter((k) => typeof memoryStore()[k] === 'function' && k !== 'onClosed' && k !== 'clearedByBrowser').map((k) => [k, broken]));
  const warn = console.warn;
  console.warn = () => {};
  try {
    const { corrections } = setUp({ store });
    const adjusted = await corrections.adjust('m1', SCREENSHOT, 'painter');
    assert.equal(adjusted.scores, SCREENSHOT);
    assert.equal(adjusted.personal, false);
    await corrections.rememberMedia('m1', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter'); // does not throw
    const refused = await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
    assert.equal(refused.ok, false);
    assert.match(refused.message, /corrections cannot be stored: QuotaExceededError: the disk is full/);
    assert.deepEqual(await corrections.status(), { ok: false, message: 'QuotaExceededError: the disk is full' });
  } finally {
    console.warn = warn;
  }
});

test('a new model version with a disk that refuses writes: each correction is judged again once, not in a loop', async () => {
  const store = memoryStore();
  await store.replaceCorrections([{ mediaId: 'keep3', label: 'illustration', embedding: vector(3), modelVersion: 'old-model', time: 1, account: 'painter' }]);
  store.updateCorrection = () => Promise.reject(new Error('QuotaExceededError: the disk is full'));
  let judged = 0;
  let announced = 0;
  const corrections = createCorrections({
    store, getContract: async () => ({ ...contract, version: 'new-model' }), announce: () => { announced += 1; },
    computeEmbedding: async () => { judged += 1; return { ok: true, scores: SCREENSHOT, embedding: vector(3) }; },
  });
  const warn = console.warn;
  console.warn = () => {};
  try {
    // Each verdict (and the popup's poll) asks for the layer; a failed carry-over announces, and every open
    // page then asks again: that must not start the fetch and the inference once more, and again.
    for (let i = 0; i < 20; i += 1) {
      await corrections.adjust('m1', SCREENSHOT, 'painter');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    console.warn = warn;
  }
  assert.equal(judged, 1, 'the image of the correction judged again once in this worker life');
  assert.equal(announced, 1);
  assert.equal((await corrections.adjust('keep3', SCREENSHOT, 'painter')).scores.illustration, 1, 'its label still decides its own media id');
});

test('an image from a private window (its embedding passed along, never stored) is adjusted by the account\'s corrections', async () => {
  const { corrections, store } = setUp();
  await corrections.rememberMedia('m1', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  // m2: the same picture seen in a private window: nothing of it in the store.
  assert.equal(await store.getMedia('m2'), undefined);
  assert.equal((await corrections.adjust('m2', SCREENSHOT, 'painter')).personal, false, 'without its embedding: the shipped scores');
  const adjusted = await corrections.adjust('m2', SCREENSHOT, 'painter', vector(1));
  assert.equal(adjusted.personal, true, 'with it: the correction applies');
  assert.ok(adjusted.scores.illustration > 0.5);
  assert.equal(await store.getMedia('m2'), undefined, 'and it is still not stored');
});

test('a corrected account\'s remembered images whose embeddings were pruned are named for judging again, and then follow the correction', async () => {
  const { corrections, store } = setUp();
  for (const id of ['m1', 'm2', 'm3']) await corrections.rememberMedia(id, { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  await corrections.rememberMedia('o1', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'someone');
  assert.deepEqual([...await corrections.lackingEmbeddings(['m1', 'm2', 'm3', 'm9'], 'painter')], [], 'no corrections: nothing to judge again');
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  // The store prunes m2 (its verdict stays remembered); m9 was remembered before images were kept.
  store.media.delete('m2');
  store.media.delete('o1');
  assert.equal((await corrections.adjust('m2', SCREENSHOT, 'painter')).personal, false, 'without its embedding the correction cannot reach it');
  assert.deepEqual([...await corrections.lackingEmbeddings(['m1', 'm2', 'm3', 'm9'], 'painter')].sort(), ['m2', 'm9'],
    'the corrected image decides by its label and m3 is stored: only m2 and m9');
  assert.deepEqual([...await corrections.lackingEmbeddings(['o1'], 'someone')], [], 'an account without corrections is not judged again');
  assert.deepEqual([...await corrections.lackingEmbeddings(['m2'], null)], []);
  // An image stored under an older model lacks a usable embedding too.
  store.media.set('m3', { ...store.media.get('m3'), modelVersion: 'older' });
  assert.deepEqual([...await corrections.lackingEmbeddings(['m3'], 'painter')], ['m3']);
  // Judged again: stored, and an image whose write is still in flight is not named twice.
  const writing = corrections.rememberMedia('m2', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  assert.deepEqual([...await corrections.lackingEmbeddings(['m2'], 'painter')], [], 'being stored');
  await writing;
  assert.deepEqual([...await corrections.lackingEmbeddings(['m2'], 'painter')], []);
  assert.equal((await corrections.adjust('m2', SCREENSHOT, 'painter')).personal, true, 'the correction reaches it again');
});

test('corrections made on an account named like an object property ("constructor", "__proto__") still apply', async () => {
  for (const account of ['constructor', '__proto__']) {
    const { corrections } = setUp();
    for (const id of ['m1', 'm2']) await corrections.rememberMedia(id, { ok: true, scores: SCREENSHOT, embedding: vector(1) }, account);
    assert.deepEqual(await corrections.correct({ mediaId: 'm1', label: 'illustration', account }), { ok: true, count: 1 });
    assert.equal((await corrections.adjust('m2', SCREENSHOT, account)).personal, true, account);
    assert.equal((await corrections.status()).ok, true, account);
    assert.equal(corrections.storageError(), null, account);
  }
});

test('two overlapping writes of one image: it counts as being stored until the last is done', async () => {
  const store = memoryStore();
  const { corrections } = setUp({ store });
  await corrections.rememberMedia('m1', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  await corrections.correct({ mediaId: 'm1', label: 'illustration', account: 'painter' });
  const release = [];
  store.putMedia = (r) => new Promise((resolve) => release.push(() => { store.media.set(r.mediaId, r); resolve(); }));
  const first = corrections.rememberMedia('m2', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  const second = corrections.rememberMedia('m2', { ok: true, scores: SCREENSHOT, embedding: vector(1) }, 'painter');
  while (release.length < 2) await new Promise((resolve) => setImmediate(resolve));
  store.media.delete('m2');
  release.shift()(); // the first write lands, and the store prunes it again at once
  await first;
  store.media.delete('m2');
  assert.deepEqual([...await corrections.lackingEmbeddings(['m2'], 'painter')], [], 'the second write is still under way');
  release.shift()();
  await second;
  assert.deepEqual([...await corrections.lackingEmbeddings(['m2'], 'painter')], []);
  store.media.delete('m2');
  assert.deepEqual([...await corrections.lackingEmbeddings(['m2'], 'painter')], ['m2'], 'no write under way: named again');
});
