"""The sans-IO connection: golden vectors, budget, keepalive timing, FDs, both roles."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from netrpc.core.connection import (
    NEED_DATA,
    PAUSED,
    CallReceived,
    Connection,
    ConnectionClosed,
    MessageReceived,
    ReplyReceived,
    Role,
    StreamReceived,
)
from netrpc.core.errors import LocalProtocolError, RemoteProtocolError, RPCError
from netrpc.core.protocol import Header, MessageStatus, MessageType, decode_error, encode_message

REMOTE = 0x20008086
AUTH_LIST_CALL = bytes.fromhex("0000001c 20008086 00000001 00000042 00000000 00000000 00000000")
AUTH_LIST_REPLY = bytes.fromhex(
    "00000024 20008086 00000001 00000042 00000001 00000000 00000000 00000001 00000000"
)
PING = bytes.fromhex("0000001c 6b656570 00000001 00000001 00000002 00000000 00000000")
PONG = bytes.fromhex("0000001c 6b656570 00000001 00000002 00000002 00000000 00000000")


def _events(conn: Connection) -> list[Any]:
    out = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA or event is PAUSED:
            return out
        out.append(event)
        if isinstance(event, ConnectionClosed):
            return out


def _call(proc: int, serial: int, payload: bytes = b"", mtype: int = 0, status: int = 0) -> bytes:
    return encode_message(Header(REMOTE, 1, proc, mtype, serial, status), payload)


def _joined(conn: Connection) -> bytes:
    return b"".join(s for s in conn.data_to_send() if isinstance(s, bytes))


def test_auth_list_golden_vectors() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(AUTH_LIST_CALL)
    [event] = _events(server)
    assert isinstance(event, CallReceived)
    assert event.header == Header(REMOTE, 1, 66, MessageType.CALL, 0, MessageStatus.OK)
    server.send_reply(event.header, bytes.fromhex("00000001 00000000"))
    assert _joined(server) == AUTH_LIST_REPLY


def test_client_builds_the_same_call_and_matches_the_reply() -> None:
    client = Connection(Role.CLIENT)
    assert client.send_call(REMOTE, 1, 66) == 0
    assert _joined(client) == AUTH_LIST_CALL
    client.receive_data(AUTH_LIST_REPLY)
    [reply] = _events(client)
    assert isinstance(reply, ReplyReceived)
    assert reply.payload == bytes.fromhex("00000001 00000000")
    assert client.pending_calls == 0


def test_pipelined_calls_answered_out_of_order() -> None:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    serials = [client.send_call(REMOTE, 1, 157) for _ in range(3)]
    server.receive_data(_joined(client))
    calls = _events(server)
    assert [c.header.serial for c in calls] == serials
    for call in reversed(calls):
        server.send_reply(call.header, struct.pack(">Q", call.header.serial))
    client.receive_data(_joined(server))
    replies = _events(client)
    assert [r.header.serial for r in replies] == list(reversed(serials))


def test_unmatched_reply_is_a_protocol_error_for_clients() -> None:
    client = Connection(Role.CLIENT)
    client.receive_data(AUTH_LIST_REPLY)
    with pytest.raises(RemoteProtocolError, match="no call waiting for reply"):
        client.next_event()
    assert isinstance(client.next_event(), ConnectionClosed)


def test_ping_answered_with_pong_before_anything_else() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(PING + PONG + PING)
    assert _events(server) == []
    assert _joined(server) == PONG + PONG


def test_keepalive_program_as_call_falls_through_to_dispatch() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(encode_message(Header(0x6B656570, 1, 1, 0, 5, 0)))
    [event] = _events(server)
    assert isinstance(event, CallReceived)


def test_server_ignores_replies_messages_and_unknown_streams() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(
        _call(1, 1, mtype=MessageType.REPLY)
        + _call(1, 1, mtype=MessageType.MESSAGE)
        + _call(1, 9, mtype=MessageType.STREAM, status=MessageStatus.CONTINUE)
        + AUTH_LIST_CALL
    )
    [event] = _events(server)
    assert event.header.procedure == 66
    assert server.dropped == 3


def test_request_budget_pauses_and_resumes() -> None:
    server = Connection(Role.SERVER, max_requests=5)
    server.receive_data(b"".join(_call(157, i) for i in range(8)))
    first = _events(server)
    assert len(first) == 5
    assert server.next_event() is PAUSED
    assert not server.can_dispatch
    assert server.hit_request_limit
    # The rest was read ahead and is held in order.
    assert server.held == 3
    server.send_reply(first[0].header)
    assert server.wants_read
    _joined(server)
    server.output_written()
    [sixth] = _events(server)
    assert sixth.header.serial == 5
    server.discard(first[1].header)
    server.send_error(first[2].header, RPCError.rpc("x"))
    _joined(server)
    server.output_written()
    assert [e.header.serial for e in _events(server)] == [6, 7]
    assert server.next_event() is PAUSED


def test_slot_is_held_until_the_reply_is_written() -> None:
    server = Connection(Role.SERVER, max_requests=1)
    server.receive_data(_call(157, 1) + _call(157, 2))
    [call] = _events(server)
    server.send_reply(call.header, b"\0" * 8)
    # Answered, but the reply is still in the process: no second call yet.
    assert server.next_event() is PAUSED
    segments = server.data_to_send()
    assert server.next_event() is PAUSED
    assert server.unsent_output == sum(len(s) for s in segments if isinstance(s, bytes))
    server.output_written()
    assert server.unsent_output == 0
    [second] = _events(server)
    assert second.header.serial == 2


def test_output_limit_stops_dispatch_and_reading() -> None:
    server = Connection(Role.SERVER, max_requests=100, max_output=1000)
    server.receive_data(b"".join(_call(157, i) for i in range(3)))
    first = server.next_event()
    assert isinstance(first, CallReceived)
    server.send_reply(first.header, b"\0" * 2000)
    assert server.next_event() is PAUSED
    assert not server.wants_read
    server.data_to_send()
    # Taken by the I/O layer but not written yet: still over the limit.
    assert server.next_event() is PAUSED
    assert not server.wants_read
    server.output_written()
    assert server.wants_read
    assert [e.header.serial for e in _events(server)] == [1, 2]


def test_keepalive_answered_and_honoured_at_the_request_budget() -> None:
    server = Connection(Role.SERVER, max_requests=2, keepalive_interval=5, keepalive_count=2)
    server.start_keepalive(0.0)
    server.receive_data(_call(157, 1) + _call(157, 2) + _call(157, 3), now=0.0)
    calls = _events(server)
    assert len(calls) == 2
    assert server.next_event() is PAUSED
    # Both slots are taken by slow calls: the client is still read...
    assert server.wants_read
    # ... the server's PING goes out after 5 s of silence ...
    assert not server.handle_timer(5.0)
    assert _joined(server) == PING
    server.output_written()
    # ... and the client's PONG and its own PING behind the held call are handled.
    server.receive_data(PONG + PING, now=6.0)
    assert server.next_event() is PAUSED
    assert _joined(server) == PONG
    server.output_written()
    assert not server.handle_timer(12.0)
    server.receive_data(PONG, now=12.0)
    assert server.next_event() is PAUSED
    assert not server.handle_timer(20.0)
    # The held call comes out, in order, once a slot frees.
    server.send_reply(calls[0].header)
    _joined(server)
    server.output_written()
    [third] = _events(server)
    assert third.header.serial == 3


def test_reading_ahead_while_paused_is_bounded() -> None:
    server = Connection(Role.SERVER, max_requests=1)
    call = _call(157, 1, b"\0" * 1000)
    server.receive_data(call)
    assert len(_events(server)) == 1
    while server.wants_read:
        assert server.read_size(65536) <= Connection.HOLD_LIMIT
        server.receive_data(call)
        assert server.next_event() is PAUSED
    assert Connection.HOLD_LIMIT <= server.buffered_input < Connection.HOLD_LIMIT + len(call)
    # A PING that arrives now waits: nothing more is read until a slot frees.
    assert not server.wants_read


def test_more_replies_than_calls_is_a_local_error() -> None:
    server = Connection(Role.SERVER)
    with pytest.raises(LocalProtocolError):
        server.send_reply(Header(REMOTE, 1, 1, 0, 0, 0))


def test_error_reply_echoes_the_call_header() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(_call(9999, 42))
    [call] = _events(server)
    server.send_error(call.header, RPCError.rpc("unknown procedure: 9999"))
    data = _joined(server)
    header = Header.unpack(data, 4)
    assert header == Header(REMOTE, 1, 9999, MessageType.REPLY, 42, MessageStatus.ERROR)
    # exact payload as libvirtd 9.0 sends it (raw_error_probe case 3a)
    assert data[28:].hex() == (
        "00000027000000070000000100000017756e6b6e6f776e2070726f6365647572653a203939393900000000"
        "02000000000000000100000002257300000000000100000017756e6b6e6f776e2070726f6365647572653a"
        "20393939390000000000ffffffffffffffff00000000"
    )
    error = decode_error(data[28:])
    assert (error.code, error.domain, error.message) == (39, 7, "unknown procedure: 9999")


def test_error_on_a_stream_goes_out_as_stream_error() -> None:
    server = Connection(Role.SERVER)
    stream = Header(REMOTE, 1, 209, MessageType.CALL, 3, 0)
    server.open_stream(stream)
    server.receive_data(
        _call(209, 3, b"data", mtype=MessageType.STREAM, status=MessageStatus.CONTINUE)
    )
    [packet] = _events(server)
    assert isinstance(packet, StreamReceived)
    server.send_error(packet.header, RPCError.rpc("boom"))
    header = Header.unpack(_joined(server), 4)
    assert (header.type, header.status, header.serial) == (
        MessageType.STREAM,
        MessageStatus.ERROR,
        3,
    )


def test_events_use_serial_one_by_default() -> None:
    server = Connection(Role.SERVER)
    server.send_event(REMOTE, 1, 318, b"\0\0\0\1")
    header = Header.unpack(_joined(server), 4)
    assert header == Header(REMOTE, 1, 318, MessageType.MESSAGE, 1, MessageStatus.OK)
    client = Connection(Role.CLIENT)
    client.receive_data(encode_message(header, b"\0\0\0\1"))
    [event] = _events(client)
    assert isinstance(event, MessageReceived)


class TestKeepalive:
    def test_silent_peer_dies_after_interval_times_count_plus_one(self) -> None:
        server = Connection(Role.SERVER, keepalive_interval=5, keepalive_count=5)
        assert server.next_deadline() is None  # not started until asked
        server.start_keepalive(now=100.0)
        pings = 0
        now = 100.0
        while not server.handle_timer(now):
            if server.has_output:
                assert _joined(server) == PING
                pings += 1
            now = server.next_deadline() or now
        assert pings == 5
        assert now == pytest.approx(130.0)
        assert server.closed_reason == "connection closed due to keepalive timeout"

    def test_any_received_data_rearms(self) -> None:
        conn = Connection(Role.SERVER, keepalive_interval=5, keepalive_count=1)
        conn.start_keepalive(0.0)
        assert not conn.handle_timer(5.0)  # ping
        conn.receive_data(PONG, now=6.0)
        _events(conn)
        assert not conn.handle_timer(10.9)
        assert conn.next_deadline() == 11.0
        assert not conn.handle_timer(11.0)  # ping again, count restored
        assert conn.handle_timer(16.0)

    def test_count_zero_closes_after_one_interval(self) -> None:
        conn = Connection(Role.CLIENT, keepalive_interval=2, keepalive_count=0)
        conn.start_keepalive(0.0)
        assert conn.handle_timer(2.0)
        assert not conn.has_output

    def test_disabled_interval(self) -> None:
        conn = Connection(Role.SERVER, keepalive_interval=-1)
        assert conn.start_keepalive(0.0) is False
        assert conn.next_deadline() is None


class TestFileDescriptors:
    def _fd_call(self, nfds: int, serial: int = 1) -> bytes:
        return _call(1, serial, struct.pack(">I", nfds) + b"ARGS", mtype=MessageType.CALL_WITH_FDS)

    def test_fds_follow_the_message_with_dummy_bytes(self) -> None:
        server = Connection(Role.SERVER)
        server.receive_data(self._fd_call(2))
        assert _events(server) == []  # waiting for the dummy bytes and descriptors
        server.receive_data(b"\0", fds=(10,))
        assert _events(server) == []
        server.receive_data(b"\0" + AUTH_LIST_CALL, fds=(11,))
        fd_call, auth = _events(server)
        assert fd_call.fds == (10, 11)
        assert fd_call.payload == b"ARGS"
        assert auth.header.procedure == 66

    def test_all_at_once(self) -> None:
        server = Connection(Role.SERVER)
        server.receive_data(self._fd_call(1) + b"\0", fds=(7,))
        [event] = _events(server)
        assert event.fds == (7,)

    def test_zero_fds_over_tcp(self) -> None:
        server = Connection(Role.SERVER)
        server.receive_data(self._fd_call(0))
        [event] = _events(server)
        assert event.fds == () and event.payload == b"ARGS"

    def test_too_many_fds(self) -> None:
        server = Connection(Role.SERVER)
        server.receive_data(self._fd_call(33))
        with pytest.raises(RemoteProtocolError, match="Received too many FDs 33, expected 32"):
            server.next_event()

    def test_missing_descriptors(self) -> None:
        server = Connection(Role.SERVER)
        server.receive_data(self._fd_call(1) + b"\0")
        with pytest.raises(RemoteProtocolError, match="expected 1 file descriptors"):
            server.next_event()

    def test_reply_with_fds_segments(self) -> None:
        server = Connection(Role.SERVER)
        server.receive_data(AUTH_LIST_CALL)
        [call] = _events(server)
        server.send_reply(call.header, b"", fds=(5, 6))
        server.send_event(REMOTE, 1, 318)
        segments = server.data_to_send()
        assert isinstance(segments[0], bytes)
        header = Header.unpack(segments[0], 4)
        assert header.type == MessageType.REPLY_WITH_FDS
        assert segments[0][28:32] == b"\0\0\0\2"
        assert segments[1:3] == [5, 6]
        assert Header.unpack(segments[3], 4).type == MessageType.MESSAGE

    def test_client_receives_reply_with_fds(self) -> None:
        client = Connection(Role.CLIENT)
        serial = client.send_call(REMOTE, 1, 1)
        client.receive_data(
            encode_message(Header(REMOTE, 1, 1, MessageType.REPLY_WITH_FDS, serial, 0), b"\0\0\0\1")
            + b"\0",
            fds=(9,),
        )
        [reply] = _events(client)
        assert reply.fds == (9,)

    def test_too_many_fds_to_send(self) -> None:
        client = Connection(Role.CLIENT)
        with pytest.raises(LocalProtocolError, match="Too many FDs to send 33"):
            client.send_call(REMOTE, 1, 1, fds=tuple(range(33)))


def test_eof_and_close_after_flush() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(AUTH_LIST_CALL)
    server.receive_data(b"")
    events = _events(server)
    assert isinstance(events[0], CallReceived)
    assert isinstance(events[1], ConnectionClosed)
    other = Connection(Role.SERVER)
    other.close_after_flush()
    assert other.next_event() is PAUSED
    assert not other.wants_read


def test_bad_framing_closes() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(struct.pack(">I", 8) + b"\0" * 4)
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    assert isinstance(server.next_event(), ConnectionClosed)
    with pytest.raises(LocalProtocolError):
        server.send_event(REMOTE, 1, 1)
