// tasks.hpp: create_task, cancellation, gather, wait, wait_for, done callbacks, sleep.
// Every scenario marked "CPython trace" is tests/python/core_scheduling.py, whose output is
// tests/python/core_scheduling.txt; the C++ prints the same lines in the same order.
#include <asyncio/asyncio.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "catch.hpp"
#include "trace.hpp"

using namespace std::chrono_literals;
using Lines = std::vector<std::string>;

namespace {
Trace T;
constexpr asyncio::RunOptions VT{.debug = false, .virtual_time = true};

asyncio::Task<> worker(std::string name, int n) {
  for (int i = 0; i < n; ++i) {
    T("{} {}", name, i);
    co_await asyncio::sleep(0);
  }
}
asyncio::Task<> sleeper(std::string name, double d) {
  co_await asyncio::sleep(d);
  T("{} woke", name);
}
asyncio::Task<> child() {
  try {
    T("child sleeping");
    co_await asyncio::sleep(10);
  } catch (const asyncio::CancelledError& e) {
    T("child cancelled: {}", e.what());
    throw;
  }
}
asyncio::Task<std::string> stubborn() {
  try {
    co_await asyncio::sleep(10);
  } catch (const asyncio::CancelledError&) {
    T("stubborn caught, uncancel -> {}", asyncio::current_task()->uncancel());
  }
  co_await asyncio::sleep(1);
  co_return "survived";
}
asyncio::Task<int> boom(double d, std::string msg) {
  co_await asyncio::sleep(d);
  throw asyncio::ValueError(msg);
}
asyncio::Task<int> value(double d, int v) {
  co_await asyncio::sleep(d);
  T("value {} done", v);
  co_return v;
}
asyncio::Task<> slow_cleanup() {
  bool cancelled = false;
  try {
    co_await asyncio::sleep(10);
  } catch (const asyncio::CancelledError&) {
    cancelled = true;
  }
  if (cancelled) {
    T("inner cleaning up");
    co_await asyncio::sleep(0.5);
    T("inner cleaned");
    throw asyncio::CancelledError();
  }
}
}  // namespace

TEST_CASE("create_task never runs inline and ready tasks run FIFO (CPython trace)") {
  T.lines.clear();
  asyncio::run([]() -> asyncio::Task<> {
    T("main start");
    auto a = asyncio::create_task(worker("a", 3));
    auto b = asyncio::create_task(worker("b", 2));
    T("main after create");
    co_await asyncio::sleep(0);
    T("main after sleep0");
    co_await a;
    co_await b;
    T("main end");
  }());
  CHECK(T.lines == Lines{"main start", "main after create", "a 0", "b 0", "main after sleep0", "a 1", "b 1",
                         "a 2", "main end"});
}

TEST_CASE("timers due at one instant run in scheduling order, sleepers one iteration later (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        auto& loop = asyncio::get_running_loop();
        double t0 = loop.time();
        loop.call_at(t0 + 1, [] { T("cb1"); });
        auto t1 = asyncio::create_task(sleeper("s1", 1));
        auto t2 = asyncio::create_task(sleeper("s2", 1));
        co_await asyncio::sleep(0);
        loop.call_at(t0 + 1, [] { T("cb2"); });
        co_await asyncio::gather(t1, t2);
      }(),
      VT);
  CHECK(T.lines == Lines{"cb1", "cb2", "s1 woke", "s2 woke"});
}

TEST_CASE("cancel() raises CancelledError at the suspension point, with its message (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        auto t = asyncio::create_task(child());
        co_await asyncio::sleep(0);
        T("cancel -> {}", t.cancel("stop"));
        T("cancelling {}", t.cancelling());
        try {
          co_await t;
        } catch (const asyncio::CancelledError& e) {
          T("main saw cancel {} {}", t.cancelled(), e.what());
        }
        auto t2 = asyncio::create_task(child());
        t2.cancel();
        try {
          co_await t2;
        } catch (const asyncio::CancelledError&) {
          T("t2 cancelled before start {}", t2.cancelled());
        }
      }(),
      VT);
  CHECK(T.lines == Lines{"child sleeping", "cancel -> true", "cancelling 1", "child cancelled: stop",
                         "main saw cancel true stop", "t2 cancelled before start true"});
}

TEST_CASE("a task may catch and suppress its cancellation (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        auto t = asyncio::create_task(stubborn());
        co_await asyncio::sleep(0);
        t.cancel();
        auto r = co_await t;
        T("result {} cancelled {}", r, t.cancelled());
      }(),
      VT);
  CHECK(T.lines == Lines{"stubborn caught, uncancel -> 0", "result survived cancelled false"});
}

TEST_CASE("gather: results in argument order, return_exceptions, first exception (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        auto [a, b, c] = co_await asyncio::gather(value(2, 1), value(1, 2), value(3, 3));
        T("gather [{}, {}, {}]", a, b, c);
        auto [r1, r2] = co_await asyncio::gather(asyncio::return_exceptions, value(1, 4), boom(2, "bad"));
        bool is_value_error = false;
        try {
          r2.value();
        } catch (const asyncio::ValueError&) {
          is_value_error = true;
        }
        T("return_exceptions [{}, '{}']", r1.value(), is_value_error ? "ValueError" : "?");
        try {
          co_await asyncio::gather(value(1, 5), boom(0.5, "first"), boom(1.5, "second"));
        } catch (const asyncio::ValueError& e) {
          T("gather raised {}", e.what());
        }
      }(),
      VT);
  CHECK(T.lines == Lines{"value 2 done", "value 1 done", "value 3 done", "gather [1, 2, 3]", "value 4 done",
                         "return_exceptions [4, 'ValueError']", "gather raised first"});
}

namespace {
asyncio::Task<int> yields_then_returns(std::string name, int n) {
  for (int i = 0; i < n; ++i) co_await asyncio::sleep(0);
  T("{} done", name);
  co_return n;
}
asyncio::Task<> ticker(int n) {
  for (int i = 0; i < n; ++i) {
    T("tick {}", i);
    co_await asyncio::sleep(0);
  }
}
}  // namespace

// (gather counts a child that is neither the last nor a failure when it finishes instead of
// through a loop hop: this shows the caller still resumes on asyncio's iteration.)
TEST_CASE("gather and wait resume their caller on the same loop iteration as asyncio (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        auto t = asyncio::create_task(ticker(8));
        auto [a, b, c] = co_await asyncio::gather(yields_then_returns("a", 0), yields_then_returns("b", 2),
                                                  yields_then_returns("c", 1));
        T("gather [{}, {}, {}]", a, b, c);
        std::vector<asyncio::TaskHandle<int>> tasks;
        tasks.push_back(asyncio::create_task(yields_then_returns("d", 1)));
        tasks.push_back(asyncio::create_task(yields_then_returns("e", 0)));
        auto [done, pending] = co_await asyncio::wait(tasks);
        T("wait {} {}", done.size(), pending.size());
        co_await t;
      }(),
      VT);
  CHECK(T.lines == Lines{"tick 0", "a done", "tick 1", "c done", "tick 2", "b done", "tick 3", "tick 4",
                         "gather [0, 2, 1]", "tick 5", "e done", "tick 6", "d done", "tick 7", "wait 2 0"});
}

TEST_CASE("gather over a range gives a vector; void results become None") {
  asyncio::run(
      []() -> asyncio::Task<> {
        std::vector<asyncio::Task<int>> v;
        for (int i = 0; i < 5; ++i) v.push_back(value(5 - i, i));
        auto r = co_await asyncio::gather(v);
        CHECK(r == std::vector<int>{0, 1, 2, 3, 4});
        auto [n, x] = co_await asyncio::gather(asyncio::sleep(1), value(0, 7));
        CHECK(n == asyncio::None{});
        CHECK(x == 7);
        auto empty = co_await asyncio::gather();
        CHECK(std::tuple_size_v<decltype(empty)> == 0);
      }(),
      VT);
}

TEST_CASE("gather's failure cancels and awaits the tasks it created; TaskHandle children keep running") {
  asyncio::run(
      []() -> asyncio::Task<> {
        auto& loop = asyncio::get_running_loop();
        auto handle_child = asyncio::create_task(value(3, 1));
        try {
          co_await asyncio::gather(boom(1, "x"), value(5, 2), handle_child);
        } catch (const asyncio::ValueError&) {
        }
        CHECK_FALSE(handle_child.done());  // still running, as in Python
        CHECK(asyncio::testing::pending_task_count(loop) == 2);  // main + handle_child; value(5,2) is gone
        CHECK(co_await handle_child == 1);
      }(),
      VT);
}

TEST_CASE("cancelling a gather cancels every child (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        auto g = asyncio::create_task(asyncio::gather(child(), child()));
        auto t = asyncio::create_task(asyncio::sleep(0.1));
        co_await asyncio::sleep(0);
        co_await asyncio::sleep(0);
        g.cancel();
        try {
          co_await g;
        } catch (const asyncio::CancelledError&) {
          T("gather cancelled");
        }
        co_await t;
        CHECK(asyncio::testing::timer_count(asyncio::get_running_loop()) == 0);
      }(),
      VT);
  CHECK(T.lines == Lines{"child sleeping", "child sleeping", "child cancelled: ", "child cancelled: ",
                         "gather cancelled"});
}

asyncio::Task<int> child_value(int i) { co_return i; }

TEST_CASE("gather registers on its children when called: awaited late, it does not yield (CPython trace)") {
  T.lines.clear();
  asyncio::run([]() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    auto t = asyncio::create_task(child_value(1));
    auto g = asyncio::gather(t, child_value(2));
    for (int i = 0; i < 3; ++i) co_await asyncio::sleep(0);
    loop.call_soon([] { T("call_soon callback"); });
    auto [a, b] = co_await std::move(g);
    T("gathered [{}, {}]", a, b);
    co_await asyncio::sleep(0);
  }());
  CHECK(T.lines == Lines{"gathered [1, 2]", "call_soon callback"});
  // The range form likewise, and a failure that happened before the await still propagates
  // (after the tasks gather created are cancelled and awaited).
  asyncio::run([]() -> asyncio::Task<> {
    std::vector<asyncio::TaskHandle<int>> v{asyncio::create_task(child_value(3)), asyncio::create_task(boom(0, "early"))};
    auto g = asyncio::gather(v);
    auto late = asyncio::gather(std::vector<asyncio::Task<int>>{});
    co_await asyncio::sleep(0.01);
    auto none = co_await std::move(late);
    CHECK(none.empty());
    CHECK_THROWS_AS(co_await std::move(g), asyncio::ValueError);
  }());
}

asyncio::Task<int> announced(std::string name, double d, int v) {
  T("{} starts", name);
  co_await asyncio::sleep(d);
  co_return v;
}

TEST_CASE("wait_for schedules its work when awaited, gather when called (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        auto w = asyncio::wait_for(announced("inner", 0.5, 1), 1);
        auto g = asyncio::gather(announced("gathered", 0, 2));
        T("created");
        co_await asyncio::sleep(2);
        T("slept");
        int r = co_await std::move(w);  // the deadline counts from here: no TimeoutError
        T("wait_for {}", r);
        auto [x] = co_await std::move(g);
        T("gather [{}]", x);
      }(),
      VT);
  CHECK(T.lines == Lines{"created", "gathered starts", "slept", "inner starts", "wait_for 1", "gather [2]"});
}

TEST_CASE("a gather that is never awaited leaves its children, before or after they finish") {
  int done = 0;
  asyncio::run(
      [](int& done) -> asyncio::Task<> {
        auto a = asyncio::create_task(value(1, 1));
        auto b = asyncio::create_task(value(0, 2));
        {
          auto g = asyncio::gather(a, b);  // registered on a and b, then dropped unawaited
        }
        {
          auto g = asyncio::gather(std::vector<asyncio::TaskHandle<int>>{a, b});
          co_await asyncio::sleep(0.5);  // b finished: its node to g is queued or counted
        }  // g is destroyed here: its nodes leave a's done list and the ready queue
        a.add_done_callback([&done] { ++done; });
        int ra = co_await a;
        int rb = co_await b;
        CHECK(ra + 10 * rb == 21);
        co_await asyncio::sleep(0);
        CHECK(asyncio::testing::pending_task_count(asyncio::get_running_loop()) == 1);
      }(done),
      VT);
  CHECK(done == 1);
}

TEST_CASE("gather of a task whose loop is closed raises RuntimeError when called, as Python's call_soon") {
  asyncio::TaskHandle<int> kept;
  {
    asyncio::EventLoop loop;
    kept = loop.create_task(child_value(4));
    CHECK(loop.run_until_complete(kept) == 4);
    loop.close();
  }
  CHECK_THROWS_WITH(asyncio::gather(kept), Catch::Matchers::Contains("Event loop is closed"));
  std::vector<asyncio::TaskHandle<int>> v{kept};
  CHECK_THROWS_WITH(asyncio::gather(v), Catch::Matchers::Contains("Event loop is closed"));
}

TEST_CASE("wait: FIRST_COMPLETED, timeout, ALL_COMPLETED, FIRST_EXCEPTION (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        std::vector<asyncio::TaskHandle<int>> ts;
        for (int d : {3, 1, 2}) ts.push_back(asyncio::create_task(value(d, d)));
        auto [done, pending] = co_await asyncio::wait(ts, asyncio::FIRST_COMPLETED);
        T("first [{}] {}", done[0].result(), pending.size());
        auto [done2, pending2] = co_await asyncio::wait(ts, 0.5);
        T("timeout {} {}", done2.size(), pending2.size());
        auto [done3, pending3] = co_await asyncio::wait(ts);
        std::vector<int> rs;
        for (auto& t : done3) rs.push_back(t.result());
        std::sort(rs.begin(), rs.end());
        T("all [{}, {}, {}] {}", rs[0], rs[1], rs[2], pending3.size());
        std::vector<asyncio::TaskHandle<int>> ts2{asyncio::create_task(boom(1, "x")),
                                                  asyncio::create_task(value(5, 9))};
        auto [done4, pending4] = co_await asyncio::wait(ts2, std::nullopt, asyncio::FIRST_EXCEPTION);
        T("first_exception {} {}", done4.size(), pending4.size());
        CHECK(done4[0].exception() != nullptr);
        pending4[0].cancel();
        co_await asyncio::sleep(0);
      }(),
      VT);
  CHECK(T.lines == Lines{"value 1 done", "first [1] 2", "timeout 1 2", "value 2 done", "value 3 done",
                         "all [1, 2, 3] 0", "first_exception 1 1"});
}

TEST_CASE("wait accepts lazy Tasks, never raises on timeout and never cancels") {
  asyncio::run(
      []() -> asyncio::Task<> {
        std::vector<asyncio::Task<int>> v;
        v.push_back(value(1, 1));
        v.push_back(value(10, 2));
        auto [done, pending] = co_await asyncio::wait(v, 2s);
        REQUIRE(done.size() == 1);
        REQUIRE(pending.size() == 1);
        CHECK_FALSE(pending[0].cancelled());
        CHECK(co_await pending[0] == 2);
        std::vector<asyncio::TaskHandle<int>> none;
        CHECK_THROWS_AS(co_await asyncio::wait(none), asyncio::ValueError);
      }(),
      VT);
}

TEST_CASE("wait_for cancels the inner work and waits for its cleanup before TimeoutError (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        auto& loop = asyncio::get_running_loop();
        double t0 = loop.time();
        try {
          co_await asyncio::wait_for(slow_cleanup(), 1);
        } catch (const asyncio::TimeoutError&) {
          T("timeout after {:.1f}", loop.time() - t0);
        }
        auto v = co_await asyncio::wait_for(value(0.5, 7), 1s);
        T("fast {}", v);
        CHECK(asyncio::testing::timer_count(loop) == 0);
      }(),
      VT);
  CHECK(T.lines == Lines{"inner cleaning up", "inner cleaned", "timeout after 1.5", "value 7 done", "fast 7"});
}

TEST_CASE("cancelling a wait_for cancels the inner work (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        auto t = asyncio::create_task([]() -> asyncio::Task<> { co_await asyncio::wait_for(slow_cleanup(), 5); });
        co_await asyncio::sleep(1);
        t.cancel();
        try {
          co_await t;
        } catch (const asyncio::CancelledError&) {
          T("outer cancelled");
        }
        CHECK(asyncio::testing::timer_count(asyncio::get_running_loop()) == 0);
        CHECK(asyncio::testing::pending_task_count(asyncio::get_running_loop()) == 1);
      }(),
      VT);
  CHECK(T.lines == Lines{"inner cleaning up", "inner cleaned", "outer cancelled"});
}

TEST_CASE("wait_for takes any awaitable, zero and no timeout") {
  asyncio::run(
      []() -> asyncio::Task<> {
        CHECK_THROWS_AS(co_await asyncio::wait_for(asyncio::sleep(5), 1), asyncio::TimeoutError);
        CHECK_THROWS_AS(co_await asyncio::wait_for(value(1, 1), 0), asyncio::TimeoutError);
        auto h = asyncio::create_task(value(0, 3));
        co_await asyncio::sleep(0);
        co_await asyncio::sleep(0);
        CHECK(co_await asyncio::wait_for(h, 0) == 3);  // already done: its result
        CHECK(co_await asyncio::wait_for(value(2, 4), std::nullopt) == 4);
        CHECK(co_await asyncio::wait_for(asyncio::sleep(1, 5), 2.0) == 5);
        asyncio::Task<int> as_task = asyncio::wait_for(value(1, 8), 5);  // converts to a Task
        int eight = co_await as_task;  // (not inside CHECK: GCC 12 and co_await in an argument list)
        CHECK(eight == 8);
        auto scheduled = asyncio::create_task(asyncio::wait_for(value(10, 9), 1));
        CHECK_THROWS_AS(co_await scheduled, asyncio::TimeoutError);
        auto [g1, g2] = co_await asyncio::gather(asyncio::wait_for(value(1, 1), 2), asyncio::wait_for(value(0, 2), 2));
        CHECK(g1 + g2 == 3);
      }(),
      VT);
}

TEST_CASE("wait_for on a leaf awaitable (sleep): TimeoutError at the deadline, result before it, nothing left") {
  asyncio::run(
      []() -> asyncio::Task<> {
        auto& loop = asyncio::get_running_loop();
        double t0 = loop.time();
        CHECK_THROWS_AS(co_await asyncio::wait_for(asyncio::sleep(10), 0.25), asyncio::TimeoutError);
        CHECK(loop.time() - t0 == Approx(0.25));
        CHECK(asyncio::testing::timer_count(loop) == 0);
        int v = co_await asyncio::wait_for(asyncio::sleep(0.5, 42), 1.0);
        CHECK(v == 42);
        CHECK(loop.time() - t0 == Approx(0.75));
        CHECK(asyncio::testing::timer_count(loop) == 0);
        co_await asyncio::wait_for(asyncio::sleep(0), 1.0);  // a bare yield never times out
        CHECK_THROWS_AS(co_await asyncio::wait_for(asyncio::sleep(1), 0), asyncio::TimeoutError);
        CHECK_THROWS_AS(co_await asyncio::wait_for(asyncio::sleep(1), -1.0), asyncio::TimeoutError);
        CHECK_THROWS_AS(co_await asyncio::wait_for(asyncio::sleep(1), std::nan("")), asyncio::ValueError);
        CHECK(loop.time() - t0 == Approx(0.75));
        CHECK(asyncio::testing::timer_count(loop) == 0);
      }(),
      VT);
}

TEST_CASE("wait_for on a leaf awaitable: the sleep's own deadline and the timeout in the same iteration") {
  // Both due at t=1. Python arms the timeout before the inner task even starts its sleep, so the
  // timeout is first in line and wins; ours arms it first too.
  asyncio::run(
      []() -> asyncio::Task<> {
        CHECK_THROWS_AS(co_await asyncio::wait_for(asyncio::sleep(1, 7), 1), asyncio::TimeoutError);
        CHECK(asyncio::testing::timer_count(asyncio::get_running_loop()) == 0);
      }(),
      VT);
}

namespace {
asyncio::Task<> hold_lock(asyncio::Lock& lock, double secs) {
  co_await lock.acquire();
  co_await asyncio::sleep(secs);
  lock.release();
}
}  // namespace

TEST_CASE("wait_for on Lock/Semaphore/Event: nothing is lost on timeout, a grant before the deadline is kept") {
  asyncio::run(
      []() -> asyncio::Task<> {
        asyncio::Lock lock;
        auto holder = asyncio::create_task(hold_lock(lock, 1.0));
        co_await asyncio::sleep(0);
        CHECK_THROWS_AS(co_await asyncio::wait_for(lock.acquire(), 0.5), asyncio::TimeoutError);
        CHECK(lock.waiter_count() == 0);
        bool got = co_await asyncio::wait_for(lock.acquire(), 5);  // released at t=1
        CHECK(got);
        CHECK(lock.locked());
        lock.release();
        co_await holder;

        asyncio::Semaphore sem(1);
        co_await sem.acquire();
        CHECK_THROWS_AS(co_await asyncio::wait_for(sem.acquire(), 0.5), asyncio::TimeoutError);
        sem.release();
        CHECK_FALSE(sem.locked());  // the timed-out waiter took no permit with it
        bool got_sem = co_await asyncio::wait_for(sem.acquire(), 0.5);
        CHECK(got_sem);
        sem.release();

        asyncio::Event ev;
        CHECK_THROWS_AS(co_await asyncio::wait_for(ev.wait(), 0.5), asyncio::TimeoutError);
        CHECK(ev.waiter_count() == 0);
        asyncio::get_running_loop().call_later(0.25, [&ev] { ev.set(); });
        bool set = co_await asyncio::wait_for(ev.wait(), 1);
        CHECK(set);
        CHECK(asyncio::testing::timer_count(asyncio::get_running_loop()) == 0);
      }(),
      VT);
}

namespace {
asyncio::Task<> leaf_wait_for_in_block() { co_await asyncio::wait_for(asyncio::sleep(10), 5); }
asyncio::Task<> leaf_wait_for_in_timeout_block() {
  auto cm = asyncio::timeout(0.5);
  auto body = [] { return leaf_wait_for_in_block(); };
  co_await asyncio::async_with(cm, body);
}
}  // namespace

TEST_CASE("wait_for on a leaf awaitable: cancelling the waiting task gives CancelledError, not TimeoutError") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        auto& loop = asyncio::get_running_loop();
        auto waiting = []() -> asyncio::Task<> {
          try {
            co_await asyncio::wait_for(asyncio::sleep(10), 5);
          } catch (const asyncio::CancelledError&) {
            T("cancelled");
            throw;
          }
        };
        auto t = asyncio::create_task(waiting());
        co_await asyncio::sleep(1);
        t.cancel();
        CHECK_THROWS_AS(co_await t, asyncio::CancelledError);
        CHECK(t.cancelled());
        // Cancelled in the very iteration the deadline passed: the cancellation still wins.
        auto t2 = asyncio::create_task(waiting());
        co_await asyncio::sleep(0);
        loop.call_later(2, [&t2] { t2.cancel(); });  // scheduled after wait_for's own timer
        co_await asyncio::sleep(3);
        CHECK(t2.cancelled());
        CHECK(asyncio::testing::timer_count(loop) == 0);
        // Under an enclosing timeout() block, the outer expiry is the TimeoutError that escapes.
        double t0 = loop.time();
        auto outer = leaf_wait_for_in_timeout_block();
        CHECK_THROWS_AS(co_await outer, asyncio::TimeoutError);
        CHECK(loop.time() - t0 == Approx(0.5));
        CHECK(asyncio::testing::timer_count(loop) == 0);
      }(),
      VT);
  CHECK(T.lines == Lines{"cancelled", "cancelled"});
}

TEST_CASE("wait_for on a leaf awaitable runs as a task too (create_task, gather, Task<T>)") {
  asyncio::run(
      []() -> asyncio::Task<> {
        asyncio::Task<int> as_task = asyncio::wait_for(asyncio::sleep(1, 3), 5);
        int three = co_await as_task;
        CHECK(three == 3);
        auto h = asyncio::create_task(asyncio::wait_for(asyncio::sleep(5), 1));
        CHECK_THROWS_AS(co_await h, asyncio::TimeoutError);
        auto [a, b] = co_await asyncio::gather(asyncio::return_exceptions, asyncio::wait_for(asyncio::sleep(1, 1), 2),
                                               asyncio::wait_for(asyncio::sleep(3, 2), 2));
        CHECK(a.value() == 1);
        CHECK_THROWS_AS(b.value(), asyncio::TimeoutError);
        CHECK(asyncio::testing::timer_count(asyncio::get_running_loop()) == 0);
      }(),
      VT);
}

TEST_CASE("done callbacks are scheduled with call_soon, in order, before the awaiting task (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        auto t = asyncio::create_task(value(1, 3));
        t.add_done_callback([](asyncio::TaskHandle<int>& f) { T("cb1 {}", f.result()); });
        t.add_done_callback([] { T("cb2"); });
        auto removed = t.add_done_callback([] { T("never"); });
        CHECK(t.remove_done_callback(removed) == 1);
        CHECK(t.remove_done_callback(removed) == 0);
        co_await t;
        T("after await");
        co_await asyncio::sleep(0);
        T("after sleep0");
      }(),
      VT);
  CHECK(T.lines == Lines{"value 3 done", "cb1 3", "cb2", "after await", "after sleep0"});
}

static asyncio::Task<> remove_callback_zero_on(std::optional<asyncio::TaskHandle<>>* self) {
  co_await asyncio::sleep(0);
  CHECK((*self)->remove_done_callback(0) == 0);
}

TEST_CASE("remove_done_callback takes only the user's own callbacks, never gather's, an awaiter's or run()'s") {
  int ran = 0;
  asyncio::run(
      [](int& ran) -> asyncio::Task<> {
        auto t = asyncio::create_task(value(1, 5));
        auto g = asyncio::create_task(asyncio::gather(t));
        auto w = asyncio::create_task([](asyncio::TaskHandle<int> t) -> asyncio::Task<int> { co_return co_await t; }(t));
        auto id = t.add_done_callback([&ran] { ++ran; });
        co_await asyncio::sleep(0);  // gather and the awaiting task have registered on t
        CHECK(t.remove_done_callback(0) == 0);
        CHECK(t.remove_done_callback(id + 1000) == 0);
        CHECK(t.remove_done_callback(id) == 1);
        auto [r] = co_await g;
        CHECK(r == 5);
        CHECK(co_await w == 5);
      }(ran),
      VT);
  CHECK(ran == 0);
  // run_until_complete's own node sits in the task's done list: id 0 must not take it (the loop
  // would then never stop).
  auto loop = asyncio::new_event_loop();
  std::optional<asyncio::TaskHandle<>> self;
  self = loop->create_task(remove_callback_zero_on(&self));
  loop->run_until_complete(*self);
  CHECK(self->done());
  loop->close();
}

TEST_CASE("TaskHandle: result(), exception(), names, copies, awaiting many times") {
  asyncio::run(
      []() -> asyncio::Task<> {
        auto t = asyncio::create_task(value(1, 11), "worker");
        CHECK(t.get_name() == "worker");
        CHECK_THROWS_AS(t.result(), asyncio::InvalidStateError);
        CHECK_THROWS_AS(t.exception(), asyncio::InvalidStateError);
        auto copy = t;
        CHECK(copy == t);
        CHECK(co_await t == 11);
        CHECK(co_await copy == 11);
        CHECK(t.result() == 11);
        CHECK(t.exception() == nullptr);
        auto u = asyncio::create_task(value(0, 1));
        CHECK(u.get_name().rfind("Task-", 0) == 0);
        u.set_name("renamed");
        CHECK(u.get_name() == "renamed");
        auto f = asyncio::create_task(boom(0, "bad"));
        try {
          co_await f;
        } catch (const asyncio::ValueError&) {
        }
        CHECK(f.exception() != nullptr);
        CHECK_FALSE(f.cancel());  // done: cancel() is false
      }(),
      VT);
}

namespace {
/// Counts live instances (a task result whose lifetime the tests follow).
struct Counted {
  static inline int live = 0;
  int v;
  explicit Counted(int x) : v(x) { ++live; }
  Counted(const Counted& o) : v(o.v) { ++live; }
  Counted(Counted&& o) noexcept : v(o.v) { ++live; }
  ~Counted() { --live; }
};
/// co_await it to learn the address of the awaiting coroutine's frame.
struct FrameAddress {
  void** out;
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) const noexcept {
    *out = h.address();
    return false;
  }
  void await_resume() const noexcept {}
};
asyncio::Task<Counted> holding([[maybe_unused]] std::shared_ptr<int> param, void** frame, int v) {
  co_await FrameAddress{frame};
  co_await asyncio::sleep(0);
  if (v < 0) throw asyncio::ValueError("negative");
  co_return Counted(v);
}
asyncio::Task<std::unique_ptr<int>> move_only_result(int v) {
  co_await asyncio::sleep(0);
  co_return std::make_unique<int>(v);
}
}  // namespace

TEST_CASE("a task's state lives in front of its frame; the frame dies when it finishes, the result with the last handle") {
  asyncio::run(
      []() -> asyncio::Task<> {
        auto param = std::make_shared<int>(7);
        void* frame = nullptr;
        {
          auto h = asyncio::create_task(holding(param, &frame, 5));
          CHECK(param.use_count() == 2);  // the frame's copy of the parameter
          co_await asyncio::sleep(0);
          REQUIRE(frame != nullptr);
          // One block: the state create_task built sits right in front of the coroutine frame.
          CHECK(reinterpret_cast<char*>(h.state_ptr()) + asyncio::detail::task_prefix_bytes<Counted> ==
                static_cast<char*>(frame));
          Counted r = co_await h;
          CHECK(r.v == 5);
          CHECK(param.use_count() == 1);  // finished: the frame (and its parameters) are gone...
          CHECK(Counted::live == 2);      // ...the result lives on in the state (and in r)
          CHECK(h.result().v == 5);
        }
        CHECK(Counted::live == 0);  // last handle gone: the result too
        {
          auto bad = asyncio::create_task(holding(param, &frame, -1));
          CHECK_THROWS_AS(co_await bad, asyncio::ValueError);
          CHECK(param.use_count() == 1);
          auto cancelled = asyncio::create_task(holding(param, &frame, 1));
          co_await asyncio::sleep(0);
          cancelled.cancel();
          CHECK_THROWS_AS(co_await cancelled, asyncio::CancelledError);
          auto never_started = asyncio::create_task(holding(param, &frame, 1));
          never_started.cancel();  // cancelled before its first step: the frame never runs
          CHECK_THROWS_AS(co_await never_started, asyncio::CancelledError);
          CHECK(param.use_count() == 1);
          auto mo = asyncio::create_task(move_only_result(9));
          co_await asyncio::sleep(0);
          co_await asyncio::sleep(0);
          REQUIRE(mo.done());
          std::unique_ptr<int>& p = mo.result();
          CHECK(*p == 9);
        }
        CHECK(Counted::live == 0);
        {
          auto unscheduled = holding(param, &frame, 1);  // a Task never scheduled frees its block itself
          CHECK(param.use_count() == 2);
        }
        CHECK(param.use_count() == 1);
        // A task still pending when the loop closes is destroyed with its frame (run() cancels
        // it first; this one ignores nothing, so it ends cancelled).
        asyncio::create_task(holding(param, &frame, 1));
      }(),
      VT);
  CHECK(Counted::live == 0);
}

namespace {
/// Throws on the move that brings `countdown` to 0 (0: never).
struct MoveBomb {
  static inline int countdown = 0;
  std::string v;
  explicit MoveBomb(std::string x) : v(std::move(x)) {}
  MoveBomb(MoveBomb&& o) : v(std::move(o.v)) {
    if (countdown > 0 && --countdown == 0) throw asyncio::RuntimeError("move failed");
  }
};
asyncio::Task<MoveBomb> bomb_result(int moves_until_throw) {
  co_await asyncio::sleep(0);
  MoveBomb::countdown = moves_until_throw;
  co_return MoveBomb(std::string(100, 'x'));  // (move 1: into the promise)
}
asyncio::Task<std::string> long_string() {
  co_await asyncio::sleep(0);
  co_return std::string(1000, 'y');
}
}  // namespace

TEST_CASE("a finished task's value lives where its frame was; a result whose move throws fails the task") {
  // The state is 96 bytes whatever T is: no room for the value in front of the frame.
  STATIC_REQUIRE(asyncio::detail::task_prefix_bytes<int> == 96);
  STATIC_REQUIRE(asyncio::detail::task_prefix_bytes<std::string> == 96);
  STATIC_REQUIRE(asyncio::detail::task_prefix_bytes<MoveBomb> == 96);
  asyncio::run([]() -> asyncio::Task<> {
    auto s = asyncio::create_task(long_string());
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    REQUIRE(s.done());
    CHECK(s.result() == std::string(1000, 'y'));
    // Move 2 takes the value out of the frame, move 3 puts it where the frame was: a throw in
    // either fails the task with it, the frame is destroyed, nothing leaks (ASan).
    for (int k : {2, 3}) {
      auto h = asyncio::create_task(bomb_result(k));
      std::string what;
      try {
        (void)co_await h;
      } catch (const asyncio::RuntimeError& e) {
        what = e.what();
      }
      CHECK(what == "move failed");
      CHECK(h.done());
      CHECK_FALSE(h.cancelled());
    }
    MoveBomb::countdown = 0;
    auto ok = asyncio::create_task(bomb_result(0));
    MoveBomb r = co_await ok;
    CHECK(r.v == std::string(100, 'x'));
  }());
}

#if !ASYNCIO_SANITIZED
TEST_CASE("a finished task's block (state + frame) goes back to the pool and the next task reuses it") {
  asyncio::run(
      []() -> asyncio::Task<> {
        auto param = std::make_shared<int>(1);
        void* frame = nullptr;
        void* first = nullptr;
        {
          auto h = asyncio::create_task(holding(param, &frame, 1));
          first = h.state_ptr();
          co_await h;
        }
        auto again = asyncio::create_task(holding(param, &frame, 2));
        CHECK(static_cast<void*>(again.state_ptr()) == first);
        Counted r = co_await again;
        CHECK(r.v == 2);
      }(),
      VT);
}
#endif

TEST_CASE("a task state has no vtable and no loop pointer: 96 bytes, its loop found by id") {
  STATIC_REQUIRE(sizeof(asyncio::detail::TaskStateBase) == 96);
  STATIC_REQUIRE(asyncio::detail::task_prefix_bytes<void> == 96);
  asyncio::TaskHandle<int> kept;
  {
    asyncio::EventLoop loop;
    kept = loop.create_task([]() -> asyncio::Task<int> { co_return 3; }());
    CHECK(&kept.get_loop() == &loop);  // the loop is not running: found in the registry
    CHECK(loop.run_until_complete(kept) == 3);
    CHECK(&kept.get_loop() == &loop);
    loop.close();
  }
  {
    // Woken while its loop is not running (cancelled from outside): the wake-up still goes to
    // its own loop, found by id.
    asyncio::EventLoop loop;
    auto sleeper = loop.create_task([]() -> asyncio::Task<int> {
      co_await asyncio::sleep(3600);
      co_return 1;
    }());
    loop.run_until_complete(loop.create_task([]() -> asyncio::Task<> { co_await asyncio::sleep(0.001); }()));
    CHECK_FALSE(sleeper.done());
    CHECK(sleeper.cancel());
    CHECK_THROWS_AS(loop.run_until_complete(sleeper), asyncio::CancelledError);
    CHECK(sleeper.cancelling() == 1);
    loop.close();
  }
  // The handle outlived its loop: a clear error, never a dangling reference.
  CHECK_THROWS_WITH(kept.get_loop(), Catch::Matchers::Contains("no longer exists"));
  CHECK(kept.result() == 3);
  // cancel() on a finished task reads nothing of the loop either.
  CHECK_FALSE(kept.cancel());
}

TEST_CASE("create_task(callable, args...) keeps the callable and arguments alive in the frame") {
  asyncio::run(
      []() -> asyncio::Task<> {
        asyncio::TaskHandle<std::string> h;
        {
          std::string prefix = "hello ";
          auto lambda = [prefix](std::string who) -> asyncio::Task<std::string> {
            co_await asyncio::sleep(1);
            co_return prefix + who;
          };
          h = asyncio::create_task(lambda, std::string("world"));
        }  // lambda and prefix are gone; the task holds copies
        CHECK(co_await h == "hello world");
        auto s = asyncio::create_task(asyncio::sleep(1, 42));  // any awaitable
        CHECK(co_await s == 42);
      }(),
      VT);
}

TEST_CASE("current_task() and all_tasks()") {
  asyncio::run(
      []() -> asyncio::Task<> {
        auto me = asyncio::current_task();
        REQUIRE(me);
        auto t = asyncio::create_task(value(1, 1));
        CHECK(asyncio::all_tasks().size() == 2);
        bool found = false;
        for (auto& p : asyncio::all_tasks())
          if (p == asyncio::TaskPtr(t)) found = true;
        CHECK(found);
        co_await t;
        CHECK(asyncio::all_tasks().size() == 1);
        CHECK(asyncio::all_tasks()[0] == me);
      }(),
      VT);
  CHECK_FALSE(asyncio::current_task());  // outside a loop: empty (DESIGN.md §7; Python 3.11 raises)
}

TEST_CASE("bad input is a clear exception") {
  CHECK_THROWS_AS(asyncio::sleep(std::nan("")), asyncio::ValueError);
  CHECK_THROWS_AS(asyncio::create_task(value(1, 1)), asyncio::RuntimeError);  // no running loop
  asyncio::run(
      []() -> asyncio::Task<> {
        CHECK_THROWS_AS(co_await asyncio::sleep(std::numeric_limits<double>::quiet_NaN()), asyncio::ValueError);
        CHECK_THROWS_AS(co_await asyncio::wait_for(value(1, 1), std::nan("")), asyncio::ValueError);
        asyncio::TaskHandle<int> empty;
        CHECK_THROWS_AS(co_await empty, asyncio::RuntimeError);
        CHECK_THROWS_AS(empty.result(), asyncio::RuntimeError);
      }(),
      VT);
}

TEST_CASE("CancelledError is not a std::exception: catch (std::exception&) does not swallow it") {
  STATIC_REQUIRE_FALSE(std::is_base_of_v<std::exception, asyncio::CancelledError>);
  STATIC_REQUIRE(std::is_base_of_v<std::exception, asyncio::TimeoutError>);
  bool swallowed = false;
  auto body = [&]() -> asyncio::Task<> {
    try {
      co_await asyncio::sleep(10);
    } catch (const std::exception&) {
      swallowed = true;
    }
  };
  asyncio::run(
      [&]() -> asyncio::Task<> {
        auto t = asyncio::create_task(body());
        co_await asyncio::sleep(1);
        t.cancel();
        CHECK_THROWS_AS(co_await t, asyncio::CancelledError);
      }(),
      VT);
  CHECK_FALSE(swallowed);
}

TEST_CASE("cancelling a task suspended on each awaitable leaves nothing registered") {
  asyncio::run(
      []() -> asyncio::Task<> {
        auto& loop = asyncio::get_running_loop();
        asyncio::Semaphore sem(0);
        auto child_task = asyncio::create_task(value(100, 1));
        std::vector<asyncio::TaskHandle<>> victims;
        victims.push_back(asyncio::create_task([]() -> asyncio::Task<> { co_await asyncio::sleep(100); }));
        victims.push_back(asyncio::create_task([&]() -> asyncio::Task<> { co_await sem.acquire(); }));
        victims.push_back(asyncio::create_task([&]() -> asyncio::Task<> { co_await child_task; }));
        victims.push_back(asyncio::create_task([]() -> asyncio::Task<> {
          co_await asyncio::gather(asyncio::sleep(100), asyncio::sleep(200));
        }));
        victims.push_back(asyncio::create_task([]() -> asyncio::Task<> { co_await asyncio::wait_for(asyncio::sleep(100), 50); }));
        victims.push_back(asyncio::create_task([&]() -> asyncio::Task<> {
          std::vector<asyncio::TaskHandle<int>> v{child_task};
          co_await asyncio::wait(v, 70.0);
        }));
        co_await asyncio::sleep(1);
        CHECK(sem.waiter_count() == 1);
        for (auto& v : victims) v.cancel();
        auto results = co_await asyncio::gather(asyncio::return_exceptions, victims);
        for (auto& r : results) CHECK_FALSE(r.has_value());
        CHECK(sem.waiter_count() == 0);
        CHECK(sem.value() == 0);
        // Cancelling a task that awaits a TaskHandle cancels that child too (Python's fut_waiter).
        CHECK(child_task.cancelled());
        CHECK_THROWS_AS(co_await child_task, asyncio::CancelledError);
        CHECK(asyncio::testing::timer_count(loop) == 0);
        CHECK(asyncio::testing::pending_task_count(loop) == 1);
      }(),
      VT);
}

TEST_CASE("a million concurrent sleeping tasks finish under virtual time") {
  auto t = asyncio::run(
      []() -> asyncio::Task<double> {
        std::vector<asyncio::TaskHandle<>> v;
        v.reserve(1000000);
        for (int i = 0; i < 1000000; ++i)
          v.push_back(asyncio::create_task(asyncio::sleep(1.0 + (i % 1000) * 0.001)));
        co_await asyncio::gather(v);
        co_return asyncio::get_running_loop().time();
      }(),
      VT);
  CHECK(t == Approx(1.999).margin(1e-6));
}
