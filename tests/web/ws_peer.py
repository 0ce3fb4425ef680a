#!/usr/bin/python3
"""WebSocket peers for tests/test_websocket.cpp (Debian's aiohttp 3.8.4 and websockets 10.4).

  ws_peer.py aiohttp-server | websockets-server
      print the port, then serve /ws: text "close" → close(4000, "bye"); other text → "echo:" + text;
      bytes → the same bytes. Runs until killed.
  ws_peer.py websockets-tls-server CERT KEY
      the same over TLS (wss://).
  ws_peer.py aiohttp-client URL | websockets-client URL
      the client script against our server: one line per event on stdout, exit 0.
"""
import asyncio
import sys


async def aiohttp_server():
    from aiohttp import web, WSMsgType

    async def handler(request):
        ws = web.WebSocketResponse(protocols=("superchat",))
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if msg.data == "close":
                    await ws.close(code=4000, message=b"bye")
                else:
                    await ws.send_str("echo:" + msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


async def websockets_server(certfile=None, keyfile=None):
    import websockets
    ssl_ctx = None
    if certfile:
        import ssl
        ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_ctx.load_cert_chain(certfile, keyfile)

    async def handler(ws, path=None):
        async for msg in ws:
            if isinstance(msg, str):
                if msg == "close":
                    await ws.close(4000, "bye")
                else:
                    await ws.send("echo:" + msg)
            else:
                await ws.send(msg)

    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["superchat"], ssl=ssl_ctx) as server:
        print(list(server.sockets)[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()


async def aiohttp_client(url):
    import aiohttp
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, protocols=("chat", "superchat")) as ws:
            print("protocol", ws.protocol)
            await ws.send_str("hello")
            print("text", await ws.receive_str())
            await ws.send_bytes(b"\x00\x01" * 40000)
            data = await ws.receive_bytes()
            print("bytes", len(data), data == b"\x00\x01" * 40000)
            await ws.send_json({"a": [1, 2]})
            print("json", await ws.receive_str())
            await ws.send_str("close")
            msg = await ws.receive()
            print("close", msg.type.name, msg.data, msg.extra)
            print("close_code", ws.close_code)
    print("done")


async def websockets_client(url):
    import websockets
    async with websockets.connect(url, subprotocols=["chat", "superchat"], max_size=None) as ws:
        print("protocol", ws.subprotocol)
        await ws.send("hello")
        print("text", await ws.recv())
        await ws.send(b"\x00\x01" * 40000)
        data = await ws.recv()
        print("bytes", len(data), data == b"\x00\x01" * 40000)
        pong = await ws.ping(b"p")
        await pong
        print("pong")
        # fragmented text, as a generator of fragments
        await ws.send(iter(["frag", "ment", "éd"]))
        print("text", await ws.recv())
        await ws.send("close")
        try:
            await ws.recv()
        except websockets.ConnectionClosed as e:
            print("closed", e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else None)
    print("done")


def main():
    mode = sys.argv[1]
    if mode == "aiohttp-server":
        asyncio.run(aiohttp_server())
    elif mode == "websockets-server":
        asyncio.run(websockets_server())
    elif mode == "websockets-tls-server":  # CERTFILE KEYFILE
        asyncio.run(websockets_server(sys.argv[2], sys.argv[3]))
    elif mode == "aiohttp-client":
        asyncio.run(aiohttp_client(sys.argv[2]))
    elif mode == "websockets-client":
        asyncio.run(websockets_client(sys.argv[2]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
