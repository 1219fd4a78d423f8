"""Stream rules (sans-IO): what a STREAM or STREAM_HOLE packet means, for either end.

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

import enum
from typing import NamedTuple

from .errors import RPCError
from .protocol import (
    LEGACY_PAYLOAD_MAX,
    Header,
    MessageStatus,
    MessageType,
    StreamHole,
    decode_error,
)
from .xdr import XdrError, codec_for

__all__ = (
    "CHUNK_SIZE",
    "STREAM_WINDOW",
    "Hole",
    "PacketKind",
    "StreamAbortedError",
    "StreamPacket",
    "classify",
    "encode_hole",
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


class PacketKind(enum.Enum):
    """What a received stream packet means."""

    DATA = "data"  #: a chunk of data
    HOLE = "hole"  #: a hole (sparse streams)
    EOF = "eof"  #: the sender has no more data
    FINISH = "finish"  #: STREAM OK: finish request (client) or confirmation (server)
    ABORT = "abort"  #: STREAM ERROR from a client
    ERROR = "error"  #: STREAM ERROR from a server, with an error
    INVALID = "invalid"  #: anything else: a protocol violation on this stream


class StreamPacket(NamedTuple):
    """A classified stream packet."""

    kind: PacketKind
    data: bytes = b""
    hole: int = 0
    error: RPCError | None = None


def classify(header: Header, payload: bytes, *, from_server: bool, sparse: bool) -> StreamPacket:
    """Interpret one received STREAM or STREAM_HOLE packet."""
    status = header.status
    if header.type == _STREAM_HOLE:
        if status != _CONTINUE:
            return StreamPacket(PacketKind.INVALID, error=RPCError.rpc("Unexpected stream hole"))
        if not sparse:
            return StreamPacket(PacketKind.INVALID, error=RPCError.rpc("Unexpected stream hole"))
        try:
            hole = _HOLE.decode(payload, allow_trailing=True)
        except XdrError:
            return StreamPacket(
                PacketKind.INVALID, error=RPCError.rpc("Unable to decode message payload")
            )
        if hole.length < 0:
            return StreamPacket(
                PacketKind.INVALID, error=RPCError.rpc(f"Invalid hole length {hole.length}")
            )
        return StreamPacket(PacketKind.HOLE, hole=hole.length)
    if status == _CONTINUE:
        if payload:
            return StreamPacket(PacketKind.DATA, data=payload)
        return StreamPacket(PacketKind.EOF)
    if status == _OK:
        return StreamPacket(PacketKind.FINISH)
    if status == _ERROR:
        if from_server:
            try:
                error = decode_error(payload)
            except XdrError:
                error = RPCError.rpc("stream had unexpected termination")
            return StreamPacket(PacketKind.ERROR, error=error)
        return StreamPacket(PacketKind.ABORT)
    return StreamPacket(
        PacketKind.INVALID,
        error=RPCError.rpc(f"stream aborted with unexpected status {status}"),
    )


def encode_hole(length: int, flags: int = 0) -> bytes:
    """The payload of a STREAM_HOLE packet."""
    return _HOLE.encode(StreamHole(length, flags))
