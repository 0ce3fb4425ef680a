// Tutorial "Mengenal AsyncIO Python" — the synchronous loop and the asynchronous one.
//
// Written in the article's old style, with an explicit event loop:
//   @asyncio.coroutine / yield from      → asyncio::Task<> / co_await
//   asyncio.async(coro) (ensure_future)  → asyncio::ensure_future(coro)
//   yield from asyncio.wait(tasks)       → co_await asyncio::wait(tasks)
//   asyncio.get_event_loop(), run_until_complete(), close()  → the same names
// Each task sleeps a random 0, 1 or 2 ms, so the asynchronous part finishes in a different order
// from run to run while the synchronous part is always Task 1..9.
// Usage: 14_mengenal_asyncio [seed]   (the random seed; a random one by default)
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

#include <random>
#include <string>
#include <vector>

std::mt19937 rng;

// Python's random.randint(a, b): a..b inclusive.
int randint(int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); }

void task(int pid) {
  asyncio::testing::blocking_sleep(randint(0, 2) * 0.001);  // time.sleep
  fmt::print("Task {} done\n", pid);
}

asyncio::Task<> task_coro(int pid) {
  co_await asyncio::sleep(randint(0, 2) * 0.001);
  fmt::print("Task {} done\n", pid);
}

void synchronous() {
  for (int i = 1; i < 10; ++i) task(i);
}

asyncio::Task<> asynchronous() {
  std::vector<asyncio::TaskHandle<>> tasks;
  for (int i = 1; i < 10; ++i) tasks.push_back(asyncio::ensure_future(task_coro(i)));
  co_await asyncio::wait(tasks);
}

int main(int argc, char** argv) {
  rng.seed(argc > 1 ? static_cast<unsigned>(std::stoul(argv[1])) : std::random_device{}());

  fmt::print("Synchronous:\n");
  synchronous();

  auto& ioloop = asyncio::get_event_loop();
  fmt::print("Asynchronous:\n");
  ioloop.run_until_complete(asynchronous());

  ioloop.close();
}
