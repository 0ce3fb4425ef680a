// Tutorial "Async Await Python" — Semaphore untuk Rate Limiting.
//
// `async with semaphore:` is `co_await asyncio::async_with(semaphore, [&]() -> asyncio::Task<R> {...})`:
// acquire on entry, release on every exit path. Ten downloads of 2 s with at most three at once
// take 8 s. `gather(*tasks)` is gather(std::move(tasks)) on a vector of coroutines.
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

#include <string>
#include <vector>

asyncio::Task<std::string> download(asyncio::Semaphore& semaphore, std::string url) {
  co_return co_await asyncio::async_with(semaphore, [&]() -> asyncio::Task<std::string> {  // Hanya N request bersamaan
    fmt::print("Downloading {}...\n", url);
    co_await asyncio::sleep(2);
    fmt::print("Finished {}\n", url);
    co_return url;
  });
}

asyncio::Task<> main_() {
  // Maksimal 3 download bersamaan
  asyncio::Semaphore semaphore(3);

  std::vector<std::string> urls;
  for (int i = 0; i < 10; ++i) urls.push_back(fmt::format("file_{}.txt", i));
  std::vector<asyncio::Task<std::string>> tasks;
  for (const auto& url : urls) tasks.push_back(download(semaphore, url));

  co_await asyncio::gather(std::move(tasks));
}

int main() { asyncio::run(main_()); }
