"""The WebGPU check's server: Python, because the GPU machines it is meant for have no Node.
Serves SITE with COOP/COEP (cross-origin isolation, for ORT's wasm threads), takes the page's POST /log
lines (printed and appended to OUT/log-TAG.txt) and its POST /result (OUT/result-TAG.json), then exits:
0 once the result came, 3 when TIMEOUT seconds passed without it.
Usage: python3 serve.py SITE OUT TAG PORT TIMEOUT"""
import http.server
import os
import sys
import threading

site, out, tag, port, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
done = threading.Event()


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
                      '.json': 'application/json'}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=site, **kwargs)

    def end_headers(self):
        self.send_header('Cross-Origin-Opener-Policy', 'same-origin')
        self.send_header('Cross-Origin-Embedder-Policy', 'require-corp')
        self.send_header('Cache-Control', 'no-store')
        super().end_headers()

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0))).decode('utf-8', 'replace')
        self.send_response(204)
        self.end_headers()
        if self.path == '/log':
            line = f'[{tag}] {body.strip()}'
            print(line, flush=True)
            with open(os.path.join(out, f'log-{tag}.txt'), 'a') as f:
                f.write(line + '\n')
        elif self.path == '/result':
            with open(os.path.join(out, f'result-{tag}.json'), 'w') as f:
                f.write(body)
            done.set()


server = http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
done.wait(timeout)
server.shutdown()
sys.exit(0 if done.is_set() else 3)
