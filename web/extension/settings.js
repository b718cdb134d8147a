// The extension's settings: one DEFAULTS object, merged over whatever chrome.storage.local holds, so a
// new setting needs no migration and a damaged stored value falls back to its default. Every part
// (service worker, popup) reads settings through here; the content script asks the service worker.

import { DEFAULT_SETTINGS } from '../lib/decide.js';

export const DEFAULTS = Object.freeze({
  enabled: true, // master switch: off shows everything and stops judging
  ...DEFAULT_SETTINGS, // strictness (0..1), hideScreenshots, hidePhotos
  judgeVideos: true, // judge video and GIF cells by their poster frame (off: they show unjudged)
  useGpu: true, // try WebGPU when the browser has a real adapter (else, or when off: WASM)
  // How long the content script waits for one verdict before it shows the cell unjudged. Not in the
  // popup: generous by default (the first verdict waits for the model to load); tests shorten it.
  verdictTimeoutMs: 20000,
});

// Bounds for numeric settings, so a damaged or hostile stored value cannot make the extension hide
// forever (huge timeout) or fail open on everything (tiny timeout).
const NUMBER_RANGES = Object.freeze({
  strictness: [0, 1],
  verdictTimeoutMs: [1000, 120000],
});

/** Keeps only known keys with the right type; anything else takes its default. Pure (unit-tested). */
export function sanitizeSettings(stored) {
  const settings = { ...DEFAULTS };
  if (!stored || typeof stored !== 'object') return settings;
  for (const [key, fallback] of Object.entries(DEFAULTS)) {
    const value = stored[key];
    if (typeof value !== typeof fallback) continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) continue;
      const [low, high] = NUMBER_RANGES[key] ?? [-Infinity, Infinity];
      settings[key] = Math.min(high, Math.max(low, value));
    } else {
      settings[key] = value;
    }
  }
  return settings;
}

/** Reads the settings; chrome.storage.local.get(object) fills missing keys from the object itself. */
export async function readSettings(storage = chrome.storage.local) {
  return sanitizeSettings(await storage.get({ ...DEFAULTS }));
}

/** Writes a partial change (only known keys, sanitized); listeners see it via storage.onChanged. */
export async function writeSettings(change, storage = chrome.storage.local) {
  const merged = sanitizeSettings({ ...(await readSettings(storage)), ...change });
  const patch = {};
  for (const key of Object.keys(change)) if (key in DEFAULTS) patch[key] = merged[key];
  await storage.set(patch);
  return merged;
}
