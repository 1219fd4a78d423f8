"""Host interface APIs and virsh's iface-* commands, side by side with libvirtd's test
driver."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from daemons.testvirtd import protocol as P

from .rawcalls import RawCall, compare
from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("name", scenario_names("interfaces"))
def test_interface_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


BOND = """<interface type='bond' name='bond0'>
  <start mode='onboot'/>
  <protocol family='ipv4'><dhcp/></protocol>
  <bond mode='active-backup'>
    <miimon freq='100' updelay='10' carrier='ioctl'/>
    <interface type='ethernet' name='eth3'><mac address='ab:bb:cc:dd:ee:01'/></interface>
  </bond>
</interface>
"""


def _sorted_table(text: str) -> str:
    """iface-list rows in name order (libvirtd lists in its hash table's random order)."""
    lines = text.splitlines()
    head, rows = lines[:2], [line for line in lines[2:] if line.strip()]
    return "\n".join([*head, *sorted(rows)]) + "\n"


def test_virsh_iface_commands(sidebyside: SideBySide, tmp_path: Path) -> None:
    """virsh's iface-* commands print the same against both."""
    bond = tmp_path / "bond0.xml"
    bond.write_text(BOND)
    commands: list[tuple[str, ...]] = [
        ("iface-list",), ("iface-list", "--all"), ("iface-list", "--inactive"),
        ("iface-name", "aa:bb:cc:dd:ee:ff"), ("iface-mac", "eth1"), ("iface-dumpxml", "eth1"),
        ("iface-dumpxml", "eth1", "--inactive"), ("iface-dumpxml", "nosuch"),
        ("iface-define", str(bond)), ("iface-list", "--all"), ("iface-dumpxml", "bond0"),
        ("iface-start", "bond0"), ("iface-start", "bond0"), ("iface-destroy", "eth1"),
        ("iface-list", "--all"), ("iface-name", "ab:bb:cc:dd:ee:01"),
        ("iface-begin",), ("iface-begin",), ("iface-undefine", "bond0"),
        ("iface-list", "--all"), ("iface-rollback",), ("iface-list", "--all"),
        ("iface-begin",), ("iface-undefine", "bond0"), ("iface-commit",), ("iface-commit",),
        ("iface-list", "--all"),
        ("iface-bridge", "eth1", "br0"), ("iface-unbridge", "br0"),
        ("iface-edit", "nosuch"), ("iface-undefine", "nosuch"),
    ]
    failures = []
    for args in commands:
        sort = args[0] == "iface-list"
        try:
            sidebyside.virsh(*args, normalise=_sorted_table if sort else None)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


_ETH1 = P.NonnullInterface("eth1", "aa:bb:cc:dd:ee:ff")
_NOPE = P.NonnullInterface("nope", "")

#: what libvirtd's dispatcher and the test driver check, with arguments clients never send
RAW_CALLS: list[RawCall] = [
    ("CONNECT_LIST_INTERFACES", (-1,)), ("CONNECT_LIST_INTERFACES", (0,)),
    ("CONNECT_LIST_INTERFACES", (16385,)), ("CONNECT_LIST_DEFINED_INTERFACES", (-1,)),
    ("CONNECT_LIST_DEFINED_INTERFACES", (16385,)), ("CONNECT_LIST_ALL_INTERFACES", (0, 0)),
    ("CONNECT_LIST_ALL_INTERFACES", (1, 4)), ("INTERFACE_LOOKUP_BY_MAC_STRING", ("",)),
    ("INTERFACE_LOOKUP_BY_NAME", ("",)), ("INTERFACE_CREATE", (_NOPE, 1)),
    ("INTERFACE_CREATE", (_NOPE, 0)), ("INTERFACE_DESTROY", (_NOPE, 1)),
    ("INTERFACE_UNDEFINE", (_NOPE,)), ("INTERFACE_GET_XML_DESC", (_NOPE, 1)),
    ("INTERFACE_GET_XML_DESC", (_ETH1, 0)), ("INTERFACE_IS_ACTIVE", (_NOPE,)),
    ("INTERFACE_CHANGE_BEGIN", (2,)), ("INTERFACE_CHANGE_COMMIT", (0,)),
    ("INTERFACE_CHANGE_ROLLBACK", (0,)),
    ("INTERFACE_DEFINE_XML", ("<interface type='ethernet' name='e1'/>", 2)),
] + [
    ("INTERFACE_DEFINE_XML", (f"<interface type='ethernet' name='e{i}'>{body}</interface>", 0))
    for i, body in enumerate([
        "<mtu size='big'/>", "<mtu size='-5'/>", "<mtu size='0x10'/>", "<mtu size=' 12'/>",
        "<mtu size='12 '/>", "<mtu size='99999999999999999999'/>", "<mtu size=''/>",
        "<mtu size='100001'/>", "<mtu size='100000'/>", "<mtu/>",
        "<protocol family='ipv4'><dhcp peerdns='maybe'/></protocol>",
        "<protocol family='ipv4'><ip address='1.2.3.4' prefix='x'/></protocol>",
        "<protocol family='ipv4'><ip address='1.2.3.4' prefix='-3'/></protocol>",
        "<protocol family='ipv4'><ip address='1.2.3.4' prefix='0x10'/></protocol>",
        "<protocol family='ipv4'><ip prefix='x'/><autoconf/></protocol>",
        "<protocol/>", "<protocol family='ipx'/>",
        "<protocol family='ipv6'><route gateway='::1'/><route gateway='::2'/>"
        "<ip address='::5'/><ip/><ip address='::6' prefix='0'/><dhcp peerdns='yes'/>"
        "<autoconf/></protocol><protocol family='ipv4'/>",
        "<link speed='1000' state='up'/><mac address='aa:aa:aa:aa:aa:aa'/>",
        "<link speed='fast' state='up'/>", "<link state='sideways'/>",
        "<link speed='-1'/>", "<link state='unknown' speed='0'/>",
        "<mac address='x&amp;y'/>", "<start mode=''/>", "<start mode='later'/>",
    ], start=10)
] + [
    ("INTERFACE_DEFINE_XML", (xml, 0)) for xml in (
        "<interface type='bridge' name='br1'><bridge stp='maybe' delay='1'>"
        "<interface type='ethernet' name='p1'/></bridge></interface>",
        "<interface type='bond' name='b1'/>", "<interface type='bond' name='b2'><bond mode='x'/>"
        "</interface>",
        "<interface type='bond' name='b3'><bond><miimon/></bond></interface>",
        "<interface type='bond' name='b4'><bond><miimon freq='1' carrier='x'/></bond>"
        "</interface>",
        "<interface type='bond' name='b5'><bond><miimon freq='1' downdelay='x'/></bond>"
        "</interface>",
        "<interface type='bond' name='b6'><bond><miimon freq='1' updelay='x'/></bond>"
        "</interface>",
        "<interface type='bond' name='b7'><bond><arpmon target='1.2.3.4'/></bond></interface>",
        "<interface type='bond' name='b8'><bond><arpmon interval='5'/></bond></interface>",
        "<interface type='bond' name='b9'><bond><arpmon interval='5' target='x' validate='y'/>"
        "</bond></interface>",
        "<interface type='bond' name='b10'><bond mode='balance-rr'><arpmon interval='5' "
        "target='1.1.1.1' validate='all'/><interface type='ethernet' name='x1'/></bond>"
        "</interface>",
        "<interface type='bond' name='b11'><bond><interface type='bridge' name='x2'>"
        "<bridge/></interface></bond></interface>",
        "<interface type='bridge' name='br2'><bridge><interface type='bridge' name='x3'>"
        "<bridge/></interface></bridge></interface>",
        "<interface type='bridge' name='br3'><bridge><interface type='vlan' name='x4'>"
        "<vlan tag='4'><interface name='eth0'/></vlan></interface></bridge></interface>",
        "<interface type='bridge' name='br4'><bridge stp='on'><interface type='bond' name='x5'>"
        "<bond><interface type='ethernet' name='eth7'><mac address='11:22:33:44:55:66'/>"
        "</interface></bond></interface></bridge></interface>",
        "<interface type='bridge' name='br5'><bridge delay='2'><interface type='ethernet' "
        "name='e99'><start mode='onboot'/><mtu size='9000'/><protocol family='ipv4'><dhcp/>"
        "</protocol></interface></bridge></interface>",
        "<interface type='vlan' name='v1'/>", "<interface type='vlan' name='v2'><vlan tag='3'/>"
        "</interface>",
        "<interface type='vlan'><vlan tag='3'><interface name='eth0'/></vlan></interface>",
        "<interface type=' ethernet' name='e12'/>", "<interface type='ethernet' name=''/>",
        "<interface type='ethernet' name='a&amp;b&apos;c'/>",
    )
]


def test_raw_interface_calls(sidebyside: SideBySide) -> None:
    """Arguments libvirt's client library would not send, and definitions libvirt's parser
    takes its own way, get the same answers (the definitions made are compared through
    their XML)."""
    real_path, tvd_path = sidebyside.real.unix_path, sidebyside.tvd.unix_path
    assert real_path and tvd_path
    calls = list(RAW_CALLS)
    for name, values in RAW_CALLS:
        if name == "INTERFACE_DEFINE_XML":
            found = re.search(r"name='([^']*)'", values[0])
            if found:
                calls.append(("INTERFACE_GET_XML_DESC",
                              (P.NonnullInterface(found.group(1), ""), 0)))
    calls.append(("INTERFACE_LOOKUP_BY_MAC_STRING", ("aa:aa:aa:aa:aa:aa",)))
    differences = compare(real_path, tvd_path, calls)
    assert not differences, "\n".join(differences)
