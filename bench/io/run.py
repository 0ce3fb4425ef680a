#!/usr/bin/env python3
"""I/O benchmarks side by side: TLS, the HTTP server, WebSockets (ours vs Asio / Beast / aiohttp).

    python3 bench/io/run.py [--smoke] [--reps 5] [--only tls_echo,http_hello,...]
                            [--no-write] [--out FILE]

Workloads (bench/README.md, "I/O workloads", says exactly what each does):
  tls_echo       50 TLS connections, 64-byte ping-pong, one process    ours vs asio vs python (asyncio+ssl)
  tls_bulk       one TLS connection, N bytes one way, one process      ours vs asio vs `openssl speed`
  tls_handshake  sequential connect + full handshake + 1-byte echo     ours vs asio
  http_hello     wrk -t1 -c50 keep-alive GET / -> "Hello, World!"      ours vs beast vs aiohttp (uvloop),
                                                                       ours 2 loops/2 threads vs ours 1
  ws_echo        64-byte TEXT echo over 50 WebSockets (C++ raw-epoll   ours vs beast vs aiohttp (uvloop)
                 load client, bench/io/ws/load.cpp)
  ws_idle        server RSS growth per open idle WebSocket             ours vs beast vs aiohttp (uvloop)

Same discipline as bench/run.py: C++ programs built with g++ -O2 (only when stale), every
repetition runs every implementation of a workload back to back (order rotated between
repetitions), medians are reported, and ratios are taken per repetition ("paired") as well as
of the medians. Servers are pinned to CPU 0 and their load generator (wrk, ws/load) to CPU 1
with taskset when the machine has >= 2 CPUs, and the server's own CPU time during the
measurement is recorded (/proc/PID/stat), so a load generator that cannot saturate the server
shows up as server CPU < 100 %.

A peer whose package is missing (wrk, Boost.Beast headers, aiohttp/uvloop for /usr/bin/python3)
is skipped with a note, never a failure; "ours" for ws_* is skipped with a note while
include/asyncio/web.hpp has no WebSocketResponse. Any build failure, crash, malformed output or
error reported by the load generator is a failure (exit status 1).

--smoke: tiny sizes, 1 repetition, no report written (test.sh runs it after bench/run.py --smoke).
A full run writes bench/RESULTS.io.md unless --no-write.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

IO = Path(__file__).resolve().parent
BENCH = IO.parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import run as core  # noqa: E402  (bench/run.py: formatting, depfiles, machine description)

BUILD = ROOT / "build-bench" / "io"
RESULTS_MD = BENCH / "RESULTS.io.md"
CXX = core.CXX
CXXFLAGS = core.CXXFLAGS
PY = os.environ.get("BENCH_PYTHON", "/usr/bin/python3")
LLHTTP_DIR = Path("/usr/share/llhttp")
LLHTTP_INC = Path("/usr/share/include/llhttp")
log = core.log

WORKLOADS = ["tls_echo", "tls_bulk", "tls_handshake", "http_hello", "ws_echo", "ws_idle"]

# Implementations per workload, in the order they are run in the first repetition.
IMPLS = {
    "tls_echo": ["ours", "asio", "python"],
    "tls_bulk": ["ours", "asio", "openssl"],
    "tls_handshake": ["ours", "asio"],
    "http_hello": ["ours", "ours-2t", "beast", "aiohttp", "nginx"],
    "ws_echo": ["ours", "beast", "aiohttp"],
    "ws_idle": ["ours", "beast", "aiohttp"],
}
# Ratios reported: (workload, numerator impl, denominator impl, label).  > 1 = the numerator is
# better (faster, or leaner for ws_idle).
RATIOS = [
    ("tls_echo", "ours", "asio", "≥ 1"),
    ("tls_echo", "ours", "python", "≥ 8"),
    ("tls_bulk", "ours", "asio", "≥ 1"),
    ("tls_bulk", "ours", "openssl", "≥ 0.9 (see ceiling note)"),
    ("tls_bulk", "asio", "openssl", "—"),
    ("tls_handshake", "ours", "asio", "≥ 1"),
    ("http_hello", "ours", "aiohttp", "≥ 10"),
    ("http_hello", "ours", "beast", "≥ 1"),
    ("http_hello", "beast", "aiohttp", "— (peers)"),
    ("http_hello", "ours", "nginx", "report (the practical floor)"),
    ("http_hello", "ours-2t", "ours", "≥ 1.7 (not measurable on 2 CPUs, see notes)"),
    ("ws_echo", "ours", "aiohttp", "≥ 10"),
    ("ws_echo", "ours", "beast", "≥ 1"),
    ("ws_echo", "beast", "aiohttp", "— (peers)"),
    ("ws_idle", "ours", "aiohttp", "—"),
    ("ws_idle", "ours", "beast", "—"),
    ("ws_idle", "beast", "aiohttp", "— (peers)"),
]
# Primary figure: "rate" (ops/s, higher better) or "bytes" (bytes per connection, lower better).
PRIMARY = {w: "rate" for w in WORKLOADS}
PRIMARY["ws_idle"] = "bytes"
UNIT = {"tls_echo": "rt/s", "tls_bulk": "B/s", "tls_handshake": "hs/s", "http_hello": "req/s",
        "ws_echo": "msg/s", "ws_idle": "B/conn"}

# Sizes: N for the one-process TLS programs and the WebSocket load; seconds for wrk.
FULL = {"tls_echo": 200_000, "tls_bulk": 1 << 30, "tls_handshake": 2_000, "http_hello": 5,
        "ws_echo": 200_000, "ws_idle": 2_000}
SMOKE = {"tls_echo": 2_000, "tls_bulk": 16 << 20, "tls_handshake": 50, "http_hello": 1,
         "ws_echo": 5_000, "ws_idle": 100}
# aiohttp is ~2x slower per WebSocket message than the C++ servers: fewer messages keep its run
# near the others' length (per-message rates are compared).
PY_DIV = {"ws_echo": 2, "tls_echo": 5}
FULL_TIMEOUT, SMOKE_TIMEOUT = 300.0, 30.0
WS_CONNS = 50
WRK_CONNS = 50

TWO_CPUS = (os.cpu_count() or 1) >= 2


INCLUDE = ROOT / "include"  # --include: our headers (another worktree's, to preview a branch)
NICE = 0  # --nice: run every measured program at this niceness (negative: ahead of other tenants)


def prio() -> list[str]:
    return ["nice", "-n", str(NICE)] if NICE else []


def pin(cpus: str | None) -> list[str]:
    """The command prefix for a measured program: its niceness and (servers, load generators,
    with >= 2 CPUs) the CPUs it may run on."""
    if cpus is None or not TWO_CPUS or not shutil.which("taskset"):
        return prio()
    return prio() + ["taskset", "-c", cpus]


SERVER_CPUS, LOAD_CPUS = "0", "1"


# --------------------------------------------------------------------------
# C++ programs
# --------------------------------------------------------------------------

@dataclass
class Prog:
    name: str
    src: Path
    ours: bool = False         # -I include, and the llhttp objects / libs our headers need
    web: bool = False          # needs llhttp (web.hpp)
    libs: list[str] = field(default_factory=list)

    @property
    def out(self) -> Path:
        return BUILD / self.name


PROGS = {
    "ours_tls": Prog("ours_tls", IO / "tls/ours.cpp", ours=True, libs=["-lssl", "-lcrypto", "-lfmt"]),
    "asio_tls": Prog("asio_tls", IO / "tls/asio.cpp", libs=["-lssl", "-lcrypto"]),
    "ours_http": Prog("ours_http", IO / "http/ours.cpp", ours=True, web=True, libs=["-lfmt", "-lwslay"]),
    "beast_http": Prog("beast_http", IO / "http/beast.cpp"),
    "ours_ws": Prog("ours_ws", IO / "ws/ours.cpp", ours=True, web=True, libs=["-lfmt", "-lwslay"]),
    "beast_ws": Prog("beast_ws", IO / "ws/beast.cpp"),
    "ws_load": Prog("ws_load", IO / "ws/load.cpp"),
}
LLHTTP_OBJS = [BUILD / f"llhttp_{n}.o" for n in ("api", "http", "llhttp")]


def pkg_config(*args: str) -> list[str]:
    """GMime's flags (web.hpp's multipart parser is a source of the asyncio::web library,
    src/web_multipart.cpp, built here into each web program)."""
    try:
        p = subprocess.run(["pkg-config", *args, "gmime-3.0"], capture_output=True, text=True)
    except OSError:
        return []
    return p.stdout.split() if p.returncode == 0 else []


def compile_cmd(p: Prog) -> list[str]:
    cmd = [CXX, *CXXFLAGS, "-I", str(BENCH / "common")]
    if p.ours:
        cmd += ["-I", str(INCLUDE)]
    if p.web:
        cmd += ["-I", str(LLHTTP_INC)]
    cmd += ["-MMD", "-MF", str(p.out) + ".d", str(p.src), "-o", str(p.out)]
    if p.web:
        cmd += [str(ROOT / "src/web_multipart.cpp"), *pkg_config("--cflags")]
        cmd += [str(o) for o in LLHTTP_OBJS]
    return cmd + p.libs + ([*pkg_config("--libs"), "-lz"] if p.web else [])


def needs_build(p: Prog) -> bool:
    stamp = Path(str(p.out) + ".cmd")
    if not p.out.exists() or not stamp.exists():
        return True
    if stamp.read_text() != shlex.join(compile_cmd(p)):
        return True
    deps = core._deps_from_depfile(Path(str(p.out) + ".d"))
    if not deps:
        return True
    t = p.out.stat().st_mtime
    for d in deps:
        try:
            if d.stat().st_mtime > t:
                return True
        except OSError:
            return True
    return False


def build_llhttp() -> str | None:
    """llhttp's C sources (Debian's node-llhttp) -> objects, once. Returns an error or None."""
    for (src, obj) in zip(("api", "http", "llhttp"), LLHTTP_OBJS):
        c = LLHTTP_DIR / f"{src}.c"
        if obj.exists() and obj.stat().st_mtime >= c.stat().st_mtime:
            continue
        r = subprocess.run(["gcc", "-O2", "-c", str(c), "-I", str(LLHTTP_INC), "-o", str(obj)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return r.stderr
    return None


def build(progs: list[Prog]) -> dict[str, str]:
    BUILD.mkdir(parents=True, exist_ok=True)
    failures: dict[str, str] = {}
    if any(p.web for p in progs):
        err = build_llhttp()
        if err:
            return {p.name: "llhttp: " + err for p in progs if p.web}
    todo = [p for p in progs if needs_build(p)]
    if not todo:
        log(f"build: {len(progs)} C++ program(s) up to date")
        return failures
    log(f"build: compiling {len(todo)} program(s) with {CXX} {' '.join(CXXFLAGS)} ...")

    def one(p: Prog):
        t0 = time.monotonic()
        r = subprocess.run(compile_cmd(p), cwd=ROOT, capture_output=True, text=True)
        stamp = Path(str(p.out) + ".cmd")
        if r.returncode == 0:
            stamp.write_text(shlex.join(compile_cmd(p)))
        elif stamp.exists():
            stamp.unlink()
        return p, r, time.monotonic() - t0

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for p, r, dt in pool.map(one, todo):
            if r.returncode == 0:
                log(f"  built {p.src.relative_to(BENCH)} ({dt:.1f} s)")
            else:
                tail = "\n".join(r.stderr.strip().splitlines()[-25:])
                log(f"  FAILED {p.src.relative_to(BENCH)}:\n{tail}")
                failures[p.name] = "build failed"
    return failures


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------

@dataclass
class Rec:
    n: int
    seconds: float
    ops: float            # the primary rate (ops/s) or, for ws_idle, connections/s
    peak_kb: int          # peak RSS of the measured process (the server's for server workloads)
    bpt: float | None     # bytes per connection (ws_idle)
    cpu: float | None = None  # server CPU seconds during the measurement (server workloads)
    sys: float | None = None  # of which in the kernel (system time)

    @property
    def cpu_share(self) -> float | None:
        return None if self.cpu is None else self.cpu / self.seconds

    @property
    def per_cpu(self) -> float | None:
        """ops per server CPU-second (how much work the server does per unit of CPU)."""
        return None if not self.cpu else self.ops * self.seconds / self.cpu


def primary(w: str, r: Rec) -> float:
    return r.bpt if PRIMARY[w] == "bytes" else r.ops


def better_ratio(w: str, a: float, b: float) -> float:
    """a against b, > 1 = a better."""
    if PRIMARY[w] == "bytes":
        return b / a if a > 0 else float("inf")
    return a / b if b > 0 else float("inf")


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------

class Failure(Exception):
    pass


def run_line(cmd: list[str], workload: str, impl: str, n: int, timeout: float,
             want_stderr: bool = False):
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"timed out after {timeout:.0f} s: {shlex.join(cmd)}")
    if p.returncode != 0:
        err = "\n".join(p.stderr.strip().splitlines()[-15:])
        raise Failure(f"exit status {p.returncode}: {shlex.join(cmd)}\n{err}")
    try:
        r = core.parse_line(p.stdout, workload, impl, n)
    except ValueError as e:
        raise Failure(str(e))
    rec = Rec(r.n, r.seconds, r.ops, r.peak_kb, r.bpt)
    return (rec, p.stderr) if want_stderr else rec


def proc_cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the process so far, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime, stime are fields 14, 15
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def cpu_delta(pid: int, before: tuple[float, float]) -> tuple[float, float]:
    u, s = proc_cpu_seconds(pid)
    return u - before[0], s - before[1]


def proc_status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return -1


class Server:
    """A server program that prints its port as the first stdout line and serves until killed."""

    def __init__(self, cmd: list[str], timeout: float = 15.0):
        self.cmd = pin(SERVER_CPUS if cmd[0] != "2t" else "0,1") + (cmd[1:] if cmd[0] == "2t" else cmd)
        self.p = subprocess.Popen(self.cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        line = self.p.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            self.stop()
            err = self.p.stderr.read() if self.p.stderr else ""
            raise Failure(f"server did not announce its port: {shlex.join(self.cmd)}: "
                          f"{line!r} {err.strip()[-500:]}")
        self.port = int(line)
        # A server that announces its port before it listens (nginx_server.py execs nginx after
        # printing it): wait until a connection is accepted.
        deadline = time.time() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.p.poll() is not None:
                    self.stop()
                    raise Failure(f"server never accepted on port {self.port}: {shlex.join(self.cmd)}")
                time.sleep(0.01)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        for f in (self.p.stdout,):
            if f:
                f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        if self.p.stderr:
            self.p.stderr.close()


def server_cmd(workload: str, impl: str) -> list[str]:
    if workload == "http_hello":
        return {"ours": [str(PROGS["ours_http"].out), "1"],
                "ours-2t": ["2t", str(PROGS["ours_http"].out), "2"],
                "beast": [str(PROGS["beast_http"].out)],
                "aiohttp": [PY, str(IO / "http/aiohttp_server.py")],
                "nginx": [PY, str(IO / "http/nginx_server.py")]}[impl]
    return {"ours": [str(PROGS["ours_ws"].out)],
            "beast": [str(PROGS["beast_ws"].out)],
            "aiohttp": [PY, str(IO / "ws/aiohttp_server.py")]}[impl]


_WRK_RPS = re.compile(r"Requests/sec:\s*([\d.]+)")
_WRK_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)")


def run_wrk(port: int, seconds: int, timeout: float) -> tuple[int, float, float]:
    """(requests, seconds, req/s) of one wrk run; Failure on errors or non-2xx answers."""
    cmd = pin(LOAD_CPUS) + ["wrk", "-t1", f"-c{WRK_CONNS}", f"-d{seconds}s",
                            f"http://127.0.0.1:{port}/"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"wrk timed out: {shlex.join(cmd)}")
    out = p.stdout
    if p.returncode != 0 or "Non-2xx" in out or "Socket errors" in out:
        raise Failure(f"wrk reported errors ({shlex.join(cmd)}):\n{out.strip()}\n{p.stderr.strip()}")
    m, t = _WRK_RPS.search(out), _WRK_TOTAL.search(out)
    if not m or not t:
        raise Failure(f"cannot parse wrk output:\n{out}")
    secs = float(t.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[t.group(3)]
    return int(t.group(1)), secs, float(m.group(1))


def run_http(impl: str, seconds: int, timeout: float, warmup: bool) -> Rec:
    with Server(server_cmd("http_hello", impl)) as s:
        if warmup:
            run_wrk(s.port, 1, timeout)
        c0 = proc_cpu_seconds(s.pid)
        n, secs, rps = run_wrk(s.port, seconds, timeout)
        user, sys_ = cpu_delta(s.pid, c0)
        if not s.alive():
            raise Failure("server died during the run")
        return Rec(n, secs, rps, proc_status_kb(s.pid, "VmHWM"), None, user + sys_, sys_)


def run_ws(workload: str, impl: str, n: int, timeout: float, warmup: bool) -> Rec:
    load = str(PROGS["ws_load"].out)
    with Server(server_cmd(workload, impl)) as s:
        if workload == "ws_echo":
            if warmup:
                run_line(pin(LOAD_CPUS) + [load, "echo", impl, str(s.port), str(WS_CONNS * 100),
                                           str(WS_CONNS)], "ws_echo", impl, WS_CONNS * 100, timeout)
            c0 = proc_cpu_seconds(s.pid)
            rec = run_line(pin(LOAD_CPUS) + [load, "echo", impl, str(s.port), str(n), str(WS_CONNS)],
                           "ws_echo", impl, n, timeout)
            user, sys_ = cpu_delta(s.pid, c0)
            rec.cpu, rec.sys = user + sys_, sys_
            rec.peak_kb = proc_status_kb(s.pid, "VmHWM")
        else:
            rec = run_line(pin(LOAD_CPUS) + [load, "idle", impl, str(s.port), str(n), str(s.pid)],
                           "ws_idle", impl, n, timeout)
        if not s.alive():
            raise Failure("server died during the run")
        return rec


_CIPHER_TO_EVP = {"TLS_AES_256_GCM_SHA384": "aes-256-gcm", "TLS_AES_128_GCM_SHA256": "aes-128-gcm",
                  "TLS_CHACHA20_POLY1305_SHA256": "chacha20-poly1305",
                  "ECDHE-ECDSA-AES256-GCM-SHA384": "aes-256-gcm",
                  "ECDHE-ECDSA-AES128-GCM-SHA256": "aes-128-gcm",
                  "ECDHE-ECDSA-CHACHA20-POLY1305": "chacha20-poly1305"}


def negotiated_cipher(impls: list[str], cert: str, key: str, timeout: float) -> str | None:
    """The `openssl speed -evp` name of the cipher a 1 MiB bulk run negotiates (stderr "cipher X")."""
    for i in impls:
        try:
            _, err = run_line(pin(None) + [str(PROGS[f"{i}_tls"].out), "bulk", str(1 << 20), cert, key],
                              "tls_bulk", i, 1 << 20, timeout, want_stderr=True)
        except Failure:
            continue
        m = re.search(r"^cipher (\S+)", err, re.M)
        if m:
            log(f"[tls_bulk] negotiated cipher: {m.group(1)}")
            return _CIPHER_TO_EVP.get(m.group(1))
    return None


def openssl_speed(evp: str, decrypt: bool) -> float:
    """Bytes/s of `openssl speed -evp EVP` on 16 KiB blocks (a full TLS record), 1 s."""
    cmd = ["openssl", "speed", "-seconds", "1", "-bytes", "16384", "-evp", evp]
    if decrypt:
        cmd.insert(2, "-decrypt")
    cmd = pin(None) + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    last = [ln for ln in p.stdout.splitlines() if ln.strip()][-1:]
    m = re.search(r"([\d.]+)k\s*$", last[0]) if last else None
    if p.returncode != 0 or not m:
        raise Failure(f"cannot parse `{shlex.join(cmd)}`: {p.stdout[-300:]} {p.stderr[-300:]}")
    return float(m.group(1)) * 1000.0


# --------------------------------------------------------------------------
# Plan: what can run here
# --------------------------------------------------------------------------

def python_has(*mods: str) -> bool:
    code = "import " + ", ".join(mods)
    try:
        return subprocess.run([PY, "-c", code], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def have_websocket_response() -> bool:
    try:
        return "class WebSocketResponse" in (INCLUDE / "asyncio/web.hpp").read_text()
    except OSError:
        return False


def plan(workloads: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    notes: list[str] = []
    has_beast = Path("/usr/include/boost/beast.hpp").exists()
    has_aiohttp = python_has("aiohttp", "uvloop")
    has_wrk = shutil.which("wrk") is not None
    has_web = LLHTTP_INC.exists() and (LLHTTP_DIR / "llhttp.c").exists()
    has_ws = have_websocket_response()
    out: dict[str, list[str]] = {}
    for w in workloads:
        impls = list(IMPLS[w])
        if w.startswith(("http", "ws")):
            if not has_beast and "beast" in impls:
                impls.remove("beast")
                notes.append(f"{w}: beast skipped: Boost.Beast headers missing "
                             "(apt-get install libboost1.81-dev)")
            if not has_aiohttp and "aiohttp" in impls:
                impls.remove("aiohttp")
                notes.append(f"{w}: aiohttp skipped: {PY} cannot import aiohttp and uvloop "
                             "(apt-get install python3-aiohttp python3-uvloop)")
            if not has_web:
                impls = [i for i in impls if not i.startswith("ours")]
                notes.append(f"{w}: ours skipped: llhttp sources missing (apt-get install node-llhttp)")
        if w.startswith("ws") and "ours" in impls and not has_ws:
            impls.remove("ours")
            notes.append(f"{w}: ours skipped: include/asyncio/web.hpp has no web::WebSocketResponse "
                         "yet (the WebSocket branch is not merged); bench/io/ws/ours.cpp is written "
                         "against DESIGN §7's names and runs once it is")
        if w == "http_hello" and "nginx" in impls and shutil.which("nginx") is None \
                and not Path("/usr/sbin/nginx").exists():
            impls.remove("nginx")
            notes.append("http_hello: nginx skipped: not installed (apt-get install nginx-light)")
        if w == "http_hello" and not has_wrk:
            impls = []
            notes.append("http_hello skipped: wrk missing (apt-get install wrk)")
        if w == "tls_bulk" and not shutil.which("openssl"):
            impls.remove("openssl")
            notes.append("tls_bulk: openssl speed ceiling skipped: no openssl binary")
        out[w] = impls
    if not TWO_CPUS:
        notes.append("fewer than 2 CPUs: servers and load generators are not pinned")
    return out, notes


def progs_for(w: str, impl: str) -> list[str]:
    if w.startswith("tls"):
        return {"ours": ["ours_tls"], "asio": ["asio_tls"], "openssl": [], "python": []}[impl]
    if w == "http_hello":
        return {"ours": ["ours_http"], "ours-2t": ["ours_http"], "beast": ["beast_http"],
                "aiohttp": [], "nginx": []}[impl]
    srv = {"ours": ["ours_ws"], "beast": ["beast_ws"], "aiohttp": []}[impl]
    return srv + ["ws_load"]


# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------

def make_certs() -> tuple[str, str]:
    """A self-signed P-256 certificate for localhost/127.0.0.1 (the client trusts it as CA)."""
    d = BUILD / "certs"
    cert, key = d / "cert.pem", d / "key.pem"
    if cert.exists() and key.exists() and time.time() - cert.stat().st_mtime < 20 * 86400:
        return str(cert), str(key)
    d.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return str(cert), str(key)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def fmt_primary(w: str, v: float | None) -> str:
    if v is None:
        return "—"
    if w == "tls_bulk":
        return f"{v / 1e6:,.0f} MB/s"
    if PRIMARY[w] == "bytes":
        return f"{core.fmt_bytes(v)}/conn"
    return f"{core.fmt_rate(v)} {UNIT[w]}"


def median_rec(recs: list[Rec]) -> Rec:
    cpus = [r.cpu for r in recs if r.cpu is not None]
    bpts = [r.bpt for r in recs if r.bpt is not None]
    return Rec(recs[0].n, statistics.median(r.seconds for r in recs),
               statistics.median(r.ops for r in recs),
               int(statistics.median(r.peak_kb for r in recs)),
               statistics.median(bpts) if bpts else None,
               statistics.median(cpus) if cpus else None)


def summary_rows(workloads, records) -> list[str]:
    rows = ["| workload | impl | median | min–max | server CPU | per server CPU-s | "
            "server µs/op user + kernel | peak RSS | reps |",
            "|---|---|---|---|---|---|---|---|---|"]
    for w in workloads:
        for i in IMPLS[w]:
            recs = records.get((w, i))
            if not recs:
                continue
            m = median_rec(recs)
            vals = [primary(w, r) for r in recs]
            share = f"{100 * m.cpu_share:.0f} %" if m.cpu_share is not None else "—"
            per = (f"{core.fmt_rate(statistics.median(r.per_cpu for r in recs))} {UNIT[w].split('/')[0]}"
                   if m.cpu else "—")
            split = "—"
            if all(r.cpu and r.sys is not None for r in recs):
                us = statistics.median(1e6 * (r.cpu - r.sys) / r.n for r in recs)
                ks = statistics.median(1e6 * r.sys / r.n for r in recs)
                split = f"{us:.2f} + {ks:.2f}"
            rows.append(f"| {w} | {i} | {fmt_primary(w, primary(w, m))} | "
                        f"{fmt_primary(w, min(vals))} – {fmt_primary(w, max(vals))} | {share} | "
                        f"{per} | {split} | {m.peak_kb / 1024:.1f} MB | {len(recs)} |")
    return rows


def paired(w: str, a: str, b: str, records, per_cpu: bool = False) -> tuple[str, float | None]:
    ra, rb = records.get((w, a)), records.get((w, b))
    if not ra or not rb or len(ra) != len(rb):
        return "—", None
    if per_cpu:
        if any(r.per_cpu is None for r in ra + rb):
            return "—", None
        rs = [x.per_cpu / y.per_cpu for x, y in zip(ra, rb)]
    else:
        rs = [better_ratio(w, primary(w, x), primary(w, y)) for x, y in zip(ra, rb)]
    med = statistics.median(rs)
    return f"{med:.2f}× ({min(rs):.2f}–{max(rs):.2f})", med


def ratio_rows(workloads, records) -> list[str]:
    rows = ["| workload | ratio | paired (median, min–max) | per server CPU-second | target |",
            "|---|---|---|---|---|"]
    for w, a, b, target in RATIOS:
        if w not in workloads:
            continue
        s, _ = paired(w, a, b, records)
        c, _ = paired(w, a, b, records, per_cpu=True) if w in ("http_hello", "ws_echo") else ("—", None)
        if s == "—":
            continue
        rows.append(f"| {w} | {a} / {b} | {s} | {c} | {target} |")
    return rows


def write_results(path: Path, args, workloads, records, notes, failures, extra, load) -> None:
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    argv = " ".join(sys.argv[1:])
    py_versions = _first([PY, "-c", "import aiohttp, uvloop, sys; print('aiohttp', aiohttp.__version__, "
                          "'uvloop', uvloop.__version__, 'python', sys.version.split()[0])"])
    out = ["# I/O benchmark results (TLS, HTTP server, WebSocket)", "",
           f"Generated by `python3 bench/io/run.py{' ' + argv if argv else ''}` on {now}; "
           f"{args.reps} repetition(s), implementations alternated within each repetition "
           "(order rotated). Methodology: bench/README.md, \"I/O workloads\"; what the ratios "
           "mean and why targets are missed: bench/README.md, \"I/O: what the numbers say\".", "",
           "## Machine", "", *core.machine_info(),
           f"- Boost: {boost_version()}; wrk: {_first(['wrk', '-v'])}; {py_versions}",
           f"- OpenSSL: {_first(['openssl', 'version'])}",
           f"- pinning: servers on CPU {SERVER_CPUS} (ours-2t on CPUs 0,1), load generators on CPU "
           f"{LOAD_CPUS} (taskset)" if TWO_CPUS else "- no pinning (< 2 CPUs)",
           f"- niceness of the measured programs: {NICE}"
           + (" (ahead of other tenants' jobs)" if NICE < 0 else ""),
           f"- 1-min load average: {load[0]:.2f} at start, {load[1]:.2f} at end", "",
           "## Paired ratios (> 1 = the first is faster / leaner)", ""]
    out += ratio_rows(workloads, records)
    out += ["", "## Medians", ""]
    out += summary_rows(workloads, records)
    if extra:
        out += ["", *extra]
    if notes or failures:
        out += ["", "## Notes", ""]
        out += [f"- {n}" for n in notes]
        out += [f"- FAILED {i}/{w}: {m.splitlines()[0] if m else ''}" for (w, i), m in failures.items()]
    out.append("")
    path.write_text("\n".join(out))
    log(f"wrote {path}")


def _first(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return ((p.stdout or p.stderr).strip().splitlines() or ["unavailable"])[0]
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"


def boost_version() -> str:
    try:
        m = re.search(r'#define BOOST_LIB_VERSION "([^"]+)"',
                      Path("/usr/include/boost/version.hpp").read_text())
        return m.group(1).replace("_", ".") if m else "unknown"
    except OSError:
        return "not installed"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, 1 rep; non-zero exit on any failure")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 5, smoke 1)")
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all)")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.io.md")
    ap.add_argument("--out", default="", help="write the report here instead")
    ap.add_argument("--include", default="",
                    help="build ours against this include/ directory instead of the repository's "
                         "(e.g. another worktree's, to preview a branch); implies --no-write")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness for every measured program (e.g. -10 on a shared host, as root: "
                         "the benchmark then runs ahead of other tenants' jobs; default 0)")
    args = ap.parse_args()
    global NICE, INCLUDE
    NICE = args.nice
    if NICE and os.environ.get("BENCH_IO_SESSION") != "1":
        # Linux's autogroup scheduling shares the CPUs between sessions first and applies a
        # niceness only within a session, so `nice` alone does not put the benchmark ahead of
        # other tenants' jobs: run again in a session of our own whose autogroup gets NICE.
        env = dict(os.environ, BENCH_IO_SESSION="1")
        try:
            return subprocess.run([sys.executable, *sys.argv], env=env, start_new_session=True).returncode
        except KeyboardInterrupt:
            return 130
    if NICE:
        try:
            Path("/proc/self/autogroup").write_text(str(NICE))
        except OSError as e:
            log(f"note: cannot set the autogroup's niceness ({e}); `nice` applies within it only")
    if args.include:
        INCLUDE = Path(args.include).resolve()
    if args.reps is None:
        args.reps = 1 if args.smoke else 5
    workloads = WORKLOADS
    if args.only:
        workloads = [w.strip() for w in args.only.split(",") if w.strip()]
        bad = [w for w in workloads if w not in WORKLOADS]
        if bad:
            ap.error(f"unknown workload(s) {bad}; known: {', '.join(WORKLOADS)}")
    sizes = SMOKE if args.smoke else FULL
    timeout = SMOKE_TIMEOUT if args.smoke else FULL_TIMEOUT
    t_start = time.monotonic()
    load_start = os.getloadavg()[0]

    impls, notes = plan(workloads)
    for n in notes:
        log(f"note: {n}")
    failures: dict[tuple[str, str], str] = {}
    names = sorted({p for w in workloads for i in impls[w] for p in progs_for(w, i)})
    bad = build([PROGS[n] for n in names])
    for w in workloads:
        for i in list(impls[w]):
            if any(p in bad for p in progs_for(w, i)):
                failures[(w, i)] = "build failed"
                impls[w].remove(i)
    cert, key = make_certs() if any(w.startswith("tls") for w in workloads) else ("", "")

    records: dict[tuple[str, str], list[Rec]] = {}
    extra: list[str] = []
    ceilings: list[str] = []
    for w in workloads:
        order = impls[w]
        n = sizes[w]
        cipher = None
        if "openssl" in order:
            cipher = negotiated_cipher([i for i in order if i != "openssl"], cert, key, timeout)
            if cipher is None:
                order.remove("openssl")
                notes.append("tls_bulk: openssl speed ceiling skipped: negotiated cipher unknown")
        for rep in range(args.reps):
            k = rep % len(order) if order else 0
            for i in order[k:] + order[:k]:
                if (w, i) in failures:
                    continue
                try:
                    if w.startswith("tls"):
                        if i == "openssl":
                            if cipher is None:
                                raise Failure("the negotiated cipher is unknown")
                            enc = openssl_speed(cipher, False)
                            dec = openssl_speed(cipher, True)
                            # One process encrypts and decrypts every byte on one CPU: the
                            # ceiling is the harmonic combination of the two speeds.
                            both = 1.0 / (1.0 / enc + 1.0 / dec)
                            rec = Rec(1 << 30, 1.0, both, 1, None)
                            ceilings.append(f"rep {rep + 1}: {cipher} encrypt {enc / 1e6:,.0f} MB/s, "
                                            f"decrypt {dec / 1e6:,.0f} MB/s, both on one CPU "
                                            f"{both / 1e6:,.0f} MB/s")
                        elif i == "python":  # Python asyncio + ssl (tls_echo only), fewer round trips
                            nn = n // PY_DIV.get(w, 1)
                            rec = run_line(pin(None) + [PY, str(IO / "tls/python_echo.py"), "echo", str(nn), cert, key],
                                           w, i, nn - nn % 50 if nn >= 50 else 50, timeout)
                        else:
                            mode = w.split("_", 1)[1]
                            rec = run_line(pin(None) + [str(PROGS[f"{i}_tls"].out), mode, str(n), cert, key],
                                           w, i, n, timeout)
                    elif w == "http_hello":
                        rec = run_http(i, n, timeout, warmup=not args.smoke)
                    else:
                        nn = n // PY_DIV.get(w, 1) if i == "aiohttp" else n
                        rec = run_ws(w, i, nn, timeout, warmup=not args.smoke)
                except Failure as e:
                    log(f"[{w}] {i}: FAILED: {e}")
                    failures[(w, i)] = str(e)
                    continue
                records.setdefault((w, i), []).append(rec)
                cpu = f", server CPU {100 * rec.cpu_share:.0f} %" if rec.cpu is not None else ""
                log(f"[{w}] rep {rep + 1}/{args.reps} {i:8s} {fmt_primary(w, primary(w, rec))}{cpu}")
    if ceilings:
        extra.append("tls_bulk ceiling (`openssl speed -evp <cipher> -bytes 16384`, per repetition): "
                     + "; ".join(ceilings))

    print()
    print("\n".join(ratio_rows(workloads, records)))
    print()
    print("\n".join(summary_rows(workloads, records)))
    for e in extra:
        print(e)
    for n in notes:
        print(f"note: {n}")
    for (w, i), m in failures.items():
        print(f"FAILED {i}/{w}: {m.splitlines()[0] if m else ''}")
    print(f"\ntotal wall time {time.monotonic() - t_start:.1f} s")
    load = (load_start, os.getloadavg()[0])
    print(f"1-min load average: {load[0]:.2f} at start, {load[1]:.2f} at end")
    if not args.smoke and not args.no_write and not args.include:
        write_results(Path(args.out).resolve() if args.out else RESULTS_MD, args, workloads,
                      records, notes, failures, extra, load)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
