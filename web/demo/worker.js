// The demo page's module worker: owns the classifier, so decoding and inference never block the page,
// even for hundreds of dropped images. On WASM that is a pool of classifier workers (lib/classifier-
// pool.js, as in the extension: two 1-thread ORT instances on 2–4 cores judge two files at once); on
// WebGPU, or with ?threads=N (one session with N threads, for measuring), one session. Files are read
// only when a classifier is free for them, so at most that many are in memory at a time.
// Protocol: see messages.js.
import { MSG, PROVIDERS, MAX_FILE_BYTES } from './messages.js';
import { decide } from './lib/decide.js';
import { applyPersonalLayer, fitPersonalLayer } from './lib/personal-layer.js';

const here = (relative) => new URL(relative, import.meta.url).href;

let classifierReady = null;  // Promise<classifier>, set by INIT
let generation = 0;          // bumped by CANCEL: queued jobs of an older generation are dropped

async function fetchOrThrow(url, what) {
  let response;
  try { response = await fetch(url); } catch (error) { throw new Error(`${what}: cannot fetch ${url} (${error.message})`); }
  if (!response.ok) throw new Error(`${what}: ${url} answered HTTP ${response.status}; was \`npm run build\` run after it was made?`);
  return response;
}

// Firefox (153 ESR) sometimes never starts an ORT instance that has threads: the pthread worker it
// spawns answers "loaded", and that message never reaches the worker that made it (a third of the
// starts of ?threads=2 on 2 cores, also in the pool's workers, which get threads on 5+ cores when the
// page is cross-origin isolated; never in Chromium). The page then said "Loading the model…" for good.
// There each ORT instance gets one thread: the pool's two workers still judge two images at once.
const ORT_THREADS_CAN_HANG = /\bFirefox\//.test(self.navigator?.userAgent ?? '');

async function init({ provider, threads: threadsAsked }) {
  const notes = [];
  const log = (line) => { notes.push(line); console.info(`illust-only: ${line}`); };
  const threads = ORT_THREADS_CAN_HANG && threadsAsked > 1 ? 1 : threadsAsked;
  if (threads !== threadsAsked) log(`threads=${threadsAsked}: 1 thread, as ONNX Runtime's threads can hang at start in Firefox`);
  // Imported here, not at the top, so a missing or broken build part becomes a readable INIT_FAILED
  // message on the page instead of a worker that never starts.
  const [{ loadCore }, { createClassifier, findWebgpuAdapter }, { createClassifierPool, poolPlan }] = await Promise.all([
    import('./lib/core.js'), import('./lib/classifier.js'), import('./lib/classifier-pool.js'),
  ]).catch((error) => { throw new Error(`cannot load the page's modules (${error.message ?? error})`); });
  const contract = await (await fetchOrThrow(here('./model/contract.json'), 'model contract')).json();
  const model = new Uint8Array(await (await fetchOrThrow(here(`./model/${contract.model_file}`), 'model')).arrayBuffer());
  const chosen = PROVIDERS.includes(provider) ? provider : 'auto';
  // One session for WebGPU and for a thread count asked for in the URL; the pool otherwise.
  // Without an adapter a forced 'webgpu' gets the pool as 'auto' does: WASM runs faster there.
  // A software adapter (SwiftShader) runs slower than the pool: only a forced 'webgpu' takes one.
  const found = chosen !== 'wasm' && threads === undefined ? await findWebgpuAdapter({ allowSoftware: chosen === 'webgpu' }) : null;
  const single = threads !== undefined || Boolean(found?.adapter);
  let classifier;
  if (single) {
    const [core, ort] = await Promise.all([
      loadCore().catch((error) => { throw new Error(`wasm core: ${error.message ?? error}`); }),
      // The wasm-only bundle fetches a 14 MB runtime; the WebGPU bundle (27 MB) is imported by the
      // classifier only when a hardware adapter exists, so machines without a GPU never download it.
      import('./ort/ort.wasm.min.mjs'),
    ]);
    classifier = await createClassifier({
      ort, ortWebgpu: () => import('./ort/ort.webgpu.min.mjs'), model, contract, core, provider: chosen,
      numThreads: ORT_THREADS_CAN_HANG ? 1 : threads, // a WebGPU session's ORT starts threads too
      // The fallback reasons (no adapter, warm-up failed or timed out) are shown next to the provider.
      log,
    });
  } else {
    // The wording classifier.js uses.
    if (chosen !== 'wasm') log(`webgpu: ${found?.reason ?? 'no adapter'}${chosen === 'webgpu' ? ' (forced webgpu unavailable)' : ''}; using wasm`);
    const plan = poolPlan();
    if (ORT_THREADS_CAN_HANG && plan.threads > 1) {
      log(`1 thread per worker, not ${plan.threads}: ONNX Runtime's threads can hang at start in Firefox`);
      plan.threads = 1;
    }
    classifier = await createClassifierPool({
      model, contract, ortUrl: here('./ort/ort.wasm.min.mjs'), wasmPaths: here('./ort/'), ...plan, log,
    });
  }
  return { classifier, contract, notes };
}

async function classifyFile(classifier, file) {
  if (!(file instanceof Blob)) return { ok: false, code: 'bad_argument', message: 'not a file' };
  if (file.size > MAX_FILE_BYTES) {
    return { ok: false, code: 'too_large', message: `file too large: ${(file.size / 2 ** 20).toFixed(1)} MB exceeds ${MAX_FILE_BYTES / 2 ** 20} MB` };
  }
  let bytes;
  try { bytes = new Uint8Array(await file.arrayBuffer()); } catch (error) {
    return { ok: false, code: 'unreadable', message: `cannot read the file: ${error.message ?? error}` };
  }
  return classifier.classify(bytes, { embedding: true });
}

// Enough of a file for the core's probe to read its header, and no more: every card in view is probed.
const HEADER_BYTES = 256 * 1024;
// A JPEG's frame header may follow any amount of metadata (EXIF with its thumbnail, XMP, an ICC profile
// in APP segments): its segments are walked by their lengths, a few bytes read for each, to this many.
// Runs of 0xFF fill bytes between them are skipped a window at a time and not counted.
const MAX_JPEG_SEGMENTS = 10000;
let headerCore = null;

const bytesOf = async (file, start, end) => new Uint8Array(await file.slice(start, end).arrayBuffer());

/** The position of the last 0xFF of the run of fill bytes at pos (the one its marker follows), or the file's end. */
async function lastFillByte(file, pos) {
  for (;;) {
    const window = await bytesOf(file, pos, pos + HEADER_BYTES);
    const other = window.findIndex((byte) => byte !== 0xff);
    if (other > 0) return pos + other - 1;
    if (window.length < HEADER_BYTES) return file.size;
    pos += window.length - 1;
  }
}

/**
 * A JPEG's start marker and its frame header (SOFn), which is all the core's probe needs for the size,
 * wherever in the file the frame header is; null when the walk finds none (a scan first, a broken
 * segment, the end of the file, more segments than MAX_JPEG_SEGMENTS).
 */
async function jpegFrameHeader(file) {
  let pos = 2;
  for (let segment = 0; segment < MAX_JPEG_SEGMENTS && pos + 4 <= file.size;) {
    const [ff, marker, lengthHigh, lengthLow] = await bytesOf(file, pos, pos + 4);
    if (ff !== 0xff) return null;
    if (marker === 0xff) { pos = await lastFillByte(file, pos); continue; }
    segment++;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) { pos += 2; continue; } // no length
    if (marker === 0xda || marker === 0xd9) return null; // the scan or the end before any frame header
    const length = (lengthHigh << 8) | lengthLow;
    if (length < 2) return null;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const frame = await bytesOf(file, pos, pos + 2 + length);
      const header = new Uint8Array(2 + frame.length);
      header.set([0xff, 0xd8]);
      header.set(frame, 2);
      return header;
    }
    pos += 2 + length;
  }
  return null;
}

/**
 * Whether the page may give the file to an <img>: not when the core's probe says it is over the pixel cap
 * (the core refuses it from its header; the browser would decode it in full), nor a JPEG whose frame
 * header the walk cannot find (its size unknown; the card still gets the core's verdict). Anything else
 * (a header past the bytes read, a core that would not load) shows the file.
 */
async function probeThumbnail(id, file) {
  let show = true;
  try {
    headerCore ??= import('./lib/core.js').then(({ loadCore }) => loadCore());
    const [core, start] = await Promise.all([headerCore, bytesOf(file, 0, HEADER_BYTES)]);
    const isJpeg = start[0] === 0xff && start[1] === 0xd8 && start[2] === 0xff;
    const header = isJpeg ? await jpegFrameHeader(file) : start;
    show = header !== null && core.probe(header).code !== 'too_large';
  } catch (error) {
    console.warn('illust-only worker: a thumbnail is shown without a look at its header:', error);
  }
  self.postMessage({ type: MSG.PROBED, id, show });
}

// ---- corrections (issue #19): the personal layer of the extension, on this page's cards ------------
// The page's images count as one account: a correction decides the cards like it (cosine gate), and
// the other cards, each with the label the model gave it, can speak against it (lib/personal-layer.js).
const DEMO_ACCOUNT = 'demo';
const judged = new Map();      // card id → {scores, embedding}
const corrections = new Map(); // card id → label
let personalLayer = null;      // refitted after each correction

function refit() {
  const { contract } = announced;
  personalLayer = corrections.size === 0 ? null : fitPersonalLayer(
    [...corrections].map(([id, label]) => ({ embedding: judged.get(id)?.embedding, label, account: DEMO_ACCOUNT })),
    { labels: contract.labels, references: [...judged].filter(([id]) => !corrections.has(id))
      .map(([id, r]) => ({ id, embedding: r.embedding, label: decide(r.scores, contract).label, account: DEMO_ACCOUNT })) });
}

/** The scores the page decides with: the user's own label, the layer's, or the model's. */
function personalScores(id) {
  const { scores, embedding } = judged.get(id);
  const own = corrections.get(id);
  if (own) return { scores: Object.fromEntries(announced.contract.labels.map((l) => [l, l === own ? 1 : 0])), personal: true };
  if (!personalLayer) return { scores, personal: false };
  const applied = applyPersonalLayer(personalLayer, scores, embedding, { account: DEMO_ACCOUNT, id });
  return { scores: applied.scores, personal: applied.changed };
}

/** Learns the page's correction number `correction` and answers it, also one it cannot use: the page waits for the answer to its latest. */
function correct(id, label, correction) {
  if (!announced) return; // no card is judged before READY, so none can be corrected
  if (judged.has(id) && announced.contract.labels.includes(label)) {
    corrections.set(id, label);
    refit();
  }
  const adjusted = [...judged.keys()].map((cardId) => ({ id: cardId, ...personalScores(cardId) }));
  self.postMessage({ type: MSG.PERSONAL, correction, learned: corrections.size, adjusted });
}

// Files wait here until a classifier is free for them: one at a time on one session, one per worker
// on the pool.
const waiting = []; // {id, file, generation}
let running = 0;
let capacity = 1;   // raised to the pool's worker count once it is ready

function startWaitingJobs() {
  while (running < capacity && waiting.length > 0) {
    const job = waiting.shift();
    if (job.generation !== generation) continue;
    running += 1;
    (async () => {
      let result;
      try {
        const classifier = await classifierReady;
        result = await classifyFile(classifier, job.file);
        // A WebGPU session whose GPU failed went on on WASM, or a pool worker stopped: the page shows
        // what runs now.
        reannounceIfChanged(classifier);
      } catch (error) {
        // The model could not be loaded: each file still gets an answer, so no card waits forever.
        result = { ok: false, code: 'not_ready', message: `classifier unavailable: ${error?.message ?? error}` };
      }
      if (job.generation !== generation) return;
      // The embedding stays here (the page has no use for 1,280 numbers per card); the page gets the
      // scores to decide with once corrections exist.
      if (result.ok && result.embedding) {
        judged.set(job.id, { scores: result.scores, embedding: result.embedding });
        const { embedding, ...rest } = result;
        result = { ...rest, personal: personalLayer ? personalScores(job.id) : null };
      }
      self.postMessage({ type: MSG.RESULT, id: job.id, result });
    })().finally(() => { running -= 1; startWaitingJobs(); });
  }
}

let announced = null; // {provider, workers, contract, notes} of the last READY message

function announce(classifier, contract, notes) {
  announced = { provider: classifier.provider, workers: classifier.workers, contract, notes };
  self.postMessage({
    type: MSG.READY, provider: classifier.provider, threads: classifier.threads,
    workers: classifier.workers, modelVersion: classifier.modelVersion, contract, note: notes.join('; '),
    isolated: self.crossOriginIsolated === true,
  });
}

function reannounceIfChanged(classifier) {
  if (classifier.provider !== announced?.provider || classifier.workers !== announced?.workers) {
    announce(classifier, announced.contract, announced.notes);
  }
}

self.onmessage = ({ data }) => {
  switch (data?.type) {
    case MSG.INIT:
      classifierReady = init(data).then(
        ({ classifier, contract, notes }) => {
          announce(classifier, contract, notes);
          // The pool's later workers join as they start; count them when deciding how many files run.
          capacity = Math.max(1, classifier.workers ?? 1);
          // The engine line counted the workers still starting; one that failed to start is not running.
          classifier.allStarted?.then(() => { capacity = Math.max(1, classifier.workers); reannounceIfChanged(classifier); startWaitingJobs(); });
          startWaitingJobs();
          return classifier;
        },
        (error) => {
          self.postMessage({ type: MSG.INIT_FAILED, message: String(error?.message ?? error) });
          throw error;
        });
      classifierReady.catch(() => {});
      break;
    case MSG.CLASSIFY:
      waiting.push({ id: data.id, file: data.file, generation });
      startWaitingJobs();
      break;
    case MSG.PROBE:
      probeThumbnail(data.id, data.file);
      break;
    case MSG.CANCEL:
      generation++;
      waiting.length = 0; // every waiting file is of an older generation now: let go of them at once
      break;
    case MSG.CORRECT:
      correct(data.id, data.label, data.correction);
      break;
    case MSG.FORGET:
      judged.clear();
      corrections.clear();
      personalLayer = null;
      break;
    default:
      console.warn('illust-only worker: unknown message', data);
  }
};
