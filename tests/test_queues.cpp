// Queue, PriorityQueue, LifoQueue: scenarios replay tests/python/queues.py (python3.13, for
// Queue.shutdown) from tests/python/queues.out; a seeded 10,000-task workload over queues and
// locks checks the invariants under virtual time.
#include <asyncio/asyncio.hpp>
#include <asyncio/queues.hpp>

#include <random>
#include <string>
#include <vector>

#include "catch.hpp"
#include "pytrace.hpp"

using namespace std::chrono_literals;
using pytrace::check_clean;
using pytrace::py;
using pytrace::say;

namespace {

double t0 = 0;
std::string now() { return fmt::format("{:.1f}", asyncio::get_running_loop().time() - t0); }

template <class F>
void replay(const char* scenario, F main) {
  pytrace::replay("queues", scenario, main);
}

asyncio::Queue<int>* g_q;
asyncio::Task<> producer() {
  for (int i = 0; i < 5; ++i) {
    co_await g_q->put(i);
    say("put {} t {} qsize {}", i, now(), g_q->qsize());
  }
}
asyncio::Task<> consumer() {
  for (int k = 0; k < 5; ++k) {
    co_await asyncio::sleep(0.1);
    int v = co_await g_q->get();
    say("got {} t {}", v, now());
    g_q->task_done();
  }
}
asyncio::Task<> basic() {
  t0 = asyncio::get_running_loop().time();
  asyncio::Queue<int> q(2);
  g_q = &q;
  say("maxsize {} empty {} full {}", q.maxsize(), py(q.empty()), py(q.full()));
  co_await asyncio::gather(producer(), consumer());
  co_await q.join();
  say("joined, empty {}", py(q.empty()));
  q.put_nowait(1);
  q.put_nowait(2);
  try {
    q.put_nowait(3);
  } catch (const asyncio::QueueFull&) {
    say("QueueFull");
  }
  int a = q.get_nowait();
  int b = q.get_nowait();
  say("{} {}", a, b);
  try {
    q.get_nowait();
  } catch (const asyncio::QueueEmpty&) {
    say("QueueEmpty");
  }
  q.task_done();
  q.task_done();
  try {
    q.task_done();
  } catch (const asyncio::ValueError& e) {
    say("ValueError {}", e.what());
  }
  check_clean();
}

asyncio::Task<> orders() {
  asyncio::PriorityQueue<std::pair<int, std::string>> pq;
  for (auto item : {std::pair<int, std::string>{3, "c"}, {1, "a"}, {2, "b"}, {0, "z"}}) pq.put_nowait(item);
  std::vector<std::string> parts;
  for (int i = 0; i < 4; ++i) {
    auto [p, s] = pq.get_nowait();
    parts.push_back(fmt::format("({}, '{}')", p, s));
  }
  say("priority [{}]", fmt::join(parts, ", "));
  asyncio::LifoQueue<int> lq;
  for (int i = 0; i < 4; ++i) lq.put_nowait(i);
  std::vector<int> l;
  for (int i = 0; i < 4; ++i) l.push_back(lq.get_nowait());
  say("lifo [{}]", fmt::join(l, ", "));
  co_return;
}

asyncio::Task<> getter(std::string n) {
  try {
    int v = co_await g_q->get();
    say("{} got {}", n, v);
  } catch (const asyncio::CancelledError&) {
    say("{} cancelled", n);
    throw;
  }
}
asyncio::Task<> get_cancel() {
  t0 = asyncio::get_running_loop().time();
  asyncio::Queue<int> q;
  g_q = &q;
  std::vector<asyncio::TaskHandle<>> ts{asyncio::create_task(getter("A")), asyncio::create_task(getter("B")),
                                        asyncio::create_task(getter("C"))};
  co_await asyncio::sleep(0);
  ts[0].cancel();
  co_await asyncio::sleep(0);
  q.put_nowait(1);
  ts[1].cancel();
  co_await asyncio::gather(asyncio::return_exceptions, ts);
  say("qsize {} getters {}", q.qsize(), q.getter_count());
  try {
    co_await asyncio::wait_for(q.get(), 0.5);
  } catch (const asyncio::TimeoutError&) {
    say("get timeout t {} getters {}", now(), q.getter_count());
  }
  check_clean();
}

asyncio::Queue<std::string>* g_sq;
asyncio::Task<> putter(std::string n) {
  try {
    co_await g_sq->put(n);
    say("{} put", n);
  } catch (const asyncio::CancelledError&) {
    say("{} cancelled", n);
    throw;
  }
}
asyncio::Task<> put_cancel() {
  t0 = asyncio::get_running_loop().time();
  asyncio::Queue<std::string> q(1);
  g_sq = &q;
  q.put_nowait("x");
  std::vector<asyncio::TaskHandle<>> ts{asyncio::create_task(putter("P1")), asyncio::create_task(putter("P2")),
                                        asyncio::create_task(putter("P3"))};
  co_await asyncio::sleep(0);
  ts[0].cancel();
  co_await asyncio::sleep(0);
  say("got {}", q.get_nowait());
  ts[1].cancel();
  co_await asyncio::gather(asyncio::return_exceptions, ts);
  std::vector<std::string> items;
  while (!q.empty()) items.push_back("'" + q.get_nowait() + "'");
  say("items [{}] putters {}", fmt::join(items, ", "), q.putter_count());
  q.put_nowait("y");
  try {
    co_await asyncio::wait_for(q.put("z"), 0.5);
  } catch (const asyncio::TimeoutError&) {
    say("put timeout t {} putters {} qsize {}", now(), q.putter_count(), q.qsize());
  }
  check_clean();
}

asyncio::Task<> joiner(std::string n) {
  try {
    co_await g_q->join();
    say("{} joined", n);
  } catch (const asyncio::CancelledError&) {
    say("{} cancelled", n);
    throw;
  }
}
asyncio::Task<> join_cancel() {
  t0 = asyncio::get_running_loop().time();
  asyncio::Queue<int> q;
  g_q = &q;
  q.put_nowait(1);
  auto a = asyncio::create_task(joiner("A"));
  auto b = asyncio::create_task(joiner("B"));
  co_await asyncio::sleep(0);
  a.cancel();
  try {
    co_await asyncio::wait_for(q.join(), 0.5);
  } catch (const asyncio::TimeoutError&) {
    say("join timeout t {}", now());
  }
  q.get_nowait();
  q.task_done();
  co_await asyncio::gather(asyncio::return_exceptions, a, b);
  say("a cancelled {}", py(a.cancelled()));
  check_clean();
}

asyncio::Task<> sd_getter(std::string n) {
  try {
    for (;;) {
      int v = co_await g_q->get();
      say("{} got {}", n, v);
      g_q->task_done();
    }
  } catch (const asyncio::QueueShutDown&) {
    say("{} QueueShutDown", n);
  }
}
asyncio::Task<> sd_putter(int v) {
  try {
    co_await g_q->put(v);
    say("put {}", v);
  } catch (const asyncio::QueueShutDown&) {
    say("put {} QueueShutDown", v);
  }
}
asyncio::Task<> queue_shutdown() {
  asyncio::Queue<int> q1(1);
  g_q = &q1;
  auto g = asyncio::create_task(sd_getter("G"));
  co_await asyncio::sleep(0);
  q1.shutdown();
  co_await g;
  try {
    q1.put_nowait(1);
  } catch (const asyncio::QueueShutDown&) {
    say("put_nowait QueueShutDown");
  }
  asyncio::Queue<int> q2(2);
  g_q = &q2;
  q2.put_nowait(1);
  q2.put_nowait(2);
  auto p = asyncio::create_task(sd_putter(3));
  co_await asyncio::sleep(0);
  q2.shutdown();
  co_await p;
  auto h = asyncio::create_task(sd_getter("H"));
  co_await h;
  co_await q2.join();
  say("joined");
  asyncio::Queue<int> q3;
  g_q = &q3;
  q3.put_nowait(1);
  q3.put_nowait(2);
  auto j = asyncio::create_task(q3.join());
  std::vector<asyncio::TaskHandle<>> gs{asyncio::create_task(sd_getter("I")), asyncio::create_task(sd_getter("J"))};
  co_await asyncio::sleep(0);
  q3.shutdown(true);
  co_await asyncio::gather(j, gs[0], gs[1]);
  say("qsize {} joined {}", q3.qsize(), py(j.done()));
  check_clean();
}

// ------------------------------------------------------------------ seeded random workload
struct Workload {
  asyncio::Queue<int> q{8};
  asyncio::Semaphore sem{3};
  asyncio::Lock lock;
  long produced = 0, consumed = 0, sum_in = 0, sum_out = 0;
  int in_sem = 0, max_in_sem = 0, in_lock = 0;
  bool lock_violation = false;
};
asyncio::Task<> wl_producer(Workload* w, int id, std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (int k = 0; k < 3; ++k) {
    co_await asyncio::sleep(std::uniform_int_distribution<int>(0, 20)(rng) * 0.001);
    int v = id * 10 + k;
    co_await w->q.put(v);
    ++w->produced;
    w->sum_in += v;
  }
}
asyncio::Task<> wl_consumer(Workload* w, std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (;;) {
    int v = co_await w->q.get();
    {
      auto permit = co_await w->sem.hold();
      ++w->in_sem;
      w->max_in_sem = std::max(w->max_in_sem, w->in_sem);
      co_await asyncio::sleep(std::uniform_int_distribution<int>(0, 5)(rng) * 0.001);
      {
        auto held = co_await w->lock.hold();
        if (++w->in_lock != 1) w->lock_violation = true;
        ++w->consumed;
        w->sum_out += v;
        co_await asyncio::sleep(0);
        --w->in_lock;
      }
      --w->in_sem;
    }
    w->q.task_done();
  }
}
// Tasks that queue on the locks and get cancelled (while queued or just after being woken).
asyncio::Task<> wl_victim(Workload* w, std::uint32_t seed) {
  std::mt19937 rng(seed);
  int kind = std::uniform_int_distribution<int>(0, 2)(rng);
  if (kind == 0) {
    auto held = co_await w->lock.hold();
    co_await asyncio::sleep(0.001);
  } else if (kind == 1) {
    auto permit = co_await w->sem.hold();
    co_await asyncio::sleep(0.001);
  } else {
    co_await asyncio::wait_for(w->sem.acquire(), 0.0005);
    w->sem.release();
  }
}
asyncio::Task<> workload() {
  Workload w;
  std::mt19937 rng(12345);
  std::vector<asyncio::TaskHandle<>> producers, consumers, victims;
  for (int i = 0; i < 3000; ++i) producers.push_back(asyncio::create_task(wl_producer(&w, i, rng())));
  for (int i = 0; i < 50; ++i) consumers.push_back(asyncio::create_task(wl_consumer(&w, rng())));
  for (int i = 0; i < 6950; ++i) {
    victims.push_back(asyncio::create_task(wl_victim(&w, rng())));
    if (i % 7 == 0) co_await asyncio::sleep(0.0001);
    if (i % 3 == 0 && i > 0) victims[std::uniform_int_distribution<std::size_t>(0, victims.size() - 1)(rng)].cancel();
  }
  co_await asyncio::gather(asyncio::return_exceptions, producers);
  co_await asyncio::gather(asyncio::return_exceptions, victims);
  co_await w.q.join();
  for (auto& c : consumers) c.cancel();
  co_await asyncio::gather(asyncio::return_exceptions, consumers);
  CHECK(w.produced == 9000);
  CHECK(w.consumed == 9000);
  CHECK(w.sum_in == w.sum_out);
  CHECK(w.max_in_sem <= 3);
  CHECK_FALSE(w.lock_violation);
  CHECK(w.sem.value() == 3);  // no permit leaked
  CHECK(w.sem.waiter_count() == 0);
  CHECK_FALSE(w.lock.locked());
  CHECK(w.lock.waiter_count() == 0);
  CHECK(w.q.empty());
  CHECK(w.q.getter_count() == 0);
  CHECK(w.q.putter_count() == 0);
  CHECK(w.q.unfinished_tasks() == 0);
  check_clean();
}

}  // namespace

TEST_CASE("Queue: bounded put/get, qsize/full/empty, nowait errors, task_done, join") { replay("basic", basic); }
TEST_CASE("PriorityQueue pops the smallest, LifoQueue the newest") { replay("orders", orders); }
TEST_CASE("Queue.get: cancelled while queued and after being woken; wait_for timeout") {
  replay("get_cancel", get_cancel);
}
TEST_CASE("Queue.put: cancelled while queued and after being woken; wait_for timeout") {
  replay("put_cancel", put_cancel);
}
TEST_CASE("Queue.join: cancelled joiner, wait_for timeout, release on task_done") {
  replay("join_cancel", join_cancel);
}
TEST_CASE("Queue.shutdown (3.13): blocked and later callers get QueueShutDown; immediate drops items") {
  replay("shutdown", queue_shutdown);
}
TEST_CASE("10,000 tasks over a queue, a semaphore and a lock (seeded): every invariant holds") {
  asyncio::run(workload(), {.virtual_time = true});
}
