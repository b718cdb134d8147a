// The extension's service worker only orchestrates: it answers the content script's "judge this media
// The extension's service worker only orchestrates: it answers the content script's "judge this media
// key" (a photo's media id, or a video's or GIF's poster key: its poster frame is judged; see
// media-cells.js) with a remembered verdict or by judging the thumbnail's bytes the content script read
// from the page's HTTP cache (or, when it could not, fetching them from pbs.twimg.com itself: host
// permission; the classifier host's own fetches are not interceptable by tests and need no network
// anyway), hands the bytes to the classifier host that owns the wasm core and the ONNX Runtime session
// (Chromium: an offscreen document; Firefox, where this script runs as an event page: the page itself;
// see classifier-host.js), applies the user's corrections (corrections.js) to the model's scores, and
// turns them into a verdict with the user's current settings (so a settings change needs no new
// inference).
// MV3 may stop this worker whenever it is idle: everything it must remember lives in chrome.storage
// (settings: local) or IndexedDB (scores per media id and model version, across browser restarts:
// verdict-store.js), and every listener is registered at the top level.
// Private windows (incognito; the extension's default "spanning" mode in Chromium, the only one in
// Firefox) talk to this same worker, whose IndexedDB and HTTP cache are the normal profile's, on disk.
// Nothing a private tab does is written there: its verdicts stay in memory until the last private
// window closes, remembered verdicts are read without being marked used, images are fetched without
// the HTTP cache, and its corrections are refused (they would store the account and the image).
import { MSG, OFFSCREEN_TARGET } from './messages.js';
import { CLASSIFIER_HOST_KIND, classifyInClassifierHost, closeClassifierHost, ensureClassifierHost, hasClassifierHost,
  keepAwakeWhile, sendToClassifierHost } from './classifier-host.js';
import { readSettings } from './settings.js';
import { t } from './i18n.js';
import { LruCache } from './lru-cache.js';
import { VerdictStore } from './verdict-store.js';
import { isGoneStatus, isJpegUrlOf, isMediaKey, isMediaTabPath, isProfilePath, jpegUrlForMedia, mediaKeyFromUrl } from './media-cells.js';
import { decide } from '../lib/decide.js';
import { createCorrections } from './corrections.js';
import { createThumbnailTap } from './thumbnail-tap.js';

const CONTRACT_PATH = 'model/contract.json';
const CACHE_CAPACITY = 3000; // media ids kept in this worker's memory, in front of the IndexedDB store
const MAX_LOOKUP_IDS = 500; // one LOOKUP_VERDICTS message: a screenful or a long grid, not unbounded
// storage.session: why WebGPU failed (warm-up too slow, or an error) in this browser session. Later
// offscreen documents go straight to WASM instead of spending the warm-up limit (10 s) again each time
// a media tab opens; a browser restart clears it, so a driver update gets a new try. Finding no GPU
// ("no adapter", or only a software one) is not remembered: probing takes milliseconds.
const WEBGPU_FAILURE_KEY = 'webgpuFailure';
const FOUND_NO_GPU = new Set(['no adapter', 'software adapter only', 'not in this browser']);
const FETCH_TIMEOUT_MS = 15000;
// Firefox: how long a thumbnail the content script had the page load may take to be requested by the
// page (thumbnail-tap.js) before it is fetched here instead (a load that never starts; a load that failed
// ends the wait at once, and so does one the page answered from its image memory, which the tap never
// sees: the content script says so).
const TAP_APPEAR_MS = 3000;
// Firefox: how long the page's load of that thumbnail, once sent, may wait for its response before it is
// fetched here instead. A slow link or server answers the page seconds after its request (behind its
// other thumbnails too): a fetch beside it downloaded each such thumbnail twice. Leaves the fetch time
// within the content script's verdict timeout (20 s) for a load that never answers.
const TAP_ANSWER_MS = 10000;
const FETCH_CONCURRENCY = 4; // like a browser's per-host parallelism; inference is serial anyway
const MAX_IMAGE_BYTES = 10 * 2 ** 20; // name=small JPEGs are ~20–150 KB; anything huge is refused
const PAGE_LEFT_CHECK_DELAY_MS = 2000; // after PAGE_LEFT the tab shows its next page (or X again, on a reload)
const X_TAB_URLS = ['https://x.com/*', 'https://twitter.com/*']; // readable via the host permissions
const MEDIA_HOST_ORIGINS = ['https://pbs.twimg.com/*'];
// Failures that depend only on the bytes: cached like verdicts so re-mounts do not refetch them.
const PERMANENT_FAILURES = new Set(['empty_input', 'unsupported_format', 'truncated', 'corrupt', 'too_large', 'bad_argument']);

// ---- state (rebuilt lazily after the worker is restarted) ---------------------------------------

const cache = new LruCache(CACHE_CAPACITY); // media id → {ok:true, scores} | {ok:false, code, message}
const remembered = new VerdictStore(); // the same values, per model version, across browser restarts
// Private tabs' verdicts (see the top), with each image's embedding for the personal layer: memory
// only, cleared when the last private window closes. A judgement that started before a clear (its
// epoch is older) is not kept.
const privateCache = new LruCache(CACHE_CAPACITY);
let privateEpoch = 0;
// Bumped by the popup's "Forget remembered verdicts": a judgement or a store read that started before
// it keeps nothing (in memory, the verdict store or the corrections' image store), or forgotten
// verdicts came back once it ended.
let forgetEpoch = 0;
/** The epoch a value read or judged now belongs to: it is kept only while that is still current. */
const epochFor = (privateTab) => (privateTab ? privateEpoch : forgetEpoch);
// (private ? 'private ' : '') + epoch + media id → Promise<classifier result>, so parallel asks share one
// fetch; a private tab's judgement is kept apart, as it is remembered differently, and one begun before
// a Forget keeps nothing: an ask after it starts its own, which is remembered.
const inFlight = new Map();
// Work in the classifier host besides the judgements in inFlight (a correction's embedding, carrying
// corrections over to a new model, the popup's status): the host is not closed under it.
let hostWork = 0;
let contractPromise = null;
let settingsChanges = 0; // chrome.storage.local changes heard, so a verdict in flight can tell it read stale settings
let lastProvider = null; // {provider, threads, modelVersion, webgpuFallback, ...} from the last run
// Why the classifier last failed to start (the model or a runtime file unreadable, no worker left), until
// one starts: the host then has none loaded, and the popup must say why rather than "not loaded".
let classifierFailure = null; // {ok: false, code: 'no_model', message, reason?, details?}
// The first time (epoch ms) this worker life reached each cold-start step; the media-tab benchmark reads
// it (with the offscreen document's own steps) to show where a fresh profile's first verdict goes.
const startupSteps = { serviceWorkerStarted: performance.timeOrigin };
globalThis.illustOnlyStartupSteps = startupSteps;
const stepReached = (name) => { startupSteps[name] ??= performance.timeOrigin + performance.now(); };

/** The tab that sent a message is in a private (incognito) window. */
const fromPrivateTab = (sender) => sender?.tab?.incognito === true;

// Firefox: copies of the thumbnails the page downloads, as they pass (thumbnail-tap.js): its HTTP cache
// never answers an extension's read with the page's download. Registered at the top level, so the
// event page hears every image load; unavailable in Chromium (no webRequest permission), where the
// content script reads the page's download from the HTTP cache.
// While the extension is switched off, X's images pass untouched (the setting as last read or changed;
// on when not yet read, as the extension starts on).
let judging = true;
const thumbnailTap = createThumbnailTap({ webRequest: globalThis.browser?.webRequest ?? null, copying: () => judging });
/** Keeps `judging` with the setting, where a tap exists to ask it (Chromium has none: nothing to read). */
function followJudging() {
  if (thumbnailTap.available) readSettings().then((settings) => { judging = Boolean(settings.enabled); }, () => {});
}
followJudging();

/**
 * Keeps a judged media's value in memory and in the store (under the model version that judged it);
 * a private tab's in memory only.
 */
function remember(mediaId, value, modelVersion, privateTab, epoch) {
  if (epoch !== epochFor(privateTab)) return; // forgotten (or the private windows closed) since it began
  keepInMemory(mediaId, value, privateTab, epoch);
  if (!privateTab) remembered.put(modelVersion, mediaId, value);
}

/** The worker's memory of a value, unless it was forgotten (or the private windows closed) since `epoch`. */
function keepInMemory(mediaId, value, privateTab, epoch) {
  if (epoch !== epochFor(privateTab)) return;
  (privateTab ? privateCache : cache).set(mediaId, value);
}

/**
 * The remembered values of these media ids (memory first, then one IndexedDB transaction for the
 * rest), as Map(mediaId → value); ids never judged under this model are left out. A private tab also
 * sees its own window's verdicts, and its read of the store writes nothing.
 */
async function rememberedValues(mediaIds, modelVersion, privateTab = false) {
  const found = new Map();
  const missing = [];
  for (const mediaId of mediaIds) {
    const value = (privateTab ? privateCache.get(mediaId) : undefined) ?? cache.get(mediaId);
    if (value) found.set(mediaId, value); else missing.push(mediaId);
  }
  const epoch = epochFor(privateTab);
  for (const [mediaId, value] of await remembered.getMany(modelVersion, missing, { markUsed: !privateTab })) {
    keepInMemory(mediaId, value, privateTab, epoch);
    found.set(mediaId, value);
  }
  return found;
}

/**
 * Takes out of `found` (rememberedValues()'s answer) the images `account`'s corrections should decide but
 * whose embeddings are no longer stored (corrections.js's lackingEmbeddings): they are judged again,
 * which stores them (a private tab keeps the embedding with its verdict, in memory). Returns them, so a
 * judgement that fails falls back to the remembered verdict.
 */
async function takeOutLackingEmbeddings(found, account) {
  const withoutEmbedding = [...found].filter(([, value]) => value.ok && !value.embedding).map(([mediaId]) => mediaId);
  const lacking = new Map();
  for (const mediaId of await corrections.lackingEmbeddings(withoutEmbedding, account)) {
    lacking.set(mediaId, found.get(mediaId));
    found.delete(mediaId);
  }
  return lacking;
}

function forgetPrivateVerdicts() {
  privateEpoch += 1;
  privateCache.clear();
}

/** Forgets the private windows' verdicts once none is open (the window closing, removedId, may be the last). */
async function forgetPrivateVerdictsIfNoPrivateWindow(removedId) {
  try {
    const windows = await chrome.windows.getAll();
    if (!windows.some((w) => w.incognito && w.id !== removedId)) forgetPrivateVerdicts();
  } catch (error) {
    console.info('Illust Only: cannot list windows:', error?.message ?? error);
  }
}

// Read for every verdict (about a millisecond; more on a busy machine, so classifyMedia reads them while
// the image is judged): a cached copy could miss a change that the content script hears about before
// this worker does.
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

// Fetch slots: a media tab's requests go before low-priority ones (media judged ahead on a profile
// page), which take at most one slot, so looking ahead never slows what the user is waiting for.
let fetchesRunning = 0;
let lowPriorityRunning = 0;
const fetchWaiters = { normal: [], low: [] };
function nextFetchWaiter() {
  if (fetchesRunning >= FETCH_CONCURRENCY) return;
  if (fetchWaiters.normal.length) fetchWaiters.normal.shift()();
  else if (fetchWaiters.low.length && lowPriorityRunning === 0) fetchWaiters.low.shift()();
}
async function withFetchSlot(task, lowPriority) {
  const mayStart = () => fetchesRunning < FETCH_CONCURRENCY && (lowPriority ? lowPriorityRunning === 0 && !fetchWaiters.normal.length : true);
  while (!mayStart()) await new Promise((resolve) => fetchWaiters[lowPriority ? 'low' : 'normal'].push(resolve));
  fetchesRunning += 1;
  if (lowPriority) lowPriorityRunning += 1;
  try { return await task(); } finally {
    fetchesRunning -= 1;
    if (lowPriority) lowPriorityRunning -= 1;
    nextFetchWaiter();
  }
}

/**
 * What the content script sent with CLASSIFY_MEDIA: the thumbnail's bytes (base64, read from the page's
 * HTTP cache) and its URL, checked: {bytes?: Uint8Array, url: a pbs.twimg.com URL of this media}.
 * A URL of other media or another host is replaced by the media's JPEG URL.
 */
function suppliedThumbnail(mediaId, { url, bytesBase64, inImageMemory, httpStatus }) {
  // The URL must name this very media key on pbs.twimg.com (a photo's /media/ID, a poster's
  // ext_tw_video_thumb/… path): whatever the page says, nothing else is ever fetched.
  const ownUrl = typeof url === 'string' && url.startsWith('https://pbs.twimg.com/') && url.length <= 2048 && mediaKeyFromUrl(url) === mediaId;
  const supplied = { url: ownUrl ? url : jpegUrlForMedia(mediaId), shownByPage: ownUrl, inImageMemory: ownUrl && inImageMemory === true };
  // The content script's read of that URL was answered 404/410: fetching it again would get the same
  // answer (the page, the content script and this worker each downloaded a missing poster).
  if (ownUrl && isGoneStatus(httpStatus)) supplied.goneWith = httpStatus;
  if (typeof bytesBase64 === 'string' && bytesBase64.length > 0 && bytesBase64.length <= Math.ceil(MAX_IMAGE_BYTES / 3) * 4) {
    try {
      const binary = atob(bytesBase64);
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
      supplied.bytes = bytes;
    } catch { /* not base64: fetched here instead */ }
  }
  return supplied;
}

/** A failure answered by HTTP for url (a worker's fetch, or the page's own load of it). */
const httpFailure = (url, status) => ({ ok: false, code: 'fetch_failed', httpStatus: status, message: `${url} answered HTTP ${status}` });

/**
 * The bytes at url (the media's thumbnail), or {ok:false, code, message}. For a private tab the HTTP
 * cache (the normal profile's, on disk) is neither read nor written.
 */
async function fetchMediaBytes(url, lowPriority = false, privateTab = false) {
  return withFetchSlot(async () => {
    let response;
    try {
      response = await fetch(url, { credentials: 'omit', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), ...(privateTab ? { cache: 'no-store' } : {}) });
    } catch (error) {
      // Firefox lets the user withhold (or revoke) host permissions: say so rather than "network error".
      if (!(await chrome.permissions.contains({ origins: MEDIA_HOST_ORIGINS }).catch(() => true))) {
        return { ok: false, code: 'no_host_permission', message: `no permission to read ${url} (allow it in the extension's popup)` };
      }
      return { ok: false, code: 'fetch_failed', message: `cannot fetch ${url}: ${error?.message ?? error}` };
    }
    if (!response.ok) return httpFailure(url, response.status);
    const declared = Number(response.headers.get('content-length'));
    if (declared > MAX_IMAGE_BYTES) return { ok: false, code: 'too_large', message: `${url} is ${declared} bytes (limit ${MAX_IMAGE_BYTES})` };
    let bytes;
    try {
      bytes = await bodyWithin(response, MAX_IMAGE_BYTES);
    } catch (error) { // the body stalled past the timeout, or the connection dropped mid-read
      return { ok: false, code: 'fetch_failed', message: `cannot read ${url}: ${error?.message ?? error}` };
    }
    if (!bytes) return { ok: false, code: 'too_large', message: `${url} is over ${MAX_IMAGE_BYTES} bytes` };
    return { ok: true, bytes };
  }, lowPriority);
}

/**
 * The response's body, or null once it passes `limit` bytes (the rest is not downloaded). Read chunk by
 * chunk: a body without a declared length (chunked) that never ends would otherwise fill this worker's
 * memory until the fetch timeout.
 */
async function bodyWithin(response, limit) {
  const chunks = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) { reader.cancel().catch(() => {}); return null; }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) { bytes.set(chunk, offset); offset += chunk.byteLength; }
  return bytes;
}

// ---- the classifier host (classifier-host.js) ------------------------------------------------------

/** Starts the classifier host unless it is up (the cold-start steps time it, for the benchmark). */
async function ensureHost() {
  stepReached('offscreenDocumentRequested');
  await ensureClassifierHost();
  stepReached('offscreenDocumentCreated');
}

/**
 * Frees the model's memory (~50–100 MB) once no X tab is left; the next media tab reloads it (1–2 s).
 * Asked when a tab closes, when an X page unloads (the tab may have left X) and when the last
 * judgement in flight or other host work ends (a tab closed mid-judgement found work and kept it).
 */
async function closeOffscreenIfUnused() {
  try {
    const xTabs = await chrome.tabs.query({ url: X_TAB_URLS });
    if (xTabs.length > 0 || !(await hasClassifierHost())) return;
    if (inFlight.size > 0 || hostWork > 0) return; // checked after the awaits: work may have started meanwhile
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

/**
 * Keeps the classifier's description for the popup (or, for an answer without one, why it could not
 * start); remembers a WebGPU failure (see WEBGPU_FAILURE_KEY).
 */
function noteClassifier(info) {
  if (info?.code === 'no_model') {
    // The reason and its details with the English message: the popup words it (classifier-label.js).
    classifierFailure = { ok: false, code: 'no_model', message: String(info.message ?? 'no details'),
      ...(typeof info.reason === 'string' ? { reason: info.reason, details: info.details } : {}) };
    lastProvider = null;
  }
  if (!info?.provider) return;
  classifierFailure = null;
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
  const [choice] = await Promise.all([providerChoice(), ensureHost()]);
  return choice;
}

/**
 * Counts work in the classifier host (see hostWork) while it runs; when the last ends, the host is
 * closed a little later if nothing else needs it (the next correction of a carry-over starts meanwhile).
 */
async function withHostWork(work) {
  hostWork += 1;
  try {
    return await keepAwakeWhile(work); // owed to no message when corrections are carried over to a new model
  } finally {
    hostWork -= 1;
    if (hostWork === 0 && inFlight.size === 0) setTimeout(() => { closeOffscreenIfUnused(); }, PAGE_LEFT_CHECK_DELAY_MS);
  }
}

/** Sends a control message to the classifier host, with the execution provider the settings ask for. */
async function askOffscreen(message) {
  return withHostWork(async () => {
    const choice = await offscreenWithChoice();
    return sendToClassifierHost({ ...message, ...choice });
  });
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
    const url = jpegUrlForMedia(mediaId);
    // Not a media key (an imported correction's id, say): nothing to fetch, never a URL made of it.
    if (!url) return { ok: false, code: 'bad_argument', message: `not a media key: ${JSON.stringify(mediaId)?.slice(0, 80)}` };
    const epoch = forgetEpoch;
    return withHostWork(async () => {
      const fetched = await fetchMediaBytes(url);
      if (!fetched.ok) return fetched;
      const result = await classifyInOffscreen(fetched.bytes);
      noteClassifier(result.provider ?? result);
      // Remembered as a verdict too: the correction's answer (and the pages' re-decision) would
      // otherwise fetch and judge the same image again (never from a private window: refused there).
      if (result.ok) remember(mediaId, { ok: true, scores: result.scores }, result.provider?.modelVersion ?? (await getContract()).version, false, epoch);
      return result;
    });
  },
  // Open pages re-decide their verdicts when chrome.storage.local changes (content script's listener).
  // A fresh random stamp, not the time: a value written again unchanged fires no onChanged, and two
  // corrections (two tabs at once) can be stored within one millisecond.
  announce() {
    chrome.storage.local.set({ correctionsStamp: crypto.randomUUID() }).catch(() => {});
  },
});

// ---- classification ------------------------------------------------------------------------------

/**
 * The bytes of the thumbnail at url: in Firefox those the page downloaded, if the tap has them or they
 * begin arriving soon (shownByPage: the page shows url, and the content script had it load it; not
 * awaited when inImageMemory: the page answered that load from its image memory, unseen by the tap),
 * else fetched; {ok:false, …} on failure. The page's load answered 404/410 is that failure: fetching
 * url again would get the same answer (goneWith: the content script says so, in Chromium; in Firefox the
 * tap saw it).
 */
async function thumbnailBytes(url, { shownByPage, inImageMemory, goneWith }, lowPriority, privateTab) {
  if (goneWith) return httpFailure(url, goneWith);
  if (shownByPage && thumbnailTap.available) {
    const tapped = await thumbnailTap.copyFor(url, { appearWithinMs: inImageMemory ? 0 : TAP_APPEAR_MS, answerWithinMs: TAP_ANSWER_MS });
    if (tapped?.bytes) return { ok: true, bytes: tapped.bytes };
    if (tapped?.httpStatus) return httpFailure(url, tapped.httpStatus);
  }
  return fetchMediaBytes(url, lowPriority, privateTab);
}

/** The classifier's result for a thumbnail ({bytes} as supplied, else the page's or fetched from {url}), or a failure; never rejects. */
async function judgeThumbnail({ bytes, url, shownByPage = false, inImageMemory = false, goneWith = null }, lowPriority, privateTab) {
  const fetched = bytes ? { ok: true, bytes } : await thumbnailBytes(url, { shownByPage, inImageMemory, goneWith }, lowPriority, privateTab);
  stepReached('firstImageFetched');
  if (!fetched.ok) return fetched;
  let result;
  try {
    result = await classifyInOffscreen(fetched.bytes);
  } catch (error) {
    return { ok: false, code: 'offscreen_failed', message: `the classifier did not answer: ${error?.message ?? error}` };
  }
  noteClassifier(result.provider ?? result);
  return result;
}

/**
 * Scores for a media id: remembered, or judged on the supplied bytes (else fetched) in the classifier
 * host. The model's own scores are remembered; the embedding goes to the corrections' store (account:
 * where it was seen; not from a private tab), and the personal layer is applied by the caller, after this.
 */
async function scoresForMedia(mediaId, modelVersion, { lowPriority, supplied, account = null, privateTab = false }) {
  const found = await rememberedValues([mediaId], modelVersion, privateTab);
  const lackingEmbedding = (await takeOutLackingEmbeddings(found, account)).get(mediaId);
  const cached = found.get(mediaId);
  if (cached) return { ...cached, cached: true };
  const epoch = epochFor(privateTab);
  const jobKey = `${privateTab ? 'private ' : ''}${epoch} ${mediaId}`;
  if (inFlight.has(jobKey)) return inFlight.get(jobKey);
  const job = (async () => {
    stepReached('firstImageFetchQueued');
    let result = await judgeThumbnail(supplied, lowPriority, privateTab);
    // A permanent failure of the page's copy (a WebP/PNG variant) belongs to those bytes, not to the
    // media: the media's JPEG is tried once before a failure is remembered for the media id. A copy
    // that was that JPEG (a poster's .jpg, whatever its size name) is not downloaded again.
    const jpegUrl = jpegUrlForMedia(mediaId);
    if (!result.ok && PERMANENT_FAILURES.has(result.code) && !isJpegUrlOf(supplied.url, mediaId)) {
      console.info(`Illust Only: the page's copy of ${mediaId} failed (${result.code}); trying ${jpegUrl}`);
      result = await judgeThumbnail({ url: jpegUrl }, lowPriority, privateTab);
    }
    // Remembered under the version of the model that judged it (a model update is not matched).
    const judgedBy = result.provider?.modelVersion ?? modelVersion;
    if (result.ok) {
      // Scores + embedding, for corrections; never rejects, not awaited: the verdict does not wait for IndexedDB.
      if (!privateTab && epoch === forgetEpoch) corrections.rememberMedia(mediaId, result, account);
      // A private tab's embedding stays with its verdict, in memory: the personal layer needs it.
      const entry = privateTab ? { ok: true, scores: result.scores, embedding: result.embedding } : { ok: true, scores: result.scores };
      remember(mediaId, entry, judgedBy, privateTab, epoch);
      // The embedding goes to this verdict's personal layer as well: the store's copy may not be written yet.
      return { ...entry, embedding: result.embedding, ms: result.ms, width: result.width, height: result.height };
    }
    // Judged again only for its embedding: a failure keeps the remembered verdict (nothing is remembered).
    if (lackingEmbedding) return { ...lackingEmbedding, cached: true };
    const failure = { ok: false, code: result.code ?? 'classify_failed', message: result.message ?? 'the classifier failed',
      ...(result.httpStatus ? { httpStatus: result.httpStatus } : {}) };
    if (PERMANENT_FAILURES.has(failure.code)) remember(mediaId, failure, judgedBy, privateTab, epoch);
    return failure;
  })().finally(() => {
    inFlight.delete(jobKey);
    if (inFlight.size === 0) closeOffscreenIfUnused();
  });
  inFlight.set(jobKey, job);
  return job;
}

/**
 * A value (the model's scores or a failure) as the content script's verdict: the personal layer
 * (corrections) first, then decided with the current settings.
 */
async function verdictFor(mediaId, result, contract, settings, account = null) {
  if (!result.ok) return { ...result, mediaId };
  // The shipped scores when nothing applies; a private tab's embedding comes with its result (not stored).
  const personal = await corrections.adjust(mediaId, result.scores, account, result.embedding ?? null);
  const { label, hide, threshold } = decide(personal.scores, contract, settings);
  return { ok: true, mediaId, label, hide, threshold, scores: result.scores, personal: personal.personal, cached: Boolean(result.cached), ms: result.ms };
}

const badMediaId = (mediaId) => ({ ok: false, code: 'bad_argument', message: `not a media key: ${JSON.stringify(mediaId)?.slice(0, 80)}` });

/**
 * The answer to CLASSIFY_MEDIA: {ok:true, mediaId, label, hide, threshold, scores, cached} | {ok:false,
 * code, message}. lowPriority: judged ahead of need (a profile page); waits behind a media tab's fetches.
 * thumbnail: {url, bytesBase64, httpStatus} from the page (httpStatus 404/410: the page got that for url, which is not fetched again); privateTab: asked by a tab in a private window.
 */
async function classifyMedia(mediaId, { lowPriority = false, thumbnail = {}, account = null, privateTab = false } = {}) {
  // A media id, or a video's or GIF's poster key (its poster frame is judged): see media-cells.js.
  // Checked before anything is read, fetched or stored.
  if (!isMediaKey(mediaId)) return badMediaId(mediaId);
  let contract;
  try { contract = await getContract(); } catch (error) {
    return { ok: false, code: 'no_model', message: String(error?.message ?? error) };
  }
  // The settings are read while the image is fetched and judged (a read took ~0.1 s on a busy machine,
  // after the first verdict's inference), and again only if they changed meanwhile.
  const changesBefore = settingsChanges;
  const settingsRead = getSettings();
  const result = await scoresForMedia(mediaId, contract.version, { lowPriority, supplied: suppliedThumbnail(mediaId, thumbnail), account, privateTab });
  const settings = settingsChanges === changesBefore ? await settingsRead : await getSettings();
  return verdictFor(mediaId, result, contract, settings, account);
}

/**
 * The answer to LOOKUP_VERDICTS: the verdicts of those media ids that are remembered (one batched
 * read, no fetch, no inference), {ok:true, verdicts: {mediaId: verdict}}; the others are left out.
 */
async function lookUpVerdicts(mediaIds, { account = null, privateTab = false } = {}) {
  if (!Array.isArray(mediaIds)) return { ok: false, code: 'bad_argument', message: 'mediaIds must be an array' };
  const ids = mediaIds.slice(0, MAX_LOOKUP_IDS).filter(isMediaKey); // media ids and poster keys; anything else is left out
  const [contract, settings] = await Promise.all([getContract(), getSettings()]);
  const verdicts = {};
  const found = await rememberedValues(ids, contract.version, privateTab);
  // Some must be judged: start the classifier now, before the content script asks (see settingsForPage).
  if (settings.enabled && found.size < ids.length) startClassifierEarly({ imagesWaiting: true });
  const allRemembered = found.size === ids.length;
  if ((await takeOutLackingEmbeddings(found, account)).size > 0 && allRemembered && settings.enabled) startClassifierEarly({ imagesWaiting: true });
  // The personal layer applies to remembered scores too (they are the model's own).
  await Promise.all([...found].map(async ([mediaId, value]) => {
    verdicts[mediaId] = await verdictFor(mediaId, { ...value, cached: true }, contract, settings, account);
  }));
  return { ok: true, verdicts };
}

/**
 * The popup's "Forget remembered verdicts": memory and IndexedDB. FORGET_VERDICTS → {ok, forgotten: how
 * many remembered verdicts went, rememberedCount (the new count), mediaError?} for the popup to say.
 */
async function forgetVerdicts() {
  forgetEpoch += 1; // before any await: a judgement ending meanwhile must not write its verdict back
  const forgotten = await remembered.count();
  // The memory after the store: a read of the store begun meanwhile (after the epoch above: its own is
  // current) ends before the store's clear does, keeping what it read in memory, which goes now.
  try { await remembered.clear(); } finally { cache.clear(); forgetPrivateVerdicts(); }
  const media = await corrections.forgetMedia(); // never throws; the verdicts above are forgotten either way
  return { ok: true, forgotten, rememberedCount: await remembered.count(), ...(media.ok ? {} : { mediaError: media.message }) };
}

/**
 * The classifier's description; loads the classifier first if needed (PREPARE relies on that), unless
 * ifLoaded: then {ok, loaded: false} when none is loaded.
 */
async function offscreenStatus({ imagesWaiting = false, ifLoaded = false } = {}) {
  const answer = await askOffscreen({ type: MSG.OFFSCREEN_STATUS, imagesWaiting, ifLoaded });
  noteClassifier(answer);
  return answer;
}

async function status() {
  const [settings, offscreen, rememberedCount] = await Promise.all([getSettings(), hasClassifierHost(), remembered.count()]);
  let classifier = lastProvider ?? classifierFailure;
  // Nothing loaded or known of in this worker life while X pages are open: they needed no judging (their
  // media remembered). Chromium's offscreen document says so below; Firefox's background page has no host
  // to ask until a model loads, and after its idle suspension forgets the one it had, so the popup said
  // "no media tab judged yet" beside a judged media tab.
  if (classifier === null && (await chrome.tabs.query({ url: X_TAB_URLS }).catch(() => [])).length > 0) classifier = { ok: true, loaded: false };
  if (offscreen) {
    // The popup asks every second: it must not load a model that nothing needs (a revisit whose
    // verdicts were all remembered keeps the host empty).
    try { classifier = await offscreenStatus({ ifLoaded: true }); } catch (error) {
      classifier = { ok: false, message: String(error?.message ?? error) };
    }
    // None loaded because the last start failed (a later image tries again): say why images go unjudged.
    if (classifier?.loaded === false && !classifier.loading && classifierFailure) classifier = classifierFailure;
  }
  return { ok: true, enabled: settings.enabled, offscreen, classifierHost: CLASSIFIER_HOST_KIND, cacheSize: cache.size, privateCacheSize: privateCache.size, rememberedCount, classifier };
}

/** Starts the classifier; imagesWaiting: for a media tab's first images (see offscreen.js's startClassifier). */
function startClassifierEarly({ imagesWaiting = false } = {}) {
  offscreenStatus({ imagesWaiting }).catch((error) => console.info('Illust Only: classifier not started early:', error?.message ?? error));
}

/**
 * The settings, for a content script that just started. On a user's profile (switched on) the
 * classifier starts loading now, the earliest moment the extension hears of the page: the model takes
 * a second or two to load, and the page's own PREPARE would come a round trip later. On a media tab only
 * the (empty) offscreen document is created now; the model starts one round trip later, when the first
 * lookup finds media that are not remembered: a revisit whose verdicts are all remembered then shows
 * them without the model's start competing for the CPU.
 */
async function settingsForPage(sender) {
  stepReached('firstPageHeardOf');
  const settings = await getSettings();
  let path = null;
  try { path = new URL(sender.url).pathname; } catch { /* not a page */ }
  const preparing = settings.enabled && isProfilePath(path) && !isMediaTabPath(path);
  if (preparing) startClassifierEarly();
  // A media tab: the empty document now (~0.2 s to create), the model only if something must be judged.
  else if (settings.enabled && isMediaTabPath(path)) ensureHost().catch(() => {});
  // Firefox: the content script has the page load the thumbnail and sends no bytes; they come from the
  // tap (which sees only the hosts the user allowed: pbs.twimg.com withheld, the content script reads).
  const thumbnailTapOn = thumbnailTap.available && await chrome.permissions.contains({ origins: MEDIA_HOST_ORIGINS }).catch(() => false);
  return { ok: true, settings, preparing, ...(thumbnailTapOn ? { thumbnailTap: true } : {}) };
}

// ---- listeners (top level, so a restarted worker hears the event that woke it) ------------------

// Kept awake until the answer is sent (Firefox's event page: see keepAwakeWhile in classifier-host.js),
// a judgement's wait for its thumbnail included (the page's load: up to 3 s to begin, 5 s stalled; then
// this worker's fetch: up to 15 s): suspended meanwhile, the page lost the answer it owed, the content
// script's request failed, and its cell showed unjudged. Chromium keeps the worker alive while the
// sender's message port is open, for the same span.
function answerWith(promise, sendResponse) {
  keepAwakeWhile(() => promise).then(sendResponse, (error) => sendResponse({ ok: false, code: 'internal', message: String(error?.message ?? error) }));
  return true; // keeps the channel open for the asynchronous answer
}

chrome.tabs.onRemoved.addListener(() => { closeOffscreenIfUnused(); });
chrome.windows?.onRemoved.addListener((windowId) => { forgetPrivateVerdictsIfNoPrivateWindow(windowId); }); // no windows API: no private windows either (Firefox for Android)
chrome.storage.onChanged.addListener((_changes, area) => {
  if (area !== 'local') return;
  settingsChanges += 1;
  followJudging();
});
// A browser start (often restoring an X tab) wakes this worker, so the remembered verdicts are open
// before the first page asks for them; any other wake-up opens them too.
chrome.runtime.onStartup.addListener(() => {});
remembered.open().catch(() => {});

// What wipes or reads out the user's data is the popup's alone (an extension page, also when Firefox
// opens it in a tab): a content script, on whatever page it runs, can neither forget nor export it.
const EXTENSION_PAGES_ONLY = new Set([MSG.FORGET_VERDICTS, MSG.UNDO_CORRECTION, MSG.RESET_CORRECTIONS, MSG.EXPORT_CORRECTIONS,
  MSG.IMPORT_CORRECTIONS]);
const fromExtensionPage = (sender) => typeof sender.url === 'string' && sender.url.startsWith(chrome.runtime.getURL(''));

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (message?.target === OFFSCREEN_TARGET || sender.id !== chrome.runtime.id) return false;
  if (EXTENSION_PAGES_ONLY.has(message?.type) && !fromExtensionPage(sender)) {
    return answerWith(Promise.resolve({ ok: false, code: 'not_allowed', message: 'only the extension\'s own pages may ask this' }), sendResponse);
  }
  switch (message?.type) {
    case MSG.CLASSIFY_MEDIA:
      return answerWith(classifyMedia(message.mediaId, {
        lowPriority: message.priority === 'low',
        thumbnail: { url: message.url, bytesBase64: message.bytesBase64, inImageMemory: message.inImageMemory, httpStatus: message.httpStatus },
        account: message.account, privateTab: fromPrivateTab(sender),
      }), sendResponse);
    case MSG.LOOKUP_VERDICTS:
      return answerWith(lookUpVerdicts(message.mediaIds, { account: message.account, privateTab: fromPrivateTab(sender) }), sendResponse);
    case MSG.CORRECT_MEDIA:
      // A photo's media id or a video's or GIF's poster key: a correction applies to either.
      if (!isMediaKey(message.mediaId)) return answerWith(Promise.resolve({ ok: false, code: 'bad_argument', message: 'not a media key' }), sendResponse);
      // A correction stores the image's embedding and the account: never from a private window.
      if (fromPrivateTab(sender)) {
        return answerWith(Promise.resolve({ ok: false, code: 'private_window', message: t('correctionsPrivateWindow') }), sendResponse);
      }
      return answerWith(corrections.correct(message).then(async (answer) => (
        answer.ok ? { ...answer, verdict: await classifyMedia(message.mediaId, { account: message.account }) } : answer)), sendResponse);
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
      return answerWith(settingsForPage(sender), sendResponse);
    case MSG.GET_STATUS:
      return answerWith(status(), sendResponse);
    case MSG.FORGET_VERDICTS:
      return answerWith(forgetVerdicts(), sendResponse);
    default:
      return false; // e.g. the content script's own message types, answered by tabs
  }
});
