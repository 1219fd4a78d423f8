"""Storage pool and volume APIs and virsh ``pool-*``/``vol-*`` commands, side by side with
libvirtd's test driver."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .scenarios.storage import DIR_POOL, POOLS
from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("name", scenario_names("storage"))
def test_storage_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


def test_virsh_pool_commands(sidebyside: SideBySide, tmp_path: Path) -> None:
    p1 = tmp_path / "p1.xml"
    p1.write_text(DIR_POOL)
    netfs = tmp_path / "netfs.xml"
    netfs.write_text(POOLS["netfs"])
    spec = tmp_path / "spec.xml"
    spec.write_text("<source><host name='nfs.example.com'/></source>")
    def v(*args: str) -> None:
        # pools defined by pool-define-as / pool-create-as get random UUIDs
        sidebyside.virsh(*args, normalise=lambda t: re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}",
                                                           "<uuid>", t))

    for args in (
        ("pool-list",), ("pool-list", "--all"), ("pool-list", "--all", "--details"),
        ("pool-list", "--name"), ("pool-list", "--uuid"), ("pool-list", "--type", "dir"),
        ("pool-list", "--inactive"), ("pool-list", "--transient"), ("pool-list", "--autostart"),
        ("pool-info", "default-pool"), ("pool-info", "--bytes", "default-pool"),
        ("pool-dumpxml", "default-pool"), ("pool-uuid", "default-pool"),
        ("pool-name", "dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566"),
        ("pool-info", "nosuchpool"), ("pool-dumpxml", "nosuchpool"),
        ("pool-define", str(p1)), ("pool-list", "--all", "--details"),
        ("pool-build", "p1"), ("pool-build", "p1", "--overwrite"),
        ("pool-start", "p1"), ("pool-start", "p1"), ("pool-refresh", "p1"),
        ("pool-autostart", "p1"), ("pool-list", "--all", "--autostart"),
        ("pool-autostart", "--disable", "p1"), ("pool-info", "p1"),
        ("pool-destroy", "p1"), ("pool-delete", "p1"), ("pool-undefine", "p1"),
        ("pool-undefine", "p1"),
        ("pool-define-as", "asdir", "dir", "--target", "/srv/asdir"),
        ("pool-dumpxml", "asdir"),
        ("pool-define-as", "aslogical", "logical", "--source-name", "vg9",
         "--source-dev", "/dev/sdz"),
        ("pool-dumpxml", "aslogical"),
        ("pool-create-as", "asnetfs", "netfs", "--source-host", "h", "--source-path", "/e",
         "--target", "/mnt/e"),
        ("pool-dumpxml", "asnetfs"), ("pool-destroy", "asnetfs"),
        ("pool-create-as", "--build", "asbuilt", "dir", "--target", "/srv/b"),
        ("pool-create", str(netfs)), ("pool-list", "--all", "--details"),
        ("pool-destroy", "netfs"),
        ("find-storage-pool-sources", "logical"),
        ("find-storage-pool-sources", "netfs", str(spec)),
        ("find-storage-pool-sources-as", "netfs", "nfs.example.com"),
        ("find-storage-pool-sources-as", "netfs"),
        ("find-storage-pool-sources", "dir"),
        ("pool-capabilities",),
        ("pool-dumpxml", "default-pool", "--xpath", "//target/path"),
        ("pool-dumpxml", "--inactive", "default-pool"),
        ("pool-define-as", "asfs", "fs", "--source-dev", "/dev/sdz9", "--target", "/mnt/z",
         "--source-format", "xfs"),
        ("pool-dumpxml", "asfs"), ("pool-build", "asfs", "--no-overwrite"),
        ("pool-start", "asfs", "--build"), ("pool-info", "asfs"),
        ("pool-undefine", "asfs"), ("pool-destroy", "asfs"), ("pool-undefine", "asfs"),
        ("pool-event", "--list"),
    ):
        v(*args)


def test_virsh_vol_commands(sidebyside: SideBySide, tmp_path: Path) -> None:
    vol = tmp_path / "vol.xml"
    vol.write_text("<volume><name>fromfile</name><capacity unit='M'>3</capacity></volume>")
    v = sidebyside.virsh
    for args in (
        ("vol-list", "default-pool"),
        ("vol-create-as", "default-pool", "v1", "10M", "--allocation", "2M"),
        ("vol-create-as", "default-pool", "v2", "1G", "--format", "qcow2"),
        ("vol-create-as", "default-pool", "v1", "10M"),
        ("vol-create", "default-pool", str(vol)),
        ("vol-clone", "v1", "v1clone", "--pool", "default-pool"),
        ("vol-clone", "v1", "v1clone", "--pool", "default-pool"),
        ("vol-create-from", "default-pool", str(vol), "v1"),
        ("vol-list", "default-pool", "--details"),
        ("vol-info", "v1clone", "--pool", "default-pool"),
        ("vol-info", "/default-pool/v2"), ("vol-info", "--bytes", "/default-pool/v2"),
        ("vol-dumpxml", "v1clone", "--pool", "default-pool"),
        ("vol-path", "v1", "--pool", "default-pool"), ("vol-key", "/default-pool/v1"),
        ("vol-name", "/default-pool/v1"), ("vol-pool", "/default-pool/v1"),
        ("vol-pool", "--uuid", "/default-pool/v1"),
        ("vol-resize", "v1", "20M", "--pool", "default-pool"),
        ("vol-resize", "v1", "0", "--pool", "default-pool"),
        ("vol-resize", "v1", "--delta", "1M", "--pool", "default-pool"),
        ("vol-create-as", "default-pool", "overlay", "1G", "--format", "qcow2",
         "--backing-vol", "/default-pool/v2", "--backing-vol-format", "qcow2"),
        ("vol-dumpxml", "overlay", "--pool", "default-pool"),
        ("vol-dumpxml", "overlay", "--pool", "default-pool", "--xpath", "//backingStore"),
        ("vol-info", "--pool", "default-pool", "overlay"),
        ("vol-wipe", "nosuchvol", "--pool", "default-pool"),
        ("vol-info", "nosuchvol", "--pool", "default-pool"),
        ("pool-info", "default-pool"),
        ("vol-delete", "v1", "--pool", "default-pool"),
        ("vol-delete", "/default-pool/v2"), ("vol-delete", "/default-pool/v2"),
        ("vol-list", "default-pool", "--details"), ("pool-info", "default-pool"),
        ("pool-destroy", "default-pool"), ("vol-list", "default-pool"),
        ("vol-info", "/default-pool/v1clone"),
    ):
        v(*args)


def test_virsh_pool_events(sidebyside: SideBySide, tmp_path: Path) -> None:
    p1 = tmp_path / "p1.xml"
    p1.write_text(DIR_POOL)
    sidebyside.virsh_with_events(
        ("pool-event", "--all", "--loop", "--timeout", "5"),
        [("pool-define", str(p1)), ("pool-build", "p1"), ("pool-start", "p1"),
         ("pool-refresh", "p1"), ("pool-destroy", "p1"), ("pool-delete", "p1"),
         ("pool-undefine", "p1")],
    )
