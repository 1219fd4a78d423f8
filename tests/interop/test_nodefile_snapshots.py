"""Snapshots from node files (``<test:domainsnapshot>``) side by side: libvirtd's test driver
and testvirtd load ``data/snapshots/node.xml`` and answer the same to virsh's snapshot
commands and to a libvirt-python scenario (tree, current snapshot, XML, reverts including
one to a snapshot without its domain), and refuse broken snapshot definitions alike.

Each connection to a node-file URI gets its own instance, fresh from the file, on both.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._testvirtd import Testvirtd, running
from .peers import RealLibvirtd
from .sidebyside import run_scenario, scenario_names
from .test_nodefile import at, same

pytestmark = pytest.mark.interop

NODE = Path(__file__).resolve().parent / "data" / "snapshots" / "node.xml"

SNAPSHOT = """<test:domainsnapshot>
      <name>{name}</name>{extra}
    </test:domainsnapshot>"""

DOMAIN = """<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>broken</name>
    <memory>65536</memory>
    <os><type>hvm</type></os>
    {snapshots}
  </domain>
</node>
"""

GOOD = ("<state>shutoff</state><creationTime>1</creationTime>"
        "<domain type='test'><name>broken</name><memory>65536</memory>"
        "<os><type>hvm</type></os></domain>")

#: node files whose snapshots the test driver refuses (or, for some, accepts)
BROKEN = {
    "two-current.xml": [("a", GOOD + "<active>1</active>"), ("b", GOOD + "<active>1</active>")],
    "no-active.xml": [("a", GOOD)],
    "bad-active.xml": [("a", GOOD + "<active>yes</active>")],
    "missing-parent.xml": [("a", "<parent><name>zz</name></parent>" + GOOD
                            + "<active>0</active>")],
    "cycle.xml": [("a", "<parent><name>b</name></parent>" + GOOD + "<active>0</active>"),
                  ("b", "<parent><name>a</name></parent>" + GOOD + "<active>1</active>")],
    "no-state.xml": [("a", "<creationTime>1</creationTime><active>0</active>")],
    "bad-state.xml": [("a", GOOD.replace("shutoff", "asleep") + "<active>0</active>")],
    "no-time.xml": [("a", GOOD.replace("<creationTime>1</creationTime>", "")
                     + "<active>0</active>")],
    "duplicate.xml": [("a", GOOD + "<active>0</active>"), ("a", GOOD + "<active>0</active>")],
    "offline-memory.xml": [("a", GOOD + "<memory snapshot='internal'/><active>0</active>")],
    "no-name.xml": [("", GOOD + "<active>0</active>")],
}


@pytest.fixture(scope="module")
def testvirtd() -> Iterator[Testvirtd]:
    with running() as daemon:
        yield daemon


#: virsh shows creation times as local dates
_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}")


def test_virsh_on_node_file(real_libvirtd: RealLibvirtd, testvirtd: Testvirtd) -> None:
    real, tvd = at(real_libvirtd, NODE), at(testvirtd, NODE)
    same(real, tvd, "list", "--all", "--with-snapshot")
    same(real, tvd, "list", "--all", "--managed-save")
    # (not --topological: libvirtd links the loaded snapshots in its hash table's order,
    # so the order of siblings differs from run to run)
    for args in (["--tree"], ["--parent"], ["--roots"], ["--leaves"],
                 ["--inactive"], ["--active"], ["--disk-only"], ["--internal"],
                 ["--external"], ["--current"], ["--from", "root", "--descendants"]):
        same(real, tvd, "snapshot-list", "tree", *args)
    for name in ("root", "paused", "off", "disks", "memfile", "nodomain"):
        same(real, tvd, "snapshot-info", "tree", name)
        same(real, tvd, "snapshot-dumpxml", "tree", name)
        same(real, tvd, "snapshot-parent", "tree", name)
    same(real, tvd, "snapshot-current", "tree", "--name")
    same(real, tvd, "snapshot-revert", "tree", "nodomain")
    same(real, tvd, "snapshot-revert", "tree", "nodomain", "--force")
    same(real, tvd, "domstate", "--reason", "plain")
    same(real, tvd, "managedsave-remove", "plain")


@pytest.mark.parametrize("name", scenario_names("nodesnapshots"))
def test_scenario_on_node_file(real_libvirtd: RealLibvirtd, testvirtd: Testvirtd,
                               name: str) -> None:
    expected = run_scenario(at(real_libvirtd, NODE).uri_tcp, name)
    actual = run_scenario(at(testvirtd, NODE).uri_tcp, name)
    want = [json.dumps(r, sort_keys=True) for r in expected]
    got = [json.dumps(r, sort_keys=True) for r in actual]
    assert got == want, "\n".join(difflib.unified_diff(want, got, "libvirtd", "testvirtd",
                                                      lineterm=""))


@pytest.mark.parametrize("file_name", sorted(BROKEN))
def test_broken_snapshots(real_libvirtd: RealLibvirtd, testvirtd: Testvirtd, tmp_path: Path,
                          file_name: str) -> None:
    body = "\n    ".join(
        SNAPSHOT.format(name=name, extra=extra).replace("<name></name>", "")
        for name, extra in BROKEN[file_name])
    path = tmp_path / file_name
    path.write_text(DOMAIN.format(snapshots=body))
    real, tvd = at(real_libvirtd, path), at(testvirtd, path)
    same(real, tvd, "list", "--all")
    same(real, tvd, "snapshot-list", "broken", "--tree")
