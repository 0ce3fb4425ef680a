// CPython 3.11 Lib/test/test_asyncio/test_tasks.py: one Catch2 case per test method, named
// after it (module.Class.method). The C/Py task and future duplicates (CTask_CFuture_Tests,
// PyTask_PyFuture_Tests, ...) are ported once, as BaseTaskTests.*. `self.new_future(loop)` is
// `loop->create_future<T>()` on a fresh loop, `self.new_task(loop, coro)` is
// `loop->create_task(coro)`; test_utils.run_briefly is one run_until_complete of a coroutine
// that returns at once (3.11's `async def once(): pass`: two loop iterations), and
// GatherTestsBase._run_loop ("while loop._ready: run_briefly") a few of them. Methods with no C++
// meaning are listed in SKIPPED.md. (test_sleep and test_cancel_gather_2 are ported in
// test_cpython_differences.cpp.)
#include <asyncio/asyncio.hpp>

#include <list>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"

namespace {
asyncio::Task<> sleep0() { co_await asyncio::sleep(0); }
/// test_utils.run_briefly's `async def once(): pass`.
asyncio::Task<> once() { co_return; }

struct ZeroDivisionError : std::runtime_error {
  ZeroDivisionError() : std::runtime_error("division by zero") {}
};
struct PyRuntimeError : std::runtime_error {
  PyRuntimeError() : std::runtime_error("RuntimeError") {}
};

/// test_utils.TestCase with self.loop = self.new_test_loop() (closed at the end).
struct LoopFixture {
  std::shared_ptr<asyncio::EventLoop> loop = asyncio::new_event_loop();
  std::vector<asyncio::ExceptionContext> errors;  // what the loop's exception handler got
  LoopFixture() {
    loop->set_exception_handler(
        [this](asyncio::EventLoop&, const asyncio::ExceptionContext& ctx) { errors.push_back(ctx); });
  }
  ~LoopFixture() { loop->close(); }
  void run_briefly() { loop->run_until_complete(once()); }
  /// GatherTestsBase._run_loop: run until nothing is ready.
  void run_loop() {
    for (int i = 0; i < 4; ++i) run_briefly();
  }
};

template <class F>
bool raises_cancelled(F&& f) {
  try {
    f();
  } catch (const asyncio::CancelledError&) {
    return true;
  }
  return false;
}
template <class E>
bool holds(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

/// `await fut` (a copy of the GatheringFuture) as a Task, for run_until_complete.
template <class R>
asyncio::Task<R> await_it(asyncio::GatheringFuture<R> g) {
  R r = co_await g;
  co_return r;
}

/// test_utils.MockCallback for a gather's done callback: counts calls, checks the argument.
template <class G>
struct MockCallback {
  int called = 0;
  bool same = true;
  void attach(G& fut) {
    fut.add_done_callback([this, fut](G& arg) {
      ++called;
      same = same && arg == fut;
    });
  }
};
}  // namespace

// ------------------------------------------------------------------ GatherTestsBase

namespace {
void check_success(bool return_exceptions) {
  LoopFixture fx;
  auto a = fx.loop->create_future<int>(), b = fx.loop->create_future<int>(), c = fx.loop->create_future<int>();
  auto run = [&](auto fut, auto value_of) {
    MockCallback<decltype(fut)> cb;
    cb.attach(fut);
    b.set_result(1);
    a.set_result(2);
    fx.run_loop();
    CHECK(cb.called == 0);
    CHECK_FALSE(fut.done());
    c.set_result(3);
    fx.run_loop();
    CHECK(cb.called == 1);
    CHECK(cb.same);
    auto& r = fut.result();
    CHECK(value_of(std::get<0>(r)) == 2);
    CHECK(value_of(std::get<1>(r)) == 1);
    CHECK(value_of(std::get<2>(r)) == 3);
  };
  if (return_exceptions)
    run(asyncio::gather(asyncio::return_exceptions, a, b, c), [](const asyncio::Result<int>& x) { return x.value(); });
  else
    run(asyncio::gather(a, b, c), [](int x) { return x; });
}
}  // namespace

TEST_CASE("test_tasks.FutureGatherTests.test_success") { check_success(false); }
TEST_CASE("test_tasks.FutureGatherTests.test_result_exception_success") { check_success(true); }

TEST_CASE("test_tasks.FutureGatherTests.test_one_exception") {
  LoopFixture fx;
  auto a = fx.loop->create_future<int>(), b = fx.loop->create_future<int>(), c = fx.loop->create_future<int>(),
       d = fx.loop->create_future<int>(), e = fx.loop->create_future<int>();
  auto fut = asyncio::gather(a, b, c, d, e);
  MockCallback<decltype(fut)> cb;
  cb.attach(fut);
  a.set_result(1);
  b.set_exception(ZeroDivisionError());
  fx.run_loop();
  CHECK(fut.done());
  CHECK(cb.called == 1);
  CHECK(holds<ZeroDivisionError>(fut.exception()));
  // The other futures are left pending (Python does not cancel them): this does nothing.
  CHECK_FALSE(c.done());
  CHECK_FALSE(d.done());
  CHECK_FALSE(e.done());
  c.set_result(3);
  d.cancel();
  e.set_exception(PyRuntimeError());
  (void)e.exception();
  fx.run_loop();
  CHECK(cb.called == 1);
  CHECK(fx.errors.empty());
}

TEST_CASE("test_tasks.FutureGatherTests.test_return_exceptions") {
  LoopFixture fx;
  auto a = fx.loop->create_future<int>(), b = fx.loop->create_future<int>(), c = fx.loop->create_future<int>(),
       d = fx.loop->create_future<int>();
  auto fut = asyncio::gather(asyncio::return_exceptions, a, b, c, d);
  MockCallback<decltype(fut)> cb;
  cb.attach(fut);
  b.set_result(1);
  c.set_exception(ZeroDivisionError());
  a.set_result(3);
  fx.run_loop();
  CHECK_FALSE(fut.done());
  d.set_exception(PyRuntimeError());
  fx.run_loop();
  CHECK(fut.done());
  CHECK(cb.called == 1);
  auto& r = fut.result();
  CHECK(std::get<0>(r).value() == 3);
  CHECK(std::get<1>(r).value() == 1);
  CHECK(holds<ZeroDivisionError>(std::get<2>(r).exception()));
  CHECK(holds<PyRuntimeError>(std::get<3>(r).exception()));
}

TEST_CASE("test_tasks.FutureGatherTests.test_constructor_empty_sequence_use_running_loop") {
  LoopFixture fx;
  auto make = []() -> asyncio::Task<asyncio::GatheringFuture<std::vector<int>>> {
    co_return asyncio::gather(std::vector<asyncio::TaskHandle<int>>{});
  };
  auto fut = fx.loop->run_until_complete(make());
  fx.run_loop();
  CHECK(fut.done());
  CHECK(fut.result().empty());
}

TEST_CASE("test_tasks.FutureGatherTests.test_constructor_empty_sequence_without_loop") {
  CHECK_THROWS_WITH(asyncio::gather(std::vector<asyncio::TaskHandle<int>>{}),
                    Catch::Matchers::Contains("no current event loop"));
}

TEST_CASE("test_tasks.FutureGatherTests.test_constructor_empty_sequence_use_global_loop") {
  LoopFixture fx;
  asyncio::set_event_loop(fx.loop);
  auto fut = asyncio::gather(std::vector<asyncio::TaskHandle<int>>{});
  asyncio::set_event_loop(nullptr);
  fx.run_loop();
  CHECK(fut.done());
  CHECK(fut.result().empty());
}

TEST_CASE("test_tasks.FutureGatherTests.test_constructor_heterogenous_futures") {
  LoopFixture one, other;
  auto fut1 = one.loop->create_future<int>();
  auto fut2 = other.loop->create_future<int>();
  CHECK_THROWS_AS(asyncio::gather(fut1, fut2), asyncio::ValueError);
}

TEST_CASE("test_tasks.FutureGatherTests.test_constructor_homogenous_futures") {
  LoopFixture one, other;
  std::vector<asyncio::Future<int>> children;
  for (int i = 0; i < 3; ++i) children.push_back(other.loop->create_future<int>());
  auto fut = asyncio::gather(children[0], children[1], children[2]);
  other.run_loop();
  CHECK_FALSE(fut.done());
  auto fut2 = asyncio::gather(children[0], children[1], children[2]);
  other.run_loop();
  CHECK_FALSE(fut2.done());
  for (auto& c : children) c.set_result(7);
  other.run_loop();
  CHECK(fut.done());
  CHECK(std::get<2>(fut2.result()) == 7);
}

TEST_CASE("test_tasks.FutureGatherTests.test_one_cancellation") {
  LoopFixture fx;
  auto a = fx.loop->create_future<int>(), b = fx.loop->create_future<int>(), c = fx.loop->create_future<int>(),
       d = fx.loop->create_future<int>(), e = fx.loop->create_future<int>();
  auto fut = asyncio::gather(a, b, c, d, e);
  MockCallback<decltype(fut)> cb;
  cb.attach(fut);
  a.set_result(1);
  b.cancel();
  fx.run_loop();
  CHECK(fut.done());
  CHECK(cb.called == 1);
  CHECK_FALSE(fut.cancelled());
  CHECK(holds<asyncio::CancelledError>(fut.exception()));
  // Does nothing: the others were left pending.
  CHECK_FALSE(c.done());
  c.set_result(3);
  d.cancel();
  e.set_exception(PyRuntimeError());
  (void)e.exception();
  fx.run_loop();
  CHECK(fx.errors.empty());
}

TEST_CASE("test_tasks.FutureGatherTests.test_result_exception_one_cancellation") {
  LoopFixture fx;
  std::vector<asyncio::Future<int>> v;
  for (int i = 0; i < 6; ++i) v.push_back(fx.loop->create_future<int>());
  auto fut = asyncio::gather(asyncio::return_exceptions, v[0], v[1], v[2], v[3], v[4], v[5]);
  MockCallback<decltype(fut)> cb;
  cb.attach(fut);
  v[0].set_result(1);
  v[1].set_exception(ZeroDivisionError());
  v[2].cancel();
  fx.run_loop();
  CHECK_FALSE(fut.done());
  v[3].set_result(3);
  v[4].cancel();
  v[5].set_exception(PyRuntimeError());
  auto res = fx.loop->run_until_complete(await_it(fut));
  CHECK(std::get<0>(res).value() == 1);
  CHECK(holds<ZeroDivisionError>(std::get<1>(res).exception()));
  CHECK(holds<asyncio::CancelledError>(std::get<2>(res).exception()));
  CHECK(std::get<3>(res).value() == 3);
  CHECK(holds<asyncio::CancelledError>(std::get<4>(res).exception()));
  CHECK(holds<PyRuntimeError>(std::get<5>(res).exception()));
  CHECK(cb.called == 1);
}

// ------------------------------------------------------------------ CoroutineGatherTests

namespace {
asyncio::Task<int> coro_of(asyncio::Future<int> f) {
  int r = co_await f;
  co_return r;
}
}  // namespace

// CoroutineGatherTests wraps each future in a coroutine: `async def coro(fut=fut): return await fut`.
TEST_CASE("test_tasks.CoroutineGatherTests.test_success") {
  LoopFixture fx;
  auto a = fx.loop->create_future<int>(), b = fx.loop->create_future<int>(), c = fx.loop->create_future<int>();
  auto make = [](auto a, auto b, auto c) -> asyncio::Task<asyncio::GatheringFuture<std::tuple<int, int, int>>> {
    co_return asyncio::gather(coro_of(a), coro_of(b), coro_of(c));
  };
  auto fut = fx.loop->run_until_complete(make(a, b, c));
  MockCallback<decltype(fut)> cb;
  cb.attach(fut);
  b.set_result(1);
  a.set_result(2);
  fx.run_loop();
  CHECK(cb.called == 0);
  CHECK_FALSE(fut.done());
  c.set_result(3);
  fx.run_loop();
  CHECK(cb.called == 1);
  CHECK(fut.result() == std::tuple<int, int, int>{2, 1, 3});
}

TEST_CASE("test_tasks.CoroutineGatherTests.test_one_exception") {
  LoopFixture fx;
  std::vector<asyncio::Future<int>> v;
  for (int i = 0; i < 5; ++i) v.push_back(fx.loop->create_future<int>());
  auto make = [](std::vector<asyncio::Future<int>>& v)
      -> asyncio::Task<asyncio::GatheringFuture<std::tuple<int, int, int, int, int>>> {
    co_return asyncio::gather(coro_of(v[0]), coro_of(v[1]), coro_of(v[2]), coro_of(v[3]), coro_of(v[4]));
  };
  auto fut = fx.loop->run_until_complete(make(v));
  MockCallback<decltype(fut)> cb;
  cb.attach(fut);
  v[0].set_result(1);
  v[1].set_exception(ZeroDivisionError());
  fx.run_loop();
  CHECK(fut.done());
  CHECK(cb.called == 1);
  CHECK(holds<ZeroDivisionError>(fut.exception()));
  // Ours (README, Choices): the coroutines gather scheduled itself were cancelled and awaited
  // before it ended; cancelling a task that awaits a future cancels the future.
  CHECK(v[2].cancelled());
}

TEST_CASE("test_tasks.CoroutineGatherTests.test_cancellation_broadcast") {
  // Cancelling outer() cancels all children.
  asyncio::run([]() -> asyncio::Task<> {
    int proof = 0;
    auto waiter = asyncio::Future<int>();
    auto inner = [](int& proof, asyncio::Future<int> waiter) -> asyncio::Task<> {
      co_await waiter;
      proof += 1;
    };
    auto child1 = asyncio::ensure_future(inner(proof, waiter));
    auto child2 = asyncio::ensure_future(inner(proof, waiter));
    std::optional<asyncio::GatheringFuture<std::tuple<asyncio::None, asyncio::None>>> gatherer;
    auto outer = [](asyncio::TaskHandle<> c1, asyncio::TaskHandle<> c2, int& proof,
                    std::optional<asyncio::GatheringFuture<std::tuple<asyncio::None, asyncio::None>>>& g)
        -> asyncio::Task<> {
      g.emplace(asyncio::gather(c1, c2));
      co_await *g;
      proof += 100;
    };
    auto f = asyncio::ensure_future(outer(child1, child2, proof, gatherer));
    co_await asyncio::sleep(0);
    REQUIRE(gatherer);
    CHECK(f.cancel());
    bool raised = false;
    try {
      co_await f;
    } catch (const asyncio::CancelledError&) {
      raised = true;
    }
    CHECK(raised);
    CHECK(gatherer->cancel() == false);  // done already
    CHECK(child1.cancelled());
    CHECK(child2.cancelled());
    co_await asyncio::sleep(0);
    CHECK(proof == 0);
  }());
}

TEST_CASE("test_tasks.CoroutineGatherTests.test_duplicate_coroutines") {
  asyncio::run([]() -> asyncio::Task<> {
    auto coro = [](std::string s) -> asyncio::Task<std::string> { co_return s; };
    auto c = asyncio::create_task(coro("abc"));
    auto r = co_await asyncio::gather(c, c, coro("def"), c);
    CHECK(r == std::tuple<std::string, std::string, std::string, std::string>{"abc", "abc", "def", "abc"});
  }());
}

TEST_CASE("test_tasks.CoroutineGatherTests.test_exception_marking") {
  // Test for the first line marked "Mark exception retrieved."
  std::vector<asyncio::ExceptionContext> errors;
  asyncio::run([](std::vector<asyncio::ExceptionContext>& errors) -> asyncio::Task<> {
    asyncio::get_running_loop().set_exception_handler(
        [&errors](asyncio::EventLoop&, const asyncio::ExceptionContext& c) { errors.push_back(c); });
    auto inner = [](asyncio::Future<int> f) -> asyncio::Task<> {
      co_await f;
      throw std::runtime_error("should not be ignored");
    };
    auto a = asyncio::Future<int>();
    auto b = asyncio::Future<int>();
    auto ta = asyncio::create_task(inner(a));
    auto tb = asyncio::create_task(inner(b));
    auto g = asyncio::gather(ta, tb);
    co_await asyncio::sleep(0);
    a.set_result(1);
    b.set_result(1);
    bool raised = false;
    try {
      co_await g;
    } catch (const std::runtime_error&) {
      raised = true;
    }
    CHECK(raised);
    co_await asyncio::sleep(0);
  }(errors));
  CHECK(errors.empty());  // tb's exception counts as retrieved by the gather
}

// ------------------------------------------------------------------ BaseTaskTests: gather, shield

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_gather_1") {
  // A gathering future refuses to be cancelled once all children are done.
  auto loop = asyncio::new_event_loop();
  auto fut = loop->create_future<int>();
  auto create = [](asyncio::Future<int> fut) -> asyncio::Task<asyncio::GatheringFuture<std::tuple<int>>> {
    co_return asyncio::gather(coro_of(fut));
  };
  auto gather_task = loop->run_until_complete(create(fut));
  std::optional<bool> cancel_result;
  fut.add_done_callback([&] { cancel_result = gather_task.cancel(); });
  fut.set_result(42);  // calls the cancelling callback after fut is done()
  // At this point the gather should complete.
  loop->run_until_complete(await_it(gather_task));
  // Python issue #26923: asyncio.gather drops cancellation
  CHECK(cancel_result == false);
  CHECK_FALSE(gather_task.cancelled());
  CHECK(std::get<0>(gather_task.result()) == 42);
  loop->close();
}

TEST_CASE("test_tasks.BaseTaskTests.test_shield_result") {
  LoopFixture fx;
  auto inner = fx.loop->create_future<int>();
  auto outer = asyncio::shield(inner);
  inner.set_result(42);
  fx.run_briefly();
  fx.run_briefly();
  CHECK(outer.result() == 42);
}

TEST_CASE("test_tasks.BaseTaskTests.test_shield_exception") {
  LoopFixture fx;
  auto inner = fx.loop->create_future<int>();
  auto outer = asyncio::shield(inner);
  fx.run_briefly();
  inner.set_exception(PyRuntimeError());
  fx.run_briefly();
  fx.run_briefly();
  CHECK(holds<PyRuntimeError>(outer.exception()));
}

TEST_CASE("test_tasks.BaseTaskTests.test_shield_cancel_inner") {
  LoopFixture fx;
  auto inner = fx.loop->create_future<int>();
  auto outer = asyncio::shield(inner);
  fx.run_briefly();
  inner.cancel();
  fx.run_briefly();
  fx.run_briefly();
  CHECK(outer.cancelled());
}

TEST_CASE("test_tasks.BaseTaskTests.test_shield_cancel_outer") {
  LoopFixture fx;
  auto inner = fx.loop->create_future<int>();
  auto outer = asyncio::shield(inner);
  fx.run_briefly();
  outer.cancel();
  fx.run_briefly();
  CHECK(outer.cancelled());
  CHECK_FALSE(inner.cancelled());
}

TEST_CASE("test_tasks.BaseTaskTests.test_shield_shortcut") {
  LoopFixture fx;
  auto fut = fx.loop->create_future<int>();
  fut.set_result(42);
  auto s = asyncio::shield(fut);
  CHECK(s == fut);  // Python's shortcut: the done future itself
  fx.run_briefly();
  CHECK(s.result() == 42);
}

TEST_CASE("test_tasks.BaseTaskTests.test_shield_effect") {
  // Cancelling outer() does not affect inner().
  LoopFixture fx;
  int proof = 0;
  auto waiter = fx.loop->create_future<void>();
  auto inner = [](int& proof, asyncio::Future<void> waiter) -> asyncio::Task<> {
    co_await waiter;
    proof += 1;
  };
  auto outer = [](int& proof, asyncio::Task<> in) -> asyncio::Task<> {
    auto s = asyncio::shield(std::move(in));
    co_await s;
    proof += 100;
  };
  auto f = fx.loop->create_task(outer(proof, inner(proof, waiter)));
  fx.run_briefly();
  f.cancel();
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(f); }));
  waiter.set_result();
  fx.run_briefly();
  CHECK(proof == 1);
}

TEST_CASE("test_tasks.BaseTaskTests.test_shield_gather") {
  LoopFixture fx;
  auto child1 = fx.loop->create_future<int>();
  auto child2 = fx.loop->create_future<int>();
  auto parent = asyncio::gather(child1, child2);
  auto outer = asyncio::shield(parent);
  fx.run_briefly();
  outer.cancel();
  fx.run_briefly();
  CHECK(outer.cancelled());
  child1.set_result(1);
  child2.set_result(2);
  fx.run_briefly();
  REQUIRE(parent.done());  // the same iteration as Python's
  CHECK(parent.result() == std::tuple<int, int>{1, 2});
}

TEST_CASE("test_tasks.BaseTaskTests.test_gather_shield") {
  LoopFixture fx;
  auto child1 = fx.loop->create_future<int>();
  auto child2 = fx.loop->create_future<int>();
  auto inner1 = asyncio::shield(child1);
  auto inner2 = asyncio::shield(child2);
  auto parent = asyncio::gather(inner1, inner2);
  fx.run_briefly();
  parent.cancel();
  // This should cancel inner1 and inner2 but not child1 and child2.
  fx.run_briefly();
  REQUIRE(parent.done());  // the same iteration as Python's
  CHECK(holds<asyncio::CancelledError>(parent.exception()));
  CHECK(inner1.cancelled());
  CHECK(inner2.cancelled());
  CHECK_FALSE(child1.cancelled());
  child1.set_result(1);
  child2.set_result(2);
  fx.run_briefly();
}

// ------------------------------------------------------------------ BaseTaskTests: cancel

TEST_CASE("test_tasks.BaseTaskTests.test_cancel") {
  LoopFixture fx;
  auto task = []() -> asyncio::Task<int> {
    co_await asyncio::sleep(10.0);
    co_return 12;
  };
  auto t = fx.loop->create_task(task());
  fx.loop->call_soon([t]() mutable { t.cancel(); });
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(t); }));
  CHECK(t.done());
  CHECK(t.cancelled());
  CHECK_FALSE(t.cancel());
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_yield") {
  LoopFixture fx;
  auto task = []() -> asyncio::Task<int> {
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    co_return 12;
  };
  auto t = fx.loop->create_task(task());
  fx.run_briefly();  // start coro
  t.cancel();
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(t); }));
  CHECK(t.done());
  CHECK(t.cancelled());
  CHECK_FALSE(t.cancel());
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_inner_future") {
  LoopFixture fx;
  auto f = fx.loop->create_future<void>();
  auto task = [](asyncio::Future<void> f) -> asyncio::Task<int> {
    co_await f;
    co_return 12;
  };
  auto t = fx.loop->create_task(task(f));
  fx.run_briefly();  // start task
  f.cancel();
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(t); }));
  CHECK(f.cancelled());
  CHECK(t.cancelled());
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_both_task_and_inner_future") {
  LoopFixture fx;
  auto f = fx.loop->create_future<void>();
  auto task = [](asyncio::Future<void> f) -> asyncio::Task<int> {
    co_await f;
    co_return 12;
  };
  auto t = fx.loop->create_task(task(f));
  fx.run_briefly();
  f.cancel();
  t.cancel();
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(t); }));
  CHECK(t.done());
  CHECK(f.cancelled());
  CHECK(t.cancelled());
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_task_catching") {
  LoopFixture fx;
  auto fut1 = fx.loop->create_future<void>();
  auto fut2 = fx.loop->create_future<void>();
  auto task = [](asyncio::Future<void> fut1, asyncio::Future<void> fut2) -> asyncio::Task<int> {
    co_await fut1;
    try {
      co_await fut2;
    } catch (const asyncio::CancelledError&) {
      co_return 42;
    }
    co_return 0;
  };
  auto t = fx.loop->create_task(task(fut1, fut2));
  fx.run_briefly();
  fut1.set_result();
  fx.run_briefly();
  t.cancel();
  CHECK(fut2.cancelled());
  CHECK(fx.loop->run_until_complete(t) == 42);
  CHECK_FALSE(t.cancelled());
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_task_ignoring") {
  LoopFixture fx;
  auto fut1 = fx.loop->create_future<void>();
  auto fut2 = fx.loop->create_future<void>();
  auto fut3 = fx.loop->create_future<int>();
  auto task = [](asyncio::Future<void> fut1, asyncio::Future<void> fut2, asyncio::Future<int> fut3) -> asyncio::Task<int> {
    co_await fut1;
    try {
      co_await fut2;
    } catch (const asyncio::CancelledError&) {
    }
    int res = co_await fut3;
    co_return res;
  };
  auto t = fx.loop->create_task(task(fut1, fut2, fut3));
  fx.run_briefly();
  fut1.set_result();
  fx.run_briefly();
  t.cancel();
  CHECK(fut2.cancelled());
  fx.run_briefly();
  fut3.set_result(42);
  CHECK(fx.loop->run_until_complete(t) == 42);
  CHECK_FALSE(fut3.cancelled());
  CHECK_FALSE(t.cancelled());
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_current_task") {
  LoopFixture fx;
  asyncio::TaskHandle<int> t;
  auto task = [](asyncio::TaskHandle<int>& t) -> asyncio::Task<int> {
    t.cancel();
    // The sleep should be cancelled immediately.
    co_await asyncio::sleep(100);
    co_return 12;
  };
  t = fx.loop->create_task(task(t));
  CHECK_FALSE(t.cancelled());
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(t); }));
  CHECK(t.done());
  CHECK(t.cancelled());
  CHECK_FALSE(t.cancel());
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_at_end") {
  // The coroutine ends right after the task is cancelled.
  LoopFixture fx;
  asyncio::TaskHandle<int> t;
  auto task = [](asyncio::TaskHandle<int>& t) -> asyncio::Task<int> {
    t.cancel();
    co_return 12;
  };
  t = fx.loop->create_task(task(t));
  CHECK_FALSE(t.cancelled());
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(t); }));
  CHECK(t.done());
  CHECK(t.cancelled());
  CHECK_FALSE(t.cancel());
}

TEST_CASE("test_tasks.BaseTaskTests.test_baseexception_during_cancel") {
  LoopFixture fx;
  auto sleeper = []() -> asyncio::Task<> { co_await asyncio::sleep(10); };
  auto notmutch = [](auto sleeper) -> asyncio::Task<> {
    bool cancelled = false;
    try {
      co_await sleeper();
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    if (cancelled) throw asyncio::SystemExit();
  };
  auto task = fx.loop->create_task(notmutch(sleeper));
  fx.run_briefly();
  task.cancel();
  CHECK_FALSE(task.done());
  CHECK_THROWS_AS(fx.run_briefly(), asyncio::SystemExit);
  CHECK(task.done());
  CHECK_FALSE(task.cancelled());
  CHECK(holds<asyncio::SystemExit>(task.exception()));
}

// ------------------------------------------------------------------ BaseTaskTests: current_task

TEST_CASE("test_tasks.BaseTaskTests.test_current_task") {
  LoopFixture fx;
  CHECK(asyncio::current_task() == nullptr);
  asyncio::TaskHandle<> task;
  auto coro = [](asyncio::TaskHandle<>& task) -> asyncio::Task<> {
    CHECK(asyncio::current_task() == task);
    co_return;
  };
  task = fx.loop->create_task(coro(task));
  fx.loop->run_until_complete(task);
  CHECK(asyncio::current_task() == nullptr);
}

TEST_CASE("test_tasks.BaseTaskTests.test_current_task_with_interleaving_tasks") {
  LoopFixture fx;
  CHECK(asyncio::current_task() == nullptr);
  auto fut1 = fx.loop->create_future<void>();
  auto fut2 = fx.loop->create_future<void>();
  asyncio::TaskHandle<> task1, task2;
  auto coro1 = [](asyncio::TaskHandle<>& task1, asyncio::Future<void> fut1, asyncio::Future<void> fut2) -> asyncio::Task<> {
    CHECK(asyncio::current_task() == task1);
    co_await fut1;
    CHECK(asyncio::current_task() == task1);
    fut2.set_result();
  };
  auto coro2 = [](asyncio::TaskHandle<>& task2, asyncio::Future<void> fut1, asyncio::Future<void> fut2) -> asyncio::Task<> {
    CHECK(asyncio::current_task() == task2);
    fut1.set_result();
    co_await fut2;
    CHECK(asyncio::current_task() == task2);
  };
  task1 = fx.loop->create_task(coro1(task1, fut1, fut2));
  task2 = fx.loop->create_task(coro2(task2, fut1, fut2));
  auto both = [](asyncio::TaskHandle<> a, asyncio::TaskHandle<> b) -> asyncio::Task<> {
    std::vector<asyncio::TaskHandle<>> v{a, b};
    auto w = asyncio::wait(v);
    co_await std::move(w);
  };
  fx.loop->run_until_complete(both(task1, task2));
  CHECK(asyncio::current_task() == nullptr);
}

// ------------------------------------------------------------------ BaseTaskTests: basics

namespace {
/// self.new_test_loop(gen): a loop on virtual time (gen's expected deadlines become loop.time()
/// checks).
struct TestLoop {
  std::shared_ptr<asyncio::EventLoop> loop =
      std::make_shared<asyncio::EventLoop>(asyncio::EventLoop::Options{.virtual_time = true});
  std::vector<asyncio::ExceptionContext> errors;  // what the loop's exception handler got
  TestLoop() {
    loop->set_exception_handler(
        [this](asyncio::EventLoop&, const asyncio::ExceptionContext& ctx) { errors.push_back(ctx); });
  }
  ~TestLoop() { loop->close(); }
};
asyncio::Task<> sleep_for(double d) { co_await asyncio::sleep(d); }
asyncio::Task<std::string> notmuch() { co_return "ok"; }
asyncio::Task<> sleep10() { co_await asyncio::sleep(10); }
/// asyncio.sleep(d, v) as a coroutine.
asyncio::Task<std::string> sleep_value(double d, std::string v) {
  co_await asyncio::sleep(d);
  co_return v;
}

/// `with self.assertRaises(CancelledError) as cm: loop.run_until_complete(t)`: cm.exception.args.
template <class X>
std::optional<std::string> cancel_message_of(asyncio::EventLoop& loop, X&& t) {
  try {
    loop.run_until_complete(std::forward<X>(t));
  } catch (const asyncio::CancelledError& e) {
    return e.message();
  }
  return std::nullopt;
}
}  // namespace

TEST_CASE("test_tasks.BaseTaskTests.test_task_cancel_message_getter") {
  LoopFixture fx;
  auto coro = []() -> asyncio::Task<> { co_return; };
  auto t = fx.loop->create_task(coro());
  t.cancel("my message");
  CHECK(cancel_message_of(*fx.loop, t) == "my message");
}

TEST_CASE("test_tasks.BaseTaskTests.test_other_loop_future") {
  LoopFixture fx;
  auto other_loop = asyncio::new_event_loop();
  auto fut = other_loop->create_future<void>();
  auto run = [](asyncio::Future<void> fut) -> asyncio::Task<> { co_await fut; };
  CHECK_THROWS_WITH(fx.loop->run_until_complete(run(fut)),
                    Catch::Matchers::Contains("got Future") && Catch::Matchers::Contains("attached to a different loop"));
  other_loop->close();
}

TEST_CASE("test_tasks.BaseTaskTests.test_task_awaits_on_itself") {
  LoopFixture fx;
  asyncio::TaskHandle<> task;
  auto test = [](asyncio::TaskHandle<>& task) -> asyncio::Task<> { co_await task; };
  task = fx.loop->create_task(test(task));
  CHECK_THROWS_WITH(fx.loop->run_until_complete(task), Catch::Matchers::Contains("Task cannot await on itself"));
}

TEST_CASE("test_tasks.BaseTaskTests.test_ensure_future_coroutine") {
  LoopFixture fx;
  // Python's ensure_future(coro, loop=...) is loop.create_task(coro).
  auto t = fx.loop->create_task(notmuch());
  fx.loop->run_until_complete(t);
  CHECK(t.done());
  CHECK(t.result() == "ok");
  CHECK(&t.get_loop() == fx.loop.get());
  CHECK_THROWS_WITH(asyncio::ensure_future(notmuch()), Catch::Matchers::Contains("no current event loop"));
  auto test = []() -> asyncio::Task<asyncio::TaskHandle<std::string>> { co_return asyncio::ensure_future(notmuch()); };
  auto t2 = fx.loop->run_until_complete(test());
  CHECK(&t2.get_loop() == fx.loop.get());
  fx.loop->run_until_complete(t2);
  CHECK(t2.done());
  CHECK(t2.result() == "ok");
  // Deprecated in 3.10, undeprecated in 3.11.1: the loop set with set_event_loop().
  asyncio::set_event_loop(fx.loop);
  auto t3 = asyncio::ensure_future(notmuch());
  asyncio::set_event_loop(nullptr);
  CHECK(&t3.get_loop() == fx.loop.get());
  fx.loop->run_until_complete(t3);
  CHECK(t3.done());
  CHECK(t3.result() == "ok");
}

TEST_CASE("test_tasks.BaseTaskTests.test_ensure_future_future") {
  LoopFixture fx;
  auto f_orig = fx.loop->create_future<std::string>();
  f_orig.set_result("ko");
  auto f = asyncio::ensure_future(f_orig);
  CHECK(f == f_orig);
  CHECK(f.done());
  CHECK(f.result() == "ko");
}

TEST_CASE("test_tasks.BaseTaskTests.test_ensure_future_task") {
  LoopFixture fx;
  auto t_orig = fx.loop->create_task(notmuch());
  auto t = asyncio::ensure_future(t_orig);
  fx.loop->run_until_complete(t);
  CHECK(t.done());
  CHECK(t.result() == "ok");
  CHECK(t == t_orig);
}

TEST_CASE("test_tasks.BaseTaskTests.test_task_basics") {
  LoopFixture fx;
  auto inner1 = []() -> asyncio::Task<int> { co_return 42; };
  auto inner2 = []() -> asyncio::Task<int> { co_return 1000; };
  auto outer = [](auto inner1, auto inner2) -> asyncio::Task<int> {
    int a = co_await inner1();
    int b = co_await inner2();
    co_return a + b;
  };
  CHECK(fx.loop->run_until_complete(outer(inner1, inner2)) == 1042);
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancelling") {
  LoopFixture fx;
  auto t = fx.loop->create_task(sleep10());
  CHECK_FALSE(t.cancelling());
  CHECK(t.cancel());
  CHECK(t.cancelling());
  CHECK(t.cancel());  // (3.11 returns True again)
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(t); }));
}

TEST_CASE("test_tasks.BaseTaskTests.test_uncancel_basic") {
  TestLoop tl;
  auto& loop = *tl.loop;
  auto task = []() -> asyncio::Task<> {
    bool cancelled = false;
    try {
      co_await asyncio::sleep(10);
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    if (cancelled) {
      asyncio::current_task()->uncancel();
      co_await asyncio::sleep(10);
    }
  };
  auto t = loop.create_task(task());
  loop.run_until_complete(sleep_for(0.01));
  // Cancel the first sleep.
  CHECK(t.cancel());
  CHECK(t.cancelling() == 1);
  CHECK_FALSE(t.cancelled());  // the task is still not complete
  loop.run_until_complete(sleep_for(0.01));
  // After .uncancel()
  CHECK(t.cancelling() == 0);
  CHECK_FALSE(t.cancelled());
  // Cancel the second sleep.
  CHECK(t.cancel());
  CHECK(t.cancelling() == 1);
  CHECK_FALSE(t.cancelled());
  CHECK(raises_cancelled([&] { loop.run_until_complete(t); }));
  CHECK(t.cancelled());  // finally, the task is complete
  CHECK(t.done());
  // uncancel is no longer effective after the task is complete
  t.uncancel();
  CHECK(t.cancelled());
  CHECK(t.done());
}

namespace {
struct StructuredResult {
  bool timed_out = false, structured_block_finished = false, outer_code_reached = false;
};
asyncio::Task<StructuredResult> make_request_with_timeout(double sleep, double timeout) {
  StructuredResult r;
  asyncio::TaskPtr task = asyncio::current_task();
  auto& loop = asyncio::get_running_loop();
  auto timeout_handle = loop.call_later(timeout, [&r, task] {
    r.timed_out = true;
    task->cancel();
  });
  bool timeout_error = false;
  try {
    try {
      // Structured block affected by the timeout
      co_await asyncio::sleep(sleep);
      r.structured_block_finished = true;
    } catch (const asyncio::CancelledError&) {
      // (the `finally:` with sys.exc_info() being a CancelledError)
      timeout_handle.cancel();
      if (r.timed_out && task->uncancel() == 0) throw asyncio::TimeoutError();
      throw;
    }
    timeout_handle.cancel();
  } catch (const asyncio::TimeoutError&) {
    timeout_error = true;
  }
  CHECK(timeout_error == r.timed_out);
  // Outer code not affected by the timeout:
  r.outer_code_reached = true;
  co_await asyncio::sleep(0);
  co_return r;
}
}  // namespace

TEST_CASE("test_tasks.BaseTaskTests.test_uncancel_structured_blocks") {
  TestLoop tl;
  auto& loop = *tl.loop;
  // Test which timed out.
  auto t1 = loop.create_task(make_request_with_timeout(10.0, 0.1));
  StructuredResult r1 = loop.run_until_complete(t1);
  CHECK(r1.timed_out);
  CHECK_FALSE(r1.structured_block_finished);  // it was cancelled
  CHECK(r1.outer_code_reached);  // uncancelled after leaving the structured block
  CHECK(t1.cancelling() == 0);   // no pending cancellation of the outer task
  // Test which did not time out.
  auto t2 = loop.create_task(make_request_with_timeout(0, 10.0));
  StructuredResult r2 = loop.run_until_complete(t2);
  CHECK_FALSE(r2.timed_out);
  CHECK(r2.structured_block_finished);
  CHECK(r2.outer_code_reached);
  CHECK(t2.cancelling() == 0);
}

namespace {
/// coro() of test_cancel_with_message_then_future_result / _exception: cancel a sleeping task
/// with `msg` (none when empty), wait for it, then ask its result() or exception().
asyncio::Task<> cancel_then_ask(std::optional<std::string> msg, bool ask_exception, bool sleep_first) {
  auto task = asyncio::create_task(sleep10());
  if (sleep_first) co_await asyncio::sleep(0);
  if (msg)
    task.cancel(*msg);
  else
    task.cancel();
  std::vector<asyncio::TaskHandle<>> v{task};
  auto w = asyncio::wait(v);
  co_await std::move(w);
  if (ask_exception)
    (void)task.exception();
  else
    task.result();
}
}  // namespace

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_with_message_then_future_result") {
  // (Python's non-string message (5,) has no C++ counterpart: messages are strings.)
  for (std::optional<std::string> msg : {std::optional<std::string>(), std::optional<std::string>("my message")}) {
    LoopFixture fx;
    auto task = fx.loop->create_task(cancel_then_ask(msg, false, true));
    CHECK(cancel_message_of(*fx.loop, task) == msg.value_or(""));
  }
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_with_message_then_future_exception") {
  for (std::optional<std::string> msg : {std::optional<std::string>(), std::optional<std::string>("my message")}) {
    LoopFixture fx;
    auto task = fx.loop->create_task(cancel_then_ask(msg, true, true));
    CHECK(cancel_message_of(*fx.loop, task) == msg.value_or(""));
  }
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_with_message_before_starting_task") {
  LoopFixture fx;
  auto task = fx.loop->create_task(cancel_then_ask(std::string("my message"), true, false));
  CHECK(cancel_message_of(*fx.loop, task) == "my message");
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_awaited_task") {
  // A task cancelled while not blocked (it cancels itself) cancels whatever it blocks on next.
  LoopFixture fx;
  asyncio::TaskHandle<> task, nested_task;
  auto fut = fx.loop->create_future<void>();
  auto nested = [](asyncio::Future<void> fut) -> asyncio::Task<> { co_await fut; };
  auto coro = [](asyncio::TaskHandle<>& task, asyncio::TaskHandle<>& nested_task, asyncio::Future<void> fut,
                 auto nested) -> asyncio::Task<> {
    // Create a sub-task and wait for it to run.
    nested_task = asyncio::create_task(nested(fut));
    co_await asyncio::sleep(0);
    // Request the current task to be cancelled.
    task.cancel();
    // Block on the nested task, which should be immediately cancelled.
    co_await nested_task;
  };
  task = fx.loop->create_task(coro(task, nested_task, fut, nested));
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(task); }));
  CHECK(task.cancelled());
  CHECK(nested_task.cancelled());
  CHECK(fut.cancelled());
}

TEST_CASE("test_tasks.BaseTaskTests.test_stop_while_run_in_complete") {
  TestLoop tl;
  auto& loop = *tl.loop;
  int x = 0;
  auto task = [](int& x, asyncio::EventLoop& loop) -> asyncio::Task<> {
    while (x < 10) {
      co_await asyncio::sleep(0.1);
      x += 1;
      if (x == 2) loop.stop();
    }
  };
  auto t = loop.create_task(task(x, loop));
  CHECK_THROWS_WITH(loop.run_until_complete(t), "Event loop stopped before Future completed.");
  CHECK_FALSE(t.done());
  CHECK(x == 2);
  CHECK(loop.time() == Approx(0.2));  // (the mock loop's generator says 0.3; a real 3.11 loop says 0.2)
  t.cancel();
  CHECK(raises_cancelled([&] { loop.run_until_complete(t); }));
}

// ------------------------------------------------------------------ BaseTaskTests: wait

namespace {
template <class T>
bool same_set(const std::vector<asyncio::TaskHandle<T>>& got, std::vector<asyncio::TaskHandle<T>> want) {
  if (got.size() != want.size()) return false;
  for (const auto& g : got) {
    bool found = false;
    for (const auto& w : want) found = found || g == w;
    if (!found) return false;
  }
  return true;
}
using Handles = std::vector<asyncio::TaskHandle<>>;
asyncio::Task<asyncio::WaitResult<void>> wait_all(Handles v) {
  auto r = co_await asyncio::wait(v);
  co_return r;
}
}  // namespace

TEST_CASE("test_tasks.BaseTaskTests.test_wait") {
  TestLoop tl;
  auto& loop = *tl.loop;
  auto a = loop.create_task(sleep_for(0.1));
  auto b = loop.create_task(sleep_for(0.15));
  auto foo = [](asyncio::TaskHandle<> a, asyncio::TaskHandle<> b) -> asyncio::Task<int> {
    Handles v{b, a};
    auto [done, pending] = co_await asyncio::wait(v);
    CHECK(same_set(done, {a, b}));
    CHECK(pending.empty());
    co_return 42;
  };
  CHECK(loop.run_until_complete(loop.create_task(foo(a, b))) == 42);
  CHECK(loop.time() == Approx(0.15));
  // Doing it again should take no time and exercise a different path.
  CHECK(loop.run_until_complete(loop.create_task(foo(a, b))) == 42);
  CHECK(loop.time() == Approx(0.15));
}

TEST_CASE("test_tasks.BaseTaskTests.test_wait_duplicate_coroutines") {
  LoopFixture fx;
  auto coro = [](std::string s) -> asyncio::Task<std::string> { co_return s; };
  auto c = fx.loop->create_task(coro("test"));
  std::vector<asyncio::TaskHandle<std::string>> v{c, c, fx.loop->create_task(coro("spam"))};
  auto [done, pending] = fx.loop->run_until_complete(asyncio::wait(v));
  CHECK(pending.empty());
  std::set<std::string> results;
  for (auto& f : done) results.insert(f.result());
  CHECK(results == std::set<std::string>{"test", "spam"});
}

TEST_CASE("test_tasks.BaseTaskTests.test_wait_errors") {
  LoopFixture fx;
  CHECK_THROWS_AS(fx.loop->run_until_complete(asyncio::wait(Handles{})), asyncio::ValueError);
  // -1 is an invalid return_when value
  auto sleep_task = fx.loop->create_task(sleep10());
  CHECK_THROWS_AS(fx.loop->run_until_complete(asyncio::wait(Handles{sleep_task}, static_cast<asyncio::ReturnWhen>(-1))),
                  asyncio::ValueError);
  sleep_task.cancel();
}

TEST_CASE("test_tasks.BaseTaskTests.test_wait_first_completed") {
  TestLoop tl;
  auto& loop = *tl.loop;
  auto a = loop.create_task(sleep_for(10.0));
  auto b = loop.create_task(sleep_for(0.1));
  auto task = loop.create_task(asyncio::wait(Handles{b, a}, asyncio::FIRST_COMPLETED));
  auto [done, pending] = loop.run_until_complete(task);
  CHECK(same_set(done, {b}));
  CHECK(same_set(pending, {a}));
  CHECK_FALSE(a.done());
  CHECK(b.done());
  CHECK(loop.time() == Approx(0.1));
  loop.run_until_complete(wait_all({a, b}));  // (Python: advance_time(10), then wait)
}

TEST_CASE("test_tasks.BaseTaskTests.test_wait_really_done") {
  // Some tasks in the pending list may be done but their callbacks not all called yet.
  LoopFixture fx;
  auto coro1 = []() -> asyncio::Task<> { co_await asyncio::sleep(0); };
  auto coro2 = []() -> asyncio::Task<> {
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
  };
  auto a = fx.loop->create_task(coro1());
  auto b = fx.loop->create_task(coro2());
  auto task = fx.loop->create_task(asyncio::wait(Handles{b, a}, asyncio::FIRST_COMPLETED));
  auto [done, pending] = fx.loop->run_until_complete(task);
  CHECK(same_set(done, {a, b}));
  CHECK(a.done());
  CHECK(b.done());
}

TEST_CASE("test_tasks.BaseTaskTests.test_wait_first_exception") {
  TestLoop tl;
  auto& loop = *tl.loop;
  // first_exception, task already has exception
  auto a = loop.create_task(sleep_for(10.0));
  auto exc = []() -> asyncio::Task<> {
    throw ZeroDivisionError();
    co_return;
  };
  auto b = loop.create_task(exc());
  auto task = loop.create_task(asyncio::wait(Handles{b, a}, asyncio::FIRST_EXCEPTION));
  auto [done, pending] = loop.run_until_complete(task);
  CHECK(same_set(done, {b}));
  CHECK(same_set(pending, {a}));
  CHECK(loop.time() == Approx(0));
  loop.run_until_complete(wait_all({a, b}));
}

TEST_CASE("test_tasks.BaseTaskTests.test_wait_first_exception_in_wait") {
  TestLoop tl;
  auto& loop = *tl.loop;
  // first_exception, exception during waiting
  auto a = loop.create_task(sleep_for(10.0));
  auto exc = []() -> asyncio::Task<> {
    co_await asyncio::sleep(0.01);
    throw ZeroDivisionError();
  };
  auto b = loop.create_task(exc());
  auto [done, pending] = loop.run_until_complete(asyncio::wait(Handles{b, a}, asyncio::FIRST_EXCEPTION));
  CHECK(same_set(done, {b}));
  CHECK(same_set(pending, {a}));
  CHECK(loop.time() == Approx(0.01));
  loop.run_until_complete(wait_all({a, b}));
}

TEST_CASE("test_tasks.BaseTaskTests.test_wait_with_exception") {
  TestLoop tl;
  auto& loop = *tl.loop;
  auto a = loop.create_task(sleep_for(0.1));
  auto sleeper = []() -> asyncio::Task<> {
    co_await asyncio::sleep(0.15);
    throw ZeroDivisionError();
  };
  auto b = loop.create_task(sleeper());
  auto foo = [](asyncio::TaskHandle<> a, asyncio::TaskHandle<> b) -> asyncio::Task<> {
    Handles v{b, a};
    auto [done, pending] = co_await asyncio::wait(v);
    CHECK(done.size() == 2);
    CHECK(pending.empty());
    int errors = 0;
    for (auto& f : done)
      if (f.exception()) ++errors;
    CHECK(errors == 1);
  };
  loop.run_until_complete(loop.create_task(foo(a, b)));
  CHECK(loop.time() == Approx(0.15));
  loop.run_until_complete(loop.create_task(foo(a, b)));
  CHECK(loop.time() == Approx(0.15));
}

TEST_CASE("test_tasks.BaseTaskTests.test_wait_with_timeout") {
  TestLoop tl;
  auto& loop = *tl.loop;
  auto a = loop.create_task(sleep_for(0.1));
  auto b = loop.create_task(sleep_for(0.15));
  auto foo = [](asyncio::TaskHandle<> a, asyncio::TaskHandle<> b) -> asyncio::Task<> {
    Handles v{b, a};
    auto [done, pending] = co_await asyncio::wait(v, 0.11);
    CHECK(same_set(done, {a}));
    CHECK(same_set(pending, {b}));
  };
  loop.run_until_complete(loop.create_task(foo(a, b)));
  CHECK(loop.time() == Approx(0.11));
  loop.run_until_complete(wait_all({a, b}));
}

TEST_CASE("test_tasks.BaseTaskTests.test_wait_concurrent_complete") {
  TestLoop tl;
  auto& loop = *tl.loop;
  auto a = loop.create_task(sleep_for(0.1));
  auto b = loop.create_task(sleep_for(0.15));
  auto [done, pending] = loop.run_until_complete(asyncio::wait(Handles{b, a}, 0.1));
  CHECK(same_set(done, {a}));
  CHECK(same_set(pending, {b}));
  CHECK(loop.time() == Approx(0.1));
  loop.run_until_complete(wait_all({a, b}));
}

TEST_CASE("test_tasks.BaseTaskTests.test_wait_with_iterator_of_tasks") {
  TestLoop tl;
  auto& loop = *tl.loop;
  auto a = loop.create_task(sleep_for(0.1));
  auto b = loop.create_task(sleep_for(0.15));
  auto foo = [](asyncio::TaskHandle<> a, asyncio::TaskHandle<> b) -> asyncio::Task<int> {
    Handles v{b, a};
    std::list<asyncio::TaskHandle<>> it(v.begin(), v.end());  // iter([b, a]): not a vector
    auto [done, pending] = co_await asyncio::wait(it);
    CHECK(same_set(done, {a, b}));
    CHECK(pending.empty());
    co_return 42;
  };
  CHECK(loop.run_until_complete(loop.create_task(foo(a, b))) == 42);
  CHECK(loop.time() == Approx(0.15));
}

// ------------------------------------------------------------------ BaseTaskTests: as_completed

namespace {
asyncio::Task<std::string> sleeper_of(double dt, std::string x, std::set<std::string>& completed) {
  co_await asyncio::sleep(dt);
  completed.insert(x);
  co_return x;
}
}  // namespace

TEST_CASE("test_tasks.BaseTaskTests.test_as_completed") {
  TestLoop tl;
  auto& loop = *tl.loop;
  std::set<std::string> completed;
  auto foo = [](std::set<std::string>& completed) -> asyncio::Task<std::vector<std::string>> {
    std::vector<asyncio::Task<std::string>> fs;
    fs.push_back(sleeper_of(0.01, "b", completed));
    fs.push_back(sleeper_of(0.15, "c", completed));
    fs.push_back(sleeper_of(0.01, "a", completed));
    std::vector<std::string> values;
    for (auto&& f : asyncio::as_completed(std::move(fs))) {
      std::string v = co_await std::move(f);
      values.push_back(v);
    }
    co_return values;
  };
  auto res = loop.run_until_complete(loop.create_task(foo(completed)));
  CHECK(loop.time() == Approx(0.15));
  REQUIRE(res.size() == 3);
  CHECK((res[0] == "a" || res[1] == "a"));
  CHECK((res[0] == "b" || res[1] == "b"));
  CHECK(res[2] == "c");
}

TEST_CASE("test_tasks.BaseTaskTests.test_as_completed_with_timeout") {
  TestLoop tl;
  auto& loop = *tl.loop;
  auto a = loop.create_task(sleep_value(0.1, "a"));
  auto b = loop.create_task(sleep_value(0.15, "b"));
  auto foo = [](asyncio::TaskHandle<std::string> a, asyncio::TaskHandle<std::string> b)
      -> asyncio::Task<std::vector<std::pair<int, std::string>>> {
    std::vector<std::pair<int, std::string>> values;
    std::vector<asyncio::TaskHandle<std::string>> fs{a, b};
    for (auto&& f : asyncio::as_completed(fs, 0.12)) {
      try {
        std::string v = co_await std::move(f);
        values.emplace_back(1, v);
      } catch (const asyncio::TimeoutError&) {
        values.emplace_back(2, "TimeoutError");
      }
    }
    co_return values;
  };
  auto res = loop.run_until_complete(loop.create_task(foo(a, b)));
  REQUIRE(res.size() == 2);
  CHECK(res[0] == std::pair<int, std::string>{1, "a"});
  CHECK(res[1].first == 2);
  CHECK(loop.time() == Approx(0.12));
  std::vector<asyncio::TaskHandle<std::string>> both{a, b};
  loop.run_until_complete(asyncio::wait(both));
}

TEST_CASE("test_tasks.BaseTaskTests.test_as_completed_with_unused_timeout") {
  TestLoop tl;
  auto foo = []() -> asyncio::Task<> {
    std::vector<asyncio::Task<std::string>> fs;
    fs.push_back(sleep_value(0.01, "a"));
    for (auto&& f : asyncio::as_completed(std::move(fs), 1)) {
      std::string v = co_await std::move(f);
      CHECK(v == "a");
    }
  };
  tl.loop->run_until_complete(tl.loop->create_task(foo()));
  CHECK(asyncio::testing::timer_count(*tl.loop) == 0);
}

TEST_CASE("test_tasks.BaseTaskTests.test_as_completed_reverse_wait") {
  TestLoop tl;
  auto test = []() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    std::vector<asyncio::Task<std::string>> fs;
    fs.push_back(sleep_value(0.05, "a"));
    fs.push_back(sleep_value(0.10, "b"));
    std::vector<asyncio::Task<std::string>> futs;
    for (auto&& f : asyncio::as_completed(std::move(fs))) futs.push_back(std::move(f));
    CHECK(futs.size() == 2);
    std::string x = co_await std::move(futs[1]);
    CHECK(x == "a");
    CHECK(loop.time() == Approx(0.05));
    std::string y = co_await std::move(futs[0]);
    CHECK(y == "b");
    CHECK(loop.time() == Approx(0.10));
  };
  tl.loop->run_until_complete(test());
}

TEST_CASE("test_tasks.BaseTaskTests.test_as_completed_concurrent") {
  TestLoop tl;
  auto test = []() -> asyncio::Task<> {
    std::vector<asyncio::Task<std::string>> fs;
    fs.push_back(sleep_value(0.05, "a"));
    fs.push_back(sleep_value(0.05, "b"));
    std::vector<asyncio::TaskHandle<std::string>> futs;
    for (auto&& f : asyncio::as_completed(std::move(fs))) futs.push_back(asyncio::ensure_future(std::move(f)));
    CHECK(futs.size() == 2);
    auto [done, pending] = co_await asyncio::wait(futs);
    std::set<std::string> results;
    for (auto& f : done) results.insert(f.result());
    CHECK(results == std::set<std::string>{"a", "b"});
  };
  tl.loop->run_until_complete(test());
}

TEST_CASE("test_tasks.BaseTaskTests.test_as_completed_duplicate_coroutines") {
  LoopFixture fx;
  auto runner = []() -> asyncio::Task<std::vector<std::string>> {
    auto coro = [](std::string s) -> asyncio::Task<std::string> { co_return s; };
    std::vector<std::string> result;
    // (A lazy Task cannot be listed twice in C++; the same task handle can.)
    auto c = asyncio::create_task(coro("ham"));
    std::vector<asyncio::TaskHandle<std::string>> fs{c, c, asyncio::create_task(coro("spam"))};
    for (auto&& f : asyncio::as_completed(fs)) {
      std::string v = co_await std::move(f);
      result.push_back(v);
    }
    co_return result;
  };
  auto fut = fx.loop->create_task(runner());
  fx.loop->run_until_complete(fut);
  auto result = fut.result();
  CHECK(std::set<std::string>(result.begin(), result.end()) == std::set<std::string>{"ham", "spam"});
  CHECK(result.size() == 2);
}

TEST_CASE("test_tasks.BaseTaskTests.test_as_completed_coroutine_without_loop") {
  auto coro = []() -> asyncio::Task<int> { co_return 42; };
  std::vector<asyncio::Task<int>> fs;
  fs.push_back(coro());
  CHECK_THROWS_AS(asyncio::as_completed(std::move(fs)), asyncio::RuntimeError);
}

TEST_CASE("test_tasks.BaseTaskTests.test_as_completed_coroutine_use_running_loop") {
  TestLoop tl;
  auto test = []() -> asyncio::Task<> {
    auto coro = []() -> asyncio::Task<int> { co_return 42; };
    std::vector<asyncio::Task<int>> fs;
    fs.push_back(coro());
    std::vector<asyncio::Task<int>> futs;
    for (auto&& f : asyncio::as_completed(std::move(fs))) futs.push_back(std::move(f));
    CHECK(futs.size() == 1);
    int r = co_await std::move(futs[0]);
    CHECK(r == 42);
  };
  tl.loop->run_until_complete(test());
}

// ------------------------------------------------------------------ BaseTaskTests: sleep, cancel

TEST_CASE("test_tasks.BaseTaskTests.test_sleep_cancel") {
  TestLoop tl;
  auto& loop = *tl.loop;
  auto sleep_value = []() -> asyncio::Task<std::string> { co_return co_await asyncio::sleep(10.0, std::string("yeah")); };
  auto t = loop.create_task(sleep_value());
  loop.run_until_complete(sleep0());
  CHECK(asyncio::testing::timer_count(loop) == 1);  // (Python: the call_later handle is not cancelled)
  t.cancel();
  loop.run_until_complete(sleep0());
  CHECK(asyncio::testing::timer_count(loop) == 0);  // (Python: handle._cancelled)
}

TEST_CASE("test_tasks.BaseTaskTests.test_task_cancel_sleeping_task") {
  TestLoop tl;
  auto& loop = *tl.loop;
  auto doit = []() -> asyncio::Task<std::string> {
    auto& loop = asyncio::get_running_loop();
    auto sleeper = asyncio::create_task(sleep_for(5000));
    loop.call_later(0.1, [sleeper]() mutable { sleeper.cancel(); });
    try {
      co_await sleeper;
    } catch (const asyncio::CancelledError&) {
      co_return "cancelled";
    }
    co_return "slept in";
  };
  CHECK(loop.run_until_complete(doit()) == "cancelled");
  CHECK(loop.time() == Approx(0.1));
}

TEST_CASE("test_tasks.BaseTaskTests.test_task_cancel_waiter_future") {
  LoopFixture fx;
  auto fut = fx.loop->create_future<void>();
  auto coro = [](asyncio::Future<void> fut) -> asyncio::Task<> { co_await fut; };
  auto task = fx.loop->create_task(coro(fut));
  fx.run_briefly();
  task.cancel();
  fx.run_briefly();
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(task); }));
  CHECK(fut.cancelled());
}

TEST_CASE("test_tasks.BaseTaskTests.test_yield_future_passes_cancel") {
  // Cancelling outer() cancels inner() cancels waiter.
  LoopFixture fx;
  int proof = 0;
  auto waiter = fx.loop->create_future<void>();
  auto inner = [](int& proof, asyncio::Future<void> waiter) -> asyncio::Task<> {
    try {
      co_await waiter;
    } catch (const asyncio::CancelledError&) {
      proof += 1;
      throw;
    }
    FAIL("got past sleep() in inner()");
  };
  auto outer = [](int& proof, asyncio::Task<> in) -> asyncio::Task<> {
    try {
      co_await std::move(in);
    } catch (const asyncio::CancelledError&) {
      proof += 100;  // Expect this path.
      co_return;
    }
    proof += 10;
  };
  auto f = fx.loop->create_task(outer(proof, inner(proof, waiter)));
  fx.run_briefly();
  f.cancel();
  fx.loop->run_until_complete(f);
  CHECK(proof == 101);
  CHECK(waiter.cancelled());
}

TEST_CASE("test_tasks.BaseTaskTests.test_yield_wait_does_not_shield_cancel") {
  // Cancelling outer() makes wait() return early, leaves inner() running.
  LoopFixture fx;
  int proof = 0;
  auto waiter = fx.loop->create_future<void>();
  auto inner = [](int& proof, asyncio::Future<void> waiter) -> asyncio::Task<> {
    co_await waiter;
    proof += 1;
  };
  auto outer = [](int& proof, asyncio::Future<void> waiter, auto inner) -> asyncio::Task<> {
    Handles v{asyncio::create_task(inner(proof, waiter))};
    auto [d, p] = co_await asyncio::wait(v);
    proof += 100;
  };
  auto f = fx.loop->create_task(outer(proof, waiter, inner));
  fx.run_briefly();
  f.cancel();
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(f); }));
  waiter.set_result();
  fx.run_briefly();
  CHECK(proof == 1);
}

// ------------------------------------------------------------------ BaseTaskTests: shield, create_task

TEST_CASE("test_tasks.BaseTaskTests.test_shield_coroutine_without_loop") {
  auto coro = []() -> asyncio::Task<int> { co_return 42; };
  CHECK_THROWS_WITH(asyncio::shield(coro()), Catch::Matchers::Contains("no current event loop"));
}

TEST_CASE("test_tasks.BaseTaskTests.test_shield_coroutine_use_running_loop") {
  LoopFixture fx;
  auto test = []() -> asyncio::Task<asyncio::Future<int>> {
    auto coro = []() -> asyncio::Task<int> { co_return 42; };
    co_return asyncio::shield(coro());
  };
  auto outer = fx.loop->run_until_complete(test());
  CHECK(&outer.get_loop() == fx.loop.get());
  auto await_outer = [](asyncio::Future<int> f) -> asyncio::Task<int> { co_return co_await f; };
  CHECK(fx.loop->run_until_complete(await_outer(outer)) == 42);
}

TEST_CASE("test_tasks.BaseTaskTests.test_shield_coroutine_use_global_loop") {
  LoopFixture fx;
  asyncio::set_event_loop(fx.loop);
  auto coro = []() -> asyncio::Task<int> { co_return 42; };
  auto outer = asyncio::shield(coro());
  asyncio::set_event_loop(nullptr);
  CHECK(&outer.get_loop() == fx.loop.get());
  auto await_outer = [](asyncio::Future<int> f) -> asyncio::Task<int> { co_return co_await f; };
  CHECK(fx.loop->run_until_complete(await_outer(outer)) == 42);
}

TEST_CASE("test_tasks.BaseTaskTests.test_wait_invalid_args") {
  // (wait(fut) / wait(coro) of a single awaitable are compile errors in C++.) wait() expects at
  // least a future.
  LoopFixture fx;
  CHECK_THROWS_AS(fx.loop->run_until_complete(asyncio::wait(std::vector<asyncio::TaskHandle<int>>{})), asyncio::ValueError);
}

TEST_CASE("test_tasks.BaseTaskTests.test_create_task_with_async_function") {
  LoopFixture fx;
  auto coro = []() -> asyncio::Task<> { co_return; };
  auto task = fx.loop->create_task(coro());
  fx.loop->run_until_complete(task);
  CHECK(task.done());
  auto task2 = fx.loop->create_task(coro());
  fx.loop->run_until_complete(task2);
  CHECK(task2.done());
}

TEST_CASE("test_tasks.BaseTaskTests.test_bare_create_task") {
  LoopFixture fx;
  auto coro = []() -> asyncio::Task<> {
    auto inner = []() -> asyncio::Task<int> { co_return 1; };
    auto task = asyncio::create_task(inner());
    int ret = co_await task;
    CHECK(ret == 1);
  };
  fx.loop->run_until_complete(coro());
}

TEST_CASE("test_tasks.BaseTaskTests.test_bare_create_named_task") {
  LoopFixture fx;
  auto coro = []() -> asyncio::Task<> {
    auto coro_noop = []() -> asyncio::Task<> { co_return; };
    auto task = asyncio::create_task(coro_noop(), "No-op");
    CHECK(task.get_name() == "No-op");
    co_await task;
  };
  fx.loop->run_until_complete(coro());
}

// ------------------------------------------------------------------ BaseCurrentLoopTests

TEST_CASE("test_tasks.BaseCurrentLoopTests.test_current_task_no_running_loop") {
  LoopFixture fx;
  asyncio::set_event_loop(fx.loop);
  CHECK(asyncio::current_task() == nullptr);
  asyncio::set_event_loop(nullptr);
}

TEST_CASE("test_tasks.BaseCurrentLoopTests.test_current_task_no_running_loop_implicit") {
  // Ours (DESIGN §7): outside a running loop current_task() is the empty pointer, where
  // Python 3.11 raises RuntimeError('no running event loop').
  CHECK(asyncio::current_task() == nullptr);
}

TEST_CASE("test_tasks.BaseCurrentLoopTests.test_current_task_with_implicit_loop") {
  LoopFixture fx;
  asyncio::set_event_loop(fx.loop);
  asyncio::TaskHandle<> task;
  auto coro = [](asyncio::TaskHandle<>& task) -> asyncio::Task<> {
    CHECK(asyncio::current_task() == task);
    co_return;
  };
  task = fx.loop->create_task(coro(task));
  fx.loop->run_until_complete(task);
  CHECK(asyncio::current_task() == nullptr);
  asyncio::set_event_loop(nullptr);
}

// ------------------------------------------------------------------ CoroutineGatherTests (rest)

TEST_CASE("test_tasks.CoroutineGatherTests.test_result_exception_success") {
  LoopFixture fx;
  auto a = fx.loop->create_future<int>(), b = fx.loop->create_future<int>(), c = fx.loop->create_future<int>();
  auto fut = fx.loop->run_until_complete(
      [](auto a, auto b, auto c) -> asyncio::Task<asyncio::GatheringFuture<std::tuple<
                                     asyncio::Result<int>, asyncio::Result<int>, asyncio::Result<int>>>> {
        co_return asyncio::gather(asyncio::return_exceptions, coro_of(a), coro_of(b), coro_of(c));
      }(a, b, c));
  MockCallback<decltype(fut)> cb;
  cb.attach(fut);
  b.set_result(1);
  a.set_result(2);
  fx.run_loop();
  CHECK(cb.called == 0);
  CHECK_FALSE(fut.done());
  c.set_result(3);
  fx.run_loop();
  CHECK(cb.called == 1);
  auto& r = fut.result();
  CHECK(std::get<0>(r).value() == 2);
  CHECK(std::get<1>(r).value() == 1);
  CHECK(std::get<2>(r).value() == 3);
}

TEST_CASE("test_tasks.CoroutineGatherTests.test_return_exceptions") {
  LoopFixture fx;
  auto a = fx.loop->create_future<int>(), b = fx.loop->create_future<int>(), c = fx.loop->create_future<int>(),
       d = fx.loop->create_future<int>();
  auto fut = fx.loop->run_until_complete(
      [](auto a, auto b, auto c, auto d)
          -> asyncio::Task<asyncio::GatheringFuture<std::tuple<asyncio::Result<int>, asyncio::Result<int>,
                                                                asyncio::Result<int>, asyncio::Result<int>>>> {
        co_return asyncio::gather(asyncio::return_exceptions, coro_of(a), coro_of(b), coro_of(c), coro_of(d));
      }(a, b, c, d));
  MockCallback<decltype(fut)> cb;
  cb.attach(fut);
  b.set_result(1);
  c.set_exception(ZeroDivisionError());
  a.set_result(3);
  fx.run_loop();
  CHECK_FALSE(fut.done());
  d.set_exception(PyRuntimeError());
  fx.run_loop();
  CHECK(fut.done());
  CHECK(cb.called == 1);
  auto& r = fut.result();
  CHECK(std::get<0>(r).value() == 3);
  CHECK(std::get<1>(r).value() == 1);
  CHECK(holds<ZeroDivisionError>(std::get<2>(r).exception()));
  CHECK(holds<PyRuntimeError>(std::get<3>(r).exception()));
}

TEST_CASE("test_tasks.CoroutineGatherTests.test_constructor_without_loop") {
  auto coro = []() -> asyncio::Task<std::string> { co_return "abc"; };
  CHECK_THROWS_WITH(asyncio::gather(coro(), coro()), Catch::Matchers::Contains("no current event loop"));
}

TEST_CASE("test_tasks.CoroutineGatherTests.test_constructor_use_running_loop") {
  LoopFixture fx;
  auto gather = []() -> asyncio::Task<asyncio::GatheringFuture<std::tuple<std::string, std::string>>> {
    auto coro = []() -> asyncio::Task<std::string> { co_return "abc"; };
    co_return asyncio::gather(coro(), coro());
  };
  auto fut = fx.loop->run_until_complete(gather());
  CHECK(&fut.get_loop() == fx.loop.get());
  fx.loop->run_until_complete(await_it(fut));
  CHECK(std::get<1>(fut.result()) == "abc");
}

TEST_CASE("test_tasks.CoroutineGatherTests.test_constructor_use_global_loop") {
  LoopFixture one, other;
  asyncio::set_event_loop(other.loop);
  auto coro = []() -> asyncio::Task<std::string> { co_return "abc"; };
  auto fut = asyncio::gather(coro(), coro());
  asyncio::set_event_loop(nullptr);
  CHECK(&fut.get_loop() == other.loop.get());
  other.loop->run_until_complete(await_it(fut));
  CHECK(std::get<0>(fut.result()) == "abc");
}

// ------------------------------------------------------------------ RunCoroutineThreadsafeTests

namespace {
/// RunCoroutineThreadsafeTests.add: wait 0.05 second and return a + b.
asyncio::Task<int> add(int a, int b, bool fail = false, bool cancel = false) {
  co_await asyncio::sleep(0.05);
  if (fail) throw std::runtime_error("Fail!");
  if (cancel) {
    asyncio::current_task()->cancel();
    co_await asyncio::sleep(0);
  }
  co_return a + b;
}
/// RunCoroutineThreadsafeTests.target: run add() in the loop from another thread.
int target(asyncio::EventLoop& loop, bool fail = false, bool cancel = false) {
  auto future = asyncio::run_coroutine_threadsafe(add(1, 2, fail, cancel), loop);
  return future.get();
}
}  // namespace

TEST_CASE("test_tasks.RunCoroutineThreadsafeTests.test_run_coroutine_threadsafe") {
  LoopFixture fx;
  auto run = [](asyncio::EventLoop& loop) -> asyncio::Task<int> {
    int r = co_await loop.run_in_executor(nullptr, [&loop] { return target(loop); });
    co_return r;
  };
  CHECK(fx.loop->run_until_complete(run(*fx.loop)) == 3);
}

TEST_CASE("test_tasks.RunCoroutineThreadsafeTests.test_run_coroutine_threadsafe_with_exception") {
  LoopFixture fx;
  auto run = [](asyncio::EventLoop& loop) -> asyncio::Task<int> {
    int r = co_await loop.run_in_executor(nullptr, [&loop] { return target(loop, true); });
    co_return r;
  };
  CHECK_THROWS_WITH(fx.loop->run_until_complete(run(*fx.loop)), "Fail!");
}

TEST_CASE("test_tasks.RunCoroutineThreadsafeTests.test_run_coroutine_threadsafe_task_cancelled") {
  LoopFixture fx;
  auto run = [](asyncio::EventLoop& loop) -> asyncio::Task<int> {
    int r = co_await loop.run_in_executor(nullptr, [&loop] { return target(loop, false, true); });
    co_return r;
  };
  CHECK(raises_cancelled([&] { fx.loop->run_until_complete(run(*fx.loop)); }));
}

// ------------------------------------------------------------------ SleepTests

TEST_CASE("test_tasks.SleepTests.test_sleep_zero") {
  LoopFixture fx;
  int result = 0;
  auto coro = [](int& result) -> asyncio::Task<> {
    asyncio::get_running_loop().call_soon([&result] { result += 1; });
    CHECK(result == 0);
    int num = co_await asyncio::sleep(0, 10);
    CHECK(result == 1);  // inc'ed by call_soon
    result += num;       // num should be 11
  };
  fx.loop->run_until_complete(coro(result));
  CHECK(result == 11);
}
