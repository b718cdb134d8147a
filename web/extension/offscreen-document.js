// The offscreen document's entry (Chromium only; Firefox has no offscreen documents): hands the service
// worker's messages to the classifier in offscreen.js. Image bytes arrive by web messaging (see
// classifier-host-offscreen.js): structured clone with the buffer transferred, instead of JSON through
// the browser process; small control messages by chrome.runtime, marked with OFFSCREEN_TARGET.
import { MSG, OFFSCREEN_TARGET } from './messages.js';
import { answerHostMessage } from './offscreen.js';

navigator.serviceWorker.onmessage = (event) => {
  const { data } = event;
  if (data?.type !== MSG.OFFSCREEN_CLASSIFY) return;
  answerHostMessage(data).then((result) => event.source?.postMessage({ type: MSG.OFFSCREEN_RESULT, id: data.id, result }));
};

// chrome.runtime messages reach this document from every extension context, content scripts included:
// only the service worker is heard, so an X page cannot make it rebuild the classifier (another provider
// asked for) or read its state.
const SERVICE_WORKER_URL = chrome.runtime.getURL('service-worker.js'); // manifest.json's background (no getManifest here)
const fromServiceWorker = (sender) => sender.id === chrome.runtime.id && !sender.tab && sender.url === SERVICE_WORKER_URL;

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (message?.target !== OFFSCREEN_TARGET || message.type !== MSG.OFFSCREEN_STATUS || !fromServiceWorker(sender)) return false;
  answerHostMessage(message).then(sendResponse);
  return true; // keeps the channel open for the asynchronous answer
});
