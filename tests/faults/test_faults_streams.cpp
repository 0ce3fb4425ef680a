// Fault suite, streams: peers that reset mid-write, stall, dribble one byte at a time, or close
// with data still unsent; cancellation and timeouts on every stream awaitable with the peer gone;
// fd exhaustion. The peers here are plain POSIX sockets on threads (never our own stack), so a
// bug on our side cannot hide behind the same bug on the other side. (No `co_await` inside a
// CHECK: GCC 12 miscompiles it — see README "GCC 12 and coroutines".)
#include <asyncio/asyncio.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "catch.hpp"
#include "io_helpers.hpp"
#include "peers.hpp"

using namespace std::chrono_literals;

using namespace faults;

// Issue 13 item 1a: the flush that ends a closing connection released the stream's reference
// twice (heap-use-after-free under ASan, silent heap corruption without).
TEST_CASE("write 16 MiB, close, wait_closed to a slow peer: every byte arrives, then the stream goes") {
  RawListener l(4096);
  std::size_t fds = open_fd_count();
  const std::string data = pattern(16u << 20);
  std::string got;
  std::thread peer([&] {
    int c = l.accept_one();
    char buf[8192];
    for (int i = 0;; ++i) {
      if (i < 20) std::this_thread::sleep_for(2ms);  // slow at first: our buffer fills up
      ssize_t k = ::recv(c, buf, sizeof buf, 0);
      if (k <= 0) break;
      got.append(buf, static_cast<std::size_t>(k));
    }
    ::close(c);
  });
  asyncio::run([&]() -> asyncio::Task<> {
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", l.port);
    w.write(data);
    CHECK(w.write_buffer_size() > 0);  // the peer's small window kept most of it here
    w.close();
    co_await w.wait_closed();
    CHECK(w.write_buffer_size() == 0);
  }());  // reader and writer dropped here, after the flush that closed the connection
  peer.join();
  CHECK(got.size() == data.size());
  CHECK(got == data);
  CHECK(open_fd_count() == fds);
}

// Issue 13 item 1b: the peer resets while our write buffer still holds data.
TEST_CASE("peer resets while the write buffer holds data: drain raises, nothing is released twice") {
  RawListener l(4096);
  std::size_t fds = open_fd_count();
  std::atomic<bool> client_wrote{false};
  std::thread peer([&] {
    int c = l.accept_one();
    while (!client_wrote) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);
    reset_close(c);
  });
  bool reset_seen = false;
  asyncio::run([&]() -> asyncio::Task<> {
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", l.port);
    w.write(pattern(8u << 20));
    CHECK(w.write_buffer_size() > 0);
    client_wrote = true;
    try {
      co_await asyncio::wait_for(w.drain(), 5.0);
    } catch (const asyncio::ConnectionError&) {
      reset_seen = true;  // ConnectionResetError, or BrokenPipeError if the send saw it first
    }
    CHECK(w.is_closing());
    w.close();
    co_await w.wait_closed();
  }());
  peer.join();
  CHECK(reset_seen);
  CHECK(open_fd_count() == fds);
}

TEST_CASE("peer resets while a closing writer still flushes: wait_closed returns, no double release") {
  RawListener l(4096);
  std::size_t fds = open_fd_count();
  std::atomic<bool> closed{false};
  std::thread peer([&] {
    int c = l.accept_one();
    char buf[1024];
    ::recv(c, buf, sizeof buf, 0);  // read a little, so the flush is mid-way
    while (!closed) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(10ms);
    reset_close(c);
  });
  asyncio::run([&]() -> asyncio::Task<> {
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", l.port);
    w.write(pattern(8u << 20));
    w.close();
    closed = true;
    co_await asyncio::wait_for(w.wait_closed(), 5.0);  // Python: wait_closed does not raise
  }());
  peer.join();
  CHECK(open_fd_count() == fds);
}

TEST_CASE("peer closes with data we never read: reads return it, then EOF; writes then fail") {
  RawListener l;
  std::thread peer([&] {
    int c = l.accept_one();
    ::send(c, "hello\nworld", 11, MSG_NOSIGNAL);
    ::shutdown(c, SHUT_WR);
    std::this_thread::sleep_for(50ms);
    ::close(c);
  });
  asyncio::run([&]() -> asyncio::Task<> {
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", l.port);
    std::string got1 = co_await r.readline();
    CHECK(got1 == "hello\n");
    // readexactly past the EOF: IncompleteReadError with the partial bytes, as Python.
    bool incomplete = false;
    try {
      co_await r.readexactly(100);
    } catch (const asyncio::IncompleteReadError& e) {
      incomplete = e.partial == "world" && e.expected == 100;
    }
    CHECK(incomplete);
    std::string got2 = co_await r.read(10);
    CHECK(got2 == "");
    CHECK(r.at_eof());
    w.close();
    co_await w.wait_closed();
  }());
  peer.join();
}

TEST_CASE("a peer that sends one byte at a time: readline, readuntil and readexactly still exact") {
  RawListener l;
  const std::string msg = "line one\nsecond::part::" + pattern(300) + "tail";
  std::thread peer([&] {
    int c = l.accept_one();
    int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (char ch : msg) {
      ::send(c, &ch, 1, MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ::close(c);
  });
  asyncio::run([&]() -> asyncio::Task<> {
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", l.port);
    std::string got3 = co_await r.readline();
    CHECK(got3 == "line one\n");
    const std::string sep = "::";  // (a named separator: no temporary inside the co_await)
    std::string got4 = co_await r.readuntil(sep);
    CHECK(got4 == "second::");
    std::string got5 = co_await r.readuntil(sep);
    CHECK(got5 == "part::");
    std::string got6 = co_await r.readexactly(300);
    CHECK(got6 == pattern(300));
    std::string got7 = co_await r.read();
    CHECK(got7 == "tail");
    w.close();
  }());
  peer.join();
}

TEST_CASE("a stalled peer: read, readline, readexactly, readuntil and drain time out, lose nothing") {
  RawListener l(4096);
  std::atomic<bool> done{false};
  std::thread peer([&] {
    int c = l.accept_one();
    ::send(c, "abc", 3, MSG_NOSIGNAL);  // then nothing, and it reads nothing
    while (!done) std::this_thread::sleep_for(1ms);
    ::send(c, "def\n", 4, MSG_NOSIGNAL);
    std::this_thread::sleep_for(20ms);
    ::close(c);
  });
  asyncio::run([&]() -> asyncio::Task<> {
    auto [r0, w] = co_await asyncio::open_connection("127.0.0.1", l.port);
    asyncio::StreamReader r = r0;  // (a lambda below captures it: no structured binding)
    std::string got8 = co_await r.read(3);
    CHECK(got8 == "abc");
    int timeouts = 0;
    try { co_await asyncio::wait_for(r.read(10), 0.02); } catch (const asyncio::TimeoutError&) { ++timeouts; }
    try { co_await asyncio::wait_for(r.readline(), 0.02); } catch (const asyncio::TimeoutError&) { ++timeouts; }
    try { co_await asyncio::wait_for(r.readexactly(4), 0.02); } catch (const asyncio::TimeoutError&) { ++timeouts; }
    const std::string nl = "\n";
    try { co_await asyncio::wait_for(r.readuntil(nl), 0.02); } catch (const asyncio::TimeoutError&) { ++timeouts; }
    w.write(pattern(4u << 20));
    try { co_await asyncio::wait_for(w.drain(), 0.05); } catch (const asyncio::TimeoutError&) { ++timeouts; }
    CHECK(timeouts == 5);
    {
      auto t = asyncio::timeout(0.02);
      bool hit = false;
      try {
        co_await asyncio::async_with(t, [&](asyncio::Timeout&) -> asyncio::Task<> { co_await r.read(1); });
      } catch (const asyncio::TimeoutError&) {
        hit = true;
      }
      CHECK(hit);
    }
    done = true;
    std::string last = co_await r.readline();
    CHECK(last == "def\n");  // nothing consumed by the cancelled reads
    w.abort();
  }());
  peer.join();
}

TEST_CASE("cancelling tasks suspended on read and drain after the peer vanished: nothing left") {
  RawListener l(4096);
  std::size_t fds = open_fd_count();
  std::atomic<bool> go{false};
  std::thread peer([&] {
    int c = l.accept_one();
    while (!go) std::this_thread::sleep_for(1ms);
    reset_close(c);
  });
  asyncio::run([&]() -> asyncio::Task<> {
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", l.port);
    w.write(pattern(4u << 20));
    auto reader = asyncio::create_task([](asyncio::StreamReader r) -> asyncio::Task<std::string> {
      co_return co_await r.read(10);
    }(r));
    auto drainer = asyncio::create_task([](asyncio::StreamWriter w) -> asyncio::Task<> {
      co_await w.drain();
    }(w));
    co_await asyncio::sleep(0.01);
    go = true;
    co_await asyncio::sleep(0.05);  // the reset arrives while both are (or were) suspended
    reader.cancel();
    drainer.cancel();
    int outcomes = 0;
    try { co_await reader; ++outcomes; } catch (const asyncio::CancelledError&) { ++outcomes; } catch (const asyncio::ConnectionError&) { ++outcomes; }
    try { co_await drainer; ++outcomes; } catch (const asyncio::CancelledError&) { ++outcomes; } catch (const asyncio::ConnectionError&) { ++outcomes; }
    CHECK(outcomes == 2);
    w.close();
    co_await w.wait_closed();
  }());
  peer.join();
  CHECK(open_fd_count() == fds);
}
