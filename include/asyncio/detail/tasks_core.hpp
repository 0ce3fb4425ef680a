// TaskHandle<T>, create_task and the combinators (gather, wait, wait_for, sleep, ...): all of
// tasks.hpp but shield() and as_completed(), which build on Future and Queue (layer 5) and are
// defined in shield.hpp. Below futures, locks and queues, so they (and events.hpp, for
// EventLoop::create_task and run_until_complete) can include this. Users include tasks.hpp.
#pragma once

#include <algorithm>
#include <array>
#include <cstdio>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../task.hpp"
#include "loop_impl.hpp"
#include "task_state.hpp"
#include "wait.hpp"

namespace asyncio {

/// The value of a `void` result inside gather's tuple (Python's None).
struct None {
  friend constexpr bool operator==(None, None) noexcept { return true; }
};

/// A nullable, reference-counted pointer to any task (what current_task() / all_tasks() give).
/// `->` reaches get_name(), set_name(), cancel(), cancelled(), done(), cancelling(), uncancel().
class TaskPtr {
 public:
  TaskPtr() noexcept = default;
  TaskPtr(std::nullptr_t) noexcept {}
  explicit TaskPtr(detail::TaskStateBase* p) noexcept : p_(p) {
    if (p_) p_->add_ref();
  }
  TaskPtr(const TaskPtr& o) noexcept : TaskPtr(o.p_) {}
  TaskPtr(TaskPtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  TaskPtr& operator=(TaskPtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~TaskPtr() {
    if (p_) p_->release();
  }
  detail::TaskStateBase* operator->() const noexcept { return p_; }
  detail::TaskStateBase& operator*() const noexcept { return *p_; }
  detail::TaskStateBase* get() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  friend bool operator==(const TaskPtr& a, const TaskPtr& b) noexcept { return a.p_ == b.p_; }
  friend bool operator==(const TaskPtr& a, std::nullptr_t) noexcept { return a.p_ == nullptr; }

 private:
  detail::TaskStateBase* p_ = nullptr;
};

/// Identifies a done callback for remove_done_callback (C++ callables cannot be compared).
using CallbackId = std::uint64_t;

/// A handle to a scheduled task (Python's Task object). Copyable; awaitable any number of times.
template <class T = void>
class TaskHandle {
 public:
  using value_type = T;
  /// What result() and co_await give: T (copied) for copyable T, T& for move-only T.
  using result_type = std::conditional_t<std::is_void_v<T> || std::is_reference_v<T> ||
                                             std::is_copy_constructible_v<T>,
                                         T, std::add_lvalue_reference_t<T>>;

  TaskHandle() noexcept = default;
  explicit TaskHandle(detail::TaskState<T>* st) noexcept : st_(st) {
    if (st_) st_->add_ref();
  }
  TaskHandle(const TaskHandle& o) noexcept : TaskHandle(o.st_) {}
  TaskHandle(TaskHandle&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
  TaskHandle& operator=(TaskHandle o) noexcept {
    std::swap(st_, o.st_);
    return *this;
  }
  ~TaskHandle() {
    if (st_) st_->release();
  }

  /// Request cancellation: the task gets CancelledError(msg) at its suspension point.
  bool cancel(std::string_view msg = {}) { return state().cancel(msg); }
  bool cancelled() const { return state().cancelled(); }
  bool done() const { return state().done(); }
  /// The result; InvalidStateError if not done; rethrows the task's exception or CancelledError.
  result_type result() const {
    if constexpr (std::is_void_v<T>) {
      detail::task_result<T>(&state(), false);
    } else if constexpr (std::is_reference_v<T> || std::is_copy_constructible_v<T>) {
      return detail::task_result<T>(&state(), false);
    } else {
      auto& st = state();
      if (!st.done()) throw InvalidStateError("Result is not set.");
      st.mark_retrieved();
      return st.stored();
    }
  }
  /// The exception (null if it succeeded); CancelledError if cancelled; InvalidStateError if pending.
  std::exception_ptr exception() const { return state().exception(); }
  /// Call `fn(handle)` (or `fn()`) on the loop once the task is done, via call_soon.
  template <class F>
  CallbackId add_done_callback(F fn) {
    auto id = detail::next_callback_id();
    auto* n = new detail::DoneCallback<TaskHandle, F>(*this, std::move(fn), id);
    state().add_completion(n);
    return id;
  }
  /// Remove a callback added by add_done_callback; returns how many were removed (0 or 1).
  std::size_t remove_done_callback(CallbackId id) { return detail::remove_callback(state().done_list_, id); }
  std::string get_name() const { return state().get_name(); }
  void set_name(std::string name) { state().set_name(std::move(name)); }
  int cancelling() const { return state().cancelling(); }
  int uncancel() { return state().uncancel(); }
  EventLoop& get_loop() const { return state().get_loop(); }

  detail::TaskAwaiter<T> operator co_await() const noexcept { return detail::TaskAwaiter<T>(st_); }

  explicit operator bool() const noexcept { return st_ != nullptr; }
  operator TaskPtr() const noexcept { return TaskPtr(st_); }
  friend bool operator==(const TaskHandle& a, const TaskHandle& b) noexcept { return a.st_ == b.st_; }
  friend bool operator==(const TaskHandle& a, const TaskPtr& b) noexcept { return a.st_ == b.get(); }
  detail::TaskState<T>* state_ptr() const noexcept { return st_; }

 private:
  detail::TaskState<T>& state() const {
    if (!st_) throw RuntimeError("empty asyncio::TaskHandle");
    return *st_;
  }
  detail::TaskState<T>* st_ = nullptr;
};

/// A value or the exception that replaced it (gather with return_exceptions).
template <class T>
class Result {
 public:
  Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}
  Result(std::exception_ptr e) : v_(std::in_place_index<1>, std::move(e)) {}
  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  /// The value; rethrows the exception if there is none.
  T& value() {
    if (v_.index() == 1) std::rethrow_exception(std::get<1>(v_));
    return std::get<0>(v_);
  }
  const T& value() const {
    if (v_.index() == 1) std::rethrow_exception(std::get<1>(v_));
    return std::get<0>(v_);
  }
  /// The exception, or null.
  std::exception_ptr exception() const noexcept { return v_.index() == 1 ? std::get<1>(v_) : nullptr; }

 private:
  std::variant<T, std::exception_ptr> v_;
};

namespace detail {
template <class X>
struct is_task_handle : std::false_type {};
template <class T>
struct is_task_handle<TaskHandle<T>> : std::true_type {};

template <class T>
using gather_value_t = std::conditional_t<std::is_void_v<T>, None, T>;

/// What a gather/wait_for/create_task argument turns into.
template <class A, class = void>
struct arg_traits {
  using R = await_result_t<A>;
};
template <class T>
struct arg_traits<Task<T>> {
  using R = T;
};
template <class T>
struct arg_traits<TaskHandle<T>> {
  using R = T;
};
template <class A>
using arg_result_t = typename arg_traits<std::remove_cvref_t<A>>::R;
}  // namespace detail

// ------------------------------------------------------------------ creating tasks

template <class T>
TaskHandle<T> EventLoop::create_task(Task<T> coro) {
  if (closed_) throw RuntimeError("Event loop is closed");
  if (!coro.valid()) detail::throw_empty_task();
  check_thread("create_task");
  auto* st = detail::TaskState<T>::create_in_front_of(this, coro.release());
  TaskHandle<T> h(st);
  register_task(st);
  return h;
}
template <class T>
TaskHandle<T> EventLoop::create_task(Task<T> coro, std::string name) {
  TaskHandle<T> h = create_task(std::move(coro));
  if (!name.empty()) h.set_name(std::move(name));
  return h;
}

/// Schedule `coro` on the running loop (its first step runs on a later iteration, never inline).
/// RuntimeError if no loop is running.
template <class T>
TaskHandle<T> create_task(Task<T> coro) {
  return get_running_loop().create_task(std::move(coro));
}
/// create_task with a name (Python's `name=`); the default name is "Task-N".
template <class T>
TaskHandle<T> create_task(Task<T> coro, std::string name) {
  return get_running_loop().create_task(std::move(coro), std::move(name));
}

/// create_task(callable, args...): the callable and its arguments are moved into the task's
/// frame, so a capturing lambda cannot dangle. Also accepts any awaitable (sleep(1s), ...).
template <class F, class... A>
  requires(!detail::is_task<std::remove_cvref_t<F>>::value) &&
          (std::is_invocable_v<std::decay_t<F>&, std::decay_t<A>&...> || sizeof...(A) == 0)
auto create_task(F&& f, A&&... args) {
  if constexpr (std::is_invocable_v<std::decay_t<F>&, std::decay_t<A>&...>) {
    using TaskT = std::invoke_result_t<std::decay_t<F>&, std::decay_t<A>&...>;
    static_assert(detail::is_task<TaskT>::value, "create_task(callable, args...): the callable must return asyncio::Task<T>");
    using R = typename TaskT::value_type;
    return create_task(detail::invoke_as_task<R, std::decay_t<F>, std::decay_t<A>...>(
        std::forward<F>(f), std::forward<A>(args)...));
  } else {
    static_assert(detail::Awaitable<F>, "create_task: argument must be a Task, a callable returning one, or an awaitable");
    using R = detail::await_result_t<std::decay_t<F>>;
    return create_task(detail::await_as_task<R, std::decay_t<F>>(std::forward<F>(f)));
  }
}

namespace detail {
/// Python's ensure_future(coro) without a loop: scheduled on the running loop, else on the loop
/// set with set_event_loop() (3.11.1+); RuntimeError if there is neither.
template <class T>
TaskHandle<T> schedule_here(Task<T> coro) {
  if (tl_running_loop) return tl_running_loop->create_task(std::move(coro));
  if (tl_event_loop) return tl_event_loop->create_task(std::move(coro));
  throw RuntimeError("There is no current event loop");
}
}  // namespace detail

/// A Task becomes a task scheduled on the running loop, else on the loop set with
/// set_event_loop() (Python 3.11.1+); a TaskHandle is returned as it is.
template <class T>
TaskHandle<T> ensure_future(Task<T> coro) {
  return detail::schedule_here(std::move(coro));
}
template <class T>
TaskHandle<T> ensure_future(TaskHandle<T> h) {
  return h;
}

/// The task running now: null in a plain callback, and outside a running loop (where Python
/// 3.11 raises RuntimeError; DESIGN.md §7 asks for the empty pointer).
inline TaskPtr current_task() { return TaskPtr(detail::tl_running_loop ? detail::tl_current_task : nullptr); }

/// Every task of the running loop that is not done yet.
inline std::vector<TaskPtr> all_tasks() {
  auto& loop = get_running_loop();
  std::vector<TaskPtr> out;
  const auto& lst = loop.live_tasks();
  for (auto* n = lst.sentinel()->next_; n != lst.sentinel(); n = n->next_) {
    auto* t = detail::TaskStateBase::owner_of(n);
    if (!t->done()) out.emplace_back(t);
  }
  return out;
}

// ------------------------------------------------------------------ sleep

namespace detail {
template <class T>
class Sleep final : public Waiter, public TimerNode {
 public:
  // Until armed, when_ holds the delay; flags_ bit 0 = cancelled. 64 bytes for sleep(d).
  Sleep(double delay, T value) : value_(std::move(value)) {
    if (std::isnan(delay)) throw ValueError("Invalid delay: NaN (not a number)");
    when_ = delay;
  }
  Sleep(Sleep&& o) noexcept : value_(std::move(o.value_)) { when_ = o.when_; }
  Sleep(const Sleep&) = delete;
  ~Sleep() {
    if (in_heap()) task_->loop()->remove_timer(this);
    unlink();
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    task_ = &require_task("asyncio.sleep()");
    if (when_ <= 0) {  // sleep(0): a bare yield, back of the ready queue
      task_->yield_now(h);
      return;
    }
    run_ = &Sleep::fired;
    EventLoop* loop = task_->loop();
    loop->add_timer(this, loop->time() + when_);
    task_->suspend_on(this, h);
  }
  T await_resume() {
    if (flags_ & 1u) task_->throw_cancelled();
    task_->check_cancel();
    return std::move(value_);
  }
  void abandon() noexcept {}  // (wait_for's leaf protocol: nothing to undo)
  void describe(std::string& out, double now) const override {
    char buf[64];
    std::snprintf(buf, sizeof buf, "sleep, %.3f s left", in_heap() ? std::max(0.0, when_ - now) : 0.0);
    out += buf;
  }
  bool cancel() noexcept override {
    if (in_heap())
      task_->loop()->remove_timer(this);
    else if (linked())
      unlink();
    else
      return false;
    flags_ |= 1u;
    task_->wake();
    return true;
  }

 private:
  // The timer ran (like Python's _set_result_unless_cancelled): wake the task, which runs on
  // the next iteration, exactly as the future's done callback would schedule it.
  static void fired(Runnable* r, bool discard) {
    if (discard) return;
    auto* self = static_cast<Sleep*>(static_cast<TimerNode*>(r));
    self->task_->wake();
  }
  TaskStateBase* task_ = nullptr;
  [[no_unique_address]] T value_;
};
template <>
class Sleep<void> {
 public:
  explicit Sleep(double delay) : inner_(delay, Unit{}) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { inner_.await_suspend(h); }
  void await_resume() { inner_.await_resume(); }
  void abandon() noexcept {}

 private:
  Sleep<Unit> inner_;
};
}  // namespace detail

/// Suspend the task for `delay` (chrono duration, or seconds as a number); `sleep(0)` yields to
/// the other ready tasks. ValueError on NaN. Cancelling the task unregisters the timer.
template <detail::DurationLike D>
detail::Sleep<void> sleep(D delay) {
  return detail::Sleep<void>(detail::to_seconds(delay));
}
/// sleep(delay, value): returns `value` after the delay.
template <detail::DurationLike D, class T>
detail::Sleep<std::decay_t<T>> sleep(D delay, T&& value) {
  return detail::Sleep<std::decay_t<T>>(detail::to_seconds(delay), std::forward<T>(value));
}

// ------------------------------------------------------------------ gather

/// Tag: gather(return_exceptions, ...) gives each result as a Result<T> instead of throwing.
struct return_exceptions_t {
  explicit constexpr return_exceptions_t() = default;
};
inline constexpr return_exceptions_t return_exceptions{};

namespace detail {

/// An argument kept for later: an lvalue is copied if it can be (a TaskHandle or a Future is
/// shared, never stolen), otherwise moved (a lazy Task, or a move-only awaitable).
template <class A>
std::remove_cvref_t<A> take_arg(A&& a) {
  using D = std::remove_cvref_t<A>;
  if constexpr (std::is_lvalue_reference_v<A> && std::is_copy_constructible_v<D>)
    return D(a);
  else
    return D(std::move(a));
}
/// A taken argument as a TaskHandle: a handle as is, a lazy Task or any other awaitable scheduled.
template <class D>
auto handle_of(D d) {
  if constexpr (is_task_handle<D>::value)
    return d;
  else if constexpr (is_task<D>::value)
    return schedule_here(std::move(d));
  else
    return schedule_here(await_as_task<await_result_t<D>, D>(std::move(d)));
}
/// What a gather/wait_for argument turns into, scheduled now.
template <class A>
auto to_handle(A&& a) {
  return handle_of(take_arg(std::forward<A>(a)));
}
/// A Future (futures.hpp, a layer above: recognised by its shape) is a gather child as it is,
/// registered on directly (Python adds its done callback to the future itself).
template <class D>
concept FutureLike = !is_task_handle<D>::value && requires(const D& f, CompletionNode* n) {
  f.state_ptr()->add_callback(n);
  f.state_ptr()->cancel(std::string_view());
  { f.cancelled() } -> std::convertible_to<bool>;
  { f.done() } -> std::convertible_to<bool>;
};
/// Whether gather made the child itself (a lazy Task or another awaitable it scheduled): only
/// those are cancelled when another child fails (README, Choices).
template <class A>
inline constexpr bool owned_v = !is_task_handle<std::remove_cvref_t<A>>::value && !FutureLike<std::remove_cvref_t<A>>;
/// A gather argument as its child: a TaskHandle or a Future as it is, anything else scheduled.
template <class A>
auto gather_child(A&& a) {
  if constexpr (FutureLike<std::remove_cvref_t<A>>)
    return take_arg(std::forward<A>(a));
  else
    return to_handle(std::forward<A>(a));
}

template <class T>
auto gather_take(TaskHandle<T>& h, bool owned) {
  if constexpr (std::is_void_v<T>) {
    task_result<T>(h.state_ptr(), owned);
    return None{};
  } else {
    return task_result<T>(h.state_ptr(), owned);
  }
}
template <class T>
Result<gather_value_t<T>> gather_result(TaskHandle<T>& h, bool owned) {
  auto* st = h.state_ptr();
  st->mark_retrieved();
  if (st->state_ != TaskStateBase::State::Finished) return Result<gather_value_t<T>>(st->stored_exception());
  return Result<gather_value_t<T>>(gather_take(h, owned));
}
template <FutureLike F>
auto gather_take(F& f, bool) {
  using T = typename F::value_type;
  if constexpr (std::is_void_v<T>) {
    f.result();
    return None{};
  } else if constexpr (std::is_reference_v<T> || std::is_copy_constructible_v<T>) {
    return T(f.result());
  } else {
    return T(std::move(f.result()));
  }
}
template <FutureLike F>
Result<gather_value_t<typename F::value_type>> gather_result(F& f, bool owned) {
  using R = Result<gather_value_t<typename F::value_type>>;
  if (f.cancelled()) return R(std::make_exception_ptr(CancelledError(f.state_ptr()->cancel_msg)));
  if (std::exception_ptr e = f.exception()) return R(e);
  return R(gather_take(f, owned));
}

/// gather's shared state, Python's _GatheringFuture: a done callback (a node) on every child,
/// added when gather() is called, and the outcome decided by those callbacks, whether or not
/// anyone awaits it. The children and the result live in the derived classes (GatherTuple for
/// gather(a, b, ...), GatherVector for gather(range)).
class GatherCore : public Pooled {
 public:
  enum class Kid : std::uint8_t { Pending, Ok, Failed, Cancelled };

  GatherCore(const GatherCore&) = delete;
  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }
  std::uint32_t refs() const noexcept { return refs_; }
  bool done() const noexcept { return phase_ == Phase::Done; }
  /// The exception it ended with (a CancelledError when it was cancelled), null on success.
  const std::exception_ptr& error() const noexcept { return error_; }
  /// Python's _GatheringFuture.cancel(msg): false once done; otherwise cancels every child and
  /// returns whether one accepted, and then the gather ends with CancelledError(msg).
  bool cancel(std::string_view msg) {
    if (phase_ != Phase::Pending) return false;
    bool any = false;
    for (std::size_t i = 0; i < n_; ++i)
      if (cancel_child(i, msg)) any = true;
    if (any) {
      cancel_requested_ = true;
      cancel_msg_ = std::string(msg);
    }
    return any;
  }
  /// An awaiter's node (woken) or a done callback (call_soon) once done; at once if done.
  void add_callback(CompletionNode* n) {
    if (!done()) {
      callbacks_.push_back(n);
    } else if (n->is_waiter()) {
      n->waiter()->wake();
    } else {
      if (!loop_) throw RuntimeError("asyncio.gather(): no running event loop");
      loop_->push_ready(n);
    }
  }
  EventLoop* loop() const noexcept { return loop_; }
  /// For graph.hpp: the number of children, whether the i-th is still pending, and its task.
  std::size_t size() const noexcept { return n_; }
  bool child_pending(std::size_t i) const noexcept { return status(i) == Kid::Pending; }
  const TaskStateBase* task_of(std::size_t i) const noexcept { return child_task(i); }
  EventLoop& get_loop() const {
    if (!loop_) throw RuntimeError("asyncio.gather(): no event loop");
    return *loop_;
  }

 protected:
  enum class Phase : std::uint8_t { Pending, Draining, Done };
  /// A child's completion node: the owner in its word, the child found by the node's index
  /// (40 bytes per child).
  struct Node : CompletionNode {};

  explicit GatherCore(bool return_exceptions) noexcept : loop_(tl_running_loop), re_(return_exceptions) {}
  virtual ~GatherCore() {
    for (std::size_t i = 0; i < n_; ++i) nodes_[i].unlink();
    drop_callbacks();
  }
  virtual Kid status(std::size_t i) const noexcept = 0;
  /// The i-th child's task (null for a Future child): for graph.hpp's awaited-by links.
  virtual const TaskStateBase* child_task(std::size_t i) const noexcept = 0;
  virtual bool cancel_child(std::size_t i, std::string_view msg) = 0;
  virtual bool owned(std::size_t i) const noexcept = 0;
  /// The child's exception (CancelledError(msg) for a cancelled one), marked retrieved.
  virtual std::exception_ptr child_error(std::size_t i) = 0;
  virtual void retrieve(std::size_t i) noexcept = 0;
  /// Build the result from the children (all done, none failed unless return_exceptions).
  virtual void collect() = 0;

  /// The node for the next child, to link into that child's done list. A task child's node
  /// may be settled on the spot (see settle); a future's always takes its call_soon hop.
  Node& next_node(EventLoop* child_loop, bool task) {
    if (n_ == 0)
      first_loop_ = child_loop;
    else if (child_loop != first_loop_) [[unlikely]]
      throw ValueError("asyncio.gather(): the children belong to different event loops");
    Node& n = *::new (static_cast<void*>(nodes_ + n_++)) Node();
    n.run_ = &GatherCore::child_done;
    if (task) n.settle_ = &GatherCore::settle;
    n.word_ = reinterpret_cast<std::uintptr_t>(this);
    ++remaining_;
    if (!loop_) loop_ = child_loop;
    return n;
  }
  /// After the last child was registered: a gather of nothing is done at once (Python returns
  /// a done future holding []).
  void registered() {
    if (n_ != 0) return;
    if (!loop_) loop_ = tl_event_loop.get();  // Python: events.get_event_loop()
    if (!loop_) throw RuntimeError("There is no current event loop");
    complete();
  }
  Node* nodes_ = nullptr;
  std::size_t n_ = 0;

 private:
  static GatherCore* owner_of(const CompletionNode* n) noexcept {
    return reinterpret_cast<GatherCore*>(static_cast<std::uintptr_t>(n->word_));
  }
  static void child_done(Runnable* r, bool discard) {
    auto* n = static_cast<Node*>(static_cast<CompletionNode*>(r));
    GatherCore* g = owner_of(n);
    if (discard) return g->abandon();
    g->on_child_done(static_cast<std::size_t>(n - g->nodes_));
  }
  /// At a task child's finish: a completion that can neither end the gather nor be the last
  /// one (Python's done callback would only count it) is counted now, without its loop hop.
  static bool settle(CompletionNode* cn, const TaskStateBase* c) noexcept {
    GatherCore* g = owner_of(cn);
    if (g->remaining_ <= 1 || g->phase_ != Phase::Pending) return false;
    if (!g->re_ && (c->state_ == TaskStateBase::State::Failed || c->cancelled())) return false;
    --g->remaining_;
    return true;
  }
  /// Python's _done_callback.
  void on_child_done(std::size_t i) {
    --remaining_;
    if (phase_ == Phase::Done) {
      if (status(i) == Kid::Failed) retrieve(i);  // Python: `fut.exception()` marks it retrieved
      return;
    }
    if (phase_ == Phase::Draining) {
      if (owned(i) && --draining_ == 0) complete();
      return;
    }
    const Kid k = status(i);
    if (!re_ && (k == Kid::Failed || k == Kid::Cancelled)) {
      first_error_ = i;
      // Our choice (README, Choices): the children gather created itself are cancelled and
      // waited for before the gather ends (they may borrow the caller's frame); TaskHandles and
      // Futures passed in are left alone, as Python leaves every child.
      for (std::size_t j = 0; j < n_; ++j)
        if (owned(j) && status(j) == Kid::Pending) {
          cancel_child(j, {});
          ++draining_;
        }
      if (draining_ != 0) {
        phase_ = Phase::Draining;
        return;
      }
      return complete();
    }
    if (remaining_ == 0) complete();
  }
  /// Python's outer.set_result / set_exception: the outcome, then every callback scheduled
  /// (an awaiting task's wake-up is one, as in Python).
  void complete() {
    phase_ = Phase::Done;
    if (first_error_ != kNone) {
      error_ = child_error(first_error_);
      for (std::size_t j = 0; j < n_; ++j)
        if (owned(j)) retrieve(j);
    } else if (cancel_requested_) {
      error_ = std::make_exception_ptr(CancelledError(cancel_msg_));
    } else {
      try {
        collect();
      } catch (...) {
        error_ = std::current_exception();
      }
    }
    while (auto* c = static_cast<CompletionNode*>(callbacks_.pop_front())) {
      if (c->is_waiter())
        c->waiter()->wake();
      else
        loop_->push_ready(c);
    }
  }
  /// A child was destroyed pending (its loop closed): the gather can never end. Its done
  /// callbacks are dropped (they hold references to it).
  void abandon() noexcept {
    add_ref();
    drop_callbacks();
    release();
  }
  void drop_callbacks() noexcept {
    while (auto* c = static_cast<CompletionNode*>(callbacks_.pop_front()))
      if (!c->is_waiter()) c->run_(c, true);
  }

  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  List callbacks_;
  EventLoop* loop_;
  EventLoop* first_loop_ = nullptr;  // the first child's (they must share it)
  std::exception_ptr error_;
  std::string cancel_msg_;
  std::size_t remaining_ = 0;
  std::size_t draining_ = 0;
  std::size_t first_error_ = kNone;
  std::uint32_t refs_ = 1;
  Phase phase_ = Phase::Pending;
  bool re_;
  bool cancel_requested_ = false;
};

/// The state behind a GatheringFuture<R>: the core and, once it succeeded, the result.
template <class R>
class GatherState : public GatherCore {
 public:
  using GatherCore::GatherCore;
  std::optional<R> value_;
};

/// One child of a gather, whatever its kind (TaskHandle or Future).
template <class T>
GatherCore::Kid kid_status(const TaskHandle<T>& h) noexcept {
  switch (h.state_ptr()->state_) {
    case TaskStateBase::State::Pending:
      return GatherCore::Kid::Pending;
    case TaskStateBase::State::Finished:
      return GatherCore::Kid::Ok;
    case TaskStateBase::State::Failed:
      return GatherCore::Kid::Failed;
    default:
      return GatherCore::Kid::Cancelled;
  }
}
template <FutureLike F>
GatherCore::Kid kid_status(const F& f) noexcept {
  if (!f.done()) return GatherCore::Kid::Pending;
  if (f.cancelled()) return GatherCore::Kid::Cancelled;
  return f.state_ptr()->result.has_exception() ? GatherCore::Kid::Failed : GatherCore::Kid::Ok;
}
template <class T>
const TaskStateBase* kid_task(const TaskHandle<T>& h) noexcept {
  return h.state_ptr();
}
template <FutureLike F>
const TaskStateBase* kid_task(const F&) noexcept {
  return nullptr;
}
template <class T>
bool kid_cancel(const TaskHandle<T>& h, std::string_view msg) {
  return h.state_ptr()->cancel(msg);
}
template <FutureLike F>
bool kid_cancel(const F& f, std::string_view msg) {
  return f.state_ptr()->cancel(msg);
}
template <class T>
std::exception_ptr kid_error(const TaskHandle<T>& h) {
  auto* st = h.state_ptr();
  st->mark_retrieved();
  return st->cancelled() ? std::make_exception_ptr(CancelledError(st->cancel_message())) : st->error_ptr();
}
template <FutureLike F>
std::exception_ptr kid_error(const F& f) {
  auto* st = f.state_ptr();
  st->retrieved = true;
  return f.cancelled() ? std::make_exception_ptr(CancelledError(st->cancel_msg)) : st->result.exception();
}
template <class T>
void kid_retrieve(const TaskHandle<T>& h) noexcept {
  h.state_ptr()->mark_retrieved();
}
template <FutureLike F>
void kid_retrieve(const F& f) noexcept {
  f.state_ptr()->retrieved = true;
}

template <bool RE, class H>
using gather_elem_t = std::conditional_t<RE, Result<gather_value_t<typename H::value_type>>,
                                         gather_value_t<typename H::value_type>>;

/// gather(a, b, ...): the children in a tuple, their nodes in an array, in one pooled block.
template <bool RE, class... H>
class GatherTuple final : public GatherState<std::tuple<gather_elem_t<RE, H>...>> {
  using Core = GatherCore;
  static constexpr std::size_t N = sizeof...(H);

 public:
  GatherTuple(std::tuple<H...>& hs, const std::array<bool, N>& owned)
      : GatherState<std::tuple<gather_elem_t<RE, H>...>>(RE), hs_(std::move(hs)), owned_(owned) {
    this->nodes_ = nodes_storage_.data();
    std::apply([&](auto&... h) { (this->add(h), ...); }, hs_);
    this->registered();
  }
  ~GatherTuple() override {
    for (std::size_t i = 0; i < this->n_; ++i) this->nodes_[i].unlink();
    this->n_ = 0;  // (the nodes die with this class; the core's destructor must not touch them)
  }

 private:
  template <class T>
  void add(TaskHandle<T>& h) {
    TaskStateBase* c = h.state_ptr();
    EventLoop* l = c->loop();
    if (c->done() && !l) throw RuntimeError("Event loop is closed");
    c->add_completion(&this->next_node(l, true));
  }
  template <FutureLike F>
  void add(F& f) {
    f.state_ptr()->add_callback(&this->next_node(f.state_ptr()->loop, false));
  }
  /// `fn(child)` for the child at index i.
  template <class Fn>
  void at(std::size_t i, Fn&& fn) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((i == I ? (void)fn(std::get<I>(hs_)) : (void)0), ...);
    }(std::index_sequence_for<H...>{});
  }
  Core::Kid status(std::size_t i) const noexcept override {
    Core::Kid k = Core::Kid::Pending;
    at(i, [&](const auto& h) { k = kid_status(h); });
    return k;
  }
  const TaskStateBase* child_task(std::size_t i) const noexcept override {
    const TaskStateBase* t = nullptr;
    at(i, [&](const auto& h) { t = kid_task(h); });
    return t;
  }
  bool cancel_child(std::size_t i, std::string_view msg) override {
    bool r = false;
    at(i, [&](const auto& h) { r = kid_cancel(h, msg); });
    return r;
  }
  bool owned(std::size_t i) const noexcept override { return owned_[i]; }
  std::exception_ptr child_error(std::size_t i) override {
    std::exception_ptr e;
    at(i, [&](const auto& h) { e = kid_error(h); });
    return e;
  }
  void retrieve(std::size_t i) noexcept override {
    at(i, [](const auto& h) { kid_retrieve(h); });
  }
  void collect() override {
    // (a braced list: the children's results are taken in argument order)
    this->value_.emplace([this]<std::size_t... I>(std::index_sequence<I...>) {
      if constexpr (RE)
        return std::tuple<gather_elem_t<RE, H>...>{gather_result(std::get<I>(hs_), owned_[I])...};
      else
        return std::tuple<gather_elem_t<RE, H>...>{gather_take(std::get<I>(hs_), owned_[I])...};
    }(std::index_sequence_for<H...>{}));
  }

  std::tuple<H...> hs_;
  std::array<bool, N> owned_;
  std::array<typename Core::Node, N> nodes_storage_;
};

/// gather(range): the handles in a vector, the nodes in one array allocated for the announced
/// size (they never move once linked); every child is of one kind.
template <bool RE, class T>
class GatherVector final : public GatherState<std::vector<gather_elem_t<RE, TaskHandle<T>>>> {
  using Core = GatherCore;
  using Node = typename Core::Node;

 public:
  GatherVector(std::size_t capacity, bool owned)
      : GatherState<std::vector<gather_elem_t<RE, TaskHandle<T>>>>(RE), owned_(owned) {
    hs_.reserve(capacity);
    advise_huge(hs_.data(), hs_.capacity() * sizeof(TaskHandle<T>));
    if (capacity != 0) {
      this->nodes_ = std::allocator<Node>().allocate(capacity);
      advise_huge(this->nodes_, capacity * sizeof(Node));
    }
  }
  ~GatherVector() override {
    for (std::size_t i = 0; i < this->n_; ++i) this->nodes_[i].unlink();
    this->n_ = 0;  // (the core's destructor then has no node left to unlink)
    if (this->nodes_) std::allocator<Node>().deallocate(this->nodes_, hs_.capacity());
  }
  /// Take the next child and register on it now.
  void add(TaskHandle<T> h) {
    TaskStateBase* c = h.state_ptr();
    EventLoop* l = c->loop();
    if (hs_.size() == hs_.capacity() || (c->done() && !l)) [[unlikely]]
      refuse(c);
    hs_.push_back(std::move(h));
    c->add_completion(&this->next_node(l, true));
  }
  void registered() { Core::registered(); }

 private:
  [[noreturn, gnu::noinline, gnu::cold]] static void refuse(TaskStateBase* c) {
    if (c->done() && !c->loop()) throw RuntimeError("Event loop is closed");
    throw RuntimeError("asyncio.gather: more awaitables than the range's size announced");
  }
  Core::Kid status(std::size_t i) const noexcept override { return kid_status(hs_[i]); }
  const TaskStateBase* child_task(std::size_t i) const noexcept override { return kid_task(hs_[i]); }
  bool cancel_child(std::size_t i, std::string_view msg) override { return kid_cancel(hs_[i], msg); }
  bool owned(std::size_t) const noexcept override { return owned_; }
  std::exception_ptr child_error(std::size_t i) override { return kid_error(hs_[i]); }
  void retrieve(std::size_t i) noexcept override { kid_retrieve(hs_[i]); }
  void collect() override {
    std::vector<gather_elem_t<RE, TaskHandle<T>>> out;
    out.reserve(hs_.size());
    if constexpr (!std::is_same_v<typename decltype(out)::value_type, bool>)  // (vector<bool>: bits)
      advise_huge(out.data(), out.capacity() * sizeof(out[0]));
    for (std::size_t i = 0; i < hs_.size(); ++i) {
      // Each handle is dropped right after its result is taken, while its task is in cache (a
      // million-task gather would otherwise walk every task once more to release them).
      TaskHandle<T> h = std::move(hs_[i]);
      if constexpr (RE)
        out.push_back(gather_result(h, owned_));
      else
        out.push_back(gather_take(h, owned_));
    }
    this->value_.emplace(std::move(out));
  }

  std::vector<TaskHandle<T>> hs_;
  bool owned_;
};

template <class R>
concept GatherRange = std::ranges::input_range<R> && !Awaitable<R> &&
                      (is_task<std::ranges::range_value_t<R>>::value ||
                       is_task_handle<std::ranges::range_value_t<R>>::value);
}  // namespace detail

/// What gather() returns (Python's _GatheringFuture): a shared handle to the gather, usable
/// before it is awaited. Awaiting it gives the results (a tuple, or a vector for a range),
/// or throws the first child's exception; awaiting a done gather does not yield. Copyable:
/// awaiting it again, or result(), gives the results again (`co_await std::move(g)` on the
/// only handle moves them out).
template <class R>
class [[nodiscard]] GatheringFuture {
 public:
  using value_type = R;
  explicit GatheringFuture(detail::GatherState<R>* st) noexcept : st_(st) {}  // (takes its reference)
  GatheringFuture(const GatheringFuture& o) noexcept : st_(o.st_) {
    if (st_) st_->add_ref();
  }
  GatheringFuture(GatheringFuture&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
  GatheringFuture& operator=(GatheringFuture o) noexcept {
    std::swap(st_, o.st_);
    return *this;
  }
  ~GatheringFuture() {
    if (st_) st_->release();
  }

  bool done() const { return state().done(); }
  /// The loop of its children (or the running one).
  EventLoop& get_loop() const { return state().get_loop(); }
  /// As in Python 3.11, never true: a cancelled gather ends with CancelledError as its
  /// exception (result() and co_await throw it) rather than in the cancelled state.
  bool cancelled() const {
    (void)state();
    return false;
  }
  /// Python's _GatheringFuture.cancel(msg): false if done; otherwise cancels every child and
  /// returns whether any accepted; the gather then ends with CancelledError(msg).
  bool cancel(std::string_view msg = {}) { return state().cancel(msg); }
  /// The results; InvalidStateError if not done; rethrows the exception it ended with.
  const R& result() const {
    auto& st = state();
    if (!st.done()) throw InvalidStateError("Result is not set.");
    if (st.error()) std::rethrow_exception(st.error());
    return *st.value_;
  }
  /// The exception it ended with (CancelledError when cancelled), null on success;
  /// InvalidStateError if not done.
  std::exception_ptr exception() const {
    auto& st = state();
    if (!st.done()) throw InvalidStateError("Exception is not set.");
    return st.error();
  }
  /// Call `fn(gathering_future)` (or `fn()`) via call_soon once done (scheduled at once if done).
  template <class F>
  void add_done_callback(F fn) {
    state().add_callback(new Callback<F>(*this, std::move(fn)));
  }

  struct Awaiter final : detail::Waiter {
    detail::GatherState<R>* st;
    bool may_move;
    detail::CompletionNode node;
    detail::TaskStateBase* task = nullptr;
    bool suspended = false;
    Awaiter(detail::GatherState<R>* s, bool m) noexcept : st(s), may_move(m) {}
    Awaiter(Awaiter&& o) noexcept : st(o.st), may_move(o.may_move) {}
    ~Awaiter() { node.unlink(); }
    bool await_ready() const {
      if (!st) throw RuntimeError("cannot await an empty asyncio::GatheringFuture");
      return st->done();
    }
    void await_suspend(std::coroutine_handle<> h) {
      task = &detail::require_task("asyncio.gather()");
      suspended = true;
      node.set_waiter(task);
      st->add_callback(&node);
      task->suspend_on(this, h);
    }
    void describe(std::string& out, double) const override {
      std::size_t pending = 0, n = st->size();
      for (std::size_t i = 0; i < n; ++i) pending += st->child_pending(i) ? 1 : 0;
      out += "gather, " + std::to_string(pending) + " of " + std::to_string(n) + " pending";
    }
    bool awaits(const detail::TaskStateBase* t) const noexcept override {
      for (std::size_t i = 0, n = st->size(); i < n; ++i)
        if (st->task_of(i) == t) return true;
      return false;
    }
    /// Python: cancelling the awaiting task cancels the gathering future, with its message.
    bool cancel() noexcept override {
      try {
        return st->cancel(task->cancel_message());
      } catch (...) {
        return st->cancel({});
      }
    }
    R await_resume() {
      node.unlink();
      if (suspended) task->check_cancel();
      if (st->error()) std::rethrow_exception(st->error());
      if constexpr (std::is_copy_constructible_v<R>) {
        if (!may_move || st->refs() != 1) return *st->value_;
      }
      return std::move(*st->value_);
    }
  };
  Awaiter operator co_await() const& noexcept { return Awaiter(st_, false); }
  Awaiter operator co_await() && noexcept { return Awaiter(st_, true); }
  /// Lets `Task<R> t = gather(...)` and APIs taking a Task accept it.
  operator Task<R>() && { return detail::await_as_task<R, GatheringFuture>(std::move(*this)); }
  explicit operator bool() const noexcept { return st_ != nullptr; }
  friend bool operator==(const GatheringFuture& a, const GatheringFuture& b) noexcept { return a.st_ == b.st_; }

 private:
  template <class F>
  struct Callback final : detail::CompletionNode, detail::Pooled {
    Callback(GatheringFuture g, F f) : g_(std::move(g)), f_(std::move(f)) { run_ = &Callback::run; }
    static void run(detail::Runnable* r, bool discard) {
      auto* self = static_cast<Callback*>(r);
      if (!discard) {
        try {
          if constexpr (std::is_invocable_v<F&, GatheringFuture&>)
            self->f_(self->g_);
          else
            self->f_();
        } catch (...) {
          if (EventLoop* l = self->g_.st_->loop())
            l->call_exception_handler({"Exception in callback (gather done callback)", std::current_exception(), {}});
        }
      }
      delete self;
    }
    GatheringFuture g_;
    F f_;
  };
  detail::GatherState<R>& state() const {
    if (!st_) throw RuntimeError("empty asyncio::GatheringFuture");
    return *st_;
  }
  detail::GatherState<R>* st_ = nullptr;
};

namespace detail {
template <class X>
struct is_gathering_future : std::false_type {};
template <class R>
struct is_gathering_future<GatheringFuture<R>> : std::true_type {};

/// Schedules the arguments in argument order (a braced list is evaluated left to right; a
/// function's argument list is not, and GCC evaluates it right to left), then registers on them.
template <bool RE, class... A>
auto gather_args(A&&... aws) {
  using G = GatherTuple<RE, decltype(gather_child(std::forward<A>(aws)))...>;
  using R = typename decltype(std::declval<G&>().value_)::value_type;
  std::tuple<decltype(gather_child(std::forward<A>(aws)))...> hs{gather_child(std::forward<A>(aws))...};
  return GatheringFuture<R>(new G(hs, std::array<bool, sizeof...(A)>{owned_v<A>...}));
}

template <bool RE, class R>
auto gather_from_range(R&& r) {
  using E = std::ranges::range_value_t<R>;
  using T = typename E::value_type;
  using G = GatherVector<RE, T>;
  using V = typename decltype(std::declval<G&>().value_)::value_type;
  auto take = [](auto&& e) {
    if constexpr (is_task<E>::value)
      return schedule_here(std::move(e));
    else
      return TaskHandle<T>(e);
  };
  if constexpr (std::ranges::sized_range<R>) {
    // One pass: each child is scheduled (or referenced) and registered on while in cache.
    G* st = new G(static_cast<std::size_t>(std::ranges::size(r)), is_task<E>::value);
    GatheringFuture<V> g(st);
    for (auto&& e : r) st->add(take(e));
    st->registered();
    return g;
  } else {
    std::vector<TaskHandle<T>> hs;
    for (auto&& e : r) hs.push_back(take(e));
    G* st = new G(hs.size(), is_task<E>::value);
    GatheringFuture<V> g(st);
    for (auto& h : hs) st->add(std::move(h));
    st->registered();
    return g;
  }
}
}  // namespace detail

/// Run awaitables concurrently (Python's asyncio.gather); results in argument order as a tuple
/// (void → None). Lazy Tasks (and other awaitables) are scheduled as tasks in argument order,
/// and gather registers on every child when it is called, as Python's; the GatheringFuture it
/// returns can be awaited, cancelled, or asked done()/result(). On the first exception the
/// tasks gather created are cancelled and awaited, then it ends with that exception; children
/// passed as TaskHandles or Futures keep running, as in Python. Cancelling the gather (or the
/// task awaiting it) cancels every child.
template <class... A>
  requires(!detail::GatherRange<A> && ...)
auto gather(A&&... aws) {
  return detail::gather_args<false>(std::forward<A>(aws)...);
}
/// gather(return_exceptions, ...): each element is a Result<T>; nothing is thrown for a child.
template <class... A>
  requires(!detail::GatherRange<A> && ...)
auto gather(return_exceptions_t, A&&... aws) {
  return detail::gather_args<true>(std::forward<A>(aws)...);
}
/// gather(range) of Task<T> (moved out of the range) or TaskHandle<T> → std::vector<T>.
template <detail::GatherRange R>
auto gather(R&& r) {
  return detail::gather_from_range<false>(std::forward<R>(r));
}
template <detail::GatherRange R>
auto gather(return_exceptions_t, R&& r) {
  return detail::gather_from_range<true>(std::forward<R>(r));
}

// ------------------------------------------------------------------ wait

/// wait()'s return_when (Python's asyncio.FIRST_COMPLETED, ...). (Its int base makes any value
/// representable, so wait() can answer a bad one with ValueError, as Python does.)
enum ReturnWhen : int { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };

/// wait()'s result: `auto [done, pending] = co_await asyncio::wait(v);` (input order kept).
template <class T>
struct WaitResult {
  std::vector<TaskHandle<T>> done;
  std::vector<TaskHandle<T>> pending;
};

namespace detail {
template <class T>
Task<WaitResult<T>> wait_impl(std::vector<TaskHandle<T>> fs, std::optional<double> timeout, ReturnWhen rw) {
  if (fs.empty()) throw ValueError("Set of Tasks/Futures is empty.");
  if (rw != FIRST_COMPLETED && rw != FIRST_EXCEPTION && rw != ALL_COMPLETED)
    throw ValueError("Invalid return_when value: " + std::to_string(static_cast<int>(rw)));
  if (timeout && std::isnan(*timeout)) throw ValueError("wait(): timeout is NaN");
  std::vector<TaskStateBase*> children;
  for (auto& f : fs) children.push_back(f.state_ptr());
  MultiWait::Mode mode = rw == ALL_COMPLETED     ? MultiWait::Mode::AllCompleted
                         : rw == FIRST_COMPLETED ? MultiWait::Mode::FirstCompleted
                                                 : MultiWait::Mode::FirstException;
  MultiWait w(std::move(children), mode, timeout);
  co_await w;
  WaitResult<T> r;
  for (auto& f : fs) (f.done() ? r.done : r.pending).push_back(f);
  co_return r;
}
template <class V>
auto wait_handles(V&& v) {
  using E = std::ranges::range_value_t<V>;
  using T = typename E::value_type;
  std::vector<TaskHandle<T>> hs;
  for (auto&& e : v) {
    if constexpr (is_task<E>::value)
      hs.push_back(schedule_here(std::move(e)));
    else
      hs.push_back(e);
  }
  return hs;
}
}  // namespace detail

/// Wait for the tasks (lazy Tasks are scheduled first) until `return_when` holds or the timeout
/// passes. Never raises on timeout, never cancels. ValueError on an empty set.
template <detail::GatherRange V>
auto wait(V&& fs, std::optional<double> timeout = std::nullopt, ReturnWhen return_when = ALL_COMPLETED) {
  auto hs = detail::wait_handles(std::forward<V>(fs));
  using T = typename decltype(hs)::value_type::value_type;
  return detail::wait_impl<T>(std::move(hs), timeout, return_when);
}
template <detail::GatherRange V, detail::DurationLike D>
auto wait(V&& fs, D timeout, ReturnWhen return_when = ALL_COMPLETED) {
  return wait(std::forward<V>(fs), std::optional<double>(detail::to_seconds(timeout)), return_when);
}
template <detail::GatherRange V>
auto wait(V&& fs, ReturnWhen return_when) {
  return wait(std::forward<V>(fs), std::optional<double>(), return_when);
}

// ------------------------------------------------------------------ wait_for

namespace detail {
/// wait_for's coroutine: the inner result, or nullopt on timeout. The TimeoutError is thrown
/// once, by WaitFor's await_resume in the caller's frame, not thrown here and rethrown there
/// (each throw costs ~15k instructions of unwinding). The inner work is scheduled when this is
/// first resumed, i.e. when the wait_for is awaited, as Python's wait_for coroutine does.
template <class T, class A>
Task<std::optional<typename Stored<T>::type>> wait_for_handle(A aw, double timeout) {
  using S = typename Stored<T>::type;
  if (std::isnan(timeout)) throw ValueError("wait_for(): timeout is NaN");
  if constexpr (requires { { aw.done() } -> std::convertible_to<bool>; } && !is_task_handle<A>::value) {
    if (timeout <= 0 && aw.done()) {
      // Python 3.11: a future already done is returned at once, whatever the timeout (a
      // TaskHandle takes the path below, which does the same).
      if constexpr (std::is_void_v<T>) {
        co_await aw;
        co_return S{};
      } else if constexpr (std::is_reference_v<T>) {
        T r = co_await aw;
        co_return S(std::addressof(r));
      } else {
        T r = co_await aw;
        co_return S(std::move(r));
      }
    }
    if constexpr (requires { aw.cancel(); }) {
      if (timeout <= 0) {
        aw.cancel();  // Python: _cancel_and_wait(fut) on the future itself, then TimeoutError
        co_return std::nullopt;
      }
    }
  }
  TaskHandle<T> fut = handle_of(std::move(aw));
  auto* st = fut.state_ptr();
  bool outer_cancelled = false;
  std::string cancel_msg;
  if (timeout > 0) {
    try {
      MultiWait w({st}, MultiWait::Mode::FirstCompleted, timeout);
      co_await w;
    } catch (const CancelledError& e) {
      outer_cancelled = true;
      cancel_msg = e.message();
    }
  }
  if (!st->done()) {
    // Timed out (or cancelled from outside): cancel the inner work and wait until it has finished.
    st->cancel();
    MultiWait w2({st}, MultiWait::Mode::AllCompleted);
    co_await w2;
    if (outer_cancelled) throw CancelledError(cancel_msg);
    if (st->cancelled()) {
      st->mark_retrieved();
      co_return std::nullopt;
    }
  }
  if constexpr (std::is_void_v<T>) {
    task_result<T>(st, true);
    co_return S{};
  } else if constexpr (std::is_reference_v<T>) {
    T r = task_result<T>(st, true);
    co_return S(std::addressof(r));
  } else {
    co_return S(task_result<T>(st, true));
  }
}

/// What wait_for returns: awaitable (throws TimeoutError on expiry), convertible to Task<T>.
template <class T>
class WaitFor {
 public:
  using S = typename Stored<T>::type;
  using Inner = Task<std::optional<S>>;
  explicit WaitFor(Inner t) noexcept : t_(std::move(t)) {}

  struct Awaiter {
    typename Inner::Awaiter inner;
    bool await_ready() { return inner.await_ready(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept { return inner.await_suspend(h); }
    T await_resume() {
      std::optional<S> r = inner.await_resume();
      if (!r) throw TimeoutError();
      return Stored<T>::get(*r);
    }
  };
  Awaiter operator co_await() & noexcept { return Awaiter{t_.operator co_await()}; }
  Awaiter operator co_await() && noexcept { return Awaiter{std::move(t_).operator co_await()}; }
  /// Lets `Task<T> t = wait_for(...)` and APIs taking a Task accept it.
  operator Task<T>() && { return await_as_task<T, WaitFor>(std::move(*this)); }

 private:
  Inner t_;
};

/// Leaf awaitables (sleep, Lock/Semaphore acquire, Event.wait): their own awaiters, no user code
/// runs inside them, they register with the task through suspend_on(), their Waiter::cancel()
/// withdraws that registration, and abandon() does what their cancelled await_resume would do
/// except throwing (so the awaiter may be dropped without an exception).
template <class A>
concept LeafAwaitable = requires(A& a) {
  { a.abandon() } noexcept;
};

/// wait_for on a leaf awaitable: no inner task. The awaiter runs in the caller's task with a
/// deadline beside it; at the deadline its registration is withdrawn and the caller resumes
/// with TimeoutError, the only exception of the whole timeout. Python wraps even `sleep` in a
/// task and raises CancelledError inside it first; with no user code in a leaf that difference
/// cannot be observed, except that the caller resumes on the next loop iteration instead of
/// after the three or four hops of Python's cancel-and-wait. As in Python, the deadline is
/// armed before the awaitable starts, so of two equal deadlines the timeout fires first; an
/// awaitable already completed (its wake-up scheduled) when the deadline fires keeps its result.
template <class A>
class WaitForLeaf {
 public:
  using T = await_result_t<A>;
  WaitForLeaf(A aw, double timeout) noexcept : aw_(std::move(aw)), timeout_(timeout) {}
  WaitForLeaf(WaitForLeaf&& o) noexcept : aw_(std::move(o.aw_)), timeout_(o.timeout_) {}
  WaitForLeaf(const WaitForLeaf&) = delete;
  ~WaitForLeaf() { disarm(); }

  bool await_ready() {
    if (std::isnan(timeout_)) throw ValueError("wait_for(): timeout is NaN");
    if (timeout_ <= 0) return false;  // already expired: the awaitable is never started (Python 3.11)
    return aw_.await_ready();
  }
  void await_suspend(std::coroutine_handle<> h) {
    task_ = &require_task("asyncio.wait_for()");
    if (timeout_ <= 0) {
      timed_out_ = true;
      task_->yield_now(h);
      return;
    }
    loop_ = task_->loop();
    timer_.owner = this;
    timer_.run_ = &WaitForLeaf::fired;
    loop_->add_timer(&timer_, loop_->time() + timeout_);
    aw_.await_suspend(h);
    inner_ = task_->waiter_;  // null when it did not register (sleep(0) only yields)
    if (!inner_) disarm();
  }
  T await_resume() {
    disarm();
    if (timed_out_) {
      if (inner_) aw_.abandon();
      task_->check_cancel();  // a cancellation that arrived after the deadline still wins
      throw TimeoutError();
    }
    return aw_.await_resume();
  }
  /// Lets `Task<T> t = wait_for(...)` and APIs taking a Task accept it.
  operator Task<T>() && { return await_as_task<T, WaitForLeaf>(std::move(*this)); }

 private:
  struct Timer : TimerNode {
    WaitForLeaf* owner = nullptr;
  };
  static void fired(Runnable* r, bool discard) {
    if (discard) return;
    auto* self = static_cast<Timer*>(r)->owner;
    // Still registered (not already woken by its own completion or a cancellation)?
    if (self->task_->waiter_ == self->inner_ && self->inner_->cancel()) self->timed_out_ = true;
  }
  void disarm() noexcept {
    if (timer_.in_heap()) loop_->remove_timer(&timer_);
    timer_.unlink();
  }

  A aw_;
  double timeout_;
  Timer timer_;
  TaskStateBase* task_ = nullptr;
  EventLoop* loop_ = nullptr;
  Waiter* inner_ = nullptr;
  bool timed_out_ = false;
};
}  // namespace detail

/// Await `aw` (a Task, TaskHandle or any awaitable) for at most `timeout`. On expiry the inner
/// work is cancelled and awaited, then TimeoutError is thrown. Cancelling the wait_for cancels
/// the inner work. `std::nullopt` means no timeout. (Python 3.11's implementation: the inner
/// work runs as its own task, scheduled when the wait_for is awaited.) The result is awaitable
/// and converts to Task<T>.
template <class A, detail::DurationLike D>
auto wait_for(A&& aw, D timeout) {
  using T = detail::arg_result_t<A>;
  if constexpr (detail::LeafAwaitable<std::remove_cvref_t<A>> && !std::is_lvalue_reference_v<A>)
    return detail::WaitForLeaf<std::remove_cvref_t<A>>(std::move(aw), detail::to_seconds(timeout));
  else
    return detail::WaitFor<T>(
        detail::wait_for_handle<T>(detail::take_arg(std::forward<A>(aw)), detail::to_seconds(timeout)));
}
template <class A>
auto wait_for(A&& aw, std::optional<double> timeout) -> Task<detail::arg_result_t<A>> {
  using T = detail::arg_result_t<A>;
  if (timeout) return wait_for(std::forward<A>(aw), *timeout);
  if constexpr (detail::is_task<std::remove_cvref_t<A>>::value)
    return std::move(aw);
  else
    return detail::await_as_task<T, std::remove_cvref_t<A>>(std::forward<A>(aw));
}

// ------------------------------------------------------------------ run_until_complete

namespace detail {
struct StopNode final : CompletionNode {
  EventLoop* loop = nullptr;
  static void run(Runnable* r, bool discard) {
    if (!discard) static_cast<StopNode*>(r)->loop->stop();
  }
  ~StopNode() { unlink(); }
};
}  // namespace detail

template <class T>
T EventLoop::run_until_complete_impl(const TaskHandle<T>& h, bool move_out) {
  detail::StopNode node;
  node.loop = this;
  node.run_ = &detail::StopNode::run;
  h.state_ptr()->add_completion(&node);
  run_forever();
  if (!h.done()) throw RuntimeError("Event loop stopped before Future completed.");
  if constexpr (std::is_void_v<T>) {
    h.result();
  } else {
    // A handle the caller holds keeps its result (Python: run_until_complete(task) and a later
    // task.result() give the same value); only the task made here for a Task gives it up.
    return detail::task_result<T>(h.state_ptr(), move_out);
  }
}
template <class T>
T EventLoop::run_until_complete(Task<T> x) {
  if (closed_) throw RuntimeError("Event loop is closed");
  if (running_) throw RuntimeError("This event loop is already running");
  return run_until_complete_impl(create_task(std::move(x)), true);
}
template <class T>
T EventLoop::run_until_complete(const TaskHandle<T>& x) {
  if (closed_) throw RuntimeError("Event loop is closed");
  if (running_) throw RuntimeError("This event loop is already running");
  if (!x) throw RuntimeError("run_until_complete: empty TaskHandle");
  return run_until_complete_impl(x, false);
}

}  // namespace asyncio
