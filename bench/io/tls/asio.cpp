// TLS workloads (Asio peer): asio::ssl::stream<tcp::socket> with C++20 coroutines
// (use_awaitable), one process, one thread, io_context(1). Same three modes as ours.cpp:
//   asio echo      N CERT KEY : 50 connections, 64-byte ping-pong, N round trips in all
//   asio bulk      N CERT KEY : one connection, N bytes client -> server in 64 KiB writes,
//                               server reads with 64 KiB async_read_some, answers 1 byte
//   asio handshake N CERT KEY : N sequential connect + handshake + 1-byte echo + close
// The client verifies like ours: verify_peer against the self-signed certificate, host name
// "localhost" (asio::ssl::host_name_verification), SNI set. TCP_NODELAY on both ends (our
// streams set it). Differences that favour Asio: the handshake client closes the TCP socket
// without a close_notify (ours sends one); the server contexts use Asio's defaults
// (ssl::context::tls_server + default_workarounds, as ours uses OpenSSL's defaults).
#include "../../asio/asio_common.hpp"

#include <asio/ssl.hpp>

#include <array>
#include <cstring>
#include <string>

using asio::ip::tcp;
using tls_stream = asio::ssl::stream<tcp::socket>;

static constexpr std::size_t kConns = 50;
static constexpr std::size_t kMsg = 64;
static constexpr std::size_t kChunk = 64 * 1024;

static std::string g_cert, g_key;

static asio::ssl::context make_server_ctx() {
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  ctx.set_options(asio::ssl::context::default_workarounds);
  ctx.use_certificate_chain_file(g_cert);
  ctx.use_private_key_file(g_key, asio::ssl::context::pem);
  return ctx;
}
static asio::ssl::context make_client_ctx() {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(g_cert);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

static asio::awaitable<tls_stream> connect_tls(tcp::endpoint ep, asio::ssl::context& cctx) {
  tls_stream s(co_await asio::this_coro::executor, cctx);
  co_await s.next_layer().async_connect(ep, asio::use_awaitable);
  s.next_layer().set_option(tcp::no_delay(true));
  SSL_set_tlsext_host_name(s.native_handle(), "localhost");
  s.set_verify_callback(asio::ssl::host_name_verification("localhost"));
  co_await s.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  co_return s;
}

// Accept loop: each accepted socket is handshaken and handed to `session` in its own coroutine.
template <class Session>
static asio::awaitable<void> serve(tcp::acceptor& acc, asio::ssl::context& sctx, Session session) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    asio::error_code ec;
    tcp::socket sock = co_await acc.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // acceptor closed
    sock.set_option(tcp::no_delay(true));
    asio::co_spawn(
        ex,
        [](tcp::socket sock, asio::ssl::context& sctx, Session session) -> asio::awaitable<void> {
          tls_stream s(std::move(sock), sctx);
          asio::error_code ec;
          co_await s.async_handshake(asio::ssl::stream_base::server,
                                     asio::redirect_error(asio::use_awaitable, ec));
          if (ec) co_return;
          co_await session(s);
        }(std::move(sock), sctx, session),
        bench_asio::rethrow_if);
  }
}

// ------------------------------------------------------------------ echo
static asio::awaitable<void> echo_session(tls_stream& s) {
  std::array<char, kMsg> buf;
  for (;;) {
    asio::error_code ec;
    co_await asio::async_read(s, asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    co_await asio::async_write(s, asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
}

struct gate_state {
  explicit gate_state(const asio::any_io_executor& ex)
      : connected(ex), finished(ex), gate(ex, asio::steady_timer::time_point::max()) {}
  bench_asio::wait_group connected, finished;
  asio::steady_timer gate;
  bool open = false;
};

static asio::awaitable<void> echo_client(tcp::endpoint ep, asio::ssl::context& cctx, std::size_t rounds,
                                         gate_state& st) {
  tls_stream s = co_await connect_tls(ep, cctx);
  st.connected.done();
  while (!st.open) {
    asio::error_code ec;
    co_await st.gate.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  std::array<char, kMsg> out, in;
  std::memset(out.data(), 'x', kMsg);
  for (std::size_t r = 0; r < rounds; ++r) {
    out[0] = static_cast<char>(r & 0x7f);
    co_await asio::async_write(s, asio::buffer(out), asio::use_awaitable);
    co_await asio::async_read(s, asio::buffer(in), asio::use_awaitable);
    if (in[0] != out[0]) throw std::runtime_error("tls_echo: echo mismatch");
  }
  // A clean TLS close: our close_notify; the server's session ends on it.
  asio::error_code ec;
  co_await s.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  st.finished.done();
}

static asio::awaitable<void> run_echo(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  auto sctx = make_server_ctx();
  auto cctx = make_client_ctx();
  tcp::acceptor acc(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const tcp::endpoint ep = acc.local_endpoint();
  asio::co_spawn(ex, serve(acc, sctx, echo_session), bench_asio::rethrow_if);
  const std::size_t rounds = n / kConns ? n / kConns : 1;
  gate_state st(ex);
  st.connected.add(kConns);
  st.finished.add(kConns);
  for (std::size_t i = 0; i < kConns; ++i) asio::co_spawn(ex, echo_client(ep, cctx, rounds, st), bench_asio::rethrow_if);
  co_await st.connected.wait();
  const auto t0 = bench::clock::now();
  st.open = true;
  st.gate.cancel();
  co_await st.finished.wait();
  const double secs = bench::seconds_since(t0);
  acc.close();
  bench::report("tls_echo", "asio", rounds * kConns, secs);
}

// ------------------------------------------------------------------ bulk
static std::size_t g_bulk_total = 0;

static asio::awaitable<void> bulk_session(tls_stream& s) {
  std::vector<char> buf(kChunk);
  std::size_t got = 0;
  while (got < g_bulk_total) got += co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
  co_await asio::async_write(s, asio::buffer("k", 1), asio::use_awaitable);
  asio::error_code ec;
  co_await s.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
}

static asio::awaitable<void> run_bulk(std::size_t n) {
  g_bulk_total = n;
  auto ex = co_await asio::this_coro::executor;
  auto sctx = make_server_ctx();
  auto cctx = make_client_ctx();
  tcp::acceptor acc(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  asio::co_spawn(ex, serve(acc, sctx, bulk_session), bench_asio::rethrow_if);
  tls_stream s = co_await connect_tls(acc.local_endpoint(), cctx);
  std::fprintf(stderr, "cipher %s %s\n", SSL_get_cipher_name(s.native_handle()), SSL_get_version(s.native_handle()));
  std::vector<char> chunk(kChunk, 'b');
  const auto t0 = bench::clock::now();
  for (std::size_t sent = 0; sent < n;) {
    std::size_t k = std::min(kChunk, n - sent);
    co_await asio::async_write(s, asio::buffer(chunk.data(), k), asio::use_awaitable);
    sent += k;
  }
  char ack = 0;
  co_await asio::async_read(s, asio::buffer(&ack, 1), asio::use_awaitable);
  const double secs = bench::seconds_since(t0);
  if (ack != 'k') throw std::runtime_error("bulk: bad ack");
  asio::error_code ec;
  co_await s.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  acc.close();
  bench::report("tls_bulk", "asio", n, secs);
}

// ------------------------------------------------------------------ handshake
static asio::awaitable<void> hs_session(tls_stream& s) {
  char c;
  asio::error_code ec;
  co_await asio::async_read(s, asio::buffer(&c, 1), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  co_await asio::async_write(s, asio::buffer(&c, 1), asio::redirect_error(asio::use_awaitable, ec));
  // Wait for the client's end (EOF / truncation) before the socket goes.
  co_await asio::async_read(s, asio::buffer(&c, 1), asio::redirect_error(asio::use_awaitable, ec));
}

static asio::awaitable<void> run_handshake(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  auto sctx = make_server_ctx();
  auto cctx = make_client_ctx();
  tcp::acceptor acc(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const tcp::endpoint ep = acc.local_endpoint();
  asio::co_spawn(ex, serve(acc, sctx, hs_session), bench_asio::rethrow_if);
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    tls_stream s = co_await connect_tls(ep, cctx);
    char c = 'h', back = 0;
    co_await asio::async_write(s, asio::buffer(&c, 1), asio::use_awaitable);
    co_await asio::async_read(s, asio::buffer(&back, 1), asio::use_awaitable);
    if (back != 'h') throw std::runtime_error("handshake: bad echo");
    s.next_layer().close();  // no close_notify (cheaper than ours, which sends one)
  }
  const double secs = bench::seconds_since(t0);
  acc.close();
  bench::report("tls_handshake", "asio", n, secs);
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
  asio::io_context ctx(1);
  if (mode == "echo") asio::co_spawn(ctx, run_echo(n), bench_asio::rethrow_if);
  else if (mode == "bulk") asio::co_spawn(ctx, run_bulk(n), bench_asio::rethrow_if);
  else if (mode == "handshake") asio::co_spawn(ctx, run_handshake(n), bench_asio::rethrow_if);
  else return 2;
  ctx.run();
  return 0;
}
