#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reads the daemon's object files with nm and its sources' #include lines,
and fails when the files call each other in a circle or a file includes the
header of a file that calls it.

    scripts/check-layers.py [BUILD_DIR]      (default: build)
"""
import glob
import os
import re
import subprocess
import sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
# the sources next to the build directory (meson's default layout), else ours
root = os.path.dirname(os.path.abspath(build))
if not os.path.isdir(os.path.join(root, "daemon")):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
objs = glob.glob(os.path.join(build, "daemon", "*.p", "*.c.o"))
objs = [o for o in objs if "meson-generated" not in o]

defined, used = {}, {}
for o in objs:
    name = os.path.basename(o)[: -len(".o")]
    out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
    used[name] = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBR":
            defined[parts[2]] = name
        elif len(parts) == 2 and parts[0] == "U":
            used[name].add(parts[1])

calls = {f: sorted({defined[s] for s in syms if s in defined and defined[s] != f})
         for f, syms in used.items()}


def reaches(start):
    seen, todo = set(), list(calls[start])
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.add(f)
            todo.extend(calls.get(f, []))
    return seen


bad = 0
for f in sorted(calls):
    print(f"{f:24} -> {', '.join(c[:-2] for c in calls[f]) or '-'}")
    if f in reaches(f):
        print(f"  CIRCLE: {f} reaches itself")
        bad += 1

# includes: a file may include only headers of files it does not reach back
for f in sorted(calls):
    src = os.path.join(root, "daemon", f)
    for h in re.findall(r'^#include "(wv-[\w-]+)\.h"', open(src).read(), re.M):
        callee = h + ".c"
        if callee in calls and f in reaches(callee) | {callee} and callee != f:
            print(f"  INCLUDE UP: {f} includes {h}.h, whose file reaches {f}")
            bad += 1

print("no circle" if bad == 0 else f"{bad} problems")
sys.exit(1 if bad else 0)
