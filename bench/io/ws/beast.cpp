// WebSocket echo server (Boost.Beast peer, Boost 1.81): websocket::stream<beast::tcp_stream> on
// boost::asio C++20 coroutines, one io_context, one thread — the shape of Beast's
// example/websocket/server/awaitable: accept the upgrade, then async_read into a flat_buffer,
// echo with async_write (text flag copied), until the peer closes. Beast's suggested server
// timeouts (stream_base::timeout::suggested) and a Server decorator, as the example.
//   beast
// Listens on 127.0.0.1 (ephemeral port), prints the port as the first stdout line, serves until
// killed.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/version.hpp>
#include <boost/beast/websocket.hpp>

#include <cstdio>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

static asio::awaitable<void> session(websocket::stream<beast::tcp_stream> ws) {
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
    res.set(beast::http::field::server, BOOST_BEAST_VERSION_STRING " websocket-server-coro");
  }));
  beast::error_code ec;
  co_await ws.async_accept(asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  beast::flat_buffer buffer;
  for (;;) {
    co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;  // closed by the peer, or an error
    ws.text(ws.got_text());
    co_await ws.async_write(buffer.data(), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    buffer.consume(buffer.size());
  }
}

static asio::awaitable<void> listener(tcp::acceptor& acc) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    tcp::socket sock = co_await acc.async_accept(asio::use_awaitable);
    sock.set_option(tcp::no_delay(true));
    asio::co_spawn(ex, session(websocket::stream<beast::tcp_stream>(std::move(sock))), asio::detached);
  }
}

int main() {
  asio::io_context ioc(1);
  tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::printf("%d\n", acc.local_endpoint().port());
  std::fflush(stdout);
  asio::co_spawn(ioc, listener(acc), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  ioc.run();
}
