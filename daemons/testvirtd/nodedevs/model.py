"""Node devices of a driver instance (``virNodeDevice``), as the test driver keeps them.

The test driver only pretends to create vHBAs: ``virNodeDeviceCreateXML`` checks the new
device's definition, finds a parent capable of vport operations, then copies ``scsi_host11``
as ``scsi_host12`` with the WWNN and WWPN asked for (replacing any earlier ``scsi_host12``),
and announces it CREATED.  ``virNodeDeviceDestroy`` removes a fibre channel HBA whose parent
exists and announces it DELETED; for any other device it does nothing, yet succeeds.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Final

from ..core import DriverCore, Event
from ..domxml import ErrCode, ErrDomain, VirtError, parse_xml
from .create import NEW_DEVICE, CreateSpec, check_create
from .xml import CAP_BITS, NodeDeviceDef, format_nodedev_xml, parse_nodedev

__all__ = ("DEFAULT_NODEDEVS_XML", "NodeDeviceEventType", "NodeDeviceLifecycleEvent",
           "NodeDevices")


class NodeDeviceEventType:
    """``virNodeDeviceEventLifecycleType``."""

    CREATED: Final = 0
    DELETED: Final = 1


@dataclass(frozen=True, slots=True)
class NodeDeviceLifecycleEvent(Event):
    """A node device was created or deleted (detail is always 0 in the test driver)."""

    name: str
    event: int
    detail: int = 0


#: VIR_NODE_DEVICE_CREATE_XML_VALIDATE: check the document against libvirt's schema
CREATE_XML_VALIDATE: Final = 1

#: the device the test driver copies to pretend it made a vHBA, and the copy's name
_TEMPLATE: Final = "scsi_host11"
_CREATED: Final = "scsi_host12"

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
            raise VirtError.bad_flags("testConnectListAllNodeDevices", flags & ~_LIST_FLAGS)
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

    # ------------------------------------------------------------------ persistence

    def dump(self) -> list[dict[str, Any]]:
        """The devices as JSON-serialisable data (for the state file)."""
        with self._core.lock:
            return [{"xml": format_nodedev_xml(d)} for d in self._objects.values()]

    def restore(self, items: list[dict[str, Any]]) -> None:
        """Load what :meth:`dump` produced (into an empty instance)."""
        for item in items:
            root = parse_xml(str(item["xml"]), "device", context="node_device_definition",
                             err_domain=_FROM_NODEDEV)
            self.add(parse_nodedev(root))

    # ------------------------------------------------------------------ vHBAs

    def create_xml(self, xml: str, flags: int = 0) -> str:
        """``virNodeDeviceCreateXML``: the name of the device made (always scsi_host12)."""
        if flags & ~CREATE_XML_VALIDATE:
            raise VirtError.bad_flags("testNodeDeviceCreateXML", flags & ~CREATE_XML_VALIDATE)
        root = parse_xml(xml, "device", context="node_device_definition",
                         err_domain=_FROM_NODEDEV)
        if flags & CREATE_XML_VALIDATE:
            from ..snapshots import schema

            schema.validate(xml, "nodedev")
        spec = check_create(root)
        with self._core.locked():
            self._parent_host(spec)
            template = self._objects.get(_TEMPLATE)
            if template is None:
                # the test driver fails here without saying why
                raise VirtError(ErrCode.INTERNAL_ERROR, ErrDomain.NONE,
                                "An error occurred, but the cause is unknown", int1=0, int2=0)
            made = _vhba_from(template, spec.wwnn, spec.wwpn)
            self._objects[made.name] = made
            self._core.emit(NodeDeviceLifecycleEvent(made.name, NodeDeviceEventType.CREATED))
            return made.name

    def destroy(self, name: str) -> None:
        """``virNodeDeviceDestroy``."""
        with self._core.locked():
            dev = self._find(name)
            if _fc_wwns(dev) is None or dev.parent is None or dev.parent not in self._objects:
                # libvirt reports why, but the test driver still answers success
                return
            del self._objects[name]
            self._core.emit(NodeDeviceLifecycleEvent(name, NodeDeviceEventType.DELETED))

    def mock_create_vport(self, wwnn: str, wwpn: str) -> bool:
        """The vHBA a fibre channel storage pool's start makes (``scsi_host11`` copied as
        ``scsi_host12`` with its WWNs, event CREATED); False when there is no template, where
        the test driver fails without a reason."""
        with self._core.locked():
            template = self._objects.get(_TEMPLATE)
            if template is None:
                return False
            made = _vhba_from(template, wwnn, wwpn)
            self._objects[made.name] = made
            self._core.emit(NodeDeviceLifecycleEvent(made.name, NodeDeviceEventType.CREATED))
            return True

    def remove_vport(self) -> None:
        """What a fibre channel storage pool's stop removes: ``scsi_host12`` whatever its
        WWNs (event DELETED), or the test driver's error when there is none."""
        with self._core.locked():
            if _CREATED not in self._objects:
                raise _not_found(_CREATED)
            del self._objects[_CREATED]
            self._core.emit(NodeDeviceLifecycleEvent(_CREATED, NodeDeviceEventType.DELETED))

    def _parent_host(self, spec: CreateSpec) -> None:
        """``virNodeDeviceObjListGetParentHost``: the parent must exist and be capable of
        vport operations."""
        if spec.parent is not None:
            parent = self._objects.get(spec.parent)
        elif spec.parent_wwnn is not None and spec.parent_wwpn is not None:
            parent = next((d for d in self._objects.values() if _vport_capable(d)
                           and _fc_wwns(d) == (spec.parent_wwnn, spec.parent_wwpn)), None)
        elif spec.parent_fabric_wwn is not None:
            parent = next((d for d in self._objects.values() if _vport_capable(d)
                           and _fc_text(d, "fabric_wwn") == spec.parent_fabric_wwn), None)
        else:
            parent = next((d for d in self._objects.values() if _vport_capable(d)), None)
            if parent is None:
                raise VirtError.internal_error(_FROM_NODEDEV,
                                               "Could not find any vport capable device")
        if parent is None:
            raise VirtError.internal_error(_FROM_NODEDEV,
                                           f"Could not find parent device for '{NEW_DEVICE}'")
        if not _vport_capable(parent):
            raise VirtError.internal_error(
                _FROM_NODEDEV, f"Parent device {parent.name} is not capable of vport operations"
            )


def _scsi_host(dev: NodeDeviceDef) -> ET.Element | None:
    return next((c for c in dev.elem.findall("capability") if c.get("type") == "scsi_host"),
                None)


def _nested(dev: NodeDeviceDef, ctype: str) -> ET.Element | None:
    host = _scsi_host(dev)
    if host is None:
        return None
    return next((c for c in host.findall("capability") if c.get("type") == ctype), None)


def _vport_capable(dev: NodeDeviceDef) -> bool:
    return _nested(dev, "vport_ops") is not None


def _fc_text(dev: NodeDeviceDef, tag: str) -> str | None:
    fc = _nested(dev, "fc_host")
    return fc.findtext(tag) if fc is not None else None


def _fc_wwns(dev: NodeDeviceDef) -> tuple[str | None, str | None] | None:
    """(WWNN, WWPN) of a fibre channel HBA, None for any other device."""
    if _nested(dev, "fc_host") is None:
        return None
    return _fc_text(dev, "wwnn"), _fc_text(dev, "wwpn")


def _vhba_from(template: NodeDeviceDef, wwnn: str, wwpn: str) -> NodeDeviceDef:
    """The test driver's pretend vHBA: *template* renamed, with the new WWNs (a template
    that is no fibre channel HBA gets its host number and unique id raised instead)."""
    elem = copy.deepcopy(template.elem)
    name = elem.find("name")
    if name is not None:
        name.text = _CREATED
    made = NodeDeviceDef(_CREATED, template.parent, elem)
    fc = _nested(made, "fc_host")
    if fc is not None:
        for tag, value in (("wwnn", wwnn), ("wwpn", wwpn)):
            node = fc.find(tag)
            if node is None:
                node = ET.SubElement(fc, tag)
            node.text = value
    else:
        host = _scsi_host(made)
        for tag in ("host", "unique_id"):
            node = host.find(tag) if host is not None else None
            if node is not None and node.text and node.text.strip().lstrip("-").isdigit():
                node.text = str(int(node.text) + 1)
    return made
