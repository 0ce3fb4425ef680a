// A minimal single-threaded epoll HTTP/1.1 keep-alive server for the HTTP client benchmark: every
// request (whatever its path) gets the same small JSON answer. Not written on our stack, so the
// three clients are measured against the same neutral server. Prints its port, then serves.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>

static const char kResp[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"login\": \"python\", \"id\": 1}";

int main() {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(ls, (sockaddr*)&a, sizeof a);
  listen(ls, 1024);
  socklen_t len = sizeof a;
  getsockname(ls, (sockaddr*)&a, &len);
  std::printf("%d\n", ntohs(a.sin_port));
  std::fflush(stdout);
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = ls;
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  std::unordered_map<int, std::string> in;
  epoll_event evs[256];
  char buf[65536];
  const std::size_t rlen = sizeof kResp - 1;
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        for (;;) {
          int c = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK);
          if (c < 0) break;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event e{};
          e.events = EPOLLIN;
          e.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
          in[c];
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        in.erase(fd);
        continue;
      }
      std::string& s = in[fd];
      s.append(buf, r);
      std::string out;
      std::size_t pos;
      while ((pos = s.find("\r\n\r\n")) != std::string::npos) {
        s.erase(0, pos + 4);
        out.append(kResp, rlen);
      }
      if (!out.empty()) {
        ssize_t w = write(fd, out.data(), out.size());  // small: fits the socket buffer
        (void)w;
      }
    }
  }
}
