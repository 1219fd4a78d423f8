"""The fake QMP monitor, its UNIX socket server and the fake guest agent."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections.abc import Iterator

import anyio
import pytest

from daemons.testvirtd.agent import GuestAgent
from daemons.testvirtd.domxml import VirtError
from daemons.testvirtd.hypervisor import DomainLifecycleEvent, DomainRebootEvent, Event, Hypervisor
from daemons.testvirtd.qmp import QmpEngine, QmpSocketServer


@pytest.fixture
def hv() -> Iterator[Hypervisor]:
    with Hypervisor(hostname="vm") as h:
        yield h


@pytest.fixture
def engine(hv: Hypervisor) -> Iterator[QmpEngine]:
    eng = QmpEngine(hv, hv.domains.lookup_by_name("test"))
    yield eng
    eng.close()


def test_query_status_follows_domain(hv: Hypervisor, engine: QmpEngine) -> None:
    assert engine.execute('{"execute": "query-status"}') == (
        '{"return": {"status": "running", "singlestep": false, "running": true}}'
    )
    hv.domains.suspend(engine.dom)
    assert json.loads(engine.execute('{"execute":"query-status"}'))["return"]["status"] == "paused"


def test_errors_and_id(engine: QmpEngine) -> None:
    assert engine.execute('{"execute": "foo", "id": 7}') == (
        '{"error": {"class": "CommandNotFound", "desc": "The command foo has not been found"},'
        ' "id": 7}'
    )
    assert json.loads(engine.execute('{"execute": "query-name", "id": "a"}')) == {
        "return": {"name": "test"},
        "id": "a",
    }
    assert json.loads(engine.execute('{"execute": "getfd"}'))["error"] == {
        "class": "GenericError",
        "desc": "Parameter 'fdname' is missing",
    }
    assert (
        json.loads(engine.execute('{"execute": "query-status", "arguments": {"x": 1}}'))["error"][
            "desc"
        ]
        == "Parameter 'x' is unexpected"
    )
    assert json.loads(engine.execute("[1]"))["error"]["desc"] == "QMP input must be a JSON object"
    assert json.loads(engine.execute("{"))["error"]["class"] == "GenericError"
    version = json.loads(engine.execute('{"execute": "query-version"}'))["return"]
    assert version["qemu"] == {"micro": 0, "minor": 2, "major": 7}


def test_state_changes_go_through_hypervisor(hv: Hypervisor, engine: QmpEngine) -> None:
    seen: list[Event] = []
    hv.subscribe(seen.append)
    assert engine.execute('{"execute": "stop"}') == '{"return": {}}'
    assert hv.domains.get_state(engine.dom) == (3, 0)
    engine.execute('{"execute": "cont"}')
    assert hv.domains.get_state(engine.dom) == (1, 5)
    engine.execute('{"execute": "system_reset"}')
    assert any(isinstance(e, DomainRebootEvent) for e in seen)
    engine.execute('{"execute": "system_powerdown"}')
    assert hv.domains.get_state(engine.dom) == (5, 1)
    lifecycle = [(e.event, e.detail) for e in seen if isinstance(e, DomainLifecycleEvent)]
    assert lifecycle == [(3, 0), (4, 0), (6, 1), (5, 0)]
    with pytest.raises(VirtError) as ei:
        engine.execute('{"execute": "query-status"}')
    assert (ei.value.code, ei.value.domain) == (55, 10)


def test_hmp(engine: QmpEngine) -> None:
    reply = json.loads(
        engine.execute(
            '{"execute": "human-monitor-command", "arguments": {"command-line": "info status"}}'
        )
    )
    assert reply == {"return": "VM status: running\r\n"}
    assert engine.hmp("info version") == "7.2.0 (Debian 1:7.2+dfsg-7+deb12u6)\r\n"
    assert engine.hmp("bogus") == "unknown command: 'bogus'\r\n"


def test_fd_commands(engine: QmpEngine) -> None:
    r, w = os.pipe()
    try:
        assert engine.execute('{"execute": "getfd", "arguments": {"fdname": "x"}}') == (
            '{"error": {"class": "GenericError", "desc": "No file descriptor supplied via '
            'SCM_RIGHTS"}}'
        )
        assert (
            engine.execute('{"execute": "getfd", "arguments": {"fdname": "x"}}', fds=[r])
            == '{"return": {}}'
        )
        assert engine.named_fds() == {"x": r}
        assert engine.execute('{"execute": "closefd", "arguments": {"fdname": "x"}}') == (
            '{"return": {}}'
        )
        assert json.loads(engine.execute('{"execute": "closefd", "arguments": {"fdname": "x"}}'))[
            "error"
        ]["desc"] == ("File descriptor named 'x' not found")
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(r)
        added = json.loads(
            engine.execute('{"execute": "add-fd", "arguments": {"opaque": "o"}}', fds=[w])
        )["return"]
        assert added == {"fdset-id": 0, "fd": w}
        assert json.loads(engine.execute('{"execute": "query-fdsets"}'))["return"] == [
            {"fdset-id": 0, "fds": [{"fd": w, "opaque": "o"}]}
        ]
    finally:
        engine.close()


def test_agent(hv: Hypervisor) -> None:
    t = hv.domains.lookup_by_name("test")
    agent = GuestAgent(hv, t)
    assert agent.execute('{"execute": "guest-ping"}') == '{"return": {}}'
    assert json.loads(agent.execute('{"execute": "guest-get-host-name"}')) == {
        "return": {"host-name": "test"}
    }
    ifaces = json.loads(agent.execute('{"execute": "guest-network-get-interfaces"}'))["return"]
    assert ifaces[1]["hardware-address"] == "aa:bb:cc:dd:ee:ff"
    assert json.loads(agent.execute('{"execute": "nope"}'))["error"]["class"] == "CommandNotFound"
    with pytest.raises(VirtError) as ei:
        agent.command('{"execute": "nope"}')
    assert ei.value.message == (
        "internal error: unable to execute QEMU agent command 'nope': "
        "The command nope has not been found"
    )
    hv.domains.destroy(t)
    with pytest.raises(VirtError) as ei:
        agent.execute('{"execute": "guest-ping"}')
    assert (ei.value.code, ei.value.domain, ei.value.message) == (
        55,
        10,
        "Requested operation is not valid: domain is not running",
    )


# ------------------------------------------------------------------------------ socket server


class Reader:
    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.buf = b""

    async def line(self) -> dict[str, object]:
        while b"\r\n" not in self.buf:
            self.buf += await self.stream.receive()
        line, self.buf = self.buf.split(b"\r\n", 1)
        result: dict[str, object] = json.loads(line)
        return result


@pytest.fixture
def sock_path() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as d:
        yield os.path.join(d, "qmp.sock")


async def test_socket_session(hv: Hypervisor, engine: QmpEngine, sock_path: str) -> None:
    server = QmpSocketServer(engine, sock_path)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        async with await anyio.connect_unix(sock_path) as stream:
            rd = Reader(stream)
            greeting = await rd.line()
            assert greeting == {
                "QMP": {
                    "version": {
                        "qemu": {"micro": 0, "minor": 2, "major": 7},
                        "package": "Debian 1:7.2+dfsg-7+deb12u6",
                    },
                    "capabilities": ["oob"],
                }
            }
            await stream.send(b'{"execute": "query-status"}\n')
            assert await rd.line() == {
                "error": {
                    "class": "CommandNotFound",
                    "desc": "Expecting capabilities negotiation with 'qmp_capabilities'",
                }
            }
            await stream.send(b'{"execute": "qmp_capabilities", "id": 1}')
            assert await rd.line() == {"return": {}, "id": 1}
            await stream.send(b'{"execute": "qmp_capabilities"}')
            assert (await rd.line())["error"] == {
                "class": "CommandNotFound",
                "desc": "Capabilities negotiation is already complete, command ignored",
            }
            # Split command and two commands in one write.
            await stream.send(b'{"execute": "query-')
            await anyio.sleep(0.01)
            await stream.send(b'name"}{"execute": "stop"}')
            assert await rd.line() == {"return": {"name": "test"}}
            msgs = [await rd.line(), await rd.line()]
            assert {"return": {}} in msgs
            event = next(m for m in msgs if "event" in m)
            assert event["event"] == "STOP"
            assert set(event["timestamp"]) == {"seconds", "microseconds"}  # type: ignore[call-overload]
            # An API call elsewhere shows up as a QMP event too.
            await anyio.to_thread.run_sync(hv.domains.resume, engine.dom)
            assert (await rd.line())["event"] == "RESUME"
            await stream.send(b'{"execute": "system_powerdown"}')
            seen = [await rd.line() for _ in range(3)]
            assert [m.get("event") for m in seen if "event" in m] == ["POWERDOWN", "SHUTDOWN"]
        # The domain stopped: the server ends (and the task group exits) as QEMU would exit.
    assert not await anyio.Path(sock_path).exists()


async def test_socket_fd_passing(hv: Hypervisor, engine: QmpEngine, sock_path: str) -> None:
    server = QmpSocketServer(engine, sock_path)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        r, w = os.pipe()
        try:
            async with await anyio.connect_unix(sock_path) as stream:
                rd = Reader(stream)
                await rd.line()
                await stream.send(b'{"execute": "qmp_capabilities"}')
                await rd.line()
                await stream.send_fds(b'{"execute": "getfd", "arguments": {"fdname": "p"}}', [w])
                assert await rd.line() == {"return": {}}
                fd = engine.named_fds()["p"]
                os.write(fd, b"ping")
                assert os.read(r, 4) == b"ping"
        finally:
            os.close(r)
            os.close(w)
        tg.cancel_scope.cancel()
    assert not await anyio.Path(sock_path).exists()


def test_raw_socket_sanity() -> None:
    # send_fds relies on SCM_RIGHTS over AF_UNIX, which this platform must support.
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        socket.send_fds(a, [b"x"], [a.fileno()])
        msg, fds, _, _ = socket.recv_fds(b, 1, 1)
        assert msg == b"x"
        assert len(fds) == 1
        os.close(fds[0])
