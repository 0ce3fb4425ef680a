#include <asyncio/asyncio.hpp>

#include <cstdio>

asyncio::Task<std::string> hello() {
  co_await asyncio::sleep(0.01);
  co_return "Hello!";
}

int main() { std::puts(asyncio::run(hello()).c_str()); }
