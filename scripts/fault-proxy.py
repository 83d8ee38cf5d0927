#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the tests: sits in front of a real InfluxDB-compatible server on loopback.

    fault-proxy.py --listen PORT --upstream http://127.0.0.1:8086

Every request is passed through unless a fault is queued. Faults apply to successive POSTs to a write endpoint
(/write, /api/v2/write), in the order queued with `POST /__faults` (a JSON list of strings):

    "500"          answer 500, pass nothing on
    "401"          answer 401, pass nothing on
    "429:S"        answer 429 with Retry-After: S, pass nothing on (also "503:S")
    "413"          answer 413, pass nothing on (only to a body of 2 lines or more; else the fault waits)
    "partial:K"    pass all but the first K lines on; answer 400 as InfluxDB 1.x does for a partial write, naming
                   the K lines (`unable to parse '<line>': injected`)
    "hang:S"       wait S seconds, then pass the request on and answer (the client has usually given up)
    "reset"        pass the request on, then close the connection without an answer

`GET /__log` returns what happened: {"faults": [...], "refused": [<lines>], "pending": N, "writes": N,
"write_connections": N (TCP connections that carried writes)}.
"""
import argparse
import gzip
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
faults = []
log = {"faults": [], "refused": [], "writes": 0, "write_connections": 0}


def split_lines(body):
    """Lines as InfluxDB splits them: a newline inside a quoted string field value does not end a line."""
    lines, start, i, in_fields, quoted, equals, commas = [], 0, 0, False, False, 0, 0
    while i < len(body):
        c = body[i:i + 1]
        if c == b"\\" and i + 2 < len(body):
            i += 2
            continue
        if c == b" ":
            in_fields = True
        if in_fields:
            if not quoted and c == b"=":
                equals += 1
            elif not quoted and c == b",":
                commas += 1
            elif c == b'"' and equals > commas:
                quoted = not quoted
        if c == b"\n" and not quoted:
            lines.append(body[start:i])
            start, in_fields, equals, commas = i + 1, False, 0, 0
        i += 1
    if start < len(body):
        lines.append(body[start:])
    return [line for line in lines if line]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ""

    def log_message(self, *args):
        pass


    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, body, raw=None):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        if raw is not None:
            headers.pop("Content-Encoding", None)
            body = raw
        request = urllib.request.Request(self.upstream + self.path, data=body, headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def do_GET(self):
        if self.path == "/__log":
            with lock:
                body = json.dumps(dict(log, pending=len(faults))).encode()
            return self.reply(200, body, {"Content-Type": "application/json"})
        status, body, headers = self.forward(None)
        self.reply(status, body, {"Content-Type": headers.get("Content-Type", "text/plain")})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        if self.path == "/__faults":
            with lock:
                faults.extend(json.loads(body))
            return self.reply(204)
        if not (self.path.startswith("/write") or self.path.startswith("/api/v2/write")):
            status, answer, headers = self.forward(body)
            return self.reply(status, answer, {"Content-Type": headers.get("Content-Type", "text/plain")})
        raw = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
        lines = split_lines(raw)
        with lock:
            log["writes"] += 1
            if not getattr(self, "counted", False):
                log["write_connections"] += 1
                self.counted = True
            fault = None
            if faults and not (faults[0] == "413" and len(lines) < 2):
                fault = faults.pop(0)
                log["faults"].append(fault)
        if fault is None:
            status, answer, headers = self.forward(body)
            return self.reply(status, answer, {"Content-Type": headers.get("Content-Type", "text/plain")})
        kind, _, arg = fault.partition(":")
        if kind in ("500", "401", "413"):
            return self.reply(int(kind), json.dumps({"error": f"injected {kind}"}).encode(),
                              {"Content-Type": "application/json"})
        if kind in ("429", "503"):
            return self.reply(int(kind), json.dumps({"error": "injected throttling"}).encode(),
                              {"Content-Type": "application/json", "Retry-After": arg or "1"})
        if kind == "partial":
            k = min(int(arg or "1"), len(lines))
            refused, kept = lines[:k], lines[k:]
            if kept:
                status, answer, _ = self.forward(None, raw=b"\n".join(kept) + b"\n")
                if status // 100 != 2:
                    return self.reply(status, answer, {"Content-Type": "application/json"})
            with lock:
                log["refused"].extend(line.decode() for line in refused)
            message = "partial write: " + "\n".join(
                f"unable to parse '{line.decode()}': injected" for line in refused) + f" dropped={k}"
            return self.reply(400, json.dumps({"error": message}).encode(), {"Content-Type": "application/json"})
        if kind == "hang":
            time.sleep(float(arg or "5"))
            status, answer, headers = self.forward(body)
            try:
                self.reply(status, answer, {"Content-Type": headers.get("Content-Type", "text/plain")})
            except OSError:
                pass
            return
        if kind == "reset":
            self.forward(body)
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.close()
            except OSError:
                pass
            return
        self.reply(500, f"unknown fault {fault}".encode())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    Handler.upstream = args.upstream.rstrip("/")
    server = ThreadingHTTPServer(("127.0.0.1", args.listen), Handler)
    server.daemon_threads = True
    print(f"fault proxy on 127.0.0.1:{args.listen} -> {args.upstream}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
