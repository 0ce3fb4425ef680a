// 17_echo_client.cpp — the TCP echo client from Python's asyncio-stream docs.
//
//   async def tcp_echo_client(message):
//       reader, writer = await asyncio.open_connection('127.0.0.1', 8888)
//       print(f'Send: {message!r}')
//       writer.write(message.encode())
//       await writer.drain()
//       data = await reader.read(100)
//       print(f'Received: {data.decode()!r}')
//       print('Close the connection')
//       writer.close()
//       await writer.wait_closed()
//
//   asyncio.run(tcp_echo_client('Hello World!'))
//
// Start 16_echo_server first (or Python's server: both speak the same bytes).
#include <asyncio/asyncio.hpp>

#include <cstdio>

asyncio::Task<> tcp_echo_client(std::string message) {
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", 8888);
  std::printf("Send: '%s'\n", message.c_str());
  writer.write(message);  // buffers; never blocks
  co_await writer.drain();
  std::string data = co_await reader.read(100);
  std::printf("Received: '%s'\n", data.c_str());
  std::printf("Close the connection\n");
  writer.close();
  co_await writer.wait_closed();
}

int main() {
  try {
    asyncio::run(tcp_echo_client("Hello World!"));
  } catch (const asyncio::ConnectionRefusedError& e) {
    // No server listening: the message names the address, as Python's does.
    std::printf("%s\n", e.what());
    return 1;
  }
}
