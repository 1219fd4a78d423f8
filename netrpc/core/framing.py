"""Length-prefixed record framing.

:class:`RecordReader` turns bytes received in arbitrary pieces into whole records.  Its memory
follows the bytes that arrived, never what a peer announces:

* each length word is checked before anything else (libvirt: under 28 or over 32 MiB + 4 is
  fatal), and a valid one allocates nothing: the record is assembled from the pieces as they
  come;
* the pieces the I/O layer read are kept as they are (no copy) and a record is copied once,
  when it is taken out (``b"".join`` when it spans pieces); small pieces are appended to one
  growing buffer, so a peer dribbling single bytes costs bytes, not an object per byte;
* nothing is kept once consumed, so an idle connection holds no buffer at all, and
  :meth:`RecordReader.compact` lets go of a large read of which only a tail is left.

It is linear in the bytes fed.  The I/O layer asks :meth:`RecordReader.read_size` how much
to read next: the rest of a large record exactly, so that a record ends a piece.

Large records (stream data) arriving in several reads would cost a fresh allocation per read
and another to join them.  With a :class:`BufferPool` shared by a server's connections, such
a record is instead received straight into one of the pool's buffers
(:meth:`RecordReader.receive_view`): the pool's size, not the peers, bounds that memory, and
a record that does not fit, or finds the pool empty, is assembled from pieces as above.

The reader knows nothing about libvirt's header: the default parameters describe libvirt's wire
(a 4-byte big-endian length that counts itself, between 28 and 32 MiB + 4), and another
length-prefixed protocol can reuse it with its own :class:`Framing`.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field

from .errors import MessageTooLargeError
from .protocol import LENGTH_SIZE, MESSAGE_MAX, MIN_MESSAGE_LENGTH

__all__ = ("LIBVIRT_FRAMING", "BufferPool", "Framing", "RecordReader")


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
    #: bytes after the length word that it does not count (the rest of a fixed header
    #: whose length word counts only the body)
    uncounted: int = 0

    #: what to add to a valid length word to get the bytes of the whole record (set from
    #: the fields above)
    extra: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "extra",
            (0 if self.length_includes_prefix else struct.calcsize(self.length_format))
            + self.uncounted,
        )
        if self.min_length > self.max_length:
            raise ValueError(
                f"min_length {self.min_length} is larger than max_length {self.max_length}"
            )


#: libvirt's framing: ``len - 4 > VIR_NET_MESSAGE_MAX`` or ``len < 28`` closes the connection.
LIBVIRT_FRAMING = Framing()


@functools.lru_cache(maxsize=16)
def _prefix_struct(length_format: str) -> struct.Struct:
    # One per format, shared by every reader.
    return struct.Struct(length_format)


class BufferPool:
    """Receive buffers for large records, shared by the connections of a server.

    At most *limit* buffers of *buffer_size* bytes exist at once, and *keep* of them are
    kept for reuse when nobody uses them (reused buffers cost no new memory and no page
    faults); a reader that finds none free falls back to assembling its record from pieces.

    :param buffer_size: the largest record (length word included) a buffer takes.
    :param limit: buffers in use at most.
    :param keep: free buffers kept.
    """

    __slots__ = ("_free", "_in_use", "buffer_size", "keep", "limit")

    def __init__(self, buffer_size: int = (1 << 20) + 64, limit: int = 4, keep: int = 1) -> None:
        self.buffer_size = buffer_size
        self.limit = limit
        self.keep = keep
        self._free: list[bytearray] = []
        self._in_use = 0

    @property
    def in_use(self) -> int:
        """Buffers taken and not given back."""
        return self._in_use

    def take(self, size: int) -> bytearray | None:
        """A buffer for a record of *size* bytes, or None (too large, or none left)."""
        if size > self.buffer_size or self._in_use >= self.limit:
            return None
        self._in_use += 1
        if self._free:
            return self._free.pop()
        return bytearray(self.buffer_size)

    def give(self, buffer: bytearray) -> None:
        """Return a buffer from :meth:`take`."""
        self._in_use -= 1
        if len(self._free) < self.keep:
            self._free.append(buffer)


class RecordReader:
    """Reassemble length-prefixed records from a byte stream.

    Call :meth:`feed` with whatever arrived, then :meth:`next_record` (or
    :meth:`next_split`) until it returns None.  A record is returned without its length
    word.

    :raises MessageTooLargeError: from :meth:`next_record`, when a length word is out of range;
        the stream cannot be resynchronised and must be closed.
    """

    __slots__ = (
        "_avail",
        "_big",
        "_chunks",
        "_framing",
        "_len",
        "_pool",
        "_pos",
        "_prefix",
        "_prefix_size",
        "_skip",
        "_spilled",
        "_streaming",
    )

    #: pieces shorter than this are appended to a growing buffer rather than kept apart
    SMALL_PIECE = 4096
    #: a growing buffer takes no more small pieces once it holds this much
    ACCUMULATE_MAX = 65536
    #: the most :meth:`read_size` asks for at once
    READ_MAX = 1 << 20
    #: records longer than this are received into a pool buffer when one is free
    POOLED_RECORD = 65536

    def __init__(self, framing: Framing = LIBVIRT_FRAMING, pool: BufferPool | None = None) -> None:
        self._framing = framing
        self._pool = pool
        # A pool buffer holding the record being received (all its bytes received so far,
        # from offset 0; _avail of them), or None.
        self._big: bytearray | None = None
        # Bytes that arrived behind a pooled record (in _chunks, not counted in _avail).
        self._spilled = 0
        # The last record was pooled: the next one probably is too (stream data), so its
        # first read goes to a pool buffer as well.
        self._streaming = False
        self._prefix = _prefix_struct(framing.length_format)
        self._prefix_size = self._prefix.size
        # The bytes received and not yet consumed: the pieces in order, the first one from
        # offset _pos on.
        self._chunks: list[bytes | bytearray] = []
        self._pos = 0
        self._avail = 0
        self._len = -1  # validated length of the record at the front, or -1 when not yet read
        self._skip = 0  # bytes to drop before the next record (FD dummy bytes)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned in a record."""
        return self._avail + self._spilled

    @property
    def footprint(self) -> int:
        """Bytes of the pieces held (what arrived and is kept, consumed parts included; a
        pool buffer in use counts as what it holds)."""
        pieces = sum(len(chunk) for chunk in self._chunks)
        if self._big is not None:
            return self._avail + pieces
        return pieces

    @property
    def wanted(self) -> int:
        """Bytes still missing to complete the record being received (0 if unknown)."""
        if self._len < 0:
            return 0
        return max(self._len - self._avail, 0)

    def read_size(self, size: int) -> int:
        """How much the I/O layer should ask for next: *size*, or the rest of a larger
        record being received (at most :attr:`READ_MAX`), so that the record ends the read
        and no partial record is left in a large piece."""
        wanted = self.wanted
        if wanted > size or (self._big is not None and wanted):
            # (Into a pool buffer: exactly the rest of its record.)
            return min(wanted, self.READ_MAX)
        return size

    def receive_view(self) -> memoryview | None:
        """Where to receive the rest of the large record under way (exactly its missing
        bytes), when a pool buffer takes it; else None (read with :meth:`read_size` and
        :meth:`feed`).  Release the view, then call :meth:`commit`."""
        big = self._big
        if big is None:
            pool = self._pool
            if pool is None or self._skip:
                return None
            length = self._len
            if length < 0:
                if not self._streaming or self._avail or self._chunks:
                    return None
                # At a record boundary after a pooled record: read the next one's start
                # into a buffer too (commit() gives it back if that record is small).
                big = pool.take(pool.buffer_size)
                if big is None:
                    return None
                self._big = big
                return memoryview(big)[: self.POOLED_RECORD]
            if self._avail >= length or length <= self.POOLED_RECORD:
                return None
            big = pool.take(length)
            if big is None:
                return None
            # Move what arrived of the record into the buffer (less than one read).
            have = self._avail
            big[:have] = self._take(have)
            self._avail = have
            self._big = big
        end = self._len if self._len >= 0 else self.POOLED_RECORD
        return memoryview(big)[self._avail : end]

    def commit(self, count: int) -> None:
        """Account for *count* bytes received into the last :meth:`receive_view`."""
        self._avail += count
        if self._len < 0 and self._big is not None:
            self._settle()

    def _settle(self, *, keep: bool = True) -> None:
        """After a read at a record boundary into a pool buffer: keep the buffer if a large
        record starts there (and *keep*), else move what arrived into pieces and give it
        back."""
        big = self._big
        assert big is not None
        avail = self._avail
        framing = self._framing
        length = -1
        if avail >= self._prefix_size:
            raw = int(self._prefix.unpack_from(big, 0)[0])
            if framing.min_length <= raw <= framing.max_length:
                length = raw if framing.length_includes_prefix else raw + self._prefix_size
        pool = self._pool
        assert pool is not None
        if keep and self.POOLED_RECORD < length <= pool.buffer_size and avail < length:
            self._len = length
            return
        # Not a large record under way (or a bad length word: checked as usual).
        self._big = None
        self._streaming = False
        self._avail = 0
        if avail:
            with memoryview(big) as view:
                self._chunks.append(bytes(view[:avail]))
            self._avail = avail
        pool.give(big)

    def release(self) -> None:
        """Give a pool buffer back (the connection is closing)."""
        big = self._big
        if big is not None and self._pool is not None:
            self._big = None
            self._pool.give(big)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes (a ``bytes`` object is kept as it is, anything else copied)."""
        n = len(data)
        if not n:
            return
        if self._big is not None:
            if self._len >= 0:
                # Only the rest of the pooled record is asked for; anything else goes there
                # too.
                self._feed_big(data)
                return
            self._settle(keep=False)
        chunks = self._chunks
        if chunks and n < self.SMALL_PIECE:
            last = chunks[-1]
            if len(last) < self.ACCUMULATE_MAX:
                if type(last) is not bytearray:
                    if len(chunks) == 1:
                        last = bytearray(memoryview(last)[self._pos :])
                        self._pos = 0
                    else:
                        last = bytearray(last)
                    chunks[-1] = last
                last += data
                self._avail += n
                return
        chunks.append(data if type(data) is bytes else bytes(data))
        self._avail += n

    def _feed_big(self, data: bytes | bytearray | memoryview) -> None:
        big = self._big
        assert big is not None
        room = self._len - self._avail
        n = min(len(data), room)
        big[self._avail : self._avail + n] = data[:n]
        self._avail += n
        if n < len(data):
            # More than the record: the rest waits in pieces behind it.
            rest = data[n:]
            self._chunks.append(rest if type(rest) is bytes else bytes(rest))
            self._spilled += len(rest)

    def _take_big(self, header_size: int | None) -> tuple[bytes, bytes]:
        """Take the completed pooled record out (as header and body, or whole as body when
        *header_size* is None) and give the buffer back."""
        big = self._big
        assert big is not None
        start = self._prefix_size
        end = self._len
        split = start if header_size is None else min(start + header_size, end)
        with memoryview(big) as view:
            header = bytes(view[start:split])
            body = bytes(view[split:end])
        self._big = None
        if self._pool is not None:
            self._pool.give(big)
        self._len = -1
        self._pos = 0
        self._avail, self._spilled = self._spilled, 0
        self._streaming = True
        return header, body

    def compact(self) -> None:
        """Let go of the consumed part of a large piece of which only a tail is left (call
        it when waiting for more data), so memory follows what is still buffered."""
        chunks = self._chunks
        if chunks and self._pos and self._big is None:
            first = chunks[0]
            if self._pos * 2 >= len(first):
                with memoryview(first) as view:
                    chunks[0] = bytes(view[self._pos :])
                self._pos = 0

    def skip(self, count: int) -> None:
        """Discard the next *count* bytes of the stream (libvirt's FD dummy bytes)."""
        self._skip += count

    def consume_skip(self) -> int:
        """Discard buffered bytes owed to :meth:`skip`; return how many are still owed."""
        if self._skip:
            n = min(self._skip, self._avail)
            self._skip -= n
            self._drop(n)
        return self._skip

    def _drop(self, n: int) -> None:
        chunks = self._chunks
        pos = self._pos
        self._avail -= n
        while n:
            left = len(chunks[0]) - pos
            if n < left:
                pos += n
                break
            n -= left
            del chunks[0]
            pos = 0
        self._pos = pos

    def _take(self, n: int) -> bytes:
        """Remove and return the next *n* bytes (which are buffered)."""
        chunks = self._chunks
        first = chunks[0]
        pos = self._pos
        end = pos + n
        if end <= len(first):
            if type(first) is bytes:
                data = first[pos:end]
            else:
                with memoryview(first) as view:
                    data = bytes(view[pos:end])
            if end == len(first):
                del chunks[0]
                end = 0
            self._pos = end
            self._avail -= n
            return data
        views = []
        self._avail -= n
        while n:
            chunk = chunks[0]
            left = len(chunk) - pos
            if n < left:
                views.append(memoryview(chunk)[pos : pos + n])
                pos += n
                break
            views.append(memoryview(chunk)[pos:] if pos else memoryview(chunk))
            n -= left
            del chunks[0]
            pos = 0
        self._pos = pos
        data = b"".join(views)
        for view in views:
            view.release()
        return data

    def _peek_length(self) -> int:
        size = self._prefix_size
        first = self._chunks[0]
        pos = self._pos
        if len(first) - pos >= size:
            return int(self._prefix.unpack_from(first, pos)[0])
        # The length word spans pieces (rare): gather its bytes without consuming them.
        prefix = bytearray()
        for chunk in self._chunks:
            prefix += chunk[pos : pos + size - len(prefix)]
            pos = 0
            if len(prefix) == size:
                break
        return int(self._prefix.unpack_from(prefix)[0])

    def _ready(self) -> bool:
        """True when a whole record is buffered at the front (its length validated)."""
        if self._big is not None:
            return 0 <= self._len <= self._avail
        if self._skip and self.consume_skip():
            return False
        length = self._len
        if length < 0:
            if self._avail < self._prefix_size:
                return False
            length = self._peek_length()
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
            length += framing.uncounted
            self._len = length
        return self._avail >= length

    def next_record(self) -> bytes | None:
        """Return the next whole record (without its length word), or None if incomplete.

        :raises MessageTooLargeError: when the length word is out of range.
        """
        if not self._ready():
            return None
        if self._big is not None:
            return self._take_big(None)[1]
        length = self._len
        self._len = -1
        self._drop(self._prefix_size)
        return self._take(length - self._prefix_size)

    def next_split(self, header_size: int) -> tuple[bytes, bytes] | None:
        """Like :meth:`next_record`, but return the record as ``(header, body)``, each
        copied once.

        A record shorter than *header_size* gives a short header and an empty body.

        :raises MessageTooLargeError: when the length word is out of range.
        """
        chunks = self._chunks
        if self._len < 0 and chunks and self._big is None and not self._skip:
            # The usual case, done here without the general steps below: a whole record
            # at the front of a bytes piece.
            first = chunks[0]
            pos = self._pos
            start = pos + self._prefix_size
            if type(first) is bytes and start <= len(first):
                framing = self._framing
                raw = self._prefix.unpack_from(first, pos)[0]
                if framing.min_length <= raw <= framing.max_length:
                    total = raw + framing.extra
                    end = pos + total
                    if end <= len(first):
                        split = min(start + header_size, end)
                        header = first[start:split]
                        body = first[split:end]
                        if end == len(first):
                            del chunks[0]
                            end = 0
                        self._avail -= total
                        self._pos = end
                        return header, body
        if not self._ready():
            return None
        if self._big is not None:
            return self._take_big(header_size)
        length = self._len - self._prefix_size
        self._len = -1
        first = self._chunks[0]
        start = self._pos + self._prefix_size
        end = start + length
        if end <= len(first) and type(first) is bytes:
            # The whole record is in one piece (the usual case): two slices.
            split = start + min(header_size, length)
            header = first[start:split]
            body = first[split:end]
            if end == len(first):
                del self._chunks[0]
                end = 0
            self._pos = end
            self._avail -= length + self._prefix_size
            return header, body
        self._drop(self._prefix_size)
        head = min(header_size, length)
        return self._take(head), self._take(length - head) if length > head else b""
