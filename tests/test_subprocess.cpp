// subprocess.hpp: create_subprocess_exec/shell, pipes, wait, communicate, signals, no zombies.
#include <asyncio/asyncio.hpp>

#include <fcntl.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "catch.hpp"
#include "io_helpers.hpp"

namespace {
bool reaped(int pid) {  // no zombie: the pid is no longer our child
  int st = 0;
  return ::waitpid(pid, &st, WNOHANG) < 0 && errno == ECHILD;
}
}  // namespace

TEST_CASE("communicate reads stdout and stderr, feeds stdin; returncode") {
  std::size_t fds = open_fd_count();
  auto main = []() -> asyncio::Task<> {
    // (argument vectors are built outside the co_await expression: GCC 12 rule, DESIGN.md 4b)
    std::vector<std::string> args{"-c",
                                  "import sys; d=sys.stdin.read(); print(len(d)); print('err', file=sys.stderr); sys.exit(3)"};
    auto p = co_await asyncio::create_subprocess_exec(
        "python3", args, {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE, .stderr = asyncio::PIPE});
    CHECK(p.pid() > 0);
    CHECK_FALSE(p.returncode());
    auto [out, err] = co_await p.communicate(std::string(1 << 20, 'x'));
    CHECK(out == "1048576\n");
    CHECK(err == "err\n");
    CHECK(p.returncode() == 3);
    CHECK(reaped(p.pid()));

    auto sh = co_await asyncio::create_subprocess_shell("echo out; echo err 1>&2",
                                                        {.stdout = asyncio::PIPE, .stderr = asyncio::STDOUT});
    auto [o2, e2] = co_await sh.communicate();
    CHECK(o2 == "out\nerr\n");
    CHECK(e2.empty());
    int rc = co_await sh.wait();
    CHECK(rc == 0);
  };
  asyncio::run(main());
  CHECK(open_fd_count() == fds);
}

TEST_CASE("a large output (16 MiB) is read completely; line reading works on pipes") {
  auto main = []() -> asyncio::Task<> {
    std::vector<std::string> a1{"-c", "16777216", "/dev/zero"};
    auto p = co_await asyncio::create_subprocess_exec("head", a1, {.stdout = asyncio::PIPE});
    std::string all = co_await p.stdout->read();
    CHECK(all.size() == 16777216u);
    CHECK(co_await p.wait() == 0);
    std::vector<std::string> a2{"a\\nb\\nc"};
    auto q = co_await asyncio::create_subprocess_exec("printf", a2, {.stdout = asyncio::PIPE});
    std::vector<std::string> lines;
    while (auto l = co_await q.stdout->anext()) lines.push_back(*l);
    CHECK(lines == std::vector<std::string>{"a\n", "b\n", "c"});
    co_await q.wait();
  };
  asyncio::run(main());
}

TEST_CASE("wait after kill returns -SIGKILL; terminate gives -SIGTERM; no zombie remains") {
  auto main = []() -> asyncio::Task<> {
    std::vector<std::string> a3{"10"};
    auto p = co_await asyncio::create_subprocess_exec("sleep", a3);
    p.kill();
    int rc = co_await p.wait();
    CHECK(rc == -SIGKILL);
    CHECK(reaped(p.pid()));
    std::vector<std::string> a4{"10"};
    auto q = co_await asyncio::create_subprocess_exec("sleep", a4);
    q.terminate();
    CHECK(co_await q.wait() == -SIGTERM);
    p.kill();  // already reaped: nothing happens
  };
  asyncio::run(main());
}

TEST_CASE("cancelling a task blocked in wait (and wait_for timing out) leaves nothing registered") {
  std::size_t fds = open_fd_count();
  auto main = []() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    std::vector<std::string> a5{"10"};
    auto p = co_await asyncio::create_subprocess_exec("sleep", a5);
    auto t = asyncio::create_task([](asyncio::Process pp) -> asyncio::Task<int> {
      int rc = co_await pp.wait();
      co_return rc;
    }(p));
    co_await asyncio::sleep(0.02);
    CHECK(loop.io_waiter_count() == 1);
    t.cancel();
    bool cancelled = false;
    try {
      co_await t;
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(loop.io_waiter_count() == 0);
    bool timed_out = false;
    try {
      co_await asyncio::wait_for(p.wait(), 0.05);
    } catch (const asyncio::TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(loop.io_waiter_count() == 0);
    CHECK(asyncio::testing::timer_count(loop) == 0);
    p.kill();
    CHECK(co_await p.wait() == -SIGKILL);
  };
  asyncio::run(main());
  CHECK(open_fd_count() == fds);
}

TEST_CASE("no fd of ours leaks into the child; a missing program is an OSError") {
  auto main = []() -> asyncio::Task<> {
    // Open a server and a stream first so there is something that could leak.
    auto server = co_await asyncio::start_server(
        [](asyncio::StreamReader, asyncio::StreamWriter) -> asyncio::Task<> { co_return; }, "127.0.0.1", 0);
    std::vector<std::string> a6{"/proc/self/fd"};
    auto p = co_await asyncio::create_subprocess_exec("ls", a6, {.stdout = asyncio::PIPE});
    auto [out, err] = co_await p.communicate();
    // 0, 1, 2, the directory ls itself opened, and whatever non-close-on-exec fds this test
    // process inherited from its own parent (none of ours: they are all close-on-exec).
    int inherited = 0;
    for (int fd = 3; fd < 4096; ++fd) {
      int fl = ::fcntl(fd, F_GETFD);
      if (fl >= 0 && !(fl & FD_CLOEXEC)) ++inherited;
    }
    int n = 0;
    for (char c : out) n += c == '\n';
    CHECK(n == 4 + inherited);
    server.close();
    bool failed = false;
    try {
      co_await asyncio::create_subprocess_exec("/no/such/program");
    } catch (const asyncio::OSError& e) {
      failed = e.errno_ == ENOENT;
    }
    CHECK(failed);
  };
  asyncio::run(main());
}

TEST_CASE("a Process dropped while its child runs leaves no zombie") {
  int pid = 0;
  auto main = [&]() -> asyncio::Task<> {
    std::vector<std::string> a7{"0.1"};
    auto p = co_await asyncio::create_subprocess_exec("sleep", a7);
    pid = p.pid();
  };
  asyncio::run(main());
  for (int i = 0; i < 100 && !reaped(pid); ++i) ::usleep(20000);
  CHECK(reaped(pid));
}
