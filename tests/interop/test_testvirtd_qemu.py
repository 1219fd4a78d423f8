"""testvirtd as a QEMU host for real clients: virsh over qemu+tcp (monitor, agent and
monitor events), libvirt-python's libvirt_qemu, go-libvirt's plain Connect(), go-qemu's
LibvirtRPCMonitor and SocketMonitor on the domain's QMP socket."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from . import checks, peers
from ._testvirtd import Testvirtd, running
from .peers import by_step, describe, json_lines

pytestmark = pytest.mark.interop

GO_QEMU_PROGRAMS = ("golibvirt_plain",)


@pytest.fixture
def testvirtd() -> Iterator[Testvirtd]:
    # several client runs act on one state: kept, unlike libvirtd's test driver
    with running("--keep-state") as daemon:
        yield daemon


@pytest.fixture(scope="module")
def golibvirt_plain(go_sources: tuple[Path, Path]) -> Path:
    return peers.build_go_programs(GO_QEMU_PROGRAMS)["golibvirt_plain"]


def qemu_uri(server: Testvirtd) -> str:
    assert server.tcp_port is not None
    return f"qemu+tcp://127.0.0.1:{server.tcp_port}/system"


def qmp_socket(server: Testvirtd, domain: str = "test") -> str:
    path = str(server.workdir / "qmp" / f"{domain}.sock")
    assert any(line.strip() == f"qmp: {server.workdir}/qmp/<domain>.sock"
               for line in server.lines), server.lines
    return path


def remote(server: Testvirtd, *args: str) -> str:
    """A virsh command through the REMOTE program of the test:///default view."""
    return checks.virsh_ok(server.uri_tcp, *args)


def test_virsh_qemu_view(testvirtd: Testvirtd, virsh: str) -> None:
    uri = qemu_uri(testvirtd)
    assert checks.virsh_ok(uri, "uri").strip() == uri
    version = checks.virsh_ok(uri, "version")
    assert "Running hypervisor: QEMU 7.2.0" in version, version
    assert "Using API: QEMU 9.0.0" in version, version
    rows = checks.virsh_ok(uri, "list").splitlines()
    assert rows[2].split() == ["1", "test", "running"], rows
    info = dict(
        (k.strip(), v.strip())
        for k, v in (line.split(":", 1) for line in checks.virsh_ok(uri, "dominfo", "test")
                     .splitlines() if ":" in line)
    )
    assert info["Name"] == "test" and info["State"] == "running", info
    assert info["OS Type"] == "hvm" and info["Security model"] == "none", info
    caps = checks.virsh_ok(uri, "capabilities")
    assert "<domain type='kvm'/>" in caps and "<domain type='qemu'/>" in caps


def test_virsh_qemu_monitor_command(testvirtd: Testvirtd, virsh: str) -> None:
    uri = qemu_uri(testvirtd)
    status = json.loads(checks.virsh_ok(uri, "qemu-monitor-command", "--pretty", "test",
                                        '{"execute":"query-status"}'))
    assert status["return"] == {"status": "running", "singlestep": False, "running": True}
    assert status["id"].startswith("libvirt-")
    out = checks.virsh_ok(uri, "qemu-monitor-command", "--pretty", "test",
                          '{"execute":"query-version"}')
    assert '"major": 7' in out and '"minor": 2' in out, out
    raw = checks.virsh_ok(uri, "qemu-monitor-command", "test", '{"execute":"query-status"}')
    assert raw.startswith('{"return":{"status":"running","singlestep":false,"running":true},'
                          '"id":"libvirt-'), raw
    assert checks.virsh_ok(uri, "qemu-monitor-command", "--hmp", "test",
                           "info status").strip() == "VM status: running"


def test_virsh_qemu_agent_command(testvirtd: Testvirtd, virsh: str) -> None:
    uri = qemu_uri(testvirtd)
    out = checks.virsh_ok(uri, "qemu-agent-command", "test", '{"execute":"guest-ping"}')
    assert out.strip() == '{"return":{}}'
    out = checks.virsh_ok(uri, "qemu-agent-command", "--pretty", "test",
                          '{"execute":"guest-get-host-name"}')
    assert json.loads(out) == {"return": {"host-name": "test"}}
    proc = peers.run_virsh(uri, "qemu-agent-command", "test", '{"execute":"guest-exec"}')
    assert proc.returncode == 1, describe(proc)
    assert ("unable to execute QEMU agent command 'guest-exec': "
            "The command guest-exec has not been found") in proc.stderr, describe(proc)
    remote(testvirtd, "destroy", "test")
    proc = peers.run_virsh(uri, "qemu-agent-command", "test", '{"execute":"guest-ping"}')
    assert proc.returncode == 1, describe(proc)
    assert "Requested operation is not valid: domain is not running" in proc.stderr


def virsh_monitor_events(
    virsh: str, uri: str, args: Sequence[str], server: Testvirtd, actions: list[list[str]]
) -> tuple[str, str]:
    """Run ``virsh qemu-monitor-event ARGS`` while *actions* run through the test view."""
    argv = [virsh, "-c", uri, "qemu-monitor-event", *args]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=peers.client_env()) as listener:
        try:
            time.sleep(2)  # let virsh register before the events happen
            for action in actions:
                remote(server, *action)
            return listener.communicate(timeout=30)
        finally:
            if listener.poll() is None:
                listener.kill()
                listener.communicate()


def test_virsh_qemu_monitor_event(testvirtd: Testvirtd, virsh: str) -> None:
    """``qemu-monitor-event --loop`` sees STOP/RESUME when another client (through the
    REMOTE program of the test view) suspends and resumes the domain."""
    uri = qemu_uri(testvirtd)
    out, err = virsh_monitor_events(virsh, uri, ["--loop", "--timeout", "6"], testvirtd,
                                    [["suspend", "test"], ["resume", "test"]])
    lines = [line for line in out.splitlines() if line.startswith("event ") and " at " in line]
    assert [line.split()[1] for line in lines] == ["STOP", "RESUME"], (out, err)
    assert lines[0].endswith("for domain 'test': <null>"), lines
    assert "events received: 2" in out, out
    # a case-insensitive regex on one domain: a shutdown emits POWERDOWN and SHUTDOWN
    out, err = virsh_monitor_events(
        virsh, uri, ["--domain", "test", "--event", "shut", "--regex", "--no-case",
                     "--timeout", "6"], testvirtd, [["shutdown", "test"]])
    assert "event SHUTDOWN at " in out, (out, err)
    assert """for domain 'test': {"guest":true,"reason":"guest-shutdown"}""" in out, out
    assert "POWERDOWN" not in out


PY_QEMU = r"""
import json, sys, libvirt, libvirt_qemu
conn = libvirt.open(sys.argv[1])
dom = conn.lookupByName("test")
out = {
    "type": conn.getType(),
    "version": conn.getVersion(),
    "uri": conn.getURI(),
    "qmp": libvirt_qemu.qemuMonitorCommand(dom, '{"execute":"query-status"}', 0),
    "hmp": libvirt_qemu.qemuMonitorCommand(dom, "info version", 1),
    "agent": libvirt_qemu.qemuAgentCommand(dom, '{"execute":"guest-ping"}', -1, 0),
}
print(json.dumps(out))
"""


def test_libvirt_python_qemu_monitor_command(testvirtd: Testvirtd, system_python: str) -> None:
    uri = qemu_uri(testvirtd)
    proc = peers.run_system_python("-c", PY_QEMU, uri)
    assert proc.returncode == 0, describe(proc)
    out = json.loads(proc.stdout)
    assert (out["type"], out["version"], out["uri"]) == ("QEMU", 7_002_000, uri)
    qmp = json.loads(out["qmp"])
    assert qmp["return"]["status"] == "running" and qmp["id"].startswith("libvirt-")
    assert out["hmp"] == "7.2.0 (Debian 1:7.2+dfsg-7+deb12u6)\r\n"
    assert out["agent"] == '{"return":{}}'


# ------------------------------------------------------------------------------ Go


@pytest.mark.parametrize("default_uri", ["test:///default", "qemu:///system"])
def test_golibvirt_plain_connect(golibvirt_plain: Path, default_uri: str) -> None:
    """go-libvirt's Connect() sends qemu:///system: a QEMU view whatever the default URI."""
    with running("--default-uri", default_uri) as daemon:
        assert daemon.tcp_port is not None
        proc = peers.run_go(golibvirt_plain, "-port", str(daemon.tcp_port))
        assert proc.returncode == 0, describe(proc)
        steps = by_step(json_lines(proc.stdout))
        assert steps["uri"]["uri"] == "qemu:///system"
        assert steps["type"]["type"] == "QEMU"
        assert steps["version"]["version"] == 7_002_000
        assert steps["capabilities"]["kvm"] is True
        assert steps["monitor_qmp"]["result"]["return"]["status"] == "running"
        assert steps["monitor_hmp"]["result"] == "VM status: running\r\n"
        assert steps["agent_ping"]["result"] == {"return": {}}
        assert steps["summary"]["ok"] is True


def run_goqemu_with_trigger(
    binary: Path, args: Sequence[str], trigger: list[list[str]], server: Testvirtd
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, object]]]:
    """Run goqemu; once it has subscribed to events, run the *trigger* virsh commands
    (through the REMOTE program) and collect its output."""
    lines: list[str] = []
    errors: list[str] = []
    with subprocess.Popen([str(binary), *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=peers.client_env()) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        stderr = proc.stderr
        drain = threading.Thread(target=lambda: errors.extend(stderr), daemon=True)
        drain.start()
        try:
            for line in proc.stdout:
                lines.append(line)
                if '"step":"events_subscribe"' in line:
                    for command in trigger:
                        remote(server, *command)
                    break
            lines.extend(proc.stdout)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            drain.join(timeout=5)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines),
                                       "".join(errors))
    return done, json_lines(done.stdout)


def test_goqemu_libvirt_rpc_monitor(testvirtd: Testvirtd, goqemu: Path) -> None:
    """qmp.NewLibvirtRPCMonitor: Connect (qemu:///system), Run query-status, Events.

    go-libvirt decodes DOMAIN_MONITOR_EVENT's optional ``details`` as plain opaque data, so
    it drops events without details, which is how libvirt relays QMP STOP and RESUME: the
    suspend and resume give go-qemu nothing, the RESET that follows (with details) arrives.
    """
    assert testvirtd.tcp_port is not None
    args = ["-mode", "libvirt", "-port", str(testvirtd.tcp_port), "-events", "8",
            "-max-events", "1"]
    proc, records = run_goqemu_with_trigger(
        goqemu, args, [["suspend", "test"], ["resume", "test"], ["reset", "test"]], testvirtd)
    assert proc.returncode == 0, describe(proc)
    steps = by_step(records)
    assert steps["connect"]["uri"] == "qemu:///system"
    response = steps["run"]["response"]
    assert isinstance(response, dict) and response["return"]["status"] == "running"
    events = [r for r in records if r.get("step") == "event"]
    assert [e["event"] for e in events] == ["RESET"], describe(proc)
    assert events[0]["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
    assert steps["summary"]["ok"] is True


def test_goqemu_socket_monitor(testvirtd: Testvirtd, goqemu: Path) -> None:
    """qmp.NewSocketMonitor on the domain's QMP socket: query-status, then the STOP and
    RESUME of a suspend/resume done by another client through libvirt's REMOTE program."""
    path = qmp_socket(testvirtd)
    assert os.path.exists(path)
    args = ["-mode", "socket", "-qmp", path, "-events", "8", "-max-events", "2"]
    proc, records = run_goqemu_with_trigger(
        goqemu, args, [["suspend", "test"], ["resume", "test"]], testvirtd)
    assert proc.returncode == 0, describe(proc)
    steps = by_step(records)
    assert steps["connect"]["version"] == "7.2.0"
    response = steps["run"]["response"]
    assert isinstance(response, dict) and response["return"]["status"] == "running"
    assert [r["event"] for r in records if r.get("step") == "event"] == ["STOP", "RESUME"]
    # the QMP socket goes away with the domain and comes back when it starts again
    remote(testvirtd, "destroy", "test")
    deadline = time.monotonic() + 5
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(path)
    remote(testvirtd, "start", "test")
    while not os.path.exists(path) and time.monotonic() < deadline + 5:
        time.sleep(0.05)
    steps = checks.check_goqemu_socket(path, goqemu)
    assert steps["connect"]["ok"] is True
