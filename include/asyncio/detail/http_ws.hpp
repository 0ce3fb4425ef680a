// ClientSession::ws_connect (http.hpp): the WebSocket handshake over open_connection, then the
// shared engine of detail/websocket.hpp. (Second half of http.hpp; no include of it back.)
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace asyncio::http {
namespace detail::wsc {

struct WsUrl {
  bool secure = false;
  std::string host;  // without brackets
  int port = 0;
  std::string target;  // "/path?query"
  std::string host_header;
  std::string origin;  // "scheme://host[:port]" (for relative redirects)
};

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline WsUrl parse_url(const std::string& url) {
  WsUrl u;
  auto sep = url.find("://");
  if (sep == std::string::npos) throw InvalidURL(url);
  std::string scheme = lower(url.substr(0, sep));
  if (scheme == "ws" || scheme == "http")
    u.secure = false;
  else if (scheme == "wss" || scheme == "https")
    u.secure = true;
  else
    throw InvalidURL(url, "not a ws:// or wss:// URL");
  std::string rest = url.substr(sep + 3);
  auto slash = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (auto f = u.target.find('#'); f != std::string::npos) u.target.resize(f);
  if (u.target.empty() || u.target[0] == '?') u.target = "/" + u.target;
  if (auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  std::string hostpart = authority, portpart;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) throw InvalidURL(url);
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw InvalidURL(url);
      portpart = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) portpart = authority.substr(colon + 1);
  }
  if (u.host.empty()) throw InvalidURL(url);
  int def = u.secure ? 443 : 80;
  u.port = def;
  if (!portpart.empty()) {
    if (portpart.size() > 5 || portpart.find_first_not_of("0123456789") != std::string::npos) throw InvalidURL(url);
    u.port = std::stoi(portpart);
    if (u.port <= 0 || u.port > 65535) throw InvalidURL(url);
  }
  std::string h = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  u.host_header = u.port == def ? h : h + ":" + std::to_string(u.port);
  u.origin = std::string(u.secure ? "wss" : "ws") + "://" + u.host_header;
  return u;
}

/// A redirect's Location against the URL it answered.
inline std::string join(const WsUrl& base, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  if (location.rfind("//", 0) == 0) return std::string(base.secure ? "wss:" : "ws:") + location;
  if (!location.empty() && location[0] == '/') return base.origin + location;
  std::string dir = base.target.substr(0, base.target.find('?'));
  dir = dir.substr(0, dir.rfind('/') + 1);
  return base.origin + dir + location;
}

struct Head {
  int status = 0;
  Headers headers;
};

inline Head parse_head(const std::string& head, const std::string& url) {
  Head h;
  std::string_view s = head;
  auto eol = s.find("\r\n");
  std::string_view line = s.substr(0, eol);
  // "HTTP/1.1 101 Switching Protocols"
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12 || line[8] != ' ')
    throw ClientResponseError(400, "Bad status line '" + std::string(line) + "'", url);
  std::string_view code = line.substr(9, 3);
  if (code.find_first_not_of("0123456789") != std::string_view::npos)
    throw ClientResponseError(400, "Bad status line '" + std::string(line) + "'", url);
  h.status = std::stoi(std::string(code));
  s = eol == std::string_view::npos ? std::string_view() : s.substr(eol + 2);
  while (!s.empty()) {
    eol = s.find("\r\n");
    line = s.substr(0, eol);
    s = eol == std::string_view::npos ? std::string_view() : s.substr(eol + 2);
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) throw ClientResponseError(400, "Bad header line", url);
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    h.headers.add(std::string(line.substr(0, colon)), std::string(v));
  }
  return h;
}

inline std::string basic_auth(const BasicAuth& a) {
  if (a.login.find(':') != std::string::npos) throw ValueError("A \":\" is not allowed in login (RFC 1945#section-11.1)");
  return "Basic " + asyncio::detail::ws::base64_encode(a.login + ":" + a.password);
}

/// One handshake attempt on a fresh connection: the response head, the streams and the key.
struct Attempt {
  Head head;
  StreamReader reader;
  StreamWriter writer;
  std::string key;
};

inline Task<Attempt> attempt(WsUrl u, std::string url, std::string request_head, std::shared_ptr<ssl::SSLContext> ctx) {
  ConnectOptions co;
  if (u.secure) {
    // aiohttp's default for wss://: the system's trust store, certificate and host name checked.
    co.ssl = ctx ? std::move(ctx) : ssl::default_context();
    co.server_hostname = u.host;
  }
  Attempt a;
  std::string failure;
  int err = 0;
  try {
    auto t = open_connection(u.host, u.port, co);
    auto [r, w] = co_await std::move(t);
    a.reader = std::move(r);
    a.writer = std::move(w);
  } catch (const OSError& e) {
    failure = e.what();
    err = e.errno_;
  }
  if (!failure.empty())
    throw ClientConnectorError("Cannot connect to host " + u.host_header + " ssl:" + (u.secure ? "default" : "False") +
                                   " [" + failure + "]",
                               err);
  unsigned char raw[16];
  asyncio::detail::ws::random_bytes(raw, sizeof raw);
  a.key = asyncio::detail::ws::base64_encode(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
  std::string req = request_head;
  req += "Sec-WebSocket-Key: " + a.key + "\r\n\r\n";
  std::string head;
  bool gone = false;
  try {
    a.writer.write(req);
    co_await a.writer.drain();
    std::string sep = "\r\n\r\n";
    auto t = a.reader.readuntil(sep);
    head = co_await std::move(t);
  } catch (const std::exception&) {
    gone = true;
  }
  if (gone) {
    a.writer.abort();
    throw ServerDisconnectedError();
  }
  try {
    a.head = parse_head(head, url);
  } catch (...) {
    a.writer.abort();
    throw;
  }
  co_return a;
}

inline Task<ClientWebSocketResponse> ws_connect(std::shared_ptr<SessionOptions> so, std::string url, WSConnectOptions o) {
  if (!so->base_url.empty() && url.find("://") == std::string::npos) url = so->base_url + url;
  std::string first_origin;
  for (int redirects = 0;; ++redirects) {
    WsUrl u = parse_url(url);
    if (redirects == 0) first_origin = u.origin;
    Headers h;
    for (auto& [k, v] : so->headers) h.set(k, v);
    for (auto& [k, v] : o.headers) h.set(k, v);
    // Credentials go to the origin asked for only, never after a redirect elsewhere (aiohttp
    // 3.9's rule, as the session's requests).
    if (u.origin != first_origin) {
      h.erase("Authorization");
    } else {
      const std::optional<BasicAuth>& auth = o.auth ? o.auth : so->auth;
      if (auth && !h.contains("Authorization")) h.set("Authorization", basic_auth(*auth));
    }
    std::string req = "GET " + u.target + " HTTP/1.1\r\nHost: " + u.host_header +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
    if (!o.protocols.empty()) {
      std::string p;
      for (auto& x : o.protocols) p += (p.empty() ? "" : ",") + x;
      req += "Sec-WebSocket-Protocol: " + p + "\r\n";
    }
    if (!o.origin.empty()) req += "Origin: " + o.origin + "\r\n";
    for (auto& [k, v] : h) {
      std::string lk = lower(k);
      if (lk == "host" || lk == "upgrade" || lk == "connection" || lk == "sec-websocket-key" ||
          lk == "sec-websocket-version")
        continue;
      req += k + ": " + v + "\r\n";
    }
    if (!h.contains("User-Agent")) req += "User-Agent: Python/3.11 aiohttp/3.8.4 (asyncio-cpp)\r\n";
    Attempt a;
    if (o.handshake_timeout) {
      auto t = wait_for(attempt(u, url, req, o.ssl), o.handshake_timeout->count());
      a = co_await std::move(t);
    } else {
      auto t = attempt(u, url, req, o.ssl);
      a = co_await std::move(t);
    }
    int st = a.head.status;
    if ((st == 301 || st == 302 || st == 303 || st == 307 || st == 308) && a.head.headers.contains("Location")) {
      a.writer.abort();
      if (redirects + 1 > o.max_redirects) throw TooManyRedirects(st, "", url);
      url = join(u, *a.head.headers.get("Location"));
      continue;
    }
    auto fail = [&](std::string why) {
      a.writer.abort();
      return WSServerHandshakeError(st, std::move(why), url, a.head.headers);
    };
    if (st != 101) throw fail("Invalid response status");
    if (lower(a.head.headers.get("Upgrade", "")) != "websocket") throw fail("Invalid upgrade header");
    if (lower(a.head.headers.get("Connection", "")) != "upgrade") throw fail("Invalid connection header");
    if (a.head.headers.get("Sec-WebSocket-Accept", "") != asyncio::detail::ws::accept_key(a.key))
      throw fail("Invalid challenge response");
    std::string protocol;
    if (auto p = a.head.headers.get("Sec-WebSocket-Protocol"))
      for (auto& x : o.protocols)
        if (x == *p) protocol = x;
    ClientWebSocketResponse ws;
    ws.status = st;
    ws.headers = std::move(a.head.headers);
    ws.url = url;
    ws.adopt(std::move(a.reader), std::move(a.writer), o, std::move(protocol));
    co_return ws;
  }
}

}  // namespace detail::wsc

inline Task<ClientWebSocketResponse> ClientSession::ws_connect(std::string url, WSConnectOptions opts) {
  return detail::wsc::ws_connect(opts_, std::move(url), std::move(opts));
}

}  // namespace asyncio::http
