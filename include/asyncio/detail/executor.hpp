// Executor machinery: the job a worker thread runs, and the awaiter a task suspends on while
// the job runs (loop.run_in_executor). The job is shared by two threads: the worker (which runs
// the function and posts the completion back through the loop's Inbox, which outlives the loop)
// and the loop thread (which owns the awaiter). An atomic count of two keeps it alive until both
// are done with it; everything the awaiter touches is touched on the loop thread only.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "loop_impl.hpp"
#include "core.hpp"
#include "outcome.hpp"

namespace asyncio::detail {

template <class R>
struct ExecAwaiter;

/// run_in_executor's job: the callable, its arguments, its outcome, and the link back to the
/// awaiting task (null once the awaiter was cancelled or destroyed: the result is dropped).
template <class R>
struct ExecStateBase : ExecJob {
  std::atomic<int> refs_{2};  // worker side + loop side
  EventLoop* loop_ = nullptr;            // dereferenced on the loop thread only (complete())
  std::shared_ptr<Inbox> inbox_;         // the worker posts through this, never through loop_
  ExecAwaiter<R>* awaiter_ = nullptr;  // loop thread only
  bool completed_ = false;             // loop thread only
  Outcome<R> outcome_;  // written by the worker before the post, read on the loop after it

  virtual void call() = 0;
  virtual ~ExecStateBase() = default;
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  /// On the loop thread, once the worker finished: hand the outcome to the awaiter, if any.
  void complete() noexcept;

  /// The completion posted to the loop; owns the worker's reference until it runs or is dropped.
  struct Post {
    ExecStateBase* s;
    explicit Post(ExecStateBase* p) noexcept : s(p) {}
    Post(Post&& o) noexcept : s(std::exchange(o.s, nullptr)) {}
    Post(const Post&) = delete;
    ~Post() {
      if (s) s->release();
    }
    void operator()() noexcept {
      s->complete();
      std::exchange(s, nullptr)->release();
    }
  };

  void run() noexcept override {
    try {
      call();
    } catch (...) {
      outcome_.set_exception(std::current_exception());
    }
    post();
  }
  void drop() noexcept override {
    outcome_.set_exception(std::make_exception_ptr(
        RuntimeError("cannot schedule new futures after shutdown (the executor dropped this job)")));
    post();
  }
  void post() noexcept;
};

template <class R, class F, class... A>
struct ExecState final : ExecStateBase<R> {
  ExecState(F f, A... a) : f_(std::move(f)), args_(std::move(a)...) {}
  void call() override {
    if constexpr (std::is_void_v<R>) {
      std::apply(f_, std::move(args_));
      this->outcome_.set_value();
    } else {
      this->outcome_.set_value(std::apply(f_, std::move(args_)));
    }
  }
  F f_;
  std::tuple<A...> args_;
};

/// What `co_await loop.run_in_executor(...)` suspends on. The job was submitted when the
/// awaiter was made (Python's run_in_executor returns a running future). Cancelling the task
/// detaches it from the job: the thread keeps running, as in Python, and its result is dropped.
template <class R>
struct [[nodiscard]] ExecAwaiter final : Waiter {
  ExecStateBase<R>* job_ = nullptr;
  TaskStateBase* task_ = nullptr;
  bool cancelled_ = false;

  explicit ExecAwaiter(ExecStateBase<R>* job) noexcept : job_(job) {}
  ExecAwaiter(ExecAwaiter&& o) noexcept : job_(std::exchange(o.job_, nullptr)) {}
  ExecAwaiter(const ExecAwaiter&) = delete;
  ExecAwaiter& operator=(const ExecAwaiter&) = delete;
  ~ExecAwaiter() { detach(); }

  bool await_ready() const noexcept { return job_ && job_->completed_; }
  void await_suspend(std::coroutine_handle<> h) {
    task_ = &require_task("run_in_executor()");
    if (!job_) throw RuntimeError("run_in_executor(): this awaitable was already awaited");
    job_->awaiter_ = this;
    task_->suspend_on(this, h);
  }
  decltype(auto) await_resume() {
    if (cancelled_) task_->throw_cancelled();
    if (task_) task_->check_cancel();
    if (!job_) throw RuntimeError("run_in_executor(): this awaitable was already awaited");
    Outcome<R> o = std::move(job_->outcome_);
    detach();
    if constexpr (std::is_void_v<R>)
      o.take();
    else
      return R(o.take());
  }
  void describe(std::string& out, double) const override { out += "run_in_executor() job"; }
  bool cancel() noexcept override {
    if (!job_ || job_->awaiter_ != this) return false;
    detach();
    cancelled_ = true;
    task_->wake();
    return true;
  }
  void detach() noexcept {
    if (!job_) return;
    if (job_->awaiter_ == this) job_->awaiter_ = nullptr;
    std::exchange(job_, nullptr)->release();
  }
};

template <class R>
void ExecStateBase<R>::complete() noexcept {
  completed_ = true;
  loop_->done_external_work();
  if (auto* a = std::exchange(awaiter_, nullptr)) a->task_->wake();
}

template <class R>
void ExecStateBase<R>::post() noexcept {
  // The loop may be closed, even destroyed, by now (its task timed out or was cancelled): the
  // inbox outlives it and refuses the post. A refused post (or out of memory) destroys the
  // Post, which gives the worker's reference back.
  try {
    inbox_->post(loop_, Post(this));
  } catch (...) {
  }
}

}  // namespace asyncio::detail
