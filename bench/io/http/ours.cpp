// HTTP server (ours): web::Application + AppRunner + TCPSite, one GET route answering
// "Hello, World!" (text/plain), as aiohttp.web would write it.
//   ours [THREADS=1]
// Listens on 127.0.0.1 (ephemeral port), prints the port as the first stdout line, then serves
// until killed. THREADS > 1: that many threads, each running its own loop (asyncio::run) with its
// own Application/AppRunner/TCPSite bound to the SAME port with reuse_port (SO_REUSEPORT: the
// kernel spreads incoming connections over the listening sockets) — the "one loop per core"
// layout DESIGN §6 measures as "2 threads".
#include <asyncio/asyncio.hpp>
#include <asyncio/web.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench_common.hpp"

namespace web = asyncio::web;

static asyncio::Task<web::Response> hello(web::Request&) {
  co_return web::Response{.text = "Hello, World!"};
}

static std::atomic<int> g_port{0};

static asyncio::Task<> serve(int port, bool reuse_port, bool publish) {
  web::Application app;
  app.router().add_get("/", hello);
  web::AppRunner runner(app);
  co_await runner.setup();
  web::TCPSite::Options so{.reuse_port = reuse_port};
  web::TCPSite site(runner, "127.0.0.1", port, so);
  co_await site.start();
  if (publish) g_port = site.port();
  asyncio::Event forever;
  co_await forever.wait();
}

int main(int argc, char** argv) {
  const std::size_t threads = bench::arg_size(argc, argv, 1, 1);
  // The first loop binds the port; the others join it once it is known.
  std::vector<std::thread> ts;
  const bool reuse = threads > 1;
  ts.emplace_back([reuse] { asyncio::run(serve(0, reuse, true)); });
  while (g_port == 0) std::this_thread::yield();
  for (std::size_t i = 1; i < threads; ++i) ts.emplace_back([] { asyncio::run(serve(g_port, true, false)); });
  std::printf("%d\n", g_port.load());
  std::fflush(stdout);
  for (auto& t : ts) t.join();
}
