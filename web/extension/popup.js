// The popup's logic: shows and edits the settings (chrome.storage.local via settings.js; the content
// script and the service worker pick changes up live), polls the current tab's content script for its
// counts, shows which execution provider the classifier really runs on (and why not WebGPU), and how
// many verdicts are remembered on this device, with a button to forget them.
import { MSG } from './messages.js';
import { t, tn } from './i18n.js';
import { classifierLabel } from './classifier-label.js';
import { oncePressed, setDisabledKeepingFocus } from './popup-focus.js';
import { readSettings, writeSettings } from './settings.js';
import { thresholdForStrictness } from '../lib/decide.js';

const $ = (id) => document.getElementById(id);
const STATS_POLL_MS = 1000;
let contract = null;

/**
 * popup.html's own words in the browser's language: [data-i18n] gets its message as text,
 * [data-i18n-markup] may hold <b> and <i> (host names, a path's variable part), made as elements, never
 * parsed as HTML. Run before popup-corrections.js (the next module script), which writes over some.
 */
function showMessages() {
  document.documentElement.lang = t('htmlLang');
  for (const element of document.querySelectorAll('[data-i18n]')) element.textContent = t(element.dataset.i18n);
  for (const element of document.querySelectorAll('[data-i18n-markup]')) {
    const parts = t(element.dataset.i18nMarkup).split(/(<[bi]>[^<]*<\/[bi]>)/).filter(Boolean);
    element.replaceChildren(...parts.map((part) => {
      const tag = /^<([bi])>([^<]*)<\/\1>$/.exec(part);
      return tag ? Object.assign(document.createElement(tag[1]), { textContent: tag[2] }) : document.createTextNode(part);
    }));
  }
}
showMessages();

// Firefox makes MV3 host permissions the user's choice (asked for at install, revocable later):
// without them the content script is not injected and images cannot be fetched, so X shows as it is.
// The popup says so and asks; permissions.request must be called straight from the click.
const HOST_ORIGINS = chrome.runtime.getManifest().host_permissions ?? [];

// Until granted the page section says nothing: the tab's URL is unreadable, and its "Open a profile's
// media tab" beside a media tab sent the user away from it. Granted by keyboard, the access section goes
// with its button, and the focus would fall to the popup's start: it moves on to what the page section
// then says (for an X tab open before, "Reload this tab").
async function refreshAccess(tabId) {
  const granted = await chrome.permissions.contains({ origins: HOST_ORIGINS }).catch(() => true);
  const hadFocus = $('access').contains(document.activeElement);
  $('access').hidden = granted;
  $('page').hidden = !granted;
  if (hadFocus && granted) {
    await refreshPage(tabId);
    focusPageSection();
  }
  return granted;
}

/** Focuses what the page section shows: the reloaded tab's counts, a note, or "Reload this tab". */
function focusPageSection() {
  ['counts', 'off-note', 'page-note', 'reload-tab'].map($).find((element) => element.checkVisibility())?.focus();
}

async function targetTabId() {
  const fromQuery = Number(new URLSearchParams(location.search).get('tab'));
  if (Number.isInteger(fromQuery) && fromQuery > 0) return fromQuery;
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab?.id ?? null;
}

function showSettings(settings) {
  $('enabled').checked = settings.enabled;
  $('hideScreenshots').checked = settings.hideScreenshots;
  $('hidePhotos').checked = settings.hidePhotos;
  $('judgeVideos').checked = settings.judgeVideos;
  $('useGpu').checked = settings.useGpu;
  $('strictness').value = String(settings.strictness);
  $('options').disabled = !settings.enabled;
  showThreshold(settings.strictness);
}

function showThreshold(strictness) {
  $('threshold').textContent = contract
    ? t('strictnessThreshold', thresholdForStrictness(strictness, contract).toFixed(2))
    : '';
  // A screen reader would read the slider as a bare "0.55": it reads what the strictness means instead.
  const meaning = $('threshold').textContent;
  $('strictness').setAttribute('aria-valuetext', `${Number(strictness).toFixed(2)}${meaning ? `: ${meaning}` : ''}`);
}

// An X page whose tab has no content script must be reloaded to get one: it was opened before the
// access to X was allowed (Firefox injects content scripts into pages loaded after the grant only), or
// before the extension was installed or updated.
const X_PAGE = /^https:\/\/(x|twitter)\.com\//;

// "Reload this tab" pressed: 'asked' until the browser took the reload, then 'started' until the page's
// content script answers or the page finished loading without one (the button is offered again).
let reloadState = null;

async function refreshPage(tabId) {
  let stats = null;
  let needsReload = false;
  if (tabId !== null) {
    // No content script on that tab (not X, or opened before install or before access) → no answer.
    stats = await chrome.tabs.sendMessage(tabId, { type: MSG.GET_PAGE_STATS }).catch(() => null);
    // The tab's URL is readable only with access to it: without, the access section asks first.
    const tab = stats ? null : await chrome.tabs.get(tabId).catch(() => null);
    needsReload = X_PAGE.test(tab?.url ?? '');
    if (stats || (reloadState === 'started' && tab?.status !== 'loading')) reloadState = null;
  }
  const reloading = reloadState !== null;
  const active = Boolean(stats?.active);
  // Switched off, a media tab is not active either: the note must not send the user to one.
  const switchedOff = !$('enabled').checked;
  // "Reload this tab" pressed by keyboard hides itself: the focus waits on "Reloading this tab…", then
  // moves to what the page says once reloaded, rather than to the popup's start.
  const reloadingHadFocus = document.activeElement === $('reloading-note');
  $('reloading-note').hidden = !reloading;
  $('reload-note').hidden = !needsReload || reloading;
  const aboutReload = needsReload || reloading; // either note stands in for the two below
  $('off-note').hidden = !switchedOff || aboutReload;
  $('page-note').hidden = active || aboutReload || switchedOff;
  $('counts').hidden = !active;
  // "Show all hidden" pressed by keyboard hides itself: the focus moves to the counts, which read the
  // outcome, rather than to the page's start.
  const revealHadFocus = document.activeElement === $('reveal-all');
  $('reveal-all').hidden = !active || !(stats.hidden > 0);
  if (active) for (const key of ['judged', 'hidden', 'errors', 'pending']) $(key).textContent = String(stats[key]);
  if (revealHadFocus && $('reveal-all').hidden && active) $('counts').focus();
  if (reloadingHadFocus && !reloading) focusPageSection();
}

let providerAsked = false; // one GET_STATUS at a time: a busy service worker can take seconds to answer
// Bumped as Forget is asked and as it answers: a status asked meanwhile may carry the count from before.
let forgetsSeen = 0;
async function refreshProvider() {
  if (providerAsked) return;
  providerAsked = true;
  const forgetsBefore = forgetsSeen;
  // "starting (loading the model)…" only when the status says a load is under way: a slow answer may
  // come from a busy service worker, with nothing loading.
  try {
    // GET_STATUS asks the offscreen document with the current settings: after "Use GPU" changes, the
    // classifier is rebuilt and this line shows the provider that now really runs.
    const status = await chrome.runtime.sendMessage({ type: MSG.GET_STATUS }).catch(() => null);
    $('provider').textContent = classifierLabel(status?.classifier ?? null);
    if (forgetsSeen === forgetsBefore) showRemembered(status?.rememberedCount);
  } finally {
    providerAsked = false;
  }
}

function showRemembered(count) {
  if (!Number.isInteger(count)) return;
  $('remembered').textContent = String(count);
  $('forget').textContent = t('forgetCount', count);
  setDisabledKeepingFocus($('forget'), count === 0, $('memory-line'));
}

async function main() {
  contract = await fetch('model/contract.json').then((r) => (r.ok ? r.json() : null)).catch(() => null);
  showSettings(await readSettings());
  for (const key of ['enabled', 'hideScreenshots', 'hidePhotos', 'judgeVideos', 'useGpu']) {
    $(key).addEventListener('change', async () => showSettings(await writeSettings({ [key]: $(key).checked })));
  }
  $('strictness').addEventListener('input', () => showThreshold(Number($('strictness').value)));
  $('strictness').addEventListener('change', async () => showSettings(await writeSettings({ strictness: Number($('strictness').value) })));

  const tabId = await targetTabId();
  const refreshAccessHere = () => refreshAccess(tabId);
  $('grant-access').addEventListener('click', () => {
    chrome.permissions.request({ origins: HOST_ORIGINS })
      .then((granted) => { if (!granted) console.info('Illust Only: access to X not granted'); })
      .catch((error) => console.warn('Illust Only: cannot ask for access to X:', error))
      .finally(refreshAccessHere);
  });
  chrome.permissions.onAdded?.addListener(refreshAccessHere);
  chrome.permissions.onRemoved?.addListener(refreshAccessHere);
  refreshAccessHere();

  $('reload-tab').addEventListener('click', () => {
    const hadFocus = document.activeElement === $('reload-tab');
    reloadState = 'asked';
    $('reload-note').hidden = true; // until the reloaded page's content script answers
    $('reloading-note').hidden = false;
    if (hadFocus) $('reloading-note').focus();
    chrome.tabs.reload(tabId)
      .then(() => { reloadState &&= 'started'; })
      .catch((error) => { reloadState = null; console.warn('Illust Only: cannot reload the tab:', error); });
  });
  $('reveal-all').addEventListener('click', async () => {
    await chrome.tabs.sendMessage(tabId, { type: MSG.REVEAL_ALL }).catch(() => null);
    refreshPage(tabId);
  });
  // Scores are remembered per media id across browser restarts (IndexedDB, service-worker.js); forgetting
  // them means every thumbnail is downloaded and judged again when next seen.
  // A second press while Forget runs would forget nothing and say "Forgot 0" over the first's count: it
  // does nothing until the answer (oncePressed).
  $('forget').addEventListener('click', () => oncePressed($('forget'), async () => {
    forgetsSeen += 1;
    const answer = await chrome.runtime.sendMessage({ type: MSG.FORGET_VERDICTS })
      .catch((error) => ({ ok: false, message: String(error?.message ?? error) }));
    forgetsSeen += 1;
    showRemembered(answer?.rememberedCount);
    // The count alone is no sign the press did anything (the focus reads "0", which it may have been).
    $('memory-message').classList.toggle('error', !answer?.ok || Boolean(answer.mediaError));
    if (!answer?.ok) $('memory-message').textContent = t('notForgotten', answer?.message ?? t('noAnswer'));
    else {
      const verdicts = tn('forgot', answer.forgotten);
      $('memory-message').textContent = answer.mediaError
        ? t('forgotButNotImages', verdicts, answer.mediaError)
        : t('forgotCorrectionsKept', verdicts);
    }
  }));
  refreshPage(tabId);
  refreshProvider();
  setInterval(() => { refreshPage(tabId); refreshProvider(); }, STATS_POLL_MS);
}

main().catch((error) => { $('provider').textContent = t('popupError', error?.message ?? error); });
