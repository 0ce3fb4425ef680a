// asyncio/asyncio.hpp — everything but http.hpp. Python's asyncio for C++20.
#pragma once

#include "exceptions.hpp"
#include "task.hpp"
#include "events.hpp"
#include "tasks.hpp"
#include "runners.hpp"
#include "contexts.hpp"
#include "generators.hpp"
#include "locks.hpp"
#include "queues.hpp"
#include "timeouts.hpp"
#include "taskgroups.hpp"
#include "futures.hpp"
#include "testing.hpp"
#include "threads.hpp"
#include "streams.hpp"
#include "subprocess.hpp"
