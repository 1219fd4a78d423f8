"""Network APIs and virsh ``net-*`` commands, side by side with libvirtd's test driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from .scenarios.networks import FULL, ISOLATED
from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("name", scenario_names("networks"))
def test_network_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


def test_virsh_net_commands(sidebyside: SideBySide, tmp_path: Path) -> None:
    net1 = tmp_path / "net1.xml"
    net1.write_text(ISOLATED)
    full = tmp_path / "full.xml"
    full.write_text(FULL)
    host = tmp_path / "host.xml"
    host.write_text("<host mac='52:54:00:00:00:07' name='seven' ip='192.168.100.17'/>")
    v = sidebyside.virsh
    for args in (
        ("net-list",), ("net-list", "--all"), ("net-list", "--all", "--uuid"),
        ("net-list", "--name"), ("net-list", "--inactive"), ("net-list", "--persistent"),
        ("net-list", "--transient"), ("net-list", "--autostart"), ("net-list", "--no-autostart"),
        ("net-info", "default"), ("net-dumpxml", "default"), ("net-uuid", "default"),
        ("net-name", "dd8fe884-6c02-601e-7551-cca97df1c5df"),
        ("net-dumpxml", "nosuchnet"), ("net-info", "nosuchnet"),
        ("net-define", str(net1)), ("net-define", "--validate", str(net1)),
        ("net-list", "--all"), ("net-info", "net1"),
        ("net-autostart", "net1"), ("net-list", "--all", "--autostart"),
        ("net-autostart", "--disable", "net1"),
        ("net-start", "net1"), ("net-start", "net1"), ("net-list", "--all"),
        ("net-update", "net1", "add", "ip-dhcp-host", str(host)),
        ("net-update", "net1", "add", "ip-dhcp-host", str(host), "--live", "--config"),
        ("net-update", "net1", "delete", "ip-dhcp-host",
         "<host mac='52:54:00:00:00:07'/>", "--config"),
        ("net-update", "net1", "add-first", "dns-txt", "<txt name='n' value='v'/>"),
        ("net-update", "net1", "modify", "bridge", "<bridge name='x'/>"),
        ("net-update", "net1", "add", "no-such-section", "<x/>"),
        ("net-dumpxml", "net1"), ("net-dumpxml", "--inactive", "net1"),
        ("net-dhcp-leases", "net1"), ("net-port-list", "net1"),
        ("net-undefine", "net1"), ("net-destroy", "net1"), ("net-destroy", "net1"),
        ("net-undefine", "net1"), ("net-undefine", "net1"),
        ("net-create", str(full)), ("net-dumpxml", "full"), ("net-info", "full"),
        ("net-destroy", "full"), ("net-list", "--all"),
        ("net-event", "--list"),
        ("net-dumpxml", "default", "--xpath", "//ip"),
        ("net-update", "default", "add", "dns-host",
         "<host ip='192.168.122.7'><hostname>seven</hostname></host>", "--current"),
        ("net-update", "default", "delete", "dns-host", "<host ip='192.168.122.7'/>"),
        ("net-update", "default", "add", "portgroup", "<portgroup name='pg'/>",
         "--parent-index", "0"),
        ("net-dumpxml", "default"),
        ("net-list", "--table", "--all"),
    ):
        v(*args)


def test_virsh_net_events(sidebyside: SideBySide, tmp_path: Path) -> None:
    net1 = tmp_path / "net1.xml"
    net1.write_text(ISOLATED)
    sidebyside.virsh_with_events(
        ("net-event", "--all", "--loop", "--timeout", "5"),
        [("net-define", str(net1)), ("net-start", "net1"), ("net-destroy", "net1"),
         ("net-undefine", "net1")],
    )
