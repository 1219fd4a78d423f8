"""Host network interfaces of a driver instance (``virInterface``), as the test driver keeps
them.

Every interface a node file (or test:///default) defines starts active; ``virInterfaceDefineXML``
adds an inactive one or replaces the definition of one of that name, ``create``/``destroy``
start and stop it, ``undefine`` removes it whatever its state.  A transaction
(``virInterfaceChangeBegin``) saves a copy of every definition; ``ChangeRollback`` puts the
copies back, all inactive (the test driver copies definitions, not states), and
``ChangeCommit`` drops them.  Interfaces send no events.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from ..core import DriverCore, list_filter
from ..domxml import ErrCode, ErrDomain, VirtError, parse_xml
from .xml import FROM_INTERFACE, InterfaceDef, format_interface_xml, parse_interface

__all__ = ("InterfaceListFlags", "InterfaceRef", "Interfaces", "default_interface",
           "parse_interface_xml")

#: VIR_ERR_NO_INTERFACE and VIR_ERR_MULTIPLE_INTERFACES
_NO_INTERFACE: Final = 57
_MULTIPLE_INTERFACES: Final = 59
#: VIR_INTERFACE_DEFINE_VALIDATE
DEFINE_VALIDATE: Final = 1


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
        return InterfaceRef(self.defn.name, self.defn.mac or "")


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


def parse_interface_xml(xml: str, flags: int = 0) -> InterfaceDef:
    """Parse a client's interface document as ``virInterfaceDefParseString`` does (with
    ``VIR_INTERFACE_DEFINE_VALIDATE``, against libvirt's schema first)."""
    root = parse_xml(xml, "interface", context="interface_definition",
                     err_domain=FROM_INTERFACE)
    if flags & DEFINE_VALIDATE:
        from ..snapshots import schema

        schema.validate(xml, "interface")
    return parse_interface(root)


def default_interface() -> InterfaceDef:
    """The interface ``eth1`` of test:///default."""
    return parse_interface_xml(_DEFAULT_INTERFACE_XML)


def _not_found(what: str, value: str) -> VirtError:
    return VirtError.fmt(_NO_INTERFACE, ErrDomain.TEST, "Interface not found: %s",
                         f"no interface with matching {what} '{value}'")


def _not_valid(info: str | None = None) -> VirtError:
    if info is None:
        text = "Requested operation is not valid"
        return VirtError(ErrCode.OPERATION_INVALID, ErrDomain.TEST, text, str1=text)
    return VirtError.invalid(ErrDomain.TEST, info)


def _check_flags(function: str, flags: int, allowed: int = 0) -> None:
    if flags & ~allowed:
        raise VirtError.bad_flags(function, flags & ~allowed)


class Interfaces:
    """The host interfaces of one driver instance."""

    def __init__(self, core: DriverCore) -> None:
        self._core = core
        self._objects: dict[str, _Interface] = {}
        #: the definitions saved by ChangeBegin (None: no transaction)
        self._backup: dict[str, _Interface] | None = None

    def populate_default(self) -> None:
        """Add test:///default's active interface "eth1"."""
        self.add(default_interface())

    def add(self, defn: InterfaceDef, *, active: bool = True) -> InterfaceRef:
        """Add an interface as a node file defines it (a name already taken is replaced,
        as libvirt's interface list does)."""
        with self._core.lock:
            iface = _Interface(defn, active)
            self._objects[defn.name] = iface
            return iface.ref()

    def _find(self, name: str) -> _Interface:
        iface = self._objects.get(name)
        if iface is None:
            raise _not_found("name", name)
        return iface

    # ------------------------------------------------------------------ queries

    def list_all(self, flags: int = 0) -> list[InterfaceRef]:
        """``virConnectListAllInterfaces`` with the ACTIVE/INACTIVE filters."""
        f = InterfaceListFlags
        _check_flags("testConnectListAllInterfaces", flags, f.ACTIVE | f.INACTIVE)
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
        case-insensitively), handed back with the MAC as asked.  As in libvirt 9.0, an
        interface without a MAC address matches any (its comparison with nothing counts as
        equal), so with several such interfaces every lookup finds "multiple matching
        interfaces"."""
        with self._core.lock:
            found = [i for i in self._objects.values()
                     if i.defn.mac is None or i.defn.mac.lower() == mac.lower()]
        if not found:
            raise _not_found("mac", mac)
        if len(found) > 1:
            raise VirtError(_MULTIPLE_INTERFACES, ErrDomain.TEST,
                            "multiple matching interfaces found",
                            str1="multiple matching interfaces found")
        return InterfaceRef(found[0].defn.name, mac)

    def is_active(self, name: str) -> bool:
        """``virInterfaceIsActive``."""
        with self._core.lock:
            return self._find(name).active

    def get_xml_desc(self, name: str, flags: int = 0) -> str:
        """``virInterfaceGetXMLDesc`` (the test driver takes no flags)."""
        _check_flags("testInterfaceGetXMLDesc", flags)
        with self._core.lock:
            return format_interface_xml(self._find(name).defn)

    # ------------------------------------------------------------------ changes

    def define(self, xml: str, flags: int = 0) -> InterfaceRef:
        """``virInterfaceDefineXML``: a new inactive interface, or a new definition for
        the one of that name (its state kept)."""
        _check_flags("testInterfaceDefineXML", flags, DEFINE_VALIDATE)
        defn = parse_interface_xml(xml, flags)
        with self._core.lock:
            iface = self._objects.get(defn.name)
            if iface is None:
                iface = self._objects[defn.name] = _Interface(defn, active=False)
            else:
                iface.defn = defn
            return iface.ref()

    def undefine(self, name: str) -> None:
        """``virInterfaceUndefine``: removes the interface, running or not."""
        with self._core.lock:
            self._find(name)
            del self._objects[name]

    def create(self, name: str, flags: int = 0) -> None:
        """``virInterfaceCreate``: start an inactive interface."""
        _check_flags("testInterfaceCreate", flags)
        with self._core.lock:
            iface = self._find(name)
            if iface.active:
                raise _not_valid()
            iface.active = True

    def destroy(self, name: str, flags: int = 0) -> None:
        """``virInterfaceDestroy``: stop an active interface."""
        _check_flags("testInterfaceDestroy", flags)
        with self._core.lock:
            iface = self._find(name)
            if not iface.active:
                raise _not_valid()
            iface.active = False

    def change_begin(self, flags: int = 0) -> None:
        """``virInterfaceChangeBegin``: save every definition."""
        _check_flags("testInterfaceChangeBegin", flags)
        with self._core.lock:
            if self._backup is not None:
                raise _not_valid("there is another transaction running.")
            self._backup = {name: _Interface(copy.deepcopy(i.defn), active=False)
                            for name, i in self._objects.items()}

    def change_commit(self, flags: int = 0) -> None:
        """``virInterfaceChangeCommit``: keep the changes made since ChangeBegin."""
        _check_flags("testInterfaceChangeCommit", flags)
        with self._core.lock:
            if self._backup is None:
                raise _not_valid("no transaction running, nothing to be committed.")
            self._backup = None

    def change_rollback(self, flags: int = 0) -> None:
        """``virInterfaceChangeRollback``: back to the saved definitions, all inactive."""
        _check_flags("testInterfaceChangeRollback", flags)
        with self._core.lock:
            if self._backup is None:
                raise _not_valid("no transaction running, nothing to rollback.")
            self._objects, self._backup = self._backup, None

    # ------------------------------------------------------------------ persistence

    def dump(self) -> list[dict[str, Any]]:
        """The interfaces as JSON-serialisable data (for the state file)."""
        with self._core.lock:
            return [{"xml": format_interface_xml(i.defn), "active": i.active}
                    for i in self._objects.values()]

    def restore(self, items: list[dict[str, Any]]) -> None:
        """Load what :meth:`dump` produced (into an empty instance)."""
        for item in items:
            self.add(parse_interface_xml(str(item["xml"])), active=bool(item["active"]))
