// Message types spoken between the extension's parts, as constants so a typo is a load-time error, not
// a silently unanswered message. The content script is a classic script (MV3 content scripts cannot
// be modules), so tools/build/extension.mjs pastes this module into it; keep it free of imports.
//
//   content script ──CLASSIFY_MEDIA / GET_SETTINGS──► service worker ──OFFSCREEN_*──► offscreen document
//   popup ──GET_STATUS──► service worker;  popup ──GET_PAGE_STATS / REVEAL_ALL──► content script (tab)

export const MSG = Object.freeze({
  // content script → service worker
  CLASSIFY_MEDIA: 'illust-only/classify-media', // {mediaId: a media key (media-cells.js), account: the page's X user or null, url?, bytesBase64?, inImageMemory?: true (Firefox: the page's image memory answered, the tap saw no load), priority?: 'low'} → verdict (see service-worker.js)
  LOOKUP_VERDICTS: 'illust-only/lookup-verdicts', // {mediaIds: media keys, account} → {ok, verdicts: {mediaId: verdict}}: remembered ones only (corrections applied)
  GET_SETTINGS: 'illust-only/get-settings', // {} → {ok, settings, preparing}; on a profile page it starts the classifier
  PREPARE: 'illust-only/prepare', // {} → the classifier's status (OFFSCREEN_STATUS's answer): on a profile that GET_SETTINGS did not prepare (reached by SPA navigation, or switched on there), start loading the model now
  PAGE_LEFT: 'illust-only/page-left', // {} (no answer): an X page is unloading; free the model if no X tab is left
  // content script → service worker: corrections (issue #19; service worker side in corrections.js)
  CORRECT_MEDIA: 'illust-only/correct-media', // {mediaId: a media key (a photo's id or a video's or GIF's poster key), label, account} → {ok, count, verdict} | {ok:false, message}
  // popup → service worker
  GET_STATUS: 'illust-only/get-status', // {} → {classifier, classifierHost, cacheSize, privateCacheSize, rememberedCount, ...}
  FORGET_VERDICTS: 'illust-only/forget-verdicts', // {} → {ok, forgotten, rememberedCount, mediaError?}: clears the remembered verdicts and the judged images' scores and embeddings (not the corrections)
  GET_CORRECTIONS: 'illust-only/get-corrections', // {} → {ok, count, learned, notCarried, carrying, labelsOnly, lastStepAt} | {ok:false, message}
  UNDO_CORRECTION: 'illust-only/undo-correction', // {} → {ok, undone: {mediaId, label}} | {ok:false, message}
  RESET_CORRECTIONS: 'illust-only/reset-corrections', // {} → {ok}
  EXPORT_CORRECTIONS: 'illust-only/export-corrections', // {} → {ok, text (JSON file), count}
  IMPORT_CORRECTIONS: 'illust-only/import-corrections', // {text} → {ok, imported, count} | {ok:false, message}: refused whole
  // popup → content script of a tab
  GET_PAGE_STATS: 'illust-only/get-page-stats', // {} → {active, judged, hidden, errors, pending}
  REVEAL_ALL: 'illust-only/reveal-all', // {} → stats after revealing every hidden cell
  // service worker → offscreen document (these carry provider: 'auto' | 'wasm' and for 'wasm' why (off
  // in settings, or WebGPU failed earlier; a change rebuilds the classifier); the chrome.runtime ones
  // also carry target: OFFSCREEN_TARGET)
  OFFSCREEN_CLASSIFY: 'illust-only/offscreen-classify', // {id, bytes: ArrayBuffer} by web messaging (client.postMessage)
  OFFSCREEN_RESULT: 'illust-only/offscreen-result', // {id, result}: the answer, by web messaging to the service worker
  OFFSCREEN_STATUS: 'illust-only/offscreen-status', // {imagesWaiting?, ifLoaded?} → {provider, threads, modelVersion, webgpuFallback, ...}; ifLoaded and none loaded: {ok, loaded: false} (nothing started), or after a failed start {ok:false, code:'no_model', message, reason?, details?} (reason: classifier-label.js's startFailureText); each with classifierStarts (in this host's life)
});

// chrome.runtime.sendMessage reaches every extension page; the offscreen document answers only
// messages carrying this target, sent by the service worker, and the service worker ignores them.
export const OFFSCREEN_TARGET = 'offscreen';
