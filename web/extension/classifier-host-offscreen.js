// The classifier host for Chromium (see classifier-host.js): an offscreen document (offscreen.html,
// offscreen-document.js) runs offscreen.js's classifier, since an MV3 service worker may neither
// import() ONNX Runtime nor keep worker threads. Created idempotently on demand, closed when unused.
//
// Image bytes go to the document by web messaging (client.postMessage with the buffer transferred),
// not chrome.runtime messaging, which serialises every message as JSON through the browser process
// (base64: 1.33 bytes per byte, encoded, copied and parsed on each hop). Small control messages
// (status) use chrome.runtime, marked with OFFSCREEN_TARGET.
import { MSG, OFFSCREEN_TARGET } from './messages.js';

export const KIND = 'offscreen document';

const OFFSCREEN_PATH = 'offscreen.html';
const OFFSCREEN_ANSWER_RETRIES = 20; // the document's listener may not be up the instant it exists
const CLASSIFY_ANSWER_TIMEOUT_MS = 60000; // the content script gives up sooner; this only frees the entry

let offscreenCreating = null;

export async function hasClassifierHost() {
  const contexts = await chrome.runtime.getContexts({
    contextTypes: ['OFFSCREEN_DOCUMENT'], documentUrls: [chrome.runtime.getURL(OFFSCREEN_PATH)],
  });
  return contexts.length > 0;
}

/** Creates the offscreen document unless it exists; safe to call from many requests at once. */
export async function ensureClassifierHost() {
  if (await hasClassifierHost()) return;
  offscreenCreating ??= chrome.offscreen.createDocument({
    url: OFFSCREEN_PATH,
    reasons: [chrome.offscreen.Reason.WORKERS],
    justification: 'Runs the image classifier (WebAssembly decoder and ONNX Runtime with worker threads) off the service worker.',
  }).catch((error) => {
    // Another request (or a previous life of this worker) won the race: the document exists.
    if (!/single offscreen document/i.test(String(error?.message))) throw error;
  }).finally(() => { offscreenCreating = null; });
  await offscreenCreating;
}

/**
 * `work()`'s result. Nothing to do here: Chromium keeps a service worker alive while a message port to it
 * is open, up to 5 minutes (a sendMessage's stays open until it is answered: an answer owed for 45 s,
 * past the 30 s idle timeout, arrived in Chromium 156), so a judgement is not cut off; the offscreen
 * document is never suspended. Work owed to no message (corrections carried over to a new model) calls
 * extension APIs between its steps (a fetch of at most 15 s, a classify), each under the 30 s idle timeout.
 */
export async function keepAwakeWhile(work) {
  return work();
}

export async function closeClassifierHost() {
  await chrome.offscreen.closeDocument();
}

/** Sends a control message to the offscreen document (which creates it first if needed). */
export async function sendToClassifierHost(message) {
  await ensureClassifierHost();
  for (let attempt = 0; ; attempt += 1) {
    try {
      const answer = await chrome.runtime.sendMessage({ ...message, target: OFFSCREEN_TARGET });
      if (answer !== undefined) return answer;
    } catch (error) {
      if (attempt >= OFFSCREEN_ANSWER_RETRIES || !/Receiving end does not exist/i.test(String(error?.message))) throw error;
    }
    if (attempt >= OFFSCREEN_ANSWER_RETRIES) throw new Error('the offscreen document does not answer');
    await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)));
  }
}

const pendingClassify = new Map(); // request id → {resolve, timer}
// The offscreen document outlives a worker restart and may still answer the last life's requests:
// ids carry this life's own prefix, so such an answer cannot settle a new request of the same number.
const CLASSIFY_ID_PREFIX = `${crypto.randomUUID()}:`;
let nextClassifyId = 1;

async function offscreenClient() {
  const want = chrome.runtime.getURL(OFFSCREEN_PATH);
  for (let attempt = 0; attempt <= OFFSCREEN_ANSWER_RETRIES; attempt += 1) {
    const windows = await self.clients.matchAll({ includeUncontrolled: true, type: 'window' });
    const client = windows.find((c) => c.url === want);
    if (client) return client;
    await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)));
  }
  throw new Error('the offscreen document does not answer');
}

/**
 * Resolves to the classifier's result; {ok:false, code:'offscreen_failed'} when the document cannot be
 * reached. A document that closes or crashes before it answers (its renderer out of memory, say) loses
 * the images sent to it: each is sent once more, to a new document, instead of waiting out the timeout
 * (the content script would show them unjudged, and with nothing answered, every cell still queued).
 */
export async function classifyInClassifierHost(bytes, choice) {
  const first = await classifyInDocument(bytes.slice(), choice); // a copy goes: `bytes` stays for a second try
  if (!first.documentClosed) return first;
  const { documentClosed, ...second } = await classifyInDocument(bytes, choice);
  return second;
}

async function classifyInDocument(bytes, choice) {
  let client;
  try {
    await ensureClassifierHost();
    client = await offscreenClient();
  } catch (error) {
    return { ok: false, code: 'offscreen_failed', message: `the classifier did not answer: ${error?.message ?? error}` };
  }
  return new Promise((resolve) => {
    const id = CLASSIFY_ID_PREFIX + nextClassifyId++;
    const timer = setTimeout(() => {
      pendingClassify.delete(id);
      resolve({ ok: false, code: 'offscreen_failed', message: `no answer from the classifier within ${CLASSIFY_ANSWER_TIMEOUT_MS / 1000} s` });
    }, CLASSIFY_ANSWER_TIMEOUT_MS);
    pendingClassify.set(id, { resolve, timer, clientId: client.id, sentAt: performance.now() });
    watchForClosedDocument();
    const buffer = bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer : bytes.slice().buffer;
    client.postMessage({ ...choice, type: MSG.OFFSCREEN_CLASSIFY, id, bytes: buffer }, [buffer]);
  });
}

// While answers are awaited, the document they were sent to is looked for now and then: gone, its
// requests end at once (documentClosed), and classifyInClassifierHost sends them to a new one.
const CLOSED_CHECK_MS = 1000;
let closedCheck = null;
function watchForClosedDocument() {
  closedCheck ??= setInterval(async () => {
    if (pendingClassify.size === 0) { clearInterval(closedCheck); closedCheck = null; return; }
    const lookedAt = performance.now(); // a request sent meanwhile may be to a document not listed yet
    const windows = await self.clients.matchAll({ includeUncontrolled: true, type: 'window' }).catch(() => null);
    if (!windows) return;
    const open = new Set(windows.map((c) => c.id));
    for (const [id, { resolve, timer, clientId, sentAt }] of pendingClassify) {
      if (open.has(clientId) || sentAt >= lookedAt) continue;
      pendingClassify.delete(id);
      clearTimeout(timer);
      resolve({ ok: false, code: 'offscreen_failed', message: 'the offscreen document closed before it answered', documentClosed: true });
    }
  }, CLOSED_CHECK_MS);
}

// The offscreen document's answers to OFFSCREEN_CLASSIFY (web messaging, see above). Registered when
// the service worker starts (this module is imported at its top level).
self.addEventListener('message', (event) => {
  const { data } = event;
  if (data?.type !== MSG.OFFSCREEN_RESULT || !pendingClassify.has(data.id)) return;
  const { resolve, timer } = pendingClassify.get(data.id);
  pendingClassify.delete(data.id);
  clearTimeout(timer);
  resolve(data.result);
});
