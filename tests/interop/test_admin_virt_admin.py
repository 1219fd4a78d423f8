"""The real virt-admin against a netrpc daemon with enable_admin (tests/admin/admin_daemon.py),
and the same commands against the real libvirtd for the output layout."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from netrpc import Client

from . import peers

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
ECHO_PROGRAM = 0x20240AD0


class NetrpcDaemon:
    def __init__(self, workdir: str, config: str | None = None) -> None:
        argv = [sys.executable, "-m", "tests.admin.admin_daemon", "--dir", workdir, "--tcp"]
        if config:
            argv += ["--config", config]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"daemon did not start: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.info: dict[str, Any] = json.loads(line)
        self.uri = f"libvirtd:///system?socket={self.info['admin']}"

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return peers.run_virt_admin(self.uri, *args)

    def ok(self, *args: str) -> str:
        proc = self.admin(*args)
        assert proc.returncode == 0, peers.describe(proc)
        return proc.stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def netrpcd(virt_admin: str) -> Iterator[NetrpcDaemon]:
    workdir = tempfile.mkdtemp(prefix="netrpc-adm-", dir="/tmp")
    daemon = NetrpcDaemon(workdir)
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def kv(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            out[key.strip()] = value.strip()
    return out


def table_ids(text: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(r"^ (\d+) ", text, re.M)]


def test_version_and_server_list(netrpcd: NetrpcDaemon) -> None:
    assert "Running against daemon: 9.0.0" in netrpcd.ok("version")
    out = netrpcd.ok("server-list")
    assert out == (" Id   Name\n-----------------\n 0    testvirtd\n 1    admin\n\n")


def test_threadpool_info_and_set(netrpcd: NetrpcDaemon) -> None:
    assert kv(netrpcd.ok("server-threadpool-info", "testvirtd")) == {
        "minWorkers": "5",
        "maxWorkers": "20",
        "nWorkers": "5",
        "freeWorkers": "5",
        "prioWorkers": "5",
        "jobQueueDepth": "0",
    }
    netrpcd.ok(
        "server-threadpool-set",
        "testvirtd",
        "--min-workers",
        "1",
        "--max-workers",
        "3",
        "--priority-workers",
        "2",
    )
    info = kv(netrpcd.ok("server-threadpool-info", "testvirtd"))
    assert (info["minWorkers"], info["maxWorkers"], info["prioWorkers"]) == ("1", "3", "2")
    bad = netrpcd.admin("server-threadpool-set", "testvirtd", "--min-workers", "10")
    assert bad.returncode == 1
    assert "error: invalid argument: minWorkers cannot be larger than maxWorkers" in bad.stderr
    assert kv(netrpcd.ok("server-threadpool-info", "admin"))["prioWorkers"] == "0"


def test_missing_server(netrpcd: NetrpcDaemon) -> None:
    proc = netrpcd.admin("server-threadpool-info", "nosuchsrv")
    assert proc.returncode == 1
    assert "error: Server not found: No server named 'nosuchsrv'" in proc.stderr


async def test_clients_list_info_limits_and_disconnect(netrpcd: NetrpcDaemon) -> None:
    info = netrpcd.info
    # Lower the limit before connecting: a server parked in accept() admits one more
    # connection after a lowering (see the API notes in docs/admin.md).
    netrpcd.ok("server-clients-set", "testvirtd", "--max-clients", "2", "--max-unauth-clients", "1")
    async with Client.unix(info["unix"]) as local, Client.tcp("127.0.0.1", info["tcp"]) as remote:
        await local.call(ECHO_PROGRAM, 1, 1, b"\0\0\0\0")
        await remote.call(ECHO_PROGRAM, 1, 1, b"\0\0\0\0")
        out = await anyio.to_thread.run_sync(netrpcd.ok, "client-list", "testvirtd")
        assert out.startswith(" Id   Transport   Connected since\n")
        assert re.search(r"^ 1\s+unix\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+0000$", out, re.M)
        assert re.search(r"^ 2\s+tcp\s+", out, re.M)
        unix_info = kv(await anyio.to_thread.run_sync(netrpcd.ok, "client-info", "testvirtd", "1"))
        assert unix_info["transport"] == "unix"
        assert unix_info["readonly"] == "no"
        assert unix_info["unix_user_id"] == str(os.getuid())
        assert unix_info["unix_process_id"] == str(os.getpid())
        assert list(unix_info) == [
            "id",
            "connection_time",
            "transport",
            "readonly",
            "unix_user_id",
            "unix_user_name",
            "unix_group_id",
            "unix_group_name",
            "unix_process_id",
        ]
        tcp_info = kv(await anyio.to_thread.run_sync(netrpcd.ok, "client-info", "testvirtd", "2"))
        assert list(tcp_info) == ["id", "connection_time", "transport", "readonly", "sock_addr"]
        assert tcp_info["sock_addr"].startswith("127.0.0.1")  # "127.0.0.1:PORT" (kv splits once)
        limits = kv(await anyio.to_thread.run_sync(netrpcd.ok, "server-clients-info", "testvirtd"))
        assert limits == {
            "nclients_max": "2",
            "nclients": "2",
            "nclients_unauth_max": "1",
            "nclients_unauth": "0",
            "max_client_output": "4194304",
        }
        # the server is full: a third client waits until the limit is raised
        # (over TCP: the unix listener's loop is already parked in accept(), see docs/admin.md)
        async with Client.tcp("127.0.0.1", info["tcp"]) as third:
            with anyio.move_on_after(0.5) as scope:
                await third.call(ECHO_PROGRAM, 1, 1, b"\0\0\0\0")
            assert scope.cancelled_caught
            await anyio.to_thread.run_sync(
                netrpcd.ok, "server-clients-set", "testvirtd", "--max-clients", "3"
            )
            with anyio.fail_after(5):
                await third.call(ECHO_PROGRAM, 1, 1, b"\0\0\0\0")
        out = await anyio.to_thread.run_sync(netrpcd.ok, "client-disconnect", "testvirtd", "1")
        assert "Client '1' disconnected" in out
        with anyio.fail_after(5):
            await local.closed.wait()
        ids = table_ids(await anyio.to_thread.run_sync(netrpcd.ok, "client-list", "testvirtd"))
        assert 1 not in ids and 2 in ids
        missing = await anyio.to_thread.run_sync(netrpcd.admin, "client-info", "testvirtd", "99")
        assert "error: Client not found: No client with matching ID '99'" in missing.stderr


def test_logging_filters_and_outputs(netrpcd: NetrpcDaemon, tmp_path: Path) -> None:
    assert netrpcd.ok("daemon-log-filters") == " Logging filters: \n\n"
    assert netrpcd.ok("daemon-log-outputs") == " Logging outputs: 3:stderr\n\n"
    netrpcd.ok("daemon-log-filters", "1:netrpc.server 3:*")
    assert netrpcd.ok("daemon-log-filters") == " Logging filters: 1:*netrpc.server* 3:*** \n\n"
    log_file = tmp_path / "d.log"
    netrpcd.ok("daemon-log-outputs", f"1:file:{log_file} 4:stderr")
    assert netrpcd.ok("daemon-log-outputs") == f" Logging outputs: 1:file:{log_file} 4:stderr\n\n"
    netrpcd.ok("client-list", "admin")  # connections are logged at debug by netrpc.server
    assert "netrpc.server" in log_file.read_text()
    bad = netrpcd.admin("daemon-log-outputs", "9:stderr")
    assert bad.returncode == 1
    assert "invalid argument: Invalid log priority '9' for log output '9:stderr'" in bad.stderr
    netrpcd.ok("daemon-log-filters", "")
    assert netrpcd.ok("daemon-log-filters") == " Logging filters: \n\n"


def test_update_tls_without_tls_service(netrpcd: NetrpcDaemon) -> None:
    proc = netrpcd.admin("server-update-tls", "testvirtd")
    assert proc.returncode == 1
    assert proc.stderr == (
        "error: Unable to update server's tls related files.\n"
        "error: internal error: no tls service found, unable to update tls files\n"
    )


def test_daemon_timeout_stops_idle_daemon(netrpcd: NetrpcDaemon) -> None:
    netrpcd.ok("daemon-timeout", "--timeout", "1")
    assert netrpcd.proc.wait(15) == 0


def test_sighup_reloads_config(virt_admin: str, tmp_path: Path) -> None:
    workdir = tempfile.mkdtemp(prefix="netrpc-adm-", dir="/tmp")
    conf = tmp_path / "testvirtd.conf"
    conf.write_text("max_clients = 100\nmin_workers = 2\nmax_client_output = 65536\n")
    daemon = NetrpcDaemon(workdir, str(conf))
    try:
        limits = kv(daemon.ok("server-clients-info", "testvirtd"))
        assert (limits["nclients_max"], limits["max_client_output"]) == ("100", "65536")
        assert kv(daemon.ok("server-threadpool-info", "testvirtd"))["minWorkers"] == "2"
        conf.write_text(
            'max_clients = 7\nmax_anonymous_clients = 3\nmax_workers = 9\nlog_filters = "2:netrpc"\n'
            "max_client_output = 0\n"
        )
        daemon.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        limits = kv(daemon.ok("server-clients-info", "testvirtd"))
        assert (limits["nclients_max"], limits["max_client_output"]) == ("7", "0")
        assert kv(daemon.ok("server-threadpool-info", "testvirtd"))["maxWorkers"] == "9"
        assert daemon.ok("daemon-log-filters") == " Logging filters: 2:*netrpc* \n\n"
    finally:
        daemon.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _layout(text: str) -> list[str]:
    """Labels and table headers of virt-admin output, without the values."""
    lines = []
    for line in text.splitlines():
        if re.match(r"^ \d+ ", line):
            lines.append("<row>")
        elif ":" in line:
            lines.append(line.split(":", 1)[0] + ":")
        else:
            lines.append(re.sub(r"-+", "---", line))
    return lines


@pytest.mark.libvirtd
def test_same_layout_as_real_libvirtd(
    netrpcd: NetrpcDaemon, real_libvirtd: peers.RealLibvirtd
) -> None:
    for args, real_server in [
        (("server-threadpool-info", "{srv}"), "libvirtd"),
        (("server-clients-info", "{srv}"), "libvirtd"),
        (("server-threadpool-info", "admin"), "libvirtd"),
        (("server-clients-info", "admin"), "libvirtd"),
        (("client-list", "admin"), "libvirtd"),
        (("version",), "libvirtd"),
    ]:
        ours = netrpcd.ok(*[a.format(srv="testvirtd") for a in args])
        theirs = peers.run_virt_admin(
            real_libvirtd.uri_admin, *[a.format(srv=real_server) for a in args], check=True
        ).stdout
        expected = _layout(theirs)
        if args[0] == "server-clients-info":
            # One limit libvirtd does not have, after its four (docs/admin.md).
            [at] = [i for i, e in enumerate(expected) if e.startswith("nclients_unauth ")]
            width = len(expected[at]) - 1
            expected.insert(at + 1, f"{'max_client_output':<{width}}:")
        assert _layout(ours) == expected, args
    ours = netrpcd.admin("server-update-tls", "testvirtd")
    theirs = peers.run_virt_admin(real_libvirtd.uri_admin, "server-update-tls", "libvirtd")
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr)
    ours = netrpcd.admin("client-info", "testvirtd", "4242")
    theirs = peers.run_virt_admin(real_libvirtd.uri_admin, "client-info", "libvirtd", "4242")
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr)
