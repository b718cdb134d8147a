// Image bytes travel from the service worker (which may fetch pbs.twimg.com, and whose fetches tests
// can answer) to the offscreen document (which runs the model) inside chrome.runtime messages.
// Chromium serialises those messages as JSON, so an ArrayBuffer arrives as {} and a plain number
// array costs ~3.7 characters per byte; base64 costs 1.33 and is cheap to make. Measured in this
// project's Chromium on a 60 KB JPEG: see web/extension/README.md ("Moving bytes").

const CHUNK = 0x8000; // String.fromCharCode(...chunk) stays far below the argument-count limit

/** Uint8Array → base64 string. */
export function bytesToBase64(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytesToBase64: expected a Uint8Array');
  if (typeof bytes.toBase64 === 'function') return bytes.toBase64(); // native where the browser has it
  let binary = '';
  for (let i = 0; i < bytes.length; i += CHUNK) binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(binary);
}

/** base64 string → Uint8Array; throws a TypeError on anything that is not base64. */
export function base64ToBytes(text) {
  if (typeof text !== 'string') throw new TypeError('base64ToBytes: expected a string');
  if (typeof Uint8Array.fromBase64 === 'function') {
    try { return Uint8Array.fromBase64(text); } catch { throw new TypeError('base64ToBytes: not base64'); }
  }
  let binary;
  try { binary = atob(text); } catch { throw new TypeError('base64ToBytes: not base64'); }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
