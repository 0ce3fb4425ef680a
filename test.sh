#!/usr/bin/env bash
# The whole test suite: builds and runs every test with g++ (-O2), then with clang++ (-O2) under
# AddressSanitizer + UndefinedBehaviorSanitizer (plus the libFuzzer targets in fuzz/, a bounded
# run each from the seed corpus), then the thread-crossing tests under ThreadSanitizer.
# Installs missing Debian packages first. Ends with "test: N passed, N failed".
# (The sanitized clang tree is also the suite's clang -O2 build: a separate unsanitized clang tree
# took a third of the suite's time and covered nothing the sanitized one does not. Line tables
# only, not full debug info, keep the sanitized build fast; reports still name file and line.)
set -uo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
asyncio_install_deps || exit 1
JOBS=$(nproc)
mkdir -p build
passed=0; failed=0; status=0
run_tree() {  # name, cxx, build type, sanitize, [ctest filter], [build targets]; $FLAGS: the build type's flags
  local name=$1 cxx=$2 type=$3 san=$4 filter=${5:-} targets=${6:-}
  local dir=build/$name t0=$SECONDS
  echo "== [$name] configure + build ($cxx, $type${san:+, sanitize=$san})"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE="$type" \
        -DASYNCIO_SANITIZE="$san" -DASYNCIO_BUILD_TESTS=ON -DASYNCIO_BUILD_EXAMPLES=ON \
        "-DCMAKE_CXX_FLAGS_$(echo "$type" | tr a-z A-Z)=$FLAGS" \
        -DASYNCIO_BUILD_FUZZERS="$([ "$name" = test-asan ] && echo ON || echo OFF)" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log"; failed=$((failed+1)); status=1; return; }
  if ! cmake --build "$dir" -j "$JOBS" ${targets:+--target $targets} >"$dir.build.log" 2>&1; then
    grep -E "error|Error" "$dir.build.log" | head -40
    echo "== [$name] BUILD FAILED (full log: $dir.build.log)"
    failed=$((failed+1)); status=1; return
  fi
  echo "== [$name] ctest (built in $((SECONDS - t0)) s)"
  local out t1=$SECONDS
  out=$(cd "$dir" && ctest -j "$JOBS" --output-on-failure ${filter:+-R "$filter"} 2>&1)
  local rc=$?
  echo "== [$name] ctest took $((SECONDS - t1)) s"
  echo "$out" | grep -E "tests passed|Failed|\*\*\*|Timeout" | tail -40
  # What a failing test printed (ctest shows it right after the test's ***Failed line).
  [ $rc -ne 0 ] && echo "$out" | grep -E -A50 "\*\*\*(Failed|Exception|Timeout)|Timeout\b" | head -250
  local line; line=$(echo "$out" | grep -E "tests passed, [0-9]+ tests failed out of" | tail -1)
  local total f
  total=$(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed.*/\1/')
  if [ -n "$total" ] && [ -n "$f" ]; then passed=$((passed + total - f)); failed=$((failed + f)); fi
  if [ $rc -ne 0 ] || [ -z "$line" ]; then status=1; [ -z "$line" ] && failed=$((failed+1)); fi
}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
FLAGS="-O2 -DNDEBUG" run_tree test-gcc g++ Release ""
FLAGS="-O2 -gline-tables-only -DNDEBUG" run_tree test-asan clang++ RelWithDebInfo "address,undefined"
if ls tests/test_threads*.cpp >/dev/null 2>&1; then
  export TSAN_OPTIONS=halt_on_error=1
  FLAGS="-O2 -gline-tables-only -DNDEBUG" run_tree test-tsan clang++ RelWithDebInfo "thread" "test_threads" "$(cd tests && ls test_threads*.cpp | sed 's/\.cpp$//' | tr '\n' ' ')"
fi
# The benchmark suite, smoke-sized (tiny N): every program of every implementation builds, runs
# and prints a well-formed line. (The real run is `python3 bench/run.py`, not part of the tests.)
echo "== [bench] smoke run (python3 bench/run.py --smoke)"
if python3 bench/run.py --smoke >build/bench-smoke.log 2>&1; then
  passed=$((passed+1)); tail -3 build/bench-smoke.log
else
  failed=$((failed+1)); status=1; tail -30 build/bench-smoke.log
fi
# The I/O benchmarks (TLS, HTTP server, WebSocket), smoke-sized; a missing peer is a note.
echo "== [bench] I/O smoke run (python3 bench/io/run.py --smoke)"
if python3 bench/io/run.py --smoke >build/bench-io-smoke.log 2>&1; then
  passed=$((passed+1)); grep '^note:' build/bench-io-smoke.log || true; tail -2 build/bench-io-smoke.log
else
  failed=$((failed+1)); status=1; tail -30 build/bench-io-smoke.log
fi
echo "== total $SECONDS s"
echo "test: $passed passed, $failed failed"
exit $status
