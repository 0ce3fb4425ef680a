#!/usr/bin/env python3
"""Side-by-side benchmark runner: Python asyncio vs Asio vs ours (+ raw epoll).

    python3 bench/run.py [--smoke] [--reps 5] [--only workload,...]
                         [--impl python,asio,ours,raw_epoll] [--no-write] [--out FILE]
    CXX=clang++ python3 bench/run.py --out bench/RESULTS.clang.md

* Builds every C++ program that is needed (g++ -O2 -std=c++20 -DNDEBUG -pthread)
  into build-bench/, rebuilding only when the source or one of the headers it
  includes (tracked with -MMD dependency files) is newer than the binary, or the
  command line changed.  bench/ours/<workload>.cpp additionally get -I include;
  when such a file does not exist the "ours" column is skipped with a note.
* Runs each workload for each implementation, alternating implementations
  within each repetition (the order also rotates between repetitions), takes
  medians, prints a summary table (and a detailed one).
* Without --smoke, rewrites bench/RESULTS.md (table + machine + compilers +
  date) unless --no-write is given.
* --smoke: tiny N, 1 repetition; exits non-zero if any build or program fails
  or prints a malformed line.  (A full run also exits non-zero on failures.)

Every program prints exactly one line:
    workload<TAB>impl<TAB>N<TAB>seconds<TAB>ops_per_sec<TAB>peak_rss_kb<TAB>bytes_per_task
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = ROOT / "build-bench"
RESULTS_MD = BENCH / "RESULTS.md"

CXX = os.environ.get("CXX", "g++")
CXXFLAGS = ["-O2", "-std=c++20", "-DNDEBUG", "-pthread"]

WORKLOADS = ["create_task", "await_child", "sleep0", "sleep_many",
             "semaphore", "wait_for_timeout", "tcp_echo"]
IMPLS = ["python", "asio", "ours", "raw_epoll"]
CPP_IMPLS = ["asio", "ours", "raw_epoll"]

# What the summary table compares, per workload:
#   "time"  -> per-op time (seconds / N), lower is better
#   "bytes" -> bytes per task,            lower is better
#   "rate"  -> ops per second,            higher is better
PRIMARY = {
    "create_task": "time",
    "await_child": "time",
    "sleep0": "time",
    "sleep_many": "bytes",
    "semaphore": "time",
    "wait_for_timeout": "time",
    "tcp_echo": "rate",
}

# N per workload: (python, C++).  Chosen so each program runs ~0.5-3 s here
# (sleep_many: creation + up to 1 s of sleeping) and a full 5-rep run of all
# four implementations stays well under 10 minutes on 2 cores.
FULL_N = {
    "create_task": (100_000, 1_000_000),
    "await_child": (2_000_000, 20_000_000),
    "sleep0": (200_000, 5_000_000),
    "sleep_many": (200_000, 1_000_000),
    "semaphore": (100_000, 1_000_000),
    "wait_for_timeout": (50_000, 50_000),
    "tcp_echo": (50_000, 200_000),
}
SMOKE_N = {
    "create_task": (1_000, 1_000),
    "await_child": (10_000, 10_000),
    "sleep0": (1_000, 1_000),
    "sleep_many": (1_000, 1_000),
    "semaphore": (1_000, 1_000),
    "wait_for_timeout": (200, 200),
    "tcp_echo": (500, 500),
}
# Extra argv after N.  sleep_many: maximum random delay in seconds.
FULL_EXTRA = {"sleep_many": ["1.0"]}
SMOKE_EXTRA = {"sleep_many": ["0.05"]}

FULL_TIMEOUT = 600.0
SMOKE_TIMEOUT = 20.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Sources and building
# --------------------------------------------------------------------------

def source_for(impl: str, workload: str) -> Path:
    if impl == "python":
        return BENCH / "python" / f"{workload}.py"
    return BENCH / impl / f"{workload}.cpp"


def binary_for(impl: str, workload: str) -> Path:
    return BUILD / f"{impl}_{workload}"


def compile_cmd(impl: str, workload: str) -> list[str]:
    src = source_for(impl, workload)
    out = binary_for(impl, workload)
    cmd = [CXX, *CXXFLAGS, "-I", str(BENCH / "common")]
    if impl == "ours":
        cmd += ["-I", str(ROOT / "include")]
    cmd += ["-MMD", "-MF", str(out) + ".d", str(src), "-o", str(out)]
    return cmd


def _deps_from_depfile(depfile: Path) -> list[Path] | None:
    try:
        text = depfile.read_text()
    except OSError:
        return None
    text = text.replace("\\\n", " ")
    _, _, rhs = text.partition(":")
    # Paths with escaped spaces are not expected here.
    return [Path(p) for p in rhs.split()]


def needs_build(impl: str, workload: str) -> bool:
    out = binary_for(impl, workload)
    stamp = Path(str(out) + ".cmd")
    if not out.exists() or not stamp.exists():
        return True
    if stamp.read_text() != shlex.join(compile_cmd(impl, workload)):
        return True
    deps = _deps_from_depfile(Path(str(out) + ".d"))
    if not deps:
        return True
    out_mtime = out.stat().st_mtime
    for d in deps:
        try:
            if d.stat().st_mtime > out_mtime:
                return True
        except OSError:
            return True  # a header vanished
    return False


def build_one(impl: str, workload: str) -> tuple[str, str, bool, str, float]:
    cmd = compile_cmd(impl, workload)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    dt = time.monotonic() - t0
    stamp = Path(str(binary_for(impl, workload)) + ".cmd")
    if proc.returncode == 0:
        stamp.write_text(shlex.join(cmd))
        return impl, workload, True, "", dt
    if stamp.exists():
        stamp.unlink()
    return impl, workload, False, proc.stderr, dt


def build_all(jobs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Builds what is stale; returns {(impl, workload): error text} for failures."""
    BUILD.mkdir(exist_ok=True)
    todo = [j for j in jobs if needs_build(*j)]
    failures: dict[tuple[str, str], str] = {}
    if not todo:
        log(f"build: {len(jobs)} C++ program(s) up to date")
        return failures
    log(f"build: compiling {len(todo)} program(s) with {CXX} "
        f"{' '.join(CXXFLAGS)} ...")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for impl, workload, ok, err, dt in pool.map(lambda j: build_one(*j), todo):
            if ok:
                log(f"  built {impl}/{workload}.cpp ({dt:.1f} s)")
            else:
                tail = "\n".join(err.strip().splitlines()[-25:])
                log(f"  FAILED {impl}/{workload}.cpp:\n{tail}")
                failures[(impl, workload)] = "build failed"
    return failures


# --------------------------------------------------------------------------
# Running and parsing
# --------------------------------------------------------------------------

@dataclass
class Record:
    n: int
    seconds: float
    ops: float
    peak_kb: int
    bpt: float | None


_LINE_FIELDS = 7


def parse_line(stdout: str, workload: str, impl: str, n_expected: int) -> Record:
    lines = stdout.splitlines()
    if len(lines) != 1:
        raise ValueError(f"expected exactly 1 stdout line, got {len(lines)}: "
                         f"{stdout[:300]!r}")
    fields = lines[0].split("\t")
    if len(fields) != _LINE_FIELDS:
        raise ValueError(f"expected {_LINE_FIELDS} tab-separated fields, got "
                         f"{len(fields)}: {lines[0]!r}")
    w, i, n, secs, ops, peak, bpt = fields
    if w != workload or i != impl:
        raise ValueError(f"line names {w}/{i}, expected {workload}/{impl}")
    try:
        rec = Record(int(n), float(secs), float(ops), int(peak),
                     None if bpt == "-" else float(bpt))
    except ValueError as e:
        raise ValueError(f"bad number in {lines[0]!r}: {e}") from None
    if rec.n != n_expected:
        raise ValueError(f"line reports N={rec.n}, asked for {n_expected}")
    if not rec.seconds > 0 or rec.ops < 0 or rec.peak_kb <= 0:
        raise ValueError(f"implausible values: {lines[0]!r}")
    if rec.bpt is not None and rec.bpt < 0:
        raise ValueError(f"negative bytes_per_task: {lines[0]!r}")
    return rec


def run_cmd(impl: str, workload: str, n: int, extra: list[str]) -> list[str]:
    if impl == "python":
        return [sys.executable, str(source_for(impl, workload)), str(n), *extra]
    return [str(binary_for(impl, workload)), str(n), *extra]


def run_one(impl: str, workload: str, n: int, extra: list[str],
            timeout: float) -> Record:
    cmd = run_cmd(impl, workload, n, extra)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timed out after {timeout:.0f} s: {shlex.join(cmd)}")
    if proc.returncode != 0:
        err = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"exit status {proc.returncode}: {shlex.join(cmd)}\n{err}")
    return parse_line(proc.stdout, workload, impl, n)


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------

def fmt_time(s: float) -> str:
    if s < 1e-6:
        return f"{s * 1e9:.3g} ns"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_bytes(b: float) -> str:
    if b < 1024:
        return f"{b:.0f} B"
    if b < 1024 * 1024:
        return f"{b / 1024:.1f} KB" if b < 10 * 1024 else f"{b / 1024:.0f} KB"
    return f"{b / 1024 / 1024:.1f} MB"


def fmt_rate(r: float) -> str:
    if r >= 1e6:
        return f"{r / 1e6:.3g}M"
    if r >= 1e3:
        return f"{r / 1e3:.3g}k"
    return f"{r:.3g}"


@dataclass
class Median:
    n: int
    reps: int
    seconds: float
    sec_min: float
    sec_max: float
    ops: float
    peak_kb: float
    bpt: float | None

    @property
    def per_op(self) -> float:
        return self.seconds / self.n


def median_of(recs: list[Record]) -> Median:
    bpts = [r.bpt for r in recs if r.bpt is not None]
    secs = [r.seconds for r in recs]
    return Median(
        n=recs[0].n,
        reps=len(recs),
        seconds=statistics.median(secs),
        sec_min=min(secs),
        sec_max=max(secs),
        ops=statistics.median(r.ops for r in recs),
        peak_kb=statistics.median(r.peak_kb for r in recs),
        bpt=statistics.median(bpts) if bpts else None,
    )


def cell(workload: str, m: Median | None) -> str:
    if m is None:
        return "—"
    kind = PRIMARY[workload]
    if kind == "rate":
        return f"{fmt_rate(m.ops)} rt/s"
    if kind == "bytes":
        s = f"{fmt_bytes(m.bpt)}/task" if m.bpt is not None else "—"
        return s
    s = fmt_time(m.per_op)
    if m.bpt is not None:
        s += f" · {fmt_bytes(m.bpt)}/task"
    return s


def ratio(workload: str, ours: Median | None, other: Median | None) -> str:
    """How many times better ours is than `other` (>1 = ours better)."""
    if ours is None or other is None:
        return "—"
    kind = PRIMARY[workload]
    try:
        if kind == "time":
            r = other.per_op / ours.per_op
        elif kind == "rate":
            r = ours.ops / other.ops
        else:
            if ours.bpt is None or other.bpt is None:
                return "—"
            r = other.bpt / ours.bpt
    except ZeroDivisionError:
        return "∞"
    return f"{r:.2f}×"


def pair_ratio(workload: str, ours: Record, other: Record) -> float | None:
    """ratio() for one repetition's pair of runs (>1 = ours better); None if not comparable."""
    kind = PRIMARY[workload]
    try:
        if kind == "time":
            return (other.seconds / other.n) / (ours.seconds / ours.n)
        if kind == "rate":
            return ours.ops / other.ops
        if ours.bpt is None or other.bpt is None:
            return None
        return other.bpt / ours.bpt
    except ZeroDivisionError:
        return None


def paired(workload: str, records: dict, other: str) -> str:
    """Median (min–max) over repetitions of ours-vs-`other` measured in the same repetition.
    On a host whose speed drifts, this is steadier than the ratio of the two medians."""
    a, b = records.get((workload, "ours")), records.get((workload, other))
    if not a or not b or len(a) != len(b):
        return "—"
    rs = [r for r in (pair_ratio(workload, x, y) for x, y in zip(a, b)) if r is not None]
    if not rs:
        return "—"
    return f"{statistics.median(rs):.2f}× ({min(rs):.2f}–{max(rs):.2f})"


def paired_table(workloads: list[str], records: dict) -> list[str]:
    rows = ["| workload | ours vs python | ours vs asio | ours vs its no-runtime floor |",
            "|---|---|---|---|"]
    for w in workloads:
        rows.append(f"| {w} | {paired(w, records, 'python')} | {paired(w, records, 'asio')} | "
                    f"{paired(w, records, 'raw_epoll') if w in FLOORS else '—'} |")
    return rows


def summary_table(workloads: list[str], med: dict) -> list[str]:
    rows = ["| workload | python | asio | ours | ours vs python (×) | ours vs asio (×) |",
            "|---|---|---|---|---|---|"]
    for w in workloads:
        py, asio, ours = (med.get((w, i)) for i in ("python", "asio", "ours"))
        rows.append(f"| {w} | {cell(w, py)} | {cell(w, asio)} | {cell(w, ours)} | "
                    f"{ratio(w, ours, py)} | {ratio(w, ours, asio)} |")
    return rows


# Hand-written floors (bench/raw_epoll/<workload>.cpp): the same work with no runtime at all.
FLOORS = {
    "tcp_echo": "raw-epoll floor",
    "wait_for_timeout": "floor (1 µs deadline polled on the clock + one throw/catch, no runtime)",
}


def floor_lines(med: dict) -> list[str]:
    lines = []
    for w, label in FLOORS.items():
        raw = med.get((w, "raw_epoll"))
        if raw is None:
            continue
        if PRIMARY[w] == "rate":
            parts = [f"{w} {label}: {fmt_rate(raw.ops)} rt/s"]
        else:
            parts = [f"{w} {label}: {fmt_time(raw.per_op)}"]
        for impl in ("ours", "asio", "python"):
            m = med.get((w, impl))
            if m is None:
                continue
            if PRIMARY[w] == "rate":
                parts.append(f"{impl} = {100 * m.ops / raw.ops:.0f}% of floor")
            else:
                parts.append(f"{impl} = {m.per_op / raw.per_op:.2f}× the floor's time")
        lines.append("; ".join(parts))
    return lines


def detail_table(workloads: list[str], impls: list[str], med: dict) -> list[str]:
    rows = ["| workload | impl | N | reps | median s (min–max) | per op | ops/s | "
            "peak RSS | bytes/task |",
            "|---|---|---|---|---|---|---|---|---|"]
    for w in workloads:
        for i in impls:
            m = med.get((w, i))
            if m is None:
                continue
            bpt = fmt_bytes(m.bpt) if m.bpt is not None else "-"
            rows.append(
                f"| {w} | {i} | {m.n:,} | {m.reps} | {m.seconds:.3f} "
                f"({m.sec_min:.3f}–{m.sec_max:.3f}) | {fmt_time(m.per_op)} | "
                f"{fmt_rate(m.ops)} | {m.peak_kb / 1024:.1f} MB | {bpt} |")
    return rows


# --------------------------------------------------------------------------
# Machine description for RESULTS.md
# --------------------------------------------------------------------------

def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unavailable"


def machine_info() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    asio_ver = "unknown"
    try:
        m = re.search(r"#define ASIO_VERSION (\d+)",
                      Path("/usr/include/asio/version.hpp").read_text())
        if m:
            v = int(m.group(1))
            asio_ver = f"{v // 100000}.{v // 100 % 1000}.{v % 100}"
    except OSError:
        pass
    return [
        f"- CPU: {cpu} × {os.cpu_count()} (nproc), RAM {mem}",
        f"- OS: {platform.platform()}",
        f"- C++ compiler (used): {_first_line([CXX, '--version'])}; "
        f"flags `{' '.join(CXXFLAGS)}`",
        f"- clang++: {_first_line(['clang++', '--version'])}",
        f"- Python: {platform.python_version()} ({sys.executable})",
        f"- Asio (standalone): {asio_ver}",
    ]


def write_results(args, workloads, impls, med, records, notes, failures, load) -> None:
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out = ["# Benchmark results", "",
           f"Generated by `python3 bench/run.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` "
           f"on {now}; median of {args.reps} repetition(s), implementations "
           "alternated within each repetition.", ""]
    if args.only or args.impl:
        out += ["**Partial run** (subset of workloads/implementations).", ""]
    out += ["## Machine", "", *machine_info(),
            f"- 1-min load average: {load[0]:.2f} at start, {load[1]:.2f} at end "
            "(the end figure includes ~1 from the benchmark itself; more than "
            "that means other work shared the CPUs and figures are noisy)",
            "", "## Summary", ""]
    out += summary_table(workloads, med)
    out += [""]
    out += floor_lines(med)
    out += ["",
            "Cells: per-op time (seconds / N) and, where the program reports it, "
            "bytes per task; sleep_many shows bytes per sleeping task; tcp_echo "
            "shows round trips per second (50 connections).  Ratios compare that "
            "primary figure and are oriented so that **> 1 means ours is "
            "faster / leaner**.  N differs between Python and the C++ programs "
            "(see the detail table); per-op figures are comparable, CPython's "
            "per-task cost grows with N (GC), so the smaller Python N is, if "
            "anything, flattering to Python.", "",
            "## Paired ratios", "",
            "Each repetition runs every implementation back to back; this is the "
            "median (min–max) over repetitions of ours against each peer *in the same "
            "repetition*, which a host whose speed drifts during the run disturbs less "
            "than the ratio of medians above (the floor column: > 1 would be faster "
            "than the hand-written no-runtime program).", ""]
    out += paired_table(workloads, records)
    out += ["", "## Detail", ""]
    out += detail_table(workloads, impls, med)
    if notes or failures:
        out += ["", "## Notes", ""]
        out += [f"- {n}" for n in notes]
        out += [f"- FAILED {i}/{w}: {msg.splitlines()[0]}"
                for (i, w), msg in failures.items()]
    out += [""]
    dest = Path(args.out).resolve() if args.out else RESULTS_MD
    dest.write_text("\n".join(out))
    log(f"wrote {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true",
                    help="tiny N, 1 rep; non-zero exit on any failure")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions per program (default 5, smoke 1)")
    ap.add_argument("--only", default="",
                    help="comma-separated workloads (default: all)")
    ap.add_argument("--impl", default="",
                    help="comma-separated implementations "
                         "(python,asio,ours,raw_epoll; default: all)")
    ap.add_argument("--no-write", action="store_true",
                    help="do not rewrite bench/RESULTS.md")
    ap.add_argument("--out", default="",
                    help="write the results here instead of bench/RESULTS.md (e.g. "
                         "bench/RESULTS.clang.md for a CXX=clang++ run)")
    args = ap.parse_args()
    if args.reps is None:
        args.reps = 1 if args.smoke else 5
    if args.reps < 1:
        ap.error("--reps must be >= 1")

    workloads = WORKLOADS
    if args.only:
        workloads = [w.strip() for w in args.only.split(",") if w.strip()]
        bad = [w for w in workloads if w not in WORKLOADS]
        if bad:
            ap.error(f"unknown workload(s): {', '.join(bad)}; "
                     f"known: {', '.join(WORKLOADS)}")
    impls = IMPLS
    if args.impl:
        impls = [i.strip() for i in args.impl.split(",") if i.strip()]
        bad = [i for i in impls if i not in IMPLS]
        if bad:
            ap.error(f"unknown implementation(s): {', '.join(bad)}; "
                     f"known: {', '.join(IMPLS)}")

    n_table = SMOKE_N if args.smoke else FULL_N
    extra_table = SMOKE_EXTRA if args.smoke else FULL_EXTRA
    timeout = SMOKE_TIMEOUT if args.smoke else FULL_TIMEOUT
    t_start = time.monotonic()
    load_start = os.getloadavg()[0]
    if load_start > 0.5 * (os.cpu_count() or 1):
        log(f"warning: 1-min load average is {load_start:.2f} on "
            f"{os.cpu_count()} CPUs -- other work is running, results will be noisy")

    # Which (impl, workload) programs exist.
    notes: list[str] = []
    failures: dict[tuple[str, str], str] = {}
    plan: dict[str, list[str]] = {}
    ours_missing: list[str] = []
    for w in workloads:
        plan[w] = []
        for i in impls:
            if source_for(i, w).exists():
                plan[w].append(i)
            elif i == "ours":
                ours_missing.append(w)
            elif i in ("python", "asio"):
                failures[(i, w)] = f"missing source {source_for(i, w)}"
            # raw_epoll (a floor) exists for some workloads only: silently absent elsewhere
    if ours_missing:
        notes.append("ours skipped (no bench/ours/<workload>.cpp) for: "
                     + ", ".join(ours_missing))
    for n in notes:
        log(f"note: {n}")

    cpp_jobs = [(i, w) for w in workloads for i in plan[w] if i in CPP_IMPLS]
    failures.update(build_all(cpp_jobs))
    for w in workloads:
        plan[w] = [i for i in plan[w] if (i, w) not in failures]

    # Run: per workload, per repetition, every implementation (rotating order).
    records: dict[tuple[str, str], list[Record]] = {}
    for w in workloads:
        order = plan[w]
        for rep in range(args.reps):
            k = rep % len(order) if order else 0
            for i in order[k:] + order[:k]:
                if (i, w) in failures:
                    continue
                n = n_table[w][0 if i == "python" else 1]
                try:
                    rec = run_one(i, w, n, extra_table.get(w, []), timeout)
                except (RuntimeError, ValueError) as e:
                    log(f"[{w}] {i}: FAILED: {e}")
                    failures[(i, w)] = str(e)
                    continue
                records.setdefault((w, i), []).append(rec)
                bpt = "" if rec.bpt is None else f", {fmt_bytes(rec.bpt)}/task"
                log(f"[{w}] rep {rep + 1}/{args.reps} {i:9s} N={rec.n:<9,} "
                    f"{rec.seconds:8.3f} s  {fmt_time(rec.seconds / rec.n)}/op{bpt}")

    med = {key: median_of(recs) for key, recs in records.items()
           if (key[1], key[0]) not in failures}

    print()
    print("\n".join(summary_table(workloads, med)))
    fl = floor_lines(med)
    if fl:
        print()
        print("\n".join(fl))
    print()
    print("\n".join(paired_table(workloads, records)))
    print()
    print("\n".join(detail_table(workloads, impls, med)))
    for n in notes:
        print(f"note: {n}")
    for (i, w), msg in failures.items():
        print(f"FAILED {i}/{w}: {msg.splitlines()[0] if msg else ''}")
    print(f"\ntotal wall time {time.monotonic() - t_start:.1f} s")

    load = (load_start, os.getloadavg()[0])
    print(f"1-min load average: {load[0]:.2f} at start, {load[1]:.2f} at end")
    if not args.smoke and not args.no_write:
        write_results(args, workloads, impls, med, records, notes, failures, load)

    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
