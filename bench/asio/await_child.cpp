// await_child (Asio peer): one coroutine co_awaits a trivial child coroutine
// (asio::awaitable<int>) N times in a loop -- Python's `await child()`.
// Each co_await creates and destroys one awaitable frame (Asio recycles frames
// through its thread-local small-block cache).
#include "asio_common.hpp"

#include <cstdio>

static asio::awaitable<int> child() { co_return 1; }

static asio::awaitable<void> run(std::size_t n) {
  std::size_t total = 0;
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) total += co_await child();
  const double secs = bench::seconds_since(t0);
  if (total != n) {
    std::fprintf(stderr, "await_child: bad total\n");
    std::exit(1);
  }
  bench::report("await_child", "asio", n, secs);
}

int main(int argc, char** argv) {
  const std::size_t n = bench::arg_size(argc, argv, 1, 20'000'000);
  asio::io_context ctx(1);
  asio::co_spawn(ctx, run(n), bench_asio::rethrow_if);
  ctx.run();
  return 0;
}
