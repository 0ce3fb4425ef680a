# Tutorial: "Async Await Python" -- ### Menjalankan Coroutine
# Verbatim.  Note: exactly as in the tutorial, "Cara 2" only *defines*
# main(); nothing ever runs it (it is meant to be awaited from some other
# coroutine).  So the whole output is the single "Hello!" of "Cara 1",
# printed after 1 second.
import asyncio

async def hello():
    await asyncio.sleep(1)
    return "Hello!"

# Cara 1: asyncio.run() - untuk script standalone
if __name__ == "__main__":
    hasil = asyncio.run(hello())
    print(hasil)

# Cara 2: await - dari dalam coroutine lain
async def main():
    hasil = await hello()
    print(hasil)
