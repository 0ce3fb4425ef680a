# Tutorial: "Async Await Python" -- ### Best Practices
#
# The tutorial gives two versions of main() ("Salah - Sequential" and
# "Benar - Parallel") calling task_a/task_b/task_c, which it never defines.
# Minimal fillers: each task sleeps 1 second and returns a letter; nothing
# is printed by them.
#
# As requested we print the time of each version, in the same fixed format
# as 01 (wording taken from the tutorial's "Total waktu: ~3 detik" comment):
#     Total waktu: <seconds, 1 decimal> detik (<label from the tutorial>)
# so a real run prints 3.0 (sequential) and 1.0 (parallel).
#
# Both versions are called main() in the tutorial; to keep them line for
# line, the first main() is run and then re-defined by the second one.
import asyncio
import time


async def task_a():
    await asyncio.sleep(1)
    return "a"


async def task_b():
    await asyncio.sleep(1)
    return "b"


async def task_c():
    await asyncio.sleep(1)
    return "c"


# ❌ Salah - Sequential
async def main():
    a = await task_a()  # Tunggu
    b = await task_b()  # Tunggu
    c = await task_c()  # Tunggu

mulai = time.perf_counter()
asyncio.run(main())
print(f"Total waktu: {time.perf_counter() - mulai:.1f} detik (Salah - Sequential)")

# ✅ Benar - Parallel
async def main():
    a, b, c = await asyncio.gather(
        task_a(),
        task_b(),
        task_c()
    )

mulai = time.perf_counter()
asyncio.run(main())
print(f"Total waktu: {time.perf_counter() - mulai:.1f} detik (Benar - Parallel)")
