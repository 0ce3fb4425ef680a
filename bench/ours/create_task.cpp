// create_task (ours): N tasks of a trivial coroutine returning int, then gather the handles.
#include <asyncio/asyncio.hpp>

#include "bench_common.hpp"

static asyncio::Task<int> trivial(int i) { co_return i; }

static asyncio::Task<> run(std::size_t n) {
  std::vector<asyncio::TaskHandle<int>> hs;
  hs.reserve(n);
  const long before = bench::rss_kb();
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) hs.push_back(asyncio::create_task(trivial(static_cast<int>(i & 0xffff))));
  const long after = bench::rss_kb();
  auto rs = co_await asyncio::gather(hs);
  const double secs = bench::seconds_since(t0);
  long long sum = 0, expect = 0;
  for (int v : rs) sum += v;
  for (std::size_t i = 0; i < n; ++i) expect += static_cast<long long>(i & 0xffff);
  if (sum != expect) {
    std::fprintf(stderr, "create_task: bad sum\n");
    std::exit(1);
  }
  bench::report("create_task", "ours", n, secs, bench::bytes_per_task(before, after, n));
}

int main(int argc, char** argv) { asyncio::run(run(bench::arg_size(argc, argv, 1, 2'000'000))); }
