"""Length-prefixed record framing.

:class:`RecordReader` turns bytes received in arbitrary pieces into whole records.  It checks
each length word *before* buffering the body, so a peer cannot make it allocate more than one
maximal record, and it is linear in the bytes fed: only the partial record at the end is ever
moved, and the buffer grows by doubling.  The I/O layer can receive straight into the buffer
(:meth:`RecordReader.receive_buffer`), so a record is copied once, when it is taken out.

The reader knows nothing about libvirt's header: the default parameters describe libvirt's wire
(a 4-byte big-endian length that counts itself, between 28 and 32 MiB + 4), and another
length-prefixed protocol can reuse it with its own :class:`Framing`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import MessageTooLargeError
from .protocol import LENGTH_SIZE, MESSAGE_MAX, MIN_MESSAGE_LENGTH

__all__ = ("LIBVIRT_FRAMING", "Framing", "RecordReader")


@dataclass(frozen=True, kw_only=True, slots=True)
class Framing:
    """How records are delimited on a stream."""

    #: ``struct`` format of the length word
    length_format: str = ">I"
    #: whether the length word counts its own bytes (libvirt: yes)
    length_includes_prefix: bool = True
    #: smallest acceptable record length, as the length word counts it
    min_length: int = MIN_MESSAGE_LENGTH
    #: largest acceptable record length, as the length word counts it
    max_length: int = MESSAGE_MAX + LENGTH_SIZE

    def __post_init__(self) -> None:
        if self.min_length > self.max_length:
            raise ValueError(
                f"min_length {self.min_length} is larger than max_length {self.max_length}"
            )


#: libvirt's framing: ``len - 4 > VIR_NET_MESSAGE_MAX`` or ``len < 28`` closes the connection.
LIBVIRT_FRAMING = Framing()


class RecordReader:
    """Reassemble length-prefixed records from a byte stream.

    Call :meth:`feed` with whatever arrived, then :meth:`next_record` until it returns None.
    A record is returned without its length word.

    :raises MessageTooLargeError: from :meth:`next_record`, when a length word is out of range;
        the stream cannot be resynchronised and must be closed.
    """

    __slots__ = ("_buf", "_end", "_framing", "_len", "_pos", "_prefix", "_prefix_size", "_skip")

    #: capacity kept after the buffer drains (larger buffers are dropped then)
    KEEP_CAPACITY = 1 << 20

    def __init__(self, framing: Framing = LIBVIRT_FRAMING) -> None:
        self._framing = framing
        self._prefix = struct.Struct(framing.length_format)
        self._prefix_size = self._prefix.size
        self._buf = bytearray(65536)
        self._pos = 0  # start of unconsumed data in _buf
        self._end = 0  # end of received data in _buf (the rest is free space)
        self._len = -1  # validated length of the record at _pos, or -1 when not yet read
        self._skip = 0  # bytes to drop before the next record (FD dummy bytes)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned in a record."""
        return self._end - self._pos

    @property
    def wanted(self) -> int:
        """Bytes still missing to complete the record being received (0 if unknown)."""
        if self._len < 0:
            return 0
        return max(self._len - (self._end - self._pos), 0)

    def _make_room(self, size: int) -> None:
        buf = self._buf
        if len(buf) - self._end >= size:
            return
        live = self._end - self._pos
        if live == 0 and len(buf) >= size and len(buf) <= self.KEEP_CAPACITY:
            self._pos = self._end = 0
            return
        if live + size <= len(buf) and self._pos >= live:
            # Move the partial record to the front; no overlap, one memmove.
            buf[:live] = buf[self._pos : self._end]
        else:
            new = bytearray(max(live + size, min(2 * len(buf), live + size + self.KEEP_CAPACITY)))
            new[:live] = buf[self._pos : self._end]
            self._buf = new
        self._pos = 0
        self._end = live

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes."""
        n = len(data)
        self._make_room(n)
        self._buf[self._end : self._end + n] = data
        self._end += n

    def receive_buffer(self, size: int) -> memoryview:
        """Writable space for at least *size* bytes, to receive into without a copy
        (``socket.recv_into``).  Release the view, then call :meth:`commit`."""
        self._make_room(size)
        return memoryview(self._buf)[self._end :]

    def commit(self, count: int) -> None:
        """Account for *count* bytes written into the last :meth:`receive_buffer`."""
        self._end += count

    def skip(self, count: int) -> None:
        """Discard the next *count* bytes of the stream (libvirt's FD dummy bytes)."""
        self._skip += count

    def consume_skip(self) -> int:
        """Discard buffered bytes owed to :meth:`skip`; return how many are still owed."""
        if self._skip:
            n = min(self._skip, self._end - self._pos)
            self._skip -= n
            self._pos += n
        return self._skip

    def _ready(self) -> bool:
        """True when a whole record is buffered at ``_pos`` (its length validated)."""
        if self._skip and self.consume_skip():
            return False
        avail = self._end - self._pos
        length = self._len
        if length < 0:
            if avail < self._prefix_size:
                return False
            length = self._prefix.unpack_from(self._buf, self._pos)[0]
            framing = self._framing
            if length < framing.min_length:
                raise MessageTooLargeError(
                    f"packet {length} bytes received too small, want {framing.min_length}",
                    length,
                )
            if length > framing.max_length:
                counted_prefix = self._prefix_size if framing.length_includes_prefix else 0
                raise MessageTooLargeError(
                    f"packet {length} bytes received too large, "
                    f"want {framing.max_length - counted_prefix}",
                    length,
                )
            if not framing.length_includes_prefix:
                length += self._prefix_size
            self._len = length
        return avail >= length

    def next_record(self) -> bytes | None:
        """Return the next whole record (without its length word), or None if incomplete.

        :raises MessageTooLargeError: when the length word is out of range.
        """
        if not self._ready():
            return None
        pos = self._pos
        with memoryview(self._buf) as view:
            record = bytes(view[pos + self._prefix_size : pos + self._len])
        self._advance(pos + self._len)
        return record

    def next_split(self, header_size: int) -> tuple[bytes, bytes] | None:
        """Like :meth:`next_record`, but return the record as ``(header, body)``: the body
        is copied out of the buffer once (large stream payloads are not copied twice).

        A record shorter than *header_size* gives a short header and an empty body.

        :raises MessageTooLargeError: when the length word is out of range.
        """
        if not self._ready():
            return None
        pos = self._pos
        start = pos + self._prefix_size
        end = pos + self._len
        split = min(start + header_size, end)
        with memoryview(self._buf) as view:
            header = bytes(view[start:split])
            body = bytes(view[split:end])
        self._advance(end)
        return header, body

    def _advance(self, pos: int) -> None:
        if pos == self._end:
            pos = self._end = 0
        self._pos = pos
        self._len = -1
