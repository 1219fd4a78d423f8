#!/usr/bin/env python3
"""The benchmark matrix: servers x transports x (connections, depth), interleaved rounds.

Starts every server (bench/servers.py), then for each round runs bench/loadgen.py once per
(procedure, configuration, transport, server) — the server order rotates from round to
round — and prints medians with min-max over the rounds, the ratio of each netrpc-based
server to libvirtd, and the targets as PASS/MISS.

    python3 bench/run.py                         # full matrix, 5 rounds
    python3 bench/run.py --rounds 3 --procs getlibversion,lookup --json > results.json
    python3 bench/run.py --smoke                 # tiny counts, one round, sanity checks
    python3 bench/run.py --profile               # then profile the echo server at (8,5) unix
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import servers as srv

LOADGEN = os.path.join(srv.BENCH, "loadgen.py")
DEFAULT_SERVERS = "libvirtd,echo,echo-trio,testvirtd,core,raw"
DEFAULT_CONFIGS = "1x1,8x5,64x4"
BASELINE = "libvirtd"


def calls_for(c: int, d: int, base: int) -> int:
    """Measured calls per run: ~1-2 s whatever the concurrency."""
    return base if c * d == 1 else base * 4


def run_loadgen(
    server: srv.ServerProcess,
    transport: str,
    proc: str,
    c: int,
    d: int,
    calls: int,
    warmup: int,
    timeout: float,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        LOADGEN,
        *server.target(transport),
        "--proc",
        proc,
        "-C",
        str(c),
        "-D",
        str(d),
        "--calls",
        str(calls),
        "--warmup",
        str(warmup),
        "--server-pid",
        str(server.pid),
        "--timeout",
        str(timeout),
        "--json",
    ]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        return {"fatal": "loadgen did not finish", "errors": 1, "error_samples": {}}
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return {
            "fatal": f"loadgen output unreadable: {out.stdout[-300:]} {out.stderr[-500:]}",
            "errors": 1,
            "error_samples": {},
        }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str, int, int], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["proc"], r["server"], r["transport"], r["C"], r["D"]), []).append(r)
    rows = []
    for key, group in groups.items():
        good = [r for r in group if "fatal" not in r]

        def col(get: Any, good: list[dict[str, Any]] = good) -> dict[str, float | None]:
            vals = [v for v in (get(r) for r in good) if v is not None]
            return {
                "median": _median(vals),
                "min": min(vals) if vals else None,
                "max": max(vals) if vals else None,
            }

        rows.append(
            {
                "proc": key[0],
                "server": key[1],
                "transport": key[2],
                "C": key[3],
                "D": key[4],
                "runs": len(group),
                "failed_runs": len(group) - len(good),
                "errors": sum(r.get("errors", 0) for r in group),
                "calls_per_s": col(lambda r: r["calls_per_s"]),
                "p50_ms": col(lambda r: r["lat_ms"]["p50"]),
                "p90_ms": col(lambda r: r["lat_ms"]["p90"]),
                "p99_ms": col(lambda r: r["lat_ms"]["p99"]),
                "max_ms": col(lambda r: r["lat_ms"]["max"]),
                "server_us_per_call": col(lambda r: r.get("server_cpu_us_per_call")),
                "client_us_per_call": col(lambda r: r.get("client_cpu_us_per_call")),
                "server_cpu_pct": col(lambda r: r.get("server_cpu_pct")),
                "server_rss_kib": col(lambda r: r.get("server_rss_kib")),
            }
        )
    base = {(r["proc"], r["transport"], r["C"], r["D"]): r for r in rows if r["server"] == BASELINE}
    rounds: dict[tuple[Any, ...], dict[int, dict[str, Any]]] = {}
    for r in runs:
        if "fatal" not in r:
            rounds.setdefault((r["proc"], r["server"], r["transport"], r["C"], r["D"]), {})[
                r["round"]
            ] = r
    for row in rows:
        ref = base.get((row["proc"], row["transport"], row["C"], row["D"]))
        row["vs_libvirtd"] = None
        if ref is None or row["server"] == BASELINE:
            continue
        cps, ref_cps = row["calls_per_s"]["median"], ref["calls_per_s"]["median"]
        p50, ref_p50 = row["p50_ms"]["median"], ref["p50_ms"]["median"]
        # the same ratios round by round (both runs of a round were measured close together)
        mine = rounds.get((row["proc"], row["server"], row["transport"], row["C"], row["D"]), {})
        theirs = rounds.get((row["proc"], BASELINE, row["transport"], row["C"], row["D"]), {})
        per_round = [
            mine[k]["calls_per_s"] / theirs[k]["calls_per_s"]
            for k in mine
            if k in theirs and theirs[k]["calls_per_s"]
        ]
        row["vs_libvirtd"] = {
            "calls_per_s": cps / ref_cps if cps and ref_cps else None,
            "p50": p50 / ref_p50 if p50 and ref_p50 else None,
            "calls_per_s_per_round": [round(x, 3) for x in per_round],
        }
    order = {name: i for i, name in enumerate(srv.ALL)}
    rows.sort(
        key=lambda r: (
            r["proc"],
            r["transport"],
            r["C"] * 1000 + r["D"],
            order.get(r["server"], 99),
        )
    )
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """netrpc calls/s at (8,5) unix >= libvirtd's; netrpc p50 at (1,1) <= 1.5 x libvirtd's."""
    out = []
    for row in rows:
        vs = row.get("vs_libvirtd")
        if not vs or row["server"] not in ("echo", "testvirtd") or row["transport"] != "unix":
            continue
        if (row["C"], row["D"]) == (8, 5) and vs["calls_per_s"] is not None:
            out.append(
                {
                    "server": row["server"],
                    "proc": row["proc"],
                    "metric": "calls_per_s_8x5_unix",
                    "target": f"{row['server']} calls/s at (8,5) unix >= libvirtd ({row['proc']})",
                    "ratio": round(vs["calls_per_s"], 3),
                    "limit": ">= 1.0",
                    "pass": vs["calls_per_s"] >= 1.0,
                }
            )
        if (row["C"], row["D"]) == (1, 1) and vs["p50"] is not None:
            out.append(
                {
                    "server": row["server"],
                    "proc": row["proc"],
                    "metric": "p50_1x1_unix",
                    "target": f"{row['server']} p50 at (1,1) unix <= 1.5 x libvirtd "
                    f"({row['proc']})",
                    "ratio": round(vs["p50"], 3),
                    "limit": "<= 1.5",
                    "pass": vs["p50"] <= 1.5,
                }
            )
    return out


def _mm(col: dict[str, float | None], fmt: str, spread: bool = True) -> str:
    if col["median"] is None:
        return "-"
    text = fmt % col["median"]
    if spread and col["min"] is not None and col["max"] != col["min"]:
        text += " (" + fmt % col["min"] + "-" + fmt % col["max"] + ")"
    return text


def format_table(rows: list[dict[str, Any]], show_proc: bool) -> str:
    head = [
        "server",
        "transport",
        "C",
        "D",
        "calls/s median (min-max)",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "srv CPU us/call",
        "gen CPU us/call",
        "srv %CPU",
        "calls/s vs lv",
        "p50 vs lv",
        "err",
    ]
    if show_proc:
        head.insert(0, "proc")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        vs = r["vs_libvirtd"]
        cells = [
            r["server"],
            r["transport"],
            str(r["C"]),
            str(r["D"]),
            _mm(r["calls_per_s"], "%.0f"),
            _mm(r["p50_ms"], "%.3f"),
            _mm(r["p90_ms"], "%.3f", False),
            _mm(r["p99_ms"], "%.3f", False),
            _mm(r["server_us_per_call"], "%.1f"),
            _mm(r["client_us_per_call"], "%.1f", False),
            _mm(r["server_cpu_pct"], "%.0f", False),
            f"{vs['calls_per_s']:.2f}" if vs and vs["calls_per_s"] else "-",
            f"{vs['p50']:.2f}" if vs and vs["p50"] else "-",
            str(r["errors"]) + (f" ({r['failed_runs']} failed runs)" if r["failed_runs"] else ""),
        ]
        if show_proc:
            cells.insert(0, r["proc"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sanity(rows: list[dict[str, Any]]) -> list[str]:
    """Problems that mean the benchmark itself is broken (used by --smoke)."""
    problems = []
    for r in rows:
        where = f"{r['server']} {r['transport']} C={r['C']} D={r['D']} {r['proc']}"
        if r["errors"] or r["failed_runs"]:
            problems.append(f"{where}: {r['errors']} errors, {r['failed_runs']} failed runs")
            continue
        cps, p50 = r["calls_per_s"]["median"], r["p50_ms"]["median"]
        if not cps or cps < 100:
            problems.append(f"{where}: implausible {cps} calls/s")
        if not p50 or not 0 < p50 < 1000:
            problems.append(f"{where}: implausible p50 {p50} ms")
        us = r["server_us_per_call"]["median"]
        if us is None or us < 0:
            problems.append(f"{where}: no server CPU reading")
    return problems


def _git_head() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", srv.ROOT, "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def report(
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    goals: list[dict[str, Any]],
    problems: list[str],
    runs: list[dict[str, Any]],
    *,
    as_json: bool,
) -> None:
    if as_json:
        document = {"meta": meta, "summary": rows, "targets": goals, "problems": problems}
        print(json.dumps({**document, "runs": runs}))
        return
    print()
    rounds = len({r["round"] for r in runs})
    line = f"{rounds} interleaved round(s); medians (min-max); 'vs lv' = ratio to libvirtd"
    if meta.get("git"):
        line += f"; tree {meta['git']}"
    if "elapsed_s" in meta:
        before, after = meta["loadavg_before"][0], meta["loadavg_after"][0]
        line += f"; {meta['elapsed_s']} s; loadavg {before:.2f} -> {after:.2f}"
    print(line)
    print(format_table(rows, show_proc=len({r["proc"] for r in rows}) > 1))
    if meta.get("skipped"):
        print("\nskipped: " + "; ".join(f"{k} ({v})" for k, v in meta["skipped"].items()))
    print()
    for g in goals:
        verdict = "PASS" if g["pass"] else "MISS"
        print(f"{verdict}  {g['target']}: ratio {g['ratio']} ({g['limit']})")
    for prob in problems:
        print(f"PROBLEM: {prob}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--servers", default=DEFAULT_SERVERS, help=f"comma list (default {DEFAULT_SERVERS})"
    )
    p.add_argument("--transports", default="unix,tcp")
    p.add_argument("--configs", default=DEFAULT_CONFIGS, help="comma list of CxD")
    p.add_argument("--procs", default="getlibversion", help="getlibversion,lookup")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=15000, help="calls per run at C*D=1 (x4 otherwise)")
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=120.0, help="per loadgen run (s)")
    p.add_argument("--smoke", action="store_true", help="tiny counts, one round, sanity checks")
    p.add_argument(
        "--json", action="store_true", help="print one JSON document instead of the table"
    )
    p.add_argument("--out", metavar="FILE", help="also append every run as a JSON line to FILE")
    p.add_argument("--profile", action="store_true", help="afterwards, profile the echo server")
    p.add_argument(
        "--require-libvirtd",
        action="store_true",
        help="fail instead of skipping when libvirtd is missing",
    )
    p.add_argument(
        "--summarize", metavar="JSONL", help="only re-print the results of an --out file"
    )
    a = p.parse_args(argv)
    if a.summarize:
        with open(a.summarize) as f:
            runs_in = [json.loads(line) for line in f if line.strip()]
        rows = summarize(runs_in)
        report({}, rows, targets(rows), [], runs_in, as_json=a.json)
        return 0
    if a.smoke:
        a.rounds, a.calls, a.warmup, a.timeout = 1, 300, 100, 20.0

    log = sys.stderr if a.json else sys.stdout
    skipped: dict[str, str] = {}
    names = []
    for name in a.servers.split(","):
        reason = srv.availability(name)
        if reason:
            skipped[name] = reason
            print(f"note: skipping {name}: {reason}", file=log, flush=True)
        else:
            names.append(name)
    if a.require_libvirtd and "libvirtd" in skipped:
        print("error: libvirtd is required here", file=sys.stderr)
        return 1
    configs = [tuple(int(x) for x in cd.split("x")) for cd in a.configs.split(",")]
    transports = a.transports.split(",")
    procs = a.procs.split(",")
    load0 = os.getloadavg()
    git_head = _git_head()
    t_start = time.monotonic()
    runs: list[dict[str, Any]] = []
    out = open(a.out, "a") if a.out else None
    try:
        with srv.running(names) as servers:
            for s in servers.values():
                print(f"started {s.describe()}", file=log, flush=True)
            for rnd in range(a.rounds):
                order = names[rnd % len(names) :] + names[: rnd % len(names)]
                for proc in procs:
                    for c, d in configs:
                        for transport in transports:
                            for name in order:
                                s = servers[name]
                                if not s.alive():
                                    r: dict[str, Any] = {"fatal": f"{name} died", "errors": 1}
                                else:
                                    r = run_loadgen(
                                        s,
                                        transport,
                                        proc,
                                        c,
                                        d,
                                        calls_for(c, d, a.calls),
                                        a.warmup,
                                        a.timeout,
                                    )
                                r.update(
                                    server=name, transport=transport, proc=proc, C=c, D=d, round=rnd
                                )
                                runs.append(r)
                                if out:
                                    out.write(json.dumps(r) + "\n")
                                    out.flush()
                                print(
                                    f"round {rnd} {proc} {name:9} {transport:4} C={c:<2} D={d}: "
                                    + (
                                        f"FATAL {r['fatal']}"
                                        if "fatal" in r
                                        else f"{r['calls_per_s']:8.0f} calls/s  "
                                        f"p50 {r['lat_ms']['p50']:.3f} ms  "
                                        f"srv {r.get('server_cpu_us_per_call')} us/call  "
                                        f"errors {r['errors']}"
                                    ),
                                    file=log,
                                    flush=True,
                                )
            for name, s in servers.items():
                if not s.alive():
                    print(f"warning: {name} exited early:\n{s.log_tail()}", file=log)
    finally:
        if out:
            out.close()
    rows = summarize(runs)
    goals = targets(rows)
    problems = sanity(rows) if a.smoke else []
    meta = {
        "rounds": a.rounds,
        "smoke": a.smoke,
        "servers": names,
        "skipped": skipped,
        "calls_base": a.calls,
        "warmup": a.warmup,
        "elapsed_s": round(time.monotonic() - t_start, 1),
        "loadavg_before": load0,
        "loadavg_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "libvirtd": srv.LIBVIRTD,
        "git": git_head,
    }
    report(meta, rows, goals, problems, runs, as_json=a.json)
    if a.profile and not a.smoke:
        from bench import profiling

        profiling.main([])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
