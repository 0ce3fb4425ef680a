#!/usr/bin/env python3
"""The Cookie headers Debian's aiohttp (3.8) client sends, for tests/test_http_client.cpp.

    /usr/bin/python3 aiohttp_cookies.py <port>

Runs fixed requests against tests/http/server.py on <port> and prints one line per case:
"<case>\t<the Cookie header /echo received, its cookies sorted, or ->"."""
import asyncio
import sys

import aiohttp


def cookie_of(doc):
    h = {k.lower(): v for k, v in doc["headers"].items()}
    c = h.get("cookie")
    return "; ".join(sorted(c.split("; "))) if c else "-"


async def main(port):
    local = f"http://localhost:{port}"
    ip = f"http://127.0.0.1:{port}"
    out = []

    async def case(s, name, url, **kw):
        async with s.get(url, **kw) as r:
            out.append(f"{name}\t{cookie_of(await r.json())}")

    async with aiohttp.ClientSession() as s:
        async with s.get(local + "/set-cookie?a=1&b=two&sec=x&p=1") as r:
            await r.read()
        await case(s, "jar", local + "/echo")
        await case(s, "path", local + "/echo/sub")
        await case(s, "redirect", local + "/cookie-redirect")
        async with s.get(local + "/set-cookie?del=a") as r:
            await r.read()
        await case(s, "deleted", local + "/echo")
        await case(s, "request", local + "/echo", cookies={"r": "v w"})
        out.append("filter\t" + " ".join(sorted(s.cookie_jar.filter_cookies(local + "/echo/sub"))))
        async with s.get(ip + "/set-cookie?i=1") as r:
            await r.read()
        await case(s, "ip", ip + "/echo")
    async with aiohttp.ClientSession(cookies={"s": "1", "q": "a;b"}) as s:
        await case(s, "session-cookies", ip + "/echo")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        async with s.get(local + "/set-cookie?d=1") as r:
            await r.read()
        await case(s, "dummy", local + "/echo")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(ip + "/set-cookie?u=1") as r:
            await r.read()
        await case(s, "unsafe", ip + "/echo")
    print("\n".join(out))


asyncio.run(main(int(sys.argv[1])))
