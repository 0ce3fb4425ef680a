// shield() and as_completed() (declared in namespace asyncio; included at the end of tasks.hpp).
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <unordered_set>
#include <vector>

#include "../futures.hpp"
#include "../queues.hpp"
#include "tasks_core.hpp"

namespace asyncio {

/// Python's asyncio.shield(aw): await `aw` (a Task, TaskHandle or any awaitable, scheduled as a
/// task) without letting a cancellation of the awaiting task reach it. Returns the "outer"
/// Future: cancelling the caller cancels only that future (the caller gets CancelledError) while
/// the inner task keeps running. As in Python, each completion takes one extra loop iteration.
template <class A>
  requires(!detail::FutureLike<std::remove_cvref_t<A>> &&
           !detail::is_gathering_future<std::remove_cvref_t<A>>::value)
auto shield(A&& aw) -> Future<detail::arg_result_t<A>> {
  using T = detail::arg_result_t<A>;
  auto inner = detail::to_handle(std::forward<A>(aw));
  Future<T> outer(inner.get_loop());
  auto copy_result = [](TaskHandle<T>& h, Future<T>& out) {
    auto* st = h.state_ptr();
    if (st->cancelled()) {
      out.cancel();
      return;
    }
    if (auto e = st->exception()) {
      out.set_exception(e);
      return;
    }
    if constexpr (std::is_void_v<T>)
      out.set_result();
    else
      out.set_result(detail::task_result<T>(st, false));
  };
  if (inner.done()) {
    copy_result(inner, outer);
    return outer;
  }
  CallbackId id = inner.add_done_callback([outer, copy_result](TaskHandle<T>& h) mutable {
    if (outer.cancelled()) {
      if (!h.cancelled()) (void)h.exception();  // mark the exception retrieved
      return;
    }
    copy_result(h, outer);
  });
  outer.add_done_callback([inner, id]() mutable {
    if (!inner.done()) inner.remove_done_callback(id);
  });
  return outer;
}

/// shield() of a Future or a GatheringFuture: the outer future follows it directly (done
/// callbacks, no task: usable before the loop runs, as in Python). A done one is returned as it
/// is (Python's shortcut; a GatheringFuture is then copied into a done Future).
template <class F>
  requires(detail::FutureLike<std::remove_cvref_t<F>> || detail::is_gathering_future<std::remove_cvref_t<F>>::value)
auto shield(F&& arg) -> Future<typename std::remove_cvref_t<F>::value_type> {
  using G = std::remove_cvref_t<F>;
  using T = typename G::value_type;
  G inner = arg;
  auto copy_result = [](G& in, Future<T>& out) {
    if (in.cancelled()) {
      out.cancel();
      return;
    }
    if (auto e = in.exception()) {
      if (detail::is_cancelled_error(e))
        out.cancel();  // (a gather that was cancelled holds its CancelledError as exception)
      else
        out.set_exception(e);
      return;
    }
    if constexpr (std::is_void_v<T>)
      out.set_result();
    else
      out.set_result(in.result());
  };
  if constexpr (detail::FutureLike<G>) {
    if (inner.done()) return inner;  // Python's shortcut
  }
  Future<T> outer(inner.get_loop());
  if (inner.done()) {
    copy_result(inner, outer);
    return outer;
  }
  auto on_inner = [outer, copy_result](G& in) mutable {
    if (outer.cancelled()) {
      if (!in.cancelled()) (void)in.exception();  // mark the exception retrieved
      return;
    }
    copy_result(in, outer);
  };
  if constexpr (detail::FutureLike<G>) {
    CallbackId id = inner.add_done_callback(std::move(on_inner));
    outer.add_done_callback([inner, id]() mutable {
      if (!inner.done()) inner.remove_done_callback(id);
    });
  } else {
    inner.add_done_callback(std::move(on_inner));  // (it returns at once once outer is cancelled)
  }
  return outer;
}

namespace detail {
template <class T>
struct AsCompletedState {
  struct Node : CompletionNode {
    AsCompletedState* owner = nullptr;
    TaskHandle<T> h;
    static void run(Runnable* r, bool discard) {
      auto* n = static_cast<Node*>(r);
      if (!discard) n->owner->on_completion(n);
    }
  };
  struct Timer : TimerNode {
    AsCompletedState* owner = nullptr;
    static void run(Runnable* r, bool discard) {
      if (!discard) static_cast<Timer*>(static_cast<TimerNode*>(r))->owner->on_timeout();
    }
  };

  explicit AsCompletedState(std::vector<TaskHandle<T>> hs, std::optional<double> timeout)
      : nodes(hs.size()), total(hs.size()) {
    if (timeout && std::isnan(*timeout)) throw ValueError("as_completed(): timeout is NaN");
    remaining = hs.size();
    for (std::size_t i = 0; i < hs.size(); ++i) {
      nodes[i].owner = this;
      nodes[i].h = std::move(hs[i]);
      nodes[i].run_ = &Node::run;
      nodes[i].h.state_ptr()->add_completion(&nodes[i]);
    }
    if (!nodes.empty() && timeout) {
      loop = &get_running_loop();
      timer.owner = this;
      timer.run_ = &Timer::run;
      loop->add_timer(&timer, loop->time() + *timeout);
    }
  }
  AsCompletedState(const AsCompletedState&) = delete;
  ~AsCompletedState() {
    for (auto& n : nodes) n.unlink();
    cancel_timer();
  }
  void cancel_timer() noexcept {
    if (!loop) return;
    if (timer.in_heap())
      loop->remove_timer(&timer);
    else
      timer.unlink();
  }
  void on_completion(Node* n) {
    if (n->h) {
      done.put_nowait(n->h);
      n->h = {};
      if (--remaining == 0) cancel_timer();
    }
  }
  void on_timeout() {
    for (auto& n : nodes) {
      if (!n.h) continue;
      n.unlink();
      n.h = {};
      done.put_nowait(std::nullopt);
    }
    remaining = 0;
  }

  Queue<std::optional<TaskHandle<T>>> done;
  std::vector<Node> nodes;
  Timer timer;
  EventLoop* loop = nullptr;
  std::size_t remaining = 0;
  std::size_t total;
};

template <class T>
Task<T> as_completed_next(std::shared_ptr<AsCompletedState<T>> s) {
  std::optional<TaskHandle<T>> f = co_await s->done.get();
  if (!f) throw TimeoutError();
  co_return task_result<T>(f->state_ptr(), false);
}
}  // namespace detail

/// What as_completed() returns: a range of `total` awaitables (Task<T>); awaiting the i-th
/// gives the result of the i-th task to finish (or throws its exception, or TimeoutError once
/// the timeout has passed).
template <class T>
class AsCompleted {
 public:
  explicit AsCompleted(std::shared_ptr<detail::AsCompletedState<T>> s) : s_(std::move(s)) {}
  class iterator {
   public:
    using value_type = Task<T>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(std::shared_ptr<detail::AsCompletedState<T>> s, std::size_t i) : s_(std::move(s)), i_(i) {}
    Task<T> operator*() const { return detail::as_completed_next<T>(s_); }
    iterator& operator++() {
      ++i_;
      return *this;
    }
    iterator operator++(int) {
      auto c = *this;
      ++i_;
      return c;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.i_ == b.i_; }

   private:
    std::shared_ptr<detail::AsCompletedState<T>> s_;
    std::size_t i_ = 0;
  };
  iterator begin() const { return iterator(s_, 0); }
  iterator end() const { return iterator(s_, s_->total); }
  std::size_t size() const noexcept { return s_->total; }

 private:
  std::shared_ptr<detail::AsCompletedState<T>> s_;
};

/// Python's asyncio.as_completed(fs, timeout=None): `for (auto&& next : as_completed(v)) { T r =
/// co_await next; }` gives the results in completion order. Lazy Tasks in `fs` are scheduled
/// first. After `timeout` (seconds or a duration) the remaining awaits throw TimeoutError
/// (nothing is cancelled). As in Python (which takes a set), a task listed twice is one.
template <detail::GatherRange V>
auto as_completed(V&& fs, std::optional<double> timeout = std::nullopt) {
  auto hs = detail::wait_handles(std::forward<V>(fs));
  using T = typename decltype(hs)::value_type::value_type;
  if (hs.size() > 1) {
    std::unordered_set<detail::TaskStateBase*> seen;
    std::erase_if(hs, [&seen](const TaskHandle<T>& h) { return !seen.insert(h.state_ptr()).second; });
  }
  return AsCompleted<T>(std::make_shared<detail::AsCompletedState<T>>(std::move(hs), timeout));
}
template <detail::GatherRange V, detail::DurationLike D>
auto as_completed(V&& fs, D timeout) {
  return as_completed(std::forward<V>(fs), std::optional<double>(detail::to_seconds(timeout)));
}

}  // namespace asyncio
