"""libvirt RPC wire constants, the message header and the error payload.

A message on the wire is::

    uint32 length     total bytes INCLUDING this word
    uint32 program    e.g. 0x20008086 (libvirt REMOTE)
    uint32 version
    int32  procedure
    int32  type       MessageType
    uint32 serial     chosen by the caller, echoed by the reply
    int32  status     MessageStatus
    ...    payload    XDR (or raw bytes for STREAM data)

(libvirt: src/rpc/virnetprotocol.x.)
"""

from __future__ import annotations

import enum
import struct
from typing import Annotated, NamedTuple

from . import xdr
from .errors import RPCError

__all__ = (
    "HEADER_SIZE",
    "KEEPALIVE_PROC_PING",
    "KEEPALIVE_PROC_PONG",
    "KEEPALIVE_PROGRAM",
    "KEEPALIVE_VERSION",
    "LEGACY_PAYLOAD_MAX",
    "LENGTH_SIZE",
    "MESSAGE_MAX",
    "MIN_MESSAGE_LENGTH",
    "NUM_FDS_MAX",
    "PAYLOAD_MAX",
    "STRING_MAX",
    "Header",
    "MessageStatus",
    "MessageType",
    "RemoteError",
    "RemoteNonnullDomain",
    "RemoteNonnullNetwork",
    "StreamHole",
    "decode_error",
    "encode_error",
    "encode_message",
)

MESSAGE_MAX = 33_554_432  # VIR_NET_MESSAGE_MAX: whole message, length word excluded
HEADER_SIZE = 24  # VIR_NET_MESSAGE_HEADER_MAX
LENGTH_SIZE = 4  # VIR_NET_MESSAGE_LEN_MAX
PAYLOAD_MAX = MESSAGE_MAX - HEADER_SIZE  # VIR_NET_MESSAGE_PAYLOAD_MAX
LEGACY_PAYLOAD_MAX = 262_120  # VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX: stream chunk size
STRING_MAX = 4_194_304  # VIR_NET_MESSAGE_STRING_MAX
NUM_FDS_MAX = 32  # VIR_NET_MESSAGE_NUM_FDS_MAX
#: the smallest valid value of the length word: the word itself plus a header
MIN_MESSAGE_LENGTH = LENGTH_SIZE + HEADER_SIZE

KEEPALIVE_PROGRAM = 0x6B656570  # "keep"
KEEPALIVE_VERSION = 1
KEEPALIVE_PROC_PING = 1
KEEPALIVE_PROC_PONG = 2


class MessageType(enum.IntEnum):
    """``virNetMessageType``."""

    CALL = 0  #: client to server: a procedure call
    REPLY = 1  #: server to client: the answer to a call
    MESSAGE = 2  #: either way, unsolicited: events and keepalive
    STREAM = 3  #: either way: stream data for the call with the same serial
    CALL_WITH_FDS = 4  #: a call followed by file descriptors (unix sockets)
    REPLY_WITH_FDS = 5  #: a reply followed by file descriptors
    STREAM_HOLE = 6  #: a hole in a sparse stream


class MessageStatus(enum.IntEnum):
    """``virNetMessageStatus``."""

    OK = 0  #: success (or, on a stream, "finished")
    ERROR = 1  #: the payload is a ``remote_error`` (or, from a client stream, an abort)
    CONTINUE = 2  #: more stream data follows


_HEADER = struct.Struct(">IIiiIi")
_LENGTH_AND_HEADER = struct.Struct(">IIIiiIi")


class Header(NamedTuple):
    """The 24-byte message header (``virNetMessageHeader``).

    ``type`` and ``status`` are plain ints on the hot path; compare them with
    :class:`MessageType` / :class:`MessageStatus` members.
    """

    program: int
    version: int
    procedure: int
    type: int
    serial: int
    status: int

    def pack(self) -> bytes:
        """The header's 24 bytes."""
        return _HEADER.pack(*self)

    @classmethod
    def unpack(cls, data: bytes | memoryview, offset: int = 0) -> Header:
        """Decode a header from 24 bytes at *offset*.

        :raises struct.error: if fewer than 24 bytes are available.
        """
        return cls._make(_HEADER.unpack_from(data, offset))


def encode_message(header: Header, payload: bytes | bytearray | memoryview = b"") -> bytes:
    """Frame one message: the length word, the header and *payload*."""
    return _LENGTH_AND_HEADER.pack(MIN_MESSAGE_LENGTH + len(payload), *header) + payload


@xdr.struct
class RemoteNonnullDomain:
    """``remote_nonnull_domain``: how a domain is named on the wire."""

    name: Annotated[str, xdr.String(STRING_MAX)]
    uuid: Annotated[bytes, xdr.FixedOpaque(16)]
    id: xdr.Int


@xdr.struct
class RemoteNonnullNetwork:
    """``remote_nonnull_network``."""

    name: Annotated[str, xdr.String(STRING_MAX)]
    uuid: Annotated[bytes, xdr.FixedOpaque(16)]


_OPT_STRING = xdr.Optional(xdr.String(STRING_MAX))


@xdr.struct
class RemoteError:
    """``remote_error`` / ``virNetMessageError``: the payload of every error reply."""

    code: xdr.Int
    domain: xdr.Int
    message: Annotated[str | None, _OPT_STRING]
    level: xdr.Int
    dom: Annotated[RemoteNonnullDomain | None, xdr.Optional(RemoteNonnullDomain)]
    str1: Annotated[str | None, _OPT_STRING]
    str2: Annotated[str | None, _OPT_STRING]
    str3: Annotated[str | None, _OPT_STRING]
    int1: xdr.Int
    int2: xdr.Int
    net: Annotated[RemoteNonnullNetwork | None, xdr.Optional(RemoteNonnullNetwork)]


@xdr.struct
class StreamHole:
    """``virNetStreamHole``: the payload of a STREAM_HOLE message."""

    length: xdr.Hyper
    flags: xdr.UInt


_REMOTE_ERROR = xdr.codec_for(RemoteError)


def encode_error(error: RPCError) -> bytes:
    """The ``remote_error`` payload for *error*."""
    return _REMOTE_ERROR.encode(
        RemoteError(
            error.code,
            error.domain,
            error.message,
            error.level,
            None,
            error.str1,
            error.str2,
            error.str3,
            error.int1,
            error.int2,
            None,
        )
    )


def decode_error(payload: bytes | memoryview) -> RPCError:
    """Turn a ``remote_error`` payload into an :class:`RPCError`.

    :raises XdrError: if the payload is not a valid ``remote_error``.
    """
    e = _REMOTE_ERROR.decode(payload, allow_trailing=True)
    return RPCError(
        e.code,
        e.domain,
        e.message,
        level=e.level,
        str1=e.str1,
        str2=e.str2,
        str3=e.str3,
        int1=e.int1,
        int2=e.int2,
    )
