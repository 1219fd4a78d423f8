"""libvirt's REMOTE program (0x20008086 v1) on top of the in-memory test hypervisor.

Every handler is synchronous and ``inline``: the hypervisor answers at once, and events it
emits while a handler runs are queued to the interested clients from the event loop itself.

Per-connection state (:class:`ConnectionState`) follows libvirtd's: a connection must
CONNECT_OPEN before anything but AUTH_LIST, SUPPORTS_FEATURE(keepalive) and CONNECT_CLOSE;
it owns its event registrations (server-wide unique callback ids) and its close-callback flag,
which all go away on CONNECT_CLOSE or a bare EOF.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import anyio.from_thread
import sniffio

from netrpc import Call, ErrorCode, ErrorDomain, Procedure, Program, RPCError, procedure, xdr

from .domxml import VirtError
from .fdpass import RemoteFdProcedures
from .hypervisor import (
    DomainLifecycleEvent,
    DomainRebootEvent,
    DomainRef,
    Event,
    Flavour,
    Hypervisor,
    NetworkRef,
    PoolRef,
)
from .remote_types import (
    REMOTE_PROGRAM,
    AuthListRet,
    CallbackIdArgs,
    CallbackIdRet,
    ConnectListAllArgs,
    ConnectListAllDomainsRet,
    ConnectListAllNetworksRet,
    ConnectListAllStoragePoolsRet,
    ConnectOpenArgs,
    DomainArgs,
    DomainCallbackRegisterAnyArgs,
    DomainCreateXmlArgs,
    DomainDefineXmlArgs,
    DomainDefineXmlFlagsArgs,
    DomainEventCallbackLifecycleMsg,
    DomainEventCallbackRebootMsg,
    DomainEventLifecycleMsg,
    DomainEventRebootMsg,
    DomainFlagsArgs,
    DomainGetInfoRet,
    DomainGetMessagesRet,
    DomainGetSecurityLabelRet,
    DomainGetStateRet,
    DomainRet,
    DomainSetAutostartArgs,
    EventIdArgs,
    IntRet,
    LookupByIdArgs,
    LookupByUuidArgs,
    NameArgs,
    NetworkArgs,
    NetworkFlagsArgs,
    NetworkRet,
    NodeGetInfoRet,
    NodeGetSecurityModelRet,
    NonnullDomain,
    NonnullNetwork,
    NonnullStoragePool,
    OptStringArgs,
    StoragePoolArgs,
    StoragePoolFlagsArgs,
    StoragePoolGetInfoRet,
    StoragePoolRet,
    StringRet,
    SupportsFeatureArgs,
    UHyperRet,
    char_array,
)
from .storage import StorageProcedures

__all__ = ("ConnectionState", "Feature", "Proc", "RemoteProgram", "uri_flavour")

log = logging.getLogger("testvirtd.remote")


class Proc:
    """REMOTE procedure numbers used by the daemon itself (events)."""

    DOMAIN_EVENT_LIFECYCLE: Final = 107
    DOMAIN_EVENT_REBOOT: Final = 169
    DOMAIN_EVENT_CALLBACK_LIFECYCLE: Final = 318
    DOMAIN_EVENT_CALLBACK_REBOOT: Final = 319


class Feature:
    """``VIR_DRV_FEATURE_*`` numbers the daemon answers specially."""

    PROGRAM_KEEPALIVE: Final = 10
    REMOTE_EVENT_CALLBACK: Final = 14
    REMOTE_CLOSE_CALLBACK: Final = 15


#: Features the test driver behind libvirtd 9.0 reports as supported (probed: 8, 9, 10, 14,
#: 15 and 16 answer 1, everything else 0).
SUPPORTED_FEATURES: Final = frozenset({8, 9, 10, 14, 15, 16})

#: ``VIR_DOMAIN_EVENT_ID_LAST`` of libvirt 9.0: event ids 0..26 are valid.
DOMAIN_EVENT_ID_LAST: Final = 27
EVENT_ID_LIFECYCLE: Final = 0
EVENT_ID_REBOOT: Final = 1

VIR_CONNECT_RO: Final = 1
_LIST_DOMAINS_FLAGS: Final = 0xFFFF  # VIR_CONNECT_LIST_DOMAINS_ACTIVE .. _NO_CHECKPOINT

_FROM_QEMU: Final = 10
_FROM_DOMAIN: Final = 20
_FROM_NETWORK: Final = 19
_FROM_STORAGE: Final = 18


#: Secondary drivers (libvirtd keeps one connection per kind besides the hypervisor's); their
#: procedures name the kind right after ``vir`` or ``connect``.  Before CONNECT_OPEN libvirtd
#: answers their calls with "connection not open" instead of "hypervisor connection not open".
_SECONDARY_KINDS: Final = ("network", "storage", "interface", "nodedevice", "secret",
                           "nwfilter")


def _is_secondary(proc_name: str) -> bool:
    """Whether the procedure called *proc_name* (``virNetworkCreate``, ``storage_vol_*``,
    ``connect_list_all_networks`` ...) belongs to a secondary driver."""
    name = proc_name.replace("_", "").lower()
    name = name.removeprefix("vir")
    if name.startswith("connect"):
        # connect_list_all_networks, connect_find_storage_pool_sources, ... but never
        # connect_domain_* (domain_interface_* and the like are the hypervisor's)
        rest = name.removeprefix("connect")
        return not rest.startswith("domain") and any(k in rest for k in _SECONDARY_KINDS)
    return name.startswith(_SECONDARY_KINDS)


def _not_open(secondary: bool = False) -> RPCError:
    return RPCError.internal(
        "connection not open" if secondary else "hypervisor connection not open"
    )


def _readonly_refusal(api: str) -> RPCError:
    if api.startswith(("virDomainQemu", "virConnectDomainQemu")):
        domain = ErrorDomain.NONE  # libvirt-qemu's own checks report no domain
    elif api.startswith("virDomain"):
        domain = _FROM_DOMAIN
    elif api.startswith("virNetwork"):
        domain = _FROM_NETWORK
    elif api.startswith("virStorage"):
        domain = _FROM_STORAGE
    else:
        domain = ErrorDomain.NONE
    return RPCError.formatted(
        ErrorCode.OPERATION_DENIED,
        domain,
        "operation forbidden: %s",
        f"read only access prevents {api}",
    )


# ------------------------------------------------------------------------------ conversions


def _dom(wire: NonnullDomain) -> DomainRef:
    return DomainRef(wire.name, bytes(wire.uuid), wire.id)


def _wire_dom(ref: DomainRef) -> NonnullDomain:
    return NonnullDomain(ref.name, ref.uuid, ref.id)


def _net(wire: NonnullNetwork) -> NetworkRef:
    return NetworkRef(wire.name, bytes(wire.uuid))


def _wire_net(ref: NetworkRef) -> NonnullNetwork:
    return NonnullNetwork(ref.name, ref.uuid)


def _pool(wire: NonnullStoragePool) -> PoolRef:
    return PoolRef(wire.name, bytes(wire.uuid))


def _wire_pool(ref: PoolRef) -> NonnullStoragePool:
    return NonnullStoragePool(ref.name, ref.uuid)


# ------------------------------------------------------------------------------ state


@dataclass(eq=False)
class _Registration:
    client: Any
    event_id: int
    uuid: bytes | None  # domain filter of a callback registration


@dataclass(eq=False)
class ConnectionState:
    """What one client connection has set up with the REMOTE program."""

    #: the URI the connection was opened with (None until CONNECT_OPEN)
    uri: str | None = None
    #: the driver the URI names: "test" (test:///default) or "qemu" (qemu:///system, ...);
    #: both see the same hypervisor state, each with its own driver's type and rules
    flavour: Flavour = "test"
    #: opened with VIR_CONNECT_RO, or through a read-only socket
    readonly: bool = False
    #: callback ids registered with CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY
    callbacks: set[int] = field(default_factory=set)
    #: event ids registered with the legacy CONNECT_DOMAIN_EVENT_REGISTER_ANY
    legacy_events: set[int] = field(default_factory=set)
    #: CONNECT_REGISTER_CLOSE_CALLBACK was called
    close_callback: bool = False

    @property
    def is_open(self) -> bool:
        return self.uri is not None


# ------------------------------------------------------------------------------ the program


class RemoteProgram(StorageProcedures, RemoteFdProcedures, Program):
    """The REMOTE program of libvirtd, backed by a :class:`Hypervisor`.

    :param hv: the hypervisor all connections share.
    :param default_uri: what an empty CONNECT_OPEN name opens (and CONNECT_GET_URI says).
    :param on_change: called after every procedure that changed the hypervisor's state
        (the daemon saves its state file there).
    """

    number = REMOTE_PROGRAM
    version = 1

    def __init__(
        self,
        hv: Hypervisor,
        *,
        default_uri: str = "test:///default",
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.hv = hv
        self.default_uri = default_uri
        self.on_change = on_change
        self._next_callback_id = 0
        #: called with (client, state) whenever a connection's registrations go away
        #: (CONNECT_CLOSE or EOF): other programs drop theirs there
        self.drop_hooks: list[Callable[[Any, ConnectionState], None]] = []
        self._callbacks: dict[int, _Registration] = {}
        self._legacy: dict[Any, set[int]] = {}
        self._token: int | None = hv.subscribe(self._on_event)

    def close(self) -> None:
        """Stop listening to the hypervisor's events."""
        if self._token is not None:
            self.hv.unsubscribe(self._token)
            self._token = None

    # -------------------------------------------------------------- connection bookkeeping

    def state(self, client: Any) -> ConnectionState:
        """The per-connection state of *client* (created on first use)."""
        st = client.private.get(RemoteProgram)
        if not isinstance(st, ConnectionState):
            st = client.private[RemoteProgram] = ConnectionState()
        return st

    def client_connected(self, client: Any) -> None:
        self.state(client)

    def client_closed(self, client: Any) -> None:
        st = client.private.get(RemoteProgram)
        if st is not None:
            self._drop_registrations(client, st)
            st.uri = None

    def new_callback_id(self) -> int:
        """A callback id unique across the server (domain and QEMU monitor events share
        one counter, as they share one event state in libvirt's drivers)."""
        cb_id = self._next_callback_id
        self._next_callback_id += 1
        return cb_id

    def _drop_registrations(self, client: Any, st: ConnectionState) -> None:
        for hook in self.drop_hooks:
            try:
                hook(client, st)
            except Exception:
                log.exception("dropping registrations failed")
        for cb in st.callbacks:
            self._callbacks.pop(cb, None)
        st.callbacks.clear()
        st.legacy_events.clear()
        self._legacy.pop(client, None)
        st.close_callback = False

    def opened(self, call: Call) -> ConnectionState:
        """The caller's state; raises libvirtd's "hypervisor connection not open" (or
        "connection not open" for a secondary driver's procedure) if needed."""
        st = self.state(call.client)
        if st.uri is None:
            proc = self.procedures.get(call.header.procedure)
            secondary = (call.header.program == self.number and proc is not None
                         and _is_secondary(proc.name))
            raise _not_open(secondary)
        return st

    def _writable(self, call: Call, api: str) -> ConnectionState:
        st = self.opened(call)
        if st.readonly:
            raise _readonly_refusal(api)
        return st

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:
                log.exception("saving the state failed")

    def readonly_error(self, proc: Procedure) -> RPCError:
        return _readonly_refusal(proc.name)

    def accepts_uri(self, name: str) -> RPCError | None:
        """None when CONNECT_OPEN may open *name*, else the error libvirtd sends.

        The default URI is always accepted, and so are ``qemu:///system`` and
        ``qemu:///session`` (a QEMU view of the same hypervisor) and ``test:///default``.
        """
        try:
            parts = urlsplit(name)
        except ValueError:
            parts = None
        default = urlsplit(self.default_uri)
        scheme = name.split(":", 1)[0]  # urlsplit lowercases it; libvirt's match is exact
        if name == self.default_uri:
            return None
        if parts is not None and scheme == "qemu" and not parts.netloc and not parts.query:
            if parts.path in ("/system", "/session"):
                return None
            return RPCError.formatted(
                ErrorCode.INTERNAL_ERROR, _FROM_QEMU, "internal error: %s",
                f"unexpected QEMU URI path '{parts.path}', try qemu:///system",
            )
        if parts is not None and name == "test:///default":
            return None
        if parts is None or scheme != default.scheme or parts.netloc:
            return RPCError.formatted(
                ErrorCode.NO_CONNECT, ErrorDomain.NONE, "no connection driver available for %s",
                name,
            )
        if parts.path == default.path:
            return None
        if parts.scheme == "test":
            if parts.path in ("", "/"):
                return RPCError.formatted(
                    ErrorCode.INVALID_ARG, ErrorDomain.TEST, "invalid argument: %s",
                    "testOpen: supply a path or use test:///default",
                )
            return RPCError.formatted(
                ErrorCode.XML_ERROR, ErrorDomain.TEST, "XML error: %s",
                f"failed to parse xml document '{parts.path}'",
            )
        return RPCError.formatted(
            ErrorCode.NO_CONNECT, ErrorDomain.NONE, "no connection driver available for %s", name
        )

    # -------------------------------------------------------------- events

    def _on_event(self, event: Event) -> None:
        if _in_event_loop():
            self.deliver(event)
            return
        try:
            anyio.from_thread.run_sync(self.deliver, event)
        except RuntimeError:
            log.warning("dropping %s raised outside the event loop", type(event).__name__)

    def deliver(self, event: Event) -> None:
        """Send *event* to every connection registered for it (event MESSAGEs, serial 1)."""
        if isinstance(event, DomainLifecycleEvent):
            event_id = EVENT_ID_LIFECYCLE
            msg: Any = DomainEventLifecycleMsg(_wire_dom(event.dom), event.event, event.detail)
            legacy_proc = Proc.DOMAIN_EVENT_LIFECYCLE
            legacy_codec = xdr.codec_for(DomainEventLifecycleMsg)
            cb_proc = Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE
            cb_type: Any = DomainEventCallbackLifecycleMsg
        elif isinstance(event, DomainRebootEvent):
            event_id = EVENT_ID_REBOOT
            msg = DomainEventRebootMsg(_wire_dom(event.dom))
            legacy_proc = Proc.DOMAIN_EVENT_REBOOT
            legacy_codec = xdr.codec_for(DomainEventRebootMsg)
            cb_proc, cb_type = Proc.DOMAIN_EVENT_CALLBACK_REBOOT, DomainEventCallbackRebootMsg
        else:
            return
        uuid = event.dom.uuid
        for client, event_ids in list(self._legacy.items()):
            if event_id in event_ids:
                client.send_event(self.number, self.version, legacy_proc, legacy_codec.encode(msg))
        for cb_id, reg in sorted(self._callbacks.items()):
            if reg.event_id != event_id or (reg.uuid is not None and reg.uuid != uuid):
                continue
            payload = cb_type.xdr.encode(cb_type(cb_id, msg))
            reg.client.send_event(self.number, self.version, cb_proc, payload)

    # ============================================================== handshake & connection

    @procedure(66, ret=AuthListRet, auth=False, readonly=True, inline=True)
    def auth_list(self, call: Call, args: None) -> AuthListRet:
        return AuthListRet([0])  # REMOTE_AUTH_NONE

    @procedure(60, args=SupportsFeatureArgs, ret=IntRet, readonly=True, inline=True)
    def connect_supports_feature(self, call: Call, args: SupportsFeatureArgs) -> IntRet:
        if args.feature == Feature.PROGRAM_KEEPALIVE:
            call.client.start_keepalive()
            return IntRet(1)
        self.opened(call)
        return IntRet(1 if args.feature in SUPPORTED_FEATURES else 0)

    @procedure(1, args=ConnectOpenArgs, readonly=True, inline=True)
    def connect_open(self, call: Call, args: ConnectOpenArgs) -> None:
        st = self.state(call.client)
        if st.uri is not None:
            raise RPCError.internal("connection already open")
        if args.name is None:
            raise RPCError.internal("connection not open")
        name = args.name or self.default_uri
        error = self.accepts_uri(name)
        if error is not None:
            raise error
        st.uri = name
        st.flavour = uri_flavour(name)
        st.readonly = bool(call.client.readonly or args.flags & VIR_CONNECT_RO)

    @procedure(2, readonly=True, inline=True)
    def connect_close(self, call: Call, args: None) -> None:
        st = self.state(call.client)
        self._drop_registrations(call.client, st)
        st.uri = None
        call.client.close_after_reply()

    @procedure(110, ret=StringRet, readonly=True, inline=True)
    def connect_get_uri(self, call: Call, args: None) -> StringRet:
        st = self.opened(call)
        assert st.uri is not None
        return StringRet(st.uri)

    @procedure(360, readonly=True, inline=True)
    def connect_register_close_callback(self, call: Call, args: None) -> None:
        self.opened(call).close_callback = True

    @procedure(361, readonly=True, inline=True)
    def connect_unregister_close_callback(self, call: Call, args: None) -> None:
        self.opened(call).close_callback = False

    # ============================================================== host

    @procedure(3, ret=StringRet, readonly=True, inline=True)
    def connect_get_type(self, call: Call, args: None) -> StringRet:
        return StringRet(self.hv.get_type(self.opened(call).flavour))

    @procedure(4, ret=UHyperRet, readonly=True, inline=True)
    def connect_get_version(self, call: Call, args: None) -> UHyperRet:
        return UHyperRet(self.hv.get_version(self.opened(call).flavour))

    @procedure(157, ret=UHyperRet, readonly=True, inline=True)
    def connect_get_lib_version(self, call: Call, args: None) -> UHyperRet:
        self.opened(call)
        return UHyperRet(self.hv.get_lib_version())

    @procedure(59, ret=StringRet, readonly=True, inline=True)
    def connect_get_hostname(self, call: Call, args: None) -> StringRet:
        self.opened(call)
        return StringRet(self.hv.get_hostname())

    @procedure(5, args=OptStringArgs, ret=IntRet, readonly=True, inline=True)
    def connect_get_max_vcpus(self, call: Call, args: OptStringArgs) -> IntRet:
        return IntRet(self.hv.get_max_vcpus(args.value, self.opened(call).flavour))

    @procedure(6, ret=NodeGetInfoRet, readonly=True, inline=True)
    def node_get_info(self, call: Call, args: None) -> NodeGetInfoRet:
        info = self.hv.node_get_info(self.opened(call).flavour)
        return NodeGetInfoRet(char_array(info.model, 32), info.memory, info.cpus, info.mhz,
                              info.nodes, info.sockets, info.cores, info.threads)

    @procedure(7, ret=StringRet, readonly=True, inline=True)
    def connect_get_capabilities(self, call: Call, args: None) -> StringRet:
        return StringRet(self.hv.get_capabilities(self.opened(call).flavour))

    @procedure(122, ret=NodeGetSecurityModelRet, readonly=True, inline=True)
    def node_get_security_model(self, call: Call, args: None) -> NodeGetSecurityModelRet:
        model, doi = self.hv.node_get_security_model(self.opened(call).flavour)
        return NodeGetSecurityModelRet(char_array(model), char_array(doi))

    # ============================================================== domain listing & lookup

    @procedure(273, args=ConnectListAllArgs, ret=ConnectListAllDomainsRet, readonly=True,
               inline=True)
    def connect_list_all_domains(
        self, call: Call, args: ConnectListAllArgs
    ) -> ConnectListAllDomainsRet:
        self.opened(call)
        if args.flags & ~_LIST_DOMAINS_FLAGS:
            raise VirtError.bad_flags("testConnectListAllDomains", args.flags)
        doms = self.hv.list_all_domains(args.flags)
        wire = [_wire_dom(d) for d in doms] if args.need_results else []
        return ConnectListAllDomainsRet(wire, len(doms))

    @procedure(23, args=NameArgs, ret=DomainRet, readonly=True, inline=True)
    def domain_lookup_by_name(self, call: Call, args: NameArgs) -> DomainRet:
        self.opened(call)
        return DomainRet(_wire_dom(self.hv.lookup_domain_by_name(args.name)))

    @procedure(24, args=LookupByUuidArgs, ret=DomainRet, readonly=True, inline=True)
    def domain_lookup_by_uuid(self, call: Call, args: LookupByUuidArgs) -> DomainRet:
        self.opened(call)
        return DomainRet(_wire_dom(self.hv.lookup_domain_by_uuid(bytes(args.uuid))))

    @procedure(22, args=LookupByIdArgs, ret=DomainRet, readonly=True, inline=True)
    def domain_lookup_by_id(self, call: Call, args: LookupByIdArgs) -> DomainRet:
        self.opened(call)
        return DomainRet(_wire_dom(self.hv.lookup_domain_by_id(args.id)))

    # ============================================================== domain queries

    @procedure(16, args=DomainArgs, ret=DomainGetInfoRet, readonly=True, inline=True)
    def domain_get_info(self, call: Call, args: DomainArgs) -> DomainGetInfoRet:
        self.opened(call)
        info = self.hv.domain_get_info(_dom(args.dom))
        return DomainGetInfoRet(info.state, info.max_mem, info.memory, info.nr_virt_cpu,
                                info.cpu_time)

    @procedure(212, args=DomainFlagsArgs, ret=DomainGetStateRet, readonly=True, inline=True)
    def domain_get_state(self, call: Call, args: DomainFlagsArgs) -> DomainGetStateRet:
        self.opened(call)
        state, reason = self.hv.domain_get_state(_dom(args.dom), args.flags)
        return DomainGetStateRet(state, reason)

    @procedure(19, args=DomainArgs, ret=StringRet, readonly=True, inline=True)
    def domain_get_os_type(self, call: Call, args: DomainArgs) -> StringRet:
        flavour = self.opened(call).flavour
        return StringRet(self.hv.domain_get_os_type(_dom(args.dom), flavour))

    @procedure(17, args=DomainArgs, ret=UHyperRet, readonly=True, inline=True)
    def domain_get_max_memory(self, call: Call, args: DomainArgs) -> UHyperRet:
        self.opened(call)
        return UHyperRet(self.hv.domain_get_max_memory(_dom(args.dom)))

    @procedure(18, args=DomainArgs, ret=IntRet, readonly=True, inline=True)
    def domain_get_max_vcpus(self, call: Call, args: DomainArgs) -> IntRet:
        self.opened(call)
        return IntRet(self.hv.domain_get_max_vcpus(_dom(args.dom)))

    @procedure(14, args=DomainFlagsArgs, ret=StringRet, readonly=True, inline=True)
    def domain_get_xml_desc(self, call: Call, args: DomainFlagsArgs) -> StringRet:
        self.opened(call)
        return StringRet(self.hv.domain_get_xml_desc(_dom(args.dom), args.flags))

    @procedure(150, args=DomainArgs, ret=IntRet, readonly=True, inline=True)
    def domain_is_active(self, call: Call, args: DomainArgs) -> IntRet:
        self.opened(call)
        return IntRet(int(self.hv.domain_is_active(_dom(args.dom))))

    @procedure(151, args=DomainArgs, ret=IntRet, readonly=True, inline=True)
    def domain_is_persistent(self, call: Call, args: DomainArgs) -> IntRet:
        self.opened(call)
        return IntRet(int(self.hv.domain_is_persistent(_dom(args.dom))))

    @procedure(202, args=DomainArgs, ret=IntRet, readonly=True, inline=True)
    def domain_is_updated(self, call: Call, args: DomainArgs) -> IntRet:
        self.opened(call)
        return IntRet(int(self.hv.domain_is_updated(_dom(args.dom))))

    @procedure(15, args=DomainArgs, ret=IntRet, readonly=True, inline=True)
    def domain_get_autostart(self, call: Call, args: DomainArgs) -> IntRet:
        self.opened(call)
        return IntRet(int(self.hv.domain_get_autostart(_dom(args.dom))))

    @procedure(183, args=DomainFlagsArgs, ret=IntRet, readonly=True, inline=True)
    def domain_has_managed_save_image(self, call: Call, args: DomainFlagsArgs) -> IntRet:
        self.opened(call)
        return IntRet(int(self.hv.domain_has_managed_save_image(_dom(args.dom), args.flags)))

    @procedure(187, args=DomainFlagsArgs, ret=IntRet, readonly=True, inline=True)
    def domain_snapshot_num(self, call: Call, args: DomainFlagsArgs) -> IntRet:
        self.opened(call)
        return IntRet(self.hv.domain_snapshot_num(_dom(args.dom), args.flags))

    @procedure(121, args=DomainArgs, ret=DomainGetSecurityLabelRet, readonly=True, inline=True)
    def domain_get_security_label(self, call: Call, args: DomainArgs) -> DomainGetSecurityLabelRet:
        flavour = self.opened(call).flavour
        dom = _dom(args.dom)
        label, enforcing = self.hv.domain_get_security_label(dom, flavour)
        if not self.hv.domain_is_active(dom):
            label, enforcing = "", False  # the test driver labels running domains only
        return DomainGetSecurityLabelRet(char_array(label), int(enforcing))

    @procedure(426, args=DomainFlagsArgs, ret=DomainGetMessagesRet, readonly=True, inline=True)
    def domain_get_messages(self, call: Call, args: DomainFlagsArgs) -> DomainGetMessagesRet:
        self.opened(call)
        return DomainGetMessagesRet(self.hv.domain_get_messages(_dom(args.dom), args.flags))

    # ============================================================== domain changes

    @procedure(11, args=DomainDefineXmlArgs, ret=DomainRet, inline=True,
               name="virDomainDefineXML")
    def domain_define_xml(self, call: Call, args: DomainDefineXmlArgs) -> DomainRet:
        st = self._writable(call, "virDomainDefineXML")
        ref = self.hv.domain_define_xml(args.xml, 0, st.flavour)
        self._changed()
        return DomainRet(_wire_dom(ref))

    @procedure(350, args=DomainDefineXmlFlagsArgs, ret=DomainRet, inline=True,
               name="virDomainDefineXMLFlags")
    def domain_define_xml_flags(self, call: Call, args: DomainDefineXmlFlagsArgs) -> DomainRet:
        st = self._writable(call, "virDomainDefineXMLFlags")
        ref = self.hv.domain_define_xml(args.xml, args.flags, st.flavour)
        self._changed()
        return DomainRet(_wire_dom(ref))

    @procedure(10, args=DomainCreateXmlArgs, ret=DomainRet, inline=True,
               name="virDomainCreateXML")
    def domain_create_xml(self, call: Call, args: DomainCreateXmlArgs) -> DomainRet:
        st = self._writable(call, "virDomainCreateXML")
        ref = self.hv.domain_create_xml(args.xml_desc, args.flags, st.flavour)
        self._changed()
        return DomainRet(_wire_dom(ref))

    @procedure(35, args=DomainArgs, inline=True, name="virDomainUndefine")
    def domain_undefine(self, call: Call, args: DomainArgs) -> None:
        self._writable(call, "virDomainUndefine")
        self.hv.domain_undefine(_dom(args.dom))
        self._changed()

    @procedure(231, args=DomainFlagsArgs, inline=True, name="virDomainUndefineFlags")
    def domain_undefine_flags(self, call: Call, args: DomainFlagsArgs) -> None:
        self._writable(call, "virDomainUndefineFlags")
        self.hv.domain_undefine(_dom(args.dom), args.flags)
        self._changed()

    @procedure(9, args=DomainArgs, inline=True, name="virDomainCreate")
    def domain_create(self, call: Call, args: DomainArgs) -> None:
        self._writable(call, "virDomainCreate")
        self.hv.domain_create(_dom(args.dom))
        self._changed()

    @procedure(196, args=DomainFlagsArgs, ret=DomainRet, inline=True,
               name="virDomainCreateWithFlags")
    def domain_create_with_flags(self, call: Call, args: DomainFlagsArgs) -> DomainRet:
        self._writable(call, "virDomainCreateWithFlags")
        ref = self.hv.domain_create(_dom(args.dom), args.flags)
        self._changed()
        return DomainRet(_wire_dom(ref))

    @procedure(12, args=DomainArgs, inline=True, priority=True, name="virDomainDestroy")
    def domain_destroy(self, call: Call, args: DomainArgs) -> None:
        self._writable(call, "virDomainDestroy")
        self.hv.domain_destroy(_dom(args.dom))
        self._changed()

    @procedure(234, args=DomainFlagsArgs, inline=True, priority=True,
               name="virDomainDestroyFlags")
    def domain_destroy_flags(self, call: Call, args: DomainFlagsArgs) -> None:
        self._writable(call, "virDomainDestroyFlags")
        self.hv.domain_destroy(_dom(args.dom), args.flags)
        self._changed()

    @procedure(33, args=DomainArgs, inline=True, name="virDomainShutdown")
    def domain_shutdown(self, call: Call, args: DomainArgs) -> None:
        self._writable(call, "virDomainShutdown")
        self.hv.domain_shutdown(_dom(args.dom))
        self._changed()

    @procedure(258, args=DomainFlagsArgs, inline=True, name="virDomainShutdownFlags")
    def domain_shutdown_flags(self, call: Call, args: DomainFlagsArgs) -> None:
        self._writable(call, "virDomainShutdownFlags")
        self.hv.domain_shutdown(_dom(args.dom), args.flags)
        self._changed()

    @procedure(34, args=DomainArgs, inline=True, name="virDomainSuspend")
    def domain_suspend(self, call: Call, args: DomainArgs) -> None:
        self._writable(call, "virDomainSuspend")
        self.hv.domain_suspend(_dom(args.dom))
        self._changed()

    @procedure(28, args=DomainArgs, inline=True, name="virDomainResume")
    def domain_resume(self, call: Call, args: DomainArgs) -> None:
        self._writable(call, "virDomainResume")
        self.hv.domain_resume(_dom(args.dom))
        self._changed()

    @procedure(27, args=DomainFlagsArgs, inline=True, name="virDomainReboot")
    def domain_reboot(self, call: Call, args: DomainFlagsArgs) -> None:
        self._writable(call, "virDomainReboot")
        self.hv.domain_reboot(_dom(args.dom), args.flags)
        self._changed()

    @procedure(245, args=DomainFlagsArgs, inline=True, name="virDomainReset")
    def domain_reset(self, call: Call, args: DomainFlagsArgs) -> None:
        self._writable(call, "virDomainReset")
        self.hv.domain_reset(_dom(args.dom), args.flags)
        self._changed()

    @procedure(29, args=DomainSetAutostartArgs, inline=True, name="virDomainSetAutostart")
    def domain_set_autostart(self, call: Call, args: DomainSetAutostartArgs) -> None:
        self._writable(call, "virDomainSetAutostart")
        self.hv.domain_set_autostart(_dom(args.dom), bool(args.autostart))
        self._changed()

    # ============================================================== networks

    @procedure(283, args=ConnectListAllArgs, ret=ConnectListAllNetworksRet, readonly=True,
               inline=True)
    def connect_list_all_networks(
        self, call: Call, args: ConnectListAllArgs
    ) -> ConnectListAllNetworksRet:
        self.opened(call)
        nets = self.hv.list_all_networks(args.flags)
        wire = [_wire_net(n) for n in nets] if args.need_results else []
        return ConnectListAllNetworksRet(wire, len(nets))

    @procedure(46, args=NameArgs, ret=NetworkRet, readonly=True, inline=True)
    def network_lookup_by_name(self, call: Call, args: NameArgs) -> NetworkRet:
        self.opened(call)
        return NetworkRet(_wire_net(self.hv.lookup_network_by_name(args.name)))

    @procedure(47, args=LookupByUuidArgs, ret=NetworkRet, readonly=True, inline=True)
    def network_lookup_by_uuid(self, call: Call, args: LookupByUuidArgs) -> NetworkRet:
        self.opened(call)
        return NetworkRet(_wire_net(self.hv.lookup_network_by_uuid(bytes(args.uuid))))

    @procedure(44, args=NetworkArgs, ret=IntRet, readonly=True, inline=True)
    def network_get_autostart(self, call: Call, args: NetworkArgs) -> IntRet:
        self.opened(call)
        return IntRet(int(self.hv.network_get_autostart(_net(args.net))))

    @procedure(152, args=NetworkArgs, ret=IntRet, readonly=True, inline=True)
    def network_is_active(self, call: Call, args: NetworkArgs) -> IntRet:
        self.opened(call)
        return IntRet(int(self.hv.network_is_active(_net(args.net))))

    @procedure(153, args=NetworkArgs, ret=IntRet, readonly=True, inline=True)
    def network_is_persistent(self, call: Call, args: NetworkArgs) -> IntRet:
        self.opened(call)
        return IntRet(int(self.hv.network_is_persistent(_net(args.net))))

    @procedure(45, args=NetworkArgs, ret=StringRet, readonly=True, inline=True)
    def network_get_bridge_name(self, call: Call, args: NetworkArgs) -> StringRet:
        self.opened(call)
        return StringRet(self.hv.network_get_bridge_name(_net(args.net)))

    @procedure(43, args=NetworkFlagsArgs, ret=StringRet, readonly=True, inline=True)
    def network_get_xml_desc(self, call: Call, args: NetworkFlagsArgs) -> StringRet:
        self.opened(call)
        return StringRet(self.hv.network_get_xml_desc(_net(args.net), args.flags))

    @procedure(39, args=NetworkArgs, inline=True, name="virNetworkCreate")
    def network_create(self, call: Call, args: NetworkArgs) -> None:
        self._writable(call, "virNetworkCreate")
        self.hv.network_create(_net(args.net))
        self._changed()

    @procedure(42, args=NetworkArgs, inline=True, name="virNetworkDestroy")
    def network_destroy(self, call: Call, args: NetworkArgs) -> None:
        self._writable(call, "virNetworkDestroy")
        self.hv.network_destroy(_net(args.net))
        self._changed()

    # ============================================================== storage pools

    @procedure(281, args=ConnectListAllArgs, ret=ConnectListAllStoragePoolsRet, readonly=True,
               inline=True)
    def connect_list_all_storage_pools(
        self, call: Call, args: ConnectListAllArgs
    ) -> ConnectListAllStoragePoolsRet:
        self.opened(call)
        pools = self.hv.list_all_storage_pools(args.flags)
        wire = [_wire_pool(p) for p in pools] if args.need_results else []
        return ConnectListAllStoragePoolsRet(wire, len(pools))

    @procedure(84, args=NameArgs, ret=StoragePoolRet, readonly=True, inline=True)
    def storage_pool_lookup_by_name(self, call: Call, args: NameArgs) -> StoragePoolRet:
        self.opened(call)
        return StoragePoolRet(_wire_pool(self.hv.lookup_pool_by_name(args.name)))

    @procedure(85, args=LookupByUuidArgs, ret=StoragePoolRet, readonly=True, inline=True)
    def storage_pool_lookup_by_uuid(self, call: Call, args: LookupByUuidArgs) -> StoragePoolRet:
        self.opened(call)
        return StoragePoolRet(_wire_pool(self.hv.lookup_pool_by_uuid(bytes(args.uuid))))

    @procedure(87, args=StoragePoolArgs, ret=StoragePoolGetInfoRet, readonly=True, inline=True)
    def storage_pool_get_info(self, call: Call, args: StoragePoolArgs) -> StoragePoolGetInfoRet:
        self.opened(call)
        info = self.hv.pool_get_info(_pool(args.pool))
        return StoragePoolGetInfoRet(info.state, info.capacity, info.allocation, info.available)

    @procedure(89, args=StoragePoolArgs, ret=IntRet, readonly=True, inline=True)
    def storage_pool_get_autostart(self, call: Call, args: StoragePoolArgs) -> IntRet:
        self.opened(call)
        return IntRet(int(self.hv.pool_get_autostart(_pool(args.pool))))

    @procedure(154, args=StoragePoolArgs, ret=IntRet, readonly=True, inline=True)
    def storage_pool_is_active(self, call: Call, args: StoragePoolArgs) -> IntRet:
        self.opened(call)
        return IntRet(int(self.hv.pool_is_active(_pool(args.pool))))

    @procedure(155, args=StoragePoolArgs, ret=IntRet, readonly=True, inline=True)
    def storage_pool_is_persistent(self, call: Call, args: StoragePoolArgs) -> IntRet:
        self.opened(call)
        return IntRet(int(self.hv.pool_is_persistent(_pool(args.pool))))

    @procedure(88, args=StoragePoolFlagsArgs, ret=StringRet, readonly=True, inline=True)
    def storage_pool_get_xml_desc(self, call: Call, args: StoragePoolFlagsArgs) -> StringRet:
        self.opened(call)
        return StringRet(self.hv.pool_get_xml_desc(_pool(args.pool), args.flags))

    # ============================================================== events

    def _check_event_id(self, event_id: int) -> None:
        if not 0 <= event_id < DOMAIN_EVENT_ID_LAST:
            raise RPCError.internal(f"unsupported event ID {event_id}")

    @procedure(316, args=DomainCallbackRegisterAnyArgs, ret=CallbackIdRet, readonly=True,
               inline=True)
    def connect_domain_event_callback_register_any(
        self, call: Call, args: DomainCallbackRegisterAnyArgs
    ) -> CallbackIdRet:
        st = self.opened(call)
        self._check_event_id(args.event_id)
        cb_id = self.new_callback_id()
        uuid = bytes(args.dom.uuid) if args.dom is not None else None
        self._callbacks[cb_id] = _Registration(call.client, args.event_id, uuid)
        st.callbacks.add(cb_id)
        return CallbackIdRet(cb_id)

    @procedure(317, args=CallbackIdArgs, readonly=True, inline=True)
    def connect_domain_event_callback_deregister_any(
        self, call: Call, args: CallbackIdArgs
    ) -> None:
        st = self.opened(call)
        if args.callback_id not in st.callbacks:
            raise RPCError.internal(f"domain event callback {args.callback_id} not registered")
        st.callbacks.discard(args.callback_id)
        self._callbacks.pop(args.callback_id, None)

    @procedure(167, args=EventIdArgs, readonly=True, inline=True)
    def connect_domain_event_register_any(self, call: Call, args: EventIdArgs) -> None:
        st = self.opened(call)
        self._check_event_id(args.event_id)
        if args.event_id in st.legacy_events:
            raise RPCError.formatted(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                                     "invalid argument: %s", "event callback already tracked")
        st.legacy_events.add(args.event_id)
        self._legacy.setdefault(call.client, set()).add(args.event_id)

    @procedure(168, args=EventIdArgs, readonly=True, inline=True)
    def connect_domain_event_deregister_any(self, call: Call, args: EventIdArgs) -> None:
        st = self.opened(call)
        self._check_event_id(args.event_id)
        if args.event_id not in st.legacy_events:
            raise RPCError.internal(f"domain event {args.event_id} not registered")
        st.legacy_events.discard(args.event_id)
        ids = self._legacy.get(call.client)
        if ids is not None:
            ids.discard(args.event_id)
            if not ids:
                del self._legacy[call.client]


def uri_flavour(uri: str) -> Flavour:
    """The hypervisor view a driver URI opens: "qemu" for ``qemu:///...``, else "test"."""
    return "qemu" if uri.split(":", 1)[0] == "qemu" else "test"


def _in_event_loop() -> bool:
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return False
    return True
