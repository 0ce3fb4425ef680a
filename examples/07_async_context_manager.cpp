// Tutorial "Async Await Python" — Async Context Manager.
//
//   async with AsyncDatabaseConnection() as db:     co_await asyncio::async_with(
//       ...                                             AsyncDatabaseConnection{},
//                                                       [&](AsyncDatabaseConnection& db) -> asyncio::Task<> { ... });
//
// __aenter__ / __aexit__ are aenter() / aexit(std::exception_ptr). async_with awaits aenter(),
// runs the block with its result, then always awaits aexit() (also when the block throws or the
// task is cancelled); aexit returning true would suppress the exception, as in Python.
#include <asyncio/asyncio.hpp>
#include <fmt/core.h>

#include <exception>
#include <string>
#include <vector>

// Python's repr of a list of strings: ['a', 'b'].
std::string repr_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "'" : ", '") + s + "'";
  return "[" + out + "]";
}

class AsyncDatabaseConnection {
 public:
  asyncio::Task<AsyncDatabaseConnection&> aenter() {
    fmt::print("Membuka koneksi database...\n");
    co_await asyncio::sleep(1);
    co_return *this;
  }

  // Python passes (exc_type, exc_val, exc_tb); C++ passes the exception (null when none).
  asyncio::Task<bool> aexit(std::exception_ptr) {
    fmt::print("Menutup koneksi database...\n");
    co_await asyncio::sleep(0.5);
    co_return false;  // Python's None: do not suppress an exception
  }

  asyncio::Task<std::vector<std::string>> query(std::string sql) {
    (void)sql;
    co_await asyncio::sleep(0.5);
    co_return std::vector<std::string>{"hasil1", "hasil2"};
  }
};

asyncio::Task<> main_() {
  co_await asyncio::async_with(AsyncDatabaseConnection{}, [&](AsyncDatabaseConnection& db) -> asyncio::Task<> {
    auto hasil = co_await db.query("SELECT * FROM users");
    fmt::print("Query result: {}\n", repr_list(hasil));
  });
}

int main() { asyncio::run(main_()); }
