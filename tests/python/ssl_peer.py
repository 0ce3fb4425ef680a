"""Python asyncio+ssl peers for tests/test_ssl.cpp (run with Debian's /usr/bin/python3).

  ssl_peer.py echo_server CERT KEY           TLS echo server for one connection; prints its port
  ssl_peer.py client PORT CAFILE HOST NBYTES  TLS client: sends NBYTES in random pieces, reads
                                              them back echoed, prints "ok <n> <sha256>"
  ssl_peer.py close_notify PORT CAFILE        blocking ssl client, suppress_ragged_eofs=False:
                                              sends "bye\\n", prints "close_notify" when the
                                              server's close ends the stream cleanly, else the error
  ssl_peer.py starttls_server CERT KEY        plain text until "STARTTLS", then TLS; prints port
"""
import asyncio
import hashlib
import random
import socket
import ssl
import sys


async def echo_server(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    done = asyncio.Event()

    async def handle(r, w):
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
        w.close()
        await w.wait_closed()
        done.set()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.wait_for(done.wait(), 30)
    srv.close()


async def client(port, cafile, host, nbytes):
    ctx = ssl.create_default_context(cafile=cafile)
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=host)
    rnd = random.Random(7)
    data = rnd.randbytes(nbytes)

    async def send():
        off = 0
        while off < len(data):
            n = rnd.randint(1, 200000)
            w.write(data[off:off + n])
            off += n
            await w.drain()

    t = asyncio.create_task(send())
    got = await r.readexactly(len(data))
    await t
    w.close()
    await w.wait_closed()
    print("ok", len(got), hashlib.sha256(got).hexdigest() if got == data else "MISMATCH", flush=True)


def close_notify(port, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port)) as s:
        with ctx.wrap_socket(s, server_hostname="localhost", suppress_ragged_eofs=False) as t:
            t.sendall(b"bye\n")
            try:
                while t.recv(4096):
                    pass
                print("close_notify", flush=True)
            except Exception as e:  # ssl.SSLEOFError: EOF without close_notify
                print(type(e).__name__, flush=True)


async def starttls_server(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    done = asyncio.Event()

    async def handle(r, w):
        line = await r.readline()
        w.write(b"220 ready for " + line)
        await w.drain()
        line = await r.readline()
        if line == b"STARTTLS\n":
            w.write(b"220 go ahead\n")
            await w.drain()
            await w.start_tls(ctx)
            line = await r.readline()
            w.write(b"secret " + w.get_extra_info("ssl_object").version().encode() + b" " + line)
            await w.drain()
        w.close()
        done.set()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.wait_for(done.wait(), 30)
    srv.close()


if __name__ == "__main__":
    mode = sys.argv[1]
    a = sys.argv[2:]
    if mode == "echo_server":
        asyncio.run(echo_server(a[0], a[1]))
    elif mode == "client":
        asyncio.run(client(int(a[0]), a[1], a[2], int(a[3])))
    elif mode == "close_notify":
        close_notify(int(a[0]), a[1])
    elif mode == "starttls_server":
        asyncio.run(starttls_server(a[0], a[1]))
