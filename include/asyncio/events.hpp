// asyncio/events.hpp — the event loop (Python's events.py / base_events.py / selector_events.py).
//
// One loop per thread, never a process-global loop. Ready callbacks run FIFO, timers due at the
// same instant run in the order they were scheduled, and each iteration runs exactly the
// callbacks that were ready when it began, as CPython's _run_once does. I/O is epoll; deadlines
// feed epoll_wait's timeout. Only call_soon_threadsafe (and the executors built on it) may be
// called from another thread.
//
// The loop's public face (layer 4 of include/asyncio/detail/LAYERS): the EventLoop class is
// declared in detail/event_loop.hpp and defined in detail/loop_impl.hpp, below tasks; its
// run_in_executor() and the default ThreadPoolExecutor are in detail/thread_pool.hpp, its
// create_task() and run_until_complete() need TaskHandle and are in detail/tasks_core.hpp, all
// included here. One member builds on a higher layer and is defined there: create_future(), in
// futures.hpp (Future<T> is built on tasks; asyncio.hpp includes it).
#pragma once

#include "detail/event_loop.hpp"  // EventLoop, Handle, TimerHandle, ExceptionContext, Seconds
#include "detail/loop_impl.hpp"   // their bodies; get_running_loop, get_event_loop, ...
#include "detail/thread_pool.hpp"  // ThreadPoolExecutor: EventLoop::run_in_executor
#include "detail/tasks_core.hpp"  // TaskHandle: EventLoop::create_task, run_until_complete
