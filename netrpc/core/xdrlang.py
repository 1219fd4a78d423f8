"""The XDR language (RFC 4506 section 6, RFC 5531 section 12) compiled to netrpc.core.xdr types.

A daemon author who has the ``.x`` file of a protocol does not need to translate it by hand::

    from . import xdrlang

    spec = xdrlang.compile_xdr('''
        const NAME_MAX = 256;
        typedef string name<NAME_MAX>;
        struct greet_args { name who; unsigned int flags; };
        struct greet_ret { name text; };
        program GREETER {
            version GREETER_V1 {
                greet_ret GREET(greet_args) = 1;
                void PING(void) = 2;
            } = 1;
        } = 0x20240001;
    ''')
    GreetArgs = spec.cls("greet_args")        # an @xdr.struct class: GreetArgs(who=..., flags=0)
    codec = spec.type("greet_ret")            # an xdr.XdrType
    for proc in spec.programs[0].versions[0].procedures:
        print(proc.number, proc.name, proc.args, proc.ret)

What the language maps to
-------------------------
======================================  =====================================================
XDR                                     netrpc.xdr
======================================  =====================================================
``int``, ``unsigned int``, ``hyper``,   :data:`~netrpc.core.xdr.INT`, ``UINT``, ``HYPER``,
``unsigned hyper``, ``float``,          ``UHYPER``, ``FLOAT``, ``DOUBLE``, ``BOOL``
``double``, ``bool``
``char``, ``short``, ``long`` and their  ``INT`` / ``UINT``: like rpcgen, every one of them
``unsigned`` forms, ``u_int``...        takes four bytes on the wire
``enum``                                ``INT`` (any value decodes, as rpcgen's ``xdr_enum``);
                                        an :class:`enum.IntEnum` is available from
                                        :meth:`XdrSpec.enum`; ``strict_enums=True`` makes
                                        fields :class:`~netrpc.core.xdr.Enum` (unknown values fail)
``struct``                              a slotted dataclass with a compiled codec at
                                        ``cls.xdr``: exactly what :func:`netrpc.core.xdr.struct`
                                        makes, so it is as fast as a hand-declared one
``union switch (...)``                  :class:`~netrpc.core.xdr.Union` (values are
                                        :class:`~netrpc.core.xdr.UnionValue`), ``default`` arm too
``T x[N]`` / ``T x<N>`` / ``T x<>``     :class:`~netrpc.core.xdr.FixedArray` / ``Array``
``opaque x[N]`` / ``opaque x<N>``       :class:`~netrpc.core.xdr.FixedOpaque` / ``Opaque``
``string x<N>``                         :class:`~netrpc.core.xdr.String`
``T *x``                                :class:`~netrpc.core.xdr.Optional`
``typedef``                             the same type under another name
``const``                               an integer, usable as a limit or a case value
``program``/``version``/procedures      :class:`ProgramDecl` / :class:`VersionDecl` /
                                        :class:`ProcedureDecl`
======================================  =====================================================

Limits may be constants of the text, enum members, or names given in ``constants=`` (for the
values a ``.x`` file takes from C headers).  ``%`` pass-through lines and ``#`` preprocessor
lines are ignored, as are comments.  Python names: a struct ``remote_domain_get_info_ret``
becomes the class ``DomainGetInfoRet`` when ``strip_prefixes=("remote_",)`` is given (CamelCase
of the rest); fields keep their ``.x`` names (a field named like a Python keyword gets a trailing
underscore).  A type may only refer to types that exist (declared anywhere in the text, or in
the ``imports=`` of another spec): forward references are fine, recursive types are not.

Compiling is lazy: :func:`compile_xdr` parses the text (fast), and each type is built the first
time it is asked for, with the types it uses.  :meth:`XdrSpec.compile_all` builds everything
at once (to check a text, or to pay the cost up front).  :func:`default_value` gives the
"zero" value of any type (0, empty string, empty array, absent optional, first union arm),
handy to build well-formed test calls.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
import keyword
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from . import xdr

__all__ = (
    "EnumDecl",
    "FieldDecl",
    "LazyType",
    "ProcedureDecl",
    "ProgramDecl",
    "StructDecl",
    "TypedefDecl",
    "UnionDecl",
    "VersionDecl",
    "XdrLangError",
    "XdrSpec",
    "camel_name",
    "compile_xdr",
    "default_value",
    "parse",
    "wire_shape",
)


class XdrLangError(ValueError):
    """A syntax or semantic error in XDR-language text, with the line it was found on."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


# --------------------------------------------------------------------------------------------
# Declarations (the parse tree)

#: a size or case value: an integer, or the name of a constant
Value = int | str


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A type specifier: a base type (``"int"``, ``"unsigned hyper"``...) or a declared name,
    or an inline struct/union/enum declaration."""

    name: str
    inline: StructDecl | UnionDecl | EnumDecl | None = None


@dataclass(frozen=True, slots=True)
class FieldDecl:
    """One declaration: ``type name``, with its array/optional/string/opaque form.

    :ivar kind: ``"plain"``, ``"fixed"`` (``[N]``), ``"var"`` (``<N>``), ``"optional"``
        (``*``), ``"string"``, ``"fixed_opaque"``, ``"opaque"`` or ``"void"``.
    :ivar size: the ``N`` of the fixed/variable forms (None: no maximum).
    """

    name: str
    type: TypeRef
    kind: str = "plain"
    size: Value | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class StructDecl:
    """``struct name { fields };``"""

    name: str
    fields: tuple[FieldDecl, ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class UnionDecl:
    """``union name switch (discriminant) { case V: arm; ... default: arm; };``"""

    name: str
    discriminant: FieldDecl
    arms: tuple[tuple[tuple[Value, ...], FieldDecl], ...]
    default: FieldDecl | None
    line: int = 0


@dataclass(frozen=True, slots=True)
class EnumDecl:
    """``enum name { A = 1, B = 2 };`` (a member without a value follows the previous one)."""

    name: str
    members: tuple[tuple[str, Value | None], ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class TypedefDecl:
    """``typedef declaration;``"""

    name: str
    decl: FieldDecl
    line: int = 0


@dataclass(frozen=True, slots=True)
class ProcedureDecl:
    """One procedure of a program version.

    :ivar args: the argument type's name in the text, or None for ``void``.
    :ivar ret: the result type's name in the text, or None for ``void``.
    """

    number: int
    name: str
    args: str | None
    ret: str | None


@dataclass(frozen=True, slots=True)
class VersionDecl:
    """``version NAME { procedures } = N;``"""

    name: str
    number: int
    procedures: tuple[ProcedureDecl, ...]


@dataclass(frozen=True, slots=True)
class ProgramDecl:
    """``program NAME { versions } = N;``"""

    name: str
    number: int
    versions: tuple[VersionDecl, ...]


@dataclass(slots=True)
class Parsed:
    """Everything a text declares, in order of appearance."""

    constants: dict[str, Value] = field(default_factory=dict)
    types: dict[str, StructDecl | UnionDecl | EnumDecl | TypedefDecl] = field(
        default_factory=dict
    )
    programs: list[tuple[str, Value, list[tuple[str, Value, list[tuple[Value, str, str | None,
                                                                      str | None]]]]]] = (
        field(default_factory=list)
    )


# --------------------------------------------------------------------------------------------
# Lexer and parser

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<nl>\n)
  | (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<directive>^[ \t]*[%\#][^\n]*)
  | (?P<number>-?(?:0[xX][0-9a-fA-F]+|[0-9]+))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[{}()\[\]<>;,=*:])
    """,
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)

_SIMPLE: Final[dict[str, xdr.XdrType[Any]]] = {
    "int": xdr.INT,
    "unsigned int": xdr.UINT,
    "hyper": xdr.HYPER,
    "unsigned hyper": xdr.UHYPER,
    "float": xdr.FLOAT,
    "double": xdr.DOUBLE,
    "bool": xdr.BOOL,
    # rpcgen's C-flavoured extras: all of them four bytes on the wire
    "char": xdr.INT,
    "unsigned char": xdr.UINT,
    "short": xdr.INT,
    "unsigned short": xdr.UINT,
    "long": xdr.INT,
    "unsigned long": xdr.UINT,
    "u_int": xdr.UINT,
    "u_char": xdr.UINT,
    "u_short": xdr.UINT,
    "u_long": xdr.UINT,
    "int32_t": xdr.INT,
    "uint32_t": xdr.UINT,
    "int64_t": xdr.HYPER,
    "uint64_t": xdr.UHYPER,
    "u_int32_t": xdr.UINT,
    "u_int64_t": xdr.UHYPER,
}
_KEYWORDS: Final = frozenset(
    {"const", "typedef", "struct", "union", "enum", "switch", "case", "default", "program",
     "version", "void", "opaque", "string", "unsigned"}
)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    line = 1
    pos = 0
    end = len(text)
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            raise XdrLangError(f"unexpected character {text[pos]!r}", line)
        kind = m.lastgroup
        value = m.group()
        pos = m.end()
        if kind == "nl":
            line += 1
        elif kind == "comment" or kind == "directive":
            line += value.count("\n")
        elif kind != "ws":
            tokens.append((kind or "", value, line))
    tokens.append(("eof", "", line))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.out = Parsed()
        self._anon = 0

    # -- token helpers
    def peek(self, ahead: int = 0) -> str:
        return self.tokens[self.pos + ahead][1]

    @property
    def line(self) -> int:
        return self.tokens[self.pos][2]

    def take(self) -> str:
        tok = self.tokens[self.pos]
        if tok[0] == "eof":
            raise XdrLangError("unexpected end of text", tok[2])
        self.pos += 1
        return tok[1]

    def expect(self, value: str) -> None:
        got = self.take()
        if got != value:
            raise XdrLangError(f"expected {value!r}, got {got!r}", self.tokens[self.pos - 1][2])

    def accept(self, value: str) -> bool:
        if self.tokens[self.pos][1] == value and self.tokens[self.pos][0] != "eof":
            self.pos += 1
            return True
        return False

    def ident(self) -> str:
        kind, value, line = self.tokens[self.pos]
        if kind != "ident" or value in _KEYWORDS:
            raise XdrLangError(f"expected a name, got {value or 'end of text'!r}", line)
        self.pos += 1
        return value

    def value(self) -> Value:
        kind, value, line = self.tokens[self.pos]
        if kind == "number":
            self.pos += 1
            return int(value, 0) if not re.fullmatch(r"-?0[0-7]+", value) else int(value, 8)
        if kind == "ident" and value not in _KEYWORDS:
            self.pos += 1
            return value
        raise XdrLangError(f"expected a number or a constant, got {value!r}", line)

    # -- definitions
    def parse(self) -> Parsed:
        while self.tokens[self.pos][0] != "eof":
            line = self.line
            word = self.take()
            if word == "const":
                name = self.ident()
                self.expect("=")
                self.add_const(name, self.value(), line)
            elif word == "typedef":
                decl = self.declaration()
                if decl.kind == "void":
                    raise XdrLangError("typedef of void", line)
                self.add_type(TypedefDecl(decl.name, decl, line), line)
            elif word == "struct":
                name = self.ident()
                self.add_type(self.struct_body(name, line), line)
            elif word == "union":
                name = self.ident()
                self.add_type(self.union_body(name, line), line)
            elif word == "enum":
                name = self.ident()
                self.add_type(self.enum_body(name, line), line)
            elif word == "program":
                self.program()
            else:
                raise XdrLangError(f"expected a definition, got {word!r}", line)
            self.expect(";")
        return self.out

    def add_const(self, name: str, value: Value, line: int) -> None:
        if name in self.out.constants:
            raise XdrLangError(f"constant {name} defined twice", line)
        self.out.constants[name] = value

    def add_type(self, decl: StructDecl | UnionDecl | EnumDecl | TypedefDecl, line: int) -> None:
        if decl.name in self.out.types:
            raise XdrLangError(f"type {decl.name} defined twice", line)
        self.out.types[decl.name] = decl
        if isinstance(decl, EnumDecl):
            for member, value in decl.members:
                self.add_const(member, value if value is not None else f"{decl.name}+", line)

    def struct_body(self, name: str, line: int) -> StructDecl:
        self.expect("{")
        fields: list[FieldDecl] = []
        while not self.accept("}"):
            decl = self.declaration(owner=name)
            self.expect(";")
            if decl.kind != "void":
                fields.append(decl)
        return StructDecl(name, tuple(fields), line)

    def union_body(self, name: str, line: int) -> UnionDecl:
        self.expect("switch")
        self.expect("(")
        disc = self.declaration(owner=name)
        self.expect(")")
        self.expect("{")
        arms: list[tuple[tuple[Value, ...], FieldDecl]] = []
        default: FieldDecl | None = None
        while not self.accept("}"):
            if self.accept("default"):
                self.expect(":")
                default = self.declaration(owner=name)
                self.expect(";")
                continue
            values: list[Value] = []
            while self.accept("case"):
                values.append(self.value())
                self.expect(":")
            if not values:
                raise XdrLangError(f"expected 'case' or 'default', got {self.peek()!r}", self.line)
            arm = self.declaration(owner=name)
            self.expect(";")
            arms.append((tuple(values), arm))
        return UnionDecl(name, disc, tuple(arms), default, line)

    def enum_body(self, name: str, line: int) -> EnumDecl:
        self.expect("{")
        members: list[tuple[str, Value | None]] = []
        while True:
            member = self.ident()
            value: Value | None = self.value() if self.accept("=") else None
            members.append((member, value))
            if self.accept("}"):
                break
            self.expect(",")
            if self.accept("}"):  # a trailing comma, as C allows
                break
        return EnumDecl(name, tuple(members), line)

    def type_specifier(self, owner: str, field_name: str) -> TypeRef:
        line = self.line
        word = self.take()
        if word == "unsigned":
            nxt = self.peek()
            if nxt in ("int", "hyper", "char", "short", "long"):
                self.pos += 1
                return TypeRef(f"unsigned {nxt}")
            return TypeRef("unsigned int")
        if word in ("struct", "union", "enum"):
            if self.peek() != "{":
                # "struct foo x;": C style reference to a declared type
                return TypeRef(self.ident())
            inline_name = f"{owner}_{field_name}" if owner else f"anon{self._anon}"
            self._anon += 1
            inline: StructDecl | UnionDecl | EnumDecl
            if word == "struct":
                inline = self.struct_body(inline_name, line)
            elif word == "union":
                inline = self.union_body(inline_name, line)
            else:
                inline = self.enum_body(inline_name, line)
                for member, value in inline.members:
                    self.add_const(member, value if value is not None else f"{inline_name}+",
                                   line)
            return TypeRef(inline_name, inline)
        if word in _SIMPLE:
            return TypeRef(word)
        if word in _KEYWORDS or not re.fullmatch(r"[A-Za-z_]\w*", word):
            raise XdrLangError(f"expected a type, got {word!r}", line)
        return TypeRef(word)

    def declaration(self, owner: str = "") -> FieldDecl:
        line = self.line
        if self.accept("void"):
            return FieldDecl("", TypeRef("void"), "void", None, line)
        if self.accept("opaque"):
            name = self.ident()
            if self.accept("["):
                size = self.value()
                self.expect("]")
                return FieldDecl(name, TypeRef("opaque"), "fixed_opaque", size, line)
            return FieldDecl(name, TypeRef("opaque"), "opaque", self.var_size(), line)
        if self.accept("string"):
            name = self.ident()
            return FieldDecl(name, TypeRef("string"), "string", self.var_size(), line)
        # The field name is only known after the type: peek it for inline type names.
        tref = self.type_specifier(owner, self._field_name_ahead())
        if self.accept("*"):
            return FieldDecl(self.ident(), tref, "optional", None, line)
        name = self.ident()
        if self.accept("["):
            size = self.value()
            self.expect("]")
            return FieldDecl(name, tref, "fixed", size, line)
        if self.peek() == "<":
            return FieldDecl(name, tref, "var", self.var_size(), line)
        return FieldDecl(name, tref, "plain", None, line)

    def _field_name_ahead(self) -> str:
        # For "struct { ... } name": find the name after the matching brace.
        if self.peek() in ("struct", "union", "enum") and self.peek(1) == "{":
            depth = 0
            i = self.pos
            while self.tokens[i][0] != "eof":
                tok = self.tokens[i][1]
                if tok == "{":
                    depth += 1
                elif tok == "}":
                    depth -= 1
                    if depth == 0:
                        nxt = self.tokens[i + 1]
                        if nxt[1] == "*":
                            nxt = self.tokens[i + 2]
                        return nxt[1]
                i += 1
        return ""

    def var_size(self) -> Value | None:
        self.expect("<")
        if self.accept(">"):
            return None
        size = self.value()
        self.expect(">")
        return size

    def program(self) -> None:
        name = self.ident()
        self.expect("{")
        versions: list[tuple[str, Value, list[tuple[Value, str, str | None, str | None]]]] = []
        while not self.accept("}"):
            self.expect("version")
            vname = self.ident()
            self.expect("{")
            procs: list[tuple[Value, str, str | None, str | None]] = []
            while not self.accept("}"):
                ret = self.proc_type()
                pname = self.ident()
                self.expect("(")
                args = self.proc_type()
                if self.peek() == ",":
                    raise XdrLangError(
                        f"{pname}: procedures with several arguments are not supported",
                        self.line,
                    )
                self.expect(")")
                self.expect("=")
                procs.append((self.value(), pname, args, ret))
                self.expect(";")
            self.expect("=")
            versions.append((vname, self.value(), procs))
            self.expect(";")
        self.expect("=")
        self.out.programs.append((name, self.value(), versions))

    def proc_type(self) -> str | None:
        if self.accept("void"):
            return None
        ref = self.type_specifier("", "")
        if ref.inline is not None:
            raise XdrLangError("procedure types must be named", self.line)
        return ref.name


def parse(text: str) -> Parsed:
    """Parse XDR-language *text* into declarations, without building any type.

    :raises XdrLangError: on a syntax error (with its line number).
    """
    return _Parser(text).parse()


# --------------------------------------------------------------------------------------------
# Compiling


def camel_name(name: str, strip_prefixes: Iterable[str] = ()) -> str:
    """The Python class name of an XDR type name: prefix stripped, then CamelCase.

    ``camel_name("remote_domain_get_info_ret", ("remote_",)) == "DomainGetInfoRet"``
    """
    for prefix in strip_prefixes:
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix):]
            break
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


class LazyType(xdr.XdrType[Any]):
    """An XDR type built on first use.

    After its first ``pack``/``unpack`` it binds the real type's methods on itself, so a
    lazily resolved type costs nothing more per call than the real one.
    """

    def __init__(self, name: str, build: Any, shape: Any = None) -> None:
        self.name = name
        self._build = build
        self._shape = shape
        self._real: xdr.XdrType[Any] | None = None

    def shape(self) -> tuple[Any, ...]:
        """:func:`wire_shape` of the type, without building it when that can be avoided."""
        if self._real is None and self._shape is not None:
            result: tuple[Any, ...] = self._shape()
            return result
        return wire_shape(self.real)

    @property
    def built(self) -> bool:
        """True once the type itself was built (:attr:`real`)."""
        return self._real is not None

    @property
    def real(self) -> xdr.XdrType[Any]:
        """The type itself (built now if needed)."""
        if self._real is None:
            real = self._real = self._build()
            self.pack = real.pack  # type: ignore[method-assign]
            self.unpack = real.unpack  # type: ignore[method-assign]
        return self._real

    def pack(self, out: bytearray, value: Any) -> None:
        self.real.pack(out, value)

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[Any, int]:
        return self.real.unpack(data, offset)

    def __repr__(self) -> str:
        return f"LazyType({self.name})"


_IntEnum = enum.IntEnum


def _make_int_enum(name: str, members: list[tuple[str, int]], module: str) -> type[_IntEnum]:
    made: Any = enum.IntEnum(name, members, module=module)  # type: ignore[misc]
    return made


class XdrSpec:
    """The compiled form of an XDR-language text: constants, types, classes and programs.

    Build it with :func:`compile_xdr`.  Types are built on first use (see the module docs).
    """

    def __init__(
        self,
        parsed: Parsed,
        *,
        constants: Mapping[str, int] | None = None,
        imports: Iterable[XdrSpec] = (),
        strip_prefixes: Iterable[str] = (),
        strict_enums: bool = False,
        module: str | None = None,
    ) -> None:
        self._parsed = parsed
        self._external = dict(constants or {})
        self._imports = tuple(imports)
        self.strip_prefixes = tuple(strip_prefixes)
        self.strict_enums = strict_enums
        self.module = module or __name__
        self._types: dict[str, xdr.XdrType[Any]] = {}
        self._shapes: dict[str, tuple[Any, ...]] = {}
        self._enums: dict[str, builtins.type[_IntEnum]] = {}
        self._building: set[str] = set()
        self._constants: dict[str, int] | None = None
        self._programs: list[ProgramDecl] | None = None

    # -- names
    @property
    def declarations(self) -> Mapping[str, StructDecl | UnionDecl | EnumDecl | TypedefDecl]:
        """Type declarations by their name in the text, in order."""
        return self._parsed.types

    def python_name(self, name: str) -> str:
        """The class name a type of the text gets (see :func:`camel_name`)."""
        return camel_name(name, self.strip_prefixes)

    def __contains__(self, name: object) -> bool:
        return name in self._parsed.types or any(name in spec for spec in self._imports)

    # -- constants
    @property
    def constants(self) -> Mapping[str, int]:
        """Every constant (``const`` and enum members) with its integer value."""
        if self._constants is None:
            self._constants = self._resolve_constants()
        return self._constants

    def _resolve_constants(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for spec in self._imports:
            out.update(spec.constants)
        out.update(self._external)
        raw = self._parsed.constants
        # enum members without a value follow the previous member of their enum
        previous: dict[str, str | None] = {}
        for decl in self._all_enums():
            last: str | None = None
            for member, _ in decl.members:
                previous[member] = last
                last = member
        resolving: set[str] = set()

        def resolve(name: str) -> int:
            if name in out:
                return out[name]
            if name not in raw:
                raise XdrLangError(f"unknown constant {name}")
            if name in resolving:
                raise XdrLangError(f"constant {name} is defined in terms of itself")
            resolving.add(name)
            value = raw[name]
            if isinstance(value, str) and value.endswith("+"):  # implicit enum value
                prev = previous.get(name)
                result = resolve(prev) + 1 if prev is not None else 0
            elif isinstance(value, str):
                result = resolve(value)
            else:
                result = value
            resolving.discard(name)
            out[name] = result
            return result

        for name in raw:
            resolve(name)
        return out

    def _all_enums(self) -> Iterator[EnumDecl]:
        for decl in self._parsed.types.values():
            yield from _enums_in(decl)

    def _size(self, value: Value | None, line: int) -> int | None:
        if value is None or isinstance(value, int):
            return value
        try:
            return self.constants[value]
        except KeyError:
            raise XdrLangError(f"unknown constant {value}", line) from None

    # -- types
    def type(self, name: str) -> xdr.XdrType[Any]:
        """The XDR type declared as *name* (built now, with what it uses, if needed).

        :raises KeyError: if the text and its imports declare no such type.
        :raises XdrLangError: if the declaration is wrong (unknown names, recursion...).
        """
        found = self._types.get(name)
        if found is not None:
            return found
        decl = self._parsed.types.get(name)
        if decl is None:
            for spec in self._imports:
                if name in spec:
                    return spec.type(name)
            raise KeyError(name)
        if name in self._building:
            raise XdrLangError(f"type {name} refers to itself (recursive types are not "
                               "supported)", decl.line)
        self._building.add(name)
        try:
            built = self._build(decl)
        finally:
            self._building.discard(name)
        self._types[name] = built
        return built

    def lazy(self, name: str) -> xdr.XdrType[Any]:
        """*name*'s type if it is built already, else a :class:`LazyType` that builds it."""
        if name not in self:
            raise KeyError(name)
        return self._types.get(name) or LazyType(
            name, lambda: self.type(name), lambda: self.shape(name)
        )

    def cls(self, name: str) -> builtins.type:
        """The Python class of struct *name* (a typedef of a struct gives the struct's class).

        :raises TypeError: if *name* is not a struct.
        """
        codec = self.type(name)
        if not isinstance(codec, xdr.Struct):
            raise TypeError(f"{name} is not a struct")
        return codec.cls

    def enum(self, name: str) -> builtins.type[_IntEnum]:
        """The :class:`enum.IntEnum` of enum *name*."""
        found = self._enums.get(name)
        if found is not None:
            return found
        decl = self._parsed.types.get(name)
        if decl is None:
            for spec in self._imports:
                if name in spec:
                    return spec.enum(name)
            raise KeyError(name)
        if isinstance(decl, TypedefDecl) and decl.decl.kind == "plain":
            return self.enum(decl.decl.type.name)
        if not isinstance(decl, EnumDecl):
            raise TypeError(f"{name} is not an enum")
        return self._make_enum(decl)

    def _make_enum(self, decl: EnumDecl) -> builtins.type[_IntEnum]:
        made = self._enums.get(decl.name)
        if made is None:
            members = [(member, self.constants[member]) for member, _ in decl.members]
            made = _make_int_enum(self.python_name(decl.name), members, self.module)
            self._enums[decl.name] = made
        return made

    def names(self) -> list[str]:
        """Every type name the text declares (not its imports), in order."""
        return list(self._parsed.types)

    def shape(self, name: str) -> tuple[Any, ...]:
        """:func:`wire_shape` of type *name*, worked out from the declarations alone (no
        class is built): cheap enough to compare layouts at import time."""
        if name in self._types:
            return wire_shape(self._types[name])
        found = self._shapes.get(name)
        if found is not None:
            return found
        decl = self._parsed.types.get(name)
        if decl is None:
            for spec in self._imports:
                if name in spec:
                    return spec.shape(name)
            raise KeyError(name)
        if name in self._building:
            raise XdrLangError(f"type {name} refers to itself", decl.line)
        self._building.add(name)
        try:
            result = self._decl_shape(decl)
        finally:
            self._building.discard(name)
        self._shapes[name] = result
        return result

    def _decl_shape(self, decl: StructDecl | UnionDecl | EnumDecl | TypedefDecl) -> tuple[Any, ...]:
        if isinstance(decl, TypedefDecl):
            return self._field_shape(decl.decl)
        if isinstance(decl, EnumDecl):
            return ("int",)
        if isinstance(decl, StructDecl):
            return ("struct", tuple(self._field_shape(f) for f in decl.fields))
        arms = []
        for values, arm in decl.arms:
            arm_shape = self._field_shape(arm)
            for value in values:
                arms.append((self._size(value, arm.line), arm_shape))
        default = self._field_shape(decl.default) if decl.default is not None else None
        return ("union", self._field_shape(decl.discriminant), tuple(sorted(arms)), default)

    def _field_shape(self, decl: FieldDecl) -> tuple[Any, ...]:
        kind = decl.kind
        size = self._size(decl.size, decl.line)
        if kind == "void":
            return ("void",)
        if kind == "string":
            return ("string", 0xFFFFFFFF if size is None else size)
        if kind == "opaque":
            return ("opaque", 0xFFFFFFFF if size is None else size)
        if kind == "fixed_opaque":
            return ("opaque[]", size)
        ref = decl.type
        simple = _SIMPLE.get(ref.name)
        if simple is not None:
            base = wire_shape(simple)
        elif ref.inline is not None:
            base = self._decl_shape(ref.inline)
        else:
            try:
                base = self.shape(ref.name)
            except KeyError:
                raise XdrLangError(f"unknown type {ref.name}", decl.line) from None
        if kind == "plain":
            return base
        if kind == "optional":
            return ("optional", base)
        if kind == "fixed":
            return ("array[]", size, base)
        return ("array", 0xFFFFFFFF if size is None else size, base)

    def compile_all(self) -> None:
        """Build every type now (reports the first wrong declaration)."""
        for name in self._parsed.types:
            self.type(name)
        for decl in self._all_enums():
            self._make_enum(decl)

    def _build(self, decl: StructDecl | UnionDecl | EnumDecl | TypedefDecl) -> xdr.XdrType[Any]:
        if isinstance(decl, TypedefDecl):
            return self._field_type(decl.decl)
        if isinstance(decl, EnumDecl):
            return xdr.Enum(self._make_enum(decl)) if self.strict_enums else xdr.INT
        if isinstance(decl, StructDecl):
            return self._build_struct(decl)
        return self._build_union(decl)

    def _ref_type(self, ref: TypeRef, line: int) -> xdr.XdrType[Any]:
        simple = _SIMPLE.get(ref.name)
        if simple is not None:
            return simple
        if ref.inline is not None:
            if ref.name not in self._types:
                self._types[ref.name] = self._build(ref.inline)
            return self._types[ref.name]
        try:
            return self.type(ref.name)
        except KeyError:
            raise XdrLangError(f"unknown type {ref.name}", line) from None

    def _field_type(self, decl: FieldDecl) -> xdr.XdrType[Any]:
        kind = decl.kind
        line = decl.line
        if kind == "void":
            return xdr.VOID
        size = self._size(decl.size, line)
        if kind == "string":
            return xdr.String(size) if size is not None else xdr.String()
        if kind == "opaque":
            return xdr.Opaque(size) if size is not None else xdr.Opaque()
        if kind == "fixed_opaque":
            assert size is not None
            return xdr.FixedOpaque(size)
        base = self._ref_type(decl.type, line)
        if kind == "plain":
            return base
        if kind == "optional":
            return xdr.Optional(base)
        if kind == "fixed":
            assert size is not None
            return xdr.FixedArray(base, size)
        return xdr.Array(base, size) if size is not None else xdr.Array(base)

    def _build_struct(self, decl: StructDecl) -> xdr.Struct:
        fields: list[tuple[str, xdr.XdrType[Any]]] = []
        seen: set[str] = set()
        for f in decl.fields:
            name = f"{f.name}_" if keyword.iskeyword(f.name) else f.name
            if name in seen:
                raise XdrLangError(f"{decl.name}: field {f.name} declared twice", f.line)
            seen.add(name)
            fields.append((name, self._field_type(f)))
        # Only __init__ is generated per class (the costly part of making a dataclass is
        # compiling its methods); __repr__ and __eq__ are shared, they are not on hot paths.
        cls: Any = dataclasses.make_dataclass(
            self.python_name(decl.name),
            [(name, Any) for name, _ in fields],
            slots=True,
            repr=False,
            eq=False,
            namespace={"__repr__": _struct_repr, "__eq__": _struct_eq, "__hash__": None},
        )
        cls.__module__ = self.module
        cls.__doc__ = f"XDR struct ``{decl.name}``."
        cls.xdr = xdr.Struct(cls, fields)
        return cls.xdr  # type: ignore[no-any-return]

    def _build_union(self, decl: UnionDecl) -> xdr.Union:
        disc = self._field_type(decl.discriminant)
        arms: dict[int, xdr.XdrType[Any]] = {}
        for values, arm in decl.arms:
            codec = self._field_type(arm)
            for value in values:
                tag = self._size(value, arm.line)
                assert tag is not None
                if tag in arms:
                    raise XdrLangError(f"{decl.name}: case {value} given twice", arm.line)
                arms[tag] = codec
        default = self._field_type(decl.default) if decl.default is not None else None
        return xdr.Union(decl.name, arms, default=default, discriminant=disc)

    # -- programs
    @property
    def programs(self) -> list[ProgramDecl]:
        """The programs the text declares, with their versions and procedures."""
        if self._programs is None:
            out = []
            for name, number, versions in self._parsed.programs:
                vdecls = []
                for vname, vnumber, procs in versions:
                    pdecls = []
                    for pnumber, pname, args, ret in procs:
                        for tname in (args, ret):
                            if tname is not None and tname not in _SIMPLE and tname not in self:
                                raise XdrLangError(f"{pname}: unknown type {tname}")
                        pdecls.append(ProcedureDecl(self._int(pnumber), pname, args, ret))
                    vdecls.append(VersionDecl(vname, self._int(vnumber), tuple(pdecls)))
                out.append(ProgramDecl(name, self._int(number), tuple(vdecls)))
            self._programs = out
        return self._programs

    def _int(self, value: Value) -> int:
        result = self._size(value, 0)
        assert result is not None
        return result

    def procedure_type(self, name: str | None) -> xdr.XdrType[Any] | None:
        """The type of a procedure's argument or result name (None for ``void``)."""
        if name is None:
            return None
        simple = _SIMPLE.get(name)
        return simple if simple is not None else self.lazy(name)


def _struct_repr(self: Any) -> str:
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
    return f"{type(self).__qualname__}({inner})"


def _struct_eq(self: Any, other: Any) -> Any:
    if type(other) is not type(self):
        return NotImplemented
    return all(getattr(self, n) == getattr(other, n) for n in self.__match_args__)


def _enums_in(decl: StructDecl | UnionDecl | EnumDecl | TypedefDecl) -> Iterator[EnumDecl]:
    if isinstance(decl, EnumDecl):
        yield decl
        return
    fields: list[FieldDecl] = []
    if isinstance(decl, StructDecl):
        fields = list(decl.fields)
    elif isinstance(decl, UnionDecl):
        fields = [decl.discriminant, *(arm for _, arm in decl.arms)]
        if decl.default is not None:
            fields.append(decl.default)
    else:
        fields = [decl.decl]
    for f in fields:
        if f.type.inline is not None:
            yield from _enums_in(f.type.inline)


def compile_xdr(
    text: str,
    *,
    constants: Mapping[str, int] | None = None,
    imports: Iterable[XdrSpec] = (),
    strip_prefixes: Iterable[str] = (),
    strict_enums: bool = False,
    module: str | None = None,
) -> XdrSpec:
    """Compile XDR-language *text*.

    :param constants: values of names the text uses but does not define (C header constants).
    :param imports: specs whose types and constants the text may use (a ``.x`` file that
        includes another).
    :param strip_prefixes: prefixes dropped from type names to make class names.
    :param strict_enums: decode enum fields as :class:`~netrpc.core.xdr.Enum` (unknown values
        fail) rather than as plain ``int``.
    :param module: the ``__module__`` of the generated classes (for repr and pickling).
    :raises XdrLangError: on a syntax error; semantic errors surface when a type is built.
    """
    return XdrSpec(
        parse(text),
        constants=constants,
        imports=imports,
        strip_prefixes=strip_prefixes,
        strict_enums=strict_enums,
        module=module,
    )


# --------------------------------------------------------------------------------------------
# Helpers on built types


def default_value(codec: xdr.XdrType[Any]) -> Any:
    """The "zero" value of *codec*: 0, ``""``, ``b""`` (or zero bytes), ``[]`` (or a full
    fixed array of zeros), None for an optional, the first arm of a union."""
    if isinstance(codec, LazyType):
        codec = codec.real
    if isinstance(codec, xdr.Struct):
        return codec.cls(*(default_value(t) for _, t in codec.fields))
    if isinstance(codec, xdr.String):
        return ""
    if isinstance(codec, xdr.Opaque):
        return b""
    if isinstance(codec, xdr.FixedOpaque):
        return bytes(codec.length)
    if isinstance(codec, xdr.Array):
        return []
    if isinstance(codec, xdr.FixedArray):
        return [default_value(codec.element) for _ in range(codec.length)]
    if isinstance(codec, xdr.Optional):
        return None
    if isinstance(codec, xdr.Union):
        if codec.arms:
            tag = min(codec.arms)
            return xdr.UnionValue(tag, default_value(codec.arms[tag]))
        assert codec.default is not None
        return xdr.UnionValue(0, default_value(codec.default))
    if isinstance(codec, xdr.Enum):
        return next(iter(codec.enum_class.__members__.values()))
    if codec is xdr.BOOL:
        return False
    if codec is xdr.VOID:
        return None
    if codec is xdr.FLOAT or codec is xdr.DOUBLE:
        return 0.0
    return 0


def wire_shape(codec: xdr.XdrType[Any]) -> tuple[Any, ...]:
    """A hashable description of what *codec* puts on the wire, names left out.

    Two types with equal shapes encode and decode the same bytes (with the same limits),
    whatever their Python classes and field names.
    """
    if isinstance(codec, LazyType):
        return codec.shape()
    if isinstance(codec, xdr.Struct):
        return ("struct", tuple(wire_shape(t) for _, t in codec.fields))
    if isinstance(codec, xdr.String):
        return ("string", codec.max_length)
    if isinstance(codec, xdr.Opaque):
        return ("opaque", codec.max_length)
    if isinstance(codec, xdr.FixedOpaque):
        return ("opaque[]", codec.length)
    if isinstance(codec, xdr.Array):
        return ("array", codec.max_length, wire_shape(codec.element))
    if isinstance(codec, xdr.FixedArray):
        return ("array[]", codec.length, wire_shape(codec.element))
    if isinstance(codec, xdr.Optional):
        return ("optional", wire_shape(codec.element))
    if isinstance(codec, xdr.Union):
        return (
            "union",
            wire_shape(codec.discriminant),
            tuple(sorted((tag, wire_shape(t)) for tag, t in codec.arms.items())),
            wire_shape(codec.default) if codec.default is not None else None,
        )
    if isinstance(codec, xdr.Enum):
        return ("int",)
    if codec is xdr.VOID:
        return ("void",)
    if codec is xdr.BOOL:
        return ("bool",)
    return (repr(codec),)
