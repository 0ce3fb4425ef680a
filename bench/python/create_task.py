"""create_task: create N tasks of a trivial coroutine returning an int, then
gather() them all.  bytes_per_task = RSS growth once all N Task objects exist
(scheduled, not yet run) / N."""
import asyncio

import _bench as b


async def trivial(i):
    return i


async def main(n):
    before = b.rss_kb()
    t0 = b.now()
    tasks = [asyncio.create_task(trivial(i & 0xFFFF)) for i in range(n)]
    after = b.rss_kb()
    results = await asyncio.gather(*tasks)
    secs = b.now() - t0
    if sum(results) != sum(i & 0xFFFF for i in range(n)):
        raise SystemExit("create_task: bad sum")
    b.report("create_task", n, secs, b.bytes_per_task(before, after, n))


if __name__ == "__main__":
    asyncio.run(main(b.arg_int(1, 200_000)))
