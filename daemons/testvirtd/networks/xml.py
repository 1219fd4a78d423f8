"""Network XML: parsing a ``<network>`` element and formatting it as libvirt's network
formatter does (element order, defaults such as the bridge's ``stp``/``delay``, empty
``<ip>`` elements written open and closed)."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ..domxml import ErrCode, ErrDomain, VirtError, format_element, parse_uuid, random_uuid
from ..domxml import _esc as esc

__all__ = ("FORWARD_MODES", "NetworkDef", "format_network_xml", "parse_network")

#: ``virNetworkForwardType`` names; "" is no forwarding (isolated).
FORWARD_MODES = ("nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev")
#: modes whose network has a bridge libvirt manages (stp/delay are formatted)
_BRIDGED = ("", "nat", "route", "open")


def _strip(elem: ET.Element) -> ET.Element:
    clone = copy.deepcopy(elem)
    for node in clone.iter():
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return clone


@dataclass
class NetworkDef:
    """A parsed network definition (what libvirt's formatter prints, in its order)."""

    name: str
    uuid: bytes
    ipv6: bool = False
    trust_guest_rx_filters: str | None = None
    title: str | None = None
    description: str | None = None
    metadata: ET.Element | None = None
    forward_mode: str = ""
    forward_dev: str | None = None
    forward_managed: bool = False
    forward_driver: str | None = None
    forward_nat: ET.Element | None = None
    forward_pf: str | None = None
    forward_ifs: list[ET.Element] = field(default_factory=list)
    bridge: str | None = None
    bridge_zone: str | None = None
    stp: bool = True
    delay: int = 0
    mac_table_manager: str | None = None
    mtu: int | None = None
    mac: str | None = None
    domain: ET.Element | None = None
    dns: ET.Element | None = None
    vlan: ET.Element | None = None
    bandwidth: ET.Element | None = None
    port: ET.Element | None = None
    ips: list[ET.Element] = field(default_factory=list)
    routes: list[ET.Element] = field(default_factory=list)
    virtualport: ET.Element | None = None
    portgroups: list[ET.Element] = field(default_factory=list)

    @property
    def bridge_name(self) -> str:
        """What ``virNetworkGetBridgeName`` answers."""
        return self.bridge or ""


def _xml_error(info: str) -> VirtError:
    return VirtError.xml_error(ErrDomain.NETWORK, info)


def parse_network(root: ET.Element) -> NetworkDef:
    """Build a :class:`NetworkDef` from a ``<network>`` element (libvirt's checks for the
    parts modelled; a missing UUID is generated)."""
    name = (root.findtext("name") or "").strip()
    if not name:
        raise VirtError(ErrCode.NO_NAME, ErrDomain.NETWORK, "missing name information",
                        str1="missing name information")
    uuid_text = root.findtext("uuid")
    if uuid_text is None:
        uuid = random_uuid()
    else:
        try:
            uuid = parse_uuid(uuid_text)
        except ValueError:
            raise _xml_error(f"malformed uuid element for network '{name}'") from None
    d = NetworkDef(name=name, uuid=uuid, ipv6=root.get("ipv6") == "yes",
                   trust_guest_rx_filters=root.get("trustGuestRxFilters"))
    d.title = root.findtext("title")
    d.description = root.findtext("description")
    for tag in ("metadata", "domain", "dns", "vlan", "bandwidth", "port", "virtualport"):
        elem = root.find(tag)
        if elem is not None:
            setattr(d, tag, _strip(elem))
    fwd = root.find("forward")
    if fwd is not None:
        mode = fwd.get("mode", "nat")
        if mode not in FORWARD_MODES:
            raise _xml_error(f"unknown forwarding type '{mode}'")
        d.forward_mode = mode
        d.forward_managed = fwd.get("managed") == "yes"
        driver = fwd.find("driver")
        d.forward_driver = driver.get("name") if driver is not None else None
        nat = fwd.find("nat")
        d.forward_nat = _strip(nat) if nat is not None else None
        pf = fwd.find("pf")
        d.forward_pf = pf.get("dev") if pf is not None else None
        d.forward_ifs = [_strip(e) for e in fwd if e.tag in ("interface", "address")]
        dev = fwd.get("dev")
        if dev and not any(e.tag == "interface" for e in d.forward_ifs) and d.forward_pf is None:
            d.forward_ifs.insert(0, ET.Element("interface", {"dev": dev}))
    bridge = root.find("bridge")
    if bridge is not None:
        d.bridge = bridge.get("name")
        d.bridge_zone = bridge.get("zone")
        d.stp = bridge.get("stp", "on") != "off"
        try:
            d.delay = int(bridge.get("delay", "0"))
        except ValueError:
            raise _xml_error(f"Invalid delay value in network '{name}'") from None
        d.mac_table_manager = bridge.get("macTableManager")
    mtu = root.find("mtu")
    if mtu is not None and mtu.get("size"):
        d.mtu = int(mtu.get("size", "0"))
    mac = root.find("mac")
    if mac is not None:
        d.mac = mac.get("address")
    d.ips = [_strip(e) for e in root.findall("ip")]
    d.routes = [_strip(e) for e in root.findall("route")]
    d.portgroups = [_strip(e) for e in root.findall("portgroup")]
    if d.forward_mode in ("nat", "route", "open") and not d.ips:
        raise _xml_error(f"{d.forward_mode} forwarding requested, but no IP address provided "
                         f"for network '{name}'")
    return d


def _format_ip(ip: ET.Element) -> str:
    attrs = ""
    for key in ("family", "address", "netmask", "prefix", "localPtr"):
        value = ip.get(key)
        if value is not None:
            attrs += f" {key}='{esc(value)}'"
    out = [f"  <ip{attrs}>\n"]
    tftp = ip.find("tftp")
    if tftp is not None:
        out.append(format_element(tftp, 4))
    dhcp = ip.find("dhcp")
    if dhcp is not None and len(dhcp):
        out.append("    <dhcp>\n")
        for tag in ("range", "host", "bootp"):
            out.extend(format_element(e, 6) for e in dhcp.findall(tag))
        out.append("    </dhcp>\n")
    out.append("  </ip>\n")
    return "".join(out)


def format_network_xml(d: NetworkDef, uuid_text: str) -> str:
    """The ``virNetworkGetXMLDesc`` document of *d*."""
    head = "<network"
    if d.ipv6:
        head += " ipv6='yes'"
    if d.trust_guest_rx_filters:
        head += f" trustGuestRxFilters='{esc(d.trust_guest_rx_filters)}'"
    out = [head + ">\n", f"  <name>{esc(d.name)}</name>\n", f"  <uuid>{uuid_text}</uuid>\n"]
    if d.title is not None:
        out.append(f"  <title>{esc(d.title)}</title>\n")
    if d.description is not None:
        out.append(f"  <description>{esc(d.description)}</description>\n")
    if d.metadata is not None:
        out.append(format_element(d.metadata, 2))
    if d.forward_mode:
        dev = None
        if d.forward_pf is None:
            first = d.forward_ifs[0] if d.forward_ifs else None
            dev = first.get("dev") if first is not None and first.tag == "interface" else None
        fwd = "  <forward"
        if dev is not None:
            fwd += f" dev='{esc(dev)}'"
        fwd += f" mode='{d.forward_mode}'"
        if d.forward_mode == "hostdev":
            fwd += " managed='yes'" if d.forward_managed else " managed='no'"
        inner = []
        if d.forward_driver:
            inner.append(f"    <driver name='{esc(d.forward_driver)}'/>\n")
        if d.forward_mode == "nat" and d.forward_nat is not None and (
            len(d.forward_nat) or d.forward_nat.attrib
        ):
            inner.append(format_element(d.forward_nat, 4))
        if d.forward_pf is not None:
            inner.append(f"    <pf dev='{esc(d.forward_pf)}'/>\n")
        else:
            inner.extend(format_element(e, 4) for e in d.forward_ifs)
        if inner:
            out.append(fwd + ">\n")
            out.extend(inner)
            out.append("  </forward>\n")
        else:
            out.append(fwd + "/>\n")
    bridged = d.forward_mode in _BRIDGED
    if bridged or d.bridge or d.mac_table_manager:
        br = "  <bridge"
        if d.bridge:
            br += f" name='{esc(d.bridge)}'"
        if d.bridge_zone:
            br += f" zone='{esc(d.bridge_zone)}'"
        if bridged:
            br += f" stp='{'on' if d.stp else 'off'}' delay='{d.delay}'"
        if d.mac_table_manager:
            br += f" macTableManager='{esc(d.mac_table_manager)}'"
        out.append(br + "/>\n")
    if d.mtu:
        out.append(f"  <mtu size='{d.mtu}'/>\n")
    if d.mac:
        out.append(f"  <mac address='{esc(d.mac)}'/>\n")
    for elem in (d.domain, d.dns, d.vlan, d.bandwidth, d.port):
        if elem is not None:
            out.append(format_element(elem, 2))
    out.extend(_format_ip(ip) for ip in d.ips)
    out.extend(format_element(r, 2) for r in d.routes)
    if d.virtualport is not None:
        out.append(format_element(d.virtualport, 2))
    out.extend(format_element(p, 2) for p in d.portgroups)
    out.append("</network>\n")
    return "".join(out)
