"""wait_for_timeout: N sequential `await asyncio.wait_for(asyncio.sleep(1),
timeout=1e-6)`, each ending in TimeoutError (the inner sleep task is cancelled
and awaited by wait_for)."""
import asyncio

import _bench as b


async def main(n):
    timeouts = 0
    t0 = b.now()
    for _ in range(n):
        try:
            await asyncio.wait_for(asyncio.sleep(1), timeout=1e-6)
        except TimeoutError:
            timeouts += 1
    secs = b.now() - t0
    if timeouts != n:
        raise SystemExit(f"wait_for_timeout: only {timeouts}/{n} timed out")
    b.report("wait_for_timeout", n, secs)


if __name__ == "__main__":
    asyncio.run(main(b.arg_int(1, 100_000)))
