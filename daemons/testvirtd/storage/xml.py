"""Storage pool and volume XML as libvirt 9.0's storage configuration code reads and writes
it (``storage_conf.c`` and the adapter, auth and permission helpers).

Each pool type has libvirt's options (:data:`POOL_TYPES`): which source parts it requires and
writes, its source formats and its volumes' formats.  :func:`parse_pool` and
:func:`parse_volume` make libvirt's checks in its order with its errors;
:func:`format_pool_xml` and :func:`format_volume_xml` write what ``virStoragePoolDefFormat``
and ``virStorageVolDefFormat`` write.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Final

from ..domxml import (
    ErrCode,
    ErrDomain,
    VirtError,
    esc,
    format_element,
    format_uuid,
    parse_uuid,
    random_uuid,
)
from ..netaddr import check_pci_address, pci_address_values, strtol, strtoul_p

__all__ = (
    "POOL_TYPES",
    "PoolDef",
    "PoolOptions",
    "VolDef",
    "format_pool_xml",
    "format_source_list",
    "format_volume_xml",
    "parse_pool",
    "parse_pool_source",
    "parse_volume",
    "sanitize_path",
    "scale_integer",
)

# source parts a pool type requires (and writes)
HOST: Final = 1
DEVICE: Final = 2
DIR: Final = 4
ADAPTER: Final = 8
NAME: Final = 16
INITIATOR_IQN: Final = 32
NETWORK: Final = 64

#: virStorageFileFormat names (volume formats of file-based pools; "none" is not accepted)
FILE_FORMATS: Final = ("none", "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi",
                       "fat", "vhd", "ploop", "cow", "qcow", "qcow2", "qed", "vmdk")
_DISK_VOL_FORMATS: Final = ("none", "linux", "fat16", "fat32", "linux-swap", "linux-lvm",
                            "linux-raid", "extended")
_FS_FORMATS: Final = ("auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2",
                      "vfat", "hfs+", "xfs", "ocfs2", "vmfs")
_NETFS_FORMATS: Final = ("auto", "nfs", "glusterfs", "cifs")
_DISK_FORMATS: Final = ("unknown", "dos", "dvh", "gpt", "mac", "bsd", "pc98", "sun", "lvm2")
_LOGICAL_FORMATS: Final = ("unknown", "lvm2")
_FEATURES: Final = ("lazy_refcounts", "extended_l2")


@dataclass(frozen=True)
class PoolOptions:
    """What libvirt's pool type table says of one type."""

    flags: int = 0
    #: source formats (index 0.. as libvirt's enum) and the default's index
    formats: tuple[str, ...] = ()
    default_format: int = 0
    #: volume formats (None: volumes have no format) and the default
    vol_formats: tuple[str, ...] | None = None
    vol_default: str = ""
    #: the volume type libvirt reports for this pool type (virStorageVolType)
    vol_type: int = 0


#: virStoragePoolType names in enum order, with their options
POOL_TYPES: Final[dict[str, PoolOptions]] = {
    "dir": PoolOptions(vol_formats=FILE_FORMATS, vol_default="raw"),
    "fs": PoolOptions(DEVICE, _FS_FORMATS, 0, FILE_FORMATS, "raw"),
    "netfs": PoolOptions(HOST | DIR, _NETFS_FORMATS, 0, FILE_FORMATS, "raw"),
    "logical": PoolOptions(NAME | DEVICE, _LOGICAL_FORMATS, 1, vol_type=1),
    "disk": PoolOptions(DEVICE, _DISK_FORMATS, 0, _DISK_VOL_FORMATS, "none", vol_type=1),
    "iscsi": PoolOptions(HOST | DEVICE | INITIATOR_IQN, vol_type=1),
    "iscsi-direct": PoolOptions(HOST | DEVICE | NETWORK | INITIATOR_IQN, vol_type=3),
    "scsi": PoolOptions(ADAPTER, vol_type=1),
    "mpath": PoolOptions(vol_type=1),
    "rbd": PoolOptions(HOST | NETWORK | NAME, vol_formats=FILE_FORMATS, vol_default="raw",
                       vol_type=3),
    "sheepdog": PoolOptions(HOST | NETWORK | NAME, vol_type=3),
    "gluster": PoolOptions(HOST | NETWORK | NAME | DIR, vol_formats=FILE_FORMATS,
                           vol_default="raw", vol_type=3),
    "zfs": PoolOptions(NAME | DEVICE, vol_type=1),
    "vstorage": PoolOptions(NAME, vol_formats=FILE_FORMATS, vol_default="raw"),
}

_VOL_TYPES: Final = ("file", "block", "dir", "network", "netdir", "ploop")
_NO_TARGET: Final = frozenset({"rbd", "sheepdog", "gluster", "iscsi-direct"})


# ------------------------------------------------------------------------------ errors


def _xml_error(info: str, domain: int = ErrDomain.STORAGE) -> VirtError:
    return VirtError.xml_error(domain, info)


def _unsupported(info: str) -> VirtError:
    return VirtError.fmt(ErrCode.CONFIG_UNSUPPORTED, ErrDomain.STORAGE,
                         "unsupported configuration: %s", info)


def _prop_error(attr: str, elem: str, value: str, why: str = "") -> VirtError:
    return VirtError.fmt(ErrCode.XML_ERROR, ErrDomain.XML, "XML error: %s",
                         f"Invalid value for attribute '{attr}' in element '{elem}': "
                         f"'{value}'.{why}")


def _xpath_string(elem: ET.Element | None, path: str) -> str | None:
    """``virXPathString("string(path)")``: the first match's text or attribute value; an
    empty string counts as absent."""
    if elem is None:
        return None
    if "@" in path:
        where, attr = path.rsplit("@", 1)
        node = elem.find(where.rstrip("/")) if where.rstrip("/") else elem
        value = node.get(attr) if node is not None else None
    else:
        node = elem.find(path)
        value = "".join(node.itertext()) if node is not None else None
    return value or None


# ------------------------------------------------------------------------------ values


def sanitize_path(path: str) -> str:
    """``virFileSanitizePath``: no repeated or trailing slashes (``//x`` is kept)."""
    uri = path.find("://")
    if uri >= 0 and len(path.split("/", 1)[0]) > uri:
        return path
    out = []
    i = 0
    if path.startswith("//") and not path.startswith("///"):
        out.append("//")
        i = 2
    while i < len(path):
        if path[i] != "/":
            out.append(path[i])
            i += 1
            continue
        while i < len(path) and path[i] == "/":
            i += 1
        if out and i == len(path):
            break
        out.append("/")
    return "".join(out)


def scale_integer(value: int, suffix: str | None, limit: int) -> int:
    """``virScaleInteger`` with a default scale of 1."""
    scale = 1
    if suffix:
        low = suffix.lower()
        if low not in ("b", "byte", "bytes"):
            if len(suffix) == 1 or suffix[1:].lower() == "ib":
                base = 1024
            elif suffix[1].lower() == "b" and len(suffix) == 2:
                base = 1000
            else:
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.NONE,
                                    "invalid argument: %s", f"unknown suffix '{suffix}'")
            power = "kmgtpe".find(low[0])
            if power < 0:
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.NONE,
                                    "invalid argument: %s", f"unknown suffix '{suffix}'")
            scale = base ** (power + 1)
    if value and value > limit // scale:
        raise VirtError.fmt(70, ErrDomain.NONE, "numerical overflow: %s",
                            f"value too large: {value}{suffix or ''}")
    return value * scale


def _storage_size(unit: str | None, text: str) -> int:
    value = strtoul_p(text)
    if value is None:
        raise _xml_error("malformed capacity element")
    return scale_integer(value, unit, (1 << 63) - 1)


# ------------------------------------------------------------------------------ permissions


@dataclass
class Perms:
    """``<permissions>``: mode, owner, group (None: not given) and label."""

    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    label: str | None = None

    def present(self) -> bool:
        return not (self.mode is None and self.uid is None and self.gid is None
                    and self.label is None)


def _number(text: str | None) -> float | None:
    """XPath ``number()``: NaN (None) unless the text is a plain decimal number."""
    if text is None:
        return None
    t = text.strip()
    try:
        if not t or t.lower() in ("nan", "inf", "-inf", "+inf", "infinity") or "e" in t.lower():
            return None
        return float(t)
    except ValueError:
        return None


def _parse_perms(elem: ET.Element | None) -> Perms:
    perms = Perms()
    if elem is None:
        return perms
    mode = _xpath_string(elem, "mode")
    if mode is not None:
        value = strtol(mode, base=8)
        if value is None or value & ~0o777:
            raise _xml_error("malformed octal mode")
        perms.mode = value
    for tag in ("owner", "group"):
        child = elem.find(tag)
        if child is None:
            continue
        number = _number("".join(child.itertext()))
        if number is None or number != int(number) or \
                not (0 <= number <= 0xFFFFFFFF or number == -1):
            raise _xml_error(f"malformed {tag} element")
        ident = int(number)
        setattr(perms, "uid" if tag == "owner" else "gid", None if ident in (-1, 0xFFFFFFFF)
                else ident)
    perms.label = _xpath_string(elem, "label")
    return perms


def _format_perms(perms: Perms, indent: int) -> str:
    if not perms.present():
        return ""
    pad = " " * indent
    out = [f"{pad}<permissions>\n"]
    if perms.mode is not None:
        out.append(f"{pad}  <mode>0{perms.mode:o}</mode>\n")
    if perms.uid is not None:
        out.append(f"{pad}  <owner>{_c_int(perms.uid)}</owner>\n")
    if perms.gid is not None:
        out.append(f"{pad}  <group>{_c_int(perms.gid)}</group>\n")
    if perms.label is not None:
        out.append(f"{pad}  <label>{esc(perms.label)}</label>\n")
    out.append(f"{pad}</permissions>\n")
    return "".join(out)


def _c_int(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


# ------------------------------------------------------------------------------ pool source


@dataclass
class Host:
    """``<host name= port=>``."""

    name: str
    port: int = 0


@dataclass
class Device:
    """``<device path= part_separator=>``."""

    path: str
    part_separator: str | None = None


@dataclass
class Auth:
    """``<auth>`` with its secret."""

    username: str
    type: str | None
    secret_type: str | None
    secret_uuid: bytes | None = None
    secret_usage: str | None = None

    def format(self, indent: int) -> str:
        pad = " " * indent
        if self.type is None:
            head = f"{pad}<auth username='{esc(self.username)}'>\n"
        else:
            head = f"{pad}<auth type='{self.type}' username='{esc(self.username)}'>\n"
        secret = f"{pad}  <secret"
        if self.secret_type is not None:
            secret += f" type='{self.secret_type}'"
        if self.secret_uuid is not None:
            secret += f" uuid='{format_uuid(self.secret_uuid)}'"
        elif self.secret_usage is not None:
            secret += f" usage='{esc(self.secret_usage)}'"
        return f"{head}{secret}/>\n{pad}</auth>\n"


@dataclass
class Adapter:
    """``<adapter>`` of a scsi pool (type "scsi_host" or "fc_host")."""

    type: str | None = None
    name: str | None = None
    parent_addr: tuple[int, int, int, int] | None = None
    unique_id: int = 0
    parent: str | None = None
    parent_wwnn: str | None = None
    parent_wwpn: str | None = None
    parent_fabric_wwn: str | None = None
    managed: str | None = None
    wwnn: str | None = None
    wwpn: str | None = None

    def format(self, indent: int) -> str:
        pad = " " * indent
        out = f"{pad}<adapter type='{self.type}'"
        if self.type == "fc_host":
            for attr in ("parent", "parent_wwnn", "parent_wwpn", "parent_fabric_wwn"):
                value = getattr(self, attr)
                if value is not None:
                    out += f" {attr}='{esc(value)}'"
            if self.managed is not None:
                out += f" managed='{self.managed}'"
            return out + f" wwnn='{self.wwnn}' wwpn='{self.wwpn}'/>\n"
        if self.name is not None:
            return out + f" name='{self.name}'/>\n"
        assert self.parent_addr is not None
        domain, bus, slot, function = self.parent_addr
        return (f"{out}>\n{pad}  <parentaddr unique_id='{self.unique_id}'>\n"
                f"{pad}    <address domain='0x{domain:04x}' bus='0x{bus:02x}' "
                f"slot='0x{slot:02x}' function='0x{function:x}'/>\n"
                f"{pad}  </parentaddr>\n{pad}</adapter>\n")


@dataclass
class PoolSource:
    """``<source>`` of a pool (``virStoragePoolSource``)."""

    name: str | None = None
    format: int = 0
    hosts: list[Host] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    dir: str | None = None
    adapter: Adapter = field(default_factory=Adapter)
    initiator_iqn: str | None = None
    auth: Auth | None = None
    protocol_ver: int = 0
    vendor: str | None = None
    product: str | None = None


def _parse_auth(node: ET.Element) -> Auth:
    username = node.get("username") or None
    if username is None:
        raise _xml_error("missing username for auth")
    atype = node.get("type") or None
    if atype is not None and atype not in ("chap", "ceph"):
        raise _xml_error(f"unknown auth type '{atype}'")
    secret = node.find("secret")
    if secret is None:
        raise _xml_error("Missing <secret> element in auth")
    auth = Auth(username, atype, secret.get("type"))
    uuid_text = secret.get("uuid")
    usage = secret.get("usage")
    if uuid_text is not None and usage is not None:
        raise VirtError.xml_error(ErrDomain.NONE, "either secret uuid or usage expected")
    if uuid_text is not None:
        try:
            auth.secret_uuid = parse_uuid(uuid_text)
        except ValueError:
            raise VirtError.xml_error(ErrDomain.NONE,
                                      f"invalid secret uuid '{uuid_text}'") from None
    elif usage is not None:
        auth.secret_usage = usage
    else:
        raise VirtError.xml_error(ErrDomain.NONE, "missing uuid or usage attribute")
    return auth


def _parse_pci(node: ET.Element) -> tuple[int, int, int, int]:
    values = pci_address_values(node)
    check_pci_address(values)
    return values


def _parse_adapter(node: ET.Element) -> Adapter:
    atype = node.get("type")
    adapter = Adapter()
    if atype is not None:
        if atype not in ("scsi_host", "fc_host"):
            raise _unsupported(f"Unknown pool adapter type '{atype}'")
        adapter.type = atype
        if atype == "fc_host":
            adapter.parent = node.get("parent")
            managed = node.get("managed")
            if managed is not None:
                if managed not in ("yes", "no"):
                    raise _xml_error(f"Unknown fc_host managed setting '{managed}'")
                adapter.managed = managed
            adapter.parent_wwnn = node.get("parent_wwnn")
            adapter.parent_wwpn = node.get("parent_wwpn")
            adapter.parent_fabric_wwn = node.get("parent_fabric_wwn")
            adapter.wwpn = node.get("wwpn")
            adapter.wwnn = node.get("wwnn")
        else:
            _parse_scsi_host(node, adapter)
        return adapter
    # the legacy form: a name, no type
    adapter.name = node.get("name")
    if any(node.get(a) is not None for a in ("parent", "wwnn", "wwpn", "parent_wwnn",
                                              "parent_wwpn", "parent_fabric_wwn")):
        raise _xml_error("Use of 'parent', 'parent_wwnn', 'parent_wwpn', 'parent_fabric_wwn', "
                         "'wwnn', or 'wwpn' attributes requires use of the adapter 'type'")
    if node.find("parentaddr") is not None:
        raise _xml_error("Use of 'parentaddr' element requires use of the adapter 'type'")
    if adapter.name is not None:
        adapter.type = "scsi_host"
    return adapter


def _parse_scsi_host(node: ET.Element, adapter: Adapter) -> None:
    adapter.name = node.get("name")
    parent = node.find("parentaddr")
    if parent is None:
        return
    addr = parent.find("address")
    if addr is None:
        raise _xml_error("Missing scsi_host PCI address element")
    adapter.parent_addr = _parse_pci(addr)
    unique = parent.get("unique_id")
    value = strtol(unique) if unique else None
    if value is None or value < 0:
        raise _xml_error("Missing or invalid scsi adapter 'unique_id' value")
    adapter.unique_id = value


def _valid_wwn(wwn: str) -> bool:
    digits = wwn[2:] if wwn.startswith("0x") else wwn
    return len(digits) == 16 and all(c in "0123456789abcdefABCDEF" for c in digits)


def _validate_adapter(adapter: Adapter) -> None:
    if adapter.type is None:
        raise _xml_error("missing storage pool source adapter")
    if adapter.type == "fc_host":
        if adapter.wwnn is None or adapter.wwpn is None:
            raise _xml_error("'wwnn' and 'wwpn' must be specified for adapter type 'fchost'")
        for wwn in (adapter.wwnn, adapter.wwpn):
            if not _valid_wwn(wwn):
                raise VirtError.internal_error(ErrDomain.NONE, f"Malformed wwn: {wwn}")
        if (adapter.parent_wwnn is None) != (adapter.parent_wwpn is None):
            which = "parent_wwnn" if adapter.parent_wwnn is not None else "parent_wwpn"
            raise _xml_error(f"must supply both parent_wwnn and parent_wwpn not just {which}")
        for parent_wwn in (adapter.parent_wwnn, adapter.parent_wwpn, adapter.parent_fabric_wwn):
            if parent_wwn is not None and not _valid_wwn(parent_wwn):
                raise VirtError.internal_error(ErrDomain.NONE, f"Malformed wwn: {parent_wwn}")
    elif adapter.name is None and adapter.parent_addr is None:
        raise _xml_error("Either 'name' or 'parent' must be specified for the 'scsi_host' "
                         "adapter")
    elif adapter.name is not None and adapter.parent_addr is not None:
        raise _xml_error("Both 'name' and 'parent' cannot be specified for the 'scsi_host' "
                         "adapter")


def parse_pool_source(node: ET.Element, pool_type: str) -> PoolSource:
    """``virStoragePoolDefParseSource``."""
    options = POOL_TYPES[pool_type]
    src = PoolSource(name=_xpath_string(node, "name"))
    if pool_type == "rbd" and src.name is None:
        raise _xml_error("element 'name' is mandatory for RBD pool")
    if options.formats:
        fmt = _xpath_string(node, "format/@type")
        if fmt is None:
            src.format = options.default_format
        elif fmt in options.formats:
            src.format = options.formats.index(fmt)
        else:
            raise _unsupported(f"unknown pool format type {fmt}")
    for host in node.findall("host"):
        name = host.get("name")
        if name is None:
            raise _xml_error("missing storage pool host name")
        port_text = host.get("port")
        port = 0
        if port_text is not None:
            value = strtol(port_text)
            if value is None:
                raise _prop_error("port", "host", port_text, " Expected integer value")
            port = value
        src.hosts.append(Host(name, port))
    src.initiator_iqn = _xpath_string(node, "initiator/iqn/@name")
    for dev in node.findall("device"):
        path = dev.get("path")
        if path is None:
            raise _xml_error("missing storage pool source device path")
        sep = dev.get("part_separator")
        if sep is not None and sep not in ("yes", "no"):
            raise _prop_error("part_separator", "device", sep)
        src.devices.append(Device(path, sep))
    source_dir = _xpath_string(node, "dir/@path")
    if source_dir is not None:
        src.dir = sanitize_path(source_dir)
    if src.dir is None and pool_type == "gluster":
        src.dir = "/"
    adapter = node.find("adapter")
    if adapter is not None:
        src.adapter = _parse_adapter(adapter)
    auth = node.find("auth")
    if auth is not None:
        src.auth = _parse_auth(auth)
        if src.auth.type is None:
            raise _unsupported("storage pool missing auth type")
    ver = _xpath_string(node, "protocol/@ver")
    if ver is not None:
        if src.format not in (0, 1):
            name = _NETFS_FORMATS[src.format] if src.format < len(_NETFS_FORMATS) else "(null)"
            raise _unsupported(f"storage pool protocol ver unsupported for pool type '{name}'")
        value = strtoul_p(ver, base=0, bits=32)
        if value is None:
            raise _xml_error(f"storage pool protocol ver '{ver}' is malformed")
        src.protocol_ver = value
    src.vendor = _xpath_string(node, "vendor/@name")
    src.product = _xpath_string(node, "product/@name")
    return src


def _format_source(src: PoolSource, options: PoolOptions, indent: int) -> str:
    pad = " " * indent
    out = [f"{pad}<source>\n"]
    inner = pad + "  "
    if options.flags & HOST:
        for host in src.hosts:
            line = f"{inner}<host name='{esc(host.name)}'"
            if host.port:
                line += f" port='{host.port}'"
            out.append(line + "/>\n")
    if options.flags & DEVICE:
        for dev in src.devices:
            line = f"{inner}<device path='{esc(dev.path)}'"
            if dev.part_separator is not None:
                line += f" part_separator='{dev.part_separator}'"
            out.append(line + "/>\n")
    if options.flags & DIR and src.dir is not None:
        out.append(f"{inner}<dir path='{esc(src.dir)}'/>\n")
    if options.flags & ADAPTER and src.adapter.type is not None:
        out.append(src.adapter.format(indent + 2))
    if options.flags & NAME and src.name is not None:
        out.append(f"{inner}<name>{esc(src.name)}</name>\n")
    if options.flags & INITIATOR_IQN and src.initiator_iqn is not None:
        out.append(f"{inner}<initiator>\n{inner}  <iqn name='{esc(src.initiator_iqn)}'/>\n"
                   f"{inner}</initiator>\n")
    if options.formats:
        out.append(f"{inner}<format type='{options.formats[src.format]}'/>\n")
    if src.auth is not None:
        out.append(src.auth.format(indent + 2))
    if src.protocol_ver:
        out.append(f"{inner}<protocol ver='{src.protocol_ver}'/>\n")
    if src.vendor is not None:
        out.append(f"{inner}<vendor name='{esc(src.vendor)}'/>\n")
    if src.product is not None:
        out.append(f"{inner}<product name='{esc(src.product)}'/>\n")
    out.append(f"{pad}</source>\n")
    return "".join(out)


# ------------------------------------------------------------------------------ pools


@dataclass
class PoolDef:
    """A pool definition (``virStoragePoolDef``), with the sizes the driver keeps in it."""

    name: str
    uuid: bytes
    type: str
    source: PoolSource
    path: str | None = None
    perms: Perms = field(default_factory=Perms)
    cow: str | None = None
    refresh_allocation: str | None = None
    capacity: int = 0
    allocation: int = 0
    available: int = 0

    @property
    def options(self) -> PoolOptions:
        """The pool type's options."""
        return POOL_TYPES[self.type]

    def copy(self) -> PoolDef:
        """A deep copy."""
        return copy.deepcopy(self)


def parse_pool(root: ET.Element) -> PoolDef:
    """``virStoragePoolDefParseXML``: a :class:`PoolDef` from a ``<pool>`` element."""
    ptype = root.get("type")
    if ptype is None:
        raise VirtError.fmt(ErrCode.XML_ERROR, ErrDomain.XML, "XML error: %s",
                            "Missing required attribute 'type' in element 'pool'")
    if ptype not in POOL_TYPES:
        raise _prop_error("type", "pool", ptype)
    options = POOL_TYPES[ptype]
    source_node = root.find("source")
    if source_node is not None:
        source = parse_pool_source(source_node, ptype)
    else:
        source = PoolSource(format=options.default_format if options.formats else 0)
    name = _xpath_string(root, "name")
    if name is None and options.flags & NAME:
        name = source.name
    if name is None:
        raise _xml_error("missing pool source name element")
    if "/" in name:
        raise _xml_error(f"name {name} cannot contain '/'")
    uuid_text = _xpath_string(root, "uuid")
    if uuid_text is None:
        uuid = random_uuid()
    else:
        try:
            uuid = parse_uuid(uuid_text)
        except ValueError:
            raise _xml_error("malformed uuid element") from None
    d = PoolDef(name, uuid, ptype, source)
    cow = root.find("features/cow")
    if cow is not None and cow.get("state") is not None:
        state = cow.get("state", "")
        if state not in ("yes", "no"):
            raise _prop_error("state", "cow", state)
        if ptype not in ("fs", "dir"):
            raise VirtError(ErrCode.NO_SUPPORT, ErrDomain.STORAGE,
                            "this function is not supported by the connection driver: cow "
                            "feature may only be used for 'fs' and 'dir' pools",
                            str1="this function is not supported by the connection driver: %s",
                            str2="cow feature may only be used for 'fs' and 'dir' pools")
        d.cow = state
    if options.flags & HOST and not source.hosts:
        raise _xml_error("missing storage pool source host name")
    if options.flags & DIR and source.dir is None:
        raise _xml_error("missing storage pool source path")
    if options.flags & NAME and source.name is None:
        source.name = name
    if options.flags & ADAPTER:
        _validate_adapter(source.adapter)
    if options.flags == DEVICE and not source.devices:
        raise _xml_error("missing storage pool source device name")
    if not options.flags & NETWORK:
        if ptype == "logical":
            target = f"/dev/{source.name}"
        elif ptype == "zfs":
            target = f"/dev/zvol/{source.name}"
        else:
            found = _xpath_string(root, "target/path")
            if found is None:
                raise _xml_error("missing storage pool target path")
            target = found
        d.path = sanitize_path(target)
        d.perms = _parse_perms(root.find("target/permissions"))
    if ptype == "iscsi-direct" and source.initiator_iqn is None:
        raise _unsupported("missing initiator IQN")
    allocation = _xpath_string(root, "refresh/volume/@allocation")
    if allocation is not None:
        if allocation not in ("default", "capacity"):
            raise _unsupported(f"unknown storage pool volume refresh allocation type "
                               f"{allocation}")
        d.refresh_allocation = allocation
    return d


def format_pool_xml(d: PoolDef) -> str:
    """``virStoragePoolDefFormat``: the document ``virStoragePoolGetXMLDesc`` answers."""
    out = [
        f"<pool type='{d.type}'>\n",
        f"  <name>{esc(d.name)}</name>\n",
        f"  <uuid>{format_uuid(d.uuid)}</uuid>\n",
        f"  <capacity unit='bytes'>{d.capacity % (1 << 64)}</capacity>\n",
        f"  <allocation unit='bytes'>{d.allocation % (1 << 64)}</allocation>\n",
        f"  <available unit='bytes'>{d.available % (1 << 64)}</available>\n",
    ]
    if d.cow is not None:
        out.append(f"  <features>\n    <cow state='{d.cow}'/>\n  </features>\n")
    out.append(_format_source(d.source, d.options, 2))
    if d.type not in _NO_TARGET:
        out.append("  <target>\n")
        if d.path is not None:
            out.append(f"    <path>{esc(d.path)}</path>\n")
        out.append(_format_perms(d.perms, 4))
        out.append("  </target>\n")
    if d.refresh_allocation is not None:
        out.append(f"  <refresh>\n    <volume allocation='{d.refresh_allocation}'/>\n"
                   "  </refresh>\n")
    out.append("</pool>\n")
    return "".join(out)


def format_source_list(pool_type: str, sources: list[PoolSource]) -> str:
    """``virStoragePoolSourceListFormat``: what ``virConnectFindStoragePoolSources`` answers."""
    options = POOL_TYPES[pool_type]
    body = "".join(_format_source(src, options, 2) for src in sources)
    return f"<sources>\n{body}</sources>\n"


# ------------------------------------------------------------------------------ volumes


@dataclass
class Target:
    """A volume's ``<target>`` or ``<backingStore>``."""

    path: str | None = None
    format: str | None = None
    perms: Perms = field(default_factory=Perms)
    encryption: ET.Element | None = None
    compat: str | None = None
    nocow: bool = False
    cluster_size: int = 0
    features: list[str] | None = None


@dataclass
class VolDef:
    """A volume definition (``virStorageVolDef``)."""

    name: str
    type: str = "file"
    key: str | None = None
    capacity: int = 0
    allocation: int = 0
    has_allocation: bool = False
    target: Target = field(default_factory=Target)
    backing: Target | None = None

    def copy(self) -> VolDef:
        """A deep copy."""
        return copy.deepcopy(self)


def _vol_format(options: PoolOptions, text: str | None) -> str | None:
    if options.vol_formats is None:
        return None
    if text is None:
        return options.vol_default
    formats = options.vol_formats
    if text not in formats or (formats is FILE_FORMATS and text == "none"):
        raise _unsupported(f"unknown volume format type {text}")
    return text


def parse_volume(root: ET.Element, pool_type: str) -> VolDef:
    """``virStorageVolDefParseXML``: a :class:`VolDef` for a pool of *pool_type*."""
    options = POOL_TYPES[pool_type]
    name = _xpath_string(root, "name")
    if name is None:
        raise _xml_error("missing volume name element")
    vol = VolDef(name, key=_xpath_string(root, "key"))
    vtype = _xpath_string(root, "@type")
    if vtype is not None:
        if vtype not in _VOL_TYPES:
            raise _unsupported(f"unknown volume type '{vtype}'")
        vol.type = vtype
    backing_path = _xpath_string(root, "backingStore/path")
    if backing_path is not None:
        vol.backing = Target(backing_path)
        if options.vol_formats is not None:
            vol.backing.format = _vol_format(options,
                                             _xpath_string(root, "backingStore/format/@type"))
        vol.backing.perms = _parse_perms(root.find("backingStore/permissions"))
    capacity = _xpath_string(root, "capacity")
    unit = _xpath_string(root, "capacity/@unit")
    if capacity is not None:
        vol.capacity = _storage_size(unit, capacity)
    else:
        raise _xml_error("missing capacity element")
    allocation = _xpath_string(root, "allocation")
    if allocation is not None:
        vol.allocation = _storage_size(_xpath_string(root, "allocation/@unit"), allocation)
        vol.has_allocation = True
    else:
        vol.allocation = vol.capacity
    vol.target.path = _xpath_string(root, "target/path")
    vol.target.format = _vol_format(options, _xpath_string(root, "target/format/@type"))
    vol.target.perms = _parse_perms(root.find("target/permissions"))
    enc = root.find("target/encryption")
    if enc is not None:
        vol.target.encryption = copy.deepcopy(enc)
    compat = _xpath_string(root, "target/compat")
    if compat is not None:
        major, _dot, minor = compat.partition(".")
        if not _dot or strtoul_p(major, bits=32) is None or strtoul_p(minor, bits=32) is None:
            raise _xml_error("forbidden characters in 'compat' attribute")
        vol.target.compat = compat
    vol.target.nocow = root.find("target/nocow") is not None
    cluster = root.find("target/clusterSize")
    if cluster is not None:
        text = "".join(cluster.itertext())
        value = strtoul_p(text) if text else None
        if value is None:
            raise _xml_error("could not parse element target/clusterSize")
        vol.target.cluster_size = scale_integer(value, cluster.get("unit"), (1 << 64) - 1)
    features = root.find("target/features")
    if features is not None:
        if vol.target.compat is None:
            vol.target.compat = "1.1"
        found = set()
        for feature in features:
            if feature.tag not in _FEATURES:
                raise _unsupported(f"unsupported feature {feature.tag}")
            found.add(feature.tag)
        vol.target.features = [f for f in _FEATURES if f in found]
    return vol


def _format_target(t: Target, options: PoolOptions, tag: str) -> str:
    out = [f"  <{tag}>\n"]
    if t.path is not None:
        out.append(f"    <path>{esc(t.path)}</path>\n")
    if options.vol_formats is not None and t.format is not None:
        out.append(f"    <format type='{t.format}'/>\n")
    out.append(_format_perms(t.perms, 4))
    if t.encryption is not None:
        out.append(format_element(t.encryption, 4))
    if t.compat is not None:
        out.append(f"    <compat>{esc(t.compat)}</compat>\n")
    if t.cluster_size:
        out.append(f"    <clusterSize unit='B'>{t.cluster_size}</clusterSize>\n")
    if t.features is not None:
        if not t.features:
            out.append("    <features/>\n")
        else:
            out.append("    <features>\n")
            out.extend(f"      <{f}/>\n" for f in t.features)
            out.append("    </features>\n")
    out.append(f"  </{tag}>\n")
    return "".join(out)


def format_volume_xml(vol: VolDef, pool_type: str) -> str:
    """``virStorageVolDefFormat`` for a volume of a pool of *pool_type*."""
    options = POOL_TYPES[pool_type]
    out = [f"<volume type='{vol.type}'>\n", f"  <name>{esc(vol.name)}</name>\n"]
    if vol.key is not None:
        out.append(f"  <key>{esc(vol.key)}</key>\n")
    out.append(f"  <capacity unit='bytes'>{vol.capacity}</capacity>\n")
    out.append(f"  <allocation unit='bytes'>{vol.allocation}</allocation>\n")
    out.append(_format_target(vol.target, options, "target"))
    if vol.backing is not None:
        out.append(_format_target(vol.backing, options, "backingStore"))
    out.append("</volume>\n")
    return "".join(out)
