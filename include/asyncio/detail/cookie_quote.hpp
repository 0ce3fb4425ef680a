// asyncio/detail/cookie_quote.hpp — Python's http.cookies quoting, for the client's CookieJar
// (http.hpp) and the server's set_cookie (web.hpp): both send cookie values as aiohttp does.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>

namespace asyncio::detail {

/// Python's http.cookies._quote (SimpleCookie's value_encode): a non-empty value of only legal
/// characters as it is, else in double quotes with '"' and '\' escaped and other characters
/// outside the printable set as \ooo ("" becomes "\"\"", "a;b" becomes "\"a\\073b\"").
inline std::string quote_cookie_value(std::string_view v) {
  auto legal = [](unsigned char c) {
    return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~:").find(static_cast<char>(c)) != std::string_view::npos;
  };
  if (!v.empty() && std::all_of(v.begin(), v.end(), [&](char c) { return legal(static_cast<unsigned char>(c)); }))
    return std::string(v);
  std::string out = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (legal(c) || std::string_view(" ()/<=>?@[]{}").find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      out += buf;
    }
  }
  return out + "\"";
}

}  // namespace asyncio::detail
