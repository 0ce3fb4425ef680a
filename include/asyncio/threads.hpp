// asyncio/threads.hpp — threads and executors (Python's asyncio.threads, loop.run_in_executor,
// concurrent.futures.ThreadPoolExecutor, asyncio.run_coroutine_threadsafe).
//
// Unlike Python, a C++ thread is not held back by a GIL: CPU-bound work handed to to_thread()
// runs truly in parallel with the loop and with other such work (the tutorial's "use
// multiprocessing" advice becomes to_thread).
#pragma once

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "events.hpp"  // and with it ThreadPoolExecutor, loop.run_in_executor (detail/thread_pool.hpp)

namespace asyncio {

/// Python's asyncio.to_thread(): run `fn(args...)` on the running loop's default executor and
/// return its result. The callable and arguments are moved into the coroutine's frame.
/// Exceptions thrown on the worker propagate here; cancelling the awaiting task does not stop
/// the thread (it cannot be stopped), its result is dropped.
template <class F, class... A>
Task<detail::thread_result_t<F, A...>> to_thread(F fn, A... args) {
  using R = detail::thread_result_t<F, A...>;
  auto aw = get_running_loop().run_in_executor(nullptr, std::move(fn), std::move(args)...);
  if constexpr (std::is_void_v<R>) {
    co_await aw;
  } else {
    R r = co_await aw;
    co_return std::move(r);
  }
}

namespace detail {
template <class T>
Task<void> fulfil_promise(Task<T> coro, std::promise<T> p) {
  bool cancelled = false;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await coro;
      p.set_value();
    } else {
      T v = co_await coro;
      p.set_value(std::forward<T>(v));
    }
  } catch (const CancelledError&) {
    p.set_exception(std::current_exception());
    cancelled = true;
  } catch (...) {
    p.set_exception(std::current_exception());
  }
  if (cancelled) throw CancelledError();
}
}  // namespace detail

/// Python's asyncio.run_coroutine_threadsafe(): from any thread, schedule `coro` as a task on
/// `loop` (running in another thread) and get its result through a std::future (a cancelled
/// task gives CancelledError; a loop closed before it ran gives std::future_error
/// broken_promise). RuntimeError if the loop is already closed.
template <class T>
std::future<T> run_coroutine_threadsafe(Task<T> coro, EventLoop& loop) {
  std::promise<T> p;
  std::future<T> f = p.get_future();
  loop.call_soon_threadsafe([c = std::move(coro), p = std::move(p), l = &loop]() mutable {
    l->create_task(detail::fulfil_promise<T>(std::move(c), std::move(p)));
  });
  return f;
}

}  // namespace asyncio
