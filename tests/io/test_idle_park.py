"""Idle connections park: no task of their own until data, end of file, a close or a drain.

A plain connection whose read loop has waited for data a while with nothing in flight hands
its socket to the server's idle watcher and its task ends (Server.nclients_parked counts
them).  Everything a connection does must keep working across parking: calls, end of
file, closing by the server, events, keepalive, graceful shutdown, cancellation.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.abc
import pytest

from netrpc import Client, Server, Service

from .helpers import PROGRAM, SampleProgram, Text, running_server

pytestmark = pytest.mark.anyio

_FRAME = struct.Struct(">IIIiiIi")
KEEPALIVE_PROGRAM = 0x6B656570
PARK_AFTER = 0.05


def frame(procedure: int, serial: int, payload: bytes = b"") -> bytes:
    return _FRAME.pack(28 + len(payload), PROGRAM, 1, procedure, 0, serial, 0) + payload


def xdr_text(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">I", len(data)) + data + b"\0" * (-len(data) % 4)


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    with anyio.fail_after(within):
        while not condition():
            await anyio.sleep(0.01)


async def read_record(stream: anyio.abc.ByteStream) -> tuple[tuple[int, ...], bytes]:
    data = b""
    while len(data) < 4 or len(data) < struct.unpack(">I", data[:4])[0]:
        data += await stream.receive()
    length = struct.unpack(">I", data[:4])[0]
    assert len(data) == length, "one record at a time"
    return _FRAME.unpack(data[:28]), data[28:]


async def read_eof(stream: anyio.abc.ByteStream) -> bytes:
    """Everything the server still sends, until it closes the connection."""
    data = b""
    with anyio.fail_after(10):
        while True:
            try:
                data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return data


@pytest.mark.parametrize("transport", ["unix", "tcp"])
async def test_an_idle_connection_parks_and_answers_when_called_again(transport: str) -> None:
    async with running_server() as (server, _, where):
        server.park_idle_after = PARK_AFTER
        connect = (
            Client.unix(where["unix"]) if transport == "unix" else Client.tcp(*where["tcp"])
        )
        async with connect as client:
            stub = client.stub(SampleProgram)
            for n in range(3):
                await until(lambda: server.nclients_parked == 1)
                [served] = server.clients.values()
                assert served.parked
                assert await stub.echo(Text(f"call {n}")) == Text(f"call {n}")
        await until(lambda: server.nclients == 0)
        assert server.nclients_parked == 0


async def test_a_call_in_flight_keeps_the_connection_unparked() -> None:
    async with running_server(tcp=False) as (server, _, where):
        server.park_idle_after = PARK_AFTER
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call, PROGRAM, 1, 2, struct.pack(">di", 0.6, 7))
                await until(lambda: server.workers is not None and _started(server))
                for _ in range(10):
                    await anyio.sleep(0.04)
                    assert server.nclients_parked == 0
            await until(lambda: server.nclients_parked == 1)
            assert await stub.echo(Text("after")) == Text("after")


async def test_the_idle_watcher_sleeps_while_every_connection_is_parked() -> None:
    # With nothing but parked connections there is nothing to sweep: the watcher must wait
    # for their sockets alone instead of waking every park_idle_after seconds.
    async with running_server(tcp=False) as (server, _, where):
        server.park_idle_after = PARK_AFTER
        async with Client.unix(where["unix"]) as a, Client.unix(where["unix"]) as b:
            await until(lambda: server.nclients_parked == 2)
            sweeps = server._idle._sweep  # the sweep counter (white box)
            await anyio.sleep(PARK_AFTER * 8)
            assert server._idle._sweep - sweeps <= 1
            # a call wakes it: the connection is served, parks again, and the other stays
            assert await a.stub(SampleProgram).echo(Text("x")) == Text("x")
            await until(lambda: server.nclients_parked == 2)
            assert await b.stub(SampleProgram).echo(Text("y")) == Text("y")
            await until(lambda: server.nclients_parked == 2)


def _started(server: Server) -> bool:
    program = server.programs[0]
    assert isinstance(program, SampleProgram)
    return program.started > 0


async def test_a_parked_connection_closed_by_its_peer_is_gone() -> None:
    closed: list[int] = []
    async with running_server(tcp=False, on_close=lambda c: closed.append(c.id)) as (
        server, _, where
    ):
        server.park_idle_after = PARK_AFTER
        stream = await anyio.connect_unix(where["unix"])
        await until(lambda: server.nclients_parked == 1)
        [client_id] = server.clients
        await stream.aclose()
        await until(lambda: server.nclients == 0)
        assert closed == [client_id]
        assert server.nclients_parked == 0


async def test_closing_a_parked_connection() -> None:
    async with running_server(tcp=False) as (server, _, where):
        server.park_idle_after = PARK_AFTER
        async with await anyio.connect_unix(where["unix"]) as stream:
            await until(lambda: server.nclients_parked == 1)
            [client] = server.clients.values()
            client.close("closed by the test")
            assert await read_eof(stream) == b""
            await until(lambda: server.nclients == 0)
            assert client.closed_event.is_set()


async def test_events_reach_a_parked_connection() -> None:
    async with running_server(tcp=False) as (server, _, where):
        server.park_idle_after = PARK_AFTER
        async with await anyio.connect_unix(where["unix"]) as listener, Client.unix(
            where["unix"]
        ) as caller:
            await until(lambda: server.nclients_parked >= 1)
            await caller.call(PROGRAM, 1, 6, struct.pack(">i", 42))
            header, payload = await read_record(listener)
            assert header[1:5] == (PROGRAM, 1, 100, 2)  # a MESSAGE
            assert payload == struct.pack(">i", 42)
            # Still served: a call on the same connection after the event.
            await until(lambda: server.nclients_parked >= 1)
            await listener.send(frame(1, 5, xdr_text("still there")))
            header, payload = await read_record(listener)
            assert header[5:] == (5, 0)
            assert payload == xdr_text("still there")


async def test_a_parked_connection_that_never_answers_pings_is_dropped() -> None:
    async with running_server(tcp=False, keepalive_interval=0.5, keepalive_count=1) as (
        server, _, where
    ):
        server.park_idle_after = PARK_AFTER
        async with await anyio.connect_unix(where["unix"]) as stream:
            await stream.send(frame(8, 1))  # turns keepalive on
            header, _ = await read_record(stream)
            assert header[5:] == (1, 0)
            await until(lambda: server.nclients_parked == 1, within=0.45)
            rest = await read_eof(stream)
            # The PING went out while the connection was parked; it went unanswered.
            assert struct.unpack(">II", rest[4:12]) == (KEEPALIVE_PROGRAM, 1)
            await until(lambda: server.nclients == 0)


async def test_graceful_shutdown_closes_parked_connections() -> None:
    async with running_server(tcp=False) as (server, _, where):
        server.park_idle_after = PARK_AFTER
        streams = [await anyio.connect_unix(where["unix"]) for _ in range(3)]
        await until(lambda: server.nclients_parked == 3)
        with anyio.fail_after(5):
            await server.aclose()
        for stream in streams:
            assert await read_eof(stream) == b""
            await stream.aclose()
        assert server.nclients == 0


async def test_cancelled_serve_closes_parked_connections(tmp_path: Path) -> None:
    server = Server("test", programs=[SampleProgram()])
    path = str(tmp_path / "sock")
    server.add_service(Service.unix(path))
    server.park_idle_after = PARK_AFTER
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(path)
        await until(lambda: server.nclients_parked == 1)
        tg.cancel_scope.cancel()
    assert server.nclients == 0
    assert sock.recv(10) == b""
    sock.close()



@pytest.mark.parametrize(
    ("size", "parks"),
    [(2 * 1024 * 1024, True), (512 * 1024, False)],
    ids=["pieces", "pool-buffer"],
)
async def test_a_record_interrupted_by_a_pause_completes(size: int, parks: bool) -> None:
    # Half a record, then a pause: a record assembled from pieces parks with what arrived;
    # one received straight into a buffer of the server's pool (up to 1 MiB) holds that
    # buffer and is never parked.  Either way the record completes as usual.
    async with running_server(tcp=False) as (server, _, where):
        server.park_idle_after = PARK_AFTER
        record = frame(1, 9, xdr_text("") + b"\0" * size)
        async with await anyio.connect_unix(where["unix"]) as stream:
            await stream.send(record[: 128 * 1024])
            await until(lambda: server.nclients == 1)
            [client] = server.clients.values()
            await until(lambda: client.conn.receive_footprint >= 128 * 1024)
            if parks:
                await until(lambda: server.nclients_parked == 1)
            else:
                await anyio.sleep(10 * PARK_AFTER)
                assert server.nclients_parked == 0
            await stream.send(record[128 * 1024 :])
            header, reply = await read_record(stream)
            assert header[5:] == (9, 0)
            assert reply == xdr_text("")
