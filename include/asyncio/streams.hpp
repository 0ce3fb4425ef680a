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
//
// TLS (Python's ssl=): give `.ssl` a context from <asyncio/ssl.hpp> (which a TLS program
// includes; this header only names the type), e.g. `{.ssl = asyncio::ssl::default_context()}`.
// The handshake completes before open_connection returns / before the server's callback runs.
#pragma once

#include <sys/stat.h>

#include <any>
#include <chrono>
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
#include "detail/tls_layer.hpp"
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
  /// TLS: a client context (ssl.hpp; `ssl::default_context()` is Python's ssl=True). Empty:
  /// plain TCP.
  std::shared_ptr<ssl::SSLContext> ssl = {};
  /// The name the certificate must match, sent as SNI (not for an IP address, which is
  /// checked against the certificate's IP SANs); default: `host` (required for
  /// open_unix_connection). "" sends none: a context with check_hostname() then refuses
  /// (ValueError), as Python's does. ValueError without `.ssl`. Build TLS options in a variable
  /// before the co_await under GCC 12 (README, "GCC 12 and coroutines").
  std::optional<std::string> server_hostname = std::nullopt;
  /// Handshake past this (default 60 s): TimeoutError, the socket closed. (Python raises
  /// ConnectionAbortedError there.) ValueError without `.ssl`.
  std::optional<Seconds> ssl_handshake_timeout = std::nullopt;
  /// close(): how long the close_notify may take to go out (default 30 s); then the socket
  /// is closed anyway. ValueError without `.ssl`.
  std::optional<Seconds> ssl_shutdown_timeout = std::nullopt;
  /// Python's sock=: a connected stream socket made elsewhere, used instead of connecting
  /// (`open_connection({.sock = fd})`; `family` is then ignored). It is made non-blocking and
  /// from then on belongs to the stream: closing the writer closes it, and so does a failed TLS
  /// handshake. Before that, a bad fd is refused and stays the caller's: OSError for one that is
  /// not an open socket (ENOTSOCK, EBADF) or not connected (ENOTCONN), ValueError for a
  /// non-stream socket, and for `sock` given together with host/port or a path.
  int sock = -1;
};

/// start_server / start_unix_server options.
struct ServerOptions {
  std::size_t limit = DEFAULT_LIMIT;
  int family = 0;              // AF_UNSPEC: every address the host resolves to
  int backlog = 100;           // listen() backlog, and connections accepted per loop iteration
  bool reuse_address = true;   // SO_REUSEADDR (Python's default on POSIX)
  bool reuse_port = false;     // SO_REUSEPORT: one loop per core can share a port
  /// TLS: a server context (ssl.hpp) with its certificate loaded. Each connection's handshake
  /// runs before the callback; one that fails or times out is closed quietly (reported to the
  /// exception handler in debug mode only, as Python's), and the server keeps serving.
  std::shared_ptr<ssl::SSLContext> ssl = {};
  std::optional<Seconds> ssl_handshake_timeout = std::nullopt;  // default 60 s
  std::optional<Seconds> ssl_shutdown_timeout = std::nullopt;   // default 30 s
  /// Python's sock=: a stream socket made elsewhere (TCP or Unix; bound, or even listening
  /// already) to serve on instead of binding one (`start_server(cb, {.sock = fd})`; `family`,
  /// `reuse_address`, `reuse_port` are then ignored). listen(backlog) is called on it, as
  /// Python's server does, and it is made non-blocking; from then on it belongs to the server,
  /// whose close() closes it. Before that, a bad fd is refused and stays the caller's: OSError
  /// for one that is not an open socket or cannot listen (a connected one: EINVAL), ValueError
  /// for a non-stream socket, and for `sock` given together with host/port or a path.
  int sock = -1;
};

/// StreamWriter::start_tls options (Python 3.11's keyword arguments).
struct StartTlsOptions {
  /// Client side: the name to check and send as SNI (a context that checks host names needs
  /// one: ValueError otherwise). Ignored on a server's connection.
  std::optional<std::string> server_hostname = std::nullopt;
  std::optional<Seconds> ssl_handshake_timeout = std::nullopt;  // default 60 s
  std::optional<Seconds> ssl_shutdown_timeout = std::nullopt;   // default 30 s
};

namespace detail {
class ReadExactly;
class Drain;
struct StreamAccess;
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
  friend struct detail::StreamAccess;
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
  /// Half-close: send EOF after the buffered data (sockets); closes a pipe. TLS has no
  /// half-close: NotImplementedError there, as in Python.
  void write_eof() { s_->write_eof(); }
  bool can_write_eof() const { return s_->family_ != 0 && !s_->is_tls(); }
  /// Close after the buffered data is sent. The reader side then sees EOF. TLS: our
  /// close_notify follows the data (we do not wait for the peer's, which TLS allows), bounded
  /// by ssl_shutdown_timeout.
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
  /// Any key, typed: std::nullopt where Python gives None (no such key, not TLS, no peer
  /// certificate); TypeError if the key holds another type. Keys and types:
  ///   "peername", "sockname"  std::pair<std::string, int>
  ///   "socket"                int (the fd)
  ///   "peercert"              ssl::PeerCert (Python's getpeercert() dict as a struct)
  ///   "cipher"                std::tuple<std::string, std::string, int> (name, protocol, bits)
  ///   "compression"           std::string (always nullopt: compression is off, as in Python)
  ///   "ssl_object"            ssl::SSLObject
  ///   "sslcontext"            std::shared_ptr<ssl::SSLContext>
  /// e.g. `auto cert = writer.get_extra_info<asyncio::ssl::PeerCert>("peercert");`
  template <class T>
  std::optional<T> get_extra_info(std::string_view name) const {
    std::any a = s_->extra_info(name);
    if (!a.has_value()) return std::nullopt;
    if (auto* p = std::any_cast<T>(&a)) return std::optional<T>(std::move(*p));
    throw TypeError("get_extra_info(\"" + std::string(name) + "\") holds another type than the one asked for");
  }
  /// Upgrade this connection to TLS in place (STARTTLS; Python 3.11's StreamWriter.start_tls):
  /// the reader and writer keep working, now over TLS. A client connection does the client's
  /// side, one accepted by start_server the server's. Errors as open_connection's; a failed
  /// handshake closes the connection. Write nothing while it runs.
  Task<void> start_tls(std::shared_ptr<ssl::SSLContext> sslcontext, StartTlsOptions opts);
  Task<void> start_tls(std::shared_ptr<ssl::SSLContext> sslcontext) {  // (an overload: see open_connection)
    return start_tls(std::move(sslcontext), StartTlsOptions{});
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
inline Task<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, int port, ConnectOptions opts);
/// Listen on host:port ("" = every interface; port 0 = an ephemeral port, see Server::port()).
template <class F>
Task<Server> start_server(F client_connected_cb, std::string host, int port, ServerOptions opts);
/// Unix-domain variants (a stale socket file at `path` is removed first, as Python does).
inline Task<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path, ConnectOptions opts);
template <class F>
Task<Server> start_unix_server(F client_connected_cb, std::string path, ServerOptions opts);
/// On a socket made elsewhere (Python's sock=): `open_connection({.sock = fd})` takes a connected
/// one, `start_server(cb, {.sock = fd})` one to listen on (see ConnectOptions::sock and
/// ServerOptions::sock). ValueError without `.sock`. TLS as above; open_connection then needs
/// `.server_hostname` (there is no host to default to), as Python's does.
inline Task<std::pair<StreamReader, StreamWriter>> open_connection(ConnectOptions opts);
template <class F>
Task<Server> start_server(F client_connected_cb, ServerOptions opts);

// Without options: overloads rather than `= {}` defaults. The options hold strings and a
// shared_ptr, and a defaulted braced argument would be a temporary of the caller's co_await
// statement, which GCC 12 destroys twice (README, "GCC 12 and coroutines").
inline Task<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, int port) {
  return open_connection(std::move(host), port, ConnectOptions{});
}
template <class F>
Task<Server> start_server(F client_connected_cb, std::string host, int port) {
  return start_server(std::move(client_connected_cb), std::move(host), port, ServerOptions{});
}
inline Task<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path) {
  return open_unix_connection(std::move(path), ConnectOptions{});
}
template <class F>
Task<Server> start_unix_server(F client_connected_cb, std::string path) {
  return start_unix_server(std::move(client_connected_cb), std::move(path), ServerOptions{});
}

}  // namespace asyncio

#include "detail/streams_impl.hpp"
