"""Connection and stream states as data: tables of states and the events each allows.

Two small state machines, each a table rather than code paths, read by one function that
also decides who is to blame when an event is not in the table:

* the **connection**: ``OPEN`` → ``CLOSING`` (a server answered CONNECT_CLOSE and closes once
  its output is written) → ``CLOSED`` (end of file, or the I/O layer closed it), or
  ``BROKEN`` (the peer broke the protocol, or a write failed half-way).  Which messages each
  role may send is a table too (:data:`ROLE_SENDS`): a client sends calls, a server replies
  and events, both send stream packets and keepalive.
* a **stream** (libvirt's data streams, bound to the call that opened them), with one state
  per sending side.  Either side sends data (and holes, on sparse streams) until it sends
  end-of-data; the client then asks to finish (STREAM OK) or aborts (STREAM ERROR, empty);
  the server confirms either with STREAM OK, or ends the stream at any time with an error.
  Data after end-of-data, a confirmation nobody asked for, or anything after the end is a
  protocol violation.  Both ends (the server's ``ServerStream``, the client's
  ``ClientStream``) run the same :class:`StreamState`.

Blame (:func:`violation`): an event the table does not allow is the local caller's misuse
(:class:`LocalProtocolError`, raised before anything is sent) when it is ours to send, and
the peer's protocol error (:class:`RemoteProtocolError`) when it arrived from the peer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError, RPCError
from .protocol import MessageType

__all__ = (
    "CONNECTION_TRANSITIONS",
    "MESSAGE_KINDS",
    "ROLE_SENDS",
    "STREAM_TRANSITIONS",
    "AbortPacket",
    "ConnState",
    "ConnectionState",
    "DataPacket",
    "EndOfData",
    "ErrorPacket",
    "FinishPacket",
    "HolePacket",
    "InvalidPacket",
    "Role",
    "Side",
    "StreamEvent",
    "StreamState",
    "violation",
)


class Role(enum.Enum):
    """Which end of the connection (or stream) a state machine plays."""

    CLIENT = "client"
    SERVER = "server"


def violation(message: str, *, local: bool) -> ProtocolError:
    """The one place where blame is assigned: *local* misuse (our caller asked for
    something the protocol does not allow) or the peer's protocol error."""
    return LocalProtocolError(message) if local else RemoteProtocolError(message)


# ------------------------------------------------------------------------------ connection


class ConnState(enum.Enum):
    """The life of a connection."""

    OPEN = "open"  #: calls, replies, events and stream packets flow
    CLOSING = "closing"  #: nothing more is read; queued output is written, then it closes
    CLOSED = "closed"  #: end of file, or closed by the I/O layer
    BROKEN = "broken"  #: a protocol violation, or a write that failed half-way


#: state -> what may happen in it -> the state after it.  ``send``/``receive`` are messages;
#: the others are lifecycle events.  Anything missing is a violation.
CONNECTION_TRANSITIONS: Final[dict[ConnState, dict[str, ConnState]]] = {
    ConnState.OPEN: {
        "send": ConnState.OPEN,
        "receive": ConnState.OPEN,
        "close_after_flush": ConnState.CLOSING,
        "eof": ConnState.CLOSED,
        "close": ConnState.CLOSED,
        "peer_error": ConnState.BROKEN,
        "send_failed": ConnState.BROKEN,
    },
    ConnState.CLOSING: {
        "send": ConnState.CLOSING,
        "close_after_flush": ConnState.CLOSING,
        "eof": ConnState.CLOSED,
        "close": ConnState.CLOSED,
        "peer_error": ConnState.BROKEN,
        "send_failed": ConnState.BROKEN,
    },
    # Once over, the end stays as it is (the first reason is kept); a late write failure or
    # close request changes nothing.
    **{
        end: {event: end for event in ("close", "eof", "close_after_flush", "send_failed")}
        for end in (ConnState.CLOSED, ConnState.BROKEN)
    },
}

_M = MessageType

#: what a message of each type is, for :data:`ROLE_SENDS`
MESSAGE_KINDS: Final[dict[int, str]] = {
    _M.CALL: "call",
    _M.CALL_WITH_FDS: "call",
    _M.REPLY: "reply",
    _M.REPLY_WITH_FDS: "reply",
    _M.MESSAGE: "event",
    _M.STREAM: "stream",
    _M.STREAM_HOLE: "stream",
}

#: the messages each role may send (keepalive PING/PONG: both, queued by the connection)
ROLE_SENDS: Final[dict[Role, frozenset[str]]] = {
    Role.CLIENT: frozenset({"call", "stream"}),
    Role.SERVER: frozenset({"reply", "event", "stream"}),
}


class ConnectionState:
    """The lifecycle of one connection, driven by :data:`CONNECTION_TRANSITIONS`.

    :ivar state: the current :class:`ConnState`.
    :ivar reason: why the connection is closed or broken (None while open or closing).
    """

    __slots__ = ("reason", "role", "state")

    def __init__(self, role: Role) -> None:
        self.role = role
        self.state = ConnState.OPEN
        self.reason: str | None = None

    def process(self, event: str, reason: str | None = None) -> None:
        """Apply a lifecycle event; the first reason given for an end is kept.

        :raises LocalProtocolError: when the event is not allowed in the current state.
        """
        new = CONNECTION_TRANSITIONS[self.state].get(event)
        if new is None:
            raise violation(
                f"cannot {event.replace('_', ' ')} a connection that is {self.state.value}"
                + (f" ({self.reason})" if self.reason else ""),
                local=True,
            )
        self.state = new
        if new in (ConnState.CLOSED, ConnState.BROKEN) and self.reason is None:
            self.reason = reason or new.value

    def check_send(self, mtype: int) -> None:
        """Before queueing a message of type *mtype*: our role may send it, and the
        connection still takes output.

        :raises LocalProtocolError: otherwise (nothing is queued).
        """
        kind = MESSAGE_KINDS.get(mtype)
        if kind not in ROLE_SENDS[self.role]:
            raise violation(
                f"a {self.role.value} does not send {kind or mtype} messages", local=True
            )
        if "send" not in CONNECTION_TRANSITIONS[self.state]:
            raise violation(f"connection is closed ({self.reason})", local=True)

    def peer_error(self, message: str) -> RemoteProtocolError:
        """The peer broke the protocol: the connection is broken, with *message* as the
        reason.  Returns the error for the caller to raise."""
        if "peer_error" in CONNECTION_TRANSITIONS[self.state]:
            self.process("peer_error", message)
        error = violation(message, local=False)
        assert isinstance(error, RemoteProtocolError)
        return error


# ---------------------------------------------------------------------------------- streams


@dataclass(frozen=True, slots=True, kw_only=True)
class DataPacket:
    """STREAM / CONTINUE with data: a chunk."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class HolePacket:
    """STREAM_HOLE / CONTINUE: a hole of *length* bytes (sparse streams)."""

    length: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfData:
    """STREAM / CONTINUE, empty: the sender has no more data."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FinishPacket:
    """STREAM / OK: from the client a request to finish, from the server its confirmation
    (of a finish or an abort)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AbortPacket:
    """STREAM / ERROR, empty, from the client: abort."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorPacket:
    """STREAM / ERROR from the server: the stream ends with *error*."""

    error: RPCError


@dataclass(frozen=True, slots=True, kw_only=True)
class InvalidPacket:
    """A packet the stream cannot take (the peer's protocol error), with the error the
    stream ends with."""

    error: RPCError


StreamEvent = (
    DataPacket | HolePacket | EndOfData | FinishPacket | AbortPacket | ErrorPacket | InvalidPacket
)


class Side(enum.Enum):
    """What one side of a stream may still send."""

    SENDING = "sending"  #: data, holes, end-of-data
    DONE = "done"  #: sent end-of-data: no more data
    FINISHING = "finishing"  #: client: asked to finish, waits for the confirmation
    ABORTING = "aborting"  #: client: aborted, waits for the confirmation
    CLOSED = "closed"  #: the stream is over


_S = Side
_C, _SV = Role.CLIENT, Role.SERVER

#: (sender, its state, packet) -> its new state.  Sending FinishPacket or ErrorPacket as the
#: server ends the stream for both sides; so does the server's FinishPacket, which is also
#: only allowed once the client finishes or aborts (:data:`_CONFIRMS`).
STREAM_TRANSITIONS: Final[dict[tuple[Role, Side, type], Side]] = {
    **{(role, _S.SENDING, DataPacket): _S.SENDING for role in Role},
    **{(role, _S.SENDING, HolePacket): _S.SENDING for role in Role},
    **{(role, _S.SENDING, EndOfData): _S.DONE for role in Role},
    (_C, _S.SENDING, FinishPacket): _S.FINISHING,
    (_C, _S.DONE, FinishPacket): _S.FINISHING,
    (_C, _S.SENDING, AbortPacket): _S.ABORTING,
    (_C, _S.DONE, AbortPacket): _S.ABORTING,
    (_C, _S.FINISHING, AbortPacket): _S.ABORTING,
    (_SV, _S.SENDING, FinishPacket): _S.CLOSED,
    (_SV, _S.DONE, FinishPacket): _S.CLOSED,
    (_SV, _S.SENDING, ErrorPacket): _S.CLOSED,
    (_SV, _S.DONE, ErrorPacket): _S.CLOSED,
}

#: the client states in which the server may confirm with FinishPacket
_CONFIRMS: Final = frozenset({_S.FINISHING, _S.ABORTING})


class StreamState:
    """One stream's protocol state, for the end playing *role*.

    Call :meth:`send` before queueing a packet (it raises for a packet our role may not
    send now) and :meth:`receive` for each packet that arrives (a packet the peer may not
    send becomes an :class:`InvalidPacket` and ends the stream, with the error libvirt
    reports).

    :ivar sides: each side's :class:`Side`.
    """

    __slots__ = ("role", "sides", "sparse")

    def __init__(self, role: Role, *, sparse: bool = False) -> None:
        self.role = role
        self.sparse = sparse
        self.sides = {Role.CLIENT: Side.SENDING, Role.SERVER: Side.SENDING}

    @property
    def peer(self) -> Role:
        """The role of the other end."""
        return Role.SERVER if self.role is Role.CLIENT else Role.CLIENT

    @property
    def closed(self) -> bool:
        """True once the stream is over (confirmed, or ended by an error)."""
        return self.sides[Role.SERVER] is Side.CLOSED

    def can_send(self, packet: type) -> bool:
        """True when our side may send a packet of this type now."""
        return self._next(self.role, packet) is not None

    def send(self, packet: StreamEvent) -> None:
        """Our side sends *packet*.

        :raises LocalProtocolError: when the protocol does not allow it now (data after
            end-of-data, a confirmation nobody asked for, anything after the end ...).
        """
        if isinstance(packet, HolePacket) and not self.sparse:
            raise violation("holes can only be sent on sparse streams", local=True)
        self._apply(self.role, packet, local=True)

    def receive(self, packet: StreamEvent) -> StreamEvent:
        """The peer sent *packet*; returns it, or an :class:`InvalidPacket` when the peer may
        not send it now.  After an invalid packet the peer's side is closed; a server may
        still send the error that ends the stream (as h11 lets a server answer a broken
        request)."""
        if isinstance(packet, InvalidPacket):
            self.sides[self.peer] = Side.CLOSED
            return packet
        try:
            self._apply(self.peer, packet, local=False)
        except RemoteProtocolError as exc:
            self.sides[self.peer] = Side.CLOSED
            return InvalidPacket(error=RPCError.rpc(str(exc)))
        return packet

    def _next(self, sender: Role, packet: type) -> Side | None:
        if self.closed:
            return None
        state = self.sides[sender]
        new = STREAM_TRANSITIONS.get((sender, state, packet))
        if new is None:
            return None
        if sender is Role.SERVER and packet is FinishPacket and (
            self.sides[Role.CLIENT] not in _CONFIRMS
        ):
            return None
        return new

    def _apply(self, sender: Role, packet: StreamEvent, *, local: bool) -> None:
        new = self._next(sender, type(packet))
        if new is None:
            raise violation(self._refusal(sender, packet), local=local)
        self.sides[sender] = new
        if new is Side.CLOSED:
            self._end()

    def _refusal(self, sender: Role, packet: StreamEvent) -> str:
        state = self.sides[sender]
        what = type(packet).__name__
        if state is Side.CLOSED or self.closed:
            return f"stream packet {what} after the stream ended"
        if state is Side.DONE and isinstance(packet, DataPacket | HolePacket):
            return "stream data after end of data"
        if isinstance(packet, FinishPacket) and sender is Role.SERVER:
            return "stream finish confirmed without a finish or abort request"
        return f"a {sender.value} cannot send {what} on a stream that is {state.value}"

    def _end(self) -> None:
        self.sides[Role.CLIENT] = Side.CLOSED
        self.sides[Role.SERVER] = Side.CLOSED
