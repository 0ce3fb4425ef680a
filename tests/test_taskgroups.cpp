// TaskGroup: scenarios replay tests/python/taskgroups.py (python3.13 under a virtual clock,
// recorded in tests/python/taskgroups.out).
#include <asyncio/asyncio.hpp>
#include <asyncio/taskgroups.hpp>
#include <asyncio/timeouts.hpp>

#include <string>
#include <vector>

#include "catch.hpp"
#include "pytrace.hpp"

using namespace std::chrono_literals;
using pytrace::check_clean;
using pytrace::py;
using pytrace::say;

namespace {

std::string now() { return fmt::format("{:.1f}", asyncio::get_running_loop().time()); }

template <class F>
void replay(const char* scenario, F main) {
  pytrace::replay("taskgroups", scenario, main);
}
std::vector<std::string> whats(const asyncio::ExceptionGroup& eg) {
  std::vector<std::string> v;
  for (auto& e : eg.exceptions()) v.push_back("'" + asyncio::detail::describe_exception(e) + "'");
  return v;
}

asyncio::Task<std::string> job(std::string name, double d, bool fail = false) {
  try {
    co_await asyncio::sleep(d);
  } catch (const asyncio::CancelledError&) {
    say("{} cancelled at {}", name, now());
    throw;
  }
  if (fail) {
    say("{} fails at {}", name, now());
    throw asyncio::ValueError(name);
  }
  say("{} done at {}", name, now());
  co_return name;
}

asyncio::Task<> spawner(asyncio::TaskGroup* tg) {
  co_await asyncio::sleep(0.2);
  tg->create_task(job("C", 0.5));
  say("spawned C at {}", now());
}
asyncio::Task<> basic() {
  asyncio::TaskGroup tg;
  asyncio::TaskHandle<std::string> a, b;
  co_await asyncio::async_with(tg, [&](asyncio::TaskGroup& g) -> asyncio::Task<> {
    a = g.create_task(job("A", 0.3));
    b = g.create_task(job("B", 0.1), "bee");
    g.create_task(spawner(&g));
    say("body done at {}", now());
    co_return;
  });
  say("group done at {} {} {} {}", now(), a.result(), b.result(), b.get_name());
  try {
    tg.create_task(job("D", 1));
  } catch (const asyncio::RuntimeError& e) {
    say("RuntimeError {}", e.what());
  }
  asyncio::TaskGroup tg2;
  try {
    tg2.create_task(job("E", 1));
  } catch (const asyncio::RuntimeError& e) {
    say("RuntimeError {}", e.what());
  }
  say("cancelling {}", asyncio::current_task()->cancelling());
  check_clean();
}

asyncio::Task<> fail_body1(asyncio::TaskGroup& tg) {
  tg.create_task(job("A", 0.1, true));
  tg.create_task(job("B", 1));
  try {
    co_await asyncio::sleep(10);
  } catch (const asyncio::CancelledError&) {
    say("body cancelled at {}", now());
    throw;
  }
}
asyncio::Task<> fail_body2(asyncio::TaskGroup& tg) {
  tg.create_task(job("X", 0.1, true));
  tg.create_task(job("Y", 0.1, true));
  co_await asyncio::sleep(0.2);
}
struct KeyError : std::runtime_error {
  KeyError() : std::runtime_error("body") {}
};
asyncio::Task<> fail_body3(asyncio::TaskGroup& tg) {
  tg.create_task(job("Z", 1));
  co_await asyncio::sleep(0.1);
  throw KeyError();
}
asyncio::Task<> fail_body4(asyncio::TaskGroup& tg) {
  tg.create_task(job("F", 0.1, true));
  bool cancelled = false;
  try {
    co_await asyncio::sleep(1);
  } catch (const asyncio::CancelledError&) {
    cancelled = true;
    try {
      tg.create_task(job("G", 1));
    } catch (const asyncio::RuntimeError& e) {
      say("RuntimeError {}", e.what());
    }
  }
  if (cancelled) throw asyncio::CancelledError();
}
asyncio::Task<> failure() {
  try {
    co_await asyncio::async_with(asyncio::TaskGroup{}, fail_body1);
  } catch (const asyncio::ExceptionGroup& eg) {
    say("ExceptionGroup [{}]", fmt::join(whats(eg), ", "));
  }
  say("cancelling {}", asyncio::current_task()->cancelling());
  try {
    co_await asyncio::async_with(asyncio::TaskGroup{}, fail_body2);
  } catch (const asyncio::ExceptionGroup& eg) {
    say("ExceptionGroup {} [{}]", eg.what(), fmt::join(whats(eg), ", "));
  }
  try {
    co_await asyncio::async_with(asyncio::TaskGroup{}, fail_body3);
  } catch (const asyncio::ExceptionGroup& eg) {
    REQUIRE(eg.exceptions().size() == 1);
    try {
      std::rethrow_exception(eg.exceptions()[0]);
    } catch (const KeyError&) {
      say("ExceptionGroup ['KeyError']");
    }
  }
  try {
    co_await asyncio::async_with(asyncio::TaskGroup{}, fail_body4);
  } catch (const asyncio::ExceptionGroup& eg) {
    say("ExceptionGroup {}", eg.exceptions().size());
  }
  check_clean();
}

asyncio::Task<> ext_body(asyncio::TaskGroup& tg) {
  tg.create_task(job("A", 1));
  tg.create_task(asyncio::sleep(2));
  co_await asyncio::sleep(0.1);
  say("body finished at {}", now());
}
asyncio::Task<> runner() {
  try {
    co_await asyncio::async_with(asyncio::TaskGroup{}, ext_body);
  } catch (const asyncio::CancelledError&) {
    say("runner cancelled at {} cancelling {}", now(), asyncio::current_task()->cancelling());
    throw;
  }
}
asyncio::Task<> ext_body2(asyncio::TaskGroup& tg) {
  tg.create_task(job("P", 0.5, true));
  tg.create_task(asyncio::sleep(2));
  co_return;
}
asyncio::Task<> runner2() {
  try {
    co_await asyncio::async_with(asyncio::TaskGroup{}, ext_body2);
  } catch (const asyncio::ExceptionGroup& eg) {
    say("runner2 ExceptionGroup {} cancelling {}", eg.exceptions().size(), asyncio::current_task()->cancelling());
  }
  try {
    co_await asyncio::sleep(1);
    say("runner2 not cancelled (wrong)");
  } catch (const asyncio::CancelledError&) {
    say("runner2 cancelled afterwards at {}", now());
    throw;
  }
}
asyncio::Task<> external_cancel() {
  auto t = asyncio::create_task(runner());
  co_await asyncio::sleep(0.5);
  t.cancel();
  co_await asyncio::gather(asyncio::return_exceptions, t);
  say("t cancelled {}", py(t.cancelled()));
  auto t2 = asyncio::create_task(runner2());
  co_await asyncio::sleep(0.2);
  t2.cancel();
  co_await asyncio::gather(asyncio::return_exceptions, t2);
  say("t cancelled {}", py(t2.cancelled()));
  check_clean();
}

asyncio::Task<> two_jobs(asyncio::TaskGroup& tg) {
  tg.create_task(job("A", 1));
  tg.create_task(job("B", 0.2));
  co_return;
}
asyncio::Task<> group_in_timeout() { co_await asyncio::async_with(asyncio::TaskGroup{}, two_jobs); }
asyncio::Task<> wait_for_child(asyncio::TaskGroup& tg) {
  tg.create_task(asyncio::wait_for(job("W", 1), 0.3));
  co_return;
}
asyncio::Task<> with_timeout() {
  try {
    co_await asyncio::async_with(asyncio::timeout(0.5), group_in_timeout);
  } catch (const asyncio::TimeoutError&) {
    say("TimeoutError at {}", now());
  }
  say("cancelling {}", asyncio::current_task()->cancelling());
  try {
    co_await asyncio::async_with(asyncio::TaskGroup{}, wait_for_child);
  } catch (const asyncio::ExceptionGroup& eg) {
    REQUIRE(eg.exceptions().size() == 1);
    try {
      std::rethrow_exception(eg.exceptions()[0]);
    } catch (const asyncio::TimeoutError&) {
      say("child TimeoutError at {}", now());
    }
  }
  check_clean();
}

asyncio::Task<> grp_body(asyncio::TaskGroup& tg) {
  tg.create_task(job("A", 1));
  tg.create_task(asyncio::sleep(2));
  co_return;
}
asyncio::Task<> grp() { co_await asyncio::async_with(asyncio::TaskGroup{}, grp_body); }
asyncio::Task<> wait_for_group() {
  try {
    co_await asyncio::wait_for(grp(), 0.5);
  } catch (const asyncio::TimeoutError&) {
    say("wait_for TimeoutError at {}", now());
  }
  say("tasks left {}", asyncio::all_tasks().size());
  check_clean();
}

}  // namespace

TEST_CASE("TaskGroup: under wait_for, the timeout cancels the group and its children") {
  replay("wait_for_group", wait_for_group);
}
TEST_CASE("TaskGroup: waits for all, tasks added while waiting, names, RuntimeErrors") { replay("basic", basic); }
TEST_CASE("TaskGroup: first failure cancels siblings and body; ExceptionGroup of every error") {
  replay("failure", failure);
}
TEST_CASE("TaskGroup: an external cancellation cancels the children and is not lost") {
  replay("external_cancel", external_cancel);
}
TEST_CASE("TaskGroup: inside timeout() and with wait_for children") { replay("with_timeout", with_timeout); }
