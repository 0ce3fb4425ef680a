# Tutorial: "Async Await Python" -- ### Timeout dan Error Handling
# Verbatim.  operasi_lama() is cancelled after 2 s, so this takes 2 s (not
# 10) and prints only "Operasi timeout!".  (Since Python 3.11
# asyncio.TimeoutError is the builtin TimeoutError.)
import asyncio

async def operasi_lama():
    await asyncio.sleep(10)
    return "Selesai"

async def main():
    try:
        # Set timeout 2 detik
        hasil = await asyncio.wait_for(operasi_lama(), timeout=2.0)
        print(hasil)
    except asyncio.TimeoutError:
        print("Operasi timeout!")

asyncio.run(main())
