"""bench/stream_bench.py --smoke runs end to end and reports sane numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stream_bench_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "stream_bench.py"), "--smoke", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["size_mib"] == 16 and doc["rounds"] == 1
    kinds = {"upload", "download", "stream_upload", "stream_download"}
    for kind in ("raw", *kinds):
        assert doc["best"][kind] > 1, doc
    assert set(doc["ratio"]) == kinds
    assert all(doc["ratio"][kind] > 0 for kind in kinds)
