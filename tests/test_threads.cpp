// threads.hpp: to_thread, run_in_executor, ThreadPoolExecutor, run_coroutine_threadsafe.
// The test script also runs this file under ThreadSanitizer.
#include <asyncio/asyncio.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/eventfd.h>
#include <unistd.h>

#include "catch.hpp"
#include "io_helpers.hpp"
#include "trace.hpp"

using namespace std::chrono_literals;

namespace {
int blocking_double(int x) {
  std::this_thread::sleep_for(50ms);
  return x * 2;
}
int boom() { throw asyncio::ValueError("bad value on worker"); }
void sleep_for(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

// tests/python/threads_trace.py, line for line.
asyncio::Task<> threads_trace(Trace& tr) {
  tr("start");
  int r = co_await asyncio::to_thread(blocking_double, 21);
  tr("result {}", r);
  try {
    co_await asyncio::to_thread(boom);
  } catch (const asyncio::ValueError& e) {
    tr("error {}", e.what());
  }
  auto t = asyncio::create_task(asyncio::to_thread(sleep_for, 0.2));
  co_await asyncio::sleep(0.01);
  t.cancel();
  try {
    co_await t;
  } catch (const asyncio::CancelledError&) {
    tr("cancelled");
  }
  try {
    co_await asyncio::wait_for(asyncio::to_thread(sleep_for, 0.2), 0.05);
  } catch (const asyncio::TimeoutError&) {
    tr("timeout");
  }
  std::vector<asyncio::Task<long>> v;
  for (long i = 0; i < 1000; ++i) v.push_back(asyncio::to_thread([i] { return i * i; }));
  auto rs = co_await asyncio::gather(std::move(v));
  long sum = 0;
  for (long x : rs) sum += x;
  tr("gather {} {}", rs.size(), sum);
}
}  // namespace

TEST_CASE("to_thread trace matches CPython (tests/python/threads_trace.py)") {
  std::size_t fds = open_fd_count();
  Trace tr;
  asyncio::run(threads_trace(tr));
  CHECK(tr.lines == std::vector<std::string>{"start", "result 42", "error bad value on worker", "cancelled",
                                             "timeout", "gather 1000 332833500"});
  CHECK(open_fd_count() == fds);
}

TEST_CASE("to_thread under virtual time: the clock does not jump while thread work is pending") {
  auto main = []() -> asyncio::Task<double> {
    auto& loop = asyncio::get_running_loop();
    auto t = asyncio::create_task(asyncio::to_thread(sleep_for, 0.1));
    // A 10 s timer is pending too; virtual time must not jump to it before the thread is done.
    auto timer = loop.call_later(10.0, [] {});
    co_await t;
    double now = loop.time();
    timer.cancel();
    co_return now;
  };
  double t = asyncio::run(main(), {.virtual_time = true});
  CHECK(t >= 0.09);
  CHECK(t < 5.0);
}

TEST_CASE("cancelling a task in run_in_executor leaves nothing registered and drops the result") {
  std::atomic<bool> finished{false};
  auto main = [&]() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    auto t = asyncio::create_task([&]() -> asyncio::Task<int> {
      int r = co_await loop.run_in_executor(nullptr, [&] {
        std::this_thread::sleep_for(100ms);
        finished = true;
        return 7;
      });
      co_return r;
    });
    co_await asyncio::sleep(0.01);
    CHECK(t.cancel());
    bool cancelled = false;
    try {
      co_await t;
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK_FALSE(finished.load());  // the thread is still running: it cannot be stopped
    CHECK(asyncio::testing::timer_count(loop) == 0);
    CHECK(asyncio::testing::pending_task_count(loop) == 1);  // only main
    // Let the worker finish; its completion arrives on the loop and is dropped cleanly.
    while (!finished.load()) co_await asyncio::sleep(0.01);
    co_await asyncio::sleep(0.01);
  };
  asyncio::run(main());
  CHECK(finished.load());
}

TEST_CASE("run_in_executor with an own ThreadPoolExecutor bounds the parallelism") {
  asyncio::ThreadPoolExecutor pool(2);
  std::atomic<int> running{0}, peak{0};
  auto work = [&] {
    int now = ++running;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    // Wait (up to 5 s) for a second job to run beside this one, so that the pool's parallelism
    // is reached however slowly its threads start on a loaded machine; a third would show up
    // in `peak`.
    auto until = std::chrono::steady_clock::now() + 5s;
    while (running.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(30ms);
    --running;
    return 1;
  };
  auto main = [&]() -> asyncio::Task<int> {
    auto& loop = asyncio::get_running_loop();
    std::vector<asyncio::Task<int>> v;
    for (int i = 0; i < 6; ++i)
      v.push_back([](asyncio::EventLoop& l, asyncio::ThreadPoolExecutor* p, decltype(work) w) -> asyncio::Task<int> {
        int r = co_await l.run_in_executor(p, w);
        co_return r;
      }(loop, &pool, work));
    auto rs = co_await asyncio::gather(std::move(v));
    int s = 0;
    for (int x : rs) s += x;
    co_return s;
  };
  CHECK(asyncio::run(main()) == 6);
  CHECK(peak.load() == 2);
  CHECK(pool.max_workers() == 2);
}

TEST_CASE("ThreadPoolExecutor::submit gives a std::future; submit after shutdown throws") {
  asyncio::ThreadPoolExecutor pool(3);
  auto f = pool.submit([](int a, int b) { return a + b; }, 2, 3);
  CHECK(f.get() == 5);
  auto g = pool.submit([] { throw std::runtime_error("x"); });
  CHECK_THROWS_AS(g.get(), std::runtime_error);
  pool.shutdown();
  CHECK_THROWS_AS(pool.submit([] {}), asyncio::RuntimeError);
}

TEST_CASE("to_thread: CPU-bound work runs in parallel with the loop") {
  // While a worker spins, the loop keeps running its own tasks (no GIL).
  auto main = []() -> asyncio::Task<int> {
    std::atomic<bool> stop{false};
    auto spin = asyncio::create_task(asyncio::to_thread([&stop] {
      long n = 0;
      while (!stop.load()) ++n;
      return n;
    }));
    int ticks = 0;
    for (int i = 0; i < 5; ++i) {
      co_await asyncio::sleep(0.005);
      ++ticks;
    }
    stop = true;
    long n = co_await spin;
    CHECK(n > 0);
    co_return ticks;
  };
  CHECK(asyncio::run(main()) == 5);
}

TEST_CASE("run_coroutine_threadsafe submits to a loop running in another thread") {
  auto loop = asyncio::new_event_loop();
  std::promise<void> started;
  std::thread th([&] {
    loop->call_soon([&] { started.set_value(); });
    loop->run_forever();
  });
  started.get_future().wait();
  auto add = [](int a, int b) -> asyncio::Task<int> {
    co_await asyncio::sleep(0.01);
    co_return a + b;
  };
  auto f = asyncio::run_coroutine_threadsafe(add(2, 40), *loop);
  CHECK(f.get() == 42);
  auto bad = []() -> asyncio::Task<int> {
    co_await asyncio::sleep(0);
    throw asyncio::ValueError("nope");
  };
  auto g = asyncio::run_coroutine_threadsafe(bad(), *loop);
  CHECK_THROWS_AS(g.get(), asyncio::ValueError);
  auto v = asyncio::run_coroutine_threadsafe([]() -> asyncio::Task<> { co_return; }(), *loop);
  v.get();
  loop->call_soon_threadsafe([l = loop.get()] { l->stop(); });
  th.join();
  loop->close();
  CHECK_THROWS_AS(asyncio::run_coroutine_threadsafe(add(1, 1), *loop), asyncio::RuntimeError);
}

TEST_CASE("run() shuts the default executor down (its threads are joined)") {
  std::atomic<int> done{0};
  auto main = [&]() -> asyncio::Task<> {
    // Fire and forget: the awaiter is dropped at once, the work still runs to completion.
    {
      auto aw = asyncio::get_running_loop().run_in_executor(nullptr, [&] {
        std::this_thread::sleep_for(50ms);
        ++done;
      });
    }
    co_return;
  };
  asyncio::run(main());
  CHECK(done.load() == 1);
}

TEST_CASE("a job on an own executor that outlives its loop finishes without touching the loop") {
  // The loop is closed and destroyed while the worker still runs a job whose task timed out:
  // the worker's completion finds the loop gone and is dropped (Python: the loop is closed, the
  // callback is skipped). Nothing leaks, and no wake-up reaches a closed or reused descriptor.
  asyncio::ThreadPoolExecutor pool(1);
  std::atomic<bool> release{false}, finished{false};
  auto main = [&]() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    auto job = [](asyncio::EventLoop& l, asyncio::ThreadPoolExecutor* p, std::atomic<bool>* rel,
                  std::atomic<bool>* fin) -> asyncio::Task<std::string> {
      std::string r = co_await l.run_in_executor(p, [rel, fin] {
        while (!rel->load()) std::this_thread::sleep_for(1ms);
        *fin = true;
        return std::string(100, 'x');  // a result that must be freed, not delivered
      });
      co_return r;
    };
    CHECK_THROWS_AS(co_await asyncio::wait_for(job(loop, &pool, &release, &finished), 0.01),
                    asyncio::TimeoutError);
  };
  asyncio::run(main());  // the loop is closed and destroyed here
  // The loop's descriptors are free now: take them, so that a stale wake-up would land here.
  int a = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), b = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  REQUIRE(a >= 0);
  REQUIRE(b >= 0);
  release = true;
  pool.shutdown(true);
  CHECK(finished.load());
  std::uint64_t v = 0;
  CHECK(::read(a, &v, sizeof v) == -1);  // nothing was written to either
  CHECK(::read(b, &v, sizeof v) == -1);
  ::close(a);
  ::close(b);
}
