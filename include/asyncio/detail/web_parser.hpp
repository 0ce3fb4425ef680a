// The request parser of web.hpp: llhttp (Node's parser, and aiohttp's) driven through its
// callbacks. Nothing here parses HTTP by hand: the request line, header fields, Content-Length,
// chunked framing, keep-alive and upgrade come from llhttp; this file only gathers what the
// callbacks hand over into one RequestHead per request and enforces aiohttp's size limits.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asyncio::web::detail {

/// One request's head as llhttp reported it.
struct RequestHead {
  std::string method;  // "GET", as llhttp names it
  std::string url;     // the request target, raw ("/a%20b?x=1")
  int version_major = 1;
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
  bool keep_alive = true;  // llhttp_should_keep_alive at the end of the head
  bool upgrade = false;    // Upgrade / CONNECT: llhttp stops after the head
  bool chunked = false;
  bool has_body = false;  // Content-Length > 0 or chunked
  unsigned long long content_length = 0;
};

/// What the parser reports, in wire order.
class ParserSink {
 public:
  virtual void on_head(RequestHead&& head) = 0;
  virtual void on_body(std::string_view data) = 0;
  virtual void on_message_complete() = 0;

 protected:
  ~ParserSink() = default;
};

/// A parse failure: the 400 answer's text, as aiohttp words it.
struct ParseError {
  int status = 400;
  std::string text;
};

/// aiohttp's LineTooLong text: "Got more than 8190 bytes when reading: bytearray(b'aaa...')."
inline std::string line_too_long(std::size_t limit, std::string_view data) {
  std::string shown = "bytearray(b'";
  for (char ch : data.substr(0, 100)) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\\' || c == '\'') {
      shown += '\\';
      shown += ch;
    } else if (c >= 0x20 && c < 0x7f) {
      shown += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      shown += buf;
    }
  }
  shown += data.size() > 100 ? "...')" : "')";
  return "Got more than " + std::to_string(limit) + " bytes when reading: " + shown + ".";
}

/// llhttp in request mode with aiohttp's limits (max_line_size for the request target,
/// max_field_size for each header name and value). feed() returns false on an error, whose
/// text error() gives; after an error or an upgrade the parser takes no more bytes.
class RequestParser {
 public:
  RequestParser(ParserSink& sink, std::size_t max_line_size, std::size_t max_field_size)
      : sink_(sink), max_line_(max_line_size), max_field_(max_field_size) {
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = &RequestParser::cb_message_begin;
    settings_.on_url = &RequestParser::cb_url;
    settings_.on_header_field = &RequestParser::cb_header_field;
    settings_.on_header_value = &RequestParser::cb_header_value;
    settings_.on_header_value_complete = &RequestParser::cb_header_value_complete;
    settings_.on_headers_complete = &RequestParser::cb_headers_complete;
    settings_.on_body = &RequestParser::cb_body;
    settings_.on_message_complete = &RequestParser::cb_message_complete;
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = this;
  }
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  /// Parse `data`. False once the stream is in error (error() says why).
  bool feed(std::string_view data) {
    if (failed_) return false;
    if (upgraded_) return true;
    llhttp_errno_t rc = llhttp_execute(&parser_, data.data(), data.size());
    if (rc == HPE_OK) return true;
    if (rc == HPE_PAUSED_UPGRADE) {
      upgraded_ = true;
      // The bytes after the head belong to the upgraded protocol (a WebSocket's first frames).
      const char* pos = llhttp_get_error_pos(&parser_);
      if (pos && pos >= data.data() && pos < data.data() + data.size())
        upgrade_rest_.assign(pos, static_cast<std::size_t>(data.data() + data.size() - pos));
      return true;
    }
    fail(rc);
    return false;
  }
  /// The peer closed: a request cut short is an error ("Connection lost" for its body).
  bool finish() {
    if (failed_ || upgraded_) return !failed_;
    llhttp_errno_t rc = llhttp_finish(&parser_);
    if (rc == HPE_OK) return true;
    fail(rc);
    return false;
  }
  /// True between a request's head and its end (its body is still coming).
  bool in_body() const noexcept { return in_body_; }
  /// True while some bytes of a request (head or body) have been seen and it has not ended.
  bool in_message() const noexcept { return in_message_; }
  bool upgraded() const noexcept { return upgraded_; }
  /// What followed the head of an upgrade request in the bytes fed (taken once).
  std::string take_upgrade_rest() { return std::exchange(upgrade_rest_, std::string()); }
  bool failed() const noexcept { return failed_; }
  const ParseError& error() const noexcept { return error_; }

 private:
  static RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }

  void fail(llhttp_errno_t rc) {
    failed_ = true;
    if (rc == HPE_USER) return;  // error_ set by the callback that refused
    const char* reason = llhttp_get_error_reason(&parser_);
    std::string why = reason ? reason : llhttp_errno_name(rc);
    // aiohttp's mapping of llhttp errors (_http_parser.pyx, parser_error_from_errno).
    if (rc == HPE_INVALID_METHOD || rc == HPE_INVALID_STATUS || rc == HPE_INVALID_VERSION)
      error_.text = "Bad status line '" + why + "'";
    else
      error_.text = why;
  }
  int refuse(std::string text) {
    error_.text = std::move(text);
    return HPE_USER;
  }

  static int cb_message_begin(llhttp_t* p) {
    auto& s = self(p);
    s.head_ = RequestHead{};
    s.field_.clear();
    s.value_.clear();
    s.in_value_ = false;
    s.in_message_ = true;
    return 0;
  }
  static int cb_url(llhttp_t* p, const char* at, std::size_t n) {
    auto& s = self(p);
    s.head_.url.append(at, n);
    if (s.head_.url.size() > s.max_line_) return s.refuse(line_too_long(s.max_line_, s.head_.url));
    return 0;
  }
  static int cb_header_field(llhttp_t* p, const char* at, std::size_t n) {
    auto& s = self(p);
    if (s.in_value_) {  // (a field after a value: the previous pair was pushed on completion)
      s.in_value_ = false;
      s.field_.clear();
    }
    s.field_.append(at, n);
    if (s.field_.size() > s.max_field_) return s.refuse(line_too_long(s.max_field_, s.field_));
    return 0;
  }
  static int cb_header_value(llhttp_t* p, const char* at, std::size_t n) {
    auto& s = self(p);
    s.in_value_ = true;
    s.value_.append(at, n);
    if (s.value_.size() > s.max_field_) return s.refuse(line_too_long(s.max_field_, s.value_));
    return 0;
  }
  static int cb_header_value_complete(llhttp_t* p) {
    auto& s = self(p);
    s.head_.headers.emplace_back(std::move(s.field_), std::move(s.value_));
    s.field_.clear();
    s.value_.clear();
    s.in_value_ = false;
    return 0;
  }
  static int cb_headers_complete(llhttp_t* p) {
    auto& s = self(p);
    RequestHead& h = s.head_;
    h.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(p)));
    h.version_major = llhttp_get_http_major(p);
    h.version_minor = llhttp_get_http_minor(p);
    h.keep_alive = llhttp_should_keep_alive(p) != 0;
    h.upgrade = llhttp_get_upgrade(p) != 0;
    h.chunked = (p->flags & F_CHUNKED) != 0;
    h.content_length = (p->flags & F_CONTENT_LENGTH) ? p->content_length : 0;
    h.has_body = h.chunked || h.content_length > 0;
    s.in_body_ = true;
    s.sink_.on_head(std::move(h));
    return 0;
  }
  static int cb_body(llhttp_t* p, const char* at, std::size_t n) {
    self(p).sink_.on_body(std::string_view(at, n));
    return 0;
  }
  static int cb_message_complete(llhttp_t* p) {
    auto& s = self(p);
    s.in_body_ = false;
    s.in_message_ = false;
    s.sink_.on_message_complete();
    return 0;
  }

  ParserSink& sink_;
  std::size_t max_line_, max_field_;
  llhttp_settings_t settings_{};
  llhttp_t parser_{};
  RequestHead head_;
  std::string field_, value_;
  bool in_value_ = false;
  bool in_body_ = false;
  bool in_message_ = false;
  bool upgraded_ = false;
  std::string upgrade_rest_;
  bool failed_ = false;
  ParseError error_;
};

}  // namespace asyncio::web::detail
