// libFuzzer target: the web server's request path. Each input is sent as it is, by a client on
// our own streams, to a web::Application served on 127.0.0.1 (routes that read the body as
// bytes, JSON and a form, a pattern route, a streamed answer), then the client half-closes and
// reads until the server closes. Whatever the bytes, the server answers HTTP (or nothing), never
// crashes, hangs or leaks (ASan, UBSan, LSan), and holds no connection after cleanup().
#include <asyncio/asyncio.hpp>
#include <asyncio/web.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace web = asyncio::web;

namespace {

asyncio::Task<web::Response> echo(web::Request& r) {
  std::string b = co_await r.read();
  co_return web::Response{.body = b, .headers = {{"X-Path", r.path()}}};
}
asyncio::Task<web::Response> json(web::Request& r) {
  nlohmann::json j = co_await r.json();  // a parse error is a 500, as in aiohttp
  co_return web::json_response(j);
}
asyncio::Task<web::Response> form(web::Request& r) {
  web::MultiDict f = co_await r.post();
  std::string out;
  for (auto& [k, v] : f) out += k + "=" + v + ";";
  for (auto& [k, v] : r.cookies()) out += k + ":" + v + ";";
  for (auto& v : r.query().getall("a")) out += v;
  co_return web::Response{.text = out};
}
asyncio::Task<web::Response> named(web::Request& r) {
  co_return web::Response{.text = r.match_info().at("name") + r.match_info().at("n")};
}
asyncio::Task<web::Response> streamed(web::Request& r) {
  web::StreamResponse s;
  co_await s.prepare(r);
  std::string b = co_await r.text();
  co_await s.write(b);
  co_await s.write_eof();
  co_return s;
}

asyncio::Task<std::string> exchange(int port, std::string data) {
  auto t = asyncio::open_connection("127.0.0.1", port);
  auto rw = co_await std::move(t);
  rw.second.write(data);
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
  web::Application app({.client_max_size = 4096});
  app.router().add_post("/echo", echo);
  app.router().add_post("/json", json);
  app.router().add_route("*", "/form", form);
  app.router().add_get("/n/{name}/{n:\\d+}", named);
  app.router().add_route("*", "/stream", streamed);
  web::AppRunner runner(app, {.keepalive_timeout = std::chrono::duration<double>(1.0), .max_line_size = 512,
                              .max_field_size = 512});
  co_await runner.setup();
  web::TCPSite site(runner, "127.0.0.1", 0);
  co_await site.start();
  auto t = exchange(site.port(), std::move(input));
  std::string reply = co_await std::move(t);
  if (!reply.empty() && reply.rfind("HTTP/1.", 0) != 0) std::abort();
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
