// tcp_echo (ours): streams echo server on 127.0.0.1 (ephemeral port) and 50 client connections
// in the same loop; each client does N/50 round trips (write 64 bytes + drain, readexactly(64)).
// The server handler does readexactly(64), write, drain. Timing starts once all 50 clients are
// connected; ops_per_sec = round trips per second. Same shape as bench/python/tcp_echo.py.
#include <asyncio/asyncio.hpp>

#include "bench_common.hpp"

static constexpr int kConns = 50;
static constexpr long long kMsg = 64;

static asyncio::Task<> handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  try {
    for (;;) {
      std::string data = co_await reader.readexactly(kMsg);
      writer.write(data);
      co_await writer.drain();
    }
  } catch (const asyncio::IncompleteReadError&) {
  }
  writer.close();
}

static asyncio::Task<> client(int port, std::size_t rounds, int& connected, asyncio::Event& all_connected,
                              asyncio::Event& gate) {
  auto conn = co_await asyncio::open_connection("127.0.0.1", port);
  auto& [reader, writer] = conn;
  if (++connected == kConns) all_connected.set();
  co_await gate.wait();
  std::string payload(kMsg, 'x');
  for (std::size_t r = 0; r < rounds; ++r) {
    payload[0] = static_cast<char>(r & 0x7f);
    writer.write(payload);
    co_await writer.drain();
    std::string data = co_await reader.readexactly(kMsg);
    if (data[0] != payload[0]) throw asyncio::RuntimeError("echo mismatch");
  }
  writer.close();
  co_await writer.wait_closed();
}

static asyncio::Task<> run(std::size_t n) {
  auto server = co_await asyncio::start_server(handle, "127.0.0.1", 0);
  int port = server.port();
  std::size_t rounds = std::max<std::size_t>(1, n / kConns);
  std::size_t total = rounds * kConns;
  int connected = 0;
  asyncio::Event all_connected, gate;
  std::vector<asyncio::TaskHandle<>> clients;
  for (int i = 0; i < kConns; ++i)
    clients.push_back(asyncio::create_task(client(port, rounds, connected, all_connected, gate)));
  co_await all_connected.wait();
  const auto t0 = bench::clock::now();
  gate.set();
  co_await asyncio::gather(clients);
  const double secs = bench::seconds_since(t0);
  server.close();
  co_await server.wait_closed();
  bench::report("tcp_echo", "ours", total, secs);
}

int main(int argc, char** argv) { asyncio::run(run(bench::arg_size(argc, argv, 1, 200'000))); }
