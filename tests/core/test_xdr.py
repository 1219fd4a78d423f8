"""XDR codec: round trips for every type, exact encodings, and every decode failure."""

from __future__ import annotations

import enum
import struct
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netrpc.core import xdr


class Color(enum.IntEnum):
    RED = 0
    GREEN = 1
    BLUE = 7


@xdr.struct
class Inner:
    name: Annotated[str, xdr.String(16)]
    uuid: Annotated[bytes, xdr.FixedOpaque(16)]
    id: xdr.Int


@xdr.struct
class Everything:
    i: xdr.Int
    u: xdr.UInt
    h: xdr.Hyper
    uh: xdr.UHyper
    b: xdr.Bool
    f: xdr.Double
    color: Color
    blob: Annotated[bytes, xdr.Opaque(64)]
    fixed: Annotated[bytes, xdr.FixedOpaque(5)]
    text: Annotated[str, xdr.String(64)]
    ints: Annotated[list[int], xdr.Array(xdr.INT, 8)]
    three: Annotated[list[int], xdr.FixedArray(xdr.UINT, 3)]
    inners: Annotated[list[Inner], xdr.Array(Inner, 4)]
    maybe: Annotated[Inner | None, xdr.Optional(Inner)]
    flags: Annotated[list[bool], xdr.Array(xdr.BOOL, 4)]


VALUE = xdr.Union("Value", {1: xdr.INT, 2: xdr.String(32), 3: xdr.VOID}, default=None)

int32 = st.integers(-(2**31), 2**31 - 1)
uint32 = st.integers(0, 2**32 - 1)
texts = st.text(max_size=16).filter(lambda s: len(s.encode("utf-8", "surrogateescape")) <= 16)
inners = st.builds(Inner, name=texts, uuid=st.binary(min_size=16, max_size=16), id=int32)
everything = st.builds(
    Everything,
    i=int32,
    u=uint32,
    h=st.integers(-(2**63), 2**63 - 1),
    uh=st.integers(0, 2**64 - 1),
    b=st.booleans(),
    f=st.floats(allow_nan=False),
    color=st.sampled_from(Color),
    blob=st.binary(max_size=64),
    fixed=st.binary(min_size=5, max_size=5),
    text=st.text(max_size=20).filter(lambda s: len(s.encode()) <= 64),
    ints=st.lists(int32, max_size=8),
    three=st.lists(uint32, min_size=3, max_size=3),
    inners=st.lists(inners, max_size=4),
    maybe=st.none() | inners,
    flags=st.lists(st.booleans(), max_size=4),
)


@given(everything)
def test_struct_round_trip(value: Everything) -> None:
    data = Everything.xdr.encode(value)
    assert len(data) % 4 == 0
    assert Everything.xdr.decode(data) == value


@pytest.mark.parametrize(
    ("codec", "strategy"),
    [
        (xdr.INT, int32),
        (xdr.UINT, uint32),
        (xdr.HYPER, st.integers(-(2**63), 2**63 - 1)),
        (xdr.UHYPER, st.integers(0, 2**64 - 1)),
        (xdr.BOOL, st.booleans()),
        (xdr.DOUBLE, st.floats(allow_nan=False)),
        (xdr.FLOAT, st.floats(width=32, allow_nan=False)),
        (xdr.String(100), st.text(max_size=25)),
        (xdr.Opaque(100), st.binary(max_size=100)),
        (xdr.FixedOpaque(7), st.binary(min_size=7, max_size=7)),
        (xdr.Array(xdr.HYPER, 10), st.lists(st.integers(-(2**63), 2**63 - 1), max_size=10)),
        (xdr.FixedArray(xdr.String(8), 2), st.lists(st.text(max_size=2), min_size=2, max_size=2)),
        (xdr.Optional(xdr.String(10)), st.none() | st.text(max_size=2)),
        (xdr.Enum(Color), st.sampled_from(Color)),
        (
            VALUE,
            st.one_of(
                st.tuples(st.just(1), int32),
                st.tuples(st.just(2), st.text(max_size=8)),
                st.tuples(st.just(3), st.none()),
            ).map(lambda t: xdr.UnionValue(*t)),
        ),
    ],
    ids=lambda p: repr(p) if isinstance(p, xdr.XdrType) else "",
)
@given(data=st.data())
def test_every_type_round_trips(
    codec: xdr.XdrType[object], strategy: st.SearchStrategy[object], data: st.DataObject
) -> None:
    value = data.draw(strategy)
    encoded = codec.encode(value)
    assert len(encoded) % 4 == 0
    assert codec.decode(encoded) == value


def test_exact_encodings() -> None:
    assert xdr.INT.encode(-1) == b"\xff\xff\xff\xff"
    assert xdr.String(10).encode("abc") == b"\0\0\0\3abc\0"
    assert xdr.String(10).encode("abcd") == b"\0\0\0\4abcd"
    assert xdr.Optional(xdr.String(20)).encode("test:///default") == bytes.fromhex(
        "00000001 0000000f 74657374 3a2f2f2f 64656661 756c7400"
    )
    assert xdr.Optional(xdr.INT).encode(None) == b"\0\0\0\0"
    assert xdr.FixedOpaque(3).encode(b"abc") == b"abc\0"
    assert VALUE.encode((2, "x")) == bytes.fromhex("00000002 00000001 78000000")


@pytest.mark.parametrize("raw", ["00000001", "01000000", "ffffffff", "00000100"])
def test_any_nonzero_discriminant_is_true(raw: str) -> None:
    # go-libvirt sends the optional-string discriminant as 0x01000000.
    assert xdr.BOOL.decode(bytes.fromhex(raw)) is True
    name = xdr.Optional(xdr.String(64)).decode(bytes.fromhex(raw + "00000003") + b"abc\0")
    assert name == "abc"


def test_struct_bool_fields_decode_nonzero_as_true() -> None:
    data = bytearray(Everything.xdr.encode(_sample()))
    # b sits after i, u, h, uh: offset 4 + 4 + 8 + 8 = 24
    data[24:28] = b"\x01\x00\x00\x00"
    assert Everything.xdr.decode(bytes(data)).b is True


def _sample() -> Everything:
    return Everything(
        1,
        2,
        3,
        4,
        False,
        0.5,
        Color.BLUE,
        b"xy",
        b"12345",
        "hi",
        [1, 2],
        [1, 2, 3],
        [Inner("a", b"u" * 16, 1)],
        None,
        [True],
    )


def test_truncation_at_every_offset_names_the_field() -> None:
    data = Everything.xdr.encode(_sample())
    for cut in range(len(data)):
        with pytest.raises(xdr.XdrError) as info:
            Everything.xdr.decode(data[:cut])
        assert "Everything" in str(info.value) or cut < 4


def test_errors_say_what_and_where() -> None:
    with pytest.raises(
        xdr.XdrError, match=r"string length 17 exceeds maximum 16 \(Inner.name, offset 0\)"
    ):
        Inner.xdr.decode(struct.pack(">I", 17) + b"x" * 20 + b"\0" * 20)
    with pytest.raises(xdr.XdrError, match="bad Color value 5"):
        xdr.Enum(Color).decode(b"\0\0\0\5")
    with pytest.raises(xdr.XdrError, match="bad Value discriminant 9"):
        VALUE.decode(b"\0\0\0\x09\0\0\0\0")
    with pytest.raises(xdr.XdrError, match="array length 9 exceeds maximum 8"):
        xdr.Array(xdr.INT, 8).decode(b"\0\0\0\x09" + b"\0" * 36)
    with pytest.raises(xdr.XdrError, match="runs past end"):
        xdr.Array(xdr.INT, 2**31).decode(b"\x7f\0\0\0")
    with pytest.raises(xdr.XdrError, match="3 unexpected trailing bytes"):
        xdr.INT.decode(b"\0\0\0\0\0\0\0")
    with pytest.raises(xdr.XdrError, match="opaque length"):
        xdr.Opaque(2).decode(b"\0\0\0\3abc\0")


def test_encode_errors_name_the_offending_value() -> None:
    with pytest.raises(xdr.XdrError, match="string of 17 bytes exceeds maximum 16"):
        Inner.xdr.encode(Inner("x" * 17, b"u" * 16, 0))
    with pytest.raises(xdr.XdrError, match=r"2\*\*40|1099511627776 does not fit XDR int"):
        xdr.INT.encode(2**40)
    with pytest.raises(xdr.XdrError, match="fixed opaque needs 16 bytes, got 3"):
        Inner.xdr.encode(Inner("x", b"abc", 0))


def test_missing_padding_is_an_error() -> None:
    with pytest.raises(xdr.XdrError):
        Inner.xdr.decode(b"\0\0\0\1a" + b"u" * 16 + b"\0\0\0\0")


def test_non_utf8_strings_round_trip() -> None:
    raw = b"\0\0\0\2\xff\xfe\0\0"
    value = xdr.String(8).decode(raw)
    assert xdr.String(8).encode(value) == raw
