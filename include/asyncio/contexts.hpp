// asyncio/contexts.hpp — `async with` and `async for`.
//
// Async context manager protocol: `aenter()` → awaitable of the value bound by `as` (or void);
// `aexit(std::exception_ptr)` → awaitable of bool (true suppresses the exception).
// Async iterator protocol: `anext()` → awaitable of std::optional<T>; std::nullopt (or a thrown
// StopAsyncIteration) ends the iteration.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "exceptions.hpp"
#include "task.hpp"
#include "tasks.hpp"

namespace asyncio {

namespace detail {
template <class CM>
using aenter_result_t = await_result_t<decltype(std::declval<CM&>().aenter())>;

template <class Body, class V>
auto with_body_task(Body& body, V& v) {
  if constexpr (std::is_invocable_v<Body&, V&>)
    return std::invoke(body, v);
  else
    return std::invoke(body);
}

template <class Body, class V>
struct with_body_result {
  using type = typename std::conditional_t<std::is_invocable_v<Body&, V&>, std::invoke_result<Body&, V&>,
                                           std::invoke_result<Body&>>::type::value_type;
};
template <class Body>
struct with_body_result<Body, void> {
  using type = typename std::invoke_result_t<Body&>::value_type;
};

template <class R, class CMRef, class Body>
Task<R> async_with_impl(CMRef cm, Body body) {
  using V = aenter_result_t<std::remove_reference_t<CMRef>>;
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<R>, Unit, R>> result;
  if constexpr (std::is_void_v<V>) {
    co_await cm.aenter();
    try {
      if constexpr (std::is_void_v<R>) {
        co_await std::invoke(body);
        result.emplace();
      } else {
        R r = co_await std::invoke(body);
        result.emplace(std::move(r));
      }
    } catch (...) {
      error = std::current_exception();
    }
  } else {
    V value = co_await cm.aenter();
    try {
      if constexpr (std::is_void_v<R>) {
        co_await with_body_task(body, value);
        result.emplace();
      } else {
        R r = co_await with_body_task(body, value);
        result.emplace(std::move(r));
      }
    } catch (...) {
      error = std::current_exception();
    }
  }
  bool suppress = co_await cm.aexit(error);
  if (error && !suppress) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<R>) {
    if (!result) {
      if constexpr (std::is_default_constructible_v<R>)
        co_return R{};
      else
        std::rethrow_exception(error);
    }
    co_return std::move(*result);
  }
}

template <class ItRef, class Body>
Task<void> async_for_impl(ItRef it, Body body) {
  for (;;) {
    bool stop = false;
    decltype(await_result_t<decltype(it.anext())>()) v;
    try {
      v = co_await it.anext();
    } catch (const StopAsyncIteration&) {
      stop = true;
    }
    if (stop || !v) break;
    // The item goes to the body as an rvalue (moved into a by-value parameter); a body taking
    // `T&` gets the item itself.
    using Item = std::remove_reference_t<decltype(*v)>;
    using Arg = std::conditional_t<std::is_invocable_v<Body&, Item&&>, Item&&, Item&>;
    using BR = typename std::invoke_result_t<Body&, Arg>::value_type;
    if constexpr (std::is_same_v<BR, bool>) {
      bool go_on = co_await std::invoke(body, static_cast<Arg>(*v));
      if (!go_on) break;
    } else {
      co_await std::invoke(body, static_cast<Arg>(*v));
    }
  }
}
}  // namespace detail

/// `async with cm as v: body` → `co_await async_with(cm, [&](V& v) -> Task<R> {...})`.
/// aenter is awaited, then the body (taking the aenter value, or nothing), then aexit always
/// (also on exception and cancellation; not when aenter throws). Returns the body's result;
/// when aexit suppresses an exception, a default-constructed R. An lvalue `cm` is used by
/// reference; a prvalue is moved into the frame and kept alive for the block.
template <class CM, class Body>
auto async_with(CM&& cm, Body body) {
  using C = std::remove_reference_t<CM>;
  using V = detail::aenter_result_t<C>;
  using R = typename detail::with_body_result<Body, V>::type;
  if constexpr (std::is_lvalue_reference_v<CM>)
    return detail::async_with_impl<R, C&, Body>(cm, std::move(body));
  else
    return detail::async_with_impl<R, C, Body>(std::move(cm), std::move(body));
}

/// `async for v in it: body` → `co_await async_for(it, [&](T v) -> Task<> {...})`. A body
/// returning Task<bool> stops the loop by returning false (Python's `break`).
template <class It, class Body>
Task<void> async_for(It&& it, Body body) {
  using I = std::remove_reference_t<It>;
  if constexpr (std::is_lvalue_reference_v<It>)
    return detail::async_for_impl<I&, Body>(it, std::move(body));
  else
    return detail::async_for_impl<I, Body>(std::move(it), std::move(body));
}

}  // namespace asyncio
