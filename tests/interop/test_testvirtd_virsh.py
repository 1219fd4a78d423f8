"""Real virsh against testvirtd, side by side with the real libvirtd's test driver."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from . import checks, peers
from ._testvirtd import Testvirtd, running
from .peers import Endpoints, RealLibvirtd

pytestmark = pytest.mark.interop


@pytest.fixture
def testvirtd() -> Iterator[Testvirtd]:
    """A fresh testvirtd per test (state changes never leak between tests)."""
    with running() as daemon:
        yield daemon

TRACEDOM_XML = """<domain type='test'>
  <name>tracedom</name>
  <uuid>3a1c5d38-2b5e-4c1f-9a77-0d5c0ffee001</uuid>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686'>hvm</type></os>
</domain>
"""


def normalize(text: str, server: Endpoints) -> str:
    """Remove what legitimately differs between two servers: ports, sockets, CPU time."""
    text = re.sub(r"(CPU time:\s+)[\d.]+s", r"\1<t>", text)
    if server.tcp_port is not None:
        text = text.replace(str(server.tcp_port), "<port>")
    for path in (server.unix_path, server.ro_path):
        if path:
            text = text.replace(path, "<sock>")
    return text


def run(server: Endpoints, args: Sequence[str], transport: str = "tcp") -> tuple[int, str, str]:
    uri = server.uri_tcp if transport == "tcp" else server.uri_unix
    proc = peers.run_virsh(uri, *args)
    return (proc.returncode, normalize(proc.stdout, server), normalize(proc.stderr, server))


# ------------------------------------------------------------------------------ testvirtd alone


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_virsh_list(testvirtd: Testvirtd, virsh: str, transport: str) -> None:
    checks.check_virsh_list(testvirtd, transport)


def test_virsh_basics(testvirtd: Testvirtd, virsh: str) -> None:
    checks.check_virsh_basics(testvirtd)


@pytest.mark.parametrize("holder_kind", ["virsh", "python"])
def test_virsh_state_across_runs(testvirtd: Testvirtd, virsh: str, system_python: str,
                                 holder_kind: str) -> None:
    checks.check_virsh_state_across_runs(testvirtd, holder_kind)


def test_state_discarded_without_holder(
    testvirtd: Testvirtd, real_libvirtd: RealLibvirtd, virsh: str
) -> None:
    """As libvirtd's test driver, test:///default starts afresh once its last connection
    has closed: the next virsh run sees a running "test" again."""
    for server in (real_libvirtd, testvirtd):
        checks.virsh_ok(server.uri_tcp, "suspend", "test")
        assert checks.virsh_ok(server.uri_tcp, "domstate", "test").strip() == "running"


def test_state_kept_with_keep_state(virsh: str) -> None:
    with running("--keep-state") as daemon:
        checks.virsh_ok(daemon.uri_tcp, "suspend", "test")
        assert checks.virsh_ok(daemon.uri_tcp, "domstate", "test").strip() == "paused"


def test_virsh_readonly(testvirtd: Testvirtd, virsh: str) -> None:
    checks.check_virsh_readonly(testvirtd)


def test_qemu_monitor_command(virsh: str) -> None:
    with running("--keep-state") as testvirtd:
        _check_qemu_monitor_command(testvirtd)


def _check_qemu_monitor_command(testvirtd: Testvirtd) -> None:
    out = checks.virsh_ok(testvirtd.uri_tcp, "qemu-monitor-command", "test",
                          '{"execute":"query-status"}')
    assert '"status":"running"' in out  # libvirt's compact JSON
    out = checks.virsh_ok(testvirtd.uri_unix, "qemu-monitor-command", "--hmp", "test",
                          "info status")
    assert "VM status: running" in out
    checks.virsh_ok(testvirtd.uri_tcp, "qemu-monitor-command", "test", '{"execute":"stop"}')
    assert checks.virsh_ok(testvirtd.uri_tcp, "domstate", "test").strip() == "paused"


# ------------------------------------------------------------------------------ side by side

READ_ONLY_COMMANDS = [
    ("version",),
    ("uri",),
    ("hostname",),
    ("nodeinfo",),
    ("capabilities",),
    ("list", "--all"),
    ("dominfo", "test"),
    ("domstate", "test"),
    ("domstate", "--reason", "test"),
    ("domid", "test"),
    ("domuuid", "test"),
    ("domname", "1"),
    ("domname", "6695eb01-f6a4-8304-79aa-97f2502e193f"),
    ("dumpxml", "test"),
    ("domstate", "no-such-domain"),
    ("net-list", "--all"),
    ("net-info", "default"),
    ("pool-list", "--all"),
    ("pool-info", "default-pool"),
]


@pytest.mark.libvirtd
@pytest.mark.parametrize("args", READ_ONLY_COMMANDS, ids=" ".join)
def test_same_output_as_libvirtd(real_libvirtd: RealLibvirtd, testvirtd: Testvirtd,
                                 args: tuple[str, ...]) -> None:
    assert run(testvirtd, args) == run(real_libvirtd, args)


@pytest.mark.libvirtd
def test_same_output_unix(real_libvirtd: RealLibvirtd, testvirtd: Testvirtd) -> None:
    for args in (("list", "--all"), ("dominfo", "test")):
        assert run(testvirtd, args, "unix") == run(real_libvirtd, args, "unix")


def _lifecycle_script(xml_path: Path) -> list[tuple[str, ...]]:
    return [
        ("suspend", "test"), ("domstate", "--reason", "test"), ("suspend", "test"),
        ("resume", "test"), ("domstate", "--reason", "test"), ("resume", "test"),
        ("reboot", "test"), ("domstate", "--reason", "test"),
        ("shutdown", "test"), ("domstate", "--reason", "test"), ("shutdown", "test"),
        ("start", "test"), ("domstate", "--reason", "test"), ("domid", "test"),
        ("list", "--all"), ("destroy", "test"), ("domstate", "--reason", "test"),
        ("destroy", "test"), ("start", "test"), ("list", "--all"),
        ("define", str(xml_path)), ("list", "--all"), ("dominfo", "tracedom"),
        ("start", "tracedom"), ("list", "--all"), ("destroy", "tracedom"),
        ("undefine", "tracedom"), ("list", "--all"), ("undefine", "tracedom"),
    ]


@pytest.mark.libvirtd
def test_same_lifecycle_as_libvirtd(real_libvirtd: RealLibvirtd, testvirtd: Testvirtd,
                                    tmp_path: Path) -> None:
    xml_path = tmp_path / "tracedom.xml"
    xml_path.write_text(TRACEDOM_XML)
    results: dict[str, list[tuple[int, str, str]]] = {}
    for server in (real_libvirtd, testvirtd):
        with server.hold():
            results[server.name] = [run(server, args) for args in _lifecycle_script(xml_path)]
    for args, ours, theirs in zip(_lifecycle_script(xml_path), results["testvirtd"],
                                  results["libvirtd"], strict=True):
        assert ours == theirs, args


def _events(server: Endpoints, actions: Sequence[tuple[str, ...]]) -> list[str]:
    argv = [peers.find_virsh(), "-c", server.uri_tcp, "event", "--loop", "--all",
            "--timeout", "4"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=peers.client_env(), stdin=subprocess.DEVNULL) as proc:
        time.sleep(1.0)
        for args in actions:
            checks.virsh_ok(server.uri_tcp, *args)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return [line for line in out.splitlines() if line.startswith("event '")]


@pytest.mark.libvirtd
def test_same_events_as_libvirtd(real_libvirtd: RealLibvirtd, testvirtd: Testvirtd) -> None:
    actions = [("suspend", "test"), ("resume", "test"), ("destroy", "test"), ("start", "test"),
               ("shutdown", "test")]
    ours = _events(testvirtd, actions)
    assert ours == [
        "event 'lifecycle' for domain 'test': Suspended Paused",
        "event 'lifecycle' for domain 'test': Resumed Unpaused",
        "event 'lifecycle' for domain 'test': Stopped Destroyed",
        "event 'lifecycle' for domain 'test': Started Booted",
        "event 'lifecycle' for domain 'test': Stopped Shutdown",
    ]
    assert ours == _events(real_libvirtd, actions)
