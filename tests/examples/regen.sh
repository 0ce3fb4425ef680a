#!/usr/bin/env bash
# Regenerate expected/NN_name.txt (stdout of python/NN_name.py) for every
# Python reference script, running all scripts in parallel (~10 s in total).
# Also writes expected/14_mengenal_asyncio.sorted.txt (its async part finishes
# in random order, so the C++ test compares sorted lines).
#
# Usage: tests/examples/regen.sh            (env PYTHON overrides python3)
# Exits non-zero, and leaves the old expected files untouched for that
# script, if any script fails or writes to stderr.
#
# Run it on an otherwise idle machine: 01, 05 and 13 print elapsed wall-clock
# times rounded to 0.1 s (6.0 / 2.0 / 3.0 / 1.0); under heavy load (dozens of
# parallel jobs on 2 cores) a value can come out 0.1 s too high -- check
# `git diff tests/examples/expected` afterwards.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python3}"
mkdir -p "$here/expected"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

names=()
pids=()
for script in "$here"/python/[0-9][0-9]_*.py; do
    name="$(basename "$script" .py)"
    (
        cd "$here/python"
        PYTHONIOENCODING=utf-8 PYTHONDONTWRITEBYTECODE=1 \
            "$py" "$script" >"$tmp/$name.txt" 2>"$tmp/$name.err"
    ) &
    names+=("$name")
    pids+=("$!")
done

failed=0
for i in "${!names[@]}"; do
    name="${names[$i]}"
    if ! wait "${pids[$i]}"; then
        echo "regen.sh: FAILED: python/$name.py (exit status non-zero)" >&2
        sed 's/^/    /' "$tmp/$name.err" >&2
        failed=1
    elif [ -s "$tmp/$name.err" ]; then
        echo "regen.sh: FAILED: python/$name.py wrote to stderr:" >&2
        sed 's/^/    /' "$tmp/$name.err" >&2
        failed=1
    else
        mv "$tmp/$name.txt" "$here/expected/$name.txt"
        echo "regen.sh: ok  expected/$name.txt"
    fi
done

if [ -f "$here/expected/14_mengenal_asyncio.txt" ]; then
    LC_ALL=C sort "$here/expected/14_mengenal_asyncio.txt" \
        >"$here/expected/14_mengenal_asyncio.sorted.txt"
    echo "regen.sh: ok  expected/14_mengenal_asyncio.sorted.txt"
fi

if [ "$failed" -ne 0 ]; then
    echo "regen.sh: some scripts failed, see above" >&2
    exit 1
fi
