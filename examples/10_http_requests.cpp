// 10_http_requests.cpp — "Contoh Praktis: Async HTTP Requests" (aiohttp), line for line.
//
//   async def fetch_url(session: aiohttp.ClientSession, url: str) -> dict:
//       async with session.get(url) as response:
//           return await response.json()
//
//   async def main():
//       urls = [
//           "https://api.github.com/users/python",
//           "https://api.github.com/users/django",
//           "https://api.github.com/users/fastapi",
//       ]
//       async with aiohttp.ClientSession() as session:
//           # Fetch semua URL secara bersamaan
//           tasks = [fetch_url(session, url) for url in urls]
//           results = await asyncio.gather(*tasks)
//           for result in results:
//               print(f"User: {result.get('login')}")
//
//   asyncio.run(main())
//
// With no arguments the tour runs offline: an embedded server on 127.0.0.1 (a few lines of
// web.hpp, aiohttp.web's C++ face) answers /users/<name> with JSON shaped like GitHub's, and the
// three URLs point at it. With URLs on the command line (e.g. the real https://api.github.com/users/python),
// it fetches those instead.
#include <asyncio/asyncio.hpp>
#include <asyncio/http.hpp>
#include <asyncio/web.hpp>


#include <cstdio>
#include <string>
#include <vector>

namespace http = asyncio::http;
namespace web = asyncio::web;

asyncio::Task<nlohmann::json> fetch_url(http::ClientSession& session, std::string url) {
  auto result = co_await asyncio::async_with(session.get(url), [](http::ClientResponse& response) -> asyncio::Task<nlohmann::json> {
    auto data = co_await response.json();
    co_return data;
  });
  co_return result;
}

// Python's f"{result.get('login')}": the string, or None when the key is missing.
std::string py_str(const nlohmann::json& result, const char* key) {
  if (!result.is_object() || !result.contains(key) || result[key].is_null()) return "None";
  const auto& v = result[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

asyncio::Task<> main_async(std::vector<std::string> urls) {
  co_await asyncio::async_with(http::ClientSession{}, [&](http::ClientSession& session) -> asyncio::Task<> {
    // Fetch semua URL secara bersamaan
    std::vector<asyncio::Task<nlohmann::json>> tasks;
    for (auto& url : urls) tasks.push_back(fetch_url(session, url));
    auto results = co_await asyncio::gather(std::move(tasks));
    for (auto& result : results) std::printf("User: %s\n", py_str(result, "login").c_str());
  });
}

// ------------------------------------------------------------------ the embedded "GitHub"

nlohmann::json github_user(const std::string& login) {
  unsigned id = 0;
  for (char c : login) id = (id * 31 + static_cast<unsigned char>(c)) % 100000000u;
  return {{"login", login},
          {"id", id},
          {"type", "Organization"},
          {"html_url", "https://github.com/" + login},
          {"url", "https://api.github.com/users/" + login},
          {"public_repos", static_cast<int>(login.size()) * 7}};
}

// The one route of the stand-in: GET /users/<name> answers that user's JSON (aiohttp.web's
// `web.json_response(...)`; the router answers 404 for any other path).
asyncio::Task<web::Response> github_user_route(web::Request& request) {
  co_return web::json_response(github_user(request.match_info().at("name")));
}

asyncio::Task<> tour(std::vector<std::string> urls) {
  if (!urls.empty()) {
    co_await main_async(urls);
    co_return;
  }
  // The stand-in for api.github.com, with web.hpp: an application, its route, a site on a
  // free port of 127.0.0.1 (aiohttp's AppRunner / TCPSite).
  web::Application app;
  app.router().add_get("/users/{name}", github_user_route);
  web::AppRunner runner(app);
  co_await runner.setup();
  web::TCPSite site(runner, "127.0.0.1", 0);
  co_await site.start();
  std::string base = "http://127.0.0.1:" + std::to_string(site.port());
  urls = {base + "/users/python", base + "/users/django", base + "/users/fastapi"};
  co_await main_async(urls);
  co_await runner.cleanup();
}

int main(int argc, char** argv) {
  std::vector<std::string> urls(argv + 1, argv + argc);
  asyncio::run(tour(std::move(urls)));
}
