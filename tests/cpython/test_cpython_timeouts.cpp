// CPython 3.11 Lib/test/test_asyncio/test_timeouts.py: one Catch2 case per test method, named
// after it (module.Class.method). Each IsolatedAsyncioTestCase method runs in asyncio::run on a
// virtual clock, except the two that block the thread with time.sleep() (a real clock there).
// `async with asyncio.timeout(x) as cm:` is `co_await asyncio::async_with(cm, body)`; methods
// with no C++ meaning (and test_nested_timeouts, ported in test_cpython_differences.cpp) are
// listed in SKIPPED.md.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "catch.hpp"
#include "cpython/cpython_check.hpp"

namespace {
/// An IsolatedAsyncioTestCase method: `f()` runs as the main task of a fresh loop.
template <class F>
void run(F&& f) {
  asyncio::run(f(), asyncio::RunOptions{.virtual_time = true});
}
/// The same on a real clock (for methods that block the thread with time.sleep()).
template <class F>
void run_real(F&& f) {
  asyncio::run(f());
}
using cpython_check::contains;
}  // namespace

// `with self.assertRaises(E): await X` (the co_await is a statement of its own, for GCC 12).
#define CO_CHECK_RAISES(E, ...) \
  do {                          \
    bool raised_ = false;       \
    try {                       \
      co_await (__VA_ARGS__);   \
    } catch (const E&) {        \
      raised_ = true;           \
    }                           \
    CHECK(raised_);             \
  } while (false)

using asyncio::Task;
using asyncio::Timeout;

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_basic") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout(0.01);
    auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(10); };
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(cm, body));
    CHECK(cm.expired());
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_at_basic") {
  run([]() -> Task<> {
    auto& loop = asyncio::get_running_loop();
    double deadline = loop.time() + 0.01;
    auto cm = asyncio::timeout_at(deadline);
    auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(10); };
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(cm, body));
    CHECK(cm.expired());
    CHECK(cm.when() == deadline);
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_waiter_cancelled") {
  run([]() -> Task<> {
    bool cancelled = false;
    auto cm = asyncio::timeout(0.01);
    auto body = [&](Timeout&) -> Task<> {
      try {
        co_await asyncio::sleep(10);
      } catch (const asyncio::CancelledError&) {
        cancelled = true;
        throw;
      }
    };
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(cm, body));
    CHECK(cancelled);
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_not_called") {
  run([]() -> Task<> {
    auto& loop = asyncio::get_running_loop();
    auto cm = asyncio::timeout(10);
    auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(0.01); };
    co_await asyncio::async_with(cm, body);
    double t1 = loop.time();
    CHECK_FALSE(cm.expired());
    REQUIRE(cm.when());
    CHECK(*cm.when() > t1);
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_disabled") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout(std::nullopt);
    auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(0.01); };
    co_await asyncio::async_with(cm, body);
    CHECK_FALSE(cm.expired());
    CHECK_FALSE(cm.when().has_value());
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_at_disabled") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout_at(std::nullopt);
    auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(0.01); };
    co_await asyncio::async_with(cm, body);
    CHECK_FALSE(cm.expired());
    CHECK_FALSE(cm.when().has_value());
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_zero") {
  run([]() -> Task<> {
    auto& loop = asyncio::get_running_loop();
    double t0 = loop.time();
    auto cm = asyncio::timeout(0);
    auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(10); };
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(cm, body));
    double t1 = loop.time();
    CHECK(cm.expired());
    REQUIRE(cm.when());
    CHECK(t0 <= *cm.when());
    CHECK(*cm.when() <= t1);
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_zero_sleep_zero") {
  run([]() -> Task<> {
    auto& loop = asyncio::get_running_loop();
    double t0 = loop.time();
    auto cm = asyncio::timeout(0);
    auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(0); };
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(cm, body));
    double t1 = loop.time();
    CHECK(cm.expired());
    REQUIRE(cm.when());
    CHECK(t0 <= *cm.when());
    CHECK(*cm.when() <= t1);
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_in_the_past_sleep_zero") {
  run([]() -> Task<> {
    auto& loop = asyncio::get_running_loop();
    double t0 = loop.time();
    auto cm = asyncio::timeout(-11);
    auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(0); };
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(cm, body));
    double t1 = loop.time();
    CHECK(cm.expired());
    REQUIRE(cm.when());
    CHECK(t0 >= *cm.when());
    CHECK(*cm.when() <= t1);
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_foreign_exception_passed") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout(0.01);
    auto body = [](Timeout&) -> Task<> {
      throw std::out_of_range("KeyError");  // Python's KeyError
      co_return;
    };
    CO_CHECK_RAISES(std::out_of_range, asyncio::async_with(cm, body));
    CHECK_FALSE(cm.expired());
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_foreign_exception_on_timeout") {
  run([]() -> Task<> {
    auto crash = []() -> Task<> {
      // try/finally: 1/0 whatever way the sleep ends (here: cancelled by the timeout).
      try {
        co_await asyncio::sleep(1);
      } catch (...) {
        throw std::domain_error("ZeroDivisionError");
      }
      throw std::domain_error("ZeroDivisionError");
    };
    auto cm = asyncio::timeout(0.01);
    auto body = [&](Timeout&) -> Task<> { co_await crash(); };
    CO_CHECK_RAISES(std::domain_error, asyncio::async_with(cm, body));
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_foreign_cancel_doesnt_timeout_if_not_expired") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout(10);
    auto body = [](Timeout&) -> Task<> {
      asyncio::current_task()->cancel();
      co_await asyncio::sleep(10);
    };
    CO_CHECK_RAISES(asyncio::CancelledError, asyncio::async_with(cm, body));
    CHECK_FALSE(cm.expired());
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_outer_task_is_not_cancelled") {
  run([]() -> Task<> {
    auto outer = []() -> Task<> {
      auto cm = asyncio::timeout(0.001);
      auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(10); };
      CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(cm, body));
    };
    auto task = asyncio::create_task(outer());
    co_await task;
    CHECK_FALSE(task.cancelled());
    CHECK(task.done());
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_nested_timeouts_concurrent") {
  // time.sleep() blocks the thread: a real clock (a virtual one does not see it).
  run_real([]() -> Task<> {
    auto outer = asyncio::timeout(0.002);
    auto inner_body = [](Timeout&) -> Task<> {
      // Pretend we crunch some numbers.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      co_await asyncio::sleep(1);
    };
    auto outer_body = [&](Timeout&) -> Task<> {
      auto inner = asyncio::timeout(0.1);
      CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(inner, inner_body));
    };
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(outer, outer_body));
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_nested_timeouts_loop_busy") {
  // After the inner timeout is an expensive operation which should be stopped by the outer
  // timeout. time.sleep() blocks the thread: a real clock.
  run_real([]() -> Task<> {
    auto& loop = asyncio::get_running_loop();
    double t0 = loop.time();
    auto inner_body = [](Timeout&) -> Task<> {
      // Pretend the loop is busy for a while.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      co_await asyncio::sleep(1);
    };
    auto outer_body = [&](Timeout&) -> Task<> {
      auto inner = asyncio::timeout(0.01);  // (2)
      CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(inner, inner_body));
      // TimeoutError was caught by (2)
      co_await asyncio::sleep(10);  // This sleep should be interrupted by (1)
    };
    auto outer = asyncio::timeout(0.1);  // (1)
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(outer, outer_body));
    double t1 = loop.time();
    CHECK(t0 <= t1);
    CHECK(t1 <= t0 + 1);
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_reschedule") {
  run([]() -> Task<> {
    auto& loop = asyncio::get_running_loop();
    auto fut = loop.create_future<Timeout*>();
    double deadline1 = loop.time() + 10;
    double deadline2 = deadline1 + 20;

    // Python keeps `cm` alive after the task ends: here it is made outside f and entered in it.
    auto cm_obj = asyncio::timeout_at(deadline1);
    auto body = [&](Timeout& t) -> Task<> {
      fut.set_result(&t);
      co_await asyncio::sleep(50);
    };
    auto f = [&]() -> Task<> { co_await asyncio::async_with(cm_obj, body); };

    auto task = asyncio::create_task(f());
    Timeout* cm = co_await fut;

    CHECK(cm->when() == deadline1);
    cm->reschedule(deadline2);
    CHECK(cm->when() == deadline2);
    cm->reschedule(std::nullopt);
    CHECK_FALSE(cm->when().has_value());

    task.cancel();

    CO_CHECK_RAISES(asyncio::CancelledError, task);
    CHECK_FALSE(cm->expired());
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_nested_timeout_in_finally") {
  run([]() -> Task<> {
    auto inner_body = [](Timeout&) -> Task<> { co_await asyncio::sleep(10); };
    auto body = [&](Timeout&) -> Task<> {
      // try/finally: the finally block runs on the cancellation by the outer timeout.
      std::exception_ptr pending;
      try {
        co_await asyncio::sleep(1);
      } catch (...) {
        pending = std::current_exception();
      }
      auto inner = asyncio::timeout(0.01);
      CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(inner, inner_body));
      if (pending) std::rethrow_exception(pending);
    };
    auto cm = asyncio::timeout(0.01);
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(cm, body));
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_after_cancellation") {
  run([]() -> Task<> {
    try {
      asyncio::current_task()->cancel();
      co_await asyncio::sleep(1);  // work which will be cancelled
    } catch (const asyncio::CancelledError&) {
    }
    // finally:
    auto cm = asyncio::timeout(0.0);
    auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(1); };  // some cleanup
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(cm, body));
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_cancel_in_timeout_after_cancellation") {
  run([]() -> Task<> {
    try {
      asyncio::current_task()->cancel();
      co_await asyncio::sleep(1);  // work which will be cancelled
    } catch (const asyncio::CancelledError&) {
    }
    // finally:
    auto cm = asyncio::timeout(1.0);
    auto body = [](Timeout&) -> Task<> {
      asyncio::current_task()->cancel();
      co_await asyncio::sleep(2);  // some cleanup
    };
    CO_CHECK_RAISES(asyncio::CancelledError, asyncio::async_with(cm, body));
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_exception_cause") {
  run([]() -> Task<> {
    // C++ exceptions carry no __cause__: only the TimeoutError is checked (Python's cause is the
    // CancelledError the timeout caught).
    auto cm = asyncio::timeout(0);
    auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(1); };
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(cm, body));
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_already_entered") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout(0.01);
    auto empty = [](Timeout&) -> Task<> { co_return; };
    auto body = [&](Timeout& t) -> Task<> {
      CHECK_RAISES_MSG(asyncio::RuntimeError, "has already been entered", co_await asyncio::async_with(t, empty));
    };
    co_await asyncio::async_with(cm, body);
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_double_enter") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout(0.01);
    auto empty = [](Timeout&) -> Task<> { co_return; };
    co_await asyncio::async_with(cm, empty);
    CHECK_RAISES_MSG(asyncio::RuntimeError, "has already been entered", co_await asyncio::async_with(cm, empty));
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_finished") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout(0.01);
    auto empty = [](Timeout&) -> Task<> { co_return; };
    co_await asyncio::async_with(cm, empty);
    CHECK_RAISES_MSG(asyncio::RuntimeError, "finished", cm.reschedule(0.02));
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_expired") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout(0.01);
    auto body = [](Timeout&) -> Task<> { co_await asyncio::sleep(1); };
    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::async_with(cm, body));
    CHECK_RAISES_MSG(asyncio::RuntimeError, "expired", cm.reschedule(0.02));
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_expiring") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout(0.01);
    auto body = [](Timeout& t) -> Task<> {
      CO_CHECK_RAISES(asyncio::CancelledError, asyncio::sleep(1));
      CHECK_RAISES_MSG(asyncio::RuntimeError, "expiring", t.reschedule(0.02));
    };
    co_await asyncio::async_with(cm, body);
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_not_entered") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout(0.01);
    CHECK_RAISES_MSG(asyncio::RuntimeError, "has not been entered", cm.reschedule(0.02));
    co_return;
  });
}

TEST_CASE("test_timeouts.TimeoutTests.test_timeout_without_task") {
  run([]() -> Task<> {
    auto cm = asyncio::timeout(0.01);
    // await_without_task(): enter from a plain loop callback, where no task runs.
    bool ran = false;
    asyncio::get_running_loop().call_soon([&] {
      ran = true;
      CHECK_RAISES_MSG(asyncio::RuntimeError, "task", cm.aenter());
    });
    co_await asyncio::sleep(0);
    CHECK(ran);
    CHECK_RAISES_MSG(asyncio::RuntimeError, "has not been entered", cm.reschedule(0.02));
  });
}
