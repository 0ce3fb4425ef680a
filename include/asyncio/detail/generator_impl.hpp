// AsyncGenerator's promise and awaiters. The generator's frame runs inline in the consuming
// task: anext() hands control to the frame (symmetric transfer), and co_yield / the final
// suspend hand it back to whoever awaited anext() or aclose().
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "../exceptions.hpp"
#include "config.hpp"
#include "frame_pool.hpp"

namespace asyncio::detail {

inline bool is_generator_exit(const std::exception_ptr& e) {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const GeneratorExit&) {
    return true;
  } catch (...) {
    return false;
  }
}

template <class T>
struct AsyncGenPromise : Pooled {
  std::coroutine_handle<> consumer_;  // who awaits anext()/aclose() now
  std::optional<T> value_;           // the value of the last co_yield, until anext() takes it
  std::exception_ptr error_;         // what the body let out
  bool started_ = false;
  bool running_ = false;  // between a resume and the next co_yield / the end
  bool closing_ = false;  // aclose(): the next resumption at a co_yield throws GeneratorExit

  AsyncGenerator<T> get_return_object() noexcept;
  std::suspend_always initial_suspend() noexcept { return {}; }

  /// co_yield and the final suspend both give control back to the consumer.
  struct YieldAwaiter {
    AsyncGenPromise* p;
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept {
      p->running_ = false;
      return transfer(p->consumer_);
    }
    void await_resume() const {
      if (p->closing_) throw GeneratorExit{};
    }
  };
  template <class U = T>
    requires std::is_constructible_v<T, U&&>
  YieldAwaiter yield_value(U&& v) {
    if (!closing_) value_.emplace(std::forward<U>(v));  // while closing, aclose() reports it
    return YieldAwaiter{this};
  }

  struct FinalAwaiter {
    AsyncGenPromise* p;
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept {
      p->running_ = false;
      return transfer(p->consumer_);
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return FinalAwaiter{this}; }

  void return_void() noexcept {}
  void unhandled_exception() noexcept { error_ = std::current_exception(); }
};

/// co_await gen.anext(): resume the generator up to its next co_yield (or its end).
template <class T>
struct AsyncGenNext {
  explicit AsyncGenNext(AsyncGenerator<T>* g) noexcept : gen_(g) {}
  bool await_ready() const;
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> consumer) noexcept {
    auto& p = gen_->h_.promise();
    p.consumer_ = consumer;
    p.started_ = true;
    p.running_ = true;
    return transfer(gen_->h_);
  }
  std::optional<T> await_resume();

  AsyncGenerator<T>* gen_;
};

/// co_await gen.aclose(): throw GeneratorExit at the co_yield and run the clean-up to the end.
template <class T>
struct AsyncGenClose {
  explicit AsyncGenClose(AsyncGenerator<T>* g) noexcept : gen_(g) {}
  bool await_ready();
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> consumer) noexcept {
    auto& p = gen_->h_.promise();
    p.consumer_ = consumer;
    p.closing_ = true;
    p.running_ = true;
    return transfer(gen_->h_);
  }
  void await_resume();

  AsyncGenerator<T>* gen_;
};

}  // namespace asyncio::detail
