// CPython 3.11 Lib/test/test_asyncio/test_futures.py: one Catch2 case per distinct test method,
// named after it (module.Class.method). The C/Py/CSub duplicates of BaseFutureTests and
// BaseFutureDoneCallbackTests collapse to one port each, named FutureTests.* and
// FutureDoneCallbackTests.*. `self._new_future(loop=self.loop)` is `loop->create_future<T>()`
// on a fresh loop; test_utils.run_briefly is one run_until_complete of a sleep(0). Python removes
// done callbacks by function identity (all equal ones at once); ours by the id add_done_callback
// returned (one each). Methods with no C++ meaning are listed in SKIPPED.md.
#include <asyncio/asyncio.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"
#include "cpython/cpython_check.hpp"

namespace {
using cpython_check::contains;

/// "B" + str(42) (built outside the coroutine body: GCC 12 warns on the inline form).
std::string tagged(const char* tag, int v) { return tag + std::to_string(v); }

asyncio::Task<> sleep0() { co_await asyncio::sleep(0); }

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
};

/// _make_callback(bag, thing): a callback that appends thing to bag.
auto make_callback(std::vector<int>& bag, int thing) {
  return [&bag, thing] { bag.push_back(thing); };
}

template <class T>
bool raises_cancelled(const asyncio::Future<T>& f, bool exception_call) {
  try {
    if (exception_call)
      (void)f.exception();
    else
      (void)f.result();
  } catch (const asyncio::CancelledError&) {
    return true;
  }
  return false;
}
}  // namespace

using asyncio::Future;
using asyncio::Task;

// ---------------------------------------------------------------------------- FutureTests

TEST_CASE("test_futures.FutureTests.test_initial_state") {
  LoopFixture fx;
  auto f = fx.loop->create_future<int>();
  CHECK_FALSE(f.cancelled());
  CHECK_FALSE(f.done());
  f.cancel();
  CHECK(f.cancelled());
}

TEST_CASE("test_futures.FutureTests.test_constructor_without_loop") {
  // No running and no current loop. (Python: "no current event loop"; our Future() takes the
  // running loop: "no running event loop".)
  CHECK_THROWS_AS(Future<int>(), asyncio::RuntimeError);
}

TEST_CASE("test_futures.FutureTests.test_constructor_use_running_loop") {
  LoopFixture fx;
  auto test = []() -> Task<Future<int>> { co_return Future<int>(); };
  auto f = fx.loop->run_until_complete(test());
  CHECK(&f.get_loop() == fx.loop.get());
  f.cancel();
}

TEST_CASE("test_futures.FutureTests.test_constructor_use_global_loop") {
  LoopFixture fx;
  asyncio::set_event_loop(fx.loop);
  struct Reset {
    ~Reset() { asyncio::set_event_loop(nullptr); }
  } reset;
  bool ok = false;
  try {
    Future<int> f;
    CHECK(&f.get_loop() == fx.loop.get());
    f.cancel();
    ok = true;
  } catch (const asyncio::RuntimeError&) {
  }
  CHECK(ok);
}

TEST_CASE("test_futures.FutureTests.test_future_cancel_message_getter") {
  LoopFixture fx;
  auto f = fx.loop->create_future<void>();
  f.cancel("my message");
  bool raised = false;
  try {
    fx.loop->run_until_complete([](Future<void> f) -> Task<> { co_await f; }(f));
  } catch (const asyncio::CancelledError& e) {
    raised = true;
    CHECK(std::string(e.what()) == "my message");
  }
  CHECK(raised);
}

TEST_CASE("test_futures.FutureTests.test_cancel") {
  LoopFixture fx;
  auto f = fx.loop->create_future<int>();
  CHECK(f.cancel());
  CHECK(f.cancelled());
  CHECK(f.done());
  CHECK(raises_cancelled(f, false));
  CHECK(raises_cancelled(f, true));
  CHECK_THROWS_AS(f.set_result(0), asyncio::InvalidStateError);
  CHECK_THROWS_AS(f.set_exception(std::runtime_error("x")), asyncio::InvalidStateError);
  CHECK_FALSE(f.cancel());
}

TEST_CASE("test_futures.FutureTests.test_result") {
  LoopFixture fx;
  auto f = fx.loop->create_future<int>();
  CHECK_THROWS_AS(f.result(), asyncio::InvalidStateError);
  f.set_result(42);
  CHECK_FALSE(f.cancelled());
  CHECK(f.done());
  CHECK(f.result() == 42);
  CHECK(f.exception() == nullptr);
  CHECK_THROWS_AS(f.set_result(0), asyncio::InvalidStateError);
  CHECK_THROWS_AS(f.set_exception(std::runtime_error("x")), asyncio::InvalidStateError);
  CHECK_FALSE(f.cancel());
}

TEST_CASE("test_futures.FutureTests.test_exception") {
  // (The StopIteration check has no C++ counterpart.)
  LoopFixture fx;
  auto f = fx.loop->create_future<int>();
  CHECK_THROWS_AS(f.exception(), asyncio::InvalidStateError);
  auto exc = std::make_exception_ptr(asyncio::RuntimeError("boom"));
  f.set_exception(exc);
  CHECK_FALSE(f.cancelled());
  CHECK(f.done());
  CHECK_THROWS_AS(f.result(), asyncio::RuntimeError);
  CHECK(f.exception() == exc);
  CHECK_THROWS_AS(f.set_result(0), asyncio::InvalidStateError);
  CHECK_THROWS_AS(f.set_exception(std::runtime_error("x")), asyncio::InvalidStateError);
  CHECK_FALSE(f.cancel());
}

TEST_CASE("test_futures.FutureTests.test_yield_from_twice") {
  // Awaiting a future twice: the first await suspends until the result is set, the second
  // gives the same result at once.
  LoopFixture fx;
  auto f = fx.loop->create_future<int>();
  std::vector<std::string> trace;
  auto fixture = [&]() -> Task<> {
    trace.push_back("A");
    int x = co_await f;
    trace.push_back(tagged("B", x));
    int y = co_await f;
    trace.push_back(tagged("C", y));
  };
  auto t = fx.loop->create_task(fixture());
  fx.run_briefly();
  CHECK(trace == std::vector<std::string>{"A"});
  f.set_result(42);
  fx.loop->run_until_complete(t);
  CHECK(trace == std::vector<std::string>{"A", "B42", "C42"});
}

TEST_CASE("test_futures.FutureTests.test_tb_logger_abandoned") {
  LoopFixture fx;
  { auto fut = fx.loop->create_future<int>(); }
  fx.run_briefly();
  CHECK(fx.errors.empty());
}

TEST_CASE("test_futures.FutureTests.test_tb_logger_not_called_after_cancel") {
  // cancel() on a done future is a no-op, but (as Python's) it silences the unretrieved report.
  LoopFixture fx;
  {
    auto fut = fx.loop->create_future<int>();
    fut.set_exception(std::runtime_error("x"));
    CHECK_FALSE(fut.cancel());
  }
  fx.run_briefly();
  CHECK(fx.errors.empty());
}

TEST_CASE("test_futures.FutureTests.test_tb_logger_result_unretrieved") {
  LoopFixture fx;
  {
    auto fut = fx.loop->create_future<int>();
    fut.set_result(42);
  }
  fx.run_briefly();
  CHECK(fx.errors.empty());
}

TEST_CASE("test_futures.FutureTests.test_tb_logger_result_retrieved") {
  LoopFixture fx;
  {
    auto fut = fx.loop->create_future<int>();
    fut.set_result(42);
    CHECK(fut.result() == 42);
  }
  fx.run_briefly();
  CHECK(fx.errors.empty());
}

TEST_CASE("test_futures.FutureTests.test_tb_logger_exception_unretrieved") {
  LoopFixture fx;
  {
    auto fut = fx.loop->create_future<int>();
    fut.set_exception(asyncio::RuntimeError("boom"));
  }
  fx.run_briefly();
  CHECK_FALSE(fx.errors.empty());
}

TEST_CASE("test_futures.FutureTests.test_tb_logger_exception_retrieved") {
  LoopFixture fx;
  {
    auto fut = fx.loop->create_future<int>();
    fut.set_exception(asyncio::RuntimeError("boom"));
    CHECK(fut.exception() != nullptr);
  }
  fx.run_briefly();
  CHECK(fx.errors.empty());
}

TEST_CASE("test_futures.FutureTests.test_tb_logger_exception_result_retrieved") {
  LoopFixture fx;
  {
    auto fut = fx.loop->create_future<int>();
    fut.set_exception(asyncio::RuntimeError("boom"));
    CHECK_THROWS_AS(fut.result(), asyncio::RuntimeError);
  }
  fx.run_briefly();
  CHECK(fx.errors.empty());
}

namespace {
/// check_future_exception_never_retrieved(debug): one report naming the exception.
void check_future_exception_never_retrieved(bool debug) {
  LoopFixture fx;
  fx.loop->set_debug(debug);
  {
    auto future = fx.loop->create_future<int>();
    future.set_exception(std::bad_alloc());  // MemoryError
  }
  fx.run_briefly();
  REQUIRE(fx.errors.size() == 1);
  CHECK(contains(fx.errors[0].message.c_str(), "exception was never retrieved"));
  bool is_mem = false;
  try {
    std::rethrow_exception(fx.errors[0].exception);
  } catch (const std::bad_alloc&) {
    is_mem = true;
  } catch (...) {
  }
  CHECK(is_mem);
}
}  // namespace

TEST_CASE("test_futures.FutureTests.test_future_exception_never_retrieved") {
  check_future_exception_never_retrieved(false);
}

TEST_CASE("test_futures.FutureTests.test_future_exception_never_retrieved_debug") {
  check_future_exception_never_retrieved(true);
}

// ------------------------------------------------------------------ FutureDoneCallbackTests

TEST_CASE("test_futures.FutureDoneCallbackTests.test_callbacks_remove_first_callback") {
  LoopFixture fx;
  std::vector<int> bag;
  auto f = fx.loop->create_future<std::string>();
  auto cb1 = f.add_done_callback(make_callback(bag, 42));
  f.add_done_callback(make_callback(bag, 17));
  f.add_done_callback(make_callback(bag, 100));
  CHECK(f.remove_done_callback(cb1) == 1);
  CHECK(f.remove_done_callback(cb1) == 0);
  CHECK(bag.empty());
  f.set_result("foo");
  fx.run_briefly();
  CHECK(bag == std::vector<int>{17, 100});
  CHECK(f.result() == "foo");
}

TEST_CASE("test_futures.FutureDoneCallbackTests.test_callbacks_remove_first_and_second_callback") {
  LoopFixture fx;
  std::vector<int> bag;
  auto f = fx.loop->create_future<std::string>();
  auto cb1 = f.add_done_callback(make_callback(bag, 42));
  auto cb2 = f.add_done_callback(make_callback(bag, 17));
  f.add_done_callback(make_callback(bag, 100));
  f.remove_done_callback(cb1);
  f.remove_done_callback(cb2);
  f.remove_done_callback(cb1);
  CHECK(bag.empty());
  f.set_result("foo");
  fx.run_briefly();
  CHECK(bag == std::vector<int>{100});
  CHECK(f.result() == "foo");
}

TEST_CASE("test_futures.FutureDoneCallbackTests.test_callbacks_remove_third_callback") {
  LoopFixture fx;
  std::vector<int> bag;
  auto f = fx.loop->create_future<std::string>();
  f.add_done_callback(make_callback(bag, 42));
  f.add_done_callback(make_callback(bag, 17));
  auto cb3 = f.add_done_callback(make_callback(bag, 100));
  f.remove_done_callback(cb3);
  f.remove_done_callback(cb3);
  CHECK(bag.empty());
  f.set_result("foo");
  fx.run_briefly();
  CHECK(bag == std::vector<int>{42, 17});
  CHECK(f.result() == "foo");
}

TEST_CASE("test_futures.FutureDoneCallbackTests.test_callbacks_invoked_on_set_result") {
  LoopFixture fx;
  std::vector<int> bag;
  auto f = fx.loop->create_future<std::string>();
  f.add_done_callback(make_callback(bag, 42));
  f.add_done_callback(make_callback(bag, 17));
  CHECK(bag.empty());
  f.set_result("foo");
  fx.run_briefly();
  CHECK(bag == std::vector<int>{42, 17});
  CHECK(f.result() == "foo");
}

TEST_CASE("test_futures.FutureDoneCallbackTests.test_callbacks_invoked_on_set_exception") {
  LoopFixture fx;
  std::vector<int> bag;
  auto f = fx.loop->create_future<std::string>();
  f.add_done_callback(make_callback(bag, 100));
  CHECK(bag.empty());
  auto exc = std::make_exception_ptr(asyncio::RuntimeError(""));
  f.set_exception(exc);
  fx.run_briefly();
  CHECK(bag == std::vector<int>{100});
  CHECK(f.exception() == exc);
}

TEST_CASE("test_futures.FutureDoneCallbackTests.test_remove_done_callback") {
  // Python removes every callback equal to the function at once; ours one id at a time: the
  // counts are summed over the ids of one "function".
  LoopFixture fx;
  std::vector<int> bag;
  auto f = fx.loop->create_future<std::string>();
  std::vector<asyncio::CallbackId> cb1, cb2;
  cb1.push_back(f.add_done_callback(make_callback(bag, 1)));
  cb2.push_back(f.add_done_callback(make_callback(bag, 2)));
  auto remove_all = [&](std::vector<asyncio::CallbackId>& ids) {
    std::size_t n = 0;
    for (auto id : ids) n += f.remove_done_callback(id);
    ids.clear();
    return n;
  };
  CHECK(remove_all(cb2) == 1);  // one cb2 removed; only cb1 is left
  std::vector<asyncio::CallbackId> cb3;
  CHECK(remove_all(cb3) == 0);  // never had any cb3
  cb2.push_back(f.add_done_callback(make_callback(bag, 2)));
  for (int i = 0; i < 5; ++i) cb1.push_back(f.add_done_callback(make_callback(bag, 1)));
  CHECK(remove_all(cb1) == 6);  // every cb1; one cb2 remains
  CHECK(bag.empty());
  f.set_result("foo");
  fx.run_briefly();
  CHECK(bag == std::vector<int>{2});
  CHECK(f.result() == "foo");
}

TEST_CASE("test_futures.FutureDoneCallbackTests.test_schedule_callbacks_list_mutation_1") {
  // A callback removing other callbacks while the done callbacks run: they were all scheduled
  // at set_result, so nothing is removed and every one runs.
  LoopFixture fx;
  auto fut = fx.loop->create_future<int>();
  std::vector<asyncio::CallbackId> strs;
  std::size_t removed = 99;
  int str_calls = 0;
  fut.add_done_callback([&](Future<int>& f) {
    removed = 0;
    for (auto id : strs) removed += f.remove_done_callback(id);
  });
  strs.push_back(fut.add_done_callback([&] { ++str_calls; }));
  strs.push_back(fut.add_done_callback([&] { ++str_calls; }));
  fut.set_result(1);
  fx.run_briefly();
  CHECK(removed == 0);
  CHECK(str_calls == 2);
}
