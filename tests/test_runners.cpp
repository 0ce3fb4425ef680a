// runners.hpp: asyncio::run and Runner, with Python's shutdown sequence.
#include <asyncio/asyncio.hpp>

#include "catch.hpp"
#include "trace.hpp"

using namespace std::chrono_literals;
using Lines = std::vector<std::string>;

namespace {
Trace T;
asyncio::Task<std::string> hello() {
  co_await asyncio::sleep(1s);
  co_return "Hello!";
}
asyncio::Task<> leftover() {
  try {
    co_await asyncio::sleep(100);
  } catch (const asyncio::CancelledError&) {
    T("leftover cleaned up by run()");
    throw;
  }
}
}  // namespace

TEST_CASE("run returns main's result") {
  CHECK(asyncio::run(hello(), {.virtual_time = true}) == "Hello!");
}

TEST_CASE("run rethrows main's exception and a cancelled main as CancelledError") {
  CHECK_THROWS_AS(asyncio::run([]() -> asyncio::Task<> {
                    co_await asyncio::sleep(0);
                    throw asyncio::ValueError("bad");
                  }()),
                  asyncio::ValueError);
  CHECK_THROWS_AS(asyncio::run([]() -> asyncio::Task<> {
                    asyncio::current_task()->cancel();
                    co_await asyncio::sleep(1);
                  }()),
                  asyncio::CancelledError);
}

TEST_CASE("run cancels and awaits the tasks still pending when main returns (CPython trace)") {
  T.lines.clear();
  asyncio::run(
      []() -> asyncio::Task<> {
        asyncio::create_task(leftover());
        co_await asyncio::sleep(0);
        T("main returns");
      }(),
      {.virtual_time = true});
  CHECK(T.lines == Lines{"main returns", "leftover cleaned up by run()"});
}

TEST_CASE("run inside a running loop is a RuntimeError") {
  asyncio::run([]() -> asyncio::Task<> {
    CHECK_THROWS_AS(asyncio::run(hello()), asyncio::RuntimeError);
    asyncio::Runner r;
    CHECK_THROWS_AS(r.run(hello()), asyncio::RuntimeError);
    co_return;
  }());
}

TEST_CASE("Runner runs several coroutines on one loop, close() cancels what is left") {
  T.lines.clear();
  asyncio::EventLoop* first = nullptr;
  {
    asyncio::Runner runner({.virtual_time = true});
    CHECK(runner.run(hello()) == "Hello!");
    first = &runner.get_loop();
    runner.run([]() -> asyncio::Task<> {
      asyncio::create_task(leftover());
      co_await asyncio::sleep(0);
    }());
    CHECK(&runner.get_loop() == first);
    CHECK(&asyncio::get_event_loop() == first);  // the runner's loop is the thread's current loop
    runner.close();
    CHECK_THROWS_AS(runner.run(hello()), asyncio::RuntimeError);
  }
  CHECK(T.lines == Lines{"leftover cleaned up by run()"});
}

TEST_CASE("run() reports tasks that fail during shutdown") {
  // Nothing to assert on the loop (it is closed): the report goes to stderr; the run returns.
  CHECK(asyncio::run(
            []() -> asyncio::Task<int> {
              asyncio::create_task([]() -> asyncio::Task<> {
                bool c = false;
                try {
                  co_await asyncio::sleep(100);
                } catch (const asyncio::CancelledError&) {
                  c = true;
                }
                if (c) throw asyncio::ValueError("failed while cancelled");
              }());
              co_await asyncio::sleep(0);
              co_return 3;
            }(),
            {.virtual_time = true}) == 3);
}

// test_runners.RunnerTests.test_explicit_close / test_custom_factory / test_debug (CPython 3.11)
TEST_CASE("Runner: a loop taken before close() stays askable; loop_factory; debug both ways") {
  {
    asyncio::Runner runner;
    asyncio::EventLoop& loop = runner.get_loop();
    CHECK_FALSE(loop.is_closed());
    runner.close();
    CHECK(loop.is_closed());
    CHECK_THROWS_AS(runner.get_loop(), asyncio::RuntimeError);
  }
  {
    std::shared_ptr<asyncio::EventLoop> made;
    asyncio::Runner runner(asyncio::RunnerOptions{.loop_factory = [&] {
      made = asyncio::new_event_loop();
      return made;
    }});
    CHECK(&runner.get_loop() == made.get());
    runner.close();
    CHECK(made->is_closed());
  }
  ::setenv("ASYNCIO_DEBUG", "1", 1);
  {
    asyncio::Runner off(asyncio::RunnerOptions{.debug = false});  // overrides the environment
    CHECK_FALSE(off.get_loop().get_debug());
    asyncio::Runner unset{asyncio::RunnerOptions{}};
    CHECK(unset.get_loop().get_debug());
  }
  ::unsetenv("ASYNCIO_DEBUG");
  asyncio::Runner on(asyncio::RunnerOptions{.debug = true});
  CHECK(on.get_loop().get_debug());
}
