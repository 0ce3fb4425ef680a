// WebSocket load client for bench/io (not our library: plain non-blocking sockets and one
// level-triggered epoll loop, so it measures every server the same way).
//
//   load echo IMPL PORT N [CONNS=50]
//       CONNS connections to ws://127.0.0.1:PORT/ (RFC 6455 upgrade, Sec-WebSocket-Accept
//       checked), then each does N/CONNS round trips: one masked 64-byte TEXT frame out, the
//       server's unmasked 64-byte TEXT echo back (opcode, length and payload checked). Timing
//       starts once every connection is upgraded. Prints
//         ws_echo IMPL N seconds msgs_per_sec client_peak_rss_kb -
//   load idle IMPL PORT N PID
//       Memory per idle open WebSocket: reads the server's VmRSS (/proc/PID/status), opens N
//       connections one after another (upgrade + one echo round trip each, so every connection
//       has received and sent a message), waits 0.5 s, reads VmRSS again. Prints
//         ws_idle IMPL N seconds conns_per_sec server_rss_kb_after bytes_per_connection
//       where bytes_per_connection = (after - before) * 1024 / N.
// Connections end with a masked CLOSE frame (1000) and close().
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"

namespace {

constexpr int kMsg = 64;
constexpr unsigned char kMask[4] = {0x12, 0x34, 0x56, 0x78};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "ws load: %s: %s\n", what, errno ? std::strerror(errno) : "");
  std::exit(1);
}

void write_all(int fd, const char* p, std::size_t n) {
  while (n) {
    ssize_t k = ::write(fd, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += k;
    n -= static_cast<std::size_t>(k);
  }
}
void read_exact(int fd, char* p, std::size_t n) {
  while (n) {
    ssize_t k = ::read(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) die("read (handshake / idle echo)");
    p += k;
    n -= static_cast<std::size_t>(k);
  }
}

// A masked client frame carrying `payload` (RFC 6455 §5.2; payload < 126 bytes).
std::string client_frame(unsigned char opcode, const std::string& payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  f.push_back(static_cast<char>(0x80 | payload.size()));
  f.append(reinterpret_cast<const char*>(kMask), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<char>(payload[i] ^ kMask[i % 4]));
  return f;
}

// Blocking connect + upgrade; returns the fd (blocking).
int connect_ws(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) die("connect");
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  write_all(fd, req.data(), req.size());
  // Read the response head byte by byte (tiny, once per connection) so no frame byte is eaten.
  std::string head;
  while (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) {
    char c;
    read_exact(fd, &c, 1);
    head.push_back(c);
    if (head.size() > 8192) die("response head too long");
  }
  if (head.compare(0, 12, "HTTP/1.1 101") != 0 || head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == std::string::npos) {
    errno = 0;
    std::fprintf(stderr, "ws load: bad upgrade response:\n%s\n", head.c_str());
    std::exit(1);
  }
  return fd;
}

bool frame_ok(const unsigned char* f, const std::string& payload) {
  return f[0] == 0x81 && f[1] == kMsg && std::memcmp(f + 2, payload.data(), kMsg) == 0;
}

void send_close(int fd) {
  std::string code("\x03\xe8", 2);
  std::string f = client_frame(0x8, code);
  (void)!::write(fd, f.data(), f.size());
}

long server_rss_kb(long pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/status";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) die("open server status");
  char line[256];
  long v = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmRSS:", 6) == 0) v = std::strtol(line + 6, nullptr, 10);
  std::fclose(f);
  return v;
}

struct Conn {
  int fd = -1;
  std::size_t left = 0;  // round trips still to do
  unsigned char in[2 + kMsg];
  int have = 0;
  std::string out;  // frame being sent
  std::size_t out_off = 0;
};

int run_echo(const char* impl, int port, std::size_t n, int conns) {
  std::size_t rounds = n / static_cast<std::size_t>(conns);
  if (rounds == 0) rounds = 1;
  const std::string payload(kMsg, 'm');
  const std::string frame = client_frame(0x1, payload);
  std::vector<Conn> cs(static_cast<std::size_t>(conns));
  int ep = ::epoll_create1(0);
  for (auto& c : cs) {
    c.fd = connect_ws(port);
    c.left = rounds;
  }
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < cs.size(); ++i) {
    Conn& c = cs[i];
    write_all(c.fd, frame.data(), frame.size());  // 70 bytes into an empty socket buffer
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) < 0) die("epoll_ctl");
  }
  int active = conns;
  std::vector<epoll_event> evs(static_cast<std::size_t>(conns));
  while (active) {
    int k = ::epoll_wait(ep, evs.data(), conns, 10000);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) die("epoll_wait (server stalled?)");
    for (int e = 0; e < k; ++e) {
      Conn& c = cs[evs[e].data.u64];
      ssize_t r = ::read(c.fd, c.in + c.have, sizeof c.in - c.have);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) die("read echo");
      c.have += static_cast<int>(r);
      if (c.have < static_cast<int>(sizeof c.in)) continue;
      if (!frame_ok(c.in, payload)) {
        errno = 0;
        die("unexpected frame from the server");
      }
      c.have = 0;
      if (--c.left == 0) {
        ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        --active;
        continue;
      }
      write_all(c.fd, frame.data(), frame.size());
    }
  }
  const double secs = bench::seconds_since(t0);
  for (auto& c : cs) {
    send_close(c.fd);
    ::close(c.fd);
  }
  ::close(ep);
  bench::report("ws_echo", impl, rounds * static_cast<std::size_t>(conns), secs);
  return 0;
}

int run_idle(const char* impl, int port, std::size_t n, long pid) {
  const std::string payload(kMsg, 'i');
  const std::string frame = client_frame(0x1, payload);
  // Let the server settle (a first connection warms allocator pools, code pages): one
  // connection opened and closed before the baseline.
  {
    int fd = connect_ws(port);
    unsigned char in[2 + kMsg];
    write_all(fd, frame.data(), frame.size());
    read_exact(fd, reinterpret_cast<char*>(in), sizeof in);
    send_close(fd);
    ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const long before = server_rss_kb(pid);
  std::vector<int> fds;
  const auto t0 = bench::clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    int fd = connect_ws(port);
    unsigned char in[2 + kMsg];
    write_all(fd, frame.data(), frame.size());
    read_exact(fd, reinterpret_cast<char*>(in), sizeof in);
    if (!frame_ok(in, payload)) {
      errno = 0;
      die("unexpected frame from the server");
    }
    fds.push_back(fd);
  }
  const double secs = bench::seconds_since(t0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long after = server_rss_kb(pid);
  for (int fd : fds) {
    send_close(fd);
    ::close(fd);
  }
  const double bpc = bench::bytes_per_task(before, after, n);
  std::printf("ws_idle\t%s\t%zu\t%.6f\t%.1f\t%ld\t%.1f\n", impl, n, secs, static_cast<double>(n) / secs, after,
              bpc < 0 ? 0.0 : bpc);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s echo IMPL PORT N [CONNS] | idle IMPL PORT N PID\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const char* impl = argv[2];
  const int port = std::atoi(argv[3]);
  const std::size_t n = bench::arg_size(argc, argv, 4, 1);
  if (mode == "echo") return run_echo(impl, port, n, static_cast<int>(bench::arg_size(argc, argv, 5, 50)));
  if (mode == "idle" && argc > 5) return run_idle(impl, port, n, std::atol(argv[5]));
  return 2;
}
