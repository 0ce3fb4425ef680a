// Tutorial "Async Await Python" — Konsep Dasar › await.
//
// `await x` is `co_await x`; `asyncio.sleep(2)` is `asyncio::sleep(2)` (seconds as a number, or
// a std::chrono duration such as 2s). Awaiting a coroutine runs it inline, as in Python.
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

#include <string>

asyncio::Task<std::string> proses_lama() {
  fmt::print("Mulai proses...\n");
  co_await asyncio::sleep(2);  // Simulasi operasi async
  fmt::print("Proses selesai!\n");
  co_return "Hasil";
}

asyncio::Task<> main_() {
  auto hasil = co_await proses_lama();
  fmt::print("Mendapat: {}\n", hasil);
}

// Python's `async def main()` is called main_() here: in C++ `main` is the program's entry point.
int main() { asyncio::run(main_()); }
