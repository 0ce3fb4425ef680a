# Tutorial: "Async Await Python" -- ### Async Generator
# Verbatim.  Prints 1..4 (range(1, 5)), takes 4 x 0.5 = 2 s.
import asyncio

async def async_range(start: int, stop: int):
    for i in range(start, stop):
        await asyncio.sleep(0.5)
        yield i

async def main():
    async for num in async_range(1, 5):
        print(num)

asyncio.run(main())
