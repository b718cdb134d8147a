// "Forget remembered verdicts" in real headless Chromium, offline, with real images: what was being
// judged or read when the user pressed it is not stored after it (a verdict whose image was still
// downloading came back into the remembered verdicts, the worker's memory and the corrections' image
// store, so "forgotten" verdicts were remembered again).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { MSG } from '../../web/extension/messages.js';
import { serveMedia, storedMediaCount } from './extension-images.mjs';
import { CHROMIUM, buildExtensionOnce, dataDir, extensionTestsMissing, launchWithExtension } from './chromium-extension.mjs';

const skipReason = extensionTestsMissing();

/** The first `count` JPEGs of one class's first source (sorted: the same files every run). */
function realImages(label, count) {
  const classDir = path.join(dataDir, label);
  const source = readdirSync(classDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()[0];
  return readdirSync(path.join(classDir, source)).filter((f) => /\.jpe?g$/i.test(f)).sort().slice(0, count)
    .map((f) => readFileSync(path.join(classDir, source, f)));
}

test('Forget pressed while an image is judged: its verdict is not remembered after the Forget', { skip: skipReason ?? false, timeout: 120000 }, async () => {
  await buildExtensionOnce();
  const [judgedBefore, judgedDuring] = realImages('photo', 2);
  const media = new Map([['FforgetBeforeAA', judgedBefore], ['FforgetDuringBB', judgedDuring]]);
  let heldArrived;
  const heldRequest = new Promise((resolve) => { heldArrived = resolve; });
  let releaseHeld;
  const released = new Promise((resolve) => { releaseHeld = resolve; });
  const { context, extensionId, close } = await launchWithExtension();
  try {
    await serveMedia(context, media, async (id) => {
      if (id === 'FforgetDuringBB') { heldArrived(); await released; } // still downloading when Forget is pressed
    });
    const popup = await context.newPage();
    await popup.goto(`chrome-extension://${extensionId}/popup.html`);
    // Asked as a media tab asks (no bytes of its own: the worker fetches the image).
    const judge = (mediaId) => popup.evaluate(([type, id]) => chrome.runtime.sendMessage({ type, mediaId: id }), [MSG.CLASSIFY_MEDIA, mediaId]);
    const status = () => popup.evaluate((type) => chrome.runtime.sendMessage({ type }), MSG.GET_STATUS);

    assert.equal((await judge('FforgetBeforeAA')).ok, true);
    await popup.waitForFunction(() => document.getElementById('forget').textContent === 'Forget remembered verdicts (1)');
    await popup.evaluate(([type, id]) => { window.during = chrome.runtime.sendMessage({ type, mediaId: id }); }, [MSG.CLASSIFY_MEDIA, 'FforgetDuringBB']);
    await heldRequest;
    await popup.click('#forget');
    await popup.waitForFunction(() => /^Forgot /.test(document.getElementById('memory-message').textContent));
    releaseHeld();
    const verdict = await popup.evaluate(() => window.during);
    assert.equal(verdict.ok, true, 'the image still gets its verdict');

    const after = await status(); // counts what the store has once its pending writes are flushed
    assert.equal(after.rememberedCount, 0, 'nothing judged before the Forget is remembered after it');
    assert.equal(after.cacheSize, 0, 'nor kept in the worker\'s memory');
    assert.equal(await storedMediaCount(popup), 0, 'nor its embedding in the corrections\' image store');
  } finally {
    releaseHeld();
    await close();
  }
});

test('asked again after Forget while its pre-Forget judgement is still running: the image is remembered, not judged again on the next visit', { skip: skipReason ?? false, timeout: 120000 }, async () => {
  // Before the fix the later request joined the judgement begun before the Forget (one job per media
  // id), got its verdict, and nothing stored it: the pre-Forget job may not, the joined one did not.
  await buildExtensionOnce();
  const [judgedBefore, judgedDuring, heldBehind] = realImages('photo', 3);
  const media = new Map([['FforgetBeforeAA', judgedBefore], ['FforgetDuringBB', judgedDuring], ['FforgetBehindCC', heldBehind]]);
  const heard = new Map();
  const firstRequest = new Map([...media.keys()].map((id) => [id, new Promise((resolve) => { heard.set(id, resolve); })]));
  let releaseHeld;
  const released = new Promise((resolve) => { releaseHeld = resolve; });
  const { context, extensionId, close } = await launchWithExtension();
  try {
    await serveMedia(context, media, async (id) => {
      heard.get(id)();
      if (id !== 'FforgetBeforeAA') await released; // still downloading when Forget is pressed
    });
    const popup = await context.newPage();
    await popup.goto(`chrome-extension://${extensionId}/popup.html`);
    const judge = (mediaId) => popup.evaluate(([type, id]) => chrome.runtime.sendMessage({ type, mediaId: id }), [MSG.CLASSIFY_MEDIA, mediaId]);
    const judgeLater = (mediaId, name) => popup.evaluate(([type, id, key]) => { window[key] = chrome.runtime.sendMessage({ type, mediaId: id }); },
      [MSG.CLASSIFY_MEDIA, mediaId, name]);
    const status = () => popup.evaluate((type) => chrome.runtime.sendMessage({ type }), MSG.GET_STATUS);

    assert.equal((await judge('FforgetBeforeAA')).ok, true); // the classifier loaded
    await judgeLater('FforgetDuringBB', 'before');
    await firstRequest.get('FforgetDuringBB');
    await popup.click('#forget');
    await popup.waitForFunction(() => /^Forgot /.test(document.getElementById('memory-message').textContent));
    // The same image asked again (a media tab opened after the Forget), then another image: once that one
    // is being downloaded, the worker has long passed the point where the second ask joined a judgement.
    await judgeLater('FforgetDuringBB', 'after');
    await judgeLater('FforgetBehindCC', 'behind');
    await firstRequest.get('FforgetBehindCC');
    releaseHeld();
    for (const key of ['before', 'after', 'behind']) assert.equal((await popup.evaluate((k) => window[k], key)).ok, true, `${key}: a verdict`);

    assert.equal((await status()).rememberedCount, 2, 'both images asked after the Forget are remembered');
    const again = await judge('FforgetDuringBB');
    assert.equal(again.cached, true, 'the next visit is answered from memory, not judged again');
  } finally {
    releaseHeld();
    await close();
  }
});

// The store itself: a read begun before clear() marks what it found as used once it ends, and that
// write brought the forgotten verdict back.
test('VerdictStore: a read begun before clear() writes nothing back after it', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} not installed`, timeout: 60000 }, async () => {
  await buildExtensionOnce();
  const { context, extensionId, close } = await launchWithExtension();
  try {
    const page = await context.newPage();
    await page.goto(`chrome-extension://${extensionId}/popup.html`);
    const answer = await page.evaluate(async () => {
      const { VerdictStore } = await import('./verdict-store.js');
      const store = new VerdictStore({ name: 'forget-test' });
      store.put('test-model', 'mediaA', { ok: true, scores: { photo: 1 } });
      await store.flush();
      const reading = store.getMany('test-model', ['mediaA']);
      const clearing = store.clear();
      const found = await reading;
      await clearing;
      return { found: found.size, count: await store.count() };
    });
    assert.equal(answer.found, 1, 'the read began before the clear, so it still finds the verdict');
    assert.equal(answer.count, 0, 'but does not write it back');
  } finally {
    await close();
  }
});

// A remembered verdict read from the store in the moment Forget runs (its count taken, the store not yet
// cleared) came back into the worker's memory after the memory was cleared, and was served from there
// as remembered until the worker stopped. The store is held with a transaction of the test's own so the
// Forget and the read wait at that moment.
test('Forget pressed while a remembered verdict is read from the store: the read does not bring it back into memory', { skip: skipReason ?? false, timeout: 120000 }, async () => {
  await buildExtensionOnce();
  const [image] = realImages('photo', 1);
  const mediaId = 'FforgetReadAAAA';
  const { context, extensionId, close } = await launchWithExtension();
  try {
    await serveMedia(context, new Map([[mediaId, image]]));
    const popup = await context.newPage();
    await popup.goto(`chrome-extension://${extensionId}/popup.html`);
    const ask = (message) => popup.evaluate((m) => chrome.runtime.sendMessage(m), message);
    assert.equal((await ask({ type: MSG.CLASSIFY_MEDIA, mediaId })).ok, true);
    assert.equal((await ask({ type: MSG.GET_STATUS })).rememberedCount, 1, 'stored');

    // A fresh worker life: the verdict is in the store only, as after any idle stop.
    const cdp = await context.newCDPSession(popup);
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    const fresh = await ask({ type: MSG.GET_STATUS });
    assert.deepEqual([fresh.rememberedCount, fresh.cacheSize], [1, 0]);
    // Each message is given a moment to reach the held store (were it late, the test could only pass).
    const settle = () => popup.evaluate(() => new Promise((resolve) => setTimeout(resolve, 1000)));

    // The test's transaction holds the verdicts; Forget counts them (waits), then a page looks the
    // verdict up (waits); then the store is let go.
    await popup.evaluate(() => new Promise((resolve, reject) => {
      const request = indexedDB.open('illust-only');
      request.onerror = () => reject(request.error);
      request.onsuccess = () => {
        const store = request.result.transaction('verdicts', 'readwrite').objectStore('verdicts');
        window.holding = true;
        const spin = () => { if (window.holding) store.get('none').onsuccess = spin; };
        spin();
        resolve();
      };
    }));
    await popup.evaluate((type) => { window.forgetting = chrome.runtime.sendMessage({ type }); }, MSG.FORGET_VERDICTS);
    await settle();
    await popup.evaluate(([type, id]) => { window.looking = chrome.runtime.sendMessage({ type, mediaIds: [id] }); }, [MSG.LOOKUP_VERDICTS, mediaId]);
    await settle();
    await popup.evaluate(() => { window.holding = false; });
    const [forgot, looked] = await popup.evaluate(() => Promise.all([window.forgetting, window.looking]));
    assert.equal(forgot.forgotten, 1);
    assert.equal(looked.ok, true, 'the lookup is answered');

    const after = await ask({ type: MSG.GET_STATUS });
    assert.equal(after.rememberedCount, 0, 'the store is empty');
    assert.equal(after.cacheSize, 0, 'and the worker\'s memory holds nothing read before the Forget ended');
  } finally {
    await close();
  }
});

// A second press while the first Forget ran asked again: its answer, "Forgot 0 remembered verdicts",
// replaced the first's "Forgot 2", and the user could not tell what was forgotten. Both presses are
// made in one evaluate, before any answer can come.
test('Forget pressed twice at once: one Forget is asked, and the message names what the first press forgot', { skip: skipReason ?? false, timeout: 120000 }, async () => {
  await buildExtensionOnce();
  const images = realImages('photo', 2);
  const media = new Map([['FforgetTwiceAA', images[0]], ['FforgetTwiceBB', images[1]]]);
  const { context, extensionId, close } = await launchWithExtension();
  try {
    await serveMedia(context, media);
    const popup = await context.newPage();
    await popup.goto(`chrome-extension://${extensionId}/popup.html`);
    for (const mediaId of media.keys()) {
      assert.equal((await popup.evaluate(([type, id]) => chrome.runtime.sendMessage({ type, mediaId: id }), [MSG.CLASSIFY_MEDIA, mediaId])).ok, true);
    }
    await popup.waitForFunction(() => document.getElementById('forget').textContent === 'Forget remembered verdicts (2)');

    const seen = await popup.evaluate(async (type) => {
      // Every Forget the popup asks is awaited here, so a second answer cannot come after the check.
      const asked = [];
      const send = chrome.runtime.sendMessage.bind(chrome.runtime);
      chrome.runtime.sendMessage = (message, ...rest) => {
        const answer = send(message, ...rest);
        if (message?.type === type) asked.push(answer);
        return answer;
      };
      const messages = [];
      const message = document.getElementById('memory-message');
      new MutationObserver(() => messages.push(message.textContent)).observe(message, { childList: true, characterData: true, subtree: true });
      const button = document.getElementById('forget');
      button.focus();
      button.click();
      const whileAsked = { ariaDisabled: button.getAttribute('aria-disabled'), focused: document.activeElement === button };
      button.click();
      await Promise.allSettled(asked);
      await new Promise((resolve) => setTimeout(resolve)); // the answers' handlers run after them
      return { asked: asked.length, whileAsked, messages, focused: document.activeElement.id };
    }, MSG.FORGET_VERDICTS);
    assert.equal(seen.asked, 1, 'the second press asks nothing');
    assert.deepEqual(seen.whileAsked, { ariaDisabled: 'true', focused: true }, 'the button says it is busy and keeps the focus');
    assert.equal(seen.messages.length, 1, `one message: ${JSON.stringify(seen.messages)}`);
    assert.match(seen.messages[0], /^Forgot 2 remembered verdicts /);
    assert.equal(seen.focused, 'memory-line', 'nothing left to forget: the focus reads the count');
  } finally {
    await close();
  }
});
