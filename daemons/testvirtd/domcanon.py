"""How libvirt writes each element of a domain definition back: its canonical form.

libvirt parses a domain document into structures and formats them again, so what a client
reads back from ``virDomainGetXMLDesc`` is not what it sent: attributes and children come
in the formatter's order, defaults the parser fills in appear, values are normalised (sizes
in KiB, CPU sets as ranges, PCI addresses in hex) and what the parser does not know is gone.
testvirtd keeps most of a definition as element trees; :func:`canonical` gives the copy of
an element that libvirt's formatter would write.

Everything is described per element kind in :data:`KINDS`, keyed by the element's path
below ``<domain>`` (``devices/disk``, ``devices/disk/driver``, ``os/loader``...), optionally
refined by its ``type`` attribute (``devices/graphics[spice]``).  A :class:`Kind` gives the
attribute order, the child order, and optionally a function filling in defaults and
normalising values.  Adding a kind is one table entry.
"""

from __future__ import annotations

import copy
import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ("ADDRESS_TYPES", "BITMAP_LEN", "KINDS", "OPEN_EMPTY", "Context", "Kind",
           "attribute_problem", "c_number", "canonical", "devices", "fill_iothread_ids",
           "format_bitmap", "format_members", "missing_attribute", "os_children",
           "parse_bitmap", "video_default_ram", "video_memory")


class _OpenEmpty(str):
    """Text marking an element libvirt writes as an open and a close tag on two lines
    even when it has no children (``<redirdev ...>`` of a spicevmc channel)."""

    __slots__ = ()


#: the text of an element to be written open and closed on two lines (see format_element)
OPEN_EMPTY = _OpenEmpty("")


@dataclass(frozen=True, slots=True)
class Context:
    """What the defaults of an element depend on outside of it."""

    #: ``<domain type=...>``
    domain_type: str = "test"
    #: the ``<os><type>`` (hvm, xen, exe)
    os_type: str = "hvm"
    #: the domain has a ``<bootloader>`` (libvirt then reads no boot settings of <os>)
    bootloader: bool = False
    #: the maximum number of vCPUs
    vcpus: int = 1
    #: the live definition of a running domain is written
    live: bool = False


#: A default-filling function: mutates the element (already a private copy).
Fill = Callable[[ET.Element, Context], None]


@dataclass(frozen=True, slots=True)
class Kind:
    """How libvirt writes one kind of element."""

    #: attribute names in the formatter's order (others follow in their own order)
    attrs: tuple[str, ...] = ()
    #: child element names in the formatter's order (others follow in their own order)
    children: tuple[str, ...] = ()
    #: defaults and value normalisation, applied before ordering
    fill: Fill | None = None
    #: attributes the parser does not read (dropped)
    drop_attrs: frozenset[str] = field(default_factory=frozenset)
    #: children the parser does not read (dropped)
    drop_children: frozenset[str] = field(default_factory=frozenset)
    #: only the listed children are read (the others are dropped)
    closed: bool = False
    #: only the listed attributes are read (the others are dropped)
    closed_attrs: bool = False
    #: libvirt writes nothing for the element when it is left without attributes and
    #: children
    empty_is_absent: bool = False
    #: attributes the parser requires, in the order it reads them
    required: tuple[str, ...] = ()
    #: attributes the parser reads from a fixed list: the values it knows and its
    #: complaint about others (a format with one ``%s`` for the value; None: the XML
    #: layer's "Invalid value for attribute" complaint)
    values: Mapping[str, tuple[frozenset[str], str | None]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# value helpers


#: how many CPUs or NUMA nodes a set in a definition may name (libvirt's
#: VIR_DOMAIN_CPUMASK_LEN): numbers from 0 to 16383
BITMAP_LEN = 16384
#: C's blanks, as virSkipSpaces skips them
_BLANKS = " \t\n\v\f\r"
#: the first number of a set's part (it must start with a digit) and the last one of a
#: range (strtol's optional sign)
_FIRST = re.compile(r"[0-9]+")
_LAST = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")


def _skip_blanks(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _BLANKS:
        pos += 1
    return pos


def parse_bitmap(text: str, size: int = BITMAP_LEN) -> set[int] | None:
    """A CPU or node set (``0-3,^2, 5``) read as libvirt's ``virBitmapParse`` reads it:
    parts joined by commas, each a number, a range or an excluded number, all below
    *size*; None when libvirt refuses the text.  The result never has more than *size*
    members, whatever the text says."""
    members: set[int] = set()
    pos = _skip_blanks(text, 0)
    if pos == len(text):
        return None
    while pos < len(text):
        neg = text[pos] == "^"
        first = _FIRST.match(text, pos + neg)
        # (a number longer than the largest one allowed is refused before it is read)
        if first is None or len(first.group()) > len(str(size)):
            return None
        start = int(first.group())
        if start >= size:
            return None
        pos = _skip_blanks(text, first.end())
        if pos < len(text) and text[pos] == "-":
            last = _LAST.match(text, pos + 1)
            if neg or last is None or len(last.group(1).lstrip("+-")) > len(str(size)):
                return None
            end = int(last.group(1))
            if end < start or end >= size:
                return None
            members.update(range(start, end + 1))
            pos = _skip_blanks(text, last.end())
        elif neg:
            members.discard(start)
        else:
            members.add(start)
        if pos < len(text):
            if text[pos] != ",":
                return None
            pos = _skip_blanks(text, pos + 1)
    return members


def format_bitmap(text: str) -> str | None:
    """A CPU or node set (``0-3,^2,5``) as libvirt's ``virBitmapFormat`` writes it
    (``0-1,3,5``); None if libvirt cannot read *text*."""
    members = parse_bitmap(text)
    return None if members is None else format_members(members)


def format_members(members: Iterable[int]) -> str:
    """CPU or node numbers in libvirt's compact syntax (``0-2,5``), in order, runs joined."""
    out: list[str] = []
    ordered = sorted(set(members))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


_SCALE = {
    "b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2,
    "mb": 1000**2, "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4, "tib": 1024**4,
    "tb": 1000**4, "p": 1024**5, "pib": 1024**5, "pb": 1000**5, "e": 1024**6, "eib": 1024**6,
    "eb": 1000**6,
}


def _kib(value: str, unit: str | None) -> int | None:
    """A scaled size in KiB (rounded up, as libvirt's virScaleInteger / 1024)."""
    scale = _SCALE.get((unit or "KiB").lower())
    try:
        number = int(value.strip())
    except ValueError:
        return None
    if scale is None or number < 0:
        return None
    return -(-number * scale // 1024)


def _size_text_kib(elem: ET.Element) -> None:
    """``<x unit='M'>2</x>`` → ``<x unit='KiB'>2048</x>``."""
    kib = _kib(elem.text or "", elem.get("unit"))
    if kib is not None:
        elem.text = str(kib)
        elem.set("unit", "KiB")


def _size_attr_kib(attr: str) -> Fill:
    def fill(elem: ET.Element, _ctx: Context) -> None:
        value = elem.get(attr)
        if value is None:
            return
        kib = _kib(value, elem.get("unit"))
        if kib is not None:
            elem.set(attr, str(kib))
            elem.set("unit", "KiB")
    return fill


def _bitmaps(*attrs: str) -> Fill:
    def fill(elem: ET.Element, _ctx: Context) -> None:
        for attr in attrs:
            value = elem.get(attr)
            if value is not None:
                formatted = format_bitmap(value)
                if formatted:
                    elem.set(attr, formatted)
    return fill


def _chain(*fills: Fill) -> Fill:
    def fill(elem: ET.Element, ctx: Context) -> None:
        for f in fills:
            f(elem, ctx)
    return fill


#: a C ``strtol``/``strtoul`` number in base 10: blanks, a sign, digits
_DEC = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)")
#: the same in base 0: hex after 0x, octal after a leading 0, decimal otherwise
_ANY_BASE = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
#: the same in base 16: hex digits, which may follow a 0x
_HEX = re.compile(r"[ \t\n\v\f\r]*([+-]?)(?:0[xX])?([0-9a-fA-F]+)")


def c_number(text: str, base: int = 10) -> int | None:
    """*text* as C's ``strtol`` reads it whole in *base* (10, 16, or 0: by its prefix);
    None when it is not a number."""
    m = {10: _DEC, 16: _HEX}.get(base, _ANY_BASE).fullmatch(text)
    if m is None:
        return None
    digits = m.group(2)
    if base in (10, 16):
        number = int(digits, base)
    elif digits[:2].lower() == "0x":
        number = int(digits[2:], 16)
    else:
        number = int(digits, 8) if digits.startswith("0") else int(digits, 10)
    return -number if m.group(1) == "-" else number


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip(), 0)
    except ValueError:
        return None


def _hex_attrs(widths: Mapping[str, int]) -> Fill:
    """Integer attributes written in hex with a fixed number of digits."""
    def fill(elem: ET.Element, _ctx: Context) -> None:
        for attr, width in widths.items():
            number = _int(elem.get(attr))
            if number is not None:
                elem.set(attr, f"0x{number:0{width}x}")
    return fill


_PCI_HEX = {"domain": 4, "bus": 2, "slot": 2, "function": 1}


def _address(elem: ET.Element, _ctx: Context) -> None:
    """PCI addresses in hex, the multifunction flag as given (a device's address of any
    type is already as libvirt writes it: domdevices reads it)."""
    kind = elem.get("type")
    if kind == "pci" and not any(_int(elem.get(a, "0")) for a in ("domain", "bus", "slot")):
        # an empty PCI address (one to be assigned: nothing but a function is given) is
        # written empty
        for attr in _PCI_HEX:
            elem.attrib.pop(attr, None)
    elif kind == "pci" or (kind is None and "slot" in elem.attrib):
        for attr, width in _PCI_HEX.items():
            number = _int(elem.get(attr, "0"))
            if number is not None:
                elem.set(attr, f"0x{number:0{width}x}")


# --------------------------------------------------------------------------------------------
# defaults per kind


def _set_default(elem: ET.Element, attr: str, value: str) -> None:
    if elem.get(attr) is None:
        elem.set(attr, value)


def _graphics(elem: ET.Element, _ctx: Context) -> None:
    gtype = elem.get("type")
    if elem.get("passwd") is None:
        for attr in ("passwdValidTo", "connected"):  # read only with a password
            elem.attrib.pop(attr, None)
    if gtype == "sdl" and elem.get("fullscreen") == "no":
        del elem.attrib["fullscreen"]
    if gtype == "desktop" and elem.get("fullscreen") == "no":
        del elem.attrib["fullscreen"]
    if gtype not in ("vnc", "spice", "rdp"):
        return
    listens = elem.findall("listen")
    if not listens:
        if gtype == "vnc" and elem.get("socket"):
            first = ET.SubElement(elem, "listen", {"type": "socket",
                                                    "socket": elem.get("socket", "")})
        elif elem.get("listen"):
            first = ET.SubElement(elem, "listen", {"type": "address",
                                                    "address": elem.get("listen", "")})
        else:
            first = ET.SubElement(elem, "listen", {"type": "address"})
        listens = [first]
    first = listens[0]
    if first.get("type") == "address" and not first.get("address"):
        # the listen attribute and the first <listen> are one setting
        if gtype == "vnc" and elem.get("socket"):
            first.attrib.clear()
            first.attrib.update({"type": "socket", "socket": elem.get("socket", "")})
        elif elem.get("listen"):
            first.set("address", elem.get("listen", ""))
    ltype = first.get("type")
    if gtype == "vnc" and ltype == "socket" and first.get("socket"):
        elem.set("socket", first.get("socket", ""))
    if ltype == "address" and first.get("address"):
        elem.set("listen", first.get("address", ""))
    elif "listen" in elem.attrib:
        del elem.attrib["listen"]
    if ltype not in ("address", "network"):
        for attr in ("port", "tlsPort", "autoport", "websocket"):
            elem.attrib.pop(attr, None)
        return
    port = _int(elem.get("port"))
    autoport_attr = elem.get("autoport")
    if gtype == "vnc":
        # (port -1 is the old way of saying autoport, which the attribute overrides)
        auto = autoport_attr == "yes" if autoport_attr is not None else port in (None, -1)
        if auto:
            elem.set("port", "-1")
        elif port is not None and port > 0:
            elem.set("port", str(port))
        else:
            elem.attrib.pop("port", None)
        elem.set("autoport", "yes" if auto else "no")
    elif gtype == "spice":
        tls = _int(elem.get("tlsPort"))
        # (both ports -1 is the old way of saying autoport)
        auto = autoport_attr == "yes" or (port == -1 and tls == -1)
        if auto:
            port = tls = 0
        for attr, value in (("port", port), ("tlsPort", tls)):
            if value:
                elem.set(attr, str(value))
            else:
                elem.attrib.pop(attr, None)
        if port or tls or auto or ltype == "network":
            elem.set("autoport", "yes" if auto else "no")
        else:  # SPICE with no port to listen on does not listen
            for attr in ("autoport", "listen"):
                elem.attrib.pop(attr, None)
            for listen in elem.findall("listen"):
                elem.remove(listen)
            elem.insert(0, ET.Element("listen", {"type": "none"}))
    else:  # rdp
        auto = autoport_attr == "yes" or port in (None, -1)
        elem.set("port", "0" if auto else str(port))
        if auto:
            elem.set("autoport", "yes")
        else:
            elem.attrib.pop("autoport", None)


def video_default_ram(virt_type: str, model: str) -> int:
    """libvirt's default video memory (KiB) of a video *model* in a domain of *virt_type*
    (0: none)."""
    if model in ("vga", "cirrus", "vmvga"):
        return {"vbox": 8 * 1024, "vmware": 4 * 1024}.get(virt_type, 16 * 1024)
    # (Xen's paravirtual framebuffer always had 4 MiB)
    return {"xen": 4 * 1024, "bochs": 16 * 1024, "qxl": 64 * 1024}.get(model, 0)


def video_memory(kib: int) -> int:
    """A video device's RAM or VRAM size as libvirt keeps it: rounded up to a power of two
    in a 32-bit number (0, "not set", when that overflows)."""
    if kib <= 0:
        return 0
    rounded = 1 << (kib - 1).bit_length()
    return rounded if rounded <= 2**31 else 0


def _video_model(elem: ET.Element, ctx: Context) -> None:
    if elem.get("type") is None:
        elem.set("type", "xen" if ctx.os_type == "xen" else "cirrus")
    mtype = elem.get("type", "")
    if mtype == "none":
        return
    # (the memory defaults and their rounding are the post-parse's, one head the parser's:
    # see domdevices)
    for attr in ("ram", "vram", "vram64", "vgamem", "heads"):
        number = c_number(elem.get(attr, ""))
        if number:
            elem.set(attr, str(number))
        elif number == 0:
            del elem.attrib[attr]  # zero is "not set"
    if elem.get("primary") == "no":
        del elem.attrib["primary"]


def _video(elem: ET.Element, ctx: Context) -> None:
    if elem.find("model") is None:
        ET.SubElement(elem, "model")


def _chr_source(elem: ET.Element) -> None:
    """What every character device backend has: a TCP one says its protocol (raw unless
    told), the others have none; a source element only where the type reads one."""
    kind = elem.get("type")
    protocol = elem.find("protocol")
    if kind == "tcp" and protocol is not None:
        _set_default(protocol, "type", "raw")
    if kind == "tcp" and protocol is None:
        source = elem.find("source")
        protocol = ET.Element("protocol", {"type": "raw"})
        elem.insert(list(elem).index(source) + 1 if source is not None else 0, protocol)
    elif kind != "tcp" and protocol is not None:
        elem.remove(protocol)
    source = elem.find("source")
    if source is not None and (
            kind in ("pty", "null", "vc", "stdio", "spicevmc")
            or (kind == "unix" and not source.get("path"))):
        elem.remove(source)  # (a unix socket without a path is an automatic one)
    elif kind in ("tcp", "unix", "udp"):
        for source in elem.findall("source"):
            if "mode" not in source.attrib:
                items = [("mode", "connect"), *source.attrib.items()]
                source.attrib.clear()
                source.attrib.update(items)
    if kind == "udp":
        # the first source of each mode is read; the bind one is written first
        sources = elem.findall("source")
        kept: dict[str | None, ET.Element] = {}
        for source in sources:
            kept.setdefault(source.get("mode"), source)
        at = list(elem).index(sources[0]) if sources else 0
        for source in sources:
            elem.remove(source)
        for mode in ("connect", "bind"):
            if mode in kept:
                elem.insert(at, kept[mode])


def _chardev(elem: ET.Element, _ctx: Context) -> None:
    """Serial, parallel, console and channel devices."""
    _set_default(elem, "type", "pty")
    _chr_source(elem)
    target = elem.find("target")
    if target is not None:
        target.attrib.pop("state", None)


def _redirdev(elem: ET.Element, _ctx: Context) -> None:
    _set_default(elem, "bus", "usb")
    _chr_source(elem)
    if len(elem) == 0 and not (elem.text or "").strip():
        elem.text = OPEN_EMPTY


_DISK_BUS_BY_PREFIX = (("hd", "ide"), ("sd", "scsi"), ("vd", "virtio"), ("xvd", "xen"),
                       ("ubd", "uml"), ("fd", "fdc"))


def _disk(elem: ET.Element, _ctx: Context) -> None:
    _set_default(elem, "type", "file")
    if elem.get("type") in ("block", "dir") and elem.find("source") is None:
        elem.set("type", "file")  # an empty drive
    _set_default(elem, "device", "disk")
    target = elem.find("target")
    if target is not None and target.get("bus") is None:
        dev = target.get("dev", "")
        if elem.get("device") == "floppy":
            target.set("bus", "fdc")
        else:
            for prefix, bus in _DISK_BUS_BY_PREFIX:
                if dev.startswith(prefix):
                    target.set("bus", bus)
                    break
    if elem.get("device") == "cdrom" and elem.find("readonly") is None:
        ET.SubElement(elem, "readonly")


def _disk_driver(elem: ET.Element, _ctx: Context) -> None:
    if elem.get("type") == "aio":
        elem.set("type", "raw")  # an old name of the raw format
    for attr in ("cache", "io", "discard", "detect_zeroes", "copy_on_read"):
        if elem.get(attr) == "default":
            del elem.attrib[attr]


def _hostdev(elem: ET.Element, _ctx: Context) -> None:
    if elem.get("mode") == "capabilities":
        elem.attrib.pop("managed", None)
    driver = elem.find("driver")
    if driver is not None and elem.get("type") != "pci":
        elem.remove(driver)  # only a PCI device has a host driver
    if elem.get("mode", "subsystem") == "subsystem":
        _set_default(elem, "managed", "no")
    if elem.get("type") == "usb":
        source = elem.find("source")
        addr = source.find("address") if source is not None else None
        for attr in ("bus", "device"):
            number = _int(addr.get(attr)) if addr is not None else None
            if addr is not None and number is not None:
                addr.set(attr, str(number))
        for tag in ("vendor", "product"):
            node = source.find(tag) if source is not None else None
            number = _int(node.get("id")) if node is not None else None
            if node is not None and number is not None:
                node.set("id", f"0x{number:04x}")


def _memtune(elem: ET.Element, _ctx: Context) -> None:
    for child in elem:
        _size_text_kib(child)


def _smartcard(elem: ET.Element, _ctx: Context) -> None:
    if elem.get("mode") != "passthrough":
        elem.attrib.pop("type", None)


def _filesystem(elem: ET.Element, _ctx: Context) -> None:
    driver = elem.find("driver")
    if driver is None or driver.get("type") != "virtiofs":
        # what only virtiofs reads
        for child in [c for c in elem if c.tag in ("binary", "idmap")]:
            elem.remove(child)
        for source in elem.findall("source"):
            for socket in source.findall("socket"):
                source.remove(socket)
        if driver is not None:
            driver.attrib.pop("queue", None)
    _set_default(elem, "type", "mount")
    _set_default(elem, "accessmode", "passthrough")


def _tpm_backend(elem: ET.Element, _ctx: Context) -> None:
    if elem.get("type") == "passthrough" and elem.find("device") is None:
        ET.SubElement(elem, "device", {"path": "/dev/tpm0"})


def _rng_backend(elem: ET.Element, _ctx: Context) -> None:
    if elem.get("model") == "random" and not (elem.text or "").strip():
        elem.text = "/dev/random"
    elif elem.get("model") == "egd":
        _chr_source(elem)
        if len(elem) == 0:
            elem.text = OPEN_EMPTY
    elif elem.get("model") == "builtin":
        elem.text = None  # (a file is read for the random model only)


def _rng(elem: ET.Element, _ctx: Context) -> None:
    rate = elem.find("rate")
    if rate is not None and rate.get("bytes") is None:
        elem.remove(rate)  # a rate is a number of bytes (per period)
    elif rate is not None:
        for attr, value in rate.attrib.items():
            number = c_number(value)
            if number is not None:
                rate.set(attr, str(number))


def _watchdog(elem: ET.Element, _ctx: Context) -> None:
    _set_default(elem, "action", "reset")


def _loader(elem: ET.Element, _ctx: Context) -> None:
    if (elem.text or "").strip():
        _set_default(elem, "type", "rom")


def _bootmenu(elem: ET.Element, _ctx: Context) -> None:
    if elem.get("enable") == "no":
        elem.attrib.pop("timeout", None)


#: features libvirt writes as ``<name state='on|off'/>`` (a bare element means on)
_STATE_FEATURES = frozenset({"hap", "pmu", "vmport", "smm", "htm", "nested-hv", "ccf-assist",
                             "pvspinlock", "vmcoreinfo", "async-teardown"})
#: features libvirt writes as a bare ``<name/>`` when on
_BARE_FEATURES = frozenset({"acpi", "pae", "viridian", "privnet"})


def _features(elem: ET.Element, _ctx: Context) -> None:
    for child in elem:
        if child.tag in _STATE_FEATURES:
            _set_default(child, "state", "on")
        elif child.tag in _BARE_FEATURES:
            child.attrib.pop("state", None)  # on by being there: no state is read
        if child.tag == "smm":
            _smm(child)
        elif child.tag == "capabilities":
            _set_default(child, "policy", "default")
            for cap in child:
                _set_default(cap, "state", "on")


def _smm(elem: ET.Element) -> None:
    """SMM's TSEG size is read only when SMM is on, and written in MiB."""
    if elem.get("state") != "on":
        for child in list(elem):
            elem.remove(child)
        return
    for tseg in elem.findall("tseg"):
        scale = _SCALE.get((tseg.get("unit") or "MiB").lower())
        number = _int((tseg.text or "").strip())
        if scale is not None and number is not None:
            tseg.text = str(number * scale // 1024**2)
            tseg.set("unit", "MiB")


def _open_empty(elem: ET.Element, _ctx: Context) -> None:
    if len(elem) == 0:
        elem.text = OPEN_EMPTY


def _hyperv(elem: ET.Element, ctx: Context) -> None:
    _set_default(elem, "mode", "custom")
    last = {child.tag: child for child in elem}
    for child in list(elem):
        if last[child.tag] is not child:
            elem.remove(child)  # the last setting of an enlightenment is the one kept
        elif child.tag == "stimer" and child.get("state") == "on":
            directs = child.findall("direct")
            for direct in directs[:-1]:
                child.remove(direct)  # the last setting is the one kept
            if directs and directs[-1].get("state") != "on":
                child.remove(directs[-1])  # (written only when on)
        elif child.get("state") != "on" or child.tag == "tlbflush":
            # what an enlightenment that is off says more is not read (nor, in 9.0, the
            # TLB flush variants)
            for sub in list(child):
                child.remove(sub)
            if child.get("state") != "on":
                for attr in ("retries", "value"):
                    child.attrib.pop(attr, None)
    spinlocks = elem.find("spinlocks")
    retries = c_number(spinlocks.get("retries", ""), 0) if spinlocks is not None else None
    if spinlocks is not None and retries is not None:
        spinlocks.set("retries", str(retries))
    _open_empty(elem, ctx)


def _topology(elem: ET.Element, _ctx: Context) -> None:
    for attr, value in elem.attrib.items():
        number = c_number(value)
        if number is not None:
            elem.set(attr, str(number))
    if "dies" not in elem.attrib:
        items = list(elem.attrib.items())
        items.append(("dies", "1"))
        elem.attrib.clear()
        elem.attrib.update(items)


def _mac(elem: ET.Element, _ctx: Context) -> None:
    address = elem.get("address")
    if address is not None:
        elem.set("address", address.lower())


def _seclabel(elem: ET.Element, _ctx: Context) -> None:
    kind = elem.get("type")
    if kind is None and elem.get("model") is not None:
        kind = "dynamic"
        elem.set("type", kind)
    if kind == "static":
        _set_default(elem, "relabel", "no")
        for child in [c for c in elem if c.tag in ("imagelabel", "baselabel")]:
            elem.remove(child)
    elif kind == "dynamic":
        _set_default(elem, "relabel", "yes")
        for child in [c for c in elem if c.tag in ("label", "imagelabel")]:
            elem.remove(child)
    elif kind is None:
        elem.attrib.clear()  # libvirt keeps no label without a model or a type
        for child in list(elem):
            elem.remove(child)


def _device_seclabel(elem: ET.Element, ctx: Context) -> None:
    """A device's label: relabelling is the default; an inactive definition leaves out a
    label that says nothing more (a live one writes it)."""
    _set_default(elem, "relabel", "yes")
    if not ctx.live and elem.get("relabel") == "yes" and elem.find("label") is None:
        elem.attrib.clear()


#: the port a network disk's host has when none is given, per protocol
_NET_DISK_PORTS = {"http": "80", "https": "443", "ftp": "21", "ftps": "990", "tftp": "69",
                   "nbd": "10809", "iscsi": "3260", "gluster": "24007", "sheepdog": "7000",
                   "ssh": "22", "vxhs": "9999"}


def _disk_source(elem: ET.Element, _ctx: Context) -> None:
    _iscsi_lun(elem)
    port = _NET_DISK_PORTS.get(elem.get("protocol", ""))
    for host in elem.findall("host"):
        if port is not None and host.get("transport", "tcp") == "tcp" and host.get("name"):
            _set_default(host, "port", port)


def _iotune(elem: ET.Element, _ctx: Context) -> None:
    for child in list(elem):
        if child.tag != "group_name" and (child.text or "").strip() == "0":
            elem.remove(child)  # zero is "no limit": not written


def _cid(elem: ET.Element, _ctx: Context) -> None:
    if "auto" not in elem.attrib:
        # a context id is assigned automatically unless one is given
        items = [("auto", "no" if elem.get("address") else "yes"), *elem.attrib.items()]
        elem.attrib.clear()
        elem.attrib.update(items)


def _vsock(elem: ET.Element, _ctx: Context) -> None:
    if elem.find("cid") is None:
        ET.SubElement(elem, "cid")


def _spice_channel(elem: ET.Element, _ctx: Context) -> None:
    if elem.get("mode") == "any":
        elem.attrib.clear()  # the default: not written


def _usbdev(elem: ET.Element, _ctx: Context) -> None:
    for attr in ("class", "vendor", "product", "version"):
        if elem.get(attr) == "-1":
            del elem.attrib[attr]


def _sev_policy(elem: ET.Element, _ctx: Context) -> None:
    number = _int((elem.text or "").strip())
    if number is not None:
        elem.text = f"0x{number:04x}"


def _sysinfo_entry(elem: ET.Element, _ctx: Context) -> None:
    if elem.get("name") is None:
        elem.attrib.clear()
        elem.text = None  # an entry without a name is not read
        return
    if elem.get("file") is not None:
        elem.text = None  # the value is read from the file
    elif elem.get("name") == "uuid" and elem.text:
        elem.text = elem.text.strip().lower()


def _max_memory(elem: ET.Element, _ctx: Context) -> None:
    _size_text_kib(elem)
    if "slots" in elem.attrib:
        items = [("slots", elem.get("slots", "")), ("unit", "KiB")]
        elem.attrib.clear()
        elem.attrib.update(items)


def _numa_memory(elem: ET.Element, ctx: Context) -> None:
    _set_default(elem, "mode", "strict")
    _bitmaps("nodeset")(elem, ctx)



def _memory_device_sizes(elem: ET.Element, _ctx: Context) -> None:
    for child in elem:
        if child.tag in ("size", "pagesize", "alignsize", "block", "requested", "current",
                         "label"):
            if child.tag == "label":
                for size in child.findall("size"):
                    _size_text_kib(size)
            else:
                _size_text_kib(child)


def _user_alias(elem: ET.Element, _ctx: Context) -> None:
    if not elem.get("name", "").startswith("ua-"):
        elem.attrib.clear()  # only user aliases ("ua-...") are read from a definition


def _iscsi_lun(elem: ET.Element) -> None:
    name = elem.get("name")
    if elem.get("protocol") == "iscsi" and name and "/" not in name:
        elem.set("name", f"{name}/0")


def _tpm(elem: ET.Element, _ctx: Context) -> None:
    backend = elem.find("backend")
    if backend is not None and backend.get("type") == "passthrough":
        for attr in ("version", "persistent_state"):
            backend.attrib.pop(attr, None)
        for child in [c for c in backend if c.tag != "device"]:
            backend.remove(child)
    for child in [c for c in elem if c.tag == "active_pcr_banks"]:
        elem.remove(child)


def _fs_limit(elem: ET.Element, _ctx: Context) -> None:
    scale = _SCALE.get((elem.get("unit") or "bytes").lower())
    number = _int((elem.text or "").strip())
    if scale is not None and number is not None:
        elem.text = str(number * scale)
        elem.set("unit", "bytes")


def _fs_source(elem: ET.Element, _ctx: Context) -> None:
    usage = elem.get("usage")
    if usage is not None:
        kib = _kib(usage, elem.get("units"))
        if kib is not None:
            elem.attrib.pop("units", None)
            elem.set("usage", str(kib))
            elem.set("units", "KiB")


#: the NIC models libvirt knows by name (matched without regard to case, written as here);
#: others are kept as given
_NET_MODELS = {name.lower(): name for name in (
    "netfront", "rtl8139", "virtio", "e1000", "e1000e", "virtio-transitional",
    "virtio-non-transitional", "usb-net", "spapr-vlan", "lan9118", "scm91c111", "vlance",
    "vmxnet", "vmxnet2", "vmxnet3", "Am79C970A", "Am79C973", "82540EM", "82545EM", "82543GC")}


def _interface(elem: ET.Element, _ctx: Context) -> None:
    if "type" not in elem.attrib:
        items = [("type", "user"), *elem.attrib.items()]
        elem.attrib.clear()
        elem.attrib.update(items)
    model = elem.find("model")
    name = model.get("type") if model is not None else None
    if model is not None and name is not None:
        if name.lower() in ("", "unknown"):
            del model.attrib["type"]  # no model
        else:
            model.set("type", _NET_MODELS.get(name.lower(), name))
    kind = elem.get("type")
    filterref = elem.find("filterref")
    if filterref is not None and kind not in ("network", "bridge", "ethernet"):
        elem.remove(filterref)  # read only for the types with a host-side tap device
    driver = elem.find("driver")
    if driver is not None and not (model is not None
                                   and model.get("type", "").startswith("virtio")):
        elem.remove(driver)  # read only for virtio NICs


def _numa(elem: ET.Element, _ctx: Context) -> None:
    for n, cell in enumerate(elem.findall("cell")):
        if "id" not in cell.attrib:
            items = [("id", str(n)), *cell.attrib.items()]
            cell.attrib.clear()
            cell.attrib.update(items)


def _memory_device(elem: ET.Element, _ctx: Context) -> None:
    target = elem.find("target")
    if target is not None and elem.get("model") != "virtio-mem":
        for child in [c for c in target if c.tag in ("block", "requested", "current")]:
            target.remove(child)


def _controller(elem: ET.Element, _ctx: Context) -> None:
    if "type" not in elem.attrib:
        items = [("type", "ide"), *elem.attrib.items()]
        elem.attrib.clear()
        elem.attrib.update(items)
    kind = elem.get("type")
    if kind != "xenbus":
        for attr in ("maxGrantFrames", "maxEventChannels"):
            elem.attrib.pop(attr, None)
    if kind != "virtio-serial":
        elem.attrib.pop("vectors", None)
    if kind not in ("virtio-serial", "usb"):
        elem.attrib.pop("ports", None)


#: the firmware features in libvirt's order
_FIRMWARE_FEATURES = ("enrolled-keys", "secure-boot")


def _os_firmware(elem: ET.Element, _ctx: Context) -> None:
    rank = {name: i for i, name in enumerate(_FIRMWARE_FEATURES)}
    features = elem.findall("feature")
    for feature in features:
        elem.remove(feature)
    for feature in sorted(features, key=lambda f: rank.get(f.get("name", ""), len(rank))):
        elem.append(feature)


def _cputune(elem: ET.Element, _ctx: Context) -> None:
    """libvirt keeps a scheduler per vCPU and per IOThread: one element each."""
    for tag, attr in (("vcpusched", "vcpus"), ("iothreadsched", "iothreads")):
        for sched in elem.findall(tag):
            ids = format_bitmap(sched.get(attr, ""))
            if not ids:
                continue
            members = [n for part in ids.split(",") for n in _expand(part)]
            position = list(elem).index(sched)
            elem.remove(sched)
            for offset, n in enumerate(members):
                one = copy.deepcopy(sched)
                one.set(attr, str(n))
                elem.insert(position + offset, one)


def _resctrl_id(elem: ET.Element, ctx: Context) -> None:
    _bitmaps("vcpus")(elem, ctx)
    if ctx.live and "id" not in elem.attrib and elem.get("vcpus"):
        elem.set("id", f"vcpus_{elem.get('vcpus')}")  # named when the domain started


def _expand(part: str) -> range:
    lo, _, hi = part.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def _vcpus(elem: ET.Element, ctx: Context) -> None:
    """Every vCPU listed, by id: those not given are offline and hotpluggable, and a vCPU
    is hotpluggable unless it is online."""
    given = {_int(v.get("id")): v for v in elem.findall("vcpu")}
    for child in list(elem):
        elem.remove(child)
    for n in range(ctx.vcpus):
        vcpu = given.get(n)
        enabled = vcpu.get("enabled", "no") if vcpu is not None else "no"
        attrs = {"id": str(n), "enabled": enabled,
                 "hotpluggable": (vcpu.get("hotpluggable") if vcpu is not None else None)
                 or ("no" if enabled == "yes" else "yes")}
        if vcpu is not None and vcpu.get("order") is not None:
            attrs["order"] = vcpu.get("order", "")
        ET.SubElement(elem, "vcpu", attrs)


def _cache_line(elem: ET.Element, _ctx: Context) -> None:
    elem.set("unit", "B")  # (libvirt writes the number it read, in bytes)


def _bandwidth(elem: ET.Element, _ctx: Context) -> None:
    _set_default(elem, "unit", "KiB")


def _clock(elem: ET.Element, _ctx: Context) -> None:
    if "offset" not in elem.attrib:
        items = [("offset", "utc"), *elem.attrib.items()]
        elem.attrib.clear()
        elem.attrib.update(items)


def _master(elem: ET.Element, _ctx: Context) -> None:
    _set_default(elem, "startport", "0")


def _ip_family(elem: ET.Element, _ctx: Context) -> None:
    if "family" not in elem.attrib and elem.get("address"):
        elem.set("family", "ipv6" if ":" in elem.get("address", "") else "ipv4")


def _cpu(elem: ET.Element, _ctx: Context) -> None:
    model = elem.find("model")
    if model is None and elem.get("mode", "custom") == "custom":
        for attr in ("mode", "match"):  # not written without a model
            elem.attrib.pop(attr, None)
    if elem.get("mode") is None and (model is not None or elem.get("match") is not None):
        items = [("mode", "custom"), *elem.attrib.items()]
        elem.attrib.clear()
        elem.attrib.update(items)
    if model is not None and elem.get("mode", "custom") == "custom":
        _set_default(elem, "match", "exact")  # a model is matched exactly unless told
    if model is not None and elem.get("mode", "custom") in ("custom", "host-model"):
        _set_default(model, "fallback", "allow")


def _smbios(elem: ET.Element, _ctx: Context) -> None:
    if elem.get("mode") == "none":
        del elem.attrib["mode"]


def _pci_target(elem: ET.Element, _ctx: Context) -> None:
    number = _int(elem.get("port"))
    if number is not None:
        elem.set("port", f"0x{number:x}")


# --------------------------------------------------------------------------------------------
# the table

#: what every device ends with (libvirt's virDomainDeviceInfoFormat)
_INFO = ("boot", "alias", "master", "rom", "acpi", "address")
_CHR_CHILDREN = ("source", "protocol", "log", "target", *_INFO)

_CHR_SOURCE = Kind(attrs=("mode", "path", "host", "service", "channel", "master", "slave",
                          "append", "tls"),
                   children=("clipboard", "mouse", "reconnect", "seclabel"))
_CHR_LOG = Kind(attrs=("file", "append"))
_BANDWIDTH = Kind(attrs=("average", "peak", "floor", "burst"))
_SYSINFO_ENTRY = Kind(attrs=("name", "file"), fill=_sysinfo_entry, empty_is_absent=True)
_SYSINFO_GROUP = Kind(empty_is_absent=True)
_CHR_TARGET = Kind(attrs=("type", "port"), children=("model",))

_DEVICE_SECLABEL = Kind(attrs=("model", "relabel"), children=("label",),
                        fill=_device_seclabel, empty_is_absent=True)

KINDS: dict[str, Kind] = {
    # ---- top level
    "blkiotune": Kind(children=("weight", "device")),
    "blkiotune/device": Kind(children=("path", "weight", "read_iops_sec", "write_iops_sec",
                                       "read_bytes_sec", "write_bytes_sec")),
    "memtune": Kind(children=("hard_limit", "soft_limit", "min_guarantee", "swap_hard_limit"),
                    fill=_memtune),
    "memoryBacking": Kind(children=("hugepages", "nosharepages", "locked", "source", "access",
                                    "allocation", "discard")),
    "memoryBacking/hugepages/page": Kind(attrs=("size", "unit", "nodeset"),
                                         fill=_chain(_size_attr_kib("size"),
                                                     _bitmaps("nodeset"))),
    "os/firmware": Kind(fill=_os_firmware),
    "vcpus": Kind(fill=_vcpus),
    "iothreadids/iothread": Kind(attrs=("id", "thread_pool_min", "thread_pool_max"),
                                 children=("poll",)),
    "defaultiothread": Kind(attrs=("thread_pool_min", "thread_pool_max")),
    "cputune/emulatorsched": Kind(attrs=("scheduler", "priority")),
    "cputune/cachetune/cache": Kind(attrs=("id", "level", "type", "size", "unit")),
    "cputune/memorytune/node": Kind(attrs=("id", "bandwidth")),
    "resource": Kind(children=("partition", "fibrechannel")),
    "sysinfo": Kind(attrs=("type",), children=("bios", "system", "baseBoard", "chassis",
                                               "oemStrings", "entry")),
    "os/firmware/feature": Kind(attrs=("enabled", "name")),
    "idmap": Kind(children=("uid", "gid")),
    "idmap/uid": Kind(attrs=("start", "target", "count")),
    "idmap/gid": Kind(attrs=("start", "target", "count")),
    "features/kvm": Kind(children=("hidden", "hint-dedicated", "poll-control", "pv-ipi",
                                   "dirty-ring"), fill=_open_empty),
    "cpu/numa/cell/distances/sibling": Kind(attrs=("id", "value")),
    "clock/timer/catchup": Kind(attrs=("threshold", "slew", "limit")),
    "devices/disk/blockio": Kind(attrs=("logical_block_size", "physical_block_size",
                                        "discard_granularity")),
    "devices/disk/source/reservations": Kind(attrs=("enabled", "managed"),
                                             children=("source",)),
    "devices/disk/source/reservations/source": Kind(attrs=("type", "path", "mode")),
    "devices/shmem": Kind(attrs=("name", "role"),
                          children=("model", "size", "server", "msi", *_INFO)),
    "devices/shmem/msi": Kind(attrs=("enabled", "vectors", "ioeventfd")),
    "devices/serial/target": _CHR_TARGET,
    "devices/console/target": _CHR_TARGET,
    "devices/parallel/target": _CHR_TARGET,
    "cpu/numa/cell/cache/line": Kind(attrs=("value", "unit"), fill=_cache_line),
    "cpu/numa/interconnects/latency": Kind(
        attrs=("initiator", "target", "cache", "type", "value"), closed_attrs=True),
    "cpu/numa/interconnects/bandwidth": Kind(
        attrs=("initiator", "target", "cache", "type", "value", "unit"), fill=_bandwidth),
    "devices/interface[user]/source": Kind(closed_attrs=True, empty_is_absent=True),
    "cputune/vcpusched": Kind(attrs=("vcpus", "scheduler", "priority")),
    "cputune/iothreadsched": Kind(attrs=("iothreads", "scheduler", "priority")),
    "cputune": Kind(fill=_cputune, children=(
        "shares", "period", "quota", "global_period", "global_quota", "emulator_period",
        "emulator_quota", "iothread_period", "iothread_quota", "vcpupin", "emulatorpin",
        "iothreadpin", "emulatorsched", "vcpusched", "iothreadsched", "cachetune",
        "memorytune")),
    "cputune/vcpupin": Kind(attrs=("vcpu", "cpuset"), fill=_bitmaps("cpuset")),
    "cputune/emulatorpin": Kind(attrs=("cpuset",), fill=_bitmaps("cpuset")),
    "cputune/iothreadpin": Kind(attrs=("iothread", "cpuset"), fill=_bitmaps("cpuset")),
    "cputune/cachetune": Kind(attrs=("vcpus", "id"), children=("cache", "monitor"),
                              fill=_resctrl_id),
    "cputune/cachetune/monitor": Kind(attrs=("level", "vcpus"), fill=_bitmaps("vcpus")),
    "cputune/memorytune": Kind(attrs=("vcpus", "id"), children=("node", "monitor"),
                               fill=_resctrl_id),
    "numatune": Kind(children=("memory", "memnode")),
    "numatune/memory": Kind(attrs=("mode", "placement", "nodeset"), fill=_numa_memory),
    "numatune/memnode": Kind(attrs=("cellid", "mode", "nodeset"), fill=_bitmaps("nodeset")),
    "os/loader": Kind(attrs=("readonly", "secure", "type", "format"), fill=_loader,
                      empty_is_absent=True),
    "os/nvram": Kind(empty_is_absent=True),
    "os/bootmenu": Kind(attrs=("enable", "timeout"), fill=_bootmenu),
    "os/smbios": Kind(attrs=("mode",), fill=_smbios, empty_is_absent=True),
    "os/bios": Kind(attrs=("useserial", "rebootTimeout")),
    "features/xen": Kind(fill=_open_empty),
    "features": Kind(empty_is_absent=True, children=(
        "acpi", "apic", "pae", "hap", "viridian", "privnet", "hyperv", "kvm", "xen",
        "pvspinlock", "capabilities", "pmu", "vmport", "gic", "smm", "ioapic", "hpt",
        "htm", "nested-hv", "msrs", "ccf-assist", "cfpc", "sbbc", "ibs", "tcg", "async-teardown",
        "vmcoreinfo"), fill=_features),
    "features/hyperv": Kind(attrs=("mode",), fill=_hyperv, children=(
        "relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer", "reset",
        "vendor_id", "frequencies", "reenlightenment", "tlbflush", "ipi", "evmcs", "avic")),
    "features/hyperv/spinlocks": Kind(attrs=("state", "retries")),
    "features/hyperv/vendor_id": Kind(attrs=("state", "value")),
    "features/hyperv/stimer": Kind(attrs=("state",), children=("direct",)),
    "cpu": Kind(attrs=("mode", "match", "check", "migratable"),
                children=("model", "vendor", "topology", "cache", "maxphysaddr", "feature",
                          "numa"),
                fill=_cpu, closed=True, empty_is_absent=True),
    "cpu/model": Kind(attrs=("fallback", "vendor_id")),
    "cpu/topology": Kind(attrs=("sockets", "dies", "cores", "threads"), fill=_topology),
    "cpu/feature": Kind(attrs=("policy", "name")),
    "cpu/cache": Kind(attrs=("level", "mode")),
    "cpu/maxphysaddr": Kind(attrs=("mode", "bits")),
    "cpu/numa/cell": Kind(attrs=("id", "cpus", "memory", "unit", "memAccess", "discard"),
                          children=("distances", "cache"),
                          fill=_chain(_size_attr_kib("memory"), _bitmaps("cpus"))),
    "clock": Kind(attrs=("offset", "adjustment", "basis", "timezone"), children=("timer",),
                  fill=_clock),
    "clock/timer": Kind(attrs=("name", "present", "tickpolicy", "track", "frequency", "mode"),
                        children=("catchup",)),
    "seclabel": Kind(attrs=("type", "model", "relabel"),
                     children=("label", "imagelabel", "baselabel"), fill=_seclabel,
                     empty_is_absent=True),
    "pm": Kind(children=("suspend-to-mem", "suspend-to-disk"), empty_is_absent=True),
    "pm/suspend-to-mem": Kind(attrs=("enabled",), empty_is_absent=True),
    "pm/suspend-to-disk": Kind(attrs=("enabled",), empty_is_absent=True),
    "devices/interface/model": Kind(attrs=("type",), empty_is_absent=True),
    # ---- devices
    "devices/disk": Kind(
        attrs=("type", "device", "model", "snapshot", "rawio", "sgio"),
        children=("driver", "auth", "source", "backingStore", "geometry", "blockio", "mirror",
                  "target", "iotune", "readonly", "shareable", "transient", "serial", "wwn",
                  "vendor", "product", "encryption", *_INFO),
        fill=_disk),
    "devices/disk/driver": Kind(empty_is_absent=True,
        attrs=("name", "type", "cache", "error_policy", "rerror_policy", "io", "ioeventfd",
               "event_idx", "copy_on_read", "discard", "iothread", "detect_zeroes", "queues",
               "queue_size", "iommu", "ats", "packed", "page_per_vq", "metadata_cache"),
        fill=_disk_driver),
    "devices/disk/source": Kind(fill=_disk_source, empty_is_absent=True,
        attrs=("file", "dev", "dir", "pool", "volume", "mode", "protocol", "name", "type",
               "managed", "namespace", "tls", "query", "index", "startupPolicy"),
        children=("host", "auth", "encryption", "reservations", "seclabel", "slices",
                  "address", "initiator", "cookies", "readahead", "timeout")),
    "devices/disk/geometry": Kind(attrs=("cyls", "heads", "secs", "trans")),
    "devices/disk/source/seclabel": _DEVICE_SECLABEL,
    "devices/disk[file]/source": Kind(
        attrs=("file", "index", "startupPolicy"), closed_attrs=True, empty_is_absent=True,
        children=("seclabel", "encryption", "reservations", "slices"), closed=True),
    "devices/disk[block]/source": Kind(
        attrs=("dev", "index", "startupPolicy"), closed_attrs=True, empty_is_absent=True,
        children=("seclabel", "encryption", "reservations", "slices"), closed=True),
    "devices/disk[dir]/source": Kind(
        attrs=("dir", "index", "startupPolicy"), closed_attrs=True, empty_is_absent=True,
        children=("seclabel", "encryption"), closed=True),
    "devices/disk/iotune": Kind(fill=_iotune, empty_is_absent=True, children=(
        "total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec",
        "read_iops_sec", "write_iops_sec", "total_bytes_sec_max", "read_bytes_sec_max",
        "write_bytes_sec_max", "total_iops_sec_max", "read_iops_sec_max",
        "write_iops_sec_max", "size_iops_sec", "group_name", "total_bytes_sec_max_length",
        "read_bytes_sec_max_length", "write_bytes_sec_max_length",
        "total_iops_sec_max_length", "read_iops_sec_max_length",
        "write_iops_sec_max_length")),
    "devices/disk/target": Kind(attrs=("dev", "bus", "tray", "removable", "rotation_rate")),
    "devices/controller": Kind(
        attrs=("type", "index", "model", "ports", "vectors", "maxGrantFrames",
               "maxEventChannels"), fill=_controller,
        children=("model", "driver", "target", *_INFO)),
    "devices/controller/target": Kind(
        attrs=("chassisNr", "chassis", "port", "busNr", "hotplug", "index", "memReserve"),
    ),
    "devices/controller[pci]/target": Kind(
        attrs=("chassisNr", "chassis", "port", "busNr", "hotplug", "index", "memReserve"),
        fill=_pci_target),
    "devices/controller/driver": Kind(empty_is_absent=True,
        attrs=("queues", "cmd_per_lun", "max_sectors", "ioeventfd", "iothread", "iommu",
               "ats", "packed", "page_per_vq")),
    "devices/filesystem": Kind(
        attrs=("type", "accessmode", "model", "multidevs", "fmode", "dmode"),
        children=("driver", "binary", "idmap", "source", "target", "readonly",
                  "space_hard_limit", "space_soft_limit", *_INFO),
        fill=_filesystem),
    "devices/filesystem/driver": Kind(attrs=("type", "format", "queue", "wrpolicy", "iommu",
                                             "ats", "packed", "page_per_vq"),
                                      closed_attrs=True, empty_is_absent=True),
    "devices/graphics/gl": Kind(attrs=("enable", "rendernode")),
    "devices/interface": Kind(
        attrs=("type", "trustGuestRxFilters"), fill=_interface,
        children=("mac", "source", "vlan", "virtualport", "bandwidth", "port", "ip", "route",
                  "script", "downscript", "backenddomain", "target", "guest", "model",
                  "driver", "backend", "filterref", "tune", "teaming", "link", "mtu",
                  "coalesce", "portForward", *_INFO)),
    "devices/interface/ip": Kind(attrs=("address", "family", "prefix", "peer"),
                                 fill=_ip_family),
    "devices/interface/route": Kind(attrs=("family", "address", "netmask", "prefix",
                                           "gateway", "metric")),
    "devices/interface/source/local": Kind(attrs=("address", "port")),
    "devices/interface/vlan/tag": Kind(attrs=("id", "nativeMode")),
    "devices/interface/bandwidth": Kind(children=("inbound", "outbound")),
    "devices/interface/bandwidth/inbound": _BANDWIDTH,
    "devices/interface/bandwidth/outbound": _BANDWIDTH,
    "devices/interface/mac": Kind(attrs=("address", "type", "check"), fill=_mac),
    "devices/interface/source": Kind(attrs=("network", "portgroup", "portid", "bridge", "dev",
                                            "mode", "type", "path", "address", "port")),
    "devices/interface/driver": Kind(empty_is_absent=True,attrs=(
        "name", "txmode", "ioeventfd", "event_idx", "queues", "rx_queue_size",
        "tx_queue_size", "iommu", "ats", "packed", "page_per_vq", "rss", "rss_hash_report")),
    "devices/smartcard": Kind(attrs=("mode", "type"),
                              children=("certificate", "database", "source", "protocol",
                                        *_INFO), fill=_smartcard),
    "devices/serial": Kind(attrs=("type",), children=_CHR_CHILDREN, fill=_chardev),
    "devices/parallel": Kind(attrs=("type",), children=_CHR_CHILDREN, fill=_chardev),
    "devices/console": Kind(attrs=("type", "tty"), children=_CHR_CHILDREN, fill=_chardev),
    "devices/channel": Kind(attrs=("type",), children=_CHR_CHILDREN, fill=_chardev),
    "devices/serial/source": _CHR_SOURCE,
    "devices/parallel/source": _CHR_SOURCE,
    "devices/console/source": _CHR_SOURCE,
    "devices/channel/source": _CHR_SOURCE,
    "devices/redirdev/source": _CHR_SOURCE,
    "devices/smartcard/source": _CHR_SOURCE,
    "devices/rng/backend/source": _CHR_SOURCE,
    "devices/serial/source/seclabel": _DEVICE_SECLABEL,
    "devices/parallel/source/seclabel": _DEVICE_SECLABEL,
    "devices/console/source/seclabel": _DEVICE_SECLABEL,
    "devices/channel/source/seclabel": _DEVICE_SECLABEL,
    "devices/redirdev/source/seclabel": _DEVICE_SECLABEL,
    "devices/smartcard/source/seclabel": _DEVICE_SECLABEL,
    "devices/rng/backend/source/seclabel": _DEVICE_SECLABEL,
    "devices/serial/log": _CHR_LOG,
    "devices/parallel/log": _CHR_LOG,
    "devices/console/log": _CHR_LOG,
    "devices/channel/log": _CHR_LOG,
    "devices/channel/target": Kind(attrs=("type", "name", "address", "port")),
    "devices/input": Kind(attrs=("type", "bus", "model"),
                          children=("driver", "source", *_INFO), closed=True),
    "devices/tpm": Kind(attrs=("model",), children=("backend", *_INFO), fill=_tpm),
    "devices/tpm/backend": Kind(attrs=("type", "version", "persistent_state"),
                                children=("device", "encryption", "active_pcr_banks",
                                          "source"),
                                fill=_tpm_backend),
    "devices/graphics": Kind(
        attrs=("type", "socket", "port", "tlsPort", "autoport", "websocket",
               "websocketGenerated", "display", "xauth", "fullscreen", "replaceUser",
               "multiUser", "listen", "keymap", "defaultMode", "sharePolicy", "powerControl",
               "passwd", "passwdValidTo", "connected", "p2p", "address"),
        children=("listen", "channel", "image", "jpeg", "zlib", "playback", "streaming",
                  "mouse", "clipboard", "filetransfer", "gl", "audio"),
        fill=_graphics),
    "devices/graphics[vnc]": Kind(
        attrs=("type", "socket", "port", "autoport", "websocket", "websocketGenerated",
               "listen", "keymap", "sharePolicy", "powerControl", "passwd", "passwdValidTo",
               "connected"),
        children=("listen", "audio"), fill=_graphics, closed_attrs=True, closed=True),
    "devices/graphics[spice]": Kind(
        attrs=("type", "port", "tlsPort", "autoport", "listen", "keymap", "defaultMode",
               "passwd", "passwdValidTo", "connected"),
        children=("listen", "channel", "image", "jpeg", "zlib", "playback", "streaming",
                  "mouse", "clipboard", "filetransfer", "gl"),
        fill=_graphics, closed_attrs=True, closed=True),
    "devices/graphics[rdp]": Kind(
        attrs=("type", "port", "autoport", "replaceUser", "multiUser", "listen"),
        children=("listen",), fill=_graphics, closed_attrs=True, closed=True),
    "devices/graphics[sdl]": Kind(attrs=("type", "display", "xauth", "fullscreen"),
                                  children=("gl",), fill=_graphics, closed_attrs=True,
                                  closed=True),
    "devices/graphics[desktop]": Kind(attrs=("type", "display", "fullscreen"),
                                      fill=_graphics, closed_attrs=True, closed=True),
    "devices/graphics[egl-headless]": Kind(attrs=("type",), children=("gl",),
                                           closed_attrs=True, closed=True),
    "devices/graphics/listen": Kind(attrs=("type", "address", "network", "socket")),
    "devices/sound": Kind(attrs=("model", "multichannel", "streams"),
                          children=("codec", "audio", *_INFO)),
    "devices/video": Kind(children=("driver", "model", *_INFO), fill=_video),
    "devices/video/model": Kind(
        attrs=("type", "ram", "vram", "vram64", "vgamem", "heads", "primary", "blob"),
        children=("acceleration", "resolution"), fill=_video_model),
    "devices/hostdev": Kind(
        attrs=("mode", "type", "managed", "sgio", "rawio", "model", "display", "ramfb"),
        children=("driver", "source", "ip", "route", "readonly", "shareable", *_INFO),
        fill=_hostdev),
    "devices/hostdev/source": Kind(
        attrs=("startupPolicy", "guestReset", "protocol", "name", "writeFiltering"),
        children=("vendor", "product", "adapter", "address", "host", "auth", "initiator",
                  "interface", "block", "char")),
    "devices/redirdev": Kind(attrs=("bus", "type"),
                             children=("source", "protocol", "log", *_INFO), fill=_redirdev),
    "devices/watchdog": Kind(attrs=("model", "action"), children=_INFO, fill=_watchdog),
    "devices/memballoon": Kind(attrs=("model", "autodeflate", "freePageReporting"),
                               children=("stats", *_INFO, "driver")),
    "devices/rng": Kind(attrs=("model",), children=("rate", "backend", *_INFO, "driver"),
                        fill=_rng),
    "devices/rng/rate": Kind(attrs=("bytes", "period")),
    "devices/rng/backend": Kind(attrs=("model", "type"), children=("source", "protocol"),
                                fill=_rng_backend),
    "devices/panic": Kind(attrs=("model",), children=_INFO),
    "devices/iommu": Kind(attrs=("model",), children=("driver", *_INFO)),
    "devices/vsock": Kind(attrs=("model",), children=("cid", *_INFO, "driver"), fill=_vsock),
    "devices/vsock/cid": Kind(attrs=("auto", "address"), fill=_cid),
    "devices/graphics/channel": Kind(attrs=("name", "mode"), fill=_spice_channel,
                                     empty_is_absent=True),
    # only the rules are read: a filter without any is not written
    "devices/redirfilter": Kind(children=("usbdev",), closed=True, closed_attrs=True,
                                empty_is_absent=True),
    "devices/redirfilter/usbdev": Kind(attrs=("class", "vendor", "product", "version",
                                              "allow"), required=("allow",), fill=_usbdev),
    "devices/interface[vhostuser]/source": Kind(attrs=("type", "path", "mode")),
    "launchSecurity/policy": Kind(fill=_sev_policy),
    "sysinfo/system/entry": _SYSINFO_ENTRY,
    "sysinfo/bios/entry": _SYSINFO_ENTRY,
    "sysinfo/baseBoard/entry": _SYSINFO_ENTRY,
    "sysinfo/chassis/entry": _SYSINFO_ENTRY,
    "sysinfo/system": _SYSINFO_GROUP,
    "sysinfo/bios": _SYSINFO_GROUP,
    "sysinfo/baseBoard": _SYSINFO_GROUP,
    "sysinfo/chassis": _SYSINFO_GROUP,
    "sysinfo/fwcfg/entry": Kind(attrs=("name", "file"), fill=_sysinfo_entry),
    "maxMemory": Kind(fill=_max_memory),
    "devices/memory": Kind(attrs=("model", "access", "discard"),
                           children=("source", "target", *_INFO), fill=_memory_device,
                           required=("model",),
                           values={"model": (frozenset({"dimm", "nvdimm", "virtio-pmem",
                                                        "virtio-mem", "sgx-epc"}), None)}),
    "devices/memory/source": Kind(children=("nodemask", "pagesize", "path", "alignsize",
                                            "pmem"), fill=_memory_device_sizes),
    "devices/memory/target": Kind(children=("size", "node", "label", "block", "requested",
                                            "current", "address", "readonly"),
                                  fill=_memory_device_sizes),
    "sysinfo/entry": Kind(attrs=("name", "file"), fill=_sysinfo_entry),
    "cpu/numa": Kind(children=("cell", "interconnects"), fill=_numa),
    "seclabel/label": Kind(closed_attrs=True),
    "devices/filesystem/space_hard_limit": Kind(fill=_fs_limit),
    "devices/filesystem/space_soft_limit": Kind(fill=_fs_limit),
    "devices/filesystem/source": Kind(attrs=("type", "dir", "file", "dev", "name", "pool",
                                             "volume", "usage", "units"), fill=_fs_source),
    "devices/interface/virtualport/parameters": Kind(attrs=(
        "managerid", "typeid", "typeidversion", "instanceid", "interfaceid", "profileid")),
    "devices/interface[network]/source": Kind(attrs=("network", "portgroup", "portid"),
                                              closed_attrs=True),
    "devices/interface[bridge]/source": Kind(attrs=("bridge",), closed_attrs=True),
    "devices/interface[direct]/source": Kind(attrs=("dev", "mode"), closed_attrs=True),
    "devices/input/source": Kind(attrs=("evdev", "dev", "grab", "grabToggle", "repeat")),
    "devices/iommu/driver": Kind(attrs=("intremap", "caching_mode", "eim", "iotlb",
                                        "aw_bits", "dma_translation")),
    "launchSecurity": Kind(attrs=("type", "kernelHashes", "authorKey"),
                           children=("cbitpos", "reducedPhysBits", "policy",
                                     "guestVisibleWorkarounds", "idBlock", "idAuth",
                                     "hostData", "handle", "dhCert", "session")),
    "devices/audio": Kind(attrs=("id", "type", "timerPeriod")),
}

_SOURCE_HOST = Kind(attrs=("name", "port", "transport", "socket"))
_AUTH_SECRET = Kind(attrs=("type", "usage", "uuid"))
KINDS.update({
    "devices/disk/source/host": _SOURCE_HOST,
    "devices/hostdev/source/host": _SOURCE_HOST,
    "devices/hostdev/source/auth/secret": _AUTH_SECRET,
    "devices/disk/source/auth/secret": _AUTH_SECRET,
    "devices/disk/auth/secret": _AUTH_SECRET,
})

#: device kinds whose ``<address>`` child is a device address
_HAS_ADDRESS = frozenset({
    "disk", "controller", "filesystem", "interface", "smartcard", "serial", "parallel",
    "console", "channel", "input", "tpm", "sound", "video", "hostdev", "redirdev",
    "watchdog", "memballoon", "rng", "panic", "iommu", "vsock", "shmem", "memory", "hub",
})
#: attribute order of device addresses per address type
_ADDRESS_ATTRS: dict[str, tuple[str, ...]] = {
    "pci": ("type", "domain", "bus", "slot", "function", "multifunction"),
    "drive": ("type", "controller", "bus", "target", "unit"),
    "virtio-serial": ("type", "controller", "bus", "port"),
    "ccid": ("type", "controller", "slot"),
    "usb": ("type", "bus", "port"),
    "spapr-vio": ("type", "reg"),
    "ccw": ("type", "cssid", "ssid", "devno"),
    "isa": ("type", "iobase", "irq"),
    "dimm": ("type", "slot", "base"),
    "virtio-mmio": ("type",),
    "unassigned": ("type",),
}
#: the device address types libvirt reads
ADDRESS_TYPES = frozenset(_ADDRESS_ATTRS)
for _tag in _HAS_ADDRESS:
    KINDS.setdefault(f"devices/{_tag}/alias", Kind(fill=_user_alias, empty_is_absent=True))
    KINDS.setdefault(f"devices/{_tag}/boot", Kind(attrs=("order", "loadparm")))
    KINDS.setdefault(f"devices/{_tag}/master", Kind(attrs=("startport",), fill=_master))
    KINDS.setdefault(f"devices/{_tag}/rom", Kind(attrs=("bar", "file", "enabled")))
    KINDS.setdefault(f"devices/{_tag}/address/zpci", Kind(attrs=("uid", "fid")))
    KINDS.setdefault(f"devices/{_tag}/address", Kind(fill=_address))
    for _atype, _order_of in _ADDRESS_ATTRS.items():
        KINDS[f"devices/{_tag}/address[{_atype}]"] = Kind(attrs=_order_of, fill=_address)
KINDS["devices/hostdev/source/address"] = Kind(attrs=("domain", "bus", "slot", "function",
                                                     "uuid", "target", "unit", "device"),
                                              fill=_address)


#: attributes libvirt's parser refuses a definition without, per element kind
_REQUIRED: dict[str, tuple[str, ...]] = {
    "clock/timer": ("name",),
    "os/boot": ("dev",),
    "sysinfo": ("type",),
    "devices/graphics": ("type",),
    "devices/graphics/listen": ("type",),
    "devices/graphics[spice]/image": ("compression",),
    "devices/sound": ("model",),
    "devices/memballoon": ("model",),
    "devices/iommu": ("model",),
    "devices/tpm/backend": ("type",),
    "devices/interface[bridge]/source": ("bridge",),
    "devices/interface[network]/source": ("network",),
    "devices/interface[direct]/source": ("dev",),
    "devices/disk[network]/source": ("protocol",),
    **{f"devices/{tag}/boot": ("order",) for tag in (
        "disk", "interface", "hostdev", "redirdev", "filesystem")},
}
for _path, _attrs in _REQUIRED.items():
    # (a kind for one type starts as the kind for all types)
    _known = KINDS.get(_path) or KINDS.get(_path.split("[")[0] + (
        _path.split("]", 1)[1] if "]" in _path else "")) or Kind()
    KINDS[_path] = Kind(**{**{f: getattr(_known, f) for f in _known.__dataclass_fields__},
                           "required": _attrs})


def _enum(values: str, complaint: str | None = None) -> tuple[frozenset[str], str | None]:
    return frozenset(values.split()), complaint


#: the attributes libvirt reads from a fixed list (its enumerations), per element kind
_VALUES: dict[str, dict[str, tuple[frozenset[str], str | None]]] = {
    "devices/disk": {
        "type": _enum("file block dir network volume nvme vhostuser"),
        "device": _enum("disk cdrom floppy lun"),
        "snapshot": _enum("no internal external manual"),
    },
    "devices/disk/driver": {
        "cache": _enum("default none writethrough writeback directsync unsafe"),
        "io": _enum("native threads io_uring"),
        "discard": _enum("unmap ignore"),
        "error_policy": _enum("stop report ignore enospace"),
        "detect_zeroes": _enum("default off on unmap"),
    },
    "devices/interface": {
        "type": _enum("user ethernet vhostuser server client mcast network bridge internal "
                      "direct hostdev udp vdpa null vds"),
    },
    "devices/graphics": {"type": _enum("sdl vnc rdp desktop spice egl-headless dbus")},
    "devices/graphics/listen": {"type": _enum("address network socket none")},
    "devices/sound": {"model": _enum("sb16 es1370 pcspk ac97 ich6 ich9 usb ich7")},
    "devices/sound/codec": {"type": _enum("duplex micro output", "unknown codec type '%s'")},
    "devices/memballoon": {
        "model": _enum("virtio xen none virtio-transitional virtio-non-transitional"),
    },
    "devices/watchdog": {
        "model": _enum("i6300esb ib700 diag288", "unknown watchdog model '%s'"),
        "action": _enum("reset shutdown poweroff pause dump none inject-nmi",
                        "unknown watchdog action '%s'"),
    },
    "devices/video/model": {
        "type": _enum("vga cirrus vmvga xen vbox qxl parallels virtio gop none bochs ramfb",
                      "unknown video model '%s'"),
    },
    "devices/tpm": {"model": _enum("tpm-tis tpm-crb tpm-spapr spapr-tpm-proxy")},
    "devices/tpm/backend": {"type": _enum("passthrough emulator"),
                            "version": _enum("1.2 2.0")},
    "devices/smartcard": {"mode": _enum("host host-certificates passthrough")},
    "devices/filesystem": {
        "type": _enum("mount block file template ram bind volume"),
        "accessmode": _enum("passthrough mapped squash"),
    },
    "devices/panic": {"model": _enum("isa pseries hyperv s390",
                                     "unknown panic model '%s'")},
    "devices/hub": {"type": _enum("usb", "unknown hub device type '%s'")},
    "devices/redirdev": {"bus": _enum("usb", "unknown redirdev bus '%s'")},
    "devices/hostdev": {"mode": _enum("subsystem capabilities", "unknown hostdev mode '%s'")},
    "devices/iommu": {"model": _enum("intel smmuv3 virtio")},
    "devices/vsock": {"model": _enum("virtio virtio-transitional virtio-non-transitional")},
}
for _path, _vals in _VALUES.items():
    _known = KINDS.get(_path) or Kind()
    KINDS[_path] = Kind(**{**{f: getattr(_known, f) for f in _known.__dataclass_fields__},
                           "values": _vals})


def attribute_problem(elem: ET.Element,
                      path: str) -> tuple[str, str, str | None, str | None] | None:
    """The first attribute libvirt's parser requires and lacks, or reads from a fixed list
    and does not know, in *elem* (at *path* below ``<domain>``) or its descendants: element
    by element in document order, the required attributes of each before its listed ones.
    Returned as (element name, attribute, the unknown value or None when missing, libvirt's
    complaint about the value or None for the XML layer's); None when all is well."""
    def walk(node: ET.Element, where: str,
             parent_type: str | None) -> tuple[str, str, str | None, str | None] | None:
        kind = _kind(where, node, parent_type)
        for attr in kind.required if kind is not None else ():
            if attr not in node.attrib:
                return node.tag, attr, None, None
        plain = KINDS.get(where)  # (the table keeps the values on the kind for all types)
        for attr, (known, complaint) in (plain.values if plain is not None else {}).items():
            value = node.get(attr)
            if value is not None and value not in known:
                return node.tag, attr, value, complaint
        for child in node:
            found = walk(child, f"{where}/{child.tag}", node.get("type"))
            if found is not None:
                return found
        return None
    return walk(elem, path, None)


def missing_attribute(elem: ET.Element, path: str) -> tuple[str, str] | None:
    """The first (element name, attribute) libvirt's parser requires and *elem* (at *path*
    below ``<domain>``) or its descendants lack, in document order; None when complete."""
    def walk(node: ET.Element, where: str, parent_type: str | None) -> tuple[str, str] | None:
        kind = _kind(where, node, parent_type)
        for attr in kind.required if kind is not None else ():
            if attr not in node.attrib:
                return node.tag, attr
        for child in node:
            found = walk(child, f"{where}/{child.tag}", node.get("type"))
            if found is not None:
                return found
        return None
    return walk(elem, path, None)


def _kind(path: str, elem: ET.Element, parent_type: str | None) -> Kind | None:
    return _lookup(path, elem.get("type"), parent_type)


@functools.lru_cache(maxsize=1024)
def _rank(names: tuple[str, ...]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}


@functools.lru_cache(maxsize=4096)
def _lookup(path: str, etype: str | None, parent_type: str | None) -> Kind | None:
    """The kind at *path*: the one for the element's own type, else the one for its
    parent's type, else the one for all types (the table does not change once built)."""
    if etype is not None:
        found = KINDS.get(f"{path}[{etype}]")
        if found is not None:
            return found
    if parent_type is not None and "/" in path:
        head, _, tail = path.rpartition("/")
        found = KINDS.get(f"{head}[{parent_type}]/{tail}")
        if found is not None:
            return found
    return KINDS.get(path)


def _apply(elem: ET.Element, path: str, ctx: Context, parent_type: str | None) -> bool:
    """Canonicalise *elem* in place; False when libvirt writes nothing for it."""
    kind = _kind(path, elem, parent_type)
    if kind is not None and kind.fill is not None:
        kind.fill(elem, ctx)
    own_type = elem.get("type")
    for child in list(elem):
        if not _apply(child, f"{path}/{child.tag}", ctx, own_type):
            elem.remove(child)
    if kind is None:
        return True
    if kind.drop_children or kind.closed:
        for child in [c for c in elem if c.tag in kind.drop_children
                      or (kind.closed and c.tag not in kind.children)]:
            elem.remove(child)
    if kind.attrs or kind.drop_attrs or kind.closed_attrs:
        items = [(k, v) for k, v in elem.attrib.items() if k not in kind.drop_attrs
                 and (not kind.closed_attrs or k in kind.attrs)]
        rank = _rank(kind.attrs)
        items.sort(key=lambda kv: rank.get(kv[0], len(rank)))
        elem.attrib.clear()
        elem.attrib.update(items)
    if kind.children and len(elem) > 1:
        rank = _rank(kind.children)
        children = list(elem)
        tails = [c.tail for c in children]
        # sorted() is stable: children of one name keep their order
        ordered = sorted(children, key=lambda c: rank.get(c.tag, len(rank)))
        if ordered != children:
            for child in children:
                elem.remove(child)
            for child, tail in zip(ordered, tails, strict=True):
                child.tail = tail
                elem.append(child)
    return not (kind.empty_is_absent and not elem.attrib and len(elem) == 0
                and not (elem.text or "").strip())


#: <os> children libvirt reads for each OS type (others are dropped)
_OS_CHILDREN: dict[str, frozenset[str]] = {
    "hvm": frozenset({"firmware", "loader", "nvram", "kernel", "initrd", "cmdline", "shim",
                      "dtb", "acpi", "boot", "bootmenu", "bios", "smbios"}),
    "xen": frozenset({"loader", "nvram", "kernel", "initrd", "cmdline", "dtb", "smbios"}),
    "exe": frozenset({"init", "initarg", "initenv", "initdir", "inituser", "initgroup",
                      "smbios"}),
}


def os_children(children: list[ET.Element], ctx: Context) -> list[ET.Element]:
    """The ``<os>`` children libvirt keeps for the domain's OS type, canonical."""
    allowed = _OS_CHILDREN.get(ctx.os_type)
    skipped = {"boot", "bootmenu", "bios"} if ctx.bootloader else set()
    written = (canonical(c, f"os/{c.tag}", ctx) for c in children
               if (allowed is None or c.tag in allowed) and c.tag not in skipped)
    return [c for c in written if c is not None]


def fill_iothread_ids(extra: dict[str, list[ET.Element]]) -> None:
    """As libvirt's parser: an ``<iothreadids>`` list shorter than ``<iothreads>`` says is
    completed with the lowest free ids (*extra*: the top-level elements by name, changed in
    place)."""
    counts, lists = extra.get("iothreads"), extra.get("iothreadids")
    if not counts or not lists:
        return
    wanted = _int((counts[0].text or "").strip())
    holder = lists[0]
    used = {_int(t.get("id")) for t in holder if t.tag == "iothread"}
    missing = (wanted or 0) - len(used)
    candidate = 1
    while missing > 0:
        if candidate not in used:
            ET.SubElement(holder, "iothread", {"id": str(candidate)})
            missing -= 1
        candidate += 1


def devices(devs: list[ET.Element], ctx: Context) -> list[ET.Element]:
    """The devices as libvirt writes them: each canonical, plus what depends on the others
    (the primary video device)."""
    written = (canonical(d, f"devices/{d.tag}", ctx) for d in devs)
    out = [d for d in written if d is not None]
    videos = [d.find("model") for d in out if d.tag == "video"]
    models = [m for m in videos if m is not None and m.get("type") != "none"]
    if models and not any(m.get("primary") == "yes" for m in models):
        models[0].set("primary", "yes")
    return out


def canonical(elem: ET.Element, path: str, ctx: Context | None = None) -> ET.Element | None:
    """A copy of *elem* as libvirt's formatter writes it (None: libvirt writes nothing for
    it).

    :param path: where the element is below ``<domain>``: ``devices/disk``, ``os/loader``,
        ``features``... (its own tag included).
    :param ctx: what defaults depend on outside the element (the domain's type...).
    """
    clone = copy.deepcopy(elem)
    return clone if _apply(clone, path, ctx or Context(), None) else None
