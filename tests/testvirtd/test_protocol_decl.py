"""The whole of libvirt 9.0's REMOTE, QEMU and LXC programs is declared and decodes."""

from __future__ import annotations

import re

import pytest

from daemons.testvirtd import protocol, remote_types
from daemons.testvirtd.lxc import LxcProgram
from daemons.testvirtd.qemu import QemuProgram
from daemons.testvirtd.remote import RemoteProgram
from netrpc import RPCError
from netrpc.core import xdr, xdrlang
from netrpc.core.program import Declaration

from ._support import connect, running_daemon

PROGRAMS = [
    ("REMOTE", protocol.REMOTE_PROGRAM, protocol.PROCS, RemoteProgram),
    ("QEMU", protocol.QEMU_PROGRAM, protocol.QEMU_PROCS, QemuProgram),
    ("LXC", protocol.LXC_PROGRAM, protocol.LXC_PROCS, LxcProgram),
]


def test_procedure_counts_and_numbering() -> None:
    # libvirt 9.0: REMOTE_PROC_CONNECT_OPEN = 1 .. REMOTE_PROC_DOMAIN_FD_ASSOCIATE = 443
    assert sorted(protocol.PROCS.by_number()) == list(range(1, 444))
    assert sorted(protocol.QEMU_PROCS.by_number()) == list(range(1, 8))
    assert sorted(protocol.LXC_PROCS.by_number()) == [1]
    assert protocol.PROCS[443].name == "DOMAIN_FD_ASSOCIATE"
    assert protocol.PROCS["DOMAIN_GET_INFO"] is protocol.PROCS[16]


def test_declaration_flags() -> None:
    info = protocol.PROCS["DOMAIN_GET_INFO"]
    assert info.api == "virDomainGetInfo" and not info.priority and info.stream is None
    assert protocol.PROCS["DOMAIN_DESTROY"].priority
    assert protocol.PROCS["STORAGE_VOL_UPLOAD"].stream == "write"
    assert protocol.PROCS["STORAGE_VOL_DOWNLOAD"].stream == "read"
    assert not protocol.PROCS["AUTH_LIST"].auth and protocol.PROCS["CONNECT_OPEN"].auth
    assert protocol.PROCS["DOMAIN_EVENT_LIFECYCLE"].event
    assert protocol.PROCS["CONNECT_NUM_OF_SECRETS"].api == "virConnectNumOfSecrets"
    assert protocol.LXC_PROCS["DOMAIN_OPEN_NAMESPACE"].api == "virDomainLxcOpenNamespace"


def test_every_type_compiles_and_round_trips() -> None:
    for program in ("REMOTE", "QEMU", "LXC"):
        spec = protocol.spec(program)
        spec.compile_all()
        for name in spec.names():
            codec = spec.type(name)
            value = xdrlang.default_value(codec)
            assert codec.decode(codec.encode(value)) == value, name


def test_struct_names_follow_the_x_names() -> None:
    cls = protocol.DomainGetInfoRet
    assert cls.__name__ == "DomainGetInfoRet"
    assert cls(1, 2, 3, 4, 5) == cls(state=1, maxMem=2, memory=3, nrVirtCpu=4, cpuTime=5)
    # remote_domain_get_info_ret: u_char and u_short fields take four bytes each
    assert len(cls.xdr.encode(cls(1, 2, 3, 4, 5))) == 32
    assert protocol.NonnullDomain.__match_args__ == ("name", "uuid", "id")
    assert protocol.DomainMonitorEventMsg.__match_args__[:3] == ("callbackID", "dom", "event")
    assert protocol.DomainOpenNamespaceArgs.__match_args__ == ("dom", "flags")
    assert protocol.STRING_MAX == 4194304
    with pytest.raises(AttributeError):
        protocol.NoSuchThing  # noqa: B018


def test_call_types_are_named_after_their_procedures() -> None:
    for program, _, procs, _ in PROGRAMS:
        spec = protocol.spec(program)
        named = {n for n in spec.names() if re.search(r"_(args|ret|msg)$", n)}
        used = set()
        for decl in procs.values():
            for codec in (decl.args, decl.ret):
                if isinstance(codec, xdrlang.LazyType):
                    assert codec.name.startswith(decl.name.lower() + "_"), decl
                    used.add(codec.name)
        assert named <= used, named - used


def test_remote_types_keeps_its_names() -> None:
    for name in remote_types.__all__:
        assert hasattr(remote_types, name), name
    assert remote_types.DomainGetInfoRet is protocol.DomainGetInfoRet
    assert remote_types.NonnullDomain is protocol.NonnullDomain


def test_every_declared_procedure_is_served() -> None:
    for _, _, procs, program in PROGRAMS:
        for decl in procs.values():
            assert (decl.number in program.procedures) is not decl.event, decl


def _default_payload(decl: Declaration) -> bytes:
    if decl.args is None:
        return b""
    return decl.args.encode(xdrlang.default_value(decl.args))


@pytest.mark.parametrize("via", ["unix", "ro"])
async def test_every_procedure_decodes_default_arguments(via: str) -> None:
    refused = []
    async with running_daemon() as daemon, connect(daemon, via=via) as r:
        for name, number, procs, _ in PROGRAMS:
            for decl in procs.values():
                if decl.event or decl.name in ("CONNECT_CLOSE", "CONNECT_OPEN"):
                    continue
                try:
                    await r.client.call(number, 1, decl.number, _default_payload(decl))
                except RPCError as exc:
                    message = exc.message or ""
                    if message.startswith("unknown procedure") or "Unable to decode" in message:
                        refused.append((name, decl.name, message))
    assert refused == []


async def test_numbers_libvirt_does_not_define_stay_unknown() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        for number, proc in ((protocol.REMOTE_PROGRAM, 444), (protocol.QEMU_PROGRAM, 8),
                             (protocol.LXC_PROGRAM, 2)):
            with pytest.raises(RPCError, match=f"^unknown procedure: {proc}$"):
                await r.client.call(number, 1, proc, b"")


def test_lazy_types_cost_nothing_once_built() -> None:
    decl = protocol.PROCS["DOMAIN_LOOKUP_BY_NAME"]
    assert isinstance(decl.args, xdrlang.LazyType)
    payload = xdr.String(4).encode("test")
    value, _ = decl.args.unpack(payload, 0)
    assert value.name == "test"
    # the lazy wrapper now holds the real codec's bound methods
    real = decl.args.real
    assert decl.args.unpack == real.unpack and decl.args.pack == real.pack
