"""The RPC client (libvirt's virNetClient): concurrent calls, events, keepalive.

Open a client as an async context manager; it runs one reader task that matches replies to
calls by serial, hands events to callbacks and answers keepalive PINGs::

    async with Client.unix("/run/greeterd.sock") as client:
        greeter = client.stub(Greeter)
        reply = await greeter.greet(GreetArgs(name="world"))

When the connection dies every pending call fails at once with
:class:`~netrpc.core.errors.ConnectionLostError`; nothing hangs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

import anyio
import anyio.abc

from ..core.connection import (
    NEED_DATA,
    PAUSED,
    Connection,
    ConnectionClosed,
    MessageReceived,
    ReplyReceived,
    Role,
    StreamReceived,
)
from ..core.errors import ConnectionLostError, LocalProtocolError, RemoteProtocolError
from ..core.program import ArgsT, Procedure, Program, RetT
from ..core.protocol import Header, MessageStatus
from ..core.state import Side
from ..core.stream import (
    CHUNK_SIZE,
    STREAM_WINDOW,
    AbortPacket,
    DataPacket,
    EndOfData,
    ErrorPacket,
    FinishPacket,
    Hole,
    HolePacket,
    StreamAbortedError,
    StreamEvent,
    StreamState,
    classify,
    wire_form,
)
from ..core.wire import LIBVIRT_WIRE, Wire
from . import _sockio

if TYPE_CHECKING:
    from ..security.sasl.client import SASLCredentials
    from ..security.tls import TLSContext
    from .uri import LibvirtURI

__all__ = ("Client", "ClientStream", "EventCallback", "ProgramStub")

log = logging.getLogger("netrpc.client")

EventCallback = Callable[[Header, bytes], Any]

_RECEIVE_SIZE = 524288


class _Waiter:
    __slots__ = ("done", "error", "fds", "header", "payload")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.header: Header | None = None
        self.payload = b""
        self.fds: tuple[int, ...] = ()
        self.error: BaseException | None = None


class Client:
    """A connection to a netrpc (or libvirt) server.

    Use :meth:`connect` (a libvirt URI), :meth:`unix`, :meth:`tcp`, :meth:`tls` or
    :meth:`command` to connect, as async context managers.  The constructor wraps an
    already-connected anyio byte stream; the client serves it between ``__aenter__`` and
    ``__aexit__``.

    Only the client's writer task writes to the connection: a caller that is cancelled or
    times out never leaves half a message on the wire.

    :param stream: a connected byte stream.
    :param keepalive_interval: when > 0, ping the server after this many idle seconds.
    :param keepalive_count: unanswered pings before the connection is declared dead.
    :param wire: the wire protocol (libvirt's by default; see :mod:`netrpc.core.wire`).
    """

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        *,
        keepalive_interval: float = 0,
        keepalive_count: int = 5,
        wire: Wire = LIBVIRT_WIRE,
    ) -> None:
        self.stream = stream
        self.conn = Connection(
            Role.CLIENT,
            keepalive_interval=keepalive_interval,
            keepalive_count=keepalive_count,
            wire=wire,
        )
        self._keepalive = keepalive_interval > 0 and wire.keepalive
        self._waiters: dict[int, _Waiter] = {}
        self._event_handlers: dict[tuple[int, int], list[EventCallback]] = {}
        self._stream_handlers: dict[int, Callable[[Header, bytes], None]] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._closed_reason: str | None = None
        # The single writer of the socket (see _writer): callers only queue and wait.
        self._pump = _sockio.OutputPump(self.conn, stream, close_fds=False)
        self.closed = anyio.Event()
        self._fd_capable = bool(getattr(stream, "fd_capable", hasattr(stream, "send_fds")))
        self._backlogged: list[ClientStream] = []
        #: the URI :meth:`connect` was given (None for the other constructors)
        self.uri: LibvirtURI | None = None

    # ------------------------------------------------------------------ connecting

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        uri: str,
        *,
        readonly: bool = False,
        env: Mapping[str, str] | None = None,
        sasl: SASLCredentials | None = None,
        **options: Any,
    ) -> AsyncIterator[Client]:
        """Connect the way libvirt's remote driver does for *uri*.

        ``qemu:///system``, ``test+unix:///default?socket=PATH``,
        ``test+tcp://host[:port]/default``, ``qemu+tls://host/system?pkipath=DIR``
        (``no_verify=1``, ``no_sanity=1``), ``qemu+ssh://user@host/system?keyfile=KEY``
        (libvirt's ssh command line: ``netcat=``, ``proxy=netcat|native``, ``socket=``,
        ``no_tty=1``, ``no_verify=1``, ``command=``) and ``test+ext:///default?command=CMD``
        work, with libvirt's default sockets and ports (see :mod:`netrpc.io.uri`).  The client
        only connects: open the driver with ``CONNECT_OPEN`` of ``client.uri.name``.

        When a command (ssh, ext) fails, calls raise
        :class:`~netrpc.errors.ConnectionLostError` with its standard error.

        :param readonly: use the read-only socket (unix transports, netcat proxy) or ask
            virt-ssh-helper for a read-only connection, as ``virConnectOpenReadOnly``.
        :param env: the environment of a command transport (default: this process's).
        :param sasl: log in with SASL first (see :meth:`unix`).
        :raises URIError: for a URI libvirt's remote driver refuses.
        :raises OSError: when the daemon cannot be reached (unix, tcp, tls) or the command
            cannot be started.
        """
        from .uri import URIError, parse_uri

        target = parse_uri(uri)
        transport = target.transport
        if transport == "unix":
            path = target.unix_socket(readonly=readonly)
            async with cls.unix(path, sasl=sasl, **options) as client:
                client.uri = target
                yield client
        elif transport == "tcp":
            async with cls.tcp(target.hostname, target.tcp_port, sasl=sasl, **options) as client:
                client.uri = target
                yield client
        elif transport == "tls":
            from ..security.tls import PKIFiles, TLSContext

            files = PKIFiles.locate(role="client", pkipath=target.param("pkipath"))
            context = TLSContext(
                files,
                role="client",
                verify_peer=not target.flag("no_verify"),
                sanity_check=not target.flag("no_sanity"),
                priority=target.param("tls_priority"),
            )
            async with cls.tls(
                target.hostname, target.tcp_port, context, sasl=sasl, **options
            ) as client:
                client.uri = target
                yield client
        elif transport in ("ssh", "ext"):
            argv = target.ssh_argv(readonly=readonly) if transport == "ssh" else target.ext_argv()
            async with cls.command(argv, env=env, sasl=sasl, **options) as client:
                client.uri = target
                yield client
        else:
            raise URIError(
                f"the {transport} transport is not supported here; use ssh (libvirt's "
                "OpenSSH transport) instead"
            )

    @classmethod
    @contextlib.asynccontextmanager
    async def unix(
        cls,
        path: str | os.PathLike[str],
        *,
        sasl: SASLCredentials | None = None,
        **options: Any,
    ) -> AsyncIterator[Client]:
        """Connect to a unix socket.

        :param sasl: log in with SASL first (see :mod:`netrpc.security.sasl.client`).
        """
        stream: anyio.abc.ByteStream = await _sockio.connect_unix(os.fspath(path))
        stream = await _login(stream, sasl, secure=True, host="localhost")
        async with cls(stream, **options) as client:
            yield client

    @classmethod
    @contextlib.asynccontextmanager
    async def tcp(
        cls, host: str, port: int, *, sasl: SASLCredentials | None = None, **options: Any
    ) -> AsyncIterator[Client]:
        """Connect over plain TCP.

        :param sasl: log in with SASL first; plain TCP needs a mechanism with a security
            layer (GSSAPI), which then wraps all traffic.
        """
        stream: anyio.abc.ByteStream = await _sockio.connect_tcp(host, port)
        stream = await _login(stream, sasl, secure=False, host=host)
        async with cls(stream, **options) as client:
            yield client

    @classmethod
    @contextlib.asynccontextmanager
    async def tls(
        cls,
        host: str,
        port: int,
        context: TLSContext,
        *,
        hostname: str | None = None,
        handshake_timeout: float = 30.0,
        sasl: SASLCredentials | None = None,
        **options: Any,
    ) -> AsyncIterator[Client]:
        """Connect over TLS, check the server's certificate for *hostname* (default: *host*)
        and read the server's confirmation byte.

        :param sasl: log in with SASL after the TLS handshake.
        """
        from ..security import tls

        raw = await anyio.connect_tcp(host, port)
        try:
            stream, _peer = await tls.client_handshake(
                raw, context, hostname=hostname or host, timeout=handshake_timeout
            )
        except BaseException:
            await anyio.aclose_forcefully(raw)
            raise
        tls_stream: anyio.abc.ByteStream = stream
        tls_stream = await _login(tls_stream, sasl, secure=True, host=hostname or host)
        async with cls(tls_stream, **options) as client:
            yield client

    @classmethod
    @contextlib.asynccontextmanager
    async def command(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        sasl: SASLCredentials | None = None,
        **options: Any,
    ) -> AsyncIterator[Client]:
        """Talk to a server through a spawned command's stdin/stdout (an ssh-style tunnel,
        e.g. ``["ssh", "host", "nc", "-U", "/run/libvirt/libvirt-sock"]``).

        The command's standard error is read all along (it never blocks on it) and ends up
        in the :class:`~netrpc.errors.ConnectionLostError` of calls when the connection
        ends; leaving the context terminates the command and reaps it.
        """
        from ._command import CommandStream

        command = await CommandStream.spawn(argv, env=env)
        # The standard error reader runs beside the client; it never raises, so the body's
        # own exception leaves this context as itself, not in an ExceptionGroup.
        tg = anyio.create_task_group()
        await tg.__aenter__()
        try:
            tg.start_soon(command.read_stderr)
            stream: anyio.abc.ByteStream = await _login(
                command, sasl, secure=True, host="localhost"
            )
            async with cls(stream, **options) as client:
                yield client
        finally:
            with anyio.CancelScope(shield=True):
                await command.aclose()
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)

    async def __aenter__(self) -> Client:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._reader)
        self._task_group.start_soon(self._writer)
        if self._keepalive:
            self.conn.start_keepalive(time.monotonic())
            self._task_group.start_soon(self._keepalive_loop)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        await self.aclose()
        assert self._task_group is not None
        # The reader and writer never raise; the body's own exception must propagate as
        # itself, not wrapped in the task group's ExceptionGroup.
        await self._task_group.__aexit__(None, None, None)
        return None

    async def aclose(self) -> None:
        """Close the connection; pending calls fail with ConnectionLostError."""
        self._fail_all("connection closed by client")
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            await anyio.aclose_forcefully(self.stream)
        self.closed.set()

    # ------------------------------------------------------------------ calls

    async def call(
        self,
        program: int,
        version: int,
        procedure: int,
        payload: bytes = b"",
        *,
        fds: Sequence[int] = (),
    ) -> bytes:
        """Call a procedure with raw XDR *payload*; return the raw reply payload.

        Bound a call with a cancel scope (``with anyio.fail_after(5): await
        client.call(...)``): a call given up on is never cut in half on the wire, its
        reply is discarded when it arrives, and the connection stays usable.

        :raises RPCError: when the server answers with an error.
        :raises ConnectionLostError: when the connection dies before the reply.
        """
        _, payload_out, _ = await self.call_with_fds(program, version, procedure, payload, fds=fds)
        return payload_out

    async def call_with_fds(
        self,
        program: int,
        version: int,
        procedure: int,
        payload: bytes = b"",
        *,
        fds: Sequence[int] = (),
    ) -> tuple[Header, bytes, tuple[int, ...]]:
        """Like :meth:`call`, also returning the reply header and received descriptors."""
        if self._closed_reason is not None:
            raise ConnectionLostError(self._closed_reason)
        if fds and not self._fd_capable:
            raise LocalProtocolError("file descriptors can only be passed over unix sockets")
        waiter = _Waiter()
        serial = self.conn.send_call(program, version, procedure, payload, tuple(fds))
        self._waiters[serial] = waiter
        try:
            # The writer task sends the call: cancelling this caller (or its timeout) can
            # never cut a message in half.
            self._wake()
            await waiter.done.wait()
        finally:
            # Without a waiter the reader discards a late reply.
            self._waiters.pop(serial, None)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.header is not None
        if waiter.header.status == MessageStatus.ERROR:
            raise self.conn.wire.decode_error(waiter.payload)
        return waiter.header, waiter.payload, waiter.fds

    @overload
    async def call_procedure(
        self, program: type[Program] | Program, proc: Procedure[None, RetT]
    ) -> RetT: ...
    @overload
    async def call_procedure(
        self, program: type[Program] | Program, proc: Procedure[ArgsT, RetT], args: ArgsT
    ) -> RetT: ...
    @overload
    async def call_procedure(
        self, program: type[Program] | Program, proc: int | str, args: Any = None
    ) -> Any: ...
    async def call_procedure(
        self,
        program: type[Program] | Program,
        proc: Procedure[Any, Any] | int | str,
        args: Any = None,
    ) -> Any:
        """Call a declared procedure with typed arguments and decode the typed result.

        With a :class:`~netrpc.core.program.Procedure` (from :func:`~netrpc.core.program.declare`
        or a program's table) the arguments and the result are typed as it says; with a
        number or a name they are looked up in *program*'s table.
        """
        procedure = _find_procedure(program, proc)
        payload = procedure.args.encode(args) if procedure.args is not None else b""
        reply = await self.call(program.number, program.version, procedure.number, payload)
        if procedure.ret is None:
            return None
        return procedure.ret.decode(reply, allow_trailing=True)

    async def open_stream(
        self,
        program: int,
        version: int,
        procedure: int,
        payload: bytes = b"",
        *,
        sparse: bool = False,
    ) -> tuple[bytes, ClientStream]:
        """Call a procedure that opens a data stream; return its reply and the stream.

        :raises RPCError: when the call is refused (no stream is opened then).
        """
        if self._closed_reason is not None:
            raise ConnectionLostError(self._closed_reason)
        waiter = _Waiter()
        serial = self.conn.send_call(program, version, procedure, payload)
        header = Header(program, version, procedure, 0, serial, 0)
        stream = ClientStream(self, header, sparse=sparse)
        # Registered before the call leaves: data may follow the reply at once.
        self.conn.open_stream(header)
        self._stream_handlers[serial] = stream._packet_received
        self._waiters[serial] = waiter
        try:
            self._wake()
            await waiter.done.wait()
        except BaseException:
            stream._close("call cancelled")
            raise
        finally:
            self._waiters.pop(serial, None)
        if waiter.error is not None:
            stream._close(str(waiter.error))
            raise waiter.error
        assert waiter.header is not None
        if waiter.header.status == MessageStatus.ERROR:
            stream._close("call failed")
            raise self.conn.wire.decode_error(waiter.payload)
        return waiter.payload, stream

    def stub(self, program: type[Program] | Program) -> ProgramStub:
        """Typed callables for every procedure of *program*, by handler name."""
        return ProgramStub(self, program)

    # ------------------------------------------------------------------ events

    def on_event(self, program: int, procedure: int, callback: EventCallback) -> None:
        """Call ``callback(header, payload)`` for every event MESSAGE of that procedure.

        Callbacks run in the reader task: they must not block (an async callback is started
        as a task).
        """
        self._event_handlers.setdefault((program, procedure), []).append(callback)

    def remove_event_handler(self, program: int, procedure: int, callback: EventCallback) -> None:
        """Undo :meth:`on_event`."""
        handlers = self._event_handlers.get((program, procedure), [])
        if callback in handlers:
            handlers.remove(callback)

    def _set_stream_handler(
        self, serial: int, handler: Callable[[Header, bytes], None] | None
    ) -> None:
        if handler is None:
            self._stream_handlers.pop(serial, None)
        else:
            self._stream_handlers[serial] = handler

    # ------------------------------------------------------------------ I/O

    async def _flush(self) -> None:
        try:
            await self._pump.write_queued()
        except ConnectionLostError as exc:
            self._connection_lost(str(exc))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._connection_lost(f"send failed: {exc!r}")

    async def _wait_written(self, below: int = 1) -> None:
        """Wait until less than *below* bytes of queued output are left (back-pressure for
        stream senders); the writer task does the writing."""
        await self._pump.wait_written(below)

    async def _writer(self) -> None:
        # The only task that writes to the socket.  A failed write fails every pending call
        # (_flush); nothing is written after a failed or interrupted one.
        pump = self._pump
        while self._closed_reason is None:
            await pump.wait_requested()
            await self._flush()

    def _wake(self) -> None:
        self._pump.request()

    async def _reader(self) -> None:
        conn = self.conn
        stream = self.stream
        with_fds = self._fd_capable and hasattr(stream, "receive_fds")
        try:
            while True:
                while True:
                    event = conn.next_event()
                    if event is NEED_DATA or event is PAUSED:
                        break
                    if isinstance(event, ReplyReceived):
                        waiter = self._waiters.get(event.header.serial)
                        if waiter is None:
                            for fd in event.fds:
                                os.close(fd)
                            continue
                        waiter.header = event.header
                        waiter.payload = event.payload
                        waiter.fds = event.fds
                        waiter.done.set()
                    elif isinstance(event, MessageReceived):
                        self._dispatch_event(event.header, event.payload)
                    elif isinstance(event, StreamReceived):
                        handler = self._stream_handlers.get(event.header.serial)
                        if handler is not None:
                            handler(event.header, event.payload)
                    elif isinstance(event, ConnectionClosed):
                        self._connection_lost(event.reason)
                        return
                if conn.has_output:
                    self._wake()
                while self._backlogged:
                    # A stream consumer is behind: stop reading until it catches up, so
                    # memory stays bounded (the server then blocks on its socket).
                    await self._backlogged.pop().wait_for_room()
                await self._receive(with_fds)
        except RemoteProtocolError as exc:
            log.warning("protocol error from server: %s", exc)
            self._connection_lost(str(exc))
        except ConnectionLostError as exc:
            # A transport that knows why (a command's standard error).
            self._connection_lost(str(exc))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._connection_lost(f"connection lost: {exc!r}")

    async def _receive(self, with_fds: bool) -> None:
        await _sockio.receive_into_connection(
            self.stream, self.conn, _RECEIVE_SIZE, with_fds=with_fds, now=time.monotonic()
        )

    def _dispatch_event(self, header: Header, payload: bytes) -> None:
        for callback in list(self._event_handlers.get((header.program, header.procedure), ())):
            try:
                result = callback(header, payload)
                if hasattr(result, "__await__") and self._task_group is not None:
                    self._task_group.start_soon(_await, result)
            except Exception:
                log.exception("event callback %r failed", callback)

    async def _keepalive_loop(self) -> None:
        if await _sockio.run_keepalive(self.conn, self._wake):
            self._connection_lost("connection closed due to keepalive timeout")
            await anyio.aclose_forcefully(self.stream)

    def _connection_lost(self, reason: str) -> None:
        if self._closed_reason is None:
            self._closed_reason = reason
            self.conn.mark_closed(reason)
        self._fail_all(reason)
        for handler in list(self._stream_handlers.values()):
            owner = getattr(handler, "__self__", None)
            if isinstance(owner, ClientStream):
                owner._connection_lost(reason)
        self._stream_handlers.clear()
        self._pump.stopped()  # stream senders waiting for the writer see the end
        self.closed.set()

    def _fail_all(self, reason: str) -> None:
        if self._closed_reason is None:
            self._closed_reason = reason
        self.conn.mark_closed(reason)
        for waiter in self._waiters.values():
            if not waiter.done.is_set():
                waiter.error = ConnectionLostError(reason)
                waiter.done.set()

    @property
    def is_closed(self) -> bool:
        """True once the connection is gone."""
        return self._closed_reason is not None

    @property
    def closed_reason(self) -> str | None:
        """Why the connection closed, or None while it is open."""
        return self._closed_reason


async def _login(
    stream: anyio.abc.ByteStream, sasl: SASLCredentials | None, *, secure: bool, host: str
) -> anyio.abc.ByteStream:
    """Run the SASL login on a new connection when asked to (closing it on failure)."""
    if sasl is None:
        return stream
    from ..security.sasl.client import authenticate

    try:
        stream, _result = await authenticate(stream, sasl, secure=secure, host=host)
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
    return stream


async def _await(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        log.exception("async event callback failed")


def _find_procedure(
    program: type[Program] | Program, proc: Procedure[Any, Any] | int | str
) -> Procedure[Any, Any]:
    if isinstance(proc, Procedure):
        return proc
    table = program.procedures
    if isinstance(proc, int):
        try:
            return table[proc]
        except KeyError:
            raise LocalProtocolError(
                f"program {program.number:#x} has no procedure {proc}"
            ) from None
    for candidate in table.values():
        if candidate.name == proc:
            return candidate
    raise LocalProtocolError(f"program {program.number:#x} has no procedure named {proc!r}")


class ProgramStub:
    """Callables for a program's procedures: ``await stub.greet(args)``."""

    def __init__(self, client: Client, program: type[Program] | Program) -> None:
        self._client = client
        self._program = program

    def __getattr__(self, name: str) -> Callable[..., Any]:
        proc = _find_procedure(self._program, name)

        async def invoke(args: Any = None) -> Any:
            return await self._client.call_procedure(self._program, proc, args)

        invoke.__name__ = name
        return invoke


class ClientStream:
    """The client end of a data stream opened by :meth:`Client.open_stream`.

    Send with :meth:`send` / :meth:`send_hole` and complete with :meth:`finish`, or read
    with :meth:`receive` until it returns ``b""`` and then call :meth:`finish`.  What may be
    sent or received when is the core's :class:`~netrpc.core.state.StreamState`, the same
    as the server's end runs: sending data after :meth:`finish` raises
    :class:`~netrpc.core.errors.LocalProtocolError`, and a server breaking the stream
    protocol (data after its end of data, a confirmation nobody asked for) ends the stream
    with :class:`~netrpc.core.stream.StreamAbortedError`.
    """

    #: packets buffered before the client stops reading the socket
    MAX_BUFFERED = 8

    def __init__(self, client: Client, header: Header, *, sparse: bool) -> None:
        self._client = client
        self.header = header
        self._state = StreamState(Role.CLIENT, sparse=sparse)
        self._incoming: list[StreamEvent] = []
        self._arrived = anyio.Event()
        self._room = anyio.Event()
        self._closed = False
        self._reason: str | None = None

    @property
    def sparse(self) -> bool:
        """Holes are allowed in both directions."""
        return self._state.sparse

    @sparse.setter
    def sparse(self, value: bool) -> None:
        self._state.sparse = value

    def _packet_received(self, header: Header, payload: bytes) -> None:
        packet = classify(header, payload, from_server=True, sparse=self.sparse)
        self._incoming.append(packet)
        self._arrived.set()
        if len(self._incoming) >= self.MAX_BUFFERED and self not in self._client._backlogged:
            self._room = anyio.Event()
            self._client._backlogged.append(self)

    async def wait_for_room(self) -> None:
        """Wait until the consumer has taken some of the buffered packets."""
        while len(self._incoming) >= self.MAX_BUFFERED and not self._closed:
            await self._room.wait()
            self._room = anyio.Event()

    async def _next(self) -> StreamEvent:
        """The next packet, as the stream's state takes it (an invalid one ends it)."""
        while not self._incoming:
            if self._closed:
                raise StreamAbortedError(self._reason or "stream closed")
            self._arrived = anyio.Event()
            await self._arrived.wait()
        packet = self._incoming.pop(0)
        if len(self._incoming) < self.MAX_BUFFERED:
            self._room.set()
        return self._state.receive(packet)

    def _send(self, packet: StreamEvent) -> None:
        self._check_open()
        self._state.send(packet)
        status, payload, hole = wire_form(packet)
        self._client.conn.send_stream(self.header, status, payload, hole=hole)

    async def receive(self) -> bytes | Hole:
        """The next chunk or :class:`~netrpc.core.stream.Hole`; ``b""`` at the end of the data.

        :raises StreamAbortedError: when the server aborted the stream (with its error).
        """
        if self._state.sides[Role.SERVER] is Side.DONE:
            return b""
        packet = await self._next()
        if isinstance(packet, DataPacket):
            return packet.data
        if isinstance(packet, HolePacket):
            return Hole(packet.length)
        if isinstance(packet, EndOfData):
            return b""
        if isinstance(packet, ErrorPacket):
            self._close("aborted by the server")
            raise StreamAbortedError(packet.error.message or "stream error", packet.error)
        error = getattr(packet, "error", None)
        self._close("invalid stream packet")
        raise StreamAbortedError(
            error.message if error is not None and error.message else "invalid stream packet",
            error,
        )

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send data in chunks of at most 256 KiB.

        Returns once all but a few chunks are written (back-pressure: a slow server makes
        the sender wait).
        """
        view = memoryview(data)
        # one chunk that is already bytes goes as it is; anything else is copied in chunks
        whole = data if isinstance(data, bytes) and len(view) <= CHUNK_SIZE else None
        for start in range(0, len(view), CHUNK_SIZE):
            chunk = whole if whole is not None else bytes(view[start : start + CHUNK_SIZE])
            self._send(DataPacket(data=chunk))
            await self._client._wait_written(below=STREAM_WINDOW)

    async def send_hole(self, length: int) -> None:
        """Send a hole (sparse streams only)."""
        if not self.sparse:
            raise ValueError("holes can only be sent on sparse streams")
        self._send(HolePacket(length=length))
        await self._client._wait_written()

    async def finish(self) -> None:
        """Ask the server to complete the stream and wait for its confirmation.

        :raises StreamAbortedError: if the server reports an error instead.
        """
        self._send(FinishPacket())
        await self._client._wait_written()
        while True:
            packet = await self._next()
            if isinstance(packet, FinishPacket):
                self._close("finished")
                return
            if isinstance(packet, ErrorPacket):
                self._close("finish failed")
                raise StreamAbortedError(packet.error.message or "stream error", packet.error)
            if self._state.closed:
                self._close("invalid stream packet")
                raise StreamAbortedError("invalid stream packet", getattr(packet, "error", None))
            # Late data after we decided to finish is dropped, as libvirt's client does.

    async def abort(self) -> None:
        """Abort the stream (the server confirms; late packets are ignored)."""
        if self._closed or not self._state.can_send(AbortPacket):
            self._close("aborted")
            return
        self._send(AbortPacket())
        try:
            await self._client._wait_written()
            with anyio.move_on_after(5):
                while not self._state.closed:
                    await self._next()
        except StreamAbortedError:
            pass
        self._close("aborted")

    def _check_open(self) -> None:
        if self._closed:
            raise StreamAbortedError(self._reason or "stream closed")

    def _close(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._reason = reason
        self._client.conn.close_stream(self.header)
        self._client._stream_handlers.pop(self.header.serial, None)
        self._arrived.set()
        self._room.set()

    def _connection_lost(self, reason: str) -> None:
        self._closed = True
        self._reason = reason
        self._arrived.set()
        self._room.set()
