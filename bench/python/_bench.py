"""Shared helpers for the Python asyncio benchmark programs.

Every program prints exactly ONE line to stdout, tab separated:
    workload  impl  N  seconds  ops_per_sec  peak_rss_kb  bytes_per_task
bytes_per_task = (VmRSS once all tasks exist - VmRSS baseline) / N, or "-".
"""
import sys
import time

IMPL = "python"
now = time.perf_counter


def _status_kb(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def rss_kb():
    return _status_kb("VmRSS")


def peak_rss_kb():
    return _status_kb("VmHWM")


def arg_int(i, default):
    if len(sys.argv) > i:
        v = int(sys.argv[i])
        if v <= 0:
            raise SystemExit(f"bad count argument: {sys.argv[i]}")
        return v
    return default


def arg_float(i, default):
    if len(sys.argv) > i:
        v = float(sys.argv[i])
        if v < 0:
            raise SystemExit(f"bad numeric argument: {sys.argv[i]}")
        return v
    return default


def bytes_per_task(before_kb, after_kb, n):
    if before_kb < 0 or after_kb < 0 or n <= 0:
        return None
    return max(0, after_kb - before_kb) * 1024.0 / n


def report(workload, n, seconds, bpt=None):
    ops = n / seconds if seconds > 0 else 0.0
    bpt_s = "-" if bpt is None else f"{bpt:.1f}"
    sys.stdout.write(f"{workload}\t{IMPL}\t{n}\t{seconds:.6f}\t{ops:.1f}\t"
                     f"{peak_rss_kb()}\t{bpt_s}\n")
    sys.stdout.flush()
