// Tutorial "Async Await Python" — Konsep Dasar › Coroutine.
//
//   async def salam():             asyncio::Task<std::string> salam() {
//       print("Halo!")                 fmt::print("Halo!\n");
//       return "Selesai"               co_return "Selesai";
//                                  }
//   asyncio.run(salam())           asyncio::run(salam());
//
// A coroutine is any function returning asyncio::Task<T>; like Python's, calling it only creates
// the coroutine, and nothing runs until asyncio::run() (or co_await) drives it.
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

#include <string>

// Ini adalah coroutine
asyncio::Task<std::string> salam() {
  fmt::print("Halo!\n");
  co_return "Selesai";
}

int main() {
  // Menjalankan coroutine
  asyncio::run(salam());
}
