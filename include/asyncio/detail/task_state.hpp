// TaskState<T>: a scheduled task's shared state (the result lives here after the frame is gone),
// TaskAwaiter (co_await on a TaskHandle), done-callback nodes, and the awaitable plumbing used
// to turn "anything awaitable" into a Task.
#pragma once

#include <concepts>
#include <new>
#include <functional>
#include <type_traits>
#include <utility>

#include "loop_impl.hpp"
#include "../task.hpp"
#include "core.hpp"
#include "outcome.hpp"

namespace asyncio::detail {

template <class T>
class TaskState final : public TaskStateLayout<T> {
  using Base = TaskStateLayout<T>;
  using State = TaskStateBase::State;

 public:
  using handle_type = std::coroutine_handle<TaskPromise<T>>;
  using stored_type = typename Base::stored_type;
  /// Built in the room TaskPromise<T> reserved in front of the frame of `h`.
  static TaskState* create_in_front_of(EventLoop* loop, handle_type h) noexcept {
    void* at = static_cast<char*>(h.address()) - task_prefix_bytes<T>;
    return ::new (at) TaskState(loop);
  }

  /// A finished task's value (rethrows a failed or cancelled task's exception).
  stored_type& stored() {
    if (this->state_ != State::Finished) std::rethrow_exception(this->extras_->error);
    if constexpr (std::is_void_v<T>) {
      static stored_type unit;
      return unit;
    } else {
      return *value_ptr();
    }
  }

 private:
  explicit TaskState(EventLoop* loop) noexcept
      : Base(loop, static_cast<std::uint16_t>(task_prefix_bytes<T>), &TaskState::run) {}
  ~TaskState() {
    if constexpr (!std::is_void_v<T>) {
      if (this->state_ == State::Finished) value_ptr()->~stored_type();
    }
  }
  /// A finished task's value lives where its frame was: the frame's memory stays with this
  /// state until destroy(), and it held the promise's Outcome<T>, so it has room for the value
  /// (16-aligned, as every frame). This keeps the state at 96 bytes whatever T is.
  stored_type* value_ptr() noexcept {
    return std::launder(reinterpret_cast<stored_type*>(reinterpret_cast<char*>(this) + task_prefix_bytes<T>));
  }

  /// The task's Runnable function: a step while it is pending; once it is done, release()
  /// calls it with discard = true to end it (the per-T work a vtable would otherwise do).
  static void run(Runnable* r, bool discard) {
    auto* self = static_cast<TaskState*>(r);
    if (discard) {
      if (self->done()) self->destroy();
      return;  // a pending task in the ready queue of a closing loop: destroy_pending() ends it
    }
    if (TaskStateBase::step(self)) {
      self->collect_result();
      if (self->state_ == State::Failed && is_base_error(self->extras_->error)) [[unlikely]]
        return self->finish_and_raise();
      self->finish();
    }
  }
  /// Python's Task.__step: a KeyboardInterrupt or SystemExit ends the task with it and is
  /// raised again, out of the loop's run (the caller sees it; the task still holds it).
  [[noreturn, gnu::noinline, gnu::cold]] void finish_and_raise() {
    std::exception_ptr e = this->extras_->error;
    this->retrieved_ = true;
    this->finish();
    std::rethrow_exception(e);
  }
  /// The top frame finished: move its result in, destroy the frame.
  void collect_result() {
    auto h = handle_type::from_address(this->frame_address());
    auto& p = h.promise();
    if (p.has_exception()) {
      const std::exception_ptr& e = p.exception();
      this->set_exception(e, is_cancelled_error(e) ? State::Cancelled : State::Failed);
      this->must_cancel_ = false;
    } else if (this->must_cancel_) {
      // cancel() arrived during the last step and nothing consumed it: the task ends cancelled
      // even though the coroutine returned (Python's Task.__step does the same).
      this->must_cancel_ = false;
      this->set_cancelled_result();
    } else {
      if constexpr (!std::is_void_v<T>) return move_value_out(p);  // (destroys the frame)
      this->state_ = State::Finished;
    }
    this->destroy_frame();
  }
  /// The value leaves the frame, the frame is destroyed, and the value moves into the frame's
  /// former room. A move that throws fails the task with that exception.
  void move_value_out(TaskPromise<T>& p) {
    try {
      stored_type v(std::move(p.outcome_.stored()));
      this->destroy_frame();
      ::new (static_cast<void*>(value_ptr())) stored_type(std::move(v));
    } catch (...) {
      if (this->frame_live_) this->destroy_frame();
      this->set_exception(std::current_exception(), State::Failed);
      return;
    }
    this->state_ = State::Finished;
  }
  void destroy() noexcept {
    if (this->frame_live_) this->destroy_frame();
    const std::size_t bytes = task_prefix_bytes<T> + std::size_t{this->frame_granules_} * 16;
    void* block = this;
    this->~TaskState();
    frame_free(block, bytes);
  }
};

/// The result of a done task, as `co_await handle` / `handle.result()` give it: rethrows its
/// exception (or CancelledError), copies a copyable value, moves a move-only one out.
template <class T>
decltype(auto) task_result(TaskState<T>* st, bool move_out) {
  if (!st->done()) throw InvalidStateError("Result is not set.");
  st->mark_retrieved();
  auto& v = st->stored();
  if constexpr (std::is_void_v<T>) {
    (void)v;
    (void)move_out;
  } else if constexpr (std::is_reference_v<T>) {
    (void)move_out;
    return Stored<T>::peek(v);
  } else if constexpr (std::is_copy_constructible_v<T>) {
    if (move_out) return T(std::move(v));
    return T(v);
  } else {
    (void)move_out;
    return T(std::move(v));
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
    node.set_waiter(parent);
    child->add_completion(&node);
    parent->suspend_on(this, h);
  }
  void describe(std::string& out, double) const override { out += "task '" + child->get_name() + "'"; }
  bool awaits(const TaskStateBase* t) const noexcept override { return t == child; }
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
    word_ = id;
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

// Declared in core.hpp with the rest of TaskStateBase (defined in loop_impl.hpp); defined here
// because destroying the frame walks its Task promise chain (task.hpp, a layer above the loop).
inline void TaskStateBase::destroy_frame() noexcept {
  frame_live_ = false;
  destroy_task_frame(frame());  // operator delete keeps the block, records the frame's size
}

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
