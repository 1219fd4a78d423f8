"""Implicit devices side by side: the controllers, consoles, videos, ports and addresses
libvirtd's test driver adds, and the device sets it refuses (scenarios/domdevices.py)."""

from __future__ import annotations

import pytest

from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("name", scenario_names("domdevices"))
def test_domain_devices_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)
