// Tutorial "Async Await Python" — Mengapa Asynchronous? (why asynchronous?)
//
// The same three 2-second jobs, first called one after the other as blocking functions (6 s),
// then as coroutines run together with asyncio::gather (2 s). Python redefines the three names;
// C++ keeps both sets apart in two namespaces, sinkron and asinkron. The blocking time.sleep()
// and time.perf_counter() are asyncio::testing::blocking_sleep() and perf_counter(), which
// honour ASYNCIO_VIRTUAL_TIME=1 (the program then finishes at once and prints the same times).
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

#include <string>

// --- Synchronous -------------------------------------------------------
namespace sinkron {
std::string ambil_data_dari_api() {
  asyncio::testing::blocking_sleep(2);
  return "data dari api";
}

std::string ambil_data_dari_database() {
  asyncio::testing::blocking_sleep(2);
  return "data dari database";
}

std::string baca_file_besar() {
  asyncio::testing::blocking_sleep(2);
  return "isi file besar";
}
}  // namespace sinkron

// --- Asynchronous ------------------------------------------------------
namespace asinkron {
asyncio::Task<std::string> ambil_data_dari_api() {
  co_await asyncio::sleep(2);
  co_return "data dari api";
}

asyncio::Task<std::string> ambil_data_dari_database() {
  co_await asyncio::sleep(2);
  co_return "data dari database";
}

asyncio::Task<std::string> baca_file_besar() {
  co_await asyncio::sleep(2);
  co_return "isi file besar";
}

asyncio::Task<> main_() {
  // Asynchronous - berjalan bersamaan
  [[maybe_unused]] auto [hasil1, hasil2, hasil3] = co_await asyncio::gather(
      ambil_data_dari_api(),
      ambil_data_dari_database(),
      baca_file_besar());
  // Total: ~2 detik (paralel)
}
}  // namespace asinkron

int main() {
  double mulai = asyncio::testing::perf_counter();
  {
    using namespace sinkron;
    // Synchronous - menunggu satu per satu
    auto hasil1 = ambil_data_dari_api();       // Tunggu 2 detik
    auto hasil2 = ambil_data_dari_database();  // Tunggu 2 detik
    auto hasil3 = baca_file_besar();           // Tunggu 2 detik
    // Total: 6 detik
  }
  fmt::print("Total waktu: {:.1f} detik (Synchronous)\n", asyncio::testing::perf_counter() - mulai);

  mulai = asyncio::testing::perf_counter();
  asyncio::run(asinkron::main_());
  fmt::print("Total waktu: {:.1f} detik (Asynchronous)\n", asyncio::testing::perf_counter() - mulai);
}
