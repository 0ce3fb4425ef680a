// An awaitable that is already complete (aexit of the locks, which only release).
#pragma once

#include <coroutine>
#include <utility>

namespace asyncio::detail {
template <class T>
struct Ready {
  T value;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  T await_resume() { return std::move(value); }
};
template <>
struct Ready<void> {
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  void await_resume() const noexcept {}
};
}  // namespace asyncio::detail
