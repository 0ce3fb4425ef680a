"""Python asyncio streams client: the same GETs, C keep-alive connections, HTTP/1.1 by hand."""
import asyncio
import sys
import time
from urllib.parse import urlsplit


async def worker(host, port, path, n):
    reader, writer = await asyncio.open_connection(host, port)
    req = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n\r\n".encode()
    got = 0
    for _ in range(n):
        writer.write(req)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        got += len(body)
    writer.close()
    await writer.wait_closed()
    return got


async def main(url, total, conc):
    u = urlsplit(url)
    n = total // conc
    res = await asyncio.gather(*[worker(u.hostname, u.port, u.path, n) for _ in range(conc)])
    assert sum(res) == n * conc * 27
    return n * conc


if __name__ == "__main__":
    url, total, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    t0 = time.perf_counter()
    done = asyncio.run(main(url, total, conc))
    print(f"{done / (time.perf_counter() - t0):.0f}")
