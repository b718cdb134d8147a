// The service worker's side of learning from corrections (issue #19): stores a user's corrections and
// each judged image's scores + embedding (corrections-store.js), fits the personal layer
// (web/lib/personal-layer.js) off the page's main thread, here in the service worker, and adjusts every
// verdict with it. Also undo, reset, export/import and carrying corrections over to a new model.
// Fail open: when storage is unavailable or anything here throws, verdicts come from the shipped model
// alone and the popup says why.
import * as indexedDbStore from './corrections-store.js';
import { decide } from '../lib/decide.js';
import { boundCorrections, exportCorrections, fitPersonalLayerInSlices, applyPersonalLayer, makeCorrection, parseCorrectionsFile, MAX_CORRECTIONS } from '../lib/personal-layer.js';
import { isMediaKey } from './media-cells.js';
import { t } from './i18n.js';

const LOG = 'Illust Only:';
// An account's most recent images that speak for or against its corrections; bounds the refit's work
// (it grows with the square of this per corrected account).
const MAX_REFERENCES_PER_ACCOUNT = 400;
// New images of a corrected account are new references; refit for them at most this often (a refit
// per verdict while a long grid loads would redo the same work dozens of times).
const REFIT_AFTER_NEW_MEDIA_MS = 5000;
export const ACCOUNT = /^[a-z0-9_]{1,15}$/; // X user names, lower-cased

// When a correction came here: an import's time for an imported one (the step Undo takes back), else its own.
const cameAt = (c) => c.importedAt ?? c.time;

/**
 * Why an import was refused, in the browser's language: parseCorrectionsFile's code and details (and
 * importFile's own codes for X's ids and accounts); a code not known here keeps its English message.
 */
export function importRefusalText({ code, details = {}, message }) {
  const reason = (() => {
    switch (code) {
      case 'not_text': return t('importRefusedNotText');
      case 'too_large': return t('importRefusedTooLarge', details.megabytes, details.maxCorrections, details.maxMegabytes);
      case 'too_deep': return t('importRefusedTooDeep', details.levels);
      case 'not_json': return t('importRefusedNotJson');
      case 'not_ours': return t('importRefusedNotOurs');
      case 'unsupported_version': return t('importRefusedVersion', details.version, details.supported);
      case 'no_list': return t('importRefusedNoList');
      case 'too_many': return t('importRefusedTooMany', details.count, details.max);
      case 'embedding_not_text': return t('importRefusedEmbeddingNotText');
      case 'embedding_not_base64': return t('importRefusedEmbeddingNotBase64');
      case 'embedding_not_finite': return t('importRefusedEmbeddingNotFinite');
      case 'embedding_dims': return t('importRefusedEmbeddingDims', details.dims, details.want);
      case 'bad_media_id': return t('importRefusedMediaId', details.value);
      case 'unknown_label': return t('importRefusedLabel', details.value, details.expected);
      case 'no_model_version': return t('importRefusedModelVersion');
      case 'no_time': return t('importRefusedTime');
      case 'bad_account': return t('importRefusedAccount', details.value);
      case 'not_x_media_id': return t('importRefusedXMediaId', details.value);
      case 'not_x_account': return t('importRefusedXAccount', details.value);
      default: return null;
    }
  })();
  if (reason === null) return String(message ?? code);
  return details.index ? t('importRefusedAt', details.index, reason) : reason;
}

/**
 * record, keeping the correction of the same media id it replaces (previous, if any) inside it for Undo:
 * one level (previous's own earlier correction is not kept twice).
 */
function replacing(record, previous) {
  if (!previous) return record;
  const { replaced: _older, ...earlier } = previous;
  return { ...record, replaced: earlier };
}

/**
 * Keeps the stored corrections that a step (a correction, an import) pushed past the bound inside the
 * step's own records that were kept (`pushedOut`, spread over them), so Undo of the step brings them
 * back. steps: the step's records, as written; bounded: boundCorrections' answer for the stored ones
 * and the steps. One level, as for `replaced`: a pushed-out correction's own pushed-out ones stay
 * forgotten (they were older), so records never nest deeper.
 */
function keepPushedOut(steps, { kept, dropped }) {
  const stepRecords = new Set(steps);
  const holders = kept.filter((c) => stepRecords.has(c));
  const pushedOut = dropped.filter((c) => !stepRecords.has(c));
  if (holders.length === 0) return; // the step took nothing, so it pushed nothing out
  pushedOut.forEach(({ pushedOut: _older, ...c }, i) => {
    const holder = holders[i % holders.length];
    holder.pushedOut = [...(holder.pushedOut ?? []), c];
  });
}

/**
 * deps: {getContract() → contract, computeEmbedding(mediaId) → classifier result with embedding (fetches
 * the image again), announce() (tells the open pages to re-decide their verdicts), store (default:
 * corrections-store.js; tests pass one in memory, or one that fails like a full disk)}.
 */
export function createCorrections({ getContract, computeEmbedding, announce, store = indexedDbStore }) {
  let state = null; // Promise<{corrections, byMedia: Map, layer}> for the current model version
  let storageError = null; // why corrections cannot be kept, for the popup
  let migrating = null;
  let refitting = null;
  const storing = new Map(); // media id → how many writes of its scores and embedding are under way
  // Bumped whenever the stored corrections are replaced from outside a carry-over (cleared by the
  // browser, reset, imported): a carry-over in flight then writes nothing back.
  let storeEpoch = 0;
  // Bumped by forgetMedia: an image's scores and embedding on their way to the store then stay out.
  let mediaEpoch = 0;

  // The browser cleared the store (or closed it on an error): the fitted layer and the corrections in
  // memory may be gone from disk, so they are read again on the next verdict, and pages re-decide.
  store.onClosed?.(() => {
    storeEpoch += 1;
    const known = state;
    state = null;
    known?.then((s) => { if (s.corrections.length) announce(); }, () => {});
  });

  // A store that refuses writes (a full disk) fails at every new verdict: each reason is logged once
  // in the worker's life, not once per image.
  const warnedErrors = new Set();
  const failed = (error) => {
    storageError = String(error?.message ?? error);
    if (warnedErrors.has(storageError)) return;
    warnedErrors.add(storageError);
    console.warn(`${LOG} corrections unavailable, using the shipped model: ${storageError}`);
  };

  async function build() {
    const contract = await getContract();
    const corrections = await store.listCorrections();
    storageError = null;
    const version = contract.version;
    const usable = corrections.filter((c) => c.modelVersion === version && c.embedding);
    const corrected = new Set(corrections.map((c) => c.mediaId));
    const accounts = new Set(usable.map((c) => c.account).filter(Boolean));
    // The corrected accounts' other images, with the label the shipped model gave them.
    const perAccount = new Map();
    for (const m of accounts.size === 0 ? [] : await store.mediaOfAccounts(accounts)) {
      if (m.modelVersion !== version || corrected.has(m.mediaId)) continue;
      if (!perAccount.has(m.account)) perAccount.set(m.account, []);
      perAccount.get(m.account).push(m);
    }
    const references = [...perAccount.values()].flatMap((list) => list.sort((a, b) => b.time - a.time).slice(0, MAX_REFERENCES_PER_ACCOUNT))
      .map((m) => ({ id: m.mediaId, account: m.account, embedding: m.embedding, label: decide(m.scores, contract).label }));
    // In slices: verdicts (with the current layer, during a background refit) are answered meanwhile.
    const layer = await fitPersonalLayerInSlices(usable, { labels: contract.labels, references });
    if (corrections.some((c) => c.modelVersion !== version && !c.notCarried)) migrate(version);
    return { version, corrections, byMedia: new Map(corrections.map((c) => [c.mediaId, c])), layer, accounts, fittedAt: Date.now() };
  }

  function current() {
    state ??= build();
    state.catch((error) => { failed(error); state = null; });
    return state;
  }

  function changed() {
    state = null;
    announce();
  }

  /**
   * A new model version: the stored embeddings no longer match. Each correction's image is fetched and
   * judged again for its new embedding; when it cannot be (deleted, offline), the label is kept (its own
   * media id still gets it) and the record is marked as not carried over. A migration that failed (a
   * write refused: a full disk) is not tried again in this worker's life: each try fetches and judges
   * the images again, and its announce makes every open page ask, which would start the next one.
   */
  function migrate(version) {
    migrating ??= (async () => {
      const epoch = storeEpoch;
      const corrections = await store.listCorrections();
      for (const c of corrections.filter((r) => r.modelVersion !== version && !r.notCarried)) {
        const result = await computeEmbedding(c.mediaId).catch((error) => ({ ok: false, message: String(error?.message ?? error) }));
        if (epoch !== storeEpoch) return; // the store was cleared, reset or replaced meanwhile: nothing to carry
        const next = result.ok && result.embedding
          ? { ...c, embedding: Float32Array.from(result.embedding), modelVersion: version }
          : { ...c, embedding: null, notCarried: true };
        // Written only over the very record read: the user may have corrected this image again or undone
        // it while its image was fetched and judged (seconds each, minutes for many), and that stays.
        const sameRecord = (now) => now?.time === c.time && now.label === c.label && now.modelVersion === c.modelVersion;
        const written = await store.updateCorrection(c.mediaId, (now) => (sameRecord(now) ? next : null));
        if (written && !next.embedding) console.info(`${LOG} correction of ${c.mediaId} not carried over to model ${version}: ${result.message ?? 'no embedding'}`);
      }
    })().then(() => { migrating = null; }, failed).finally(changed);
    return migrating;
  }

  /** Keeps an image's scores and embedding (called for every fresh verdict). */
  async function rememberMedia(mediaId, result, account) {
    if (!result?.ok || !result.embedding) return;
    storing.set(mediaId, (storing.get(mediaId) ?? 0) + 1); // before the first await: a lookup meanwhile must not judge it again
    const epoch = mediaEpoch;
    try {
      const contract = await getContract();
      if (epoch !== mediaEpoch) return; // "Forget remembered verdicts" came meanwhile
      await store.putMedia({
        mediaId, scores: result.scores, embedding: Float32Array.from(result.embedding), modelVersion: contract.version,
        account: ACCOUNT.test(account ?? '') ? account : null, time: Date.now(),
      });
      // A new image of a corrected account is a new reference: refit, now and then, in the background
      // (verdicts meanwhile use the current layer).
      const known = await state?.catch(() => null);
      if (known?.accounts.has(account) && Date.now() - known.fittedAt > REFIT_AFTER_NEW_MEDIA_MS && !refitting) {
        const before = state;
        refitting = build().then((next) => { if (state === before) state = Promise.resolve(next); })
          .catch(failed).finally(() => { refitting = null; });
      }
    } catch (error) {
      failed(error);
    } finally {
      if (storing.get(mediaId) > 1) storing.set(mediaId, storing.get(mediaId) - 1); else storing.delete(mediaId);
    }
  }

  /**
   * Of these remembered media ids seen on `account`, those its corrections should decide but cannot:
   * no embedding is stored for them under the current model. The store keeps the latest 5,000 judged
   * images while verdicts are remembered ten times longer, so an account revisited after a long while
   * (or judged before images were kept) has remembered verdicts without embeddings. The service worker
   * judges these again, which stores them; the account's corrections then reach them and they count as
   * its references again. Only accounts with corrections: elsewhere a correction moves near-duplicates
   * alone, not worth judging every old image again. Empty when storage fails (nothing would be stored).
   */
  async function lackingEmbeddings(mediaIds, account) {
    if (mediaIds.length === 0 || !ACCOUNT.test(account ?? '')) return new Set();
    try {
      const { layer, version, byMedia } = await current();
      if (storageError || !layer.rowsByAccount?.[account]) return new Set();
      const candidates = mediaIds.filter((id) => !byMedia.has(id) && !storing.has(id));
      if (candidates.length === 0) return new Set();
      const versions = await store.mediaVersions(candidates);
      return new Set(candidates.filter((id) => versions.get(id) !== version));
    } catch (error) {
      failed(error);
      return new Set();
    }
  }

  /**
   * The scores to decide with: the user's own label for a corrected media id, else the personal
   * layer's adjustment of the shipped scores. embedding: the image's, when it is not in the store (a
   * private window's). Returns {scores, personal: bool}. Never throws.
   */
  async function adjust(mediaId, scores, account, embedding = null) {
    try {
      const { byMedia, layer, version } = await current();
      const own = byMedia.get(mediaId);
      if (own) {
        const contract = await getContract();
        return { scores: Object.fromEntries(contract.labels.map((l) => [l, l === own.label ? 1 : 0])), personal: true };
      }
      if (layer.count === 0) return { scores, personal: false };
      const media = embedding ? { embedding, modelVersion: version } : await store.getMedia(mediaId);
      if (!media?.embedding || media.modelVersion !== version) return { scores, personal: false };
      const result = applyPersonalLayer(layer, scores, media.embedding, { account: ACCOUNT.test(account ?? '') ? account : null, id: mediaId });
      return { scores: result.scores, personal: result.changed };
    } catch (error) {
      failed(error);
      return { scores, personal: false };
    }
  }

  /** CORRECT_MEDIA: {mediaId, label, account} → {ok:true, count} | {ok:false, message}. */
  async function correct({ mediaId, label, account }) {
    try {
      const contract = await getContract();
      if (!contract.labels.includes(label)) return { ok: false, message: `unknown label "${String(label).slice(0, 40)}"` };
      let media = await store.getMedia(mediaId);
      if (!media?.embedding || media.modelVersion !== contract.version) {
        // Judged before it was kept (an older verdict cache): judge it again for its embedding.
        const result = await computeEmbedding(mediaId);
        if (!result?.ok || !result.embedding) {
          return { ok: false, message: t('correctionImageDidNotLoad', result?.message ?? 'no embedding') };
        }
        await rememberMedia(mediaId, result, account);
        media = { embedding: result.embedding };
      }
      const made = makeCorrection({
        mediaId, label, embedding: media.embedding, modelVersion: contract.version, time: Date.now(),
        account: ACCOUNT.test(account ?? '') ? account : null,
      }, { labels: contract.labels });
      const { kept, dropped } = await store.changeCorrections((stored) => {
        // A media id corrected again: undo brings the earlier correction back instead of forgetting both.
        const record = replacing(made, stored.find((c) => c.mediaId === mediaId));
        const bounded = boundCorrections([...stored.filter((c) => c.mediaId !== mediaId), record]);
        keepPushedOut([record], bounded);
        return { ...bounded, put: [record], remove: bounded.dropped.map((c) => c.mediaId) };
      });
      if (dropped.length) console.info(`${LOG} kept the latest ${MAX_CORRECTIONS} corrections; dropped the ${dropped.length} oldest`);
      changed();
      return { ok: true, count: kept.length };
    } catch (error) {
      failed(error);
      return { ok: false, message: t('correctionsNotStored', storageError) };
    }
  }

  async function status() {
    try {
      const { corrections, version } = await current();
      return {
        ok: true, count: corrections.length,
        learned: corrections.filter((c) => c.modelVersion === version && c.embedding).length,
        notCarried: corrections.filter((c) => c.notCarried).length,
        // Imported for this model without an embedding (a file made elsewhere): each decides its own
        // media id, nothing else is learned from it. Counted, so the popup accounts for every correction.
        labelsOnly: corrections.filter((c) => c.modelVersion === version && !c.embedding && !c.notCarried).length,
        carrying: corrections.filter((c) => c.modelVersion !== version && !c.notCarried).length,
        modelVersion: version,
        // When the step "Undo last" would take back came (a correction, or an import: see undo): the
        // popup tells a step made elsewhere (on the page, in another popup) from its own by it.
        lastStepAt: corrections.reduce((latest, c) => Math.max(latest, cameAt(c)), 0),
      };
    } catch (error) {
      failed(error);
      return { ok: false, message: storageError };
    }
  }

  /**
   * "Undo last" takes back the user's last step on this device: a correction (of a media id corrected
   * before: the earlier one decides again), or an import as a whole (what it replaced comes back). An
   * imported correction's time is when it was made, on another device and clock; the step is when it
   * came here (importedAt), so an import does not hide among older corrections or jump ahead of newer ones.
   */
  async function undo() {
    try {
      // Read and written in one transaction: a correction made on the page meanwhile is not lost.
      const answer = await store.changeCorrections((corrections) => {
        if (corrections.length === 0) return { ok: false, message: t('undoNothing') };
        const last = corrections.reduce((a, b) => (cameAt(b) > cameAt(a) ? b : a));
        if (last.importedAt !== undefined) {
          const imported = corrections.filter((c) => c.importedAt === last.importedAt);
          // What the import replaced, and what it pushed past the bound, come back.
          const restored = [...imported.filter((c) => c.replaced).map((c) => c.replaced), ...imported.flatMap((c) => c.pushedOut ?? [])];
          storeEpoch += 1; // replaced as by an import: a carry-over in flight starts again
          return {
            ok: true, undone: { imported: imported.length }, ...(restored.length ? { restored: { count: restored.length } } : {}),
            remove: imported.map((c) => c.mediaId), put: restored,
          };
        }
        // A correction of a media id corrected before gives the earlier one back, and any it pushed out.
        return {
          ok: true, undone: { mediaId: last.mediaId, label: last.label, ...(last.account ? { account: last.account } : {}) },
          ...(last.replaced ? { restored: { label: last.replaced.label } } : {}),
          remove: [last.mediaId], put: [...(last.replaced ? [last.replaced] : []), ...(last.pushedOut ?? [])],
        };
      });
      if (!answer.ok) return answer;
      changed();
      const { remove: _remove, put: _put, ...said } = answer;
      return said;
    } catch (error) {
      failed(error);
      return { ok: false, message: storageError };
    }
  }

  async function reset() {
    try {
      storeEpoch += 1;
      await store.replaceCorrections([]);
      changed();
      return { ok: true };
    } catch (error) {
      failed(error);
      return { ok: false, message: storageError };
    }
  }

  /**
   * "Forget remembered verdicts": the judged images' scores, embeddings and accounts go too (what the
   * user asked to forget includes which accounts' media were seen). The corrections stay, each with its
   * own embedding; a corrected account's references come back as its images are judged again. Open
   * pages keep their verdicts (their remembered ones are gone, so re-deciding would judge every image
   * again); the next page decides with the refitted layer.
   */
  async function forgetMedia() {
    mediaEpoch += 1;
    try {
      await store.clearMedia();
      state = null;
      return { ok: true };
    } catch (error) {
      failed(error);
      return { ok: false, message: storageError };
    }
  }

  async function exportFile() {
    try {
      const contract = await getContract();
      const corrections = (await store.listCorrections()).sort((a, b) => b.time - a.time);
      return { ok: true, text: exportCorrections(corrections, { labels: contract.labels }), count: corrections.length };
    } catch (error) {
      failed(error);
      return { ok: false, message: storageError };
    }
  }

  /**
   * IMPORT_CORRECTIONS {text}: merged with the stored ones (newest per media id wins), or refused whole.
   * Answers {ok, imported: how many of the file's corrections were taken, inFile, count: how many are
   * kept now}: a file's correction already here (this profile's own export imported back) or older than
   * the one here is not taken. Each one taken keeps the one it replaced, so Undo takes the import back.
   * A correction dated after the import (a clock ahead, a damaged file) is kept as made at the import.
   */
  async function importFile({ text }) {
    try {
      const contract = await getContract();
      // The contract's size, not only the fitted layer's: on a profile with no corrections yet, a file
      // of other embeddings would be taken and every later correction refused against it.
      const dims = (await current()).layer.dims || contract.embedding_size || null;
      const parsed = parseCorrectionsFile(text, { labels: contract.labels, dims });
      if (!parsed.ok) return { ok: false, message: importRefusalText(parsed) };
      // The shared parser takes the looser ids and accounts of the demo and the simulator (file paths,
      // sources): here a correction must name X media and an X account as the pages send them, or it
      // could never decide a cell, yet would be counted as learned.
      for (const [index, c] of parsed.corrections.entries()) {
        if (!isMediaKey(c.mediaId)) return { ok: false, message: importRefusalText({ code: 'not_x_media_id', details: { index: index + 1, value: JSON.stringify(c.mediaId).slice(0, 80) } }) };
        if (c.account !== null && !ACCOUNT.test(c.account)) return { ok: false, message: importRefusalText({ code: 'not_x_account', details: { index: index + 1, value: JSON.stringify(c.account).slice(0, 40) } }) };
      }
      const importedAt = Date.now();
      // Read and written in one transaction: a correction made on the page meanwhile is kept.
      const { kept, dropped, imported } = await store.changeCorrections((stored) => {
        const here = new Map(stored.map((c) => [c.mediaId, c]));
        const incoming = [];
        for (const c of parsed.corrections) {
          const previous = here.get(c.mediaId);
          // This file's correction, imported before: its time as that import clamped it (below).
          const alreadyHere = previous?.label === c.label && previous.time === Math.min(c.time, previous.importedAt ?? c.time);
          if (alreadyHere) continue;
          // Made no later than it came here: a time ahead of this clock (another device's fast clock, a
          // damaged or hand-made file: 1e300) would stay the newest for ever, so the user's own later
          // corrections would be the ones dropped at the bound.
          incoming.push(replacing({ ...c, time: Math.min(c.time, importedAt), importedAt }, previous));
        }
        const bounded = boundCorrections([...stored, ...incoming]);
        keepPushedOut(incoming, bounded);
        const taken = bounded.kept.filter((c) => c.importedAt === importedAt);
        const wasStored = new Set(stored);
        storeEpoch += 1; // the stored corrections replaced: a carry-over in flight starts again
        return { ...bounded, imported: taken.length, put: taken, remove: bounded.dropped.filter((c) => wasStored.has(c)).map((c) => c.mediaId) };
      });
      if (dropped.length) console.info(`${LOG} kept the latest ${MAX_CORRECTIONS} corrections; dropped the ${dropped.length} oldest`);
      changed();
      return { ok: true, imported, inFile: parsed.corrections.length, count: kept.length };
    } catch (error) {
      failed(error);
      return { ok: false, message: t('correctionsNotStored', storageError) };
    }
  }

  return { adjust, rememberMedia, lackingEmbeddings, correct, status, undo, reset, forgetMedia, exportFile, importFile, storageError: () => storageError };
}
