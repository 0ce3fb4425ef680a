// create_task (Asio peer): spawn N trivial coroutines returning int, then wait
// for all of them and collect their results.
//
// Idiom chosen: asio::co_spawn(executor, trivial(i), handler) with a completion
// handler that accumulates the int result and counts down a wait_group (counter
// + cancellable steady_timer, see asio_common.hpp); the parent coroutine then
// co_awaits the wait_group -- the equivalent of create_task() + gather().
// Asio 1.22 has no ranged parallel_group (make_parallel_group over a vector came
// in 1.24), and co_spawn(..., use_awaitable) is lazy (the child would only start
// when its awaitable is co_awaited), so the handler+counter form is the
// idiomatic "spawn many, then join" in this Asio version.
//
// NOTE on semantics: co_spawn called from inside the running io_context starts
// the child eagerly (co_spawn's entry point dispatch()es, which runs inline on
// the context's own thread), so each trivial child runs to completion inside
// co_spawn and only its completion handler is post()ed.  Python's create_task
// only schedules the task.  bytes_per_task is therefore the memory held per
// *pending completion* for Asio, per *scheduled task* for Python.
#include "asio_common.hpp"

#include <cstdio>

static asio::awaitable<int> trivial(int i) { co_return i; }

static asio::awaitable<void> run(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  bench_asio::wait_group wg(ex);
  long long sum = 0;

  const long before = bench::rss_kb();
  const auto t0 = bench::clock::now();
  wg.add(n);
  for (std::size_t i = 0; i < n; ++i) {
    asio::co_spawn(ex, trivial(static_cast<int>(i & 0xffff)),
                   [&](std::exception_ptr e, int v) {
                     bench_asio::rethrow_if(e);
                     sum += v;
                     wg.done();
                   });
  }
  const long after = bench::rss_kb();  // all N spawned
  co_await wg.wait();                   // "gather"
  const double secs = bench::seconds_since(t0);

  long long expect = 0;
  for (std::size_t i = 0; i < n; ++i) expect += static_cast<long long>(i & 0xffff);
  if (sum != expect) {
    std::fprintf(stderr, "create_task: bad sum %lld != %lld\n", sum, expect);
    std::exit(1);
  }
  bench::report("create_task", "asio", n, secs, bench::bytes_per_task(before, after, n));
}

int main(int argc, char** argv) {
  const std::size_t n = bench::arg_size(argc, argv, 1, 2'000'000);
  asio::io_context ctx(1);
  asio::co_spawn(ctx, run(n), bench_asio::rethrow_if);
  ctx.run();
  return 0;
}
