// asyncio/tasks.hpp — tasks and the combinators (Python's tasks.py).
//
// A task is a coroutine scheduled on the loop. The loop owns running tasks: dropping every
// TaskHandle detaches the task, it never cancels or destroys it (unlike Python, where an
// unreferenced task may be garbage-collected). Scheduling order, cancellation and the number of
// loop iterations each step takes follow CPython 3.11.
//
// TaskHandle, create_task and the combinators live in detail/tasks_core.hpp (layer 4, beside
// events.hpp, so the loop and futures, locks and queues can build on them); shield() and
// as_completed() build on Future and Queue and live in detail/shield.hpp (layer 5). This header
// is both.
#pragma once

#include "detail/tasks_core.hpp"
#include "detail/shield.hpp"  // shield(), as_completed()
