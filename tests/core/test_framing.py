"""Record framing: any split, coalesced records, and every bad length word."""

from __future__ import annotations

import struct

import pytest

from netrpc.core.errors import MessageTooLargeError
from netrpc.core.framing import Framing, RecordReader
from netrpc.core.protocol import MESSAGE_MAX

# AUTH_LIST call and reply from interop.md section 2.1
AUTH_LIST_CALL = bytes.fromhex("0000001c 20008086 00000001 00000042 00000000 00000000 00000000")
AUTH_LIST_REPLY = bytes.fromhex(
    "00000024 20008086 00000001 00000042 00000001 00000000 00000000 00000001 00000000"
)


def _records(stream: bytes, splits: list[int]) -> list[bytes]:
    reader = RecordReader()
    out = []
    last = 0
    for cut in [*splits, len(stream)]:
        reader.feed(stream[last:cut])
        last = cut
        while (record := reader.next_record()) is not None:
            out.append(record)
    return out


def test_every_split_offset() -> None:
    stream = AUTH_LIST_CALL + AUTH_LIST_REPLY
    for cut in range(len(stream) + 1):
        assert _records(stream, [cut]) == [AUTH_LIST_CALL[4:], AUTH_LIST_REPLY[4:]]


def test_byte_by_byte_and_coalesced() -> None:
    stream = (AUTH_LIST_CALL + AUTH_LIST_REPLY) * 50
    assert len(_records(stream, list(range(1, len(stream))))) == 100
    assert len(_records(stream, [])) == 100


@pytest.mark.parametrize("length", [0, 2, 3, 4, 8, 27, MESSAGE_MAX + 5, 0x7FFFFFFF, 0xFFFFFFFF])
def test_bad_length_words_are_fatal(length: int) -> None:
    reader = RecordReader()
    reader.feed(struct.pack(">I", length))
    with pytest.raises(MessageTooLargeError) as info:
        reader.next_record()
    assert info.value.length == length
    assert str(length) in str(info.value)


def test_largest_length_waits_for_the_body() -> None:
    reader = RecordReader()
    reader.feed(struct.pack(">I", MESSAGE_MAX + 4) + b"\0" * 100)
    assert reader.next_record() is None
    # nothing beyond what arrived is buffered
    assert reader.buffered == 104


def test_incomplete_header_waits() -> None:
    reader = RecordReader()
    reader.feed(AUTH_LIST_CALL[:20])
    assert reader.next_record() is None
    reader.feed(AUTH_LIST_CALL[20:])
    assert reader.next_record() == AUTH_LIST_CALL[4:]


def test_skip_drops_dummy_bytes_between_records() -> None:
    reader = RecordReader()
    reader.feed(AUTH_LIST_CALL)
    assert reader.next_record() is not None
    reader.skip(3)
    reader.feed(b"\0\0")
    assert reader.consume_skip() == 1
    reader.feed(b"\0" + AUTH_LIST_CALL)
    assert reader.next_record() == AUTH_LIST_CALL[4:]


def test_other_framing_16bit_length() -> None:
    framing = Framing(
        length_format=">H", length_includes_prefix=False, min_length=2, max_length=100
    )
    reader = RecordReader(framing)
    reader.feed(b"\x00\x03abc\x00\x01")
    assert reader.next_record() == b"abc"
    with pytest.raises(MessageTooLargeError):
        reader.next_record()


def test_feeding_is_linear() -> None:
    # 20 000 records fed one at a time: quadratic buffering would take seconds.
    import time

    reader = RecordReader()
    start = time.perf_counter()
    for _ in range(20000):
        reader.feed(AUTH_LIST_CALL)
        reader.next_record()
    assert time.perf_counter() - start < 2.0


def test_a_length_word_allocates_nothing() -> None:
    # 32 MiB announced, a header and a little body arrived: only that is held, and the next
    # read is asked for at most READ_MAX bytes.
    reader = RecordReader()
    reader.feed(struct.pack(">I", MESSAGE_MAX + 4) + b"\0" * 1000)
    assert reader.next_record() is None
    assert reader.footprint == 1004
    assert reader.wanted == MESSAGE_MAX + 4 - 1004
    assert reader.read_size(65536) == RecordReader.READ_MAX


def test_memory_follows_the_bytes_that_arrived() -> None:
    body = bytes(range(256)) * 1024  # a 256 KiB record
    record = struct.pack(">I", 4 + len(body)) + body
    for piece in (1, 7, 1000, 65536, RecordReader.READ_MAX):
        reader = RecordReader()
        for start in range(0, len(record) - 1, piece):
            reader.feed(record[start : min(start + piece, len(record) - 1)])
            assert reader.next_record() is None
            # dribbled bytes are gathered: no object per piece, no growth beyond them
            assert reader.footprint == reader.buffered
            assert len(reader._chunks) <= 2 + reader.buffered // RecordReader.SMALL_PIECE
        reader.feed(record[-1:])
        assert reader.next_record() == body
        assert reader.footprint == 0


def test_compact_lets_go_of_a_consumed_read() -> None:
    reader = RecordReader()
    reader.feed(AUTH_LIST_CALL * 2000 + AUTH_LIST_CALL[:2])
    while reader.next_record() is not None:
        pass
    assert reader.buffered == 2
    reader.compact()
    assert reader.footprint == 2
    reader.feed(AUTH_LIST_CALL[2:])
    assert reader.next_record() == AUTH_LIST_CALL[4:]
    assert reader.footprint == 0


def test_split_records_across_pieces() -> None:
    stream = (AUTH_LIST_CALL + AUTH_LIST_REPLY) * 3
    for cut in range(1, len(stream)):
        reader = RecordReader()
        reader.feed(stream[:cut])
        reader.feed(bytearray(stream[cut:]))
        out = []
        while (split := reader.next_split(24)) is not None:
            out.append(split)
        assert (
            out == [(AUTH_LIST_CALL[4:28], b""), (AUTH_LIST_REPLY[4:28], AUTH_LIST_REPLY[28:])] * 3
        )
        assert reader.footprint == 0


def test_length_word_split_between_large_pieces() -> None:
    # A large read ends inside a length word; the rest comes in the next large read.
    filler = struct.pack(">I", 4 + 8000) + b"f" * 8000
    stream = filler + AUTH_LIST_CALL + filler
    for cut in range(len(filler) + 1, len(filler) + 4):
        reader = RecordReader()
        reader.feed(stream[:cut])
        reader.feed(stream[cut:])
        records = []
        while (record := reader.next_record()) is not None:
            records.append(record)
        assert records == [filler[4:], AUTH_LIST_CALL[4:], filler[4:]]
        assert reader.buffered == reader.footprint == 0


def _pooled_read(reader: RecordReader, stream: bytes, pos: int, size: int) -> int:
    """One read as a server does it: into the pool buffer the reader offers, else a
    bytes piece of at most read_size()."""
    view = reader.receive_view()
    if view is not None:
        with view:
            n = min(len(view), size, len(stream) - pos)
            view[:n] = stream[pos : pos + n]
        reader.commit(n)
        return n
    n = min(reader.read_size(size), size, len(stream) - pos)
    reader.feed(stream[pos : pos + n])
    return n


@pytest.mark.parametrize("size", [7, 4096, 65536, 300000])
def test_large_records_through_a_buffer_pool(size: int) -> None:
    from netrpc.core.framing import BufferPool

    big = bytes(range(256)) * 1024  # 256 KiB
    records = [big, b"small" * 10, big + b"!", AUTH_LIST_CALL[4:], big, b"x" * 70000]
    stream = b"".join(struct.pack(">I", 4 + len(r)) + r for r in records)
    pool = BufferPool(limit=1)
    reader = RecordReader(pool=pool)
    out: list[bytes] = []
    pos = 0
    while pos < len(stream):
        pos += _pooled_read(reader, stream, pos, size)
        while (record := reader.next_record()) is not None:
            out.append(record)
        assert pool.in_use <= 1
    assert out == records
    assert pool.in_use == 0 and reader.buffered == reader.footprint == 0


def test_buffer_pool_bounds_what_announced_records_take() -> None:
    from netrpc.core.framing import BufferPool

    pool = BufferPool(limit=3)
    first = struct.pack(">I", 4 + 500000) + b"\0" * 100
    readers = [RecordReader(pool=pool) for _ in range(10)]
    for reader in readers:
        reader.feed(first)
        assert reader.next_record() is None
    views = [reader.receive_view() for reader in readers]
    # Three readers got a buffer; the others wait for their bytes in pieces.
    assert sum(view is not None for view in views) == 3 == pool.in_use
    for view in views:
        if view is not None:
            view.release()
    for reader in readers:
        reader.release()
    assert pool.in_use == 0
