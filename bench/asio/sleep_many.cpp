// sleep_many (Asio peer): N concurrent tasks, each sleeping a random delay in
// [0, max_delay) seconds (seeded mt19937_64, default max_delay 1 s, argv[2]).
// Each task: co_spawn'ed coroutine owning an asio::steady_timer and co_awaiting
// timer.async_wait(use_awaitable) -- Asio's asyncio.sleep(d).
// bytes_per_task = (VmRSS once all N are spawned and parked on their timers -
// VmRSS before spawning) / N.  The delays are drawn before the baseline.
#include "asio_common.hpp"

#include <random>
#include <vector>

static asio::awaitable<void> sleeper(std::chrono::nanoseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

static asio::awaitable<void> run(std::size_t n, double max_delay) {
  auto ex = co_await asio::this_coro::executor;
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> dist(0.0, max_delay);
  std::vector<std::chrono::nanoseconds> delays(n);
  for (auto& d : delays)
    d = std::chrono::nanoseconds(static_cast<long long>(dist(rng) * 1e9));

  bench_asio::wait_group wg(ex);
  const long before = bench::rss_kb();
  const auto t0 = bench::clock::now();
  wg.add(n);
  for (std::size_t i = 0; i < n; ++i)
    asio::co_spawn(ex, sleeper(delays[i]), [&](std::exception_ptr e) {
      bench_asio::rethrow_if(e);
      wg.done();
    });
  // co_spawn from inside the context runs each child inline up to its first
  // suspension; one extra turn of the loop (like Python's sleep(0)) makes sure
  // every task is parked on its timer before we sample RSS.
  co_await asio::post(ex, asio::use_awaitable);
  const long after = bench::rss_kb();
  co_await wg.wait();
  const double secs = bench::seconds_since(t0);
  bench::report("sleep_many", "asio", n, secs, bench::bytes_per_task(before, after, n));
}

int main(int argc, char** argv) {
  const std::size_t n = bench::arg_size(argc, argv, 1, 1'000'000);
  const double max_delay = bench::arg_double(argc, argv, 2, 1.0);
  asio::io_context ctx(1);
  asio::co_spawn(ctx, run(n, max_delay), bench_asio::rethrow_if);
  ctx.run();
  return 0;
}
