"""sleep0: one task yields to the event loop N times via asyncio.sleep(0)."""
import asyncio

import _bench as b


async def main(n):
    sleep = asyncio.sleep
    t0 = b.now()
    for _ in range(n):
        await sleep(0)
    secs = b.now() - t0
    b.report("sleep0", n, secs)


if __name__ == "__main__":
    asyncio.run(main(b.arg_int(1, 300_000)))
