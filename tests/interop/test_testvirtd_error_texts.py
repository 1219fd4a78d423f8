"""Error replies compared field by field with the real libvirtd 9.0, on raw REMOTE/QEMU calls:
procedures called before CONNECT_OPEN, and read-only refusals of the QEMU program."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.qemu import (
    DomainAgentCommandArgs,
    MonitorEventDeregisterArgs,
    MonitorEventRegisterArgs,
    QemuProgram,
)
from daemons.testvirtd.remote import RemoteProgram
from netrpc import Client, RPCError

from ._testvirtd import Testvirtd, running
from .peers import Endpoints, RealLibvirtd

pytestmark = pytest.mark.interop

REMOTE = rt.REMOTE_PROGRAM
QEMU = rt.QEMU_PROGRAM

#: CONNECT_OPEN, CONNECT_CLOSE, SUPPORTS_FEATURE and AUTH_LIST work before the open; 125
#: (STORAGE_VOL_CREATE_XML_FROM) is served without argument decoding.
_NOT_BEFORE_OPEN = {1, 2, 60, 66, 125}


@pytest.fixture(scope="module")
def testvirtd() -> Iterator[Testvirtd]:
    with running() as daemon:
        yield daemon


def _error(exc: RPCError) -> tuple[Any, ...]:
    return (exc.code, exc.domain, exc.message, exc.level, exc.str1, exc.str2, exc.str3,
            exc.int1, exc.int2)


def _zero_payload(args: Any) -> bytes:
    """The shortest all-zero payload that decodes as *args* (empty strings, no optionals)."""
    if args is None:
        return b""
    for size in range(0, 4096, 4):
        try:
            args.decode(bytes(size))
        except Exception:
            continue
        return bytes(size)
    raise AssertionError(f"no zero payload for {args}")


async def _call(client: Client, program: int, proc: int, payload: bytes) -> Any:
    try:
        return ("ok", await client.call(program, 1, proc, payload))
    except RPCError as exc:
        return _error(exc)


async def _before_open(server: Endpoints) -> dict[tuple[int, int], Any]:
    out: dict[tuple[int, int], Any] = {}
    assert server.tcp_port is not None
    async with Client.tcp("127.0.0.1", server.tcp_port) as client:
        for program, procs in ((REMOTE, RemoteProgram.procedures),
                               (QEMU, QemuProgram.procedures)):
            for number, proc in sorted(procs.items()):
                if program == REMOTE and number in _NOT_BEFORE_OPEN:
                    continue
                out[program, number] = await _call(client, program, number,
                                                   _zero_payload(proc.args))
    return out


def test_procedures_before_open_match_libvirtd(testvirtd: Testvirtd,
                                               real_libvirtd: RealLibvirtd) -> None:
    theirs = anyio.run(_before_open, real_libvirtd)
    ours = anyio.run(_before_open, testvirtd)
    assert ours == theirs
    # both kinds of text are covered
    messages = {error[2] for error in theirs.values()}
    assert {"internal error: connection not open",
            "internal error: hypervisor connection not open"} <= messages


async def _qemu_refusals(server: Endpoints) -> list[Any]:
    assert server.ro_path is not None
    out = []
    async with Client.unix(server.ro_path) as client:
        await client.call(REMOTE, 1, 1, rt.ConnectOpenArgs.xdr.encode(
            rt.ConnectOpenArgs("test:///default", 0)))
        dom = rt.DomainRet.xdr.decode(await client.call(
            REMOTE, 1, 23, rt.NameArgs.xdr.encode(rt.NameArgs("test")))).dom
        command = rt.DomainMonitorCommandArgs.xdr.encode(
            rt.DomainMonitorCommandArgs(dom, '{"execute":"query-status"}', 0))
        calls = [
            (1, command),
            (7, command),
            (3, DomainAgentCommandArgs.xdr.encode(
                DomainAgentCommandArgs(dom, '{"execute":"guest-ping"}', 0, 0))),
            (4, MonitorEventRegisterArgs.xdr.encode(MonitorEventRegisterArgs(None, "STOP", 0))),
            (4, MonitorEventRegisterArgs.xdr.encode(MonitorEventRegisterArgs(None, ".*", 1))),
            (4, MonitorEventRegisterArgs.xdr.encode(MonitorEventRegisterArgs(dom, "(", 3))),
            (4, MonitorEventRegisterArgs.xdr.encode(MonitorEventRegisterArgs(None, None, 4))),
            (5, MonitorEventDeregisterArgs.xdr.encode(MonitorEventDeregisterArgs(0))),
        ]
        for proc, payload in calls:
            out.append((proc, await _call(client, QEMU, proc, payload)))
    return out


def test_qemu_read_only_refusals_match_libvirtd(testvirtd: Testvirtd,
                                                real_libvirtd: RealLibvirtd) -> None:
    theirs = anyio.run(_qemu_refusals, real_libvirtd)
    ours = anyio.run(_qemu_refusals, testvirtd)
    assert ours == theirs
    assert all(error[1][:2] in ((29, 0), (1, 7)) for error in theirs)
