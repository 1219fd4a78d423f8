"""Which devices a domain definition holds once libvirt has parsed it.

libvirt's domain post-parse fills in what a definition leaves out: implicit controllers
for the disks, consoles and smartcards that need them, the console that stands for the
first serial port, a video device for graphics, drive addresses, indexes and ports.
:func:`normalise_devices` does the same to the ``<devices>`` children of a definition
(element trees, as :mod:`.domxml` keeps them) and returns them in the order libvirt's
formatter writes them.  How each element is written is :mod:`.domxml`'s business.
"""

from __future__ import annotations

import bisect
import copy
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from .domcanon import (
    ADDRESS_TYPES,
    KINDS,
    attribute_problem,
    c_number,
    video_default_ram,
    video_memory,
)
from .domsections import prop_enum, prop_uint, scaled_value, tristate
from .domxml import ErrCode, ErrDomain, VirtError, memory_kib, random_mac

__all__ = ("DEVICE_ORDER", "disk_index", "memory_device_kib", "normalise_devices")

#: Device ordering of libvirt's formatter (devices are grouped by kind in this order).
DEVICE_ORDER = (
    "emulator",
    "disk",
    "controller",
    "lease",
    "filesystem",
    "interface",
    "smartcard",
    "serial",
    "parallel",
    "console",
    "channel",
    "input",
    "tpm",
    "graphics",
    "sound",
    "audio",
    "video",
    "hostdev",
    "redirdev",
    "redirfilter",
    "hub",
    "watchdog",
    "memballoon",
    "rng",
    "nvram",
    "panic",
    "shmem",
    "memory",
    "iommu",
    "vsock",
)
_DEVICE_RANK = {name: i for i, name in enumerate(DEVICE_ORDER)}
#: the order in which libvirt's parser reads the device kinds (not quite the formatter's)
_PARSE_ORDER = (
    "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
    "parallel", "console", "channel", "input", "graphics", "sound", "audio", "video",
    "hostdev", "watchdog", "memballoon", "rng", "tpm", "nvram", "hub", "redirdev",
    "redirfilter", "panic", "shmem", "memory", "iommu", "vsock",
)
_PARSE_RANK = {name: i for i, name in enumerate(_PARSE_ORDER)}
_CTRL_RANK = _PARSE_RANK["controller"]



@dataclass(frozen=True)
class _Guest:
    """What the defaults depend on: the domain's virtualisation type, OS type and arch."""

    virt_type: str
    os_type: str
    arch: str
    #: how many guest NUMA nodes (``<cpu><numa>`` cells) the domain has
    numa_nodes: int = 0

    @property
    def hvm(self) -> bool:
        return self.os_type == "hvm"

    @property
    def x86(self) -> bool:
        return self.arch in ("i686", "x86_64")


def normalise_devices(
    devices: list[ET.Element], *, virt_type: str, os_type: str, arch: str,
    os_boot: bool = False, after_reading: Callable[[], None] | None = None,
    before_validation: Callable[[], None] | None = None,
    validate_definition: Callable[[], None] | None = None, numa_nodes: int = 0,
) -> list[ET.Element]:
    """Apply the defaults libvirt fills in for *devices* (whitespace-free copies, changed in
    place) of a domain of *virt_type* with OS type *os_type* on *arch*; return them in the
    order libvirt's formatter writes them.

    :param after_reading: the checks of what libvirt reads after the devices and before
        its post-parse steps.
    :param before_validation: the checks of the definition libvirt makes after its
        post-parse steps, before it validates the devices.
    :param validate_definition: the checks of the definition libvirt makes among those of
        the device set (after the disks', before the videos').
    :param numa_nodes: how many guest NUMA nodes the domain has (memory devices name one).
    :raises VirtError: where libvirt refuses the devices, with its code and text.
    """
    guest = _Guest(virt_type, os_type, arch, numa_nodes)
    # libvirt 9.0 does not know <crypto>: it is neither read nor written back
    devices = [dev for dev in devices if dev.tag != "crypto"]
    _parse_checks(devices, guest)
    if after_reading is not None:
        after_reading()
    kinds: dict[str, list[ET.Element]] = {}
    for dev in devices:
        group = kinds.setdefault(dev.tag, [])
        if dev.tag == "disk":
            _insert_sorted(group, dev, _disk_parse_key)
        elif dev.tag == "controller":
            _insert_sorted(group, dev, _controller_key, unset_last=True)
        elif dev.tag == "video" and _is_primary(dev) and not any(map(_is_primary, group)):
            group.insert(0, dev)  # the primary video comes first
        else:
            group.append(dev)
    for dev in devices:
        _canonical_source_address(dev)
    _early_scsi_hostdev_controllers(kinds)
    # the post-parse steps, in libvirt's order: the devices' own first, then the
    # controllers still without an index get one
    _assign_isa_serial_ports(kinds.get("serial", []))
    _device_post_parse(kinds, guest)
    _assign_controller_indexes(kinds.get("controller", []))
    _reject_duplicate_controllers(kinds.get("controller", []))
    _reject_duplicate_panics(kinds.get("panic", []))
    if guest.hvm:
        _check_boot_order(kinds, os_boot)
    _console_compatibility(kinds, guest)
    _implicit_controllers(kinds)
    _implicit_video(kinds, guest)
    _primary_video(kinds, guest)
    if before_validation is not None:
        before_validation()
    _validate(kinds, guest, validate_definition)
    for dev in kinds.get("input", []):
        if dev.get("bus") == "none":
            del dev.attrib["bus"]  # libvirt writes no bus rather than 'none'
    # a panic device of the default model with nothing else to say is not written
    kinds["panic"] = [p for p in kinds.get("panic", []) if p.get("model") or len(p)]
    out: list[ET.Element] = []
    for tag in sorted(kinds, key=lambda t: _DEVICE_RANK.get(t, len(_DEVICE_RANK))):
        out.extend(kinds[tag])
    return out


# --------------------------------------------------------------------------------------------
# what libvirt's parser refuses

_CONTROLLER_TYPES = frozenset({"ide", "fdc", "scsi", "sata", "virtio-serial", "ccid", "usb",
                               "pci", "xenbus", "isa"})
#: the models libvirt knows per controller type (types absent here take no model)
_CONTROLLER_MODELS: dict[str, frozenset[str]] = {
    "ide": frozenset({"piix3", "piix4", "ich6"}),
    "scsi": frozenset({"auto", "buslogic", "lsilogic", "lsisas1068", "vmpvscsi", "ibmvscsi",
                       "virtio-scsi", "lsisas1078", "virtio-transitional",
                       "virtio-non-transitional", "ncr53c90", "am53c974", "dc390"}),
    "usb": frozenset({"piix3-uhci", "piix4-uhci", "ehci", "ich9-ehci1", "ich9-uhci1",
                      "ich9-uhci2", "ich9-uhci3", "vt82c686b-uhci", "pci-ohci", "nec-xhci",
                      "qusb1", "qusb2", "qemu-xhci", "none"}),
    "pci": frozenset({"pci-root", "pcie-root", "pci-bridge", "dmi-to-pci-bridge",
                      "pcie-to-pci-bridge", "pcie-root-port", "pcie-switch-upstream-port",
                      "pcie-switch-downstream-port", "pci-expander-bus", "pcie-expander-bus"}),
    "virtio-serial": frozenset({"virtio", "virtio-transitional", "virtio-non-transitional"}),
}
_DISK_BUSES = frozenset({"ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd"})
_INPUT_TYPES = frozenset({"mouse", "tablet", "keyboard", "passthrough", "evdev"})
_INPUT_BUSES = frozenset({"ps2", "usb", "xen", "parallels", "virtio", "none"})
_CHR_TYPES = frozenset({"null", "vc", "pty", "dev", "file", "pipe", "stdio", "udp", "tcp",
                        "unix", "spicevmc", "spiceport", "nmdm", "qemu-vdagent", "dbus"})
_CHR_TAGS = ("serial", "parallel", "console", "channel")
_CHR_TARGET_TYPES = {
    "serial": frozenset({"isa-serial", "usb-serial", "pci-serial", "spapr-vio-serial",
                         "system-serial", "sclp-serial", "isa-debug"}),
    "console": frozenset({"serial", "xen", "uml", "virtio", "lxc", "openvz", "sclp",
                          "sclplm"}),
    "channel": frozenset({"guestfwd", "virtio", "xen"}),
}
_INT_MAX = 2**31 - 1
_UINT_MAX = 2**32 - 1
#: MAC addresses as libvirt reads them: six hex bytes (one or two digits) split by ':'
_MAC = re.compile(r"[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2}){5}")


def _bad_attr(attr: str, elem: str, value: str, expected: str = "") -> VirtError:
    """libvirt's XML layer on an attribute value it cannot read."""
    text = f"Invalid value for attribute '{attr}' in element '{elem}': '{value}'."
    if expected:
        text += f" Expected {expected}"
    return VirtError.xml_error(ErrDomain.XML, text)


#: the devices whose parsers read an address (libvirt ignores one elsewhere)
_ADDRESSED = frozenset({
    "disk", "controller", "filesystem", "interface", "smartcard", "serial", "parallel",
    "console", "channel", "input", "sound", "video", "hostdev", "redirdev", "watchdog",
    "memballoon", "rng", "tpm", "nvram", "hub", "panic", "shmem", "memory", "iommu", "vsock",
})
#: devices libvirt reads without an address (and so does not write one)
_UNADDRESSED = frozenset({"graphics", "audio", "redirfilter", "lease"})


def _check_address(dev: ET.Element) -> None:
    """Read a device's address as libvirt does: its type first, then that type's
    attributes (:data:`_ADDRESS_READERS`); the address is left as libvirt writes it."""
    if dev.tag in _UNADDRESSED:
        for ignored in dev.findall("address"):
            dev.remove(ignored)
    addr = dev.find("address") if dev.tag in _ADDRESSED else None
    if addr is None:
        return
    atype = addr.get("type")
    if atype is None:
        raise VirtError.internal_error(ErrDomain.DOMAIN, "No type specified for device address")
    if atype == "virtio-s390":
        raise VirtError.xml_error(ErrDomain.DOMAIN, "virtio-s390 bus doesn't have an address")
    if atype not in ADDRESS_TYPES:
        raise _unsupported(f"unknown address type '{atype}'")
    attrs, check = _ADDRESS_READERS.get(atype, ((), None))
    values = {a.name: a.read(addr, a.name) for a in attrs}  # (in libvirt's reading order)
    if check is not None:
        check(addr, values)
    # what libvirt does not read, it does not write
    for name in [k for k in addr.attrib if k != "type"]:
        del addr.attrib[name]
    for child in [c for c in addr if atype != "pci" or c.tag != "zpci"]:
        addr.remove(child)
    for a in attrs:
        if a.name not in values:
            continue  # (the check dropped it)
        value = 0 if values[a.name] is None and a.when == "always" else values[a.name]
        if value is not None and (a.when != "set" or value):
            addr.set(a.name, a.write(value))
    if atype != "usb":
        # the devices of a USB bus take no other address
        target = dev.find("target")
        if ((dev.tag == "input" and dev.get("bus") == "usb")
                or (dev.tag == "redirdev" and dev.get("bus", "usb") == "usb")):
            raise VirtError.xml_error(ErrDomain.DOMAIN, "Invalid address for a USB device")
        if dev.tag == "serial" and target is not None and target.get("type") == "usb-serial":
            raise _unsupported("usb-serial requires address of usb type")


def _disk_source_name(disk: ET.Element) -> str | None:
    source = disk.find("source")
    attr = _DISK_SOURCE_ATTR.get(disk.get("type", "file"))
    if source is None or attr is None:
        return None
    return source.get(attr) or None


def _hostdev_key(dev: ET.Element) -> tuple[str | int | None, ...] | None:
    """What tells a host device (or an interface of type hostdev) from the others: its
    source (None: nothing libvirt compares)."""
    source = dev.find("source")
    if source is None:
        return None
    htype = "pci" if dev.tag == "interface" else dev.get("type")
    addr = source.find("address")
    if htype == "pci" and addr is not None:
        return ("pci", *(_c_uint(addr.get(a, "0")) for a in ("domain", "bus", "slot",
                                                               "function")))
    if htype == "usb":
        vendor, product = source.find("vendor"), source.find("product")
        return ("usb", vendor.get("id") if vendor is not None else None,
                product.get("id") if product is not None else None,
                addr.get("bus") if addr is not None else None,
                addr.get("device") if addr is not None else None)
    if htype == "scsi" and addr is not None:
        adapter = source.find("adapter")
        return ("scsi", adapter.get("name") if adapter is not None else None,
                *(_c_uint(addr.get(a, "0")) for a in ("bus", "target", "unit")))
    return None


def _parse_checks(devices: list[ET.Element], guest: _Guest) -> None:
    """Refuse what libvirt's parser refuses as it reads the devices (kind by kind, as it
    reads them), and fill in the types it defaults."""
    by_kind = sorted(devices, key=lambda d: _PARSE_RANK.get(d.tag, len(_PARSE_RANK)))
    singles = {tag: sum(d.tag == tag for d in devices)
               for tag in ("memballoon", "watchdog", "redirfilter")}
    usbs = [d for d in by_kind if d.tag == "controller" and d.get("type") == "usb"]
    usb_none = any(d.get("model") == "none" for d in usbs)
    seen_usbs: list[ET.Element] = []
    masters_checked = False
    hostdevs: set[tuple[str | int | None, ...] | None] = set()
    for dev in by_kind:
        if not masters_checked and _PARSE_RANK.get(dev.tag, len(_PARSE_RANK)) > _CTRL_RANK:
            _check_usb_masters(usbs)  # once every controller is read
            masters_checked = True
        if dev.tag in ("memballoon", "watchdog") and singles[dev.tag] > 1:
            # (counted before any of them is read)
            what = "memory balloon" if dev.tag == "memballoon" else "watchdog"
            raise VirtError.internal_error(
                ErrDomain.DOMAIN, f"only a single {what} device is supported")
        if dev.tag == "redirfilter" and singles[dev.tag] > 1:
            raise VirtError.internal_error(
                ErrDomain.DOMAIN, "only one set of redirection filter rule is supported")
        read_first = _READ_FIRST.get(dev.tag)
        if read_first is not None:
            read_first(dev)
        problem = attribute_problem(dev, f"devices/{dev.tag}")
        if problem is not None:
            elem, attr, value, complaint = problem
            if value is None:
                raise VirtError.xml_error(
                    ErrDomain.XML, f"Missing required attribute '{attr}' in element '{elem}'")
            if complaint is not None:
                raise _unsupported(complaint % value)
            raise _bad_attr(attr, elem, value)
        if dev.tag == "hostdev" or (dev.tag == "interface" and dev.get("type") == "hostdev"):
            key = _hostdev_key(dev)
            if key is not None and key in hostdevs:
                raise VirtError.xml_error(ErrDomain.DOMAIN,
                                          "Hostdev already exists in the domain configuration")
            hostdevs.add(key)
        if dev.tag == "disk":
            source = dev.find("source")
            if (dev.get("type") == "volume" and source is not None
                    and bool(source.get("pool")) != bool(source.get("volume"))):
                raise VirtError.xml_error(
                    ErrDomain.DOMAIN,
                    "'pool' and 'volume' must be specified together for 'pool' type source")
            _check_network_source(dev)
            _check_backing_chain(dev)
            target = dev.find("target")
            bus = target.get("bus") if target is not None else None
            if bus is not None and bus not in _DISK_BUSES:
                raise _bad_attr("bus", "target", bus)
            _check_disk_driver(dev)
            _check_address(dev)
        elif dev.tag == "controller":
            ctype = dev.get("type")
            if ctype is None:
                _set_first(dev, "type", "ide")
            elif ctype not in _CONTROLLER_TYPES:
                raise _bad_attr("type", "controller", ctype)
            model = dev.get("model")
            if model is not None and model not in _CONTROLLER_MODELS.get(ctype or "ide", ()):
                raise _unsupported(f"Unknown model type '{model}'")
            if ctype == "usb":
                _check_usb_controller(seen_usbs, dev)
                seen_usbs.append(dev)
            index = dev.get("index")
            if index is not None:
                try:
                    number = int(index.strip(), 10)
                except ValueError:
                    number = None
                if number is None or number > _INT_MAX or number < -_INT_MAX - 1:
                    raise _bad_attr("index", "controller", index, "integer value")
                if number < 0:
                    raise _bad_attr("index", "controller", index, "non-negative value")
        elif dev.tag == "interface":
            source = dev.find("source")
            if dev.get("type") == "direct" and source is not None:
                prop_enum(source, "mode", _MACVTAP_MODES)
            _check_virtualport(dev)
            mac = dev.find("mac")
            address = mac.get("address") if mac is not None else None
            if address is not None:
                if not _MAC.fullmatch(address):
                    raise VirtError.xml_error(ErrDomain.DOMAIN,
                                              f"unable to parse mac address '{address}'")
                if int(address.split(":")[0], 16) & 1:
                    raise VirtError.xml_error(
                        ErrDomain.DOMAIN,
                        f"expected unicast mac address, found multicast '{address}'")
            _check_interface_settings(dev)
        elif dev.tag in _CHR_TAGS:
            ctype = dev.get("type")
            if ctype is None:
                _set_first(dev, "type", "pty")
            elif ctype not in _CHR_TYPES:
                raise _unsupported(
                    f"unknown type presented to host for character device: {ctype}")
            target = dev.find("target")
            ttype = target.get("type") if target is not None else None
            if ttype is not None and ttype not in _CHR_TARGET_TYPES.get(dev.tag, ()):
                raise _unsupported(
                    f"unknown target type '{ttype}' specified for character device")
            if dev.tag == "channel" and ttype is None:
                if target is not None:
                    raise _unsupported(
                        "unknown target type '(null)' specified for character device")
                raise VirtError.xml_error(ErrDomain.DOMAIN,
                                          "target type must be specified for channel device")
            if dev.tag == "channel" and ttype == "guestfwd" and target is not None:
                if target.get("address") is None:
                    raise VirtError.xml_error(
                        ErrDomain.DOMAIN, "guestfwd channel does not define a target address")
                # the port is kept as a 16-bit socket port
                port = prop_uint(target, "port", required=True)
                target.set("port", str((port or 0) & 0xFFFF))
            elif dev.tag != "channel" and target is not None:
                _chr_port(target)
            _check_chr_sources(dev, dev.get("type"))
        elif dev.tag == "redirdev":
            rtype = dev.get("type")
            if rtype is None:
                raise VirtError.internal_error(ErrDomain.DOMAIN, "missing type in redirdev")
            if rtype not in _CHR_TYPES:
                raise _unsupported(f"unknown redirdev character device type '{rtype}'")
            _check_chr_sources(dev, rtype)
        elif dev.tag == "tpm" and dev.find("backend") is None:
            raise VirtError.xml_error(ErrDomain.DOMAIN, "missing TPM device backend")
        elif dev.tag == "memory":
            _read_memory_target(dev)
        elif dev.tag == "filesystem":
            refusal = _filesystem_source_problem(dev)
            if refusal is not None:
                raise refusal
        elif dev.tag == "smartcard":
            if dev.get("mode") == "passthrough":
                _check_chr_sources(dev, dev.get("type"))
        elif dev.tag == "rng":
            _check_rng(dev)
        elif dev.tag == "input":
            itype = dev.get("type")
            if itype is None:
                raise VirtError.internal_error(ErrDomain.DOMAIN, "missing input device type")
            if itype not in _INPUT_TYPES:
                raise _unsupported(f"unknown input device type '{itype}'")
            bus = dev.get("bus")
            if bus is not None and bus not in _INPUT_BUSES:
                raise _unsupported(f"unknown input bus type '{bus}'")
            _input_bus(dev, guest)  # (the parser picks the bus)
            if dev.get("bus") == "usb" and usb_none:
                raise _unsupported("Can't add USB input device. USB bus is disabled")
        elif dev.tag == "hub":
            if dev.get("type") == "usb" and usb_none:
                raise _unsupported("Can't add USB hub: USB is disabled for this domain")
        elif dev.tag == "hostdev":
            if (dev.get("type") == "usb" and usb_none
                    and dev.get("mode", "subsystem") == "subsystem"):
                raise _unsupported("Can't add host USB device: USB is disabled in this host")
        if dev.tag != "disk":
            _check_address(dev)
    if not masters_checked:
        _check_usb_masters(usbs)


#: the characters a NIC model's name may have
_NET_MODEL_NAME = re.compile(r"[A-Za-z0-9_-]*")


def _read_interface_head(dev: ET.Element) -> None:
    """What libvirt reads of an interface before anything else: its type, whether it
    trusts the guest's receive filters, its model's name and whether it has a source."""
    known, _complaint = KINDS["devices/interface"].values["type"]
    prop_enum(dev, "type", known)
    prop_enum(dev, "trustGuestRxFilters", _YES_NO)
    model = dev.find("model")
    name = model.get("type") if model is not None else None
    if name and not _NET_MODEL_NAME.fullmatch(name):
        raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.DOMAIN, "invalid argument: %s",
                            "Model name contains invalid characters")
    itype = dev.get("type", "user")
    if itype in _NEEDS_SOURCE and dev.find("source") is None:
        raise VirtError.xml_error(ErrDomain.DOMAIN,
                                  f"interface type='{itype}' requires a 'source' element")


#: the interface types that need a <source>
_NEEDS_SOURCE = frozenset({"network", "bridge", "direct", "vhostuser", "udp", "mcast", "server",
                           "client", "internal", "vdpa", "vds"})


#: the interface types a <virtualport> is read for
_VIRTUALPORT_HOSTS = frozenset({"network", "bridge", "direct", "hostdev"})
_VIRTUALPORT_TYPES = frozenset({"none", "802.1Qbg", "802.1Qbh", "openvswitch", "midonet"})
#: what a virtual port of each type needs when the interface uses it directly
_VIRTUALPORT_NEEDS = {"802.1Qbg": ("managerid", "typeid", "typeidversion"),
                      "802.1Qbh": ("profileid",)}


def _chr_port(target: ET.Element) -> None:
    """A serial, parallel or console target's port as libvirt reads it: an unsigned
    decimal (``virStrToLong_ui``, so "-N" wraps round) kept in a signed int; -1 means
    "number it later", so such a port is numbered like one not given.

    :raises VirtError: libvirt's complaint about a port it cannot read."""
    value = target.get("port")
    if value is None:
        return
    number = c_number(value)
    if number is not None and number < 0:
        # strtoul negates what follows the sign; the 64-bit result is cut to 32 bits
        number = None if -number > _UINT_MAX else (-number and 2**32 + number)
    if number is None or number > _UINT_MAX:
        raise VirtError.xml_error(ErrDomain.DOMAIN, f"Invalid port number: {value}")
    signed = number - 2**32 if number > _INT_MAX else number
    if signed == -1:
        del target.attrib["port"]
    else:
        target.set("port", str(signed))


#: an int as strtol reads it, the whole text (C's blanks before it)
_C_INT = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")


def _read_memory_target(dev: ET.Element) -> None:
    """A memory device's target as libvirt reads it: the guest NUMA node (kept as the
    number it reads, or dropped when empty), then the size (required)."""
    target = dev.find("target")
    if target is None:
        raise VirtError.xml_error(ErrDomain.DOMAIN,
                                  "missing <target> element for <memory> device")
    nodes = target.findall("node")
    text = "".join(nodes[0].itertext()) if nodes else ""
    for node in nodes[1:] if text else nodes:
        target.remove(node)  # (only the first is read, an empty one not at all)
    if text:
        number = int(text) if _C_INT.fullmatch(text) else -1
        if not 0 <= number <= _INT_MAX:
            raise VirtError.xml_error(ErrDomain.DOMAIN, "invalid value of memory device node")
        nodes[0].clear()
        nodes[0].text = str(number)
    memory_device_kib(dev)


def memory_device_kib(dev: ET.Element) -> int:
    """The size of memory device *dev* in KiB (rounded up), as libvirt reads ``./size``.

    :raises VirtError: for a missing or invalid size, as libvirt's XPath reader says it."""
    size = dev.find("target/size")
    text = "".join(size.itertext()) if size is not None else ""
    unit = size.get("unit") if size is not None else None
    scaled_value(dev, "./size", text or None, unit, required=True, memory=True)
    return memory_kib(c_number(text) or 0, unit)


def _check_virtualport(dev: ET.Element) -> None:
    """An interface's virtual port: where libvirt reads one, and what it needs."""
    port = dev.find("virtualport")
    if port is None:
        return
    itype = dev.get("type", "user")
    if itype not in _VIRTUALPORT_HOSTS:
        raise _unsupported(f"<virtualport> element unsupported for <interface type='{itype}'>")
    vtype = port.get("type")
    if vtype is None:
        if itype in ("direct", "hostdev"):
            raise VirtError.xml_error(ErrDomain.NONE, "missing required virtualport type")
        return
    if vtype not in _VIRTUALPORT_TYPES:
        raise VirtError.fmt(ErrCode.CONFIG_UNSUPPORTED, ErrDomain.NONE,
                            "unsupported configuration: %s", f"unknown virtualport type {vtype}")
    if itype not in ("direct", "hostdev"):
        return
    params = port.find("parameters")
    for attr in _VIRTUALPORT_NEEDS.get(vtype, ()):
        if params is None or params.get(attr) is None:
            raise VirtError.xml_error(ErrDomain.NET,
                                      f"missing {attr} in <virtualport type='{vtype}'>")


def _check_interface_settings(dev: ET.Element) -> None:
    """An interface's driver (read for a virtio model only), link state and MTU, read after
    its MAC address."""
    model = dev.find("model")
    driver = dev.find("driver")
    if driver is not None and model is not None and model.get("type", "").startswith("virtio"):
        prop_enum(driver, "name", frozenset({"qemu", "vhost"}))
        prop_enum(driver, "txmode", frozenset({"iothread", "timer"}))
        for attr in ("queues", "rx_queue_size", "tx_queue_size"):
            prop_uint(driver, attr)
    link = dev.find("link")
    state = link.get("state") if link is not None else None
    if state is not None and state not in ("up", "down"):
        raise _unsupported(f"unknown interface link state '{state}'")
    mtu = dev.find("mtu")
    size = mtu.get("size") if mtu is not None else None
    if size is not None and _c_uint_dec(size) is None:
        raise VirtError.xml_error(ErrDomain.DOMAIN, "malformed mtu size")


_YES_NO = frozenset({"yes", "no"})
_MACVTAP_MODES = frozenset({"vepa", "private", "bridge", "passthrough"})
_VIDEO_BACKENDS = frozenset({"default", "qemu", "vhostuser"})
_VGACONF = frozenset({"io", "on", "off"})
#: a video model's sizes, in the order libvirt reads them
_VIDEO_SIZES = ("ram", "vram", "vram64", "vgamem")


def _c_uint_dec(value: str) -> int | None:
    """An unsigned decimal as libvirt's virStrToLong_uip reads it (no sign, no overflow)."""
    number = c_number(value)
    if number is None or "-" in value or not 0 <= number <= _UINT_MAX:
        return None
    return number


def _read_video(dev: ET.Element) -> None:
    """A video device as libvirt reads it: its driver, then its model's acceleration,
    resolution, type, sizes and heads (one head unless told, none written for zero)."""
    driver = dev.find("driver")
    if driver is not None:
        prop_enum(driver, "name", _VIDEO_BACKENDS)
        prop_enum(driver, "vgaconf", _VGACONF)
    model = dev.find("model")
    if model is None:
        ET.SubElement(dev, "model", {"heads": "1"})
        return
    accel = model.find("acceleration")
    if accel is not None:
        prop_enum(accel, "accel3d", _YES_NO)
        prop_enum(accel, "accel2d", _YES_NO)
    resolution = model.find("resolution")
    if resolution is not None:
        prop_uint(resolution, "x", required=True)
        prop_uint(resolution, "y", required=True)
    mtype = model.get("type")
    known, complaint = KINDS["devices/video/model"].values["type"]
    if mtype is not None and mtype not in known:
        raise _unsupported((complaint or "%s") % mtype)
    for attr in _VIDEO_SIZES:
        value = model.get(attr)
        if value is not None and _c_uint_dec(value) is None:
            raise VirtError.xml_error(ErrDomain.DOMAIN, f"cannot parse video {attr} '{value}'")
    heads = model.get("heads")
    if heads is None:
        model.set("heads", "1")
    elif (number := _c_uint_dec(heads)) is None:
        raise VirtError.internal_error(ErrDomain.DOMAIN, f"cannot parse video heads '{heads}'")
    elif number == 0:
        del model.attrib["heads"]


#: the checks of a device kind libvirt's parser makes before the others
_READ_FIRST: dict[str, Callable[[ET.Element], None]] = {
    "interface": _read_interface_head,
    "video": _read_video,
}

#: the image formats libvirt knows (a disk's driver type, a backing store's format)
_FORMATS = frozenset({"raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd",
                      "ploop", "cow", "qcow", "qcow2", "qed", "vmdk"})


_NET_PROTOCOLS = frozenset({"nbd", "rbd", "sheepdog", "gluster", "iscsi", "http", "https",
                            "ftp", "ftps", "tftp", "ssh", "vxhs", "nfs"})
_HOST_TRANSPORTS = frozenset({"tcp", "unix", "rdma"})


def _check_network_source(disk: ET.Element) -> None:
    """A network disk's source: its protocol, its name (NBD has none) and hosts."""
    source = disk.find("source")
    if disk.get("type") != "network" or source is None:
        return
    protocol = prop_enum(source, "protocol", _NET_PROTOCOLS)
    if source.get("name") is None and protocol != "nbd":
        raise VirtError.xml_error(ErrDomain.DOMAIN, "missing name for disk source")
    for host in source.findall("host"):
        transport = host.get("transport")
        if transport is not None and transport not in _HOST_TRANSPORTS:
            raise _unsupported(f"unknown protocol transport type '{transport}'")
        if transport != "unix" and host.get("socket") is not None:
            raise VirtError.xml_error(
                ErrDomain.DOMAIN,
                f"transport '{transport or '(null)'}' does not support socket attribute")
        if transport == "unix":
            if host.get("socket") is None:
                raise VirtError.xml_error(ErrDomain.DOMAIN,
                                          "missing socket for unix transport")
        elif host.get("name") is None:
            raise VirtError.xml_error(ErrDomain.DOMAIN, "missing name for host")


def _check_backing_chain(disk: ET.Element) -> None:
    """A disk's backing chain as libvirt reads it (with the disk's source, before its
    target)."""
    def xml_error(text: str) -> VirtError:
        return VirtError.xml_error(ErrDomain.DOMAIN, text)

    known_types, _complaint = KINDS["devices/disk"].values["type"]
    store = disk.find("backingStore")
    while store is not None:
        stype = store.get("type")
        if stype is None:
            break  # the end of the chain
        if store.find("source") is None:
            raise xml_error("missing disk backing store source")
        if stype not in known_types:
            raise xml_error(f"unknown storage source type '{stype}'")
        fmt = store.find("format")
        name = fmt.get("type") if fmt is not None else None
        if name is None:
            raise xml_error("missing disk backing store format")
        if name not in _FORMATS:
            raise xml_error(f"unknown storage source format '{name}'")
        store = store.find("backingStore")


def _check_disk_driver(disk: ET.Element) -> None:
    """A disk driver's numbers, then its format, as libvirt reads them (after the
    target)."""
    driver = disk.find("driver")
    if driver is not None:
        for attr in ("iothread", "queues", "queue_size"):
            prop_uint(driver, attr)
    name = driver.get("type") if driver is not None else None
    if name is not None and name != "aio" and name not in _FORMATS:
        # ("aio" is an old name of the raw format)
        raise _unsupported(f"unknown driver format value '{name}'")


_RNG_MODELS = frozenset({"virtio", "virtio-transitional", "virtio-non-transitional"})
_RNG_BACKENDS = frozenset({"random", "egd", "builtin"})


def _check_rng(dev: ET.Element) -> None:
    """An RNG device as libvirt reads it: its model, its rate, then its one backend."""
    def xml_error(text: str) -> VirtError:
        return VirtError.xml_error(ErrDomain.DOMAIN, text)

    model = dev.get("model")
    if model is None:
        raise xml_error("missing RNG device model")
    if model not in _RNG_MODELS:
        raise _unsupported(f"unknown RNG model '{model}'")
    rate = dev.find("rate")
    for attr in ("bytes", "period"):
        value = rate.get(attr) if rate is not None else None
        number = c_number(value) if value is not None else None
        if value is not None and (number is None or not 0 <= number <= _UINT_MAX
                                  or "-" in value):
            raise xml_error(f"invalid RNG rate {attr} value")
    backends = dev.findall("backend")
    if len(backends) != 1:
        raise xml_error("only one RNG backend is supported")
    backend = backends[0].get("model")
    if backend is None:
        raise xml_error("missing RNG device backend model")
    if backend not in _RNG_BACKENDS:
        raise _unsupported(f"unknown RNG backend model '{backend}'")
    if backend == "egd":
        btype = backends[0].get("type")
        if btype is None:
            raise xml_error("missing EGD backend type")
        if btype not in _CHR_TYPES:
            raise _unsupported(f"unknown backend type '{btype}' for egd")
        _check_chr_sources(backends[0], btype)


def _check_chr_sources(dev: ET.Element, ctype: str | None) -> None:
    """A character device backend has one source, a UDP one two (bind and connect)."""
    count = len(dev.findall("source"))
    if ctype == "udp" and count > 2:
        raise VirtError.xml_error(ErrDomain.DOMAIN,
                                  "only two source elements are allowed for character device")
    if ctype != "udp" and count > 1:
        raise VirtError.xml_error(ErrDomain.DOMAIN,
                                  "only one source element is allowed for character device")


#: where a disk of each type names its source
_DISK_SOURCE_ATTR = {"file": "file", "block": "dev", "dir": "dir", "network": "name"}


def _disk_target_problem(disk: ET.Element) -> VirtError | None:
    """A disk without a target (what libvirt validates first)."""
    target = disk.find("target")
    if target is not None and target.get("dev"):
        return None
    source = _disk_source_name(disk)
    if source is None:
        return VirtError.fmt(ErrCode.NO_TARGET, ErrDomain.DOMAIN,
                             "missing target information for device")
    return VirtError.fmt(ErrCode.NO_TARGET, ErrDomain.DOMAIN,
                         "missing target information for device %s", source)


def _disk_source_problem(disk: ET.Element) -> VirtError | None:
    """A disk whose device needs a source and lacks one (what libvirt validates last)."""
    attr = _DISK_SOURCE_ATTR.get(disk.get("type", "file"))
    if attr in (None, "name") or disk.get("device", "disk") in ("cdrom", "floppy"):
        return None
    source = disk.find("source")
    if source is None or not source.get(attr):
        target = disk.find("target")
        return VirtError.fmt(ErrCode.NO_SOURCE, ErrDomain.DOMAIN,
                             "missing source information for device %s",
                             target.get("dev", "") if target is not None else "")
    return None


# --------------------------------------------------------------------------------------------
# insertion order


def _insert_sorted(
    group: list[ET.Element],
    dev: ET.Element,
    key: Callable[[ET.Element], tuple[str | None, int | None]],
    *,
    unset_last: bool = False,
) -> None:
    """Insert *dev* as libvirt's parser inserts disks and controllers: among the devices of
    the same class (first item of *key*), before the first one whose number (second item)
    is larger, after the last one otherwise.  With *unset_last*, a number of -1 (not given
    yet) goes after the last device of its class."""
    cls, num = key(dev)
    at: int | None = None
    for i in range(len(group) - 1, -1, -1):
        other_cls, other_num = key(group[i])
        if other_cls != cls:
            continue
        if unset_last and num == -1:
            at = i + 1
            break
        if (other_num is not None and num is not None and other_num > num) or (
            num == other_num and not _is_companion(dev) and _is_companion(group[i])
        ):
            # a USB2 master goes before the companions that share its index
            at = i
        elif at is None:
            at = i + 1
            break
    group.insert(len(group) if at is None else at, dev)


def _is_companion(ctrl: ET.Element) -> bool:
    """A USB2 companion controller (with a master port, given or implied by its model)."""
    return ctrl.tag == "controller" and (
        ctrl.find("master") is not None or ctrl.get("model", "") in _COMPANION_START_PORT)


def _disk_parse_key(disk: ET.Element) -> tuple[str | None, int | None]:
    # at insertion time a disk's bus is what its XML says (the default comes later); a
    # disk without a target name has no number to compare (it goes after its bus's disks,
    # and the disks read after it go after it)
    target = disk.find("target")
    if target is None:
        return None, None
    dev = target.get("dev")
    return target.get("bus"), disk_index(dev) if dev else None


def _controller_key(ctrl: ET.Element) -> tuple[str | None, int]:
    return ctrl.get("type"), _index_of(ctrl)


def _index_of(ctrl: ET.Element) -> int:
    value = ctrl.get("index")
    if value is None:
        return -1
    try:
        return int(value)
    except ValueError:
        return -1


def _is_primary(video: ET.Element) -> bool:
    model = video.find("model")
    return model is not None and model.get("primary") == "yes"


# --------------------------------------------------------------------------------------------
# addresses


def _c_uint(value: str | None) -> int | None:
    """A number as C's strtoul with base 0 reads it (0x hex, 0 octal, else decimal)."""
    if value is None:
        return None
    text = value.strip()
    try:
        if text[:2].lower() == "0x":
            return int(text[2:], 16)
        if len(text) > 1 and text.startswith("0"):
            return int(text[1:], 8)
        return int(text, 10)
    except ValueError:
        return None


#: what is read from an address attribute: a number, or text as libvirt writes it back
_AddrValue = int | str
_Reader = Callable[[ET.Element, str], "_AddrValue | None"]


@dataclass(frozen=True)
class _Attr:
    """One attribute of a device address: how libvirt reads it and how it writes it."""

    name: str
    read: _Reader
    write: Callable[[_AddrValue], str]
    #: when it is written: 'always' (0 when absent), 'given', or 'set' (given, not 0/empty)
    when: str = "always"


def _uint(base: int, *, wide: bool = False, required: bool = False) -> _Reader:
    """``virXMLPropUInt`` (*wide*: ``virXMLPropULongLong``) in *base*."""
    return lambda addr, name: prop_uint(addr, name, base=base, wide=wide, required=required)


#: a number of a USB port path: strtoul's blanks and sign, decimal digits
_USB_PORT_PART = re.compile(r"[ \t\n\v\f\r]*\+?([0-9]+)")


def _usb_port(addr: ET.Element, name: str) -> str | None:
    """A USB port path (up to 4 numbers, most often split by dots) as libvirt writes it:
    the numbers up to the first 0 ('' when that is the first)."""
    text = addr.get(name)
    if text is None:
        return None
    numbers: list[int] = []
    rest = text
    for _ in range(4):
        m = _USB_PORT_PART.match(rest)
        if m is None or int(m.group(1)) > _UINT_MAX:
            break
        numbers.append(int(m.group(1)))
        rest = rest[m.end():]
        if not rest:
            written = numbers[:numbers.index(0)] if 0 in numbers else numbers
            return ".".join(map(str, written))
        # libvirt skips one dot; anything else is where it reads the next number from
        rest = rest.removeprefix(".")
    raise VirtError.internal_error(ErrDomain.DEVICE, "Cannot parse <address> 'port' attribute")


def _signed(value: _AddrValue) -> str:
    """An unsigned int libvirt writes with %d: negative from 2**31 on."""
    number = int(value)
    return str(number - 2**32 if number > _INT_MAX else number)


def _hex(width: int) -> Callable[[_AddrValue], str]:
    return lambda value: f"0x{int(value):0{width}x}"


def _pci_check(addr: ET.Element, values: dict[str, _AddrValue | None]) -> None:
    """A PCI address that is not empty (domain, bus or slot set) is checked against the PCI
    limits; an empty one is written without its numbers (only a function is not enough).
    Then its last ``<zpci>`` child is read, and written if it gives a uid or fid."""
    domain, bus, slot, function = (int(values[n] or 0)
                                   for n in ("domain", "bus", "slot", "function"))
    if not (domain or bus or slot):
        for n in ("domain", "bus", "slot", "function"):
            del values[n]
    else:
        for number, limit, text in (
                (bus, 0xFF, f"bus='0x{bus:x}', must be <= 0xFF"),
                (slot, 0x1F, f"slot='0x{slot:x}', must be <= 0x1F"),
                (function, 7, f"function=0x{function:x}, must be <= 7")):
            if number > limit:
                raise VirtError.xml_error(ErrDomain.NONE, f"Invalid PCI address {text}")
    zpcis = addr.findall("zpci")
    for zpci in zpcis:
        addr.remove(zpci)
    if zpcis:
        uid, fid = (prop_uint(zpcis[-1], n, base=0) for n in ("uid", "fid"))
        if uid is not None or fid is not None:
            ET.SubElement(addr, "zpci", {"uid": f"0x{uid or 0:04x}", "fid": f"0x{fid or 0:08x}"})


def _ccw_limits(_addr: ET.Element, values: dict[str, _AddrValue | None]) -> None:
    """A CCW address within the channel subsystem's limits, given whole or not at all."""
    cssid, ssid, devno = (int(values[n] or 0) for n in ("cssid", "ssid", "devno"))
    if cssid > 0xFE or ssid > 3 or devno > 0xFFFF:
        raise VirtError.internal_error(
            ErrDomain.DEVICE, "Invalid specification for virtio ccw address: "
            f"cssid='0x{cssid:x}' ssid='0x{ssid:x}' devno='0x{devno:04x}'")
    given = [values[n] is not None for n in ("cssid", "ssid", "devno")]
    if any(given) and not all(given):
        raise VirtError.internal_error(
            ErrDomain.DEVICE, "Invalid partial specification for virtio ccw address")


def _decimal_attrs(*names: str) -> tuple[_Attr, ...]:
    # libvirt keeps these unsigned but writes them with %d
    return tuple(_Attr(n, _uint(10), _signed) for n in names)


#: how libvirt reads each address type: its attributes in reading order, then the check of
#: the whole (types absent here have no attributes)
_ADDRESS_READERS: dict[str, tuple[tuple[_Attr, ...], Callable[
    [ET.Element, dict[str, _AddrValue | None]], None] | None]] = {
    "pci": ((_Attr("domain", _uint(0), _hex(4)), _Attr("bus", _uint(0), _hex(2)),
             _Attr("slot", _uint(0), _hex(2)),
             _Attr("function", _uint(0), lambda v: f"0x{v}"),  # (written with 0x%d)
             _Attr("multifunction", tristate, str, "given")), _pci_check),
    "drive": (_decimal_attrs("controller", "bus", "target", "unit"), None),
    "virtio-serial": (_decimal_attrs("controller", "bus", "port"), None),
    "ccid": (_decimal_attrs("controller", "slot"), None),
    # the port is read before the bus
    "usb": ((_Attr("port", _usb_port, str, "set"), *_decimal_attrs("bus")), None),
    "spapr-vio": ((_Attr("reg", _uint(16, wide=True), _hex(8), "given"),), None),
    "ccw": ((_Attr("cssid", _uint(0), _hex(1)), _Attr("ssid", _uint(0), _hex(1)),
             _Attr("devno", _uint(0), _hex(4))), _ccw_limits),
    "isa": ((_Attr("iobase", _uint(16), _hex(1), "set"),
             _Attr("irq", _uint(16), _hex(1), "set")), None),
    "dimm": ((_Attr("slot", _uint(10, required=True), str),
              _Attr("base", _uint(16, wide=True), _hex(1), "set")), None),
}

#: how libvirt writes a PCI host address: (attribute, format)
_PCI_SOURCE_FIELDS = (("domain", "0x{:04x}"), ("bus", "0x{:02x}"), ("slot", "0x{:02x}"),
                      ("function", "0x{:x}"))


def _canonical_source_address(dev: ET.Element) -> None:
    """A PCI host device's source address written with libvirt's number formats (left
    alone when a number does not read; fields it does not know kept after them)."""
    source = dev.find("source")
    pci_source = dev.get("type") == "pci" if dev.tag == "hostdev" else (
        (dev.tag == "disk" and dev.get("type") == "nvme")
        or (dev.tag == "interface" and dev.get("type") == "hostdev"))
    addr = source.find("address") if source is not None and pci_source else None
    if addr is None or addr.get("type", "pci") != "pci":
        return
    values: dict[str, str] = {}
    for name, fmt in _PCI_SOURCE_FIELDS:
        number = _c_uint(addr.get(name, "0"))
        if number is None:
            return
        values[name] = fmt.format(number)
    rest = {k: v for k, v in addr.attrib.items() if k not in values and k != "type"}
    addr_type = addr.get("type")
    addr.attrib.clear()
    if addr_type is not None:
        addr.set("type", addr_type)
    addr.attrib.update(values)
    addr.attrib.update(rest)


# --------------------------------------------------------------------------------------------
# controllers

#: USB2 controllers (an EHCI master and its UHCI companions share an index)
_USB2_MODELS = frozenset({"ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3"})
#: the first port of its master each ICH9 UHCI companion takes
_COMPANION_START_PORT = {"ich9-uhci1": "0", "ich9-uhci2": "2", "ich9-uhci3": "4"}


def _check_usb_masters(usbs: list[ET.Element]) -> None:
    """libvirt refuses USB controllers that are all companions of a missing master."""
    if usbs and all(map(_is_companion, usbs)):
        text = "No master USB controller specified"
        raise VirtError(ErrCode.XML_DETAIL, ErrDomain.DOMAIN, text, str1="%s", str2=text)


def _check_usb_controller(usbs: list[ET.Element], ctrl: ET.Element) -> None:
    """libvirt accepts no other USB controller next to one of model 'none' (*usbs*: the
    USB controllers read before *ctrl*)."""
    # a 'none' one read before can only be the first: any other after it was refused
    if usbs and (ctrl.get("model") == "none" or usbs[0].get("model") == "none"):
        text = "Can't add another USB controller: USB is disabled for this domain"
        raise VirtError(ErrCode.XML_DETAIL, ErrDomain.DOMAIN, text, str1="%s", str2=text)


def _set_index(ctrl: ET.Element, index: int) -> None:
    """Give *ctrl* its index, written right after its type as libvirt does."""
    _set_first(ctrl, "index", str(index))
    if ctrl.get("type") is not None:
        _set_first(ctrl, "type", ctrl.get("type", ""))


def _unused_index(ctrls: list[ET.Element], ctype: str | None) -> int:
    used = {_index_of(c) for c in ctrls if c.get("type") == ctype}
    idx = 0
    while idx in used:
        idx += 1
    return idx


def _assign_controller_indexes(ctrls: list[ET.Element]) -> None:
    """Controllers without an index get the lowest one unused by their type; a USB2
    companion right after another USB2 controller shares its index (unless that index
    already has a controller of its model)."""
    for pos, ctrl in enumerate(ctrls):
        if ctrl.get("index") is not None:
            continue
        shared: ET.Element | None = None
        if pos > 0 and ctrl.get("type") == "usb" and ctrl.get("model") in _USB2_MODELS:
            prev = next((c for c in reversed(ctrls[:pos]) if c.get("type") == "usb"), None)
            if prev is not None and prev.get("model") in _USB2_MODELS and not any(
                c.get("type") == "usb" and _index_of(c) == _index_of(prev)
                and c.get("model") == ctrl.get("model")
                for c in ctrls
            ):
                shared = prev
        index = _index_of(shared) if shared is not None else _unused_index(ctrls, ctrl.get("type"))
        _set_index(ctrl, index)
    for ctrl in ctrls:
        start = _COMPANION_START_PORT.get(ctrl.get("model", ""))
        if ctrl.get("type") == "usb" and start is not None and ctrl.find("master") is None:
            master = ET.Element("master", {"startport": start})
            # in the device info, after the alias
            _insert_before(ctrl, master, ("rom", "acpi", "address"))


def _reject_duplicate_controllers(ctrls: list[ET.Element]) -> None:
    seen: set[tuple[str | None, int]] = set()
    for ctrl in ctrls:
        key = (ctrl.get("type"), _index_of(ctrl))
        if key[0] == "usb":
            continue  # USB2 companions share their master's index
        if key in seen:
            raise VirtError.xml_error(
                ErrDomain.DOMAIN, f"Multiple '{key[0]}' controllers with index '{key[1]}'")
        seen.add(key)


def _reject_duplicate_panics(panics: list[ET.Element]) -> None:
    seen: set[str] = set()
    for panic in panics:
        model = panic.get("model", "default")
        if model in seen:
            raise VirtError.xml_error(ErrDomain.DOMAIN,
                                      f"Multiple panic devices with model '{model}'")
        seen.add(model)


def _maybe_add_controller(
    kinds: dict[str, list[ET.Element]], ctype: str, index: int
) -> ET.Element | None:
    """Add a ``ctype`` controller of *index* unless there is one (libvirt's
    virDomainDefMaybeAddController)."""
    ctrls = kinds.setdefault("controller", [])
    if any(c.get("type") == ctype and _index_of(c) == index for c in ctrls):
        return None
    ctrl = ET.Element("controller", {"type": ctype, "index": str(index)})
    ctrls.append(ctrl)  # libvirt appends the controllers it adds
    return ctrl


#: the highest controller index up to which controllers are added for a device address
#: (libvirt adds them one by one up to any index below 2**31, and spins for minutes or
#: runs out of memory on large ones)
MAX_IMPLICIT_INDEX = 4095


def _controllers_up_to(kinds: dict[str, list[ET.Element]], ctype: str, highest: int) -> None:
    """The ``ctype`` controllers 0 to *highest* a drive address needs, added where missing
    (libvirt's virDomainDefAddDiskControllersForType)."""
    if highest > MAX_IMPLICIT_INDEX:
        raise _unsupported(f"a drive address names '{ctype}' controller {highest}: at most"
                           f" {MAX_IMPLICIT_INDEX + 1} controllers are added for addresses")
    ctrls = kinds.setdefault("controller", [])
    present = {_index_of(c) for c in ctrls if c.get("type") == ctype}
    for index in range(highest + 1):
        if index not in present:
            # libvirt appends the controllers it adds
            ctrls.append(ET.Element("controller", {"type": ctype, "index": str(index)}))


def _drive_controller(dev: ET.Element) -> int | None:
    addr = dev.find("address")
    if addr is None or addr.get("type") != "drive":
        return None
    try:
        return int(addr.get("controller", "0"), 0)
    except ValueError:
        return None


def _implicit_controllers(kinds: dict[str, list[ET.Element]]) -> None:
    """The controllers libvirt adds for the devices that need one."""
    disks = kinds.get("disk", [])
    for bus in ("scsi", "fdc", "ide", "sata"):
        # libvirt compares a drive address's controller as a C int: from 2**31 on it is
        # negative, and no controller is added for it
        wanted = [
            n for d in disks if _disk_bus(d) == bus and (n := _drive_controller(d)) is not None
            and n <= _INT_MAX
        ]
        _controllers_up_to(kinds, bus, max(wanted, default=-1))
    for tag in ("channel", "console"):
        for chr_dev in kinds.get(tag, []):
            target = chr_dev.find("target")
            if target is None or target.get("type") != "virtio":
                continue
            addr = chr_dev.find("address")
            index = 0
            if addr is not None and addr.get("type") == "virtio-serial":
                index = _int(addr.get("controller"), 0)
            _maybe_add_controller(kinds, "virtio-serial", index)
    cards = kinds.get("smartcard", [])
    # a card without an address gets the slot after the highest on controller 0 (of every
    # card, those given an address before it included)
    highest = max((_int(a.get("slot"), 0) for c in cards
                   if (a := c.find("address")) is not None and a.get("type") == "ccid"
                   and _int(a.get("controller"), 0) == 0), default=-1)
    for card in cards:
        addr = card.find("address")
        if addr is None:
            highest += 1
            addr = ET.SubElement(card, "address", {
                "type": "ccid", "controller": "0", "slot": str(highest)})
        index = _int(addr.get("controller"), 0) if addr.get("type") == "ccid" else 0
        _maybe_add_controller(kinds, "ccid", index)
    _scsi_hostdev_controllers(kinds)


def _scsi_hostdev_controllers(kinds: dict[str, list[ET.Element]]) -> None:
    scsi_hostdevs = [
        n for h in kinds.get("hostdev", [])
        if _is_scsi_hostdev(h) and (n := _drive_controller(h)) is not None and n <= _INT_MAX
    ]
    _controllers_up_to(kinds, "scsi", max(scsi_hostdevs, default=-1))


def _is_scsi_hostdev(dev: ET.Element) -> bool:
    return dev.get("mode", "subsystem") == "subsystem" and dev.get("type") == "scsi"


def _int(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value, 0)
    except ValueError:
        return default


def _insert_before(parent: ET.Element, child: ET.Element, before: tuple[str, ...]) -> None:
    """Insert *child* into *parent* before its first child named in *before* (at the end
    if none)."""
    for i, other in enumerate(parent):
        if other.tag in before:
            parent.insert(i, child)
            return
    parent.append(child)


# --------------------------------------------------------------------------------------------
# per-device defaults

#: what follows a character device's <target> (its device info)
_AFTER_CHR_TARGET = ("alias", "address", "boot")
#: the maximum number of ISA serial ports
_MAX_ISA_SERIAL_PORTS = 4


def _chr_target(dev: ET.Element) -> ET.Element:
    target = dev.find("target")
    if target is None:
        target = ET.Element("target")
        _insert_before(dev, target, _AFTER_CHR_TARGET)
    return target


def _assign_isa_serial_ports(serials: list[ET.Element]) -> None:
    """ISA serial ports without a port number get the lowest free one (of four)."""
    isa = [t for s in serials if (t := s.find("target")) is not None
           and t.get("type") == "isa-serial"]
    used: set[int] = set()
    for n, target in enumerate(isa):
        port = _int(target.get("port"), -1)
        if n >= _MAX_ISA_SERIAL_PORTS or port >= _MAX_ISA_SERIAL_PORTS:
            raise VirtError.internal_error(
                ErrDomain.DOMAIN,
                f"Maximum supported number of ISA serial ports is '{_MAX_ISA_SERIAL_PORTS}'")
        if port != -1:
            if port in used:
                raise VirtError.internal_error(
                    ErrDomain.DOMAIN, f"target port '{port}' already allocated")
            used.add(port)
    for target in isa:
        if target.get("port") is None:
            port = min(p for p in range(_MAX_ISA_SERIAL_PORTS) if p not in used)
            used.add(port)
            target.set("port", str(port))


def _assign_chr_ports(group: list[ET.Element], *, all_seen: bool = False) -> None:
    """Serial, parallel and console devices without a port get one past the highest of
    the devices of their kind before them (libvirt numbers parallel ports and consoles as
    it reads them); with *all_seen* (serial ports, numbered after reading), of all of
    them."""
    # the highest port of the devices compared with, counted from -1 (a negative port
    # below it is not counted)
    highest = -1
    if all_seen:
        highest = max([highest, *(_int(t.get("port"), -1) for d in group
                                  if (t := d.find("target")) is not None)])
    for dev in group:
        target = _chr_target(dev)
        if target.get("port") is None:
            target.set("port", str(highest + 1))
        highest = max(highest, _int(target.get("port"), -1))


#: the bus a disk's target name implies (libvirt's order of checks)
_BUS_BY_PREFIX = (("hd", "ide"), ("sd", "scsi"), ("vd", "virtio"), ("xvd", "xen"),
                  ("ubd", "uml"), ("nvme", "nvme"))


def _disk_bus(disk: ET.Element) -> str | None:
    target = disk.find("target")
    return target.get("bus") if target is not None else None


#: units per SCSI controller (libvirt's narrow SCSI bus, as the test driver has it)
_SCSI_UNITS = 7


def _set_first(elem: ET.Element, name: str, value: str) -> None:
    """Set attribute *name* of *elem*, written before the others."""
    attrs = dict(elem.attrib)
    attrs.pop(name, None)
    elem.attrib.clear()
    elem.set(name, value)
    elem.attrib.update(attrs)


def _disk_post_parse(disk: ET.Element) -> None:
    """Fill in a disk's bus and, for the buses with drive addresses, its address."""
    target = disk.find("target")
    if target is None:
        return
    dst = target.get("dev", "")
    if target.get("bus") is None:
        bus = "ide"
        if disk.get("device") == "floppy":
            bus = "fdc"
        else:
            bus = next((b for prefix, b in _BUS_BY_PREFIX if dst.startswith(prefix)), "ide")
        target.set("bus", bus)
    bus = target.get("bus", "")
    idx = disk_index(dst)
    if disk.find("address") is not None:
        return
    if idx < 0:
        if dst:
            raise VirtError.xml_error(
                ErrDomain.DOMAIN, f"Unknown disk name '{dst}' and no address specified")
        return
    if bus == "ide":
        place = (idx // 4, (idx % 4) // 2, idx % 2)
    elif bus == "sata":
        place = (idx // 6, 0, idx % 6)
    elif bus == "fdc":
        place = (idx // 2, 0, idx % 2)
    elif bus == "scsi":
        place = (idx // _SCSI_UNITS, 0, idx % _SCSI_UNITS)
    else:
        return
    controller, drive_bus, unit = place
    disk.append(ET.Element("address", {
        "type": "drive", "controller": str(controller), "bus": str(drive_bus),
        "target": "0", "unit": str(unit)}))


def _drive_address(dev: ET.Element) -> tuple[int, int, int, int] | None:
    addr = dev.find("address")
    if addr is None or addr.get("type") != "drive":
        return None
    return (_int(addr.get("controller"), 0), _int(addr.get("bus"), 0),
            _int(addr.get("target"), 0), _int(addr.get("unit"), 0))


def _free_scsi_unit(used: set[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """The first drive address (bus and target 0) no device in *used* has, on the first
    controller that has one."""
    controller = 0
    while True:
        for unit in range(_SCSI_UNITS):
            if (controller, 0, 0, unit) not in used:
                return controller, 0, 0, unit
        controller += 1


def _early_scsi_hostdev_controllers(kinds: dict[str, list[ET.Element]]) -> None:
    """libvirt's parser places SCSI host devices as it reads them, before disks have
    addresses, and adds the SCSI controllers those places need before any controller
    without an index gets one (the places themselves are settled later)."""
    used: set[tuple[int, int, int, int]] = set()
    highest = -1
    for hostdev in kinds.get("hostdev", []):
        if not _is_scsi_hostdev(hostdev):
            continue
        place = _drive_address(hostdev)
        if place is None:
            place = _free_scsi_unit(used)
        used.add(place)
        if place[0] <= _INT_MAX:
            highest = max(highest, place[0])
    _controllers_up_to(kinds, "scsi", highest)


def _hostdev_address(hostdev: ET.Element, kinds: dict[str, list[ET.Element]]) -> None:
    """A SCSI host device without an address takes the first unit no SCSI disk or other
    SCSI host device uses, on the first controller that has one."""
    if not _is_scsi_hostdev(hostdev) or hostdev.find("address") is not None:
        return
    used = {a for d in kinds.get("disk", []) if _disk_bus(d) == "scsi"
            and (a := _drive_address(d)) is not None}
    used |= {a for h in kinds.get("hostdev", []) if _is_scsi_hostdev(h)
             and (a := _drive_address(h)) is not None}
    controller, _bus, _target, unit = _free_scsi_unit(used)
    hostdev.append(ET.Element("address", {
        "type": "drive", "controller": str(controller), "bus": "0", "target": "0",
        "unit": str(unit)}))


def _input_bus(dev: ET.Element, guest: _Guest) -> None:
    """An input device without a bus gets the one libvirt picks for the guest."""
    if dev.get("bus") is not None:
        return
    itype = dev.get("type")
    bus: str | None = None
    if guest.hvm:
        if itype in ("mouse", "keyboard") and guest.x86:
            bus = "ps2"
        elif guest.arch in ("s390", "s390x") or itype == "passthrough":
            bus = "virtio"
        elif itype != "evdev":
            bus = "usb"
    elif guest.os_type in ("xen", "linux", "xenpvh"):
        bus = "xen"
    elif guest.virt_type in ("vz", "parallels"):
        bus = "parallels"
    if bus is not None:
        dev.set("bus", bus)


def _device_post_parse(kinds: dict[str, list[ET.Element]], guest: _Guest) -> None:
    """What libvirt's per-device post-parse fills in."""
    for disk in kinds.get("disk", []):
        _disk_post_parse(disk)
    for hostdev in kinds.get("hostdev", []):
        _hostdev_address(hostdev, kinds)
    for console in kinds.get("console", []):
        target = _chr_target(console)
        if target.get("type") is None:
            # a console's target is a serial port unless it says otherwise
            _set_first(target, "type", "serial")
        # libvirt numbers consoles itself, whatever port the XML gives
        target.attrib.pop("port", None)
    for channel in kinds.get("channel", []):
        channel_target = channel.find("target")
        if channel_target is not None and channel_target.get("type") == "virtio":
            channel_target.attrib.pop("port", None)  # not read for virtio channels
    for serial in kinds.get("serial", []):
        if _chr_target_type(serial) == "isa-debug" and not guest.x86:
            raise _unsupported("isa-debug serial type only valid on x86 architecture")
    for tag in ("serial", "parallel", "console"):
        _assign_chr_ports(kinds.get(tag, []), all_seen=tag == "serial")
    for dev in kinds.get("input", []):
        _input_bus(dev, guest)
    for video in kinds.get("video", []):
        _video_memory(video, guest)
    _interface_names(kinds.get("interface", []))
    # (a graphics device's own defaults, ports and listens: see domcanon)


#: target names libvirt considers its own and forgets when it reads a configuration
_GENERATED_IFNAMES = ("vnet", "macvtap", "macvlan")


def _interface_names(nets: list[ET.Element]) -> None:
    """Every interface gets a MAC address (written in lower case) and a target name: the
    test driver gives the lowest testnetN no other interface has."""
    for dev in nets:
        mac = dev.find("mac")
        if mac is None:
            dev.insert(0, ET.Element("mac", {"address": random_mac()}))
        elif mac.get("address") is None:
            mac.set("address", random_mac())  # (a <mac/> without one gets one too)
        else:
            mac.set("address", mac.get("address", "").lower())
        target = dev.find("target")
        if target is not None and target.get("dev", "").startswith(_GENERATED_IFNAMES):
            del target.attrib["dev"]
            if not target.attrib and not len(target):
                dev.remove(target)
    taken = {t.get("dev") for d in nets if (t := d.find("target")) is not None}
    free = 0  # no lower number is free (names are only ever taken)
    for dev in nets:
        target = dev.find("target")
        if target is not None and target.get("dev"):
            continue
        while f"testnet{free}" in taken:
            free += 1
        name = f"testnet{free}"
        taken.add(name)
        if target is not None:
            _set_first(target, "dev", name)
            continue
        # libvirt writes the target after the MAC address and the source
        children = list(dev)
        after = [i for i, c in enumerate(children) if c.tag in ("mac", "source")]
        dev.insert((after[-1] + 1) if after else 0, ET.Element("target", {"dev": name}))


# --------------------------------------------------------------------------------------------
# implicit devices


#: serial port targets a first serial port has for libvirt to give it a console
_CONSOLE_SERIAL_TYPES = (None, "isa-serial", "spapr-vio-serial", "system-serial",
                         "sclp-serial")


def _console_compatibility(kinds: dict[str, list[ET.Element]], guest: _Guest) -> None:
    """The first console of an HVM guest stands for its first serial port.

    A serial-type first console becomes the first serial port when there is none (it is
    dropped otherwise), and a first serial port of ISA, system, SCLP or spapr-vio type (or
    none) gets a console standing for it.
    That console is written as a copy of the serial port (libvirt formats it so); it is
    kept here as such a copy.
    """
    consoles = kinds.get("console", [])
    for console in consoles[1:]:
        if _chr_target_type(console) in (None, "serial"):
            text = "unsupported configuration: Only the first console can be a serial port"
            raise VirtError(ErrCode.CONFIG_UNSUPPORTED, ErrDomain.DOMAIN, text,
                            str1="unsupported configuration: %s",
                            str2="Only the first console can be a serial port")
    if not guest.hvm:
        return
    serials = kinds.setdefault("serial", [])
    if consoles and _chr_target_type(consoles[0]) in (None, "serial"):
        first = consoles.pop(0)
        if not serials:
            serial = copy.deepcopy(first)
            serial.tag = "serial"
            target = _chr_target(serial)
            target.attrib.clear()
            target.set("port", "0")
            serials.append(serial)
    elif not serials or _chr_target_type(serials[0]) not in _CONSOLE_SERIAL_TYPES:
        return
    if not serials:
        return
    stub = copy.deepcopy(serials[0])
    stub.tag = "console"
    target = _chr_target(stub)
    port = target.get("port", "0")
    for child in list(target):
        target.remove(child)
    target.attrib.clear()
    target.set("type", "serial")
    target.set("port", port)
    kinds.setdefault("console", []).insert(0, stub)


def _chr_target_type(dev: ET.Element) -> str | None:
    target = dev.find("target")
    return target.get("type") if target is not None else None


def _video_default_type(guest: _Guest) -> str:
    if guest.os_type in ("xen", "linux"):
        return "xen"
    if guest.arch in ("ppc64", "ppc64le"):
        return "vga"
    return "cirrus"


def _implicit_video(kinds: dict[str, list[ET.Element]], guest: _Guest) -> None:
    """Graphics without a video device get the test driver's default video."""
    if not kinds.get("graphics") or kinds.get("video"):
        return
    vtype = _video_default_type(guest)
    video = ET.Element("video")
    attrs = {"type": vtype}
    vram = video_default_ram(guest.virt_type, vtype)
    if vram:
        attrs["vram"] = str(vram)
    attrs.update(heads="1", primary="yes")
    ET.SubElement(video, "model", attrs)
    kinds["video"] = [video]


def _video_memory(video: ET.Element, guest: _Guest) -> None:
    """A video device's memory as libvirt's post-parse fills it in: the model's default
    where none is set, rounded up to a power of two (none, if that overflows)."""
    model = video.find("model")
    if model is None:
        model = ET.SubElement(video, "model")
    mtype = model.get("type")
    if mtype is None:
        mtype = _video_default_type(guest)
        model.set("type", mtype)
    if mtype == "none":
        return
    default = video_default_ram(guest.virt_type, mtype)
    for attr in ("ram", "vram"):
        number = _c_uint_dec(model.get(attr, "")) or 0
        if not number and (attr == "vram" or mtype == "qxl"):
            number = default
        number = video_memory(number)
        if number:
            model.set(attr, str(number))
        else:
            model.attrib.pop(attr, None)


def _primary_video(kinds: dict[str, list[ET.Element]], guest: _Guest) -> None:
    """The first video device is the primary one; one of type none keeps no settings."""
    videos = kinds.get("video", [])
    if not videos:
        return
    model = videos[0].find("model")
    if model is None:
        return
    if model.get("type") == "none":
        for child in list(model):
            model.remove(child)
        model.attrib.clear()
        model.set("type", "none")
    else:
        if model.get("primary") != "yes":
            model.set("primary", "yes")
        # the primary video's post-parse runs once more (it may be an implicit one)
        _video_memory(videos[0], guest)


def _has_usb(kinds: dict[str, list[ET.Element]]) -> bool:
    return any(c.get("type") == "usb" and c.get("model") != "none"
               for c in kinds.get("controller", []))


def _check_boot_order(kinds: dict[str, list[ET.Element]], os_boot: bool) -> None:
    """Per-device boot orders are unique, and exclude ``<os>``'s boot devices."""
    seen: set[str] = set()
    for tag in _ITERATION_ORDER:
        for dev in kinds.get(tag, []):
            boot = dev.find("boot")
            order = boot.get("order") if boot is not None else None
            if order is None:
                continue
            if order in seen:
                raise _unsupported(f"boot order '{order}' used for more than one device")
            seen.add(order)
    if seen and os_boot:
        raise _unsupported("per-device boot elements cannot be used together with os/boot "
                           "elements")


def _unsupported(text: str) -> VirtError:
    return VirtError.fmt(ErrCode.CONFIG_UNSUPPORTED, ErrDomain.DOMAIN,
                         "unsupported configuration: %s", text)


#: the order in which libvirt visits devices (virDomainDeviceInfoIterate)
#: the address types a subsystem host device of each type may have, and libvirt's
#: complaint about another (a config error, but for PCI an internal error)
_HOSTDEV_ADDRESSES: dict[str, tuple[tuple[str, ...], str]] = {
    "pci": (("pci", "unassigned"), "PCI host devices must use 'pci' or 'unassigned' address type"),
    "scsi": (("drive",), "SCSI host device must use 'drive' address type"),
    "scsi_host": (("pci", "ccw"), "SCSI_host host device must use 'pci' or 'ccw' address type"),
    "usb": (("usb",), "USB host device must use 'usb' address type"),
}


#: the address type a mediated device of each model must have (others take any)
_MDEV_ADDRESSES = {"vfio-pci": "pci", "vfio-ccw": "ccw"}


def _hostdev_address_problem(dev: ET.Element, atype: str) -> VirtError | None:
    htype = "pci" if dev.tag == "interface" else dev.get("type", "")
    model = dev.get("model", "")
    if htype == "mdev" and _MDEV_ADDRESSES.get(model, atype) != atype:
        return VirtError.xml_error(
            ErrDomain.DOMAIN,
            f"Unsupported address type '{atype}' with mediated device model '{model}'")
    types, text = _HOSTDEV_ADDRESSES.get(htype, ((atype,), ""))
    if dev.get("mode", "subsystem") != "subsystem" or atype in types:
        return None
    if htype == "pci":
        return VirtError.internal_error(ErrDomain.DOMAIN, text)
    return _unsupported(text)


_ITERATION_ORDER = (
    "disk", "interface", "sound", "hostdev", "video", "controller", "smartcard", "serial",
    "parallel", "channel", "console", "input", "filesystem", "watchdog", "memballoon", "nvram",
    "hub", "shmem", "tpm", "panic", "memory", "redirdev", "rng", "iommu", "vsock",
)


def _chr_source_problem(ctype: str | None, dev: ET.Element, *,
                        virtio_channel: bool = False) -> VirtError | None:
    """What libvirt says about a character device source of type *ctype* (the
    ``<source>`` children of *dev*) that lacks what the type needs."""
    sources = dev.findall("source")
    attrs: dict[str, str] = {}
    for src in sources:
        attrs.update(src.attrib)

    def internal(what: str) -> VirtError:
        return VirtError.internal_error(
            ErrDomain.DOMAIN, f"Missing source {what} attribute for char device")

    if ctype == "tcp":
        if not attrs.get("host"):
            return internal("host")
        if not attrs.get("service"):
            return internal("service")
    elif ctype == "udp":
        # (the first source of a mode is the one read)
        connect = next((s for s in sources if s.get("mode", "connect") == "connect"), None)
        if connect is None or not connect.get("service"):
            return internal("service")
    elif ctype == "unix":
        if not attrs.get("path") and not virtio_channel:
            return internal("path")
    elif ctype in ("file", "pipe", "dev"):
        if not attrs.get("path"):
            return internal("path")
    elif ctype in ("spiceport", "dbus"):
        if not attrs.get("channel"):
            return _unsupported("Missing source channel attribute for char device")
    elif ctype == "nmdm" and bool(attrs.get("master")) != bool(attrs.get("slave")):
        return VirtError.internal_error(
            ErrDomain.DOMAIN,
            "Should define both master and slave path attributes for nmdm device")
    return None


def _memory_node_problem(dev: ET.Element, guest: _Guest) -> VirtError | None:
    """What libvirt says about the guest NUMA node a memory device names (None: it
    names none, or one the guest has)."""
    node = dev.find("target/node")
    if node is None:
        return None
    number = int(node.text or "0")
    if guest.numa_nodes == 0:
        text = "can't add memory backend as guest has no NUMA nodes configured"
    elif number >= guest.numa_nodes:
        text = (f"can't add memory backend for guest node '{number}' as the guest has only "
                f"'{guest.numa_nodes}' NUMA nodes configured")
    else:
        return None
    return VirtError(ErrCode.XML_DETAIL, ErrDomain.DOMAIN, text, str1="%s", str2=text)


def _memory_model_problem(dev: ET.Element, guest: _Guest) -> VirtError | None:
    """What libvirt says about what a memory device's model needs (None: nothing): an
    nvdimm or virtio-pmem its source path and no discard; an nvdimm no UUID (that is for
    ppc64 guests, which need a label size instead); a virtio-pmem no guest NUMA node."""
    model = dev.get("model")
    if model not in ("nvdimm", "virtio-pmem"):
        return None
    path = dev.find("source/path")
    if path is None or not "".join(path.itertext()):
        text = f"path is required for model '{model}'"
        return VirtError(ErrCode.XML_DETAIL, ErrDomain.DOMAIN, text, str1="%s", str2=text)
    if dev.get("discard") == "yes":
        return _unsupported("discard is not supported for nvdimms" if model == "nvdimm"
                            else f"discard is not supported for model '{model}'")
    if model == "nvdimm":
        if guest.arch.startswith("ppc64"):
            label = dev.find("target/label/size")
            if label is None or not c_number("".join(label.itertext())):
                return _unsupported("label size is required for NVDIMM device")
        elif dev.find("uuid") is not None:
            return _unsupported("UUID is not supported for NVDIMM device")
        return None
    if dev.find("target/node") is not None:
        return _unsupported("virtio-pmem does not support NUMA nodes")
    return None


def _input_problem(dev: ET.Element, guest: _Guest) -> VirtError | None:
    """What libvirt says about an input device's bus (None: nothing)."""
    itype, bus = dev.get("type", ""), dev.get("bus")
    if guest.os_type in ("xen", "linux", "xenpvh"):
        if bus != "xen":
            return VirtError.internal_error(ErrDomain.DOMAIN, f"unsupported input bus {bus}")
        if itype not in ("mouse", "keyboard"):
            return VirtError.internal_error(
                ErrDomain.DOMAIN, f"xen bus does not support {itype} input device")
    elif guest.hvm:
        if bus == "xen":
            return VirtError.internal_error(ErrDomain.DOMAIN, "unsupported input bus xen")
        if bus == "ps2" and itype not in ("mouse", "keyboard"):
            return VirtError.internal_error(
                ErrDomain.DOMAIN, f"ps2 bus does not support {itype} input device")
    if itype == "passthrough" and bus != "virtio":
        return _unsupported("only bus 'virtio' is supported for 'passthrough' input devices")
    if itype == "evdev" and bus is not None:
        return _unsupported("input evdev doesn't support bus element")
    return None


#: where a filesystem of each type names its source
_FS_SOURCE_ATTR = {"mount": "dir", "bind": "dir", "block": "dev", "file": "file",
                   "template": "name"}


def _filesystem_source_problem(fs: ET.Element) -> VirtError | None:
    """A filesystem without a source (refused as it is read)."""
    source = fs.find("source")
    if fs.get("type") == "ram":
        if source is None or source.get("usage") is None:
            return VirtError.xml_error(ErrDomain.DOMAIN,
                                       "missing 'usage' attribute for RAM filesystem")
        return None
    attr = _FS_SOURCE_ATTR.get(fs.get("type", "mount"))
    if attr is None or (source is not None and source.get(attr)):
        return None
    target = fs.find("target")
    target_dir = target.get("dir") if target is not None else None
    if target_dir:
        return VirtError.fmt(ErrCode.NO_SOURCE, ErrDomain.DOMAIN,
                             "missing source information for device %s", target_dir)
    return VirtError.fmt(ErrCode.NO_SOURCE, ErrDomain.DOMAIN,
                         "missing source information for device")


def _filesystem_target_problem(fs: ET.Element) -> VirtError | None:
    """A filesystem without a target (refused as it is validated)."""
    target = fs.find("target")
    if target is not None and target.get("dir"):
        return None
    source = fs.find("source")
    attr = _FS_SOURCE_ATTR.get(fs.get("type", "mount"))
    source_name = source.get(attr) if source is not None and attr is not None else None
    if source_name:
        return VirtError.fmt(ErrCode.NO_TARGET, ErrDomain.DOMAIN,
                             "missing target information for device %s", source_name)
    return VirtError.fmt(ErrCode.NO_TARGET, ErrDomain.DOMAIN,
                         "missing target information for device")


def _none_among_videos(videos: list[ET.Element]) -> bool:
    """Whether a 'none' video is one of several."""
    return len(videos) > 1 and any(
        (model := v.find("model")) is not None and model.get("type") == "none" for v in videos)


def _video_problem(video: ET.Element, none_among_several: bool) -> VirtError | None:
    """What libvirt's validation says about a video device (None: nothing)."""
    if none_among_several:
        return _unsupported("a 'none' video type must be the only video device defined for "
                            "the domain")
    model = video.find("model")
    if model is None or model.get("type") == "none":
        return None
    resolution = model.find("resolution")
    if resolution is not None and 0 in (c_number(resolution.get(a, "")) for a in ("x", "y")):
        return _unsupported("video resolution values must be greater than 0")
    if model.get("type") == "qxl":
        return None
    for attr in ("ram", "vram64", "vgamem"):
        if _c_uint_dec(model.get(attr, "")):
            return _unsupported(f"{attr} attribute only supported for video type qxl")
    return None


def _first_duplicate(keys: list[object], other_keys: list[object]) -> tuple[int, int] | None:
    """The first pair (i, j), i < j, with ``keys[i] == other_keys[j]`` as libvirt's nested
    loops over the devices find it (lowest i, then lowest j), found in one pass each way
    rather than by comparing every pair."""
    later: dict[object, list[int]] = {}
    for j, key in enumerate(other_keys):
        later.setdefault(key, []).append(j)
    for i, key in enumerate(keys):
        positions = later.get(key, [])
        k = bisect.bisect_right(positions, i)
        if k < len(positions):
            return i, positions[k]
    return None


#: a key that matches nothing (a device that cannot be anyone's duplicate)
_UNMATCHED = object()


def _check_disk_targets(disks: list[ET.Element]) -> None:
    """No two disks share a target name."""
    targets = [disk.find("target") for disk in disks]
    names = [t.get("dev") if t is not None else None for t in targets]
    # a disk without a target is compared with the others, but no other is compared with it
    others = [n if t is not None else _UNMATCHED
              for n, t in zip(names, targets, strict=True)]
    pair = _first_duplicate(list(names), others)
    if pair is not None:
        disk, other = disks[pair[0]], disks[pair[1]]
        raise VirtError.xml_error(
            ErrDomain.DOMAIN,
            f"target '{names[pair[0]]}' duplicated for disk sources "
            f"'{_disk_source_name(disk) or '<null>'}' and "
            f"'{_disk_source_name(other) or '<null>'}'")


def _check_drive_addresses(disks: list[ET.Element]) -> None:
    """No two disks of a bus share a drive address."""
    keys: list[object] = []
    for disk in disks:
        place = _drive_address(disk)
        keys.append(None if place is None else (_disk_bus(disk), place))
    pair = _first_duplicate(keys, [_UNMATCHED if k is None else k for k in keys])
    if pair is not None:
        disk = disks[pair[0]]
        place = _drive_address(disk)
        assert place is not None
        target = disk.find("target")
        dst = target.get("dev", "") if target is not None else ""
        raise _unsupported(
            f"Found duplicate drive address for disk with target name '{dst}' "
            f"controller='{place[0]}' bus='{place[1]}' target='{place[2]}' "
            f"unit='{place[3]}'")


#: the buses whose disks have drive addresses
_DRIVE_BUSES = ("ide", "fdc", "scsi", "sata")


def _disk_problem(disk: ET.Element) -> VirtError | None:
    """What libvirt's disk validation says about *disk* (None: nothing)."""
    target = disk.find("target")
    bus = target.get("bus", "") if target is not None else ""
    dst = target.get("dev", "") if target is not None else ""
    device = disk.get("device", "disk")
    dtype = disk.get("type", "file")
    if dtype in ("block", "dir") and disk.find("source") is None:
        dtype = "file"  # an empty drive
    if device == "lun" and dtype in ("file", "dir"):
        return _unsupported("disk device='lun' is only valid for block type disk source")
    addr = disk.find("address")
    if bus in _DRIVE_BUSES and addr is not None and addr.get("type") != "drive":
        return _unsupported(f"Invalid address type '{addr.get('type')}' for the disk "
                            f"'{dst}' with the bus type '{bus}'")
    if device == "floppy" and bus != "fdc":
        return VirtError.internal_error(ErrDomain.DOMAIN,
                                        f"Invalid bus type '{bus}' for floppy disk")
    if device != "floppy" and bus == "fdc":
        return VirtError.internal_error(ErrDomain.DOMAIN, f"Invalid bus type '{bus}' for disk")
    if device in ("disk", "lun") and not dst.startswith(("hd", "sd", "vd", "xvd", "ubd")):
        return VirtError.internal_error(ErrDomain.DOMAIN,
                                        f"Invalid harddisk device name: {dst}")
    if device == "floppy" and not dst.startswith("fd"):
        return VirtError.internal_error(ErrDomain.DOMAIN, f"Invalid floppy device name: {dst}")
    return None


def _validate(kinds: dict[str, list[ET.Element]], guest: _Guest,
              validate_definition: Callable[[], None] | None = None) -> None:
    """The checks of libvirt's domain validation that concern which devices exist and the
    character device sources they need, in libvirt's order: device by device, then the
    device set."""
    for tag in _ITERATION_ORDER:
        devs = kinds.get(tag, [])
        if tag == "hostdev":
            # an interface of type hostdev is a host device too (read before the others)
            devs = [d for d in kinds.get("interface", []) if d.get("type") == "hostdev"] + devs
        none_among_videos = tag == "video" and _none_among_videos(devs)
        for dev in devs:
            problem: VirtError | None = None
            addr = dev.find("address")
            if addr is not None and addr.get("type") == "unassigned" and tag != "hostdev":
                # (checked first, for any device)
                raise _unsupported("address of type 'unassigned' is supported only for hostdevs")
            if tag == "disk":
                # (a disk's target is validated first, its source last)
                problem = (_disk_target_problem(dev) or _disk_problem(dev)
                           or _disk_source_problem(dev))
            elif tag == "input":
                problem = _input_problem(dev, guest)
            elif tag == "video":
                problem = _video_problem(dev, none_among_videos)
            elif tag == "filesystem":
                problem = _filesystem_target_problem(dev)
            elif tag == "smartcard":
                if addr is not None and addr.get("type") != "ccid":
                    problem = _unsupported("Controllers must use the 'ccid' address type")
                elif dev.get("mode") == "passthrough":
                    problem = _chr_source_problem(dev.get("type"), dev)
            elif tag == "hostdev" and addr is not None:
                problem = _hostdev_address_problem(dev, addr.get("type", ""))
            elif tag == "controller" and dev.get("type") == "pci":
                if addr is not None and dev.get("model") in ("pci-root", "pcie-root"):
                    problem = _unsupported(
                        "pci-root and pcie-root controllers should not have an address")
                elif _index_of(dev) > 255:
                    problem = _unsupported(
                        f"PCI controller index {_index_of(dev)} too high, maximum is 255")
            elif tag == "iommu" and addr is not None and dev.get("model") != "virtio":
                problem = VirtError.xml_error(
                    ErrDomain.DOMAIN, f"iommu model '{dev.get('model')}' can't have address")
            elif tag in ("serial", "parallel", "console", "channel"):
                target = dev.find("target")
                virtio = (tag == "channel" and target is not None
                          and target.get("type") == "virtio")
                problem = _chr_source_problem(dev.get("type", "pty"), dev,
                                              virtio_channel=virtio)
            elif tag == "redirdev":
                if dev.get("bus", "usb") == "usb" and not _has_usb(kinds):
                    problem = _unsupported(
                        "cannot add redirected USB device: USB is disabled for this domain")
                else:
                    problem = _chr_source_problem(dev.get("type"), dev)
            elif tag == "memory":
                problem = _memory_node_problem(dev, guest) or _memory_model_problem(dev, guest)
            elif tag == "rng":
                backend = dev.find("backend")
                if backend is not None and backend.get("model") == "egd":
                    problem = _chr_source_problem(backend.get("type"), backend)
            if problem is not None:
                raise problem
    # then the checks of the whole device set
    _check_disk_targets(kinds.get("disk", []))
    _check_drive_addresses(kinds.get("disk", []))
    if validate_definition is not None:
        validate_definition()
    videos = kinds.get("video", [])
    if sum(map(_is_primary, videos)) > 1:
        raise _unsupported("Only one primary video device is supported")


def disk_index(name: str) -> int:
    """libvirt's virDiskNameToIndex: hda → 0, hdb → 1, ..., sdaa → 26 (-1: not a disk
    name)."""
    for prefix in ("fd", "hd", "vd", "sd", "xvd", "ubd"):
        if name.startswith(prefix):
            letters = name[len(prefix):]
            break
    else:
        return -1
    if not letters or not letters.isascii() or not letters.isalpha() or not letters.islower():
        return -1
    idx = 0
    for ch in letters:
        idx = idx * 26 + (ord(ch) - ord("a") + 1)
    return idx - 1
