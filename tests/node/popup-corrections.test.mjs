// The popup's corrections section (web/extension/popup-corrections.js) on a small fake page, with the
// extension APIs stood in for: what its Import… button does in Chromium's popup, in Firefox's toolbar
// popup (which Firefox closes when a file picker opens, so the chosen file would never arrive) and in
// the popup page opened as a tab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MSG } from '../../web/extension/messages.js';
import { i18nFor } from './extension-messages.mjs';

const IDS = ['corrections-message', 'corrections-count', 'undo-correction', 'reset-corrections', 'export-corrections',
  'import-corrections', 'import-file', 'reset-confirm', 'reset-yes', 'reset-no'];

/** A page holding the section's elements; element.click() runs its click listeners (an input's opens no picker: it is counted). */
function fakePage() {
  const elements = new Map();
  for (const id of IDS) {
    const listeners = new Map();
    const element = {
      id, textContent: '', disabled: false, hidden: false, value: '', files: null, clicks: 0,
      classList: { toggle() {} },
      attributes: new Map(), // aria-disabled while a press's action runs
      getAttribute: (name) => element.attributes.get(name) ?? null,
      setAttribute: (name, value) => element.attributes.set(name, String(value)),
      removeAttribute: (name) => element.attributes.delete(name),
      addEventListener: (type, listener) => listeners.set(type, [...(listeners.get(type) ?? []), listener]),
      dispatch: async (type) => { for (const listener of listeners.get(type) ?? []) await listener({ type }); },
      click() { element.clicks += 1; return element.dispatch('click'); },
    };
    elements.set(id, element);
  }
  const links = []; // the download links an export made
  return {
    getElementById: (id) => elements.get(id), body: { append() {} }, links,
    createElement: () => { const link = { click() { link.clicked = true; }, remove() {} }; links.push(link); return link; },
  };
}

/**
 * Loads popup-corrections.js afresh on a fake page: `extensionUrl` names the browser ('chrome-extension://…'
 * or 'moz-extension://…'), `currentTab` is what tabs.getCurrent() gives (undefined in a toolbar popup),
 * `answers` the service worker's answer by message type.
 */
async function loadPopup({ extensionUrl, currentTab, search = '', answers = {} }, name) {
  const page = fakePage();
  const created = [];
  let closed = false;
  globalThis.document = page;
  globalThis.location = { search, pathname: '/popup.html' };
  const replacedUrls = [];
  globalThis.history = { replaceState: (_state, _title, url) => { replacedUrls.push(url); } };
  globalThis.window = { close: () => { closed = true; } };
  globalThis.setInterval = () => 0; // the section's 1 s poll is not wanted here
  globalThis.chrome = {
    i18n: i18nFor('en'),
    runtime: {
      getURL: (p) => `${extensionUrl}${p}`,
      sendMessage: async (message) => answers[message.type]
        ?? (message.type === MSG.GET_CORRECTIONS ? { ok: true, count: 0, learned: 0 } : { ok: true, imported: 1, inFile: 1, count: 1 }),
    },
    tabs: {
      getCurrent: async () => currentTab,
      query: async () => [{ id: 7 }],
      create: async (options) => { created.push(options); return { id: 8 }; },
    },
  };
  await import(`../../web/extension/popup-corrections.js?${name}`);
  await new Promise((resolve) => setTimeout(resolve, 10)); // its start-up questions answered
  return { $: (id) => page.getElementById(id), links: page.links, created, closed: () => closed, replacedUrls };
}

test('Import… opens the file picker in Chromium\'s popup and in a tab, where the picker leaves the page open', async () => {
  for (const [name, options] of Object.entries({
    chromium: { extensionUrl: 'chrome-extension://id/', currentTab: undefined },
    firefoxTab: { extensionUrl: 'moz-extension://uuid/', currentTab: { id: 8 } },
  })) {
    const popup = await loadPopup(options, name);
    await popup.$('import-corrections').click();
    assert.equal(popup.$('import-file').clicks, 1, `${name}: the file picker opens`);
    assert.deepEqual(popup.created, [], `${name}: no tab opened`);
    assert.equal(popup.closed(), false);
  }
});

test('Import… in Firefox\'s toolbar popup (which a file picker would close, losing the file) opens the popup page in a tab instead, for the tab the popup was about', async () => {
  const popup = await loadPopup({ extensionUrl: 'moz-extension://uuid/', currentTab: undefined }, 'firefoxPopup');
  await popup.$('import-corrections').click();
  assert.equal(popup.$('import-file').clicks, 0, 'no file picker in the popup');
  assert.deepEqual(popup.created, [{ url: 'moz-extension://uuid/popup.html?tab=7&import' }]);
  assert.equal(popup.closed(), true, 'the popup closes: the tab takes over');
});

test('Export in Firefox\'s toolbar popup (which a "Save as" dialog would close, and the download with it) opens the popup page in a tab, which saves the file at once, and not again when reloaded', async () => {
  const answers = {
    [MSG.GET_CORRECTIONS]: { ok: true, count: 2, learned: 2, carrying: 0, notCarried: 0, labelsOnly: 0 },
    [MSG.EXPORT_CORRECTIONS]: { ok: true, text: '{}', count: 2 },
  };
  const popup = await loadPopup({ extensionUrl: 'moz-extension://uuid/', currentTab: undefined, answers }, 'exportFirefoxPopup');
  await popup.$('export-corrections').click();
  assert.deepEqual(popup.links, [], 'no download from the popup');
  assert.deepEqual(popup.created, [{ url: 'moz-extension://uuid/popup.html?tab=7&export' }]);
  assert.equal(popup.closed(), true, 'the popup closes: the tab takes over');

  const tab = await loadPopup({ extensionUrl: 'moz-extension://uuid/', currentTab: { id: 8 }, search: '?tab=7&export', answers }, 'exportTab');
  assert.equal(tab.links.length, 1, 'the tab saves the file without another press');
  assert.equal(tab.links[0].clicked, true);
  assert.equal(tab.$('corrections-message').textContent, 'Exported 2 corrections');
  assert.deepEqual(tab.replacedUrls, ['/popup.html?tab=7'], 'a reload of the tab exports nothing again');
  await tab.$('export-corrections').click();
  assert.equal(tab.links.length, 2, 'Export in the tab saves from the tab');
  assert.deepEqual(tab.created, []);
});

test('the popup page opened for an import says how to go on', async () => {
  const popup = await loadPopup({ extensionUrl: 'moz-extension://uuid/', currentTab: { id: 8 }, search: '?tab=7&import' }, 'importTab');
  assert.match(popup.$('corrections-message').textContent, /Import…/);
  await popup.$('import-corrections').click();
  assert.equal(popup.$('import-file').clicks, 1, 'the picker opens in the tab');
});

test('the popup says what an import took and what Undo took back: an import as a whole, a file already here', async () => {
  const popup = await loadPopup({
    extensionUrl: 'chrome-extension://id/', currentTab: undefined,
    answers: {
      [MSG.UNDO_CORRECTION]: { ok: true, undone: { imported: 3 }, restored: { count: 1 } },
      [MSG.IMPORT_CORRECTIONS]: { ok: true, imported: 0, inFile: 2, count: 2 },
    },
  }, 'messages');
  await popup.$('undo-correction').click();
  assert.equal(popup.$('corrections-message').textContent, 'Undone: the import of 3 corrections (1 earlier correction back)');
  popup.$('import-file').files = [{ size: 100, text: async () => '{}' }];
  await popup.$('import-file').dispatch('change');
  assert.equal(popup.$('corrections-message').textContent,
    'Imported 0 of the file\'s 2 corrections (the others are here already, or older than the ones here); 2 kept');
});

test('Undo names what it took back as the user knows it: a video or GIF (not its poster key) or an image, and whose', async () => {
  const popup = await loadPopup({
    extensionUrl: 'chrome-extension://id/', currentTab: undefined,
    answers: { [MSG.UNDO_CORRECTION]: { ok: true, undone: { mediaId: 'ext_tw_video_thumb/1234567890/pu/img/VidIll0', label: 'photo', account: 'someartist' } } },
  }, 'undo-video');
  await popup.$('undo-correction').click();
  assert.equal(popup.$('corrections-message').textContent, 'Undone: photo for a video or GIF of @someartist');
  const noAccount = await loadPopup({
    extensionUrl: 'chrome-extension://id/', currentTab: undefined,
    answers: { [MSG.UNDO_CORRECTION]: { ok: true, undone: { mediaId: 'GZx3_aBc-9Q', label: 'illustration' }, restored: { label: 'photo' } } },
  }, 'undo-image');
  await noAccount.$('undo-correction').click();
  assert.equal(noAccount.$('corrections-message').textContent, 'Undone: illustration for an image (media GZx3_aBc-9Q) (photo again, as corrected before)');
});

test('corrections imported without image features are counted apart: the popup never says "Learned from 0" beside an Undo for them', async () => {
  for (const [labelsOnly, said] of [
    [1, 'Learned from 0 corrections; 1 imported without image features, which decides only its own image'],
    [2, 'Learned from 0 corrections; 2 imported without image features, which decide only their own images'],
  ]) {
    const popup = await loadPopup({
      extensionUrl: 'chrome-extension://id/', currentTab: undefined,
      answers: { [MSG.GET_CORRECTIONS]: { ok: true, count: labelsOnly, learned: 0, carrying: 0, notCarried: 0, labelsOnly } },
    }, `labels-only-${labelsOnly}`);
    assert.equal(popup.$('corrections-count').textContent, said);
    assert.equal(popup.$('undo-correction').disabled, false);
  }
});

test('Export is offered only with corrections to export, and its file is named by the user\'s own day, not UTC\'s', async () => {
  const none = await loadPopup({ extensionUrl: 'chrome-extension://id/', currentTab: undefined }, 'export-none');
  assert.equal(none.$('export-corrections').disabled, true, 'no corrections: nothing to export');
  assert.equal(none.$('import-corrections').disabled, false);

  const timeZone = process.env.TZ;
  const RealDate = Date;
  process.env.TZ = 'America/New_York'; // 22:30 on 6 December there is already 7 December in UTC
  globalThis.Date = class extends RealDate { constructor(...args) { super(...(args.length ? args : [2026, 11, 6, 22, 30])); } };
  try {
    const some = await loadPopup({
      extensionUrl: 'chrome-extension://id/', currentTab: undefined,
      answers: {
        [MSG.GET_CORRECTIONS]: { ok: true, count: 2, learned: 2, carrying: 0, notCarried: 0, labelsOnly: 0 },
        [MSG.EXPORT_CORRECTIONS]: { ok: true, text: '{}', count: 2 },
      },
    }, 'export-some');
    assert.equal(some.$('export-corrections').disabled, false);
    await some.$('export-corrections').click();
    assert.equal(some.links.length, 1);
    assert.equal(some.links[0].clicked, true);
    assert.equal(some.links[0].download, 'illust-only-corrections-2026-12-06.json');
    assert.equal(some.$('corrections-message').textContent, 'Exported 2 corrections');
  } finally {
    globalThis.Date = RealDate;
    if (timeZone === undefined) delete process.env.TZ; else process.env.TZ = timeZone;
  }
});
