// Tutorial "Async Await Python" — Menjalankan Tasks Secara Bersamaan › asyncio.gather().
//
// asyncio::gather(a, b, c) runs the three downloads concurrently and gives their results in
// argument order. Python returns a list; C++ returns a std::tuple (use structured bindings
// `auto [a, b, c] = ...` to unpack it). It is printed the way Python prints the list.
// The total time is measured around asyncio::run() as in the Python script: 3 s, not 6 s.
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

#include <string>
#include <tuple>

// Python's repr of a list of strings: ['a', 'b', 'c'].
template <class... S>
std::string repr_list(const std::tuple<S...>& items) {
  std::string out;
  std::apply([&](const auto&... s) { ((out += (out.empty() ? "'" : ", '") + s + "'"), ...); }, items);
  return "[" + out + "]";
}

asyncio::Task<std::string> download_file(std::string nama, int durasi) {
  fmt::print("Mulai download {}...\n", nama);
  co_await asyncio::sleep(durasi);
  fmt::print("Selesai download {}\n", nama);
  co_return nama + " downloaded";
}

asyncio::Task<> main_() {
  // Jalankan semua secara bersamaan
  auto hasil = co_await asyncio::gather(
      download_file("file1.txt", 2),
      download_file("file2.txt", 3),
      download_file("file3.txt", 1));
  fmt::print("Semua hasil: {}\n", repr_list(hasil));
}

int main() {
  // time.perf_counter() that also counts virtual time under ASYNCIO_VIRTUAL_TIME=1
  double mulai = asyncio::testing::perf_counter();
  asyncio::run(main_());
  fmt::print("Total waktu: {:.1f} detik\n", asyncio::testing::perf_counter() - mulai);
}
// Output:
// Mulai download file1.txt...
// Mulai download file2.txt...
// Mulai download file3.txt...
// Selesai download file3.txt (setelah 1 detik)
// Selesai download file1.txt (setelah 2 detik)
// Selesai download file2.txt (setelah 3 detik)
// Total waktu: ~3 detik (bukan 6 detik)
