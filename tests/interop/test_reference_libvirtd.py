"""The interop harness against the real libvirtd (test driver): proves the peers and checks."""

from __future__ import annotations

import array
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import checks, peers
from .peers import RealLibvirtd

pytestmark = [pytest.mark.interop, pytest.mark.libvirtd]


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_virsh_list(real_libvirtd: RealLibvirtd, transport: str) -> None:
    checks.check_virsh_list(real_libvirtd, transport)


def test_virsh_basics(real_libvirtd: RealLibvirtd) -> None:
    checks.check_virsh_basics(real_libvirtd)


@pytest.mark.parametrize("holder_kind", ["virsh", "python"])
def test_virsh_state_needs_holder(
    real_libvirtd: RealLibvirtd, system_python: str, holder_kind: str
) -> None:
    checks.check_virsh_state_across_runs(real_libvirtd, holder_kind)


def test_state_discarded_without_holder(real_libvirtd: RealLibvirtd) -> None:
    checks.virsh_ok(real_libvirtd.uri_tcp, "suspend", checks.TEST_DOMAIN)
    assert checks.virsh_ok(real_libvirtd.uri_tcp, "domstate", "test").strip() == "running"


def test_virsh_readonly(real_libvirtd: RealLibvirtd) -> None:
    checks.check_virsh_readonly(real_libvirtd)


def test_virt_admin(real_libvirtd: RealLibvirtd, virt_admin: str) -> None:
    checks.check_virt_admin_server_list(real_libvirtd)


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_golibvirt(real_libvirtd: RealLibvirtd, golibvirt: Path, transport: str) -> None:
    checks.check_golibvirt(real_libvirtd, golibvirt, transport)


def test_golibvirt_plain_connect(real_libvirtd: RealLibvirtd, golibvirt: Path) -> None:
    checks.check_golibvirt_plain_connect_refused(real_libvirtd, golibvirt)


def test_missing_peer_skips_locally_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    def absent() -> str:
        raise peers.PeerMissing("frobnicate not found")

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="frobnicate"):
        peers.require_peer(absent)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="frobnicate"):
        peers.require_peer(absent)
    assert peers.require_peer(lambda: "here") == "here"


def test_go_libvirt_dialers(go_sources: tuple[Path, Path]) -> None:
    dialers = peers.go_libvirt_dialers()
    assert dialers["remote.go"] == ["NewRemote"]
    assert dialers["local.go"] == ["NewLocal"]
    assert not peers.go_libvirt_has_tls_dialer(), dialers
    assert peers.go_qemu_has_run_with_file()


def test_goqemu_libvirt_monitor_refused(real_libvirtd: RealLibvirtd, goqemu: Path) -> None:
    checks.check_goqemu_libvirt_refused(real_libvirtd, goqemu)


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_pyclient(real_libvirtd: RealLibvirtd, system_python: str, transport: str) -> None:
    checks.check_pyclient(real_libvirtd, transport)


# --------------------------------------------------------------------------------------------
# go-qemu's socket monitor against a minimal QMP responder


class QmpStub:
    """Serves QMP on a unix socket: banner, qmp_capabilities, query-status, stop/cont, getfd."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.listener.settimeout(30)
        self.commands: list[str] = []
        self.fds_received = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.listener.accept()
            with conn:
                self._session(conn)

    def _send(self, conn: socket.socket, obj: dict[str, Any]) -> None:
        conn.sendall(json.dumps(obj).encode() + b"\r\n")

    def _session(self, conn: socket.socket) -> None:
        running = True
        self._send(
            conn,
            {
                "QMP": {
                    "version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": "stub"},
                    "capabilities": ["oob"],
                }
            },
        )
        decoder = json.JSONDecoder()
        buf = ""
        pending_fds: list[int] = []
        while True:
            fds = array.array("i")
            data, ancdata, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(16 * fds.itemsize))
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(cdata[: len(cdata) - (len(cdata) % fds.itemsize)])
            pending_fds.extend(fds)
            if not data:
                return
            buf += data.decode()
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    cmd, end = decoder.raw_decode(buf)
                except json.JSONDecodeError:
                    break
                buf = buf[end:]
                name = cmd.get("execute", "")
                self.commands.append(name)
                if name in ("qmp_capabilities", "cont", "stop"):
                    self._send(conn, {"return": {}})
                    if name != "qmp_capabilities":
                        running = name == "cont"
                        event = "RESUME" if running else "STOP"
                        self._send(
                            conn,
                            {
                                "event": event,
                                "data": {},
                                "timestamp": {"seconds": 1, "microseconds": 2},
                            },
                        )
                elif name == "query-status":
                    status = "running" if running else "paused"
                    self._send(
                        conn,
                        {"return": {"status": status, "running": running, "singlestep": False}},
                    )
                elif name == "getfd" and pending_fds:
                    for fd in pending_fds:
                        socket.close(fd)
                    self.fds_received += len(pending_fds)
                    pending_fds.clear()
                    self._send(conn, {"return": {}})
                else:
                    self._send(
                        conn, {"error": {"class": "GenericError", "desc": f"unsupported: {name}"}}
                    )

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=5)


@pytest.fixture
def qmp_stub(tmp_path: Path) -> Iterator[QmpStub]:
    stub = QmpStub(tmp_path / "qmp.sock")
    try:
        yield stub
    finally:
        stub.close()


def test_goqemu_socket_monitor(qmp_stub: QmpStub, goqemu: Path) -> None:
    steps = checks.check_goqemu_socket(
        qmp_stub.path,
        goqemu,
        events_seconds=5,
        trigger='{"execute":"stop"}',
        expect_events=("STOP",),
        with_file=True,
    )
    assert steps["connect"]["version"] == "7.2.0"
    assert qmp_stub.fds_received == 1
    assert qmp_stub.commands == ["qmp_capabilities", "getfd", "query-status", "stop"]
