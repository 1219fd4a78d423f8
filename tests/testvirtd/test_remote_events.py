"""Domain events: callback registrations (316/317/318), the legacy API (167/168/107), fan-out,
server-wide callback ids and clean-up on CONNECT_CLOSE or EOF."""

from __future__ import annotations

import struct
from typing import Any

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from netrpc import Header, RPCError

from ._support import REMOTE, TEST_UUID, Remote, connect, running_daemon

pytestmark = pytest.mark.anyio


class Events:
    """Collects event MESSAGEs of one procedure on one client."""

    def __init__(self, r: Remote, proc: int) -> None:
        self.got: list[tuple[Header, bytes]] = []
        self.arrived = anyio.Event()
        r.client.on_event(REMOTE, proc, self._on)

    def _on(self, header: Header, payload: bytes) -> None:
        self.got.append((header, payload))
        self.arrived.set()

    async def wait(self, count: int) -> list[bytes]:
        with anyio.fail_after(5):
            while len(self.got) < count:
                self.arrived = anyio.Event()
                await self.arrived.wait()
        return [p for _, p in self.got]


async def register(r: Remote, event_id: int = 0, dom: Any = None) -> int:
    args = rt.DomainCallbackRegisterAnyArgs(event_id, dom)
    return int((await r.call(316, args, rt.CallbackIdRet)).callback_id)


def lifecycle(cb_id: int, dom_id: int, event: int, detail: int) -> bytes:
    return struct.pack(">ii", cb_id, 4) + b"test" + TEST_UUID + struct.pack(
        ">iii", dom_id, event, detail
    )


async def test_callback_ids_are_server_wide_and_events_fan_out() -> None:
    async with running_daemon() as daemon, connect(daemon) as a, connect(daemon) as b:
        ids_a = [await register(a, i) for i in range(27)]
        assert ids_a == list(range(27))
        cb_b = await register(b, 0)
        assert cb_b == 27
        ev_a, ev_b = Events(a, 318), Events(b, 318)
        dom = await a.lookup()
        await a.call(34, rt.DomainArgs(dom))
        await b.call(28, rt.DomainArgs(dom))
        assert await ev_a.wait(2) == [lifecycle(0, 1, 3, 0), lifecycle(0, 1, 4, 0)]
        assert await ev_b.wait(2) == [lifecycle(27, 1, 3, 0), lifecycle(27, 1, 4, 0)]
        header = ev_a.got[0][0]
        assert (header.type, header.serial, header.status) == (2, 1, 0)


async def test_trace_payload_layout() -> None:
    """The 40-byte payload of interop.md section 3 (callback 27, dom id 3, SUSPENDED/PAUSED)."""
    msg = rt.DomainEventCallbackLifecycleMsg(
        27, rt.DomainEventLifecycleMsg(rt.NonnullDomain("test", TEST_UUID, 3), 3, 0)
    )
    assert rt.DomainEventCallbackLifecycleMsg.xdr.encode(msg).hex() == (
        "0000001b0000000474657374" "6695eb01f6a4830479aa97f2502e193f" "000000030000000300000000"
    )


async def test_domain_filter() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        dom = await r.lookup()
        other = rt.NonnullDomain("other", bytes(16), -1)
        cb_other = await register(r, 0, other)
        cb_test = await register(r, 0, dom)
        events = Events(r, 318)
        await r.call(34, rt.DomainArgs(dom))
        assert await events.wait(1) == [lifecycle(cb_test, 1, 3, 0)]
        await anyio.sleep(0.05)
        assert len(events.got) == 1
        assert cb_other != cb_test


async def test_deregister() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        dom = await r.lookup()
        cb = await register(r)
        events = Events(r, 318)
        await r.call(317, rt.CallbackIdArgs(cb))
        await r.call(34, rt.DomainArgs(dom))
        await anyio.sleep(0.05)
        assert events.got == []
        with pytest.raises(RPCError) as info:
            await r.call(317, rt.CallbackIdArgs(cb))
        assert info.value.message == f"internal error: domain event callback {cb} not registered"


async def test_bad_event_id() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        for proc, payload in ((316, struct.pack(">ii", 27, 0)), (167, struct.pack(">i", -1))):
            with pytest.raises(RPCError) as info:
                await r.client.call(REMOTE, 1, proc, payload)
            assert (info.value.code, info.value.domain) == (1, 7)
            assert info.value.message.startswith("internal error: unsupported event ID")


async def test_legacy_registration() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        await r.call(167, rt.EventIdArgs(0))
        with pytest.raises(RPCError) as info:
            await r.call(167, rt.EventIdArgs(0))
        assert (info.value.code, info.value.domain) == (8, 0)
        assert info.value.message == "invalid argument: event callback already tracked"
        events = Events(r, 107)
        dom = await r.lookup()
        await r.call(12, rt.DomainArgs(dom))  # destroy: STOPPED/DESTROYED
        await r.call(9, rt.DomainArgs(dom))  # create: STARTED/BOOTED, new id 2
        expected = [lifecycle(0, -1, 5, 1)[4:], lifecycle(0, 2, 2, 0)[4:]]
        assert await events.wait(2) == expected
        await r.call(168, rt.EventIdArgs(0))
        with pytest.raises(RPCError) as info:
            await r.call(168, rt.EventIdArgs(0))
        assert info.value.message == "internal error: domain event 0 not registered"


async def test_define_undefine_events() -> None:
    xml = ("<domain type='test'><name>ev</name><memory>1024</memory>"
           "<os><type>hvm</type></os></domain>")
    async with running_daemon() as daemon, connect(daemon) as r:
        cb = await register(r)
        events = Events(r, 318)
        dom = (await r.call(11, rt.DomainDefineXmlArgs(xml), rt.DomainRet)).dom
        assert dom.name == "ev" and dom.id == -1
        await r.call(231, rt.DomainFlagsArgs(dom, 0))
        got = await events.wait(2)
        decoded = [rt.DomainEventCallbackLifecycleMsg.xdr.decode(p) for p in got]
        assert [(m.callbackID, m.msg.dom.name, m.msg.event, m.msg.detail) for m in decoded] == [
            (cb, "ev", 0, 0), (cb, "ev", 1, 0)
        ]


async def test_eof_and_close_clean_registrations() -> None:
    async with running_daemon() as daemon:
        program = daemon.remote
        async with connect(daemon) as a:
            await register(a)
            await a.call(167, rt.EventIdArgs(1))  # (lifecycle is taken: libvirt refuses twice)
            assert program.events.count() and program.events.legacy_count()
        with anyio.fail_after(5):
            while program.events.count() or program.events.legacy_count():
                await anyio.sleep(0.01)
        async with connect(daemon) as b:
            await register(b)
            await b.call(2)
        with anyio.fail_after(5):
            while program.events.count():
                await anyio.sleep(0.01)
        async with connect(daemon) as c:
            await c.call(34, rt.DomainArgs(await c.lookup()))  # nobody left to notify


async def test_reboot_event_via_monitor() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        cb = await register(r, 1)
        events = Events(r, 319)
        dom = await r.lookup()
        cmd = rt.DomainMonitorCommandArgs(dom, '{"execute":"system_reset"}', 0)
        await r.call(1, cmd, rt.DomainMonitorCommandRet, program=rt.QEMU_PROGRAM)
        (payload,) = await events.wait(1)
        assert payload == struct.pack(">ii", cb, 4) + b"test" + TEST_UUID + struct.pack(">i", 1)
