// Our client: N small GETs over C concurrent workers sharing one ClientSession (limit_per_host = C).
#include <asyncio/http.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace http = asyncio::http;

asyncio::Task<> worker(http::ClientSession& s, std::string url, int n, std::size_t& bytes) {
  for (int i = 0; i < n; ++i) {
    auto r = co_await s.get(url);
    auto b = co_await r.read();
    bytes += b.size();
  }
}

asyncio::Task<std::size_t> bench(std::string url, int total, int conc) {
  http::ClientSession s({.limit = conc, .limit_per_host = conc});
  std::size_t bytes = 0;
  std::vector<asyncio::Task<>> ws;
  for (int i = 0; i < conc; ++i) ws.push_back(worker(s, url, total / conc, bytes));
  co_await asyncio::gather(std::move(ws));
  co_await s.close();
  co_return bytes;
}

int main(int argc, char** argv) {
  std::string url = argv[1];
  int total = std::atoi(argv[2]), conc = std::atoi(argv[3]);
  auto t0 = std::chrono::steady_clock::now();
  std::size_t bytes = asyncio::run(bench(url, total, conc));
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (bytes != std::size_t(total / conc * conc) * 27) return 1;
  std::printf("%.0f\n", (total / conc * conc) / dt);
}
