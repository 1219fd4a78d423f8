"""Wiring of the testvirtd daemon: hypervisor, programs, server, listeners, state file.

:class:`TestVirtd` is what ``python -m daemons.testvirtd`` runs, and what tests start in
process.  Signal handling and the graceful shutdown come from :class:`netrpc.Daemon`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
from anyio.abc import TaskStatus

from netrpc import Daemon, Server, Service, Transport
from netrpc.admin.config import ConfigError, ConfigKey, DaemonConfig
from netrpc.admin.faults import FaultControlProgram
from netrpc.admin.logconfig import LogConfig
from netrpc.admin.program import enable_admin
from netrpc.discovery.mdns import Advertiser
from netrpc.io.server.faults import FaultInjector
from netrpc.io.server.service import AuthPolicy
from netrpc.security.sasl import SASLConfig, SASLConfigError
from netrpc.security.tls import TLSContext

from .domxml import VirtError
from .faults import remote_procedure_number
from .hypervisor import Hypervisor, StateFileError
from .lxc import LxcProgram
from .persist import StateFile, persist_calls, remove_leftovers
from .qemu import QemuProgram
from .qmp_sockets import QmpSockets
from .remote import RemoteProgram
from .remote_types import REMOTE_PROGRAM

__all__ = (
    "AUTH_KEYS",
    "CONFIG_KEYS",
    "DEFAULT_TCP_PORT",
    "DEFAULT_URI",
    "DRIVER_SOCKET",
    "DRIVER_SOCKET_RO",
    "SERVER_NAME",
    "Listen",
    "ListenError",
    "TestVirtd",
    "check_default_uri",
    "default_admin_socket",
    "default_listens",
    "default_qmp_dir",
    "load_hypervisor",
    "parse_listen",
    "runtime_dir",
    "sasl_from_config",
)

log = logging.getLogger("testvirtd")

DEFAULT_URI = "test:///default"
SERVER_NAME = "testvirtd"
ADMIN_SOCKET_NAME = "libvirt-admin-sock"
DEFAULT_TCP_PORT = 16509
DEFAULT_TLS_PORT = 16514
#: where libvirt's clients look for a daemon of the test driver (``virttestd``) before
#: libvirtd's own socket: virt-ssh-helper, and ``test+unix:///default`` run as root
DRIVER_SOCKET = "/run/libvirt/virttestd-sock"
DRIVER_SOCKET_RO = "/run/libvirt/virttestd-sock-ro"


#: the libvirtd.conf key that sets the authentication of each kind of endpoint
AUTH_KEYS = {"unix": "auth_unix_rw", "unix-ro": "auth_unix_ro", "tcp": "auth_tcp",
             "tls": "auth_tls"}

#: testvirtd's own configuration keys, besides libvirtd's (libvirtd reads these from its
#: Cyrus SASL configuration, /etc/sasl2/libvirt.conf)
CONFIG_KEYS = {
    "sasl_mech_list": ConfigKey(
        "list", None, "SASL mechanisms offered, in order: scram-sha-256, gssapi "
        "(default: those configured below)"
    ),
    "sasl_passwd_file": ConfigKey(
        "string", None, "SCRAM-SHA-256 verifiers, made with netrpc-passwd FILE USER"
    ),
    "sasl_keytab": ConfigKey(
        "string", None, "GSSAPI keytab with libvirt/<host name> (default: KRB5_KTNAME)"
    ),
}


class ListenError(ValueError):
    """A ``--listen`` URI that cannot be used."""


@dataclass(frozen=True, slots=True)
class Listen:
    """One endpoint to listen on: ``unix``, ``unix-ro`` (read-only), ``tcp`` or ``tls``."""

    kind: Literal["unix", "unix-ro", "tcp", "tls"]
    path: str = ""
    host: str = ""
    port: int = 0

    def service(
        self,
        tls_context: TLSContext | None = None,
        *,
        auth: str = "none",
        sasl: SASLConfig | None = None,
        mode: int | None = None,
        group: str | None = None,
    ) -> Service:
        """The netrpc service for this endpoint (*tls_context* is needed for ``tls``).

        :param auth: ``"none"`` or ``"sasl"`` (libvirtd's ``auth_*`` value); on TLS
            "none" means the client certificate check alone.
        :param sasl: the SASL policy, for ``auth="sasl"``.
        :param mode: a unix socket's permissions (default 0600, read-only 0666).
        :param group: a unix socket's group (``unix_sock_group``).
        """
        policy: AuthPolicy = "sasl" if auth == "sasl" else "none"
        if self.kind == "tcp":
            return Service.tcp(self.host, self.port, auth=policy, sasl=sasl)
        if self.kind == "tls":
            if tls_context is None:
                raise ListenError(f"tls://{self.host}:{self.port} needs TLS credentials (--pki)")
            return Service.tls(
                tls_context, self.host, self.port, auth="sasl" if auth == "sasl" else "tls",
                sasl=sasl,
            )
        directory = os.path.dirname(self.path)
        if directory:
            try:
                os.makedirs(directory, mode=0o755, exist_ok=True)
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                raise OSError(
                    exc.errno,
                    f"cannot listen on {self.kind}://{self.path}: cannot create the socket "
                    f"directory {directory}: {reason}",
                ) from None
        if self.kind == "unix-ro":
            return Service.unix(
                self.path, mode=0o666 if mode is None else mode, group=group, readonly=True,
                auth=policy, sasl=sasl,
            )
        return Service.unix(
            self.path, mode=0o600 if mode is None else mode, group=group, auth=policy, sasl=sasl
        )


def parse_listen(uri: str) -> Listen:
    """Parse ``unix:///path``, ``unix-ro:///path``, ``tcp://HOST:PORT`` or
    ``tls://HOST:PORT`` (the port defaults to 16509 for tcp and 16514 for tls).

    :raises ListenError: for anything else.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise ListenError(f"bad listen URI {uri!r}: {exc}") from None
    if parts.scheme in ("unix", "unix-ro"):
        if parts.netloc or not parts.path.startswith("/"):
            raise ListenError(f"bad listen URI {uri!r}: want {parts.scheme}:///absolute/path")
        kind: Literal["unix", "unix-ro"] = "unix" if parts.scheme == "unix" else "unix-ro"
        return Listen(kind, path=parts.path)
    if parts.scheme in ("tcp", "tls"):
        if not parts.hostname:
            raise ListenError(f"bad listen URI {uri!r}: want {parts.scheme}://HOST:PORT")
        if port is None:
            port = DEFAULT_TCP_PORT if parts.scheme == "tcp" else DEFAULT_TLS_PORT
        kind_net: Literal["tcp", "tls"] = "tcp" if parts.scheme == "tcp" else "tls"
        return Listen(kind_net, host=parts.hostname, port=port)
    raise ListenError(f"bad listen URI {uri!r}: the scheme must be unix, unix-ro, tcp or tls")


def check_default_uri(uri: str) -> str:
    """*uri* if it can be the default URI: ``test:///PATH`` (e.g. ``test:///default``),
    ``qemu:///system`` or ``qemu:///session``.

    :raises ValueError: naming the value, for anything else.
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        parts = None
    scheme = uri.split(":", 1)[0]
    ok = (
        parts is not None
        and uri.startswith(f"{scheme}:///")
        and not (parts.netloc or parts.query or parts.fragment)
        and (
            (scheme == "test" and len(parts.path) > 1)
            or (scheme == "qemu" and parts.path in ("/system", "/session"))
        )
    )
    if not ok:
        raise ValueError(
            f"bad default URI {uri!r}: want test:///PATH (e.g. test:///default), "
            "qemu:///system or qemu:///session"
        )
    return uri


def runtime_dir() -> str:
    """Where the default unix sockets go: $XDG_RUNTIME_DIR/testvirtd, /run/testvirtd for
    root, else a per-user directory under the temp dir."""
    if os.geteuid() == 0:
        return "/run/testvirtd"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return os.path.join(xdg, "testvirtd")
    return os.path.join(tempfile.gettempdir(), f"testvirtd-{os.geteuid()}")


def default_listens() -> list[Listen]:
    """``libvirt-sock`` and ``libvirt-sock-ro`` in :func:`runtime_dir`, TCP 127.0.0.1:16509."""
    directory = runtime_dir()
    return [
        Listen("unix", path=os.path.join(directory, "libvirt-sock")),
        Listen("unix-ro", path=os.path.join(directory, "libvirt-sock-ro")),
        Listen("tcp", host="127.0.0.1", port=DEFAULT_TCP_PORT),
    ]


def default_admin_socket(listens: Sequence[Listen]) -> str:
    """``libvirt-admin-sock`` next to the first read-write unix socket (as libvirtd puts it
    in ``unix_sock_dir``), else in :func:`runtime_dir`."""
    for listen in listens:
        if listen.kind == "unix":
            return os.path.join(os.path.dirname(listen.path), ADMIN_SOCKET_NAME)
    return os.path.join(runtime_dir(), ADMIN_SOCKET_NAME)


def auth_of(config: DaemonConfig, kind: str) -> str:
    """The ``auth_*`` setting for an endpoint kind ("none" when unset).

    :raises ConfigError: for "polkit", which testvirtd does not implement.
    """
    key = AUTH_KEYS[kind]
    value = getattr(config, key) or "none"
    if value == "polkit":
        raise ConfigError(
            config.source or "<config>", 0,
            'polkit authentication is not supported by testvirtd (use "none" or "sasl")', key,
        )
    return str(value)


def sasl_from_config(config: DaemonConfig, listens: Sequence[Listen]) -> SASLConfig | None:
    """The SASL policy the configuration asks for, or None when no endpoint uses SASL.

    Mechanisms: ``sasl_mech_list``, by default SCRAM-SHA-256 when ``sasl_passwd_file`` is
    set and GSSAPI when ``sasl_keytab`` (or ``KRB5_KTNAME``) is.

    :raises ConfigError: naming the setting that cannot work.
    """
    source = config.source or "<config>"
    sasl_keys = [AUTH_KEYS[listen.kind] for listen in listens
                 if auth_of(config, listen.kind) == "sasl"]
    for kind in AUTH_KEYS:
        auth_of(config, kind)
    if not sasl_keys:
        return None
    extra = config.extra
    passwd = extra.get("sasl_passwd_file")
    keytab = extra.get("sasl_keytab")
    mechs = extra.get("sasl_mech_list")
    if mechs is None:
        mechs = []
        if passwd:
            mechs.append("scram-sha-256")
        if keytab or os.environ.get("KRB5_KTNAME"):
            mechs.append("gssapi")
        if not mechs:
            raise ConfigError(
                source, 0, 'auth "sasl" needs sasl_passwd_file (SCRAM-SHA-256) or '
                "sasl_keytab (GSSAPI)", sasl_keys[0],
            )
    elif not mechs:
        raise ConfigError(source, 0, "no mechanism listed", "sasl_mech_list")
    try:
        sasl = SASLConfig(
            mechs, password_file=passwd, keytab=keytab,
            allowed_usernames=config.sasl_allowed_username_list,
            tcp_min_ssf=config.tcp_min_ssf,
        )
    except SASLConfigError as exc:
        text = str(exc)
        if "mechanism" in text:
            key = "sasl_mech_list"
        elif "password" in text:
            key = "sasl_passwd_file"
        else:
            key = "sasl_keytab"
        raise ConfigError(source, 0, text, key) from None
    if "auth_tcp" in sasl_keys and not sasl.offered(sasl.properties(Transport.TCP)):
        log.warning(
            'auth_tcp = "sasl": none of %s meets tcp_min_ssf %d on plain TCP (SCRAM-SHA-256 '
            "is only offered on unix sockets and TLS); TCP clients cannot log in",
            ", ".join(sasl.mechanisms), sasl.tcp_min_ssf,
        )
    return sasl


def load_hypervisor(state_file: str | None, default_uri: str = DEFAULT_URI) -> Hypervisor:
    """A fresh hypervisor, or the one saved in *state_file* when that exists.

    :raises StateFileError: when the file exists but cannot be used (never replaced).
    """
    flavour: Literal["test", "qemu"] = (
        "qemu" if urlsplit(default_uri).scheme == "qemu" else "test"
    )
    if state_file is not None:
        remove_leftovers(state_file)  # temporary files of a save a crash interrupted
    if state_file is not None and os.path.exists(state_file):
        return Hypervisor.load(state_file)
    hv = Hypervisor(flavour=flavour)
    if state_file is not None:
        try:
            hv.save(state_file)
        except OSError as exc:
            hv.close()
            raise StateFileError(f"{state_file}: cannot write state file: {exc.strerror}") \
                from exc
    return hv


class TestVirtd:
    """The daemon: a "testvirtd" server with the REMOTE, QEMU and LXC programs, and (unless
    disabled) an "admin" server on its own unix socket for virt-admin.

    :param hv: the hypervisor (see :func:`load_hypervisor`).
    :param listens: endpoints to listen on.
    :param default_uri: what clients that send an empty URI get.
    :param state_file: save the hypervisor here after every change.
    :param admin_socket: path of the admin socket, or None for no admin server.
    :param config: settings from a configuration file (limits, logging, admin_*).
    :param log_config: the logging configuration the admin program reports and changes.
    :param mdns: advertise the TCP/TLS endpoints over mDNS.
    :param mdns_name: the mDNS instance name (default "Virtualization Host <host>").
    :param tls_context: server credentials for ``tls`` endpoints.
    :param sasl: the SASL policy of endpoints whose ``auth_*`` is "sasl" (see
        :func:`sasl_from_config`).
    :param qmp_dir: serve a QMP socket ``<qmp_dir>/<domain>.sock`` for every running
        domain (None: no QMP sockets); see :func:`default_qmp_dir`.
    :param keep_state: keep test:///default's state when its last connection closes
        (libvirtd's test driver discards it; ``state_file`` implies keeping it).
    :param faults: fault rules active from the start (see :mod:`~netrpc.io.server.faults`); more can
        be added at run time through :attr:`faults` or, from another process, through the
        fault control program served on the admin socket.
    :param server_options: passed to :class:`netrpc.Server` (limits, keepalive ...);
        they override *config*.
    """

    def __init__(
        self,
        hv: Hypervisor,
        listens: Sequence[Listen],
        *,
        default_uri: str = DEFAULT_URI,
        state_file: str | None = None,
        idle_timeout: float | None = None,
        pid_file: str | None = None,
        admin_socket: str | None = None,
        config: DaemonConfig | None = None,
        log_config: LogConfig | None = None,
        mdns: bool = False,
        mdns_name: str | None = None,
        on_reload: Callable[[], None] | None = None,
        tls_context: TLSContext | None = None,
        qmp_dir: str | None = None,
        faults: Sequence[str] = (),
        sasl: SASLConfig | None = None,
        keep_state: bool = False,
        **server_options: Any,
    ) -> None:
        self.hv = hv
        self.listens = list(listens)
        self.default_uri = default_uri
        self.state_file = state_file
        self.config = config or DaemonConfig()
        self.log_config = log_config
        #: the state file's keeper (None without one)
        self.state = StateFile(hv, state_file) if state_file is not None else None
        #: whether test:///default's state survives its last connection (libvirtd discards
        #: it); a state file, or a QEMU flavoured instance, always keeps it
        self.keep_state = keep_state or state_file is not None or hv.flavour == "qemu"
        self.remote = RemoteProgram(
            hv, default_uri=default_uri,
            on_change=self.state.changed if self.state is not None else None,
            keep_shared=self.keep_state,
        )
        self.qemu = QemuProgram(self.remote)
        if self.state is not None:
            # calls that change the state are answered once the change is on disk
            persist_calls(self.remote, self.state)
            persist_calls(self.qemu, self.state)
        self.lxc = LxcProgram(self.remote)
        hv.on_reset.append(self.qemu.reset)  # monitors and agents go with the state
        options = {**self.config.server_options(), **server_options}
        self.server = Server(SERVER_NAME, programs=[self.remote, self.qemu, self.lxc], **options)
        self.tls_context = tls_context
        self.sasl = sasl
        self.services = [
            self.server.add_service(
                listen.service(
                    tls_context, auth=auth_of(self.config, listen.kind), sasl=sasl,
                    mode=self._socket_mode(listen.kind), group=self.config.unix_sock_group,
                )
            )
            for listen in self.listens
        ]
        #: the fault rules of the "testvirtd" server (calls of the REMOTE program)
        self.faults = FaultInjector(
            self.server, program=REMOTE_PROGRAM, resolve=remote_procedure_number
        )
        for rule in faults:
            self.faults.add(rule)
        self.daemon = Daemon(
            [self.server], pid_file=pid_file, idle_timeout=idle_timeout, on_reload=on_reload
        )
        self.admin_socket = admin_socket
        self.admin_server: Server | None = None
        if admin_socket is not None:
            self.admin_server = enable_admin(
                self.daemon, admin_socket, log_config=log_config, **self.config.admin_options()
            )
            self.admin_server.add_program(FaultControlProgram(self.faults, reset=self.reset))
        self.mdns = mdns
        self.mdns_name = mdns_name
        self.qmp_sockets = QmpSockets(self.qemu, qmp_dir) if qmp_dir is not None else None

    def _socket_mode(self, kind: str) -> int | None:
        """``unix_sock_rw_perms`` / ``unix_sock_ro_perms`` when the file sets them."""
        key = {"unix": "unix_sock_rw_perms", "unix-ro": "unix_sock_ro_perms"}.get(kind)
        if key is None or key not in self.config.lines:
            return None
        return int(getattr(self.config, key), 8)

    def save(self) -> None:
        """Write the state file now (synchronously), if there is one.

        :raises VirtError: (a system error naming the file) when it cannot be written.
        """
        if self.state is not None:
            self.state.save_now()

    async def reset(self) -> None:
        """Start over with fresh state, as a newly opened ``test:///default``.

        Clears the fault rules, closes every client connection (and waits until they are
        gone, so nothing they registered survives), then resets the hypervisor and the
        programs' event registrations.  The admin server's connections stay.
        """
        self.faults.clear()
        clients = list(self.server.clients.values())
        for client in clients:
            client.close("state reset")
        with anyio.move_on_after(5):
            for client in clients:
                await client.closed_event.wait()
        self.hv.reset()  # (the QEMU program resets with it: a Hypervisor.on_reset hook)
        self.remote.reset()
        if self.state is not None:
            self.state.changed()
            await self.state.flush()

    async def run(self, *, task_status: TaskStatus[TestVirtd] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Serve until a signal or :meth:`shutdown`; reports itself once listening."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self.mdns:
                    advertiser = await stack.enter_async_context(Advertiser())
                    parts = urlsplit(self.default_uri)
                    self.server.advertise(
                        advertiser,
                        name=self.mdns_name,
                        txt={"driver": parts.scheme or "test", "path": parts.path or "/"},
                    )
                async with anyio.create_task_group() as tg:
                    await tg.start(self._serve_with_qmp_sockets)
                    task_status.started(self)
        finally:
            self.remote.close()
            self.qemu.close()
            if self.state is not None and self.state.dirty:
                try:
                    self.state.save_now()  # what changed since the last save
                except VirtError as exc:
                    log.error("%s", exc.message)

    # -------------------------------------------------------------- QMP sockets

    async def _serve_with_qmp_sockets(
        self, *, task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The netrpc daemon, plus the domains' QMP sockets for as long as it runs.

        The daemon's sockets are bound first: when they cannot be, the QMP directory is
        never created.
        """
        async with anyio.create_task_group() as tg:

            async def run_daemon(*, task_status: TaskStatus[Any]) -> None:
                await self.daemon.run(task_status=task_status)
                tg.cancel_scope.cancel()

            addresses = await tg.start(run_daemon)
            if self.qmp_sockets is not None:
                await tg.start(self.qmp_sockets.run)
            if self.state is not None:
                await tg.start(self.state.run)  # changes no call waits for
            task_status.started(addresses)

    def shutdown(self) -> None:
        """Stop gracefully (what SIGTERM does)."""
        self.daemon.shutdown()

    # -------------------------------------------------------------- addresses

    @property
    def tcp_ports(self) -> list[int]:
        """Bound TCP ports (after start)."""
        return sorted({p for s in self.services for p in s.ports})

    def client_uris(self) -> list[tuple[str, str]]:
        """``(uri, note)`` pairs a client should use, one per endpoint (after start)."""
        parts = urlsplit(self.default_uri)
        driver = parts.scheme or "test"
        path = parts.path or "/"
        out = []
        for listen, service in zip(self.listens, self.services, strict=True):
            notes = []
            if listen.kind == "unix-ro":
                notes.append("read-only")
            if listen.kind == "tls" and self.tls_context is not None:
                notes.append("client certificates: add ?pkipath=DIR")
            if service.auth == "sasl" and service.sasl is not None:
                offered = service.sasl.offered(service.sasl.properties(service.transport))
                notes.append(f"SASL login: {','.join(offered) or 'no usable mechanism'}")
            note = "; ".join(notes)
            if listen.kind in ("tcp", "tls"):
                for addr in service.addresses:
                    host, port = addr[0], addr[1]
                    host = f"[{host}]" if ":" in host else host
                    out.append((f"{driver}+{listen.kind}://{host}:{port}{path}", note))
            else:
                out.append((f"{driver}+unix://{path}?socket={listen.path}", note))
        return out

    def ready_text(self) -> str:
        """What the daemon prints once listening."""
        lines = ["testvirtd: serving " + self.default_uri]
        for uri, note in self.client_uris():
            quoted = f"'{uri}'" if "?" in uri else uri
            lines.append(f"  virsh -c {quoted}" + (f"    ({note})" if note else ""))
        if self.admin_socket is not None:
            lines.append(f"  virt-admin -c 'libvirtd:///system?socket={self.admin_socket}'")
        if self.qmp_sockets is not None:
            lines.append(f"  qmp: {self.qmp_sockets.path('<domain>')}")
        lines.append("ready")
        return "\n".join(lines) + "\n"


def default_qmp_dir(listens: Sequence[Listen]) -> str:
    """Where QMP sockets go by default: ``qmp/`` next to the first read-write unix socket,
    else in :func:`runtime_dir`."""
    for listen in listens:
        if listen.kind == "unix":
            return os.path.join(os.path.dirname(listen.path) or ".", "qmp")
    return os.path.join(runtime_dir(), "qmp")


def run_daemon(
    daemon: TestVirtd,
    *,
    backend: str = "asyncio",
    on_ready: Callable[[TestVirtd], None] | None = None,
) -> None:
    """Run *daemon* until it is told to stop (blocking)."""

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(daemon.run)
            if on_ready is not None:
                on_ready(daemon)

    anyio.run(main, backend=backend)
