# Tutorial: "Async Await Python" -- ### Async Context Manager
# Verbatim.  Takes 1 + 0.5 + 0.5 = 2 s.
import asyncio

class AsyncDatabaseConnection:
    async def __aenter__(self):
        print("Membuka koneksi database...")
        await asyncio.sleep(1)
        return self
    
    async def __aexit__(self, exc_type, exc_val, exc_tb):
        print("Menutup koneksi database...")
        await asyncio.sleep(0.5)
    
    async def query(self, sql: str) -> list:
        await asyncio.sleep(0.5)
        return ["hasil1", "hasil2"]

async def main():
    async with AsyncDatabaseConnection() as db:
        hasil = await db.query("SELECT * FROM users")
        print(f"Query result: {hasil}")

asyncio.run(main())
