# Reference traces for tests/test_queues.cpp (run: python3.13 tests/python/queues.py > queues.out).
import asyncio

def now():
    return f"{asyncio.get_running_loop().time() - t0:.1f}"

async def basic():
    q = asyncio.Queue(2)
    print("maxsize", q.maxsize, "empty", q.empty(), "full", q.full())
    async def producer():
        for i in range(5):
            await q.put(i)
            print("put", i, "t", now(), "qsize", q.qsize())
    async def consumer():
        for _ in range(5):
            await asyncio.sleep(0.1)
            v = await q.get()
            print("got", v, "t", now())
            q.task_done()
    await asyncio.gather(producer(), consumer())
    await q.join()
    print("joined, empty", q.empty())
    q.put_nowait(1); q.put_nowait(2)
    try:
        q.put_nowait(3)
    except asyncio.QueueFull:
        print("QueueFull")
    print(q.get_nowait(), q.get_nowait())
    try:
        q.get_nowait()
    except asyncio.QueueEmpty:
        print("QueueEmpty")
    q.task_done(); q.task_done()
    try:
        q.task_done()
    except ValueError as e:
        print("ValueError", e)

async def orders():
    pq = asyncio.PriorityQueue()
    for item in [(3, "c"), (1, "a"), (2, "b"), (0, "z")]:
        pq.put_nowait(item)
    print("priority", [pq.get_nowait() for _ in range(4)])
    lq = asyncio.LifoQueue()
    for i in range(4):
        lq.put_nowait(i)
    print("lifo", [lq.get_nowait() for _ in range(4)])

async def get_cancel():
    q = asyncio.Queue()
    async def getter(n):
        try:
            v = await q.get()
            print(n, "got", v)
        except asyncio.CancelledError:
            print(n, "cancelled")
            raise
    ts = [asyncio.create_task(getter(n)) for n in "ABC"]
    await asyncio.sleep(0)
    ts[0].cancel()                 # queued
    await asyncio.sleep(0)
    q.put_nowait(1)                # wakes B ...
    ts[1].cancel()                 # ... which is cancelled: C must get the item
    await asyncio.gather(*ts, return_exceptions=True)
    print("qsize", q.qsize(), "getters", len(q._getters))
    try:
        await asyncio.wait_for(q.get(), 0.5)
    except TimeoutError:
        print("get timeout t", now(), "getters", len(q._getters))

async def put_cancel():
    q = asyncio.Queue(1)
    q.put_nowait("x")
    async def putter(n):
        try:
            await q.put(n)
            print(n, "put")
        except asyncio.CancelledError:
            print(n, "cancelled")
            raise
    ts = [asyncio.create_task(putter(n)) for n in ("P1", "P2", "P3")]
    await asyncio.sleep(0)
    ts[0].cancel()
    await asyncio.sleep(0)
    print("got", q.get_nowait())   # wakes P2 ...
    ts[1].cancel()                 # ... cancelled: P3 takes the slot
    await asyncio.gather(*ts, return_exceptions=True)
    print("items", [q.get_nowait() for _ in range(q.qsize())], "putters", len(q._putters))
    q.put_nowait("y")
    try:
        await asyncio.wait_for(q.put("z"), 0.5)
    except TimeoutError:
        print("put timeout t", now(), "putters", len(q._putters), "qsize", q.qsize())

async def join_cancel():
    q = asyncio.Queue()
    q.put_nowait(1)
    async def joiner(n):
        try:
            await q.join()
            print(n, "joined")
        except asyncio.CancelledError:
            print(n, "cancelled")
            raise
    a = asyncio.create_task(joiner("A"))
    b = asyncio.create_task(joiner("B"))
    await asyncio.sleep(0)
    a.cancel()
    try:
        await asyncio.wait_for(q.join(), 0.5)
    except TimeoutError:
        print("join timeout t", now())
    q.get_nowait()
    q.task_done()
    await asyncio.gather(a, b, return_exceptions=True)
    print("a cancelled", a.cancelled())

async def shutdown():
    q = asyncio.Queue(1)
    async def getter(n):
        try:
            while True:
                v = await q.get()
                print(n, "got", v)
                q.task_done()
        except asyncio.QueueShutDown:
            print(n, "QueueShutDown")
    async def putter(v):
        try:
            await q.put(v)
            print("put", v)
        except asyncio.QueueShutDown:
            print("put", v, "QueueShutDown")
    g = asyncio.create_task(getter("G"))
    await asyncio.sleep(0)
    q.shutdown()
    await g
    try:
        q.put_nowait(1)
    except asyncio.QueueShutDown:
        print("put_nowait QueueShutDown")
    # graceful: items still come out, then QueueShutDown
    q2 = asyncio.Queue(2)
    q = q2
    q.put_nowait(1); q.put_nowait(2)
    p = asyncio.create_task(putter(3))
    await asyncio.sleep(0)
    q.shutdown()
    await p
    g = asyncio.create_task(getter("H"))
    await g
    await q.join()
    print("joined")
    # immediate: items dropped, join released, blocked getters raise
    q = asyncio.Queue()
    q.put_nowait(1); q.put_nowait(2)
    j = asyncio.create_task(q.join())
    gs = [asyncio.create_task(getter(n)) for n in ("I", "J")]
    await asyncio.sleep(0)
    q.shutdown(immediate=True)
    await asyncio.gather(j, *gs)
    print("qsize", q.qsize(), "joined", j.done())

for f in (basic, orders, get_cancel, put_cancel, join_cancel, shutdown):
    print("==", f.__name__)
    async def main():
        global t0
        t0 = asyncio.get_running_loop().time()
        await f()
    asyncio.run(main())
