// MultiWait: one task waiting on several tasks' completion (and optionally a deadline), the
// engine under gather, wait, wait_for and run()'s shutdown. Like CPython, each child reports
// through a done callback scheduled with call_soon, and the waiting task is then woken with
// another call_soon, so the number of loop iterations between a child finishing and the
// waiter resuming is the same as in asyncio.
#pragma once

#include <algorithm>
#include <cstdio>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <vector>

#include "loop_impl.hpp"
#include "core.hpp"

namespace asyncio::detail {

class MultiWait final : public Waiter, public Pooled {  // (Pooled: gather allocates one)
 public:
  enum class Mode : std::uint8_t {
    AllCompleted,     // wait(ALL_COMPLETED), cancel_and_wait
    FirstCompleted,   // wait(FIRST_COMPLETED), wait_for
    FirstException,   // wait(FIRST_EXCEPTION)
    Gather,           // gather: first exception or cancelled child ends it; cancel() cancels children
    GatherAll,        // gather(return_exceptions): all complete; cancel() cancels children
  };

  MultiWait(std::vector<TaskStateBase*> children, Mode mode, std::optional<double> timeout = std::nullopt)
      : children_(std::move(children)), remaining_(children_.size()), mode_(mode), timeout_(timeout) {
    nodes_.reserve(children_.size());
  }
  /// gather's form: children are added one at a time with add_child(), which registers on each
  /// at once, as Python's gather() adds its done callbacks when it is called rather than when it
  /// is awaited. At most `capacity` children (the nodes never move once linked).
  MultiWait(Mode mode, std::size_t capacity) : remaining_(0), mode_(mode), registered_(true) {
    children_.reserve(capacity);
    nodes_.reserve(capacity);
  }
  MultiWait(const MultiWait&) = delete;
  ~MultiWait() { unregister(); }

  /// Register on `c` now (gather's form only). RuntimeError if `c` is done and its loop is closed
  /// (Python's call_soon on a closed loop), or if more children come than the capacity given.
  void add_child(TaskStateBase* c) {
    if (!registered_ || nodes_.full() || (c->done() && !c->loop())) [[unlikely]]
      refuse_child(c);
    children_.push_back(c);
    ++remaining_;
    c->add_completion(&nodes_.add(this));
  }

  /// Ready at once when there is nothing to wait for, or when the children registered at
  /// gather() already ended the wait before it was awaited (then it does not yield, as awaiting
  /// a done future does not).
  bool await_ready() const noexcept { return children_.empty() || fired_; }
  void await_suspend(std::coroutine_handle<> h) {
    task_ = &require_task("asyncio.wait/gather");
    loop_ = task_->loop();
    suspended_ = true;
    if (timeout_) {
      timer_.owner = this;
      timer_.run_ = &MultiWait::timer_fired;
      loop_->add_timer(&timer_, loop_->time() + *timeout_);
    }
    if (!registered_)
      for (TaskStateBase* c : children_) c->add_completion(&nodes_.add(this));
    task_->suspend_on(this, h);
  }
  void await_resume() {
    unregister();
    if (!suspended_) return;
    if (cancelled_) task_->throw_cancelled();
    task_->check_cancel();
  }

  bool cancel() noexcept override {
    if (fired_) return false;
    if (mode_ == Mode::Gather || mode_ == Mode::GatherAll) {
      // Python's _GatheringFuture.cancel(): cancel the children, finish when they have.
      bool any = false;
      std::string msg = task_->cancel_message();
      for (auto* c : children_)
        if (c->cancel(msg)) any = true;
      if (any) cancel_requested_ = true;
      return any;
    }
    unregister();
    cancelled_ = true;
    fired_ = true;
    task_->wake();
    return true;
  }

  void describe(std::string& out, double now) const override {
    std::size_t pending = 0;
    for (const TaskStateBase* c : children_) pending += c->done() ? 0 : 1;
    const char* what = mode_ == Mode::Gather || mode_ == Mode::GatherAll ? "gather"
                       : mode_ == Mode::FirstCompleted && children_.size() == 1 && timeout_ ? "wait_for"
                                                                                           : "wait";
    out += std::string(what) + ", " + std::to_string(pending) + " of " + std::to_string(children_.size()) +
           " pending";
    if (timer_.in_heap()) {
      char buf[48];
      std::snprintf(buf, sizeof buf, ", %.3f s left", std::max(0.0, timer_.when_ - now));
      out += buf;
    }
  }
  bool awaits(const TaskStateBase* t) const noexcept override {
    for (const TaskStateBase* c : children_)
      if (c == t) return true;
    return false;
  }

  const std::vector<TaskStateBase*>& children() const noexcept { return children_; }
  bool timed_out() const noexcept { return timed_out_; }
  bool cancel_requested() const noexcept { return cancel_requested_; }
  /// Gather: the child whose exception or cancellation ended the wait (null if none).
  TaskStateBase* first_error() const noexcept { return first_error_; }

 private:
  /// A child's completion node: the owner in the node's word, the child found by the node's
  /// index (nodes_[i] belongs to children_[i]), so a gather costs 40 bytes per child here.
  struct Node : CompletionNode {
    explicit Node(MultiWait* o) noexcept {
      run_ = &MultiWait::child_done;
      settle_ = &MultiWait::settle;
      word_ = reinterpret_cast<std::uintptr_t>(o);
    }
    MultiWait* owner() const noexcept { return reinterpret_cast<MultiWait*>(static_cast<std::uintptr_t>(word_)); }
    TaskStateBase* child() const noexcept {
      const MultiWait* w = owner();
      return w->children_[static_cast<std::size_t>(this - w->nodes_.begin())];
    }
  };
  /// The nodes, allocated once and never moved while linked (a vector's emplace_back would not
  /// inline on gather's per-child path).
  class Nodes {
   public:
    Nodes() = default;
    Nodes(const Nodes&) = delete;
    ~Nodes() {
      if (p_) std::allocator<Node>().deallocate(p_, cap_);
    }
    void reserve(std::size_t cap) {
      if (cap == 0) return;
      p_ = std::allocator<Node>().allocate(cap);
      cap_ = cap;
      advise_huge(p_, cap * sizeof(Node));
    }
    bool full() const noexcept { return n_ == cap_; }
    Node& add(MultiWait* owner) noexcept { return *::new (static_cast<void*>(p_ + n_++)) Node(owner); }
    Node* begin() const noexcept { return p_; }
    Node* end() const noexcept { return p_ + n_; }

   private:
    Node* p_ = nullptr;
    std::size_t n_ = 0;
    std::size_t cap_ = 0;
  };
  static_assert(std::is_trivially_destructible_v<Node>);

  [[noreturn, gnu::noinline, gnu::cold]] void refuse_child(TaskStateBase* c) const {
    if (c->done() && !c->loop()) throw RuntimeError("Event loop is closed");
    throw RuntimeError("asyncio.gather: more awaitables than the range's size announced");
  }
  struct Timer : TimerNode {
    MultiWait* owner = nullptr;
  };

  static void child_done(Runnable* r, bool discard) {
    if (discard) return;
    auto* n = static_cast<Node*>(r);
    n->owner()->on_child_done(n->child());
  }
  /// At the child's finish: a completion that can neither fire the wait nor be the last one
  /// (Python's done callback would only count it) is counted now, without its loop hop. The
  /// one that fires still takes the hop, so the waiter resumes on the same iteration as in
  /// asyncio.
  static bool settle(CompletionNode* cn, const TaskStateBase* finished) noexcept {
    MultiWait* w = static_cast<Node*>(cn)->owner();
    if (w->remaining_ <= 1 || w->would_fire(finished)) return false;
    --w->remaining_;
    return true;
  }
  /// Whether the completion of `c` (not the last) ends the wait in this mode.
  bool would_fire(const TaskStateBase* c) const noexcept {
    if (fired_) return false;
    const bool failed = c->state_ == TaskStateBase::State::Failed;
    switch (mode_) {
      case Mode::Gather:
        return failed || c->cancelled();
      case Mode::FirstCompleted:
        return true;
      case Mode::FirstException:
        return failed;
      default:
        return false;
    }
  }
  static void timer_fired(Runnable* r, bool discard) {
    if (discard) return;
    auto* self = static_cast<Timer*>(r)->owner;
    if (self->fired_) return;
    self->timed_out_ = true;
    self->fire();
  }
  void on_child_done(TaskStateBase* c) {
    --remaining_;
    if (fired_) return;
    if (would_fire(c)) {
      if (mode_ == Mode::Gather) first_error_ = c;
      fire();
      return;
    }
    if (remaining_ == 0) fire();
  }
  void fire() {
    fired_ = true;
    if (timer_.in_heap()) loop_->remove_timer(&timer_);
    if (task_) task_->wake();  // (a gather not awaited yet: await_ready sees fired_)
  }
  void unregister() noexcept {
    for (auto& n : nodes_) n.unlink();
    if (timer_.in_heap()) loop_->remove_timer(&timer_);
    timer_.unlink();
  }

  std::vector<TaskStateBase*> children_;
  Nodes nodes_;
  Timer timer_;
  TaskStateBase* task_ = nullptr;
  EventLoop* loop_ = nullptr;
  TaskStateBase* first_error_ = nullptr;
  std::size_t remaining_;
  Mode mode_;
  std::optional<double> timeout_;
  bool registered_ = false;  // children registered before the await (gather's form)
  bool suspended_ = false;
  bool fired_ = false;
  bool cancelled_ = false;
  bool cancel_requested_ = false;
  bool timed_out_ = false;
};

}  // namespace asyncio::detail
