// Build step `extension`: assembles the unpacked Manifest V3 extension in build/extension/, ready for
// chrome://extensions → "Load unpacked" (and for tools/pack-extension.mjs to zip):
//   build/extension/               web/extension/* (imports of ../lib/ rewritten to ./lib/)
//   build/extension/content-script.js   the content script with its module imports inlined (MV3
//                                  content scripts are classic scripts; see bundleClassicScript)
//   build/extension/lib/           web/lib/*.js + the wasm core glue and binary from build/wasm
//   build/extension/ort/           ONNX Runtime Web: the wasm bundle and the one runtime it loads, and
//                                  the WebGPU bundle with its runtime (asyncify), which the offscreen
//                                  document imports only when the browser has a real WebGPU adapter
//   build/extension/model/         model/contract.json + model/illust-only.onnx, and the same model with
//                                  ONNX Runtime's graph optimisations applied (illust-only.optimized.onnx)
//                                  for the WASM workers (see writeOptimizedModel)
//   build/extension/icons/         PNG icons drawn here (Chrome's manifest icons cannot be SVG)
//   build/extension/_locales/      web/extension/_locales/<lang>/messages.json: the extension's words per
//                                  language (web/extension/i18n.js reads them)
//   build/extension-firefox/       the same files for Firefox, with the manifest firefoxManifest() derives
//                                  from the same manifest.json (no offscreen document: the background
//                                  page runs the classifier; see web/extension/classifier-host.js)
// Parts made by other steps (wasm core, model) are reported when missing, not fatal: the extension
// then fails open and says why in the offscreen document's and the page's console.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import vm from 'node:vm';
import zlib from 'node:zlib';

// Which runtime files each bundle imports was checked by grepping the bundles (onnxruntime-web 1.30.0):
// ort.wasm.min.mjs → ort-wasm-simd-threaded.mjs; ort.webgpu.min.mjs → ort-wasm-simd-threaded.asyncify.mjs.
export const ORT_FILES = [
  'ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm',
  'ort.webgpu.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm',
];
export const CORE_FILES = ['illust_core.mjs', 'illust_core.wasm'];
export const MODEL_FILES = ['contract.json', 'illust-only.onnx'];
// offscreen.js reads this name (its OPTIMIZED_MODEL_FILE); written at each build (writeOptimizedModel).
export const OPTIMIZED_MODEL_FILE = 'illust-only.optimized.onnx';
const CLASSIC_SCRIPTS = ['content-script.js']; // entry points that must not be modules
const NOT_SHIPPED = new Set(['README.md']);
const ICON_SIZES = [16, 32, 48, 128];
// Firefox: its add-on id (needed for storage and for signing on addons.mozilla.org), and the oldest
// release with what the extension uses (MV3 event page as a module, storage.session, host permissions
// asked for at install: 128) and that reads data_collection_permissions, which addons.mozilla.org
// requires of new add-ons: 140, an ESR (128 ESR has had no updates since 2025; AMO's linter warns
// when strict_min_version is below 140).
export const FIREFOX_ADDON_ID = 'illust-only@illust-only';
export const FIREFOX_MIN_VERSION = '140.0';
// Firefox-only permissions: the background page copies each thumbnail the page downloads as it passes
// (webRequest.filterResponseData; web/extension/thumbnail-tap.js), because Firefox's HTTP cache never
// answers the content script's fetch() with the page's <img> download. Only for the hosts the manifest
// names (pbs.twimg.com's thumbnails).
export const FIREFOX_ONLY_PERMISSIONS = ['webRequest', 'webRequestBlocking', 'webRequestFilterResponse'];
// Chromium-only files: Firefox has no offscreen documents.
const CHROMIUM_ONLY = new Set(['offscreen.html', 'offscreen-document.js']);

/** Copies src to dst unless dst already has the same size and is not older (ORT's wasm is 14 MB). */
async function copyIfChanged(src, dst) {
  const [s, d] = await Promise.all([stat(src), stat(dst).catch(() => null)]);
  if (d && d.size === s.size && d.mtimeMs >= s.mtimeMs) return;
  await mkdir(path.dirname(dst), { recursive: true });
  await copyFile(src, dst);
}

/**
 * Writes the model as ONNX Runtime leaves it after its graph optimisations (each Conv and its Clip fused
 * into one FusedConv, constants folded), which the extension's WASM workers open with optimisations off:
 * otherwise every worker redid the same passes at every start, and its first run was twice as slow while
 * V8 still compiled the optimiser's code (tools/bench/notes.md, cold start). Level 'extended', not
 * 'all': 'all' adds layout changes for the build machine's CPU. Made by onnxruntime-node of the same
 * release as onnxruntime-web, so the fused ops are ones the web runtime has; without it (or with
 * another release) no file is written and the workers optimise the plain model themselves, as before.
 */
export async function writeOptimizedModel(root, model, to, log) {
  // Made anew at each build (~0.5 s): one made from an older model or by another ORT release must not
  // ship, and npm's fixed file dates cannot tell a release apart.
  await rm(to, { force: true });
  if (!existsSync(model)) return; // reported with the model's other files
  const versionOf = (name) => {
    try { return JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version; } catch { return null; }
  };
  const [nodeVersion, webVersion] = [versionOf('onnxruntime-node'), versionOf('onnxruntime-web')];
  if (!nodeVersion || nodeVersion !== webVersion) {
    log(`WARNING: model/${path.basename(to)} not written (onnxruntime-node ${nodeVersion ?? 'missing'}, onnxruntime-web ${webVersion}): ` +
      'the workers optimise the model at each start');
    return;
  }
  await mkdir(path.dirname(to), { recursive: true });
  const { default: ort } = await import('onnxruntime-node');
  try {
    const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'extended', optimizedModelFilePath: to, executionProviders: ['cpu'] });
    await session.release();
  } catch (error) {
    // A model ORT cannot load (the wrong file, damaged) still ships as it is: the extension then says
    // why it cannot judge ("unavailable (model: …)"), as before, instead of the build failing here.
    await rm(to, { force: true });
    log(`WARNING: model/${path.basename(to)} not written (${path.basename(model)}: ${String(error?.message ?? error).split('\n')[0]}): ` +
      'the extension will report the model it cannot load');
  }
}

/** The shared modules live in web/lib (../lib from web/extension); in the extension they sit in lib/. */
export function rewriteLibImports(source) {
  return source.replace(/(['"])\.\.\/lib\//g, '$1./lib/');
}

const IMPORT_LINE = /^import\s*\{([^}]*)\}\s*from\s*(['"])(\.\/[\w.-]+\.js)\2;?[ \t]*$/gm;
const EXPORT_DECLARATION = /^export\s+(?=(?:const|let|class|function|async\s+function)\s)/gm;

/**
 * Turns an ES module with relative `import { a, b } from './x.js'` lines into one classic script: each
 * imported module (recursively, each once, dependencies first) is pasted with its `export` keywords
 * removed, and the whole is wrapped in one function scope. Deliberately small: any other import or
 * export form is refused, and the result is parsed here so a clash of names fails the build, not the
 * page. Returns the script's text.
 */
export function bundleClassicScript(entryFile) {
  const done = new Set();
  const parts = [];
  function add(file, importedBy) {
    if (done.has(file)) return;
    done.add(file);
    if (!existsSync(file)) throw new Error(`${importedBy}: imports ${file}, which does not exist`);
    let text = readFileSync(file, 'utf8');
    text = text.replace(IMPORT_LINE, (_line, names, _quote, specifier) => {
      if (/\bas\b/.test(names)) throw new Error(`${file}: "import { … as … }" is not supported in a content script module`);
      add(path.resolve(path.dirname(file), specifier), file);
      return `// (${specifier.slice(2)} is inlined above)`;
    });
    text = text.replace(EXPORT_DECLARATION, '');
    const leftover = text.match(/^\s*(import|export)\b.*$/m);
    if (leftover) throw new Error(`${file}: unsupported module syntax for a classic script: ${leftover[0].trim()}`);
    parts.push(`// ---- ${path.basename(file)} ----\n${text.trim()}\n`);
  }
  add(entryFile, 'entry');
  const script = `// Built by tools/build/extension.mjs from web/extension/${path.basename(entryFile)} and its imports; do not edit.\n` +
    `(() => {\n'use strict';\n${parts.join('\n')}})();\n`;
  new vm.Script(script, { filename: path.basename(entryFile) }); // throws on a syntax error or a name clash
  return script;
}

// ---- icons: a tiny PNG encoder and a drawing, so the repository holds no binary art ---------------

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** rgba: Uint8Array of size*size*4 → PNG file bytes. */
export function encodePng(size, rgba) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y += 1) raw.set(rgba.subarray(y * size * 4, (y + 1) * size * 4), y * (size * 4 + 1) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The icon: a blue rounded square with a white brush-tip drop (illustrations stay), 4x4 supersampled. */
export function drawIcon(size) {
  const rgba = new Uint8Array(size * size * 4);
  const inside = (u, v) => { // u, v in [0,1]
    const r = 0.22; // corner radius of the square
    const dx = Math.max(r - u, u - (1 - r), 0);
    const dy = Math.max(r - v, v - (1 - r), 0);
    if (dx * dx + dy * dy > r * r) return 0;
    // a drop: circle at (0.5, 0.6) r 0.2 plus a triangle up to a tip at (0.5, 0.18)
    const cx = u - 0.5;
    const cy = v - 0.6;
    const inDrop = cx * cx + cy * cy <= 0.04 || (v >= 0.18 && v <= 0.6 && Math.abs(cx) <= 0.2 * (v - 0.18) / 0.42);
    return inDrop ? 2 : 1;
  };
  const samples = 4;
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      let bg = 0;
      let fg = 0;
      for (let sy = 0; sy < samples; sy += 1) {
        for (let sx = 0; sx < samples; sx += 1) {
          const hit = inside((x + (sx + 0.5) / samples) / size, (y + (sy + 0.5) / samples) / size);
          if (hit === 1) bg += 1;
          if (hit === 2) fg += 1;
        }
      }
      const n = samples * samples;
      const alpha = (bg + fg) / n;
      const white = fg / Math.max(1, bg + fg);
      const i = (y * size + x) * 4;
      rgba[i] = Math.round(0x1d + (255 - 0x1d) * white);
      rgba[i + 1] = Math.round(0x9b + (255 - 0x9b) * white);
      rgba[i + 2] = Math.round(0xf0 + (255 - 0xf0) * white);
      rgba[i + 3] = Math.round(255 * alpha);
    }
  }
  return encodePng(size, rgba);
}

// ---- the step ---------------------------------------------------------------------------------

/**
 * The Firefox manifest for the same extension (pure, unit-tested): the background script runs as an
 * event page (Firefox MV3 has no service-worker background, and its page can run the classifier
 * itself, so no `offscreen` permission; webRequest to copy the page's thumbnails, see
 * FIREFOX_ONLY_PERMISSIONS), a gecko id and minimum version, no Chromium-only keys
 * (COOP/COEP manifest keys: Firefox has none, so its workers get no threads). The same hosts, CSP
 * and content scripts.
 */
export function firefoxManifest(chromium) {
  const {
    minimum_chrome_version: _minimumChrome, cross_origin_embedder_policy: _coep, cross_origin_opener_policy: _coop,
    background, permissions = [], ...shared
  } = structuredClone(chromium);
  return {
    ...shared,
    permissions: [...permissions.filter((permission) => permission !== 'offscreen'), ...FIREFOX_ONLY_PERMISSIONS],
    background: { scripts: [background.service_worker], type: background.type ?? 'module' },
    browser_specific_settings: {
      gecko: {
        id: FIREFOX_ADDON_ID, strict_min_version: FIREFOX_MIN_VERSION,
        data_collection_permissions: { required: ['none'] }, // nothing leaves the device
      },
    },
  };
}

/** Every file the manifest names, so a renamed file fails the build instead of the browser's load. */
function filesNamedByManifest(manifest) {
  const files = [manifest.background?.service_worker, ...(manifest.background?.scripts ?? []), manifest.action?.default_popup,
    manifest.default_locale && `_locales/${manifest.default_locale}/messages.json`,
    ...Object.values(manifest.icons ?? {}), ...Object.values(manifest.action?.default_icon ?? {})];
  for (const script of manifest.content_scripts ?? []) files.push(...(script.js ?? []), ...(script.css ?? []));
  return files.filter(Boolean);
}

export default async function build({ root, log = console.log }) {
  const src = path.join(root, 'web', 'extension');
  const out = path.join(root, 'build', 'extension');
  // The extension's own files are few: start them clean so a renamed file never lingers. The big
  // copied parts (ort/, model/) are kept and refreshed only when changed.
  await mkdir(out, { recursive: true });
  for (const entry of await readdir(out, { withFileTypes: true })) {
    if (!['ort', 'model'].includes(entry.name)) await rm(path.join(out, entry.name), { recursive: true, force: true });
  }

  for (const entry of await readdir(src, { withFileTypes: true })) {
    if (!entry.isFile() || entry.name.startsWith('.') || NOT_SHIPPED.has(entry.name)) continue;
    const from = path.join(src, entry.name);
    const to = path.join(out, entry.name);
    if (CLASSIC_SCRIPTS.includes(entry.name)) await writeFile(to, bundleClassicScript(from));
    else if (entry.name.endsWith('.js')) await writeFile(to, rewriteLibImports(readFileSync(from, 'utf8')));
    else if (entry.name !== 'manifest.json') await copyFile(from, to);
  }

  // The words of each language (a folder per language: the browser reads _locales/<lang>/messages.json).
  for (const entry of await readdir(path.join(src, '_locales'), { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const lang = entry.name;
    await mkdir(path.join(out, '_locales', lang), { recursive: true });
    await copyFile(path.join(src, '_locales', lang, 'messages.json'), path.join(out, '_locales', lang, 'messages.json'));
  }

  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(path.join(src, 'manifest.json'), 'utf8'));
  manifest.version = version.replace(/[^0-9.].*$/, ''); // Chrome wants 1–4 dot-separated integers
  await writeFile(path.join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  await mkdir(path.join(out, 'icons'), { recursive: true });
  for (const size of ICON_SIZES) await writeFile(path.join(out, 'icons', `icon-${size}.png`), drawIcon(size));

  const libDir = path.join(root, 'web', 'lib');
  for (const name of (await readdir(libDir)).filter((n) => /\.m?js$/.test(n))) {
    await copyIfChanged(path.join(libDir, name), path.join(out, 'lib', name));
  }

  const missing = [];
  const copyPart = async (from, to) => {
    if (existsSync(from)) return copyIfChanged(from, to);
    missing.push(path.relative(root, from));
    // model/ outlives builds: an earlier build's copy would ship (and be packed) in place of the missing part.
    await rm(to, { force: true });
  };
  for (const name of CORE_FILES) await copyPart(path.join(root, 'build', 'wasm', name), path.join(out, 'lib', name));
  for (const name of MODEL_FILES) await copyPart(path.join(root, 'model', name), path.join(out, 'model', name));
  await writeOptimizedModel(root, path.join(root, 'model', 'illust-only.onnx'), path.join(out, 'model', OPTIMIZED_MODEL_FILE), log);
  const ortDist = path.join(root, 'node_modules', 'onnxruntime-web', 'dist');
  await mkdir(path.join(out, 'ort'), { recursive: true });
  for (const name of await readdir(path.join(out, 'ort'))) { // a file dropped from ORT_FILES must not ship
    if (!ORT_FILES.includes(name)) await rm(path.join(out, 'ort', name), { recursive: true, force: true });
  }
  for (const name of ORT_FILES) {
    const from = path.join(ortDist, name);
    if (!existsSync(from)) throw new Error(`${path.relative(root, from)} is missing: run \`bash tools/setup.sh\``);
    await copyIfChanged(from, path.join(out, 'ort', name));
  }

  for (const file of filesNamedByManifest(manifest)) {
    if (!existsSync(path.join(out, file))) throw new Error(`manifest.json names ${file}, which the build did not produce`);
  }
  if (missing.length) log(`WARNING: not built yet, the extension will fail open and say so: ${missing.join(', ')}`);
  log(`unpacked extension in ${path.relative(root, out)}/ (chrome://extensions → Developer mode → Load unpacked)`);

  const firefoxOut = path.join(root, 'build', 'extension-firefox');
  await mirrorForFirefox(out, firefoxOut, firefoxManifest(manifest));
  log(`Firefox build in ${path.relative(root, firefoxOut)}/ (about:debugging → This Firefox → Load Temporary Add-on → its manifest.json)`);
}

/** build/extension-firefox/: the Chromium build's files but the Chromium-only ones, and its own manifest. */
async function mirrorForFirefox(from, to, manifest) {
  const wanted = new Set(listFilesUnder(from).filter((rel) => !CHROMIUM_ONLY.has(rel) && rel !== 'manifest.json'));
  await mkdir(to, { recursive: true });
  for (const rel of listFilesUnder(to)) if (!wanted.has(rel) && rel !== 'manifest.json') await rm(path.join(to, rel), { force: true });
  for (const rel of wanted) await copyIfChanged(path.join(from, rel), path.join(to, rel));
  await writeFile(path.join(to, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const file of filesNamedByManifest(manifest)) {
    if (!existsSync(path.join(to, file))) throw new Error(`the Firefox manifest names ${file}, which the build did not produce`);
  }
}

/** Every file under dir, as forward-slash paths relative to it. */
function listFilesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath ?? entry.path, entry.name)).split(path.sep).join('/'));
}
