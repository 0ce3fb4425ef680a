// asyncio/locks.hpp — synchronisation primitives (Python's locks.py).
//
// All are FIFO-fair and cancellation-safe: a waiter cancelled while queued leaves no permit
// stuck, and a waiter cancelled after being woken passes the wake-up on. Each is an async
// context manager (aenter/aexit, for async_with) and has a synchronous RAII guard:
// `auto held = co_await sem.hold();` releases when `held` is destroyed.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "detail/core.hpp"
#include "detail/ready.hpp"
#include "events.hpp"
#include "exceptions.hpp"
#include "task.hpp"

namespace asyncio {

class Semaphore;

namespace detail {
/// `auto held = co_await x.hold();` for Semaphore, Lock and Condition: releases when
/// destroyed.
template <class M>
class ReleaseGuard {
 public:
  ReleaseGuard() = default;
  explicit ReleaseGuard(M* m) noexcept : m_(m) {}
  ReleaseGuard(ReleaseGuard&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  ReleaseGuard& operator=(ReleaseGuard&& o) noexcept {
    if (this != &o) {
      release();
      m_ = std::exchange(o.m_, nullptr);
    }
    return *this;
  }
  ~ReleaseGuard() { release(); }
  /// Release early (no-op if already released).
  void release() {
    if (auto* m = std::exchange(m_, nullptr)) m->release();
  }
  bool owns() const noexcept { return m_ != nullptr; }

 private:
  M* m_ = nullptr;
};

/// hold(): awaits the acquire waiter `W`, then hands back a ReleaseGuard on `M`.
template <class W, class M>
struct HoldAwaiter {
  W w;
  M* m;
  bool await_ready() noexcept { return w.await_ready(); }
  void await_suspend(std::coroutine_handle<> h) { w.await_suspend(h); }
  ReleaseGuard<M> await_resume() {
    w.await_resume();
    return ReleaseGuard<M>(m);
  }
};

/// A queued acquire() (Python's waiter future in Semaphore._waiters).
struct SemaphoreWaiter final : Waiter, ListNode {
  Semaphore* sem;
  TaskStateBase* task = nullptr;
  bool suspended = false;
  bool granted = false;    // release() handed this waiter a permit
  bool cancelled = false;  // withdrawn from the queue by cancellation
  bool resumed = false;

  explicit SemaphoreWaiter(Semaphore* s) : sem(s) {}
  SemaphoreWaiter(SemaphoreWaiter&& o) noexcept : sem(o.sem) {}
  ~SemaphoreWaiter();
  bool await_ready() noexcept;
  void await_suspend(std::coroutine_handle<> h);
  bool await_resume();
  bool cancel() noexcept override;
  void describe(std::string& out, double now) const override;
  /// wait_for's leaf protocol: cancel() withdrew it before any permit was granted.
  void abandon() noexcept { resumed = true; }
};
}  // namespace detail

/// Python's asyncio.Semaphore: at most `value` holders at once. ValueError if value < 0.
/// The counter is 64-bit (Python's has no limit): release() past 2^63 - 1 is a ValueError,
/// never an overflow.
class Semaphore {
 public:
  explicit Semaphore(long long value = 1) : value_(value) {
    if (value < 0) throw ValueError("Semaphore initial value must be >= 0");
  }
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  virtual ~Semaphore() = default;

  /// True if acquire() would have to wait.
  bool locked() const noexcept { return value_ == 0 || !waiters_.empty() || granted_pending_ > 0; }
  /// Wait for a permit; `co_await sem.acquire()` gives true, as Python's does.
  detail::SemaphoreWaiter acquire() { return detail::SemaphoreWaiter(this); }
  /// Return a permit, waking the first waiter.
  virtual void release() {
    if (value_ == std::numeric_limits<long long>::max()) throw ValueError("Semaphore value would overflow");
    ++value_;
    wake_up_next();
  }

  /// RAII permit from hold(): released when destroyed (or by release()).
  using Guard = detail::ReleaseGuard<Semaphore>;
  using HoldAwaiter = detail::HoldAwaiter<detail::SemaphoreWaiter, Semaphore>;
  /// `auto held = co_await sem.hold();` — acquire, released when `held` goes out of scope.
  HoldAwaiter hold() { return HoldAwaiter{detail::SemaphoreWaiter(this), this}; }

  struct EnterAwaiter {
    detail::SemaphoreWaiter w;
    bool await_ready() noexcept { return w.await_ready(); }
    void await_suspend(std::coroutine_handle<> h) { w.await_suspend(h); }
    void await_resume() { w.await_resume(); }
  };
  /// async context manager: `async with sem:` is async_with(sem, body).
  EnterAwaiter aenter() { return EnterAwaiter{detail::SemaphoreWaiter(this)}; }
  detail::Ready<bool> aexit(std::exception_ptr) {
    release();
    return {false};
  }

  /// Introspection: the current counter and the number of queued waiters.
  long long value() const noexcept { return value_; }
  std::size_t waiter_count() const noexcept { return waiters_.size(); }

 protected:
  friend struct detail::SemaphoreWaiter;
  void wake_up_next() noexcept {
    auto* n = static_cast<detail::SemaphoreWaiter*>(waiters_.pop_front());
    if (!n) return;
    --value_;
    n->granted = true;
    ++granted_pending_;
    n->task->wake();
  }
  long long value_;
  std::size_t granted_pending_ = 0;  // woken waiters that have not resumed yet
  detail::List waiters_;
};

/// Python's asyncio.BoundedSemaphore: release() above the initial value raises ValueError.
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(long long value = 1) : Semaphore(value), bound_(value) {}
  void release() override {
    if (value_ >= bound_) throw ValueError("BoundedSemaphore released too many times");
    Semaphore::release();
  }

 private:
  long long bound_;
};

namespace detail {
inline SemaphoreWaiter::~SemaphoreWaiter() {
  unlink();
  if (granted && !resumed) {
    // The frame died between the wake-up and the resumption: hand the permit on.
    --sem->granted_pending_;
    sem->value_++;
    sem->wake_up_next();
  }
}
inline bool SemaphoreWaiter::await_ready() noexcept {
  if (!sem->locked()) {
    --sem->value_;
    return true;
  }
  return false;
}
inline void SemaphoreWaiter::await_suspend(std::coroutine_handle<> h) {
  task = &require_task("Semaphore.acquire()");
  suspended = true;
  sem->waiters_.push_back(this);
  task->suspend_on(this, h);
}
inline void SemaphoreWaiter::describe(std::string& out, double) const {
  out += "Semaphore.acquire()";
  describe_position(out, this, sem->waiters_);
}
inline bool SemaphoreWaiter::cancel() noexcept {
  if (!linked()) return false;  // already granted: the wake-up is scheduled
  unlink();
  cancelled = true;
  task->wake();
  return true;
}
inline bool SemaphoreWaiter::await_resume() {
  if (!suspended) return true;
  resumed = true;
  if (granted) --sem->granted_pending_;
  if (cancelled) task->throw_cancelled();
  try {
    task->check_cancel();
  } catch (...) {
    // Cancelled after being woken: pass the permit on (Python: _value += 1; _wake_up_next()).
    if (granted) {
      ++sem->value_;
      sem->wake_up_next();
    }
    throw;
  }
  if (sem->value_ > 0) sem->wake_up_next();
  return true;
}
}  // namespace detail

}  // namespace asyncio

// ====================================================================== Lock, Event, Condition, Barrier

namespace asyncio {

class Lock;
class Event;
class Condition;

namespace detail {
/// A queued Lock.acquire() (Python's waiter future in Lock._waiters). See detail/locks_impl.hpp.
struct LockWaiter;
/// A queued Event.wait() / Condition.wait() / Queue put()/get() (a future in a _waiters deque).
struct SignalWaiter;
}  // namespace detail

/// Python's asyncio.Lock: a non-reentrant mutex for tasks. FIFO: a woken waiter keeps its place
/// (a newcomer cannot overtake it); a waiter cancelled after being woken wakes the next one.
class Lock {
 public:
  Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  bool locked() const noexcept { return locked_; }
  /// `co_await lock.acquire()` → true once the lock is held by the calling task.
  detail::LockWaiter acquire();
  /// Unlock; RuntimeError("Lock is not acquired.") if it is not locked.
  void release() {
    if (!locked_) throw RuntimeError("Lock is not acquired.");
    locked_ = false;
    wake_up_first();
  }

  using Guard = detail::ReleaseGuard<Lock>;
  using HoldAwaiter = detail::HoldAwaiter<detail::LockWaiter, Lock>;
  /// `auto held = co_await lock.hold();` — acquire; released when `held` is destroyed.
  HoldAwaiter hold();
  /// async context manager: `async with lock:` is async_with(lock, body).
  detail::LockWaiter aenter();
  detail::Ready<bool> aexit(std::exception_ptr) {
    release();
    return {false};
  }

  /// Introspection: tasks queued in acquire() (including woken ones not yet resumed).
  std::size_t waiter_count() const noexcept { return waiters_.size(); }

 private:
  friend struct detail::LockWaiter;
  void wake_up_first() noexcept;
  detail::List waiters_;
  std::size_t live_ = 0;  // queued waiters that are not cancelled
  bool locked_ = false;
};

/// Python's asyncio.Event: wait() blocks until set() is called; clear() resets it.
class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  bool is_set() const noexcept { return value_; }
  /// Set the flag and wake every waiter (each resumes on the next loop iteration).
  void set() noexcept;
  void clear() noexcept { value_ = false; }
  /// `co_await ev.wait()` → true once the flag is set (at once if it already is).
  detail::SignalWaiter wait();

  /// Introspection: tasks waiting in wait() (including woken ones not yet resumed).
  std::size_t waiter_count() const noexcept { return waiters_.size(); }

 private:
  friend struct detail::SignalWaiter;
  detail::List waiters_;
  bool value_ = false;
};

/// Python's asyncio.Condition, over its own Lock or a Lock you pass (`Condition c(lock)`).
/// wait()/notify() require the lock to be held (RuntimeError otherwise). As in Python 3.13, a
/// waiter that fails (e.g. is cancelled) after being notified passes the notification on.
class Condition {
 public:
  Condition() : lock_(&own_) {}
  explicit Condition(Lock& lock) : lock_(&lock) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  bool locked() const noexcept { return lock_->locked(); }
  detail::LockWaiter acquire();
  void release() { lock_->release(); }

  /// Release the lock, wait for notify(), re-acquire the lock (always, even when cancelled).
  Task<bool> wait();
  /// Wait until `predicate()` is truthy; returns its last value.
  template <class P>
  Task<std::decay_t<std::invoke_result_t<P&>>> wait_for(P predicate);
  /// Wake up to `n` waiters (they resume once they re-acquire the lock).
  void notify(std::size_t n = 1) {
    if (!locked()) throw RuntimeError("cannot notify on un-acquired lock");
    do_notify(n);
  }
  void notify_all() { notify(waiters_.size()); }

  using Guard = detail::ReleaseGuard<Condition>;
  using HoldAwaiter = detail::HoldAwaiter<detail::LockWaiter, Condition>;
  HoldAwaiter hold();
  detail::LockWaiter aenter();
  detail::Ready<bool> aexit(std::exception_ptr) {
    release();
    return {false};
  }

  /// Introspection: tasks waiting in wait() (including notified ones not yet resumed).
  std::size_t waiter_count() const noexcept { return waiters_.size(); }

 private:
  friend struct detail::SignalWaiter;
  void do_notify(std::size_t n) noexcept;
  Lock own_;
  Lock* lock_;
  detail::List waiters_;
};

/// Python 3.11's asyncio.Barrier(parties): `co_await b.wait()` blocks until `parties` tasks
/// wait, then releases them all and returns each one's arrival index (0..parties-1). abort()
/// breaks it (waiters get BrokenBarrierError); reset() breaks the current round and refills.
class Barrier {
 public:
  explicit Barrier(int parties) : parties_(parties) {
    if (parties < 1) throw ValueError("parties must be > 0");
  }
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  Task<int> wait();
  Task<void> reset();
  Task<void> abort();
  int parties() const noexcept { return parties_; }
  /// Tasks waiting in the filling phase.
  int n_waiting() const noexcept { return state_ == State::Filling ? count_ : 0; }
  bool broken() const noexcept { return state_ == State::Broken; }

  /// async context manager: `async with barrier as index` (aenter waits).
  Task<int> aenter() { return wait(); }
  detail::Ready<bool> aexit(std::exception_ptr) { return {false}; }

 private:
  enum class State { Filling, Draining, Resetting, Broken };
  // wait_for predicates (named types: GCC 12 mishandles lambdas declared in coroutine bodies)
  struct NotBusy {
    Barrier* b;
    bool operator()() const noexcept { return b->state_ != State::Draining && b->state_ != State::Resetting; }
  };
  struct NotFilling {
    Barrier* b;
    bool operator()() const noexcept { return b->state_ != State::Filling; }
  };
  Task<void> block();
  Task<void> wait_released();
  void exit_round();
  Condition cond_;
  int parties_;
  int count_ = 0;
  State state_ = State::Filling;
};

}  // namespace asyncio

#include "detail/locks_impl.hpp"
