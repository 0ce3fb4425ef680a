# Python asyncio echo server used by tests/test_streams.cpp: prints its port, echoes every
# connection byte for byte until EOF, and exits after serving `argv[1]` connections.
import asyncio, sys

async def main(n):
    done = 0
    finished = asyncio.Event()
    async def handle(reader, writer):
        nonlocal done
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        done += 1
        if done >= n:
            finished.set()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await finished.wait()
    server.close()

asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
