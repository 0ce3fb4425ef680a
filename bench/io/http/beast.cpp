// HTTP server (Boost.Beast peer, Boost 1.81): the shape of Beast's own
// example/http/server/awaitable: boost::asio C++20 coroutines (use_awaitable), one io_context
// run by one thread, one coroutine per connection reading requests with http::async_read into a
// flat_buffer and answering with http::async_write; keep-alive honoured. Per-operation timeouts
// as the example sets them (beast::tcp_stream::expires_after(30 s)), which our server's
// keep-alive timer matches. GET / answers "Hello, World!" (text/plain, Server header).
//   beast
// Listens on 127.0.0.1 (ephemeral port), prints the port as the first stdout line, serves until
// killed.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include <cstdio>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

static asio::awaitable<void> session(beast::tcp_stream stream) {
  beast::flat_buffer buffer;
  for (;;) {
    stream.expires_after(std::chrono::seconds(30));
    http::request<http::string_body> req;
    beast::error_code ec;
    co_await http::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;  // end of stream, timeout or garbage: close
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::get && req.target() == "/") {
      res.result(http::status::ok);
      res.set(http::field::server, BOOST_BEAST_VERSION_STRING);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "Hello, World!";
    } else {
      res.result(http::status::not_found);
      res.body() = "404: Not Found";
    }
    res.prepare_payload();
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

static asio::awaitable<void> listener(tcp::acceptor& acc) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    tcp::socket sock = co_await acc.async_accept(asio::use_awaitable);
    sock.set_option(tcp::no_delay(true));
    asio::co_spawn(ex, session(beast::tcp_stream(std::move(sock))), asio::detached);
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
