# Reference traces for tests/test_locks.cpp (run: python3.13 tests/python/locks.py).
# Each scenario prints "== name" then its trace; the C++ test asserts the same lines.
import asyncio

async def lock_fifo():
    lock = asyncio.Lock()
    async def worker(n):
        async with lock:
            print(f"{n} in t={asyncio.get_running_loop().time() - t0:.1f}")
            await asyncio.sleep(0.1)
            print(f"{n} out")
    async def newcomer():
        await asyncio.sleep(0.1)  # arrives just as A releases: must queue behind B and C
        async with lock:
            print("late in")
    t0 = asyncio.get_running_loop().time()
    await asyncio.gather(worker("A"), worker("B"), worker("C"), newcomer())
    print("locked", lock.locked())

async def lock_cancel():
    lock = asyncio.Lock()
    await lock.acquire()
    async def waiter(n):
        try:
            async with lock:
                print(n, "got it")
        except asyncio.CancelledError:
            print(n, "cancelled")
            raise
    b = asyncio.create_task(waiter("B"))
    c = asyncio.create_task(waiter("C"))
    d = asyncio.create_task(waiter("D"))
    await asyncio.sleep(0)
    b.cancel()            # cancelled while queued
    await asyncio.sleep(0)
    lock.release()        # wakes C ...
    c.cancel()            # ... which is cancelled after being woken: D must get the lock
    await asyncio.gather(b, c, d, return_exceptions=True)
    print("locked", lock.locked(), "waiters", len(lock._waiters))

async def lock_wait_for():
    lock = asyncio.Lock()
    await lock.acquire()
    try:
        await asyncio.wait_for(lock.acquire(), 0.5)
    except TimeoutError:
        print(f"timeout at {asyncio.get_running_loop().time() - t0:.1f}")
    lock.release()
    await asyncio.wait_for(lock.acquire(), 0.5)
    print("acquired, waiters", len(lock._waiters))
    lock.release()
    try:
        lock.release()
    except RuntimeError as e:
        print("RuntimeError", e)

async def event_basic():
    ev = asyncio.Event()
    async def w(n):
        r = await ev.wait()
        print(n, "woke", r)
    ts = [asyncio.create_task(w(n)) for n in "ABC"]
    await asyncio.sleep(0)
    ts[1].cancel()
    await asyncio.sleep(0)
    print("set")
    ev.set()
    print("is_set", ev.is_set())
    await asyncio.gather(*ts, return_exceptions=True)
    print("B cancelled", ts[1].cancelled(), "waiters", len(ev._waiters))
    ev.clear()
    try:
        await asyncio.wait_for(ev.wait(), 1)
    except TimeoutError:
        print("timeout, waiters", len(ev._waiters))
    ev.set()
    print("immediate", await ev.wait())

async def condition_basic():
    cond = asyncio.Condition()
    items = []
    async def consumer(n):
        async with cond:
            await cond.wait_for(lambda: items)
            print(n, "got", items.pop(0))
    ts = [asyncio.create_task(consumer(n)) for n in "ABC"]
    await asyncio.sleep(0)
    try:
        cond.notify()
    except RuntimeError as e:
        print("RuntimeError", e)
    try:
        await cond.wait()
    except RuntimeError as e:
        print("RuntimeError", e)
    async with cond:
        items.append(1)
        cond.notify(1)
        print("notified 1")
    await asyncio.sleep(0.01)
    async with cond:
        items.extend([2, 3])
        cond.notify_all()
        print("notified all")
    await asyncio.gather(*ts)
    print("waiters", len(cond._waiters), "locked", cond.locked())

async def condition_cancel():
    cond = asyncio.Condition()
    async def w(n):
        async with cond:
            try:
                await cond.wait()
                print(n, "notified, locked", cond.locked())
            except asyncio.CancelledError:
                print(n, "cancelled, locked", cond.locked())
                raise
    a = asyncio.create_task(w("A"))
    b = asyncio.create_task(w("B"))
    c = asyncio.create_task(w("C"))
    await asyncio.sleep(0)
    c.cancel()                    # cancelled while waiting
    await asyncio.sleep(0)
    async with cond:
        cond.notify(1)            # notifies A ...
        a.cancel()                # ... which is cancelled: A passes the notification to B
    await asyncio.gather(a, b, c, return_exceptions=True)
    print("waiters", len(cond._waiters), "locked", cond.locked())
    async with cond:
        try:
            await asyncio.wait_for(cond.wait(), 0.5)
        except TimeoutError:
            print("timeout, locked", cond.locked(), "waiters", len(cond._waiters))
    print("locked", cond.locked())

async def semaphore():
    sem = asyncio.Semaphore(2)
    async def worker(n, d):
        async with sem:
            print(n, "in")
            await asyncio.sleep(d)
            print(n, "out")
    await asyncio.gather(worker("A", 0.2), worker("B", 0.1), worker("C", 0.1), worker("D", 0.1))
    print("value", sem._value)
    await sem.acquire(); await sem.acquire()
    async def waiter(n):
        try:
            await sem.acquire()
            print(n, "acquired")
        except asyncio.CancelledError:
            print(n, "cancelled")
            raise
    b = asyncio.create_task(waiter("B"))
    c = asyncio.create_task(waiter("C"))
    d = asyncio.create_task(waiter("D"))
    await asyncio.sleep(0)
    b.cancel()
    await asyncio.sleep(0)
    sem.release()
    c.cancel()
    await asyncio.gather(b, c, d, return_exceptions=True)
    print("locked", sem.locked(), "value", sem._value)
    try:
        await asyncio.wait_for(sem.acquire(), 0.3)
    except TimeoutError:
        print("timeout, value", sem._value)
    sem.release(); sem.release()
    print("value", sem._value)
    try:
        asyncio.Semaphore(-1)
    except ValueError as e:
        print("ValueError", e)
    bs = asyncio.BoundedSemaphore(1)
    await bs.acquire()
    bs.release()
    try:
        bs.release()
    except ValueError as e:
        print("ValueError", e)

async def barrier():
    b = asyncio.Barrier(3)
    async def w(n, d):
        await asyncio.sleep(d)
        i = await b.wait()
        print(n, "index", i)
    ts = [asyncio.create_task(w(n, d)) for n, d in (("A", 0.3), ("B", 0.1), ("C", 0.2))]
    await asyncio.sleep(0.25)
    print("n_waiting", b.n_waiting)
    await asyncio.gather(*ts)
    print("n_waiting", b.n_waiting, "broken", b.broken)
    async def w2(n):
        try:
            await b.wait()
        except asyncio.BrokenBarrierError:
            print(n, "broken")
        except asyncio.CancelledError:
            print(n, "cancelled")
            raise
    ts = [asyncio.create_task(w2(n)) for n in "XY"]
    await asyncio.sleep(0)
    ts[0].cancel()
    await asyncio.sleep(0)
    print("n_waiting", b.n_waiting)
    await b.reset()
    await asyncio.gather(*ts, return_exceptions=True)
    print("after reset n_waiting", b.n_waiting, "broken", b.broken)
    try:
        await asyncio.wait_for(b.wait(), 0.5)
    except TimeoutError:
        print("timeout n_waiting", b.n_waiting)
    await b.abort()
    print("broken", b.broken)
    try:
        await b.wait()
    except asyncio.BrokenBarrierError as e:
        print("BrokenBarrierError")
    try:
        asyncio.Barrier(0)
    except ValueError as e:
        print("ValueError", e)

for f in (lock_fifo, lock_cancel, lock_wait_for, event_basic, condition_basic, condition_cancel, semaphore, barrier):
    print("==", f.__name__)
    async def main():
        global t0
        t0 = asyncio.get_running_loop().time()
        await f()
    asyncio.run(main())
