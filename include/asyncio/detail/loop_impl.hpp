// Bodies of EventLoop, Handle and TaskStateBase (declared in event_loop.hpp and core.hpp).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "event_loop.hpp"

namespace asyncio::detail {

/// Seconds of virtual time this thread has lived through (testing::monotonic() reads it).
inline thread_local double tl_virtual_clock = 0;

inline std::atomic<std::uint64_t>& task_counter() {
  static std::atomic<std::uint64_t> c{0};
  return c;
}
/// The N of the next "Task-N": unique in the process, consecutive within a thread. Each thread
/// takes ids in blocks of 256 (one atomic add per block, not per task).
inline std::uint64_t next_task_id() noexcept {
  constexpr std::uint64_t block = 256;
  thread_local std::uint64_t next = 0, end = 0;
  if (next == end) {
    next = task_counter().fetch_add(block, std::memory_order_relaxed) + 1;
    end = next + block;
  }
  return next++;
}

inline bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

/// Registry of live loops, so a task outliving its loop reports to stderr instead of a dangling
/// loop (looked up only on the rare reporting paths).
struct LoopRegistry {
  std::mutex mu;
  std::unordered_map<std::uint64_t, EventLoop*> loops;
  std::uint64_t next = 1;
  static LoopRegistry& get() {
    static LoopRegistry r;
    return r;
  }
};
inline EventLoop* find_loop(std::uint64_t id) {
  auto& r = LoopRegistry::get();
  std::lock_guard<std::mutex> g(r.mu);
  auto it = r.loops.find(id);
  return it == r.loops.end() ? nullptr : it->second;
}

inline void report(std::uint64_t loop_id, const ExceptionContext& ctx) noexcept {
  if (EventLoop* l = find_loop(loop_id)) {
    l->call_exception_handler(ctx);
  } else {
    std::fprintf(stderr, "%s\n", ctx.message.c_str());
    if (!ctx.task_name.empty()) std::fprintf(stderr, "task: <Task name='%s'>\n", ctx.task_name.c_str());
    if (ctx.exception)
      std::fprintf(stderr, "exception: %s\n", describe_exception(ctx.exception).c_str());
  }
}

/// epoll data of a plain fd registration: odd (an IoHandle pointer, the other kind, is even).
inline std::uint64_t fd_tag(int fd) noexcept { return (static_cast<std::uint64_t>(fd) << 1) | 1u; }

// ------------------------------------------------------------------------------ signals
/// Per signal, the write end of the self-pipe of the loop that handles it (-1: none). The C
/// handler only writes the signal number there (async-signal-safe); the loop does the rest.
inline std::atomic<int> g_signal_fds[_NSIG];
inline const bool g_signal_fds_init = [] {
  for (auto& f : g_signal_fds) f.store(-1);
  return true;
}();
/// Runner's Ctrl-C handling (Python 3.11 Runner._on_sigint): while armed, a second SIGINT
/// restores the default disposition and re-raises it, stopping the process immediately.
inline std::atomic<bool> g_sigint_armed{false};
/// Bumped by the C handler after it wrote to a self-pipe: lets a busy loop skip epoll_wait
/// while no signal has arrived (a lock-free atomic is async-signal-safe).
inline std::atomic<unsigned> g_signal_epoch{0};
inline std::atomic<int> g_sigint_count{0};

inline void signal_trampoline(int sig) noexcept {
  int saved = errno;
  if (sig == SIGINT && g_sigint_armed.load()) {
    if (g_sigint_count.fetch_add(1) >= 1) {
      ::signal(SIGINT, SIG_DFL);
      ::raise(SIGINT);
      errno = saved;
      return;
    }
  }
  int fd = (sig > 0 && sig < _NSIG) ? g_signal_fds[sig].load() : -1;
  if (fd >= 0) {
    unsigned char b = static_cast<unsigned char>(sig);
    ssize_t rc = ::write(fd, &b, 1);
    (void)rc;
    g_signal_epoch.fetch_add(1);
  }
  errno = saved;
}

inline void report_never_awaited(void* frame, const CoroOrigin* origin) {
  bool debug = tl_running_loop ? tl_running_loop->get_debug() : env_flag("ASYNCIO_DEBUG");
  if (!debug) return;
  char buf[96];
  std::snprintf(buf, sizeof buf, "coroutine <frame %p> was never awaited", frame);
  std::string msg = buf;
  if (origin)  // debug mode recorded where the coroutine is defined
    msg = std::string("coroutine '") + origin->function + "' was never awaited\nCoroutine created at " +
          origin->file + ":" + std::to_string(origin->line);
  ExceptionContext ctx{msg, nullptr, {}};
  if (tl_running_loop)
    tl_running_loop->call_exception_handler(ctx);
  else
    std::fprintf(stderr, "RuntimeWarning: %s\n", msg.c_str());
}
/// Debug mode: one record per coroutine definition, kept for the life of the process.
inline const CoroOrigin* intern_origin(const char* file, unsigned line, const char* fn) {
  static std::mutex mu;
  static std::unordered_map<const char*, std::unordered_map<unsigned, std::unique_ptr<CoroOrigin>>> m;
  std::lock_guard<std::mutex> g(mu);
  auto& slot = m[file][line];
  if (!slot) slot.reset(new CoroOrigin{file, line, fn});
  return slot.get();
}
/// Debug mode's live frames: promise address -> origin (entries removed as frames die).
struct OriginTable {
  std::mutex mu;
  std::unordered_map<const void*, const CoroOrigin*> live;
  static OriginTable& get() {
    static OriginTable* t = new OriginTable;  // never destroyed: frames may die during exit
    return *t;
  }
};
inline const CoroOrigin* track_origin(const void* promise, const char* file, unsigned line, const char* fn) {
  const CoroOrigin* o = intern_origin(file, line, fn);
  auto& t = OriginTable::get();
  std::lock_guard<std::mutex> g(t.mu);
  if (t.live.insert_or_assign(promise, o).second) g_tracked_frames.fetch_add(1, std::memory_order_relaxed);
  return o;
}
inline void forget_origin(const void* promise) {
  auto& t = OriginTable::get();
  std::lock_guard<std::mutex> g(t.mu);
  if (t.live.erase(promise)) g_tracked_frames.fetch_sub(1, std::memory_order_relaxed);
}
inline const CoroOrigin* origin_of(const void* promise) {
  auto& t = OriginTable::get();
  std::lock_guard<std::mutex> g(t.mu);
  auto it = t.live.find(promise);
  return it == t.live.end() ? nullptr : it->second;
}
inline const bool g_origin_hooks_installed =
    (g_origin_hooks = {&track_origin, &forget_origin, &origin_of, &report_never_awaited}, true);

// ------------------------------------------------------------------------------ CallbackNode
inline void CallbackNode::run(Runnable* r, bool discard) {
  auto* n = static_cast<CallbackNode*>(r);
  n->add_ref();  // the callback may drop its own registration (remove_reader inside it)
  struct Unref {
    CallbackNode* n;
    ~Unref() { n->release(); }
  } unref{n};
  if (!discard && !n->cancelled_) {
    try {
      n->invoke();
    } catch (const CancelledError&) {
      n->loop_->call_exception_handler({"Exception in callback (CancelledError)", std::current_exception(), {}});
    } catch (...) {
      n->loop_->call_exception_handler({"Exception in callback", std::current_exception(), {}});
    }
  }
  if (!n->persistent_ || discard) n->release();
}

// ------------------------------------------------------------------------------ TaskStateBase
inline TaskStateBase::TaskStateBase(EventLoop* loop, std::uint16_t prefix_bytes, Runnable::Fn run) noexcept
    : id_(static_cast<std::uint32_t>(next_task_id())),
      loop_id_(static_cast<std::uint32_t>(loop->id())),
      prefix_bytes_(prefix_bytes) {
  static_assert(sizeof(void*) != 8 || sizeof(TaskStateBase) == 96, "task state layout changed: see the field comments");
  run_ = run;
}

inline EventLoop* TaskStateBase::loop() const noexcept {
  EventLoop* l = tl_running_loop;
  if (l && static_cast<std::uint32_t>(l->id()) == loop_id_) [[likely]]
    return l;
  return find_loop(loop_id_);
}
inline EventLoop& TaskStateBase::get_loop() const {
  EventLoop* l = loop();
  if (!l) throw RuntimeError("the event loop of " + get_name() + " no longer exists");
  return *l;
}

inline TaskStateBase* TaskStateBase::owner_of(const ListNode* link) noexcept {
  // offsetof on a polymorphic class is "conditionally supported"; GCC and Clang support it
  // (single inheritance, no virtual base), and it saves a back pointer in every task.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
  constexpr std::size_t off = offsetof(TaskStateBase, all_link_);
#pragma GCC diagnostic pop
  return reinterpret_cast<TaskStateBase*>(reinterpret_cast<char*>(const_cast<ListNode*>(link)) - off);
}

inline std::string TaskStateBase::get_name() const {
  if (extras_ && extras_->has_name) return extras_->name;
  return "Task-" + std::to_string(id_);
}
inline void TaskStateBase::set_name(std::string name) {
  extras().name = std::move(name);
  extras_->has_name = true;
}

inline bool TaskStateBase::cancel(std::string_view msg) {
  if (done()) return false;
  Extras& x = extras();
  if (x.num_cancels < std::numeric_limits<int>::max()) ++x.num_cancels;  // (saturates: no UB)
  x.cancel_msg = std::string(msg);
  if (in_cancel_) {
    // Reached again through what it waits on: tasks awaiting each other in a cycle (A awaits B,
    // B awaits A). Forwarding once more would recurse forever (Python: RecursionError); instead
    // this task leaves its wait and resumes with CancelledError (its waiter, a task awaiter or
    // a gather, lets go of the other tasks when it resumes), which ends the cycle.
    must_cancel_ = true;
    if (waiter_) wake();
    return true;
  }
  in_cancel_ = true;
  bool forwarded = waiter_ && waiter_->cancel();
  in_cancel_ = false;
  if (forwarded) return true;
  must_cancel_ = true;
  return true;
}

inline void TaskStateBase::wake() noexcept {
  waiter_ = nullptr;
  if (!linked()) loop()->push_ready(this);
}

inline void TaskStateBase::suspend_on(Waiter* w, std::coroutine_handle<> h) noexcept {
  resume_point_ = h;
  waiter_ = w;
  if (must_cancel_ && w->cancel()) must_cancel_ = false;
}

inline void TaskStateBase::yield_now(std::coroutine_handle<> h) noexcept {
  resume_point_ = h;
  waiter_ = nullptr;
  loop()->push_ready(this);
}

inline void TaskStateBase::add_completion(CompletionNode* n) noexcept {
  if (done()) {
    if (n->is_waiter())
      n->waiter()->wake();
    else
      loop()->push_ready(n);
  } else {
    done_list_.push_back(n);
  }
}

inline void TaskStateBase::release() noexcept {
  if (--refs_ != 0) return;
  if (state_ == State::Failed && !retrieved_) {
    std::exception_ptr e;
    try {
      e = exception();
    } catch (...) {
    }
    report(loop_id_, {"Task exception was never retrieved", e, get_name()});
  }
  run_(this, true);  // TaskState<T>::run ends a done task
}

inline std::exception_ptr TaskStateBase::exception() {
  if (!done()) throw InvalidStateError("Exception is not set.");
  if (cancelled()) throw_cancelled();
  retrieved_ = true;
  return error_ptr();
}

inline void TaskStateBase::set_exception(std::exception_ptr e, State st) noexcept {
  // (An Extras allocation failing here would lose the exception: let it terminate instead.)
  extras().error = std::move(e);
  state_ = st;
}
inline void TaskStateBase::set_cancelled_result() {
  set_exception(std::make_exception_ptr(CancelledError(cancel_message())), State::Cancelled);
}

inline void TaskStateBase::finish() {
  all_link_.unlink();
  waiter_ = nullptr;
  if (!done_list_.empty()) {
    EventLoop* l = loop();
    while (auto* n = static_cast<CompletionNode*>(done_list_.pop_front())) {
      if (n->is_waiter())
        n->waiter()->wake();
      else if (!n->settle_ || !n->settle_(n, this))
        l->push_ready(n);
    }
  }
  release();  // the loop's reference; may delete this
}

inline void TaskStateBase::destroy_pending() {
  add_ref();
  all_link_.unlink();
  unlink();
  waiter_ = nullptr;
  if (frame_live_) destroy_frame();
  set_cancelled_result();
  while (auto* n = static_cast<CompletionNode*>(done_list_.pop_front())) {
    if (!n->is_waiter()) n->run_(n, true);
  }
  release();  // the loop's reference
  release();
}

inline bool TaskStateBase::step(TaskStateBase* t) {
  if (DebugStepProbe* probe = tl_debug_step_probe) [[unlikely]] {
    probe->is_task = true;  // debug mode: the loop names the task in a slow-callback report
    probe->name = t->get_name();
  }
  TaskStateBase* prev = tl_current_task;
  tl_current_task = t;
  if (!t->started_) {
    t->started_ = true;
    if (t->must_cancel_) {
      // Cancelled before its first step: the coroutine never runs (Python throws into it at
      // its very start, which ends it at once).
      t->must_cancel_ = false;
      t->destroy_frame();
      t->set_cancelled_result();
      tl_current_task = prev;
      t->finish();
      return false;
    }
    t->resume_point_ = t->frame();
  }
  drive(t->resume_point_);
  tl_current_task = prev;
  return t->frame().done();
}

}  // namespace asyncio::detail

namespace asyncio {

inline void Handle::cancel() noexcept {
  if (!n_ || n_->cancelled_) return;
  n_->cancelled_ = true;
  if (n_->persistent_) return;  // fd callbacks are owned by their registration
  if (n_->in_heap()) {
    n_->loop_->remove_timer(n_);
    n_->release();
  } else if (n_->linked()) {
    n_->unlink();
    n_->release();
  }
}

inline EventLoop::EventLoop(Options opts)
    : thread_id_(std::this_thread::get_id()),
      debug_(opts.debug || detail::env_flag("ASYNCIO_DEBUG")),
      virtual_(opts.virtual_time || detail::env_flag("ASYNCIO_VIRTUAL_TIME")) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw OSError(errno, OSError::format(errno, "epoll_create1"));
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    int e = errno;
    ::close(epoll_fd_);
    throw OSError(e, OSError::format(e, "eventfd"));
  }
  inbox_->wake_fd = wake_fd_;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = detail::fd_tag(wake_fd_);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  auto& r = detail::LoopRegistry::get();
  std::lock_guard<std::mutex> g(r.mu);
  id_ = r.next++;
  r.loops[id_] = this;
}

inline EventLoop::~EventLoop() {
  if (!closed_ && !running_) {
    try {
      close();
    } catch (...) {
    }
  }
  auto& r = detail::LoopRegistry::get();
  std::lock_guard<std::mutex> g(r.mu);
  r.loops.erase(id_);
}

inline double EventLoop::real_time() const noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

inline double EventLoop::time() const noexcept { return virtual_ ? virtual_now_ : real_time(); }

inline void EventLoop::advance_virtual(double to) noexcept {
  if (to > virtual_now_) {
    detail::tl_virtual_clock += to - virtual_now_;
    virtual_now_ = to;
  }
}

inline void EventLoop::check_thread(const char* what) noexcept {
  if (debug_ && running_ && std::this_thread::get_id() != thread_id_) {
    call_exception_handler({std::string("Non-thread-safe operation invoked on an event loop other than "
                                        "the current one: ") + what,
                            nullptr, {}});
  }
}

template <class F>
Handle EventLoop::call_soon(F fn) {
  if (closed_) throw RuntimeError("Event loop is closed");
  check_thread("call_soon");
  auto* n = new detail::CallbackImpl<F>(std::move(fn));
  n->loop_ = this;
  n->run_ = &detail::CallbackNode::run;
  ready_.push_back(n);
  return Handle(n);
}

template <detail::DurationLike D, class F>
TimerHandle EventLoop::call_later(D delay, F fn) {
  double d = detail::to_seconds(delay);
  if (std::isnan(d)) throw ValueError("call_later: delay is NaN");
  return call_at(time() + d, std::move(fn));
}

template <class F>
TimerHandle EventLoop::call_at(double when, F fn) {
  if (closed_) throw RuntimeError("Event loop is closed");
  if (std::isnan(when)) throw ValueError("call_at: when is NaN");
  check_thread("call_at");
  auto* n = new detail::CallbackImpl<F>(std::move(fn));
  n->loop_ = this;
  n->run_ = &detail::CallbackNode::run;
  add_timer(n, when);
  return TimerHandle(n);
}

template <class F>
void EventLoop::call_soon_threadsafe(F fn) {
  if (!inbox_->post(this, std::move(fn))) throw RuntimeError("Event loop is closed");
}

inline void EventLoop::drain_threadsafe() {
  // A plain load first: the exchange (a locked instruction) only when something was posted.
  detail::Inbox& in = *inbox_;
  if (!in.pending.load(std::memory_order_acquire) || !in.pending.exchange(false)) return;
  std::vector<detail::CallbackNode*> q;
  {
    std::lock_guard<std::mutex> g(in.mu);
    q.swap(in.queue);
  }
  for (auto* n : q) ready_.push_back(n);
}

template <class F>
void EventLoop::set_exception_handler(F handler) {
  if constexpr (std::is_invocable_v<F&, EventLoop&, const ExceptionContext&>) {
    handler_ = std::move(handler);
  } else {
    handler_ = [h = std::move(handler)](EventLoop&, const ExceptionContext& c) mutable { h(c); };
  }
}

inline void EventLoop::default_exception_handler(const ExceptionContext& ctx) noexcept {
  std::string s = ctx.message;
  if (!ctx.task_name.empty()) s += "\ntask: <Task name='" + ctx.task_name + "'>";
  if (ctx.exception) s += "\nexception: " + detail::describe_exception(ctx.exception);
  std::fprintf(stderr, "%s\n", s.c_str());
}

inline void EventLoop::call_exception_handler(const ExceptionContext& ctx) noexcept {
  if (!handler_ || in_handler_) {
    default_exception_handler(ctx);
    return;
  }
  in_handler_ = true;
  try {
    handler_(*this, ctx);
  } catch (...) {
    default_exception_handler({"Unhandled error in exception handler", std::current_exception(), {}});
    default_exception_handler(ctx);
  }
  in_handler_ = false;
}

inline void EventLoop::update_fd(int fd, FdEntry& e) {
  std::uint32_t want = (e.reader ? EPOLLIN : 0u) | (e.writer ? EPOLLOUT : 0u);
  if (want == e.events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = detail::fd_tag(fd);
  int op = e.events == 0 ? EPOLL_CTL_ADD : (want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD);
  if (::epoll_ctl(epoll_fd_, op, fd, &ev) < 0) {
    int err = errno;
    throw OSError(err, OSError::format(err, "cannot watch file descriptor " + std::to_string(fd)));
  }
  e.events = want;
  if (want == 0) fds_.erase(fd);
}

inline void EventLoop::add_fd_callback(int fd, bool write, detail::CallbackNode* n) {
  n->loop_ = this;
  n->run_ = &detail::CallbackNode::run;
  n->persistent_ = true;
  if (closed_) {
    delete n;
    throw RuntimeError("Event loop is closed");
  }
  if (fd < 0) {
    delete n;
    throw ValueError("Invalid file descriptor: " + std::to_string(fd));
  }
  FdEntry& e = fds_[fd];
  detail::CallbackNode*& slot = write ? e.writer : e.reader;
  detail::CallbackNode* old = slot;
  slot = n;
  try {
    update_fd(fd, e);
  } catch (...) {
    slot = old;
    if (!e.reader && !e.writer) fds_.erase(fd);
    delete n;
    throw;
  }
  if (old) {
    old->cancelled_ = true;
    old->unlink();
    old->release();
  } else {
    ++io_watchers_;
  }
}

// ------------------------------------------------------------------------------ edge-triggered I/O
inline void EventLoop::io_register(detail::IoHandle* h) {
  if (closed_) throw RuntimeError("Event loop is closed");
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = reinterpret_cast<std::uintptr_t>(h);
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, h->fd, &ev) < 0) {
    int err = errno;
    throw OSError(err, OSError::format(err, "cannot watch file descriptor " + std::to_string(h->fd)));
  }
  h->registered = true;
}
inline void EventLoop::io_unregister(detail::IoHandle* h) noexcept {
  if (!h->registered) return;
  h->registered = false;
  if (epoll_fd_ >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, h->fd, nullptr);
}

// ------------------------------------------------------------------------------ signals
inline void EventLoop::add_signal_callback_node(int sig, detail::CallbackNode* n) {
  n->loop_ = this;
  n->run_ = &detail::CallbackNode::run;
  n->persistent_ = true;
  if (closed_) {
    delete n;
    throw RuntimeError("Event loop is closed");
  }
  if (sig <= 0 || sig >= _NSIG) {
    delete n;
    throw ValueError("invalid signal number " + std::to_string(sig));
  }
  if (sig == SIGKILL || sig == SIGSTOP) {
    delete n;
    throw RuntimeError("sig " + std::to_string(sig) + " cannot be caught");
  }
  if (sig_pipe_[0] < 0) {
    if (::pipe2(sig_pipe_, O_CLOEXEC | O_NONBLOCK) < 0) {
      int err = errno;
      delete n;
      throw OSError(err, OSError::format(err, "pipe2"));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = detail::fd_tag(sig_pipe_[0]);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, sig_pipe_[0], &ev);
  }
  auto it = sig_handlers_.find(sig);
  if (it != sig_handlers_.end()) {
    detail::CallbackNode* old = std::exchange(it->second.first, n);
    old->cancelled_ = true;
    old->unlink();
    old->release();
    return;
  }
  auto* saved = new struct sigaction;
  struct sigaction sa {};
  sa.sa_handler = &detail::signal_trampoline;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  detail::g_signal_fds[sig].store(sig_pipe_[1]);
  if (::sigaction(sig, &sa, saved) < 0) {
    int err = errno;
    detail::g_signal_fds[sig].store(-1);
    delete saved;
    delete n;
    throw OSError(err, OSError::format(err, "sigaction"));
  }
  sig_handlers_[sig] = {n, saved};
}

template <class F>
void EventLoop::add_signal_handler(int sig, F fn) {
  check_thread("add_signal_handler");
  add_signal_callback_node(sig, new detail::CallbackImpl<F>(std::move(fn)));
}

inline bool EventLoop::remove_signal_handler(int sig) {
  auto it = sig_handlers_.find(sig);
  if (it == sig_handlers_.end()) return false;
  auto* saved = static_cast<struct sigaction*>(it->second.second);
  ::sigaction(sig, saved, nullptr);
  detail::g_signal_fds[sig].store(-1);
  delete saved;
  detail::CallbackNode* n = it->second.first;
  n->cancelled_ = true;
  n->unlink();
  n->release();
  sig_handlers_.erase(it);
  return true;
}

inline void EventLoop::dispatch_signals() {
  unsigned char buf[64];
  for (;;) {
    ssize_t k = ::read(sig_pipe_[0], buf, sizeof buf);
    if (k <= 0) break;
    for (ssize_t i = 0; i < k; ++i) {
      auto it = sig_handlers_.find(buf[i]);
      if (it != sig_handlers_.end() && !it->second.first->linked()) ready_.push_back(it->second.first);
    }
  }
}

template <class F>
void EventLoop::add_reader(int fd, F fn) {
  check_thread("add_reader");
  add_fd_callback(fd, false, new detail::CallbackImpl<F>(std::move(fn)));
}
template <class F>
void EventLoop::add_writer(int fd, F fn) {
  check_thread("add_writer");
  add_fd_callback(fd, true, new detail::CallbackImpl<F>(std::move(fn)));
}

inline bool EventLoop::remove_reader(int fd) { return remove_fd_callback(fd, false); }
inline bool EventLoop::remove_writer(int fd) { return remove_fd_callback(fd, true); }

// Removal never fails because the fd is gone: as Python's selectors, EBADF/ENOENT from
// epoll_ctl mean the fd was closed under the loop (the kernel dropped its registration, and the
// number may already name a new file). The entry is then dropped whole (a callback left for the
// other direction could never fire), so a new file with that number starts afresh.
inline bool EventLoop::remove_fd_callback(int fd, bool write) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return false;
  FdEntry& e = it->second;
  detail::CallbackNode*& slot = write ? e.writer : e.reader;
  if (!slot) return false;
  auto drop = [this](detail::CallbackNode*& s) {
    if (detail::CallbackNode* n = std::exchange(s, nullptr)) {
      n->cancelled_ = true;
      n->unlink();
      n->release();
      --io_watchers_;
    }
  };
  drop(slot);
  std::uint32_t want = (e.reader ? EPOLLIN : 0u) | (e.writer ? EPOLLOUT : 0u);
  int err = 0;
  if (want != e.events) {
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = detail::fd_tag(fd);
    if (::epoll_ctl(epoll_fd_, want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD, fd, &ev) < 0) err = errno;
  }
  if (want != 0 && err == 0) {
    e.events = want;
    return true;
  }
  drop(e.reader);
  drop(e.writer);
  fds_.erase(it);
  if (err != 0 && err != EBADF && err != ENOENT && want != 0)
    throw OSError(err, OSError::format(err, "cannot watch file descriptor " + std::to_string(fd)));
  return true;
}

inline void EventLoop::run_ready_batch() {
  // The marker ends this iteration's batch: what is scheduled while it runs goes after it, to
  // the next iteration (CPython's ntodo). It is a member, as run_once never nests.
  struct Unmark {
    detail::Runnable& m;
    ~Unmark() { m.unlink(); }
  } unmark{batch_marker_};
  ready_.push_back(&batch_marker_);
  for (;;) {
    auto* r = static_cast<detail::Runnable*>(ready_.pop_front());
    if (r == &batch_marker_) break;
    if (!debug_) {
      r->run_(r, false);
      continue;
    }
    detail::DebugStepProbe probe;  // a task's step fills it in (see TaskStateBase::step)
    double t0 = real_time();
    {
      struct Arm {
        explicit Arm(detail::DebugStepProbe* p) noexcept { detail::tl_debug_step_probe = p; }
        ~Arm() { detail::tl_debug_step_probe = nullptr; }
      } arm(&probe);
      r->run_(r, false);
    }
    double dt = real_time() - t0;
    const bool is_task = probe.is_task;
    const std::string& name = probe.name;
    if (dt >= slow_callback_duration) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " took %.3f seconds", dt);
      call_exception_handler({std::string("Executing ") +
                                  (is_task ? "<Task name='" + name + "'>" : std::string("<Handle>")) + buf,
                              nullptr, name});
    }
  }
}


namespace detail {
/// epoll_wait with a nanosecond timeout (epoll_pwait2, Linux ≥ 5.11): a 1 µs deadline must not
/// sleep a whole millisecond. Falls back to epoll_wait rounding up to milliseconds, as CPython.
inline int epoll_wait_precise(int epfd, epoll_event* evs, int max, double timeout) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
  static bool have_pwait2 = true;
  if (have_pwait2) {
    timespec ts{};
    timespec* tp = nullptr;
    if (timeout >= 0) {
      double t = std::min(timeout, 1e6);
      ts.tv_sec = static_cast<time_t>(t);
      ts.tv_nsec = static_cast<long>((t - static_cast<double>(ts.tv_sec)) * 1e9);
      tp = &ts;
    }
    int n = ::epoll_pwait2(epfd, evs, max, tp, nullptr);
    if (n >= 0) return n;
    if (errno != ENOSYS) return 0;  // EINTR
    have_pwait2 = false;
  }
#endif
  int ms = timeout < 0 ? -1 : (timeout > 1e6 ? 1000000000 : static_cast<int>(std::ceil(timeout * 1e3)));
  int n = ::epoll_wait(epfd, evs, max, ms);
  return n < 0 ? 0 : n;
}
}  // namespace detail

inline void EventLoop::run_once() {
  double timeout;
  if (!ready_.empty() || stopping_ || inbox_->pending.load(std::memory_order_relaxed)) {
    timeout = 0;
  } else if (!timers_.empty()) {
    double when = timers_.top()->when_;
    if (virtual_ && when == std::numeric_limits<double>::infinity()) {
      // Virtual time never reaches +inf: wait for I/O or another thread, as a real clock would
      // (jumping there would make every later timer due at once).
      timeout = -1;
    } else if (virtual_ && io_watchers_ == 0 && external_work_ == 0) {
      advance_virtual(when);
      timeout = 0;
    } else {
      timeout = std::max(0.0, when - time());
    }
  } else {
    timeout = -1;
  }
  epoll_event evs[128];
  int n = 0;
  unsigned sig_epoch = detail::g_signal_epoch.load(std::memory_order_acquire);
  // A deadline closer than the kernel's timer slack (50 µs) is polled, not slept on: sleeping
  // would overshoot it several times over.
  const bool near = timeout > 0 && timeout < 5e-5;
  if ((timeout == 0 || near) && io_watchers_ == 0 && fds_.empty() &&
      (sig_handlers_.empty() || sig_epoch == seen_signal_epoch_)) {
    // Nothing can be ready on an fd we care about (thread-safe callbacks are seen through
    // the inbox's pending flag): skip the syscall. This keeps sleep(0), task switches and the last few
    // microseconds before a near deadline off the kernel.
  } else {
    double t0 = (virtual_ && timeout != 0) ? real_time() : 0.0;
    n = detail::epoll_wait_precise(epoll_fd_, evs, 128, near ? 0.0 : timeout);
    seen_signal_epoch_ = sig_epoch;
    if (virtual_ && timeout != 0) advance_virtual(virtual_now_ + (real_time() - t0));
  }
  for (int i = 0; i < n; ++i) {
    std::uint64_t tag = evs[i].data.u64;
    if (!(tag & 1u)) {
      // An edge-triggered IoHandle: fire its one-shot slots.
      auto* h = reinterpret_cast<detail::IoHandle*>(static_cast<std::uintptr_t>(tag));
      std::uint32_t ev = evs[i].events;
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        h->read_ready = true;
        if (ev & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) h->hup = true;
        if (h->reader) {
          detail::IoSlot* s = std::exchange(h->reader, nullptr);
          s->ready(s);
        }
      }
      if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && h->writer) {
        detail::IoSlot* s = std::exchange(h->writer, nullptr);
        s->ready(s);
      }
      continue;
    }
    int fd = static_cast<int>(tag >> 1);
    if (fd == sig_pipe_[0]) {
      dispatch_signals();
      continue;
    }
    if (fd == wake_fd_) {
      std::uint64_t v;
      ssize_t rc = ::read(wake_fd_, &v, sizeof v);
      (void)rc;
      continue;
    }
    auto it = fds_.find(fd);
    if (it == fds_.end()) continue;
    std::uint32_t ev = evs[i].events;
    FdEntry& e = it->second;
    if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && e.reader && !e.reader->linked()) ready_.push_back(e.reader);
    if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && e.writer && !e.writer->linked()) ready_.push_back(e.writer);
  }
  drain_threadsafe();
  if (!timers_.empty()) {  // one clock read per iteration, and none when no timer is armed
    // Due: at or before now, or within a nanosecond of it (Python's clock resolution). Past
    // 2^24 s a nanosecond is below a double's precision, so "at or before" must count too.
    const double now = time(), end = now + 1e-9;
    while (!timers_.empty() && (timers_.top()->when_ < end || timers_.top()->when_ <= now))
      ready_.push_back(timers_.pop());
  }
  run_ready_batch();
}

inline void EventLoop::run_forever() {
  if (closed_) throw RuntimeError("Event loop is closed");
  if (running_) throw RuntimeError("This event loop is already running");
  if (detail::tl_running_loop) throw RuntimeError("Cannot run the event loop while another loop is running");
  struct Guard {
    EventLoop* l;
    ~Guard() {
      l->running_ = false;
      l->stopping_ = false;
      detail::tl_running_loop = nullptr;
      detail::tl_track_origins = prev_track;
    }
    bool prev_track;
  } guard{this, detail::tl_track_origins};
  running_ = true;
  thread_id_ = std::this_thread::get_id();
  detail::tl_running_loop = this;
  detail::tl_track_origins = debug_;  // debug mode: coroutines record where they are defined
  for (;;) {
    run_once();
    if (stopping_) break;
  }
}

inline void EventLoop::close() {
  if (running_) throw RuntimeError("Cannot close a running event loop");
  if (closed_) return;
  // Tasks still pending are destroyed, as Python's garbage collector would, and reported.
  std::vector<detail::TaskStateBase*> pending;
  for (auto* n = tasks_.sentinel()->next_; n != tasks_.sentinel(); n = n->next_) {
    auto* t = detail::TaskStateBase::owner_of(n);
    t->add_ref();
    pending.push_back(t);
  }
  for (auto* t : pending) {
    if (!t->done()) {
      call_exception_handler({"Task was destroyed but it is pending!", nullptr, t->get_name()});
      t->destroy_pending();
    }
  }
  for (auto* t : pending) t->release();
  while (auto* r = static_cast<detail::Runnable*>(ready_.pop_front())) r->run_(r, true);
  for (auto* t : timers_.take_all()) t->run_(t, true);
  for (auto& [fd, e] : fds_) {
    if (e.reader) e.reader->release();
    if (e.writer) e.writer->release();
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  }
  fds_.clear();
  io_watchers_ = 0;
  while (!sig_handlers_.empty()) remove_signal_handler(sig_handlers_.begin()->first);
  if (sig_pipe_[0] >= 0) {
    ::close(sig_pipe_[0]);
    ::close(sig_pipe_[1]);
    sig_pipe_[0] = sig_pipe_[1] = -1;
  }
  closed_ = true;
  inbox_->close();  // later posts (a worker finishing after this) are refused
  default_executor_.reset();
  ::close(epoll_fd_);
  wake_fd_ = epoll_fd_ = -1;
}

namespace detail {
inline thread_local std::shared_ptr<EventLoop> tl_event_loop;
}

inline EventLoop& get_running_loop() {
  if (!detail::tl_running_loop) throw RuntimeError("no running event loop");
  return *detail::tl_running_loop;
}
inline std::shared_ptr<EventLoop> new_event_loop() { return std::make_shared<EventLoop>(); }
inline void set_event_loop(std::shared_ptr<EventLoop> loop) { detail::tl_event_loop = std::move(loop); }
inline EventLoop& get_event_loop() {
  if (detail::tl_running_loop) return *detail::tl_running_loop;
  if (!detail::tl_event_loop) detail::tl_event_loop = new_event_loop();
  return *detail::tl_event_loop;
}

}  // namespace asyncio
