// Machinery of http.hpp: libcurl's multi-socket API driven by our event loop (no extra thread).
//
//   CURLMOPT_SOCKETFUNCTION → loop.add_reader / add_writer / remove_* (level-triggered, as curl wants)
//   CURLMOPT_TIMERFUNCTION  → loop.call_later (one TimerHandle, cancelled on every re-arm)
//   readiness / timer       → curl_multi_socket_action, then curl_multi_info_read completes transfers
//
// A Transfer is one request (one easy handle). Its single waiter slot holds the task that waits
// for the headers, for body bytes, or for the end; the waiter follows the leaf pattern of
// detail::Sleep (register, suspend_on, wake on completion, unregister on cancel or destruction).
// Body bytes go into a small buffer; when it is full the write callback pauses the transfer
// (CURL_WRITEFUNC_PAUSE) and the reader un-pauses it, so streaming keeps memory flat. The write
// callback also pauses after every kYieldEvery bytes and un-pauses on the next loop iteration:
// curl reads (and decodes) for as long as its socket is readable, so without this one iteration
// could take a whole fast, highly compressed body. (A paused curl still decodes the rest of the
// block it had read, into its own pause buffer: work between two yields is at most kYieldEvery
// plus the decoded output of one kRecvBlock, itself at most ~16 MiB.)
// Redirects are followed by do_request (curl's FOLLOWLOCATION is off): a transfer is one hop.
// This header is included by http.hpp after the exception and option types.
#pragma once

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "../events.hpp"
#include "core.hpp"
#include "intrusive.hpp"

namespace asyncio::detail::http {

using asyncio::http::Headers;

inline void curl_global() {
  static const bool once = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)once;
}

inline const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

inline std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) --e;
  return std::string(s.substr(b, e - b));
}

/// application/x-www-form-urlencoded escaping of one key or value (query params, form data).
inline std::string quote(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

class Multi;
class Transfer;

/// An already-complete awaitable of a reference (aenter of the session and the response).
template <class T>
struct RefReady {
  T* p;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  T& await_resume() const noexcept { return *p; }
};

/// What a task waits for on a transfer.
enum class Want { Headers, Some, More, Done };  // More: past more_than_ buffered bytes

/// The leaf awaitable: a task suspended on a transfer's headers / body bytes / completion.
class TransferWait final : public Waiter {
 public:
  TransferWait(Transfer* t, Want w) noexcept : t_(t), want_(w) {}
  TransferWait(TransferWait&& o) noexcept : t_(o.t_), want_(o.want_) {}
  TransferWait(const TransferWait&) = delete;
  ~TransferWait();
  bool await_ready() const noexcept;
  void await_suspend(std::coroutine_handle<> h);
  void await_resume() {
    if (!task_) return;  // was ready: never suspended
    if (cancelled_) task_->throw_cancelled();
    task_->check_cancel();
  }
  bool cancel() noexcept override;
  void describe(std::string& out, double) const override { out += "HTTP response"; }
  Want want() const noexcept { return want_; }
  TaskStateBase* task() const noexcept { return task_; }

 private:
  Transfer* t_;
  Want want_;
  TaskStateBase* task_ = nullptr;
  bool cancelled_ = false;
};

/// A URL as a request uses it, validated and taken apart once by curl's URL parser.
struct ParsedUrl {
  std::string scheme, host, port, full;
};

/// One session's curl multi handle (its connection pool) bound to one event loop.
class Multi {
 public:
  Multi(long limit, long limit_per_host) {
    curl_global();
    m_ = curl_multi_init();
    if (!m_) throw RuntimeError("curl_multi_init failed");
    curl_multi_setopt(m_, CURLMOPT_SOCKETFUNCTION, &Multi::on_socket);
    curl_multi_setopt(m_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(m_, CURLMOPT_TIMERFUNCTION, &Multi::on_timer);
    curl_multi_setopt(m_, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(m_, CURLMOPT_MAX_TOTAL_CONNECTIONS, limit);
    curl_multi_setopt(m_, CURLMOPT_MAX_HOST_CONNECTIONS, limit_per_host);
    if (limit > 0) curl_multi_setopt(m_, CURLMOPT_MAXCONNECTS, limit);
    curl_multi_setopt(m_, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
  }
  Multi(const Multi&) = delete;
  Multi& operator=(const Multi&) = delete;
  ~Multi() { shutdown(); }

  /// Attach to the running loop on first use; a session serves one loop.
  void bind(EventLoop& loop) {
    if (!m_) throw RuntimeError("Session is closed");
    if (loop_ && loop_ != &loop) {
      if (find_loop(loop_id_) == loop_ && !loop_->is_closed())
        throw RuntimeError("ClientSession is attached to a different event loop");
      // The old loop is gone or closed: its sockets and timer went with it.
      socks_.clear();
      timer_ = TimerHandle();
    }
    loop_ = &loop;
    loop_id_ = loop.id();
  }
  bool closed() const noexcept { return m_ == nullptr; }
  /// The bound loop if it still exists and is open, else null.
  EventLoop* live_loop() const noexcept { return loop_alive() ? loop_ : nullptr; }
  EventLoop* loop() const noexcept { return loop_; }
  CURLM* handle() const noexcept { return m_; }

  void add(Transfer* t);
  void remove(Transfer* t) noexcept;
  /// Detach every transfer (they fail with `why` if unfinished), close every connection,
  /// unwatch every socket, cancel the timer. Idempotent.
  void shutdown() noexcept;

  /// An easy handle for a new transfer: an idle one of this session, reset to curl's defaults
  /// (its connections and caches stay with the multi handle), else a new one. Reuse saves
  /// curl_easy_init's ~6 KB calloc and setup on every request.
  CURL* take_easy() {
    if (!idle_easy_.empty()) {
      CURL* e = idle_easy_.back();
      idle_easy_.pop_back();
      curl_easy_reset(e);
      return e;
    }
    curl_global();
    CURL* e = curl_easy_init();
    if (!e) throw RuntimeError("curl_easy_init failed");
    return e;
  }
  /// A finished transfer's easy handle (already out of the multi handle): kept for the next
  /// request while the session is open, up to kIdleEasyMax, else cleaned up.
  void give_back(CURL* e) noexcept {
    // A cookie jar's share: let go of it. First the handle's cookie-file list (curl_easy_reset
    // leaks it: one list node per reuse of a handle that had the cookie engine on, LeakSanitizer).
    curl_easy_setopt(e, CURLOPT_COOKIEFILE, static_cast<const char*>(nullptr));
    curl_easy_setopt(e, CURLOPT_SHARE, static_cast<CURLSH*>(nullptr));
    if (m_ && idle_easy_.size() < kIdleEasyMax) {
      try {
        idle_easy_.push_back(e);
        return;
      } catch (...) {
      }
    }
    curl_easy_cleanup(e);
  }
  std::size_t idle_easy_count() const noexcept { return idle_easy_.size(); }
  /// The parse of a URL this session requested before (without params), or null. Parsing is a
  /// pure function of the string, so a session asking the same endpoints again skips it.
  const ParsedUrl* cached_url(const std::string& url) const {
    auto it = urls_.find(url);
    return it == urls_.end() ? nullptr : &it->second;
  }
  /// Remember a parse (the cache holds kUrlCacheMax URLs: when full it starts over).
  const ParsedUrl* remember_url(const std::string& url, ParsedUrl p) {
    if (urls_.size() >= kUrlCacheMax) urls_.clear();
    return &urls_.insert_or_assign(url, std::move(p)).first->second;
  }
  static constexpr std::size_t kUrlCacheMax = 256;
  static constexpr std::size_t kIdleEasyMax = 64;

  std::size_t transfer_count() const noexcept { return transfers_.size(); }
  std::size_t socket_count() const noexcept { return socks_.size(); }
  bool timer_armed() const noexcept { return timer_armed_; }

 private:
  friend class Transfer;
  bool loop_alive() const noexcept { return loop_ && find_loop(loop_id_) == loop_ && !loop_->is_closed(); }

  static int on_socket(CURL*, curl_socket_t s, int what, void* userp, void*) {
    auto* m = static_cast<Multi*>(userp);
    try {
      m->watch(s, what);
      return 0;
    } catch (...) {
      return -1;  // curl fails the transfers on this socket
    }
  }
  // curl may report CURL_POLL_REMOVE for a socket it already closed (a connect that timed out or
  // was cancelled): the number may be free or name a new socket by now. Removal therefore never
  // fails (the loop ignores EBADF/ENOENT, and any other error here too) and always forgets the
  // entry, so the next socket with that number is watched afresh.
  void unwatch(curl_socket_t s, int old) noexcept {
    if (!loop_alive()) return;
    if (old & CURL_POLL_IN) {
      try {
        loop_->remove_reader(s);
      } catch (...) {
      }
    }
    if (old & CURL_POLL_OUT) {
      try {
        loop_->remove_writer(s);
      } catch (...) {
      }
    }
  }
  void watch(curl_socket_t s, int what) {
    auto it = socks_.find(s);
    int old = it == socks_.end() ? 0 : it->second;
    if (what == CURL_POLL_REMOVE) {
      if (it != socks_.end()) socks_.erase(it);
      unwatch(s, old);
      return;
    }
    if (!loop_alive()) return;
    int want = what & CURL_POLL_INOUT;
    try {
      rewatch(s, old, want);
    } catch (...) {
      // The loop refused (e.g. a registration left from a socket closed behind our back): start
      // afresh once; if that fails too, curl fails the transfer (on_socket returns -1).
      if (it != socks_.end()) socks_.erase(it);
      unwatch(s, CURL_POLL_INOUT);
      rewatch(s, 0, want);
    }
    socks_[s] = want;
  }
  void rewatch(curl_socket_t s, int old, int want) {
    if ((want & CURL_POLL_IN) && !(old & CURL_POLL_IN))
      loop_->add_reader(s, [this, s] { action(s, CURL_CSELECT_IN); });
    if (!(want & CURL_POLL_IN) && (old & CURL_POLL_IN)) loop_->remove_reader(s);
    if ((want & CURL_POLL_OUT) && !(old & CURL_POLL_OUT))
      loop_->add_writer(s, [this, s] { action(s, CURL_CSELECT_OUT); });
    if (!(want & CURL_POLL_OUT) && (old & CURL_POLL_OUT)) loop_->remove_writer(s);
  }
  static int on_timer(CURLM*, long ms, void* userp) {
    auto* m = static_cast<Multi*>(userp);
    m->timer_.cancel();
    m->timer_armed_ = false;
    if (ms < 0 || !m->loop_alive()) return 0;
    try {
      m->timer_ = m->loop_->call_later(static_cast<double>(ms) / 1000.0, [m] {
        m->timer_armed_ = false;
        m->action(CURL_SOCKET_TIMEOUT, 0);
      });
      m->timer_armed_ = true;
      return 0;
    } catch (...) {
      return -1;
    }
  }
  void action(curl_socket_t s, int ev) {
    if (!m_) return;
    int running = 0;
    curl_multi_socket_action(m_, s, ev, &running);
    drain();
  }
  void drain();

  CURLM* m_ = nullptr;
  EventLoop* loop_ = nullptr;
  std::uint64_t loop_id_ = 0;
  TimerHandle timer_;
  bool timer_armed_ = false;
  std::unordered_map<curl_socket_t, int> socks_;
  List transfers_;
  std::vector<CURL*> idle_easy_;
  std::unordered_map<std::string, ParsedUrl> urls_;
};

/// A streamed request body (RequestOptions::stream), shared by the transfer's read callback and
/// the task that pulls pieces from the producer (pump_upload). At most one piece waits here.
struct Upload {
  asyncio::http::BodyStream next;
  std::string buf;
  std::size_t off = 0;
  bool eof = false;
  bool send_paused = false;   // the read callback paused curl: nothing was there
  Transfer* t = nullptr;      // null once the transfer is gone
  std::exception_ptr error;   // the producer's exception: the transfer fails with it
  Event room;                 // set when buf was taken
  TaskPtr pump;
};

/// One request/response exchange on one easy handle.
class Transfer : public ListNode {
 public:
  /// On an easy handle of `home` (its session's pool, which gets the handle back when this
  /// transfer ends, if the session still exists).
  explicit Transfer(const std::shared_ptr<Multi>& home) : home_(home), easy_(home->take_easy()) {
    errbuf_[0] = 0;
    curl_easy_setopt(easy_, CURLOPT_PRIVATE, this);
    curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, errbuf_);
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &Transfer::on_write);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  }
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() {
    if (upload_) {
      upload_->t = nullptr;
      upload_->room.set();  // (the pump sees the transfer gone, whatever it waits on)
      if (upload_->pump && !upload_->pump->done()) upload_->pump->cancel();
    }
    read_timer_.cancel();
    yield_handle_.cancel();
    if (multi_) multi_->remove(this);
    if (mime_) {
      curl_easy_setopt(easy_, CURLOPT_MIMEPOST, static_cast<curl_mime*>(nullptr));
      curl_mime_free(mime_);
    }
    if (auto home = home_.lock())
      home->give_back(easy_);
    else
      curl_easy_cleanup(easy_);  // (before jar_ goes: the handle lets go of its share first)
    if (slist_) curl_slist_free_all(slist_);
  }

  CURL* easy() const noexcept { return easy_; }
  /// A multipart body built on this handle (freed with the transfer).
  curl_mime* new_mime() {
    mime_ = curl_mime_init(easy_);
    if (!mime_) throw RuntimeError("curl_mime_init failed");
    return mime_;
  }
  void append_header_line(const std::string& line) { slist_ = curl_slist_append(slist_, line.c_str()); }
  void apply_headers() { curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, slist_); }

  // ------------------------------------------------------------ state read by ClientResponse
  bool headers_done() const noexcept { return headers_done_; }
  bool done() const noexcept { return done_; }
  std::size_t available() const noexcept { return buf_.size() - off_; }
  /// Where `sep` starts in the buffered bytes, searching from `from` (npos if not there).
  std::size_t find(std::string_view sep, std::size_t from) const noexcept {
    std::size_t at = std::string_view(buf_).substr(off_).find(sep, from);
    return at;
  }
  /// Until more than `n` bytes are buffered (or the body ends): readuntil()'s wait.
  void want_more_than(std::size_t n) noexcept { more_than_ = n; }
  bool eof() const noexcept { return done_ && available() == 0; }
  const std::exception_ptr& error() const noexcept { return error_; }
  /// Body bytes received so far.
  std::size_t received() const noexcept { return received_; }
  int status() const noexcept { return status_; }
  const std::string& reason() const noexcept { return reason_; }
  const std::string& version() const noexcept { return version_; }
  Headers& headers() noexcept { return headers_; }
  const std::string& url() const noexcept { return url_; }

  bool satisfied(Want w) const noexcept {
    switch (w) {
      case Want::Headers: return headers_done_ || done_;
      case Want::Some: return available() > 0 || done_;
      case Want::More: return available() > more_than_ || done_;
      case Want::Done: return done_;
    }
    return true;
  }

  /// Take up to `n` buffered bytes (all of them for n == npos), resuming a paused transfer.
  std::string take(std::size_t n = std::string::npos) {
    std::string out;
    std::size_t avail = available();
    if (n >= avail) {
      if (off_ == 0) {
        out.swap(buf_);
      } else {
        out.assign(buf_, off_, avail);
        buf_.clear();
      }
      off_ = 0;
    } else {
      out.assign(buf_, off_, n);
      off_ += n;
      if (off_ >= 65536 && off_ * 2 >= buf_.size()) {
        buf_.erase(0, off_);
        off_ = 0;
      }
    }
    resume();
    return out;
  }
  /// read(): stop pausing, accumulate the whole body (ClientPayloadError past `cap`).
  void accumulate_all() {
    accumulate_ = true;
    resume();
  }
  void set_chunk_hint(std::size_t n) {
    if (n > hwm_) hwm_ = n;
  }

  /// Abort: take the transfer out of curl (its connection is closed, not reused), fail with `e`.
  void abort(std::exception_ptr e) noexcept {
    read_timer_.cancel();
    yield_handle_.cancel();
    if (multi_) multi_->remove(this);
    if (!done_) {
      done_ = true;
      if (!error_) error_ = std::move(e);
      notify();
    }
  }

  // ------------------------------------------------------------ set by the request
  std::weak_ptr<Multi> home_;
  Multi* multi_ = nullptr;
  bool in_multi_ = false;
  std::string body_;  // request body (CURLOPT_POSTFIELDS points into it)
  bool follow_ = true;
  std::string request_url_;  // the URL this hop requests (error messages: aiohttp's request_info.real_url)
  std::size_t cap_ = std::numeric_limits<std::size_t>::max();
  bool auto_decompress_ = false;  // curl decodes Content-Encoding (we set CURLOPT_ACCEPT_ENCODING)
  std::size_t max_decompress_ = 0;  // 0 = no limit
  std::size_t max_line_ = 8190, max_field_ = 8190, max_headers_ = 128;
  double sock_read_ = 0;  // seconds, 0 = none
  double total_ = 0;      // seconds, 0 = none
  double started_at_ = 0;
  EventLoop* loop_ = nullptr;
  std::string host_;      // for error messages: "host:port"
  bool tls_ = false;
  bool verify_ = true;
  std::shared_ptr<ssl::SSLContext> ssl_ctx_;  // aiohttp's ssl=: read by apply_ssl_context
  std::shared_ptr<asyncio::http::CookieJar> jar_;  // its curl share handle is this transfer's
  std::shared_ptr<Upload> upload_;                  // a streamed body (RequestOptions::stream)
  /// CURLOPT_READFUNCTION of a streamed body: what the pump put there, else pause until it has.
  static std::size_t on_read(char* p, std::size_t sz, std::size_t n, void* ud) {
    auto* t = static_cast<Transfer*>(ud);
    Upload& up = *t->upload_;
    if (up.error) return CURL_READFUNC_ABORT;
    if (up.off < up.buf.size()) {
      std::size_t k = std::min(sz * n, up.buf.size() - up.off);
      std::memcpy(p, up.buf.data() + up.off, k);
      up.off += k;
      if (up.off == up.buf.size()) {
        up.buf.clear();
        up.off = 0;
        up.room.set();
      }
      return k;
    }
    if (up.eof) return 0;
    up.send_paused = true;
    return CURL_READFUNC_PAUSE;
  }
  /// The pump has a piece (or the end, or an error) for a read callback that paused.
  void resume_upload() {
    if (!upload_ || !upload_->send_paused || !in_multi_) return;
    upload_->send_paused = false;
    curl_easy_pause(easy_, paused_ ? CURLPAUSE_RECV : CURLPAUSE_CONT);
  }
  TransferWait* waiter_ = nullptr;

  void start_read_timer();
  /// CURLMSG_DONE: record the outcome and wake the waiter.
  void on_done(CURLcode rc) noexcept;
  /// A redirect do_request follows: this hop is done, its body discarded (see header_line).
  bool redirect_ready() const noexcept { return done_ && redirect_ && !error_; }
  const std::string& redirect_url() const noexcept { return redirect_url_; }

  /// Bytes of body the write callback takes before it yields to the loop for an iteration.
  static constexpr std::size_t kYieldEvery = std::size_t(1) << 20;
  /// curl's receive buffer (CURLOPT_BUFFERSIZE).
  static constexpr long kRecvBlock = 16 * 1024;
  /// Of a redirect's body (discarded), at most this much is read before the hop ends.
  static constexpr std::size_t kRedirectBodyMax = 64 * 1024;
  /// The window of compressed input over which max_decompress_size applies (aiohttp's is one
  /// read of up to 64 KiB).
  static constexpr curl_off_t kDecompressWindow = 64 * 1024;

 private:
  void resume() {
    if (!paused_ || !in_multi_ || yield_pending_ || (!accumulate_ && available() >= hwm_)) return;
    paused_ = false;
    // curl hands over what it kept while paused, at once: take all of it (pausing again would
    // make curl copy the rest into a new buffer, once per pause).
    in_resume_ = true;
    CURLcode rc = curl_easy_pause(easy_, CURLPAUSE_CONT);
    in_resume_ = false;
    if (rc != CURLE_OK) on_done(rc);  // the write callback refused (max_body_size, max_decompress_size)
  }
  /// Let the loop run an iteration, then go on (see kYieldEvery).
  void yield_to_loop() {
    yield_handle_ = loop_->call_soon([this] {
      yield_pending_ = false;
      since_yield_ = 0;
      resume();
    });
    yield_pending_ = true;
  }
  void notify() noexcept {
    if (waiter_ && satisfied(waiter_->want())) {
      TaskStateBase* t = waiter_->task();
      waiter_ = nullptr;
      t->wake();
    }
  }
  static std::size_t on_write(char* p, std::size_t sz, std::size_t n, void* ud) {
    auto* t = static_cast<Transfer*>(ud);
    std::size_t len = sz * n;
    if (!t->headers_done_) {  // the body of a redirect do_request follows: discarded
      t->redirect_body_ += len;
      return t->redirect_body_ > kRedirectBodyMax ? 0 : len;  // enough: end the hop (the connection closes)
    }
    if (!t->in_resume_) {
      if (!t->accumulate_ && t->available() >= t->hwm_) {
        t->paused_ = true;
        return CURL_WRITEFUNC_PAUSE;  // curl keeps these bytes and hands them over on resume
      }
      if (t->since_yield_ >= kYieldEvery && t->loop_) {
        bool yielding = t->yield_pending_;
        if (!yielding) {
          try {
            t->yield_to_loop();
            yielding = true;
          } catch (...) {  // no callback could be scheduled: go on without yielding
          }
        }
        if (yielding) {
          t->paused_ = true;
          return CURL_WRITEFUNC_PAUSE;
        }
      }
    }
    if (t->accumulate_ && t->received_ + len > t->cap_) {
      t->too_large_ = true;
      return 0;  // CURLE_WRITE_ERROR: curl stops here
    }
    if (t->decoding_ && t->max_decompress_ > 0) {
      curl_off_t raw = 0;  // compressed bytes received so far
      curl_easy_getinfo(t->easy_, CURLINFO_SIZE_DOWNLOAD_T, &raw);
      if (raw - t->window_raw_ >= kDecompressWindow) {
        t->window_raw_ = raw;
        t->window_out_ = 0;
      }
      t->window_out_ += len;
      if (t->window_out_ > t->max_decompress_) {
        t->too_inflated_ = true;
        return 0;
      }
    }
    if (t->off_ > 0 && t->off_ == t->buf_.size()) {
      t->buf_.clear();
      t->off_ = 0;
    }
    t->buf_.append(p, len);
    t->received_ += len;
    t->since_yield_ += len;
    t->data_seen_ = true;
    t->notify();
    return len;
  }
  static std::size_t on_header(char* p, std::size_t sz, std::size_t n, void* ud) {
    auto* t = static_cast<Transfer*>(ud);
    std::size_t len = sz * n;
    t->data_seen_ = true;
    try {
      if (!t->header_line(std::string_view(p, len))) return 0;  // CURLE_WRITE_ERROR, bad_header_ says why
    } catch (...) {
      return 0;
    }
    return len;
  }
  bool header_line(std::string_view line);
  void finish_headers();

  CURL* easy_ = nullptr;
  curl_slist* slist_ = nullptr;
  curl_mime* mime_ = nullptr;

 public:
  std::string proxy_;  // the proxy this transfer goes through ("" if none), for its errors

 private:
  char errbuf_[CURL_ERROR_SIZE];
  // response
  int status_ = 0;
  std::string reason_;
  std::string version_;
  Headers headers_;
  std::string url_;
  bool headers_done_ = false;
  bool done_ = false;
  std::exception_ptr error_;
  // body buffer
  std::string buf_;
  std::size_t off_ = 0;
  std::size_t hwm_ = 256 * 1024;
  std::size_t more_than_ = 0;  // Want::More's threshold
  std::size_t received_ = 0;
  bool paused_ = false;
  bool accumulate_ = false;
  bool too_large_ = false;
  bool data_seen_ = false;  // something arrived since the sock_read timer last looked
  TimerHandle read_timer_;
  // yielding to the loop (kYieldEvery)
  std::size_t since_yield_ = 0;
  bool yield_pending_ = false;
  bool in_resume_ = false;
  Handle yield_handle_;
  // decoding (max_decompress_size)
  bool decoding_ = false;
  bool too_inflated_ = false;
  curl_off_t window_raw_ = 0;
  std::size_t window_out_ = 0;
  // header limits (aiohttp's max_line_size, max_field_size, max_headers): why a header was refused
  std::size_t header_lines_ = 0;
  std::string bad_header_;
  // redirects
  bool redirect_ = false;
  std::size_t redirect_body_ = 0;
  std::string redirect_url_;
};

// ---------------------------------------------------------------------------- bodies

inline TransferWait::~TransferWait() {
  if (t_ && t_->waiter_ == this) t_->waiter_ = nullptr;
}
inline bool TransferWait::await_ready() const noexcept { return t_->satisfied(want_); }
inline void TransferWait::await_suspend(std::coroutine_handle<> h) {
  task_ = &require_task("asyncio::http request");
  if (t_->waiter_) throw RuntimeError("Concurrent call to read(): another task is already reading this response");
  t_->waiter_ = this;
  task_->suspend_on(this, h);
}
inline bool TransferWait::cancel() noexcept {
  if (t_->waiter_ != this) return false;  // already woken
  t_->waiter_ = nullptr;
  cancelled_ = true;
  task_->wake();
  return true;
}

inline void Multi::add(Transfer* t) {
  if (!m_) throw RuntimeError("Session is closed");
  t->multi_ = this;
  transfers_.push_back(t);
  CURLMcode rc = curl_multi_add_handle(m_, t->easy());
  if (rc != CURLM_OK) {
    t->unlink();
    t->multi_ = nullptr;
    throw asyncio::http::ClientError(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
  }
  t->in_multi_ = true;
  t->loop_ = loop_;
  t->started_at_ = loop_->time();
  t->start_read_timer();
}

inline void Multi::remove(Transfer* t) noexcept {
  if (t->in_multi_) {
    t->in_multi_ = false;
    curl_multi_remove_handle(m_, t->easy());
  }
  t->unlink();
  t->multi_ = nullptr;
}

inline void Multi::shutdown() noexcept {
  if (!m_) return;
  while (auto* n = transfers_.front()) {
    auto* t = static_cast<Transfer*>(n);
    t->abort(std::make_exception_ptr(asyncio::http::ClientConnectionError("Connector is closed.")));
    if (t->multi_) remove(t);
  }
  curl_multi_cleanup(m_);  // closes pooled connections: their sockets are unwatched (POLL_REMOVE)
  m_ = nullptr;
  for (CURL* e : idle_easy_) curl_easy_cleanup(e);
  idle_easy_.clear();
  for (auto& [s, w] : socks_) unwatch(s, w);
  socks_.clear();
  timer_.cancel();
  timer_ = TimerHandle();
  timer_armed_ = false;
}

inline void Multi::drain() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(m_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* e = msg->easy_handle;
    CURLcode rc = msg->data.result;
    Transfer* t = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    if (t) t->on_done(rc);
  }
}

inline void Transfer::start_read_timer() {
  if (sock_read_ <= 0 || !multi_ || !multi_->loop_) return;
  data_seen_ = false;
  read_timer_ = multi_->loop_->call_later(sock_read_, [this] {
    if (done_) return;
    if (data_seen_ || paused_ || (headers_done_ && waiter_ == nullptr)) {
      start_read_timer();  // data arrived, or nobody is waiting on the socket: look again later
      return;
    }
    abort(std::make_exception_ptr(asyncio::http::ServerTimeoutError("Timeout on reading data from socket")));
  });
}

/// Python's repr() of the first 100 bytes of a line, as aiohttp's LineTooLong shows it: b'...'.
inline std::string bytes_repr_head(std::string_view s) {
  std::string out = "b'";
  for (unsigned char c : s.substr(0, 100)) {
    if (c == '\\' || c == '\'') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out + "...'";
}

inline bool Transfer::header_line(std::string_view line) {
  if (headers_done_) return true;  // trailers
  bool status_line = line.size() >= 5 && line.substr(0, 5) == "HTTP/";
  // aiohttp's parser limits: a status line of max_line_size, header lines of max_field_size, at
  // most max_headers lines in all (ClientResponseError 400, as its LineTooLong/BadHttpMessage).
  std::string_view content = line;
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.remove_suffix(1);
  std::size_t limit = status_line ? max_line_ : max_field_;
  if (content.size() > limit) {
    bad_header_ = "Got more than " + std::to_string(limit) + " bytes when reading: " + bytes_repr_head(content) + ".";
    return false;
  }
  header_lines_ = status_line ? 1 : header_lines_ + 1;
  if (header_lines_ > max_headers_) {
    bad_header_ = "Too many headers received";
    return false;
  }
  if (status_line) {
    headers_ = Headers();
    std::string l = trim(line);
    std::size_t sp = l.find(' ');
    version_ = l.substr(5, sp == std::string::npos ? std::string::npos : sp - 5);
    status_ = 0;
    reason_.clear();
    if (sp != std::string::npos) {
      status_ = std::atoi(l.c_str() + sp + 1);
      std::size_t sp2 = l.find(' ', sp + 1);
      if (sp2 != std::string::npos) reason_ = trim(std::string_view(l).substr(sp2 + 1));
    }
    if (reason_.empty()) reason_ = reason_phrase(status_);
    return true;
  }
  if (line == "\r\n" || line == "\n") {
    if (status_ / 100 == 1) return true;  // 100 Continue: the real status line follows
    // aiohttp follows these five, and only with a Location; any other 3xx is the response.
    bool redirect = status_ == 301 || status_ == 302 || status_ == 303 || status_ == 307 || status_ == 308;
    if (follow_ && redirect && headers_.contains("Location")) {
      redirect_ = true;  // do_request follows it once this hop is done (its body is discarded)
      return true;
    }
    finish_headers();
    return true;
  }
  // aiohttp's parser (llhttp) refuses control characters in a header line: ClientResponseError
  // 400 "Invalid header value char" (a Location carrying one is never followed).
  for (char ch : content) {
    auto u = static_cast<unsigned char>(ch);
    if ((u < 0x20 && u != '\t') || u == 0x7f) {
      bad_header_ = "Invalid header value char";
      return false;
    }
  }
  if ((line[0] == ' ' || line[0] == '\t') && !headers_.empty()) {  // obsolete line folding
    headers_.append_to_last(" " + trim(line));
    return true;
  }
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return true;
  headers_.add(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  return true;
}

inline void Transfer::finish_headers() {
  headers_done_ = true;
  char* eff = nullptr;
  if (curl_easy_getinfo(easy_, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) url_ = eff;
  url_ = url_.substr(0, url_.find('#'));  // aiohttp's response url has no fragment
  if (auto ce = headers_.get("Content-Encoding"))
    decoding_ = auto_decompress_ && !ce->empty() && !Headers::iequals(*ce, "identity");
  notify();
}

inline void Transfer::on_done(CURLcode rc) noexcept {
  if (multi_) multi_->remove(this);
  read_timer_.cancel();
  yield_handle_.cancel();
  if (done_) return;
  if (redirect_ && rc != CURLE_OPERATION_TIMEDOUT) {
    // A hop do_request follows. Its body (discarded) may have broken off or been cut at
    // kRedirectBodyMax: no matter, as aiohttp releases a redirect without reading it.
    char* to = nullptr;
    if (curl_easy_getinfo(easy_, CURLINFO_REDIRECT_URL, &to) == CURLE_OK && to) redirect_url_ = to;
    done_ = true;
    notify();
    return;
  }
  if (!headers_done_ && rc == CURLE_OK && status_ != 0) finish_headers();
  namespace h = asyncio::http;
  try {
    if (rc != CURLE_OK) {
      std::string msg = errbuf_[0] ? std::string(errbuf_) : std::string(curl_easy_strerror(rc));
      std::string where = "host " + host_ + " ssl:" + (tls_ ? (verify_ ? "default" : "False") : "None");
      // What aiohttp's parser raises as BadHttpMessage: ClientResponseError 400 for the request.
      if (!bad_header_.empty()) throw h::ClientResponseError(400, bad_header_, request_url_);
      if (rc == CURLE_OUT_OF_MEMORY && !headers_done_)  // curl refuses a header line over 100 KiB itself
        throw h::ClientResponseError(
            400, "Got more than " + std::to_string(status_ ? max_field_ : max_line_) + " bytes when reading: " + msg + ".",
            request_url_);
      if (!headers_done_ && status_ == 0 && (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_WEIRD_SERVER_REPLY))
        throw h::ClientResponseError(400, "Bad status line '" + msg + "'", request_url_);
      switch (rc) {
        case CURLE_OPERATION_TIMEDOUT: {
          double connect_time = 0;
          curl_easy_getinfo(easy_, CURLINFO_CONNECT_TIME, &connect_time);
          bool connected = connect_time > 0;
          // The total timeout is asyncio's TimeoutError (as aiohttp's); connect and read timeouts
          // are ServerTimeoutError (which is a TimeoutError too).
          if (total_ > 0 && loop_ && loop_->time() - started_at_ >= total_ - 0.005) throw asyncio::TimeoutError();
          if (!connected) throw h::ServerTimeoutError("Connection timeout to " + where);
          throw h::ServerTimeoutError("Timeout on reading data from socket");
        }
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT: {
          long os = 0;
          curl_easy_getinfo(easy_, CURLINFO_OS_ERRNO, &os);
          if (!proxy_.empty() && rc != CURLE_COULDNT_RESOLVE_HOST)
            throw h::ClientProxyConnectionError("Cannot connect to proxy " + proxy_ + " [" + msg + "]", static_cast<int>(os));
          throw h::ClientConnectorError("Cannot connect to " + where + " [" + msg + "]", static_cast<int>(os));
        }
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
          throw h::ClientConnectorCertificateError("Cannot connect to " + where + " [" + msg + "]");
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_USE_SSL_FAILED:
          throw h::ClientSSLError("Cannot connect to " + where + " [" + msg + "]");
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
          throw h::InvalidURL(url_.empty() ? msg : url_);
        case CURLE_WRITE_ERROR:
          if (too_inflated_)
            throw h::ClientPayloadError("Decompressed data exceeds the configured limit of " +
                                        std::to_string(max_decompress_) + " bytes");
          if (too_large_)
            throw h::ClientPayloadError("Response payload is larger than max_body_size (" + std::to_string(cap_) +
                                        " bytes)");
          throw h::ClientPayloadError("Response payload is not completed: " + msg);
        case CURLE_GOT_NOTHING:
          throw h::ServerDisconnectedError("Server disconnected");
        default:
          if (headers_done_) throw h::ClientPayloadError("Response payload is not completed: " + msg);
          if (rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR)
            throw h::ServerDisconnectedError("Server disconnected: " + msg);
          throw h::ClientConnectionError(msg);
      }
    }
  } catch (...) {
    error_ = std::current_exception();
  }
  if (upload_ && upload_->error) error_ = upload_->error;  // the body's producer failed: its error
  done_ = true;
  notify();
}

/// The task behind a streamed body: asks the producer for a piece whenever the last one was
/// taken, and wakes curl's read callback. Ends at the body's end, on the producer's error, or
/// when the transfer is gone (cancelled with it).
inline Task<void> pump_upload(std::shared_ptr<Upload> up) {
  for (;;) {
    while (up->t && !up->buf.empty()) {
      up->room.clear();
      co_await up->room.wait();
    }
    if (!up->t) co_return;
    std::optional<std::string> piece;
    try {
      auto next = up->next();
      piece = co_await std::move(next);
    } catch (const CancelledError&) {
      throw;
    } catch (...) {
      up->error = std::current_exception();
    }
    if (!up->t) co_return;
    if (!up->error) {
      if (!piece)
        up->eof = true;
      else
        up->buf = std::move(*piece);
    }
    up->t->resume_upload();  // (an error: the read callback aborts the transfer)
    if (up->eof || up->error) co_return;
  }
}

}  // namespace asyncio::detail::http
