#!/usr/bin/env python3
"""Local servers for tests/test_http.cpp and bench/http, none of them written on our stack:
Python's http.server (ThreadingHTTPServer, HTTP/1.1 keep-alive), optionally behind TLS with a
self-signed certificate made here with the `openssl` CLI, or a raw socket server that accepts
and never answers.

    server.py [--tls] [--silent]

Binds 127.0.0.1 on an ephemeral port and prints one line: "<port> [<ca-file>]". Stops on SIGTERM.

Routes (plain and TLS):
  /users/<name>        GitHub-shaped user JSON
  /json                {"hello": "world"}            application/json
  /json-empty          empty body                    application/json
  /html                a small page                  text/html
  /status/<n>          status n
  /bytes/<n>           n bytes, written in 64 KiB blocks (Content-Length set)
  /chunked/<n>         n bytes, chunked transfer encoding (no Content-Length)
  /form                a multipart body parsed: [[name, filename, file content type, value], ...]
  /lines/<n>           n lines "line <i>\n", then "tail"; chunked, 7 bytes per chunk
  /stall               headers and 5 bytes of a 100-byte body, then nothing
  /redirect/<n>        302 → /redirect/<n-1>, /redirect/0 → /json
  /echo                JSON of method, path, query, target (the request line's), headers, body
                       (also as a proxy would be asked: "GET http://any.host/echo HTTP/1.1")
  /stats               {"open", "max_open", "total"}: connections now, at most, ever
  /reset-stats         max_open = total = open (returns the stats)
"""
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

lock = threading.Lock()
stats = {"open": 0, "max_open": 0, "total": 0}
BLOCK = b"x" * 65536


class CountingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def process_request(self, request, client_address):
        with lock:
            stats["open"] += 1
            stats["total"] += 1
            stats["max_open"] = max(stats["max_open"], stats["open"])
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # clients that hang up (cancelled requests) are part of the tests

    def shutdown_request(self, request):
        with lock:
            stats["open"] -= 1
        super().shutdown_request(request)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", ctype="text/plain", extra=()):
        self.send_response(status)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # a streamed upload
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                piece = self.rfile.read(size)
                self.rfile.readline()  # the CRLF after the piece
                if size == 0:
                    break
                body += piece
        if parts[0] == "users" and len(parts) == 2:
            name = parts[1]
            doc = {"login": name, "id": sum(map(ord, name)), "type": "Organization",
                   "html_url": f"https://github.com/{name}", "public_repos": len(name) * 7}
            return self.send(200, json.dumps(doc).encode(), "application/json; charset=utf-8")
        if parts[0] == "json":
            return self.send(200, b'{"hello": "world"}', "application/json")
        if parts[0] == "json-empty":
            return self.send(200, b"", "application/json")
        if parts[0] == "html":
            return self.send(200, b"<html><body>hi</body></html>", "text/html; charset=utf-8")
        if parts[0] == "status":
            return self.send(int(parts[1]), f"status {parts[1]}".encode())
        if parts[0] == "bytes":
            n = int(parts[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            while n > 0:
                k = min(n, len(BLOCK))
                self.wfile.write(BLOCK[:k])
                n -= k
            return
        if parts[0] == "chunked":
            n = int(parts[1])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while n > 0:
                k = min(n, 4096)
                self.wfile.write(b"%x\r\n" % k + BLOCK[:k] + b"\r\n")
                n -= k
            self.wfile.write(b"0\r\n\r\n")
            return
        if parts[0] == "form":  # a multipart body, parsed by Python's email package
            from email.parser import BytesParser
            from email.policy import HTTP
            ct = self.headers.get("Content-Type", "")
            msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ct.encode() + b"\r\n\r\n" + body)
            doc = []
            for part in msg.iter_parts():
                doc.append([part.get_param("name", header="content-disposition"), part.get_filename(),
                            part.get_content_type() if part.get_filename() else None,
                            part.get_payload(decode=True).decode("latin-1")])
            return self.send(200, json.dumps(doc).encode(), "application/json")
        if parts[0] == "lines":  # n lines "line <i>\n" then "tail", sent 7 bytes at a time
            body = b"".join(b"line %d\n" % i for i in range(int(parts[1]))) + b"tail"
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 7):
                piece = body[i:i + 7]
                self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        if parts[0] == "stall":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"12345")
            self.wfile.flush()
            time.sleep(30)
            return
        if parts[0] == "redirect":
            n = int(parts[1])
            loc = "/json" if n <= 0 else f"/redirect/{n - 1}"
            return self.send(302, b"", None, [("Location", loc)])
        if parts[0] == "set-cookie":  # ?name=value...: one Set-Cookie each ("del" removes
            # the cookie it names; a name starting "sec" is Secure; "p" has Path=/echo/sub)
            extra = []
            for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True):
                if k == "del":
                    extra.append(("Set-Cookie", f"{v}=; Max-Age=0; Path=/"))
                else:
                    attrs = "; Path=/echo/sub" if k == "p" else "; Path=/"
                    extra.append(("Set-Cookie", f"{k}={v}{attrs}" + ("; Secure" if k.startswith("sec") else "")))
            return self.send(200, b"ok", "text/plain", extra)
        if parts[0] == "cookie-redirect":  # sets hop=1 and redirects to /echo
            return self.send(302, b"", None, [("Set-Cookie", "hop=1; Path=/"), ("Location", "/echo")])
        if parts[0] == "echo":
            doc = {"method": self.command, "path": u.path, "query": u.query, "target": self.path,
                   "headers": {k: v for k, v in self.headers.items()}, "body": body.decode("latin-1")}
            return self.send(200, json.dumps(doc).encode(), "application/json")
        if parts[0] == "stats":
            with lock:
                return self.send(200, json.dumps(stats).encode(), "application/json")
        if parts[0] == "reset-stats":
            with lock:
                stats["max_open"] = stats["open"]
                stats["total"] = stats["open"]
                return self.send(200, json.dumps(stats).encode(), "application/json")
        return self.send(404, b"not found")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = route


def silent():
    """Accept and never answer: connections stay open, nothing is ever sent."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    print(srv.getsockname()[1], flush=True)
    held = []
    while True:
        c, _ = srv.accept()
        held.append(c)


def main():
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    if "--silent" in sys.argv:
        return silent()
    srv = CountingServer(("127.0.0.1", 0), Handler)
    line = str(srv.server_address[1])
    if "--tls" in sys.argv:
        d = tempfile.mkdtemp(prefix="asyncio-http-tls-")
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        line += " " + cert
        signal.signal(signal.SIGTERM, lambda *a: (shutil.rmtree(d, True), os._exit(0)))
    print(line, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
