// asyncio/locks.hpp — synchronisation primitives (Python's locks.py).
//
// All are FIFO-fair and cancellation-safe: a waiter cancelled while queued leaves no permit
// stuck, and a waiter cancelled after being woken passes the wake-up on. Each is an async
// context manager (aenter/aexit, for async_with) and has a synchronous RAII guard:
// `auto held = co_await sem.hold();` releases when `held` is destroyed.
#pragma once

#include <cstddef>
#include <exception>
#include <string>
#include <utility>

#include "detail/core.hpp"
#include "detail/ready.hpp"
#include "events.hpp"
#include "exceptions.hpp"

namespace asyncio {

class Semaphore;

namespace detail {
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
};
}  // namespace detail

/// Python's asyncio.Semaphore: at most `value` holders at once. ValueError if value < 0.
class Semaphore {
 public:
  explicit Semaphore(int value = 1) : value_(value) {
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
    ++value_;
    wake_up_next();
  }

  /// RAII permit from hold(): released when destroyed (or by release()).
  class Guard {
   public:
    Guard() = default;
    explicit Guard(Semaphore* s) noexcept : s_(s) {}
    Guard(Guard&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Guard& operator=(Guard&& o) noexcept {
      if (this != &o) {
        release();
        s_ = std::exchange(o.s_, nullptr);
      }
      return *this;
    }
    ~Guard() { release(); }
    void release() {
      if (auto* s = std::exchange(s_, nullptr)) s->release();
    }
    bool owns() const noexcept { return s_ != nullptr; }

   private:
    Semaphore* s_ = nullptr;
  };
  struct HoldAwaiter {
    detail::SemaphoreWaiter w;
    bool await_ready() noexcept { return w.await_ready(); }
    void await_suspend(std::coroutine_handle<> h) { w.await_suspend(h); }
    Guard await_resume() {
      w.await_resume();
      return Guard(w.sem);
    }
  };
  /// `auto held = co_await sem.hold();` — acquire, released when `held` goes out of scope.
  HoldAwaiter hold() { return HoldAwaiter{detail::SemaphoreWaiter(this)}; }

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
  int value() const noexcept { return value_; }
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
  int value_;
  std::size_t granted_pending_ = 0;  // woken waiters that have not resumed yet
  detail::List waiters_;
};

/// Python's asyncio.BoundedSemaphore: release() above the initial value raises ValueError.
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(int value = 1) : Semaphore(value), bound_(value) {}
  void release() override {
    if (value_ >= bound_) throw ValueError("BoundedSemaphore released too many times");
    Semaphore::release();
  }

 private:
  int bound_;
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
