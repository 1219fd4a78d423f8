"""Helpers for the mDNS tests: capability checks, network namespaces, processes, private Avahi.

All multicast happens inside namespaces created here. They have no route out and no link to
the host, and they are deleted even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PY = sys.executable
IN_CI = os.environ.get("CI", "").lower() == "true"

ADDR_A = "10.253.0.1"
ADDR_B = "10.253.0.2"


def require(ok: bool, reason: str) -> None:
    """Skip when a capability is missing; under CI=true, fail instead."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"mDNS test prerequisite missing under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def have(*tools: str) -> bool:
    return all(shutil.which(t) for t in tools)


def require_netns() -> None:
    require(sys.platform == "linux", "network namespaces need Linux")
    require(os.geteuid() == 0, "needs root for network namespaces")
    require(have("ip"), "needs iproute2 (ip netns)")


def require_avahi() -> None:
    require(
        have("avahi-daemon", "avahi-browse", "dbus-daemon", "unshare"),
        "needs avahi-daemon, avahi-utils, dbus-daemon and unshare",
    )


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


@dataclass(frozen=True)
class NetnsPair:
    """Two namespaces joined by a veth pair: ``a`` has ADDR_A, ``b`` has ADDR_B."""

    a: str
    b: str
    veth_a: str
    veth_b: str
    tag: str


@contextlib.contextmanager
def netns_pair() -> Iterator[NetnsPair]:
    tag = f"{os.getpid() % 10000}{secrets.token_hex(2)}"
    pair = NetnsPair(f"nrmA{tag}", f"nrmB{tag}", f"nva{tag}", f"nvb{tag}", tag)
    created: list[str] = []
    try:
        try:
            for ns in (pair.a, pair.b):
                _ip("netns", "add", ns)
                created.append(ns)
            _ip(
                "link",
                "add",
                pair.veth_a,
                "netns",
                pair.a,
                "type",
                "veth",
                "peer",
                "name",
                pair.veth_b,
                "netns",
                pair.b,
            )
            _ip("-n", pair.a, "addr", "add", f"{ADDR_A}/24", "dev", pair.veth_a)
            _ip("-n", pair.b, "addr", "add", f"{ADDR_B}/24", "dev", pair.veth_b)
            for ns, dev in ((pair.a, pair.veth_a), (pair.b, pair.veth_b)):
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", dev, "up")
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            require(False, f"cannot create network namespaces: {exc}")
        yield pair
    finally:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)


def in_ns(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def py_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class Proc:
    """A child process whose stdout lines are collected by a thread, with timeouts everywhere."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env if env is not None else py_env(),
        )
        self.lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pending: list[str] = []
        assert self.popen.stdout is not None
        assert self.popen.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump, args=(self.popen.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.popen.stderr, False), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump(self, stream: Any, is_stdout: bool) -> None:
        for line in stream:
            line = line.rstrip("\n")
            if is_stdout:
                self.lines.append(line)
                self._queue.put(line)
            else:
                self.stderr_lines.append(line)
        if is_stdout:
            self._queue.put(None)

    def output(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\n--- stdout\n"
            + "\n".join(self.lines)
            + "\n--- stderr\n"
            + "\n".join(self.stderr_lines)
        )

    def expect(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        """Wait for the next stdout line (since the last match) that satisfies predicate."""
        deadline = time.monotonic() + timeout
        while True:
            for i, line in enumerate(self._pending):
                if predicate(line):
                    del self._pending[: i + 1]
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}\n" + self.output()
                )
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if item is None:
                self._queue.put(None)
                if not any(predicate(x) for x in self._pending):
                    raise AssertionError(
                        f"process ended while waiting for {what}\n" + self.output()
                    )
                continue
            self._pending.append(item)

    def expect_event(self, ev: str, timeout: float, **match: Any) -> dict[str, Any]:
        """Wait for a JSON line with ``ev`` and the given field values."""

        def pred(line: str) -> bool:
            if not line.startswith("{"):
                return False
            d = json.loads(line)
            return d.get("ev") == ev and all(d.get(k) == v for k, v in match.items())

        return dict(json.loads(self.expect(pred, timeout, f"event {ev} {match}")))

    def events(self, ev: str | None = None) -> list[dict[str, Any]]:
        out = [json.loads(x) for x in self.lines if x.startswith("{")]
        return [d for d in out if ev is None or d.get("ev") == ev]

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"process did not exit within {timeout}s\n" + self.output()
            ) from None
        for t in self._threads:
            t.join(5)
        return rc

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        for t in self._threads:
            t.join(5)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run(
    argv: Sequence[str],
    timeout: float,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
        env=env if env is not None else py_env(),
    )


def advertiser(ns: str, *args: str) -> Proc:
    return Proc(in_ns(ns, PY, str(HERE / "nsrun_advertise.py"), *args))


def discoverer(ns: str, *args: str) -> Proc:
    return Proc(in_ns(ns, PY, str(HERE / "nsrun_discover.py"), *args))


# --------------------------------------------------------------------------- private Avahi

_DBUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={bus}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

_AVAHI_CONF = """[server]
host-name={host}
use-ipv4=yes
use-ipv6=no
allow-interfaces={iface}
enable-dbus=yes
disallow-other-stacks=no
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
"""


@contextlib.contextmanager
def private_avahi(
    ns: str, iface: str, host: str, timeout: float = 10.0
) -> Iterator[dict[str, str]]:
    """dbus-daemon + avahi-daemon inside ``ns``; yields the env for avahi clients.

    The bus socket and configs live in a temp dir. avahi-daemon's fixed runtime dir and its
    static services dir are covered by tmpfs mounts in a private mount namespace, so nothing
    on the host is read or changed.
    """
    work = Path(tempfile.mkdtemp(prefix="netrpc-avahi-"))
    bus = work / "bus"
    (work / "dbus.conf").write_text(_DBUS_CONF.format(bus=bus))
    (work / "avahi.conf").write_text(_AVAHI_CONF.format(host=host, iface=iface))
    env = py_env({"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={bus}"})
    log_path = work / "avahi.log"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(log_path, "wb") as log:
            procs.append(
                subprocess.Popen(
                    in_ns(
                        ns,
                        "dbus-daemon",
                        "--config-file",
                        str(work / "dbus.conf"),
                        "--nofork",
                        "--nopidfile",
                    ),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            deadline = time.monotonic() + timeout
            while not bus.exists():
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise RuntimeError("dbus-daemon did not start:\n" + log_path.read_text())
                time.sleep(0.02)
            script = (
                "mount -t tmpfs tmpfs /run && mkdir /run/avahi-daemon && "
                "mount -t tmpfs tmpfs /etc/avahi/services && "
                f"exec avahi-daemon -f {work / 'avahi.conf'} "
                "--no-drop-root --no-chroot --no-rlimits --no-proc-title"
            )
            procs.append(
                subprocess.Popen(
                    in_ns(ns, "unshare", "-m", "--propagation", "private", "sh", "-c", script),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            while "Server startup complete" not in log_path.read_text(errors="replace"):
                if time.monotonic() > deadline or procs[1].poll() is not None:
                    raise RuntimeError("avahi-daemon did not start:\n" + log_path.read_text())
                time.sleep(0.05)
            yield env
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        shutil.rmtree(work, ignore_errors=True)


_AVAHI_ESCAPE = re.compile(r"\\(\d{3})")


def avahi_unescape(text: str) -> str:
    """avahi-browse -p escapes names: ``\\032`` is a space."""
    return _AVAHI_ESCAPE.sub(lambda m: chr(int(m.group(1))), text)
