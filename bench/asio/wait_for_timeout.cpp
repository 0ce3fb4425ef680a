// wait_for_timeout (Asio peer): N sequential timeouts.
// Python: `await asyncio.wait_for(asyncio.sleep(1), timeout=1e-6)` catching
// TimeoutError.  Asio equivalent: awaitable_operators `||` racing the 1 s
// "operation" (a coroutine sleeping on a steady_timer) against a 1 us timeout
// timer; `||` resumes with whichever finishes first and cancels the other via
// its cancellation slot, then waits for it to finish -- i.e. wait_for's
// cancel-and-wait.  Result index 1 == the timeout won (== TimeoutError).
#include "asio_common.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <cstdio>

using namespace asio::experimental::awaitable_operators;

static asio::awaitable<void> sleep_for(std::chrono::nanoseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

static asio::awaitable<void> run(std::size_t n) {
  std::size_t timeouts = 0;
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    auto r = co_await (sleep_for(std::chrono::seconds(1)) ||
                       sleep_for(std::chrono::microseconds(1)));
    if (r.index() == 1) ++timeouts;
  }
  const double secs = bench::seconds_since(t0);
  if (timeouts != n) {
    std::fprintf(stderr, "wait_for_timeout: only %zu/%zu timed out\n", timeouts, n);
    std::exit(1);
  }
  bench::report("wait_for_timeout", "asio", n, secs);
}

int main(int argc, char** argv) {
  const std::size_t n = bench::arg_size(argc, argv, 1, 100'000);
  asio::io_context ctx(1);
  asio::co_spawn(ctx, run(n), bench_asio::rethrow_if);
  ctx.run();
  return 0;
}
