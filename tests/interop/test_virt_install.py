"""virt-install against libvirtd's test driver and testvirtd, side by side: ``--disk size=N``
in the default location (virt-install defines, builds, starts and autostarts a "default"
pool there first) and in an explicit pool, as XML only (``--print-xml``), as a dry run and
for real; the outputs and the resulting pools, volumes and domains must be the same."""

from __future__ import annotations

import re
import subprocess

import pytest

from . import peers
from .peers import Endpoints
from .sidebyside import SideBySide, normalise_endpoints

pytestmark = pytest.mark.interop

TIMEOUT = 120.0


@pytest.fixture(scope="module")
def virt_install() -> str:
    return peers.require_peer(lambda: peers.find_program("virt-install"))


def _normalise(text: str) -> str:
    # virt-install makes up UUIDs and MAC addresses, and its progress lines show timings
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>",
                  text)
    text = re.sub(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", "<mac>", text)
    return re.sub(r"\d\d:\d\d(:\d\d)?", "<time>", text)


def _run(program: str, server: Endpoints, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [program, "--connect", server.uri_tcp, *args],
        capture_output=True, text=True, timeout=TIMEOUT, env=peers.client_env(),
        stdin=subprocess.DEVNULL,
    )
    return (proc.returncode, _normalise(normalise_endpoints(proc.stdout, server)),
            _normalise(normalise_endpoints(proc.stderr, server)))


def _same(sidebyside: SideBySide, program: str, *args: str) -> tuple[int, str, str]:
    want = _run(program, sidebyside.real, *args)
    got = _run(program, sidebyside.tvd, *args)
    assert got == want, f"virt-install {' '.join(args)} differs:\n{want}\n!=\n{got}"
    return want


def _virsh(sidebyside: SideBySide, *args: str) -> None:
    sidebyside.virsh(*args, normalise=_normalise)


COMMON = ("--memory", "512", "--osinfo", "detect=on,require=off", "--install",
          "no_install=yes", "--noautoconsole")


def test_disk_size_default_location(sidebyside: SideBySide, virt_install: str) -> None:
    rc, out, _err = _same(sidebyside, virt_install, "--name", "vi1", "--disk", "size=1",
                          *COMMON, "--print-xml")
    assert rc == 0 and "<disk" in out
    _same(sidebyside, virt_install, "--name", "vi1", "--disk", "size=1", *COMMON, "--dry-run")
    _virsh(sidebyside, "pool-list", "--all", "--details")
    rc, _out, _err = _same(sidebyside, virt_install, "--name", "vi1", "--disk", "size=1",
                           *COMMON)
    assert rc == 0
    for args in (
        ("pool-list", "--all", "--details"), ("pool-dumpxml", "default"),
        ("pool-autostart", "--disable", "default"), ("pool-info", "default"),
        ("vol-list", "default", "--details"), ("vol-dumpxml", "vi1.qcow2", "--pool", "default"),
        # the domain virt-install made, with its disk and the devices libvirt adds
        ("list", "--all"), ("dumpxml", "vi1"), ("dumpxml", "vi1", "--inactive"),
        ("domblklist", "vi1", "--details"),
    ):
        _virsh(sidebyside, *args)
    # the default pool exists now: a second guest only gets a volume
    _same(sidebyside, virt_install, "--name", "vi3", "--disk", "size=2,format=raw", *COMMON)
    _virsh(sidebyside, "vol-list", "default", "--details")
    _virsh(sidebyside, "pool-info", "default")
    # the same name again: virt-install refuses before creating anything
    _same(sidebyside, virt_install, "--name", "vi1", "--disk", "size=1", *COMMON)


def test_disk_size_explicit_pool(sidebyside: SideBySide, virt_install: str) -> None:
    _same(sidebyside, virt_install, "--name", "vi2", "--disk", "pool=default-pool,size=2",
          *COMMON, "--print-xml")
    rc, _out, _err = _same(sidebyside, virt_install, "--name", "vi2", "--disk",
                           "pool=default-pool,size=2,sparse=no", *COMMON)
    assert rc == 0
    for args in (
        ("vol-list", "default-pool", "--details"), ("pool-info", "default-pool"),
        ("vol-dumpxml", "vi2.qcow2", "--pool", "default-pool"),
        ("dumpxml", "vi2"),
        ("pool-list", "--all"),
    ):
        _virsh(sidebyside, *args)
    _same(sidebyside, virt_install, "--name", "vi4", "--disk", "pool=nosuchpool,size=1",
          *COMMON)
    _same(sidebyside, virt_install, "--name", "vi4", "--disk",
          "pool=default-pool,size=200000", *COMMON)
    _virsh(sidebyside, "vol-list", "default-pool", "--details")

