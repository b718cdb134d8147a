// The benchmark's own local web server. The harness page needs three things no static host gives at
// once: cross-origin isolation (COOP/COEP, so ONNX Runtime and tfjs may use wasm threads), the repo's
// node_modules and build/ files (ORT, tfjs, nsfwjs, the wasm core, the model), and the selected
// benchmark images served from ILLUST_ONLY_DATA by index (they must never be copied into the repo).
// It also serves one tiny ES module that stands in for a bundler so nsfwjs's own ESM code runs
// unchanged in the page (see SHIM_MODULES). Node standard library only.
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';

const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
};

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function resolveInside(root, urlPath) {
  let decoded;
  try { decoded = decodeURIComponent(urlPath); } catch { return null; }
  if (decoded.includes('\0')) return null;
  const file = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  return file.startsWith(root + path.sep) ? file : null;
}

/**
 * nsfwjs's ESM build imports the bare name "buffer", which a bundler would resolve (the page's import
 * map sends "@tensorflow/tfjs" to tfjs's own ES module build). nsfwjs uses Buffer only as
 * `Buffer.from(base64, 'base64').toString('binary')`, which is exactly what the browser's atob does.
 */
const SHIM_MODULES = {
  '/bench-shim/buffer.mjs': `export const Buffer = { from(text, encoding) {\n` +
    `  if (encoding !== 'base64') throw new Error('bench buffer shim: nsfwjs only decodes base64');\n` +
    `  return { toString: () => atob(text) };\n} };\n`,
};

/**
 * Starts the server on 127.0.0.1 (any free port). images: array of absolute file paths, served as
 * /bench-images/<index>; files: {urlPath: absolute file} served as given (e.g. a --model outside the
 * repo). Resolves to {url, close()}.
 */
export async function startBenchServer({ root, images = [], files = {} }) {
  const server = createServer(async (req, res) => {
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...ISOLATION_HEADERS });
      res.end(body);
    };
    const urlPath = new URL(req.url, 'http://localhost').pathname;
    if (SHIM_MODULES[urlPath]) return send(200, SHIM_MODULES[urlPath], MIME_TYPES['.mjs']);
    let file;
    const imageMatch = /^\/bench-images\/(\d+)$/.exec(urlPath);
    if (imageMatch) file = images[Number(imageMatch[1])];
    else if (Object.hasOwn(files, urlPath)) file = files[urlPath];
    else file = resolveInside(root, urlPath);
    if (!file) return send(404, `not found: ${urlPath}\n`);
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) return send(404, `not found: ${urlPath}\n`);
    res.writeHead(200, {
      'Content-Type': MIME_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': info.size,
      'Cache-Control': 'no-store',
      ...ISOLATION_HEADERS,
    });
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const url = `http://127.0.0.1:${server.address().port}/`;
  return { url, close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }) };
}
