// AsyncGenerator<T>: co_yield + co_await, anext() -> optional, aclose() with GeneratorExit,
// exceptions and cancellation through the generator. Scenarios checked line by line against
// CPython 3.11: tests/python/generators.py (its output: tests/python/generators.out).
#include <asyncio/asyncio.hpp>

#include <memory>
#include <string>
#include <vector>

#include "catch.hpp"
#include "trace.hpp"

using namespace std::chrono_literals;
using asyncio::AsyncGenerator;
using asyncio::Task;

namespace {

double now() { return asyncio::get_running_loop().time(); }

template <class T>
T run_vt(Task<T> t) {
  return asyncio::run(std::move(t), {.virtual_time = true});
}

// ------------------------------------------------------------------ basic_interleaving
AsyncGenerator<int> async_range(int start, int stop) {
  for (int i = start; i < stop; ++i) {
    co_await asyncio::sleep(0.5);
    co_yield i;
  }
}
Task<> other(Trace& tr) {
  for (int k = 0; k < 3; ++k) {
    tr("other t={:.1f}", now());
    co_await asyncio::sleep(0.7);
  }
}
Task<> basic_interleaving(Trace& tr) {
  auto t = asyncio::create_task(other(tr));
  auto g = async_range(1, 4);
  while (auto v = co_await g.anext()) tr("got {} t={:.1f}", *v, now());
  co_await t;
  tr("end t={:.1f}", now());
}

// ------------------------------------------------------------------ exception_reaches_consumer
AsyncGenerator<int> failing_gen() {
  co_yield 1;
  co_await asyncio::sleep(0.1);
  throw asyncio::ValueError("boom");
}
Task<> exception_reaches_consumer(Trace& tr) {
  auto g = failing_gen();
  auto first = co_await g.anext();
  tr("first {}", *first);
  try {
    co_await g.anext();
  } catch (const asyncio::ValueError& e) {
    tr("caught {}", e.what());
  }
  auto after = co_await g.anext();
  if (!after) tr("then exhausted");
}

// ------------------------------------------------------------------ aclose_runs_cleanup
// Python's try/finally: catch everything, run the clean-up (awaiting is allowed), rethrow.
AsyncGenerator<int> gen_with_cleanup(Trace& tr) {
  std::exception_ptr pending;
  try {
    for (int i = 0; i < 10; ++i) co_yield i;
  } catch (...) {
    pending = std::current_exception();
  }
  tr("cleanup starts");
  co_await asyncio::sleep(0.2);
  tr("cleanup done t={:.1f}", now());
  if (pending) std::rethrow_exception(pending);
}
Task<> aclose_runs_cleanup(Trace& tr) {
  auto g = gen_with_cleanup(tr);
  auto a = co_await g.anext();
  tr("got {}", *a);
  auto b = co_await g.anext();
  tr("got {}", *b);
  co_await g.aclose();
  tr("closed");
  co_await g.aclose();
  tr("closed again");
  auto c = co_await g.anext();
  if (!c) tr("exhausted after aclose");
}

// ------------------------------------------------------------------ aclose_never_started
AsyncGenerator<int> loud_gen(Trace& tr) {
  tr("body runs");
  co_yield 1;
}
Task<> aclose_never_started(Trace& tr) {
  auto g = loud_gen(tr);
  co_await g.aclose();
  auto v = co_await g.anext();
  if (!v) tr("never ran, exhausted");
}

// ------------------------------------------------------------------ aclose_catch_generator_exit
AsyncGenerator<int> catches_exit(Trace& tr) {
  try {
    co_yield 1;
    co_yield 2;
  } catch (const asyncio::GeneratorExit&) {
    tr("got GeneratorExit");
    throw;
  }
}
Task<> aclose_catch_generator_exit(Trace& tr) {
  auto g = catches_exit(tr);
  co_await g.anext();
  co_await g.aclose();
  tr("closed");
}

// ------------------------------------------------------------------ ignored_generator_exit
AsyncGenerator<int> ignores_exit(Trace& tr) {
  try {
    co_yield 1;
  } catch (const asyncio::GeneratorExit&) {
    tr("ignoring");
  }
  co_yield 2;
}
Task<> ignored_generator_exit(Trace& tr) {
  auto g = ignores_exit(tr);
  co_await g.anext();
  try {
    co_await g.aclose();
  } catch (const asyncio::RuntimeError& e) {
    tr("RuntimeError: {}", e.what());
  }
}

// ------------------------------------------------------------------ error_in_cleanup
AsyncGenerator<int> cleanup_fails() {
  try {
    co_yield 1;
  } catch (...) {
    throw asyncio::ValueError("cleanup failed");
  }
}
Task<> error_in_cleanup(Trace& tr) {
  auto g = cleanup_fails();
  co_await g.anext();
  try {
    co_await g.aclose();
  } catch (const asyncio::ValueError& e) {
    tr("aclose raised {}", e.what());
  }
}

// ------------------------------------------------------------------ cancel_inside_generator
AsyncGenerator<std::string> sleepy_gen(Trace& tr) {
  std::exception_ptr pending;
  try {
    co_yield "a";
    co_await asyncio::sleep(10);
    co_yield "b";
  } catch (...) {
    pending = std::current_exception();
  }
  tr("generator finally");
  if (pending) std::rethrow_exception(pending);
}
Task<> sleepy_consumer(AsyncGenerator<std::string>& g, Trace& tr) {
  try {
    while (auto v = co_await g.anext()) tr("consumer got {}", *v);
  } catch (const asyncio::CancelledError&) {
    tr("consumer cancelled");
    throw;
  }
}
Task<> cancel_inside_generator(Trace& tr) {
  auto& loop = asyncio::get_running_loop();
  auto g = sleepy_gen(tr);
  auto t = asyncio::create_task(sleepy_consumer(g, tr));
  co_await asyncio::sleep(1);
  CHECK(asyncio::testing::timer_count(loop) == 1);  // the generator's sleep(10)
  t.cancel();
  try {
    co_await t;
  } catch (const asyncio::CancelledError&) {
    tr("task cancelled t={:.1f}", now());
  }
  CHECK(asyncio::testing::timer_count(loop) == 0);
  CHECK(asyncio::testing::pending_task_count(loop) == 1);  // only this one
  auto v = co_await g.anext();
  if (!v) tr("generator finished");
  CHECK(g.done());
}

// ------------------------------------------------------------------ wait_for_timeout
AsyncGenerator<int> ticks(Trace& tr) {
  std::exception_ptr pending;
  try {
    int i = 0;
    while (true) {
      co_await asyncio::sleep(1);
      i += 1;
      co_yield i;
    }
  } catch (...) {
    pending = std::current_exception();
  }
  tr("ticks finally");
  if (pending) std::rethrow_exception(pending);
}
Task<> consume_ticks(Trace& tr) {
  auto g = ticks(tr);
  while (auto v = co_await g.anext()) tr("tick {}", *v);
}
Task<> wait_for_timeout(Trace& tr) {
  auto& loop = asyncio::get_running_loop();
  try {
    co_await asyncio::wait_for(consume_ticks(tr), 2.5);
  } catch (const asyncio::TimeoutError&) {
    tr("timeout t={:.1f}", now());
  }
  CHECK(asyncio::testing::timer_count(loop) == 0);
  CHECK(asyncio::testing::pending_task_count(loop) == 1);
}

// ------------------------------------------------------------------ already_running
AsyncGenerator<int> slow_one() {
  co_await asyncio::sleep(1);
  co_yield 1;
}
Task<> already_running(Trace& tr) {
  auto g = slow_one();
  auto t = asyncio::create_task(g.anext());
  co_await asyncio::sleep(0);
  try {
    co_await g.anext();
  } catch (const asyncio::RuntimeError& e) {
    tr("RuntimeError: {}", e.what());
  }
  try {
    co_await g.aclose();
  } catch (const asyncio::RuntimeError& e) {
    tr("RuntimeError: {}", e.what());
  }
  auto first = co_await t;
  tr("first anext gave {}", *first);
}

// ------------------------------------------------------------------ awaits_coroutines_inside
Task<std::string> fetch(int n) {
  co_await asyncio::sleep(0.1 * n);
  co_return "item" + std::to_string(n);
}
AsyncGenerator<std::string> fetcher() {
  for (int n : {3, 1, 2}) {
    auto s = co_await fetch(n);
    co_yield s;
  }
}
Task<> awaits_coroutines_inside(Trace& tr) {
  std::vector<std::string> out;
  co_await asyncio::async_for(fetcher(), [&](std::string s) -> Task<> {
    out.push_back(s);
    co_return;
  });
  std::string repr;
  for (auto& s : out) repr += (repr.empty() ? "'" : ", '") + s + "'";
  tr("[{}] t={:.1f}", repr, now());
}

// ------------------------------------------------------------------ cancel_during_aclose
AsyncGenerator<int> slow_cleanup(Trace& tr) {
  std::exception_ptr pending;
  try {
    co_yield 1;
  } catch (...) {
    pending = std::current_exception();
  }
  tr("cleanup sleeping");
  co_await asyncio::sleep(5);
  tr("not reached");
  if (pending) std::rethrow_exception(pending);
}
Task<> closer(AsyncGenerator<int>& g, Trace& tr) {
  co_await g.anext();
  try {
    co_await g.aclose();
  } catch (const asyncio::CancelledError&) {
    tr("aclose cancelled");
    throw;
  }
}
Task<> cancel_during_aclose(Trace& tr) {
  auto& loop = asyncio::get_running_loop();
  auto g = slow_cleanup(tr);
  auto t = asyncio::create_task(closer(g, tr));
  co_await asyncio::sleep(1);
  t.cancel();
  try {
    co_await t;
  } catch (const asyncio::CancelledError&) {
    tr("cancelled t={:.1f}", now());
  }
  CHECK(asyncio::testing::timer_count(loop) == 0);
  // Deviation from Python 3.11 (which leaves the generator "already running" for ever):
  // the generator is finished.
  auto v = co_await g.anext();
  CHECK_FALSE(v);
  CHECK(g.done());
}

template <class F>
std::vector<std::string> trace_of(F scenario) {
  Trace tr;
  run_vt(scenario(tr));
  return tr.lines;
}

using L = std::vector<std::string>;

}  // namespace

TEST_CASE("generators.py: basic_interleaving") {
  CHECK(trace_of(basic_interleaving) == L{"other t=0.0", "got 1 t=0.5", "other t=0.7", "got 2 t=1.0",
                                          "other t=1.4", "got 3 t=1.5", "end t=2.1"});
}
TEST_CASE("generators.py: exception_reaches_consumer") {
  CHECK(trace_of(exception_reaches_consumer) == L{"first 1", "caught boom", "then exhausted"});
}
TEST_CASE("generators.py: aclose_runs_cleanup") {
  CHECK(trace_of(aclose_runs_cleanup) == L{"got 0", "got 1", "cleanup starts", "cleanup done t=0.2", "closed",
                                           "closed again", "exhausted after aclose"});
}
TEST_CASE("generators.py: aclose_never_started") {
  CHECK(trace_of(aclose_never_started) == L{"never ran, exhausted"});
}
TEST_CASE("generators.py: aclose_catch_generator_exit") {
  CHECK(trace_of(aclose_catch_generator_exit) == L{"got GeneratorExit", "closed"});
}
TEST_CASE("generators.py: ignored_generator_exit") {
  CHECK(trace_of(ignored_generator_exit) == L{"ignoring", "RuntimeError: async generator ignored GeneratorExit"});
}
TEST_CASE("generators.py: error_in_cleanup") {
  CHECK(trace_of(error_in_cleanup) == L{"aclose raised cleanup failed"});
}
TEST_CASE("generators.py: cancel_inside_generator") {
  CHECK(trace_of(cancel_inside_generator) ==
        L{"consumer got a", "generator finally", "consumer cancelled", "task cancelled t=1.0", "generator finished"});
}
TEST_CASE("generators.py: wait_for_timeout") {
  CHECK(trace_of(wait_for_timeout) == L{"tick 1", "tick 2", "ticks finally", "timeout t=2.5"});
}
TEST_CASE("generators.py: already_running") {
  CHECK(trace_of(already_running) == L{"RuntimeError: anext(): asynchronous generator is already running",
                                       "RuntimeError: aclose(): asynchronous generator is already running",
                                       "first anext gave 1"});
}
TEST_CASE("generators.py: awaits_coroutines_inside") {
  CHECK(trace_of(awaits_coroutines_inside) == L{"['item3', 'item1', 'item2'] t=0.6"});
}
TEST_CASE("generators.py: cancel_during_aclose") {
  CHECK(trace_of(cancel_during_aclose) == L{"cleanup sleeping", "aclose cancelled", "cancelled t=1.0"});
}

// ------------------------------------------------------------------ C++-specific behaviour

namespace {
struct Counted {
  int* alive;
  explicit Counted(int* a) : alive(a) { ++*alive; }
  Counted(const Counted&) = delete;
  ~Counted() { --*alive; }
};
AsyncGenerator<int> holds_resource(int* alive, bool* after_yield) {
  Counted c(alive);
  co_yield 1;
  co_await asyncio::sleep(0.1);
  *after_yield = true;
  co_yield 2;
}
AsyncGenerator<std::unique_ptr<int>> move_only(int n) {
  for (int i = 0; i < n; ++i) co_yield std::make_unique<int>(i);
}
Task<int> consume_resource(int* alive, bool* after) {
  auto g = holds_resource(alive, after);
  int n = 0;
  while (auto v = co_await g.anext()) n += *v;
  co_return n;
}
AsyncGenerator<int> counter(int n) {
  for (int i = 0; i < n; ++i) co_yield i;
}
}  // namespace

TEST_CASE("destroying an unfinished generator runs its destructors, not the code after co_yield") {
  int alive = 0;
  bool after_yield = false;
  run_vt([](int* alive, bool* after) -> Task<> {
    {
      auto g = holds_resource(alive, after);
      CHECK(*alive == 0);  // lazy: nothing ran yet
      auto v = co_await g.anext();
      CHECK(*v == 1);
      CHECK(*alive == 1);
    }
    CHECK(*alive == 0);
  }(&alive, &after_yield));
  CHECK(alive == 0);
  CHECK_FALSE(after_yield);
}

TEST_CASE("aclose() of a generator suspended at co_yield destroys its locals") {
  int alive = 0;
  bool after_yield = false;
  run_vt([](int* alive, bool* after) -> Task<> {
    auto g = holds_resource(alive, after);
    co_await g.anext();
    CHECK(*alive == 1);
    co_await g.aclose();
    CHECK(*alive == 0);
    CHECK(g.done());
  }(&alive, &after_yield));
  CHECK_FALSE(after_yield);
}

TEST_CASE("move-only values are moved out of the generator") {
  int sum = run_vt([]() -> Task<int> {
    int s = 0;
    auto g = move_only(4);
    while (auto p = co_await g.anext()) s += **p;
    co_return s;
  }());
  CHECK(sum == 0 + 1 + 2 + 3);
}

TEST_CASE("an empty or moved-from generator gives nullopt") {
  run_vt([]() -> Task<> {
    AsyncGenerator<int> empty;
    CHECK(empty.done());
    auto e = co_await empty.anext();
    CHECK_FALSE(e);
    co_await empty.aclose();
    auto g = counter(3);
    auto h = std::move(g);
    auto moved_from = co_await g.anext();
    CHECK_FALSE(moved_from);
    auto v = co_await h.anext();
    CHECK(*v == 0);
  }());
}

TEST_CASE("async_for over a generator: break by returning false, then aclose") {
  run_vt([]() -> Task<> {
    auto g = counter(100);
    std::vector<int> seen;
    co_await asyncio::async_for(g, [&](int v) -> Task<bool> {
      seen.push_back(v);
      co_return v < 2;
    });
    CHECK(seen == std::vector<int>{0, 1, 2});
    auto next = co_await g.anext();  // the lvalue generator is left where the loop stopped
    CHECK(*next == 3);
    co_await g.aclose();
    auto closed = co_await g.anext();
    CHECK_FALSE(closed);
  }());
}

TEST_CASE("an exception from the generator propagates out of async_for") {
  bool caught = false;
  run_vt([](bool* caught) -> Task<> {
    try {
      co_await asyncio::async_for(failing_gen(), [](int) -> Task<> { co_return; });
    } catch (const asyncio::ValueError& e) {
      *caught = std::string(e.what()) == "boom";
    }
  }(&caught));
  CHECK(caught);
}

TEST_CASE("a million synchronous yields run in constant stack") {
  long long sum = run_vt([]() -> Task<long long> {
    long long s = 0;
    auto g = counter(1000000);
    while (auto v = co_await g.anext()) s += *v;
    co_return s;
  }());
  CHECK(sum == 999999LL * 1000000 / 2);
}

TEST_CASE("cancelling a task suspended inside a generator under wait_for leaves nothing behind") {
  run_vt([]() -> Task<> {
    auto& loop = asyncio::get_running_loop();
    int alive = 0;
    bool after = false;
    bool timed_out = false;
    try {
      co_await asyncio::wait_for(consume_resource(&alive, &after), 0.05);
    } catch (const asyncio::TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(alive == 0);
    CHECK_FALSE(after);
    CHECK(asyncio::testing::timer_count(loop) == 0);
    CHECK(asyncio::testing::pending_task_count(loop) == 1);
    int n = co_await asyncio::wait_for(consume_resource(&alive, &after), 1.0);  // enough time: 1 + 2
    CHECK(n == 3);
    CHECK(alive == 0);
  }());
}
