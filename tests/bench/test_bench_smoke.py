"""The benchmark suite runs end to end: bench/run.py --smoke against every available server.

libvirtd is optional locally (its part is skipped when it is not installed) but required
when ``CI=true``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import servers

ROOT = Path(servers.ROOT)

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="module")
def smoke() -> dict[str, Any]:
    names = ["echo", "core", "raw"]
    if servers.availability("libvirtd") is None:
        names.insert(0, "libvirtd")
    if servers.availability("testvirtd") is None:
        names.append("testvirtd")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--smoke",
            "--json",
            "--servers",
            ",".join(names),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    result["returncode"] = proc.returncode
    result["stderr"] = proc.stderr
    return result


def _rows(result: dict[str, Any], server: str) -> list[dict[str, Any]]:
    return [r for r in result["summary"] if r["server"] == server]


def test_smoke_is_fast_and_sane(smoke: dict[str, Any]) -> None:
    assert smoke["problems"] == [], smoke["problems"]
    assert smoke["returncode"] == 0, smoke["stderr"][-3000:]
    assert smoke["meta"]["elapsed_s"] < 20


@pytest.mark.parametrize("server", ["echo", "core", "raw"])
def test_python_servers_answer_every_call(smoke: dict[str, Any], server: str) -> None:
    rows = _rows(smoke, server)
    assert {(r["transport"], r["C"], r["D"]) for r in rows} == {
        (t, c, d) for t in ("unix", "tcp") for c, d in ((1, 1), (8, 5), (64, 4))
    }
    for row in rows:
        assert row["errors"] == 0, row
        assert row["calls_per_s"]["median"] > 100, row
        assert 0 < row["p50_ms"]["median"] < 1000, row


def test_libvirtd_side_by_side(smoke: dict[str, Any]) -> None:
    if servers.availability("libvirtd") is not None:
        if IN_CI:
            pytest.fail("CI=true but libvirtd is not installed: the comparison cannot run")
        pytest.skip("libvirtd is not installed")
    rows = _rows(smoke, "libvirtd")
    assert len(rows) == 6
    assert all(r["errors"] == 0 for r in rows), rows
    echo = {(r["transport"], r["C"], r["D"]): r for r in _rows(smoke, "echo")}
    for row in rows:
        vs = echo[(row["transport"], row["C"], row["D"])]["vs_libvirtd"]
        assert vs is not None and vs["calls_per_s"] > 0 and vs["p50"] > 0
    goals = {(t["server"], t["metric"]) for t in smoke["targets"]}
    assert goals >= {("echo", "calls_per_s_8x5_unix"), ("echo", "p50_1x1_unix")}


def test_testvirtd_when_present(smoke: dict[str, Any]) -> None:
    reason = servers.availability("testvirtd")
    if reason is not None:
        pytest.skip(reason)
    rows = _rows(smoke, "testvirtd")
    assert rows and all(r["errors"] == 0 for r in rows), rows


def test_loadgen_reports_error_replies(tmp_path: Path) -> None:
    server = servers.make("raw", str(tmp_path))
    server.start()
    try:
        out = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "loadgen.py"),
                "--unix",
                server.unix_path,
                "--proc",
                "99999",
                "--calls",
                "20",
                "--warmup",
                "0",
                "--json",
                "--timeout",
                "10",
            ],
            stdout=subprocess.PIPE,
            text=True,
            timeout=30,
        )
    finally:
        server.stop()
    result = json.loads(out.stdout)
    assert out.returncode == 1
    assert result["errors"] == 20
    assert any("unknown procedure: 99999" in k for k in result["error_samples"])
