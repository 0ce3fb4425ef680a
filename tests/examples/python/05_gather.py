# Tutorial: "Async Await Python" -- ### Menjalankan Tasks Secara Bersamaan /
# #### asyncio.gather()
#
# Verbatim, plus one addition: the tutorial's "# Output:" comment ends with
# "Total waktu: ~3 detik (bukan 6 detik)", which the snippet itself never
# prints.  To make the output agree with that comment we time the
# asyncio.run() call and print "Total waktu: 3.0 detik" (same fixed format
# as 01 and 13: one decimal).
#
# Differences between the tutorial's "# Output:" comment and real output:
#   * "(setelah 1 detik)", "(setelah 2 detik)", "(setelah 3 detik)" are
#     annotations in the comment, not printed text;
#   * "(bukan 6 detik)" likewise is an annotation, and "~3" is printed as 3.0;
#   * the comment omits the line printed by the snippet itself:
#     "Semua hasil: ['file1.txt downloaded', 'file2.txt downloaded', 'file3.txt downloaded']"
#     (gather returns the results in argument order, not completion order).
import asyncio
import time

async def download_file(nama: str, durasi: int) -> str:
    print(f"Mulai download {nama}...")
    await asyncio.sleep(durasi)
    print(f"Selesai download {nama}")
    return f"{nama} downloaded"

async def main():
    # Jalankan semua secara bersamaan
    hasil = await asyncio.gather(
        download_file("file1.txt", 2),
        download_file("file2.txt", 3),
        download_file("file3.txt", 1),
    )
    print(f"Semua hasil: {hasil}")

mulai = time.perf_counter()
asyncio.run(main())
print(f"Total waktu: {time.perf_counter() - mulai:.1f} detik")
# Output:
# Mulai download file1.txt...
# Mulai download file2.txt...
# Mulai download file3.txt...
# Selesai download file3.txt (setelah 1 detik)
# Selesai download file1.txt (setelah 2 detik)
# Selesai download file2.txt (setelah 3 detik)
# Total waktu: ~3 detik (bukan 6 detik)
