"""The QEMU flavour and the QEMU program: qemu:/// views of the shared hypervisor, monitor
and agent commands, QMP monitor events (filters, callback ids, clean-up) and QMP sockets."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import anyio
import pytest

from daemons.testvirtd import daemon as tvd
from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.daemon import Listen
from daemons.testvirtd.hypervisor import Hypervisor
from daemons.testvirtd.qemu import (
    DomainAgentCommandArgs,
    DomainAgentCommandRet,
    MonitorEventDeregisterArgs,
    MonitorEventMsg,
    MonitorEventRegisterArgs,
    MonitorEventRegisterRet,
)
from netrpc import Header, RPCError
from netrpc.core import xdr

from ._support import QEMU, TEST_UUID, Remote, connect, running_daemon

pytestmark = pytest.mark.anyio

KVM_XML = """<domain type='kvm'>
  <name>vm1</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <memory>1048576</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
</domain>"""


async def qemu_open(r: Remote, uri: str = "qemu:///system", flags: int = 0) -> None:
    await r.call(66)
    await r.open(uri, flags)


async def text(r: Remote, proc: int) -> str:
    return str((await r.call(proc, None, rt.StringRet)).value)


async def monitor(r: Remote, dom: Any, cmd: str, flags: int = 0) -> str:
    args = rt.DomainMonitorCommandArgs(dom, cmd, flags)
    return str((await r.call(1, args, rt.DomainMonitorCommandRet, program=QEMU)).result)


async def agent(r: Remote, dom: Any, cmd: str, wait: int = -1, flags: int = 0) -> str | None:
    args = DomainAgentCommandArgs(dom, cmd, wait, flags)
    return (await r.call(3, args, DomainAgentCommandRet, program=QEMU)).result  # type: ignore[no-any-return]


async def register(r: Remote, dom: Any = None, event: str | None = None, flags: int = 0) -> int:
    args = MonitorEventRegisterArgs(dom, event, flags)
    return int((await r.call(4, args, MonitorEventRegisterRet, program=QEMU)).callback_id)


class MonitorEvents:
    """Collects DOMAIN_MONITOR_EVENT messages on one client."""

    def __init__(self, r: Remote) -> None:
        self.got: list[MonitorEventMsg] = []
        self.arrived = anyio.Event()
        r.client.on_event(QEMU, 6, self._on)

    def _on(self, header: Header, payload: bytes) -> None:
        assert header.serial == 1 and header.program == QEMU
        self.got.append(xdr.codec_for(MonitorEventMsg).decode(payload))
        self.arrived.set()

    async def wait(self, count: int) -> list[MonitorEventMsg]:
        with anyio.fail_after(5):
            while len(self.got) < count:
                self.arrived = anyio.Event()
                await self.arrived.wait()
        return self.got

    def names(self) -> list[tuple[int, str]]:
        return [(m.callback_id, m.event) for m in self.got]


async def settle() -> None:
    """Let event messages already sent reach the client (they travel before any reply
    to a later call, so one round trip is enough)."""
    await anyio.sleep(0.05)


# ------------------------------------------------------------------------------ flavour views


async def test_qemu_and_test_views_share_the_hypervisor() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as q, \
            connect(daemon) as t:
        await qemu_open(q)
        assert await text(q, 3) == "QEMU"
        assert (await q.call(4, None, rt.UHyperRet)).value == 7_002_000
        assert (await q.call(157, None, rt.UHyperRet)).value == 9_000_000
        assert await text(q, 110) == "qemu:///system"
        caps = await text(q, 7)
        assert "<domain type='kvm'/>" in caps and "<domain type='qemu'/>" in caps
        assert "<arch>x86_64</arch>" in caps
        assert await text(t, 3) == "TEST"
        assert (await t.call(4, None, rt.UHyperRet)).value == 2
        assert "<domain type='test'/>" in await text(t, 7)
        # a kvm domain started through the QEMU view runs in the test view
        ref = (await q.call(10, rt.DomainCreateXmlArgs(KVM_XML, 0), rt.DomainRet)).dom
        assert await t.state(await t.lookup("vm1")) == (1, 1)
        assert (await q.call(19, rt.DomainArgs(ref), rt.StringRet)).value == "hvm"
        assert (await t.call(19, rt.DomainArgs(ref), rt.StringRet)).value == "linux"
        # and a domain suspended in the test view is paused in the QEMU one
        await t.call(34, rt.DomainArgs(await t.lookup()))
        assert (await q.state(await q.lookup()))[0] == 3


async def test_qemu_view_checks_domain_types() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as q:
        await qemu_open(q, "qemu:///session")
        assert await text(q, 110) == "qemu:///session"
        with pytest.raises(RPCError) as info:
            await q.call(11, rt.DomainDefineXmlArgs(KVM_XML.replace("'kvm'", "'test'")))
        assert info.value.code == 67  # VIR_ERR_CONFIG_UNSUPPORTED
        await q.call(11, rt.DomainDefineXmlArgs(KVM_XML.replace("'kvm'", "'qemu'")))


@pytest.mark.parametrize("uri", ["qemu:///foo", "qemu:///"])
async def test_bad_qemu_uri_path(uri: str) -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        with pytest.raises(RPCError) as info:
            await r.open(uri)
        assert (info.value.code, info.value.domain) == (1, 10)
        assert "unexpected QEMU URI path" in str(info.value.message)
        await r.open("qemu:///system")


async def test_default_uri_qemu() -> None:
    with tempfile.TemporaryDirectory(prefix="tvd-") as tmp:
        hv = Hypervisor(flavour="qemu")
        daemon = tvd.TestVirtd(hv, [Listen("unix", path=os.path.join(tmp, "s"))],
                           default_uri="qemu:///system")
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(daemon.server.serve)
                async with connect(daemon, via="unix", open=False) as r:
                    await r.call(66)
                    await r.open("")
                    assert await text(r, 110) == "qemu:///system"
                    assert await text(r, 3) == "QEMU"
                async with connect(daemon, via="unix", open=False) as r:
                    await r.open("test:///default")  # the test view is still there
                    assert await text(r, 3) == "TEST"
                daemon.server.shutdown(1.0)
        finally:
            daemon.remote.close()
            daemon.qemu.close()
            hv.close()


# ------------------------------------------------------------------------------ monitor command


async def test_monitor_command_replies_like_libvirt() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        await qemu_open(r)
        dom = await r.lookup()
        out = await monitor(r, dom, '{"execute":"query-status"}')
        assert out == ('{"return":{"status":"running","singlestep":false,"running":true},'
                       '"id":"libvirt-1"}')
        out = json.loads(await monitor(r, dom, '{"execute":"query-version"}'))
        assert out["return"]["qemu"] == {"micro": 0, "minor": 2, "major": 7}
        assert out["id"] == "libvirt-2"
        out = json.loads(await monitor(r, dom, '{"execute":"no-such"}'))
        assert out["error"]["class"] == "CommandNotFound"  # QMP errors are returned as is
        assert await monitor(r, dom, "info status", 1) == "VM status: running\r\n"
        with pytest.raises(RPCError) as info:
            await monitor(r, dom, "{not json")
        assert info.value.code == 1 and "cannot parse json" in str(info.value.message)
        await r.call(12, rt.DomainArgs(dom))
        for flags in (0, 1):
            with pytest.raises(RPCError) as info:
                await monitor(r, dom, '{"execute":"query-status"}', flags)
            assert (info.value.code, info.value.domain) == (55, 20)
            assert info.value.message == "Requested operation is not valid: domain is not running"


# ------------------------------------------------------------------------------ agent


async def test_agent_commands() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        await qemu_open(r)
        dom = await r.lookup()
        assert await agent(r, dom, '{"execute":"guest-ping"}') == '{"return":{}}'
        info = json.loads(await agent(r, dom, '{"execute":"guest-info"}') or "")
        names = {c["name"] for c in info["return"]["supported_commands"]}
        assert {"guest-ping", "guest-get-osinfo", "guest-network-get-interfaces"} <= names
        osinfo = json.loads(await agent(r, dom, '{"execute":"guest-get-osinfo"}') or "")
        assert osinfo["return"]["id"] == "debian"
        host = json.loads(await agent(r, dom, '{"execute":"guest-get-host-name"}') or "")
        assert host == {"return": {"host-name": "test"}}
        ifaces = json.loads(
            await agent(r, dom, '{"execute":"guest-network-get-interfaces"}') or "")
        assert [i["name"] for i in ifaces["return"]] == ["lo", "eth0"]
        assert ifaces["return"][1]["hardware-address"] == "aa:bb:cc:dd:ee:ff"
        with pytest.raises(RPCError) as info:
            await agent(r, dom, '{"execute":"guest-shutdown"}')
        assert (info.value.code, info.value.domain) == (1, 10)
        assert info.value.message == ("internal error: unable to execute QEMU agent command "
                                      "'guest-shutdown': The command guest-shutdown has not "
                                      "been found")
        with pytest.raises(RPCError) as info:
            await agent(r, dom, '{"execute":"guest-ping"}', wait=-3)
        assert info.value.code == 8
        with pytest.raises(RPCError) as info:
            await agent(r, dom, '{"execute":"guest-ping"}', flags=1)
        assert info.value.code == 8
        await r.call(34, rt.DomainArgs(dom))  # paused: the agent cannot answer
        with pytest.raises(RPCError) as info:
            await agent(r, dom, '{"execute":"guest-ping"}')
        assert (info.value.code, info.value.domain) == (55, 10)
        await r.call(12, rt.DomainArgs(dom))
        with pytest.raises(RPCError) as info:
            await agent(r, dom, '{"execute":"guest-ping"}')
        assert (info.value.code, info.value.domain) == (55, 20)
        assert info.value.message == "Requested operation is not valid: domain is not running"


async def test_agent_refused_read_only() -> None:
    async with running_daemon() as daemon, connect(daemon, via="ro", open=False) as r:
        await qemu_open(r)
        dom = await r.lookup()
        with pytest.raises(RPCError) as info:
            await agent(r, dom, '{"execute":"guest-ping"}')
        assert info.value.message == ("operation forbidden: read only access prevents "
                                      "virDomainQemuAgentCommand")
        assert (info.value.code, info.value.domain) == (29, 0)
        with pytest.raises(RPCError) as info:  # so is event registration, as in libvirt
            await register(r)
        assert (info.value.code, info.value.domain) == (29, 0)
        assert info.value.message == ("operation forbidden: read only access prevents "
                                      "virConnectDomainQemuMonitorEventRegister")


# ------------------------------------------------------------------------------ monitor events


async def test_suspend_resume_through_remote_emit_stop_resume() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as q, \
            connect(daemon) as t:
        await qemu_open(q)
        events = MonitorEvents(q)
        dom = await q.lookup()
        cb = await register(q, dom)
        await t.call(34, rt.DomainArgs(dom))  # suspend through the REMOTE program
        await t.call(28, rt.DomainArgs(dom))
        await t.call(245, rt.DomainFlagsArgs(dom, 0))  # reset
        got = await events.wait(3)
        assert [(m.callback_id, m.event) for m in got] == [
            (cb, "STOP"), (cb, "RESUME"), (cb, "RESET")]
        assert got[0].details is None and got[0].dom.name == "test"
        assert json.loads(got[2].details or "") == {"guest": False,
                                                    "reason": "host-qmp-system-reset"}
        assert got[2].details == '{"guest":false,"reason":"host-qmp-system-reset"}'
        assert got[0].seconds > 1_600_000_000 and 0 <= got[0].micros < 1_000_000


@pytest.mark.parametrize(
    ("event", "flags", "expected"),
    [
        (None, 0, ["STOP", "RESUME", "POWERDOWN", "SHUTDOWN"]),
        ("STOP", 0, ["STOP"]),
        ("stop", 0, []),
        ("stop", 2, ["STOP"]),  # NOCASE
        ("^(STOP|SHUT)", 1, ["STOP", "SHUTDOWN"]),  # REGEX (a search, not a full match)
        ("DOWN", 1, ["POWERDOWN", "SHUTDOWN"]),
        ("res", 1, []),
        ("res", 3, ["RESUME"]),  # REGEX | NOCASE
    ],
)
async def test_event_name_filters(event: str | None, flags: int, expected: list[str]) -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as q:
        await qemu_open(q)
        events = MonitorEvents(q)
        dom = await q.lookup()
        await register(q, None, event, flags)
        await q.call(34, rt.DomainArgs(dom))
        await q.call(28, rt.DomainArgs(dom))
        await q.call(33, rt.DomainArgs(dom))  # shutdown: POWERDOWN, SHUTDOWN
        await settle()
        assert [m.event for m in events.got] == expected


async def test_domain_filter_and_fan_out() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as a, \
            connect(daemon, open=False) as b:
        await qemu_open(a)
        await qemu_open(b)
        ev_a, ev_b = MonitorEvents(a), MonitorEvents(b)
        vm1 = (await a.call(10, rt.DomainCreateXmlArgs(KVM_XML, 0), rt.DomainRet)).dom
        test = await a.lookup()
        cb_a = await register(a, vm1)
        cb_b = await register(b)
        await b.call(34, rt.DomainArgs(test))
        await b.call(34, rt.DomainArgs(vm1))
        await ev_b.wait(2)
        await ev_a.wait(1)
        await settle()
        assert ev_a.names() == [(cb_a, "STOP")] and ev_a.got[0].dom.name == "vm1"
        assert ev_b.names() == [(cb_b, "STOP"), (cb_b, "STOP")]
        assert [m.dom.name for m in ev_b.got] == ["test", "vm1"]


async def test_callback_ids_shared_with_domain_events_and_deregister() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as q, \
            connect(daemon) as t:
        await qemu_open(q)
        first = await register(q)
        remote_cb = (await t.call(316, rt.DomainCallbackRegisterAnyArgs(0, None),
                                  rt.CallbackIdRet)).callback_id
        second = await register(t)
        assert len({first, remote_cb, second}) == 3 and first < remote_cb < second
        assert set(daemon.qemu.registrations()) == {first, second}
        with pytest.raises(RPCError) as info:  # not this connection's callback
            await q.call(5, MonitorEventDeregisterArgs(second), program=QEMU)
        assert info.value.message == (
            f"internal error: qemu monitor event callback {second} not registered")
        events = MonitorEvents(q)
        await q.call(5, MonitorEventDeregisterArgs(first), program=QEMU)
        await t.call(34, rt.DomainArgs(await t.lookup()))
        await settle()
        assert events.got == []
        with pytest.raises(RPCError):
            await q.call(5, MonitorEventDeregisterArgs(first), program=QEMU)


async def test_registrations_dropped_on_close_and_eof() -> None:
    async with running_daemon() as daemon:
        async with connect(daemon, open=False) as q:
            await qemu_open(q)
            await register(q)
            await q.call(2)  # CONNECT_CLOSE
        assert daemon.qemu.registrations() == {}
        async with connect(daemon, open=False) as q:
            await qemu_open(q)
            await register(q)
            assert len(daemon.qemu.registrations()) == 1
        with anyio.fail_after(5):
            while daemon.qemu.registrations():
                await anyio.sleep(0.01)


async def test_register_errors() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as q:
        args = MonitorEventRegisterArgs(None, None, 0)
        with pytest.raises(RPCError) as info:
            await q.call(4, args, program=QEMU)
        assert info.value.message == "internal error: hypervisor connection not open"
        await qemu_open(q)
        with pytest.raises(RPCError) as info:
            await register(q, None, "STOP", 4)
        assert info.value.code == 8
        with pytest.raises(RPCError) as info:
            await register(q, None, "(", 1)
        assert info.value.code == 8
        assert str(info.value.message).startswith("invalid argument: failed to compile regex '('")


# ------------------------------------------------------------------------------ QMP sockets


async def test_qmp_socket_per_running_domain() -> None:
    with tempfile.TemporaryDirectory(prefix="tvd-") as tmp:
        hv = Hypervisor()
        qmp_dir = os.path.join(tmp, "qmp")
        daemon = tvd.TestVirtd(hv, [Listen("unix", path=os.path.join(tmp, "s"))], qmp_dir=qmp_dir)
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(daemon._serve_with_qmp_sockets)
                path = os.path.join(qmp_dir, "test.sock")
                assert daemon.qmp_sockets is not None
                assert daemon.qmp_sockets.paths() == {"test": path}
                async with await anyio.connect_unix(path) as sock:
                    greeting = json.loads(await sock.receive())
                    assert greeting["QMP"]["version"]["qemu"]["major"] == 7
                    await sock.send(b'{"execute":"qmp_capabilities"}\r\n')
                    assert json.loads(await sock.receive()) == {"return": {}}
                    hv.domains.suspend(TEST_UUID)  # through the hypervisor: STOP on the socket
                    line = json.loads(await sock.receive())
                    assert line["event"] == "STOP"
                hv.domains.destroy(TEST_UUID)
                with anyio.fail_after(5):
                    while os.path.exists(path):
                        await anyio.sleep(0.01)
                hv.domains.create(TEST_UUID)
                with anyio.fail_after(5):
                    while not os.path.exists(path):
                        await anyio.sleep(0.01)
                daemon.shutdown()
        finally:
            daemon.remote.close()
            daemon.qemu.close()
            hv.close()
