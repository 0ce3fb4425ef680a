// Helpers for tests that replay a CPython scenario: the Python script lives in tests/python/,
// its recorded output in tests/python/<name>.out ("== scenario" headers), and the C++ test
// builds the same trace and compares it with that section line by line.
#pragma once

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

}  // namespace pytrace
