"""Events of every object kind side by side: the same registrations and the same actions
against libvirtd's test driver and testvirtd give the same event messages (procedure,
payload, callback ids) and the same errors.

Each run opens a node file (``data/node/node.xml``): a private driver instance per
connection, so callback ids start at 0 on both servers whatever ran before.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from daemons.testvirtd import protocol as wire
from netrpc import Client, Header, RPCError, xdr

from ._testvirtd import Testvirtd, running
from .peers import Endpoints, RealLibvirtd

pytestmark = pytest.mark.interop

NODE = Path(__file__).resolve().parent / "data" / "node" / "node.xml"
REMOTE = wire.REMOTE_PROGRAM

NET_XML = """<network>
  <name>evnet</name>
  <uuid>5a1e0000-0000-4000-8000-000000000001</uuid>
  <bridge name='virbr77'/>
  <ip address='10.77.0.1' prefix='24'/>
</network>"""
POOL_XML = """<pool type='dir'>
  <name>evpool</name>
  <uuid>5a1e0000-0000-4000-8000-000000000002</uuid>
  <target><path>/evpool</path></target>
</pool>"""


@pytest.fixture(scope="module")
def testvirtd() -> Iterator[Testvirtd]:
    with running() as daemon:
        yield daemon


def _encode(value: Any) -> bytes:
    return b"" if value is None else xdr.codec_for(type(value)).encode(value)


async def _session(server: Endpoints) -> list[tuple[str, Any]]:
    """Register for everything, act, and record replies, errors and event messages."""
    record: list[tuple[str, Any]] = []
    assert server.tcp_port is not None
    async with Client.tcp("127.0.0.1", server.tcp_port) as client:

        def on_event(header: Header, payload: bytes) -> None:
            record.append(("event", (header.procedure, header.serial, payload.hex())))

        for proc in (107, 315, 318, 370, 373, 376, 377):  # every kind's event messages
            client.on_event(REMOTE, proc, on_event)

        async def call(proc: int, args: Any = None, ret: Any = None) -> Any:
            try:
                reply = await client.call(REMOTE, 1, proc, _encode(args))
            except RPCError as exc:
                record.append(("error", (proc, exc.code, exc.domain, exc.message)))
                return None
            value = xdr.codec_for(ret).decode(reply) if ret is not None else None
            record.append(("reply", (proc, reply.hex())))
            return value

        await call(66)
        await call(60, wire.ConnectSupportsFeatureArgs(10))
        await call(1, wire.ConnectOpenArgs(f"test://{NODE}", 0))
        await call(313, wire.ConnectNetworkEventRegisterAnyArgs(0, None),
                   wire.ConnectNetworkEventRegisterAnyRet)
        await call(368, wire.ConnectStoragePoolEventRegisterAnyArgs(0, None),
                   wire.ConnectStoragePoolEventRegisterAnyRet)
        await call(368, wire.ConnectStoragePoolEventRegisterAnyArgs(1, None),
                   wire.ConnectStoragePoolEventRegisterAnyRet)
        await call(374, wire.ConnectNodeDeviceEventRegisterAnyArgs(0, None),
                   wire.ConnectNodeDeviceEventRegisterAnyRet)
        await call(316, wire.ConnectDomainEventCallbackRegisterAnyArgs(0, None),
                   wire.ConnectDomainEventCallbackRegisterAnyRet)
        # the same registration again is refused, whatever the kind (the legacy one too)
        await call(167, wire.ConnectDomainEventRegisterAnyArgs(0))
        await call(313, wire.ConnectNetworkEventRegisterAnyArgs(0, None))
        await call(316, wire.ConnectDomainEventCallbackRegisterAnyArgs(0, None))

        # networks: stop and start one, define, start, undefine and stop another
        net = (await call(46, wire.NetworkLookupByNameArgs("isolated"),
                          wire.NetworkLookupByNameRet)).net
        await call(42, wire.NetworkDestroyArgs(net))
        await call(39, wire.NetworkCreateArgs(net))
        await call(39, wire.NetworkCreateArgs(net))  # already active
        new = (await call(41, wire.NetworkDefineXmlArgs(NET_XML), wire.NetworkDefineXmlRet)).net
        await call(39, wire.NetworkCreateArgs(new))
        await call(49, wire.NetworkUndefineArgs(new))  # active: refused
        await call(42, wire.NetworkDestroyArgs(new))
        await call(49, wire.NetworkUndefineArgs(new))
        await call(40, wire.NetworkCreateXmlArgs(NET_XML), wire.NetworkCreateXmlRet)
        await call(42, wire.NetworkDestroyArgs(new))  # transient: gone

        # pools: stop, start, refresh, define and undefine
        pool = (await call(84, wire.StoragePoolLookupByNameArgs("nfs"),
                           wire.StoragePoolLookupByNameRet)).pool
        await call(80, wire.StoragePoolDestroyArgs(pool))
        await call(83, wire.StoragePoolRefreshArgs(pool, 0))  # inactive: refused
        await call(78, wire.StoragePoolCreateArgs(pool, 0))
        await call(83, wire.StoragePoolRefreshArgs(pool, 0))
        defined = (await call(77, wire.StoragePoolDefineXmlArgs(POOL_XML, 0),
                              wire.StoragePoolDefineXmlRet)).pool
        await call(78, wire.StoragePoolCreateArgs(defined, 0))
        await call(82, wire.StoragePoolUndefineArgs(defined))  # active: refused
        await call(80, wire.StoragePoolDestroyArgs(defined))
        await call(82, wire.StoragePoolUndefineArgs(defined))

        # domains: pause and resume one
        dom = (await call(23, wire.DomainLookupByNameArgs("web"),
                          wire.DomainLookupByNameRet)).dom
        await call(34, wire.DomainSuspendArgs(dom))
        await call(28, wire.DomainResumeArgs(dom))

        # deregistration, known and unknown ids
        await call(314, wire.ConnectNetworkEventDeregisterAnyArgs(0))
        await call(314, wire.ConnectNetworkEventDeregisterAnyArgs(0))
        await call(369, wire.ConnectStoragePoolEventDeregisterAnyArgs(7))
        await call(375, wire.ConnectNodeDeviceEventDeregisterAnyArgs(3))
        await call(42, wire.NetworkDestroyArgs(net))  # nobody listens any more
        await call(80, wire.StoragePoolDestroyArgs(pool))
        await call(59)
        # libvirtd queues events on a timer: wait until none has come for a while
        seen = -1
        with anyio.move_on_after(10):
            while seen != len(record):
                seen = len(record)
                await anyio.sleep(0.5)
    return record


def _split(record: list[tuple[str, Any]]) -> tuple[list[Any], list[Any]]:
    """(replies and errors in call order, events in arrival order): libvirtd sends events
    from a timer, so where they fall between replies depends on timing."""
    calls = [r for r in record if r[0] != "event" and not (r[0] == "reply" and r[1][0] == 59)]
    return calls, [r for r in record if r[0] == "event"]


def test_events_of_every_kind_match_libvirtd(
    real_libvirtd: RealLibvirtd, testvirtd: Testvirtd
) -> None:
    theirs = _split(anyio.run(_session, real_libvirtd))
    ours = _split(anyio.run(_session, testvirtd))
    for want, got in zip(theirs, ours, strict=True):
        assert got == want, "\n".join(
            f"{'  ' if a == b else '!!'} {a}\n   {b}" for a, b in zip(want, got, strict=False))
    theirs_all = theirs[0] + theirs[1]
    kinds = {proc for kind, (proc, *_rest) in theirs_all if kind == "event"}
    assert kinds == {315, 318, 370, 373}
    assert struct.unpack(">i", bytes.fromhex(
        next(r[1][2] for r in theirs_all if r[0] == "event" and r[1][0] == 315))[:4])[0] == 0
