// CPython 3.11 Lib/test/test_asyncio/test_streams.py, StreamTests, one Catch2 case per method,
// named after it. First the cases on a StreamReader fed by the program (feed_data / feed_eof /
// set_exception): `stream._buffer` is read through buffered() and a read of that many bytes.
// Then the connection cases: CPython's test_utils.run_test_server (an HTTP/1.0 server on a
// thread of its own, answering "HTTP/1.0 200 OK ... Test message") is TestHttpServer here, our
// own server on a loop of its own thread; `messages` is what the loop's exception handler got.
#include <asyncio/asyncio.hpp>
#ifdef ASYNCIO_CPYTHON_SSL
#include <asyncio/ssl.hpp>
#endif

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "cpython/cpython_check.hpp"

namespace {
const std::string DATA = "line1\nline2\nline3\n";

struct Fixture {
  std::shared_ptr<asyncio::EventLoop> loop = asyncio::new_event_loop();
  ~Fixture() { loop->close(); }
  /// What the reader still buffers (Python's stream._buffer), taken out of it.
  std::string buffer(asyncio::StreamReader& s) {
    if (s.buffered() == 0) return "";
    return loop->run_until_complete(s.read(static_cast<long long>(s.buffered())));
  }
  template <class T>
  T run(asyncio::Task<T> t) {
    return loop->run_until_complete(std::move(t));
  }
};
template <class E, class T>
bool raises(Fixture& f, asyncio::Task<T> t) {
  try {
    f.run(std::move(t));
  } catch (const E&) {
    return true;
  }
  return false;
}
}  // namespace

TEST_CASE("test_streams.StreamTests.test_feed_empty_data") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data("");
  CHECK(stream.buffered() == 0);
}

TEST_CASE("test_streams.StreamTests.test_feed_nonempty_data") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data(DATA);
  CHECK(f.buffer(stream) == DATA);
}

TEST_CASE("test_streams.StreamTests.test_read_zero") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data(DATA);
  CHECK(f.run(stream.read(0)).empty());
  CHECK(f.buffer(stream) == DATA);
}

TEST_CASE("test_streams.StreamTests.test_read") {
  Fixture f;
  asyncio::StreamReader stream;
  auto read_task = f.loop->create_task(stream.read(30));
  f.loop->call_soon([&] { stream.feed_data(DATA); });
  CHECK(f.loop->run_until_complete(read_task) == DATA);
  CHECK(stream.buffered() == 0);
}

TEST_CASE("test_streams.StreamTests.test_read_line_breaks") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data("line1");
  stream.feed_data("line2");
  CHECK(f.run(stream.read(5)) == "line1");
  CHECK(f.buffer(stream) == "line2");
}

TEST_CASE("test_streams.StreamTests.test_read_eof") {
  Fixture f;
  asyncio::StreamReader stream;
  auto read_task = f.loop->create_task(stream.read(1024));
  f.loop->call_soon([&] { stream.feed_eof(); });
  CHECK(f.loop->run_until_complete(read_task).empty());
  CHECK(stream.buffered() == 0);
}

TEST_CASE("test_streams.StreamTests.test_read_until_eof") {
  Fixture f;
  asyncio::StreamReader stream;
  auto read_task = f.loop->create_task(stream.read(-1));
  f.loop->call_soon([&] {
    stream.feed_data("chunk1\n");
    stream.feed_data("chunk2");
    stream.feed_eof();
  });
  CHECK(f.loop->run_until_complete(read_task) == "chunk1\nchunk2");
  CHECK(stream.buffered() == 0);
}

TEST_CASE("test_streams.StreamTests.test_read_exception") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data("line\n");
  CHECK(f.run(stream.read(2)) == "li");
  stream.set_exception(std::make_exception_ptr(asyncio::ValueError("")));
  CHECK(raises<asyncio::ValueError>(f, stream.read(2)));
}

TEST_CASE("test_streams.StreamTests.test_invalid_limit") {
  // (limit is a std::size_t: Python's limit=-1 has no C++ spelling; 0 is the case left)
  CHECK_THROWS_WITH(asyncio::StreamReader(std::size_t{0}), Catch::Contains("imit"));
}

TEST_CASE("test_streams.StreamTests.test_read_limit") {
  Fixture f;
  asyncio::StreamReader stream(3);
  stream.feed_data("chunk");
  CHECK(f.run(stream.read(5)) == "chunk");
  CHECK(stream.buffered() == 0);
}

TEST_CASE("test_streams.StreamTests.test_readline") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data("chunk1 ");
  auto read_task = f.loop->create_task(stream.readline());
  f.loop->call_soon([&] {
    stream.feed_data("chunk2 ");
    stream.feed_data("chunk3 ");
    stream.feed_data("\n chunk4");
  });
  CHECK(f.loop->run_until_complete(read_task) == "chunk1 chunk2 chunk3 \n");
  CHECK(f.buffer(stream) == " chunk4");
}

TEST_CASE("test_streams.StreamTests.test_readline_limit_with_existing_data") {
  Fixture f;
  {
    asyncio::StreamReader stream(3);
    stream.feed_data("li");
    stream.feed_data("ne1\nline2\n");
    CHECK(raises<asyncio::ValueError>(f, stream.readline()));
    CHECK(f.buffer(stream) == "line2\n");  // the remaining data after the exception
  }
  {
    asyncio::StreamReader stream(3);
    stream.feed_data("li");
    stream.feed_data("ne1");
    stream.feed_data("li");
    CHECK(raises<asyncio::ValueError>(f, stream.readline()));
    CHECK(stream.buffered() == 0);
  }
}

TEST_CASE("test_streams.StreamTests.test_at_eof") {
  Fixture f;
  asyncio::StreamReader stream;
  CHECK_FALSE(stream.at_eof());
  stream.feed_data("some data\n");
  CHECK_FALSE(stream.at_eof());
  f.run(stream.readline());
  CHECK_FALSE(stream.at_eof());
  stream.feed_data("some data\n");
  stream.feed_eof();
  f.run(stream.readline());
  CHECK(stream.at_eof());
}

TEST_CASE("test_streams.StreamTests.test_readline_limit") {
  Fixture f;
  {
    asyncio::StreamReader stream(7);
    f.loop->call_soon([&] {
      stream.feed_data("chunk1");
      stream.feed_data("chunk2");
      stream.feed_data("chunk3\n");
      stream.feed_eof();
    });
    CHECK(raises<asyncio::ValueError>(f, stream.readline()));
    CHECK(stream.buffered() == 0);
  }
  {
    asyncio::StreamReader stream(7);
    f.loop->call_soon([&] {
      stream.feed_data("chunk1");
      stream.feed_data("chunk2\n");
      stream.feed_data("chunk3\n");
      stream.feed_eof();
    });
    CHECK(raises<asyncio::ValueError>(f, stream.readline()));
    CHECK(f.buffer(stream) == "chunk3\n");
  }
  asyncio::StreamReader stream(7);  // the strictness of the limit
  stream.feed_data("1234567\n");
  CHECK(f.run(stream.readline()) == "1234567\n");
  CHECK(stream.buffered() == 0);
  stream.feed_data("12345678\n");
  CHECK(raises<asyncio::ValueError>(f, stream.readline()));
  CHECK(stream.buffered() == 0);
  stream.feed_data("12345678");
  CHECK(raises<asyncio::ValueError>(f, stream.readline()));
  CHECK(stream.buffered() == 0);
}

TEST_CASE("test_streams.StreamTests.test_readline_nolimit_nowait") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data(DATA.substr(0, 6));
  stream.feed_data(DATA.substr(6));
  CHECK(f.run(stream.readline()) == "line1\n");
  CHECK(f.buffer(stream) == "line2\nline3\n");
}

TEST_CASE("test_streams.StreamTests.test_readline_eof") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data("some data");
  stream.feed_eof();
  CHECK(f.run(stream.readline()) == "some data");
}

TEST_CASE("test_streams.StreamTests.test_readline_empty_eof") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_eof();
  CHECK(f.run(stream.readline()).empty());
}

TEST_CASE("test_streams.StreamTests.test_readline_read_byte_count") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data(DATA);
  f.run(stream.readline());
  CHECK(f.run(stream.read(7)) == "line2\nl");
  CHECK(f.buffer(stream) == "ine3\n");
}

TEST_CASE("test_streams.StreamTests.test_readline_exception") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data("line\n");
  CHECK(f.run(stream.readline()) == "line\n");
  stream.set_exception(std::make_exception_ptr(asyncio::ValueError("")));
  CHECK(raises<asyncio::ValueError>(f, stream.readline()));
  CHECK(stream.buffered() == 0);
}

TEST_CASE("test_streams.StreamTests.test_readuntil_separator") {
  Fixture f;
  asyncio::StreamReader stream;
  bool raised = false;
  try {
    f.run(stream.readuntil(""));
  } catch (const asyncio::ValueError& e) {
    raised = std::string(e.what()).find("Separator should be") != std::string::npos;
  }
  CHECK(raised);
}

TEST_CASE("test_streams.StreamTests.test_readuntil_multi_chunks") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data("lineAAA");
  CHECK(f.run(stream.readuntil("AAA")) == "lineAAA");
  CHECK(stream.buffered() == 0);
  stream.feed_data("lineAAA");
  CHECK(f.run(stream.readuntil("AAA")) == "lineAAA");
  CHECK(stream.buffered() == 0);
  stream.feed_data("lineAAAxxx");
  CHECK(f.run(stream.readuntil("AAA")) == "lineAAA");
  CHECK(f.buffer(stream) == "xxx");
}

TEST_CASE("test_streams.StreamTests.test_readuntil_multi_chunks_1") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data("QWEaa");
  stream.feed_data("XYaa");
  stream.feed_data("a");
  CHECK(f.run(stream.readuntil("aaa")) == "QWEaaXYaaa");
  CHECK(stream.buffered() == 0);
  stream.feed_data("QWEaa");
  stream.feed_data("XYa");
  stream.feed_data("aa");
  CHECK(f.run(stream.readuntil("aaa")) == "QWEaaXYaaa");
  CHECK(stream.buffered() == 0);
  stream.feed_data("aaa");
  CHECK(f.run(stream.readuntil("aaa")) == "aaa");
  stream.feed_data("Xaaa");
  CHECK(f.run(stream.readuntil("aaa")) == "Xaaa");
  stream.feed_data("XXX");
  stream.feed_data("a");
  stream.feed_data("a");
  stream.feed_data("a");
  CHECK(f.run(stream.readuntil("aaa")) == "XXXaaa");
  CHECK(stream.buffered() == 0);
}

TEST_CASE("test_streams.StreamTests.test_readuntil_eof") {
  Fixture f;
  asyncio::StreamReader stream;
  const std::string data = "some dataAA";
  stream.feed_data(data);
  stream.feed_eof();
  bool raised = false;
  try {
    f.run(stream.readuntil("AAA"));
  } catch (const asyncio::IncompleteReadError& e) {
    raised = true;
    CHECK(std::string(e.what()).find("undefined expected bytes") != std::string::npos);
    CHECK(e.partial == data);
    CHECK(e.expected == -1);  // Python's None
  }
  CHECK(raised);
  CHECK(stream.buffered() == 0);
}

TEST_CASE("test_streams.StreamTests.test_readuntil_limit_found_sep") {
  Fixture f;
  asyncio::StreamReader stream(3);
  stream.feed_data("some dataAA");
  std::string what;
  try {
    f.run(stream.readuntil("AAA"));
  } catch (const asyncio::LimitOverrunError& e) {
    what = e.what();
  }
  CHECK(what.find("not found") != std::string::npos);
  CHECK(stream.buffered() == std::string("some dataAA").size());
  stream.feed_data("A");
  what.clear();
  try {
    f.run(stream.readuntil("AAA"));
  } catch (const asyncio::LimitOverrunError& e) {
    what = e.what();
  }
  CHECK(what.find("is found") != std::string::npos);
  CHECK(f.buffer(stream) == "some dataAAA");
}

TEST_CASE("test_streams.StreamTests.test_readexactly_zero_or_less") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data(DATA);
  CHECK(f.run(asyncio::Task<std::string>(stream.readexactly(0))).empty());
  CHECK(stream.buffered() == DATA.size());
  std::string what;
  try {
    f.run(asyncio::Task<std::string>(stream.readexactly(-1)));
  } catch (const asyncio::ValueError& e) {
    what = e.what();
  }
  CHECK(what.find("less than zero") != std::string::npos);
  CHECK(f.buffer(stream) == DATA);
}

TEST_CASE("test_streams.StreamTests.test_readexactly") {
  Fixture f;
  asyncio::StreamReader stream;
  const auto n = static_cast<long long>(2 * DATA.size());
  auto read_task = f.loop->create_task(asyncio::Task<std::string>(stream.readexactly(n)));
  f.loop->call_soon([&] {
    stream.feed_data(DATA);
    stream.feed_data(DATA);
    stream.feed_data(DATA);
  });
  CHECK(f.loop->run_until_complete(read_task) == DATA + DATA);
  CHECK(f.buffer(stream) == DATA);
}

TEST_CASE("test_streams.StreamTests.test_readexactly_limit") {
  Fixture f;
  asyncio::StreamReader stream(3);
  stream.feed_data("chunk");
  CHECK(f.run(asyncio::Task<std::string>(stream.readexactly(5))) == "chunk");
  CHECK(stream.buffered() == 0);
}

TEST_CASE("test_streams.StreamTests.test_readexactly_eof") {
  Fixture f;
  asyncio::StreamReader stream;
  const auto n = static_cast<long long>(2 * DATA.size());
  auto read_task = f.loop->create_task(asyncio::Task<std::string>(stream.readexactly(n)));
  f.loop->call_soon([&] {
    stream.feed_data(DATA);
    stream.feed_eof();
  });
  bool raised = false;
  try {
    f.loop->run_until_complete(read_task);
  } catch (const asyncio::IncompleteReadError& e) {
    raised = true;
    CHECK(e.partial == DATA);
    CHECK(e.expected == n);
    CHECK(std::string(e.what()) == "18 bytes read on a total of 36 expected bytes");
  }
  CHECK(raised);
  CHECK(stream.buffered() == 0);
}

TEST_CASE("test_streams.StreamTests.test_readexactly_exception") {
  Fixture f;
  asyncio::StreamReader stream;
  stream.feed_data("line\n");
  CHECK(f.run(asyncio::Task<std::string>(stream.readexactly(2))) == "li");
  stream.set_exception(std::make_exception_ptr(asyncio::ValueError("")));
  CHECK(raises<asyncio::ValueError>(f, asyncio::Task<std::string>(stream.readexactly(2))));
}

TEST_CASE("test_streams.StreamTests.test_exception") {
  Fixture f;
  asyncio::StreamReader stream;
  CHECK_FALSE(stream.exception());
  auto exc = std::make_exception_ptr(asyncio::ValueError(""));
  stream.set_exception(exc);
  CHECK(stream.exception() == exc);
}

TEST_CASE("test_streams.StreamTests.test_exception_waiter") {
  Fixture f;
  asyncio::StreamReader stream;
  auto t1 = f.loop->create_task(stream.readline());
  auto t2 = f.loop->create_task([](asyncio::StreamReader s) -> asyncio::Task<> {
    s.set_exception(std::make_exception_ptr(asyncio::ValueError("")));
    co_return;
  }(stream));
  f.run([](asyncio::TaskHandle<std::string> a, asyncio::TaskHandle<> b) -> asyncio::Task<> {
    co_await b;  // (Python: asyncio.wait([t1, t2]); the tasks differ in type here)
    try {
      co_await a;
    } catch (const asyncio::ValueError&) {
    }
  }(t1, t2));
  CHECK_THROWS_AS(t1.result(), asyncio::ValueError);
}

TEST_CASE("test_streams.StreamTests.test_exception_cancel") {
  Fixture f;
  asyncio::StreamReader stream;
  auto t = f.loop->create_task(stream.readline());
  auto run_briefly = [&] { f.run([]() -> asyncio::Task<> { co_await asyncio::sleep(0); }()); };
  run_briefly();
  t.cancel();
  run_briefly();
  // The following line fails if set_exception() isn't careful.
  stream.set_exception(std::make_exception_ptr(asyncio::RuntimeError("message")));
  run_briefly();
  CHECK(t.cancelled());
}

// ------------------------------------------------------------------ connections
namespace {
using namespace std::chrono_literals;

#ifdef ASYNCIO_CPYTHON_SSL
/// CPython's ONLYCERT/ONLYKEY (a self-signed "localhost" certificate), made once per process.
struct CertFiles {
  std::string dir;
  CertFiles() {
    char tmpl[] = "/tmp/asyncio_cpy_ssl_XXXXXX";
    dir = ::mkdtemp(tmpl);
    std::string cmd = "cd " + dir +
                      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem"
                      " -out cert.pem -days 30 -subj /CN=localhost >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed");
  }
  ~CertFiles() { std::system(("rm -rf '" + dir + "'").c_str()); }
};
const CertFiles& cert_files() {
  static CertFiles c;
  return c;
}
/// test_utils.simple_server_sslcontext()
std::shared_ptr<asyncio::ssl::SSLContext> simple_server_sslcontext() {
  auto ctx = std::make_shared<asyncio::ssl::SSLContext>(asyncio::ssl::Protocol::TLS_SERVER);
  ctx->load_cert_chain(cert_files().dir + "/cert.pem", cert_files().dir + "/key.pem");
  ctx->set_check_hostname(false);
  ctx->set_verify_mode(asyncio::ssl::CERT_NONE);
  return ctx;
}
/// test_utils.simple_client_sslcontext() / dummy_ssl_context()
std::shared_ptr<asyncio::ssl::SSLContext> simple_client_sslcontext() {
  auto ctx = std::make_shared<asyncio::ssl::SSLContext>(asyncio::ssl::Protocol::TLS_CLIENT);
  ctx->set_check_hostname(false);
  ctx->set_verify_mode(asyncio::ssl::CERT_NONE);
  return ctx;
}
#endif

/// test_utils.run_test_server / run_test_unix_server: every request gets the WSGI test app's
/// answer, then the connection is closed.
class TestHttpServer {
 public:
  explicit TestHttpServer(std::string unix_path = "", std::shared_ptr<asyncio::ssl::SSLContext> ssl = {})
      : path(std::move(unix_path)) {
    auto started = ready_.get_future();
    thread_ = std::thread([this, ssl] { asyncio::run(serve(this, ssl, &ready_)); });
    try {
      started.get();
    } catch (...) {
      thread_.join();
      throw;
    }
  }
  ~TestHttpServer() {
    loop_->call_soon_threadsafe([this] { server_.close(); });
    thread_.join();
    if (!path.empty()) ::unlink(path.c_str());
  }
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path;

 private:
  static asyncio::Task<> handle(asyncio::StreamReader r, asyncio::StreamWriter w) {
    std::exception_ptr e;
    try {
      std::string head = co_await r.readuntil("\r\n\r\n");
      w.write(
          "HTTP/1.0 200 OK\r\nServer: WSGIServer/0.2\r\nContent-type: text/plain\r\nContent-Length: 12\r\n\r\n"
          "Test message");
      co_await w.drain();
    } catch (const std::exception&) {
      e = std::current_exception();  // (a client that sent no request)
    }
    w.close();
  }
  static asyncio::Task<> serve(TestHttpServer* self, std::shared_ptr<asyncio::ssl::SSLContext> ssl,
                               std::promise<void>* ready) {
    asyncio::ServerOptions opts{.ssl = ssl};
    std::exception_ptr failed;
    try {
      if (self->path.empty()) {
        self->server_ = co_await asyncio::start_server(handle, self->host, 0, opts);
        self->port = self->server_.port();
      } else {
        self->server_ = co_await asyncio::start_unix_server(handle, self->path, opts);
      }
    } catch (const std::exception&) {
      failed = std::current_exception();
    }
    self->loop_ = &asyncio::get_running_loop();
    if (failed) {
      ready->set_exception(failed);  // (the constructor rethrows it; the destructor is not run)
      co_return;
    }
    ready->set_value();
    try {
      co_await self->server_.serve_forever();
    } catch (const asyncio::CancelledError&) {
    }
  }
  asyncio::Server server_;
  asyncio::EventLoop* loop_ = nullptr;
  std::promise<void> ready_;  // (a member: set_value() may still run when get() returns)
  std::thread thread_;
};

std::string unix_socket_path() { return "/tmp/asyncio_cpy_" + std::to_string(::getpid()) + ".sock"; }

/// `self.loop.set_exception_handler(lambda loop, ctx: messages.append(ctx))`
std::vector<std::string>& collect_messages(Fixture& f) {
  static std::vector<std::string> messages;
  messages.clear();
  f.loop->set_exception_handler([](asyncio::EventLoop&, const asyncio::ExceptionContext& c) {
    messages.push_back(c.message);
  });
  return messages;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// _basetest_open_connection
void basetest_open_connection(Fixture& f, asyncio::Task<std::pair<asyncio::StreamReader, asyncio::StreamWriter>> conn) {
  auto& messages = collect_messages(f);
  auto [reader, writer] = f.run(std::move(conn));
  writer.write("GET / HTTP/1.0\r\n\r\n");
  CHECK(f.run(reader.readline()) == "HTTP/1.0 200 OK\r\n");
  CHECK(ends_with(f.run(reader.read()), "\r\n\r\nTest message"));
  writer.close();
  CHECK(messages.empty());
}

// _basetest_open_connection_error. Python injects the error through the private
// `writer._protocol.connection_lost(ZeroDivisionError())`; the public way to hand a stream an
// error is reader.set_exception(), which is what connection_lost(exc) calls.
struct ZeroDivisionError : std::runtime_error {
  ZeroDivisionError() : std::runtime_error("division by zero") {}
};
void basetest_open_connection_error(Fixture& f,
                                    asyncio::Task<std::pair<asyncio::StreamReader, asyncio::StreamWriter>> conn) {
  auto& messages = collect_messages(f);
  auto [reader, writer] = f.run(std::move(conn));
  reader.set_exception(std::make_exception_ptr(ZeroDivisionError()));
  CHECK(raises<ZeroDivisionError>(f, reader.read()));
  writer.close();
  f.run([]() -> asyncio::Task<> { co_await asyncio::sleep(0); }());
  CHECK(messages.empty());
}
}  // namespace

TEST_CASE("test_streams.StreamTests.test_open_connection") {
  Fixture f;
  TestHttpServer httpd;
  basetest_open_connection(f, asyncio::open_connection(httpd.host, httpd.port));
}

TEST_CASE("test_streams.StreamTests.test_open_unix_connection") {
  Fixture f;
  TestHttpServer httpd(unix_socket_path());
  basetest_open_connection(f, asyncio::open_unix_connection(httpd.path));
}

#ifdef ASYNCIO_CPYTHON_SSL
// _basetest_open_connection_no_loop_ssl. (The "no loop" part, asyncio.set_event_loop(None)
// after connecting, changes nothing here: our streams never look up a global loop.)
void basetest_open_connection_no_loop_ssl(
    Fixture& f, asyncio::Task<std::pair<asyncio::StreamReader, asyncio::StreamWriter>> conn) {
  auto& messages = collect_messages(f);
  auto [reader, writer] = f.run(std::move(conn));
  asyncio::set_event_loop(nullptr);
  writer.write("GET / HTTP/1.0\r\n\r\n");
  CHECK(ends_with(f.run(reader.read()), "\r\n\r\nTest message"));
  writer.close();
  CHECK(messages.empty());
}

TEST_CASE("test_streams.StreamTests.test_open_connection_no_loop_ssl") {
  Fixture f;
  TestHttpServer httpd("", simple_server_sslcontext());
  asyncio::ConnectOptions opts{.ssl = simple_client_sslcontext()};
  basetest_open_connection_no_loop_ssl(f, asyncio::open_connection(httpd.host, httpd.port, opts));
}

TEST_CASE("test_streams.StreamTests.test_open_unix_connection_no_loop_ssl") {
  Fixture f;
  TestHttpServer httpd(unix_socket_path(), simple_server_sslcontext());
  asyncio::ConnectOptions opts{.ssl = simple_client_sslcontext(), .server_hostname = ""};
  basetest_open_connection_no_loop_ssl(f, asyncio::open_unix_connection(httpd.path, opts));
}
#endif

TEST_CASE("test_streams.StreamTests.test_open_connection_error") {
  Fixture f;
  TestHttpServer httpd;
  basetest_open_connection_error(f, asyncio::open_connection(httpd.host, httpd.port));
}

TEST_CASE("test_streams.StreamTests.test_open_unix_connection_error") {
  Fixture f;
  TestHttpServer httpd(unix_socket_path());
  basetest_open_connection_error(f, asyncio::open_unix_connection(httpd.path));
}

namespace {
// test_start_server's / test_start_unix_server's MyServer.
asyncio::Task<> handle_client(asyncio::StreamReader client_reader, asyncio::StreamWriter client_writer) {
  std::string data = co_await client_reader.readline();
  client_writer.write(data);
  co_await client_writer.drain();
  client_writer.close();
  co_await client_writer.wait_closed();
}
void handle_client_callback(asyncio::StreamReader client_reader, asyncio::StreamWriter client_writer) {
  asyncio::get_running_loop().create_task(handle_client(std::move(client_reader), std::move(client_writer)));
}
/// A TCP listening socket on 127.0.0.1, port 0 (Python's socket.create_server(('127.0.0.1', 0))).
int create_server_socket(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 128) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}
asyncio::Task<std::string> client(std::string host, int port) {
  auto [reader, writer] = co_await asyncio::open_connection(host, port);
  writer.write("hello world!\n");  // send a line
  std::string msgback = co_await reader.readline();  // read it back
  writer.close();
  co_await writer.wait_closed();
  co_return msgback;
}
asyncio::Task<std::string> unix_client(std::string path) {
  auto [reader, writer] = co_await asyncio::open_unix_connection(path);
  writer.write("hello world!\n");
  std::string msgback = co_await reader.readline();
  writer.close();
  co_await writer.wait_closed();
  co_return msgback;
}
void stop(Fixture& f, asyncio::Server& server) {
  server.close();
  f.run(server.wait_closed());
}
}  // namespace

TEST_CASE("test_streams.StreamTests.test_start_server") {
  Fixture f;
  auto& messages = collect_messages(f);
  // test the server variant with a coroutine as client handler
  {
    int port = 0;
    int sock = create_server_socket(&port);
    asyncio::ServerOptions opts{.sock = sock};
    auto server = f.run(asyncio::start_server(handle_client, opts));
    auto msg = f.loop->run_until_complete(f.loop->create_task(client("127.0.0.1", port)));
    stop(f, server);
    CHECK(msg == "hello world!\n");
  }
  // test the server variant with a callback as client handler
  {
    int port = 0;
    int sock = create_server_socket(&port);
    ::close(sock);
    auto server = f.run(asyncio::start_server(handle_client_callback, "127.0.0.1", port));
    auto msg = f.loop->run_until_complete(f.loop->create_task(client("127.0.0.1", port)));
    stop(f, server);
    CHECK(msg == "hello world!\n");
  }
  CHECK(messages.empty());
}

TEST_CASE("test_streams.StreamTests.test_start_unix_server") {
  Fixture f;
  auto& messages = collect_messages(f);
  const std::string path = unix_socket_path();
  // test the server variant with a coroutine as client handler
  {
    auto server = f.run(asyncio::start_unix_server(handle_client, path));
    auto msg = f.loop->run_until_complete(f.loop->create_task(unix_client(path)));
    stop(f, server);
    CHECK(msg == "hello world!\n");
    ::unlink(path.c_str());
  }
  // test the server variant with a callback as client handler
  {
    auto server = f.run(asyncio::start_unix_server(handle_client_callback, path));
    auto msg = f.loop->run_until_complete(f.loop->create_task(unix_client(path)));
    stop(f, server);
    CHECK(msg == "hello world!\n");
    ::unlink(path.c_str());
  }
  CHECK(messages.empty());
}

#ifdef ASYNCIO_CPYTHON_SSL
namespace {
asyncio::Task<> tls_handle_client(asyncio::StreamReader client_reader, asyncio::StreamWriter client_writer) {
  std::string data1 = co_await client_reader.readline();
  client_writer.write(data1);
  co_await client_writer.drain();
  CHECK_FALSE(client_writer.get_extra_info<std::shared_ptr<asyncio::ssl::SSLContext>>("sslcontext"));
  co_await client_writer.start_tls(simple_server_sslcontext());
  CHECK(client_writer.get_extra_info<std::shared_ptr<asyncio::ssl::SSLContext>>("sslcontext"));
  std::string data2 = co_await client_reader.readline();
  client_writer.write(data2);
  co_await client_writer.drain();
  client_writer.close();
  co_await client_writer.wait_closed();
}
asyncio::Task<std::pair<std::string, std::string>> tls_client(int port) {
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
  writer.write("hello world 1!\n");
  co_await writer.drain();
  std::string msgback1 = co_await reader.readline();
  CHECK_FALSE(writer.get_extra_info<std::shared_ptr<asyncio::ssl::SSLContext>>("sslcontext"));
  co_await writer.start_tls(simple_client_sslcontext());
  CHECK(writer.get_extra_info<std::shared_ptr<asyncio::ssl::SSLContext>>("sslcontext"));
  writer.write("hello world 2!\n");
  co_await writer.drain();
  std::string msgback2 = co_await reader.readline();
  writer.close();
  co_await writer.wait_closed();
  co_return std::pair{msgback1, msgback2};
}
}  // namespace

TEST_CASE("test_streams.StreamTests.test_start_tls") {
  Fixture f;
  auto& messages = collect_messages(f);
  int port = 0;
  int sock = create_server_socket(&port);
  asyncio::ServerOptions opts{.sock = sock};
  auto server = f.run(asyncio::start_server(tls_handle_client, opts));
  auto [msg1, msg2] = f.run(tls_client(port));
  stop(f, server);
  CHECK(messages.empty());
  CHECK(msg1 == "hello world 1!\n");
  CHECK(msg2 == "hello world 2!\n");
}
#endif

// Python raises RuntimeError('no current event loop') here. Documented difference (README,
// "Choices"; DESIGN §7): a StreamReader is a plain object that needs no loop until a read
// waits, so it is made without one and then works in whichever loop reads it.
TEST_CASE("test_streams.StreamTests.test_streamreader_constructor_without_loop") {
  asyncio::StreamReader reader;
  Fixture f;
  f.loop->call_soon([&reader] { reader.feed_data("late"); });
  CHECK(f.run(reader.read(4)) == "late");
}

TEST_CASE("test_streams.StreamTests.test_streamreader_constructor_use_running_loop") {
  // asyncio issue #184: the reader made in a running loop belongs to it (Python checks the
  // private reader._loop; here: a read waiting in that loop is woken by feed_data there).
  Fixture f;
  auto test = []() -> asyncio::Task<asyncio::StreamReader> { co_return asyncio::StreamReader(); };
  asyncio::StreamReader reader = f.run(test());
  f.loop->call_soon([&reader] { reader.feed_data("data"); });
  CHECK(f.run(reader.read(4)) == "data");
}

TEST_CASE("test_streams.StreamTests.test_streamreader_constructor_use_global_loop") {
  // The same with the loop set as the current one (asyncio.set_event_loop) rather than running.
  Fixture f;
  asyncio::set_event_loop(f.loop);
  asyncio::StreamReader reader;
  f.loop->call_soon([&reader] { reader.feed_data("data"); });
  CHECK(f.run(reader.read(4)) == "data");
  asyncio::set_event_loop(nullptr);
}

TEST_CASE("test_streams.StreamTests.test_multiple_drain") {
  // See https://github.com/python/cpython/issues/74116: every task waiting in drain() is woken
  // when writing resumes. (Python pauses a bare FlowControlMixin; here a socket whose peer does
  // not read until 0.1 s later.)
  Fixture f;
  int drained = 0;
  auto drainer = [](asyncio::StreamWriter w, int* drained) -> asyncio::Task<> {
    co_await w.drain();
    ++*drained;
  };
  auto main = [&]() -> asyncio::Task<> {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    asyncio::ConnectOptions a{.sock = sv[0]}, b{.sock = sv[1]};
    auto [ra, wa] = co_await asyncio::open_connection(a);
    auto rwb = co_await asyncio::open_connection(b);
    asyncio::StreamReader rb = rwb.first;
    asyncio::StreamWriter wb = rwb.second;
    wa.set_write_buffer_limits(1, 0);
    wa.write(std::string(1 << 20, 'x'));  // more than the socket takes: writing pauses
    REQUIRE(wa.write_buffer_size() > 0);
    asyncio::get_running_loop().call_later(0.1, [rb]() mutable {
      asyncio::get_running_loop().create_task([](asyncio::StreamReader r) -> asyncio::Task<> {
        std::string all = co_await r.read();
        CHECK(all.size() == 1u << 20);
      }(rb));
    });
    std::vector<asyncio::Task<>> ds;
    for (int i = 0; i < 10; ++i) ds.push_back(drainer(wa, &drained));
    co_await asyncio::gather(std::move(ds));
    CHECK(drained == 10);
    wa.close();
    co_await wa.wait_closed();
    wb.close();
    co_await asyncio::sleep(0.01);
  };
  f.run(main());
}

TEST_CASE("test_streams.StreamTests.test_drain_raises") {
  // See http://bugs.python.org/issue25441: drain() gives up when the server side closed the
  // socket instead of spinning. The server is a plain thread, not asyncio.
  Fixture f;
  auto& messages = collect_messages(f);
  int port = 0;
  int lsock = create_server_socket(&port);
  std::thread server([lsock] {
    int clt = ::accept(lsock, nullptr, nullptr);
    ::close(clt);
    ::close(lsock);
  });
  auto client = [](int port) -> asyncio::Task<> {
    auto [reader, writer] = co_await asyncio::open_connection("localhost", port);
    for (;;) {
      writer.write("foo\n");
      co_await writer.drain();
    }
  };
  bool raised = false;
  try {
    f.run(client(port));
  } catch (const asyncio::ConnectionResetError&) {
    raised = true;
  } catch (const asyncio::ConnectionAbortedError&) {
    raised = true;
  } catch (const asyncio::BrokenPipeError&) {
    raised = true;
  }
  CHECK(raised);
  server.join();
  CHECK(messages.empty());
}

TEST_CASE("test_streams.StreamTests.test_wait_closed_on_close") {
  Fixture f;
  TestHttpServer httpd;
  auto [rd, wr] = f.run(asyncio::open_connection(httpd.host, httpd.port));
  wr.write("GET / HTTP/1.0\r\n\r\n");
  CHECK(f.run(rd.readline()) == "HTTP/1.0 200 OK\r\n");
  CHECK(ends_with(f.run(rd.read()), "\r\n\r\nTest message"));
  CHECK_FALSE(wr.is_closing());
  wr.close();
  CHECK(wr.is_closing());
  f.run(wr.wait_closed());
}

TEST_CASE("test_streams.StreamTests.test_wait_closed_on_close_with_unread_data") {
  Fixture f;
  TestHttpServer httpd;
  auto [rd, wr] = f.run(asyncio::open_connection(httpd.host, httpd.port));
  wr.write("GET / HTTP/1.0\r\n\r\n");
  CHECK(f.run(rd.readline()) == "HTTP/1.0 200 OK\r\n");
  wr.close();
  f.run(wr.wait_closed());
}

TEST_CASE("test_streams.StreamTests.test_async_writer_api") {
  Fixture f;
  auto& messages = collect_messages(f);
  auto inner = [](std::string host, int port) -> asyncio::Task<> {
    auto [rd, wr] = co_await asyncio::open_connection(host, port);
    wr.write("GET / HTTP/1.0\r\n\r\n");
    std::string data = co_await rd.readline();
    CHECK(data == "HTTP/1.0 200 OK\r\n");
    data = co_await rd.read();
    CHECK(ends_with(data, "\r\n\r\nTest message"));
    wr.close();
    co_await wr.wait_closed();
  };
  {
    TestHttpServer httpd;
    f.run(inner(httpd.host, httpd.port));
  }
  CHECK(messages.empty());
}

TEST_CASE("test_streams.StreamTests.test_async_writer_api_exception_after_close") {
  Fixture f;
  auto& messages = collect_messages(f);
  auto inner = [](std::string host, int port) -> asyncio::Task<> {
    auto [rd, wr] = co_await asyncio::open_connection(host, port);
    wr.write("GET / HTTP/1.0\r\n\r\n");
    std::string data = co_await rd.readline();
    CHECK(data == "HTTP/1.0 200 OK\r\n");
    data = co_await rd.read();
    CHECK(ends_with(data, "\r\n\r\nTest message"));
    wr.close();
    bool raised = false;
    try {
      wr.write("data");
      co_await wr.drain();
    } catch (const asyncio::ConnectionResetError&) {
      raised = true;
    }
    CHECK(raised);
  };
  {
    TestHttpServer httpd;
    f.run(inner(httpd.host, httpd.port));
  }
  CHECK(messages.empty());
}

TEST_CASE("test_streams.StreamTests.test_unhandled_exceptions") {
  Fixture f;
  auto& messages = collect_messages(f);
  int port = 0;
  ::close(create_server_socket(&port));  // socket_helper.find_unused_port()
  auto client = [](int port) -> asyncio::Task<> {
    auto [rd, wr] = co_await asyncio::open_connection("localhost", port);
    wr.write("test msg");
    co_await wr.drain();
    wr.close();
    co_await wr.wait_closed();
  };
  auto main = [&client](int port) -> asyncio::Task<> {
    auto handle_echo = [](asyncio::StreamReader, asyncio::StreamWriter) -> asyncio::Task<> {
      throw std::runtime_error("test");
      co_return;
    };
    auto server = co_await asyncio::start_server(handle_echo, "localhost", port);
    co_await server.start_serving();
    co_await client(port);
    server.close();
    co_await server.wait_closed();
  };
  f.run(main(port));
  REQUIRE_FALSE(messages.empty());
  CHECK(messages[0] == "Unhandled exception in client_connected_cb");
}
