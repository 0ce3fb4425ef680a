// Helpers for tests that replay a CPython scenario: the Python script lives in tests/python/,
// its recorded output in tests/python/<name>.out ("== scenario" headers), and the C++ test
// builds the same trace and compares it with that section line by line.
#pragma once

#include <asyncio/asyncio.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "catch.hpp"

namespace pytrace {

inline std::vector<std::string>& lines() {
  static std::vector<std::string> v;
  return v;
}
/// Append one line to the trace (what Python's print() wrote).
template <class... A>
void say(fmt::format_string<A...> f, A&&... a) {
  lines().push_back(fmt::format(f, std::forward<A>(a)...));
}
inline void reset() { lines().clear(); }

/// The lines Python printed for `scenario` in tests/python/<file>.out.
inline std::vector<std::string> expected(const std::string& file, const std::string& scenario) {
  auto p = std::filesystem::path(__FILE__).parent_path() / "python" / (file + ".out");
  std::ifstream in(p);
  std::vector<std::string> out;
  std::string line;
  bool on = false;
  while (std::getline(in, line)) {
    if (line.rfind("== ", 0) == 0) {
      on = line.substr(3) == scenario;
      continue;
    }
    if (on) out.push_back(line);
  }
  if (out.empty()) out.push_back("<no recorded trace for " + scenario + " in " + p.string() + ">");
  return out;
}

/// Python's str(bool).
inline const char* py(bool b) { return b ? "True" : "False"; }

/// Run `main()` under virtual time and compare its trace with the `scenario` section of
/// tests/python/<file>.out.
template <class F>
void replay(const char* file, const char* scenario, F main) {
  reset();
  asyncio::run(main(), {.virtual_time = true});
  CHECK(lines() == expected(file, scenario));
}

/// Nothing left on the running loop: no timer, no task other than the caller.
inline void check_clean() {
  auto& loop = asyncio::get_running_loop();
  CHECK(asyncio::testing::timer_count(loop) == 0);
  CHECK(asyncio::testing::pending_task_count(loop) == 1);
}

}  // namespace pytrace
