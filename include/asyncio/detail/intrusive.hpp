// Intrusive doubly linked lists: the ready queue, timer nodes, waiter queues and done-callback
// lists all link nodes that live inside coroutine frames, so scheduling never allocates and any
// node can unlink itself in O(1) when it is cancelled or destroyed.
#pragma once

#include <cstddef>

namespace asyncio::detail {

struct ListNode {
  ListNode* prev_ = nullptr;
  ListNode* next_ = nullptr;

  bool linked() const noexcept { return next_ != nullptr; }
  void unlink() noexcept {
    if (next_) {
      prev_->next_ = next_;
      next_->prev_ = prev_;
      prev_ = next_ = nullptr;
    }
  }
};

/// Circular list with a sentinel. Not movable (nodes point at the sentinel).
class List {
 public:
  List() noexcept { head_.prev_ = head_.next_ = &head_; }
  List(const List&) = delete;
  List& operator=(const List&) = delete;

  bool empty() const noexcept { return head_.next_ == &head_; }
  ListNode* front() const noexcept { return empty() ? nullptr : head_.next_; }
  ListNode* sentinel() noexcept { return &head_; }
  const ListNode* sentinel() const noexcept { return &head_; }

  void push_back(ListNode* n) noexcept {
    n->prev_ = head_.prev_;
    n->next_ = &head_;
    head_.prev_->next_ = n;
    head_.prev_ = n;
  }
  ListNode* pop_front() noexcept {
    if (empty()) return nullptr;
    ListNode* n = head_.next_;
    n->unlink();
    return n;
  }
  std::size_t size() const noexcept {
    std::size_t k = 0;
    for (auto* n = head_.next_; n != &head_; n = n->next_) ++k;
    return k;
  }

 private:
  ListNode head_;
};

/// A unit of work in the ready queue. `run_(self, discard)`: discard=true means the loop is
/// closing and the node must only release what it owns, not run.
struct Runnable : ListNode {
  using Fn = void (*)(Runnable*, bool discard);
  Fn run_ = nullptr;
};

}  // namespace asyncio::detail
