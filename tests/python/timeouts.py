# Reference traces for tests/test_timeouts.cpp (run: python3.11 tests/python/timeouts.py > timeouts.out).
import asyncio
import vtime

def now():
    return f"{asyncio.get_running_loop().time() - t0:.1f}"

async def expiry():
    try:
        async with asyncio.timeout(1) as t:
            print("when", f"{t.when() - t0:.1f}", "expired", t.expired())
            await asyncio.sleep(10)
    except TimeoutError:
        print("TimeoutError at", now(), "expired", t.expired())
    async with asyncio.timeout(1) as t:
        await asyncio.sleep(0.5)
    print("no expiry at", now(), "expired", t.expired())
    print("cancelling", asyncio.current_task().cancelling())

async def reschedule():
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(1) as t:
            await asyncio.sleep(0.5)
            t.reschedule(loop.time() + 2)
            print("rescheduled to", f"{t.when() - t0:.1f}")
            await asyncio.sleep(1)
            print("still inside at", now())
            t.reschedule(None)
            await asyncio.sleep(5)
            print("no deadline, at", now())
            t.reschedule(loop.time() - 1)   # already passed: fires on the next iteration
            await asyncio.sleep(1)
    except TimeoutError:
        print("TimeoutError at", now())
    try:
        t.reschedule(None)
    except RuntimeError as e:
        print("RuntimeError", e)
    t2 = asyncio.timeout(1)
    try:
        t2.reschedule(None)
    except RuntimeError as e:
        print("RuntimeError", e)
    async with asyncio.timeout_at(loop.time() + 1) as t3:
        pass
    try:
        async with t3:
            pass
    except RuntimeError as e:
        print("RuntimeError", e)
    async with asyncio.timeout(None) as t4:
        await asyncio.sleep(100)
    print("timeout(None) at", now(), "when", t4.when())

async def nested():
    try:
        async with asyncio.timeout(1):
            try:
                async with asyncio.timeout(2):
                    await asyncio.sleep(10)
            except TimeoutError:
                print("inner TimeoutError (wrong)")
            except asyncio.CancelledError:
                print("inner sees CancelledError at", now())
                raise
    except TimeoutError:
        print("outer TimeoutError at", now())
    async with asyncio.timeout(2):
        try:
            async with asyncio.timeout(1):
                await asyncio.sleep(10)
        except TimeoutError:
            print("inner TimeoutError at", now())
        await asyncio.sleep(0.5)
        print("outer still running at", now())
    print("cancelling", asyncio.current_task().cancelling())

async def outer_cancel():
    async def body():
        try:
            async with asyncio.timeout(10):
                await asyncio.sleep(100)
        except TimeoutError:
            print("TimeoutError (wrong)")
        except asyncio.CancelledError:
            print("CancelledError at", now())
            raise
    t = asyncio.create_task(body())
    await asyncio.sleep(0.5)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        print("task cancelled", t.cancelled())
    # deadline and outer cancel in the same iteration: the outer cancellation wins
    async def body2():
        try:
            async with asyncio.timeout(1):
                await asyncio.sleep(100)
        except TimeoutError:
            print("TimeoutError (wrong)")
        except asyncio.CancelledError:
            print("CancelledError at", now(), "cancelling", asyncio.current_task().cancelling())
            raise
    t = asyncio.create_task(body2())
    loop = asyncio.get_running_loop()
    loop.call_at(loop.time() + 1, t.cancel)
    await asyncio.gather(t, return_exceptions=True)
    print("task cancelled", t.cancelled())

async def suppressed():
    async with asyncio.timeout(1) as t:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            print("swallowed at", now())
    print("no TimeoutError; expired", t.expired(), "cancelling", asyncio.current_task().cancelling())
    try:
        async with asyncio.timeout(1):
            raise ValueError("inner")
    except ValueError as e:
        print("ValueError", e)

for f in (expiry, reschedule, nested, outer_cancel, suppressed):
    print("==", f.__name__)
    async def main():
        global t0
        t0 = asyncio.get_running_loop().time()
        await f()
    vtime.run(main())
