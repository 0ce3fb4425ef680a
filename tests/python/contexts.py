# Reference traces for tests/test_contexts.cpp (run: python3 tests/python/contexts.py).
# Each scenario prints "== name" then its trace; the C++ test asserts the same lines.
import asyncio

T0 = 0.0


def now():  # loop time since the scenario started
    return asyncio.get_running_loop().time() - T0


def name(exc):
    return "None" if exc is None else type(exc).__name__


class CM:
    def __init__(self, suppress=False, enter_fails=False, exit_sleep=0.0):
        self.suppress = suppress
        self.enter_fails = enter_fails
        self.exit_sleep = exit_sleep
        self.exited = 0

    async def __aenter__(self):
        print("aenter")
        await asyncio.sleep(0.1)
        if self.enter_fails:
            raise ValueError("enter failed")
        return "value"

    async def __aexit__(self, et, ev, tb):
        print(f"aexit {name(ev)} t={now():.1f}")
        if self.exit_sleep:
            await asyncio.sleep(self.exit_sleep)
            print(f"aexit done t={now():.1f}")
        self.exited += 1
        return self.suppress


async def normal_exit():
    cm = CM()
    async with cm as v:
        print("body got", v)
        await asyncio.sleep(0.2)
    print("after, exited =", cm.exited)


async def exception_propagates():
    try:
        async with CM() as v:
            raise ValueError("in body")
    except ValueError as e:
        print("caught", e)


async def exception_suppressed():
    async with CM(suppress=True):
        raise ValueError("in body")
    print("suppressed, went on")


async def cancelled_in_body():
    async def worker():
        async with CM(exit_sleep=0.5):
            print("body sleeping")
            await asyncio.sleep(10)
            print("not reached")

    t = asyncio.create_task(worker())
    await asyncio.sleep(1)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        print(f"worker cancelled t={now():.1f}")


async def aenter_fails():
    try:
        async with CM(enter_fails=True):
            print("not reached")
    except ValueError as e:
        print("caught", e)


async def cancelled_in_aenter():
    async def worker():
        async with CM():
            print("not reached")

    t = asyncio.create_task(worker())
    await asyncio.sleep(0.05)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        print(f"cancelled in aenter t={now():.2f}")


async def wait_for_timeout():
    async def worker():
        async with CM(exit_sleep=0.5):
            print("body sleeping")
            await asyncio.sleep(10)
            print("not reached")

    try:
        await asyncio.wait_for(worker(), 1.0)
    except TimeoutError:
        print(f"timeout t={now():.1f}")


async def aexit_raises():
    class Bad:
        async def __aenter__(self):
            return None

        async def __aexit__(self, et, ev, tb):
            print("aexit sees", name(ev))
            raise RuntimeError("from aexit")

    try:
        async with Bad():
            raise ValueError("in body")
    except RuntimeError as e:
        print("caught RuntimeError", e)


class Counter:  # the C++ test ends one with std::nullopt, the other with StopAsyncIteration
    def __init__(self, n, stop_by_raise):
        self.i = 0
        self.n = n

    def __aiter__(self):
        return self

    async def __anext__(self):
        await asyncio.sleep(0.1)
        if self.i >= self.n:
            raise StopAsyncIteration
        self.i += 1
        return self.i


class Broken:
    def __aiter__(self):
        return self

    async def __anext__(self):
        raise ValueError("anext failed")


async def async_for_loops():
    async for v in Counter(3, False):
        print("v", v)
    print(f"done t={now():.1f}")
    async for v in Counter(5, True):
        if v == 2:
            break
        print("w", v)
    try:
        async for v in Broken():
            pass
    except ValueError as e:
        print("caught", e)


async def start(scenario):
    global T0
    T0 = asyncio.get_running_loop().time()
    await scenario()


for scenario in [normal_exit, exception_propagates, exception_suppressed, cancelled_in_body,
                 aenter_fails, cancelled_in_aenter, wait_for_timeout, aexit_raises,
                 async_for_loops]:
    print("==", scenario.__name__)
    asyncio.run(start(scenario))
