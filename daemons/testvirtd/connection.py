"""Per-connection state of the REMOTE program and what every object kind's procedures may
use of the program (:class:`RemoteBase`).

A connection must CONNECT_OPEN before anything but AUTH_LIST, SUPPORTS_FEATURE(keepalive)
and CONNECT_CLOSE.  CONNECT_OPEN binds it to a driver instance (:mod:`.drivers`); its event
registrations and close-callback flag go away on CONNECT_CLOSE or a bare EOF.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

import sniffio

from netrpc import Call, ErrorCode, ErrorDomain, Procedure, RPCError

from .events import EventRegistry
from .hypervisor import Flavour, Hypervisor

if TYPE_CHECKING:
    from .drivers import DriverRegistry

__all__ = (
    "ConnectionState",
    "RemoteBase",
    "in_event_loop",
    "is_secondary",
    "not_open",
    "readonly_refusal",
)

log = logging.getLogger("testvirtd.remote")

_FROM_DOMAIN: Final = 20
_FROM_NETWORK: Final = 19
_FROM_STORAGE: Final = 18
_FROM_NODEDEV: Final = 22
_FROM_INTERFACE: Final = 26
_FROM_DOMAIN_SNAPSHOT: Final = 35
_FROM_DOMAIN_CHECKPOINT: Final = 69


#: Secondary drivers (libvirtd keeps one connection per kind besides the hypervisor's); their
#: procedures name the kind right after ``vir`` or ``connect``.  Before CONNECT_OPEN libvirtd
#: answers their calls with "connection not open" instead of "hypervisor connection not open".
_SECONDARY_KINDS: Final = ("network", "storage", "interface", "nodedevice", "secret",
                           "nwfilter")


#: Node device procedures libvirtd dispatches to the hypervisor's connection.
_HYPERVISOR_NODEDEV_OPS: Final = ("nodedevicedettach", "nodedevicereattach",
                                  "nodedevicereset", "nodedevicedetachflags")


def is_secondary(proc_name: str) -> bool:
    """Whether the procedure called *proc_name* (``virNetworkCreate``, ``storage_vol_*``,
    ``connect_list_all_networks`` ...) belongs to a secondary driver."""
    name = proc_name.replace("_", "").lower()
    name = name.removeprefix("vir")
    if name.startswith("connect"):
        # connect_list_all_networks, connect_find_storage_pool_sources, ... but never
        # connect_domain_* (domain_interface_* and the like are the hypervisor's)
        rest = name.removeprefix("connect")
        return not rest.startswith("domain") and any(k in rest for k in _SECONDARY_KINDS)
    # virNodeNumOfDevices / virNodeListDevices belong to the node device driver; detaching,
    # re-attaching and resetting a host device are the hypervisor's (PCI passthrough)
    if name.startswith(_HYPERVISOR_NODEDEV_OPS):
        return False
    return name.startswith(_SECONDARY_KINDS) or name in ("nodenumofdevices", "nodelistdevices")


def not_open(secondary: bool = False) -> RPCError:
    """libvirtd's answer to a call before CONNECT_OPEN (*secondary*: of a secondary
    driver's procedure)."""
    return RPCError.internal(
        "connection not open" if secondary else "hypervisor connection not open"
    )


def readonly_refusal(api: str) -> RPCError:
    """What libvirt says when a read-only connection calls the public API *api*."""
    if api.startswith(("virDomainQemu", "virConnectDomainQemu")):
        domain = ErrorDomain.NONE  # libvirt-qemu's own checks report no domain
    elif api.startswith(("virDomainSnapshot", "virDomainRevertToSnapshot")):
        domain = _FROM_DOMAIN_SNAPSHOT
    elif api.startswith("virDomainCheckpoint"):
        domain = _FROM_DOMAIN_CHECKPOINT
    elif api.startswith("virDomain"):
        domain = _FROM_DOMAIN
    elif api.startswith("virNetwork"):
        domain = _FROM_NETWORK
    elif api.startswith("virStorage"):
        domain = _FROM_STORAGE
    elif api.startswith("virInterface"):
        domain = _FROM_INTERFACE
    elif api.startswith("virNodeDevice"):
        domain = _FROM_NODEDEV
    else:
        domain = ErrorDomain.NONE
    return RPCError.formatted(
        ErrorCode.OPERATION_DENIED,
        domain,
        "operation forbidden: %s",
        f"read only access prevents {api}",
    )


def in_event_loop() -> bool:
    """Whether the caller runs in the event loop (not in a worker thread)."""
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return False
    return True


@dataclass(eq=False, slots=True)
class ConnectionState:
    """What one client connection has set up with the REMOTE program."""

    #: the URI the connection was opened with (None until CONNECT_OPEN)
    uri: str | None = None
    #: the driver the URI names: "test" (test:///...) or "qemu" (qemu:///system, ...);
    #: qemu views see the shared instance with that driver's type and rules
    flavour: Flavour = "test"
    #: opened with VIR_CONNECT_RO, or through a read-only socket
    readonly: bool = False
    #: the driver instance the URI opened (None until CONNECT_OPEN)
    driver: Hypervisor | None = None
    #: CONNECT_REGISTER_CLOSE_CALLBACK was called
    close_callback: bool = False

    @property
    def is_open(self) -> bool:
        """CONNECT_OPEN succeeded and no CONNECT_CLOSE came since."""
        return self.uri is not None

    @property
    def hv(self) -> Hypervisor:
        """The driver instance of an open connection."""
        if self.driver is None:
            raise not_open()
        return self.driver


class RemoteBase:
    """What the REMOTE program offers its procedures, whatever the object kind.

    Every kind's procedure class derives from it; :class:`~.remote.RemoteProgram` puts them
    together.  Handlers use :meth:`opened` (read-only calls) or :meth:`writable` (calls that
    change something) to get the connection's state and driver instance, and call
    :meth:`changed` after a change.
    """

    number: ClassVar[int]
    version: ClassVar[int]
    procedures: ClassVar[dict[int, Procedure[Any, Any]]]
    #: every connection's event registrations
    events: EventRegistry
    #: the driver instances URIs open
    drivers: DriverRegistry
    #: called after every change of the shared instance (the daemon saves its state there)
    on_change: Callable[[], None] | None
    #: called with (client, state) whenever a connection's registrations go away
    #: (CONNECT_CLOSE or EOF): other programs drop theirs there
    drop_hooks: list[Callable[[Any, ConnectionState], None]]

    def state(self, client: Any) -> ConnectionState:
        """The per-connection state of *client* (created on first use)."""
        st = client.private.get(RemoteBase)
        if not isinstance(st, ConnectionState):
            st = client.private[RemoteBase] = ConnectionState()
        return st

    def opened(self, call: Call) -> ConnectionState:
        """The caller's state; raises libvirtd's "hypervisor connection not open" (or
        "connection not open" for a secondary driver's procedure) if needed."""
        st = self.state(call.client)
        if st.uri is None:
            proc = self.procedures.get(call.header.procedure)
            secondary = (call.header.program == self.number and proc is not None
                         and is_secondary(proc.name))
            raise not_open(secondary)
        return st

    def writable(self, call: Call, api: str) -> ConnectionState:
        """:meth:`opened`, refusing read-only connections as libvirt does for *api*."""
        st = self.opened(call)
        if st.readonly:
            raise readonly_refusal(api)
        return st

    def register_event(
        self, call: Call, kind: str, event_id: int, last: int, key: bytes | str | None,
        label: str,
    ) -> int:
        """Register the caller for *kind* events *event_id* (below *last*) of the object
        *key* (None: any); libvirtd's errors for an unknown id (*label* names the kind, as
        "network") and for a registration the connection already has."""
        st = self.opened(call)
        if not 0 <= event_id < last:
            raise RPCError.internal(f"unsupported {label} event ID {event_id}")
        return self.events.register(call.client, st.hv, kind, event_id, key)

    def deregister_event(self, call: Call, kind: str, callback_id: int, label: str) -> None:
        """Remove the caller's registration *callback_id* of *kind*, or libvirtd's error."""
        st = self.opened(call)
        if not self.events.deregister(call.client, st.hv, kind, callback_id):
            raise RPCError.internal(f"{label} event callback {callback_id} not registered")

    def release(self, client: Any) -> None:
        """Undo what *client* set up (CONNECT_CLOSE or EOF): registrations of every kind
        and program, the close callback, and its hold on the driver instance."""
        st = client.private.get(RemoteBase)
        if not isinstance(st, ConnectionState):
            return
        for hook in self.drop_hooks:
            try:
                hook(client, st)
            except Exception:
                log.exception("dropping registrations failed")
        self.events.drop_client(client)
        st.close_callback = False
        driver, st.driver, st.uri = st.driver, None, None
        if driver is not None:
            self.drivers.close(driver)

    def changed(self, call: Call | None = None) -> None:
        """Tell the daemon the shared instance changed (private instances are not saved).

        :raises RPCError: when the change could not be persisted: the call that made it
            fails rather than acknowledge it.
        """
        if call is not None:
            st = self.state(call.client)
            if st.driver is not None and not self.drivers.is_shared(st.driver):
                return
        if self.on_change is not None:
            try:
                self.on_change()
            except RPCError as exc:
                log.error("%s", exc.message)
                raise
            except Exception as exc:
                log.error("saving the state failed: %s", exc)
                raise RPCError.internal(f"saving the state failed: {exc}") from None
