// The EventLoop class (declared here, its bodies in loop_impl.hpp), its Handle / TimerHandle,
// and the nodes it schedules: the loop's machinery, below tasks. The public face is events.hpp.
//
// Members that need more than the loop are declared here and defined where that is: create_task
// and run_until_complete in tasks_core.hpp (they need TaskHandle), run_in_executor in
// thread_pool.hpp (it needs ThreadPoolExecutor), create_future in futures.hpp (Future).
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <unistd.h>

#include "../exceptions.hpp"
#include "core.hpp"

namespace asyncio {

class EventLoop;
template <class T>
class Task;
template <class T>
class TaskHandle;
template <class T>
class Future;

/// A durations argument: any std::chrono duration, or a double of seconds (Python's float).
using Seconds = std::chrono::duration<double>;

namespace detail {
template <class D>
double to_seconds(D d) {
  if constexpr (std::is_arithmetic_v<D>)
    return static_cast<double>(d);
  else
    return std::chrono::duration_cast<Seconds>(d).count();
}
template <class D>
concept DurationLike = std::is_arithmetic_v<D> || requires(D d) {
  std::chrono::duration_cast<Seconds>(d);
};

/// A callback scheduled by call_soon / call_later / add_reader, shared with its Handle.
struct CallbackNode : TimerNode, Pooled {
  std::uint32_t refs_ = 1;  // the loop's reference while scheduled
  bool cancelled_ = false;
  bool persistent_ = false;  // add_reader/add_writer callbacks run each time the fd is ready
  EventLoop* loop_ = nullptr;
  virtual void invoke() = 0;
  virtual ~CallbackNode() = default;
  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }
  static void run(Runnable* r, bool discard);
};
template <class F>
struct CallbackImpl final : CallbackNode {
  explicit CallbackImpl(F&& f) : f_(std::move(f)) {}
  void invoke() override { f_(); }
  F f_;
};

/// The loop's thread-safe entry (call_soon_threadsafe). Shared with every executor job still
/// running, so a worker that finishes after its loop is gone finds the inbox closed instead of a
/// dangling loop. `pending` lets the loop see posts without taking the lock.
struct Inbox {
  std::mutex mu;
  std::vector<CallbackNode*> queue;  // under mu
  std::atomic<bool> pending{false};
  int wake_fd = -1;     // the loop's eventfd; written under mu, closed by close()
  bool closed = false;  // under mu
  /// Queue `n` and wake the loop; false (n untouched) once the loop is closed.
  bool post(CallbackNode* n) {
    std::lock_guard<std::mutex> g(mu);
    if (closed) return false;
    queue.push_back(n);
    pending.store(true);
    // Written under the lock: close() marks the inbox closed under it before it closes the fd,
    // so a poster never writes to a closed (or by then reused) descriptor.
    std::uint64_t one = 1;
    ssize_t rc = ::write(wake_fd, &one, sizeof one);
    (void)rc;
    return true;
  }
  /// Refuse further posts, drop the queued ones, close the eventfd.
  void close() noexcept {
    std::vector<CallbackNode*> q;
    {
      std::lock_guard<std::mutex> g(mu);
      closed = true;
      q.swap(queue);
      if (wake_fd >= 0) ::close(std::exchange(wake_fd, -1));
    }
    for (auto* n : q) n->release();
  }
  /// Wrap `fn` as a callback that runs on `loop` and post it; false (fn dropped) once closed.
  template <class F>
  bool post(EventLoop* loop, F fn) {
    auto* n = new CallbackImpl<F>(std::move(fn));
    n->loop_ = loop;
    n->run_ = &CallbackNode::run;
    if (post(n)) return true;
    delete n;
    return false;
  }
};

/// A waiting slot of an IoHandle: `ready(slot)` is called (once; the slot is cleared first) when
/// epoll reports the fd ready for that direction, or in error / hung up.
struct IoSlot {
  void (*ready)(IoSlot*) noexcept = nullptr;
};
/// An fd registered once with the loop, edge-triggered (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET),
/// with one reader and one writer slot. Users of it try the syscall first and only fill a slot
/// (and suspend) on EAGAIN. Owned by the stream/transport; unregister before closing the fd.
struct IoHandle {
  int fd = -1;
  IoSlot* reader = nullptr;
  IoSlot* writer = nullptr;
  bool registered = false;
  /// Edge-triggered readiness: false after a read hit EAGAIN, true again at the next readable
  /// edge. A reader that sees false waits without a speculative syscall (which would fail).
  bool read_ready = true;
  /// The peer hung up (or an error is pending): the end is readable for good, reads never wait.
  bool hup = false;
};

/// A unit of work for an executor. run() is called on a worker thread, at most once;
/// drop() instead when the executor discards it without running (shutdown(cancel_futures)).
struct ExecJob {
  virtual void run() noexcept = 0;
  virtual void drop() noexcept = 0;

 protected:
  ~ExecJob() = default;
};

/// What the loop needs of an executor: run_in_executor submits jobs, run() shuts the default
/// one down.
struct ExecutorBase {
  virtual ~ExecutorBase() = default;
  virtual void shutdown(bool wait) = 0;
  /// Run `job` on a worker; RuntimeError after shutdown.
  virtual void submit(ExecJob* job) = 0;
};
}  // namespace detail

/// What the loop's exception handler receives (Python passes a dict with these keys).
struct ExceptionContext {
  std::string message;               // always set
  std::exception_ptr exception;      // may be null
  std::string task_name;             // the task involved, if any ("" otherwise)
};

/// A scheduled callback (Python's asyncio.Handle). Dropping the handle does not cancel it.
class Handle {
 public:
  Handle() = default;
  explicit Handle(detail::CallbackNode* n) noexcept : n_(n) {
    if (n_) n_->add_ref();
  }
  Handle(const Handle& o) noexcept : Handle(o.n_) {}
  Handle(Handle&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
  Handle& operator=(Handle o) noexcept {
    std::swap(n_, o.n_);
    return *this;
  }
  ~Handle() {
    if (n_) n_->release();
  }
  /// Cancel the callback if it has not run yet (Python's Handle.cancel()).
  void cancel() noexcept;
  bool cancelled() const noexcept { return n_ && n_->cancelled_; }

 protected:
  detail::CallbackNode* n_ = nullptr;
};

/// A callback scheduled for a time (Python's asyncio.TimerHandle).
class TimerHandle : public Handle {
 public:
  using Handle::Handle;
  /// The absolute loop time at which it runs.
  double when() const noexcept { return n_ ? n_->when_ : 0.0; }
};

/// Python's asyncio event loop. Create one with new_event_loop(), or let run() / Runner make it.
class EventLoop {
 public:
  struct Options {
    bool debug = false;
    bool virtual_time = false;
  };
  EventLoop() : EventLoop(Options{}) {}
  explicit EventLoop(Options opts);
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop();

  /// Run until `x` (a Task<T> or TaskHandle<T>) is done; return its result or rethrow.
  /// (Defined in detail/tasks_core.hpp, which events.hpp and tasks.hpp include.)
  template <class T>
  T run_until_complete(Task<T> x);
  template <class T>
  T run_until_complete(const TaskHandle<T>& x);
  /// Run until stop() is called.
  void run_forever();
  /// Stop after the current iteration (Python's loop.stop()).
  void stop() noexcept { stopping_ = true; }
  /// Close the loop: drops pending callbacks and reports tasks still pending
  /// ("Task was destroyed but it is pending!"). Throws RuntimeError if running.
  void close();
  bool is_running() const noexcept { return running_; }
  bool is_closed() const noexcept { return closed_; }

  /// Monotonic loop time in seconds (virtual seconds under virtual time, starting at 0).
  double time() const noexcept;

  /// Schedule `fn()` for the next iteration (FIFO).
  template <class F>
  Handle call_soon(F fn);
  /// Schedule `fn()` after `delay` (chrono duration or double seconds).
  template <detail::DurationLike D, class F>
  TimerHandle call_later(D delay, F fn);
  /// Schedule `fn()` at absolute loop time `when`.
  template <class F>
  TimerHandle call_at(double when, F fn);
  /// The only method safe to call from another thread: schedule `fn()` and wake the loop.
  /// RuntimeError once the loop is closed. The loop itself must outlive the call.
  template <class F>
  void call_soon_threadsafe(F fn);

  /// Schedule a coroutine as a task (see tasks.hpp for the free create_task).
  /// (Defined in detail/tasks_core.hpp, which events.hpp and tasks.hpp include.)
  template <class T>
  TaskHandle<T> create_task(Task<T> coro);
  template <class T>
  TaskHandle<T> create_task(Task<T> coro, std::string name);
  /// A pending Future<T> bound to this loop. (Defined in futures.hpp: include it, or
  /// asyncio.hpp, to call this; events.hpp sits below futures and does not.)
  template <class T = void>
  Future<T> create_future();

  /// Run `fn(args...)` on `executor` (nullptr: the loop's default ThreadPoolExecutor, created on
  /// first use) and await its result: `auto r = co_await loop.run_in_executor(nullptr, f, x);`.
  /// The work is submitted at once, as Python's; exceptions thrown on the worker reach the
  /// awaiter; cancelling the awaiting task leaves the thread running and drops its result.
  /// A job on an own executor may outlive the loop: its result is then dropped (as Python's
  /// future chaining skips a closed loop). (Defined in detail/thread_pool.hpp, which events.hpp
  /// and threads.hpp include.)
  template <class F, class... A>
  auto run_in_executor(detail::ExecutorBase* executor, F fn, A... args);

  /// Watch a file descriptor (level-triggered, as Python's selector loop): `fn()` runs each
  /// iteration while the fd is readable / writable. Replaces a previous callback for that fd.
  template <class F>
  void add_reader(int fd, F fn);
  template <class F>
  void add_writer(int fd, F fn);
  /// Stop watching; false if nothing was. An fd closed under the loop is no error (as Python's
  /// selectors, EBADF/ENOENT are ignored): its whole entry is dropped, and a new file that gets
  /// the same number can be watched afresh.
  bool remove_reader(int fd);
  bool remove_writer(int fd);

  /// Python's loop.add_signal_handler(): `fn()` runs as a loop callback (never inside the
  /// signal handler) each time `sig` arrives. Replaces a previous handler for `sig`.
  /// RuntimeError for SIGKILL/SIGSTOP, ValueError for an invalid signal number.
  template <class F>
  void add_signal_handler(int sig, F fn);
  /// Remove the handler for `sig`, restoring the disposition it replaced (Python restores
  /// SIG_DFL, or default_int_handler for SIGINT); false if none was set.
  bool remove_signal_handler(int sig);

  /// Exception handler: called with the loop and the context for errors nobody else can see
  /// (callbacks that threw, task exceptions never retrieved, tasks destroyed while pending).
  template <class F>
  void set_exception_handler(F handler);
  void set_exception_handler(std::nullptr_t) { handler_ = nullptr; }
  void call_exception_handler(const ExceptionContext& ctx) noexcept;
  void default_exception_handler(const ExceptionContext& ctx) noexcept;

  void set_debug(bool on) noexcept { debug_ = on; }
  bool get_debug() const noexcept { return debug_; }
  /// Debug mode reports callbacks and task steps slower than this (seconds, default 0.1).
  double slow_callback_duration = 0.1;

  bool virtual_time() const noexcept { return virtual_; }

  // ------------------------------------------------------------------ machinery (detail)
  void push_ready(detail::Runnable* r) noexcept { ready_.push_back(r); }
  void add_timer(detail::TimerNode* n, double when) {
    timers_.remove(n);  // re-arming a timer moves it; a node is never in the heap twice
    n->when_ = when;
    n->seq_ = timer_seq_++;
    timers_.push(n);
  }
  void remove_timer(detail::TimerNode* n) noexcept { timers_.remove(n); }
  void register_task(detail::TaskStateBase* t) noexcept {
    tasks_.push_back(&t->all_link_);
    ready_.push_back(t);
  }
  const detail::List& live_tasks() const noexcept { return tasks_; }
  std::size_t timer_count() const noexcept { return timers_.size(); }
  std::size_t ready_count() const noexcept { return ready_.size(); }
  std::uint64_t id() const noexcept { return id_; }
  /// Outstanding work on other threads (executor jobs): virtual time does not jump past it.
  void add_external_work() noexcept { ++external_work_; }
  void done_external_work() noexcept { --external_work_; }
  std::thread::id thread_id() const noexcept { return thread_id_; }
  detail::ExecutorBase* default_executor_ptr() const noexcept { return default_executor_.get(); }
  void set_default_executor(std::shared_ptr<detail::ExecutorBase> ex) { default_executor_ = std::move(ex); }
  std::shared_ptr<detail::ExecutorBase> take_default_executor() { return std::move(default_executor_); }
  /// Debug mode: calling a loop method from a foreign thread is reported.
  void check_thread(const char* what) noexcept;
  /// One iteration of the loop (Python's _run_once).
  void run_once();
  /// Internal edge-triggered registrations (streams, subprocess pipes): see detail::IoHandle.
  void io_register(detail::IoHandle* h);
  void io_unregister(detail::IoHandle* h) noexcept;
  /// A task is suspended on I/O: virtual time does not jump while any is.
  void io_wait_begin() noexcept { ++io_watchers_; }
  void io_wait_end() noexcept { --io_watchers_; }
  /// Tasks suspended on I/O plus add_reader/add_writer watchers (0 once everything is cleaned up).
  std::size_t io_waiter_count() const noexcept { return io_watchers_; }
  void add_signal_callback_node(int sig, detail::CallbackNode* n);

 private:
  struct FdEntry {
    detail::CallbackNode* reader = nullptr;
    detail::CallbackNode* writer = nullptr;
    std::uint32_t events = 0;
  };
  void update_fd(int fd, FdEntry& e);
  void add_fd_callback(int fd, bool write, detail::CallbackNode* n);
  bool remove_fd_callback(int fd, bool write);
  void run_ready_batch();
  void drain_threadsafe();
  void advance_virtual(double to) noexcept;
  void dispatch_signals();
  double real_time() const noexcept;
  template <class T>
  T run_until_complete_impl(const TaskHandle<T>& h, bool move_out);
  friend class Runner;  // runs its own task, whose result it may move out

  detail::List ready_;
  detail::Runnable batch_marker_;
  detail::TimerHeap timers_;
  std::uint64_t timer_seq_ = 0;
  detail::List tasks_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // inbox_->wake_fd, for the loop thread
  std::unordered_map<int, FdEntry> fds_;
  std::size_t io_watchers_ = 0;
  std::size_t external_work_ = 0;
  std::shared_ptr<detail::Inbox> inbox_ = std::make_shared<detail::Inbox>();
  std::function<void(EventLoop&, const ExceptionContext&)> handler_;
  std::shared_ptr<detail::ExecutorBase> default_executor_;
  std::thread::id thread_id_;
  std::uint64_t id_;
  double virtual_now_ = 0;
  bool running_ = false;
  bool stopping_ = false;
  bool closed_ = false;
  bool debug_ = false;
  bool virtual_ = false;
  bool in_handler_ = false;
  int sig_pipe_[2] = {-1, -1};
  unsigned seen_signal_epoch_ = 0;
  std::unordered_map<int, std::pair<detail::CallbackNode*, void*>> sig_handlers_;  // node, saved sigaction
};

/// The loop running on this thread; throws RuntimeError("no running event loop") if none.
inline EventLoop& get_running_loop();
/// The running loop, else this thread's current loop, created on first use (Python 3.11).
inline EventLoop& get_event_loop();
/// A new loop (not set as current). Honours ASYNCIO_DEBUG=1 and ASYNCIO_VIRTUAL_TIME=1.
inline std::shared_ptr<EventLoop> new_event_loop();
/// Make `loop` this thread's current loop (nullptr clears it).
inline void set_event_loop(std::shared_ptr<EventLoop> loop);

}  // namespace asyncio
