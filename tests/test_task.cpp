// Task<T>: lazy, inline await with symmetric transfer, every T, exceptions, constant stack.
#include <asyncio/asyncio.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {
asyncio::Task<int> one() { co_return 1; }
asyncio::Task<int> sum_of_million() {
  int s = 0;
  for (int i = 0; i < 1000000; ++i) {
    int v = co_await one();
    s += v;
  }
  co_return s;
}
asyncio::Task<int> recurse(int n) {
  if (n == 0) co_return 0;
  int r = co_await recurse(n - 1);
  co_return r + 1;
}
asyncio::Task<std::unique_ptr<int>> make_unique_value() { co_return std::make_unique<int>(7); }
int global_value = 5;
asyncio::Task<int&> ref_to_global() { co_return global_value; }
asyncio::Task<> do_nothing() { co_return; }
asyncio::Task<int> throws() {
  throw std::runtime_error("boom");
  co_return 0;
}
}  // namespace

TEST_CASE("a million synchronously completing awaits in a loop use constant stack") {
  CHECK(asyncio::run(sum_of_million()) == 1000000);
}

TEST_CASE("a million nested awaits (recursion depth 1M) use constant stack") {
  CHECK(asyncio::run(recurse(1000000)) == 1000000);
}

TEST_CASE("Task is lazy: nothing runs until awaited") {
  bool ran = false;
  auto body = [&]() -> asyncio::Task<> {
    ran = true;
    co_return;
  };
  {
    auto t = body();
    CHECK_FALSE(ran);
  }  // destroyed without running: frame freed, body never ran
  CHECK_FALSE(ran);
  asyncio::run(body());
  CHECK(ran);
}

TEST_CASE("Task<T> carries values, references, move-only values and void") {
  auto main = []() -> asyncio::Task<> {
    auto p = co_await make_unique_value();
    REQUIRE(p);
    CHECK(*p == 7);
    int& r = co_await ref_to_global();
    CHECK(&r == &global_value);
    co_await do_nothing();
  };
  asyncio::run(main());
}

TEST_CASE("an exception propagates to the awaiter") {
  auto main = []() -> asyncio::Task<std::string> {
    try {
      co_await throws();
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "not thrown";
  };
  CHECK(asyncio::run(main()) == "boom");
}

TEST_CASE("awaiting a moved-from or already awaited Task is a clear RuntimeError") {
  auto main = []() -> asyncio::Task<int> {
    auto t = one();
    auto t2 = std::move(t);
    int caught = 0;
    try {
      co_await t;
    } catch (const asyncio::RuntimeError& e) {
      CHECK(std::string(e.what()).find("empty asyncio::Task") != std::string::npos);
      ++caught;
    }
    int v = co_await t2;
    CHECK(v == 1);
    try {
      co_await t2;  // awaited at most once
    } catch (const asyncio::RuntimeError&) {
      ++caught;
    }
    co_return caught;
  };
  CHECK(asyncio::run(main()) == 2);
}

TEST_CASE("Task is move-only and reports validity") {
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<asyncio::Task<int>>);
  STATIC_REQUIRE(std::is_move_constructible_v<asyncio::Task<int>>);
  auto t = one();
  CHECK(t.valid());
  auto u = std::move(t);
  CHECK_FALSE(t.valid());
  CHECK(u.valid());
}

TEST_CASE("the frame pool: past the first chunks it maps huge chunks; blocks are distinct, writable and reused") {
  using asyncio::detail::frame_alloc;
  using asyncio::detail::frame_free;
  constexpr std::size_t n = 60000, sz = 144;  // ~8.6 MB: several 2 MiB chunks after the small ones
  std::vector<void*> blocks(n);
  for (auto& b : blocks) {
    b = frame_alloc(sz);
    std::memset(b, 0xab, sz);
  }
  std::vector<void*> sorted = blocks;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  for (std::size_t i = 1; i < n; ++i)  // no two blocks overlap
    if (static_cast<char*>(sorted[i - 1]) + sz > static_cast<char*>(sorted[i])) FAIL("overlapping blocks");
  for (auto* b : blocks) frame_free(b, sz);
  std::vector<void*> again(n);
  for (auto& b : again) b = frame_alloc(sz);
#if !ASYNCIO_SANITIZED
  std::sort(again.begin(), again.end());
  CHECK(again == sorted);  // every block came back from the free list, none newly carved
#endif
  for (auto* b : again) frame_free(b, sz);
}

#if !ASYNCIO_SANITIZED
TEST_CASE("the frame pool: an exiting thread hands its free blocks on, and a new thread adopts them") {
  using asyncio::detail::frame_alloc;
  using asyncio::detail::frame_free;
  constexpr std::size_t n = 5000, sz = 1000;  // a size class nothing else here uses
  std::vector<void*> freed(n);
  std::thread t1([&] {
    for (auto& b : freed) b = frame_alloc(sz);
    for (auto* b : freed) frame_free(b, sz);
  });
  t1.join();  // its free list of this class is now an orphan
  std::vector<void*> got;
  bool all_back = false;
  std::thread t2([&] {
    // A fresh thread's first allocation of the class adopts an orphaned list; every block of
    // t1's comes back before any new one is carved (other orphans of the class may come too).
    std::set<void*> want(freed.begin(), freed.end());
    while (!want.empty() && got.size() < 3 * n) {
      got.push_back(frame_alloc(sz));
      want.erase(got.back());
    }
    all_back = want.empty();
    for (auto* b : got) frame_free(b, sz);
  });
  t2.join();
  CHECK(all_back);
  CHECK(got.size() >= n);
}
#endif

TEST_CASE("the frame pool: frames made on one thread and freed on another are safe and reused") {
  constexpr int n = 30000;
  std::vector<asyncio::Task<int>> made;
  std::thread maker([&] {
    for (int i = 0; i < n; ++i) made.push_back(one());
  });
  maker.join();
  std::thread freer([&] { made.clear(); });  // frees into the freeing thread's pool, handed on at exit
  freer.join();
  int total = 0;
  for (int i = 0; i < 1000; ++i) total += asyncio::run(one());
  CHECK(total == 1000);
}
