#!/usr/bin/env bash
# run_example.sh <example executable> <expected stdout file> [args...]
#
# Runs one tutorial example under virtual time (ASYNCIO_VIRTUAL_TIME=1) and compares its stdout
# with the Python snippet's recorded stdout (expected/NN_name.txt, written by regen.sh). If the
# expected file's name ends in .sorted.txt the lines are compared as a set (LC_ALL=C sort of the
# output), for examples whose order is random (14). The example must exit 0 and write nothing to
# stderr (the loop's "Task was destroyed but it is pending!"-style reports go there).
set -euo pipefail
exe="$1"
expected="$2"
shift 2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

status=0
ASYNCIO_VIRTUAL_TIME=1 "$exe" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
if [ "$status" -ne 0 ]; then
    echo "FAIL: $exe exited with status $status" >&2
    cat "$tmp/err" >&2
    exit 1
fi
if [ -s "$tmp/err" ]; then
    echo "FAIL: $exe wrote to stderr:" >&2
    cat "$tmp/err" >&2
    exit 1
fi
case "$expected" in
    *.sorted.txt) LC_ALL=C sort "$tmp/out" >"$tmp/cmp" ;;
    *) cp "$tmp/out" "$tmp/cmp" ;;
esac
if ! diff -u "$expected" "$tmp/cmp"; then
    echo "FAIL: stdout of $(basename "$exe") differs from $(basename "$expected") (- Python, + C++)" >&2
    exit 1
fi
echo "ok: $(basename "$exe") prints what the Python snippet prints"
