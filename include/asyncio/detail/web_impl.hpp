// Bodies of web.hpp: routing, the per-connection protocol (aiohttp's RequestHandler), response
// serialisation, the runner and sites.
//
// One connection is two tasks, as aiohttp's protocol is a reader (data_received) and a handler
// task (start()): the reader pulls bytes from the socket and feeds llhttp, which queues request
// heads and feeds each body into that request's own StreamReader (content()); the handler task
// takes requests from the queue in order (so pipelined requests are answered in order), runs
// the application and writes the response. The reader keeps reading while a handler runs, so
// a body streams into content() and a disconnect is seen at once. It stops reading while 16
// requests are queued or 256 KiB of a body wait unread (polling every 10 ms for content()
// being drained: a standalone StreamReader tells nobody when it is read).
#pragma once

#include "cookie_quote.hpp"

#include <zlib.h>

#include <mutex>

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <deque>

// (No #include of web.hpp: this is its second half, included at its end only.)

namespace asyncio::web {

inline std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Requested Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Entity";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

namespace detail {

// ------------------------------------------------------------------------------------ URL helpers

inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
/// Percent-decoding; '+' is a space only in a query (form) component. A '%' not followed by
/// two hex digits stays as it is (yarl's lenient decoding).
inline std::string unquote(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}
/// "a=1&a=2&b" → {a:1, a:2, b:""} (Python's parse_qsl with keep_blank_values).
inline MultiDict parse_qsl(std::string_view qs) {
  MultiDict d;
  while (!qs.empty()) {
    std::size_t amp = qs.find('&');
    std::string_view part = qs.substr(0, amp);
    qs = amp == std::string_view::npos ? std::string_view() : qs.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    if (eq == std::string_view::npos)
      d.add(unquote(part, true), "");
    else
      d.add(unquote(part.substr(0, eq), true), unquote(part.substr(eq + 1), true));
  }
  return d;
}

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// The HTTP Date of now ("Sun, 06 Dec 2026 18:06:28 GMT"), formatted once per second.
inline const std::string& http_date() {
  thread_local std::time_t last = 0;
  thread_local std::string text;
  std::time_t now = std::time(nullptr);
  if (now != last || text.empty()) {
    last = now;
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    text = buf;
  }
  return text;
}
inline constexpr std::string_view kServerHeader = "asyncio-cpp/0.1 (aiohttp/3.8.4 compatible)";

// ------------------------------------------------------------------------------------ routing

inline Resource::Resource(std::string pattern) : pattern_(std::move(pattern)) {
  if (pattern_.empty() || pattern_[0] != '/') throw ValueError("path should be started with / or be empty: '" + pattern_ + "'");
  if (pattern_.find('{') == std::string::npos) return;
  plain_ = false;
  // "{name}" → ([^{}/]+), "{name:regex}" → (regex); the rest literal (regex-escaped).
  std::string re;
  int group = 1;
  std::size_t i = 0;
  while (i < pattern_.size()) {
    char c = pattern_[i];
    if (c == '{') {
      // The matching '}' (braces inside the regex nest, as aiohttp's ROUTE_RE allows one level).
      std::size_t j = i + 1;
      int depth = 1;
      while (j < pattern_.size() && depth > 0) {
        if (pattern_[j] == '{') ++depth;
        if (pattern_[j] == '}') --depth;
        if (depth > 0) ++j;
      }
      if (depth != 0) throw ValueError("Invalid path '" + pattern_ + "'['" + pattern_ + "']");
      std::string inner = pattern_.substr(i + 1, j - i - 1);
      std::string name = inner, sub = "[^{}/]+";
      std::size_t colon = inner.find(':');
      if (colon != std::string::npos) {
        name = inner.substr(0, colon);
        sub = inner.substr(colon + 1);
      }
      if (name.empty()) throw ValueError("Invalid path '" + pattern_ + "'['" + pattern_ + "']");
      unsigned inner_groups = 0;
      try {
        inner_groups = static_cast<unsigned>(std::regex(sub, std::regex::ECMAScript).mark_count());
      } catch (const std::regex_error& e) {
        throw ValueError("Bad pattern '" + pattern_ + "': " + e.what());
      }
      groups_.emplace_back(name, group);
      group += 1 + static_cast<int>(inner_groups);
      re += "(" + sub + ")";
      i = j + 1;
    } else if (c == '}') {
      throw ValueError("Invalid path '" + pattern_ + "'['" + pattern_ + "']");
    } else {
      if (std::string_view("\\^$.|?*+()[]").find(c) != std::string_view::npos) re += '\\';
      re += c;
      ++i;
    }
  }
  try {
    re_ = std::regex(re, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw ValueError("Bad pattern '" + pattern_ + "': " + e.what());
  }
}

inline std::optional<std::map<std::string, std::string>> Resource::match(const std::string& raw_path) const {
  if (plain_) {
    if (raw_path == pattern_) return std::map<std::string, std::string>{};
    return std::nullopt;
  }
  std::smatch m;
  if (!std::regex_match(raw_path, m, re_)) return std::nullopt;
  std::map<std::string, std::string> out;
  for (auto& [name, idx] : groups_) out[name] = unquote(m[idx].str(), false);
  return out;
}

inline std::string Resource::url_for(const std::map<std::string, std::string>& parts) const {
  if (plain_) return pattern_;
  auto quote = [](const std::string& v) {  // yarl's path quoting: unreserved, sub-delims, ':@/'
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : v) {
      if (std::isalnum(c) || std::string_view("-._~!$&'()*+,;=:@/").find(static_cast<char>(c)) != std::string_view::npos) {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 15];
      }
    }
    return out;
  };
  std::string out;
  std::size_t i = 0;
  while (i < pattern_.size()) {
    if (pattern_[i] != '{') {
      out += pattern_[i++];
      continue;
    }
    std::size_t j = i + 1;
    int depth = 1;
    while (j < pattern_.size() && depth > 0) {  // (the pattern parsed when it was added)
      if (pattern_[j] == '{') ++depth;
      if (pattern_[j] == '}') --depth;
      if (depth > 0) ++j;
    }
    std::string inner = pattern_.substr(i + 1, j - i - 1);
    std::string key = inner.substr(0, inner.find(':'));
    auto it = parts.find(key);
    if (it == parts.end()) throw std::out_of_range("KeyError: '" + key + "'");
    out += quote(it->second);
    i = j + 1;
  }
  return out;
}

}  // namespace detail

inline void UrlDispatcher::add(std::string method, std::string path, Handler h, const std::string& name) {
  for (auto& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!name.empty()) {
    // aiohttp: python identifiers separated by '.', ':' or '-'; unique.
    bool ok = true;
    std::size_t start = 0;
    for (std::size_t k = 0; k <= name.size(); ++k) {
      if (k == name.size() || name[k] == '.' || name[k] == ':' || name[k] == '-') {
        std::string_view part(name.data() + start, k - start);
        ok = ok && !part.empty() && !std::isdigit(static_cast<unsigned char>(part[0])) &&
             std::all_of(part.begin(), part.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; });
        start = k + 1;
      }
    }
    if (!ok)
      throw ValueError("Incorrect route name '" + name +
                       "', the name should be a sequence of python identifiers separated by dash, dot or column");
    auto it = named_.find(name);
    if (it != named_.end() && (resources_.empty() || it->second != resources_.back().get() || resources_.back()->pattern() != path))
      throw ValueError("Duplicate '" + name + "', already handled by " + it->second->pattern());
  }
  // As aiohttp: a route for the path of the last resource added joins that resource (if the
  // names agree).
  if (resources_.empty() || resources_.back()->pattern() != path || resources_.back()->name() != name) {
    resources_.push_back(std::make_unique<detail::Resource>(path));
    resources_.back()->name_ = name;
    if (!name.empty()) named_[name] = resources_.back().get();
  }
  auto& routes = resources_.back()->routes;
  for (auto& r : routes)
    if (r.first == method || r.first == "*")
      throw RuntimeError("Added route will never be executed, method " + method + " is already registered");
  routes.emplace_back(std::move(method), std::move(h));
}

inline const detail::Resource& UrlDispatcher::operator[](const std::string& name) const {
  auto it = named_.find(name);
  if (it == named_.end()) throw std::out_of_range("KeyError: '" + name + "'");
  return *it->second;
}

inline const Handler& UrlDispatcher::resolve(const std::string& method, const std::string& raw_path,
                                             std::map<std::string, std::string>& match_info) const {
  std::vector<std::string> allowed;
  for (auto& res : resources_) {
    auto m = res->match(raw_path);
    if (!m) continue;
    for (auto& [meth, h] : res->routes) {
      if (meth == method || meth == "*") {
        match_info = std::move(*m);
        return h;
      }
    }
    for (auto& r : res->routes) allowed.push_back(r.first);
  }
  if (!allowed.empty()) throw HTTPMethodNotAllowed(method, std::move(allowed));
  throw HTTPNotFound();
}

// ------------------------------------------------------------------------------------ files

namespace detail {

/// An open file for FileResponse (closed with the last Response holding it).
struct FileBody {
  int fd = -1;
  unsigned long long size = 0;
  std::time_t mtime = 0;
  std::string etag;  // aiohttp's: "<mtime in ns, hex>-<size, hex>"
  std::string content_type;
  FileBody() = default;
  FileBody(const FileBody&) = delete;
  ~FileBody() {
    if (fd >= 0) ::close(fd);
  }
};

inline std::string guess_type(std::string_view path) {
  auto dot = path.rfind('.');
  std::string ext = dot == std::string_view::npos ? std::string() : std::string(path.substr(dot + 1));
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, const char*> table[] = {
      {"html", "text/html"},       {"htm", "text/html"},         {"txt", "text/plain"},
      {"css", "text/css"},         {"js", "text/javascript"},    {"json", "application/json"},
      {"xml", "application/xml"},  {"png", "image/png"},         {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},      {"gif", "image/gif"},         {"svg", "image/svg+xml"},
      {"ico", "image/vnd.microsoft.icon"}, {"pdf", "application/pdf"}, {"wasm", "application/wasm"},
      {"csv", "text/csv"},         {"gz", "application/gzip"},   {"zip", "application/zip"}};
  for (auto& [e, t] : table)
    if (ext == e) return t;
  return "application/octet-stream";
}

inline std::string http_date_of(std::time_t t) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

/// A Range header against a file of `size` bytes: {start, end_exclusive}; nullopt when there is
/// no Range; throws HTTPRequestRangeNotSatisfiable for a malformed, multiple or unsatisfiable one
/// (aiohttp: ValueError from request.http_range, or start >= size, → 416).
inline std::optional<std::pair<unsigned long long, unsigned long long>> byte_range(const Headers& h,
                                                                                  unsigned long long size) {
  auto r = h.get("Range");
  if (!r) return std::nullopt;
  auto refuse = [size]() {
    HTTPException::Options o;
    o.headers.set("Content-Range", "bytes */" + std::to_string(size));
    return HTTPRequestRangeNotSatisfiable(std::move(o));
  };
  std::string_view v = trim(*r);
  if (v.rfind("bytes=", 0) != 0) throw refuse();
  v.remove_prefix(6);
  auto dash = v.find('-');
  if (dash == std::string_view::npos || v.find(',') != std::string_view::npos) throw refuse();
  auto num = [&](std::string_view d, unsigned long long& out) {
    if (d.empty() || d.size() > 19) return false;
    out = 0;
    for (char c : d) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + static_cast<unsigned long long>(c - '0');
    }
    return true;
  };
  unsigned long long a = 0, b = 0;
  std::string_view sa = v.substr(0, dash), sb = v.substr(dash + 1);
  if (sa.empty()) {  // bytes=-N: the last N bytes
    if (!num(sb, b) || b == 0) throw refuse();
    a = b >= size ? 0 : size - b;
    return std::pair{a, size};
  }
  if (!num(sa, a)) throw refuse();
  if (sb.empty()) {
    b = size;
  } else {
    if (!num(sb, b) || b < a) throw refuse();
    b = std::min(b + 1, size);
  }
  if (a >= size) throw refuse();
  return std::pair{a, b};
}

/// The path under `root` a static request names, or nullopt when it must be refused.
inline std::optional<std::string> static_path(const std::string& root_real, std::string_view raw_rel, bool follow) {
  // Encoded separators and NULs are refused before decoding; then "..", "." and empty segments.
  std::string lowered(raw_rel);
  for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lowered.find("%2f") != std::string::npos || lowered.find("%5c") != std::string::npos ||
      lowered.find("%00") != std::string::npos)
    return std::nullopt;
  std::string rel = unquote(raw_rel, false);
  if (rel.empty() || rel.front() == '/' || rel.find('\\') != std::string::npos || rel.find('\0') != std::string::npos)
    return std::nullopt;
  std::string_view rv = rel;
  while (!rv.empty()) {
    auto slash = rv.find('/');
    std::string_view seg = rv.substr(0, slash);
    if (seg == ".." || seg == ".") return std::nullopt;
    rv = slash == std::string_view::npos ? std::string_view() : rv.substr(slash + 1);
  }
  std::string joined = root_real + "/" + rel;
  if (follow) return joined;
  // Symlinks: the resolved path must stay under the resolved root.
  char buf[PATH_MAX];
  if (!::realpath(joined.c_str(), buf)) return joined;  // missing: a 404 when opened
  std::string real = buf;
  if (real != root_real && real.rfind(root_real + "/", 0) != 0) return std::nullopt;
  return real;
}

}  // namespace detail

inline FileResponse::operator Response() const {
  auto fb = std::make_shared<detail::FileBody>();
  fb->fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fb->fd < 0) throw HTTPNotFound();
  struct stat st {};
  if (::fstat(fb->fd, &st) != 0) throw HTTPNotFound();
  if (S_ISDIR(st.st_mode)) throw HTTPForbidden();
  if (!S_ISREG(st.st_mode)) throw HTTPNotFound();
  fb->size = static_cast<unsigned long long>(st.st_size);
  fb->mtime = st.st_mtime;
  {
    char tag[64];
    unsigned long long ns = static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull +
                            static_cast<unsigned long long>(st.st_mtim.tv_nsec);
    std::snprintf(tag, sizeof tag, "\"%llx-%llx\"", ns, fb->size);
    fb->etag = tag;
  }
  fb->content_type = detail::guess_type(path_);
  return Response{.status = status_, .headers = headers_, .file_ = std::move(fb)};
}

namespace detail {
inline Task<Response> serve_static(Request& req, std::string prefix, std::string root_real, bool follow) {
  std::string_view raw = req.raw_path();
  raw = raw.substr(0, raw.find('?'));
  raw.remove_prefix(std::min(raw.size(), prefix.size() + 1));
  auto p = static_path(root_real, raw, follow);
  if (!p) throw HTTPNotFound();
  struct stat st {};
  if (::stat(p->c_str(), &st) != 0) throw HTTPNotFound();
  if (S_ISDIR(st.st_mode)) throw HTTPForbidden();
  co_return FileResponse(*p);
}
}  // namespace detail

inline void UrlDispatcher::add_static(std::string prefix, std::string directory, bool follow_symlinks, std::string name) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  char buf[PATH_MAX];
  struct stat st {};
  if (!::realpath(directory.c_str(), buf) || ::stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
    throw ValueError("No directory exists at '" + directory + "'");
  std::string root = buf;
  std::string pattern = (prefix == "/" ? std::string() : prefix) + "/{filename:.+}";
  std::string pre = prefix == "/" ? std::string() : prefix;
  add_get(pattern, [pre, root, follow_symlinks](Request& r) { return detail::serve_static(r, pre, root, follow_symlinks); },
          RouteOptions{.name = std::move(name)});
}

// ------------------------------------------------------------------------------------ the protocol

namespace detail {

/// The runner's shared state: the connections open now and the handler options.
class ServerState {
 public:
  ServerState(Application& app, AppRunnerOptions o) : app(app), opts(o) {}
  Application& app;
  AppRunnerOptions opts;
  std::list<Connection*> conns;
  Event all_closed;  // set while `conns` is empty
  std::vector<std::weak_ptr<asyncio::detail::ws::Core>> websockets;  // open WebSockets (closed with 1001 at shutdown)
  bool shutting_down = false;
};

/// A request received (its head; its body arriving into `payload`).
struct Pending {
  RequestHead head;
  StreamReader payload{std::size_t(1) << 16};
  bool complete = false;    // the body has ended
  bool dispatched = false;  // a handler took it
  bool discard = false;     // the handler is done: the rest of the body is dropped
};

/// A response's status line and headers. Content-Type goes where aiohttp puts it: first when
/// the program chose it (text=, content_type=), else after the length (the default filled in at
/// prepare time).
inline std::string response_head(int major, int minor, int status, const std::string& reason, const Headers& headers,
                                 const std::string& content_type, std::optional<std::size_t> content_length,
                                 bool chunked, bool keep_alive, bool ct_first = true,
                                 const CookieList* cookies = nullptr, bool cookies_after_length = true,
                                 std::string_view content_encoding = {}) {
  // An HTTP/0.9 request (llhttp takes "GET /path" without a version) is answered in 1.0.
  if (major < 1) {
    major = 1;
    minor = 0;
  } else if (major > 1) {
    major = 1;
    minor = 1;
  }
  std::string out;
  out.reserve(256);
  out += "HTTP/" + std::to_string(major) + "." + std::to_string(minor) + " " + std::to_string(status) + " ";
  out += reason.empty() ? std::string(reason_phrase(status)) : reason;
  out += "\r\n";
  bool has_ct = headers.contains("Content-Type");
  if (ct_first && !has_ct && !content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  for (auto& [k, v] : headers) {
    if (iequals(k, "Content-Length") || iequals(k, "Transfer-Encoding") || iequals(k, "Connection")) continue;
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  // aiohttp adds the cookies at prepare time, after the headers the response has by then: a
  // Response's Content-Length (set when it was made), not a StreamResponse's.
  // Content-Encoding follows them (aiohttp sets it after adding the cookies).
  auto encoding = [&] {
    if (!content_encoding.empty()) out += "Content-Encoding: " + std::string(content_encoding) + "\r\n";
  };
  if (!cookies_after_length) {
    if (cookies)
      for (auto& line : cookies->lines()) out += "Set-Cookie: " + line + "\r\n";
    encoding();
  }
  if (content_length) out += "Content-Length: " + std::to_string(*content_length) + "\r\n";
  if (cookies_after_length) {
    if (cookies)
      for (auto& line : cookies->lines()) out += "Set-Cookie: " + line + "\r\n";
    encoding();
  }
  if (chunked) out += "Transfer-Encoding: chunked\r\n";
  if (!ct_first && !has_ct && !content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  if (!headers.contains("Date")) out += "Date: " + http_date() + "\r\n";
  if (!headers.contains("Server")) out += "Server: " + std::string(kServerHeader) + "\r\n";
  if (major == 1 && minor == 0) {
    if (keep_alive) out += "Connection: keep-alive\r\n";
  } else if (!keep_alive) {
    out += "Connection: close\r\n";
  }
  out += "\r\n";
  return out;
}

/// One zlib deflate stream (Python's zlib.compressobj(wbits=...) at the default level).
struct Deflater {
  z_stream z{};
  explicit Deflater(ContentCoding c) {
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, c == ContentCoding::gzip ? 16 + MAX_WBITS : MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::bad_alloc();
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  ~Deflater() { deflateEnd(&z); }
  /// compress(data) (Z_NO_FLUSH: may give nothing yet) or, with finish, flush() (Z_FINISH).
  std::string run(std::string_view in, bool finish) {
    std::string out;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    int flush = finish ? Z_FINISH : Z_NO_FLUSH;
    for (;;) {
      char buf[16384];
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      int rc = deflate(&z, flush);
      out.append(buf, sizeof buf - z.avail_out);
      if (rc == Z_STREAM_END || (z.avail_out != 0 && z.avail_in == 0 && !finish)) break;
      if (rc != Z_OK && rc != Z_BUF_ERROR) throw RuntimeError("deflate failed");
    }
    return out;
  }
};
/// The coding a response's compression setting gives for `req` (aiohttp's _start_compression:
/// the first of deflate, gzip whose name appears in Accept-Encoding, lower-cased).
inline ContentCoding choose_coding(Compression c, const Request& req) {
  if (c == Compression::deflate) return ContentCoding::deflate;
  if (c == Compression::gzip) return ContentCoding::gzip;
  if (c == Compression::identity) return ContentCoding::identity;
  std::string ae = req.headers().get("Accept-Encoding", "");
  for (auto& ch : ae) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (ae.find("deflate") != std::string::npos) return ContentCoding::deflate;
  if (ae.find("gzip") != std::string::npos) return ContentCoding::gzip;
  return ContentCoding::identity;
}
inline const char* coding_name(ContentCoding c) { return c == ContentCoding::deflate ? "deflate" : "gzip"; }

/// aiohttp's RequestHandler: one client connection.
class Connection final : public ParserSink {
 public:
  Connection(std::shared_ptr<ServerState> srv, StreamReader r, StreamWriter w)
      : srv_(std::move(srv)),
        reader_(std::move(r)),
        writer_(std::move(w)),
        parser_(*this, srv_->opts.max_line_size, srv_->opts.max_field_size) {}

  /// The start_server callback: the handler task of one connection.
  static Task<void> serve(std::shared_ptr<ServerState> srv, StreamReader r, StreamWriter w) {
    auto c = std::make_shared<Connection>(srv, std::move(r), std::move(w));
    srv->conns.push_back(c.get());
    auto self_it = std::prev(srv->conns.end());
    srv->all_closed.clear();
    c->task_ = current_task();
    if (srv->shutting_down) c->closing_ = true;
    auto reader_task = create_task(read_loop(c));
    std::exception_ptr err;
    try {
      co_await c->run();
    } catch (...) {
      err = std::current_exception();
    }
    // A connection cut short (cancelled at shutdown, or the client gone) drops what is still
    // buffered: close() would wait for a client that may never read it.
    if (err || c->gone())
      c->writer_.abort();
    else
      c->writer_.close();
    reader_task.cancel();
    try {
      co_await reader_task;
    } catch (...) {
    }
    srv->conns.erase(self_it);
    if (srv->conns.empty()) srv->all_closed.set();
    if (err) {
      try {
        std::rethrow_exception(err);
      } catch (const CancelledError&) {
        throw;
      } catch (...) {
        get_running_loop().call_exception_handler({"Error handling request", std::current_exception(), {}});
      }
    }
  }

  /// Shutdown: no new request on this connection; an idle one closes now.
  void close_soon() {
    closing_ = true;
    wake_.set();
  }
  void cancel() {
    if (task_) task_->cancel();
  }
  bool busy() const noexcept { return busy_; }

  // ---- used by Request / StreamResponse / WebSocketResponse
  StreamWriter& writer() noexcept { return writer_; }
  StreamReader& reader() noexcept { return reader_; }
  /// The bytes that followed an upgrade request's head (the reader stopped after it).
  std::string take_upgrade_rest() { return parser_.take_upgrade_rest(); }
  std::shared_ptr<ServerState>& server() noexcept { return srv_; }
  /// Write and drain; false (and the connection marked gone) when the client is gone.
  Task<bool> send(std::string data) {
    if (gone_ || writer_.is_closing()) {
      gone_ = true;
      co_return false;
    }
    writer_.write(data);
    bool ok = true;
    try {
      co_await writer_.drain();
    } catch (const std::exception&) {
      ok = false;
    }
    if (!ok) gone_ = true;
    co_return ok;
  }
  bool gone() const noexcept { return gone_ || writer_.is_closing(); }
  /// read() took a piece of the body: the reader may go on at once (content() users are
  /// noticed by the reader's 10 ms poll instead).
  void body_consumed() noexcept { progress_.set(); }
  void force_close() noexcept { force_close_ = true; }

  // ---- ParserSink (called from inside llhttp_execute, in the reader task)
  void on_head(RequestHead&& head) override {
    auto p = std::make_shared<Pending>();
    p->head = std::move(head);
    if (!p->head.has_body) p->payload.feed_eof();
    queue_.push_back(p);
    receiving_ = p;
    wake_.set();
  }
  void on_body(std::string_view data) override {
    if (receiving_ && !receiving_->discard) receiving_->payload.feed_data(data);
  }
  void on_message_complete() override {
    if (receiving_) {
      receiving_->complete = true;
      if (receiving_->head.has_body) receiving_->payload.feed_eof();
      receiving_.reset();
    }
    wake_.set();
  }

 private:
  bool over_limit() const {
    if (queue_.size() >= 16) return true;
    return receiving_ && !receiving_->discard && receiving_->payload.buffered() > (std::size_t(256) << 10);
  }

  static Task<void> read_loop(std::shared_ptr<Connection> c) {
    for (;;) {
      while (c->over_limit() && !c->closing_) {
        c->progress_.clear();
        try {
          auto w = wait_for(c->progress_.wait(), 0.01);
          co_await w;
        } catch (const TimeoutError&) {
        }
      }
      std::string data;
      std::exception_ptr err;
      try {
        data = co_await c->reader_.read(65536);
      } catch (const std::exception&) {
        err = std::current_exception();
      }
      if (err || data.empty()) {
        c->peer_gone();
        co_return;
      }
      std::size_t queued_before = c->queue_.size();
      if (!c->parser_.feed(data)) {
        // As aiohttp's data_received: the requests of the chunk that failed are not answered.
        while (c->queue_.size() > queued_before && !c->queue_.back()->dispatched) c->queue_.pop_back();
        c->parse_failed();
        co_return;
      }
      if (c->parser_.upgraded()) {  // the rest of the stream is not HTTP: read no further
        c->reader_done_ = true;
        c->wake_.set();
        co_return;
      }
    }
  }

  void peer_gone() {
    reader_done_ = true;
    peer_closed_ = true;
    if (receiving_) {
      // A body cut short: the handler's reads raise what aiohttp's do.
      receiving_->payload.set_exception(std::make_exception_ptr(ConnectionResetError("Connection lost")));
      if (!receiving_->dispatched) std::erase(queue_, receiving_);
      receiving_.reset();
    }
    if (busy_ && srv_->opts.handler_cancellation) cancel();
    wake_.set();
  }

  void parse_failed() {
    reader_done_ = true;
    error_ = parser_.error();
    if (receiving_) {
      if (!receiving_->dispatched) {
        std::erase(queue_, receiving_);  // answered by the 400 in its place
      } else {
        HTTPBadRequest e(HTTPException::Options{.text = error_->text});
        receiving_->payload.set_exception(std::make_exception_ptr(e));
        error_.reset();  // the handler's read raises it (a 400 unless it catches); then close
        force_close_ = true;
      }
      receiving_.reset();
    }
    wake_.set();
  }

  Task<void> run();
  Task<bool> send_file(Request& req, Response& resp, bool keep);
  Task<void> answer_bad_request();
  void fill_request(Request& req, Pending& p);

  std::shared_ptr<ServerState> srv_;
  StreamReader reader_;
  StreamWriter writer_;
  RequestParser parser_;
  std::deque<std::shared_ptr<Pending>> queue_;
  std::shared_ptr<Pending> receiving_;
  std::optional<ParseError> error_;
  Event wake_;      // a request (or an error, or the end) for the handler task
  Event progress_;  // a request done: the reader may go on
  TaskPtr task_;
  bool reader_done_ = false;
  bool peer_closed_ = false;
  bool closing_ = false;
  bool busy_ = false;
  bool gone_ = false;
  bool force_close_ = false;
};

inline void Connection::fill_request(Request& req, Pending& p) {
  RequestHead& h = p.head;
  req.method_ = h.method;
  req.raw_path_ = h.url;
  std::string_view target = h.url;
  // absolute-form ("http://host/path"): the path is what follows the authority
  if (auto s = target.find("://"); s != std::string_view::npos && target.substr(0, 1) != "/") {
    auto slash = target.find('/', s + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  std::string_view path = target;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    req.query_string_ = std::string(target.substr(q + 1));
    if (auto f = req.query_string_.find('#'); f != std::string::npos) req.query_string_.resize(f);
  }
  if (auto f = path.find('#'); f != std::string_view::npos) path = path.substr(0, f);
  req.match_path_ = std::string(path);
  req.path_ = unquote(path, false);
  req.query_ = parse_qsl(req.query_string_);
  for (auto& [k, v] : h.headers) req.headers_.add(k, v);
  req.version_major_ = h.version_major;
  req.version_minor_ = h.version_minor;
  req.keep_alive_ = h.keep_alive;
  req.has_body_ = h.has_body;
  req.content_ = p.payload;
  req.app_ = &srv_->app;
  req.conn_ = this;
}

inline Task<void> Connection::answer_bad_request() {
  const std::string& text = error_->text;
  std::string out = response_head(1, 0, error_->status, {}, Headers{}, "text/plain; charset=utf-8", text.size(),
                                  false, false);
  out += text;
  auto t = send(std::move(out));
  co_await std::move(t);
}

/// A FileResponse's head and bytes (pread, 256 KiB at a time, each drained). False when the
/// client went away or the file could not be read to the end (the connection then closes: its
/// Content-Length was promised).
inline Task<bool> Connection::send_file(Request& req, Response& resp, bool keep) {
  FileBody& f = *resp.file_;
  unsigned long long a = 0, b = f.size;
  int status = resp.status;
  Headers headers = resp.headers;
  headers.set("Etag", f.etag);
  headers.set("Last-Modified", http_date_of(f.mtime));
  headers.set("Accept-Ranges", "bytes");
  std::optional<std::pair<unsigned long long, unsigned long long>> range;
  std::exception_ptr bad;
  try {
    range = byte_range(req.headers(), f.size);
  } catch (const HTTPException&) {
    bad = std::current_exception();
  }
  if (bad) {
    // aiohttp 3.8.4's 416: Content-Range "bytes */<size>" and an empty chunked body.
    Headers h416;
    h416.set("Content-Range", "bytes */" + std::to_string(f.size));
    bool chunked = req.version() >= std::pair<int, int>{1, 1};
    std::string out = response_head(req.version_major_, req.version_minor_, 416, {}, h416, "application/octet-stream",
                                    chunked ? std::nullopt : std::optional<std::size_t>(0), chunked, keep, false);
    if (chunked && req.method_ != "HEAD") out += "0\r\n\r\n";
    auto t = send(std::move(out));
    bool ok = co_await std::move(t);
    co_return ok;
  }
  if (range) {
    a = range->first;
    b = range->second;
    status = 206;
    headers.set("Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b - 1) + "/" + std::to_string(f.size));
  }
  std::string ct = resp.content_type.empty() ? f.content_type : resp.content_type;
  std::string head = response_head(req.version_major_, req.version_minor_, status, resp.reason, headers, ct,
                                   static_cast<std::size_t>(b - a), false, keep, true, &resp.cookies_);
  auto th = send(std::move(head));
  bool sent = co_await std::move(th);
  if (!sent) co_return false;
  if (req.method_ == "HEAD") co_return true;
  constexpr std::size_t kChunk = std::size_t(256) << 10;
  // Plain TCP: sendfile(2), the kernel moving file pages to the socket (aiohttp's loop.sendfile),
  // whenever nothing waits in the writer (what is queued must go first). A full socket
  // (EAGAIN) sends one chunk the usual way, whose drain waits for room; TLS always does.
  int sock = -1;
  if (writer_.can_write_eof()) sock = writer_.get_extra_info<int>("socket").value_or(-1);
  std::string buf;
  std::size_t since_yield = 0;
  while (a < b) {
    if (sock >= 0 && writer_.write_buffer_size() == 0 && !gone()) {
      off_t off = static_cast<off_t>(a);
      ssize_t k = ::sendfile(sock, f.fd, &off, static_cast<std::size_t>(std::min<unsigned long long>(4 * kChunk, b - a)));
      if (k > 0) {
        a += static_cast<unsigned long long>(k);
        since_yield += static_cast<std::size_t>(k);
        if (since_yield >= (std::size_t(8) << 20)) {  // a fast client: let the loop run between 8 MiB
          since_yield = 0;
          co_await sleep(0);
        }
        continue;
      }
      if (k == 0) co_return false;  // truncated under us
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) sock = -1;  // (then pread + write)
    }
    std::size_t want = static_cast<std::size_t>(std::min<unsigned long long>(kChunk, b - a));
    buf.resize(want);
    ssize_t k = ::pread(f.fd, buf.data(), want, static_cast<off_t>(a));
    if (k <= 0) co_return false;  // truncated under us: the promised length cannot be kept
    buf.resize(static_cast<std::size_t>(k));
    a += static_cast<unsigned long long>(k);
    auto t = send(std::move(buf));
    bool ok = co_await std::move(t);
    if (!ok) co_return false;
    buf = std::string();
  }
  co_return true;
}

inline Task<void> Connection::run() {
  const double keepalive = srv_->opts.keepalive_timeout.count();
  for (;;) {
    while (queue_.empty() && !error_ && !reader_done_ && !closing_) {
      wake_.clear();
      bool timed_out = false;
      try {
        auto w = wait_for(wake_.wait(), keepalive);
        co_await w;
      } catch (const TimeoutError&) {
        timed_out = true;
      }
      if (timed_out) co_return;  // idle past keepalive_timeout (or a head that never ended)
    }
    if (queue_.empty()) {
      if (error_) co_await answer_bad_request();
      co_return;
    }
    std::shared_ptr<Pending> p = queue_.front();
    queue_.pop_front();
    p->dispatched = true;
    progress_.set();

    Request req;
    fill_request(req, *p);
    Response resp;
    std::exception_ptr unhandled;
    busy_ = true;
    try {
      resp = co_await srv_->app.handle(req);
    } catch (const HTTPException& e) {
      resp = e.to_response();
    } catch (const std::exception&) {
      unhandled = std::current_exception();
    }
    busy_ = false;
    p->discard = true;  // what the handler did not read of the body is dropped
    progress_.set();
    if (unhandled) {
      // aiohttp: log "Error handling request" with the traceback, answer 500, close.
      get_running_loop().call_exception_handler({"Error handling request", unhandled, task_ ? task_->get_name() : ""});
      resp = Response{.text = "500 Internal Server Error\n\nServer got itself in trouble",
                      .status = 500,
                      .content_type = "text/plain; charset=utf-8"};
      force_close_ = true;
      if (req.out_.prepared) co_return;  // a streamed answer was under way: it cannot be a 500 now
    }
    bool keep = req.keep_alive_ && !force_close_ && !closing_;
    if (auto conn = resp.headers.get("Connection"); conn && iequals(*conn, "close")) keep = false;

    if (resp.file_ && !req.out_.prepared) {
      auto t = send_file(req, resp, keep);
      bool ok = co_await std::move(t);
      if (!ok) keep = false;
    } else if (req.out_.prepared) {
      // A StreamResponse: end it if the handler did not.
      if (!req.out_.eof) {
        std::string tail = req.out_.chunked ? "0\r\n\r\n" : "";
        req.out_.eof = true;
        if (!tail.empty()) {
          auto t = send(std::move(tail));
          co_await std::move(t);
        }
      }
      if (req.out_.close_after) keep = false;
    } else {
      std::string body;
      std::string ct = resp.content_type;
      bool ct_first = !ct.empty() || (!resp.body && resp.text);
      if (resp.body) {
        body = std::move(*resp.body);
        if (ct.empty()) ct = "application/octet-stream";
      } else if (resp.text) {
        body = std::move(*resp.text);
        if (ct.empty()) ct = "text/plain";
        if (ct.find("charset") == std::string::npos && (ct.rfind("text/", 0) == 0 || ct == "application/json"))
          ct += "; charset=utf-8";
      } else if (ct.empty()) {
        ct = "application/octet-stream";
      }
      bool no_body = resp.status == 204 || resp.status == 304 || (resp.status >= 100 && resp.status < 200);
      const char* encoding = "";
      if (resp.compression_ != Compression::off) {
        ContentCoding c = choose_coding(resp.compression_, req);
        if (c != ContentCoding::identity) {  // aiohttp compresses the whole body at once
          Deflater d(c);
          body = d.run(body, true);
          encoding = coding_name(c);
        }
      }
      std::optional<std::size_t> len;
      if (!no_body) len = body.size();
      std::string out = response_head(req.version_major_, req.version_minor_, resp.status, resp.reason, resp.headers,
                                      no_body ? std::string() : ct, len, false, keep, ct_first, &resp.cookies_, true,
                                      encoding);
      if (req.method_ != "HEAD" && !no_body) out += body;
      auto t = send(std::move(out));
      co_await std::move(t);
    }
    if (!keep || gone()) co_return;
  }
}

/// The handler chain of one request, built outside any coroutine (GCC 12: no capturing lambdas
/// in coroutine bodies).
inline Handler build_chain(std::vector<Middleware>& mws, Handler inner) {
  for (auto it = mws.rbegin(); it != mws.rend(); ++it) {
    Middleware* mw = &*it;
    inner = [mw, next = std::move(inner)](Request& r) -> Task<Response> { return (*mw)(r, next); };
  }
  return inner;
}
inline Handler raise_handler(std::exception_ptr e) {
  return [e](Request&) -> Task<Response> { std::rethrow_exception(e); };
}

/// aiohttp answers Expect: 100-continue before the handler runs (and 417 to other expectations).
inline Task<void> handle_expect(Request& req, Connection* conn) {
  auto expect = req.headers().get("Expect");
  if (!expect || req.version() != std::pair<int, int>{1, 1}) co_return;
  if (!iequals(*expect, "100-continue")) throw HTTPExpectationFailed(HTTPException::Options{.text = "Unknown Expect: " + *expect});
  if (!conn) co_return;
  std::string line = "HTTP/1.1 100 Continue\r\n\r\n";
  auto t = conn->send(std::move(line));
  co_await std::move(t);
}

}  // namespace detail

// ------------------------------------------------------------------------------------ Application

inline Task<Response> Application::handle(Request& request) {
  Handler inner;
  bool found = false;
  try {
    inner = router_.resolve(request.method(), request.match_path_, request.match_info_);
    found = true;
  } catch (const HTTPException&) {
    inner = detail::raise_handler(std::current_exception());
  }
  if (found) co_await detail::handle_expect(request, request.conn_);
  Handler chain = detail::build_chain(middlewares_, std::move(inner));
  auto t = chain(request);
  Response r = co_await std::move(t);
  co_return r;
}

// ------------------------------------------------------------------------------------ Request

inline std::map<std::string, std::string> Request::cookies() const {
  std::map<std::string, std::string> out;
  for (auto& line : headers_.getall("Cookie")) {
    std::string_view s = line;
    while (!s.empty()) {
      std::size_t semi = s.find(';');
      std::string_view part = detail::trim(s.substr(0, semi));
      s = semi == std::string_view::npos ? std::string_view() : s.substr(semi + 1);
      std::size_t eq = part.find('=');
      if (eq == std::string_view::npos || eq == 0) continue;
      std::string_view v = detail::trim(part.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      out.emplace(std::string(detail::trim(part.substr(0, eq))), std::string(v));
    }
  }
  return out;
}

namespace detail {
inline void CookieList::set(const std::string& name, const std::string& value, const CookieOptions& o) {
  auto it = std::find_if(items_.begin(), items_.end(), [&](const Item& i) { return i.name == name; });
  if (it == items_.end()) {
    items_.push_back(Item{name, {}, {}});
    it = items_.end() - 1;
  }
  it->value = value;
  auto& a = it->attrs;  // aiohttp's StreamResponse.set_cookie, key by key
  if (!o.expires.empty())
    a["expires"] = o.expires;
  else if (a.count("expires") && a["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT")
    a.erase("expires");
  if (!o.domain.empty()) a["domain"] = o.domain;
  if (o.max_age)
    a["max-age"] = std::to_string(*o.max_age);
  else
    a.erase("max-age");
  a["path"] = o.path;
  if (o.secure) a["secure"] = *o.secure ? "1" : "";
  if (o.httponly) a["httponly"] = *o.httponly ? "1" : "";
  if (!o.samesite.empty()) a["samesite"] = o.samesite;
}
inline void CookieList::del(const std::string& name, const std::string& domain, const std::string& path) {
  std::erase_if(items_, [&](const Item& i) { return i.name == name; });
  set(name, "", CookieOptions{.expires = "Thu, 01 Jan 1970 00:00:00 GMT", .domain = domain, .max_age = 0, .path = path});
}
inline std::vector<std::string> CookieList::lines() const {
  // Python's Morsel.OutputString: name=coded value, then the set attributes in key order,
  // flags (httponly, secure) by name only.
  static const std::map<std::string, std::string> spelled{{"domain", "Domain"},   {"expires", "expires"},
                                                          {"httponly", "HttpOnly"}, {"max-age", "Max-Age"},
                                                          {"path", "Path"},       {"samesite", "SameSite"},
                                                          {"secure", "Secure"}};
  std::vector<std::string> out;
  for (const Item& i : items_) {
    std::string line = i.name + "=" + asyncio::detail::quote_cookie_value(i.value);
    for (auto& [k, v] : i.attrs) {
      if (v.empty()) continue;
      line += "; " + spelled.at(k);
      if (k != "httponly" && k != "secure") line += "=" + v;
    }
    out.push_back(std::move(line));
  }
  return out;
}
}  // namespace detail

inline void StreamResponse::enable_compression() {
  if (req_) throw RuntimeError("Cannot enable compression after prepare()");
  compression_ = detail::Compression::accept;
}
inline void StreamResponse::enable_compression(ContentCoding force) {
  if (req_) throw RuntimeError("Cannot enable compression after prepare()");
  compression_ = detail::forced(force);
}

inline void StreamResponse::set_cookie(const std::string& name, const std::string& value, const CookieOptions& o) {
  if (req_) throw RuntimeError("Cannot change cookies after prepare()");
  cookies_.set(name, value, o);
}
inline void StreamResponse::del_cookie(const std::string& name, const std::string& domain, const std::string& path) {
  if (req_) throw RuntimeError("Cannot change cookies after prepare()");
  cookies_.del(name, domain, path);
}

// (A server connection is a socket, and the only socket that cannot write EOF is a TLS one.)
inline std::string Request::scheme() const { return conn_ && !conn_->writer().can_write_eof() ? "https" : "http"; }
inline std::string Request::remote() const { return conn_ ? conn_->writer().get_extra_info("peername").first : ""; }

inline std::string Request::content_type() const {
  auto ct = headers_.get("Content-Type");
  if (!ct) return "application/octet-stream";
  std::string_view v = *ct;
  v = detail::trim(v.substr(0, v.find(';')));
  std::string out(v);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

inline std::optional<unsigned long long> Request::content_length() const {
  auto cl = headers_.get("Content-Length");
  if (!cl) return std::nullopt;
  try {
    return std::stoull(*cl);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

inline StreamWriter& Request::transport() const {
  if (!conn_) throw RuntimeError("request has no connection");
  return conn_->writer();
}

inline Task<std::string> Request::read() {
  if (body_) co_return *body_;
  const std::size_t max = app_ ? app_->client_max_size() : 0;
  std::string body;
  for (;;) {
    std::string chunk = co_await content_.read(65536);
    if (chunk.empty()) break;
    if (conn_) conn_->body_consumed();
    body += chunk;
    // As aiohttp: a body reaching client_max_size is refused (>=), reporting what was read.
    if (max && body.size() >= max) throw HTTPRequestEntityTooLarge(max, body.size());
  }
  body_ = body;
  co_return body;
}

inline Task<std::string> Request::text() {
  std::string b = co_await read();
  co_return b;
}

inline Task<nlohmann::json> Request::json() {
  std::string b = co_await read();
  co_return nlohmann::json::parse(b);
}

namespace detail {
/// A multipart/form-data body, parsed by GMime (in the asyncio::web library, src/web_multipart.cpp,
/// so that GMime's headers and flags stay out of programs). Fills `files` with the file fields
/// and returns every field, a file's value being its content.
MultiDict parse_multipart(const std::string& content_type, const std::string& body, std::vector<FileField>& files);
}  // namespace detail

inline Task<MultiDict> Request::post() {
  std::string ct = content_type();
  if (ct == "multipart/form-data") {
    std::string b = co_await read();
    files_.clear();
    co_return detail::parse_multipart(headers_.get("Content-Type", ""), b, files_);
  }
  if (ct != "application/x-www-form-urlencoded") co_return MultiDict{};
  std::string b = co_await read();
  co_return detail::parse_qsl(b);
}

// ------------------------------------------------------------------------------------ StreamResponse

namespace detail {
inline Task<void> send_nothing() { co_return; }
inline Task<void> send_checked(Connection* conn, std::string frame) {
  if (!conn) co_return;
  auto t = conn->send(std::move(frame));
  bool ok = co_await std::move(t);
  if (!ok) throw ConnectionResetError("Cannot write to closing transport");
}
}  // namespace detail


inline void StreamResponse::set_status(int status, std::string reason) {
  if (req_) throw RuntimeError("Cannot change the response status code after the headers have been sent");
  status_ = status;
  reason_ = std::move(reason);
}

inline Task<void> StreamResponse::prepare(Request& request) {
  if (req_) co_return;
  if (request.out_.prepared) throw RuntimeError("a response was already prepared for this request");
  req_ = &request;
  auto& out = request.out_;
  out.prepared = true;
  bool http11 = request.version() >= std::pair<int, int>{1, 1};
  out.head = request.method_ == "HEAD";  // headers only: what write() is given is dropped
  const char* encoding = "";
  if (compression_ != detail::Compression::off) {
    ContentCoding c = detail::choose_coding(compression_, request);
    if (c != ContentCoding::identity) {  // the length is no longer known: chunked (aiohttp)
      deflater_ = std::make_shared<detail::Deflater>(c);
      encoding = detail::coding_name(c);
      content_length_.reset();
    }
  }
  out.chunked = (chunked_forced_ || !content_length_) && http11 && !out.head;
  bool keep = request.keep_alive_;
  if (!content_length_ && !http11) {
    keep = false;  // the body ends with the connection
  }
  out.close_after = !keep;
  std::optional<std::size_t> len;
  if (content_length_ && !out.chunked) len = static_cast<std::size_t>(*content_length_);
  std::string head = detail::response_head(request.version_major_, request.version_minor_, status_, reason_, headers_,
                                           content_type(), len, out.chunked, keep, !content_type_.empty(), &cookies_, false,
                                           encoding);
  if (!request.conn_) co_return;
  auto t = request.conn_->send(std::move(head));
  co_await std::move(t);
}

inline Task<void> StreamResponse::write(std::string_view data) {
  if (!req_) throw RuntimeError("Cannot call write() before prepare()");
  if (req_->out_.eof) throw RuntimeError("Cannot call write() after write_eof()");
  if (data.empty() || req_->out_.head) return detail::send_nothing();
  std::string packed;
  if (deflater_) {  // what zlib gives now (maybe nothing: it holds small inputs back)
    packed = deflater_->run(data, false);
    if (packed.empty()) return detail::send_nothing();
    data = packed;
  }
  std::string frame;
  if (req_->out_.chunked) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%zx\r\n", data.size());
    frame = buf;
    frame += data;
    frame += "\r\n";
  } else {
    frame = std::string(data);
  }
  return detail::send_checked(req_->conn_, std::move(frame));
}

inline Task<void> StreamResponse::write_eof(std::string_view data) {
  if (!req_) throw RuntimeError("Cannot call write_eof() before prepare()");
  if (req_->out_.eof) return detail::send_nothing();
  if (req_->out_.head) {
    req_->out_.eof = true;
    return detail::send_nothing();
  }
  std::string packed;
  if (deflater_) {  // the rest zlib held back, and its end
    packed = deflater_->run(data, true);
    deflater_.reset();
    data = packed;
  }
  std::string frame;
  if (req_->out_.chunked) {
    if (!data.empty()) {
      char buf[24];
      std::snprintf(buf, sizeof buf, "%zx\r\n", data.size());
      frame = buf;
      frame += data;
      frame += "\r\n";
    }
    frame += "0\r\n\r\n";
  } else {
    frame = std::string(data);
  }
  req_->out_.eof = true;
  return detail::send_checked(req_->conn_, std::move(frame));
}


// ------------------------------------------------------------------------------------ WebSocketResponse

inline std::string WebSocketResponse::handshake(const Request& request, Headers& out) const {
  const Headers& h = request.headers();
  if (request.method() != "GET") throw HTTPMethodNotAllowed(request.method(), {"GET"});
  auto lower = [](std::string v) {
    for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v;
  };
  auto repr = [](const std::optional<std::string>& v) { return v ? "'" + *v + "'" : std::string("None"); };
  auto upgrade = h.get("Upgrade");
  if (std::string(detail::trim(lower(upgrade.value_or("")))) != "websocket")
    throw HTTPBadRequest(HTTPException::Options{
        .text = "No WebSocket UPGRADE hdr: " + upgrade.value_or("None") + "\n Can \"Upgrade\" only to \"WebSocket\"."});
  auto connection = h.get("Connection");
  if (lower(connection.value_or("")).find("upgrade") == std::string::npos)
    throw HTTPBadRequest(HTTPException::Options{.text = "No CONNECTION upgrade hdr: " + connection.value_or("None")});
  std::string protocol;
  if (auto p = h.get("Sec-WebSocket-Protocol")) {
    std::string_view rest = *p;
    while (protocol.empty() && !rest.empty()) {
      auto comma = rest.find(',');
      std::string one(detail::trim(rest.substr(0, comma)));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      for (auto& mine : opts_.protocols)
        if (mine == one) protocol = one;
    }
  }
  auto version = h.get("Sec-WebSocket-Version");
  std::string v = version.value_or("");
  if (v != "13" && v != "8" && v != "7") throw HTTPBadRequest(HTTPException::Options{.text = "Unsupported version: " + version.value_or("None")});
  auto key = h.get("Sec-WebSocket-Key");
  auto raw = key ? asyncio::detail::ws::base64_decode(*key) : std::nullopt;
  if (!raw || raw->size() != 16) throw HTTPBadRequest(HTTPException::Options{.text = "Handshake error: " + repr(key)});
  out.set("Upgrade", "websocket");
  out.set("Connection", "upgrade");
  out.set("Sec-WebSocket-Accept", asyncio::detail::ws::accept_key(*key));
  if (!protocol.empty()) out.set("Sec-WebSocket-Protocol", protocol);
  return protocol;
}

inline WebSocketResponse::CanPrepare WebSocketResponse::can_prepare(const Request& request) const {
  Headers ignored;
  try {
    std::string p = handshake(request, ignored);
    return CanPrepare{true, p};
  } catch (const HTTPException&) {
    return CanPrepare{};
  }
}

inline Task<void> WebSocketResponse::prepare(Request& request) {
  if (core_) co_return;
  Headers h;
  std::string protocol = handshake(request, h);
  if (request.out_.prepared) throw RuntimeError("a response was already prepared for this request");
  detail::Connection* conn = request.conn_;
  if (!conn) throw RuntimeError("WebSocketResponse.prepare() needs a request received by the server");
  request.out_.prepared = true;
  request.out_.eof = true;          // nothing for the server to end after the handler
  request.out_.close_after = true;  // the connection is the WebSocket's, and ends with it
  std::string head = "HTTP/1.1 101 Switching Protocols\r\n";
  for (auto& [k, v] : h) head += k + ": " + v + "\r\n";
  head += "Date: " + detail::http_date() + "\r\nServer: " + std::string(detail::kServerHeader) + "\r\n\r\n";
  auto t = conn->send(std::move(head));
  bool ok = co_await std::move(t);
  if (!ok) throw ConnectionResetError("Connection lost");
  protocol_ = std::move(protocol);
  asyncio::detail::ws::CoreOptions co = asyncio::detail::ws::core_options_of(opts_);
  auto core = std::make_shared<asyncio::detail::ws::Core>(true, conn->reader(), conn->writer(), co);
  auto& list = conn->server()->websockets;
  std::erase_if(list, [](const auto& w) { return w.expired(); });
  list.push_back(core);
  attach(std::move(core), conn->take_upgrade_rest());
}

namespace detail {
/// Shutdown: every open WebSocket gets a 1001 close, concurrently, each bounded by its close
/// timeout (and the whole by the runner's shutdown timeout, which cancels what is left).
inline Task<void> close_websockets(ServerState& st) {
  std::vector<TaskHandle<bool>> closing;
  for (auto& w : st.websockets)
    if (auto c = w.lock(); c && !c->closed())
      closing.push_back(create_task(asyncio::detail::ws::Core::close(c, WSCloseCode::GOING_AWAY, "Server shutdown")));
  st.websockets.clear();
  for (auto& t : closing) {
    try {
      co_await t;
    } catch (const std::exception&) {
    }
  }
}
}  // namespace detail

// ------------------------------------------------------------------------------------ runner, sites

inline AppRunner::AppRunner(Application& app, AppRunnerOptions o)
    : app_(app), opts_(o), state_(std::make_shared<detail::ServerState>(app, o)) {
  state_->all_closed.set();
}
inline AppRunner::~AppRunner() = default;

inline std::size_t AppRunner::connections() const noexcept { return state_->conns.size(); }

inline Task<void> AppRunner::setup() {
  if (set_up_) throw RuntimeError("AppRunner is already set up");
  set_up_ = true;
  for (auto& ctx : app_.cleanup_ctx_) {  // aiohttp runs them first (its on_startup's first entry)
    app_.cleanup_exits_.push_back(ctx(app_));
    auto first = app_.cleanup_exits_.back().anext();
    co_await std::move(first);
  }
  for (auto& hook : app_.on_startup()) {
    auto t = hook(app_);
    co_await std::move(t);
  }
}

namespace detail {
/// aiohttp's CleanupContext._on_cleanup: resume every started generator, the last first; one
/// that yields again is an error; every one runs, then the first error is raised.
inline Task<void> run_cleanup_ctx(std::vector<AsyncGenerator<int>>& exits) {
  std::exception_ptr first;
  while (!exits.empty()) {
    AsyncGenerator<int> gen = std::move(exits.back());
    exits.pop_back();
    try {
      auto next = gen.anext();
      std::optional<int> again = co_await std::move(next);
      if (again) throw RuntimeError("cleanup_ctx generator has more than one 'yield'");
    } catch (const CancelledError&) {
      throw;
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}
}  // namespace detail

inline Task<void> AppRunner::cleanup() {
  if (!set_up_) co_return;
  set_up_ = false;
  while (!sites_.empty()) sites_.back()->stop();  // (stop() takes the site off the list)
  for (auto& hook : app_.on_shutdown()) {
    auto t = hook(app_);
    co_await std::move(t);
  }
  co_await detail::close_websockets(*state_);
  // Idle connections close now; busy ones finish their request (no keep-alive after it).
  state_->shutting_down = true;
  for (auto* c : state_->conns) c->close_soon();
  if (!state_->conns.empty()) {
    try {
      auto w = wait_for(state_->all_closed.wait(), opts_.shutdown_timeout.count());
      co_await w;
    } catch (const TimeoutError&) {
    }
  }
  if (!state_->conns.empty()) {
    for (auto* c : state_->conns) c->cancel();
    auto w = state_->all_closed.wait();
    co_await w;
  }
  state_->shutting_down = false;
  auto ctx = detail::run_cleanup_ctx(app_.cleanup_exits_);
  co_await std::move(ctx);
  for (auto& hook : app_.on_cleanup()) {
    auto t = hook(app_);
    co_await std::move(t);
  }
}

namespace detail {
/// start_server's callback: each connection runs Connection::serve.
inline ClientConnectedCallback connection_callback(std::shared_ptr<ServerState> st) {
  return [st](StreamReader r, StreamWriter w) -> Task<void> { return Connection::serve(st, std::move(r), std::move(w)); };
}
inline void install_stop_signals(EventLoop& loop, Event* ev) {
  loop.add_signal_handler(SIGINT, [ev] { ev->set(); });
  loop.add_signal_handler(SIGTERM, [ev] { ev->set(); });
}
}  // namespace detail

inline void BaseSite::check_runner() const {
  if (!runner_.set_up_) throw RuntimeError("Call runner.setup() before making a site");
}
inline ClientConnectedCallback BaseSite::connection_callback() const { return detail::connection_callback(runner_.state_); }
inline void BaseSite::started(Server server) {
  server_ = std::move(server);
  runner_.sites_.push_back(this);
  listening_ = true;
}
inline bool BaseSite::close_server() noexcept {
  server_.close();
  std::erase(runner_.sites_, this);
  return std::exchange(listening_, false);
}

inline Task<void> TCPSite::start() {
  check_runner();
  ServerOptions so{.backlog = opts_.backlog, .reuse_address = opts_.reuse_address, .reuse_port = opts_.reuse_port,
                   .ssl = opts_.ssl_context};
  auto t = start_server(connection_callback(), host_, port_, so);
  Server server = co_await std::move(t);
  started(std::move(server));
}

inline Task<void> SockSite::start() {
  check_runner();
  ServerOptions so{.backlog = opts_.backlog, .ssl = opts_.ssl_context, .sock = sock_};
  auto t = start_server(connection_callback(), std::move(so));
  Server server = co_await std::move(t);
  started(std::move(server));
}
inline std::string SockSite::name() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  std::string scheme = opts_.ssl_context ? "https://" : "http://";
  if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return scheme;
  if (ss.ss_family == AF_UNIX) return scheme + "unix:" + reinterpret_cast<sockaddr_un*>(&ss)->sun_path + ":";
  auto [host, port] = asyncio::detail::sockaddr_pair(reinterpret_cast<sockaddr*>(&ss), len);
  return scheme + host + ":" + std::to_string(port);
}

inline Task<void> UnixSite::start() {
  check_runner();
  ServerOptions so{.backlog = opts_.backlog, .ssl = opts_.ssl_context};
  auto t = start_unix_server(connection_callback(), path_, so);
  Server server = co_await std::move(t);
  started(std::move(server));
}

namespace detail {
inline Task<void> run_app_impl(Application& app, RunAppOptions o, Event* stop) {
  AppRunnerOptions ho = o.handler;
  ho.shutdown_timeout = o.shutdown_timeout;
  AppRunner runner(app, ho);
  co_await runner.setup();
  TCPSite site(runner, o.host, o.port, TCPSite::Options{.reuse_port = o.reuse_port, .ssl_context = o.ssl_context});
  std::exception_ptr err;
  Event own;
  Event* ev = stop ? stop : &own;
  EventLoop& loop = get_running_loop();
  try {
    co_await site.start();
    if (o.print) {
      std::printf("======== Running on %s ========\n(Press CTRL+C to quit)\n", site.name().c_str());
      std::fflush(stdout);
    }
    if (!stop) detail::install_stop_signals(loop, ev);
    auto w = ev->wait();
    co_await w;
  } catch (...) {
    err = std::current_exception();
  }
  if (!stop) {
    loop.remove_signal_handler(SIGINT);
    loop.remove_signal_handler(SIGTERM);
  }
  co_await runner.cleanup();
  if (err) std::rethrow_exception(err);
}
}  // namespace detail

inline Task<void> run_app_async(Application& app, RunAppOptions o, Event* stop) {
  return detail::run_app_impl(app, std::move(o), stop);
}

inline void run_app(Application& app, RunAppOptions o) { asyncio::run(detail::run_app_impl(app, std::move(o), nullptr)); }

}  // namespace asyncio::web
