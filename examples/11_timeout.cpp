// Tutorial "Async Await Python" — Timeout dan Error Handling.
//
// asyncio::wait_for(coro, 2.0) cancels operasi_lama() after 2 s, waits for it to finish
// cancelling, then throws asyncio::TimeoutError (since Python 3.11 the same type as the builtin
// TimeoutError). `except asyncio.TimeoutError:` is `catch (const asyncio::TimeoutError&)`.
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

#include <string>

asyncio::Task<std::string> operasi_lama() {
  co_await asyncio::sleep(10);
  co_return "Selesai";
}

asyncio::Task<> main_() {
  try {
    // Set timeout 2 detik
    auto hasil = co_await asyncio::wait_for(operasi_lama(), /*timeout=*/2.0);
    fmt::print("{}\n", hasil);
  } catch (const asyncio::TimeoutError&) {
    fmt::print("Operasi timeout!\n");
  }
}

int main() { asyncio::run(main_()); }
