# What Python's debug mode reports (tests/test_debug.cpp checks the same three reports; reprs of
# tasks and coroutines differ, so the C++ test compares the messages' stable parts).
# Run: python3.11 -X dev tests/python/debug.py 2>&1 | grep -v '^ ' > debug.out
import asyncio, threading, time, warnings, gc

warnings.simplefilter("always")

async def forgotten():
    await asyncio.sleep(0)

async def slow():
    time.sleep(0.15)          # blocks the loop for 150 ms

async def main():
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda l, ctx: print("handler:", ctx["message"].split(" took ")[0][:16], "took" in ctx["message"]))
    print("== never_awaited")
    forgotten()               # RuntimeWarning: coroutine 'forgotten' was never awaited
    gc.collect()
    print("== slow_callback")
    await asyncio.create_task(slow(), name="slowpoke")
    print("== foreign_thread")
    def other():
        try:
            loop.call_soon(lambda: None)
        except RuntimeError as e:
            print("RuntimeError", e)
    t = threading.Thread(target=other); t.start(); t.join()

asyncio.run(main(), debug=True)
