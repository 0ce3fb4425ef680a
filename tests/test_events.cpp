// events.hpp: the loop's callbacks, timers, thread-safe wake-up, fd watching, lifecycle,
// exception handler reports, and the get/new/set_event_loop functions.
#include <asyncio/asyncio.hpp>

#include <unistd.h>

#include <atomic>
#include <thread>

#include "catch.hpp"
#include "trace.hpp"

using namespace std::chrono_literals;
using Lines = std::vector<std::string>;

namespace {
asyncio::Task<int> failing() {
  co_await asyncio::sleep(0);
  throw asyncio::ValueError("nobody looked");
}
asyncio::Task<> forever() { co_await asyncio::sleep(1e9); }
}  // namespace

TEST_CASE("call_soon runs FIFO on the next iteration; call_later and call_at by deadline") {
  Trace t;
  asyncio::EventLoop loop({.virtual_time = true});
  loop.call_later(2, [&] { t("later 2"); });
  loop.call_later(1s, [&] { t("later 1"); });
  loop.call_at(loop.time() + 1, [&] { t("at 1"); });
  loop.call_soon([&] { t("soon 1"); });
  loop.call_soon([&] {
    t("soon 2");
    loop.call_soon([&] { t("soon 3 (next iteration)"); });
  });
  loop.call_later(3, [&] { loop.stop(); });
  loop.run_forever();
  CHECK(t.lines == Lines{"soon 1", "soon 2", "soon 3 (next iteration)", "later 1", "at 1", "later 2"});
  CHECK(loop.time() == Approx(3.0));
  loop.close();
}

TEST_CASE("a cancelled handle never runs and leaves no timer behind") {
  asyncio::EventLoop loop({.virtual_time = true});
  int ran = 0;
  auto h = loop.call_soon([&] { ++ran; });
  auto th = loop.call_later(1, [&] { ++ran; });
  CHECK(th.when() == Approx(1.0));
  CHECK(asyncio::testing::timer_count(loop) == 1);
  h.cancel();
  th.cancel();
  CHECK(h.cancelled());
  CHECK(th.cancelled());
  CHECK(asyncio::testing::timer_count(loop) == 0);
  {
    auto dropped = loop.call_soon([&] { ran += 10; });  // dropping the handle does not cancel
  }
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  CHECK(ran == 10);
}

TEST_CASE("call_soon_threadsafe wakes a blocked loop from another thread") {
  asyncio::EventLoop loop;
  std::atomic<int> got{0};
  std::thread th([&] {
    std::this_thread::sleep_for(50ms);
    loop.call_soon_threadsafe([&] {
      got = 1;
      loop.stop();
    });
  });
  loop.call_later(30, [&] { loop.stop(); });  // safety net: the test fails rather than hangs
  double t0 = loop.time();
  loop.run_forever();
  th.join();
  CHECK(got == 1);
  CHECK(loop.time() - t0 < 10);
}

TEST_CASE("add_reader calls back while the fd is readable; remove_reader stops it") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  asyncio::EventLoop loop;
  std::string got;
  loop.add_reader(p[0], [&] {
    char buf[16];
    auto n = ::read(p[0], buf, sizeof buf);
    got.append(buf, n > 0 ? n : 0);
    if (got.size() >= 5) {
      loop.remove_reader(p[0]);
      loop.stop();
    }
  });
  loop.call_soon([&] { CHECK(::write(p[1], "hel", 3) == 3); });
  loop.call_later(0.01, [&] { CHECK(::write(p[1], "lo", 2) == 2); });
  loop.call_later(30, [&] { loop.stop(); });
  loop.run_forever();
  CHECK(got == "hello");
  CHECK_FALSE(loop.remove_reader(p[0]));
  CHECK_THROWS_AS(loop.add_reader(-1, [] {}), asyncio::ValueError);
  loop.close();
  ::close(p[0]);
  ::close(p[1]);
}

TEST_CASE("run_until_complete with a Task or a TaskHandle; old style get_event_loop") {
  auto& loop = asyncio::get_event_loop();
  CHECK(&loop == &asyncio::get_event_loop());
  auto v = loop.run_until_complete([]() -> asyncio::Task<int> { co_return 5; }());
  CHECK(v == 5);
  auto h = loop.create_task([]() -> asyncio::Task<std::string> { co_return "x"; }());
  CHECK(loop.run_until_complete(h) == "x");
  CHECK_THROWS_AS(loop.run_until_complete(failing()), asyncio::ValueError);
  loop.close();
  CHECK(loop.is_closed());
  CHECK_THROWS_AS(loop.run_until_complete(failing()), asyncio::RuntimeError);
  asyncio::set_event_loop(nullptr);
  auto fresh = asyncio::new_event_loop();
  asyncio::set_event_loop(fresh);
  CHECK(&asyncio::get_event_loop() == fresh.get());
  asyncio::set_event_loop(nullptr);
}

TEST_CASE("loop lifecycle errors are RuntimeErrors") {
  CHECK_THROWS_AS(asyncio::get_running_loop(), asyncio::RuntimeError);
  asyncio::EventLoop loop;
  loop.run_until_complete([](asyncio::EventLoop& l) -> asyncio::Task<> {
    CHECK(l.is_running());
    CHECK(&asyncio::get_running_loop() == &l);
    CHECK_THROWS_AS(l.close(), asyncio::RuntimeError);
    CHECK_THROWS_AS(l.run_forever(), asyncio::RuntimeError);
    asyncio::EventLoop other;
    CHECK_THROWS_AS(other.run_forever(), asyncio::RuntimeError);  // another loop is running
    co_return;
  }(loop));
  loop.close();
  CHECK_THROWS_AS(loop.call_soon([] {}), asyncio::RuntimeError);
  CHECK_THROWS_AS(loop.run_forever(), asyncio::RuntimeError);
}

TEST_CASE("stop() before completion: run_until_complete says so") {
  asyncio::EventLoop loop({.virtual_time = true});
  loop.call_later(1, [&] { loop.stop(); });
  CHECK_THROWS_AS(loop.run_until_complete(forever()), asyncio::RuntimeError);
}

TEST_CASE("a callback that throws is reported through the exception handler, the loop goes on") {
  asyncio::EventLoop loop({.virtual_time = true});
  std::vector<std::string> msgs;
  loop.set_exception_handler([&](asyncio::EventLoop&, const asyncio::ExceptionContext& c) {
    msgs.push_back(c.message + ": " + asyncio::detail::describe_exception(c.exception));
  });
  loop.call_soon([] { throw std::runtime_error("oops"); });
  int after = 0;
  loop.call_soon([&] { after = 1; });
  loop.call_later(1, [&] { loop.stop(); });
  loop.run_forever();
  CHECK(after == 1);
  CHECK(msgs == Lines{"Exception in callback: oops"});
}

TEST_CASE("'Task exception was never retrieved' is reported when the last handle goes") {
  std::vector<asyncio::ExceptionContext> seen;
  asyncio::EventLoop loop({.virtual_time = true});
  loop.set_exception_handler([&](const asyncio::ExceptionContext& c) { seen.push_back(c); });
  loop.run_until_complete([]() -> asyncio::Task<> {
    auto h = asyncio::create_task(failing(), "the-failing-task");
    co_await asyncio::sleep(1);
    CHECK(h.done());
    // A task whose exception is retrieved is not reported.
    auto ok = asyncio::create_task(failing());
    co_await asyncio::sleep(1);
    CHECK(ok.exception() != nullptr);
  }());
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].message == "Task exception was never retrieved");
  CHECK(seen[0].task_name == "the-failing-task");
  CHECK(asyncio::detail::describe_exception(seen[0].exception) == "nobody looked");
  // A detached task (no handle at all) is reported as soon as it fails.
  seen.clear();
  loop.run_until_complete([]() -> asyncio::Task<> {
    asyncio::create_task(failing());
    co_await asyncio::sleep(1);
  }());
  CHECK(seen.size() == 1);
}

TEST_CASE("'Task was destroyed but it is pending!' when the loop closes under a pending task") {
  std::vector<std::string> seen;
  auto loop = std::make_unique<asyncio::EventLoop>(asyncio::EventLoop::Options{.virtual_time = true});
  loop->set_exception_handler([&](const asyncio::ExceptionContext& c) { seen.push_back(c.message + " " + c.task_name); });
  bool cleaned = false;
  auto h = loop->create_task(
      [](bool& c) -> asyncio::Task<> {
        struct Cleanup {
          bool& c;
          ~Cleanup() { c = true; }
        } guard{c};
        co_await asyncio::sleep(100);
      }(cleaned),
      "pending-one");
  loop->run_until_complete([]() -> asyncio::Task<> { co_await asyncio::sleep(1); }());
  loop->close();
  CHECK(cleaned);  // the frame was destroyed, its destructors ran
  CHECK(seen == Lines{"Task was destroyed but it is pending! pending-one"});
  CHECK(h.done());
  CHECK(h.cancelled());
  CHECK(asyncio::testing::timer_count(*loop) == 0);
}

TEST_CASE("debug mode reports slow callbacks, naming the task") {
  std::vector<std::string> seen;
  asyncio::EventLoop loop({.debug = true});
  loop.slow_callback_duration = 0.01;
  loop.set_exception_handler([&](const asyncio::ExceptionContext& c) { seen.push_back(c.message); });
  loop.run_until_complete(
      loop.create_task([]() -> asyncio::Task<> {
        std::this_thread::sleep_for(30ms);
        co_return;
      }(), "sluggish"));
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].find("<Task name='sluggish'> took") != std::string::npos);
}

TEST_CASE("virtual time: the clock starts at 0 and jumps to the next timer") {
  asyncio::EventLoop loop({.virtual_time = true});
  CHECK(loop.time() == 0.0);
  auto wall0 = std::chrono::steady_clock::now();
  loop.run_until_complete([]() -> asyncio::Task<> { co_await asyncio::sleep(30); }());
  CHECK(loop.time() == Approx(30.0));
  CHECK(std::chrono::steady_clock::now() - wall0 < 5s);
}
