// Fault suite, subprocess: several tasks in wait() with cancellations at every point, communicate()
// cancelled or timed out (with a grandchild holding the pipe), a child killed mid-communicate, a
// read cancelled on a pipe, fd exhaustion at spawn. Each case's expected values are what CPython
// 3.11 prints for the same scenario (asyncio.subprocess, shown in the comments). (No co_await
// inside CHECK(...): GCC 12 miscompiles a co_await in a call's arguments, README "GCC 12".)
#include <asyncio/asyncio.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "catch.hpp"
#include "io_helpers.hpp"

namespace {
asyncio::Task<int> waiter(asyncio::Process p) {
  int rc = co_await p.wait();
  co_return rc;
}
bool reaped(int pid) {
  int st = 0;
  return ::waitpid(pid, &st, WNOHANG) < 0 && errno == ECHILD;
}
template <class H>
bool ends_cancelled(H& t) {
  return t.done() && t.cancelled();
}
std::size_t pending_tasks() { return asyncio::testing::pending_task_count(asyncio::get_running_loop()); }
// A child that exits with `code` once its stdin closes (the test decides when it dies).
asyncio::Task<asyncio::Process> gated_child(int code) {
  std::string cmd = "read x; exit " + std::to_string(code);
  auto p = co_await asyncio::create_subprocess_shell(cmd, {.stdin = asyncio::PIPE});
  co_return p;
}
// Fill the fd table (RLIMIT_NOFILE lowered to what is open, the holes below it dup'ed), then give
// `free` slots back; restore_fd_table undoes it.
void fill_fd_table(std::vector<int>& hog, const rlimit& old, int free) {
  rlimit low = old;
  low.rlim_cur = open_fd_count() + 1;
  ::setrlimit(RLIMIT_NOFILE, &low);
  for (int fd; (fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0)) >= 0;) hog.push_back(fd);
  for (int i = 0; i < free && !hog.empty(); ++i) {
    ::close(hog.back());
    hog.pop_back();
  }
}
void restore_fd_table(std::vector<int>& hog, const rlimit& old) {
  for (int fd : hog) ::close(fd);
  hog.clear();
  ::setrlimit(RLIMIT_NOFILE, &old);
}
}  // namespace

// Issue 13 item 7. Python: A1 cancelled, A2 rc 0.
TEST_CASE("two tasks in wait(), the first cancelled while the child runs: the second gets the code") {
  std::size_t fds = open_fd_count();
  asyncio::run([]() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    {
      auto p = co_await gated_child(7);
      auto t1 = asyncio::create_task(waiter(p));
      auto t2 = asyncio::create_task(waiter(p));
      co_await asyncio::sleep(0);
      CHECK(loop.io_waiter_count() == 1);
      t1.cancel();
      try {
        co_await t1;
      } catch (const asyncio::CancelledError&) {
      }
      CHECK(ends_cancelled(t1));
      CHECK(loop.io_waiter_count() == 1);  // t2 still waits on the pidfd
      p.stdin->close();                    // the child exits
      int rc = -1;
      try {
        rc = co_await asyncio::wait_for(t2, 2.0);
      } catch (const asyncio::TimeoutError&) {
        FAIL_CHECK("the second wait() never returned");
      }
      CHECK(rc == 7);
      CHECK(p.returncode() == 7);
      CHECK(reaped(p.pid()));
      CHECK(loop.io_waiter_count() == 0);
      CHECK(asyncio::testing::timer_count(loop) == 0);
      CHECK(pending_tasks() == 1);
    }
  }());
  CHECK(open_fd_count() == fds);
}

// Python: B1 rc 0, B2 rc 0.
TEST_CASE("three tasks in wait(): all get the code; a wait() after the exit returns it at once") {
  asyncio::run([]() -> asyncio::Task<> {
    auto p = co_await gated_child(5);
    auto t1 = asyncio::create_task(waiter(p));
    auto t2 = asyncio::create_task(waiter(p));
    auto t3 = asyncio::create_task(waiter(p));
    co_await asyncio::sleep(0);
    p.stdin->close();
    auto all = asyncio::gather(t1, t2, t3);
    auto [a, b, c] = co_await asyncio::wait_for(std::move(all), 2.0);
    CHECK(a == 5);
    CHECK(b == 5);
    CHECK(c == 5);
    int again = co_await p.wait();
    CHECK(again == 5);
    CHECK(asyncio::get_running_loop().io_waiter_count() == 0);
  }());
}

// The exit is seen (returncode set, both waiters woken) before either waiter resumes; the first is
// then cancelled. Python: returncode set and t1 not done; C1 cancelled, C2 rc 0.
TEST_CASE("a waiter cancelled after the child died (woken, not yet resumed): the other gets the code") {
  asyncio::run([]() -> asyncio::Task<> {
    auto p = co_await gated_child(4);
    auto t1 = asyncio::create_task(waiter(p));
    auto t2 = asyncio::create_task(waiter(p));
    co_await asyncio::sleep(0);
    p.stdin->close();
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!p.returncode() && !t1.done() && std::chrono::steady_clock::now() < until) co_await asyncio::sleep(0);
    CHECK(p.returncode() == 4);
    CHECK_FALSE(t1.done());
    t1.cancel();
    int rc = -1;
    try {
      rc = co_await asyncio::wait_for(t2, 2.0);
    } catch (const asyncio::TimeoutError&) {
      FAIL_CHECK("the second wait() never returned");
    }
    CHECK(rc == 4);
    try {
      co_await t1;
    } catch (const asyncio::CancelledError&) {
    }
    CHECK(ends_cancelled(t1));
    CHECK(asyncio::get_running_loop().io_waiter_count() == 0);
  }());
}

// Python: D timeout, D 0.
TEST_CASE("wait() timed out by wait_for, then wait() again; a lone waiter cancelled leaks nothing") {
  std::size_t fds = open_fd_count();
  int pid = 0;
  asyncio::run([&]() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    const std::size_t loop_fds = open_fd_count();
    {
      auto p = co_await gated_child(2);
      bool timed_out = false;
      try {
        co_await asyncio::wait_for(p.wait(), 0.05);
      } catch (const asyncio::TimeoutError&) {
        timed_out = true;
      }
      CHECK(timed_out);
      CHECK(loop.io_waiter_count() == 0);
      CHECK(asyncio::testing::timer_count(loop) == 0);
      p.stdin->close();
      int rc = co_await asyncio::wait_for(p.wait(), 2.0);
      CHECK(rc == 2);
    }
    {
      // Cancelled while the child runs, no other waiter; then the Process is dropped with the
      // child still running: no waiter, timer, task or fd (pipe, pidfd) is left behind.
      auto p = co_await gated_child(0);
      pid = p.pid();
      auto t = asyncio::create_task(waiter(p));
      co_await asyncio::sleep(0);
      CHECK(loop.io_waiter_count() == 1);
      t.cancel();
      try {
        co_await t;
      } catch (const asyncio::CancelledError&) {
      }
      CHECK(ends_cancelled(t));
      CHECK(loop.io_waiter_count() == 0);
      CHECK(asyncio::testing::timer_count(loop) == 0);
      CHECK(pending_tasks() == 1);
      CHECK_FALSE(p.returncode());
    }
    CHECK(open_fd_count() == loop_fds);  // inside the loop: nothing waits for run()'s cleanup
  }());
  CHECK(open_fd_count() == fds);
  for (int i = 0; i < 100 && !reaped(pid); ++i) ::usleep(20000);  // the stdin EOF ends it
  CHECK(reaped(pid));
}

// Issue 13 item 8. Python: "8a timeout; tasks 1", then (b'b\n', b'') 3 — the "a\n" the cancelled
// communicate() had read is lost with it.
TEST_CASE("communicate() timed out cancels its readers; a second communicate() returns the rest") {
  std::size_t fds = open_fd_count();
  asyncio::run([]() -> asyncio::Task<> {
    {
      auto p = co_await asyncio::create_subprocess_shell(
          "trap 'echo b; exit 3' USR1; echo a; echo ready >&2; while :; do sleep 0.02; done",
          {.stdout = asyncio::PIPE, .stderr = asyncio::PIPE});
      std::string ready = co_await p.stderr->readline();
      CHECK(ready == "ready\n");  // "a\n" is in the pipe by now
      bool timed_out = false;
      try {
        co_await asyncio::wait_for(p.communicate(), 0.1);
      } catch (const asyncio::TimeoutError&) {
        timed_out = true;
      }
      CHECK(timed_out);
      CHECK(pending_tasks() == 1);  // no reader task left
      CHECK(asyncio::get_running_loop().io_waiter_count() == 0);
      p.send_signal(SIGUSR1);
      std::pair<std::string, std::string> rest;
      try {
        rest = co_await asyncio::wait_for(p.communicate(), 2.0);
      } catch (const asyncio::RuntimeError& e) {
        FAIL_CHECK(e.what());  // "another task is already waiting to read from this stream"
      }
      CHECK(rest.first == "b\n");
      CHECK(rest.second.empty());
      CHECK(p.returncode() == 3);
    }
    CHECK(pending_tasks() == 1);
  }());
  CHECK(open_fd_count() == fds);
}

// The grandchild keeps both stdout and stderr open, so both readers are pending when communicate()
// is cancelled. Python: not done, rc 0; cancelled, tasks 1; grandchild alive; then with wait_for:
// timeout, tasks 1, rc 0; after the grandchild is killed (b'', b'') 0 (the "a\n" the first call
// had read is lost with it).
TEST_CASE("communicate() cancelled while a grandchild holds the pipes: no reader left, fds go with the Process") {
  std::size_t fds = open_fd_count();
  int grandchild = 0;
  int g2 = 0;
  asyncio::run([&]() -> asyncio::Task<> {
    const std::size_t loop_fds = open_fd_count();
    {
      auto p = co_await asyncio::create_subprocess_shell("sleep 5 </dev/null & echo $!; echo a",
                                                         {.stdout = asyncio::PIPE, .stderr = asyncio::PIPE});
      std::string line = co_await p.stdout->readline();
      grandchild = std::stoi(line);
      auto t = asyncio::create_task(p.communicate());
      co_await asyncio::sleep(0.2);
      CHECK_FALSE(t.done());       // the pipes stay open: the grandchild has them
      CHECK(p.returncode() == 0);  // the child itself is gone (and reaped)
      t.cancel();
      try {
        co_await t;
      } catch (const asyncio::CancelledError&) {
      }
      CHECK(ends_cancelled(t));
      CHECK(pending_tasks() == 1);  // neither reader is left running
      CHECK(asyncio::get_running_loop().io_waiter_count() == 0);
    }
    // The Process (the only handles of its pipes) dropped, the grandchild still running: no
    // task of ours keeps our end of its pipes, and the pidfd is closed.
    CHECK(open_fd_count() == loop_fds);
    CHECK(::kill(grandchild, 0) == 0);

    // The same, timed out by wait_for; a second communicate() once the grandchild is killed.
    auto p = co_await asyncio::create_subprocess_shell("sleep 5 </dev/null & echo $!; echo a",
                                                       {.stdout = asyncio::PIPE, .stderr = asyncio::PIPE});
    std::string line = co_await p.stdout->readline();
    g2 = std::stoi(line);
    bool timed_out = false;
    try {
      co_await asyncio::wait_for(p.communicate(), 0.2);
    } catch (const asyncio::TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(pending_tasks() == 1);
    CHECK(p.returncode() == 0);
    ::kill(g2, SIGKILL);
    std::pair<std::string, std::string> rest{"?", "?"};
    try {
      rest = co_await asyncio::wait_for(p.communicate(), 2.0);
    } catch (const asyncio::RuntimeError& e) {
      FAIL_CHECK(e.what());  // "another task is already waiting to read from this stream"
    }
    CHECK(rest.first.empty());
    CHECK(rest.second.empty());
  }());
  if (grandchild > 0) ::kill(grandchild, SIGKILL);
  if (g2 > 0) ::kill(g2, SIGKILL);
  CHECK(open_fd_count() == fds);
}

// Python: (b'x\n', b'') -9.
TEST_CASE("a child killed mid-communicate: its output so far and returncode -SIGKILL") {
  asyncio::run([]() -> asyncio::Task<> {
    auto p = co_await asyncio::create_subprocess_shell("echo x; echo r >&2; exec sleep 5",
                                                       {.stdout = asyncio::PIPE, .stderr = asyncio::PIPE});
    std::string r = co_await p.stderr->readline();
    CHECK(r == "r\n");
    auto t = asyncio::create_task(p.communicate());
    co_await asyncio::sleep(0.02);
    CHECK_FALSE(t.done());
    p.kill();
    auto [out, err] = co_await asyncio::wait_for(t, 2.0);
    CHECK(out == "x\n");
    CHECK(err.empty());
    CHECK(p.returncode() == -SIGKILL);
    CHECK(reaped(p.pid()));
  }());
}

// Python: read cancelled, then b'y\n' 0.
TEST_CASE("a task cancelled in stdout.read() of a child: the pipe reads on afterwards") {
  asyncio::run([]() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    auto p = co_await asyncio::create_subprocess_shell("read x; echo y", {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE});
    auto t = asyncio::create_task(p.stdout->read(100));
    co_await asyncio::sleep(0);
    CHECK(loop.io_waiter_count() == 1);
    t.cancel();
    try {
      co_await t;
    } catch (const asyncio::CancelledError&) {
    }
    CHECK(ends_cancelled(t));
    CHECK(loop.io_waiter_count() == 0);
    p.stdin->write("go\n");
    co_await p.stdin->drain();
    std::string y = co_await asyncio::wait_for(p.stdout->read(100), 2.0);
    CHECK(y == "y\n");
    int rc = co_await asyncio::wait_for(p.wait(), 2.0);
    CHECK(rc == 0);
  }());
}

// Fd exhaustion at spawn. The table is filled (RLIMIT_NOFILE lowered, the holes dup'ed) and `free`
// slots given back. No Catch2 assertion runs while it is full.
TEST_CASE("spawning with no fd left: OSError (EMFILE) and nothing leaks; no fd for the pidfd: wait() still works") {
  std::size_t fds = open_fd_count();
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  struct Outcome {
    int err = 0;
    std::string what;
  };
  Outcome none, one_pipe;
  int polled_rc = -1000;
  bool polled = false;
  asyncio::run([&]() -> asyncio::Task<> {
    // Walk the same paths first with fds to spare (spawn failing with an OSError, spawn
    // succeeding): UBSan's vptr check needs a pipe the first time it meets a type.
    try {
      co_await asyncio::create_subprocess_exec("/no/such/program");  // (a FileNotFoundError, as Python's)
    } catch (const asyncio::OSError& e) {
      none.err = e.errno_;
      none.what = e.what();
    }
    try {
      asyncio::detail::throw_os_error(EMFILE, "warm-up");  // the plain OSError the full table gives
    } catch (const asyncio::OSError& e) {
      none.err = e.errno_;
      none.what = e.what();
    }
    {
      std::vector<std::string> args{"-c", "exit 9"};
      auto p = co_await asyncio::create_subprocess_exec("sh", args);
      int rc = co_await p.wait();
      (void)rc;
    }
    std::vector<int> hog;
    std::vector<std::string> none_args;
    // No fd at all: the first pipe fails.
    fill_fd_table(hog, old, 0);
    try {
      auto p = co_await asyncio::create_subprocess_exec("true", none_args, {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE});
      (void)p;
    } catch (const asyncio::OSError& e) {
      none.err = e.errno_;
      none.what = e.what();
    }
    restore_fd_table(hog, old);
    // Room for the stdin pipe only: the stdout pipe fails and the stdin one is closed again.
    fill_fd_table(hog, old, 2);
    try {
      auto p = co_await asyncio::create_subprocess_exec("true", none_args, {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE});
      (void)p;
    } catch (const asyncio::OSError& e) {
      one_pipe.err = e.errno_;
      one_pipe.what = e.what();
    }
    restore_fd_table(hog, old);
    // No pipes, no room for the pidfd: the child starts, and wait() polls for its exit.
    {
      std::vector<std::string> args{"-c", "exec sleep 5"};
      fill_fd_table(hog, old, 0);
      std::optional<asyncio::Process> p;
      try {
        auto q = co_await asyncio::create_subprocess_exec("sh", args);
        p.emplace(std::move(q));
      } catch (const asyncio::OSError&) {
      }
      restore_fd_table(hog, old);
      if (p) {
        auto t = asyncio::create_task(p->wait());
        co_await asyncio::sleep(0);
        auto& loop = asyncio::get_running_loop();
        polled = asyncio::testing::timer_count(loop) == 1 && loop.io_waiter_count() == 1;
        p->kill();
        polled_rc = co_await asyncio::wait_for(t, 2.0);
      }
    }
  }());
  ::setrlimit(RLIMIT_NOFILE, &old);
  CHECK(none.err == EMFILE);
  CHECK(none.what.find("Too many open files") != std::string::npos);
  CHECK(one_pipe.err == EMFILE);
  CHECK(polled);  // no pidfd: wait() polls on a timer (counted as an I/O wait)
  CHECK(polled_rc == -SIGKILL);
  CHECK(open_fd_count() == fds);
}
