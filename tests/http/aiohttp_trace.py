#!/usr/bin/env python3
"""The trace signals Debian's aiohttp (3.8) client sends, for tests/test_http_client.cpp.

    /usr/bin/python3 aiohttp_trace.py <port>

Runs fixed requests against tests/http/server.py on localhost:<port> and prints one line per
case: "<case>\t<signal names, space-separated, with the host or status where one is given>"."""
import asyncio
import sys

import aiohttp


async def main(port):
    events = []
    tc = aiohttp.TraceConfig()

    def note(name, f=None):
        async def cb(session, ctx, params):
            events.append(name + (":" + f(params) if f else ""))
        return cb

    tc.on_request_start.append(note("request_start", lambda p: p.method))
    tc.on_request_end.append(note("request_end", lambda p: str(p.response.status)))
    tc.on_request_exception.append(note("request_exception"))
    tc.on_request_redirect.append(note("request_redirect", lambda p: str(p.response.status)))
    tc.on_connection_create_start.append(note("connection_create_start"))
    tc.on_connection_create_end.append(note("connection_create_end"))
    tc.on_connection_reuseconn.append(note("connection_reuseconn"))
    tc.on_dns_resolvehost_start.append(note("dns_resolvehost_start", lambda p: p.host))
    tc.on_dns_resolvehost_end.append(note("dns_resolvehost_end", lambda p: p.host))
    base = f"http://localhost:{port}"
    out = []
    async with aiohttp.ClientSession(trace_configs=[tc]) as s:
        for case, url in [("first", base + "/json"), ("again", base + "/json"), ("redirect", base + "/redirect/1")]:
            events.clear()
            async with s.get(url) as r:
                await r.read()
            out.append(case + "\t" + " ".join(events))
    print("\n".join(out))


asyncio.run(main(int(sys.argv[1])))
