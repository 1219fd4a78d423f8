"""bench/sasl_bench.py --smoke runs end to end over a private realm and reports sane numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security.krb5realm import RealmUnavailable, find_tool

ROOT = Path(__file__).resolve().parents[2]


def test_sasl_bench_smoke() -> None:
    try:
        for tool in ("krb5kdc", "kdb5_util", "kadmin.local", "kinit"):
            find_tool(tool)
    except RealmUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Kerberos tools missing under CI: {exc}", pytrace=False)
        pytest.skip(str(exc))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "sasl_bench.py"), "--smoke", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["size_mib"], doc["rounds"], doc["calls"]) == (8, 1, 500)
    for key in ("plain_download", "plain_upload", "gssapi_download", "gssapi_upload", "wrap"):
        assert doc["best"][key] > 1, doc
    assert doc["best"]["gssapi_calls"] > 50 and doc["best"]["plain_calls"] > 50
    assert all(0 < ratio < 5 for ratio in doc["ratio"].values()), doc
