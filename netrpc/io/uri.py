"""libvirt connection URIs, read as libvirt 9.0's remote driver reads them.

``driver[+transport]://[user@][host][:port]/path[?param=value&...]`` names a driver
(``test``, ``qemu``, ...), how to reach the daemon, and the URI the daemon opens.
:func:`parse_uri` turns one into a :class:`LibvirtURI`; its methods give what the remote
driver would use: the unix socket path (:meth:`LibvirtURI.unix_socket`, with libvirt's
defaults), the TCP/TLS port, the ``ssh`` command line (:meth:`LibvirtURI.ssh_argv`, the same
argv as libvirt's, in netcat or virt-ssh-helper mode) and the ``ext`` command, and the name
to send in ``CONNECT_OPEN`` (:attr:`LibvirtURI.name`).

Parameters the remote driver consumes (``socket``, ``command``, ``netcat``, ``keyfile``,
``pkipath``, ``no_verify``, ``no_tty``, ``no_sanity``, ``mode``, ``proxy``, ``name``, ...)
are removed from :attr:`LibvirtURI.name`; the others are passed on to the daemon.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import quote, unquote, urlsplit

__all__ = (
    "DEFAULT_TCP_PORT",
    "DEFAULT_TLS_PORT",
    "LibvirtURI",
    "URIError",
    "parse_uri",
    "shell_escape",
    "ssh_helper_command",
)

#: LIBVIRTD_TCP_PORT
DEFAULT_TCP_PORT: Final = 16509
#: LIBVIRTD_TLS_PORT
DEFAULT_TLS_PORT: Final = 16514

Transport = Literal["unix", "tcp", "tls", "ssh", "ext", "libssh", "libssh2"]
#: how an ssh transport reaches the daemon's socket (the URI parameter "proxy")
Proxy = Literal["auto", "netcat", "native"]
_PROXIES: Final[dict[str, Proxy]] = {name: name for name in ("auto", "netcat", "native")}
_TRANSPORTS: Final[dict[str, Transport]] = {
    name: name for name in ("tls", "unix", "ssh", "libssh2", "ext", "tcp", "libssh")
}

# Parameters libvirt's remote driver takes for itself (EXTRACT_URI_ARG_* in doRemoteOpen).
_DRIVER_PARAMS: Final = frozenset({
    "name", "command", "socket", "auth", "sshauth", "netcat", "keyfile", "pkipath",
    "known_hosts", "known_hosts_verify", "tls_priority", "mode", "proxy", "no_sanity",
    "no_verify", "no_tty", "authfile",
})  # fmt: skip

# virBufferEscapeShell quotes a string only if it has one of these.
_SHELL_SPECIAL = re.compile(r"[\r\t\n !\"#$&'()*;<>?\[\\\]^`{|}~]")

# LOCALSTATEDIR "/run/libvirt": libvirt builds the path from /var so that it also works on
# remote hosts without /run.
_SYSTEM_SOCKET_DIR: Final = "/var/run/libvirt"


class URIError(ValueError):
    """A URI the remote driver would refuse; the message is libvirt's."""


def shell_escape(text: str) -> str:
    """Quote *text* for ``/bin/sh`` exactly as libvirt's ``virBufferEscapeShell`` does."""
    if not text:
        return "''"
    if not _SHELL_SPECIAL.search(text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def _double_escape(text: str) -> str:
    # The remote sshd runs the command through a shell, which runs "sh -c '...'": two
    # levels of quoting (virNetClientDoubleEscapeShell).
    return shell_escape(shell_escape(text))


def ssh_helper_command(
    proxy: Proxy,
    *,
    netcat: str | None,
    socket: str,
    driver_uri: str,
    readonly: bool,
) -> str:
    """The remote command libvirt runs over ssh (virNetClientSSHHelperCommand).

    ``netcat`` mode pipes through ``nc -U SOCKET``; ``native`` runs ``virt-ssh-helper
    DRIVER_URI``, which finds the daemon's socket on the remote host itself; ``auto`` uses
    virt-ssh-helper when the remote host has it, else netcat.

    :raises URIError: for a netcat path with the native mode.
    """
    if proxy == "auto" and netcat is not None:
        proxy = "netcat"
    nc = _double_escape(netcat or "nc")
    nccmd = (
        f"if '{nc}' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then "
        "ARG=-q0;"
        "else "
        "ARG=;"
        "fi;"
        f"'{nc}' $ARG -U {socket}"
    )
    helper = f"virt-ssh-helper{' -r ' if readonly else ' '}'{_double_escape(driver_uri)}'"
    if proxy == "auto":
        return (
            "sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; "
            "if test $? = 0; then "
            f"    {helper}; "
            "else"
            f"    {nccmd}; "
            "fi'"
        )
    if proxy == "netcat":
        return f"sh -c '{nccmd}'"
    if netcat is not None:
        raise URIError("invalid argument: netcat path not valid with native proxy mode")
    return f"sh -c '{helper}'"


@dataclass(frozen=True, slots=True, kw_only=True)
class LibvirtURI:
    """A parsed connection URI.

    :ivar uri: the URI as given.
    :ivar driver: the driver part of the scheme (``test`` in ``test+ssh://``).
    :ivar transport: ``unix``, ``tcp``, ``tls``, ``ssh``, ``ext``, ``libssh`` or ``libssh2``.
    :ivar host: the server (None when the URI names none).
    :ivar port: the port given in the URI (None when none is).
    :ivar user: the user name given in the URI.
    :ivar path: the path (``/default``, ``/system``, ``/ABS/PATH.xml``).
    :ivar params: every query parameter, decoded, in order.
    """

    uri: str
    driver: str
    transport: Transport
    host: str | None
    port: int | None
    user: str | None
    path: str
    params: tuple[tuple[str, str], ...] = field(default=())

    def param(self, name: str) -> str | None:
        """The last value of query parameter *name* (matched without case), or None."""
        value = None
        for key, val in self.params:
            if key.lower() == name:
                value = val
        return value

    def flag(self, name: str) -> bool:
        """A boolean parameter (``no_verify=1``).

        :raises URIError: for a value that is not an integer, as libvirt refuses it.
        """
        value = self.param(name)
        if value is None:
            return False
        try:
            return int(value) != 0
        except ValueError:
            raise URIError(f"Failed to parse value of URI component {name}") from None

    @property
    def hostname(self) -> str:
        """The server to connect to: the URI's host, else ``localhost``."""
        return self.host or "localhost"

    @property
    def tcp_port(self) -> int:
        """The TCP port: the URI's, else 16509 (tcp) or 16514 (tls)."""
        if self.port is not None:
            return self.port
        return DEFAULT_TLS_PORT if self.transport == "tls" else DEFAULT_TCP_PORT

    @property
    def name(self) -> str:
        """The URI the daemon is asked to open (``CONNECT_OPEN``): the ``name`` parameter,
        or this URI without transport, server and the remote driver's own parameters
        (``test+ssh://host/default?socket=...`` → ``test:///default``); empty for the
        ``remote`` driver, which lets the daemon choose."""
        explicit = self.param("name")
        if explicit is not None:
            return explicit
        if self.driver == "remote":
            return ""
        query = "&".join(
            f"{quote(key, safe='')}={quote(value, safe='/:@,')}"
            for key, value in self.params
            if key.lower() not in _DRIVER_PARAMS
        )
        return f"{self.driver}://{quote(self.path, safe='/:@')}" + (f"?{query}" if query else "")

    @property
    def session(self) -> bool:
        """True when libvirt would use the per-user daemon (REMOTE_DRIVER_OPEN_USER): an
        unprivileged process opening a ``/session`` URI or a ``test+...`` one."""
        return os.geteuid() > 0 and (
            self.path == "/session" or self.uri.split(":", 1)[0].startswith("test+")
        )

    # ------------------------------------------------------------------ unix sockets

    def unix_socket(
        self,
        *,
        readonly: bool = False,
        exists: Callable[[str], bool] = os.path.exists,
        environ: Mapping[str, str] | None = None,
    ) -> str:
        """The unix socket the remote driver connects to (remoteGetUNIXSocket).

        The ``socket`` parameter wins.  Otherwise, for the system daemons, the per-driver
        socket ``/var/run/libvirt/virt<driver>d-sock`` when it exists ("direct" mode), else
        libvirtd's ``/var/run/libvirt/libvirt-sock`` (``-sock-ro`` read-only); ``mode=legacy``
        or ``mode=direct`` choose.  Session daemons use ``$XDG_RUNTIME_DIR/libvirt``.

        :raises URIError: for an unknown ``mode`` or ``direct`` with a non-unix transport.
        """
        given = self.param("socket")
        if given is not None:
            return given
        mode = (self.param("mode") or "auto").lower()
        if mode not in ("auto", "legacy", "direct"):
            raise URIError(f"Unknown remote mode '{mode}'")
        if self.driver and self.driver != "remote":
            direct = self._socket_name(f"virt{self.driver}d", readonly, environ)
        else:
            direct = self._socket_name("libvirt", readonly, environ)
        legacy = self._socket_name("libvirt", readonly, environ)
        if mode == "auto":
            if self.transport == "unix" and exists(direct):
                mode = "direct"
            else:
                mode = "legacy"
        if mode == "direct":
            if self.transport != "unix":
                raise URIError(
                    "Operation not supported: Cannot use direct socket mode for "
                    f"{self.transport} transport"
                )
            return direct
        return legacy

    def _socket_name(
        self, prefix: str, readonly: bool, environ: Mapping[str, str] | None
    ) -> str:
        if self.session:
            env = os.environ if environ is None else environ
            runtime = env.get("XDG_RUNTIME_DIR")
            base = (
                os.path.join(runtime, "libvirt")
                if runtime
                else os.path.join(os.path.expanduser("~"), ".cache", "libvirt")
            )
            return f"{base}/{prefix}-sock"
        return f"{_SYSTEM_SOCKET_DIR}/{prefix}-{'sock-ro' if readonly else 'sock'}"

    # ------------------------------------------------------------------ ssh and ext

    def ssh_argv(self, *, readonly: bool = False) -> list[str]:
        """The ssh command line of libvirt's ``ssh`` transport (virNetSocketNewConnectSSH
        with virNetClientSSHHelperCommand): ``ssh [-p PORT] [-l USER] [-i KEYFILE] -T -e
        none [-o BatchMode=yes] [-o StrictHostKeyChecking=no] -- HOST COMMAND``.

        ``command=`` replaces the ssh binary, ``proxy=`` chooses between netcat and
        virt-ssh-helper (default: netcat when ``socket=`` is given, virt-ssh-helper for a
        session daemon, else whichever the remote host has).
        """
        proxy_param = self.param("proxy")
        proxy: Proxy
        if proxy_param is not None:
            known = _PROXIES.get(proxy_param)
            if known is None:
                raise URIError(f"Unnkown proxy type '{proxy_param}'")
            proxy = known
        elif self.param("socket") is not None:
            proxy = "netcat"
        elif self.session:
            proxy = "native"
        else:
            proxy = "auto"
        remote = ssh_helper_command(
            proxy,
            netcat=self.param("netcat"),
            socket=self.unix_socket(readonly=readonly),
            driver_uri=self.name,
            readonly=readonly,
        )
        argv = [self.param("command") or "ssh"]
        if self.port is not None:
            argv += ["-p", str(self.port)]
        if self.user:
            argv += ["-l", self.user]
        keyfile = self.param("keyfile")
        if keyfile:
            argv += ["-i", keyfile]
        argv += ["-T", "-e", "none"]
        if self.flag("no_tty"):
            argv += ["-o", "BatchMode=yes"]
        if self.flag("no_verify"):
            argv += ["-o", "StrictHostKeyChecking=no"]
        argv += ["--", self.hostname, remote]
        return argv

    def ext_argv(self) -> list[str]:
        """The ``ext`` transport's command: the ``command`` parameter, run with no
        arguments.

        :raises URIError: when there is none.
        """
        command = self.param("command")
        if not command:
            raise URIError("remote_open: for 'ext' transport, command is required")
        return [command]


def parse_uri(uri: str) -> LibvirtURI:
    """Read a libvirt connection URI.

    :raises URIError: for an unknown transport, a unix transport with a server, or a URI
        that cannot be parsed (libvirt's messages).
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise URIError(f"Unable to parse URI {uri}: {exc}") from None
    scheme = uri.split(":", 1)[0]
    if not parts.scheme or "://" not in uri:
        raise URIError(f"Unable to parse URI {uri}")
    driver, plus, transport_text = scheme.partition("+")
    host = parts.hostname
    if host is not None:
        host = unquote(host)
    transport: Transport
    if plus:
        lowered = transport_text.lower()
        known = _TRANSPORTS.get(lowered)
        if known is None:
            raise URIError(
                "remote_open: transport in URL not recognised "
                "(should be tls|unix|ssh|ext|tcp|libssh2|libssh)"
            )
        transport = known
        if transport == "unix" and host:
            raise URIError(f"using unix socket and remote server '{host}' is not supported.")
    else:
        transport = "tls" if host else "unix"
    params = tuple(
        (unquote(key), unquote(value))
        for key, _, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    user = unquote(parts.username) if parts.username else None
    return LibvirtURI(
        uri=uri,
        driver=driver,
        transport=transport,
        host=host or None,
        port=port,
        user=user,
        path=unquote(parts.path),
        params=params,
    )
