"""The SASL security layer as a byte filter between the socket and the record reader.

Once a mechanism negotiated a layer (GSSAPI on plain TCP), every byte in both directions is
carried in frames, as Cyrus SASL frames them for libvirt::

    u32 big-endian length || wrap(chunk)

where each chunk holds at most ``layer.max_send`` plain bytes (what fits the peer's
advertised 64 KiB buffer once wrapped).  RPC records live in the *unwrapped* byte stream: a
record may span frames and a frame may carry several records, so the filter knows nothing
of RPC.  It has the shape of anyio's ``TLSStream``: a :class:`SecurityLayerStream` wraps the
connection's byte stream, and the server and client read and write through it as they do
through TLS.  Any other layer (another mechanism) plugs in by implementing
:class:`~netrpc.security.sasl.mechanisms.SecurityLayer`.

:class:`FrameDecoder` and :func:`encode` are the sans-IO halves.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.abc

from ...core.errors import RemoteProtocolError
from .mechanisms import SASLAuthError, SecurityLayer

__all__ = ("FrameDecoder", "SecurityLayerStream", "encode")

_LEN = struct.Struct(">I")
#: bytes asked of the transport per read
_READ_SIZE = 262144


def encode(layer: SecurityLayer, data: bytes | bytearray | memoryview) -> list[bytes]:
    """Frame *data* for the wire: one ``length || wrap(chunk)`` per chunk."""
    view = memoryview(data)
    step = layer.max_send
    frames: list[bytes] = []
    for start in range(0, len(view), step):
        token = layer.wrap(bytes(view[start : start + step]))
        frames.append(_LEN.pack(len(token)))
        frames.append(token)
    return frames


class FrameDecoder:
    """Unwraps frames from bytes split anywhere.

    :raises RemoteProtocolError: (from :meth:`feed`) on a zero or oversized length word or a
        token that does not unwrap (forged, replayed, reordered or truncated data).
    """

    def __init__(self, layer: SecurityLayer) -> None:
        self._layer = layer
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Add received bytes; return the plain bytes of every frame completed."""
        buf = self._buffer
        buf += data
        out: list[bytes] = []
        pos = 0
        limit = self._layer.max_receive
        while len(buf) - pos >= 4:
            (size,) = _LEN.unpack_from(buf, pos)
            if size == 0 or size > limit:
                raise RemoteProtocolError(
                    f"SASL security layer: frame of {size} bytes (allowed 1 to {limit})"
                )
            if len(buf) - pos - 4 < size:
                break
            token = bytes(buf[pos + 4 : pos + 4 + size])
            pos += 4 + size
            try:
                out.append(self._layer.unwrap(token))
            except SASLAuthError as exc:
                raise RemoteProtocolError(f"SASL security layer: {exc}") from None
        if pos:
            del buf[:pos]
        return b"".join(out)


class SecurityLayerStream(anyio.abc.ByteStream):
    """A byte stream whose bytes travel through a SASL security layer.

    :param transport: the connection's stream (raw socket; never TLS, where libvirt
        negotiates no layer).
    :param layer: the negotiated layer.
    """

    def __init__(self, transport: anyio.abc.ByteStream, layer: SecurityLayer) -> None:
        self.transport = transport
        self.layer = layer
        self._decoder = FrameDecoder(layer)
        self._plain = bytearray()

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Plain bytes, at most *max_bytes*.

        :raises anyio.EndOfStream: at a clean end (no partial frame pending).
        :raises RemoteProtocolError: when a frame is bad.
        """
        while not self._plain:
            try:
                data = await self.transport.receive(_READ_SIZE)
            except anyio.EndOfStream:
                if self._decoder.buffered:
                    raise RemoteProtocolError(
                        "SASL security layer: the peer closed in the middle of a frame"
                    ) from None
                raise
            self._plain += self._decoder.feed(data)
        if len(self._plain) <= max_bytes:
            chunk = bytes(self._plain)
            self._plain.clear()
        else:
            chunk = bytes(self._plain[:max_bytes])
            del self._plain[:max_bytes]
        return chunk

    async def send(self, item: bytes | bytearray | memoryview) -> None:
        """Wrap and send all of *item*."""
        frames = encode(self.layer, item)
        send_many = getattr(self.transport, "send_many", None)
        if send_many is not None:
            await send_many(frames)
        else:
            await self.transport.send(b"".join(frames))

    async def send_many(self, buffers: list[bytes | bytearray | memoryview]) -> None:
        """Send several buffers in order (framed together, so small records share a frame)."""
        await self.send(b"".join(buffers))

    async def send_eof(self) -> None:
        """Shut down the sending side of the transport."""
        await self.transport.send_eof()

    async def aclose(self) -> None:
        """Close the transport."""
        await self.transport.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return self.transport.extra_attributes
