// The WebSocket engine shared by web::WebSocketResponse (server) and
// http::ClientWebSocketResponse (client): RFC 6455 framing by wslay (Debian's libwslay, its
// event API), driven over the library's own StreamReader / StreamWriter.
//
// One WebSocket is a Core (shared) and a reader task. The reader task pulls bytes from the
// socket and feeds wslay (wslay_event_recv), which reassembles fragments, answers pings, checks
// masking, opcodes, lengths and close codes, and hands whole messages to on_msg_recv; those go
// into the Core's inbox, where receive() takes them. Everything wslay wants to send (our
// messages, its pongs, its close frames) goes through its send callback straight into the
// StreamWriter's buffer; a send_*() then drains. So no wslay call ever waits, and receive()
// only waits on an Event: cancelling it (or wait_for around it) leaves nothing behind.
//
// The semantics are aiohttp 3.8's (web_ws.py / client_ws.py): receive() returns CLOSE when the
// peer closes (after answering it), CLOSING when close() was called from another task, CLOSED
// afterwards (RuntimeError on the 5th call after that), ERROR with a WebSocketError when the
// peer broke the protocol (after closing with the code: 1002, 1007 invalid UTF-8, 1009 too big);
// a peer that vanishes gives CLOSED with close_code() 1006.
#pragma once

#include <sys/random.h>
#include <wslay/wslay.h>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../asyncio.hpp"

namespace asyncio::detail::ws {

/// aiohttp's WSMsgType (the frame opcodes, and three states of our own).
enum class WSMsgType : int {
  CONTINUATION = 0x0,
  TEXT = 0x1,
  BINARY = 0x2,
  PING = 0x9,
  PONG = 0xA,
  CLOSE = 0x8,
  CLOSING = 0x100,
  CLOSED = 0x101,
  ERROR = 0x102,
};

inline const char* to_string(WSMsgType t) noexcept {
  switch (t) {
    case WSMsgType::CONTINUATION: return "WSMsgType.CONTINUATION";
    case WSMsgType::TEXT: return "WSMsgType.TEXT";
    case WSMsgType::BINARY: return "WSMsgType.BINARY";
    case WSMsgType::PING: return "WSMsgType.PING";
    case WSMsgType::PONG: return "WSMsgType.PONG";
    case WSMsgType::CLOSE: return "WSMsgType.CLOSE";
    case WSMsgType::CLOSING: return "WSMsgType.CLOSING";
    case WSMsgType::CLOSED: return "WSMsgType.CLOSED";
    case WSMsgType::ERROR: return "WSMsgType.ERROR";
  }
  return "WSMsgType.?";
}

/// aiohttp's WSCloseCode. An unscoped enum in a struct, so `WSCloseCode::OK` converts to the
/// int a close code is (and any other code, 4000 say, is just an int).
struct WSCloseCode {
  enum : int {
    OK = 1000,
    GOING_AWAY = 1001,
    PROTOCOL_ERROR = 1002,
    UNSUPPORTED_DATA = 1003,
    ABNORMAL_CLOSURE = 1006,
    INVALID_TEXT = 1007,
    POLICY_VIOLATION = 1008,
    MESSAGE_TOO_BIG = 1009,
    MANDATORY_EXTENSION = 1010,
    INTERNAL_ERROR = 1011,
    SERVICE_RESTART = 1012,
    TRY_AGAIN_LATER = 1013,
    BAD_GATEWAY = 1014,
  };
};

/// aiohttp's WebSocketError: a protocol violation by the peer; `code` is the close code sent.
class WebSocketError : public std::runtime_error {
 public:
  WebSocketError(int code_, const std::string& message) : std::runtime_error(message), code(code_) {}
  int code;
};

/// aiohttp's WSMessage(type, data, extra). `data` is the payload of TEXT, BINARY, PING and PONG.
/// Where aiohttp's data is not bytes: CLOSE carries the close code in `code` (0 when the frame
/// had none) and its reason in `extra`; ERROR carries the exception in `exception` (a
/// WebSocketError for a protocol error, with its code in `code`) and its what() in `extra`.
struct WSMessage {
  WSMsgType type = WSMsgType::CLOSED;
  std::string data = {};
  std::string extra = {};
  int code = 0;
  std::exception_ptr exception = nullptr;

  /// The data parsed as JSON (nlohmann::json::parse_error if it is not).
  nlohmann::json json() const { return nlohmann::json::parse(data); }
};

/// close() options: `co_await ws.close({.code = WSCloseCode::GOING_AWAY, .message = "bye"})`.
struct WSCloseOptions {
  int code = WSCloseCode::OK;
  std::string message = {};
};

// ------------------------------------------------------------------------------ small codecs

/// SHA-1 (RFC 3174), only for Sec-WebSocket-Accept.
inline std::array<unsigned char, 20> sha1(std::string_view in) {
  std::uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  std::string m(in);
  std::uint64_t bits = static_cast<std::uint64_t>(in.size()) * 8;
  m += static_cast<char>(0x80);
  while (m.size() % 64 != 56) m += '\0';
  for (int i = 7; i >= 0; --i) m += static_cast<char>((bits >> (i * 8)) & 0xff);
  auto rol = [](std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (std::size_t off = 0; off < m.size(); off += 64) {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i)
      w[i] = (std::uint32_t(static_cast<unsigned char>(m[off + 4 * i])) << 24) |
             (std::uint32_t(static_cast<unsigned char>(m[off + 4 * i + 1])) << 16) |
             (std::uint32_t(static_cast<unsigned char>(m[off + 4 * i + 2])) << 8) |
             std::uint32_t(static_cast<unsigned char>(m[off + 4 * i + 3]));
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      std::uint32_t f, k;
      if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999u; }
      else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1u; }
      else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDCu; }
      else { f = b ^ c ^ d; k = 0xCA62C1D6u; }
      std::uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d; d = c; c = rol(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
  }
  std::array<unsigned char, 20> out{};
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<unsigned char>(h[i] >> (24 - 8 * j));
  return out;
}

inline std::string base64_encode(std::string_view in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned(static_cast<unsigned char>(in[i])) << 16) | (unsigned(static_cast<unsigned char>(in[i + 1])) << 8) |
                 unsigned(static_cast<unsigned char>(in[i + 2]));
    out += tbl[(v >> 18) & 63]; out += tbl[(v >> 12) & 63]; out += tbl[(v >> 6) & 63]; out += tbl[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = unsigned(static_cast<unsigned char>(in[i])) << 16;
    out += tbl[(v >> 18) & 63]; out += tbl[(v >> 12) & 63]; out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned(static_cast<unsigned char>(in[i])) << 16) | (unsigned(static_cast<unsigned char>(in[i + 1])) << 8);
    out += tbl[(v >> 18) & 63]; out += tbl[(v >> 12) & 63]; out += tbl[(v >> 6) & 63]; out += '=';
  }
  return out;
}

/// Strict base64 decoding (padding required); nullopt when malformed.
inline std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else {
        if (pad) return std::nullopt;
        v[j] = val(c);
        if (v[j] < 0) return std::nullopt;
      }
    }
    unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
inline std::string accept_key(std::string_view key) {
  std::string s(key);
  s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  auto d = sha1(s);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

inline void random_bytes(unsigned char* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = ::getrandom(p, n, 0);
    if (k <= 0) {
      if (k < 0 && errno == EINTR) continue;
      throw OSError(errno, "getrandom");
    }
    p += k;
    n -= static_cast<std::size_t>(k);
  }
}

/// RFC 3629 UTF-8, as a text frame must be (no overlongs, no surrogates, nothing past U+10FFFF).
inline bool valid_utf8(std::string_view s) noexcept {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) { ++i; continue; }
    std::size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return false;
    if (i + len > n) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (std::size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
    i += len;
  }
  return true;
}

// ------------------------------------------------------------------------------ the engine

/// The options both ends share (each side's public options aggregate converts to this).
struct CoreOptions {
  std::optional<std::chrono::duration<double>> heartbeat = std::nullopt;
  std::optional<std::chrono::duration<double>> receive_timeout = std::nullopt;
  std::chrono::duration<double> timeout = std::chrono::duration<double>(10.0);  // close handshake
  std::size_t max_msg_size = std::size_t(4) << 20;
  bool autoclose = true;
  bool autoping = true;
};

/// The engine's part of either side's public options (WebSocketResponseOptions, WSConnectOptions).
template <class Options>
CoreOptions core_options_of(const Options& o) {
  CoreOptions co;
  co.heartbeat = o.heartbeat;
  co.receive_timeout = o.receive_timeout;
  co.timeout = o.timeout;
  co.max_msg_size = o.max_msg_size;
  co.autoclose = o.autoclose;
  co.autoping = o.autoping;
  return co;
}

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(bool server, StreamReader r, StreamWriter w, CoreOptions o)
      : server_(server), reader_(std::move(r)), writer_(std::move(w)), opts_(o) {
    wslay_event_callbacks cb{};
    cb.recv_callback = &Core::cb_recv;
    cb.send_callback = &Core::cb_send;
    cb.genmask_callback = &Core::cb_genmask;
    cb.on_msg_recv_callback = &Core::cb_msg;
    int rc = server ? wslay_event_context_server_init(&ctx_, &cb, this) : wslay_event_context_client_init(&ctx_, &cb, this);
    if (rc != 0) throw std::bad_alloc();
    wslay_event_config_set_max_recv_msg_length(ctx_, opts_.max_msg_size ? opts_.max_msg_size : UINT64_MAX);
    idle_.set();
  }
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;
  ~Core() {
    cancel_heartbeat();
    if (ctx_) wslay_event_context_free(ctx_);
  }

  // ---- state, aiohttp's names
  bool closed() const noexcept { return closed_; }
  std::optional<int> close_code() const noexcept { return close_code_; }
  std::exception_ptr exception() const noexcept { return exception_; }
  StreamWriter& writer() noexcept { return writer_; }
  bool is_server() const noexcept { return server_; }

  /// Start the reader task and the heartbeat. `rest`: bytes that arrived after the handshake.
  TaskHandle<> start(std::string rest) {
    auto self = shared_from_this();
    if (!rest.empty()) feed(rest);
    reset_heartbeat();
    return create_task(reader_loop(self));
  }

  // ---- sending
  /// Queue a frame and write it into the stream's buffer (no wait). Throws what aiohttp does
  /// for a closing transport.
  void queue(int opcode, std::string_view data) {
    if (closed_ || close_queued_ || writer_.is_closing() || !wslay_event_get_write_enabled(ctx_))
      throw ConnectionResetError("Cannot write to closing transport");
    if ((opcode & 0x8) && data.size() > 125) throw ValueError("control frame payload cannot be larger than 125 bytes");
    wslay_event_msg m{static_cast<uint8_t>(opcode), reinterpret_cast<const uint8_t*>(data.data()), data.size()};
    if (wslay_event_queue_msg(ctx_, &m) != 0) throw ConnectionResetError("Cannot write to closing transport");
    flush();
  }
  static Task<void> send(std::shared_ptr<Core> c, int opcode, std::string data) {
    c->queue(opcode, data);
    auto d = c->writer_.drain();
    co_await d;
  }

  // ---- receiving
  static Task<WSMessage> receive(std::shared_ptr<Core> c, std::optional<double> timeout) {
    for (;;) {
      if (!c->idle_.is_set()) throw RuntimeError("Concurrent call to receive() is not allowed");
      if (c->closed_) {
        if (++c->conn_lost_ >= 5) throw RuntimeError("WebSocket connection is closed.");
        co_return WSMessage{WSMsgType::CLOSED};
      }
      if (c->closing_) co_return WSMessage{WSMsgType::CLOSING};
      if (!timeout && c->opts_.receive_timeout) timeout = c->opts_.receive_timeout->count();
      c->idle_.clear();
      WSMessage msg;
      std::exception_ptr interrupted;
      try {
        auto t = next(c, timeout);
        msg = co_await std::move(t);
      } catch (const CancelledError&) {
        interrupted = std::current_exception();
      } catch (const TimeoutError&) {
        interrupted = std::current_exception();
      }
      if (interrupted) {
        c->idle_.set();
        c->close_code_ = WSCloseCode::ABNORMAL_CLOSURE;
        std::rethrow_exception(interrupted);
      }
      c->idle_.set();
      switch (msg.type) {
        case WSMsgType::CLOSE:
          c->closing_ = true;
          c->close_code_ = msg.code;
          if (!c->closed_ && c->opts_.autoclose) {
            auto t = close(c, WSCloseCode::OK, std::string());
            co_await std::move(t);
          }
          co_return msg;
        case WSMsgType::CLOSING:
          c->closing_ = true;
          co_return msg;
        case WSMsgType::CLOSED:  // the peer vanished (or the heartbeat gave up on it)
          if (!c->close_code_ || !c->closed_) c->close_code_ = WSCloseCode::ABNORMAL_CLOSURE;
          c->closed_ = true;
          c->finish_transport(true);
          co_return msg;
        case WSMsgType::ERROR: {
          // wslay already sent the close frame with the code; aiohttp's close(code) then.
          c->close_code_ = msg.code;
          c->exception_ = msg.exception;
          c->closed_ = true;
          c->finish_transport(false);
          co_return msg;
        }
        case WSMsgType::PING:
        case WSMsgType::PONG:
          if (c->opts_.autoping) continue;  // wslay answered the ping already
          co_return msg;
        default:
          co_return msg;
      }
    }
  }

  /// close(code, message): aiohttp's. True when this call closed it, false when already closed.
  static Task<bool> close(std::shared_ptr<Core> c, int code, std::string message) {
    if (c->closed_) co_return false;
    if (code != 1000 && !(code >= 1001 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) &&
        !(code >= 3000 && code <= 4999))
      throw ValueError("Invalid close code: " + std::to_string(code));
    c->cancel_heartbeat();
    c->closed_ = true;
    c->in_close_ = true;
    // The close frame is written at once (before a receive() waiting in another task is woken,
    // so that task may drop the WebSocket without losing it).
    if (!c->close_queued_ && wslay_event_get_write_enabled(c->ctx_)) {
      if (message.size() > 123) message.resize(123);
      wslay_event_queue_close(c->ctx_, static_cast<uint16_t>(code), reinterpret_cast<const uint8_t*>(message.data()),
                              message.size());
      c->close_queued_ = true;
      c->flush();
    }
    if (!c->idle_.is_set()) {
      // A receive() is waiting in another task: break it with CLOSING, as aiohttp does.
      c->inbox_.push_front(WSMessage{WSMsgType::CLOSING});
      c->wake_.set();
      auto w = c->idle_.wait();
      co_await w;
    }
    bool failed = false;
    try {
      auto d = c->writer_.drain();
      co_await d;
    } catch (const std::exception&) {
      c->exception_ = std::current_exception();
      failed = true;
    }
    if (failed) {
      c->close_code_ = WSCloseCode::ABNORMAL_CLOSURE;
      c->finish_transport(true);
      co_return true;
    }
    if (c->closing_) {  // the peer closed first: its close frame was answered
      c->finish_transport(false);
      co_return true;
    }
    // Wait (bounded) for the peer's close frame, dropping what comes before it.
    for (;;) {
      WSMessage m;
      bool timed_out = false;
      try {
        auto t = next(c, c->opts_.timeout.count());
        m = co_await std::move(t);
      } catch (const TimeoutError&) {
        timed_out = true;
      } catch (const CancelledError&) {
        c->close_code_ = WSCloseCode::ABNORMAL_CLOSURE;
        c->finish_transport(true);
        throw;
      }
      if (timed_out) {
        c->close_code_ = WSCloseCode::ABNORMAL_CLOSURE;
        c->exception_ = std::make_exception_ptr(TimeoutError());
        c->finish_transport(true);
        co_return true;
      }
      if (m.type == WSMsgType::CLOSE) {
        c->close_code_ = m.code;
        c->finish_transport(false);
        co_return true;
      }
      if (m.type == WSMsgType::CLOSED || m.type == WSMsgType::ERROR) {
        c->close_code_ = WSCloseCode::ABNORMAL_CLOSURE;
        if (m.exception) c->exception_ = m.exception;
        c->finish_transport(true);
        co_return true;
      }
    }
  }

  /// Server shutdown / the owner going away without close(): drop the connection now.
  void abort() {
    if (finished_ || in_close_) return;  // a close() under way finishes on its own
    cancel_heartbeat();
    if (!closed_) {
      closed_ = true;
      if (!close_code_) close_code_ = WSCloseCode::ABNORMAL_CLOSURE;
    }
    finish_transport(true);
  }

  void ping(std::string_view data) { queue(WSLAY_PING, data); }

 private:
  /// The next message from the inbox (waiting for the reader task), a CLOSED message when the
  /// stream ended, an ERROR message when wslay failed the connection.
  static Task<WSMessage> next(std::shared_ptr<Core> c, std::optional<double> timeout) {
    while (c->inbox_.empty() && !c->eof_) {
      c->wake_.clear();
      if (timeout) {
        auto w = wait_for(c->wake_.wait(), *timeout);
        co_await w;
      } else {
        auto w = c->wake_.wait();
        co_await w;
      }
    }
    if (!c->inbox_.empty()) {
      WSMessage m = std::move(c->inbox_.front());
      c->inbox_.pop_front();
      c->inbox_bytes_ -= std::min(c->inbox_bytes_, m.data.size());
      c->room_.set();
      co_return m;
    }
    co_return WSMessage{WSMsgType::CLOSED};
  }

  static Task<void> reader_loop(std::shared_ptr<Core> c) {
    for (;;) {
      if (c->eof_) co_return;
      // Flow control (aiohttp's reader queue pauses the transport likewise): messages nobody
      // receives stop the reading at 64 of them or max(64 KiB, max_msg_size) bytes.
      while (c->inbox_.size() >= 64 || c->inbox_bytes_ > std::max<std::size_t>(65536, c->opts_.max_msg_size)) {
        c->room_.clear();
        auto w = c->room_.wait();
        co_await w;
        if (c->eof_) co_return;
      }
      std::string data;
      bool ended = false;
      try {
        data = co_await c->reader_.read(65536);
      } catch (const std::exception&) {
        ended = true;
      }
      if (ended || data.empty()) {
        c->eof_ = true;
        c->wake_.set();
        co_return;
      }
      c->feed(data);
    }
  }

  void feed(std::string_view data) {
    if (eof_ || !wslay_event_get_read_enabled(ctx_)) return;
    std::size_t bad = scan(data);
    in_ = bad == std::string_view::npos ? data : data.substr(0, bad);
    wslay_event_recv(ctx_);
    in_ = {};
    if (bad != std::string_view::npos && wslay_event_get_read_enabled(ctx_)) fail(ctx_, WSCloseCode::PROTOCOL_ERROR);
    flush();
    if (!wslay_event_get_read_enabled(ctx_) && !got_close_) {
      // wslay failed the connection (its close frame with the code is queued or sent).
      int code = wslay_event_get_status_code_sent(ctx_);
      if (code == 0 || code == WSLAY_CODE_NO_STATUS_RCVD) code = WSCloseCode::PROTOCOL_ERROR;
      close_queued_ = true;
      inbox_.push_back(error_message(code));
      eof_ = true;
    }
    reset_heartbeat();
    wake_.set();
  }

  /// Frame headers are looked at before wslay sees them, for the errors wslay answers with an
  /// empty close frame (its frame layer fails without a code): a 64-bit length with the top bit
  /// set, a fragmented or oversized (> 125) control frame, a close payload of one byte. Returns
  /// where the first such frame starts in `data` (0 if it started in an earlier chunk), or npos.
  std::size_t scan(std::string_view data) {
    std::size_t i = 0;
    while (i < data.size()) {
      if (skip_ > 0) {
        std::size_t k = static_cast<std::size_t>(std::min<unsigned long long>(skip_, data.size() - i));
        i += k;
        skip_ -= k;
        continue;
      }
      std::size_t start = hdr_.empty() ? i : 0;
      while (i < data.size()) {
        hdr_ += data[i++];
        if (hdr_.size() < 2) continue;
        unsigned char b0 = static_cast<unsigned char>(hdr_[0]), b1 = static_cast<unsigned char>(hdr_[1]);
        unsigned len7 = b1 & 0x7f;
        std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
        if (hdr_.size() < need) continue;
        unsigned long long len = len7;
        if (len7 == 126) len = (unsigned(static_cast<unsigned char>(hdr_[2])) << 8) | static_cast<unsigned char>(hdr_[3]);
        if (len7 == 127) {
          len = 0;
          for (int k = 0; k < 8; ++k) len = (len << 8) | static_cast<unsigned char>(hdr_[2 + k]);
          if (len >> 63) return start;
        }
        unsigned opcode = b0 & 0x0f;
        bool fin = (b0 & 0x80) != 0;
        if ((opcode & 0x8) && (!fin || len > 125 || (opcode == WSLAY_CONNECTION_CLOSE && len == 1))) return start;
        skip_ = len;
        hdr_.clear();
        break;
      }
    }
    return std::string_view::npos;
  }

  static WSMessage error_message(int code) {
    std::string what = code == WSCloseCode::INVALID_TEXT      ? "invalid utf-8 payload"
                       : code == WSCloseCode::MESSAGE_TOO_BIG ? "Message size exceeds the limit"
                                                               : "Received a frame that breaks the protocol";
    WSMessage m{WSMsgType::ERROR};
    m.code = code;
    m.extra = what;
    m.exception = std::make_exception_ptr(WebSocketError(code, what));
    return m;
  }

  /// What wslay queued goes out in one write: wslay hands a frame's header and payload to
  /// cb_send separately, and writing each at once cost two send() calls per message.
  void flush() {
    if (!wslay_event_want_write(ctx_)) return;
    wslay_event_send(ctx_);
    if (out_.empty()) return;
    try {
      if (!writer_.is_closing()) writer_.write(out_);
    } catch (const std::exception&) {
    }
    out_.clear();
  }

  /// Our side is done: close the stream (politely: what is buffered goes out first) or drop it.
  void finish_transport(bool hard) {
    cancel_heartbeat();
    in_close_ = false;
    if (finished_) return;
    finished_ = true;
    if (hard)
      writer_.abort();
    else
      writer_.close();
    eof_ = true;
    wake_.set();
    room_.set();
  }

  // ---- heartbeat (aiohttp's: a ping every `heartbeat` seconds of silence; no answer within
  // half of it → the connection is dropped, close_code 1006, exception TimeoutError)
  void reset_heartbeat() {
    cancel_heartbeat();
    if (!opts_.heartbeat || closed_) return;
    std::weak_ptr<Core> weak = weak_from_this();
    if (weak.expired()) return;
    hb_ = get_running_loop().call_later(opts_.heartbeat->count(), [weak] {
      if (auto c = weak.lock()) c->send_heartbeat();
    });
  }
  void send_heartbeat() {
    if (closed_ || eof_) return;
    try {
      queue(WSLAY_PING, {});
    } catch (const std::exception&) {
      return;
    }
    std::weak_ptr<Core> weak = weak_from_this();
    pong_ = get_running_loop().call_later(opts_.heartbeat->count() / 2, [weak] {
      if (auto c = weak.lock()) c->pong_not_received();
    });
  }
  void pong_not_received() {
    if (closed_) return;
    closed_ = true;
    close_code_ = WSCloseCode::ABNORMAL_CLOSURE;
    exception_ = std::make_exception_ptr(TimeoutError());
    finish_transport(true);
  }
  void cancel_heartbeat() {
    hb_.cancel();
    pong_.cancel();
  }

  // ---- wslay callbacks
  static ssize_t cb_recv(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, int, void* user) {
    auto* c = static_cast<Core*>(user);
    if (c->in_.empty()) {
      wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
      return -1;
    }
    std::size_t n = std::min(len, c->in_.size());
    std::memcpy(buf, c->in_.data(), n);
    c->in_.remove_prefix(n);
    return static_cast<ssize_t>(n);
  }
  static ssize_t cb_send(wslay_event_context_ptr ctx, const uint8_t* data, size_t len, int, void* user) {
    auto* c = static_cast<Core*>(user);
    try {
      if (c->writer_.is_closing()) throw ConnectionResetError("closing");
      c->out_.append(reinterpret_cast<const char*>(data), len);  // written by flush()
    } catch (const std::exception&) {
      wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
      return -1;
    }
    return static_cast<ssize_t>(len);
  }
  static int cb_genmask(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, void*) {
    try {
      random_bytes(buf, len);
    } catch (const std::exception&) {
      wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
      return -1;
    }
    return 0;
  }
  static void cb_msg(wslay_event_context_ptr ctx, const wslay_event_on_msg_recv_arg* arg, void* user) {
    auto* c = static_cast<Core*>(user);
    std::string_view payload(reinterpret_cast<const char*>(arg->msg), arg->msg_length);
    WSMessage m;
    switch (arg->opcode) {
      case WSLAY_TEXT_FRAME:
        if (!valid_utf8(payload)) {
          c->fail(ctx, WSCloseCode::INVALID_TEXT);
          return;
        }
        m.type = WSMsgType::TEXT;
        m.data = std::string(payload);
        break;
      case WSLAY_BINARY_FRAME:
        m.type = WSMsgType::BINARY;
        m.data = std::string(payload);
        break;
      case WSLAY_PING:
        m.type = WSMsgType::PING;
        m.data = std::string(payload);
        break;
      case WSLAY_PONG:
        m.type = WSMsgType::PONG;
        m.data = std::string(payload);
        break;
      case WSLAY_CONNECTION_CLOSE: {
        m.type = WSMsgType::CLOSE;
        m.code = arg->status_code;
        std::string_view reason = payload.size() >= 2 ? payload.substr(2) : std::string_view();
        if (!valid_utf8(reason)) {
          c->fail(ctx, WSCloseCode::INVALID_TEXT);
          return;
        }
        m.extra = std::string(reason);
        c->got_close_ = true;
        c->close_queued_ = true;  // wslay answers it (or already sent ours)
        break;
      }
      default:
        return;
    }
    c->inbox_bytes_ += m.data.size();
    c->inbox_.push_back(std::move(m));
  }
  void fail(wslay_event_context_ptr ctx, int code) {
    wslay_event_queue_close(ctx, static_cast<uint16_t>(code), nullptr, 0);
    wslay_event_shutdown_read(ctx);
  }

  bool server_;
  StreamReader reader_;
  StreamWriter writer_;
  CoreOptions opts_;
  wslay_event_context_ptr ctx_ = nullptr;
  std::string_view in_;
  std::string out_;  // frames wslay sent during one flush(), written together
  std::string hdr_;             // scan(): a frame header not complete yet
  unsigned long long skip_ = 0;  // scan(): payload bytes still to pass over
  std::deque<WSMessage> inbox_;
  Event wake_;  // the inbox got something (or the stream ended)
  Event idle_;  // no receive() in progress
  Event room_;  // receive() took a message: the reader may go on
  std::size_t inbox_bytes_ = 0;
  TimerHandle hb_, pong_;
  bool closed_ = false;        // aiohttp's _closed: our close was sent (or the connection dropped)
  bool closing_ = false;       // aiohttp's _closing: the peer's close was received
  bool close_queued_ = false;  // a close frame is queued or sent
  bool got_close_ = false;
  bool eof_ = false;  // no more messages will arrive
  bool finished_ = false;  // the stream was closed or aborted
  bool in_close_ = false;  // a close() is waiting for the peer's close frame
  int conn_lost_ = 0;
  std::optional<int> close_code_;
  std::exception_ptr exception_;
};

/// The methods both ends share (aiohttp's WebSocketResponse / ClientWebSocketResponse API).
class WebSocketBase {
 public:
  WebSocketBase() = default;
  WebSocketBase(WebSocketBase&&) noexcept = default;
  WebSocketBase& operator=(WebSocketBase&&) noexcept = default;
  /// A WebSocket dropped without close() is aborted (its connection closed at once).
  ~WebSocketBase() { drop(); }

  /// The next message: TEXT, BINARY (PING/PONG only with autoping off), CLOSE when the peer
  /// closed (answered already), CLOSING when close() runs in another task, CLOSED once closed
  /// (RuntimeError "WebSocket connection is closed." on the 5th receive after that), ERROR for a
  /// protocol error (the connection is closed with its code). `timeout` in seconds: TimeoutError.
  /// Cancelled or timed out, close_code() becomes 1006 (aiohttp's) and the WebSocket stays usable.
  Task<WSMessage> receive() { return Core::receive(core_checked(), std::nullopt); }
  Task<WSMessage> receive(double timeout) { return Core::receive(core_checked(), timeout); }
  /// TEXT data; TypeError "Received message <type>:<data> is not WSMsgType.TEXT" otherwise.
  Task<std::string> receive_str() { return receive_typed(core_checked(), WSMsgType::TEXT); }
  /// BINARY data; TypeError otherwise.
  Task<std::string> receive_bytes() { return receive_typed(core_checked(), WSMsgType::BINARY); }
  /// A TEXT message parsed as JSON (TypeError for another type, nlohmann's parse_error if bad).
  Task<nlohmann::json> receive_json() { return receive_json_impl(core_checked()); }

  /// Send a text message (its bytes must be UTF-8: not checked, as aiohttp). ConnectionResetError
  /// ("Cannot write to closing transport") once closing.
  Task<void> send_str(std::string data) { return Core::send(core_checked(), WSLAY_TEXT_FRAME, std::move(data)); }
  Task<void> send_bytes(std::string data) { return Core::send(core_checked(), WSLAY_BINARY_FRAME, std::move(data)); }
  Task<void> send_json(const nlohmann::json& j) { return Core::send(core_checked(), WSLAY_TEXT_FRAME, j.dump()); }
  /// PING / PONG with an optional payload (≤ 125 bytes; ValueError past it).
  Task<void> ping() { return ping(std::string()); }
  Task<void> ping(std::string data) { return Core::send(core_checked(), WSLAY_PING, std::move(data)); }
  Task<void> pong() { return pong(std::string()); }
  Task<void> pong(std::string data) { return Core::send(core_checked(), WSLAY_PONG, std::move(data)); }

  /// The close handshake: send a close frame and wait (at most the `timeout` option, 10 s) for
  /// the peer's. True if this call closed the WebSocket, false if it was closed already.
  Task<bool> close() { return Core::close(core_checked(), WSCloseCode::OK, std::string()); }
  Task<bool> close(WSCloseOptions o) { return Core::close(core_checked(), o.code, std::move(o.message)); }

  bool closed() const noexcept { return !core_ || core_->closed(); }
  /// The close code once closing (the peer's, ours, 1006 for a dropped connection), else none.
  std::optional<int> close_code() const noexcept { return core_ ? core_->close_code() : std::nullopt; }
  /// What went wrong, if anything (aiohttp's exception()).
  std::exception_ptr exception() const noexcept { return core_ ? core_->exception() : nullptr; }
  /// The negotiated subprotocol ("" if none).
  const std::string& protocol() const noexcept { return protocol_; }

  /// `async for msg in ws:` is `co_await asyncio::async_for(ws, [&](WSMessage m) -> Task<> {...})`
  /// (contexts.hpp): the next message, or nullopt once CLOSE, CLOSING or CLOSED is received.
  Task<std::optional<WSMessage>> anext() { return anext_impl(core_checked()); }

 protected:
  void attach(std::shared_ptr<Core> core, std::string rest) {
    core_ = std::move(core);
    reader_task_ = core_->start(std::move(rest));
  }
  std::shared_ptr<Core> core_checked() const {
    if (!core_) throw RuntimeError("Call .prepare() first");
    return core_;
  }
  void drop() noexcept {
    if (core_) {
      core_->abort();
      if (reader_task_) reader_task_.cancel();
      core_.reset();
    }
  }
  std::shared_ptr<Core> core_;
  TaskHandle<> reader_task_;
  std::string protocol_;

 private:
  static Task<std::string> receive_typed(std::shared_ptr<Core> c, WSMsgType want) {
    auto t = Core::receive(c, std::nullopt);
    WSMessage m = co_await std::move(t);
    if (m.type != want) {
      // aiohttp's words: the server's receive_str "... is not WSMsgType.TEXT", the client's
      // "... is not str"; both receive_bytes "... is not bytes". The type as a number, the data
      // as Python's repr (None for CLOSING/CLOSED/ERROR's exception aside, the code for CLOSE).
      std::string data = m.type == WSMsgType::CLOSE                                ? std::to_string(m.code)
                         : (m.type == WSMsgType::TEXT)                              ? py_repr(m.data, false)
                         : (m.type == WSMsgType::BINARY || m.type == WSMsgType::PING ||
                            m.type == WSMsgType::PONG)                              ? py_repr(m.data, true)
                                                                                    : std::string("None");
      std::string what = want == WSMsgType::BINARY ? "bytes" : c->is_server() ? "WSMsgType.TEXT" : "str";
      throw TypeError("Received message " + std::to_string(static_cast<int>(m.type)) + ":" + data + " is not " + what);
    }
    co_return std::move(m.data);
  }
  /// Python's repr() of bytes (b'...') or of a str ('...'), for messages.
  static std::string py_repr(std::string_view s, bool bytes) {
    std::string out = bytes ? "b'" : "'";
    for (unsigned char ch : s) {
      if (ch == '\\' || ch == '\'') {
        out += '\\';
        out += static_cast<char>(ch);
      } else if (ch == '\n') {
        out += "\\n";
      } else if (ch == '\r') {
        out += "\\r";
      } else if (ch == '\t') {
        out += "\\t";
      } else if (ch < 0x20 || ch == 0x7f || (bytes && ch >= 0x80)) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", ch);
        out += buf;
      } else {
        out += static_cast<char>(ch);
      }
    }
    return out + "'";
  }
  static Task<nlohmann::json> receive_json_impl(std::shared_ptr<Core> c) {
    auto t = receive_typed(c, WSMsgType::TEXT);
    std::string s = co_await std::move(t);
    co_return nlohmann::json::parse(s);
  }
  static Task<std::optional<WSMessage>> anext_impl(std::shared_ptr<Core> c) {
    auto t = Core::receive(c, std::nullopt);
    WSMessage m = co_await std::move(t);
    if (m.type == WSMsgType::CLOSE || m.type == WSMsgType::CLOSING || m.type == WSMsgType::CLOSED)
      co_return std::nullopt;
    co_return m;
  }
};

}  // namespace asyncio::detail::ws
