// Build step `demo`: assembles the static demo site in build/demo from its parts, so that any static
// host (or tools/serve.mjs) can serve it with no CDN:
//   build/demo/            web/demo/* (page, styles, app, worker)
//   build/demo/lib/        web/lib/*.js + the wasm core glue and binary from build/wasm (next to core.js)
//   build/demo/model/      model/illust-only.onnx + model/contract.json
//   build/demo/ort/        ONNX Runtime Web: the wasm bundle, and the WebGPU bundle with the one wasm
//                          flavour it fetches (asyncify), loaded only when the browser has a GPU adapter
// Missing parts built by other steps (wasm core, model) are reported, not fatal: the page then shows
// a clear error instead of classifying.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

// Which ORT files each bundle imports at run time was checked by grepping the bundles (1.30.0):
// ort.wasm.min.mjs → ort-wasm-simd-threaded.mjs; ort.webgpu.min.mjs → ort-wasm-simd-threaded.asyncify.mjs.
export const ORT_FILES = [
  'ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm',
  'ort.webgpu.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm',
];
export const CORE_FILES = ['illust_core.mjs', 'illust_core.wasm'];

/** Copies src to dst unless dst already has the same size and is not older (ORT's wasm is 27 MB). */
async function copyIfChanged(src, dst) {
  const [s, d] = await Promise.all([stat(src), stat(dst).catch(() => null)]);
  if (d && d.size === s.size && d.mtimeMs >= s.mtimeMs) return false;
  await mkdir(path.dirname(dst), { recursive: true });
  await copyFile(src, dst);
  return true;
}

async function copyDirFiles(srcDir, dstDir, filter = () => true) {
  const copied = [];
  for (const entry of await readdir(srcDir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      copied.push(...await copyDirFiles(path.join(srcDir, entry.name), path.join(dstDir, entry.name), filter));
    } else if (entry.isFile() && filter(entry.name)) {
      await copyIfChanged(path.join(srcDir, entry.name), path.join(dstDir, entry.name));
      copied.push(path.join(dstDir, entry.name));
    }
  }
  return copied;
}

export default async function build({ root, log = console.log }) {
  const out = path.join(root, 'build', 'demo');
  // The page's own files are few: start them clean so a renamed file never lingers. The big copied
  // parts (ort/, model/) are kept and refreshed only when changed.
  await mkdir(out, { recursive: true });
  for (const entry of await readdir(out, { withFileTypes: true })) {
    if (!['ort', 'model', 'lib'].includes(entry.name)) await rm(path.join(out, entry.name), { recursive: true, force: true });
  }
  await rm(path.join(out, 'lib'), { recursive: true, force: true });

  await copyDirFiles(path.join(root, 'web', 'demo'), out, (name) => !name.startsWith('.'));
  await copyDirFiles(path.join(root, 'web', 'lib'), path.join(out, 'lib'), (name) => /\.m?js$/.test(name));

  const missing = [];
  const parts = [
    ...CORE_FILES.map((name) => [path.join(root, 'build', 'wasm', name), path.join(out, 'lib', name)]),
    ...['contract.json', 'illust-only.onnx'].map((name) => [path.join(root, 'model', name), path.join(out, 'model', name)]),
  ];
  for (const [src, dst] of parts) {
    if (existsSync(src)) { await copyIfChanged(src, dst); continue; }
    // A copy left from an earlier build would hide that the source is gone.
    await rm(dst, { force: true });
    missing.push(path.relative(root, src));
  }
  const ortDist = path.join(root, 'node_modules', 'onnxruntime-web', 'dist');
  for (const name of ORT_FILES) {
    const src = path.join(ortDist, name);
    if (!existsSync(src)) throw new Error(`${path.relative(root, src)} is missing: run \`bash tools/setup.sh\``);
    await copyIfChanged(src, path.join(out, 'ort', name));
  }
  if (missing.length) log(`WARNING: not built yet, the page will report it: ${missing.join(', ')}`);
  log(`site in ${path.relative(root, out)}/ (serve it with \`npm start\`)`);
}
