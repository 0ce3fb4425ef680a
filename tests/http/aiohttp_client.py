#!/usr/bin/env python3
"""What Debian's aiohttp (3.8) client sends, for tests/test_http_client.cpp to compare with ours.

    /usr/bin/python3 aiohttp_client.py <port> <a file to upload>

Runs fixed requests against tests/http/server.py's /echo on 127.0.0.1:<port> and prints one line
per case: "<case>\t<Content-Type sent>\t<Authorization sent>\t<body sent>" (tabs/newlines in
values escaped with repr)."""
import asyncio
import json
import sys

import aiohttp


async def main(port):
    base = f"http://127.0.0.1:{port}"
    out = []

    def keep(case, doc):
        h = {k.lower(): v for k, v in doc["headers"].items()}
        out.append("\t".join([case, h.get("content-type", "-"), h.get("authorization", "-"), repr(doc["body"])]))

    async with aiohttp.ClientSession() as s:
        form = [("a b", "1&2"), ("a b", "x=y"), ("caf\u00e9", "~.-_*'()"), ("empty", "")]
        async with s.post(base + "/echo", data=form) as r:
            keep("form", await r.json())
        async with s.get(base + "/echo", auth=aiohttp.BasicAuth("user", "p@ss word")) as r:
            keep("auth", await r.json())
        async with s.get(f"http://alice:s3cret@127.0.0.1:{port}/echo") as r:
            keep("url-creds", await r.json())
        async with s.get("http://proxied.invalid/echo", proxy=base,
                         proxy_auth=aiohttp.BasicAuth("px", "pw")) as r:
            doc = await r.json()
            h = {k.lower(): v for k, v in doc["headers"].items()}
            out.append("\t".join(["proxy", doc["target"], h.get("proxy-authorization", "-"), h.get("host", "-")]))
        fd = aiohttp.FormData()
        fd.add_field("a", "1")
        fd.add_field("a", "caf\u00e9 & co")
        fd.add_field("blob", b"\x00\x01bytes", filename="b.bin", content_type="application/x-thing")
        with open(sys.argv[2], "rb") as f:
            fd.add_field("doc", f, filename="notes.txt", content_type="text/plain")
            async with s.post(base + "/form", data=fd) as r:
                out.append("multipart\t-\t-\t" + json.dumps(await r.json()))
        async def pieces():
            for i in range(5):
                await asyncio.sleep(0)
                yield b"piece %d;" % i
        async with s.post(base + "/echo", data=pieces()) as r:
            doc = await r.json()
            h = {k.lower(): v for k, v in doc["headers"].items()}
            out.append("\t".join(["stream", h.get("content-type", "-"), h.get("transfer-encoding", "-"),
                                   repr(doc["body"])]))
    async with aiohttp.ClientSession(base_url=base, auth=aiohttp.BasicAuth("sess", "pw")) as s:
        async with s.get("/echo") as r:
            keep("session-auth", await r.json())
    print("\n".join(out))


asyncio.run(main(int(sys.argv[1])))
