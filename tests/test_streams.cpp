// streams.hpp: TCP and Unix streams, against Python asyncio peers and against ourselves.
#include <asyncio/asyncio.hpp>

#include <sys/resource.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "catch.hpp"
#include "io_helpers.hpp"
#include "trace.hpp"

using namespace std::chrono_literals;

#ifndef ASYNCIO_TESTS_DIR
#define ASYNCIO_TESTS_DIR "tests"
#endif

namespace {
std::string tests_dir() {
  // The executable runs from the build tree; find tests/python next to this source file.
  std::string f = __FILE__;
  return f.substr(0, f.rfind('/'));
}

asyncio::Task<> echo_handler(asyncio::StreamReader r, asyncio::StreamWriter w) {
  for (;;) {
    std::string d = co_await r.read(65536);
    if (d.empty()) break;
    w.write(d);
    co_await w.drain();
  }
  w.close();
  co_await w.wait_closed();
}

std::string payload(int i, std::size_t size) {
  std::string unit;
  for (int k = 0; k < 251; ++k) unit.push_back(static_cast<char>((i * 7 + k) % 251));
  std::string s;
  s.reserve(size + 251);
  while (s.size() < size) s += unit;
  s.resize(size);
  return s;
}

// The scenario of tests/python/streams_trace.py.
using Step = std::function<asyncio::Task<std::string>(asyncio::StreamReader&)>;

asyncio::Task<> trace_scenario(Trace& tr, std::string data, std::size_t limit, std::vector<Step> steps) {
  // (a capturing lambda is built outside the co_await expression: GCC 12 miscompiles it there)
  auto handler = [data](asyncio::StreamReader, asyncio::StreamWriter w) -> asyncio::Task<> {
    w.write(data);
    co_await w.drain();
    co_await asyncio::sleep(0.05);
    w.close();
  };
  auto server = co_await asyncio::start_server(handler, "127.0.0.1", 0);
  asyncio::ConnectOptions co{.limit = limit};  // (named: GCC 12 destroys a braced temporary of a co_await statement twice)
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", server.port(), std::move(co));
  co_await asyncio::sleep(0.02);
  for (auto& step : steps) {
    try {
      std::string r = co_await step(reader);
      tr("ok {:?}", r);
    } catch (const asyncio::IncompleteReadError& e) {
      if (e.expected < 0)
        tr("IncompleteReadError {:?} None", e.partial);
      else
        tr("IncompleteReadError {:?} {}", e.partial, e.expected);
    } catch (const asyncio::LimitOverrunError& e) {
      tr("LimitOverrunError {} {}", e.what(), e.consumed);
    } catch (const asyncio::ValueError& e) {
      tr("ValueError {}", e.what());
    }
  }
  tr("at_eof {}", reader.at_eof() ? "True" : "False");
  writer.close();
  co_await writer.wait_closed();
  server.close();
  co_await server.wait_closed();
}

Step rl() { return [](asyncio::StreamReader& r) { return r.readline(); }; }
Step rx(long long n) { return [n](asyncio::StreamReader& r) { return r.readexactly(n); }; }
Step rd(long long n) { return [n](asyncio::StreamReader& r) { return r.read(n); }; }
Step ru(std::string sep) { return [sep](asyncio::StreamReader& r) { return r.readuntil(sep); }; }

asyncio::Task<> trace_main(Trace& tr) {
  // (steps are built outside the co_await expressions: GCC 12 rule, see DESIGN.md 4b)
  std::vector<Step> s1{rl(), rx(10), rd(-1)};
  co_await trace_scenario(tr, "abc\ndefgh", 65536, std::move(s1));
  std::vector<Step> s2{ru("\n"), rd(5), rl(), ru("!")};
  co_await trace_scenario(tr, "0123456789abcdef\nxyz", 8, std::move(s2));
  std::vector<Step> s3{ru("\n"), rx(3), rl(), rd(100)};
  co_await trace_scenario(tr, "0123456789abcdefghij", 8, std::move(s3));
}
}  // namespace

TEST_CASE("reader semantics match CPython (tests/python/streams_trace.py)") {
  std::size_t fds = open_fd_count();
  Trace tr;
  asyncio::run(trace_main(tr));
  // Python's repr uses b'..'; fmt's {:?} uses "..": compare modulo quoting.
  std::vector<std::string> expected{
      "ok \"abc\\n\"",
      "IncompleteReadError \"defgh\" 10",
      "ok \"\"",
      "at_eof True",
      "LimitOverrunError Separator is found, but chunk is longer than limit 16",
      "ok \"01234\"",
      "ValueError Separator is found, but chunk is longer than limit",
      "IncompleteReadError \"xyz\" None",
      "at_eof True",
      "LimitOverrunError Separator is not found, and chunk exceed the limit 20",
      "ok \"012\"",
      "ValueError Separator is not found, and chunk exceed the limit",
      "ok \"\"",
      "at_eof True",
  };
  CHECK(tr.lines == expected);
  CHECK(open_fd_count() == fds);
}

namespace {
// The scenario of tests/python/streams_fastpath.py.
asyncio::Task<> fastpath_ticker(Trace& tr) {
  for (int i = 0; i < 3; ++i) {
    tr("tick {}", i);
    co_await asyncio::sleep(0);
  }
}

asyncio::Task<> fastpath_main(Trace& tr) {
  auto handler = [](asyncio::StreamReader r, asyncio::StreamWriter w) -> asyncio::Task<> {
    w.write("abcdefghij");
    co_await w.drain();
    co_await asyncio::sleep(0.05);
    w.write("klm");
    co_await w.drain();
    co_await asyncio::sleep(0.05);
    w.write("nop");
    co_await w.drain();
    co_await asyncio::sleep(0.05);
    co_await r.readexactly(1);  // the client's "x" (closing on unread data would reset)
    w.close();
  };
  auto server = co_await asyncio::start_server(handler, "127.0.0.1", 0);
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", server.port());
  co_await asyncio::sleep(0.02);
  auto t = asyncio::create_task(fastpath_ticker(tr));
  writer.write("x");
  co_await writer.drain();
  tr("drained");
  std::string a = co_await reader.readexactly(4);
  tr("ok {:?}", a);
  std::string b = co_await reader.readexactly(4);
  tr("ok {:?}", b);
  std::string c = co_await reader.readexactly(8);
  tr("ok {:?}", c);
  try {
    co_await reader.readexactly(2);
  } catch (const asyncio::IncompleteReadError& e) {
    tr("IncompleteReadError {:?} {}", e.partial, e.expected);
  }
  std::string d = co_await reader.readexactly(0);
  tr("ok {:?}", d);
  co_await t;
  writer.close();
  co_await writer.wait_closed();
  server.close();
  co_await server.wait_closed();
}
}  // namespace

TEST_CASE("readexactly and drain suspend only when they must (tests/python/streams_fastpath.py)") {
  std::size_t fds = open_fd_count();
  Trace tr;
  asyncio::run(fastpath_main(tr));
  std::vector<std::string> expected{
      "drained",
      "ok \"abcd\"",
      "ok \"efgh\"",
      "tick 0",
      "tick 1",
      "tick 2",
      "ok \"ijklmnop\"",  // "ij" was buffered; "klm" and "nop" came on two separate edges
      "IncompleteReadError \"\" 2",
      "ok \"\"",
  };
  CHECK(tr.lines == expected);
  CHECK(open_fd_count() == fds);
}

TEST_CASE("readexactly cancelled or timed out while waiting loses no byte and leaves no waiter") {
  std::size_t fds = open_fd_count();
  auto main = []() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    auto server = co_await asyncio::start_server(
        [](asyncio::StreamReader, asyncio::StreamWriter w) -> asyncio::Task<> {
          w.write("hel");
          co_await asyncio::sleep(0.15);
          w.write("lo world");
          co_await asyncio::sleep(0.1);
          w.close();
        },
        "127.0.0.1", 0);
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", server.port());

    // Cancelled while parked with 3 of its 5 bytes in: they stay in the buffer.
    auto t = asyncio::create_task([](asyncio::StreamReader rr) -> asyncio::Task<std::string> {
      std::string s = co_await rr.readexactly(5);
      co_return s;
    }(r));
    co_await asyncio::sleep(0.02);
    CHECK(loop.io_waiter_count() == 1);
    CHECK(r.buffered() == 3);
    t.cancel();
    CHECK_THROWS_AS(co_await t, asyncio::CancelledError);
    CHECK(loop.io_waiter_count() == 0);
    CHECK(r.buffered() == 3);

    // Timed out (wait_for treats readexactly as a leaf: one TimeoutError, no inner task).
    CHECK_THROWS_AS(co_await asyncio::wait_for(r.readexactly(5), 0.02), asyncio::TimeoutError);
    CHECK(loop.io_waiter_count() == 0);
    CHECK(r.buffered() == 3);

    // One reader at a time: a second one waiting on the same stream is refused.
    auto first = asyncio::create_task([](asyncio::StreamReader rr) -> asyncio::Task<std::string> {
      std::string s = co_await rr.readexactly(11);
      co_return s;
    }(r));
    co_await asyncio::sleep(0.01);
    CHECK_THROWS_WITH(co_await r.readexactly(20), "another task is already waiting to read from this stream");
    std::string all = co_await first;
    CHECK(all == "hello world");
    CHECK(loop.io_waiter_count() == 0);
    w.close();
    co_await w.wait_closed();
    server.close();
    co_await server.wait_closed();
  };
  asyncio::run(main());
  CHECK(open_fd_count() == fds);
}

TEST_CASE("readexactly and drain convert to Task, run as tasks, and report bad input and lost connections") {
  std::size_t fds = open_fd_count();
  auto main = []() -> asyncio::Task<> {
    auto server = co_await asyncio::start_server(
        [](asyncio::StreamReader r, asyncio::StreamWriter w) -> asyncio::Task<> {
          std::string cmd = co_await r.readexactly(1);
          if (cmd == "e") {
            w.write("0123456789");
            co_await w.drain();
            co_await asyncio::sleep(0.2);
            w.close();
            co_return;
          }
          linger lg{1, 0};  // "r": reset the connection (SO_LINGER 0 + close sends an RST)
          ::setsockopt(w.fileno(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
          w.abort();
        },
        "127.0.0.1", 0);
    {
      auto [r, w] = co_await asyncio::open_connection("127.0.0.1", server.port());
      w.write("e");
      asyncio::Task<void> d = w.drain();
      co_await d;
      asyncio::Task<std::string> t = r.readexactly(3);
      std::string a = co_await t;
      CHECK(a == "012");
      auto h = asyncio::create_task(r.readexactly(3));
      std::string b = co_await h;
      CHECK(b == "345");
      auto both = co_await asyncio::gather(r.readexactly(2), asyncio::sleep(0.01, 7));
      CHECK(std::get<0>(both) == "67");
      CHECK_THROWS_AS(co_await r.readexactly(-1), asyncio::ValueError);
      asyncio::StreamReader moved = r;
      asyncio::StreamReader taken = std::move(moved);  // moved is now an empty handle
      CHECK_THROWS_AS(co_await moved.readexactly(1), asyncio::RuntimeError);
      asyncio::StreamWriter no_writer;
      CHECK_THROWS_AS(co_await no_writer.drain(), asyncio::RuntimeError);
      w.close();
      co_await w.wait_closed();
    }
    {
      auto [r, w] = co_await asyncio::open_connection("127.0.0.1", server.port());
      w.write("r");
      CHECK_THROWS_AS(co_await r.readexactly(10), asyncio::ConnectionResetError);
      w.write("more");
      CHECK_THROWS_AS(co_await w.drain(), asyncio::ConnectionError);
      w.close();
    }
    server.close();
    co_await server.wait_closed();
  };
  asyncio::run(main());
  CHECK(open_fd_count() == fds);
}

TEST_CASE("our client against a Python asyncio echo server, 64 MiB through write+drain and readexactly") {
  std::size_t fds = open_fd_count();
  std::string cmd = "python3 " + tests_dir() + "/python/echo_server.py 2";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char line[64] = {0};
  REQUIRE(std::fgets(line, sizeof line, p));
  int port = std::atoi(line);
  REQUIRE(port > 0);
  auto main = [port]() -> asyncio::Task<bool> {
    {
      auto [r, w] = co_await asyncio::open_connection("127.0.0.1", port);
      w.write("hello\n");
      w.writelines(std::vector<std::string>{"a", "b\n"});
      co_await w.drain();
      std::string l1 = co_await r.readline();
      std::string l2 = co_await r.readline();
      CHECK(l1 == "hello\n");
      CHECK(l2 == "ab\n");
      w.close();
      co_await w.wait_closed();
    }
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", port);
    std::string data = payload(3, 64u << 20);
    auto rd = asyncio::create_task([](asyncio::StreamReader rr, std::size_t n) -> asyncio::Task<std::string> {
      std::string got = co_await rr.readexactly(static_cast<long long>(n));
      co_return got;
    }(r, data.size()));
    w.write(data);
    CHECK(w.write_buffer_size() > 0);  // the kernel cannot take 64 MiB at once: it is buffered
    co_await w.drain();
    CHECK(w.write_buffer_size() <= 16 * 1024);
    std::string got = co_await rd;
    w.write_eof();
    std::string rest = co_await r.read();
    w.close();
    co_await w.wait_closed();
    co_return got == data && rest.empty();
  };
  CHECK(asyncio::run(main()));
  CHECK(::pclose(p) == 0);
  CHECK(open_fd_count() == fds);
}

TEST_CASE("20 concurrent Python asyncio clients against our server, byte-exact, one sending 64 MiB") {
  std::size_t fds = open_fd_count();
  auto main = []() -> asyncio::Task<std::string> {
    auto server = co_await asyncio::start_server(echo_handler, "127.0.0.1", 0);
    std::string cmd = "python3 " + tests_dir() + "/python/echo_clients.py " + std::to_string(server.port()) +
                      " 20 " + std::to_string(64 << 20);
    // popen blocks: run it on a thread while the loop serves.
    auto run_clients = [cmd] {
      std::string o;
      FILE* p = ::popen(cmd.c_str(), "r");
      if (!p) return o;
      char buf[256];
      while (std::fgets(buf, sizeof buf, p)) o += buf;
      ::pclose(p);
      return o;
    };
    std::string out = co_await asyncio::to_thread(run_clients);
    server.close();
    co_await server.wait_closed();
    co_return out;
  };
  std::string out = asyncio::run(main());
  CHECK(out == "ok 20 " + std::to_string((64 << 20) + 19 * 100 * 1024) + "\n");
  CHECK(open_fd_count() == fds);
}

TEST_CASE("connect to a closed port raises ConnectionRefusedError naming the address") {
  auto main = []() -> asyncio::Task<std::string> {
    // Find a free port: bind, read it, close.
    auto s = co_await asyncio::start_server(echo_handler, "127.0.0.1", 0);
    int port = s.port();
    s.close();
    try {
      co_await asyncio::open_connection("127.0.0.1", port);
    } catch (const asyncio::ConnectionRefusedError& e) {
      CHECK(e.errno_ == ECONNREFUSED);
      co_return e.what();
    }
    co_return "no error";
  };
  std::size_t fds = open_fd_count();
  std::string msg = asyncio::run(main());
  CHECK(msg.find("[Errno 111]") == 0);
  CHECK(msg.find("Connect call failed ('127.0.0.1', ") != std::string::npos);
  CHECK(open_fd_count() == fds);
}

TEST_CASE("a failed name lookup is an OSError naming the host; localhost resolves on the executor") {
  auto main = []() -> asyncio::Task<> {
    auto server = co_await asyncio::start_server(echo_handler, "127.0.0.1", 0);
    asyncio::ConnectOptions v4{.family = AF_INET};  // (named, as above)
    auto [r, w] = co_await asyncio::open_connection("localhost", server.port(), std::move(v4));
    w.write("x");
    std::string x = co_await r.read(1);
    CHECK(x == "x");
    auto peer = w.get_extra_info("peername");
    CHECK(peer.first == "127.0.0.1");
    CHECK(peer.second == server.port());
    CHECK(w.get_extra_info("sockname").first == "127.0.0.1");
    w.close();
    bool failed = false;
    try {
      co_await asyncio::open_connection("no-such-host.invalid", 80);
    } catch (const asyncio::OSError& e) {
      failed = true;
      CHECK(std::string(e.what()).find("no-such-host.invalid") != std::string::npos);
    }
    CHECK(failed);
    server.close();
  };
  asyncio::run(main());
}

TEST_CASE("peer reset mid-read raises ConnectionResetError, never a crash or a hang") {
  std::size_t fds = open_fd_count();
  auto main = []() -> asyncio::Task<std::string> {
    auto server = co_await asyncio::start_server(
        [](asyncio::StreamReader r, asyncio::StreamWriter w) -> asyncio::Task<> {
          co_await r.read(1);
          // SO_LINGER 0 + close sends an RST.
          linger lg{1, 0};
          ::setsockopt(w.fileno(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
          w.abort();
        },
        "127.0.0.1", 0);
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", server.port());
    w.write("x");
    std::string what = "no error";
    try {
      co_await asyncio::wait_for(r.read(100), 5.0);
    } catch (const asyncio::ConnectionResetError& e) {
      what = e.what();
    }
    // Writing to the reset connection: write() does not throw, drain() reports the error.
    w.write("more");
    bool drain_failed = false;
    try {
      co_await w.drain();
    } catch (const asyncio::ConnectionError&) {
      drain_failed = true;
    }
    CHECK(drain_failed);
    w.close();
    server.close();
    co_return what;
  };
  std::string what = asyncio::run(main());
  CHECK(what.find("[Errno 104] Connection reset by peer: ('127.0.0.1', ") == 0);
  CHECK(open_fd_count() == fds);
}

namespace {
asyncio::Task<> expect_cancelled(asyncio::TaskHandle<> t) {
  bool c = false;
  try {
    co_await t;
  } catch (const asyncio::CancelledError&) {
    c = true;
  }
  CHECK(c);
}
}  // namespace

TEST_CASE("cancelling tasks blocked in read, drain, open_connection and serve_forever leaves nothing behind") {
  std::size_t fds = open_fd_count();
  auto main = []() -> asyncio::Task<> {
    auto& loop = asyncio::get_running_loop();
    // A server that never reads.
    auto server = co_await asyncio::start_server(
        [](asyncio::StreamReader, asyncio::StreamWriter) -> asyncio::Task<> { co_await asyncio::sleep(3600); }, "127.0.0.1",
        0);
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", server.port());

    // read
    auto t1 = asyncio::create_task([](asyncio::StreamReader rr) -> asyncio::Task<> { co_await rr.read(10); }(r));
    co_await asyncio::sleep(0.01);
    CHECK(loop.io_waiter_count() == 1);
    t1.cancel();
    co_await expect_cancelled(t1);
    CHECK(loop.io_waiter_count() == 0);

    // read under wait_for
    bool timed_out = false;
    try {
      co_await asyncio::wait_for(r.read(10), 0.02);
    } catch (const asyncio::TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(loop.io_waiter_count() == 0);

    // drain: fill the pipe until drain has to wait
    auto t2 = asyncio::create_task([](asyncio::StreamWriter ww) -> asyncio::Task<> {
      std::string chunk(1 << 20, 'x');
      for (;;) {
        ww.write(chunk);
        co_await ww.drain();
      }
    }(w));
    co_await asyncio::sleep(0.05);
    CHECK_FALSE(t2.done());
    t2.cancel();
    co_await expect_cancelled(t2);
    timed_out = false;
    try {
      co_await asyncio::wait_for(w.drain(), 0.02);
    } catch (const asyncio::TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    w.abort();

    // open_connection to a listener whose accept queue is full: the connect stays pending.
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(lfd, 0);
    socklen_t len = sizeof a;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    int lport = ntohs(a.sin_port);
    std::vector<asyncio::StreamWriter> fillers;
    bool pending_seen = false;
    for (int i = 0; i < 8 && !pending_seen; ++i) {
      auto t3 = asyncio::create_task(asyncio::open_connection("127.0.0.1", lport));
      co_await asyncio::sleep(0.05);
      if (t3.done()) {
        fillers.push_back(t3.result().second);
        continue;
      }
      pending_seen = true;
      CHECK(loop.io_waiter_count() == 1);
      t3.cancel();
      bool c = false;
      try {
        co_await t3;
      } catch (const asyncio::CancelledError&) {
        c = true;
      }
      CHECK(c);
      CHECK(loop.io_waiter_count() == 0);
    }
    CHECK(pending_seen);
    for (auto& f : fillers) f.close();
    ::close(lfd);

    // serve_forever
    auto t4 = asyncio::create_task([](asyncio::Server s) -> asyncio::Task<> { co_await s.serve_forever(); }(server));
    co_await asyncio::sleep(0.01);
    t4.cancel();
    co_await expect_cancelled(t4);
    CHECK_FALSE(server.is_serving());
    CHECK(server.sockets().empty());
    CHECK(asyncio::testing::timer_count(loop) >= 1);  // the never-reading handler's sleep
  };
  asyncio::run(main());
  CHECK(open_fd_count() == fds);
}

TEST_CASE("accepting under fd exhaustion logs, backs off and keeps serving") {
  std::size_t fds = open_fd_count();
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  std::vector<std::string> logged;
  auto main = [&]() -> asyncio::Task<int> {
    auto& loop = asyncio::get_running_loop();
    loop.set_exception_handler([&](const asyncio::ExceptionContext& c) { logged.push_back(c.message); });
    auto server = co_await asyncio::start_server(echo_handler, "127.0.0.1", 0);
    // Leave room for a few more fds only.
    int maxfd = 0;
    for (int fd = 0; fd < 4096; ++fd)
      if (::fcntl(fd, F_GETFD) >= 0) maxfd = fd;
    rlimit lim = old;
    lim.rlim_cur = static_cast<rlim_t>(maxfd + 1 + 3);
    ::setrlimit(RLIMIT_NOFILE, &lim);
    // RLIMIT_NOFILE bounds fd numbers: fill every free number, then give three back.
    std::vector<int> dummies;
    for (;;) {
      int d = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (d < 0) break;
      dummies.push_back(d);
    }
    for (int k = 0; k < 3 && !dummies.empty(); ++k) {
      ::close(dummies.back());
      dummies.pop_back();
    }
    std::vector<asyncio::StreamWriter> clients;
    std::vector<asyncio::StreamReader> readers;
    for (int i = 0; i < 6; ++i) {
      try {
        auto [r, w] = co_await asyncio::open_connection("127.0.0.1", server.port());
        readers.push_back(r);
        clients.push_back(w);
      } catch (const asyncio::OSError& e) {
        CHECK(e.errno_ == EMFILE);
        break;
      }
      co_await asyncio::sleep(0.01);
    }
    co_await asyncio::sleep(0.2);  // no spinning here: the listener waits on its retry timer
    for (int d : dummies) ::close(d);
    ::setrlimit(RLIMIT_NOFILE, &old);
    int served = 0;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      clients[i].write("ping");
      std::string got = co_await asyncio::wait_for(readers[i].readexactly(4), 5.0);
      if (got == "ping") ++served;
      clients[i].close();
    }
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", server.port());
    w.write("new");
    std::string got = co_await asyncio::wait_for(r.readexactly(3), 5.0);
    CHECK(got == "new");
    w.close();
    server.close();
    co_return served + static_cast<int>(clients.size()) * 100;
  };
  int res = asyncio::run(main());
  ::setrlimit(RLIMIT_NOFILE, &old);
  int nclients = res / 100, served = res % 100;
  CHECK(nclients >= 1);
  CHECK(served == nclients);  // every pending connection was served once fds freed up
  REQUIRE_FALSE(logged.empty());
  CHECK(logged.front() == "socket.accept() out of system resource");
  CHECK(logged.size() <= 3);  // one report per back-off period, no spinning
  CHECK(open_fd_count() == fds);
}

TEST_CASE("Unix-domain streams, line iteration and write_eof") {
  std::size_t fds = open_fd_count();
  std::string path = "/tmp/asyncio_test_" + std::to_string(::getpid()) + ".sock";
  auto main = [path]() -> asyncio::Task<std::vector<std::string>> {
    auto server = co_await asyncio::start_unix_server(
        [](asyncio::StreamReader r, asyncio::StreamWriter w) -> asyncio::Task<> {
          int n = 0;
          while (auto line = co_await r.anext()) {
            ++n;
            w.write("echo: " + *line);
          }
          w.write("lines: " + std::to_string(n) + "\n");
          co_await w.drain();
          w.close();
        },
        path);
    auto [r, w] = co_await asyncio::open_unix_connection(path);
    CHECK(w.get_extra_info("peername").first == path);
    w.write("one\ntwo\nthree");
    w.write_eof();
    std::vector<std::string> lines;
    while (auto l = co_await r.anext()) lines.push_back(*l);
    CHECK(r.at_eof());
    w.close();
    co_await w.wait_closed();
    CHECK(w.is_closing());
    server.close();
    co_await server.wait_closed();
    co_return lines;
  };
  auto lines = asyncio::run(main());
  CHECK(lines == std::vector<std::string>{"echo: one\n", "echo: two\n", "echo: threelines: 3\n"});
  ::unlink(path.c_str());
  CHECK(open_fd_count() == fds);
}

TEST_CASE("reuse_port lets two servers share a port; port 0 and sockets()") {
  auto main = []() -> asyncio::Task<> {
    asyncio::ServerOptions shared{.reuse_port = true};  // (named, as above)
    auto a = co_await asyncio::start_server(echo_handler, "127.0.0.1", 0, shared);
    auto b = co_await asyncio::start_server(echo_handler, "127.0.0.1", a.port(), shared);
    CHECK(a.port() == b.port());
    CHECK(a.sockets().size() == 1);
    CHECK(a.sockets()[0].getsockname() == std::pair<std::string, int>{"127.0.0.1", a.port()});
    bool failed = false;
    try {
      co_await asyncio::start_server(echo_handler, "127.0.0.1", a.port());
    } catch (const asyncio::OSError& e) {
      failed = e.errno_ == EADDRINUSE;
    }
    CHECK(failed);
    a.close();
    b.close();
  };
  asyncio::run(main());
}

// ------------------------------------------------------------------ sock= (Python's sock argument)
namespace {
/// A TCP socket bound to 127.0.0.1 on an ephemeral port, not listening (blocking, as
/// socket.socket() makes it); its port in *port.
int bound_tcp_socket(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}
/// A blocking TCP socket connected to 127.0.0.1:port (the listener's backlog completes it).
int connected_tcp_socket(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}
bool fd_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

/// What `t`, run to completion on a loop of its own, raised as E ("(nothing raised)" if nothing).
template <class E, class T>
std::string raised_what(asyncio::Task<T> t) {
  try {
    asyncio::run(std::move(t));
  } catch (const E& e) {
    return e.what();
  }
  return "(nothing raised)";
}
}  // namespace

TEST_CASE("start_server and open_connection on made sockets ({.sock = fd}) own them: closing closes the fd") {
  std::size_t fds = open_fd_count();
  int port = 0;
  int lfd = bound_tcp_socket(&port);  // bound, not listening: the server calls listen()
  auto main = [lfd, port]() -> asyncio::Task<std::string> {
    asyncio::ServerOptions so{.sock = lfd};
    auto server = co_await asyncio::start_server(echo_handler, so);
    CHECK(server.port() == port);
    REQUIRE(server.sockets().size() == 1);
    CHECK(server.sockets()[0].fileno() == lfd);
    CHECK(server.sockets()[0].getsockname() == std::pair<std::string, int>{"127.0.0.1", port});
    CHECK((::fcntl(lfd, F_GETFL) & O_NONBLOCK) != 0);
    int cfd = connected_tcp_socket(port);  // blocking as made: open_connection makes it non-blocking
    asyncio::ConnectOptions co{.sock = cfd};
    auto [r, w] = co_await asyncio::open_connection(co);
    CHECK(w.fileno() == cfd);
    CHECK(w.get_extra_info("peername") == std::pair<std::string, int>{"127.0.0.1", port});
    w.write("over a made socket\n");
    std::string line = co_await r.readline();
    w.close();
    co_await w.wait_closed();
    CHECK_FALSE(fd_open(cfd));  // the writer closed it
    server.close();
    co_await server.wait_closed();
    CHECK_FALSE(fd_open(lfd));  // the server closed it
    co_return line;
  };
  CHECK(asyncio::run(main()) == "over a made socket\n");
  CHECK(open_fd_count() == fds);
}

TEST_CASE("{.sock = fd} takes Unix sockets: a socketpair's two ends as two streams; a listening Unix socket") {
  std::size_t fds = open_fd_count();
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  std::string path = "/tmp/asyncio_test_sock_" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  int ufd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(ufd, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0);
  REQUIRE(::listen(ufd, 5) == 0);  // already listening: fine too
  auto main = [&]() -> asyncio::Task<> {
    asyncio::ConnectOptions a{.sock = sv[0]}, b{.sock = sv[1]};
    auto [ra, wa] = co_await asyncio::open_connection(a);
    auto [rb, wb] = co_await asyncio::open_connection(b);
    wa.write("ping");
    wa.write_eof();
    std::string got = co_await rb.read();
    CHECK(got == "ping");
    wb.write("pong");
    wb.close();
    got = co_await ra.read();
    CHECK(got == "pong");
    wa.close();
    co_await wa.wait_closed();
    co_await wb.wait_closed();

    asyncio::ServerOptions so{.sock = ufd};
    auto server = co_await asyncio::start_server(echo_handler, so);
    CHECK(server.sockets().at(0).getsockname().first == path);
    auto [r, w] = co_await asyncio::open_unix_connection(path);
    w.write("unix\n");
    std::string line = co_await r.readline();
    CHECK(line == "unix\n");
    w.close();
    co_await w.wait_closed();
    server.close();
    co_await server.wait_closed();
  };
  asyncio::run(main());
  ::unlink(path.c_str());
  CHECK_FALSE(fd_open(sv[0]));
  CHECK_FALSE(fd_open(sv[1]));
  CHECK_FALSE(fd_open(ufd));
  CHECK(open_fd_count() == fds);
}

TEST_CASE("{.sock = fd} refused: with host/port or a path, none, not a socket, closed, datagram, unconnected, connected") {
  using asyncio::OSError;
  using asyncio::ValueError;
  std::size_t fds = open_fd_count();
  int port = 0;
  int tcp = bound_tcp_socket(&port);  // bound, unconnected, not listening
  int pipefd[2];
  REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
  int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int closed = 1 << 20;  // (a closed fd's number would be reused by the loop's own fds)
  asyncio::ConnectOptions c{.sock = tcp};
  asyncio::ServerOptions s{.sock = tcp};
  // Python's ValueErrors, word for word.
  CHECK(raised_what<ValueError>(asyncio::open_connection("127.0.0.1", port, c)) ==
        "host/port and sock can not be specified at the same time");
  CHECK(raised_what<ValueError>(asyncio::open_unix_connection("/tmp/x.sock", c)) ==
        "path and sock can not be specified at the same time");
  CHECK(raised_what<ValueError>(asyncio::start_server(echo_handler, "127.0.0.1", 0, s)) ==
        "host/port and sock can not be specified at the same time");
  CHECK(raised_what<ValueError>(asyncio::start_unix_server(echo_handler, "/tmp/x.sock", s)) ==
        "path and sock can not be specified at the same time");
  CHECK(raised_what<ValueError>(asyncio::open_connection(asyncio::ConnectOptions{})) ==
        "host and port was not specified and no sock specified");
  CHECK(raised_what<ValueError>(asyncio::start_server(echo_handler, asyncio::ServerOptions{})) ==
        "Neither host/port nor sock were specified");
  asyncio::ConnectOptions name_without_tls{.server_hostname = "x", .sock = tcp};
  CHECK(raised_what<ValueError>(asyncio::open_connection(name_without_tls)) ==
        "server_hostname is only meaningful with ssl");
  // Not a socket, a closed fd: OSError with the errno.
  for (int bad : {pipefd[0], closed}) {
    std::string want = "[Errno " + std::to_string(bad == closed ? EBADF : ENOTSOCK) + "]";
    asyncio::ConnectOptions cb{.sock = bad};
    asyncio::ServerOptions sb{.sock = bad};
    CHECK(raised_what<OSError>(asyncio::open_connection(cb)).find(want) != std::string::npos);
    CHECK(raised_what<OSError>(asyncio::start_server(echo_handler, sb)).find(want) != std::string::npos);
  }
  // A datagram socket: ValueError, as Python's.
  asyncio::ConnectOptions cu{.sock = udp};
  asyncio::ServerOptions su{.sock = udp};
  CHECK(raised_what<ValueError>(asyncio::open_connection(cu)).find("A Stream Socket was expected") == 0);
  CHECK(raised_what<ValueError>(asyncio::start_server(echo_handler, su)).find("A Stream Socket was expected") == 0);
  // open_connection wants a connected socket.
  std::string what = raised_what<OSError>(asyncio::open_connection(c));
  CHECK(what.find("[Errno " + std::to_string(ENOTCONN) + "]") != std::string::npos);
  CHECK(what.find("is not a connected socket") != std::string::npos);
  // start_server cannot listen on a connected socket.
  REQUIRE(::listen(tcp, 1) == 0);
  int conn = connected_tcp_socket(port);
  asyncio::ServerOptions sc{.sock = conn};
  CHECK(raised_what<OSError>(asyncio::start_server(echo_handler, sc)).find("[Errno " + std::to_string(EINVAL) + "]") !=
        std::string::npos);
  // Every refused fd is still the caller's.
  for (int fd : {tcp, conn, pipefd[0], pipefd[1], udp}) {
    CHECK(fd_open(fd));
    ::close(fd);
  }
  CHECK(open_fd_count() == fds);
}
