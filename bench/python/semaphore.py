"""semaphore: N tasks, each `async with sem: await asyncio.sleep(0)` with
sem = asyncio.Semaphore(10).  bytes_per_task = RSS growth once all N tasks exist
and have started (10 hold the semaphore, N-10 wait on it) / N."""
import asyncio

import _bench as b


async def worker(sem):
    async with sem:
        await asyncio.sleep(0)


async def main(n):
    sem = asyncio.Semaphore(10)
    before = b.rss_kb()
    t0 = b.now()
    tasks = [asyncio.create_task(worker(sem)) for _ in range(n)]
    await asyncio.sleep(0)  # every task has run its first step
    after = b.rss_kb()
    await asyncio.gather(*tasks)
    secs = b.now() - t0
    b.report("semaphore", n, secs, b.bytes_per_task(before, after, n))


if __name__ == "__main__":
    asyncio.run(main(b.arg_int(1, 100_000)))
