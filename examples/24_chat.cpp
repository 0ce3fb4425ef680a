// 24_chat.cpp — a chat room: a web page, WebSockets, and one bounded queue per client.
//
// The aiohttp version of the same program, for comparison:
//
//   async def ws_handler(request):
//       ws = web.WebSocketResponse(heartbeat=30)
//       await ws.prepare(request)
//       queue = asyncio.Queue(maxsize=64)             # this client's outbox
//       room.add(queue)
//       sender = asyncio.create_task(pump(queue, ws))  # outbox → socket
//       async for msg in ws:                           # socket → everybody's outbox
//           if msg.type == WSMsgType.TEXT:
//               broadcast(msg.data)
//       room.discard(queue); sender.cancel()
//       return ws
//
//   def broadcast(text):
//       for q in room:
//           try: q.put_nowait(text)
//           except asyncio.QueueFull: pass              # a slow client misses lines, the room goes on
//
// Why a queue per client: one client whose network (or browser tab) is slow must not stall the
// room. broadcast() never waits: it drops a line for a client whose outbox is full, and each
// client's own task (pump) waits for that client's socket alone.
//
// Run it and open http://127.0.0.1:8080/ in two browser tabs:
//   build/examples/24_chat [port]          (port 0: an ephemeral one, printed)
// (tests/examples/chat_browser.sh loads the page in a headless Chromium.)
// or `24_chat --demo`: serves on an ephemeral port, connects two clients of its own
// (http::ClientSession::ws_connect), has them talk, prints what each saw, and exits.
// Ctrl-C stops the server; every open WebSocket is closed with 1001 (Going Away) first.
// Link the CMake target asyncio::web (the demo's clients use asyncio::http too).
#include <asyncio/http.hpp>
#include <asyncio/web.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>

namespace web = asyncio::web;
namespace http = asyncio::http;
using asyncio::Task;

// The page: a text box, a log, and a WebSocket to /ws on the same host.
constexpr const char* kPage = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>chat</title></head>
<body>
<ul id="log"></ul>
<form id="f"><input id="msg" autocomplete="off" autofocus><button>send</button></form>
<script>
  const ws = new WebSocket(`ws://${location.host}/ws`);
  const log = document.getElementById("log");
  ws.onmessage = (e) => { const li = document.createElement("li"); li.textContent = e.data; log.append(li); };
  // http://host:port/#hello says "hello" on joining (the browser test uses it).
  if (location.hash.length > 1) ws.onopen = () => ws.send(decodeURIComponent(location.hash.slice(1)));
  document.getElementById("f").onsubmit = (e) => {
    e.preventDefault();
    const box = document.getElementById("msg");
    if (box.value) ws.send(box.value);
    box.value = "";
  };
</script>
</body></html>
)";

// The room: every connected client's outbox. A shared_ptr per queue, so a client leaving while
// a broadcast runs cannot pull a queue from under it.
using Outbox = asyncio::Queue<std::string>;
struct Room {
  std::set<std::shared_ptr<Outbox>> members;
  int next_id = 1;

  // Never waits: a full outbox (a client not keeping up) loses this line.
  void broadcast(const std::string& text) {
    for (auto& q : members) {
      try {
        q->put_nowait(text);
      } catch (const asyncio::QueueFull&) {
      }
    }
  }
};

Task<web::Response> page(web::Request&) {
  co_return web::Response{.text = kPage, .content_type = "text/html"};
}

// One task per client: its outbox to its socket. Only this task waits for this client.
Task<void> pump(std::shared_ptr<Outbox> outbox, web::WebSocketResponse* ws) {
  for (;;) {
    std::string line = co_await outbox->get();
    auto t = ws->send_str(std::move(line));
    co_await std::move(t);
  }
}

Task<web::Response> chat(web::Request& request, Room& room) {
  web::WebSocketResponse::Options options{.heartbeat = std::chrono::seconds(30)};
  web::WebSocketResponse ws(std::move(options));
  co_await ws.prepare(request);  // 400 for a request that is not a WebSocket handshake
  auto outbox = std::make_shared<Outbox>(64);
  std::string name = "user" + std::to_string(room.next_id++);
  room.members.insert(outbox);
  room.broadcast(name + " joined");
  auto sender = asyncio::create_task(pump(outbox, &ws));
  // `async for msg in ws`: until the client closes (or vanishes, or the server shuts down).
  co_await asyncio::async_for(ws, [&](web::WSMessage msg) -> Task<> {
    if (msg.type == web::WSMsgType::TEXT) room.broadcast(name + ": " + msg.data);
    co_return;
  });
  room.members.erase(outbox);
  sender.cancel();
  try {
    co_await sender;
  } catch (const asyncio::CancelledError&) {
  } catch (const std::exception&) {  // the socket went away under send_str
  }
  room.broadcast(name + " left");
  co_return ws;
}

// ------------------------------------------------------------------------------------ --demo

// A client that reads `n` lines and returns them.
Task<std::string> reader_client(std::string url, int n, std::string say) {
  http::ClientSession session;
  auto c = session.ws_connect(url);
  http::ClientWebSocketResponse ws = co_await std::move(c);
  std::string seen;
  for (int i = 0; i < n; ++i) {
    std::string line = co_await ws.receive_str();
    seen += "  " + line + "\n";
    // Speak after the second line: for user1 that is user2's join, for user2 user1's hello.
    if (i == 1) {
      auto t = ws.send_str(say);
      co_await std::move(t);
    }
  }
  co_await ws.close();
  co_await session.close();
  co_return seen;
}

Task<void> demo(web::Application& app) {
  web::AppRunner runner(app);
  co_await runner.setup();
  web::TCPSite site(runner, "127.0.0.1", 0);
  co_await site.start();
  std::string url = "ws://127.0.0.1:" + std::to_string(site.port()) + "/ws";
  // user1 joins, and speaks once user2 is in; user2 answers what user1 said. Each sees its own
  // join, the joins after it, and both lines.
  auto a = asyncio::create_task(reader_client(url, 4, "hello from user1"));
  co_await asyncio::sleep(0.05);
  auto b = asyncio::create_task(reader_client(url, 3, "hi user1, user2 here"));
  std::string seen_a = co_await a;
  std::string seen_b = co_await b;
  std::printf("user1 saw:\n%s", seen_a.c_str());
  std::printf("user2 saw:\n%s", seen_b.c_str());
  co_await runner.cleanup();
}

int main(int argc, char** argv) {
  Room room;
  web::Application app;
  app.router().add_get("/", page);
  app.router().add_get("/ws", [&room](web::Request& r) { return chat(r, room); });
  if (argc > 1 && std::string(argv[1]) == "--demo") {
    asyncio::run(demo(app));
    return 0;
  }
  int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  web::run_app(app, {.host = "127.0.0.1", .port = port});
}
