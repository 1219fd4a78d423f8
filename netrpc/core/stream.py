"""Stream packets (sans-IO): what a STREAM or STREAM_HOLE packet means, for either end.

Which packet may come when is :class:`~netrpc.core.state.StreamState`'s table; this module
turns packets into stream events (:func:`classify`) and events into packets
(:func:`wire_form`).

A stream is bound to the program, procedure and serial of the call that opened it.  Packets:

* STREAM / CONTINUE with data: a chunk (at most :data:`CHUNK_SIZE` bytes, libvirt's
  ``VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX``);
* STREAM / CONTINUE, empty: the sender has no more data (end of file);
* STREAM_HOLE / CONTINUE with a ``virNetStreamHole``: a hole of that many bytes (sparse
  streams only; otherwise "Unexpected stream hole");
* STREAM / OK, empty: "finish": from a client it asks the server to complete the stream; from
  the server it confirms a finish or an abort;
* STREAM / ERROR: from a client, an abort (empty payload); from the server, a ``remote_error``.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import RPCError
from .protocol import (
    LEGACY_PAYLOAD_MAX,
    Header,
    MessageStatus,
    MessageType,
    StreamHole,
    decode_error,
    encode_error,
)
from .state import (
    AbortPacket,
    DataPacket,
    EndOfData,
    ErrorPacket,
    FinishPacket,
    HolePacket,
    InvalidPacket,
    StreamEvent,
    StreamState,
)
from .xdr import XdrError, codec_for

__all__ = (
    "CHUNK_SIZE",
    "STREAM_WINDOW",
    "AbortPacket",
    "DataPacket",
    "EndOfData",
    "ErrorPacket",
    "FinishPacket",
    "Hole",
    "HolePacket",
    "InvalidPacket",
    "StreamAbortedError",
    "StreamEvent",
    "StreamState",
    "classify",
    "encode_hole",
    "wire_form",
)

#: largest data payload of one stream packet (libvirt reads and sends at most this much)
CHUNK_SIZE = LEGACY_PAYLOAD_MAX

#: stream data queued but not yet written before a sender waits, on both ends (a few chunks
#: in flight keep the socket busy; the bound keeps a slow reader from growing memory)
STREAM_WINDOW = 4 * CHUNK_SIZE

_HOLE = codec_for(StreamHole)
_STREAM = int(MessageType.STREAM)
_STREAM_HOLE = int(MessageType.STREAM_HOLE)
_OK = int(MessageStatus.OK)
_ERROR = int(MessageStatus.ERROR)
_CONTINUE = int(MessageStatus.CONTINUE)


class Hole(NamedTuple):
    """A hole of *length* bytes in a sparse stream."""

    length: int


class StreamAbortedError(Exception):
    """The stream was aborted by the peer, or its connection closed.

    :ivar error: the server's error, when it sent one.
    """

    def __init__(self, message: str, error: RPCError | None = None) -> None:
        super().__init__(message)
        self.error = error


def classify(header: Header, payload: bytes, *, from_server: bool, sparse: bool) -> StreamEvent:
    """What one received STREAM or STREAM_HOLE packet is (before the stream's state has a
    say: see :meth:`StreamState.receive <netrpc.core.state.StreamState.receive>`)."""
    status = header.status
    if header.type == _STREAM_HOLE:
        if status != _CONTINUE or not sparse:
            return InvalidPacket(error=RPCError.rpc("Unexpected stream hole"))
        try:
            hole = _HOLE.decode(payload, allow_trailing=True)
        except XdrError:
            return InvalidPacket(error=RPCError.rpc("Unable to decode message payload"))
        if hole.length < 0:
            return InvalidPacket(error=RPCError.rpc(f"Invalid hole length {hole.length}"))
        return HolePacket(length=hole.length)
    if status == _CONTINUE:
        return DataPacket(data=payload) if payload else EndOfData()
    if status == _OK:
        return FinishPacket()
    if status == _ERROR:
        if from_server:
            try:
                error = decode_error(payload)
            except XdrError:
                error = RPCError.rpc("stream had unexpected termination")
            return ErrorPacket(error=error)
        return AbortPacket()
    return InvalidPacket(error=RPCError.rpc(f"stream aborted with unexpected status {status}"))


def wire_form(packet: StreamEvent) -> tuple[MessageStatus, bytes, bool]:
    """How a packet is sent: its status, its payload, and whether it is a STREAM_HOLE."""
    if isinstance(packet, DataPacket):
        return MessageStatus.CONTINUE, packet.data, False
    if isinstance(packet, HolePacket):
        return MessageStatus.CONTINUE, encode_hole(packet.length), True
    if isinstance(packet, EndOfData):
        return MessageStatus.CONTINUE, b"", False
    if isinstance(packet, FinishPacket):
        return MessageStatus.OK, b"", False
    if isinstance(packet, AbortPacket):
        return MessageStatus.ERROR, b"", False
    if isinstance(packet, ErrorPacket):
        return MessageStatus.ERROR, encode_error(packet.error), False
    raise TypeError(f"{type(packet).__name__} is not sent")


def encode_hole(length: int, flags: int = 0) -> bytes:
    """The payload of a STREAM_HOLE packet."""
    return _HOLE.encode(StreamHole(length, flags))
