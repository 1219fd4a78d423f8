"""Programs: numbered procedures with XDR argument and return types, and their dispatch.

A daemon author subclasses :class:`Program` and declares procedures with :func:`procedure`::

    class Greeter(Program):
        number, version = 0x20240001, 1

        @procedure(1, args=GreetArgs, ret=GreetRet, readonly=True)
        async def greet(self, call: Call, args: GreetArgs) -> GreetRet:
            return GreetRet(text=f"hello {args.name}")

How a handler runs depends on how it is written (libvirt runs every call on a worker thread,
or inline in the event loop when ``max_workers`` is 0):

* ``async def``: in its own task on the event loop; it may await anything.
* ``def``: on a worker thread from the server's pool; it may block.  High-priority procedures
  (``priority=True``) may also use the priority workers, so they run when every normal worker
  is busy (libvirt's ``prio_workers``, for calls such as destroying a hung domain).
* ``def`` or ``async def`` declared ``inline=True``: directly in the connection's read loop,
  with no task or thread hand-off.  This is the fastest path, for handlers that return at
  once; an inline handler that blocks or waits stalls its connection.

:class:`Dispatcher` is the sans-IO half of dispatch: it turns a received call into either a
procedure to run with decoded arguments, or the exact error reply libvirtd 9.0 sends.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, NamedTuple, Protocol, TypeVar, overload

from . import xdr
from .errors import ErrorCode, ErrorDomain, RPCError
from .identity import Identity
from .protocol import Header, MessageStatus, MessageType
from .stream import Hole

__all__ = (
    "Call",
    "ClientHandle",
    "Declaration",
    "DeclarationTable",
    "Dispatch",
    "Dispatcher",
    "Procedure",
    "Program",
    "Reply",
    "ServerHandle",
    "ServiceHandle",
    "StreamHandle",
    "declare",
    "handler",
    "procedure",
)

_F = TypeVar("_F", bound=Callable[..., Any])
#: the arguments of a procedure
ArgsT = TypeVar("ArgsT")
#: the return value of a procedure
RetT = TypeVar("RetT")


def _no_handler(*args: Any) -> Any:
    raise RPCError.internal("this procedure is declared for calling it, not for serving it")


class StreamHandle(Protocol):
    """A data stream as a handler drives it (:meth:`Call.open_stream`; the server's
    :class:`~netrpc.io.server.stream.ServerStream`)."""

    @property
    def closed(self) -> bool:
        """True once finished, aborted, or the connection is gone."""
        ...

    async def receive(self) -> bytes | Hole:
        """The next chunk or hole; ``b""`` once the client finished sending."""
        ...

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send data (returns once most of it is written)."""
        ...

    async def send_hole(self, length: int) -> None:
        """Send a hole (sparse streams only)."""
        ...

    async def finish(self) -> None:
        """Complete the stream."""
        ...

    async def abort(self, error: RPCError | None = None) -> None:
        """Abort the stream, telling the client why."""
        ...


class ServiceHandle(Protocol):
    """The listening service a connection came through, as handlers see it."""

    @property
    def readonly(self) -> bool:
        """Read-only service."""
        ...

    @property
    def auth(self) -> str:
        """Its authentication policy (``none``, ``tls``, ``hook``, ``sasl``)."""
        ...

    @property
    def sasl(self) -> object | None:
        """Its SASL policy (a :class:`~netrpc.security.sasl.SASLConfig`), if any."""
        ...


class ClientHandle(Protocol):
    """What a handler may do with the connection that sent its call (``call.client``).

    The server's connection object (:class:`netrpc.io.server.ServerClient`) implements it.
    """

    @property
    def id(self) -> int:
        """Server-unique client id."""
        ...

    @property
    def readonly(self) -> bool:
        """True on read-only services."""
        ...

    @property
    def authenticated(self) -> bool:
        """True once the client passed authentication."""
        ...

    @property
    def identity(self) -> Identity:
        """Who is on the other end.

        Handlers that learn more about the peer replace it: SASL authentication adds the
        user name, libvirt's CONNECT_SET_IDENTITY takes on the identity a client forwards.
        """
        ...

    @identity.setter
    def identity(self, value: Identity) -> None: ...

    @property
    def private(self) -> dict[Any, Any]:
        """Per-program state (set up in :meth:`Program.client_connected`)."""
        ...

    @property
    def service(self) -> ServiceHandle:
        """The service the client connected through."""
        ...

    def send_event(
        self, program: int, version: int, procedure: int, payload: bytes, *, serial: int = 1
    ) -> None:
        """Queue an event MESSAGE to this client."""
        ...

    def close_after_reply(self) -> None:
        """Close the connection once the pending output is written."""
        ...

    def start_keepalive(self) -> bool:
        """Start pinging this client when it goes silent."""
        ...

    def set_authenticated(self) -> None:
        """Mark the client authenticated."""
        ...

    def spawn(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``await func(*args)`` in a task tied to the connection."""
        ...

    def open_stream(self, header: Header, *, sparse: bool = False) -> StreamHandle:
        """Open a data stream bound to the call *header*."""
        ...


class ServerHandle(Protocol):
    """What a handler may do with the server that accepted its call (``call.server``)."""

    @property
    def name(self) -> str:
        """The server's name (libvirt's "libvirtd", "admin" ...)."""
        ...

    @property
    def nclients(self) -> int:
        """Connected clients."""
        ...

    @property
    def programs(self) -> list[Program]:
        """Programs served."""
        ...

    def broadcast_event(
        self, program: int, version: int, procedure: int, payload: bytes, *, serial: int = 1
    ) -> int:
        """Send an event MESSAGE to every connected client; returns how many."""
        ...


@dataclass(slots=True)
class Call:
    """The context a handler receives with its arguments.

    :ivar header: the call's header (program, version, procedure, serial ...).
    :ivar client: the connection that sent the call.
    :ivar server: the server that accepted the connection.
    :ivar fds: file descriptors sent with the call; a handler that keeps one must remove it
        from :attr:`fds` (e.g. with :meth:`take_fds`); the rest are closed after the call.
    """

    header: Header
    client: ClientHandle
    server: ServerHandle
    fds: list[int]

    def open_stream(self, *, sparse: bool = False) -> StreamHandle:
        """Open a data stream bound to this call (libvirt's virStream on the daemon side).

        Returns a :class:`netrpc.io.server.stream.ServerStream`; move the data in a task started
        with ``call.client.spawn(...)``: data can only flow once this call's reply is sent.

        :param sparse: allow holes (STREAM_HOLE) in both directions.
        """
        return self.client.open_stream(self.header, sparse=sparse)

    def take_fds(self) -> list[int]:
        """Take ownership of the received descriptors (they will not be closed for you)."""
        fds, self.fds = self.fds, []
        return fds


class Reply(NamedTuple):
    """Return this from a handler to attach file descriptors to the reply.

    The descriptors are handed over: netrpc closes them once they are sent (pass
    ``os.dup(fd)`` to keep your own copy).  Descriptors can only be sent on unix sockets.
    """

    value: Any
    fds: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Procedure(Generic[ArgsT, RetT]):
    """One numbered procedure of a program, typed by its arguments and return value.

    Servers get theirs from :func:`procedure`; a client may declare the procedures it calls
    with :func:`declare`, so that ``await client.call_procedure(PROG, GREET, args)`` is
    typed: ``GREET: Procedure[GreetArgs, GreetRet]``.

    :ivar number: procedure number on the wire.
    :ivar name: for logs and errors (the handler's name by default).
    :ivar args: XDR type of the arguments, or None for none.
    :ivar ret: XDR type of the return value, or None for none.
    :ivar handler: the function (unbound: it receives the program instance first).
    :ivar priority: high priority (libvirt ``@priority: high``): may use priority workers.
    :ivar auth: the client must be authenticated (libvirt's ``needAuth``); False only for the
        procedures of the authentication phase.
    :ivar readonly: allowed on read-only connections.
    :ivar inline: run directly in the connection's read loop (see the module docs).
    """

    number: int
    name: str
    args: xdr.XdrType[ArgsT] | None
    ret: xdr.XdrType[RetT] | None
    handler: Callable[..., Any] = dataclasses.field(default=_no_handler)
    priority: bool = False
    auth: bool = True
    readonly: bool = False
    inline: bool = False

    #: True for ``async def`` handlers (worked out once, at declaration)
    is_async: bool = dataclasses.field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.handler))


@overload
def declare(
    number: int, *, args: type[ArgsT] | xdr.XdrType[ArgsT], ret: type[RetT] | xdr.XdrType[RetT],
    name: str = ...,
) -> Procedure[ArgsT, RetT]: ...
@overload
def declare(
    number: int, *, args: type[ArgsT] | xdr.XdrType[ArgsT], ret: None = None, name: str = ...
) -> Procedure[ArgsT, None]: ...
@overload
def declare(
    number: int, *, args: None = None, ret: type[RetT] | xdr.XdrType[RetT], name: str = ...
) -> Procedure[None, RetT]: ...
@overload
def declare(
    number: int, *, args: None = None, ret: None = None, name: str = ...
) -> Procedure[None, None]: ...
def declare(
    number: int,
    *,
    args: type[Any] | xdr.XdrType[Any] | None = None,
    ret: type[Any] | xdr.XdrType[Any] | None = None,
    name: str = "",
) -> Procedure[Any, Any]:
    """A procedure as a client calls it: its number and its typed arguments and result.

    ``GREET = declare(1, args=GreetArgs, ret=GreetRet)`` is a ``Procedure[GreetArgs,
    GreetRet]``; :meth:`netrpc.Client.call_procedure` with it takes a ``GreetArgs`` and
    returns a ``GreetRet``, and a type checker sees both.
    """
    if number < 0:
        raise ValueError(f"procedure numbers are non-negative, got {number}")
    return Procedure(
        number=number,
        name=name or f"procedure {number}",
        args=xdr.codec_for(args) if args is not None else None,
        ret=xdr.codec_for(ret) if ret is not None else None,
    )


def procedure(
    number: int,
    *,
    args: xdr.XdrType[Any] | type | None = None,
    ret: xdr.XdrType[Any] | type | None = None,
    priority: bool = False,
    auth: bool = True,
    readonly: bool = False,
    inline: bool = False,
    name: str | None = None,
) -> Callable[[_F], _F]:
    """Declare a method of a :class:`Program` subclass as procedure *number*.

    :param args: the arguments' XDR type (an ``@xdr.struct`` class or any XDR type).
    :param ret: the return value's XDR type.
    :param priority: libvirt's ``@priority: high``.
    :param auth: False for procedures callable before authentication.
    :param readonly: True for procedures allowed on read-only connections.
    :param inline: run in the read loop (for handlers that return at once).
    """
    if number < 0:
        raise ValueError(f"procedure numbers are non-negative, got {number}")

    def decorate(func: _F) -> _F:
        func._netrpc_procedure = Procedure(  # type: ignore[attr-defined]
            number=number,
            name=name or func.__name__,
            args=xdr.codec_for(args) if args is not None else None,
            ret=xdr.codec_for(ret) if ret is not None else None,
            handler=func,
            priority=priority,
            auth=auth,
            readonly=readonly,
            inline=inline,
        )
        return func

    return decorate


@dataclass(frozen=True, slots=True, kw_only=True)
class Declaration:
    """A procedure as a protocol declares it, before any handler: what a ``.x`` file and its
    annotations say.

    :ivar number: procedure number on the wire.
    :ivar name: the procedure's name without the program prefix (``"DOMAIN_GET_INFO"``).
    :ivar args: XDR type of the arguments (or of the message, for an event), None for none.
    :ivar ret: XDR type of the return value, None for none.
    :ivar priority: high priority (libvirt ``@priority: high``).
    :ivar readonly: allowed on read-only connections.
    :ivar auth: the client must be authenticated first.
    :ivar stream: ``"read"`` (the daemon sends stream data), ``"write"`` (the client sends),
        or None.
    :ivar api: the API the procedure serves, for messages (``"virDomainGetInfo"``), or None.
    :ivar event: a message the server sends, never a call: it gets no handler.
    """

    number: int
    name: str
    args: xdr.XdrType[Any] | None = None
    ret: xdr.XdrType[Any] | None = None
    priority: bool = False
    readonly: bool = False
    auth: bool = True
    stream: Literal["read", "write"] | None = None
    api: str | None = None
    event: bool = False

    @property
    def method_name(self) -> str:
        """The handler method's name: the procedure's name in snake case."""
        return self.name.lower()


class DeclarationTable(Mapping[str, Declaration]):
    """The declarations of one program by name, also reachable by number (``table[16]``)."""

    def __init__(self, declarations: Iterable[Declaration]) -> None:
        self._by_name: dict[str, Declaration] = {}
        self._by_number: dict[int, Declaration] = {}
        for decl in declarations:
            if decl.name in self._by_name or decl.number in self._by_number:
                raise ValueError(f"procedure {decl.number} {decl.name} declared twice")
            self._by_name[decl.name] = decl
            self._by_number[decl.number] = decl

    @overload
    def __getitem__(self, key: str) -> Declaration: ...
    @overload
    def __getitem__(self, key: int) -> Declaration: ...
    def __getitem__(self, key: str | int) -> Declaration:
        if isinstance(key, int):
            return self._by_number[key]
        return self._by_name[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, int):
            return key in self._by_number
        return key in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def by_number(self) -> Mapping[int, Declaration]:
        """Every declaration keyed by procedure number."""
        return self._by_number


def handler(
    *,
    inline: bool | None = None,
    priority: bool | None = None,
    readonly: bool | None = None,
    auth: bool | None = None,
) -> Callable[[_F], _F]:
    """Override how a handler bound by name (see :attr:`Program.declarations`) runs.

    :param inline: True runs a ``def`` in the read loop, False on a worker thread (for
        handlers that block); ``async def`` handlers always run in their own task.
    :param priority: override the declaration's priority (worker choice).
    :param readonly: override the declaration's read-only allowance.
    :param auth: override whether authentication is needed first.

    File descriptors (``call.fds``) and streams (``call.open_stream()``) need no option.
    """
    options = {
        key: value
        for key, value in (
            ("inline", inline), ("priority", priority), ("readonly", readonly), ("auth", auth)
        )
        if value is not None
    }

    def decorate(func: _F) -> _F:
        func._netrpc_options = options  # type: ignore[attr-defined]
        return func

    return decorate


def _annotated_codec(
    func: Callable[..., Any], declared: xdr.XdrType[Any] | None, which: str
) -> xdr.XdrType[Any] | None:
    """The codec to use for a name-bound handler's arguments or result.

    A handler may annotate its arguments or result with its own struct class when that class
    puts the same bytes on the wire as the declared type (names aside): it then receives and
    returns instances of its own class.  Anything else keeps the declared type.
    """
    if declared is None:
        return None
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        return declared
    if which == "return":
        hint = hints.get("return")
    else:
        params = [p for p in inspect.signature(func).parameters if p != "self"]
        hint = hints.get(params[1]) if len(params) >= 2 else None
    if not isinstance(hint, type):
        return declared
    codec = getattr(hint, "xdr", None)
    from .xdrlang import LazyType, wire_shape

    if not isinstance(codec, xdr.Struct) or codec is declared:
        return declared
    if isinstance(declared, LazyType) and declared.built and codec is declared.real:
        return declared
    # Compared by layout, so that a lazily declared type need not be built for the check.
    if wire_shape(codec) != wire_shape(declared):
        raise TypeError(
            f"{func.__qualname__}: {hint.__name__} does not have the wire layout of the "
            f"declared {which} type {declared!r}"
        )
    return codec


class Program:
    """Base class of RPC programs.

    Subclasses set :attr:`number` and :attr:`version` and declare procedures with
    :func:`procedure`.  Override :meth:`client_connected` / :meth:`client_closed` to keep
    per-connection state, and :meth:`readonly_error` to word the read-only refusal.

    A program may instead take its procedures from a :class:`DeclarationTable` (for instance
    one compiled from a ``.x`` file with :mod:`netrpc.core.xdrlang`) in :attr:`declarations`: a
    method named like the procedure in snake case (``domain_get_info`` for
    ``DOMAIN_GET_INFO``), on the class or a mixin it inherits from, with the signature
    ``(self, call, args) -> ret``, handles it; number, types and flags come from the table,
    and :func:`handler` overrides how it runs.  Methods declared with :func:`procedure` keep
    precedence.  A declared procedure with no handler answers with :meth:`unhandled`.
    """

    #: program number on the wire
    number: ClassVar[int]
    #: program version on the wire
    version: ClassVar[int] = 1
    #: procedures declared on the class, by number (filled in by ``__init_subclass__``)
    procedures: ClassVar[dict[int, Procedure[Any, Any]]] = {}
    #: the protocol's declarations, for handlers bound by name (None: :func:`procedure` only)
    declarations: ClassVar[DeclarationTable | None] = None
    #: how name-bound ``def`` handlers run by default: in the read loop (True) or on a worker
    inline_by_default: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[int, Procedure[Any, Any]] = {}
        # Walk the whole MRO, so that procedures declared on plain mixin classes count too;
        # a class nearer to cls overrides a procedure number of a class further away.
        for klass in reversed(cls.__mro__):
            own: dict[int, Procedure[Any, Any]] = {}
            for value in vars(klass).values():
                proc = getattr(value, "_netrpc_procedure", None)
                if isinstance(proc, Procedure):
                    if proc.number in own:
                        raise TypeError(
                            f"{klass.__name__}: procedure {proc.number} declared twice "
                            f"({own[proc.number].name} and {proc.name})"
                        )
                    own[proc.number] = proc
            table.update(own)
            # A plain method that overrides a procedure's handler by name (an implementation
            # of an interface program) takes over that procedure.
            for number, proc in list(table.items()):
                override = vars(klass).get(proc.handler.__name__)
                if (
                    callable(override)
                    and override is not proc.handler
                    and getattr(override, "_netrpc_procedure", None) is None
                ):
                    table[number] = dataclasses.replace(proc, handler=override)
        if cls.declarations is not None:
            cls._bind_declarations(table, cls.declarations)
        cls.procedures = table

    @classmethod
    def _bind_declarations(
        cls, table: dict[int, Procedure[Any, Any]], decls: DeclarationTable
    ) -> None:
        explicit = set(table)
        for decl in decls.values():
            if decl.event or decl.number in explicit:
                continue
            func = getattr(cls, decl.method_name, None)
            if callable(func) and getattr(func, "_netrpc_procedure", None) is None:
                options: dict[str, bool] = getattr(func, "_netrpc_options", {})
                table[decl.number] = Procedure(
                    number=decl.number,
                    name=decl.api or decl.name,
                    args=_annotated_codec(func, decl.args, "argument"),
                    ret=_annotated_codec(func, decl.ret, "return"),
                    handler=func,
                    priority=options.get("priority", decl.priority),
                    auth=options.get("auth", decl.auth),
                    readonly=options.get("readonly", decl.readonly),
                    inline=options.get("inline", cls.inline_by_default),
                )
            else:
                table[decl.number] = Procedure(
                    number=decl.number,
                    name=decl.api or decl.name,
                    args=decl.args,
                    ret=decl.ret,
                    handler=_unhandled_for(decl),
                    priority=decl.priority,
                    auth=decl.auth,
                    # the refusal of a read-only client is unhandled()'s to word
                    readonly=True,
                    inline=True,
                )

    def unhandled(self, call: Call, decl: Declaration, args: Any) -> Any:
        """Answer a declared procedure that has no handler (the default says it is not
        supported, in libvirt's words)."""
        raise RPCError.formatted(
            ErrorCode.NO_SUPPORT,
            ErrorDomain.RPC,
            "this function is not supported by the connection driver: %s",
            decl.api or decl.name,
        )

    @property
    def name(self) -> str:
        """A name for logs (the class name by default)."""
        return type(self).__name__

    def client_connected(self, client: Any) -> None:
        """Called when a client connects to a server that carries this program."""

    def client_closed(self, client: Any) -> None:
        """Called once when a client's connection is gone (EOF, close, error or shutdown)."""

    def readonly_error(self, proc: Procedure[Any, Any]) -> RPCError:
        """The error sent when a read-only client calls a procedure not declared read-only."""
        return RPCError.formatted(
            ErrorCode.OPERATION_DENIED,
            ErrorDomain.RPC,
            "operation forbidden: %s",
            f"read only access prevents {proc.name}",
        )


def _unhandled_for(decl: Declaration) -> Callable[[Program, Call, Any], Any]:
    def unhandled(self: Program, call: Call, args: Any) -> Any:
        return self.unhandled(call, decl, args)

    unhandled.__name__ = decl.method_name
    unhandled._netrpc_unhandled = decl  # type: ignore[attr-defined]
    return unhandled


class Dispatch(NamedTuple):
    """A call that passed every check: what to run, with which decoded arguments."""

    program: Program
    procedure: Procedure[Any, Any]
    args: Any


# Dispatch(...) without the named tuple's Python-level __new__ (one per call).
_new_dispatch = tuple.__new__

_CALL = int(MessageType.CALL)
_CALL_WITH_FDS = int(MessageType.CALL_WITH_FDS)
_OK = int(MessageStatus.OK)


def _signed32(value: int) -> int:
    # libvirt formats the unsigned program and version words with %d.
    return value - (1 << 32) if value >= 1 << 31 else value


class Dispatcher:
    """Sans-IO call dispatch: program lookup and libvirt's checks, in libvirt's order.

    :param programs: the programs of one server; a ``(number, version)`` pair may appear once.
    """

    def __init__(self, programs: Iterable[Program] = ()) -> None:
        self._programs: dict[tuple[int, int], Program] = {}
        for program in programs:
            self.add(program)

    def add(self, program: Program) -> None:
        """Register *program*.

        :raises ValueError: if a program with the same number and version is registered.
        """
        key = (program.number, program.version)
        if key in self._programs:
            raise ValueError(
                f"program {program.number:#x} version {program.version} is already registered"
            )
        self._programs[key] = program

    @property
    def programs(self) -> Mapping[tuple[int, int], Program]:
        """Registered programs by ``(number, version)``."""
        return self._programs

    def resolve(
        self, header: Header, payload: bytes, *, authenticated: bool, readonly: bool
    ) -> Dispatch | RPCError | None:
        """Check a received call and decode its arguments.

        Returns a :class:`Dispatch` to run, an :class:`RPCError` to send back as the reply,
        or None when libvirt silently drops the message (no program matches a non-call).
        """
        program = self._programs.get((header.program, header.version))
        if program is None:
            if header.type == _CALL or header.type == _CALL_WITH_FDS:
                return RPCError.rpc(
                    f"Cannot find program {_signed32(header.program)} "
                    f"version {_signed32(header.version)}"
                )
            return None
        if header.type != _CALL and header.type != _CALL_WITH_FDS:
            return None
        if header.status != _OK:
            return RPCError.rpc(f"Unexpected message status {header.status}")
        proc = program.procedures.get(header.procedure)
        if proc is None:
            return RPCError.rpc(f"unknown procedure: {header.procedure}")
        if proc.auth and not authenticated:
            return RPCError.rpc("authentication required")
        if readonly and not proc.readonly:
            return program.readonly_error(proc)
        if proc.args is None:
            # libvirt does not check for trailing bytes: neither do we.
            return _new_dispatch(Dispatch, (program, proc, None))
        try:
            args, _ = proc.args.unpack(payload, 0)
        except xdr.XdrError:
            return RPCError.rpc("Unable to decode message payload")
        return _new_dispatch(Dispatch, (program, proc, args))

    @staticmethod
    def encode_return(proc: Procedure[Any, Any], value: Any) -> bytes:
        """Encode a handler's return value with the procedure's ``ret`` type.

        :raises XdrError: when the value does not match the declared type.
        """
        if proc.ret is None:
            return b""
        return proc.ret.encode(value)
