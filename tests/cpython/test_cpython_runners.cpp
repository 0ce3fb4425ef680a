// CPython 3.11 Lib/test/test_asyncio/test_runners.py: one Catch2 case per test method, named
// after it (module.Class.method). BaseTest's mock-loop policy has no C++ counterpart: each case
// runs on real loops (virtual time where a case sleeps). `with asyncio.Runner() as runner:` is
// a Runner in a block (its destructor closes it). `interrupt_self()` (_thread.interrupt_main())
// is kill(getpid(), SIGINT) with SIGINT at its default disposition (Catch2 installs its own
// handler, and run() only takes Ctrl-C over from the default, as Python's from
// default_int_handler). Methods with no C++ meaning are listed in SKIPPED.md.
#include <asyncio/asyncio.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "catch.hpp"
#include "cpython/cpython_check.hpp"

namespace {
using cpython_check::contains;

/// SIGINT at its default disposition for the scope (Python's default_int_handler).
struct DefaultSigint {
  struct sigaction old {};
  DefaultSigint() {
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    ::sigaction(SIGINT, &sa, &old);
  }
  ~DefaultSigint() { ::sigaction(SIGINT, &old, nullptr); }
};
/// _thread.interrupt_main(): a Ctrl-C for this process.
void interrupt_self() { ::kill(::getpid(), SIGINT); }

/// An environment variable set for the scope (mock.patch of asyncio's debug-mode switch).
struct EnvVar {
  const char* name;
  std::optional<std::string> old;
  EnvVar(const char* n, const char* v) : name(n) {
    if (const char* o = std::getenv(n)) old = o;
    ::setenv(n, v, 1);
  }
  ~EnvVar() {
    if (old)
      ::setenv(name, old->c_str(), 1);
    else
      ::unsetenv(name);
  }
};

template <class R, class X>
concept Runnable = requires(R& r, X x) { r.run(std::move(x)); };
template <class X>
concept RunAccepts = requires(X x) { asyncio::run(std::move(x)); };
}  // namespace

using asyncio::Task;

// ---------------------------------------------------------------------------------- RunTests

TEST_CASE("test_runners.RunTests.test_asyncio_run_return") {
  auto main = []() -> Task<int> {
    co_await asyncio::sleep(0);
    co_return 42;
  };
  CHECK(asyncio::run(main()) == 42);
}

TEST_CASE("test_runners.RunTests.test_asyncio_run_raises") {
  auto main = []() -> Task<> {
    co_await asyncio::sleep(0);
    throw asyncio::ValueError("spam");
  };
  CHECK_RAISES_MSG(asyncio::ValueError, "spam", asyncio::run(main()));
}

TEST_CASE("test_runners.RunTests.test_asyncio_run_only_coro") {
  // Python passes 1 and a lambda: in C++ those do not compile; the runtime analogue of "not a
  // coroutine" is an empty Task (moved from).
  static_assert(!RunAccepts<int>);
  static_assert(!RunAccepts<void (*)()>);
  auto main = []() -> Task<> { co_return; };
  auto t = main();
  auto moved = std::move(t);
  CHECK_THROWS_AS(asyncio::run(std::move(t)), asyncio::RuntimeError);
}

TEST_CASE("test_runners.RunTests.test_asyncio_run_debug") {
  auto main = [](bool expected) -> Task<> {
    auto& loop = asyncio::get_event_loop();
    CHECK(loop.get_debug() == expected);
    co_return;
  };
  asyncio::run(main(false), asyncio::RunOptions{.debug = false});
  asyncio::run(main(true), asyncio::RunOptions{.debug = true});
  {
    EnvVar env("ASYNCIO_DEBUG", "1");  // coroutines._is_debug_mode() -> True
    asyncio::run(main(true));
    asyncio::run(main(false), asyncio::RunOptions{.debug = false});
  }
  {
    EnvVar env("ASYNCIO_DEBUG", "0");  // coroutines._is_debug_mode() -> False
    asyncio::run(main(true), asyncio::RunOptions{.debug = true});
    asyncio::run(main(false));
  }
}

TEST_CASE("test_runners.RunTests.test_asyncio_run_from_running_loop") {
  int depth = 0;
  auto inner = []() -> Task<> { co_return; };
  auto main = [&]() -> Task<> {
    ++depth;
    asyncio::run(inner());  // raises: a loop is running on this thread
    co_return;
  };
  CHECK_RAISES_MSG(asyncio::RuntimeError, "cannot be called from a running", asyncio::run(main()));
  CHECK(depth == 1);
}

TEST_CASE("test_runners.RunTests.test_asyncio_run_cancels_hanging_tasks") {
  std::optional<asyncio::TaskHandle<void>> lo_task;
  auto leftover = []() -> Task<> { co_await asyncio::sleep(0.1); };
  auto main = [&]() -> Task<int> {
    lo_task = asyncio::create_task(leftover());
    co_return 123;
  };
  CHECK(asyncio::run(main(), asyncio::RunOptions{.virtual_time = true}) == 123);
  REQUIRE(lo_task);
  CHECK(lo_task->done());
}

TEST_CASE("test_runners.RunTests.test_asyncio_run_reports_hanging_tasks_errors") {
  std::optional<asyncio::TaskHandle<void>> lo_task;
  std::vector<asyncio::ExceptionContext> calls;
  auto leftover = []() -> Task<> {
    bool cancelled = false;
    try {
      co_await asyncio::sleep(0.1);
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    if (cancelled) throw std::domain_error("division by zero");  // 1 / 0
  };
  auto main = [&]() -> Task<int> {
    auto& loop = asyncio::get_running_loop();
    loop.set_exception_handler([&](asyncio::EventLoop&, const asyncio::ExceptionContext& ctx) {
      calls.push_back(ctx);
    });
    lo_task = asyncio::create_task(leftover());
    co_return 123;
  };
  CHECK(asyncio::run(main(), asyncio::RunOptions{.virtual_time = true}) == 123);
  REQUIRE(lo_task);
  CHECK(lo_task->done());
  REQUIRE(!calls.empty());
  const auto& ctx = calls.back();  // assert_called_with: the last call
  CHECK(contains(ctx.message.c_str(), "asyncio.run()"));
  CHECK(contains(ctx.message.c_str(), "shutdown"));
  CHECK(ctx.task_name == lo_task->get_name());
  bool zde = false;
  try {
    std::rethrow_exception(ctx.exception);
  } catch (const std::domain_error&) {
    zde = true;
  } catch (...) {
  }
  CHECK(zde);
}

namespace {
class FancyExit : public std::exception {};
/// Marks the end of the generator's frame (Python: spinner.ag_frame is None).
struct FrameAlive {
  bool* alive;
  explicit FrameAlive(bool* a) : alive(a) { *alive = true; }
  ~FrameAlive() { *alive = false; }
};
asyncio::AsyncGenerator<int> fidget(bool* alive) {
  FrameAlive guard(alive);
  while (true) {
    co_yield 1;
    co_await asyncio::sleep(1);
  }
}
}  // namespace

TEST_CASE("test_runners.RunTests.test_asyncio_run_closes_gens_after_hanging_tasks_errors") {
  bool spinner_alive = false;
  bool spinner_started = false;
  std::optional<asyncio::TaskHandle<void>> lazyboy;
  auto spin = [&]() -> Task<> {
    auto spinner = fidget(&spinner_alive);
    bool cancelled = false;
    try {
      while (true) {
        auto v = co_await spinner.anext();
        if (!v) break;
        spinner_started = true;
      }
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    if (cancelled) throw std::domain_error("division by zero");  // 1 / 0
  };
  auto main = [&]() -> Task<> {
    auto& loop = asyncio::get_running_loop();
    loop.set_exception_handler([](asyncio::EventLoop&, const asyncio::ExceptionContext&) {});  // mock.Mock()
    lazyboy = asyncio::create_task(spin());
    throw FancyExit();
    co_return;
  };
  CHECK_THROWS_AS(asyncio::run(main(), asyncio::RunOptions{.virtual_time = true}), FancyExit);
  REQUIRE(lazyboy);
  CHECK(lazyboy->done());
  CHECK(spinner_started);
  CHECK_FALSE(spinner_alive);  // the generator's frame is gone
}

TEST_CASE("test_runners.RunTests.test_asyncio_run_set_event_loop") {
  // Python mocks the policy's set_event_loop and checks run() called it (gh-93896). Observable
  // here: run() set its loop as the current one and cleared it at the end (a loop left current
  // would be the closed one).
  auto main = []() -> Task<int> {
    co_await asyncio::sleep(0);
    co_return 42;
  };
  CHECK(asyncio::run(main()) == 42);
  auto& cur = asyncio::get_event_loop();  // none is current: a fresh one
  CHECK_FALSE(cur.is_closed());
  asyncio::set_event_loop(nullptr);
}

// ------------------------------------------------------------------------------- RunnerTests

TEST_CASE("test_runners.RunnerTests.test_non_debug") {
  asyncio::Runner runner(asyncio::RunnerOptions{.debug = false});
  CHECK_FALSE(runner.get_loop().get_debug());
}

TEST_CASE("test_runners.RunnerTests.test_debug") {
  asyncio::Runner runner(asyncio::RunnerOptions{.debug = true});
  CHECK(runner.get_loop().get_debug());
}

TEST_CASE("test_runners.RunnerTests.test_custom_factory") {
  auto loop = asyncio::new_event_loop();
  asyncio::Runner runner(asyncio::RunnerOptions{.loop_factory = [loop] { return loop; }});
  CHECK(&runner.get_loop() == loop.get());
}

TEST_CASE("test_runners.RunnerTests.test_run") {
  auto f = []() -> Task<std::string> {
    co_await asyncio::sleep(0);
    co_return "done";
  };
  asyncio::EventLoop* loop = nullptr;
  asyncio::Runner runner;
  {
    CHECK(runner.run(f()) == "done");
    loop = &runner.get_loop();
    runner.close();  // end of the with block
  }
  CHECK_RAISES_MSG(asyncio::RuntimeError, "Runner is closed", runner.get_loop());
  CHECK(loop->is_closed());
}

TEST_CASE("test_runners.RunnerTests.test_run_non_coro") {
  // runner.run(123) does not compile; the runtime analogue is an empty Task.
  static_assert(!Runnable<asyncio::Runner, int>);
  asyncio::Runner runner;
  auto f = []() -> Task<> { co_return; };
  auto t = f();
  auto moved = std::move(t);
  CHECK_THROWS_AS(runner.run(std::move(t)), asyncio::RuntimeError);
}

TEST_CASE("test_runners.RunnerTests.test_run_future") {
  // A Future is not a coroutine: Runner::run does not accept one (a compile error in C++).
  static_assert(!Runnable<asyncio::Runner, asyncio::Future<void>>);
  static_assert(!Runnable<asyncio::Runner, asyncio::Future<int>>);
  asyncio::Runner runner;
  auto fut = runner.get_loop().create_future<void>();
  CHECK_FALSE(fut.done());
}

TEST_CASE("test_runners.RunnerTests.test_explicit_close") {
  asyncio::Runner runner;
  auto& loop = runner.get_loop();
  runner.close();
  CHECK_RAISES_MSG(asyncio::RuntimeError, "Runner is closed", runner.get_loop());
  CHECK(loop.is_closed());
}

TEST_CASE("test_runners.RunnerTests.test_double_close") {
  asyncio::Runner runner;
  auto& loop = runner.get_loop();
  runner.close();
  CHECK(loop.is_closed());
  runner.close();  // the second call is a no-op
  CHECK(loop.is_closed());
}

TEST_CASE("test_runners.RunnerTests.test_second_with_block_raises") {
  std::vector<int> ret;
  auto f = [&](int arg) -> Task<> {
    ret.push_back(arg);
    co_return;
  };
  asyncio::Runner runner;
  {
    runner.get_loop();  // __enter__
    runner.run(f(1));
    runner.close();  // __exit__
  }
  // A second `with runner:` block: __enter__ (lazy init) raises before the body runs.
  CHECK_RAISES_MSG(asyncio::RuntimeError, "Runner is closed", {
    runner.get_loop();
    runner.run(f(2));
  });
  CHECK(ret == std::vector<int>{1});
}

TEST_CASE("test_runners.RunnerTests.test_recursive_run") {
  asyncio::Runner* rp = nullptr;
  auto g = []() -> Task<> { co_return; };
  auto f = [&]() -> Task<> {
    rp->run(g());  // raises: g() is dropped never started
    co_return;
  };
  asyncio::Runner runner;
  rp = &runner;
  CHECK_RAISES_MSG(asyncio::RuntimeError, "Runner.run() cannot be called from a running event loop",
                   runner.run(f()));
}

TEST_CASE("test_runners.RunnerTests.test_interrupt_call_soon") {
  // The only case where the task is not suspended waiting on a future or another task.
  DefaultSigint dflt;
  bool saw_cancel = false;
  auto coro = [&]() -> Task<> {
    try {
      while (true) co_await asyncio::sleep(0);
    } catch (const asyncio::CancelledError&) {
      saw_cancel = true;
    }
    throw asyncio::CancelledError();
  };
  asyncio::Runner runner;
  runner.get_loop().call_later(0.1, [] { interrupt_self(); });
  CHECK_THROWS_AS(runner.run(coro()), asyncio::KeyboardInterrupt);
  CHECK(saw_cancel);
}

TEST_CASE("test_runners.RunnerTests.test_interrupt_wait") {
  // Interrupting while waiting on a future cancels both the future and the main task.
  DefaultSigint dflt;
  bool saw_cancel = false;
  auto coro = [&](asyncio::Future<void> fut) -> Task<> {
    try {
      co_await fut;
    } catch (const asyncio::CancelledError&) {
      saw_cancel = true;
    }
    throw asyncio::CancelledError();
  };
  asyncio::Runner runner;
  auto fut = runner.get_loop().create_future<void>();
  runner.get_loop().call_later(0.1, [] { interrupt_self(); });
  CHECK_THROWS_AS(runner.run(coro(fut)), asyncio::KeyboardInterrupt);
  CHECK(saw_cancel);
  CHECK(fut.cancelled());
}

TEST_CASE("test_runners.RunnerTests.test_interrupt_cancelled_task") {
  // Interrupting an already-cancelled main task does not raise KeyboardInterrupt.
  DefaultSigint dflt;
  auto subtask = [](asyncio::TaskPtr task) -> Task<> {
    co_await asyncio::sleep(0);
    task->cancel();
    interrupt_self();
  };
  auto coro = [&]() -> Task<> {
    asyncio::create_task(subtask(asyncio::current_task()));
    co_await asyncio::sleep(10);
  };
  asyncio::Runner runner(asyncio::RunOptions{.virtual_time = true});
  CHECK_THROWS_AS(runner.run(coro()), asyncio::CancelledError);
}

TEST_CASE("test_runners.RunnerTests.test_signal_install_not_supported_ok") {
  // Python patches signal.signal to raise ValueError (signals unavailable on the "main
  // thread"): run() must still work without its Ctrl-C handler. Here SIGINT is not at its
  // default disposition (Catch2's handler is installed), so run() does not install one.
  struct sigaction cur {};
  ::sigaction(SIGINT, nullptr, &cur);
  auto coro = []() -> Task<> { co_return; };
  asyncio::Runner runner;
  runner.run(coro());
  struct sigaction after {};
  ::sigaction(SIGINT, nullptr, &after);
  CHECK(after.sa_handler == cur.sa_handler);
}

TEST_CASE("test_runners.RunnerTests.test_set_event_loop_called_once") {
  // Python counts calls of the policy's set_event_loop (mocked): one, at the lazy init, however
  // many run() calls follow. Observable here: a loop set by the first task stays current
  // across the second run() (a second set_event_loop would have replaced it).
  auto other = asyncio::new_event_loop();
  asyncio::EventLoop* seen = nullptr;
  auto set_other = [&]() -> Task<> {
    asyncio::set_event_loop(other);
    co_return;
  };
  asyncio::Runner runner;
  runner.run(set_other());
  auto coro = []() -> Task<> { co_return; };
  runner.run(coro());
  // Outside any running loop, get_event_loop() gives the current loop.
  seen = &asyncio::get_event_loop();
  CHECK(seen == other.get());
  runner.close();
  asyncio::set_event_loop(nullptr);
  other->close();
}
