// asyncio/queues.hpp — Queue<T>, PriorityQueue<T, Compare>, LifoQueue<T> (Python's queues.py,
// with Python 3.13's shutdown()).
//
// Not thread-safe (as in Python): use them between tasks of one loop. Blocked put()/get()
// callers are served FIFO; a waiter cancelled after being woken passes the wake-up on, so
// cancellation never strands an item or a free slot. maxsize <= 0 means unbounded.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <utility>
#include <vector>

#include "detail/core.hpp"
#include "exceptions.hpp"
#include "locks.hpp"
#include "task.hpp"

namespace asyncio {

namespace detail {
template <class T>
struct FifoStore {
  std::deque<T> d;
  void push(T v) { d.push_back(std::move(v)); }
  T pop() {
    T v = std::move(d.front());
    d.pop_front();
    return v;
  }
  std::size_t size() const noexcept { return d.size(); }
};
template <class T>
struct LifoStore {
  std::vector<T> d;
  void push(T v) { d.push_back(std::move(v)); }
  T pop() {
    T v = std::move(d.back());
    d.pop_back();
    return v;
  }
  std::size_t size() const noexcept { return d.size(); }
};
/// heapq: the smallest element (by Compare) comes out first; equal ones in no guaranteed order.
template <class T, class Compare>
struct HeapStore {
  struct Greater {
    Compare c;
    bool operator()(const T& a, const T& b) const { return c(b, a); }
  };
  std::vector<T> d;
  void push(T v) {
    d.push_back(std::move(v));
    std::push_heap(d.begin(), d.end(), Greater{});
  }
  T pop() {
    std::pop_heap(d.begin(), d.end(), Greater{});
    T v = std::move(d.back());
    d.pop_back();
    return v;
  }
  std::size_t size() const noexcept { return d.size(); }
};
}  // namespace detail

/// The queue machinery shared by Queue, PriorityQueue and LifoQueue (they differ in Store).
template <class T, class Store>
class BasicQueue {
 public:
  using value_type = T;
  explicit BasicQueue(long maxsize = 0) : maxsize_(maxsize) { finished_.set(); }
  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  long maxsize() const noexcept { return maxsize_; }
  std::size_t qsize() const noexcept { return store_.size(); }
  bool empty() const noexcept { return store_.size() == 0; }
  /// True if there are maxsize items (never for maxsize <= 0).
  bool full() const noexcept { return maxsize_ > 0 && static_cast<long>(store_.size()) >= maxsize_; }

  /// Put an item, waiting for a free slot if the queue is full. QueueShutDown after shutdown().
  Task<void> put(T item);
  /// Remove and return an item, waiting while the queue is empty. QueueShutDown once the queue
  /// is shut down and empty (at once for shutdown(immediate=true)).
  Task<T> get();
  /// QueueFull if full; QueueShutDown if shut down.
  void put_nowait(T item) {
    if (shutdown_) throw QueueShutDown();
    if (full()) throw QueueFull();
    store_.push(std::move(item));
    ++unfinished_;
    finished_.clear();
    detail::SignalWaiter::wake_first(getters_);
  }
  /// QueueEmpty if empty (QueueShutDown if also shut down).
  T get_nowait() {
    if (empty()) {
      if (shutdown_) throw QueueShutDown();
      throw QueueEmpty();
    }
    T item = store_.pop();
    detail::SignalWaiter::wake_first(putters_);
    return item;
  }
  /// A consumer finished an item it got; ValueError if called more times than items were put.
  void task_done() {
    if (unfinished_ <= 0) throw ValueError("task_done() called too many times");
    if (--unfinished_ == 0) finished_.set();
  }
  /// Wait until every item put has been marked task_done().
  Task<void> join();
  /// Python 3.13: put() now raises QueueShutDown, so do blocked putters; get() drains what is
  /// left, then raises. immediate=true also drops the items (counting them as done, releasing
  /// join()) so blocked getters raise at once.
  void shutdown(bool immediate = false) {
    shutdown_ = true;
    if (immediate) {
      while (!empty()) {
        (void)store_.pop();
        if (unfinished_ > 0) --unfinished_;
      }
      if (unfinished_ == 0) finished_.set();
    }
    while (!getters_.empty()) detail::SignalWaiter::wake_first(getters_);
    while (!putters_.empty()) detail::SignalWaiter::wake_first(putters_);
  }
  bool is_shutdown() const noexcept { return shutdown_; }

  /// Introspection for tests: tasks blocked in get() / put(); items not yet task_done().
  std::size_t getter_count() const noexcept { return getters_.size(); }
  std::size_t putter_count() const noexcept { return putters_.size(); }
  long unfinished_tasks() const noexcept { return unfinished_; }

 private:
  /// One blocked wait of put() (putting) or get(): queue on `waiters` until woken; a waiter
  /// cancelled after being woken passes the wake-up on, so no slot or item is stranded.
  Task<void> wait_turn(detail::List& waiters, bool putting);

  Store store_;
  detail::List getters_;
  detail::List putters_;
  Event finished_;
  long maxsize_;
  long unfinished_ = 0;
  bool shutdown_ = false;
};

/// Python's asyncio.Queue: FIFO.
template <class T>
using Queue = BasicQueue<T, detail::FifoStore<T>>;
/// Python's asyncio.LifoQueue: the most recently put item comes out first.
template <class T>
using LifoQueue = BasicQueue<T, detail::LifoStore<T>>;
/// Python's asyncio.PriorityQueue: the smallest item (by Compare) comes out first; a
/// std::pair<int, X> plays Python's (priority, data) tuple.
template <class T, class Compare = std::less<T>>
using PriorityQueue = BasicQueue<T, detail::HeapStore<T, Compare>>;

// ------------------------------------------------------------------ bodies

template <class T, class Store>
Task<void> BasicQueue<T, Store>::wait_turn(detail::List& waiters, bool putting) {
  std::exception_ptr err;
  bool woken = false;
  {
    detail::SignalWaiter w(&waiters, nullptr, putting ? "Queue.put()" : "Queue.get()");
    try {
      co_await w;
    } catch (...) {
      err = std::current_exception();
      woken = w.st == detail::SignalWaiter::St::Done;
    }
  }
  if (err) {
    // Woken (a slot freed / an item put) but cancelled: hand the wake-up to the next waiter.
    if (woken && (putting ? !full() : !empty())) detail::SignalWaiter::wake_first(waiters);
    std::rethrow_exception(err);
  }
}

template <class T, class Store>
Task<void> BasicQueue<T, Store>::put(T item) {
  while (full()) {
    if (shutdown_) throw QueueShutDown();
    co_await wait_turn(putters_, true);
  }
  put_nowait(std::move(item));
}

template <class T, class Store>
Task<T> BasicQueue<T, Store>::get() {
  while (empty()) {
    if (shutdown_) throw QueueShutDown();
    co_await wait_turn(getters_, false);
  }
  co_return get_nowait();
}

template <class T, class Store>
Task<void> BasicQueue<T, Store>::join() {
  if (unfinished_ > 0) co_await finished_.wait();
}

}  // namespace asyncio
