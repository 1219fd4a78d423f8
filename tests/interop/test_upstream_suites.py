"""Other people's client test suites against testvirtd, compared with libvirtd.

libvirt-python's and libvirt-go-module's own tests open ``test:///default`` (the test driver
inside the client process).  Here every such connection is redirected to a daemon's unix
socket, and the suite runs once against a fresh libvirtd with only the test driver and once
against a fresh testvirtd: each test must end the same way against both.

The suites' sources are not part of this repository and cannot be downloaded everywhere:

* ``LIBVIRT_PYTHON_TESTS``: the ``tests/`` directory of libvirt-python 9.0 (v9.0.0);
* ``LIBVIRT_GO_MODULE_SRC``: a libvirt-go-module v1.9000.0 source tree (built with cgo
  against libvirt's headers: Debian's libvirt-dev);

without them those tests are not defined.  The suites' test cases that exercise the driver are
also re-expressed as side-by-side scenarios (``scenarios/upstream.py``), which always run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from daemons.testvirtd.parity import MISSING, rows

from . import peers
from ._testvirtd import running
from .peers import RealLibvirtd, short_workdir
from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop

RUNNER = peers.HERE / "upstream_python_runner.py"

@pytest.mark.parametrize("name", scenario_names("upstream"))
def test_upstream_case(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


def _source_dir(variable: str, marker: str) -> Path | None:
    value = os.environ.get(variable)
    if not value or not (Path(value) / marker).is_file():
        return None
    return Path(value)


def _source(variable: str, marker: str) -> Path:
    path = _source_dir(variable, marker)
    assert path is not None, f"{variable} does not name the suite's sources"
    return path


def _with_source(variable: str, marker: str) -> Any:
    """Define the decorated test only when *variable* names the suite's sources: without
    them there is nothing to run (and nothing to skip: these suites are not peers CI can
    install)."""
    def decorate(func: Any) -> Any:
        return func if _source_dir(variable, marker) is not None else None
    return decorate


def _python_suite(python: str, socket: str, tests: Path) -> dict[str, dict[str, str]]:
    proc = subprocess.run([python, str(RUNNER), socket, str(tests)], capture_output=True,
                          text=True, timeout=600, env=peers.client_env(),
                          stdin=subprocess.DEVNULL)
    records = peers.json_lines(proc.stdout)
    results = {r["test"]: r for r in records if "test" in r}
    assert results, f"no test ran:\n{peers.describe(proc)}"
    return results


@_with_source("LIBVIRT_PYTHON_TESTS", "test_domain.py")
def test_libvirt_python_suite(system_python: str, libvirtd_binary: str) -> None:
    tests = _source("LIBVIRT_PYTHON_TESTS", "test_domain.py")
    with tempfile.TemporaryDirectory(prefix="upstream-") as tmp:
        with RealLibvirtd(short_workdir(Path(tmp))) as real:
            assert real.unix_path
            theirs = _python_suite(system_python, real.unix_path, tests)
        with running() as tvd:
            assert tvd.unix_path
            ours = _python_suite(system_python, tvd.unix_path, tests)
    assert set(ours) == set(theirs)
    differences = [
        f"{name}: libvirtd {theirs[name]['outcome']} {theirs[name]['detail']!r}, "
        f"testvirtd {ours[name]['outcome']} {ours[name]['detail']!r}"
        for name in sorted(theirs)
        if ours[name]["outcome"] != theirs[name]["outcome"]
    ]
    assert not differences, "\n".join(differences)
    for name, result in ours.items():
        if name.startswith(("test_domain.", "test_domain_snapshot.", "test_domain_checkpoint.")):
            assert result["outcome"] == "pass", result


# ---------------------------------------------------------------------------- Go module

_RESULT = re.compile(r"^\s*--- (PASS|FAIL|SKIP): (\S+)")
_NOT_SUPPORTED = re.compile(r"not supported by the connection driver: (vir\w+)")


def _go_suite(src: Path, socket: str, cache: Path) -> dict[str, tuple[str, str]]:
    """Run the module's tests with test:///default redirected to *socket*: test name ->
    (outcome, its output)."""
    with tempfile.TemporaryDirectory(prefix="go-module-") as tmp:
        tree = Path(tmp) / "src"
        shutil.copytree(src, tree, ignore=shutil.ignore_patterns(".git"))
        for test_file in tree.glob("*_test.go"):
            text = test_file.read_text()
            test_file.write_text(text.replace('"test:///default"',
                                              f'"test+unix:///default?socket={socket}"'))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
        env.update(GOFLAGS="-mod=mod", GOPROXY="off", GO111MODULE="on", CGO_ENABLED="1",
                   GOCACHE=str(cache), GOPATH=str(Path(tmp) / "gopath"),
                   GOTOOLCHAIN="local", HOME=str(peers.private_home()))
        proc = subprocess.run([peers.find_go(), "test", "-count=1", "-v", "."], cwd=tree,
                              capture_output=True, text=True, timeout=1800, env=env,
                              stdin=subprocess.DEVNULL)
    results: dict[str, tuple[str, str]] = {}
    output: list[str] = []
    for line in proc.stdout.splitlines():
        found = _RESULT.match(line)
        if found:
            results[found.group(2)] = (found.group(1), "\n".join(output))
            output = []
        elif not line.startswith("=== RUN"):
            output.append(line)
    assert results, f"no test ran:\n{peers.describe(proc)}"
    return results


@_with_source("LIBVIRT_GO_MODULE_SRC", "domain_test.go")
def test_libvirt_go_module_suite(libvirtd_binary: str) -> None:
    src = _source("LIBVIRT_GO_MODULE_SRC", "domain_test.go")
    peers.require_peer(peers.find_go)
    if subprocess.run(["pkg-config", "--exists", "libvirt"], check=False).returncode:
        pytest.fail("the Go module needs libvirt's headers (Debian: libvirt-dev)")
    cache = Path(tempfile.gettempdir()) / f"netrpc-go-module-cache-{os.getuid()}"
    with tempfile.TemporaryDirectory(prefix="upstream-") as tmp:
        with RealLibvirtd(short_workdir(Path(tmp))) as real:
            assert real.unix_path
            theirs = _go_suite(src, real.unix_path, cache)
        with running() as tvd:
            assert tvd.unix_path
            ours = _go_suite(src, tvd.unix_path, cache)
    # A test may fail on an API testvirtd does not have yet, as the parity table says.
    missing = {row.api for row in rows() if row.status == MISSING}
    differences: list[Any] = []
    for name in sorted(theirs):
        outcome, output = ours.get(name, ("absent", ""))
        if outcome == theirs[name][0]:
            continue
        apis = set(_NOT_SUPPORTED.findall(output))
        if outcome == "FAIL" and apis and apis <= missing:
            continue
        differences.append(f"{name}: libvirtd {theirs[name][0]}, testvirtd {outcome}\n{output}")
    assert not differences, "\n".join(differences)
    for name, (outcome, output) in ours.items():
        if name.startswith(("TestDomain", "TestGetDomain", "TestCreateDomain")) and \
                name != "TestDomainEventRegister":  # its one loop turn is too short remotely
            assert outcome == "PASS", f"{name}\n{output}"


# ------------------------------------------------------------- libvirt-python's event example

#: what virsh does while the example listens (each one's events, in order)
_EVENT_ACTIONS = [
    ("suspend", "test"), ("resume", "test"), ("desc", "test", "--title", "hello"),
    ("metadata", "test", "http://e/", "--key", "e", "--set", "<a/>"),
    ("setmem", "test", "1000000"), ("iothreadadd", "test", "5"), ("vcpupin", "test", "0", "1"),
    ("schedinfo", "test", "--set", "weight=5"), ("setvcpus", "test", "1"), ("reboot", "test"),
    ("destroy", "test"), ("start", "test"), ("shutdown", "test"), ("start", "test"),
    ("managedsave", "test"), ("start", "test"), ("net-destroy", "default"),
    ("net-start", "default"), ("pool-refresh", "default-pool"),
]
_EVENT_DOMAIN = ("<domain type='test'><name>zz-event-end</name><memory>1024</memory>"
                 "<os><type>hvm</type></os></domain>")


def _event_example(python: str, example: Path, server: Any, workdir: Path) -> list[str]:
    """The callback lines libvirt-python's examples/event-test.py prints while virsh acts."""
    uri = server.uri_unix
    proc = subprocess.Popen([python, str(example), "--timeout", "60", uri],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=peers.client_env({"PYTHONUNBUFFERED": "1"}),
                            stdin=subprocess.DEVNULL)
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()

    def wait_for(text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)

    try:
        wait_for("Using uri")
        time.sleep(2)  # the example registers its callbacks after printing that line
        for action in _EVENT_ACTIONS:
            peers.run_virsh(uri, *action)
        domain = workdir / "zz-event-end.xml"
        domain.write_text(_EVENT_DOMAIN)
        peers.run_virsh(uri, "define", str(domain))
        peers.run_virsh(uri, "undefine", "zz-event-end")
        wait_for("zz-event-end(-1) Undefined")
    finally:
        proc.kill()
        proc.wait()
        reader.join(timeout=10)
        proc.stdout.close()
    return [line.rstrip("\n") for line in lines if line.startswith("my")]


@_with_source("LIBVIRT_PYTHON_TESTS", "test_domain.py")
def test_libvirt_python_event_example(system_python: str, virsh: str,
                                      libvirtd_binary: str) -> None:
    """examples/event-test.py (every event registration libvirt-python offers) sees the same
    events from both daemons."""
    tests = _source("LIBVIRT_PYTHON_TESTS", "test_domain.py")
    source = tests.parent / "examples" / "event-test.py"
    if not source.is_file():
        pytest.skip("no examples/event-test.py beside LIBVIRT_PYTHON_TESTS")
    with tempfile.TemporaryDirectory(prefix="upstream-") as tmp:
        # The test driver refuses secret events, which the example does not expect.
        example = Path(tmp) / "event-test.py"
        example.write_text(re.sub(r"    seccallbacks = \[.*?\n    \]\n", "    seccallbacks = []\n",
                                  source.read_text(), flags=re.S))
        with RealLibvirtd(short_workdir(Path(tmp) / "real")) as real:
            with peers.hold_connection(real.uri_unix):
                theirs = _event_example(system_python, example, real, Path(tmp))
        with running() as tvd:
            ours = _event_example(system_python, example, tvd, Path(tmp))
    assert ours == theirs
    assert any("Metadata" in line for line in theirs), theirs
