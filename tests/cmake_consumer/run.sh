#!/usr/bin/env bash
# Installs the library from SOURCE into a temporary prefix, builds the consumer with
# find_package(asyncio), then again with add_subdirectory, and runs both. Args: SOURCE CXX
set -euo pipefail
src=$1; cxx=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake -S "$src" -B "$tmp/lib" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_INSTALL_PREFIX="$tmp/prefix" \
  -DASYNCIO_BUILD_TESTS=OFF -DASYNCIO_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$tmp/lib" >/dev/null  # asyncio::web is a static library (llhttp)
cmake --install "$tmp/lib" >/dev/null
test -f "$tmp/prefix/lib/cmake/asyncio/asyncioConfig.cmake"
cmake -S "$src/tests/cmake_consumer" -B "$tmp/c1" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/c1" >/dev/null
out=$("$tmp/c1/consumer"); [ "$out" = "Hello!" ] || { echo "find_package consumer printed: $out"; exit 1; }
cmake -S "$src/tests/cmake_consumer" -B "$tmp/c2" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DASYNCIO_SOURCE_DIR="$src" >/dev/null
cmake --build "$tmp/c2" >/dev/null
out=$("$tmp/c2/consumer"); [ "$out" = "Hello!" ] || { echo "add_subdirectory consumer printed: $out"; exit 1; }
echo "find_package and add_subdirectory consumers both print Hello!"
