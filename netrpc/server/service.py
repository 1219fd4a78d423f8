"""Services: groups of listening sockets with one policy (libvirt's virNetServerService).

A service is a unix socket (path, mode, group, read-only flag), a TCP endpoint (host, port,
optionally TLS), or sockets inherited from systemd (``LISTEN_FDS``).  Its policy, shared by
every connection it accepts, is: read-only or not, the authentication scheme, the per-client
request budget, and whether file descriptors may be passed.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from .client import Transport

if TYPE_CHECKING:
    from ..tls import TLSContext
    from .client import ServerClient

__all__ = ("AuthPolicy", "Authenticator", "Service", "systemd_listen_fds")

#: "none": every client is authenticated at once; "tls": the TLS handshake authenticates
#: (the certificate check and DN allow-list); "hook": the service's authenticator decides,
#: and a client it does not accept may still authenticate later through procedures declared
#: ``auth=False`` that call ``client.set_authenticated()`` (like libvirt's SASL/polkit steps).
AuthPolicy = Literal["none", "tls", "hook"]

#: Decides whether a newly connected client is authenticated (``auth="hook"``); may be async.
Authenticator = Callable[["ServerClient"], "bool | Awaitable[bool]"]

SD_LISTEN_FDS_START = 3


def systemd_listen_fds(*, unset_environment: bool = True) -> dict[str, list[int]]:
    """Sockets passed by systemd socket activation, by ``FileDescriptorName``.

    Reads ``LISTEN_PID``, ``LISTEN_FDS`` and ``LISTEN_FDNAMES`` (sd_listen_fds semantics): the
    descriptors start at 3; names default to ``"unknown"``.  Returns ``{}`` when the variables
    are absent or meant for another process.
    """
    try:
        pid = int(os.environ.get("LISTEN_PID", ""))
        count = int(os.environ.get("LISTEN_FDS", ""))
    except ValueError:
        return {}
    if pid != os.getpid() or count <= 0:
        return {}
    names = os.environ.get("LISTEN_FDNAMES", "").split(":")
    if unset_environment:
        for var in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(var, None)
    result: dict[str, list[int]] = {}
    for i in range(count):
        name = names[i] if i < len(names) and names[i] else "unknown"
        fd = SD_LISTEN_FDS_START + i
        os.set_inheritable(fd, False)
        result.setdefault(name, []).append(fd)
    return result


@dataclass(eq=False, kw_only=True)
class Service:
    """A listening endpoint group and its policy.  Build one with :meth:`unix`,
    :meth:`tcp`, :meth:`tls` or :meth:`from_fds`.

    :ivar readonly: clients may only call procedures declared read-only.
    :ivar auth: authentication policy of the connections accepted here.
    :ivar max_client_requests: per-client budget of outstanding calls (None: the server's).
    :ivar fd_passing: accept and send file descriptors (unix sockets only).
    :ivar name: for logs and admin listings.
    :ivar tls_context: the TLS credentials of a TLS service.
    :ivar authenticator: with ``auth="hook"``: called with each new client (after TLS); a
        true result authenticates it.
    """

    kind: Literal["unix", "tcp", "fd"]
    path: str | None = None
    mode: int = 0o600
    group: str | int | None = None
    host: str | Sequence[str] | None = None
    port: int = 0
    fds: list[int] = field(default_factory=list)
    readonly: bool = False
    auth: AuthPolicy = "none"
    tls_context: TLSContext | None = None
    tls_handshake_timeout: float = 30.0
    max_client_requests: int | None = None
    fd_passing: bool = True
    allowed_uids: frozenset[int] | None = None
    allowed_gids: frozenset[int] | None = None
    authenticator: Authenticator | None = None
    name: str = ""
    listeners: list[anyio.abc.SocketListener] = field(default_factory=list, repr=False)
    _unlink_on_close: bool = field(default=False, repr=False)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def unix(
        cls,
        path: str | os.PathLike[str],
        *,
        mode: int = 0o600,
        group: str | int | None = None,
        readonly: bool = False,
        auth: AuthPolicy = "none",
        max_client_requests: int | None = None,
        fd_passing: bool = True,
        allowed_uids: Sequence[int] | None = None,
        allowed_gids: Sequence[int] | None = None,
        authenticator: Authenticator | None = None,
        name: str = "",
    ) -> Service:
        """A unix socket at *path* with permissions *mode* and optional *group*.

        A stale socket file left by a dead process is replaced; a socket that still has a
        listener is not (binding fails with "address in use").

        :param allowed_uids: when given, only peers with one of these user ids are served.
        :param allowed_gids: when given, only peers with one of these group ids are served.
        """
        return cls(
            kind="unix",
            path=os.fspath(path),
            mode=mode,
            group=group,
            readonly=readonly,
            auth=auth,
            max_client_requests=max_client_requests,
            fd_passing=fd_passing,
            allowed_uids=frozenset(allowed_uids) if allowed_uids is not None else None,
            allowed_gids=frozenset(allowed_gids) if allowed_gids is not None else None,
            authenticator=authenticator,
            name=name or ("unix-ro" if readonly else "unix"),
        )

    @classmethod
    def tcp(
        cls,
        host: str | Sequence[str] | None = "127.0.0.1",
        port: int = 0,
        *,
        readonly: bool = False,
        auth: AuthPolicy = "none",
        max_client_requests: int | None = None,
        authenticator: Authenticator | None = None,
        name: str = "",
    ) -> Service:
        """A plain TCP endpoint.

        :param host: an address or name; ``None`` or ``""`` listens on every interface, both
            IPv4 and IPv6 (one socket per family, as libvirt does); a sequence listens on each.
        :param port: 0 lets the kernel choose; read it from :attr:`ports` once listening.
        """
        return cls(
            kind="tcp",
            host=host,
            port=port,
            readonly=readonly,
            auth=auth,
            max_client_requests=max_client_requests,
            fd_passing=False,
            authenticator=authenticator,
            name=name or "tcp",
        )

    @classmethod
    def tls(
        cls,
        context: TLSContext,
        host: str | Sequence[str] | None = "127.0.0.1",
        port: int = 0,
        *,
        readonly: bool = False,
        auth: AuthPolicy = "tls",
        handshake_timeout: float = 30.0,
        max_client_requests: int | None = None,
        authenticator: Authenticator | None = None,
        name: str = "",
    ) -> Service:
        """A TCP endpoint where every connection starts with a TLS handshake.

        With ``auth="tls"`` (the default) a client whose certificate passes the checks and
        the DN allow-list is authenticated.
        """
        service = cls.tcp(
            host,
            port,
            readonly=readonly,
            auth=auth,
            max_client_requests=max_client_requests,
            authenticator=authenticator,
        )
        service.tls_context = context
        service.tls_handshake_timeout = handshake_timeout
        service.name = name or "tls"
        return service

    @classmethod
    def from_fds(
        cls,
        fds: Sequence[int],
        *,
        readonly: bool = False,
        auth: AuthPolicy = "none",
        tls: TLSContext | None = None,
        max_client_requests: int | None = None,
        name: str = "",
    ) -> Service:
        """Adopt already-listening sockets (systemd socket activation, see
        :func:`systemd_listen_fds`)."""
        return cls(
            kind="fd",
            fds=list(fds),
            readonly=readonly,
            auth=auth,
            tls_context=tls,
            max_client_requests=max_client_requests,
            name=name or "inherited",
        )

    # ------------------------------------------------------------------ properties

    @property
    def transport(self) -> Transport:
        """The transport of connections accepted here."""
        if self.tls_context is not None:
            return Transport.TLS
        if self.kind == "unix":
            return Transport.UNIX
        if self.kind == "fd" and self.listeners:
            raw = self.listeners[0].extra(SocketAttribute.raw_socket)
            if raw.family == socket.AF_UNIX:
                return Transport.UNIX
        return Transport.TCP

    @property
    def addresses(self) -> list[Any]:
        """Bound local addresses (a path, or ``(host, port)`` tuples) once listening."""
        return [listener.extra(SocketAttribute.local_address) for listener in self.listeners]

    @property
    def ports(self) -> list[int]:
        """Bound TCP ports once listening (port 0 resolved)."""
        return sorted(
            {addr[1] for addr in self.addresses if isinstance(addr, tuple) and len(addr) >= 2}
        )

    @property
    def port_bound(self) -> int | None:
        """The first bound TCP port, or None."""
        ports = self.ports
        return ports[0] if ports else None

    # ------------------------------------------------------------------ listening

    async def listen(self, backlog: int) -> None:
        """Create and bind the sockets.

        :raises OSError: when binding fails (address in use, permission ...).
        """
        if self.listeners:
            return
        if self.kind == "unix":
            await self._listen_unix(backlog)
        elif self.kind == "tcp":
            await self._listen_tcp(backlog)
        else:
            for fd in self.fds:
                sock = socket.socket(fileno=fd)
                sock.setblocking(False)
                self.listeners.append(await anyio.abc.SocketListener.from_socket(sock))

    async def _listen_tcp(self, backlog: int) -> None:
        hosts: list[str | None]
        if self.host is None or self.host == "":
            hosts = [None]
        elif isinstance(self.host, str):
            hosts = [self.host]
        else:
            hosts = list(self.host)
        port = self.port
        for host in hosts:
            multi = await anyio.create_tcp_listener(
                local_host=host, local_port=port, backlog=backlog, reuse_port=False
            )
            for listener in multi.listeners:
                assert isinstance(listener, anyio.abc.SocketListener)
                self.listeners.append(listener)
            if port == 0 and self.listeners:
                # Every address of a service shares the port the kernel chose first.
                port = int(self.listeners[0].extra(SocketAttribute.local_address)[1])

    async def _listen_unix(self, backlog: int) -> None:
        assert self.path is not None
        path = self.path
        gid = None
        if self.group is not None:
            # Resolve the group before binding, so that a bad name leaves nothing behind.
            if isinstance(self.group, int):
                gid = self.group
            else:
                try:
                    gid = grp.getgrnam(self.group).gr_gid
                except KeyError:
                    raise OSError(errno.EINVAL, f"unknown group {self.group!r}", path) from None
        await anyio.to_thread.run_sync(_remove_stale_socket, path)
        # Bind under a restrictive umask so the socket never exists with looser permissions.
        old_umask = os.umask(0o777 & ~self.mode)
        try:
            listener = await anyio.create_unix_listener(path, mode=self.mode, backlog=backlog)
        finally:
            os.umask(old_umask)
        if gid is not None:
            try:
                os.chown(path, -1, gid)
            except OSError:
                await listener.aclose()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                raise
        self._unlink_on_close = True
        self.listeners.append(listener)

    async def aclose(self) -> None:
        """Close the listening sockets (and remove the unix socket file)."""
        for listener in self.listeners:
            await listener.aclose()
        self.listeners.clear()
        if self._unlink_on_close and self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self._unlink_on_close = False

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}{' (read-only)' if self.readonly else ''}"
        if self.listeners:
            addrs = ", ".join(_format_address(a) for a in self.addresses)
        else:
            addrs = f"{self.host}:{self.port}"
        return f"{'tls' if self.tls_context else self.kind}:{addrs}"


def _format_address(address: Any) -> str:
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def _remove_stale_socket(path: str) -> None:
    """Unlink *path* if it is a unix socket nobody listens on; refuse if someone does."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(errno.EEXIST, "not a socket, refusing to replace it", path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)
        return
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, "a server is already listening on this socket", path)
