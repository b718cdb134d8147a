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

let classifierModule = null; // Promise<offscreen.js's exports>

export async function ensureClassifierHost() {
  classifierModule ??= import('./offscreen.js').catch((error) => {
    classifierModule = null;
    throw new Error(`cannot load the classifier (${error?.message ?? error})`);
  });
  await classifierModule;
}

export async function hasClassifierHost() {
  if (!classifierModule) return false;
  return (await classifierModule).hasClassifier();
}

export async function sendToClassifierHost(message) {
  await ensureClassifierHost();
  return (await classifierModule).answerHostMessage(message);
}

export async function classifyInClassifierHost(bytes, choice) {
  try {
    await ensureClassifierHost();
  } catch (error) {
    return { ok: false, code: 'no_model', message: String(error?.message ?? error) };
  }
  const buffer = bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer : bytes.slice().buffer;
  return answerWithin((await classifierModule).answerHostMessage({ type: MSG.OFFSCREEN_CLASSIFY, bytes: buffer, ...choice }));
}

export async function closeClassifierHost() {
  if (classifierModule) await (await classifierModule).releaseClassifier();
}
