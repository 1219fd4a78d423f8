"""FD passing with real clients: ``virsh create --pass-fds``, ``virsh qemu-monitor-command
--pass-fds`` and go-qemu's ``RunWithFile`` on a domain's QMP socket."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import checks, peers
from ._testvirtd import ROOT, Testvirtd, running

pytestmark = pytest.mark.interop

DOM_XML = """<domain type='test'>
  <name>fdtest</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686'>hvm</type></os>
</domain>
"""


@pytest.fixture
def testvirtd() -> Iterator[Testvirtd]:
    # several client runs act on one state: kept, unlike libvirtd's test driver
    with running("--keep-state") as daemon:
        yield daemon


def virsh_fds(uri: str, *args: str, fds: int = 2) -> subprocess.CompletedProcess[str]:
    """virsh with descriptors 3 .. 3+fds-1 open (temporary files)."""
    files = [tempfile.TemporaryFile() for _ in range(fds)]
    try:
        mapping = {3 + i: f.fileno() for i, f in enumerate(files)}
        argv = [peers.require_peer(peers.find_virsh), "-c", uri, *args]

        def remap() -> None:
            for target, source in mapping.items():
                os.dup2(source, target)
                os.set_inheritable(target, True)

        return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              preexec_fn=remap, close_fds=False,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                   "HOME": os.environ.get("HOME", "/tmp")})
    finally:
        for f in files:
            f.close()


def qmp(uri: str, dom: str, cmd: str) -> Any:
    return json.loads(checks.virsh_ok(uri, "qemu-monitor-command", dom, cmd))


def test_create_pass_fds(testvirtd: Testvirtd, virsh: str, tmp_path: Path) -> None:
    xml = tmp_path / "dom.xml"
    xml.write_text(DOM_XML)
    proc = virsh_fds(testvirtd.uri_unix, "create", str(xml), "--pass-fds", "3,4")
    assert proc.returncode == 0, peers.describe(proc)
    assert "Domain 'fdtest' created" in proc.stdout
    fdsets = qmp(testvirtd.uri_unix, "fdtest", '{"execute":"query-fdsets"}')["return"]
    assert [e["opaque"] for e in fdsets[0]["fds"]] == ["pass-fds:0", "pass-fds:1"]
    # over TCP the client itself refuses to send descriptors (as with libvirtd)
    proc = virsh_fds(testvirtd.uri_tcp, "create", str(xml), "--pass-fds", "3")
    assert proc.returncode != 0
    assert "Sending file descriptors is not supported on this socket" in proc.stderr
    assert checks.virsh_ok(testvirtd.uri_tcp, "domstate", "test").strip() == "running"


def test_qemu_monitor_command_pass_fds(testvirtd: Testvirtd, virsh: str) -> None:
    u = testvirtd.uri_unix
    proc = virsh_fds(u, "qemu-monitor-command", "test", "--pass-fds", "3",
                     '{"execute":"getfd","arguments":{"fdname":"x"}}', fds=1)
    assert proc.returncode == 0, peers.describe(proc)
    assert json.loads(proc.stdout)["return"] == {}
    # the monitor kept it under that name: closefd finds it once
    assert qmp(u, "test", '{"execute":"closefd","arguments":{"fdname":"x"}}')["return"] == {}
    again = qmp(u, "test", '{"execute":"closefd","arguments":{"fdname":"x"}}')
    assert again["error"]["desc"] == "File descriptor named 'x' not found"
    proc = virsh_fds(u, "qemu-monitor-command", "test", "--pass-fds", "3",
                     '{"execute":"add-fd","arguments":{"opaque":"from-virsh"}}', fds=1)
    assert proc.returncode == 0, peers.describe(proc)
    fdsets = qmp(u, "test", '{"execute":"query-fdsets"}')["return"]
    assert [e["opaque"] for s in fdsets for e in s["fds"]] == ["from-virsh"]
    proc = virsh_fds(u, "qemu-monitor-command", "test", "--pass-fds", "3,4",
                     '{"execute":"getfd","arguments":{"fdname":"y"}}', fds=2)
    assert proc.returncode != 0
    assert "at most 1 fd can be passed to qemu along with a command" in proc.stderr


LAUNCHER = textwrap.dedent("""
    import sys, anyio
    from daemons.testvirtd.daemon import Listen, TestVirtd
    from daemons.testvirtd.hypervisor import Hypervisor

    async def main(workdir):
        hv = Hypervisor()
        daemon = TestVirtd(hv, [Listen("unix", path=workdir + "/sock"),
                                Listen("tcp", host="127.0.0.1", port=0)], keep_state=True,
                           qmp_dir=workdir + "/qemu")
        async with anyio.create_task_group() as tg:
            await tg.start(daemon.run)  # returns on SIGTERM
            print("qmp", daemon.qmp_sockets.path("test"), flush=True)
            print("ready", flush=True)
    anyio.run(main, sys.argv[1])
""")


@pytest.fixture
def testvirtd_with_qmp() -> Iterator[tuple[str, str]]:
    """testvirtd plus per-domain QMP sockets: (unix URI, QMP socket of domain "test")."""
    workdir = tempfile.mkdtemp(prefix="tvq-", dir="/tmp")
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, workdir], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        qmp_path = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.match(r"qmp (\S+)", line)
            if m:
                qmp_path = m.group(1)
            if line.strip() == "ready":
                break
        assert qmp_path, proc.stderr.read() if proc.stderr else ""
        yield f"test+unix:///default?socket={workdir}/sock", qmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_goqemu_run_with_file_on_domain_socket(testvirtd_with_qmp: tuple[str, str],
                                               goqemu: Path, virsh: str) -> None:
    uri, qmp_path = testvirtd_with_qmp
    add_fd = '{"execute":"add-fd","arguments":{"opaque":"goqemu"}}'
    proc = peers.run_go(goqemu, "-mode", "socket", "-qmp", qmp_path, "-with-file",
                        "-file-cmd", add_fd)
    assert proc.returncode == 0, peers.describe(proc)
    steps = dict(peers.by_step(peers.json_lines(proc.stdout)))
    response = steps["run_with_file"]["response"]["return"]
    fdsets = qmp(uri, "test", '{"execute":"query-fdsets"}')["return"]
    assert fdsets == [{"fdset-id": response["fdset-id"],
                       "fds": [{"fd": response["fd"], "opaque": "goqemu"}]}]
    # getfd (go-qemu's default) through the same socket, then the virsh side closes it
    checks.check_goqemu_socket(qmp_path, goqemu, with_file=True)
    closed = qmp(uri, "test", '{"execute":"closefd","arguments":{"fdname":"netrpc-fd"}}')
    assert closed["return"] == {}
