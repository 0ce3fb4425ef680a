// sleep_many (ours): N concurrent tasks each sleeping a random delay in [0, max_delay) s
// (seeded); bytes_per_task from RSS once every task is parked on its timer.
#include <asyncio/asyncio.hpp>

#include <random>

#include "bench_common.hpp"

static asyncio::Task<> sleeper(double d) { co_await asyncio::sleep(d); }

static asyncio::Task<> run(std::size_t n, double max_delay) {
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> dist(0.0, max_delay);
  std::vector<double> delays(n);
  for (auto& d : delays) d = dist(rng);
  std::vector<asyncio::TaskHandle<>> hs;
  hs.reserve(n);
  const long before = bench::rss_kb();
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) hs.push_back(asyncio::create_task(sleeper(delays[i])));
  co_await asyncio::sleep(0);  // every task has run its first step and sits on its timer
  const long after = bench::rss_kb();
  co_await asyncio::gather(hs);
  bench::report("sleep_many", "ours", n, bench::seconds_since(t0), bench::bytes_per_task(before, after, n));
}

int main(int argc, char** argv) {
  asyncio::run(run(bench::arg_size(argc, argv, 1, 1'000'000), bench::arg_double(argc, argv, 2, 1.0)));
}
