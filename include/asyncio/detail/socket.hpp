// Socket machinery for streams.hpp and subprocess.hpp: the byte buffer, address formatting,
// errno → Python exception mapping, non-blocking name resolution, and StreamState — the
// transport shared by one StreamReader / StreamWriter pair (Python's _SelectorSocketTransport
// plus StreamReaderProtocol, in pull style: the reader does recv() itself when its buffer lacks
// data, trying the syscall first and waiting on the edge-triggered registration only on EAGAIN).
// A TLS stream holds a TlsLayer (tls_layer.hpp): the same syscalls move ciphertext, the layer
// turns it into the plaintext of rbuf_ and the plaintext written into ciphertext for wbuf_.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loop_impl.hpp"
#include "../exceptions.hpp"
#include "core.hpp"
#include "reactor.hpp"
#include "tls_layer.hpp"

namespace asyncio::detail {

// ------------------------------------------------------------------------------ ByteBuffer
/// A contiguous byte queue: append at the end, consume from the front without moving bytes;
/// the unread part is moved down only when room is needed at the end.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return end_ == begin_; }
  const char* data() const noexcept { return data_.get() + begin_; }
  std::string_view view() const noexcept { return {data(), size()}; }
  /// Room for at least `n` more bytes at the end; returns where to write.
  char* prepare(std::size_t n) {
    if (cap_ - end_ >= n) return data_.get() + end_;
    std::size_t sz = size();
    if (cap_ >= sz + n && begin_ > 0) {
      std::memmove(data_.get(), data(), sz);
    } else {
      std::size_t nc = std::max<std::size_t>({cap_ * 2, sz + n, 4096});
      std::unique_ptr<char[]> nd(new char[nc]);
      if (sz) std::memcpy(nd.get(), data(), sz);
      data_ = std::move(nd);
      cap_ = nc;
    }
    begin_ = 0;
    end_ = sz;
    return data_.get() + end_;
  }
  std::size_t room() const noexcept { return cap_ - end_; }
  void commit(std::size_t n) noexcept { end_ += n; }
  void append(std::string_view s) {
    std::memcpy(prepare(s.size()), s.data(), s.size());
    end_ += s.size();
  }
  void consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ >= end_) begin_ = end_ = 0;
  }
  std::string take(std::size_t n) {
    n = std::min(n, size());
    std::string s(data(), n);
    consume(n);
    return s;
  }
  void clear() noexcept { begin_ = end_ = 0; }
  /// Free the storage (after a large transfer).
  void shrink() noexcept {
    if (empty() && cap_ > (1u << 20)) {
      data_.reset();
      cap_ = begin_ = end_ = 0;
    }
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t cap_ = 0, begin_ = 0, end_ = 0;
};

// ------------------------------------------------------------------------------ addresses
/// Python's repr of a socket address: "('127.0.0.1', 8888)", "('::1', 8888, 0, 0)", "'/path'".
inline std::pair<std::string, int> sockaddr_pair(const sockaddr* sa, socklen_t len) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    return {buf, ntohs(a->sin_port)};
  }
  if (sa->sa_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    return {buf, ntohs(a->sin6_port)};
  }
  if (sa->sa_family == AF_UNIX) {
    auto* a = reinterpret_cast<const sockaddr_un*>(sa);
    std::size_t off = offsetof(sockaddr_un, sun_path);
    if (len <= off) return {"", 0};
    std::string p(a->sun_path, strnlen(a->sun_path, len - off));
    return {p, 0};
  }
  return {"", 0};
}
inline std::string addr_repr(int family, const std::pair<std::string, int>& a) {
  if (family == AF_UNIX) return "'" + a.first + "'";
  return "('" + a.first + "', " + std::to_string(a.second) + ")";
}
inline std::pair<std::string, int> sock_name(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc < 0) return {"", 0};
  return sockaddr_pair(reinterpret_cast<sockaddr*>(&ss), len);
}

// ------------------------------------------------------------------------------ errors
/// The Python exception for an errno: ConnectionRefusedError, ConnectionResetError,
/// BrokenPipeError, ConnectionAbortedError, TimeoutError, else OSError. Message as Python's
/// "[Errno N] text: context".
inline std::exception_ptr os_error(int err, const std::string& context) {
  std::string msg = OSError::format(err, context);
  switch (err) {
    case ECONNREFUSED: return std::make_exception_ptr(ConnectionRefusedError(msg));
    case ECONNRESET: return std::make_exception_ptr(ConnectionResetError(msg));
    case EPIPE:
    case ESHUTDOWN: return std::make_exception_ptr(BrokenPipeError(msg));
    case ECONNABORTED: return std::make_exception_ptr(ConnectionAbortedError(msg));
    case ETIMEDOUT: return std::make_exception_ptr(TimeoutError(msg));
    default: return std::make_exception_ptr(OSError(err, msg));
  }
}
[[noreturn]] inline void throw_os_error(int err, const std::string& context) {
  std::rethrow_exception(os_error(err, context));
}

/// Closes an fd unless released (keeps a half-made connection from leaking on an exception or
/// a cancellation).
class FdGuard {
 public:
  explicit FdGuard(int fd = -1) noexcept : fd_(fd) {}
  FdGuard(FdGuard&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  FdGuard& operator=(FdGuard&& o) noexcept {
    reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~FdGuard() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// ------------------------------------------------------------------------------ resolution
struct Address {
  int family = 0, socktype = 0, protocol = 0;
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string repr() const {
    return addr_repr(family, sockaddr_pair(reinterpret_cast<const sockaddr*>(&addr), len));
  }
};

/// Python's _ipaddr_info: a numeric host needs no getaddrinfo (and no thread).
inline bool numeric_address(const std::string& host, int port, int family, Address& out) {
  if ((family == AF_UNSPEC || family == AF_INET)) {
    sockaddr_in a{};
    if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) == 1) {
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<std::uint16_t>(port));
      std::memcpy(&out.addr, &a, sizeof a);
      out.len = sizeof a;
      out.family = AF_INET;
      out.socktype = SOCK_STREAM;
      out.protocol = IPPROTO_TCP;
      return true;
    }
  }
  if ((family == AF_UNSPEC || family == AF_INET6) && host.find('%') == std::string::npos) {
    sockaddr_in6 a{};
    if (::inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) == 1) {
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(static_cast<std::uint16_t>(port));
      std::memcpy(&out.addr, &a, sizeof a);
      out.len = sizeof a;
      out.family = AF_INET6;
      out.socktype = SOCK_STREAM;
      out.protocol = IPPROTO_TCP;
      return true;
    }
  }
  return false;
}

/// Blocking getaddrinfo (run on the executor). Python's socket.gaierror becomes an OSError
/// whose errno is the EAI_ code and whose message names the host.
inline std::vector<Address> getaddrinfo_blocking(const std::string& host, int port, int family, int flags) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    std::string what = "[Errno " + std::to_string(rc) + "] " + ::gai_strerror(rc) + " (host '" + host +
                       "', port " + std::to_string(port) + ")";
    throw OSError(rc, what);
  }
  std::vector<Address> out;
  for (addrinfo* p = res; p; p = p->ai_next) {
    Address a;
    a.family = p->ai_family;
    a.socktype = p->ai_socktype;
    a.protocol = p->ai_protocol;
    std::memcpy(&a.addr, p->ai_addr, p->ai_addrlen);
    a.len = p->ai_addrlen;
    out.push_back(a);
  }
  ::freeaddrinfo(res);
  return out;
}

// ------------------------------------------------------------------------------ StreamState
/// The transport behind a StreamReader/StreamWriter pair. Loop thread only; reference counted
/// by the two handles (and by a background flush while unsent data remains).
class StreamState final : public Runnable {
 public:
  static constexpr std::size_t kReadChunk = 64 * 1024;

  StreamState(EventLoop* loop, int fd, bool is_socket, std::size_t limit)
      : loop_(loop), loop_id_(loop->id()), limit_(limit), is_socket_(is_socket) {
    if (limit == 0) throw ValueError("Limit cannot be <= 0");
    io_.fd = fd;
    flush_slot_.owner = this;
    flush_slot_.ready = &StreamState::flush_ready;
    run_ = &StreamState::flush_run;
    loop->io_register(&io_);  // throws: the caller still owns fd
    if (is_socket) {
      family_ = sock_family(fd);
      sockname_ = sock_name(fd, false);
      peername_ = sock_name(fd, true);
    }
  }
  /// A stream the program feeds (Python's StreamReader() on its own): no fd, no loop needed;
  /// feed_data / feed_eof / set_exception wake the reader.
  explicit StreamState(std::size_t limit)
      : loop_(tl_running_loop), loop_id_(tl_running_loop ? tl_running_loop->id() : 0), limit_(limit),
        is_socket_(false), fed_(true) {
    if (limit == 0) throw ValueError("Limit cannot be <= 0");
    io_.fd = -1;
    flush_slot_.owner = this;
    flush_slot_.ready = &StreamState::flush_ready;
    run_ = &StreamState::flush_run;
  }
  StreamState(const StreamState&) = delete;

  void add_ref() noexcept { ++refs_; }

  // ---------------------------------------------------------------- a fed stream
  void feed_data(std::string_view data) {
    if (eof_) throw RuntimeError("feed_data after feed_eof");
    if (data.empty()) return;
    rbuf_.append(data);
    wake_reader();
  }
  void feed_eof() noexcept {
    eof_ = true;
    wake_reader();
  }
  void set_exception(std::exception_ptr e) noexcept {
    rerr_ = std::move(e);
    wake_reader();
  }
  void release() noexcept {
    if (--refs_ == 0) {
      finalize(nullptr);
      delete this;
    }
  }

  // ---------------------------------------------------------------- reading
  /// One read syscall into the buffer. True: progress (data or EOF). False: EAGAIN.
  /// Throws the stored/new connection error.
  bool fill(std::size_t want = kReadChunk) {
    if (rerr_) std::rethrow_exception(rerr_);
    if (eof_) return true;
    if (closed_) {
      eof_ = true;
      return true;
    }
    if (fed_) return false;  // what feed_data gives is in the buffer already: wait for more
    if (tls_) return tls_fill();
    if (!io_.read_ready) return false;  // no readable edge since the last EAGAIN
    std::size_t n = std::max(want, kReadChunk);
    char* p = rbuf_.prepare(n);
    std::size_t room = rbuf_.room();
    for (;;) {
      ssize_t k = is_socket_ ? ::recv(io_.fd, p, room, 0) : ::read(io_.fd, p, room);
      if (k > 0) {
        rbuf_.commit(static_cast<std::size_t>(k));
        // A short read emptied the kernel buffer: anything arriving later raises a new edge,
        // so the next read can wait for it instead of failing with EAGAIN first.
        // (Not once the peer hung up: the FIN rode on the edge already seen, none will follow.)
        if (static_cast<std::size_t>(k) < room && !io_.hup) io_.read_ready = false;
        return true;
      }
      if (k == 0) {
        eof_ = true;
        return true;
      }
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        if (!io_.hup) io_.read_ready = false;
        return false;
      }
      fatal(err);
      std::rethrow_exception(rerr_);
    }
  }
  IoWait readable() noexcept { return IoWait(loop_, &io_, false); }
  IoWait writable() noexcept { return IoWait(loop_, &io_, true); }

  // ---------------------------------------------------------------- writing
  void write(std::string_view data) {
    if (eof_requested_) throw RuntimeError("Cannot call write() after write_eof()");
    if (data.empty()) return;
    if (closing_ || closed_) return;  // Python drops writes to a closing transport
    if (tls_) {
      // A slice at a time, each one's records sent (or queued) before the next is encrypted:
      // the layer's output buffer then stays one slice large instead of growing (and being
      // zero-filled) to the size of the largest write.
      constexpr std::size_t kSlice = 64 * 1024;
      for (std::size_t off = 0; off < data.size() && !closed_; off += kSlice) {
        try {
          tls_->write(data.data() + off, std::min(kSlice, data.size() - off));
        } catch (...) {
          rerr_ = std::current_exception();
          finalize(rerr_);
          return;  // as for a failed send: drain() reports it
        }
        tls_flush_out();
      }
      return;
    }
    send_raw(data);
  }
  /// Bytes for the socket as they are (ciphertext on a TLS stream): sent now, or queued behind
  /// what is queued already.
  void send_raw(std::string_view data) {
    if (closed_ || data.empty()) return;
    if (wbuf_.empty()) {
      std::size_t off = 0;
      while (off < data.size()) {
        ssize_t k = send_some(data.data() + off, data.size() - off);
        if (k > 0) {
          off += static_cast<std::size_t>(k);
          continue;
        }
        int err = errno;
        if (k < 0 && err == EINTR) continue;
        if (k < 0 && (err == EAGAIN || err == EWOULDBLOCK)) break;
        fatal(k < 0 ? err : EPIPE);
        return;
      }
      if (off == data.size()) return;
      data.remove_prefix(off);
    }
    wbuf_.append(data);
    start_flush();
  }
  void write_eof() {
    if (tls_) throw NotImplementedError("SSL transport does not support write_eof()");
    if (closing_ || closed_ || eof_requested_) return;
    eof_requested_ = true;
    if (wbuf_.empty()) do_shutdown_wr();
  }
  std::size_t write_buffer_size() const noexcept { return wbuf_.size(); }
  bool paused() const noexcept { return wbuf_.size() > high_; }
  void close() {
    if (closing_ || closed_) return;
    closing_ = true;
    if (tls_) {
      // Our close_notify goes after the data; the fd closes once both are out, or when the
      // shutdown timeout passes (a peer that stopped reading cannot hold the stream open).
      if (tls_->handshake_done()) {
        tls_->shutdown();
        tls_flush_out();
        if (closed_) return;
      }
      if (!wbuf_.empty() && find_loop(loop_id_) != loop_) {  // no loop left to flush it
        finalize(nullptr);
        return;
      }
      if (!wbuf_.empty()) {
        shutdown_timer_.owner = this;
        shutdown_timer_.run_ = &StreamState::shutdown_timeout;
        loop_->add_timer(&shutdown_timer_, loop_->time() + tls_shutdown_timeout_);
      }
    }
    if (wbuf_.empty()) finalize(nullptr);
  }
  /// Drop everything now (Python's transport.abort()).
  void abort() { finalize(nullptr); }
  bool is_closing() const noexcept { return closing_ || closed_; }
  bool closed() const noexcept { return closed_; }
  std::exception_ptr error() const noexcept { return rerr_; }

  // ---------------------------------------------------------------- waiting on the writer side
  /// Suspends until the write buffer is at or under the low-water mark, or the stream closed.
  ListWaitAwaiter drain_wait() noexcept {
    return ListWaitAwaiter{&drain_waiters_, !paused() || closed_, "StreamWriter.drain()"};
  }
  ListWaitAwaiter closed_wait() noexcept {
    return ListWaitAwaiter{&closed_waiters_, closed_, "StreamWriter.wait_closed()"};
  }
  std::size_t drain_waiter_count() const noexcept { return drain_waiters_.size(); }

  void set_write_buffer_limits(std::size_t high, std::size_t low) {
    if (low > high) throw ValueError("high must be >= low");
    high_ = high;
    low_ = low;
  }

  std::string peer_repr() const { return family_ ? addr_repr(family_, peername_) : std::string("pipe"); }

  // ---------------------------------------------------------------- TLS
  /// StreamWriter::get_extra_info's value for `name` (an empty any: Python's None).
  std::any extra_info(std::string_view name) const {
    if (name == "peername") return family_ ? std::any(peername_) : std::any();
    if (name == "sockname") return family_ ? std::any(sockname_) : std::any();
    if (name == "socket") return io_.fd >= 0 && is_socket_ ? std::any(io_.fd) : std::any();
    if (tls_) return tls_->extra_info(name);
    return {};
  }
  /// Make this stream speak TLS from now on; bytes already buffered and not yet read are the
  /// start of the peer's TLS stream (a STARTTLS client may send its ClientHello right behind
  /// the command). Then drive the handshake with tls_handshake_step().
  void start_tls(std::unique_ptr<TlsLayer> layer, double shutdown_timeout) {
    tls_ = std::move(layer);
    tls_shutdown_timeout_ = shutdown_timeout;
    if (!rbuf_.empty()) {
      tls_->feed(rbuf_.data(), rbuf_.size());
      rbuf_.clear();
    }
  }
  bool is_tls() const noexcept { return tls_ != nullptr; }
  /// One step of the handshake: true once complete, false to wait for the socket to be
  /// readable. Throws the handshake's error (the alert for the peer was sent, or queued).
  bool tls_handshake_step() {
    if (rerr_) std::rethrow_exception(rerr_);
    if (closed_) throw ConnectionResetError("Connection lost during the SSL handshake");
    for (;;) {
      TlsLayer::Status st;
      try {
        st = tls_->handshake();
      } catch (...) {
        tls_flush_out();
        throw;
      }
      tls_flush_out();
      if (rerr_) std::rethrow_exception(rerr_);
      if (st == TlsLayer::Status::Ok) return true;
      int r = recv_raw();
      if (r == 0) return false;
      if (r < 0) tls_->feed_eof_in_handshake();
    }
  }
  bool server_side_ = false;  // accepted by a server (start_tls is then the server's side)

  EventLoop* loop_;
  std::uint64_t loop_id_;
  IoHandle io_;
  ByteBuffer rbuf_;
  std::size_t limit_;
  int family_ = 0;
  std::pair<std::string, int> sockname_, peername_;
  bool eof_ = false;  // the peer's EOF was read (the buffer may still hold data)

 private:
  struct FlushSlot : IoSlot {
    StreamState* owner;
  };
  struct ShutdownTimer : TimerNode {
    StreamState* owner = nullptr;
  };
  ~StreamState() = default;

  /// The TLS half of fill(): decrypt what the layer holds; when it needs more, one recv().
  bool tls_fill() {
    try {
      for (;;) {
        // Every record already received, up to a chunk (one SSL_read returns one record).
        TlsLayer::Status st = TlsLayer::Status::Ok;
        std::size_t got = 0;
        while (got < kReadChunk) {
          char* p = rbuf_.prepare(kReadChunk - got);
          std::size_t k = tls_->read(p, kReadChunk - got, st);
          if (k == 0) break;
          rbuf_.commit(k);
          got += k;
        }
        tls_flush_out();  // (a TLS 1.3 KeyUpdate is answered as it is read)
        if (st == TlsLayer::Status::Closed) eof_ = true;  // close_notify: the end of the stream
        if (got > 0 || eof_) return true;
        int r = recv_raw();
        if (r == 0) return false;
        if (r < 0) {  // EOF without close_notify: asyncio's SSL transport reports a plain EOF
          eof_ = true;
          return true;
        }
      }
    } catch (...) {
      if (!rerr_) rerr_ = std::current_exception();
      tls_flush_out();  // the alert, if one is due
      finalize(rerr_);
      throw;
    }
  }
  /// One recv() of ciphertext into the layer: 1 fed, 0 EAGAIN (or no edge yet), -1 EOF.
  /// Throws the connection's error.
  int recv_raw() {
    if (!io_.read_ready) return 0;
    char* p = raw_.prepare(kReadChunk);
    std::size_t room = raw_.room();
    for (;;) {
      ssize_t k = ::recv(io_.fd, p, room, 0);
      if (k > 0) {
        if (static_cast<std::size_t>(k) < room && !io_.hup) io_.read_ready = false;
        tls_->feed(p, static_cast<std::size_t>(k));
        return 1;
      }
      if (k == 0) return -1;
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        if (!io_.hup) io_.read_ready = false;
        return 0;
      }
      fatal(err);
      std::rethrow_exception(rerr_);
    }
  }
  /// Send the ciphertext the layer produced (records, handshake messages, alerts).
  void tls_flush_out() noexcept {
    while (!closed_) {
      std::size_t n = tls_->pending();
      if (n == 0) return;
      if (!wbuf_.empty()) {  // queued behind what waits already: straight into the queue
        char* p = wbuf_.prepare(n);
        wbuf_.commit(tls_->take(p, n));
        continue;
      }
      char* p = raw_.prepare(n);
      std::size_t k = tls_->take(p, n);
      try {
        send_raw(std::string_view(p, k));
      } catch (...) {  // (out of memory queueing it)
        fatal(ENOMEM);
        return;
      }
    }
  }
  static void shutdown_timeout(Runnable* r, bool discard) {
    if (discard) return;
    static_cast<ShutdownTimer*>(static_cast<TimerNode*>(r))->owner->finalize(nullptr);
  }

  static int sock_family(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return 0;
    return ss.ss_family;
  }
  void wake_reader() noexcept {
    if (IoSlot* s = std::exchange(io_.reader, nullptr)) s->ready(s);
  }
  ssize_t send_some(const char* p, std::size_t n) noexcept {
    return is_socket_ ? ::send(io_.fd, p, n, MSG_NOSIGNAL) : ::write(io_.fd, p, n);
  }
  void start_flush() {
    if (flushing_) return;
    flushing_ = true;
    add_ref();  // unsent data keeps the transport alive, as Python's loop keeps a writer
    io_.writer = &flush_slot_;
  }
  static void flush_ready(IoSlot* s) noexcept {
    auto* self = static_cast<FlushSlot*>(s)->owner;
    if (!self->linked()) self->loop_->push_ready(self);
  }
  static void flush_run(Runnable* r, bool discard) {
    auto* self = static_cast<StreamState*>(r);
    if (discard) {
      self->flushing_ = false;
      self->release();
      return;
    }
    self->flush();
  }
  void flush() {
    while (!wbuf_.empty() && !closed_) {
      ssize_t k = send_some(wbuf_.data(), wbuf_.size());
      if (k > 0) {
        wbuf_.consume(static_cast<std::size_t>(k));
        continue;
      }
      int err = errno;
      if (k < 0 && err == EINTR) continue;
      if (k < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
        io_.writer = &flush_slot_;  // wait for the next edge
        wake_drainers();
        return;
      }
      fatal(k < 0 ? err : EPIPE);
      break;
    }
    wbuf_.shrink();
    wake_drainers();
    if (!closed_) {
      if (eof_requested_) do_shutdown_wr();
      if (closing_) finalize(nullptr);
    }
    flushing_ = false;
    release();  // may delete this
  }
  void do_shutdown_wr() noexcept {
    if (is_socket_)
      ::shutdown(io_.fd, SHUT_WR);
    else
      finalize(nullptr);  // a pipe's write end has no half-close: closing it is the EOF
  }
  void wake_drainers() noexcept {
    if (wbuf_.size() > low_ && !closed_) return;
    wake_list(drain_waiters_);
  }
  /// Python's _fatal_error / _force_close: the connection is lost with `err`.
  void fatal(int err) {
    if (!rerr_) rerr_ = os_error(err, peer_repr());
    finalize(rerr_);
  }
  /// Python's _call_connection_lost: unregister, close the fd, wake every waiter.
  void finalize(std::exception_ptr) noexcept {
    if (closed_) return;
    closed_ = true;
    closing_ = true;
    if (!rerr_) eof_ = true;  // Python's connection_lost(None) feeds the reader its EOF
    // The background flush holds a reference. Parked on the writable edge, it is queued so that
    // its run drops that reference; queued already, its run will; running (finalize reached from
    // flush() itself: the last byte went out on a closing stream, or the send failed), flush()
    // drops it on return, and queueing it too would release the same reference twice.
    bool flush_parked = io_.writer == &flush_slot_;
    if (flush_parked) io_.writer = nullptr;
    io_fire_all(io_);
    if (io_.registered) {
      if (find_loop(loop_id_) == loop_) loop_->io_unregister(&io_);
      io_.registered = false;
    }
    if (io_.fd >= 0) ::close(io_.fd);
    io_.fd = -1;
    wbuf_.clear();
    if (shutdown_timer_.owner) {
      if (shutdown_timer_.in_heap() && find_loop(loop_id_) == loop_) loop_->remove_timer(&shutdown_timer_);
      shutdown_timer_.unlink();
    }
    if (flushing_ && flush_parked && !linked() && find_loop(loop_id_) == loop_)
      loop_->push_ready(this);  // its run releases the flush's reference
    wake_list(drain_waiters_);
    wake_list(closed_waiters_);
  }

  ByteBuffer wbuf_;
  std::unique_ptr<TlsLayer> tls_;
  ByteBuffer raw_;  // TLS: ciphertext on its way between the socket and the layer
  ShutdownTimer shutdown_timer_;
  double tls_shutdown_timeout_ = 30.0;
  FlushSlot flush_slot_;
  List drain_waiters_;
  List closed_waiters_;
  std::exception_ptr rerr_;
  std::size_t high_ = 64 * 1024;
  std::size_t low_ = 16 * 1024;
  std::uint32_t refs_ = 0;
  bool is_socket_;
  bool fed_ = false;
  bool flushing_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool eof_requested_ = false;
};

}  // namespace asyncio::detail
