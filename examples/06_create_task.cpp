// Tutorial "Async Await Python" — Menjalankan Tasks Secara Bersamaan › asyncio.create_task().
//
// create_task() schedules the coroutine on the loop and returns a TaskHandle (Python's Task);
// it starts running as soon as main_() first awaits. task.cancel() makes it resume with
// asyncio::CancelledError at its current co_await. At t=3 s main_()'s timer and the task's
// third sleep(1) are both due; main_()'s was scheduled first, so main_() runs first and cancels
// the task: three "Background task berjalan...", as in Python.
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

asyncio::Task<> background_task() {
  while (true) {
    fmt::print("Background task berjalan...\n");
    co_await asyncio::sleep(1);
  }
}

asyncio::Task<> main_() {
  // Buat task (tidak langsung dijalankan)
  auto task = asyncio::create_task(background_task());

  // Lakukan hal lain
  co_await asyncio::sleep(3);

  // Cancel task
  task.cancel();
  fmt::print("Task dibatalkan\n");
}

int main() { asyncio::run(main_()); }
