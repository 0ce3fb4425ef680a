// 23_web_hello.cpp — a small web application, as aiohttp.web writes it.
//
//   from aiohttp import web
//
//   async def hello(request):
//       name = request.match_info["name"]
//       return web.Response(text=f"Hello, {name}!")
//
//   async def add(request):
//       data = await request.json()
//       return web.json_response({"sum": data["a"] + data["b"]})
//
//   @web.middleware
//   async def timing(request, handler):
//       start = loop.time()
//       response = await handler(request)
//       response.headers["X-Elapsed-Ms"] = ...
//       return response
//
//   app = web.Application(middlewares=[timing])
//   app.router.add_get("/hello/{name}", hello)
//   app.router.add_post("/add", add)
//   web.run_app(app, port=8080)
//
// Run it, then in another terminal:
//   curl http://127.0.0.1:8080/hello/world           → Hello, world!
//   curl -d '{"a": 1, "b": 2}' http://127.0.0.1:8080/add   → {"sum":3}
//   curl http://127.0.0.1:8080/nowhere               → 404: Not Found (aiohttp's text)
// Ctrl-C stops it gracefully: the requests in flight finish first (up to shutdown_timeout).
// Link the CMake target asyncio::web.
#include <asyncio/web.hpp>

#include <cstdio>
#include <cstdlib>

namespace web = asyncio::web;

// A handler takes the request by reference and returns a Response. `match_info()` holds what
// the route's {name} captured, already percent-decoded.
asyncio::Task<web::Response> hello(web::Request& request) {
  std::string name = request.match_info().at("name");
  co_return web::Response{.text = "Hello, " + name + "!"};
}

// The body is read when the handler asks for it: json() parses it (a malformed body is a 500, as
// in aiohttp). Throwing an HTTPException answers with its status: here 400 with our own text.
asyncio::Task<web::Response> add(web::Request& request) {
  nlohmann::json data = co_await request.json();
  if (!data.contains("a") || !data.contains("b")) throw web::HTTPBadRequest({.text = "need a and b"});
  co_return web::json_response({{"sum", data["a"].get<double>() + data["b"].get<double>()}});
}

// A middleware wraps every handler (aiohttp's @web.middleware): it gets the request and the next
// handler, and may change the response on the way out.
asyncio::Task<web::Response> timing(web::Request& request, web::Handler handler) {
  double start = asyncio::get_running_loop().time();
  web::Response response = co_await handler(request);
  double ms = (asyncio::get_running_loop().time() - start) * 1000.0;
  response.headers.add("X-Elapsed-Ms", std::to_string(ms));
  co_return response;
}

int main(int argc, char** argv) {
  web::Application app;  // aiohttp's defaults: client_max_size 1 MiB, keep-alive 75 s
  app.middlewares().push_back(timing);
  app.router().add_get("/hello/{name}", hello);
  app.router().add_post("/add", add);
  int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  // Blocks like aiohttp's run_app: prints "======== Running on http://127.0.0.1:8080 ========",
  // serves until Ctrl-C or SIGTERM, then shuts down gracefully.
  web::run_app(app, {.host = "127.0.0.1", .port = port});
}
