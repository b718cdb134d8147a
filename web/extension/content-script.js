// The content script on x.com / twitter.com: finds media cells on a profile's media tab, asks the
// service worker for a verdict per media key (a photo's media id, or a video's or GIF's poster key: its
// poster frame is judged; see media-cells.js), and hides the cells judged screenshots or photos (as the
// user's switches say). It never judges anything itself.
//
// No flash: content.css (injected by the manifest before the page exists) hides every media cell that
// has no verdict yet while <html data-illust-only-active> is set; a cell shows again only when its
// data-illust-only-state becomes visible, revealed or error. Fail open: a failed or late verdict
// (settings.verdictTimeoutMs, 20 s by default) shows the cell and says why in the console.
//
// Observable state (for tests and benchmarks; see web/extension/README.md):
//   cell (<a>):  data-illust-only-state = pending | visible | hidden | revealed | error (pending and
//                hidden left out while switched off: X shows the cell),
//                data-illust-only-media = media key, data-illust-only-label = verdict label,
//                data-illust-only-left-behind (a held cell of the media tab just left: see keepLeftBehind)
//   <html>:      data-illust-only-active (judging on this page), data-illust-only-judged / -hidden /
//                -errors / -pending (counts for the current page)
//
// MV3 content scripts are classic scripts: tools/build/extension.mjs inlines the imports below and
// wraps the whole in one function scope.
import { MSG } from './messages.js';
import { labelText, t } from './i18n.js';
import {
  CELL_SELECTOR, HELD_PICTURE_SELECTOR, accountOfPath, authorOfCell, isGoneStatus, isMediaTabPath, isMediaViewerPath, isPosterKey, isProfilePath, mediaKeyOfCell, mediaKindOfKey,
  profileUserOfPath, thumbnailUrlOfCell,
} from './media-cells.js';

// Timestamps in the page's performance timeline (performance.mark), read by the media-tab benchmark:
// where a page load's first verdict goes. Only the first of each name is kept.
const marked = new Set();
function markOnce(name) {
  if (marked.has(name)) return;
  marked.add(name);
  performance.mark(`illust-only:${name}`);
}

const DEFAULT_VERDICT_TIMEOUT_MS = 20000; // per sent request; generous: the first waits for the model to load
const LOG_PREFIX = '[Illust Only]';
const root = document.documentElement;
markOnce('content script started');

let settings = { enabled: true, judgeVideos: true }; // until the service worker answers, hold cells (the defaults)
let settingsLoaded = false;
let prepareSent = false;
let active = false; // judging on this page: enabled and on a media tab
let judgingVideos = true; // settings.judgeVideos: video and GIF cells are judged by their poster frame
let currentPath = location.pathname;

// Verdicts by media key, of the current page and the most recent of earlier ones (see
// forgetVerdictsElsewhere): {status: 'pending'} | {status: 'done', label, hide,
// scores, generation (the settings generation it was asked under)} | {status: 'error', code, message}.
// X re-mounts cells while scrolling; the map makes a re-mounted cell take its verdict in the same
// mutation callback, before it can paint.
const verdicts = new Map();
const revealed = new Set(); // media ids the user chose to show
let revealedOn = pageAccount(); // the account the user is with (see checkLocation)
let seenOnPage = new Set(); // media ids on the current page (counts are per page)
// Pictures of the current page's cells shown unjudged because their URL names no usable key (see
// showUnreadableCell): counted as errors, per URL as media are per key. URL → true for a video's or
// GIF's poster (not counted while "Judge videos and GIFs" is off, as judged posters are not).
let unusablePicturesOnPage = new Map();
// Poster keys of the current page set aside while "Judge videos and GIFs" is off (see stopJudgingVideos).
let postersSetAside = new Set();

// ---- verdicts ----------------------------------------------------------------------------------

// Newly found media keys (photos' media ids, videos' and GIFs' poster keys) are first looked up among the remembered verdicts, in one LOOKUP_VERDICTS
// message per batch (a revisit, even after a browser restart, shows its verdicts without judging
// anything). The rest are judged: at most MAX_IN_FLIGHT requests at a time, each one's timeout
// starting when it is sent, so a long grid on a slow machine waits its turn instead of timing out in a
// queue. The next request is always for the waiting cell nearest the viewport (measured when a slot
// frees): what the user looks at is judged first, and a cell scrolled away before its turn gives it to
// one that came into view. A timeout means the classifier is stuck or far too slow, so the cells still
// waiting are shown at once rather than after one timeout each.
const MAX_IN_FLIGHT = 6;
const NEAR_VIEWPORT_PX = 400; // cells this close to the viewport count as in view (two rows of X's grid)
const LOOKUP_TIMEOUT_MS = 5000; // a lookup that gets no answer sends its media to be judged instead
const MAX_LOOKUP_IDS = 500; // per LOOKUP_VERDICTS message (the service worker's bound)
const toLookUp = []; // media keys waiting for the remembered-verdicts lookup
let lookupQueued = false;
const waitingForRequest = []; // media keys not remembered, in the order their cells were found
let requestsInFlight = 0;
// Bumped by every change of the settings or of the user's corrections. Each verdict keeps the one it
// was asked under: an older one (asked before the change, answered after it; judged ahead on the
// profile; kept while the page was off the media tab) is asked for again when its page is active.
let settingsGeneration = 0;
let answersInTime = 0; // requests answered before their timeout: a sign the classifier works
// Failures of the classifier, the connection or the worker, not of the image: its cells show, and the
// media is asked for again on the next page (a reload would too). An image's own failures (corrupt,
// unsupported, too large, a URL that answers 404) are final, and so are internal and out_of_memory:
// an image that crashes a classifier worker or the core would crash it again on every return.
const PASSING_FAILURES = new Set(['timeout', 'offscreen_failed', 'no_model', 'inference_failed', 'fetch_failed',
  'no_host_permission', 'extension_unreachable', 'no_answer']);

function failurePasses({ code, httpStatus }) {
  const refused = httpStatus >= 400 && httpStatus < 500 && httpStatus !== 408 && httpStatus !== 429;
  return PASSING_FAILURES.has(code) && !refused;
}

function verdictTimeoutMs() {
  return Number(settings.verdictTimeoutMs) > 0 ? Number(settings.verdictTimeoutMs) : DEFAULT_VERDICT_TIMEOUT_MS;
}

function requestVerdict(mediaId) {
  // The account of the page the cell was found on travels with its requests: a lookup or judgement in
  // flight when the user moves to another media tab (SPA navigation) is not stored as that user's.
  verdicts.set(mediaId, { status: 'pending', account: pageAccount() });
  toLookUp.push(mediaId);
  sendWaitingRequests();
}

/**
 * Drops a queued media found on another account's media tab (the user moved on, by SPA navigation,
 * before its turn), unless a cell of this page shows it: its cells are gone, and judging it would read
 * thumbnails the user no longer sees and keep the new grid waiting. Its cell asks again if it comes back.
 * Requests already in flight finish (their verdicts serve the way back). True when dropped. Off a media
 * tab (home, a profile, a photo; a lookup answered there) nothing is dropped: the queue waits for the
 * way back, and the grid X still shows keeps its cells held (see keepLeftBehind).
 */
function dropIfLeftBehind(mediaId) {
  const verdict = verdicts.get(mediaId);
  if (!active || verdict?.status !== 'pending' || verdict.account === pageAccount() || seenOnPage.has(mediaId)) return false;
  verdicts.delete(mediaId);
  releaseLeftBehindCells(mediaId);
  return true;
}

function sendWaitingRequests() {
  // Requests wait for the settings (one quick round trip): they say whether to judge at all and how
  // long a verdict may take. Cells stay hidden meanwhile, as they do while pending. Switched off or
  // off the media tab, the queue waits: nothing is fetched or judged for a page that shows everything.
  if (!settingsLoaded || !active) return;
  if (toLookUp.length > 0 && !lookupQueued) {
    lookupQueued = true;
    queueMicrotask(lookUpRemembered); // cells found in one mutation callback share one message
  }
  if (requestsInFlight >= MAX_IN_FLIGHT || waitingForRequest.length === 0) return;
  const timeoutMs = verdictTimeoutMs();
  const distance = distancesFromViewport();
  while (requestsInFlight < MAX_IN_FLIGHT && waitingForRequest.length > 0) {
    const mediaId = takeNearest(waitingForRequest, distance);
    if (verdicts.get(mediaId)?.status !== 'pending' || dropIfLeftBehind(mediaId)) continue;
    requestsInFlight += 1;
    let finished = false;
    const ahead = judgingAhead.get(mediaId); // judged ahead and still in flight: its answer serves
    const askedUnder = ahead?.askedUnder ?? settingsGeneration;
    const finish = (answer) => {
      if (finished) return;
      finished = true;
      requestsInFlight -= 1;
      settle(mediaId, answer, askedUnder);
      sendWaitingRequests();
    };
    const answersBefore = answersInTime;
    const timer = setTimeout(() => {
      const timeout = { ok: false, code: 'timeout', message: `no verdict within ${timeoutMs / 1000} s` };
      // No answer at all since this one was sent: the classifier is stuck or far too slow, so the cells
      // still waiting show now. Others answered meanwhile: only this media's request is stuck.
      if (answersInTime === answersBefore) for (const waiting of [...waitingForRequest.splice(0), ...toLookUp.splice(0)]) settle(waiting, timeout);
      finish(timeout);
    }, timeoutMs);
    markOnce('first judgement asked');
    // Judged ahead and still in flight (the click on Media came first): its answer serves, no second read.
    (ahead ?? judgementRequest(mediaId, thumbnailUrlOfMedia(mediaId), verdicts.get(mediaId).account).then(askServiceWorker))
      .then((answer) => { clearTimeout(timer); if (!finished) answersInTime += 1; finish(answer); });
  }
}

/**
 * The URL of the thumbnail a cell showing this media key shows (a photo's <img> or background, a video's
 * or GIF's poster frame), or, when no cell shows it any more (X's virtualised grid removed or reused its
 * cell while it waited for its turn), the one a cell last showed: the page downloaded that URL, so its
 * read comes from the HTTP cache, where the worker's own fetch of the JPEG would download the thumbnail
 * a second time. null when none is known (e.g. a player that names no poster: the worker fetches the JPEG).
 */
function thumbnailUrlOfMedia(mediaId) {
  for (const cell of document.querySelectorAll(`[data-illust-only-media="${CSS.escape(mediaId)}"]`)) {
    if (mediaKeyOfCell(cell) === mediaId) return thumbnailUrlOfCell(cell) ?? lastThumbnailUrl.get(mediaId) ?? null;
  }
  return lastThumbnailUrl.get(mediaId) ?? null;
}

/** Media key → how far (px) its nearest cell is from the viewport, 0 within NEAR_VIEWPORT_PX of it. */
function distancesFromViewport() {
  const distance = new Map();
  const height = innerHeight;
  for (const cell of document.querySelectorAll('[data-illust-only-media]')) {
    const { top, bottom } = cell.getBoundingClientRect();
    const away = Math.max(0, (bottom < 0 ? -bottom : top > height ? top - height : 0) - NEAR_VIEWPORT_PX);
    const mediaId = cell.dataset.illustOnlyMedia;
    distance.set(mediaId, Math.min(distance.get(mediaId) ?? Infinity, away));
  }
  return distance;
}

/** Removes and returns the media id nearest the viewport (the first found among equals). */
function takeNearest(mediaIds, distance) {
  let best = 0;
  for (let i = 1; i < mediaIds.length; i += 1) {
    if ((distance.get(mediaIds[i]) ?? Infinity) < (distance.get(mediaIds[best]) ?? Infinity)) best = i;
  }
  return mediaIds.splice(best, 1)[0];
}

/** Settles the waiting media keys that are remembered; sends the others to be judged. */
async function lookUpRemembered() {
  lookupQueued = false;
  if (!settingsLoaded || !active) return; // sendWaitingRequests queues the lookup again when judging resumes
  const batch = toLookUp.splice(0, MAX_LOOKUP_IDS).filter((mediaId) => verdicts.get(mediaId)?.status === 'pending' && !dropIfLeftBehind(mediaId));
  if (toLookUp.length > 0) sendWaitingRequests(); // the next batch
  if (batch.length === 0) return;
  markOnce('remembered verdicts asked');
  const askedUnder = settingsGeneration;
  const byAccount = new Map(); // one lookup per account the media were found under (see requestVerdict)
  for (const mediaId of batch) {
    const { account } = verdicts.get(mediaId);
    if (!byAccount.has(account)) byAccount.set(account, []);
    byAccount.get(account).push(mediaId);
  }
  const answers = await Promise.all([...byAccount].map(([account, mediaIds]) => askRemembered(mediaIds, account)));
  const remembered = Object.assign({}, ...answers.map((answer) => answer.verdicts));
  markOnce('remembered verdicts answered');
  for (const mediaId of batch) {
    const known = remembered[mediaId];
    if (known) settle(mediaId, known, askedUnder);
    else if (verdicts.get(mediaId)?.status === 'pending' && !dropIfLeftBehind(mediaId)) waitingForRequest.push(mediaId);
  }
  sendWaitingRequests();
}

/** {verdicts: {mediaId: verdict}} of the remembered ones among mediaIds; none when the worker cannot say in time. */
async function askRemembered(mediaIds, account = pageAccount()) {
  const answer = await askServiceWorkerWithin({ type: MSG.LOOKUP_VERDICTS, mediaIds, account }, LOOKUP_TIMEOUT_MS);
  if (!answer?.ok) console.info(`${LOG_PREFIX} remembered verdicts unavailable (${answer?.message}); judging instead`);
  return answer?.ok ? answer : { verdicts: {} };
}

// ---- the thumbnail's bytes ------------------------------------------------------------------------

// The extension judges the very thumbnail the page shows (X's WebP), read by this content script: its
// fetch is made for the page, in the page's HTTP cache partition, so the browser's cache answers it
// with the bytes the page downloaded (the service worker's own fetch lives in the extension's partition
// and would download every thumbnail a second time). Runtime messages are JSON, so the bytes travel
// base64-encoded (thumbnails are 20–150 KB). When the page's URL cannot be read (no CORS header, a
// network or HTTP error, or a read that stalls), the worker fetches that URL itself and reports what
// went wrong. A read that still receives bytes is waited for (up to the verdict timeout): on a slow link
// the page's own download of the thumbnail is still arriving, and the read shares it from the cache,
// where the worker's fetch would download it a second time over that same slow link.
const THUMBNAIL_STALL_MS = 5000; // no more byte for this long once the response began: the read has stalled
const MAX_THUMBNAIL_BYTES = 10 * 2 ** 20; // the worker's own bound
let thumbnailReadFailed = false; // said once in the console
// Firefox: the worker takes the bytes the page downloads as they pass (thumbnail-tap.js), because
// Firefox's HTTP cache never answers this script's fetch() with the page's <img> download (it keys an
// anonymous CORS read, and since Firefox 123 any cross-origin fetch, apart): a read here would be a
// second download of every thumbnail. So the page loads it as an image (nothing new when it has it).
let pageLoadsThumbnails = false; // the settings' answer says so (thumbnailTap)
const loadingForThePage = new Set(); // images loading, kept until they settle

/**
 * The account the page's media belong to, for corrections (web/lib/personal-layer.js): a media tab's
 * user, or on a profile the user whose own posts are judged ahead; null elsewhere.
 */
function pageAccount() {
  return accountOfPath(location.pathname) ?? profileUserOfPath(location.pathname);
}

/**
 * The CLASSIFY_MEDIA message for a media id found on `account`'s page: with the thumbnail's URL and,
 * when readable, its bytes.
 */
async function judgementRequest(mediaId, url, account, priority) {
  const message = { type: MSG.CLASSIFY_MEDIA, mediaId, account, ...(priority ? { priority } : {}) };
  if (!url) return message;
  message.url = url;
  if (pageLoadsThumbnails) {
    // Answered from Firefox's image memory in both ways (see loadAsThePageDoes): no load passes the
    // worker's tap, so it need not wait for one.
    if (loadAsThePageDoes(url)) message.inImageMemory = true;
    return message;
  }
  try {
    message.bytesBase64 = await base64Of(await readThumbnail(url));
  } catch (error) {
    // X's CDN said the URL is gone (404/410): the worker takes that answer rather than asking again.
    if (isGoneStatus(error?.httpStatus)) message.httpStatus = error.httpStatus;
    if (!thumbnailReadFailed) console.info(`${LOG_PREFIX} cannot read ${url} from the page (${error?.message ?? error}); the extension fetches it`);
    thumbnailReadFailed = true;
  }
  return message;
}

/**
 * Has the page load url as an image, as its own <img> does (same credentials and cache entry: one
 * download shared with the page's, or none when the page already has it); Firefox's worker copies the
 * bytes as they arrive (see pageLoadsThumbnails). Firefox's image memory may answer it at once (the
 * image is complete as its src is set: loaded while the extension was off, or before the background
 * page last started), and that answer passes no webRequest listener. An image in another CORS mode is
 * not answered from that memory but from the HTTP cache, where the page's download is (with the page's
 * credentials, the same entry; this script's host permission spares it the CORS check): its bytes pass
 * the tap, so the worker need not download the thumbnail a second time. Returns true when the image
 * memory answered both (a thumbnail this script had loaded so before).
 */
function loadAsThePageDoes(url) {
  return loadImageForThePage(url) && loadImageForThePage(url, 'use-credentials');
}

/** Starts loading url as an image, kept until it settles; true when it is complete at once (image memory). */
function loadImageForThePage(url, crossOrigin = null) {
  const image = new Image();
  if (crossOrigin) image.crossOrigin = crossOrigin;
  loadingForThePage.add(image);
  const settled = () => loadingForThePage.delete(image);
  image.onload = settled;
  image.onerror = settled;
  image.src = url;
  if (!image.complete) return false;
  settled();
  return true;
}

/** The thumbnail at url as a Blob; rejects on an HTTP error, a read that stalls or outlasts the verdict timeout, or too many bytes. */
async function readThumbnail(url) {
  const controller = new AbortController();
  const giveUp = (why) => controller.abort(new Error(why));
  const deadline = setTimeout(() => giveUp(`not read within ${verdictTimeoutMs() / 1000} s`), verdictTimeoutMs());
  let stall;
  const progressed = () => {
    clearTimeout(stall);
    stall = setTimeout(() => giveUp(`no data for ${THUMBNAIL_STALL_MS / 1000} s`), THUMBNAIL_STALL_MS);
  };
  try {
    // No stall limit until the response begins: the read waits on a request, mostly the page's own
    // (queued behind its other thumbnails on a slow link, the read sharing it through the HTTP cache),
    // and the worker's fetch would queue beside it and download the thumbnail a second time.
    const response = await fetch(url, { signal: controller.signal });
    if (!response.ok) throw Object.assign(new Error(`HTTP ${response.status}`), { httpStatus: response.status });
    const chunks = [];
    let size = 0;
    const reader = response.body.getReader();
    for (;;) {
      progressed();
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_THUMBNAIL_BYTES) { controller.abort(); throw new Error(`over ${MAX_THUMBNAIL_BYTES} bytes`); }
      chunks.push(value);
    }
    return new Blob(chunks, { type: response.headers.get('content-type') ?? '' });
  } finally {
    clearTimeout(stall);
    clearTimeout(deadline);
  }
}

function base64Of(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).slice(String(reader.result).indexOf(',') + 1)); // after "data:…;base64,"
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** `promise`'s value, or `late` once ms pass first. */
async function within(promise, ms, late) {
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(late), ms); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** askServiceWorker, or {ok:false, code:'no_answer'} after ms (a worker that never answers must not hold cells). */
function askServiceWorkerWithin(message, ms) {
  return within(askServiceWorker(message), ms, { ok: false, code: 'no_answer', message: t('noAnswerWithin', ms / 1000) });
}

// The browser stopped the service worker before it answered (MV3 stops it whenever it likes; memory
// pressure, the developer tools), or Firefox suspended its event page (idle while it waited on a
// thumbnail's load or fetch): the next message starts it again, so the request is sent once more
// instead of showing its cell unjudged for the rest of the page. Chromium says the channel closed;
// Firefox that the receiving end does not exist. "Extension context invalidated" (this script's
// extension updated or removed) is not retried: no worker will answer it again. Chromium may also answer
// nothing at all (undefined): the worker was stopping as the message came, so only the extension's other
// pages heard it (the offscreen document, which leaves the content script's messages alone); the worker
// answers every message it hears, so that is the same stop (seen with CDP's ServiceWorker.stopAllWorkers).
const WORKER_STOPPED = /message (?:channel|port) closed before a response was received|Receiving end does not exist/i;

async function askServiceWorker(message, retries = 1) {
  try {
    const answer = await chrome.runtime.sendMessage(message);
    if (answer != null) return answer;
    if (retries > 0) return askServiceWorker(message, retries - 1);
    return { ok: false, code: 'no_answer', message: t('workerGaveNoAnswer') };
  } catch (err) {
    if (retries > 0 && WORKER_STOPPED.test(String(err?.message ?? err))) return askServiceWorker(message, retries - 1);
    // "Extension context invalidated" after an update, or the worker failed to start.
    return { ok: false, code: 'extension_unreachable', message: String(err?.message ?? err) };
  }
}

/** Records the first answer for a pending media id (a timeout that fired first wins: fail open). */
function settle(mediaId, answer, askedUnder) {
  if (verdicts.get(mediaId)?.status !== 'pending') return;
  storeAnswer(mediaId, answer, askedUnder);
}

/** A judged media's entry in `verdicts`, from the worker's answer asked under settings generation `askedUnder`. */
function doneVerdict(answer, askedUnder) {
  return { status: 'done', label: answer.label, hide: Boolean(answer.hide), scores: answer.scores, generation: askedUnder };
}

/** askedUnder: the settingsGeneration the answer was asked under (older: asked for again). */
function storeAnswer(mediaId, answer, askedUnder = settingsGeneration) {
  markOnce('first verdict');
  if (answer?.ok) {
    verdicts.set(mediaId, doneVerdict(answer, askedUnder));
    if (askedUnder < settingsGeneration) refreshJudgedVerdictsSoon();
  } else {
    const code = answer?.code ?? 'unknown';
    const message = answer?.message ?? 'no details';
    verdicts.set(mediaId, { status: 'error', code, message, httpStatus: answer?.httpStatus });
    console.info(`${LOG_PREFIX} showing media ${mediaId} unjudged (${code}: ${message})`);
  }
  applyToMedia(mediaId);
}

const isStale = (verdict) => verdict?.status === 'done' && verdict.generation < settingsGeneration;

/**
 * An out-of-date verdict that must not show a cell yet: the refresh may turn "visible" into "hidden",
 * and a frame painted meanwhile is the flash content.css exists to prevent. One whose refresh failed
 * shows as it was decided (fail open).
 */
const heldUntilRefreshed = (verdict) => isStale(verdict) && !verdict.refreshFailed;

/** The settings or corrections changed: every verdict so far is out of date. */
function settingsChanged() {
  settingsGeneration += 1;
  refreshJudgedVerdicts();
}

let refreshQueued = false;
function refreshJudgedVerdictsSoon() {
  if (refreshQueued) return;
  refreshQueued = true;
  queueMicrotask(() => { refreshQueued = false; refreshJudgedVerdicts(); });
}

// Media keys whose out-of-date verdict is being asked for again (looked up, or judged again): a cell X
// mounts meanwhile asks for a refresh, which leaves these to the one in flight.
const refreshing = new Set();

/**
 * Asks again, in one lookup, for this page's verdicts decided before the last settings change (the
 * worker decides on the remembered scores: no new inference). Out-of-date verdicts of media elsewhere
 * (earlier pages of this tab) are dropped, so they are asked for again if their cells come back,
 * instead of all at once now. Media the worker no longer remembers (the popup's "Forget remembered
 * verdicts", or a worker restart without IndexedDB) are judged again, their cells keeping the old
 * verdict until the new one comes (a cell that was not showing it stays held: see applyToCell). Off
 * the media tab nothing is asked: updateActive calls this again when the page becomes active.
 */
async function refreshJudgedVerdicts() {
  if (!active) return; // switched off, or off the media tab: the page shows everything, nothing is asked
  // Cells of the grid just left that X still shows keep their state (see isLeftBehindCell), and so their
  // verdicts: "show" or a correction on one needs it. One held for a refresh that will not come shows.
  const keptByGridLeft = new Set();
  for (const cell of document.querySelectorAll('[data-illust-only-media]')) {
    if (cell.dataset.illustOnlyState !== 'pending') keptByGridLeft.add(cell.dataset.illustOnlyMedia);
  }
  for (const [mediaId, verdict] of verdicts) {
    if (isStale(verdict) && !seenOnPage.has(mediaId) && !keptByGridLeft.has(mediaId)) { verdicts.delete(mediaId); releaseLeftBehindCells(mediaId); }
  }
  const judged = [...seenOnPage].filter((mediaId) => isStale(verdicts.get(mediaId)) && !refreshing.has(mediaId));
  for (const mediaId of judged) refreshing.add(mediaId);
  const askedUnder = settingsGeneration;
  for (let start = 0; start < judged.length; start += MAX_LOOKUP_IDS) {
    const asked = judged.slice(start, start + MAX_LOOKUP_IDS);
    const answer = await askRemembered(asked);
    const remembered = answer.verdicts ?? {};
    for (const mediaId of asked) {
      const known = remembered[mediaId];
      if (answer.ok && !known) { toJudgeAgain.push(mediaId); continue; } // forgotten: judged again, refreshing meanwhile
      refreshing.delete(mediaId);
      // One dropped meanwhile (navigation) stays dropped.
      if (known?.ok) { if (verdicts.get(mediaId)?.status === 'done') storeAnswer(mediaId, known, askedUnder); }
      else releaseStale(mediaId, answer.ok ? known : answer); // the worker cannot say: fail open
    }
  }
  judgeAgain();
}

/** Fail open: an out-of-date verdict that could not be refreshed shows its cells as it was decided. */
function releaseStale(mediaId, why) {
  const verdict = verdicts.get(mediaId);
  if (!heldUntilRefreshed(verdict)) return;
  verdicts.set(mediaId, { ...verdict, refreshFailed: true });
  console.info(`${LOG_PREFIX} media ${mediaId} keeps its verdict from before the settings change (${why?.code ?? 'unknown'}: ${why?.message ?? 'no details'})`);
  applyToMedia(mediaId);
}

const MAX_JUDGING_AGAIN = 2; // in flight at a time: a whole page may need it
const toJudgeAgain = []; // media keys of this page whose verdict the worker forgot
let judgingAgain = 0;

function judgeAgain() {
  while (active && judgingAgain < MAX_JUDGING_AGAIN && toJudgeAgain.length > 0) {
    const mediaId = toJudgeAgain.shift();
    if (verdicts.get(mediaId)?.status !== 'done' || !seenOnPage.has(mediaId)) { refreshing.delete(mediaId); continue; }
    judgingAgain += 1;
    const askedUnder = settingsGeneration;
    judgementRequest(mediaId, thumbnailUrlOfMedia(mediaId), pageAccount()).then((message) => askServiceWorkerWithin(message, verdictTimeoutMs())).then((answer) => {
      judgingAgain -= 1;
      refreshing.delete(mediaId);
      if (answer.ok) { if (verdicts.get(mediaId)?.status === 'done') storeAnswer(mediaId, answer, askedUnder); }
      else releaseStale(mediaId, answer); // a failure keeps the old verdict, and shows it
      judgeAgain();
    });
  }
}

// ---- judged ahead: the profile's own posts on screen ----------------------------------------------

// On a user's profile the media tab is one click away. The media of the user's own posts that are on
// screen are judged now, at low priority (the service worker fetches them behind a media tab's
// requests, one at a time), so the media tab opens with their verdicts known: photos, and videos and
// GIFs by their poster frame while "Judge videos and GIFs" is on (as the media tab would judge them).
// Retweets and quoted posts of other accounts are left alone (their media links name the other
// account), and nothing is asked for off profiles or while the extension is switched off.
const MAX_LOOKAHEAD_IN_FLIGHT = 2;
const lookahead = []; // {mediaId, url, account} of the user's own posts seen on screen, not yet asked for
let lookaheadInFlight = 0;
const judgingAhead = new Map(); // media key → Promise<answer> of a request judged ahead, while in flight
let askedAhead = new Set(); // media keys judged ahead on this page: asked once, whatever the answer
const watchedPosts = new WeakSet();
const postsOnScreen = new IntersectionObserver(onPostsOnScreen);

function lookingAhead() {
  return settingsLoaded && Boolean(settings.enabled) && !active && profileUserOfPath(location.pathname) !== null;
}

let watchedCount = 0;

function watchPost(cell) {
  if (watchedPosts.has(cell)) return;
  watchedPosts.add(cell);
  watchedCount += 1;
  postsOnScreen.observe(cell); // reports at once whether it is on screen, then on every change
}

/**
 * A post reported on screen, or removed from the page (X removes cells far off screen, some never
 * shown: those get no report), is watched no more, so a long scroll does not leave the observer holding
 * every cell X ever rendered. When X reuses the element for another post, or mounts
 * its picture later, the mutation watches it again.
 */
function stopWatching(cell) {
  if (!watchedPosts.delete(cell)) return;
  watchedCount -= 1;
  postsOnScreen.unobserve(cell);
}

function onPostsOnScreen(entries) {
  const user = profileUserOfPath(location.pathname);
  if (!lookingAhead()) return;
  for (const entry of entries) {
    if (entry.isIntersecting || !entry.target.isConnected) stopWatching(entry.target);
    if (!entry.isIntersecting || authorOfCell(entry.target) !== user) continue;
    const mediaId = mediaKeyOfCell(entry.target); // a media id or a poster key
    if (mediaId && (judgingVideos || !isPosterKey(mediaId)) && !verdicts.has(mediaId) && !askedAhead.has(mediaId) && !judgingAhead.has(mediaId) && !lookahead.some((item) => item.mediaId === mediaId)) {
      lookahead.push({ mediaId, url: thumbnailUrlOfCell(entry.target), account: user }); // url names mediaId (see media-cells.js)
    }
  }
  judgeAhead();
}

function judgeAhead() {
  while (lookingAhead() && lookaheadInFlight < MAX_LOOKAHEAD_IN_FLIGHT && lookahead.length > 0) {
    const { mediaId, url, account } = lookahead.shift();
    if (verdicts.has(mediaId) || askedAhead.has(mediaId) || judgingAhead.has(mediaId) || (isPosterKey(mediaId) && !judgingVideos)) continue;
    askedAhead.add(mediaId);
    lookaheadInFlight += 1;
    const askedUnder = settingsGeneration;
    const job = judgementRequest(mediaId, url, account, 'low').then(askServiceWorker);
    job.askedUnder = askedUnder;
    judgingAhead.set(mediaId, job);
    job.then((answer) => {
      lookaheadInFlight -= 1;
      judgingAhead.delete(mediaId);
      // Kept for the media tab; a failure is simply asked for again there (its cells fail open then),
      // unless the media tab was already waiting for this very answer (then it settles its cells). One
      // decided before a settings change is not kept: the media tab looks it up (no new inference).
      if (answer.ok && !verdicts.has(mediaId) && askedUnder === settingsGeneration) verdicts.set(mediaId, doneVerdict(answer, askedUnder));
      judgeAhead();
    });
  }
}

// ---- cells -------------------------------------------------------------------------------------

const lastKeyOfCell = new WeakMap(); // cell → {mediaId, href} when it last named a key
// Media key → the thumbnail URL a cell of this page last showed for it (see thumbnailUrlOfMedia).
const lastThumbnailUrl = new Map();

function examineCell(cell) {
  // A media tab's grid holds only the account's own posts. A cell naming another account is a retweet
  // or quote of the profile timeline X still shows for a moment after the click on Media (SPA): not
  // judged, counted or remembered under this account, and shown (fail open).
  // A cell of the grid just left keeps its state instead (see isLeftBehindCell).
  if (ofAnotherAccount(cell)) { if (!isLeftBehindCell(cell)) showOtherAccountsCell(cell); return; }
  let mediaId = mediaKeyOfCell(cell); // a media id or a poster key
  // X's autoplay may swap the poster for a player that names none: the same link and a <video> still
  // mean the same video, whose cell must not show because its key vanished.
  const last = lastKeyOfCell.get(cell);
  if (mediaId) {
    // A poster swapped for another poster key within the same post's cell: the old key leaves the counts.
    // (A photo's media id is its post's own: another one in a cell means X reused the cell, see below.)
    if (last && last.mediaId !== mediaId && isPosterKey(last.mediaId) && isPosterKey(mediaId) && last.href === cell.getAttribute('href')) {
      leavePageUnlessShown(last.mediaId, cell);
    }
    lastKeyOfCell.set(cell, { mediaId, href: cell.getAttribute('href') });
    const url = thumbnailUrlOfCell(cell); // names mediaId (see media-cells.js)
    if (url) lastThumbnailUrl.set(mediaId, url);
  }
  else if (isPosterKey(last?.mediaId) && last.href === cell.getAttribute('href') && cell.querySelector('video')) mediaId = last.mediaId;
  if (!mediaId || (isPosterKey(mediaId) && !judgingVideos)) {
    if (cell.dataset.illustOnlyMedia) forgetCell(cell); // X reused the element, or videos are not judged
    if (!mediaId) showUnreadableCell(cell);
    return;
  }
  // Keyed on this page already. One keyed on an earlier page (X kept the element: a photo opened over
  // the grid and closed while switched off, when no navigation re-examined it) is examined as new:
  // counted on this page, and decided as the settings now say.
  if (cell.dataset.illustOnlyMedia === mediaId && seenOnPage.has(mediaId)) {
    if (!cell.dataset.illustOnlyState) applyToCell(cell, mediaId); // its held state was dropped while switched off
    return;
  }
  cell.dataset.illustOnlyMedia = mediaId;
  delete cell.dataset.illustOnlyState; // the state of the media the element showed before (see applyToCell)
  seenOnPage.add(mediaId);
  if (!verdicts.has(mediaId)) requestVerdict(mediaId);
  else if (heldUntilRefreshed(verdicts.get(mediaId))) refreshJudgedVerdictsSoon(); // held until then
  applyToCell(cell, mediaId);
  // The page counts it now: X may draw a media tab's grid a moment after the location changed, its
  // cells taking known verdicts at once (no answer comes to update the counts and the page's badge).
  scheduleStatsUpdate();
}

/**
 * X swapped a GIF's or video's poster for another poster key in the same post's cell (same link): the
 * old key leaves the page's counts, unless another cell still shows it. (A cell X reuses for
 * another post keeps the old one counted, as a cell X removed stays counted: the post was on the page.)
 */
function leavePageUnlessShown(mediaId, cell) {
  const shownElsewhere = [...document.querySelectorAll(`[data-illust-only-media="${CSS.escape(mediaId)}"]`)].some((other) => other !== cell);
  if (shownElsewhere) return;
  seenOnPage.delete(mediaId);
  postersSetAside.delete(mediaId);
  scheduleStatsUpdate();
}

/** Fail open: a cell content.css holds, whose picture URL gives no media key (odd or hostile), shows. */
function showUnreadableCell(cell) {
  const picture = cell.querySelector(HELD_PICTURE_SELECTOR);
  if (!picture) return;
  const url = picture.getAttribute('src') ?? picture.getAttribute('poster') ?? picture.getAttribute('style') ?? '';
  // The extension gave up on it: the page's counts say so (a photo's picture names pbs.twimg.com/media/).
  const counted = url.slice(0, 2048); // as long as a URL the worker takes
  if (!unusablePicturesOnPage.has(counted)) {
    unusablePicturesOnPage.set(counted, !url.includes('pbs.twimg.com/media/'));
    scheduleStatsUpdate();
  }
  if (cell.dataset.illustOnlyState === 'error') return;
  cell.dataset.illustOnlyState = 'error';
  console.info(`${LOG_PREFIX} showing a media cell unjudged (bad_argument: no media key in ${JSON.stringify(url.slice(0, 200))})`);
}

function ofAnotherAccount(cell) {
  const author = authorOfCell(cell);
  return author !== null && author !== accountOfPath(location.pathname);
}

/**
 * A cell of another account's media tab, the one just left, that X still shows: the location changes
 * first (Back, or a link to another account's media tab) and X draws the new grid a moment later. It
 * keeps its state (hidden included: shown unjudged, a screenshot the user never saw would flash) and
 * its verdict's answer still applies, until X removes the element or reuses it for another post; one
 * still waiting for a verdict that will not come shows then (releaseLeftBehindCells). Only cells keyed
 * on their own media tab carry a key (examineCell), so a keyed cell of another account is one of those.
 */
function isLeftBehindCell(cell) {
  const kept = cell.dataset.illustOnlyMedia;
  if (!kept) return false;
  const key = mediaKeyOfCell(cell);
  return key === kept || (key === null && isPosterKey(kept) && cell.querySelector('video') !== null); // X's autoplay (see examineCell)
}

/** Fail open: a cell of the grid left, held for a verdict that will no longer come (its media dropped), shows. */
function releaseLeftBehindCells(mediaId) {
  for (const cell of document.querySelectorAll(`[data-illust-only-media="${CSS.escape(mediaId)}"]`)) {
    if (cell.dataset.illustOnlyState === 'pending' && ofAnotherAccount(cell)) showOtherAccountsCell(cell);
  }
}

/** Fail open: a cell of another account's post shows unjudged, outside the page's counts (as unreadable ones do). */
function showOtherAccountsCell(cell) {
  if (cell.dataset.illustOnlyMedia) forgetCell(cell); // X reused a cell of the grid
  if (cell.dataset.illustOnlyState === 'error') return;
  cell.dataset.illustOnlyState = 'error';
  console.info(`${LOG_PREFIX} showing a media cell of @${authorOfCell(cell)} unjudged (other_account: not on @${accountOfPath(location.pathname)}'s media grid)`);
}

/**
 * Firefox injects this script into the open X tabs again when the extension is updated or reloaded,
 * and kills the earlier instance, whose marks stay on the page: cells keyed by it (which examineCell
 * would take as judged, so they went uncounted and never re-decided), placeholders, bars and a badge
 * whose listeners are gone (a click on "show" followed the cell's link to the post). Its cells are
 * taken over as new ones: held and asked for again (remembered verdicts: no new inference). What the
 * user chose to see there ("show", "show all") lived in the killed script's memory; its marks say it
 * (state revealed), so those stay shown rather than hide again.
 */
function takeOverFromEarlierInstance() {
  for (const cell of document.querySelectorAll('[data-illust-only-media], [data-illust-only-state]')) {
    const shown = cell.dataset.illustOnlyState === 'revealed' ? cell.dataset.illustOnlyMedia : null;
    if (shown) {
      revealed.add(shown);
      revealedOn ??= authorOfCell(cell); // on a photo opened from the grid: kept for the way back to it
    }
    forgetCell(cell);
  }
  for (const left of document.querySelectorAll('.illust-only-note, #illust-only-page-control, #illust-only-notes')) left.remove();
}

function forgetCell(cell) {
  leftBehind.delete(cell);
  delete cell.dataset.illustOnlyLeftBehind;
  delete cell.dataset.illustOnlyMedia;
  delete cell.dataset.illustOnlyState;
  delete cell.dataset.illustOnlyLabel;
  cell.querySelector(':scope > .illust-only-placeholder')?.remove();
  cell.querySelector(':scope > .illust-only-correct')?.remove();
  holdPlayers(cell, false);
}

/**
 * "Judge videos and GIFs" switched off: video and GIF cells show unjudged and leave the page's counts;
 * their requests not sent yet are dropped (they are asked for again when it is switched on).
 */
function stopJudgingVideos() {
  for (const [mediaId, verdict] of verdicts) if (isPosterKey(mediaId) && verdict.status === 'pending') verdicts.delete(mediaId);
  for (const queue of [toLookUp, waitingForRequest, lookahead]) {
    for (let i = queue.length - 1; i >= 0; i -= 1) if (isPosterKey(queue[i]?.mediaId ?? queue[i])) queue.splice(i, 1);
  }
  for (const mediaId of seenOnPage) {
    if (isPosterKey(mediaId)) { seenOnPage.delete(mediaId); postersSetAside.add(mediaId); }
  }
  for (const cell of document.querySelectorAll('[data-illust-only-media]')) {
    if (isPosterKey(cell.dataset.illustOnlyMedia)) forgetCell(cell);
  }
}

/**
 * Switched on again: the page's videos and GIFs count again, also those whose cells X's virtualised
 * grid removed meanwhile (as photos scrolled past stay counted, and "show all" reaches them); those
 * never judged are asked for (from the URL a cell last showed). Cells on screen are examined as new.
 */
function resumeJudgingVideos() {
  for (const mediaId of postersSetAside) {
    seenOnPage.add(mediaId);
    if (!verdicts.has(mediaId)) requestVerdict(mediaId);
  }
  postersSetAside.clear();
}

// X autoplays videos (muted) as they scroll into view. A held cell's player is invisible; keep it from
// playing unseen too, and resume the ones paused here when the cell shows.
const HELD_STATES = new Set(['pending', 'hidden']);
const SHOWING_STATES = new Set(['visible', 'revealed', 'error']);
/** Whether content.css holds this keyed cell invisible now: on a judged page, or a held cell of the grid just left. */
function heldByContentCss(cell) {
  return (active || leftBehind.has(cell)) && HELD_STATES.has(cell.dataset.illustOnlyState);
}

function holdPlayers(cell, held) {
  for (const video of cell.querySelectorAll('video')) {
    if (held && !video.paused) {
      video.dataset.illustOnlyPaused = '';
      video.pause();
    } else if (!held && 'illustOnlyPaused' in video.dataset) {
      delete video.dataset.illustOnlyPaused;
      video.play().catch(() => {}); // the page may have removed its source meanwhile
    }
  }
}

function applyToMedia(mediaId) {
  for (const cell of document.querySelectorAll(`[data-illust-only-media="${CSS.escape(mediaId)}"]`)) {
    applyToCell(cell, mediaId);
  }
  scheduleStatsUpdate();
}

function applyToCell(cell, mediaId) {
  const verdict = verdicts.get(mediaId);
  let state = 'pending';
  if (verdict?.status === 'error') state = 'error';
  else if (verdict?.status === 'done') state = !verdict.hide ? 'visible' : revealed.has(mediaId) ? 'revealed' : 'hidden';
  // "Visible" decided under settings changed since (a re-mounted cell, the grid drawn again after the
  // user changed a setting on the profile, an answer asked before the change) does not show a cell that
  // is not showing yet: the new settings may hide it. A cell already showing it keeps showing.
  if (state === 'visible' && heldUntilRefreshed(verdict) && !SHOWING_STATES.has(cell.dataset.illustOnlyState)) state = 'pending';
  // Switched off, the page is X's and shows every cell as it is: none carries a held state, so the
  // page's counts and any CSS agree with what the user sees (switched on, examineCell applies it again).
  if (HELD_STATES.has(state) && !settings.enabled) state = null;
  if (state) cell.dataset.illustOnlyState = state; else delete cell.dataset.illustOnlyState;
  if (verdict?.status === 'done') cell.dataset.illustOnlyLabel = verdict.label;
  else delete cell.dataset.illustOnlyLabel;
  // Switched off or off the media tab, the page is X's: a verdict arriving then must not pause its player.
  holdPlayers(cell, heldByContentCss(cell));

  renderCorrectionControl(cell, state);
  let placeholder = cell.querySelector(':scope > .illust-only-placeholder');
  if (state !== 'hidden') { placeholder?.remove(); return; }
  if (!placeholder) {
    // "show" reveals this once; "illustration: always show ones like this" is a correction (issue #19).
    // A click elsewhere on the placeholder reveals too. The cell is a link: clicks must not navigate.
    placeholder = document.createElement('span');
    placeholder.className = 'illust-only-placeholder';
    const text = document.createElement('span');
    text.className = 'illust-only-verdict';
    const show = controlButton('illust-only-show', t('cellShow'), '');
    const always = controlButton('illust-only-always', t('cellAlwaysShowOnesLikeThis'), '');
    placeholder.append(text, show, always);
    // One listener (capture, as before: before the link sees the click) for the whole placeholder.
    // The control leaves with its placeholder: a keyboard user's focus goes to the cell now shown.
    onActivate(placeholder, (event) => keepingFocus(cell, placeholder, () => {
      if (event.target.closest?.('.illust-only-always')) { correctCell(cell, 'illustration'); return; }
      const shown = cell.dataset.illustOnlyMedia; // read now: X may have reused the cell for other media
      if (!shown) return;
      revealed.add(shown);
      applyToMedia(shown);
    }));
    cell.append(placeholder);
  }
  // Set on every verdict, not once: X may reuse the cell, and its placeholder, for a video after a photo.
  const words = cellWords(mediaId);
  placeholder.querySelector('.illust-only-verdict').textContent = words.hidden(labelText(verdict.label));
  placeholder.querySelector('.illust-only-show').setAttribute('aria-label', words.showOnce);
  placeholder.querySelector('.illust-only-always').setAttribute('aria-label', words.alwaysShow);
}

/** What a cell's controls say: each names what the media is (an image, a video, a GIF). */
function cellWords(mediaId) {
  const kind = mediaKindOfKey(mediaId);
  if (kind === 'video') return { hidden: (label) => t('cellHiddenVideo', label), showOnce: t('cellShowVideoOnce'), alwaysShow: t('cellAlwaysShowVideos') };
  if (kind === 'gif') return { hidden: (label) => t('cellHiddenGif', label), showOnce: t('cellShowGifOnce'), alwaysShow: t('cellAlwaysShowGifs') };
  return { hidden: (label) => t('cellHiddenImage', label), showOnce: t('cellShowImageOnce'), alwaysShow: t('cellAlwaysShowImages') };
}

// ---- corrections (issue #19): controls on the cells; learning happens in the service worker --------

/** A keyboard-reachable control labelled for screen readers (inside X's link, so a span, not a button). */
function controlButton(className, text, label) {
  const control = document.createElement('span');
  control.className = className;
  control.setAttribute('role', 'button');
  control.tabIndex = 0;
  control.setAttribute('aria-label', label);
  control.textContent = text;
  return control;
}

// The controls sit in X's DOM, where the page's own scripts can click them (element.click(), a made-up
// Enter): only the user's own presses count (isTrusted; a screen reader's are the browser's, trusted too),
// or any script on x.com could store corrections that hide an account's images from now on.
function onActivate(element, action) {
  const run = (event) => {
    if (!event.isTrusted) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    action(event);
  };
  element.addEventListener('click', run, true);
  element.addEventListener('keydown', (event) => { if (event.key === 'Enter' || event.key === ' ') run(event); }, true);
}

/**
 * Runs change(), which may remove the control that has the keyboard focus (inside `from`) with its
 * placeholder or bar: the focus then goes to target() (the cell, unless given), not to the top of the
 * page, where a keyboard or screen-reader user would lose their place.
 */
function keepingFocus(cell, from, change, target = () => cell) {
  const hadFocus = from.contains(document.activeElement);
  change();
  if (hadFocus && !cell.contains(document.activeElement)) target().focus({ preventScroll: true });
}

/**
 * Shown cells (judged visible, or failed) get a small "hide: screenshot / photo" control, visible on
 * hover or focus (content.css). A failed cell keeps it so that a click can say why it cannot learn. A
 * hidden cell shown once ("show") gets "illustration: always show" instead: its placeholder, which
 * offered that, is gone, and looking at it first is how a user finds out.
 */
function renderCorrectionControl(cell, state) {
  let bar = cell.querySelector(':scope > .illust-only-correct');
  const kind = state === 'revealed' ? 'revealed' : state === 'visible' || state === 'error' ? 'shown' : null;
  if (bar?.dataset.kind !== kind) {
    bar?.remove();
    bar = null;
  }
  if (!kind) return;
  if (!bar) {
    bar = document.createElement('span');
    bar.className = 'illust-only-correct';
    bar.dataset.kind = kind;
    bar.setAttribute('role', 'group');
    bar.setAttribute('aria-label', t('cellCorrectBar'));
    // correctCell applies the label at once, and the bar leaves if the cell is now hidden: a keyboard
    // user's focus goes to the placeholder's "show" (the way back), or to the cell.
    const correctFromBar = (label) => keepingFocus(cell, bar, () => correctCell(cell, label),
      () => cell.querySelector(':scope > .illust-only-placeholder')?.querySelector('.illust-only-show') ?? cell);
    if (kind === 'revealed') {
      const always = controlButton('illust-only-always-show', t('cellAlwaysShow'), '');
      onActivate(always, () => correctFromBar('illustration'));
      bar.append(always);
    } else {
      const hint = document.createElement('span');
      hint.textContent = t('cellHideHint');
      const screenshot = controlButton('illust-only-hide-screenshot', labelText('screenshot'), t('cellHideScreenshotLabel'));
      const photo = controlButton('illust-only-hide-photo', labelText('photo'), t('cellHidePhotoLabel'));
      onActivate(screenshot, () => correctFromBar('screenshot'));
      onActivate(photo, () => correctFromBar('photo'));
      bar.append(hint, screenshot, ' / ', photo);
    }
    cell.append(bar);
  }
  // Set on every verdict, as the placeholder's: X may reuse the cell for a video after a photo.
  bar.querySelector('.illust-only-always-show')?.setAttribute('aria-label', cellWords(cell.dataset.illustOnlyMedia).alwaysShow);
}

// The page's one live region, for the cells' notes and the badge's count (a visually hidden role=status
// in a shadow root of its own, so X's CSS cannot reach it): several screen readers announce only
// changes to a live region that was already in the page, so a new role=status element per note was
// often not read at all. Created once while the page is judged (see scheduleStatsUpdate), before any
// cell can get a note or the badge a count.
let noteRegion = null;
const announcements = []; // texts waiting for their turn in the region (see announce)
let announcing = null; // the timer of the text being said
function ensureNoteRegion() {
  if (noteRegion?.host.isConnected || !document.body) return;
  const host = document.createElement('div');
  host.id = 'illust-only-notes';
  const shadow = host.attachShadow({ mode: 'open' });
  shadow.innerHTML = `<style>
      :host { all: initial; position: fixed; left: 0; top: 0; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
    </style><span role="status"></span>`;
  noteRegion = { host, live: shadow.querySelector('span') };
  document.body.append(host);
}

/**
 * Says text in the page's live region. Texts take turns, each there for ANNOUNCE_DELAY_MS at least: one
 * replaced at once (a note and the count in the same moment) may never be read. The same text as the
 * region holds is cleared first, so it is heard again.
 */
function announce(text) {
  ensureNoteRegion();
  if (!noteRegion) return;
  announcements.push(text);
  if (!announcing) sayNextAnnouncement();
}

function sayNextAnnouncement() {
  announcing = null;
  if (announcements.length === 0 || !noteRegion) return;
  const text = announcements[0];
  if (noteRegion.live.textContent === text) {
    noteRegion.live.textContent = '';
    announcing = setTimeout(sayNow, ANNOUNCE_DELAY_MS);
    return;
  }
  sayNow();
}

function sayNow() {
  noteRegion.live.textContent = announcements.shift();
  announcing = setTimeout(sayNextAnnouncement, ANNOUNCE_DELAY_MS);
}

/** Drops what is waiting to be said (the badge's count included): the page it was about was left. */
function stopAnnouncing() {
  announcements.length = 0;
  clearTimeout(announcing);
  announcing = null;
  if (control) clearTimeout(control.announcing);
}

/**
 * A short message on the cell, gone after a few seconds, and said by screen readers from the page's
 * live region (the note itself is aria-hidden: not read twice); red unless `info` (news, not a failure).
 */
function noteOnCell(cell, text, { info = false } = {}) {
  cell.querySelector(':scope > .illust-only-note')?.remove();
  const note = document.createElement('span');
  note.className = info ? 'illust-only-note illust-only-note-info' : 'illust-only-note';
  note.setAttribute('aria-hidden', 'true');
  note.textContent = text;
  cell.append(note);
  announce(text);
  setTimeout(() => note.remove(), 5000);
}

/**
 * Applies the user's label to the cell at once, then asks the service worker to learn it (it stores the
 * correction, refits the personal layer and announces the change, so every open page re-decides).
 * Refused, with a message on the cell, for an image that failed to load or when storage fails.
 */
async function correctCell(cell, label) {
  // Switched off or off the media tab: the page is X's, its controls are hidden; but a hidden cell of the
  // grid just left (see keepLeftBehind) still shows its placeholder, whose "illustration" must work.
  if (!active && !leftBehind.has(cell)) return;
  const mediaId = cell.dataset.illustOnlyMedia;
  const before = mediaId ? verdicts.get(mediaId) : null;
  if (!mediaId || before?.status !== 'done') {
    const why = before?.status === 'error' ? ` (${before.code}: ${before.message})` : '';
    noteOnCell(cell, t('noteCannotLearn'));
    console.info(`${LOG_PREFIX} correction of media ${mediaId} refused: the image did not load${why}`);
    return;
  }
  const hide = (label === 'screenshot' && settings.hideScreenshots !== false) || (label === 'photo' && settings.hidePhotos !== false);
  verdicts.set(mediaId, { ...before, label, hide, generation: settingsGeneration }); // decided now, under the current settings
  revealed.delete(mediaId); // the user's own label decides now, "show" included
  applyToMedia(mediaId);
  // The cell's own account: a cell of the grid just left, which X still shows, is not the page's.
  const account = authorOfCell(cell) ?? pageAccount();
  const askedUnder = settingsGeneration;
  const answer = await askServiceWorker({ type: MSG.CORRECT_MEDIA, mediaId, label, account });
  if (!answer.ok) {
    // Not learned (a private window, storage refused): the old verdict returns, but an image the user
    // called an illustration stays shown this once, as "show" would.
    if (label === 'illustration') revealed.add(mediaId);
    // The focus may sit on a control that leaves with the refused verdict (the placeholder's "show" after
    // "hide:" by keyboard): it stays on the cell.
    keepingFocus(cell, cell, () => {
      if (verdicts.get(mediaId)?.status === 'done') { verdicts.set(mediaId, before); applyToMedia(mediaId); }
    });
    for (const shown of document.querySelectorAll(`[data-illust-only-media="${CSS.escape(mediaId)}"]`)) noteOnCell(shown, t('noteNotLearned', answer.message));
    console.info(`${LOG_PREFIX} correction of media ${mediaId} refused: ${answer.message}`);
    return;
  }
  // The worker decided this verdict just after storing the correction, maybe seconds ago (a large layer
  // refitted, an image judged again): a change the page heard of since (this correction's own
  // announcement, an Undo in the popup) re-decides its verdicts, so that answer is the one that stands.
  if (answer.verdict?.ok && verdicts.get(mediaId)?.status === 'done' && askedUnder === settingsGeneration) storeAnswer(mediaId, answer.verdict);
  // Learned, but its class is shown by the settings: the cell stays as it was, and without a word the
  // press seemed to do nothing.
  const setting = { screenshot: 'hideScreenshots', photo: 'hidePhotos' }[label];
  if (setting && settings[setting] === false) {
    const said = label === 'screenshot' ? t('noteLearnedScreenshotsShown') : t('noteLearnedPhotosShown');
    for (const shown of document.querySelectorAll(`[data-illust-only-media="${CSS.escape(mediaId)}"]`)) noteOnCell(shown, said, { info: true });
  }
}

function examineAllCells() {
  for (const cell of document.querySelectorAll(CELL_SELECTOR)) examineCell(cell);
  scheduleStatsUpdate();
}

function revealAll() {
  for (const mediaId of seenOnPage) {
    const verdict = verdicts.get(mediaId);
    if (verdict?.status === 'done' && verdict.hide && !revealed.has(mediaId)) {
      revealed.add(mediaId);
      applyToMedia(mediaId);
    }
  }
}

// ---- page state: active flag, counts, the page-level control -----------------------------------

function updateActive() {
  const nowActive = Boolean(settings.enabled) && isMediaTabPath(location.pathname);
  root.toggleAttribute('data-illust-only-active', nowActive);
  const videosSwitched = Boolean(settings.judgeVideos) !== judgingVideos;
  judgingVideos = Boolean(settings.judgeVideos);
  root.toggleAttribute('data-illust-only-videos', judgingVideos); // content.css holds video cells only then
  if (videosSwitched && !judgingVideos) stopJudgingVideos();
  else if (videosSwitched) resumeJudgingVideos();
  // Load the model early: on a profile the media tab is one click away (measured: all 60 thumbnails of a
  // media tab judged ~1.9 s after navigation with the model loaded, ~3.3 s without). On the media tab
  // itself the worker starts it when the first lookup finds media not remembered. The model stays
  // loaded while any X tab is open.
  if (settings.enabled && isProfilePath(location.pathname) && !nowActive && settingsLoaded && !prepareSent) {
    prepareSent = true;
    askServiceWorker({ type: MSG.PREPARE });
  }
  if (nowActive) letGoOfLeftBehind(false); // a media tab's rules hold its cells (those of the grid left: see isLeftBehindCell)
  else if (!settings.enabled) { // switched off: nothing is held (see applyToCell)
    letGoOfLeftBehind();
    for (const cell of document.querySelectorAll('[data-illust-only-media]')) {
      if (HELD_STATES.has(cell.dataset.illustOnlyState)) applyToCell(cell, cell.dataset.illustOnlyMedia);
    }
  }
  if (nowActive && (!active || videosSwitched)) { active = true; examineAllCells(); sendWaitingRequests(); refreshJudgedVerdicts(); }
  if (!nowActive && active) {
    // Left for a page that is not a media tab (not a photo opened over the grid, which leaves the grid X's):
    // X draws it a moment after the location changed, and the grid's held cells must not show meanwhile.
    const grid = [...document.querySelectorAll('[data-illust-only-media]')];
    const keepHeld = settings.enabled && !isMediaViewerPath(location.pathname);
    for (const cell of grid) if (keepHeld && HELD_STATES.has(cell.dataset.illustOnlyState)) keepLeftBehind(cell); else holdPlayers(cell, false);
  }
  active = nowActive;
  if (lookingAhead()) for (const cell of document.querySelectorAll(CELL_SELECTOR)) watchPost(cell);
  scheduleStatsUpdate();
}

// Cells of the media tab just left for a page that is not one (Back to the profile, a link home), held
// as they were: X changes the location first and draws the new page a moment later, and a change on the
// page meanwhile (its progress bar) ends judging, so content.css, which holds cells only on a judged
// page, would show the grid's hidden cells (a flash). Marked data-illust-only-left-behind, which
// content.css holds without html[data-illust-only-active]: the new page's own pictures are never held. Each is let go once X
// removes the element or reuses it for another post, when a media tab is active again (its own rules
// hold its cells), when switched off, and in any case after LEFT_BEHIND_MAX_MS (fail open: a grid X
// never removes from such a page shows). Cell → the link it had when kept.
const leftBehind = new Map();
const LEFT_BEHIND_MAX_MS = 5000;
let leftBehindTimer = null;

function keepLeftBehind(cell) {
  leftBehind.set(cell, cell.getAttribute('href'));
  cell.dataset.illustOnlyLeftBehind = '';
  clearTimeout(leftBehindTimer);
  leftBehindTimer = setTimeout(letGoOfLeftBehind, LEFT_BEHIND_MAX_MS);
}

/** Lets every cell of the grid left show (content.css no longer holds it), its state kept as off a media tab. */
function letGoOfLeftBehind(resumePlayers = true) {
  clearTimeout(leftBehindTimer);
  for (const cell of leftBehind.keys()) {
    delete cell.dataset.illustOnlyLeftBehind;
    if (resumePlayers) holdPlayers(cell, false);
  }
  leftBehind.clear();
}

/** Forgets the cells of the grid left that X removed, or reused for another post (which must show as X draws it). */
function letGoOfLeftBehindGone() {
  for (const [cell, href] of leftBehind) {
    if (!cell.isConnected || cell.getAttribute('href') !== href || !isLeftBehindCell(cell)) forgetCell(cell);
  }
}

function checkLocation() {
  if (location.pathname === currentPath) return;
  currentPath = location.pathname; // SPA navigation: counts start again, verdicts stay known (the most recent)
  stopAnnouncing(); // the live region outlives the page: what was left to say of it must not be said on the next
  forgetVerdictsElsewhere(seenOnPage);
  seenOnPage = new Set();
  unusablePicturesOnPage = new Map();
  postersSetAside = new Set();
  askedAhead = new Set();
  // Posts waiting to be judged ahead for one profile are dropped on another's (those in flight still
  // finish and are kept); a photo opened from the profile, or home, keeps them for the way back.
  const user = profileUserOfPath(currentPath);
  if (user !== null) for (let i = lookahead.length - 1; i >= 0; i -= 1) if (lookahead[i].account !== user) lookahead.splice(i, 1);
  // "show" lasts while the user stays with this account: a photo opened from the grid (X shows it over
  // the grid, at /USER/status/ID/photo/N) and closed again, or a look at its profile or at home, keeps
  // what they chose to see. Another account's profile ends it, as its media tab does: which of its tabs
  // the user looked at must not decide whether a screenshot shown before hides again on the way back.
  const account = pageAccount();
  if (account !== null && account !== revealedOn) { revealed.clear(); revealedOn = account; }
  for (const [mediaId, verdict] of verdicts) if (verdict.status === 'error' && failurePasses(verdict)) verdicts.delete(mediaId);
  updateActive();
  judgeAhead(); // back on the profile: its waiting posts go on at once
  if (active) {
    // Cells of another account's grid X still shows keep their state (see isLeftBehindCell).
    for (const cell of document.querySelectorAll('[data-illust-only-media]')) if (!ofAnotherAccount(cell)) forgetCell(cell);
    examineAllCells();
  }
}

// Verdicts of media not on the current page (other accounts' grids, or this grid while a photo opened
// from it is shown) are kept for the way back, the most recently seen this many: X's SPA goes through
// many accounts' grids without a reload, and every media's entry (and the URL its cell showed) would
// stay for the tab's lifetime, ~200 bytes each. One forgotten is looked up again if its cell comes back (the
// worker remembers it: no new inference); the current page's are all kept (its counts need them).
const MAX_VERDICTS_ELSEWHERE = 5000;

/** On leaving a page: its media become the most recently seen, and the oldest beyond the bound are forgotten. */
function forgetVerdictsElsewhere(left) {
  for (const mediaId of left) {
    const verdict = verdicts.get(mediaId);
    if (verdict) { verdicts.delete(mediaId); verdicts.set(mediaId, verdict); } // Map order: oldest first
  }
  let excess = verdicts.size - MAX_VERDICTS_ELSEWHERE;
  for (const [mediaId, verdict] of verdicts) {
    if (excess <= 0) break;
    if (verdict.status === 'pending') continue; // queued or in flight: its answer settles it
    verdicts.delete(mediaId);
    excess -= 1;
  }
  for (const mediaId of lastThumbnailUrl.keys()) if (!verdicts.has(mediaId)) lastThumbnailUrl.delete(mediaId);
}

function pageStats() {
  const stats = { active, judged: 0, hidden: 0, revealed: 0, errors: 0, pending: 0 };
  for (const mediaId of seenOnPage) {
    const verdict = verdicts.get(mediaId);
    if (verdict?.status === 'done') {
      stats.judged += 1;
      if (verdict.hide) stats[revealed.has(mediaId) ? 'revealed' : 'hidden'] += 1;
    } else if (verdict?.status === 'error') stats.errors += 1;
    else stats.pending += 1;
  }
  for (const poster of unusablePicturesOnPage.values()) if (judgingVideos || !poster) stats.errors += 1;
  // Switched off, X shows every cell: none is hidden or waiting (its request waits until switched on).
  if (!settings.enabled) Object.assign(stats, { hidden: 0, revealed: 0, pending: 0 });
  return stats;
}

let statsUpdateQueued = false;
function scheduleStatsUpdate() {
  if (statsUpdateQueued) return;
  statsUpdateQueued = true;
  queueMicrotask(() => {
    statsUpdateQueued = false;
    const stats = pageStats();
    for (const key of ['judged', 'hidden', 'errors', 'pending']) root.setAttribute(`data-illust-only-${key}`, String(stats[key]));
    renderPageControl(stats);
    if (active) ensureNoteRegion();
  });
}

// The badge's count is announced to screen readers politely (from the page's live region: announce),
// at most once per settled batch: when no cell of the page waits for its verdict, not at every verdict
// (the visible count changes with each), and a moment after the count settles. The badge is a group
// named by its visible count.
const ANNOUNCE_DELAY_MS = 100;
let control = null; // {host, text, button, announced, announcing}: a fixed badge in a shadow root, so X's CSS cannot reach it
function renderPageControl(stats) {
  const wanted = active && (stats.hidden > 0 || stats.revealed > 0);
  if (!wanted) { if (control) { control.host.hidden = true; clearTimeout(control.announcing); } return; } // a hidden badge's count is not said
  if (!control) {
    const host = document.createElement('div');
    host.id = 'illust-only-page-control';
    const shadow = host.attachShadow({ mode: 'open' });
    shadow.innerHTML = `<style>
      :host { all: initial; position: fixed; left: 12px; bottom: 12px; z-index: 2147483647; }
      :host([hidden]) { display: none; }
      div { font: 13px/1.3 system-ui, sans-serif; color: #fff; background: #1d2733e6; border-radius: 16px;
            padding: 6px 8px 6px 12px; display: flex; gap: 8px; align-items: center; }
      /* White on X's blue (#1d9bf0) read at 3.0:1; on this darker one at 5.8:1. */
      button { font: inherit; color: #fff; background: #0b65c2; border: 0; border-radius: 12px; padding: 3px 10px; cursor: pointer; }
      button[aria-disabled="true"] { opacity: .5; cursor: default; }
    </style><div role="group" aria-labelledby="count"><span class="count" id="count"></span><button type="button" class="reveal-all"></button></div>`;
    const button = shadow.querySelector('button');
    button.addEventListener('click', (event) => { if (event.isTrusted) { event.stopPropagation(); revealAll(); } }); // the user's press only (see onActivate)
    button.textContent = t('badgeShowAll');
    control = { host, text: shadow.querySelector('.count'), button, announced: '', announcing: null };
    (document.body ?? root).append(host);
  }
  control.host.hidden = false;
  const text = t('badgeHidden', stats.hidden);
  control.text.textContent = text;
  clearTimeout(control.announcing);
  if (stats.pending === 0) {
    control.announcing = setTimeout(() => {
      if (control.announced === text) return;
      control.announced = text;
      announce(text);
    }, ANNOUNCE_DELAY_MS);
  }
  // aria-disabled, not disabled: a disabled button loses the focus, so "show all" used by keyboard
  // would drop it to the top of the page; this one keeps it (and says it has nothing left to show).
  control.button.setAttribute('aria-disabled', String(stats.hidden === 0));
}

// ---- wiring: listeners at top level ------------------------------------------------------------

function onMutations(records) {
  checkLocation();
  if (leftBehind.size > 0) letGoOfLeftBehindGone();
  // Cells X removes are watched no more, wherever the page is now (the observer would keep them alive).
  for (const record of watchedCount > 0 ? records : []) {
    if (record.type !== 'childList') continue;
    for (const node of record.removedNodes) {
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      stopWatching(node);
      for (const cell of node.querySelectorAll(CELL_SELECTOR)) stopWatching(cell);
    }
  }
  const ahead = lookingAhead();
  if (!active && !ahead) return;
  const cells = new Set();
  for (const record of records) {
    if (record.type === 'childList') {
      for (const node of record.addedNodes) {
        if (node.nodeType !== Node.ELEMENT_NODE) continue;
        const around = node.closest(CELL_SELECTOR); // an <img> mounted inside an existing cell
        if (around) cells.add(around);
        for (const cell of node.querySelectorAll(CELL_SELECTOR)) cells.add(cell);
      }
    } else {
      const cell = record.target.closest?.(CELL_SELECTOR); // src / style / href changed
      if (cell) cells.add(cell);
    }
  }
  for (const cell of cells) {
    if (active) examineCell(cell); else watchPost(cell);
  }
}

new MutationObserver(onMutations).observe(document, {
  childList: true, subtree: true, attributes: true, attributeFilter: ['src', 'style', 'href', 'poster'],
});
// No popstate listener: the back and forward buttons, like pushState, are noticed at X's next mutation.
// popstate fires before X's own listener re-renders the page, which still shows the grid for a moment
// (its held cells stay held then: see keepLeftBehind).
// Media events do not bubble, but a capturing listener sees them: a player that starts in a held cell
// (X's autoplay) is paused at once (see holdPlayers).
addEventListener('play', (event) => {
  const cell = event.target instanceof HTMLVideoElement ? event.target.closest('[data-illust-only-media]') : null;
  if (cell && heldByContentCss(cell)) holdPlayers(cell, true);
}, true);
// Leaving X in this tab (or closing it): the service worker frees the model if no X tab is left.
addEventListener('pagehide', () => { chrome.runtime.sendMessage({ type: MSG.PAGE_LEFT }).catch(() => {}); });

chrome.runtime.onMessage.addListener((message, _sender, sendResponse) => {
  switch (message?.type) {
    case MSG.GET_PAGE_STATS:
      sendResponse({ ...pageStats(), url: location.href });
      return false;
    case MSG.REVEAL_ALL:
      revealAll();
      sendResponse({ ...pageStats(), url: location.href });
      return false;
    default:
      return false; // not ours (e.g. messages between the worker and the offscreen document)
  }
});

chrome.storage.onChanged.addListener((_changes, area) => {
  if (area !== 'local') return;
  // Out of date from now, not from when the new settings arrive: a cell X mounts in between (the grid
  // drawn after a setting changed on the profile or in another tab) must not show under the old ones.
  settingsGeneration += 1;
  loadSettings().then(refreshJudgedVerdicts);
});

const SETTINGS_TIMEOUT_MS = 5000; // then the defaults: cells are held until the settings come, and no verdict timer runs before

async function loadSettings() {
  const asking = askServiceWorker({ type: MSG.GET_SETTINGS });
  const answer = await within(asking, SETTINGS_TIMEOUT_MS, null);
  if (answer === null) {
    console.info(`${LOG_PREFIX} settings unavailable (no answer within ${SETTINGS_TIMEOUT_MS / 1000} s); using defaults until they come`);
    applySettings({ ok: false });
    // The user's own settings (switched off, say) still apply when they come.
    asking.then((lateAnswer) => { if (lateAnswer?.ok) { applySettings(lateAnswer); settingsChanged(); } });
    return;
  }
  if (!answer?.ok) console.info(`${LOG_PREFIX} settings unavailable (${answer?.message}); using defaults`);
  applySettings(answer);
}

function applySettings(answer) {
  settingsLoaded = true;
  markOnce('settings answered');
  if (answer?.ok) settings = answer.settings;
  if (answer?.preparing) prepareSent = true; // the worker started the classifier on hearing of this page
  if (answer?.ok) pageLoadsThumbnails = answer.thumbnailTap === true;
  updateActive();
  sendWaitingRequests(); // the cells found before the settings arrived
}

takeOverFromEarlierInstance();
updateActive(); // hold cells from the first byte of a media tab
loadSettings();
