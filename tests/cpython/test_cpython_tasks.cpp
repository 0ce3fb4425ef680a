// CPython 3.11 Lib/test/test_asyncio/test_tasks.py: one Catch2 case per test method, named
// after it (module.Class.method). The C/Py task and future duplicates (CTask_CFuture_Tests,
// PyTask_PyFuture_Tests, ...) are ported once, as BaseTaskTests.*. `self.new_future(loop)` is
// `loop->create_future<T>()` on a fresh loop, `self.new_task(loop, coro)` is
// `loop->create_task(coro)`; test_utils.run_briefly is one run_until_complete of a sleep(0), and
// GatherTestsBase._run_loop ("while loop._ready: run_briefly") a few of them. Methods with no C++
// meaning are listed in SKIPPED.md. (test_sleep and test_cancel_gather_2 are ported in
// test_cpython_differences.cpp.)
#include <asyncio/asyncio.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"

namespace {
asyncio::Task<> sleep0() { co_await asyncio::sleep(0); }

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
  void run_briefly() { loop->run_until_complete(sleep0()); }
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
    co_await asyncio::wait(std::vector<asyncio::TaskHandle<>>{a, b});
  };
  fx.loop->run_until_complete(both(task1, task2));
  CHECK(asyncio::current_task() == nullptr);
}
