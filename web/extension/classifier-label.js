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
 * The popup's classifier line. info: the offscreen document's status ({provider, threads, workers (WASM
 * pool), modelVersion, webgpuFallback}), {ok:false, message} when the classifier cannot start,
 * {loading: true} while one loads, {loaded: false} while the host has none loaded, or null before any
 * media tab.
 */
export function classifierLabel(info) {
  if (!info) return t('providerNoMediaTab');
  if (info.loading === true) return t('providerStarting');
  if (info.loaded === false) return t('providerNotLoaded');
  if (!info.provider) return t('providerUnavailable', info.message ?? t('noDetails'));
  const model = t('providerModel', info.modelVersion ?? t('unknown'));
  if (info.provider === 'webgpu') return `WebGPU · ${model}`;
  const threads = Number(info.threads) || 1;
  const name = info.provider === 'wasm' ? 'WASM' : String(info.provider);
  // What the browser withholds, and so what runs instead: threads need cross-origin isolation, which
  // Firefox's background page lacks (Chromium's manifest keys give it), so each worker runs 1 thread.
  const fallbacks = [];
  if (info.crossOriginIsolated === false) fallbacks.push(t('providerNotIsolated'));
  if (info.webgpuFallback) fallbacks.push(`WebGPU: ${info.webgpuFallback}`);
  const fallback = fallbacks.length ? ` (${fallbacks.join('; ')})` : '';
  const workers = Number(info.workers) || 0;
  const pool = workers > 0 ? `${tn('providerWorkers', workers)} × ` : '';
  return `${name} · ${pool}${tn('providerThreads', threads)}${fallback} · ${model}`;
}
