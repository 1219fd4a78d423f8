"""libvirt-python and go-libvirt against testvirtd; malformed input never stops it serving."""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import checks, peers
from ._testvirtd import Testvirtd, running
from .peers import describe

pytestmark = pytest.mark.interop


@pytest.fixture
def testvirtd() -> Iterator[Testvirtd]:
    """A fresh testvirtd per test (state changes never leak between tests)."""
    with running() as daemon:
        yield daemon


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_pyclient(testvirtd: Testvirtd, system_python: str, transport: str) -> None:
    steps = checks.check_pyclient(testvirtd, transport)
    assert steps["version"]["version"] == 2
    events = steps["summary"]["events"]
    assert [(e["event"], e["detail"]) for e in events[:4]] == [(3, 0), (4, 0), (5, 1), (2, 0)]


def test_pyclient_twice_starts_afresh(testvirtd: Testvirtd, system_python: str) -> None:
    """As libvirtd's test driver, test:///default is discarded with its last connection."""
    first = checks.check_pyclient(testvirtd)
    second = checks.check_pyclient(testvirtd)
    assert second["domain"]["id"] == first["domain"]["id"]


def test_pyclient_twice_sees_kept_state(system_python: str) -> None:
    with running("--keep-state") as daemon:
        first = checks.check_pyclient(daemon)
        second = checks.check_pyclient(daemon)
    assert second["domain"]["id"] > first["domain"]["id"]  # destroy/create moved the id on


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_golibvirt(testvirtd: Testvirtd, golibvirt: Path, transport: str) -> None:
    checks.check_golibvirt(testvirtd, golibvirt, transport)


def test_golibvirt_plain_connect_opens_qemu_view(testvirtd: Testvirtd, golibvirt: Path) -> None:
    """go-libvirt's Connect() sends qemu:///system, which testvirtd serves as a QEMU view
    of the same hypervisor whatever its default URI (libvirtd's test driver refuses it)."""
    assert testvirtd.tcp_port is not None
    proc = peers.run_go(golibvirt, "-host", testvirtd.host, "-port", str(testvirtd.tcp_port),
                        "-plain-connect")
    assert proc.returncode == 0, describe(proc)
    steps = peers.by_step(peers.json_lines(proc.stdout))
    assert steps["connect"]["uri"] == "qemu:///system"
    assert steps["summary"]["ok"] is True


def test_golibvirt_with_qemu_default_uri(golibvirt: Path) -> None:
    """A daemon started with --default-uri qemu:///system serves go-libvirt's Connect()."""
    with running("--default-uri", "qemu:///system") as daemon:
        assert daemon.tcp_port is not None
        proc = peers.run_go(golibvirt, "-host", daemon.host, "-port", str(daemon.tcp_port),
                            "-plain-connect")
        assert proc.returncode == 0, describe(proc)
        steps = peers.by_step(peers.json_lines(proc.stdout))
        assert steps["connect"]["uri"] == "qemu:///system"
        assert steps["summary"]["ok"] is True


def _garbage_connections(port: int) -> None:
    cases = [
        b"\x00\x00\x00\x02",  # length < 4
        b"\x00\x00\x00\x08\x00\x00\x00\x00",  # length < header
        b"\x7f\xff\xff\xff" + bytes(24),  # too large
        struct.pack(">IIIiiIi", 28, 0x20008086, 1, 1, 0, 1, 0),  # CONNECT_OPEN, no payload
        struct.pack(">IIIiiIi", 32, 0x20008086, 1, 9999, 0, 2, 0) + b"junk",
        b"GET / HTTP/1.0\r\n\r\n",
    ]
    for data in cases:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(data)
            sock.settimeout(0.5)
            try:
                sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                pass


def test_malformed_input_leaves_daemon_serving(testvirtd: Testvirtd, virsh: str,
                                               system_python: str) -> None:
    assert testvirtd.tcp_port is not None
    with testvirtd.hold(kind="python") as holder:
        _garbage_connections(testvirtd.tcp_port)
        time.sleep(0.2)
        assert holder.alive
        checks.check_virsh_list(testvirtd, "tcp")
        checks.check_virsh_list(testvirtd, "unix")
        checks.virsh_ok(testvirtd.uri_tcp, "suspend", "test")
        assert checks.virsh_ok(testvirtd.uri_unix, "domstate", "test").strip() == "paused"
    assert testvirtd.alive


def test_keepalive_idle_virsh_session(testvirtd: Testvirtd, virsh: str) -> None:
    """Both sides ping after 5 s idle; the session survives and still answers."""
    script = "sleep 7; echo 'list --all'; sleep 1; echo quit"
    shell = subprocess.run(
        ["bash", "-c", f"({script}) | {virsh} -c {testvirtd.uri_tcp}"],
        capture_output=True, text=True, timeout=60, env=peers.client_env(),
    )
    assert shell.returncode == 0, shell.stderr
    assert "test" in shell.stdout and "running" in shell.stdout
