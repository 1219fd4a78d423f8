"""Node device APIs, their events and virsh's nodedev-* commands, side by side with libvirtd's
test driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from .rawcalls import RawCall, compare
from .scenarios.nodedevs import vhba
from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("name", scenario_names("nodedevs"))
def test_nodedev_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


def _sorted_lines(text: str) -> str:
    """nodedev-list output in name order (libvirtd lists in its hash table's random order)."""
    return "\n".join(sorted(line for line in text.splitlines() if line.strip())) + "\n"


def test_virsh_nodedev_commands(sidebyside: SideBySide, tmp_path: Path) -> None:
    """virsh's nodedev-* commands print the same against both."""
    hba = tmp_path / "vhba.xml"
    hba.write_text(vhba())
    listings = {"nodedev-list"}
    commands: list[tuple[str, ...]] = [
        ("nodedev-list",), ("nodedev-list", "--cap", "scsi_host"), ("nodedev-list", "--tree"),
        ("nodedev-list", "--cap", "fc_host,vports"), ("nodedev-list", "--cap", "bogus"),
        ("nodedev-list", "--all"), ("nodedev-list", "--inactive"),
        ("nodedev-dumpxml", "computer"), ("nodedev-dumpxml", "scsi_host1"),
        ("nodedev-dumpxml", "nosuch"), ("nodedev-info", "scsi_host1"),
        ("nodedev-dumpxml", "--xpath", "//wwnn", "scsi_host2"),
        ("nodedev-create", str(hba), "--validate"),
        ("nodedev-create", str(hba)), ("nodedev-dumpxml", "scsi_host12"),
        ("nodedev-list", "--cap", "fc_host"), ("nodedev-destroy", "scsi_host12"),
        ("nodedev-destroy", "scsi_host12"), ("nodedev-destroy", "computer"),
        ("nodedev-define", str(hba)), ("nodedev-undefine", "scsi_host1"),
        ("nodedev-start", "scsi_host1"), ("nodedev-autostart", "scsi_host1"),
        ("nodedev-detach", "scsi_host1"), ("nodedev-reattach", "scsi_host1"),
        ("nodedev-reset", "scsi_host1"), ("nodedev-event", "--all", "--timeout", "1"),
    ]
    failures = []
    for args in commands:
        normalise = _sorted_lines if args[0] in listings and "--tree" not in args else None
        try:
            sidebyside.virsh(*args, normalise=normalise)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


def _create(body: str, parent: str = "<parent>scsi_host1</parent>") -> RawCall:
    return ("NODE_DEVICE_CREATE_XML", (f"<device>{parent}{body}</device>", 0))


_FC = ("<capability type='scsi_host'><capability type='fc_host'><wwnn>1</wwnn><wwpn>2</wwpn>"
       "</capability></capability>")

#: what libvirtd's dispatcher, libvirt's node device parser and the test driver check
RAW_CALLS: list[RawCall] = [
    ("NODE_NUM_OF_DEVICES", (None, 0)), ("NODE_NUM_OF_DEVICES", ("fc_host", 1)),
    ("NODE_LIST_DEVICES", (None, -1, 0)), ("NODE_LIST_DEVICES", (None, 65537, 0)),
    ("NODE_LIST_DEVICES", (None, 2, 1)), ("NODE_LIST_DEVICES", (None, -1, 1)),
    ("NODE_DEVICE_LIST_CAPS", ("computer", -1)), ("NODE_DEVICE_LIST_CAPS", ("computer", 0)),
    ("NODE_DEVICE_LIST_CAPS", ("computer", 65537)), ("NODE_DEVICE_LIST_CAPS", ("nope", 1)),
    ("NODE_DEVICE_NUM_OF_CAPS", ("nope",)), ("NODE_DEVICE_GET_PARENT", ("nope",)),
    ("NODE_DEVICE_GET_PARENT", ("computer",)), ("NODE_DEVICE_GET_XML_DESC", ("nope", 1)),
    ("NODE_DEVICE_DESTROY", ("nope",)), ("NODE_DEVICE_CREATE_XML", ("x", 2)),
    ("NODE_DEVICE_CREATE_XML", (vhba(), 1)), ("NODE_DEVICE_CREATE_XML", (vhba(), 3)),
    ("NODE_DEVICE_CREATE_XML", (vhba(extra="<name>x</name>"), 1)),
    ("NODE_DEVICE_CREATE_XML", ("<device><name>x</name><bogus/></device>", 1)),
    ("NODE_DEVICE_LOOKUP_BY_NAME", ("",)), ("CONNECT_LIST_ALL_NODE_DEVICES", (0, 0)),
    ("CONNECT_LIST_ALL_NODE_DEVICES", (1, 1 << 22)),
    ("CONNECT_LIST_ALL_NODE_DEVICES", (1, 1 << 21)),
    ("CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY", (0, None)),
    ("CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY", (1, None)),
    ("CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY", (2, None)),
    ("CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY", (-1, None)),
    ("CONNECT_NODE_DEVICE_EVENT_DEREGISTER_ANY", (0,)),
    ("NODE_DEVICE_LOOKUP_SCSI_HOST_BY_WWN", ("2000000012341234", "1000000012341234", 0)),
    ("NODE_DEVICE_CREATE_XML", ("<device/>", 0)), ("NODE_DEVICE_CREATE_XML", ("<domain/>", 0)),
    _create("<capability/>"), _create("<capability type='bogus'/>"),
    _create("<devnode/>" + _FC), _create("<devnode type='x'>/dev/x</devnode>" + _FC),
    _create(_FC, "<parent wwnn='1'/>"), _create(_FC, "<parent wwpn='1'/>"),
    _create(_FC, "<parent wwnn='1' wwpn='2'/>"),
    _create(_FC, "<parent wwnn='2000000034563456' wwpn='1000000034563456'/>"),
    _create(_FC, "<parent wwnn='2000000056785678' wwpn='1000000056785678'/>"),
    _create(_FC, "<parent fabric_wwn='9'/>"), _create(_FC, "<parent fabric_wwn='2000000043214321'/>"),
    _create(_FC, "<parent></parent>"), _create(_FC, ""), _create(_FC, "<parent>scsi_host11</parent>"),
    _create("<capability type='system'/>" + _FC, "<parent>scsi_host2</parent>"),
    _create(_FC.replace("<capability type='scsi_host'>",
                        "<capability type='scsi_host'><host>x</host>"),
            "<parent>scsi_host2</parent>"),
    _create("<capability type='scsi_host'><capability/></capability>"),
    _create("<capability type='scsi_host'><capability type='x'/></capability>"),
    _create("<capability type='scsi_host'><capability type='vport_ops'/></capability>"),
    _create("<capability type='scsi_host'><capability type='fc_host'><wwnn>1</wwnn>"
            "</capability></capability>"),
    _create("<capability type='scsi_host'><capability type='fc_host'><wwpn>1</wwpn>"
            "</capability></capability>"),
] + [
    _create(f"<capability type='{cap}'>{body}</capability>") for cap, body in (
        ("usb_device", ""), ("usb_device", "<bus>1</bus>"),
        ("usb_device", "<bus>1</bus><device>2</device>"),
        ("usb_device", "<bus>1</bus><device>2</device><vendor id='0x1'/>"),
        ("usb_device", "<bus>x</bus>"),
        ("usb_device", "<bus>1</bus><device>2</device><vendor id='0x1'/><product id='0x2'/>"),
        ("usb", ""), ("usb", "<number>1</number>"),
        ("usb", "<number>1</number><class>1</class><subclass>1</subclass><protocol>1</protocol>"),
        ("net", ""), ("net", "<interface>eth0</interface>"), ("storage", ""),
        ("storage", "<block>/dev/sda</block>"), ("storage", "<block>/dev/sda</block><size>x</size>"),
        ("storage", "<block>/dev/sda</block><size>100</size>"),
        ("storage", "<block>/dev/sr0</block><capability type='removable'/>"),
        ("storage", "<block>/dev/sr0</block><capability type='removable'>"
                    "<media_size>x</media_size></capability>"),
        ("scsi", ""), ("scsi", "<host>1</host>"),
        ("scsi", "<host>1</host><bus>0</bus><target>0</target><lun>0</lun>"),
        ("scsi_target", ""), ("scsi_target", "<target>t</target>"),
        ("system", ""), ("system", "<hardware><uuid>x</uuid></hardware>"),
        ("system", "<hardware><uuid>11111111-2222-3333-4444-555555555555</uuid></hardware>"),
        ("pci", ""), ("pci", "<domain>0x0000</domain>"), ("pci", "<domain>1.5</domain>"),
        ("pci", "<domain>0</domain>"), ("pci", "<domain>0</domain><bus>0</bus>"),
        ("pci", "<domain>0</domain><bus>0</bus><slot>1</slot>"),
        ("pci", "<domain>0</domain><bus>0</bus><slot>1</slot><function>0</function>"),
        ("pci", "<domain>0</domain><bus>0</bus><slot>1</slot><function>0</function>"
                "<vendor id='0x8086'/>"),
        ("pci", "<domain>0</domain><bus>0</bus><slot>1</slot><function>0</function>"
                "<vendor id='0x8086'/><product id='zz'/>"),
        ("pci", "<domain>0</domain><bus>0</bus><slot>1</slot><function>0</function>"
                "<vendor id='0x8086'/><product id='0x1234'/>"),
        ("mdev", ""), ("mdev", "<type id='x'/>"), ("drm", ""), ("drm", "<type>primary</type>"),
        ("drm", "<type>x</type>"), ("ccw", ""), ("ccw", "<cssid>0</cssid>"),
        ("ccw", "<cssid>0</cssid><ssid>0</ssid><devno>1</devno>"), ("css", ""),
        ("ap_card", ""), ("ap_queue", ""), ("ap_matrix", ""), ("fc_host", ""), ("vports", ""),
        ("scsi_generic", ""), ("mdev_types", ""), ("vdpa", ""), ("vpd", ""),
    )
]


def test_raw_nodedev_calls(sidebyside: SideBySide) -> None:
    """Arguments libvirt's client library would not send, and definitions to create that
    libvirt refuses, get the same answers."""
    real_path, tvd_path = sidebyside.real.unix_path, sidebyside.tvd.unix_path
    assert real_path and tvd_path
    differences = compare(real_path, tvd_path, RAW_CALLS)
    assert not differences, "\n".join(differences)
