// Bodies of Lock, Event, Condition and Barrier (included at the end of locks.hpp).
//
// Each waiter is an intrusive node living in the awaiting coroutine's frame, standing for the
// future Python puts in the primitive's `_waiters` deque. Its states mirror that future's:
// Waiting (pending), Done (set_result called: the task's wake-up is scheduled) and Cancelled.
#pragma once

// (No #include of locks.hpp: this is its second half, included at its end only.)

namespace asyncio::detail {

struct LockWaiter final : Waiter, ListNode {
  enum class St : std::uint8_t { Idle, Waiting, Done, Cancelled };
  Lock* lock;
  TaskStateBase* task = nullptr;
  St st = St::Idle;
  bool resumed = false;

  explicit LockWaiter(Lock* l) noexcept : lock(l) {}
  LockWaiter(LockWaiter&& o) noexcept : lock(o.lock) {}
  LockWaiter(const LockWaiter&) = delete;
  ~LockWaiter() {
    if (!linked()) return;
    unlink();
    if (st != St::Cancelled) --lock->live_;
    // The frame died after being woken but before resuming: pass the wake-up on.
    if (st == St::Done && !lock->locked_) lock->wake_up_first();
  }
  bool await_ready() noexcept {
    if (!lock->locked_ && lock->live_ == 0) {
      lock->locked_ = true;
      return true;
    }
    return false;
  }
  void await_suspend(std::coroutine_handle<> h) {
    task = &require_task("Lock.acquire()");
    st = St::Waiting;
    lock->waiters_.push_back(this);
    ++lock->live_;
    task->suspend_on(this, h);
  }
  void describe(std::string& out, double) const override {
    out += "Lock.acquire()";
    describe_position(out, this, lock->waiters_);
  }
  bool cancel() noexcept override {
    if (st != St::Waiting) return false;
    st = St::Cancelled;
    --lock->live_;
    task->wake();
    return true;
  }
  /// wait_for's leaf protocol: the cancelled path of await_resume, without the throw.
  void abandon() noexcept {
    resumed = true;
    unlink();
    if (!lock->locked_) lock->wake_up_first();
  }
  bool await_resume() {
    if (st == St::Idle) return true;  // acquired without waiting
    resumed = true;
    unlink();
    bool cancelled = st == St::Cancelled;
    if (!cancelled) --lock->live_;
    try {
      if (cancelled) task->throw_cancelled();
      task->check_cancel();
    } catch (...) {
      // Python: `if not self._locked: self._wake_up_first()` before re-raising.
      if (!lock->locked_) lock->wake_up_first();
      throw;
    }
    lock->locked_ = true;
    return true;
  }
};

/// Event.wait() / Condition.wait()'s inner future, and a blocked Queue put()/get() (Python's
/// _getters / _putters futures). A queue pops it when signalling (wake_first); Event and
/// Condition (`keep`) leave a woken waiter queued until it resumes, as Python's wait() removes
/// its future from _waiters only then (so waiter_count() counts it meanwhile).
struct SignalWaiter final : Waiter, ListNode {
  enum class St : std::uint8_t { Idle, Waiting, Done, Cancelled };
  List* list;
  const bool* ready_flag;  // Event: its flag (ready at once when set); others: null
  const char* what;        // the operation, for the "must be awaited inside a task" error
  TaskStateBase* task = nullptr;
  St st = St::Idle;
  bool keep;  // stays in `list` once woken, until it resumes (Event, Condition)

  SignalWaiter(List* l, const bool* flag, const char* op, bool keep_woken = false) noexcept
      : list(l), ready_flag(flag), what(op), keep(keep_woken) {}
  SignalWaiter(SignalWaiter&& o) noexcept : list(o.list), ready_flag(o.ready_flag), what(o.what), keep(o.keep) {}
  SignalWaiter(const SignalWaiter&) = delete;
  ~SignalWaiter() { unlink(); }
  /// Python's _wakeup_next / notify(1): wake the first waiter of `l`, if any.
  static void wake_first(List& l) noexcept {
    if (auto* w = static_cast<SignalWaiter*>(l.front())) w->set_result();
  }
  /// Event.set() / Condition.notify(n): wake up to `n` queued waiters not woken yet (Python
  /// skips the done futures still in _waiters).
  static void wake_waiting(List& l, std::size_t n) noexcept {
    for (ListNode* p = l.front(); p && p != l.sentinel() && n > 0;) {
      auto* w = static_cast<SignalWaiter*>(p);
      p = p->next_;
      if (w->st == St::Waiting) {
        w->set_result();
        --n;
      }
    }
  }
  bool await_ready() const noexcept { return ready_flag && *ready_flag; }
  void await_suspend(std::coroutine_handle<> h) {
    task = &require_task(what);
    st = St::Waiting;
    list->push_back(this);
    task->suspend_on(this, h);
  }
  void set_result() noexcept {
    if (!keep) unlink();
    st = St::Done;
    task->wake();
  }
  void describe(std::string& out, double) const override {
    out += what;
    describe_position(out, this, *list);
  }
  bool cancel() noexcept override {
    if (st != St::Waiting) return false;
    unlink();
    st = St::Cancelled;
    task->wake();
    return true;
  }
  void abandon() noexcept {}  // wait_for's leaf protocol: cancel() already unlinked it
  bool await_resume() {
    if (st == St::Idle) return true;
    unlink();  // (Python's `finally: self._waiters.remove(fut)`)
    if (st == St::Cancelled) task->throw_cancelled();
    task->check_cancel();
    return true;
  }
};

}  // namespace asyncio::detail

namespace asyncio {

// ------------------------------------------------------------------ Lock
inline detail::LockWaiter Lock::acquire() { return detail::LockWaiter(this); }
inline detail::LockWaiter Lock::aenter() { return detail::LockWaiter(this); }
inline void Lock::wake_up_first() noexcept {
  auto* w = static_cast<detail::LockWaiter*>(waiters_.front());
  if (w && w->st == detail::LockWaiter::St::Waiting) {
    w->st = detail::LockWaiter::St::Done;
    w->task->wake();
  }
}
inline Lock::HoldAwaiter Lock::hold() { return HoldAwaiter{detail::LockWaiter(this), this}; }

// ------------------------------------------------------------------ Event
inline detail::SignalWaiter Event::wait() { return detail::SignalWaiter(&waiters_, &value_, "Event.wait()", true); }
inline void Event::set() noexcept {
  if (value_) return;
  value_ = true;
  detail::SignalWaiter::wake_waiting(waiters_, static_cast<std::size_t>(-1));
}

// ------------------------------------------------------------------ Condition
inline detail::LockWaiter Condition::acquire() { return lock_->acquire(); }
inline detail::LockWaiter Condition::aenter() { return lock_->acquire(); }
inline Condition::HoldAwaiter Condition::hold() { return HoldAwaiter{lock_->acquire(), this}; }

inline void Condition::do_notify(std::size_t n) noexcept {
  detail::SignalWaiter::wake_waiting(waiters_, n);
}

inline Task<bool> Condition::wait() {
  if (!locked()) throw RuntimeError("cannot wait on un-acquired lock");
  release();
  std::exception_ptr err;
  {
    detail::SignalWaiter w(&waiters_, nullptr, "Condition.wait()", true);
    try {
      co_await w;
    } catch (...) {
      err = std::current_exception();
    }
  }
  // Re-acquire the lock even if the wait was cancelled; a cancellation meanwhile is re-raised.
  for (;;) {
    bool again = false;
    try {
      co_await lock_->acquire();
    } catch (const CancelledError&) {
      err = std::current_exception();
      again = true;
    }
    if (!again) break;
  }
  if (err) {
    // Python 3.13: an error after we may have been notified passes the notification on.
    do_notify(1);
    std::rethrow_exception(err);
  }
  co_return true;
}

template <class P>
Task<std::decay_t<std::invoke_result_t<P&>>> Condition::wait_for(P predicate) {
  auto result = predicate();
  while (!result) {
    co_await wait();
    result = predicate();
  }
  co_return result;
}

// ------------------------------------------------------------------ Barrier
inline Task<void> Barrier::block() {
  // Wait while a previous round is draining or resetting.
  co_await cond_.wait_for(NotBusy{this});
  if (state_ == State::Broken) throw BrokenBarrierError("Barrier aborted");
}
inline Task<void> Barrier::wait_released() {
  co_await cond_.wait_for(NotFilling{this});
  if (state_ == State::Broken || state_ == State::Resetting)
    throw BrokenBarrierError("Abort or reset of barrier");
}
inline void Barrier::exit_round() {
  if (count_ == 0) {
    if (state_ == State::Resetting || state_ == State::Draining) state_ = State::Filling;
    cond_.notify_all();
  }
}
inline Task<int> Barrier::wait() {
  auto held = co_await cond_.hold();
  co_await block();
  int index = count_++;
  std::exception_ptr err;
  try {
    if (index + 1 == parties_) {
      state_ = State::Draining;  // the last arrival releases the others
      cond_.notify_all();
    } else {
      co_await wait_released();
    }
  } catch (...) {
    err = std::current_exception();
  }
  --count_;
  exit_round();
  if (err) std::rethrow_exception(err);
  co_return index;
}
inline Task<void> Barrier::reset() {
  auto held = co_await cond_.hold();
  if (count_ > 0)
    state_ = State::Resetting;
  else
    state_ = State::Filling;
  cond_.notify_all();
}
inline Task<void> Barrier::abort() {
  auto held = co_await cond_.hold();
  state_ = State::Broken;
  cond_.notify_all();
}

}  // namespace asyncio
