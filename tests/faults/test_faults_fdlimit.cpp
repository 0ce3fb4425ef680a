// Fault suite, fd exhaustion: RLIMIT_NOFILE lowered inside the test (this file is built without
// UBSan's vptr check, which needs a free fd of its own; see tests/CMakeLists.txt).
#include <asyncio/asyncio.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "catch.hpp"
#include "io_helpers.hpp"
#include "peers.hpp"

using namespace faults;

TEST_CASE("open_connection under fd exhaustion raises OSError (EMFILE) and leaks nothing") {
  RawListener l;
  std::size_t fds = open_fd_count();
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  std::string what;
  asyncio::run([&]() -> asyncio::Task<> {
    // Fill the table: lower the limit to what is open now (less a couple), so socket() fails.
    rlimit low = old;
    low.rlim_cur = open_fd_count() + 1;
    ::setrlimit(RLIMIT_NOFILE, &low);
    std::vector<int> hog;
    for (int fd; (fd = ::dup(0)) >= 0;) hog.push_back(fd);
    try {
      auto rw = co_await asyncio::open_connection("127.0.0.1", l.port);
      (void)rw;
    } catch (const asyncio::OSError& e) {
      what = e.what();
    }
    for (int fd : hog) ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &old);
    // And the loop still works afterwards.
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", l.port);
    w.close();
    co_await w.wait_closed();
  }());
  CHECK(what.find("Too many open files") != std::string::npos);
  ::setrlimit(RLIMIT_NOFILE, &old);
  int c = l.accept_one();  // the one connection that succeeded
  ::close(c);
  CHECK(open_fd_count() == fds);
}
