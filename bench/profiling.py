#!/usr/bin/env python3
"""Where the netrpc echo server spends its time under load.

Starts bench/echo_server.py under cProfile (or samples it with py-spy when ``--py-spy`` is
given and py-spy is installed), drives it with bench/loadgen.py at C=8 D=5 over the unix
socket (by default), stops it, and prints the top functions by own time and by cumulative
time.  cProfile adds overhead to every Python call, so read its figures as shares, not as
absolute costs; py-spy samples from outside with next to no overhead.

    python3 bench/profiling.py                      # cProfile, 200 000 calls, top 15
    python3 bench/profiling.py --top 30 --calls 100000 --backend trio
    python3 bench/profiling.py --py-spy             # sampling profile (pip install py-spy)
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import servers as srv

LOADGEN = os.path.join(srv.BENCH, "loadgen.py")
_LINE = re.compile(r":\d+\)$")


def _loadgen(server: srv.ServerProcess, a: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        LOADGEN,
        *server.target(a.transport),
        "--proc",
        a.proc,
        "-C",
        str(a.connections),
        "-D",
        str(a.depth),
        "--calls",
        str(a.calls),
        "--warmup",
        "1000",
        "--server-pid",
        str(server.pid),
        "--timeout",
        "300",
        "--json",
    ]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=330)
    return json.loads(out.stdout)


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    root = srv.ROOT + os.sep
    return filename[len(root) :] if filename.startswith(root) else filename


def print_cprofile(path: str, top: int) -> None:
    stats = pstats.Stats(path, stream=io.StringIO())
    entries = []
    total = idle = 0.0
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        total += tottime
        name = f"{_short(filename)}:{line}({func})"
        if "'poll' of 'select." in func:
            name += "  [waiting for I/O]"
            idle = tottime
        entries.append((tottime, cumtime, ncalls, name))
    busy = total - idle
    print(f"total profiled time {total:.2f} s, of which outside the selector's poll {busy:.2f} s\n")
    for title, key in (("own time (tottime)", 0), ("cumulative time (cumtime)", 1)):
        print(f"top {top} by {title}:")
        print(f"{'tottime s':>10} {'% busy':>7} {'cumtime s':>10} {'calls':>9}  function")
        for e in sorted(entries, key=lambda e: e[key], reverse=True)[:top]:
            share = 100 * e[0] / busy if busy else 0
            print(f"{e[0]:10.3f} {share:6.1f}% {e[1]:10.3f} {e[2]:9d}  {e[3]}")
        print()


def print_py_spy(path: str, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = [_LINE.sub(")", fr) for fr in stack.split(";")]
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    print(f"{total} samples\n")
    for title, counter in (("own samples", own), ("inclusive samples", inclusive)):
        print(f"top {top} by {title}:")
        for frame, n in counter.most_common(top):
            print(f"{n:8d} {100 * n / total:6.1f}%  {frame}")
        print()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--calls", type=int, default=200000)
    p.add_argument("-C", "--connections", type=int, default=8)
    p.add_argument("-D", "--depth", type=int, default=5)
    p.add_argument("--transport", choices=("unix", "tcp"), default="unix")
    p.add_argument("--proc", default="getlibversion")
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--py-spy", action="store_true", help="sample with py-spy instead of cProfile")
    p.add_argument("--spy-seconds", type=float, default=8.0)
    p.add_argument("--keep", metavar="FILE", help="copy the cProfile stats to FILE")
    a = p.parse_args(argv)
    name = "echo-trio" if a.backend == "trio" else "echo"
    workdir = tempfile.mkdtemp(prefix="netrpc-bench-profile-")
    try:
        prof = os.path.join(workdir, "echo.prof")
        use_spy = a.py_spy and shutil.which("py-spy")
        if a.py_spy and not use_spy:
            print("note: py-spy not found (pip install py-spy); using cProfile")
        server = srv.make(name, workdir, profile=None if use_spy else prof)
        server.start()
        try:
            spy = None
            if use_spy:
                raw = os.path.join(workdir, "py-spy.txt")
                spy = subprocess.Popen(
                    [
                        "py-spy",
                        "record",
                        "--pid",
                        str(server.pid),
                        "--format",
                        "raw",
                        "--rate",
                        "1000",
                        "--gil",
                        "--output",
                        raw,
                        "--duration",
                        str(int(a.spy_seconds)),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            result = _loadgen(server, a)
            if spy is not None:
                try:
                    spy.wait(a.spy_seconds + 30)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait()
        finally:
            status = server.stop()
        print(
            f"{name} {a.transport} C={a.connections} D={a.depth} {a.proc}: "
            f"{result.get('calls_per_s')} calls/s, p50 {result.get('lat_ms', {}).get('p50')} ms, "
            f"server {result.get('server_cpu_us_per_call')} us/call, errors {result.get('errors')} "
            f"(server exit status {status}; {'py-spy' if use_spy else 'under cProfile'})\n"
        )
        if use_spy:
            print_py_spy(os.path.join(workdir, "py-spy.txt"), a.top)
        else:
            print_cprofile(prof, a.top)
            if a.keep:
                shutil.copy(prof, a.keep)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
