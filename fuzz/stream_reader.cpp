// libFuzzer target: StreamReader against a model of Python's StreamReader semantics.
//
// The input picks a stream limit, a byte string, how it is cut into chunks (written one chunk
// per loop iteration to the far end of a socketpair, then EOF) and a list of read calls. Every
// call's result is checked against what CPython's streams.py returns for the same bytes:
// read(n), read(-1), readexactly(n), readline() and readuntil(sep), with their errors
// (IncompleteReadError with its partial bytes, LimitOverrunError leaving the data in place,
// readline's ValueError consuming through the separator). Only outcomes that CPython itself
// leaves to timing (readline past the limit with no separator: "clear the buffer") end a run
// early. Any mismatch aborts; ASan/UBSan watch the memory.
#include <asyncio/asyncio.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct Input {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() { return n ? (--n, *p++) : 0; }
  bool empty() const { return n == 0; }
};

[[noreturn]] void model_mismatch(const char* what, const std::string& got, const std::string& want) {
  std::fprintf(stderr, "model mismatch in %s: got %zu bytes, want %zu\n", what, got.size(), want.size());
  std::abort();
}

struct Op {
  int kind;  // 0 read(n) 1 read(-1) 2 readexactly(n) 3 readline 4 readuntil(sep)
  long long n;
  std::string sep;
};

asyncio::Task<> feed(int fd, std::string data, std::vector<std::size_t> chunks) {
  std::size_t off = 0;
  for (std::size_t c : chunks) {
    if (off >= data.size()) break;
    c = std::min(c, data.size() - off);
    ssize_t k = ::write(fd, data.data() + off, c);  // the socketpair holds far more than we send
    if (k > 0) off += static_cast<std::size_t>(k);
    co_await asyncio::sleep(0);
  }
  if (off < data.size()) {
    ssize_t k = ::write(fd, data.data() + off, data.size() - off);
    (void)k;
  }
  ::close(fd);  // EOF
}

asyncio::Task<> check(asyncio::StreamReader r, const std::string& data, std::size_t limit, std::vector<Op> ops) {
  std::size_t pos = 0;
  const std::size_t L = data.size();
  for (const Op& op : ops) {
    const std::string rest = data.substr(pos);
    switch (op.kind) {
      case 0: {
        std::string got = co_await r.read(op.n);
        if (op.n == 0 || pos == L) {
          if (!got.empty()) model_mismatch("read(n) at EOF or n=0", got, "");
        } else if (got.empty() || got.size() > static_cast<std::size_t>(op.n) || got != rest.substr(0, got.size())) {
          model_mismatch("read(n)", got, rest.substr(0, static_cast<std::size_t>(op.n)));
        }
        pos += got.size();
        break;
      }
      case 1: {
        std::string got = co_await r.read(-1);
        if (got != rest) model_mismatch("read(-1)", got, rest);
        pos = L;
        break;
      }
      case 2: {
        const auto n = static_cast<std::size_t>(op.n);
        try {
          std::string got = co_await r.readexactly(op.n);
          if (n > rest.size() || got != rest.substr(0, n)) model_mismatch("readexactly", got, rest.substr(0, n));
          pos += n;
        } catch (const asyncio::IncompleteReadError& e) {
          if (n <= rest.size() || e.partial != rest || e.expected != op.n) model_mismatch("readexactly partial", e.partial, rest);
          pos = L;
        }
        break;
      }
      case 3: {
        std::size_t i = rest.find('\n');
        try {
          std::string got = co_await r.readline();
          std::string want = i == std::string::npos ? rest : rest.substr(0, i + 1);
          if (i != std::string::npos ? i > limit : rest.size() > limit) model_mismatch("readline past the limit", got, "ValueError");
          if (got != want) model_mismatch("readline", got, want);
          pos += got.size();
        } catch (const asyncio::ValueError&) {
          // Past the limit: CPython drops through the separator if it is buffered already, or
          // else whatever happened to be buffered — timing, so the run ends here.
          bool legit = i == std::string::npos ? rest.size() > limit : i > limit;
          if (!legit) model_mismatch("readline ValueError within the limit", "", rest);
          co_return;
        }
        break;
      }
      default: {
        const std::string& sep = op.sep;
        std::size_t i = rest.find(sep);
        try {
          std::string got = co_await r.readuntil(sep);
          if (i == std::string::npos || i > limit) model_mismatch("readuntil", got, "an error");
          if (got != rest.substr(0, i + sep.size())) model_mismatch("readuntil", got, rest.substr(0, i + sep.size()));
          pos += got.size();
        } catch (const asyncio::LimitOverrunError&) {
          bool expected = i != std::string::npos ? i > limit : rest.size() + 1 - sep.size() > limit;
          if (!expected) model_mismatch("readuntil LimitOverrunError", "", rest);
          // the data stays in the buffer: pos unchanged
        } catch (const asyncio::IncompleteReadError& e) {
          if (i != std::string::npos || e.partial != rest) model_mismatch("readuntil partial", e.partial, rest);
          pos = L;
        }
        break;
      }
    }
  }
  // Whatever was not read is still there, in order.
  std::string tail = co_await r.read(-1);
  if (tail != data.substr(pos)) model_mismatch("the rest", tail, data.substr(pos));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  Input in{bytes, size};
  const std::size_t limit = 1 + in.byte() % 64;
  std::size_t len = in.byte() % 200;
  std::string data;
  for (std::size_t i = 0; i < len && !in.empty(); ++i) {
    std::uint8_t b = in.byte();
    // A small alphabet, so separators turn up: '\n', 'a', 'b', ':' and a few others.
    static const char alpha[] = "\nab:xyz\n";
    data.push_back(b & 0x80 ? static_cast<char>(b) : alpha[b % 8]);
  }
  std::vector<std::size_t> chunks;
  for (std::size_t n = in.byte() % 16, i = 0; i < n; ++i) chunks.push_back(1 + in.byte() % 40);
  std::vector<Op> ops;
  static const char* seps[] = {"\n", "ab", "::", "xyz"};
  while (!in.empty() && ops.size() < 32) {
    std::uint8_t k = in.byte();
    std::uint8_t a = in.byte();
    Op op{k % 5, static_cast<long long>(a % 70), seps[a % 4]};
    ops.push_back(op);
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return 0;
  asyncio::run([](int rfd, int wfd, std::string data, std::size_t limit, std::vector<std::size_t> chunks,
                  std::vector<Op> ops) -> asyncio::Task<> {
    auto* st = new asyncio::detail::StreamState(&asyncio::get_running_loop(), rfd, true, limit);
    asyncio::StreamReader r(st);
    auto feeder = asyncio::create_task(feed(wfd, data, std::move(chunks)));
    co_await check(r, data, limit, std::move(ops));
    co_await feeder;
  }(sv[0], sv[1], std::move(data), limit, std::move(chunks), std::move(ops)));
  return 0;
}
