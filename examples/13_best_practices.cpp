// Tutorial "Async Await Python" — Best Practices.
//
// Awaiting one coroutine after the other runs them one after the other (3 s); gather runs them
// concurrently (1 s). The tutorial calls both versions main(); here they are salah::main_() and
// benar::main_(). task_a/b/c are fillers (the tutorial does not define them): 1 s each.
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

#include <string>

asyncio::Task<std::string> task_a() {
  co_await asyncio::sleep(1);
  co_return "a";
}

asyncio::Task<std::string> task_b() {
  co_await asyncio::sleep(1);
  co_return "b";
}

asyncio::Task<std::string> task_c() {
  co_await asyncio::sleep(1);
  co_return "c";
}

// ❌ Salah - Sequential
namespace salah {
asyncio::Task<> main_() {
  [[maybe_unused]] auto a = co_await task_a();  // Tunggu
  [[maybe_unused]] auto b = co_await task_b();  // Tunggu
  [[maybe_unused]] auto c = co_await task_c();  // Tunggu
}
}  // namespace salah

// ✅ Benar - Parallel
namespace benar {
asyncio::Task<> main_() {
  [[maybe_unused]] auto [a, b, c] = co_await asyncio::gather(
      task_a(),
      task_b(),
      task_c());
}
}  // namespace benar

int main() {
  // time.perf_counter() that also counts virtual time under ASYNCIO_VIRTUAL_TIME=1
  double mulai = asyncio::testing::perf_counter();
  asyncio::run(salah::main_());
  fmt::print("Total waktu: {:.1f} detik (Salah - Sequential)\n", asyncio::testing::perf_counter() - mulai);

  mulai = asyncio::testing::perf_counter();
  asyncio::run(benar::main_());
  fmt::print("Total waktu: {:.1f} detik (Benar - Parallel)\n", asyncio::testing::perf_counter() - mulai);
}
