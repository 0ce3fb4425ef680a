// async_with / async_for (contexts.hpp): aexit on every path (normal exit, exception with and
// without suppression, cancellation, wait_for timeout), never after a failed aenter; lvalue and
// prvalue context managers; bodies with and without the aenter value; async_for ended by
// std::nullopt, by StopAsyncIteration, by the body returning false, and failing in anext().
// Scenarios checked line by line against CPython 3.11: tests/python/contexts.py (.out).
#include <asyncio/asyncio.hpp>

#include <optional>
#include <string>
#include <vector>

#include "catch.hpp"
#include "trace.hpp"

using asyncio::Task;

namespace {

double now() { return asyncio::get_running_loop().time(); }

template <class T>
T run_vt(Task<T> t) {
  return asyncio::run(std::move(t), {.virtual_time = true});
}

std::string name(const std::exception_ptr& e) {
  if (!e) return "None";
  try {
    std::rethrow_exception(e);
  } catch (const asyncio::CancelledError&) {
    return "CancelledError";
  } catch (const asyncio::ValueError&) {
    return "ValueError";
  } catch (...) {
    return "other";
  }
}

struct CM {
  Trace* tr;
  bool suppress = false;
  bool enter_fails = false;
  double exit_sleep = 0;
  int exited = 0;

  Task<std::string> aenter() {
    (*tr)("aenter");
    co_await asyncio::sleep(0.1);
    if (enter_fails) throw asyncio::ValueError("enter failed");
    co_return "value";
  }
  Task<bool> aexit(std::exception_ptr e) {
    (*tr)("aexit {} t={:.1f}", name(e), now());
    if (exit_sleep > 0) {
      co_await asyncio::sleep(exit_sleep);
      (*tr)("aexit done t={:.1f}", now());
    }
    ++exited;
    co_return suppress;
  }
};

Task<> normal_exit(Trace& tr) {
  CM cm{&tr};
  co_await asyncio::async_with(cm, [&](std::string& v) -> Task<> {
    tr("body got {}", v);
    co_await asyncio::sleep(0.2);
  });
  tr("after, exited = {}", cm.exited);
}

Task<> exception_propagates(Trace& tr) {
  try {
    co_await asyncio::async_with(CM{&tr}, [&](std::string&) -> Task<> {
      throw asyncio::ValueError("in body");
      co_return;
    });
  } catch (const asyncio::ValueError& e) {
    tr("caught {}", e.what());
  }
}

Task<> exception_suppressed(Trace& tr) {
  co_await asyncio::async_with(CM{&tr, /*suppress=*/true}, [&]() -> Task<> {
    throw asyncio::ValueError("in body");
    co_return;
  });
  tr("suppressed, went on");
}

Task<> sleeping_worker(Trace& tr) {
  co_await asyncio::async_with(CM{&tr, false, false, /*exit_sleep=*/0.5}, [&]() -> Task<> {
    tr("body sleeping");
    co_await asyncio::sleep(10);
    tr("not reached");
  });
}

Task<> cancelled_in_body(Trace& tr) {
  auto& loop = asyncio::get_running_loop();
  auto t = asyncio::create_task(sleeping_worker(tr));
  co_await asyncio::sleep(1);
  t.cancel();
  try {
    co_await t;
  } catch (const asyncio::CancelledError&) {
    tr("worker cancelled t={:.1f}", now());
  }
  CHECK(asyncio::testing::timer_count(loop) == 0);
  CHECK(asyncio::testing::pending_task_count(loop) == 1);
}

Task<> aenter_fails(Trace& tr) {
  try {
    co_await asyncio::async_with(CM{&tr, false, /*enter_fails=*/true}, [&]() -> Task<> {
      tr("not reached");
      co_return;
    });
  } catch (const asyncio::ValueError& e) {
    tr("caught {}", e.what());
  }
}

Task<> enter_only_worker(Trace& tr) {
  co_await asyncio::async_with(CM{&tr}, [&]() -> Task<> {
    tr("not reached");
    co_return;
  });
}

Task<> cancelled_in_aenter(Trace& tr) {
  auto& loop = asyncio::get_running_loop();
  auto t = asyncio::create_task(enter_only_worker(tr));
  co_await asyncio::sleep(0.05);
  t.cancel();
  try {
    co_await t;
  } catch (const asyncio::CancelledError&) {
    tr("cancelled in aenter t={:.2f}", now());
  }
  CHECK(asyncio::testing::timer_count(loop) == 0);
}

Task<> wait_for_timeout(Trace& tr) {
  auto& loop = asyncio::get_running_loop();
  try {
    co_await asyncio::wait_for(sleeping_worker(tr), 1.0);
  } catch (const asyncio::TimeoutError&) {
    tr("timeout t={:.1f}", now());
  }
  CHECK(asyncio::testing::timer_count(loop) == 0);
  CHECK(asyncio::testing::pending_task_count(loop) == 1);
}

struct Bad {
  Trace* tr;
  Task<> aenter() { co_return; }  // `async with Bad():` binds nothing: the body takes no argument
  Task<bool> aexit(std::exception_ptr e) {
    (*tr)("aexit sees {}", name(e));
    throw asyncio::RuntimeError("from aexit");
    co_return false;
  }
};

Task<> aexit_raises(Trace& tr) {
  try {
    co_await asyncio::async_with(Bad{&tr}, [&]() -> Task<> {
      throw asyncio::ValueError("in body");
      co_return;
    });
  } catch (const asyncio::RuntimeError& e) {
    tr("caught RuntimeError {}", e.what());
  }
}

// Ends with std::nullopt, or (stop_by_raise) with a thrown StopAsyncIteration.
struct Counter {
  int n;
  bool stop_by_raise;
  int i = 0;
  Task<std::optional<int>> anext() {
    co_await asyncio::sleep(0.1);
    if (i >= n) {
      if (stop_by_raise) throw asyncio::StopAsyncIteration();
      co_return std::nullopt;
    }
    i += 1;
    co_return i;
  }
};

struct Broken {
  Task<std::optional<int>> anext() {
    throw asyncio::ValueError("anext failed");
    co_return std::nullopt;
  }
};

Task<> async_for_loops(Trace& tr) {
  co_await asyncio::async_for(Counter{3, false}, [&](int v) -> Task<> {
    tr("v {}", v);
    co_return;
  });
  tr("done t={:.1f}", now());
  co_await asyncio::async_for(Counter{5, true}, [&](int v) -> Task<bool> {
    if (v == 2) co_return false;  // break
    tr("w {}", v);
    co_return true;
  });
  try {
    co_await asyncio::async_for(Broken{}, [&](int) -> Task<> { co_return; });
  } catch (const asyncio::ValueError& e) {
    tr("caught {}", e.what());
  }
}

template <class F>
std::vector<std::string> trace_of(F scenario) {
  Trace tr;
  run_vt(scenario(tr));
  return tr.lines;
}

using L = std::vector<std::string>;

}  // namespace

TEST_CASE("contexts.py: normal_exit") {
  CHECK(trace_of(normal_exit) == L{"aenter", "body got value", "aexit None t=0.3", "after, exited = 1"});
}
TEST_CASE("contexts.py: exception_propagates") {
  CHECK(trace_of(exception_propagates) == L{"aenter", "aexit ValueError t=0.1", "caught in body"});
}
TEST_CASE("contexts.py: exception_suppressed") {
  CHECK(trace_of(exception_suppressed) == L{"aenter", "aexit ValueError t=0.1", "suppressed, went on"});
}
TEST_CASE("contexts.py: cancelled_in_body") {
  CHECK(trace_of(cancelled_in_body) == L{"aenter", "body sleeping", "aexit CancelledError t=1.0",
                                         "aexit done t=1.5", "worker cancelled t=1.5"});
}
TEST_CASE("contexts.py: aenter_fails") {
  CHECK(trace_of(aenter_fails) == L{"aenter", "caught enter failed"});
}
TEST_CASE("contexts.py: cancelled_in_aenter") {
  CHECK(trace_of(cancelled_in_aenter) == L{"aenter", "cancelled in aenter t=0.05"});
}
TEST_CASE("contexts.py: wait_for_timeout") {
  CHECK(trace_of(wait_for_timeout) ==
        L{"aenter", "body sleeping", "aexit CancelledError t=1.0", "aexit done t=1.5", "timeout t=1.5"});
}
TEST_CASE("contexts.py: aexit_raises") {
  CHECK(trace_of(aexit_raises) == L{"aexit sees ValueError", "caught RuntimeError from aexit"});
}
TEST_CASE("contexts.py: async_for_loops") {
  CHECK(trace_of(async_for_loops) == L{"v 1", "v 2", "v 3", "done t=0.4", "w 1", "caught anext failed"});
}

// ------------------------------------------------------------------ C++-specific behaviour

namespace {
/// Records whether the (not moved-from) object is alive, and which object aenter/aexit ran on.
struct Lifetime {
  bool* alive;
  const Lifetime* entered_on = nullptr;
  const Lifetime* exited_on = nullptr;
  explicit Lifetime(bool* a) : alive(a) { *alive = true; }
  Lifetime(Lifetime&& o) noexcept : alive(std::exchange(o.alive, nullptr)) {}
  ~Lifetime() {
    if (alive) *alive = false;
  }
  Task<Lifetime&> aenter() {
    entered_on = this;
    co_return *this;
  }
  Task<bool> aexit(std::exception_ptr) {
    exited_on = this;
    co_return false;
  }
};

Task<int> body_result_and_suppression() {
  CM quiet{nullptr};
  Trace tr;
  quiet.tr = &tr;
  int r = co_await asyncio::async_with(quiet, [](std::string& v) -> Task<int> { co_return static_cast<int>(v.size()); });
  CHECK(r == 5);
  CM suppressing{&tr, true};
  int s = co_await asyncio::async_with(suppressing, [](std::string&) -> Task<int> {
    throw asyncio::ValueError("x");
    co_return 1;
  });
  CHECK(s == 0);  // suppressed: a default-constructed result
  CHECK(suppressing.exited == 1);
  co_return r;
}
}  // namespace

TEST_CASE("async_with returns the body's result; a suppressed exception gives R{}") {
  CHECK(run_vt(body_result_and_suppression()) == 5);
}

TEST_CASE("a prvalue context manager is kept alive for the block, an lvalue used in place") {
  bool alive = false;
  run_vt([](bool* alive) -> Task<> {
    co_await asyncio::async_with(Lifetime(alive), [alive](Lifetime& cm) -> Task<> {
      CHECK(*alive);
      CHECK(cm.entered_on == &cm);
      co_await asyncio::sleep(0.1);
      CHECK(*alive);
    });
    CHECK_FALSE(*alive);  // destroyed with the block

    bool alive2 = false;
    Lifetime cm(&alive2);
    co_await asyncio::async_with(cm, [&](Lifetime& inside) -> Task<> {
      CHECK(&inside == &cm);  // aenter returned *this: the caller's object itself
      co_return;
    });
    CHECK(alive2);
    CHECK(cm.entered_on == &cm);
    CHECK(cm.exited_on == &cm);  // its state is readable after the block
  }(&alive));
  CHECK_FALSE(alive);
}

TEST_CASE("aexit receives the body's exception itself") {
  std::string seen;
  run_vt([](std::string* seen) -> Task<> {
    Trace tr;
    CM cm{&tr, true};
    co_await asyncio::async_with(cm, [](std::string&) -> Task<> {
      throw asyncio::ValueError("the body's own");
      co_return;
    });
    CHECK(cm.exited == 1);
    *seen = tr.lines.at(1);
  }(&seen));
  CHECK(seen == "aexit ValueError t=0.1");
}

TEST_CASE("async_for over an lvalue iterator leaves it where the loop stopped") {
  run_vt([]() -> Task<> {
    Counter c{10, false};
    std::vector<int> seen;
    co_await asyncio::async_for(c, [&](int v) -> Task<bool> {
      seen.push_back(v);
      co_return v < 3;
    });
    CHECK(seen == std::vector<int>{1, 2, 3});
    CHECK(c.i == 3);
    auto next = co_await c.anext();
    CHECK(*next == 4);
  }());
}

TEST_CASE("cancelling a task inside async_for's anext unregisters its sleep") {
  run_vt([]() -> Task<> {
    auto& loop = asyncio::get_running_loop();
    int got = 0;
    auto t = asyncio::create_task(asyncio::async_for(Counter{100, false}, [&](int v) -> Task<> {
      got = v;
      co_return;
    }));
    co_await asyncio::sleep(0.35);
    t.cancel();
    bool cancelled = false;
    try {
      co_await t;
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    CHECK(cancelled);
    CHECK(got == 3);
    CHECK(asyncio::testing::timer_count(loop) == 0);
    CHECK(asyncio::testing::pending_task_count(loop) == 1);
  }());
}

namespace {
struct Words {  // gives strings, to see how the body receives them
  std::vector<std::string> w{"alpha", "beta"};
  std::size_t i = 0;
  Task<std::optional<std::string>> anext() {
    if (i == w.size()) co_return std::nullopt;
    co_return w[i++];
  }
};
Task<std::vector<std::string>> body_kinds() {
  std::vector<std::string> seen;
  Words w1, w2, w3, w4;  // (named: GCC 12 cannot take a braced aggregate inside a co_await statement)
  // By lvalue reference (the natural way to write it for a message type): the item itself.
  co_await asyncio::async_for(w1, [&](std::string& s) -> Task<> {
    s += "!";
    seen.push_back(s);
    co_return;
  });
  // By value: moved in. By const reference and by rvalue reference: bound to the item.
  co_await asyncio::async_for(w2, [&](std::string s) -> Task<> {
    seen.push_back(std::move(s));
    co_return;
  });
  co_await asyncio::async_for(w3, [&](const std::string& s) -> Task<> {
    seen.push_back(s);
    co_return;
  });
  co_await asyncio::async_for(w4, [&](std::string&& s) -> Task<bool> {
    seen.push_back(std::move(s));
    co_return false;
  });
  co_return seen;
}
}  // namespace

TEST_CASE("async_for hands the item to a body taking T&, T, const T& or T&&") {
  CHECK(run_vt(body_kinds()) == std::vector<std::string>{"alpha!", "beta!", "alpha", "beta", "alpha", "beta", "alpha"});
}
