// testing.hpp: virtual time seen from a program, and the introspection counters.
#include <asyncio/asyncio.hpp>

#include <cstdlib>

#include "catch.hpp"

TEST_CASE("under ASYNCIO_VIRTUAL_TIME=1, perf_counter and blocking_sleep follow virtual time") {
  ::setenv("ASYNCIO_VIRTUAL_TIME", "1", 1);
  double t0 = asyncio::testing::perf_counter();
  asyncio::testing::blocking_sleep(2.0);
  CHECK(asyncio::testing::perf_counter() - t0 == Approx(2.0));
  double t1 = asyncio::testing::perf_counter();
  // A loop created now is virtual without being asked to, and its jumps advance the clock.
  asyncio::run([]() -> asyncio::Task<> {
    CHECK(asyncio::get_running_loop().virtual_time());
    co_await asyncio::sleep(30);
  }());
  CHECK(asyncio::testing::perf_counter() - t1 == Approx(30.0));
  ::unsetenv("ASYNCIO_VIRTUAL_TIME");
  CHECK_FALSE(asyncio::testing::virtual_time_from_env());
}

TEST_CASE("timer and task counters see registrations come and go") {
  asyncio::run(
      []() -> asyncio::Task<> {
        auto& loop = asyncio::get_running_loop();
        CHECK(asyncio::testing::timer_count(loop) == 0);
        CHECK(asyncio::testing::pending_task_count(loop) == 1);
        auto t = asyncio::create_task(asyncio::sleep(5));
        co_await asyncio::sleep(0);
        CHECK(asyncio::testing::timer_count(loop) == 1);
        CHECK(asyncio::testing::pending_task_count(loop) == 2);
        t.cancel();
        co_await asyncio::sleep(0);
        CHECK(asyncio::testing::timer_count(loop) == 0);
        CHECK(asyncio::testing::pending_task_count(loop) == 1);
      }(),
      {.virtual_time = true});
}
