// asyncio/detail/http_cookies.hpp — CookieJar's machinery (http.hpp): a curl share handle holds
// the jar's cookies, so every request of the session (and every redirect hop) reads and writes
// them through curl's cookie engine; a private easy handle lists, adds and clears them.
// (No #include of http.hpp: this is part of it, included at its end.)
#pragma once

#include <arpa/inet.h>

#include "cookie_quote.hpp"

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

namespace asyncio::detail::http {

/// "127.0.0.1", "::1" or curl's "[::1]".
inline bool is_ip_host(std::string host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

using asyncio::detail::quote_cookie_value;

class CookieStore {
 public:
  CookieStore() {
    curl_global();
    sh_ = curl_share_init();
    e_ = curl_easy_init();
    if (!sh_ || !e_) {
      if (e_) curl_easy_cleanup(e_);
      if (sh_) curl_share_cleanup(sh_);
      throw RuntimeError("curl_share_init failed");
    }
    curl_share_setopt(sh_, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
    curl_easy_setopt(e_, CURLOPT_SHARE, sh_);
    curl_easy_setopt(e_, CURLOPT_COOKIEFILE, "");  // the engine, with no file
  }
  CookieStore(const CookieStore&) = delete;
  CookieStore& operator=(const CookieStore&) = delete;
  ~CookieStore() {
    curl_easy_cleanup(e_);
    curl_share_cleanup(sh_);  // (request handles let go of it when their transfer ends)
  }
  CURLSH* share() const noexcept { return sh_; }

  /// curl's cookies, then the domain-less ones; expired ones left out.
  std::vector<asyncio::http::Cookie> list() const {
    std::vector<asyncio::http::Cookie> out;
    curl_slist* l = nullptr;
    curl_easy_getinfo(e_, CURLINFO_COOKIELIST, &l);
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    for (curl_slist* p = l; p; p = p->next) {
      asyncio::http::Cookie c;
      if (parse_netscape(p->data, c) && (c.expires == 0 || c.expires > now)) out.push_back(std::move(c));
    }
    curl_slist_free_all(l);
    for (auto& c : shared_) out.push_back(c);
    return out;
  }
  /// Add a cookie (a domain-less one is kept here, the others in curl).
  void add(const asyncio::http::Cookie& c) {
    if (c.domain.empty()) {
      std::erase_if(shared_, [&](const asyncio::http::Cookie& o) { return o.name == c.name; });
      shared_.push_back(c);
      return;
    }
    std::string line = (c.http_only ? "#HttpOnly_" : "") + (c.host_only ? c.domain : "." + c.domain) + "\t" +
                       (c.host_only ? "FALSE" : "TRUE") + "\t" + (c.path.empty() ? "/" : c.path) + "\t" +
                       (c.secure ? "TRUE" : "FALSE") + "\t" + std::to_string(c.expires) + "\t" + c.name + "\t" + c.value;
    curl_easy_setopt(e_, CURLOPT_COOKIELIST, line.c_str());
  }
  void clear() {
    curl_easy_setopt(e_, CURLOPT_COOKIELIST, "ALL");
    shared_.clear();
  }
  const std::vector<asyncio::http::Cookie>& shared() const noexcept { return shared_; }

  /// One line of curl's Netscape format: [#HttpOnly_]domain, tailmatch, path, secure, expires,
  /// name, value (tab-separated; curl writes them, so no quoting rules apply).
  static bool parse_netscape(std::string_view line, asyncio::http::Cookie& c) {
    constexpr std::string_view http_only = "#HttpOnly_";
    if (line.substr(0, http_only.size()) == http_only) {
      c.http_only = true;
      line.remove_prefix(http_only.size());
    } else if (line.empty() || line.front() == '#') {
      return false;
    }
    std::vector<std::string_view> f;
    while (f.size() < 6) {
      auto tab = line.find('\t');
      if (tab == std::string_view::npos) return false;
      f.push_back(line.substr(0, tab));
      line.remove_prefix(tab + 1);
    }
    f.push_back(line);  // the value (may be empty)
    c.domain = std::string(f[0]);
    if (!c.domain.empty() && c.domain.front() == '.') c.domain.erase(0, 1);
    c.host_only = f[1] != "TRUE";
    c.path = std::string(f[2]);
    c.secure = f[3] == "TRUE";
    c.expires = std::strtoll(std::string(f[4]).c_str(), nullptr, 10);
    c.name = std::string(f[5]);
    c.value = std::string(f[6]);
    return true;
  }

 private:
  CURLSH* sh_ = nullptr;
  CURL* e_ = nullptr;
  std::vector<asyncio::http::Cookie> shared_;
};

/// What the request code needs of a jar (the store is private to CookieJar).
struct JarAccess {
  static CookieStore* store(const asyncio::http::CookieJar& j) noexcept { return j.store_.get(); }
};

inline CURLSH* jar_share(const asyncio::http::CookieJar& jar) noexcept {
  CookieStore* st = JarAccess::store(jar);
  return st ? st->share() : nullptr;
}

/// RFC 6265 5.1.3 (aiohttp's _is_domain_match).
inline bool domain_match(const std::string& domain, const std::string& host) {
  if (host == domain) return true;
  if (host.size() <= domain.size() || !host.ends_with(domain)) return false;
  return host[host.size() - domain.size() - 1] == '.' && !is_ip_host(host);
}
/// RFC 6265 5.1.4 (aiohttp's _is_path_match).
inline bool path_match(const std::string& req, const std::string& cookie) {
  if (req == cookie) return true;
  if (!req.starts_with(cookie)) return false;
  return cookie.ends_with('/') || req[cookie.size()] == '/';
}

/// The URL's scheme, host and path (InvalidURL if curl cannot parse it).
struct UrlParts {
  std::string scheme, host, path;
};
inline UrlParts url_parts(const std::string& url) {
  CurlUrl cu;
  if (!cu.u || curl_url_set(cu.u, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) throw asyncio::http::InvalidURL(url);
  UrlParts p{cu.get(CURLUPART_SCHEME).value_or(""), cu.get(CURLUPART_HOST).value_or(""), cu.get(CURLUPART_PATH).value_or("/")};
  std::transform(p.host.begin(), p.host.end(), p.host.begin(), [](unsigned char c) { return std::tolower(c); });
  return p;
}

/// The Cookie value for the domain-less cookies of `jar` and a request's own (those win),
/// sorted by name as Python's SimpleCookie.output() is: "a=1; b=2" ("" when there are none).
inline std::string extra_cookie_header(const asyncio::http::CookieJar* jar, const asyncio::http::Cookies& own) {
  std::map<std::string, std::string> all;
  bool quote = jar ? jar->quote_cookie() : true;
  if (jar)
    if (CookieStore* st = JarAccess::store(*jar))
      for (auto& c : st->shared()) all[c.name] = quote ? quote_cookie_value(c.value) : c.value;
  for (auto& [k, v] : own) all[k] = quote_cookie_value(v);  // (aiohttp quotes them in a default jar)
  std::string out;
  for (auto& [k, v] : all) {
    if (!out.empty()) out += "; ";
    out += k + "=" + v;
  }
  return out;
}

}  // namespace asyncio::detail::http

namespace asyncio::http {

inline CookieJar::CookieJar(CookieJarOptions o) : opts_(o), store_(std::make_unique<detail::http::CookieStore>()) {}
inline CookieJar::CookieJar(std::nullptr_t) noexcept : opts_{} {}
inline CookieJar::~CookieJar() = default;

inline void CookieJar::update_cookies(const Cookies& cookies, const std::string& response_url) {
  if (!store_) return;
  if (response_url.empty()) {
    for (auto& [k, v] : cookies) store_->add(Cookie{.name = k, .value = v});
    return;
  }
  auto u = detail::http::url_parts(response_url);
  if (!opts_.unsafe && detail::http::is_ip_host(u.host)) return;  // aiohttp: no cookies from IPs
  // aiohttp: the response path up to its last '/' ("/a/b" -> "/a"; "/" and "/a" -> "/").
  std::string path = "/";
  if (u.path.starts_with('/')) {
    std::size_t last = u.path.rfind('/');
    path += u.path.substr(1, last >= 1 ? last - 1 : 0);
  }
  for (auto& [k, v] : cookies)
    store_->add(Cookie{.name = k, .value = v, .domain = u.host, .path = path, .host_only = true});
}

inline std::map<std::string, std::string> CookieJar::filter_cookies(const std::string& request_url) const {
  std::map<std::string, std::string> out;
  if (!store_) return out;
  auto u = detail::http::url_parts(request_url);
  bool ip = detail::http::is_ip_host(u.host);
  // curl's rule, which the requests follow: https, and http to localhost / 127.0.0.1 / ::1
  // (browsers' "potentially trustworthy" origins; aiohttp counts only https).
  bool secure_origin = u.scheme == "https" || u.scheme == "wss" || u.host == "localhost" || u.host == "127.0.0.1" ||
                       u.host == "[::1]";
  for (const Cookie& c : store_->list()) {
    if (c.domain.empty()) {
      out[c.name] = opts_.quote_cookie ? detail::http::quote_cookie_value(c.value) : c.value;
      continue;
    }
    if (!opts_.unsafe && ip) continue;
    if (c.host_only ? c.domain != u.host : !detail::http::domain_match(c.domain, u.host)) continue;
    if (!detail::http::path_match(u.path, c.path)) continue;
    if (c.secure && !secure_origin) continue;
    out[c.name] = c.value;
  }
  return out;
}

inline std::vector<Cookie> CookieJar::cookies() const { return store_ ? store_->list() : std::vector<Cookie>{}; }

inline void CookieJar::clear() {
  if (store_) store_->clear();
}
inline void CookieJar::clear(const std::function<bool(const Cookie&)>& predicate) {
  if (!store_) return;
  std::vector<Cookie> keep;
  for (auto& c : store_->list())
    if (!predicate(c)) keep.push_back(c);
  store_->clear();
  for (auto& c : keep) store_->add(c);
}
inline void CookieJar::clear_domain(const std::string& domain) {
  clear([&](const Cookie& c) { return !c.domain.empty() && detail::http::domain_match(domain, c.domain); });
}

inline void CookieJar::save(const std::string& path) const {
  std::ofstream f(path, std::ios::trunc);
  if (!f) asyncio::detail::raise_file_error(errno, "'" + path + "'");
  f << "# Netscape HTTP Cookie File (asyncio::http::CookieJar; curl's format)\n";
  for (const Cookie& c : cookies())
    f << (c.http_only ? "#HttpOnly_" : "") << (c.host_only || c.domain.empty() ? c.domain : "." + c.domain) << '\t'
      << (c.host_only || c.domain.empty() ? "FALSE" : "TRUE") << '\t' << (c.path.empty() ? "/" : c.path) << '\t'
      << (c.secure ? "TRUE" : "FALSE") << '\t' << c.expires << '\t' << c.name << '\t' << c.value << '\n';
  f.flush();
  if (!f) asyncio::detail::raise_file_error(errno ? errno : EIO, "'" + path + "'");
}

inline void CookieJar::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) asyncio::detail::raise_file_error(errno, "'" + path + "'");
  if (!store_) return;
  std::vector<Cookie> got;
  std::string line;
  while (std::getline(f, line)) {
    Cookie c;
    if (detail::http::CookieStore::parse_netscape(line, c)) got.push_back(std::move(c));
  }
  store_->clear();
  for (auto& c : got) {
    if (!opts_.unsafe && detail::http::is_ip_host(c.domain)) continue;  // the same rule as update_cookies
    store_->add(c);
  }
}

}  // namespace asyncio::http
