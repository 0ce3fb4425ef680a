// asyncio/futures.hpp — Future<T> (Python's futures.py): a result that arrives later, set by
// whoever holds the future (a callback, another task, another library).
//
// Future<T> is a shared handle: copies refer to the same future. Awaiting it from a task
// suspends the task until the future is done; done callbacks run via call_soon, in the order
// they were added, and a task's wake-up is one of them (so the same number of loop iterations
// pass as in Python). Cancelling a task that awaits a future cancels the future, as in Python.
// Create one with `asyncio::Future<T>()` (bound to the running loop) or `loop.create_future<T>()`.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "detail/core.hpp"
#include "detail/outcome.hpp"
#include "events.hpp"
#include "exceptions.hpp"
#include "detail/tasks_core.hpp"

namespace asyncio {

template <class T = void>
class Future;

namespace detail {

template <class T>
struct FutureState : Pooled {
  enum class St : std::uint8_t { Pending, Finished, Cancelled };
  explicit FutureState(EventLoop* l) : loop(l), loop_id(l->id()) {}
  ~FutureState() {
    while (auto* n = static_cast<CompletionNode*>(callbacks.pop_front()))
      if (!n->is_waiter()) n->run_(n, true);
    // Python's Future.__del__: an exception nobody looked at is reported to the loop.
    if (st == St::Finished && !retrieved && result.has_exception())
      report(loop_id, {"Future exception was never retrieved", result.exception(), {}});
  }
  void add_ref() noexcept { ++refs; }
  void release() noexcept {
    if (--refs == 0) delete this;
  }
  bool done() const noexcept { return st != St::Pending; }
  /// Python's __schedule_callbacks: every callback goes to the ready queue (call_soon).
  void schedule_callbacks() noexcept {
    while (auto* n = static_cast<CompletionNode*>(callbacks.pop_front())) {
      if (n->is_waiter())
        n->waiter()->wake();
      else
        loop->push_ready(n);
    }
  }
  void add_callback(CompletionNode* n) noexcept {
    if (done()) {
      if (n->is_waiter())
        n->waiter()->wake();
      else
        loop->push_ready(n);
    } else {
      callbacks.push_back(n);
    }
  }
  bool cancel(std::string_view msg) {
    retrieved = true;  // Python's cancel() clears __log_traceback first, done or not
    if (done()) return false;
    st = St::Cancelled;
    cancel_msg = std::string(msg);
    schedule_callbacks();
    return true;
  }
  const char* state_name() const noexcept {
    return st == St::Pending ? "PENDING" : st == St::Finished ? "FINISHED" : "CANCELLED";
  }

  EventLoop* loop;
  std::uint64_t loop_id;
  std::uint32_t refs = 1;
  St st = St::Pending;
  bool retrieved = false;  // result() or exception() looked (Python's __log_traceback, inverted)
  Outcome<T> result;
  std::string cancel_msg;
  List callbacks;
};

/// co_await on a Future from a task.
template <class T>
struct FutureAwaiter final : Waiter {
  FutureState<T>* st;
  CompletionNode node;
  TaskStateBase* task = nullptr;
  bool suspended = false;

  explicit FutureAwaiter(FutureState<T>* s) noexcept : st(s) { st->add_ref(); }
  FutureAwaiter(FutureAwaiter&& o) noexcept : st(o.st) { st->add_ref(); }
  FutureAwaiter(const FutureAwaiter&) = delete;
  ~FutureAwaiter() {
    node.unlink();
    st->release();
  }
  bool await_ready() const noexcept { return st->done(); }
  void await_suspend(std::coroutine_handle<> h) {
    task = &require_task("awaiting a Future");
    if (st->loop != task->loop()) [[unlikely]]
      throw RuntimeError("Task " + task->get_name() + " got Future <Future " + st->state_name() +
                         "> attached to a different loop");
    suspended = true;
    node.set_waiter(task);
    st->add_callback(&node);
    task->suspend_on(this, h);
  }
  void describe(std::string& out, double) const override { out += "Future"; }
  /// Python: cancelling the task cancels the future it awaits.
  bool cancel() noexcept override {
    try {
      return st->cancel(task->cancel_message());
    } catch (...) {
      return st->cancel({});
    }
  }
  decltype(auto) await_resume() {
    node.unlink();
    if (suspended) task->check_cancel();
    return Future<T>::result_of(st);
  }
};

template <class T, class F>
struct FutureCallback final : CompletionNode, Pooled {
  FutureCallback(Future<T> f, F fn, std::uint64_t id) : fut(std::move(f)), f(std::move(fn)) {
    run_ = &FutureCallback::run;
    word_ = id;
  }
  static void run(Runnable* r, bool discard) {
    auto* self = static_cast<FutureCallback*>(r);
    if (!discard) {
      try {
        if constexpr (std::is_invocable_v<F&, Future<T>&>)
          self->f(self->fut);
        else
          self->f();
      } catch (...) {
        self->fut.get_loop().call_exception_handler(
            {"Exception in callback (Future done callback)", std::current_exception(), {}});
      }
    }
    delete self;
  }
  Future<T> fut;
  F f;
};

}  // namespace detail

template <class T>
class Future {
 public:
  using value_type = T;
  /// What result() and co_await give: T (copied) for copyable T, T& for move-only T.
  using result_type = std::conditional_t<std::is_void_v<T> || std::is_reference_v<T> ||
                                             std::is_copy_constructible_v<T>,
                                         T, std::add_lvalue_reference_t<T>>;

  /// A pending future bound to the running loop, else to the loop set with set_event_loop()
  /// (Python 3.11.1+); RuntimeError if there is neither.
  Future() : Future(current_loop_for_future()) {}
  /// A pending future bound to `loop` (what loop.create_future<T>() returns).
  explicit Future(EventLoop& loop) : st_(new detail::FutureState<T>(&loop)) {}
  Future(const Future& o) noexcept : st_(o.st_) { st_->add_ref(); }
  Future(Future&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
  Future& operator=(Future o) noexcept {
    std::swap(st_, o.st_);
    return *this;
  }
  ~Future() {
    if (st_) st_->release();
  }

  bool done() const noexcept { return st_->done(); }
  bool cancelled() const noexcept { return st_->st == detail::FutureState<T>::St::Cancelled; }
  /// The result; CancelledError if cancelled, InvalidStateError if not done, or the exception.
  result_type result() const { return result_of(st_); }
  /// The exception (null on success); CancelledError if cancelled; InvalidStateError if pending.
  std::exception_ptr exception() const {
    if (cancelled()) throw CancelledError(st_->cancel_msg);
    if (!done()) throw InvalidStateError("Exception is not set.");
    st_->retrieved = true;
    return st_->result.has_exception() ? st_->result.exception() : nullptr;
  }
  /// Complete with a value; InvalidStateError if already done. Callbacks run via call_soon.
  template <class... U>
  void set_result(U&&... v) {
    check_pending();
    st_->result.set_value(std::forward<U>(v)...);
    st_->st = detail::FutureState<T>::St::Finished;
    st_->schedule_callbacks();
  }
  /// Complete with an exception; InvalidStateError if already done. (Python forbids
  /// StopIteration here; C++ has no such case.) A CancelledError cancels the future.
  void set_exception(std::exception_ptr e) {
    check_pending();
    if (detail::is_cancelled_error(e)) throw TypeError("CancelledError cannot be set as a Future's exception");
    st_->result.set_exception(std::move(e));
    st_->st = detail::FutureState<T>::St::Finished;
    st_->schedule_callbacks();
  }
  template <class E>
    requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
  void set_exception(E&& e) {
    set_exception(std::make_exception_ptr(std::forward<E>(e)));
  }
  /// Cancel: false if already done; otherwise callbacks are scheduled and awaiters get
  /// CancelledError(msg).
  bool cancel(std::string_view msg = {}) { return st_->cancel(msg); }
  /// Call `fn(future)` (or `fn()`) via call_soon once done (at once-scheduled if already done).
  template <class F>
  CallbackId add_done_callback(F fn) {
    auto id = detail::next_callback_id();
    st_->add_callback(new detail::FutureCallback<T, F>(*this, std::move(fn), id));
    return id;
  }
  /// Remove a callback added by add_done_callback; returns how many were removed (0 or 1).
  std::size_t remove_done_callback(CallbackId id) { return detail::remove_callback(st_->callbacks, id); }
  EventLoop& get_loop() const noexcept { return *st_->loop; }
  /// (Machinery: the shared state, for gather() to register on the future directly.)
  detail::FutureState<T>* state_ptr() const noexcept { return st_; }

  detail::FutureAwaiter<T> operator co_await() const noexcept { return detail::FutureAwaiter<T>(st_); }
  friend bool operator==(const Future& a, const Future& b) noexcept { return a.st_ == b.st_; }

  static EventLoop& current_loop_for_future() {
    if (detail::tl_running_loop) return *detail::tl_running_loop;
    if (detail::tl_event_loop) return *detail::tl_event_loop;
    throw RuntimeError("There is no current event loop");
  }
  static result_type result_of(detail::FutureState<T>* st) {
    if (st->st == detail::FutureState<T>::St::Cancelled) throw CancelledError(st->cancel_msg);
    if (!st->done()) throw InvalidStateError("Result is not set.");
    st->retrieved = true;
    if constexpr (std::is_void_v<T>) {
      st->result.peek();
    } else if constexpr (std::is_reference_v<T> || std::is_copy_constructible_v<T>) {
      return st->result.peek();
    } else {
      if (st->result.has_exception()) std::rethrow_exception(st->result.exception());
      return st->result.stored();
    }
  }

 private:
  void check_pending() const {
    if (st_->done())
      throw InvalidStateError(std::string(st_->state_name()) + ": <Future " +
                              (cancelled() ? "cancelled" : "finished") + ">");
  }
  detail::FutureState<T>* st_;
};

/// Python's ensure_future(fut): a Future is returned as it is.
template <class T>
Future<T> ensure_future(Future<T> f) {
  return f;
}

template <class T>
Future<T> EventLoop::create_future() {
  return Future<T>(*this);
}

}  // namespace asyncio
