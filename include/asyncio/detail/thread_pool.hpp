// ThreadPoolExecutor and the body of EventLoop::run_in_executor (threads.hpp documents both).
// Here, with the loop's machinery, so that events.hpp, which includes this, is complete for
// run_in_executor (and creates the default executor) without including threads.hpp above it.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "loop_impl.hpp"
#include "executor.hpp"

namespace asyncio {
/// Python's concurrent.futures.ThreadPoolExecutor: up to `max_workers` threads, started on
/// demand (0 means Python's default, min(32, CPUs + 4)). Pass `&pool` to run_in_executor.
/// The destructor calls shutdown(true).
class ThreadPoolExecutor : public detail::ExecutorBase {
 public:
  explicit ThreadPoolExecutor(std::size_t max_workers = 0)
      : max_workers_(max_workers ? max_workers
                                 : std::min<std::size_t>(32, std::max(1u, std::thread::hardware_concurrency()) + 4)) {}
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;
  ~ThreadPoolExecutor() override { shutdown(true); }

  /// Run `fn(args...)` on a worker; the result (or exception) arrives in the std::future.
  /// RuntimeError after shutdown. (Python's submit(); from a task, prefer run_in_executor.)
  template <class F, class... A>
  auto submit(F fn, A... args) {
    using R = std::invoke_result_t<F&&, A&&...>;
    auto* job = new PackagedJob<R>(std::packaged_task<R()>(
        [f = std::move(fn), ... a = std::move(args)]() mutable -> R { return std::invoke(std::move(f), std::move(a)...); }));
    std::future<R> fut = job->task.get_future();
    try {
      submit(static_cast<detail::ExecJob*>(job));
    } catch (...) {
      delete job;
      throw;
    }
    return fut;
  }

  /// Stop accepting work. Queued work still runs (unless `cancel_futures`); with `wait`, block
  /// until every worker has finished.
  void shutdown(bool wait = true) override { shutdown(wait, false); }
  void shutdown(bool wait, bool cancel_futures) {
    std::deque<detail::ExecJob*> dropped;
    {
      std::lock_guard<std::mutex> g(mu_);
      shutdown_ = true;
      if (cancel_futures) dropped.swap(queue_);
    }
    cv_.notify_all();
    for (auto* j : dropped) j->drop();
    if (!wait) return;
    std::vector<std::thread> ts;
    {
      std::lock_guard<std::mutex> g(mu_);
      ts.swap(threads_);
    }
    for (auto& t : ts) {
      if (t.get_id() == std::this_thread::get_id())
        t.detach();
      else
        t.join();
    }
  }
  std::size_t max_workers() const noexcept { return max_workers_; }

  // ------------------------------------------------------------------ machinery
  void submit(detail::ExecJob* job) override {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (shutdown_) throw RuntimeError("cannot schedule new futures after shutdown");
      queue_.push_back(job);
      if (idle_ == 0 && threads_.size() < max_workers_) start_worker();
    }
    cv_.notify_one();
  }

 private:
  template <class R>
  struct PackagedJob final : detail::ExecJob {
    explicit PackagedJob(std::packaged_task<R()> t) : task(std::move(t)) {}
    void run() noexcept override {
      task();
      delete this;
    }
    void drop() noexcept override { delete this; }  // the future reports broken_promise
    std::packaged_task<R()> task;
  };

  void start_worker() {
    // Workers block every signal, so process signals (Ctrl-C, SIGCHLD...) reach the loop thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
      threads_.emplace_back([this] { worker(); });
    } catch (...) {
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  void worker() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      if (!queue_.empty()) {
        detail::ExecJob* j = queue_.front();
        queue_.pop_front();
        lk.unlock();
        j->run();
        lk.lock();
        continue;
      }
      if (shutdown_) return;
      ++idle_;
      cv_.wait(lk, [this] { return shutdown_ || !queue_.empty(); });
      --idle_;
    }
  }

  std::size_t max_workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<detail::ExecJob*> queue_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool shutdown_ = false;
};

namespace detail {
template <class F, class... A>
using thread_result_t = std::conditional_t<std::is_void_v<std::invoke_result_t<F&&, A&&...>>, void,
                                           std::remove_cvref_t<std::invoke_result_t<F&&, A&&...>>>;
}  // namespace detail

template <class F, class... A>
auto EventLoop::run_in_executor(detail::ExecutorBase* executor, F fn, A... args) {
  using R = detail::thread_result_t<F, A...>;
  if (closed_) throw RuntimeError("Event loop is closed");
  check_thread("run_in_executor");
  if (!executor) {
    if (!default_executor_) default_executor_ = std::make_shared<ThreadPoolExecutor>();
    executor = default_executor_.get();
  }
  auto* job = new detail::ExecState<R, F, A...>(std::move(fn), std::move(args)...);
  job->loop_ = this;
  job->inbox_ = inbox_;
  add_external_work();
  try {
    executor->submit(job);
  } catch (...) {
    done_external_work();
    delete job;
    throw;
  }
  return detail::ExecAwaiter<R>(job);
}

}  // namespace asyncio
