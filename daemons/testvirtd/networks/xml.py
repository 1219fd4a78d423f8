"""Network XML as libvirt 9.0's network configuration code reads and writes it.

:func:`parse_network` builds a :class:`NetworkDef` from a ``<network>`` element with the
checks libvirt makes, in its order and with its error codes, domains and texts;
:func:`format_network_xml` writes it back as ``virNetworkDefFormat`` does (element order,
defaults such as the bridge's ``stp``/``delay``, canonical addresses, which values are
escaped).  :func:`copy_network` is libvirt's deep copy, a format/parse cycle.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Final

from ..domxml import ErrCode, ErrDomain, VirtError, esc, format_uuid, parse_uuid, random_uuid
from ..netaddr import (
    AF_INET,
    AF_INET6,
    Addr,
    check_pci_address,
    format_mac,
    parse_addr,
    parse_mac,
    pci_address_values,
    prefix_to_mask,
    strtoui,
    strtoul,
    strtoul_p,
)
from .xmlparts import (
    Bandwidth,
    MetadataElem,
    VirtualPort,
    Vlan,
    dump_metadata,
    format_bandwidth,
    format_virtualport,
    format_vlan,
    parse_bandwidth,
    parse_metadata,
    parse_virtualport,
    parse_vlan,
    tristate,
)

__all__ = (
    "FORWARD_MODES",
    "DHCPHost",
    "DHCPRange",
    "DNSHost",
    "DNSSrv",
    "DNSTxt",
    "IPDef",
    "NetworkDef",
    "PortGroup",
    "copy_network",
    "format_network_xml",
    "get_range",
    "ip_prefix",
    "network_xml_error",
    "parse_dhcp_host",
    "parse_dhcp_range",
    "parse_dns_host",
    "parse_dns_srv",
    "parse_dns_txt",
    "parse_network",
    "parse_portgroup",
)

#: ``virNetworkForwardType`` names; "none" (0) is no forwarding (isolated).
FORWARD_MODES: Final = ("none", "nat", "route", "open", "bridge", "private", "vepa",
                        "passthrough", "hostdev")
_BRIDGED: Final = frozenset({"none", "nat", "route", "open"})
_DRIVER_NAMES: Final = ("default", "kvm", "vfio", "xen")
_LEASE_UNITS: Final = ("seconds", "minutes", "hours")
DNS_RECORD_LENGTH_SRV: Final = 512 - 30  # what libvirt allows for an SRV service name
_PROTOCOL_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+/")
_SERVICE_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/*")
_ID_CHARS: Final = frozenset("0123456789abcdefABCDEF:")


# ------------------------------------------------------------------------------ errors


def network_xml_error(info: str) -> VirtError:
    """``XML error: <info>`` of the network domain."""
    return VirtError.xml_error(ErrDomain.NETWORK, info)


def _detail(info: str, domain: int = ErrDomain.NETWORK) -> VirtError:
    return VirtError(ErrCode.XML_DETAIL, domain, info, str1="%s", str2=info)


def _unsupported(info: str, domain: int = ErrDomain.NETWORK) -> VirtError:
    return VirtError.fmt(ErrCode.CONFIG_UNSUPPORTED, domain, "unsupported configuration: %s",
                         info)


def _internal(info: str, domain: int = ErrDomain.NONE) -> VirtError:
    return VirtError.internal_error(domain, info)


# ------------------------------------------------------------------------------ the model


@dataclass
class Lease:
    """``<lease expiry= unit=>`` of a DHCP range or host."""

    expiry: int
    unit: str = "minutes"

    def format(self) -> str:
        if not self.expiry:
            return "<lease expiry='0'/>"
        return f"<lease expiry='{self.expiry}' unit='{self.unit}'/>"


@dataclass
class DHCPRange:
    """``<range start= end=>``."""

    start: Addr
    end: Addr
    lease: Lease | None = None


@dataclass
class DHCPHost:
    """``<host mac= id= name= ip=>`` of a DHCP section (the MAC kept as written)."""

    mac: str | None = None
    id: str | None = None
    name: str | None = None
    ip: Addr | None = None
    lease: Lease | None = None


@dataclass
class IPDef:
    """One ``<ip>`` element."""

    family: str | None
    address: Addr
    netmask: Addr | None = None
    prefix: int = 0
    local_ptr: str | None = None
    tftproot: str | None = None
    ranges: list[DHCPRange] = field(default_factory=list)
    hosts: list[DHCPHost] = field(default_factory=list)
    bootfile: str | None = None
    bootserver: Addr | None = None


@dataclass
class DNSHost:
    """``<host ip=>`` of ``<dns>`` with its host names."""

    ip: Addr | None
    names: list[str] = field(default_factory=list)


@dataclass
class DNSTxt:
    """``<txt name= value=>``."""

    name: str
    value: str | None


@dataclass
class DNSSrv:
    """``<srv>``."""

    service: str | None = None
    protocol: str | None = None
    domain: str | None = None
    target: str | None = None
    port: int = 0
    priority: int = 0
    weight: int = 0


@dataclass
class Forwarder:
    """``<forwarder domain= addr=>``."""

    domain: str | None
    addr: Addr | None


@dataclass
class DNSDef:
    """``<dns>``."""

    enable: str | None = None
    forward_plain_names: str | None = None
    forwarders: list[Forwarder] = field(default_factory=list)
    txts: list[DNSTxt] = field(default_factory=list)
    hosts: list[DNSHost] = field(default_factory=list)
    srvs: list[DNSSrv] = field(default_factory=list)


@dataclass
class PCIAddress:
    """A PCI address of a hostdev forward pool."""

    domain: int
    bus: int
    slot: int
    function: int
    multifunction: str | None = None

    def format(self) -> str:
        out = (f"<address type='pci' domain='0x{self.domain:04x}' bus='0x{self.bus:02x}' "
               f"slot='0x{self.slot:02x}' function='0x{self.function:x}'")
        if self.multifunction:
            out += f" multifunction='{self.multifunction}'"
        return out + "/>"


@dataclass
class ForwardDef:
    """``<forward>``."""

    mode: str = "none"
    managed: bool = False
    driver: str = "default"
    nat_ipv6: str | None = None
    nat_start: Addr | None = None
    nat_end: Addr | None = None
    port_start: int = 0
    port_end: int = 0
    #: interfaces (device names) or PCI addresses
    ifs: list[str | PCIAddress] = field(default_factory=list)
    pfs: list[str] = field(default_factory=list)

    def first_dev(self) -> str | None:
        """``virNetworkDefForwardIf(def, 0)``."""
        return self.ifs[0] if self.ifs and isinstance(self.ifs[0], str) else None


@dataclass
class PortGroup:
    """``<portgroup>``."""

    name: str
    is_default: bool = False
    trust_guest_rx_filters: str | None = None
    vlan: Vlan | None = None
    virtualport: VirtualPort | None = None
    bandwidth: Bandwidth | None = None


@dataclass
class Route:
    """``<route>``."""

    family: str | None
    address: Addr
    gateway: Addr
    netmask: Addr | None = None
    prefix: int | None = None
    metric: int | None = None


@dataclass
class NetworkDef:
    """A network definition (``virNetworkDef``) as libvirt 9.0 keeps it."""

    name: str
    uuid: bytes
    ipv6nogw: bool = False
    trust_guest_rx_filters: str | None = None
    metadata: list[MetadataElem] | None = None
    forward: ForwardDef = field(default_factory=ForwardDef)
    bridge: str | None = None
    bridge_zone: str | None = None
    stp: bool = True
    delay: int = 0
    mac_table_manager: str | None = None
    mtu: int = 0
    mac: bytes | None = None
    domain: str | None = None
    domain_local_only: str | None = None
    dns: DNSDef = field(default_factory=DNSDef)
    vlan: Vlan | None = None
    bandwidth: Bandwidth | None = None
    isolated_port: str | None = None
    ips: list[IPDef] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    virtualport: VirtualPort | None = None
    portgroups: list[PortGroup] = field(default_factory=list)

    @property
    def bridge_name(self) -> str:
        """The bridge's name ("" when there is none)."""
        return self.bridge or ""

    def ip_by_index(self, family: int, n: int) -> IPDef | None:
        """``virNetworkDefGetIPByIndex``: the *n*-th ``<ip>`` of *family* (0: any)."""
        if n >= len(self.ips):
            return None
        if family == 0:
            return self.ips[n]
        for ip in self.ips:
            if ip.address.family == family:
                if n == 0:
                    return ip
                n -= 1
        return None


# ------------------------------------------------------------------------------ helpers


def _xpath_string(elem: ET.Element | None, attr: str) -> str | None:
    """``virXPathString("string(./@attr)")``: an empty value counts as absent."""
    if elem is None:
        return None
    value = elem.get(attr)
    return value or None


def _text(elem: ET.Element | None) -> str | None:
    """``virXPathString("string(./x[1])")``: all the text inside, None when empty."""
    if elem is None:
        return None
    value = "".join(elem.itertext())
    return value or None


def ip_prefix(ip: IPDef) -> int:
    """``virNetworkIPDefPrefix``: the prefix, from the netmask or the address class."""
    if ip.prefix > 0:
        return ip.prefix
    if ip.netmask is not None:
        value, bits = ip.netmask.value, ip.netmask.bits
        ones = 0
        while ones < bits and value & (1 << (bits - 1 - ones)):
            ones += 1
        if value & ((1 << (bits - ones)) - 1):
            return -1
        return ones
    if ip.address.family == AF_INET:
        octet = ip.address.packed[0]
        if ip.address.value == 0:
            return 0
        if octet & 0x80 == 0:
            return 8
        if octet & 0xC0 == 0x80:
            return 16
        if octet & 0xE0 == 0xC0:
            return 24
        return -1
    if ip.address.family == AF_INET6:
        return 0 if ip.address.value == 0 else 64
    return 0


def get_range(start: Addr, end: Addr, network: Addr | None, prefix: int) -> int:
    """``virSocketAddrGetRange``: the size of the range, or libvirt's error."""
    start_s, end_s = str(start), str(end)
    if start.family != end.family:
        raise _internal(f"mismatch of address family in range {start_s} - {end_s}")
    if network is not None:
        net_s = str(network)
        if start.family != network.family:
            raise _internal(f"mismatch of address family in range {start_s} - {end_s} "
                            f"for network {net_s}")
        if prefix < 0 or prefix > network.bits:
            raise _internal(f"bad prefix {prefix} for network {net_s} when checking range "
                            f"{start_s} - {end_s}")
        mask = prefix_to_mask(prefix, network.bits)
        if (start.value & mask) != (network.value & mask) or \
                (end.value & mask) != (network.value & mask):
            raise _internal(f"range {start_s} - {end_s} is not entirely within network "
                            f"{net_s}/{prefix}")
        if start.family == AF_INET:
            netaddr = network.value & mask
            broadcast = netaddr | (~mask & 0xFFFFFFFF)
            if start.value == netaddr:
                raise _internal(f"start of range {start_s} - {end_s} in network "
                                f"{net_s}/{prefix} is the network address")
            if end.value == broadcast:
                raise _internal(f"end of range {start_s} - {end_s} in network "
                                f"{net_s}/{prefix} is the broadcast address")
    if start.family == AF_INET:
        if start.packed[:2] != end.packed[:2]:
            raise _internal(f"range {start_s} - {end_s} is too large (> 65535)")
        size = (end.packed[2] - start.packed[2]) * 256 + (end.packed[3] - start.packed[3])
        if size < 0:
            raise _internal(f"range {start_s} - {end_s} is reversed ")
        return size + 1
    if start.packed[:14] != end.packed[:14]:
        raise _internal(f"range {start_s} - {end_s} is too large (> 65535)")
    size = int.from_bytes(end.packed[14:], "big") - int.from_bytes(start.packed[14:], "big")
    if size < 0:
        raise _internal(f"range {start_s} - {end_s} start larger than end")
    return size + 1


# ------------------------------------------------------------------------------ DHCP


def _parse_lease(node: ET.Element) -> Lease | None:
    expiry_text = node.get("expiry")
    if expiry_text is None:
        return None
    expiry = strtoul(expiry_text)
    if expiry is None:
        raise network_xml_error(f"failed to parse expiry value '{expiry_text}'")
    unit = "minutes"
    unit_text = node.get("unit")
    if unit_text is not None:
        if unit_text not in _LEASE_UNITS:
            raise network_xml_error(f"Invalid unit: {unit_text}")
        unit = unit_text
    if expiry > 0 and ((unit == "seconds" and expiry < 120) or
                       (unit == "minutes" and expiry < 2)):
        raise _unsupported("The minimum lease time should be greater than 2 minutes")
    return Lease(expiry, unit)


def _child_lease(node: ET.Element) -> Lease | None:
    lease = None
    for child in node:
        if child.tag == "lease":
            lease = _parse_lease(child)
    return lease


def parse_dhcp_range(net_name: str, ip: IPDef, node: ET.Element) -> DHCPRange:
    """``virNetworkDHCPRangeDefParseXML``."""
    start_text = node.get("start")
    if start_text is None:
        raise network_xml_error(f"Missing 'start' attribute in dhcp range for network "
                                f"'{net_name}'")
    start = parse_addr(start_text)
    end_text = node.get("end")
    if end_text is None:
        raise network_xml_error(f"Missing 'end' attribute in dhcp range for network "
                                f"'{net_name}'")
    end = parse_addr(end_text)
    get_range(start, end, ip.address, ip_prefix(ip))
    return DHCPRange(start, end, _child_lease(node))


def parse_dhcp_host(net_name: str, ip: IPDef, node: ET.Element, partial: bool) -> DHCPHost:
    """``virNetworkDHCPHostDefParseXML`` (*partial*: one attribute is enough, to match)."""
    mac = node.get("mac")
    if mac is not None:
        if ip.address.family == AF_INET6:
            raise network_xml_error(f"Invalid to specify MAC address '{mac}' in network "
                                    f"'{net_name}' IPv6 static host definition")
        raw = parse_mac(mac)
        if raw is None:
            raise network_xml_error(f"Cannot parse MAC address '{mac}' in network "
                                    f"'{net_name}'")
        if raw[0] & 1:
            raise network_xml_error(f"expected unicast mac address, found multicast '{mac}' "
                                    f"in network '{net_name}'")
    host_id = node.get("id")
    if host_id is not None:
        bad = next((ch for ch in host_id if ch not in _ID_CHARS), None)
        if bad is not None:
            raise network_xml_error(f"Invalid character '{bad}' in id '{host_id}' of network "
                                    f"'{net_name}'")
    name = node.get("name")
    if name is not None and not (name[:1].isascii() and name[:1].isalnum()):
        raise network_xml_error(f"Cannot use host name '{name}' in network '{net_name}'")
    ip_text = node.get("ip")
    addr = None
    if ip_text is not None:
        try:
            addr = parse_addr(ip_text)
        except VirtError:
            raise network_xml_error(f"Invalid IP address in static host definition for "
                                    f"network '{net_name}'") from None
    if partial:
        if not (mac or name or ip_text):
            raise network_xml_error(
                f"At least one of name, mac, or ip attribute must be specified for static "
                f"host definition in network '{net_name}' ")
    else:
        if ip.address.family == AF_INET6:
            if not (host_id or name):
                raise network_xml_error(f"Static host definition in IPv6 network "
                                        f"'{net_name}' must have id or name attribute")
        elif not (mac or name):
            raise network_xml_error(f"Static host definition in IPv4 network '{net_name}' "
                                    f"must have mac or name attribute")
        if ip_text is None:
            raise network_xml_error(f"Missing IP address in static host definition for "
                                    f"network '{net_name}'")
    return DHCPHost(mac, host_id, name, addr, _child_lease(node))


def _parse_dhcp(net_name: str, node: ET.Element, ip: IPDef) -> None:
    for child in node:
        if child.tag == "range":
            ip.ranges.append(parse_dhcp_range(net_name, ip, child))
        elif child.tag == "host":
            ip.hosts.append(parse_dhcp_host(net_name, ip, child, False))
        elif child.tag == "bootp" and ip.address.family == AF_INET:
            file = child.get("file")
            if file is None:
                continue
            server = child.get("server")
            ip.bootserver = parse_addr(server) if server is not None else None
            ip.bootfile = file


def _parse_ip(net_name: str, node: ET.Element) -> IPDef:
    family = _xpath_string(node, "family")
    address_text = _xpath_string(node, "address")
    if address_text is None:
        raise network_xml_error(f"Missing required address attribute in network '{net_name}'")
    try:
        address = parse_addr(address_text)
    except VirtError:
        raise network_xml_error(f"Invalid address '{address_text}' in network "
                                f"'{net_name}'") from None
    netmask_text = _xpath_string(node, "netmask")
    netmask = None
    if netmask_text is not None:
        try:
            netmask = parse_addr(netmask_text)
        except VirtError:
            raise network_xml_error(f"Invalid netmask '{netmask_text}' in network "
                                    f"'{net_name}'") from None
    prefix_text = node.get("prefix")
    prefix = 0
    if prefix_text is not None:
        value = strtoul_p(prefix_text, bits=32)
        if value is None:
            raise VirtError.fmt(
                ErrCode.XML_ERROR, ErrDomain.XML, "XML error: %s",
                f"Invalid value for attribute 'prefix' in element 'ip': '{prefix_text}'. "
                "Expected non-negative integer value")
        prefix = value
    local_ptr = tristate(node, "localPtr")
    if family is None or family == "ipv4":
        if address.family != AF_INET:
            raise _unsupported(f"{'no' if family is None else 'ipv4'} family specified for "
                               f"non-IPv4 address '{address_text}' in network '{net_name}'")
        if netmask_text is not None:
            assert netmask is not None
            if netmask.family != AF_INET:
                raise _unsupported(f"Invalid netmask '{netmask_text}' for address "
                                   f"'{address_text}' in network '{net_name}' (both must "
                                   "be IPv4)")
            if prefix > 0:
                raise _unsupported(f"Network '{net_name}' IP address cannot have both a "
                                   "prefix and a netmask")
        elif prefix > 32:
            raise _unsupported(f"Invalid IPv4 prefix '{prefix}' in network '{net_name}'")
    elif family == "ipv6":
        if address.family != AF_INET6:
            raise _unsupported(f"Family 'ipv6' specified for non-IPv6 address "
                               f"'{address_text}' in network '{net_name}'")
        if netmask_text is not None:
            raise _unsupported(f"netmask not allowed for IPv6 address '{address_text}' in "
                               f"network '{net_name}'")
        if prefix > 128:
            raise _unsupported(f"Invalid IPv6 prefix '{prefix}' in network '{net_name}'")
    else:
        raise network_xml_error(f"Unrecognized family '{family}' in network '{net_name}'")
    ip = IPDef(family, address, netmask, prefix, local_ptr)
    dhcp = node.find("dhcp")
    if dhcp is not None:
        _parse_dhcp(net_name, dhcp, ip)
    tftp = node.find("tftp")
    if tftp is not None:
        if address.family != AF_INET:
            raise _unsupported(f"Unsupported <tftp> element in an IPv6 element in network "
                               f"'{net_name}'")
        ip.tftproot = tftp.get("root") or None
    return ip


# ------------------------------------------------------------------------------ DNS


def parse_dns_host(net_name: str, node: ET.Element, partial: bool) -> DNSHost:
    """``virNetworkDNSHostDefParseXML``."""
    ip_text = node.get("ip")
    if ip_text is None and not partial:
        raise _detail(f"Missing IP address in network '{net_name}' DNS HOST record")
    addr = None
    if ip_text is not None:
        try:
            addr = parse_addr(ip_text)
        except VirtError:
            raise _detail(f"Invalid IP address in network '{net_name}' DNS HOST "
                          "record") from None
    names = []
    for child in node:
        if child.tag == "hostname" and (child.text or len(child)):
            names.append("".join(child.itertext()))
    if not names and not partial:
        raise _detail(f"Missing hostname in network '{net_name}' DNS HOST record")
    if addr is None and not names:
        raise _detail(f"Missing ip and hostname in network '{net_name}' DNS HOST record")
    return DNSHost(addr, names)


def _uint_attr(node: ET.Element, attr: str) -> int | None:
    """``virXPathUInt("string(./@attr)")``: None when absent, -2 when not a number."""
    value = node.get(attr)
    if not value:
        return None
    parsed = strtoui(value)
    return -2 if parsed is None else parsed


def parse_dns_srv(net_name: str, node: ET.Element, partial: bool) -> DNSSrv:
    """``virNetworkDNSSrvDefParseXML``."""
    srv = DNSSrv(service=node.get("service"))
    if srv.service is None and not partial:
        raise _detail(f"missing required service attribute in DNS SRV record of network "
                      f"'{net_name}'")
    if srv.service is not None:
        if len(srv.service) > DNS_RECORD_LENGTH_SRV:
            raise _detail(f"service attribute '{srv.service}' in network '{net_name}' is too "
                          f"long, limit is {DNS_RECORD_LENGTH_SRV} bytes")
        if any(ch not in _SERVICE_CHARS for ch in srv.service):
            raise _detail(f"invalid character in service attribute '{srv.service}' in DNS "
                          f"SRV record of network '{net_name}'")
    srv.protocol = node.get("protocol")
    if srv.protocol is None and not partial:
        raise _detail(f"missing required protocol attribute in DNS SRV record "
                      f"'{srv.service}' of network '{net_name}'")
    if srv.protocol is not None and any(ch not in _PROTOCOL_CHARS for ch in srv.protocol):
        raise _detail(f"invalid character in protocol attribute '{srv.protocol}' in DNS SRV "
                      f"record of network '{net_name}'")
    srv.domain = node.get("domain")
    srv.target = node.get("target")
    for attr, limit, article in (("port", 65535, "invalid"), ("priority", 65535, "Invalid"),
                                 ("weight", 65535, "invalid")):
        value = _uint_attr(node, attr)
        if value is not None and value >= 0 and srv.target is None:
            raise _detail(f"DNS SRV {attr} attribute not permitted without target for "
                          f"service '{srv.service}' in network '{net_name}'")
        if value == -2 or (value is not None and (value > limit or
                                                  (attr == "port" and value < 1))):
            raise _detail(f"{article} DNS SRV {attr} attribute for service '{srv.service}' "
                          f"in network '{net_name}'")
        setattr(srv, attr, value or 0)
    return srv


def parse_dns_txt(net_name: str, node: ET.Element, partial: bool) -> DNSTxt:
    """``virNetworkDNSTxtDefParseXML``."""
    name = node.get("name")
    if name is None:
        raise _detail(f"missing required name attribute in DNS TXT record of network "
                      f"{net_name}")
    if " " in name or "," in name:
        raise _detail(f"prohibited character in DNS TXT record name '{name}' of network "
                      f"{net_name}")
    value = node.get("value")
    if value is None and not partial:
        raise _detail(f"missing required value attribute in DNS TXT record named '{name}' of "
                      f"network {net_name}")
    return DNSTxt(name, value)


def _parse_dns(net_name: str, node: ET.Element) -> DNSDef:
    dns = DNSDef(enable=tristate(node, "enable"),
                 forward_plain_names=tristate(node, "forwardPlainNames"))
    for fwd in node.findall("forwarder"):
        addr_text = fwd.get("addr")
        addr = None
        if addr_text is not None:
            try:
                addr = parse_addr(addr_text)
            except VirtError:
                raise network_xml_error(f"Invalid forwarder IP address '{addr_text}' in "
                                        f"network '{net_name}'") from None
        domain = fwd.get("domain")
        if addr_text is None and domain is None:
            raise network_xml_error("Invalid forwarder element, must contain at least one of "
                                    "addr or domain")
        dns.forwarders.append(Forwarder(domain, addr))
    dns.hosts = [parse_dns_host(net_name, h, False) for h in node.findall("host")]
    dns.srvs = [parse_dns_srv(net_name, s, False) for s in node.findall("srv")]
    dns.txts = [parse_dns_txt(net_name, t, False) for t in node.findall("txt")]
    if dns.enable == "no" and (dns.forwarders or dns.hosts or dns.srvs or dns.txts):
        raise network_xml_error(f"Extra data in disabled network '{net_name}'")
    return dns


# ------------------------------------------------------------------------------ others


def parse_portgroup(node: ET.Element) -> PortGroup:
    """``virNetworkPortGroupParseXML``."""
    name = _xpath_string(node, "name")
    if name is None:
        raise network_xml_error("Missing required name attribute in portgroup")
    is_default = (node.get("default") or "").lower() == "yes"
    pg = PortGroup(name, is_default, tristate(node, "trustGuestRxFilters"))
    vport = node.find("virtualport")
    if vport is not None:
        pg.virtualport = parse_virtualport(vport, require_type=False)
    bandwidth = node.find("bandwidth")
    if bandwidth is not None:
        pg.bandwidth = parse_bandwidth(bandwidth)
    vlan = node.find("vlan")
    if vlan is not None:
        pg.vlan = parse_vlan(vlan)
    return pg


def _route_error(info: str) -> VirtError:
    return network_xml_error(info)


def _parse_route(net_name: str, node: ET.Element) -> Route:
    family = node.get("family")
    address_text = node.get("address")
    netmask_text = node.get("netmask")
    gateway_text = node.get("gateway")
    prefix = metric = None
    for attr in ("prefix", "metric"):
        text = node.get(attr)
        if text is None:
            continue
        value = strtoul_p(text, bits=32)
        if value is None:
            raise VirtError.fmt(
                ErrCode.XML_ERROR, ErrDomain.XML, "XML error: %s",
                f"Invalid value for attribute '{attr}' in element 'route': '{text}'. "
                "Expected non-negative integer value")
        if attr == "metric" and value == 0:
            raise VirtError.fmt(
                ErrCode.XML_ERROR, ErrDomain.XML, "XML error: %s",
                "Invalid value for attribute 'metric' in element 'route': Zero is not "
                "permitted")
        if attr == "prefix":
            prefix = value
        else:
            metric = value
    where = net_name
    if address_text is None:
        raise _route_error(f"{where}: Missing required address attribute in route definition")
    if gateway_text is None:
        raise _route_error(f"{where}: Missing required gateway attribute in route definition")
    try:
        address = parse_addr(address_text)
    except VirtError:
        raise _route_error(f"{where}: Bad route address '{address_text}' in route "
                           "definition") from None
    try:
        gateway = parse_addr(gateway_text)
    except VirtError:
        raise _route_error(f"{where}: Bad route gateway '{gateway_text}' in route "
                           "definition") from None
    netmask = None
    if family is None or family == "ipv4":
        if address.family != AF_INET:
            which = "No" if family is None else "IPv4"
            raise _route_error(f"{where}: {which} family specified for non-IPv4 address "
                               f"'{address_text}' in route definition")
        if gateway.family != AF_INET:
            which = "No" if family is None else "IPv4"
            raise _route_error(f"{where}: {which} family specified for non-IPv4 gateway "
                               f"'{address_text}' in route definition")
        if netmask_text is not None:
            try:
                netmask = parse_addr(netmask_text)
            except VirtError:
                raise _route_error(f"{where}: Bad netmask address '{netmask_text}' in route "
                                   "definition") from None
            if netmask.family != AF_INET:
                raise _route_error(f"{where}: Invalid netmask '{netmask_text}' for address "
                                   f"'{address_text}' (both must be IPv4)")
            if prefix is not None:
                raise _route_error(f"{where}: Route definition cannot have both a prefix "
                                   "and a netmask")
        if (prefix or 0) > 32:
            raise _route_error(f"{where}: Invalid prefix {prefix} specified in route "
                               "definition, must be 0 - 32")
    elif family == "ipv6":
        if address.family != AF_INET6:
            raise _route_error(f"{where}: ipv6 family specified for non-IPv6 address "
                               f"'{address_text}' in route definition")
        if netmask_text is not None:
            raise _route_error(f"{where}: Specifying netmask invalid for IPv6 address "
                               f"'{address_text}' in route definition")
        if gateway.family != AF_INET6:
            raise _route_error(f"{where}: ipv6 specified for non-IPv6 gateway address "
                               f"'{gateway_text}' in route definition")
        if (prefix or 0) > 128:
            raise _route_error(f"{where}: Invalid prefix {prefix} specified in route "
                               "definition, must be 0 - 128")
    else:
        raise _route_error(f"{where}: Unrecognized family '{family}' in route definition")
    mask = netmask.value if netmask is not None else prefix_to_mask(prefix or 0, address.bits)
    if address.value & mask != address.value:
        raise _route_error(f"{where}: Address '{address_text}' in route definition is not a "
                           "network address")
    return Route(family, address, gateway, netmask, prefix, metric)


def _parse_pci(net_name: str, node: ET.Element) -> PCIAddress:
    values = pci_address_values(node)
    multi = node.get("multifunction")
    if multi is not None and multi not in ("on", "off"):
        raise network_xml_error(f"Unknown value '{multi}' for <address> 'multifunction' "
                                "attribute")
    check_pci_address(values)
    return PCIAddress(*values, multi)


def _parse_nat(net_name: str, node: ET.Element, fwd: ForwardDef) -> None:
    if fwd.mode != "nat":
        raise network_xml_error(f"The <nat> element can only be used when <forward> 'mode' is "
                                f"'nat' in network {net_name}")
    fwd.nat_ipv6 = tristate(node, "ipv6")
    addrs = node.findall("address")
    start_text = end_text = None
    if len(addrs) > 1:
        raise network_xml_error(f"Only one <address> element is allowed in <nat> in "
                                f"<forward> in network {net_name}")
    if addrs:
        start_text = addrs[0].get("start")
        if start_text is None:
            raise network_xml_error(f"missing 'start' attribute in <address> element in <nat> "
                                    f"in <forward> in network {net_name}")
        end_text = addrs[0].get("end")
        if end_text is None:
            raise network_xml_error(f"missing 'end' attribute in <address> element in <nat> "
                                    f"in <forward> in network {net_name}")
    if start_text is not None:
        try:
            fwd.nat_start = parse_addr(start_text, AF_INET)
        except VirtError:
            raise network_xml_error(f"Bad ipv4 start address '{start_text}' in <nat> in "
                                    f"<forward> in network '{net_name}'") from None
    if end_text is not None:
        try:
            fwd.nat_end = parse_addr(end_text, AF_INET)
        except VirtError:
            raise network_xml_error(f"Bad ipv4 end address '{end_text}' in <nat> in <forward> "
                                    f"in network '{net_name}'") from None
    if fwd.nat_start is not None and fwd.nat_end is not None:
        get_range(fwd.nat_start, fwd.nat_end, None, 0)
    ports = node.findall("port")
    if len(ports) > 1:
        raise network_xml_error(f"Only one <port> element is allowed in <nat> in <forward> in "
                                f"network {net_name}")
    if ports:
        start = _uint_attr(ports[0], "start")
        if start is None or start < 0 or start > 65535:
            raise _detail(f"Missing or invalid 'start' attribute in <port> in <nat> in "
                          f"<forward> in network {net_name}")
        end = _uint_attr(ports[0], "end")
        if end is None or end < 0 or end > 65535 or end < start:
            raise _detail(f"Missing or invalid 'end' attribute in <port> in <nat> in "
                          f"<forward> in network {net_name}")
        fwd.port_start, fwd.port_end = start, end


def _parse_forward(net_name: str, node: ET.Element) -> ForwardDef:
    fwd = ForwardDef()
    mode = _xpath_string(node, "mode")
    if mode is None:
        fwd.mode = "nat"
    elif mode in FORWARD_MODES:
        fwd.mode = mode
    else:
        raise _unsupported(f"unknown forwarding type '{mode}'")
    fwd.managed = (node.get("managed") or "").lower() == "yes"
    driver = node.find("driver")
    driver_name = _xpath_string(driver, "name")
    if driver_name is not None:
        if driver_name not in _DRIVER_NAMES[1:]:
            raise _unsupported(f"Unknown forward <driver name='{driver_name}'/> in network "
                               f"{net_name}")
        fwd.driver = driver_name
    if_nodes = node.findall("interface")
    addr_nodes = node.findall("address")
    pf_nodes = node.findall("pf")
    nat_nodes = node.findall("nat")
    if len(nat_nodes) > 1:
        raise network_xml_error(f"Only one <nat> element is allowed in <forward> of network "
                                f"{net_name}")
    if nat_nodes:
        _parse_nat(net_name, nat_nodes[0], fwd)
    dev = _xpath_string(node, "dev")
    if dev is not None and (addr_nodes or pf_nodes):
        raise network_xml_error(f"the <forward> 'dev' attribute cannot be used when <address> "
                                f"or <pf> sub-elements are present in network {net_name}")
    if if_nodes or dev is not None:
        devs: list[str | PCIAddress] = [dev] if dev is not None else []
        for i, if_node in enumerate(if_nodes):
            if_dev = if_node.get("dev")
            if if_dev is None:
                raise network_xml_error(f"Missing required dev attribute in <forward> "
                                        f"<interface> element of network {net_name}")
            if i == 0 and dev is not None:
                if if_dev != dev:
                    raise network_xml_error(f"<forward dev='{dev}'> must match first "
                                            f"<interface dev='{if_dev}'/> in network "
                                            f"{net_name}")
                continue
            if if_dev in devs:
                raise network_xml_error(f"interface '{if_dev}' can only be listed once in "
                                        f"network {net_name}")
            devs.append(if_dev)
        fwd.ifs = devs
    elif addr_nodes:
        for addr_node in addr_nodes:
            addr_type = addr_node.get("type")
            if addr_type is None:
                raise network_xml_error(f"missing address type in network {net_name}")
            if addr_type not in ("none", "pci", "netdev"):
                raise _unsupported(f"unknown address type '{addr_type}' in network "
                                   f"{net_name}")
            if addr_type != "pci":
                raise network_xml_error(f"unsupported address type '{addr_type}' in network "
                                        f"{net_name}")
            pci = _parse_pci(net_name, addr_node)
            if pci in fwd.ifs:
                raise network_xml_error(
                    f"PCI device '{pci.domain:04x}:{pci.bus:02x}:{pci.slot:02x}."
                    f"{pci.function:x}' can only be listed once in network {net_name}")
            fwd.ifs.append(pci)
    elif len(pf_nodes) > 1:
        raise network_xml_error(f"Only one <pf> element is allowed in <forward> of network "
                                f"{net_name}")
    elif pf_nodes:
        pf_dev = pf_nodes[0].get("dev")
        if pf_dev is None:
            raise network_xml_error(f"Missing required dev attribute in <pf> element of "
                                    f"network '{net_name}'")
        fwd.pfs = [pf_dev]
    return fwd


# ------------------------------------------------------------------------------ the network


def parse_network(root: ET.Element) -> NetworkDef:
    """``virNetworkDefParseXML``: a :class:`NetworkDef` from a ``<network>`` element, with
    libvirt's checks in its order (a missing UUID is generated)."""
    name = _text(root.find("name"))
    if name is None:
        raise VirtError(ErrCode.NO_NAME, ErrDomain.NETWORK, "missing name information")
    if "/" in name:
        raise VirtError(ErrCode.XML_DETAIL, ErrDomain.XML, "invalid char in name: /",
                        str1="%s", str2="invalid char in name: /")
    uuid_text = _text(root.find("uuid"))
    if uuid_text is None:
        uuid = random_uuid()
    else:
        try:
            uuid = parse_uuid(uuid_text)
        except ValueError:
            raise VirtError.internal_error(ErrDomain.NETWORK, "malformed uuid element") from None
    d = NetworkDef(name=name, uuid=uuid)
    ipv6 = _xpath_string(root, "ipv6")
    if ipv6 is not None:
        if ipv6 not in ("yes", "no"):
            raise network_xml_error(f"Invalid ipv6 setting '{ipv6}' in network '{name}'")
        d.ipv6nogw = ipv6 == "yes"
    d.trust_guest_rx_filters = tristate(root, "trustGuestRxFilters")
    domain = root.find("domain")
    d.domain = domain.get("name") if domain is not None else None
    d.domain_local_only = tristate(domain, "localOnly")
    bandwidth = root.find("bandwidth")
    if bandwidth is not None:
        d.bandwidth = parse_bandwidth(bandwidth)
    vlan = root.find("vlan")
    if vlan is not None:
        d.vlan = parse_vlan(vlan)
    d.isolated_port = tristate(root.find("port"), "isolated")
    bridge = root.find("bridge")
    d.bridge = _xpath_string(bridge, "name")
    d.bridge_zone = _xpath_string(bridge, "zone")
    stp = _xpath_string(bridge, "stp")
    d.stp = stp != "off"
    delay = _xpath_string(bridge, "delay")
    if delay is not None:
        value = strtoul_p(delay)
        if value is None:
            raise network_xml_error(f"Invalid delay value in network '{name}'")
        d.delay = value
    mtm = _xpath_string(bridge, "macTableManager")
    if mtm is not None:
        if mtm not in ("kernel", "libvirt"):
            raise network_xml_error(f"Invalid macTableManager setting '{mtm}' in network "
                                    f"'{name}'")
        d.mac_table_manager = mtm
    mac_text = _xpath_string(root.find("mac"), "address")
    if mac_text is not None:
        raw = parse_mac(mac_text)
        if raw is None:
            raise network_xml_error(f"Invalid bridge mac address '{mac_text}' in network "
                                    f"'{name}'")
        if raw[0] & 1:
            raise network_xml_error(f"Invalid multicast bridge mac address '{mac_text}' in "
                                    f"network '{name}'")
        d.mac = raw
    mtu_text = _xpath_string(root.find("mtu"), "size")
    if mtu_text is not None:
        mtu = strtoui(mtu_text)
        if mtu is None:
            raise network_xml_error(f"Invalid mtu size '{mtu_text}' in network '{name}'")
        d.mtu = mtu
    dns = root.find("dns")
    if dns is not None:
        d.dns = _parse_dns(name, dns)
    vport = root.find("virtualport")
    if vport is not None:
        d.virtualport = parse_virtualport(vport, require_type=True)
    d.portgroups = [parse_portgroup(pg) for pg in root.findall("portgroup")]
    d.ips = [_parse_ip(name, ip) for ip in root.findall("ip")]
    d.routes = [_parse_route(name, r) for r in root.findall("route")]
    for route in d.routes:
        _check_gateway(d, route)
    forward = root.find("forward")
    if forward is not None:
        d.forward = _parse_forward(name, forward)
    _check_forward(d, stp)
    if d.mtu and d.forward.mode not in _BRIDGED:
        raise network_xml_error(f"mtu size only allowed in open, route, nat, and isolated "
                                f"mode, not in {d.forward.mode} (network '{name}')")
    metadata = root.find("metadata")
    if metadata is not None:
        d.metadata = parse_metadata(metadata, root)
    return d


def _check_gateway(d: NetworkDef, route: Route) -> None:
    gw = route.gateway
    for ip in d.ips:
        if ip.address.family != gw.family:
            continue
        prefix = ip_prefix(ip)
        if prefix < 0:
            continue
        if ip.address.masked(prefix) == gw.masked(prefix):
            return
    raise _unsupported(f"unreachable static route gateway '{gw}' specified for network "
                       f"'{d.name}'")


def _check_forward(d: NetworkDef, stp: str | None) -> None:
    mode, name = d.forward.mode, d.name
    if mode in ("route", "nat"):
        if not d.ips:
            raise network_xml_error(f"{mode} forwarding requested, but no IP address provided "
                                    f"for network '{name}'")
        if len(d.forward.ifs) > 1:
            raise network_xml_error(f"multiple forwarding interfaces specified for network "
                                    f"'{name}', only one is supported")
    elif mode == "open":
        if d.forward.ifs:
            raise network_xml_error(f"forward dev not allowed for network '{name}' with "
                                    f"forward mode='{mode}'")
    elif mode != "none":
        if mode != "bridge":
            if d.bridge:
                raise network_xml_error(f"bridge name not allowed in {mode} mode (network "
                                        f"'{name}')")
            if d.bridge_zone:
                raise network_xml_error(f"bridge zone not allowed in {mode} mode (network "
                                        f"'{name}')")
            if d.mac_table_manager:
                raise network_xml_error(f"bridge macTableManager setting not allowed in "
                                        f"{mode} mode (network '{name}')")
        if d.delay or stp is not None or d.bridge_zone:
            raise network_xml_error(f"bridge delay/stp/zone options only allowed in route, "
                                    f"nat, and isolated mode, not in {mode} (network "
                                    f"'{name}')")
        if d.bridge and (d.forward.ifs or d.forward.pfs):
            raise network_xml_error(f"A network with forward mode='{mode}' can specify a "
                                    f"bridge name or a forward dev, but not both (network "
                                    f"'{name}')")


# ------------------------------------------------------------------------------ formatting


def _format_dns(dns: DNSDef, out: list[str]) -> None:
    records = dns.forwarders or dns.txts or dns.srvs or dns.hosts
    if not (dns.enable or dns.forward_plain_names or records):
        return
    head = "  <dns"
    if dns.enable:
        head += f" enable='{dns.enable}'"
    if dns.forward_plain_names:
        head += f" forwardPlainNames='{dns.forward_plain_names}'"
    if not records:
        out.append(head + "/>\n")
        return
    out.append(head + ">\n")
    for fwd in dns.forwarders:
        line = "    <forwarder"
        if fwd.domain is not None:
            line += f" domain='{esc(fwd.domain)}'"
        if fwd.addr is not None:
            line += f" addr='{fwd.addr}'"
        out.append(line + "/>\n")
    for txt in dns.txts:
        out.append(f"    <txt name='{esc(txt.name)}' value='{esc(txt.value or '')}'/>\n")
    for srv in dns.srvs:
        if srv.service is None or srv.protocol is None:
            continue
        line = f"    <srv service='{esc(srv.service)}' protocol='{esc(srv.protocol)}'"
        if srv.domain is not None:
            line += f" domain='{esc(srv.domain)}'"
        if srv.target is not None:
            line += f" target='{esc(srv.target)}'"
        for attr in ("port", "priority", "weight"):
            value = getattr(srv, attr)
            if value:
                line += f" {attr}='{value}'"
        out.append(line + "/>\n")
    for host in dns.hosts:
        out.append(f"    <host ip='{host.ip if host.ip is not None else ''}'>\n")
        out.extend(f"      <hostname>{esc(n)}</hostname>\n" for n in host.names)
        out.append("    </host>\n")
    out.append("  </dns>\n")


def _format_ip(ip: IPDef, out: list[str]) -> None:
    attrs = ""
    if ip.family:
        attrs += f" family='{ip.family}'"
    attrs += f" address='{ip.address}'"
    if ip.netmask is not None:
        attrs += f" netmask='{ip.netmask}'"
    if ip.prefix > 0:
        attrs += f" prefix='{ip.prefix}'"
    if ip.local_ptr:
        attrs += f" localPtr='{ip.local_ptr}'"
    out.append(f"  <ip{attrs}>\n")
    if ip.tftproot is not None:
        out.append(f"    <tftp root='{esc(ip.tftproot)}'/>\n")
    if ip.ranges or ip.hosts:
        out.append("    <dhcp>\n")
        for rng in ip.ranges:
            line = f"      <range start='{rng.start}' end='{rng.end}'"
            if rng.lease is None:
                out.append(line + "/>\n")
            else:
                out.append(f"{line}>\n        {rng.lease.format()}\n      </range>\n")
        for host in ip.hosts:
            line = "      <host"
            if host.mac is not None:
                line += f" mac='{host.mac}'"
            if host.id is not None:
                line += f" id='{host.id}'"
            if host.name is not None:
                line += f" name='{host.name}'"
            if host.ip is not None:
                line += f" ip='{host.ip}'"
            if host.lease is None:
                out.append(line + "/>\n")
            else:
                out.append(f"{line}>\n        {host.lease.format()}\n      </host>\n")
        if ip.bootfile is not None:
            line = f"      <bootp file='{esc(ip.bootfile)}'"
            if ip.bootserver is not None:
                line += f" server='{ip.bootserver}'"
            out.append(line + "/>\n")
        out.append("    </dhcp>\n")
    out.append("  </ip>\n")


def _format_forward(fwd: ForwardDef, out: list[str]) -> None:
    line = "  <forward"
    dev = fwd.first_dev() if not fwd.pfs else None
    if dev is not None:
        line += f" dev='{esc(dev)}'"
    line += f" mode='{fwd.mode}'"
    if fwd.mode == "hostdev":
        line += " managed='yes'" if fwd.managed else " managed='no'"
    short = not (fwd.ifs or fwd.pfs or fwd.nat_start or fwd.nat_end or fwd.port_start
                 or fwd.port_end or fwd.driver != "default" or fwd.nat_ipv6)
    if short:
        out.append(line + "/>\n")
        return
    out.append(line + ">\n")
    if fwd.driver != "default":
        out.append(f"    <driver name='{fwd.driver}'/>\n")
    if fwd.mode == "nat" and (fwd.nat_start or fwd.nat_end or fwd.port_start or fwd.port_end
                              or fwd.nat_ipv6):
        nat = "    <nat"
        if fwd.nat_ipv6:
            nat += f" ipv6='{fwd.nat_ipv6}'"
        if not (fwd.nat_start or fwd.nat_end or fwd.port_start or fwd.port_end):
            out.append(nat + "/>\n")
        else:
            out.append(nat + ">\n")
            if fwd.nat_start is not None:
                addr = f"      <address start='{fwd.nat_start}'"
                if fwd.nat_end is not None:
                    addr += f" end='{fwd.nat_end}'"
                out.append(addr + "/>\n")
            if fwd.port_start or fwd.port_end:
                port = f"      <port start='{fwd.port_start}'"
                if fwd.port_end:
                    port += f" end='{fwd.port_end}'"
                out.append(port + "/>\n")
            out.append("    </nat>\n")
    if fwd.pfs:
        out.append(f"    <pf dev='{esc(fwd.pfs[0])}'/>\n")
    else:
        for item in fwd.ifs:
            if isinstance(item, str):
                out.append(f"    <interface dev='{esc(item)}'/>\n")
            else:
                out.append(f"    {item.format()}\n")
    out.append("  </forward>\n")


def _format_portgroup(pg: PortGroup, out: list[str]) -> None:
    line = f"  <portgroup name='{pg.name}'"
    if pg.is_default:
        line += " default='yes'"
    if pg.trust_guest_rx_filters:
        line += f" trustGuestRxFilters='{pg.trust_guest_rx_filters}'"
    out.append(line + ">\n")
    if pg.vlan is not None:
        out.append(format_vlan(pg.vlan, 4))
    if pg.virtualport is not None:
        out.append(format_virtualport(pg.virtualport, 4))
    if pg.bandwidth is not None:
        out.append(format_bandwidth(pg.bandwidth, 4))
    out.append("  </portgroup>\n")


def format_network_xml(d: NetworkDef, uuid_text: str | None = None) -> str:
    """``virNetworkDefFormat``: the document ``virNetworkGetXMLDesc`` answers."""
    head = "<network"
    if d.ipv6nogw:
        head += " ipv6='yes'"
    if d.trust_guest_rx_filters:
        head += f" trustGuestRxFilters='{d.trust_guest_rx_filters}'"
    out = [head + ">\n", f"  <name>{esc(d.name)}</name>\n",
           f"  <uuid>{uuid_text or format_uuid(d.uuid)}</uuid>\n"]
    if d.metadata is not None:
        out.append(dump_metadata(d.metadata, 1))
    if d.forward.mode != "none":
        _format_forward(d.forward, out)
    bridged = d.forward.mode in _BRIDGED
    if bridged or d.bridge or d.mac_table_manager:
        line = "  <bridge"
        if d.bridge is not None:
            line += f" name='{esc(d.bridge)}'"
        if d.bridge_zone is not None:
            line += f" zone='{esc(d.bridge_zone)}'"
        if bridged:
            line += f" stp='{'on' if d.stp else 'off'}' delay='{d.delay}'"
        if d.mac_table_manager:
            line += f" macTableManager='{d.mac_table_manager}'"
        out.append(line + "/>\n")
    if d.mtu:
        out.append(f"  <mtu size='{d.mtu}'/>\n")
    if d.mac is not None:
        out.append(f"  <mac address='{format_mac(d.mac)}'/>\n")
    if d.domain is not None:
        line = f"  <domain name='{d.domain}'"
        if d.domain_local_only:
            line += f" localOnly='{d.domain_local_only}'"
        out.append(line + "/>\n")
    _format_dns(d.dns, out)
    if d.vlan is not None:
        out.append(format_vlan(d.vlan, 2))
    if d.bandwidth is not None:
        out.append(format_bandwidth(d.bandwidth, 2))
    if d.isolated_port:
        out.append(f"  <port isolated='{d.isolated_port}'/>\n")
    for ip in d.ips:
        _format_ip(ip, out)
    for route in d.routes:
        line = "  <route"
        if route.family is not None:
            line += f" family='{route.family}'"
        line += f" address='{route.address}'"
        if route.netmask is not None:
            line += f" netmask='{route.netmask}'"
        if route.prefix is not None:
            line += f" prefix='{route.prefix}'"
        line += f" gateway='{route.gateway}'"
        if route.metric:
            line += f" metric='{route.metric}'"
        out.append(line + "/>\n")
    if d.virtualport is not None:
        out.append(format_virtualport(d.virtualport, 2))
    for pg in d.portgroups:
        _format_portgroup(pg, out)
    out.append("</network>\n")
    return "".join(out)


def copy_network(d: NetworkDef) -> NetworkDef:
    """``virNetworkDefCopy``: a deep copy through a format/parse cycle (which also checks
    that an updated definition is still valid)."""
    from ..domxml import parse_xml

    root = parse_xml(format_network_xml(d), "network", context="network_definition",
                     err_domain=ErrDomain.NETWORK)
    return parse_network(root)
