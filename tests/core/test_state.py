"""Connection and stream state as data: the tables, blame, role checks, data after the end;
and Hypothesis driving both ends through random sequences of events."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from netrpc.core.connection import (
    NEED_DATA,
    PAUSED,
    CallReceived,
    Connection,
    ConnectionClosed,
    MessageReceived,
    ReplyReceived,
    StreamReceived,
)
from netrpc.core.errors import LocalProtocolError, RemoteProtocolError, RPCError
from netrpc.core.protocol import Header, MessageType
from netrpc.core.state import (
    CONNECTION_TRANSITIONS,
    STREAM_TRANSITIONS,
    AbortPacket,
    ConnectionState,
    ConnState,
    DataPacket,
    EndOfData,
    ErrorPacket,
    FinishPacket,
    HolePacket,
    InvalidPacket,
    Role,
    Side,
    StreamState,
)
from netrpc.core.stream import classify, wire_form

PROG = 0x20240009


# ------------------------------------------------------------------------------ the tables


def test_every_state_has_a_row_and_ends_are_sticky() -> None:
    assert set(CONNECTION_TRANSITIONS) == set(ConnState)
    for end in (ConnState.CLOSED, ConnState.BROKEN):
        assert set(CONNECTION_TRANSITIONS[end].values()) == {end}
        assert "send" not in CONNECTION_TRANSITIONS[end]
        assert "receive" not in CONNECTION_TRANSITIONS[end]


def test_stream_table_never_leaves_closed() -> None:
    assert not any(state is Side.CLOSED for (_, state, _) in STREAM_TRANSITIONS)


def test_events_are_frozen_slotted_keyword_only() -> None:
    header = Header(PROG, 1, 1, 0, 1, 0)
    for event in (
        CallReceived(header=header, payload=b""),
        ReplyReceived(header=header, payload=b""),
        MessageReceived(header=header, payload=b""),
        StreamReceived(header=header, payload=b""),
        ConnectionClosed(reason="x"),
        DataPacket(data=b"x"),
        HolePacket(length=1),
        EndOfData(),
        FinishPacket(),
        AbortPacket(),
        ErrorPacket(error=RPCError.rpc("x")),
        InvalidPacket(error=RPCError.rpc("x")),
    ):
        cls = type(event)
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen
        assert hasattr(cls, "__slots__")
        assert all(f.kw_only for f in dataclasses.fields(cls))
        fields = dataclasses.fields(cls)
        if fields:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(event, fields[0].name, None)
        assert not hasattr(event, "__dict__")
    with pytest.raises(TypeError):
        CallReceived(header, b"")  # type: ignore[misc]


# --------------------------------------------------------------------------- connection


def test_role_check_on_every_send() -> None:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    header = Header(PROG, 1, 1, 0, 7, 0)
    with pytest.raises(LocalProtocolError, match="server does not send call"):
        server.send_call(PROG, 1, 1)
    with pytest.raises(LocalProtocolError, match="client does not send reply"):
        client.send_reply(header)
    with pytest.raises(LocalProtocolError, match="client does not send reply"):
        client.send_error(header, RPCError.rpc("x"))
    with pytest.raises(LocalProtocolError, match="client does not send event"):
        client.send_event(PROG, 1, 1)
    assert not client.has_output and not server.has_output
    assert client.state is ConnState.OPEN and server.state is ConnState.OPEN


def test_blame_local_misuse_leaves_the_connection_alone() -> None:
    conn = Connection(Role.CLIENT)
    conn.mark_closed("gone")
    with pytest.raises(LocalProtocolError, match=r"connection is closed \(gone\)"):
        conn.send_call(PROG, 1, 1)
    assert conn.state is ConnState.CLOSED


def test_blame_peer_error_breaks_the_connection() -> None:
    conn = Connection(Role.CLIENT)
    # A reply to a call never made.
    server = Connection(Role.SERVER)
    server.receive_data(_wire(_client_call()), 0.0)
    event = server.next_event()
    assert isinstance(event, CallReceived)
    server.send_reply(event.header)
    conn.receive_data(_wire(server), 0.0)
    with pytest.raises(RemoteProtocolError, match="no call waiting"):
        conn.next_event()
    assert conn.state is ConnState.BROKEN
    assert isinstance(conn.next_event(), ConnectionClosed)
    with pytest.raises(LocalProtocolError):
        conn.send_call(PROG, 1, 1)


def test_lifecycle_through_the_table() -> None:
    life = ConnectionState(Role.SERVER)
    life.process("close_after_flush")
    assert life.state is ConnState.CLOSING
    life.process("eof", "end of file")
    assert (life.state, life.reason) == (ConnState.CLOSED, "end of file")
    life.process("send_failed", "later")
    assert (life.state, life.reason) == (ConnState.CLOSED, "end of file")


def _client_call() -> Connection:
    client = Connection(Role.CLIENT)
    client.send_call(PROG, 1, 1, b"")
    return client


def _wire(conn: Connection) -> bytes:
    data = b"".join(s for s in conn.data_to_send() if isinstance(s, bytes))
    conn.output_written()
    return data


# ------------------------------------------------------------------------------ streams


def test_data_after_end_of_data() -> None:
    server = StreamState(Role.SERVER)
    server.send(EndOfData())
    with pytest.raises(LocalProtocolError, match="data after end of data"):
        server.send(DataPacket(data=b"x"))
    client = StreamState(Role.CLIENT)
    assert client.receive(EndOfData()) == EndOfData()
    late = client.receive(DataPacket(data=b"x"))
    assert isinstance(late, InvalidPacket)
    assert "data after end of data" in (late.error.message or "")
    assert client.closed


def test_confirmation_needs_a_request_and_roles_are_checked() -> None:
    server = StreamState(Role.SERVER)
    with pytest.raises(LocalProtocolError, match="without a finish or abort request"):
        server.send(FinishPacket())
    with pytest.raises(LocalProtocolError, match="server cannot send AbortPacket"):
        server.send(AbortPacket())
    client = StreamState(Role.CLIENT)
    with pytest.raises(LocalProtocolError, match="client cannot send ErrorPacket"):
        client.send(ErrorPacket(error=RPCError.rpc("x")))
    with pytest.raises(LocalProtocolError, match="sparse"):
        client.send(HolePacket(length=5))
    assert isinstance(client.receive(FinishPacket()), InvalidPacket)


def test_a_server_answers_a_broken_packet_with_its_error() -> None:
    server = StreamState(Role.SERVER)
    client = StreamState(Role.CLIENT)
    client.send(FinishPacket())
    server.receive(FinishPacket())
    assert isinstance(server.receive(DataPacket(data=b"late")), InvalidPacket)
    assert not server.closed
    server.send(ErrorPacket(error=RPCError.rpc("bad")))
    assert server.closed
    with pytest.raises(LocalProtocolError, match="after the stream ended"):
        server.send(DataPacket(data=b"x"))


# ------------------------------------------------------------------------ Hypothesis

_PACKETS = st.sampled_from(
    [
        DataPacket(data=b"abc"),
        HolePacket(length=3),
        EndOfData(),
        FinishPacket(),
        AbortPacket(),
        ErrorPacket(error=RPCError.rpc("stop")),
    ]
)


class StreamPair(RuleBasedStateMachine):
    """Both ends of one stream, packets going over the wire encoding in between.

    Whatever either end is allowed to send, the other end takes; whatever it is not
    allowed to send raises LocalProtocolError and changes nothing; packets forced onto the
    wire against the rules (a buggy or hostile peer) never raise at the receiver.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sparse = True
        self.ends = {role: StreamState(role, sparse=True) for role in Role}
        self.header = Header(PROG, 1, 5, int(MessageType.STREAM), 11, 0)
        # A forced packet puts the ends out of step: they need not agree after it.
        self.forced = False

    def _deliver(self, sender: Role, packet: object) -> object:
        status, payload, hole = wire_form(packet)  # type: ignore[arg-type]
        mtype = MessageType.STREAM_HOLE if hole else MessageType.STREAM
        header = self.header._replace(type=int(mtype), status=int(status))
        receiver = self.ends[Role.SERVER if sender is Role.CLIENT else Role.CLIENT]
        event = classify(header, payload, from_server=sender is Role.SERVER, sparse=self.sparse)
        return receiver.receive(event)

    @rule(sender=st.sampled_from(list(Role)), packet=_PACKETS)
    def send(self, sender: Role, packet: object) -> None:
        end = self.ends[sender]
        before = dict(end.sides)
        if end.can_send(type(packet)):
            end.send(packet)  # type: ignore[arg-type]
            received = self._deliver(sender, packet)
            if not self.forced:
                # Both ends run the same table: what one may send, the other takes.
                assert not isinstance(received, InvalidPacket), (sender, packet, received)
                assert type(received) is type(packet)
        else:
            with pytest.raises(LocalProtocolError):
                end.send(packet)  # type: ignore[arg-type]
            assert end.sides == before

    @rule(sender=st.sampled_from(list(Role)), packet=_PACKETS)
    def force(self, sender: Role, packet: object) -> None:
        """A peer that ignores the rules: the receiver never raises."""
        if isinstance(packet, ErrorPacket) and sender is Role.CLIENT:
            return  # a client's ERROR is an abort on the wire
        self.forced = True
        self._deliver(sender, packet)

    @invariant()
    def ends_agree_on_closing(self) -> None:
        for end in self.ends.values():
            if end.closed:
                assert not end.can_send(DataPacket)
                assert not end.can_send(FinishPacket)


TestStreamPair = StreamPair.TestCase
TestStreamPair.settings = settings(
    max_examples=300, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class ConnectionPair(RuleBasedStateMachine):
    """A client and a server connection exchanging calls, replies, events, stream packets
    and garbage, with bytes split anywhere, EOFs, closes and failed writes.

    Blame always lands right: local misuse raises LocalProtocolError and changes nothing;
    a broken peer raises RemoteProtocolError from next_event and breaks the connection for
    good; states only move along the table; every reply that arrives answers a call.
    """

    def __init__(self) -> None:
        super().__init__()
        self.client = Connection(Role.CLIENT)
        self.server = Connection(Role.SERVER, max_requests=1000)
        self.wire = {Role.CLIENT: b"", Role.SERVER: b""}  # bytes in flight to that role
        self.calls: list[Header] = []  # calls the server received, unanswered
        self.sent_serials: set[int] = set()
        self.stream_header: Header | None = None
        self.history = {Role.CLIENT: [ConnState.OPEN], Role.SERVER: [ConnState.OPEN]}

    def conn(self, role: Role) -> Connection:
        return self.client if role is Role.CLIENT else self.server

    def _queue_out(self, role: Role) -> None:
        conn = self.conn(role)
        if conn.has_output:
            data = b"".join(s for s in conn.data_to_send() if isinstance(s, bytes))
            conn.output_written()
            other = Role.SERVER if role is Role.CLIENT else Role.CLIENT
            self.wire[other] += data

    def _local(self, role: Role, action: object) -> None:
        conn = self.conn(role)
        before = conn.state
        try:
            action()  # type: ignore[operator]
        except LocalProtocolError:
            assert conn.state is before
            return
        self._queue_out(role)

    @rule()
    def client_calls(self) -> None:
        def call() -> None:
            self.sent_serials.add(self.client.send_call(PROG, 1, 1, b"\0\0\0\1"))

        self._local(Role.CLIENT, call)

    @rule()
    def server_answers(self) -> None:
        if self.calls:
            header = self.calls.pop(0)
            self._local(Role.SERVER, lambda: self.server.send_reply(header, b""))

    @rule()
    def server_sends_event(self) -> None:
        self._local(Role.SERVER, lambda: self.server.send_event(PROG, 1, 2, b""))

    @rule(role=st.sampled_from(list(Role)))
    def wrong_role_sends(self, role: Role) -> None:
        conn = self.conn(role)
        before = (conn.state, conn.has_output)
        wrong = (
            (lambda: conn.send_call(PROG, 1, 1))
            if role is Role.SERVER
            else (lambda: conn.send_event(PROG, 1, 1))
        )
        with pytest.raises(LocalProtocolError):
            wrong()
        assert (conn.state, conn.has_output) == before

    @rule(role=st.sampled_from(list(Role)), packet=_PACKETS)
    def stream_packet(self, role: Role, packet: object) -> None:
        if self.stream_header is None:
            return
        status, payload, hole = wire_form(packet)  # type: ignore[arg-type]
        header = self.stream_header
        self._local(
            role, lambda: self.conn(role).send_stream(header, status, payload, hole=hole)
        )

    @precondition(lambda self: self.stream_header is None)
    @rule()
    def open_stream(self) -> None:
        if self.client.closed_reason is None:
            serial = self.client.send_call(PROG, 1, 9, b"", expect_reply=False)
            header = Header(PROG, 1, 9, 0, serial, 0)
            self.client.open_stream(header)
            self.server.open_stream(header)
            self.stream_header = header
            self._queue_out(Role.CLIENT)

    @rule(role=st.sampled_from(list(Role)), garbage=st.binary(min_size=4, max_size=40))
    def garbage(self, role: Role, garbage: bytes) -> None:
        self.wire[role] += garbage

    @rule(role=st.sampled_from(list(Role)), split=st.integers(min_value=0, max_value=200))
    def deliver(self, role: Role, split: int) -> None:
        conn = self.conn(role)
        data, self.wire[role] = self.wire[role][:split], self.wire[role][split:]
        if not data:
            return
        conn.receive_data(data, 0.0)
        self._drain(role)

    @rule(role=st.sampled_from(list(Role)))
    def eof(self, role: Role) -> None:
        self.conn(role).receive_data(b"", 0.0)
        self._drain(role)

    @rule(role=st.sampled_from(list(Role)))
    def close(self, role: Role) -> None:
        self.conn(role).mark_closed("closed by test")

    @rule(role=st.sampled_from(list(Role)))
    def send_failed(self, role: Role) -> None:
        self.conn(role).send_failed("write interrupted")
        assert not self.conn(role).has_output

    @rule()
    def server_closes_after_flush(self) -> None:
        self.server.close_after_flush()

    def _drain(self, role: Role) -> None:
        conn = self.conn(role)
        for _ in range(1000):
            try:
                event = conn.next_event()
            except RemoteProtocolError:
                # The peer's fault: the connection is broken for good.
                assert conn.state is ConnState.BROKEN
                assert isinstance(conn.next_event(), ConnectionClosed)
                return
            if event is NEED_DATA or event is PAUSED or isinstance(event, ConnectionClosed):
                return
            if isinstance(event, CallReceived):
                self.calls.append(event.header)
            elif isinstance(event, ReplyReceived):
                assert event.header.serial in self.sent_serials
            elif isinstance(event, StreamReceived):
                if role is Role.SERVER:
                    self.server.discard(event.header)
            self._queue_out(role)
        raise AssertionError("next_event never settled")

    @invariant()
    def states_move_along_the_table(self) -> None:
        for role in Role:
            state = self.conn(role).state
            previous = self.history[role][-1]
            if state is not previous:
                assert state in CONNECTION_TRANSITIONS[previous].values(), (previous, state)
                self.history[role].append(state)
            if state in (ConnState.CLOSED, ConnState.BROKEN):
                assert self.conn(role).closed_reason


TestConnectionPair = ConnectionPair.TestCase
TestConnectionPair.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
