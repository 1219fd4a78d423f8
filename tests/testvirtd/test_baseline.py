"""The baseline CPU computation's own rules (tests/interop/test_sidebyside_host.py compares
its answers with libvirtd's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemons.testvirtd.domxml import VirtError


def test_baseline_without_libvirts_cpu_map(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    from daemons.testvirtd.host import baseline

    monkeypatch.setattr(baseline, "CPU_MAP_DIR", str(tmp_path))
    with pytest.raises(VirtError, match="failed to load CPU map"):
        baseline.baseline_cpu(["<cpu><arch>x86_64</arch><model>Nehalem</model></cpu>"], 0)
    # the other architectures need no map
    assert "cortex-a57" in baseline.baseline_cpu(
        ["<cpu><arch>aarch64</arch><model>cortex-a57</model></cpu>"], 0)
