// libFuzzer target: the WebSocket engine on the server side (web::WebSocketResponse, wslay
// underneath). Each input is sent, after a valid handshake, as frame bytes by a raw client on our
// own streams to a WebSocket echo handler (max_msg_size 4096, so the 1009 path is reachable);
// the client half-closes and reads until the server closes. Whatever the bytes: the server
// answers the handshake with 101, everything after it parses as unmasked server frames, a close
// frame carries a code a server may send, nothing crashes, hangs or leaks (ASan, UBSan, LSan),
// and no connection is left after cleanup().
#include <asyncio/asyncio.hpp>
#include <asyncio/web.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace web = asyncio::web;

namespace {

asyncio::Task<web::Response> echo(web::Request& r) {
  web::WebSocketResponse ws({.max_msg_size = 4096, .autoping = false, .timeout = std::chrono::duration<double>(0.5)});
  co_await ws.prepare(r);
  for (;;) {
    web::WSMessage m = co_await ws.receive();
    if (m.type == web::WSMsgType::TEXT) {
      auto t = ws.send_str(std::move(m.data));
      co_await std::move(t);
    } else if (m.type == web::WSMsgType::BINARY) {
      auto t = ws.send_bytes(std::move(m.data));
      co_await std::move(t);
    } else if (m.type == web::WSMsgType::PING) {
      auto t = ws.pong(std::move(m.data));
      co_await std::move(t);
    } else if (m.type != web::WSMsgType::PONG) {
      break;
    }
  }
  co_return ws;
}

/// The server's bytes after the head must be whole unmasked frames (the last may be cut short
/// only if no close frame came before it), and a close frame's code one a server may send.
void check_frames(std::string_view s) {
  while (!s.empty()) {
    if (s.size() < 2) return;
    unsigned char b0 = static_cast<unsigned char>(s[0]), b1 = static_cast<unsigned char>(s[1]);
    if (b1 & 0x80) std::abort();           // a server never masks
    if (b0 & 0x70) std::abort();           // no RSV bits
    unsigned op = b0 & 0x0f;
    if (op != 1 && op != 2 && op != 8 && op != 9 && op != 10) std::abort();
    std::size_t len = b1 & 0x7f, off = 2;
    if (len == 126) {
      if (s.size() < 4) return;
      len = (static_cast<unsigned char>(s[2]) << 8) | static_cast<unsigned char>(s[3]);
      off = 4;
    } else if (len == 127) {
      if (s.size() < 10) return;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(s[2 + i]);
      off = 10;
    }
    if (s.size() - off < len) return;
    if (op == 8) {
      if (len == 1) std::abort();
      if (len >= 2) {
        int code = (static_cast<unsigned char>(s[off]) << 8) | static_cast<unsigned char>(s[off + 1]);
        if (code < 1000 || code == 1004 || code == 1005 || code == 1006 || (code > 1014 && code < 3000) || code > 4999)
          std::abort();
      }
    }
    s.remove_prefix(off + len);
  }
}

asyncio::Task<std::string> exchange(int port, std::string data) {
  auto t = asyncio::open_connection("127.0.0.1", port);
  auto rw = co_await std::move(t);
  std::string req = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  rw.second.write(req + data);
  rw.second.write_eof();
  std::string out;
  for (;;) {
    auto rt = asyncio::wait_for(rw.first.read(65536), 5.0);
    std::string chunk = co_await std::move(rt);  // TimeoutError: a hang, reported as a crash
    if (chunk.empty()) break;
    out += chunk;
  }
  rw.second.close();
  co_return out;
}

asyncio::Task<void> one(std::string input) {
  web::Application app;
  app.router().add_get("/ws", echo);
  web::AppRunner runner(app);
  co_await runner.setup();
  web::TCPSite site(runner, "127.0.0.1", 0);
  co_await site.start();
  auto t = exchange(site.port(), std::move(input));
  std::string reply = co_await std::move(t);
  if (reply.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) != 0) std::abort();
  auto end = reply.find("\r\n\r\n");
  if (end == std::string::npos) std::abort();
  check_frames(std::string_view(reply).substr(end + 4));
  co_await runner.cleanup();
  if (runner.connections() != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(bytes), size);
  asyncio::Runner runner;
  runner.get_loop().set_exception_handler([](asyncio::EventLoop&, const asyncio::ExceptionContext&) {});
  runner.run(one(std::move(input)));
  runner.close();
  return 0;
}
