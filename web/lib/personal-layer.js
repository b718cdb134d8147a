// The personal layer: what a user's own corrections teach the classifier, computed on the device from
// the model's pooled embedding. Shared by the extension (service worker), the demo page (its worker)
// and tools/simulate-corrections.mjs, so what the simulator measures is what users get.
//
// Method (chosen by measurement, docs/corrections.md): a nearest-prototype override gated by cosine
// similarity and scoped by account. Each correction is a prototype (its unit-length embedding, the
// label the user gave and the account, e.g. the X user whose media tab it was made on). An image takes
// the label of the most similar prototype within the gate; every other image keeps the shipped model's
// scores exactly, so no corrections means the shipped model untouched. The gate is loose on the account
// the correction was made on (`accountGate`: an artist's or a game's images resemble each other) and
// near-duplicate-strict anywhere else (`gate`). Why scoped: the fine-tuned model's embedding collapses
// toward its three classes (one pair of random images in ten has cosine >= 0.93 on ../shared/data), so a
// correction looks like every image the model gives the same wrong label; an unscoped gate loose enough
// to fix an account's other mistakes flipped whole unrelated sources in the simulation. On its own
// account a correction is outvoted where an uncorrected image of that account (a "reference", with the
// label the model gave it) is nearer and judged otherwise, so an artist's real photos stay photos when
// one of their paintings was corrected; references that the corrections themselves relabel stop counting
// against them (`propagate` rounds). A logistic head on the
// embedding regularised toward the shipped head ('residual') was measured too; it moves verdicts
// everywhere, so it is not the default.
//
// Also here: the record a correction is stored as, bounding the store, and the export/import file
// format with its validation (a foreign, damaged or hostile file is refused whole).

export const CORRECTIONS_FORMAT = 'illust-only-corrections';
export const CORRECTIONS_FORMAT_VERSION = 1;
export const MAX_CORRECTIONS = 2000; // kept newest first; the oldest are dropped beyond this
export const MAX_IMPORT_BYTES = 8 * 2 ** 20; // 2,000 corrections with float16 embeddings take ~7 MB
// Cosine similarities at or above which a correction decides an image: on the account it was made on,
// and anywhere else. Chosen with tools/simulate-corrections.mjs on ../shared/data (docs/corrections.md
// has the sweep): a lower account gate fixes more of that account's errors and starts breaking its right
// verdicts; any global gate below near-duplicates flipped images of other accounts.
export const DEFAULT_ACCOUNT_GATE = 0.7;
export const DEFAULT_GATE = 0.999; // near-duplicates only: the same picture posted again elsewhere
// How much nearer an uncorrected image of the account, judged otherwise, must be to outvote a correction.
export const DEFAULT_MARGIN = 0;
// Rounds of relabelling the account's images that the corrections flip (0: none).
export const DEFAULT_PROPAGATE = 3;
const MEDIA_ID_PATTERN = /^[A-Za-z0-9_:./-]{1,200}$/;
const ACCOUNT_PATTERN = /^[A-Za-z0-9_:./()-]{1,200}$/;

function norm(vector) {
  let sum = 0;
  for (let i = 0; i < vector.length; i += 1) sum += vector[i] * vector[i];
  return Math.sqrt(sum);
}

function unitVector(vector, length) {
  const unit = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i += 1) unit[i] = vector[i] / length;
  return unit;
}

function isFiniteVector(vector) {
  if (!vector || typeof vector.length !== 'number' || vector.length === 0) return false;
  for (let i = 0; i < vector.length; i += 1) if (!Number.isFinite(vector[i])) return false;
  return true;
}

/**
 * Fits the layer. corrections: [{embedding: Float32Array|number[], label, account?}] (others, e.g.
 * without an embedding or with another length than the first, are skipped and counted). options:
 * {labels (the contract's), gate, accountGate, method: 'prototype' | 'residual', lambda, steps}. Returns a plain object (it
 * survives structured clone) for applyPersonalLayer().
 */
export function fitPersonalLayer(corrections, options = {}) {
  const steps = fitSteps(corrections, options);
  for (;;) {
    const { done, value } = steps.next();
    if (done) return value;
  }
}

/**
 * The same fit (the same result), pausing about every `sliceMs` of work: the extension's service worker
 * refits while a media tab loads, and a refit over an account's 400 references takes up to a second or
 * two, during which the worker could not answer a single verdict. pause() is a macrotask by default.
 */
export async function fitPersonalLayerInSlices(corrections, options = {}, {
  sliceMs = 15, pause = () => new Promise((resolve) => { setTimeout(resolve, 0); }),
} = {}) {
  const steps = fitSteps(corrections, options);
  let sliceStart = performance.now();
  for (;;) {
    const { done, value } = steps.next();
    if (done) return value;
    if (performance.now() - sliceStart >= sliceMs) {
      await pause();
      sliceStart = performance.now();
    }
  }
}

/** The fit as a generator: it yields after each unit of work (one reference's similarities), returns the layer. */
function* fitSteps(corrections, {
  labels, gate = DEFAULT_GATE, accountGate = DEFAULT_ACCOUNT_GATE, margin = DEFAULT_MARGIN, references = [], propagate = DEFAULT_PROPAGATE,
  method = 'prototype', lambda = 1, steps = 100,
} = {}) {
  if (!Array.isArray(labels) || labels.length < 2) throw new Error('fitPersonalLayer: labels (the contract\'s) are required');
  const usable = [];
  let dims = 0;
  for (const correction of corrections ?? []) {
    const labelIndex = labels.indexOf(correction?.label);
    const embedding = correction?.embedding;
    if (labelIndex < 0 || !isFiniteVector(embedding)) continue;
    dims ||= embedding.length;
    if (embedding.length !== dims || norm(embedding) === 0) continue;
    const baseLogits = correction.scores ? labels.map((name) => Math.log(Math.max(1e-12, correction.scores[name] ?? 0))) : null;
    usable.push({ embedding, labelIndex, baseLogits, account: typeof correction.account === 'string' ? correction.account : null });
  }
  const layer = { method, labels: [...labels], dims, count: usable.length, skipped: (corrections?.length ?? 0) - usable.length, gate, accountGate };
  if (method === 'prototype') {
    const prototypes = new Float32Array(usable.length * dims);
    usable.forEach(({ embedding }, row) => {
      const length = norm(embedding);
      for (let i = 0; i < dims; i += 1) prototypes[row * dims + i] = embedding[i] / length;
    });
    // The references of the accounts that have corrections: the only ones apply() looks at.
    const corrected = new Set(usable.map((u) => u.account).filter((a) => a !== null));
    const byAccount = new Map();
    for (const ref of references ?? []) {
      const labelIndex = labels.indexOf(ref?.label);
      if (!corrected.has(ref?.account) || labelIndex < 0 || !isFiniteVector(ref.embedding) || ref.embedding.length !== dims) continue;
      const length = norm(ref.embedding);
      if (!(length > 0)) continue;
      if (!byAccount.has(ref.account)) byAccount.set(ref.account, []);
      byAccount.get(ref.account).push({ id: ref.id ?? null, labelIndex, unit: unitVector(ref.embedding, length) });
    }
    const fitted = {
      ...layer, margin, prototypes, prototypeLabels: Int32Array.from(usable, (u) => u.labelIndex),
      prototypeAccounts: usable.map((u) => u.account),
      // Keyed by account name without a prototype: X user names such as "constructor" are not Object's.
      references: Object.assign(Object.create(null), Object.fromEntries(byAccount)), rowsByAccount: Object.create(null),
    };
    usable.forEach((u, row) => { if (u.account !== null) (fitted.rowsByAccount[u.account] ??= []).push(row); });
    // The account's images that the corrections themselves relabel stop speaking against them (a
    // painter's other misjudged paintings are not evidence that paintings are photos): relabel them
    // and look again, a few rounds.
    // The same rule as applyPersonalLayer() on the account's own corrections, on similarities computed
    // once per account (each round only re-reads them).
    if (propagate > 0) {
      for (const [account, refs] of Object.entries(fitted.references)) {
        const rows = fitted.rowsByAccount[account] ?? [];
        const decisions = [];
        for (const { unit } of refs) {
          let best = -Infinity;
          let bestRow = -1;
          for (const row of rows) {
            let dot = 0;
            const offset = row * dims;
            for (let i = 0; i < dims; i += 1) dot += prototypes[offset + i] * unit[i];
            if (dot >= accountGate && dot > best) { best = dot; bestRow = row; }
          }
          decisions.push(bestRow < 0 ? null : { similarity: best, labelIndex: fitted.prototypeLabels[bestRow], near: null });
          yield;
        }
        for (let round = 0; round < propagate; round += 1) {
          const next = [];
          for (let i = 0; i < refs.length; i += 1) {
            const decision = decisions[i];
            if (!decision || decision.labelIndex === refs[i].labelIndex) { next.push(refs[i].labelIndex); continue; }
            if (decision.similarity < 1 - 1e-6 && !decision.near) {
              const { unit } = refs[i];
              decision.near = refs.map(({ unit: other }) => {
                let dot = 0;
                for (let d = 0; d < dims; d += 1) dot += other[d] * unit[d];
                return dot;
              });
              yield;
            }
            const near = decision.similarity < 1 - 1e-6 ? decision.near : [];
            const outvoted = near.some((sim, k) => k !== i && refs[k].labelIndex !== decision.labelIndex && sim > decision.similarity + margin);
            next.push(outvoted ? refs[i].labelIndex : decision.labelIndex);
          }
          let moved = 0;
          refs.forEach((ref, i) => { if (next[i] !== ref.labelIndex) { ref.labelIndex = next[i]; moved += 1; } });
          if (moved === 0) break;
        }
      }
    }
    return fitted;
  }
  if (method === 'residual') return { ...layer, ...fitResidual(usable, labels.length, dims, { lambda, steps }) };
  throw new Error(`fitPersonalLayer: unknown method "${method}"`);
}

/**
 * 'residual': logits = log(p_shipped) + W·x + b on the unit-length embedding x, with W, b fitted by
 * gradient descent on the corrections' cross-entropy plus lambda·(|W|² + |b|²). The shipped head is
 * linear on the same embedding, so this is a logistic head regularised toward the shipped one (W = 0
 * is the shipped model). Needs the shipped probabilities of each correction: `scores` on the record;
 * without them the shipped logits count as equal.
 */
function fitResidual(usable, classes, dims, { lambda, steps }) {
  const W = new Float32Array(classes * dims);
  const b = new Float32Array(classes);
  if (usable.length === 0) return { weights: W, bias: b };
  const xs = usable.map(({ embedding }) => {
    const length = norm(embedding);
    return Float32Array.from(embedding, (v) => v / length);
  });
  const rate = Math.min(0.5, 0.25 / lambda); // keeps the L2 shrink step (rate·2λ) below 1: no oscillation
  for (let step = 0; step < steps; step += 1) {
    const gW = new Float32Array(classes * dims);
    const gb = new Float32Array(classes);
    for (let n = 0; n < usable.length; n += 1) {
      const x = xs[n];
      const logits = new Float64Array(classes);
      for (let c = 0; c < classes; c += 1) {
        let z = b[c];
        for (let i = 0; i < dims; i += 1) z += W[c * dims + i] * x[i];
        logits[c] = z + (usable[n].baseLogits?.[c] ?? 0);
      }
      const max = Math.max(...logits);
      const exps = logits.map((z) => Math.exp(z - max));
      const total = exps.reduce((s, v) => s + v, 0);
      for (let c = 0; c < classes; c += 1) {
        const g = exps[c] / total - (c === usable[n].labelIndex ? 1 : 0);
        gb[c] += g / usable.length;
        for (let i = 0; i < dims; i += 1) gW[c * dims + i] += (g * x[i]) / usable.length;
      }
    }
    for (let j = 0; j < W.length; j += 1) W[j] -= rate * (gW[j] + 2 * lambda * W[j]);
    for (let c = 0; c < classes; c += 1) b[c] -= rate * (gb[c] + 2 * lambda * b[c]);
  }
  return { weights: W, bias: b };
}

/**
 * Applies the layer to one image. scores: {label: p} from the shipped model; embedding: its pooled
 * embedding (Float32Array); options.account: the account the image is shown on (null: none). Returns
 * {scores, changed, similarity, label}: `scores` are the shipped ones (the same object) when the layer
 * does not apply (no corrections, no embedding, a different length, nothing within its gate); otherwise
 * all the weight on the deciding label, so decide() gives that label at every strictness.
 * `similarity`/`label` name the deciding (else the nearest) correction, for the UI and tests.
 * options.ownOnly: look only at the account's own corrections (the propagation rounds of the fit).
 */
export function applyPersonalLayer(layer, scores, embedding, { account = null, id = null, ownOnly = false } = {}) {
  const unchanged = { scores, changed: false, similarity: null, label: null };
  if (!layer || layer.count === 0 || !embedding || embedding.length !== layer.dims) return unchanged;
  const length = norm(embedding);
  if (!(length > 0) || !Number.isFinite(length)) return unchanged;
  const { dims, labels } = layer;
  if (layer.method === 'residual') {
    const logits = labels.map((name, c) => {
      let z = layer.bias[c] + Math.log(Math.max(1e-12, scores?.[name] ?? 0));
      for (let i = 0; i < dims; i += 1) z += layer.weights[c * dims + i] * (embedding[i] / length);
      return z;
    });
    const max = Math.max(...logits);
    const exps = logits.map((z) => Math.exp(z - max));
    const total = exps.reduce((s, v) => s + v, 0);
    const adjusted = Object.fromEntries(labels.map((name, c) => [name, exps[c] / total]));
    return { scores: adjusted, changed: true, similarity: null, label: null };
  }
  let nearest = -Infinity;
  let nearestRow = -1;
  let deciding = -Infinity;
  let decidingRow = -1;
  const { prototypes, prototypeAccounts } = layer;
  const scan = (row, gate) => {
    let dot = 0;
    const offset = row * dims;
    for (let i = 0; i < dims; i += 1) dot += prototypes[offset + i] * embedding[i];
    const similarity = dot / length;
    if (similarity > nearest) { nearest = similarity; nearestRow = row; }
    if (similarity >= gate && similarity > deciding) { deciding = similarity; decidingRow = row; }
  };
  // The account's own corrections with the loose gate; the others only when a near-duplicate could pass.
  for (const row of (account !== null && layer.rowsByAccount?.[account]) || []) scan(row, layer.accountGate);
  if (!ownOnly && layer.gate <= 1) {
    for (let row = 0; row < layer.count; row += 1) if (account === null || prototypeAccounts[row] !== account) scan(row, layer.gate);
  }
  if (nearestRow < 0) return unchanged;
  const unmoved = { scores, changed: false, similarity: nearest, label: labels[layer.prototypeLabels[nearestRow]] };
  if (decidingRow < 0) return unmoved;
  const labelIndex = layer.prototypeLabels[decidingRow];
  // On the correction's own account, an image the user left uncorrected that is nearer (by more than
  // the margin) and judged otherwise speaks against the correction: an artist's real photos stay photos
  // when one painted landscape called a photo was corrected (see docs/corrections.md, mixed accounts).
  if (prototypeAccounts[decidingRow] === account && deciding < 1 - 1e-6) {
    for (const ref of layer.references?.[account] ?? []) {
      if (ref.labelIndex === labelIndex || (id !== null && ref.id === id)) continue;
      let dot = 0;
      for (let i = 0; i < dims; i += 1) dot += ref.unit[i] * embedding[i];
      if (dot / length > deciding + layer.margin) return unmoved;
    }
  }
  const label = labels[labelIndex];
  const adjusted = Object.fromEntries(labels.map((name) => [name, name === label ? 1 : 0]));
  return { scores: adjusted, changed: true, similarity: deciding, label };
}

// ---- the stored record, bounding -------------------------------------------------------------------

/** A TypeError with a stable `code` and its `details`, for a caller that says it in another language. */
const invalid = (code, details, message) => Object.assign(new TypeError(message), { code, details });

/**
 * A correction as stored: {mediaId, label, embedding: Float32Array | null, modelVersion, time, account
 * (lower-case X user name, or a source's name in the simulator; null when unknown)}. Throws
 * a TypeError that says what is wrong (unknown label, bad embedding) so callers refuse it as a whole;
 * its `code` ('bad_media_id', 'unknown_label', 'embedding_not_finite', 'no_model_version', 'no_time',
 * 'bad_account') and `details` ({value}, {value, expected}) say the same for a translation.
 */
export function makeCorrection({ mediaId, label, embedding, modelVersion, time = Date.now(), account = null }, { labels }) {
  if (typeof mediaId !== 'string' || !MEDIA_ID_PATTERN.test(mediaId)) {
    const value = JSON.stringify(mediaId)?.slice(0, 60);
    throw invalid('bad_media_id', { value }, `not a media id: ${value}`);
  }
  if (!labels.includes(label)) {
    const value = String(label).slice(0, 40);
    throw invalid('unknown_label', { value, expected: labels.join(', ') }, `unknown label "${value}" (expected ${labels.join(', ')})`);
  }
  if (embedding != null && !isFiniteVector(embedding)) throw invalid('embedding_not_finite', {}, 'the embedding is not a list of finite numbers');
  if (typeof modelVersion !== 'string' || modelVersion.length === 0 || modelVersion.length > 100) throw invalid('no_model_version', {}, 'no model version');
  if (!Number.isFinite(time)) throw invalid('no_time', {}, 'no time');
  if (account !== null && (typeof account !== 'string' || !ACCOUNT_PATTERN.test(account))) {
    const value = JSON.stringify(account)?.slice(0, 60);
    throw invalid('bad_account', { value }, `not an account name: ${value}`);
  }
  return { mediaId, label, embedding: embedding == null ? null : Float32Array.from(embedding), modelVersion, time, account };
}

/**
 * One correction per media id (the newest), newest first, at most `max`. Returns {kept, dropped}:
 * `dropped` are the oldest ones that did not fit (callers say so in the console).
 */
export function boundCorrections(corrections, max = MAX_CORRECTIONS) {
  const newest = new Map();
  for (const c of corrections) {
    const seen = newest.get(c.mediaId);
    if (!seen || c.time >= seen.time) newest.set(c.mediaId, c);
  }
  const sorted = [...newest.values()].sort((a, b) => b.time - a.time);
  return { kept: sorted.slice(0, max), dropped: sorted.slice(max) };
}

// ---- export / import ---------------------------------------------------------------------------------

// Embeddings travel as little-endian float16 in base64: a third of the size of JSON numbers and half of
// float32, and the cosine similarities the layer uses change by about 1e-4.
// One scratch float for every value: two typed arrays made per value cost ~1 µs each, so an export of
// 2,000 corrections (2.56 M values) blocked the extension's service worker, verdicts included, for 3-7 s.
const halfScratch = new Float32Array(1);
const halfScratchBits = new Uint32Array(halfScratch.buffer);
function toHalf(value) {
  halfScratch[0] = value;
  const bits = halfScratchBits[0];
  const sign = (bits >>> 16) & 0x8000;
  let exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  let mantissa = bits & 0x7fffff;
  if (exponent >= 31) return sign | 0x7c00; // too large: infinity (refused on import)
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    return sign | ((mantissa >> (14 - exponent)) + ((mantissa >> (13 - exponent)) & 1));
  }
  const half = sign | (exponent << 10) | (mantissa >> 13);
  return half + ((mantissa >> 12) & 1); // round half up; a carry into the exponent stays correct
}

function fromHalf(half) {
  const exponent = (half >> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  const sign = half & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function bytesToBase64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function base64ToBytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function encodeEmbedding(embedding) {
  const bytes = new Uint8Array(embedding.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < embedding.length; i += 1) view.setUint16(i * 2, toHalf(embedding[i]), true);
  return bytesToBase64(bytes);
}

export function decodeEmbedding(text) {
  const bytes = base64ToBytes(text);
  if (bytes.length % 2 !== 0) throw new TypeError('embedding has an odd number of bytes');
  const view = new DataView(bytes.buffer);
  return Float32Array.from({ length: bytes.length / 2 }, (_, i) => fromHalf(view.getUint16(i * 2, true)));
}

/** The export file's text (JSON). corrections: stored records; labels: the contract's. */
export function exportCorrections(corrections, { labels }) {
  const dims = corrections.find((c) => c.embedding)?.embedding.length ?? null;
  return JSON.stringify({
    format: CORRECTIONS_FORMAT, version: CORRECTIONS_FORMAT_VERSION, labels, dims, exported: new Date().toISOString(),
    corrections: corrections.map((c) => ({
      mediaId: c.mediaId, label: c.label, modelVersion: c.modelVersion, time: c.time, account: c.account ?? null,
      embedding: c.embedding ? encodeEmbedding(c.embedding) : null,
    })),
  });
}

// An export nests three levels deep (the file, its list, a correction). JSON.parse takes microseconds per
// level: a file of 8 MB of brackets held the extension's service worker, verdicts included, for 10 s (a
// busy 2-core machine) before it was refused; such a file is refused from a scan first (~1 ms for an export of 7 MB).
const MAX_IMPORT_NESTING = 16;

/** True unless text's arrays and objects nest deeper than limit (strings skipped; JSON.parse judges the rest). */
function nestedAtMost(text, limit) {
  let depth = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // a string: on to its closing quote, one not escaped by an odd run of backslashes
      for (;;) {
        i = text.indexOf('"', i + 1);
        if (i < 0) return true; // unterminated: not JSON
        let backslashes = 0;
        while (text.charCodeAt(i - 1 - backslashes) === 0x5c) backslashes += 1;
        if (backslashes % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > limit) return false;
    } else if (c === 0x5d || c === 0x7d) {
      depth -= 1;
    }
  }
  return true;
}

/**
 * Reads an export file. text: its contents (string); options: {labels (the contract's), dims (the
 * model's embedding length, when known)}. Returns {ok:true, corrections} or {ok:false, code, details,
 * message} for a file that is too big, not JSON, not ours, or holds any record with an unknown label, a
 * bad media id, an embedding of the wrong length or with NaN/infinite values: the whole file is refused,
 * nothing of it is kept. message says why in English (the demo, the CLI); code and details say the same
 * for a caller that words it in the user's language (the extension): 'not_text', 'too_large' {megabytes,
 * maxCorrections, maxMegabytes}, 'too_deep' {levels}, 'not_json', 'not_ours', 'unsupported_version'
 * {version, supported}, 'no_list', 'too_many' {count, max}; a record's: details.index (1-based) with
 * 'embedding_not_text', 'embedding_not_base64', 'embedding_not_finite', 'embedding_dims' {dims, want}, or
 * makeCorrection's codes.
 */
export function parseCorrectionsFile(text, { labels, dims = null } = {}) {
  const refuse = (code, details, message) => ({ ok: false, code, details, message });
  if (typeof text !== 'string') return refuse('not_text', {}, 'not a text file');
  if (text.length > MAX_IMPORT_BYTES) {
    const details = { megabytes: (text.length / 2 ** 20).toFixed(1), maxCorrections: MAX_CORRECTIONS, maxMegabytes: MAX_IMPORT_BYTES / 2 ** 20 };
    return refuse('too_large', details, `the file is too large (${details.megabytes} MB; an export of ${MAX_CORRECTIONS} corrections is under ${details.maxMegabytes} MB)`);
  }
  if (!nestedAtMost(text, MAX_IMPORT_NESTING)) return refuse('too_deep', { levels: MAX_IMPORT_NESTING }, `not an Illust Only corrections file (nested deeper than ${MAX_IMPORT_NESTING} levels)`);
  let doc;
  try { doc = JSON.parse(text); } catch { return refuse('not_json', {}, 'not an Illust Only corrections file (not JSON)'); }
  if (doc?.format !== CORRECTIONS_FORMAT) return refuse('not_ours', {}, 'not an Illust Only corrections file (no "format": "illust-only-corrections")');
  if (doc.version !== CORRECTIONS_FORMAT_VERSION) {
    const details = { version: String(JSON.stringify(doc.version)?.slice(0, 20)), supported: CORRECTIONS_FORMAT_VERSION };
    return refuse('unsupported_version', details, `unsupported corrections file version ${details.version} (this extension reads version ${CORRECTIONS_FORMAT_VERSION})`);
  }
  if (!Array.isArray(doc.corrections)) return refuse('no_list', {}, 'the file has no list of corrections');
  if (doc.corrections.length > MAX_CORRECTIONS) {
    return refuse('too_many', { count: doc.corrections.length, max: MAX_CORRECTIONS }, `the file holds ${doc.corrections.length} corrections; at most ${MAX_CORRECTIONS} are kept`);
  }
  const corrections = [];
  for (const [index, record] of doc.corrections.entries()) {
    const where = `correction ${index + 1}`;
    const refuseRecord = (code, details, message) => refuse(code, { index: index + 1, ...details }, `${where}: ${message}`);
    let embedding = null;
    if (record?.embedding != null) {
      if (typeof record.embedding !== 'string') return refuseRecord('embedding_not_text', {}, 'the embedding is not base64 text');
      try { embedding = decodeEmbedding(record.embedding); } catch { return refuseRecord('embedding_not_base64', {}, 'the embedding is not valid base64 float16'); }
      if (!isFiniteVector(embedding)) return refuseRecord('embedding_not_finite', {}, 'the embedding holds NaN or infinite values');
      const want = dims ?? doc.dims ?? embedding.length;
      if (embedding.length !== want) return refuseRecord('embedding_dims', { dims: embedding.length, want }, `the embedding has ${embedding.length} dimensions, the model's have ${want}`);
    }
    try {
      corrections.push(makeCorrection({ ...record, embedding }, { labels }));
    } catch (error) {
      return refuseRecord(error.code ?? 'bad_record', error.details ?? {}, error.message);
    }
  }
  return { ok: true, corrections };
}
