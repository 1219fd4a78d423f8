"""Host interface XML (``<interface>`` of ``virInterface``): parsing and formatting as
libvirt's interface formatter does (start mode, MTU and addressing only at the top level;
ethernet, bridge, bond and vlan interfaces, nested)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Final

from ..domxml import VirtError, format_element
from ..domxml import _esc as esc

__all__ = ("IFACE_TYPES", "InterfaceDef", "format_interface_xml", "parse_interface")

IFACE_TYPES: Final = ("ethernet", "bridge", "bond", "vlan")
_START_MODES: Final = ("none", "onboot", "hotplug")
_BOND_MODES: Final = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad",
                      "balance-tlb", "balance-alb")
_FROM_INTERFACE: Final = 11


def _error(info: str) -> VirtError:
    return VirtError.xml_error(_FROM_INTERFACE, info)


@dataclass
class InterfaceDef:
    """A parsed interface: enough to list it and format it back as libvirt does."""

    type: str
    name: str | None
    start_mode: str | None = None
    mtu: int | None = None
    protocols: list[ET.Element] = field(default_factory=list)
    link: ET.Element | None = None
    mac: str | None = None
    #: bridge: stp ("on"/"off"/None), delay; bond: mode; vlan: tag
    attrs: dict[str, str] = field(default_factory=dict)
    #: bond: the miimon or arpmon element; vlan: the parent interface's name
    monitor: ET.Element | None = None
    vlan_dev: str | None = None
    children: list[InterfaceDef] = field(default_factory=list)


def parse_interface(root: ET.Element, *, top: bool = True) -> InterfaceDef:
    """Build an :class:`InterfaceDef` from an ``<interface>`` element."""
    itype = root.get("type")
    if itype is None:
        raise _error("interface misses the type attribute")
    if itype not in IFACE_TYPES:
        raise _error(f"unknown interface type {itype}")
    name = root.get("name")
    if name is None and itype != "vlan":
        raise _error("interface has no name")
    d = InterfaceDef(type=itype, name=name)
    if top:
        start = root.find("start")
        if start is not None:
            mode = start.get("mode")
            if mode not in _START_MODES:
                raise _error(f"unknown interface startmode {mode}")
            d.start_mode = mode
        mtu = root.find("mtu")
        if mtu is not None:
            try:
                d.mtu = int(mtu.get("size", ""))
            except ValueError:
                raise _error("interface mtu value is improper") from None
        d.protocols = list(root.findall("protocol"))
    if itype != "bridge":
        d.link = root.find("link")
    if itype == "ethernet":
        mac = root.find("mac")
        d.mac = mac.get("address") if mac is not None else None
    elif itype == "bridge":
        bridge = root.find("bridge")
        if bridge is None:
            raise _error("bridge interface misses the bridge element")
        d.attrs = {k: bridge.get(k, "") for k in ("stp", "delay") if bridge.get(k) is not None}
        d.children = [parse_interface(e, top=False) for e in bridge.findall("interface")]
    elif itype == "bond":
        bond = root.find("bond")
        if bond is None:
            raise _error("bond interface misses the bond element")
        if bond.get("mode") in _BOND_MODES:
            d.attrs["mode"] = bond.get("mode", "")
        d.monitor = bond.find("miimon")
        if d.monitor is None:
            d.monitor = bond.find("arpmon")
        d.children = [parse_interface(e, top=False) for e in bond.findall("interface")]
    else:
        vlan = root.find("vlan")
        if vlan is None:
            raise _error("vlan interface misses the vlan element")
        tag = vlan.get("tag")
        if tag is None:
            raise _error("vlan interface misses the tag attribute")
        d.attrs["tag"] = tag
        dev = vlan.find("interface")
        if dev is None or not dev.get("name"):
            raise _error("vlan interface misses name attribute")
        d.vlan_dev = dev.get("name")
    return d


def _format_protocol(proto: ET.Element, pad: str) -> str:
    out = [f"{pad}<protocol family='{esc(proto.get('family', ''))}'>\n"]
    if proto.find("autoconf") is not None:
        out.append(f"{pad}  <autoconf/>\n")
    dhcp = proto.find("dhcp")
    if dhcp is not None:
        peerdns = dhcp.get("peerdns")
        out.append(f"{pad}  <dhcp peerdns='{peerdns}'/>\n" if peerdns in ("yes", "no")
                   else f"{pad}  <dhcp/>\n")
    for ip in proto.findall("ip"):
        if ip.get("address") is None:
            continue
        prefix = ip.get("prefix")
        extra = f" prefix='{int(prefix)}'" if prefix and int(prefix) else ""
        out.append(f"{pad}  <ip address='{esc(ip.get('address', ''))}'{extra}/>\n")
    route = proto.find("route")
    if route is not None and route.get("gateway"):
        out.append(f"{pad}  <route gateway='{esc(route.get('gateway', ''))}'/>\n")
    out.append(f"{pad}</protocol>\n")
    return "".join(out)


def _format(d: InterfaceDef, indent: int, top: bool) -> str:
    pad = " " * indent
    name = f"name='{esc(d.name)}'" if d.name is not None else ""
    out = [f"{pad}<interface type='{d.type}' {name}>\n"]
    inner = pad + "  "
    if top:
        if d.start_mode:
            out.append(f"{inner}<start mode='{d.start_mode}'/>\n")
        if d.mtu:
            out.append(f"{inner}<mtu size='{d.mtu}'/>\n")
        out.extend(_format_protocol(p, inner) for p in d.protocols)
    if d.type != "bridge" and d.link is not None:
        out.append(format_element(d.link, indent + 2))
    if d.type == "ethernet":
        if d.mac:
            out.append(f"{inner}<mac address='{esc(d.mac)}'/>\n")
    elif d.type == "bridge":
        attrs = "".join(f" {k}='{esc(v)}'" for k, v in d.attrs.items())
        out.append(f"{inner}<bridge{attrs}>\n")
        out.extend(_format(c, indent + 4, False) for c in d.children)
        out.append(f"{inner}</bridge>\n")
    elif d.type == "bond":
        mode = f" mode='{d.attrs['mode']}'" if "mode" in d.attrs else ""
        out.append(f"{inner}<bond{mode}>\n")
        if d.monitor is not None:
            out.append(format_element(d.monitor, indent + 4))
        out.extend(_format(c, indent + 4, False) for c in d.children)
        out.append(f"{inner}</bond>\n")
    else:
        tag = esc(d.attrs.get("tag", ""))
        if d.vlan_dev is not None:
            out.append(f"{inner}<vlan tag='{tag}'>\n")
            out.append(f"{inner}  <interface name='{esc(d.vlan_dev)}'/>\n")
            out.append(f"{inner}</vlan>\n")
        else:
            out.append(f"{inner}<vlan tag='{tag}'/>\n")
    out.append(f"{pad}</interface>\n")
    return "".join(out)


def format_interface_xml(d: InterfaceDef) -> str:
    """The ``virInterfaceGetXMLDesc`` document."""
    return _format(d, 0, True)
