// CPython 3.11's own test_asyncio cases that found differences (issue 15, section 2), ported one
// test method per case and named after it. Each failed on the code before its fix.
#include <asyncio/asyncio.hpp>

#include <memory>
#include <string>
#include <vector>

#include "catch.hpp"

using namespace std::chrono_literals;

// Lib/test/test_asyncio/test_timeouts.py
TEST_CASE("test_timeouts.TimeoutTests.test_nested_timeouts") {
  asyncio::run([]() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    bool cancelled = false, raised = false;
    double deadline = loop.time() + 0.01;
    auto cm1 = asyncio::timeout_at(deadline);
    auto cm2 = asyncio::timeout_at(deadline);
    try {
      co_await asyncio::async_with(cm1, [&](asyncio::Timeout&) -> asyncio::Task<> {
        // Only the topmost context manager should raise TimeoutError.
        try {
          co_await asyncio::async_with(cm2, [&](asyncio::Timeout&) -> asyncio::Task<> {
            co_await asyncio::sleep(10);
          });
        } catch (const asyncio::CancelledError&) {
          cancelled = true;
          throw;
        }
      });
    } catch (const asyncio::TimeoutError&) {
      raised = true;
    }
    CHECK(raised);
    CHECK(cancelled);
    CHECK(cm1.expired());
    CHECK(cm2.expired());
  }());
}

namespace {
asyncio::Task<std::string> victim(std::vector<std::string>& log) {
  try {
    co_await asyncio::sleep(10);
  } catch (const asyncio::CancelledError&) {
    log.push_back("caught");
  }
  co_await asyncio::sleep(0);
  co_return "done";
}
}  // namespace

// The reduced form of the two tests above: Python prints "caught", then "done 2".
TEST_CASE("cancelled twice before it resumes, a task sees one CancelledError (Python's __step clears _must_cancel)") {
  std::vector<std::string> log;
  asyncio::run([](std::vector<std::string>& log) -> asyncio::Task<> {
    auto t = asyncio::create_task(victim(log));
    co_await asyncio::sleep(0);
    t.cancel();
    t.cancel();
    std::string r = co_await t;
    log.push_back(r + " " + std::to_string(t.cancelling()));
  }(log));
  CHECK(log == std::vector<std::string>{"caught", "done 2"});
}

// Lib/test/test_asyncio/test_tasks.py
TEST_CASE("test_tasks.BaseTaskTests.test_sleep") {
  auto loop = asyncio::new_event_loop();
  auto sleeper = [](double dt, std::string arg) -> asyncio::Task<std::string> {
    co_await asyncio::sleep(dt / 2);
    co_return arg;
  };
  auto t = loop->create_task(sleeper(0.01, std::string(100, 'y')));
  std::string r = loop->run_until_complete(t);
  CHECK(r == std::string(100, 'y'));
  CHECK(t.result() == std::string(100, 'y'));  // the handle keeps its result
  loop->close();
}

TEST_CASE("test_tasks.BaseTaskTests.test_cancel_gather_2") {
  std::string msg = "<none>";
  try {
    asyncio::run([]() -> asyncio::Task<> {
      auto test = []() -> asyncio::Task<> {
        double time = 0;
        for (;;) {
          time += 0.05;
          co_await asyncio::gather(asyncio::return_exceptions, asyncio::sleep(0.05));
          if (time > 1) co_return;
        }
      };
      auto qwe = asyncio::create_task(test());
      co_await asyncio::sleep(0.2);
      qwe.cancel("my message");
      co_await qwe;
    }());
  } catch (const asyncio::CancelledError& e) {
    msg = e.message();
  }
  CHECK(msg == "my message");
}

TEST_CASE("gather(range) of Task<bool> and TaskHandle<bool> (std::vector<bool> has no data())") {
  asyncio::run([]() -> asyncio::Task<> {
    auto yes = [](int i) -> asyncio::Task<bool> { co_return i % 2 == 0; };
    std::vector<asyncio::Task<bool>> ts;
    for (int i = 0; i < 4; ++i) ts.push_back(yes(i));
    std::vector<bool> r = co_await asyncio::gather(std::move(ts));
    CHECK(r == std::vector<bool>{true, false, true, false});
    std::vector<asyncio::TaskHandle<bool>> hs;
    for (int i = 0; i < 3; ++i) hs.push_back(asyncio::create_task(yes(i)));
    std::vector<bool> r2 = co_await asyncio::gather(hs);
    CHECK(r2 == std::vector<bool>{true, false, true});
  }());
}

// Lib/test/test_asyncio/test_waitfor.py
TEST_CASE("test_waitfor.AsyncioWaitForTest.test_wait_for_timeout_less_then_0_or_0_future_done") {
  asyncio::run([]() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    auto fut = loop.create_future<std::string>();
    fut.set_result("done");
    std::string ret = co_await asyncio::wait_for(fut, 0.0);
    CHECK(ret == "done");
    CHECK(fut.done());
    auto fut2 = loop.create_future<std::string>();
    fut2.set_result("done2");
    std::string ret2 = co_await asyncio::wait_for(fut2, -1.0);
    CHECK(ret2 == "done2");
    // A future not done is cancelled and the wait times out, as in Python.
    auto fut3 = loop.create_future<int>();
    bool timed_out = false;
    try {
      co_await asyncio::wait_for(fut3, 0.0);
    } catch (const asyncio::TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(fut3.cancelled());
  }());
}

// Lib/test/test_asyncio/test_streams.py
TEST_CASE("test_streams.StreamTests.test_eof_feed_when_closing_writer") {
  std::vector<std::string> messages;
  asyncio::run([](std::vector<std::string>& messages) -> asyncio::Task<> {
    asyncio::get_running_loop().set_exception_handler(
        [&](const asyncio::ExceptionContext& c) { messages.push_back(c.message); });
    auto server = co_await asyncio::start_server(
        [](asyncio::StreamReader r, asyncio::StreamWriter w) -> asyncio::Task<> {
          co_await r.read();
          w.close();
        },
        "127.0.0.1", 0);
    auto [rd, wr] = co_await asyncio::open_connection("127.0.0.1", server.port());
    wr.close();
    co_await wr.wait_closed();
    CHECK(rd.at_eof());
    std::string data = co_await rd.read();
    CHECK(data.empty());
    server.close();
    co_await server.wait_closed();
  }(messages));
  CHECK(messages.empty());
}

// Issue 15, section 2, item 9: destructors never throw.
TEST_CASE("a Timeout entered in a loop and destroyed after that loop is gone is released quietly") {
  auto cm = std::make_unique<asyncio::Timeout>(std::optional<double>(1000.0));
  {
    auto loop = std::make_unique<asyncio::EventLoop>(asyncio::EventLoop::Options{.virtual_time = true});
    loop->set_exception_handler([](const asyncio::ExceptionContext&) {});
    loop->create_task([](asyncio::Timeout* cm) -> asyncio::Task<> {
      co_await asyncio::async_with(*cm, [](asyncio::Timeout&) -> asyncio::Task<> { co_await asyncio::sleep(100); });
    }(cm.get()));
    loop->run_until_complete([]() -> asyncio::Task<> { co_await asyncio::sleep(1); }());
    loop->close();
  }  // the loop is gone; the Timeout still thinks it is armed
  cm.reset();  // used to call std::terminate (get_loop() threw in the destructor)
  SUCCEED();
}
