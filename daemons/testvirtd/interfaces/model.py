"""Host network interfaces of a driver instance (``virInterface``), as the test driver
keeps them: every interface a node file defines is active."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..core import DriverCore, list_filter
from ..domxml import VirtError
from .xml import InterfaceDef, format_interface_xml, parse_interface

__all__ = ("InterfaceListFlags", "InterfaceRef", "Interfaces", "default_interface")

_FROM_INTERFACE: Final = 11
#: VIR_ERR_NO_INTERFACE and VIR_ERR_MULTIPLE_INTERFACES
_NO_INTERFACE: Final = 57
_MULTIPLE_INTERFACES: Final = 59


class InterfaceListFlags:
    """``virConnectListAllInterfacesFlags``."""

    INACTIVE = 1
    ACTIVE = 2


@dataclass(frozen=True, slots=True)
class InterfaceRef:
    """``remote_nonnull_interface``: name and MAC address."""

    name: str
    mac: str


@dataclass
class _Interface:
    defn: InterfaceDef
    active: bool = True

    def ref(self) -> InterfaceRef:
        return InterfaceRef(self.defn.name or "", self.defn.mac or "")


#: test:///default's interface, as the test driver defines it
_DEFAULT_INTERFACE_XML: Final = """<interface type="ethernet" name="eth1">
  <start mode="onboot"/>
  <mac address="aa:bb:cc:dd:ee:ff"/>
  <mtu size="1492"/>
  <protocol family="ipv4">
    <ip address="192.168.0.5" prefix="24"/>
    <route gateway="192.168.0.1"/>
  </protocol>
</interface>"""


def default_interface() -> InterfaceDef:
    """The interface ``eth1`` of test:///default."""
    from ..domxml import parse_xml

    root = parse_xml(_DEFAULT_INTERFACE_XML, "interface", context="interface_definition",
                     err_domain=_FROM_INTERFACE)
    return parse_interface(root)


def _not_found(what: str, value: str) -> VirtError:
    return VirtError.fmt(_NO_INTERFACE, 12, "Interface not found: %s",
                         f"no interface with matching {what} '{value}'")


class Interfaces:
    """The host interfaces of one driver instance."""

    def __init__(self, core: DriverCore) -> None:
        self._core = core
        self._objects: dict[str, _Interface] = {}

    def populate_default(self) -> None:
        """Add test:///default's active interface "eth1"."""
        self.add(default_interface())

    def add(self, defn: InterfaceDef, *, active: bool = True) -> InterfaceRef:
        """Add an interface as a node file defines it (a name already taken is replaced,
        as libvirt's interface list does)."""
        with self._core.lock:
            iface = _Interface(defn, active)
            self._objects[defn.name or ""] = iface
            return iface.ref()

    def _find(self, name: str) -> _Interface:
        iface = self._objects.get(name)
        if iface is None:
            raise _not_found("name", name)
        return iface

    def list_all(self, flags: int = 0) -> list[InterfaceRef]:
        """``virConnectListAllInterfaces`` with the ACTIVE/INACTIVE filters."""
        f = InterfaceListFlags
        with self._core.lock:
            return [i.ref() for i in self._objects.values()
                    if list_filter(flags, f.ACTIVE, f.INACTIVE, i.active)]

    def names(self, active: bool) -> list[str]:
        """Names of the active (or inactive) interfaces."""
        with self._core.lock:
            return [n for n, i in self._objects.items() if i.active == active]

    def lookup_by_name(self, name: str) -> InterfaceRef:
        """``virInterfaceLookupByName``."""
        with self._core.lock:
            return self._find(name).ref()

    def lookup_by_mac(self, mac: str) -> InterfaceRef:
        """``virInterfaceLookupByMACString``: the one interface with *mac* (compared
        case-insensitively).  As in libvirt 9.0, an interface without a MAC address
        matches any (its comparison with nothing counts as equal), so with several such
        interfaces every lookup finds "multiple matching interfaces"."""
        with self._core.lock:
            found = [i for i in self._objects.values()
                     if i.defn.mac is None or i.defn.mac.lower() == mac.lower()]
        if not found:
            raise _not_found("mac", mac)
        if len(found) > 1:
            raise VirtError(_MULTIPLE_INTERFACES, 12, "multiple matching interfaces found",
                            str1="multiple matching interfaces found")
        return found[0].ref()

    def is_active(self, name: str) -> bool:
        """``virInterfaceIsActive``."""
        with self._core.lock:
            return self._find(name).active

    def get_xml_desc(self, name: str, flags: int = 0) -> str:
        """``virInterfaceGetXMLDesc``."""
        if flags & ~1:  # VIR_INTERFACE_XML_INACTIVE
            raise VirtError.bad_flags("testInterfaceGetXMLDesc", flags)
        with self._core.lock:
            return format_interface_xml(self._find(name).defn)

