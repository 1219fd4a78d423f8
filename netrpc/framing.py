"""Length-prefixed record framing.

:class:`RecordReader` turns bytes received in arbitrary pieces into whole records.  It checks
each length word *before* buffering the body, so a peer cannot make it allocate more than one
maximal record, and it is linear in the bytes fed: consumed bytes are dropped in one slice per
:meth:`RecordReader.feed` call, never one per record.

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

    __slots__ = ("_buf", "_framing", "_len", "_pos", "_prefix", "_prefix_size", "_skip")

    def __init__(self, framing: Framing = LIBVIRT_FRAMING) -> None:
        self._framing = framing
        self._prefix = struct.Struct(framing.length_format)
        self._prefix_size = self._prefix.size
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed data in _buf
        self._len = -1  # validated length of the record at _pos, or -1 when not yet read
        self._skip = 0  # bytes to drop before the next record (FD dummy bytes)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned in a record."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes."""
        if self._pos:
            # Compact once per feed: amortised O(n) however many records one read held.
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def skip(self, count: int) -> None:
        """Discard the next *count* bytes of the stream (libvirt's FD dummy bytes)."""
        self._skip += count

    def consume_skip(self) -> int:
        """Discard buffered bytes owed to :meth:`skip`; return how many are still owed."""
        if self._skip:
            n = min(self._skip, len(self._buf) - self._pos)
            self._skip -= n
            self._pos += n
        return self._skip

    def next_record(self) -> bytes | None:
        """Return the next whole record (without its length word), or None if incomplete."""
        if self._skip and self.consume_skip():
            return None
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        length = self._len
        if length < 0:
            if avail < self._prefix_size:
                return None
            length = self._prefix.unpack_from(buf, pos)[0]
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
            total = length if framing.length_includes_prefix else length + self._prefix_size
            length = total
            self._len = length
        if avail < length:
            return None
        record = bytes(buf[pos + self._prefix_size : pos + length])
        self._pos = pos + length
        self._len = -1
        return record
