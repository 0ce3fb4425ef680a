#!/usr/bin/env bash
# The tutorial tour: builds every example and runs them in tutorial order, each under its
# tutorial section heading (Indonesian, with an English gloss). Installs missing packages first.
# ASYNCIO_VIRTUAL_TIME=1 ./tour.sh runs the whole tour in a few seconds.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
asyncio_install_deps
cmake -S . -B build/tour -G Ninja -DCMAKE_BUILD_TYPE=Release -DASYNCIO_BUILD_TESTS=OFF -DASYNCIO_BUILD_EXAMPLES=ON >/dev/null
cmake --build build/tour -j "$(nproc)" >/dev/null
while IFS=$'\t' read -r name heading gloss; do
  [ -x "build/tour/examples/$name" ] || continue
  printf '\n\033[1m== %s — %s\033[0m\n   (%s)   examples/%s.cpp\n\n' "$name" "$heading" "$gloss" "$name"
  "build/tour/examples/$name"
done < tests/examples/headings.tsv
