#!/usr/bin/env python3
"""Check that the include graph under include/ runs one way.

Usage: check_layers.py [INCLUDE_DIR]   (default: include/ next to this script's parent)

The layer of every file is written down once, in include/asyncio/detail/LAYERS
("<layer> <path under include/>"). Each #include "..." line of every file under INCLUDE_DIR
is resolved (relative to the including file, then to INCLUDE_DIR) and the check fails, exit 1,
naming the file, the line and the include, when:
  - a file includes a file of a higher layer;
  - the includes form a cycle (within one layer: a cycle across layers is an upward include);
  - a file under INCLUDE_DIR is not listed in LAYERS, or LAYERS lists a file that is missing;
  - an #include "..." names no file under INCLUDE_DIR.
Angle-bracket includes (<...>: the standard library, the system, fmt, curl) are not checked.
"""
import os
import re
import sys

TABLE = os.path.join("asyncio", "detail", "LAYERS")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def read_table(root, errors):
    layers = {}
    path = os.path.join(root, TABLE)
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        errors.append(f"{path}: cannot read the layer table: {e}")
        return layers
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            errors.append(f"{TABLE}:{n}: expected '<layer> <path>', got {line!r}")
            continue
        f = os.path.normpath(parts[1])
        if f in layers:
            errors.append(f"{TABLE}:{n}: {f} listed twice")
        layers[f] = int(parts[0])
    return layers


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "include")
    root = os.path.abspath(root)
    errors = []
    layers = read_table(root, errors)

    files = []
    for d, _, names in os.walk(root):
        for name in names:
            rel = os.path.normpath(os.path.relpath(os.path.join(d, name), root))
            if rel != os.path.normpath(TABLE):
                files.append(rel)
    files.sort()
    for f in files:
        if f not in layers:
            errors.append(f"include/{f}: not listed in include/{TABLE} (give it a layer)")
    for f in sorted(layers):
        if f not in files:
            errors.append(f"include/{TABLE}: lists {f}, which does not exist")

    graph = {}  # file -> [(included file, line number, spelling)]
    for f in files:
        edges = []
        try:
            text = open(os.path.join(root, f), encoding="utf-8", errors="replace").read()
        except OSError as e:
            errors.append(f"include/{f}: cannot read: {e}")
            continue
        for n, line in enumerate(text.splitlines(), 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            spelled = m.group(1)
            cands = [os.path.normpath(os.path.join(os.path.dirname(f), spelled)), os.path.normpath(spelled)]
            target = next((c for c in cands if c in files), None)
            if target is None:
                errors.append(f'include/{f}:{n}: #include "{spelled}" names no file under include/')
                continue
            edges.append((target, n, spelled))
            lf, lt = layers.get(f), layers.get(target)
            if lf is not None and lt is not None and lt > lf:
                errors.append(f'include/{f}:{n}: #include "{spelled}" goes up: {f} is layer {lf}, '
                              f'{target} is layer {lt}')
        graph[f] = edges

    # Cycles: an iterative DFS; each back edge closes one cycle, reported with its path.
    WHITE, GREY, BLACK = 0, 1, 2
    color = {f: WHITE for f in graph}
    reported = set()
    for start in sorted(graph):
        if color[start] != WHITE:
            continue
        stack = [(start, iter(graph[start]))]
        path = [start]
        color[start] = GREY
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = BLACK
                stack.pop()
                path.pop()
                continue
            target, n, spelled = nxt
            if color.get(target) == GREY:
                cyc = path[path.index(target):] + [target]
                key = frozenset(cyc)
                if key not in reported:
                    reported.add(key)
                    errors.append(f'include/{node}:{n}: #include "{spelled}" closes an include cycle: '
                                  + " -> ".join(cyc))
            elif color.get(target) == WHITE:
                color[target] = GREY
                stack.append((target, iter(graph[target])))
                path.append(target)

    if errors:
        for e in errors:
            print(e, file=sys.stderr)
        print(f"check_layers: {len(errors)} problem(s); the layers are in include/{TABLE}", file=sys.stderr)
        return 1
    counts = {}
    for f in files:
        counts[layers[f]] = counts.get(layers[f], 0) + 1
    print(f"check_layers: {len(files)} files, "
          + ", ".join(f"layer {k}: {counts[k]}" for k in sorted(counts))
          + "; every include goes down or sideways, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
