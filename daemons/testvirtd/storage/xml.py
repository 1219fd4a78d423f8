"""Storage pool and volume XML: parsing ``<pool>``/``<volume>`` elements and formatting them
as libvirt's storage formatters do for the test driver (sizes in bytes, per-pool-type rules
for the target and for volume formats)."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Final

from ..domxml import ErrCode, ErrDomain, VirtError, format_element, parse_size
from ..domxml import _esc as esc

__all__ = (
    "POOL_TYPES",
    "PoolSpec",
    "VolumeSpec",
    "format_pool_xml",
    "format_volume_xml",
    "parse_pool",
    "parse_volume",
)

#: ``virStoragePoolType`` names.
POOL_TYPES: Final = (
    "dir", "fs", "netfs", "logical", "disk", "iscsi", "scsi", "mpath", "rbd", "sheepdog",
    "gluster", "zfs", "vstorage", "iscsi-direct",
)
#: pool types whose XML has no local target
_NO_TARGET: Final = frozenset({"rbd", "sheepdog", "gluster", "iscsi-direct"})
#: ``virStorageFileFormat`` names (volume formats of file-like pools)
_FILE_FORMATS: Final = frozenset({
    "none", "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop",
    "cow", "qcow", "qcow2", "qed", "vmdk", "luks",
})
#: ``virStorageVolFormatDisk`` names (partitions of disk pools)
_DISK_FORMATS: Final = frozenset({
    "none", "linux", "fat16", "fat32", "linux-swap", "linux-lvm", "linux-raid", "extended",
})
#: which volume formats each pool type knows (others: none)
_VOL_FORMATS: Final = {
    "dir": _FILE_FORMATS, "fs": _FILE_FORMATS, "netfs": _FILE_FORMATS,
    "gluster": _FILE_FORMATS, "rbd": _FILE_FORMATS, "vstorage": _FILE_FORMATS,
    "disk": _DISK_FORMATS,
}
_VOL_TYPES: Final = ("file", "block", "dir", "network", "netdir", "ploop")


def _strip(elem: ET.Element) -> ET.Element:
    clone = copy.deepcopy(elem)
    for node in clone.iter():
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return clone


def _size(elem: ET.Element | None, what: str) -> int | None:
    if elem is None:
        return None
    return parse_size(elem.text or "", elem.get("unit"), "bytes", ErrDomain.STORAGE)


@dataclass
class PoolSpec:
    """A parsed pool definition: what the test driver keeps of it."""

    name: str
    uuid: bytes | None
    type: str
    path: str | None
    source: ET.Element | None = None
    permissions: ET.Element | None = None


@dataclass
class VolumeSpec:
    """A parsed volume definition."""

    name: str
    type: str
    capacity: int
    allocation: int | None
    key: str | None = None
    path: str | None = None
    format: str | None = None
    permissions: ET.Element | None = None
    backing: ET.Element | None = None
    extra: list[ET.Element] = field(default_factory=list)


def _xml_error(info: str) -> VirtError:
    return VirtError.xml_error(ErrDomain.STORAGE, info)


def parse_pool(root: ET.Element) -> PoolSpec:
    """Build a :class:`PoolSpec` from a ``<pool>`` element."""
    ptype = root.get("type")
    if ptype is None:
        raise _xml_error("storage pool missing type attribute")
    if ptype not in POOL_TYPES:
        raise VirtError.fmt(ErrCode.INTERNAL_ERROR, ErrDomain.STORAGE, "internal error: %s",
                            f"unknown storage pool type {ptype}")
    name = (root.findtext("name") or "").strip()
    if not name:
        raise VirtError(ErrCode.NO_NAME, ErrDomain.STORAGE, "missing pool source name element",
                        str1="missing pool source name element")
    from ..domxml import parse_uuid

    uuid = None
    uuid_text = root.findtext("uuid")
    if uuid_text is not None:
        try:
            uuid = parse_uuid(uuid_text)
        except ValueError:
            raise _xml_error("malformed uuid element") from None
    source = _strip(root.find("source") or ET.Element("source"))
    _source_defaults(source, ptype, name)
    path = (root.findtext("target/path") or "").strip() or None
    if path is None and ptype not in _NO_TARGET:
        src_name = source.findtext("name")
        if ptype == "zfs" and src_name:
            path = f"/dev/zvol/{src_name}"
        elif ptype == "logical" and src_name:
            path = f"/dev/{src_name}"
        else:
            raise _xml_error("missing storage pool target path")
    perms = root.find("target/permissions")
    return PoolSpec(
        name=name, uuid=uuid, type=ptype, path=_sanitize_path(path) if path else None,
        source=source, permissions=_strip(perms) if perms is not None else None,
    )


#: the order in which libvirt writes a pool's source elements
_SOURCE_ORDER: Final = ("host", "device", "dir", "adapter", "initiator", "name", "format",
                        "protocol", "auth", "vendor", "product")


def _source_defaults(source: ET.Element, ptype: str, pool_name: str) -> None:
    """Fill in what libvirt's pool parser defaults and put the elements in its order."""
    if ptype == "logical":
        if source.find("name") is None:
            ET.SubElement(source, "name").text = pool_name
        if source.find("format") is None:
            ET.SubElement(source, "format", {"type": "lvm2"})
    for device in source.findall("device"):
        for extent in device.findall("freeExtent"):
            device.remove(extent)
    rank = {tag: i for i, tag in enumerate(_SOURCE_ORDER)}
    children = sorted(source, key=lambda e: rank.get(e.tag, len(rank)))
    for child in list(source):
        source.remove(child)
    source.extend(children)


def _sanitize_path(path: str) -> str:
    """libvirt's virFileSanitizePath: no repeated or trailing slashes."""
    while "//" in path:
        path = path.replace("//", "/")
    if len(path) > 1:
        path = path.rstrip("/")
    return path


def parse_volume(root: ET.Element, pool_type: str) -> VolumeSpec:
    """Build a :class:`VolumeSpec` from a ``<volume>`` element of a pool of *pool_type*."""
    name = (root.findtext("name") or "").strip()
    if not name:
        raise _xml_error("missing volume name element")
    vtype = root.get("type", "file")
    if vtype not in _VOL_TYPES:
        raise _xml_error(f"unknown volume type '{vtype}'")
    capacity = _size(root.find("capacity"), "capacity")
    if capacity is None:
        raise _xml_error("missing capacity element")
    fmt_elem = root.find("target/format")
    fmt = fmt_elem.get("type") if fmt_elem is not None else None
    known = _VOL_FORMATS.get(pool_type)
    if fmt is not None and known is not None and fmt not in known:
        raise _xml_error(f"unknown volume format type {fmt}")
    if known is None:
        fmt = None
    elif fmt is None:
        fmt = "none" if known is _DISK_FORMATS else "raw"
    perms = root.find("target/permissions")
    backing = root.find("backingStore")
    if backing is not None and known is _FILE_FORMATS:
        backing = _strip(backing)
        if backing.find("format") is None:
            ET.SubElement(backing, "format", {"type": "raw"})
    return VolumeSpec(
        name=name, type=vtype, capacity=capacity,
        allocation=_size(root.find("allocation"), "allocation"),
        key=(root.findtext("key") or "").strip() or None,
        path=(root.findtext("target/path") or "").strip() or None,
        format=fmt,
        permissions=_strip(perms) if perms is not None else None,
        backing=_strip(backing) if backing is not None else None,
    )


def _format_permissions(perms: ET.Element, indent: int) -> str:
    pad = " " * indent
    out = [f"{pad}<permissions>\n"]
    mode = perms.findtext("mode")
    if mode is not None:
        out.append(f"{pad}  <mode>{int(mode.strip(), 8):04o}</mode>\n")
    for tag in ("owner", "group"):
        value = perms.findtext(tag)
        if value is not None and value.strip() != "-1":
            out.append(f"{pad}  <{tag}>{esc(value.strip())}</{tag}>\n")
    label = perms.findtext("label")
    if label is not None:
        out.append(f"{pad}  <label>{esc(label.strip())}</label>\n")
    out.append(f"{pad}</permissions>\n")
    return "".join(out)


def format_pool_xml(
    spec: PoolSpec, uuid_text: str, capacity: int, allocation: int, available: int
) -> str:
    """The ``virStoragePoolGetXMLDesc`` document."""
    out = [
        f"<pool type='{spec.type}'>\n",
        f"  <name>{esc(spec.name)}</name>\n",
        f"  <uuid>{uuid_text}</uuid>\n",
        f"  <capacity unit='bytes'>{capacity}</capacity>\n",
        f"  <allocation unit='bytes'>{allocation}</allocation>\n",
        f"  <available unit='bytes'>{available % (1 << 64)}</available>\n",
    ]
    source = spec.source if spec.source is not None else ET.Element("source")
    if len(source) or source.attrib:
        out.append(format_element(source, 2))
    else:
        out.append("  <source>\n  </source>\n")
    if spec.type not in _NO_TARGET:
        out.append("  <target>\n")
        out.append(f"    <path>{esc(spec.path or '')}</path>\n")
        if spec.permissions is not None:
            out.append(_format_permissions(spec.permissions, 4))
        out.append("  </target>\n")
    out.append("</pool>\n")
    return "".join(out)


def format_volume_xml(spec: VolumeSpec, key: str, path: str, allocation: int) -> str:
    """The ``virStorageVolGetXMLDesc`` document."""
    out = [
        f"<volume type='{spec.type}'>\n",
        f"  <name>{esc(spec.name)}</name>\n",
        f"  <key>{esc(key)}</key>\n",
        f"  <capacity unit='bytes'>{spec.capacity}</capacity>\n",
        f"  <allocation unit='bytes'>{allocation}</allocation>\n",
        "  <target>\n",
        f"    <path>{esc(path)}</path>\n",
    ]
    if spec.format is not None:
        out.append(f"    <format type='{esc(spec.format)}'/>\n")
    if spec.permissions is not None:
        out.append(_format_permissions(spec.permissions, 4))
    out.append("  </target>\n")
    if spec.backing is not None:
        out.append(format_element(spec.backing, 2))
    out.append("</volume>\n")
    return "".join(out)
