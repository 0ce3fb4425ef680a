// CPython 3.11 Lib/test/test_asyncio/test_subprocess.py, one Catch2 case per method, named after
// it. SubprocessMixin's methods run in CPython once per child watcher class (Threaded, Safe,
// Fast, Pidfd); our loop has one watcher, a pidfd, so they are ported once, as
// SubprocessPidfdWatcherTests. PROGRAM_BLOCKED is `sleep 3600`, PROGRAM_CAT is `cat`; the
// children that run Python code run /usr/bin/python3 (sys.executable).
#include <asyncio/asyncio.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "cpython/cpython_check.hpp"
#include "io_helpers.hpp"

namespace {
using asyncio::Process;
using asyncio::SubprocessOptions;
using asyncio::Task;

const std::string PYTHON = ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
const std::string BLOCKED = "sleep";
const std::vector<std::string> BLOCKED_ARGS{"3600"};
const std::string CAT = "cat";
constexpr std::size_t PIPE_MAX_SIZE = 4 * 1024 * 1024 + 1;  // test.support.PIPE_MAX_SIZE

struct Fixture {
  std::shared_ptr<asyncio::EventLoop> loop = asyncio::new_event_loop();
  ~Fixture() { loop->close(); }
  template <class T>
  T run(Task<T> t) {
    return loop->run_until_complete(std::move(t));
  }
};

Task<Process> python(std::string code, SubprocessOptions opts) {
  std::vector<std::string> args{"-c", std::move(code)};
  auto p = co_await asyncio::create_subprocess_exec(PYTHON, std::move(args), opts);
  co_return p;
}

bool reaped(int pid) {  // no zombie: the pid is no longer our child
  int st = 0;
  return ::waitpid(pid, &st, WNOHANG) < 0 && errno == ECHILD;
}

/// Child processes of ours still running or not yet reaped (/proc/self/task/*/children).
int children() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/task");
  if (!d) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/children");
    int pid;
    while (in >> pid) ++n;
  }
  ::closedir(d);
  return n;
}

std::string rstrip(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

// The transport's _process_exited() is driven by hand in CPython; the public side of it is the
// Process: the exit status arrives, and from then on every signal method raises
// ProcessLookupError.
TEST_CASE("test_subprocess.SubprocessTransportTests.test_proc_exited") {
  Fixture f;
  auto main = []() -> Task<> {
    auto proc = co_await asyncio::create_subprocess_shell("exit 6");
    int rc = co_await proc.wait();
    CHECK(rc == 6);
    CHECK(proc.returncode() == 6);
    // methods must raise ProcessLookupError if the process exited
    CHECK_THROWS_AS(proc.send_signal(SIGTERM), asyncio::ProcessLookupError);
    CHECK_THROWS_AS(proc.terminate(), asyncio::ProcessLookupError);
    CHECK_THROWS_AS(proc.kill(), asyncio::ProcessLookupError);
  };
  f.run(main());
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_stdin_stdout") {
  Fixture f;
  auto run = [](std::string data) -> Task<std::pair<int, std::string>> {
    std::vector<std::string> no_args;
    auto proc = co_await asyncio::create_subprocess_exec(CAT, no_args, {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE});
    // feed data
    proc.stdin->write(data);
    co_await proc.stdin->drain();
    proc.stdin->close();
    // get output and exitcode
    std::string out = co_await proc.stdout->read();
    int exitcode = co_await proc.wait();
    co_return std::pair{exitcode, out};
  };
  auto [exitcode, stdout] = f.run(Task<std::pair<int, std::string>>(asyncio::wait_for(run("some data"), 60.0)));
  CHECK(exitcode == 0);
  CHECK(stdout == "some data");
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_communicate") {
  Fixture f;
  auto run = [](std::string data) -> Task<std::pair<int, std::string>> {
    std::vector<std::string> no_args;
    auto proc = co_await asyncio::create_subprocess_exec(CAT, no_args, {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE});
    auto [stdout, stderr] = co_await proc.communicate(data);
    co_return std::pair{*proc.returncode(), stdout};
  };
  auto [exitcode, stdout] = f.run(Task<std::pair<int, std::string>>(asyncio::wait_for(run("some data"), 300.0)));
  CHECK(exitcode == 0);
  CHECK(stdout == "some data");
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_shell") {
  Fixture f;
  auto proc = f.run(asyncio::create_subprocess_shell("exit 7"));
  CHECK(f.run(proc.wait()) == 7);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_start_new_session") {
  // start the new process in a new session
  Fixture f;
  auto proc = f.run(asyncio::create_subprocess_shell("exit 8", {.start_new_session = true}));
  CHECK(f.run(proc.wait()) == 8);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_kill") {
  Fixture f;
  auto proc = f.run(asyncio::create_subprocess_exec(BLOCKED, BLOCKED_ARGS));
  proc.kill();
  CHECK(f.run(proc.wait()) == -SIGKILL);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_kill_issue43884") {
  // wait() returns once the shell is killed, though its child still holds the stdout pipe.
  // (CPython lets the shell run 1 s first; 0.2 s is enough for it to be in `sleep 1`.)
  Fixture f;
  auto proc = f.run(asyncio::create_subprocess_shell("sleep 1; sleep 1", {.stdout = asyncio::PIPE}));
  f.run([]() -> Task<> { co_await asyncio::sleep(0.2); }());
  proc.kill();
  CHECK(f.run(proc.wait()) == -SIGKILL);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_terminate") {
  Fixture f;
  auto proc = f.run(asyncio::create_subprocess_exec(BLOCKED, BLOCKED_ARGS));
  proc.terminate();
  CHECK(f.run(proc.wait()) == -SIGTERM);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_send_signal") {
  // bpo-31034: the child gets the default SIGHUP handler (killing it), whatever ours is.
  struct sigaction dfl {}, old {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGHUP, &dfl, &old);
  Fixture f;
  auto proc = f.run(python("import time; print('sleeping', flush=True); time.sleep(3600)", {.stdout = asyncio::PIPE}));
  auto send_signal = [](Process& proc) -> Task<int> {
    // basic synchronization to wait until the program is sleeping
    std::string line = co_await proc.stdout->readline();
    CHECK(line == "sleeping\n");
    proc.send_signal(SIGHUP);
    int returncode = co_await proc.wait();
    co_return returncode;
  };
  CHECK(f.run(send_signal(proc)) == -SIGHUP);
  ::sigaction(SIGHUP, &old, nullptr);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_stdin_broken_pipe") {
  Fixture f;
  std::string large_data(PIPE_MAX_SIZE, 'x');  // large enough to fill the whole pipe buffer
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  int rfd = fds[0], wfd = fds[1];
  std::vector<int> pass{rfd};
  // the program ends before the stdin can be fed
  auto proc = f.run(python("import os; fd = " + std::to_string(rfd) + "; os.read(fd, 1)",
                           {.stdin = asyncio::PIPE, .pass_fds = &pass}));
  auto write_stdin = [](Process& proc, const std::string& data, int wfd) -> Task<> {
    proc.stdin->write(data);
    // Only exit the child process once the write buffer is filled
    CHECK(::write(wfd, "go", 2) == 2);
    co_await proc.stdin->drain();
  };
  // drain() must raise BrokenPipeError or ConnectionResetError
  bool raised = false;
  try {
    f.run(write_stdin(proc, large_data, wfd));
  } catch (const asyncio::BrokenPipeError&) {
    raised = true;
  } catch (const asyncio::ConnectionResetError&) {
    raised = true;
  }
  CHECK(raised);
  f.run(proc.wait());
  ::close(rfd);
  ::close(wfd);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_communicate_ignore_broken_pipe") {
  Fixture f;
  std::string large_data(PIPE_MAX_SIZE, 'x');
  // the program ends before the stdin can be fed
  auto proc = f.run(python("pass", {.stdin = asyncio::PIPE}));
  // communicate() must ignore BrokenPipeError when feeding stdin
  f.loop->set_exception_handler([](asyncio::EventLoop&, const asyncio::ExceptionContext&) {});
  f.run(proc.communicate(large_data));
  f.run(proc.wait());
}

// Issue #22685: a child writing more than `limit` is read whole (CPython also checks, through
// mocks on the private pipe transport, that reading paused and resumed on the way; our reader
// reads from the pipe only when asked, so it never buffers past what a read takes).
TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_pause_reading") {
  Fixture f;
  const std::size_t limit = 10;
  const std::size_t size = limit * 2 + 1;
  auto test_pause_reading = [](std::size_t limit, std::size_t size) -> Task<std::string> {
    std::string code = "import sys\nsys.stdout.write('x' * " + std::to_string(size) + ")\nsys.stdout.flush()";
    SubprocessOptions opts{.stdin = asyncio::PIPE, .stdout = asyncio::PIPE, .limit = limit};
    auto proc = co_await python(code, opts);
    CHECK(proc.stdout->limit() == limit);
    auto [stdout, stderr] = co_await proc.communicate();
    co_return stdout;
  };
  CHECK(f.run(test_pause_reading(limit, size)) == std::string(size, 'x'));
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_stdin_not_inheritable") {
  // asyncio issue #209: stdin must not be inheritable, otherwise communicate() hangs
  Fixture f;
  auto len_message = [](std::string message) -> Task<std::pair<std::string, int>> {
    auto proc = co_await python("import sys; data = sys.stdin.read(); print(len(data))",
                                {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE, .stderr = asyncio::PIPE,
                                 .close_fds = false});
    auto [stdout, stderr] = co_await proc.communicate(message);
    int exitcode = co_await proc.wait();
    co_return std::pair{stdout, exitcode};
  };
  auto [output, exitcode] = f.run(len_message("abc"));
  CHECK(rstrip(output) == "3");
  CHECK(exitcode == 0);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_empty_input") {
  Fixture f;
  auto empty_input = []() -> Task<std::pair<std::string, int>> {
    auto proc = co_await python("import sys; data = sys.stdin.read(); print(len(data))",
                                {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE, .stderr = asyncio::PIPE,
                                 .close_fds = false});
    auto [stdout, stderr] = co_await proc.communicate("");
    int exitcode = co_await proc.wait();
    co_return std::pair{stdout, exitcode};
  };
  auto [output, exitcode] = f.run(empty_input());
  CHECK(rstrip(output) == "0");
  CHECK(exitcode == 0);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_devnull_input") {
  Fixture f;
  auto empty_input = []() -> Task<std::pair<std::string, int>> {
    auto proc = co_await python("import sys; data = sys.stdin.read(); print(len(data))",
                                {.stdin = asyncio::DEVNULL, .stdout = asyncio::PIPE, .stderr = asyncio::PIPE,
                                 .close_fds = false});
    auto [stdout, stderr] = co_await proc.communicate();
    int exitcode = co_await proc.wait();
    co_return std::pair{stdout, exitcode};
  };
  auto [output, exitcode] = f.run(empty_input());
  CHECK(rstrip(output) == "0");
  CHECK(exitcode == 0);
}

// Python's communicate() gives None for a stream that is not a PIPE; ours gives "" (bytes are
// std::string, documented on Process::communicate), and the stream member is std::nullopt.
TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_devnull_output") {
  Fixture f;
  auto empty_output = []() -> Task<std::pair<std::string, int>> {
    auto proc = co_await python("import sys; data = sys.stdin.read(); print(len(data))",
                                {.stdin = asyncio::PIPE, .stdout = asyncio::DEVNULL, .stderr = asyncio::PIPE,
                                 .close_fds = false});
    CHECK_FALSE(proc.stdout.has_value());
    auto [stdout, stderr] = co_await proc.communicate("abc");
    int exitcode = co_await proc.wait();
    co_return std::pair{stdout, exitcode};
  };
  auto [output, exitcode] = f.run(empty_output());
  CHECK(output.empty());
  CHECK(exitcode == 0);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_devnull_error") {
  // (None in Python: see test_devnull_output)
  Fixture f;
  auto empty_error = []() -> Task<std::pair<std::string, int>> {
    auto proc = co_await python("import sys; data = sys.stdin.read(); print(len(data))",
                                {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE, .stderr = asyncio::DEVNULL,
                                 .close_fds = false});
    CHECK_FALSE(proc.stderr.has_value());
    auto [stdout, stderr] = co_await proc.communicate("abc");
    int exitcode = co_await proc.wait();
    co_return std::pair{stderr, exitcode};
  };
  auto [output, exitcode] = f.run(empty_error());
  CHECK(output.empty());
  CHECK(exitcode == 0);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_devstdin_input") {
  Fixture f;
  auto devstdin_input = [](std::string message) -> Task<std::pair<std::string, int>> {
    auto proc = co_await python("file = open('/dev/stdin'); data = file.read(); print(len(data))",
                                {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE, .stderr = asyncio::PIPE,
                                 .close_fds = false});
    auto [stdout, stderr] = co_await proc.communicate(message);
    int exitcode = co_await proc.wait();
    co_return std::pair{stdout, exitcode};
  };
  auto [output, exitcode] = f.run(devstdin_input("abc"));
  CHECK(rstrip(output) == "3");
  CHECK(exitcode == 0);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_cancel_process_wait") {
  // Issue #23140: cancel Process.wait()
  Fixture f;
  auto cancel_wait = [](asyncio::EventLoop* loop) -> Task<> {
    auto proc = co_await asyncio::create_subprocess_exec(BLOCKED, BLOCKED_ARGS);
    // Create an internal future waiting on the process exit
    auto task = loop->create_task(proc.wait());
    loop->call_soon([task]() mutable { task.cancel(); });
    try {
      co_await task;
    } catch (const asyncio::CancelledError&) {
    }
    // Cancel the future
    task.cancel();
    // Kill the process and wait until it is done
    proc.kill();
    co_await proc.wait();
    CHECK(reaped(proc.pid()));
  };
  f.run(cancel_wait(f.loop.get()));
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_cancel_make_subprocess_transport_exec") {
  // The creation is cancelled: the child it had spawned is killed and reaped, nothing is left.
  std::size_t fds = open_fd_count();
  {
    Fixture f;
    auto cancel_make_transport = [](asyncio::EventLoop* loop) -> Task<> {
      auto coro = asyncio::create_subprocess_exec(BLOCKED, BLOCKED_ARGS, {.stdin = asyncio::PIPE});
      auto task = loop->create_task(std::move(coro));
      loop->call_soon([task]() mutable { task.cancel(); });
      bool cancelled = false;
      try {
        co_await task;
      } catch (const asyncio::CancelledError&) {
        cancelled = true;
      }
      CHECK(cancelled);
    };
    f.run(cancel_make_transport(f.loop.get()));
    CHECK(children() == 0);
  }
  CHECK(open_fd_count() == fds);
}

// _test_popen_error: CPython makes Popen raise (a mock) and checks the error comes out and
// nothing is left open. Here the spawn itself fails: a program that does not exist.
TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_popen_error") {
  // Issue #24763: the subprocess transport is closed when creating the process fails
  std::size_t fds = open_fd_count();
  {
    Fixture f;
    CHECK_THROWS_AS(f.run(asyncio::create_subprocess_exec("/nonexistent/program", {"-c", "pass"})),
                    asyncio::FileNotFoundError);
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_popen_error_with_stdin_pipe") {
  // Issue #35721: the pipes made for the child are closed when creating the process fails
  std::size_t fds = open_fd_count();
  {
    Fixture f;
    CHECK_THROWS_AS(f.run(asyncio::create_subprocess_exec("/nonexistent/program", {"-c", "pass"},
                                                          {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE})),
                    asyncio::FileNotFoundError);
  }
  CHECK(open_fd_count() == fds);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_read_stdout_after_process_exit") {
  // The child writes 256 KiB and exits while we read slowly. (CPython sleeps 0.3 s per read;
  // 0.05 s keeps the child exited long before the reads end.)
  Fixture f;
  auto execute = []() -> Task<std::size_t> {
    std::string code = "import sys\nfor _ in range(64):\n    sys.stdout.write('x' * 4096)\nsys.stdout.flush()\nsys.exit(1)";
    auto process = co_await python(code, {.stdout = asyncio::PIPE});
    std::size_t total = 0;
    for (;;) {
      std::string data = co_await process.stdout->read(65536);
      total += data.size();
      if (data.empty()) break;
      co_await asyncio::sleep(0.05);
    }
    int rc = co_await process.wait();
    CHECK(rc == 1);
    co_return total;
  };
  CHECK(f.run(execute()) == 64u * 4096u);
}

TEST_CASE("test_subprocess.SubprocessPidfdWatcherTests.test_subprocess_communicate_stdout") {
  // See https://github.com/python/cpython/issues/100133
  Fixture f;
  auto get_command_stdout = [](std::string cmd, std::vector<std::string> args) -> Task<std::string> {
    auto proc = co_await asyncio::create_subprocess_exec(cmd, args, {.stdout = asyncio::PIPE});
    auto [stdout, _] = co_await proc.communicate();
    co_return rstrip(stdout);
  };
  auto main = [&get_command_stdout]() -> Task<> {
    std::vector<std::string> outputs;
    std::vector<Task<std::string>> tasks;
    for (int i = 0; i < 10; ++i) {
      outputs.push_back("foo" + std::to_string(i));
      std::vector<std::string> args{"-c", "print('" + outputs.back() + "')"};
      tasks.push_back(get_command_stdout(PYTHON, std::move(args)));
    }
    std::vector<std::string> res = co_await asyncio::gather(std::move(tasks));
    CHECK(res == outputs);
  };
  f.run(main());
}
