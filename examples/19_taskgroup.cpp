// 19_taskgroup.cpp — structured concurrency with TaskGroup (Python 3.11's asyncio.TaskGroup).
//
//   async with asyncio.TaskGroup() as tg:
//       t1 = tg.create_task(fetch("users", 1.0))
//       t2 = tg.create_task(fetch("orders", 0.5))
//   print(t1.result(), t2.result())
//
// Leaving the block waits for every task. If one fails, the others (and the block's body) are
// cancelled, and all the failures come out together as an ExceptionGroup.
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <string>

using namespace std::chrono_literals;

asyncio::Task<std::string> fetch(std::string what, double seconds, bool fail = false) {
  try {
    co_await asyncio::sleep(seconds);
  } catch (const asyncio::CancelledError&) {
    std::printf("  %s: cancelled\n", what.c_str());
    throw;  // always let a cancellation propagate
  }
  if (fail) throw asyncio::RuntimeError(what + ": server error");
  std::printf("  %s: done after %.1f s\n", what.c_str(), seconds);
  co_return what + " data";
}

asyncio::Task<> main_async() {
  // 1. Everything succeeds: the block ends when the slowest task is done.
  std::printf("all succeed:\n");
  asyncio::TaskHandle<std::string> users, orders;
  co_await asyncio::async_with(asyncio::TaskGroup{}, [&](asyncio::TaskGroup& tg) -> asyncio::Task<> {
    users = tg.create_task(fetch("users", 1.0));
    orders = tg.create_task(fetch("orders", 0.5));
    co_return;
  });
  std::printf("results: %s, %s\n", users.result().c_str(), orders.result().c_str());

  // 2. One task fails: its siblings are cancelled, the error arrives in an ExceptionGroup.
  std::printf("one fails:\n");
  try {
    co_await asyncio::async_with(asyncio::TaskGroup{}, [&](asyncio::TaskGroup& tg) -> asyncio::Task<> {
      tg.create_task(fetch("users", 1.0));
      tg.create_task(fetch("payments", 0.3, /*fail=*/true));
      tg.create_task(fetch("orders", 2.0));
      co_return;
    });
  } catch (const asyncio::ExceptionGroup& eg) {
    std::printf("%s\n", eg.what());
    for (auto& e : eg.exceptions()) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        std::printf("  - %s\n", x.what());
      }
    }
  }
}

int main() { asyncio::run(main_async()); }
