"""A user's start-up mistakes: one line naming the option, file, endpoint or value, never a
traceback; nothing left behind."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def tmp() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as path:
        yield path


def _run(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "daemons.testvirtd", *args],
        env=ENV, capture_output=True, text=True, timeout=30,
    )


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "daemons.testvirtd", *args],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.strip() == "ready":
            return
    proc.kill()
    raise AssertionError("testvirtd did not start")


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    return line


def test_port_in_use_names_the_endpoint(tmp: str) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        result = _run("--no-admin", "--listen", f"tcp://127.0.0.1:{port}",
                      "--listen", f"unix://{tmp}/sock")
    finally:
        taken.close()
    assert result.returncode == 1
    assert _one_line(result) == (
        f"testvirtd: error: cannot listen on tcp://127.0.0.1:{port}: address already in use"
    )
    # Nothing created for the endpoints that did bind, and no QMP directory.
    assert os.listdir(tmp) == []


def test_second_daemon_on_the_same_pid_file(tmp: str) -> None:
    pid_file = f"{tmp}/testvirtd.pid"
    first = _start("--no-admin", "--listen", "tcp://127.0.0.1:0", "--qmp-dir", "none",
                   "--pid-file", pid_file)
    try:
        _wait_ready(first)
        result = _run("--no-admin", "--listen", "tcp://127.0.0.1:0", "--qmp-dir", "none",
                      "--pid-file", pid_file)
        assert result.returncode == 1
        assert _one_line(result) == (
            f"testvirtd: error: pid file {pid_file}: another daemon (pid {first.pid}) holds it"
        )
        assert Path(pid_file).read_text() == f"{first.pid}\n"
    finally:
        code, err = _stop(first)
    assert code == 0, err
    assert not os.path.exists(pid_file)


def test_bad_config_on_sighup_keeps_running_and_logs_one_line(tmp: str) -> None:
    config = Path(tmp, "testvirtd.conf")
    config.write_text("max_clients = 100\n")
    proc = _start("--no-admin", "--listen", f"unix://{tmp}/sock", "--qmp-dir", "none",
                  "--config", str(config))
    try:
        _wait_ready(proc)
        config.write_text('max_clients = "lots"\n')
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.2)
            probe = socket.socket(socket.AF_UNIX)
            probe.connect(f"{tmp}/sock")  # still serving
            probe.close()
            if proc.poll() is not None:
                break
        assert proc.poll() is None
    finally:
        code, err = _stop(proc)
    assert code == 0
    assert "Traceback" not in err, err
    [line] = [ln for ln in err.splitlines() if "reload" in ln]
    assert line.endswith(
        f"reload failed, keeping the previous configuration: {config}:1: max_clients: "
        'expected an integer, got "lots"'
    )


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "soon"])
def test_timeout_must_be_positive(value: str) -> None:
    result = _run("--no-admin", "--listen", "tcp://127.0.0.1:0", "--timeout", value)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"testvirtd: error: argument --timeout: want a positive number of seconds, not {value!r}"
    )


@pytest.mark.parametrize(
    "uri", ["foo", "test://host/default", "test:///", "qemu:///nope", "xen:///system",
            "test:///default?x=1"]
)
def test_default_uri_must_be_usable(uri: str) -> None:
    result = _run("--no-admin", "--listen", "tcp://127.0.0.1:0", "--default-uri", uri)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"testvirtd: error: argument --default-uri: bad default URI {uri!r}: want "
        "test:///PATH (e.g. test:///default), qemu:///system or qemu:///session"
    )


def test_default_uri_is_printed_as_given(tmp: str) -> None:
    proc = _start("--no-admin", "--listen", "tcp://127.0.0.1:0", "--qmp-dir", "none",
                  "--default-uri", "qemu:///system")
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        second = proc.stdout.readline()
    finally:
        _stop(proc)
    assert first == "testvirtd: serving qemu:///system\n"
    assert second.startswith("  virsh -c qemu+tcp://127.0.0.1:")
    assert second.rstrip().endswith("/system")


def _without_dac_override() -> tuple[str, ...]:
    """A command prefix under which root obeys file permissions (or nothing for others)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("needs setpriv to drop CAP_DAC_OVERRIDE as root")
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search")


def test_unwritable_socket_directory_is_named(tmp: str) -> None:
    directory = Path(tmp, "ro")
    directory.mkdir()
    directory.chmod(0o555)
    result = _run("--listen", f"unix://{directory}/sock", prefix=_without_dac_override())
    assert result.returncode == 1
    assert _one_line(result) == (
        f"testvirtd: error: cannot listen on unix://{directory}/sock: cannot create a socket "
        f"in {directory}: permission denied"
    )
    assert os.listdir(directory) == []


def test_uncreatable_socket_directory_is_named(tmp: str) -> None:
    Path(tmp, "file").write_text("")
    result = _run("--listen", f"unix://{tmp}/file/sub/sock")
    assert result.returncode == 1
    assert _one_line(result) == (
        f"testvirtd: error: cannot listen on unix://{tmp}/file/sub/sock: cannot create the "
        f"socket directory {tmp}/file/sub: not a directory"
    )


def test_qmp_directory_only_while_serving(tmp: str) -> None:
    proc = _start("--listen", f"unix://{tmp}/sock")
    try:
        _wait_ready(proc)
        assert os.path.isdir(f"{tmp}/qmp")
    finally:
        code, err = _stop(proc)
    assert code == 0, err
    assert os.listdir(tmp) == []


def test_qmp_directory_error_is_named(tmp: str) -> None:
    Path(tmp, "qmp").write_text("")
    result = _run("--listen", f"unix://{tmp}/sock")
    assert result.returncode == 1
    assert _one_line(result) == (
        f"testvirtd: error: cannot create the QMP socket directory {tmp}/qmp: file exists"
    )
    assert sorted(os.listdir(tmp)) == ["qmp"]
