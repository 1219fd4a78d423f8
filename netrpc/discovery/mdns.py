"""mDNS / DNS-SD: servers advertise themselves on the local network, and clients find them.

Advertising follows libvirt's historical convention (``mdns_adv`` in ``libvirtd.conf``): the
service type is ``_libvirt._tcp`` and the default instance name is
``"Virtualization Host <short hostname>"`` (see :func:`default_instance_name`). netrpc adds TXT
records, at least ``transport=tcp`` or ``transport=tls``, so that clients can build a URI.

Everything here works on both anyio backends (asyncio and trio). python-zeroconf is
asyncio-only, so each :class:`Advertiser` and :class:`ServiceWatcher` owns a synchronous
:class:`zeroconf.Zeroconf` that runs its own event loop in its own thread. Blocking calls go
through :func:`anyio.to_thread.run_sync`, and browser callbacks come back to the caller's
event loop through :func:`anyio.from_thread.run_sync`.

Advertising never stops a server from serving: :meth:`Advertiser.publish` logs failures on the
``netrpc.mdns`` logger and returns a failed :class:`Registration` instead of raising.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import enum
import ipaddress
import logging
import math
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Final, Literal, Protocol, Self, TypeAlias, final

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import ifaddr
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from zeroconf import (
    DNSQuestionType,
    InterfaceChoice,
    IPVersion,
    NonUniqueNameException,
    ServiceBrowser,
    ServiceInfo,
    ServiceNameAlreadyRegistered,
    ServiceStateChange,
    Zeroconf,
)

__all__ = (
    "DEFAULT_SERVICE_TYPE",
    "Advertiser",
    "DiscoveredServer",
    "DiscoveryEvent",
    "DiscoveryEventKind",
    "IPVersionChoice",
    "MDNSError",
    "Registration",
    "ServiceAdvertiser",
    "ServiceWatcher",
    "default_instance_name",
    "discover",
    "full_service_type",
    "short_service_type",
    "watch",
)

logger = logging.getLogger("netrpc.mdns")

DEFAULT_SERVICE_TYPE: Final = "_libvirt._tcp"
"""The DNS-SD service type of libvirt daemons (Avahi names it "Virtual Machine Manager")."""

IPVersionChoice: TypeAlias = Literal["v4", "v6", "all"]
"""Which IP versions to use for mDNS: ``"v4"``, ``"v6"`` or ``"all"``."""

_DEFAULT_NAME_PREFIX: Final = "Virtualization Host"
_MAX_LABEL_BYTES: Final = 63
_MAX_RENAMES: Final = 32
_RESOLVE_TIMEOUT: Final = 3.0
_IP_VERSIONS: Final[Mapping[str, IPVersion]] = {
    "v4": IPVersion.V4Only,
    "v6": IPVersion.V6Only,
    "all": IPVersion.All,
}

Interfaces: TypeAlias = Sequence[str | int] | None


class MDNSError(Exception):
    """Discovery could not start (for example, no usable network interface)."""


def default_instance_name(hostname: str | None = None) -> str:
    """Return libvirt's default mDNS instance name, ``"Virtualization Host <short hostname>"``.

    :param hostname: the host name to use; defaults to :func:`socket.gethostname`.
    :returns: the instance name, or ``"Virtualization Host"`` when the host name is empty.
    """
    short = (socket.gethostname() if hostname is None else hostname).split(".")[0].strip()
    return f"{_DEFAULT_NAME_PREFIX} {short}" if short else _DEFAULT_NAME_PREFIX


def full_service_type(type_: str) -> str:
    """``_libvirt._tcp.local.`` for ``_libvirt._tcp``, ``_libvirt._tcp.`` or itself.

    :raises ValueError: for an empty type.
    """
    t = type_.strip().rstrip(".")
    if t.endswith(".local"):
        t = t[: -len(".local")]
    if not t:
        raise ValueError("empty service type")
    return f"{t}.local."


def short_service_type(type_: str) -> str:
    """``_libvirt._tcp`` for any form :func:`full_service_type` accepts."""
    return full_service_type(type_)[: -len(".local.")]


def _host_name(host: str | None) -> str:
    """The SRV target: ``host`` or the short host name, as ``name.local.``."""
    h = (host if host is not None else socket.gethostname().split(".")[0]).strip().rstrip(".")
    if not h:
        h = "localhost"
    if not h.endswith(".local"):
        h += ".local"
    return h + "."


def _truncate_utf8(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode(errors="ignore").rstrip()


def _alternative_name(name: str, number: int) -> str:
    """The instance name to try after ``number - 1`` conflicts, Avahi style: ``"Name #2"``."""
    base = _truncate_utf8(name, _MAX_LABEL_BYTES)
    if number <= 1:
        return base
    suffix = f" #{number}"
    return _truncate_utf8(base, _MAX_LABEL_BYTES - len(suffix)) + suffix


def _zc_interfaces(interfaces: Interfaces) -> Sequence[str | int] | InterfaceChoice:
    return InterfaceChoice.All if interfaces is None else list(interfaces)


def _zc_ip_version(ip_version: IPVersionChoice | None) -> IPVersion | None:
    if ip_version is None:
        return None
    try:
        return _IP_VERSIONS[ip_version]
    except KeyError:
        raise ValueError(f"ip_version must be one of {sorted(_IP_VERSIONS)}") from None


def _open_zeroconf(interfaces: Interfaces, ip_version: IPVersionChoice | None) -> Zeroconf:
    """Create a Zeroconf instance that runs its own loop thread (blocking; call in a thread)."""
    return Zeroconf(
        interfaces=_zc_interfaces(interfaces),
        ip_version=_zc_ip_version(ip_version),
        use_asyncio=False,
    )


def _is_unspecified(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_unspecified
    except ValueError:
        return False


def _host_addresses(interfaces: Interfaces, ip_version: IPVersionChoice | None) -> list[str]:
    """The addresses to put in A/AAAA records when the caller gives none."""
    if interfaces is not None:
        explicit = [i for i in interfaces if isinstance(i, str) and not _is_unspecified(i)]
        if explicit:
            return explicit
    want_v4 = ip_version in (None, "v4", "all")
    want_v6 = ip_version in ("v6", "all")
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for adapter in ifaddr.get_adapters():
        if (
            interfaces is not None
            and adapter.index not in interfaces
            and adapter.name not in interfaces
        ):
            continue
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                if want_v4:
                    found.append(ipaddress.IPv4Address(ip.ip))
            elif want_v6:
                found.append(ipaddress.IPv6Address(ip.ip[0]))
    usable = [a for a in found if not a.is_loopback]
    return [str(a) for a in dict.fromkeys(usable or found)]


# --------------------------------------------------------------------------- advertising


@final
@dataclass(frozen=True, eq=False)
class Registration:
    """One service published by an :class:`Advertiser` (or an attempt that failed).

    Registrations compare by identity. Pass one back to :meth:`Advertiser.withdraw`; that is
    a no-op for a failed or already withdrawn registration.

    :ivar name: the instance name actually advertised (after conflict renaming).
    :ivar requested_name: the instance name that was asked for.
    :ivar type: the service type, e.g. ``"_libvirt._tcp"``.
    :ivar port: the advertised port.
    :ivar txt: the TXT records.
    :ivar server: the host name in the SRV record, e.g. ``"vm.local."``.
    :ivar addresses: the addresses in the A/AAAA records.
    :ivar error: why advertising failed, or ``None`` when it succeeded.
    """

    name: str
    requested_name: str
    type: str
    port: int
    txt: Mapping[str, str]
    server: str
    addresses: tuple[str, ...]
    error: str | None = None
    _info: ServiceInfo | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """``True`` when the service was advertised."""
        return self.error is None

    @property
    def renamed(self) -> bool:
        """``True`` when a name conflict forced a different instance name."""
        return self.ok and self.name != self.requested_name


class ServiceAdvertiser(Protocol):
    """What a server needs from an advertiser; :class:`Advertiser` implements it.

    Servers depend on this protocol only, so tests can pass a fake.
    """

    async def publish(
        self,
        *,
        name: str | None = None,
        port: int,
        type_: str = DEFAULT_SERVICE_TYPE,
        txt: Mapping[str, str] | None = None,
        host: str | None = None,
        addresses: Sequence[str] | None = None,
    ) -> Registration:
        """Advertise a service; never raises for network or zeroconf failures."""
        ...

    async def withdraw(self, registration: Registration) -> None:
        """Stop advertising a service (goodbye packets)."""
        ...

    async def aclose(self) -> None:
        """Withdraw everything and release the network resources."""
        ...


@final
class Advertiser:
    """Publishes DNS-SD services with python-zeroconf, on asyncio or trio.

    The zeroconf instance starts on the first :meth:`publish` and stops in :meth:`aclose`,
    which sends goodbye packets for everything still advertised. Use it as an async context
    manager, or call :meth:`aclose` yourself::

        async with Advertiser() as adv:
            reg = await adv.publish(port=16509, txt={"transport": "tcp"})
            ...
            await adv.withdraw(reg)

    :param interfaces: where to send and listen: IP addresses (``"10.0.0.5"``) or interface
        indexes. ``None`` means every interface (zeroconf's ``InterfaceChoice.All``).
    :param ip_version: ``"v4"``, ``"v6"`` or ``"all"``; ``None`` lets zeroconf decide (IPv4
        only for all interfaces, otherwise from the addresses given).
    :param probe: probe the network for name conflicts before announcing (RFC 6762 §8.1). This
        takes about 1.2 s. Only turn it off when names are known to be unique, since a
        duplicate then goes undetected.
    :param host: default host name for the SRV record; ``None`` means the short host name.
        ``.local.`` is appended when missing.
    """

    def __init__(
        self,
        *,
        interfaces: Interfaces = None,
        ip_version: IPVersionChoice | None = None,
        probe: bool = True,
        host: str | None = None,
    ) -> None:
        self._interfaces: tuple[str | int, ...] | None = (
            None if interfaces is None else tuple(interfaces)
        )
        self._ip_version = ip_version
        self._probe = probe
        self._host = host
        self._zc: Zeroconf | None = None
        self._lock = anyio.Lock()
        self._active: list[Registration] = []
        self._closed = False

    @property
    def registrations(self) -> tuple[Registration, ...]:
        """The services currently advertised."""
        return tuple(self._active)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def publish(
        self,
        *,
        name: str | None = None,
        port: int,
        type_: str = DEFAULT_SERVICE_TYPE,
        txt: Mapping[str, str] | None = None,
        host: str | None = None,
        addresses: Sequence[str] | None = None,
    ) -> Registration:
        """Advertise one service and return its :class:`Registration`.

        Returns once the service is announced: about 1.7 s with probing, 0.5 s without. When the
        name is already taken on the network (or by this advertiser), the service is renamed
        ``"Name #2"``, ``"Name #3"``, ... as Avahi does, and the rename is logged as a warning.

        This never raises for network or zeroconf problems: they are logged on the
        ``netrpc.mdns`` logger and the returned registration has :attr:`Registration.ok` false.

        :param name: the instance name; defaults to :func:`default_instance_name`.
        :param port: the TCP port of the service.
        :param type_: the service type; ``"_libvirt._tcp"`` by default.
        :param txt: TXT records, e.g. ``{"transport": "tcp"}``. Keep keys to 9 characters.
        :param host: the SRV host name; defaults to the advertiser's ``host``.
        :param addresses: the addresses the service listens on. ``None``, or only unspecified
            addresses (``0.0.0.0``, ``::``), means the host's addresses on the chosen interfaces.
        :returns: the registration, with the final name in :attr:`Registration.name`.
        """
        requested = default_instance_name() if name is None else name
        txt_copy = dict(txt or {})
        short_type = type_
        server = ""
        addrs: tuple[str, ...] = ()
        async with self._lock:
            try:
                short_type = short_service_type(type_)
                server = _host_name(host if host is not None else self._host)
                addrs = tuple(a for a in (addresses or ()) if not _is_unspecified(a))
                if not addrs:
                    addrs = tuple(_host_addresses(self._interfaces, self._ip_version))
                if not 0 < port < 65536:
                    raise ValueError(f"invalid port {port}")
                if self._closed:
                    raise RuntimeError("the advertiser is closed")
                if self._zc is None:
                    self._zc = await anyio.to_thread.run_sync(
                        _open_zeroconf, self._interfaces, self._ip_version
                    )
                info = await self._register(
                    self._zc, requested, short_type, port, txt_copy, server, addrs
                )
            except Exception as exc:
                logger.warning(
                    "mDNS: cannot advertise %r (%s, port %d): %s",
                    requested,
                    short_type,
                    port,
                    _describe(exc),
                )
                return Registration(
                    requested,
                    requested,
                    short_type,
                    port,
                    txt_copy,
                    server,
                    addrs,
                    error=_describe(exc),
                )
            final = info.name[: -len(full_service_type(short_type)) - 1]
            registration = Registration(
                final, requested, short_type, port, txt_copy, server, addrs, _info=info
            )
            self._active.append(registration)
        if registration.renamed:
            logger.warning(
                "mDNS: name %r is already in use, advertising %s port %d as %r",
                requested,
                short_type,
                port,
                final,
            )
        logger.info(
            "mDNS: advertising %r (%s) on port %d at %s",
            final,
            short_type,
            port,
            ", ".join(addrs) or "-",
        )
        return registration

    async def _register(
        self,
        zc: Zeroconf,
        requested: str,
        short_type: str,
        port: int,
        txt: dict[str, str],
        server: str,
        addresses: tuple[str, ...],
    ) -> ServiceInfo:
        fq = full_service_type(short_type)
        for number in range(1, _MAX_RENAMES + 1):
            candidate = _alternative_name(requested, number)
            info = ServiceInfo(
                fq,
                f"{candidate}.{fq}",
                port=port,
                properties=txt,
                server=server,
                parsed_addresses=list(addresses),
            )
            try:
                await anyio.to_thread.run_sync(
                    partial(zc.register_service, info, cooperating_responders=not self._probe)
                )
            except (NonUniqueNameException, ServiceNameAlreadyRegistered):
                logger.info("mDNS: %r (%s) is taken, trying another name", candidate, short_type)
                continue
            return info
        raise RuntimeError(f"no free instance name after {_MAX_RENAMES} attempts")

    async def withdraw(self, registration: Registration | None) -> None:
        """Stop advertising ``registration`` and send goodbye packets (RFC 6762 §10.1).

        Does nothing for ``None``, a failed registration, or one already withdrawn. Errors are
        logged, never raised. Cancellation waits for the goodbyes to be sent.

        :param registration: what :meth:`publish` returned.
        """
        if registration is None:
            return
        with anyio.CancelScope(shield=True):
            async with self._lock:
                if registration not in self._active:
                    return
                self._active.remove(registration)
                zc, info = self._zc, registration._info
                if zc is None or info is None:
                    return
                try:
                    await anyio.to_thread.run_sync(zc.unregister_service, info)
                except Exception as exc:
                    logger.warning(
                        "mDNS: cannot withdraw %r: %s", registration.name, _describe(exc)
                    )
                    return
        logger.info("mDNS: withdrew %r (%s)", registration.name, registration.type)

    async def aclose(self) -> None:
        """Withdraw every service (goodbye packets) and stop zeroconf. Idempotent.

        Errors are logged, never raised. Cancellation waits for the goodbyes to be sent.
        """
        with anyio.CancelScope(shield=True):
            async with self._lock:
                self._closed = True
                zc, self._zc = self._zc, None
                self._active.clear()
                if zc is None:
                    return
                try:
                    await anyio.to_thread.run_sync(zc.close)
                except Exception as exc:
                    logger.warning("mDNS: error while stopping the advertiser: %s", _describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------- discovery


def _uri_host(address: str) -> str | None:
    """The URI form of an address, or ``None`` if it cannot be used without a scope."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return None
    if ip.version == 4:
        return str(ip)
    if ip.is_link_local:
        return None
    return f"[{ip}]"


@final
@dataclass(frozen=True)
class DiscoveredServer:
    """A service found on the network.

    :ivar name: the instance name, e.g. ``"Virtualization Host vm"``.
    :ivar type: the service type, e.g. ``"_libvirt._tcp"``.
    :ivar server: the host name from the SRV record, e.g. ``"vm.local."``.
    :ivar addresses: resolved addresses, IPv4 first; IPv6 link-local ones carry ``%ifindex``.
    :ivar port: the service's port.
    :ivar txt: the TXT records (a key without a value maps to ``""``).
    """

    name: str
    type: str
    server: str
    addresses: tuple[str, ...]
    port: int
    txt: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def transport(self) -> str:
        """The ``transport`` TXT value, ``"tcp"`` when absent (libvirt advertised no TXT)."""
        return self.txt.get("transport", "tcp") or "tcp"

    @property
    def uris(self) -> tuple[str, ...]:
        """libvirt URIs for a ``_libvirt._tcp`` service, one per usable address.

        ``<driver>+<transport>://<address>:<port><path>``, with ``driver`` and ``path`` taken
        from the TXT records when present (defaults ``test`` and ``/default``), e.g.
        ``test+tcp://10.0.0.5:16509/default``. IPv6 addresses are bracketed; link-local IPv6
        addresses are skipped. Empty for other service types or unknown transports.
        """
        return tuple(u for u in map(self.uri_for, self.addresses) if u is not None)

    def uri_for(self, address: str) -> str | None:
        """The libvirt URI (as in :attr:`uris`) that reaches the service at *address*, or
        None when there is none (another service type, or a link-local IPv6 address)."""
        host = _uri_host(address)
        if host is None or self.type != DEFAULT_SERVICE_TYPE or \
                self.transport not in ("tcp", "tls"):
            return None
        driver = self.txt.get("driver") or "test"
        path = self.txt.get("path") or "/default"
        if not path.startswith("/"):
            path = "/" + path
        return f"{driver}+{self.transport}://{host}:{self.port}{path}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict of all fields plus ``transport`` and ``uris``."""
        return {
            "name": self.name,
            "type": self.type,
            "server": self.server,
            "addresses": list(self.addresses),
            "port": self.port,
            "txt": dict(self.txt),
            "transport": self.transport,
            "uris": list(self.uris),
        }


class DiscoveryEventKind(enum.Enum):
    """What happened to a service."""

    ADDED = "added"
    """A service appeared and was resolved."""
    UPDATED = "updated"
    """A known service changed (port, addresses, host name or TXT records)."""
    REMOVED = "removed"
    """A service left (goodbye packet or expired records)."""


@final
@dataclass(frozen=True)
class DiscoveryEvent:
    """One change seen by a :class:`ServiceWatcher`.

    :ivar kind: added, updated or removed.
    :ivar server: the service; for :attr:`DiscoveryEventKind.REMOVED`, its last known state.
    """

    kind: DiscoveryEventKind
    server: DiscoveredServer


def _server_from_info(info: ServiceInfo, fq_type: str) -> DiscoveredServer:
    name = info.name
    if name.endswith("." + fq_type):
        name = name[: -len(fq_type) - 1]
    txt = {k: (v or "") for k, v in info.decoded_properties.items()}
    return DiscoveredServer(
        name=name,
        type=short_service_type(fq_type),
        server=info.server or "",
        addresses=tuple(info.parsed_scoped_addresses()),
        port=info.port or 0,
        txt=txt,
    )


@final
class ServiceWatcher:
    """Browses one service type and reports services as they come and go.

    An async context manager and an async iterator of :class:`DiscoveryEvent`::

        async with ServiceWatcher("_libvirt._tcp") as events:
            async for event in events:
                print(event.kind.value, event.server.name, event.server.uris)

    Only resolved services are reported: :attr:`DiscoveryEventKind.ADDED` comes once the port,
    addresses and TXT records are known. Iteration ends when the watcher is closed.
    :attr:`servers` is a snapshot of what is known right now, whether or not the events were
    consumed.

    :param type_: the service type to browse.
    :param interfaces: IP addresses or interface indexes to use; ``None`` means all.
    :param ip_version: ``"v4"``, ``"v6"`` or ``"all"``; ``None`` lets zeroconf decide.
    :param resolve_timeout: how long to wait for a new service's records, in seconds.
    """

    def __init__(
        self,
        type_: str = DEFAULT_SERVICE_TYPE,
        *,
        interfaces: Interfaces = None,
        ip_version: IPVersionChoice | None = None,
        resolve_timeout: float = _RESOLVE_TIMEOUT,
    ) -> None:
        self._fq_type = full_service_type(type_)
        self._interfaces: tuple[str | int, ...] | None = (
            None if interfaces is None else tuple(interfaces)
        )
        self._ip_version = ip_version
        self._resolve_timeout_ms = max(1, int(resolve_timeout * 1000))
        self._state = threading.Lock()
        self._present: set[str] = set()
        self._servers: dict[str, DiscoveredServer] = {}
        self._closing = False
        self._zc: Zeroconf | None = None
        self._browser: ServiceBrowser | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._token: anyio.lowlevel.EventLoopToken | None = None
        self._send: MemoryObjectSendStream[DiscoveryEvent] | None = None
        self._receive: MemoryObjectReceiveStream[DiscoveryEvent] | None = None

    @property
    def servers(self) -> dict[str, DiscoveredServer]:
        """The resolved services currently present, by instance name."""
        with self._state:
            return {s.name: s for s in self._servers.values()}

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> DiscoveryEvent:
        if self._receive is None:
            raise RuntimeError("the watcher is not started")
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def start(self) -> None:
        """Start browsing (done by ``async with``).

        :raises MDNSError: zeroconf could not start, e.g. no usable interface.
        """
        if self._zc is not None or self._closing:
            raise RuntimeError("a ServiceWatcher can be started only once")
        self._token = anyio.lowlevel.current_token()
        self._send, self._receive = anyio.create_memory_object_stream[DiscoveryEvent](math.inf)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="netrpc-mdns-resolve"
        )
        try:
            self._zc = await anyio.to_thread.run_sync(
                _open_zeroconf, self._interfaces, self._ip_version
            )
            self._browser = await anyio.to_thread.run_sync(
                partial(
                    ServiceBrowser,
                    self._zc,
                    self._fq_type,
                    handlers=[self._on_change],
                    question_type=DNSQuestionType.QM,
                )
            )
        except Exception as exc:
            await self.aclose()
            raise MDNSError(f"cannot browse {self._fq_type}: {_describe(exc)}") from exc

    async def aclose(self) -> None:
        """Stop browsing; iteration ends. Idempotent."""
        with self._state:
            self._closing = True
        if self._send is not None:
            self._send.close()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._shutdown)
        if self._receive is not None:
            self._receive.close()

    def _shutdown(self) -> None:
        browser, self._browser = self._browser, None
        executor, self._executor = self._executor, None
        zc, self._zc = self._zc, None
        for step in (
            browser.cancel if browser is not None else None,
            partial(executor.shutdown, wait=True, cancel_futures=True)
            if executor is not None
            else None,
            zc.close if zc is not None else None,
        ):
            if step is None:
                continue
            try:
                step()
            except Exception as exc:
                logger.debug("mDNS: error while stopping the browser: %s", _describe(exc))

    def _on_change(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        """zeroconf's browser thread: record the change, resolve in the pool."""
        if state_change is ServiceStateChange.Removed:
            with self._state:
                self._present.discard(name)
                server = self._servers.pop(name, None)
            if server is not None:
                self._emit(DiscoveryEvent(DiscoveryEventKind.REMOVED, server))
            return
        with self._state:
            if self._closing or self._executor is None:
                return
            self._present.add(name)
            executor = self._executor
        with contextlib.suppress(RuntimeError):
            executor.submit(self._resolve, zeroconf, name)

    def _resolve(self, zc: Zeroconf, name: str) -> None:
        """A pool thread: resolve ``name`` and report ADDED or UPDATED."""
        try:
            info = ServiceInfo(self._fq_type, name)
            if not info.request(zc, self._resolve_timeout_ms, DNSQuestionType.QM):
                logger.debug("mDNS: could not resolve %r", name)
                return
            server = _server_from_info(info, self._fq_type)
        except Exception as exc:
            logger.debug("mDNS: error resolving %r: %s", name, _describe(exc))
            return
        with self._state:
            if self._closing or name not in self._present:
                return
            old = self._servers.get(name)
            if old == server:
                return
            self._servers[name] = server
        kind = DiscoveryEventKind.ADDED if old is None else DiscoveryEventKind.UPDATED
        self._emit(DiscoveryEvent(kind, server))

    def _emit(self, event: DiscoveryEvent) -> None:
        send, token = self._send, self._token
        if send is None or token is None:
            return
        with contextlib.suppress(
            anyio.ClosedResourceError,
            anyio.BrokenResourceError,
            anyio.RunFinishedError,
            RuntimeError,
        ):
            anyio.from_thread.run_sync(send.send_nowait, event, token=token)


def watch(
    type_: str = DEFAULT_SERVICE_TYPE,
    *,
    interfaces: Interfaces = None,
    ip_version: IPVersionChoice | None = None,
) -> ServiceWatcher:
    """Watch services of one type appear, change and leave.

    Shorthand for :class:`ServiceWatcher`::

        async with watch("_libvirt._tcp") as events:
            async for event in events:
                ...

    :param type_: the service type to browse.
    :param interfaces: IP addresses or interface indexes to use; ``None`` means all.
    :param ip_version: ``"v4"``, ``"v6"`` or ``"all"``; ``None`` lets zeroconf decide.
    :returns: an unstarted watcher, to be entered with ``async with``.
    """
    return ServiceWatcher(type_, interfaces=interfaces, ip_version=ip_version)


async def discover(
    type_: str = DEFAULT_SERVICE_TYPE,
    timeout: float = 3.0,  # noqa: ASYNC109
    *,
    interfaces: Interfaces = None,
    ip_version: IPVersionChoice | None = None,
) -> list[DiscoveredServer]:
    """Browse for ``timeout`` seconds and return the services found, sorted by name.

    mDNS has no "that is all" signal, so this always takes ``timeout`` seconds. Live services
    usually answer within 0.2 s.

    :param type_: the service type to browse.
    :param timeout: how long to listen, in seconds.
    :param interfaces: IP addresses or interface indexes to use; ``None`` means all.
    :param ip_version: ``"v4"``, ``"v6"`` or ``"all"``; ``None`` lets zeroconf decide.
    :returns: the resolved services.
    :raises MDNSError: zeroconf could not start.
    """
    async with ServiceWatcher(type_, interfaces=interfaces, ip_version=ip_version) as watcher:
        await anyio.sleep(timeout)
        found = watcher.servers
    return sorted(found.values(), key=lambda s: (s.name, s.server, s.port))
