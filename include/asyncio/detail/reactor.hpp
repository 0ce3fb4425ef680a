// The reactor's leaf awaitable: a task waiting for one direction of an edge-triggered IoHandle
// after its syscall returned EAGAIN. One waiter per direction (the handle's reader / writer
// slot); the slot is cleared when it fires, when the task is cancelled, and when the frame dies.
#pragma once

#include <coroutine>
#include <utility>

#include "loop_impl.hpp"
#include "core.hpp"

namespace asyncio::detail {

class IoWait : public Waiter, public IoSlot {
 public:
  IoWait(EventLoop* loop, IoHandle* h, bool write) noexcept : IoWait(loop, h, write, &IoWait::fire) {}
  IoWait(IoWait&& o) noexcept : IoWait(o.loop_, o.h_, o.write_) {}
  IoWait(const IoWait&) = delete;
  ~IoWait() { withdraw(); }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    task_ = &require_task("stream I/O");
    if (slot()) throw RuntimeError(write_ ? "another task is already waiting to write to this stream"
                                          : "another task is already waiting to read from this stream");
    park();
    task_->suspend_on(this, h);
  }
  void await_resume() {
    if (cancelled_) task_->throw_cancelled();
    task_->check_cancel();
  }
  void describe(std::string& out, double) const override {
    out += (write_ ? "stream drain/write, fd " : "stream read, fd ") + std::to_string(h_->fd);
  }
  bool cancel() noexcept override {
    if (!waiting_) return false;
    withdraw();
    cancelled_ = true;
    task_->wake();
    return true;
  }

 protected:
  /// For waiters that do work of their own when the edge comes (`ready` is called with the
  /// slot already cleared; it calls arrived(), then either wakes the task or park()s again).
  IoWait(EventLoop* loop, IoHandle* h, bool write, void (*ready_fn)(IoSlot*) noexcept) noexcept
      : loop_(loop), h_(h), write_(write) {
    ready = ready_fn;
  }
  /// Take the handle's slot for this direction until the next edge.
  void park() noexcept {
    slot() = this;
    waiting_ = true;
    // Only a kernel fd is I/O the loop must wait for (virtual time does not jump past it); a
    // stream fed by the program (StreamReader(limit), no fd) is woken by another task.
    counted_ = h_->fd >= 0;
    if (counted_) loop_->io_wait_begin();
  }
  /// The edge came (the loop, or the stream's close, cleared the slot).
  void arrived() noexcept {
    waiting_ = false;
    if (std::exchange(counted_, false)) loop_->io_wait_end();
  }
  /// Give the slot up (no-op unless parked).
  void withdraw() noexcept {
    if (!waiting_) return;
    if (slot() == this) slot() = nullptr;
    arrived();
  }
  TaskStateBase* task_ = nullptr;

 private:
  IoSlot*& slot() noexcept { return write_ ? h_->writer : h_->reader; }
  static void fire(IoSlot* s) noexcept {
    auto* self = static_cast<IoWait*>(s);
    self->arrived();
    self->task_->wake();
  }
  EventLoop* loop_;
  IoHandle* h_;
  bool write_;
  bool waiting_ = false;
  bool counted_ = false;
  bool cancelled_ = false;
};

/// A task parked in a list until someone wakes the whole list (drain(), wait_closed(),
/// serve_forever()). Cancelling unlinks it.
struct ListWait final : Waiter, ListNode {
  TaskStateBase* task = nullptr;
  const char* what = "";  // the operation ("StreamWriter.drain()"), for describe()
  bool cancelled = false;
  void describe(std::string& out, double) const override { out += what; }
  bool cancel() noexcept override {
    if (!linked()) return false;
    unlink();
    cancelled = true;
    task->wake();
    return true;
  }
  ~ListWait() { unlink(); }
};
/// Awaits until `*ready` is true when checked, else parks in `list` until woken.
struct ListWaitAwaiter {
  List* list;
  bool ready;
  ListWait w{};
  ListWaitAwaiter(List* l, bool r, const char* what) noexcept : list(l), ready(r) { w.what = what; }
  bool await_ready() const noexcept { return ready; }
  void await_suspend(std::coroutine_handle<> h) {
    w.task = &require_task(w.what);
    list->push_back(&w);
    w.task->suspend_on(&w, h);
  }
  void await_resume() {
    if (!w.task) return;
    if (w.cancelled) w.task->throw_cancelled();
    w.task->check_cancel();
  }
};
inline void wake_list(List& l) noexcept {
  while (auto* w = static_cast<ListWait*>(l.pop_front())) w->task->wake();
}

/// Fire whatever waits on `h` (the stream was closed under it): waiters wake and retry.
inline void io_fire_all(IoHandle& h) noexcept {
  if (IoSlot* s = std::exchange(h.reader, nullptr)) s->ready(s);
  if (IoSlot* s = std::exchange(h.writer, nullptr)) s->ready(s);
}

}  // namespace asyncio::detail
