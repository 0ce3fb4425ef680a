// CPython 3.11 Lib/test/test_asyncio/test_taskgroups.py: one Catch2 case per test method, named
// after it (module.Class.method). Each IsolatedAsyncioTestCase method runs in asyncio::run on a
// virtual clock. `async with TaskGroup() as g:` is `co_await asyncio::async_with(g, body)`;
// Python's `1 / 0` throws ZeroDivisionError below; get_error_types() gives the type names of a
// group's exceptions. A `try: ... except CancelledError: await ...` becomes a flag set in the
// handler and the await after it (C++ forbids co_await in a handler). Methods with no C++
// meaning are listed in SKIPPED.md.
#include <asyncio/asyncio.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "catch.hpp"
#include "cpython/cpython_check.hpp"

namespace {
/// An IsolatedAsyncioTestCase method: `f()` runs as the main task of a fresh loop.
template <class F>
void run(F&& f) {
  asyncio::run(f(), asyncio::RunOptions{.virtual_time = true});
}

struct ZeroDivisionError : std::runtime_error {
  ZeroDivisionError() : std::runtime_error("division by zero") {}
};
struct MyExc : std::runtime_error {
  MyExc() : std::runtime_error("MyExc") {}
};
/// Python's `class MyBaseExc(BaseException)`: not a std::exception (as CancelledError is not).
struct MyBaseExc {};
/// Python's bare `raise TypeError`.
struct BareTypeError : asyncio::TypeError {
  BareTypeError() : std::runtime_error("TypeError"), asyncio::TypeError("TypeError") {}
};
struct CustomException : std::runtime_error {
  CustomException() : std::runtime_error("CustomException") {}
};

std::string type_name(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const ZeroDivisionError&) {
    return "ZeroDivisionError";
  } catch (const MyExc&) {
    return "MyExc";
  } catch (const MyBaseExc&) {
    return "MyBaseExc";
  } catch (const CustomException&) {
    return "CustomException";
  } catch (const asyncio::ExceptionGroup&) {
    return "ExceptionGroup";
  } catch (const asyncio::ValueError&) {
    return "ValueError";
  } catch (const asyncio::TypeError&) {
    return "TypeError";
  } catch (const asyncio::CancelledError&) {
    return "CancelledError";
  } catch (...) {
    return "?";
  }
}

/// The group `eg` holds (nullptr: not a group).
const asyncio::ExceptionGroup* as_group(const std::exception_ptr& eg) {
  try {
    std::rethrow_exception(eg);
  } catch (const asyncio::ExceptionGroup& g) {
    return &g;  // the exception object lives as long as `eg`
  } catch (...) {
    return nullptr;
  }
}

std::set<std::string> get_error_types(const std::exception_ptr& eg) {
  std::set<std::string> r;
  const asyncio::ExceptionGroup* g = as_group(eg);
  if (!g) return {"<not an ExceptionGroup>"};
  for (const auto& e : g->exceptions()) r.insert(type_name(e));
  return r;
}

using cpython_check::contains;

asyncio::Task<> sleep0() { co_await asyncio::sleep(0); }

using Names = std::set<std::string>;

/// Python's `@contextlib.asynccontextmanager async def database(): try: yield finally: raise
/// CustomException`.
class Database {
 public:
  asyncio::Task<> aenter() { co_return; }
  asyncio::Task<bool> aexit(std::exception_ptr) {
    throw CustomException();
    co_return false;
  }
};
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

// `with self.assertRaises(ExceptionGroup) as cm: await X`: `out` gets the group (cm.exception).
#define CO_CATCH_GROUP(out, ...)              \
  do {                                        \
    try {                                     \
      co_await (__VA_ARGS__);                 \
    } catch (const asyncio::ExceptionGroup&) { \
      out = std::current_exception();         \
    }                                         \
    REQUIRE(out);                             \
  } while (false)

using asyncio::Task;
using asyncio::TaskGroup;
using asyncio::TaskHandle;

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_01") {
  run([]() -> Task<> {
    auto foo1 = []() -> Task<int> {
      co_await asyncio::sleep(0.1);
      co_return 42;
    };
    auto foo2 = []() -> Task<int> {
      co_await asyncio::sleep(0.2);
      co_return 11;
    };
    TaskHandle<int> t1, t2;
    TaskGroup g;
    auto body = [&](TaskGroup& g) -> Task<> {
      t1 = g.create_task(foo1());
      t2 = g.create_task(foo2());
      co_return;
    };
    co_await asyncio::async_with(g, body);
    CHECK(t1.result() == 42);
    CHECK(t2.result() == 11);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_02") {
  run([]() -> Task<> {
    auto foo1 = []() -> Task<int> {
      co_await asyncio::sleep(0.1);
      co_return 42;
    };
    auto foo2 = []() -> Task<int> {
      co_await asyncio::sleep(0.2);
      co_return 11;
    };
    TaskHandle<int> t1, t2;
    TaskGroup g;
    auto body = [&](TaskGroup& g) -> Task<> {
      t1 = g.create_task(foo1());
      co_await asyncio::sleep(0.15);
      t2 = g.create_task(foo2());
    };
    co_await asyncio::async_with(g, body);
    CHECK(t1.result() == 42);
    CHECK(t2.result() == 11);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_03") {
  run([]() -> Task<> {
    auto foo1 = []() -> Task<int> {
      co_await asyncio::sleep(1);
      co_return 42;
    };
    auto foo2 = []() -> Task<int> {
      co_await asyncio::sleep(0.2);
      co_return 11;
    };
    TaskHandle<int> t1, t2;
    TaskGroup g;
    auto body = [&](TaskGroup& g) -> Task<> {
      t1 = g.create_task(foo1());
      co_await asyncio::sleep(0.15);
      // cancel t1 explicitly, i.e. everything should continue working as expected.
      t1.cancel();
      t2 = g.create_task(foo2());
    };
    co_await asyncio::async_with(g, body);
    CHECK(t1.cancelled());
    CHECK(t2.result() == 11);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_04") {
  run([]() -> Task<> {
    int NUM = 0;
    bool t2_cancel = false;
    TaskHandle<void> t2;
    auto foo1 = []() -> Task<> {
      co_await asyncio::sleep(0.1);
      throw ZeroDivisionError();
    };
    auto foo2 = [&]() -> Task<> {
      try {
        co_await asyncio::sleep(1);
      } catch (const asyncio::CancelledError&) {
        t2_cancel = true;
        throw;
      }
      NUM += 1;
    };
    auto body = [&](TaskGroup& g) -> Task<> {
      g.create_task(foo1());
      t2 = g.create_task(foo2());
      co_return;
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
      NUM += 10;
    };
    std::exception_ptr cm;
    auto r = asyncio::create_task(runner());
    CO_CATCH_GROUP(cm, r);
    CHECK(get_error_types(cm) == Names{"ZeroDivisionError"});
    CHECK(NUM == 0);
    CHECK(t2_cancel);
    CHECK(t2.cancelled());
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_cancel_children_on_child_error") {
  // When a child task raises an error, the rest of the children are cancelled and the errors
  // are gathered into an EG.
  run([]() -> Task<> {
    int NUM = 0;
    bool t2_cancel = false, runner_cancel = false;
    auto foo1 = []() -> Task<> {
      co_await asyncio::sleep(0.1);
      throw ZeroDivisionError();
    };
    auto foo2 = [&]() -> Task<> {
      try {
        co_await asyncio::sleep(5);
      } catch (const asyncio::CancelledError&) {
        t2_cancel = true;
        throw;
      }
      NUM += 1;
    };
    auto body = [&](TaskGroup& g) -> Task<> {
      g.create_task(foo1());
      g.create_task(foo1());
      g.create_task(foo1());
      g.create_task(foo2());
      try {
        co_await asyncio::sleep(10);
      } catch (const asyncio::CancelledError&) {
        runner_cancel = true;
        throw;
      }
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
      NUM += 10;
    };
    std::exception_ptr cm;
    auto r = asyncio::create_task(runner());
    CO_CATCH_GROUP(cm, r);
    CHECK(get_error_types(cm) == Names{"ZeroDivisionError"});
    CHECK(NUM == 0);
    CHECK(t2_cancel);
    CHECK(runner_cancel);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_cancellation") {
  run([]() -> Task<> {
    int NUM = 0;
    auto foo = [&]() -> Task<> {
      try {
        co_await asyncio::sleep(5);
      } catch (const asyncio::CancelledError&) {
        NUM += 1;
        throw;
      }
    };
    auto body = [&](TaskGroup& g) -> Task<> {
      for (int i = 0; i < 5; ++i) g.create_task(foo());
      co_return;
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    auto r = asyncio::create_task(runner());
    co_await asyncio::sleep(0.1);
    CHECK_FALSE(r.done());
    r.cancel();
    CO_CHECK_RAISES(asyncio::CancelledError, r);
    CHECK(NUM == 5);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_07") {
  run([]() -> Task<> {
    int NUM = 0;
    auto foo = [&]() -> Task<> {
      try {
        co_await asyncio::sleep(5);
      } catch (const asyncio::CancelledError&) {
        NUM += 1;
        throw;
      }
    };
    auto body = [&](TaskGroup& g) -> Task<> {
      for (int i = 0; i < 5; ++i) g.create_task(foo());
      try {
        co_await asyncio::sleep(10);
      } catch (const asyncio::CancelledError&) {
        NUM += 10;
        throw;
      }
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    auto r = asyncio::create_task(runner());
    co_await asyncio::sleep(0.1);
    CHECK_FALSE(r.done());
    r.cancel();
    CO_CHECK_RAISES(asyncio::CancelledError, r);
    CHECK(NUM == 15);
  });
}

namespace {
/// `try: await asyncio.sleep(10) finally: 1 / 0`
Task<> sleep10_then_divide() {
  try {
    co_await asyncio::sleep(10);
  } catch (...) {
    throw ZeroDivisionError();
  }
  throw ZeroDivisionError();
}
}  // namespace

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_08") {
  run([]() -> Task<> {
    auto body = [&](TaskGroup& g) -> Task<> {
      for (int i = 0; i < 5; ++i) g.create_task(sleep10_then_divide());
      co_await asyncio::sleep(10);
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    auto r = asyncio::create_task(runner());
    co_await asyncio::sleep(0.1);
    CHECK_FALSE(r.done());
    r.cancel();
    std::exception_ptr cm;
    CO_CATCH_GROUP(cm, r);
    CHECK(get_error_types(cm) == Names{"ZeroDivisionError"});
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_09") {
  run([]() -> Task<> {
    TaskHandle<int> t1, t2;
    auto foo1 = []() -> Task<int> {
      co_await asyncio::sleep(1);
      co_return 42;
    };
    auto foo2 = []() -> Task<int> {
      co_await asyncio::sleep(2);
      co_return 11;
    };
    auto body = [&](TaskGroup& g) -> Task<> {
      t1 = g.create_task(foo1());
      t2 = g.create_task(foo2());
      co_await asyncio::sleep(0.1);
      throw ZeroDivisionError();
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    std::exception_ptr t;
    CO_CATCH_GROUP(t, runner());
    CHECK(get_error_types(t) == Names{"ZeroDivisionError"});
    CHECK(t1.cancelled());
    CHECK(t2.cancelled());
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_10") {
  run([]() -> Task<> {
    TaskHandle<int> t1, t2;
    auto foo1 = []() -> Task<int> {
      co_await asyncio::sleep(1);
      co_return 42;
    };
    auto foo2 = []() -> Task<int> {
      co_await asyncio::sleep(2);
      co_return 11;
    };
    auto body = [&](TaskGroup& g) -> Task<> {
      t1 = g.create_task(foo1());
      t2 = g.create_task(foo2());
      throw ZeroDivisionError();
      co_return;
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    std::exception_ptr t;
    CO_CATCH_GROUP(t, runner());
    CHECK(get_error_types(t) == Names{"ZeroDivisionError"});
    CHECK(t1.cancelled());
    CHECK(t2.cancelled());
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_11") {
  run([]() -> Task<> {
    auto inner_body = [&](TaskGroup& g2) -> Task<> {
      for (int i = 0; i < 5; ++i) g2.create_task(sleep10_then_divide());
      co_await asyncio::sleep(10);
    };
    auto outer_body = [&](TaskGroup&) -> Task<> {
      TaskGroup g2;
      co_await asyncio::async_with(g2, inner_body);
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g1;
      co_await asyncio::async_with(g1, outer_body);
    };
    auto r = asyncio::create_task(runner());
    co_await asyncio::sleep(0.1);
    CHECK_FALSE(r.done());
    r.cancel();
    std::exception_ptr cm;
    CO_CATCH_GROUP(cm, r);
    CHECK(get_error_types(cm) == Names{"ExceptionGroup"});
    const asyncio::ExceptionGroup* g = as_group(cm);
    REQUIRE(g->exceptions().size() >= 1);
    CHECK(get_error_types(g->exceptions()[0]) == Names{"ZeroDivisionError"});
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_12") {
  run([]() -> Task<> {
    auto inner_body = [&](TaskGroup& g2) -> Task<> {
      for (int i = 0; i < 5; ++i) g2.create_task(sleep10_then_divide());
      co_await asyncio::sleep(10);
    };
    auto outer_body = [&](TaskGroup& g1) -> Task<> {
      g1.create_task(asyncio::sleep(10));
      TaskGroup g2;
      co_await asyncio::async_with(g2, inner_body);
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g1;
      co_await asyncio::async_with(g1, outer_body);
    };
    auto r = asyncio::create_task(runner());
    co_await asyncio::sleep(0.1);
    CHECK_FALSE(r.done());
    r.cancel();
    std::exception_ptr cm;
    CO_CATCH_GROUP(cm, r);
    CHECK(get_error_types(cm) == Names{"ExceptionGroup"});
    const asyncio::ExceptionGroup* g = as_group(cm);
    REQUIRE(g->exceptions().size() >= 1);
    CHECK(get_error_types(g->exceptions()[0]) == Names{"ZeroDivisionError"});
  });
}

namespace {
Task<> crash_after(double t) {
  co_await asyncio::sleep(t);
  throw asyncio::ValueError(std::to_string(t));
}
}  // namespace

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_13") {
  run([]() -> Task<> {
    auto inner_body = [&](TaskGroup& g2) -> Task<> {
      g2.create_task(crash_after(10));
      co_return;
    };
    auto outer_body = [&](TaskGroup& g1) -> Task<> {
      g1.create_task(crash_after(0.1));
      TaskGroup g2;
      co_await asyncio::async_with(g2, inner_body);
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g1;
      co_await asyncio::async_with(g1, outer_body);
    };
    auto r = asyncio::create_task(runner());
    std::exception_ptr cm;
    CO_CATCH_GROUP(cm, r);
    CHECK(get_error_types(cm) == Names{"ValueError"});
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_14") {
  run([]() -> Task<> {
    auto inner_body = [&](TaskGroup& g2) -> Task<> {
      g2.create_task(crash_after(0.1));
      co_return;
    };
    auto outer_body = [&](TaskGroup& g1) -> Task<> {
      g1.create_task(crash_after(10));
      TaskGroup g2;
      co_await asyncio::async_with(g2, inner_body);
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g1;
      co_await asyncio::async_with(g1, outer_body);
    };
    auto r = asyncio::create_task(runner());
    std::exception_ptr cm;
    CO_CATCH_GROUP(cm, r);
    CHECK(get_error_types(cm) == Names{"ExceptionGroup"});
    const asyncio::ExceptionGroup* g = as_group(cm);
    REQUIRE(g->exceptions().size() >= 1);
    CHECK(get_error_types(g->exceptions()[0]) == Names{"ValueError"});
  });
}

namespace {
Task<> crash_soon(double t) {
  co_await asyncio::sleep(t);
  throw ZeroDivisionError();
}
/// `try: await asyncio.sleep(10) except CancelledError: await asyncio.sleep(0.5); raise`
Task<> sleep10_linger_on_cancel() {
  std::exception_ptr cancelled;
  try {
    co_await asyncio::sleep(10);
  } catch (const asyncio::CancelledError&) {
    cancelled = std::current_exception();
  }
  if (cancelled) {
    co_await asyncio::sleep(0.5);
    std::rethrow_exception(cancelled);
  }
}
}  // namespace

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_15") {
  run([]() -> Task<> {
    auto body = [&](TaskGroup& g1) -> Task<> {
      g1.create_task(crash_soon(0.3));
      co_await sleep10_linger_on_cancel();
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g1;
      co_await asyncio::async_with(g1, body);
    };
    auto r = asyncio::create_task(runner());
    co_await asyncio::sleep(0.1);
    CHECK_FALSE(r.done());
    r.cancel();
    std::exception_ptr cm;
    CO_CATCH_GROUP(cm, r);
    CHECK(get_error_types(cm) == Names{"ZeroDivisionError"});
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_16") {
  run([]() -> Task<> {
    auto body = [&](TaskGroup& g1) -> Task<> {
      g1.create_task(crash_soon(0.3));
      co_await sleep10_linger_on_cancel();
    };
    auto nested_runner = [&]() -> Task<> {
      TaskGroup g1;
      co_await asyncio::async_with(g1, body);
    };
    auto runner = [&]() -> Task<> {
      auto t = asyncio::create_task(nested_runner());
      co_await t;
    };
    auto r = asyncio::create_task(runner());
    co_await asyncio::sleep(0.1);
    CHECK_FALSE(r.done());
    r.cancel();
    std::exception_ptr cm;
    CO_CATCH_GROUP(cm, r);
    CHECK(get_error_types(cm) == Names{"ZeroDivisionError"});
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_17") {
  run([]() -> Task<> {
    int NUM = 0;
    auto body = [&](TaskGroup&) -> Task<> {
      try {
        co_await asyncio::sleep(10);
      } catch (const asyncio::CancelledError&) {
        NUM += 10;
        throw;
      }
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    auto r = asyncio::create_task(runner());
    co_await asyncio::sleep(0.1);
    CHECK_FALSE(r.done());
    r.cancel();
    CO_CHECK_RAISES(asyncio::CancelledError, r);
    CHECK(NUM == 10);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_18") {
  run([]() -> Task<> {
    int NUM = 0;
    auto body = [&](TaskGroup&) -> Task<> {
      try {
        co_await asyncio::sleep(10);
      } catch (const asyncio::CancelledError&) {
        NUM += 10;
        // This isn't a good idea, but we have to support this weird case.
        throw MyExc();
      }
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    auto r = asyncio::create_task(runner());
    co_await asyncio::sleep(0.1);
    CHECK_FALSE(r.done());
    r.cancel();
    std::exception_ptr t;
    CO_CATCH_GROUP(t, r);
    CHECK(get_error_types(t) == Names{"MyExc"});
    CHECK(NUM == 10);
  });
}

namespace {
/// `try: await asyncio.sleep(10) finally: raise E`
template <class E>
Task<> sleep10_then_raise() {
  try {
    co_await asyncio::sleep(10);
  } catch (...) {
    throw E();
  }
  throw E();
}
}  // namespace

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_19") {
  run([]() -> Task<> {
    auto body = [&](TaskGroup& g) -> Task<> {
      g.create_task(crash_soon(0.1));
      co_await sleep10_then_raise<MyExc>();
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    auto r = asyncio::create_task(runner());
    std::exception_ptr t;
    CO_CATCH_GROUP(t, r);
    CHECK(get_error_types(t) == Names{"MyExc", "ZeroDivisionError"});
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_20") {
  run([]() -> Task<> {
    auto body = [&](TaskGroup& g) -> Task<> {
      g.create_task(crash_soon(0.1));
      co_await sleep10_then_raise<asyncio::KeyboardInterrupt>();
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    // A KeyboardInterrupt comes out bare, not inside an ExceptionGroup.
    CO_CHECK_RAISES(asyncio::KeyboardInterrupt, runner());
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_20a") {
  run([]() -> Task<> {
    auto body = [&](TaskGroup& g) -> Task<> {
      g.create_task(crash_soon(0.1));
      co_await sleep10_then_raise<MyBaseExc>();
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    // C++ has no BaseExceptionGroup: the one ExceptionGroup holds any exception type.
    std::exception_ptr cm;
    CO_CATCH_GROUP(cm, runner());
    CHECK(get_error_types(cm) == Names{"MyBaseExc", "ZeroDivisionError"});
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_21a") {
  run([]() -> Task<> {
    auto crash_soon_base = []() -> Task<> {
      co_await asyncio::sleep(0.1);
      throw MyBaseExc();
    };
    auto body = [&](TaskGroup& g) -> Task<> {
      g.create_task(crash_soon_base());
      co_await sleep10_then_raise<BareTypeError>();
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    // C++ has no BaseExceptionGroup: the one ExceptionGroup holds any exception type.
    std::exception_ptr cm;
    CO_CATCH_GROUP(cm, runner());
    CHECK(get_error_types(cm) == Names{"MyBaseExc", "TypeError"});
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_22") {
  run([]() -> Task<> {
    auto foo1 = []() -> Task<int> {
      co_await asyncio::sleep(1);
      co_return 42;
    };
    auto foo2 = []() -> Task<int> {
      co_await asyncio::sleep(2);
      co_return 11;
    };
    auto body = [&](TaskGroup& g) -> Task<> {
      g.create_task(foo1());
      g.create_task(foo2());
      co_return;
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    auto r = asyncio::create_task(runner());
    co_await asyncio::sleep(0.05);
    r.cancel();
    CO_CHECK_RAISES(asyncio::CancelledError, r);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_23") {
  run([]() -> Task<> {
    auto do_job = [](double delay) -> Task<> { co_await asyncio::sleep(delay); };
    auto body = [&](TaskGroup& g) -> Task<> {
      for (int count = 0; count < 10; ++count) {
        co_await asyncio::sleep(0.1);
        g.create_task(do_job(0.3));
        if (count == 5) CHECK(g.size() < 5);  // len(g._tasks)
      }
      co_await asyncio::sleep(1.35);
      CHECK(g.size() == 0);
    };
    TaskGroup g;
    co_await asyncio::async_with(g, body);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_24") {
  run([]() -> Task<> {
    auto coro1 = [](double delay) -> Task<> { co_await asyncio::sleep(delay); };
    auto root = [&](TaskGroup& g) -> Task<> {
      co_await asyncio::sleep(0.1);
      g.create_task(coro1(0.1));
      g.create_task(coro1(0.2));
    };
    auto body = [&](TaskGroup& g) -> Task<> {
      g.create_task(root(g));
      co_return;
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    co_await runner();
  });
}

namespace {
#if defined(__clang__)
#pragma clang diagnostic ignored "-Winfinite-recursion"  // a coroutine: each call only creates a task
#endif
Task<> hydra(TaskGroup& g, int& nhydras) {
  nhydras += 1;
  co_await asyncio::sleep(0.01);
  g.create_task(hydra(g, nhydras));
  g.create_task(hydra(g, nhydras));
}
}  // namespace

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_25") {
  run([]() -> Task<> {
    int nhydras = 0;
    auto hercules = [&]() -> Task<> {
      while (nhydras < 10) co_await asyncio::sleep(0.015);
      throw ZeroDivisionError();
    };
    auto body = [&](TaskGroup& g) -> Task<> {
      g.create_task(hydra(g, nhydras));
      g.create_task(hercules());
      co_return;
    };
    auto runner = [&]() -> Task<> {
      TaskGroup g;
      co_await asyncio::async_with(g, body);
    };
    std::exception_ptr cm;
    CO_CATCH_GROUP(cm, runner());
    CHECK(get_error_types(cm) == Names{"ZeroDivisionError"});
    CHECK(nhydras >= 10);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_task_name") {
  run([]() -> Task<> {
    auto body = [&](TaskGroup& g) -> Task<> {
      auto t = g.create_task(sleep0(), "yolo");
      CHECK(t.get_name() == "yolo");
      co_return;
    };
    TaskGroup g;
    co_await asyncio::async_with(g, body);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_no_create_task_after_failure") {
  run([]() -> Task<> {
    auto coro1 = []() -> Task<> {
      co_await asyncio::sleep(0.001);
      throw ZeroDivisionError();
    };
    auto coro2 = [&](TaskGroup& g) -> Task<> {
      bool cancelled = false;
      try {
        co_await asyncio::sleep(1);
      } catch (const asyncio::CancelledError&) {
        cancelled = true;
      }
      if (cancelled) {
        auto c1 = coro1();
        bool raised = false;
        try {
          g.create_task(std::move(c1));
        } catch (const asyncio::RuntimeError&) {
          raised = true;
        }
        CHECK(raised);
        // We still have to await c1 to avoid a warning
        CO_CHECK_RAISES(ZeroDivisionError, std::move(c1));
      }
    };
    auto body = [&](TaskGroup& g) -> Task<> {
      g.create_task(coro1());
      g.create_task(coro2(g));
      co_return;
    };
    TaskGroup g;
    std::exception_ptr cm;
    CO_CATCH_GROUP(cm, asyncio::async_with(g, body));
    CHECK(get_error_types(cm) == Names{"ZeroDivisionError"});
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_context_manager_exit_raises") {
  // See https://github.com/python/cpython/issues/95289
  run([]() -> Task<> {
    auto raise_exc = []() -> Task<> {
      throw CustomException();
      co_return;
    };
    auto db_body = [&](TaskGroup& tg) -> Task<> {
      tg.create_task(raise_exc());
      co_await asyncio::sleep(1);
    };
    auto body = [&](TaskGroup& tg) -> Task<> {
      Database db;
      auto inner = [&]() -> Task<> { co_await db_body(tg); };
      co_await asyncio::async_with(db, inner);
    };
    auto main = [&]() -> Task<> {
      auto task = asyncio::current_task();
      TaskGroup tg;
      bool raised = false;
      try {
        co_await asyncio::async_with(tg, body);
      } catch (const asyncio::ExceptionGroup& err) {  // except* CustomException
        raised = true;
        CHECK(task->cancelling() == 0);
        CHECK(err.exceptions().size() == 2);
        CHECK(get_error_types(std::current_exception()) == Names{"CustomException"});
      }
      CHECK(raised);  // else: self.fail('CustomException not raised')
    };
    auto t = asyncio::create_task(main());
    co_await t;
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_already_entered") {
  run([]() -> Task<> {
    TaskGroup tg;
    auto empty = [](TaskGroup&) -> Task<> { co_return; };
    auto body = [&](TaskGroup&) -> Task<> {
      CHECK_RAISES_MSG(asyncio::RuntimeError, "has already been entered", co_await asyncio::async_with(tg, empty));
    };
    co_await asyncio::async_with(tg, body);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_double_enter") {
  run([]() -> Task<> {
    TaskGroup tg;
    auto empty = [](TaskGroup&) -> Task<> { co_return; };
    co_await asyncio::async_with(tg, empty);
    CHECK_RAISES_MSG(asyncio::RuntimeError, "has already been entered", co_await asyncio::async_with(tg, empty));
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_finished") {
  run([]() -> Task<> {
    TaskGroup tg;
    auto empty = [](TaskGroup&) -> Task<> { co_return; };
    co_await asyncio::async_with(tg, empty);
    auto coro = sleep0();
    CHECK_RAISES_MSG(asyncio::RuntimeError, "is finished", tg.create_task(std::move(coro)));
    // We still have to await coro to avoid a warning
    co_await std::move(coro);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_not_entered") {
  run([]() -> Task<> {
    TaskGroup tg;
    auto coro = sleep0();
    CHECK_RAISES_MSG(asyncio::RuntimeError, "has not been entered", tg.create_task(std::move(coro)));
    // We still have to await coro to avoid a warning
    co_await std::move(coro);
  });
}

TEST_CASE("test_taskgroups.TestTaskGroup.test_taskgroup_without_parent_task") {
  run([]() -> Task<> {
    TaskGroup tg;
    // await_without_task(): enter from a plain loop callback, where no task runs.
    bool ran = false;
    asyncio::get_running_loop().call_soon([&] {
      ran = true;
      CHECK_RAISES_MSG(asyncio::RuntimeError, "parent task", tg.aenter());
    });
    co_await asyncio::sleep(0);
    CHECK(ran);
    auto coro = sleep0();
    CHECK_RAISES_MSG(asyncio::RuntimeError, "has not been entered", tg.create_task(std::move(coro)));
    // We still have to await coro to avoid a warning
    co_await std::move(coro);
  });
}
