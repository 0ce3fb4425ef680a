// Tutorial "Async Await Python" — Menjalankan Coroutine (running a coroutine).
//
// Cara 1: asyncio::run() starts a loop, runs the coroutine to the end and returns its result.
// Cara 2: co_await from inside another coroutine. As in the tutorial, Cara 2 only defines
// main_() and nothing calls it, so the program prints a single "Hello!".
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

#include <string>

asyncio::Task<std::string> hello() {
  co_await asyncio::sleep(1);
  co_return "Hello!";
}

// Cara 2: await - dari dalam coroutine lain
// (Python's `async def main()`; `main` is the program's entry point in C++, hence main_.)
asyncio::Task<> main_() {
  auto hasil = co_await hello();
  fmt::print("{}\n", hasil);
}

// Cara 1: asyncio.run() - untuk script standalone
// (`if __name__ == "__main__":` is C++'s int main())
int main() {
  auto hasil = asyncio::run(hello());
  fmt::print("{}\n", hasil);
}
