// asyncio/exceptions.hpp — the exception types of Python's asyncio (and the OS errors it raises).
//
// Every type derives from std::exception through a *virtual* std::runtime_error base, so a type
// that is two things at once (http::ServerTimeoutError is a ClientError and a TimeoutError) still
// has exactly one std::exception inside. The one exception is CancelledError, which, like Python's
// BaseException subclass, is deliberately NOT a std::exception: `catch (const std::exception&)`
// never swallows a cancellation.
#pragma once

#include <cerrno>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

namespace asyncio {

/// Raised at a task's suspension point when the task is cancelled (Python's asyncio.CancelledError).
/// Not a std::exception. `what()` returns the message given to `cancel(msg)` (may be empty).
class CancelledError final {
 public:
  CancelledError() = default;
  explicit CancelledError(std::string msg) : msg_(std::move(msg)) {}
  const char* what() const noexcept { return msg_.c_str(); }
  const std::string& message() const noexcept { return msg_; }

 private:
  std::string msg_;
};

/// Raised by run() / Runner::run() when Ctrl-C (SIGINT) cancelled the main task (Python's
/// KeyboardInterrupt). Like CancelledError it is a BaseException: NOT a std::exception.
/// As in Python, raised inside a task it ends the task and propagates out of the loop's run,
/// and raised in a TaskGroup it comes out bare, not in an ExceptionGroup. (final: the loop tells
/// it by its exact type.)
class KeyboardInterrupt final {
 public:
  const char* what() const noexcept { return "KeyboardInterrupt"; }
};

/// Python's SystemExit (a BaseException, NOT a std::exception), with its exit `code`. Treated
/// as KeyboardInterrupt is: out of the loop from a task, bare out of a TaskGroup.
class SystemExit final {
 public:
  SystemExit() = default;
  explicit SystemExit(int c) : code(c) {}
  const char* what() const noexcept { return "SystemExit"; }
  int code = 0;
};

/// Python's RuntimeError: wrong use of the loop (no running loop, loop closed, run() nested…).
class RuntimeError : public virtual std::runtime_error {
 public:
  explicit RuntimeError(const std::string& what) : std::runtime_error(what) {}
};

/// Python's NotImplementedError (a RuntimeError there too): an operation this object does not
/// support (StreamWriter::write_eof() on a TLS stream).
class NotImplementedError : public RuntimeError {
 public:
  explicit NotImplementedError(const std::string& what) : std::runtime_error(what), RuntimeError(what) {}
};

/// Python's ValueError: an argument with the right type and a bad value.
class ValueError : public virtual std::runtime_error {
 public:
  explicit ValueError(const std::string& what) : std::runtime_error(what) {}
};

/// Python's TypeError: an argument of the wrong kind (rare in C++; kept for the ported APIs).
class TypeError : public virtual std::runtime_error {
 public:
  explicit TypeError(const std::string& what) : std::runtime_error(what) {}
};

/// Python's OSError: a failed system call. `errno_` holds the errno value (0 when none).
class OSError : public virtual std::runtime_error {
 public:
  explicit OSError(int err, const std::string& what)
      : std::runtime_error(what), errno_(err) {}
  /// "[Errno N] strerror: context", as Python prints it.
  static std::string format(int err, const std::string& context) {
    std::string s = "[Errno " + std::to_string(err) + "] " + std::strerror(err);
    if (!context.empty()) s += ": " + context;
    return s;
  }
  int errno_ = 0;
};

/// Python's TimeoutError (an OSError); asyncio.TimeoutError is the same type since 3.11.
class TimeoutError : public OSError {
 public:
  TimeoutError() : TimeoutError("") {}
  explicit TimeoutError(const std::string& what)
      : std::runtime_error(what), OSError(ETIMEDOUT, what) {}
};

class ConnectionError : public OSError {
 public:
  ConnectionError(int err, const std::string& what) : std::runtime_error(what), OSError(err, what) {}
};
class ConnectionRefusedError : public ConnectionError {
 public:
  explicit ConnectionRefusedError(const std::string& what)
      : std::runtime_error(what), ConnectionError(ECONNREFUSED, what) {}
};
class ConnectionResetError : public ConnectionError {
 public:
  explicit ConnectionResetError(const std::string& what)
      : std::runtime_error(what), ConnectionError(ECONNRESET, what) {}
};
class ConnectionAbortedError : public ConnectionError {
 public:
  explicit ConnectionAbortedError(const std::string& what)
      : std::runtime_error(what), ConnectionError(ECONNABORTED, what) {}
};
class BrokenPipeError : public ConnectionError {
 public:
  explicit BrokenPipeError(const std::string& what)
      : std::runtime_error(what), ConnectionError(EPIPE, what) {}
};

/// Python's OSError subclasses for files (raised by files.hpp, as Python's open() raises them).
class FileNotFoundError : public OSError {
 public:
  explicit FileNotFoundError(const std::string& what) : std::runtime_error(what), OSError(ENOENT, what) {}
};
class FileExistsError : public OSError {
 public:
  explicit FileExistsError(const std::string& what) : std::runtime_error(what), OSError(EEXIST, what) {}
};
class PermissionError : public OSError {
 public:
  PermissionError(int err, const std::string& what) : std::runtime_error(what), OSError(err, what) {}
};
class IsADirectoryError : public OSError {
 public:
  explicit IsADirectoryError(const std::string& what) : std::runtime_error(what), OSError(EISDIR, what) {}
};
class NotADirectoryError : public OSError {
 public:
  explicit NotADirectoryError(const std::string& what) : std::runtime_error(what), OSError(ENOTDIR, what) {}
};

/// Python's ProcessLookupError: a signal for a child process that has already exited.
class ProcessLookupError : public OSError {
 public:
  explicit ProcessLookupError(const std::string& what) : std::runtime_error(what), OSError(ESRCH, what) {}
};

namespace detail {
/// Throws the OSError subclass Python picks for `err` ("[Errno N] strerror: context").
[[noreturn]] inline void raise_file_error(int err, const std::string& context) {
  std::string what = OSError::format(err, context);
  switch (err) {
    case ENOENT: throw FileNotFoundError(what);
    case EEXIST: throw FileExistsError(what);
    case EACCES:
    case EPERM: throw PermissionError(err, what);
    case EISDIR: throw IsADirectoryError(what);
    case ENOTDIR: throw NotADirectoryError(what);
    default: throw OSError(err, what);
  }
}
}  // namespace detail

/// A Future/Task was in the wrong state for the operation (result() before done, set twice…).
class InvalidStateError : public virtual std::runtime_error {
 public:
  explicit InvalidStateError(const std::string& what) : std::runtime_error(what) {}
};

/// StreamReader::readexactly() hit EOF first. `partial` holds what was read.
class IncompleteReadError : public virtual std::runtime_error {
 public:
  IncompleteReadError(std::string partial_, long long expected_)
      : std::runtime_error(std::to_string(partial_.size()) + " bytes read on a total of " +
                           (expected_ < 0 ? std::string("undefined") : std::to_string(expected_)) +
                           " expected bytes"),
        partial(std::move(partial_)),
        expected(expected_) {}
  std::string partial;
  long long expected;  // -1 means "undefined" (Python's None)
};

/// StreamReader::readuntil() passed the buffer limit; `consumed` bytes are left in the buffer.
class LimitOverrunError : public virtual std::runtime_error {
 public:
  LimitOverrunError(const std::string& what, std::size_t consumed_)
      : std::runtime_error(what), consumed(consumed_) {}
  std::size_t consumed;
};

class QueueEmpty : public virtual std::runtime_error {
 public:
  QueueEmpty() : std::runtime_error("Queue is empty") {}
};
class QueueFull : public virtual std::runtime_error {
 public:
  QueueFull() : std::runtime_error("Queue is full") {}
};
class QueueShutDown : public virtual std::runtime_error {
 public:
  QueueShutDown() : std::runtime_error("Queue is shut down") {}
};
class BrokenBarrierError : public virtual std::runtime_error {
 public:
  BrokenBarrierError() : std::runtime_error("Barrier aborted") {}
  explicit BrokenBarrierError(const std::string& what) : std::runtime_error(what) {}
};

/// Ends an async iteration when thrown from anext() (Python's StopAsyncIteration).
class StopAsyncIteration : public virtual std::runtime_error {
 public:
  StopAsyncIteration() : std::runtime_error("StopAsyncIteration") {}
};

/// Several exceptions at once (TaskGroup). `exceptions()` holds every one, in completion order.
class ExceptionGroup : public virtual std::runtime_error {
 public:
  ExceptionGroup(const std::string& msg, std::vector<std::exception_ptr> excs)
      : std::runtime_error(describe(msg, excs)), message_(msg), exceptions_(std::move(excs)) {}
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }
  const std::string& message() const noexcept { return message_; }

 private:
  static std::string describe(const std::string& msg, const std::vector<std::exception_ptr>& e) {
    return msg + " (" + std::to_string(e.size()) + " sub-exception" + (e.size() == 1 ? "" : "s") + ")";
  }
  std::string message_;
  std::vector<std::exception_ptr> exceptions_;
};

namespace detail {
/// what() of any exception_ptr, for reports ("CancelledError" for a cancellation).
inline std::string describe_exception(const std::exception_ptr& e) {
  if (!e) return "None";
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError& c) {
    return std::string("CancelledError(") + c.what() + ")";
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}
/// KeyboardInterrupt or SystemExit (Python's TaskGroup._is_base_error; what Task.__step lets
/// out of the loop).
inline bool is_base_error(const std::exception_ptr& e) {
  if (!e) return false;
#if defined(__GLIBCXX__) && (defined(__GXX_RTTI) || defined(__cpp_rtti))
  if (const std::type_info* t = e.__cxa_exception_type())
    return *t == typeid(KeyboardInterrupt) || *t == typeid(SystemExit);  // (both final)
#endif
  try {
    std::rethrow_exception(e);
  } catch (const KeyboardInterrupt&) {
    return true;
  } catch (const SystemExit&) {
    return true;
  } catch (...) {
    return false;
  }
}
inline bool is_cancelled_error(const std::exception_ptr& e) {
  if (!e) return false;
#if defined(__GLIBCXX__) && (defined(__GXX_RTTI) || defined(__cpp_rtti))
  // CancelledError is final, so its exact type answers; no rethrow (which costs ~15k
  // instructions of unwinding) on the path every cancelled coroutine frame takes.
  if (const std::type_info* t = e.__cxa_exception_type()) return *t == typeid(CancelledError);
#endif
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError&) {
    return true;
  } catch (...) {
    return false;
  }
}
}  // namespace detail
}  // namespace asyncio
