# Reference for tests/test_streams.cpp "reader semantics match CPython". Prints the trace the
# C++ test asserts line for line.
import asyncio

async def scenario(payload, limit, steps):
    async def handle(reader, writer):
        writer.write(payload)
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=limit)
    await asyncio.sleep(0.02)
    for step in steps:
        try:
            r = await step(reader)
            print("ok", repr(r))
        except asyncio.IncompleteReadError as e:
            print("IncompleteReadError", repr(e.partial), e.expected)
        except asyncio.LimitOverrunError as e:
            print("LimitOverrunError", e.args[0], e.consumed)
        except ValueError as e:
            print("ValueError", e)
    print("at_eof", reader.at_eof())
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()

async def main():
    await scenario(b"abc\ndefgh", 65536, [
        lambda r: r.readline(),
        lambda r: r.readexactly(10),
        lambda r: r.read(),
    ])
    await scenario(b"0123456789abcdef\nxyz", 8, [
        lambda r: r.readuntil(b"\n"),
        lambda r: r.read(5),
        lambda r: r.readline(),
        lambda r: r.readuntil(b"!"),
    ])
    await scenario(b"0123456789abcdefghij", 8, [
        lambda r: r.readuntil(b"\n"),
        lambda r: r.readexactly(3),
        lambda r: r.readline(),
        lambda r: r.read(100),
    ])

asyncio.run(main())
