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
server_pid=""
# (A background job of a script ignores SIGINT, so the server is stopped with SIGTERM.)
stop_server() { [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
trap stop_server EXIT
while IFS=$'\t' read -r name heading gloss; do
  [ -x "build/tour/examples/$name" ] || continue
  printf '\n\033[1m== %s — %s\033[0m\n   (%s)   examples/%s.cpp\n\n' "$name" "$heading" "$gloss" "$name"
  case "$name" in
    *_echo_server)  # serves forever: keep it in the background for the client that follows
      stdbuf -oL "build/tour/examples/$name" & server_pid=$!
      sleep 1 ;;
    *_echo_client)
      "build/tour/examples/$name"
      sleep 0.2; stop_server ;;
    *_chat)  # a server until Ctrl-C; in the tour, its --demo (two clients talk, then it exits)
      "build/tour/examples/$name" --demo ;;
    *) "build/tour/examples/$name" ;;
  esac
done < tests/examples/headings.tsv
