// The seam between streams (layer 2/5) and the TLS engine of ssl.hpp (layer 6). A stream that
// speaks TLS holds a TlsLayer: an abstract SSL session driven through two memory BIOs (as
// CPython's sslproto.py drives SSLObject). The stream moves ciphertext between the socket and
// the layer with its own non-blocking syscalls; the layer never touches the socket and never
// blocks. The only implementation (OpenSSL) lives in ssl.hpp, which installs the factory below
// when its first SSLContext is made: a program that never includes ssl.hpp never links OpenSSL.
#pragma once

#include <any>
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace asyncio::ssl {
class SSLContext;  // ssl.hpp
}

namespace asyncio::detail {

class TlsLayer {
 public:
  enum class Status { Ok, WantRead, Closed };
  virtual ~TlsLayer() = default;

  /// Ciphertext received from the socket.
  virtual void feed(const char* p, std::size_t n) = 0;
  /// The socket reached EOF during the handshake: throws the error for it (ssl::SSLEOFError).
  [[noreturn]] virtual void feed_eof_in_handshake() = 0;
  /// One handshake step: Ok once complete, WantRead when it needs more ciphertext. Throws the
  /// ssl::SSLError subclass on failure (the alert for the peer is then pending()).
  virtual Status handshake() = 0;
  virtual bool handshake_done() const noexcept = 0;
  /// Decrypt up to n bytes into p: returns how many (> 0), or 0 with `st` WantRead (more
  /// ciphertext needed) or Closed (the peer's close_notify). Throws ssl::SSLError.
  virtual std::size_t read(char* p, std::size_t n, Status& st) = 0;
  /// Encrypt all of [p, p+n) (into the pending ciphertext). Throws ssl::SSLError.
  virtual void write(const char* p, std::size_t n) = 0;
  /// Queue our close_notify.
  virtual void shutdown() noexcept = 0;
  /// Ciphertext waiting to go to the socket, and taking it.
  virtual std::size_t pending() const noexcept = 0;
  virtual std::size_t take(char* p, std::size_t n) noexcept = 0;
  /// StreamWriter::get_extra_info for the TLS keys ("peercert", "cipher", "compression",
  /// "ssl_object", "sslcontext"); an empty any for a key it does not know.
  virtual std::any extra_info(std::string_view name) const = 0;
};

/// Makes the layer for one connection: (context, server_side, server_hostname: "" for none).
/// Throws ValueError for a bad combination (a client context that checks host names, no name).
using TlsLayerFactory = std::unique_ptr<TlsLayer> (*)(const std::shared_ptr<ssl::SSLContext>&, bool,
                                                      const std::string&);
/// Installed by ssl::SSLContext's constructor (ssl.hpp); null while no context exists.
inline std::atomic<TlsLayerFactory> tls_layer_factory{nullptr};

}  // namespace asyncio::detail
