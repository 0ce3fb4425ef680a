// Peers for the fault suite: plain POSIX sockets, never our own stack, so that a bug on our
// side cannot hide behind the same bug on the other side.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "catch.hpp"

namespace faults {

/// A listening socket on 127.0.0.1 (ephemeral port) whose accepted sockets get `rcvbuf` as
/// their receive buffer (set before listen(), so the window is small from the first segment).
struct RawListener {
  int fd = -1;
  int port = 0;
  explicit RawListener(int rcvbuf = 0) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  int accept_one() const { return ::accept(fd, nullptr, nullptr); }
  ~RawListener() { ::close(fd); }
};

void reset_close(int fd) {  // SO_LINGER 0 + close sends an RST
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(fd);
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return s;
}

}  // namespace faults
