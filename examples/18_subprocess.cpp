// 18_subprocess.cpp — running programs without blocking the loop (Python's asyncio-subprocess
// docs example, plus two children running at the same time).
//
//   async def run(cmd):
//       proc = await asyncio.create_subprocess_shell(
//           cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
//       stdout, stderr = await proc.communicate()
//       print(f'[{cmd!r} exited with {proc.returncode}]')
//       if stdout: print(f'[stdout]\n{stdout.decode()}')
//       if stderr: print(f'[stderr]\n{stderr.decode()}')
//
//   asyncio.run(run('ls /zzz'))
//
//   async def output_of(cmd):
//       proc = await asyncio.create_subprocess_shell(cmd, stdout=asyncio.subprocess.PIPE)
//       stdout, _ = await proc.communicate()
//       return stdout.decode()
#include <asyncio/asyncio.hpp>

#include <cstdio>

asyncio::Task<> run(std::string cmd) {
  auto proc = co_await asyncio::create_subprocess_shell(cmd, {.stdout = asyncio::PIPE, .stderr = asyncio::PIPE});
  auto [out, err] = co_await proc.communicate();  // reads both pipes to EOF, then waits
  std::printf("['%s' exited with %d]\n", cmd.c_str(), *proc.returncode());
  if (!out.empty()) std::printf("[stdout]\n%s", out.c_str());
  if (!err.empty()) std::printf("[stderr]\n%s", err.c_str());
}

// The same, but returning what the child printed instead of printing it here.
asyncio::Task<std::string> output_of(std::string cmd) {
  auto proc = co_await asyncio::create_subprocess_shell(cmd, {.stdout = asyncio::PIPE});
  auto [out, err] = co_await proc.communicate();
  co_return out;
}

asyncio::Task<> main_async() {
  co_await run("ls /zzz");
  // Two commands at once: both sleep 1 s, so the whole thing takes ~1 s, not 2. Which child
  // finishes first is up to the OS; gather still hands the results back in argument order.
  auto [one, two] = co_await asyncio::gather(output_of("sleep 1; echo one"), output_of("sleep 1; echo two"));
  std::printf("[gather] %s", (one + two).c_str());
}

int main() { asyncio::run(main_async()); }
