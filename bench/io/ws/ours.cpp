// WebSocket echo server (ours): web::WebSocketResponse on web::Application/AppRunner/TCPSite,
// one loop, one thread — aiohttp's echo handler written with DESIGN §7's names:
//   web::WebSocketResponse ws; co_await ws.prepare(req);
//   msg = co_await ws.receive(); co_await ws.send_str(msg.data);
//   ours
// GET / upgrades and echoes TEXT with send_str (BINARY with send_bytes). Listens on 127.0.0.1
// (ephemeral port), prints the port as the first stdout line, serves until killed.
#include <asyncio/asyncio.hpp>
#include <asyncio/web.hpp>

#include <cstdio>

namespace web = asyncio::web;

static asyncio::Task<web::Response> echo(web::Request& req) {
  web::WebSocketResponse ws;
  co_await ws.prepare(req);
  for (;;) {
    web::WSMessage msg = co_await ws.receive();
    if (msg.type == web::WSMsgType::TEXT)
      co_await ws.send_str(msg.data);
    else if (msg.type == web::WSMsgType::BINARY)
      co_await ws.send_bytes(msg.data);
    else
      break;  // CLOSE / CLOSING / CLOSED / ERROR
  }
  co_return ws;
}

static asyncio::Task<> serve() {
  web::Application app;
  app.router().add_get("/", echo);
  web::AppRunner runner(app);
  co_await runner.setup();
  web::TCPSite site(runner, "127.0.0.1", 0);
  co_await site.start();
  std::printf("%d\n", site.port());
  std::fflush(stdout);
  asyncio::Event forever;
  co_await forever.wait();
}

int main() { asyncio::run(serve()); }
