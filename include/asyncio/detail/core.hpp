// The runtime's building blocks: timer nodes and their heap, waiters, the task state every
// scheduled coroutine carries, the thread-local "current task / running loop" pointers, and
// where a coroutine was defined (debug mode's never-awaited report).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../exceptions.hpp"
#include "frame_pool.hpp"
#include "intrusive.hpp"
#include "outcome.hpp"

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

class TaskStateBase;

inline thread_local TaskStateBase* tl_current_task = nullptr;
inline thread_local EventLoop* tl_running_loop = nullptr;
/// Debug mode only: set by the loop around each callback so that a task's step says it is one
/// (and names itself) for the slow-callback report.
struct DebugStepProbe {
  std::string name;
  bool is_task = false;
};
inline thread_local DebugStepProbe* tl_debug_step_probe = nullptr;

/// Where a coroutine was defined (debug mode records it for the never-awaited report).
struct CoroOrigin {
  const char* file;
  unsigned line;
  const char* function;
};
/// True while a debug-mode loop runs on this thread: new coroutine frames record their origin.
inline thread_local bool tl_track_origins = false;
/// Set by the event loop module. Debug mode keeps a side table promise -> origin (the promise
/// itself carries nothing, so frames stay small outside debug mode): `track` records,
/// `forget` drops, `origin_of` looks up; `never_awaited` reports.
struct OriginHooks {
  const CoroOrigin* (*track)(const void* promise, const char* file, unsigned line, const char* fn) = nullptr;
  void (*forget)(const void* promise) = nullptr;
  const CoroOrigin* (*origin_of)(const void* promise) = nullptr;
  void (*never_awaited)(void* frame, const CoroOrigin* origin) = nullptr;
};
inline OriginHooks g_origin_hooks;
/// How many live frames the side table holds (frames ask it only while this is non-zero, so a
/// promise needs no "tracked" flag of its own).
inline std::atomic<std::size_t> g_tracked_frames{0};

/// Something a task is suspended on. `cancel()` is Python's `fut_waiter.cancel()`: it withdraws
/// the registration and schedules the task to resume with CancelledError, returning true, or
/// returns false when the waiter already completed (the task's wake-up is already scheduled).
struct Waiter {
  virtual bool cancel() noexcept = 0;
  /// For asyncio/graph.hpp (capture_call_graph, ps, pstree), called only when someone asks:
  /// what the task waits on, in a few words ("sleep, 1.250 s left"); `now` is the loop's time.
  virtual void describe(std::string& out, double now) const { (void)now; out += "?"; }
  /// Whether this waiter waits for `t` to finish (await on a task, gather, wait, a TaskGroup's
  /// exit): how graph.hpp finds who a task is awaited by.
  virtual bool awaits(const TaskStateBase* t) const noexcept { (void)t; return false; }

 protected:
  ~Waiter() = default;
};

/// ", position k of n" for a node queued in `l` (graph.hpp's descriptions of queued waiters).
inline void describe_position(std::string& out, const ListNode* node, const List& l) {
  std::size_t k = 0, n = 0;
  for (const ListNode* p = l.sentinel()->next_; p != l.sentinel(); p = p->next_) {
    ++n;
    if (p == node) k = n;
  }
  if (k) out += ", position " + std::to_string(k) + " of " + std::to_string(n);
}

/// A deadline in the loop's timer heap. When due it moves to the ready queue and runs there.
struct TimerNode : Runnable {
  static constexpr std::uint32_t npos = static_cast<std::uint32_t>(-1);
  double when_ = 0;
  std::uint64_t seq_ = 0;
  std::uint32_t heap_index_ = npos;
  std::uint32_t flags_ = 0;  // free for the owner (keeps small awaiters small)
  bool in_heap() const noexcept { return heap_index_ != npos; }
};

/// Binary min-heap ordered by (deadline, scheduling order) with the index kept in each node, so
/// cancelling a timer is an O(log n) removal, never a tombstone.
class TimerHeap {
 public:
  bool empty() const noexcept { return h_.empty(); }
  std::size_t size() const noexcept { return h_.size(); }
  TimerNode* top() const noexcept { return h_.front(); }

  void push(TimerNode* n) {
    n->heap_index_ = static_cast<std::uint32_t>(h_.size());
    h_.push_back(n);
    sift_up(n->heap_index_);
  }
  void remove(TimerNode* n) noexcept {
    if (n->heap_index_ == TimerNode::npos) return;
    std::size_t i = n->heap_index_;
    n->heap_index_ = TimerNode::npos;
    TimerNode* last = h_.back();
    h_.pop_back();
    if (last == n) return;
    h_[i] = last;
    last->heap_index_ = static_cast<std::uint32_t>(i);
    if (i > 0 && less(last, h_[(i - 1) / 2]))
      sift_up(i);
    else
      sift_down(i);
  }
  TimerNode* pop() noexcept {
    TimerNode* n = h_.front();
    remove(n);
    return n;
  }
  std::vector<TimerNode*> take_all() noexcept {
    for (auto* n : h_) n->heap_index_ = TimerNode::npos;
    return std::move(h_);
  }

 private:
  static bool less(const TimerNode* a, const TimerNode* b) noexcept {
    return a->when_ < b->when_ || (a->when_ == b->when_ && a->seq_ < b->seq_);
  }
  void sift_up(std::size_t i) noexcept {
    TimerNode* n = h_[i];
    while (i > 0) {
      std::size_t p = (i - 1) / 2;
      if (!less(n, h_[p])) break;
      h_[i] = h_[p];
      h_[i]->heap_index_ = static_cast<std::uint32_t>(i);
      i = p;
    }
    h_[i] = n;
    n->heap_index_ = static_cast<std::uint32_t>(i);
  }
  void sift_down(std::size_t i) noexcept {
    TimerNode* n = h_[i];
    std::size_t sz = h_.size();
    for (;;) {
      std::size_t c = 2 * i + 1;
      if (c >= sz) break;
      if (c + 1 < sz && less(h_[c + 1], h_[c])) ++c;
      if (!less(h_[c], n)) break;
      h_[i] = h_[c];
      h_[i]->heap_index_ = static_cast<std::uint32_t>(i);
      i = c;
    }
    h_[i] = n;
    n->heap_index_ = static_cast<std::uint32_t>(i);
  }
  std::vector<TimerNode*> h_;
};

/// An entry in a task's (or future's) done list. An awaiter's node (run_ null) wakes the task
/// it names directly when the task finishes; any other node goes to the ready queue itself and
/// runs there (a done callback, scheduled with call_soon as Python does). 40 bytes: gather
/// keeps one per child.
struct CompletionNode : Runnable {
  /// Optional, callback nodes only: called when the task finishes, before the node would be
  /// scheduled. Returning true means the completion was fully accounted for on the spot because
  /// running it later could have no visible effect (a gather child that is neither the last nor
  /// a failure only counts itself), so the ready-queue hop is skipped; false schedules the node.
  /// `finished` is the task whose done list holds the node.
  bool (*settle_)(CompletionNode*, const TaskStateBase* finished) noexcept = nullptr;
  /// An awaiter's node: the task to wake. A callback node: its own word, either a user
  /// callback's id (what remove_done_callback takes; ids start at 1) or, for an internal node
  /// that sets settle_ (which keeps remove_done_callback off it), its owner.
  std::uint64_t word_ = 0;

  void set_waiter(TaskStateBase* t) noexcept {
    run_ = nullptr;
    word_ = reinterpret_cast<std::uintptr_t>(t);
  }
  bool is_waiter() const noexcept { return run_ == nullptr; }
  TaskStateBase* waiter() const noexcept { return reinterpret_cast<TaskStateBase*>(static_cast<std::uintptr_t>(word_)); }
  bool is_user_callback(std::uint64_t id) const noexcept { return id != 0 && run_ && !settle_ && word_ == id; }
};
static_assert(sizeof(CompletionNode) == 40);

/// remove_done_callback for tasks and futures: unlink and free the user callback `id` from a
/// done list (awaiters' and internal nodes are never matched). Returns 0 or 1.
inline std::size_t remove_callback(List& lst, std::uint64_t id) noexcept {
  for (auto* n = lst.sentinel()->next_; n != lst.sentinel(); n = n->next_) {
    auto* c = static_cast<CompletionNode*>(n);
    if (c->is_user_callback(id)) {
      c->unlink();
      c->run_(c, true);  // discard: frees the callback without running it
      return 1;
    }
  }
  return 0;
}

/// State shared by every scheduled task (Python's Task object minus the coroutine's result).
/// Reached by users through TaskPtr / TaskHandle<T>; the methods above the line are public API.
struct GraphAccess;  // asyncio/graph.hpp's reader of tasks, frames and waiters

class TaskStateBase : public Runnable {
  friend struct GraphAccess;

 public:
  enum class State : std::uint8_t { Pending, Finished, Failed, Cancelled };

  bool done() const noexcept { return state_ != State::Pending; }
  bool cancelled() const noexcept { return state_ == State::Cancelled; }
  /// Request cancellation (Python's Task.cancel): false if already done.
  bool cancel(std::string_view msg = {});
  /// Number of pending cancellation requests (Python 3.11's Task.cancelling(); it stops counting
  /// at INT_MAX requests instead of overflowing).
  int cancelling() const noexcept { return extras_ ? extras_->num_cancels : 0; }
  /// Decrement the pending cancellation count and return the new value.
  int uncancel() noexcept {
    if (!extras_) return 0;
    if (extras_->num_cancels > 0) --extras_->num_cancels;
    return extras_->num_cancels;
  }
  std::string get_name() const;
  void set_name(std::string name);
  /// The loop the task runs on; RuntimeError once that loop was destroyed.
  EventLoop& get_loop() const;
  /// Python's Task.exception(): the exception or null; throws CancelledError / InvalidStateError.
  std::exception_ptr exception();
  /// The stored exception of a failed task (null otherwise); does not mark it retrieved.
  std::exception_ptr error_ptr() const noexcept {
    return state_ == State::Failed ? extras_->error : nullptr;
  }
  /// The exception a failed or cancelled task ended with (null otherwise).
  const std::exception_ptr& stored_exception() const noexcept {
    static const std::exception_ptr none;
    return state_ == State::Failed || state_ == State::Cancelled ? extras_->error : none;
  }

  // ---------------------------------------------------------------- machinery below
  /// The task's node in its loop's list of live tasks (owner_of() maps it back).
  static TaskStateBase* owner_of(const ListNode* link) noexcept;
  /// What only some tasks need, allocated on first use: a name, a cancellation (count and
  /// message) and the exception a failed or cancelled task ended with.
  struct Extras {
    std::string name;
    std::string cancel_msg;
    std::exception_ptr error;
    int num_cancels = 0;
    bool has_name = false;
  };

  /// Built in place in front of the task's coroutine frame, which starts `prefix_bytes` later.
  /// `run` is TaskState<T>::run: a step when the task is pending, its destruction once done.
  TaskStateBase(EventLoop* loop, std::uint16_t prefix_bytes, Runnable::Fn run) noexcept;
  TaskStateBase(const TaskStateBase&) = delete;
  TaskStateBase& operator=(const TaskStateBase&) = delete;

  void add_ref() noexcept { ++refs_; }
  void release() noexcept;

  /// The loop this task belongs to: the running one (the common case, no lookup), else found
  /// by id in the registry of live loops (null once it was destroyed).
  EventLoop* loop() const noexcept;
  /// Schedule this task's next step (it is suspended and the thing it waited on completed).
  void wake() noexcept;
  /// Called from a leaf awaitable's await_suspend: the task now waits on `w`, resuming at `h`.
  void suspend_on(Waiter* w, std::coroutine_handle<> h) noexcept;
  /// sleep(0): go to the back of the ready queue.
  void yield_now(std::coroutine_handle<> h) noexcept;
  /// Called at resumption: throws CancelledError if a cancellation is pending (_must_cancel).
  void check_cancel() {
    if (must_cancel_) {
      must_cancel_ = false;
      throw_cancelled();
    }
  }
  /// Throw the CancelledError a cancellation delivers. It consumes any pending request as
  /// well (Python's __step clears _must_cancel when it throws the error in): a task cancelled
  /// twice before it resumes sees one CancelledError, not a second one at its next await.
  [[noreturn]] void throw_cancelled() {
    must_cancel_ = false;
    throw CancelledError(cancel_message());
  }
  std::string cancel_message() const { return extras_ ? extras_->cancel_msg : std::string(); }
  void mark_retrieved() noexcept { retrieved_ = true; }
  /// Destroy the frame of a task still pending when its loop closes.
  void destroy_pending();
  /// Add a done-list entry; if already done it is scheduled at once (as Python does).
  void add_completion(CompletionNode* n) noexcept;

 protected:
  ~TaskStateBase() = default;  // TaskState<T>::destroy() ends the object (there is no vtable)
  /// One step: resume the task where it waits. Returns true when its coroutine finished (the
  /// caller, which knows T, collects the result and then calls finish()).
  static bool step(TaskStateBase* t);
  void finish();  // after the state is set: unlink, fire done list, drop the loop's reference
  /// End the task as cancelled with CancelledError(cancel message).
  void set_cancelled_result();
  void set_exception(std::exception_ptr e, State st) noexcept;
  /// The coroutine frame behind this state (valid while frame_live_).
  void* frame_address() const noexcept {
    return const_cast<char*>(reinterpret_cast<const char*>(this)) + prefix_bytes_;
  }
  std::coroutine_handle<> frame() const noexcept { return std::coroutine_handle<>::from_address(frame_address()); }
  /// Destroy the coroutine frame; its memory stays with this state until TaskState::destroy.
  /// (Defined in task_state.hpp: it walks the Task promise chain, task.hpp.)
  void destroy_frame() noexcept;
  Extras& extras() {
    if (!extras_) extras_ = std::make_unique<Extras>();
    return *extras_;
  }

 public:
  // One pool block holds this state and, prefix_bytes_ after it, the coroutine frame (the
  // frame's promise reserves the room when the coroutine is called; see TaskPromise). 96 bytes:
  // with the 16-byte Task<void> promise, a task sleeping in `co_await sleep(d)` is one 224-byte block.
  std::coroutine_handle<> resume_point_;
  Waiter* waiter_ = nullptr;
  List done_list_;
  ListNode all_link_;
  std::unique_ptr<Extras> extras_;
  std::uint32_t id_;       // the N of "Task-N" (wraps after 2^32 tasks)
  std::uint32_t loop_id_;  // finds the loop (ids past 2^32 would alias: 4 billion loops)
  std::uint32_t refs_ = 1;  // the loop's reference while pending
  // Read and written by the frame's operator delete (TaskPromise), which finds them at a fixed
  // offset in the block: operator new writes 0 to prefix_bytes_ ("no task state in front of
  // this frame") and create_task() builds the state, whose prefix_bytes_ is never 0; delete then
  // leaves the frame's size in 16-byte granules (255: larger, not pooled) for destroy() to free
  // the whole block with.
  std::uint16_t prefix_bytes_;
  std::uint8_t frame_granules_ = 0;
  State state_ : 2 = State::Pending;
  bool started_ : 1 = false;
  bool must_cancel_ : 1 = false;
  bool retrieved_ : 1 = false;
  bool frame_live_ : 1 = true;
  bool in_cancel_ : 1 = false;  // cancel() is running (tasks awaiting each other: see cancel())
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
inline constexpr std::size_t kTaskPrefixOffset = offsetof(TaskStateBase, prefix_bytes_);
inline constexpr std::size_t kTaskGranulesOffset = offsetof(TaskStateBase, frame_granules_);
#pragma GCC diagnostic pop

/// TaskState<T>'s data (its size is needed where the coroutine frame is allocated): just the
/// base. A finished task's value is not kept here but where its frame was (see
/// TaskState::collect_result), so every Task<T> has the same 96-byte prefix.
template <class T>
class TaskStateLayout : public TaskStateBase {
 public:
  using stored_type = typename Stored<T>::type;
  static_assert(alignof(stored_type) <= 16, "asyncio::Task<T>: T may not be over-aligned (alignof(T) > 16)");
  using TaskStateBase::TaskStateBase;

 protected:
  ~TaskStateLayout() = default;
};

/// Bytes reserved in front of every Task<T> frame for the state create_task() builds there.
template <class T>
inline constexpr std::size_t task_prefix_bytes =
    (sizeof(TaskStateLayout<T>) + alignof(std::max_align_t) - 1) & ~(alignof(std::max_align_t) - 1);

/// A Task frame's allocation: the block starts task_prefix_bytes<T> before the frame, and the
/// marker (a zero prefix_bytes_) says "no task state here" until create_task() builds one.
template <std::size_t P>
inline void* prefixed_frame_alloc(std::size_t n) {
  static_assert(P > kTaskGranulesOffset && P < 65536);
  char* block = static_cast<char*>(frame_alloc(P + n));
  const std::uint16_t none = 0;
  std::memcpy(block + kTaskPrefixOffset, &none, sizeof none);
  // (Telling GCC 12 the frame is 16-aligned keeps it inlining the coroutine's start into the
  // call: without it a child await costs ~25 more instructions.)
  return __builtin_assume_aligned(block + P, 16);
}
inline void keep_task_block(char* block, std::size_t frame_bytes) noexcept {
  std::size_t g = (frame_bytes + 15) / 16;
  block[kTaskGranulesOffset] = static_cast<char>(g < 255 ? g : 255);
}
/// A Task frame's deallocation: frees the block unless a task state lives in front of the frame
/// (then the state frees it later, and learns the frame's size here).
template <std::size_t P>
inline void prefixed_frame_free(void* frame, std::size_t n) noexcept {
  char* block = static_cast<char*>(frame) - P;
  std::uint16_t prefix;
  std::memcpy(&prefix, block + kTaskPrefixOffset, sizeof prefix);
  if (prefix != 0) [[unlikely]]
    keep_task_block(block, n);
  else
    frame_free(block, P + n);
}

/// The running task on this thread, or throws RuntimeError naming the operation.
inline TaskStateBase& require_task(const char* what) {
  if (!tl_current_task)
    throw RuntimeError(std::string(what) + " must be awaited inside a running asyncio task");
  return *tl_current_task;
}

}  // namespace asyncio::detail
