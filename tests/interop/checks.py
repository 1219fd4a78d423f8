"""Interop assertions that take a server description, so they run against any server.

Each ``check_*`` function receives an :class:`~tests.interop.peers.Endpoints`-like object
(``uri_tcp``, ``uri_unix``, ``uri_ro``, ``uri_admin``, ``host``, ``tcp_port``, ``unix_path``,
``driver_uri``) and asserts what a real libvirtd 9.0 with the test driver does.  They
return the parsed client output so callers can assert more.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import peers
from .peers import Endpoints, by_step, describe, json_lines

TEST_DOMAIN = "test"
TEST_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
MISSING_DOMAIN = "no-such-domain"
VIR_ERR_NO_DOMAIN = 42
VIR_ERR_NO_CONNECT = 5
VIR_ERR_OPERATION_DENIED = 29
VIR_FROM_DOM = 12


def _uri(server: Endpoints, transport: str) -> str:
    return {
        "tcp": server.uri_tcp,
        "unix": server.uri_unix,
        "ro": server.uri_ro,
    }[transport]


def parse_virsh_list(text: str) -> list[dict[str, str]]:
    """Rows of ``virsh list`` output as dicts with id, name, state."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s*(\d+|-)\s+(\S+)\s+(.+?)\s*$", line)
        if m and not line.lstrip().startswith("Id"):
            rows.append({"id": m.group(1), "name": m.group(2), "state": m.group(3)})
    return rows


def virsh_ok(uri: str, *args: str, timeout: float = peers.DEFAULT_TIMEOUT) -> str:
    proc = peers.run_virsh(uri, *args, timeout=timeout)
    assert proc.returncode == 0, describe(proc)
    return proc.stdout


def check_virsh_list(server: Endpoints, transport: str = "tcp") -> list[dict[str, str]]:
    """``virsh list --all`` shows the test domain running."""
    rows = parse_virsh_list(virsh_ok(_uri(server, transport), "list", "--all"))
    assert {"id": "1", "name": TEST_DOMAIN, "state": "running"} in rows, rows
    return rows


def check_virsh_basics(server: Endpoints, transport: str = "tcp") -> dict[str, str]:
    """version, uri, hostname, domstate, domuuid, dumpxml and a missing-domain error."""
    uri = _uri(server, transport)
    out = {
        "version": virsh_ok(uri, "version", "--daemon"),
        "uri": virsh_ok(uri, "uri").strip(),
        "hostname": virsh_ok(uri, "hostname").strip(),
        "domstate": virsh_ok(uri, "domstate", TEST_DOMAIN).strip(),
        "domuuid": virsh_ok(uri, "domuuid", TEST_DOMAIN).strip(),
        "dumpxml": virsh_ok(uri, "dumpxml", TEST_DOMAIN),
    }
    assert re.search(r"Using library: libvirt \d+\.\d+\.\d+", out["version"]), out["version"]
    assert "Running hypervisor: TEST " in out["version"], out["version"]
    assert re.search(r"Running against daemon: \d+\.\d+\.\d+", out["version"]), out["version"]
    assert out["uri"] == uri
    assert out["hostname"]
    assert out["domstate"] == "running"
    assert out["domuuid"] == TEST_UUID
    assert f"<name>{TEST_DOMAIN}</name>" in out["dumpxml"]
    assert f"<uuid>{TEST_UUID}</uuid>" in out["dumpxml"]

    missing = peers.run_virsh(uri, "domstate", MISSING_DOMAIN)
    assert missing.returncode == 1, describe(missing)
    assert f"failed to get domain '{MISSING_DOMAIN}'" in missing.stderr, describe(missing)
    return out


def check_virsh_state_across_runs(server: Endpoints, holder_kind: str = "virsh") -> None:
    """With a holder connection open, suspend/resume in separate virsh runs see shared state."""
    uri = server.uri_tcp
    with server.hold(kind=holder_kind) as holder:
        assert virsh_ok(uri, "domstate", TEST_DOMAIN).strip() == "running"
        assert "suspended" in virsh_ok(uri, "suspend", TEST_DOMAIN)
        assert virsh_ok(uri, "domstate", TEST_DOMAIN).strip() == "paused"
        assert "resumed" in virsh_ok(uri, "resume", TEST_DOMAIN)
        assert virsh_ok(uri, "domstate", TEST_DOMAIN).strip() == "running"
        assert holder.alive


def check_virsh_readonly(server: Endpoints) -> None:
    """The read-only socket lists domains but refuses to change them."""
    rows = parse_virsh_list(virsh_ok(server.uri_ro, "list", "--all"))
    assert any(r["name"] == TEST_DOMAIN for r in rows), rows
    proc = peers.run_virsh(server.uri_ro, "suspend", TEST_DOMAIN)
    assert proc.returncode == 1, describe(proc)
    assert "read only access prevents virDomainSuspend" in proc.stderr, describe(proc)


def check_virt_admin_server_list(server: Endpoints) -> list[str]:
    """``virt-admin server-list`` over the admin socket names the libvirtd and admin servers."""
    proc = peers.run_virt_admin(server.uri_admin, "server-list")
    assert proc.returncode == 0, describe(proc)
    names = [m.group(1) for m in re.finditer(r"^\s*\d+\s+(\S+)\s*$", proc.stdout, re.M)]
    assert "libvirtd" in names, describe(proc)
    assert "admin" in names, describe(proc)
    return names


def check_golibvirt(
    server: Endpoints, binary: str | Path, transport: str = "tcp"
) -> dict[str, Any]:
    """go-libvirt: open, lib version, domain listing, lookup, state, destroy/create, errors."""
    proc = peers.run_go(binary, *peers.golibvirt_args(server, transport=transport))
    assert proc.returncode == 0, describe(proc)
    steps = by_step(json_lines(proc.stdout))
    assert steps["summary"]["ok"] is True, describe(proc)
    assert steps["connect"]["uri"] == server.driver_uri
    assert steps["lib_version"]["version"] >= 9_000_000
    for key in ("domains", "list_all_domains"):
        names = [d["name"] for d in steps[key]["domains"]]
        assert TEST_DOMAIN in names, steps[key]
    dom = steps["lookup"]["domain"]
    assert dom["name"] == TEST_DOMAIN
    assert dom["uuid"] == TEST_UUID.replace("-", "")
    assert steps["state"]["state"] == 1
    assert steps["state_after_destroy"]["state"] == 5
    assert steps["state_after_create"]["state"] == 1
    assert steps["lookup_by_uuid"]["domain"]["name"] == TEST_DOMAIN
    missing = steps["lookup_missing"]
    assert missing["ok"] is True, missing
    assert missing["libvirt_error"] is True, missing
    assert missing["not_found"] is True, missing
    assert missing["code"] == VIR_ERR_NO_DOMAIN, missing
    assert "Domain not found" in missing["message"], missing
    assert steps["disconnect"]["ok"] is True
    return steps


def check_golibvirt_plain_connect_refused(server: Endpoints, binary: str | Path) -> dict[str, Any]:
    """go-libvirt's Connect() opens qemu:///system; a test-driver-only daemon refuses it."""
    assert server.tcp_port is not None
    proc = peers.run_go(
        binary, "-host", server.host, "-port", str(server.tcp_port), "-plain-connect"
    )
    assert proc.returncode == 1, describe(proc)
    connect = by_step(json_lines(proc.stdout))["connect"]
    assert connect["ok"] is False, connect
    assert connect["uri"] == "qemu:///system", connect
    assert connect["libvirt_error"] is True, connect
    assert connect["code"] == VIR_ERR_NO_CONNECT, connect
    assert "no connection driver available for qemu:///system" in connect["error"], connect
    return connect


def check_goqemu_libvirt_refused(server: Endpoints, binary: str | Path) -> dict[str, Any]:
    """go-qemu's LibvirtRPCMonitor fails cleanly when the server has no qemu driver."""
    assert server.tcp_port is not None
    proc = peers.run_go(
        binary, "-mode", "libvirt", "-host", server.host, "-port", str(server.tcp_port)
    )
    assert proc.returncode == 1, describe(proc)
    steps = by_step(json_lines(proc.stdout))
    assert steps["dial"]["ok"] is True
    assert steps["connect"]["ok"] is False, steps
    assert "qemu:///system" in steps["connect"]["error"], steps
    assert steps["summary"]["ok"] is False
    return steps


def check_goqemu_socket(
    qmp_path: str | Path,
    binary: str | Path,
    *,
    events_seconds: float = 0,
    trigger: str = "",
    expect_events: tuple[str, ...] = (),
    with_file: bool = False,
) -> dict[str, Any]:
    """go-qemu's SocketMonitor on a QMP unix socket: handshake, query-status, events."""
    args = ["-mode", "socket", "-qmp", str(qmp_path)]
    if events_seconds:
        args += ["-events", str(events_seconds)]
        if expect_events:
            args += ["-max-events", str(len(expect_events))]
    if trigger:
        args += ["-trigger", trigger]
    if with_file:
        args.append("-with-file")
    proc = peers.run_go(binary, *args, timeout=peers.DEFAULT_TIMEOUT + events_seconds)
    assert proc.returncode == 0, describe(proc)
    records = json_lines(proc.stdout)
    steps: dict[str, Any] = dict(by_step(records))
    assert steps["connect"]["ok"] is True
    assert steps["run"]["response"]["return"]["status"] in ("running", "paused"), steps["run"]
    events = [r["event"] for r in records if r.get("step") == "event"]
    assert list(expect_events) == events[: len(expect_events)], describe(proc)
    if with_file:
        assert steps["run_with_file"]["ok"] is True, steps["run_with_file"]
    steps["events"] = events
    return steps


def check_pyclient(server: Endpoints, transport: str = "tcp") -> dict[str, Any]:
    """libvirt-python: lookups, info, state, XML, suspend/resume/destroy/create with events."""
    uri = _uri(server, transport)
    proc = peers.run_pyclient(uri)
    assert proc.returncode == 0, describe(proc)
    records = json_lines(proc.stdout)
    steps = by_step(records)
    assert steps["summary"]["ok"] is True, describe(proc)
    assert steps["lib_version"]["version"] >= 9_000_000
    assert steps["uri"]["value"] == uri
    assert steps["hostname"]["hostname"]
    doms = {d["name"]: d for d in steps["list_all_domains"]["domains"]}
    assert doms[TEST_DOMAIN]["state"] == "running", doms
    assert steps["domain"]["uuid"] == TEST_UUID
    for key in ("lookup_by_uuid", "lookup_by_uuid_raw", "lookup_by_id"):
        assert steps[key]["name"] == TEST_DOMAIN, steps[key]
    assert steps["info"]["state_name"] == "running"
    assert steps["info"]["vcpus"] >= 1
    assert steps["xml_desc"]["has_name"] is True
    assert steps["state_after_suspend"]["state_name"] == "paused"
    assert steps["state_after_resume"]["state_name"] == "running"
    assert steps["state_after_destroy"]["state_name"] == "shutoff"
    assert steps["state_after_create"]["state_name"] == "running"
    events = [(e["dom"], e["event_name"]) for e in steps["summary"]["events"]]
    assert events[:4] == [
        (TEST_DOMAIN, "suspended"),
        (TEST_DOMAIN, "resumed"),
        (TEST_DOMAIN, "stopped"),
        (TEST_DOMAIN, "started"),
    ], events
    missing = steps["lookup_missing"]
    assert missing["ok"] is True, missing
    assert missing["code"] == VIR_ERR_NO_DOMAIN, missing
    assert missing["domain"] == VIR_FROM_DOM, missing
    return steps
