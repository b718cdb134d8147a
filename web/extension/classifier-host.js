// The service worker's one door to the classifier, whichever browser runs the extension. Inference
// needs a page (ONNX Runtime's dynamic import(), worker threads), which an MV3 background may not be:
//   Chromium: a service worker, so the classifier lives in an offscreen document it creates
//             (classifier-host-offscreen.js);
//   Firefox:  an event page (background.scripts) with a DOM and workers, and no offscreen documents,
//             so the classifier runs right there (classifier-host-in-page.js).
// Both run offscreen.js's classifier and take the same messages (messages.js: OFFSCREEN_CLASSIFY,
// OFFSCREEN_STATUS), so the service worker does not know which browser it is in.
//
//   await ensureClassifierHost();                     // idempotent; the host starts (not the model)
//   await hasClassifierHost();                         // → boolean: is one up (holding the model or ready to)
//   await sendToClassifierHost({type, provider, why}); // → the host's answer (OFFSCREEN_STATUS)
//   await classifyInClassifierHost(bytes, {provider, why}); // → classifier result; never rejects
//   await closeClassifierHost();                       // frees the model's memory
//   await keepAwakeWhile(() => work());                // → work's result; the background is not suspended meanwhile
import * as offscreenHost from './classifier-host-offscreen.js';
import * as inPageHost from './classifier-host-in-page.js';

// chrome.offscreen exists only where the background is a service worker that needs it (Chromium).
const host = globalThis.chrome?.offscreen ? offscreenHost : inPageHost;

/** 'offscreen document' | 'background page': where inference runs, for the popup's status. */
export const CLASSIFIER_HOST_KIND = host.KIND;
export const { ensureClassifierHost, hasClassifierHost, sendToClassifierHost, classifyInClassifierHost, closeClassifierHost, keepAwakeWhile } = host;
