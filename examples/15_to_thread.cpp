// 15_to_thread.cpp — "don't use async for CPU-bound work", and what to do instead.
//
// In Python, asyncio.to_thread helps with *blocking* calls (time.sleep, file I/O), but CPU-bound
// Python code still runs one thread at a time because of the GIL: the tutorial's advice is to use
// multiprocessing. C++ threads have no GIL, so asyncio::to_thread runs CPU work truly in
// parallel: four chunks of work on four threads take about as long as one (given the cores).
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

// Pure CPU work: count the primes below n (deliberately naive).
long count_primes(long from, long to) {
  long count = 0;
  for (long n = from; n < to; ++n) {
    bool prime = n >= 2;
    for (long d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    count += prime;
  }
  return count;
}

asyncio::Task<> main_async() {
  using clock = std::chrono::steady_clock;
  const long N = 2'000'000;

  // 1. On the loop thread: blocks the loop for the whole computation (don't do this in a server).
  auto t0 = clock::now();
  long serial = count_primes(0, N);
  double serial_s = std::chrono::duration<double>(clock::now() - t0).count();
  std::printf("serial:   %ld primes in %.2f s\n", serial, serial_s);

  // 2. Split into 4 chunks, each on a worker thread; the loop stays free meanwhile.
  t0 = clock::now();
  std::vector<asyncio::Task<long>> chunks;
  for (long i = 0; i < 4; ++i) chunks.push_back(asyncio::to_thread(count_primes, i * N / 4, (i + 1) * N / 4));
  std::vector<long> parts = co_await asyncio::gather(std::move(chunks));
  long parallel = 0;
  for (long p : parts) parallel += p;
  double parallel_s = std::chrono::duration<double>(clock::now() - t0).count();
  std::printf("parallel: %ld primes in %.2f s (speed-up %.1fx on this machine)\n", parallel, parallel_s,
              serial_s / parallel_s);
}

int main() { asyncio::run(main_async()); }
