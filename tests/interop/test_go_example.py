"""examples/golibvirt: ``go test`` starting testvirtd, as docs/testing.md shows it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import peers

ROOT = Path(__file__).resolve().parents[2]


def test_go_test_example_passes(go_sources: tuple[Path, Path], tmp_path: Path) -> None:
    go = peers.find_go()
    package = tmp_path / "gopath" / "src" / "example"
    package.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "golibvirt" / "testvirtd_test.go", package)
    env = peers.go_env(tmp_path / "gopath", tmp_path / "gocache")
    env["TESTVIRTD"] = f"{sys.executable} -m daemons.testvirtd"
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([go, "test", "-count=1", "-v", "."], cwd=package, env=env,
                                capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("TestDefaultDomainRuns", "TestDefineStartUndefine",
                 "TestErrorsReachTheCaller", "TestHungCallEndsAtItsDeadline"):
        assert f"--- PASS: {name}" in proc.stdout, proc.stdout
