// await_child (ours): one coroutine awaits a trivial child coroutine N times.
#include <asyncio/asyncio.hpp>

#include "bench_common.hpp"

static asyncio::Task<int> child(int i) { co_return i; }

static asyncio::Task<> run(std::size_t n) {
  long long sum = 0;
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    int v = co_await child(static_cast<int>(i & 0xff));
    sum += v;
  }
  const double secs = bench::seconds_since(t0);
  if (sum < 0) std::exit(1);
  bench::report("await_child", "ours", n, secs);
}

int main(int argc, char** argv) { asyncio::run(run(bench::arg_size(argc, argv, 1, 20'000'000))); }
