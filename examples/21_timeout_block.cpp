// 21_timeout_block.cpp — a deadline for a whole block of code (Python 3.11's asyncio.timeout).
//
//   try:
//       async with asyncio.timeout(1.0) as cm:
//           await step("connect", 0.4)
//           await step("query", 0.8)      # the deadline passes here
//   except TimeoutError:
//       print("gave up; expired =", cm.expired())
//
// Unlike wait_for(), which wraps one awaitable, timeout() covers every await in the block, and
// the deadline can be moved while inside (reschedule).
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <string>

using namespace std::chrono_literals;

asyncio::Task<> step(std::string what, double seconds) {
  std::printf("%s...\n", what.c_str());
  co_await asyncio::sleep(seconds);
  std::printf("%s done\n", what.c_str());
}

asyncio::Task<> main_async() {
  auto& loop = asyncio::get_running_loop();

  // 1. The block runs out of time: the current await is cancelled, TimeoutError comes out.
  auto cm = asyncio::timeout(1s);
  try {
    co_await asyncio::async_with(cm, [&](asyncio::Timeout&) -> asyncio::Task<> {
      co_await step("connect", 0.4);
      co_await step("query", 0.8);  // would end at 1.2 s: cut off at 1.0 s
    });
  } catch (const asyncio::TimeoutError&) {
    std::printf("gave up; expired = %s\n", cm.expired() ? "true" : "false");
  }

  // 2. Moving the deadline from inside: the query is allowed to finish.
  co_await asyncio::async_with(asyncio::timeout(1s), [&](asyncio::Timeout& t) -> asyncio::Task<> {
    co_await step("connect", 0.4);
    t.reschedule(loop.time() + 2.0);  // "this server is slow, give it 2 more seconds"
    co_await step("query", 0.8);
  });
  std::printf("finished in time\n");
}

int main() { asyncio::run(main_async()); }
