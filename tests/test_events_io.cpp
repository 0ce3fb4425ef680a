// Loop-level I/O: signal handlers as loop callbacks, Ctrl-C during run(), add_reader/add_writer.
#include <asyncio/asyncio.hpp>

#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "catch.hpp"
#include "io_helpers.hpp"

namespace {
/// Catch2 installs its own SIGINT handler while a test runs; run() only takes Ctrl-C over
/// when SIGINT has its default disposition (Python: default_int_handler), so restore it here.
struct DefaultSigint {
  struct sigaction old {};
  DefaultSigint() {
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    ::sigaction(SIGINT, &sa, &old);
  }
  ~DefaultSigint() { ::sigaction(SIGINT, &old, nullptr); }
};
}  // namespace

TEST_CASE("a signal handler runs as a loop callback, not inside the signal handler") {
  std::size_t fds = open_fd_count();
  std::vector<std::string> trace;
  auto main = [&]() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    loop.add_signal_handler(SIGUSR1, [&] { trace.push_back("handler"); });
    ::raise(SIGUSR1);
    trace.push_back("after raise");  // the handler has not run yet: it is a callback
    co_await asyncio::sleep(0.01);
    trace.push_back("after sleep");
    ::raise(SIGUSR1);
    ::raise(SIGUSR1);
    co_await asyncio::sleep(0.01);
    CHECK(loop.remove_signal_handler(SIGUSR1));
    CHECK_FALSE(loop.remove_signal_handler(SIGUSR1));
    CHECK_THROWS_AS(loop.add_signal_handler(SIGKILL, [] {}), asyncio::RuntimeError);
    CHECK_THROWS_AS(loop.add_signal_handler(0, [] {}), asyncio::ValueError);
  };
  asyncio::run(main());
  REQUIRE(trace.size() >= 4);
  CHECK(trace[0] == "after raise");
  CHECK(trace[1] == "handler");
  CHECK(trace[2] == "after sleep");
  CHECK(trace[3] == "handler");  // two raises may coalesce into one or two callbacks
  CHECK(open_fd_count() == fds);
  // The previous disposition is back.
  struct sigaction cur {};
  ::sigaction(SIGUSR1, nullptr, &cur);
  CHECK(cur.sa_handler == SIG_DFL);
}

TEST_CASE("SIGINT during run() cancels the main task and run raises KeyboardInterrupt") {
  DefaultSigint dflt;
  bool saw_cancel = false;
  auto main = [&]() -> asyncio::Task<int> {
    // A child process sends us Ctrl-C.
    std::vector<std::string> args{"-c", "kill -INT " + std::to_string(::getpid())};
    auto p = co_await asyncio::create_subprocess_exec("/bin/sh", args);
    try {
      co_await p.wait();  // the Ctrl-C may land here already
      co_await asyncio::sleep(30);
    } catch (const asyncio::CancelledError&) {
      saw_cancel = true;
      throw;
    }
    co_return 0;
  };
  bool interrupted = false;
  try {
    asyncio::run(main());
  } catch (const asyncio::KeyboardInterrupt&) {
    interrupted = true;
  }
  CHECK(saw_cancel);
  CHECK(interrupted);
  struct sigaction cur {};
  ::sigaction(SIGINT, nullptr, &cur);
  CHECK(cur.sa_handler == SIG_DFL);  // run() put the disposition back
}

TEST_CASE("a main task that catches the Ctrl-C cancellation and returns is not an interrupt") {
  DefaultSigint dflt;
  auto main = []() -> asyncio::Task<std::string> {
    ::kill(::getpid(), SIGINT);
    try {
      co_await asyncio::sleep(30);
    } catch (const asyncio::CancelledError&) {
      asyncio::current_task()->uncancel();
      co_return "handled";
    }
    co_return "not cancelled";
  };
  CHECK(asyncio::run(main()) == "handled");
}

TEST_CASE("add_reader/add_writer are level-triggered and removable; I/O keeps virtual time from jumping") {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
  auto main = [&]() -> asyncio::Task<double> {
    auto& loop = asyncio::get_running_loop();
    int reads = 0, writes = 0;
    loop.add_writer(p[1], [&] {
      ++writes;
      if (writes == 1) {
        ssize_t rc = ::write(p[1], "x", 1);
        (void)rc;
      }
    });
    loop.add_reader(p[0], [&] { ++reads; });  // not consumed: fires every iteration
    for (int i = 0; i < 5; ++i) co_await asyncio::sleep(0);
    CHECK(writes >= 2);
    CHECK(reads >= 2);
    CHECK(loop.remove_writer(p[1]));
    CHECK(loop.remove_reader(p[0]));
    CHECK_FALSE(loop.remove_reader(p[0]));
    int before = reads;
    co_await asyncio::sleep(0);
    CHECK(reads == before);
    co_return loop.time();
  };
  double t = asyncio::run(main(), {.virtual_time = true});
  CHECK(t < 1.0);
  ::close(p[0]);
  ::close(p[1]);
}
