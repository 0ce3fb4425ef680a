#!/bin/sh
# HTTP client benchmark: many small keep-alive GETs against one local server (server.cpp, raw
# epoll, not our stack). Ours (ClientSession) vs a plain libcurl-multi loop vs Python asyncio
# streams, same request count and concurrency, in one run; prints req/s and the ratios.
#   bench/http/run.sh [total=20000] [concurrency=50]
set -e
here=$(cd "$(dirname "$0")" && pwd)
inc="$here/../../include"
out=${BUILD:-/tmp/asyncio-bench-http}
mkdir -p "$out"
TOTAL=${1:-20000}
CONC=${2:-50}
CXX=${CXX:-g++}
$CXX -O2 -std=c++20 -o "$out/server" "$here/server.cpp"
$CXX -O2 -DNDEBUG -std=c++20 -I"$inc" -o "$out/ours" "$here/ours.cpp" -lcurl -lfmt -lpthread
$CXX -O2 -std=c++20 -o "$out/curl_multi" "$here/curl_multi.cpp" -lcurl
fifo="$out/port"; rm -f "$fifo"; mkfifo "$fifo"
"$out/server" > "$fifo" &
srv=$!
trap 'kill $srv 2>/dev/null' EXIT
read port < "$fifo"
url="http://127.0.0.1:$port/users/python"
"$out/ours" "$url" 2000 "$CONC" > /dev/null   # warm-up
ours=$("$out/ours" "$url" "$TOTAL" "$CONC")
curl=$("$out/curl_multi" "$url" "$TOTAL" "$CONC")
py=$(python3 "$here/py_client.py" "$url" "$TOTAL" "$CONC")
echo "HTTP GETs, $TOTAL requests, $CONC concurrent keep-alive connections (req/s):"
echo "  ours (ClientSession, libcurl multi-socket on our loop)  $ours"
echo "  plain libcurl multi loop, no coroutines                $curl"
echo "  Python asyncio streams client                          $py"
python3 -c "print(f'  ours / libcurl-multi = {$ours/$curl:.2f}   ours / python = {$ours/$py:.2f}')"
