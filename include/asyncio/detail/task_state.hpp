// TaskState<T>: a scheduled task's shared state (the result lives here after the frame is gone),
// TaskAwaiter (co_await on a TaskHandle), done-callback nodes, and the awaitable plumbing used
// to turn "anything awaitable" into a Task.
#pragma once

#include <concepts>
#include <functional>
#include <type_traits>
#include <utility>

#include "../events.hpp"
#include "../task.hpp"
#include "core.hpp"
#include "outcome.hpp"

namespace asyncio::detail {

template <class T>
class TaskState final : public TaskStateBase, public Pooled {
 public:
  using handle_type = std::coroutine_handle<TaskPromise<T>>;
  TaskState(EventLoop* loop, handle_type h) noexcept : TaskStateBase(loop, h) {}

  Outcome<T> result_;

 protected:
  void collect_result() override {
    auto h = handle_type::from_address(top_.address());
    auto& p = h.promise();
    if (p.outcome_.has_exception()) {
      result_.set_exception(p.outcome_.exception());
      state_ = p.cancelled_exception_ ? State::Cancelled : State::Failed;
      must_cancel_ = false;
    } else if (must_cancel_) {
      // cancel() arrived during the last step and nothing consumed it: the task ends cancelled
      // even though the coroutine returned (Python's Task.__step does the same).
      must_cancel_ = false;
      set_cancelled_result();
      state_ = State::Cancelled;
    } else {
      if constexpr (std::is_void_v<T>) {
        result_.set_value();
      } else if constexpr (std::is_reference_v<T>) {
        T ref = p.outcome_.take();
        result_.set_value(ref);
      } else {
        result_.set_value(p.outcome_.take());
      }
      state_ = State::Finished;
    }
    top_ = {};
    h.destroy();
  }
  void set_cancelled_result() override {
    result_.set_exception(std::make_exception_ptr(CancelledError(cancel_message())));
  }
  void destroy_self() noexcept override { delete this; }
  std::exception_ptr error_ptr() const noexcept override {
    return state_ == State::Failed ? result_.exception() : nullptr;
  }
};

/// The result of a done task, as `co_await handle` / `handle.result()` give it: rethrows its
/// exception (or CancelledError), copies a copyable value, moves a move-only one out.
template <class T>
decltype(auto) task_result(TaskState<T>* st, bool move_out) {
  if (!st->done()) throw InvalidStateError("Result is not set.");
  st->mark_retrieved();
  if constexpr (std::is_void_v<T>) {
    st->result_.peek();
  } else if constexpr (std::is_reference_v<T>) {
    return st->result_.peek();
  } else if constexpr (std::is_copy_constructible_v<T>) {
    if (move_out) return T(st->result_.take());
    return T(st->result_.peek());
  } else {
    (void)move_out;
    return T(st->result_.take());
  }
}

/// co_await on a TaskHandle: wait for the task without owning it (Python's `await task`).
template <class T>
struct TaskAwaiter final : Waiter {
  TaskState<T>* child;
  CompletionNode node;
  TaskStateBase* parent = nullptr;
  bool suspended = false;

  explicit TaskAwaiter(TaskState<T>* c) : child(c) {}
  TaskAwaiter(TaskAwaiter&& o) noexcept : child(o.child) {}
  ~TaskAwaiter() { node.unlink(); }

  bool await_ready() const {
    if (!child) throw RuntimeError("cannot await an empty asyncio::TaskHandle");
    return child->done();
  }
  void await_suspend(std::coroutine_handle<> h) {
    parent = &require_task("awaiting a task");
    if (parent == child) throw RuntimeError("Task cannot await on itself: " + child->get_name());
    suspended = true;
    node.wake_task_ = parent;
    child->add_completion(&node);
    parent->suspend_on(this, h);
  }
  bool cancel() noexcept override {
    try {
      return child->cancel(parent->cancel_message());
    } catch (...) {
      return child->cancel();
    }
  }
  decltype(auto) await_resume() {
    node.unlink();
    if (suspended) parent->check_cancel();
    return task_result<T>(child, false);
  }
};

/// A user's done callback: runs on the loop (scheduled with call_soon) with the handle.
template <class Handle, class F>
struct DoneCallback final : CompletionNode, Pooled {
  DoneCallback(Handle h, F f, std::uint64_t id) : h_(std::move(h)), f_(std::move(f)) {
    run_ = &DoneCallback::run;
    cb_id_ = id;
  }
  static void run(Runnable* r, bool discard) {
    auto* self = static_cast<DoneCallback*>(r);
    if (!discard) {
      try {
        if constexpr (std::is_invocable_v<F&, Handle&>)
          self->f_(self->h_);
        else
          self->f_();
      } catch (...) {
        self->h_.get_loop().call_exception_handler(
            {"Exception in callback (done callback)", std::current_exception(), self->h_.get_name()});
      }
    }
    delete self;
  }
  Handle h_;
  F f_;
};

inline std::uint64_t next_callback_id() {
  static std::atomic<std::uint64_t> n{0};
  return ++n;
}

// ------------------------------------------------------------------ awaitable plumbing

template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); })
    return std::forward<A>(a).operator co_await();
  else if constexpr (requires { operator co_await(std::forward<A>(a)); })
    return operator co_await(std::forward<A>(a));
  else
    return std::forward<A>(a);
}

template <class A>
concept Awaitable = requires(A&& a) {
  get_awaiter(std::forward<A>(a)).await_ready();
  get_awaiter(std::forward<A>(a)).await_resume();
};

template <class A>
using await_result_t = decltype(get_awaiter(std::declval<A>()).await_resume());

/// Any awaitable as a Task (so sleep(), Event::wait(), Queue::get()… can be scheduled).
template <class R, class A>
Task<R> await_as_task(A aw) {
  if constexpr (std::is_void_v<R>) {
    co_await std::move(aw);
  } else {
    R r = co_await std::move(aw);
    co_return std::forward<R>(r);
  }
}

/// Calls `f(args...)` (which returns a Task) with the callable and arguments kept in this frame.
template <class R, class F, class... A>
Task<R> invoke_as_task(F f, A... args) {
  if constexpr (std::is_void_v<R>) {
    co_await std::invoke(f, args...);
  } else {
    R r = co_await std::invoke(f, args...);
    co_return std::forward<R>(r);
  }
}

}  // namespace asyncio::detail
