"""Node device XML (``<device>``): kept as parsed and formatted as libvirt's node device
formatter prints what the test driver loaded (no ``<driver>`` and zero ``vport_ops``
counts: the test driver reads no sysfs; canonical PCI addresses)."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ..domxml import ErrCode, VirtError, format_element

__all__ = ("CAP_BITS", "NodeDeviceDef", "format_nodedev_xml", "parse_nodedev")

_FROM_NODEDEV = 22

#: ``virNodeDevCapType`` names in the order of their VIR_CONNECT_LIST_NODE_DEVICES_CAP_*
#: bits (1 << index)
CAP_BITS = (
    "system", "pci", "usb_device", "usb", "net", "scsi_host", "scsi_target", "scsi",
    "storage", "fc_host", "vports", "scsi_generic", "drm", "mdev_types", "mdev", "ccw",
    "css", "vdpa", "ap_card", "ap_queue", "ap_matrix", "vpd",
)
_TOP_ORDER = ("name", "path", "devnode", "parent", "capability")


@dataclass
class NodeDeviceDef:
    """A node device: its name, parent and the element formatted back."""

    name: str
    parent: str | None
    elem: ET.Element

    def caps(self) -> list[str]:
        """The device's own capability types (what ``virNodeDeviceListCaps`` returns)."""
        return [c.get("type", "") for c in self.elem.findall("capability")]

    def matches(self, cap: str) -> bool:
        """Whether the device has capability *cap* (nested fc_host/vport_ops count for
        "fc_host"/"vports", as libvirt's capability filter does)."""
        for c in self.elem.findall("capability"):
            ctype = c.get("type")
            if ctype == cap:
                return True
            if ctype == "scsi_host":
                nested = {n.get("type") for n in c.findall("capability")}
                if cap == "fc_host" and "fc_host" in nested:
                    return True
                if cap == "vports" and "vport_ops" in nested:
                    return True
            if ctype == "pci" and cap == "mdev_types":
                if any(n.get("type") == "mdev_types" for n in c.findall("capability")):
                    return True
        return False


def _clean(elem: ET.Element) -> ET.Element:
    clone = copy.deepcopy(elem)
    for node in clone.iter():
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return clone


def parse_nodedev(root: ET.Element) -> NodeDeviceDef:
    """Build a :class:`NodeDeviceDef` from a ``<device>`` element."""
    name = (root.findtext("name") or "").strip()
    if not name:
        raise VirtError(ErrCode.NO_NAME, _FROM_NODEDEV, "missing name information",
                        str1="missing name information")
    if root.find("capability") is None:
        raise VirtError.xml_error(_FROM_NODEDEV, f"no device capabilities for '{name}'")
    elem = _clean(root)
    for drv in elem.findall("driver"):
        elem.remove(drv)
    rank = {tag: i for i, tag in enumerate(_TOP_ORDER)}
    children = sorted(elem, key=lambda e: rank.get(e.tag, len(rank)))
    for child in list(elem):
        elem.remove(child)
    elem.extend(children)
    for cap in elem.iter("capability"):
        if cap.get("type") == "vport_ops":
            # libvirt reads these counts from sysfs only, never from the XML: the test
            # driver always shows zero
            for child in list(cap):
                cap.remove(child)
            ET.SubElement(cap, "max_vports").text = "0"
            ET.SubElement(cap, "vports").text = "0"
        if cap.get("type") == "storage":
            # libvirt's storage capability keeps neither (they come from sysfs)
            for tag in ("logical_block_size", "num_blocks"):
                for child in cap.findall(tag):
                    cap.remove(child)
        if cap.get("type") == "mdev":
            groups = cap.findall("iommuGroup")
            for g in groups:
                cap.remove(g)
            cap.extend(groups)
    for addr in elem.iter("address"):
        for key, width in (("domain", 4), ("bus", 2), ("slot", 2), ("function", 1)):
            value = addr.get(key)
            if value is not None:
                try:
                    addr.set(key, f"0x{int(value, 0):0{width}x}")
                except ValueError:
                    pass
    parent = elem.findtext("parent")
    return NodeDeviceDef(name, parent.strip() if parent else None, elem)


def format_nodedev_xml(d: NodeDeviceDef) -> str:
    """The ``virNodeDeviceGetXMLDesc`` document."""
    return format_element(d.elem, 0)
