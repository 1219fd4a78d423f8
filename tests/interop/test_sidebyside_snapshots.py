"""Snapshot and checkpoint APIs and virsh's snapshot/checkpoint commands, side by side with
libvirtd's test driver."""

from __future__ import annotations

import pytest

from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("name", scenario_names("snapshots"))
def test_snapshot_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)
