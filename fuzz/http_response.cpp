// libFuzzer target: the HTTP client's response path. A local server socket (127.0.0.1, a thread
// of plain POSIX calls) answers one request with the fuzzer's bytes and closes; the client
// (ClientSession, libcurl underneath) must give a response or one of aiohttp's ClientError /
// TimeoutError exceptions — never crash, hang past its timeout, or leak (ASan, UBSan, LSan).
#include <asyncio/asyncio.hpp>
#include <asyncio/http.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

struct Server {
  int fd = -1;
  int port = 0;
  Server() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) std::abort();
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Server() { ::close(fd); }
};

void serve_one(int c, const std::string& reply) {
  timeval tv{2, 0};
  ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos) {
    ssize_t k = ::recv(c, buf, sizeof buf, 0);
    if (k <= 0) break;
    req.append(buf, static_cast<std::size_t>(k));
  }
  std::size_t off = 0;
  while (off < reply.size()) {
    ssize_t k = ::send(c, reply.data() + off, reply.size() - off, MSG_NOSIGNAL);
    if (k <= 0) break;
    off += static_cast<std::size_t>(k);
  }
  ::close(c);
}

/// Every connection the client makes for this input (a redirect makes more) gets the same
/// bytes, until `stop`.
void serve(int lfd, const std::string& reply, const std::atomic<bool>& stop) {
  while (!stop) {
    pollfd p{lfd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int c = ::accept(lfd, nullptr, nullptr);
    if (c >= 0) serve_one(c, reply);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  static Server server;  // one listening socket for the whole run
  std::string reply(reinterpret_cast<const char*>(bytes), size);
  std::atomic<bool> stop{false};
  std::thread peer([&] { serve(server.fd, reply, stop); });
  std::string url = "http://127.0.0.1:" + std::to_string(server.port) + "/fuzz";
  asyncio::run([](std::string url) -> asyncio::Task<> {
    asyncio::http::SessionOptions opts;
    opts.timeout.total = std::chrono::duration<double>(3.0);
    asyncio::http::ClientSession session(opts);
    try {
      auto resp = co_await session.get(url);
      std::string body = co_await resp.read();
      if (body.size() > (64u << 20)) std::abort();  // cannot come from a < 1 MiB input
    } catch (const asyncio::http::ClientError&) {
    } catch (const asyncio::TimeoutError&) {
    }
    co_await session.close();
  }(url));
  stop = true;
  peer.join();
  return 0;
}
