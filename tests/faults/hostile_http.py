#!/usr/bin/env python3
"""A hostile HTTP/1.1 server for tests/faults/test_faults_http.cpp, on raw sockets: it sends what
a broken or malicious server would (bad status lines, huge or endless headers, broken chunked
encoding, gzip bombs, endless bodies, redirect loops, a slow drip).

    hostile_http.py

Binds 127.0.0.1 on an ephemeral port, prints "<port>" as its first stdout line, stops on SIGTERM.
One thread per connection; requests on a connection are served in turn (keep-alive) until a
route closes it.

Routes:
  /ok                     200 "ok" (Content-Length)
  /delay/<ms>             200 "ok" after <ms> milliseconds
  /status/<n>[/<path>]    status n with "Location: /ok" (or /<path>; "/localhost/<path>" is
                          http://localhost:<port>/<path>) and the body "status <n>" (none for 304)
  /location/<hex>         302 whose Location is the bytes <hex> spells (any bytes at all)
  /echo                   200 "<method> <Authorization or -> <body>"
  /loop                   302 "Location: /loop", forever
  /bad-status/<k>         a malformed status line (k indexes BAD_STATUS), then the connection closes
  /big-header/<n>         200 whose header X-Big is n bytes long
  /endless-headers        200, then header lines forever
  /slow-loris             the status line, then one header byte every 0.05 s, forever
  /bad-chunked            a chunked body: one chunk, then (0.1 s later) a chunk size that is not hex
  /endless                200 without Content-Length, then bytes forever
  /gzip/<mib>             <mib> MiB of zeros, Content-Encoding: gzip (about 1 KiB per MiB)
  /gzip-sum/<mib>         the same, and "X-Plain-Length: <bytes>"
"""
import os
import signal
import socket
import struct
import sys
import threading
import time
import zlib

BAD_STATUS = [
    b"GARBAGE\r\n",                 # not HTTP at all
    b"HTTP/1.1 abc OK\r\n",         # status not a number
    b"HTTP/1.1 20 OK\r\n",          # status not three digits
    b"HTTP/1.1\r\n",                # no status
    b"HTTP/1.1 2000 OK\r\n",        # status four digits
    b"HTTX/1.1 200 OK\r\n",         # not HTTP/
]

MIB = 1 << 20
_gzip_lock = threading.Lock()
_gzip_cache = {}


def gzip_zeros(mib):
    """gzip of `mib` MiB of zeros, built without compressing them all: each MiB is deflated once
    and ended with a full flush (which resets the compressor), so the same bytes repeat."""
    with _gzip_lock:
        if mib in _gzip_cache:
            return _gzip_cache[mib]
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        block = c.compress(bytes(MIB)) + c.flush(zlib.Z_FULL_FLUSH)
        tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)  # an empty final block
        crc = 0
        zeros = bytes(MIB)
        for _ in range(mib):
            crc = zlib.crc32(zeros, crc)
        data = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + block * mib + tail +
                struct.pack("<II", crc & 0xFFFFFFFF, (mib * MIB) & 0xFFFFFFFF))
        _gzip_cache[mib] = data
        return data


def send(c, status, body=b"", extra=(), reason=b"OK"):
    head = b"HTTP/1.1 %d %s\r\n" % (status, reason)
    for k, v in extra:
        head += k + b": " + v + b"\r\n"
    if status != 304:
        head += b"Content-Length: %d\r\n" % len(body)
    c.sendall(head + b"\r\n" + body)
    return True  # keep the connection


def forever(c, piece, delay=0.0):
    while True:
        c.sendall(piece)
        if delay:
            time.sleep(delay)


def route(c, method, path, headers, body):
    parts = path.split("?")[0].strip("/").split("/")
    name = parts[0]
    if name == "ok":
        return send(c, 200, b"ok", [(b"Content-Type", b"text/plain")])
    if name == "delay":
        time.sleep(int(parts[1]) / 1000)
        return send(c, 200, b"ok", [(b"Content-Type", b"text/plain")])
    if name == "status":
        n = int(parts[1])
        loc = "/" + "/".join(parts[2:]) if len(parts) > 2 else "/ok"
        if loc.startswith("/localhost/"):
            loc = "http://localhost:%d/%s" % (c.getsockname()[1], loc[len("/localhost/"):])
        text = b"" if n == 304 else b"status %d" % n
        return send(c, n, text, [(b"Location", loc.encode())], reason=b"Whatever")
    if name == "location":
        return send(c, 302, b"", [(b"Location", bytes.fromhex(parts[1]))], reason=b"Found")
    if name == "echo":
        auth = headers.get("authorization", "-").encode()
        return send(c, 200, method.encode() + b" " + auth + b" " + body)
    if name == "loop":
        return send(c, 302, b"", [(b"Location", b"/loop")], reason=b"Found")
    if name == "bad-status":
        c.sendall(BAD_STATUS[int(parts[1])] + b"Content-Length: 2\r\n\r\nok")
        return False
    if name == "big-header":
        n = int(parts[1])
        return send(c, 200, b"ok", [(b"X-Big", b"a" * n)])
    if name == "endless-headers":
        c.sendall(b"HTTP/1.1 200 OK\r\n")
        forever(c, b"X-More: " + b"m" * 100 + b"\r\n")
    if name == "slow-loris":
        c.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        forever(c, b"s", 0.05)
    if name == "bad-chunked":
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        time.sleep(0.1)
        c.sendall(b"zz\r\nworld\r\n0\r\n\r\n")
        time.sleep(0.5)
        return False
    if name == "endless":
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
        forever(c, b"e" * 65536)
    if name in ("gzip", "gzip-sum"):
        mib = int(parts[1])
        data = gzip_zeros(mib)
        extra = [(b"Content-Encoding", b"gzip"), (b"Content-Type", b"application/octet-stream")]
        if name == "gzip-sum":
            extra.append((b"X-Plain-Length", b"%d" % (mib * MIB)))
        return send(c, 200, data, extra)
    return send(c, 404, b"not found", reason=b"Not Found")


def serve(c):
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                more = c.recv(65536)
                if not more:
                    return
                buf += more
                if len(buf) > 1 << 20:
                    return
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0"))
            while len(buf) < length:
                more = c.recv(65536)
                if not more:
                    return
                buf += more
            body, buf = buf[:length], buf[length:]
            if not route(c, method, path, headers, body):
                return
    except OSError:
        pass  # the client hung up: part of the tests
    finally:
        c.close()


def main():
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    print(srv.getsockname()[1], flush=True)
    threading.Thread(target=gzip_zeros, args=(1024,), daemon=True).start()  # the bomb, ready early
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
