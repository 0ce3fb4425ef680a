// A program with tasks suspended in known places, for the gdb commands' test (gdb_check.sh):
// gdb stops it at graph_stuck_marker() and runs `asyncio ps` / `asyncio pstree`.
#include <asyncio/asyncio.hpp>

extern "C" __attribute__((noinline)) void graph_stuck_marker() { asm volatile(""); }

namespace {
asyncio::Task<> leaf_sleep() { co_await asyncio::sleep(100); }
asyncio::Task<> middle_layer() { co_await leaf_sleep(); }
asyncio::Task<> await_it(asyncio::TaskHandle<> t) { co_await t; }
asyncio::Task<> gather_two() {
  auto a = asyncio::create_task(leaf_sleep(), "gathered-1");
  auto b = asyncio::create_task(leaf_sleep(), "gathered-2");
  co_await asyncio::gather(a, b);
}
}  // namespace

asyncio::Task<> amain() {
  auto s = asyncio::create_task(middle_layer(), "sleeper");
  auto w = asyncio::create_task(await_it(s), "waiter");
  auto g = asyncio::create_task(gather_two(), "gatherer");
  co_await asyncio::sleep(0);
  co_await asyncio::sleep(0);
  graph_stuck_marker();  // gdb looks here
  w.cancel();
  g.cancel();
  s.cancel();
}

int main() { asyncio::run(amain()); }
