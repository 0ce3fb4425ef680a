// asyncio/subprocess.hpp — child processes with async pipes (Python's asyncio.subprocess).
//
//   std::vector<std::string> args{"-l"};
//   auto proc = co_await asyncio::create_subprocess_exec("ls", args, {.stdout = asyncio::PIPE});
//
// (GCC 12 miscompiles a braced list of strings written inside a co_await expression: build
// the argument vector first, as above. Clang accepts both.)
//   auto [out, err] = co_await proc.communicate();
//   int rc = co_await proc.wait();
//
// The child is started with posix_spawn; every fd of ours is close-on-exec, so only its
// stdin/stdout/stderr reach it. Its exit is watched through a pidfd (no SIGCHLD handler), and a
// Process dropped before its child exited hands the child to a reaper thread: no zombie remains.
// Like Python, SIGPIPE is ignored in this process once a subprocess is created (a write to a
// closed pipe then raises BrokenPipeError instead of killing us); the child gets default
// signal dispositions back.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "detail/reactor.hpp"
#include "detail/socket.hpp"
#include "events.hpp"
#include "streams.hpp"
#include "task.hpp"
#include "tasks.hpp"

extern char** environ;

namespace asyncio {

/// Special values for SubprocessOptions' stdin / stdout / stderr (Python's values). Any other
/// value >= 0 is a file descriptor to hand to the child; std::nullopt inherits ours.
inline constexpr int PIPE = -1;
inline constexpr int STDOUT = -2;
inline constexpr int DEVNULL = -3;

struct SubprocessOptions {
  std::optional<int> stdin = std::nullopt;
  std::optional<int> stdout = std::nullopt;
  std::optional<int> stderr = std::nullopt;
  std::size_t limit = DEFAULT_LIMIT;  // of the stdout/stderr StreamReaders
  const char* cwd = nullptr;          // working directory of the child (null: ours)
  // (kept trivially destructible on purpose: GCC 12 miscompiles a designated-initializer
  // temporary with non-trivial members inside a co_await expression)
};

namespace detail {
struct ProcState {
  EventLoop* loop = nullptr;
  std::uint64_t loop_id = 0;
  pid_t pid = -1;
  IoHandle io;  // the pidfd
  std::optional<int> returncode;
  List waiters;
  ProcState() = default;
  ProcState(const ProcState&) = delete;
  ~ProcState() {
    if (io.registered && find_loop(loop_id) == loop) loop->io_unregister(&io);
    if (io.fd >= 0) ::close(io.fd);
    if (!returncode && pid > 0) {
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == 0) {
        pid_t p = pid;  // still running: reap it in the background (Python's child watcher)
        std::thread([p] {
          int s = 0;
          while (::waitpid(p, &s, 0) < 0 && errno == EINTR) {
          }
        }).detach();
      }
    }
  }
  /// Reap if exited; true once the returncode is known.
  bool poll() {
    if (returncode) return true;
    int st = 0;
    pid_t r;
    do {
      r = ::waitpid(pid, &st, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return false;
    if (r < 0) {
      returncode = 255;  // already reaped by someone else (Python reports 255 too)
    } else if (WIFEXITED(st)) {
      returncode = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
      returncode = -WTERMSIG(st);
    } else {
      return false;
    }
    if (io.registered) loop->io_unregister(&io);
    wake_list(waiters);
    return true;
  }
};
}  // namespace detail

/// Python's asyncio.subprocess.Process. Movable; returncode()/pid() are methods (Python's
/// properties). stdin/stdout/stderr hold streams where PIPE was asked for.
class Process {
 public:
  std::optional<StreamWriter> stdin;
  std::optional<StreamReader> stdout;
  std::optional<StreamReader> stderr;

  int pid() const { return st_->pid; }
  /// The exit status once known (-N: killed by signal N), else std::nullopt.
  std::optional<int> returncode() const { return st_->returncode; }
  /// Wait for the child to exit and return its returncode.
  Task<int> wait();
  /// Send `input` to stdin (then close it), read stdout and stderr to EOF, wait for the exit.
  /// Returns {stdout, stderr} ("" for a stream that is not a PIPE).
  Task<std::pair<std::string, std::string>> communicate(std::string input = {});
  /// Signals; ProcessLookupError-free: a child already reaped is left alone (Python 3.11 too).
  void send_signal(int sig) {
    if (!st_->returncode) ::kill(st_->pid, sig);
  }
  void terminate() { send_signal(SIGTERM); }
  void kill() { send_signal(SIGKILL); }

  explicit Process(std::shared_ptr<detail::ProcState> st) : st_(std::move(st)) {}

 private:
  std::shared_ptr<detail::ProcState> st_;
};

/// Start `program` (searched in PATH) with `args`. Python's create_subprocess_exec.
inline Task<Process> create_subprocess_exec(std::string program, std::vector<std::string> args = {},
                                            SubprocessOptions opts = {});
/// Start `/bin/sh -c cmd`. Python's create_subprocess_shell.
inline Task<Process> create_subprocess_shell(std::string cmd, SubprocessOptions opts = {});

// ------------------------------------------------------------------------------ bodies
namespace detail {

class SpawnActions {
 public:
  SpawnActions() {
    ::posix_spawn_file_actions_init(&fa_);
    ::posix_spawnattr_init(&attr_);
  }
  ~SpawnActions() {
    ::posix_spawn_file_actions_destroy(&fa_);
    ::posix_spawnattr_destroy(&attr_);
    for (int fd : child_ends_) ::close(fd);
  }
  SpawnActions(const SpawnActions&) = delete;
  posix_spawn_file_actions_t fa_;
  posix_spawnattr_t attr_;
  std::vector<int> child_ends_;  // closed in the parent after the spawn
};

inline void ignore_sigpipe_once() {
  static const bool done = [] {
    struct sigaction old {};
    ::sigaction(SIGPIPE, nullptr, &old);
    if (old.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

inline Process spawn(const std::string& program, const std::vector<std::string>& args, const SubprocessOptions& o) {
  ignore_sigpipe_once();
  EventLoop& loop = get_running_loop();
  SpawnActions sa;
  FdGuard parent_end[3];
  const std::optional<int>* spec[3] = {&o.stdin, &o.stdout, &o.stderr};
  for (int i = 0; i < 3; ++i) {
    if (!*spec[i]) continue;
    int v = **spec[i];
    if (v == PIPE) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) < 0) throw_os_error(errno, "pipe2");
      int child = i == 0 ? p[0] : p[1];
      int parent = i == 0 ? p[1] : p[0];
      sa.child_ends_.push_back(child);
      parent_end[i].reset(parent);
      ::fcntl(parent, F_SETFL, ::fcntl(parent, F_GETFL) | O_NONBLOCK);
      ::posix_spawn_file_actions_adddup2(&sa.fa_, child, i);
    } else if (v == DEVNULL) {
      ::posix_spawn_file_actions_addopen(&sa.fa_, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    } else if (v == STDOUT) {
      if (i != 2) throw ValueError("STDOUT can only be used for stderr");
      ::posix_spawn_file_actions_adddup2(&sa.fa_, 1, 2);
    } else if (v >= 0) {
      ::posix_spawn_file_actions_adddup2(&sa.fa_, v, i);
    } else {
      throw ValueError("invalid value for stdin/stdout/stderr: " + std::to_string(v));
    }
  }
  if (o.cwd && *o.cwd) ::posix_spawn_file_actions_addchdir_np(&sa.fa_, o.cwd);
  // The child gets default dispositions and an empty mask (Python's restore_signals).
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  ::posix_spawnattr_setsigdefault(&sa.attr_, &all);
  ::posix_spawnattr_setsigmask(&sa.attr_, &none);
  ::posix_spawnattr_setflags(&sa.attr_, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, program.c_str(), &sa.fa_, &sa.attr_, argv.data(), environ);
  if (rc != 0) throw_os_error(rc, "'" + program + "'");
  auto st = std::make_shared<ProcState>();
  st->loop = &loop;
  st->loop_id = loop.id();
  st->pid = pid;
  int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pfd >= 0) {
    st->io.fd = pfd;
    loop.io_register(&st->io);
  }
  Process p(st);
  if (parent_end[0].get() >= 0) {
    auto* s = new StreamState(&loop, parent_end[0].get(), false, o.limit);
    parent_end[0].release();
    p.stdin = StreamWriter(s);
  }
  if (parent_end[1].get() >= 0) {
    auto* s = new StreamState(&loop, parent_end[1].get(), false, o.limit);
    parent_end[1].release();
    p.stdout = StreamReader(s);
  }
  if (parent_end[2].get() >= 0) {
    auto* s = new StreamState(&loop, parent_end[2].get(), false, o.limit);
    parent_end[2].release();
    p.stderr = StreamReader(s);
  }
  return p;
}

inline Task<std::string> read_all(std::optional<StreamReader> r) {
  if (!r) co_return std::string();
  std::string s = co_await r->read();
  co_return s;
}
}  // namespace detail

namespace detail {
struct SpawnRequest {
  std::string program;
  std::vector<std::string> args;
  SubprocessOptions opts;
};
// The request travels as a unique_ptr: GCC 12 miscompiles a by-value aggregate coroutine
// parameter with non-trivial members (DESIGN.md 4b), which SubprocessOptions would be.
inline Task<Process> spawn_task(std::unique_ptr<SpawnRequest> r) {
  co_return spawn(r->program, r->args, r->opts);
}
}  // namespace detail

inline Task<Process> create_subprocess_exec(std::string program, std::vector<std::string> args, SubprocessOptions opts) {
  return detail::spawn_task(std::unique_ptr<detail::SpawnRequest>(
      new detail::SpawnRequest{std::move(program), std::move(args), std::move(opts)}));
}
inline Task<Process> create_subprocess_shell(std::string cmd, SubprocessOptions opts) {
  std::vector<std::string> args{"-c", std::move(cmd)};
  return create_subprocess_exec("/bin/sh", std::move(args), std::move(opts));
}

inline Task<int> Process::wait() {
  std::shared_ptr<detail::ProcState> st = st_;
  while (!st->poll()) {
    if (st->io.fd >= 0 && !st->io.reader) {
      detail::IoWait w(st->loop, &st->io, false);
      co_await w;
    } else if (st->io.fd >= 0) {
      detail::ListWaitAwaiter w{&st->waiters, false, "Process.wait()"};
      co_await w;
    } else {
      co_await sleep(0.01);  // no pidfd (old kernel): poll
    }
  }
  co_return *st->returncode;
}

inline Task<std::pair<std::string, std::string>> Process::communicate(std::string input) {
  auto out = create_task(detail::read_all(stdout));
  auto err = create_task(detail::read_all(stderr));
  if (stdin) {
    StreamWriter w = *stdin;
    if (!input.empty()) {
      w.write(input);
      std::exception_ptr e;
      try {
        co_await w.drain();
      } catch (const std::exception&) {
        e = std::current_exception();  // BrokenPipe / ConnectionReset: the child stopped reading
      }
      (void)e;
    }
    w.close();
  }
  std::string o = co_await out;
  std::string r = co_await err;
  co_await wait();
  co_return std::pair<std::string, std::string>{std::move(o), std::move(r)};
}

}  // namespace asyncio
