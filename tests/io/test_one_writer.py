"""One writer per socket: a task that gives up while its output is being written never
leaves half a record on the wire, and a write that fails breaks the connection for all.

The peer on the other end is a raw socket read through netrpc's sans-IO core, which refuses
anything that is not a well-formed sequence of records.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest

from netrpc import Call, Client, ConnectionLostError, Program, Server, Service, procedure
from netrpc.core.connection import (
    NEED_DATA,
    Connection,
    ConnectionClosed,
    ReplyReceived,
    Role,
    StreamReceived,
)
from netrpc.core.protocol import MessageStatus
from netrpc.core.xdr import codec_for
from netrpc.io.server.stream import ServerStream

from .helpers import PROGRAM, SampleProgram, Text

pytestmark = pytest.mark.anyio

PROG = 0x20240003
BIG = 16 * 1024 * 1024
TEXT = codec_for(Text)


class GiveUpProgram(Program):
    """A download whose sender gives up (a timeout) while its data is being written."""

    number, version = PROG, 1

    def __init__(self) -> None:
        self.gave_up = anyio.Event()
        self.sent_before = 0

    @procedure(1, inline=True)
    def download(self, call: Call, args: None) -> None:
        stream = call.open_stream()
        call.client.spawn(self._send, stream)

    async def _send(self, stream: ServerStream) -> None:
        with anyio.move_on_after(0.5):
            await stream.send(bytes(BIG))
        self.sent_before = stream.bytes_sent
        self.gave_up.set()
        await stream.abort()


@asynccontextmanager
async def serving(*programs: Program) -> AsyncIterator[str]:
    server = Server("writer", programs=list(programs))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sock")
        server.add_service(Service.unix(path))
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            try:
                yield path
            finally:
                server.shutdown(timeout=2)


async def _read_event(sock: anyio.abc.ByteStream, conn: Connection) -> Any:
    while True:
        event = conn.next_event()
        if event is not NEED_DATA:
            return event
        try:
            data = await sock.receive(1 << 20)
        except anyio.EndOfStream:
            data = b""
        conn.receive_data(data, 0.0)


async def test_a_stream_sender_that_gives_up_mid_write_leaves_whole_records() -> None:
    program = GiveUpProgram()
    async with serving(program, SampleProgram()) as path:
        async with await anyio.connect_unix(path) as sock:
            conn = Connection(Role.CLIENT)
            serial = conn.send_call(PROG, 1, 1)
            await sock.send(b"".join(s for s in conn.data_to_send() if isinstance(s, bytes)))
            conn.output_written()
            # Not reading: the server's socket buffer fills while the sender writes, and its
            # timeout fires with a packet only partly written.
            with anyio.fail_after(20):
                await program.gave_up.wait()
            assert program.sent_before < BIG

            received = 0
            status = None
            with anyio.fail_after(30):
                event = await _read_event(sock, conn)
                assert isinstance(event, ReplyReceived)
                assert event.header.serial == serial
                conn.open_stream(event.header)
                while True:
                    event = await _read_event(sock, conn)
                    assert isinstance(event, StreamReceived), event
                    if event.header.status != MessageStatus.CONTINUE:
                        status = event.header.status
                        break
                    received += len(event.payload)
            # Whole packets only, and the abort after them: the stream's end is in sync.
            assert status == MessageStatus.ERROR
            assert received % (256 * 1024) == 0 or received == program.sent_before
            # The connection goes on.
            echo = conn.send_call(PROGRAM, 1, 1, TEXT.encode(Text("after")))
            await sock.send(b"".join(s for s in conn.data_to_send() if isinstance(s, bytes)))
            with anyio.fail_after(10):
                event = await _read_event(sock, conn)
            assert isinstance(event, ReplyReceived) and event.header.serial == echo
            assert not isinstance(event, ConnectionClosed)


class _Stalled:
    """A byte stream whose sends block forever after *budget* bytes, then fail."""

    def __init__(self, inner: anyio.abc.ByteStream, budget: int) -> None:
        self.inner = inner
        self.budget = budget
        self.release = anyio.Event()

    async def send(self, data: bytes) -> None:
        if self.budget <= 0:
            await self.release.wait()
            raise anyio.BrokenResourceError("the peer stopped reading")
        self.budget -= len(data)
        await self.inner.send(data)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.inner.receive(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        self.release.set()
        await self.inner.aclose()

    def extra(self, attribute: Any, default: Any = None) -> Any:
        return self.inner.extra(attribute, default)


async def test_a_failed_write_fails_every_pending_call_of_the_client() -> None:
    async with serving(SampleProgram()) as path:
        raw = await anyio.connect_unix(path)
        stalled = _Stalled(raw, 0)
        async with Client(stalled) as client:  # type: ignore[arg-type]
            results: list[BaseException] = []

            async def call(tag: str) -> None:
                try:
                    await client.call(PROGRAM, 1, 1, TEXT.encode(Text(tag)))
                except ConnectionLostError as exc:
                    results.append(exc)

            async with anyio.create_task_group() as tg:
                for tag in "abc":
                    tg.start_soon(call, tag)
                await anyio.sleep(0.2)
                assert results == []
                stalled.release.set()
            assert len(results) == 3
            assert client.is_closed
            with pytest.raises(ConnectionLostError):
                await client.call(PROGRAM, 1, 1, TEXT.encode(Text("later")))
