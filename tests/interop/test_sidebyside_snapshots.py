"""Snapshot and checkpoint APIs and virsh's snapshot/checkpoint commands, side by side with
libvirtd's test driver."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("name", scenario_names("snapshots"))
def test_snapshot_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


@pytest.mark.parametrize("name", scenario_names("saving"))
def test_saving_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


#: virsh shows creation times as local dates, and snapshot-create-as without a name names
#: the snapshot after that time: the wall clock of two servers cannot match.
_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}")
_CREATION = re.compile(r"<creationTime>\d+</creationTime>")


def _times(text: str) -> str:
    return _CREATION.sub("<creationTime>T</creationTime>", _DATE.sub("<date>", text))


def test_virsh_snapshot_commands(sidebyside: SideBySide) -> None:
    v = sidebyside.virsh
    v("snapshot-list", "test")
    v("snapshot-current", "test")
    v("snapshot-create-as", "test", "s1", "first one")
    v("snapshot-create-as", "--domain", "test", "--name", "s2", "--print-xml")
    v("snapshot-create-as", "test", "s2", "--atomic")
    v("snapshot-create-as", "test", "bad", "--disk-only")
    v("snapshot-create-as", "test", "bad", "--no-metadata")
    v("snapshot-create-as", "test", "bad", "--reuse-external")
    v("snapshot-create-as", "test", "s3", "--diskspec", "vda,snapshot=internal",
      "--memspec", "snapshot=internal")
    v("snapshot-create-as", "test", "bad", "--diskspec", "vda,snapshot=external")
    v("suspend", "test")
    v("snapshot-create-as", "test", "p1", "--halt")
    v("domstate", "--reason", "test")
    for args in (["--tree"], ["--parent"], ["--roots"], ["--leaves"], ["--no-leaves"],
                 ["--name"], ["--topological"], ["--inactive"], ["--active"],
                 ["--disk-only"], ["--internal"], ["--external"], ["--metadata"],
                 ["--no-metadata"], ["--current"], ["--from", "s1"],
                 ["--from", "s1", "--descendants"], ["--current", "--descendants", "--name"],
                 ["--from", "nope"]):
        v("snapshot-list", "test", *args, normalise=_times)
    for name in ("s1", "s2", "p1"):
        v("snapshot-info", "test", name)
        v("snapshot-dumpxml", "test", name, normalise=_times)
        v("snapshot-parent", "test", name)
    v("snapshot-info", "test", "--current")
    v("snapshot-current", "test", normalise=_times)
    v("snapshot-current", "test", "--name")
    v("snapshot-current", "test", "s1")
    v("snapshot-current", "test", "--name")
    v("snapshot-revert", "test", "s2")
    v("domstate", "--reason", "test")
    v("snapshot-revert", "test", "p1", "--running")
    v("domstate", "--reason", "test")
    v("snapshot-revert", "test", "--current", "--paused")
    v("domstate", "--reason", "test")
    v("snapshot-revert", "test", "s2", "--running", "--paused")
    v("snapshot-revert", "test", "nope")
    v("snapshot-delete", "test", "s2", "--metadata")
    v("snapshot-delete", "test", "s2", "--children-only")
    v("snapshot-list", "test", "--tree")
    v("snapshot-delete", "test", "s1")
    v("snapshot-list", "test", "--parent", normalise=_times)
    v("snapshot-delete", "test", "--current", "--children")
    v("snapshot-list", "test", "--tree")
    v("snapshot-create-as", "test", normalise=_times)
    v("snapshot-delete", "test", "nope")
    v("undefine", "test")
    v("destroy", "test")
    v("undefine", "test")
    v("undefine", "test", "--snapshots-metadata")
    v("list", "--all")


def test_virsh_checkpoint_commands(sidebyside: SideBySide) -> None:
    v = sidebyside.virsh
    v("checkpoint-list", "test")
    v("checkpoint-create-as", "test", "c1", "first")
    v("checkpoint-create-as", "test", "c2", "--diskspec", "vda,checkpoint=no")
    v("checkpoint-create-as", "test", "--name", "c3", "--print-xml")
    v("checkpoint-create-as", "test", "c3", "--quiesce")
    v("checkpoint-create-as", "test", "bad", "--diskspec", "vdz")
    for args in (["--tree"], ["--parent"], ["--roots"], ["--leaves"], ["--no-leaves"],
                 ["--name"], ["--topological"], ["--from", "c1"],
                 ["--from", "c1", "--descendants"], ["--from", "nope"]):
        v("checkpoint-list", "test", *args, normalise=_times)
    for name in ("c1", "c2", "c3"):
        v("checkpoint-info", "test", name)
        v("checkpoint-dumpxml", "test", name, normalise=_times)
        v("checkpoint-dumpxml", "test", name, "--no-domain", normalise=_times)
        v("checkpoint-parent", "test", name)
    v("checkpoint-dumpxml", "test", "c1", "--size", normalise=_times)
    v("snapshot-create-as", "test", "s1")
    v("checkpoint-delete", "test", "c2", "--children-only")
    v("checkpoint-delete", "test", "c1", "--metadata")
    v("checkpoint-list", "test", "--tree")
    v("checkpoint-delete", "test", "c2", "--children")
    v("checkpoint-list", "test", "--tree")
    v("destroy", "test")
    v("checkpoint-create-as", "test", "c4")


def test_virsh_saving_commands(sidebyside: SideBySide, tmp_path: Path) -> None:
    v = sidebyside.virsh
    image = str(tmp_path / "test.img")
    v("save", "test", image)
    v("save", "test", image)
    v("domstate", "--reason", "test")
    v("save-image-dumpxml", image)
    v("save-image-dumpxml", image, "--security-info")
    v("save-image-define", image, str(tmp_path / "nope.xml"))
    v("restore", image)
    v("restore", image)
    v("domstate", "--reason", "test")
    v("save", "test", image, "--running")
    v("save", "test", image, "--bypass-cache")
    v("restore", str(tmp_path / "missing.img"))
    v("managedsave", "test")
    v("domstate", "--reason", "test")
    v("list", "--all", "--managed-save")
    v("list", "--all", "--with-managed-save")
    v("dominfo", "test", normalise=lambda t: re.sub(r"[\d.]+s\n", "<t>\n", t))
    v("managedsave-dumpxml", "test")
    v("managedsave-remove", "test")
    v("managedsave-remove", "test")
    v("start", "test")
    v("managedsave", "test", "--running")
    v("start", "test")
    v("dump", "test", str(tmp_path / "core"))
    v("dump", "test", str(tmp_path / "core"), "--format", "kdump-zlib")
    v("dump", "test", str(tmp_path / "core"), "--live")
    v("dump", "test", str(tmp_path / "core"), "--crash")
    v("domstate", "--reason", "test")
    v("start", "test")
    v("screenshot", "test", str(tmp_path / "shot.png"))
    v("screenshot", "test", str(tmp_path / "shot.png"), "--screen", "1")
