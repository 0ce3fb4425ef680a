# Tutorial: "Async Await Python" -- ### Konsep Dasar / #### await
# Verbatim.
import asyncio

async def proses_lama():
    print("Mulai proses...")
    await asyncio.sleep(2)  # Simulasi operasi async
    print("Proses selesai!")
    return "Hasil"

async def main():
    hasil = await proses_lama()
    print(f"Mendapat: {hasil}")

asyncio.run(main())
