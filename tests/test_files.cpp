// files.hpp: aiofiles' open/read/readline/write/seek/tell/close, async with, async for, and
// Python's errors for open(). Expected values are what Python 3.11's open() gives for the same
// calls (aiofiles forwards to it).
#include <asyncio/asyncio.hpp>
#include <asyncio/files.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "catch.hpp"

namespace files = asyncio::files;
using asyncio::Task;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/asyncio_files_XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  REQUIRE(d);
  return d;
}
int open_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

Task<> roundtrip(std::string path) {
  auto w = co_await files::open(path, "w");
  std::size_t n = co_await w.write("one\ntwo\n");
  CHECK(n == 8);
  std::size_t m = co_await w.write("three");
  CHECK(m == 5);
  co_await w.close();
  CHECK(w.closed());
  co_await w.close();  // a second close does nothing

  auto r = co_await files::open(path);
  CHECK(r.mode() == "r");
  CHECK(r.name() == path);
  std::string l1 = co_await r.readline();
  std::string l2 = co_await r.readline();
  std::string l3 = co_await r.readline();
  std::string l4 = co_await r.readline();
  CHECK(l1 == "one\n");
  CHECK(l2 == "two\n");
  CHECK(l3 == "three");
  CHECK(l4.empty());
  long long at = co_await r.tell();
  CHECK(at == 13);
  long long back = co_await r.seek(4);
  CHECK(back == 4);
  std::string two = co_await r.read(3);
  CHECK(two == "two");
  long long end = co_await r.seek(-2, SEEK_END);
  CHECK(end == 11);
  std::string rest = co_await r.read();
  CHECK(rest == "ee");
  std::string none = co_await r.read();
  CHECK(none.empty());
  co_await r.close();

  auto a = co_await files::open(path, "a");
  co_await a.write("\nfour\n");
  co_await a.flush();
  co_await a.close();
  std::vector<std::string> lines;
  auto f = co_await files::open(path, "rb");
  co_await asyncio::async_for(f, [&](std::string line) -> Task<> {
    lines.push_back(line);
    co_return;
  });
  co_await f.close();
  CHECK(lines == std::vector<std::string>{"one\n", "two\n", "three\n", "four\n"});
}

Task<> errors(std::string dir) {
  std::string missing = dir + "/missing.txt";
  std::string what;
  try {
    auto f = co_await files::open(missing);
  } catch (const asyncio::FileNotFoundError& e) {
    what = e.what();
  }
  CHECK(what == "[Errno 2] No such file or directory: '" + missing + "'");
  bool is_dir = false;
  try {
    auto f = co_await files::open(dir);
  } catch (const asyncio::IsADirectoryError& e) {
    is_dir = std::string(e.what()) == "[Errno 21] Is a directory: '" + dir + "'";
  }
  CHECK(is_dir);
  std::string existing = dir + "/x.txt";
  auto w = co_await files::open(existing, "x");
  co_await w.close();
  bool exists = false;
  try {
    auto again = co_await files::open(existing, "x");
  } catch (const asyncio::FileExistsError& e) {
    exists = e.errno_ == EEXIST;
  }
  CHECK(exists);
  for (std::string bad : {"q", "rw", "rbt", "", "r++"}) {
    bool refused = false;
    try {
      auto f = co_await files::open(existing, bad);
    } catch (const asyncio::ValueError& e) {
      refused = std::string(e.what()) == "invalid mode: '" + bad + "'";
    }
    CHECK(refused);
  }
  auto r = co_await files::open(existing, "r");
  co_await r.close();
  bool closed_read = false;
  try {
    std::string s = co_await r.read();
  } catch (const asyncio::ValueError& e) {
    closed_read = std::string(e.what()) == "I/O operation on closed file.";
  }
  CHECK(closed_read);
  bool write_to_read_only = false;
  auto ro = co_await files::open(existing, "r");
  try {
    co_await ro.write("x");
    co_await ro.flush();
  } catch (const asyncio::OSError& e) {
    write_to_read_only = e.errno_ == EBADF;
  }
  CHECK(write_to_read_only);
  co_await ro.close();
}

Task<> with_block(std::string path) {
  auto f = co_await files::open(path, "w+");
  co_await asyncio::async_with(f, [](files::File& g) -> Task<> {
    co_await g.write("abc");
    co_await g.seek(0);
    std::string s = co_await g.read();
    CHECK(s == "abc");
  });
  CHECK(f.closed());
}

// A read blocked in its thread (a FIFO with no data): the waiting task is cancelled by a timeout
// at once; the thread finishes when data comes, its result is dropped, and nothing leaks.
Task<> cancelled_read(std::string fifo) {
  auto f = co_await files::open(fifo, "r+");  // r+ on a FIFO: open does not wait for a writer
  bool timed_out = false;
  try {
    auto r = asyncio::wait_for(f.read(4), 0.05);
    std::string s = co_await std::move(r);
  } catch (const asyncio::TimeoutError&) {
    timed_out = true;
  }
  CHECK(timed_out);
  int w = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(w >= 0);
  CHECK(::write(w, "data", 4) == 4);
  ::close(w);
  // The next operation waits its turn behind the abandoned read, which got "data".
  co_await f.close();
}

}  // namespace

TEST_CASE("files: write, read, readline, seek, tell, append, async for over lines") {
  std::string dir = temp_dir();
  asyncio::run(roundtrip(dir + "/a.txt"));
  ::unlink((dir + "/a.txt").c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("files: Python's errors — FileNotFoundError, IsADirectoryError, FileExistsError, bad mode, closed file") {
  std::string dir = temp_dir();
  int before = open_fds();
  asyncio::run(errors(dir));
  CHECK(open_fds() == before);
  ::unlink((dir + "/x.txt").c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("files: async with closes the file") {
  std::string dir = temp_dir();
  asyncio::run(with_block(dir + "/w.txt"));
  ::unlink((dir + "/w.txt").c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("files: a task cancelled while its read blocks in a thread; the file closes, no fd leaks") {
  std::string dir = temp_dir();
  std::string fifo = dir + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  int before = open_fds();
  asyncio::run(cancelled_read(fifo));
  CHECK(open_fds() == before);
  ::unlink(fifo.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("files: a File dropped without close() closes in its destructor") {
  std::string dir = temp_dir();
  int before = open_fds();
  asyncio::run([](std::string p) -> Task<> {
    auto f = co_await files::open(p, "w");
    co_await f.write("x");
  }(dir + "/d.txt"));
  CHECK(open_fds() == before);
  ::unlink((dir + "/d.txt").c_str());
  ::rmdir(dir.c_str());
}
