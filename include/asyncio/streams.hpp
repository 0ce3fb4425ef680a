// asyncio/streams.hpp — TCP and Unix-domain streams (Python's streams.py).
//
//   auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", 8888);
//   writer.write("hello\n");
//   co_await writer.drain();
//   std::string line = co_await reader.readline();
//   writer.close();
//   co_await writer.wait_closed();
//
// Bytes are std::string. StreamReader / StreamWriter are cheap reference-counted handles to one
// connection (copy or move them freely); the connection is closed when close() is called or the
// last handle goes. Differences from Python, all invisible to a program that only uses the API:
// the reader pulls data from the socket when it needs it (no background reading), so at_eof()
// turns true once a read has seen the EOF; a server is closed when its last Server handle goes.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/reactor.hpp"
#include "detail/socket.hpp"
#include "events.hpp"
#include "exceptions.hpp"
#include "task.hpp"
#include "tasks.hpp"
#include "threads.hpp"

namespace asyncio {

/// Python's default stream buffer limit (64 KiB).
inline constexpr std::size_t DEFAULT_LIMIT = 64 * 1024;

/// open_connection / open_unix_connection options.
struct ConnectOptions {
  std::size_t limit = DEFAULT_LIMIT;  // readline/readuntil limit
  int family = 0;                     // AF_UNSPEC, AF_INET or AF_INET6
};

/// start_server / start_unix_server options.
struct ServerOptions {
  std::size_t limit = DEFAULT_LIMIT;
  int family = 0;              // AF_UNSPEC: every address the host resolves to
  int backlog = 100;           // listen() backlog, and connections accepted per loop iteration
  bool reuse_address = true;   // SO_REUSEADDR (Python's default on POSIX)
  bool reuse_port = false;     // SO_REUSEPORT: one loop per core can share a port
};

namespace detail {
class ReadExactly;
class Drain;
class StreamRef {
 public:
  StreamRef() noexcept = default;
  explicit StreamRef(StreamState* s) noexcept : s_(s) {
    if (s_) s_->add_ref();
  }
  StreamRef(const StreamRef& o) noexcept : StreamRef(o.s_) {}
  StreamRef(StreamRef&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  StreamRef& operator=(StreamRef o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~StreamRef() {
    if (s_) s_->release();
  }
  StreamState* get() const noexcept { return s_; }
  StreamState* operator->() const {
    if (!s_) throw RuntimeError("stream handle is empty (moved from or default-constructed)");
    return s_;
  }
  explicit operator bool() const noexcept { return s_ != nullptr; }

 private:
  StreamState* s_ = nullptr;
};
}  // namespace detail

/// Python's asyncio.StreamReader: reads from one connection. One task reads at a time.
class StreamReader {
 public:
  /// A reader on its own, fed by the program (Python's StreamReader(limit)): feed_data(),
  /// feed_eof() and set_exception() give it what a connection would. ValueError if limit is 0.
  /// It needs no loop until a read waits. (A moved-from reader is empty: using it is a
  /// RuntimeError.)
  explicit StreamReader(std::size_t limit = DEFAULT_LIMIT) : s_(new detail::StreamState(limit)) {}
  explicit StreamReader(detail::StreamState* s) noexcept : s_(s) {}

  /// Append bytes and wake the reader. RuntimeError after feed_eof() (Python asserts).
  void feed_data(std::string_view data) { s_->feed_data(data); }
  /// End of stream: pending and later reads see EOF once the buffer is drained.
  void feed_eof() { s_->feed_eof(); }
  /// Reads raise `e` from now on (the waiting one at once), buffered bytes or not, as Python's.
  void set_exception(std::exception_ptr e) { s_->set_exception(std::move(e)); }

  /// Up to `n` bytes as soon as any are available; n = -1 reads until EOF; "" at EOF.
  Task<std::string> read(long long n = -1);
  /// One line including '\n' (without it at EOF; "" at EOF). ValueError past the limit (the
  /// line is dropped, as in Python).
  Task<std::string> readline();
  /// Exactly `n` bytes; IncompleteReadError{partial, expected} if EOF comes first. The awaitable
  /// needs no coroutine frame: it completes at once when the bytes are buffered, else waits on
  /// the socket (converts to Task<std::string>; a leaf for wait_for).
  detail::ReadExactly readexactly(long long n);
  /// Bytes up to and including `separator`. LimitOverrunError{consumed} if it is not found
  /// within the limit (the data stays in the buffer); IncompleteReadError at EOF.
  Task<std::string> readuntil(std::string separator = "\n");
  /// True once EOF was seen and the buffer is empty.
  bool at_eof() const { return s_->eof_ && s_->rbuf_.empty(); }
  /// The connection error, if the connection was lost with one.
  std::exception_ptr exception() const { return s_->error(); }
  /// Async iteration over lines: `while (auto line = co_await reader.anext()) ...`.
  Task<std::optional<std::string>> anext();
  std::size_t limit() const { return s_->limit_; }
  /// Bytes buffered and not yet returned.
  std::size_t buffered() const { return s_->rbuf_.size(); }

 private:
  detail::StreamRef s_;
};

/// Python's asyncio.StreamWriter: writes to one connection.
class StreamWriter {
 public:
  StreamWriter() = default;
  explicit StreamWriter(detail::StreamState* s) noexcept : s_(s) {}

  /// Send `data`, or buffer what the socket does not take now; never blocks, never throws for
  /// a lost connection (drain() reports that). Writes after close() are dropped, as in Python.
  void write(std::string_view data) { s_->write(data); }
  template <class R>
  void writelines(const R& lines) {
    for (const auto& l : lines) s_->write(std::string_view(l));
  }
  /// Wait until the write buffer is under the low-water mark (16 KiB by default, after going
  /// over the 64 KiB high-water mark). Raises the connection's error if it was lost. Under the
  /// mark it completes without suspending and without a coroutine frame (converts to Task<void>).
  detail::Drain drain();
  /// Half-close: send EOF after the buffered data (sockets); closes a pipe.
  void write_eof() { s_->write_eof(); }
  bool can_write_eof() const { return s_->family_ != 0; }
  /// Close after the buffered data is sent. The reader side then sees EOF.
  void close() { s_->close(); }
  /// Wait until the connection is closed.
  Task<void> wait_closed();
  bool is_closing() const { return s_->is_closing(); }
  /// "peername" / "sockname" → {host, port} ({path, 0} for Unix sockets; {"", 0} if unknown).
  std::pair<std::string, int> get_extra_info(std::string_view name) const {
    if (name == "peername") return s_->peername_;
    if (name == "sockname") return s_->sockname_;
    return {"", 0};
  }
  /// Python's transport.set_write_buffer_limits(high, low).
  void set_write_buffer_limits(std::size_t high, std::size_t low) { s_->set_write_buffer_limits(high, low); }
  std::size_t write_buffer_size() const { return s_->write_buffer_size(); }
  /// Close at once, dropping buffered data (Python's transport.abort()).
  void abort() { s_->abort(); }
  /// The underlying file descriptor (-1 once closed).
  int fileno() const { return s_->io_.fd; }

 private:
  detail::StreamRef s_;
};

/// One listening socket of a Server.
struct ServerSocket {
  int fd = -1;
  int family = 0;
  std::pair<std::string, int> name;
  std::pair<std::string, int> getsockname() const { return name; }
  int fileno() const { return fd; }
};

namespace detail {
class ServerState;
}

/// Python's asyncio.Server, returned by start_server / start_unix_server already serving.
/// Copyable handle; the server is closed when the last handle goes. An async context manager
/// (aexit closes it and waits).
class Server {
 public:
  Server() = default;
  explicit Server(detail::ServerState* s) noexcept;
  Server(const Server& o) noexcept;
  Server(Server&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Server& operator=(Server o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~Server();

  /// Serve until cancelled (or until close() is called elsewhere, which, as in Python, ends it
  /// with CancelledError); closes the server on the way out.
  Task<void> serve_forever();
  /// Stop listening (existing connections stay open).
  void close();
  /// Wait until the server is closed (returns at once once closed, as 3.11's does).
  Task<void> wait_closed();
  bool is_serving() const;
  /// Start accepting again after close() is not possible; this is a no-op while serving.
  Task<void> start_serving() { co_return; }
  /// The listening sockets and the first one's port (for port 0: the one the kernel chose).
  std::vector<ServerSocket> sockets() const;
  int port() const;
  EventLoop& get_loop() const;

  Task<Server&> aenter() { co_return *this; }
  Task<bool> aexit(std::exception_ptr) {
    close();
    co_await wait_closed();
    co_return false;
  }

 private:
  detail::ServerState* s_ = nullptr;
};

/// The client callback of start_server: `Task<void>(StreamReader, StreamWriter)` (or a plain
/// function returning void). Each connection runs as its own task.
using ClientConnectedCallback = std::function<Task<void>(StreamReader, StreamWriter)>;

/// Connect to host:port (name resolution runs on the default executor unless the host is a
/// numeric address; it never blocks the loop). Tries every resolved address in turn;
/// ConnectionRefusedError etc. name the address ("Connect call failed ('127.0.0.1', 1)").
inline Task<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, int port, ConnectOptions opts = {});
/// Listen on host:port ("" = every interface; port 0 = an ephemeral port, see Server::port()).
template <class F>
Task<Server> start_server(F client_connected_cb, std::string host, int port, ServerOptions opts = {});
/// Unix-domain variants (a stale socket file at `path` is removed first, as Python does).
inline Task<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path, ConnectOptions opts = {});
template <class F>
Task<Server> start_unix_server(F client_connected_cb, std::string path, ServerOptions opts = {});

}  // namespace asyncio

#include "detail/streams_impl.hpp"
