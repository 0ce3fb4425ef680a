// Shared bits for the Asio peer programs (standalone Asio 1.22, C++20 coroutines).
//
// All Asio peers run a single-threaded asio::io_context constructed with
// concurrency hint 1 (the idiomatic "one thread runs this context" setup) and
// use the default asio::awaitable<T> (any_io_executor) with asio::use_awaitable.
#pragma once

// Asio 1.22 only auto-detects C++20 coroutines for clang when using libc++;
// with clang + libstdc++ (CXX=clang++ on Debian) tell it explicitly.
#if defined(__clang__) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#define ASIO_HAS_STD_COROUTINE 1
#endif

#include <asio.hpp>

#include <chrono>
#include <cstddef>
#include <exception>

#include "bench_common.hpp"

namespace bench_asio {

// "Wait for N completions" -- Asio has no gather()/WaitGroup, the usual idiom is
// a counter plus a steady_timer that never expires on its own and is cancel()ed
// when the counter reaches zero (the timer acts as a condition variable).
class wait_group {
 public:
  explicit wait_group(const asio::any_io_executor& ex)
      : timer_(ex, asio::steady_timer::time_point::max()) {}

  void add(std::size_t n) { pending_ += n; }

  void done() {
    if (--pending_ == 0) timer_.cancel();
  }

  std::size_t pending() const { return pending_; }

  asio::awaitable<void> wait() {
    while (pending_ != 0) {
      asio::error_code ec;  // operation_aborted when cancel()ed: expected
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

 private:
  asio::steady_timer timer_;
  std::size_t pending_ = 0;
};

// Completion handler for co_spawn of the top-level coroutine: rethrow failures
// out of io_context::run() so the program exits non-zero.
inline void rethrow_if(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

}  // namespace bench_asio
