// asyncio/web.hpp — an aiohttp.web-style HTTP/1.1 server.
//
//   asyncio::Task<web::Response> hello(web::Request& req) {
//     co_return web::Response{.text = "Hello, " + req.match_info().at("name")};
//   }
//   web::Application app;
//   app.router().add_get("/hello/{name}", hello);
//   web::run_app(app, {.port = 8080});          // Ctrl-C / SIGTERM: graceful shutdown
//
// or, inside a running loop, aiohttp's lower level:
//   web::AppRunner runner(app); co_await runner.setup();
//   web::TCPSite site(runner, "127.0.0.1", 0); co_await site.start();  // site.port()
//   ... co_await runner.cleanup();
//
// Requests are parsed by llhttp (the parser of Node.js and of aiohttp itself), built into the
// static library asyncio::web from Debian's node-llhttp; nothing here parses HTTP by hand.
// Connections run on the library's own streams (start_server, StreamReader/StreamWriter). What
// aiohttp 3.8.4 (Debian's) answers is what this answers: the same status lines, the same texts
// ("404: Not Found", "405: Method Not Allowed" with Allow, "500 Internal Server Error" and
// "Connection: close" when a handler throws something that is not an HTTPException, a 400 with
// llhttp's reason and the connection closed for a request that does not parse), the same
// limits (client_max_size 1 MiB → 413, max_line_size/max_field_size 8190 → 400, keepalive 75 s).
//
// Needs llhttp and nlohmann_json: link the CMake target asyncio::web.
#pragma once

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "asyncio.hpp"
#include "generators.hpp"
#include "detail/web_parser.hpp"
#include "detail/websocket.hpp"

namespace asyncio::web {

using namespace std::chrono_literals;

// ------------------------------------------------------------------------------------ multi-dicts

namespace detail {
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}
struct ExactKey {
  static bool eq(std::string_view a, std::string_view b) noexcept { return a == b; }
};
struct CaseInsensitiveKey {
  static bool eq(std::string_view a, std::string_view b) noexcept { return iequals(a, b); }
};

/// The multidict package's MultiDict / CIMultiDict: ordered (key, value) pairs, a key may repeat.
template <class Key>
class BasicMultiDict {
 public:
  using value_type = std::pair<std::string, std::string>;
  BasicMultiDict() = default;
  BasicMultiDict(std::initializer_list<value_type> il) : items_(il) {}
  BasicMultiDict(std::vector<value_type> v) : items_(std::move(v)) {}

  /// Append a value (keeps the others of that key).
  void add(std::string key, std::string value) { items_.emplace_back(std::move(key), std::move(value)); }
  /// Replace every value of `key` with `value` (Python's d[key] = value).
  void set(std::string key, std::string value) {
    erase(key);
    add(std::move(key), std::move(value));
  }
  /// Remove every value of `key`; how many were removed.
  std::size_t erase(std::string_view key) {
    auto n = items_.size();
    items_.erase(std::remove_if(items_.begin(), items_.end(), [&](const value_type& p) { return Key::eq(p.first, key); }),
                 items_.end());
    return n - items_.size();
  }
  /// The first value of `key`, or std::nullopt (Python's d.get(key)).
  std::optional<std::string> get(std::string_view key) const {
    for (auto& p : items_)
      if (Key::eq(p.first, key)) return p.second;
    return std::nullopt;
  }
  /// The first value of `key`, or `dflt`.
  std::string get(std::string_view key, std::string dflt) const { return get(key).value_or(std::move(dflt)); }
  /// Every value of `key`, in order (empty if none; Python's getall(key, []) ).
  std::vector<std::string> getall(std::string_view key) const {
    std::vector<std::string> out;
    for (auto& p : items_)
      if (Key::eq(p.first, key)) out.push_back(p.second);
    return out;
  }
  bool contains(std::string_view key) const { return get(key).has_value(); }
  /// The first value of `key`; std::out_of_range ("KeyError: 'key'") when absent.
  const std::string& at(std::string_view key) const {
    for (auto& p : items_)
      if (Key::eq(p.first, key)) return p.second;
    throw std::out_of_range("KeyError: '" + std::string(key) + "'");
  }
  const std::string& operator[](std::string_view key) const { return at(key); }
  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }

 private:
  std::vector<value_type> items_;
};
}  // namespace detail

/// multidict.MultiDict: the query string and a form (`getall("a")` for `?a=1&a=2`).
using MultiDict = detail::BasicMultiDict<detail::ExactKey>;
/// multidict.CIMultiDict: request and response headers, names compared case-insensitively.
using CIMultiDict = detail::BasicMultiDict<detail::CaseInsensitiveKey>;
/// Header maps are CIMultiDicts (the server's own type: web.hpp does not need the HTTP client).
using Headers = CIMultiDict;

// ------------------------------------------------------------------------------------ responses

class Request;
namespace detail {
struct FileBody;
}

/// aiohttp's web.ContentCoding: the body encodings enable_compression() can choose.
enum class ContentCoding { deflate, gzip, identity };

namespace detail {
/// A response's compression (enable_compression): off, chosen from Accept-Encoding, or forced.
enum class Compression : unsigned char { off, accept, deflate, gzip, identity };
constexpr Compression forced(ContentCoding c) noexcept {
  return c == ContentCoding::deflate ? Compression::deflate
         : c == ContentCoding::gzip  ? Compression::gzip
                                     : Compression::identity;
}
struct Deflater;  // a zlib stream (web_impl.hpp)
}  // namespace detail

/// aiohttp's set_cookie keyword arguments; an empty string or nullopt is Python's None (the
/// attribute is not sent).
struct CookieOptions {
  std::string expires = {};  // an HTTP date, sent as given
  std::string domain = {};
  std::optional<long long> max_age = std::nullopt;
  std::string path = "/";
  std::optional<bool> secure = std::nullopt;
  std::optional<bool> httponly = std::nullopt;
  std::string samesite = {};  // "Lax", "Strict", "None"
};

namespace detail {
/// A response's cookies (aiohttp's resp.cookies, a SimpleCookie): one Set-Cookie header each,
/// in the order first set, attributes in Python's Morsel order.
class CookieList {
 public:
  void set(const std::string& name, const std::string& value, const CookieOptions& o);
  void del(const std::string& name, const std::string& domain, const std::string& path);
  /// The Set-Cookie header values.
  std::vector<std::string> lines() const;
  bool empty() const noexcept { return items_.empty(); }

 private:
  struct Item {
    std::string name, value;
    std::map<std::string, std::string> attrs;  // Morsel keys ("domain", "max-age", ...), sorted as Python outputs them
  };
  std::vector<Item> items_;
};
}  // namespace detail

/// aiohttp's Response, as an aggregate: `Response{.text = "hi", .status = 201}`. `text` is sent
/// as "text/plain; charset=utf-8" unless content_type says otherwise; `body` (bytes) as
/// "application/octet-stream"; with both, body wins. Content-Length is always set (HEAD gets
/// the headers only). Differs from aiohttp: no charset member (write it into content_type).
struct Response {
  std::optional<std::string> body = std::nullopt;
  std::optional<std::string> text = std::nullopt;
  int status = 200;
  Headers headers = {};
  std::string content_type = {};
  std::string reason = {};  // "" → the standard phrase for status
  std::shared_ptr<detail::FileBody> file_ = nullptr;  // (machinery: set by FileResponse)
  detail::CookieList cookies_ = {};                   // (set_cookie / del_cookie)
  detail::Compression compression_ = detail::Compression::off;  // (enable_compression)

  /// aiohttp's enable_compression(): at send time the body is compressed with the first of
  /// deflate, gzip the request's Accept-Encoding names (aiohttp's order and substring test), with
  /// Content-Encoding and the new Content-Length; with `force`, with that coding whatever the
  /// client said. zlib at its default level, so the bytes are Python's.
  void enable_compression() { compression_ = detail::Compression::accept; }
  void enable_compression(ContentCoding force) { compression_ = detail::forced(force); }

  /// aiohttp's set_cookie: a Set-Cookie header ("name=value; Path=/"; the value quoted as
  /// SimpleCookie does). Setting a name again updates that cookie in place, keeping what
  /// options it had and this call does not give, as aiohttp.
  void set_cookie(const std::string& name, const std::string& value, const CookieOptions& o = {}) {
    cookies_.set(name, value, o);
  }
  /// aiohttp's del_cookie: tells the client to drop it (an empty value, Max-Age=0, an expiry in 1970).
  void del_cookie(const std::string& name, const std::string& domain = {}, const std::string& path = "/") {
    cookies_.del(name, domain, path);
  }
};

/// web.json_response(data, status=200): the JSON dump as "application/json; charset=utf-8".
/// (nlohmann's dump is compact: {"a":1}, where Python's json.dumps writes {"a": 1}.)
inline Response json_response(const nlohmann::json& data, int status = 200) {
  return Response{.text = data.dump(), .status = status, .content_type = "application/json"};
}

/// The standard reason phrase of an HTTP status ("Not Found"), "" if unknown.
std::string_view reason_phrase(int status) noexcept;

/// aiohttp's StreamResponse: headers go out at prepare(), then the body in pieces. Chunked
/// (Transfer-Encoding: chunked) unless content_length is set before prepare(); for an HTTP/1.0
/// client, without length, the body ends with the connection. A handler returns it as a
/// Response (`co_return resp;` converts); the server then ends it if the handler did not.
struct StreamResponseOptions {
  int status = 200;
  std::string reason = {};
  Headers headers = {};
};
class StreamResponse {
 public:
  using Options = StreamResponseOptions;
  StreamResponse() = default;
  explicit StreamResponse(Options o) : status_(o.status), reason_(std::move(o.reason)), headers_(std::move(o.headers)) {}
  StreamResponse(const StreamResponse&) = delete;
  StreamResponse& operator=(const StreamResponse&) = delete;
  StreamResponse(StreamResponse&&) = default;

  int status() const noexcept { return status_; }
  /// RuntimeError once prepared (as aiohttp's assertion).
  void set_status(int status, std::string reason = {});
  Headers& headers() noexcept { return headers_; }
  /// "application/octet-stream" unless set.
  std::string content_type() const { return content_type_.empty() ? "application/octet-stream" : content_type_; }
  void set_content_type(std::string ct) { content_type_ = std::move(ct); }
  std::optional<unsigned long long> content_length() const noexcept { return content_length_; }
  void set_content_length(std::optional<unsigned long long> n) { content_length_ = n; }
  void enable_chunked_encoding() { chunked_forced_ = true; }
  bool prepared() const noexcept { return req_ != nullptr; }
  /// As Response::enable_compression; each write() is compressed (what zlib holds back goes
  /// out with a later write or write_eof(), as aiohttp's), Content-Length dropped: chunked.
  /// RuntimeError after prepare().
  void enable_compression();
  void enable_compression(ContentCoding force);
  /// As Response::set_cookie / del_cookie; sent by prepare() (RuntimeError after it).
  void set_cookie(const std::string& name, const std::string& value, const CookieOptions& o = {});
  void del_cookie(const std::string& name, const std::string& domain = {}, const std::string& path = "/");

  /// Send the status line and headers. A second call does nothing.
  Task<void> prepare(Request& request);
  /// Send `data` (one chunk when chunked) and wait for the socket to drain. RuntimeError before
  /// prepare() or after write_eof(); ConnectionResetError("Cannot write to closing transport")
  /// when the client is gone.
  /// (A plain function: the bytes are framed and queued at the call, the Task drains.)
  Task<void> write(std::string_view data);
  /// End the body (the terminating chunk when chunked), after `data` if any. A second call
  /// does nothing.
  Task<void> write_eof(std::string_view data = {});

  /// `co_return resp;` from a handler: the server sees that a streamed response was sent.
  operator Response() const { return Response{.status = status_}; }

 private:
  int status_ = 200;
  std::string reason_;
  Headers headers_;
  std::string content_type_;
  std::optional<unsigned long long> content_length_;
  bool chunked_forced_ = false;
  detail::CookieList cookies_;
  detail::Compression compression_ = detail::Compression::off;
  std::shared_ptr<detail::Deflater> deflater_;  // while a compressed body is written
  Request* req_ = nullptr;  // the request it answers, once prepared (its state lives there)
};

/// aiohttp's FileResponse: `co_return web::FileResponse(path);` sends the file with
/// Content-Length, Last-Modified and Accept-Ranges: bytes, and answers a Range header as
/// aiohttp does: one range → 206 with Content-Range; an unsatisfiable or malformed one (or
/// several ranges) → 416 with "Content-Range: bytes */<size>". Content-Type from the extension
/// (a small table; application/octet-stream otherwise). Differs: the file is opened when the
/// handler returns, and a missing or unreadable one is HTTPNotFound (aiohttp 3.8 fails later,
/// with a 500). On plain TCP the bytes go out by sendfile(); over TLS by pread() and the writer.
class FileResponse {
 public:
  explicit FileResponse(std::string path, int status = 200, Headers headers = {})
      : path_(std::move(path)), status_(status), headers_(std::move(headers)) {}
  operator Response() const;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  int status_;
  Headers headers_;
};

// ------------------------------------------------------------------------------------ exceptions

/// aiohttp's web.HTTPException family: thrown from a handler (or a middleware), it becomes the
/// response — status, reason, `text` (default "<status>: <reason>", as aiohttp), headers.
/// Differs from aiohttp 3.8: it is an exception only, not also a Response (aiohttp 4's shape);
/// a middleware that wants the response catches it and calls to_response().
struct HTTPExceptionOptions {
  std::optional<std::string> text = std::nullopt;
  Headers headers = {};
  std::string reason = {};
  std::string content_type = {};
};
class HTTPException : public std::runtime_error {
 public:
  using Options = HTTPExceptionOptions;
  HTTPException(int status, Options o = {})
      : std::runtime_error(make_reason(status, o.reason)),
        status_(status),
        reason_(make_reason(status, o.reason)),
        text_(o.text ? std::move(*o.text) : std::to_string(status) + ": " + reason_),
        headers_(std::move(o.headers)),
        content_type_(std::move(o.content_type)) {}
  int status() const noexcept { return status_; }
  /// aiohttp's status_code.
  int status_code() const noexcept { return status_; }
  const std::string& reason() const noexcept { return reason_; }
  const std::string& text() const noexcept { return text_; }
  const Headers& headers() const noexcept { return headers_; }
  Headers& headers() noexcept { return headers_; }
  /// The response it stands for.
  Response to_response() const {
    return Response{.text = text_, .status = status_, .headers = headers_, .content_type = content_type_, .reason = reason_};
  }

 private:
  static std::string make_reason(int status, const std::string& r) {
    return r.empty() ? std::string(reason_phrase(status)) : r;
  }
  int status_;
  std::string reason_;
  std::string text_;
  Headers headers_;
  std::string content_type_;
};

class HTTPError : public HTTPException {
 public:
  using HTTPException::HTTPException;
};
class HTTPSuccessful : public HTTPException {
 public:
  using HTTPException::HTTPException;
};
class HTTPRedirection : public HTTPException {
 public:
  using HTTPException::HTTPException;
};
class HTTPClientError : public HTTPError {
 public:
  using HTTPError::HTTPError;
};
class HTTPServerError : public HTTPError {
 public:
  using HTTPError::HTTPError;
};
/// A redirect with a Location (aiohttp's HTTPMove): ValueError for an empty location.
class HTTPMove : public HTTPRedirection {
 public:
  HTTPMove(int status, std::string location, Options o = {}) : HTTPRedirection(status, with_location(location, std::move(o))),
                                                                location_(std::move(location)) {}
  const std::string& location() const noexcept { return location_; }

 private:
  static Options with_location(const std::string& location, Options o) {
    if (location.empty()) throw ValueError("HTTP redirects need a location to redirect to.");
    o.headers.set("Location", location);
    return o;
  }
  std::string location_;
};

// One class per status, as aiohttp names them (web_exceptions.py).
#define ASYNCIO_WEB_HTTP_STATUS(Name, Base, code) \
  class Name : public Base {                       \
   public:                                         \
    explicit Name(Options o = {}) : Base(code, std::move(o)) {} \
  };
#define ASYNCIO_WEB_HTTP_MOVE(Name, code) \
  class Name : public HTTPMove {          \
   public:                                \
    explicit Name(std::string location, Options o = {}) : HTTPMove(code, std::move(location), std::move(o)) {} \
  };
ASYNCIO_WEB_HTTP_STATUS(HTTPOk, HTTPSuccessful, 200)
ASYNCIO_WEB_HTTP_STATUS(HTTPCreated, HTTPSuccessful, 201)
ASYNCIO_WEB_HTTP_STATUS(HTTPAccepted, HTTPSuccessful, 202)
ASYNCIO_WEB_HTTP_STATUS(HTTPNoContent, HTTPSuccessful, 204)
ASYNCIO_WEB_HTTP_MOVE(HTTPMultipleChoices, 300)
ASYNCIO_WEB_HTTP_MOVE(HTTPMovedPermanently, 301)
ASYNCIO_WEB_HTTP_MOVE(HTTPFound, 302)
ASYNCIO_WEB_HTTP_MOVE(HTTPSeeOther, 303)
ASYNCIO_WEB_HTTP_STATUS(HTTPNotModified, HTTPRedirection, 304)
ASYNCIO_WEB_HTTP_MOVE(HTTPTemporaryRedirect, 307)
ASYNCIO_WEB_HTTP_MOVE(HTTPPermanentRedirect, 308)
ASYNCIO_WEB_HTTP_STATUS(HTTPBadRequest, HTTPClientError, 400)
ASYNCIO_WEB_HTTP_STATUS(HTTPUnauthorized, HTTPClientError, 401)
ASYNCIO_WEB_HTTP_STATUS(HTTPPaymentRequired, HTTPClientError, 402)
ASYNCIO_WEB_HTTP_STATUS(HTTPForbidden, HTTPClientError, 403)
ASYNCIO_WEB_HTTP_STATUS(HTTPNotFound, HTTPClientError, 404)
ASYNCIO_WEB_HTTP_STATUS(HTTPNotAcceptable, HTTPClientError, 406)
ASYNCIO_WEB_HTTP_STATUS(HTTPRequestTimeout, HTTPClientError, 408)
ASYNCIO_WEB_HTTP_STATUS(HTTPConflict, HTTPClientError, 409)
ASYNCIO_WEB_HTTP_STATUS(HTTPGone, HTTPClientError, 410)
ASYNCIO_WEB_HTTP_STATUS(HTTPLengthRequired, HTTPClientError, 411)
ASYNCIO_WEB_HTTP_STATUS(HTTPPreconditionFailed, HTTPClientError, 412)
ASYNCIO_WEB_HTTP_STATUS(HTTPRequestURITooLong, HTTPClientError, 414)
ASYNCIO_WEB_HTTP_STATUS(HTTPUnsupportedMediaType, HTTPClientError, 415)
ASYNCIO_WEB_HTTP_STATUS(HTTPRequestRangeNotSatisfiable, HTTPClientError, 416)
ASYNCIO_WEB_HTTP_STATUS(HTTPExpectationFailed, HTTPClientError, 417)
ASYNCIO_WEB_HTTP_STATUS(HTTPUnprocessableEntity, HTTPClientError, 422)
ASYNCIO_WEB_HTTP_STATUS(HTTPTooManyRequests, HTTPClientError, 429)
ASYNCIO_WEB_HTTP_STATUS(HTTPRequestHeaderFieldsTooLarge, HTTPClientError, 431)
ASYNCIO_WEB_HTTP_STATUS(HTTPInternalServerError, HTTPServerError, 500)
ASYNCIO_WEB_HTTP_STATUS(HTTPNotImplemented, HTTPServerError, 501)
ASYNCIO_WEB_HTTP_STATUS(HTTPBadGateway, HTTPServerError, 502)
ASYNCIO_WEB_HTTP_STATUS(HTTPServiceUnavailable, HTTPServerError, 503)
ASYNCIO_WEB_HTTP_STATUS(HTTPGatewayTimeout, HTTPServerError, 504)
#undef ASYNCIO_WEB_HTTP_STATUS
#undef ASYNCIO_WEB_HTTP_MOVE

/// 405, with Allow: the allowed methods, sorted and comma-joined ("GET,HEAD,POST"), as aiohttp.
class HTTPMethodNotAllowed : public HTTPClientError {
 public:
  HTTPMethodNotAllowed(std::string method, std::vector<std::string> allowed_methods, Options o = {})
      : HTTPClientError(405, with_allow(allowed_methods, std::move(o))),
        method_(std::move(method)),
        allowed_(std::move(allowed_methods)) {}
  const std::string& method() const noexcept { return method_; }
  const std::vector<std::string>& allowed_methods() const noexcept { return allowed_; }

 private:
  static Options with_allow(std::vector<std::string> m, Options o) {
    std::sort(m.begin(), m.end());
    m.erase(std::unique(m.begin(), m.end()), m.end());
    std::string allow;
    for (auto& x : m) allow += (allow.empty() ? "" : ",") + x;
    o.headers.set("Allow", allow);
    return o;
  }
  std::string method_;
  std::vector<std::string> allowed_;
};

/// 413: text "Maximum request body size <max> exceeded, actual body size <actual>", as aiohttp.
class HTTPRequestEntityTooLarge : public HTTPClientError {
 public:
  HTTPRequestEntityTooLarge(std::size_t max_size, std::size_t actual_size, Options o = {})
      : HTTPClientError(413, with_text(max_size, actual_size, std::move(o))) {}

 private:
  static Options with_text(std::size_t max_size, std::size_t actual_size, Options o) {
    if (!o.text)
      o.text = "Maximum request body size " + std::to_string(max_size) + " exceeded, actual body size " +
               std::to_string(actual_size);
    return o;
  }
};

// ------------------------------------------------------------------------------------ request

class Application;
namespace detail {
class Connection;
}

/// aiohttp's web.FileField: a file of a multipart/form-data form (Request::files()).
struct FileField {
  std::string name;
  std::string filename;
  std::string content;       // aiohttp: `file`, a file object to read
  std::string content_type;  // "application/octet-stream" if the part gave none (aiohttp)
  Headers headers;           // the part's own headers
};

/// aiohttp's web.Request: one request, alive for its handler's run (handlers take it by
/// reference). The body is read on demand: read()/text()/json()/post() take it whole (at
/// most the application's client_max_size: HTTPRequestEntityTooLarge past it, which answers
/// 413), content() streams it.
class Request {
 public:
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  const std::string& method() const noexcept { return method_; }
  /// The path, percent-decoded ("/a b" for "/a%20b?x=1").
  const std::string& path() const noexcept { return path_; }
  /// The request target as sent ("/a%20b?x=1"), aiohttp's raw_path.
  const std::string& raw_path() const noexcept { return raw_path_; }
  /// The query string as sent ("x=1"), without '?'.
  const std::string& query_string() const noexcept { return query_string_; }
  /// The decoded query: `query().get("a")`, `query().getall("a")`.
  const MultiDict& query() const noexcept { return query_; }
  const Headers& headers() const noexcept { return headers_; }
  /// The route's captured path segments, percent-decoded: `match_info().at("name")`.
  const std::map<std::string, std::string>& match_info() const noexcept { return match_info_; }
  /// The Cookie header's name=value pairs.
  std::map<std::string, std::string> cookies() const;
  /// {major, minor}: {1, 1}.
  std::pair<int, int> version() const noexcept { return {version_major_, version_minor_}; }
  /// The Host header ("" if none).
  std::string host() const { return headers_.get("Host", ""); }
  /// The client's address ("127.0.0.1"), aiohttp's request.remote.
  std::string remote() const;
  /// "https" on a site with an ssl_context, else "http".
  std::string scheme() const;
  bool keep_alive() const noexcept { return keep_alive_; }
  /// The Content-Type without parameters ("application/json"); aiohttp's default when absent
  /// is "application/octet-stream".
  std::string content_type() const;
  /// Content-Length, if the request has one.
  std::optional<unsigned long long> content_length() const;
  /// True when the request carries a body (aiohttp's body_exists / can_read_body before reading).
  bool body_exists() const noexcept { return has_body_; }
  bool can_read_body() const noexcept { return has_body_ && !body_.has_value(); }

  /// The body as bytes (cached: a second call returns the same bytes).
  Task<std::string> read();
  /// The body as text (UTF-8 assumed: the bytes).
  Task<std::string> text();
  /// The body parsed as JSON (nlohmann::json::parse_error, so 500, on a malformed body, as
  /// aiohttp's json.loads error).
  Task<nlohmann::json> json();
  /// The form: urlencoded (application/x-www-form-urlencoded) or multipart/form-data (parsed by
  /// GMime); an empty MultiDict for another content type, as aiohttp. A file field's value is
  /// its content; its filename and content type are in files(). HTTPBadRequest for a multipart
  /// body that does not parse, ValueError for a nested multipart part (aiohttp's texts).
  Task<MultiDict> post();
  /// aiohttp's FileFields of the multipart form post() read, in order (empty before post()).
  /// Differs: the content is in memory (aiohttp spools it to a temporary file), within
  /// client_max_size as the whole body is.
  const std::vector<FileField>& files() const noexcept { return files_; }
  /// The body as a stream, for large bodies (not limited by client_max_size, as aiohttp).
  StreamReader& content() noexcept { return content_; }

  Application& app() const noexcept { return *app_; }
  /// aiohttp's per-request state (a Request is a MutableMapping): `req["user"] = User{...}` in
  /// a middleware, `std::any_cast<User&>(req["user"])` in the handler. Lives as long as the
  /// request; contains() / erase() as a map's.
  std::any& operator[](const std::string& key) { return state_[key]; }
  bool contains(const std::string& key) const { return state_.count(key) != 0; }
  void erase(const std::string& key) { state_.erase(key); }
  /// The connection's writer (for get_extra_info("peername"/"sockname")): aiohttp's transport.
  StreamWriter& transport() const;

 private:
  friend class detail::Connection;
  friend class StreamResponse;
  friend class WebSocketResponse;
  friend class Application;
  Request() = default;
  struct Out {  // the StreamResponse prepared on this request, if any
    bool prepared = false, chunked = false, eof = false, close_after = false, head = false;
  };

  std::string method_, path_, raw_path_, query_string_, match_path_;
  MultiDict query_;
  Headers headers_;
  std::map<std::string, std::string> match_info_;
  int version_major_ = 1, version_minor_ = 1;
  bool keep_alive_ = true;
  bool has_body_ = false;
  StreamReader content_;
  std::optional<std::string> body_;
  std::vector<FileField> files_;
  std::map<std::string, std::any> state_;
  Application* app_ = nullptr;
  detail::Connection* conn_ = nullptr;
  Out out_;
};

// ------------------------------------------------------------------------------------ WebSockets

/// aiohttp's WebSocket names (shared with http.hpp's client).
using WSMsgType = asyncio::detail::ws::WSMsgType;
using WSMessage = asyncio::detail::ws::WSMessage;
using WSCloseCode = asyncio::detail::ws::WSCloseCode;
using WSCloseOptions = asyncio::detail::ws::WSCloseOptions;
using WebSocketError = asyncio::detail::ws::WebSocketError;
/// "WSMsgType.TEXT", as Python's str() of it.
using asyncio::detail::ws::to_string;

/// WebSocketResponse options (aiohttp's keyword arguments).
struct WebSocketResponseOptions {
  /// Send a ping after this long without a message from the client; no pong within half of it
  /// → the connection is dropped (receive() gives CLOSED, close_code() 1006).
  std::optional<std::chrono::duration<double>> heartbeat = std::nullopt;
  /// A message larger than this closes the connection with 1009 (0: no limit). aiohttp: 4 MiB.
  std::size_t max_msg_size = std::size_t(4) << 20;
  /// Subprotocols this server speaks: the first of the client's Sec-WebSocket-Protocol list
  /// that is here is chosen (protocol()).
  std::vector<std::string> protocols = {};
  /// Answer pings without showing them to receive() (wslay answers them in any case).
  bool autoping = true;
  /// receive() answers the client's close frame itself.
  bool autoclose = true;
  /// How long close() waits for the client's close frame.
  std::chrono::duration<double> timeout = std::chrono::duration<double>(10.0);
  /// Default timeout of receive() (none: wait as long as it takes).
  std::optional<std::chrono::duration<double>> receive_timeout = std::nullopt;
};

/// aiohttp's web.WebSocketResponse:
///
///   Task<Response> handler(Request& req) {
///     web::WebSocketResponse ws;
///     co_await ws.prepare(req);                       // the 101 handshake
///     for (;;) {
///       web::WSMessage msg = co_await ws.receive();
///       if (msg.type != web::WSMsgType::TEXT) break;  // CLOSE / CLOSED / ERROR
///       co_await ws.send_str("echo: " + msg.data);
///     }
///     co_return ws;                                   // as aiohttp's `return ws`
///   }
///
/// prepare() refuses a request that is not a WebSocket handshake as aiohttp does: a method
/// other than GET → 405, no "Upgrade: websocket" or "Connection: upgrade", a version other than
/// 13 (8, 7), or a Sec-WebSocket-Key that is not 16 bytes of base64 → 400. Frames are checked by
/// wslay: an unmasked client frame, a bad opcode, RSV bits, a bad close code → 1002; a text
/// frame that is not UTF-8 → 1007; a message over max_msg_size → 1009; each ends the connection
/// with that close code and receive() gives ERROR (a WebSocketError with the code).
/// On server shutdown (AppRunner::cleanup, run_app's Ctrl-C) every open WebSocket is closed with
/// 1001 "Server shutdown" after the on_shutdown hooks — aiohttp's recipe for on_shutdown, built
/// in: a handler waiting in receive() gets CLOSING and returns.
/// Not supported: permessage-deflate (wslay has no compression; the extension is never
/// negotiated, so peers send uncompressed frames).
class WebSocketResponse : public asyncio::detail::ws::WebSocketBase {
 public:
  using Options = WebSocketResponseOptions;
  WebSocketResponse() = default;
  explicit WebSocketResponse(Options o) : opts_(std::move(o)) {}

  /// aiohttp's can_prepare(): whether `request` is a WebSocket handshake this would accept
  /// (and the protocol it would choose), without answering it.
  struct CanPrepare {
    bool ok = false;
    std::string protocol = {};
    explicit operator bool() const noexcept { return ok; }
  };
  CanPrepare can_prepare(const Request& request) const;
  /// Answer the handshake (101 Switching Protocols) and start the WebSocket. A second call does
  /// nothing. HTTPBadRequest / HTTPMethodNotAllowed for a request that is not a handshake.
  Task<void> prepare(Request& request);
  bool prepared() const noexcept { return core_ != nullptr; }
  int status() const noexcept { return 101; }

  /// `co_return ws;` from a handler.
  operator Response() const { return Response{.status = 101}; }

 private:
  std::string handshake(const Request& request, Headers& out) const;
  Options opts_;
};

// ------------------------------------------------------------------------------------ application

/// A request handler: `Task<Response>(Request&)`.
using Handler = std::function<Task<Response>(Request&)>;
/// A middleware (aiohttp's @web.middleware): `Task<Response>(Request&, Handler)`; call the
/// handler to go on. The first in app.middlewares() is the outermost.
using Middleware = std::function<Task<Response>(Request&, Handler)>;
/// on_startup / on_shutdown / on_cleanup signal handlers.
using AppSignal = std::function<Task<void>(Application&)>;

class UrlDispatcher;
namespace detail {
/// Accept a handler returning Task<Response> or Task<X> with X convertible to Response.
template <class F>
Handler make_handler(F f) {
  using R = std::invoke_result_t<F&, Request&>;
  if constexpr (std::is_same_v<R, Task<Response>>) {
    return Handler(std::move(f));
  } else {
    static_assert(asyncio::detail::is_task<R>::value, "a handler returns Task<Response> (or a Task of something a Response converts from)");
    return Handler([f = std::move(f)](Request& r) mutable -> Task<Response> {
      auto t = f(r);
      Response resp = co_await std::move(t);
      co_return resp;
    });
  }
}

/// A route pattern: "/users/{name}" and "/n/{id:\\d+}" (aiohttp's DynamicResource), or a plain
/// path (PlainResource). Matched against the raw (still percent-encoded) path, as aiohttp does,
/// so "%2F" inside a segment is a '/' of the value, never a separator.
class Resource {
 public:
  explicit Resource(std::string pattern);
  const std::string& pattern() const noexcept { return pattern_; }
  /// The captured values (decoded) when `raw_path` matches.
  std::optional<std::map<std::string, std::string>> match(const std::string& raw_path) const;
  /// aiohttp's resource.url_for(**parts): the pattern with each {name} replaced by its value,
  /// percent-encoded as yarl encodes a path ('/' kept). std::out_of_range ("KeyError: 'name'")
  /// for a part not given.
  std::string url_for(const std::map<std::string, std::string>& parts = {}) const;
  /// The route name given when it was added ("" if none).
  const std::string& name() const noexcept { return name_; }
  std::vector<std::pair<std::string, Handler>> routes;  // method ("*" = any) → handler

 private:
  friend class asyncio::web::UrlDispatcher;
  std::string name_;
  std::string pattern_;
  bool plain_ = true;
  std::regex re_;
  std::vector<std::pair<std::string, int>> groups_;  // name → capture group index
};
}  // namespace detail

/// aiohttp's UrlDispatcher (app.router()). Routes match in the order added; a path that matches
/// with the wrong method answers 405 with Allow, no match 404. add_get also answers HEAD
/// (aiohttp's allow_head=True). A pattern that does not start with '/' or whose regex does not
/// compile is a ValueError.
/// Route options (aiohttp's keyword arguments): a name for url_for, and whether GET answers HEAD.
struct RouteOptions {
  std::string name = {};
  bool allow_head = true;
};

class UrlDispatcher {
 public:
  template <class F>
  void add_route(std::string method, std::string path, F handler, const RouteOptions& o = {}) {
    add(std::move(method), std::move(path), detail::make_handler(std::move(handler)), o.name);
  }
  template <class F>
  void add_get(std::string path, F handler, bool allow_head = true) {
    add_get(std::move(path), std::move(handler), RouteOptions{.allow_head = allow_head});
  }
  template <class F>
  void add_get(std::string path, F handler, const RouteOptions& o) {
    Handler h = detail::make_handler(std::move(handler));
    if (o.allow_head) add("HEAD", path, h, o.name);
    add("GET", std::move(path), std::move(h), o.name);
  }
  template <class F>
  void add_post(std::string path, F handler, const RouteOptions& o = {}) {
    add("POST", std::move(path), detail::make_handler(std::move(handler)), o.name);
  }
  template <class F>
  void add_put(std::string path, F handler, const RouteOptions& o = {}) {
    add("PUT", std::move(path), detail::make_handler(std::move(handler)), o.name);
  }
  template <class F>
  void add_patch(std::string path, F handler, const RouteOptions& o = {}) {
    add("PATCH", std::move(path), detail::make_handler(std::move(handler)), o.name);
  }
  template <class F>
  void add_delete(std::string path, F handler, const RouteOptions& o = {}) {
    add("DELETE", std::move(path), detail::make_handler(std::move(handler)), o.name);
  }
  /// Serve the files under `directory` at `prefix` (GET and HEAD), as aiohttp's add_static
  /// without show_index. Refused: a path that leaves the directory ("..", an absolute path, a
  /// symlink pointing outside unless follow_symlinks) → 404, as aiohttp; an encoded '/' or '\\'
  /// in the path → 404 (aiohttp decodes it); a directory → 403. ValueError if `directory` is not
  /// a directory.
  void add_static(std::string prefix, std::string directory, bool follow_symlinks = false, std::string name = {});

  /// aiohttp's router[name]: the named resource (url_for(...) on it). std::out_of_range
  /// ("KeyError: 'name'") if no route has that name.
  const detail::Resource& operator[](const std::string& name) const;

  /// The handler for method + raw path, filling `match_info`; throws HTTPNotFound /
  /// HTTPMethodNotAllowed as aiohttp's resolve() answers.
  const Handler& resolve(const std::string& method, const std::string& raw_path,
                         std::map<std::string, std::string>& match_info) const;

 private:
  void add(std::string method, std::string path, Handler h, const std::string& name = {});
  std::vector<std::unique_ptr<detail::Resource>> resources_;
  std::map<std::string, detail::Resource*> named_;
};

/// Application options: `Application({.client_max_size = 1 << 20})`.
struct ApplicationOptions {
  /// The largest body read()/text()/json()/post() take (aiohttp's 1 MiB; 0 = no limit).
  std::size_t client_max_size = 1024 * 1024;
};

/// aiohttp 3.9's web.AppKey: a typed key for state kept on the application,
/// `inline const web::AppKey<Database> db_key{"db"}; app[db_key] = ...; req.app()[db_key]`.
/// Two keys are the same key only if they are the same object (as aiohttp's, compared by identity).
template <class T>
class AppKey {
 public:
  explicit AppKey(std::string name) : name_(std::move(name)) {}
  AppKey(const AppKey&) = delete;
  AppKey& operator=(const AppKey&) = delete;
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
};

/// The value yielded is ignored (Python's bare `yield`): write `co_yield 0;`.
using CleanupContext = std::function<AsyncGenerator<int>(Application&)>;

/// aiohttp's web.Application: the router, the middlewares, the lifecycle signals, typed state.
class Application {
 public:
  Application() = default;
  explicit Application(ApplicationOptions o) : opts_(o) {}
  Application(const Application&) = delete;
  Application& operator=(const Application&) = delete;

  UrlDispatcher& router() noexcept { return router_; }
  std::vector<Middleware>& middlewares() noexcept { return middlewares_; }
  /// Run in order by AppRunner::setup().
  std::vector<AppSignal>& on_startup() noexcept { return on_startup_; }
  /// Run in order by AppRunner::cleanup() once the sites stopped listening, before the
  /// in-flight requests are waited for.
  std::vector<AppSignal>& on_shutdown() noexcept { return on_shutdown_; }
  /// Run in order by AppRunner::cleanup() last.
  std::vector<AppSignal>& on_cleanup() noexcept { return on_cleanup_; }
  /// aiohttp's cleanup_ctx: each generator runs to its co_yield at setup() (before the
  /// on_startup hooks) and on from there at cleanup() (before the on_cleanup hooks, the last
  /// started first). One that yields twice is a RuntimeError, as aiohttp's; with several
  /// failures, the first is raised once every generator ran.
  std::vector<CleanupContext>& cleanup_ctx() noexcept { return cleanup_ctx_; }

  /// aiohttp's app[key]: the value stored under `key`, default-constructed on first use.
  template <class T>
  T& operator[](const AppKey<T>& key) {
    auto& slot = state_[&key];
    if (!slot.has_value()) slot = T{};
    return std::any_cast<T&>(slot);
  }
  /// The value under `key`; std::out_of_range ("KeyError: <AppKey(name)>") when none was stored.
  template <class T>
  T& at(const AppKey<T>& key) {
    auto it = state_.find(&key);
    if (it == state_.end() || !it->second.has_value())
      throw std::out_of_range("KeyError: <AppKey(" + key.name() + ")>");
    return std::any_cast<T&>(it->second);
  }
  template <class T>
  bool contains(const AppKey<T>& key) const noexcept {
    auto it = state_.find(&key);
    return it != state_.end() && it->second.has_value();
  }
  std::size_t client_max_size() const noexcept { return opts_.client_max_size; }

  /// The handler chain for one request: middlewares around the route's handler (aiohttp's
  /// Application._handle). Throws what the router throws (404/405).
  Task<Response> handle(Request& request);

 private:
  ApplicationOptions opts_;
  UrlDispatcher router_;
  std::vector<Middleware> middlewares_;
  std::vector<AppSignal> on_startup_, on_shutdown_, on_cleanup_;
  std::vector<CleanupContext> cleanup_ctx_;
  std::vector<AsyncGenerator<int>> cleanup_exits_;  // the generators started by setup()
  std::map<const void*, std::any> state_;             // AppKey state, keyed by the key object
  friend class AppRunner;
};

// ------------------------------------------------------------------------------------ running

/// The request handler's options (aiohttp's RequestHandler keyword arguments).
struct AppRunnerOptions {
  /// Close an idle keep-alive connection after this long (aiohttp: 75 s). A connection that
  /// never completes a request head is held no longer either (aiohttp 3.8 holds it forever).
  std::chrono::duration<double> keepalive_timeout = 75s;
  /// Longest request target / header name or value (aiohttp: 8190): 400 past them.
  std::size_t max_line_size = 8190;
  std::size_t max_field_size = 8190;
  /// Cancel a handler whose client disconnected (aiohttp 3.9's handler_cancellation; 3.8 and
  /// this default do not: the handler runs on, its body reads raise ConnectionResetError).
  bool handler_cancellation = false;
  /// How long cleanup() waits for in-flight handlers before cancelling them (aiohttp: 60 s).
  std::chrono::duration<double> shutdown_timeout = 60s;
};

namespace detail {
class ServerState;
}

/// aiohttp's AppRunner: setup() runs on_startup; sites serve; cleanup() stops the sites (no new
/// connections), runs on_shutdown, closes idle connections, waits up to shutdown_timeout for
/// the requests in flight (then cancels them), and runs on_cleanup. Must outlive its sites.
class BaseSite;
class AppRunner {
 public:
  explicit AppRunner(Application& app, AppRunnerOptions o = {});
  AppRunner(const AppRunner&) = delete;
  AppRunner& operator=(const AppRunner&) = delete;
  ~AppRunner();

  Task<void> setup();
  Task<void> cleanup();
  Application& app() const noexcept { return app_; }
  /// Open connections right now.
  std::size_t connections() const noexcept;

 private:
  friend class BaseSite;
  Application& app_;
  AppRunnerOptions opts_;
  std::vector<BaseSite*> sites_;
  std::shared_ptr<detail::ServerState> state_;
  bool set_up_ = false;
};

struct TCPSiteOptions {
  bool reuse_address = true;
  bool reuse_port = false;
  int backlog = 128;
  /// aiohttp's ssl_context=: serve HTTPS with this server context (ssl.hpp; include it and link
  /// asyncio::ssl). A client that fails its handshake is dropped; the site serves on.
  std::shared_ptr<ssl::SSLContext> ssl_context = nullptr;
};
/// aiohttp's BaseSite: a listening socket of a runner (RuntimeError from start() before the
/// runner's setup()). Stops listening when destroyed, if the runner's cleanup() did not already.
class BaseSite {
 public:
  BaseSite(const BaseSite&) = delete;
  BaseSite& operator=(const BaseSite&) = delete;
  virtual ~BaseSite() { close_server(); }
  virtual Task<void> start() = 0;
  /// Stop listening (the runner's cleanup() does it for every site).
  void stop() {
    if (close_server()) stopped();
  }
  /// Where it serves, as aiohttp names it ("http://127.0.0.1:8080", "http://unix:/path:").
  virtual std::string name() const = 0;

 protected:
  explicit BaseSite(AppRunner& runner) : runner_(runner) {}
  void check_runner() const;
  ClientConnectedCallback connection_callback() const;
  void started(Server server);
  /// Closes the listening socket; true if it was listening.
  bool close_server() noexcept;
  /// After stop() closed a listening site.
  virtual void stopped() {}
  AppRunner& runner_;
  Server server_;
  bool listening_ = false;
};

/// aiohttp's TCPSite: listen on host:port (port 0: an ephemeral port, see port()).
class TCPSite final : public BaseSite {
 public:
  using Options = TCPSiteOptions;
  TCPSite(AppRunner& runner, std::string host = "0.0.0.0", int port = 8080, Options o = {})
      : BaseSite(runner), host_(std::move(host)), port_(port), opts_(o) {}
  Task<void> start() override;
  /// The bound port (the kernel's choice for 0) once started.
  int port() const { return server_.port(); }
  /// "http://127.0.0.1:8080" ("https://..." with an ssl_context).
  std::string name() const override {
    return (opts_.ssl_context ? "https://" : "http://") + host_ + ":" + std::to_string(port());
  }

 private:
  std::string host_;
  int port_;
  Options opts_;
};

struct SockSiteOptions {
  int backlog = 128;
  std::shared_ptr<ssl::SSLContext> ssl_context = nullptr;  // as TCPSiteOptions::ssl_context
};
/// aiohttp's SockSite: serve on a socket made by the program (bound; listen() is called if it
/// was not). The site owns it from start() on: stopping closes it. Errors as start_server's
/// `.sock` gives them (a non-socket, a datagram socket).
class SockSite final : public BaseSite {
 public:
  using Options = SockSiteOptions;
  SockSite(AppRunner& runner, int sock, Options o = {}) : BaseSite(runner), sock_(sock), opts_(std::move(o)) {}
  Task<void> start() override;
  /// "http://127.0.0.1:8080", "http://unix:/path:" (from the socket's address, as aiohttp).
  std::string name() const override;

 private:
  int sock_;
  Options opts_;
};

struct UnixSiteOptions {
  int backlog = 128;
  std::shared_ptr<ssl::SSLContext> ssl_context = nullptr;  // as TCPSiteOptions::ssl_context
};
/// aiohttp's UnixSite: listen on a Unix socket at `path` (a stale socket file there is removed
/// first; the file is removed again when the site stops, as Python's 3.13 server does).
class UnixSite final : public BaseSite {
 public:
  using Options = UnixSiteOptions;
  UnixSite(AppRunner& runner, std::string path, Options o = {})
      : BaseSite(runner), path_(std::move(path)), opts_(std::move(o)) {}
  ~UnixSite() override { stop(); }
  Task<void> start() override;
  /// "http://unix:/path:" (aiohttp's spelling).
  std::string name() const override { return (opts_.ssl_context ? "https://unix:" : "http://unix:") + path_ + ":"; }
  const std::string& path() const noexcept { return path_; }

 private:
  void stopped() override { ::unlink(path_.c_str()); }
  std::string path_;
  Options opts_;
};

/// run_app options.
struct RunAppOptions {
  std::string host = "0.0.0.0";
  int port = 8080;
  std::chrono::duration<double> shutdown_timeout = 60s;
  bool reuse_port = false;
  /// Serve HTTPS (aiohttp's ssl_context=; see TCPSiteOptions::ssl_context).
  std::shared_ptr<ssl::SSLContext> ssl_context = nullptr;
  /// Print aiohttp's "======== Running on http://host:port ========" banner.
  bool print = true;
  AppRunnerOptions handler = {};
};

/// aiohttp's web.run_app: runs a loop of its own (asyncio::run), serves until SIGINT or SIGTERM,
/// then shuts down gracefully (AppRunner::cleanup). Blocks; not inside a running loop.
void run_app(Application& app, RunAppOptions o = {});
/// The same as a coroutine, for a program that runs its own loop: serves until `stop` is set
/// (or SIGINT/SIGTERM when `stop` is null).
Task<void> run_app_async(Application& app, RunAppOptions o, Event* stop = nullptr);

}  // namespace asyncio::web

#include "detail/web_impl.hpp"
