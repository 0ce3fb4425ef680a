#!/usr/bin/env bash
# Every ```cpp block of the README is a whole program: extract each, build it with the given
# compiler against include/, and run it under virtual time (so sleeps take no real time).
# Usage: readme_blocks.sh <source dir> <c++ compiler> <scratch dir>
set -euo pipefail
src=$1 cxx=$2 out=$3
mkdir -p "$out"
python3 - "$src/README.md" "$out" <<'PY'
import re, sys, pathlib
text = pathlib.Path(sys.argv[1]).read_text()
blocks = re.findall(r'```cpp\n(.*?)```', text, re.S)
if not blocks:
    sys.exit("README.md has no cpp block")
for i, b in enumerate(blocks):
    pathlib.Path(sys.argv[2], f"readme_block_{i}.cpp").write_text(b)
print(f"{len(blocks)} block(s)")
PY
for f in "$out"/readme_block_*.cpp; do
  exe=${f%.cpp}
  "$cxx" -std=c++20 -O1 -I"$src/include" "$f" -o "$exe" -lfmt -pthread
  ASYNCIO_VIRTUAL_TIME=1 "$exe" > "$exe.out"
  echo "== $(basename "$f"): built and ran ($(wc -l < "$exe.out") lines of output)"
done
