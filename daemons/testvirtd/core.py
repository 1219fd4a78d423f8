"""What every object kind of a driver instance shares: the state lock, the event queue, the
flavour, and small helpers (list filters, the state file error).

A :class:`DriverCore` belongs to one :class:`~daemons.testvirtd.hypervisor.Hypervisor`; each
object kind (domains, networks, storage ...) keeps its own objects and reaches the others only
through their public methods.  Every state change happens under :meth:`DriverCore.locked`,
which delivers the events the change produced once the lock is released, in the order they
happened.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Final, Literal

__all__ = (
    "DriverCore",
    "Event",
    "EventCallback",
    "Flavour",
    "StateFileError",
    "list_filter",
)

#: Which driver a connection sees: libvirt's test driver or a QEMU/KVM host.
Flavour = Literal["test", "qemu"]

FLAVOURS: Final = ("test", "qemu")


class Event:
    """Base class of everything a driver instance publishes to its subscribers."""

    __slots__ = ()


EventCallback = Callable[[Event], None]


class StateFileError(Exception):
    """A saved state file could not be read; the message names the file and the problem."""


def list_filter(flags: int, yes_bit: int, no_bit: int, value: bool) -> bool:
    """libvirt's paired ``virConnectListAll*`` filter bits: with neither (or both) set
    everything matches, else *value* must agree with the bit that is set."""
    want = flags & (yes_bit | no_bit)
    if not want or want == (yes_bit | no_bit):
        return True
    return value if want == yes_bit else not value


class DriverCore:
    """The lock and event queue of one driver instance.

    :param flavour: the instance's own flavour (what it answers when a caller names none).
    """

    def __init__(self, flavour: Flavour = "test") -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown flavour {flavour!r}")
        self.flavour: Flavour = flavour
        #: the state lock: every read and change of any object kind holds it
        self.lock = threading.RLock()
        self._dispatch_lock = threading.RLock()
        self._pending: collections.deque[Event] = collections.deque()
        self._subscribers: dict[int, EventCallback] = {}
        self._next_token = 1
        self._next_callback_id = 0

    def new_callback_id(self) -> int:
        """The next event callback id of this instance.

        Every event registration made through a connection to the instance (any object
        kind, and QEMU monitor events) takes its id from this one counter, as the
        registrations of a libvirt driver share one event state.
        """
        with self.lock:
            cb_id = self._next_callback_id
            self._next_callback_id += 1
            return cb_id

    def reset_callback_ids(self) -> None:
        """Hand out callback ids from 0 again (a fresh instance)."""
        with self.lock:
            self._next_callback_id = 0

    def view(self, flavour: Flavour | None) -> Flavour:
        """*flavour*, or the instance's own one when ``None``.

        Connections opened with ``test:///default`` and ``qemu:///system`` see the same
        objects, each through its own driver's eyes (type, versions, capabilities, XML rules).
        """
        if flavour is None:
            return self.flavour
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown flavour {flavour!r}")
        return flavour

    # ---------------------------------------------------------------- events

    def subscribe(self, callback: EventCallback) -> int:
        """Register *callback* for every event; returns a token for :meth:`unsubscribe`.

        Callbacks run synchronously in the thread that caused the event, after the state
        change is complete and outside the state lock (so they may call back in).
        Exceptions they raise are swallowed: one bad subscriber must not break the others.
        """
        with self.lock:
            token = self._next_token
            self._next_token += 1
            self._subscribers[token] = callback
            return token

    def unsubscribe(self, token: int) -> None:
        """Remove a subscription (unknown tokens are ignored)."""
        with self.lock:
            self._subscribers.pop(token, None)

    def emit(self, event: Event) -> None:
        """Queue *event*; call with the state lock held (inside :meth:`locked`)."""
        self._pending.append(event)

    def discard_pending(self) -> None:
        """Drop queued events (an instance being reset or loaded announces nothing)."""
        with self.lock:
            self._pending.clear()

    def flush(self) -> None:
        """Deliver the queued events, in order, to the current subscribers."""
        with self._dispatch_lock:
            while True:
                with self.lock:
                    if not self._pending:
                        return
                    event = self._pending.popleft()
                    subscribers = list(self._subscribers.values())
                for callback in subscribers:
                    with contextlib.suppress(Exception):
                        callback(event)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state lock for one operation, then deliver the events it produced."""
        try:
            with self.lock:
                yield
        finally:
            self.flush()
