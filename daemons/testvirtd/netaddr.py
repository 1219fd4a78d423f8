"""IP and MAC addresses as libvirt reads, compares and writes them (``virsocketaddr.c``,
``virmacaddr.c``), and the C integer parsers its XML readers use (``virStrToLong_*``).

Addresses are parsed by the C library's ``getaddrinfo`` with ``AI_NUMERICHOST`` and written
by ``inet_ntop``, exactly as libvirt does (so ``10.1`` is 10.0.0.1 and IPv6 comes out in its
shortest form); no name is ever resolved.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final

from .domxml import ErrCode, ErrDomain, VirtError

__all__ = (
    "Addr",
    "check_pci_address",
    "mac_compare",
    "parse_addr",
    "parse_mac",
    "pci_address_values",
    "prefix_to_mask",
    "strtol",
    "strtoui",
    "strtoul",
    "strtoul_p",
)

AF_INET: Final = socket.AF_INET
AF_INET6: Final = socket.AF_INET6
_SYSTEM_ERROR: Final = 38


@dataclass(frozen=True, slots=True)
class Addr:
    """A parsed IPv4 or IPv6 address (``virSocketAddr`` without a port)."""

    family: int
    packed: bytes

    def __str__(self) -> str:
        return socket.inet_ntop(self.family, self.packed)

    @property
    def value(self) -> int:
        """The address as an integer."""
        return int.from_bytes(self.packed, "big")

    @property
    def bits(self) -> int:
        """32 or 128."""
        return len(self.packed) * 8

    def masked(self, prefix: int) -> Addr:
        """The network address for *prefix* bits (``virSocketAddrMaskByPrefix``)."""
        mask = prefix_to_mask(prefix, self.bits)
        return Addr(self.family, (self.value & mask).to_bytes(len(self.packed), "big"))

    def with_value(self, value: int) -> Addr:
        """The same family with another integer value."""
        return Addr(self.family, value.to_bytes(len(self.packed), "big"))


def prefix_to_mask(prefix: int, bits: int) -> int:
    """The netmask integer of *prefix* leading one bits."""
    return ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1) if prefix else 0


def parse_addr(text: str | None, family: int = 0) -> Addr:
    """``virSocketAddrParse``: a numeric address of *family* (0: either).

    :raises VirtError: libvirt's system error naming the text (domain 0, code 38).
    """
    if text is None:
        raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.NONE, "invalid argument: %s",
                            "Missing address")
    try:
        if "\0" in text:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        infos = socket.getaddrinfo(text, None, family, 0, 0, socket.AI_NUMERICHOST)
    except socket.gaierror as exc:
        msg = f"Cannot parse socket address '{text}': {exc.strerror}"
        raise VirtError(_SYSTEM_ERROR, ErrDomain.NONE, msg, str1="%s", str2=msg) from None
    except UnicodeError:
        msg = f"Cannot parse socket address '{text}': Name or service not known"
        raise VirtError(_SYSTEM_ERROR, ErrDomain.NONE, msg, str1="%s", str2=msg) from None
    fam, _type, _proto, _canon, sockaddr = infos[0]
    host = str(sockaddr[0]).split("%", 1)[0]
    return Addr(int(fam), socket.inet_pton(fam, host))


# ---------------------------------------------------------------------------------- MACs

_HEX: Final = frozenset("0123456789abcdefABCDEF")


def parse_mac(text: str) -> bytes | None:
    """``virMacAddrParse``: six bytes, or None if *text* is not a MAC address."""
    out = bytearray()
    pos = 0
    for i in range(6):
        if pos >= len(text) or text[pos] not in _HEX:
            return None
        end = pos
        while end < len(text) and text[end] in _HEX:
            end += 1
        digits = text[pos:end]
        if not 1 <= len(digits) <= 2:
            return None
        out.append(int(digits, 16))
        nxt = text[end] if end < len(text) else "\0"
        if i == 5:
            return bytes(out) if ord(nxt) <= 32 else None
        if nxt != ":":
            return None
        pos = end + 1
    return None


def format_mac(raw: bytes) -> str:
    """``virMacAddrFormat``: lower-case, two digits a byte."""
    return ":".join(f"{b:02x}" for b in raw)


def mac_compare(p: str, q: str) -> bool:
    """``virMacAddrCompare(p, q) == 0``: equal ignoring case and leading zeros."""
    i = j = 0
    while True:
        while i < len(p) and p[i] == "0" and i + 1 < len(p) and p[i + 1] in _HEX:
            i += 1
        while j < len(q) and q[j] == "0" and j + 1 < len(q) and q[j + 1] in _HEX:
            j += 1
        c = p[i].lower() if i < len(p) else ""
        d = q[j].lower() if j < len(q) else ""
        if not c or not d or c != d:
            return c == d
        i += 1
        j += 1


# ---------------------------------------------------------------------------------- integers

_INT_RE: Final = re.compile(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)")
_INT10_RE: Final = re.compile(r"\s*([+-]?)([0-9]+)")
_INT8_RE: Final = re.compile(r"\s*([+-]?)([0-7]+)")


def _c_parse(text: str, base: int) -> tuple[bool, int] | None:
    """strtol/strtoul over the whole string: (negative, magnitude), or None."""
    if base == 10:
        m = _INT10_RE.fullmatch(text)
    elif base == 8:
        m = _INT8_RE.fullmatch(text)
    else:
        m = _INT_RE.fullmatch(text)
    if m is None:
        return None
    digits = m.group(2)
    if base == 0:
        if digits[:2].lower() == "0x":
            value = int(digits[2:], 16)
        elif len(digits) > 1 and digits[0] == "0":
            if any(ch in "89" for ch in digits):
                return None
            value = int(digits, 8)
        else:
            value = int(digits)
    else:
        value = int(digits, base)
    return m.group(1) == "-", value


def strtoul(text: str, base: int = 10, bits: int = 64) -> int | None:
    """``virStrToLong_ul``/``_ull``: negative values wrap as in C; None on error."""
    parsed = _c_parse(text, base)
    if parsed is None:
        return None
    neg, value = parsed
    if value >= 1 << bits:
        return None
    return (-value) % (1 << bits) if neg else value


def strtoul_p(text: str, base: int = 10, bits: int = 64) -> int | None:
    """``virStrToLong_ulp``/``_ullp``/``_uip``: no minus sign allowed."""
    parsed = _c_parse(text, base)
    if parsed is None or (parsed[0] and parsed[1]):
        return None
    return parsed[1] if parsed[1] < 1 << bits else None


def strtoui(text: str, base: int = 10) -> int | None:
    """``virStrToLong_ui``: "-1" is UINT_MAX, as libvirt allows."""
    parsed = _c_parse(text, base)
    if parsed is None:
        return None
    neg, value = parsed
    if neg:
        return None if value > 0xFFFFFFFF else (-value) & 0xFFFFFFFF
    return value if value <= 0xFFFFFFFF else None


def strtol(text: str, base: int = 10, bits: int = 32) -> int | None:
    """``virStrToLong_i``/``_ll``: a signed integer in range, or None."""
    parsed = _c_parse(text, base)
    if parsed is None:
        return None
    neg, value = parsed
    value = -value if neg else value
    return value if -(1 << (bits - 1)) <= value < 1 << (bits - 1) else None


# ------------------------------------------------------------------------------ PCI addresses


def pci_address_values(node: ET.Element) -> tuple[int, int, int, int]:
    """domain, bus, slot and function of a PCI ``<address>`` element as
    ``virPCIDeviceAddressParseXML`` reads them (absent attributes are 0)."""
    values = []
    for attr in ("domain", "bus", "slot", "function"):
        text = node.get(attr)
        if text is None:
            values.append(0)
            continue
        value = strtoul_p(text, base=0, bits=32)
        if value is None:
            raise VirtError.internal_error(ErrDomain.NONE,
                                           f"Cannot parse <address> '{attr}' attribute")
        values.append(value)
    domain, bus, slot, function = values
    return domain, bus, slot, function


def check_pci_address(values: tuple[int, int, int, int]) -> None:
    """libvirt's range check of a PCI address (an all-zero address is not checked)."""
    domain, bus, slot, function = values
    if not any(values):
        return
    for attr, value, limit in (("domain", domain, 0xFFFF), ("bus", bus, 0xFF),
                               ("slot", slot, 0x1F)):
        if value > limit:
            raise VirtError.fmt(ErrCode.XML_ERROR, ErrDomain.NONE, "XML error: %s",
                                f"Invalid PCI address {attr}='0x{value:x}', must be <= "
                                f"0x{limit:X}")
    if function > 7:
        raise VirtError.fmt(ErrCode.XML_ERROR, ErrDomain.NONE, "XML error: %s",
                            f"Invalid PCI address function=0x{function:x}, must be <= 7")
