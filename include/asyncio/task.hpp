// asyncio/task.hpp — Task<T>, the return type of a coroutine (Python's `async def`).
//
// Lazy: calling the coroutine only creates its frame; nothing runs until it is awaited or handed
// to create_task(). `co_await task` runs it inline in the awaiting task (Python's `await coro`):
// no trip through the event loop, and a chain of awaits uses constant stack. Move-only, awaited
// at most once; awaiting an empty (moved-from or already awaited) Task throws RuntimeError.
// Exceptions propagate to the awaiter. A Task destroyed before it ever ran just frees its frame;
// in debug mode it is reported ("coroutine ... was never awaited").
#pragma once

#include <atomic>
#include <coroutine>
#include <cstring>
#include <exception>
#include <type_traits>
#include <utility>

#include "detail/config.hpp"
#include "detail/core.hpp"
#include "detail/frame_pool.hpp"
#include "detail/outcome.hpp"
#include "exceptions.hpp"

namespace asyncio {

template <class T = void>
class Task;

namespace detail {

// Every Task<T> frame is allocated with room for a task state in front of it (core.hpp's
// prefixed_frame_alloc), so create_task() needs no second allocation: the state is built there.

struct PromiseBase {
  PromiseBase(const char* file, unsigned line, const char* fn) noexcept : child_slot_(nullptr) {
    if (tl_track_origins && g_origin_hooks.track) g_origin_hooks.track(this, file, line, fn);
  }
  ~PromiseBase() {
    if (g_tracked_frames.load(std::memory_order_relaxed) != 0) g_origin_hooks.forget(this);
  }
  PromiseBase(const PromiseBase&) = delete;
  const CoroOrigin* origin() const noexcept {
    return g_tracked_frames.load(std::memory_order_relaxed) != 0 ? g_origin_hooks.origin_of(this) : nullptr;
  }

  // The promise is these two words and, but for Task<void>, the outcome: 16 bytes for Task<void>.
  std::coroutine_handle<> continuation_;
  // While this frame is suspended in `co_await child_task`: the awaiter's handle of that child
  // (null otherwise). Destruction walks these links down and destroys the chain innermost
  // first, one frame at a time (destroy_task_frame), so it uses constant stack as resumption
  // does; destroying each frame from its parent's awaiter would recurse once per level.
  //
  // For Task<void> the same word holds, once the coroutine has ended, how it ended: its
  // exception (TaskPromise<void> begins and ends that member). A frame suspended on a child has
  // not ended and one that ended awaits nothing, so the two are never live at once.
  union {
    std::coroutine_handle<>* child_slot_;
    std::exception_ptr void_error_;
  };
  static_assert(sizeof(std::exception_ptr) == sizeof(void*), "void_error_ shares child_slot_'s word");

  // Lazy start. (Nothing records that a frame started: a Task gives its frame up before it is
  // first resumed, so a Task still holding one holds a frame that never ran.)
  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) const noexcept {
      auto c = h.promise().continuation_;
      return c ? transfer(c) : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
};

template <class T>
struct TaskPromise : PromiseBase {
  Outcome<T> outcome_;

  static void* operator new(std::size_t n) { return prefixed_frame_alloc<task_prefix_bytes<T>>(n); }
  static void operator delete(void* p, std::size_t n) noexcept { prefixed_frame_free<task_prefix_bytes<T>>(p, n); }

  TaskPromise(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE(),
              const char* fn = __builtin_FUNCTION()) noexcept
      : PromiseBase(file, line, fn) {}
  Task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept { outcome_.set_exception(std::current_exception()); }
  template <class U = T>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) {
    outcome_.set_value(std::forward<U>(v));
  }
  bool has_exception() const noexcept { return outcome_.has_exception(); }
  const std::exception_ptr& exception() const noexcept { return outcome_.exception(); }
  decltype(auto) take() { return outcome_.take(); }
};

/// A void coroutine keeps only how it ended (reaching final_suspend without an exception means it
/// returned), and keeps it in PromiseBase's second word (see child_slot_): a Task<void> promise
/// is 16 bytes.
template <>
struct TaskPromise<void> : PromiseBase {
  static void* operator new(std::size_t n) { return prefixed_frame_alloc<task_prefix_bytes<void>>(n); }
  static void operator delete(void* p, std::size_t n) noexcept {
    prefixed_frame_free<task_prefix_bytes<void>>(p, n);
  }

  TaskPromise(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE(),
              const char* fn = __builtin_FUNCTION()) noexcept
      : PromiseBase(file, line, fn) {}
  ~TaskPromise() {
    if (has_exception()) void_error_.~exception_ptr();
  }
  Task<void> get_return_object() noexcept;
  // (The body ended: no child is awaited, the word is free.)
  void unhandled_exception() noexcept { ::new (static_cast<void*>(&void_error_)) std::exception_ptr(std::current_exception()); }
  void return_void() noexcept {}
  /// The word is null until an exception is stored (child_slot_ is null whenever that happens;
  /// a stored exception_ptr is never null).
  bool has_exception() const noexcept {
    void* w;
    std::memcpy(&w, static_cast<const void*>(&child_slot_), sizeof w);
    return w != nullptr;
  }
  const std::exception_ptr& exception() const noexcept { return void_error_; }
  void take() const {
    if (has_exception()) std::rethrow_exception(void_error_);
  }
};

/// The PromiseBase of a Task frame (every TaskPromise<T> starts with it; its place in the frame
/// is the same for every T: alignof(TaskPromise<T>) <= 16, see TaskStateLayout).
inline PromiseBase& task_promise_of(std::coroutine_handle<> h) noexcept {
  return *static_cast<PromiseBase*>(__builtin_coro_promise(h.address(), alignof(PromiseBase), false));
}

/// Destroys the Task frame `h` and, if it is suspended on a child Task (and that one on its
/// own, ...), the whole chain below it: innermost first, as recursive destruction would, but in
/// a loop, so a chain a million awaits deep needs no more stack than one.
[[gnu::noinline]] inline void destroy_suspended_task_frame(std::coroutine_handle<> h) noexcept {
  PromiseBase* const top = &task_promise_of(h);
  PromiseBase* p = top;
  while (p->child_slot_) p = &task_promise_of(*p->child_slot_);  // down to the innermost
  while (p != top) {
    // p's frame is suspended on no child: destroy it (no recursion), after its parent's
    // awaiter gave the handle up, so the parent's destruction later frees nothing twice.
    PromiseBase* parent = &task_promise_of(p->continuation_);
    std::coroutine_handle<> f = std::exchange(*parent->child_slot_, {});
    parent->child_slot_ = nullptr;
    f.destroy();
    p = parent;
  }
  h.destroy();
}
/// The common case inline (every `co_await child()` ends here: the child ended, so it awaits
/// nothing and a Task<void>'s word holds its exception); a suspended chain out of line. (Kept
/// small on purpose: when GCC stopped inlining the whole function, await_child lost 10%.)
[[gnu::always_inline]] inline void destroy_task_frame(std::coroutine_handle<> h) noexcept {
  if (h.done()) [[likely]]
    h.destroy();
  else
    destroy_suspended_task_frame(h);
}

[[noreturn]] inline void throw_empty_task() {
  throw RuntimeError("cannot await an empty asyncio::Task (it was moved from or already awaited)");
}

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  Task() noexcept = default;
  explicit Task(handle_type h) noexcept : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  /// True while the Task owns a coroutine frame (not moved from, not yet awaited).
  bool valid() const noexcept { return static_cast<bool>(h_); }
  explicit operator bool() const noexcept { return valid(); }

  struct Awaiter {
    std::coroutine_handle<> h;  // the child's frame (a Task<T> frame: see promise())
    detail::PromiseBase* parent = nullptr;  // the awaiting frame, when it is a Task frame
    bool await_ready() const {
      if (!h) detail::throw_empty_task();
      return false;
    }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> cont) noexcept {
      promise().continuation_ = cont;
      if constexpr (std::is_base_of_v<detail::PromiseBase, P>) {
        parent = &cont.promise();
        parent->child_slot_ = &h;  // (see PromiseBase::child_slot_)
      }
      return detail::transfer(h);
    }
    T await_resume() {
      if (parent) parent->child_slot_ = nullptr;
      if constexpr (std::is_void_v<T>) {
        promise().take();
      } else {
        return promise().take();
      }
    }
    promise_type& promise() const noexcept { return handle_type::from_address(h.address()).promise(); }
    Awaiter(handle_type hh) noexcept : h(hh) {}
    Awaiter(Awaiter&& o) noexcept : h(std::exchange(o.h, {})), parent(o.parent) {}
    Awaiter(const Awaiter&) = delete;
    ~Awaiter() {
      if (h) {
        if (parent) parent->child_slot_ = nullptr;
        detail::destroy_task_frame(h);
      }
    }
  };
  /// Runs the coroutine inline; the Task is consumed (empty afterwards).
  Awaiter operator co_await() & noexcept { return Awaiter{std::exchange(h_, {})}; }
  Awaiter operator co_await() && noexcept { return Awaiter{std::exchange(h_, {})}; }

  /// Gives up ownership of the frame (used by create_task).
  handle_type release() noexcept { return std::exchange(h_, {}); }

 private:
  // Inline: after `co_await child()` the Task is empty and its destructor is one test.
  [[gnu::always_inline]] void reset() noexcept {
    if (h_) [[unlikely]]
      destroy_unawaited();
  }
  [[gnu::noinline]] void destroy_unawaited() noexcept {
    if (detail::g_origin_hooks.never_awaited)  // (it never ran: see initial_suspend)
      detail::g_origin_hooks.never_awaited(h_.address(), h_.promise().origin());
    h_.destroy();
    h_ = {};
  }
  handle_type h_;
};

template <class T>
Task<T> detail::TaskPromise<T>::get_return_object() noexcept {
  return Task<T>{std::coroutine_handle<TaskPromise<T>>::from_promise(*this)};
}
inline Task<void> detail::TaskPromise<void>::get_return_object() noexcept {
  return Task<void>{std::coroutine_handle<TaskPromise<void>>::from_promise(*this)};
}

namespace detail {
template <class X>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {};
}  // namespace detail

}  // namespace asyncio
