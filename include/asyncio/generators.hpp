// asyncio/generators.hpp — async generators (Python's `async def` with `yield`).
//
//   asyncio::AsyncGenerator<int> async_range(int start, int stop) {
//     for (int i = start; i < stop; ++i) { co_await asyncio::sleep(0.5); co_yield i; }
//   }
//   auto gen = async_range(1, 5);
//   while (auto num = co_await gen.anext()) fmt::print("{}\n", *num);
//
// The generator body runs inline in the consuming task (as Python's does): each anext() resumes
// it up to its next co_yield; a co_await inside suspends the consumer's task, and cancelling that
// task throws CancelledError at the generator's co_await, from where it propagates to the
// consumer like any exception the generator lets out.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "exceptions.hpp"

namespace asyncio {

/// Thrown at the co_yield where an async generator is suspended when aclose() is called
/// (Python's GeneratorExit). Like CancelledError it is not a std::exception. The generator may
/// catch it to clean up (no co_await inside the catch block: set a flag, await after it) and
/// must then finish, by returning or by letting it (or another exception) out.
class GeneratorExit {};

template <class T>
class AsyncGenerator;

}  // namespace asyncio

#include "detail/generator_impl.hpp"

namespace asyncio {

/// The return type of an async generator coroutine: `co_yield` values and `co_await` anything.
/// Lazy: nothing runs until the first anext(). Move-only. Satisfies the async iterator protocol
/// (async_for accepts it). After the end, an exception, or aclose(), anext() gives std::nullopt.
///
/// Cleanup: aclose() resumes a generator suspended at a co_yield with GeneratorExit thrown
/// there, so destructors of its locals and `catch (GeneratorExit&)` clean-up code run (awaiting
/// included), as Python's aclose() does. Destroying an AsyncGenerator that was not run to the end
/// destroys the suspended frame: destructors run, but no code after the co_yield does (Python
/// would schedule aclose() from the garbage collector; call aclose() yourself for that).
/// Python's `try: ... finally: <cleanup, may await>` reads:
///   std::exception_ptr pending;
///   try { ... co_yield ...; } catch (...) { pending = std::current_exception(); }
///   <cleanup, may co_await>;
///   if (pending) std::rethrow_exception(pending);
/// Unlike Python 3.11, a generator whose aclose() was cancelled is finished afterwards (3.11
/// leaves it "already running" for ever).
template <class T>
class [[nodiscard]] AsyncGenerator {
  static_assert(!std::is_reference_v<T> && !std::is_void_v<T>, "AsyncGenerator<T>: T must be an object type");

 public:
  using promise_type = detail::AsyncGenPromise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  AsyncGenerator() noexcept = default;
  explicit AsyncGenerator(handle_type h) noexcept : h_(h) {}
  AsyncGenerator(AsyncGenerator&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  AsyncGenerator& operator=(AsyncGenerator&& o) noexcept {
    if (this != &o) {
      destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  AsyncGenerator(const AsyncGenerator&) = delete;
  AsyncGenerator& operator=(const AsyncGenerator&) = delete;
  ~AsyncGenerator() { destroy(); }

  /// Python's `await gen.__anext__()`: run the generator to its next co_yield and give that value,
  /// or std::nullopt once it has finished (StopAsyncIteration). An exception the generator lets
  /// out is thrown here (once; the generator is finished afterwards). RuntimeError if the
  /// generator is already running (awaited from another task at the same time).
  detail::AsyncGenNext<T> anext() { return detail::AsyncGenNext<T>(this); }

  /// Python's `await gen.aclose()`: throw GeneratorExit into a generator suspended at a co_yield
  /// and run it until it finishes. An exception other than GeneratorExit that the clean-up
  /// throws is rethrown here; yielding again throws RuntimeError("async generator ignored
  /// GeneratorExit"). Nothing to do (and no error) if it never started or already finished;
  /// may be called any number of times.
  detail::AsyncGenClose<T> aclose() { return detail::AsyncGenClose<T>(this); }

  /// True once the generator has finished (ended, failed, or closed) or if it is empty.
  bool done() const noexcept { return !h_; }

 private:
  friend struct detail::AsyncGenNext<T>;
  friend struct detail::AsyncGenClose<T>;
  void destroy() noexcept {
    if (h_) std::exchange(h_, {}).destroy();
  }
  handle_type h_;
};

template <class T>
AsyncGenerator<T> detail::AsyncGenPromise<T>::get_return_object() noexcept {
  return AsyncGenerator<T>(std::coroutine_handle<AsyncGenPromise<T>>::from_promise(*this));
}

// ------------------------------------------------------------------ awaiters (machinery)

template <class T>
bool detail::AsyncGenNext<T>::await_ready() const {
  if (!gen_->h_) return true;
  if (gen_->h_.promise().running_) throw RuntimeError("anext(): asynchronous generator is already running");
  return false;
}

template <class T>
std::optional<T> detail::AsyncGenNext<T>::await_resume() {
  auto h = gen_->h_;
  if (!h) return std::nullopt;
  auto& p = h.promise();
  if (!h.done()) {  // suspended at a co_yield
    std::optional<T> v = std::move(p.value_);
    p.value_.reset();
    return v;
  }
  std::exception_ptr e = std::move(p.error_);
  gen_->destroy();  // finished: free the frame now
  if (e) std::rethrow_exception(e);
  return std::nullopt;
}

template <class T>
bool detail::AsyncGenClose<T>::await_ready() {
  auto h = gen_->h_;
  if (!h) return true;
  auto& p = h.promise();
  if (p.running_) throw RuntimeError("aclose(): asynchronous generator is already running");
  if (!p.started_ || h.done()) {  // never ran, or finished: just free the frame
    gen_->destroy();
    return true;
  }
  return false;
}

template <class T>
void detail::AsyncGenClose<T>::await_resume() {
  auto h = gen_->h_;
  if (!h) return;
  auto& p = h.promise();
  if (!h.done()) {  // it yielded again instead of finishing
    gen_->destroy();
    throw RuntimeError("async generator ignored GeneratorExit");
  }
  std::exception_ptr e = std::move(p.error_);
  gen_->destroy();
  if (e && !detail::is_generator_exit(e)) std::rethrow_exception(e);
}

}  // namespace asyncio
