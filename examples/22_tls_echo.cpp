// 22_tls_echo.cpp — an echo server and its client over TLS, in one program.
//
// The Python it follows (asyncio + ssl):
//
//   server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
//   server_ctx.load_cert_chain("server.pem", "server.key")
//   server = await asyncio.start_server(handle_echo, "127.0.0.1", 0, ssl=server_ctx)
//
//   client_ctx = ssl.create_default_context(cafile="ca.pem")   # verifies cert and host name
//   reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx,
//                                                  server_hostname="localhost")
//
// A real server gets its certificate from a CA (Let's Encrypt…); to stay self-contained this
// program makes a throwaway CA and a certificate for "localhost" with the `openssl` command
// (Debian package `openssl`) in a temporary directory first. Build with the CMake target
// asyncio::ssl (it adds OpenSSL).
#include <asyncio/asyncio.hpp>
#include <asyncio/ssl.hpp>  // not part of asyncio.hpp: only TLS programs link OpenSSL

#include <cstdio>
#include <cstdlib>
#include <string>

namespace ssl = asyncio::ssl;

// The same handler as a plain TCP echo server: TLS is invisible once the connection is up.
asyncio::Task<> handle_echo(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  std::string line = co_await reader.readline();
  // What TLS adds to get_extra_info: the negotiated cipher, the certificate, the SSLObject.
  auto cipher = writer.get_extra_info<ssl::Cipher>("cipher");
  std::printf("server: got %zu bytes over %s\n", line.size(), std::get<1>(*cipher).c_str());
  writer.write(line);
  co_await writer.drain();
  writer.close();  // sends TLS's close_notify after the data
  co_await writer.wait_closed();
}

// Makes ca.pem and a certificate for localhost / 127.0.0.1 signed by it (blocking, before the
// loop starts: a real program loads files it already has).
std::string make_certificates() {
  char tmpl[] = "/tmp/asyncio_tls_echo_XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  std::string cmd = "cd " + dir + " && openssl req -x509" + ec + "-keyout ca.key -out ca.pem -days 1 -subj '/CN=demo CA'" +
                    " && openssl req" + ec + "-keyout server.key -out server.csr -subj '/CN=localhost'" +
                    " && echo 'subjectAltName=DNS:localhost,IP:127.0.0.1' > san.ext" +
                    " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1" +
                    " -extfile san.ext -out server.pem";
  if (std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) != 0) {
    std::fprintf(stderr, "openssl failed (is the `openssl` package installed?)\n");
    std::exit(1);
  }
  return dir;
}

asyncio::Task<> main_async(std::string dir) {
  // Server side: a TLS_SERVER context holding our certificate and its key.
  auto server_ctx = std::make_shared<ssl::SSLContext>(ssl::Protocol::TLS_SERVER);
  server_ctx->load_cert_chain(dir + "/server.pem", dir + "/server.key");
  // Options are built in a variable first, never inside the co_await (see README, "GCC 12").
  asyncio::ServerOptions server_opts{.ssl = server_ctx};
  auto server = co_await asyncio::start_server(handle_echo, "127.0.0.1", 0, server_opts);
  std::printf("serving TLS on 127.0.0.1:%d\n", server.port());

  // Client side: trust our CA only; the certificate must name the host we asked for.
  ssl::VerifyLocations ca{.cafile = dir + "/ca.pem"};
  auto client_ctx = ssl::create_default_context(ssl::Purpose::SERVER_AUTH, ca);
  asyncio::ConnectOptions connect_opts{.ssl = client_ctx, .server_hostname = "localhost"};
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", server.port(), connect_opts);
  auto cert = writer.get_extra_info<ssl::PeerCert>("peercert");
  std::printf("client: server certificate for %s, issued by %s\n", cert->subject[0].second.c_str(),
              cert->issuer[0].second.c_str());
  writer.write("hello, encrypted world\n");
  std::string echoed = co_await reader.readline();
  std::printf("client: echoed %s", echoed.c_str());
  writer.close();
  co_await writer.wait_closed();

  // A client that trusts only the system's CAs refuses our home-made certificate.
  asyncio::ConnectOptions strict{.ssl = ssl::default_context(), .server_hostname = "localhost"};
  try {
    auto rw = co_await asyncio::open_connection("127.0.0.1", server.port(), strict);
  } catch (const ssl::SSLCertVerificationError& e) {
    std::printf("default context: refused (%s)\n", e.verify_message.c_str());
  }
  server.close();
  co_await server.wait_closed();
}

int main() {
  std::string dir = make_certificates();
  asyncio::run(main_async(dir));
  std::system(("rm -rf '" + dir + "'").c_str());
}
