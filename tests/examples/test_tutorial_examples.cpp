// The tutorial examples run in-process under virtual time: each prints what its Python snippet
// prints (expected/NN_name.txt), its loop time is what the tutorial claims (05: 3 s, not 6 s;
// 12: 8 s; 01 and 13: parallel 2 s / 1 s against sequential 6 s / 3 s), 14's asynchronous order
// depends on the seed while its synchronous order never does, and the whole set takes seconds
// of wall time. (The built executables are also checked one by one by run_example.sh.)
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "catch.hpp"

// Each example compiled a second time, in a namespace of its own, so that its main() can be
// called here: the copies (made by CMakeLists.txt) read `void example_main(` for `int main(`.
// Every header the examples include is already included above, so their #include lines add
// nothing inside the namespace.
namespace ex01 {
#include "01_sync_vs_async.cpp"
}
namespace ex02 {
#include "02_coroutine.cpp"
}
namespace ex03 {
#include "03_await.cpp"
}
namespace ex04 {
#include "04_run_coroutine.cpp"
}
namespace ex05 {
#include "05_gather.cpp"
}
namespace ex06 {
#include "06_create_task.cpp"
}
namespace ex07 {
#include "07_async_context_manager.cpp"
}
namespace ex08 {
#include "08_async_iterator.cpp"
}
namespace ex09 {
#include "09_async_generator.cpp"
}
namespace ex11 {
#include "11_timeout.cpp"
}
namespace ex12 {
#include "12_semaphore.cpp"
}
namespace ex13 {
#include "13_best_practices.cpp"
}
namespace ex14 {
#include "14_mengenal_asyncio.cpp"
}

namespace {

struct Captured {
  std::string out;
  double elapsed;  // virtual seconds (loop time + blocking_sleep) the run took
};

/// Runs `fn` under ASYNCIO_VIRTUAL_TIME=1 with stdout captured.
Captured run_captured(const std::function<void()>& fn) {
  ::setenv("ASYNCIO_VIRTUAL_TIME", "1", 1);
  std::fflush(stdout);
  int saved = ::dup(1);
  std::FILE* tmp = std::tmpfile();
  REQUIRE(tmp);
  ::dup2(::fileno(tmp), 1);
  double t0 = asyncio::testing::perf_counter();
  std::exception_ptr error;
  try {
    fn();
  } catch (...) {
    error = std::current_exception();
  }
  double t1 = asyncio::testing::perf_counter();
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  std::string out;
  std::rewind(tmp);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, tmp)) > 0;) out.append(buf, n);
  std::fclose(tmp);
  if (error) std::rethrow_exception(error);
  return {out, t1 - t0};
}

std::string expected(const std::string& name) {
  std::ifstream f(std::string(ASYNCIO_EXAMPLES_EXPECTED_DIR) + "/" + name + ".txt");
  REQUIRE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

void run_14(unsigned seed) {
  asyncio::set_event_loop(nullptr);  // the example closes get_event_loop()'s loop at its end
  std::string prog = "14_mengenal_asyncio", s = std::to_string(seed);
  char* argv[] = {prog.data(), s.data(), nullptr};
  ex14::example_main(2, argv);
}

struct Example {
  const char* name;
  std::function<void()> main;
  double seconds;  // the loop time the tutorial claims
};

const std::vector<Example>& examples() {
  static const std::vector<Example> v = {
      {"01_sync_vs_async", [] { ex01::example_main(); }, 6.0 + 2.0},
      {"02_coroutine", [] { ex02::example_main(); }, 0.0},
      {"03_await", [] { ex03::example_main(); }, 2.0},
      {"04_run_coroutine", [] { ex04::example_main(); }, 1.0},
      {"05_gather", [] { ex05::example_main(); }, 3.0},
      {"06_create_task", [] { ex06::example_main(); }, 3.0},
      {"07_async_context_manager", [] { ex07::example_main(); }, 1.0 + 0.5 + 0.5},
      {"08_async_iterator", [] { ex08::example_main(); }, 5 * 0.5},
      {"09_async_generator", [] { ex09::example_main(); }, 4 * 0.5},
      {"11_timeout", [] { ex11::example_main(); }, 2.0},
      {"12_semaphore", [] { ex12::example_main(); }, 8.0},
      {"13_best_practices", [] { ex13::example_main(); }, 3.0 + 1.0},
  };
  return v;
}

}  // namespace

TEST_CASE("each example prints exactly what its Python snippet prints") {
  for (const auto& ex : examples()) {
    INFO(ex.name);
    auto r = run_captured(ex.main);
    CHECK(r.out == expected(ex.name));
  }
}

TEST_CASE("each example takes the loop time the tutorial claims") {
  for (const auto& ex : examples()) {
    INFO(ex.name);
    auto r = run_captured(ex.main);
    CHECK(r.elapsed == Approx(ex.seconds).margin(1e-9));
  }
}

TEST_CASE("01, 05, 13: concurrent waits take the longest wait, sequential ones the sum") {
  auto t01 = lines(run_captured([] { ex01::example_main(); }).out);
  REQUIRE(t01.size() == 2);
  CHECK(t01[0] == "Total waktu: 6.0 detik (Synchronous)");
  CHECK(t01[1] == "Total waktu: 2.0 detik (Asynchronous)");
  auto t05 = lines(run_captured([] { ex05::example_main(); }).out);
  CHECK(t05.back() == "Total waktu: 3.0 detik");  // not 2 + 3 + 1 = 6
  auto t13 = lines(run_captured([] { ex13::example_main(); }).out);
  REQUIRE(t13.size() == 2);
  CHECK(t13[0] == "Total waktu: 3.0 detik (Salah - Sequential)");
  CHECK(t13[1] == "Total waktu: 1.0 detik (Benar - Parallel)");
}

TEST_CASE("14: same lines as Python; asynchronous order varies with the seed, synchronous never") {
  std::vector<std::string> sorted_expected = lines(expected("14_mengenal_asyncio.sorted"));
  std::vector<std::string> in_order;
  for (int i = 1; i <= 9; ++i) in_order.push_back(fmt::format("Task {} done", i));

  std::set<std::vector<std::string>> async_orders;
  for (unsigned seed = 1; seed <= 20; ++seed) {
    INFO("seed " << seed);
    auto r = run_captured([seed] { run_14(seed); });
    auto ls = lines(r.out);
    REQUIRE(ls.size() == 20);
    CHECK(ls[0] == "Synchronous:");
    CHECK(std::vector<std::string>(ls.begin() + 1, ls.begin() + 10) == in_order);
    CHECK(ls[10] == "Asynchronous:");
    std::vector<std::string> async_part(ls.begin() + 11, ls.end());
    CHECK(std::multiset<std::string>(async_part.begin(), async_part.end()) ==
          std::multiset<std::string>(in_order.begin(), in_order.end()));
    async_orders.insert(async_part);
    auto sorted = ls;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == sorted_expected);
    // random 0-2 ms sleeps: at most 9 x 2 ms blocking, then at most 2 ms concurrently
    CHECK(r.elapsed <= 0.020 + 1e-9);

    // the same seed gives the same order (virtual time is deterministic)
    auto again = run_captured([seed] { run_14(seed); });
    CHECK(again.out == r.out);
  }
  CHECK(async_orders.size() > 1);
}

TEST_CASE("the whole set runs in seconds of wall time under virtual time") {
  auto t0 = std::chrono::steady_clock::now();
  double virtual_total = 0, claimed = 0;
  for (const auto& ex : examples()) {
    virtual_total += run_captured(ex.main).elapsed;
    claimed += ex.seconds;
  }
  virtual_total += run_captured([] { run_14(7); }).elapsed;
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(claimed == Approx(37.5));
  CHECK(virtual_total >= claimed);  // the tutorial's 37.5 s of waiting...
  CHECK(wall < 5.0);             // ...take well under a few seconds
}
