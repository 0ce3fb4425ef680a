// GCC 12 coroutine bugs met while building the library, each reduced to a few lines (README
// "GCC 12 and coroutines"). Every scenario is written twice: the direct form, which GCC 12.2
// gets wrong and which therefore only builds on other compilers, and the form the library and
// the tests use instead, which must give the same answer everywhere. What GCC 12.2 does with the
// direct form, seen on this project's machines:
//   1. a capturing lambda temporary in a co_await expression: the lambda is destroyed twice
//      (SIGSEGV at -O0 and -O2; ASan: bad-free);
//   2. a braced list of std::string in a co_await expression: "error: array used as
//      initializer" (the compiler rejects valid code);
//   3. a designated-initializer aggregate with non-trivial members in a co_await expression:
//      the same compile error. The library keeps its options aggregates trivially destructible
//      (SubprocessOptions) so that the natural call `co_await f(..., {.stdout = PIPE})` works.
#include <asyncio/asyncio.hpp>

#include <string>
#include <vector>

#include "catch.hpp"

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#define GCC12 1
#else
#define GCC12 0
#endif

namespace {
struct Opts {
  std::string name;
  std::vector<std::string> tags;
  int n = 0;
};
asyncio::Task<std::size_t> count(std::vector<std::string> v) { co_return v.size() + v[1].size(); }
asyncio::Task<std::size_t> use(Opts o) { co_return o.name.size() + o.tags.size() + static_cast<std::size_t>(o.n); }

asyncio::Task<int> lambda_safe() {
  std::string s = "hello";
  auto fn = [s] { return static_cast<int>(s.size()); };  // built first, then awaited
  int n = co_await asyncio::to_thread(fn);
  co_return n;
}
asyncio::Task<std::size_t> braced_safe() {
  std::vector<std::string> v{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"};
  std::size_t n = co_await count(std::move(v));
  co_return n;
}
asyncio::Task<std::size_t> aggregate_safe() {
  Opts o{.name = "a-fairly-long-name-beyond-sso", .tags = {"x", "y"}, .n = 3};
  std::size_t n = co_await use(std::move(o));
  co_return n;
}
#if !GCC12
asyncio::Task<int> lambda_direct() {
  std::string s = "hello";
  int n = co_await asyncio::to_thread([s] { return static_cast<int>(s.size()); });
  co_return n;
}
asyncio::Task<std::size_t> braced_direct() {
  std::size_t n = co_await count({"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"});
  co_return n;
}
asyncio::Task<std::size_t> aggregate_direct() {
  std::size_t n = co_await use({.name = "a-fairly-long-name-beyond-sso", .tags = {"x", "y"}, .n = 3});
  co_return n;
}
#endif

// The library's own workaround: SubprocessOptions is trivially destructible, so this call,
// with the options built inside the co_await expression, is fine on GCC 12 too.
asyncio::Task<std::string> subprocess_inline_options() {
  auto proc = co_await asyncio::create_subprocess_shell("echo inline", {.stdout = asyncio::PIPE});
  auto [out, err] = co_await proc.communicate();
  co_return out;
}
}  // namespace

TEST_CASE("1. a capturing lambda passed to to_thread: built first it works on every compiler") {
  CHECK(asyncio::run(lambda_safe()) == 5);
#if !GCC12
  CHECK(asyncio::run(lambda_direct()) == 5);
#endif
}

TEST_CASE("2. a list of strings passed to an awaited coroutine: built first it works on every compiler") {
  CHECK(asyncio::run(braced_safe()) == 36);
#if !GCC12
  CHECK(asyncio::run(braced_direct()) == 36);
#endif
}

TEST_CASE("3. an options aggregate with strings passed to an awaited coroutine: built first it works") {
  CHECK(asyncio::run(aggregate_safe()) == 34);
#if !GCC12
  CHECK(asyncio::run(aggregate_direct()) == 34);
#endif
}

TEST_CASE("3b. the library's trivially destructible SubprocessOptions may be built inside co_await") {
  static_assert(std::is_trivially_destructible_v<asyncio::SubprocessOptions>,
                "SubprocessOptions must stay trivially destructible (GCC 12, see this file's header)");
  CHECK(asyncio::run(subprocess_inline_options()) == "inline\n");
}
