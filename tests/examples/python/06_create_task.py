# Tutorial: "Async Await Python" -- ### Menjalankan Tasks Secara Bersamaan /
# #### asyncio.create_task()
#
# Verbatim.  The background task prints at t=0, 1 and 2 s.  At t=3 s both
# main()'s sleep(3) and the task's third sleep(1) are due; main()'s timer
# was scheduled first (at t=0, the task's at t=2) so main() wakes first,
# cancels the task and prints "Task dibatalkan" -- there is no fourth
# "Background task berjalan...".  (A virtual-time port must break timer
# ties in scheduling (FIFO) order to reproduce this.)
#
# Note: the comment "Buat task (tidak langsung dijalankan)" is the
# tutorial's; the task starts running as soon as main() first awaits.
import asyncio

async def background_task():
    while True:
        print("Background task berjalan...")
        await asyncio.sleep(1)

async def main():
    # Buat task (tidak langsung dijalankan)
    task = asyncio.create_task(background_task())
    
    # Lakukan hal lain
    await asyncio.sleep(3)
    
    # Cancel task
    task.cancel()
    print("Task dibatalkan")

asyncio.run(main())
