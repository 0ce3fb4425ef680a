// timeout(), timeout_at(), Timeout: scenarios replay tests/python/timeouts.py (python3.11 under
// a virtual clock, recorded in tests/python/timeouts.out).
#include <asyncio/asyncio.hpp>
#include <asyncio/timeouts.hpp>

#include <string>

#include "catch.hpp"
#include "pytrace.hpp"

using namespace std::chrono_literals;
using pytrace::check_clean;
using pytrace::say;

namespace {

std::string now() { return fmt::format("{:.1f}", asyncio::get_running_loop().time()); }
using pytrace::py;  // (here, beside the overload below, so neither hides the other)
std::string py(std::optional<double> w) { return w ? fmt::format("{:.1f}", *w) : std::string("None"); }

template <class F>
void replay(const char* scenario, F main) {
  pytrace::replay("timeouts", scenario, main);
}

asyncio::Task<> expiry_body(asyncio::Timeout& t) {
  say("when {} expired {}", py(t.when()), py(t.expired()));
  co_await asyncio::sleep(10);
}
asyncio::Task<> short_body(asyncio::Timeout&) { co_await asyncio::sleep(0.5); }
asyncio::Task<> expiry() {
  auto t = asyncio::timeout(1s);
  try {
    co_await asyncio::async_with(t, expiry_body);
  } catch (const asyncio::TimeoutError&) {
    say("TimeoutError at {} expired {}", now(), py(t.expired()));
  }
  auto t2 = asyncio::timeout(1);
  co_await asyncio::async_with(t2, short_body);
  say("no expiry at {} expired {}", now(), py(t2.expired()));
  say("cancelling {}", asyncio::current_task()->cancelling());
  check_clean();
}

asyncio::Task<> resched_body(asyncio::Timeout& t) {
  auto& loop = asyncio::get_running_loop();
  co_await asyncio::sleep(0.5);
  t.reschedule(loop.time() + 2);
  say("rescheduled to {}", py(t.when()));
  co_await asyncio::sleep(1);
  say("still inside at {}", now());
  t.reschedule(std::nullopt);
  co_await asyncio::sleep(5);
  say("no deadline, at {}", now());
  t.reschedule(loop.time() - 1);
  co_await asyncio::sleep(1);
}
asyncio::Task<> empty_body() { co_return; }
asyncio::Task<> long_sleep() { co_await asyncio::sleep(100); }
asyncio::Task<> reschedule() {
  auto& loop = asyncio::get_running_loop();
  auto t = asyncio::timeout(1.0);
  try {
    co_await asyncio::async_with(t, resched_body);
  } catch (const asyncio::TimeoutError&) {
    say("TimeoutError at {}", now());
  }
  try {
    t.reschedule(std::nullopt);
  } catch (const asyncio::RuntimeError& e) {
    say("RuntimeError {}", e.what());
  }
  auto t2 = asyncio::timeout(1);
  try {
    t2.reschedule(std::nullopt);
  } catch (const asyncio::RuntimeError& e) {
    say("RuntimeError {}", e.what());
  }
  auto t3 = asyncio::timeout_at(loop.time() + 1);
  co_await asyncio::async_with(t3, empty_body);
  try {
    co_await asyncio::async_with(t3, empty_body);
  } catch (const asyncio::RuntimeError& e) {
    say("RuntimeError {}", e.what());
  }
  auto t4 = asyncio::timeout(std::nullopt);
  co_await asyncio::async_with(t4, long_sleep);
  say("timeout(None) at {} when {}", now(), py(t4.when()));
  check_clean();
}

asyncio::Task<> inner_two() {
  try {
    co_await asyncio::async_with(asyncio::timeout(2), []() -> asyncio::Task<> { co_await asyncio::sleep(10); });
  } catch (const asyncio::TimeoutError&) {
    say("inner TimeoutError (wrong)");
  } catch (const asyncio::CancelledError&) {
    say("inner sees CancelledError at {}", now());
    throw;
  }
}
asyncio::Task<> inner_one_then_more() {
  try {
    co_await asyncio::async_with(asyncio::timeout(1), []() -> asyncio::Task<> { co_await asyncio::sleep(10); });
  } catch (const asyncio::TimeoutError&) {
    say("inner TimeoutError at {}", now());
  }
  co_await asyncio::sleep(0.5);
  say("outer still running at {}", now());
}
asyncio::Task<> nested() {
  try {
    co_await asyncio::async_with(asyncio::timeout(1), inner_two);
  } catch (const asyncio::TimeoutError&) {
    say("outer TimeoutError at {}", now());
  }
  co_await asyncio::async_with(asyncio::timeout(2), inner_one_then_more);
  say("cancelling {}", asyncio::current_task()->cancelling());
  check_clean();
}

asyncio::Task<> oc_body(double limit) {
  try {
    co_await asyncio::async_with(asyncio::timeout(limit), long_sleep);
  } catch (const asyncio::TimeoutError&) {
    say("TimeoutError (wrong)");
  } catch (const asyncio::CancelledError&) {
    if (limit == 10)
      say("CancelledError at {}", now());
    else
      say("CancelledError at {} cancelling {}", now(), asyncio::current_task()->cancelling());
    throw;
  }
}
asyncio::Task<> outer_cancel() {
  auto t = asyncio::create_task(oc_body(10));
  co_await asyncio::sleep(0.5);
  t.cancel();
  try {
    co_await t;
  } catch (const asyncio::CancelledError&) {
    say("task cancelled {}", py(t.cancelled()));
  }
  auto t2 = asyncio::create_task(oc_body(1));
  auto& loop = asyncio::get_running_loop();
  loop.call_at(loop.time() + 1, [t2]() mutable { t2.cancel(); });
  co_await asyncio::gather(asyncio::return_exceptions, t2);
  say("task cancelled {}", py(t2.cancelled()));
  check_clean();
}

asyncio::Task<> swallow_body() {
  try {
    co_await asyncio::sleep(10);
  } catch (const asyncio::CancelledError&) {
    say("swallowed at {}", now());
  }
}
asyncio::Task<> raise_body() {
  throw asyncio::ValueError("inner");
  co_return;
}
asyncio::Task<> suppressed() {
  auto t = asyncio::timeout(1);
  co_await asyncio::async_with(t, swallow_body);
  say("no TimeoutError; expired {} cancelling {}", py(t.expired()), asyncio::current_task()->cancelling());
  try {
    co_await asyncio::async_with(asyncio::timeout(1), raise_body);
  } catch (const asyncio::ValueError& e) {
    say("ValueError {}", e.what());
  }
  check_clean();
}

}  // namespace

TEST_CASE("timeout: expiry becomes TimeoutError outside the block; no expiry leaves no timer") {
  replay("expiry", expiry);
}
TEST_CASE("timeout: reschedule, reschedule(None), past deadline, RuntimeErrors, timeout(None)") {
  replay("reschedule", reschedule);
}
TEST_CASE("timeout: nesting — only the timeout that fired turns into TimeoutError") { replay("nested", nested); }
TEST_CASE("timeout: an outer cancellation stays CancelledError (also in the deadline's iteration)") {
  replay("outer_cancel", outer_cancel);
}
TEST_CASE("timeout: a swallowed cancellation gives no TimeoutError; other exceptions pass") {
  replay("suppressed", suppressed);
}
TEST_CASE("timeout: RuntimeError outside a task") {
  asyncio::EventLoop loop;
  auto t = asyncio::timeout_at(1.0);
  CHECK_THROWS_AS(t.aenter(), asyncio::RuntimeError);
}
