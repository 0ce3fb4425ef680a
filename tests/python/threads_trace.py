# Reference for tests/test_threads.cpp "to_thread trace matches CPython".
# Run: python3 tests/python/threads_trace.py  (prints the trace the C++ test asserts)
import asyncio, time

def blocking(x):
    time.sleep(0.05)
    return x * 2

def boom():
    raise ValueError("bad value on worker")

async def main():
    print("start")
    r = await asyncio.to_thread(blocking, 21)
    print("result", r)
    try:
        await asyncio.to_thread(boom)
    except ValueError as e:
        print("error", e)
    t = asyncio.create_task(asyncio.to_thread(time.sleep, 0.2))
    await asyncio.sleep(0.01)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        print("cancelled")
    try:
        await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.2), 0.05)
    except asyncio.TimeoutError:
        print("timeout")
    rs = await asyncio.gather(*(asyncio.to_thread(lambda i=i: i * i) for i in range(1000)))
    print("gather", len(rs), sum(rs))

asyncio.run(main())
