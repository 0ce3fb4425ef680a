// 16_echo_server.cpp — the TCP echo server from Python's asyncio-stream docs.
//
//   async def handle_echo(reader, writer):
//       data = await reader.read(100)
//       message = data.decode()
//       addr = writer.get_extra_info('peername')
//       print(f"Received {message!r} from {addr!r}")
//       print(f"Send: {message!r}")
//       writer.write(data)
//       await writer.drain()
//       print("Close the connection")
//       writer.close()
//       await writer.wait_closed()
//
//   async def main():
//       server = await asyncio.start_server(handle_echo, '127.0.0.1', 8888)
//       addrs = ', '.join(str(sock.getsockname()) for sock in server.sockets)
//       print(f'Serving on {addrs}')
//       async with server:
//           await server.serve_forever()
//
// Run it, then run 17_echo_client in another terminal. Stop it with Ctrl-C.
#include <asyncio/asyncio.hpp>

#include <cstdio>

// Each connection runs as its own task; reader and writer are passed by value (cheap handles).
asyncio::Task<> handle_echo(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  std::string data = co_await reader.read(100);
  auto [host, port] = writer.get_extra_info("peername");
  std::printf("Received '%s' from ('%s', %d)\n", data.c_str(), host.c_str(), port);
  std::printf("Send: '%s'\n", data.c_str());
  writer.write(data);
  co_await writer.drain();  // wait until the kernel took it (back-pressure)
  std::printf("Close the connection\n");
  writer.close();
  co_await writer.wait_closed();
}

asyncio::Task<> main_async() {
  auto server = co_await asyncio::start_server(handle_echo, "127.0.0.1", 8888);
  for (auto& sock : server.sockets()) {
    auto [host, port] = sock.getsockname();
    std::printf("Serving on ('%s', %d)\n", host.c_str(), port);
  }
  std::fflush(stdout);
  // `async with server:` — closes the server when the block ends (here: on Ctrl-C).
  co_await asyncio::async_with(server, [](asyncio::Server& s) -> asyncio::Task<> { co_await s.serve_forever(); });
}

int main() {
  try {
    asyncio::run(main_async());
  } catch (const asyncio::KeyboardInterrupt&) {
    std::printf("\nstopped\n");
  }
}
