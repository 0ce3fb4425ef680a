// Helpers shared by the ports of CPython's tests (tests/cpython/test_cpython_*.cpp).
#pragma once

#include <string>

#include "catch.hpp"

namespace cpython_check {
inline bool contains(const char* what, const char* part) { return std::string(what).find(part) != std::string::npos; }
}  // namespace cpython_check

// `self.assertRaises(E, ...)` / `assertRaisesRegex` for a plain statement.
#define CHECK_RAISES_MSG(E, msg, ...)                  \
  do {                                                 \
    bool raised_ = false;                              \
    try {                                              \
      __VA_ARGS__;                                     \
    } catch (const E& e_) {                            \
      raised_ = true;                                  \
      CHECK(cpython_check::contains(e_.what(), msg));  \
    }                                                  \
    CHECK(raised_);                                    \
  } while (false)
