"""Keepalive timing (libvirt's virKeepAlive), with time passed in.

Theory of operation: every received message proves the peer alive and re-arms the timer for
``interval`` seconds.  When the timer fires with nothing received, a PING is sent and the
remaining count drops by one; when it fires with the count exhausted, the peer is dead.  So a
silent peer is declared dead ``interval * (count + 1)`` seconds after the last message it sent
(libvirtd.conf's wording).  ``interval <= 0`` disables sending PINGs (PINGs from the peer are
still answered by the connection).

A server does not run the timer until the client asks for keepalive
(``CONNECT_SUPPORTS_FEATURE(VIR_DRV_FEATURE_PROGRAM_KEEPALIVE)``): see :meth:`KeepAlive.start`.
"""

from __future__ import annotations

import enum

__all__ = ("DEFAULT_COUNT", "DEFAULT_INTERVAL", "KeepAlive", "KeepAliveAction")

DEFAULT_INTERVAL = 5.0  # keepalive_interval
DEFAULT_COUNT = 5  # keepalive_count


class KeepAliveAction(enum.Enum):
    """What :meth:`KeepAlive.handle_timer` asks the connection to do."""

    NONE = "none"  #: nothing is due
    PING = "ping"  #: send a PING now
    DEAD = "dead"  #: the peer is silent for too long: close the connection


class KeepAlive:
    """Keepalive state for one connection.

    :param interval: seconds of silence before a PING; ``<= 0`` disables keepalive.
    :param count: PINGs sent without an answer before the peer is declared dead.
    """

    __slots__ = ("_countdown", "_deadline", "_last_received", "count", "interval")

    def __init__(self, interval: float = DEFAULT_INTERVAL, count: int = DEFAULT_COUNT) -> None:
        if count < 0:
            raise ValueError(f"keepalive count must be >= 0, got {count}")
        self.interval = interval
        self.count = count
        self._countdown = count
        self._deadline: float | None = None
        self._last_received = 0.0

    @property
    def running(self) -> bool:
        """True once :meth:`start` was called (and :meth:`stop` was not)."""
        return self._deadline is not None

    @property
    def last_received(self) -> float:
        """Time of the last :meth:`received` (or :meth:`start`)."""
        return self._last_received

    def start(self, now: float) -> bool:
        """Start the timer; returns False when keepalive is disabled (``interval <= 0``)."""
        if self.interval <= 0:
            return False
        self._countdown = self.count
        self._last_received = now
        self._deadline = now + self.interval
        return True

    def stop(self) -> None:
        """Stop the timer."""
        self._deadline = None

    def received(self, now: float) -> None:
        """Note that the peer sent something at *now*."""
        self._last_received = now
        if self._deadline is not None:
            self._countdown = self.count
            self._deadline = now + self.interval

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None if the timer is off."""
        return self._deadline

    def handle_timer(self, now: float) -> KeepAliveAction:
        """Advance the timer to *now* and say what to do."""
        deadline = self._deadline
        if deadline is None or now < deadline:
            return KeepAliveAction.NONE
        if self._countdown <= 0:
            self._deadline = None
            return KeepAliveAction.DEAD
        self._countdown -= 1
        self._deadline = now + self.interval
        return KeepAliveAction.PING
