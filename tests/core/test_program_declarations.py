"""Programs built from a declaration table: handlers bound by name, unhandled procedures."""

from __future__ import annotations

from typing import Any

import pytest

from netrpc import Call, Program, RPCError, procedure
from netrpc.core import xdr, xdrlang
from netrpc.core.program import Declaration, DeclarationTable, Dispatch, Dispatcher, handler
from netrpc.core.protocol import Header

SPEC = xdrlang.compile_xdr(
    """
    typedef string name<64>;
    struct greet_args { name who; unsigned int flags; };
    struct greet_ret { name text; };
    struct count_ret { int n; };
    program GREETER { version V1 {
        greet_ret GREET(greet_args) = 1;
        count_ret COUNT(void) = 2;
        void PING(void) = 3;
        void SLOW(void) = 4;
        void MISSING(greet_args) = 5;
        void EXPLICIT(void) = 6;
        greet_ret EVENT(void) = 7;
    } = 1; } = 0x20249999;
    """
)
GreetArgs = SPEC.cls("greet_args")
GreetRet = SPEC.cls("greet_ret")


def _table() -> DeclarationTable:
    (program,) = SPEC.programs
    decls = []
    for p in program.versions[0].procedures:
        decls.append(Declaration(
            number=p.number, name=p.name, args=SPEC.procedure_type(p.args),
            ret=SPEC.procedure_type(p.ret), readonly=p.name in ("GREET", "MISSING"),
            priority=p.name == "PING", api=f"vir{p.name.title()}", event=p.name == "EVENT",
        ))
    return DeclarationTable(decls)


TABLE = _table()


@xdr.struct
class MyCount:
    """Same wire layout as count_ret, another field name."""

    value: xdr.Int


@xdr.struct
class WrongCount:
    value: xdr.Hyper


class Mixin:
    def ping(self, call: Call, args: None) -> None:
        return None


class Greeter(Mixin, Program):
    number, version = 0x20249999, 1
    declarations = TABLE
    inline_by_default = True

    def greet(self, call: Call, args: Any) -> Any:
        return GreetRet(f"hello {args.who}")

    def count(self, call: Call, args: None) -> MyCount:
        return MyCount(3)

    @handler(inline=False, priority=True)
    def slow(self, call: Call, args: None) -> None:
        return None

    @procedure(6, readonly=True, name="explicit-one")
    async def explicit(self, call: Call, args: None) -> None:
        return None


def test_table_lookup() -> None:
    assert TABLE["GREET"] is TABLE[1]
    assert 2 in TABLE and "COUNT" in TABLE and 99 not in TABLE
    assert list(TABLE)[:2] == ["GREET", "COUNT"]
    assert TABLE[1].method_name == "greet"
    with pytest.raises(ValueError, match="declared twice"):
        DeclarationTable([TABLE[1], TABLE[1]])


def test_handlers_bound_by_name() -> None:
    procs = Greeter.procedures
    greet = procs[1]
    assert greet.handler is Greeter.greet and greet.name == "virGreet"
    assert greet.readonly and greet.inline and not greet.is_async
    assert greet.args is TABLE[1].args and greet.ret is TABLE[1].ret
    assert procs[3].handler is Mixin.ping and procs[3].priority  # found on a mixin
    assert not procs[4].inline and procs[4].priority  # @handler options
    assert procs[6].name == "explicit-one" and procs[6].is_async  # @procedure wins
    assert 7 not in procs  # events are not callable


def test_wire_compatible_annotation_is_used() -> None:
    count = Greeter.procedures[2]
    assert count.ret is MyCount.xdr
    assert Dispatcher.encode_return(count, MyCount(3)) == b"\x00\x00\x00\x03"


def test_incompatible_annotation_is_refused() -> None:
    with pytest.raises(TypeError, match="wire layout"):
        class Bad(Program):
            number, version = 0x20249999, 1
            declarations = TABLE

            def count(self, call: Call, args: None) -> WrongCount:
                return WrongCount(1)


def test_unhandled_procedure_answers_not_supported() -> None:
    proc = Greeter.procedures[5]
    program = Greeter()
    header = Header(0x20249999, 1, 5, 0, 1, 0)
    payload = GreetArgs.xdr.encode(GreetArgs("x", 0))
    found = Dispatcher([program]).resolve(header, payload, authenticated=True, readonly=True)
    assert isinstance(found, Dispatch) and found.procedure is proc
    with pytest.raises(RPCError) as info:
        proc.handler(program, None, found.args)
    assert info.value.code == 3
    assert info.value.message == "this function is not supported by the connection driver: virMissing"


def test_unhandled_can_be_overridden() -> None:
    class Quiet(Greeter):
        def unhandled(self, call: Call, decl: Declaration, args: Any) -> Any:
            return ("quiet", decl.name)

    assert Quiet.procedures[5].handler(Quiet(), None, None) == ("quiet", "MISSING")


def test_subclass_overrides_name_bound_handler() -> None:
    class Louder(Greeter):
        def greet(self, call: Call, args: Any) -> Any:
            return GreetRet("HELLO")

    assert Louder.procedures[1].handler is Louder.greet
    assert Greeter.procedures[1].handler is Greeter.greet


def test_readonly_refusal_for_bound_handlers() -> None:
    header = Header(0x20249999, 1, 2, 0, 1, 0)
    error = Dispatcher([Greeter()]).resolve(header, b"", authenticated=True, readonly=True)
    assert isinstance(error, RPCError)
    assert error.message == "operation forbidden: read only access prevents virCount"


