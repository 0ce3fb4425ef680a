"""sleep_many: N concurrent tasks each sleeping a random (seeded) delay in
[0, max_delay) seconds (argv[2], default 1.0).  bytes_per_task = RSS growth once
all N tasks exist and are parked in asyncio.sleep() / N.  Delays are drawn
before the baseline."""
import asyncio
import random

import _bench as b


async def sleeper(d):
    await asyncio.sleep(d)


async def main(n, max_delay):
    rng = random.Random(12345)
    delays = [rng.random() * max_delay for _ in range(n)]
    before = b.rss_kb()
    t0 = b.now()
    tasks = [asyncio.create_task(sleeper(d)) for d in delays]
    # One loop turn: every task runs its first step and parks on its timer.
    await asyncio.sleep(0)
    after = b.rss_kb()
    await asyncio.gather(*tasks)
    secs = b.now() - t0
    b.report("sleep_many", n, secs, b.bytes_per_task(before, after, n))


if __name__ == "__main__":
    asyncio.run(main(b.arg_int(1, 200_000), b.arg_float(2, 1.0)))
