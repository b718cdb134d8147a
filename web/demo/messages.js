// Message types between the demo page (app.js) and its worker (worker.js), in one place so both sides
// spell them the same. Page → worker: INIT once, then CLASSIFY per file, CANCEL to drop queued work.
// Worker → page: READY or INIT_FAILED once, then one RESULT per CLASSIFY that was not cancelled, one
// PROBED per PROBE and one PERSONAL per CORRECT.
export const MSG = Object.freeze({
  INIT: 'init',             // {provider: 'auto'|'wasm'|'webgpu', threads?: ORT wasm threads}
  READY: 'ready',           // {provider, threads, workers (WASM pool; absent for one session), modelVersion, contract, note}
  INIT_FAILED: 'init-failed', // {message}
  CLASSIFY: 'classify',     // {id, file: File}
  RESULT: 'result',         // {id, result: classify() result or {ok:false, code, message}}
  CANCEL: 'cancel',         // {} drops every CLASSIFY not yet started
  // A card's thumbnail waits for the core's look at the file's header: an <img> decodes an image over the
  // core's pixel cap in full (seconds without a painted frame for a 20000×20000 PNG).
  PROBE: 'probe',           // {id, file}
  PROBED: 'probed',         // worker → page: {id, show: false when the header says too large or a JPEG's cannot be found}
  // Corrections (issue #19): the worker keeps each result's embedding and fits the personal layer
  // (lib/personal-layer.js, as the extension does) off the page's main thread.
  CORRECT: 'correct',       // {id, label, correction}: the user's label for a card; correction numbers them 1, 2, …
  FORGET: 'forget',         // {}: the page was cleared; drop results and corrections
  PERSONAL: 'personal',     // worker → page: {correction, learned: N, adjusted: [{id, scores, personal}]} after each CORRECT
});

// Providers the page accepts in ?provider=; anything else falls back to 'auto'.
export const PROVIDERS = Object.freeze(['auto', 'wasm', 'webgpu']);

// Files bigger than this are refused before they are read (the CLI uses the same cap): the core caps
// pixels, but reading a multi-gigabyte file into the worker's memory would already hurt.
export const MAX_FILE_BYTES = 256 * 1024 * 1024;
