# Reference traces for tests/test_taskgroups.cpp
# (run: python3.13 tests/python/taskgroups.py > taskgroups.out; virtual clock).
import asyncio
import vtime

def now():
    return f"{asyncio.get_running_loop().time():.1f}"

async def job(name, d, fail=False):
    try:
        await asyncio.sleep(d)
    except asyncio.CancelledError:
        print(name, "cancelled at", now())
        raise
    if fail:
        print(name, "fails at", now())
        raise ValueError(name)
    print(name, "done at", now())
    return name

async def basic():
    async with asyncio.TaskGroup() as tg:
        a = tg.create_task(job("A", 0.3))
        b = tg.create_task(job("B", 0.1), name="bee")
        async def spawner():
            await asyncio.sleep(0.2)
            tg.create_task(job("C", 0.5))   # added while the group is waiting
            print("spawned C at", now())
        tg.create_task(spawner())
        print("body done at", now())
    print("group done at", now(), a.result(), b.result(), b.get_name())
    try:
        tg.create_task(job("D", 1))
    except RuntimeError as e:
        print("RuntimeError", e)
    tg2 = asyncio.TaskGroup()
    try:
        tg2.create_task(job("E", 1))
    except RuntimeError as e:
        print("RuntimeError", e)
    print("cancelling", asyncio.current_task().cancelling())

async def failure():
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(job("A", 0.1, fail=True))
            tg.create_task(job("B", 1))
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                print("body cancelled at", now())
                raise
    except* ValueError as eg:
        print("ExceptionGroup", [str(e) for e in eg.exceptions])
    print("cancelling", asyncio.current_task().cancelling())
    # two failures in the same iteration, plus a failing body
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(job("X", 0.1, fail=True))
            tg.create_task(job("Y", 0.1, fail=True))
            await asyncio.sleep(0.2)
    except ExceptionGroup as eg:
        print("ExceptionGroup", eg, [str(e) for e in eg.exceptions])
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(job("Z", 1))
            await asyncio.sleep(0.1)
            raise KeyError("body")
    except ExceptionGroup as eg:
        print("ExceptionGroup", [type(e).__name__ for e in eg.exceptions])
    # shutting down: create_task refused while aborting
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(job("F", 0.1, fail=True))
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                try:
                    tg.create_task(job("G", 1))
                except RuntimeError as e:
                    print("RuntimeError", e)
                raise
    except ExceptionGroup as eg:
        print("ExceptionGroup", len(eg.exceptions))

async def external_cancel():
    async def runner():
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(job("A", 1))
                tg.create_task(asyncio.sleep(2))   # silent: Python cancels a set, in no fixed order
                await asyncio.sleep(0.1)
                print("body finished at", now())
        except asyncio.CancelledError:
            print("runner cancelled at", now(), "cancelling", asyncio.current_task().cancelling())
            raise
    t = asyncio.create_task(runner())
    await asyncio.sleep(0.5)
    t.cancel()
    await asyncio.gather(t, return_exceptions=True)
    print("t cancelled", t.cancelled())
    # a child failure and an external cancel together: the cancel is not lost
    async def runner2():
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(job("P", 0.5, fail=True))
                tg.create_task(asyncio.sleep(2))
        except ExceptionGroup as eg:
            print("runner2 ExceptionGroup", len(eg.exceptions), "cancelling", asyncio.current_task().cancelling())
        try:
            await asyncio.sleep(1)
            print("runner2 not cancelled (wrong)")
        except asyncio.CancelledError:
            print("runner2 cancelled afterwards at", now())
            raise
    t = asyncio.create_task(runner2())
    await asyncio.sleep(0.2)
    t.cancel()
    await asyncio.gather(t, return_exceptions=True)
    print("t cancelled", t.cancelled())

async def with_timeout():
    try:
        async with asyncio.timeout(0.5):
            async with asyncio.TaskGroup() as tg:
                tg.create_task(job("A", 1))
                tg.create_task(job("B", 0.2))
    except TimeoutError:
        print("TimeoutError at", now())
    print("cancelling", asyncio.current_task().cancelling())
    try:
        async with asyncio.TaskGroup() as tg:
            t = tg.create_task(asyncio.wait_for(job("W", 1), 0.3))
    except* TimeoutError:
        print("child TimeoutError at", now())

async def wait_for_group():
    async def grp():
        async with asyncio.TaskGroup() as tg:
            tg.create_task(job("A", 1))
            tg.create_task(asyncio.sleep(2))   # silent: Python cancels a set, in no fixed order
    try:
        await asyncio.wait_for(grp(), 0.5)
    except TimeoutError:
        print("wait_for TimeoutError at", now())
    print("tasks left", len(asyncio.all_tasks()))

for f in (basic, failure, external_cancel, with_timeout, wait_for_group):
    print("==", f.__name__)
    vtime.run(f())
