"""tcp_echo: asyncio streams echo server on 127.0.0.1 (ephemeral port) and 50
client connections in the same process/loop; each client does N/50 round trips
(write 64 bytes + drain, readexactly(64)).  The server handler does
readexactly(64), write, drain.  Timing starts once all 50 clients are
connected; ops_per_sec = round trips per second.  (asyncio sets TCP_NODELAY on
stream sockets by default.)"""
import asyncio

import _bench as b

CONNS = 50
MSG = 64


async def handle(reader, writer):
    try:
        while True:
            data = await reader.readexactly(MSG)
            writer.write(data)
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass  # client closed
    finally:
        writer.close()


async def client(port, rounds, connected, gate):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connected()
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


async def main(n):
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rounds = max(1, n // CONNS)
    total = rounds * CONNS

    loop = asyncio.get_running_loop()
    all_connected = loop.create_future()
    count = 0

    def connected():
        nonlocal count
        count += 1
        if count == CONNS:
            all_connected.set_result(None)

    gate = asyncio.Event()
    clients = [asyncio.create_task(client(port, rounds, connected, gate))
               for _ in range(CONNS)]
    await all_connected
    t0 = b.now()
    gate.set()
    await asyncio.gather(*clients)
    secs = b.now() - t0
    server.close()
    await server.wait_closed()
    b.report("tcp_echo", total, secs)


if __name__ == "__main__":
    asyncio.run(main(b.arg_int(1, 50_000)))
