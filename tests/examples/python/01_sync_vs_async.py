# Tutorial: "Async Await Python" -- ### Mengapa Asynchronous?
#
# The tutorial only gives two fragments (a synchronous one and an
# asynchronous one using asyncio.gather).  The filler functions below are
# the minimum needed to run them: each one "waits 2 seconds" as the
# tutorial's comments say ("# Tunggu 2 detik") and returns a string.
#
# The fragments print nothing.  As requested for this example we print the
# total time of each part, using the wording of the tutorial's own comments
# ("# Total: 6 detik", "# Total waktu: ~3 detik" in the gather section):
#     Total waktu: <seconds, 1 decimal> detik (<Synchronous|Asynchronous>)
# Rounded to one decimal so that a real run prints 6.0 and 2.0.
#
# Both fragments use the same three names, once as plain functions and once
# as coroutines.  To keep the fragments line for line, the synchronous
# fillers are defined first, used, and then re-defined as coroutines.
import asyncio
import time


# --- Synchronous -------------------------------------------------------
def ambil_data_dari_api():
    time.sleep(2)
    return "data dari api"


def ambil_data_dari_database():
    time.sleep(2)
    return "data dari database"


def baca_file_besar():
    time.sleep(2)
    return "isi file besar"


mulai = time.perf_counter()
# Synchronous - menunggu satu per satu
hasil1 = ambil_data_dari_api()      # Tunggu 2 detik
hasil2 = ambil_data_dari_database() # Tunggu 2 detik
hasil3 = baca_file_besar()          # Tunggu 2 detik
# Total: 6 detik
print(f"Total waktu: {time.perf_counter() - mulai:.1f} detik (Synchronous)")


# --- Asynchronous ------------------------------------------------------
async def ambil_data_dari_api():
    await asyncio.sleep(2)
    return "data dari api"


async def ambil_data_dari_database():
    await asyncio.sleep(2)
    return "data dari database"


async def baca_file_besar():
    await asyncio.sleep(2)
    return "isi file besar"


async def main():
    # Asynchronous - berjalan bersamaan
    hasil1, hasil2, hasil3 = await asyncio.gather(
        ambil_data_dari_api(),
        ambil_data_dari_database(),
        baca_file_besar()
    )
    # Total: ~2 detik (paralel)


mulai = time.perf_counter()
asyncio.run(main())
print(f"Total waktu: {time.perf_counter() - mulai:.1f} detik (Asynchronous)")
