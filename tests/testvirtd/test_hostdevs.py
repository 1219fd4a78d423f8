"""Host interfaces and node devices of the in-memory test hypervisor (the side-by-side
tests in tests/interop compare them with libvirtd; these pin the model's own rules)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemons.testvirtd.domxml import VirtError
from daemons.testvirtd.hypervisor import Event, Hypervisor
from daemons.testvirtd.nodedevs.model import NodeDeviceLifecycleEvent

BOND = """<interface type='bond' name='bond0'><start mode='none'/>
<bond mode='active-backup'><miimon freq='100'/>
<interface type='ethernet' name='eth3'><mac address='ab:bb:cc:dd:ee:01'/></interface>
</bond></interface>"""

VHBA = ("<device><parent>scsi_host1</parent><capability type='scsi_host'>"
        "<capability type='fc_host'><wwnn>2000000012341234</wwnn><wwpn>1000000012349999</wwpn>"
        "</capability></capability></device>")


def test_interface_lifecycle_and_transactions() -> None:
    with Hypervisor() as hv:
        ifaces = hv.interfaces
        assert ifaces.define(BOND).name == "bond0"
        assert not ifaces.is_active("bond0")
        ifaces.create("bond0")
        with pytest.raises(VirtError, match=r"Requested operation is not valid$"):
            ifaces.create("bond0")
        ifaces.change_begin()
        with pytest.raises(VirtError, match="another transaction running"):
            ifaces.change_begin()
        ifaces.undefine("bond0")
        assert [i.name for i in ifaces.list_all()] == ["eth1"]
        ifaces.change_rollback()
        # the copies come back, every one inactive, as the test driver copies definitions only
        assert sorted((i.name, ifaces.is_active(i.name)) for i in ifaces.list_all()) == [
            ("bond0", False), ("eth1", False)]
        with pytest.raises(VirtError, match="nothing to rollback"):
            ifaces.change_rollback()
        assert "<miimon freq='100'/>" in ifaces.get_xml_desc("bond0")


def test_interface_parse_errors_in_libvirts_words() -> None:
    with Hypervisor() as hv:
        with pytest.raises(VirtError) as info:
            hv.interfaces.define("<interface type='ethernet' name='e'><mtu size='12 '/>"
                                 "</interface>")
        assert (info.value.code, info.value.domain, info.value.message) == (
            1, 0, "An error occurred, but the cause is unknown")
        with pytest.raises(VirtError) as info:
            hv.interfaces.define("<interface type='bond' name='b'><bond>"
                                 "<interface type='bridge' name='x'><bridge/></interface>"
                                 "</bond></interface>")
        assert info.value.message == "XML error: interface has unsupported type 'bridge'"


def test_vhba_create_and_destroy_announce_themselves() -> None:
    events: list[Event] = []
    with Hypervisor() as hv:
        hv.subscribe(events.append)
        assert hv.nodedevs.create_xml(VHBA) == "scsi_host12"
        xml = hv.nodedevs.get_xml_desc("scsi_host12")
        assert "<wwpn>1000000012349999</wwpn>" in xml and "<host>11</host>" in xml
        hv.nodedevs.destroy("computer")  # no vHBA: nothing happens, yet it succeeds
        hv.nodedevs.destroy("scsi_host12")
        assert sorted(hv.nodedevs.list_all()) == ["computer", "scsi_host1", "scsi_host11",
                                                  "scsi_host2"]
    assert events == [NodeDeviceLifecycleEvent("scsi_host12", 0),
                      NodeDeviceLifecycleEvent("scsi_host12", 1)]


def test_vhba_needs_a_vport_capable_parent() -> None:
    with Hypervisor() as hv:
        with pytest.raises(VirtError, match="scsi_host11 is not capable of vport operations"):
            hv.nodedevs.create_xml(VHBA.replace("scsi_host1<", "scsi_host11<"))
        with pytest.raises(VirtError, match="Device is not a fibre channel HBA"):
            hv.nodedevs.create_xml("<device><capability type='net'><interface>eth0</interface>"
                                   "</capability></device>")


def test_state_file_keeps_interfaces_and_devices(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    with Hypervisor() as hv:
        hv.interfaces.define(BOND)
        hv.interfaces.destroy("eth1")
        hv.nodedevs.create_xml(VHBA)
        hv.save(path)
    with Hypervisor.load(path) as hv:
        assert sorted((i.name, hv.interfaces.is_active(i.name))
                      for i in hv.interfaces.list_all()) == [("bond0", False), ("eth1", False)]
        assert "scsi_host12" in hv.nodedevs.list_all()
    # a state file from before interfaces and devices were kept gets the default ones
    data = json.loads(Path(path).read_text())
    del data["interfaces"], data["nodedevs"]
    Path(path).write_text(json.dumps(data))
    with Hypervisor.load(path) as hv:
        assert [i.name for i in hv.interfaces.list_all()] == ["eth1"]
        assert len(hv.nodedevs.list_all()) == 4
