"""Fixtures for the real libvirt peers and a private reference libvirtd.

A missing peer skips the test locally and fails it under CI (``CI=true``): CI must
never silently skip interop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from . import peers
from ._testvirtd import Testvirtd
from .peers import Holder, RealLibvirtd
from .peers import require_peer as require
from .sidebyside import SideBySide, side_by_side
from .sshd import PrivateSshd, find_sshd

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.interop)


@pytest.fixture(scope="session")
def virsh() -> str:
    return require(peers.find_virsh)


@pytest.fixture(scope="session")
def virt_admin() -> str:
    return require(peers.find_virt_admin)


@pytest.fixture(scope="session")
def system_python() -> str:
    """/usr/bin/python3, verified to import libvirt."""
    return require(peers.find_system_python)


@pytest.fixture(scope="session")
def libvirtd_binary() -> str:
    return require(peers.find_libvirtd)


@pytest.fixture(scope="session")
def avahi_browse() -> str:
    return require(peers.find_avahi_browse)


@pytest.fixture(scope="session")
def go_sources() -> tuple[Path, Path]:
    """(go-libvirt, go-qemu) source directories under /usr/share/gocode."""
    require(peers.find_go)
    return require(peers.find_go_sources)


@pytest.fixture(scope="session")
def go_programs(go_sources: tuple[Path, Path]) -> dict[str, Path]:
    """Built Go peer programs, name -> binary (cached under /tmp by source hash)."""
    return peers.build_go_programs()


@pytest.fixture(scope="session")
def golibvirt(go_programs: dict[str, Path]) -> Path:
    return go_programs["golibvirt"]


@pytest.fixture(scope="session")
def golibvirt_faults(go_programs: dict[str, Path]) -> Path:
    return go_programs["golibvirt_faults"]


@pytest.fixture(scope="session")
def golibvirt_snapshots(go_programs: dict[str, Path]) -> Path:
    return go_programs["golibvirt_snapshots"]


@pytest.fixture(scope="session")
def goqemu(go_programs: dict[str, Path]) -> Path:
    return go_programs["goqemu"]


@pytest.fixture(scope="session")
def real_libvirtd(
    libvirtd_binary: str, virsh: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealLibvirtd]:
    """The real libvirtd with only the test driver, private dirs, TCP on a free loopback port.

    Attributes: tcp_port, unix_path, ro_path, admin_path, pid, uri_tcp, uri_unix, uri_ro,
    uri_admin, driver_uri, workdir, log_path; ``hold()`` keeps a connection open.
    """
    workdir = peers.short_workdir(tmp_path_factory.mktemp("libvirtd"))
    daemon = RealLibvirtd(workdir)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def sshd() -> Iterator[PrivateSshd]:
    """A private sshd on 127.0.0.1 (throwaway keys); its ``uri()`` builds ssh URIs."""
    daemon = PrivateSshd(require(find_sshd)).start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def real_libvirtd_held(real_libvirtd: RealLibvirtd) -> Iterator[Holder]:
    """A virsh connection to the real libvirtd held open for the test, so test-driver
    state persists between separate client runs (interop.md surprise 12)."""
    with real_libvirtd.hold() as holder:
        yield holder


@pytest.fixture(scope="module")
def shared_testvirtd() -> Iterator[Testvirtd]:
    """One testvirtd for a test module; :func:`sidebyside` resets it before each test.

    It keeps test:///default's state between the connections of a test, as the held
    connection does for libvirtd."""
    daemon = Testvirtd("--keep-state").start()
    daemon.admin_path = str(daemon.workdir / "libvirt-admin-sock")
    try:
        yield daemon
    finally:
        code = daemon.stop()
        assert code in (0, None), f"testvirtd exited with {code}: {''.join(daemon.stderr)}"


@pytest.fixture
def sidebyside(
    real_libvirtd: RealLibvirtd, shared_testvirtd: Testvirtd, virsh: str, system_python: str
) -> Iterator[SideBySide]:
    """The real libvirtd and testvirtd, both in test:///default's fresh state for the test
    (see tests/interop/sidebyside.py)."""
    with side_by_side(real_libvirtd, shared_testvirtd) as both:
        yield both
