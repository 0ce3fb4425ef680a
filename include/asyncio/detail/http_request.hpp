// Bodies of http.hpp: building a request (validation before anything is sent), the request
// coroutine, ClientResponse's readers, and the session's close/report.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <regex>

// (No #include of http.hpp: this is its second half, included at its end only.)

namespace asyncio::detail::http {

using asyncio::http::ClientResponse;
using asyncio::http::ClientTimeout;
using asyncio::http::RequestOptions;
using asyncio::http::SessionOptions;

inline bool is_tchar(unsigned char c) {
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

inline std::string repr(std::string_view s) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else out += static_cast<char>(c);
  }
  return out + "'";
}

/// ValueError for a header that would let a caller inject lines into the request.
inline void check_header(const std::string& name, const std::string& value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); }))
    throw ValueError("Invalid header name " + repr(name));
  for (char c : value)
    if (c == '\r' || c == '\n' || c == '\0') throw ValueError("Invalid header value " + repr(value) + " (contains CR, LF or NUL)");
}

inline bool is_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

inline double seconds_of(const std::optional<std::chrono::duration<double>>& d) {
  if (!d) return 0;
  double s = d->count();
  if (std::isnan(s) || s < 0) throw ValueError("ClientTimeout: a timeout must be a non-negative number of seconds");
  return s;
}

inline std::string quote_plus(std::string_view s);

struct CurlUrl {
  CURLU* u = curl_url();
  ~CurlUrl() { curl_url_cleanup(u); }
  std::optional<std::string> get(CURLUPart part, unsigned flags = 0) const {
    char* p = nullptr;
    if (curl_url_get(u, part, &p, flags) != CURLUE_OK || !p) return std::nullopt;
    std::string s(p);
    curl_free(p);
    return s;
  }
};

/// CURLOPT_SSL_CTX_FUNCTION: curl (built on OpenSSL) made the SSL_CTX of a new connection and
/// set its own defaults; our context's trust store, client certificate, versions and ciphers
/// replace them. (Verification itself is switched by VERIFYPEER / VERIFYHOST, set from the
/// context's verify_mode and check_hostname.)
inline CURLcode apply_ssl_context(CURL*, void* curl_ctx, void* ours) noexcept {
  SSL_CTX* c = static_cast<SSL_CTX*>(curl_ctx);
  SSL_CTX* o = static_cast<ssl::SSLContext*>(ours)->native_handle();
  X509_STORE* store = SSL_CTX_get_cert_store(o);
  if (store && X509_STORE_up_ref(store) == 1) SSL_CTX_set_cert_store(c, store);  // (takes our reference)
  if (X509* cert = SSL_CTX_get0_certificate(o)) {
    EVP_PKEY* key = SSL_CTX_get0_privatekey(o);
    STACK_OF(X509)* chain = nullptr;
    SSL_CTX_get0_chain_certs(o, &chain);
    if (SSL_CTX_use_certificate(c, cert) != 1 || !key || SSL_CTX_use_PrivateKey(c, key) != 1 ||
        (chain && SSL_CTX_set1_chain(c, chain) != 1))
      return CURLE_SSL_CERTPROBLEM;
  }
  if (SSL_CTX_set_min_proto_version(c, static_cast<int>(SSL_CTX_get_min_proto_version(o))) != 1 ||
      SSL_CTX_set_max_proto_version(c, static_cast<int>(SSL_CTX_get_max_proto_version(o))) != 1)
    return CURLE_SSL_CIPHER;
  std::string ciphers;  // TLS <= 1.2 suites by name (set_cipher_list ignores the 1.3 ones)
  if (STACK_OF(SSL_CIPHER)* list = SSL_CTX_get_ciphers(o)) {
    for (int i = 0; i < sk_SSL_CIPHER_num(list); ++i) {
      if (!ciphers.empty()) ciphers += ':';
      ciphers += SSL_CIPHER_get_name(sk_SSL_CIPHER_value(list, i));
    }
  }
  if (!ciphers.empty() && SSL_CTX_set_cipher_list(c, ciphers.c_str()) != 1) {
    ERR_clear_error();
    return CURLE_SSL_CIPHER;
  }
  return CURLE_OK;
}

inline bool is_ip_host(std::string host);
inline CURLSH* jar_share(const asyncio::http::CookieJar& jar) noexcept;  // null for a DummyCookieJar
inline std::string extra_cookie_header(const asyncio::http::CookieJar* jar, const asyncio::http::Cookies& own);

/// The session's headers, then the request's replacing those of the same name.
inline asyncio::http::Headers merge_headers(const SessionOptions& so, const RequestOptions& ro) {
  asyncio::http::Headers merged = so.headers;
  for (auto& [k, v] : ro.headers) merged.erase(k);
  for (auto& [k, v] : ro.headers) merged.add(k, v);
  return merged;
}

/// A configured easy handle for `method url` with the `merged` headers (merge_headers); throws
/// InvalidURL / ValueError before anything is sent.
inline std::unique_ptr<Transfer> prepare(const std::shared_ptr<Multi>& m, const SessionOptions& so,
                                         const std::string& method, const std::string& url, const RequestOptions& ro,
                                         asyncio::http::Headers merged) {
  namespace h = asyncio::http;
  if (method.empty() || !std::all_of(method.begin(), method.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); }))
    throw ValueError("Invalid method " + repr(method));
  // ---- URL
  for (unsigned char c : url)
    if (c <= 0x20 || c == 0x7f) throw h::InvalidURL(url);
  const ParsedUrl* parsed = ro.params.empty() ? m->cached_url(url) : nullptr;
  ParsedUrl fresh;
  if (!parsed) {
    CurlUrl cu;
    if (!cu.u) throw RuntimeError("curl_url failed");
    if (curl_url_set(cu.u, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) throw h::InvalidURL(url);
    fresh.scheme = cu.get(CURLUPART_SCHEME).value_or("");
    std::transform(fresh.scheme.begin(), fresh.scheme.end(), fresh.scheme.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (fresh.scheme != "http" && fresh.scheme != "https") throw h::InvalidURL(url);
    fresh.host = cu.get(CURLUPART_HOST).value_or("");
    if (fresh.host.empty()) throw h::InvalidURL(url);
    fresh.port = cu.get(CURLUPART_PORT, CURLU_DEFAULT_PORT).value_or("");
    for (auto& [k, v] : ro.params) {
      std::string kv = quote(k) + "=" + quote(v);
      if (curl_url_set(cu.u, CURLUPART_QUERY, kv.c_str(), CURLU_APPENDQUERY) != CURLUE_OK) throw h::InvalidURL(url);
    }
    fresh.full = cu.get(CURLUPART_URL).value_or(url);
    parsed = ro.params.empty() ? m->remember_url(url, std::move(fresh)) : &fresh;
  }
  const std::string& scheme = parsed->scheme;
  const std::string& host = parsed->host;
  const std::string& port = parsed->port;
  const std::string& full = parsed->full;

  // ---- headers
  for (auto& [k, v] : merged) check_header(k, v);
  if (int{ro.data.has_value()} + int{ro.json.has_value()} + int{ro.form.has_value()} + int{ro.multipart.has_value()} +
          int{static_cast<bool>(ro.stream)} >
      1)
    throw ValueError("data and json parameters can not be used at the same time");
  std::optional<curl_off_t> stream_length;
  if (ro.stream && merged.contains("Content-Length")) {
    std::string v = merged.get("Content-Length", "");
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || n < 0) throw ValueError("Invalid Content-Length " + repr(v));
    stream_length = n;
    merged.erase("Content-Length");  // (curl sends it, from the size given below)
  }

  auto t = std::make_unique<Transfer>(m);
  CURL* e = t->easy();
  bool has_body = ro.data || ro.json || ro.form || ro.multipart || ro.stream;
  if (ro.multipart) {
    for (const auto& f : ro.multipart->fields())
      if (!f.path.empty() && ::access(f.path.c_str(), R_OK) != 0) asyncio::detail::raise_file_error(errno, "'" + f.path + "'");
  } else if (ro.form) {
    for (auto& [k, v] : *ro.form) {  // Python's urlencode(doseq=True): quote_plus each side
      if (!t->body_.empty()) t->body_ += '&';
      t->body_ += quote_plus(k) + "=" + quote_plus(v);
    }
    if (!merged.contains("Content-Type")) merged.add("Content-Type", "application/x-www-form-urlencoded");
  } else if (ro.json) {
    t->body_ = ro.json->dump();
    if (!merged.contains("Content-Type")) merged.add("Content-Type", "application/json");
  } else if (ro.data) {
    t->body_ = *ro.data;
    if (!merged.contains("Content-Type")) merged.add("Content-Type", "application/octet-stream");
  } else if (ro.stream) {
    if (!merged.contains("Content-Type")) merged.add("Content-Type", "application/octet-stream");
  }
  for (auto& [k, v] : merged) {
    if (v.empty())
      t->append_header_line(k + ";");  // curl's spelling of "send this header with no value"
    else
      t->append_header_line(k + ": " + v);
  }
  if (!merged.contains("Expect")) t->append_header_line("Expect:");  // no 100-continue round trip
  t->apply_headers();

  curl_easy_setopt(e, CURLOPT_URL, full.c_str());
  if (!merged.contains("User-Agent")) {
    static const std::string ua = std::string("asyncio-cpp-http/0.1 libcurl/") + curl_version_info(CURLVERSION_NOW)->version;
    curl_easy_setopt(e, CURLOPT_USERAGENT, ua.c_str());
  }
  t->auto_decompress_ = !merged.contains("Accept-Encoding");
  if (t->auto_decompress_) curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // all curl decodes
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");

  // ---- method and body
  bool body_method = method == "POST" || method == "PUT" || method == "PATCH";
  if (method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (method == "GET" && !has_body) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else {
    if (method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (ro.multipart) {
      curl_mime* mime = t->new_mime();
      for (const auto& f : ro.multipart->fields()) {
        curl_mimepart* part = curl_mime_addpart(mime);
        curl_mime_name(part, f.name.c_str());
        if (!f.path.empty())
          curl_mime_filedata(part, f.path.c_str());  // (sets the filename to the path's; replaced below)
        else
          curl_mime_data(part, f.value.data(), f.value.size());
        curl_mime_filename(part, f.filename.empty() ? nullptr : f.filename.c_str());
        if (!f.content_type.empty()) curl_mime_type(part, f.content_type.c_str());
      }
      curl_easy_setopt(e, CURLOPT_MIMEPOST, mime);
    } else if (ro.stream) {
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, stream_length.value_or(-1));  // -1: chunked
      curl_easy_setopt(e, CURLOPT_READFUNCTION, &Transfer::on_read);
      curl_easy_setopt(e, CURLOPT_READDATA, t.get());
      t->upload_ = std::make_shared<Upload>();
      t->upload_->next = ro.stream;
      t->upload_->t = t.get();
      t->upload_->pump = create_task(pump_upload(t->upload_));
    } else if (has_body || body_method) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body_.size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body_.data());
    }
  }

  // ---- proxy: the request's, or the environment's only with trust_env (as aiohttp)
  if (!ro.proxy.empty()) {
    curl_easy_setopt(e, CURLOPT_PROXY, ro.proxy.c_str());
    t->proxy_ = ro.proxy;
    if (ro.proxy_auth) {
      curl_easy_setopt(e, CURLOPT_PROXYAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(e, CURLOPT_PROXYUSERNAME, ro.proxy_auth->login.c_str());
      curl_easy_setopt(e, CURLOPT_PROXYPASSWORD, ro.proxy_auth->password.c_str());
    }
  } else if (!so.trust_env) {
    curl_easy_setopt(e, CURLOPT_PROXY, "");
  }

  // ---- Basic credentials (do_request decided which apply to this hop)
  if (ro.auth) {
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(e, CURLOPT_USERNAME, ro.auth->login.c_str());
    curl_easy_setopt(e, CURLOPT_PASSWORD, ro.auth->password.c_str());
  }

  // ---- redirects: do_request follows them (curl would follow any 3xx with a Location)
  t->follow_ = ro.allow_redirects && !ro.stream;  // (a streamed body cannot be sent twice)
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);

  // ---- timeouts
  const ClientTimeout& to = ro.timeout ? *ro.timeout : so.timeout;
  double total = seconds_of(to.total), conn = seconds_of(to.connect), sconn = seconds_of(to.sock_connect);
  double c = conn > 0 && sconn > 0 ? std::min(conn, sconn) : std::max(conn, sconn);
  if (total > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, std::max(1L, static_cast<long>(std::ceil(total * 1000))));
  if (c > 0) curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, std::max(1L, static_cast<long>(std::ceil(c * 1000))));
  t->total_ = total;
  t->sock_read_ = seconds_of(to.sock_read);

  // ---- cookies: the jar through curl's engine (not for an IP host unless the jar is unsafe,
  // as aiohttp's), then the jar's domain-less cookies and the request's own
  const h::CookieJar* jar = so.cookie_jar.get();
  if (jar && jar_share(*jar) && (jar->unsafe() || !is_ip_host(host))) {
    t->jar_ = so.cookie_jar;
    curl_easy_setopt(e, CURLOPT_SHARE, jar_share(*jar));
    curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");
  }
  std::string cookie = extra_cookie_header(jar, ro.cookies);
  if (!cookie.empty()) curl_easy_setopt(e, CURLOPT_COOKIE, cookie.c_str());  // (curl copies it)

  // ---- TLS and HTTP version
  if (ro.ssl && ro.verify_ssl)
    throw ValueError("verify_ssl, ssl_context, fingerprint and ssl parameters are mutually exclusive");
  ssl::SSLContext* ctx = ro.ssl ? ro.ssl.get() : so.ssl.get();
  bool verify = ctx ? ctx->verify_mode() != ssl::CERT_NONE : ro.verify_ssl.value_or(so.verify_ssl);
  bool verify_host = ctx ? ctx->check_hostname() : verify;
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify_host ? 2L : 0L);
  if (!so.ca_file.empty() && !ctx) curl_easy_setopt(e, CURLOPT_CAINFO, so.ca_file.c_str());
  if (ctx) {
    t->ssl_ctx_ = ro.ssl ? ro.ssl : so.ssl;  // (the transfer keeps it alive for curl's callback)
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, &apply_ssl_context);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, ctx);
    if (ro.ssl && ro.ssl != so.ssl) {
      // curl's pool and its TLS session cache do not tell contexts apart: a pooled connection,
      // or a resumed session (which skips verification), would bypass this context.
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
      curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    }
  }
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, so.http2 ? static_cast<long>(CURL_HTTP_VERSION_2TLS)
                                                     : static_cast<long>(CURL_HTTP_VERSION_1_1));
  if (so.http2 && scheme == "https") curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  // curl's default receive buffer (16 KiB): curl decodes a compressed body one received block
  // at a time, and a paused transfer still decodes the rest of its block (up to ~16 MiB of a
  // gzip bomb's output per 16 KiB): the block size bounds the work between two yields.
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, static_cast<long>(Transfer::kRecvBlock));

  t->host_ = host + ":" + port;
  t->tls_ = scheme == "https";
  t->verify_ = verify;
  t->cap_ = so.max_body_size;
  t->max_decompress_ = so.max_decompress_size;
  t->max_line_ = so.max_line_size;
  t->max_field_ = so.max_field_size;
  t->max_headers_ = so.max_headers;
  t->request_url_ = full;
  return t;
}

inline std::string origin_of(const std::string& url);

/// Python's quote_plus: quote() with spaces as '+'.
inline std::string quote_plus(std::string_view s) {
  std::string q = quote(s), out;
  out.reserve(q.size());
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (q.compare(i, 3, "%20") == 0) {
      out += '+';
      i += 2;
    } else {
      out += q[i];
    }
  }
  return out;
}

/// aiohttp 3.8's ClientSession._build_url with a base_url: the request names a path.
inline std::string join_base_url(const std::string& base, const std::string& url) {
  CurlUrl cu;
  bool absolute = cu.u && curl_url_set(cu.u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK;
  if (absolute || url.empty() || url[0] != '/')
    throw ValueError("with a base_url, a request URL is a path starting with '/': " + repr(url));
  std::string b = base;
  while (!b.empty() && b.back() == '/') b.pop_back();
  return b + url;
}

/// Which Basic credentials this request sends (aiohttp's ClientSession._request): its own, or
/// those in its URL (curl sends them), or the session's when the URL is of the session's
/// origin; never two of them, nor one with an Authorization header (ValueError, as aiohttp).
inline void choose_auth(const SessionOptions& so, RequestOptions& ro, const std::string& url,
                        const asyncio::http::Headers& headers) {
  CurlUrl cu;
  bool url_creds = cu.u && curl_url_set(cu.u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
                   cu.get(CURLUPART_USER).has_value();
  if (ro.auth && url_creds) throw ValueError("Cannot combine AUTH argument with credentials encoded in URL");
  if (!ro.auth && !url_creds && so.auth && (so.base_url.empty() || origin_of(so.base_url) == origin_of(url)))
    ro.auth = so.auth;
  if ((ro.auth || url_creds) && headers.contains("Authorization"))
    throw ValueError("Cannot combine AUTHORIZATION header with AUTH argument or credentials encoded in URL");
  if (ro.auth && ro.auth->login.find(':') != std::string::npos)
    throw ValueError("A \":\" is not allowed in login (RFC 1945#section-11.1)");
}

/// aiohttp's origin: scheme, host and port (default port filled in); "" if it does not parse.
inline std::string origin_of(const std::string& url) {
  CurlUrl cu;
  if (!cu.u || curl_url_set(cu.u, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return {};
  return lower(cu.get(CURLUPART_SCHEME).value_or("")) + "://" + lower(cu.get(CURLUPART_HOST).value_or("")) + ":" +
         cu.get(CURLUPART_PORT, CURLU_DEFAULT_PORT).value_or("");
}

/// The next hop of a redirect (aiohttp's ClientSession._request): `status` answered `method
/// from`; `to` is its Location resolved against `from`. Updates the method, body, headers,
/// params and what is left of the total timeout (`elapsed` seconds are spent).
inline void next_hop(const SessionOptions& so, RequestOptions& ro, asyncio::http::Headers& headers, std::string& method,
                     int status, const std::string& from, const std::string& to, double elapsed) {
  std::string scheme = lower(to.substr(0, to.find(':')));
  if (scheme != "http" && scheme != "https") throw asyncio::http::NonHttpUrlRedirectClientError(to);
  // For 301 and 302, mimic IE (POST becomes GET); 303 makes anything but HEAD a GET.
  if ((status == 303 && method != "HEAD") || ((status == 301 || status == 302) && method == "POST")) {
    method = "GET";
    ro.data.reset();
    ro.form.reset();
    ro.multipart.reset();
    ro.json.reset();
    headers.erase("Content-Length");
  }
  if (origin_of(from) != origin_of(to)) {
    ro.auth.reset();  // the credentials stay with their origin (and the session's with its own)
    headers.erase("Authorization");
    headers.erase("Cookie");
    headers.erase("Proxy-Authorization");
  }
  ro.params.clear();
  ClientTimeout to_ = ro.timeout ? *ro.timeout : so.timeout;  // the total covers every hop
  if (to_.total && to_.total->count() > 0) {
    double left = to_.total->count() - elapsed;
    if (left <= 0) throw TimeoutError();
    to_.total = std::chrono::duration<double>(left);
  }
  ro.timeout = to_;
}

/// Run one signal of every trace config, in order (aiohttp's Trace.send_*).
template <class P>
Task<void> send_trace(const SessionOptions& so, asyncio::http::TraceConfig::Signal<P> asyncio::http::TraceConfig::*signal,
                      const P& params) {
  for (const auto& tc : so.trace_configs)
    for (const auto& cb : (*tc).*signal) {
      auto t = cb(params);
      co_await std::move(t);
    }
}
/// The connection signals of a hop whose response headers are in: a new connection (with a DNS
/// lookup for a host name) or a reused one, as curl reports it.
inline Task<void> trace_connection(const SessionOptions& so, Transfer& t) {
  namespace h = asyncio::http;
  long connects = 0;
  curl_easy_getinfo(t.easy(), CURLINFO_NUM_CONNECTS, &connects);
  if (connects == 0) {
    auto r = send_trace(so, &h::TraceConfig::on_connection_reuseconn, h::TraceConnectionReuseconnParams{});
    co_await std::move(r);
    co_return;
  }
  auto s = send_trace(so, &h::TraceConfig::on_connection_create_start, h::TraceConnectionCreateStartParams{});
  co_await std::move(s);
  std::string host = t.host_.substr(0, t.host_.rfind(':'));  // ("host:port")
  if (!is_ip_host(host)) {
    h::TraceDnsResolveHostStartParams ds{host};
    auto d1 = send_trace(so, &h::TraceConfig::on_dns_resolvehost_start, ds);
    co_await std::move(d1);
    h::TraceDnsResolveHostEndParams de{host};
    auto d2 = send_trace(so, &h::TraceConfig::on_dns_resolvehost_end, de);
    co_await std::move(d2);
  }
  auto e = send_trace(so, &h::TraceConfig::on_connection_create_end, h::TraceConnectionCreateEndParams{});
  co_await std::move(e);
}

/// The request and its redirect hops. `prepared`: the caller already checked the session, joined
/// base_url and merged the headers (the traced path, which reports them first); else it happens
/// here, when the request is awaited, as aiohttp's coroutine does it.
inline Task<ClientResponse> do_request_hops(std::shared_ptr<Multi> m, std::shared_ptr<SessionOptions> so,
                                            std::string method, std::string url, RequestOptions ro, bool prepared,
                                            asyncio::http::Headers headers);

/// A request with trace configs: start, then the hops, then end or exception.
inline Task<ClientResponse> do_request_traced(std::shared_ptr<Multi> m, std::shared_ptr<SessionOptions> so,
                                              std::string method, std::string url, RequestOptions ro) {
  if (!m || m->closed()) throw RuntimeError("Session is closed");
  if (!so->base_url.empty()) url = join_base_url(so->base_url, url);
  asyncio::http::Headers headers = merge_headers(*so, ro);
  namespace h = asyncio::http;
  h::TraceRequestStartParams start{method, url, headers};
  auto ts = send_trace(*so, &h::TraceConfig::on_request_start, start);
  co_await std::move(ts);
  std::exception_ptr err;
  std::optional<ClientResponse> resp;
  try {
    auto hops = do_request_hops(m, so, method, url, std::move(ro), true, headers);
    resp.emplace(co_await std::move(hops));
  } catch (const CancelledError&) {
    throw;
  } catch (...) {
    err = std::current_exception();
  }
  if (err) {
    h::TraceRequestExceptionParams ep{method, url, headers, err};
    auto te = send_trace(*so, &h::TraceConfig::on_request_exception, ep);
    co_await std::move(te);
    std::rethrow_exception(err);
  }
  h::TraceRequestEndParams endp{method, url, headers, &*resp};
  auto tend = send_trace(*so, &h::TraceConfig::on_request_end, endp);
  co_await std::move(tend);
  co_return std::move(*resp);
}

/// What a session's request() awaits: one coroutine frame without trace configs (the hops'),
/// the tracing one around it with them.
inline Task<ClientResponse> do_request(std::shared_ptr<Multi> m, std::shared_ptr<SessionOptions> so, std::string method,
                                       std::string url, RequestOptions ro) {
  if (!so->trace_configs.empty())
    return do_request_traced(std::move(m), std::move(so), std::move(method), std::move(url), std::move(ro));
  return do_request_hops(std::move(m), std::move(so), std::move(method), std::move(url), std::move(ro), false,
                         asyncio::http::Headers());
}

inline Task<ClientResponse> do_request_hops(std::shared_ptr<Multi> m, std::shared_ptr<SessionOptions> so,
                                            std::string method, std::string url, RequestOptions ro, bool prepared,
                                            asyncio::http::Headers headers) {
  if (!prepared) {
    if (!m || m->closed()) throw RuntimeError("Session is closed");
    if (!so->base_url.empty()) url = join_base_url(so->base_url, url);
    headers = merge_headers(*so, ro);
  }
  choose_auth(*so, ro, url, headers);
  std::unique_ptr<Transfer> t = prepare(m, *so, method, url, ro, headers);
  const bool tracing = !so->trace_configs.empty();
  EventLoop& loop = get_running_loop();
  m->bind(loop);
  const std::string first_url = t->request_url_;  // aiohttp's history[0].request_info.real_url
  std::vector<asyncio::http::RedirectResponse> history;
  const double started = loop.time();
  int redirects = 0;
  for (;;) {
    m->add(t.get());
    co_await TransferWait(t.get(), Want::Headers);
    if (tracing && (t->headers_done() || t->redirect_ready())) {
      auto tc = trace_connection(*so, *t);
      co_await std::move(tc);
    }
    if (!t->redirect_ready()) break;
    // aiohttp: raised when the number of redirect responses reaches max_redirects (0: no limit).
    ++redirects;
    if (ro.max_redirects > 0 && redirects >= ro.max_redirects)
      throw asyncio::http::TooManyRedirects(0, "", first_url);
    std::string to = t->redirect_url();  // the Location, resolved by curl
    if (to.empty()) throw asyncio::http::InvalidUrlRedirectClientError(t->headers().get("Location", ""));
    if (tracing) {
      asyncio::http::RedirectResponse hop{t->status(), t->reason(), t->request_url_, t->headers()};
      asyncio::http::TraceRequestRedirectParams rp{method, t->request_url_, headers, &hop};
      auto tr = send_trace(*so, &asyncio::http::TraceConfig::on_request_redirect, rp);
      co_await std::move(tr);
    }
    next_hop(*so, ro, headers, method, t->status(), t->request_url_, to, loop.time() - started);
    history.push_back({t->status(), t->reason(), t->request_url_, t->headers()});
    t.reset();  // gives its easy handle back for the next hop
    t = prepare(m, *so, method, to, ro, headers);
  }
  if (!t->headers_done()) {
    if (t->error()) std::rethrow_exception(t->error());
    throw asyncio::http::ServerDisconnectedError("Server disconnected before sending a response");
  }
  ClientResponse resp(std::move(t), std::move(method));
  resp.history = std::move(history);
  if (ro.raise_for_status.value_or(so->raise_for_status)) resp.raise_for_status();
  co_return resp;
}

inline Task<std::optional<std::string>> next_piece(std::shared_ptr<AsyncGenerator<std::string>> gen) {
  auto n = gen->anext();
  std::optional<std::string> piece = co_await std::move(n);
  co_return piece;
}
inline Task<std::optional<std::string>> next_piece(StreamReader* reader) {
  std::string piece = co_await reader->read(64 * 1024);
  if (piece.empty()) co_return std::nullopt;
  co_return piece;
}

}  // namespace asyncio::detail::http

namespace asyncio::http {

inline BodyStream stream_body(AsyncGenerator<std::string> gen) {
  auto g = std::make_shared<AsyncGenerator<std::string>>(std::move(gen));
  return [g] { return detail::http::next_piece(g); };
}
inline BodyStream stream_body(StreamReader& reader) {
  StreamReader* r = &reader;
  return [r] { return detail::http::next_piece(r); };
}

inline ClientResponse::ClientResponse(std::unique_ptr<detail::http::Transfer> t, std::string method_)
    : method(std::move(method_)), t_(std::move(t)), content_(t_.get()) {
  status = t_->status();
  reason = t_->reason();
  headers = std::move(t_->headers());
  url = t_->url();
  version = t_->version();
  std::string ct = headers.get("Content-Type", "");
  std::size_t semi = ct.find(';');
  content_type = detail::http::lower(detail::http::trim(std::string_view(ct).substr(0, semi)));
  if (content_type.empty()) content_type = "application/octet-stream";
  while (semi != std::string::npos) {
    std::size_t next = ct.find(';', semi + 1);
    std::string param = detail::http::trim(std::string_view(ct).substr(semi + 1, next == std::string::npos ? std::string::npos : next - semi - 1));
    std::size_t eq = param.find('=');
    if (eq != std::string::npos && detail::http::lower(detail::http::trim(std::string_view(param).substr(0, eq))) == "charset") {
      charset = detail::http::trim(std::string_view(param).substr(eq + 1));
      if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"') charset = charset.substr(1, charset.size() - 2);
    }
    semi = next;
  }
}

inline Task<std::string> ClientResponse::read() {
  const std::string& b = co_await body();
  co_return b;  // the one copy (the response keeps the body for the next call)
}

inline Task<const std::string&> ClientResponse::body() {
  if (body_) co_return *body_;
  if (!t_) throw ClientConnectionError("Connection closed");
  if (auto cl = headers.get("Content-Length")) {
    char* end = nullptr;
    unsigned long long n = std::strtoull(cl->c_str(), &end, 10);
    if (end && *end == 0 && n > t_->cap_) {
      release();
      throw ClientPayloadError("Response payload is larger than max_body_size (" + std::to_string(t_->cap_) + " bytes)");
    }
  }
  t_->accumulate_all();
  co_await detail::http::TransferWait(t_.get(), detail::http::Want::Done);
  if (t_->error()) std::rethrow_exception(t_->error());
  if (t_->received() > t_->cap_)  // it had all arrived (into the stream buffer) before read()
    throw ClientPayloadError("Response payload is larger than max_body_size (" + std::to_string(t_->cap_) + " bytes)");
  body_ = t_->take();
  co_return *body_;
}

inline Task<std::string> ClientResponse::text() {
  const std::string& b = co_await body();
  co_return b;
}

inline Task<nlohmann::json> ClientResponse::json(std::optional<std::string> expected) {
  const std::string& b = co_await body();
  if (expected) {
    std::string ctype = detail::http::lower(headers.get("Content-Type", ""));
    bool ok;
    if (*expected == "application/json") {
      static const std::regex json_re(R"(^application/(?:[\w.+-]+?\+)?json)");
      ok = std::regex_search(ctype, json_re);
    } else {
      ok = ctype.find(detail::http::lower(*expected)) != std::string::npos;
    }
    if (!ok) throw ContentTypeError(status, "Attempt to decode JSON with unexpected mimetype: " + ctype, url);
  }
  std::size_t first = 0, last = b.size();  // parsed in place, without a copy of the body
  while (first < last && detail::http::is_ws(b[first])) ++first;
  while (last > first && detail::http::is_ws(b[last - 1])) --last;
  if (first == last) co_return nlohmann::json(nullptr);
  nlohmann::json j = nlohmann::json::parse(b.begin() + static_cast<std::ptrdiff_t>(first),
                                           b.begin() + static_cast<std::ptrdiff_t>(last), nullptr, false);
  if (j.is_discarded()) throw ValueError("JSONDecodeError: the response body is not valid JSON");
  co_return j;
}

inline std::optional<std::string> ChunkIterator::Next::await_resume() {
  w.await_resume();
  if (t->available() > 0) return t->take(n);
  if (t->error()) std::rethrow_exception(t->error());
  return std::nullopt;
}

inline AsyncGenerator<std::string> StreamContent::iter_chunked(std::size_t n) {
  ChunkIterator it(t_, n);
  for (;;) {
    std::optional<std::string> chunk = co_await it.anext();
    if (!chunk) break;
    co_yield std::move(*chunk);
  }
}

inline Task<std::string> StreamContent::read(long long n) {
  if (n < 0) {
    t_->accumulate_all();
    co_await detail::http::TransferWait(t_, detail::http::Want::Done);
    if (t_->error()) std::rethrow_exception(t_->error());
    co_return t_->take();
  }
  if (n == 0) co_return std::string();
  co_await detail::http::TransferWait(t_, detail::http::Want::Some);
  if (t_->available() == 0 && t_->error()) std::rethrow_exception(t_->error());
  co_return t_->take(static_cast<std::size_t>(n));
}

inline Task<std::string> StreamContent::readuntil(std::string separator) {
  if (separator.empty()) throw ValueError("Separator should be at least one-byte string");
  std::size_t from = 0;
  for (;;) {
    std::size_t at = t_->find(separator, from);
    if (at != std::string::npos) co_return t_->take(at + separator.size());
    if (t_->available() > kHighWater) throw ValueError("Chunk too big");
    if (t_->done()) {
      if (t_->error() && t_->available() == 0) std::rethrow_exception(t_->error());
      co_return t_->take();
    }
    std::size_t have = t_->available();
    from = have >= separator.size() ? have - separator.size() + 1 : 0;  // a separator may straddle
    t_->want_more_than(have);
    co_await detail::http::TransferWait(t_, detail::http::Want::More);
  }
}

inline Task<std::string> StreamContent::readexactly(std::size_t n) {
  std::string out;
  while (out.size() < n) {
    std::string part = co_await read(static_cast<long long>(n - out.size()));
    if (part.empty()) throw IncompleteReadError(std::move(out), static_cast<long long>(n));
    out += part;
  }
  co_return out;
}

inline Task<std::optional<std::string>> StreamContent::anext() {
  std::string line = co_await readline();
  if (line.empty()) co_return std::nullopt;
  co_return line;
}

inline Task<ClientResponse&> RequestContextManager::aenter() {
  ClientResponse r = co_await std::move(task_);
  resp_.emplace(std::move(r));
  co_return *resp_;
}

inline RequestContextManager ClientSession::request(std::string method, std::string url, RequestOptions opts) {
  return RequestContextManager(
      detail::http::do_request(multi_, opts_, std::move(method), std::move(url), std::move(opts)));
}

inline void ClientSession::check_options(const SessionOptions& o) {
  if (!o.base_url.empty()) {
    detail::http::CurlUrl cu;
    std::optional<std::string> path, query;
    bool ok = cu.u && curl_url_set(cu.u, CURLUPART_URL, o.base_url.c_str(), 0) == CURLUE_OK;
    if (ok) {
      path = cu.get(CURLUPART_PATH);
      query = cu.get(CURLUPART_QUERY);
    }
    if (!ok || (path && *path != "/" && !path->empty()) || query)
      throw ValueError("base_url must be an origin, scheme://host[:port] (aiohttp 3.8): '" + o.base_url + "'");
  }
  if (o.auth && o.auth->login.find(':') != std::string::npos)
    throw ValueError("A \":\" is not allowed in login (RFC 1945#section-11.1)");
}

inline void ClientSession::destroy() noexcept {
  if (!multi_) return;
  if (!multi_->closed()) {
    ExceptionContext ctx{"Unclosed client session", nullptr, {}};
    if (EventLoop* l = multi_->live_loop())
      l->call_exception_handler(ctx);
    else if (detail::tl_running_loop)
      detail::tl_running_loop->call_exception_handler(ctx);
    else
      std::fprintf(stderr, "%s\n", ctx.message.c_str());
    multi_->shutdown();
  }
  multi_.reset();
}

}  // namespace asyncio::http
