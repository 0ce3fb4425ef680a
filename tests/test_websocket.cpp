// WebSockets (web::WebSocketResponse, http::ClientSession::ws_connect; the engine of
// detail/websocket.hpp on wslay): our client against our server; hand-made frames over raw
// sockets for the protocol rules (each close code checked); cancellation, timeouts, a peer that
// vanishes, heartbeat, server shutdown; and Python's aiohttp 3.8.4 and `websockets` as peers in
// both directions (tests/web/ws_peer.py under /usr/bin/python3). What aiohttp does for the same
// scenario is written above the checks that follow it. Real time, 127.0.0.1.
#include <asyncio/http.hpp>
#include <asyncio/web.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "catch.hpp"
#include "io_helpers.hpp"

namespace web = asyncio::web;
namespace http = asyncio::http;
using asyncio::Task;
using namespace std::chrono_literals;

namespace {

/// Serve `app` on 127.0.0.1:<ephemeral> for the duration of `body(port)`, then clean up.
Task<void> serve(web::Application& app, std::function<Task<void>(int)> body) {
  web::AppRunner runner(app);
  co_await runner.setup();
  web::TCPSite site(runner, "127.0.0.1", 0);
  co_await site.start();
  std::exception_ptr err;
  try {
    auto t = body(site.port());
    co_await std::move(t);
  } catch (...) {
    err = std::current_exception();
  }
  co_await runner.cleanup();
  if (err) std::rethrow_exception(err);
}

std::string url_of(int port, const std::string& path = "/ws") { return "ws://127.0.0.1:" + std::to_string(port) + path; }

/// The echo handler: text → "echo:" + text, binary → the bytes back, "close" → close(4000, "bye").
struct Echo {
  std::vector<std::string>* log;
  web::WebSocketResponse::Options opts;
  Task<web::Response> operator()(web::Request& req) const {
    web::WebSocketResponse ws(opts);
    co_await ws.prepare(req);
    for (;;) {
      web::WSMessage m = co_await ws.receive();
      if (log) log->push_back(web::to_string(m.type) + std::string(":") + (m.type == web::WSMsgType::CLOSE ? std::to_string(m.code) : m.data));
      if (m.type == web::WSMsgType::TEXT) {
        if (m.data == "close") {
          web::WSCloseOptions o{.code = 4000, .message = "bye"};
          co_await ws.close(std::move(o));
          break;
        }
        co_await ws.send_str("echo:" + m.data);
      } else if (m.type == web::WSMsgType::BINARY) {
        co_await ws.send_bytes(m.data);
      } else {
        break;
      }
    }
    if (log && ws.close_code()) log->push_back("code:" + std::to_string(*ws.close_code()));
    co_return ws;
  }
};

// ------------------------------------------------------------------------------------ raw frames

/// A client frame: masked unless `mask` is false; `len_override` writes that 64-bit length.
std::string frame(int opcode, std::string_view payload, bool fin = true, bool mask = true,
                  std::optional<unsigned long long> len_override = std::nullopt) {
  std::string f;
  f += static_cast<char>((fin ? 0x80 : 0) | opcode);
  unsigned char mbit = mask ? 0x80 : 0;
  if (len_override) {
    f += static_cast<char>(mbit | 127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>((*len_override >> (8 * i)) & 0xff);
  } else if (payload.size() < 126) {
    f += static_cast<char>(mbit | payload.size());
  } else if (payload.size() < 65536) {
    f += static_cast<char>(mbit | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xff);
  } else {
    f += static_cast<char>(mbit | 127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>((static_cast<unsigned long long>(payload.size()) >> (8 * i)) & 0xff);
  }
  const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (mask) f.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) f += mask ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i];
  return f;
}
std::string close_payload(int code, std::string_view reason = {}) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xff);
  p += reason;
  return p;
}

struct RawWs {
  asyncio::StreamReader r;
  asyncio::StreamWriter w;
};

/// Connect and do the handshake by hand; the 101 head is checked.
Task<RawWs> raw_connect(int port, std::string path = "/ws") {
  auto t = asyncio::open_connection("127.0.0.1", port);
  auto [r, w] = co_await std::move(t);
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  w.write(req);
  co_await w.drain();
  std::string sep = "\r\n\r\n";
  std::string head = co_await r.readuntil(sep);
  REQUIRE(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
  // RFC 6455's own example key and answer
  REQUIRE(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
  co_return RawWs{r, w};
}

/// Read one server frame: {opcode, payload}; opcode -1 at EOF.
Task<std::pair<int, std::string>> read_frame(asyncio::StreamReader& r) {
  std::string h;
  try {
    h = co_await r.readexactly(2);
  } catch (const asyncio::IncompleteReadError&) {
    co_return std::pair{-1, std::string()};
  }
  int op = static_cast<unsigned char>(h[0]) & 0x0f;
  unsigned long long len = static_cast<unsigned char>(h[1]) & 0x7f;
  REQUIRE((static_cast<unsigned char>(h[1]) & 0x80) == 0);  // a server never masks
  if (len == 126) {
    std::string e = co_await r.readexactly(2);
    len = (static_cast<unsigned char>(e[0]) << 8) | static_cast<unsigned char>(e[1]);
  } else if (len == 127) {
    std::string e = co_await r.readexactly(8);
    len = 0;
    for (char c : e) len = (len << 8) | static_cast<unsigned char>(c);
  }
  std::string p = co_await r.readexactly(static_cast<long long>(len));
  co_return std::pair{op, p};
}

/// Send `bytes` and return the close code of the server's close frame (skipping other frames);
/// -1 if the connection ended without one.
Task<int> close_code_after(int port, std::string bytes) {
  auto t = raw_connect(port);
  RawWs ws = co_await std::move(t);
  ws.w.write(bytes);
  co_await ws.w.drain();
  for (;;) {
    auto [op, p] = co_await read_frame(ws.r);
    if (op == -1) {
      ws.w.close();
      co_return -1;
    }
    if (op == 8) {
      ws.w.close();
      co_return p.size() >= 2 ? (static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]) : 1005;
    }
  }
}

// ------------------------------------------------------------------------------------ Python peers

/// tests/web/ws_peer.py <mode> [url] under /usr/bin/python3; its stdout is collected.
/// A server mode prints its port first.
class PyPeer {
 public:
  explicit PyPeer(std::vector<std::string> args) : PyPeer("/usr/bin/python3", with_script(std::move(args))) {}
  /// Any program: argv[0] is `exe`, then `args`; stderr goes to /dev/null.
  PyPeer(const char* exe, std::vector<std::string> args, bool quiet = false) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      if (quiet) {
        int devnull = ::open("/dev/null", O_WRONLY);
        ::dup2(devnull, 2);
      }
      std::vector<char*> argv{const_cast<char*>(exe)};
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(exe, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~PyPeer() {
    if (fd_ >= 0) ::close(fd_);
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st;
      ::waitpid(pid_, &st, 0);
    }
  }
  static std::vector<std::string> with_script(std::vector<std::string> args) {
    std::string script = std::string(__FILE__);
    script = script.substr(0, script.rfind('/')) + "/web/ws_peer.py";
    args.insert(args.begin(), script);
    return args;
  }
  /// One line of its output (blocking; for the server's port).
  std::string line() {
    std::string s;
    char c;
    while (::read(fd_, &c, 1) == 1 && c != '\n') s += c;
    return s;
  }
  /// The rest of its output and its exit status, read without blocking the loop.
  Task<std::pair<std::string, int>> finish() {
    std::string out;
    for (;;) {
      char buf[4096];
      std::string chunk = co_await asyncio::to_thread([this, &buf]() -> std::string {
        ssize_t k = ::read(fd_, buf, sizeof buf);
        return k > 0 ? std::string(buf, static_cast<std::size_t>(k)) : std::string();
      });
      if (chunk.empty()) break;
      out += chunk;
    }
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = 0;
    co_return std::pair{out, WIFEXITED(st) ? WEXITSTATUS(st) : -1};
  }

 private:
  pid_t pid_ = 0;
  int fd_ = -1;
};

}  // namespace

// ------------------------------------------------------------------------------------ our client ↔ our server

Task<void> echo_body(int port, std::vector<std::string>* client_log) {
  http::ClientSession session;
  auto c = session.ws_connect(url_of(port));
  http::ClientWebSocketResponse ws = co_await std::move(c);
  client_log->push_back("status:" + std::to_string(ws.status));
  co_await ws.send_str("hello");
  std::string s = co_await ws.receive_str();
  client_log->push_back(s);
  std::string big(200000, 'x');
  co_await ws.send_bytes(big);
  std::string b = co_await ws.receive_bytes();
  client_log->push_back("bytes:" + std::to_string(b.size()) + (b == big ? " same" : " differ"));
  nlohmann::json j = {{"a", 1}};
  co_await ws.send_json(j);
  std::string back = co_await ws.receive_str();
  client_log->push_back(back);
  co_await ws.ping();
  co_await ws.send_str("close");
  // aiohttp: the server's close arrives as CLOSE (data 4000, extra "bye"), answered already;
  // then CLOSED on every receive.
  web::WSMessage m = co_await ws.receive();
  client_log->push_back(std::string(web::to_string(m.type)) + ":" + std::to_string(m.code) + ":" + m.extra);
  client_log->push_back("code:" + std::to_string(ws.close_code().value_or(-1)));
  web::WSMessage m2 = co_await ws.receive();
  client_log->push_back(web::to_string(m2.type));
  bool again = co_await ws.close();
  client_log->push_back(again ? "close:true" : "close:false");
  co_await session.close();
}

TEST_CASE("websocket: our client and our server: text, bytes, json, ping, server-initiated close") {
  std::size_t fds = open_fd_count();
  std::vector<std::string> server_log, client_log;
  web::Application app;
  app.router().add_get("/ws", Echo{&server_log, {}});
  asyncio::run(serve(app, [&](int port) { return echo_body(port, &client_log); }));
  CHECK(client_log == std::vector<std::string>{"status:101", "echo:hello", "bytes:200000 same", "echo:{\"a\":1}",
                                               "WSMsgType.CLOSE:4000:bye", "code:4000", "WSMsgType.CLOSED",
                                               "close:false"});
  CHECK(server_log == std::vector<std::string>{"WSMsgType.TEXT:hello", std::string("WSMsgType.BINARY:") + std::string(200000, 'x'),
                                               "WSMsgType.TEXT:{\"a\":1}", "WSMsgType.TEXT:close", "code:4000"});
  CHECK(open_fd_count() == fds);
}

Task<void> client_close_body(int port, std::vector<std::string>* log) {
  http::ClientSession session;
  http::WSConnectOptions o{.protocols = {"chat", "superchat"}};
  auto c = session.ws_connect(url_of(port), std::move(o));
  http::ClientWebSocketResponse ws = co_await std::move(c);
  log->push_back("protocol:" + ws.protocol());
  co_await ws.send_str("x");
  co_await ws.receive();
  web::WSCloseOptions co{.code = web::WSCloseCode::GOING_AWAY, .message = "done"};
  bool closed = co_await ws.close(std::move(co));
  log->push_back(closed ? "closed" : "not closed");
  log->push_back("code:" + std::to_string(ws.close_code().value_or(-1)));
  co_await session.close();
}

TEST_CASE("websocket: client-initiated close, subprotocol negotiation") {
  std::size_t fds = open_fd_count();
  std::vector<std::string> server_log, client_log;
  web::Application app;
  app.router().add_get("/ws", Echo{&server_log, {.protocols = {"superchat"}}});
  asyncio::run(serve(app, [&](int port) { return client_close_body(port, &client_log); }));
  // aiohttp: the client's close() returns True and close_code is the server's answer (1001
  // echoed); the server's receive() gives CLOSE with the client's code.
  CHECK(client_log == std::vector<std::string>{"protocol:superchat", "closed", "code:1001"});
  CHECK(server_log == std::vector<std::string>{"WSMsgType.TEXT:x", "WSMsgType.CLOSE:1001", "code:1001"});
  CHECK(open_fd_count() == fds);
}

Task<void> handshake_errors_body(int port, std::vector<std::string>* log) {
  http::ClientSession session;
  // A plain GET to the WebSocket route: aiohttp answers 400 "No WebSocket UPGRADE hdr: None\n
  // Can "Upgrade" only to "WebSocket"."
  {
    auto r = co_await session.get("http://127.0.0.1:" + std::to_string(port) + "/ws");
    std::string text = co_await r.text();
    log->push_back(std::to_string(r.status) + ":" + text);
  }
  // ws_connect to a route that is not a WebSocket: WSServerHandshakeError(200, "Invalid response status").
  try {
    auto c = session.ws_connect(url_of(port, "/plain"));
    co_await std::move(c);
    log->push_back("connected?");
  } catch (const http::WSServerHandshakeError& e) {
    log->push_back(std::to_string(e.status) + ":" + e.message);
  }
  // ... also a ClientResponseError
  try {
    auto c = session.ws_connect(url_of(port, "/missing"));
    co_await std::move(c);
  } catch (const http::ClientResponseError& e) {
    log->push_back(std::to_string(e.status) + ":" + e.message);
  }
  // Nothing listening: ClientConnectorError. A bad scheme: InvalidURL.
  try {
    auto c = session.ws_connect("ws://127.0.0.1:1/x");
    co_await std::move(c);
  } catch (const http::ClientConnectorError&) {
    log->push_back("connector error");
  }
  try {
    auto c = session.ws_connect("ftp://127.0.0.1/x");
    co_await std::move(c);
  } catch (const http::InvalidURL&) {
    log->push_back("invalid url");
  }
  // A redirect is followed (aiohttp's request follows it for ws_connect too).
  {
    auto c = session.ws_connect(url_of(port, "/moved"));
    http::ClientWebSocketResponse ws = co_await std::move(c);
    log->push_back("redirected to " + ws.url.substr(ws.url.rfind('/')));
    co_await ws.close();
  }
  co_await session.close();
}

TEST_CASE("websocket: handshake errors on both sides, redirects") {
  std::size_t fds = open_fd_count();
  std::vector<std::string> log;
  web::Application app;
  app.router().add_get("/ws", Echo{nullptr, {}});
  app.router().add_get("/plain", [](web::Request&) -> Task<web::Response> { co_return web::Response{.text = "plain"}; });
  app.router().add_get("/moved", [](web::Request&) -> Task<web::Response> { throw web::HTTPFound("/ws"); });
  asyncio::run(serve(app, [&](int port) { return handshake_errors_body(port, &log); }));
  CHECK(log == std::vector<std::string>{"400:No WebSocket UPGRADE hdr: None\n Can \"Upgrade\" only to \"WebSocket\".",
                                        "200:Invalid response status", "404:Invalid response status", "connector error",
                                        "invalid url", "redirected to /ws"});
  CHECK(open_fd_count() == fds);
}

// ------------------------------------------------------------------------------------ protocol rules

Task<void> malformed_body(int port, std::vector<int>* codes) {
  // A sane frame first: the echo comes back, no close.
  codes->push_back(co_await close_code_after(port, frame(1, "close")));  // our handler closes with 4000
  // An unmasked client frame: 1002.
  codes->push_back(co_await close_code_after(port, frame(1, "hi", true, false)));
  // Opcode 3 (reserved): 1002.
  codes->push_back(co_await close_code_after(port, frame(3, "hi")));
  // A length with the top bit set (2^63): 1002.
  codes->push_back(co_await close_code_after(port, frame(2, "", true, true, 1ull << 63)));
  // A close frame with code 999, and with 1005 (never on the wire): 1002.
  codes->push_back(co_await close_code_after(port, frame(8, close_payload(999))));
  codes->push_back(co_await close_code_after(port, frame(8, close_payload(1005))));
  // A 1-byte close payload: 1002.
  codes->push_back(co_await close_code_after(port, frame(8, "x")));
  // Invalid UTF-8 in a text frame: 1007; split across two fragments the same.
  codes->push_back(co_await close_code_after(port, frame(1, "\xc3\x28")));
  codes->push_back(co_await close_code_after(port, frame(1, "ab\xe2\x82", false) + frame(0, "\x28")));
  // A valid UTF-8 character split across fragments is fine (then "close" → 4000).
  codes->push_back(co_await close_code_after(port, frame(1, "\xe2\x82", false) + frame(0, "\xac") + frame(1, "close")));
  // A control frame between fragments is fine; a fragmented ping is not (1002).
  codes->push_back(co_await close_code_after(port, frame(1, "cl", false) + frame(9, "p") + frame(0, "ose")));
  codes->push_back(co_await close_code_after(port, frame(9, "p", false)));
  // A continuation with nothing to continue: 1002.
  codes->push_back(co_await close_code_after(port, frame(0, "x")));
  // Over max_msg_size (1000 here), in one frame and in fragments: 1009.
  codes->push_back(co_await close_code_after(port, frame(2, std::string(1001, 'a'))));
  codes->push_back(co_await close_code_after(port, frame(2, std::string(600, 'a'), false) + frame(0, std::string(600, 'a'))));
  // RSV bits without an extension: 1002.
  std::string rsv = frame(1, "x");
  rsv[0] = static_cast<char>(rsv[0] | 0x40);
  codes->push_back(co_await close_code_after(port, rsv));
  // Invalid UTF-8 in a close reason: 1007.
  codes->push_back(co_await close_code_after(port, frame(8, close_payload(1000, "\xff"))));
  // A normal close: echoed with its code.
  codes->push_back(co_await close_code_after(port, frame(8, close_payload(1000, "ok"))));
}

TEST_CASE("websocket: malformed frames close the connection with the RFC's code") {
  std::size_t fds = open_fd_count();
  std::vector<int> codes;
  web::Application app;
  app.router().add_get("/ws", Echo{nullptr, {.max_msg_size = 1000}});
  asyncio::run(serve(app, [&](int port) { return malformed_body(port, &codes); }));
  CHECK(codes == std::vector<int>{4000, 1002, 1002, 1002, 1002, 1002, 1002, 1007, 1007, 4000, 4000, 1002, 1002, 1009,
                                  1009, 1002, 1007, 1000});
  CHECK(open_fd_count() == fds);
}

Task<void> error_message_body(int port, std::vector<std::string>* log) {
  auto t = raw_connect(port);
  RawWs ws = co_await std::move(t);
  ws.w.write(frame(1, "\xff"));
  co_await ws.w.drain();
  auto f = co_await read_frame(ws.r);
  log->push_back("frame:" + std::to_string(f.first));
  ws.w.close();
  co_await asyncio::sleep(0.05);
}

TEST_CASE("websocket: a protocol error is an ERROR message with a WebSocketError, then CLOSED") {
  std::vector<std::string> log;
  web::Application app;
  app.router().add_get("/ws", [&](web::Request& req) -> Task<web::Response> {
    web::WebSocketResponse ws;
    co_await ws.prepare(req);
    web::WSMessage m = co_await ws.receive();
    log.push_back(web::to_string(m.type));
    try {
      if (m.exception) std::rethrow_exception(m.exception);
    } catch (const web::WebSocketError& e) {
      log.push_back(std::to_string(e.code) + ":" + e.what());
    }
    log.push_back("code:" + std::to_string(ws.close_code().value_or(-1)));
    web::WSMessage m2 = co_await ws.receive();
    log.push_back(web::to_string(m2.type));
    // aiohttp: the 5th receive() after closing raises RuntimeError.
    for (int i = 0; i < 3; ++i) co_await ws.receive();
    try {
      co_await ws.receive();
    } catch (const asyncio::RuntimeError& e) {
      log.push_back(e.what());
    }
    // aiohttp: sending on a closed WebSocket raises ConnectionResetError.
    try {
      co_await ws.send_str("late");
    } catch (const asyncio::ConnectionResetError& e) {
      log.push_back(e.what());
    }
    co_return ws;
  });
  asyncio::run(serve(app, [&](int port) { return error_message_body(port, &log); }));
  CHECK(log == std::vector<std::string>{"WSMsgType.ERROR", "1007:invalid utf-8 payload", "code:1007", "WSMsgType.CLOSED",
                                        "WebSocket connection is closed.", "Cannot write to closing transport",
                                        "frame:8"});
}

// ------------------------------------------------------------------------------------ cancel, timeout, peer gone

Task<void> cancel_body(int port, std::vector<std::string>* log) {
  http::ClientSession session;
  auto c = session.ws_connect(url_of(port));
  http::ClientWebSocketResponse ws = co_await std::move(c);
  // A task suspended in receive(), cancelled.
  auto t = asyncio::create_task(ws.receive());
  co_await asyncio::sleep(0.02);
  t.cancel();
  try {
    co_await t;
  } catch (const asyncio::CancelledError&) {
    log->push_back("cancelled");
  }
  // aiohttp: close_code becomes 1006 but the WebSocket stays open and usable.
  log->push_back("code:" + std::to_string(ws.close_code().value_or(-1)));
  // Under wait_for: TimeoutError, and again usable.
  try {
    auto w = asyncio::wait_for(ws.receive(), 0.05);
    co_await w;
  } catch (const asyncio::TimeoutError&) {
    log->push_back("timeout");
  }
  try {
    co_await ws.receive(0.05);
  } catch (const asyncio::TimeoutError&) {
    log->push_back("timeout2");
  }
  co_await ws.send_str("still");
  std::string s = co_await ws.receive_str();
  log->push_back(s);
  // receive_str on a BINARY message: TypeError, as aiohttp.
  co_await ws.send_bytes("b");
  try {
    co_await ws.receive_str();
  } catch (const asyncio::TypeError& e) {
    log->push_back(e.what());
  }
  // close() while another task waits in receive(): that receive gets CLOSING.
  auto waiting = asyncio::create_task(ws.receive());
  co_await asyncio::sleep(0.01);
  bool closed = co_await ws.close();
  web::WSMessage m = co_await waiting;
  log->push_back(std::string(web::to_string(m.type)) + (closed ? " closed" : ""));
  co_await session.close();
}

TEST_CASE("websocket: cancelling receive(), wait_for and receive timeouts, close from another task") {
  std::size_t fds = open_fd_count();
  std::vector<std::string> log;
  web::Application app;
  app.router().add_get("/ws", Echo{nullptr, {}});
  asyncio::run(serve(app, [&](int port) { return cancel_body(port, &log); }));
  CHECK(log == std::vector<std::string>{"cancelled", "code:1006", "timeout", "timeout2", "echo:still",
                                        "Received message 2:b'b' is not str", "WSMsgType.CLOSING closed"});
  CHECK(open_fd_count() == fds);
}

Task<void> peer_gone_body(int port, bool keep_open) {
  auto t = raw_connect(port);
  RawWs ws = co_await std::move(t);
  ws.w.write(frame(1, "hi"));
  co_await ws.w.drain();
  auto f = co_await read_frame(ws.r);
  REQUIRE(f.second == "echo:hi");
  if (!keep_open) {
    ws.w.close();  // gone without a close frame
    co_await asyncio::sleep(0.1);
  } else {
    // Never answer the heartbeat's pings: the server drops us.
    for (;;) {
      auto g = co_await read_frame(ws.r);
      if (g.first == -1) break;
    }
    ws.w.close();
  }
}

TEST_CASE("websocket: a client that vanishes gives CLOSED with 1006, heartbeat drops a dead client") {
  std::size_t fds = open_fd_count();
  std::vector<std::string> log;
  web::Application app;
  app.router().add_get("/ws", Echo{&log, {}});
  asyncio::run(serve(app, [&](int port) { return peer_gone_body(port, false); }));
  CHECK(log == std::vector<std::string>{"WSMsgType.TEXT:hi", "WSMsgType.CLOSED:", "code:1006"});
  log.clear();
  web::Application app2;
  app2.router().add_get("/ws", Echo{&log, {.heartbeat = 0.1s}});
  double t0 = 0, t1 = 0;
  asyncio::run(serve(app2, [&](int port) -> Task<void> {
    t0 = asyncio::get_running_loop().time();
    auto t = peer_gone_body(port, true);
    co_await std::move(t);
    t1 = asyncio::get_running_loop().time();
  }));
  // aiohttp: no pong within heartbeat/2 → the transport is closed, receive() gives CLOSED,
  // close_code 1006.
  CHECK(log == std::vector<std::string>{"WSMsgType.TEXT:hi", "WSMsgType.CLOSED:", "code:1006"});
  CHECK(t1 - t0 < 1.0);
  CHECK(open_fd_count() == fds);
}

Task<void> heartbeat_alive_body(int port, std::vector<std::string>* log) {
  http::ClientSession session;
  // The plain forms DESIGN 4b promises on GCC 12 (built here at -O1, and -O0/-O2 in other trees).
  std::string url = url_of(port);
  http::ClientWebSocketResponse ws = co_await session.ws_connect(url);
  // Idle for several heartbeats: our client answers the pings (wslay), nothing is dropped.
  co_await asyncio::sleep(0.35);
  co_await ws.send_str("alive");
  std::string s = co_await ws.receive_str();
  log->push_back(s);
  co_await ws.close();
  co_await session.close();
}

TEST_CASE("websocket: heartbeat keeps a live peer") {
  std::vector<std::string> log;
  web::Application app;
  app.router().add_get("/ws", Echo{nullptr, {.heartbeat = 0.1s}});
  asyncio::run(serve(app, [&](int port) { return heartbeat_alive_body(port, &log); }));
  CHECK(log == std::vector<std::string>{"echo:alive"});
}

Task<void> client_heartbeat_body(int port, std::vector<std::string>* log) {
  http::ClientSession session;
  http::WSConnectOptions o{.heartbeat = 0.1s};
  auto c = session.ws_connect(url_of(port, "/mute"), std::move(o));
  http::ClientWebSocketResponse ws = co_await std::move(c);
  web::WSMessage m = co_await ws.receive();
  log->push_back(web::to_string(m.type));
  log->push_back("code:" + std::to_string(ws.close_code().value_or(-1)));
  try {
    if (ws.exception()) std::rethrow_exception(ws.exception());
  } catch (const asyncio::TimeoutError&) {
    log->push_back("TimeoutError");
  }
  co_await session.close();
}

Task<void> mute_server(asyncio::StreamReader r, asyncio::StreamWriter w) {
  // Answers the handshake by hand, then never reads or answers a ping.
  std::string sep = "\r\n\r\n";
  std::string head = co_await r.readuntil(sep);
  auto k = head.find("Sec-WebSocket-Key: ");
  std::string key = head.substr(k + 19, head.find("\r\n", k) - k - 19);
  std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                     asyncio::detail::ws::accept_key(key) + "\r\n\r\n";
  w.write(resp);
  co_await w.drain();
  co_await asyncio::sleep(2);
  w.close();
}

TEST_CASE("websocket: the client's heartbeat drops a server that stopped answering") {
  std::size_t fds = open_fd_count();
  std::vector<std::string> log;
  asyncio::run([&]() -> Task<void> {
    auto s = asyncio::start_server(mute_server, "127.0.0.1", 0);
    asyncio::Server server = co_await std::move(s);
    auto t = client_heartbeat_body(server.port(), &log);
    co_await std::move(t);
    server.close();
  }());
  CHECK(log == std::vector<std::string>{"WSMsgType.CLOSED", "code:1006", "TimeoutError"});
  CHECK(open_fd_count() == fds);
}

Task<void> shutdown_body(int port, std::vector<std::string>* log, web::AppRunner* runner) {
  http::ClientSession session;
  auto c = session.ws_connect(url_of(port));
  http::ClientWebSocketResponse ws = co_await std::move(c);
  co_await ws.send_str("x");
  co_await ws.receive();
  auto cleanup = asyncio::create_task(runner->cleanup());
  web::WSMessage m = co_await ws.receive();
  log->push_back(std::string(web::to_string(m.type)) + ":" + std::to_string(m.code) + ":" + m.extra);
  co_await cleanup;
  co_await session.close();
}

TEST_CASE("websocket: server shutdown closes every open WebSocket with 1001") {
  std::size_t fds = open_fd_count();
  std::vector<std::string> log, server_log;
  web::Application app;
  app.router().add_get("/ws", Echo{&server_log, {}});
  asyncio::run([&]() -> Task<void> {
    web::AppRunner runner(app);
    co_await runner.setup();
    web::TCPSite site(runner, "127.0.0.1", 0);
    co_await site.start();
    auto t = shutdown_body(site.port(), &log, &runner);
    co_await std::move(t);
  }());
  CHECK(log == std::vector<std::string>{"WSMsgType.CLOSE:1001:Server shutdown"});
  // The handler's receive() got CLOSING (close() ran in the runner's task), then its loop ended.
  CHECK(server_log == std::vector<std::string>{"WSMsgType.TEXT:x", "WSMsgType.CLOSING:"});
  CHECK(open_fd_count() == fds);
}

// ------------------------------------------------------------------------------------ Python peers

/// The server tests/web/ws_peer.py's aiohttp server runs, in C++ (the same answers).
Task<web::Response> py_like_handler(web::Request& req) {
  web::WebSocketResponse ws(web::WebSocketResponse::Options{.protocols = {"superchat"}});
  co_await ws.prepare(req);
  co_await asyncio::async_for(ws, [&](web::WSMessage msg) -> Task<> {
    if (msg.type == web::WSMsgType::TEXT) {
      if (msg.data == "close") {
        web::WSCloseOptions o{.code = 4000, .message = "bye"};
        co_await ws.close(std::move(o));
      } else {
        std::string out = "echo:" + msg.data;
        co_await ws.send_str(std::move(out));
      }
    } else if (msg.type == web::WSMsgType::BINARY) {
      auto t = ws.send_bytes(std::move(msg.data));
      co_await std::move(t);
    }
  });
  co_return ws;
}

Task<void> run_py_client(int port, std::string mode, std::string* out) {
  PyPeer peer({mode, url_of(port)});
  auto t = peer.finish();
  auto [text, status] = co_await std::move(t);
  *out = text + "exit " + std::to_string(status) + "\n";
}

TEST_CASE("websocket: our server with aiohttp's and websockets' clients") {
  std::size_t fds = open_fd_count();
  web::Application app;
  app.router().add_get("/ws", py_like_handler);
  std::string a, w;
  asyncio::run(serve(app, [&](int port) -> Task<void> {
    auto t1 = run_py_client(port, "aiohttp-client", &a);
    co_await std::move(t1);
    auto t2 = run_py_client(port, "websockets-client", &w);
    co_await std::move(t2);
  }));
  // What the same clients print against aiohttp's server (tests/web/ws_peer.py aiohttp-server).
  CHECK(a ==
        "protocol superchat\ntext echo:hello\nbytes 80000 True\njson echo:{\"a\": [1, 2]}\nclose CLOSE 4000 bye\n"
        "close_code 4000\ndone\nexit 0\n");
  CHECK(w == "protocol superchat\ntext echo:hello\nbytes 80000 True\npong\ntext echo:fragment\xc3\xa9" "d\nclosed 4000 bye\ndone\nexit 0\n");
  CHECK(open_fd_count() == fds);
}

Task<void> our_client_body(int port, std::vector<std::string>* log) {
  http::ClientSession session;
  http::WSConnectOptions o{.protocols = {"chat", "superchat"}};
  auto c = session.ws_connect(url_of(port), std::move(o));
  http::ClientWebSocketResponse ws = co_await std::move(c);
  log->push_back("protocol " + ws.protocol());
  co_await ws.send_str(std::string("hello"));
  std::string s = co_await ws.receive_str();
  log->push_back("text " + s);
  std::string big;
  for (int i = 0; i < 40000; ++i) big += std::string("\x00\x01", 2);
  co_await ws.send_bytes(big);
  std::string b = co_await ws.receive_bytes();
  log->push_back("bytes " + std::to_string(b.size()) + (b == big ? " True" : " False"));
  co_await ws.ping();
  co_await ws.send_str(std::string("close"));
  web::WSMessage m = co_await ws.receive();
  log->push_back(std::string("close ") + web::to_string(m.type) + " " + std::to_string(m.code) + " " + m.extra);
  log->push_back("close_code " + std::to_string(ws.close_code().value_or(-1)));
  co_await session.close();
}

TEST_CASE("websocket: our client with aiohttp's and websockets' servers") {
  std::size_t fds = open_fd_count();
  for (const char* mode : {"aiohttp-server", "websockets-server"}) {
    INFO(mode);
    PyPeer peer({mode});
    int port = std::stoi(peer.line());
    std::vector<std::string> log;
    asyncio::run(our_client_body(port, &log));
    CHECK(log == std::vector<std::string>{"protocol superchat", "text echo:hello", "bytes 80000 True",
                                          "close WSMsgType.CLOSE 4000 bye", "close_code 4000"});
  }
  CHECK(open_fd_count() == fds);
}

#ifdef ASYNCIO_WS_TEST_SSL
#include <asyncio/ssl.hpp>

Task<void> wss_body(int port, std::string cafile, std::vector<std::string>* log) {
  http::ClientSession session;
  // Without .ssl: the default context (system CAs) does not trust the self-signed certificate.
  try {
    auto c = session.ws_connect("wss://localhost:" + std::to_string(port) + "/ws");
    co_await std::move(c);
  } catch (const http::ClientConnectorError&) {
    log->push_back("untrusted by default");
  }
  asyncio::ssl::VerifyLocations where{.cafile = cafile};
  http::WSConnectOptions o{.ssl = asyncio::ssl::create_default_context(asyncio::ssl::Purpose::SERVER_AUTH, where)};
  auto c = session.ws_connect("wss://localhost:" + std::to_string(port) + "/ws", std::move(o));
  http::ClientWebSocketResponse ws = co_await std::move(c);
  co_await ws.send_str(std::string("over tls"));
  std::string s = co_await ws.receive_str();
  log->push_back(s);
  co_await ws.close();
  log->push_back("code " + std::to_string(ws.close_code().value_or(-1)));
  // The default context does not trust the self-signed certificate: the connect fails.
  try {
    http::WSConnectOptions d{.ssl = asyncio::ssl::create_default_context()};
    auto c2 = session.ws_connect("wss://localhost:" + std::to_string(port) + "/ws", std::move(d));
    co_await std::move(c2);
  } catch (const http::ClientConnectorError&) {
    log->push_back("untrusted");
  }
  co_await session.close();
}

/// A self-signed certificate for localhost in a fresh directory: {dir, cert, key}.
std::string make_cert_dir() {
  char tmpl[] = "/tmp/asyncio_wss_XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  std::string dir = tmpl;
  std::string cmd = "cd " + dir + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout k.pem "
                    "-out c.pem -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  return dir;
}

Task<void> own_wss_body(web::Application& app, std::string dir, std::vector<std::string>* log) {
  auto sctx = std::make_shared<asyncio::ssl::SSLContext>(asyncio::ssl::Protocol::TLS_SERVER);
  sctx->load_cert_chain(dir + "/c.pem", dir + "/k.pem");
  web::AppRunner runner(app);
  co_await runner.setup();
  web::TCPSiteOptions so{.ssl_context = sctx};
  web::TCPSite site(runner, "127.0.0.1", 0, so);
  co_await site.start();
  {
    http::ClientSession session;
    asyncio::ssl::VerifyLocations where{.cafile = dir + "/c.pem"};
    http::WSConnectOptions o{.ssl = asyncio::ssl::create_default_context(asyncio::ssl::Purpose::SERVER_AUTH, where)};
    auto c = session.ws_connect("wss://localhost:" + std::to_string(site.port()) + "/ws", std::move(o));
    http::ClientWebSocketResponse ws = co_await std::move(c);
    co_await ws.send_str(std::string("secret"));
    std::string s = co_await ws.receive_str();
    log->push_back(s);
    co_await ws.send_str(std::string("close"));
    web::WSMessage m = co_await ws.receive();
    log->push_back(std::to_string(m.code) + " " + m.extra);
    co_await session.close();
  }
  co_await runner.cleanup();
}

TEST_CASE("websocket: wss:// end to end, our client and our HTTPS site (TCPSite ssl_context)") {
  std::string dir = make_cert_dir();
  std::size_t fds = open_fd_count();
  std::vector<std::string> log;
  web::Application app;
  app.router().add_get("/ws", Echo{nullptr, {}});
  asyncio::run(own_wss_body(app, dir, &log));
  std::system(("rm -rf " + dir).c_str());
  CHECK(log == std::vector<std::string>{"echo:secret", "4000 bye"});
  CHECK(open_fd_count() == fds);
}

TEST_CASE("websocket: wss:// to a TLS server (websockets), certificate verified") {
  char tmpl[] = "/tmp/asyncio_wss_XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  std::string dir = tmpl;
  std::string cmd = "cd " + dir + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout k.pem "
                    "-out c.pem -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::size_t fds = open_fd_count();
  std::vector<std::string> log;
  {
    PyPeer peer({"websockets-tls-server", dir + "/c.pem", dir + "/k.pem"});
    int port = std::stoi(peer.line());
    asyncio::run(wss_body(port, dir + "/c.pem", &log));
  }
  std::system(("rm -rf " + dir).c_str());
  CHECK(log == std::vector<std::string>{"untrusted by default", "echo:over tls", "code 1000", "untrusted"});
  CHECK(open_fd_count() == fds);
}
#endif

// ------------------------------------------------------------------------------------ a browser

// The page's script opens a WebSocket to /ws, sends "hello" and 3 bytes, expects the echoes,
// writes what it got into #result, reports it back ("done:" + result) and closes with 4001. The
// page also holds <img src="/gate">, answered only once the server got that report: the load
// event (after which --dump-dom prints the DOM) waits for it, so the DOM dumped has the result.
constexpr const char* kBrowserPage = R"(<!doctype html><html><body><p id="result">pending</p><img src="/gate">
<script>
const ws = new WebSocket(`ws://${location.host}/ws`, ["chat"]);
ws.binaryType = "arraybuffer";
const got = [];
ws.onopen = () => { got.push("open:" + ws.protocol); ws.send("hello"); };
ws.onmessage = (e) => {
  if (typeof e.data === "string") {
    got.push(e.data);
    ws.send(new Uint8Array([1, 2, 255]));
  } else {
    got.push("bytes:" + Array.from(new Uint8Array(e.data)).join(","));
    const text = got.join(" ");
    document.getElementById("result").textContent = text;
    ws.send("done:" + text);
    ws.close(4001, "bye");
  }
};
ws.onerror = () => { document.getElementById("result").textContent = "error"; };
</script></body></html>)";

TEST_CASE("websocket: a headless Chromium talks to our server") {
  if (::access("/usr/bin/chromium", X_OK) != 0) {
    WARN("chromium is not installed (Debian: apt install chromium): skipped");
    return;
  }
  std::vector<std::string> server_log;
  std::string dom;
  asyncio::Event reported;
  web::Application app;
  app.router().add_get("/", [](web::Request&) -> Task<web::Response> {
    co_return web::Response{.text = kBrowserPage, .content_type = "text/html"};
  });
  app.router().add_get("/gate", [&](web::Request&) -> Task<web::Response> {
    auto w = asyncio::wait_for(reported.wait(), 10.0);
    co_await w;
    co_return web::Response{.body = std::string("GIF89a"), .content_type = "image/gif"};
  });
  app.router().add_get("/ws", [&](web::Request& req) -> Task<web::Response> {
    web::WebSocketResponse ws(web::WebSocketResponse::Options{.protocols = {"chat"}});
    co_await ws.prepare(req);
    for (;;) {
      web::WSMessage m = co_await ws.receive();
      server_log.push_back(web::to_string(m.type) + std::string(":") + (m.type == web::WSMsgType::CLOSE ? std::to_string(m.code) + ":" + m.extra : m.data));
      if (m.type == web::WSMsgType::TEXT && m.data.rfind("done:", 0) == 0) {
        reported.set();
      } else if (m.type == web::WSMsgType::TEXT) {
        std::string out = "echo:" + m.data;
        co_await ws.send_str(std::move(out));
      } else if (m.type == web::WSMsgType::BINARY) {
        co_await ws.send_bytes(m.data);
      } else {
        break;
      }
    }
    co_return ws;
  });
  char tmpl[] = "/tmp/asyncio_chromium_XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  std::string profile = tmpl;
  asyncio::run(serve(app, [&](int port) -> Task<void> {
    PyPeer browser("/usr/bin/chromium",
                   {"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile,
                    "--dump-dom", "http://127.0.0.1:" + std::to_string(port) + "/"},
                   true);
    auto t = browser.finish();
    auto [out, status] = co_await std::move(t);
    dom = out;
    CHECK(status == 0);
  }));
  std::system(("rm -rf " + profile).c_str());
  CHECK(dom.find("<p id=\"result\">open:chat echo:hello bytes:1,2,255</p>") != std::string::npos);
  CHECK(server_log == std::vector<std::string>{"WSMsgType.TEXT:hello", std::string("WSMsgType.BINARY:\x01\x02\xff", 3 + 17),
                                               "WSMsgType.TEXT:done:open:chat echo:hello bytes:1,2,255",
                                               "WSMsgType.CLOSE:4001:bye"});
}

Task<void> flood_body(int port, int* count) {
  http::ClientSession session;
  auto c = session.ws_connect(url_of(port));
  http::ClientWebSocketResponse ws = co_await std::move(c);
  for (int i = 0; i < 300; ++i) {
    auto t = ws.send_str(std::to_string(i) + std::string(1000, '.'));
    co_await std::move(t);
  }
  co_await ws.send_str(std::string("end"));
  std::string n = co_await ws.receive_str();
  *count = std::stoi(n);
  co_await ws.close();
  co_await session.close();
}

TEST_CASE("websocket: messages nobody receives yet pause the reading, and all arrive in order") {
  int count = 0;
  web::Application app;
  app.router().add_get("/ws", [](web::Request& req) -> Task<web::Response> {
    web::WebSocketResponse ws;
    co_await ws.prepare(req);
    co_await asyncio::sleep(0.1);  // 300 messages arrive meanwhile: the reader stops at 64
    int in_order = 0;
    for (;;) {
      std::string s = co_await ws.receive_str();
      if (s == "end") break;
      if (s == std::to_string(in_order) + std::string(1000, '.')) ++in_order;
    }
    co_await ws.send_str(std::to_string(in_order));
    co_await ws.receive();
    co_return ws;
  });
  asyncio::run(serve(app, [&](int port) { return flood_body(port, &count); }));
  CHECK(count == 300);
}

Task<void> headers_body(int port) {
  http::SessionOptions so{.auth = http::BasicAuth{"user", "pass"}, .headers = {{"X-Token", "t1"}}};
  http::ClientSession session(std::move(so));
  http::WSConnectOptions o{.headers = {{"X-Extra", "e"}}, .origin = "http://example.org"};
  auto c = session.ws_connect(url_of(port, "/hdr"), std::move(o));
  http::ClientWebSocketResponse ws = co_await std::move(c);
  co_await ws.close();
  // Redirected to another origin (localhost instead of 127.0.0.1): no credentials there.
  auto c2 = session.ws_connect(url_of(port, "/away"));
  http::ClientWebSocketResponse ws2 = co_await std::move(c2);
  co_await ws2.close();
  co_await session.close();
}

TEST_CASE("websocket: the handshake carries the session's headers and auth and Origin, no auth after a cross-origin redirect") {
  std::vector<std::string> seen;
  web::Application app;
  app.router().add_get("/hdr", [&](web::Request& req) -> Task<web::Response> {
    seen.push_back(req.headers().get("Authorization", "-") + " " + req.headers().get("X-Token", "-") + " " +
                   req.headers().get("X-Extra", "-") + " " + req.headers().get("Origin", "-") + " " +
                   req.headers().get("Host", "-").substr(0, 9));
    web::WebSocketResponse ws;
    co_await ws.prepare(req);
    co_await ws.receive();
    co_return ws;
  });
  app.router().add_get("/away", [](web::Request& req) -> Task<web::Response> {
    int port = req.transport().get_extra_info("sockname").second;
    throw web::HTTPFound("ws://localhost:" + std::to_string(port) + "/hdr");
  });
  asyncio::run(serve(app, [&](int port) { return headers_body(port); }));
  CHECK(seen == std::vector<std::string>{"Basic dXNlcjpwYXNz t1 e http://example.org 127.0.0.1",
                                         "- t1 - - localhost"});
}

TEST_CASE("websocket: autoping off shows PING and PONG, receive_json, TypeError texts as aiohttp's") {
  std::vector<std::string> log, client_log;
  web::Application app;
  app.router().add_get("/ws", [&](web::Request& req) -> Task<web::Response> {
    web::WebSocketResponse ws(web::WebSocketResponse::Options{.autoping = false});
    co_await ws.prepare(req);
    web::WSMessage ping = co_await ws.receive();
    log.push_back(web::to_string(ping.type) + std::string(":") + ping.data);
    nlohmann::json j = co_await ws.receive_json();
    log.push_back(j.dump());
    try {
      co_await ws.receive_bytes();
    } catch (const asyncio::TypeError& e) {
      log.push_back(e.what());
    }
    try {
      co_await ws.receive_str();
    } catch (const asyncio::TypeError& e) {
      log.push_back(e.what());
    }
    co_await ws.receive();
    co_return ws;
  });
  asyncio::run(serve(app, [&](int port) -> Task<void> {
    http::ClientSession session;
    http::WSConnectOptions o{.autoping = false};
    auto c = session.ws_connect(url_of(port), std::move(o));
    http::ClientWebSocketResponse ws = co_await std::move(c);
    co_await ws.ping(std::string("p"));
    web::WSMessage pong = co_await ws.receive();  // wslay answered the server's side
    client_log.push_back(web::to_string(pong.type) + std::string(":") + pong.data);
    nlohmann::json j = {{"k", "v"}};
    co_await ws.send_json(j);
    co_await ws.send_str(std::string("it's\n"));
    co_await ws.send_bytes(std::string("\x00\xff", 2));
    co_await ws.close();
    co_await session.close();
  }));
  // aiohttp (web_ws.py): "Received message 1:\"it's\\n\" is not bytes" — Python's repr picks
  // double quotes around a str with a single quote; ours always uses single ones, escaped.
  CHECK(client_log == std::vector<std::string>{"WSMsgType.PONG:p"});
  CHECK(log == std::vector<std::string>{"WSMsgType.PING:p", "{\"k\":\"v\"}",
                                        "Received message 1:'it\\'s\\n' is not bytes",
                                        "Received message 2:b'\\x00\\xff' is not WSMsgType.TEXT"});
}

Task<void> close_timeout_body(int port, std::vector<std::string>* log) {
  http::ClientSession session;
  http::WSConnectOptions o{.timeout = std::chrono::duration<double>(0.1)};
  auto c = session.ws_connect(url_of(port, "/mute"), std::move(o));
  http::ClientWebSocketResponse ws = co_await std::move(c);
  double t0 = asyncio::get_running_loop().time();
  bool closed = co_await ws.close();
  double took = asyncio::get_running_loop().time() - t0;
  // aiohttp: no close frame back within `timeout` → close() returns True, close_code 1006,
  // exception() a TimeoutError.
  log->push_back(closed ? "true" : "false");
  log->push_back("code:" + std::to_string(ws.close_code().value_or(-1)));
  try {
    if (ws.exception()) std::rethrow_exception(ws.exception());
  } catch (const asyncio::TimeoutError&) {
    log->push_back("TimeoutError");
  }
  log->push_back(took >= 0.09 && took < 0.5 ? "bounded" : "took " + std::to_string(took));
  co_await session.close();
}

TEST_CASE("websocket: the close handshake is bounded by the timeout option") {
  std::size_t fds = open_fd_count();
  std::vector<std::string> log;
  asyncio::run([&]() -> Task<void> {
    auto s = asyncio::start_server(mute_server, "127.0.0.1", 0);
    asyncio::Server server = co_await std::move(s);
    auto t = close_timeout_body(server.port(), &log);
    co_await std::move(t);
    server.close();
  }());
  CHECK(log == std::vector<std::string>{"true", "code:1006", "TimeoutError", "bounded"});
  CHECK(open_fd_count() == fds);
}
