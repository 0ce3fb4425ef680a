// CPython 3.11 Lib/test/test_asyncio/test_streams.py, StreamTests: the cases on a StreamReader
// fed by the program (feed_data / feed_eof / set_exception), one Catch2 case per method, named
// after it. `stream._buffer` is read through buffered() and a read of that many bytes.
#include <asyncio/asyncio.hpp>

#include <stdexcept>
#include <string>

#include "catch.hpp"

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
