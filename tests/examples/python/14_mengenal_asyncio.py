# Tutorial: "Mengenal AsyncIO Python"
#
# The article targets Python 3.4: @asyncio.coroutine + "yield from" and
# asyncio.async() were removed (asyncio.async is even a syntax error since
# "async" became a keyword in 3.7).  Modern equivalent, keeping the old
# explicit-loop style line for line:
#   @asyncio.coroutine def f(): yield from x   ->  async def f(): await x
#   asyncio.async(coro)                        ->  asyncio.ensure_future(coro)
#   asyncio.get_event_loop() / run_until_complete() / close()  (kept)
#
# The asynchronous part finishes in random order (random 0-2 ms sleeps), so
# its order differs between runs; compare it as a set of lines
# (expected/14_mengenal_asyncio.sorted.txt).  The synchronous part is always
# Task 1..9 in order.
#
# Note: asyncio.get_event_loop() outside a running loop is deprecated since
# Python 3.12 and raises RuntimeError from 3.14; with python3 (3.11) here it
# still creates the loop silently.
import random
from time import sleep
import asyncio


def task(pid):
    sleep(random.randint(0, 2) * 0.001)
    print('Task %s done' % pid)


async def task_coro(pid):
    await asyncio.sleep(random.randint(0, 2) * 0.001)
    print('Task %s done' % pid)


def synchronous():
    for i in range(1, 10):
        task(i)


async def asynchronous():
    tasks = [asyncio.ensure_future(task_coro(i)) for i in range(1, 10)]
    await asyncio.wait(tasks)


print('Synchronous:')
synchronous()

ioloop = asyncio.get_event_loop()
print('Asynchronous:')
ioloop.run_until_complete(asynchronous())

ioloop.close()
