# Tutorial: "Async Await Python" -- ### Semaphore untuk Rate Limiting
# Verbatim.  10 downloads of 2 s, at most 3 at a time: batches start at
# t=0 (file_0..2), 2 (file_3..5), 4 (file_6..8), 6 (file_9); total 8 s.
#
# Ordering: the three downloads of a batch finish in the same event-loop
# iteration, so all three "Finished" lines come before the next batch's
# "Downloading" lines (each release() hands the semaphore to the oldest
# waiter, whose task then runs after the currently-ready tasks).
import asyncio

async def download(semaphore: asyncio.Semaphore, url: str):
    async with semaphore:  # Hanya N request bersamaan
        print(f"Downloading {url}...")
        await asyncio.sleep(2)
        print(f"Finished {url}")
        return url

async def main():
    # Maksimal 3 download bersamaan
    semaphore = asyncio.Semaphore(3)
    
    urls = [f"file_{i}.txt" for i in range(10)]
    tasks = [download(semaphore, url) for url in urls]
    
    await asyncio.gather(*tasks)

asyncio.run(main())
