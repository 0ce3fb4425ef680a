// http.hpp, the client's daily API (issue 20): urlencoded forms, BasicAuth (request, session,
// URL), base_url, history. Each request-shaping feature is compared with what Debian's aiohttp
// 3.8 client sends to the same server (tests/http/aiohttp_client.py, run here), byte for byte
// where the bytes are ours to choose.
#include <asyncio/http.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "catch.hpp"
#include "http/py_server.hpp"

namespace http = asyncio::http;
using asyncio::Task;

namespace {

http_test::PyServer& server() {
  static http_test::PyServer s({});
  return s;
}

/// What /echo says we sent: Content-Type, Authorization (or "-") and the body, as the Python
/// script prints them (the body as Python's repr of the latin-1 text).
struct Sent {
  std::string content_type, authorization, body;
};
std::string py_repr(const std::string& s) {
  // Enough of Python's str repr for these bodies: ASCII printable, quotes chosen as Python does.
  bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\' || c == static_cast<unsigned char>(q)) out += '\\';
    out += static_cast<char>(c);
  }
  return out + q;
}
Sent sent_of(const nlohmann::json& doc) {
  Sent s{"-", "-", py_repr(doc["body"].get<std::string>())};
  for (auto& [k, v] : doc["headers"].items()) {
    std::string key = k;
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (key == "content-type") s.content_type = v.get<std::string>();
    if (key == "authorization") s.authorization = v.get<std::string>();
  }
  return s;
}

/// aiohttp's lines: case -> what it sent.
/// A file to upload: "notes\nline two\n".
const std::string& upload_file() {
  static const std::string path = [] {
    char tmpl[] = "/tmp/asyncio_upload_XXXXXX";
    int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "notes\nline two\n", 16) == 16);
    ::close(fd);
    return std::string(tmpl);
  }();
  return path;
}

/// The lines a script of tests/http/ prints, run by Debian's python3 with `args`; it must exit 0.
std::vector<std::string> python_lines(const std::string& script, const std::string& args) {
  std::string path = std::string(__FILE__);
  std::string cmd = "/usr/bin/python3 " + path.substr(0, path.rfind('/')) + "/http/" + script + " " + args;
  std::vector<std::string> out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) {
    std::string line = buf;
    if (!line.empty() && line.back() == '\n') line.pop_back();
    out.push_back(line);
  }
  CHECK(::pclose(p) == 0);
  return out;
}

std::map<std::string, Sent> aiohttp_sent() {
  std::map<std::string, Sent> out;
  for (const std::string& line : python_lines("aiohttp_client.py", std::to_string(server().port()) + " " + upload_file())) {
    std::vector<std::string> f;
    std::size_t at = 0;
    for (std::size_t tab; (tab = line.find('\t', at)) != std::string::npos; at = tab + 1) f.push_back(line.substr(at, tab - at));
    f.push_back(line.substr(at));
    if (f.size() == 4) out[f[0]] = Sent{f[1], f[2], f[3]};
  }
  return out;
}

Task<nlohmann::json> echo(http::ClientSession& s, std::string method, std::string url, http::RequestOptions o) {
  auto req = s.request(std::move(method), std::move(url), std::move(o));
  auto r = co_await std::move(req);
  nlohmann::json j = co_await r.json();
  co_return j;
}

/// "piece 0;" ... "piece n-1;", one per iteration of the loop (aiohttp_client.py's pieces()).
asyncio::AsyncGenerator<std::string> pieces(int n) {
  for (int i = 0; i < n; ++i) {
    co_await asyncio::sleep(0);
    co_yield "piece " + std::to_string(i) + ";";
  }
}

Task<std::map<std::string, Sent>> ours() {
  std::map<std::string, Sent> out;
  {
    http::ClientSession s;
    http::RequestOptions form{.form = http::Form{{"a b", "1&2"}, {"a b", "x=y"}, {"caf\xc3\xa9", "~.-_*'()"}, {"empty", ""}}};
    nlohmann::json j1 = co_await echo(s, "POST", server().url("/echo"), std::move(form));
    out["form"] = sent_of(j1);
    http::RequestOptions auth{.auth = http::BasicAuth{"user", "p@ss word"}};
    nlohmann::json j2 = co_await echo(s, "GET", server().url("/echo"), std::move(auth));
    out["auth"] = sent_of(j2);
    std::string creds = "http://alice:s3cret@127.0.0.1:" + std::to_string(server().port()) + "/echo";
    http::RequestOptions none;  // (named: a braced temporary in a co_await statement is what GCC 12 frees twice)
    nlohmann::json j3 = co_await echo(s, "GET", creds, std::move(none));
    out["url-creds"] = sent_of(j3);
    http::RequestOptions px{.proxy = server().url(""), .proxy_auth = http::BasicAuth{"px", "pw"}};
    nlohmann::json jp = co_await echo(s, "GET", "http://proxied.invalid/echo", std::move(px));
    std::string proxy_auth = "-", host = "-";
    for (auto& [k, v] : jp["headers"].items()) {
      if (k == "Proxy-Authorization") proxy_auth = v.get<std::string>();
      if (k == "Host") host = v.get<std::string>();
    }
    out["proxy"] = Sent{jp["target"].get<std::string>(), proxy_auth, host};
    http::FormData fd;
    fd.add_field("a", "1").add_field("a", "caf\xc3\xa9 & co");
    fd.add_field("blob", std::string("\x00\x01" "bytes", 7), "b.bin", "application/x-thing");
    fd.add_file("doc", upload_file(), "notes.txt", "text/plain");
    http::RequestOptions mp{.multipart = std::move(fd)};
    nlohmann::json j5 = co_await echo(s, "POST", server().url("/form"), std::move(mp));
    out["multipart"] = Sent{"-", "-", j5.dump()};
    http::RequestOptions st{.stream = http::stream_body(pieces(5))};
    nlohmann::json j6 = co_await echo(s, "POST", server().url("/echo"), std::move(st));
    std::string te = "-";
    for (auto& [k, v] : j6["headers"].items())
      if (k == "Transfer-Encoding") te = v.get<std::string>();
    out["stream"] = Sent{sent_of(j6).content_type, te, sent_of(j6).body};  // (te in the auth field)
    co_await s.close();
  }
  {
    http::SessionOptions so{.base_url = server().url(""), .auth = http::BasicAuth{"sess", "pw"}};
    http::ClientSession s(std::move(so));
    http::RequestOptions none;
    nlohmann::json j4 = co_await echo(s, "GET", "/echo", std::move(none));
    out["session-auth"] = sent_of(j4);
    co_await s.close();
  }
  co_return out;
}

}  // namespace

TEST_CASE("form, BasicAuth, credentials in the URL, session auth with base_url: the bytes aiohttp sends") {
  auto theirs = aiohttp_sent();
  REQUIRE(theirs.size() == 7);
  auto mine = asyncio::run(ours());
  // multipart: the boundary differs (and aiohttp labels plain fields text/plain); the parts as
  // the server's parser reads them must not.
  CHECK(nlohmann::json::parse(mine["multipart"].body) == nlohmann::json::parse(theirs["multipart"].body));
  CHECK(nlohmann::json::parse(mine["multipart"].body).size() == 4);
  theirs.erase("multipart");
  // proxy: the request line in absolute form, Proxy-Authorization and Host as aiohttp sends them
  // (in the Sent fields: target, proxy authorization, host).
  CHECK(mine["proxy"].content_type == "http://proxied.invalid/echo");
  for (auto& [name, t] : theirs) {
    CAPTURE(name, t.body, mine[name].body);
    CHECK(mine[name].content_type == t.content_type);
    CHECK(mine[name].authorization == t.authorization);
    CHECK(mine[name].body == t.body);
  }
  CHECK(mine["form"].body.find("a+b=1%262") != std::string::npos);  // (not vacuous)
  CHECK(mine["auth"].authorization.rfind("Basic ", 0) == 0);
  CHECK(mine["stream"].authorization == "chunked");  // (the Transfer-Encoding the server saw)
}

TEST_CASE("history: the redirects followed, first to last; none without a redirect") {
  asyncio::run([]() -> Task<> {
    http::ClientSession s;
    auto r = co_await s.get(server().url("/redirect/3"));
    CHECK(r.status == 200);
    // /redirect/3 -> 2 -> 1 -> 0 -> /json: four redirects (aiohttp's len(history) is 4 too).
    REQUIRE(r.history.size() == 4);
    CHECK(r.history[0].status == 302);
    CHECK(r.history[0].url == server().url("/redirect/3"));
    CHECK(r.history[3].url == server().url("/redirect/0"));
    CHECK(r.history[3].headers.get("Location", "") == "/json");
    CHECK(r.url == server().url("/json"));
    auto plain = co_await s.get(server().url("/json"));
    CHECK(plain.history.empty());
    co_await s.close();
  }());
}

TEST_CASE("bad combinations are ValueErrors before anything is sent, as aiohttp") {
  asyncio::run([]() -> Task<> {
    http::ClientSession s;
    std::string creds = "http://alice:s3cret@127.0.0.1:" + std::to_string(server().port()) + "/echo";
    std::vector<std::pair<std::string, http::RequestOptions>> cases;
    cases.push_back({creds, http::RequestOptions{.auth = http::BasicAuth{"u", "p"}}});
    cases.push_back({server().url("/echo"), http::RequestOptions{.headers = {{"Authorization", "x"}}, .auth = http::BasicAuth{"u", "p"}}});
    cases.push_back({server().url("/echo"), http::RequestOptions{.auth = http::BasicAuth{"u:v", "p"}}});
    cases.push_back({server().url("/echo"), http::RequestOptions{.data = std::string("x"), .form = http::Form{{"a", "b"}}}});
    cases.push_back({server().url("/echo"), http::RequestOptions{.json = nlohmann::json(1), .multipart = http::FormData{}}});
    int refused = 0;
    for (auto& [url, o] : cases) {
      try {
        auto req = s.get(url, std::move(o));
        auto r = co_await std::move(req);
      } catch (const asyncio::ValueError&) {
        ++refused;
      }
    }
    CHECK(refused == 5);
    // A file that vanished before the request is sent: Python's FileNotFoundError, nothing sent.
    http::FormData gone;
    gone.add_file("f", "/tmp/asyncio-no-such-upload");
    http::RequestOptions go{.multipart = std::move(gone)};
    bool not_found = false;
    try {
      auto req = s.post(server().url("/form"), std::move(go));
      auto r = co_await std::move(req);
    } catch (const asyncio::FileNotFoundError& e) {
      not_found = std::string(e.what()) == "[Errno 2] No such file or directory: '/tmp/asyncio-no-such-upload'";
    }
    CHECK(not_found);
    co_await s.close();

    http::ClientSession b(http::SessionOptions{.base_url = server().url("")});
    int bad_urls = 0;
    for (std::string u : {std::string("json"), server().url("/json")}) {
      try {
        auto req = b.get(u);
        auto r = co_await std::move(req);
      } catch (const asyncio::ValueError&) {
        ++bad_urls;
      }
    }
    CHECK(bad_urls == 2);
    auto ok = co_await b.get("/json");
    CHECK(ok.status == 200);
    co_await b.close();
  }());
  CHECK_THROWS_AS(http::ClientSession(http::SessionOptions{.base_url = "http://127.0.0.1:1/api"}), asyncio::ValueError);
  CHECK_THROWS_AS(http::ClientSession(http::SessionOptions{.auth = http::BasicAuth{"a:b", ""}}), asyncio::ValueError);
}

namespace {
Task<std::vector<std::string>> lines_of(http::ClientSession& s, std::string url) {
  auto req = s.get(std::move(url));
  auto r = co_await std::move(req);
  std::vector<std::string> lines;
  co_await asyncio::async_for(r.content(), [&](std::string line) -> Task<> {
    lines.push_back(std::move(line));
    co_return;
  });
  co_return lines;
}
}  // namespace

// aiohttp 3.8's StreamReader: `async for line in resp.content`, readline(), readuntil(sep)
// (the rest at the end of the body, "Chunk too big" past 128 KiB), readexactly(n) (an
// IncompleteReadError with what came). The server sends 7 bytes at a time, so separators
// straddle chunks.
TEST_CASE("content: readline, readuntil, readexactly and async for over lines") {
  asyncio::run([]() -> Task<> {
    http::ClientSession s;
    std::vector<std::string> lines = co_await lines_of(s, server().url("/lines/50"));
    REQUIRE(lines.size() == 51);
    CHECK(lines[0] == "line 0\n");
    CHECK(lines[49] == "line 49\n");
    CHECK(lines[50] == "tail");

    auto r = co_await s.get(server().url("/lines/3"));
    std::string a = co_await r.content().readuntil("ne 1\n");
    CHECK(a == "line 0\nline 1\n");
    std::string b = co_await r.content().readexactly(4);
    CHECK(b == "line");
    std::string c = co_await r.content().readline();
    CHECK(c == " 2\n");
    std::string d = co_await r.content().readline();
    CHECK(d == "tail");
    std::string e = co_await r.content().readline();
    CHECK(e.empty());
    CHECK(r.content().at_eof());

    auto r2 = co_await s.get(server().url("/lines/1"));
    std::string partial;
    try {
      std::string x = co_await r2.content().readexactly(100);
    } catch (const asyncio::IncompleteReadError& err) {
      partial = err.partial;
    }
    CHECK(partial == "line 0\ntail");

    auto big = co_await s.get(server().url("/bytes/300000"));  // no newline at all
    bool too_big = false;
    try {
      std::string x = co_await big.content().readline();
    } catch (const asyncio::ValueError& err) {
      too_big = std::string(err.what()) == "Chunk too big";
    }
    CHECK(too_big);
    big.release();

    auto r3 = co_await s.get(server().url("/lines/1"));
    bool empty_sep = false;
    try {
      std::string x = co_await r3.content().readuntil("");
    } catch (const asyncio::ValueError&) {
      empty_sep = true;
    }
    CHECK(empty_sep);
    co_await s.close();
  }());
}

// A readline waiting on a body that stalls: the session's total timeout ends it; a task waiting
// in readline is cancellable and leaves the session usable.
TEST_CASE("content: readline under a timeout and cancelled") {
  asyncio::run([]() -> Task<> {
    http::ClientSession s;
    auto r = co_await s.get(server().url("/stall"));
    bool timed_out = false;
    try {
      auto line = asyncio::wait_for(r.content().readline(), 0.2);
      std::string x = co_await std::move(line);
    } catch (const asyncio::TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    r.release();
    auto ok = co_await s.get(server().url("/json"));
    CHECK(ok.status == 200);
    co_await s.close();
  }());
}

// aiohttp's trust_env: proxies from the environment only when asked; a proxy that cannot be
// reached is ClientProxyConnectionError.
TEST_CASE("proxies: http_proxy from the environment only with trust_env; an unreachable proxy") {
  ::setenv("http_proxy", server().url("").c_str(), 1);
  asyncio::run([]() -> Task<> {
    {
      http::ClientSession s;  // trust_env = false: the name is looked up, and fails
      bool direct = false;
      try {
        auto r = co_await s.get("http://proxied.invalid/echo");
      } catch (const http::ClientConnectorError& e) {
        direct = dynamic_cast<const http::ClientProxyConnectionError*>(&e) == nullptr;
      }
      CHECK(direct);
      co_await s.close();
    }
    {
      http::ClientSession s(http::SessionOptions{.trust_env = true});
      auto r = co_await s.get("http://proxied.invalid/echo");
      nlohmann::json j = co_await r.json();
      CHECK(j["target"] == "http://proxied.invalid/echo");
      co_await s.close();
    }
    {
      http::ClientSession s;
      http::RequestOptions o{.proxy = "http://127.0.0.1:1"};
      bool proxy_down = false;
      try {
        auto req = s.get("http://proxied.invalid/echo", std::move(o));
        auto r = co_await std::move(req);
      } catch (const http::ClientProxyConnectionError&) {
        proxy_down = true;
      }
      CHECK(proxy_down);
      co_await s.close();
    }
  }());
  ::unsetenv("http_proxy");
}

// ---------------------------------------------------------------- cookies (CookieJar)
namespace {

/// The Cookie header /echo received, its cookies sorted (as aiohttp_cookies.py prints it).
std::string cookie_of(const nlohmann::json& doc) {
  for (auto& [k, v] : doc["headers"].items()) {
    std::string key = k;
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (key != "cookie") continue;
    std::vector<std::string> parts;
    std::string s = v.get<std::string>();
    for (std::size_t at = 0;;) {
      std::size_t sep = s.find("; ", at);
      parts.push_back(s.substr(at, sep == std::string::npos ? std::string::npos : sep - at));
      if (sep == std::string::npos) break;
      at = sep + 2;
    }
    std::sort(parts.begin(), parts.end());
    std::string out;
    for (auto& p : parts) out += (out.empty() ? "" : "; ") + p;
    return out;
  }
  return "-";
}

Task<void> fetch(http::ClientSession& s, std::string url) {
  auto req = s.get(std::move(url));
  auto r = co_await std::move(req);
  std::string body = co_await r.text();
}
Task<std::string> cookie_case(http::ClientSession& s, std::string url, http::RequestOptions o) {
  nlohmann::json j = co_await echo(s, "GET", std::move(url), std::move(o));
  co_return cookie_of(j);
}
Task<std::string> cookie_case(http::ClientSession& s, std::string url) {
  http::RequestOptions none;  // (named: GCC 12 destroys a braced temporary of a co_await statement twice)
  std::string c = co_await cookie_case(s, std::move(url), std::move(none));
  co_return c;
}

Task<std::map<std::string, std::string>> our_cookies() {
  std::map<std::string, std::string> out;
  std::string local = "http://localhost:" + std::to_string(server().port());
  std::string ip = "http://127.0.0.1:" + std::to_string(server().port());
  {
    http::ClientSession s;
    co_await fetch(s, local + "/set-cookie?a=1&b=two&sec=x&p=1");
    out["jar"] = co_await cookie_case(s, local + "/echo");
    out["path"] = co_await cookie_case(s, local + "/echo/sub");
    out["redirect"] = co_await cookie_case(s, local + "/cookie-redirect");
    co_await fetch(s, local + "/set-cookie?del=a");
    out["deleted"] = co_await cookie_case(s, local + "/echo");
    http::RequestOptions own{.cookies = {{"r", "v w"}}};
    out["request"] = co_await cookie_case(s, local + "/echo", std::move(own));
    std::string names;
    for (auto& [k, v] : s.cookie_jar().filter_cookies(local + "/echo/sub")) names += (names.empty() ? "" : " ") + k;
    out["filter"] = names;
    co_await fetch(s, ip + "/set-cookie?i=1");
    out["ip"] = co_await cookie_case(s, ip + "/echo");
    co_await s.close();
  }
  {
    http::SessionOptions so{.cookies = {{"s", "1"}, {"q", "a;b"}}};
    http::ClientSession s(std::move(so));
    out["session-cookies"] = co_await cookie_case(s, ip + "/echo");
    co_await s.close();
  }
  {
    http::SessionOptions so{.cookie_jar = std::make_shared<http::DummyCookieJar>()};
    http::ClientSession s(std::move(so));
    co_await fetch(s, local + "/set-cookie?d=1");
    out["dummy"] = co_await cookie_case(s, local + "/echo");
    co_await s.close();
  }
  {
    http::SessionOptions so{.cookie_jar = std::make_shared<http::CookieJar>(http::CookieJarOptions{.unsafe = true})};
    http::ClientSession s(std::move(so));
    co_await fetch(s, ip + "/set-cookie?u=1");
    out["unsafe"] = co_await cookie_case(s, ip + "/echo");
    co_await s.close();
  }
  co_return out;
}

}  // namespace

TEST_CASE("cookies: the Cookie headers aiohttp sends (jar, redirects, deletion, path, Secure, IP hosts, dummy, unsafe)") {
  std::map<std::string, std::string> theirs;
  for (const std::string& line : python_lines("aiohttp_cookies.py", std::to_string(server().port()))) {
    auto tab = line.find('\t');
    if (tab != std::string::npos) theirs[line.substr(0, tab)] = line.substr(tab + 1);
  }
  REQUIRE(theirs.size() == 10);
  // The one difference, documented at CookieJar: curl (as browsers) counts http://localhost as a
  // secure origin, so the Secure cookie "sec" goes there too; aiohttp sends it only over https.
  // ("sec" sorts after every other name here, so it goes last.)
  for (std::string c : {"jar", "path", "redirect", "deleted", "request"}) theirs[c] += "; sec=x";
  theirs["filter"] += " sec";
  auto mine = asyncio::run(our_cookies());
  for (auto& [k, v] : theirs) {
    INFO("case " << k);
    CHECK(mine[k] == v);
  }
}

TEST_CASE("cookies: update_cookies, filter_cookies, clear, save and load, and OSErrors for bad paths") {
  http::CookieJar jar;
  jar.update_cookies({{"shared", "x y"}});                          // no URL: every host
  jar.update_cookies({{"h", "1"}}, "http://example.com/a/b");        // host-only, path /a
  jar.update_cookies({{"ip", "1"}}, "http://10.0.0.1/");             // refused: an IP host
  CHECK(jar.size() == 2);
  auto f = jar.filter_cookies("http://example.com/a/c");
  CHECK(f == std::map<std::string, std::string>{{"h", "1"}, {"shared", "\"x y\""}});
  CHECK(jar.filter_cookies("http://sub.example.com/a/c").count("h") == 0);  // host-only
  CHECK(jar.filter_cookies("http://example.com/b").count("h") == 0);        // path
  CHECK(jar.filter_cookies("http://10.0.0.1/").size() == 1);               // only the shared one
  CHECK_THROWS_AS(jar.update_cookies({{"k", "v"}}, "http://exa mple.com/"), http::InvalidURL);
  char tmpl[] = "/tmp/asyncio_jar_XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  jar.save(dir + "/jar.txt");
  http::CookieJar back;
  back.load(dir + "/jar.txt");
  CHECK(back.size() == 2);
  CHECK(back.filter_cookies("http://example.com/a/c") == f);
  back.clear_domain("example.com");
  CHECK(back.size() == 1);
  back.clear([](const http::Cookie& c) { return c.name == "shared"; });
  CHECK(back.size() == 0);
  CHECK_THROWS_AS(back.load(dir + "/missing.txt"), asyncio::FileNotFoundError);
  CHECK_THROWS_AS(jar.save(dir + "/no/such/dir/jar.txt"), asyncio::FileNotFoundError);
  jar.clear();
  CHECK(jar.size() == 0);
  http::CookieJar unsafe(http::CookieJarOptions{.unsafe = true});
  unsafe.update_cookies({{"ip", "1"}}, "http://10.0.0.1/x");
  CHECK(unsafe.filter_cookies("http://10.0.0.1/").count("ip") == 1);
  http::DummyCookieJar dummy;
  dummy.update_cookies({{"k", "v"}});
  CHECK(dummy.size() == 0);
  std::system(("rm -rf '" + dir + "'").c_str());
}

// ---------------------------------------------------------------- streamed uploads
namespace {
asyncio::AsyncGenerator<std::string> failing_after(int n) {
  for (int i = 0; i < n; ++i) co_yield "x";
  throw asyncio::ValueError("the producer broke");
}
asyncio::AsyncGenerator<std::string> stalled(asyncio::Event* never) {
  co_yield "first";
  co_await never->wait();
  co_yield "never";
}
}  // namespace

TEST_CASE("streamed upload: a Content-Length, a StreamReader, no redirect; a failing producer fails the request") {
  auto main = []() -> Task<void> {
    http::ClientSession s;
    // With a Content-Length header: sent as it is, not chunked.
    http::RequestOptions sized{.headers = {{"Content-Length", "40"}}, .stream = http::stream_body(pieces(5))};
    nlohmann::json j = co_await echo(s, "POST", server().url("/echo"), std::move(sized));
    CHECK(j["body"] == "piece 0;piece 1;piece 2;piece 3;piece 4;");
    CHECK(j["headers"]["Content-Length"] == "40");
    CHECK(j["headers"].count("Transfer-Encoding") == 0);
    // From a StreamReader fed elsewhere (here, ahead of time: Python's feed_data / feed_eof).
    asyncio::StreamReader reader;
    reader.feed_data(std::string(200000, 'r'));
    reader.feed_eof();
    http::RequestOptions from_reader{.stream = http::stream_body(reader)};
    nlohmann::json j2 = co_await echo(s, "PUT", server().url("/echo"), std::move(from_reader));
    CHECK(j2["method"] == "PUT");
    CHECK(j2["body"].get<std::string>() == std::string(200000, 'r'));
    // A redirect is not followed: the body could not be sent again.
    http::RequestOptions redirected{.stream = http::stream_body(pieces(2))};
    auto rr = s.post(server().url("/redirect/1"), std::move(redirected));
    auto r = co_await std::move(rr);
    CHECK(r.status == 302);
    CHECK(r.history.empty());
    // The producer's exception is the request's.
    bool failed = false;
    http::RequestOptions broken{.stream = http::stream_body(failing_after(3))};
    try {
      nlohmann::json j3 = co_await echo(s, "POST", server().url("/echo"), std::move(broken));
    } catch (const asyncio::ValueError& e) {
      failed = std::string(e.what()) == "the producer broke";
    }
    CHECK(failed);
    // Both data and a stream: ValueError before anything is sent.
    bool both = false;
    http::RequestOptions twice{.data = std::string("x"), .stream = http::stream_body(pieces(1))};
    try {
      nlohmann::json j4 = co_await echo(s, "POST", server().url("/echo"), std::move(twice));
    } catch (const asyncio::ValueError&) {
      both = true;
    }
    CHECK(both);
    // The session still works, and nothing is left in curl.
    http::RequestOptions plain;  // (named: GCC 12 destroys a braced temporary of a co_await statement twice)
    nlohmann::json j5 = co_await echo(s, "POST", server().url("/echo"), std::move(plain));
    CHECK(j5["method"] == "POST");
    CHECK(s.active_requests() == 0);
    co_await s.close();
  };
  asyncio::run(main());
}

TEST_CASE("streamed upload: cancelled, or timed out, while the producer waits; nothing left behind") {
  auto main = []() -> Task<void> {
    http::ClientSession s;
    asyncio::Event never;
    for (int round = 0; round < 2; ++round) {
      http::RequestOptions o{.stream = http::stream_body(stalled(&never))};
      auto req = echo(s, "POST", server().url("/echo"), std::move(o));
      bool stopped = false;
      if (round == 0) {
        auto t = asyncio::create_task(std::move(req));
        co_await asyncio::sleep(0.05);
        t.cancel();
        try {
          co_await t;
        } catch (const asyncio::CancelledError&) {
          stopped = true;
        }
      } else {
        try {
          auto w = asyncio::wait_for(std::move(req), 0.05);
          co_await std::move(w);
        } catch (const asyncio::TimeoutError&) {
          stopped = true;
        }
      }
      CHECK(stopped);
      co_await asyncio::sleep(0);  // (the cancelled pump task finishes)
      CHECK(s.active_requests() == 0);
    }
    co_await s.close();
  };
  asyncio::run(main());
}

// ---------------------------------------------------------------- TraceConfig
namespace {
/// A trace callback's body: note the signal, then yield once (callbacks are coroutines).
Task<void> note_event(std::vector<std::string>* events, std::string name) {
  events->push_back(std::move(name));
  co_await asyncio::sleep(0);
}
/// One trace config noting each signal as aiohttp_trace.py prints it.
std::shared_ptr<http::TraceConfig> noting(std::vector<std::string>* events) {
  auto tc = std::make_shared<http::TraceConfig>();
  auto note = [events](std::string name) { return note_event(events, std::move(name)); };
  tc->on_request_start.push_back([note](const http::TraceRequestStartParams& p) { return note("request_start:" + p.method); });
  tc->on_request_end.push_back(
      [note](const http::TraceRequestEndParams& p) { return note("request_end:" + std::to_string(p.response->status)); });
  tc->on_request_exception.push_back([note](const http::TraceRequestExceptionParams&) { return note("request_exception"); });
  tc->on_request_redirect.push_back([note](const http::TraceRequestRedirectParams& p) {
    return note("request_redirect:" + std::to_string(p.response->status));
  });
  tc->on_connection_create_start.push_back(
      [note](const http::TraceConnectionCreateStartParams&) { return note("connection_create_start"); });
  tc->on_connection_create_end.push_back(
      [note](const http::TraceConnectionCreateEndParams&) { return note("connection_create_end"); });
  tc->on_connection_reuseconn.push_back(
      [note](const http::TraceConnectionReuseconnParams&) { return note("connection_reuseconn"); });
  tc->on_dns_resolvehost_start.push_back(
      [note](const http::TraceDnsResolveHostStartParams& p) { return note("dns_resolvehost_start:" + p.host); });
  tc->on_dns_resolvehost_end.push_back(
      [note](const http::TraceDnsResolveHostEndParams& p) { return note("dns_resolvehost_end:" + p.host); });
  return tc;
}
/// A port nothing listens on (bound, then closed).
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}
std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (auto& e : v) out += (out.empty() ? "" : " ") + e;
  return out;
}
}  // namespace

TEST_CASE("TraceConfig: the signals aiohttp sends, in its order (new connection, reuse, redirects)") {
  std::map<std::string, std::string> theirs;
  for (const std::string& line : python_lines("aiohttp_trace.py", std::to_string(server().port()))) {
    auto tab = line.find('\t');
    if (tab != std::string::npos) theirs[line.substr(0, tab)] = line.substr(tab + 1);
  }
  REQUIRE(theirs.size() == 3);
  std::map<std::string, std::string> mine;
  auto main = [&]() -> Task<void> {
    std::vector<std::string> events;
    http::SessionOptions so{.trace_configs = {noting(&events)}};
    http::ClientSession s(std::move(so));
    std::string base = "http://localhost:" + std::to_string(server().port());
    const std::vector<std::pair<std::string, std::string>> cases{
        {"first", "/json"}, {"again", "/json"}, {"redirect", "/redirect/1"}};
    for (const auto& [name, path] : cases) {
      events.clear();
      co_await fetch(s, base + path);
      mine[name] = joined(events);
    }
    co_await s.close();
  };
  asyncio::run(main());
  for (auto& [k, v] : theirs) {
    INFO("case " << k);
    CHECK(mine[k] == v);
  }
}

TEST_CASE("TraceConfig: a failed request reports start then exception; a failing callback fails the request") {
  auto main = []() -> Task<void> {
    std::vector<std::string> events;
    http::SessionOptions so{.trace_configs = {noting(&events)}};
    http::ClientSession s(std::move(so));
    bool refused = false;
    try {
      co_await fetch(s, "http://127.0.0.1:" + std::to_string(closed_port()) + "/");
    } catch (const http::ClientConnectorError&) {
      refused = true;
    }
    CHECK(refused);
    CHECK(joined(events) == "request_start:GET request_exception");
    // A callback that throws: the request fails with its exception.
    auto tc = std::make_shared<http::TraceConfig>();
    tc->on_request_start.push_back([](const http::TraceRequestStartParams&) -> Task<void> {
      co_await asyncio::sleep(0);
      throw asyncio::ValueError("trace refused");
    });
    http::SessionOptions so2{.trace_configs = {tc}};
    http::ClientSession s2(std::move(so2));
    bool failed = false;
    try {
      co_await fetch(s2, server().url("/json"));
    } catch (const asyncio::ValueError& e) {
      failed = std::string(e.what()) == "trace refused";
    }
    CHECK(failed);
    co_await s.close();
    co_await s2.close();
  };
  asyncio::run(main());
}
