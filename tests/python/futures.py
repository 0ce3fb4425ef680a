# Reference traces for tests/test_futures.cpp: Future, shield, as_completed
# (run: python3.11 tests/python/futures.py > futures.out; virtual clock).
import asyncio
import vtime

def now():
    return f"{asyncio.get_running_loop().time():.1f}"

async def future_basic():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    print("done", fut.done(), "cancelled", fut.cancelled())
    try:
        fut.result()
    except asyncio.InvalidStateError as e:
        print("InvalidStateError", e)
    fut.add_done_callback(lambda f: print("callback 1 result", f.result()))
    cid = lambda f: print("callback removed (wrong)")
    fut.add_done_callback(cid)
    fut.add_done_callback(lambda f: print("callback 3"))
    print("removed", fut.remove_done_callback(cid))
    async def waiter(n):
        v = await fut
        print(n, "got", v)
    ts = [asyncio.create_task(waiter(n)) for n in "AB"]
    await asyncio.sleep(0)
    loop.call_later(1, fut.set_result, 42)
    await asyncio.gather(*ts)
    print("at", now(), "result", fut.result())
    try:
        fut.set_result(1)
    except asyncio.InvalidStateError:
        print("InvalidStateError on second set_result")
    fut.add_done_callback(lambda f: print("late callback"))
    print("before late callback")
    await asyncio.sleep(0)
    f2 = loop.create_future()
    f2.set_exception(ValueError("bad"))
    try:
        await f2
    except ValueError as e:
        print("ValueError", e, "exception", f2.exception())
    try:
        f2.set_exception(ValueError("again"))
    except asyncio.InvalidStateError:
        print("InvalidStateError on second set_exception")

async def future_cancel():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    async def waiter():
        try:
            await fut
        except asyncio.CancelledError:
            print("waiter cancelled; future cancelled", fut.cancelled())
            raise
    t = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    t.cancel()          # cancelling the awaiting task cancels the future
    await asyncio.gather(t, return_exceptions=True)
    print("fut cancelled", fut.cancelled(), "cancel again", fut.cancel())
    try:
        fut.result()
    except asyncio.CancelledError:
        print("result -> CancelledError")
    f3 = loop.create_future()
    try:
        await asyncio.wait_for(f3, 0.5)
    except TimeoutError:
        print("wait_for timeout at", now(), "future cancelled", f3.cancelled())
    f4 = loop.create_future()
    f4.cancel("why")
    try:
        await f4
    except asyncio.CancelledError as e:
        print("cancelled with", e)

async def shield():
    async def inner():
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            print("inner cancelled (wrong)")
            raise
        print("inner done at", now())
        return "inner"
    inner_t = asyncio.create_task(inner())
    async def outer():
        try:
            return await asyncio.shield(inner_t)
        except asyncio.CancelledError:
            print("outer cancelled at", now())
            raise
    o = asyncio.create_task(outer())
    await asyncio.sleep(0.5)
    o.cancel()
    await asyncio.gather(o, return_exceptions=True)
    print("inner still running", not inner_t.done())
    print("inner result", await inner_t, "at", now())
    r = await asyncio.shield(asyncio.sleep(0.5, "slept"))
    print("shield of sleep", r, "at", now())
    try:
        await asyncio.wait_for(asyncio.shield(inner_t2 := asyncio.create_task(asyncio.sleep(1, "late"))), 0.3)
    except TimeoutError:
        print("wait_for(shield) timeout at", now(), "inner done", inner_t2.done())
    print("inner2", await inner_t2, "at", now())
    async def fails():
        await asyncio.sleep(0.1)
        raise ValueError("inner failed")
    try:
        await asyncio.shield(fails())
    except ValueError as e:
        print("ValueError", e)

async def as_completed():
    async def job(name, d):
        await asyncio.sleep(d)
        return name
    ts = [asyncio.create_task(job(n, d)) for n, d in (("A", 0.3), ("B", 0.1), ("C", 0.2))]
    for nxt in asyncio.as_completed(ts):
        r = await nxt
        print("got", r, "at", now())
    ts = [asyncio.create_task(job(n, d)) for n, d in (("D", 0.3), ("E", 0.1), ("F", 2))]
    try:
        for nxt in asyncio.as_completed(ts, timeout=0.5):
            r = await nxt
            print("got", r, "at", now())
    except TimeoutError:
        print("TimeoutError at", now(), "F done", ts[2].done())
    ts[2].cancel()
    async def bad():
        await asyncio.sleep(0.1)
        raise ValueError("bad")
    for nxt in asyncio.as_completed([job("G", 0.2), bad()]):
        try:
            print("got", await nxt, "at", now())
        except ValueError as e:
            print("ValueError", e, "at", now())
    # cancelling the task that awaits the next result
    ts = [asyncio.create_task(job("H", 1))]
    it = iter(asyncio.as_completed(ts))
    w = asyncio.create_task(next(it))
    await asyncio.sleep(0.5)
    w.cancel()
    await asyncio.gather(w, return_exceptions=True)
    print("waiter cancelled", w.cancelled(), "H done", ts[0].done())
    await ts[0]
    ts = [asyncio.create_task(job("I", 1))]
    it = iter(asyncio.as_completed(ts))
    try:
        await asyncio.wait_for(next(it), 0.5)
    except TimeoutError:
        print("wait_for(next) timeout at", now(), "I done", ts[0].done())
    print("I", await ts[0], "at", now())

for f in (future_basic, future_cancel, shield, as_completed):
    print("==", f.__name__)
    vtime.run(f())
