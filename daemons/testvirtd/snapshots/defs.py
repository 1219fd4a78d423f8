"""Snapshot and checkpoint definitions: their XML as libvirt 9.0 parses and formats it
(``snapshot_conf.c``, ``checkpoint_conf.c``), and how their disks line up with the domain's.

Errors carry libvirt's codes, error domains (35 for snapshots, 69 for checkpoints) and texts.
The domain definition a snapshot or checkpoint keeps is a :class:`~..domxml.DomainDef`,
formatted inside it as an inactive domain.
"""

from __future__ import annotations

import copy
import os
import re
import stat
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Final

from ..domxml import (
    DomainDef,
    ErrCode,
    ErrDomain,
    VirtError,
    esc,
    format_domain_xml,
    format_element,
    parse_domain_xml,
    parse_xml,
)
from . import schema

__all__ = (
    "CHECKPOINT_TYPES",
    "ERR_FROM_CHECKPOINT",
    "ERR_FROM_SNAPSHOT",
    "LOC_DEFAULT",
    "LOC_EXTERNAL",
    "LOC_INTERNAL",
    "LOC_MANUAL",
    "LOC_NO",
    "SNAPSHOT_STATES",
    "STATE_DISK_SNAPSHOT",
    "STATE_SHUTOFF",
    "CheckpointDef",
    "CheckpointDisk",
    "SnapshotDef",
    "SnapshotDisk",
    "align_checkpoint_disks",
    "align_snapshot_disks",
    "assign_bitmap_names",
    "format_checkpoint",
    "format_snapshot",
    "parse_checkpoint",
    "parse_snapshot",
    "parse_snapshot_element",
)

#: virErrorDomain of snapshot_conf.c and checkpoint_conf.c
ERR_FROM_SNAPSHOT: Final = 35
ERR_FROM_CHECKPOINT: Final = 69

#: virDomainSnapshotState: virDomainState plus "disk-snapshot"
SNAPSHOT_STATES: Final = ("nostate", "running", "blocked", "paused", "shutdown", "shutoff",
                          "crashed", "pmsuspended", "disk-snapshot")
STATE_SHUTOFF: Final = 5
STATE_DISK_SNAPSHOT: Final = 8
_STATE_RUNNING: Final = 1
_STATE_PAUSED: Final = 3

#: virDomainSnapshotLocation
LOCATIONS: Final = ("default", "no", "internal", "external", "manual")
LOC_DEFAULT, LOC_NO, LOC_INTERNAL, LOC_EXTERNAL, LOC_MANUAL = range(5)

#: virStorageType and virStorageFileFormat
_STORAGE_TYPES: Final = ("none", "file", "block", "dir", "network", "volume", "nvme",
                         "vhostuser")
_FILE_FORMATS: Final = ("none", "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi",
                        "fat", "vhd", "ploop", "cow", "qcow", "qcow2", "qed", "vmdk")

#: virDomainCheckpointType
CHECKPOINT_TYPES: Final = ("default", "no", "bitmap")
_CHK_NONE, _CHK_BITMAP = 1, 2

_INTEGER = re.compile(r"\s*[+-]?[0-9]+\Z")


# --------------------------------------------------------------------------------------------
# small helpers


def _xpath_string(elem: ET.Element, path: str) -> str | None:
    """``virXPathString("string(./path)")``: the text of the first match, None when empty."""
    found = elem.find(path)
    if found is None:
        return None
    text = "".join(found.itertext())
    return text or None


def _xml_error(domain: int, text: str) -> VirtError:
    return VirtError.fmt(ErrCode.XML_ERROR, domain, "XML error: %s", text)


def _config_unsupported(domain: int, text: str) -> VirtError:
    return VirtError.fmt(ErrCode.CONFIG_UNSUPPORTED, domain, "unsupported configuration: %s",
                         text)


def _enum_attr(elem: ET.Element, name: str, values: tuple[str, ...], default: int) -> int:
    """``virXMLPropEnumDefault`` with ``VIR_XML_PROP_NONZERO`` (its errors are libvirt's
    XML module's)."""
    text = elem.get(name)
    if text is None:
        return default
    if text not in values or values.index(text) == 0:
        raise _xml_error(ErrDomain.XML, f"Invalid value for attribute '{name}' in element "
                                        f"'{elem.tag}': '{text}'.")
    return values.index(text)


def _parse_long_long(text: str | None) -> int | None:
    """``virStrToLong_ll`` in base 10: None when *text* is not a whole integer."""
    if text is None or not _INTEGER.match(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _domain_from(elem: ET.Element) -> DomainDef:
    """Parse a ``<domain>`` (or ``<inactiveDomain>``) element kept in a moment's XML."""
    node = copy.deepcopy(elem)
    node.tag = "domain"
    node.tail = None
    return parse_domain_xml(ET.tostring(node, encoding="unicode"), default_arch="i686")


def _indent(text: str, by: int) -> str:
    pad = " " * by
    return "".join(pad + line if line.strip() else line
                   for line in text.splitlines(keepends=True))


def _domain_disks(defn: DomainDef) -> list[ET.Element]:
    return [dev for dev in defn.devices if dev.tag == "disk"]


def _disk_dst(disk: ET.Element) -> str:
    target = disk.find("target")
    return target.get("dev", "") if target is not None else ""


def _disk_source(disk: ET.Element) -> str | None:
    """``virDomainDiskGetSource``: the path (or network name) of a disk's source."""
    src = disk.find("source")
    if src is None:
        return None
    for attr in ("file", "dev", "dir", "name", "volume"):
        value = src.get(attr)
        if value:
            return value
    return None


def _disk_is_empty(disk: ET.Element) -> bool:
    """``virStorageSourceIsEmpty``: a local disk without a source path."""
    if disk.get("type") == "network":
        return False
    return _disk_source(disk) is None


def _disk_by_name(defn: DomainDef, name: str) -> ET.Element | None:
    """``virDomainDiskByName(def, name, false)``: by target unless *name* is an absolute
    path, then by source path when only one disk has it."""
    candidate: ET.Element | None = None
    for disk in _domain_disks(defn):
        if not name.startswith("/"):
            if _disk_dst(disk) == name:
                return disk
        elif _disk_source(disk) == name:
            if candidate is not None:
                return None
            candidate = disk
    return candidate


def _domain_xml(defn: DomainDef, secure: bool, root: str = "domain") -> str:
    # indented by the formatter: text spanning lines is not indented again, as in libvirt
    text = format_domain_xml(defn, None, secure=secure, indent=2)
    if root != "domain":
        text = f"  <{root}" + text[len("  <domain"):]
        text = text[: -len("  </domain>\n")] + f"  </{root}>\n"
    return text


# --------------------------------------------------------------------------------------------
# snapshots


@dataclass
class SnapshotDisk:
    """One ``<disk>`` of a snapshot."""

    name: str
    snapshot: int = LOC_DEFAULT
    src_type: int = 1  # file
    path: str | None = None
    fmt: int = 0
    #: a network source as given (formatted back verbatim)
    source: ET.Element | None = None
    delete_in_progress: bool = False


@dataclass
class SnapshotDef:
    """``virDomainSnapshotDef``."""

    name: str
    description: str | None = None
    parent_name: str | None = None
    creation_time: int = 0
    state: int = 0
    memory: int = LOC_DEFAULT
    memory_file: str | None = None
    disks: list[SnapshotDisk] = field(default_factory=list)
    dom: DomainDef | None = None
    inactive_dom: DomainDef | None = None

    @property
    def is_external(self) -> bool:
        """``virDomainSnapshotDefIsExternal``."""
        return self.memory == LOC_EXTERNAL or any(d.snapshot == LOC_EXTERNAL
                                                  for d in self.disks)

    @property
    def online(self) -> bool:
        """Taken of a running or paused domain."""
        return self.state in (_STATE_RUNNING, _STATE_PAUSED)


def _parse_snapshot_disk(elem: ET.Element, redefine: bool) -> SnapshotDisk:
    dom = ERR_FROM_SNAPSHOT
    name = elem.get("name")
    if name is None:
        raise VirtError.internal_error(dom, "missing name from disk snapshot element")
    location = _enum_attr(elem, "snapshot", LOCATIONS, LOC_DEFAULT)
    src_type = _enum_attr(elem, "type", _STORAGE_TYPES, 1)
    if _STORAGE_TYPES[src_type] in ("volume", "dir"):
        raise _xml_error(dom, f"unsupported disk snapshot type '{_STORAGE_TYPES[src_type]}'")
    disk = SnapshotDisk(name=name, snapshot=location, src_type=src_type)
    if redefine:
        disk.delete_in_progress = elem.find("snapshotDeleteInProgress") is not None
    source = elem.find("source")
    if source is not None:
        kind = _STORAGE_TYPES[src_type]
        if kind == "file":
            disk.path = source.get("file")
        elif kind == "block":
            disk.path = source.get("dev")
        else:
            disk.source = copy.deepcopy(source)
            disk.path = source.get("name")
    driver = elem.find("driver")
    driver_type = driver.get("type") if driver is not None else None
    if driver_type:
        if driver_type not in _FILE_FORMATS or _FILE_FORMATS.index(driver_type) <= 0:
            raise VirtError.fmt(ErrCode.CONFIG_UNSUPPORTED, dom,
                                "unsupported configuration: %s",
                                f"unknown disk snapshot driver '{driver_type}'")
        disk.fmt = _FILE_FORMATS.index(driver_type)
    if (_STORAGE_TYPES[src_type] in ("file", "block") and disk.path
            and not disk.path.startswith("/")):
        raise _xml_error(dom, f"disk snapshot image path '{disk.path}' must be absolute")
    if disk.snapshot == LOC_DEFAULT and (disk.path or disk.fmt):
        disk.snapshot = LOC_EXTERNAL
    return disk


def parse_snapshot_element(root: ET.Element, *, redefine: bool,
                           internal: bool = False) -> tuple[SnapshotDef, bool]:
    """``virDomainSnapshotDefParse`` of a parsed ``<domainsnapshot>``.

    :param redefine: ``VIR_DOMAIN_SNAPSHOT_PARSE_REDEFINE`` (creation time, state, parent
        and domain come from the XML).
    :param internal: ``VIR_DOMAIN_SNAPSHOT_PARSE_INTERNAL`` (node files: ``<active>`` says
        whether it is the current snapshot).
    :returns: the definition and, with *internal*, whether it is current.
    """
    dom = ERR_FROM_SNAPSHOT
    name = _xpath_string(root, "name")
    if name is None and redefine:
        raise _xml_error(dom, "a redefined snapshot must have a name")
    defn = SnapshotDef(name=name or "", description=_xpath_string(root, "description"))
    offline = False
    if redefine:
        creation = _parse_long_long(_xpath_string(root, "creationTime"))
        if creation is None:
            raise VirtError.internal_error(dom, "missing creationTime from existing snapshot")
        defn.creation_time = creation
        defn.parent_name = _xpath_string(root, "parent/name")
        state = _xpath_string(root, "state")
        if state is None:
            raise _xml_error(dom, "missing state from existing snapshot")
        if state not in SNAPSHOT_STATES or SNAPSHOT_STATES.index(state) <= 0:
            raise _config_unsupported(dom, f"Invalid state '{state}' in domain snapshot XML")
        defn.state = SNAPSHOT_STATES.index(state)
        offline = defn.state in (STATE_SHUTOFF, STATE_DISK_SNAPSHOT)
        domain = root.find("domain")
        if domain is not None and domain.get("type"):
            defn.dom = _domain_from(domain)
        inactive = root.find("inactiveDomain")
        if inactive is not None:
            defn.inactive_dom = _domain_from(inactive)
    else:
        defn.creation_time = int(time.time())
        if not defn.name:
            defn.name = str(defn.creation_time)

    memory = root.find("memory")
    if memory is not None:
        defn.memory_file = memory.get("file")
        defn.memory = _enum_attr(memory, "snapshot", LOCATIONS, LOC_DEFAULT)
        if defn.memory == LOC_MANUAL:
            raise _xml_error(dom, "'manual' memory snapshot mode not supported")
    if defn.memory == LOC_DEFAULT:
        if defn.memory_file:
            defn.memory = LOC_EXTERNAL
        elif redefine:
            defn.memory = LOC_NO if offline else LOC_INTERNAL
    if defn.memory_file and defn.memory != LOC_EXTERNAL:
        raise _xml_error(dom, f"memory filename '{defn.memory_file}' requires external "
                              "snapshot")
    if not defn.memory_file and defn.memory == LOC_EXTERNAL:
        raise _xml_error(dom, "external memory snapshots require a filename")
    if offline and defn.memory not in (LOC_DEFAULT, LOC_NO):
        raise _xml_error(dom, "memory state cannot be saved with offline or disk-only "
                              "snapshot")
    if defn.memory_file and not defn.memory_file.startswith("/"):
        raise _xml_error(dom, f"memory snapshot file path ({defn.memory_file}) must be "
                              "absolute")

    disks = root.find("disks")
    if disks is not None:
        defn.disks = [_parse_snapshot_disk(d, redefine) for d in disks]

    current = False
    if internal:
        active = _parse_long_long(_xpath_string(root, "active"))
        if active is None or not -(2**31) <= active < 2**31:
            raise VirtError.internal_error(dom, "Could not find 'active' element")
        current = active != 0
    return defn, current


def parse_snapshot(xml: str | bytes, *, redefine: bool, validate: bool = False) -> SnapshotDef:
    """``virDomainSnapshotDefParseString`` of a client's ``<domainsnapshot>`` (*validate*:
    against libvirt's schema, as ``VIR_DOMAIN_SNAPSHOT_PARSE_VALIDATE``)."""
    root = parse_xml(xml, "domainsnapshot", context="domain_snapshot",
                     err_domain=ERR_FROM_SNAPSHOT)
    if validate:
        schema.validate(xml, "domainsnapshot")
    return parse_snapshot_element(root, redefine=redefine)[0]


def _assign_external_names(defn: SnapshotDef, domdef: DomainDef) -> None:
    """``virDomainSnapshotDefAssignExternalNames``: ``<source>.<snapshot name>`` for each
    external disk without a file, if its source is a regular file."""
    dom_disks = _domain_disks(domdef)
    for i, disk in enumerate(defn.disks):
        if disk.snapshot != LOC_EXTERNAL or disk.path:
            continue
        if _STORAGE_TYPES[disk.src_type] != "file":
            raise _config_unsupported(
                ERR_FROM_SNAPSHOT, f"cannot generate external snapshot name for disk "
                f"'{disk.name}' on a '{_STORAGE_TYPES[disk.src_type]}' device")
        origin = _disk_source(dom_disks[i]) if i < len(dom_disks) else None
        if origin is None:
            raise _config_unsupported(
                ERR_FROM_SNAPSHOT,
                f"cannot generate external snapshot name for disk '{disk.name}' without source")
        try:
            regular = stat.S_ISREG(os.stat(origin).st_mode)
        except OSError:
            regular = False
        if not regular:
            raise _config_unsupported(
                ERR_FROM_SNAPSHOT, f"source for disk '{disk.name}' is not a regular file; "
                "refusing to generate external snapshot name")
        base = origin
        dot = base.rfind(".")
        if dot >= 0 and "/" not in base[dot:]:
            base = base[:dot]
        disk.path = f"{base}.{defn.name}"
        for other in defn.disks[:i]:
            if other.path == disk.path:
                raise _config_unsupported(
                    ERR_FROM_SNAPSHOT, f"cannot generate external snapshot name for disk "
                    f"'{disk.name}': collision with disk '{other.name}'")


def align_snapshot_disks(defn: SnapshotDef, existing: DomainDef | None, default: int,
                         uniform_internal: bool) -> None:
    """``virDomainSnapshotAlignDisks``: one entry per domain disk, in the domain's order,
    requested ones checked, the others given defaults; external file names generated."""
    dom = ERR_FROM_SNAPSHOT
    domdef = defn.dom or existing
    if domdef is None:
        raise VirtError.internal_error(dom, "missing domain in snapshot")
    dom_disks = _domain_disks(domdef)
    if len(defn.disks) > len(dom_disks):
        raise _config_unsupported(dom, "too many disk snapshot requests for domain")
    require_match = uniform_internal and default == LOC_INTERNAL
    if not dom_disks:
        return
    by_dst: dict[str, SnapshotDisk] = {}
    for disk in defn.disks:
        domdisk = _disk_by_name(domdef, disk.name)
        if domdisk is None:
            raise _config_unsupported(dom, f"no disk named '{disk.name}'")
        dst = _disk_dst(domdisk)
        if dst in by_dst:
            raise _config_unsupported(dom, f"disk '{disk.name}' specified twice")
        by_dst[dst] = disk
        dom_location = _disk_location(domdisk)
        if disk.snapshot == LOC_DEFAULT:
            if dom_location != LOC_DEFAULT and (not require_match or dom_location == LOC_NO):
                disk.snapshot = dom_location
            else:
                disk.snapshot = default
        elif (require_match and disk.snapshot != default
              and not (disk.snapshot == LOC_NO and dom_location == LOC_NO)):
            raise _config_unsupported(dom, f"disk '{disk.name}' must use snapshot mode "
                                           f"'{LOCATIONS[default]}'")
        if disk.path and disk.snapshot != LOC_EXTERNAL:
            raise _config_unsupported(dom, f"file '{disk.path}' for disk '{disk.name}' "
                                           "requires use of external snapshot mode")
        disk.name = dst
    aligned = []
    for domdisk in dom_disks:
        dst = _disk_dst(domdisk)
        if dst in by_dst:
            aligned.append(by_dst[dst])
            continue
        location = LOC_NO if _disk_is_empty(domdisk) else _disk_location(domdisk)
        aligned.append(SnapshotDisk(name=dst, snapshot=location or default))
    defn.disks = aligned
    _assign_external_names(defn, domdef)


def _disk_location(disk: ET.Element) -> int:
    """A domain disk's ``snapshot`` attribute (its default snapshot location); libvirt
    makes it "no" for read-only disks that do not say."""
    value = disk.get("snapshot")
    if value in LOCATIONS:
        return LOCATIONS.index(value)
    return LOC_NO if disk.find("readonly") is not None else LOC_DEFAULT


def _format_snapshot_disk(disk: SnapshotDisk) -> str:
    attrs = f" name='{esc(disk.name)}'"
    if disk.snapshot > 0:
        attrs += f" snapshot='{LOCATIONS[disk.snapshot]}'"
    children: list[str] = []
    if disk.delete_in_progress:
        children.append("      <snapshotDeleteInProgress/>\n")
    if disk.path or disk.fmt:
        attrs += f" type='{_STORAGE_TYPES[disk.src_type]}'"
        if disk.fmt > 0:
            children.append(f"      <driver type='{_FILE_FORMATS[disk.fmt]}'/>\n")
        kind = _STORAGE_TYPES[disk.src_type]
        if disk.source is not None:
            children.append(format_element(disk.source, 6))
        elif kind == "block":
            children.append(f"      <source dev='{esc(disk.path or '')}'/>\n")
        else:
            source = f" file='{esc(disk.path)}'" if disk.path else ""
            children.append(f"      <source{source}/>\n")
    if not children:
        return f"    <disk{attrs}/>\n"
    return f"    <disk{attrs}>\n{''.join(children)}    </disk>\n"


def format_snapshot(defn: SnapshotDef, domain_uuid: str | None, *, secure: bool = False,
                    internal: bool = False, current: bool = False) -> str:
    """``virDomainSnapshotDefFormat``: the XML ``virDomainSnapshotGetXMLDesc`` returns.

    :param domain_uuid: shown as ``<domain><uuid>`` when the snapshot keeps no domain.
    :param internal: add ``<active>`` (*current*), as libvirt stores snapshots.
    """
    out = ["<domainsnapshot>\n", f"  <name>{esc(defn.name)}</name>\n"]
    if defn.description is not None:
        out.append(f"  <description>{esc(defn.description)}</description>\n")
    if defn.state:
        out.append(f"  <state>{SNAPSHOT_STATES[defn.state]}</state>\n")
    if defn.parent_name is not None:
        out.append(f"  <parent>\n    <name>{esc(defn.parent_name)}</name>\n  </parent>\n")
    if defn.creation_time:
        out.append(f"  <creationTime>{defn.creation_time}</creationTime>\n")
    if defn.memory:
        file_attr = f" file='{esc(defn.memory_file)}'" if defn.memory_file else ""
        out.append(f"  <memory snapshot='{LOCATIONS[defn.memory]}'{file_attr}/>\n")
    if defn.disks:
        out.append("  <disks>\n")
        out.extend(_format_snapshot_disk(d) for d in defn.disks)
        out.append("  </disks>\n")
    if defn.dom is not None:
        out.append(_domain_xml(defn.dom, secure))
    elif domain_uuid is not None:
        out.append(f"  <domain>\n    <uuid>{domain_uuid}</uuid>\n  </domain>\n")
    if defn.inactive_dom is not None:
        out.append(_domain_xml(defn.inactive_dom, secure, "inactiveDomain"))
    if internal:
        out.append(f"  <active>{int(current)}</active>\n")
    out.append("</domainsnapshot>\n")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# checkpoints


@dataclass
class CheckpointDisk:
    """One ``<disk>`` of a checkpoint."""

    name: str | None
    type: int = _CHK_BITMAP
    bitmap: str | None = None


@dataclass
class CheckpointDef:
    """``virDomainCheckpointDef``."""

    name: str
    description: str | None = None
    parent_name: str | None = None
    creation_time: int = 0
    disks: list[CheckpointDisk] = field(default_factory=list)
    dom: DomainDef | None = None


def parse_checkpoint(xml: str | bytes, *, redefine: bool) -> CheckpointDef:
    """``virDomainCheckpointDefParseString`` (always validated against libvirt's schema)."""
    dom = ERR_FROM_CHECKPOINT
    root = parse_xml(xml, "domaincheckpoint", context="domain_checkpoint", err_domain=dom)
    schema.validate(xml, "domaincheckpoint")
    name = _xpath_string(root, "name")
    if name is None and redefine:
        raise _xml_error(dom, "a redefined checkpoint must have a name")
    defn = CheckpointDef(name=name or "", description=_xpath_string(root, "description"))
    if redefine:
        creation = _parse_long_long(_xpath_string(root, "creationTime"))
        if creation is None:
            raise VirtError.internal_error(dom, "missing creationTime from existing checkpoint")
        defn.creation_time = creation
        defn.parent_name = _xpath_string(root, "parent/name")
        domain = root.find("domain")
        if domain is not None:
            defn.dom = _domain_from(domain)
    else:
        defn.creation_time = int(time.time())
        if not defn.name:
            defn.name = str(defn.creation_time)
    disks = root.find("disks")
    for elem in disks if disks is not None else ():
        kind = elem.get("checkpoint")
        defn.disks.append(CheckpointDisk(
            name=elem.get("name"),
            type=CHECKPOINT_TYPES.index(kind) if kind in CHECKPOINT_TYPES else _CHK_BITMAP,
            bitmap=elem.get("bitmap"),
        ))
    return defn


def assign_bitmap_names(defn: CheckpointDef) -> None:
    """``virDomainCheckpointDefAssignBitmapNames``: bitmaps named after the checkpoint."""
    for disk in defn.disks:
        if disk.type == _CHK_BITMAP and not disk.bitmap:
            disk.bitmap = defn.name


def align_checkpoint_disks(defn: CheckpointDef) -> None:
    """``virDomainCheckpointAlignDisks``: one entry per domain disk; without ``<disks>``
    every writable disk gets a bitmap."""
    dom = ERR_FROM_CHECKPOINT
    domdef = defn.dom
    if domdef is None:
        raise VirtError.internal_error(dom, "missing domain in checkpoint")
    dom_disks = _domain_disks(domdef)
    if len(defn.disks) > len(dom_disks):
        raise _config_unsupported(dom, "too many disk checkpoint requests for domain")
    if not dom_disks:
        raise _config_unsupported(dom, "domain must have at least one disk to perform "
                                       "checkpoints")
    default = _CHK_BITMAP if not defn.disks else 0
    by_dst: dict[str, CheckpointDisk] = {}
    for disk in defn.disks:
        domdisk = _disk_by_name(domdef, disk.name or "")
        if domdisk is None:
            raise _config_unsupported(dom, f"no disk named '{disk.name}'")
        dst = _disk_dst(domdisk)
        if dst in by_dst:
            raise _config_unsupported(dom, f"disk '{disk.name}' specified twice")
        by_dst[dst] = disk
        if ((_disk_is_empty(domdisk) or domdisk.find("readonly") is not None)
                and disk.type != _CHK_NONE):
            raise _config_unsupported(dom, f"disk '{disk.name}' is empty or readonly")
        disk.name = dst
    aligned = []
    for domdisk in dom_disks:
        dst = _disk_dst(domdisk)
        if dst in by_dst:
            aligned.append(by_dst[dst])
            continue
        skip = _disk_is_empty(domdisk) or domdisk.find("readonly") is not None
        aligned.append(CheckpointDisk(name=dst, type=_CHK_NONE if skip else default))
    defn.disks = aligned
    assign_bitmap_names(defn)


def format_checkpoint(defn: CheckpointDef, *, secure: bool = False,
                      no_domain: bool = False) -> str:
    """``virDomainCheckpointDefFormat``: what ``virDomainCheckpointGetXMLDesc`` returns."""
    out = ["<domaincheckpoint>\n", f"  <name>{esc(defn.name)}</name>\n"]
    if defn.description is not None:
        out.append(f"  <description>{esc(defn.description)}</description>\n")
    if defn.parent_name is not None:
        out.append(f"  <parent>\n    <name>{esc(defn.parent_name)}</name>\n  </parent>\n")
    if defn.creation_time:
        out.append(f"  <creationTime>{defn.creation_time}</creationTime>\n")
    named = [d for d in defn.disks if d.name is not None]
    if defn.disks:
        out.append("  <disks>\n")
        for disk in named:
            attrs = f" name='{esc(disk.name or '')}'"
            if disk.type:
                attrs += f" checkpoint='{CHECKPOINT_TYPES[disk.type]}'"
            if disk.bitmap:
                attrs += f" bitmap='{esc(disk.bitmap)}'"
            out.append(f"    <disk{attrs}/>\n")
        out.append("  </disks>\n")
    if defn.dom is not None and not no_domain:
        out.append(_domain_xml(defn.dom, secure))
    out.append("</domaincheckpoint>\n")
    return "".join(out)
