#!/usr/bin/env python3
"""TLS echo (Python asyncio + ssl), the twin of bench/io/tls/ours.cpp's `echo` mode:
50 TLS connections in one process, 64-byte ping-pong, N round trips in all.

    python3 bench/io/tls/python_echo.py echo N CERT KEY

Prints the one tab-separated line of bench/python/_bench.py (impl "python")."""
import asyncio
import ssl
import sys
import time

CONNS = 50
MSG = 64


def peak_rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


async def handle(reader, writer):
    try:
        while True:
            data = await reader.readexactly(MSG)
            writer.write(data)
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    writer.close()


async def client(port, ctx, rounds, ready, gate):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    ready()
    await gate.wait()
    payload = bytearray(b"x" * MSG)
    for r in range(rounds):
        payload[0] = r & 0x7F
        writer.write(bytes(payload))
        await writer.drain()
        data = await reader.readexactly(MSG)
        if data[0] != payload[0]:
            raise RuntimeError("echo mismatch")
    writer.close()
    await writer.wait_closed()


async def main(n, cert, key):
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    cctx = ssl.create_default_context(cafile=cert)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=sctx)
    port = server.sockets[0].getsockname()[1]
    rounds = max(1, n // CONNS)
    connected = 0
    all_in = asyncio.Event()
    gate = asyncio.Event()

    def ready():
        nonlocal connected
        connected += 1
        if connected == CONNS:
            all_in.set()

    tasks = [asyncio.create_task(client(port, cctx, rounds, ready, gate)) for _ in range(CONNS)]
    await all_in.wait()
    t0 = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    secs = time.perf_counter() - t0
    server.close()
    await server.wait_closed()
    total = rounds * CONNS
    print(f"tls_echo\tpython\t{total}\t{secs:.6f}\t{total / secs:.1f}\t{peak_rss_kb()}\t-")


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "echo":
        raise SystemExit(__doc__)
    asyncio.run(main(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
