"""The testvirtd fixture with real libvirt clients, and as an installed package sees it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from netrpc.testing import TestVirtd

from . import peers

ROOT = Path(__file__).resolve().parents[2]

LIBVIRT_PY = textwrap.dedent(
    """
    import json, sys, libvirt
    out = {}
    for name, uri in json.loads(sys.argv[1]).items():
        conn = libvirt.openReadOnly(uri) if name == "ro" else libvirt.open(uri)
        out[name] = {"type": conn.getType(),
                     "domains": sorted(d.name() for d in conn.listAllDomains())}
        if name == "ro":
            try:
                conn.defineXML("<domain type='test'><name>x</name><memory>1</memory>"
                               "<os><type>hvm</type></os></domain>")
            except libvirt.libvirtError as exc:
                out[name]["define"] = exc.get_error_message()
        conn.close()
    print(json.dumps(out))
    """
)


def test_every_uri_works_with_libvirt_python(testvirtd: TestVirtd, system_python: str) -> None:
    import json

    uris = {"unix": testvirtd.uri, "ro": testvirtd.ro_uri, "tcp": testvirtd.tcp_uri,
            "tls": testvirtd.tls_uri, "qemu": testvirtd.qemu_uri}
    proc = peers.run_system_python("-c", LIBVIRT_PY, json.dumps(uris))
    assert proc.returncode == 0, peers.describe(proc)
    out = json.loads(proc.stdout)
    for name in uris:
        assert out[name]["domains"] == ["test"], name
        assert out[name]["type"] == ("QEMU" if name == "qemu" else "TEST"), name
    assert "read only access prevents virDomainDefineXML" in out["ro"]["define"]


def test_virsh_and_virt_admin(testvirtd: TestVirtd, virsh: str, virt_admin: str) -> None:
    proc = peers.run_virsh(testvirtd.uri, "domstate", "test")
    assert proc.stdout.strip() == "running", peers.describe(proc)
    proc = peers.run_virsh(testvirtd.tls_uri, "list", "--name")
    assert proc.stdout.split() == ["test"], peers.describe(proc)
    proc = peers.run_virt_admin(testvirtd.admin_uri, "server-list")
    assert "testvirtd" in proc.stdout, peers.describe(proc)


PROJECT_TEST = textwrap.dedent(
    """
    import libvirt
    import netrpc

    def test_x(testvirtd):
        conn = libvirt.open(testvirtd.uri)
        assert [d.name() for d in conn.listAllDomains()] == ["test"]
        conn.defineXML("<domain type='test'><name>mine</name><memory>1024</memory>"
                       "<os><type>hvm</type></os></domain>")
        conn.close()

    def test_y(testvirtd):
        conn = libvirt.open(testvirtd.uri)
        assert [d.name() for d in conn.listAllDomains()] == ["test"]   # fresh again
        testvirtd.fault("DOMAIN_GET_INFO:error=1/10/injected failure,times=1")
        dom = conn.lookupByName("test")
        try:
            dom.info()
        except libvirt.libvirtError as exc:
            assert exc.get_error_message() == "injected failure"
        else:
            raise AssertionError("no error")
        assert dom.info()[0] == libvirt.VIR_DOMAIN_RUNNING

    def test_installed_copy():
        assert "site-packages" in netrpc.__file__, netrpc.__file__
    """
)


def test_installed_package_gives_projects_the_fixture(tmp_path: Path, system_python: str) -> None:
    """``pip install netrpc``, then ``def test_x(testvirtd)`` works: the pytest11 entry point
    loads the plugin, and the installed daemon serves libvirt-python."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    python = venv / "bin" / "python"
    # Build from a clean copy: setuptools keeps a build/ directory in the tree it builds.
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "bench"))
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(source)],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Debian's libvirt bindings (built for Python 3.11) in the venv, as a project would
    # have libvirt-python installed.
    if sysconfig.get_python_version() != "3.11":
        pytest.fail("Debian's libvirt bindings need Python 3.11")
    where = Path(peers.run_system_python(
        "-c", "import libvirt, os; print(os.path.dirname(libvirt.__file__))", check=True
    ).stdout.strip())
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip())
    for module in where.glob("libvirt*"):
        (site / module.name).symlink_to(module)
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_mine.py").write_text(PROJECT_TEST)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py"],
        cwd=project, capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
