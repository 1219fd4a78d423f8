"""Node devices of a driver instance (``virNodeDevice``), as the test driver keeps them."""

from __future__ import annotations

from typing import Final

from ..core import DriverCore
from ..domxml import VirtError, parse_xml
from .xml import CAP_BITS, NodeDeviceDef, format_nodedev_xml, parse_nodedev

__all__ = ("DEFAULT_NODEDEVS_XML", "NodeDevices")

_FROM_NODEDEV: Final = 22
#: VIR_ERR_NO_NODE_DEVICE
_NO_NODE_DEVICE: Final = 53
#: the test driver checks the capability bits only (ACTIVE/INACTIVE are refused)
_LIST_FLAGS: Final = (1 << len(CAP_BITS)) - 1

#: test:///default's node devices, as the test driver defines them
DEFAULT_NODEDEVS_XML: Final = (
    """<device><name>computer</name><capability type='system'><hardware>"""
    """<vendor>Libvirt</vendor><version>Test driver</version><serial>123456</serial>"""
    """<uuid>11111111-2222-3333-4444-555555555555</uuid></hardware><firmware>"""
    """<vendor>Libvirt</vendor><version>Test Driver</version>"""
    """<release_date>01/22/2007</release_date></firmware></capability></device>""",
    """<device><name>scsi_host1</name><parent>computer</parent>"""
    """<capability type='scsi_host'><host>1</host><unique_id>0</unique_id>"""
    """<capability type='fc_host'><wwnn>2000000012341234</wwnn><wwpn>1000000012341234</wwpn>"""
    """<fabric_wwn>2000000043214321</fabric_wwn></capability>"""
    """<capability type='vport_ops'><max_vports>127</max_vports><vports>1</vports>"""
    """</capability></capability></device>""",
    """<device><name>scsi_host2</name><parent>computer</parent>"""
    """<capability type='scsi_host'><host>2</host><unique_id>1</unique_id>"""
    """<capability type='fc_host'><wwnn>2000000056785678</wwnn><wwpn>1000000056785678</wwpn>"""
    """<fabric_wwn>2000000087658765</fabric_wwn></capability>"""
    """<capability type='vport_ops'><max_vports>127</max_vports><vports>0</vports>"""
    """</capability></capability></device>""",
    """<device><name>scsi_host11</name><parent>scsi_host1</parent>"""
    """<capability type='scsi_host'><host>11</host><unique_id>10</unique_id>"""
    """<capability type='fc_host'><wwnn>2000000034563456</wwnn><wwpn>1000000034563456</wwpn>"""
    """<fabric_wwn>2000000043214321</fabric_wwn></capability></capability></device>""",
)


def _not_found(name: str) -> VirtError:
    return VirtError.fmt(_NO_NODE_DEVICE, 12, "Node device not found: %s",
                         f"no node device with matching name '{name}'")


class NodeDevices:
    """The node devices of one driver instance, by name."""

    def __init__(self, core: DriverCore) -> None:
        self._core = core
        self._objects: dict[str, NodeDeviceDef] = {}

    def populate_default(self) -> None:
        """Add test:///default's devices (computer, scsi_host1, scsi_host2, scsi_host11)."""
        for xml in DEFAULT_NODEDEVS_XML:
            root = parse_xml(xml, "device", context="node_device_definition",
                             err_domain=_FROM_NODEDEV)
            self.add(parse_nodedev(root))

    def add(self, defn: NodeDeviceDef) -> str:
        """Add a device as a node file defines it (a name already taken is replaced)."""
        with self._core.lock:
            self._objects[defn.name] = defn
            return defn.name

    def _find(self, name: str) -> NodeDeviceDef:
        dev = self._objects.get(name)
        if dev is None:
            raise _not_found(name)
        return dev

    def list_all(self, flags: int = 0) -> list[str]:
        """``virConnectListAllNodeDevices``: names, filtered by capability bits."""
        if flags & ~_LIST_FLAGS:
            raise VirtError.bad_flags("testConnectListAllNodeDevices", flags)
        wanted = [cap for i, cap in enumerate(CAP_BITS) if flags & (1 << i)]
        with self._core.lock:
            return [n for n, d in self._objects.items()
                    if not wanted or any(d.matches(c) for c in wanted)]

    def names(self, cap: str | None) -> list[str]:
        """``virNodeListDevices``: names of the devices with capability *cap* (or all)."""
        with self._core.lock:
            return sorted(n for n, d in self._objects.items() if cap is None or d.matches(cap))

    def lookup_by_name(self, name: str) -> str:
        """``virNodeDeviceLookupByName``."""
        with self._core.lock:
            return self._find(name).name

    def get_xml_desc(self, name: str, flags: int = 0) -> str:
        """``virNodeDeviceGetXMLDesc``."""
        if flags:
            raise VirtError.bad_flags("testNodeDeviceGetXMLDesc", flags)
        with self._core.lock:
            return format_nodedev_xml(self._find(name))

    def get_parent(self, name: str) -> str | None:
        """``virNodeDeviceGetParent``."""
        with self._core.lock:
            return self._find(name).parent

    def list_caps(self, name: str) -> list[str]:
        """``virNodeDeviceListCaps``."""
        with self._core.lock:
            return self._find(name).caps()
