// asyncio/testing.hpp — virtual time, and introspection for tests (no Python counterpart).
//
// Under virtual time (RunOptions::virtual_time, or env ASYNCIO_VIRTUAL_TIME=1) the loop clock
// starts at 0 and, whenever nothing is ready and no I/O or thread work is pending, jumps to the
// next timer: a program that sleeps 30 s finishes at once, prints the same lines in the same
// order, and loop.time() reads the seconds it would have taken.
#pragma once

#include <chrono>
#include <thread>

#include "events.hpp"

namespace asyncio::testing {

/// True when ASYNCIO_VIRTUAL_TIME=1 is set in the environment.
inline bool virtual_time_from_env() { return detail::env_flag("ASYNCIO_VIRTUAL_TIME"); }

/// Python's time.perf_counter() that honours virtual time: under ASYNCIO_VIRTUAL_TIME=1 it reads
/// the seconds of virtual time this thread has lived through (loops' jumps and blocking_sleep).
inline double perf_counter() {
  if (virtual_time_from_env()) return detail::tl_virtual_clock;
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Python's time.sleep() that honours virtual time: blocks the thread for real, or under
/// ASYNCIO_VIRTUAL_TIME=1 only advances this thread's virtual clock.
template <detail::DurationLike D>
void blocking_sleep(D delay) {
  double s = detail::to_seconds(delay);
  if (s <= 0) return;
  if (virtual_time_from_env())
    detail::tl_virtual_clock += s;
  else
    std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

/// Timers registered on the loop (sleeps, call_later, timeouts) — 0 once everything is cleaned up.
inline std::size_t timer_count(const EventLoop& loop) { return loop.timer_count(); }
/// Tasks of the loop that are not done yet.
inline std::size_t pending_task_count(const EventLoop& loop) {
  std::size_t n = 0;
  const auto& lst = loop.live_tasks();
  for (auto* p = lst.sentinel()->next_; p != lst.sentinel(); p = p->next_) ++n;
  return n;
}

}  // namespace asyncio::testing
