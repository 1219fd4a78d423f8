"""Virtual networks of a driver instance, as libvirt's test driver keeps them.

Each network has the definition it runs with (``def``) and, once a running persistent
network's configuration was changed, the configuration it will have next (``newDef``), as
libvirt's network objects do.  The test driver never switches from one to the other on
destroy (the network driver does): a destroyed network keeps showing the definition it ran
with, and :class:`Networks` does the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ..core import DriverCore, Event, list_filter
from ..domxml import ErrCode, ErrDomain, VirtError, format_uuid, parse_uuid, parse_xml
from ..snapshots import schema
from .update import update_section
from .xml import NetworkDef, copy_network, format_network_xml, parse_network

__all__ = (
    "NetworkEventType",
    "NetworkLifecycleEvent",
    "NetworkListFlags",
    "NetworkRef",
    "Networks",
    "parse_network_xml",
)


class NetworkListFlags:
    """``virConnectListAllNetworksFlags``."""

    INACTIVE = 1
    ACTIVE = 2
    PERSISTENT = 4
    TRANSIENT = 8
    AUTOSTART = 16
    NO_AUTOSTART = 32
    ALL = 63


class NetworkEventType:
    """``virNetworkEventLifecycleType``."""

    DEFINED = 0
    UNDEFINED = 1
    STARTED = 2
    STOPPED = 3


#: VIR_NETWORK_DEFINE_VALIDATE, VIR_NETWORK_CREATE_VALIDATE
DEFINE_VALIDATE: Final = 1
CREATE_VALIDATE: Final = 1
#: VIR_NETWORK_UPDATE_AFFECT_LIVE / _CONFIG
UPDATE_AFFECT_LIVE: Final = 1
UPDATE_AFFECT_CONFIG: Final = 2


@dataclass(frozen=True, slots=True)
class NetworkRef:
    """``remote_nonnull_network``: name and raw UUID."""

    name: str
    uuid: bytes


@dataclass(frozen=True, slots=True)
class NetworkLifecycleEvent(Event):
    """A network lifecycle event (DEFINED 0, UNDEFINED 1, STARTED 2, STOPPED 3)."""

    net: NetworkRef
    event: int
    detail: int


NetworkKey = NetworkRef | bytes | str


@dataclass
class _Network:
    defn: NetworkDef
    active: bool = False
    persistent: bool = True
    autostart: bool = False
    #: the configuration to use next (libvirt's newDef), when it differs from ``defn``
    new_def: NetworkDef | None = None

    @property
    def name(self) -> str:
        return self.defn.name

    @property
    def uuid(self) -> bytes:
        return self.defn.uuid

    def ref(self) -> NetworkRef:
        return NetworkRef(self.name, self.uuid)

    def persistent_def(self) -> NetworkDef:
        """``virNetworkObjGetPersistentDef``."""
        return self.new_def if self.new_def is not None else self.defn


#: test:///default's network, as the test driver defines it
_DEFAULT_NETWORK_XML: Final = """<network>
  <name>default</name>
  <uuid>dd8fe884-6c02-601e-7551-cca97df1c5df</uuid>
  <bridge name='virbr0'/>
  <forward/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
</network>
"""


def parse_network_xml(xml: str | bytes, *, validate: bool = False) -> NetworkDef:
    """A network definition from a client's (or a state file's) XML text, checked against
    libvirt's schema first with *validate*."""
    root = parse_xml(xml, "network", context="network_definition", err_domain=ErrDomain.NETWORK)
    if validate:
        schema.validate(xml, "network")
    return parse_network(root)


def _net_not_found(what: str, value: str) -> VirtError:
    return VirtError.fmt(
        ErrCode.NO_NETWORK,
        ErrDomain.TEST,
        "Network not found: %s",
        f"no network with matching {what} '{value}'",
    )


class Networks:
    """The virtual networks of one driver instance."""

    def __init__(self, core: DriverCore) -> None:
        self._core = core
        self._objects: dict[bytes, _Network] = {}

    def populate_default(self) -> None:
        """Add test:///default's active network "default"."""
        self.add(parse_network_xml(_DEFAULT_NETWORK_XML))

    def add(
        self, defn: NetworkDef, *, active: bool = True, persistent: bool = True,
        autostart: bool = False,
    ) -> NetworkRef:
        """Add a network as a node file (or the default instance) defines it, quietly.

        :raises VirtError: when the name or UUID is taken, as libvirt's network list does.
        """
        with self._core.lock:
            net = self._assign(defn, live=False, check_live=False)
            net.active = active
            net.persistent = persistent
            net.autostart = autostart
            return net.ref()

    # ---------------------------------------------------------------- lookups

    def _by_uuid(self, uuid: bytes) -> _Network:
        net = self._objects.get(uuid)
        if net is None:
            raise _net_not_found("uuid", format_uuid(uuid))
        return net

    def _by_name(self, name: str) -> _Network:
        for net in self._objects.values():
            if net.name == name:
                return net
        raise _net_not_found("name", name)

    def _find(self, key: NetworkKey) -> _Network:
        """By UUID (a handle's or a raw/textual UUID)."""
        if isinstance(key, NetworkRef):
            return self._by_uuid(key.uuid)
        try:
            raw = parse_uuid(key)
        except ValueError:
            raise _net_not_found("uuid", str(key)) from None
        return self._by_uuid(raw)

    def _find_name(self, key: NetworkKey) -> _Network:
        """By the handle's name, as most of the test driver's network calls look up."""
        if isinstance(key, NetworkRef):
            return self._by_name(key.name)
        return self._find(key)

    def lookup_by_name(self, name: str) -> NetworkRef:
        """``virNetworkLookupByName``; misses raise code 43 with the test driver's text."""
        with self._core.lock:
            return self._by_name(name).ref()

    def lookup_by_uuid(self, uuid: bytes | str) -> NetworkRef:
        """``virNetworkLookupByUUID``."""
        with self._core.lock:
            return self._find(uuid).ref()

    # ---------------------------------------------------------------- lists

    def list_all(self, flags: int = 0) -> list[NetworkRef]:
        """``virConnectListAllNetworks`` with the ``VIR_CONNECT_LIST_NETWORKS_*`` filters."""
        if flags & ~NetworkListFlags.ALL:
            raise VirtError.bad_flags("testConnectListAllNetworks", flags & ~NetworkListFlags.ALL)
        f = NetworkListFlags
        with self._core.lock:
            return [
                n.ref()
                for n in self._objects.values()
                if list_filter(flags, f.ACTIVE, f.INACTIVE, n.active)
                and list_filter(flags, f.PERSISTENT, f.TRANSIENT, n.persistent)
                and list_filter(flags, f.AUTOSTART, f.NO_AUTOSTART, n.autostart)
            ]

    def count(self, active: bool) -> int:
        """``virConnectNumOf(Defined)Networks``."""
        with self._core.lock:
            return sum(1 for n in self._objects.values() if n.active == active)

    def names(self, active: bool, maxnames: int) -> list[str]:
        """``virConnectList(Defined)Networks``: at most *maxnames* names."""
        with self._core.lock:
            return [n.name for n in self._objects.values() if n.active == active][:maxnames]

    # ---------------------------------------------------------------- queries

    def get_xml_desc(self, net: NetworkKey, flags: int = 0) -> str:
        """``virNetworkGetXMLDesc``; the test driver rejects every flag (even INACTIVE)."""
        if flags:
            raise VirtError.bad_flags("testNetworkGetXMLDesc", flags)
        with self._core.lock:
            return format_network_xml(self._find_name(net).defn)

    def get_def(self, net: NetworkKey) -> NetworkDef:
        """A copy of the definition the network runs with (for other object kinds)."""
        with self._core.lock:
            return copy_network(self._find_name(net).defn)

    def is_active(self, net: NetworkKey) -> bool:
        """``virNetworkIsActive``."""
        with self._core.lock:
            return self._find(net).active

    def is_persistent(self, net: NetworkKey) -> bool:
        """``virNetworkIsPersistent``."""
        with self._core.lock:
            return self._find(net).persistent

    def get_autostart(self, net: NetworkKey) -> bool:
        """``virNetworkGetAutostart``."""
        with self._core.lock:
            return self._find_name(net).autostart

    def set_autostart(self, net: NetworkKey, autostart: bool) -> None:
        """``virNetworkSetAutostart`` (the test driver allows it on transient networks)."""
        with self._core.lock:
            self._find_name(net).autostart = bool(autostart)

    def get_bridge_name(self, net: NetworkKey) -> str:
        """``virNetworkGetBridgeName``."""
        with self._core.lock:
            n = self._find_name(net)
            if not n.defn.bridge:
                raise VirtError.internal_error(
                    ErrDomain.TEST, f"network '{n.name}' does not have a bridge name."
                )
            return n.defn.bridge

    # ---------------------------------------------------------------- changes

    def _assign(self, defn: NetworkDef, *, live: bool, check_live: bool) -> _Network:
        """``virNetworkObjAssignDef``: add *defn* or give it to the network with its UUID."""
        net = self._objects.get(defn.uuid)
        if net is not None:
            if net.name != defn.name:
                raise VirtError.failed(
                    ErrDomain.NETWORK,
                    f"network '{net.name}' is already defined with uuid {format_uuid(net.uuid)}",
                )
            if check_live and net.active:
                raise VirtError.invalid(ErrDomain.NETWORK,
                                        f"network is already active as '{net.name}'")
            if live:
                # the configuration it had is what it will have next
                if net.persistent and net.new_def is None:
                    net.new_def = net.defn
                net.defn = defn
            else:
                net.new_def = None
                if net.active:
                    net.new_def = defn
                else:
                    net.defn = defn
                net.persistent = True
            return net
        for other in self._objects.values():
            if other.name == defn.name:
                raise VirtError.failed(
                    ErrDomain.NETWORK,
                    f"network '{defn.name}' already exists with uuid {format_uuid(other.uuid)}",
                )
        net = _Network(defn, persistent=not live)
        self._objects[net.uuid] = net
        return net

    def define_xml(self, xml: str, flags: int = 0) -> NetworkRef:
        """``virNetworkDefineXML(Flags)``: add or replace a persistent definition (DEFINED)."""
        if flags & ~DEFINE_VALIDATE:
            raise VirtError.bad_flags("testNetworkDefineXMLFlags", flags & ~DEFINE_VALIDATE)
        defn = parse_network_xml(xml, validate=bool(flags & DEFINE_VALIDATE))
        with self._core.locked():
            net = self._assign(defn, live=False, check_live=False)
            self._core.emit(NetworkLifecycleEvent(net.ref(), NetworkEventType.DEFINED, 0))
            return net.ref()

    def create_xml(self, xml: str, flags: int = 0) -> NetworkRef:
        """``virNetworkCreateXML(Flags)``: start a network from XML (transient unless it was
        defined), event STARTED."""
        if flags & ~CREATE_VALIDATE:
            raise VirtError.bad_flags("testNetworkCreateXMLFlags", flags & ~CREATE_VALIDATE)
        defn = parse_network_xml(xml, validate=bool(flags & CREATE_VALIDATE))
        with self._core.locked():
            net = self._assign(defn, live=True, check_live=True)
            net.active = True
            self._core.emit(NetworkLifecycleEvent(net.ref(), NetworkEventType.STARTED, 0))
            return net.ref()

    def undefine(self, net: NetworkRef) -> None:
        """``virNetworkUndefine``: only an inactive network goes (event UNDEFINED)."""
        with self._core.locked():
            n = self._find_name(net)
            if n.active:
                raise VirtError.invalid(ErrDomain.TEST, f"Network '{net.name}' is still running")
            self._core.emit(NetworkLifecycleEvent(net, NetworkEventType.UNDEFINED, 0))
            del self._objects[n.uuid]

    def create(self, net: NetworkKey) -> None:
        """``virNetworkCreate``: start an inactive network (event STARTED)."""
        with self._core.locked():
            n = self._find_name(net)
            if n.active:
                name = net.name if isinstance(net, NetworkRef) else n.name
                raise VirtError.invalid(ErrDomain.TEST, f"Network '{name}' is already running")
            n.active = True
            self._core.emit(NetworkLifecycleEvent(n.ref(), NetworkEventType.STARTED, 0))

    def destroy(self, net: NetworkKey) -> None:
        """``virNetworkDestroy``; like the test driver it does not check the state first."""
        with self._core.locked():
            n = self._find_name(net)
            n.active = False
            self._core.emit(NetworkLifecycleEvent(n.ref(), NetworkEventType.STOPPED, 0))
            if not n.persistent:
                del self._objects[n.uuid]

    def update(self, net: NetworkRef, command: int, section: int, parent_index: int,
               xml: str, flags: int) -> None:
        """``virNetworkUpdate``: change a section of the running definition, of the
        persistent one, or both (``virNetworkObjUpdate``)."""
        allowed = UPDATE_AFFECT_LIVE | UPDATE_AFFECT_CONFIG
        if flags & ~allowed:
            raise VirtError.bad_flags("testNetworkUpdate", flags & ~allowed)
        with self._core.lock:
            n = self._find(net)
            if not flags & allowed:
                flags |= UPDATE_AFFECT_LIVE if n.active else UPDATE_AFFECT_CONFIG
            if not n.active and flags & UPDATE_AFFECT_LIVE:
                raise VirtError.invalid(ErrDomain.NETWORK, "network is not running")
            if flags & UPDATE_AFFECT_CONFIG:
                if not n.persistent:
                    raise VirtError.invalid(
                        ErrDomain.NETWORK,
                        "cannot change persistent config of a transient network")
                if n.active and n.new_def is None:
                    n.new_def = copy_network(n.defn)
            live = config = None
            if flags & UPDATE_AFFECT_LIVE:
                live = copy_network(n.defn)
                update_section(live, command, section, parent_index, xml)
                copy_network(live)
            if flags & UPDATE_AFFECT_CONFIG:
                config = copy_network(n.persistent_def())
                update_section(config, command, section, parent_index, xml)
                copy_network(config)
            if config is not None:
                if n.new_def is not None:
                    n.new_def = config
                else:
                    n.defn = config
            if live is not None:
                n.defn = live

    # ---------------------------------------------------------------- persistence

    def dump(self) -> list[dict[str, Any]]:
        """The networks as JSON-serialisable data (for the state file)."""
        with self._core.lock:
            return [
                {
                    "xml": format_network_xml(n.defn),
                    "next_xml": None if n.new_def is None else format_network_xml(n.new_def),
                    "active": n.active,
                    "persistent": n.persistent,
                    "autostart": n.autostart,
                }
                for n in self._objects.values()
            ]

    def restore(self, items: list[dict[str, Any]]) -> None:
        """Load what :meth:`dump` produced (into an empty room)."""
        for item in items:
            if "xml" in item:
                xml = str(item["xml"])
            else:  # state files before networks were kept as XML
                xml = (f"<network><name>{item['name']}</name><uuid>{item['uuid']}</uuid>"
                       f"{item['xml_body']}</network>")
            next_xml = item.get("next_xml")
            net = _Network(
                defn=parse_network_xml(xml),
                active=bool(item["active"]),
                persistent=bool(item["persistent"]),
                autostart=bool(item["autostart"]),
                new_def=parse_network_xml(str(next_xml)) if next_xml else None,
            )
            self._objects[net.uuid] = net
