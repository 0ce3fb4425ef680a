#!/usr/bin/env bash
# chat_browser.sh <24_chat executable>: serves examples/24_chat.cpp's chat room on an ephemeral
# port, loads its page in a headless Chromium (Debian's chromium; the page says what follows '#'
# in its URL on joining) and checks the DOM: the join and the line came back over the WebSocket.
# Exit 77 (skipped) without chromium.
set -euo pipefail
exe="$1"
command -v chromium >/dev/null || { echo "chromium is not installed: skipped"; exit 77; }
tmp="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$exe" 0 >"$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "Running on" "$tmp/out" && break; sleep 0.05; done
url="$(sed -n 's/.*Running on \(http[^ ]*\) .*/\1/p' "$tmp/out")"
[ -n "$url" ] || { echo "FAIL: no banner"; cat "$tmp/out"; exit 1; }
# --virtual-time-budget lets the page run (its WebSocket exchange included) before the dump.
dom="$(timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$tmp/profile" \
  --virtual-time-budget=3000 --dump-dom "$url/#hello%20from%20the%20browser" 2>/dev/null)"
if ! grep -q '<li>user1 joined</li><li>user1: hello from the browser</li>' <<<"$dom"; then
  echo "FAIL: the page shows:"
  echo "$dom"
  exit 1
fi
echo "ok: $url"
