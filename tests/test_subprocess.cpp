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
    CHECK_THROWS_AS(p.kill(), asyncio::ProcessLookupError);  // already reaped: never signalled, as in Python
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
    // 0, 1, 2 and the directory ls itself opened: ours are close-on-exec, and close_fds (on by
    // default, as Python's) also closes what this process inherited without that flag.
    int n = 0;
    for (char c : out) n += c == '\n';
    CHECK(n == 4);
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

// Python's Popen keywords (3.11): env, start_new_session, process_group, pass_fds, close_fds.
// Each case's expected output is what the same Python call gives (e.g. subprocess.run(["sh", "-c",
// "echo $A-$B"], env={"A": "1"}) prints "1-").
namespace {
std::vector<long> fields(const std::string& s) {
  std::vector<long> v;
  std::size_t at = 0;
  while (at < s.size()) {
    std::size_t end = s.find_first_of(" \n", at);
    if (end > at) v.push_back(std::stol(s.substr(at, end - at)));
    at = end + 1;
  }
  return v;
}
asyncio::Task<std::string> run_sh(std::string script, asyncio::SubprocessOptions o) {
  std::vector<std::string> args{"-c", std::move(script)};
  o.stdout = asyncio::PIPE;
  auto p = co_await asyncio::create_subprocess_exec("/bin/sh", args, o);
  auto [out, err] = co_await p.communicate();
  co_await p.wait();
  co_return out;
}
}  // namespace

TEST_CASE("Popen keywords: env replaces or extends, start_new_session, process_group, cwd") {
  ::setenv("ASYNCIO_TEST_B", "ours", 1);
  auto main = []() -> asyncio::Task<> {
    std::vector<std::string> env{"A=1"};
    std::string replaced = co_await run_sh("echo \"$A-$ASYNCIO_TEST_B\"", {.env = &env});
    CHECK(replaced == "1-\n");
    std::string extended = co_await run_sh("echo \"$A-$ASYNCIO_TEST_B\"", {.env = &env, .env_extend = true});
    CHECK(extended == "1-ours\n");
    std::vector<std::string> override_b{"ASYNCIO_TEST_B=theirs"};
    std::string overridden = co_await run_sh("echo \"$ASYNCIO_TEST_B\"", {.env = &override_b, .env_extend = true});
    CHECK(overridden == "theirs\n");
    // /proc/self/stat fields 5 and 6: process group and session.
    std::string ids = "read -r l < /proc/self/stat; set -- ${l#*) }; echo \"$$ $3 $4\"";
    std::string plain = co_await run_sh(ids, {});
    std::string session = co_await run_sh(ids, {.start_new_session = true});
    std::string group = co_await run_sh(ids, {.process_group = 0});
    auto pv = fields(plain), sv = fields(session), gv = fields(group);
    REQUIRE(pv.size() == 3);
    REQUIRE(sv.size() == 3);
    REQUIRE(gv.size() == 3);
    CHECK(pv[1] == ::getpgrp());  // inherited
    CHECK(sv[1] == sv[0]);        // its own group ...
    CHECK(sv[2] == sv[0]);        // ... and session
    CHECK(gv[1] == gv[0]);        // its own group
    CHECK(gv[2] == ::getsid(0));  // in our session
    std::string where = co_await run_sh("pwd", {.cwd = "/tmp"});
    CHECK(where == "/tmp\n");
    bool bad_env = false;
    std::vector<std::string> broken{"NOEQUALS"};
    try {
      std::string s = co_await run_sh("true", {.env = &broken});
    } catch (const asyncio::ValueError&) {
      bad_env = true;
    }
    CHECK(bad_env);
  };
  asyncio::run(main());
  ::unsetenv("ASYNCIO_TEST_B");
}

TEST_CASE("Popen keywords: pass_fds keeps descriptors open in the child; close_fds closes the rest") {
  int leaky = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC: as another library might open one
  REQUIRE(leaky > 2);
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  auto main = [](int leaky, int wfd, int rfd) -> asyncio::Task<> {
    std::string has_leaky = "[ -e /proc/self/fd/" + std::to_string(leaky) + " ] && echo open || echo closed";
    std::string by_default = co_await run_sh(has_leaky, {});
    CHECK(by_default == "closed\n");
    std::string let_through = co_await run_sh(has_leaky, {.close_fds = false});
    CHECK(let_through == "open\n");
    std::vector<int> pass{wfd};
    std::string wrote = co_await run_sh("echo through >&" + std::to_string(wfd) + " && echo ok", {.pass_fds = &pass});
    CHECK(wrote == "ok\n");
    char buf[32] = {};
    ssize_t k = ::read(rfd, buf, sizeof buf);
    CHECK(std::string(buf, k > 0 ? static_cast<std::size_t>(k) : 0) == "through\n");
    // Both: the passed one stays, the leaky one goes.
    std::string both = co_await run_sh(has_leaky, {.pass_fds = &pass});
    CHECK(both == "closed\n");
    std::vector<int> bad{2};
    bool refused = false;
    try {
      std::string s = co_await run_sh("true", {.pass_fds = &bad});
    } catch (const asyncio::ValueError&) {
      refused = true;
    }
    CHECK(refused);
  };
  asyncio::run(main(leaky, p[1], p[0]));
  ::close(leaky);
  ::close(p[0]);
  ::close(p[1]);
}

// user / group / extra_groups / umask: the fork + exec path (posix_spawn cannot set them).
TEST_CASE("Popen keywords: umask, user, group and extra_groups, with unknown names and refused switches failing cleanly") {
  std::size_t fds = open_fd_count();
  auto main = []() -> asyncio::Task<> {
    std::string mask = co_await run_sh("umask", {.umask = 077});
    CHECK(mask == "0077\n");
    // The fork path does what posix_spawn does: pipes, cwd, env.
    std::vector<std::string> env{"X=y"};
    std::string where = co_await run_sh("echo \"$X $(pwd)\"", {.cwd = "/tmp", .env = &env, .umask = 022});
    CHECK(where == "y /tmp\n");
    bool unknown = false;
    try {
      std::string s = co_await run_sh("true", {.user = "no-such-user-here"});
    } catch (const std::out_of_range& e) {
      unknown = std::string(e.what()).find("getpwnam(): name not found: 'no-such-user-here'") != std::string::npos;
    }
    CHECK(unknown);
    // A program that is not there: the child's exec error comes back as Python raises it.
    bool missing = false;
    try {
      std::vector<std::string> none;
      asyncio::SubprocessOptions o{.umask = 022};
      auto p = co_await asyncio::create_subprocess_exec("/no/such/program", none, o);
    } catch (const asyncio::FileNotFoundError&) {
      missing = true;
    }
    CHECK(missing);
    if (::geteuid() == 0) {
      std::vector<std::string> extra{"audio"};
      std::string ids = co_await run_sh("id -u; id -g; id -G", {.user = "nobody", .group = "nogroup", .extra_groups = &extra});
      CHECK(ids == "65534\n65534\n65534 29\n");
      std::string numeric = co_await run_sh("id -u", {.user = "65534"});
      CHECK(numeric == "65534\n");
      // As nobody, a root-only program cannot be run: PermissionError from the child's exec.
      char tmpl[] = "/tmp/asyncio_rootonly_XXXXXX";
      int fd = ::mkstemp(tmpl);
      REQUIRE(fd >= 0);
      REQUIRE(::write(fd, "#!/bin/sh\necho hi\n", 18) == 18);
      ::close(fd);
      ::chmod(tmpl, 0700);
      bool refused = false;
      try {
        std::vector<std::string> none;
        asyncio::SubprocessOptions o{.user = "nobody"};
        auto p = co_await asyncio::create_subprocess_exec(tmpl, none, o);
      } catch (const asyncio::PermissionError&) {
        refused = true;
      }
      CHECK(refused);
      ::unlink(tmpl);
    } else {
      // Not root: switching to another user is refused in the child, reported here.
      bool refused = false;
      try {
        std::string s = co_await run_sh("true", {.user = "nobody"});
      } catch (const asyncio::PermissionError&) {
        refused = true;
      }
      CHECK(refused);
    }
  };
  asyncio::run(main());
  CHECK(open_fd_count() == fds);
}
