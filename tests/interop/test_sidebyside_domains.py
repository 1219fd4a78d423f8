"""Domain APIs and virsh domain commands, side by side with libvirtd's test driver."""

from __future__ import annotations

import re

import pytest

from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


#: scenarios where testvirtd is known to differ, and why
KNOWN_DIFFERENCES = {
    "domains.metadata_events": "the metadata-change event reaches libvirt-python's client "
                               "from libvirtd but not from testvirtd",
}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_DIFFERENCES[n], strict=True))
    if n in KNOWN_DIFFERENCES else n
    for n in scenario_names("domains")
])
def test_domain_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


def test_virsh_list_and_dominfo(sidebyside: SideBySide) -> None:
    sidebyside.virsh("list", "--all")
    sidebyside.virsh("suspend", "test")
    # CPU time is the wall clock in the test driver: it cannot match.
    sidebyside.virsh("dominfo", "test", normalise=lambda t: re.sub(r"[\d.]+s\n", "<t>\n", t))
    sidebyside.virsh("list", "--all")
    sidebyside.virsh("dominfo", "nosuchdomain")
