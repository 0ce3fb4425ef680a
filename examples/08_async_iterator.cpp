// Tutorial "Async Await Python" — Async Iterator.
//
// Python's __anext__ is anext(): an awaitable of std::optional<T>. Returning std::nullopt is
// `raise StopAsyncIteration` (throwing asyncio::StopAsyncIteration works too). __aiter__ is not
// needed: the object itself is iterated.
//
//   async for num in AsyncCounter(5):        AsyncCounter it(5);
//       print(f"Count: {num}")               while (auto num = co_await it.anext())
//                                                fmt::print("Count: {}\n", *num);
//
// (or: co_await asyncio::async_for(AsyncCounter(5), [&](int num) -> asyncio::Task<> {...});)
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

#include <optional>

class AsyncCounter {
 public:
  explicit AsyncCounter(int max_count) : max_count(max_count), current(0) {}

  asyncio::Task<std::optional<int>> anext() {
    if (current >= max_count) co_return std::nullopt;  // raise StopAsyncIteration
    co_await asyncio::sleep(0.5);
    current += 1;
    co_return current;
  }

  int max_count;
  int current;
};

asyncio::Task<> main_() {
  AsyncCounter it(5);
  while (auto num = co_await it.anext()) {
    fmt::print("Count: {}\n", *num);
  }
}

int main() { asyncio::run(main_()); }
