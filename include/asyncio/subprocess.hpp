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
// stdin/stdout/stderr reach it. Its exit is watched through a pidfd (no SIGCHLD handler): the
// loop reaps it when the pidfd reports the exit, waiters or not; a Process dropped before its child exited hands the
// child to a reaper thread: no zombie remains. (Without a pidfd — an old kernel, or no fd left
// for it — wait() polls every 10 ms.)
// Like Python, SIGPIPE is ignored in this process once a subprocess is created (a write to a
// closed pipe then raises BrokenPipeError instead of killing us); the child gets default
// signal dispositions back.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <pwd.h>
#include <grp.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
  /// The child's environment, "NAME=value" entries (null: ours). Replaces ours, as Python's
  /// env=; with env_extend, the entries are added to ours instead (overriding equal names).
  const std::vector<std::string>* env = nullptr;
  bool env_extend = false;
  /// Python's start_new_session: the child calls setsid() (a new session and process group).
  bool start_new_session = false;
  /// Python 3.11's process_group: the child joins process group N (0: a new group, its pid).
  std::optional<int> process_group = std::nullopt;
  /// Python's pass_fds: these descriptors of ours stay open in the child, at the same numbers.
  const std::vector<int>* pass_fds = nullptr;
  /// Python's close_fds (default true): the child gets no descriptor of ours but 0-2 and
  /// pass_fds, even one opened without O_CLOEXEC by another library. False lets such ones through.
  bool close_fds = true;
  /// Python's user= / group= / extra_groups= (a name, or a number as text: "nobody", "65534"):
  /// the child runs with these ids (setreuid / setregid / setgroups), which needs privileges
  /// (PermissionError from the child otherwise). KeyError (std::out_of_range) for an unknown name.
  const char* user = nullptr;
  const char* group = nullptr;
  const std::vector<std::string>* extra_groups = nullptr;
  /// Python's umask= (-1: the child keeps ours).
  int umask = -1;
  // (Kept trivially destructible on purpose — the vectors are pointers to the caller's: GCC 12
  // miscompiles a designated-initializer temporary with non-trivial members inside a co_await
  // expression. A child with user/group/extra_groups/umask is started by fork + exec, as
  // Python's own, since posix_spawn cannot set them; every other child by posix_spawn.)
};

namespace detail {
/// The child's state, shared by its Process handles and their wait() frames. While the child
/// runs, its pidfd's reader slot is this object: the loop reaps the child at the exit edge
/// (Python's child watcher), sets returncode and wakes every wait(), whichever task asked first.
struct ProcState : IoSlot {
  EventLoop* loop = nullptr;
  std::uint64_t loop_id = 0;
  pid_t pid = -1;
  IoHandle io;  // the pidfd
  std::optional<int> returncode;
  List waiters;          // ProcWait nodes of the tasks suspended in wait()
  int waiting = 0;       // tasks in wait(): one io_wait_begin() while any (virtual time must
                         // not jump past a child's exit)
  ProcState() noexcept { ready = &ProcState::exited; }
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
  /// Watch the pidfd (after io_register): exited() runs at the exit edge, waiters or not.
  void watch() noexcept { io.reader = this; }
  /// A task enters / leaves wait().
  void count() noexcept {
    if (waiting++ == 0) loop->io_wait_begin();
  }
  void uncount() noexcept {
    if (--waiting == 0) loop->io_wait_end();
  }
  /// count() for a scope (wait() polling without a pidfd).
  struct Counted {
    ProcState* st;
    explicit Counted(ProcState* s) noexcept : st(s) { st->count(); }
    Counted(const Counted&) = delete;
    ~Counted() { st->uncount(); }
  };
  /// Reap if exited; true once the returncode is known. Reaping closes the pidfd and wakes
  /// every waiter.
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
    if (io.reader == this) io.reader = nullptr;
    if (io.registered) loop->io_unregister(&io);
    if (io.fd >= 0) ::close(std::exchange(io.fd, -1));
    wake_waiters();
    return true;
  }
  void wake_waiters() noexcept;
  static void exited(IoSlot* s) noexcept {
    auto* self = static_cast<ProcState*>(s);
    if (!self->poll() && self->io.registered) self->watch();  // (not reapable yet: next edge)
  }
};

/// A task suspended in Process::wait(). Cancelling it unlinks it alone: the other waiters, and
/// the watch on the pidfd, stay.
struct ProcWait final : Waiter, ListNode {
  ProcState* st;
  TaskStateBase* task = nullptr;
  bool cancelled = false;
  explicit ProcWait(ProcState* s) noexcept : st(s) {}
  ProcWait(const ProcWait&) = delete;
  ~ProcWait() { leave(); }
  bool await_ready() const noexcept { return st->returncode.has_value(); }
  void await_suspend(std::coroutine_handle<> h) {
    task = &require_task("Process.wait()");
    st->waiters.push_back(this);
    st->count();
    task->suspend_on(this, h);
  }
  void await_resume() {
    if (!task) return;
    if (cancelled) task->throw_cancelled();
    task->check_cancel();
  }
  void describe(std::string& out, double) const override { out += "Process.wait(), pid " + std::to_string(st->pid); }
  bool cancel() noexcept override {
    if (!linked()) return false;
    leave();
    cancelled = true;
    task->wake();
    return true;
  }
  void leave() noexcept {
    if (!linked()) return;
    unlink();
    st->uncount();
  }
};
inline void ProcState::wake_waiters() noexcept {
  while (auto* w = static_cast<ProcWait*>(waiters.pop_front())) {
    uncount();
    w->task->wake();
  }
}
}  // namespace detail

/// Python's asyncio.subprocess.Process. Movable; returncode()/pid() are methods (Python's
/// properties). stdin/stdout/stderr hold streams where PIPE was asked for.
class Process {
 public:
  std::optional<StreamWriter> stdin;
  std::optional<StreamReader> stdout;
  std::optional<StreamReader> stderr;

  int pid() const { return st_->pid; }
  /// The exit status once known (-N: killed by signal N), else std::nullopt. Set by the loop
  /// when the child exits, before any wait() resumes (as Python's child watcher does).
  std::optional<int> returncode() const { return st_->returncode; }
  /// Wait for the child to exit and return its returncode. Any number of tasks may wait; one
  /// cancelled (before or after the exit) leaves the others waiting / getting the code.
  Task<int> wait();
  /// Send `input` to stdin (then close it), read stdout and stderr to EOF, wait for the exit.
  /// Returns {stdout, stderr} ("" for a stream that is not a PIPE). As Python's, it gathers one
  /// task per stream; cancelled (or timed out) it cancels them and returns once they are done:
  /// what they had read is lost, and a later communicate() returns the rest.
  Task<std::pair<std::string, std::string>> communicate(std::string input = {});
  /// Signals. ProcessLookupError once the child's exit is known (returncode() set), as in
  /// Python: its pid may belong to another process by then, so it is never signalled.
  void send_signal(int sig) {
    if (st_->returncode)
      throw ProcessLookupError("process " + std::to_string(st_->pid) + " has already exited (returncode " +
                               std::to_string(*st_->returncode) + ")");
    ::kill(st_->pid, sig);
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
  // Each file action goes both to posix_spawn's list and to ops_, which a forked child replays
  // (the fork path: user/group/umask).
  void dup2(int from, int to) {
    ::posix_spawn_file_actions_adddup2(&fa_, from, to);
    ops_.push_back({Op::Dup2, from, to});
  }
  void open_devnull(int fd, int flags) {
    ::posix_spawn_file_actions_addopen(&fa_, fd, "/dev/null", flags, 0);
    ops_.push_back({Op::DevNull, fd, flags});
  }
  void chdir(const char* path) {
    ::posix_spawn_file_actions_addchdir_np(&fa_, path);
    ops_.push_back({Op::Chdir, 0, 0, path});
  }
  void close(int fd) {
    ::posix_spawn_file_actions_addclose(&fa_, fd);
    ops_.push_back({Op::Close, fd, 0});
  }
  void closefrom(int fd) {
    ::posix_spawn_file_actions_addclosefrom_np(&fa_, fd);
    ops_.push_back({Op::CloseFrom, fd, 0});
  }
  /// In a forked child: the file actions, as posix_spawn performs them, but leaving `keep` open
  /// (the pipe that reports an error to the parent); false on an error (errno). Only
  /// async-signal-safe calls (the child of a process that may have threads).
  bool replay(int keep) const noexcept {
    for (const ChildOp& op : ops_) {
      int r = 0;
      switch (op.kind) {
        case Op::Dup2:  // to itself: keep it open across exec, as posix_spawn's adddup2 does
          r = op.a == op.b ? ::fcntl(op.b, F_SETFD, 0) : ::dup2(op.a, op.b);
          break;
        case Op::DevNull: {
          int fd = ::open("/dev/null", op.b);
          if (fd < 0) return false;
          if (fd != op.a) {
            r = ::dup2(fd, op.a);
            ::close(fd);
          }
          break;
        }
        case Op::Chdir: r = ::chdir(op.path); break;
        case Op::Close:
          if (op.a != keep) ::close(op.a);
          break;
        case Op::CloseFrom:
          if (keep >= op.a) {
            if (keep > op.a) r = static_cast<int>(::syscall(SYS_close_range, op.a, keep - 1, 0));
            if (r == 0) r = static_cast<int>(::syscall(SYS_close_range, keep + 1, ~0U, 0));
          } else {
            r = static_cast<int>(::syscall(SYS_close_range, op.a, ~0U, 0));
          }
          break;
      }
      if (r < 0) return false;
    }
    return true;
  }
  posix_spawn_file_actions_t fa_;
  posix_spawnattr_t attr_;
  std::vector<int> child_ends_;  // closed in the parent after the spawn

 private:
  enum class Op { Dup2, DevNull, Chdir, Close, CloseFrom };
  struct ChildOp {
    Op kind;
    int a, b;
    const char* path = nullptr;
  };
  std::vector<ChildOp> ops_;
};

/// Python's user= / group=: a name (getpwnam / getgrnam) or a number as text.
inline unsigned resolve_id(const char* v, bool group) {
  std::string s = v;
  if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return static_cast<unsigned>(std::stoul(s));
  if (group) {
    if (const ::group* g = ::getgrnam(v)) return g->gr_gid;
    throw std::out_of_range("KeyError: \"getgrnam(): name not found: '" + s + "'\"");
  }
  if (const ::passwd* p = ::getpwnam(v)) return p->pw_uid;
  throw std::out_of_range("KeyError: \"getpwnam(): name not found: '" + s + "'\"");
}

/// The fork + exec path (user, group, extra_groups, umask): the child sets up as posix_spawn
/// would, switches ids, and execs; an error there comes back through a close-on-exec pipe as
/// its errno, raised here as Python's _posixsubprocess does.
inline pid_t fork_exec(const std::string& program, char* const* argv, char* const* envp, const SpawnActions& sa,
                       const SubprocessOptions& o) {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::vector<gid_t> groups;
  if (o.user) uid = resolve_id(o.user, false);
  if (o.group) gid = resolve_id(o.group, true);
  if (o.extra_groups)
    for (const std::string& g : *o.extra_groups) groups.push_back(resolve_id(g.c_str(), true));
  int errpipe[2];
  if (::pipe2(errpipe, O_CLOEXEC) < 0) throw_os_error(errno, "pipe2");
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(errpipe[0]);
    ::close(errpipe[1]);
    throw_os_error(e, "fork");
  }
  if (pid == 0) {  // the child: async-signal-safe calls only, then exec or _exit
    ::close(errpipe[0]);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    bool ok = true;
    if (o.start_new_session) ok = ::setsid() >= 0;
    if (ok && o.process_group) ok = ::setpgid(0, *o.process_group) == 0;
    ok = ok && sa.replay(errpipe[1]);
    if (ok && o.umask >= 0) ::umask(static_cast<mode_t>(o.umask));
    if (ok && o.extra_groups) ok = ::setgroups(groups.size(), groups.data()) == 0;
    if (ok && gid) ok = ::setregid(*gid, *gid) == 0;
    if (ok && uid) ok = ::setreuid(*uid, *uid) == 0;
    if (ok) ::execvpe(program.c_str(), argv, envp);
    int e = errno;
    ssize_t w = ::write(errpipe[1], &e, sizeof e);
    (void)w;
    ::_exit(127);
  }
  ::close(errpipe[1]);
  int e = 0;
  ssize_t n;
  do {
    n = ::read(errpipe[0], &e, sizeof e);  // 0 (EOF) once the exec closed the pipe
  } while (n < 0 && errno == EINTR);
  ::close(errpipe[0]);
  if (n == static_cast<ssize_t>(sizeof e)) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    raise_file_error(e, "'" + program + "'");
  }
  return pid;
}

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
      sa.dup2(child, i);
    } else if (v == DEVNULL) {
      sa.open_devnull(i, i == 0 ? O_RDONLY : O_WRONLY);
    } else if (v == STDOUT) {
      if (i != 2) throw ValueError("STDOUT can only be used for stderr");
      sa.dup2(1, 2);
    } else if (v >= 0) {
      sa.dup2(v, i);
    } else {
      throw ValueError("invalid value for stdin/stdout/stderr: " + std::to_string(v));
    }
  }
  if (o.cwd && *o.cwd) sa.chdir(o.cwd);
  // pass_fds: dup2(fd, fd) clears the descriptor's close-on-exec flag in the child (glibc >= 2.29).
  std::vector<int> keep;
  if (o.pass_fds)
    for (int fd : *o.pass_fds) {
      if (fd < 3 || ::fcntl(fd, F_GETFD) < 0) throw ValueError("bad value(s) in pass_fds: " + std::to_string(fd));
      keep.push_back(fd);
      sa.dup2(fd, fd);
    }
  if (o.close_fds) {
    // Close every descriptor above 2 but pass_fds: the open ones below the highest kept one
    // one by one (found now), the rest at once.
    std::sort(keep.begin(), keep.end());
    int top = keep.empty() ? 2 : keep.back();
    for (int fd = 3; fd < top; ++fd)
      if (!std::binary_search(keep.begin(), keep.end(), fd) && ::fcntl(fd, F_GETFD) >= 0 &&
          std::find(sa.child_ends_.begin(), sa.child_ends_.end(), fd) == sa.child_ends_.end())
        sa.close(fd);
    sa.closefrom(top + 1);
  }
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (o.start_new_session) flags |= POSIX_SPAWN_SETSID;
  if (o.process_group) {
    if (*o.process_group < 0) throw ValueError("process_group must be >= 0");
    flags |= POSIX_SPAWN_SETPGROUP;
    ::posix_spawnattr_setpgroup(&sa.attr_, *o.process_group);
  }
  std::vector<std::string> env_store;
  std::vector<char*> envp;
  if (o.env) {
    auto name_of = [](const std::string& e) { return e.substr(0, e.find('=')); };
    for (const std::string& e : *o.env)
      if (e.find('=') == std::string::npos || e.find('=') == 0)
        throw ValueError("env entries are NAME=value: '" + e + "'");
    if (o.env_extend)
      for (char** p = environ; *p; ++p) {
        std::string e = *p;
        bool overridden = false;
        for (const std::string& x : *o.env) overridden = overridden || name_of(x) == name_of(e);
        if (!overridden) env_store.push_back(std::move(e));
      }
    for (const std::string& e : *o.env) env_store.push_back(e);
    for (std::string& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
  // The child gets default dispositions and an empty mask (Python's restore_signals).
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  ::posix_spawnattr_setsigdefault(&sa.attr_, &all);
  ::posix_spawnattr_setsigmask(&sa.attr_, &none);
  ::posix_spawnattr_setflags(&sa.attr_, flags);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (o.user || o.group || o.extra_groups || o.umask >= 0) {
    pid = fork_exec(program, argv.data(), o.env ? envp.data() : environ, sa, o);
  } else {
    int rc = ::posix_spawnp(&pid, program.c_str(), &sa.fa_, &sa.attr_, argv.data(), o.env ? envp.data() : environ);
    if (rc != 0) raise_file_error(rc, "'" + program + "'");  // FileNotFoundError, PermissionError, ... as Python's
  }
  auto st = std::make_shared<ProcState>();
  st->loop = &loop;
  st->loop_id = loop.id();
  st->pid = pid;
  int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pfd >= 0) {
    st->io.fd = pfd;
    loop.io_register(&st->io);
    st->watch();
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

}  // namespace detail

namespace detail {
struct SpawnRequest {
  std::string program;
  std::vector<std::string> args;
  SubprocessOptions opts;
};
// The request travels as a unique_ptr: GCC 12 miscompiles a by-value aggregate coroutine
// parameter with non-trivial members (DESIGN.md 4b), which SubprocessOptions would be.
// As Python's, creating the process spans a loop iteration after the spawn (Python's pipes
// connect as transports there), and a cancel that lands in it kills the child and waits for
// its exit before the CancelledError goes on: a cancelled creation leaves no child behind.
inline Task<Process> spawn_task(std::unique_ptr<SpawnRequest> r) {
  Process p = spawn(r->program, r->args, r->opts);
  bool cancelled = false;
  std::string msg;
  try {
    co_await sleep(0);
  } catch (const CancelledError& e) {
    cancelled = true;
    msg = e.message();
  }
  if (cancelled) {
    if (!p.returncode()) p.kill();
    co_await p.wait();
    throw CancelledError(msg);
  }
  co_return p;
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
    if (st->io.registered) {
      detail::ProcWait w(st.get());
      co_await w;
    } else {
      // No pidfd (old kernel, or no fd left for it): poll, counted as waiting on I/O as the
      // pidfd wait is (virtual time must not jump past the child's real exit).
      detail::ProcState::Counted c(st.get());
      co_await sleep(0.01);
    }
  }
  co_return *st->returncode;
}

namespace detail {
// communicate()'s children, as Python's _feed_stdin / _read_stream.
inline Task<void> feed_stdin(std::optional<StreamWriter> w, std::string input) {
  if (!w) co_return;
  if (!input.empty()) {
    w->write(input);
    try {
      co_await w->drain();
    } catch (const BrokenPipeError&) {  // the child stopped reading: ignored, as in Python
    } catch (const ConnectionResetError&) {
    }
  }
  w->close();
}
// Python's StreamReader.read(-1): blocks of `limit` bytes gathered here until EOF, so a
// cancelled read loses what it had taken (as in Python) and a later read goes on from there.
inline Task<std::string> read_stream(std::optional<StreamReader> r) {
  std::string all;
  if (!r) co_return all;
  const auto limit = std::max<long long>(1, static_cast<long long>(r->limit()));
  for (;;) {
    std::string block = co_await r->read(limit);
    if (block.empty()) break;
    all += block;
  }
  co_return all;
}
}  // namespace detail

inline Task<std::pair<std::string, std::string>> Process::communicate(std::string input) {
  Task<void> feed = detail::feed_stdin(stdin, std::move(input));
  Task<std::string> out = detail::read_stream(stdout);
  Task<std::string> err = detail::read_stream(stderr);
  auto all = gather(std::move(feed), std::move(out), std::move(err));
  auto res = co_await std::move(all);
  co_await wait();
  co_return std::pair<std::string, std::string>{std::move(std::get<1>(res)), std::move(std::get<2>(res))};
}

}  // namespace asyncio
