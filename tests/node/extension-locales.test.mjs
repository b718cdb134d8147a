// The extension's languages (web/extension/_locales/*/messages.json) against the code that uses them:
// every key the code, popup.html or the manifest asks for exists in every locale, the locales hold the
// same keys with the same placeholders, and each message's placeholders are the ones it uses. A key
// missing from one language shows the key itself to its users (i18n.js), and a placeholder its message
// does not name drops the number the user was told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { localesDir, readMessages, i18nFor } from './extension-messages.mjs';

const extensionDir = path.dirname(localesDir);
const LANGS = readdirSync(localesDir).sort();
const read = (name) => readFileSync(path.join(extensionDir, name), 'utf8');
const scripts = readdirSync(extensionDir).filter((name) => name.endsWith('.js'));
// t()'s first argument must be a literal key, so this test sees every key; these few take it from data
// the test reads otherwise (popup.html's data-i18n attributes, tn's _one/_other keys).
// (i18n.js: t's own declaration; tn's call of t).
const DYNAMIC_KEYS = new Set(['popup.js: element.dataset.i18n', 'popup.js: element.dataset.i18nMarkup',
  'i18n.js: key', 'i18n.js: count === 1 ? `${key}_one` : `${key}_other`']);

/** Every key the extension asks for: {key → where}, and the calls whose key is not a literal. */
function keysUsed() {
  const used = new Map();
  const dynamic = [];
  const use = (key, where) => { if (!used.has(key)) used.set(key, where); };
  for (const name of scripts) {
    const source = read(name);
    for (const call of source.matchAll(/\bt\(\s*([^,)]+)/g)) {
      const literal = /^'([\w@]+)'$/.exec(call[1].trim());
      if (literal) use(literal[1], name);
      else if (!DYNAMIC_KEYS.has(`${name}: ${call[1].trim()}`)) dynamic.push(`${name}: ${call[1].trim()}`);
    }
    for (const call of source.matchAll(/\btn\(\s*'([\w@]+)'/g)) for (const form of ['one', 'other']) use(`${call[1]}_${form}`, name);
  }
  for (const name of readdirSync(extensionDir).filter((n) => n.endsWith('.html'))) {
    for (const attribute of read(name).matchAll(/\bdata-i18n(?:-markup)?="([^"]+)"/g)) use(attribute[1], name);
  }
  for (const reference of read('manifest.json').matchAll(/__MSG_([\w@]+)__/g)) use(reference[1], 'manifest.json');
  return { used, dynamic };
}

/** The $name$ references of a message, lower case (the browsers match them so). */
const referenced = (message) => new Set([...message.matchAll(/\$([\w@]+)\$/g)].map((m) => m[1].toLowerCase()));
const declared = (entry) => Object.fromEntries(Object.entries(entry.placeholders ?? {}).map(([name, p]) => [name.toLowerCase(), p.content]));

test('locales: English is the default, and Japanese is there', () => {
  assert.equal(JSON.parse(read('manifest.json')).default_locale, 'en');
  assert.deepEqual(LANGS, ['en', 'ja']);
});

test('locales: every key the code, popup.html and the manifest use is in every locale, and none is unused', () => {
  const { used, dynamic } = keysUsed();
  assert.deepEqual(dynamic, [], 't() with a key this test cannot read: pass a literal key');
  assert.ok(used.size > 50, `only ${used.size} keys found: is the scan still reading the calls?`);
  for (const lang of LANGS) {
    const messages = readMessages(lang);
    const missing = [...used].filter(([key]) => !messages[key]).map(([key, where]) => `${key} (${where})`);
    assert.deepEqual(missing, [], `${lang}: keys used but missing`);
    assert.deepEqual(Object.keys(messages).filter((key) => !used.has(key)), [], `${lang}: keys nothing uses`);
  }
});

test('locales: the same keys with the same placeholders in every language', () => {
  const [first, ...others] = LANGS.map((lang) => [lang, readMessages(lang)]);
  for (const [lang, messages] of others) {
    assert.deepEqual(Object.keys(messages).sort(), Object.keys(first[1]).sort(), `${lang} vs ${first[0]}: keys`);
    for (const key of Object.keys(messages)) {
      assert.deepEqual(declared(messages[key]), declared(first[1][key]), `${key}: placeholders in ${lang} vs ${first[0]}`);
    }
  }
});

test('locales: each message uses exactly the placeholders it declares, numbered $1… without gaps', () => {
  for (const lang of LANGS) {
    for (const [key, entry] of Object.entries(readMessages(lang))) {
      assert.equal(typeof entry.message, 'string', `${lang} ${key}: message`);
      assert.ok(entry.message.trim(), `${lang} ${key}: empty message`);
      const names = declared(entry);
      assert.deepEqual([...referenced(entry.message)].sort(), Object.keys(names).sort(), `${lang} ${key}: placeholders used vs declared in "${entry.message}"`);
      // A bare $1 in the text works in Chromium but names nothing for translators: a named placeholder does.
      assert.doesNotMatch(entry.message.replace(/\$([\w@]+)\$/g, ''), /\$\d/, `${lang} ${key}: a bare $n (use a named placeholder)`);
      const contents = Object.values(names).sort();
      assert.deepEqual(contents, contents.map((_c, i) => `$${i + 1}`), `${lang} ${key}: placeholder contents must be $1…$${contents.length}`);
    }
  }
});

test('locales: Japanese says the classes and the cell controls in Japanese, and the helper fills both', () => {
  const ja = i18nFor('ja');
  assert.equal(ja.getMessage('label_illustration'), 'イラスト');
  assert.equal(ja.getMessage('label_screenshot'), 'スクリーンショット');
  assert.equal(ja.getMessage('label_photo'), '写真');
  assert.equal(ja.getMessage('cellHiddenImage', ['写真']), '非表示：写真');
  assert.equal(i18nFor('en').getMessage('importedSomeOf_other', ['12', '3']), "Imported 3 of the file's 12 corrections (the others are here already, or older than the ones here)");
  // Every Japanese message differs from its English one but for names and codes said the same way.
  const en = readMessages('en');
  const same = Object.entries(readMessages('ja')).filter(([key, entry]) => entry.message === en[key].message).map(([key]) => key);
  assert.deepEqual(same.sort(), ['actionTitle', 'extensionName'], 'messages left in English in ja');
});
