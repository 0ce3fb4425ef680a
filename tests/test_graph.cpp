// graph.hpp: capture_call_graph / format_call_graph / ps / pstree (Python 3.14's asyncio.graph).
// Outside debug mode frames are named from the executable's symbol table.
#include <asyncio/asyncio.hpp>
#include <asyncio/graph.hpp>

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

#include "catch.hpp"

namespace {

using asyncio::Task;

std::vector<std::string> functions(const asyncio::FutureCallGraph& g) {
  std::vector<std::string> v;
  for (const auto& e : g.call_stack) v.push_back(e.function);
  return v;
}
bool starts(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::optional<asyncio::FutureCallGraph> g_seen;

Task<> graph_inner() {
  g_seen = asyncio::capture_call_graph();
  co_return;
}
Task<> graph_middle() { co_await graph_inner(); }
Task<> graph_root() { co_await graph_middle(); }

Task<> sleeper(double d) { co_await asyncio::sleep(d); }
Task<> sleeper_outer(double d) { co_await sleeper(d); }
Task<> await_task(asyncio::TaskHandle<> t) { co_await t; }
Task<> take_lock(asyncio::Lock& l) { co_await l.acquire(); }
Task<> take_sem(asyncio::Semaphore& s) { co_await s.acquire(); }
Task<> wait_event(asyncio::Event& e) { co_await e.wait(); }
Task<> get_item(asyncio::Queue<int>& q) { (void)co_await q.get(); }
Task<> wait_cond(asyncio::Condition& c) {
  co_await c.acquire();
  co_await c.wait();
  c.release();
}
Task<> gatherer() {
  auto a = asyncio::create_task(sleeper(10), "g1");
  auto b = asyncio::create_task(sleeper(10), "g2");
  co_await asyncio::gather(a, b);
}
Task<> waiter_for() {
  auto w = asyncio::wait_for(sleeper(10), 7.0);
  co_await std::move(w);
}
Task<> grouper() {
  asyncio::TaskGroup tg;
  co_await tg.aenter();
  tg.create_task(sleeper(10), "member");
  auto exit = tg.aexit(nullptr);
  co_await std::move(exit);
}
Task<> await_other(asyncio::Event& go, std::optional<asyncio::TaskHandle<>>& other) {
  co_await go.wait();
  co_await *other;
}
std::string leaf_of(const asyncio::TaskHandle<>& t) {
  auto g = asyncio::capture_call_graph(asyncio::TaskPtr(t));
  return g && !g->call_stack.empty() ? g->call_stack[0].awaiting : std::string("<none>");
}
Task<> depth_inner() {
  auto g2 = asyncio::capture_call_graph({}, {.depth = 2, .limit = {}});
  auto g3 = asyncio::capture_call_graph({}, {.limit = 1});
  REQUIRE(g2);
  REQUIRE(g3);
  CHECK(g2->call_stack.size() == 1);
  CHECK(g3->call_stack.size() == 1);
  co_return;
}
Task<> depth_outer() { co_await depth_inner(); }

}  // namespace

TEST_CASE("the current task's call stack: innermost frame first, named from the symbol table") {
  g_seen.reset();
  asyncio::run(graph_root());
  REQUIRE(g_seen);
  auto f = functions(*g_seen);
  REQUIRE(f.size() == 3);
  CHECK(starts(f[0], "(anonymous namespace)::graph_inner("));
  CHECK(starts(f[1], "(anonymous namespace)::graph_middle("));
  CHECK(starts(f[2], "(anonymous namespace)::graph_root("));
  CHECK(g_seen->call_stack[0].awaiting.empty());  // it is running, not waiting
  CHECK(g_seen->awaited_by.empty());
  CHECK(g_seen->future->get_name() == "Task-1");
}

// tools/gdb/asyncio.py reads a frame's child link 16 bytes into the frame (the promise follows
// the resume and destroy pointers, with both compilers): keep that true.
TEST_CASE("a Task frame's promise sits 16 bytes into the frame (what the gdb commands assume)") {
  auto t = graph_inner();
  auto h = t.release();  // (never run: destroyed below)
  asyncio::detail::PromiseBase* p = &h.promise();
  CHECK(reinterpret_cast<char*>(p) == static_cast<char*>(h.address()) + 16);
  CHECK(reinterpret_cast<char*>(&p->child_slot_) == static_cast<char*>(h.address()) + 24);
  h.destroy();
}

TEST_CASE("debug mode names frames with their file and line") {
  g_seen.reset();
  asyncio::run(graph_root(), {.debug = true});
  REQUIRE(g_seen);
  REQUIRE(g_seen->call_stack.size() == 3);
  for (const auto& e : g_seen->call_stack) UNSCOPED_INFO(e.function << " @ " << e.file << ":" << e.line);
  // (The root coroutine was made before the debug loop started: it is named from the symbol
  // table, without a file.)
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(has(g_seen->call_stack[i].file, "test_graph.cpp"));
    CHECK(g_seen->call_stack[i].line > 0);
  }
  CHECK(has(g_seen->call_stack[0].function, "graph_inner"));
  CHECK(has(g_seen->call_stack[2].function, "graph_root"));
}

TEST_CASE("depth skips innermost frames of the current task, limit keeps the innermost n") {
  asyncio::run(depth_outer());
}

TEST_CASE("a sleeping task: its chain, what the leaf waits on, and who awaits it") {
  auto main = []() -> Task<> {
    auto t = asyncio::create_task(sleeper_outer(5.0), "sleepy");
    co_await asyncio::sleep(0);
    auto waiter = asyncio::create_task(await_task(t), "waiter");
    co_await asyncio::sleep(0);
    auto g = asyncio::capture_call_graph(asyncio::TaskPtr(t));
    REQUIRE(g);
    auto f = functions(*g);
    for (const auto& x : f) UNSCOPED_INFO(x);
    REQUIRE(f.size() == 2);
    CHECK(has(f[0], "sleeper("));
    CHECK(has(f[1], "sleeper_outer("));
    CHECK(starts(g->call_stack[0].awaiting, "sleep, "));
    CHECK(has(g->call_stack[0].awaiting, "s left"));
    REQUIRE(g->awaited_by.size() == 1);
    CHECK(g->awaited_by[0].future->get_name() == "waiter");
    CHECK(g->awaited_by[0].call_stack.at(0).awaiting == "task 'sleepy'");

    std::string text = asyncio::format_call_graph(asyncio::TaskPtr(t));
    CHECK(starts(text, "* Task(name='sleepy', id=0x"));
    CHECK(has(text, "\n  + Call stack:\n  |   in async (anonymous namespace)::sleeper(double)\n"));
    CHECK(has(text, "\n  |       awaiting sleep, "));
    CHECK(has(text, "\n  + Awaited by:\n    * Task(name='waiter', id=0x"));
    CHECK(has(text, "\n      + Call stack:\n"));
    t.cancel();
    waiter.cancel();
    try {
      co_await waiter;
    } catch (const asyncio::CancelledError&) {
    }
  };
  asyncio::run(main());
}

TEST_CASE("what each kind of leaf says it waits on") {
  auto main = []() -> Task<> {
    asyncio::Lock lock;
    asyncio::Semaphore sem(0);
    asyncio::Event ev;
    asyncio::Queue<int> q;
    asyncio::Condition cond;
    co_await lock.acquire();
    std::vector<asyncio::TaskHandle<>> ts;
    ts.push_back(asyncio::create_task(take_lock(lock), "lock"));
    ts.push_back(asyncio::create_task(take_lock(lock), "lock2"));
    ts.push_back(asyncio::create_task(take_sem(sem), "sem"));
    ts.push_back(asyncio::create_task(wait_event(ev), "event"));
    ts.push_back(asyncio::create_task(get_item(q), "queue"));
    ts.push_back(asyncio::create_task(wait_cond(cond), "cond"));
    ts.push_back(asyncio::create_task(gatherer(), "gatherer"));
    ts.push_back(asyncio::create_task(waiter_for(), "waitfor"));
    ts.push_back(asyncio::create_task(grouper(), "grouper"));
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    CHECK(leaf_of(ts[0]) == "Lock.acquire(), position 1 of 2");
    CHECK(leaf_of(ts[1]) == "Lock.acquire(), position 2 of 2");
    CHECK(leaf_of(ts[2]) == "Semaphore.acquire(), position 1 of 1");
    CHECK(starts(leaf_of(ts[3]), "Event.wait()"));
    CHECK(starts(leaf_of(ts[4]), "Queue.get()"));
    CHECK(starts(leaf_of(ts[5]), "Condition.wait()"));
    CHECK(leaf_of(ts[6]) == "gather, 2 of 2 pending");
    CHECK(starts(leaf_of(ts[7]), "wait_for, 1 of 1 pending, "));
    CHECK(leaf_of(ts[8]) == "TaskGroup, 1 tasks pending");

    // gather's children are awaited by the gathering task; a group's member by the group's parent.
    std::string ps = asyncio::ps();
    CHECK(has(ps, "task id"));
    CHECK(has(ps, "coroutine stack"));
    std::vector<std::string> names{"lock", "sem", "event", "queue", "cond", "gatherer", "g1", "g2", "waitfor", "grouper", "member"};
    for (const std::string& name : names) CHECK(has(ps, name));
    std::string tree = asyncio::pstree();
    CAPTURE(ps, tree);
    CHECK(has(tree, "(T) gatherer"));
    CHECK(tree.find("(T) g1") > tree.find("(T) gatherer"));
    CHECK(tree.find("(T) member") > tree.find("(T) grouper"));
    CHECK(!has(tree, "ERROR"));
    for (auto& t : ts) t.cancel();
    for (auto& t : ts) {
      try {
        co_await t;
      } catch (const asyncio::CancelledError&) {
      }
    }
    lock.release();
  };
  asyncio::run(main());
}

TEST_CASE("a cycle of tasks awaiting each other is reported, not followed forever") {
  auto main = []() -> Task<> {
    asyncio::Event go;
    std::optional<asyncio::TaskHandle<>> a, b;
    a = asyncio::create_task(await_other(go, b), "A");
    b = asyncio::create_task(await_other(go, a), "B");
    go.set();
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
    std::string tree = asyncio::pstree();
    CAPTURE(tree);
    CHECK(starts(tree, "ERROR: await-graph contains cycles"));
    CHECK((has(tree, "cycle: A -> B -> A") || has(tree, "cycle: B -> A -> B")));
    auto g = asyncio::capture_call_graph(asyncio::TaskPtr(*a));
    REQUIRE(g);
    REQUIRE(g->awaited_by.size() == 1);
    REQUIRE(g->awaited_by[0].awaited_by.size() == 1);
    CHECK(g->awaited_by[0].awaited_by[0].cycle);
    a->cancel();
    b->cancel();
    co_await asyncio::sleep(0);
    co_await asyncio::sleep(0);
  };
  asyncio::run(main());
}

TEST_CASE("capture_call_graph outside a loop is a RuntimeError; no current task gives nothing") {
  CHECK_THROWS_AS(asyncio::capture_call_graph(), asyncio::RuntimeError);
  asyncio::EventLoop loop;
  std::optional<asyncio::FutureCallGraph> g;
  bool called = false;
  loop.call_soon([&] {
    called = true;
    g = asyncio::capture_call_graph();  // a plain callback: no current task
    loop.stop();
  });
  loop.run_forever();
  CHECK(called);
  CHECK(!g);
  loop.close();
}

namespace {

/// Everything written to stderr (fd 2) while it lives.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    saved_ = ::dup(2);
    FILE* f = std::tmpfile();
    fd_ = ::dup(::fileno(f));
    std::fclose(f);
    ::dup2(fd_, 2);
  }
  ~StderrCapture() {
    restore();
    ::close(fd_);
  }
  std::string text() {
    restore();
    std::string out;
    char buf[4096];
    ssize_t k;
    ::lseek(fd_, 0, SEEK_SET);
    while ((k = ::read(fd_, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(k));
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  int saved_ = -1, fd_ = -1;
};

Task<> dump_while_sleeping() {
  auto t = asyncio::create_task(sleeper_outer(10), "stuck");
  co_await asyncio::sleep(0);
  ::kill(::getpid(), SIGUSR1);
  co_await asyncio::sleep(0.2);  // the loop waits in epoll: the signal wakes it
  t.cancel();
}
Task<> spin(const bool& stop) {
  while (!stop) co_await asyncio::sleep(0);
}
Task<> dump_while_busy() {
  bool stop = false;
  auto a = asyncio::create_task(spin(stop), "spinner");
  auto t = asyncio::create_task(sleeper_outer(10), "stuck");
  co_await asyncio::sleep(0);
  ::kill(::getpid(), SIGUSR1);
  for (int i = 0; i < 200; ++i) co_await asyncio::sleep(0);  // the ready queue is never empty
  stop = true;
  co_await a;
  t.cancel();
}

}  // namespace

TEST_CASE("dump_signal: the loop prints pstree to stderr, asleep or busy; ASYNCIO_DUMP_SIGNAL too") {
  {
    StderrCapture cap;
    asyncio::run(dump_while_sleeping(), {.dump_signal = SIGUSR1});
    std::string err = cap.text();
    CAPTURE(err);
    CHECK(has(err, "asyncio: pstree of pid " + std::to_string(::getpid())));
    CHECK(has(err, "(T) stuck"));
    CHECK(has(err, "awaiting sleep, "));
  }
  {
    StderrCapture cap;
    asyncio::run(dump_while_busy(), {.dump_signal = SIGUSR1});
    std::string err = cap.text();
    CAPTURE(err);
    CHECK(has(err, "(T) spinner"));
    CHECK(has(err, "(T) stuck"));
  }
  {
    ::setenv("ASYNCIO_DUMP_SIGNAL", "USR1", 1);
    StderrCapture cap;
    asyncio::run(dump_while_sleeping());
    ::unsetenv("ASYNCIO_DUMP_SIGNAL");
    std::string err = cap.text();
    CHECK(has(err, "(T) stuck"));
  }
  // Once run() returns, the handler is gone: SIGUSR1 is back to its default (checked, not sent).
  struct sigaction cur {};
  ::sigaction(SIGUSR1, nullptr, &cur);
  CHECK(cur.sa_handler == SIG_DFL);
}
