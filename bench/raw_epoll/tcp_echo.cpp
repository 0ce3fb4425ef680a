// tcp_echo (raw epoll floor): the same workload as bench/{python,asio,ours}/
// tcp_echo -- an echo server on 127.0.0.1 (ephemeral port) and CONNS=50
// clients in one process, each client doing N/50 round trips of 64 bytes --
// written as plain non-blocking sockets driven by ONE level-triggered epoll
// loop on one thread: no coroutines, no callbacks-by-allocation, no timers.
// This is the floor a coroutine runtime should be measured against.
// TCP_NODELAY on both ends, like the other peers.  Timing starts after all 50
// connections are established and accepted.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench_common.hpp"

namespace {

constexpr int kConns = 50;
constexpr int kMsg = 64;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "tcp_echo(raw_epoll): %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

struct Conn {
  int fd = -1;
  bool is_client = false;
  char buf[kMsg];      // inbound message being assembled
  int have = 0;        // bytes of buf filled
  char out[kMsg];      // outbound message
  int out_off = kMsg;  // == kMsg: nothing pending
  std::size_t rounds_left = 0;
  bool want_out = false;  // EPOLLOUT registered
};

int epfd = -1;

void set_nonblock_nodelay(int fd) {
  int fl = fcntl(fd, F_GETFL, 0);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("fcntl");
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) die("TCP_NODELAY");
}

void update_interest(Conn& c, bool want_out) {
  if (c.want_out == want_out) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
  ev.data.ptr = &c;
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev) < 0) die("epoll_ctl MOD");
  c.want_out = want_out;
}

// Push pending output; register EPOLLOUT only if the kernel buffer is full.
void flush(Conn& c) {
  while (c.out_off < kMsg) {
    ssize_t w = send(c.fd, c.out + c.out_off, kMsg - c.out_off, MSG_NOSIGNAL);
    if (w > 0) {
      c.out_off += static_cast<int>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      update_interest(c, true);
      return;
    } else {
      die("send");
    }
  }
  update_interest(c, false);
}

void start_send(Conn& c, const char* data) {
  std::memcpy(c.out, data, kMsg);
  c.out_off = 0;
  flush(c);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = bench::arg_size(argc, argv, 1, 200'000);
  const std::size_t rounds = n / kConns ? n / kConns : 1;
  const std::size_t total = rounds * kConns;

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
  if (listen(lfd, 128) < 0) die("listen");
  socklen_t alen = sizeof addr;
  if (getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen) < 0) die("getsockname");

  // Connection setup (untimed): blocking connects complete against the
  // listen backlog, then accept them all.
  std::vector<Conn> conns(2 * kConns);
  for (int i = 0; i < kConns; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("connect");
    conns[i].fd = fd;
    conns[i].is_client = true;
    conns[i].rounds_left = rounds;
  }
  for (int i = 0; i < kConns; ++i) {
    int fd = accept(lfd, nullptr, nullptr);
    if (fd < 0) die("accept");
    conns[kConns + i].fd = fd;
  }
  close(lfd);

  epfd = epoll_create1(0);
  if (epfd < 0) die("epoll_create1");
  for (auto& c : conns) {
    set_nonblock_nodelay(c.fd);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c.fd, &ev) < 0) die("epoll_ctl ADD");
  }

  char msg[kMsg];
  std::memset(msg, 'x', kMsg);
  int clients_active = kConns;
  std::size_t completed = 0;

  const auto t0 = bench::clock::now();
  for (int i = 0; i < kConns; ++i) start_send(conns[i], msg);

  epoll_event events[128];
  while (clients_active > 0) {
    int ne = epoll_wait(epfd, events, 128, -1);
    if (ne < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int e = 0; e < ne; ++e) {
      Conn& c = *static_cast<Conn*>(events[e].data.ptr);
      if (c.fd < 0) continue;
      if (events[e].events & EPOLLOUT) flush(c);
      if (!(events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
      // Level-triggered: read what is there now; the loop will come back.
      ssize_t r = recv(c.fd, c.buf + c.have, kMsg - c.have, 0);
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        die("recv");
      }
      if (r == 0) {  // peer closed (server side sees the client's close)
        epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
        close(c.fd);
        c.fd = -1;
        continue;
      }
      c.have += static_cast<int>(r);
      if (c.have < kMsg) continue;
      c.have = 0;
      if (!c.is_client) {
        start_send(c, c.buf);  // echo
      } else {
        if (c.buf[0] != msg[0]) {
          std::fprintf(stderr, "tcp_echo(raw_epoll): echo mismatch\n");
          return 1;
        }
        ++completed;
        if (--c.rounds_left > 0) {
          start_send(c, msg);
        } else {
          epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
          close(c.fd);
          c.fd = -1;
          --clients_active;
        }
      }
    }
  }
  const double secs = bench::seconds_since(t0);
  if (completed != total) {
    std::fprintf(stderr, "tcp_echo(raw_epoll): %zu/%zu round trips\n", completed, total);
    return 1;
  }
  bench::report("tcp_echo", "raw_epoll", total, secs);
  for (auto& c : conns)
    if (c.fd >= 0) close(c.fd);
  close(epfd);
  return 0;
}
