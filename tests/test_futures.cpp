// Future<T>, shield(), as_completed(): scenarios replay tests/python/futures.py (python3.11 under
// a virtual clock, recorded in tests/python/futures.out).
#include <asyncio/asyncio.hpp>

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
  pytrace::replay("futures", scenario, main);
}

asyncio::Task<> fut_waiter(std::string n, asyncio::Future<int> fut) {
  int v = co_await fut;
  say("{} got {}", n, v);
}
asyncio::Task<> future_basic() {
  auto& loop = asyncio::get_running_loop();
  auto fut = loop.create_future<int>();
  say("done {} cancelled {}", py(fut.done()), py(fut.cancelled()));
  try {
    fut.result();
  } catch (const asyncio::InvalidStateError& e) {
    say("InvalidStateError {}", e.what());
  }
  fut.add_done_callback([](asyncio::Future<int>& f) { say("callback 1 result {}", f.result()); });
  auto cid = fut.add_done_callback([] { say("callback removed (wrong)"); });
  fut.add_done_callback([] { say("callback 3"); });
  say("removed {}", fut.remove_done_callback(cid));
  std::vector<asyncio::TaskHandle<>> ts{asyncio::create_task(fut_waiter("A", fut)),
                                        asyncio::create_task(fut_waiter("B", fut))};
  co_await asyncio::sleep(0);
  loop.call_later(1, [fut]() mutable { fut.set_result(42); });
  co_await asyncio::gather(ts);
  say("at {} result {}", now(), fut.result());
  try {
    fut.set_result(1);
  } catch (const asyncio::InvalidStateError&) {
    say("InvalidStateError on second set_result");
  }
  fut.add_done_callback([] { say("late callback"); });
  say("before late callback");
  co_await asyncio::sleep(0);
  asyncio::Future<int> f2;  // bound to the running loop
  f2.set_exception(asyncio::ValueError("bad"));
  try {
    co_await f2;
  } catch (const asyncio::ValueError& e) {
    say("ValueError {} exception {}", e.what(), asyncio::detail::describe_exception(f2.exception()));
  }
  try {
    f2.set_exception(asyncio::ValueError("again"));
  } catch (const asyncio::InvalidStateError&) {
    say("InvalidStateError on second set_exception");
  }
  check_clean();
}

asyncio::Task<> cancel_waiter(asyncio::Future<> fut) {
  try {
    co_await fut;
  } catch (const asyncio::CancelledError&) {
    say("waiter cancelled; future cancelled {}", py(fut.cancelled()));
    throw;
  }
}
asyncio::Task<> future_cancel() {
  auto& loop = asyncio::get_running_loop();
  auto fut = loop.create_future();
  auto t = asyncio::create_task(cancel_waiter(fut));
  co_await asyncio::sleep(0);
  t.cancel();
  co_await asyncio::gather(asyncio::return_exceptions, t);
  say("fut cancelled {} cancel again {}", py(fut.cancelled()), py(fut.cancel()));
  try {
    fut.result();
  } catch (const asyncio::CancelledError&) {
    say("result -> CancelledError");
  }
  asyncio::Future<int> f3;
  try {
    co_await asyncio::wait_for(f3, 0.5);
  } catch (const asyncio::TimeoutError&) {
    say("wait_for timeout at {} future cancelled {}", now(), py(f3.cancelled()));
  }
  asyncio::Future<int> f4;
  f4.cancel("why");
  try {
    co_await f4;
  } catch (const asyncio::CancelledError& e) {
    say("cancelled with {}", e.what());
  }
  check_clean();
}

asyncio::Task<std::string> inner() {
  try {
    co_await asyncio::sleep(1);
  } catch (const asyncio::CancelledError&) {
    say("inner cancelled (wrong)");
    throw;
  }
  say("inner done at {}", now());
  co_return "inner";
}
asyncio::Task<std::string> outer(asyncio::TaskHandle<std::string> inner_t) {
  try {
    std::string r = co_await asyncio::shield(inner_t);
    co_return r;
  } catch (const asyncio::CancelledError&) {
    say("outer cancelled at {}", now());
    throw;
  }
}
asyncio::Task<> fails() {
  co_await asyncio::sleep(0.1);
  throw asyncio::ValueError("inner failed");
}
asyncio::Task<> shield() {
  auto inner_t = asyncio::create_task(inner());
  auto o = asyncio::create_task(outer(inner_t));
  co_await asyncio::sleep(0.5);
  o.cancel();
  co_await asyncio::gather(asyncio::return_exceptions, o);
  say("inner still running {}", py(!inner_t.done()));
  std::string ir = co_await inner_t;
  say("inner result {} at {}", ir, now());
  std::string r = co_await asyncio::shield(asyncio::sleep(0.5, std::string("slept")));
  say("shield of sleep {} at {}", r, now());
  auto inner_t2 = asyncio::create_task(asyncio::sleep(1, std::string("late")));
  try {
    co_await asyncio::wait_for(asyncio::shield(inner_t2), 0.3);
  } catch (const asyncio::TimeoutError&) {
    say("wait_for(shield) timeout at {} inner done {}", now(), py(inner_t2.done()));
  }
  std::string r2 = co_await inner_t2;
  say("inner2 {} at {}", r2, now());
  try {
    co_await asyncio::shield(fails());
  } catch (const asyncio::ValueError& e) {
    say("ValueError {}", e.what());
  }
  check_clean();
}

asyncio::Task<std::string> job(std::string name, double d) {
  co_await asyncio::sleep(d);
  co_return name;
}
asyncio::Task<std::string> bad() {
  co_await asyncio::sleep(0.1);
  throw asyncio::ValueError("bad");
}
asyncio::Task<> as_completed() {
  std::vector<asyncio::TaskHandle<std::string>> ts{asyncio::create_task(job("A", 0.3)),
                                                   asyncio::create_task(job("B", 0.1)),
                                                   asyncio::create_task(job("C", 0.2))};
  for (auto&& next : asyncio::as_completed(ts)) {
    std::string r = co_await next;
    say("got {} at {}", r, now());
  }
  std::vector<asyncio::TaskHandle<std::string>> ts2{asyncio::create_task(job("D", 0.3)),
                                                    asyncio::create_task(job("E", 0.1)),
                                                    asyncio::create_task(job("F", 2))};
  try {
    for (auto&& next : asyncio::as_completed(ts2, 0.5)) {
      std::string r = co_await next;
      say("got {} at {}", r, now());
    }
  } catch (const asyncio::TimeoutError&) {
    say("TimeoutError at {} F done {}", now(), py(ts2[2].done()));
  }
  ts2[2].cancel();
  std::vector<asyncio::Task<std::string>> lazy;
  lazy.push_back(job("G", 0.2));
  lazy.push_back(bad());
  for (auto&& next : asyncio::as_completed(std::move(lazy))) {
    try {
      std::string r = co_await next;
      say("got {} at {}", r, now());
    } catch (const asyncio::ValueError& e) {
      say("ValueError {} at {}", e.what(), now());
    }
  }
  std::vector<asyncio::TaskHandle<std::string>> ts3{asyncio::create_task(job("H", 1))};
  auto ac = asyncio::as_completed(ts3);
  auto w = asyncio::create_task(*ac.begin());
  co_await asyncio::sleep(0.5);
  w.cancel();
  co_await asyncio::gather(asyncio::return_exceptions, w);
  say("waiter cancelled {} H done {}", py(w.cancelled()), py(ts3[0].done()));
  co_await ts3[0];
  std::vector<asyncio::TaskHandle<std::string>> ts4{asyncio::create_task(job("I", 1))};
  auto ac4 = asyncio::as_completed(ts4);
  try {
    co_await asyncio::wait_for(*ac4.begin(), 0.5);
  } catch (const asyncio::TimeoutError&) {
    say("wait_for(next) timeout at {} I done {}", now(), py(ts4[0].done()));
  }
  std::string i = co_await ts4[0];
  say("I {} at {}", i, now());
  check_clean();
}

}  // namespace

TEST_CASE("Future: result, callbacks via call_soon in order, remove_done_callback, awaiting, errors") {
  replay("future_basic", future_basic);
}
TEST_CASE("Future: cancelling the awaiting task cancels the future; wait_for; cancel message") {
  replay("future_cancel", future_cancel);
}
TEST_CASE("shield: the caller's cancellation does not reach the inner task; wait_for(shield)") {
  replay("shield", shield);
}
TEST_CASE("as_completed: completion order, timeout, exceptions, lazy tasks, cancelled waiter") {
  replay("as_completed", as_completed);
}
TEST_CASE("Future<T> with a move-only T and Future<void>") {
  auto main = []() -> asyncio::Task<> {
    asyncio::Future<std::unique_ptr<int>> f;
    asyncio::get_running_loop().call_soon([f]() mutable { f.set_result(std::make_unique<int>(5)); });
    std::unique_ptr<int>& p = co_await f;
    CHECK(*p == 5);
    asyncio::Future<> v;
    v.set_result();
    co_await v;
    CHECK(v.done());
    CHECK(v.exception() == nullptr);
  };
  asyncio::run(main(), {.virtual_time = true});
}
