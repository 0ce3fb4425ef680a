"""WebSocket echo server (aiohttp.web peer): web.WebSocketResponse on uvloop, one process.

    python3 aiohttp_server.py [--no-uvloop]

GET / upgrades and echoes every TEXT message back with send_str (BINARY with send_bytes).
Listens on 127.0.0.1 (ephemeral port), prints the port as the first stdout line, serves until
killed. Access log off, as for the HTTP workload.
"""
import asyncio
import sys

from aiohttp import WSMsgType, web


async def echo(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def main():
    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if "--no-uvloop" not in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(main())
