// asyncio/files.hpp — files without blocking the loop, in aiofiles' shape (aiofiles.open):
// every operation runs on the loop's default executor, as aiofiles does, with to_thread()'s
// cancellation: cancelling a task waiting on one lets the call finish in its thread and drops
// the result. Operations on one File run one at a time, in the order they were started.
//
//   auto f = co_await asyncio::files::open("data.txt");          // "r" by default
//   std::string all = co_await f.read();
//   co_await asyncio::async_for(f, [&](std::string line) -> Task<> { ... co_return; });
//
// Differs from Python: text and binary modes both give bytes (a std::string, no decoding and no
// newline translation: UTF-8 in, UTF-8 out); sizes and offsets count bytes.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "exceptions.hpp"
#include "task.hpp"
#include "threads.hpp"

namespace asyncio::files {

class File;

namespace detail {

/// The FILE and its lock, shared with the executor jobs still running (a cancelled one keeps
/// it alive until it ends).
struct FileState {
  std::mutex mu;
  std::FILE* f = nullptr;
  std::string name, mode;
  ~FileState() {
    if (f) std::fclose(f);
  }
  [[noreturn]] void fail(int err) const { asyncio::detail::raise_file_error(err, "'" + name + "'"); }
  std::FILE* open_file() {
    if (!f) throw ValueError("I/O operation on closed file.");
    return f;
  }
};

/// Python's open() modes: r, w, a, x, each with + and b/t in any order.
inline std::string stdio_mode(const std::string& m) {
  char kind = 0;
  bool plus = false, b = false, t = false;
  for (char c : m) {
    if (c == 'r' || c == 'w' || c == 'a' || c == 'x') {
      if (kind) kind = '?';
      else kind = c;
    } else if (c == '+' && !plus) {
      plus = true;
    } else if (c == 'b' && !b) {
      b = true;
    } else if (c == 't' && !t) {
      t = true;
    } else {
      kind = '?';
    }
  }
  if (!kind || kind == '?' || (b && t)) throw ValueError("invalid mode: '" + m + "'");
  std::string s = kind == 'x' ? "wx" : std::string(1, kind);
  if (plus) s.insert(1, "+");
  return s + "e";  // O_CLOEXEC
}

Task<File> open_file(std::string path, std::string mode);

}  // namespace detail

/// An open file (aiofiles' AsyncBufferedIOBase / AsyncTextIOWrapper). Move-only; closing is
/// close(), `async with` (aexit closes) or, without either, the destructor (which closes it on
/// the calling thread).
class File {
 public:
  File() = default;

  /// Up to `n` bytes (all that is left when n < 0); "" at end of file.
  Task<std::string> read(long long n = -1) {
    auto st = state("read");
    auto job = to_thread([st, n] {
      std::lock_guard<std::mutex> g(st->mu);
      std::FILE* f = st->open_file();
      std::string out;
      char buf[65536];
      while (n < 0 || static_cast<long long>(out.size()) < n) {
        std::size_t want = sizeof buf;
        if (n >= 0) want = std::min<std::size_t>(want, static_cast<std::size_t>(n) - out.size());
        std::size_t k = std::fread(buf, 1, want, f);
        out.append(buf, k);
        if (k < want) {
          if (std::ferror(f)) st->fail(errno);
          break;
        }
      }
      return out;
    });
    co_return co_await std::move(job);
  }
  /// One line with its "\n" (the last one may lack it); "" at end of file.
  Task<std::string> readline() {
    auto st = state("readline");
    auto job = to_thread([st] { return read_line(*st); });
    co_return co_await std::move(job);
  }
  /// Writes `data` (copied at the call); returns the number of bytes written (all of them, or
  /// an OSError).
  Task<std::size_t> write(std::string_view data) { return write_impl(state("write"), std::string(data)); }
  Task<void> flush() {
    auto st = state("flush");
    auto job = to_thread([st] {
      std::lock_guard<std::mutex> g(st->mu);
      if (std::fflush(st->open_file()) != 0) st->fail(errno);
    });
    co_await std::move(job);
  }
  /// Python's seek(offset, whence = SEEK_SET | SEEK_CUR | SEEK_END): the new position.
  Task<long long> seek(long long offset, int whence = SEEK_SET) {
    auto st = state("seek");
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
      throw ValueError("invalid whence (" + std::to_string(whence) + ", should be 0, 1 or 2)");
    if (whence == SEEK_SET && offset < 0) throw ValueError("negative seek position " + std::to_string(offset));
    auto job = to_thread([st, offset, whence] {
      std::lock_guard<std::mutex> g(st->mu);
      std::FILE* f = st->open_file();
      if (::fseeko(f, static_cast<off_t>(offset), whence) != 0) st->fail(errno);
      return static_cast<long long>(::ftello(f));
    });
    co_return co_await std::move(job);
  }
  Task<long long> tell() {
    auto st = state("tell");
    auto job = to_thread([st] {
      std::lock_guard<std::mutex> g(st->mu);
      off_t at = ::ftello(st->open_file());
      if (at < 0) st->fail(errno);
      return static_cast<long long>(at);
    });
    co_return co_await std::move(job);
  }
  /// Flushes and closes; a second close() does nothing (as Python's).
  Task<void> close() {
    if (!st_) co_return;
    auto st = st_;
    auto job = to_thread([st] {
      std::lock_guard<std::mutex> g(st->mu);
      if (!st->f) return;
      int rc = std::fclose(st->f);
      st->f = nullptr;
      if (rc != 0) st->fail(errno);
    });
    co_await std::move(job);
  }
  bool closed() const {
    if (!st_) return true;
    std::lock_guard<std::mutex> g(st_->mu);
    return st_->f == nullptr;
  }
  const std::string& name() const { return st_ ? st_->name : empty(); }
  const std::string& mode() const { return st_ ? st_->mode : empty(); }

  // `async with` (aexit closes, never suppresses) and `async for` (lines, as Python's file).
  struct Ready {
    File* f;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    File& await_resume() const noexcept { return *f; }
  };
  Ready aenter() noexcept { return Ready{this}; }
  Task<bool> aexit(std::exception_ptr) {
    co_await close();
    co_return false;
  }
  Task<std::optional<std::string>> anext() {
    auto st = state("readline");
    auto job = to_thread([st]() -> std::optional<std::string> {
      std::string line = read_line(*st);
      if (line.empty()) return std::nullopt;
      return line;
    });
    co_return co_await std::move(job);
  }

 private:
  friend Task<File> detail::open_file(std::string path, std::string mode);
  // (A coroutine taking the string by value, called from a plain function: a caller writing
  // `co_await f.write("text")` makes no std::string temporary inside its co_await expression,
  // which GCC 12 would destroy twice; see the README's "GCC 12 and coroutines".)
  static Task<std::size_t> write_impl(std::shared_ptr<detail::FileState> st, std::string data) {
    auto job = to_thread([st, data = std::move(data)] {
      std::lock_guard<std::mutex> g(st->mu);
      std::FILE* f = st->open_file();
      if (std::fwrite(data.data(), 1, data.size(), f) != data.size()) st->fail(errno);
      return data.size();
    });
    co_return co_await std::move(job);
  }
  explicit File(std::shared_ptr<detail::FileState> st) : st_(std::move(st)) {}
  static const std::string& empty() {
    static const std::string e;
    return e;
  }
  std::shared_ptr<detail::FileState> state(const char*) const {
    if (!st_) throw ValueError("I/O operation on closed file.");
    return st_;
  }
  static std::string read_line(detail::FileState& st) {
    std::lock_guard<std::mutex> g(st.mu);
    std::FILE* f = st.open_file();
    std::string out;
    for (int c; (c = std::getc(f)) != EOF;) {
      out.push_back(static_cast<char>(c));
      if (c == '\n') break;
    }
    if (std::ferror(f)) st.fail(errno);
    return out;
  }
  std::shared_ptr<detail::FileState> st_;
};

inline Task<File> detail::open_file(std::string path, std::string mode) {
  std::string how = detail::stdio_mode(mode);
  auto st = std::make_shared<detail::FileState>();
  st->name = path;
  st->mode = mode;
  auto job = to_thread([st, how] {
    std::FILE* f = std::fopen(st->name.c_str(), how.c_str());
    if (!f) st->fail(errno);
    if (how[0] == 'r' || how[0] == 'a') {  // a directory opens for reading with fopen: refuse it as Python does
      struct stat sb {};
      if (::fstat(::fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        std::fclose(f);
        st->fail(EISDIR);
      }
    }
    std::lock_guard<std::mutex> g(st->mu);
    st->f = f;
  });
  co_await std::move(job);
  co_return File(std::move(st));
}

/// aiofiles.open(path, mode = "r"): opens on the executor. ValueError for a bad mode; an
/// OSError subclass as Python's for the rest (FileNotFoundError, PermissionError,
/// IsADirectoryError, FileExistsError for "x"), "[Errno 2] No such file or directory: 'path'".
/// (Takes string_views, copied at the call, so `co_await open("a.txt")` is safe on GCC 12.)
inline Task<File> open(std::string_view path, std::string_view mode = "r") {
  return detail::open_file(std::string(path), std::string(mode));
}

}  // namespace asyncio::files
