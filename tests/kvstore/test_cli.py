"""kvstored and the client command as a user runs them, in subprocesses."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
ENV.pop("KVSTORE_URL", None)


class Lines:
    """The lines of a subprocess pipe, read by a thread so a test can wait for one."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self._queue.put(line)
        self._queue.put(None)

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait for a line matching *pattern*."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"no line matching {pattern!r} in {self.seen!r}")
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match


class Daemon:
    """``python -m daemons.kvstore`` on a unix socket and a kernel-chosen TCP port."""

    def __init__(self, directory: str) -> None:
        self.socket = f"{directory}/kv.sock"
        self.db = f"{directory}/kv.sqlite3"
        self.log = f"{directory}/kvstored.log"
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daemons.kvstore",
                    "--listen",
                    f"unix://{self.socket}",
                    "--listen",
                    "tcp://127.0.0.1:0",
                    "--db",
                    self.db,
                ],
                cwd=directory,
                env=ENV,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        self.stdout = Lines(self.proc.stdout)
        try:
            self.tcp = self.stdout.expect(r"listening on (tcp://127\.0\.0\.1:\d+)")[1]
            self.hint = self.stdout.expect(r"^try: (.*)$")[1]
        except BaseException:
            self.kill()
            raise

    def stop(self) -> tuple[int, str]:
        """SIGTERM; returns the exit status and the log."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=15)
        with open(self.log) as log:
            return code, log.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def daemon(tmpdir_short: str) -> Iterator[Daemon]:
    d = Daemon(tmpdir_short)
    try:
        yield d
    finally:
        d.kill()


def kv(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemons.kvstore.client", "--connect", url, *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=20,
    )


def ok(url: str, *args: str) -> str:
    result = kv(url, *args)
    assert (result.returncode, result.stderr) == (0, ""), result
    return result.stdout


def test_daemon_and_client_commands(daemon: Daemon, tmpdir_short: str) -> None:
    unix = f"unix://{daemon.socket}"
    assert (
        daemon.hint == f"python3 -m daemons.kvstore.client --connect {daemon.tcp} put hello world"
    )
    assert ok(daemon.tcp, "put", "foo", "bar") == "revision 1\n"
    assert ok(unix, "get", "foo") == "bar\n"
    assert ok(unix, "put", "user/alice", "admin") == "revision 2\n"
    assert ok(daemon.tcp, "list") == "foo\nuser/alice\n"
    assert ok(daemon.tcp, "list", "user/") == "user/alice\n"

    missing = kv(daemon.tcp, "get", "nope")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "error: key not found: 'nope'\n"
    bad = kv(daemon.tcp, "wait", "k", "--timeout", "-5")
    assert bad.returncode == 1
    assert (
        bad.stderr
        == "error: invalid argument: timeout must be between 0 and 3600 seconds, got -5.0\n"
    )

    watch = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daemons.kvstore.client",
            "--connect",
            unix,
            "watch",
            "user/",
            "--count",
            "2",
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert watch.stderr is not None and watch.stdout is not None
    try:
        Lines(watch.stderr).expect(r"^watching 'user/'")
        ok(daemon.tcp, "put", "other", "x")
        ok(daemon.tcp, "put", "user/bob", "guest")
        ok(daemon.tcp, "delete", "user/alice")
        assert watch.wait(timeout=10) == 0
        with watch.stdout:
            out = watch.stdout.read()
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert out == "put user/bob = guest (revision 4)\ndelete user/alice (revision 5)\n"

    stats = ok(unix, "stats")
    assert "keys: 3\n" in stats and "revision: 5\n" in stats
    assert "watchers: 0\n" in stats and "waiters: 0\n" in stats

    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert ok(unix, "get", "user/bob") == "guest\n"

    code, err = daemon.stop()
    assert code == 0
    assert "SIGHUP: nothing to reload; 3 keys at revision 5" in err
    assert "received SIGTERM" in err and "kvstore INFO: stopped" in err
    assert "Traceback" not in err
    assert not os.path.exists(daemon.socket)

    again = Daemon(tmpdir_short)
    try:
        assert ok(again.tcp, "get", "foo") == "bar\n"
        assert ok(again.tcp, "list") == "foo\nother\nuser/bob\n"
        assert ok(again.tcp, "put", "foo", "baz") == "revision 6\n"
        assert again.stop()[0] == 0
    finally:
        again.kill()


def test_sigterm_waits_for_in_flight_calls(daemon: Daemon) -> None:
    waiter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daemons.kvstore.client",
            "--connect",
            daemon.tcp,
            "wait",
            "later",
            "--timeout",
            "3",
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while "waiters: 1\n" not in ok(daemon.tcp, "stats"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    code, _ = daemon.stop()
    assert code == 0
    # The pending wait was answered (it timed out) before the daemon exited.
    assert time.monotonic() - started < 4.5
    _, err = waiter.communicate(timeout=10)
    assert waiter.returncode == 1
    assert err == "error: operation timed out: key 'later' did not appear within 3 s\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--listen", "http://x:1"], "'http://x:1': expected unix:///path or tcp://host:port"),
        (
            ["--listen", "tcp://127.0.0.1:1", "--db", "/proc/no/such/dir/kv.db"],
            "cannot open the database",
        ),
    ],
)
def test_daemon_usage_errors(argv: Sequence[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "daemons.kvstore", *argv],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode in (1, 2)
    assert message in result.stderr


def test_port_in_use(daemon: Daemon) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "daemons.kvstore", "--listen", daemon.tcp, "--db", daemon.db + "-2"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.endswith(f"kvstore ERROR: cannot listen on {daemon.tcp}: address already in use")


def test_client_cannot_connect(tmpdir_short: str) -> None:
    result = kv(f"unix://{tmpdir_short}/nothing.sock", "list")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: unix://{tmpdir_short}/nothing.sock: ")
