"""Snapshots loaded from ``data/snapshots/node.xml`` (run against a node-file URI by
``test_nodefile_snapshots.py``): the tree as loaded, reverts to each kind of snapshot with
their states and events, and new snapshots on top.  No masks: the loaded snapshots carry
their creation times, and new ones are not shown as XML.
"""

from __future__ import annotations

from typing import Any

from ..scenario_runner import Session, libvirt, scenario

S = libvirt


def names(value: Any) -> Any:
    """Snapshots as their names, in the order given."""
    return [v.getName() for v in value] if isinstance(value, list) else value.getName()


@scenario
def loaded_tree(s: Session) -> None:
    d = s.dom("tree")
    s.step("num", d.snapshotNum)
    s.step("current", d.snapshotCurrent, mask=names)
    s.step("roots", d.listAllSnapshots, S.VIR_DOMAIN_SNAPSHOT_LIST_ROOTS, mask=names)
    s.step("topological", d.listAllSnapshots, S.VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL,
           mask=lambda v: sorted(names(v)))
    for name in ("root", "paused", "off", "disks", "memfile", "nodomain"):
        snap = d.snapshotLookupByName(name)
        s.step(f"{name} xml", snap.getXMLDesc)
        s.step(f"{name} children", snap.listChildrenNames, mask=sorted)
        s.step(f"{name} descendants", snap.numChildren, S.VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS)
        s.step(f"{name} current", snap.isCurrent)
    for label, flag in (("external", "EXTERNAL"), ("internal", "INTERNAL"),
                        ("disk only", "DISK_ONLY"), ("inactive", "INACTIVE"),
                        ("active", "ACTIVE"), ("leaves", "LEAVES")):
        s.step(f"list {label}", d.snapshotListNames,
               getattr(S, f"VIR_DOMAIN_SNAPSHOT_LIST_{flag}"), mask=sorted)
    s.step("domain state", d.state)


@scenario
def reverts(s: Session) -> None:
    d = s.dom("tree")
    lookup = d.snapshotLookupByName
    for name, flags in (("paused", 0), ("root", 0), ("off", 0), ("disks", 0),
                        ("memfile", S.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED),
                        ("nodomain", 0), ("nodomain", S.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE)):
        s.step(f"revert {name} {flags}", d.revertToSnapshot, lookup(name), flags)
        s.step(f"after {name}: state", d.state)
        s.step(f"after {name}: xml", d.XMLDesc)
        s.step(f"after {name}: current", d.snapshotCurrent, mask=names)
        s.events(f"after {name}: events")
    s.step("new snapshot", d.snapshotCreateXML,
           "<domainsnapshot><name>new</name></domainsnapshot>", mask=names)
    s.step("new parent", lookup("new").getParent, mask=names)
    s.step("delete root with children", lookup("root").delete,
           S.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN)
    s.step("left", d.snapshotListNames, mask=sorted)
    s.step("plain managed save", s.dom("plain").hasManagedSaveImage)
    s.step("plain start", s.dom("plain").create)
    s.step("plain managed save after start", s.dom("plain").hasManagedSaveImage)
    s.events()
