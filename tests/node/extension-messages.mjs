// The browser's i18n API over the extension's own _locales/<lang>/messages.json, for node tests that run
// the extension's scripts with a stand-in `chrome`: getMessage fills named placeholders with their
// content ($1…) and those with the substitutions, as Chromium and Firefox do; '' for a missing key.
// What the real browsers do with these files is checked in tests/e2e (extension-popup.test.mjs, Firefox).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const localesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web', 'extension', '_locales');

/** lang's messages.json, as the browser reads it. */
export const readMessages = (lang) => JSON.parse(readFileSync(path.join(localesDir, lang, 'messages.json'), 'utf8'));

/** {getMessage, getUILanguage} answering in `lang`. */
export function i18nFor(lang = 'en') {
  const messages = readMessages(lang);
  return {
    getUILanguage: () => lang,
    getMessage(key, substitutions = []) {
      const entry = messages[key];
      if (!entry) return '';
      const values = [].concat(substitutions).map(String);
      const placeholders = Object.fromEntries(Object.entries(entry.placeholders ?? {}).map(([name, p]) => [name.toLowerCase(), p.content]));
      return entry.message
        .replace(/\$([\w@]+)\$/g, (whole, name) => placeholders[name.toLowerCase()] ?? whole)
        .replace(/\$(\$|[1-9])/g, (_whole, which) => (which === '$' ? '$' : values[Number(which) - 1] ?? ''));
    },
  };
}
