// Compiler switches the runtime needs. Nothing public here.
#pragma once

#include <coroutine>

// Symmetric transfer is a guaranteed tail call under clang at every optimisation level and with
// sanitizers, but not under GCC at -O0/-O1/-Og or with ASan (each transfer nests a stack frame,
// and a million synchronously completing awaits overflow the stack). There we bounce through a
// trampoline in the task driver: the transfer is recorded and the driver resumes it.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ASYNCIO_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ASYNCIO_SANITIZED 1
#endif
#endif
#ifndef ASYNCIO_SANITIZED
#define ASYNCIO_SANITIZED 0
#endif

// GCC makes the transfer a tail call with sibling-call optimisation (-O2, -O3, -Os) and no
// ASan/TSan; the macros cannot tell -O1/-Og from -O2, so GCC users building with -O1 or -Og
// and deep await chains should define ASYNCIO_SYMMETRIC_TRANSFER=0.
#ifndef ASYNCIO_SYMMETRIC_TRANSFER
#if defined(__clang__)
#define ASYNCIO_SYMMETRIC_TRANSFER 1
#elif defined(__OPTIMIZE__) && !defined(__NO_INLINE__) && !ASYNCIO_SANITIZED
#define ASYNCIO_SYMMETRIC_TRANSFER 1
#else
#define ASYNCIO_SYMMETRIC_TRANSFER 0
#endif
#endif

namespace asyncio::detail {

#if !ASYNCIO_SYMMETRIC_TRANSFER
/// The coroutine the trampoline resumes next (set by transfer(), drained by drive()).
inline thread_local std::coroutine_handle<> tl_next_;
#endif

/// Hand control from the suspending coroutine to `h` (return this from await_suspend).
inline std::coroutine_handle<> transfer(std::coroutine_handle<> h) noexcept {
#if ASYNCIO_SYMMETRIC_TRANSFER
  return h;
#else
  tl_next_ = h;
  return std::noop_coroutine();
#endif
}

/// Resume `h` and every coroutine it transfers to, until control comes back to the caller.
inline void drive(std::coroutine_handle<> h) {
#if ASYNCIO_SYMMETRIC_TRANSFER
  h.resume();
#else
  while (h) {
    h.resume();
    h = tl_next_;
    tl_next_ = nullptr;
  }
#endif
}

}  // namespace asyncio::detail
