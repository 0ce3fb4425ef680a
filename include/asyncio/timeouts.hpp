// asyncio/timeouts.hpp — timeout(), timeout_at(), Timeout (Python 3.11's timeouts.py).
//
//   co_await asyncio::async_with(asyncio::timeout(2s), [&](asyncio::Timeout& t) -> asyncio::Task<> {
//     co_await long_running();   // cancelled when the deadline passes
//   });                          // ... and TimeoutError is thrown here
//
// On expiry the task running the block is cancelled; leaving the block turns that cancellation
// into TimeoutError. The rule that keeps nesting and outer cancellation right is Python's: the
// timeout counts its own cancel() through Task.cancelling()/uncancel(), so a cancellation that
// came from elsewhere (another timeout further out, or task.cancel()) stays a CancelledError.
// A block that catches the CancelledError and does not re-raise it gets no TimeoutError
// (expired() still reports true). Timeout is an async context manager, entered once.
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "detail/core.hpp"
#include "events.hpp"
#include "exceptions.hpp"
#include "tasks.hpp"

namespace asyncio {

class Timeout {
 public:
  /// A timeout firing at absolute loop time `when` (std::nullopt: never). Prefer timeout() /
  /// timeout_at().
  explicit Timeout(std::optional<double> when) : when_(when) {
    if (when && std::isnan(*when)) throw ValueError("Timeout: the deadline is NaN");
  }
  /// Movable only before it is entered (async_with moves a temporary into its frame).
  Timeout(Timeout&& o) noexcept : when_(o.when_) {}
  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;
  ~Timeout() { cancel_timer(); }

  /// The current deadline (absolute loop time), or std::nullopt.
  std::optional<double> when() const noexcept { return when_; }
  /// Move the deadline (absolute loop time; std::nullopt disables it). A deadline already
  /// passed fires on the next loop iteration. RuntimeError unless inside the block.
  void reschedule(std::optional<double> when);
  /// True once the deadline fired (also after leaving the block).
  bool expired() const noexcept { return state_ == State::Expiring || state_ == State::Expired; }

  // ------------------------------------------------ async context manager
  struct EnterAwaiter {
    Timeout* t;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    Timeout& await_resume() const noexcept { return *t; }
  };
  /// Enter: binds the running task and arms the timer. RuntimeError if entered twice or
  /// outside a task.
  EnterAwaiter aenter();
  /// Leave: disarm; if this timeout fired and the block ends in the CancelledError it caused,
  /// throw TimeoutError instead.
  detail::Ready<bool> aexit(std::exception_ptr e);

 private:
  enum class State : std::uint8_t { Created, Entered, Expiring, Expired, Exited };
  struct Timer : detail::TimerNode {
    Timeout* owner = nullptr;
  };
  static void fired(detail::Runnable* r, bool discard);
  void cancel_timer() noexcept;
  static const char* state_name(State s) noexcept;

  std::optional<double> when_;
  Timer timer_;
  TaskPtr task_;
  int cancelling_ = 0;
  State state_ = State::Created;
};

/// Python's asyncio.timeout(delay): a Timeout `delay` from now (chrono duration or seconds);
/// std::nullopt never fires, nor does +inf. RuntimeError if no loop is running. A NaN delay
/// (or deadline, in timeout_at and reschedule) is a ValueError, as for sleep and call_at here;
/// Python accepts it and times out at once.
template <detail::DurationLike D>
Timeout timeout(D delay) {
  return Timeout(get_running_loop().time() + detail::to_seconds(delay));
}
inline Timeout timeout(std::optional<double> delay) {
  return Timeout(delay ? std::optional<double>(get_running_loop().time() + *delay) : std::nullopt);
}
/// Python's asyncio.timeout_at(when): a Timeout at absolute loop time `when` (loop.time()
/// clock), or never for std::nullopt.
inline Timeout timeout_at(std::optional<double> when) { return Timeout(when); }

// ------------------------------------------------------------------ bodies

inline const char* Timeout::state_name(State s) noexcept {
  switch (s) {
    case State::Created: return "created";
    case State::Entered: return "active";
    case State::Expiring: return "expiring";
    case State::Expired: return "expired";
    case State::Exited: return "finished";
  }
  return "?";
}

inline void Timeout::cancel_timer() noexcept {
  if (!timer_.owner) return;
  // A Timeout that outlives its loop has nothing to withdraw: closing the loop emptied its heap
  // and ready queue. (Destructors never throw: get_loop() would, once the loop is gone.)
  EventLoop* loop = task_->loop();
  if (!loop) return;
  if (timer_.in_heap())
    loop->remove_timer(&timer_);
  else
    timer_.unlink();
}

inline void Timeout::reschedule(std::optional<double> when) {
  if (when && std::isnan(*when)) throw ValueError("Timeout: the deadline is NaN");
  if (state_ != State::Entered) {
    if (state_ == State::Created) throw RuntimeError("Timeout has not been entered");
    throw RuntimeError(std::string("Cannot change state of ") + state_name(state_) + " Timeout");
  }
  when_ = when;
  cancel_timer();
  if (!when) return;
  EventLoop& loop = task_->get_loop();
  timer_.owner = this;
  timer_.run_ = &Timeout::fired;
  if (*when <= loop.time())
    loop.push_ready(&timer_);  // Python: loop.call_soon(self._on_timeout)
  else
    loop.add_timer(&timer_, *when);
}

inline void Timeout::fired(detail::Runnable* r, bool discard) {
  if (discard) return;
  Timeout* self = static_cast<Timer*>(static_cast<detail::TimerNode*>(r))->owner;
  self->state_ = State::Expiring;
  self->task_->cancel();
}

inline Timeout::EnterAwaiter Timeout::aenter() {
  if (state_ != State::Created) throw RuntimeError("Timeout has already been entered");
  if (!detail::tl_current_task) throw RuntimeError("Timeout should be used inside a task");
  state_ = State::Entered;
  task_ = TaskPtr(detail::tl_current_task);
  cancelling_ = task_->cancelling();
  reschedule(when_);
  return EnterAwaiter{this};
}

inline detail::Ready<bool> Timeout::aexit(std::exception_ptr e) {
  cancel_timer();
  if (state_ == State::Expiring) {
    state_ = State::Expired;
    if (task_->uncancel() <= cancelling_ && detail::is_cancelled_error(e)) throw TimeoutError();
  } else if (state_ == State::Entered) {
    state_ = State::Exited;
  }
  return {false};
}

}  // namespace asyncio
