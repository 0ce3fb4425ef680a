// sleep0 (Asio peer): one task yields to the event loop N times.
// Python: `await asyncio.sleep(0)`.  Asio equivalent: `co_await
// asio::post(executor, asio::use_awaitable)` -- the coroutine's continuation is
// queued at the back of the io_context's ready queue and resumed on the next
// turn, exactly what sleep(0) does with the loop's ready deque.
#include "asio_common.hpp"

static asio::awaitable<void> run(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) co_await asio::post(ex, asio::use_awaitable);
  const double secs = bench::seconds_since(t0);
  bench::report("sleep0", "asio", n, secs);
}

int main(int argc, char** argv) {
  const std::size_t n = bench::arg_size(argc, argv, 1, 5'000'000);
  asio::io_context ctx(1);
  asio::co_spawn(ctx, run(n), bench_asio::rethrow_if);
  ctx.run();
  return 0;
}
