"""Who is on the other end of a connection: its transport and the credentials it showed.

Plain data: the I/O shell fills it in (peer credentials of a unix socket, the TLS
certificate's DN, a SASL login), handlers and policies read it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ("Identity", "Transport")


class Transport(enum.IntEnum):
    """How a client is connected (the numbers libvirt's admin API reports)."""

    UNIX = 0
    TCP = 1
    TLS = 2


# One empty mapping shared by every identity without extras (most of them): an idle
# connection's identity costs no dictionary.
_NOTHING: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who is on the other end of a connection.

    :ivar transport: unix, TCP or TLS.
    :ivar address: peer address as ``host:port`` (``[v6]:port``), or None on unix sockets.
    :ivar unix_uid: peer user id (``SO_PEERCRED``) on unix sockets.
    :ivar unix_gid: peer group id on unix sockets.
    :ivar unix_pid: peer process id on unix sockets.
    :ivar tls_dn: the client certificate's distinguished name on TLS connections.
    :ivar sasl_user: the user name a SASL login established (bare, without a realm).
    :ivar user_name: the name of the peer's user (looked up when it connected).
    :ivar group_name: the name of the peer's group (likewise).
    :ivar selinux_context: the peer's SELinux context, when known.
    :ivar process_time: the peer process's start time, when known.

    Everything but ``transport`` and ``address`` may be replaced later by an identity the
    client forwards on behalf of another one (libvirt's ``virConnectSetIdentity``).
    """

    transport: Transport
    address: str | None = None
    unix_uid: int | None = None
    unix_gid: int | None = None
    unix_pid: int | None = None
    tls_dn: str | None = None
    sasl_user: str | None = None
    user_name: str | None = None
    group_name: str | None = None
    selinux_context: str | None = None
    process_time: int | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _NOTHING)
