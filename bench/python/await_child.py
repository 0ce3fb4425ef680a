"""await_child: one coroutine awaits a trivial child coroutine N times."""
import asyncio

import _bench as b


async def child():
    return 1


async def main(n):
    total = 0
    t0 = b.now()
    for _ in range(n):
        total += await child()
    secs = b.now() - t0
    if total != n:
        raise SystemExit("await_child: bad total")
    b.report("await_child", n, secs)


if __name__ == "__main__":
    asyncio.run(main(b.arg_int(1, 2_000_000)))
