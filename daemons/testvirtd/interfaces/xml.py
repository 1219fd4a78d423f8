"""Host interface XML (``<interface>`` of ``virInterface``), read and written as libvirt 9.0's
interface parser and formatter do.

What libvirt keeps, it keeps typed (start mode, MTU, addressing, link, MAC, bridge, bond and
vlan settings, nested interfaces); everything else is dropped, as libvirt drops it.  Checks
come in libvirt's order with its words, including its oddities: a bad bridge ``stp`` value
stops reading the bridge (the definition is still accepted, without its ports), and a
malformed MTU fails without a reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Final

from ..domxml import ErrCode, ErrDomain, VirtError, esc

__all__ = (
    "FROM_INTERFACE",
    "IFACE_TYPES",
    "InterfaceDef",
    "Protocol",
    "format_interface_xml",
    "parse_interface",
)

#: ``VIR_FROM_INTERFACE``
FROM_INTERFACE: Final = 26
IFACE_TYPES: Final = ("ethernet", "bridge", "bond", "vlan")
_START_MODES: Final = ("none", "onboot", "hotplug")
_BOND_MODES: Final = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad",
                      "balance-tlb", "balance-alb")
_MII_CARRIERS: Final = ("ioctl", "netif")
_ARP_VALIDATE: Final = ("active", "backup", "all")
#: ``virNetDevIfState`` names (0: none given)
_LINK_STATES: Final = ("", "unknown", "notpresent", "down", "lowerlayerdown", "testing",
                       "dormant", "up")
_MTU_MAX: Final = 100000
_C_SPACE: Final = " \t\n\v\f\r"


def _error(info: str) -> VirtError:
    return VirtError.xml_error(FROM_INTERFACE, info)


def _unknown_failure() -> VirtError:
    # A libvirt parser that fails without reporting anything: the client learns nothing.
    return VirtError(ErrCode.INTERNAL_ERROR, ErrDomain.NONE,
                     "An error occurred, but the cause is unknown", int1=0, int2=0)


def _prop_error(info: str) -> VirtError:
    """What libvirt's XML property helpers (``virXMLProp*``) report."""
    return VirtError.xml_error(ErrDomain.XML, info)


def _invalid_prop(name: str, elem: ET.Element, value: str, expected: str = "") -> VirtError:
    tail = f" {expected}" if expected else ""
    return _prop_error(f"Invalid value for attribute '{name}' in element '{elem.tag}': "
                       f"'{value}'.{tail}")


def _c_integer(text: str | None, *, signed: bool, bits: int, base: int = 10) -> int | None:
    """*text* as C's ``strtol``/``strtoul`` read it whole (leading blanks and a sign
    allowed, *base* 0 meaning C's prefixes), in range; None when it is not such a number."""
    if text is None:
        return None
    s = text.lstrip(_C_SPACE)
    negative = s.startswith("-")
    if s[:1] in ("+", "-"):
        s = s[1:]
    if base == 0:
        if s[:2] in ("0x", "0X"):
            base, s = 16, s[2:]
        elif s.startswith("0") and len(s) > 1:
            base, s = 8, s[1:]
        else:
            base = 10
    digits = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}[base]
    if not s or any(c not in digits for c in s):
        return None
    value = -int(s, base) if negative else int(s, base)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return value if low <= value <= high else None


def _xpath_int(value: str | None) -> int | bool | None:
    """``virXPathInt`` of an attribute: None when absent or empty, False when it is no
    number (libvirt's -2), else the number."""
    if not value:
        return None
    number = _c_integer(value, signed=True, bits=32)
    return False if number is None else number


@dataclass
class Protocol:
    """One ``<protocol>`` of a top-level interface."""

    family: str
    autoconf: bool = False
    dhcp: bool = False
    #: -1 absent, 0 "no", 1 "yes"
    peerdns: int = -1
    #: (address or None, prefix)
    ips: list[tuple[str | None, int]] = field(default_factory=list)
    gateway: str | None = None


@dataclass
class InterfaceDef:
    """A parsed interface, with what libvirt keeps of it."""

    type: str
    name: str
    start_mode: str | None = None
    mtu: int = 0
    protocols: list[Protocol] = field(default_factory=list)
    link_state: int = 0
    link_speed: int = 0
    mac: str | None = None
    #: bridge: -1 unset, 0 off, 1 on
    stp: int = -1
    delay: str | None = None
    #: bond
    bond_mode: str | None = None
    monitor: str | None = None  # "mii" or "arp"
    frequency: int = 0
    downdelay: int = 0
    updelay: int = 0
    carrier: str | None = None
    interval: int = 0
    target: str | None = None
    validate: str | None = None
    #: vlan
    tag: str | None = None
    vlan_dev: str | None = None
    #: the ports of a bridge or bond
    children: list[InterfaceDef] = field(default_factory=list)


def _parse_protocol(proto: ET.Element) -> Protocol:
    family = proto.get("family")
    if family is None:
        raise _error("protocol misses the family attribute")
    if family not in ("ipv4", "ipv6"):
        raise _error(f"unsupported protocol family '{family}'")
    p = Protocol(family)
    route = proto.find("route")
    p.gateway = (route.get("gateway") or None) if route is not None else None
    if family == "ipv6" and proto.find("autoconf") is not None:
        p.autoconf = True
    dhcp = proto.find("dhcp")
    if dhcp is not None:
        p.dhcp = True
        peerdns = dhcp.get("peerdns")
        if peerdns is not None:
            if peerdns not in ("yes", "no"):
                raise _invalid_prop("peerdns", dhcp, peerdns)
            p.peerdns = 1 if peerdns == "yes" else 0
    for ip in proto.findall("ip"):
        address = ip.get("address")
        prefix = 0
        if address is not None and ip.get("prefix") is not None:
            value = _c_integer(ip.get("prefix"), signed=True, bits=32, base=0)
            if value is None:
                raise _invalid_prop("prefix", ip, ip.get("prefix", ""), "Expected integer value")
            prefix = value
        p.ips.append((address, prefix))
    return p


def _parse_mtu(root: ET.Element) -> int:
    mtu = root.find("mtu")
    raw = mtu.get("size") if mtu is not None else None
    if not raw:
        return 0
    value = _c_integer(raw, signed=False, bits=64)
    if value is None:
        raise _unknown_failure()
    if value > _MTU_MAX:
        raise _error(f"value of the 'size' attribute of 'mtu' element must be at most "
                     f"{_MTU_MAX}")
    return value


def _parse_link(d: InterfaceDef, link: ET.Element) -> None:
    state = link.get("state")
    if state is not None:
        if state not in _LINK_STATES[1:]:
            raise _invalid_prop("state", link, state)
        d.link_state = _LINK_STATES.index(state)
    speed = link.get("speed")
    if speed is not None:
        value = _c_integer(speed, signed=False, bits=32)
        if value is None or speed.lstrip(_C_SPACE).startswith("-"):
            raise _invalid_prop("speed", link, speed, "Expected non-negative integer value")
        d.link_speed = value


def _parse_bond(d: InterfaceDef, bond: ET.Element) -> None:
    mode = bond.get("mode")
    if mode:
        if mode not in _BOND_MODES:
            raise _error(f"unknown bonding mode {mode}")
        d.bond_mode = mode
    d.children = [parse_interface(e, parent="bond") for e in bond.findall("interface")]
    miimon, arpmon = bond.find("miimon"), bond.find("arpmon")
    if miimon is not None:
        d.monitor = "mii"
        freq = _xpath_int(miimon.get("freq"))
        if freq is None or freq is False:
            raise _error("bond interface miimon freq missing or invalid")
        d.frequency = int(freq)
        for attr in ("downdelay", "updelay"):
            value = _xpath_int(miimon.get(attr))
            if value is False:
                raise _error(f"bond interface miimon {attr} invalid")
            setattr(d, attr, int(value or 0))
        carrier = miimon.get("carrier")
        if carrier:
            if carrier not in _MII_CARRIERS:
                raise _error(f"unknown mii bonding carrier {carrier}")
            d.carrier = carrier
    elif arpmon is not None:
        d.monitor = "arp"
        interval = _xpath_int(arpmon.get("interval"))
        if interval is None or interval is False:
            raise _error("bond interface arpmon interval missing or invalid")
        d.interval = int(interval)
        d.target = arpmon.get("target") or None
        if d.target is None:
            raise _error("bond interface arpmon target missing")
        validate = arpmon.get("validate")
        if validate:
            if validate not in _ARP_VALIDATE:
                raise _error(f"unknown arp bonding validate {validate}")
            d.validate = validate


_ALLOWED_CHILDREN: Final = {"bond": ("ethernet",), "bridge": ("ethernet", "bond", "vlan")}


def parse_interface(root: ET.Element, *, parent: str | None = None) -> InterfaceDef:
    """Build an :class:`InterfaceDef` from an ``<interface>`` element (*parent*: the type of
    the bridge or bond it is a port of)."""
    itype = root.get("type")
    if itype is None:
        raise _prop_error(f"Missing required attribute 'type' in element '{root.tag}'")
    if itype not in IFACE_TYPES:
        raise _invalid_prop("type", root, itype)
    if parent is not None and itype not in _ALLOWED_CHILDREN.get(parent, ()):
        raise _error(f"interface has unsupported type '{itype}'")
    name = root.get("name")
    if name is None:
        raise _error("interface has no name")
    d = InterfaceDef(type=itype, name=name)
    if parent is None:
        start = root.find("start")
        mode = start.get("mode") if start is not None else None
        if mode:
            if mode not in _START_MODES:
                raise _error(f"unknown interface startmode {mode}")
            d.start_mode = mode
        d.mtu = _parse_mtu(root)
        d.protocols = [_parse_protocol(p) for p in root.findall("protocol")]
    if itype != "bridge":
        link = root.find("link")
        if link is not None:
            _parse_link(d, link)
    if itype == "ethernet":
        mac = root.find("mac")
        d.mac = (mac.get("address") or None) if mac is not None else None
    elif itype == "bridge":
        bridge = root.find("bridge")
        if bridge is None:
            raise _error("bridge interface misses the bridge element")
        stp = bridge.get("stp")
        if stp is not None and stp not in ("on", "off"):
            # libvirt reports it, then gives up reading the bridge but keeps the interface
            return d
        if stp is not None:
            d.stp = 1 if stp == "on" else 0
        d.delay = bridge.get("delay")
        d.children = [parse_interface(e, parent="bridge") for e in bridge.findall("interface")]
    elif itype == "bond":
        bond = root.find("bond")
        if bond is None:
            raise _error("bond interface misses the bond element")
        _parse_bond(d, bond)
    else:
        vlan = root.find("vlan")
        if vlan is None:
            raise _error("vlan interface misses the vlan element")
        d.tag = vlan.get("tag") or None
        if d.tag is None:
            raise _error("vlan interface misses the tag attribute")
        dev = vlan.find("interface")
        d.vlan_dev = (dev.get("name") or None) if dev is not None else None
        if d.vlan_dev is None:
            raise _error("vlan interface misses name attribute")
    return d


# ------------------------------------------------------------------------------ formatting
# libvirt escapes the interface's name only; other values are written as given.


def _format_protocol(p: Protocol, pad: str) -> str:
    out = [f"{pad}<protocol family='{p.family}'>\n"]
    if p.autoconf:
        out.append(f"{pad}  <autoconf/>\n")
    if p.dhcp:
        peerdns = {0: " peerdns='no'", 1: " peerdns='yes'"}.get(p.peerdns, "")
        out.append(f"{pad}  <dhcp{peerdns}/>\n")
    for address, prefix in p.ips:
        if address is not None:
            extra = f" prefix='{prefix}'" if prefix else ""
            out.append(f"{pad}  <ip address='{address}'{extra}/>\n")
    if p.gateway is not None:
        out.append(f"{pad}  <route gateway='{p.gateway}'/>\n")
    out.append(f"{pad}</protocol>\n")
    return "".join(out)


def _format(d: InterfaceDef, indent: int, top: bool) -> str:
    pad = " " * indent
    inner = pad + "  "
    out = [f"{pad}<interface type='{d.type}' name='{esc(d.name)}'>\n"]
    if top:
        if d.start_mode:
            out.append(f"{inner}<start mode='{d.start_mode}'/>\n")
        if d.mtu:
            out.append(f"{inner}<mtu size='{d.mtu}'/>\n")
        out.extend(_format_protocol(p, inner) for p in d.protocols)
    if d.type != "bridge" and (d.link_speed or d.link_state):
        speed = f" speed='{d.link_speed}'" if d.link_speed else ""
        state = f" state='{_LINK_STATES[d.link_state]}'" if d.link_state else ""
        out.append(f"{inner}<link{speed}{state}/>\n")
    if d.type == "ethernet":
        if d.mac:
            out.append(f"{inner}<mac address='{d.mac}'/>\n")
    elif d.type == "bridge":
        stp = {0: " stp='off'", 1: " stp='on'"}.get(d.stp, "")
        delay = f" delay='{d.delay}'" if d.delay is not None else ""
        out.append(f"{inner}<bridge{stp}{delay}>\n")
        out.extend(_format(c, indent + 4, False) for c in d.children)
        out.append(f"{inner}</bridge>\n")
    elif d.type == "bond":
        mode = f" mode='{d.bond_mode}'" if d.bond_mode else ""
        out.append(f"{inner}<bond{mode}>\n")
        if d.monitor == "mii":
            extra = "".join(f" {k}='{v}'" for k, v in (("downdelay", d.downdelay),
                                                       ("updelay", d.updelay)) if v > 0)
            carrier = f" carrier='{d.carrier}'" if d.carrier else ""
            out.append(f"{inner}  <miimon freq='{d.frequency}'{extra}{carrier}/>\n")
        elif d.monitor == "arp":
            validate = f" validate='{d.validate}'" if d.validate else ""
            out.append(f"{inner}  <arpmon interval='{d.interval}' target='{d.target}'"
                       f"{validate}/>\n")
        out.extend(_format(c, indent + 4, False) for c in d.children)
        out.append(f"{inner}</bond>\n")
    else:
        out.append(f"{inner}<vlan tag='{d.tag}'>\n")
        out.append(f"{inner}  <interface name='{d.vlan_dev}'/>\n")
        out.append(f"{inner}</vlan>\n")
    out.append(f"{pad}</interface>\n")
    return "".join(out)


def format_interface_xml(d: InterfaceDef) -> str:
    """The ``virInterfaceGetXMLDesc`` document."""
    return _format(d, 0, True)
