"""Sans-IO connection state for both ends of a libvirt RPC connection.

Theory of operation
-------------------
A :class:`Connection` never touches a socket and never reads a clock.  The I/O layer

* feeds it what it read with :meth:`Connection.receive_data` (``b""`` means EOF), together
  with the file descriptors that arrived and the current time;
* pulls events with :meth:`Connection.next_event` until it returns :data:`NEED_DATA` (read more)
  or :data:`PAUSED` (do not read: the request budget is used up, or the connection is closing);
* writes whatever :meth:`Connection.data_to_send` returns;
* calls :meth:`Connection.handle_timer` at :meth:`Connection.next_deadline`.

Rules, as libvirt's virNetServerClient / virNetClient apply them:

1. Framing errors (a length word under 28 or over 32 MiB + 4, a short header) are fatal: the
   connection is closed without a reply.  Everything at the header or dispatch level is
   answered with an error reply by the program layer and the connection stays usable.
2. Keepalive messages (program ``0x6b656570``, type MESSAGE) are handled here: a PING is
   answered with a PONG, anything else of that program and type is swallowed.  Every received
   byte re-arms the keepalive timer.
3. A server hands out at most ``max_requests`` calls (and stream packets) whose reply has not
   left yet (libvirt's ``max_client_requests``): a slot is taken when a call is handed out
   and freed once its reply is written (:meth:`send_reply` / :meth:`send_error`, then
   :meth:`data_to_send`, then :meth:`output_written`), or at once by :meth:`discard`.  A
   server also stops handing out calls while more than ``max_output`` bytes of output are
   unwritten (a client that does not read its replies).  Meanwhile :meth:`next_event`
   returns :data:`PAUSED`.
4. While paused, a server keeps reading a little (:attr:`HOLD_LIMIT` bytes, see
   :attr:`Connection.wants_read`): keepalive messages are answered and re-arm the timer as
   always, and the calls that arrive are held, in order, until slots free.  So slow calls
   never cost a live client its connection, and memory stays bounded.  Nothing is read
   while the output is over its limit.
5. A server ignores REPLY and MESSAGE messages from a client, and stream packets for streams
   that are not open.  A client fails on a reply nobody waits for.
6. File descriptors follow the message that announces them, one dummy byte each, not counted
   in the length word.  The connection swallows the dummy bytes and attaches the descriptors.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .errors import LocalProtocolError, RemoteProtocolError, RPCError
from .framing import BufferPool, Framing, RecordReader
from .keepalive import DEFAULT_COUNT, DEFAULT_INTERVAL, KeepAlive, KeepAliveAction
from .protocol import (
    HEADER_SIZE,
    KEEPALIVE_PROC_PING,
    KEEPALIVE_PROC_PONG,
    KEEPALIVE_PROGRAM,
    KEEPALIVE_VERSION,
    NUM_FDS_MAX,
    Header,
    MessageStatus,
    MessageType,
)
from .state import MESSAGE_KINDS, ROLE_SENDS, ConnectionState, ConnState, Role
from .wire import LIBVIRT_WIRE, Wire

__all__ = (
    "NEED_DATA",
    "PAUSED",
    "CallReceived",
    "Connection",
    "ConnectionClosed",
    "Event",
    "MessageReceived",
    "ReplyReceived",
    "Role",
    "StreamReceived",
)

_FRAME = struct.Struct(">IIIiiIi")
_U32 = struct.Struct(">I")

_CALL: Final = int(MessageType.CALL)
_REPLY: Final = int(MessageType.REPLY)
_MESSAGE: Final = int(MessageType.MESSAGE)
_STREAM: Final = int(MessageType.STREAM)
_CALL_WITH_FDS: Final = int(MessageType.CALL_WITH_FDS)
_REPLY_WITH_FDS: Final = int(MessageType.REPLY_WITH_FDS)
_STREAM_HOLE: Final = int(MessageType.STREAM_HOLE)
_OK: Final = int(MessageStatus.OK)
_ERROR: Final = int(MessageStatus.ERROR)

#: payloads at least this large are queued without copying them into the output buffer
_COPY_LIMIT = 16384

_PING = _FRAME.pack(
    HEADER_SIZE + 4, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, KEEPALIVE_PROC_PING, _MESSAGE, 0, 0
)
_PONG = _FRAME.pack(
    HEADER_SIZE + 4, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, KEEPALIVE_PROC_PONG, _MESSAGE, 0, 0
)


# Header(*fields) without the named tuple's Python-level __new__ (a header per message).
_new_header = tuple.__new__


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: :meth:`Connection.next_event`: nothing complete is buffered; read more
NEED_DATA: Final = _Sentinel("NEED_DATA")
#: :meth:`Connection.next_event`: do not read now (request budget used up, or closing)
PAUSED: Final = _Sentinel("PAUSED")


@dataclass(frozen=True, slots=True, kw_only=True)
class CallReceived:
    """A CALL (or CALL_WITH_FDS) arrived at a server.

    *payload* is the XDR of the arguments (the FD count word already removed).
    """

    header: Header
    payload: bytes
    fds: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyReceived:
    """A REPLY (or REPLY_WITH_FDS) to one of our calls arrived at a client."""

    header: Header
    payload: bytes
    fds: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived:
    """An unsolicited MESSAGE (an event) other than keepalive arrived at a client."""

    header: Header
    payload: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamReceived:
    """A STREAM or STREAM_HOLE packet for an open stream arrived."""

    header: Header
    payload: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed:
    """The peer closed the connection (EOF) or it was closed for a reason."""

    reason: str


Event = CallReceived | ReplyReceived | MessageReceived | StreamReceived | ConnectionClosed


@functools.cache
def _sendable(role: Role) -> frozenset[int]:
    # One set per role, shared by every connection.
    return frozenset(mtype for mtype, kind in MESSAGE_KINDS.items() if kind in ROLE_SENDS[role])


class Connection:
    """State of one libvirt RPC connection, for either role.

    :param role: :attr:`Role.SERVER` or :attr:`Role.CLIENT`.
    :param max_requests: server only: calls and stream packets handed out whose reply has
        not been written yet (libvirt's ``max_client_requests``).
    :param max_output: server only: stop handing out calls while this many bytes of output
        (or more) are unwritten; None: no limit.
    :param keepalive_interval: seconds of silence before a PING (``<= 0``: never ping).
    :param keepalive_count: unanswered PINGs before the peer is declared dead.
    :param wire: the wire protocol (libvirt's by default; see :mod:`netrpc.core.wire`).
    :param framing: the record framing, when not the wire's own.
    :param buffer_pool: receive buffers for large records, shared with other connections
        (see :class:`~netrpc.core.framing.BufferPool` and :meth:`receive_view`).
    """

    #: server: bytes read ahead and held while paused (keepalive messages behind them are
    #: still answered)
    HOLD_LIMIT = 65536

    # Slots, and containers created on first use: every connection's fixed cost is part of
    # what an idle client costs a server.
    __slots__ = (
        "_eof",
        "_fd_wait",
        "_fds_in",
        "_fds_wire",
        "_header_size",
        "_held",
        "_held_bytes",
        "_keepalive_wire",
        "_life",
        "_next_serial",
        "_out",
        "_out_segments",
        "_pending",
        "_read_header",
        "_reader",
        "_replies_queued",
        "_replies_taken",
        "_reserved_serials",
        "_segment_bytes",
        "_sendable",
        "_serial_mask",
        "_streams",
        "_taken_bytes",
        "_write_header",
        "dropped",
        "hit_request_limit",
        "is_server",
        "keepalive",
        "keepalive_filter",
        "max_output",
        "max_requests",
        "nrequests",
        "role",
        "wire",
    )

    def __init__(
        self,
        role: Role,
        *,
        max_requests: int = 5,
        max_output: int | None = None,
        keepalive_interval: float = DEFAULT_INTERVAL,
        keepalive_count: int = DEFAULT_COUNT,
        wire: Wire = LIBVIRT_WIRE,
        framing: Framing | None = None,
        buffer_pool: BufferPool | None = None,
    ) -> None:
        if max_requests < 1:
            raise ValueError(f"max_requests must be at least 1, got {max_requests}")
        if max_output is not None and max_output < 1:
            raise ValueError(f"max_output must be at least 1, got {max_output}")
        self.role = role
        self.is_server = role is Role.SERVER
        self.max_requests = max_requests
        #: server: unwritten output (bytes) at which no more calls are handed out
        self.max_output = max_output
        self.keepalive = KeepAlive(keepalive_interval, keepalive_count)
        self.wire = wire
        self._reader = RecordReader(framing or wire.framing, buffer_pool)
        self._header_size = wire.header_size
        self._read_header = wire.header_reader(role)
        self._write_header = wire.header_writer(role)
        self._keepalive_wire = wire.keepalive
        self._fds_wire = wire.fd_passing
        self._serial_mask = (1 << wire.serial_bits) - 1
        self._reserved_serials = wire.reserved_serials
        self._out = bytearray()
        # Output that carries FDs or large payloads, queued behind _out.
        self._out_segments: list[bytes | int] = []
        self._segment_bytes = 0
        # Taken by data_to_send() and not yet reported written: bytes, and replies in them.
        self._taken_bytes = 0
        self._replies_taken = 0
        # Replies queued and not yet taken.
        self._replies_queued = 0
        # descriptors received and not yet attached
        self._fds_in: list[int] | None = None
        self._fd_wait: tuple[Header, bytes, int] | None = None
        # server: messages read while paused, waiting for a slot (header, payload, fds)
        self._held: list[tuple[Header, bytes, tuple[int, ...]]] | None = None
        self._held_bytes = 0
        self._eof = False
        # OPEN -> CLOSING -> CLOSED, or BROKEN: the table in netrpc.core.state
        self._life = ConnectionState(role)
        # What this role may send (ROLE_SENDS), as message types: the check on every send.
        self._sendable = _sendable(role)
        #: server: calls and stream packets handed out whose reply has not been written
        self.nrequests = 0
        #: set once the budget was hit, so the I/O layer can log it a single time
        self.hit_request_limit = False
        # client: serial -> (program, version, procedure) of calls waiting for a reply
        self._pending: dict[int, tuple[int, int, int]] = {}
        self._next_serial = 0
        # (program, procedure, serial) of open streams
        self._streams: set[tuple[int, int, int]] | None = None
        #: messages dropped because nothing handles them (for diagnostics)
        self.dropped = 0
        #: fault injection: called with "pong" before a PING is answered and with "ping"
        #: before a PING is sent; False swallows the message (see netrpc.faults)
        self.keepalive_filter: Callable[[str], bool] | None = None

    # ---------------------------------------------------------------------------- input

    def receive_data(
        self, data: bytes | bytearray | memoryview, now: float = 0.0, fds: tuple[int, ...] = ()
    ) -> None:
        """Feed bytes read from the peer; ``b""`` means end of file.

        :param now: the current time, for keepalive.
        :param fds: file descriptors that arrived with these bytes (unix sockets only).
        """
        if fds:
            if self._fds_in is None:
                self._fds_in = []
            self._fds_in.extend(fds)
        if not data:
            if not fds:
                self._eof = True
            return
        self._reader.feed(data)
        self.keepalive.received(now)

    def receive_view(self) -> memoryview | None:
        """Where to receive the rest of a large record straight into a pool buffer, or None
        (then read :meth:`read_size` bytes and call :meth:`receive_data`).  Release the
        view, then call :meth:`commit_received`."""
        if self.is_server and self._paused():
            return None
        return self._reader.receive_view()

    def commit_received(self, count: int, now: float = 0.0, fds: tuple[int, ...] = ()) -> None:
        """Account for *count* bytes received into :meth:`receive_view` (``0`` with no *fds*
        means end of file)."""
        if fds:
            if self._fds_in is None:
                self._fds_in = []
            self._fds_in.extend(fds)
        if not count:
            if not fds:
                self._eof = True
            return
        self._reader.commit(count)
        self.keepalive.received(now)

    def release_buffers(self) -> None:
        """Give back a pool buffer (the I/O layer calls this once the connection is gone)."""
        self._reader.release()

    def read_size(self, size: int) -> int:
        """How many bytes the I/O layer should ask for in its next read, *size* by default:
        the rest of a large record being received (so it ends the read), or, while paused,
        no more than may still be held."""
        want = self._reader.read_size(size)
        if self.is_server and self._paused():
            room = self.HOLD_LIMIT - self._held_bytes - self._reader.buffered
            return max(min(want, room), 1)
        return want

    @property
    def buffered_input(self) -> int:
        """Bytes received and not yet handed out as events (held messages included)."""
        return self._held_bytes + self._reader.buffered

    @property
    def wants_read(self) -> bool:
        """False while the I/O layer should not read: closing or closed, the output over its
        limit, or (paused) :attr:`HOLD_LIMIT` bytes already held."""
        if self._life.state is not ConnState.OPEN or self._eof:
            return False
        if not self.is_server:
            return True
        if self.max_output is not None and self.unsent_output >= self.max_output:
            return False
        if self.nrequests >= self.max_requests:
            return self._held_bytes + self._reader.buffered < self.HOLD_LIMIT
        return True

    @property
    def can_dispatch(self) -> bool:
        """Server: True when :meth:`next_event` may hand out another call (a slot is free
        and the output is under its limit)."""
        return not self._paused()

    @property
    def held(self) -> int:
        """Server: messages read while paused and not handed out yet."""
        return len(self._held) if self._held else 0

    @property
    def receive_footprint(self) -> int:
        """Bytes of memory the receive side holds (received data not handed out yet)."""
        return self._held_bytes + self._reader.footprint

    def _paused(self) -> bool:
        if self.nrequests >= self.max_requests:
            return True
        return self.max_output is not None and self.unsent_output >= self.max_output

    def next_event(self) -> Event | _Sentinel:
        """Return the next event, :data:`NEED_DATA` or :data:`PAUSED`.

        :raises RemoteProtocolError: when the peer broke framing; the connection is then
            closed and every later call raises too.
        """
        life = self._life
        if life.reason is not None:
            return ConnectionClosed(reason=life.reason)
        if life.state is ConnState.CLOSING:
            return PAUSED
        while True:
            if self.is_server:
                # (_paused(), written out: this runs for every call)
                max_output = self.max_output
                if self.nrequests >= self.max_requests or (
                    max_output is not None
                    and len(self._out) + self._segment_bytes + self._taken_bytes >= max_output
                ):
                    if self.nrequests >= self.max_requests:
                        self.hit_request_limit = True
                    self._hold()
                    return PAUSED
                if self._held:
                    header, payload, fds = self._held.pop(0)
                    self._held_bytes -= self._header_size + len(payload)
                    event = self._route(header, payload, fds)
                    if event is not None:
                        return event
                    continue
            message = self._next_message()
            if message is None:
                if self._eof:
                    life.process("eof", "end of file")
                    return ConnectionClosed(reason="end of file")
                self._reader.compact()
                return NEED_DATA
            header = message[0]
            if self.is_server and header[3] == _CALL:
                # (_route()'s first case, written out: a call, the usual message)
                self.nrequests += 1
                return CallReceived(header=header, payload=message[1], fds=message[2])
            event = self._route(*message)
            if event is not None:
                return event

    def _hold(self) -> None:
        """While paused: take what was read off the framing buffer, keepalive handled,
        everything else held in order."""
        while self._held_bytes < self.HOLD_LIMIT:
            message = self._next_message()
            if message is None:
                self._reader.compact()
                return
            if self._held is None:
                self._held = []
            self._held.append(message)
            self._held_bytes += self._header_size + len(message[1])

    def _next_message(self) -> tuple[Header, bytes, tuple[int, ...]] | None:
        """The next message off the wire, keepalive answered, descriptors attached; None
        when incomplete."""
        while True:
            if self._fd_wait is not None:
                return self._complete_fd_message()
            try:
                split = self._reader.next_split(self._header_size)
            except RemoteProtocolError as exc:
                self._life.peer_error(str(exc))
                raise
            if split is None:
                return None
            raw_header, payload = split
            if len(raw_header) < self._header_size:
                # Cannot happen with libvirt framing (min length 28); other framings may
                # allow shorter records.
                raise self._life.peer_error("Unable to decode message header")
            fields = self._read_header(raw_header)
            header = _new_header(Header, fields)
            prog, proc, mtype = fields[0], fields[2], fields[3]
            if prog == KEEPALIVE_PROGRAM and mtype == _MESSAGE and self._keepalive_wire:
                if proc == KEEPALIVE_PROC_PING and (
                    self.keepalive_filter is None or self.keepalive_filter("pong")
                ):
                    self._out += _PONG
                continue
            if mtype == (_CALL_WITH_FDS if self.is_server else _REPLY_WITH_FDS) and self._fds_wire:
                if not self.is_server:
                    self._check_reply(header)
                self._start_fd_message(header, payload)
                continue
            return header, payload, ()

    def _route(self, header: Header, record: bytes, fds: tuple[int, ...]) -> Event | None:
        mtype = header.type
        if self.is_server:
            if mtype == _CALL or mtype == _CALL_WITH_FDS:
                self.nrequests += 1
                return CallReceived(header=header, payload=record, fds=fds)
            if mtype == _STREAM or mtype == _STREAM_HOLE:
                streams = self._streams
                if streams and (header.program, header.procedure, header.serial) in streams:
                    self.nrequests += 1
                    return StreamReceived(header=header, payload=record)
            # REPLY / MESSAGE / unknown streams from a client are dropped, as libvirtd does.
            self.dropped += 1
            return None
        if mtype == _REPLY:
            self._check_reply(header)
            return ReplyReceived(header=header, payload=record)
        if mtype == _REPLY_WITH_FDS:
            # Checked before its descriptors were collected.
            return ReplyReceived(header=header, payload=record, fds=fds)
        if mtype == _MESSAGE:
            return MessageReceived(header=header, payload=record)
        if mtype == _STREAM or mtype == _STREAM_HOLE:
            streams = self._streams
            if streams and (header.program, header.procedure, header.serial) in streams:
                return StreamReceived(header=header, payload=record)
            # libvirt's client ignores late packets of streams it already closed.
            self.dropped += 1
            return None
        raise self._life.peer_error(f"unexpected message type {mtype} from server")

    def _check_reply(self, header: Header) -> None:
        """Client: *header* must answer a call we are waiting for (which it then retires)."""
        expected = self._pending.pop(header.serial, None)
        if expected is None or (
            self.wire.replies_echo_call
            and expected != (header.program, header.version, header.procedure)
        ):
            if expected is not None:
                self._pending[header.serial] = expected
            raise self._life.peer_error(
                f"no call waiting for reply with prog {header.program} "
                f"vers {header.version} serial {header.serial}"
            )

    def _start_fd_message(self, header: Header, record: bytes) -> None:
        if len(record) < 4:
            raise self._life.peer_error("Unable to decode number of FDs")
        nfds = _U32.unpack_from(record, 0)[0]
        if nfds > NUM_FDS_MAX:
            raise self._life.peer_error(
                f"Received too many FDs {nfds}, expected {NUM_FDS_MAX} maximum"
            )
        self._reader.skip(nfds)
        self._fd_wait = (header, record[4:], nfds)

    def _complete_fd_message(self) -> tuple[Header, bytes, tuple[int, ...]] | None:
        assert self._fd_wait is not None
        header, payload, nfds = self._fd_wait
        if self._reader.consume_skip():
            return None
        received = self._fds_in or []
        if len(received) < nfds:
            # The descriptors ride on the dummy bytes; once those are read they must be here.
            raise self._life.peer_error(
                f"expected {nfds} file descriptors, received {len(received)}"
            )
        fds = tuple(received[:nfds])
        del received[:nfds]
        self._fd_wait = None
        return header, payload, fds

    def take_unclaimed_fds(self) -> list[int]:
        """Remove and return descriptors received but not attached to any message.

        The I/O layer closes them when the connection ends, so nothing leaks.
        """
        fds = self._fds_in or []
        self._fds_in = None
        for _header, _payload, held_fds in self._held or ():
            fds.extend(held_fds)
        self._held = None
        self._held_bytes = 0
        return fds

    # ---------------------------------------------------------------------------- output

    def _append(self, header_fields: tuple[int, int, int, int, int, int], payload: bytes) -> None:
        if header_fields[3] not in self._sendable or self._life.reason is not None:
            self._life.check_send(header_fields[3])  # raises: not ours to send, or closed
        target = self._out
        target += self._write_header(len(payload), header_fields)
        if len(payload) >= _COPY_LIMIT:
            # Large payloads (stream data) are queued as they are, not copied: the I/O layer
            # writes the segments with one scatter-gather send.
            head = bytes(target)
            target.clear()
            self._out_segments.append(head)
            self._out_segments.append(payload)
            self._segment_bytes += len(head) + len(payload)
        elif payload:
            target += payload

    def _append_with_fds(
        self,
        header_fields: tuple[int, int, int, int, int, int],
        payload: bytes,
        fds: tuple[int, ...],
    ) -> None:
        if not self._fds_wire:
            raise LocalProtocolError(f"the {self.wire.name} wire does not pass file descriptors")
        if len(fds) > NUM_FDS_MAX:
            raise LocalProtocolError(
                f"Too many FDs to send {len(fds)}, expected {NUM_FDS_MAX} maximum"
            )
        self._append(header_fields, _U32.pack(len(fds)) + payload)
        # Everything written so far leaves first; each FD follows with its dummy byte.
        if self._out:
            self._out_segments.append(bytes(self._out))
            self._segment_bytes += len(self._out)
            self._out.clear()
        self._out_segments.extend(fds)

    def send_reply(self, call: Header, payload: bytes = b"", fds: tuple[int, ...] = ()) -> None:
        """Server: answer *call* with status OK (REPLY_WITH_FDS when *fds* are given).

        The call's slot is freed once the reply is written (:meth:`output_written`).
        """
        # (_answered(), written out: this runs for every call)
        if self.is_server:
            if self.nrequests - self._replies_queued - self._replies_taken <= 0:
                raise LocalProtocolError("more replies than calls")
            self._replies_queued += 1
        if fds:
            self._append_with_fds(
                (call.program, call.version, call.procedure, _REPLY_WITH_FDS, call.serial, _OK),
                payload,
                fds,
            )
        else:
            self._append(
                (call.program, call.version, call.procedure, _REPLY, call.serial, _OK), payload
            )

    def send_error(self, call: Header, error: RPCError | bytes) -> None:
        """Server: answer *call* with an error reply carrying *error*.

        The error travels as STREAM/ERROR when *call* was a stream packet, else as
        REPLY/ERROR, with the program, version, procedure and serial of *call* echoed.
        *error* may also be an already encoded payload (sent as it is).  The call's slot is
        freed once the reply is written (:meth:`output_written`).
        """
        self._answered()
        mtype = _STREAM if call.type in (_STREAM, _STREAM_HOLE) else _REPLY
        self._append(
            (call.program, call.version, call.procedure, mtype, call.serial, _ERROR),
            error if isinstance(error, bytes) else self.wire.encode_error(error),
        )

    def discard(self, call: Header) -> None:
        """Server: finish *call* without sending anything (libvirt's "dummy reply")."""
        self._release()

    def _release(self) -> None:
        if self.is_server:
            if self.nrequests - self._replies_queued - self._replies_taken <= 0:
                raise LocalProtocolError("more replies than calls")
            self.nrequests -= 1

    def _answered(self) -> None:
        if self.is_server:
            if self.nrequests - self._replies_queued - self._replies_taken <= 0:
                raise LocalProtocolError("more replies than calls")
            self._replies_queued += 1

    def send_event(
        self, program: int, version: int, procedure: int, payload: bytes = b"", *, serial: int = 1
    ) -> None:
        """Send an unsolicited MESSAGE (libvirtd sends its events with serial 1)."""
        self._append((program, version, procedure, _MESSAGE, serial, _OK), payload)

    def send_stream(
        self,
        stream: Header,
        status: MessageStatus | int,
        payload: bytes = b"",
        *,
        hole: bool = False,
    ) -> None:
        """Send a STREAM (or STREAM_HOLE) packet on the stream opened by call *stream*."""
        mtype = _STREAM_HOLE if hole else _STREAM
        self._append(
            (stream.program, stream.version, stream.procedure, mtype, stream.serial, int(status)),
            payload,
        )

    def send_call(
        self,
        program: int,
        version: int,
        procedure: int,
        payload: bytes = b"",
        fds: tuple[int, ...] = (),
        *,
        expect_reply: bool = True,
    ) -> int:
        """Client: send a CALL and return its serial.

        :param expect_reply: register the serial so that its reply is accepted.
        """
        if self.is_server:
            raise LocalProtocolError("a server does not send calls")
        serial = self._next_serial
        mask = self._serial_mask
        while serial in self._reserved_serials:
            serial = (serial + 1) & mask
        self._next_serial = (serial + 1) & mask
        if fds:
            self._append_with_fds(
                (program, version, procedure, _CALL_WITH_FDS, serial, _OK), payload, fds
            )
        else:
            self._append((program, version, procedure, _CALL, serial, _OK), payload)
        if expect_reply:
            self._pending[serial] = (program, version, procedure)
        return serial

    def forget_call(self, serial: int) -> None:
        """Client: stop waiting for the reply of *serial* (a late reply is then an error)."""
        self._pending.pop(serial, None)

    @property
    def pending_calls(self) -> int:
        """Client: calls sent whose reply has not arrived."""
        return len(self._pending)

    def send_ping(self) -> None:
        """Queue a keepalive PING."""
        if not self._keepalive_wire:
            raise LocalProtocolError(f"the {self.wire.name} wire has no keepalive")
        self._out += _PING

    def open_stream(self, call: Header) -> None:
        """Accept STREAM packets carrying the program, procedure and serial of *call*."""
        if self._streams is None:
            self._streams = set()
        self._streams.add((call.program, call.procedure, call.serial))

    def close_stream(self, call: Header) -> None:
        """Stop accepting packets of the stream opened by *call*."""
        if self._streams is not None:
            self._streams.discard((call.program, call.procedure, call.serial))

    def data_to_send(self) -> list[bytes | int]:
        """Take everything queued for the peer.

        Returns segments in order: ``bytes`` to write, and ``int`` file descriptors each to be
        sent with a single dummy byte (``sendmsg`` with ``SCM_RIGHTS``).  Call
        :meth:`output_written` once they are written: the slots of the replies among them
        are freed then.
        """
        if not self._out_segments:
            if not self._out:
                return []
            data = bytes(self._out)
            self._out.clear()
            self._taken_bytes += len(data)
            self._replies_taken += self._replies_queued
            self._replies_queued = 0
            return [data]
        segments: list[bytes | int] = list(self._out_segments)
        self._out_segments.clear()
        self._taken_bytes += self._segment_bytes
        self._segment_bytes = 0
        if self._out:
            segments.append(bytes(self._out))
            self._taken_bytes += len(self._out)
            self._out.clear()
        self._replies_taken += self._replies_queued
        self._replies_queued = 0
        return segments

    def output_written(self) -> None:
        """The I/O layer wrote everything :meth:`data_to_send` returned: the replies in it
        have left, their slots are free."""
        if self._replies_taken:
            self.nrequests -= self._replies_taken
            self._replies_taken = 0
        self._taken_bytes = 0

    @property
    def pending_output(self) -> int:
        """Bytes queued for the peer and not yet taken by :meth:`data_to_send`."""
        return len(self._out) + self._segment_bytes

    @property
    def unsent_output(self) -> int:
        """Bytes queued or taken and not yet reported written (:meth:`output_written`)."""
        return len(self._out) + self._segment_bytes + self._taken_bytes

    @property
    def has_output(self) -> bool:
        """True when :meth:`data_to_send` would return something."""
        return bool(self._out) or bool(self._out_segments)

    # ---------------------------------------------------------------------------- lifecycle

    def start_keepalive(self, now: float) -> bool:
        """Start pinging a silent peer (a server does so once the client asks for it);
        False when it cannot (keepalive disabled, or a wire without keepalive)."""
        return self._keepalive_wire and self.keepalive.start(now)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` is next due, or None."""
        return self.keepalive.next_deadline()

    def handle_timer(self, now: float) -> bool:
        """Run keepalive at *now*; returns True when the peer is dead and we must close."""
        action = self.keepalive.handle_timer(now)
        if action is KeepAliveAction.PING:
            if self.keepalive_filter is None or self.keepalive_filter("ping"):
                self._out += _PING
        elif action is KeepAliveAction.DEAD:
            self._life.process("close", "connection closed due to keepalive timeout")
            return True
        return False

    def close_after_flush(self) -> None:
        """Stop reading; the I/O layer closes once the queued output is written."""
        self._life.process("close_after_flush")

    @property
    def state(self) -> ConnState:
        """Where the connection is in its life (see :mod:`netrpc.core.state`)."""
        return self._life.state

    @property
    def closing(self) -> bool:
        """True once nothing more is read: after :meth:`close_after_flush`, or closed."""
        return self._life.state is not ConnState.OPEN

    @property
    def closed_reason(self) -> str | None:
        """Why the connection is closed, or None while it is usable."""
        return self._life.reason

    def mark_closed(self, reason: str) -> None:
        """Record that the I/O layer closed the connection (the first reason is kept)."""
        self._life.process("close", reason)

    def send_failed(self, reason: str = "send failed") -> list[int]:
        """The I/O layer could not write all that :meth:`data_to_send` returned (the write
        failed or was interrupted): part of a record may be on the wire, so nothing more
        can be sent.  The connection is closed with *reason* and its queued output dropped.

        :returns: the file descriptors that were queued to be sent (not sent; the caller
            decides whether to close them).
        """
        self._life.process("send_failed", reason)
        fds = [s for s in self._out_segments if isinstance(s, int)]
        self._out.clear()
        self._out_segments.clear()
        self._segment_bytes = 0
        self._taken_bytes = 0
        return fds
