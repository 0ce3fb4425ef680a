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
#include <asyncio/asyncio.hpp>

#include <cstdio>

asyncio::Task<> run(std::string cmd) {
  auto proc = co_await asyncio::create_subprocess_shell(cmd, {.stdout = asyncio::PIPE, .stderr = asyncio::PIPE});
  auto [out, err] = co_await proc.communicate();  // reads both pipes to EOF, then waits
  std::printf("['%s' exited with %d]\n", cmd.c_str(), *proc.returncode());
  if (!out.empty()) std::printf("[stdout]\n%s", out.c_str());
  if (!err.empty()) std::printf("[stderr]\n%s", err.c_str());
}

asyncio::Task<> main_async() {
  co_await run("ls /zzz");
  // Two commands at once: both sleep 1 s, the whole thing takes ~1 s, not 2.
  co_await asyncio::gather(run("sleep 1; echo one"), run("sleep 1; echo two"));
}

int main() { asyncio::run(main_async()); }
