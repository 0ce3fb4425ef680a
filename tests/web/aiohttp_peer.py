"""The aiohttp 3.8.4 (Debian's python3-aiohttp) twin of test_web.cpp's application.

Started by tests/test_web.cpp with /usr/bin/python3; prints its port on the first line, then
serves until killed. Each route answers exactly what the C++ route of the same path answers, so
the test can send both servers the same raw bytes and compare the replies (minus Date/Server).
JSON is dumped compactly, as nlohmann's dump() writes it.
"""
import asyncio
import functools
import json
import sys

from aiohttp import web

dumps = functools.partial(json.dumps, separators=(",", ":"))


async def hello(r):
    return web.Response(text="Hello, " + r.match_info["name"])


async def num(r):
    return web.Response(text="n=" + r.match_info["id"])


async def boom(r):
    raise RuntimeError("boom")


async def nf(r):
    raise web.HTTPNotFound()


async def found(r):
    raise web.HTTPFound("/to")


async def bad(r):
    raise web.HTTPBadRequest(text="nope")


async def js(r):
    j = await r.json()
    return web.json_response({"got": j}, dumps=dumps)


async def form(r):
    p = await r.post()
    return web.Response(text=",".join(f"{k}={v}" for k, v in p.items()))


async def q(r):
    return web.Response(text=",".join(r.query.getall("a", [])))


async def read(r):
    b = await r.read()
    return web.Response(text=str(len(b)))


async def stream(r):
    s = web.StreamResponse()
    await s.prepare(r)
    await s.write(b"ab")
    await s.write(b"cd")
    await s.write_eof()
    return s


async def cookies(r):
    return web.Response(text=";".join(f"{k}={v}" for k, v in sorted(r.cookies.items())))


async def headers(r):
    return web.Response(text=",".join(r.headers.getall("X-Test", [])))


async def created(r):
    return web.Response(body=b"\x00\x01", status=201, headers={"X-A": "1"})


async def set_cookies(r):
    resp = web.Response(text="ok")
    resp.set_cookie("a", "b")
    resp.set_cookie("q", "x y;z", expires="Wed, 21 Oct 2026 07:28:00 GMT", domain="example.com", max_age=60,
                    path="/p", secure=True, httponly=True, samesite="Lax")
    resp.del_cookie("gone")
    resp.set_cookie("a", "again")
    resp.set_cookie("empty", "")
    return resp


async def stream_cookie(r):
    s = web.StreamResponse()
    s.set_cookie("s", "1", httponly=True)
    s.del_cookie("old", domain="d.com", path="/x")
    await s.prepare(r)
    await s.write(b"refused")  # (ours refuses a cookie set after prepare(); aiohttp drops it)
    await s.write_eof()
    return s


async def compressed(r):
    resp = web.Response(text="hello " * 50)
    resp.enable_compression()
    return resp


async def compressed_gzip(r):
    resp = web.Response(text="hello hello hello hello")
    resp.enable_compression(web.ContentCoding.gzip)
    return resp


async def compressed_stream(r):
    s = web.StreamResponse()
    s.enable_compression()
    await s.prepare(r)
    await s.write(b"a" * 1000)
    await s.write(b"b" * 1000)
    await s.write_eof()
    return s


async def upload(r):
    p = await r.post()
    parts = []
    for k, v in p.items():
        if isinstance(v, web.FileField):
            parts.append(f"{k}=file:{v.filename}:{v.content_type}:{v.file.read().decode('latin-1')}")
        else:
            parts.append(f"{k}={v if isinstance(v, str) else v.decode('latin-1')}")
    return web.Response(text="|".join(parts))


async def main():
    app = web.Application()
    app.router.add_get("/hello/{name}", hello)
    app.router.add_post("/hello/{name}", hello)
    app.router.add_get(r"/num/{id:\d+}", num)
    app.router.add_get("/boom", boom)
    app.router.add_get("/nf", nf)
    app.router.add_get("/found", found)
    app.router.add_get("/bad", bad)
    app.router.add_post("/json", js)
    app.router.add_post("/form", form)
    app.router.add_get("/q", q)
    app.router.add_post("/read", read)
    app.router.add_get("/stream", stream)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/headers", headers)
    app.router.add_get("/created", created)
    app.router.add_get("/setcookies", set_cookies)
    app.router.add_get("/streamcookie", stream_cookie)
    app.router.add_get("/compressed", compressed)
    app.router.add_post("/upload", upload)
    app.router.add_get("/compressed-gzip", compressed_gzip)
    app.router.add_get("/compressed-stream", compressed_stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    import logging
    logging.disable(logging.CRITICAL)  # the tracebacks of /boom etc. are expected
    asyncio.run(main())
