// libFuzzer target: the server side of a TLS handshake fed arbitrary bytes through the memory
// BIO, as a stream feeds it what the socket read (ssl.hpp's TlsEngine, the TlsLayer streams
// drive). Every input must end in progress or an ssl::SSLError (an OSError); nothing else may
// escape, and ASan/UBSan/LSan must stay quiet. The first byte of the input picks the size of
// the pieces the rest is fed in (1..256 bytes), so record boundaries fall anywhere.
// Seed: fuzz/corpus/tls_handshake/ holds a real ClientHello (TLS 1.3, SNI, ALPN) from our client.
#include <asyncio/ssl.hpp>

#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace {
// A throwaway self-signed P-256 certificate and key, for this fuzzer only.
const char kCert[] = R"(-----BEGIN CERTIFICATE-----
MIIBhzCCASygAwIBAgIUYyxhtCJDmnYIRb4aMWTFhKhC8tEwCgYIKoZIzj0EAwIw
DzENMAsGA1UEAwwEZnV6ejAgFw0yNjEyMDYxODIxMThaGA8yMTI2MTExMjE4MjEx
OFowDzENMAsGA1UEAwwEZnV6ejBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNvS
M88QaFaatJs5lhoYCHKrzhUbrn8qcfNm+AxGGzY/tqwwJlWB/MDoQAOu8I8u4rWH
lU9FX9a7TdyDjdVJukKjZDBiMB0GA1UdDgQWBBTtWcncQ+sFkM+iiHqsbSkAjnPY
5DAfBgNVHSMEGDAWgBTtWcncQ+sFkM+iiHqsbSkAjnPY5DAPBgNVHRMBAf8EBTAD
AQH/MA8GA1UdEQQIMAaCBGZ1enowCgYIKoZIzj0EAwIDSQAwRgIhAJTrC9zFEKGp
8R9v1nE4jLMV69hQp/M9ftmDt42Byt51AiEArzJhbMfxEMNPlq3t8PlCZGqcTr/G
/i1emEs93gHQRpI=
-----END CERTIFICATE-----
)";
const char kKey[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAjvWYxwmfRYhP5OE
x0hUESf4HVGh9CdQjHnlBLRGMqyhRANCAATb0jPPEGhWmrSbOZYaGAhyq84VG65/
KnHzZvgMRhs2P7asMCZVgfzA6EADrvCPLuK1h5VPRV/Wu03cg43VSbpC
-----END PRIVATE KEY-----
)";

std::shared_ptr<asyncio::ssl::SSLContext> make_server_context() {
  auto ctx = std::make_shared<asyncio::ssl::SSLContext>(asyncio::ssl::Protocol::TLS_SERVER);
  BIO* cb = BIO_new_mem_buf(kCert, -1);
  BIO* kb = BIO_new_mem_buf(kKey, -1);
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  SSL_CTX_use_certificate(ctx->native_handle(), cert);
  SSL_CTX_use_PrivateKey(ctx->native_handle(), key);
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cb);
  BIO_free(kb);
  std::vector<std::string> alpn{"h2", "http/1.1"};
  ctx->set_alpn_protocols(alpn);
  return ctx;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto ctx = make_server_context();
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0];
  ++data;
  --size;
  using Status = asyncio::detail::TlsLayer::Status;
  asyncio::ssl::detail::TlsEngine engine(ctx, true, "");
  char out[4096];
  char plain[4096];
  try {
    std::size_t off = 0;
    bool done = false;
    while (off < size) {
      std::size_t n = std::min(piece, size - off);
      engine.feed(reinterpret_cast<const char*>(data) + off, n);
      off += n;
      if (!done) done = engine.handshake() == Status::Ok;
      if (done) {
        Status st = Status::Ok;
        while (engine.read(plain, sizeof plain, st) > 0) {
        }
        if (st == Status::Closed) break;
      }
      while (engine.take(out, sizeof out) > 0) {  // what would go to the socket
      }
    }
    (void)engine.extra_info("peercert");
    (void)engine.extra_info("cipher");
    engine.shutdown();
  } catch (const asyncio::ssl::SSLError&) {
    // the clean failure: the stream closes the connection with this error
  }
  return 0;
}
