"""``virNetworkUpdate`` on one network definition, as libvirt 9.0's network configuration
code does it (``virNetworkDefUpdateSection``): the sections it can change (DHCP hosts and
ranges, forward interfaces, port groups, DNS hosts, TXT and SRV records), the ones it
refuses, and every check with its error."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final

from ..domxml import ErrDomain, VirtError, parse_xml
from ..netaddr import AF_INET, AF_INET6, mac_compare
from .xml import (
    IPDef,
    NetworkDef,
    network_xml_error,
    parse_dhcp_host,
    parse_dhcp_range,
    parse_dns_host,
    parse_dns_srv,
    parse_dns_txt,
    parse_portgroup,
)

__all__ = ("Command", "Section", "update_section")


class Command:
    """``virNetworkUpdateCommand``."""

    MODIFY: Final = 1
    DELETE: Final = 2
    ADD_LAST: Final = 3
    ADD_FIRST: Final = 4


class Section:
    """``virNetworkUpdateSection``."""

    BRIDGE: Final = 1
    DOMAIN: Final = 2
    IP: Final = 3
    IP_DHCP_HOST: Final = 4
    IP_DHCP_RANGE: Final = 5
    FORWARD: Final = 6
    FORWARD_INTERFACE: Final = 7
    FORWARD_PF: Final = 8
    PORTGROUP: Final = 9
    DNS_HOST: Final = 10
    DNS_TXT: Final = 11
    DNS_SRV: Final = 12


_UNSUPPORTED: Final = 84  # VIR_ERR_OPERATION_UNSUPPORTED


def _unsupported(info: str) -> VirtError:
    return VirtError.fmt(_UNSUPPORTED, ErrDomain.NETWORK, "Operation not supported: %s", info)


def _invalid(info: str) -> VirtError:
    return VirtError.invalid(ErrDomain.NETWORK, info)


def _no_support(d: NetworkDef, section: str) -> VirtError:
    return _unsupported(f"can't update '{section}' section of network '{d.name}'")


def _unknown_command(command: int) -> VirtError:
    return _unsupported(f"unrecognized network update command code {command}")


def _check_element(d: NetworkDef, node: ET.Element, expected: str) -> None:
    if node.tag != expected:
        raise network_xml_error(f"unexpected element <{node.tag}>, expecting <{expected}>, "
                                f"while updating network '{d.name}'")


def _ip_by_index(d: NetworkDef, parent_index: int) -> IPDef:
    """``virNetworkIPDefByIndex``: the ``<ip>`` to change (-1: the one with DHCP)."""
    if parent_index >= 0:
        ip = d.ip_by_index(0, parent_index)
        if ip is None:
            raise _invalid(f"couldn't update dhcp host entry - no <ip> element found at index "
                           f"{parent_index} in network '{d.name}'")
        return ip
    for ip in d.ips:
        if ip.ranges or ip.hosts:
            return ip
    found = d.ip_by_index(AF_INET, 0) or d.ip_by_index(AF_INET6, 0)
    if found is None:
        raise _invalid(f"couldn't update dhcp host entry - no <ip> element found in network "
                       f"'{d.name}'")
    return found


def _check_multi_dhcp(d: NetworkDef, ipdef: IPDef) -> None:
    family = ipdef.address.family
    for ip in d.ips:
        if ip is not ipdef and ip.address.family == family and (ip.ranges or ip.hosts):
            name = "IPv4" if family == AF_INET else "IPv6"
            raise _invalid(f"dhcp is supported only for a single {name} address on each "
                           "network")


def _dhcp_host(d: NetworkDef, command: int, parent_index: int, node: ET.Element) -> None:
    partial = command == Command.DELETE
    _check_element(d, node, "host")
    ipdef = _ip_by_index(d, parent_index)
    host = parse_dhcp_host(d.name, ipdef, node, partial)
    if not partial and (host.ip is None or host.ip.family != ipdef.address.family):
        raise _invalid("the address family of a host entry IP must match the address family "
                       "of the dhcp element's parent")
    if command == Command.MODIFY:
        for i, old in enumerate(ipdef.hosts):
            if ((host.mac and old.mac and mac_compare(host.mac, old.mac))
                    or (host.ip is not None and host.ip == old.ip)
                    or (host.name and host.name == old.name)):
                ipdef.hosts[i] = host
                return
        raise _invalid(f"couldn't locate an existing dhcp host entry with \"mac='"
                       f"{host.mac or 'unknown'}'\" \"name='{host.name}'\" \"ip='"
                       f"{host.ip if host.ip is not None else 'unknown'}'\" in network "
                       f"'{d.name}'")
    if command in (Command.ADD_FIRST, Command.ADD_LAST):
        _check_multi_dhcp(d, ipdef)
        for old in ipdef.hosts:
            if ((host.mac and old.mac and mac_compare(host.mac, old.mac))
                    or (host.name and host.name == old.name)
                    or (host.ip is not None and host.ip == old.ip)):
                raise _invalid(
                    f"there is an existing dhcp host entry in network '{d.name}' that "
                    f"matches \"<host mac='{host.mac or 'unknown'}' name='{host.name}' "
                    f"ip='{host.ip if host.ip is not None else 'unknown'}'/>\"")
        ipdef.hosts.insert(0 if command == Command.ADD_FIRST else len(ipdef.hosts), host)
        return
    if command == Command.DELETE:
        for i, old in enumerate(ipdef.hosts):
            if ((not host.mac or not old.mac or mac_compare(host.mac, old.mac))
                    and (not host.name or host.name == old.name)
                    and (host.ip is None or host.ip == old.ip)):
                del ipdef.hosts[i]
                return
        raise _invalid(f"couldn't locate a matching dhcp host entry in network '{d.name}'")
    raise _unknown_command(command)


def _dhcp_range(d: NetworkDef, command: int, parent_index: int, node: ET.Element) -> None:
    _check_element(d, node, "range")
    ipdef = _ip_by_index(d, parent_index)
    if command == Command.MODIFY:
        raise _unsupported("dhcp ranges cannot be modified, only added or deleted")
    rng = parse_dhcp_range(d.name, ipdef, node)
    if ipdef.address.family != rng.start.family:
        raise _invalid("the address family of a dhcp range must match the address family of "
                       "the dhcp element's parent")
    index = next((i for i, old in enumerate(ipdef.ranges)
                  if old.start == rng.start and old.end == rng.end), None)
    if command in (Command.ADD_FIRST, Command.ADD_LAST):
        _check_multi_dhcp(d, ipdef)
        if index is not None:
            raise _invalid(f"there is an existing dhcp range entry in network '{d.name}' that "
                           f"matches \"<range start='{rng.start}' end='{rng.end}'/>\"")
        ipdef.ranges.insert(0 if command == Command.ADD_FIRST else len(ipdef.ranges), rng)
        return
    if command == Command.DELETE:
        if index is None:
            raise _invalid(f"couldn't locate a matching dhcp range entry in network "
                           f"'{d.name}'")
        del ipdef.ranges[index]
        return
    raise _unknown_command(command)


def _forward_interface(d: NetworkDef, command: int, node: ET.Element) -> None:
    _check_element(d, node, "interface")
    if command == Command.MODIFY:
        raise _unsupported("forward interface entries cannot be modified, only added or "
                           "deleted")
    dev = node.get("dev")
    if dev is None:
        raise network_xml_error("missing dev attribute in <interface> element")
    ifs = d.forward.ifs
    index = next((i for i, item in enumerate(ifs) if isinstance(item, str) and item == dev),
                 None)
    if command in (Command.ADD_FIRST, Command.ADD_LAST):
        if index is not None:
            raise _invalid(f"there is an existing interface entry in network '{d.name}' that "
                           f"matches \"<interface dev='{dev}'>\"")
        ifs.insert(0 if command == Command.ADD_FIRST else len(ifs), dev)
        return
    if command == Command.DELETE:
        if index is None:
            raise _invalid(f"couldn't find an interface entry in network '{d.name}' matching "
                           f"<interface dev='{dev}'>")
        del ifs[index]
        return
    raise _unknown_command(command)


def _portgroup(d: NetworkDef, command: int, node: ET.Element) -> None:
    _check_element(d, node, "portgroup")
    pg = parse_portgroup(node)
    found_name = next((i for i, old in enumerate(d.portgroups) if old.name == pg.name), -1)
    found_default = -1
    for i, old in enumerate(d.portgroups):
        if old.is_default:
            found_default = i
    if found_name < 0 and command in (Command.MODIFY, Command.DELETE):
        raise _invalid(f"couldn't find a portgroup entry in network '{d.name}' matching "
                       f"<portgroup name='{pg.name}'>")
    if found_name >= 0 and command in (Command.ADD_FIRST, Command.ADD_LAST):
        raise _invalid(f"there is an existing portgroup entry in network '{d.name}' that "
                       f"matches \"<portgroup name='{pg.name}'>\"")
    if (command != Command.DELETE and pg.is_default and found_default >= 0
            and found_default != found_name):
        raise _invalid(f"a different portgroup entry in network '{d.name}' is already set as "
                       "the default. Only one default is allowed.")
    if command == Command.MODIFY:
        d.portgroups[found_name] = pg
    elif command in (Command.ADD_FIRST, Command.ADD_LAST):
        d.portgroups.insert(0 if command == Command.ADD_FIRST else len(d.portgroups), pg)
    elif command == Command.DELETE:
        del d.portgroups[found_name]
    else:
        raise _unknown_command(command)


def _dns_host(d: NetworkDef, command: int, node: ET.Element) -> None:
    if command == Command.MODIFY:
        raise _unsupported("DNS HOST records cannot be modified, only added or deleted")
    is_add = command in (Command.ADD_FIRST, Command.ADD_LAST)
    _check_element(d, node, "host")
    host = parse_dns_host(d.name, node, not is_add)
    found = []
    for i, old in enumerate(d.dns.hosts):
        hit = host.ip is not None and host.ip == old.ip
        if command == Command.DELETE and not hit:
            hit = any(name in old.names for name in host.names)
        if hit:
            found.append(i)
    if is_add:
        if found:
            raise _invalid(f"there is already at least one DNS HOST record with a matching "
                           f"field in network {d.name}")
        hosts = d.dns.hosts
        hosts.insert(0 if command == Command.ADD_FIRST else len(hosts), host)
    elif command == Command.DELETE:
        if not found:
            raise _invalid(f"couldn't locate a matching DNS HOST record in network {d.name}")
        if len(found) > 1:
            raise _invalid(f"multiple matching DNS HOST records were found in network "
                           f"{d.name}")
        del d.dns.hosts[found[-1]]
    else:
        raise _unknown_command(command)


def _dns_srv(d: NetworkDef, command: int, node: ET.Element) -> None:
    if command == Command.MODIFY:
        raise _unsupported("DNS SRV records cannot be modified, only added or deleted")
    is_add = command in (Command.ADD_FIRST, Command.ADD_LAST)
    _check_element(d, node, "srv")
    srv = parse_dns_srv(d.name, node, not is_add)
    found = [i for i, old in enumerate(d.dns.srvs)
             if (not srv.domain or srv.domain == old.domain)
             and (not srv.service or srv.service == old.service)
             and (not srv.protocol or srv.protocol == old.protocol)
             and (not srv.target or srv.target == old.target)]
    if is_add:
        if found:
            raise _invalid(f"there is already at least one DNS SRV record matching all "
                           f"specified fields in network {d.name}")
        srvs = d.dns.srvs
        srvs.insert(0 if command == Command.ADD_FIRST else len(srvs), srv)
    elif command == Command.DELETE:
        if not found:
            raise _invalid(f"couldn't locate a matching DNS SRV record in network {d.name}")
        if len(found) > 1:
            raise _invalid(f"multiple DNS SRV records matching all specified fields were found "
                           f"in network {d.name}")
        del d.dns.srvs[found[-1]]
    else:
        raise _unknown_command(command)


def _dns_txt(d: NetworkDef, command: int, node: ET.Element) -> None:
    if command == Command.MODIFY:
        raise _unsupported("DNS TXT records cannot be modified, only added or deleted")
    is_add = command in (Command.ADD_FIRST, Command.ADD_LAST)
    _check_element(d, node, "txt")
    txt = parse_dns_txt(d.name, node, not is_add)
    index = next((i for i, old in enumerate(d.dns.txts) if old.name == txt.name), None)
    if is_add:
        if index is not None:
            raise _invalid(f"there is already a DNS TXT record with name '{txt.name}' in "
                           f"network {d.name}")
        txts = d.dns.txts
        txts.insert(0 if command == Command.ADD_FIRST else len(txts), txt)
    elif command == Command.DELETE:
        if index is None:
            raise _invalid(f"couldn't locate a matching DNS TXT record in network {d.name}")
        del d.dns.txts[index]
    else:
        raise _unknown_command(command)


def update_section(d: NetworkDef, command: int, section: int, parent_index: int,
                   xml: str) -> None:
    """Change *d* in place as ``virNetworkDefUpdateSection`` does.

    :raises VirtError: libvirt's error for the section, command or XML.
    """
    root = parse_xml(xml, None, context="network_update_xml", err_domain=ErrDomain.NETWORK,
                     bare_context=True)
    names = {Section.BRIDGE: "bridge", Section.DOMAIN: "domain", Section.IP: "ip",
             Section.FORWARD: "forward", Section.FORWARD_PF: "forward pf"}
    if section in names:
        raise _no_support(d, names[section])
    if section == Section.IP_DHCP_HOST:
        _dhcp_host(d, command, parent_index, root)
    elif section == Section.IP_DHCP_RANGE:
        _dhcp_range(d, command, parent_index, root)
    elif section == Section.FORWARD_INTERFACE:
        _forward_interface(d, command, root)
    elif section == Section.PORTGROUP:
        _portgroup(d, command, root)
    elif section == Section.DNS_HOST:
        _dns_host(d, command, root)
    elif section == Section.DNS_TXT:
        _dns_txt(d, command, root)
    elif section == Section.DNS_SRV:
        _dns_srv(d, command, root)
    else:
        raise _unsupported("can't update unrecognized section of network")

