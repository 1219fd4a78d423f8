"""The server: programs, services and connected clients (libvirt's virNetServer).

``await server.serve(task_status=...)`` binds every service, reports the bound addresses, and
accepts connections until the server is shut down.  Client limits work as in libvirtd: when
``max_clients`` clients are connected, or ``max_anonymous_clients`` are still
authenticating, the server stops accepting (new connections wait in the kernel's listen
backlog, ``max_queued_clients`` deep) and resumes on every listener as soon as a slot frees.

TLS handshakes in progress are counted apart, against their own bound of
``max_anonymous_clients``: reaching it never stops the other listeners, only the TLS ones,
and a TLS listener that has a connection waiting then gives up the handshake whose peer has
kept it waiting longest, once that is over :data:`HANDSHAKE_EVICT_AFTER` seconds.  So idle
handshakes can neither stall the daemon nor starve clients that complete theirs (libvirtd
counts them only against ``max_clients``, where 5000 idle ones stop it).

Graceful shutdown (:meth:`Server.shutdown`) stops accepting, lets every in-flight call finish
and its reply be written, then closes the connections; what is still running at the deadline
is cancelled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import heapq
import itertools
import logging
import math
import select
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.abc
from anyio.abc import SocketAttribute, TaskStatus

from ...core.framing import BufferPool
from ...core.identity import Identity, Transport
from ...core.program import Dispatcher, Program
from .._sockio import RawSocketStream
from .client import ServerClient, identify
from .config import DEFAULT_MAX_CLIENT_OUTPUT, ClientLimits, KeepAliveSettings, PoolSettings
from .service import Service

if TYPE_CHECKING:
    from ...discovery.mdns import Registration, ServiceAdvertiser
    from .faults import FaultInjector
from .workers import WorkerPool

__all__ = ("DEFAULT_MAX_CLIENT_OUTPUT", "HANDSHAKE_EVICT_AFTER", "PARK_IDLE_AFTER", "Server")

#: default per-client limit of unwritten output (bytes) beyond which a client is not read

log = logging.getLogger("netrpc.server")

# accept() failing (EMFILE when out of descriptors ...) is retried after 0.1 s, then after
# twice as long each time, up to 1 s: quick to recover, and no busy loop meanwhile.
#: seconds a pending TLS handshake may wait for its peer before it is given up to make room
#: for a new connection (only when the handshake bound is reached)
HANDSHAKE_EVICT_AFTER = 1.0
#: seconds (between this and twice this) a plain connection waits for data with nothing in
#: flight before it parks: its task ends and the server's idle watcher waits for its socket.
#: Short, so that a burst of new clients never has many tasks alive at once (what a task
#: cost stays in the process's memory); a call after such a pause costs one task start.
PARK_IDLE_AFTER = 0.05

_ACCEPT_RETRY_FIRST = 0.1
_ACCEPT_RETRY_MAX = 1.0

class _Unset:
    """Marks a keyword that was not given (where None is a value)."""


_UNSET = _Unset()
_C = TypeVar("_C", ClientLimits, PoolSettings, KeepAliveSettings)


def _override(settings: _C, **given: Any) -> _C:
    """*settings* with the fields given (not None) replaced, checked again."""
    changes = {key: value for key, value in given.items() if value is not None or (
        key == "max_client_output")}
    return dataclasses.replace(settings, **changes) if changes else settings


ConnectHook = Callable[[ServerClient], Awaitable[bool | None] | bool | None]
CloseHook = Callable[[ServerClient], None]


class Server:
    """An RPC server.

    :param name: the server's name (libvirtd runs "libvirtd" and "admin").
    :param programs: programs to serve; more can be added with :meth:`add_program`.
    :param limits: client limits (:class:`~netrpc.io.server.config.ClientLimits`).  Each
        client starts with ``max_client_output`` as its :attr:`ServerClient.max_output`.
    :param pool: the worker pool (:class:`~netrpc.io.server.config.PoolSettings`).
    :param keepalive: server pings (:class:`~netrpc.io.server.config.KeepAliveSettings`).
    :param on_connect: called with each new client before it is served; returning False
        refuses it (the connection is closed).  May be async.
    :param on_close: called with each client once it is gone.

    The flat keywords (``max_clients``, ``max_anonymous_clients``, ``max_queued_clients``,
    ``max_client_requests``, ``max_pending_output``, ``max_client_output``,
    ``min_workers``, ``max_workers``, ``prio_workers``, ``keepalive_interval``,
    ``keepalive_count``) set single fields of the groups and take precedence over them.
    """

    def __init__(
        self,
        name: str = "netrpc",
        programs: Iterable[Program] = (),
        *,
        limits: ClientLimits | None = None,
        pool: PoolSettings | None = None,
        keepalive: KeepAliveSettings | None = None,
        on_connect: ConnectHook | None = None,
        on_close: CloseHook | None = None,
        max_clients: int | None = None,
        max_anonymous_clients: int | None = None,
        max_queued_clients: int | None = None,
        max_client_requests: int | None = None,
        max_pending_output: int | None = None,
        max_client_output: int | _Unset | None = _UNSET,
        min_workers: int | None = None,
        max_workers: int | None = None,
        prio_workers: int | None = None,
        keepalive_interval: float | None = None,
        keepalive_count: int | None = None,
    ) -> None:
        limits = _override(
            limits or ClientLimits(),
            max_clients=max_clients,
            max_anonymous_clients=max_anonymous_clients,
            max_queued_clients=max_queued_clients,
            max_client_requests=max_client_requests,
            max_pending_output=max_pending_output,
            **({} if isinstance(max_client_output, _Unset) else
               {"max_client_output": max_client_output}),
        )
        pool = _override(
            pool or PoolSettings(),
            min_workers=min_workers, max_workers=max_workers, prio_workers=prio_workers,
        )
        keepalive = _override(
            keepalive or KeepAliveSettings(), interval=keepalive_interval, count=keepalive_count
        )
        self.name = name
        self.dispatcher = Dispatcher(programs)
        self.services: list[Service] = []
        # The settings live on as attributes: the admin program changes some at run time.
        self.max_clients = limits.max_clients
        self.max_anonymous_clients = limits.max_anonymous_clients
        self.max_queued_clients = limits.max_queued_clients
        self.max_client_requests = limits.max_client_requests
        self.keepalive_interval = keepalive.interval
        self.keepalive_count = keepalive.count
        self.workers = WorkerPool(pool.min_workers, pool.max_workers, pool.prio_workers)
        self.on_connect = on_connect
        self.on_close = on_close
        self.max_pending_output = limits.max_pending_output
        self.max_client_output = limits.max_client_output
        #: receive buffers for large records (stream data), shared by the connections: they
        #: bound what all connections together hold that way (8 MiB at most, 2 MiB kept)
        self.buffer_pool = BufferPool(limit=8, keep=2)
        self._keepalive_timers = _KeepAliveTimers(self)
        #: every connection's keepalive filter: fault injection's, when installed
        self.keepalive_filter: Callable[[str], bool] = self._filter_keepalive
        #: see :data:`PARK_IDLE_AFTER`; None: connections never park
        self.park_idle_after: float | None = PARK_IDLE_AFTER
        self._idle = _IdleWatcher(self)
        self.clients: dict[int, ServerClient] = {}
        self.next_client_id = 1
        # ids of connected clients still authenticating (TLS handshakes excluded)
        self._unauth: set[int] = set()
        # TLS handshakes in progress, oldest first
        self._handshakes: dict[int, _Handshake] = {}
        self._handshake_event: anyio.Event | None = None
        self._capacity_event: anyio.Event | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._accepting = False
        self._shutdown_requested: anyio.Event | None = None
        self._stopped: anyio.Event | None = None
        self.shutdown_timeout = 30.0
        self.log = log
        self._advertiser: ServiceAdvertiser | None = None
        self._advert_name: str | None = None
        self._advert_type = "_libvirt._tcp"
        self._advert_txt: dict[str, str] = {}
        self._registrations: dict[int, list[Registration]] = {}
        #: fault injection (see :mod:`netrpc.io.server.faults`); None: none
        self.faults: FaultInjector | None = None

    @staticmethod
    def _check_limits(max_clients: int, max_anonymous_clients: int) -> None:
        if max_clients < max_anonymous_clients:
            raise ValueError(
                "The overall maximum number of clients must not be less than the number of "
                "clients waiting for authentication"
            )

    # ------------------------------------------------------------------ configuration

    @property
    def programs(self) -> list[Program]:
        """Programs served, in registration order."""
        return list(self.dispatcher.programs.values())

    def add_program(self, program: Program) -> None:
        """Serve *program* too."""
        self.dispatcher.add(program)

    def add_service(self, service: Service) -> Service:
        """Listen on *service* too (also while serving: it starts listening at once).

        :raises ValueError: when the service's auth policy cannot work (``"tls"`` without
            TLS, ``"hook"`` without an authenticator, ``"sasl"`` without a SASL policy).
        """
        if service.auth == "tls" and service.tls_context is None:
            raise ValueError(f"{service}: auth 'tls' needs a TLS service (Service.tls)")
        if service.auth == "hook" and service.authenticator is None:
            raise ValueError(f"{service}: auth 'hook' needs an authenticator")
        if service.auth == "sasl" and service.sasl is None:
            raise ValueError(f"{service}: auth 'sasl' needs a SASL policy (sasl=SASLConfig(...))")
        self.services.append(service)
        if self._task_group is not None:
            self._task_group.start_soon(self._start_service, service)
        return service

    def advertise(
        self,
        advertiser: ServiceAdvertiser,
        *,
        name: str | None = None,
        type_: str = "_libvirt._tcp",
        txt: dict[str, str] | None = None,
    ) -> None:
        """Advertise every TCP and TLS service over mDNS once it is listening.

        Each service is published with its bound port and the TXT record
        ``transport=tcp|tls`` plus *txt*; the advertisements are withdrawn when the server
        shuts down.  Publishing runs in the background and its failures are only logged: it
        never delays or stops serving.

        :param advertiser: usually a :class:`~netrpc.discovery.mdns.Advertiser` (closed by the
            caller).
        :param name: instance name (default: libvirt's "Virtualization Host <host>"); with
            both TCP and TLS services, the TLS one is named "<name> (TLS)".
        """
        self._advertiser = advertiser
        self._advert_name = name
        self._advert_type = type_
        self._advert_txt = dict(txt or {})

    async def _publish(self, service: Service) -> None:
        advertiser = self._advertiser
        if advertiser is None or service.kind == "unix" or not service.ports:
            return
        from ...discovery.mdns import default_instance_name

        tls = service.tls_context is not None
        base = self._advert_name or default_instance_name()
        both = any(s.tls_context is None and s.kind != "unix" for s in self.services) and any(
            s.tls_context is not None for s in self.services
        )
        name = f"{base} (TLS)" if tls and both else base
        txt = {"transport": "tls" if tls else "tcp", **self._advert_txt}
        for port in service.ports:
            # Only the addresses this port is bound to (an unspecified one stands for every
            # interface): a server bound to 127.0.0.1 must not advertise the LAN addresses.
            hosts = [
                str(addr[0]) for addr in service.addresses
                if isinstance(addr, tuple) and len(addr) >= 2 and addr[1] == port
            ]
            try:
                registration = await advertiser.publish(
                    name=name, port=port, type_=self._advert_type, txt=txt, addresses=hosts
                )
            except Exception:
                log.exception("%s: mDNS advertisement of %s failed", self.name, service)
                continue
            self._registrations.setdefault(id(service), []).append(registration)

    async def _withdraw_all(self) -> None:
        advertiser = self._advertiser
        if advertiser is None:
            return
        registrations = [r for regs in self._registrations.values() for r in regs]
        self._registrations.clear()
        for registration in registrations:
            try:
                await advertiser.withdraw(registration)
            except Exception:
                log.exception("%s: withdrawing mDNS advertisement failed", self.name)

    @property
    def task_group(self) -> anyio.abc.TaskGroup | None:
        """The task group of :meth:`serve` while it runs: connections and the tasks tied to
        them (handlers, writers, keepalive, streams) run in it."""
        return self._task_group

    def _filter_keepalive(self, kind: str) -> bool:
        faults = self.faults
        return faults is None or faults.keepalive_filter(kind)

    def schedule_keepalive(self, client: ServerClient) -> None:
        """Drive *client*'s keepalive timer from the server's timer task (one task for all
        connections, started while some connection has keepalive on)."""
        self._keepalive_timers.add(client)

    def idle_wait(self, client: ServerClient) -> int:
        """*client*'s read loop starts waiting for data (see :class:`_IdleWatcher`)."""
        return self._idle.wait_started(client)

    def park(self, client: ServerClient) -> bool:
        """Have the idle watcher wait for *client*'s socket; its read loop's task ends."""
        return self._idle.park(client)

    def unpark(self, client: ServerClient) -> None:
        """Run a parked *client* again at once (it is being closed or drained)."""
        self._idle.unpark(client)

    @property
    def nclients_parked(self) -> int:
        """Connected clients that are idle without a task of their own."""
        return self._idle.nparked

    @property
    def nclients(self) -> int:
        """Connected clients."""
        return len(self.clients)

    @property
    def nclients_unauthenticated(self) -> int:
        """Connected clients still authenticating (TLS handshakes included)."""
        return len(self._unauth) + self.nclients_handshaking

    @property
    def nclients_handshaking(self) -> int:
        """Connections in their TLS handshake."""
        return sum(1 for h in self._handshakes.values() if not h.evicted)

    def set_client_limits(
        self, max_clients: int | None = None, max_anonymous_clients: int | None = None
    ) -> None:
        """Change the client limits of the running server.

        Raising a limit lets waiting connections in at once; lowering it never drops
        connected clients.

        :raises ValueError: when ``max_clients < max_anonymous_clients`` (nothing changes).
        """
        new_max = self.max_clients if max_clients is None else max_clients
        new_anon = (
            self.max_anonymous_clients if max_anonymous_clients is None else max_anonymous_clients
        )
        self._check_limits(new_max, new_anon)
        self.max_clients, self.max_anonymous_clients = new_max, new_anon
        self._capacity_changed()

    def set_client_output_limit(self, limit: int | None) -> None:
        """Change :attr:`max_client_output`, for new and connected clients alike.

        :raises ValueError: when *limit* is not positive.
        """
        if limit is not None and limit < 1:
            raise ValueError(f"max_client_output must be at least 1, got {limit}")
        self.max_client_output = limit
        for client in list(self.clients.values()):
            client.max_output = limit

    # ------------------------------------------------------------------ serving

    async def serve(
        self, *, task_status: TaskStatus[list[Any]] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Bind every service and serve until :meth:`shutdown` (or cancellation).

        Reports the bound addresses of all services through *task_status*, so that
        ``addresses = await task_group.start(server.serve)`` returns once clients can connect.
        """
        self._shutdown_requested = anyio.Event()
        self._stopped = anyio.Event()
        self._capacity_event = anyio.Event()
        self._handshake_event = anyio.Event()
        try:
            # Bind before starting tasks, so that a bind failure is a plain OSError.
            for service in self.services:
                await service.listen(self.max_queued_clients)
                log.info("%s: listening on %s", self.name, service)
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                self._accepting = True
                self._idle.start()
                for service in self.services:
                    for listener in service.listeners:
                        tg.start_soon(self._accept_loop, service, listener)
                    if self._advertiser is not None:
                        tg.start_soon(self._publish, service)
                task_status.started([a for s in self.services for a in s.addresses])
                await self._shutdown_requested.wait()
                await self._graceful_stop(tg)
        finally:
            self._task_group = None
            self._accepting = False
            with anyio.CancelScope(shield=True):
                # Parked connections have no task the task group could have cancelled.
                for client in self._idle.stop():
                    client.close("server stopped")
                    await self._resume_client(client)
                for service in self.services:
                    await service.aclose()
            self._stopped.set()

    async def _start_service(self, service: Service) -> None:
        await service.listen(self.max_queued_clients)
        log.info("%s: listening on %s", self.name, service)
        assert self._task_group is not None
        for listener in service.listeners:
            self._task_group.start_soon(self._accept_loop, service, listener)
        if self._advertiser is not None:
            self._task_group.start_soon(self._publish, service)

    def shutdown(self, timeout: float | None = None) -> None:
        """Ask :meth:`serve` to stop gracefully (safe to call from any task)."""
        if timeout is not None:
            self.shutdown_timeout = timeout
        if self._shutdown_requested is not None:
            self._shutdown_requested.set()

    async def aclose(self) -> None:
        """Shut down gracefully and wait until :meth:`serve` returned."""
        self.shutdown()
        if self._stopped is not None:
            await self._stopped.wait()

    async def _graceful_stop(self, tg: anyio.abc.TaskGroup) -> None:
        self._accepting = False
        with anyio.move_on_after(5):
            await self._withdraw_all()
        for service in self.services:
            await service.aclose()
        self._capacity_changed()
        clients = list(self.clients.values())
        log.info("%s: shutting down, draining %d clients", self.name, len(clients))
        for client in clients:
            client.drain()
        with anyio.move_on_after(self.shutdown_timeout) as scope:
            for client in clients:
                await client.closed_event.wait()
        if scope.cancelled_caught:
            log.warning("%s: forcing shutdown after %.1f s", self.name, self.shutdown_timeout)
        tg.cancel_scope.cancel()

    def _full(self) -> bool:
        return len(self.clients) >= self.max_clients or bool(
            self.max_anonymous_clients and len(self._unauth) >= self.max_anonymous_clients
        )

    async def _wait_for_capacity(self) -> None:
        # Every waiting accept loop (one per listener) shares the current event; it is
        # replaced only when set, so one change of capacity wakes all of them.
        while self._accepting and self._full():
            assert self._capacity_event is not None
            await self._capacity_event.wait()

    def _capacity_changed(self) -> None:
        event = self._capacity_event
        if event is not None:
            self._capacity_event = anyio.Event()
            event.set()

    async def _make_handshake_room(self) -> None:
        """Before a TLS connection is served: while the handshake bound is reached, give up
        the handshake that waited longest for its peer once that is over
        :data:`HANDSHAKE_EVICT_AFTER` seconds, or wait for one to finish."""
        while self._accepting:
            limit = self.max_anonymous_clients
            live = [h for h in self._handshakes.values() if not h.evicted]
            if not limit or len(live) < limit:
                return
            now = time.monotonic()
            stalest = max(
                (h for h in live if h.waiting_since is not None),
                key=lambda h: now - (h.waiting_since or now),
                default=None,
            )
            waited = now - stalest.waiting_since if stalest and stalest.waiting_since else 0.0
            if stalest is not None and waited >= HANDSHAKE_EVICT_AFTER:
                stalest.evict()
                log.warning(
                    "%s: giving up the TLS handshake with %s: no data for %.1f s while %d "
                    "handshakes are pending and another connection waits",
                    self.name,
                    stalest.client.identity.address,
                    waited,
                    len(live),
                )
                continue
            assert self._handshake_event is not None
            with anyio.move_on_after(max(HANDSHAKE_EVICT_AFTER - waited, 0.01)):
                await self._handshake_event.wait()

    def _handshake_over(self, client: ServerClient) -> None:
        if self._handshakes.pop(client.id, None) is not None:
            event = self._handshake_event
            if event is not None:
                self._handshake_event = anyio.Event()
                event.set()

    async def _accept_loop(self, service: Service, listener: anyio.abc.SocketListener) -> None:
        assert self._task_group is not None
        tg = self._task_group
        # Plain sockets are served through RawSocketStream (the fast path); TLS needs anyio's
        # socket stream underneath its TLS stream.
        raw_listener: socket.socket | None = None
        if service.tls_context is None:
            raw_listener = listener.extra(SocketAttribute.raw_socket)
        failing: OSError | None = None  # the error of a run of failed accept()s
        pause = _ACCEPT_RETRY_FIRST
        while self._accepting:
            await self._wait_for_capacity()
            if not self._accepting:
                return
            try:
                if raw_listener is not None:
                    stream: anyio.abc.ByteStream = await _accept_raw(raw_listener)
                else:
                    stream = await listener.accept()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            except OSError as exc:
                if not self._accepting or exc.errno == errno.EBADF:
                    return
                # The server keeps running and retries, ever less often (libvirt suspends
                # the service for 5 s on EMFILE); one line per run of failures, not per try.
                if failing is None or failing.errno != exc.errno:
                    log.error("%s: accept() failed on %s: %s; retrying until it works",
                              self.name, service, exc)
                    pause = _ACCEPT_RETRY_FIRST
                failing = exc
                await anyio.sleep(pause)
                pause = min(pause * 2, _ACCEPT_RETRY_MAX)
                continue
            if failing is not None:
                log.warning("%s: accepting on %s again", self.name, service)
                failing = None
            if self.faults is not None and self.faults.refuse_connection():
                await _refuse(stream)
                continue
            if self._full():
                # Several listeners may each have been waiting in accept() when the server
                # filled up: hold this connection unserved (as if still in the backlog) until
                # a slot frees, so that max_clients is never exceeded.
                await self._wait_for_capacity()
                if not self._accepting:
                    await anyio.aclose_forcefully(stream)
                    return
            if service.tls_context is not None:
                await self._make_handshake_room()
                if not self._accepting:
                    await anyio.aclose_forcefully(stream)
                    return
            client = self._register(service, stream)
            tg.start_soon(self._serve_client, client, name="netrpc.Server client")

    def _register(self, service: Service, stream: anyio.abc.ByteStream) -> ServerClient:
        client_id = self.next_client_id
        self.next_client_id += 1
        identity = identify(stream, service.transport)
        client = ServerClient(self, service, stream, client_id, identity)
        self.clients[client_id] = client
        if service.tls_context is not None:
            # Counted as a handshake until it is over (see _tls_handshake).
            self._handshakes[client_id] = _Handshake(client)
        elif not client.authenticated:
            self._unauth.add(client_id)
        return client

    def client_authenticated(self, client: ServerClient) -> None:
        """A client passed authentication (called by the client): it no longer counts as
        unauthenticated."""
        if client.id in self._unauth:
            self._unauth.discard(client.id)
            self._capacity_changed()

    async def _serve_client(self, client: ServerClient) -> None:
        finished = True
        try:
            if await self._admit(client):
                for program in self.programs:
                    try:
                        program.client_connected(client)
                    except Exception:
                        client.log.exception("%s.client_connected failed", program.name)
                log.debug("%s: client %d connected (%s)", self.name, client.id, client.identity)
                finished = await self._run_client(client)
            else:
                with anyio.CancelScope(shield=True):
                    await anyio.aclose_forcefully(client.stream)
                client.set_finished()
        finally:
            if finished:
                self._client_gone(client)

    async def _run_client(self, client: ServerClient) -> bool:
        """Run *client*'s read loop; False when it parked (see :class:`_IdleWatcher`)."""
        try:
            return await client.run()
        except Exception:
            # Last line of defence: one client must never take the server down.
            log.exception("%s: client %d failed", self.name, client.id)
            return True

    async def _resume_client(self, client: ServerClient) -> None:
        """The task of a parked connection that has data (or is being closed)."""
        finished = True
        try:
            finished = await self._run_client(client)
        finally:
            if finished:
                self._client_gone(client)

    def _client_gone(self, client: ServerClient) -> None:
        self.clients.pop(client.id, None)
        self._unauth.discard(client.id)
        self._handshake_over(client)
        for program in self.programs:
            try:
                program.client_closed(client)
            except Exception:
                client.log.exception("%s.client_closed failed", program.name)
        if self.on_close is not None:
            try:
                self.on_close(client)
            except Exception:
                client.log.exception("on_close hook failed")
        self._capacity_changed()
        log.debug("%s: client %d gone", self.name, client.id)

    async def _admit(self, client: ServerClient) -> bool:
        """Run the per-connection checks: peer credentials, TLS, the connect hook."""
        service = client.service
        ident = client.identity
        if service.allowed_uids is not None and ident.unix_uid not in service.allowed_uids:
            log.warning(
                "%s: refusing client %d: uid %s not allowed on %s",
                self.name,
                client.id,
                ident.unix_uid,
                service,
            )
            return False
        if service.allowed_gids is not None and ident.unix_gid not in service.allowed_gids:
            log.warning(
                "%s: refusing client %d: gid %s not allowed on %s",
                self.name,
                client.id,
                ident.unix_gid,
                service,
            )
            return False
        if service.tls_context is not None:
            if not await self._tls_handshake(client):
                return False
        if service.auth == "hook" and service.authenticator is not None:
            try:
                accepted = service.authenticator(client)
                if isinstance(accepted, Awaitable):
                    accepted = await accepted
            except Exception:
                log.exception("%s: authenticator failed; refusing client %d", self.name, client.id)
                return False
            if accepted:
                client.set_authenticated()
            else:
                log.info(
                    "%s: client %d (%s) not authenticated by the hook; only auth-phase "
                    "procedures are allowed",
                    self.name,
                    client.id,
                    client.peer_description(),
                )
        if self.on_connect is not None:
            try:
                verdict = self.on_connect(client)
                if isinstance(verdict, Awaitable):
                    verdict = await verdict
            except Exception:
                log.exception("%s: on_connect hook failed; refusing client", self.name)
                return False
            if verdict is False:
                log.info("%s: client %d refused by the connect hook", self.name, client.id)
                return False
        return True

    async def _tls_handshake(self, client: ServerClient) -> bool:
        from ...security import tls

        service = client.service
        assert service.tls_context is not None
        pending = self._handshakes.get(client.id) or _Handshake(client)
        raw = client.stream
        try:
            with anyio.CancelScope() as pending.scope:
                if pending.evicted:
                    pending.scope.cancel()
                stream, peer = await tls.server_handshake(
                    _WatchedStream(raw, pending),
                    service.tls_context,
                    timeout=service.tls_handshake_timeout,
                )
            if pending.scope.cancelled_caught:
                # Given up to make room (logged by _make_handshake_room); the transport
                # is closed.
                return False
        except TimeoutError:
            log.warning(
                "%s: TLS handshake with %s timed out after %.1f s",
                self.name,
                client.identity.address,
                service.tls_handshake_timeout,
            )
            return False
        except Exception as exc:
            # Denied DNs, bad certificates, broken peers: the peer gets no RPC at all.
            log.warning(
                "%s: TLS handshake with %s failed: %s",
                self.name,
                client.identity.address,
                exc,
            )
            return False
        finally:
            self._handshake_over(client)
        # The watcher was only needed during the handshake.
        if getattr(stream, "transport_stream", None) is not None:
            stream.transport_stream = raw
        client.stream = stream
        client.identity = Identity(
            transport=Transport.TLS, address=client.identity.address, tls_dn=peer.dn
        )
        if service.auth == "tls":
            client.set_authenticated()
        elif not client.authenticated:
            self._unauth.add(client.id)
        return True

    # ------------------------------------------------------------------ events

    def broadcast_event(
        self,
        program: int,
        version: int,
        procedure: int,
        payload: bytes,
        *,
        serial: int = 1,
        predicate: Callable[[ServerClient], bool] | None = None,
    ) -> int:
        """Send an event MESSAGE to every connected client (that *predicate* accepts).

        Returns the number of clients it was queued for.
        """
        count = 0
        for client in list(self.clients.values()):
            if predicate is None or predicate(client):
                client.send_event(program, version, procedure, payload, serial=serial)
                count += 1
        return count

    def get_client(self, client_id: int) -> ServerClient | None:
        """The connected client with *client_id*, or None."""
        return self.clients.get(client_id)

    def __repr__(self) -> str:
        return f"<Server {self.name!r} clients={len(self.clients)} services={len(self.services)}>"


async def _refuse(stream: anyio.abc.ByteStream) -> None:
    """Close a just-accepted connection at once (TCP: with a reset, as a refusal)."""
    raw: socket.socket | None = stream.extra(SocketAttribute.raw_socket, None)
    if raw is not None and raw.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await anyio.aclose_forcefully(stream)


async def _accept_raw(listener: socket.socket) -> RawSocketStream:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            await anyio.wait_readable(listener)
            continue
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # As libvirt does: small replies must not wait for Nagle's algorithm.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return RawSocketStream(sock)


class _Handshake:
    """A TLS handshake in progress: since when it waits for its peer's bytes (None while it
    is not waiting), and how to give it up."""

    __slots__ = ("client", "evicted", "scope", "waiting_since")

    def __init__(self, client: ServerClient) -> None:
        self.client = client
        # Nothing has arrived yet: the handshake waits for the ClientHello from the start.
        self.waiting_since: float | None = time.monotonic()
        self.scope: anyio.CancelScope | None = None
        self.evicted = False

    def evict(self) -> None:
        self.evicted = True
        if self.scope is not None:
            self.scope.cancel()


class _WatchedStream(anyio.abc.ByteStream):
    """The transport under a TLS handshake, noting when the handshake waits for the peer."""

    def __init__(self, stream: anyio.abc.ByteStream, pending: _Handshake) -> None:
        self._stream = stream
        self._pending = pending

    async def receive(self, max_bytes: int = 65536) -> bytes:
        self._pending.waiting_since = time.monotonic()
        try:
            return await self._stream.receive(max_bytes)
        finally:
            self._pending.waiting_since = None

    async def send(self, item: bytes) -> None:
        await self._stream.send(item)

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return self._stream.extra_attributes


class _KeepAliveTimers:
    """The keepalive timers of a server's connections, driven by one task.

    A heap of (deadline, n, client); a client's deadline only ever moves later (data
    received, a PING sent), so an entry that comes due early is pushed back with the real
    deadline.  The task ends when no connection has keepalive on.
    """

    __slots__ = ("_heap", "_running", "_seq", "_server", "_waiting_until", "_wake")

    def __init__(self, server: Server) -> None:
        self._server = server
        self._heap: list[tuple[float, int, ServerClient]] = []
        self._seq = itertools.count()
        self._running = False
        self._wake: anyio.Event | None = None
        self._waiting_until = math.inf

    def add(self, client: ServerClient) -> None:
        deadline = client.conn.next_deadline()
        if deadline is None:
            return
        heapq.heappush(self._heap, (deadline, next(self._seq), client))
        if not self._running:
            tg = self._server.task_group
            if tg is None:
                return
            self._running = True
            tg.start_soon(self._run, name="netrpc.Server keepalive")
        elif deadline < self._waiting_until and self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        heap = self._heap
        try:
            while heap:
                deadline, _, client = heap[0]
                now = time.monotonic()
                if deadline > now:
                    self._wake = anyio.Event()
                    self._waiting_until = deadline
                    with anyio.move_on_after(deadline - now):
                        await self._wake.wait()
                    self._wake = None
                    self._waiting_until = math.inf
                    continue
                heapq.heappop(heap)
                if client.closed:
                    continue
                due = client.conn.next_deadline()
                if due is not None and due > now:
                    heapq.heappush(heap, (due, next(self._seq), client))
                    continue
                try:
                    due = client.keepalive_due(now)
                except Exception:
                    client.log.exception("keepalive timer failed")
                    continue
                if due is not None:
                    heapq.heappush(heap, (due, next(self._seq), client))
        finally:
            self._running = False
            self._wake = None


class _IdleWatcher:
    """Idle plain connections of a server, waited for without a task each.

    A connection's read loop that waits for data notes the current sweep number and joins
    the connections to sweep (:meth:`wait_started`).  While some read loop waits or some
    connection is parked, one task of the server's sweeps every ``park_idle_after``
    seconds: a read loop that has waited since before the previous sweep, with nothing in
    flight, is asked to park (:meth:`ServerClient.park_if_idle`).  It then registers its
    socket in this watcher's epoll set and its task ends; a connection that no longer waits
    leaves the sweep, so parked connections cost the sweeps nothing.  The same task waits
    for the epoll descriptor to become readable and starts a new task for each parked
    connection whose socket has data or end of file (:meth:`Server._resume_client`);
    closing or draining a parked connection does the same at once (:meth:`unpark`).

    Busy connections never park (a new task per call would cost more than the call), so
    only connections idle for a while pay a task start when they speak again.  Without
    epoll (not Linux) nothing parks.
    """

    __slots__ = ("_epoll", "_nap", "_parked", "_running", "_server", "_sweep", "_waiting")

    def __init__(self, server: Server) -> None:
        self._server = server
        self._epoll: Any = None
        self._parked: dict[int, ServerClient] = {}
        # read loops that waited for data since the last sweep (some may be busy again)
        self._waiting: set[ServerClient] = set()
        self._running = False
        self._sweep = 1
        # While no read loop waits there is nothing to sweep: the task then waits for the
        # parked sockets alone, in this scope, until a read loop starts waiting again.
        self._nap: anyio.CancelScope | None = None

    @property
    def nparked(self) -> int:
        return len(self._parked)

    def start(self) -> None:
        """Serving starts: the epoll set (one descriptor for the server's lifetime)."""
        if self._epoll is None and hasattr(select, "epoll"):
            self._epoll = select.epoll()

    def wait_started(self, client: ServerClient) -> int:
        waiting = self._waiting
        if not waiting and (nap := self._nap) is not None:
            self._nap = None
            nap.cancel()  # sweeps are due again
        waiting.add(client)
        if not self._running and self._epoll is not None:
            tg = self._server.task_group
            if tg is not None and self._server.park_idle_after is not None:
                self._running = True
                tg.start_soon(self._run, name="netrpc.Server idle connections")
        return self._sweep

    def park(self, client: ServerClient) -> bool:
        stream = client.stream
        if not self._running or self._epoll is None or not isinstance(stream, RawSocketStream):
            return False
        fd = stream.socket.fileno()
        stream.stop_watching()  # the watcher's epoll set waits for it now
        try:
            self._epoll.register(fd, select.EPOLLIN)
        except OSError:
            return False
        self._parked[fd] = client
        return True

    def unpark(self, client: ServerClient) -> None:
        stream = client.stream
        if not isinstance(stream, RawSocketStream):
            return
        fd = stream.socket.fileno()
        if self._parked.get(fd) is not client:
            return  # already resumed
        self._resume(fd)

    def _resume(self, fd: int) -> None:
        client = self._parked.pop(fd)
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)
        tg = self._server.task_group
        if tg is not None:
            tg.start_soon(self._server._resume_client, client, name="netrpc.Server client")
        else:
            # Serving is over: stop() hands it over for closing.
            self._parked[fd] = client

    def stop(self) -> list[ServerClient]:
        """Serving is over: the parked connections, forgotten (the caller closes them)."""
        clients = list(self._parked.values())
        self._parked.clear()
        self._waiting.clear()
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
        return clients

    async def _run(self) -> None:
        server = self._server
        epoll = self._epoll
        assert epoll is not None
        try:
            next_sweep = time.monotonic()
            while (period := server.park_idle_after) is not None and self._epoll is epoll:
                # A socket registered while this waits wakes it too (epoll nests).
                if self._waiting:
                    with anyio.move_on_after(max(next_sweep - time.monotonic(), 0.0)):
                        await anyio.wait_readable(epoll.fileno())
                else:
                    # Only parked connections: no timer, so an idle server sleeps.
                    with anyio.CancelScope() as nap:
                        self._nap = nap
                        await anyio.wait_readable(epoll.fileno())
                    self._nap = None
                    if nap.cancel_called:
                        next_sweep = time.monotonic() + period
                        continue
                if self._epoll is not epoll:
                    break
                for fd, _events in epoll.poll(0):
                    if fd in self._parked:
                        self._resume(fd)
                now = time.monotonic()
                if now < next_sweep:
                    continue
                next_sweep = now + period
                sweep = self._sweep
                self._sweep = sweep + 1
                waiting = self._waiting
                for client in list(waiting):
                    if not client.park_if_idle(sweep):
                        waiting.discard(client)
                if not waiting and not self._parked:
                    break
        finally:
            self._running = False
            self._nap = None
