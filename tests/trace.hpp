// A trace of printed lines, compared with the trace CPython prints for the same scenario.
#pragma once
#include <fmt/format.h>

#include <string>
#include <vector>

struct Trace {
  std::vector<std::string> lines;
  template <class... A>
  void operator()(fmt::format_string<A...> f, A&&... a) {
    lines.push_back(fmt::format(f, std::forward<A>(a)...));
  }
};
