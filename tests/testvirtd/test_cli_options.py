"""testvirtd's admin socket, --no-admin and --config options, run as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.interop import peers


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "daemons.testvirtd", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_ready(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.strip() == "ready":
            return "".join(lines)
    proc.kill()
    raise AssertionError(f"testvirtd did not start: {''.join(lines)} {proc.stderr.read() if proc.stderr else ''}")


@pytest.fixture
def tmp() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as path:
        yield path


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    finally:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def test_admin_socket_next_to_the_unix_socket(tmp: str) -> None:
    proc = _start("--listen", f"unix://{tmp}/sock")
    try:
        text = _wait_ready(proc)
        admin = os.path.join(tmp, "libvirt-admin-sock")
        assert os.path.exists(admin)
        assert oct(os.stat(admin).st_mode & 0o777) == oct(0o700)
        assert f"socket={admin}" in text
        virt_admin = peers.require_peer(peers.find_virt_admin)
        out = subprocess.run(
            [virt_admin, "-c", f"libvirtd:///system?socket={admin}", "server-list"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        assert "testvirtd" in out and "admin" in out
    finally:
        assert _stop(proc) == 0
    assert not os.path.exists(os.path.join(tmp, "libvirt-admin-sock"))


def test_no_admin(tmp: str) -> None:
    proc = _start("--listen", f"unix://{tmp}/sock", "--no-admin")
    try:
        text = _wait_ready(proc)
        assert "virt-admin" not in text
        assert not os.path.exists(os.path.join(tmp, "libvirt-admin-sock"))
    finally:
        assert _stop(proc) == 0


def test_bad_config_is_reported_with_file_and_line(tmp: str) -> None:
    conf = os.path.join(tmp, "testvirtd.conf")
    with open(conf, "w") as f:
        f.write('# limits\nmax_clients = 10\nmax_workers = "lots"\n')
    result = subprocess.run(
        [sys.executable, "-m", "daemons.testvirtd", "--config", conf, "--listen", f"unix://{tmp}/s"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert f"{conf}:3: max_workers" in result.stderr


def test_bad_max_client_output_is_one_line(tmp: str) -> None:
    conf = os.path.join(tmp, "testvirtd.conf")
    with open(conf, "w") as f:
        f.write("max_client_output = -4096\n")
    result = subprocess.run(
        [sys.executable, "-m", "daemons.testvirtd", "--config", conf, "--listen", f"unix://{tmp}/s"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"testvirtd: error: {conf}:1: max_client_output: expected a byte count from 1 to "
        "4294967295 or 0 (no limit), got -4096\n"
    )


def test_config_limits_apply(tmp: str) -> None:
    conf = os.path.join(tmp, "testvirtd.conf")
    with open(conf, "w") as f:
        f.write(
            "max_clients = 7\nmax_anonymous_clients = 3\nmin_workers = 2\nmax_workers = 4\n"
            "max_client_output = 262144\n"
        )
    proc = _start("--config", conf, "--listen", f"unix://{tmp}/sock")
    try:
        _wait_ready(proc)
        virt_admin = peers.require_peer(peers.find_virt_admin)
        admin = f"libvirtd:///system?socket={tmp}/libvirt-admin-sock"
        out = subprocess.run(
            [virt_admin, "-c", admin, "server-clients-info", "testvirtd"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        assert "nclients_max        : 7" in out
        assert "max_client_output   : 262144" in out
        out = subprocess.run(
            [virt_admin, "-c", admin, "server-threadpool-info", "testvirtd"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        assert "maxWorkers     : 4" in out and "minWorkers     : 2" in out
    finally:
        assert _stop(proc) == 0
