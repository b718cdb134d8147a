// The extension's service worker only orchestrates: it answers the content script's "judge this media
// id" with a cached verdict or by fetching the JPEG from pbs.twimg.com (host permission; the offscreen
// document's own fetches are not interceptable by tests and need no network anyway), hands the bytes to
// the classifier host that owns the wasm core and the ONNX Runtime session (Chromium: an offscreen
// document; Firefox, where this script runs as an event page: the page itself; see classifier-host.js),
// and turns the scores into a verdict with the user's current settings (so a settings change needs no
// new inference).
// MV3 may stop this worker whenever it is idle: everything it must remember lives in chrome.storage
// (settings: local; verdict cache: session), and every listener is registered at the top level.
import { MSG, OFFSCREEN_TARGET } from './messages.js';
import { CLASSIFIER_HOST_KIND, classifyInClassifierHost, closeClassifierHost, ensureClassifierHost, hasClassifierHost,
  sendToClassifierHost } from './classifier-host.js';
import { readSettings } from './settings.js';
import { LruCache } from './lru-cache.js';
import { isMediaKey, jpegUrlForMedia } from './media-cells.js';
import { decide } from '../lib/decide.js';
import { createCorrections } from './corrections.js';

const CONTRACT_PATH = 'model/contract.json';
const CACHE_CAPACITY = 3000; // media ids; ~100 bytes each in storage.session (quota 10 MB)
const CACHE_STORAGE_KEY = 'verdictCache';
// storage.session: why WebGPU failed (warm-up too slow, or an error) in this browser session. Later
// offscreen documents go straight to WASM instead of spending the warm-up limit (10 s) again each time
// a media tab opens; a browser restart clears it, so a driver update gets a new try. Finding no GPU
// ("no adapter", or only a software one) is not remembered: probing takes milliseconds.
const WEBGPU_FAILURE_KEY = 'webgpuFailure';
const FOUND_NO_GPU = new Set(['no adapter', 'software adapter only', 'not in this browser']);
const CACHE_SAVE_DELAY_MS = 1000;
const FETCH_TIMEOUT_MS = 15000;
const FETCH_CONCURRENCY = 4; // like a browser's per-host parallelism; inference is serial anyway
const MAX_IMAGE_BYTES = 10 * 2 ** 20; // name=small JPEGs are ~20–150 KB; anything huge is refused
const PAGE_LEFT_CHECK_DELAY_MS = 2000; // after PAGE_LEFT the tab shows its next page (or X again, on a reload)
const X_TAB_URLS = ['https://x.com/*', 'https://twitter.com/*']; // readable via the host permissions
const MEDIA_HOST_ORIGINS = ['https://pbs.twimg.com/*'];
// Failures that depend only on the bytes: cached like verdicts so re-mounts do not refetch them.
const PERMANENT_FAILURES = new Set(['empty_input', 'unsupported_format', 'truncated', 'corrupt', 'too_large', 'bad_argument']);

// ---- state (rebuilt lazily after the worker is restarted) ---------------------------------------

const cache = new LruCache(CACHE_CAPACITY); // media id → {ok:true, scores} | {ok:false, code, message}
let cacheLoaded = null;
const inFlight = new Map(); // media id → Promise<classifier result>, so parallel asks share one fetch
let contractPromise = null;
let lastProvider = null; // {provider, threads, modelVersion, webgpuFallback, ...} from the last run

function loadCache() {
  cacheLoaded ??= chrome.storage.session.get(CACHE_STORAGE_KEY).then(
    (stored) => { for (const [id, value] of stored[CACHE_STORAGE_KEY] ?? []) if (!cache.has(id)) cache.set(id, value); },
    (error) => console.warn('Illust Only: verdict cache unreadable, starting empty:', error));
  return cacheLoaded;
}

let saveTimer = null;
function scheduleCacheSave() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    chrome.storage.session.set({ [CACHE_STORAGE_KEY]: cache.entries() })
      .catch((error) => console.warn('Illust Only: cannot save the verdict cache:', error));
  }, CACHE_SAVE_DELAY_MS);
}

// Read on every verdict (about a millisecond): a cached copy could miss a change that the content
// script hears about before this worker does.
function getSettings() {
  return readSettings();
}

function getContract() {
  contractPromise ??= fetch(chrome.runtime.getURL(CONTRACT_PATH)).then((response) => {
    if (!response.ok) throw new Error(`${CONTRACT_PATH} missing from the extension (HTTP ${response.status})`);
    return response.json();
  });
  contractPromise.catch(() => { contractPromise = null; });
  return contractPromise;
}

// ---- fetching ----------------------------------------------------------------------------------

let fetchesRunning = 0;
const fetchWaiters = [];
async function withFetchSlot(task) {
  while (fetchesRunning >= FETCH_CONCURRENCY) await new Promise((resolve) => fetchWaiters.push(resolve));
  fetchesRunning += 1;
  try { return await task(); } finally { fetchesRunning -= 1; fetchWaiters.shift()?.(); }
}

/** The media's JPEG bytes, or {ok:false, code, message}. */
async function fetchMediaBytes(mediaId) {
  const url = jpegUrlForMedia(mediaId);
  // Not a media key (an imported correction's id, say): nothing to fetch, never a URL made of it.
  if (!url) return { ok: false, code: 'bad_argument', message: `not a media key: ${JSON.stringify(mediaId)?.slice(0, 80)}` };
  return withFetchSlot(async () => {
    let response;
    try {
      response = await fetch(url, { credentials: 'omit', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    } catch (error) {
      // Firefox lets the user withhold (or revoke) host permissions: say so rather than "network error".
      if (!(await chrome.permissions.contains({ origins: MEDIA_HOST_ORIGINS }).catch(() => true))) {
        return { ok: false, code: 'no_host_permission', message: `no permission to read ${url} (allow it in the extension's popup)` };
      }
      return { ok: false, code: 'fetch_failed', message: `cannot fetch ${url}: ${error?.message ?? error}` };
    }
    if (!response.ok) return { ok: false, code: 'fetch_failed', message: `${url} answered HTTP ${response.status}` };
    const declared = Number(response.headers.get('content-length'));
    if (declared > MAX_IMAGE_BYTES) return { ok: false, code: 'too_large', message: `${url} is ${declared} bytes (limit ${MAX_IMAGE_BYTES})` };
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.byteLength > MAX_IMAGE_BYTES) return { ok: false, code: 'too_large', message: `${url} is ${bytes.byteLength} bytes (limit ${MAX_IMAGE_BYTES})` };
    return { ok: true, bytes };
  });
}

// ---- the classifier host (classifier-host.js) ------------------------------------------------------

/**
 * Frees the model's memory (~50–100 MB) once no X tab is left; the next media tab reloads it (1–2 s).
 * Asked when a tab closes, when an X page unloads (the tab may have left X) and when the last
 * judgement in flight ends (a tab closed mid-judgement found work in flight and kept it).
 */
async function closeOffscreenIfUnused() {
  try {
    const xTabs = await chrome.tabs.query({ url: X_TAB_URLS });
    if (xTabs.length > 0 || inFlight.size > 0 || !(await hasClassifierHost())) return;
    await closeClassifierHost();
  } catch (error) {
    console.info(`Illust Only: ${CLASSIFIER_HOST_KIND} not closed:`, error?.message ?? error); // already closed, or closing
  }
}

/** The provider to ask the offscreen document for ('auto' | 'wasm') and, for 'wasm', why. */
async function providerChoice() {
  const [settings, stored] = await Promise.all([
    getSettings(), chrome.storage.session.get(WEBGPU_FAILURE_KEY).catch(() => ({})),
  ]);
  if (!settings.useGpu) return { provider: 'wasm', why: 'off in settings' };
  const failure = stored[WEBGPU_FAILURE_KEY];
  if (typeof failure === 'string') return { provider: 'wasm', why: `${failure}, earlier in this browser session` };
  return { provider: 'auto' };
}

/** Keeps the classifier's description for the popup; remembers a WebGPU failure (see WEBGPU_FAILURE_KEY). */
function noteClassifier(info) {
  if (!info?.provider) return;
  lastProvider = info;
  if (info.requested === 'auto' && info.provider === 'wasm' && info.webgpuFallback && !FOUND_NO_GPU.has(info.webgpuFallback)) {
    chrome.storage.session.set({ [WEBGPU_FAILURE_KEY]: info.webgpuFallback })
      .catch((error) => console.warn('Illust Only: cannot remember the WebGPU failure:', error));
  }
}

/**
 * Makes sure the classifier host exists; resolves to the provider choice that travels with each
 * message (an offscreen document cannot read chrome.storage itself).
 */
async function offscreenWithChoice() {
  const [choice] = await Promise.all([providerChoice(), ensureClassifierHost()]);
  return choice;
}

/** Sends a control message to the classifier host, with the execution provider the settings ask for. */
async function askOffscreen(message) {
  const choice = await offscreenWithChoice();
  return sendToClassifierHost({ ...message, ...choice });
}

/** The classifier's result for these bytes ({ok:false, code:'offscreen_failed'} when its host cannot be reached). */
async function classifyInOffscreen(bytes) {
  const choice = await offscreenWithChoice();
  return classifyInClassifierHost(bytes, choice);
}

// ---- corrections (issue #19; the logic lives in corrections.js) -----------------------------------

const corrections = createCorrections({
  getContract,
  // The image judged again, for its embedding (a correction of a verdict cached without one, or a new
  // model version).
  async computeEmbedding(mediaId) {
    const fetched = await fetchMediaBytes(mediaId);
    if (!fetched.ok) return fetched;
    const result = await classifyInOffscreen(fetched.bytes);
    noteClassifier(result.provider);
    return result;
  },
  // Open pages re-decide their verdicts when chrome.storage.local changes (content script's listener).
  announce() {
    chrome.storage.local.set({ correctionsChangedAt: Date.now() }).catch(() => {});
  },
});

// ---- classification ------------------------------------------------------------------------------

/** Scores for a media id: from the cache, or fetched and run in the offscreen document. */
async function scoresForMedia(mediaId, account) {
  await loadCache();
  const cached = cache.get(mediaId);
  if (cached) return { ...cached, cached: true };
  if (inFlight.has(mediaId)) return inFlight.get(mediaId);
  const job = (async () => {
    const fetched = await fetchMediaBytes(mediaId);
    if (!fetched.ok) return fetched;
    let result;
    try {
      result = await classifyInOffscreen(fetched.bytes);
    } catch (error) {
      return { ok: false, code: 'offscreen_failed', message: `the classifier did not answer: ${error?.message ?? error}` };
    }
    noteClassifier(result.provider);
    if (result.ok) {
      corrections.rememberMedia(mediaId, result, account); // scores + embedding, for corrections; never rejects, not awaited: the verdict does not wait for IndexedDB
      const entry = { ok: true, scores: result.scores };
      cache.set(mediaId, entry);
      scheduleCacheSave();
      return { ...entry, ms: result.ms, width: result.width, height: result.height };
    }
    const failure = { ok: false, code: result.code ?? 'classify_failed', message: result.message ?? 'the classifier failed' };
    if (PERMANENT_FAILURES.has(failure.code)) { cache.set(mediaId, failure); scheduleCacheSave(); }
    return failure;
  })().finally(() => {
    inFlight.delete(mediaId);
    if (inFlight.size === 0) closeOffscreenIfUnused();
  });
  inFlight.set(mediaId, job);
  return job;
}

/** The answer to CLASSIFY_MEDIA: {ok:true, mediaId, label, hide, threshold, scores, cached} | {ok:false, code, message}. */
async function classifyMedia(mediaId, account) {
  // A media id, or a video's or GIF's poster key (its poster frame is judged): see media-cells.js.
  if (!isMediaKey(mediaId)) {
    return { ok: false, code: 'bad_argument', message: `not a media key: ${JSON.stringify(mediaId)?.slice(0, 80)}` };
  }
  let contract;
  try { contract = await getContract(); } catch (error) {
    return { ok: false, code: 'no_model', message: String(error?.message ?? error) };
  }
  const result = await scoresForMedia(mediaId, account);
  if (!result.ok) return { ...result, mediaId };
  const settings = await getSettings();
  const personal = await corrections.adjust(mediaId, result.scores, account); // the shipped scores when nothing applies
  const { label, hide, threshold } = decide(personal.scores, contract, settings);
  return { ok: true, mediaId, label, hide, threshold, scores: result.scores, personal: personal.personal, cached: Boolean(result.cached), ms: result.ms };
}

/** The classifier's description; loads the classifier first if needed (PREPARE relies on that). */
async function offscreenStatus() {
  const answer = await askOffscreen({ type: MSG.OFFSCREEN_STATUS });
  noteClassifier(answer);
  return answer;
}

async function status() {
  const [settings, offscreen] = await Promise.all([getSettings(), hasClassifierHost()]);
  await loadCache();
  let classifier = lastProvider;
  if (offscreen) {
    try { classifier = await offscreenStatus(); } catch (error) {
      classifier = { ok: false, message: String(error?.message ?? error) };
    }
  }
  return { ok: true, enabled: settings.enabled, offscreen, classifierHost: CLASSIFIER_HOST_KIND, cacheSize: cache.size, classifier };
}

// ---- listeners (top level, so a restarted worker hears the event that woke it) ------------------

function answerWith(promise, sendResponse) {
  promise.then(sendResponse, (error) => sendResponse({ ok: false, code: 'internal', message: String(error?.message ?? error) }));
  return true; // keeps the channel open for the asynchronous answer
}

chrome.tabs.onRemoved.addListener(() => { closeOffscreenIfUnused(); });

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (message?.target === OFFSCREEN_TARGET || sender.id !== chrome.runtime.id) return false;
  switch (message?.type) {
    case MSG.CLASSIFY_MEDIA:
      return answerWith(classifyMedia(message.mediaId, message.account), sendResponse);
    case MSG.CORRECT_MEDIA:
      // A photo's media id or a video's or GIF's poster key: a correction applies to either.
      if (!isMediaKey(message.mediaId)) return answerWith(Promise.resolve({ ok: false, code: 'bad_argument', message: 'not a media key' }), sendResponse);
      return answerWith(corrections.correct(message).then(async (answer) => (
        answer.ok ? { ...answer, verdict: await classifyMedia(message.mediaId, message.account) } : answer)), sendResponse);
    case MSG.GET_CORRECTIONS:
      return answerWith(corrections.status(), sendResponse);
    case MSG.UNDO_CORRECTION:
      return answerWith(corrections.undo(), sendResponse);
    case MSG.RESET_CORRECTIONS:
      return answerWith(corrections.reset(), sendResponse);
    case MSG.EXPORT_CORRECTIONS:
      return answerWith(corrections.exportFile(), sendResponse);
    case MSG.IMPORT_CORRECTIONS:
      return answerWith(corrections.importFile(message), sendResponse);
    case MSG.PREPARE:
      return answerWith(offscreenStatus(), sendResponse); // loads the classifier
    case MSG.PAGE_LEFT:
      setTimeout(() => { closeOffscreenIfUnused(); }, PAGE_LEFT_CHECK_DELAY_MS);
      return false;
    case MSG.GET_SETTINGS:
      return answerWith(getSettings().then((settings) => ({ ok: true, settings })), sendResponse);
    case MSG.GET_STATUS:
      return answerWith(status(), sendResponse);
    default:
      return false; // e.g. the content script's own message types, answered by tabs
  }
});
