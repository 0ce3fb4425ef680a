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
// create_task and run_until_complete need TaskHandle and are defined in detail/tasks_core.hpp,
// included here. Two members build on higher layers and are defined there: create_future() in
// futures.hpp and run_in_executor() in threads.hpp (asyncio.hpp includes both).
#pragma once

#include "detail/event_loop.hpp"  // EventLoop, Handle, TimerHandle, ExceptionContext, Seconds
#include "detail/loop_impl.hpp"   // their bodies; get_running_loop, get_event_loop, ...
#include "detail/tasks_core.hpp"  // TaskHandle: EventLoop::create_task, run_until_complete
