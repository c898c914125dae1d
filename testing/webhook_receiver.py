#!/usr/bin/env python3
"""Minimal Alertmanager webhook receiver for live tests (stdlib only).

    python3 testing/webhook_receiver.py --port-file F --out FILE [--host 127.0.0.1]

Listens on HOST:0 (an ephemeral port), writes the chosen port to F once it is
listening (written to F.tmp then renamed, so a reader never sees a partial
file), and appends every POSTed body to FILE as ONE line of compact JSON
(an Alertmanager webhook payload), flushed and fsynced before answering 200.
Bodies that are not JSON are stored as {"_invalid_json": "<text>"} and
answered 400. Any GET answers 200 "ok" (handy as a readiness probe).
Exits 0 on SIGTERM or SIGINT.
"""

import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    server_version = "pob-webhook-receiver/1"

    def log_message(self, fmt, *args):  # keep stderr quiet unless asked
        if self.server.verbose:
            sys.stderr.write("webhook_receiver: " + (fmt % args) + "\n")

    def _reply(self, code, body=b"ok\n"):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._reply(200)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        code = 200
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            doc = {"_invalid_json": raw.decode("utf-8", "replace")}
            code = 400
        line = json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n"
        with self.server.lock:
            with open(self.server.out, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        self._reply(code)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-file", required=True, help="write the listening port here")
    ap.add_argument("--out", required=True, help="append one JSON line per POST here")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args()

    srv = ThreadingHTTPServer((args.host, 0), Handler)
    srv.daemon_threads = True
    srv.out = args.out
    srv.lock = threading.Lock()
    srv.verbose = args.verbose
    # Create the output file up front so readers can tail it immediately.
    open(args.out, "a", encoding="utf-8").close()

    def stop(_signum, _frame):
        # shutdown() blocks until serve_forever returns: call it off-thread.
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    port = srv.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{port}\n")
    os.replace(tmp, args.port_file)

    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
