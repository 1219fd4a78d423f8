"""Dispatch: libvirtd 9.0's exact answers to bad calls, and the procedure table."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from netrpc import Call, Program, RPCError, procedure
from netrpc.core import xdr
from netrpc.core.program import Dispatch, Dispatcher
from netrpc.core.protocol import Header, MessageType, encode_error


@xdr.struct
class OpenArgs:
    name: Annotated[str | None, xdr.Optional(xdr.String(4096))]
    flags: xdr.UInt


class Remote(Program):
    number, version = 0x20008086, 1

    @procedure(66, auth=False, readonly=True)
    def auth_list(self, call: Call, args: None) -> None: ...

    @procedure(1, args=OpenArgs, readonly=True)
    def connect_open(self, call: Call, args: OpenArgs) -> None: ...

    @procedure(34, args=OpenArgs)
    def domain_suspend(self, call: Call, args: OpenArgs) -> None: ...


def _resolve(header: Header, payload: bytes = b"", **kw: Any) -> Dispatch | RPCError | None:
    options = {"authenticated": True, "readonly": False, **kw}
    return Dispatcher([Remote()]).resolve(header, payload, **options)


def _h(
    prog: int = 0x20008086, vers: int = 1, proc: int = 66, mtype: int = 0, status: int = 0
) -> Header:
    return Header(prog, vers, proc, mtype, 7, status)


def test_unknown_program_exact_payload() -> None:
    error = _resolve(_h(prog=0x12345678, proc=1))
    assert isinstance(error, RPCError)
    # raw_error_probe case 1, byte for byte
    assert encode_error(error).hex() == (
        "0000002700000007000000010000002743616e6e6f742066696e642070726f6772616d20333035343139383936"
        "2076657273696f6e2031000000000200000000000000010000000225730000000000010000002743616e6e6f74"
        "2066696e642070726f6772616d203330353431393839362076657273696f6e20310000000000ffffffffffffffff"
        "00000000"
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (_h(vers=2), "Cannot find program 536903814 version 2"),
        (_h(prog=0x6B656570, proc=1), "Cannot find program 1801807216 version 1"),
        (_h(prog=0x80000001), "Cannot find program -2147483647 version 1"),
        (_h(proc=9999), "unknown procedure: 9999"),
        (_h(proc=0), "unknown procedure: 0"),
        (_h(status=1), "Unexpected message status 1"),
        (_h(proc=1), "Unable to decode message payload"),
    ],
)
def test_rpc_errors(header: Header, message: str) -> None:
    error = _resolve(header)
    assert isinstance(error, RPCError)
    assert (error.code, error.domain, error.level, error.message) == (39, 7, 2, message)
    assert (error.str1, error.str2, error.int1, error.int2) == ("%s", message, -1, -1)


def test_auth_required_but_auth_phase_allowed() -> None:
    error = _resolve(_h(proc=1), b"\0\0\0\0\0\0\0\0", authenticated=False)
    assert isinstance(error, RPCError)
    assert error.message == "authentication required"
    assert isinstance(_resolve(_h(proc=66), authenticated=False), Dispatch)


def test_readonly_refusal() -> None:
    args = OpenArgs.xdr.encode(OpenArgs(None, 0))
    error = _resolve(_h(proc=34), args, readonly=True)
    assert isinstance(error, RPCError)
    assert error.code == 29
    assert "read only access prevents domain_suspend" in (error.message or "")
    assert isinstance(_resolve(_h(proc=1), args, readonly=True), Dispatch)


def test_non_calls_are_dropped_silently() -> None:
    assert _resolve(_h(mtype=MessageType.REPLY)) is None
    assert _resolve(_h(prog=1, mtype=MessageType.MESSAGE)) is None


def test_trailing_bytes_accepted_and_go_bool() -> None:
    # go-libvirt: optional discriminant 0x01000000; trailing garbage is not checked (libvirtd)
    payload = bytes.fromhex("01000000 0000000f") + b"test:///default\0" + b"\0\0\0\0" + b"junk"
    resolved = _resolve(_h(proc=1), payload)
    assert isinstance(resolved, Dispatch)
    assert resolved.args == OpenArgs("test:///default", 0)


def test_duplicate_procedure_numbers_rejected() -> None:
    with pytest.raises(TypeError, match="declared twice"):

        class Bad(Program):
            number = 1

            @procedure(1)
            def a(self, call: Call, args: None) -> None: ...

            @procedure(1)
            def b(self, call: Call, args: None) -> None: ...


def test_duplicate_program_registration() -> None:
    with pytest.raises(ValueError, match="already registered"):
        Dispatcher([Remote(), Remote()])


def test_subclass_inherits_and_overrides() -> None:
    class Child(Remote):
        @procedure(66, auth=False)
        def auth_list_v2(self, call: Call, args: None) -> None: ...

    assert Child.procedures[66].name == "auth_list_v2"
    assert 1 in Child.procedures


def test_procedures_from_plain_mixins() -> None:
    class StorageMixin:
        @procedure(99, readonly=True)
        def vol_list(self, call: Call, args: None) -> None: ...

    class WithStorage(StorageMixin, Remote):
        pass

    assert WithStorage.procedures[99].name == "vol_list"
    assert 66 in WithStorage.procedures


def test_plain_override_of_a_handler_takes_over() -> None:
    class Impl(Remote):
        def auth_list(self, call: Call, args: None) -> None:
            return None

    assert Impl.procedures[66].handler is Impl.auth_list
    assert Impl.procedures[66].auth is False
