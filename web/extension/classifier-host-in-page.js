// The classifier host for Firefox (see classifier-host.js): its MV3 background is an event page with a
// DOM and workers, so offscreen.js's classifier runs in it directly. It is imported on first use, so a
// Chromium service worker (where import() is not allowed) never loads it; the bytes are handed over
// without a copy.
import { MSG } from './messages.js';

export const KIND = 'background page';
// As the offscreen host's: a classify that never answers (a runtime stuck) must not hold the service
// worker's in-flight entry for that media, nor keep the classifier from being released, for ever.
const CLASSIFY_ANSWER_TIMEOUT_MS = 60000;

/** `answer`, or {ok:false, code:'offscreen_failed'} once `ms` pass without one; never rejects. */
export async function answerWithin(answer, ms = CLASSIFY_ANSWER_TIMEOUT_MS) {
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, code: 'offscreen_failed', message: `no answer from the classifier within ${ms / 1000} s` }), ms);
  });
  try {
    return await Promise.race([answer.catch((error) => ({ ok: false, code: 'internal', message: String(error?.message ?? error) })), late]);
  } finally {
    clearTimeout(timer);
  }
}

// Firefox suspends an event page after 30 s (extensions.background.idle.timeout) without an event or
// an extension API call, even while it owes a content script answers: a slow model load or a long queue
// would end with every waiting cell shown unjudged, and so would a judgement waiting for its thumbnail
// (the page's load, then the worker's own fetch: seconds each). A call to the parent process resets
// that timer, so one is made every KEEP_AWAKE_EVERY_MS while the classifier has work and while the
// service worker owes an answer or carries corrections over (it calls keepAwakeWhile through
// classifier-host.js). Idle, the page is suspended as before, and the model with it.
const KEEP_AWAKE_EVERY_MS = 10000;
let busyCalls = 0;
let keepAwakeTimer = null;

/** `work()`'s result; while any such work is unsettled, `ping` runs every `every` ms (one timer for all). */
export async function keepAwakeWhile(work, { every = KEEP_AWAKE_EVERY_MS, ping = () => chrome.runtime.getPlatformInfo() } = {}) {
  busyCalls += 1;
  keepAwakeTimer ??= setInterval(() => { Promise.resolve().then(ping).catch(() => {}); }, every);
  try {
    return await work();
  } finally {
    busyCalls -= 1;
    if (busyCalls === 0) {
      clearInterval(keepAwakeTimer);
      keepAwakeTimer = null;
    }
  }
}

let classifierModule = null; // Promise<offscreen.js's exports>

export async function ensureClassifierHost() {
  classifierModule ??= import('./offscreen.js').catch((error) => {
    classifierModule = null;
    // reason and details: the popup says it in the browser's language (classifier-label.js).
    throw Object.assign(new Error(`cannot load the classifier (${error?.message ?? error})`),
      { reason: 'host_unavailable', details: { cause: String(error?.message ?? error) } });
  });
  await classifierModule;
}

export async function hasClassifierHost() {
  if (!classifierModule) return false;
  return (await classifierModule).hasClassifier();
}

export async function sendToClassifierHost(message) {
  return keepAwakeWhile(async () => {
    await ensureClassifierHost();
    return (await classifierModule).answerHostMessage(message);
  });
}

export async function classifyInClassifierHost(bytes, choice) {
  return keepAwakeWhile(async () => {
    try {
      await ensureClassifierHost();
    } catch (error) {
      return { ok: false, code: 'no_model', message: String(error?.message ?? error), reason: error.reason, details: error.details };
    }
    const buffer = bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer : bytes.slice().buffer;
    return answerWithin((await classifierModule).answerHostMessage({ type: MSG.OFFSCREEN_CLASSIFY, bytes: buffer, ...choice }));
  });
}

export async function closeClassifierHost() {
  if (classifierModule) await (await classifierModule).releaseClassifier();
}
