// wait_for_timeout (floor): what one "wait_for(sleep(1), 1e-6) that times out" must cost at the
// least on this machine, with no runtime at all: take the deadline 1 µs ahead, wait for it on
// the clock (a loop with no fd to watch polls rather than sleeps: the kernel's timer slack would
// overshoot a 1 µs sleep ~50×), then throw and catch one exception, as Python's TimeoutError
// is one raise. A runtime's figure divided by this one is its overhead on top of physics.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "bench_common.hpp"

namespace {
struct Timeout : std::runtime_error {
  Timeout() : std::runtime_error("") {}
};
// Not inlined, so the throw crosses a call frame, as it does from an awaiter's await_resume.
[[gnu::noinline]] void expire(bench::clock::time_point deadline) {
  while (bench::clock::now() < deadline) {
  }
  throw Timeout();
}
}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = bench::arg_size(argc, argv, 1, 200'000);
  std::size_t timeouts = 0;
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    try {
      expire(bench::clock::now() + std::chrono::microseconds(1));
    } catch (const Timeout&) {
      ++timeouts;
    }
  }
  const double secs = bench::seconds_since(t0);
  if (timeouts != n) {
    std::fprintf(stderr, "wait_for_timeout(floor): only %zu/%zu timed out\n", timeouts, n);
    return 1;
  }
  bench::report("wait_for_timeout", "raw_epoll", n, secs);
}
