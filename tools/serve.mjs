// `npm start`: serves the assembled demo site (build/demo) on localhost with the two headers that make
// the page cross-origin isolated (COOP/COEP), because only then may ONNX Runtime's wasm use threads.
// `--no-isolation` leaves them out, to see the single-threaded path a plain static host gives.
// Node standard library only; also imported by the e2e tests (startServer) so they serve the same way,
// and exports its MIME table, isolation headers and path check for other local servers (benchmarks).
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_SITE_DIR = path.join(repoRoot, 'build', 'demo');
export const DEFAULT_PORT = 8080;

// Browsers refuse module scripts and streaming wasm compilation without exactly these types.
export const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

// Cross-origin isolation: COOP keeps other origins out of our browsing context group, COEP makes every
// subresource opt in. Together they unlock SharedArrayBuffer, which ORT's threaded wasm needs.
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Maps a URL path to a file inside siteDir, or null when it would escape it. */
export function resolveInside(siteDir, urlPath) {
  let decoded;
  try { decoded = decodeURIComponent(urlPath); } catch { return null; }
  if (decoded.includes('\0')) return null;
  const file = path.resolve(siteDir, '.' + path.posix.normalize('/' + decoded));
  return file === siteDir || file.startsWith(siteDir + path.sep) ? file : null;
}

/**
 * Starts the static server. Resolves to {server, url, close()} once it listens.
 * port 0 picks a free port (tests). isolation=false omits COOP/COEP.
 */
export async function startServer({ siteDir = DEFAULT_SITE_DIR, port = DEFAULT_PORT, host = '127.0.0.1',
  isolation = true } = {}) {
  const root = path.resolve(siteDir);
  const server = createServer(async (req, res) => {
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n', { Allow: 'GET, HEAD' });
    const urlPath = new URL(req.url, 'http://localhost').pathname;
    let file = resolveInside(root, urlPath);
    if (!file) return send(400, 'bad path\n');
    let info = await stat(file).catch(() => null);
    if (info?.isDirectory()) {
      // A directory without the trailing slash would break the page's relative URLs: redirect first.
      if (!urlPath.endsWith('/')) return send(301, 'moved\n', { Location: urlPath + '/' });
      file = path.join(file, 'index.html');
      info = await stat(file).catch(() => null);
    }
    if (!info?.isFile()) return send(404, `not found: ${urlPath}\n`);
    res.writeHead(200, {
      'Content-Type': MIME_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': info.size,
      // The site changes on every build; revalidating costs little on localhost and avoids stale wasm.
      'Cache-Control': 'no-cache',
      ...(isolation ? ISOLATION_HEADERS : {}),
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const { port: actualPort } = server.address();
  const url = `http://${host === '0.0.0.0' ? 'localhost' : host}:${actualPort}/`;
  return { server, url, close: () => new Promise((resolve) => server.close(resolve)) };
}

function parseArgs(argv) {
  const options = { port: DEFAULT_PORT, isolation: true, siteDir: DEFAULT_SITE_DIR, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const name = arg.split('=')[0];
    if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg === '--no-isolation') options.isolation = false;
    else if (name === '--port') {
      const text = value();
      options.port = /^\d+$/.test(text) ? Number(text) : NaN;
      if (!(options.port <= 65535)) throw new Error(`bad --port: ${text}`);
    } else if (name === '--host') options.host = value();
    else if (name === '--dir') options.siteDir = path.resolve(value());
    else throw new Error(`unknown argument: ${arg}`);
  }
  return options;
}

const USAGE = `usage: npm start -- [--port ${DEFAULT_PORT}] [--host 127.0.0.1] [--no-isolation] [--dir build/demo]
Serves the demo site built by \`npm run build\`.
  --port N         port to listen on (default ${DEFAULT_PORT}; 0 = any free port)
  --host H         address to bind (default 127.0.0.1; 0.0.0.0 to reach it from a phone)
  --no-isolation   omit COOP/COEP headers: the page then runs ONNX Runtime on 1 thread
  --dir D          directory to serve (default build/demo)`;

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let options;
  try { options = parseArgs(process.argv.slice(2)); } catch (err) {
    console.error(`serve: ${err.message}\n${USAGE}`); process.exit(2);
  }
  if (options.help) { console.log(USAGE); process.exit(0); }
  const index = await stat(path.join(options.siteDir, 'index.html')).catch(() => null);
  if (!index) console.warn(`serve: ${path.relative(process.cwd(), options.siteDir) || '.'}/index.html is missing: run \`npm run build\` first`);
  try {
    const { url } = await startServer(options);
    console.log(`serve: ${url} (${options.isolation ? 'cross-origin isolated: ORT may use threads' : 'no COOP/COEP: ORT runs 1 thread'})`);
  } catch (err) {
    const hint = err.code === 'EADDRINUSE' ? ' (another server has that port: choose one with --port N)' : '';
    console.error(`serve: cannot listen on ${options.host}:${options.port}: ${err.code ?? err.message}${hint}`); process.exit(1);
  }
}
