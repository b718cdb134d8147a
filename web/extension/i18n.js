// The extension's words in the browser's language: _locales/<lang>/messages.json (English, the default,
// and Japanese), read through the browser's i18n API, so every part (popup, content script, service
// worker, offscreen document) says them the same way. The content script is a classic script, so
// tools/build/extension.mjs pastes this module into it, as messages.js: keep it free of imports.
// Values passed between the parts and stored (verdict labels, corrections files) stay the English
// identifiers; only what is shown goes through here (labelText for a class's name).

/**
 * The message `key` in the browser's language, its $1… filled with `substitutions` (strings or numbers;
 * messages.json names them as placeholders). A key the locale lacks (or no i18n API) gives the key itself:
 * visibly wrong, never an empty control.
 */
export function t(key, ...substitutions) {
  const text = globalThis.chrome?.i18n?.getMessage(key, substitutions.map(String));
  return text || key;
}

/**
 * A message about `count` things: English says "1 correction" but "2 corrections", so each such message
 * has two keys, `<key>_one` and `<key>_other` (Japanese repeats the one text). count is $1.
 */
export function tn(key, count, ...substitutions) {
  return t(count === 1 ? `${key}_one` : `${key}_other`, count, ...substitutions);
}

/** A verdict's class (the identifier 'illustration', 'screenshot' or 'photo') as the user reads it. */
export function labelText(label) {
  if (label === 'illustration') return t('label_illustration');
  if (label === 'screenshot') return t('label_screenshot');
  if (label === 'photo') return t('label_photo');
  return String(label);
}
