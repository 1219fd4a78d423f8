"""One accepted connection: a read loop feeding the sans-IO core, one writer, keepalive.

A :class:`ServerClient` owns its stream.  Its read loop reads, feeds the
:class:`~netrpc.core.connection.Connection`, dispatches every complete call the budget allows, and
writes the replies of a batch with one send before reading again.  Replies finished later (by
handler tasks and worker threads), events and keepalive PINGs are queued on the core and
written by a writer task; whichever of the two finds the socket idle writes everything
queued, so replies are coalesced and never interleaved.

A call holds one of the client's ``max_client_requests`` slots until its reply has been
written, inline handlers included, and no call is dispatched while more than
:attr:`ServerClient.max_output` bytes of output are unwritten: a client that does not read
its replies stops being read, and its replies cannot pile up in memory.  While its calls are
in flight the client is still read a little (see :class:`~netrpc.core.connection.Connection`), so
its keepalive messages are answered and keep it alive however slow the calls are.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import logging
import os
import pwd
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.abc import SocketAttribute

from ...core.connection import (
    NEED_DATA,
    PAUSED,
    CallReceived,
    Connection,
    ConnectionClosed,
    Role,
    StreamReceived,
)
from ...core.errors import ErrorDomain, RemoteProtocolError, RPCError
from ...core.framing import BufferPool
from ...core.identity import Identity, Transport
from ...core.program import Call, Dispatch, Dispatcher, Procedure, Reply, ServerHandle
from ...core.protocol import NUM_FDS_MAX, Header
from ...core.stream import StreamAbortedError
from .. import _sockio
from .faults import CORRUPT_ERROR_PAYLOAD, FaultAction, FaultRule
from .stream import ServerStream

if TYPE_CHECKING:
    from .faults import FaultInjector
    from .service import Service
    from .workers import WorkerPool

__all__ = ("Identity", "ServerClient", "Transport")

log = logging.getLogger("netrpc.server")

#: bytes asked for per read (the rest of a larger record is read in one go)
_RECEIVE_SIZE = 65536
_PEERCRED = struct.Struct("3i")
#: one name for every task tied to a connection (anyio would build one string per task)
_TASK_NAME = "netrpc.ServerClient"
#: the sweep number of a wait the idle watcher must never end
_NEVER = sys.maxsize


# Names are looked up for every connection (they may change) and interned, so that the
# connections of one user share one string.
def _user_name(uid: int) -> str | None:
    try:
        return sys.intern(pwd.getpwuid(uid).pw_name)
    except KeyError:
        return None


def _group_name(gid: int) -> str | None:
    try:
        return sys.intern(grp.getgrgid(gid).gr_name)
    except KeyError:
        return None


def identify(stream: anyio.abc.ByteStream, transport: Transport) -> Identity:
    """Read the peer's identity from a connected socket stream."""
    raw: socket.socket | None = stream.extra(SocketAttribute.raw_socket, None)
    if raw is not None and raw.family == socket.AF_UNIX:
        try:
            pid, uid, gid = _PEERCRED.unpack(
                raw.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
            )
        except OSError:
            return Identity(transport=Transport.UNIX)
        return Identity(transport=Transport.UNIX, unix_uid=uid, unix_gid=gid, unix_pid=pid,
                        user_name=_user_name(uid), group_name=_group_name(gid))
    remote = stream.extra(SocketAttribute.remote_address, None)
    address = None
    if isinstance(remote, tuple) and len(remote) >= 2:
        host, port = remote[0], remote[1]
        address = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return Identity(transport=transport, address=address)


class ClientHost(ServerHandle, Protocol):
    """What a connection needs of the server that accepted it (a
    :class:`~netrpc.io.server.Server`; handlers see the :class:`ServerHandle` part)."""

    @property
    def dispatcher(self) -> Dispatcher:
        """Resolves calls to procedures."""
        ...

    @property
    def workers(self) -> WorkerPool:
        """Runs blocking handlers."""
        ...

    @property
    def faults(self) -> FaultInjector | None:
        """Fault injection, when installed."""
        ...

    @property
    def max_client_requests(self) -> int:
        """Outstanding calls per client."""
        ...

    @property
    def max_client_output(self) -> int | None:
        """Unwritten output at which a client's calls wait."""
        ...

    @property
    def max_pending_output(self) -> int:
        """Unwritten output at which a client is dropped."""
        ...

    @property
    def keepalive_interval(self) -> float:
        """Seconds of silence before a ping."""
        ...

    @property
    def keepalive_count(self) -> int:
        """Unanswered pings before a client is dropped."""
        ...

    @property
    def task_group(self) -> anyio.abc.TaskGroup | None:
        """Where the tasks tied to a connection run, while the server serves."""
        ...

    @property
    def buffer_pool(self) -> BufferPool | None:
        """Receive buffers for large records, shared by the server's connections."""
        ...

    @property
    def keepalive_filter(self) -> Callable[[str], bool]:
        """Every connection's keepalive filter (fault injection; see
        :attr:`netrpc.core.connection.Connection.keepalive_filter`)."""
        ...

    def schedule_keepalive(self, client: ServerClient) -> None:
        """Drive *client*'s keepalive timer (see :meth:`ServerClient.keepalive_due`)."""
        ...

    def client_authenticated(self, client: ServerClient) -> None:
        """A client passed authentication."""
        ...

    def idle_wait(self, client: ServerClient) -> int:
        """*client*'s read loop starts waiting for data: the idle watcher's current sweep
        number (see :meth:`ServerClient.park_if_idle`)."""
        ...

    def park(self, client: ServerClient) -> bool:
        """Take over the wait of an idle connection (its task then ends); True when done."""
        ...

    def unpark(self, client: ServerClient) -> None:
        """Give a parked connection its task back now (to close or drain it)."""
        ...


class ServerClient:
    """A connected client of a :class:`~netrpc.io.server.Server`.

    Handlers see it as ``call.client``.  :attr:`private` holds per-program state (programs
    set it up in :meth:`~netrpc.core.program.Program.client_connected`).

    An idle connection costs a few objects and no task: the tasks tied to it (handlers, its
    writer, streams) run in the server's task group under cancel scopes it cancels when it
    closes, its writer is started only when there is output, its events are created only
    while a task waits on them, and once its read loop has waited for data a while with
    nothing in flight it *parks*: the server's idle watcher waits for its socket instead and
    runs the read loop again in a new task when data (or end of file) arrives
    (:meth:`park_if_idle`).  Busy connections never park, so calls pay nothing for it.
    """

    __slots__ = (
        "_authenticated",
        "_close_pending",
        "_closed",
        "_closed_event",
        "_dispatcher",
        "_draining",
        "_finished",
        "_id",
        "_idle",
        "_inflight",
        "_keepalive_started",
        "_log",
        "_ntasks",
        "_park_asked",
        "_parked",
        "_paused_read",
        "_pump",
        "_raw_reading",
        "_readonly",
        "_recv_scope",
        "_scope",
        "_slot_freed",
        "_stream_filter",
        "_task_scopes",
        "_tasks_done",
        "_unix",
        "_wait_gen",
        "_warned_limit",
        "conn",
        "connect_time",
        "identity",
        "private",
        "server",
        "service",
        "streams",
    )

    def __init__(
        self,
        server: ClientHost,
        service: Service,
        stream: anyio.abc.ByteStream,
        client_id: int,
        identity: Identity,
    ) -> None:
        self.server = server
        self.service = service
        self._id = client_id
        self.identity = identity
        self.connect_time = time.time()
        self._readonly = service.readonly
        self._authenticated = service.auth == "none"
        #: per-program private state
        self.private: dict[Any, Any] = {}
        self.conn = Connection(
            Role.SERVER,
            max_requests=service.max_client_requests or server.max_client_requests,
            max_output=server.max_client_output,
            keepalive_interval=server.keepalive_interval,
            keepalive_count=server.keepalive_count,
            buffer_pool=server.buffer_pool,
            wire=service.wire,
        )
        # Keepalive faults apply to every connection, whenever they are installed (one
        # filter per server, not a bound method per connection).
        self.conn.keepalive_filter = server.keepalive_filter
        self._dispatcher: Dispatcher = server.dispatcher
        # The owner of the output: only the read loop and the writer task write (see
        # OutputPump); handlers and stream senders queue and wait.  The writer task is
        # started when there is output and nobody writes.
        self._pump = _sockio.OutputPump(
            self.conn,
            stream,
            close_fds=True,
            written=self._slot_released,
            start_writer=self._start_writer,
        )
        self._slot_freed: anyio.Event | None = None
        # Set while the read loop reads with every slot taken: a freed slot interrupts that
        # read (before any byte is taken), so held calls are dispatched at once.
        self._paused_read = False
        # Set while the read loop waits in a plain socket's read (no cancel scope), since
        # the idle watcher's sweep _wait_gen.
        self._raw_reading = False
        self._wait_gen = 0
        # The idle watcher asked the waiting read loop to park / the connection is parked.
        self._park_asked = False
        self._parked = False
        self._keepalive_started = False
        self._close_pending = False
        self._recv_scope: anyio.CancelScope | None = None
        self._warned_limit = False
        #: open streams of this client, by the serial of the call that opened them
        self.streams: dict[int, ServerStream] = {}
        # The read loop's cancel scope, and those of the tasks tied to this connection.
        self._scope: anyio.CancelScope | None = None
        self._task_scopes: set[anyio.CancelScope] | None = None
        self._ntasks = 0
        self._tasks_done: anyio.Event | None = None
        self._closed = False
        self._finished = False
        self._stream_filter: Callable[[anyio.abc.ByteStream], anyio.abc.ByteStream] | None = None
        self._draining = False
        self._inflight = 0
        self._idle: anyio.Event | None = None
        self._closed_event: anyio.Event | None = None
        self._log: logging.LoggerAdapter[logging.Logger] | None = None
        self._unix = identity.transport is Transport.UNIX and hasattr(stream, "receive_fds")

    # ------------------------------------------------------------------ ClientHandle API

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """This client's logger (records carry ``client=<id>``)."""
        if self._log is None:
            self._log = logging.LoggerAdapter(log, {"client": self._id})
        return self._log

    @property
    def closed_event(self) -> anyio.Event:
        """Set once the connection is closed and everything tied to it has finished."""
        if self._closed_event is None:
            self._closed_event = anyio.Event()
            if self._finished:
                self._closed_event.set()
        return self._closed_event

    def set_finished(self) -> None:
        """Called by the server once the connection is gone (sets :attr:`closed_event`)."""
        self._finished = True
        if self._closed_event is not None:
            self._closed_event.set()

    @property
    def id(self) -> int:
        """Server-unique id (libvirt's client id, shown by virt-admin)."""
        return self._id

    @property
    def readonly(self) -> bool:
        """True when connected through a read-only service."""
        return self._readonly

    @property
    def authenticated(self) -> bool:
        """True once authentication finished (immediately for auth "none")."""
        return self._authenticated

    def set_authenticated(self) -> None:
        """Mark the client authenticated (an auth program calls this)."""
        if not self._authenticated:
            self._authenticated = True
            self.server.client_authenticated(self)

    def set_stream_filter(
        self, wrap: Callable[[anyio.abc.ByteStream], anyio.abc.ByteStream]
    ) -> None:
        """Put a byte filter (a SASL security layer) between the socket and the records.

        Takes effect once the reply to the current call is written, unwrapped: every byte
        after it, both ways, goes through ``wrap(stream)``.  Call it from an ``inline``
        handler (the read loop applies it before it reads again); bytes the peer sent
        before it could have seen the reply close the connection.
        """
        self._stream_filter = wrap

    @property
    def closed(self) -> bool:
        """True once the connection is gone."""
        return self._closed

    def send_event(
        self, program: int, version: int, procedure: int, payload: bytes, *, serial: int = 1
    ) -> None:
        """Queue an event MESSAGE; silently dropped once the connection is closed."""
        if self._closed or self.conn.closed_reason is not None:
            return
        if self.conn.pending_output + len(payload) > self.server.max_pending_output:
            # A client that does not read its events must not make the server buffer
            # without bound: drop it, as if its connection had failed.
            self.log.warning(
                "closing client %s: %d bytes of unread output (limit %d)",
                self.peer_description(),
                self.conn.pending_output,
                self.server.max_pending_output,
            )
            self.close("too much unread output")
            return
        self.conn.send_event(program, version, procedure, payload, serial=serial)
        self._pump.request()

    @property
    def max_output(self) -> int | None:
        """Unwritten output (bytes) at which this client's calls stop being dispatched and
        its socket stops being read, until the client reads its replies; None: no limit.
        Starts as the server's ``max_client_output``."""
        return self.conn.max_output

    @max_output.setter
    def max_output(self, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError(f"max_output must be at least 1, got {value}")
        self.conn.max_output = value
        self._slot_released()

    def close_after_reply(self) -> None:
        """Close once the reply of the current call is written (libvirt's DelayedClose)."""
        self._close_pending = True

    def start_keepalive(self) -> bool:
        """Start pinging this client when it goes silent (server keepalive settings)."""
        if self._keepalive_started:
            return True
        if not self.conn.start_keepalive(time.monotonic()):
            return False
        self._keepalive_started = True
        if not self._closed:
            # One timer task per server serves every connection's keepalive.
            self.server.schedule_keepalive(self)
        return True

    def close(self, reason: str = "closed by server") -> None:
        """Close the connection now; pending calls are abandoned, their replies dropped."""
        if self._closed:
            return
        self.conn.mark_closed(reason)
        self._pump.stopped()
        self.log.debug("closing: %s", reason)
        if self._scope is not None:
            self._scope.cancel()
        for scope in list(self._task_scopes or ()):
            scope.cancel()
        if self._parked:
            # Its task tears it down.
            self.server.unpark(self)

    # ------------------------------------------------------------------ main loop

    async def run(self) -> bool:
        """Serve the connection until it closes (True) or parks (False: the server runs
        this again when data arrives, or to close it); never raises (except cancellation)."""
        self._parked = parked = False
        try:
            with anyio.CancelScope() as self._scope:
                if self.conn.closed_reason is not None:
                    return True  # closed before it ran (or while parked)
                try:
                    parked = await self._read_loop()
                except RemoteProtocolError as exc:
                    self.log.warning("closing connection from %s: %s", self.peer_description(), exc)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                    self.log.debug("connection lost: %r", exc)
                except StreamAbortedError as exc:
                    # Waiting for output that can no longer be written (the writer failed).
                    self.log.debug("connection lost: %s", exc)
                except Exception:
                    self.log.exception("unexpected failure serving client")
        finally:
            self._scope = None
            if not parked:
                await self._teardown()
        return not parked

    async def _teardown(self) -> None:
        self._closed = True
        self.conn.mark_closed("connection closed")
        self._pump.stopped()
        self._signal_idle()
        with anyio.CancelScope(shield=True):
            await self._stop_tasks()
        for stream in list(self.streams.values()):
            stream.connection_lost()
        self.streams.clear()
        for fd in self.conn.take_unclaimed_fds():
            _close_fd(fd)
        self.conn.release_buffers()
        with anyio.CancelScope(shield=True):
            await anyio.aclose_forcefully(self.stream)
        self.set_finished()

    # ------------------------------------------------------------------ tasks

    def _start(self, func: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``await func(*args)`` in the server's task group, tied to this connection:
        cancelled when it closes, waited for before its socket is closed."""
        tg = self.server.task_group
        if tg is None:
            raise RuntimeError("the client is not running")
        tg.start_soon(self._task, func, args, name=_TASK_NAME)

    async def _task(self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        if self._closed:
            return
        self._ntasks += 1
        try:
            with anyio.CancelScope() as scope:
                scopes = self._task_scopes
                if scopes is None:
                    scopes = self._task_scopes = set()
                scopes.add(scope)
                if self.conn.closed_reason is not None:
                    scope.cancel()
                try:
                    await func(*args)
                finally:
                    scopes.discard(scope)
        except Exception:
            # Last line of defence: a task's failure must not reach the server's task group.
            self.log.exception("task %r failed", func)
            self.close("internal error")
        finally:
            self._ntasks -= 1
            if not self._ntasks and self._tasks_done is not None:
                self._tasks_done.set()

    async def _stop_tasks(self) -> None:
        for scope in list(self._task_scopes or ()):
            scope.cancel()
        while self._ntasks:
            self._tasks_done = anyio.Event()
            await self._tasks_done.wait()
        self._tasks_done = None

    def peer_description(self) -> str:
        """The peer for log lines: its address, or its process on a unix socket."""
        ident = self.identity
        if ident.address:
            return ident.address
        if ident.unix_pid is not None:
            return f"unix pid={ident.unix_pid} uid={ident.unix_uid}"
        return "unix socket"

    async def _read_loop(self) -> bool:
        """Returns True when the connection parked, False when it is over."""
        conn = self.conn
        unix_fds = self._unix and self.service.fd_passing
        while True:
            # Hand out every complete call the budget allows.
            while not self._draining:
                event = conn.next_event()
                if event is NEED_DATA:
                    break
                if event is PAUSED:
                    if conn.closing:
                        await self._wait_idle()
                        return False
                    self._note_request_limit()
                    if conn.has_output or self._pump.sending:
                        # Writing frees the slots of the replies written.
                        await self._pump.drain()
                        continue
                    if conn.can_dispatch:
                        continue
                    if conn.wants_read:
                        # Every slot is taken by calls in flight: read on (keepalive),
                        # until a slot frees.
                        break
                    slot_freed = self._slot_freed = anyio.Event()
                    if not conn.can_dispatch and not conn.closing and not self._draining:
                        await slot_freed.wait()
                    continue
                if isinstance(event, CallReceived):
                    running = self._handle_call(event)
                    if running is not None:
                        await running
                    if self._stream_filter is not None:
                        await self._apply_stream_filter()
                elif isinstance(event, StreamReceived):
                    self._handle_stream(event)
                elif isinstance(event, ConnectionClosed):
                    await self._wait_idle()
                    return False
            if self._draining:
                await self._wait_idle()
                return False
            if conn.has_output:
                # The batch's replies go out with one write.
                await self._pump.write_queued()
            paused = not conn.can_dispatch
            if paused and not conn.wants_read:
                continue
            stream = self.stream
            if paused or not isinstance(stream, _sockio.RawSocketStream):
                # Interruptible: a freed slot or drain() cancels this read (before it has
                # taken any byte).
                with anyio.CancelScope() as self._recv_scope:
                    self._paused_read = paused
                    try:
                        await _sockio.receive_into_connection(
                            stream, conn, _RECEIVE_SIZE, with_fds=unix_fds
                        )
                    finally:
                        self._paused_read = False
                self._recv_scope = None
            else:
                # The idle wait of a plain socket needs no cancel scope: drain() ends it by
                # shutting the socket's reading side.  The read loop waits for readability
                # itself: no coroutine of its own per idle connection.
                if stream.yield_due():
                    await anyio.lowlevel.checkpoint()
                maxfds = NUM_FDS_MAX if unix_fds else 0
                view = conn.receive_view()
                if view is not None:
                    # The rest of a large record, straight into a pool buffer.
                    with view:
                        while (into := stream.receive_into_nowait(view, maxfds)) is None:
                            # Holding a pool buffer: never parked.
                            await self._wait_readable(stream, parkable=False)
                    count, fds = into
                    conn.commit_received(count, time.monotonic(), tuple(fds))
                    continue
                size = conn.read_size(_RECEIVE_SIZE)
                while (got := stream.receive_nowait(size, maxfds)) is None:
                    if await self._wait_readable(stream) and self._park():
                        return True
                data, fds = got
                conn.receive_data(data, time.monotonic(), tuple(fds))

    async def _wait_readable(
        self, stream: _sockio.RawSocketStream, *, parkable: bool = True
    ) -> bool:
        """Wait until the socket is readable; True when the idle watcher asked this
        connection to park instead (see :meth:`park_if_idle`)."""
        self._raw_reading = True
        self._wait_gen = self.server.idle_wait(self) if parkable else _NEVER
        try:
            await stream.wait_readable()
        except anyio.ClosedResourceError:
            if not self._park_asked:
                raise
        finally:
            self._raw_reading = False
        asked, self._park_asked = self._park_asked, False
        return asked

    def _can_park(self) -> bool:
        # Nothing in flight, nothing to write, no task or stream of its own: only the
        # socket is left to wait for.
        return not (
            self._inflight
            or self._ntasks
            or self.streams
            or self._draining
            or self._stream_filter is not None
            or self._pump.sending
            or self.conn.has_output
            or self.conn.closed_reason is not None
        )

    def _park(self) -> bool:
        if self._can_park() and self.server.park(self):
            self._parked = True
            return True
        return False

    def park_if_idle(self, sweep: int) -> bool:
        """The server's idle watcher calls this on each sweep for every connection whose
        read loop waited for data since the previous one: a read loop that has waited
        since before the previous sweep is asked to park (its wait ends; it hands the
        socket to the watcher and its task returns).  Returns True while the read loop
        waits for data without being parked."""
        if not self._raw_reading:
            return False
        if self._wait_gen < sweep and not self._park_asked and self._can_park():
            stream = self.stream
            assert isinstance(stream, _sockio.RawSocketStream)
            self._park_asked = True
            # Ends the read loop's wait_readable() with ClosedResourceError; the socket
            # stays open, and nothing else waits on it (no output, no task).
            stream.interrupt_wait()
        return True

    @property
    def parked(self) -> bool:
        """True while the connection is idle without a task (see :meth:`park_if_idle`)."""
        return self._parked

    async def _apply_stream_filter(self) -> None:
        wrap, self._stream_filter = self._stream_filter, None
        assert wrap is not None
        if self.conn.buffered_input:
            # The peer cannot have seen the reply yet: these bytes were not sent through
            # the layer, so they must not be taken as the authenticated peer's.
            raise RemoteProtocolError(
                f"{self.conn.buffered_input} bytes received before the security layer started"
            )
        # Everything before the switch leaves in the clear, and the writer is idle.
        await self._pump.drain()
        self.stream = wrap(self.stream)

    def _slot_released(self) -> None:
        """Output was written or a slot freed: let a paused read loop dispatch again."""
        if self._slot_freed is not None:
            self._signal_slot()
        if self._paused_read and self._recv_scope is not None and self.conn.can_dispatch:
            self._recv_scope.cancel()

    def _signal_slot(self) -> None:
        event = self._slot_freed
        if event is not None:
            self._slot_freed = None
            event.set()

    def _signal_idle(self) -> None:
        event = self._idle
        if event is not None:
            self._idle = None
            event.set()

    def _note_request_limit(self) -> None:
        if self.conn.hit_request_limit and not self._warned_limit:
            self._warned_limit = True
            if self.conn.max_requests > 1:
                self.log.warning(
                    "Client hit max requests limit %d. This may result in keep-alive "
                    "timeouts. Consider tuning the max_client_requests server parameter",
                    self.conn.max_requests,
                )

    async def _wait_idle(self) -> None:
        while self._inflight:
            idle = self._idle = anyio.Event()
            await idle.wait()
        await self._pump.drain()

    # ------------------------------------------------------------------ calls

    def _handle_call(self, event: CallReceived) -> Awaitable[None] | None:
        """Dispatch a call; returns what the read loop must await before it goes on (an
        inline async handler), else None (no coroutine per call for the others)."""
        header = event.header
        resolved = self._dispatcher.resolve(
            header, event.payload, authenticated=self._authenticated, readonly=self._readonly
        )
        if resolved is None:
            self.conn.discard(header)
            _close_fds(event.fds)
            return None
        if isinstance(resolved, RPCError):
            self.log.debug("call %s rejected: %s", header, resolved.message)
            self.conn.send_error(header, resolved)
            _close_fds(event.fds)
            return None
        server = self.server
        call = Call(header, self, server, list(event.fds) if event.fds else [])
        faults = server.faults
        if faults is not None and faults.rules:
            rule = faults.match_call(header, self._id)
            if rule is not None:
                self._inject(rule, call, resolved)
                return None
        proc = resolved.procedure
        if proc.inline or (not proc.is_async and server.workers.max_workers == 0):
            self._inflight += 1
            if proc.is_async:
                return self._run_inline(call, resolved)
            try:
                result = proc.handler(resolved.program, call, resolved.args)
            except BaseException as exc:
                if isinstance(exc, anyio.get_cancelled_exc_class()):
                    raise
                self._finish(call, proc, exc, failed=True)
            else:
                self._finish(call, proc, result)
            return None
        self._inflight += 1
        if proc.is_async:
            self._start(self._run_async, call, resolved)
        else:
            self._start(self._run_in_worker, call, resolved)
        return None

    async def _run_inline(self, call: Call, resolved: Dispatch) -> None:
        """An inline async handler, run by the read loop itself."""
        proc = resolved.procedure
        try:
            result = await proc.handler(resolved.program, call, resolved.args)
        except BaseException as exc:
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            self._finish(call, proc, exc, failed=True)
        else:
            self._finish(call, proc, result)

    async def _run_async(self, call: Call, resolved: Dispatch) -> None:
        try:
            result = await resolved.procedure.handler(resolved.program, call, resolved.args)
        except Exception as exc:
            self._finish(call, resolved.procedure, exc, failed=True)
        else:
            self._finish(call, resolved.procedure, result)
        self._pump.request()

    async def _run_in_worker(self, call: Call, resolved: Dispatch) -> None:
        proc = resolved.procedure
        try:
            result = await self.server.workers.run(
                proc.handler, resolved.program, call, resolved.args, priority=proc.priority
            )
        except Exception as exc:
            self._finish(call, proc, exc, failed=True)
        else:
            self._finish(call, proc, result)
        self._pump.request()

    # ------------------------------------------------------------------ fault injection

    def _inject(self, rule: FaultRule, call: Call, resolved: Dispatch) -> None:
        """Apply a fault rule to a call instead of running it the normal way."""
        action = rule.action
        if action is FaultAction.ERROR:
            assert rule.error is not None
            self.conn.send_error(call.header, rule.error)
            _close_fds(call.fds)
            return
        if action is FaultAction.DROP_BEFORE:
            _close_fds(call.fds)
            self.close(f"fault injected: {rule.text}")
            return
        if action is FaultAction.DROP_AFTER:
            # Take no further call: the connection closes once this one's reply is written
            # (as after CONNECT_CLOSE), so nothing sent after it is answered.
            self.conn.close_after_flush()
        self._inflight += 1
        self._start(self._run_faulted, rule, call, resolved)

    async def _run_faulted(self, rule: FaultRule, call: Call, resolved: Dispatch) -> None:
        proc = resolved.procedure
        action = rule.action
        if action is FaultAction.DELAY:
            await anyio.sleep(rule.delay)
        elif action is FaultAction.HANG and self.server.faults is not None:
            await self.server.faults.wait_released()
        try:
            if proc.is_async:
                result = await proc.handler(resolved.program, call, resolved.args)
            elif proc.inline or self.server.workers.max_workers == 0:
                result = proc.handler(resolved.program, call, resolved.args)
            else:
                result = await self.server.workers.run(
                    proc.handler, resolved.program, call, resolved.args, priority=proc.priority
                )
        except Exception as exc:
            self._finish(call, proc, exc, failed=True)
        else:
            if action is FaultAction.CORRUPT:
                if isinstance(result, Reply):
                    _close_fds(result.fds)
                self._finish(call, proc, CORRUPT_ERROR_PAYLOAD, failed=True)
            else:
                self._finish(call, proc, result)
        self._pump.request()

    def _finish(
        self, call: Call, proc: Procedure[Any, Any], outcome: Any, *, failed: bool = False
    ) -> None:
        """Queue the reply (or error) of *call* and free its request slot.

        With *failed*, *outcome* is the exception raised (an :class:`RPCError` is sent as
        it is) or an already encoded error payload (``bytes``).
        """
        self._inflight -= 1
        header = call.header
        conn = self.conn
        fds: tuple[int, ...] = ()
        try:
            if conn.closed_reason is not None:
                return
            if failed:
                if isinstance(outcome, (RPCError, bytes)):
                    conn.send_error(header, outcome)
                else:
                    self.log.error(
                        "procedure %s (%d) failed", proc.name, proc.number, exc_info=outcome
                    )
                    conn.send_error(header, _internal_error(proc, outcome))
                return
            if isinstance(outcome, Reply):
                outcome, fds = outcome.value, tuple(outcome.fds)
                if fds and not self._unix:
                    raise RPCError.internal("file descriptors can only be sent on unix sockets")
            try:
                # (Dispatcher.encode_return, written out: this runs for every call)
                ret = proc.ret
                payload = b"" if ret is None else ret.encode(outcome)
            except Exception as exc:
                self.log.error(
                    "procedure %s (%d) returned a bad value", proc.name, proc.number, exc_info=exc
                )
                conn.send_error(header, _internal_error(proc, exc))
                return
            conn.send_reply(header, payload, fds)
        except RPCError as exc:
            conn.send_error(header, exc)
        finally:
            # (Each step tested first: this runs for every call.)
            if self.streams:
                stream = self.streams.get(header.serial)
                if stream is not None and stream.header is header:
                    if failed:
                        stream.opening_call_failed()
                    else:
                        stream.reply_sent()
            if call.fds:
                _close_fds(call.fds)
            if self._close_pending:
                self._close_pending = False
                conn.close_after_flush()
            if self._slot_freed is not None:
                self._signal_slot()
            if self._inflight == 0 and self._idle is not None:
                self._signal_idle()

    def _handle_stream(self, event: StreamReceived) -> None:
        handler = self.streams.get(event.header.serial)
        if handler is None:
            self.conn.discard(event.header)
            return
        handler.packet_received(event)

    # ------------------------------------------------------------------ output

    @property
    def stream(self) -> anyio.abc.ByteStream:
        """The connection's byte stream (a TLS stream once the handshake is done)."""
        return self._pump.stream

    @stream.setter
    def stream(self, stream: anyio.abc.ByteStream) -> None:
        self._pump.stream = stream

    async def wait_written(self, below: int = 1) -> None:
        """Return once less than *below* bytes of queued output are left unwritten
        (by default: once everything queued so far is written).  The writer task writes;
        the caller only waits, so cancelling it never cuts a message short.

        :raises StreamAbortedError: if the connection is gone.
        """
        await self._pump.wait_written(below)

    def wake_writer(self) -> None:
        """Have the writer send what the connection queued (streams queue output directly)."""
        self._pump.request()

    def spawn(self, func: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``await func(*args)`` in a task tied to this connection (cancelled when it
        closes).  An exception is logged; it never affects other clients."""
        if self._closed:
            raise RuntimeError("the client is not running")
        self._start(self._guarded, func, args)

    async def _guarded(self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        try:
            await func(*args)
        except StreamAbortedError as exc:
            self.log.debug("stream task ended: %s", exc)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            self.log.debug("connection lost in task: %r", exc)
        except Exception:
            self.log.exception("task %r failed", func)

    # ------------------------------------------------------------------ streams

    def open_stream(self, header: Header, *, sparse: bool = False) -> ServerStream:
        """Open a stream bound to the call *header* (see
        :meth:`netrpc.core.program.Call.open_stream`)."""
        if header.serial in self.streams:
            raise RPCError.internal(f"a stream with serial {header.serial} is already open")
        stream = ServerStream(self, header, sparse=sparse)
        self.streams[header.serial] = stream
        self.conn.open_stream(header)
        return stream

    def stream_closed(self, stream: ServerStream) -> None:
        """Forget a stream that finished or aborted (called by the stream)."""
        self.conn.close_stream(stream.header)
        if self.streams.get(stream.header.serial) is stream:
            del self.streams[stream.header.serial]

    def stream_packet_consumed(self, header: Header) -> None:
        """A stream handed an incoming packet to its reader: its request slot is free."""
        if self.conn.closed_reason is None and self.conn.nrequests > 0:
            self.conn.discard(header)
        self._slot_released()

    def _start_writer(self) -> None:
        """Start the writer task (the pump asks for it when there is output to write and
        no task is writing)."""
        if self._closed or self.server.task_group is None:
            return
        self._start(self._writer)

    async def _writer(self) -> None:
        try:
            await self._pump.run_writer()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self.log.debug("write failed: %r", exc)
            self.close("write failed")
            return
        if self.conn.closing and not self.conn.has_output and self._inflight == 0:
            # CONNECT_CLOSE answered by a task: the read loop may be waiting for a slot.
            self._signal_slot()

    def keepalive_due(self, now: float) -> float | None:
        """The server's keepalive timer calls this when the connection's deadline passed:
        a PING is queued, or the silent client is closed.  Returns the next deadline (None
        once the timer stopped)."""
        if self._closed or self.conn.closed_reason is not None:
            return None
        if self.conn.handle_timer(now):
            self.log.warning(
                "connection closed due to keepalive timeout (%s)", self.peer_description()
            )
            self.close("keepalive timeout")
            return None
        if self.conn.has_output:
            self.wake_writer()
        return self.conn.next_deadline()

    # ------------------------------------------------------------------ shutdown

    def drain(self) -> None:
        """Stop taking new calls; the connection closes once in-flight calls are answered."""
        self._draining = True
        self._signal_slot()
        if self._parked:
            self.server.unpark(self)
        elif self._recv_scope is not None:
            # The read loop is waiting in receive(): interrupt just that wait.
            self._recv_scope.cancel()
        elif self._raw_reading:
            stream = self.stream
            assert isinstance(stream, _sockio.RawSocketStream)
            with contextlib.suppress(OSError):
                # The pending read returns end of file; what the client sends from now on
                # is not read.
                stream.socket.shutdown(socket.SHUT_RD)


def _internal_error(proc: Procedure[Any, Any], exc: BaseException) -> RPCError:
    return RPCError.internal(
        f"procedure {proc.name} failed unexpectedly ({type(exc).__name__})",
        domain=ErrorDomain.RPC,
    )


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError as exc:
        if exc.errno != errno.EBADF:
            raise


def _close_fds(fds: tuple[int, ...] | list[int]) -> None:
    for fd in fds:
        _close_fd(fd)
