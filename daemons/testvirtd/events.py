"""Event registrations of the REMOTE program, for every object kind.

Each object kind's procedures register clients here (``*_EVENT_REGISTER_ANY`` and, for
domains, the legacy ``DOMAIN_EVENT_REGISTER`` and ``DOMAIN_EVENT_REGISTER_ANY``) and declare
how their events travel (:class:`Outgoing`, built by the formatters in
``<kind>/procedures.py``).  The registry sends each event of a driver instance to the
connections that registered for it on that instance, as event MESSAGEs with serial 1,
registration order first.  As in libvirtd, a connection has at most one registration per
event id and object, whichever way it was made, and the legacy deregistrations remove the
oldest registration of the event id, whichever way it was made.

Callback ids come from the driver instance's counter (``DriverCore.new_callback_id``),
shared by every kind, the legacy domain registrations and the QEMU program's monitor
events, as a libvirt driver hands them out from its one event state: connections to
``test:///default`` share a sequence, each node-file connection starts its own at 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netrpc import ErrorCode, ErrorDomain, RPCError

__all__ = ("EventRegistry", "Outgoing", "Registration")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """How one event goes out.

    :param kind: the registration kind ("domain", "network", "storage_pool", ...).
    :param event_id: the kind's event id (``VIR_*_EVENT_ID_*``).
    :param key: the object's identity a registration may filter on (a UUID, or a node
        device's name).
    :param callback_proc: the procedure of the callback message.
    :param encode: builds the callback message's payload for a callback id.
    :param legacy_proc: for domain events, the procedure of the legacy message (sent once
        per connection that used the legacy registration for this event id).
    :param legacy_payload: that message's payload.
    """

    kind: str
    event_id: int
    key: bytes | str
    callback_proc: int
    encode: Callable[[int], bytes]
    legacy_proc: int | None = None
    legacy_payload: bytes | None = None


@dataclass(eq=False, slots=True)
class Registration:
    """One ``*_EVENT_REGISTER_ANY`` registration (or a legacy domain one)."""

    client: Any
    kind: str
    event_id: int
    #: only events of this object (None: any object)
    key: bytes | str | None
    #: made with a legacy domain registration (DOMAIN_EVENT_REGISTER(_ANY)): its events go
    #: out as the legacy messages
    legacy: bool = False


class EventRegistry:
    """Registrations of every connection and kind, and the delivery of events to them.

    Registrations are kept per driver instance, in callback id order: an event goes to them
    in the order they were made, as libvirt's event state walks its callback list.
    """

    def __init__(self) -> None:
        self._by_driver: dict[Any, dict[int, Registration]] = {}

    def reset(self) -> None:
        """Forget every registration (the instances' id counters are reset with them)."""
        self._by_driver.clear()

    def _table(self, driver: Any) -> dict[int, Registration]:
        return self._by_driver.setdefault(driver, {})

    # ---------------------------------------------------------------- registrations

    def register(
        self, client: Any, driver: Any, kind: str, event_id: int, key: bytes | str | None,
        *, legacy: bool = False,
    ) -> int:
        """Register *client* for *kind* events *event_id* (of the object *key*, or all);
        returns the new callback id.  *legacy*: the events go out as the legacy domain
        messages.

        :raises RPCError: "event callback already tracked" when *client* has a registration
            for the same event and object already, of whichever kind (libvirtd relays each
            event id through one function, and the driver refuses a second registration
            of it for the same connection and object).
        """
        self._check_duplicate(client, driver, kind, event_id, key)
        cb_id: int = driver.core.new_callback_id()
        self._table(driver)[cb_id] = Registration(client, kind, event_id, key, legacy)
        return cb_id

    def _check_duplicate(
        self, client: Any, driver: Any, kind: str, event_id: int, key: bytes | str | None
    ) -> None:
        for reg in self._table(driver).values():
            if (reg.client is client and reg.kind == kind and reg.event_id == event_id
                    and reg.key == key):
                raise RPCError.formatted(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                                         "invalid argument: %s", "event callback already tracked")

    def deregister(self, client: Any, driver: Any, kind: str, callback_id: int) -> bool:
        """Remove *client*'s registration *callback_id* of *kind* (legacy or not); False if
        it has none."""
        table = self._table(driver)
        reg = table.get(callback_id)
        if reg is None or reg.client is not client or reg.kind != kind:
            return False
        del table[callback_id]
        return True

    def deregister_event(self, client: Any, driver: Any, kind: str, event_id: int) -> bool:
        """Remove *client*'s oldest registration for *event_id* of *kind*, legacy or not
        (what libvirtd's legacy deregistrations look for); False if it has none."""
        table = self._table(driver)
        for cb_id, reg in sorted(table.items()):
            if reg.client is client and reg.kind == kind and reg.event_id == event_id:
                del table[cb_id]
                return True
        return False

    # ---------------------------------------------------------------- connections

    def drop_client(self, client: Any) -> None:
        """Forget every registration of *client* (CONNECT_CLOSE or EOF)."""
        for driver, table in list(self._by_driver.items()):
            for cb_id in [k for k, r in table.items() if r.client is client]:
                del table[cb_id]
            if not table:
                del self._by_driver[driver]

    def count(self, client: Any | None = None) -> int:
        """How many callback (not legacy) registrations there are (of *client*, or of
        everyone)."""
        return sum(
            1 for table in self._by_driver.values() for r in table.values()
            if not r.legacy and (client is None or r.client is client)
        )

    def legacy_count(self) -> int:
        """How many connections have legacy domain registrations."""
        return len({
            id(r.client) for table in self._by_driver.values() for r in table.values()
            if r.legacy
        })

    # ---------------------------------------------------------------- delivery

    def deliver(self, program: int, version: int, driver: Any, out: Outgoing) -> None:
        """Send *out*, an event of *driver*, to every connection registered for it there."""
        table = self._by_driver.get(driver)
        if not table:
            return
        for cb_id, reg in sorted(table.items()):
            if (
                reg.kind != out.kind
                or reg.event_id != out.event_id
                or (reg.key is not None and reg.key != out.key)
            ):
                continue
            if reg.legacy:
                if out.legacy_proc is not None and out.legacy_payload is not None:
                    reg.client.send_event(program, version, out.legacy_proc,
                                          out.legacy_payload)
            else:
                reg.client.send_event(program, version, out.callback_proc, out.encode(cb_id))
