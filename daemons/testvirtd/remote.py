"""libvirt's REMOTE program (0x20008086 v1), put together from each object kind's procedures.

=================================  =========================================================
class                              procedures of
=================================  =========================================================
:class:`SASLAuthProcedures`        AUTH_LIST and SASL login (``netrpc.security.sasl``)
:class:`HostProcedures`            handshake, connection, host (``host/procedures.py``)
:class:`DomainProcedures`          domains and domain events (``domains/procedures.py``)
:class:`DomainRuntimeProcedures`   domain statistics, guest operations
                                   (``domains/runtime_procedures.py``)
:class:`DomainTuningProcedures`    domain tuning (``domains/tuning_procedures.py``)
:class:`DomainSavingProcedures`    save images, managed save, core dumps, screenshots
                                   (``domains/saving_procedures.py``)
:class:`RemoteFdProcedures`        domain creation with passed files (``fdpass.py``)
:class:`SnapshotProcedures`        snapshots and checkpoints (``snapshots/procedures.py``)
:class:`NetworkProcedures`         networks (``networks/procedures.py``)
:class:`StorageProcedures`         pools, volumes, volume streams (``storage/procedures.py``)
:class:`InterfaceProcedures`       host interfaces (``interfaces/procedures.py``)
:class:`NodeDeviceProcedures`      node devices (``nodedevs/procedures.py``)
=================================  =========================================================

Handlers are methods named like the procedure in snake case, ``(self, call, args) -> ret``,
using only what :class:`~daemons.testvirtd.connection.RemoteBase` offers: the connection's
state and driver instance (``opened``/``writable``), ``changed`` and the event registry.

Every handler is synchronous and ``inline``: the driver answers at once, and events it emits
while a handler runs are queued to the interested clients from the event loop itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio.from_thread

from netrpc import Procedure, Program, RPCError
from netrpc.security.sasl import SASLAuthProcedures

from .connection import ConnectionState, in_event_loop, readonly_refusal
from .domains.procedures import DomainProcedures
from .domains.runtime_procedures import DomainRuntimeProcedures
from .domains.saving_procedures import DomainSavingProcedures
from .domains.tuning_procedures import DomainTuningProcedures
from .drivers import DriverRegistry, uri_flavour
from .events import EventRegistry, Outgoing
from .fdpass import RemoteFdProcedures
from .host.procedures import HostProcedures
from .hypervisor import Event, Hypervisor
from .interfaces.procedures import InterfaceProcedures
from .networks.procedures import NetworkProcedures
from .nodedevs.procedures import NodeDeviceProcedures
from .protocol import PROCS
from .remote_types import REMOTE_PROGRAM
from .snapshots.procedures import SnapshotProcedures
from .storage.procedures import StorageProcedures
from .unsupported import UnsupportedAnswers

__all__ = ("ConnectionState", "RemoteProgram", "uri_flavour")

log = logging.getLogger("testvirtd.remote")

Formatter = Callable[[Any], Outgoing | None]


class RemoteProgram(
    UnsupportedAnswers,
    SASLAuthProcedures,
    HostProcedures,
    DomainProcedures,
    DomainRuntimeProcedures,
    DomainTuningProcedures,
    DomainSavingProcedures,
    RemoteFdProcedures,
    SnapshotProcedures,
    NetworkProcedures,
    StorageProcedures,
    InterfaceProcedures,
    NodeDeviceProcedures,
    Program,
):
    """The REMOTE program of libvirtd.

    :param hv: the shared driver instance (``test:///default`` and the QEMU views).
    :param default_uri: what an empty CONNECT_OPEN name opens (and CONNECT_GET_URI says).
    :param on_change: called after every procedure that changed the shared instance's state
        (the daemon saves its state file there).
    :param keep_shared: keep the shared instance's state when its last connection closes
        (libvirtd's test driver discards it).
    """

    number = REMOTE_PROGRAM
    version = 1
    declarations = PROCS
    inline_by_default = True

    def __init__(
        self,
        hv: Hypervisor,
        *,
        default_uri: str = "test:///default",
        on_change: Callable[[], None] | None = None,
        keep_shared: bool = True,
    ) -> None:
        self.hv = hv
        self.on_change = on_change
        self.drivers = DriverRegistry(hv, default_uri, keep_shared=keep_shared)
        self.drivers.on_private_open.append(self._watch)
        self.events = EventRegistry()
        self.drop_hooks = []
        self._formatters: dict[type, Formatter] = {}
        for klass in reversed(type(self).__mro__):
            self._formatters.update(vars(klass).get("event_formatters", {}))
        self._token: int | None = hv.subscribe(lambda event: self._on_event(hv, event))

    @property
    def default_uri(self) -> str:
        """What an empty CONNECT_OPEN name opens."""
        return self.drivers.default_uri

    def reset(self) -> None:
        """Forget every event registration and restart callback ids at 0, as a fresh
        driver does (the daemon closes the connections that made them)."""
        self.events.reset()

    def close(self) -> None:
        """Stop listening to the shared instance's events."""
        if self._token is not None:
            self.hv.unsubscribe(self._token)
            self._token = None

    def new_callback_id(self) -> int:
        """The next callback id of the shared instance (every event kind and QEMU monitor
        events share one counter, as they share one event state in libvirt's drivers)."""
        return self.hv.core.new_callback_id()

    # -------------------------------------------------------------- connection bookkeeping

    def client_connected(self, client: Any) -> None:
        self.state(client)

    def client_closed(self, client: Any) -> None:
        self.release(client)

    def readonly_error(self, proc: Procedure[Any, Any]) -> RPCError:
        return readonly_refusal(proc.name)

    def accepts_uri(self, name: str) -> RPCError | None:
        """None when CONNECT_OPEN may open *name*, else the error libvirtd sends."""
        return self.drivers.refusal(name)

    # -------------------------------------------------------------- events

    def _watch(self, driver: Hypervisor) -> None:
        # a private instance lives as long as its connection; so does the subscription
        driver.subscribe(lambda event: self._on_event(driver, event))

    def _on_event(self, driver: Hypervisor, event: Event) -> None:
        if in_event_loop():
            self.deliver(event, driver)
            return
        try:
            anyio.from_thread.run_sync(self.deliver, event, driver)
        except RuntimeError:
            log.warning("dropping %s raised outside the event loop", type(event).__name__)

    def deliver(self, event: Event, driver: Hypervisor | None = None) -> None:
        """Send *event* of *driver* (default: the shared instance) to every connection
        registered for it (event MESSAGEs, serial 1)."""
        formatter = self._formatters.get(type(event))
        if formatter is None:
            return
        out = formatter(event)
        if out is not None:
            self.events.deliver(self.number, self.version, driver or self.hv, out)
