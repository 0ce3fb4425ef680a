// wait_for_timeout (ours): N sequential wait_for(sleep(1), 1e-6), each ending in TimeoutError.
#include <asyncio/asyncio.hpp>

#include "bench_common.hpp"

static asyncio::Task<> run(std::size_t n) {
  std::size_t timeouts = 0;
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    try {
      co_await asyncio::wait_for(asyncio::sleep(1), 1e-6);
    } catch (const asyncio::TimeoutError&) {
      ++timeouts;
    }
  }
  const double secs = bench::seconds_since(t0);
  if (timeouts != n) {
    std::fprintf(stderr, "wait_for_timeout: only %zu/%zu timed out\n", timeouts, n);
    std::exit(1);
  }
  bench::report("wait_for_timeout", "ours", n, secs);
}

int main(int argc, char** argv) { asyncio::run(run(bench::arg_size(argc, argv, 1, 200'000))); }
