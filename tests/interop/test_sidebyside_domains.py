"""Domain APIs and virsh domain commands, side by side with libvirtd's test driver."""

from __future__ import annotations

import re

import pytest

from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("name", scenario_names("domains"))
def test_domain_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


def test_virsh_list_and_dominfo(sidebyside: SideBySide) -> None:
    sidebyside.virsh("list", "--all")
    sidebyside.virsh("suspend", "test")
    # CPU time is the wall clock in the test driver: it cannot match.
    sidebyside.virsh("dominfo", "test", normalise=lambda t: re.sub(r"[\d.]+s\n", "<t>\n", t))
    sidebyside.virsh("list", "--all")
    sidebyside.virsh("dominfo", "nosuchdomain")
