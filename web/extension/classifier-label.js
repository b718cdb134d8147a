// How the extension reports which execution provider really runs the model, and why WebGPU does not
// when it does not: the offscreen document condenses the classifier's log lines into a reason, and the
// popup shows one line such as "WASM · 2 workers × 1 thread (WebGPU: no adapter) · model 2026.11.26-…"
// (Firefox: "(1 thread each: not cross-origin isolated; WebGPU: not in this browser)").
// Pure functions but for the browser's language (i18n.js), so the wording is unit-tested without a browser.
import { t, tn } from './i18n.js';

/** Why WebGPU is not running, from web/lib/classifier.js's log lines ("webgpu: …; using wasm"), or null. */
export function webgpuFallbackReason(notes) {
  const line = (notes ?? []).find((note) => typeof note === 'string' && note.startsWith('webgpu: '));
  if (!line) return null;
  return line.slice('webgpu: '.length).replace(/; using wasm$/, '').replace(/^WebGPU /, '');
}

/**
 * Why WebGPU is not running (webgpuFallbackReason's reason, or the service worker's "off in settings"
 * and "…, earlier in this browser session") in the browser's language. The reasons classifier.js,
 * offscreen.js and service-worker.js write are fixed phrases (service-worker.js's FOUND_NO_GPU keys on
 * them too); a GPU's or driver's own words inside them stay as they are.
 */
export function webgpuReasonText(reason) {
  const text = String(reason);
  const earlier = /^(.*), earlier in this browser session$/s.exec(text);
  if (earlier) return t('webgpuEarlierInSession', webgpuReasonText(earlier[1]));
  switch (text) {
    case 'not in this browser': return t('webgpuNotInBrowser');
    case 'no adapter': return t('webgpuNoAdapter');
    case 'software adapter only': return t('webgpuSoftwareOnly');
    case 'off in settings': return t('webgpuOffInSettings');
    case 'not requested': return t('webgpuNotRequested');
    case 'stopped working': return t('webgpuStoppedWorking');
    default: break;
  }
  // classifier.js's step limits: "WebGPU bundle load / session start / warm-up timed out after N ms".
  const timedOut = /^(bundle load|session start|warm-up) timed out after (\d+) ms$/.exec(text);
  if (timedOut) {
    const step = { 'bundle load': t('webgpuStepBundleLoad'), 'session start': t('webgpuStepSessionStart'), 'warm-up': t('webgpuStepWarmUp') }[timedOut[1]];
    return t('webgpuTimedOut', step, timedOut[2]);
  }
  const stopped = /^stopped working \((.*)\)$/s.exec(text);
  if (stopped) return t('webgpuStoppedWorkingBecause', stopped[1]);
  const noSession = /^cannot start a WebGPU session \((.*)\)$/s.exec(text);
  if (noSession) return t('webgpuNoSession', noSession[1]);
  return text;
}

/**
 * Why the classifier could not start ({message, reason?, details?}: offscreen.js's and
 * classifier-host-in-page.js's reasons) in the browser's language; the English message for a failure
 * without a reason known here (ONNX Runtime's, a worker's). The browser's own words (a cause) stay.
 */
export function startFailureText({ message, reason, details = {} }) {
  const what = details.what === 'model contract' ? t('startWhatContract') : t('startWhatModel');
  switch (reason) {
    case 'file_fetch_failed': return t('startFileFetchFailed', what, details.file, details.cause);
    case 'file_missing': return t('startFileMissing', what, details.file, details.status);
    case 'file_unreadable': return t('startFileUnreadable', what, details.file, details.cause);
    case 'contract_not_json': return t('startContractNotJson', details.file, details.cause);
    case 'modules_unavailable': return t('startModulesUnavailable', details.cause);
    case 'host_unavailable': return t('startHostUnavailable', details.cause);
    case 'core_unavailable': return t('startCoreUnavailable', details.cause);
    default: return message ?? t('noDetails');
  }
}

/**
 * The popup's classifier line. info: the offscreen document's status ({provider, threads, workers (WASM
 * pool), modelVersion, webgpuFallback}), {ok:false, message} when the classifier cannot start,
 * {loading: true} while one loads, {loaded: false} while the host has none loaded, or null before any
 * media tab.
 */
export function classifierLabel(info) {
  if (!info) return t('providerNoMediaTab');
  if (info.loading === true) return t('providerStarting');
  if (info.loaded === false) return t('providerNotLoaded');
  if (!info.provider) return t('providerUnavailable', startFailureText(info));
  const model = t('providerModel', info.modelVersion ?? t('unknown'));
  if (info.provider === 'webgpu') return `WebGPU · ${model}`;
  const threads = Number(info.threads) || 1;
  const name = info.provider === 'wasm' ? 'WASM' : String(info.provider);
  // What the browser withholds, and so what runs instead: threads need cross-origin isolation, which
  // Firefox's background page lacks (Chromium's manifest keys give it), so each worker runs 1 thread.
  const fallbacks = [];
  if (info.crossOriginIsolated === false) fallbacks.push(t('providerNotIsolated'));
  if (info.webgpuFallback) fallbacks.push(`WebGPU: ${webgpuReasonText(info.webgpuFallback)}`);
  const fallback = fallbacks.length ? ` (${fallbacks.join('; ')})` : '';
  const workers = Number(info.workers) || 0;
  const pool = workers > 0 ? `${tn('providerWorkers', workers)} × ` : '';
  return `${name} · ${pool}${tn('providerThreads', threads)}${fallback} · ${model}`;
}
