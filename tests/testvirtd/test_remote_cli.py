"""The testvirtd command line: listen URIs, state file handling, ready output, signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from daemons.testvirtd.__main__ import main
from daemons.testvirtd.daemon import (
    DEFAULT_TCP_PORT,
    Listen,
    ListenError,
    default_listens,
    load_hypervisor,
    parse_listen,
)
from daemons.testvirtd.hypervisor import StateFileError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("uri", "want"),
    [
        ("unix:///tmp/x/sock", Listen("unix", path="/tmp/x/sock")),
        ("unix-ro:///tmp/x/sock-ro", Listen("unix-ro", path="/tmp/x/sock-ro")),
        ("tcp://127.0.0.1:16509", Listen("tcp", host="127.0.0.1", port=16509)),
        ("tcp://[::1]:0", Listen("tcp", host="::1", port=0)),
        ("tcp://127.0.0.1", Listen("tcp", host="127.0.0.1", port=16509)),
        ("tls://h:1", Listen("tls", host="h", port=1)),
        ("tls://0.0.0.0", Listen("tls", host="0.0.0.0", port=16514)),
    ],
)
def test_parse_listen(uri: str, want: Listen) -> None:
    assert parse_listen(uri) == want


@pytest.mark.parametrize("uri", ["unix://relative", "tcp://", "ssh://h:1", "sock",
                                 "tcp://h:99999"])
def test_parse_listen_rejects(uri: str) -> None:
    with pytest.raises(ListenError):
        parse_listen(uri)


def test_default_listens() -> None:
    kinds = [(item.kind, os.path.basename(item.path), item.port) for item in default_listens()]
    assert kinds == [("unix", "libvirt-sock", 0), ("unix-ro", "libvirt-sock-ro", 0),
                     ("tcp", "", DEFAULT_TCP_PORT)]


def test_corrupt_state_file_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "state.json")
        Path(path).write_text("{not json")
        with pytest.raises(StateFileError):
            load_hypervisor(path)
        assert main(["--state", path, "--listen", f"unix://{tmp}/sock"]) == 1
        assert Path(path).read_text() == "{not json"
        err = capsys.readouterr().err
        assert path in err and "not valid JSON" in err


def test_bad_listen_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--listen", "bogus://x"]) == 2
    assert "bad listen URI" in capsys.readouterr().err


def test_new_state_file_is_created() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "state.json")
        hv = load_hypervisor(path)
        hv.close()
        assert os.path.exists(path)
        with load_hypervisor(path) as again:
            assert again.domains.lookup_by_name("test").name == "test"


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemons.testvirtd", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.strip() == "ready":
            return proc, lines
    proc.kill()
    raise AssertionError(f"no ready line: {lines} {proc.communicate()[1]}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_ready_output_and_graceful_signal(signum: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tvd-") as tmp:
        proc, lines = _start("--listen", "tcp://127.0.0.1:0", "--listen", f"unix://{tmp}/s",
                             "--listen", f"unix-ro://{tmp}/s-ro")
        try:
            text = "\n".join(lines)
            assert re.search(r"virsh -c test\+tcp://127\.0\.0\.1:\d+/default", text), text
            assert f"virsh -c 'test+unix:///default?socket={tmp}/s'" in text
            assert f"test+unix:///default?socket={tmp}/s-ro'    (read-only)" in text
            proc.send_signal(signum)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
        assert not os.path.exists(f"{tmp}/s")
