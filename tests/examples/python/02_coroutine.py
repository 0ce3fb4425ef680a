# Tutorial: "Async Await Python" -- ### Konsep Dasar / #### Coroutine
# Verbatim.  The return value "Selesai" is returned by asyncio.run() but the
# tutorial does not print it, so the only output is "Halo!".
import asyncio

# Ini adalah coroutine
async def salam():
    print("Halo!")
    return "Selesai"

# Menjalankan coroutine
asyncio.run(salam())
