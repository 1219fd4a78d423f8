"""Node device APIs of the test driver, side by side (lists, lookups, XML, capabilities,
vHBA creation and destruction with their events)."""

from __future__ import annotations

from ..scenario_runner import Session, libvirt, scenario

DEFAULT_DEVICES = ("computer", "scsi_host1", "scsi_host2", "scsi_host11")


def vhba(parent: str | None = "scsi_host1", wwpn: str = "1000000012349999",
         extra: str = "") -> str:
    """A vHBA definition (a scsi_host with an fc_host capability) for nodeDeviceCreateXML."""
    parent_xml = f"<parent>{parent}</parent>" if parent is not None else ""
    return (f"<device>{extra}{parent_xml}<capability type='scsi_host'>"
            f"<capability type='fc_host'><wwnn>2000000012341234</wwnn><wwpn>{wwpn}</wwpn>"
            "</capability></capability></device>")


# libvirtd lists objects in its hash table's order, which a random seed decides: lists are
# compared sorted.
def _names(devices: list) -> list:  # type: ignore[type-arg]
    return sorted(d.name() for d in devices)


@scenario
def lists_and_lookups(s: Session) -> None:
    c = s.conn
    s.step("listAllDevices", c.listAllDevices, mask=_names)
    for flag in ("SYSTEM", "PCI_DEV", "SCSI_HOST", "FC_HOST", "VPORTS", "NET", "MDEV",
                 "VDPA"):
        s.step(f"listAllDevices {flag}", c.listAllDevices,
               getattr(libvirt, f"VIR_CONNECT_LIST_NODE_DEVICES_CAP_{flag}"), mask=_names)
    s.step("listAllDevices active", c.listAllDevices, 1 << 30)
    s.step("listAllDevices inactive", c.listAllDevices, 1 << 31)
    for cap in (None, "system", "scsi_host", "fc_host", "vports", "pci", "bogus"):
        s.step(f"listDevices {cap}", c.listDevices, cap, mask=sorted)
        s.step(f"numOfDevices {cap}", c.numOfDevices, cap)
    s.step("listDevices flags", c.listDevices, None, 1)
    s.step("numOfDevices flags", c.numOfDevices, None, 1)
    s.step("lookup missing", c.nodeDeviceLookupByName, "nope")
    s.step("lookup by WWN", c.nodeDeviceLookupSCSIHostByWWN, "2000000012341234",
           "1000000012341234")
    for name in DEFAULT_DEVICES:
        dev = c.nodeDeviceLookupByName(name)
        s.step(f"{name} name", dev.name)
        s.step(f"{name} XMLDesc", dev.XMLDesc)
        s.step(f"{name} parent", dev.parent)
        s.step(f"{name} numOfCaps", dev.numOfCaps)
        s.step(f"{name} listCaps", dev.listCaps)
    dev = c.nodeDeviceLookupByName("scsi_host1")
    s.step("XMLDesc flags", dev.XMLDesc, 1)
    s.step("isActive", dev.isActive)
    s.step("isPersistent", dev.isPersistent)
    s.step("autostart", dev.autostart)
    s.step("setAutostart", dev.setAutostart, 1)
    s.step("create", dev.create)
    s.step("undefine", dev.undefine)
    s.step("detach", dev.dettach)
    s.step("detachFlags", dev.detachFlags, None, 0)
    s.step("reAttach", dev.reAttach)
    s.step("reset", dev.reset)
    s.step("defineXML", c.nodeDeviceDefineXML, vhba())


@scenario
def create_and_destroy(s: Session) -> None:
    c = s.conn
    dev = s.step("createXML", c.nodeDeviceCreateXML, vhba(), mask=lambda d: d.name())
    s.step("new device XML", c.nodeDeviceLookupByName("scsi_host12").XMLDesc)
    s.step("new device parent", c.nodeDeviceLookupByName("scsi_host12").parent)
    s.step("listAllDevices", c.listAllDevices, mask=_names)
    s.step("listDevices fc_host", c.listDevices, "fc_host", mask=sorted)
    s.events("after create")
    s.step("createXML again", c.nodeDeviceCreateXML, vhba(wwpn="1000000000000001"),
           mask=lambda d: d.name())
    s.step("XML replaced", c.nodeDeviceLookupByName("scsi_host12").XMLDesc)
    s.step("createXML without parent", c.nodeDeviceCreateXML, vhba(None, "1000000000000002"),
           mask=lambda d: d.name())
    s.step("createXML parent by WWN", c.nodeDeviceCreateXML,
           "<device><parent wwnn='2000000056785678' wwpn='1000000056785678'/>"
           "<capability type='scsi_host'><capability type='fc_host'><wwnn>2000000012341234"
           "</wwnn><wwpn>1000000000000003</wwpn></capability></capability></device>",
           mask=lambda d: d.name())
    s.step("createXML parent by fabric", c.nodeDeviceCreateXML,
           "<device><parent fabric_wwn='2000000087658765'/><capability type='scsi_host'>"
           "<capability type='fc_host'><wwnn>2000000012341234</wwnn>"
           "<wwpn>1000000000000004</wwpn></capability></capability></device>",
           mask=lambda d: d.name())
    s.step("createXML named", c.nodeDeviceCreateXML,
           vhba(wwpn="1000000000000005", extra="<name>myhba</name>"), mask=lambda d: d.name())
    s.events("after more creates")
    if dev is not None:
        s.step("destroy", dev.destroy)
        s.step("destroy again", dev.destroy)
    s.step("destroy a device that is no vHBA", c.nodeDeviceLookupByName("computer").destroy)
    s.step("destroy scsi_host11", c.nodeDeviceLookupByName("scsi_host11").destroy)
    s.step("createXML without scsi_host11 to copy", c.nodeDeviceCreateXML, vhba())
    s.step("destroy scsi_host1", c.nodeDeviceLookupByName("scsi_host1").destroy)
    s.step("listAllDevices", c.listAllDevices, mask=_names)


@scenario
def create_errors(s: Session) -> None:
    c = s.conn
    for label, xml in (
        ("parent without vport ops", vhba("scsi_host11", "1000000000000011")),
        ("parent computer", vhba("computer", "1000000000000012")),
        ("missing parent", vhba("nope", "1000000000000013")),
        ("no WWNs", "<device><parent>scsi_host1</parent><capability type='scsi_host'>"
                    "<capability type='fc_host'></capability></capability></device>"),
        ("not fibre channel", "<device><parent>scsi_host1</parent>"
                              "<capability type='scsi_host'></capability></device>"),
        ("pci without vendor", "<device><name>pci_0000_00_01_0</name><parent>computer</parent>"
                               "<capability type='pci'><domain>0</domain><bus>0</bus>"
                               "<slot>1</slot><function>0</function></capability></device>"),
        ("mdev", "<device><parent>computer</parent><capability type='mdev'>"
                 "<type id='nvidia-11'/></capability></device>"),
        ("no capability", "<device/>"),
        ("wrong root", "<domain/>"),
        ("not XML", "x"),
    ):
        s.step(f"createXML {label}", c.nodeDeviceCreateXML, xml)
    s.step("listAllDevices", c.listAllDevices, mask=_names)
