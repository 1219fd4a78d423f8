"""A server's settings, grouped: client limits, the worker pool, keepalive.

``Server(name, programs, limits=ClientLimits(max_clients=100), keepalive=KeepAlive(...))``;
the flat keywords of earlier versions (``max_clients=100``) still work and take precedence
over the groups.  Every value is checked when the server is made.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...core.keepalive import DEFAULT_COUNT, DEFAULT_INTERVAL

__all__ = ("DEFAULT_MAX_CLIENT_OUTPUT", "ClientLimits", "KeepAliveSettings", "PoolSettings")

#: unwritten output at which a client's calls stop being dispatched (see ClientLimits)
DEFAULT_MAX_CLIENT_OUTPUT = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientLimits:
    """How many clients a server takes, and how much of it each may hold (libvirt's
    ``max_clients`` & co).

    :ivar max_clients: connected clients at most (libvirt default 5000).
    :ivar max_anonymous_clients: clients still authenticating at most (default 20).
    :ivar max_queued_clients: listen backlog (default 1000).
    :ivar max_client_requests: outstanding calls per client (default 5).
    :ivar max_pending_output: a client with more unwritten output than this (events it does
        not read) is disconnected, so a slow reader never makes the server buffer without
        bound.
    :ivar max_client_output: while a client has this many bytes of output unwritten (it does
        not read its replies), its calls are not dispatched and it is not read; None for no
        limit.
    """

    max_clients: int = 5000
    max_anonymous_clients: int = 20
    max_queued_clients: int = 1000
    max_client_requests: int = 5
    max_pending_output: int = 64 * 1024 * 1024
    max_client_output: int | None = DEFAULT_MAX_CLIENT_OUTPUT

    def __post_init__(self) -> None:
        if self.max_clients < self.max_anonymous_clients:
            raise ValueError(
                "The overall maximum number of clients must not be less than the number of "
                "clients waiting for authentication"
            )
        if self.max_client_requests < 1:
            raise ValueError(
                f"max_client_requests must be at least 1, got {self.max_client_requests}"
            )
        if self.max_client_output is not None and self.max_client_output < 1:
            raise ValueError(
                f"max_client_output must be at least 1, got {self.max_client_output}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolSettings:
    """The worker threads that run blocking (``def``) handlers (libvirt's thread pool).

    :ivar min_workers: threads kept.
    :ivar max_workers: threads at most (0: blocking handlers run inline).
    :ivar prio_workers: extra threads for priority procedures.
    """

    min_workers: int = 5
    max_workers: int = 20
    prio_workers: int = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepAliveSettings:
    """Server pings to clients that asked for keepalive.

    :ivar interval: seconds of silence before a ping; ``<= 0`` disables server pings.
    :ivar count: unanswered pings before the client is dropped.
    """

    interval: float = DEFAULT_INTERVAL
    count: int = DEFAULT_COUNT
