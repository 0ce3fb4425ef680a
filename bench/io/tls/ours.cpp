// TLS workloads (ours): asyncio::open_connection / start_server with `.ssl`, one process, one loop.
//   ours echo      N CERT KEY : 50 TLS connections, 64-byte ping-pong, N round trips in all
//   ours bulk      N CERT KEY : one TLS connection, the client sends N bytes (64 KiB writes), the
//                               server counts them and answers 1 byte; N = bytes moved
//   ours handshake N CERT KEY : N sequential connections: connect + full handshake (client
//                               verifies the certificate and host name) + 1-byte echo + close
// The certificate is self-signed (CN/SAN localhost); the client trusts it as its CA, so both
// ends do what a real deployment does (certificate chain and host name checked).
// Prints the one tab-separated line of bench_common.hpp; the negotiated cipher goes to stderr as
// "cipher <name>" (bench/io/run.py picks the `openssl speed` ceiling from it).
#include <asyncio/asyncio.hpp>
#include <asyncio/ssl.hpp>

#include <string>

#include "bench_common.hpp"

namespace ssl = asyncio::ssl;

static constexpr int kConns = 50;
static constexpr long long kMsg = 64;
static constexpr std::size_t kChunk = 64 * 1024;

static std::string g_cert, g_key;

static std::shared_ptr<ssl::SSLContext> server_ctx() {
  auto ctx = std::make_shared<ssl::SSLContext>(ssl::Protocol::TLS_SERVER);
  ctx->load_cert_chain(g_cert, g_key);
  return ctx;
}
static std::shared_ptr<ssl::SSLContext> client_ctx() {
  ssl::VerifyLocations where{.cafile = g_cert};
  return ssl::create_default_context(ssl::Purpose::SERVER_AUTH, where);
}

// ------------------------------------------------------------------ echo
static asyncio::Task<> echo_handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  try {
    for (;;) {
      std::string data = co_await reader.readexactly(kMsg);
      writer.write(data);
      co_await writer.drain();
    }
  } catch (const asyncio::IncompleteReadError&) {
  }
  writer.close();
}

static asyncio::Task<> echo_client(int port, std::shared_ptr<ssl::SSLContext> ctx, std::size_t rounds,
                                   int& connected, asyncio::Event& all_connected, asyncio::Event& gate) {
  asyncio::ConnectOptions co{.ssl = ctx, .server_hostname = "localhost"};
  auto conn = co_await asyncio::open_connection("127.0.0.1", port, co);
  auto& [reader, writer] = conn;
  if (++connected == kConns) all_connected.set();
  co_await gate.wait();
  std::string payload(kMsg, 'x');
  for (std::size_t r = 0; r < rounds; ++r) {
    payload[0] = static_cast<char>(r & 0x7f);
    writer.write(payload);
    co_await writer.drain();
    std::string data = co_await reader.readexactly(kMsg);
    if (data[0] != payload[0]) throw asyncio::RuntimeError("echo mismatch");
  }
  writer.close();
  co_await writer.wait_closed();
}

static asyncio::Task<> run_echo(std::size_t n) {
  asyncio::ServerOptions so{.ssl = server_ctx()};
  auto server = co_await asyncio::start_server(echo_handle, "127.0.0.1", 0, so);
  int port = server.port();
  auto cctx = client_ctx();
  std::size_t rounds = std::max<std::size_t>(1, n / kConns);
  int connected = 0;
  asyncio::Event all_connected, gate;
  std::vector<asyncio::TaskHandle<>> clients;
  for (int i = 0; i < kConns; ++i)
    clients.push_back(asyncio::create_task(echo_client(port, cctx, rounds, connected, all_connected, gate)));
  co_await all_connected.wait();
  const auto t0 = bench::clock::now();
  gate.set();
  co_await asyncio::gather(clients);
  const double secs = bench::seconds_since(t0);
  server.close();
  co_await server.wait_closed();
  bench::report("tls_echo", "ours", rounds * kConns, secs);
}

// ------------------------------------------------------------------ bulk
static std::size_t g_bulk_total = 0;

static asyncio::Task<> bulk_handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  std::size_t got = 0;
  while (got < g_bulk_total) {
    std::string d = co_await reader.read(static_cast<long long>(kChunk));
    if (d.empty()) throw asyncio::RuntimeError("bulk: early EOF");
    got += d.size();
  }
  writer.write("k");
  co_await writer.drain();
  writer.close();
}

static asyncio::Task<> run_bulk(std::size_t n) {
  g_bulk_total = n;
  asyncio::ServerOptions so{.ssl = server_ctx()};
  auto server = co_await asyncio::start_server(bulk_handle, "127.0.0.1", 0, so);
  asyncio::ConnectOptions co{.ssl = client_ctx(), .server_hostname = "localhost"};
  auto conn = co_await asyncio::open_connection("127.0.0.1", server.port(), co);
  auto& [reader, writer] = conn;
  if (auto c = writer.get_extra_info<ssl::Cipher>("cipher"))
    std::fprintf(stderr, "cipher %s %s\n", std::get<0>(*c).c_str(), std::get<1>(*c).c_str());
  std::string chunk(kChunk, 'b');
  const auto t0 = bench::clock::now();
  for (std::size_t sent = 0; sent < n;) {
    std::size_t k = std::min(kChunk, n - sent);
    if (k == kChunk)
      writer.write(chunk);
    else
      writer.write(std::string_view(chunk).substr(0, k));
    co_await writer.drain();
    sent += k;
  }
  std::string ack = co_await reader.readexactly(1);
  const double secs = bench::seconds_since(t0);
  if (ack != "k") throw asyncio::RuntimeError("bulk: bad ack");
  writer.close();
  co_await writer.wait_closed();
  server.close();
  co_await server.wait_closed();
  bench::report("tls_bulk", "ours", n, secs);
}

// ------------------------------------------------------------------ handshake
static asyncio::Task<> hs_handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  try {
    std::string d = co_await reader.readexactly(1);
    writer.write(d);
    co_await writer.drain();
  } catch (const std::exception&) {
  }
  writer.close();
}

static asyncio::Task<> run_handshake(std::size_t n) {
  asyncio::ServerOptions so{.ssl = server_ctx()};
  auto server = co_await asyncio::start_server(hs_handle, "127.0.0.1", 0, so);
  int port = server.port();
  auto cctx = client_ctx();
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    asyncio::ConnectOptions co{.ssl = cctx, .server_hostname = "localhost"};
    auto conn = co_await asyncio::open_connection("127.0.0.1", port, co);
    auto& [reader, writer] = conn;
    writer.write("h");
    co_await writer.drain();
    std::string d = co_await reader.readexactly(1);
    if (d != "h") throw asyncio::RuntimeError("handshake: bad echo");
    writer.close();
    co_await writer.wait_closed();
  }
  const double secs = bench::seconds_since(t0);
  server.close();
  co_await server.wait_closed();
  bench::report("tls_handshake", "ours", n, secs);
}

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s echo|bulk|handshake N CERT KEY\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const std::size_t n = bench::arg_size(argc, argv, 2, 1);
  g_cert = argv[3];
  g_key = argv[4];
  if (mode == "echo") asyncio::run(run_echo(n));
  else if (mode == "bulk") asyncio::run(run_bulk(n));
  else if (mode == "handshake") asyncio::run(run_handshake(n));
  else return 2;
  return 0;
}
