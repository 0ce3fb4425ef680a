// Per-thread size-class free lists for coroutine frames and task states, so spawning and awaiting
// do not hit malloc. Blocks are plain ::operator new memory, so a block freed on another thread
// just joins that thread's list. Disabled under sanitizers so ASan still sees every use-after-free.
#pragma once

#include <cstddef>
#include <new>

#include "config.hpp"

namespace asyncio::detail {

class FramePool {
 public:
  static constexpr std::size_t kGranule = 16;
  static constexpr std::size_t kClasses = 64;  // blocks up to 1 KiB are pooled
  static constexpr std::size_t kMaxCachedBytes = std::size_t(64) << 20;  // per thread

  FramePool() = default;
  FramePool(const FramePool&) = delete;
  FramePool& operator=(const FramePool&) = delete;
  ~FramePool() {
    for (auto& head : heads_) {
      while (head) {
        Block* b = head;
        head = b->next;
        ::operator delete(b);
      }
    }
  }

  void* allocate(std::size_t n) {
    std::size_t c = (n + kGranule - 1) / kGranule;
    if (c >= kClasses) return ::operator new(n);
    if (Block* b = heads_[c]) {
      heads_[c] = b->next;
      cached_ -= c * kGranule;
      return b;
    }
    return ::operator new(c * kGranule);
  }

  void deallocate(void* p, std::size_t n) noexcept {
    std::size_t c = (n + kGranule - 1) / kGranule;
    if (c >= kClasses || cached_ + c * kGranule > kMaxCachedBytes) {
      ::operator delete(p);
      return;
    }
    auto* b = static_cast<Block*>(p);
    b->next = heads_[c];
    heads_[c] = b;
    cached_ += c * kGranule;
  }

 private:
  struct Block {
    Block* next;
  };
  Block* heads_[kClasses] = {};
  std::size_t cached_ = 0;
};

inline FramePool& frame_pool() {
  thread_local FramePool pool;
  return pool;
}

inline void* frame_alloc(std::size_t n) {
#if ASYNCIO_SANITIZED
  return ::operator new(n);
#else
  return frame_pool().allocate(n);
#endif
}

inline void frame_free(void* p, std::size_t n) noexcept {
#if ASYNCIO_SANITIZED
  (void)n;
  ::operator delete(p);
#else
  frame_pool().deallocate(p, n);
#endif
}

/// Base giving a class pooled operator new/delete.
struct Pooled {
  static void* operator new(std::size_t n) { return frame_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }
};

}  // namespace asyncio::detail
