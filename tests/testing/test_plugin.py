"""The pytest plugin as another project sees it: in a separate pytest run, with xdist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Registers the plugin in the child run when the installed netrpc does not yet carry the
# pytest11 entry point (a checkout used before reinstalling), as tests/conftest.py does.
CONFTEST = '''
def pytest_configure(config):
    if not config.pluginmanager.has_plugin("netrpc_testvirtd"):
        from netrpc.testing import pytest_plugin
        config.pluginmanager.register(pytest_plugin, "netrpc_testvirtd")
'''

USER_TESTS = '''
import json, os
from netrpc.testing import SyncClient
from daemons.testvirtd import remote_types as rt

EXTRA = "<domain type='test'><name>extra</name><memory>1024</memory><os><type>hvm</type></os></domain>"

def check(testvirtd, name):
    with SyncClient(testvirtd.socket) as c:
        c.call(rt.REMOTE_PROGRAM, 1, 1, rt.ConnectOpenArgs.xdr.encode(rt.ConnectOpenArgs("", 0)))
        raw = c.call(rt.REMOTE_PROGRAM, 1, 273, rt.ConnectListAllArgs.xdr.encode(rt.ConnectListAllArgs(1, 0)))
        names = sorted(d.name for d in rt.ConnectListAllDomainsRet.xdr.decode(raw).domains)
        c.call(rt.REMOTE_PROGRAM, 1, 11, rt.DomainDefineXmlArgs.xdr.encode(rt.DomainDefineXmlArgs(EXTRA)))
    record = {"test": name, "pid": testvirtd.pid, "worker": os.environ.get("PYTEST_XDIST_WORKER"),
              "names": names}
    with open(os.environ["RECORD"], "a") as fh:
        fh.write(json.dumps(record) + "\\n")

def test_a(testvirtd): check(testvirtd, "a")
def test_b(testvirtd): check(testvirtd, "b")
def test_c(testvirtd): check(testvirtd, "c")
def test_d(testvirtd): check(testvirtd, "d")
def test_e(testvirtd): check(testvirtd, "e")
def test_f(testvirtd): check(testvirtd, "f")
'''


def run_pytest(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )


def test_one_daemon_per_xdist_worker(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    record = tmp_path / "record.jsonl"
    env = dict(os.environ, RECORD=str(record), PYTHONPATH=str(ROOT))
    proc = run_pytest(tmp_path, "-n", "2", "-p", "xdist", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(records) == 6
    # Every test saw fresh state, although each defined a domain.
    assert all(r["names"] == ["test"] for r in records)
    workers = {r["worker"] for r in records}
    assert workers == {"gw0", "gw1"}
    pids = {r["worker"]: set() for r in records}
    for r in records:
        pids[r["worker"]].add(r["pid"])
    # One daemon per worker, a different one for each.
    assert all(len(p) == 1 for p in pids.values())
    assert len(set.union(*pids.values())) == 2
    # The daemons are gone after the run.
    for pid in set.union(*pids.values()):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"testvirtd {pid} outlived the test run")
