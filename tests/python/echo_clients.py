# Python asyncio clients used by tests/test_streams.cpp against our server: `n` concurrent
# clients each send a distinct payload (client 0 sends `big` bytes, the others 100 KiB) and
# check the echo byte for byte. Prints "ok <n> <total bytes>" or "FAIL ...".
import asyncio, sys

def payload(i, size):
    unit = bytes((i * 7 + k) % 251 for k in range(251))
    return (unit * (size // 251 + 1))[:size]

async def client(port, i, size):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = payload(i, size)
    async def send():
        writer.write(data)
        await writer.drain()
        writer.write_eof()
    t = asyncio.create_task(send())
    got = await reader.readexactly(size)
    await t
    rest = await reader.read()
    writer.close()
    await writer.wait_closed()
    return got == data and rest == b""

async def main(port, n, big):
    sizes = [big] + [100 * 1024] * (n - 1)
    rs = await asyncio.gather(*(client(port, i, sizes[i]) for i in range(n)))
    if all(rs):
        print("ok", n, sum(sizes))
    else:
        print("FAIL", [i for i, r in enumerate(rs) if not r])

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
