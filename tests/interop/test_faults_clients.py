"""Injected faults as real clients meet them: libvirt-python, virsh, go-libvirt; and the
daemon back to libvirtd's exact behaviour once the rules are cleared."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netrpc.testing import TestVirtd

from . import peers
from .peers import RealLibvirtd

HERE = Path(__file__).resolve().parent


class PyShell:
    """A libvirt-python session (pyshell.py under the system python) driven step by step."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [peers.require_peer(peers.find_system_python), str(HERE / "pyshell.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=peers.client_env(),
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, **request: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()

    def answer(self, timeout: float = 30.0) -> dict[str, Any]:
        return json.loads(self.lines.get(timeout=timeout))  # type: ignore[no-any-return]

    def ask(self, **request: Any) -> dict[str, Any]:
        self.send(**request)
        return self.answer()

    def eval(self, expr: str, **extra: Any) -> dict[str, Any]:
        return self.ask(op="eval", expr=expr, **extra)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def pyshell(system_python: str) -> Iterator[PyShell]:
    shell = PyShell()
    try:
        yield shell
    finally:
        shell.close()


def failed(result: dict[str, Any]) -> tuple[int, int, str]:
    assert result["ok"] is False, result
    return result["code"], result["domain"], result["message"]


def test_libvirt_python_meets_each_fault(testvirtd: TestVirtd, pyshell: PyShell) -> None:
    py = pyshell
    assert py.ask(op="open", uri=testvirtd.uri)["ok"]
    assert py.eval("conn.lookupByName('test')", **{"as": "dom"})["ok"]

    # error: the exact libvirt error, once; then the call works again.
    testvirtd.fault("DOMAIN_GET_INFO:error=1/10/injected failure,times=1")
    assert failed(py.eval("dom.info()")) == (1, 10, "injected failure")
    assert py.eval("dom.info()")["value"][0] == 1

    # delay: the answer comes late.
    testvirtd.fault("CONNECT_GET_HOSTNAME:delay=1,times=1")
    slow = py.eval("conn.getHostname()")
    assert slow["ok"] and slow["elapsed"] >= 0.9, slow

    # corrupt: the client cannot decode the reply; the connection stays usable.
    testvirtd.fault("DOMAIN_GET_XML_DESC:corrupt,times=1")
    assert failed(py.eval("dom.XMLDesc(0)")) == (39, 7, "Unable to decode message payload")
    assert py.eval("dom.XMLDesc(0).startswith('<domain')")["value"] is True

    # hang: no answer until the rules are cleared, then the call completes.
    testvirtd.fault("CONNECT_GET_CAPABILITIES:hang")
    py.send(op="eval", expr="conn.getCapabilities().startswith('<capabilities>')")
    with pytest.raises(queue.Empty):
        py.answer(timeout=1.0)
    assert testvirtd.clear_faults() == 1
    assert py.answer()["value"] is True

    # drop-after: the call took effect and was answered, then the connection is gone.
    testvirtd.fault("DOMAIN_SUSPEND:drop-after,times=1")
    suspended = py.eval("dom.suspend()")
    assert suspended["ok"] and suspended["value"] == 0, suspended
    # Seen as a reset, a write into the closed socket or as already closed, depending on
    # when the client noticed.
    assert failed(py.eval("dom.info()")) in (
        (38, 7, "Cannot recv data: Connection reset by peer"),
        (38, 7, "Cannot write data: Broken pipe"),
        (38, 7, "End of file while reading data: Input/output error"),
        (1, 7, "internal error: client socket is closed"),
    )
    assert py.ask(op="open", uri=testvirtd.uri)["ok"]
    assert py.eval("conn.lookupByName('test')", **{"as": "dom"})["ok"]
    assert py.eval("dom.state()")["value"] == [3, 1]  # paused by the call that was dropped

    # drop-before: the connection is gone and the call never ran.
    testvirtd.fault("DOMAIN_RESUME:drop-before,times=1")
    assert failed(py.eval("dom.resume()")) == (
        38, 7, "End of file while reading data: Input/output error")
    assert py.ask(op="open", uri=testvirtd.uri)["ok"]
    assert py.eval("conn.lookupByName('test').state()")["value"] == [3, 1]

    # accept:refuse: connecting fails once.
    testvirtd.fault("accept:refuse,times=1")
    code, domain, _ = failed(py.ask(op="open", uri=testvirtd.uri))
    assert (code, domain) == (38, 7)
    assert py.ask(op="open", uri=testvirtd.uri)["ok"]

    # restart: connections drop, new ones fail during the downtime, state is kept.
    testvirtd.restart(downtime=0.5)
    assert failed(py.eval("conn.getHostname()"))[:2] in ((38, 7), (1, 7))
    assert py.ask(op="open", uri=testvirtd.uri)["ok"] is False
    time.sleep(0.6)
    assert py.ask(op="open", uri=testvirtd.uri)["ok"]
    assert py.eval("conn.lookupByName('test').state()")["value"] == [3, 1]
    assert "fault rule added: DOMAIN_GET_INFO:error=1/10/injected failure,times=1" in (
        testvirtd.log())


def _virsh_keepalive(virsh: str, uri: str, *, after_start: Any = None) -> tuple[float, str]:
    """``virsh -k 1 -K 2 event --loop``: an idle client with a 1 s keepalive that gives up
    after 2 unanswered PINGs.  Returns (seconds until it exited, its output)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [virsh, "-k", "1", "-K", "2", "-c", uri, "event", "--all", "--loop", "--timeout", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=peers.client_env(),
    )  # fmt: skip
    try:
        if after_start is not None:
            after_start()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, (out, err)
    return time.monotonic() - start, (out + err).replace(uri, "URI")


def test_virsh_keepalive_gives_up_as_with_a_hung_libvirtd(
    testvirtd: TestVirtd, real_libvirtd: RealLibvirtd, virsh: str
) -> None:
    testvirtd.fault("keepalive:hang")
    ours, our_text = _virsh_keepalive(virsh, testvirtd.uri)

    def freeze() -> None:
        # A libvirtd that stops answering: connected first, then stopped.
        time.sleep(1.0)
        os.kill(real_libvirtd.pid, signal.SIGSTOP)

    try:
        theirs, their_text = _virsh_keepalive(virsh, real_libvirtd.uri_unix, after_start=freeze)
    finally:
        os.kill(real_libvirtd.pid, signal.SIGCONT)
    assert our_text == their_text
    assert "due to keepalive timeout" in our_text
    # interval 1 s x (count 2 + 1): about 3 s for both (1 s more for libvirtd, frozen late).
    assert 2.0 <= ours <= 10.0, ours
    assert 2.0 <= theirs <= 11.0, theirs


def _go(binary: Path, testvirtd: TestVirtd, mode: str) -> dict[str, dict[str, Any]]:
    proc = peers.run_go(binary, "-unix", testvirtd.socket, "-mode", mode, timeout=60)
    return peers.by_step(peers.json_lines(proc.stdout))


def test_golibvirt_meets_faults(testvirtd: TestVirtd, golibvirt_faults: Path) -> None:
    testvirtd.fault("DOMAIN_GET_INFO:error=1/10/injected failure,times=1")
    steps = _go(golibvirt_faults, testvirtd, "error")
    faulted = steps["get_info_faulted"]
    assert faulted["ok"] is False and faulted["libvirt_error"] is True, faulted
    assert faulted["code"] == 1 and "injected failure" in faulted["error"], faulted
    assert steps["get_info_again"]["ok"] is True and steps["get_info_again"]["state"] == 1

    # A call that never returns on its own: the context deadline ends it.
    testvirtd.fault("CONNECT_GET_HOSTNAME:hang")
    steps = _go(golibvirt_faults, testvirtd, "hang")
    hung = steps["hostname_with_deadline"]
    assert hung["ok"] is False and hung["deadline_exceeded"] is True, hung
    assert 0.9 <= hung["elapsed"] < 5.0, hung
    testvirtd.clear_faults()

    testvirtd.fault("DOMAIN_GET_INFO:drop-before")
    steps = _go(golibvirt_faults, testvirtd, "drop")
    assert steps["get_info_dropped"]["interrupted"] is True, steps
    assert steps["disconnected"]["ok"] is True


_VOLATILE = {"elapsed", "cpu_time", "value", "uri"}


def _normalised(records: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for record in records:
        step = record["step"]
        if step == "uri":
            continue
        out[step] = {k: v for k, v in record.items() if k not in _VOLATILE}
        if "events" in out[step]:  # without their arrival times
            out[step]["events"] = [
                {k: v for k, v in e.items() if k != "t"} for e in out[step]["events"]
            ]
    return out


def test_cleared_faults_leave_exact_libvirtd_behaviour(
    testvirtd: TestVirtd, real_libvirtd: RealLibvirtd, system_python: str
) -> None:
    """After rules of every kind were added, exercised and cleared, libvirt-python's run of
    lookups, info, XML, lifecycle and events is the same as against libvirtd."""
    for rule in ("*:delay=0.01,times=3", "DOMAIN_GET_INFO:error=1/10/x", "keepalive:hang",
                 "accept:refuse,times=1", "DOMAIN_SUSPEND:corrupt", "CONNECT_CLOSE:hang"):
        testvirtd.fault(rule)
    proc = peers.run_pyclient(testvirtd.uri, timeout=60)  # with the faults: something breaks
    assert proc.returncode != 0
    testvirtd.clear_faults()
    testvirtd.reset()
    ours = peers.run_pyclient(testvirtd.uri, timeout=60)
    theirs = peers.run_pyclient(real_libvirtd.uri_unix, timeout=60)
    assert ours.returncode == 0, peers.describe(ours)
    assert theirs.returncode == 0, peers.describe(theirs)
    mine = _normalised(peers.json_lines(ours.stdout))
    reference = _normalised(peers.json_lines(theirs.stdout))
    assert mine == reference
    assert mine["summary"]["ok"] is True
