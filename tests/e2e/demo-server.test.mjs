// Tests of tools/serve.mjs, the demo's static server: the headers the page depends on (COOP/COEP for
// ORT threads, exact MIME types for module scripts and streaming wasm), the --no-isolation switch, and
// that no request can read a file outside the served folder. No browser needed; runs on a temp folder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../tools/serve.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir;
let site;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'illust-serve-'));
  site = path.join(dir, 'site');
  await mkdir(path.join(site, 'ort'), { recursive: true });
  await writeFile(path.join(site, 'index.html'), '<!doctype html><title>t</title>');
  await writeFile(path.join(site, 'ort', 'x.mjs'), 'export default 1;');
  await writeFile(path.join(site, 'ort', 'x.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  await writeFile(path.join(site, 'ort', 'index.html'), 'inner');
  await writeFile(path.join(dir, 'secret.txt'), 'outside the site');
});
after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

/** A raw GET (fetch would normalise "..", which is exactly what must be tested). */
function rawGet(url, rawPath, method = 'GET') {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path: rawPath, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('serves the site cross-origin isolated with exact MIME types', async () => {
  const server = await startServer({ siteDir: site, port: 0 });
  try {
    const index = await fetch(server.url);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(index.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.match(index.headers.get('content-type'), /^text\/html/);
    const mjs = await fetch(new URL('ort/x.mjs', server.url));
    assert.match(mjs.headers.get('content-type'), /^text\/javascript/);
    assert.equal(await mjs.text(), 'export default 1;');
    const wasm = await fetch(new URL('ort/x.wasm', server.url));
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal((await wasm.arrayBuffer()).byteLength, 8);

    const folder = await rawGet(server.url, '/ort');
    assert.equal(folder.status, 301);
    assert.equal(folder.headers.location, '/ort/');
    assert.equal((await rawGet(server.url, '/ort/')).body, 'inner');
    assert.equal((await rawGet(server.url, '/missing.js')).status, 404);
    assert.equal((await rawGet(server.url, '/', 'POST')).status, 405);
    const head = await rawGet(server.url, '/ort/x.mjs', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '17');
    assert.equal(head.body, '');
  } finally {
    await server.close();
  }
});

test('never serves a file outside the site folder', async () => {
  const server = await startServer({ siteDir: site, port: 0 });
  try {
    for (const attempt of ['/../secret.txt', '/%2e%2e/secret.txt', '/ort/..%2f..%2fsecret.txt', '/%2e%2e%5csecret.txt',
      '/..%00/secret.txt', '/%E0%A4%A']) {
      const response = await rawGet(server.url, attempt);
      assert.ok([400, 404].includes(response.status), `${attempt} answered ${response.status}`);
      assert.doesNotMatch(response.body, /outside the site/, attempt);
    }
  } finally {
    await server.close();
  }
});

test('--no-isolation omits COOP/COEP', async () => {
  const server = await startServer({ siteDir: site, port: 0, isolation: false });
  try {
    const index = await fetch(server.url);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cross-origin-opener-policy'), null);
    assert.equal(index.headers.get('cross-origin-embedder-policy'), null);
  } finally {
    await server.close();
  }
});

test('the CLI prints its URL and rejects bad arguments', async () => {
  const run = (args) => spawn(process.execPath, [path.join(root, 'tools', 'serve.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const child = run(['--port', '0', '--dir', site, '--no-isolation']);
  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk) => { out += chunk; if (out.includes('\n')) resolve(out); });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const url = line.match(/http:\/\/127\.0\.0\.1:\d+\//)?.[0];
    assert.ok(url, line);
    assert.match(line, /no COOP\/COEP/);
    assert.equal((await fetch(url)).status, 200);
  } finally {
    child.kill();
  }
  const bad = run(['--port', 'eighty']);
  const [code, stderr] = await new Promise((resolve) => {
    let err = '';
    bad.stderr.on('data', (chunk) => { err += chunk; });
    bad.on('exit', (c) => resolve([c, err]));
  });
  assert.equal(code, 2);
  assert.match(stderr, /bad --port/);
});
