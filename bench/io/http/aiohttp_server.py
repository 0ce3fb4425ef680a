"""HTTP server (aiohttp.web peer): GET / answers "Hello, World!" on uvloop, one process.

    python3 aiohttp_server.py [--no-uvloop]

Listens on 127.0.0.1 (ephemeral port), prints the port as the first stdout line, serves until
killed. The access log is off (access_log=None): the fastest aiohttp configuration, and our
server and Beast's log nothing either.
"""
import asyncio
import sys

from aiohttp import web


async def hello(request):
    return web.Response(text="Hello, World!")


async def main():
    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if "--no-uvloop" not in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(main())
