// CPython 3.11 Lib/test/test_asyncio/test_locks.py: one Catch2 case per test method, named after
// it (module.Class.method). Each IsolatedAsyncioTestCase method runs in asyncio::run on a
// virtual clock. Python's private `_waiters` deques are read through waiter_count(), `_value`
// through value(); methods with no C++ meaning are listed in SKIPPED.md.
#include <asyncio/asyncio.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "catch.hpp"

namespace {
/// An IsolatedAsyncioTestCase method: `f()` runs as the main task of a fresh loop.
template <class F>
void run(F&& f) {
  asyncio::run(f(), asyncio::RunOptions{.virtual_time = true});
}
}  // namespace

// `with self.assertRaises(E): await X` (the co_await is a statement of its own, for GCC 12).
#define CO_CHECK_RAISES(E, ...)   \
  do {                            \
    bool raised_ = false;         \
    try {                         \
      co_await (__VA_ARGS__);     \
    } catch (const E&) {          \
      raised_ = true;             \
    }                             \
    CHECK(raised_);               \
  } while (false)

using asyncio::Task;
using asyncio::TaskHandle;
using asyncio::detail::Awaitable;

// ====================================================================== LockTests

TEST_CASE("test_locks.LockTests.test_lock") {
  run([]() -> Task<> {
    asyncio::Lock lock;
    // `await lock` is a TypeError in Python; in C++ it does not compile.
    static_assert(!Awaitable<asyncio::Lock&>);
    CHECK_FALSE(lock.locked());
    co_return;
  });
}

TEST_CASE("test_locks.LockTests.test_lock_by_with_statement") {
  run([]() -> Task<> {
    asyncio::Lock lock;
    asyncio::Condition cond;
    asyncio::Semaphore sem;
    asyncio::BoundedSemaphore bsem;
    // `with await lock:` is a TypeError in Python; in C++ none of them is awaitable.
    static_assert(!Awaitable<asyncio::Lock&>);
    static_assert(!Awaitable<asyncio::Condition&>);
    static_assert(!Awaitable<asyncio::Semaphore&>);
    static_assert(!Awaitable<asyncio::BoundedSemaphore&>);
    co_await asyncio::sleep(0.01);
    CHECK_FALSE(lock.locked());
    co_await asyncio::sleep(0.01);
    CHECK_FALSE(cond.locked());
    co_await asyncio::sleep(0.01);
    CHECK_FALSE(sem.locked());
    co_await asyncio::sleep(0.01);
    CHECK_FALSE(bsem.locked());
  });
}

TEST_CASE("test_locks.LockTests.test_acquire") {
  run([]() -> Task<> {
    asyncio::Lock lock;
    std::vector<int> result;

    bool ok = co_await lock.acquire();
    CHECK(ok);

    auto c = [&](int n) -> Task<bool> {
      bool got = co_await lock.acquire();
      if (got) result.push_back(n);
      co_return true;
    };

    auto t1 = asyncio::create_task(c(1));
    auto t2 = asyncio::create_task(c(2));

    co_await asyncio::sleep(0);
    CHECK(result.empty());

    lock.release();
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1});

    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1});

    auto t3 = asyncio::create_task(c(3));

    lock.release();
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1, 2});

    lock.release();
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1, 2, 3});

    CHECK(t1.done());
    CHECK(t1.result());
    CHECK(t2.done());
    CHECK(t2.result());
    CHECK(t3.done());
    CHECK(t3.result());
  });
}

TEST_CASE("test_locks.LockTests.test_acquire_cancel") {
  run([]() -> Task<> {
    asyncio::Lock lock;
    bool ok = co_await lock.acquire();
    CHECK(ok);

    auto task = asyncio::create_task(lock.acquire());
    asyncio::get_running_loop().call_soon([&] { task.cancel(); });
    CO_CHECK_RAISES(asyncio::CancelledError, task);
    CHECK(lock.waiter_count() == 0);
  });
}

TEST_CASE("test_locks.LockTests.test_cancel_race") {
  run([]() -> Task<> {
    // Setup: A has the lock, b and c are waiting.
    asyncio::Lock lock;

    auto lockit = [&](asyncio::Future<void>* blocker) -> Task<> {
      co_await lock.acquire();
      try {
        if (blocker) co_await *blocker;
      } catch (...) {
        lock.release();
        throw;
      }
      lock.release();
    };

    auto fa = asyncio::get_running_loop().create_future();
    auto ta = asyncio::create_task(lockit(&fa));
    co_await asyncio::sleep(0);
    CHECK(lock.locked());
    auto tb = asyncio::create_task(lockit(nullptr));
    co_await asyncio::sleep(0);
    CHECK(lock.waiter_count() == 1);
    auto tc = asyncio::create_task(lockit(nullptr));
    co_await asyncio::sleep(0);
    CHECK(lock.waiter_count() == 2);

    // Create the race and check.
    fa.set_result();
    CHECK(tb.cancel());
    // (Python checks lock._waiters[0].cancelled(): the waiter future is not reachable here;
    // as in Python it stays queued until its task resumes.)
    CHECK(lock.waiter_count() == 2);
    co_await asyncio::sleep(0);
    CHECK_FALSE(lock.locked());
    CHECK(ta.done());
    CHECK(tb.cancelled());
    co_await tc;
  });
}

TEST_CASE("test_locks.LockTests.test_cancel_release_race") {
  run([]() -> Task<> {
    // Issue 32734: acquire 4 locks, cancel second, release first and 2 locks are taken at once.
    auto& loop = asyncio::get_running_loop();
    asyncio::Lock lock;
    int lock_count = 0;
    int call_count = 0;

    auto lockit = [&]() -> Task<> {
      call_count += 1;
      co_await lock.acquire();
      lock_count += 1;
    };

    co_await lock.acquire();

    auto t1 = asyncio::create_task(lockit());
    auto t2 = asyncio::create_task(lockit());
    auto t3 = asyncio::create_task(lockit());

    auto trigger = [&] {
      t1.cancel();
      lock.release();
    };

    // Start scheduled tasks
    co_await asyncio::sleep(0);

    loop.call_soon(trigger);
    // Wait for cancellation
    CO_CHECK_RAISES(asyncio::CancelledError, t1);

    // Make sure only one lock was taken
    CHECK(lock_count == 1);
    // While 3 calls were made to lockit()
    CHECK(call_count == 3);
    CHECK((t1.cancelled() && t2.done()));

    // Cleanup the task that is stuck on acquire.
    t3.cancel();
    co_await asyncio::sleep(0);
    CHECK(t3.cancelled());
  });
}

TEST_CASE("test_locks.LockTests.test_finished_waiter_cancelled") {
  run([]() -> Task<> {
    asyncio::Lock lock;

    co_await lock.acquire();
    CHECK(lock.locked());

    auto tb = asyncio::create_task(lock.acquire());
    co_await asyncio::sleep(0);
    CHECK(lock.waiter_count() == 1);

    // Create a second waiter, wake up the first, and cancel it.
    // Without the fix, the second was not woken up.
    auto tc = asyncio::create_task(lock.acquire());
    tb.cancel();
    lock.release();
    co_await asyncio::sleep(0);

    CHECK(lock.locked());
    CHECK(tb.cancelled());

    // Cleanup
    co_await tc;
  });
}

TEST_CASE("test_locks.LockTests.test_release_not_acquired") {
  run([]() -> Task<> {
    asyncio::Lock lock;
    CHECK_THROWS_AS(lock.release(), asyncio::RuntimeError);
    co_return;
  });
}

TEST_CASE("test_locks.LockTests.test_release_no_waiters") {
  run([]() -> Task<> {
    asyncio::Lock lock;
    co_await lock.acquire();
    CHECK(lock.locked());

    lock.release();
    CHECK_FALSE(lock.locked());
  });
}

TEST_CASE("test_locks.LockTests.test_context_manager") {
  run([]() -> Task<> {
    asyncio::Lock lock;
    CHECK_FALSE(lock.locked());

    co_await asyncio::async_with(lock, [&]() -> Task<> {
      CHECK(lock.locked());
      co_return;
    });

    CHECK_FALSE(lock.locked());
  });
}

// ====================================================================== EventTests

TEST_CASE("test_locks.EventTests.test_wait") {
  run([]() -> Task<> {
    asyncio::Event ev;
    CHECK_FALSE(ev.is_set());

    std::vector<int> result;

    auto c = [&](int n) -> Task<> {
      bool set = co_await ev.wait();
      if (set) result.push_back(n);
    };

    auto t1 = asyncio::create_task(c(1));
    auto t2 = asyncio::create_task(c(2));

    co_await asyncio::sleep(0);
    CHECK(result.empty());

    auto t3 = asyncio::create_task(c(3));

    ev.set();
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{3, 1, 2});

    CHECK(t1.done());  // (its result is None: a Task<void>)
    CHECK(t2.done());
    CHECK(t3.done());
  });
}

TEST_CASE("test_locks.EventTests.test_wait_on_set") {
  run([]() -> Task<> {
    asyncio::Event ev;
    ev.set();

    bool res = co_await ev.wait();
    CHECK(res);
  });
}

TEST_CASE("test_locks.EventTests.test_wait_cancel") {
  run([]() -> Task<> {
    asyncio::Event ev;

    auto wait = asyncio::create_task(ev.wait());
    asyncio::get_running_loop().call_soon([&] { wait.cancel(); });
    CO_CHECK_RAISES(asyncio::CancelledError, wait);
    CHECK(ev.waiter_count() == 0);
  });
}

TEST_CASE("test_locks.EventTests.test_clear") {
  run([]() -> Task<> {
    asyncio::Event ev;
    CHECK_FALSE(ev.is_set());

    ev.set();
    CHECK(ev.is_set());

    ev.clear();
    CHECK_FALSE(ev.is_set());
    co_return;
  });
}

TEST_CASE("test_locks.EventTests.test_clear_with_waiters") {
  run([]() -> Task<> {
    asyncio::Event ev;
    std::vector<int> result;

    auto c1 = [&]() -> Task<bool> {
      bool set = co_await ev.wait();
      if (set) result.push_back(1);
      co_return true;
    };

    auto t = asyncio::create_task(c1());
    co_await asyncio::sleep(0);
    CHECK(result.empty());

    ev.set();
    ev.clear();
    CHECK_FALSE(ev.is_set());

    ev.set();
    ev.set();
    CHECK(ev.waiter_count() == 1);

    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1});
    CHECK(ev.waiter_count() == 0);

    CHECK(t.done());
    CHECK(t.result());
  });
}

// ====================================================================== ConditionTests

TEST_CASE("test_locks.ConditionTests.test_wait") {
  run([]() -> Task<> {
    asyncio::Condition cond;
    std::vector<int> result;

    auto c = [&](int n) -> Task<bool> {
      co_await cond.acquire();
      bool notified = co_await cond.wait();
      if (notified) result.push_back(n);
      co_return true;
    };

    auto t1 = asyncio::create_task(c(1));
    auto t2 = asyncio::create_task(c(2));
    auto t3 = asyncio::create_task(c(3));

    co_await asyncio::sleep(0);
    CHECK(result.empty());
    CHECK_FALSE(cond.locked());

    bool ok = co_await cond.acquire();
    CHECK(ok);
    cond.notify();
    co_await asyncio::sleep(0);
    CHECK(result.empty());
    CHECK(cond.locked());

    cond.release();
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1});
    CHECK(cond.locked());

    cond.notify(2);
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1});
    CHECK(cond.locked());

    cond.release();
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1, 2});
    CHECK(cond.locked());

    cond.release();
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1, 2, 3});
    CHECK(cond.locked());

    CHECK(t1.done());
    CHECK(t1.result());
    CHECK(t2.done());
    CHECK(t2.result());
    CHECK(t3.done());
    CHECK(t3.result());
  });
}

TEST_CASE("test_locks.ConditionTests.test_wait_cancel") {
  run([]() -> Task<> {
    asyncio::Condition cond;
    co_await cond.acquire();

    auto wait = asyncio::create_task(cond.wait());
    asyncio::get_running_loop().call_soon([&] { wait.cancel(); });
    CO_CHECK_RAISES(asyncio::CancelledError, wait);
    CHECK(cond.waiter_count() == 0);
    CHECK(cond.locked());
  });
}

TEST_CASE("test_locks.ConditionTests.test_wait_cancel_contested") {
  run([]() -> Task<> {
    asyncio::Condition cond;

    co_await cond.acquire();
    CHECK(cond.locked());

    auto wait_task = asyncio::create_task(cond.wait());
    co_await asyncio::sleep(0);
    CHECK_FALSE(cond.locked());

    // Notify, but contest the lock before cancelling
    co_await cond.acquire();
    CHECK(cond.locked());
    cond.notify();
    asyncio::get_running_loop().call_soon([&] { wait_task.cancel(); });
    asyncio::get_running_loop().call_soon([&] { cond.release(); });

    try {
      co_await wait_task;
    } catch (const asyncio::CancelledError&) {
      // Should not happen, since no cancellation points
    }

    CHECK(cond.locked());
  });
}

TEST_CASE("test_locks.ConditionTests.test_wait_cancel_after_notify") {
  run([]() -> Task<> {
    // See bpo-32841
    bool waited = false;

    asyncio::Condition cond;

    auto wait_on_cond = [&]() -> Task<> {
      co_await asyncio::async_with(cond, [&]() -> Task<> {
        waited = true;  // Make sure this area was reached
        co_await cond.wait();
      });
    };

    auto waiter = asyncio::create_task(wait_on_cond());
    co_await asyncio::sleep(0);  // Start waiting

    co_await cond.acquire();
    cond.notify();
    co_await asyncio::sleep(0);  // Get to acquire()
    waiter.cancel();
    co_await asyncio::sleep(0);  // Activate cancellation
    cond.release();
    co_await asyncio::sleep(0);  // Cancellation should occur

    CHECK(waiter.cancelled());
    CHECK(waited);
  });
}

TEST_CASE("test_locks.ConditionTests.test_wait_unacquired") {
  run([]() -> Task<> {
    asyncio::Condition cond;
    CO_CHECK_RAISES(asyncio::RuntimeError, cond.wait());
  });
}

TEST_CASE("test_locks.ConditionTests.test_wait_for") {
  run([]() -> Task<> {
    asyncio::Condition cond;
    bool presult = false;

    auto predicate = [&] { return presult; };

    std::vector<int> result;

    auto c1 = [&]() -> Task<bool> {
      co_await cond.acquire();
      bool r = co_await cond.wait_for(predicate);
      if (r) {
        result.push_back(1);
        cond.release();
      }
      co_return true;
    };

    auto t = asyncio::create_task(c1());

    co_await asyncio::sleep(0);
    CHECK(result.empty());

    co_await cond.acquire();
    cond.notify();
    cond.release();
    co_await asyncio::sleep(0);
    CHECK(result.empty());

    presult = true;
    co_await cond.acquire();
    cond.notify();
    cond.release();
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1});

    CHECK(t.done());
    CHECK(t.result());
  });
}

TEST_CASE("test_locks.ConditionTests.test_wait_for_unacquired") {
  run([]() -> Task<> {
    asyncio::Condition cond;

    // predicate can return true immediately (a truthy value: Python's non-empty list)
    auto truthy = [] { return std::optional<std::vector<int>>(std::vector<int>{1, 2, 3}); };
    auto res = co_await cond.wait_for(truthy);
    CHECK(res == std::vector<int>{1, 2, 3});

    auto falsy = [] { return false; };
    CO_CHECK_RAISES(asyncio::RuntimeError, cond.wait_for(falsy));
  });
}

TEST_CASE("test_locks.ConditionTests.test_notify") {
  run([]() -> Task<> {
    asyncio::Condition cond;
    std::vector<int> result;

    auto c = [&](int n) -> Task<bool> {
      co_await cond.acquire();
      bool notified = co_await cond.wait();
      if (notified) {
        result.push_back(n);
        cond.release();
      }
      co_return true;
    };

    auto t1 = asyncio::create_task(c(1));
    auto t2 = asyncio::create_task(c(2));
    auto t3 = asyncio::create_task(c(3));

    co_await asyncio::sleep(0);
    CHECK(result.empty());

    co_await cond.acquire();
    cond.notify(1);
    cond.release();
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1});

    co_await cond.acquire();
    cond.notify(1);
    cond.notify(2048);
    cond.release();
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1, 2, 3});

    CHECK(t1.done());
    CHECK(t1.result());
    CHECK(t2.done());
    CHECK(t2.result());
    CHECK(t3.done());
    CHECK(t3.result());
  });
}

TEST_CASE("test_locks.ConditionTests.test_notify_all") {
  run([]() -> Task<> {
    asyncio::Condition cond;
    std::vector<int> result;

    auto c = [&](int n) -> Task<bool> {
      co_await cond.acquire();
      bool notified = co_await cond.wait();
      if (notified) {
        result.push_back(n);
        cond.release();
      }
      co_return true;
    };

    auto t1 = asyncio::create_task(c(1));
    auto t2 = asyncio::create_task(c(2));

    co_await asyncio::sleep(0);
    CHECK(result.empty());

    co_await cond.acquire();
    cond.notify_all();
    cond.release();
    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1, 2});

    CHECK(t1.done());
    CHECK(t1.result());
    CHECK(t2.done());
    CHECK(t2.result());
  });
}

TEST_CASE("test_locks.ConditionTests.test_notify_unacquired") {
  asyncio::Condition cond;
  CHECK_THROWS_AS(cond.notify(), asyncio::RuntimeError);
}

TEST_CASE("test_locks.ConditionTests.test_notify_all_unacquired") {
  asyncio::Condition cond;
  CHECK_THROWS_AS(cond.notify_all(), asyncio::RuntimeError);
}

TEST_CASE("test_locks.ConditionTests.test_context_manager") {
  run([]() -> Task<> {
    asyncio::Condition cond;
    CHECK_FALSE(cond.locked());
    co_await asyncio::async_with(cond, [&]() -> Task<> {
      CHECK(cond.locked());
      co_return;
    });
    CHECK_FALSE(cond.locked());
  });
}

namespace {
// test_explicit_lock's f(lock, cond).
Task<> explicit_lock_f(asyncio::Lock& lock, asyncio::Condition& cond) {
  // (Python also checks `cond._lock is lock`, which is not reachable: the lock/cond
  // locked() pairs below show they are the same lock.)
  CHECK_FALSE(lock.locked());
  CHECK_FALSE(cond.locked());
  co_await asyncio::async_with(cond, [&]() -> Task<> {
    CHECK(lock.locked());
    CHECK(cond.locked());
    co_return;
  });
  CHECK_FALSE(lock.locked());
  CHECK_FALSE(cond.locked());
  co_await asyncio::async_with(lock, [&]() -> Task<> {
    CHECK(lock.locked());
    CHECK(cond.locked());
    co_return;
  });
  CHECK_FALSE(lock.locked());
  CHECK_FALSE(cond.locked());
}
}  // namespace

TEST_CASE("test_locks.ConditionTests.test_explicit_lock") {
  run([]() -> Task<> {
    // All should work in the same way: f() (a new lock and a condition over it),
    // f(Lock()), f(lock, Condition(lock)).
    {
      asyncio::Lock lock;
      asyncio::Condition cond(lock);
      co_await explicit_lock_f(lock, cond);
    }
    {
      asyncio::Lock lock;
      asyncio::Condition cond(lock);
      co_await explicit_lock_f(lock, cond);
    }
    asyncio::Lock lock;
    asyncio::Condition cond(lock);
    co_await explicit_lock_f(lock, cond);
  });
}

TEST_CASE("test_locks.ConditionTests.test_timeout_in_block") {
  run([]() -> Task<> {
    asyncio::Condition condition;
    co_await asyncio::async_with(condition, [&]() -> Task<> {
      CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::wait_for(condition.wait(), 0.5));
    });
  });
}

// ====================================================================== SemaphoreTests

TEST_CASE("test_locks.SemaphoreTests.test_initial_value_zero") {
  asyncio::Semaphore sem(0);
  CHECK(sem.locked());
}

TEST_CASE("test_locks.SemaphoreTests.test_semaphore") {
  run([]() -> Task<> {
    asyncio::Semaphore sem;
    CHECK(sem.value() == 1);

    // `await sem` is a TypeError in Python; in C++ it does not compile.
    static_assert(!Awaitable<asyncio::Semaphore&>);

    CHECK_FALSE(sem.locked());
    CHECK(sem.value() == 1);
    co_return;
  });
}

TEST_CASE("test_locks.SemaphoreTests.test_semaphore_value") {
  CHECK_THROWS_AS(asyncio::Semaphore(-1), asyncio::ValueError);
}

TEST_CASE("test_locks.SemaphoreTests.test_acquire") {
  run([]() -> Task<> {
    asyncio::Semaphore sem(3);
    std::vector<int> result;

    bool a = co_await sem.acquire();
    CHECK(a);
    bool b = co_await sem.acquire();
    CHECK(b);
    CHECK_FALSE(sem.locked());

    auto c = [&](int n) -> Task<bool> {
      co_await sem.acquire();
      result.push_back(n);
      co_return true;
    };

    auto t1 = asyncio::create_task(c(1));
    auto t2 = asyncio::create_task(c(2));
    auto t3 = asyncio::create_task(c(3));

    co_await asyncio::sleep(0);
    CHECK(result == std::vector<int>{1});
    CHECK(sem.locked());
    CHECK(sem.waiter_count() == 2);
    CHECK(sem.value() == 0);

    auto t4 = asyncio::create_task(c(4));

    sem.release();
    sem.release();
    CHECK(sem.value() == 0);

    co_await asyncio::sleep(0);
    CHECK(sem.value() == 0);
    CHECK(result.size() == 3);
    CHECK(sem.locked());
    CHECK(sem.waiter_count() == 1);
    CHECK(sem.value() == 0);

    CHECK(t1.done());
    CHECK(t1.result());
    std::vector<TaskHandle<bool>> race_tasks{t2, t3, t4};
    auto done_tasks = std::count_if(race_tasks.begin(), race_tasks.end(),
                                    [](auto& t) { return t.done() && t.result(); });
    CHECK(done_tasks == 2);

    // cleanup locked semaphore
    sem.release();
    co_await asyncio::gather(race_tasks);
  });
}

TEST_CASE("test_locks.SemaphoreTests.test_acquire_cancel") {
  run([]() -> Task<> {
    asyncio::Semaphore sem;
    co_await sem.acquire();

    auto acquire = asyncio::create_task(sem.acquire());
    asyncio::get_running_loop().call_soon([&] { acquire.cancel(); });
    CO_CHECK_RAISES(asyncio::CancelledError, acquire);
    // (Python: no waiter, or only done ones; ours drops a waiter when it is done.)
    CHECK(sem.waiter_count() == 0);
  });
}

TEST_CASE("test_locks.SemaphoreTests.test_acquire_cancel_before_awoken") {
  run([]() -> Task<> {
    asyncio::Semaphore sem(0);

    auto t1 = asyncio::create_task(sem.acquire());
    auto t2 = asyncio::create_task(sem.acquire());
    auto t3 = asyncio::create_task(sem.acquire());
    auto t4 = asyncio::create_task(sem.acquire());

    co_await asyncio::sleep(0);

    t1.cancel();
    t2.cancel();
    sem.release();

    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    int num_done = int(t3.done()) + int(t4.done());
    CHECK(num_done == 1);
    CHECK(t3.done());
    CHECK_FALSE(t4.done());

    t3.cancel();
    t4.cancel();
    co_await asyncio::sleep(0);
  });
}

TEST_CASE("test_locks.SemaphoreTests.test_acquire_hang") {
  run([]() -> Task<> {
    asyncio::Semaphore sem(0);

    auto t1 = asyncio::create_task(sem.acquire());
    auto t2 = asyncio::create_task(sem.acquire());
    co_await asyncio::sleep(0);

    t1.cancel();
    sem.release();
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    CHECK(sem.locked());
    CHECK(t2.done());
  });
}

TEST_CASE("test_locks.SemaphoreTests.test_acquire_no_hang") {
  run([]() -> Task<> {
    asyncio::Semaphore sem(1);
    TaskHandle<void> t2;

    auto c1 = [&]() -> Task<> {
      co_await asyncio::async_with(sem, [&]() -> Task<> { co_await asyncio::sleep(0); });
      t2.cancel();
    };

    auto c2 = [&]() -> Task<> {
      co_await asyncio::async_with(sem, [&]() -> Task<> {
        FAIL_CHECK("c2 entered the semaphore");
        co_return;
      });
    };

    auto t1 = asyncio::create_task(c1());
    t2 = asyncio::create_task(c2());

    auto [r1, r2] = co_await asyncio::gather(asyncio::return_exceptions, t1, t2);
    CHECK(r1.has_value());
    bool r2_cancelled = false;
    try {
      std::rethrow_exception(r2.exception());
    } catch (const asyncio::CancelledError&) {
      r2_cancelled = true;
    } catch (...) {
    }
    CHECK(r2_cancelled);

    co_await asyncio::wait_for(sem.acquire(), 1.0);
  });
}

TEST_CASE("test_locks.SemaphoreTests.test_release_not_acquired") {
  asyncio::BoundedSemaphore sem;
  CHECK_THROWS_AS(sem.release(), asyncio::ValueError);
}

TEST_CASE("test_locks.SemaphoreTests.test_release_no_waiters") {
  run([]() -> Task<> {
    asyncio::Semaphore sem;
    co_await sem.acquire();
    CHECK(sem.locked());

    sem.release();
    CHECK_FALSE(sem.locked());
  });
}

TEST_CASE("test_locks.SemaphoreTests.test_acquire_fifo_order") {
  run([]() -> Task<> {
    asyncio::Semaphore sem(1);
    std::vector<std::string> result;

    auto coro = [&](std::string tag) -> Task<> {
      co_await sem.acquire();
      result.push_back(tag + "_1");
      co_await asyncio::sleep(0.01);
      sem.release();

      co_await sem.acquire();
      result.push_back(tag + "_2");
      co_await asyncio::sleep(0.01);
      sem.release();
    };

    co_await asyncio::async_with(asyncio::TaskGroup{}, [&](asyncio::TaskGroup& tg) -> Task<> {
      tg.create_task(coro("c1"));
      tg.create_task(coro("c2"));
      tg.create_task(coro("c3"));
      co_return;
    });

    CHECK(result == std::vector<std::string>{"c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"});
  });
}

TEST_CASE("test_locks.SemaphoreTests.test_acquire_fifo_order_2") {
  run([]() -> Task<> {
    asyncio::Semaphore sem(1);
    std::vector<int> result;

    auto c1 = [&]() -> Task<bool> {
      co_await sem.acquire();
      result.push_back(1);
      co_return true;
    };

    auto c2 = [&]() -> Task<bool> {
      co_await sem.acquire();
      result.push_back(2);
      sem.release();
      co_await sem.acquire();
      result.push_back(4);
      co_return true;
    };

    auto c3 = [&]() -> Task<bool> {
      co_await sem.acquire();
      result.push_back(3);
      co_return true;
    };

    auto t1 = asyncio::create_task(c1());
    auto t2 = asyncio::create_task(c2());
    auto t3 = asyncio::create_task(c3());

    co_await asyncio::sleep(0);

    sem.release();
    sem.release();

    co_await asyncio::gather(t1, t2, t3);
    CHECK(result == std::vector<int>{1, 2, 3, 4});
  });
}

TEST_CASE("test_locks.SemaphoreTests.test_acquire_fifo_order_3") {
  run([]() -> Task<> {
    asyncio::Semaphore sem(0);
    std::vector<int> result;

    auto c = [&](int n) -> Task<bool> {
      co_await sem.acquire();
      result.push_back(n);
      co_return true;
    };

    auto t1 = asyncio::create_task(c(1));
    auto t2 = asyncio::create_task(c(2));
    auto t3 = asyncio::create_task(c(3));

    co_await asyncio::sleep(0);

    t1.cancel();

    co_await asyncio::sleep(0);

    sem.release();
    sem.release();

    co_await asyncio::gather(asyncio::return_exceptions, t1, t2, t3);
    CHECK(result == std::vector<int>{2, 3});
  });
}

// ====================================================================== BarrierTests

namespace {
constexpr int N = 5;  // BarrierTests.asyncSetUp: self.N = 5

/// BarrierTests.make_tasks: n tasks of coro().
template <class F>
auto make_tasks(int n, F& coro) {
  std::vector<decltype(asyncio::create_task(coro()))> tasks;
  for (int i = 0; i < n; ++i) tasks.push_back(asyncio::create_task(coro()));
  return tasks;
}
}  // namespace

TEST_CASE("test_locks.BarrierTests.test_barrier") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(N);
    // `await barrier` is a TypeError in Python; in C++ it does not compile. (Python's
    // "filling" repr checks are not ported: n_waiting and broken are what C++ shows.)
    static_assert(!Awaitable<asyncio::Barrier&>);
    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
    co_return;
  });
}

TEST_CASE("test_locks.BarrierTests.test_barrier_parties") {
  run([]() -> Task<> {
    CHECK_THROWS_AS(asyncio::Barrier(0), asyncio::ValueError);
    CHECK_THROWS_AS(asyncio::Barrier(-4), asyncio::ValueError);

    asyncio::Barrier b(N);
    CHECK(b.parties() == N);
    co_return;
  });
}

TEST_CASE("test_locks.BarrierTests.test_context_manager") {
  run([]() -> Task<> {
    const int n = 3;
    asyncio::Barrier barrier(n);
    std::vector<int> results;

    auto coro = [&]() -> Task<> {
      co_await asyncio::async_with(barrier, [&](int& i) -> Task<> {
        results.push_back(i);
        co_return;
      });
    };

    auto tasks = make_tasks(n, coro);
    co_await asyncio::gather(tasks);

    std::sort(results.begin(), results.end());
    CHECK(results == std::vector<int>{0, 1, 2});
    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_filling_one_task") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(1);

    auto f = [&]() -> Task<bool> {
      bool r = co_await asyncio::async_with(barrier, [](int&) -> Task<bool> { co_return true; });
      co_return r;
    };

    bool ret = co_await f();

    CHECK(ret);
    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_filling_one_task_twice") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(1);

    auto t1 = asyncio::create_task(barrier.wait());
    co_await asyncio::sleep(0);
    CHECK(barrier.n_waiting() == 0);

    auto t2 = asyncio::create_task(barrier.wait());
    co_await asyncio::sleep(0);

    CHECK(t1.result() == t2.result());
    CHECK(t1.done() == t2.done());

    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_filling_task_by_task") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(3);

    // (Python also checks "filling" in repr(barrier) after each of the first two.)
    auto t1 = asyncio::create_task(barrier.wait());
    co_await asyncio::sleep(0);
    CHECK(barrier.n_waiting() == 1);

    auto t2 = asyncio::create_task(barrier.wait());
    co_await asyncio::sleep(0);
    CHECK(barrier.n_waiting() == 2);

    auto t3 = asyncio::create_task(barrier.wait());
    co_await asyncio::sleep(0);

    std::vector<TaskHandle<int>> ts{t1, t2, t3};
    co_await asyncio::wait(ts);

    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_filling_tasks_wait_twice") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(N);
    std::vector<bool> results;

    auto coro = [&]() -> Task<> {
      co_await asyncio::async_with(barrier, [&](int&) -> Task<> {
        results.push_back(true);
        co_await asyncio::async_with(barrier, [&](int&) -> Task<> {
          results.push_back(false);
          co_return;
        });
      });
    };

    auto tasks = make_tasks(N, coro);
    co_await asyncio::gather(tasks);

    CHECK(results.size() == 2 * N);
    CHECK(std::count(results.begin(), results.end(), true) == N);
    CHECK(std::count(results.begin(), results.end(), false) == N);

    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_filling_tasks_check_return_value") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(N);
    std::vector<bool> results1;
    std::vector<bool> results2;

    auto coro = [&]() -> Task<int> {
      int r = co_await asyncio::async_with(barrier, [&](int&) -> Task<int> {
        results1.push_back(true);
        int i2 = co_await asyncio::async_with(barrier, [&](int& i) -> Task<int> {
          results2.push_back(true);
          co_return i;
        });
        co_return i2;
      });
      co_return r;
    };

    auto tasks = make_tasks(N, coro);
    std::vector<int> res = co_await asyncio::gather(tasks);

    CHECK(results1.size() == N);
    CHECK(std::all_of(results1.begin(), results1.end(), [](bool b) { return b; }));
    CHECK(results2.size() == N);
    CHECK(std::all_of(results2.begin(), results2.end(), [](bool b) { return b; }));
    std::sort(res.begin(), res.end());
    CHECK(res == std::vector<int>{0, 1, 2, 3, 4});

    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_blocking_tasks_while_draining") {
  run([]() -> Task<> {
    const int rewait = 2;
    asyncio::Barrier barrier(N);
    asyncio::Barrier barrier_nowaiting(N - rewait);
    int rewait_n = rewait;

    auto coro = [&]() -> Task<> {
      // first time waiting
      co_await barrier.wait();

      // after waiting once for all tasks
      if (rewait_n > 0) {
        rewait_n -= 1;
        // wait again only for rewait tasks
        co_await barrier.wait();
      } else {
        // wait for end of draining state
        co_await barrier_nowaiting.wait();
        // wait for other waiting tasks
        co_await barrier.wait();
      }
    };

    // a success means that barrier_nowaiting was waited for exactly N-rewait=3 times
    auto tasks = make_tasks(N, coro);
    co_await asyncio::gather(tasks);
  });
}

TEST_CASE("test_locks.BarrierTests.test_filling_tasks_cancel_one") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(3);
    std::vector<bool> results;

    auto coro = [&]() -> Task<> {
      co_await barrier.wait();
      results.push_back(true);
    };

    auto t1 = asyncio::create_task(coro());
    co_await asyncio::sleep(0);
    CHECK(barrier.n_waiting() == 1);

    auto t2 = asyncio::create_task(coro());
    co_await asyncio::sleep(0);
    CHECK(barrier.n_waiting() == 2);

    t1.cancel();
    co_await asyncio::sleep(0);
    CHECK(barrier.n_waiting() == 1);
    CO_CHECK_RAISES(asyncio::CancelledError, t1);
    CHECK(t1.cancelled());

    auto t3 = asyncio::create_task(coro());
    co_await asyncio::sleep(0);
    CHECK(barrier.n_waiting() == 2);

    auto t4 = asyncio::create_task(coro());
    co_await asyncio::gather(t2, t3, t4);

    CHECK(results.size() == 3);

    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_reset_barrier") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(1);

    asyncio::create_task(barrier.reset());
    co_await asyncio::sleep(0);

    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_reset_barrier_while_tasks_waiting") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(N);
    std::vector<bool> results;

    auto coro = [&]() -> Task<> {
      try {
        co_await barrier.wait();
      } catch (const asyncio::BrokenBarrierError&) {
        results.push_back(true);
      }
    };

    auto coro_reset = [&]() -> Task<> { co_await barrier.reset(); };

    // N-1 tasks waiting on barrier with N parties
    auto tasks = make_tasks(N - 1, coro);
    co_await asyncio::sleep(0);

    // reset the barrier
    asyncio::create_task(coro_reset());
    co_await asyncio::gather(tasks);

    CHECK(results.size() == N - 1);
    CHECK(barrier.n_waiting() == 0);
    // (Python also checks "resetting" is not in repr(barrier).)
    CHECK_FALSE(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_reset_barrier_when_tasks_half_draining") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(N);
    std::vector<bool> results1;
    const int rest_of_tasks = N / 2;
    int exited = 0;  // tasks whose wait() returned

    auto coro = [&]() -> Task<> {
      bool broken = false;
      try {
        co_await barrier.wait();
      } catch (const asyncio::BrokenBarrierError&) {
        // catch here waiting tasks
        results1.push_back(true);
        broken = true;
      }
      if (!broken) {
        // here drained task outside the barrier. Python reads the private barrier._count
        // (tasks still inside the draining barrier): N minus those whose wait() returned.
        exited += 1;
        if (rest_of_tasks == N - exited) {
          // tasks outside the barrier
          co_await barrier.reset();
        }
      }
    };

    auto tasks = make_tasks(N, coro);
    co_await asyncio::gather(tasks);

    CHECK(results1 == std::vector<bool>(rest_of_tasks, true));
    CHECK(barrier.n_waiting() == 0);
    // (Python also checks "resetting" is not in repr(barrier).)
    CHECK_FALSE(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_reset_barrier_when_tasks_half_draining_half_blocking") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(N);
    std::vector<bool> results1;
    std::vector<bool> results2;
    const int blocking_tasks = N / 2;
    int count = 0;

    auto coro = [&]() -> Task<> {
      bool broken = false;
      try {
        co_await barrier.wait();
      } catch (const asyncio::BrokenBarrierError&) {
        broken = true;
      }
      if (broken) {
        // here catch still waiting tasks
        results1.push_back(true);

        // so now waiting again to reach nb_parties
        co_await barrier.wait();
      } else {
        count += 1;
        if (count > blocking_tasks) {
          // reset now: raise asyncio.BrokenBarrierError for waiting tasks
          co_await barrier.reset();

          // so now waiting again to reach nb_parties
          co_await barrier.wait();
        } else {
          try {
            co_await barrier.wait();
          } catch (const asyncio::BrokenBarrierError&) {
            // here no catch - blocked tasks go to wait
            results2.push_back(true);
          }
        }
      }
    };

    auto tasks = make_tasks(N, coro);
    co_await asyncio::gather(tasks);

    CHECK(results1 == std::vector<bool>(blocking_tasks, true));
    CHECK(results2.empty());
    CHECK(barrier.n_waiting() == 0);
    // (Python also checks "resetting" is not in repr(barrier).)
    CHECK_FALSE(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_reset_barrier_while_tasks_waiting_and_waiting_again") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(N);
    std::vector<bool> results1;
    std::vector<bool> results2;

    auto coro1 = [&]() -> Task<> {
      try {
        co_await barrier.wait();
      } catch (const asyncio::BrokenBarrierError&) {
        results1.push_back(true);
      }
      // finally:
      co_await barrier.wait();
      results2.push_back(true);
    };

    auto coro2 = [&]() -> Task<> {
      co_await asyncio::async_with(barrier, [&](int&) -> Task<> {
        results2.push_back(true);
        co_return;
      });
    };

    auto tasks = make_tasks(N - 1, coro1);

    // reset barrier, N-1 waiting tasks raise an BrokenBarrierError
    asyncio::create_task(barrier.reset());
    co_await asyncio::sleep(0);

    // complete waiting tasks in the `finally`
    asyncio::create_task(coro2());

    co_await asyncio::gather(tasks);

    CHECK_FALSE(barrier.broken());
    CHECK(results1.size() == N - 1);
    CHECK(results2.size() == N);

    CHECK(barrier.n_waiting() == 0);
  });
}

TEST_CASE("test_locks.BarrierTests.test_reset_barrier_while_tasks_draining") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(N);
    std::vector<bool> results1;
    std::vector<bool> results2;
    std::vector<bool> results3;
    int count = 0;

    auto coro = [&]() -> Task<> {
      co_await barrier.wait();
      count += 1;
      if (count == N) {
        // last task exited from barrier
        co_await barrier.reset();

        // wait here to reach the `parties`
        co_await barrier.wait();
      } else {
        try {
          // second waiting
          co_await barrier.wait();

          // N-1 tasks here
          results1.push_back(true);
        } catch (const std::exception&) {
          // never goes here
          results2.push_back(true);
        }
      }

      // Now, pass the barrier again; last wait, must be completed
      co_await barrier.wait();
      results3.push_back(true);
    };

    auto tasks = make_tasks(N, coro);
    co_await asyncio::gather(tasks);

    CHECK_FALSE(barrier.broken());
    CHECK(results1.size() == N - 1);
    CHECK(results2.empty());
    CHECK(results3.size() == N);

    CHECK(barrier.n_waiting() == 0);
  });
}

TEST_CASE("test_locks.BarrierTests.test_abort_barrier") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(1);

    asyncio::create_task(barrier.abort());
    co_await asyncio::sleep(0);

    CHECK(barrier.n_waiting() == 0);
    CHECK(barrier.broken());
  });
}

TEST_CASE("test_locks.BarrierTests.test_abort_barrier_when_tasks_half_draining_half_blocking") {
  run([]() -> Task<> {
    asyncio::Barrier barrier(N);
    std::vector<bool> results1;
    std::vector<bool> results2;
    const int blocking_tasks = N / 2;
    int count = 0;

    auto coro = [&]() -> Task<> {
      bool broken = false;
      try {
        co_await barrier.wait();
      } catch (const asyncio::BrokenBarrierError&) {
        // here catch tasks waiting to drain
        results1.push_back(true);
        broken = true;
      }
      if (!broken) {
        count += 1;
        if (count > blocking_tasks) {
          // abort now: raise asyncio.BrokenBarrierError for all tasks
          co_await barrier.abort();
        } else {
          try {
            co_await barrier.wait();
          } catch (const asyncio::BrokenBarrierError&) {
            // here catch blocked tasks (already drained)
            results2.push_back(true);
          }
        }
      }
    };

    auto tasks = make_tasks(N, coro);
    co_await asyncio::gather(tasks);

    CHECK(barrier.broken());
    CHECK(results1 == std::vector<bool>(blocking_tasks, true));
    CHECK(results2 == std::vector<bool>(N - blocking_tasks - 1, true));
    CHECK(barrier.n_waiting() == 0);
    // (Python also checks "resetting" is not in repr(barrier).)
  });
}

TEST_CASE("test_locks.BarrierTests.test_abort_barrier_when_exception") {
  run([]() -> Task<> {
    // test from threading.Barrier: see `lock_tests.test_reset`
    asyncio::Barrier barrier(N);
    std::vector<bool> results1;
    std::vector<bool> results2;

    auto coro = [&]() -> Task<> {
      bool runtime_error = false;
      try {
        co_await asyncio::async_with(barrier, [&](int& i) -> Task<> {
          if (i == N / 2) throw asyncio::RuntimeError("");
          co_return;
        });
        co_await asyncio::async_with(barrier, [&](int&) -> Task<> {
          results1.push_back(true);
          co_return;
        });
      } catch (const asyncio::BrokenBarrierError&) {
        results2.push_back(true);
      } catch (const asyncio::RuntimeError&) {
        runtime_error = true;
      }
      if (runtime_error) co_await barrier.abort();
    };

    auto tasks = make_tasks(N, coro);
    co_await asyncio::gather(tasks);

    CHECK(barrier.broken());
    CHECK(results1.empty());
    CHECK(results2.size() == N - 1);
    CHECK(barrier.n_waiting() == 0);
  });
}

TEST_CASE("test_locks.BarrierTests.test_abort_barrier_when_exception_then_resetting") {
  run([]() -> Task<> {
    // test from threading.Barrier: see `lock_tests.test_abort_and_reset`
    asyncio::Barrier barrier1(N);
    asyncio::Barrier barrier2(N);
    std::vector<bool> results1;
    std::vector<bool> results2;
    std::vector<bool> results3;

    auto coro = [&]() -> Task<> {
      bool runtime_error = false;
      try {
        int i = co_await barrier1.wait();
        if (i == N / 2) throw asyncio::RuntimeError("");
        co_await barrier1.wait();
        results1.push_back(true);
      } catch (const asyncio::BrokenBarrierError&) {
        results2.push_back(true);
      } catch (const asyncio::RuntimeError&) {
        runtime_error = true;
      }
      if (runtime_error) co_await barrier1.abort();

      // Synchronize and reset the barrier.  Must synchronize first so that everyone has left
      // it when we reset, and after so that no one enters it before the reset.
      int i = co_await barrier2.wait();
      if (i == N / 2) co_await barrier1.reset();
      co_await barrier2.wait();
      co_await barrier1.wait();
      results3.push_back(true);
    };

    auto tasks = make_tasks(N, coro);
    co_await asyncio::gather(tasks);

    CHECK_FALSE(barrier1.broken());
    CHECK(results1.empty());
    CHECK(results2.size() == N - 1);
    CHECK(results3.size() == N);

    CHECK(barrier1.n_waiting() == 0);
  });
}
