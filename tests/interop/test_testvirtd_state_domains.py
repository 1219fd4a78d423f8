"""``--state`` keeps everything a domain's tuning changed: the same clients' view after a
restart of testvirtd on its state file."""

from __future__ import annotations

import difflib
import json
import tempfile
from pathlib import Path

import pytest

from ._testvirtd import running
from .sidebyside import run_scenario

pytestmark = pytest.mark.interop


def test_domain_changes_survive_a_restart(system_python: str) -> None:
    with tempfile.TemporaryDirectory(prefix="tvd-state-") as tmp:
        state = str(Path(tmp) / "state.json")
        with running("--state", state) as daemon:
            changes = run_scenario(daemon.uri_tcp, "persistence.change_everything")
            failed = [r for r in changes if "error" in r]
            assert not failed, failed
            before = run_scenario(daemon.uri_tcp, "persistence.read_back")
        with running("--state", state) as daemon:
            after = run_scenario(daemon.uri_tcp, "persistence.read_back")
            thawed = run_scenario(daemon.uri_tcp, "persistence.thaw")
    changed = [
        f"{was['step']}:\n" + "\n".join(difflib.unified_diff(
            json.dumps(was, indent=1).splitlines(), json.dumps(now, indent=1).splitlines(),
            "before", "after", lineterm=""))
        for was, now in zip(before, after, strict=True) if now != was
    ]
    assert len(after) == len(before)
    assert not changed, "changed across the restart:\n" + "\n".join(changed)
    assert thawed[0]["value"] == 1, thawed  # the filesystem frozen before the restart
