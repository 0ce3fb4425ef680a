#!/usr/bin/env bash
# tests/graph/gdb_check.sh <stuck program> <tools/gdb/asyncio.py>: runs the program under gdb,
# stops it at graph_stuck_marker() and checks what `asyncio ps` and `asyncio pstree` print.
# Exit 77 (ctest: skipped) when gdb is missing.
set -u
prog=$1 script=$2
command -v gdb >/dev/null || { echo "gdb not installed: skipped"; exit 77; }
out=$(gdb -nx -batch -ex "source $script" -ex "break graph_stuck_marker" -ex run \
          -ex "asyncio ps" -ex "echo ====\n" -ex "asyncio pstree" -ex kill "$prog" 2>&1)
echo "$out"
ps=${out%%====*}
tree=${out#*====}
fail=0
expect() {  # where, pattern
  if ! grep -qE -- "$2" <<<"$1"; then echo "MISSING: $2"; fail=1; fi
}
expect "$ps" "task id +task name +coroutine stack"
expect "$ps" "sleeper +\(anonymous namespace\)::middle_layer\(\) -> \(anonymous namespace\)::leaf_sleep\(\) +Sleep<.*> +waiter +0x"
expect "$ps" "waiter +\(anonymous namespace\)::await_it\(.*\) +TaskAwaiter<void>"
expect "$ps" "gathered-1 .*gatherer +0x"
expect "$ps" "gatherer +\(anonymous namespace\)::gather_two\(\) +GatheringFuture<.*>::Awaiter"
expect "$ps" "Task-1 +amain\(\)"
expect "$tree" "\(T\) waiter"
expect "$tree" "│ .*\(T\) sleeper"
expect "$tree" "stuck.cpp:[0-9]+"
expect "$tree" "awaiting Sleep<"
exit $fail
