"""netrpc.xdrlang: XDR-language text compiled to netrpc.xdr types and program declarations."""

from __future__ import annotations

import enum
from typing import Annotated

import pytest

from netrpc.core import xdr, xdrlang

TEXT = """
/* comments, % pass-through and # lines are ignored */
%#include <rpc/rpc.h>
#define IGNORED 1
const NAME_MAX = 64;
const LIST_MAX = 0x10;
const MINUS = -2;
const ALIAS = NAME_MAX;
typedef string name<NAME_MAX>;
typedef opaque uuid[16];
enum color { RED = 1, GREEN, BLUE = 0x10 };
struct point { int x; int y; };
struct everything {
    int i; unsigned int u; hyper h; unsigned hyper uh; float f; double d; bool b;
    unsigned u2; char c; unsigned char uc; short s; unsigned short us;
    name n; string free<>; opaque blob<LIST_MAX>; opaque whole<>; uuid id;
    point p; point *maybe; point pts<LIST_MAX>; point pair[2]; int nums<>;
    color col; char model[4];
};
union value switch (int type) {
    case 1: int i;
    case 2: case 3: string s<>;
    case BLUE: point p;
    default: void;
};
union strict_value switch (unsigned int kind) { case 0: void; case 1: hyper h; };
struct holder { value v; struct { int a; name b; } inner; enum { ON = 1, OFF = 0 } sw; };
program DEMO {
    version DEMO_V1 {
        void NOTHING(void) = 0;
        point MOVE(everything) = 1;
        int COUNT(point) = 2;
    } = 1;
    version DEMO_V2 { holder GET(void) = 1; } = 2;
} = 0x20240001;
"""


@pytest.fixture(scope="module")
def spec() -> xdrlang.XdrSpec:
    return xdrlang.compile_xdr(TEXT, module=__name__)


def test_constants(spec: xdrlang.XdrSpec) -> None:
    c = spec.constants
    assert (c["NAME_MAX"], c["LIST_MAX"], c["MINUS"], c["ALIAS"]) == (64, 16, -2, 64)
    assert (c["RED"], c["GREEN"], c["BLUE"], c["ON"], c["OFF"]) == (1, 2, 16, 1, 0)


def test_every_construct_round_trips(spec: xdrlang.XdrSpec) -> None:
    Everything = spec.cls("everything")
    Point = spec.cls("point")
    value = Everything(
        -1, 2**32 - 1, -(2**63), 2**64 - 1, 1.5, -2.25, True, 7, -3, 255, -4, 65535,
        "név", "", b"\x01\x02\x03", b"", bytes(range(16)), Point(1, 2), None,
        [Point(3, 4)], [Point(5, 6), Point(7, 8)], [1, 2, 3], 16, [65, 66, 0, 0],
    )
    data = Everything.xdr.encode(value)
    assert Everything.xdr.decode(data) == value
    # keyword construction, field order as declared
    assert Everything(**{name: getattr(value, name) for name in Everything.__match_args__}) == value


@xdr.struct
class HandPoint:
    x: xdr.Int
    y: xdr.Int


@xdr.struct
class HandHolderLike:
    n: Annotated[str, xdr.String(64)]
    pts: Annotated[list[HandPoint], xdr.Array(HandPoint.xdr, 16)]  # type: ignore[attr-defined]


def test_layout_matches_hand_declared_struct(spec: xdrlang.XdrSpec) -> None:
    text = "struct point { int x; int y; }; typedef string name<64>;" \
           "struct like { name n; point pts<16>; };"
    compiled = xdrlang.compile_xdr(text)
    Like, Point = compiled.cls("like"), compiled.cls("point")
    generated = Like.xdr.encode(Like("ab", [Point(1, 2), Point(3, 4)]))
    hand = HandHolderLike.xdr.encode(HandHolderLike("ab", [HandPoint(1, 2), HandPoint(3, 4)]))
    assert generated == hand
    assert xdrlang.wire_shape(Like.xdr) == xdrlang.wire_shape(HandHolderLike.xdr)
    # same compiled codec machinery as @xdr.struct: a slotted dataclass with xdr.Struct
    assert isinstance(Like.xdr, xdr.Struct) and hasattr(Like, "__slots__")


def test_limits_are_enforced(spec: xdrlang.XdrSpec) -> None:
    name = spec.type("name")
    assert name.encode("x" * 64)
    with pytest.raises(xdr.XdrError):
        name.encode("x" * 65)
    with pytest.raises(xdr.XdrError):
        name.decode(b"\x00\x00\x00\x41" + b"x" * 68)


def test_unions(spec: xdrlang.XdrSpec) -> None:
    value = spec.type("value")
    Point = spec.cls("point")
    for v in [xdr.UnionValue(1, 5), xdr.UnionValue(3, "hi"), xdr.UnionValue(16, Point(1, 1)),
              xdr.UnionValue(99, None)]:
        assert value.decode(value.encode(v)) == v
    strict = spec.type("strict_value")
    with pytest.raises(xdr.XdrError):
        strict.decode(b"\x00\x00\x00\x05")
    Holder = spec.cls("holder")
    h = xdrlang.default_value(Holder.xdr)
    assert h.v == xdr.UnionValue(1, 0) and h.inner.b == "" and h.sw == 0
    assert type(h.inner).__name__ == "HolderInner"


def test_enums(spec: xdrlang.XdrSpec) -> None:
    color = spec.enum("color")
    assert issubclass(color, enum.IntEnum) and color.GREEN == 2
    # rpcgen's xdr_enum accepts any value: so does a plain compile
    assert spec.type("color").decode(b"\x00\x00\x00\x07") == 7
    strict = xdrlang.compile_xdr(TEXT, strict_enums=True)
    with pytest.raises(xdr.XdrError):
        strict.type("color").decode(b"\x00\x00\x00\x07")
    assert strict.type("color").decode(b"\x00\x00\x00\x10") is strict.enum("color").BLUE


def test_programs(spec: xdrlang.XdrSpec) -> None:
    (program,) = spec.programs
    assert (program.name, program.number) == ("DEMO", 0x20240001)
    v1, v2 = program.versions
    assert [(p.number, p.name, p.args, p.ret) for p in v1.procedures] == [
        (0, "NOTHING", None, None), (1, "MOVE", "everything", "point"), (2, "COUNT", "point", "int"),
    ]
    assert (v2.number, v2.procedures[0].ret) == (2, "holder")
    assert spec.procedure_type("int") is xdr.INT
    assert spec.procedure_type(None) is None


def test_prefixes_keywords_and_imports() -> None:
    base = xdrlang.compile_xdr("struct remote_thing { int from; int lambda_; };",
                               strip_prefixes=("remote_",))
    Thing = base.cls("remote_thing")
    assert Thing.__name__ == "Thing" and Thing.__match_args__ == ("from_", "lambda_")
    derived = xdrlang.compile_xdr("struct wrap { remote_thing t; };", imports=[base])
    assert derived.cls("wrap").__match_args__ == ("t",)
    assert derived.type("remote_thing") is Thing.xdr
    ext = xdrlang.compile_xdr("struct s { opaque u[UUID_LEN]; };", constants={"UUID_LEN": 16})
    assert ext.type("s").fixed_size == 16


def test_lazy_building() -> None:
    compiled = xdrlang.compile_xdr("struct a { int x; }; struct b { a inner; };")
    lazy = compiled.lazy("b")
    assert isinstance(lazy, xdrlang.LazyType)
    assert lazy.decode(b"\x00\x00\x00\x09").inner.x == 9
    assert lazy.unpack == compiled.type("b").unpack
    assert compiled.lazy("a") is compiled.type("a")  # already built: no wrapper


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("struct a { int x; }\nstruct b { int y; };", "line 2: expected ';'"),
        ("struct a {\n int x;\n foo y; };", "unknown type foo"),
        ("struct a { b x; }; struct b { a y; };", "recursive"),
        ("const A = 1; const A = 2;", "defined twice"),
        ("struct a { int x; int x; };", "declared twice"),
        ("struct a { int x<NOPE>; };", "unknown constant NOPE"),
        ("union u switch (int t) { case 1: int a; case 1: int b; };", "given twice"),
        ("program P { version V { int F(int, int) = 1; } = 1; } = 1;", "several arguments"),
        ("struct a { int x; }; @", "unexpected character"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(xdrlang.XdrLangError, match=message):
        xdrlang.compile_xdr(text).compile_all()


def test_camel_name() -> None:
    assert xdrlang.camel_name("remote_domain_get_info_ret", ("remote_",)) == "DomainGetInfoRet"
    assert xdrlang.camel_name("remote_nonnull_domain", ("remote_",)) == "NonnullDomain"
    assert xdrlang.camel_name("qemu_domain_monitor_event_msg", ("qemu_",)) == \
        "DomainMonitorEventMsg"


def test_shapes_from_declarations_match_built_types() -> None:
    text = TEXT.split("program DEMO")[0]
    unbuilt = xdrlang.compile_xdr(text)
    built = xdrlang.compile_xdr(text)
    for name in built.names():
        assert unbuilt.shape(name) == xdrlang.wire_shape(built.type(name)), name
    assert unbuilt._types == {}  # worked out without building anything
    lazy = unbuilt.lazy("holder")
    assert isinstance(lazy, xdrlang.LazyType)
    assert xdrlang.wire_shape(lazy) == xdrlang.wire_shape(built.type("holder"))
