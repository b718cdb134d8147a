// The popup's corrections section (issue #19), apart from popup.js: "Learned from N corrections", undo
// the last, reset, export to a JSON file and import one. The corrections live in the service worker's
// IndexedDB (corrections.js); this page only asks. An import file is read here and checked there: an
// invalid or foreign file is refused whole with the reason, and nothing changes.
import { MSG } from './messages.js';
import { labelText, t, tn } from './i18n.js';
import { MAX_IMPORT_BYTES } from '../lib/personal-layer.js';
import { oncePressed, setDisabledKeepingFocus } from './popup-focus.js';
import { isPosterKey } from './media-cells.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;

// The message reports this popup's last action. A step made elsewhere afterwards (a correction on the
// page while this popup is open as a tab, another popup's import or undo) would leave it beside a count
// it no longer fits ("All corrections forgotten" next to "Learned from 2 corrections"; "Undone: …" while
// Undo last now takes back something else): it goes once the corrections' last step is not the one it
// was said beside.
let messageStep = null; // stepOf() of the status the message was said beside; null: no such message
let actionsSeen = 0; // bumped as an action is asked and as it answers: a status asked meanwhile is stale
const stepOf = (status) => `${status.count} ${status.lastStepAt}`;

function say(text, { error = false } = {}) {
  $('corrections-message').textContent = text;
  $('corrections-message').classList.toggle('error', error);
  messageStep = null;
}

async function ask(message) {
  return chrome.runtime.sendMessage(message).catch((error) => ({ ok: false, message: String(error?.message ?? error) }));
}

// Undo of the last correction or Reset, pressed by keyboard, disables the button: the focus moves to the
// count, which reads the outcome.
const setDisabled = (id, disabled) => setDisabledKeepingFocus($(id), disabled, $('corrections-count'));

/** afterAction: the refresh that shows an action's outcome, beside which its message was just said. */
async function refresh({ afterAction = false } = {}) {
  const actionsBefore = actionsSeen;
  const status = await ask({ type: MSG.GET_CORRECTIONS });
  if (actionsSeen !== actionsBefore) return; // from before an action of this popup: its own refresh follows
  const buttons = ['undo-correction', 'reset-corrections', 'export-corrections', 'import-corrections'];
  if (!status?.ok) {
    // Storage full or unavailable: the extension goes on with the shipped model; say why.
    $('corrections-count').textContent = t('correctionsUnavailable', status?.message ?? t('noAnswer'));
    for (const id of buttons) setDisabled(id, true);
    return;
  }
  $('import-corrections').disabled = false;
  const parts = [tn('learnedFrom', status.learned)];
  if (status.carrying > 0) parts.push(t('correctionsCarrying', status.carrying));
  // Imported without an embedding: counted in none of the other figures, yet Undo and Reset act on them.
  if (status.labelsOnly > 0) parts.push(tn('correctionsLabelsOnly', status.labelsOnly));
  if (status.notCarried > 0) parts.push(t('correctionsNotCarried', status.notCarried));
  $('corrections-count').textContent = parts.reduce((line, part) => t('partsJoined', line, part));
  // After the count's new text: the focus may move there.
  setDisabled('undo-correction', status.count === 0);
  setDisabled('reset-corrections', status.count === 0);
  setDisabled('export-corrections', status.count === 0); // an empty file is nothing to keep or move
  if (afterAction) messageStep = stepOf(status);
  else if (messageStep !== null && stepOf(status) !== messageStep) say('');
}

// The actions take turns, in the order pressed: each button guards only itself, and the service worker
// runs what reaches it first, so "Forget all" pressed while an import was read went first and the import
// then brought every correction back; Undo pressed then took back the step before the import.
let turn = Promise.resolve();

/**
 * Asks the service worker for an action (message, or a function that makes it: an import reads its
 * file in its turn) once the earlier actions are done; its answer, whose message `report` then says.
 */
function act(message, report) {
  const mine = turn.then(async () => {
    actionsSeen += 1;
    const answer = await ask(typeof message === 'function' ? await message() : message);
    actionsSeen += 1;
    report(answer);
    await refresh({ afterAction: true });
    return answer;
  });
  turn = mine.catch(() => {});
  return mine;
}

const run = (message, done) => act(message, (answer) => {
  if (answer?.ok) say(done(answer)); else say(answer?.message ?? t('noAnswer'), { error: true });
});

function undoneText({ undone, restored }) {
  if (undone.imported !== undefined) {
    const text = tn('undoneImport', undone.imported);
    return restored ? t('undoneWithRestored', text, tn('restoredCorrections', restored.count)) : text;
  }
  // Said as the user knows it: a photo or a video/GIF (its poster key is no name for it), and whose.
  const what = isPosterKey(undone.mediaId) ? t('undoneWhatVideo') : t('undoneWhatImage');
  const subject = undone.account ? t('undoneSubjectOfAccount', what, undone.account) : t('undoneSubjectOfMedia', what, undone.mediaId);
  const text = t('undoneCorrection', labelText(undone.label), subject);
  return restored ? t('undoneWithRestored', text, t('restoredLabel', labelText(restored.label))) : text;
}
// Each action's button ignores presses until its action (and the refresh that shows it) is done: a
// double click would undo two corrections (there is no redo), save two files or reset twice.
const onPress = (id, action) => $(id).addEventListener('click', () => oncePressed($(id), action));
onPress('undo-correction', () => run({ type: MSG.UNDO_CORRECTION }, undoneText));
// Reset asks inside the popup, not with confirm(): a toolbar popup may close (or, in Firefox, not show
// the dialog at all) when a browser dialog opens. "Keep them" has the focus: Enter alone forgets nothing.
function askReset(open, focusAfter = open ? $('reset-no') : $('reset-corrections')) {
  showResetQuestion(open);
  focusAfter.focus();
}
function showResetQuestion(open) {
  $('reset-confirm').hidden = !open;
  $('reset-corrections').setAttribute('aria-expanded', String(open));
}
$('reset-corrections').addEventListener('click', () => askReset(true));
$('reset-no').addEventListener('click', () => askReset(false));
$('reset-confirm').addEventListener('keydown', (event) => { if (event.key === 'Escape') { event.preventDefault(); askReset(false); } });
// The focus left the question (Tab past it, a click elsewhere in the popup): the user moved on, so it
// closes, leaving the focus where they put it; left open, it stood there answered by nobody. (The
// popup's window losing the focus leaves it open.)
$('reset-confirm').addEventListener('focusout', (event) => {
  if ($('reset-confirm').hidden || $('reset-confirm').contains(event.relatedTarget) || !document.hasFocus()) return;
  showResetQuestion(false);
});
onPress('reset-yes', async () => {
  askReset(false, $('corrections-count')); // the question is gone; the count reads the outcome
  await run({ type: MSG.RESET_CORRECTIONS }, () => t('correctionsReset'));
});
// Firefox closes its toolbar popup when a file dialog opens: Import…'s picker (bugzilla.mozilla.org
// 1292701: the chosen file never arrives), and Export's "Save as" for a user whose Firefox asks where to
// save files (the popup's blob: URL goes with it, and the download fails). There, both open this page in
// a tab (for the same X tab), where the dialogs leave the page open; tabs.getCurrent() is a tab there and
// nothing in a popup.
let pickerClosesPopup = false;
if (chrome.runtime.getURL('').startsWith('moz-extension:')) {
  chrome.tabs.getCurrent().then((tab) => { pickerClosesPopup = !tab; }, () => {});
}
/** Opens this page in a tab for `action` ('import' or 'export') and closes the popup. */
async function continueInTab(action) {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true }).catch(() => []);
  await chrome.tabs.create({ url: chrome.runtime.getURL(`popup.html?${tab?.id ? `tab=${tab.id}&` : ''}${action}`) });
  window.close();
}
// The user's own day (toISOString's is UTC: an evening export in America was dated tomorrow).
const localDate = (date) => [date.getFullYear(), date.getMonth() + 1, date.getDate()].map((n) => String(n).padStart(2, '0')).join('-');
const exportToFile = () => act({ type: MSG.EXPORT_CORRECTIONS }, (answer) => {
  if (!answer?.ok) { say(answer?.message ?? t('noAnswer'), { error: true }); return; }
  const url = URL.createObjectURL(new Blob([answer.text], { type: 'application/json' }));
  const link = Object.assign(document.createElement('a'), { href: url, download: `illust-only-corrections-${localDate(new Date())}.json` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  say(tn('exported', answer.count));
});
// In Firefox's popup, a second press before the popup closes would open a second tab, which saves again.
onPress('export-corrections', () => (pickerClosesPopup ? continueInTab('export') : exportToFile()));
onPress('import-corrections', () => (pickerClosesPopup ? continueInTab('import') : $('import-file').click()));
const pageParams = new URLSearchParams(location.search);
// Opened for an export, the tab saves the file at once (the user pressed Export already); a reload of
// the tab must not save it again.
if (pageParams.has('export')) {
  pageParams.delete('export');
  history.replaceState(null, '', `${location.pathname}?${pageParams}`);
  oncePressed($('export-corrections'), exportToFile); // a press on Export meanwhile saves no second file
}
if (pageParams.has('import')) say(t('importChooseFile'));
// A file whose corrections are here already (this profile's own export imported back) says so, not "Imported 12".
const importedText = ({ imported, inFile }) => (inFile > imported
  ? tn('importedSomeOf', inFile, imported) // counted by the file's number: "of the file's 1 correction" / "2 corrections"
  : tn('imported', imported));
$('import-file').addEventListener('change', async () => {
  const file = $('import-file').files?.[0];
  $('import-file').value = '';
  if (!file) return;
  // Refused before reading: a huge file is no export of ours.
  if (file.size > MAX_IMPORT_BYTES) {
    say(t('importTooLarge', (file.size / 2 ** 20).toFixed(1)), { error: true });
    return;
  }
  await act(async () => ({ type: MSG.IMPORT_CORRECTIONS, text: await file.text() }), (answer) => {
    if (answer?.ok) say(t('importedKept', importedText(answer), answer.count));
    else say(t('notImported', answer?.message ?? t('noAnswer')), { error: true });
  });
});

refresh();
setInterval(refresh, POLL_MS);
