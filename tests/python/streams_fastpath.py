# Reference for tests/test_streams.cpp "readexactly and drain suspend only when they must".
# Prints the trace the C++ test asserts line for line: a ticker task shows exactly where the
# reading task gives up the loop.
import asyncio

async def main():
    async def handle(reader, writer):
        writer.write(b"abcdefghij")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"klm")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"nop")
        await writer.drain()
        await asyncio.sleep(0.05)
        await reader.readexactly(1)  # the client's b"x" (closing on unread data would reset)
        writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(0.02)

    async def ticker():
        for i in range(3):
            print("tick", i)
            await asyncio.sleep(0)
    t = asyncio.create_task(ticker())
    writer.write(b"x")
    await writer.drain()
    print("drained")
    print("ok", repr(await reader.readexactly(4)))
    print("ok", repr(await reader.readexactly(4)))
    print("ok", repr(await reader.readexactly(8)))  # 'ij' buffered, then two more fragments
    try:
        await reader.readexactly(2)
    except asyncio.IncompleteReadError as e:
        print("IncompleteReadError", repr(e.partial), e.expected)
    print("ok", repr(await reader.readexactly(0)))
    await t
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()

asyncio.run(main())
