"""Wires: how a length-prefixed protocol frames its records and what its header says.

Everything above the wire (:class:`~netrpc.core.connection.Connection`, programs and
dispatch, :class:`~netrpc.Server`, :class:`~netrpc.Service`, :class:`~netrpc.Client`)
works with netrpc's :class:`~netrpc.core.protocol.Header`: program, version, procedure,
type (call, reply, event ...), serial and status.  A :class:`Wire` maps its own header to
that one and back, says how records are delimited (:class:`~netrpc.core.framing.Framing`),
how an error travels, and which of libvirt's extras it has (keepalive messages, passed file
descriptors, data streams).  :data:`LIBVIRT_WIRE` is libvirt's; docs/wire.md shows how to
write another.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from collections.abc import Callable

from .errors import RPCError
from .framing import LIBVIRT_FRAMING, Framing
from .protocol import HEADER_SIZE, MIN_MESSAGE_LENGTH, decode_error, encode_error
from .state import Role

__all__ = ("LIBVIRT_WIRE", "HeaderFields", "LibvirtWire", "Wire")

#: program, version, procedure, type, serial, status (the fields of a Header, in order)
HeaderFields = tuple[int, int, int, int, int, int]


class Wire(ABC):
    """One length-prefixed wire protocol, as the connection sees it.

    :cvar name: for logs.
    :cvar framing: how records are delimited and which lengths are acceptable.
    :cvar header_size: bytes of header that follow the length word in every record.
    :cvar keepalive: libvirt's keepalive messages (answered by the connection itself).
    :cvar fd_passing: messages may announce file descriptors (CALL_WITH_FDS ...).
    :cvar replies_echo_call: a reply repeats the program, version and procedure of its call
        (so the client checks them); otherwise only the serial matches them.
    :cvar serial_bits: width of the serial on the wire (calls are numbered modulo it).
    :cvar reserved_serials: serials a client never gives a call (a wire may mark its
        unsolicited messages with one).
    """

    name: str = "wire"
    framing: Framing = LIBVIRT_FRAMING
    header_size: int = HEADER_SIZE
    keepalive: bool = False
    fd_passing: bool = False
    replies_echo_call: bool = True
    serial_bits: int = 32
    reserved_serials: frozenset[int] = frozenset()

    @abstractmethod
    def header_reader(self, role: Role) -> Callable[[bytes], HeaderFields]:
        """The function that turns the *header_size* bytes after a record's length word
        into header fields, for a connection playing *role* (a wire may say different
        things in each direction)."""

    @abstractmethod
    def header_writer(self, role: Role) -> Callable[[int, HeaderFields], bytes]:
        """The function that makes a record's length word and header from the length of its
        payload and its header fields, for a connection playing *role*."""

    @abstractmethod
    def encode_error(self, error: RPCError) -> bytes:
        """The payload of an error reply."""

    @abstractmethod
    def decode_error(self, payload: bytes) -> RPCError:
        """The error an error reply carries."""


_HEADER = struct.Struct(">IIiiIi")
_FRAME = struct.Struct(">IIIiiIi")


_read_libvirt_header: Callable[[bytes], HeaderFields] = _HEADER.unpack


def _write_libvirt_header(
    payload_length: int, fields: HeaderFields, _pack: Callable[..., bytes] = _FRAME.pack
) -> bytes:
    return _pack(MIN_MESSAGE_LENGTH + payload_length, *fields)


class LibvirtWire(Wire):
    """libvirt's RPC wire: a 4-byte length that counts itself, a 24-byte XDR header
    (``virNetMessageHeader``), errors as ``remote_error``, keepalive, FD passing."""

    name = "libvirt"
    framing = LIBVIRT_FRAMING
    header_size = HEADER_SIZE
    keepalive = True
    fd_passing = True
    replies_echo_call = True

    # The same two functions for every connection (nothing allocated per connection).
    def header_reader(self, role: Role) -> Callable[[bytes], HeaderFields]:
        return _read_libvirt_header

    def header_writer(self, role: Role) -> Callable[[int, HeaderFields], bytes]:
        return _write_libvirt_header

    def encode_error(self, error: RPCError) -> bytes:
        return encode_error(error)

    def decode_error(self, payload: bytes) -> RPCError:
        return decode_error(payload)


#: libvirt's wire, the default of every connection, service and client
LIBVIRT_WIRE: Wire = LibvirtWire()
