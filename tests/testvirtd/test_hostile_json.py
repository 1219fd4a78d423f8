"""Hostile JSON in QMP and guest-agent commands: nesting far beyond any limit and integers of
thousands of digits get an error reply (or a value), one log line each and no traceback, on
every path: the QEMU program's monitor and agent commands, the QMP socket, the engines."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.agent import GuestAgent
from daemons.testvirtd.hypervisor import Hypervisor
from daemons.testvirtd.qemu import DomainAgentCommandArgs, DomainAgentCommandRet
from daemons.testvirtd.qmp import QmpEngine, QmpSocketServer
from netrpc import RPCError

from ._support import QEMU, connect, running_daemon

DEEP = 100_000
DEEP_ARGS = '{"execute":"query-status","arguments":{"x":' + "[" * DEEP + "]" * DEEP + "}}"
DEEP_ID = '{"execute":"query-status","id":' + "[" * DEEP + "]" * DEEP + "}"
UNCLOSED = '{"execute":"guest-ping","arguments":' + "{\"a\":" * DEEP
BIG = "9" * 5000
NESTING = {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused ")]


@pytest.fixture
def hv() -> Iterator[Hypervisor]:
    with Hypervisor(hostname="vm") as h:
        yield h


def test_engines(hv: Hypervisor, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    engine = QmpEngine(hv, hv.domains.lookup_by_name("test"))
    agent = GuestAgent(hv, hv.domains.lookup_by_name("test"))
    try:
        for text in (DEEP_ARGS, DEEP_ID, UNCLOSED):
            assert json.loads(engine.execute(text))["error"]["class"] == "GenericError"
        assert json.loads(engine.execute(DEEP_ARGS))["error"] == NESTING
        reply = json.loads(engine.execute('{"execute":"query-status","id":' + BIG + "}"))
        assert reply["return"]["status"] == "running"  # the id is echoed, as a number
        assert json.loads(agent.execute(DEEP_ARGS))["error"] == NESTING
        reply = json.loads(agent.execute('{"execute":"guest-sync","arguments":{"id":' + BIG
                                         + "}}"))
        assert reply["error"]["class"] == "GenericError"  # not an integer QEMU can hold
    finally:
        engine.close()
    assert len(refusals(caplog)) == 5
    no_tracebacks(caplog)


@pytest.mark.anyio
async def test_monitor_and_agent_commands(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with running_daemon() as daemon, connect(daemon) as r:
        dom = await r.lookup()

        async def monitor(cmd: str) -> str:
            ret = await r.call(1, rt.DomainMonitorCommandArgs(dom, cmd, 0),
                               rt.DomainMonitorCommandRet, program=QEMU)
            return str(ret.result)

        # libvirt passes what it can parse on; QEMU refuses nesting beyond its limit
        for text in (DEEP_ARGS, DEEP_ID):
            assert json.loads(await monitor(text)) == {"error": NESTING}
        out = json.loads(await monitor('{"execute":"query-status","id":' + BIG + "}"))
        assert out["return"]["running"] is True
        out = json.loads(await monitor('{"execute":"query-name","arguments":{"n":-' + BIG
                                       + "}}"))
        assert out["error"]["desc"] == "Parameter 'n' is unexpected"
        assert json.loads(await monitor(UNCLOSED)) == {"error": NESTING}
        # what libvirt itself cannot parse is its own error
        with pytest.raises(RPCError) as info:
            await monitor('{"execute":')
        assert (info.value.code, info.value.domain) == (1, 0)
        assert str(info.value.message).startswith("internal error: cannot parse json {")

        async def agent(cmd: str) -> str | None:
            args = DomainAgentCommandArgs(dom, cmd, -1, 0)
            ret = await r.call(3, args, DomainAgentCommandRet, program=QEMU)
            return ret.result  # type: ignore[no-any-return]

        with pytest.raises(RPCError) as info:
            await agent(DEEP_ARGS)
        assert (info.value.code, info.value.domain) == (1, 10)
        assert info.value.message == ("internal error: unable to execute QEMU agent command "
                                      "'query-status': JSON nesting depth limit exceeded")
        with pytest.raises(RPCError) as info:
            await agent('{"execute":"guest-sync","arguments":{"id":' + BIG + "}}")
        assert "expected: integer" in str(info.value.message)
        assert json.loads(await agent('{"execute":"guest-ping","id":' + BIG + "}") or "") \
            == {"return": {}}
        # the daemon is fine
        assert json.loads(await monitor('{"execute":"query-status"}'))["return"]["running"]
    assert len(refusals(caplog)) == 5  # 3 deep monitor commands, a broken one, a deep agent one
    no_tracebacks(caplog)


class Lines:
    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.buf = b""

    async def next(self) -> dict[str, object]:
        with anyio.fail_after(10):
            while b"\r\n" not in self.buf:
                self.buf += await self.stream.receive()
        line, self.buf = self.buf.split(b"\r\n", 1)
        result: dict[str, object] = json.loads(line)
        return result


@pytest.mark.anyio
async def test_qmp_socket(hv: Hypervisor, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    engine = QmpEngine(hv, hv.domains.lookup_by_name("test"))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "qmp.sock")
        server = QmpSocketServer(engine, path)
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            async with await anyio.connect_unix(path) as stream:
                lines = Lines(stream)
                await lines.next()  # greeting
                await stream.send(b'{"execute":"qmp_capabilities"}')
                assert await lines.next() == {"return": {}}
                await stream.send(DEEP_ARGS.encode())
                assert await lines.next() == {"error": NESTING}
                await stream.send(('{"execute":"query-status","id":' + BIG + "}").encode())
                assert (await lines.next())["return"] == {
                    "status": "running", "singlestep": False, "running": True}
                await stream.send(b'{"execute":"query-name","id":7}')
                assert await lines.next() == {"return": {"name": "test"}, "id": 7}
            tg.cancel_scope.cancel()
    engine.close()
    assert len(refusals(caplog)) == 1
    no_tracebacks(caplog)
