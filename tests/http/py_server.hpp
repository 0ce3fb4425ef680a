// tests/http/server.py (Python's http.server, plain or TLS) in a child process, for the HTTP
// client's tests.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"

namespace http_test {

/// A Python test server in a child process (killed with the test); its first stdout line is
/// "<port> [<ca-file>]".
class PyServer {
 public:
  /// tests/http/server.py with `args`.
  explicit PyServer(std::vector<std::string> args) : PyServer(here() + "/server.py", std::move(args)) {}
  /// Any such script (its first stdout line: "<port> [<extra>]").
  PyServer(const std::string& script, std::vector<std::string> args) {
    std::vector<std::string> argv_s{"python3", script};
    for (auto& a : args) argv_s.push_back(a);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive a crashed test
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execvp("python3", argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    std::string line;
    char c;
    while (::read(fds[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(fds[0]);
    std::istringstream is(line);
    is >> port_ >> ca_;
    REQUIRE(port_ > 0);
  }
  ~PyServer() {
    // SIGTERM, and SIGKILL if it is not gone within 2 s: a server stuck in a handler must not
    // keep the test process from exiting (ctest would report a timeout after every check passed).
    ::kill(pid_, SIGTERM);
    int st;
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_) return;
      ::usleep(10000);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &st, 0);
  }
  int port() const { return port_; }
  const std::string& ca_file() const { return ca_; }
  std::string url(const std::string& path, const char* scheme = "http") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  static std::string here() {
    std::string f = __FILE__;
    return f.substr(0, f.rfind('/'));
  }
  pid_t pid_ = 0;
  int port_ = 0;
  std::string ca_;
};

}  // namespace http_test
