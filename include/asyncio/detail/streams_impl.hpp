// Bodies of streams.hpp: reader/writer coroutines, connecting, the server's accept loop.
#pragma once

#include <cctype>
#include <cstddef>

// (No #include of streams.hpp: this is its second half, included at its end only.)

namespace asyncio {

// ------------------------------------------------------------------------------ frame-free awaitables
namespace detail {

/// readexactly(n): no coroutine frame. await_ready takes the bytes when the buffer (or one read
/// while the socket is readable) has them. Otherwise the awaiter parks in the stream's reader
/// slot; each readable edge reads right there in the loop's event dispatch (as Python's
/// protocol reads in _read_ready), and the task is woken once, when n bytes, EOF or an error
/// are in: the same single hop as the coroutine it replaces, and no task step per fragment.
class ReadExactly final : public IoWait {
 public:
  ReadExactly(StreamRef s, long long n) noexcept
      : IoWait(s ? s->loop_ : nullptr, s ? &s->io_ : nullptr, false, &ReadExactly::on_readable),
        s_(std::move(s)),
        n_(n) {}
  ReadExactly(ReadExactly&& o) noexcept : ReadExactly(std::move(o.s_), o.n_) {}
  ~ReadExactly() { withdraw(); }  // while s_ still keeps the stream (and its handle) alive

  bool await_ready() {
    if (!s_) throw RuntimeError("stream handle is empty");
    if (n_ < 0) throw ValueError("readexactly size can not be less than zero");
    if (s_->error()) std::rethrow_exception(s_->error());
    return progress();
  }
  std::string await_resume() {
    if (task_) IoWait::await_resume();  // (it suspended: a cancellation is raised here)
    if (err_) std::rethrow_exception(std::exchange(err_, nullptr));
    ByteBuffer& b = s_->rbuf_;
    const auto want = static_cast<std::size_t>(n_);
    if (b.size() < want) {
      std::string partial = b.take(b.size());
      throw IncompleteReadError(std::move(partial), n_);
    }
    return b.take(want);
  }
  /// wait_for's leaf protocol: nothing to undo, what was read stays buffered.
  void abandon() noexcept {}
  /// Lets `Task<std::string> t = reader.readexactly(n)` and APIs taking a Task accept it.
  operator Task<std::string>() && { return await_as_task<std::string, ReadExactly>(std::move(*this)); }

 private:
  /// True once n bytes are buffered or EOF was seen (await_resume then raises); false on EAGAIN.
  bool progress() {
    StreamState* s = s_.get();
    const auto want = static_cast<std::size_t>(n_);
    while (s->rbuf_.size() < want) {
      if (s->eof_) return true;
      if (!s->fill(want - s->rbuf_.size())) return false;
    }
    return true;
  }
  static void on_readable(IoSlot* slot) noexcept {
    auto* self = static_cast<ReadExactly*>(slot);
    self->arrived();
    bool done = true;
    try {
      done = self->progress();
    } catch (...) {
      self->err_ = std::current_exception();  // the connection's error, raised by await_resume
    }
    if (done)
      self->task_->wake();
    else
      self->park();
  }

  StreamRef s_;
  long long n_;
  std::exception_ptr err_;
};

/// The whole of drain() as a coroutine: the path taken when drain() has to check or wait.
inline Task<void> drain_slow(StreamRef s) {
  if (!s) throw RuntimeError("stream handle is empty");
  if (s->error()) std::rethrow_exception(s->error());
  if (s->is_closing()) co_await sleep(0);
  if (s->closed()) {
    if (s->error()) std::rethrow_exception(s->error());
    if (s->is_closing() && s->closed()) throw ConnectionResetError("Connection lost");
  }
  auto w = s->drain_wait();
  co_await w;
  if (s->error()) std::rethrow_exception(s->error());
}

/// drain(): an open connection under its high-water mark completes in await_ready, without a
/// coroutine frame (Python's drain() does not suspend then either); anything else runs
/// drain_slow.
class Drain {
 public:
  explicit Drain(StreamRef s) noexcept : s_(std::move(s)) {}
  bool await_ready() {
    StreamState* s = s_.get();
    if (s && !s->error() && !s->is_closing() && !s->paused()) return true;
    slow_.emplace(drain_slow(std::move(s_)).release());
    return false;
  }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept { return slow_->await_suspend(h); }
  void await_resume() {
    if (slow_) slow_->await_resume();
  }
  /// Lets `Task<void> t = writer.drain()` and APIs taking a Task accept it.
  operator Task<void>() && { return drain_slow(std::move(s_)); }

 private:
  StreamRef s_;
  std::optional<Task<void>::Awaiter> slow_;
};

}  // namespace detail

// ------------------------------------------------------------------------------ StreamReader
inline Task<std::string> StreamReader::read(long long n) {
  detail::StreamRef s = s_;
  if (!s) throw RuntimeError("stream handle is empty");
  if (s->error()) std::rethrow_exception(s->error());  // Python checks the exception first
  if (n == 0) co_return std::string();
  if (n < 0) {
    // Until EOF.
    while (!s->eof_) {
      if (!s->fill(s->rbuf_.size() + detail::StreamState::kReadChunk)) {
        auto w = s->readable();
        co_await w;
      }
    }
    if (s->error()) std::rethrow_exception(s->error());
    co_return s->rbuf_.take(s->rbuf_.size());
  }
  while (s->rbuf_.empty() && !s->eof_) {
    if (!s->fill()) {
      auto w = s->readable();
      co_await w;
    }
  }
  if (s->rbuf_.empty() && s->error()) std::rethrow_exception(s->error());
  co_return s->rbuf_.take(static_cast<std::size_t>(n));
}

inline detail::ReadExactly StreamReader::readexactly(long long n) { return detail::ReadExactly(s_, n); }

inline Task<std::string> StreamReader::readuntil(std::string separator) {
  detail::StreamRef s = s_;
  if (!s) throw RuntimeError("stream handle is empty");
  std::size_t seplen = separator.size();
  if (seplen == 0) throw ValueError("Separator should be at least one-byte string");
  if (s->error()) std::rethrow_exception(s->error());
  std::size_t offset = 0, isep = 0;
  for (;;) {
    std::size_t buflen = s->rbuf_.size();
    if (buflen - std::min(buflen, offset) >= seplen) {
      std::size_t pos = s->rbuf_.view().find(separator, offset);
      if (pos != std::string_view::npos) {
        isep = pos;
        break;
      }
      offset = buflen + 1 - seplen;
      if (offset > s->limit_)
        throw LimitOverrunError("Separator is not found, and chunk exceed the limit", offset);
    }
    if (s->eof_) {
      std::string chunk = s->rbuf_.take(s->rbuf_.size());
      throw IncompleteReadError(std::move(chunk), -1);
    }
    if (!s->fill()) {
      auto w = s->readable();
      co_await w;
    }
  }
  if (isep > s->limit_) throw LimitOverrunError("Separator is found, but chunk is longer than limit", isep);
  co_return s->rbuf_.take(isep + seplen);
}

namespace detail {
/// readline's error handling outside a catch block (no co_await there; none needed here).
inline std::string readline_recover(StreamState* s, std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (IncompleteReadError& x) {
    return std::move(x.partial);
  } catch (const LimitOverrunError& x) {
    auto v = s->rbuf_.view();
    if (v.size() > x.consumed && v[x.consumed] == '\n')
      s->rbuf_.consume(x.consumed + 1);
    else
      s->rbuf_.clear();
    throw ValueError(x.what());
  }
}
}  // namespace detail

inline Task<std::string> StreamReader::readline() {
  detail::StreamRef s = s_;
  std::exception_ptr err;
  try {
    std::string line = co_await readuntil("\n");
    co_return line;
  } catch (const IncompleteReadError&) {
    err = std::current_exception();
  } catch (const LimitOverrunError&) {
    err = std::current_exception();
  }
  co_return detail::readline_recover(s.get(), err);
}

inline Task<std::optional<std::string>> StreamReader::anext() {
  std::string line = co_await readline();
  if (line.empty()) co_return std::nullopt;
  co_return std::optional<std::string>(std::move(line));
}

// ------------------------------------------------------------------------------ StreamWriter
inline detail::Drain StreamWriter::drain() { return detail::Drain(s_); }

inline Task<void> StreamWriter::wait_closed() {
  detail::StreamRef s = s_;
  if (!s) throw RuntimeError("stream handle is empty");
  auto w = s->closed_wait();
  co_await w;
}

// ------------------------------------------------------------------------------ connecting
namespace detail {

inline std::exception_ptr combine_errors(std::vector<std::exception_ptr>& errs) {
  if (errs.size() == 1) return errs[0];
  std::string first = describe_exception(errs[0]);
  bool same = true;
  std::string all;
  for (auto& e : errs) {
    std::string d = describe_exception(e);
    if (d != first) same = false;
    if (!all.empty()) all += ", ";
    all += d;
  }
  if (same) return errs[0];
  return std::make_exception_ptr(OSError(0, "Multiple exceptions: " + all));
}

inline Task<std::vector<Address>> resolve(std::string host, int port, int family, int flags) {
  Address a;
  if (numeric_address(host, port, family, a)) co_return std::vector<Address>{a};
  std::vector<Address> v = co_await to_thread(&getaddrinfo_blocking, host, port, family, flags);
  co_return v;
}

inline void set_nodelay(int fd, int family) noexcept {
  if (family == AF_INET || family == AF_INET6) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
}

/// Python's checks of a `sock=` argument: an open stream socket. Returns its family. Throws
/// (leaving the fd alone) otherwise.
inline int check_stream_socket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (fd < 0 || ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
    throw_os_error(fd < 0 ? EBADF : errno, "sock=" + std::to_string(fd));
  if (type != SOCK_STREAM)
    throw ValueError("A Stream Socket was expected, got fd " + std::to_string(fd) + " of socket type " +
                     std::to_string(type));
  int family = 0;
  len = sizeof family;
  ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len);
  if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
    throw ValueError("sock=" + std::to_string(fd) + ": an AF_INET, AF_INET6 or AF_UNIX socket was expected, got family " +
                     std::to_string(family));
  return family;
}
inline void set_nonblocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) throw_os_error(errno, "fcntl(O_NONBLOCK)");
}

/// A connected socket made elsewhere, taken over by a new stream (open_connection's sock=).
inline std::pair<StreamReader, StreamWriter> adopt_connected(int fd, std::size_t limit) {
  int family = check_stream_socket(fd);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0)
    throw_os_error(errno, "sock=" + std::to_string(fd) + " is not a connected socket");
  set_nonblocking(fd);
  set_nodelay(fd, family);
  auto* st = new StreamState(&get_running_loop(), fd, true, limit);  // (throws: fd still the caller's)
  return {StreamReader(st), StreamWriter(st)};
}

/// An IoHandle registered for the lifetime of this object.
struct IoRegistration {
  EventLoop* loop;
  IoHandle h;
  IoRegistration(EventLoop* l, int fd) : loop(l) {
    h.fd = fd;
    loop->io_register(&h);
  }
  IoRegistration(const IoRegistration&) = delete;
  ~IoRegistration() { loop->io_unregister(&h); }
};

/// Connect a non-blocking socket to `a`; returns the connected fd or throws Python's error.
inline Task<int> connect_one(Address a) {
  FdGuard fd(::socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_os_error(errno, "socket()");
  EventLoop& loop = get_running_loop();
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.len);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int err = errno;
    if (err != EINPROGRESS && err != EAGAIN) throw_os_error(err, "Connect call failed " + a.repr());
    IoRegistration reg(&loop, fd.get());
    for (;;) {
      IoWait w(&loop, &reg.h, true);
      co_await w;
      int soerr = 0;
      socklen_t len = sizeof soerr;
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soerr, &len);
      if (soerr == 0) break;
      if (soerr != EINPROGRESS && soerr != EAGAIN) throw_os_error(soerr, "Connect call failed " + a.repr());
    }
  }
  co_return fd.release();
}

inline Task<std::pair<StreamReader, StreamWriter>> connect_addresses(std::vector<Address> addrs, std::size_t limit,
                                                                      std::string what) {
  std::vector<std::exception_ptr> errs;
  for (auto& a : addrs) {
    std::exception_ptr e;
    int fd = -1;
    try {
      fd = co_await connect_one(a);
    } catch (const std::exception&) {
      e = std::current_exception();
    }
    if (e) {
      errs.push_back(e);
      continue;
    }
    FdGuard g(fd);
    set_nodelay(fd, a.family);
    auto* st = new StreamState(&get_running_loop(), fd, true, limit);
    g.release();
    co_return std::pair<StreamReader, StreamWriter>{StreamReader(st), StreamWriter(st)};
  }
  if (errs.empty()) throw OSError(0, "getaddrinfo() returned empty list for " + what);
  std::rethrow_exception(combine_errors(errs));
}

}  // namespace detail

// ------------------------------------------------------------------------------ TLS
namespace detail {

struct StreamAccess {
  static StreamState* of(const StreamReader& r) noexcept { return r.s_.get(); }
};

inline double tls_timeout(const std::optional<Seconds>& t, double dflt, const char* what) {
  if (!t) return dflt;
  double v = t->count();
  if (!(v > 0)) throw ValueError(std::string(what) + " should be a positive number, got " + std::to_string(v));
  return v;
}

/// Python's checks of open_connection's TLS arguments.
inline void check_tls_args(const ConnectOptions& o) {
  if (!o.ssl) {
    if (o.server_hostname) throw ValueError("server_hostname is only meaningful with ssl");
    if (o.ssl_handshake_timeout) throw ValueError("ssl_handshake_timeout is only meaningful with ssl");
    if (o.ssl_shutdown_timeout) throw ValueError("ssl_shutdown_timeout is only meaningful with ssl");
  }
}

inline Task<void> tls_handshake_loop(StreamRef s) {
  while (!s->tls_handshake_step()) {
    auto w = s->readable();
    co_await w;
  }
}

/// Put `s` under TLS and run the handshake within `handshake_timeout` seconds. On failure the
/// connection is closed: at once on a timeout or a cancellation, after the alert otherwise.
inline Task<void> tls_upgrade(StreamRef s, std::shared_ptr<ssl::SSLContext> ctx, bool server_side,
                              std::string server_hostname, double handshake_timeout, double shutdown_timeout) {
  if (!ctx) throw ValueError("ssl: an SSLContext is needed");
  if (s->is_tls()) throw RuntimeError("start_tls(): the stream already uses TLS");
  if (s->closed() || s->is_closing()) throw ConnectionResetError("Connection lost");
  TlsLayerFactory make = tls_layer_factory.load(std::memory_order_acquire);
  if (!make) throw RuntimeError("TLS needs an ssl::SSLContext (asyncio/ssl.hpp)");
  std::unique_ptr<TlsLayer> layer = make(ctx, server_side, server_hostname);
  s->start_tls(std::move(layer), shutdown_timeout);
  bool timed_out = false;
  std::exception_ptr err;
  try {
    auto hs = tls_handshake_loop(s);
    auto w = wait_for(std::move(hs), handshake_timeout);
    co_await std::move(w);
  } catch (const TimeoutError&) {
    timed_out = true;
  } catch (...) {
    err = std::current_exception();
  }
  if (timed_out) {
    s->abort();
    throw TimeoutError("SSL handshake is taking longer than " + std::to_string(handshake_timeout) +
                       " seconds: aborting the connection");
  }
  if (err) {
    if (is_cancelled_error(err))
      s->abort();
    else
      s->close();  // (the alert, if queued, goes out first; bounded by the shutdown timeout)
    std::rethrow_exception(err);
  }
}

inline Task<std::pair<StreamReader, StreamWriter>> tls_client(std::pair<StreamReader, StreamWriter> rw,
                                                              std::shared_ptr<ssl::SSLContext> ctx,
                                                              std::string server_hostname, double hs, double sd) {
  StreamRef s(StreamAccess::of(rw.first));
  auto up = tls_upgrade(s, std::move(ctx), false, std::move(server_hostname), hs, sd);
  co_await std::move(up);
  co_return rw;
}

}  // namespace detail

inline Task<void> StreamWriter::start_tls(std::shared_ptr<ssl::SSLContext> sslcontext, StartTlsOptions opts) {
  detail::StreamRef s = s_;
  if (!s) throw RuntimeError("stream handle is empty");
  double hs = detail::tls_timeout(opts.ssl_handshake_timeout, 60.0, "ssl_handshake_timeout");
  double sd = detail::tls_timeout(opts.ssl_shutdown_timeout, 30.0, "ssl_shutdown_timeout");
  std::string name = s->server_side_ ? std::string() : opts.server_hostname.value_or(std::string());
  auto up = detail::tls_upgrade(s, std::move(sslcontext), s->server_side_, std::move(name), hs, sd);
  co_await std::move(up);
}

inline Task<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, int port, ConnectOptions opts) {
  if (opts.sock >= 0) throw ValueError("host/port and sock can not be specified at the same time");
  detail::check_tls_args(opts);
  double hs = detail::tls_timeout(opts.ssl_handshake_timeout, 60.0, "ssl_handshake_timeout");
  double sd = detail::tls_timeout(opts.ssl_shutdown_timeout, 30.0, "ssl_shutdown_timeout");
  std::vector<detail::Address> addrs = co_await detail::resolve(host, port, opts.family, 0);
  auto rw = co_await detail::connect_addresses(std::move(addrs), opts.limit, "'" + host + "'");
  if (opts.ssl) {
    std::string name = opts.server_hostname.value_or(host);
    auto t = detail::tls_client(std::move(rw), opts.ssl, std::move(name), hs, sd);
    auto tls = co_await std::move(t);
    co_return tls;
  }
  co_return rw;
}

namespace detail {
inline Task<std::pair<StreamReader, StreamWriter>> open_connection_sock(ConnectOptions opts) {
  check_tls_args(opts);
  double hs = tls_timeout(opts.ssl_handshake_timeout, 60.0, "ssl_handshake_timeout");
  double sd = tls_timeout(opts.ssl_shutdown_timeout, 30.0, "ssl_shutdown_timeout");
  if (opts.sock < 0) throw ValueError("host and port was not specified and no sock specified");
  if (opts.ssl && !opts.server_hostname) throw ValueError("You must set server_hostname when using ssl without a host");
  auto rw = adopt_connected(opts.sock, opts.limit);
  if (opts.ssl) {
    auto t = tls_client(std::move(rw), opts.ssl, *opts.server_hostname, hs, sd);
    auto tls = co_await std::move(t);
    co_return tls;
  }
  co_return rw;
}
}  // namespace detail

// (a plain function moving the options into the coroutine: see README, "GCC 12 and coroutines")
inline Task<std::pair<StreamReader, StreamWriter>> open_connection(ConnectOptions opts) {
  return detail::open_connection_sock(std::move(opts));
}

namespace detail {
inline Address unix_address(const std::string& path) {
  Address a;
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  if (path.size() >= sizeof un.sun_path) throw OSError(ENAMETOOLONG, OSError::format(ENAMETOOLONG, path));
  std::memcpy(un.sun_path, path.data(), path.size());
  std::memcpy(&a.addr, &un, sizeof un);
  a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  a.family = AF_UNIX;
  a.socktype = SOCK_STREAM;
  return a;
}
}  // namespace detail

inline Task<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path, ConnectOptions opts) {
  if (opts.sock >= 0) throw ValueError("path and sock can not be specified at the same time");
  detail::check_tls_args(opts);
  double hs = detail::tls_timeout(opts.ssl_handshake_timeout, 60.0, "ssl_handshake_timeout");
  double sd = detail::tls_timeout(opts.ssl_shutdown_timeout, 30.0, "ssl_shutdown_timeout");
  if (opts.ssl && !opts.server_hostname) throw ValueError("You must set server_hostname when using ssl without a host");
  std::vector<detail::Address> addrs{detail::unix_address(path)};
  auto rw = co_await detail::connect_addresses(std::move(addrs), opts.limit, "'" + path + "'");
  if (opts.ssl) {
    auto t = detail::tls_client(std::move(rw), opts.ssl, *opts.server_hostname, hs, sd);
    auto tls = co_await std::move(t);
    co_return tls;
  }
  co_return rw;
}

// ------------------------------------------------------------------------------ Server
namespace detail {

class ServerState;

/// One listening socket: its edge-triggered registration, its accept step (a Runnable in the
/// ready queue, like Python's _accept_connection callback) and its back-off timer.
struct Listener final : Runnable, IoSlot {
  struct Retry final : TimerNode {
    Listener* owner = nullptr;
  };
  ServerState* srv = nullptr;
  IoHandle io;
  Retry retry;
  int family = 0;
  std::pair<std::string, int> name;
};

class ServerState {
 public:
  ServerState(EventLoop* loop, std::shared_ptr<ClientConnectedCallback> cb, ServerOptions opts)
      : loop_(loop), cb_(std::move(cb)), opts_(std::move(opts)) {
    if (!opts_.ssl && opts_.ssl_handshake_timeout)
      throw ValueError("ssl_handshake_timeout is only meaningful with ssl");
    if (!opts_.ssl && opts_.ssl_shutdown_timeout) throw ValueError("ssl_shutdown_timeout is only meaningful with ssl");
    tls_handshake_timeout_ = tls_timeout(opts_.ssl_handshake_timeout, 60.0, "ssl_handshake_timeout");
    tls_shutdown_timeout_ = tls_timeout(opts_.ssl_shutdown_timeout, 30.0, "ssl_shutdown_timeout");
  }
  ServerState(const ServerState&) = delete;

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) {
      close();
      delete this;
    }
  }

  void add_listener(int fd, int family) {
    auto l = std::make_unique<Listener>();
    l->srv = this;
    l->io.fd = fd;
    l->family = family;
    l->name = sock_name(fd, false);
    l->run_ = &ServerState::accept_step;
    l->ready = &ServerState::listen_ready;
    l->retry.owner = l.get();
    l->retry.run_ = &ServerState::retry_fired;
    loop_->io_register(&l->io);
    listeners_.push_back(std::move(l));
  }
  void start() {
    serving_ = true;
    for (auto& l : listeners_) l->io.reader = l.get();
  }
  void close() noexcept {
    if (closed_) return;
    closed_ = true;
    serving_ = false;
    bool alive = find_loop(loop_id_) == loop_;
    for (auto& l : listeners_) {
      l->unlink();
      if (alive && l->retry.in_heap()) loop_->remove_timer(&l->retry);
      l->retry.unlink();  // a retry that already fired may sit in the ready queue
      l->io.reader = nullptr;
      if (alive) loop_->io_unregister(&l->io);
      ::close(l->io.fd);
    }
    wake_list(waiters_);
  }

  EventLoop* loop_;
  std::uint64_t loop_id_ = loop_->id();
  std::shared_ptr<ClientConnectedCallback> cb_;
  ServerOptions opts_;
  double tls_handshake_timeout_ = 60.0, tls_shutdown_timeout_ = 30.0;
  std::vector<std::unique_ptr<Listener>> listeners_;
  List waiters_;  // serve_forever / wait_closed
  std::uint32_t refs_ = 0;
  bool serving_ = false;
  bool closed_ = false;
  bool serving_forever_ = false;

 private:
  static void listen_ready(IoSlot* s) noexcept {
    auto* l = static_cast<Listener*>(s);
    if (!l->linked()) l->srv->loop_->push_ready(l);
  }
  static void retry_fired(Runnable* r, bool discard) {
    if (discard) return;
    auto* l = static_cast<Listener::Retry*>(static_cast<TimerNode*>(r))->owner;
    accept_step(l, false);
  }
  static void accept_step(Runnable* r, bool discard) {
    if (discard) return;
    auto* l = static_cast<Listener*>(r);
    ServerState* srv = l->srv;
    if (srv->closed_) return;
    EventLoop* loop = srv->loop_;
    for (int i = 0; i < std::max(1, srv->opts_.backlog); ++i) {
      int fd = ::accept4(l->io.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        int err = errno;
        if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          l->io.reader = l;  // wait for the next edge
          return;
        }
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
          // Python: log, stop accepting on this socket, retry after ACCEPT_RETRY_DELAY (1 s).
          loop->call_exception_handler({"socket.accept() out of system resource", os_error(err, "accept"), {}});
          if (!l->retry.in_heap() && !l->retry.linked()) loop->add_timer(&l->retry, loop->time() + 1.0);
          return;
        }
        loop->call_exception_handler({"Error on accepting a connection", os_error(err, "accept"), {}});
        l->io.reader = l;
        return;
      }
      srv->connection_made(fd, l->family);
    }
    // Backlog's worth accepted in one step: let other callbacks run, then continue.
    loop->push_ready(l);
  }
  void connection_made(int fd, int family) {
    set_nodelay(fd, family);
    StreamState* st = nullptr;
    try {
      st = new StreamState(loop_, fd, true, opts_.limit);
    } catch (...) {
      ::close(fd);
      loop_->call_exception_handler({"Error setting up an accepted connection", std::current_exception(), {}});
      return;
    }
    st->server_side_ = true;
    StreamReader r(st);
    StreamWriter w(st);
    loop_->create_task(client_connected(cb_, std::move(r), std::move(w), opts_.ssl, tls_handshake_timeout_,
                                        tls_shutdown_timeout_));
  }
  static Task<void> client_connected(std::shared_ptr<ClientConnectedCallback> cb, StreamReader r, StreamWriter w,
                                     std::shared_ptr<ssl::SSLContext> ssl, double hs, double sd) {
    StreamWriter keep = w;
    std::exception_ptr e;
    if (ssl) {
      // The handshake first: one that fails is this connection's end, not the server's.
      StreamRef s(StreamAccess::of(r));
      try {
        auto up = tls_upgrade(s, std::move(ssl), true, std::string(), hs, sd);
        co_await std::move(up);
      } catch (const std::exception&) {
        e = std::current_exception();
      }
      if (e) {
        EventLoop& loop = get_running_loop();
        if (loop.get_debug())
          loop.call_exception_handler({"SSL handshake failed on an accepted connection", e, {}});
        keep.abort();
        co_return;
      }
    }
    try {
      co_await (*cb)(std::move(r), std::move(w));
    } catch (const std::exception&) {
      e = std::current_exception();
    }
    if (e) {
      get_running_loop().call_exception_handler({"Unhandled exception in client_connected_cb", e,
                                                 current_task() ? current_task()->get_name() : std::string()});
      keep.close();
    }
  }
};

template <class F>
std::shared_ptr<ClientConnectedCallback> wrap_client_cb(F f) {
  using R = std::invoke_result_t<F&, StreamReader, StreamWriter>;
  if constexpr (is_task<R>::value) {
    static_assert(std::is_void_v<typename R::value_type>, "client_connected_cb must return Task<void>");
    return std::make_shared<ClientConnectedCallback>(std::move(f));
  } else {
    return std::make_shared<ClientConnectedCallback>(
        [f = std::move(f)](StreamReader r, StreamWriter w) mutable -> Task<void> {
          f(std::move(r), std::move(w));
          co_return;
        });
  }
}

inline int make_listener(const Address& a, const ServerOptions& o, bool multi) {
  FdGuard fd(::socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_os_error(errno, "socket()");
  int one = 1;
  if (a.family != AF_UNIX) {
    if (o.reuse_address) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (o.reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
      throw_os_error(errno, "setsockopt(SO_REUSEPORT)");
    if (a.family == AF_INET6 && multi) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.len) < 0) {
    int err = errno;
    std::string s = std::strerror(err);
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    throw OSError(err, "[Errno " + std::to_string(err) + "] error while attempting to bind on address " + a.repr() +
                           ": " + s);
  }
  if (::listen(fd.get(), o.backlog) < 0) throw_os_error(errno, "listen()");
  return fd.release();
}

inline Server make_server(EventLoop* loop, std::shared_ptr<ClientConnectedCallback> cb, const std::vector<Address>& addrs,
                          ServerOptions opts) {
  auto* st = new ServerState(loop, std::move(cb), opts);
  Server srv(st);  // closes the listeners made so far if a later one fails
  for (auto& a : addrs) {
    int fd = make_listener(a, opts, addrs.size() > 1);
    try {
      st->add_listener(fd, a.family);
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
  st->start();
  return srv;
}

/// A server on a socket made elsewhere (start_server's sock=). Nothing is taken over until
/// every check passed and the socket listens.
inline Server make_server_on(EventLoop* loop, std::shared_ptr<ClientConnectedCallback> cb, ServerOptions opts) {
  if (opts.sock < 0) throw ValueError("Neither host/port nor sock were specified");
  auto* st = new ServerState(loop, std::move(cb), opts);  // (checks the TLS options)
  Server srv(st);
  int fd = opts.sock;
  int family = check_stream_socket(fd);
  if (::listen(fd, opts.backlog) < 0) throw_os_error(errno, "listen() on sock=" + std::to_string(fd));
  set_nonblocking(fd);
  st->add_listener(fd, family);  // (throws before the listener is kept: fd still the caller's)
  st->start();
  return srv;
}

inline Task<Server> start_server_sock_impl(std::shared_ptr<ClientConnectedCallback> cb, ServerOptions opts) {
  co_return make_server_on(&get_running_loop(), std::move(cb), std::move(opts));
}

inline Task<Server> start_server_impl(std::shared_ptr<ClientConnectedCallback> cb, std::string host, int port,
                                      ServerOptions opts) {
  if (opts.sock >= 0) throw ValueError("host/port and sock can not be specified at the same time");
  std::vector<Address> addrs = co_await resolve(host, port, opts.family, AI_PASSIVE);
  // getaddrinfo may list an address twice (once per protocol); bind each once.
  std::vector<Address> uniq;
  for (auto& a : addrs) {
    bool dup = false;
    for (auto& u : uniq) dup = dup || (u.len == a.len && std::memcmp(&u.addr, &a.addr, a.len) == 0);
    if (!dup) uniq.push_back(a);
  }
  co_return make_server(&get_running_loop(), std::move(cb), uniq, opts);
}

inline Task<Server> start_unix_server_impl(std::shared_ptr<ClientConnectedCallback> cb, std::string path,
                                           ServerOptions opts) {
  if (opts.sock >= 0) throw ValueError("path and sock can not be specified at the same time");
  struct stat stt {};
  if (!path.empty() && path[0] != '\0' && ::stat(path.c_str(), &stt) == 0 && S_ISSOCK(stt.st_mode))
    ::unlink(path.c_str());
  std::vector<Address> addrs{unix_address(path)};
  co_return make_server(&get_running_loop(), std::move(cb), addrs, opts);
}

}  // namespace detail

template <class F>
Task<Server> start_server(F client_connected_cb, std::string host, int port, ServerOptions opts) {
  return detail::start_server_impl(detail::wrap_client_cb(std::move(client_connected_cb)), std::move(host), port, opts);
}
template <class F>
Task<Server> start_server(F client_connected_cb, ServerOptions opts) {
  return detail::start_server_sock_impl(detail::wrap_client_cb(std::move(client_connected_cb)), std::move(opts));
}
template <class F>
Task<Server> start_unix_server(F client_connected_cb, std::string path, ServerOptions opts) {
  return detail::start_unix_server_impl(detail::wrap_client_cb(std::move(client_connected_cb)), std::move(path), opts);
}

inline Server::Server(detail::ServerState* s) noexcept : s_(s) {
  if (s_) s_->add_ref();
}
inline Server::Server(const Server& o) noexcept : Server(o.s_) {}
inline Server::~Server() {
  if (s_) s_->release();
}
inline void Server::close() {
  if (s_) s_->close();
}
inline bool Server::is_serving() const { return s_ && s_->serving_; }
inline std::vector<ServerSocket> Server::sockets() const {
  std::vector<ServerSocket> v;
  if (!s_ || s_->closed_) return v;
  for (auto& l : s_->listeners_) v.push_back(ServerSocket{l->io.fd, l->family, l->name});
  return v;
}
inline int Server::port() const {
  if (!s_ || s_->listeners_.empty()) return 0;
  return s_->listeners_.front()->name.second;
}
inline EventLoop& Server::get_loop() const { return *s_->loop_; }

inline Task<void> Server::wait_closed() {
  Server keep = *this;
  if (!keep.s_) co_return;
  detail::ListWaitAwaiter w{&keep.s_->waiters_, keep.s_->closed_, "Server.wait_closed()"};
  co_await w;
}

inline Task<void> Server::serve_forever() {
  Server keep = *this;
  if (!keep.s_ || keep.s_->closed_) throw RuntimeError("server is closed");
  if (keep.s_->serving_forever_) throw RuntimeError("server is already being awaited on serve_forever()");
  keep.s_->serving_forever_ = true;
  bool cancelled = false;
  std::string msg;
  try {
    detail::ListWaitAwaiter w{&keep.s_->waiters_, false, "Server.serve_forever()"};
    co_await w;
  } catch (const CancelledError& e) {
    cancelled = true;
    msg = e.message();
  }
  keep.s_->serving_forever_ = false;
  keep.close();
  if (cancelled) throw CancelledError(msg);
  // close() was called elsewhere: Python cancels the serve_forever future.
  throw CancelledError();
}

}  // namespace asyncio
