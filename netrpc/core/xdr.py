"""XDR (RFC 4506) codec: schemas declared once in typed Python, compiled to fast functions.

Theory of operation
-------------------
Every XDR type is an :class:`XdrType` object with two hot methods:

* ``pack(out, value)`` appends the encoding of *value* to the bytearray *out*;
* ``unpack(data, offset)`` decodes one value from *data* (``bytes`` or ``memoryview``)
  starting at *offset* and returns ``(value, new_offset)``.

Primitive types use precomputed :class:`struct.Struct` objects.  Structs declared with
:func:`struct` are compiled once, at class creation, into generated Python functions: runs of
fixed-size fields are merged into a single ``Struct`` format, and variable fields are inlined,
so decoding a struct costs one Python call, not one per field.

Decoding is defensive: every variable-length item has a maximum, a length that runs past the
end of the input or over the maximum raises :class:`XdrError` naming the type, the field path
and the offset, and a bool or optional discriminant decodes any non-zero value as true (as
``xdr_bool`` does; go-libvirt sends ``0x01000000``).  The fast generated code does not track
where it is; when it fails, the value is decoded again by the slow, field-by-field path, which
produces the precise message.

Declaring schemas::

    from typing import Annotated
    from . import xdr

    @xdr.struct
    class Domain:
        name: Annotated[str, xdr.String(256)]
        uuid: Annotated[bytes, xdr.FixedOpaque(16)]
        id: xdr.Int

Field annotations are either ``Annotated[python_type, xdr_type]``, one of the ready aliases
(:data:`Int`, :data:`UInt`, :data:`Hyper`, :data:`UHyper`, :data:`Bool`, :data:`Float`,
:data:`Double`), another ``@xdr.struct`` class, or an :class:`enum.IntEnum` subclass.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import struct as _struct
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from .errors import NetRPCError

__all__ = (
    "BOOL",
    "DOUBLE",
    "FLOAT",
    "HYPER",
    "INT",
    "UHYPER",
    "UINT",
    "VOID",
    "Array",
    "Bool",
    "Double",
    "Enum",
    "FixedArray",
    "FixedOpaque",
    "Float",
    "Hyper",
    "Int",
    "Opaque",
    "Optional",
    "String",
    "Struct",
    "UHyper",
    "UInt",
    "Union",
    "UnionValue",
    "XdrError",
    "XdrType",
    "codec_for",
    "struct",
)

T = TypeVar("T")
_C = TypeVar("_C", bound=type)

_U32 = _struct.Struct(">I")
_I32 = _struct.Struct(">i")
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


class XdrError(NetRPCError, ValueError):
    """Raised when a value cannot be encoded or bytes cannot be decoded.

    :param message: what went wrong, including the offending value or length.
    :param path: dotted path of the field being coded (``"Domain.name"``), if known.
    :param offset: byte offset in the input where decoding failed, if known.
    """

    def __init__(self, message: str, *, path: str = "", offset: int | None = None) -> None:
        self.reason = message
        self.path = path
        self.offset = offset
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        return f"{self.reason} ({', '.join(where)})" if where else self.reason

    def within(self, name: str) -> XdrError:
        """Return the same error with *name* prefixed to its field path."""
        path = f"{name}.{self.path}" if self.path else name
        return XdrError(self.reason, path=path, offset=self.offset)


def _pad(n: int) -> int:
    return (4 - (n & 3)) & 3


class XdrType(Generic[T]):
    """One XDR type: knows how to append a value to a buffer and read one back."""

    #: size in bytes when every value has the same encoded size, else None
    fixed_size: ClassVar[int | None] = None

    def pack(self, out: bytearray, value: T) -> None:
        """Append the encoding of *value* to *out*.

        :raises XdrError: if *value* does not fit the type.
        """
        raise NotImplementedError

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[T, int]:
        """Decode one value at *offset*; return it and the offset just past it.

        :raises XdrError: if the input is truncated or invalid.
        """
        raise NotImplementedError

    def encode(self, value: T) -> bytes:
        """Return the encoding of *value* as bytes."""
        out = bytearray()
        self.pack(out, value)
        return bytes(out)

    def decode(self, data: bytes | memoryview, *, allow_trailing: bool = False) -> T:
        """Decode a whole buffer holding exactly one value.

        :param allow_trailing: accept bytes after the value (libvirt does not check them).
        :raises XdrError: on truncated or invalid input, or unexpected trailing bytes.
        """
        value, end = self.unpack(data, 0)
        if not allow_trailing and end != len(data):
            raise XdrError(f"{len(data) - end} unexpected trailing bytes", offset=end)
        return value

    # Code generation hooks: a type can inline itself into generated struct code.  The default
    # delegates to the type object, which is always correct, merely slower.
    def _gen_unpack(self, ns: dict[str, Any], var: str, lines: list[str], indent: str) -> None:
        name = f"_t{len(ns)}"
        ns[name] = self
        lines.append(f"{indent}{var}, off = {name}.unpack(data, off)")

    def _gen_pack(self, ns: dict[str, Any], expr: str, lines: list[str], indent: str) -> None:
        name = f"_t{len(ns)}"
        ns[name] = self
        lines.append(f"{indent}{name}.pack(out, {expr})")

    #: struct format char when the type is a fixed 4/8-byte scalar, for run merging
    _fmt: ClassVar[str | None] = None


class _Void(XdrType[None]):
    fixed_size = 0

    def pack(self, out: bytearray, value: None) -> None:
        if value is not None:
            raise XdrError(f"void takes no value, got {value!r}")

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[None, int]:
        return None, offset

    def __repr__(self) -> str:
        return "VOID"


class _Scalar(XdrType[Any]):
    """int, unsigned int, hyper, unsigned hyper, float, double."""

    def __init__(self, name: str, fmt: str, lo: float | None = None, hi: float | None = None):
        self.name = name
        self._fmt_char = fmt
        self._s = _struct.Struct(">" + fmt)
        self.fixed_size = self._s.size  # type: ignore[misc]
        self.lo = lo
        self.hi = hi

    @property
    def _fmt(self) -> str:  # type: ignore[override]
        return self._fmt_char

    def pack(self, out: bytearray, value: Any) -> None:
        try:
            out += self._s.pack(value)
        except (_struct.error, TypeError) as exc:
            raise XdrError(f"{value!r} does not fit XDR {self.name}") from exc

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[Any, int]:
        try:
            return self._s.unpack_from(data, offset)[0], offset + self._s.size
        except _struct.error:
            raise XdrError(f"truncated {self.name}", offset=offset) from None

    def __repr__(self) -> str:
        return self.name


class _Bool(XdrType[bool]):
    fixed_size = 4
    _fmt = "I"

    def pack(self, out: bytearray, value: bool) -> None:
        out += b"\0\0\0\1" if value else b"\0\0\0\0"

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[bool, int]:
        try:
            return _U32.unpack_from(data, offset)[0] != 0, offset + 4
        except _struct.error:
            raise XdrError("truncated bool", offset=offset) from None

    def __repr__(self) -> str:
        return "BOOL"


VOID = _Void()
INT: XdrType[int] = _Scalar("int", "i")
UINT: XdrType[int] = _Scalar("unsigned int", "I")
HYPER: XdrType[int] = _Scalar("hyper", "q")
UHYPER: XdrType[int] = _Scalar("unsigned hyper", "Q")
FLOAT: XdrType[float] = _Scalar("float", "f")
DOUBLE: XdrType[float] = _Scalar("double", "d")
BOOL: XdrType[bool] = _Bool()

Int = Annotated[int, INT]
UInt = Annotated[int, UINT]
Hyper = Annotated[int, HYPER]
UHyper = Annotated[int, UHYPER]
Float = Annotated[float, FLOAT]
Double = Annotated[float, DOUBLE]
Bool = Annotated[bool, BOOL]

_E = TypeVar("_E", bound=enum.IntEnum)


class Enum(XdrType[_E]):
    """An XDR enum backed by an :class:`enum.IntEnum`; unknown values fail to decode."""

    fixed_size = 4

    def __init__(self, enum_class: type[_E]) -> None:
        self.enum_class = enum_class
        self._members: dict[int, _E] = {int(m): m for m in enum_class}

    def pack(self, out: bytearray, value: _E) -> None:
        if value not in self._members:
            raise XdrError(f"{value!r} is not a valid {self.enum_class.__name__}")
        out += _I32.pack(value)

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[_E, int]:
        try:
            raw = _I32.unpack_from(data, offset)[0]
        except _struct.error:
            raise XdrError(f"truncated {self.enum_class.__name__}", offset=offset) from None
        member = self._members.get(raw)
        if member is None:
            raise XdrError(f"bad {self.enum_class.__name__} value {raw}", offset=offset)
        return member, offset + 4

    def __repr__(self) -> str:
        return f"Enum({self.enum_class.__name__})"


class String(XdrType[str]):
    """A variable-length string of at most *max_length* bytes (UTF-8 on the Python side).

    Bytes that are not valid UTF-8 are kept with ``surrogateescape`` so they round-trip.
    """

    def __init__(self, max_length: int = 0xFFFFFFFF) -> None:
        self.max_length = max_length

    def pack(self, out: bytearray, value: str) -> None:
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except AttributeError:
            raise XdrError(f"expected str, got {type(value).__name__}") from None
        n = len(raw)
        if n > self.max_length:
            raise XdrError(f"string of {n} bytes exceeds maximum {self.max_length}")
        out += _U32.pack(n)
        out += raw
        out += _PAD[n & 3]

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[str, int]:
        try:
            n = _U32.unpack_from(data, offset)[0]
        except _struct.error:
            raise XdrError("truncated string length", offset=offset) from None
        if n > self.max_length:
            raise XdrError(f"string length {n} exceeds maximum {self.max_length}", offset=offset)
        start = offset + 4
        end = start + n
        if end + _pad(n) > len(data):
            raise XdrError(f"string of {n} bytes runs past end of input", offset=offset)
        return str(data[start:end], "utf-8", "surrogateescape"), end + _pad(n)

    def _gen_unpack(self, ns: dict[str, Any], var: str, lines: list[str], indent: str) -> None:
        ns["_U32"] = _U32
        ns["_Err"] = XdrError
        i = indent
        lines += [
            f"{i}n = _U32.unpack_from(data, off)[0]",
            f"{i}if n > {self.max_length}: raise _Err('string too long')",
            f"{i}off += 4",
            f"{i}end = off + n",
            f"{i}if end + ((4 - (n & 3)) & 3) > ln: raise _Err('truncated')",
            f"{i}{var} = str(data[off:end], 'utf-8', 'surrogateescape')",
            f"{i}off = end + ((4 - (n & 3)) & 3)",
        ]

    def __repr__(self) -> str:
        return f"String({self.max_length})"


class Opaque(XdrType[bytes]):
    """Variable-length opaque data of at most *max_length* bytes."""

    def __init__(self, max_length: int = 0xFFFFFFFF) -> None:
        self.max_length = max_length

    def pack(self, out: bytearray, value: bytes) -> None:
        n = len(value)
        if n > self.max_length:
            raise XdrError(f"opaque of {n} bytes exceeds maximum {self.max_length}")
        out += _U32.pack(n)
        out += value
        out += _PAD[n & 3]

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[bytes, int]:
        try:
            n = _U32.unpack_from(data, offset)[0]
        except _struct.error:
            raise XdrError("truncated opaque length", offset=offset) from None
        if n > self.max_length:
            raise XdrError(f"opaque length {n} exceeds maximum {self.max_length}", offset=offset)
        start = offset + 4
        end = start + n
        if end + _pad(n) > len(data):
            raise XdrError(f"opaque of {n} bytes runs past end of input", offset=offset)
        return bytes(data[start:end]), end + _pad(n)

    def __repr__(self) -> str:
        return f"Opaque({self.max_length})"


class FixedOpaque(XdrType[bytes]):
    """Fixed-length opaque data of exactly *length* bytes (padded to 4)."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.fixed_size = length + _pad(length)  # type: ignore[misc]

    def pack(self, out: bytearray, value: bytes) -> None:
        if len(value) != self.length:
            raise XdrError(f"fixed opaque needs {self.length} bytes, got {len(value)}")
        out += value
        out += _PAD[self.length & 3]

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[bytes, int]:
        end = offset + self.length
        if end + _pad(self.length) > len(data):
            raise XdrError(f"truncated fixed opaque[{self.length}]", offset=offset)
        return bytes(data[offset:end]), end + _pad(self.length)

    def _gen_unpack(self, ns: dict[str, Any], var: str, lines: list[str], indent: str) -> None:
        ns["_Err"] = XdrError
        size = self.length + _pad(self.length)
        lines += [
            f"{indent}if off + {size} > ln: raise _Err('truncated')",
            f"{indent}{var} = bytes(data[off:off + {self.length}])",
            f"{indent}off += {size}",
        ]

    def __repr__(self) -> str:
        return f"FixedOpaque({self.length})"


class Array(XdrType[list[T]]):
    """A variable-length array of at most *max_length* elements of *element*."""

    def __init__(self, element: XdrType[T] | type, max_length: int = 0xFFFFFFFF) -> None:
        self.element: XdrType[T] = codec_for(element)
        self.max_length = max_length

    def pack(self, out: bytearray, value: Sequence[T]) -> None:
        n = len(value)
        if n > self.max_length:
            raise XdrError(f"array of {n} elements exceeds maximum {self.max_length}")
        out += _U32.pack(n)
        _pack_items(self.element, out, value)

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[list[T], int]:
        try:
            n = _U32.unpack_from(data, offset)[0]
        except _struct.error:
            raise XdrError("truncated array length", offset=offset) from None
        if n > self.max_length:
            raise XdrError(f"array length {n} exceeds maximum {self.max_length}", offset=offset)
        return _unpack_n(self.element, n, data, offset + 4)

    def __repr__(self) -> str:
        return f"Array({self.element!r}, {self.max_length})"


class FixedArray(XdrType[list[T]]):
    """A fixed-length array of exactly *length* elements of *element*."""

    def __init__(self, element: XdrType[T] | type, length: int) -> None:
        self.element: XdrType[T] = codec_for(element)
        self.length = length
        if self.element.fixed_size is not None:
            self.fixed_size = self.element.fixed_size * length  # type: ignore[misc]

    def pack(self, out: bytearray, value: Sequence[T]) -> None:
        if len(value) != self.length:
            raise XdrError(f"fixed array needs {self.length} elements, got {len(value)}")
        _pack_items(self.element, out, value)

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[list[T], int]:
        return _unpack_n(self.element, self.length, data, offset)

    def __repr__(self) -> str:
        return f"FixedArray({self.element!r}, {self.length})"


def _pack_items(element: XdrType[T], out: bytearray, value: Sequence[T]) -> None:
    pack = element.pack
    for i, item in enumerate(value):
        try:
            pack(out, item)
        except XdrError as exc:
            raise exc.within(f"[{i}]") from None


def _unpack_n(
    element: XdrType[T], n: int, data: bytes | memoryview, offset: int
) -> tuple[list[T], int]:
    size = element.fixed_size
    if size is not None and offset + n * size > len(data):
        # Check before looping so that a huge count cannot make us spin or allocate.
        raise XdrError(f"array of {n} elements runs past end of input", offset=offset)
    if size is None and n > len(data) - offset:
        # Every element takes at least... well, at least nothing (void), but the element
        # types we accept in arrays take >= 4 bytes; this bounds the loop by input size.
        raise XdrError(f"array of {n} elements runs past end of input", offset=offset)
    fmt = element._fmt
    if fmt is not None and not isinstance(element, _Bool):
        values = list(_struct.unpack_from(f">{n}{fmt}", data, offset))
        return values, offset + n * (size or 0)
    out: list[T] = []
    unpack = element.unpack
    for i in range(n):
        try:
            item, offset = unpack(data, offset)
        except XdrError as exc:
            raise exc.within(f"[{i}]") from None
        out.append(item)
    return out, offset


class Optional(XdrType["T | None"]):
    """XDR optional data (``T *``): a bool discriminant, then the value when it is true."""

    def __init__(self, element: XdrType[T] | type) -> None:
        self.element: XdrType[T] = codec_for(element)

    def pack(self, out: bytearray, value: T | None) -> None:
        if value is None:
            out += b"\0\0\0\0"
        else:
            out += b"\0\0\0\1"
            self.element.pack(out, value)

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[T | None, int]:
        try:
            present = _U32.unpack_from(data, offset)[0]
        except _struct.error:
            raise XdrError("truncated optional discriminant", offset=offset) from None
        if not present:
            return None, offset + 4
        return self.element.unpack(data, offset + 4)

    def __repr__(self) -> str:
        return f"Optional({self.element!r})"


class UnionValue(typing.NamedTuple):
    """A decoded discriminated union: the discriminant and the arm's value."""

    tag: int
    value: Any


class Union(XdrType[UnionValue]):
    """A discriminated union.

    :param name: used in error messages.
    :param arms: discriminant value -> arm type (``VOID`` for an empty arm).
    :param default: arm type for any other discriminant; ``None`` means such values are invalid.
    :param discriminant: ``INT``, ``UINT``, ``BOOL`` or an :class:`Enum`.
    """

    def __init__(
        self,
        name: str,
        arms: Mapping[int, XdrType[Any] | type],
        *,
        default: XdrType[Any] | type | None = None,
        discriminant: XdrType[Any] = INT,
    ) -> None:
        self.name = name
        self.arms = {int(k): codec_for(v) for k, v in arms.items()}
        self.default = codec_for(default) if default is not None else None
        self.discriminant = discriminant

    def _arm(self, tag: int, offset: int | None = None) -> XdrType[Any]:
        arm = self.arms.get(tag, self.default)
        if arm is None:
            raise XdrError(f"bad {self.name} discriminant {tag}", offset=offset)
        return arm

    def pack(self, out: bytearray, value: UnionValue | tuple[int, Any]) -> None:
        tag, inner = value
        arm = self._arm(tag)
        self.discriminant.pack(out, tag)
        try:
            arm.pack(out, inner)
        except XdrError as exc:
            raise exc.within(f"{self.name}<{tag}>") from None

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[UnionValue, int]:
        tag, pos = self.discriminant.unpack(data, offset)
        arm = self._arm(int(tag), offset)
        try:
            inner, pos = arm.unpack(data, pos)
        except XdrError as exc:
            raise exc.within(f"{self.name}<{tag}>") from None
        return UnionValue(tag, inner), pos

    def __repr__(self) -> str:
        return f"Union({self.name})"


# --------------------------------------------------------------------------------------------
# Structs


class Struct(XdrType[Any]):
    """The codec of a class declared with :func:`struct` (reachable as ``cls.xdr``)."""

    def __init__(self, cls: type, fields: list[tuple[str, XdrType[Any]]]) -> None:
        self.cls = cls
        self.fields = fields
        sizes = [t.fixed_size for _, t in fields]
        if all(s is not None for s in sizes):
            self.fixed_size = sum(s for s in sizes if s is not None)  # type: ignore[misc]
        self._fast_unpack, self._fast_pack = _compile(cls, fields)

    def pack(self, out: bytearray, value: Any) -> None:
        try:
            self._fast_pack(out, value)
        except Exception:
            # Redo field by field to say which field is wrong.
            self._slow_pack(bytearray(), value)
            raise

    def encode(self, value: Any) -> bytes:
        """Return the encoding of *value* as bytes (as :meth:`pack` does, one call less:
        every reply is encoded here)."""
        out = bytearray()
        try:
            self._fast_pack(out, value)
        except Exception:
            self._slow_pack(bytearray(), value)
            raise
        return bytes(out)

    def _slow_pack(self, out: bytearray, value: Any) -> None:
        if not isinstance(value, self.cls):
            raise XdrError(f"expected {self.cls.__name__}, got {type(value).__name__}")
        for name, codec in self.fields:
            try:
                codec.pack(out, getattr(value, name))
            except XdrError as exc:
                raise exc.within(f"{self.cls.__name__}.{name}") from None

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[Any, int]:
        try:
            return self._fast_unpack(data, offset)
        except (XdrError, _struct.error, ValueError, IndexError):
            pass
        return self._slow_unpack(data, offset)

    def _slow_unpack(self, data: bytes | memoryview, offset: int) -> tuple[Any, int]:
        values = []
        for name, codec in self.fields:
            try:
                value, offset = codec.unpack(data, offset)
            except XdrError as exc:
                raise exc.within(f"{self.cls.__name__}.{name}") from None
            values.append(value)
        # The fast path failed but the slow path did not: this can only be a bug in the
        # generated code, so trust the slow path's result.
        return self.cls(*values), offset

    def _gen_unpack(self, ns: dict[str, Any], var: str, lines: list[str], indent: str) -> None:
        name = f"_t{len(ns)}"
        ns[name] = self._fast_unpack
        lines.append(f"{indent}{var}, off = {name}(data, off)")

    def _gen_pack(self, ns: dict[str, Any], expr: str, lines: list[str], indent: str) -> None:
        name = f"_t{len(ns)}"
        ns[name] = self._fast_pack
        lines.append(f"{indent}{name}(out, {expr})")

    def __repr__(self) -> str:
        return f"Struct({self.cls.__name__})"


def _compile(
    cls: type, fields: list[tuple[str, XdrType[Any]]]
) -> tuple[Callable[[Any, int], tuple[Any, int]], Callable[[bytearray, Any], None]]:
    """Generate the fast unpack and pack functions of a struct."""
    ns: dict[str, Any] = {"_cls": cls, "_Err": XdrError, "_struct": _struct}
    un: list[str] = ["def unpack(data, off):", "    ln = len(data)"]
    pk: list[str] = ["def pack(out, v):"]
    names: list[str] = []
    run: list[tuple[str, XdrType[Any]]] = []

    def flush_run() -> None:
        if not run:
            return
        fmt = ">" + "".join(t._fmt or "" for _, t in run)
        s = _struct.Struct(fmt)
        key = f"_s{len(ns)}"
        ns[key] = s
        targets = ", ".join(f"f_{n}" for n, _ in run)
        un.append(f"    {targets}, = {key}.unpack_from(data, off)")
        un.append(f"    off += {s.size}")
        for n, t in run:
            if isinstance(t, _Bool):
                un.append(f"    f_{n} = f_{n} != 0")
        args = ", ".join(
            (f"1 if v.{n} else 0" if isinstance(t, _Bool) else f"v.{n}") for n, t in run
        )
        pk.append(f"    out += {key}.pack({args})")
        run.clear()

    for name, codec in fields:
        names.append(f"f_{name}")
        if codec._fmt is not None:
            run.append((name, codec))
            continue
        flush_run()
        codec._gen_unpack(ns, f"f_{name}", un, "    ")
        codec._gen_pack(ns, f"v.{name}", pk, "    ")
    flush_run()
    un.append(f"    return _cls({', '.join(names)}), off")
    if len(pk) == 1:
        pk.append("    pass")
    src = "\n".join(un) + "\n\n" + "\n".join(pk) + "\n"
    exec(compile(src, f"<xdr struct {cls.__qualname__}>", "exec"), ns)
    return ns["unpack"], ns["pack"]


def codec_for(annotation: Any) -> XdrType[Any]:
    """Return the XDR type for a field annotation, a struct class, an IntEnum or a codec.

    :raises TypeError: if the annotation carries no XDR type.
    """
    if isinstance(annotation, XdrType):
        return annotation
    if isinstance(annotation, type):
        codec = getattr(annotation, "xdr", None)
        if isinstance(codec, XdrType):
            return codec
        if issubclass(annotation, enum.IntEnum):
            return Enum(annotation)
    if typing.get_origin(annotation) is Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, XdrType):
                return meta
    raise TypeError(f"no XDR type for annotation {annotation!r}")


@typing.dataclass_transform()
def struct(cls: _C) -> _C:
    """Class decorator: make *cls* a slotted dataclass with a compiled XDR codec at ``cls.xdr``.

    Fields are coded in declaration order.  Forward references to structs declared later are
    not supported: declare dependencies first, as in a ``.x`` file.
    """
    module = sys.modules.get(cls.__module__)
    hints = typing.get_type_hints(
        cls, globalns=vars(module) if module else None, include_extras=True
    )
    own = inspect.get_annotations(cls)
    fields = [(name, codec_for(hints[name])) for name in own if name != "xdr"]
    dc: Any = dataclasses.dataclass(slots=True)(cls)
    dc.xdr = Struct(dc, fields)
    return typing.cast(_C, dc)
