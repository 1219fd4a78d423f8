"""go-libvirt's own integration tests (``libvirt_integration_test.go`` of the packaged
sources) against libvirtd's test driver and testvirtd, set up as go-libvirt's upstream CI sets
up its libvirtd: the pool "test" of ``testdata/test-pool.xml`` defined and started with
virsh (and, as there, no other pool), the domain "test" present (test:///default has it) and
the secret of ``testdata/test-secret.xml`` defined (the test driver has no secrets, so that
step and the test reading it fail on both).

The test file runs (alone: the package's unit tests are left out) unmodified but for two
things: the port it dials (upstream hard-codes
libvirtd's 16509) and the URI its connections open (upstream uses the QEMU driver,
``qemu:///system``; the reference daemon here runs the test driver, so ``test:///default``).
Every test must end the same against both daemons, except the volume upload/download test,
which the test driver cannot pass (no volume data) and testvirtd deliberately does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from . import peers
from .peers import Endpoints
from .sidebyside import SideBySide

pytestmark = pytest.mark.interop

TESTDATA = peers.GO_LIBVIRT_SRC / "testdata"
#: testvirtd stores volume data, the test driver cannot (docs/testvirtd.md)
DELIBERATELY_DIFFERENT = {"TestVolumeUploadDownloadIntegration"}


def _test_names(source: str) -> list[str]:
    return re.findall(r"^func (Test\w+)\(t \*testing\.T\)", source, flags=re.M)


@pytest.fixture(scope="module")
def golibvirt_package(go_sources: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory,
                      ) -> tuple[Path, str]:
    """A copy of go-libvirt on a private GOPATH, and its integration test file's text."""
    gopath = tmp_path_factory.mktemp("gopath")
    dest = gopath / "src/github.com/digitalocean/go-libvirt"
    shutil.copytree(peers.GO_LIBVIRT_SRC, dest)
    # only the integration tests run: the unit tests need packages Debian does not ship here
    for other in dest.glob("*_test.go"):
        if other.name != "libvirt_integration_test.go":
            other.unlink()
    source = (dest / "libvirt_integration_test.go").read_text()
    assert 'testPort = "16509"' in source and "l.Connect()" in source, \
        "go-libvirt's integration test changed: adapt this test"
    return gopath, source


def _run_go_tests(gopath: Path, source: str, server: Endpoints) -> dict[str, str]:
    """Run the integration tests against *server*; test name -> "PASS"/"FAIL"."""
    pkg = gopath / "src/github.com/digitalocean/go-libvirt"
    patched = source.replace('testPort = "16509"', f'testPort = "{server.tcp_port}"')
    patched = patched.replace("l.Connect()", "l.ConnectToURI(TestDefault)")
    (pkg / "libvirt_integration_test.go").write_text(patched)
    names = _test_names(source)
    env = peers.go_env(gopath, peers.GO_BUILD_ROOT / "gocache")
    env["GOPATH"] = f"{gopath}:{peers.GOCODE}"  # the patched copy first
    proc = subprocess.run(
        [peers.find_go(), "test", "-count=1", "-v", "-tags", "integration",
         "-run", "^(" + "|".join(names) + ")$", "."],
        cwd=pkg, capture_output=True, text=True, timeout=600,
        env=env,
    )
    outcome = {name: status for status, name in
               re.findall(r"^--- (PASS|FAIL): (\w+)", proc.stdout, flags=re.M)}
    missing = [n for n in names if n not in outcome]
    assert not missing, f"go test did not report {missing}:\n{peers.describe(proc)}"
    return outcome


def _setup_like_upstream(sidebyside: SideBySide) -> None:
    """go-libvirt's CI steps (virsh define / secret-define / pool-define / pool-start),
    with test:///default's own pool out of the way as upstream's host has none."""
    v = sidebyside.virsh
    v("pool-destroy", "default-pool")
    v("pool-undefine", "default-pool")
    v("secret-define", str(TESTDATA / "test-secret.xml"))
    v("pool-define", str(TESTDATA / "test-pool.xml"))
    v("pool-start", "test")
    v("pool-list", "--all", "--details")


def test_golibvirt_integration_tests(sidebyside: SideBySide,
                                     golibvirt_package: tuple[Path, str]) -> None:
    gopath, source = golibvirt_package
    _setup_like_upstream(sidebyside)
    want = _run_go_tests(gopath, source, sidebyside.real)
    got = _run_go_tests(gopath, source, sidebyside.tvd)
    for name in DELIBERATELY_DIFFERENT:
        assert (want[name], got[name]) == ("FAIL", "PASS")
    same = {n: s for n, s in want.items() if n not in DELIBERATELY_DIFFERENT}
    assert {n: got[n] for n in same} == same
    # the storage pool flow of upstream's CI passes against both
    for name in ("TestStoragePoolIntegration", "TestStoragePoolsIntegration",
                 "TestStoragePoolsAutostartIntegration", "TestStoragePoolRefreshIntegration",
                 "TestStoragePoolInvalidIntegration", "TestStoragePoolRefreshInvalidIntegration"):
        assert want[name] == got[name] == "PASS", name
