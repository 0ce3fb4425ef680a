// CPython 3.11 Lib/test/test_asyncio/test_queues.py: one Catch2 case per test method, named
// after it (module.Class.method; the _QueueJoinTestMixin methods once per concrete class). Each
// IsolatedAsyncioTestCase method runs in asyncio::run on a virtual clock. Python's private
// `_getters` / `_putters` deques are read through getter_count() / putter_count(); methods with
// no C++ meaning are listed in SKIPPED.md.
#include <asyncio/asyncio.hpp>

#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "catch.hpp"

namespace {
/// An IsolatedAsyncioTestCase method: `f()` runs as the main task of a fresh loop.
template <class F>
void run(F&& f) {
  asyncio::run(f(), asyncio::RunOptions{.virtual_time = true});
}
}  // namespace

// `with self.assertRaises(E): await X` (the co_await is a statement of its own, for GCC 12).
#define CO_CHECK_RAISES(E, ...) \
  do {                          \
    bool raised_ = false;       \
    try {                       \
      co_await (__VA_ARGS__);   \
    } catch (const E&) {        \
      raised_ = true;           \
    }                           \
    CHECK(raised_);             \
  } while (false)

using asyncio::Task;

// ====================================================================== QueueBasicTests

TEST_CASE("test_queues.QueueBasicTests.test_generic_alias") {
  // asyncio.Queue[int].__args__ == (int,): the element type of Queue<int>.
  static_assert(std::is_same_v<asyncio::Queue<int>::value_type, int>);
  SUCCEED();
}

TEST_CASE("test_queues.QueueBasicTests.test_empty") {
  run([]() -> Task<> {
    asyncio::Queue<int> q;
    CHECK(q.empty());
    co_await q.put(1);
    CHECK_FALSE(q.empty());
    int v = co_await q.get();
    CHECK(v == 1);
    CHECK(q.empty());
  });
}

TEST_CASE("test_queues.QueueBasicTests.test_full") {
  run([]() -> Task<> {
    {
      asyncio::Queue<int> q;
      CHECK_FALSE(q.full());
    }
    asyncio::Queue<int> q(1);
    co_await q.put(1);
    CHECK(q.full());
  });
}

TEST_CASE("test_queues.QueueBasicTests.test_order") {
  run([]() -> Task<> {
    asyncio::Queue<int> q;
    std::vector<int> input{1, 3, 2};
    for (int i : input) co_await q.put(i);

    std::vector<int> items;
    for (int k = 0; k < 3; ++k) {
      int v = co_await q.get();
      items.push_back(v);
    }
    CHECK(items == std::vector<int>{1, 3, 2});
  });
}

TEST_CASE("test_queues.QueueBasicTests.test_maxsize") {
  run([]() -> Task<> {
    asyncio::Queue<int> q(2);
    CHECK(q.maxsize() == 2);
    std::vector<int> have_been_put;

    auto putter = [&]() -> Task<bool> {
      for (int i = 0; i < 3; ++i) {
        co_await q.put(i);
        have_been_put.push_back(i);
      }
      co_return true;
    };

    auto t = asyncio::create_task(putter());
    for (int i = 0; i < 2; ++i) co_await asyncio::sleep(0);

    // The putter is blocked after putting two items.
    CHECK(have_been_put == std::vector<int>{0, 1});
    int a = co_await q.get();
    CHECK(a == 0);

    // Let the putter resume and put last item.
    co_await asyncio::sleep(0);
    CHECK(have_been_put == std::vector<int>{0, 1, 2});
    int b = co_await q.get();
    CHECK(b == 1);
    int c = co_await q.get();
    CHECK(c == 2);

    CHECK(t.done());
    CHECK(t.result());
  });
}

// ====================================================================== QueueGetTests

TEST_CASE("test_queues.QueueGetTests.test_blocking_get") {
  run([]() -> Task<> {
    asyncio::Queue<int> q;
    q.put_nowait(1);

    int v = co_await q.get();
    CHECK(v == 1);
  });
}

TEST_CASE("test_queues.QueueGetTests.test_blocking_get_wait") {
  run([]() -> Task<> {
    auto& loop = asyncio::get_running_loop();
    asyncio::Queue<int> q;
    asyncio::Event started;
    bool finished = false;

    auto queue_get = [&]() -> Task<int> {
      started.set();
      int res = co_await q.get();
      finished = true;
      co_return res;
    };

    auto queue_get_task = asyncio::create_task(queue_get());
    co_await started.wait();
    CHECK_FALSE(finished);
    loop.call_later(0.01, [&] { q.put_nowait(1); });
    int res = co_await queue_get_task;
    CHECK(finished);
    CHECK(res == 1);
  });
}

TEST_CASE("test_queues.QueueGetTests.test_nonblocking_get") {
  asyncio::Queue<int> q;
  q.put_nowait(1);
  CHECK(q.get_nowait() == 1);
}

TEST_CASE("test_queues.QueueGetTests.test_nonblocking_get_exception") {
  asyncio::Queue<int> q;
  CHECK_THROWS_AS(q.get_nowait(), asyncio::QueueEmpty);
}

TEST_CASE("test_queues.QueueGetTests.test_get_cancelled_race") {
  run([]() -> Task<> {
    asyncio::Queue<std::string> q;

    auto t1 = asyncio::create_task(q.get());
    auto t2 = asyncio::create_task(q.get());

    co_await asyncio::sleep(0);
    t1.cancel();
    co_await asyncio::sleep(0);
    CHECK(t1.done());
    auto put = q.put("a");  // (the std::string argument built outside the co_await, for GCC 12)
    co_await std::move(put);
    co_await asyncio::sleep(0);
    std::string r = co_await t2;
    CHECK(r == "a");
  });
}

TEST_CASE("test_queues.QueueGetTests.test_get_with_waiting_putters") {
  run([]() -> Task<> {
    asyncio::Queue<std::string> q(1);
    std::string a = "a", b = "b";
    asyncio::create_task(q.put(a));
    asyncio::create_task(q.put(b));
    std::string r1 = co_await q.get();
    CHECK(r1 == "a");
    std::string r2 = co_await q.get();
    CHECK(r2 == "b");
  });
}

TEST_CASE("test_queues.QueueGetTests.test_why_are_getters_waiting") {
  run([]() -> Task<> {
    auto consumer = [](asyncio::Queue<int>& queue, int num_expected) -> Task<> {
      for (int i = 0; i < num_expected; ++i) co_await queue.get();
    };

    auto producer = [](asyncio::Queue<int>& queue, int num_items) -> Task<> {
      for (int i = 0; i < num_items; ++i) co_await queue.put(i);
    };

    const int producer_num_items = 5;

    asyncio::Queue<int> q(1);
    co_await asyncio::async_with(asyncio::TaskGroup{}, [&](asyncio::TaskGroup& tg) -> Task<> {
      tg.create_task(producer(q, producer_num_items));
      tg.create_task(consumer(q, producer_num_items));
      co_return;
    });
  });
}

TEST_CASE("test_queues.QueueGetTests.test_cancelled_getters_not_being_held_in_self_getters") {
  run([]() -> Task<> {
    asyncio::Queue<int> queue(5);

    CO_CHECK_RAISES(asyncio::TimeoutError, asyncio::wait_for(queue.get(), 0.1));

    CHECK(queue.getter_count() == 0);
  });
}

// ====================================================================== QueuePutTests

TEST_CASE("test_queues.QueuePutTests.test_blocking_put") {
  run([]() -> Task<> {
    asyncio::Queue<int> q;

    // No maxsize, won't block.
    co_await q.put(1);
    int v = co_await q.get();
    CHECK(v == 1);
  });
}

TEST_CASE("test_queues.QueuePutTests.test_blocking_put_wait") {
  run([]() -> Task<> {
    asyncio::Queue<int> q(1);
    asyncio::Event started;
    bool finished = false;

    auto queue_put = [&]() -> Task<> {
      started.set();
      co_await q.put(1);
      co_await q.put(2);
      finished = true;
    };

    auto& loop = asyncio::get_running_loop();
    loop.call_later(0.01, [&] { q.get_nowait(); });
    auto queue_put_task = asyncio::create_task(queue_put());
    co_await started.wait();
    CHECK_FALSE(finished);
    co_await queue_put_task;
    CHECK(finished);
  });
}

TEST_CASE("test_queues.QueuePutTests.test_nonblocking_put") {
  asyncio::Queue<int> q;
  q.put_nowait(1);
  CHECK(q.get_nowait() == 1);
}

TEST_CASE("test_queues.QueuePutTests.test_get_cancel_drop_one_pending_reader") {
  run([]() -> Task<> {
    asyncio::Queue<int> q;

    auto reader = asyncio::create_task(q.get());

    co_await asyncio::sleep(0);

    q.put_nowait(1);
    q.put_nowait(2);
    reader.cancel();

    bool cancelled = false;
    try {
      co_await reader;
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    if (cancelled) {
      // try again
      reader = asyncio::create_task(q.get());
      co_await reader;
    }

    int result = reader.result();
    // if we get 2, it means 1 got dropped!
    CHECK(result == 1);
  });
}

TEST_CASE("test_queues.QueuePutTests.test_get_cancel_drop_many_pending_readers") {
  run([]() -> Task<> {
    asyncio::Queue<int> q;
    asyncio::TaskHandle<int> reader2, reader3;

    co_await asyncio::async_with(asyncio::TaskGroup{}, [&](asyncio::TaskGroup& tg) -> Task<> {
      auto reader1 = tg.create_task(q.get());
      reader2 = tg.create_task(q.get());
      reader3 = tg.create_task(q.get());

      co_await asyncio::sleep(0);

      q.put_nowait(1);
      q.put_nowait(2);
      reader1.cancel();

      CO_CHECK_RAISES(asyncio::CancelledError, reader1);

      co_await reader3;
    });

    // It is undefined in which order concurrent readers receive results.
    CHECK(std::set<int>{reader2.result(), reader3.result()} == std::set<int>{1, 2});
  });
}

TEST_CASE("test_queues.QueuePutTests.test_put_cancel_drop") {
  run([]() -> Task<> {
    asyncio::Queue<int> q(1);

    q.put_nowait(1);

    // putting a second item in the queue has to block (qsize=1)
    auto writer = asyncio::create_task(q.put(2));
    co_await asyncio::sleep(0);

    int value1 = q.get_nowait();
    CHECK(value1 == 1);

    writer.cancel();
    bool cancelled = false;
    try {
      co_await writer;
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    if (cancelled) {
      // try again
      writer = asyncio::create_task(q.put(2));
      co_await writer;
    }

    int value2 = q.get_nowait();
    CHECK(value2 == 2);
    CHECK(q.qsize() == 0);
  });
}

TEST_CASE("test_queues.QueuePutTests.test_nonblocking_put_exception") {
  asyncio::Queue<int> q(1);
  q.put_nowait(1);
  CHECK_THROWS_AS(q.put_nowait(2), asyncio::QueueFull);
}

TEST_CASE("test_queues.QueuePutTests.test_put_cancelled") {
  run([]() -> Task<> {
    asyncio::Queue<int> q;

    auto queue_put = [&]() -> Task<bool> {
      co_await q.put(1);
      co_return true;
    };

    auto t = asyncio::create_task(queue_put());

    int v = co_await q.get();
    CHECK(v == 1);
    CHECK(t.done());
    CHECK(t.result());
  });
}

TEST_CASE("test_queues.QueuePutTests.test_put_cancelled_race") {
  run([]() -> Task<> {
    asyncio::Queue<std::string> q(1);
    std::string a = "a", b = "b", x = "X";

    auto put_a = asyncio::create_task(q.put(a));
    auto put_b = asyncio::create_task(q.put(b));
    auto put_c = asyncio::create_task(q.put(x));

    co_await asyncio::sleep(0);
    CHECK(put_a.done());
    CHECK_FALSE(put_b.done());

    put_c.cancel();
    co_await asyncio::sleep(0);
    CHECK(put_c.done());
    CHECK(q.get_nowait() == "a");
    co_await asyncio::sleep(0);
    CHECK(q.get_nowait() == "b");

    co_await put_b;
  });
}

TEST_CASE("test_queues.QueuePutTests.test_put_with_waiting_getters") {
  run([]() -> Task<> {
    asyncio::Queue<std::string> q;
    auto t = asyncio::create_task(q.get());
    co_await asyncio::sleep(0);
    auto put = q.put("a");  // (the std::string argument built outside the co_await, for GCC 12)
    co_await std::move(put);
    std::string r = co_await t;
    CHECK(r == "a");
  });
}

TEST_CASE("test_queues.QueuePutTests.test_why_are_putters_waiting") {
  run([]() -> Task<> {
    asyncio::Queue<int> queue(2);

    auto putter = [&](int item) -> Task<> { co_await queue.put(item); };

    auto getter = [&]() -> Task<> {
      co_await asyncio::sleep(0);
      auto num = queue.qsize();
      for (std::size_t i = 0; i < num; ++i) queue.get_nowait();
    };

    co_await asyncio::async_with(asyncio::TaskGroup{}, [&](asyncio::TaskGroup& tg) -> Task<> {
      tg.create_task(getter());
      tg.create_task(putter(0));
      tg.create_task(putter(1));
      tg.create_task(putter(2));
      tg.create_task(putter(3));
      co_return;
    });
  });
}

TEST_CASE("test_queues.QueuePutTests.test_cancelled_puts_not_being_held_in_self_putters") {
  run([]() -> Task<> {
    // Full queue.
    asyncio::Queue<int> queue(1);
    queue.put_nowait(1);

    // Task waiting for space to put an item in the queue.
    auto put_task = asyncio::create_task(queue.put(1));
    co_await asyncio::sleep(0);

    // Check that the putter is correctly removed from queue._putters when the task is canceled.
    CHECK(queue.putter_count() == 1);
    put_task.cancel();
    CO_CHECK_RAISES(asyncio::CancelledError, put_task);
    CHECK(queue.putter_count() == 0);
  });
}

TEST_CASE("test_queues.QueuePutTests.test_cancelled_put_silence_value_error_exception") {
  run([]() -> Task<> {
    // Full Queue.
    asyncio::Queue<int> queue(1);
    queue.put_nowait(1);

    // Task waiting for space to put a item in the queue.
    auto put_task = asyncio::create_task(queue.put(1));
    co_await asyncio::sleep(0);

    // get_nowait() remove the future of put_task from queue._putters.
    queue.get_nowait();
    // When canceled, queue.put is going to remove its future from self._putters but it was
    // removed previously by queue.get_nowait().
    put_task.cancel();

    // The ValueError exception triggered by queue._putters.remove(putter) inside queue.put
    // should be silenced. If the ValueError is silenced we should catch a CancelledError.
    CO_CHECK_RAISES(asyncio::CancelledError, put_task);
  });
}

// ====================================================================== LifoQueueTests

TEST_CASE("test_queues.LifoQueueTests.test_order") {
  run([]() -> Task<> {
    asyncio::LifoQueue<int> q;
    std::vector<int> input{1, 3, 2};
    for (int i : input) co_await q.put(i);

    std::vector<int> items;
    for (int k = 0; k < 3; ++k) {
      int v = co_await q.get();
      items.push_back(v);
    }
    CHECK(items == std::vector<int>{2, 3, 1});
  });
}

// ====================================================================== PriorityQueueTests

TEST_CASE("test_queues.PriorityQueueTests.test_order") {
  run([]() -> Task<> {
    asyncio::PriorityQueue<int> q;
    std::vector<int> input{1, 3, 2};
    for (int i : input) co_await q.put(i);

    std::vector<int> items;
    for (int k = 0; k < 3; ++k) {
      int v = co_await q.get();
      items.push_back(v);
    }
    CHECK(items == std::vector<int>{1, 2, 3});
  });
}

// ====================================================================== _QueueJoinTestMixin
// Run once per concrete class: QueueJoinTests, LifoQueueJoinTests, PriorityQueueJoinTests.

namespace {
template <class Q>
void join_test_task_done_underflow() {
  Q q;
  CHECK_THROWS_AS(q.task_done(), asyncio::ValueError);
}

template <class Q>
void join_test_task_done() {
  run([]() -> Task<> {
    Q q;
    for (int i = 0; i < 100; ++i) q.put_nowait(i);

    int accumulator = 0;

    // Two workers get items from the queue and call task_done after each.
    // Join the queue and assert all items have been processed.
    bool running = true;

    auto worker = [&]() -> Task<> {
      while (running) {
        int item = co_await q.get();
        accumulator += item;
        q.task_done();
      }
    };

    co_await asyncio::async_with(asyncio::TaskGroup{}, [&](asyncio::TaskGroup& tg) -> Task<> {
      std::vector<asyncio::TaskHandle<void>> tasks;
      for (int index = 0; index < 2; ++index) tasks.push_back(tg.create_task(worker()));

      co_await q.join();
      CHECK(accumulator == 100 * 99 / 2);

      // close running generators
      running = false;
      for (std::size_t i = 0; i < tasks.size(); ++i) q.put_nowait(0);
    });
  });
}

template <class Q>
void join_test_join_empty_queue() {
  run([]() -> Task<> {
    Q q;

    // Test that a queue join()s successfully, and before anything else
    // (done twice for insurance).
    co_await q.join();
    co_await q.join();
  });
}
}  // namespace

TEST_CASE("test_queues.QueueJoinTests.test_task_done_underflow") {
  join_test_task_done_underflow<asyncio::Queue<int>>();
}
TEST_CASE("test_queues.QueueJoinTests.test_task_done") { join_test_task_done<asyncio::Queue<int>>(); }
TEST_CASE("test_queues.QueueJoinTests.test_join_empty_queue") {
  join_test_join_empty_queue<asyncio::Queue<int>>();
}

TEST_CASE("test_queues.LifoQueueJoinTests.test_task_done_underflow") {
  join_test_task_done_underflow<asyncio::LifoQueue<int>>();
}
TEST_CASE("test_queues.LifoQueueJoinTests.test_task_done") { join_test_task_done<asyncio::LifoQueue<int>>(); }
TEST_CASE("test_queues.LifoQueueJoinTests.test_join_empty_queue") {
  join_test_join_empty_queue<asyncio::LifoQueue<int>>();
}

TEST_CASE("test_queues.PriorityQueueJoinTests.test_task_done_underflow") {
  join_test_task_done_underflow<asyncio::PriorityQueue<int>>();
}
TEST_CASE("test_queues.PriorityQueueJoinTests.test_task_done") {
  join_test_task_done<asyncio::PriorityQueue<int>>();
}
TEST_CASE("test_queues.PriorityQueueJoinTests.test_join_empty_queue") {
  join_test_join_empty_queue<asyncio::PriorityQueue<int>>();
}
