"""Virtual networks of a driver instance, as libvirt's test driver keeps them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ..core import DriverCore, Event, list_filter
from ..domxml import ErrCode, ErrDomain, VirtError, format_uuid, parse_uuid, parse_xml
from .xml import NetworkDef, format_network_xml, parse_network

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


class NetworkEventType:
    """``virNetworkEventLifecycleType``."""

    DEFINED = 0
    UNDEFINED = 1
    STARTED = 2
    STOPPED = 3


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
    active: bool = True
    persistent: bool = True
    autostart: bool = False

    @property
    def name(self) -> str:
        return self.defn.name

    @property
    def uuid(self) -> bytes:
        return self.defn.uuid

    def ref(self) -> NetworkRef:
        return NetworkRef(self.name, self.uuid)


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


def parse_network_xml(xml: str | bytes) -> NetworkDef:
    """A network definition from a client's (or a state file's) XML text."""
    root = parse_xml(xml, "network", context="network_definition", err_domain=ErrDomain.NETWORK)
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
            for other in self._objects.values():
                if other.name == defn.name and other.uuid != defn.uuid:
                    raise VirtError.failed(
                        ErrDomain.NETWORK,
                        f"network '{defn.name}' already exists with uuid "
                        f"{format_uuid(other.uuid)}",
                    )
            net = _Network(defn, active=active, persistent=persistent, autostart=autostart)
            self._objects[net.uuid] = net
            return net.ref()

    def _find(self, key: NetworkKey) -> _Network:
        if isinstance(key, NetworkRef):
            net = self._objects.get(key.uuid)
            if net is None:
                raise _net_not_found("uuid", format_uuid(key.uuid))
            return net
        try:
            raw = parse_uuid(key)
        except ValueError:
            raise _net_not_found("uuid", str(key)) from None
        net = self._objects.get(raw)
        if net is None:
            raise _net_not_found("uuid", format_uuid(raw))
        return net

    def lookup_by_name(self, name: str) -> NetworkRef:
        """``virNetworkLookupByName``; misses raise code 43 with the test driver's text."""
        with self._core.lock:
            for net in self._objects.values():
                if net.name == name:
                    return net.ref()
        raise _net_not_found("name", name)

    def lookup_by_uuid(self, uuid: bytes | str) -> NetworkRef:
        """``virNetworkLookupByUUID``."""
        with self._core.lock:
            return self._find(uuid).ref()

    def list_all(self, flags: int = 0) -> list[NetworkRef]:
        """``virConnectListAllNetworks`` with the ``VIR_CONNECT_LIST_NETWORKS_*`` filters."""
        f = NetworkListFlags
        with self._core.lock:
            return [
                n.ref()
                for n in self._objects.values()
                if list_filter(flags, f.ACTIVE, f.INACTIVE, n.active)
                and list_filter(flags, f.PERSISTENT, f.TRANSIENT, n.persistent)
                and list_filter(flags, f.AUTOSTART, f.NO_AUTOSTART, n.autostart)
            ]

    def get_xml_desc(self, net: NetworkKey, flags: int = 0) -> str:
        """``virNetworkGetXMLDesc``; the test driver rejects every flag (even INACTIVE)."""
        if flags:
            raise VirtError.bad_flags("testNetworkGetXMLDesc", flags)
        with self._core.lock:
            n = self._find(net)
            return format_network_xml(n.defn, format_uuid(n.uuid))

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
            return self._find(net).autostart

    def set_autostart(self, net: NetworkKey, autostart: bool) -> None:
        """``virNetworkSetAutostart``."""
        with self._core.lock:
            self._find(net).autostart = bool(autostart)

    def get_bridge_name(self, net: NetworkKey) -> str:
        """``virNetworkGetBridgeName``."""
        with self._core.lock:
            n = self._find(net)
            if not n.defn.bridge:
                raise VirtError.internal_error(
                    ErrDomain.TEST, f"network '{n.name}' does not have a bridge name."
                )
            return n.defn.bridge

    def create(self, net: NetworkKey) -> None:
        """``virNetworkCreate``: start an inactive network (event STARTED)."""
        with self._core.locked():
            n = self._find(net)
            if n.active:
                raise VirtError.invalid(ErrDomain.TEST, f"Network '{n.name}' is already running")
            n.active = True
            self._core.emit(NetworkLifecycleEvent(n.ref(), NetworkEventType.STARTED, 0))

    def define_xml(self, xml: str | bytes) -> NetworkRef:
        """``virNetworkDefineXML``: a new persistent network is inactive; redefining one
        replaces its definition (event DEFINED either way)."""
        defn = parse_network_xml(xml)
        with self._core.locked():
            existing = self._conflict(defn)
            if existing is None:
                net = _Network(defn, active=False)
                self._objects[net.uuid] = net
            else:
                net = existing
                net.defn, net.persistent = defn, True
            self._core.emit(NetworkLifecycleEvent(net.ref(), NetworkEventType.DEFINED, 0))
            return net.ref()

    def create_xml(self, xml: str | bytes) -> NetworkRef:
        """``virNetworkCreateXML``: a new transient network, started (event STARTED)."""
        defn = parse_network_xml(xml)
        with self._core.locked():
            existing = self._conflict(defn)
            if existing is not None and existing.active:
                raise VirtError.invalid(ErrDomain.NETWORK,
                                        f"network is already active as '{existing.name}'")
            net = existing or _Network(defn, active=False, persistent=False)
            net.defn, net.active = defn, True
            self._objects[net.uuid] = net
            self._core.emit(NetworkLifecycleEvent(net.ref(), NetworkEventType.STARTED, 0))
            return net.ref()

    def undefine(self, net: NetworkKey) -> None:
        """``virNetworkUndefine``: only an inactive network (event UNDEFINED)."""
        with self._core.locked():
            n = self._find(net)
            if n.active:
                raise VirtError.invalid(ErrDomain.TEST, f"Network '{n.name}' is still running")
            del self._objects[n.uuid]
            self._core.emit(NetworkLifecycleEvent(n.ref(), NetworkEventType.UNDEFINED, 0))

    def _conflict(self, defn: NetworkDef) -> _Network | None:
        """The network *defn* redefines (same UUID), after libvirt's name/UUID checks."""
        existing = self._objects.get(defn.uuid)
        if existing is not None:
            if existing.name != defn.name:
                raise VirtError.failed(
                    ErrDomain.NETWORK,
                    f"network '{existing.name}' is already defined with uuid "
                    f"{format_uuid(existing.uuid)}",
                )
            return existing
        for other in self._objects.values():
            if other.name == defn.name:
                raise VirtError.failed(
                    ErrDomain.NETWORK,
                    f"network '{defn.name}' already exists with uuid {format_uuid(other.uuid)}",
                )
        return None

    def destroy(self, net: NetworkKey) -> None:
        """``virNetworkDestroy``; like the test driver it does not check the state first."""
        with self._core.locked():
            n = self._find(net)
            n.active = False
            self._core.emit(NetworkLifecycleEvent(n.ref(), NetworkEventType.STOPPED, 0))
            if not n.persistent:
                del self._objects[n.uuid]

    # ---------------------------------------------------------------- persistence

    def dump(self) -> list[dict[str, Any]]:
        """The networks as JSON-serialisable data (for the state file)."""
        with self._core.lock:
            return [
                {
                    "xml": format_network_xml(n.defn, format_uuid(n.uuid)),
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
            net = _Network(
                defn=parse_network_xml(xml),
                active=bool(item["active"]),
                persistent=bool(item["persistent"]),
                autostart=bool(item["autostart"]),
            )
            self._objects[net.uuid] = net
