"""The extension on a GPU: loads the built extension (build/extension) into headless Chromium, opens an X
media tab (the e2e fixture, tests/e2e/fixtures/x-media-tab.html) whose cells show IMAGES, and reports
which provider the offscreen document started (from Chromium's log), how long after navigation the first
and the last cell got a verdict, and the verdicts. Python only, like run.sh, for the lent GPU machines.
x.com and pbs.twimg.com are one local HTTPS server (a throwaway openssl certificate; Chromium maps both
hosts to it and ignores certificate errors). The media tab is the first X page opened: a cold start.

Usage: python3 extension-check.py IMAGES_DIR OUT_DIR [--flags gpu|vulkan|swiftshader|default]
env: CHROMIUM (default /usr/bin/chromium), EXTENSION (default build/extension), TIMEOUT (s, default 120).
Exit 0 when every cell got a verdict (not an error) and the provider was logged, 1 otherwise, 2 for
usage errors."""
import http.server
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# Beside flag-sets.txt's common flags: the local HTTPS server's throwaway certificate, and TCP only.
HTTPS_FLAGS = ['--ignore-certificate-errors', '--disable-quic']
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.gif', '.bmp', '.webp')

# Each cell's first verdict, timed from navigation; posted once every cell has one.
REPORTER = """<script>
(() => {
  const times = {};
  const final = new Set(['visible', 'hidden', 'revealed', 'error']);
  const total = CELL_BATCHES[0].length;
  const observer = new MutationObserver(() => {
    for (const cell of document.querySelectorAll('a[data-illust-only-state]')) {
      const id = cell.closest('li')?.dataset.testMedia;
      if (id && !(id in times) && final.has(cell.dataset.illustOnlyState)) times[id] = { ms: performance.now(), state: cell.dataset.illustOnlyState };
    }
    if (Object.keys(times).length === total) {
      observer.disconnect();
      fetch('/result', { method: 'POST', body: JSON.stringify({ times }) });
    }
  });
  observer.observe(document, { subtree: true, attributes: true, attributeFilter: ['data-illust-only-state'] });
})();
</script>"""


def flag_sets():
    """flag-sets.txt as {name: flags}, its 'common' flags put before each set's."""
    sets = {}
    with open(os.path.join(HERE, 'flag-sets.txt')) as f:
        for line in f:
            if line.strip() and not line.startswith('#') and ':' in line:
                name, _, flags = line.partition(':')
                sets[name.strip()] = flags.split()
    common = sets.pop('common', [])
    return {name: common + flags for name, flags in sets.items()}


def main(argv):
    args = list(argv)
    flags_name = 'gpu'
    if '--flags' in args:
        at = args.index('--flags')
        flags_name = args[at + 1] if at + 1 < len(args) else ''
        del args[at:at + 2]
    if len(args) != 2 or any(a.startswith('--') for a in args):
        print(__doc__, file=sys.stderr)
        return 2
    images_dir, out = args
    if not os.path.isdir(images_dir):
        print(f'extension-check: {images_dir} is not a folder', file=sys.stderr)
        return 2
    sets = flag_sets()
    if flags_name not in sets:
        print(f"extension-check: unknown flag set '{flags_name}' ({' '.join(sets)})", file=sys.stderr)
        return 2
    chromium = os.environ.get('CHROMIUM', '/usr/bin/chromium')
    extension = os.path.abspath(os.environ.get('EXTENSION', os.path.join(REPO, 'build', 'extension')))
    timeout = float(os.environ.get('TIMEOUT', '120'))
    if not os.path.isfile(os.path.join(extension, 'manifest.json')):
        print(f'extension-check: no extension at {extension} (run `npm run build`, or set EXTENSION)', file=sys.stderr)
        return 2
    names = sorted(n for n in os.listdir(images_dir) if n.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        print(f'extension-check: no images in {images_dir}', file=sys.stderr)
        return 2
    if not shutil.which('openssl'):
        print('extension-check: openssl is needed for the local HTTPS server', file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)

    variants = ['both', 'img', 'background']
    cells, media = [], {}
    for i, name in enumerate(names):
        media_id = f'G{i:03d}xGpuCheckAbCdEf'[:15]
        with open(os.path.join(images_dir, name), 'rb') as f:
            media[media_id] = f.read()
        cells.append({'statusId': str(1950000000000000000 + i), 'mediaId': media_id, 'variant': variants[i % 3]})
    with open(os.path.join(REPO, 'tests', 'e2e', 'fixtures', 'x-media-tab.html')) as f:
        fixture = f.read().replace('/*CELL_BATCHES*/[]', json.dumps([cells]))
    fixture = fixture.replace('</body>', REPORTER + '</body>') if '</body>' in fixture else fixture + REPORTER
    names_by_id = {c['mediaId']: n for c, n in zip(cells, names)}

    work = tempfile.mkdtemp(prefix='illust-extension-check-')
    done = threading.Event()
    result = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            host = (self.headers.get('Host') or '').split(':')[0]
            match = re.match(r'^/media/([\w-]+)', self.path)
            if host == 'pbs.twimg.com' and match and match.group(1) in media:
                body, kind = media[match.group(1)], 'image/jpeg'
            elif host == 'x.com' and re.match(r'^/[\w]+/media$', self.path):
                body, kind = fixture.encode(), 'text/html; charset=utf-8'
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header('Content-Type', kind)
            self.send_header('Content-Length', str(len(body)))
            self.send_header('Access-Control-Allow-Origin', '*')
            self.send_header('Cross-Origin-Resource-Policy', 'cross-origin')
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
            self.send_response(204)
            self.end_headers()
            if self.path == '/result':
                result.update(json.loads(body))
                done.set()

    browser = None
    log_path = os.path.join(out, f'chromium-extension-{flags_name}.txt')
    finished = False
    try:
        key, cert = os.path.join(work, 'key.pem'), os.path.join(work, 'cert.pem')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
                        '-subj', '/CN=x.com', '-addext', 'subjectAltName=DNS:x.com,DNS:pbs.twimg.com'],
                       check=True, capture_output=True)
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        with open(log_path, 'w') as log:
            browser = subprocess.Popen(
                [chromium, *sets[flags_name], *HTTPS_FLAGS, f'--user-data-dir={work}/profile',
                 f'--host-resolver-rules=MAP x.com:443 127.0.0.1:{port}, MAP pbs.twimg.com:443 127.0.0.1:{port}',
                 f'--disable-extensions-except={extension}', f'--load-extension={extension}', 'https://x.com/gpuartist/media'],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, 'TMPDIR': work})
            # Wait for the page's result; a Chromium that ended first failed (it cannot post any more).
            waited = 0.0
            while not (finished := done.wait(0.5)) and waited < timeout and browser.poll() is None:
                waited += 0.5
            if not finished and browser.poll() is not None:
                print(f'extension-check: Chromium exited (status {browser.returncode}) before every cell had a verdict; see {log_path}', file=sys.stderr)
        server.shutdown()
    except (OSError, subprocess.CalledProcessError, ssl.SSLError) as error:
        print(f'extension-check: cannot run the check: {error}', file=sys.stderr)
        return 1
    finally:
        if browser:
            browser.terminate()
            try:
                browser.wait(10)
            except subprocess.TimeoutExpired:
                browser.kill()
        shutil.rmtree(work, ignore_errors=True)

    with open(log_path, errors='replace') as f:
        lines = [line.strip() for line in f if 'Illust Only' in line]
    if not finished and any('FATAL' in line for line in open(log_path, errors='replace')):
        print(f'extension-check: Chromium failed, see {log_path}', file=sys.stderr)
    # The last classifier started is the one in use (a lost GPU starts a WASM one after the WebGPU one).
    ready = [line for line in lines if 'classifier ready on' in line]
    provider = re.search(r'classifier ready on (\w+)', ready[-1]).group(1) if ready else None
    times = result.get('times', {})
    report = {
        'flags': flags_name, 'cells': len(cells), 'judged': len(times), 'provider': provider,
        'firstVerdictMs': min((t['ms'] for t in times.values()), default=None),
        'lastVerdictMs': max((t['ms'] for t in times.values()), default=None),
        'states': {names_by_id[i]: t['state'] for i, t in sorted(times.items())},
        'extensionLog': lines[:20],
    }
    with open(os.path.join(out, f'result-extension-{flags_name}.json'), 'w') as f:
        json.dump(report, f, indent=1)
    summary = {k: report[k] for k in ('flags', 'provider', 'cells', 'judged', 'firstVerdictMs', 'lastVerdictMs')}
    print(f'extension check: {json.dumps(summary)}')
    for line in lines[:8]:
        print(f'  {line[:300]}')
    if not finished:
        print(f'extension-check: {len(times)} of {len(cells)} cells got a verdict within {timeout:.0f} s', file=sys.stderr)
        return 1
    failed = sorted(name for name, state in report['states'].items() if state == 'error')
    if failed:
        print(f'extension-check: {len(failed)} cells could not be judged (state "error"): {", ".join(failed[:5])}', file=sys.stderr)
        return 1
    if provider is None:
        print('extension-check: the offscreen document never logged "classifier ready on …"', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    # Killed (a test's timeout, Ctrl+C): exit through main's finally, which stops Chromium and cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main(sys.argv[1:]))
