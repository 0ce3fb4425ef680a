# Reference traces for tests/test_tasks.cpp and tests/test_events.cpp (CPython 3.11).
# Run: python3 tests/python/core_scheduling.py  — each scenario prints its trace.
import asyncio

def scenario(fn):
    print(f"--- {fn.__name__}")
    asyncio.run(fn())
    return fn

async def worker(name, n):
    for i in range(n):
        print(f"{name} {i}")
        await asyncio.sleep(0)

@scenario
async def create_task_is_never_inline_and_fifo():
    print("main start")
    a = asyncio.create_task(worker("a", 3))
    b = asyncio.create_task(worker("b", 2))
    print("main after create")
    await asyncio.sleep(0)
    print("main after sleep0")
    await a
    await b
    print("main end")

async def sleeper(name, d):
    await asyncio.sleep(d)
    print(f"{name} woke")

@scenario
async def timers_at_one_instant_run_in_scheduling_order():
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    loop.call_at(t0 + 1, lambda: print("cb1"))
    t1 = asyncio.create_task(sleeper("s1", 1))
    t2 = asyncio.create_task(sleeper("s2", 1))
    await asyncio.sleep(0)
    loop.call_at(t0 + 1, lambda: print("cb2"))
    await asyncio.gather(t1, t2)

async def child():
    try:
        print("child sleeping")
        await asyncio.sleep(10)
    except asyncio.CancelledError as e:
        print(f"child cancelled: {e.args}")
        raise

@scenario
async def cancel_reaches_the_suspension_point():
    t = asyncio.create_task(child())
    await asyncio.sleep(0)
    print("cancel ->", t.cancel("stop"))
    print("cancelling", t.cancelling())
    try:
        await t
    except asyncio.CancelledError as e:
        print("main saw cancel", t.cancelled(), e.args)
    t2 = asyncio.create_task(child())
    t2.cancel()
    try:
        await t2
    except asyncio.CancelledError:
        print("t2 cancelled before start", t2.cancelled())

async def stubborn():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        print("stubborn caught, uncancel ->", asyncio.current_task().uncancel())
    await asyncio.sleep(1)
    return "survived"

@scenario
async def a_task_may_suppress_cancellation():
    t = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    t.cancel()
    print("result", await t, "cancelled", t.cancelled())

async def boom(d, msg):
    await asyncio.sleep(d)
    raise ValueError(msg)

async def value(d, v):
    await asyncio.sleep(d)
    print(f"value {v} done")
    return v

@scenario
async def gather_results_and_exceptions():
    r = await asyncio.gather(value(2, 1), value(1, 2), value(3, 3))
    print("gather", r)
    r = await asyncio.gather(value(1, 4), boom(2, "bad"), return_exceptions=True)
    print("return_exceptions", [type(x).__name__ if isinstance(x, Exception) else x for x in r])
    try:
        await asyncio.gather(value(1, 5), boom(0.5, "first"), boom(1.5, "second"))
    except ValueError as e:
        print("gather raised", e)

@scenario
async def cancelling_gather_cancels_children():
    g = asyncio.gather(child(), child())
    t = asyncio.create_task(asyncio.sleep(0.1))
    await asyncio.sleep(0)
    g.cancel()
    try:
        await g
    except asyncio.CancelledError:
        print("gather cancelled")
    await t

@scenario
async def wait_modes():
    ts = [asyncio.create_task(value(d, d)) for d in (3, 1, 2)]
    done, pending = await asyncio.wait(ts, return_when=asyncio.FIRST_COMPLETED)
    print("first", sorted(t.result() for t in done), len(pending))
    done, pending = await asyncio.wait(ts, timeout=0.5)
    print("timeout", len(done), len(pending))
    done, pending = await asyncio.wait(ts)
    print("all", sorted(t.result() for t in done), len(pending))
    ts = [asyncio.create_task(boom(1, "x")), asyncio.create_task(value(5, 9))]
    done, pending = await asyncio.wait(ts, return_when=asyncio.FIRST_EXCEPTION)
    print("first_exception", len(done), len(pending))
    pending.pop().cancel()
    await asyncio.sleep(0)

async def slow_cleanup():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        print("inner cleaning up")
        await asyncio.sleep(0.5)
        print("inner cleaned")
        raise

@scenario
async def wait_for_cancels_inner_and_waits():
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    try:
        await asyncio.wait_for(slow_cleanup(), 1)
    except asyncio.TimeoutError:
        print(f"timeout after {loop.time() - t0:.1f}")
    print("fast", await asyncio.wait_for(value(0.5, 7), 1))

async def outer_waits():
    await asyncio.wait_for(slow_cleanup(), 5)

@scenario
async def cancelling_wait_for_cancels_inner():
    t = asyncio.create_task(outer_waits())
    await asyncio.sleep(1)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        print("outer cancelled")

@scenario
async def done_callbacks_run_via_call_soon_in_order():
    t = asyncio.create_task(value(1, 3))
    t.add_done_callback(lambda f: print("cb1", f.result()))
    t.add_done_callback(lambda f: print("cb2"))
    await t
    print("after await")
    await asyncio.sleep(0)
    print("after sleep0")

async def leftover():
    try:
        await asyncio.sleep(100)
    finally:
        print("leftover cleaned up by run()")

@scenario
async def run_cancels_leftover_tasks():
    asyncio.create_task(leftover())
    await asyncio.sleep(0)
    print("main returns")

async def yields_then_returns(name, n):
    for _ in range(n):
        await asyncio.sleep(0)
    print(f"{name} done")
    return n

async def ticker(n):
    for i in range(n):
        print(f"tick {i}")
        await asyncio.sleep(0)

@scenario
async def gather_resumes_on_the_same_iteration_as_asyncio():
    # Children finish on iterations 1, 3 and 2; a ticker shows on which iteration gather
    # resumes its caller (and wait(ALL_COMPLETED) likewise).
    t = asyncio.create_task(ticker(8))
    r = await asyncio.gather(yields_then_returns("a", 0), yields_then_returns("b", 2),
                             yields_then_returns("c", 1))
    print("gather", r)
    tasks = [asyncio.create_task(yields_then_returns(n, k)) for n, k in (("d", 1), ("e", 0))]
    done, pending = await asyncio.wait(tasks)
    print("wait", len(done), len(pending))
    await t

async def child_value(i):
    return i

@scenario
async def gather_registers_when_called():
    # gather() adds its done callbacks when it is called: awaited after its children finished,
    # it is already done and does not yield (a call_soon made just before runs after it).
    loop = asyncio.get_running_loop()
    t = asyncio.create_task(child_value(1))
    g = asyncio.gather(t, child_value(2))
    for _ in range(3):
        await asyncio.sleep(0)
    loop.call_soon(lambda: print("call_soon callback"))
    r = await g
    print("gathered", r)
    await asyncio.sleep(0)

async def announced(name, d, v):
    print(f"{name} starts")
    await asyncio.sleep(d)
    return v

@scenario
async def wait_for_schedules_its_work_when_awaited():
    # wait_for is a coroutine: nothing is scheduled until it is awaited, and its deadline counts
    # from then (gather, a function, schedules its children when called).
    w = asyncio.wait_for(announced("inner", 0.5, 1), 1)
    g = asyncio.gather(announced("gathered", 0, 2))
    print("created")
    await asyncio.sleep(2)
    print("slept")
    print("wait_for", await w)
    print("gather", await g)
