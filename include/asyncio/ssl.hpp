// asyncio/ssl.hpp — TLS contexts and errors (Python's ssl module), on OpenSSL 3. CMake target
// asyncio::ssl (links OpenSSL); streams take a context through their `.ssl` option.
//
//   auto ctx = asyncio::ssl::create_default_context();          // verifies peer and host name
//   auto [r, w] = co_await asyncio::open_connection("example.org", 443, {.ssl = ctx});
//
//   auto sctx = std::make_shared<asyncio::ssl::SSLContext>(asyncio::ssl::Protocol::TLS_SERVER);
//   sctx->load_cert_chain("cert.pem", "key.pem");
//   auto srv = co_await asyncio::start_server(handle, "127.0.0.1", 8443, {.ssl = sctx});
//
// The TLS session of a stream runs over two memory BIOs, fed and drained by the stream's own
// non-blocking reads and writes on the loop (CPython's sslproto.py does the same with
// SSLObject): no blocking call, no thread. Defaults are Python 3.11's: TLS >= 1.2, client
// contexts verify the peer and its host name, compression and renegotiation off. Differences
// from Python: Python's properties are methods (verify_mode() / set_verify_mode(...)); cadata
// is PEM text; contexts are shared through std::shared_ptr (a stream keeps its own alive).
#pragma once

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <any>
#include <cctype>
#include <climits>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "detail/tls_layer.hpp"
#include "exceptions.hpp"
#include "streams.hpp"

namespace asyncio::ssl {

// ------------------------------------------------------------------------------ errors
/// Python's ssl.SSLError: an OSError whose errno_ is OpenSSL's SSL_ERROR_* code (1 for a
/// protocol error). Message as Python's: "[SSL: WRONG_VERSION_NUMBER] wrong version number"
/// (without Python's " (_ssl.c:NNN)" suffix).
/// `library` / `reason` name the OpenSSL error ("SSL", "WRONG_VERSION_NUMBER"), when known.
class SSLError : public OSError {
 public:
  SSLError(int err, const std::string& what, std::string library_ = {}, std::string reason_ = {})
      : std::runtime_error(what), OSError(err, what), library(std::move(library_)), reason(std::move(reason_)) {}
  std::string library, reason;
};
/// The peer's certificate failed verification (untrusted, expired, wrong host name…).
/// verify_code is OpenSSL's X509_V_ERR_* (e.g. 18 self-signed, 10 expired, 62 host mismatch).
class SSLCertVerificationError : public SSLError {
 public:
  SSLCertVerificationError(const std::string& what, long code, std::string message)
      : std::runtime_error(what),
        SSLError(SSL_ERROR_SSL, what, "SSL", "CERTIFICATE_VERIFY_FAILED"),
        verify_code(code),
        verify_message(std::move(message)) {}
  long verify_code;
  std::string verify_message;
};
/// The TLS connection was closed cleanly (close_notify) where more was expected.
class SSLZeroReturnError : public SSLError {
 public:
  explicit SSLZeroReturnError(const std::string& what)
      : std::runtime_error(what), SSLError(SSL_ERROR_ZERO_RETURN, what) {}
};
/// The connection ended (TCP EOF) in violation of the protocol, e.g. mid-handshake.
class SSLEOFError : public SSLError {
 public:
  explicit SSLEOFError(const std::string& what) : std::runtime_error(what), SSLError(8, what) {}
};

// ------------------------------------------------------------------------------ enums
enum class Protocol { TLS_CLIENT, TLS_SERVER };
enum class Purpose { SERVER_AUTH, CLIENT_AUTH };
enum VerifyMode { CERT_NONE = 0, CERT_OPTIONAL = 1, CERT_REQUIRED = 2 };
/// Python's ssl.TLSVersion (same values: the protocol's version numbers).
enum class TLSVersion : int {
  MINIMUM_SUPPORTED = -2,
  MAXIMUM_SUPPORTED = -1,
  TLSv1 = 0x0301,
  TLSv1_1 = 0x0302,
  TLSv1_2 = 0x0303,
  TLSv1_3 = 0x0304,
};

/// load_verify_locations / create_default_context: where trusted CA certificates come from.
struct VerifyLocations {
  std::string cafile = {};  // a PEM file of CA certificates
  std::string capath = {};  // a directory of hashed CA certificates (c_rehash)
  std::string cadata = {};  // PEM text of CA certificates
};

/// Python's getpeercert() dict. RDNs are flattened to (long name, value) pairs in order:
/// subject = {{"commonName", "localhost"}}; subjectAltName = {{"DNS", "localhost"},
/// {"IP Address", "127.0.0.1"}}; dates as Python prints them ("Jan  5 09:34:43 2030 GMT").
/// As in Python, a certificate that was not verified (CERT_NONE) gives empty fields; `der`
/// (getpeercert(binary_form=True)) is always filled.
struct PeerCert {
  std::vector<std::pair<std::string, std::string>> subject, issuer, subjectAltName;
  int version = 0;
  std::string serialNumber, notBefore, notAfter;
  std::string der;
};
/// cipher(): (name, protocol version, secret bits), as Python's tuple.
using Cipher = std::tuple<std::string, std::string, int>;

class SSLContext;

namespace detail {
[[noreturn]] void raise_ssl_error(SSL* ssl, int sslerr, const std::string& hostname = {});
[[noreturn]] void raise_last_error(const std::string& fallback);
}  // namespace detail

// ------------------------------------------------------------------------------ SSLObject
/// Python's ssl.SSLObject: one connection's TLS state, from get_extra_info<SSLObject>(
/// "ssl_object") or handed to a servername callback. A handle (holds a reference on OpenSSL's
/// SSL); what it reports stays valid after the stream closes.
class SSLObject {
 public:
  SSLObject(SSL* ssl, std::shared_ptr<SSLContext> ctx) : ssl_(ssl), ctx_(std::move(ctx)) { SSL_up_ref(ssl_); }
  SSLObject(const SSLObject& o) : SSLObject(o.ssl_, o.ctx_) {}
  SSLObject& operator=(SSLObject o) noexcept {
    std::swap(ssl_, o.ssl_);
    std::swap(ctx_, o.ctx_);
    return *this;
  }
  ~SSLObject() { SSL_free(ssl_); }

  /// "TLSv1.3", "TLSv1.2" (std::nullopt before the handshake).
  std::optional<std::string> version() const {
    if (!SSL_is_init_finished(ssl_)) return std::nullopt;
    return std::string(SSL_get_version(ssl_));
  }
  std::optional<Cipher> cipher() const {
    const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
    if (!c) return std::nullopt;
    return Cipher{SSL_CIPHER_get_name(c), SSL_CIPHER_get_version(c), SSL_CIPHER_get_bits(c, nullptr)};
  }
  /// The peer's certificate (std::nullopt if it sent none). See PeerCert.
  std::optional<PeerCert> getpeercert() const;
  /// The ALPN protocol both sides agreed on, or std::nullopt.
  std::optional<std::string> selected_alpn_protocol() const {
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    if (!p || len == 0) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(p), len);
  }
  /// Always std::nullopt: compression is disabled (CRIME), as in Python.
  std::optional<std::string> compression() const { return std::nullopt; }
  bool server_side() const { return SSL_is_server(ssl_) == 1; }
  /// The name sent (client) or received (server) as SNI, if any.
  std::optional<std::string> server_hostname() const {
    const char* n = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
    if (!n) return std::nullopt;
    return std::string(n);
  }
  std::shared_ptr<SSLContext> context() const { return ctx_; }
  /// In a servername callback: continue the handshake with another context (its certificate).
  void set_context(std::shared_ptr<SSLContext> ctx);
  SSL* native_handle() const noexcept { return ssl_; }

 private:
  SSL* ssl_;
  std::shared_ptr<SSLContext> ctx_;
};

// ------------------------------------------------------------------------------ SSLContext
/// Python's ssl.SSLContext. Configure it, then share it (std::shared_ptr) with any number of
/// connections; configuring a context in use affects connections made later.
class SSLContext : public std::enable_shared_from_this<SSLContext> {
 public:
  /// Python's SSLContext(PROTOCOL_TLS_CLIENT / PROTOCOL_TLS_SERVER): a client context verifies
  /// the peer (CERT_REQUIRED) and its host name; a server one asks for no client certificate.
  /// Both: TLS >= 1.2, no compression, no renegotiation. No CA is loaded (see
  /// load_default_certs / create_default_context).
  explicit SSLContext(Protocol protocol = Protocol::TLS_CLIENT);
  SSLContext(const SSLContext&) = delete;
  SSLContext& operator=(const SSLContext&) = delete;
  ~SSLContext() { SSL_CTX_free(ctx_); }

  /// Our certificate (PEM, optionally followed by its chain) and private key (PEM; default:
  /// in certfile). OSError (ENOENT) for a missing file, SSLError for a bad one, a wrong
  /// password or a key that does not match.
  void load_cert_chain(const std::string& certfile, const std::string& keyfile = {},
                       const std::string& password = {});
  /// Trust the CA certificates given. TypeError if all three are empty.
  void load_verify_locations(const VerifyLocations& where);
  /// The system's trusted CAs (Debian: /etc/ssl/certs).
  void load_default_certs(Purpose = Purpose::SERVER_AUTH) { set_default_verify_paths(); }
  void set_default_verify_paths() {
    if (SSL_CTX_set_default_verify_paths(ctx_) != 1) detail::raise_last_error("set_default_verify_paths failed");
  }
  /// OpenSSL cipher list for TLS <= 1.2 (TLS 1.3 suites are not affected, as in Python).
  /// SSLError "No cipher can be selected." if nothing matches.
  void set_ciphers(const std::string& ciphers) {
    if (SSL_CTX_set_cipher_list(ctx_, ciphers.c_str()) != 1) {
      ERR_clear_error();
      throw SSLError(SSL_ERROR_SSL, "No cipher can be selected.");
    }
  }
  /// Protocols to offer (client) or accept (server, in this order of preference), e.g.
  /// {"h2", "http/1.1"}. ValueError for an empty or > 255-byte name.
  void set_alpn_protocols(const std::vector<std::string>& protocols);
  /// Python's sni_callback (server side): called with the connection, the name the client
  /// asked for ("" if none) and this context; it may switch the connection to another context
  /// (ssl_object.set_context(other)). An exception from it fails the handshake.
  using ServernameCallback = std::function<void(SSLObject&, const std::string&, SSLContext&)>;
  void set_servername_callback(ServernameCallback fn);

  VerifyMode verify_mode() const noexcept { return verify_mode_; }
  /// ValueError for CERT_NONE while check_hostname() is on (as Python).
  void set_verify_mode(VerifyMode mode);
  bool check_hostname() const noexcept { return check_hostname_; }
  /// Turning it on also sets CERT_REQUIRED if the mode was CERT_NONE (as Python).
  void set_check_hostname(bool on) {
    if (on && verify_mode_ == CERT_NONE) set_verify_mode(CERT_REQUIRED);
    check_hostname_ = on;
  }
  TLSVersion minimum_version() const {
    long v = SSL_CTX_get_min_proto_version(ctx_);
    return v == 0 ? TLSVersion::MINIMUM_SUPPORTED : static_cast<TLSVersion>(v);
  }
  TLSVersion maximum_version() const {
    long v = SSL_CTX_get_max_proto_version(ctx_);
    return v == 0 ? TLSVersion::MAXIMUM_SUPPORTED : static_cast<TLSVersion>(v);
  }
  void set_minimum_version(TLSVersion v) { set_version(v, true); }
  void set_maximum_version(TLSVersion v) { set_version(v, false); }
  Protocol protocol() const noexcept { return protocol_; }
  SSL_CTX* native_handle() const noexcept { return ctx_; }

 private:
  friend class SSLObject;
  static int servername_cb(SSL* ssl, int* alert, void* arg);
  static int alpn_select_cb(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                            unsigned inlen, void* arg);
  static int password_cb(char* buf, int size, int, void* userdata) {
    auto* pw = static_cast<const std::string*>(userdata);
    if (!pw || pw->empty() || static_cast<int>(pw->size()) > size) return -1;  // never a terminal prompt
    std::memcpy(buf, pw->data(), pw->size());
    return static_cast<int>(pw->size());
  }
  void set_version(TLSVersion v, bool min) {
    int n = v == TLSVersion::MINIMUM_SUPPORTED || v == TLSVersion::MAXIMUM_SUPPORTED ? 0 : static_cast<int>(v);
    int ok = min ? SSL_CTX_set_min_proto_version(ctx_, n) : SSL_CTX_set_max_proto_version(ctx_, n);
    if (ok != 1) {
      ERR_clear_error();
      throw ValueError("Unsupported TLS/SSL version 0x" + std::to_string(static_cast<int>(v)));
    }
  }

  SSL_CTX* ctx_ = nullptr;
  Protocol protocol_;
  VerifyMode verify_mode_ = CERT_NONE;
  bool check_hostname_ = false;
  std::string alpn_wire_;
  ServernameCallback sni_;
};

/// Python's ssl.create_default_context(purpose, cafile=, capath=, cadata=): SERVER_AUTH makes
/// a client context (verifies the server and its host name), CLIENT_AUTH a server context.
/// The CAs given, or the system's if none.
std::shared_ptr<SSLContext> create_default_context(Purpose purpose = Purpose::SERVER_AUTH,
                                                   const VerifyLocations& where = {});
/// Python's ssl=True for open_connection: a new create_default_context() each call.
inline std::shared_ptr<SSLContext> default_context() { return create_default_context(); }

// ------------------------------------------------------------------------------ bodies
namespace detail {

inline std::string lib_name(unsigned long e) {
  switch (ERR_GET_LIB(e)) {
    case ERR_LIB_SSL: return "SSL";
    case ERR_LIB_X509: return "X509";
    case ERR_LIB_PEM: return "PEM";
    case ERR_LIB_EVP: return "EVP";
    case ERR_LIB_ASN1: return "ASN1";
    case ERR_LIB_X509V3: return "X509V3";
    case ERR_LIB_SYS: return "SYS";
    default: {
      const char* s = ERR_lib_error_string(e);
      return s ? s : "";
    }
  }
}
/// Python's message for an OpenSSL error: "[LIB: MNEMONIC] reason".
inline std::string describe(unsigned long e, std::string& lib, std::string& mnemonic) {
  lib = lib_name(e);
  const char* r = ERR_reason_error_string(e);
  std::string reason = r ? r : ("error " + std::to_string(ERR_GET_REASON(e)));
  mnemonic.clear();
  for (char c : reason) mnemonic += c == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return "[" + lib + ": " + mnemonic + "] " + reason;
}

[[noreturn]] inline void raise_last_error(const std::string& fallback) {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (!e) throw SSLError(SSL_ERROR_SSL, fallback);
  std::string lib, mn;
  std::string msg = describe(e, lib, mn);
  throw SSLError(SSL_ERROR_SSL, msg, lib, mn);
}

inline bool is_ip_address(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

[[noreturn]] inline void raise_ssl_error(SSL* ssl, int sslerr, const std::string& hostname) {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (sslerr == SSL_ERROR_ZERO_RETURN) throw SSLZeroReturnError("TLS/SSL connection has been closed (EOF)");
  if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    long code = SSL_get_verify_result(ssl);
    std::string vm;
    if (code == X509_V_ERR_HOSTNAME_MISMATCH)
      vm = "Hostname mismatch, certificate is not valid for '" + hostname + "'.";
    else if (code == X509_V_ERR_IP_ADDRESS_MISMATCH)
      vm = "IP address mismatch, certificate is not valid for '" + hostname + "'.";
    else
      vm = X509_verify_cert_error_string(code);
    throw SSLCertVerificationError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: " + vm, code, vm);
  }
  if ((e && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
      (!e && sslerr == SSL_ERROR_SYSCALL))
    throw SSLEOFError("EOF occurred in violation of protocol");
  if (!e) throw SSLError(sslerr, "[SSL] unknown error (SSL_ERROR " + std::to_string(sslerr) + ")");
  std::string lib, mn;
  std::string msg = describe(e, lib, mn);
  throw SSLError(sslerr, msg, lib, mn);
}

inline std::vector<std::pair<std::string, std::string>> name_entries(X509_NAME* n) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!n) return out;
  for (int i = 0; i < X509_NAME_entry_count(n); ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(n, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    const char* ln = nid != NID_undef ? OBJ_nid2ln(nid) : "";
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    std::string v = len >= 0 ? std::string(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len)) : "";
    OPENSSL_free(utf8);
    out.emplace_back(ln ? ln : "", std::move(v));
  }
  return out;
}
inline std::string asn1_time(const ASN1_TIME* t) {
  BIO* b = BIO_new(BIO_s_mem());
  ASN1_TIME_print(b, t);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string s(p, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}
inline PeerCert peer_cert(X509* x, bool verified) {
  PeerCert c;
  int n = i2d_X509(x, nullptr);
  if (n > 0) {
    c.der.resize(static_cast<std::size_t>(n));
    auto* p = reinterpret_cast<unsigned char*>(c.der.data());
    i2d_X509(x, &p);
  }
  if (!verified) return c;
  c.subject = name_entries(X509_get_subject_name(x));
  c.issuer = name_entries(X509_get_issuer_name(x));
  c.version = static_cast<int>(X509_get_version(x)) + 1;
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr)) {
    char* hex = BN_bn2hex(bn);
    c.serialNumber = hex ? hex : "";
    OPENSSL_free(hex);
    BN_free(bn);
  }
  c.notBefore = asn1_time(X509_get0_notBefore(x));
  c.notAfter = asn1_time(X509_get0_notAfter(x));
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
    GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
    if (g->type == GEN_DNS) {
      auto* s = g->d.dNSName;
      c.subjectAltName.emplace_back("DNS", std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                                       static_cast<std::size_t>(ASN1_STRING_length(s))));
    } else if (g->type == GEN_IPADD) {
      auto* s = g->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = {0};
      int len = ASN1_STRING_length(s);
      if (len == 4 || len == 16) ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof buf);
      c.subjectAltName.emplace_back("IP Address", buf);
    } else if (g->type == GEN_EMAIL) {
      auto* s = g->d.rfc822Name;
      c.subjectAltName.emplace_back("email", std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                                         static_cast<std::size_t>(ASN1_STRING_length(s))));
    } else if (g->type == GEN_URI) {
      auto* s = g->d.uniformResourceIdentifier;
      c.subjectAltName.emplace_back("URI", std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                                       static_cast<std::size_t>(ASN1_STRING_length(s))));
    }
  }
  GENERAL_NAMES_free(sans);
  return c;
}

/// Which TlsEngine an SSL belongs to (for the servername callback, which may switch its context).
inline int engine_index() {
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

/// The TlsLayer of one stream: an SSL between two memory BIOs.
class TlsEngine final : public asyncio::detail::TlsLayer {
 public:
  TlsEngine(std::shared_ptr<SSLContext> ctx, bool server_side, const std::string& hostname)
      : ctx_(std::move(ctx)), initial_ctx_(ctx_), hostname_(hostname) {
    if (server_side && ctx_->protocol() != Protocol::TLS_SERVER)
      throw ValueError("Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
    if (!server_side && ctx_->protocol() != Protocol::TLS_CLIENT)
      throw ValueError("Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
    if (!server_side && ctx_->check_hostname() && hostname.empty())
      throw ValueError("check_hostname requires server_hostname");
    ssl_ = SSL_new(ctx_->native_handle());
    if (!ssl_) raise_last_error("SSL_new failed");
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    if (!rbio || !wbio) {
      BIO_free(rbio);
      BIO_free(wbio);
      SSL_free(ssl_);
      throw std::bad_alloc();
    }
    BIO_set_mem_eof_return(rbio, -1);  // empty: "want read", never EOF (the stream says EOF)
    SSL_set_bio(ssl_, rbio, wbio);
    rbio_ = rbio;
    wbio_ = wbio;
    SSL_set_ex_data(ssl_, engine_index(), this);
    if (server_side) {
      SSL_set_accept_state(ssl_);
    } else {
      SSL_set_connect_state(ssl_);
      if (!hostname.empty()) {
        bool ip = is_ip_address(hostname);
        if (!ip) SSL_set_tlsext_host_name(ssl_, hostname.c_str());  // SNI (never for an address)
        if (ctx_->check_hostname()) {
          X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
          X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
          int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, hostname.c_str())
                      : X509_VERIFY_PARAM_set1_host(param, hostname.c_str(), hostname.size());
          if (ok != 1) {
            ERR_clear_error();
            SSL_free(ssl_);
            throw ValueError("invalid server_hostname '" + hostname + "'");
          }
        }
      }
    }
  }
  ~TlsEngine() override {
    SSL_set_ex_data(ssl_, engine_index(), nullptr);  // an SSLObject handle may keep ssl_ alive
    SSL_free(ssl_);
  }

  void feed(const char* p, std::size_t n) override {
    while (n > 0) {
      int chunk = static_cast<int>(std::min<std::size_t>(n, INT_MAX));
      int k = BIO_write(rbio_, p, chunk);
      if (k <= 0) throw std::bad_alloc();
      p += k;
      n -= static_cast<std::size_t>(k);
    }
  }
  [[noreturn]] void feed_eof_in_handshake() override { throw SSLEOFError("EOF occurred in violation of protocol"); }
  Status handshake() override {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r == 1) return Status::Ok;
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ) return Status::WantRead;
    raise_ssl_error(ssl_, e, hostname_);
  }
  bool handshake_done() const noexcept override { return SSL_is_init_finished(ssl_) == 1; }
  std::size_t read(char* p, std::size_t n, Status& st) override {
    ERR_clear_error();
    std::size_t got = 0;
    int r = SSL_read_ex(ssl_, p, n, &got);
    if (r == 1) return got;
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ) {
      st = Status::WantRead;
      return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      st = Status::Closed;
      return 0;
    }
    raise_ssl_error(ssl_, e, hostname_);
  }
  void write(const char* p, std::size_t n) override {
    ERR_clear_error();
    std::size_t done = 0;
    if (SSL_write_ex(ssl_, p, n, &done) == 1 && done == n) return;
    raise_ssl_error(ssl_, SSL_get_error(ssl_, 0), hostname_);
  }
  void shutdown() noexcept override {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  std::size_t pending() const noexcept override { return BIO_ctrl_pending(wbio_); }
  std::size_t take(char* p, std::size_t n) noexcept override {
    int k = BIO_read(wbio_, p, static_cast<int>(std::min<std::size_t>(n, INT_MAX)));
    return k > 0 ? static_cast<std::size_t>(k) : 0;
  }
  std::any extra_info(std::string_view name) const override {
    if (name == "sslcontext") return ctx_;
    if (name == "ssl_object") return SSLObject(ssl_, ctx_);
    if (name == "compression") return {};
    if (!handshake_done()) return {};
    SSLObject obj(ssl_, ctx_);
    if (name == "peercert") {
      auto c = obj.getpeercert();
      return c ? std::any(std::move(*c)) : std::any();
    }
    if (name == "cipher") {
      auto c = obj.cipher();
      return c ? std::any(std::move(*c)) : std::any();
    }
    return {};
  }

  std::shared_ptr<SSLContext> ctx_;

 private:
  // The context the SSL was made from: OpenSSL keeps using it (its callbacks, the session cache)
  // after a servername callback switched ctx_, so it lives as long as the SSL.
  std::shared_ptr<SSLContext> initial_ctx_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;
  BIO* wbio_ = nullptr;
  std::string hostname_;
};

inline std::unique_ptr<asyncio::detail::TlsLayer> make_engine(const std::shared_ptr<SSLContext>& ctx, bool server_side,
                                                              const std::string& hostname) {
  return std::make_unique<TlsEngine>(ctx, server_side, hostname);
}

inline bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}
[[noreturn]] inline void raise_missing(const std::string& path) {
  throw OSError(ENOENT, OSError::format(ENOENT, "'" + path + "'"));
}

}  // namespace detail

inline std::optional<PeerCert> SSLObject::getpeercert() const {
  X509* x = SSL_get1_peer_certificate(ssl_);
  if (!x) return std::nullopt;
  bool verified = SSL_get_verify_mode(ssl_) != SSL_VERIFY_NONE && SSL_get_verify_result(ssl_) == X509_V_OK;
  PeerCert c = detail::peer_cert(x, verified);
  X509_free(x);
  return c;
}

inline void SSLObject::set_context(std::shared_ptr<SSLContext> ctx) {
  if (!ctx) throw ValueError("set_context: no context");
  if (!SSL_set_SSL_CTX(ssl_, ctx->native_handle())) detail::raise_last_error("SSL_set_SSL_CTX failed");
  if (auto* e = static_cast<detail::TlsEngine*>(SSL_get_ex_data(ssl_, detail::engine_index()))) e->ctx_ = ctx;
  ctx_ = std::move(ctx);
}

inline SSLContext::SSLContext(Protocol protocol) : protocol_(protocol) {
  ctx_ = SSL_CTX_new(protocol == Protocol::TLS_CLIENT ? TLS_client_method() : TLS_server_method());
  if (!ctx_) detail::raise_last_error("SSL_CTX_new failed");
  SSL_CTX_set_options(ctx_, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_DH_USE |
                                SSL_OP_SINGLE_ECDH_USE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_default_passwd_cb(ctx_, &SSLContext::password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx_, nullptr);
  if (protocol == Protocol::TLS_CLIENT) {
    set_verify_mode(CERT_REQUIRED);
    check_hostname_ = true;
  } else {
    set_verify_mode(CERT_NONE);
  }
  asyncio::detail::tls_layer_factory.store(&detail::make_engine, std::memory_order_release);
}

inline void SSLContext::set_verify_mode(VerifyMode mode) {
  if (mode == CERT_NONE && check_hostname_)
    throw ValueError("Cannot set verify_mode to CERT_NONE when check_hostname is enabled.");
  int m = SSL_VERIFY_NONE;
  if (mode == CERT_OPTIONAL) m = SSL_VERIFY_PEER;
  if (mode == CERT_REQUIRED)
    m = protocol_ == Protocol::TLS_SERVER ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER;
  SSL_CTX_set_verify(ctx_, m, nullptr);
  verify_mode_ = mode;
}

inline void SSLContext::load_cert_chain(const std::string& certfile, const std::string& keyfile,
                                        const std::string& password) {
  if (!detail::file_exists(certfile)) detail::raise_missing(certfile);
  const std::string& kf = keyfile.empty() ? certfile : keyfile;
  if (!detail::file_exists(kf)) detail::raise_missing(kf);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx_, certfile.c_str()) != 1)
    detail::raise_last_error("[SSL] PEM lib");
  SSL_CTX_set_default_passwd_cb_userdata(ctx_, const_cast<std::string*>(&password));
  int ok = SSL_CTX_use_PrivateKey_file(ctx_, kf.c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_set_default_passwd_cb_userdata(ctx_, nullptr);
  if (ok != 1) detail::raise_last_error("[SSL] PEM lib");
  if (SSL_CTX_check_private_key(ctx_) != 1) detail::raise_last_error("[SSL] key values mismatch");
}

inline void SSLContext::load_verify_locations(const VerifyLocations& where) {
  if (where.cafile.empty() && where.capath.empty() && where.cadata.empty())
    throw TypeError("cafile, capath and cadata cannot be all omitted");
  ERR_clear_error();
  if (!where.cafile.empty() && !detail::file_exists(where.cafile)) detail::raise_missing(where.cafile);
  if (!where.capath.empty() && !detail::file_exists(where.capath)) detail::raise_missing(where.capath);
  if (!where.cafile.empty() || !where.capath.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, where.cafile.empty() ? nullptr : where.cafile.c_str(),
                                      where.capath.empty() ? nullptr : where.capath.c_str()) != 1)
      detail::raise_last_error("load_verify_locations failed");
  }
  if (!where.cadata.empty()) {
    BIO* b = BIO_new_mem_buf(where.cadata.data(), static_cast<int>(where.cadata.size()));
    if (!b) throw std::bad_alloc();
    X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
    int loaded = 0;
    while (X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, x);  // (a duplicate is not an error)
      X509_free(x);
      ++loaded;
    }
    BIO_free(b);
    ERR_clear_error();  // the read that ended the loop
    if (loaded == 0)
      throw SSLError(SSL_ERROR_SSL, "[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found", "X509",
                     "NO_CERTIFICATE_OR_CRL_FOUND");
  }
}

inline void SSLContext::set_alpn_protocols(const std::vector<std::string>& protocols) {
  std::string wire;
  for (auto& p : protocols) {
    if (p.empty() || p.size() > 255) throw ValueError("ALPN protocols must be 1 to 255 in length");
    wire += static_cast<char>(p.size());
    wire += p;
  }
  alpn_wire_ = std::move(wire);
  if (protocol_ == Protocol::TLS_CLIENT) {
    if (SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(alpn_wire_.data()),
                                static_cast<unsigned>(alpn_wire_.size())) != 0)
      detail::raise_last_error("set_alpn_protocols failed");
  } else {
    SSL_CTX_set_alpn_select_cb(ctx_, &SSLContext::alpn_select_cb, this);
  }
}

inline int SSLContext::alpn_select_cb(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                                      unsigned inlen, void* arg) {
  auto* self = static_cast<SSLContext*>(arg);
  if (self->alpn_wire_.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* o = nullptr;
  int r = SSL_select_next_proto(&o, outlen, reinterpret_cast<const unsigned char*>(self->alpn_wire_.data()),
                                static_cast<unsigned>(self->alpn_wire_.size()), in, inlen);
  if (r != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

inline void SSLContext::set_servername_callback(ServernameCallback fn) {
  sni_ = std::move(fn);
  if (sni_) {
    SSL_CTX_set_tlsext_servername_callback(ctx_, &SSLContext::servername_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx_, this);
  } else {
    SSL_CTX_set_tlsext_servername_callback(ctx_, nullptr);
  }
}

inline int SSLContext::servername_cb(SSL* ssl, int* alert, void* arg) {
  auto* self = static_cast<SSLContext*>(arg);
  const char* n = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  std::string name = n ? n : "";
  try {
    auto* e = static_cast<detail::TlsEngine*>(SSL_get_ex_data(ssl, detail::engine_index()));
    SSLObject obj(ssl, e ? e->ctx_ : self->shared_from_this());
    self->sni_(obj, name, *self);
  } catch (...) {
    *alert = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

inline std::shared_ptr<SSLContext> create_default_context(Purpose purpose, const VerifyLocations& where) {
  auto ctx = std::make_shared<SSLContext>(purpose == Purpose::SERVER_AUTH ? Protocol::TLS_CLIENT
                                                                          : Protocol::TLS_SERVER);
  if (!where.cafile.empty() || !where.capath.empty() || !where.cadata.empty())
    ctx->load_verify_locations(where);
  else
    ctx->load_default_certs(purpose);
  return ctx;
}

}  // namespace asyncio::ssl
