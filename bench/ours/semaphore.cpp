// semaphore (ours): N tasks, each `async with Semaphore(10): await sleep(0)`.
#include <asyncio/asyncio.hpp>

#include "bench_common.hpp"

static asyncio::Task<> worker(asyncio::Semaphore& sem) {
  auto held = co_await sem.hold();
  co_await asyncio::sleep(0);
}

static asyncio::Task<> run(std::size_t n) {
  asyncio::Semaphore sem(10);
  std::vector<asyncio::TaskHandle<>> hs;
  hs.reserve(n);
  const long before = bench::rss_kb();
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) hs.push_back(asyncio::create_task(worker(sem)));
  co_await asyncio::sleep(0);
  const long after = bench::rss_kb();
  co_await asyncio::gather(hs);
  bench::report("semaphore", "ours", n, bench::seconds_since(t0), bench::bytes_per_task(before, after, n));
}

int main(int argc, char** argv) { asyncio::run(run(bench::arg_size(argc, argv, 1, 1'000'000))); }
