// sleep0 (ours): one task yields to the loop N times with sleep(0).
#include <asyncio/asyncio.hpp>

#include "bench_common.hpp"

static asyncio::Task<> run(std::size_t n) {
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) co_await asyncio::sleep(0);
  bench::report("sleep0", "ours", n, bench::seconds_since(t0));
}

int main(int argc, char** argv) { asyncio::run(run(bench::arg_size(argc, argv, 1, 10'000'000))); }
