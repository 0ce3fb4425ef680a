// Tutorial "Async Await Python" — Async Generator.
//
// An `async def` with `yield` is a coroutine returning asyncio::AsyncGenerator<T>: it may both
// co_await and co_yield. Each co_await gen.anext() runs it up to its next co_yield and gives
// that value, or std::nullopt once it has finished (Python's StopAsyncIteration).
//
//   async for num in async_range(1, 5):      auto gen = async_range(1, 5);
//       print(num)                           while (auto num = co_await gen.anext())
//                                                fmt::print("{}\n", *num);
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

asyncio::AsyncGenerator<int> async_range(int start, int stop) {
  for (int i = start; i < stop; ++i) {  // for i in range(start, stop)
    co_await asyncio::sleep(0.5);
    co_yield i;
  }
}

asyncio::Task<> main_() {
  auto gen = async_range(1, 5);
  while (auto num = co_await gen.anext()) {
    fmt::print("{}\n", *num);
  }
}

int main() { asyncio::run(main_()); }
