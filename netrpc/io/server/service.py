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
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from ...core.identity import Transport
from ...core.program import ClientHandle
from ...core.wire import LIBVIRT_WIRE, Wire

if TYPE_CHECKING:
    from ...security.sasl.server import SASLConfig
    from ...security.tls import TLSContext

__all__ = ("AuthPolicy", "Authenticator", "BindError", "Service", "systemd_listen_fds")

#: "none": every client is authenticated at once; "tls": the TLS handshake authenticates
#: (the certificate check and DN allow-list); "hook": the service's authenticator decides,
#: and a client it does not accept may still authenticate later through procedures declared
#: ``auth=False`` that call ``client.set_authenticated()`` (like libvirt's SASL/polkit steps);
#: "sasl": the client logs in with SASL (the service's ``sasl`` policy) through the program's
#: authentication procedures (:class:`netrpc.security.sasl.SASLAuthProcedures`), as libvirt's
#: ``auth_* = "sasl"``.
AuthPolicy = Literal["none", "tls", "hook", "sasl"]

#: Decides whether a newly connected client is authenticated (``auth="hook"``); may be async.
#: decides whether a new client is authenticated (``auth="hook"``); sees it as handlers do
Authenticator = Callable[[ClientHandle], "bool | Awaitable[bool]"]

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
    :ivar sasl: with ``auth="sasl"``: the SASL policy (:class:`netrpc.security.sasl.SASLConfig`).
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
    sasl: SASLConfig | None = None
    name: str = ""
    #: the wire protocol its clients speak (libvirt's by default)
    wire: Wire = LIBVIRT_WIRE
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
        sasl: SASLConfig | None = None,
        name: str = "",
        wire: Wire = LIBVIRT_WIRE,
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
            sasl=sasl,
            name=name or ("unix-ro" if readonly else "unix"),
            wire=wire,
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
        sasl: SASLConfig | None = None,
        name: str = "",
        wire: Wire = LIBVIRT_WIRE,
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
            sasl=sasl,
            name=name or "tcp",
            wire=wire,
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
        sasl: SASLConfig | None = None,
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
            sasl=sasl,
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
        sasl: SASLConfig | None = None,
        name: str = "",
        wire: Wire = LIBVIRT_WIRE,
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
            sasl=sasl,
            name=name or "inherited",
            wire=wire,
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
        if self.kind == "unix":
            # The socket was bound under a private name (see _bind_unix_socket): report the
            # path clients use.
            return [self.path for _ in self.listeners]
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

        :raises BindError: when binding fails (address in use, permission ...); its message
            names the endpoint.
        """
        if self.listeners:
            return
        try:
            if self.kind == "unix":
                await self._listen_unix(backlog)
            elif self.kind == "tcp":
                await self._listen_tcp(backlog)
            else:
                for fd in self.fds:
                    sock = socket.socket(fileno=fd)
                    sock.setblocking(False)
                    self.listeners.append(await anyio.abc.SocketListener.from_socket(sock))
        except OSError as exc:
            for listener in self.listeners:
                await listener.aclose()
            self.listeners.clear()
            if isinstance(exc, BindError):
                raise
            raise BindError(self.endpoint, exc) from exc

    @property
    def endpoint(self) -> str:
        """The endpoint as configured, for messages: ``unix:///path``, ``tcp://host:port``,
        ``tls://host:port`` or ``fd:N,M``."""
        if self.kind == "unix":
            return f"unix://{self.path}"
        if self.kind == "fd":
            return "fd:" + ",".join(str(fd) for fd in self.fds)
        scheme = "tls" if self.tls_context is not None else "tcp"
        hosts = [self.host] if isinstance(self.host, str) or self.host is None else self.host
        return ", ".join(
            f"{scheme}://{_format_address((host or '*', self.port))}" for host in hosts
        )

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
            try:
                multi = await anyio.create_tcp_listener(
                    local_host=host, local_port=port, backlog=backlog, reuse_port=False
                )
            except OSError as exc:
                scheme = "tls" if self.tls_context is not None else "tcp"
                where = f"{scheme}://{_format_address((host or '*', port))}"
                raise BindError(where, exc) from exc
            for listener in multi.listeners:
                assert isinstance(listener, anyio.abc.SocketListener)
                self.listeners.append(listener)
            if port == 0 and self.listeners:
                # Every address of a service shares the port the kernel chose first.
                port = int(self.listeners[0].extra(SocketAttribute.local_address)[1])

    async def _listen_unix(self, backlog: int) -> None:
        assert self.path is not None
        gid = None
        if self.group is not None:
            # Resolve the group before binding, so that a bad name leaves nothing behind.
            if isinstance(self.group, int):
                gid = self.group
            else:
                try:
                    gid = grp.getgrnam(self.group).gr_gid
                except KeyError:
                    raise OSError(errno.EINVAL, f"unknown group {self.group!r}") from None
        sock = await anyio.to_thread.run_sync(
            _bind_unix_socket, self.path, self.mode, gid, backlog
        )
        try:
            listener = await anyio.abc.SocketListener.from_socket(sock)
        except BaseException:
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
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


class BindError(OSError):
    """A service could not listen; the message names the endpoint (``errno`` and
    ``strerror`` are those of the underlying error)."""

    def __init__(self, endpoint: str, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.endpoint = endpoint

    def __str__(self) -> str:
        reason = self.strerror or "error"
        return f"cannot listen on {self.endpoint}: {reason[:1].lower()}{reason[1:]}"


def _check_stale_socket(path: str) -> None:
    """Unlink *path* if it is a unix socket nobody listens on; refuse if someone does.

    Only a refused connection proves the socket is dead.  A listener whose backlog is full
    makes a non-blocking connect fail with EAGAIN: that server is alive (merely busy) and its
    socket must stay.  Any other failure (no permission to connect ...) is reported, never
    taken as a licence to delete.
    """
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing there; creating the socket reports a bad directory
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(errno.EEXIST, "a file that is not a socket is in the way")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.setblocking(False)
        probe.connect(path)
    except ConnectionRefusedError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except FileNotFoundError:
        return
    except BlockingIOError:
        pass  # backlog full: a live (busy) server
    except OSError as exc:
        raise OSError(exc.errno, f"cannot check the existing socket: {exc.strerror}") from None
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, "a server is already listening on this socket")


def _bind_unix_socket(path: str, mode: int, gid: int | None, backlog: int) -> socket.socket:
    """A listening unix socket at *path* with permissions *mode* (and group *gid*).

    The socket never exists at *path* with looser permissions, and the process umask is
    never touched (other tasks and threads may be creating files meanwhile): the socket is
    bound inside a private directory (mode 0700, next to *path*), given its mode and group
    there, starts listening, and is then hard-linked into place, which also fails instead of
    replacing a socket another server created meanwhile.  When the private name would be
    too long for a socket address, the socket is bound at *path* directly and its mode set
    before ``listen()``: until then every connection attempt is refused.
    """
    _check_stale_socket(path)
    directory = os.path.dirname(path) or "."
    try:
        private = tempfile.mkdtemp(prefix=".bind-", dir=directory)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise OSError(exc.errno, f"cannot create a socket in {directory}: {reason}") from None
    temp = os.path.join(private, "s")
    if len(os.fsencode(temp)) >= _UNIX_PATH_MAX:
        os.rmdir(private)
        private = ""
        temp = path
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = published = False
    try:
        try:
            sock.bind(temp)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and not private:
                raise OSError(errno.EADDRINUSE, "a server is already listening on this socket") \
                    from None
            raise
        bound = True
        os.chmod(temp, mode)
        if gid is not None:
            os.chown(temp, -1, gid)
        sock.listen(backlog)
        sock.setblocking(False)
        if private:
            try:
                os.link(temp, path)
            except FileExistsError:
                raise OSError(
                    errno.EADDRINUSE, "a server is already listening on this socket"
                ) from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                os.rename(temp, path)  # a file system without hard links
        published = True
        return sock
    except BaseException:
        sock.close()
        if bound and not private and not published:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    finally:
        if private:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            with contextlib.suppress(OSError):
                os.rmdir(private)


#: sizeof(sockaddr_un.sun_path) on Linux
_UNIX_PATH_MAX = 108
