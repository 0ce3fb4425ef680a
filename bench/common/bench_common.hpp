// Shared helpers for the C++ benchmark programs (asio/, raw_epoll/, ours/).
//
// Every benchmark program prints exactly ONE line to stdout, tab separated:
//   workload  impl  N  seconds  ops_per_sec  peak_rss_kb  bytes_per_task
// bytes_per_task is (VmRSS once all tasks exist - VmRSS baseline) / N, or "-"
// when it does not apply (pass a negative value to report()).
//
// Built by bench/run.py with: g++ -O2 -std=c++20 -DNDEBUG -pthread -I bench/common
// (bench/ours/*.cpp additionally get -I include).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bench {

// Reads a "Key:   1234 kB" line from /proc/self/status; returns kB or -1.
inline long read_status_kb(const char* key) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long value = -1;
  const std::size_t klen = std::strlen(key);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, key, klen) == 0 && line[klen] == ':') {
      value = std::strtol(line + klen + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return value;
}

inline long rss_kb() { return read_status_kb("VmRSS"); }       // current RSS
inline long peak_rss_kb() { return read_status_kb("VmHWM"); }  // peak RSS

// argv[i] as an unsigned count, or `def` when absent.
inline std::size_t arg_size(int argc, char** argv, int i, std::size_t def) {
  if (argc <= i) return def;
  char* end = nullptr;
  unsigned long long v = std::strtoull(argv[i], &end, 10);
  if (end == argv[i] || *end != '\0' || v == 0) {
    std::fprintf(stderr, "bad count argument: %s\n", argv[i]);
    std::exit(2);
  }
  return static_cast<std::size_t>(v);
}

inline double arg_double(int argc, char** argv, int i, double def) {
  if (argc <= i) return def;
  char* end = nullptr;
  double v = std::strtod(argv[i], &end);
  if (end == argv[i] || *end != '\0' || v < 0) {
    std::fprintf(stderr, "bad numeric argument: %s\n", argv[i]);
    std::exit(2);
  }
  return v;
}

using clock = std::chrono::steady_clock;

inline double seconds_since(clock::time_point t0) {
  return std::chrono::duration<double>(clock::now() - t0).count();
}

// bytes_per_task from two VmRSS readings (kB); negative/unknown -> "-".
inline double bytes_per_task(long rss_before_kb, long rss_after_kb, std::size_t n) {
  if (rss_before_kb < 0 || rss_after_kb < 0 || n == 0) return -1.0;
  if (rss_after_kb < rss_before_kb) return 0.0;  // RSS shrank: clamp
  return static_cast<double>(rss_after_kb - rss_before_kb) * 1024.0 / static_cast<double>(n);
}

// Prints the one result line. bytes_per_task_v < 0 (or NaN) prints "-".
inline void report(const char* workload, const char* impl, std::size_t n,
                   double seconds, double bytes_per_task_v = -1.0) {
  const double ops = seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
  char bpt[64];
  if (!(bytes_per_task_v >= 0.0))
    std::snprintf(bpt, sizeof bpt, "-");
  else
    std::snprintf(bpt, sizeof bpt, "%.1f", bytes_per_task_v);
  std::printf("%s\t%s\t%zu\t%.6f\t%.1f\t%ld\t%s\n", workload, impl, n, seconds,
              ops, peak_rss_kb(), bpt);
  std::fflush(stdout);
}

}  // namespace bench
