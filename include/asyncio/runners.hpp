// asyncio/runners.hpp — asyncio.run() and asyncio.Runner.
#pragma once

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "detail/wait.hpp"
#include "events.hpp"
#include "graph.hpp"
#include "tasks.hpp"

namespace asyncio {

/// Options of run() / Runner. Environment variables ASYNCIO_DEBUG=1 and ASYNCIO_VIRTUAL_TIME=1
/// switch the same things on.
struct RunOptions {
  /// Debug mode (never-awaited and slow-callback reports). Unset: ASYNCIO_DEBUG decides; set,
  /// it wins either way (Python's asyncio.run(debug=None | True | False)).
  std::optional<bool> debug = std::nullopt;
  bool virtual_time = false;  // virtual clock (testing.hpp): sleeps finish at once
  /// A signal (e.g. SIGUSR1) on which the loop prints pstree() (graph.hpp) to stderr at its next
  /// iteration: `kill -USR1 <pid>` shows where every task is. 0: none, unless the environment
  /// says ASYNCIO_DUMP_SIGNAL=USR1 (a name without SIG, or a number).
  int dump_signal = 0;
};

/// Options of Runner (Python 3.11's Runner(debug=None, loop_factory=None)).
struct RunnerOptions {
  /// Makes the runner's loop (default: a new EventLoop honouring the environment).
  std::function<std::shared_ptr<EventLoop>()> loop_factory = {};
  /// Set on the loop when given, either way (overrides ASYNCIO_DEBUG); unset leaves the loop's.
  std::optional<bool> debug = std::nullopt;
};

namespace detail {
/// ASYNCIO_DUMP_SIGNAL: "USR1", "SIGUSR1" or a number; 0 when unset or unknown.
inline int dump_signal_from_env() {
  const char* v = std::getenv("ASYNCIO_DUMP_SIGNAL");
  if (!v || !*v) return 0;
  std::string s = v;
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  if (s == "USR1") return SIGUSR1;
  if (s == "USR2") return SIGUSR2;
  if (s == "HUP") return SIGHUP;
  if (s == "QUIT") return SIGQUIT;
  if (s == "WINCH") return SIGWINCH;
  char* end = nullptr;
  long n = std::strtol(s.c_str(), &end, 10);
  return end && *end == '\0' && n > 0 && n < NSIG ? static_cast<int>(n) : 0;
}
inline Task<void> wait_all(std::vector<TaskPtr> tasks) {
  std::vector<TaskStateBase*> v;
  for (auto& t : tasks) v.push_back(t.get());
  MultiWait w(std::move(v), MultiWait::Mode::AllCompleted);
  co_await w;
}
/// Python's runners._cancel_all_tasks: cancel what is left, wait for it, report failures.
inline void cancel_all_tasks(EventLoop& loop) {
  std::vector<TaskPtr> pending;
  const auto& lst = loop.live_tasks();
  for (auto* n = lst.sentinel()->next_; n != lst.sentinel(); n = n->next_) {
    auto* t = TaskStateBase::owner_of(n);
    if (!t->done()) pending.emplace_back(t);
  }
  if (pending.empty()) return;
  for (auto& t : pending) t->cancel();
  loop.run_until_complete(wait_all(pending));
  for (auto& t : pending) {
    if (t->cancelled()) continue;
    if (auto e = t->exception())
      loop.call_exception_handler({"unhandled exception during asyncio.run() shutdown", e, t->get_name()});
  }
}
}  // namespace detail

/// Runs coroutines on one loop, several times (Python 3.11's asyncio.Runner). close() cancels
/// and awaits what is still pending, shuts the default executor down and closes the loop; the
/// destructor calls it.
class Runner {
 public:
  Runner() : Runner(RunOptions{}) {}
  explicit Runner(RunOptions opts) : opts_(opts) {}
  explicit Runner(RunnerOptions opts) : factory_(std::move(opts.loop_factory)), debug_(opts.debug) {}
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  ~Runner() {
    try {
      close();
    } catch (...) {
    }
  }

  /// Run `coro` as a task until it is done; return its result or rethrow its exception.
  template <class T>
  T run(Task<T> coro) {
    if (detail::tl_running_loop) throw RuntimeError("Runner.run() cannot be called from a running event loop");
    lazy_init();
    auto h = loop_->create_task(std::move(coro));
    // Python 3.11: on the main thread, with SIGINT at its default disposition, the first Ctrl-C
    // cancels the main task (run then raises KeyboardInterrupt) and a second one stops the
    // process at once (the default action is restored and the signal re-raised).
    struct sigaction cur {};
    ::sigaction(SIGINT, nullptr, &cur);
    bool sigint = ::getpid() == static_cast<pid_t>(::syscall(SYS_gettid)) && cur.sa_handler == SIG_DFL &&
                  !detail::g_sigint_armed.load();
    bool interrupted = false;
    if (sigint) {
      detail::g_sigint_count = 0;
      detail::g_sigint_armed = true;
      loop_->add_signal_handler(SIGINT, [h, &interrupted]() mutable {
        if (!h.done()) {
          interrupted = true;
          h.cancel();
        }
      });
    }
    SigintGuard guard{sigint ? loop_.get() : nullptr};
    try {
      // (The task is this call's own: its result is moved out, not copied.)
      return loop_->run_until_complete_impl(h, true);
    } catch (const CancelledError&) {
      if (interrupted && h.uncancel() == 0) throw KeyboardInterrupt();
      throw;
    }
  }
  void close() {
    if (state_ != State::Initialized) {
      state_ = State::Closed;
      return;
    }
    state_ = State::Closed;
    struct Finally {
      Runner* r;
      ~Finally() {
        if (detail::tl_event_loop == r->loop_) set_event_loop(nullptr);
        r->loop_->close();  // (kept: get_loop()'s reference stays askable, e.g. is_closed())
      }
    } fin{this};
    detail::cancel_all_tasks(*loop_);
    if (auto ex = loop_->take_default_executor()) ex->shutdown(true);
    if (dump_signal_) loop_->remove_signal_handler(dump_signal_);
  }
  /// The runner's loop (created on first use). RuntimeError("Runner is closed") after close(),
  /// but a reference taken before stays valid (the closed loop lives as long as the Runner).
  EventLoop& get_loop() {
    lazy_init();
    return *loop_;
  }

 private:
  struct SigintGuard {
    EventLoop* loop;
    ~SigintGuard() {
      if (!loop) return;
      loop->remove_signal_handler(SIGINT);
      detail::g_sigint_armed = false;
    }
  };
  enum class State { Initial, Initialized, Closed };
  void lazy_init() {
    if (state_ == State::Closed) throw RuntimeError("Runner is closed");
    if (state_ == State::Initialized) return;
    if (factory_) {
      loop_ = factory_();
      if (!loop_) throw RuntimeError("Runner: loop_factory returned no loop");
    } else {
      loop_ = std::make_shared<EventLoop>(EventLoop::Options{opts_.debug.value_or(false), opts_.virtual_time});
      if (opts_.debug) loop_->set_debug(*opts_.debug);
    }
    if (debug_) loop_->set_debug(*debug_);
    dump_signal_ = opts_.dump_signal ? opts_.dump_signal : detail::dump_signal_from_env();
    if (dump_signal_)
      loop_->add_signal_handler(dump_signal_, [] {
        std::string tree = pstree();
        std::fprintf(stderr, "asyncio: pstree of pid %d\n%s", static_cast<int>(::getpid()), tree.c_str());
        std::fflush(stderr);
      });
    set_event_loop(loop_);
    state_ = State::Initialized;
  }
  int dump_signal_ = 0;
  RunOptions opts_;
  std::function<std::shared_ptr<EventLoop>()> factory_;
  std::optional<bool> debug_;
  std::shared_ptr<EventLoop> loop_;
  State state_ = State::Initial;
};

/// Python's asyncio.run(): a new loop runs `main`; then every task still pending is cancelled
/// and awaited, the default executor is shut down and the loop closed. Returns main's result or
/// rethrows its exception. RuntimeError if a loop is already running on this thread.
template <class T>
T run(Task<T> main, RunOptions opts = {}) {
  if (detail::tl_running_loop) throw RuntimeError("asyncio.run() cannot be called from a running event loop");
  if (!main.valid()) detail::throw_empty_task();
  Runner runner(opts);
  if constexpr (std::is_void_v<T>) {
    runner.run(std::move(main));
    runner.close();
  } else {
    T r = runner.run(std::move(main));
    runner.close();
    return r;
  }
}

}  // namespace asyncio
