// Fixture for tools/gcc12_coawait_check (ctest gcc12_check_fixtures): every form GCC 12.2
// miscompiles (the object is destroyed twice), one per line, each line ending in the marker
// comment `expect-warning`; the checker must flag exactly those lines. Compiles with clang++
// against include/ (-fsyntax-only; never linked or run). GCC 12 rejects the two braced lists
// of strings outright ("array used as initializer").
#include <asyncio/asyncio.hpp>

#include <memory>
#include <string>
#include <vector>

namespace {
using namespace std::chrono_literals;
struct Options {  // an aggregate with a non-trivial destructor
  std::string name;
  std::vector<std::string> tags = {};
  int n = 0;
};
struct Outer {
  Options options;
};
std::size_t size_of(Options o) { return o.name.size(); }
asyncio::Task<std::size_t> fetch(Options o) { co_return o.name.size() + o.tags.size(); }
asyncio::Task<std::size_t> fetch_ref(const Options& o) { co_return o.name.size(); }
asyncio::Task<std::size_t> fetch_outer(Outer o) { co_return o.options.name.size(); }
asyncio::Task<std::size_t> count(std::vector<std::string> v) { co_return v.size(); }
asyncio::Task<std::size_t> fetch_default(Options o = {}) { co_return o.name.size(); }
asyncio::Task<int> plain(int x) { co_return x; }

asyncio::Task<std::size_t> forms() {
  std::string name = "a-fairly-long-name-beyond-sso";
  auto shared = std::make_shared<int>(1);
  asyncio::Lock lock;
  std::size_t n = 0;
  n += co_await fetch({.name = "a-fairly-long-name-beyond-sso"});  // expect-warning
  n += co_await fetch(Options{.name = "a-fairly-long-name-beyond-sso", .tags = {"x"}});  // expect-warning
  n += co_await fetch_ref(Options{.name = "a-fairly-long-name-beyond-sso"});  // expect-warning
  n += co_await fetch_outer({.options = {.name = "nested"}});  // expect-warning
  n += co_await count({"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"});  // expect-warning
  n += co_await fetch_default();  // expect-warning
  n += static_cast<std::size_t>(co_await plain(static_cast<int>(size_of({.name = "inner call"}))));  // expect-warning
  n += size_of(Options{.name = "same statement, outside the operand"}) + co_await plain(1);  // expect-warning
  n += static_cast<std::size_t>(co_await asyncio::to_thread([name] { return static_cast<int>(name.size()); }));  // expect-warning
  n += static_cast<std::size_t>(co_await asyncio::to_thread([shared] { return static_cast<int>(shared.use_count()); }));  // expect-warning
  n += static_cast<std::size_t>(co_await asyncio::to_thread([s = std::string(name)] { return static_cast<int>(s.size()); }));  // expect-warning
  co_await asyncio::async_with(lock, [name]() -> asyncio::Task<> { co_await asyncio::sleep(0); });  // expect-warning
  co_await asyncio::async_with(lock, [&]() -> asyncio::Task<> {
    n += co_await fetch({.name = "in a coroutine lambda's own statement"});  // expect-warning
  });
  co_return co_await fetch({.name = "co_return co_await"});  // expect-warning
}

asyncio::AsyncGenerator<std::size_t> generate() {
  co_yield size_of({.name = "a temporary of a co_yield full-expression"});  // expect-warning
}

asyncio::Task<std::size_t> consume() {
  auto g = generate();
  auto k = co_await g.anext();
  co_return k.value_or(0);
}

// tests/test_gcc12.cpp's reduced cases, as written there.
struct Opts {
  std::string name;
  std::vector<std::string> tags;
  int n = 0;
};
asyncio::Task<std::size_t> use(Opts o) { co_return o.name.size() + o.tags.size() + static_cast<std::size_t>(o.n); }
asyncio::Task<int> lambda_direct() {
  std::string s = "hello";
  int n = co_await asyncio::to_thread([s] { return static_cast<int>(s.size()); });  // expect-warning
  co_return n;
}
asyncio::Task<std::size_t> braced_direct() {
  std::size_t n = co_await count({"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"});  // expect-warning
  co_return n;
}
asyncio::Task<std::size_t> aggregate_direct() {
  std::size_t n = co_await use({.name = "a-fairly-long-name-beyond-sso", .tags = {"x", "y"}, .n = 3});  // expect-warning
  co_return n;
}
}  // namespace

int main() {
  return static_cast<int>(asyncio::run(forms()) + static_cast<std::size_t>(asyncio::run(lambda_direct())) +
                          asyncio::run(braced_direct()) + asyncio::run(aggregate_direct()) + asyncio::run(consume()));
}
