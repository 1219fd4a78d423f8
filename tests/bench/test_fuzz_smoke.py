"""bench/fuzz.py: a short structure-aware fuzz run against testvirtd, and its building blocks."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bench import fuzz, servers

ROOT = Path(servers.ROOT)


def test_short_run_finds_no_crash_hang_stall_or_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fuzz.py"), "--smoke", "--json", "--seed", "1234",
         "--stall", "10"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.stdout, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    findings = result["findings"]
    assert findings["crashes"] == [], findings
    assert findings["hangs"] == [], findings
    assert findings["stalls"] == [], findings
    assert findings["tracebacks"] == [] and findings.get("traceback_count", 0) == 0, findings
    assert result["messages"] >= 6000
    assert result["messages_per_s"] > 0 and result["batches"] >= 3
    assert set(result["kinds"]) == {"call", "mutate", "xml", "json", "fds", "framing"}
    assert result["bystander_calls"] > 0
    assert result["fds"]["end"] > 0 and result["rss_kib"]["end"] > 0


def test_summary_line_has_the_throughput() -> None:
    line = fuzz.summary_line({
        "server": "testvirtd", "messages": 10, "elapsed_s": 2.0, "messages_per_s": 5.0,
        "server_cpu_us_per_message": 100.0, "batches": 1, "seed": 3,
        "findings": {"crashes": [], "hangs": [], "stalls": [], "tracebacks": [], "leaks": []},
        "rss_kib": {"idle": 1024, "max": 2048, "end": 2048}, "fds": {"idle": 1, "max": 2, "end": 1},
        "bystander_worst_s": 0.01,
    })
    assert line.startswith("fuzz testvirtd: 10 messages in 2.0 s (5 msg/s")
    assert "crashes 0, hangs 0, stalls 0, tracebacks 0" in line


def test_traceback_summaries_name_the_exception() -> None:
    log = (
        "2026 WARNING something\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n'
        "    raise ValueError('bad')\n"
        "ValueError: bad\n"
        "next line\n"
    )
    assert fuzz.traceback_summaries(log) == ["ValueError: bad"]
    assert fuzz.traceback_summaries("no problems here\n") == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_messages_are_framed(seed: int) -> None:
    gen = fuzz.Generator(random.Random(seed))
    for _ in range(2000):
        kind, segments, fatal = gen.message(raw_conn=False)
        first = segments[0]
        assert isinstance(first, bytes) and first
        if kind == "framing":
            assert fatal
            continue
        # Every non-framing message is one whole record: its length word is its size.
        assert struct.unpack(">I", first[:4])[0] == len(first), kind
        assert all(s == -1 for s in segments[1:])
        assert not fatal or kind == "fds"  # only lying descriptor counts end a connection
    assert set(gen.counts) == {"call", "mutate", "xml", "json", "fds", "framing"}
