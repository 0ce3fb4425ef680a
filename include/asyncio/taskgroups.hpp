// asyncio/taskgroups.hpp — TaskGroup (Python's taskgroups.py, 3.13 behaviour).
//
//   co_await asyncio::async_with(asyncio::TaskGroup{}, [&](asyncio::TaskGroup& tg) -> asyncio::Task<> {
//     auto a = tg.create_task(fetch("a"));
//     auto b = tg.create_task(fetch("b"));
//   });  // both are done here
//
// Leaving the block waits for every task of the group (tasks may still be added while it
// waits). The first task that fails with an exception other than CancelledError cancels the
// other tasks and the body; when all are done an ExceptionGroup holding every such exception
// (and the body's own, if it failed) is thrown. A cancellation of the task running the group is
// not lost: it cancels the children and propagates as CancelledError. As in Python 3.13, the
// group balances its own cancel() of the parent with uncancel(), so it composes with timeout().
// A KeyboardInterrupt or SystemExit (from the body or a task) comes out bare, not in the group.
#pragma once

#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "detail/core.hpp"
#include "detail/ready.hpp"
#include "events.hpp"
#include "exceptions.hpp"
#include "task.hpp"
#include "tasks.hpp"

namespace asyncio {

class TaskGroup {
 public:
  TaskGroup() = default;
  /// Movable only before it is entered (async_with moves a temporary into its frame).
  TaskGroup(TaskGroup&&) noexcept {}
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup();

  /// Like asyncio::create_task (a Task, a callable and its arguments, or an awaitable; a
  /// trailing name for a Task) and the task joins the group. RuntimeError if the group was not
  /// entered, is finished, or is shutting down after a failure.
  template <class... A>
  auto create_task(A&&... args);

  /// Tasks of the group not finished yet.
  std::size_t size() const noexcept { return tasks_.size(); }

  // ------------------------------------------------ async context manager
  struct EnterAwaiter {
    TaskGroup* g;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    TaskGroup& await_resume() const noexcept { return *g; }
  };
  EnterAwaiter aenter();
  Task<bool> aexit(std::exception_ptr exc);

 private:
  friend struct detail::GraphAccess;  // graph.hpp: a member task is awaited by the group's parent
  struct Node;
  struct MemberLink : detail::ListNode {
    Node* owner;
  };
  struct Node final : detail::CompletionNode, detail::Pooled {
    TaskGroup* group;
    TaskPtr task;
    MemberLink member;
    static void run(detail::Runnable* r, bool discard);
  };
  /// aexit waiting for the last task (Python's _on_completed_fut).
  struct CompletedWaiter final : detail::Waiter {
    TaskGroup* g;
    detail::TaskStateBase* task = nullptr;
    bool waiting = false, cancelled = false;
    explicit CompletedWaiter(TaskGroup* gg) : g(gg) {}
    ~CompletedWaiter() {
      if (g->waiter_ == this) g->waiter_ = nullptr;
    }
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      task = &detail::require_task("TaskGroup");
      waiting = true;
      g->waiter_ = this;
      task->suspend_on(this, h);
    }
    void describe(std::string& out, double) const override {
      out += "TaskGroup, " + std::to_string(g->size()) + " tasks pending";
    }
    bool awaits(const detail::TaskStateBase* t) const noexcept override;
    bool cancel() noexcept override {
      if (!waiting) return false;
      waiting = false;
      cancelled = true;
      g->waiter_ = nullptr;
      task->wake();
      return true;
    }
    void set_result() noexcept {
      waiting = false;
      g->waiter_ = nullptr;
      task->wake();
    }
    void await_resume() {
      if (cancelled) task->throw_cancelled();
      task->check_cancel();
    }
  };

  std::string repr() const;
  void check_can_add() const;
  void track(detail::TaskStateBase* t);
  void on_task_done(Node* n);
  void abort();

  detail::List tasks_;
  std::vector<std::exception_ptr> errors_;
  std::exception_ptr base_error_;  // the first KeyboardInterrupt / SystemExit seen
  TaskPtr parent_;
  CompletedWaiter* waiter_ = nullptr;
  bool entered_ = false;
  bool exiting_ = false;
  bool aborting_ = false;
  bool parent_cancel_requested_ = false;
};

// ------------------------------------------------------------------ bodies

template <class... A>
auto TaskGroup::create_task(A&&... args) {
  check_can_add();
  auto h = asyncio::create_task(std::forward<A>(args)...);
  track(h.state_ptr());
  return h;
}

inline TaskGroup::~TaskGroup() {
  while (auto* l = static_cast<MemberLink*>(tasks_.pop_front())) {
    Node* n = l->owner;
    n->unlink();  // withdraw the done callback
    delete n;
  }
}

inline std::string TaskGroup::repr() const {
  std::string s = "<TaskGroup";
  if (!tasks_.empty()) s += " tasks=" + std::to_string(tasks_.size());
  if (!errors_.empty()) s += " errors=" + std::to_string(errors_.size());
  if (aborting_)
    s += " cancelling";
  else if (entered_)
    s += " entered";
  return s + ">";
}

inline void TaskGroup::check_can_add() const {
  if (!entered_) throw RuntimeError("TaskGroup " + repr() + " has not been entered");
  if (exiting_ && tasks_.empty()) throw RuntimeError("TaskGroup " + repr() + " is finished");
  if (aborting_) throw RuntimeError("TaskGroup " + repr() + " is shutting down");
}

inline void TaskGroup::track(detail::TaskStateBase* t) {
  auto* n = new Node;
  n->group = this;
  n->task = TaskPtr(t);
  n->member.owner = n;
  n->run_ = &Node::run;
  tasks_.push_back(&n->member);
  t->add_completion(n);  // a done callback (call_soon), as task.add_done_callback
}

inline bool TaskGroup::CompletedWaiter::awaits(const detail::TaskStateBase* t) const noexcept {
  for (auto* p = g->tasks_.sentinel()->next_; p != g->tasks_.sentinel(); p = p->next_)
    if (static_cast<MemberLink*>(p)->owner->task.get() == t) return true;
  return false;
}

inline void TaskGroup::Node::run(detail::Runnable* r, bool discard) {
  auto* n = static_cast<Node*>(static_cast<detail::CompletionNode*>(r));
  if (!discard) {
    n->group->on_task_done(n);
  } else {
    n->member.unlink();
  }
  delete n;
}

inline void TaskGroup::on_task_done(Node* n) {
  n->member.unlink();
  if (waiter_ && tasks_.empty()) waiter_->set_result();
  detail::TaskStateBase* t = n->task.get();
  if (t->cancelled()) return;
  std::exception_ptr exc = t->exception();
  if (!exc) return;
  errors_.push_back(exc);
  if (!base_error_ && detail::is_base_error(exc)) base_error_ = exc;
  if (parent_->done()) {
    parent_->get_loop().call_exception_handler(
        {"Task " + t->get_name() + " has errored out but its parent task " + parent_->get_name() +
             " is already completed",
         exc, t->get_name()});
    return;
  }
  if (!aborting_ && !parent_cancel_requested_) {
    abort();
    parent_cancel_requested_ = true;
    parent_->cancel();
  }
}

inline void TaskGroup::abort() {
  aborting_ = true;
  for (auto* l = tasks_.sentinel()->next_; l != tasks_.sentinel(); l = l->next_) {
    auto& t = static_cast<MemberLink*>(l)->owner->task;
    if (!t->done()) t->cancel();
  }
}

inline TaskGroup::EnterAwaiter TaskGroup::aenter() {
  if (entered_) throw RuntimeError("TaskGroup " + repr() + " has already been entered");
  get_running_loop();
  if (!detail::tl_current_task) throw RuntimeError("TaskGroup " + repr() + " cannot determine the parent task");
  parent_ = TaskPtr(detail::tl_current_task);
  entered_ = true;
  return EnterAwaiter{this};
}

inline Task<bool> TaskGroup::aexit(std::exception_ptr exc) {
  exiting_ = true;
  if (exc && !base_error_ && detail::is_base_error(exc)) base_error_ = exc;
  bool exc_is_cancel = detail::is_cancelled_error(exc);
  std::exception_ptr propagate = exc_is_cancel ? exc : nullptr;
  if (exc && !aborting_) abort();
  while (!tasks_.empty()) {
    std::exception_ptr got;
    {
      CompletedWaiter w(this);
      try {
        co_await w;
      } catch (const CancelledError&) {
        got = std::current_exception();
      }
    }
    if (got && !aborting_) {
      propagate = got;
      abort();
    }
  }
  if (parent_cancel_requested_) {
    // Balance our own cancel() of the parent; a cancellation from elsewhere still propagates.
    if (parent_->uncancel() == 0) propagate = nullptr;
  }
  // A KeyboardInterrupt / SystemExit (the body's or a child's) comes out bare, as in Python.
  if (base_error_) std::rethrow_exception(base_error_);
  if (propagate && errors_.empty()) std::rethrow_exception(propagate);
  if (exc && !exc_is_cancel) errors_.push_back(exc);
  if (!errors_.empty()) {
    if (parent_->cancelling()) {
      // Re-arm a pending outer cancellation so it is not lost behind the ExceptionGroup.
      parent_->uncancel();
      parent_->cancel();
    }
    std::vector<std::exception_ptr> errs = std::move(errors_);
    errors_.clear();
    throw ExceptionGroup("unhandled errors in a TaskGroup", std::move(errs));
  }
  co_return false;
}

}  // namespace asyncio
