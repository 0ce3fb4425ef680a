// Debug mode (RunOptions::debug / ASYNCIO_DEBUG=1): the three reports Python's debug mode gives
// (see tests/python/debug.py and debug.out): a coroutine never awaited (with where it is
// defined), a slow callback or task step (with the task's name), and a loop method called from
// a foreign thread.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

std::vector<asyncio::ExceptionContext> reports;

void capture() {
  reports.clear();
  asyncio::get_running_loop().set_exception_handler(
      [](asyncio::EventLoop&, const asyncio::ExceptionContext& c) { reports.push_back(c); });
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

asyncio::Task<> forgotten() { co_await asyncio::sleep(0); }

asyncio::Task<> drop_a_coroutine() {
  capture();
  {
    auto never = forgotten();  // created, never awaited, destroyed here
  }
  co_return;
}

asyncio::Task<> slow() {
  std::this_thread::sleep_for(150ms);  // blocks the loop
  co_return;
}
asyncio::Task<> run_slow() {
  capture();
  co_await asyncio::create_task(slow(), "slowpoke");
  co_await asyncio::sleep(0);
}

asyncio::Task<> foreign_thread() {
  capture();
  auto& loop = asyncio::get_running_loop();
  bool ran = false;
  // The loop thread is blocked in join() while the other thread calls in, so the call itself
  // does not race; debug mode must still report it.
  std::thread t([&] { loop.call_soon([&] { ran = true; }); });
  t.join();
  co_await asyncio::sleep(0);
  co_await asyncio::sleep(0);
  CHECK(ran);
}

}  // namespace

TEST_CASE("debug: a coroutine never awaited is reported with its name and where it is defined") {
  asyncio::run(drop_a_coroutine(), {.debug = true});
  REQUIRE(reports.size() == 1);
  CHECK(has(reports[0].message, "coroutine 'forgotten' was never awaited"));
  CHECK(has(reports[0].message, "Coroutine created at "));
  CHECK(has(reports[0].message, "test_debug.cpp:"));
}

TEST_CASE("debug: nothing is reported outside debug mode") {
  asyncio::run(drop_a_coroutine());
  CHECK(reports.empty());
}

TEST_CASE("debug: a slow task step is reported with the task's name") {
  asyncio::run(run_slow(), {.debug = true});
  REQUIRE(reports.size() == 1);
  CHECK(has(reports[0].message, "Executing <Task name='slowpoke'> took 0."));
  CHECK(has(reports[0].message, " seconds"));
  CHECK(reports[0].task_name == "slowpoke");
}

TEST_CASE("debug: slow_callback_duration is honoured; plain callbacks are reported too") {
  auto main = []() -> asyncio::Task<> {
    capture();
    auto& loop = asyncio::get_running_loop();
    loop.slow_callback_duration = 10.0;
    co_await asyncio::create_task(slow(), "not-slow-enough");
    CHECK(reports.empty());
    loop.slow_callback_duration = 0.05;
    loop.call_soon([] { std::this_thread::sleep_for(80ms); });
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    REQUIRE(reports.size() == 1);
    CHECK(has(reports[0].message, "Executing <Handle> took 0."));
  };
  asyncio::run(main(), {.debug = true});
}

TEST_CASE("debug: a loop method called from a foreign thread is reported") {
  asyncio::run(foreign_thread(), {.debug = true});
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].message ==
        "Non-thread-safe operation invoked on an event loop other than the current one: call_soon");
}

TEST_CASE("debug: ASYNCIO_DEBUG=1 switches debug mode on") {
  ::setenv("ASYNCIO_DEBUG", "1", 1);
  auto loop = asyncio::new_event_loop();
  CHECK(loop->get_debug());
  ::unsetenv("ASYNCIO_DEBUG");
  auto loop2 = asyncio::new_event_loop();
  CHECK_FALSE(loop2->get_debug());
  asyncio::run(drop_a_coroutine(), {.debug = false});
  CHECK(reports.empty());
}
