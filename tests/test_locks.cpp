// Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier: each scenario replays
// tests/python/locks.py (recorded with python3.13 in tests/python/locks.out) and must print the
// same trace; cancellation and wait_for timeouts must leave no waiter, timer or task behind.
#include <asyncio/asyncio.hpp>

#include <string>
#include <vector>

#include "catch.hpp"
#include "pytrace.hpp"

using namespace std::chrono_literals;
using pytrace::check_clean;
using pytrace::py;
using pytrace::say;

namespace {

double t0 = 0;
double now() { return asyncio::get_running_loop().time() - t0; }

template <class F>
void replay(const char* scenario, F main) {
  pytrace::replay("locks", scenario, main);
}


// ------------------------------------------------------------------ Lock
asyncio::Lock* g_lock;
asyncio::Task<> lock_worker(std::string n) {
  co_await asyncio::async_with(*g_lock, [&]() -> asyncio::Task<> {
    say("{} in t={:.1f}", n, now());
    co_await asyncio::sleep(0.1);
    say("{} out", n);
  });
}
asyncio::Task<> lock_newcomer() {
  co_await asyncio::sleep(0.1);
  auto held = co_await g_lock->hold();
  say("late in");
}
asyncio::Task<> lock_fifo() {
  asyncio::Lock lock;
  g_lock = &lock;
  t0 = asyncio::get_running_loop().time();
  co_await asyncio::gather(lock_worker("A"), lock_worker("B"), lock_worker("C"), lock_newcomer());
  say("locked {}", lock.locked() ? "True" : "False");
  check_clean();
}

asyncio::Task<> lock_waiter(std::string n) {
  try {
    auto held = co_await g_lock->hold();
    say("{} got it", n);
  } catch (const asyncio::CancelledError&) {
    say("{} cancelled", n);
    throw;
  }
}
asyncio::Task<> lock_cancel() {
  asyncio::Lock lock;
  g_lock = &lock;
  co_await lock.acquire();
  auto b = asyncio::create_task(lock_waiter("B"));
  auto c = asyncio::create_task(lock_waiter("C"));
  auto d = asyncio::create_task(lock_waiter("D"));
  co_await asyncio::sleep(0);
  CHECK(lock.waiter_count() == 3);
  b.cancel();
  co_await asyncio::sleep(0);
  lock.release();
  c.cancel();
  co_await asyncio::gather(asyncio::return_exceptions, b, c, d);
  say("locked {} waiters {}", lock.locked() ? "True" : "False", lock.waiter_count());
  check_clean();
}

asyncio::Task<> lock_wait_for() {
  asyncio::Lock lock;
  t0 = asyncio::get_running_loop().time();
  co_await lock.acquire();
  try {
    co_await asyncio::wait_for(lock.acquire(), 0.5);
  } catch (const asyncio::TimeoutError&) {
    say("timeout at {:.1f}", now());
  }
  lock.release();
  co_await asyncio::wait_for(lock.acquire(), 0.5);
  say("acquired, waiters {}", lock.waiter_count());
  lock.release();
  try {
    lock.release();
  } catch (const asyncio::RuntimeError& e) {
    say("RuntimeError {}", e.what());
  }
  check_clean();
}

// ------------------------------------------------------------------ Event
asyncio::Event* g_ev;
asyncio::Task<> ev_waiter(std::string n) {
  bool r = co_await g_ev->wait();
  say("{} woke {}", n, r ? "True" : "False");
}
asyncio::Task<> event_basic() {
  asyncio::Event ev;
  g_ev = &ev;
  std::vector<asyncio::TaskHandle<>> ts{asyncio::create_task(ev_waiter("A")), asyncio::create_task(ev_waiter("B")),
                                        asyncio::create_task(ev_waiter("C"))};
  co_await asyncio::sleep(0);
  ts[1].cancel();
  co_await asyncio::sleep(0);
  say("set");
  ev.set();
  say("is_set {}", ev.is_set() ? "True" : "False");
  co_await asyncio::gather(asyncio::return_exceptions, ts);
  say("B cancelled {} waiters {}", ts[1].cancelled() ? "True" : "False", ev.waiter_count());
  ev.clear();
  try {
    co_await asyncio::wait_for(ev.wait(), 1);
  } catch (const asyncio::TimeoutError&) {
    say("timeout, waiters {}", ev.waiter_count());
  }
  ev.set();
  bool r = co_await ev.wait();
  say("immediate {}", r ? "True" : "False");
  check_clean();
}

// ------------------------------------------------------------------ Condition
asyncio::Condition* g_cond;
std::vector<int>* g_items;
struct HasItems {
  bool operator()() const { return !g_items->empty(); }
};
asyncio::Task<> cond_consumer(std::string n) {
  auto held = co_await g_cond->hold();
  co_await g_cond->wait_for(HasItems{});
  say("{} got {}", n, g_items->front());
  g_items->erase(g_items->begin());
}
asyncio::Task<> condition_basic() {
  asyncio::Condition cond;
  std::vector<int> items;
  g_cond = &cond;
  g_items = &items;
  std::vector<asyncio::TaskHandle<>> ts{asyncio::create_task(cond_consumer("A")),
                                        asyncio::create_task(cond_consumer("B")),
                                        asyncio::create_task(cond_consumer("C"))};
  co_await asyncio::sleep(0);
  try {
    cond.notify();
  } catch (const asyncio::RuntimeError& e) {
    say("RuntimeError {}", e.what());
  }
  try {
    co_await cond.wait();
  } catch (const asyncio::RuntimeError& e) {
    say("RuntimeError {}", e.what());
  }
  {
    auto held = co_await cond.hold();
    items.push_back(1);
    cond.notify(1);
    say("notified 1");
  }
  co_await asyncio::sleep(0.01);
  co_await asyncio::async_with(cond, [&]() -> asyncio::Task<> {
    items.push_back(2);
    items.push_back(3);
    cond.notify_all();
    say("notified all");
    co_return;
  });
  co_await asyncio::gather(ts);
  say("waiters {} locked {}", cond.waiter_count(), cond.locked() ? "True" : "False");
  check_clean();
}

asyncio::Task<> cond_waiter(std::string n) {
  auto held = co_await g_cond->hold();
  try {
    co_await g_cond->wait();
    say("{} notified, locked {}", n, g_cond->locked() ? "True" : "False");
  } catch (const asyncio::CancelledError&) {
    say("{} cancelled, locked {}", n, g_cond->locked() ? "True" : "False");
    throw;
  }
}
asyncio::Task<> condition_cancel() {
  asyncio::Lock lock;  // a Condition over a lock we own
  asyncio::Condition cond(lock);
  g_cond = &cond;
  auto a = asyncio::create_task(cond_waiter("A"));
  auto b = asyncio::create_task(cond_waiter("B"));
  auto c = asyncio::create_task(cond_waiter("C"));
  co_await asyncio::sleep(0);
  c.cancel();
  co_await asyncio::sleep(0);
  {
    auto held = co_await cond.hold();
    cond.notify(1);
    a.cancel();
  }
  co_await asyncio::gather(asyncio::return_exceptions, a, b, c);
  say("waiters {} locked {}", cond.waiter_count(), cond.locked() ? "True" : "False");
  {
    auto held = co_await cond.hold();
    try {
      co_await asyncio::wait_for(cond.wait(), 0.5);
    } catch (const asyncio::TimeoutError&) {
      say("timeout, locked {} waiters {}", cond.locked() ? "True" : "False", cond.waiter_count());
    }
  }
  say("locked {}", lock.locked() ? "True" : "False");
  check_clean();
}

// ------------------------------------------------------------------ Semaphore
asyncio::Semaphore* g_sem;
asyncio::Task<> sem_worker(std::string n, double d) {
  co_await asyncio::async_with(*g_sem, [&]() -> asyncio::Task<> {
    say("{} in", n);
    co_await asyncio::sleep(d);
    say("{} out", n);
  });
}
asyncio::Task<> sem_waiter(std::string n) {
  try {
    co_await g_sem->acquire();
    say("{} acquired", n);
  } catch (const asyncio::CancelledError&) {
    say("{} cancelled", n);
    throw;
  }
}
asyncio::Task<> semaphore() {
  asyncio::Semaphore sem(2);
  g_sem = &sem;
  co_await asyncio::gather(sem_worker("A", 0.2), sem_worker("B", 0.1), sem_worker("C", 0.1), sem_worker("D", 0.1));
  say("value {}", sem.value());
  co_await sem.acquire();
  co_await sem.acquire();
  auto b = asyncio::create_task(sem_waiter("B"));
  auto c = asyncio::create_task(sem_waiter("C"));
  auto d = asyncio::create_task(sem_waiter("D"));
  co_await asyncio::sleep(0);
  b.cancel();
  co_await asyncio::sleep(0);
  sem.release();
  c.cancel();
  co_await asyncio::gather(asyncio::return_exceptions, b, c, d);
  say("locked {} value {}", sem.locked() ? "True" : "False", sem.value());
  try {
    co_await asyncio::wait_for(sem.acquire(), 0.3);
  } catch (const asyncio::TimeoutError&) {
    say("timeout, value {}", sem.value());
  }
  CHECK(sem.waiter_count() == 0);
  sem.release();
  sem.release();
  say("value {}", sem.value());
  try {
    asyncio::Semaphore bad(-1);
  } catch (const asyncio::ValueError& e) {
    say("ValueError {}", e.what());
  }
  asyncio::BoundedSemaphore bs(1);
  co_await bs.acquire();
  bs.release();
  try {
    bs.release();
  } catch (const asyncio::ValueError& e) {
    say("ValueError {}", e.what());
  }
  check_clean();
}

// ------------------------------------------------------------------ Barrier
asyncio::Barrier* g_bar;
asyncio::Task<> bar_worker(std::string n, double d) {
  co_await asyncio::sleep(d);
  int i = co_await g_bar->wait();
  say("{} index {}", n, i);
}
asyncio::Task<> bar_w2(std::string n) {
  try {
    co_await g_bar->wait();
  } catch (const asyncio::BrokenBarrierError&) {
    say("{} broken", n);
  } catch (const asyncio::CancelledError&) {
    say("{} cancelled", n);
    throw;
  }
}
asyncio::Task<> barrier() {
  asyncio::Barrier b(3);
  g_bar = &b;
  std::vector<asyncio::TaskHandle<>> ts{asyncio::create_task(bar_worker("A", 0.3)),
                                        asyncio::create_task(bar_worker("B", 0.1)),
                                        asyncio::create_task(bar_worker("C", 0.2))};
  co_await asyncio::sleep(0.25);
  say("n_waiting {}", b.n_waiting());
  co_await asyncio::gather(ts);
  say("n_waiting {} broken {}", b.n_waiting(), py(b.broken()));
  std::vector<asyncio::TaskHandle<>> ts2{asyncio::create_task(bar_w2("X")), asyncio::create_task(bar_w2("Y"))};
  co_await asyncio::sleep(0);
  ts2[0].cancel();
  co_await asyncio::sleep(0);
  say("n_waiting {}", b.n_waiting());
  co_await b.reset();
  co_await asyncio::gather(asyncio::return_exceptions, ts2);
  say("after reset n_waiting {} broken {}", b.n_waiting(), py(b.broken()));
  try {
    co_await asyncio::wait_for(b.wait(), 0.5);
  } catch (const asyncio::TimeoutError&) {
    say("timeout n_waiting {}", b.n_waiting());
  }
  co_await b.abort();
  say("broken {}", py(b.broken()));
  try {
    co_await b.wait();
  } catch (const asyncio::BrokenBarrierError&) {
    say("BrokenBarrierError");
  }
  try {
    asyncio::Barrier bad(0);
  } catch (const asyncio::ValueError& e) {
    say("ValueError {}", e.what());
  }
  check_clean();
}

}  // namespace

TEST_CASE("Lock: FIFO, a newcomer cannot overtake queued waiters, async_with and hold()") { replay("lock_fifo", lock_fifo); }
TEST_CASE("Lock: cancelled while queued and after being woken passes the lock on") { replay("lock_cancel", lock_cancel); }
TEST_CASE("Lock: acquire under wait_for times out cleanly; release unlocked → RuntimeError") {
  replay("lock_wait_for", lock_wait_for);
}
TEST_CASE("Event: set wakes all waiters FIFO, cancelled waiter removed, wait_for timeout") {
  replay("event_basic", event_basic);
}
TEST_CASE("Condition: notify(n), notify_all, wait_for(predicate), RuntimeError without the lock") {
  replay("condition_basic", condition_basic);
}
TEST_CASE("Condition: cancelled waiters re-acquire the lock; a cancelled notified waiter passes it on") {
  replay("condition_cancel", condition_cancel);
}
TEST_CASE("Semaphore/BoundedSemaphore: FIFO, cancellation, wait_for, ValueError") { replay("semaphore", semaphore); }
TEST_CASE("Barrier: arrival indices, n_waiting, reset, abort, cancel, wait_for") { replay("barrier", barrier); }

TEST_CASE("Lock: a waiter whose frame dies after being woken passes the lock on") {
  auto main = []() -> asyncio::Task<> {
    asyncio::Lock lock;
    co_await lock.acquire();
    int got = 0;
    auto waiter = [](asyncio::Lock* l, int* g) -> asyncio::Task<> {
      co_await l->acquire();
      ++*g;
      l->release();
    };
    auto t1 = asyncio::create_task(waiter(&lock, &got));
    auto t2 = asyncio::create_task(waiter(&lock, &got));
    co_await asyncio::sleep(0);
    lock.release();
    t1.cancel();  // woken, then cancelled: the lock goes to t2
    co_await asyncio::gather(asyncio::return_exceptions, t1, t2);
    CHECK(t1.cancelled());
    CHECK(got == 1);
    CHECK_FALSE(lock.locked());
    CHECK(lock.waiter_count() == 0);
  };
  asyncio::run(main(), {.virtual_time = true});
}

// CPython 3.11 keeps a woken Condition waiter in _waiters until its task resumes (and notify()
// skips it): tests/python-style trace of len(cond._waiters) = 2, 2, 2, 0.
TEST_CASE("Condition: woken waiters stay counted until they resume, as Python's _waiters") {
  std::vector<std::size_t> counts;
  asyncio::run([](std::vector<std::size_t>& counts) -> asyncio::Task<> {
    asyncio::Condition cond;
    auto w = [](asyncio::Condition& c) -> asyncio::Task<> {
      co_await asyncio::async_with(c, [&]() -> asyncio::Task<> { co_await c.wait(); });
    };
    auto t1 = asyncio::create_task(w(cond));
    auto t2 = asyncio::create_task(w(cond));
    co_await asyncio::sleep(0);
    counts.push_back(cond.waiter_count());
    co_await asyncio::async_with(cond, [&]() -> asyncio::Task<> {
      cond.notify(1);
      counts.push_back(cond.waiter_count());
      cond.notify_all();
      counts.push_back(cond.waiter_count());
      co_return;
    });
    co_await asyncio::gather(t1, t2);
    counts.push_back(cond.waiter_count());
  }(counts));
  CHECK(counts == std::vector<std::size_t>{2, 2, 2, 0});
}
