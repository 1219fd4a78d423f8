"""Domain XML side by side: documents with every element kind testvirtd canonicalises,
written back as libvirtd's test driver writes them (scenarios/domainxml.py)."""

from __future__ import annotations

import pytest

from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("name", scenario_names("domainxml"))
def test_domain_xml_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)
