// The demo page's main thread: collects images (drop, folders, picker, paste), shows one card per image
// and the toolbar, and leaves all decoding and inference to worker.js. The model runs once per image;
// moving the strictness slider or the switches only re-applies decide() to the stored scores.
import { MSG, PROVIDERS } from './messages.js';
import { filesFromDataTransfer, filesFromInput } from './files.js';
import { decide, decisionReason, DEFAULT_SETTINGS, thresholdForStrictness } from './lib/decide.js';

const $ = (id) => document.getElementById(id);
const LABEL_TEXT = { illustration: 'Illustration', screenshot: 'Screenshot', photo: 'Photo' };

const params = new URLSearchParams(location.search);
const providerParam = (params.get('provider') ?? '').toLowerCase();
const requestedProvider = PROVIDERS.includes(providerParam) ? providerParam : 'auto';
// ?threads=N overrides ORT's wasm thread count (for measuring); without it the classifier picks. More
// threads than cores only wait for each other (99 made each image ~25x slower): capped at the cores.
const CORES = Math.max(1, navigator.hardwareConcurrency || 1);
const threadsParam = /^[1-9]\d?$/.test(params.get('threads') ?? '') ? Number(params.get('threads')) : undefined;
const requestedThreads = threadsParam === undefined ? undefined : Math.min(threadsParam, CORES);
const startNotices = [
  ...(params.has('provider') && providerParam !== requestedProvider ? [`Unknown engine "${params.get('provider')}" in the address: using auto.`] : []),
  // Without cross-origin isolation ORT has no shared memory for threads, whatever the address asks.
  ...(threadsParam > 1 && !globalThis.crossOriginIsolated
    ? [`threads=${threadsParam}: this page is not cross-origin isolated, so ONNX Runtime runs 1 thread.`]
    : threadsParam > CORES ? [`threads=${threadsParam} is more than this machine's ${CORES} cores: using ${CORES}.`] : []),
];

/** A batch's tally: files added, answered, and of those the ones the image or the classifier failed. */
function newBatch() {
  return { total: 0, done: 0, unreadable: 0, unclassified: 0 };
}
// Failures of the classifier rather than of the image: "could not be read" would blame the file.
const CLASSIFIER_FAILURES = new Set(['not_ready', 'no_model', 'internal', 'inference_failed']);

const state = {
  contract: null,
  engine: null,          // READY message: provider, threads, workers, modelVersion, note
  initError: null,
  settings: { ...DEFAULT_SETTINGS },
  cards: new Map(),      // id → {id, path, file, url (once shown), el, result, personal: {scores, personal} | null}
  learned: 0,            // corrections the personal layer learned from (the worker fits it)
  corrections: 0,        // corrections sent to the worker, never reset: PERSONAL answers the one it names
  nextId: 1,
  batch: newBatch(),     // + started (performance.now()) while a batch runs
  lastBatch: null,       // {count, ms}: the last finished batch's wall time
  workerDead: null,      // why the worker stopped: new files get an error card at once
  listings: new Map(),   // dropped folders still being listed: AbortController (Stop and Clear end them) → folder count
};

// ---- worker -------------------------------------------------------------------------------------
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
worker.onmessage = ({ data }) => {
  switch (data.type) {
    case MSG.READY: onReady(data); break;
    case MSG.INIT_FAILED: onInitFailed(data.message); break;
    case MSG.RESULT: onResult(data.id, data.result); break;
    case MSG.PERSONAL: onPersonal(data); break;
    case MSG.PROBED: onProbed(data.id, data.show); break;
    default: console.warn('illust-only: unknown message from worker', data);
  }
};
worker.onerror = (event) => {
  event.preventDefault();
  onInitFailed(`the worker stopped: ${event.message || 'it could not be loaded'}`, { workerDied: true });
};
worker.postMessage({ type: MSG.INIT, provider: requestedProvider, threads: requestedThreads });

function onReady(engine) {
  state.engine = engine;
  state.contract = engine.contract;
  for (const card of state.cards.values()) if (card.result?.ok) applyDecision(card);
  renderThreshold();
  renderEngine();
  renderCounts();
  updateBusy();
}

function onInitFailed(message, { workerDied = false } = {}) {
  state.initError = message;
  if (workerDied) state.workerDead = message;
  renderEngine();
  // Queued cards get their own error result from the worker; if the worker itself died, fail them here.
  if (workerDied) {
    for (const card of state.cards.values()) {
      if (!card.result) onResult(card.id, { ok: false, code: 'not_ready', message });
      if (card.thumbnailAsked) onProbed(card.id, true);
    }
  }
  updateBusy();
}

// ---- adding images ------------------------------------------------------------------------------
/** What was dropped, pasted or picked: a card for each file (cardsAdded of them have one already, added as a folder was listed), and a note on what was skipped. */
function addFiles({ files, skipped = [], failed = [] }, { cardsAdded = 0 } = {}) {
  const notes = [];
  if (skipped.length) {
    const shown = skipped.slice(0, 5).join(', ') + (skipped.length > 5 ? `, … (${skipped.length - 5} more)` : '');
    notes.push(`Skipped in folders, not images: ${shown}.`);
  }
  if (files.length + cardsAdded === 0 && failed.length === 0) notes.push('Nothing to classify there: drop or paste image files.');
  showNotice(notes.join(' '));
  addCards([...files, ...failed]);
}

/**
 * A card per entry, in order: a file ({file, path}) is sent to the worker; one the browser would not
 * read ({path, message}) gets its reason at once.
 */
function addCards(entries) {
  const fragment = document.createDocumentFragment();
  // A batch's clock starts with its first card (updateBusy opens a new batch once nothing is pending): its
  // wall time is what the user waits for the lot. A folder still listed after the model caught up with it
  // is the same batch: restarting the clock for its next cards timed only the latest ones.
  if (entries.length > 0) state.batch.started ??= performance.now();
  const answeredNow = [];
  for (const { file, path, message } of entries) {
    const card = createCard(path, file ?? null);
    fragment.append(card.el);
    state.batch.total++;
    if (!file) answeredNow.push([card.id, { ok: false, code: 'unreadable', message }]);
    // A dead worker would never answer: the card gets its error now instead of "queued" forever.
    else if (state.workerDead) answeredNow.push([card.id, { ok: false, code: 'not_ready', message: state.workerDead }]);
    else worker.postMessage({ type: MSG.CLASSIFY, id: card.id, file });
  }
  for (const [id, result] of answeredNow) onResult(id, result);
  $('results').append(fragment);
  renderCounts(); // the empty-filter line counts the new cards at once, before any result
  updateBusy();
}

/**
 * Thumbnails get their blob URL as their card comes near the view. URL.createObjectURL waits for
 * Chromium's browser process (~2 ms each): made for every card at once, it held the first card of a
 * dropped folder of 1,471 images back 2.6 s, for thumbnails mostly far below the fold.
 */
const thumbnailObserver = new IntersectionObserver((seen) => {
  for (const { isIntersecting, target } of seen) {
    const card = isIntersecting && state.cards.get(Number(target.dataset.id));
    if (!card) continue;
    thumbnailObserver.unobserve(target);
    showThumbnail(card);
  }
}, { rootMargin: '100% 0px' });

/**
 * The worker looks at the file's header first (PROBE): an <img> decodes an image over the core's pixel cap
 * in full, and a 20000×20000 PNG (1.6 MB of file) held the page's painting back ~10 s, also while its
 * card waited for the model. Such a card shows no preview. A dead worker answers nothing: show the file.
 */
function showThumbnail(card) {
  if (state.workerDead) { onProbed(card.id, true); return; }
  card.thumbnailAsked = true;
  worker.postMessage({ type: MSG.PROBE, id: card.id, file: card.file });
}

function onProbed(id, show) {
  const card = state.cards.get(id);
  if (!card || card.url) return; // cleared meanwhile
  card.thumbnailAsked = false;
  if (!show) { card.el.classList.add('no-thumb'); return; }
  card.url = URL.createObjectURL(card.file);
  card.el.querySelector('img').src = card.url;
}

/** A card for path; file (absent for a file that could not be read) gives its thumbnail. */
function createCard(path, file) {
  const id = state.nextId++;
  const el = $('card-template').content.firstElementChild.cloneNode(true);
  el.dataset.id = id;
  el.querySelector('.name').textContent = path;
  el.querySelector('.name').title = path;
  const img = el.querySelector('img');
  img.alt = `Thumbnail of ${path}`;
  img.addEventListener('error', () => el.classList.add('no-thumb'), { once: true });
  if (file) thumbnailObserver.observe(el); else el.classList.add('no-thumb');
  const card = { id, path, file, url: null, el, result: null, personal: null };
  el.querySelector('.label').addEventListener('click', () => toggleCorrection(card));
  // Waiting for its verdict, the label is in the Tab order too (disabled, Tab skipped every card of a
  // running batch): no action yet, and its name says it waits.
  el.querySelector('.label').setAttribute('aria-label', `Queued — ${path}: waiting for its verdict`);
  // Escape closes an open correction menu without correcting (keyboard users had no way out of it).
  el.querySelector('.verdict').addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && closeCorrection(card)) event.preventDefault();
  });
  state.cards.set(id, card);
  return card;
}

function onResult(id, result) {
  const card = state.cards.get(id);
  if (!card || card.result) return;
  card.result = result;
  state.batch.done++;
  if (!result.ok) state.batch[CLASSIFIER_FAILURES.has(result.code) ? 'unclassified' : 'unreadable']++;
  recordBatchTime();
  const { el } = card;
  if (result.ok) {
    el.dataset.state = 'done';
    card.personal = result.personal ?? null;
    renderBars(el, result.scores);
    el.querySelector('.meta').textContent =
      `${result.width}×${result.height} ${result.format} · ${result.ms.total.toFixed(0)} ms`;
    if (state.contract) applyDecision(card);
  } else {
    el.dataset.state = 'error';
    el.dataset.label = 'error';
    el.dataset.code = result.code;
    el.querySelector('.error-message').textContent = result.message;
    showNothingToCorrect(card, 'Error', el.querySelector('.error-message'));
  }
  scheduleRender();
}

/**
 * The label of a card with no verdict (an error, or Stopped) stays in the Tab order as the other cards'
 * do: disabled, Tab skipped it, and a keyboard or screen-reader user never heard that the file failed,
 * nor why. aria-disabled says there is no action; the reason, if shown, is its description.
 */
function showNothingToCorrect(card, text, reason = null) {
  const button = card.el.querySelector('.label');
  button.textContent = text;
  button.setAttribute('aria-disabled', 'true');
  button.setAttribute('aria-label', `${text} — ${card.path}: nothing to correct`);
  if (!reason) return;
  reason.id = `card-${card.id}-reason`;
  button.setAttribute('aria-describedby', reason.id);
}

function renderBars(el, scores) {
  const list = el.querySelector('.bars');
  list.replaceChildren();
  for (const label of state.contract?.labels ?? Object.keys(scores)) {
    const p = scores[label];
    const row = document.createElement('li');
    row.dataset.label = label;
    row.dataset.p = String(p);
    row.innerHTML = '<span class="bar-name"></span><span class="bar"><span class="fill"></span></span><span class="bar-value"></span>';
    row.querySelector('.bar-name').textContent = LABEL_TEXT[label] ?? label;
    row.querySelector('.fill').style.width = `${(p * 100).toFixed(1)}%`;
    row.querySelector('.bar-value').textContent = `${(p * 100).toFixed(1)}%`;
    list.append(row);
  }
}

function applyDecision(card) {
  // The personal layer's scores when the user's corrections decide this card, else the model's.
  const { label, hide } = decide(card.personal?.scores ?? card.result.scores, state.contract, state.settings);
  card.el.dataset.label = label;
  card.el.dataset.hidden = String(hide);
  card.el.dataset.personal = String(Boolean(card.personal?.personal));
  const button = card.el.querySelector('.label');
  button.textContent = LABEL_TEXT[label] ?? label;
  button.removeAttribute('aria-disabled');
  // The bars show the model's scores; where the label is not the largest one, say what decided it (the
  // threshold; a label learned from corrections says so in its name instead).
  const reason = card.el.querySelector('.reason');
  reason.id = `card-${card.id}-reason`;
  reason.textContent = (!card.personal?.personal && decisionReason(card.result.scores, state.contract, state.settings)) || '';
  if (reason.textContent) button.setAttribute('aria-describedby', reason.id); else button.removeAttribute('aria-describedby');
  const menu = card.el.querySelector('.correct-menu');
  button.setAttribute('aria-expanded', String(Boolean(menu)));
  if (menu) offerOtherLabels(menu, label);
  // The file's name too: tabbing from label to label, a screen reader would otherwise say the same
  // "Photo: click to correct" for every card, never which image it is.
  button.setAttribute('aria-label', `${LABEL_TEXT[label] ?? label}${card.personal?.personal ? ' (learned from your corrections)' : ''} — ${card.path}: click to correct`);
}

// ---- corrections: a card's label is a button; choosing another label teaches the personal layer ----
/** The label opens its menu, and a second press closes it: the user may change their mind. */
function toggleCorrection(card) {
  if (!closeCorrection(card)) openCorrection(card);
}

/** Closes the card's correction menu, if open, and gives focus back to its label. Returns whether it was open. */
function closeCorrection(card, { focusLabel = true } = {}) {
  const menu = card.el.querySelector('.correct-menu');
  if (!menu) return false;
  menu.remove();
  const button = card.el.querySelector('.label');
  button.setAttribute('aria-expanded', 'false');
  if (focusLabel) button.focus();
  return true;
}

/**
 * Greys out the card's current label in its open menu. The slider (or similar cards following a
 * correction) can change that label while the menu is open; the stale choice offered the label the card
 * already had and refused the one it had left. A focused choice that turns grey hands its focus on.
 */
function offerOtherLabels(menu, label) {
  const focused = menu.contains(document.activeElement) ? document.activeElement : null;
  for (const choice of menu.querySelectorAll('button')) choice.disabled = choice.dataset.choice === label;
  if (focused?.disabled) menu.querySelector('button:not([disabled])').focus();
}

function openCorrection(card) {
  const verdict = card.el.querySelector('.verdict');
  if (!card.result?.ok || !state.contract || verdict.querySelector('.correct-menu')) return;
  // One menu at a time, as menus go: another card's stays closed once this one opens.
  const openCard = $('results').querySelector('.correct-menu')?.closest('.card');
  if (openCard) closeCorrection(state.cards.get(Number(openCard.dataset.id)), { focusLabel: false });
  const menu = document.createElement('span');
  menu.className = 'correct-menu';
  menu.setAttribute('role', 'group');
  menu.setAttribute('aria-label', 'Correct this label');
  for (const label of state.contract.labels) {
    const choice = document.createElement('button');
    choice.type = 'button';
    choice.textContent = LABEL_TEXT[label] ?? label;
    choice.dataset.choice = label;
    choice.addEventListener('click', () => {
      closeCorrection(card);
      // The card changes at once; the worker refits and re-decides every card (PERSONAL).
      card.personal = { scores: Object.fromEntries(state.contract.labels.map((l) => [l, l === label ? 1 : 0])), personal: true };
      applyDecision(card);
      renderCounts();
      keepFocusInView(card);
      worker.postMessage({ type: MSG.CORRECT, id: card.id, label, correction: ++state.corrections });
    });
    menu.append(choice);
  }
  offerOtherLabels(menu, card.el.dataset.label);
  verdict.append(menu);
  card.el.querySelector('.label').setAttribute('aria-expanded', 'true');
  menu.querySelector('button:not([disabled])').focus();
}

/**
 * A label that changes can take its card out of the filtered view (an illustration corrected to photo
 * under "Only illustrations"), and the focus on that card's label with it: it fell to <body>, so a
 * keyboard or screen-reader user lost their place. It goes to the nearest card still shown, else the list.
 */
function keepFocusInView(card) {
  if (!card?.el.contains(document.activeElement) || card.el.checkVisibility()) return;
  const cards = [...$('results').children];
  const at = cards.indexOf(card.el);
  const usable = (el) => el.checkVisibility();
  const next = cards.slice(at + 1).find(usable) ?? cards.slice(0, at).reverse().find(usable);
  if (next) next.querySelector('.label').focus();
  else $('results').focus({ preventScroll: true });
}

function onPersonal({ correction, learned, adjusted }) {
  // The answer to a correction made before the latest one does not know that one yet: applied, it put
  // the label the user had just chosen back to the old one until the next answer (Photo, Illustration,
  // Photo). The latest one's answer is on its way.
  if (correction !== state.corrections) return;
  // The answer to a correction made just before Clear arrives after it: its cards are gone (ids are
  // never reused, and the corrected card is always among `adjusted`), and so is what it learned.
  if (!adjusted.some(({ id }) => state.cards.has(id))) return;
  const focusedCard = state.cards.get(Number(document.activeElement?.closest?.('.card')?.dataset.id));
  state.learned = learned;
  for (const { id, scores, personal } of adjusted) {
    const card = state.cards.get(id);
    if (!card?.result?.ok) continue;
    card.personal = { scores, personal };
    if (state.contract) applyDecision(card);
  }
  renderLearned();
  renderCounts();
  keepFocusInView(focusedCard); // similar cards follow a correction, the focused one among them
}

function renderLearned() {
  $('learned').textContent = state.learned > 0
    ? `Learned from ${state.learned} correction${state.learned === 1 ? '' : 's'} (click a card's label to correct it)`
    : 'Click a card\'s label to correct it: similar images follow.';
}

// ---- toolbar ------------------------------------------------------------------------------------
let renderQueued = false;
function scheduleRender() {
  // Results can arrive faster than frames; one toolbar update per frame keeps 300-image drops smooth.
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; renderCounts(); renderEngine(); updateBusy(); });
}

function renderCounts() {
  const counts = { illustration: 0, screenshot: 0, photo: 0, hidden: 0, error: 0 };
  for (const { el, result } of state.cards.values()) {
    if (!result || result.code === 'cancelled') continue;
    if (!result.ok) { counts.error++; continue; }
    if (el.dataset.label in counts) counts[el.dataset.label]++;
    if (el.dataset.hidden === 'true') counts.hidden++;
  }
  for (const [name, n] of Object.entries(counts)) $(`count-${name}`).textContent = n;
  renderEmpty(counts);
}

/**
 * "No images yet", or, when a filter hides every card, say so rather than show a blank page. The
 * filters show the cards that renderCounts counts as illustration and as hidden.
 */
function renderEmpty(counts) {
  const filter = $('results').dataset.filter;
  const shown = filter === 'illustration' ? counts.illustration : filter === 'hidden' ? counts.hidden : state.cards.size;
  const what = filter === 'hidden' ? 'would be hidden' : 'is an illustration';
  // Cards still waiting for the model are not judged yet, and a folder still listed has more to come:
  // "none is" would be said too early.
  const pending = [...state.cards.values()].filter((card) => !card.result).length;
  // Cards Stop took from the queue were never judged: "none of 565" would speak for them too.
  const stopped = [...state.cards.values()].filter((card) => card.result?.code === 'cancelled').length;
  $('empty').textContent = state.cards.size === 0 ? 'No images yet.'
    : pending > 0 || state.listings.size > 0 ? `No image ${what} so far (${state.cards.size - pending} of ${state.cards.size} judged).`
      : stopped > 0 ? `No image ${what} (${state.cards.size - stopped} of ${state.cards.size} judged before Stop): choose "all" to see them.`
        : `No image ${what} (${state.cards.size} in all): choose "all" to see them.`;
  $('empty').hidden = shown > 0;
}

/**
 * The batch's wall time, once its last file is answered and no dropped folder is still listed: the
 * model catching up with a slow listing is not the end of the batch ("last batch: 3 images" mid-drop).
 */
function recordBatchTime() {
  const { total, done, started } = state.batch;
  if (total > 0 && done === total && started !== undefined && state.listings.size === 0) {
    state.lastBatch = { count: total, ms: performance.now() - started };
  }
}

function median(values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function renderEngine() {
  const el = $('engine');
  if (state.initError) {
    el.textContent = `The classifier could not start: ${state.initError}`;
    el.dataset.state = 'error';
    return;
  }
  const engine = state.engine;
  if (!engine) return;
  const parts = [];
  if (engine.provider === 'webgpu') parts.push('WebGPU');
  else {
    const threads = `${engine.threads} thread${engine.threads === 1 ? '' : 's'}`;
    const workers = engine.workers ? `${engine.workers} worker${engine.workers === 1 ? '' : 's'} × ` : '';
    parts.push(`WASM, ${workers}${threads}${engine.isolated ? '' : ' (page not cross-origin isolated)'}`);
  }
  parts.push(`model ${engine.modelVersion ?? 'unknown'}`);
  const times = [...state.cards.values()].filter((c) => c.result?.ok).map((c) => c.result.ms.total);
  const med = median(times);
  parts.push(med === null ? 'no images yet' : `median ${med.toFixed(1)} ms per image (${times.length})`);
  // Several images run at once on the pool, so the batch's wall time says more than the median.
  const last = state.lastBatch;
  if (last && last.count > 1) {
    parts.push(`last batch: ${last.count} images in ${(last.ms / 1000).toFixed(1)} s (${(last.ms / last.count).toFixed(0)} ms each)`);
  }
  el.textContent = parts.join(' · ') + (engine.note ? ` (${engine.note})` : '');
  el.dataset.state = 'ready';
  el.dataset.provider = engine.provider;
  el.dataset.threads = engine.threads;
  el.dataset.workers = engine.workers ?? 1;
}

function updateBusy() {
  const { total, done } = state.batch;
  // A dropped folder still being listed keeps the batch open (and Stop at hand): its cards come in batches.
  const busy = done < total || state.listings.size > 0;
  const row = $('progress-row');
  // Stop (or the last result) hides the row: keep keyboard focus on the page, not on <body>, and not on
  // Clear: an Enter meant for Stop (held, or pressed just as the batch ended) then wiped every result.
  if (!busy && !row.hidden && row.contains(document.activeElement)) $('results').focus({ preventScroll: true });
  // Said once per batch, also one whose files all failed at once (the row never showed).
  if (!busy && total > 0) announce(batchSummary(state.batch));
  row.hidden = !busy;
  if (busy && total === 0) {
    // A dropped folder whose first image is not found yet (many other files first): Stop is at hand,
    // the bar has nothing to count yet.
    $('progress').removeAttribute('value');
    $('progress-text').textContent = 'looking for images…';
  } else if (busy) {
    $('progress').max = total;
    $('progress').value = done;
    $('progress-text').textContent = `${done} / ${total}`;
  } else {
    state.batch = newBatch();
  }
  document.body.dataset.state = state.initError ? 'error' : !state.engine ? 'loading' : busy ? 'busy' : 'ready';
}

/** What a finished batch did, for screen readers: "2 of 3 images classified; 1 could not be read." */
function batchSummary({ total, done, unreadable, unclassified }) {
  const parts = [`${done - unreadable - unclassified} of ${total} image${total === 1 ? '' : 's'} classified`];
  if (unreadable) parts.push(`${unreadable} could not be read`);
  if (unclassified) parts.push(`${unclassified} could not be judged: the classifier failed`);
  return `${parts.join('; ')}.`;
}

let announceTimer;
/**
 * Says text in the live region. The region is emptied first and filled a moment later: the same text
 * set again ("1 of 1 image classified." after each one-file batch) is no change to the accessibility
 * tree, and screen readers said nothing the second time.
 */
function announce(text) {
  const region = $('status-live');
  clearTimeout(announceTimer);
  region.textContent = '';
  announceTimer = setTimeout(() => { region.textContent = text; }, 100);
}

function renderThreshold() {
  if (!state.contract) { $('threshold-text').textContent = ''; return; }
  const t = thresholdForStrictness(state.settings.strictness, state.contract);
  $('threshold-text').textContent = `illustration if p ≥ ${t.toFixed(2)}`;
}

function onSettingsChange() {
  state.settings = {
    strictness: Number($('strictness').value) / 100,
    hideScreenshots: $('hide-screenshots').checked,
    hidePhotos: $('hide-photos').checked,
  };
  if (!state.contract) return;
  for (const card of state.cards.values()) if (card.result?.ok) applyDecision(card);
  renderThreshold();
  renderCounts();
}

/** "Reading the dropped folder…" while dropped folders are still being listed, else ''. */
function readingNotice() {
  const folders = [...state.listings.values()].reduce((sum, count) => sum + count, 0);
  return folders === 0 ? '' : `Reading the dropped folder${folders === 1 ? '' : 's'}…`;
}

function showNotice(text) {
  // A folder still being listed keeps its "Reading…" line: a pick, a paste or an earlier drop ending
  // meanwhile took it away, and the page looked done while its cards kept coming.
  const shown = [text, readingNotice()].filter(Boolean).join(' ');
  $('notice').textContent = shown;
  $('notice').hidden = !shown;
}

/** Stop drops every file not judged yet; announced unless Clear (which empties the page anyway) stopped them. */
function stopPending({ announceStop = true } = {}) {
  const { total, done } = state.batch;
  if (announceStop && (done < total || state.listings.size > 0)) announce(`Stopped: ${done} of ${total} image${total === 1 ? '' : 's'} judged.`);
  if (state.listings.size > 0) {
    for (const listing of state.listings.keys()) listing.abort(); // no more cards from the folders being listed
    state.listings.clear();
    showNotice(''); // "Reading the dropped folder…"
  }
  worker.postMessage({ type: MSG.CANCEL });
  for (const card of state.cards.values()) {
    if (card.result) continue;
    card.result = { ok: false, code: 'cancelled', message: 'not classified: stopped' };
    card.el.dataset.state = 'cancelled';
    showNothingToCorrect(card, 'Stopped');
  }
  state.batch = newBatch();
  renderCounts(); // the empty-filter line said "so far (0 of 3 judged)" after the Stop
  updateBusy();
}

function clearAll() {
  stopPending({ announceStop: false });
  thumbnailObserver.disconnect();
  for (const card of state.cards.values()) if (card.url) URL.revokeObjectURL(card.url);
  state.cards.clear();
  state.lastBatch = null;
  state.learned = 0;
  worker.postMessage({ type: MSG.FORGET });
  renderLearned();
  $('results').replaceChildren();
  showNotice('');
  renderCounts();
  renderEngine();
}

// ---- wiring -------------------------------------------------------------------------------------
$('pick-files').addEventListener('click', () => $('file-input').click());
$('pick-folder').addEventListener('click', () => $('folder-input').click());
for (const input of [$('file-input'), $('folder-input')]) {
  input.addEventListener('change', () => {
    const found = filesFromInput(input);
    input.value = '';
    afterEarlierDrops(() => addFiles(found));
  });
}

// Settles once every drop made so far has been listed (or stopped), and whatever waited for them added.
let earlierDropsListed = Promise.resolve();

/**
 * Runs add at once, or, while a dropped folder is still being listed, after it: files picked or pasted
 * meanwhile got their cards among the folder's, which kept coming after them. Waiting, it counts as a
 * listing, so Stop and Clear drop it with the folders (Stop drops every file not judged yet).
 */
function afterEarlierDrops(add) {
  if (state.listings.size === 0) { add(); return; }
  const waiting = new AbortController();
  state.listings.set(waiting, 0);
  earlierDropsListed = earlierDropsListed.then(() => {
    if (waiting.signal.aborted) return;
    state.listings.delete(waiting);
    add();
  });
}

let dragDepth = 0;
const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
document.addEventListener('dragenter', (event) => {
  if (!hasFiles(event)) return;
  dragDepth++;
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', () => {
  if (dragDepth > 0 && --dragDepth === 0) document.body.classList.remove('dragging');
});
document.addEventListener('dragover', (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = 'copy';
});
document.addEventListener('drop', (event) => {
  event.preventDefault();
  dragDepth = 0;
  document.body.classList.remove('dragging');
  // Cards appear, and are judged, as the folders are listed: 1,471 files took ~2 s to list.
  const listing = new AbortController();
  state.listings.set(listing, 0);
  // Until the folders are listed the page looked as if the drop had been missed (the 5,747 images of
  // ../shared/data still take seconds to list in Chromium), and users dropped them again: say it arrived
  // (showNotice says "Reading the dropped folder…" while a listing counts folders).
  // Stop is at hand from the drop on, before the folder's first image is found (updateBusy).
  const onFolders = (count) => { state.listings.set(listing, count); showNotice(''); updateBusy(); };
  let cardsAdded = 0;
  // Files and the entries the browser would not read, in their order (the latter came after every card).
  const onFiles = (found) => { cardsAdded += found.length; addCards(found); };
  const listed = () => { state.listings.delete(listing); recordBatchTime(); renderEngine(); };
  // A drop made while another is listed waits for it: their cards came interleaved, 30 of one, 20 of the other.
  const pending = filesFromDataTransfer(event.dataTransfer, { onFolders, onFiles, signal: listing.signal, after: earlierDropsListed });
  earlierDropsListed = pending.then(() => {}, () => {}); // not its files: Clear lets go of them
  pending.then(
    ({ skipped }) => {
      if (listing.signal.aborted) return; // stopped or cleared meanwhile
      listed();
      addFiles({ files: [], skipped }, { cardsAdded }); // its cards, failures too, came through onFiles
    },
    (error) => { listed(); showNotice(`Could not read the drop: ${error.message}`); updateBusy(); });
});
document.addEventListener('paste', (event) => {
  // The page has no text fields, so every paste is meant for the classifier.
  const pending = filesFromDataTransfer(event.clipboardData);
  event.preventDefault();
  pending.then((found) => afterEarlierDrops(() => {
    if (found.files.length === 0 && found.failed.length === 0) showNotice('The clipboard holds no image: copy an image or an image file first.');
    else addFiles(found);
  }));
});

$('strictness').addEventListener('input', onSettingsChange);
$('hide-screenshots').addEventListener('change', onSettingsChange);
$('hide-photos').addEventListener('change', onSettingsChange);
for (const radio of document.querySelectorAll('input[name="filter"]')) {
  radio.addEventListener('change', () => { $('results').dataset.filter = radio.value; renderCounts(); });
}
$('stop').addEventListener('click', () => stopPending());
$('clear').addEventListener('click', clearAll);
// Another engine means a new page (the worker and its runtimes start again): choosing one in the list
// (arrow keys change it too) only offers the switch; the button reloads, after asking if results would go.
$('provider').value = requestedProvider;
$('provider').addEventListener('change', () => { $('apply-provider').hidden = $('provider').value === requestedProvider; });
$('apply-provider').addEventListener('click', () => {
  const count = state.cards.size;
  if (count > 0 && !confirm(`Switching the engine reloads the page and clears the ${count} image${count === 1 ? '' : 's'} shown. Switch?`)) return;
  const url = new URL(location.href);
  url.searchParams.set('provider', $('provider').value);
  location.assign(url);
});
if (startNotices.length) showNotice(startNotices.join(' '));
$('strictness').value = String(Math.round(state.settings.strictness * 100));
renderCounts();
renderLearned();
updateBusy();
