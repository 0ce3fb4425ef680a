// Per-thread size-class free lists for coroutine frames (a task's state lives in its frame's
// block), so spawning and awaiting do not hit malloc. Blocks are carved from chunks that are
// never returned to the system: the first eight of a thread are 256 KiB; a pool that keeps
// growing then takes 2 MiB chunks mapped with MADV_HUGEPAGE, one page fault per 2 MiB instead of
// 512 (a million tasks otherwise spend a quarter of their time in the kernel faulting pages in).
// A block stays valid memory forever, so a frame allocated on one thread and freed on
// another simply joins the freeing thread's list, and a thread that exits hands its free blocks
// to a process-wide list that the next pool adopts. Memory is therefore bounded by the peak
// number of live frames, and reused. Disabled under sanitizers so ASan still sees every
// use-after-free.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "config.hpp"

namespace asyncio::detail {

struct FrameBlock {
  FrameBlock* next;
};

inline constexpr std::size_t kFrameGranule = 16;
inline constexpr std::size_t kFrameClasses = 64;  // blocks up to 1 KiB are pooled
inline constexpr std::size_t kFrameChunk = 256 * 1024;
inline constexpr std::size_t kFrameHugeChunk = 2 * 1024 * 1024;
inline constexpr unsigned kFrameSmallChunks = 8;  // per thread, before huge chunks

/// Free lists left behind by exited threads (whole lists, handed over and adopted in O(1)),
/// and every chunk ever made (kept reachable).
struct FrameOrphans {
  std::mutex mu;
  std::vector<FrameBlock*> lists[kFrameClasses];
  std::atomic<bool> any{false};
  std::vector<void*> chunks;
  static FrameOrphans& get() {
    static FrameOrphans* o = new FrameOrphans;  // never destroyed: blocks outlive static destructors
    return *o;
  }
};

/// Trivially constructible and destructible, so thread_local access is a plain TLS load.
struct FramePoolData {
  FrameBlock* heads[kFrameClasses];
  char* cur;
  char* end;
  unsigned chunks;
  bool reaper_armed;
};

/// A 2 MiB-aligned 2 MiB chunk the kernel may back with one transparent huge page; null if
/// mmap fails (the caller falls back to operator new).
inline char* map_huge_chunk() noexcept {
  const std::size_t len = 2 * kFrameHugeChunk;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto base = reinterpret_cast<std::uintptr_t>(p);
  std::uintptr_t aligned = (base + kFrameHugeChunk - 1) & ~(kFrameHugeChunk - 1);
  if (aligned > base) ::munmap(p, aligned - base);
  std::uintptr_t tail = aligned + kFrameHugeChunk;
  if (base + len > tail) ::munmap(reinterpret_cast<void*>(tail), base + len - tail);
#ifdef MADV_HUGEPAGE
  ::madvise(reinterpret_cast<void*>(aligned), kFrameHugeChunk, MADV_HUGEPAGE);
#endif
  return reinterpret_cast<char*>(aligned);
}
/// A large array about to be filled (gather's per-child bookkeeping for a million tasks): let
/// the kernel back its 2 MiB-aligned interior with transparent huge pages, one page fault per
/// 2 MiB instead of 512. A hint only; arrays under 4 MiB are left alone.
inline void advise_huge(const void* p, std::size_t bytes) noexcept {
#ifdef MADV_HUGEPAGE
  if (bytes < 2 * kFrameHugeChunk) return;
  auto b = reinterpret_cast<std::uintptr_t>(p);
  std::uintptr_t lo = (b + kFrameHugeChunk - 1) & ~(kFrameHugeChunk - 1);
  std::uintptr_t hi = (b + bytes) & ~(kFrameHugeChunk - 1);
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

inline thread_local FramePoolData tl_frame_pool{};

/// Hands a dying thread's free lists to the process-wide orphans, one list per size class
/// (not block by block: a thread that ran a million tasks would walk them all at exit).
struct FramePoolReaper {
  ~FramePoolReaper() {
    auto& o = FrameOrphans::get();
    std::lock_guard<std::mutex> g(o.mu);
    for (std::size_t c = 0; c < kFrameClasses; ++c) {
      FrameBlock* head = std::exchange(tl_frame_pool.heads[c], nullptr);
      if (!head) continue;
      try {
        o.lists[c].push_back(head);
        o.any.store(true, std::memory_order_relaxed);
      } catch (...) {
        // Out of memory: these blocks are not reused (they stay valid memory in their chunk).
      }
    }
    tl_frame_pool.cur = tl_frame_pool.end = nullptr;
  }
};

/// Registers the thread-exit hand-off of this thread's free blocks (first allocation or free).
[[gnu::noinline]] inline void arm_frame_reaper() {
  tl_frame_pool.reaper_armed = true;
  thread_local FramePoolReaper reaper;
  (void)reaper;
}

[[gnu::noinline]] inline void* frame_alloc_slow(std::size_t c) {
  FramePoolData& p = tl_frame_pool;
  if (!p.reaper_armed) arm_frame_reaper();
  auto& o = FrameOrphans::get();
  if (o.any.load(std::memory_order_relaxed)) {
    std::lock_guard<std::mutex> g(o.mu);
    if (!o.lists[c].empty()) {  // adopt a whole orphaned list (this thread's own is empty)
      FrameBlock* b = o.lists[c].back();
      o.lists[c].pop_back();
      p.heads[c] = b->next;
      return b;
    }
  }
  std::size_t sz = c * kFrameGranule;
  if (static_cast<std::size_t>(p.end - p.cur) < sz) {
    char* chunk = nullptr;
    std::size_t len = kFrameChunk;
    if (p.chunks >= kFrameSmallChunks && (chunk = map_huge_chunk()) != nullptr) {
      len = kFrameHugeChunk;  // (mapped memory is reachable without being listed)
    } else {
      chunk = static_cast<char*>(::operator new(kFrameChunk));
      std::lock_guard<std::mutex> g(o.mu);
      o.chunks.push_back(chunk);
    }
    ++p.chunks;
    p.cur = chunk;
    p.end = chunk + len;
  }
  void* r = p.cur;
  p.cur += sz;
  return r;
}

inline void* frame_alloc(std::size_t n) {
#if ASYNCIO_SANITIZED
  return ::operator new(n);
#else
  std::size_t c = (n + kFrameGranule - 1) / kFrameGranule;
  if (c >= kFrameClasses) return ::operator new(n);
  FramePoolData& p = tl_frame_pool;
  if (FrameBlock* b = p.heads[c]) {
    p.heads[c] = b->next;
    return b;
  }
  const std::size_t sz = c * kFrameGranule;
  if (static_cast<std::size_t>(p.end - p.cur) >= sz) {  // carve from the current chunk
    void* r = p.cur;
    p.cur += sz;
    return r;
  }
  return frame_alloc_slow(c);  // orphaned blocks of this class, else a new chunk
#endif
}

inline void frame_free(void* ptr, std::size_t n) noexcept {
#if ASYNCIO_SANITIZED
  (void)n;
  ::operator delete(ptr);
#else
  std::size_t c = (n + kFrameGranule - 1) / kFrameGranule;
  if (c >= kFrameClasses) {
    ::operator delete(ptr);
    return;
  }
  FramePoolData& p = tl_frame_pool;
  if (!p.reaper_armed) arm_frame_reaper();  // a thread that only frees hands its blocks on too
  auto* b = static_cast<FrameBlock*>(ptr);
  b->next = p.heads[c];
  p.heads[c] = b;
#endif
}

/// Base giving a class pooled operator new/delete.
struct Pooled {
  static void* operator new(std::size_t n) { return frame_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }
};

}  // namespace asyncio::detail
