// asyncio/http.hpp — an aiohttp-style HTTP client (aiohttp.ClientSession) on libcurl.
//
//   asyncio::http::ClientSession session;                       // one per application: a connection pool
//   auto resp = co_await session.get("https://example.org/");   // returns once the headers are in
//   nlohmann::json j = co_await resp.json();
//   co_await session.close();
//
// or, as in Python, `async with session.get(url) as response:`
//   co_await asyncio::async_with(session.get(url), [&](http::ClientResponse& response) -> Task<> {...});
//
// libcurl's multi-socket API is driven by the running loop's reactor and timers: no extra thread
// (name resolution of host names uses curl's resolver thread; IP literals never do). One session
// is one curl multi handle: its connection pool, keep-alive reuse and `limit`/`limit_per_host`.
// TLS is verified by default (`ca_file` adds a trust anchor, `verify_ssl = false` is aiohttp's
// ssl=False, `.ssl = ctx` is aiohttp's ssl=SSLContext, applied to curl's OpenSSL); HTTP/2 is negotiated over TLS when libcurl has it. Bodies are bytes
// (std::string); text() does not transcode (it returns the bytes, UTF-8 assumed). A body is
// taken about 1 MiB per loop iteration (a compressed one: plus what one 16 KiB block decodes
// to), so other tasks and timers keep running while a large or highly compressed body arrives.
//
// WebSockets: `auto ws = co_await session.ws_connect("ws://host/path");` gives a
// ClientWebSocketResponse (receive(), send_str(), close(), ...; see below). libcurl in Debian 12
// has no WebSocket support: the handshake runs over the library's own streams
// (open_connection), the framing is wslay's (detail/websocket.hpp).
//
// Needs libcurl, nlohmann_json and wslay: link the CMake target asyncio::http.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
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
#include "ssl.hpp"
#include "detail/websocket.hpp"

namespace asyncio::http {

using namespace std::chrono_literals;

// ------------------------------------------------------------------------------------ exceptions

/// Base of every client error (aiohttp.ClientError).
class ClientError : public virtual std::runtime_error {
 public:
  explicit ClientError(const std::string& what) : std::runtime_error(what) {}
};
/// The connection failed or broke (aiohttp.ClientConnectionError).
class ClientConnectionError : public ClientError {
 public:
  explicit ClientConnectionError(const std::string& what) : std::runtime_error(what), ClientError(what) {}
};
/// Could not connect to the host: refused, unreachable, name not resolved (aiohttp.ClientConnectorError).
/// `os_errno` is the system error (0 if none).
class ClientConnectorError : public ClientConnectionError {
 public:
  explicit ClientConnectorError(const std::string& what, int os_errno_ = 0)
      : std::runtime_error(what), ClientConnectionError(what), os_errno(os_errno_) {}
  int os_errno = 0;
};
/// Could not connect to the proxy (aiohttp.ClientProxyConnectionError).
class ClientProxyConnectionError : public ClientConnectorError {
 public:
  explicit ClientProxyConnectionError(const std::string& what, int os_errno_ = 0)
      : std::runtime_error(what), ClientConnectorError(what, os_errno_) {}
};
/// The TLS handshake failed (aiohttp.ClientSSLError).
class ClientSSLError : public ClientConnectorError {
 public:
  explicit ClientSSLError(const std::string& what) : std::runtime_error(what), ClientConnectorError(what) {}
};
/// The server's certificate did not verify (aiohttp.ClientConnectorCertificateError).
class ClientConnectorCertificateError : public ClientSSLError {
 public:
  explicit ClientConnectorCertificateError(const std::string& what)
      : std::runtime_error(what), ClientSSLError(what) {}
};
/// The server closed the connection before answering (aiohttp.ServerDisconnectedError).
class ServerDisconnectedError : public ClientConnectionError {
 public:
  explicit ServerDisconnectedError(const std::string& what = "Server disconnected")
      : std::runtime_error(what), ClientConnectionError(what) {}
};
/// A connect or socket-read timeout (aiohttp.ServerTimeoutError); also an asyncio::TimeoutError.
/// (The `total` timeout raises plain asyncio::TimeoutError, as aiohttp does.)
class ServerTimeoutError : public ClientConnectionError, public asyncio::TimeoutError {
 public:
  explicit ServerTimeoutError(const std::string& what)
      : std::runtime_error(what), ClientConnectionError(what), asyncio::TimeoutError(what) {}
};
/// An HTTP error status (raise_for_status) and its kin. `status` is the response's status code.
/// A response that does not parse (a malformed status line, a header line longer than
/// max_field_size, more than max_headers lines) is one too, with status 400, as aiohttp's
/// parser errors: message "Bad status line '<why>'", "Got more than 8190 bytes when reading: ...",
/// "Too many headers received"; url the request's.
class ClientResponseError : public ClientError {
 public:
  ClientResponseError(int status_, std::string message_, std::string url_)
      : std::runtime_error(std::to_string(status_) + ", message='" + message_ + "', url='" + url_ + "'"),
        ClientError(std::to_string(status_) + ", message='" + message_ + "', url='" + url_ + "'"),
        status(status_),
        message(std::move(message_)),
        url(std::move(url_)) {}
  int status;
  std::string message;
  std::string url;
};
/// json() on a response whose Content-Type is not JSON (aiohttp.ContentTypeError).
class ContentTypeError : public ClientResponseError {
 public:
  ContentTypeError(int status_, std::string message_, std::string url_)
      : std::runtime_error(std::to_string(status_) + ", message='" + message_ + "', url='" + url_ + "'"),
        ClientResponseError(status_, std::move(message_), std::move(url_)) {}
};
/// The number of redirects reached `max_redirects` (aiohttp.TooManyRedirects): status 0, message
/// "", url the request's (as aiohttp's request_info.real_url).
class TooManyRedirects : public ClientResponseError {
 public:
  TooManyRedirects(int status_, std::string message_, std::string url_)
      : std::runtime_error(std::to_string(status_) + ", message='" + message_ + "', url='" + url_ + "'"),
        ClientResponseError(status_, std::move(message_), std::move(url_)) {}
};
/// A URL that cannot be requested (malformed, no host, not http/https). Raised before sending.
/// Like aiohttp's, it is also a ValueError.
class InvalidURL : public ClientError, public asyncio::ValueError {
 public:
  explicit InvalidURL(const std::string& url_)
      : std::runtime_error(url_), ClientError(url_), asyncio::ValueError(url_), url(url_) {}
  /// what() is "<url> - <description>", as aiohttp 3.10's.
  InvalidURL(const std::string& url_, const std::string& description)
      : std::runtime_error(url_ + " - " + description), ClientError(url_ + " - " + description),
        asyncio::ValueError(url_ + " - " + description), url(url_) {}
  std::string url;
};
/// A redirect's Location that does not parse as a URL (aiohttp 3.10's name; 3.8 raised InvalidURL).
class InvalidUrlRedirectClientError : public InvalidURL {
 public:
  explicit InvalidUrlRedirectClientError(const std::string& url_)
      : std::runtime_error(url_ + " - Server attempted redirecting to a location that does not look like a URL"),
        InvalidURL(url_, "Server attempted redirecting to a location that does not look like a URL") {}
};
/// A redirect to a scheme other than http/https (ftp:, mailto:, javascript:): aiohttp 3.10's
/// name. Differs: it is an InvalidURL, so both a ClientError (as 3.10's) and a ValueError (3.8
/// raised a plain ValueError "Can redirect only to http or https"); catching either works.
class NonHttpUrlRedirectClientError : public InvalidURL {
 public:
  explicit NonHttpUrlRedirectClientError(const std::string& url_)
      : std::runtime_error(url_ + " - Can redirect only to http or https"),
        InvalidURL(url_, "Can redirect only to http or https") {}
};
/// The body broke off, was larger than the session's `max_body_size`, or decoded to more than its
/// `max_decompress_size` (aiohttp.ClientPayloadError).
class ClientPayloadError : public ClientError {
 public:
  explicit ClientPayloadError(const std::string& what) : std::runtime_error(what), ClientError(what) {}
};

// ------------------------------------------------------------------------------------ options

/// Timeouts (aiohttp.ClientTimeout). std::nullopt (or zero) disables one. The defaults are the
/// session defaults of aiohttp (total 5 min, sock_connect 30 s); note that aiohttp's own
/// ClientTimeout() fields default to None instead: write `.sock_connect = std::nullopt` for that.
///   total        the whole exchange, body included          → asyncio::TimeoutError
///   connect      connecting, TLS included (curl's connect timeout; waiting for a free pool
///                slot is not counted, unlike aiohttp)       → ServerTimeoutError
///   sock_connect the same (the smaller of the two is used)  → ServerTimeoutError
///   sock_read    the longest gap between two reads           → ServerTimeoutError
struct ClientTimeout {
  std::optional<std::chrono::duration<double>> total = 300s;
  std::optional<std::chrono::duration<double>> connect = std::nullopt;
  std::optional<std::chrono::duration<double>> sock_connect = 30s;
  std::optional<std::chrono::duration<double>> sock_read = std::nullopt;
};

/// Case-insensitive multi-map of header names to values, in order (aiohttp's CIMultiDict).
class Headers {
 public:
  using value_type = std::pair<std::string, std::string>;
  Headers() = default;
  Headers(std::initializer_list<value_type> il) : items_(il) {}
  Headers(std::vector<value_type> v) : items_(std::move(v)) {}

  /// Append a value (keeps existing ones of the same name).
  void add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  /// Replace every value of `name` with `value`.
  void set(std::string name, std::string value) {
    erase(name);
    add(std::move(name), std::move(value));
  }
  /// Remove every value of `name`; returns how many were removed.
  std::size_t erase(std::string_view name) {
    auto n = items_.size();
    items_.erase(std::remove_if(items_.begin(), items_.end(), [&](const value_type& p) { return iequals(p.first, name); }),
                 items_.end());
    return n - items_.size();
  }
  /// The first value of `name`, or std::nullopt.
  std::optional<std::string> get(std::string_view name) const {
    for (auto& p : items_)
      if (iequals(p.first, name)) return p.second;
    return std::nullopt;
  }
  /// The first value of `name`, or `dflt`.
  std::string get(std::string_view name, std::string dflt) const { return get(name).value_or(std::move(dflt)); }
  /// Every value of `name`, in order.
  std::vector<std::string> getall(std::string_view name) const {
    std::vector<std::string> out;
    for (auto& p : items_)
      if (iequals(p.first, name)) out.push_back(p.second);
    return out;
  }
  bool contains(std::string_view name) const { return get(name).has_value(); }
  /// The first value of `name`; std::out_of_range (Python's KeyError) when absent.
  const std::string& operator[](std::string_view name) const {
    for (auto& p : items_)
      if (iequals(p.first, name)) return p.second;
    throw std::out_of_range("KeyError: '" + std::string(name) + "'");
  }
  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }
  void append_to_last(const std::string& more) { items_.back().second += more; }

  static bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  }

 private:
  std::vector<value_type> items_;
};

/// Query parameters, in order: {{"q", "asyncio"}, {"page", "2"}} (appended to the URL, escaped).
using Params = std::vector<std::pair<std::string, std::string>>;

/// Per-request options (the keyword arguments of aiohttp's session.request()).
/// GCC 12 mishandles temporaries of class type built inside a co_await expression (a braced
/// list is rejected, "array used as initializer"; a std::string temporary is miscompiled). On
/// GCC, build non-trivial options in a variable first (clang takes them inline):
///   http::RequestOptions o{.headers = {{"X-Token", t}}};  auto r = co_await s.get(url, std::move(o));
/// aiohttp.BasicAuth: HTTP Basic credentials, on a session (every request to the session's
/// hosts) or on one request. ValueError for a ':' in the login, as aiohttp. Sent as UTF-8 (aiohttp
/// encodes latin1 by default: the same bytes for ASCII credentials).
struct BasicAuth {
  std::string login;
  std::string password;
};

/// A form body from key/value pairs, urlencoded (aiohttp's `data={...}` / a list of pairs; a
/// key may repeat).
using Form = std::vector<std::pair<std::string, std::string>>;

/// aiohttp.FormData for multipart/form-data bodies: fields, and files read when the request is
/// sent (libcurl's MIME API encodes it). Differs from aiohttp: a plain field carries no
/// Content-Type of its own unless given (aiohttp adds "text/plain; charset=utf-8"); servers read
/// both the same.
class FormData {
 public:
  struct Field {
    std::string name, value, filename, content_type;
    std::string path;  // a file's path (add_file), read at send time; empty for a value
  };
  /// A value, optionally presented as a file (filename) of a content type.
  FormData& add_field(std::string name, std::string value, std::string filename = {}, std::string content_type = {}) {
    fields_.push_back({std::move(name), std::move(value), std::move(filename), std::move(content_type), {}});
    return *this;
  }
  /// The contents of the file at `path` (its base name as the filename unless given).
  /// FileNotFoundError when the request is sent and the file is not there.
  FormData& add_file(std::string name, std::string path, std::string filename = {}, std::string content_type = {}) {
    if (filename.empty()) filename = path.substr(path.rfind('/') + 1);
    fields_.push_back({std::move(name), {}, std::move(filename), std::move(content_type), std::move(path)});
    return *this;
  }
  const std::vector<Field>& fields() const noexcept { return fields_; }

 private:
  std::vector<Field> fields_;
};

class TraceConfig;

/// Cookies given by name and value (aiohttp's `cookies={...}`; a name may repeat, the last wins).
using Cookies = std::vector<std::pair<std::string, std::string>>;

/// One cookie of a jar (aiohttp's Morsel, the attributes a jar keeps). `domain` is empty for a
/// cookie given without a response URL (sent to every host, as aiohttp's); `expires` is Unix
/// seconds, 0 for a session cookie.
struct Cookie {
  std::string name = {}, value = {}, domain = {}, path = {};
  bool host_only = false;  // set without a Domain attribute: only for that exact host
  bool secure = false;     // only over https
  bool http_only = false;
  std::int64_t expires = 0;
};

struct CookieJarOptions {
  /// Accept (and send) cookies of hosts that are IP addresses; aiohttp refuses them by default.
  bool unsafe = false;
  /// Quote cookie values given by name and value as Python's SimpleCookie does ("a b" is sent
  /// as "\"a b\""); false sends them as given (aiohttp's quote_cookie).
  bool quote_cookie = true;
};

}  // namespace asyncio::http
namespace asyncio::detail::http {
class CookieStore;
struct JarAccess;
}  // namespace asyncio::detail::http
namespace asyncio::http {

/// aiohttp's CookieJar, on libcurl's cookie engine: Set-Cookie headers (redirect hops included)
/// are parsed, stored, expired and matched (domain, host-only, path, secure) by curl; cookies
/// from a host that is an IP address are refused unless `unsafe`. Owned by the session by
/// default (SessionOptions::cookie_jar to share one between sessions). Differences from aiohttp:
/// the Cookie header lists the jar's matching cookies in curl's order (longest path first), then
/// the domain-less and per-request ones, sorted by name (aiohttp sorts them all by name); a
/// per-request cookie does not replace a jar cookie of the same name (both are sent, the jar's
/// first); Secure cookies also go to http://localhost, 127.0.0.1 and ::1 (curl's rule, and
/// browsers'); save() writes curl's Netscape cookie file, not JSON.
class CookieJar {
 public:
  CookieJar() : CookieJar(CookieJarOptions{}) {}
  explicit CookieJar(CookieJarOptions o);
  CookieJar(const CookieJar&) = delete;
  CookieJar& operator=(const CookieJar&) = delete;
  virtual ~CookieJar();

  /// aiohttp's update_cookies(cookies, response_url): store `cookies` as if `response_url` had
  /// set them (host-only cookies of its host, path "/"); without a URL they have no domain and
  /// go to every host. Nothing is stored for an IP host unless unsafe. InvalidURL for a bad URL.
  virtual void update_cookies(const Cookies& cookies, const std::string& response_url = {});
  /// The cookies that would be sent to `request_url`, name → value (aiohttp's filter_cookies).
  virtual std::map<std::string, std::string> filter_cookies(const std::string& request_url) const;
  /// Every cookie in the jar (expired ones dropped first): aiohttp's `for morsel in jar`.
  std::vector<Cookie> cookies() const;
  /// len(jar).
  std::size_t size() const { return cookies().size(); }
  /// Remove every cookie, or those `predicate` picks (aiohttp's clear / clear_domain: the
  /// domain and its subdomains).
  void clear();
  void clear(const std::function<bool(const Cookie&)>& predicate);
  void clear_domain(const std::string& domain);
  /// Write the jar to `path` (curl's Netscape format; domain-less cookies with an empty domain
  /// field) / replace the jar's contents by such a file. OSError subclasses when the file cannot
  /// be written or read.
  void save(const std::string& path) const;
  void load(const std::string& path);
  bool unsafe() const noexcept { return opts_.unsafe; }
  bool quote_cookie() const noexcept { return opts_.quote_cookie; }

 protected:
  explicit CookieJar(std::nullptr_t) noexcept;  // DummyCookieJar: no store at all

 private:
  friend struct detail::http::JarAccess;
  CookieJarOptions opts_;
  std::unique_ptr<detail::http::CookieStore> store_;
};

/// aiohttp's DummyCookieJar: keeps nothing, sends nothing (per-request cookies still go out).
class DummyCookieJar final : public CookieJar {
 public:
  DummyCookieJar() noexcept : CookieJar(nullptr) {}
  void update_cookies(const Cookies&, const std::string& = {}) override {}
  std::map<std::string, std::string> filter_cookies(const std::string&) const override { return {}; }
};

/// A request body made while it is sent (aiohttp's `data=` async generator or StreamReader):
/// each call gives the next piece, std::nullopt at the end. An exception it throws fails the
/// request with that exception.
using BodyStream = std::function<Task<std::optional<std::string>>()>;
/// A BodyStream over an async generator of byte pieces.
BodyStream stream_body(AsyncGenerator<std::string> gen);
/// A BodyStream over `reader`, read to its EOF (the reader must outlive the request).
BodyStream stream_body(StreamReader& reader);

struct RequestOptions {
  Params params = {};
  Headers headers = {};
  /// Request body as bytes (Content-Type application/octet-stream unless a header says otherwise).
  std::optional<std::string> data = std::nullopt;
  /// Request body as JSON (Content-Type application/json). ValueError together with `data`.
  std::optional<nlohmann::json> json = std::nullopt;
  /// Request body as a urlencoded form (Content-Type application/x-www-form-urlencoded), as
  /// aiohttp's `data=dict`: spaces as '+', everything but letters, digits and "-._~" escaped.
  /// ValueError together with `data` or `json`.
  std::optional<Form> form = std::nullopt;
  /// Request body as multipart/form-data (aiohttp's `data=FormData(...)`); the boundary is
  /// libcurl's. ValueError together with data, json or form.
  std::optional<FormData> multipart = std::nullopt;
  /// A body sent while it is made (stream_body(...)): Transfer-Encoding: chunked, unless a
  /// Content-Length header says how long it is; at most one piece is buffered (the producer waits
  /// until curl took it). Such a request does not follow redirects (its body cannot be sent
  /// again): the 3xx is the response. ValueError together with data, json, form or multipart.
  BodyStream stream = nullptr;
  /// An HTTP proxy for this request ("http://proxy:3128"; aiohttp's proxy=), and its Basic
  /// credentials (proxy_auth=). ClientProxyConnectionError when it cannot be reached.
  std::string proxy = {};
  std::optional<BasicAuth> proxy_auth = std::nullopt;
  /// Basic credentials for this request (instead of the session's). ValueError together with
  /// credentials in the URL or an Authorization header, as aiohttp.
  std::optional<BasicAuth> auth = std::nullopt;
  /// Replaces the session's timeouts for this request.
  std::optional<ClientTimeout> timeout = std::nullopt;
  /// Follow 301, 302, 303, 307 and 308 with a Location (aiohttp's five; any other 3xx is returned
  /// as it is). 303 (and 301/302 after a POST) continue as a GET without the body; Authorization
  /// and Cookie are dropped when the origin changes; the total timeout covers every hop.
  bool allow_redirects = true;
  /// Overrides the session's raise_for_status.
  std::optional<bool> raise_for_status = std::nullopt;
  /// TooManyRedirects when the number of redirects reaches it (so 10 allows 9; 0: no limit), as aiohttp.
  int max_redirects = 10;
  /// Overrides the session's verify_ssl (false is aiohttp's ssl=False).
  std::optional<bool> verify_ssl = std::nullopt;
  /// Cookies for this request (and its redirect hops), besides the jar's; not stored.
  Cookies cookies = {};
  /// aiohttp's ssl=SSLContext for this request (instead of the session's): see SessionOptions::ssl.
  /// A request whose context is not the session's never shares a connection with other requests.
  /// ValueError together with verify_ssl (aiohttp: "mutually exclusive").
  std::shared_ptr<ssl::SSLContext> ssl = nullptr;
};

/// Session options: `ClientSession({.timeout = ClientTimeout{.total = 0.2s}, .limit_per_host = 4})`.
struct SessionOptions {
  /// aiohttp's base_url: requests name a path ("/users/x"), joined to this origin
  /// ("http://host:port"). ValueError for a base_url with a path, or a request URL that is
  /// absolute or does not start with "/" (aiohttp 3.8 asserts both).
  std::string base_url = {};
  /// Basic credentials sent with every request to the session's origin (base_url's, or any when
  /// there is none) — never after a redirect to another origin (aiohttp 3.9's rule; 3.8 sent them).
  std::optional<BasicAuth> auth = std::nullopt;
  ClientTimeout timeout = {};
  /// aiohttp's trust_env: take proxies from http_proxy / https_proxy / no_proxy in the
  /// environment. Off by default, as aiohttp's (libcurl alone would follow them).
  bool trust_env = false;
  /// Most connections open at once, all hosts together (0 = no limit). Requests beyond wait.
  long limit = 100;
  /// Most connections open at once to one host (0 = no limit).
  long limit_per_host = 0;
  /// Sent with every request (a request's own headers of the same name win).
  Headers headers = {};
  /// Call raise_for_status() on every response before returning it.
  bool raise_for_status = false;
  /// Verify TLS certificates (default) — false accepts any certificate (aiohttp's ssl=False).
  bool verify_ssl = true;
  /// A PEM file of CA certificates to trust instead of the system's (e.g. a self-signed cert).
  std::string ca_file = {};
  /// The session's cookie jar (aiohttp's cookie_jar=): null makes a CookieJar of the session's
  /// own; a DummyCookieJar keeps none. `cookies` are added to it as aiohttp's cookies= are
  /// (domain-less: sent to every host).
  std::shared_ptr<CookieJar> cookie_jar = nullptr;
  Cookies cookies = {};
  /// aiohttp's trace_configs: every request of the session reports to these (see TraceConfig).
  std::vector<std::shared_ptr<TraceConfig>> trace_configs = {};
  /// aiohttp's TCPConnector(ssl=SSLContext): https connections use this context's trusted CAs,
  /// verify_mode (CERT_NONE: no verification), check_hostname, certificate chain and key (a
  /// client certificate), minimum/maximum version and TLS <= 1.2 ciphers. Copied into libcurl's
  /// OpenSSL context for each new connection; ALPN stays libcurl's (h2 / http/1.1). Wins over
  /// verify_ssl and ca_file, which it replaces.
  std::shared_ptr<ssl::SSLContext> ssl = nullptr;
  /// read()/text()/json() refuse a body larger than this with ClientPayloadError (streaming
  /// through content() is not limited: it never holds the whole body).
  std::size_t max_body_size = std::size_t(1) << 30;
  /// A compressed body (Content-Encoding, decoded by curl) may decode to at most this many bytes
  /// per 64 KiB received, read() and streaming alike; past it ClientPayloadError("Decompressed
  /// data exceeds the configured limit of N bytes"). aiohttp's DEFAULT_MAX_DECOMPRESS_SIZE (32
  /// MiB per read), i.e. gzip bombs fail fast. 0 = no limit.
  std::size_t max_decompress_size = std::size_t(32) << 20;
  /// aiohttp's parser limits: the status line, each header line, the number of header lines
  /// (ClientResponseError 400 past them).
  std::size_t max_line_size = 8190;
  std::size_t max_field_size = 8190;
  std::size_t max_headers = 128;
  /// Prefer HTTP/2 over TLS when the server offers it (ALPN); plain http stays HTTP/1.1.
  bool http2 = true;
};

}  // namespace asyncio::http

#include "detail/http_transfer.hpp"

namespace asyncio::http {

class ClientResponse;

/// Async iterator over a body in chunks of at most `n` bytes (content().iter_chunked(n)):
/// `while (auto chunk = co_await it.anext()) {...}` or async_for(it, body). std::nullopt at the end.
class ChunkIterator {
 public:
  ChunkIterator(detail::http::Transfer* t, std::size_t n) : t_(t), n_(n ? n : 65536) {
    if (t_) t_->set_chunk_hint(n_);
  }
  struct Next {
    detail::http::TransferWait w;
    std::size_t n;
    bool await_ready() const noexcept { return w.await_ready(); }
    void await_suspend(std::coroutine_handle<> h) { w.await_suspend(h); }
    std::optional<std::string> await_resume();
    detail::http::Transfer* t;
  };
  /// The next chunk (what has arrived, at most n bytes), or std::nullopt at the end of the body.
  Next anext() { return Next{detail::http::TransferWait(t_, detail::http::Want::Some), n_, t_}; }

 private:
  detail::http::Transfer* t_;
  std::size_t n_;
};

/// The body stream of a response (aiohttp's response.content, a StreamReader).
class StreamContent {
 public:
  explicit StreamContent(detail::http::Transfer* t) : t_(t) {}
  /// Up to `n` bytes as soon as some have arrived ("" at the end); n < 0 reads to the end.
  Task<std::string> read(long long n = -1);
  /// Whatever has arrived (at least one byte), "" at the end.
  Task<std::string> readany() { return read(std::numeric_limits<long long>::max()); }
  /// The bytes up to and including `separator`; at the end of the body, what is left (aiohttp
  /// 3.8's readuntil). ValueError("Chunk too big") past 128 KiB without it (aiohttp's high water).
  Task<std::string> readuntil(std::string separator = "\n");
  /// One line with its "\n" (the last one may lack it); "" at the end.
  Task<std::string> readline() { return readuntil("\n"); }
  /// Exactly `n` bytes; IncompleteReadError (with what came) if the body ends first.
  Task<std::string> readexactly(std::size_t n);
  /// `async for line in response.content`: async_for(resp.content(), ...) gives the lines;
  /// std::nullopt at the end.
  Task<std::optional<std::string>> anext();
  static constexpr std::size_t kHighWater = 128 * 1024;
  /// Iterate the body in chunks of at most n bytes (an AsyncGenerator), with flat memory: the
  /// transfer pauses while the buffer is full. `while (auto c = co_await gen.anext()) ...`
  AsyncGenerator<std::string> iter_chunked(std::size_t n);
  /// Iterate whatever arrives.
  AsyncGenerator<std::string> iter_any() { return iter_chunked(256 * 1024); }
  /// True once the whole body was received and consumed.
  bool at_eof() const noexcept { return t_->eof(); }

 private:
  detail::http::Transfer* t_;
};

/// A redirect answered on the way to a response (aiohttp keeps the ClientResponse objects
/// themselves in `history`; their bodies are never read, so here is what remains of each).
struct RedirectResponse {
  int status = 0;
  std::string reason;
  std::string url;  // the URL that answered with the redirect
  Headers headers;
};

/// A response (aiohttp.ClientResponse), returned once the status line and headers are in; the
/// body streams after. Move-only. Releasing it (release(), close(), aexit or destruction)
/// before the body is complete closes its connection; a fully read one goes back to the pool.
class ClientResponse {
 public:
  int status = 0;
  /// The redirects followed to get here, first to last (aiohttp's history); empty without any.
  std::vector<RedirectResponse> history;
  std::string reason;
  Headers headers;
  /// The final URL (after redirects).
  std::string url;
  /// The request method.
  std::string method;
  /// The MIME type of Content-Type, lower-cased, without parameters ("application/octet-stream"
  /// when the header is absent), and its charset parameter ("" if none).
  std::string content_type;
  std::string charset;
  /// "1.1", "2", ...
  std::string version;

  /// status < 400.
  bool ok() const noexcept { return status < 400; }
  /// Throws ClientResponseError{status} for a status of 400 or more (releasing the response).
  void raise_for_status() {
    if (status >= 400) {
      release();
      throw ClientResponseError(status, reason, url);
    }
  }
  /// The whole body (cached: a second call returns it again). ClientPayloadError if it is larger
  /// than the session's max_body_size or broke off; timeouts as ClientTimeout describes.
  /// Returns a copy of the cached body (text() likewise; json() parses the cache in place).
  Task<std::string> read();
  /// The body as text (the bytes as they are; no transcoding).
  Task<std::string> text();
  /// The body parsed as JSON; JSON null for an empty body. ContentTypeError if the Content-Type
  /// is not application/json (or application/...+json), unless `content_type` is std::nullopt.
  /// Malformed JSON raises asyncio::ValueError (Python's json.JSONDecodeError is one).
  Task<nlohmann::json> json(std::optional<std::string> content_type = std::string("application/json"));
  /// The body stream (aiohttp's response.content).
  StreamContent& content() noexcept { return content_; }
  /// Give the connection back (or close it if the body is unfinished). Idempotent.
  void release() noexcept {
    if (t_ && !t_->done()) t_->abort(std::make_exception_ptr(ClientConnectionError("Connection closed")));
    released_ = true;
  }
  void close() noexcept { release(); }
  bool closed() const noexcept { return released_ || !t_ || t_->done(); }

  /// async context manager: `async with resp:` releases it at the end.
  detail::http::RefReady<ClientResponse> aenter() noexcept { return {this}; }
  detail::Ready<bool> aexit(std::exception_ptr) noexcept {
    release();
    return {false};
  }

  ClientResponse(ClientResponse&& o) noexcept
      : status(o.status),
        history(std::move(o.history)),
        reason(std::move(o.reason)),
        headers(std::move(o.headers)),
        url(std::move(o.url)),
        method(std::move(o.method)),
        content_type(std::move(o.content_type)),
        charset(std::move(o.charset)),
        version(std::move(o.version)),
        t_(std::move(o.t_)),
        content_(t_.get()),
        body_(std::move(o.body_)),
        released_(o.released_) {}
  ClientResponse& operator=(ClientResponse&&) = delete;
  ClientResponse(const ClientResponse&) = delete;
  ~ClientResponse() = default;

  /// Machinery: built by ClientSession from a transfer whose headers are in.
  ClientResponse(std::unique_ptr<detail::http::Transfer> t, std::string method_);

 private:
  /// The whole body, read once into the cache.
  Task<const std::string&> body();
  std::unique_ptr<detail::http::Transfer> t_;
  StreamContent content_;
  std::optional<std::string> body_;
  bool released_ = false;
};

class ClientSession;

// ------------------------------------------------------------------------------ tracing
/// The parameters aiohttp's trace signals carry. `headers` are the request's as we send them
/// (curl adds Host, Accept-Encoding, Content-Length and the like on the wire).
struct TraceRequestStartParams {
  std::string method, url;
  Headers headers;
};
struct TraceRequestEndParams {
  std::string method, url;
  Headers headers;
  const ClientResponse* response = nullptr;
};
struct TraceRequestExceptionParams {
  std::string method, url;
  Headers headers;
  std::exception_ptr exception;
};
struct TraceRequestRedirectParams {
  std::string method, url;
  Headers headers;
  const RedirectResponse* response = nullptr;
};
struct TraceConnectionCreateStartParams {};
struct TraceConnectionCreateEndParams {};
struct TraceConnectionReuseconnParams {};
struct TraceDnsResolveHostStartParams {
  std::string host;
};
struct TraceDnsResolveHostEndParams {
  std::string host;
};

/// aiohttp's TraceConfig: callbacks (coroutines) a session runs at each step of a request, in
/// aiohttp's order: request start; for each hop, a new connection (create start, then DNS
/// resolve start/end for a host name, create end) or a reused one (reuseconn), then a redirect;
/// then end or exception. Differs from aiohttp: the connection and DNS signals of a hop come
/// when its response headers are in (curl made the connection and tells whether it did), so a
/// request that fails before any response reports none of them (start, then exception); a
/// callback gets the parameters only (no session, no trace_config_ctx: capture what you need).
/// A callback's exception fails the request, as aiohttp's.
class TraceConfig {
 public:
  template <class P>
  using Signal = std::vector<std::function<Task<void>(const P&)>>;
  Signal<TraceRequestStartParams> on_request_start;
  Signal<TraceRequestEndParams> on_request_end;
  Signal<TraceRequestExceptionParams> on_request_exception;
  Signal<TraceRequestRedirectParams> on_request_redirect;
  Signal<TraceConnectionCreateStartParams> on_connection_create_start;
  Signal<TraceConnectionCreateEndParams> on_connection_create_end;
  Signal<TraceConnectionReuseconnParams> on_connection_reuseconn;
  Signal<TraceDnsResolveHostStartParams> on_dns_resolvehost_start;
  Signal<TraceDnsResolveHostEndParams> on_dns_resolvehost_end;
};

/// What session.get(...) returns: await it for the response (`co_await session.get(url)`), or
/// use it as an async context manager (`async with session.get(url) as response:`), which
/// releases the response at the end. Nothing is sent until it is awaited (it is lazy, like the
/// coroutine in Python).
class RequestContextManager {
 public:
  explicit RequestContextManager(Task<ClientResponse> t) : task_(std::move(t)) {}
  auto operator co_await() && noexcept { return std::move(task_).operator co_await(); }
  auto operator co_await() & noexcept { return task_.operator co_await(); }
  Task<ClientResponse&> aenter();
  Task<bool> aexit(std::exception_ptr) {
    if (resp_) resp_->release();
    co_return false;
  }

 private:
  Task<ClientResponse> task_;
  std::optional<ClientResponse> resp_;
};

/// aiohttp.ClientSession: one connection pool, shared by every request made through it.
// ------------------------------------------------------------------------------------ WebSockets

/// aiohttp's WebSocket names (shared with web.hpp's server).
using WSMsgType = asyncio::detail::ws::WSMsgType;
using WSMessage = asyncio::detail::ws::WSMessage;
using WSCloseCode = asyncio::detail::ws::WSCloseCode;
using WSCloseOptions = asyncio::detail::ws::WSCloseOptions;
using WebSocketError = asyncio::detail::ws::WebSocketError;
/// "WSMsgType.TEXT", as Python's str() of it.
using asyncio::detail::ws::to_string;

/// The server did not accept the WebSocket handshake (aiohttp.WSServerHandshakeError): message
/// "Invalid response status" (status is the server's), "Invalid upgrade header", "Invalid
/// connection header" or "Invalid challenge response"; `headers` the response's.
class WSServerHandshakeError : public ClientResponseError {
 public:
  WSServerHandshakeError(int status_, std::string message_, std::string url_, Headers headers_ = {})
      : std::runtime_error(std::to_string(status_) + ", message='" + message_ + "', url='" + url_ + "'"),
        ClientResponseError(status_, std::move(message_), std::move(url_)),
        headers(std::move(headers_)) {}
  Headers headers;
};

/// ws_connect options (aiohttp's keyword arguments).
struct WSConnectOptions {
  /// Subprotocols offered (Sec-WebSocket-Protocol); the server's choice is protocol().
  std::vector<std::string> protocols = {};
  /// Ping after this long without a message; no pong within half of it → dropped (CLOSED, 1006).
  std::optional<std::chrono::duration<double>> heartbeat = std::nullopt;
  /// Extra handshake headers (the session's default headers are sent too; these win).
  Headers headers = {};
  /// TLS for wss:// (aiohttp's ssl=): a context of your own; none is ssl::default_context()
  /// (the system's CAs, host name checked), as aiohttp's default.
  std::shared_ptr<ssl::SSLContext> ssl = {};
  /// The Origin header, if any.
  std::string origin = {};
  /// Basic credentials for the handshake (the session's auth= is used when this is empty).
  std::optional<BasicAuth> auth = std::nullopt;
  /// How long close() waits for the server's close frame.
  std::chrono::duration<double> timeout = std::chrono::duration<double>(10.0);
  std::optional<std::chrono::duration<double>> receive_timeout = std::nullopt;
  /// The connect + handshake must finish within this (TimeoutError), like aiohttp's total timeout.
  std::optional<std::chrono::duration<double>> handshake_timeout = std::chrono::duration<double>(30.0);
  bool autoclose = true;
  bool autoping = true;
  /// A message larger than this closes the connection with 1009 (0: no limit). aiohttp: 4 MiB.
  std::size_t max_msg_size = std::size_t(4) << 20;
  /// Redirects (301, 302, 303, 307, 308) followed on the handshake, as aiohttp's request does.
  int max_redirects = 10;
};

/// aiohttp's ClientWebSocketResponse: what `co_await session.ws_connect(url)` gives. The
/// methods are the server's (receive, receive_str/bytes/json, send_str/bytes/json, ping, pong,
/// close, closed, close_code, exception, and asyncio::async_for over the messages). Frames it
/// sends are masked (a fresh getrandom() key each). Move-only; dropped unclosed, its connection
/// is aborted. Not supported: permessage-deflate (never offered).
class ClientWebSocketResponse : public asyncio::detail::ws::WebSocketBase {
 public:
  ClientWebSocketResponse() = default;
  /// 101.
  int status = 0;
  /// The handshake response's headers.
  Headers headers;
  /// The URL finally connected to (after redirects).
  std::string url;

  /// async context manager: `async with session.ws_connect(url) as ws:` closes it at the end.
  detail::http::RefReady<ClientWebSocketResponse> aenter() noexcept { return {this}; }
  Task<bool> aexit(std::exception_ptr) {
    co_await close();
    co_return false;
  }

  /// Machinery (ws_connect): adopt an upgraded connection.
  void adopt(StreamReader r, StreamWriter w, const WSConnectOptions& o, std::string protocol) {
    asyncio::detail::ws::CoreOptions co = asyncio::detail::ws::core_options_of(o);
    protocol_ = std::move(protocol);
    attach(std::make_shared<asyncio::detail::ws::Core>(false, std::move(r), std::move(w), co), std::string());
  }
};

/// Default-constructible; an async context manager (closed at the end of the block); close it
/// with `co_await session.close()` otherwise — a session destroyed unclosed is reported through
/// the loop's exception handler ("Unclosed client session") and then cleaned up.
/// The session binds to the loop of its first request and serves only that loop. It reuses
/// curl handles between requests and remembers how it parsed each URL it requested.
class ClientSession {
  static void check_options(const SessionOptions& o);

 public:
  ClientSession() : ClientSession(SessionOptions{}) {}
  /// ValueError for a base_url that is not an origin or a login with ':' in `auth`.
  explicit ClientSession(SessionOptions opts)
      : opts_(std::make_shared<SessionOptions>(std::move(opts))),
        multi_(std::make_shared<detail::http::Multi>(opts_->limit, opts_->limit_per_host)) {
    check_options(*opts_);
    if (!opts_->cookie_jar) opts_->cookie_jar = std::make_shared<CookieJar>();
    opts_->cookie_jar->update_cookies(opts_->cookies);  // aiohttp's ClientSession(cookies=)
  }
  ClientSession(ClientSession&&) noexcept = default;
  ClientSession& operator=(ClientSession&& o) noexcept {
    if (this != &o) {
      destroy();
      opts_ = std::move(o.opts_);
      multi_ = std::move(o.multi_);
    }
    return *this;
  }
  ~ClientSession() { destroy(); }

  /// Any method: `request("OPTIONS", url, {...})`.
  RequestContextManager request(std::string method, std::string url, RequestOptions opts);
  // Overloads rather than `= {}` defaults: a defaulted RequestOptions would be a temporary of the
  // caller's co_await full-expression, which GCC 12 destroys twice (README "GCC 12 and coroutines").
  RequestContextManager request(std::string method, std::string url) { return request(std::move(method), std::move(url), RequestOptions{}); }
  RequestContextManager get(std::string url) { return get(std::move(url), RequestOptions{}); }
  RequestContextManager get(std::string url, RequestOptions opts) { return request("GET", std::move(url), std::move(opts)); }
  RequestContextManager post(std::string url) { return post(std::move(url), RequestOptions{}); }
  RequestContextManager post(std::string url, RequestOptions opts) { return request("POST", std::move(url), std::move(opts)); }
  RequestContextManager put(std::string url) { return put(std::move(url), RequestOptions{}); }
  RequestContextManager put(std::string url, RequestOptions opts) { return request("PUT", std::move(url), std::move(opts)); }
  RequestContextManager patch(std::string url) { return patch(std::move(url), RequestOptions{}); }
  RequestContextManager patch(std::string url, RequestOptions opts) { return request("PATCH", std::move(url), std::move(opts)); }
  RequestContextManager delete_(std::string url) { return delete_(std::move(url), RequestOptions{}); }
  RequestContextManager delete_(std::string url, RequestOptions opts) { return request("DELETE", std::move(url), std::move(opts)); }
  RequestContextManager head(std::string url) { return head(std::move(url), RequestOptions{}); }
  RequestContextManager head(std::string url, RequestOptions opts) {
    if (!opts.allow_redirects) return request("HEAD", std::move(url), std::move(opts));
    opts.allow_redirects = false;  // aiohttp: head() does not follow redirects by default
    return request("HEAD", std::move(url), std::move(opts));
  }
  RequestContextManager options(std::string url) { return options(std::move(url), RequestOptions{}); }
  RequestContextManager options(std::string url, RequestOptions opts) { return request("OPTIONS", std::move(url), std::move(opts)); }

  /// aiohttp's ws_connect: open a WebSocket to a ws:// or wss:// URL (http:// and https:// are
  /// taken too). The handshake goes over open_connection with the session's default headers
  /// and auth, follows redirects; a connection that fails is ClientConnectorError, an answer
  /// other than a valid 101 WSServerHandshakeError, a bad URL InvalidURL.
  Task<ClientWebSocketResponse> ws_connect(std::string url, WSConnectOptions opts);
  // (an overload rather than a `= {}` default: GCC 12, see request())
  Task<ClientWebSocketResponse> ws_connect(std::string url) { return ws_connect(std::move(url), WSConnectOptions{}); }

  /// Close every connection; requests still in flight fail with ClientConnectionError. Idempotent.
  Task<void> close() {
    if (multi_) multi_->shutdown();
    co_return;
  }
  bool closed() const noexcept { return !multi_ || multi_->closed(); }
  const SessionOptions& options() const noexcept { return *opts_; }
  /// aiohttp's session.cookie_jar.
  CookieJar& cookie_jar() const noexcept { return *opts_->cookie_jar; }

  /// async context manager: `async with ClientSession() as session:`.
  detail::http::RefReady<ClientSession> aenter() noexcept { return {this}; }
  Task<bool> aexit(std::exception_ptr) {
    co_await close();
    co_return false;
  }

  /// Introspection (tests): requests in curl right now, sockets watched on the loop, and
  /// whether curl's timer is armed on the loop.
  std::size_t active_requests() const noexcept { return multi_ ? multi_->transfer_count() : 0; }
  std::size_t open_sockets() const noexcept { return multi_ ? multi_->socket_count() : 0; }
  bool timer_armed() const noexcept { return multi_ && multi_->timer_armed(); }
  /// curl easy handles kept for reuse by this session's next requests (at most 64).
  std::size_t idle_handles() const noexcept { return multi_ ? multi_->idle_easy_count() : 0; }

 private:
  void destroy() noexcept;
  std::shared_ptr<SessionOptions> opts_;
  std::shared_ptr<detail::http::Multi> multi_;
};

}  // namespace asyncio::http

#include "detail/http_request.hpp"
#include "detail/http_cookies.hpp"
#include "detail/http_ws.hpp"
