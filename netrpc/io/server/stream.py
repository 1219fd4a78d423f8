"""Server side of a data stream (libvirt's daemon streams).

A handler opens a stream for its own call with :meth:`netrpc.core.program.Call.open_stream`, returns
its reply, and moves the data in a task started with :meth:`ServerClient.spawn`::

    @procedure(209, args=DownloadArgs, readonly=True)
    async def download(self, call, args):
        stream = call.open_stream(sparse=True)
        call.client.spawn(self._send_volume, stream, args)

Back-pressure both ways: every received packet holds one of the client's request slots until
:meth:`ServerStream.receive` takes it, so a client can have at most ``max_client_requests``
packets waiting in the server; and :meth:`ServerStream.send` returns only when its packet has
been written to the socket, so a slow reader never makes the server buffer more than one
packet per stream.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import anyio

from ...core.connection import Connection, StreamReceived
from ...core.errors import RPCError
from ...core.protocol import Header, MessageStatus
from ...core.state import Role, Side
from ...core.stream import (
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

__all__ = ("ServerStream", "StreamHost")

_CONTINUE = MessageStatus.CONTINUE


class StreamHost(Protocol):
    """What a stream needs of the connection it runs on (a
    :class:`~netrpc.io.server.ServerClient`)."""

    #: the connection's sans-IO state, which queues the stream's packets
    conn: Connection

    @property
    def closed(self) -> bool:
        """True once the connection is gone."""
        ...

    async def wait_written(self, below: int = 1) -> None:
        """Return once less than *below* bytes of queued output are unwritten."""
        ...

    def wake_writer(self) -> None:
        """Have the writer send what was queued."""
        ...

    def stream_packet_consumed(self, header: Header) -> None:
        """An incoming packet was handed to the reader: its request slot is free."""
        ...

    def stream_closed(self, stream: ServerStream) -> None:
        """The stream finished or aborted."""
        ...


class ServerStream:
    """One open stream of a client, bound to the call that opened it.

    :ivar header: the header of the opening call (program, procedure, serial).
    :ivar sparse: holes are allowed in both directions.
    """

    def __init__(self, client: StreamHost, header: Header, *, sparse: bool = False) -> None:
        self.client = client
        self.header = header
        self.sparse = sparse
        # The protocol state, shared with the client's end (netrpc.core.state).
        self._state = StreamState(Role.SERVER, sparse=sparse)
        self._incoming: deque[tuple[Header, StreamEvent]] = deque()
        self._arrived = anyio.Event()
        self._reply_sent = anyio.Event()
        self._closed = False
        self._abort_reason: str | None = None
        self.bytes_sent = 0
        self.bytes_received = 0

    @property
    def closed(self) -> bool:
        """True once finished, aborted, or the connection is gone."""
        return self._closed

    @property
    def _finish_requested(self) -> bool:
        return self._state.sides[Role.CLIENT] is Side.FINISHING

    # ------------------------------------------------------------------ input

    def packet_received(self, event: StreamReceived) -> None:
        """Called by the connection's read loop for each packet of this stream."""
        packet = classify(event.header, event.payload, from_server=False, sparse=self.sparse)
        self._incoming.append((event.header, packet))
        self._arrived.set()

    async def receive(self) -> bytes | Hole:
        """The next chunk of data or :class:`~netrpc.core.stream.Hole`; ``b""`` once the client
        finished sending.

        :raises StreamAbortedError: when the client aborted, broke the stream protocol (the
            client is sent the error), or the connection closed.
        """
        while not self._incoming:
            if self._closed:
                raise StreamAbortedError(self._abort_reason or "stream closed")
            if self._finish_requested:
                return b""
            self._arrived = anyio.Event()
            await self._arrived.wait()
        header, packet = self._incoming.popleft()
        # The packet's request slot is free again: this is libvirt's "dummy reply".
        self.client.stream_packet_consumed(header)
        packet = self._state.receive(packet)
        if isinstance(packet, DataPacket):
            self.bytes_received += len(packet.data)
            return packet.data
        if isinstance(packet, HolePacket):
            return Hole(packet.length)
        if isinstance(packet, EndOfData | FinishPacket):
            return b""
        if isinstance(packet, AbortPacket):
            self._send(FinishPacket())
            self._close("stream aborted by the client")
            raise StreamAbortedError("stream aborted by the client")
        error = getattr(packet, "error", None) or RPCError.rpc("stream had unexpected termination")
        self._send(ErrorPacket(error=error))
        self._close(error.message or "invalid stream packet")
        raise StreamAbortedError(error.message or "invalid stream packet", error)

    # ------------------------------------------------------------------ output

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send data, in chunks of at most 256 KiB; returns once it is written.

        :raises LocalProtocolError: after :meth:`finish` (data after end of data).
        """
        await self._reply_sent.wait()
        view = memoryview(data)
        # one chunk that is already bytes goes as it is; anything else is copied in chunks
        whole = data if isinstance(data, bytes) and len(view) <= CHUNK_SIZE else None
        for start in range(0, len(view), CHUNK_SIZE):
            self._check_open()
            chunk = whole if whole is not None else bytes(view[start : start + CHUNK_SIZE])
            self._queue(DataPacket(data=chunk))
            self.bytes_sent += len(chunk)
            await self.client.wait_written(below=STREAM_WINDOW)

    async def send_hole(self, length: int) -> None:
        """Send a hole of *length* bytes (sparse streams only)."""
        if not self.sparse:
            raise ValueError("holes can only be sent on sparse streams")
        if length <= 0:
            return
        await self._reply_sent.wait()
        self._check_open()
        self._queue(HolePacket(length=length))
        await self.client.wait_written()

    async def finish(self) -> None:
        """Complete the stream.

        Sending side: send end-of-data, wait for the client's finish and confirm it.
        Receiving side (after :meth:`receive` returned ``b""``): confirm the client's finish.

        :raises StreamAbortedError: if the client aborts instead of finishing.
        """
        await self._reply_sent.wait()
        self._check_open()
        if not self._finish_requested:
            if self._state.can_send(EndOfData):
                self._queue(EndOfData())
                await self.client.wait_written()
            while True:
                chunk = await self.receive()
                if chunk == b"" and self._finish_requested:
                    break
        self._send(FinishPacket())
        await self.client.wait_written()
        self._close("finished")

    async def abort(self, error: RPCError | None = None) -> None:
        """Abort the stream, telling the client why."""
        if self._closed:
            return
        await self._reply_sent.wait()
        self._send(ErrorPacket(error=error or RPCError.rpc("stream aborted")))
        self._close("aborted by the server")
        await self.client.wait_written()

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise StreamAbortedError(self._abort_reason or "stream closed")

    def _queue(self, packet: StreamEvent) -> None:
        """Queue *packet* (the stream's state first checks that it may be sent)."""
        self._state.send(packet)
        status, payload, hole = wire_form(packet)
        self.client.conn.send_stream(self.header, status, payload, hole=hole)

    def _send(self, packet: StreamEvent) -> None:
        """Queue a packet that ends the stream and have it written, unless the connection
        is gone."""
        if self.client.closed or self.client.conn.closed_reason is not None:
            return
        if not self._state.can_send(type(packet)):
            return  # already ended (both ends gave up at once)
        self._queue(packet)
        self.client.wake_writer()

    def opening_call_failed(self) -> None:
        """The call that opened the stream failed (its error is the reply): the stream ends
        before it started."""
        self._close("the call failed")

    def reply_sent(self) -> None:
        """Called once the reply of the opening call is queued: data may follow it."""
        self._reply_sent.set()

    def _close(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._abort_reason = reason
        self.client.stream_closed(self)
        # Packets nobody will read still hold request slots: release them.
        while self._incoming:
            header, _ = self._incoming.popleft()
            self.client.stream_packet_consumed(header)
        self._arrived.set()
        self._reply_sent.set()

    def connection_lost(self) -> None:
        """Called when the client's connection is gone."""
        self._closed = True
        self._abort_reason = "connection closed"
        self._incoming.clear()
        self._arrived.set()
        self._reply_sent.set()
