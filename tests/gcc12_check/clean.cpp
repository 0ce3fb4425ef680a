// Fixture for tools/gcc12_coawait_check (ctest gcc12_check_fixtures): the safe spellings of
// flagged.cpp's forms, and temporaries GCC 12.2 handles correctly (checked with g++ 12.2 at
// -O0/-O2: each object destroyed once); the checker must flag nothing here. Compiles with g++
// and clang++ against include/ (-fsyntax-only; never linked or run).
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
struct Plain {  // an aggregate with a trivial destructor
  int a = 0;
  double b = 0;
};
std::size_t size_of(Options o) { return o.name.size(); }
asyncio::Task<std::size_t> fetch(Options o) { co_return o.name.size() + o.tags.size(); }
asyncio::Task<std::size_t> fetch_ref(const Options& o) { co_return o.name.size(); }
asyncio::Task<std::size_t> fetch_str(std::string s) { co_return s.size(); }
asyncio::Task<std::size_t> fetch_plain(Plain p) { co_return static_cast<std::size_t>(p.a); }
asyncio::Task<std::size_t> count(std::vector<std::string> v) { co_return v.size(); }
asyncio::Task<int> plain(int x) { co_return x; }

asyncio::Task<std::size_t> forms() {
  std::string name = "a-fairly-long-name-beyond-sso";
  auto shared = std::make_shared<int>(1);
  asyncio::Lock lock;
  std::size_t n = 0;
  // Named locals, then co_await std::move(t).
  Options o{.name = "a-fairly-long-name-beyond-sso", .tags = {"x"}};
  auto t = fetch(std::move(o));
  n += co_await std::move(t);
  Options o2{.name = "moved into the call"};
  n += co_await fetch(std::move(o2));
  Options o3{.name = "by reference"};
  n += co_await fetch_ref(o3);
  std::vector<std::string> v{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"};
  n += co_await count(std::move(v));
  auto fn = [name] { return static_cast<int>(name.size()); };
  n += static_cast<std::size_t>(co_await asyncio::to_thread(fn));
  auto body = [name]() -> asyncio::Task<> { co_await asyncio::sleep(0); };
  co_await asyncio::async_with(lock, body);
  // The temporary's full-expression ends before the suspension.
  std::size_t k = size_of(Options{.name = "its own statement"});
  n += k + static_cast<std::size_t>(co_await plain(1));
  // Temporaries GCC 12 gets right: built by a constructor, or trivially destructible, or
  // captured by reference / trivially.
  n += co_await fetch_str(std::string("a-fairly-long-name-beyond-sso"));
  n += co_await fetch_str("converted by a constructor");
  n += co_await fetch_plain({.a = 1, .b = 2});
  n += static_cast<std::size_t>(co_await asyncio::to_thread([&name] { return static_cast<int>(name.size()); }));
  n += static_cast<std::size_t>(co_await asyncio::to_thread([k] { return static_cast<int>(k); }));
  co_await asyncio::async_with(asyncio::TaskGroup{}, [&](asyncio::TaskGroup&) -> asyncio::Task<> { co_return; });
  co_await asyncio::async_with(asyncio::timeout(1s), [&](asyncio::Timeout&) -> asyncio::Task<> { co_return; });
  // Temporaries in the body of a lambda that is not a coroutine belong to that body.
  n += static_cast<std::size_t>(co_await asyncio::to_thread([&] { return static_cast<int>(size_of({.name = "in a body"})); }));
  n += static_cast<std::size_t>(co_await asyncio::to_thread([&] {
    auto inner = [name] { return name.size(); };
    return static_cast<int>(inner());
  }));
  co_return n;
}

asyncio::AsyncGenerator<std::size_t> generate() {
  std::size_t k = size_of({.name = "its own statement"});
  co_yield k;
}
}  // namespace

asyncio::Task<std::size_t> consume() {
  auto g = generate();
  auto k = co_await g.anext();
  co_return k.value_or(0);
}

int main() { return static_cast<int>(asyncio::run(forms()) + asyncio::run(consume())); }
