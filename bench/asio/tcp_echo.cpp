// tcp_echo (Asio peer): one process, one thread, one io_context.  An echo
// server on 127.0.0.1 (ephemeral port) and CONNS=50 client coroutines; each
// client does N/50 round trips of: async_write 64 bytes, async_read exactly 64
// bytes back.  The server spawns one session coroutine per accepted socket that
// async_read()s exactly 64 bytes and async_write()s them back.
// TCP_NODELAY is set on both ends (Python asyncio streams set it by default).
// Timing starts once all 50 connections are established (a start gate =
// cancellable steady_timer), ends when every client has finished its trips.
// ops_per_sec = round trips per second over all connections.
#include "asio_common.hpp"

#include <array>
#include <cstdio>
#include <cstring>

using asio::ip::tcp;

constexpr std::size_t kConns = 50;
constexpr std::size_t kMsg = 64;

static asio::awaitable<void> session(tcp::socket s) {
  s.set_option(tcp::no_delay(true));
  std::array<char, kMsg> buf;
  for (;;) {
    asio::error_code ec;
    co_await asio::async_read(s, asio::buffer(buf),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;  // EOF: client finished
    co_await asio::async_write(s, asio::buffer(buf), asio::use_awaitable);
  }
}

static asio::awaitable<void> server(tcp::acceptor& acc) {
  auto ex = co_await asio::this_coro::executor;
  for (std::size_t i = 0; i < kConns; ++i) {
    tcp::socket s = co_await acc.async_accept(asio::use_awaitable);
    asio::co_spawn(ex, session(std::move(s)), bench_asio::rethrow_if);
  }
}

struct shared_state {
  explicit shared_state(const asio::any_io_executor& ex)
      : connected(ex), finished(ex), gate(ex, asio::steady_timer::time_point::max()) {}
  bench_asio::wait_group connected;
  bench_asio::wait_group finished;
  asio::steady_timer gate;  // start gate: cancel() releases all clients
  bool open = false;
};

static asio::awaitable<void> client(tcp::endpoint ep, std::size_t rounds, shared_state& st) {
  tcp::socket s(co_await asio::this_coro::executor);
  co_await s.async_connect(ep, asio::use_awaitable);
  s.set_option(tcp::no_delay(true));
  st.connected.done();
  while (!st.open) {
    asio::error_code ec;
    co_await st.gate.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  std::array<char, kMsg> out, in;
  std::memset(out.data(), 'x', kMsg);
  for (std::size_t r = 0; r < rounds; ++r) {
    out[0] = static_cast<char>(r);
    co_await asio::async_write(s, asio::buffer(out), asio::use_awaitable);
    co_await asio::async_read(s, asio::buffer(in), asio::use_awaitable);
    if (in[0] != out[0]) throw std::runtime_error("tcp_echo: echo mismatch");
  }
  s.shutdown(tcp::socket::shutdown_send);
  s.close();
  st.finished.done();
}

static asio::awaitable<void> run(std::size_t n) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acc(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const tcp::endpoint ep = acc.local_endpoint();
  asio::co_spawn(ex, server(acc), bench_asio::rethrow_if);

  const std::size_t rounds = n / kConns ? n / kConns : 1;
  const std::size_t total = rounds * kConns;
  shared_state st(ex);
  st.connected.add(kConns);
  st.finished.add(kConns);
  for (std::size_t i = 0; i < kConns; ++i)
    asio::co_spawn(ex, client(ep, rounds, st), bench_asio::rethrow_if);
  co_await st.connected.wait();

  const auto t0 = bench::clock::now();
  st.open = true;
  st.gate.cancel();
  co_await st.finished.wait();
  const double secs = bench::seconds_since(t0);
  bench::report("tcp_echo", "asio", total, secs);
}

int main(int argc, char** argv) {
  const std::size_t n = bench::arg_size(argc, argv, 1, 200'000);
  asio::io_context ctx(1);
  asio::co_spawn(ctx, run(n), bench_asio::rethrow_if);
  ctx.run();
  return 0;
}
