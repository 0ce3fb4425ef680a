// Helpers shared by the I/O tests (streams, threads, subprocess, loop I/O).
#pragma once

#include <dirent.h>

#include <cstddef>

/// Number of open file descriptors of this process (entries of /proc/self/fd, minus the one
/// opendir itself uses).
inline std::size_t open_fd_count() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  std::size_t n = 0;
  while (readdir(d)) ++n;
  closedir(d);
  return n - 3;  // ".", ".." and the directory's own fd
}
