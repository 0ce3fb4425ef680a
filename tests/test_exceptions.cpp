// exceptions.hpp: Python's hierarchy, std::exception exactly once, CancelledError outside it.
#include <asyncio/exceptions.hpp>

#include <type_traits>

#include "catch.hpp"

TEST_CASE("every exception but CancelledError is a std::exception via runtime_error") {
  using namespace asyncio;
  STATIC_REQUIRE_FALSE(std::is_base_of_v<std::exception, CancelledError>);
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, TimeoutError>);
  STATIC_REQUIRE(std::is_base_of_v<OSError, TimeoutError>);  // as in Python 3.11
  STATIC_REQUIRE(std::is_base_of_v<ConnectionError, ConnectionRefusedError>);
  STATIC_REQUIRE(std::is_base_of_v<OSError, BrokenPipeError>);
  STATIC_REQUIRE(std::is_base_of_v<OSError, ProcessLookupError>);
  STATIC_REQUIRE(std::is_base_of_v<std::exception, InvalidStateError>);
  STATIC_REQUIRE(std::is_base_of_v<std::exception, QueueEmpty>);
  STATIC_REQUIRE(std::is_base_of_v<std::exception, ExceptionGroup>);
  try {
    throw ProcessLookupError("gone");
  } catch (const OSError& e) {
    CHECK(e.errno_ == ESRCH);
  }
  try {
    throw ConnectionRefusedError(OSError::format(ECONNREFUSED, "127.0.0.1:1"));
  } catch (const std::exception& e) {  // one std::exception base: no ambiguity
    CHECK(std::string(e.what()) == "[Errno 111] Connection refused: 127.0.0.1:1");
  }
}

TEST_CASE("exception attributes are Python's") {
  asyncio::IncompleteReadError e("ab", 5);
  CHECK(e.partial == "ab");
  CHECK(e.expected == 5);
  CHECK(std::string(e.what()) == "2 bytes read on a total of 5 expected bytes");
  asyncio::LimitOverrunError l("Separator is not found, and chunk exceed the limit", 7);
  CHECK(l.consumed == 7);
  asyncio::ExceptionGroup g("unhandled errors in a TaskGroup", {std::make_exception_ptr(asyncio::ValueError("x"))});
  CHECK(g.exceptions().size() == 1);
  CHECK(std::string(g.what()) == "unhandled errors in a TaskGroup (1 sub-exception)");
  asyncio::CancelledError c("why");
  CHECK(std::string(c.what()) == "why");
  CHECK(asyncio::TimeoutError().errno_ == ETIMEDOUT);
}
