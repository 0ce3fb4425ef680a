# Reference traces for tests/test_generators.cpp (run: python3 tests/python/generators.py).
# Each scenario prints "== name" then its trace; the C++ test asserts the same lines.
import asyncio


T0 = 0.0


def now():  # loop time since the scenario started
    return asyncio.get_running_loop().time() - T0


async def start(scenario):
    global T0
    T0 = asyncio.get_running_loop().time()
    await scenario()


async def basic_interleaving():
    async def async_range(start, stop):
        for i in range(start, stop):
            await asyncio.sleep(0.5)
            yield i

    async def other():
        for _ in range(3):
            print(f"other t={now():.1f}")
            await asyncio.sleep(0.7)

    t = asyncio.create_task(other())
    async for v in async_range(1, 4):
        print(f"got {v} t={now():.1f}")
    await t
    print(f"end t={now():.1f}")


async def exception_reaches_consumer():
    async def gen():
        yield 1
        await asyncio.sleep(0.1)
        raise ValueError("boom")

    g = gen()
    print("first", await g.__anext__())
    try:
        await g.__anext__()
    except ValueError as e:
        print("caught", e)
    try:
        await g.__anext__()
    except StopAsyncIteration:
        print("then exhausted")


async def aclose_runs_cleanup():
    async def gen():
        try:
            for i in range(10):
                yield i
        finally:
            print("cleanup starts")
            await asyncio.sleep(0.2)
            print(f"cleanup done t={now():.1f}")

    g = gen()
    print("got", await g.__anext__())
    print("got", await g.__anext__())
    await g.aclose()
    print("closed")
    await g.aclose()
    print("closed again")
    try:
        await g.__anext__()
    except StopAsyncIteration:
        print("exhausted after aclose")


async def aclose_never_started():
    async def gen():
        print("body runs")
        yield 1

    g = gen()
    await g.aclose()
    try:
        await g.__anext__()
    except StopAsyncIteration:
        print("never ran, exhausted")


async def aclose_catch_generator_exit():
    async def gen():
        try:
            yield 1
            yield 2
        except GeneratorExit:
            print("got GeneratorExit")
            raise

    g = gen()
    await g.__anext__()
    await g.aclose()
    print("closed")


async def ignored_generator_exit():
    async def gen():
        try:
            yield 1
        except GeneratorExit:
            print("ignoring")
        yield 2

    g = gen()
    await g.__anext__()
    try:
        await g.aclose()
    except RuntimeError as e:
        print("RuntimeError:", e)


async def error_in_cleanup():
    async def gen():
        try:
            yield 1
        finally:
            raise ValueError("cleanup failed")

    g = gen()
    await g.__anext__()
    try:
        await g.aclose()
    except ValueError as e:
        print("aclose raised", e)


async def cancel_inside_generator():
    async def gen():
        try:
            yield "a"
            await asyncio.sleep(10)
            yield "b"
        finally:
            print("generator finally")

    g = gen()

    async def consumer():
        try:
            async for v in g:
                print("consumer got", v)
        except asyncio.CancelledError:
            print("consumer cancelled")
            raise

    t = asyncio.create_task(consumer())
    await asyncio.sleep(1)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        print(f"task cancelled t={now():.1f}")
    try:
        await g.__anext__()
    except StopAsyncIteration:
        print("generator finished")


async def wait_for_timeout():
    async def ticks():
        try:
            i = 0
            while True:
                await asyncio.sleep(1)
                i += 1
                yield i
        finally:
            print("ticks finally")

    async def consume():
        async for v in ticks():
            print("tick", v)

    try:
        await asyncio.wait_for(consume(), 2.5)
    except TimeoutError:
        print(f"timeout t={now():.1f}")


async def already_running():
    async def gen():
        await asyncio.sleep(1)
        yield 1

    g = gen()
    t = asyncio.create_task(g.__anext__())
    await asyncio.sleep(0)
    try:
        await g.__anext__()
    except RuntimeError as e:
        print("RuntimeError:", e)
    try:
        await g.aclose()
    except RuntimeError as e:
        print("RuntimeError:", e)
    print("first anext gave", await t)


async def awaits_coroutines_inside():
    async def fetch(n):
        await asyncio.sleep(0.1 * n)
        return f"item{n}"

    async def gen():
        for n in (3, 1, 2):
            s = await fetch(n)
            yield s

    out = [s async for s in gen()]
    print(out, f"t={now():.1f}")


async def cancel_during_aclose():
    async def gen():
        try:
            yield 1
        finally:
            print("cleanup sleeping")
            await asyncio.sleep(5)
            print("not reached")

    g = gen()

    async def closer():
        await g.__anext__()
        try:
            await g.aclose()
        except asyncio.CancelledError:
            print("aclose cancelled")
            raise

    t = asyncio.create_task(closer())
    await asyncio.sleep(1)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        print(f"cancelled t={now():.1f}")
    # Python 3.11 leaves the generator marked as running after its aclose() was cancelled
    # (a further __anext__() raises "RuntimeError: anext(): asynchronous generator is already
    # running" forever). Deliberate deviation: in C++ the generator is finished once the
    # CancelledError has left it, and anext() gives std::nullopt.


for scenario in [basic_interleaving, exception_reaches_consumer, aclose_runs_cleanup,
                 aclose_never_started, aclose_catch_generator_exit, ignored_generator_exit,
                 error_in_cleanup, cancel_inside_generator, wait_for_timeout, already_running,
                 awaits_coroutines_inside, cancel_during_aclose]:
    print("==", scenario.__name__)
    asyncio.run(start(scenario))
