"""What libvirt 9.0 checks in a ``virNodeDeviceCreateXML`` document before the test driver
creates anything, in its order and words.

libvirt reads a new device's definition as a "new device" (the name is always that one):
devnodes, the parent (by name, by WWNN and WWPN, or by fabric WWN), then every capability
with the fields its type requires.  The test driver then wants a fibre channel HBA (a
``scsi_host`` with an ``fc_host`` capability, whose WWNN and WWPN it takes) and a parent
capable of vport operations.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final

from ..domxml import ErrCode, ErrDomain, VirtError, parse_uuid
from .xml import CAP_BITS

__all__ = ("NEW_DEVICE", "CreateSpec", "check_create")

FROM_NODEDEV: Final = 22
#: the name libvirt gives a device it is asked to create
NEW_DEVICE: Final = "new device"
_DEVNODE_TYPES: Final = ("dev", "link")
_DRM_TYPES: Final = ("primary", "control", "render")
#: capability types libvirt 9.0's parser has no case for (it names them by number)
_UNPARSED: Final = frozenset({"fc_host", "vports", "scsi_generic", "mdev_types", "vdpa",
                              "vpd"})


@dataclass(frozen=True, slots=True)
class CreateSpec:
    """What the test driver uses of a valid definition."""

    parent: str | None
    parent_wwnn: str | None
    parent_wwpn: str | None
    parent_fabric_wwn: str | None
    wwnn: str
    wwpn: str


def _internal(info: str) -> VirtError:
    return VirtError.internal_error(FROM_NODEDEV, info)


def _unsupported(info: str) -> VirtError:
    return VirtError.fmt(ErrCode.CONFIG_UNSUPPORTED, FROM_NODEDEV,
                         "unsupported configuration: %s", info)


def _prop(info: str) -> VirtError:
    return VirtError.xml_error(ErrDomain.XML, info)


def _string(elem: ET.Element, path: str) -> str | None:
    """``virXPathString("string(PATH)")``: the first match's text, None when empty."""
    if "/@" in path:
        node_path, attr = path.rsplit("/@", 1)
        node = elem.find(node_path)
        value = node.get(attr) if node is not None else None
    else:
        node = elem.find(path)
        value = "".join(node.itertext()) if node is not None else None
    return value or None


def _need_number(elem: ET.Element, path: str, what: str) -> None:
    """A numeric field (read as a string, then as C's ``strtoul`` in base 10): absent or
    empty is "no X supplied", anything but a whole number is "invalid X supplied"."""
    text = _string(elem, path)
    if text is None:
        raise _internal(f"no {what} supplied for '{NEW_DEVICE}'")
    s = text.lstrip(" \t\n\v\f\r")
    s = s[1:] if s[:1] in ("+", "-") else s
    if not s.isascii() or not s.isdigit():
        raise _internal(f"invalid {what} supplied for '{NEW_DEVICE}'")


def _need_hex(elem: ET.Element, path: str, what: str) -> None:
    """A hexadecimal id (``0x8086``) read as a string."""
    text = _string(elem, path)
    if text is None:
        raise _internal(f"no {what} supplied for '{NEW_DEVICE}'")
    s = text.lstrip(" \t\n\v\f\r")
    s = s[2:] if s[:2] in ("0x", "0X") else s
    if not s or any(c not in "0123456789abcdefABCDEF" for c in s):
        raise _internal(f"invalid {what} supplied for '{NEW_DEVICE}'")


def _need_string(elem: ET.Element, path: str, message: str) -> str:
    text = _string(elem, path)
    if text is None:
        raise _internal(f"{message} for '{NEW_DEVICE}'")
    return text


def _check_scsi_host(cap: ET.Element) -> tuple[str, str] | None:
    """The nested capabilities of a scsi_host; its (WWNN, WWPN) when it is an fc_host."""
    wwns = None
    for nested in cap.findall("capability"):
        ntype = nested.get("type")
        if ntype is None:
            raise _internal(f"missing SCSI host capability type for '{NEW_DEVICE}'")
        if ntype == "vport_ops":
            continue
        if ntype != "fc_host":
            raise _internal(f"unknown SCSI host capability type '{ntype}' for '{NEW_DEVICE}'")
        wwnn, wwpn = _string(nested, "wwnn"), _string(nested, "wwpn")
        # libvirt would make them up, but needs a virtualisation type the test driver lacks
        if wwnn is None:
            raise _internal(f"no WWNN supplied for '{NEW_DEVICE}', and auto-generation failed")
        if wwpn is None:
            raise _internal(f"no WWPN supplied for '{NEW_DEVICE}', and auto-generation failed")
        wwns = (wwnn, wwpn)
    return wwns


def _check_capability(cap: ET.Element) -> tuple[str, str] | None:
    ctype = cap.get("type")
    if ctype is None:
        raise _prop("Missing required attribute 'type' in element 'capability'")
    if ctype not in CAP_BITS:
        raise _prop(f"Invalid value for attribute 'type' in element 'capability': '{ctype}'.")
    if ctype in _UNPARSED:
        raise _internal(f"unknown capability type '{CAP_BITS.index(ctype)}' for '{NEW_DEVICE}'")
    if ctype == "scsi_host":
        return _check_scsi_host(cap)
    if ctype == "system":
        uuid = _need_string(cap, "hardware/uuid", "no system UUID supplied")
        try:
            parse_uuid(uuid)
        except ValueError:
            raise _internal(f"malformed uuid element for '{NEW_DEVICE}'") from None
    elif ctype == "pci":
        for tag in ("domain", "bus", "slot", "function"):
            _need_number(cap, tag, f"PCI {tag} ID")
        _need_hex(cap, "vendor/@id", "PCI vendor ID")
        _need_hex(cap, "product/@id", "PCI product ID")
    elif ctype == "usb_device":
        _need_number(cap, "bus", "USB bus number")
        _need_number(cap, "device", "USB device number")
        _need_hex(cap, "vendor/@id", "USB vendor ID")
        _need_hex(cap, "product/@id", "USB product ID")
    elif ctype == "usb":
        _need_number(cap, "number", "USB interface number")
        for tag in ("class", "subclass", "protocol"):
            _need_number(cap, tag, f"USB interface {tag}")
    elif ctype == "net":
        _need_string(cap, "interface", "no network interface supplied")
    elif ctype == "scsi_target":
        _need_string(cap, "target", "no target name supplied")
    elif ctype == "scsi":
        for tag, what in (("host", "host ID"), ("bus", "bus ID"), ("target", "target ID"),
                          ("lun", "LUN ID")):
            _need_number(cap, tag, f"SCSI {what}")
    elif ctype == "storage":
        _need_string(cap, "block", "no block device path supplied")
        removable = cap.find("capability[@type='removable']")
        if removable is not None:
            _need_number(removable, "media_size", "removable media size")
        else:
            _need_number(cap, "size", "size")
    elif ctype == "drm":
        drm = _string(cap, "type")
        if drm not in _DRM_TYPES:
            raise _unsupported(f"unknown drm type '{drm or '(null)'}' for '{NEW_DEVICE}'")
    elif ctype == "mdev":
        if _string(cap, "type/@id") is None:
            raise _unsupported(f"missing type id attribute for '{NEW_DEVICE}'")
    elif ctype in ("ccw", "css"):
        for tag in ("cssid", "ssid", "devno"):
            if _string(cap, tag) is None:
                raise _unsupported(f"missing {tag} value for '{NEW_DEVICE}'")
    elif ctype in ("ap_card", "ap_queue"):
        tags = ("ap-adapter",) if ctype == "ap_card" else ("ap-adapter", "ap-domain")
        for tag in tags:
            if _string(cap, tag) is None:
                raise _unsupported(f"missing {tag} value for '{NEW_DEVICE}'")
    return None


def check_create(root: ET.Element) -> CreateSpec:
    """Check a ``<device>`` to create as libvirt's parser and the test driver do.

    :raises VirtError: the first problem, in libvirt's words.
    """
    for devnode in root.findall("devnode"):
        kind = devnode.get("type")
        if kind is None:
            raise _prop("Missing required attribute 'type' in element 'devnode'")
        if kind not in _DEVNODE_TYPES:
            raise _prop(f"Invalid value for attribute 'type' in element 'devnode': '{kind}'.")
    parent = _string(root, "parent")
    wwnn, wwpn = _string(root, "parent/@wwnn"), _string(root, "parent/@wwpn")
    if wwnn is not None and wwpn is None:
        raise VirtError.xml_error(FROM_NODEDEV, f"when providing parent wwnn='{wwnn}', the "
                                                "wwpn must also be provided")
    if wwpn is not None and wwnn is None:
        raise VirtError.xml_error(FROM_NODEDEV, f"when providing parent wwpn='{wwpn}', the "
                                                "wwnn must also be provided")
    fabric = _string(root, "parent/@fabric_wwn")
    caps = root.findall("capability")
    if not caps:
        raise _internal(f"no device capabilities for '{NEW_DEVICE}'")
    found = [_check_capability(cap) for cap in caps]
    hba = next((w for w in found if w is not None), None)
    if hba is None:
        raise _internal("Device is not a fibre channel HBA")
    return CreateSpec(parent, wwnn, wwpn, fabric, *hba)
