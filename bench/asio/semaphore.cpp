// semaphore (Asio peer): N tasks, each `async with Semaphore(10): await sleep(0)`.
//
// Asio has no semaphore.  Idiom chosen: an asio::experimental::channel<void()>
// with buffer capacity 10 used as a counting semaphore (void() rather than the
// usual void(error_code): the latter hits an ambiguous channel_traits partial
// specialisation in Asio 1.22.1):
//   acquire = co_await ch.async_send(use_awaitable)
//             (completes at once while fewer than 10 tokens are buffered,
//              otherwise parks the task in the channel's FIFO waiter queue);
//   release = ch.try_receive(...)  (pops a token; if a sender is parked, its
//             token moves into the buffer and that sender is completed = woken).
// This is FIFO-fair like asyncio.Semaphore.  sleep(0) = co_await asio::post().
// bytes_per_task = (VmRSS once all N tasks exist and 10 hold / N-10 wait on the
// semaphore - VmRSS before) / N.
#include "asio_common.hpp"

#include <asio/experimental/channel.hpp>

using semaphore_channel = asio::experimental::channel<void()>;

static asio::awaitable<void> worker(semaphore_channel& sem) {
  co_await sem.async_send(asio::use_awaitable);  // acquire
  struct release_guard {
    semaphore_channel& s;
    ~release_guard() { s.try_receive([](auto&&...) {}); }
  } guard{sem};
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

static asio::awaitable<void> run(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  semaphore_channel sem(ex, 10);
  bench_asio::wait_group wg(ex);

  const long before = bench::rss_kb();
  const auto t0 = bench::clock::now();
  wg.add(n);
  for (std::size_t i = 0; i < n; ++i)
    asio::co_spawn(ex, worker(sem), [&](std::exception_ptr e) {
      bench_asio::rethrow_if(e);
      wg.done();
    });
  co_await asio::post(ex, asio::use_awaitable);  // all tasks started
  const long after = bench::rss_kb();
  co_await wg.wait();
  const double secs = bench::seconds_since(t0);
  bench::report("semaphore", "asio", n, secs, bench::bytes_per_task(before, after, n));
}

int main(int argc, char** argv) {
  const std::size_t n = bench::arg_size(argc, argv, 1, 1'000'000);
  asio::io_context ctx(1);
  asio::co_spawn(ctx, run(n), bench_asio::rethrow_if);
  ctx.run();
  return 0;
}
