"""Event registrations of the REMOTE program, for every object kind.

Each object kind's procedures register clients here (``*_EVENT_REGISTER_ANY`` and, for
domains, the legacy ``DOMAIN_EVENT_REGISTER_ANY``) and declare how their events travel
(:class:`Outgoing`, built by the formatters in ``<kind>/procedures.py``).  The registry
sends each event of a driver instance to the connections that registered for it on that
instance, as event MESSAGEs with serial 1, registration order first.

Callback ids are unique across the server and shared by every kind and by the QEMU
program's monitor events, as libvirt's drivers hand them out from one counter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    """One ``*_EVENT_REGISTER_ANY`` registration."""

    client: Any
    kind: str
    event_id: int
    #: only events of this object (None: any object)
    key: bytes | str | None
    #: the driver instance the connection had open when it registered
    driver: Any


class EventRegistry:
    """Registrations of every connection and kind, and the delivery of events to them."""

    def __init__(self) -> None:
        self._next_id = 0
        self._callbacks: dict[int, Registration] = {}
        # legacy domain registrations: client -> (driver, event ids)
        self._legacy: dict[Any, tuple[Any, set[int]]] = {}

    def reset(self) -> None:
        """Forget every registration and hand out callback ids from 0 again (as a fresh
        driver does)."""
        self._next_id = 0
        self._callbacks.clear()
        self._legacy.clear()

    def new_callback_id(self) -> int:
        """The next server-wide callback id."""
        cb_id = self._next_id
        self._next_id += 1
        return cb_id

    # ---------------------------------------------------------------- callback registrations

    def register(
        self, client: Any, driver: Any, kind: str, event_id: int, key: bytes | str | None
    ) -> int:
        """Register *client* for *kind* events *event_id* (of the object *key*, or all);
        returns the new callback id."""
        cb_id = self.new_callback_id()
        self._callbacks[cb_id] = Registration(client, kind, event_id, key, driver)
        return cb_id

    def deregister(self, client: Any, kind: str, callback_id: int) -> bool:
        """Remove *client*'s registration *callback_id* of *kind*; False if it has none."""
        reg = self._callbacks.get(callback_id)
        if reg is None or reg.client is not client or reg.kind != kind:
            return False
        del self._callbacks[callback_id]
        return True

    # ---------------------------------------------------------------- legacy domain events

    def has_legacy(self, client: Any, event_id: int) -> bool:
        """Whether *client* has the legacy registration for domain *event_id*."""
        entry = self._legacy.get(client)
        return entry is not None and event_id in entry[1]

    def register_legacy(self, client: Any, driver: Any, event_id: int) -> None:
        """Add the legacy domain registration of *client* for *event_id*."""
        self._legacy.setdefault(client, (driver, set()))[1].add(event_id)

    def deregister_legacy(self, client: Any, event_id: int) -> bool:
        """Remove it; False if *client* had none for *event_id*."""
        entry = self._legacy.get(client)
        if entry is None or event_id not in entry[1]:
            return False
        entry[1].discard(event_id)
        if not entry[1]:
            del self._legacy[client]
        return True

    # ---------------------------------------------------------------- connections

    def drop_client(self, client: Any) -> None:
        """Forget every registration of *client* (CONNECT_CLOSE or EOF)."""
        for cb_id in [k for k, r in self._callbacks.items() if r.client is client]:
            del self._callbacks[cb_id]
        self._legacy.pop(client, None)

    def count(self, client: Any | None = None) -> int:
        """How many callback registrations there are (of *client*, or of everyone)."""
        return sum(1 for r in self._callbacks.values() if client is None or r.client is client)

    def legacy_count(self) -> int:
        """How many connections have legacy domain registrations."""
        return len(self._legacy)

    # ---------------------------------------------------------------- delivery

    def deliver(self, program: int, version: int, driver: Any, out: Outgoing) -> None:
        """Send *out*, an event of *driver*, to every connection registered for it there."""
        if out.legacy_proc is not None and out.legacy_payload is not None:
            for client, (reg_driver, event_ids) in list(self._legacy.items()):
                if reg_driver is driver and out.event_id in event_ids:
                    client.send_event(program, version, out.legacy_proc, out.legacy_payload)
        for cb_id, reg in sorted(self._callbacks.items()):
            if (
                reg.driver is not driver
                or reg.kind != out.kind
                or reg.event_id != out.event_id
                or (reg.key is not None and reg.key != out.key)
            ):
                continue
            reg.client.send_event(program, version, out.callback_proc, out.encode(cb_id))
