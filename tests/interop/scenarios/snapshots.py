"""Snapshots and checkpoints of the test driver, side by side: creation with every flag it
honours or refuses, lists with their filters, lookups, tree queries, revert (states and
events), deletion, checkpoints, and how they meet undefine and the domain list filters.

Masks (the only normalisers here):

* :func:`xml` replaces ``<creationTime>N</creationTime>`` by a placeholder: it is the wall
  clock (seconds) when the snapshot or checkpoint was made, which two servers cannot share.
* :func:`unordered` sorts a listing of every snapshot that is not topological: libvirtd walks a
  hash table seeded at random when it starts, so that order differs from run to run.
"""

from __future__ import annotations

import re
from typing import Any

from ..scenario_runner import Session, libvirt, scenario

S = libvirt
CREATION = re.compile(r"<creationTime>\d+</creationTime>")

# A second domain, shut off, with a file disk and a read-only disk.
OTHER = """<domain type='test'>
  <name>other</name>
  <uuid>12345678-1234-1234-1234-123456789abc</uuid>
  <memory>131072</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/other.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/var/lib/ro.img'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
  </devices>
</domain>"""

NODISK = """<domain type='test'>
  <name>nodisk</name>
  <uuid>12345678-1234-1234-1234-123456789abd</uuid>
  <memory>131072</memory>
  <os><type>hvm</type></os>
</domain>"""


def xml(text: Any) -> Any:
    """Mask the creation time (wall clock) of a snapshot or checkpoint XML."""
    return CREATION.sub("<creationTime>T</creationTime>", text) if isinstance(text, str) else text


def _name(obj: Any) -> Any:
    if hasattr(obj, "getName"):
        return obj.getName()
    return obj.name() if hasattr(obj, "name") else obj


def unordered(value: Any) -> Any:
    """Sort a listing whose order libvirtd draws from a randomly seeded hash table."""
    return sorted(_name(v) for v in value) if isinstance(value, list) else value


def names(value: Any) -> Any:
    """Snapshot, checkpoint or domain objects as their names, in the order given."""
    return [_name(v) for v in value] if isinstance(value, list) else _name(value)


def revert_to(s: Session, label: str, name: str, flags: int = 0, dom: str = "test") -> Any:
    """Revert *dom* to its snapshot *name* (recorded)."""
    d = s.dom(dom)
    return s.step(label, d.revertToSnapshot, d.snapshotLookupByName(name), flags)


def snap(s: Session, name: str, extra: str = "", flags: int = 0, dom: str = "test") -> Any:
    """Create snapshot *name* (recorded)."""
    body = f"<domainsnapshot><name>{name}</name>{extra}</domainsnapshot>"
    return s.step(f"create {name} {flags:#x}", s.dom(dom).snapshotCreateXML, body, flags)


@scenario
def create_and_query(s: Session) -> None:
    d = s.dom()
    s.step("num none", d.snapshotNum)
    s.step("hasCurrent none", d.hasCurrentSnapshot)
    s.step("current none", d.snapshotCurrent)
    s.step("listNames none", d.snapshotListNames)
    s.step("listAll none", d.listAllSnapshots)
    s1 = s.step("create s1", d.snapshotCreateXML,
                "<domainsnapshot><name>s1</name><description>first &amp; 'one'"
                "</description></domainsnapshot>")
    s.step("s1 xml", s1.getXMLDesc, mask=xml)
    s.step("s1 xml secure", s1.getXMLDesc, S.VIR_DOMAIN_SNAPSHOT_XML_SECURE, mask=xml)
    s.step("s1 xml bad flag", s1.getXMLDesc, 2)
    s.step("s1 parent", s1.getParent)
    s.step("s1 isCurrent", s1.isCurrent)
    s.step("s1 hasMetadata", s1.hasMetadata)
    s.step("s1 numChildren", s1.numChildren)
    s.step("s1 getName", s1.getName)
    s2 = snap(s, "s2")
    s.step("s2 xml", s2.getXMLDesc, mask=xml)
    s.step("s2 parent", s2.getParent)
    s.step("s1 isCurrent after s2", s1.isCurrent)
    s.step("s2 isCurrent", s2.isCurrent)
    s.step("current", d.snapshotCurrent)
    s.step("hasCurrent", d.hasCurrentSnapshot)
    s.step("num", d.snapshotNum)
    s.step("listNames", d.snapshotListNames, mask=unordered)
    s.step("listAll", d.listAllSnapshots, mask=unordered)
    s.step("lookup s1", d.snapshotLookupByName, "s1")
    s.step("lookup missing", d.snapshotLookupByName, "nope")
    s.step("lookup flags", d.snapshotLookupByName, "s1", 1)
    s.step("s1 numChildren after s2", s1.numChildren)
    s.step("s1 listChildrenNames", s1.listChildrenNames)
    s.step("s1 listAllChildren", s1.listAllChildren, mask=names)
    s.step("s1 isCurrent flags", s1.isCurrent, 1)
    s.step("s1 hasMetadata flags", s1.hasMetadata, 1)
    s.step("s1 parent flags", s1.getParent, 1)
    s.step("hasCurrent flags", d.hasCurrentSnapshot, 1)
    s.step("current flags", d.snapshotCurrent, 1)
    s.step("num bad flags", d.snapshotNum, 1 << 20)
    s.step("duplicate name", d.snapshotCreateXML,
           "<domainsnapshot><name>s1</name></domainsnapshot>")
    s.step("default name", d.snapshotCreateXML, "<domainsnapshot/>",
           mask=lambda v: v.getName().isdigit())
    s.step("domain listAll has snapshot", s.conn.listAllDomains,
           S.VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT, mask=unordered)
    s.step("domain listAll no snapshot", s.conn.listAllDomains,
           S.VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT, mask=unordered)
    s.events()


@scenario
def create_flags(s: Session) -> None:
    d = s.dom()
    for flag in ("NO_METADATA", "DISK_ONLY", "REUSE_EXT"):
        value = getattr(S, f"VIR_DOMAIN_SNAPSHOT_CREATE_{flag}")
        snap(s, f"refused-{flag.lower()}", flags=value)
    snap(s, "quiesce", flags=S.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE)
    snap(s, "atomic-live", flags=S.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
         | S.VIR_DOMAIN_SNAPSHOT_CREATE_LIVE)
    snap(s, "bad-bits", flags=1 << 20 | S.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA)
    snap(s, "current-alone", flags=S.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT)
    snap(s, "redefine-halt", flags=S.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
         | S.VIR_DOMAIN_SNAPSHOT_CREATE_HALT)
    s.events("before halt")
    halted = snap(s, "halted", flags=S.VIR_DOMAIN_SNAPSHOT_CREATE_HALT)
    s.step("halted xml", halted.getXMLDesc, mask=xml)
    s.step("state after halt", d.state)
    s.step("isActive after halt", d.isActive)
    s.events("after halt")
    snap(s, "offline")
    s.step("offline xml", d.snapshotLookupByName("offline").getXMLDesc, mask=xml)
    s.step("halt inactive", d.snapshotCreateXML,
           "<domainsnapshot><name>halt2</name></domainsnapshot>",
           S.VIR_DOMAIN_SNAPSHOT_CREATE_HALT)
    s.step("start", d.create)
    s.step("suspend", d.suspend)
    paused = snap(s, "paused")
    s.step("paused xml", paused.getXMLDesc, mask=xml)
    s.step("destroy", d.destroy)
    s.step("undefine with snapshots", d.undefine)
    s.step("undefineFlags managed save flag", d.undefineFlags,
           S.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    s.step("undefineFlags nvram", d.undefineFlags, S.VIR_DOMAIN_UNDEFINE_NVRAM)
    s.step("transient create", s.conn.createXML,
           OTHER.replace("<name>other</name>", "<name>tr</name>"), 0)
    snap(s, "tr-halt", flags=S.VIR_DOMAIN_SNAPSHOT_CREATE_HALT, dom="tr")
    snap(s, "tr-plain", dom="tr")
    s.step("undefine with snapshots flag", d.undefineFlags,
           S.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    s.step("domains after undefine", s.conn.listAllDomains, mask=unordered)
    s.events()


@scenario
def create_xml_checks(s: Session) -> None:
    s.step("define other", s.conn.defineXML, OTHER)
    s.step("define nodisk", s.conn.defineXML, NODISK)
    bad = [
        ("malformed", "<domainsnapshot><name>x</name>"),
        ("wrong root", "<snapshot><name>x</name></snapshot>"),
        ("empty", ""),
        ("manual disk", "<domainsnapshot><name>m</name><disks><disk name='vda' "
                        "snapshot='manual'/></disks></domainsnapshot>"),
        ("manual memory", "<domainsnapshot><name>m</name><memory snapshot='manual'/>"
                          "</domainsnapshot>"),
        ("default memory attr", "<domainsnapshot><name>m</name><memory snapshot='default'/>"
                                "</domainsnapshot>"),
        ("bogus memory", "<domainsnapshot><name>m</name><memory snapshot='bogus'/>"
                         "</domainsnapshot>"),
        ("memory file internal", "<domainsnapshot><name>m</name><memory snapshot='internal' "
                                 "file='/tmp/mem'/></domainsnapshot>"),
        ("memory external no file", "<domainsnapshot><name>m</name><memory "
                                    "snapshot='external'/></domainsnapshot>"),
        ("memory relative file", "<domainsnapshot><name>m</name><memory file='mem'/>"
                                 "</domainsnapshot>"),
        ("memory external", "<domainsnapshot><name>mext</name><memory file='/tmp/mem'/>"
                            "</domainsnapshot>"),
        ("disk no name", "<domainsnapshot><name>m</name><disks><disk/></disks>"
                         "</domainsnapshot>"),
        ("disk unknown", "<domainsnapshot><name>m</name><disks><disk name='vdz'/></disks>"
                         "</domainsnapshot>"),
        ("disk twice", "<domainsnapshot><name>m</name><disks><disk name='vda'/>"
                       "<disk name='/guest/diskimage1'/></disks></domainsnapshot>"),
        ("too many disks", "<domainsnapshot><name>m</name><disks><disk name='vda'/>"
                           "<disk name='vdb'/></disks></domainsnapshot>"),
        ("disk external mode", "<domainsnapshot><name>m</name><disks><disk name='vda' "
                               "snapshot='external'/></disks></domainsnapshot>"),
        ("disk file", "<domainsnapshot><name>m</name><disks><disk name='vda'>"
                      "<source file='/tmp/new.qcow2'/></disk></disks></domainsnapshot>"),
        ("disk relative file", "<domainsnapshot><name>m</name><disks><disk name='vda'>"
                               "<source file='new.qcow2'/></disk></disks></domainsnapshot>"),
        ("disk dir type", "<domainsnapshot><name>m</name><disks><disk name='vda' type='dir'/>"
                          "</disks></domainsnapshot>"),
        ("disk bad driver", "<domainsnapshot><name>m</name><disks><disk name='vda'>"
                            "<driver type='bogus'/></disk></disks></domainsnapshot>"),
        ("disk no snapshot", "<domainsnapshot><name>dno</name><disks><disk name='vda' "
                             "snapshot='no'/></disks></domainsnapshot>"),
        ("disk internal", "<domainsnapshot><name>dint</name><disks><disk name='vda' "
                          "snapshot='internal'/></disks></domainsnapshot>"),
    ]
    for label, body in bad:
        s.step(label, s.dom().snapshotCreateXML, body, mask=lambda v: xml(v.getXMLDesc()))
    s.step("validate ok", s.dom().snapshotCreateXML,
           "<domainsnapshot><name>valid</name></domainsnapshot>",
           S.VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE, mask=names)
    s.step("validate bad", s.dom().snapshotCreateXML,
           "<domainsnapshot><name>v2</name><bogus/></domainsnapshot>",
           S.VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE)
    s.step("validate bad state", s.dom().snapshotCreateXML,
           "<domainsnapshot><name>v3</name><state>bogus</state></domainsnapshot>",
           S.VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE)
    s.step("unvalidated extra", s.dom().snapshotCreateXML,
           "<domainsnapshot><name>v4</name><bogus/></domainsnapshot>", mask=names)
    for body in ("<domainsnapshot><name>o1</name></domainsnapshot>",
                 "<domainsnapshot><name>o2</name><disks><disk name='vda' snapshot='no'/>"
                 "</disks></domainsnapshot>",
                 "<domainsnapshot><name>o3</name><disks><disk name='vdb' snapshot='internal'/>"
                 "</disks></domainsnapshot>",
                 "<domainsnapshot><name>o4</name><disks><disk name='vdb' snapshot='no'/>"
                 "</disks></domainsnapshot>"):
        s.step("other " + body[22:24], s.dom("other").snapshotCreateXML, body,
               mask=lambda v: xml(v.getXMLDesc()))
    s.step("nodisk", s.dom("nodisk").snapshotCreateXML,
           "<domainsnapshot><name>n1</name><disks><disk name='x'/></disks></domainsnapshot>")
    s.step("nodisk plain", s.dom("nodisk").snapshotCreateXML,
           "<domainsnapshot><name>n2</name></domainsnapshot>",
           mask=lambda v: xml(v.getXMLDesc()))
    s.events()


@scenario
def redefine(s: Session) -> None:
    d = s.dom()
    s1 = snap(s, "s1")
    s2 = snap(s, "s2")
    text = s1.getXMLDesc()
    s.step("redefine s1 same", d.snapshotCreateXML, text,
           S.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE, mask=names)
    s.step("current after redefine", d.snapshotCurrent, mask=lambda v: v.getName())
    s.step("redefine s1 current", d.snapshotCreateXML, text,
           S.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | S.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT,
           mask=names)
    s.step("current after redefine current", d.snapshotCurrent, mask=lambda v: v.getName())
    s.step("s2 parent", s2.getParent, mask=lambda v: v.getName())
    new = text.replace("<name>s1</name>", "<name>s9</name>", 1)
    new = re.sub(r"<creationTime>\d+</creationTime>", "<creationTime>1234</creationTime>", new)
    new = new.replace("<description>", "<description>x")
    s9 = s.step("redefine new s9", d.snapshotCreateXML, new,
                S.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
    s.step("s9 xml", s9.getXMLDesc)
    s.step("s9 parent", s9.getParent)
    child = re.sub(r"<name>s9</name>", "<name>s10</name><parent><name>s9</name></parent>",
                   new.replace("<creationTime>1234", "<creationTime>1235"), count=1)
    s.step("redefine child", d.snapshotCreateXML, child,
           S.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE, mask=names)
    s.step("s9 children", s9.listChildrenNames)
    cycle = re.sub(r"<name>s9</name>", "<name>s9</name><parent><name>s10</name></parent>",
                   new, count=1)
    s.step("redefine cycle", d.snapshotCreateXML, cycle, S.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
    own = re.sub(r"<name>s9</name>", "<name>s9</name><parent><name>s9</name></parent>",
                 new, count=1)
    s.step("redefine own parent", d.snapshotCreateXML, own,
           S.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
    orphan = re.sub(r"<name>s9</name>", "<name>s11</name><parent><name>zz</name></parent>",
                    new, count=1)
    s.step("redefine missing parent", d.snapshotCreateXML, orphan,
           S.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
    checks = [
        ("no name", "<domainsnapshot><state>running</state><creationTime>1</creationTime>"
                    "</domainsnapshot>"),
        ("no creation time", "<domainsnapshot><name>r</name><state>running</state>"
                             "</domainsnapshot>"),
        ("bad creation time", "<domainsnapshot><name>r</name><state>running</state>"
                              "<creationTime>12x</creationTime></domainsnapshot>"),
        ("no state", "<domainsnapshot><name>r</name><creationTime>1</creationTime>"
                     "</domainsnapshot>"),
        ("bad state", "<domainsnapshot><name>r</name><state>bogus</state>"
                      "<creationTime>1</creationTime></domainsnapshot>"),
        ("nostate", "<domainsnapshot><name>r</name><state>nostate</state>"
                    "<creationTime>1</creationTime></domainsnapshot>"),
        ("no domain", "<domainsnapshot><name>r</name><state>running</state>"
                      "<creationTime>1</creationTime></domainsnapshot>"),
        ("uuid only", "<domainsnapshot><name>r</name><state>shutoff</state>"
                      "<creationTime>1</creationTime><domain><uuid>"
                      "6695eb01-f6a4-8304-79aa-97f2502e193f</uuid></domain></domainsnapshot>"),
        ("offline memory", "<domainsnapshot><name>r</name><state>shutoff</state>"
                           "<creationTime>1</creationTime><memory snapshot='internal'/>"
                           "</domainsnapshot>"),
        ("other uuid", text.replace("<name>s1</name>", "<name>r</name>", 1).replace(
            "6695eb01-f6a4-8304-79aa-97f2502e193f", "6695eb01-f6a4-8304-79aa-97f2502e1930")),
        ("s1 offline", re.sub(r"<state>\w+</state>", "<state>shutoff</state>", text)
            .replace("<memory snapshot='internal'/>", "")),
        ("s1 disk-snapshot", re.sub(r"<state>\w+</state>", "<state>disk-snapshot</state>",
                                    text).replace("<memory snapshot='internal'/>", "")),
        ("s1 without domain", "<domainsnapshot><name>s1</name><state>paused</state>"
                              "<creationTime>7</creationTime></domainsnapshot>"),
    ]
    for label, body in checks:
        s.step("redefine " + label, d.snapshotCreateXML, body,
               S.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE, mask=lambda v: xml(v.getXMLDesc()))
    s.step("s1 after", s1.getXMLDesc, mask=xml)
    s.step("list topological", d.listAllSnapshots, S.VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL,
           mask=names)
    s.events()


def _tree(s: Session) -> None:
    """s1 -> s2 -> s3, s1 -> s4 (inactive), s4 -> s5 (paused); current s5."""
    d = s.dom()
    snap(s, "s1")
    snap(s, "s2")
    snap(s, "s3")
    revert_to(s, "revert s1", "s1")
    s.step("destroy", d.destroy)
    snap(s, "s4")
    s.step("start", d.create)
    s.step("suspend", d.suspend)
    snap(s, "s5")


LIST_FLAGS = [
    "ROOTS", "TOPOLOGICAL", "LEAVES", "NO_LEAVES", "METADATA", "NO_METADATA", "INACTIVE",
    "ACTIVE", "DISK_ONLY", "INTERNAL", "EXTERNAL",
]


def _flag(name: str) -> int:
    return int(getattr(S, f"VIR_DOMAIN_SNAPSHOT_LIST_{name}"))


@scenario
def list_flags(s: Session) -> None:
    _tree(s)
    d = s.dom()
    combos: list[list[str]] = [[f] for f in LIST_FLAGS] + [
        ["LEAVES", "NO_LEAVES"], ["ACTIVE", "INACTIVE"], ["ACTIVE", "INACTIVE", "DISK_ONLY"],
        ["INTERNAL", "EXTERNAL"], ["METADATA", "NO_METADATA"], ["ROOTS", "LEAVES"],
        ["TOPOLOGICAL", "ACTIVE"], ["ROOTS", "INACTIVE"], ["TOPOLOGICAL", "NO_LEAVES"],
    ]
    for combo in combos:
        flags = 0
        for f in combo:
            flags |= _flag(f)
        label = "|".join(combo)
        ordered = "ROOTS" in combo or "TOPOLOGICAL" in combo
        s.step(f"num {label}", d.snapshotNum, flags)
        s.step(f"listAll {label}", d.listAllSnapshots, flags,
               mask=names if ordered else unordered)
        s.step(f"listNames {label}", d.snapshotListNames, flags,
               mask=None if ordered else unordered)
    s1 = d.snapshotLookupByName("s1")
    for combo in [[], ["DESCENDANTS"], ["DESCENDANTS", "TOPOLOGICAL"], ["LEAVES"],
                  ["DESCENDANTS", "LEAVES"], ["DESCENDANTS", "NO_LEAVES"],
                  ["DESCENDANTS", "INACTIVE"], ["DESCENDANTS", "NO_METADATA"],
                  ["DESCENDANTS", "ACTIVE", "INACTIVE"]]:
        flags = 0
        for f in combo:
            flags |= _flag(f)
        label = "|".join(combo) or "none"
        s.step(f"s1 numChildren {label}", s1.numChildren, flags)
        s.step(f"s1 listChildrenNames {label}", s1.listChildrenNames, flags)
        s.step(f"s1 listAllChildren {label}", s1.listAllChildren, flags, mask=names)
    s.step("s1 children bad flag", s1.listAllChildren, S.VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL
           << 4)
    s.step("listAll roots bad", d.listAllSnapshots, 1 << 12)
    for name in ("s2", "s3", "s4", "s5"):
        s.step(f"{name} parent", d.snapshotLookupByName(name).getParent, mask=names)
        s.step(f"{name} xml", d.snapshotLookupByName(name).getXMLDesc, mask=xml)
    s.step("state", d.state)
    s.events()


@scenario
def revert(s: Session) -> None:
    _tree(s)
    d = s.dom()
    s.events("tree built")
    steps = [
        ("paused->running s3", "s3", 0),
        ("running->paused s5", "s5", 0),
        ("paused->inactive s4", "s4", 0),
        ("inactive->inactive s4", "s4", 0),
        ("inactive->running s2", "s2", 0),
        ("running->running s2 paused flag", "s2", S.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED),
        ("paused->running s5 running flag", "s5", S.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING),
        ("running->inactive s4 running flag", "s4", S.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING),
        ("inactive->inactive s4 paused flag", "s4", S.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED),
        ("inactive s4 force", "s4", S.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE),
        ("both flags", "s4", S.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING
         | S.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED),
        ("reset nvram flag", "s4", 8),
        ("inactive->paused s5", "s5", 0),
    ]
    for label, name, flags in steps:
        revert_to(s, label, name, flags)
        s.step(f"{label}: state", d.state)
        s.step(f"{label}: id", d.ID)
        s.step(f"{label}: current", d.snapshotCurrent, mask=names)
        s.events(f"{label}: events")
    s.step("xml after revert", d.XMLDesc)
    s.step("inactive xml after revert", d.XMLDesc, S.VIR_DOMAIN_XML_INACTIVE)
    s.step("define changed", s.conn.defineXML,
           d.XMLDesc(S.VIR_DOMAIN_XML_INACTIVE).replace("<vcpu placement='static'>2",
                                                        "<vcpu placement='static'>4"))
    revert_to(s, "revert s4 after define", "s4")
    s.step("xml after revert to s4", d.XMLDesc)
    revert_to(s, "revert s3", "s3")
    s.step("inactive xml after s3", d.XMLDesc, S.VIR_DOMAIN_XML_INACTIVE)
    s.events()


@scenario
def revert_transient(s: Session) -> None:
    tr = OTHER.replace("<name>other</name>", "<name>tr</name>")
    s.step("create transient", s.conn.createXML, tr, 0)
    d = s.dom("tr")
    snap(s, "t1", dom="tr")
    s.step("suspend", d.suspend)
    snap(s, "t2", dom="tr")
    revert_to(s, "revert t1", "t1", dom="tr")
    s.step("state", d.state)
    s.step("persistent", d.isPersistent)
    s.step("xml after revert", d.XMLDesc)
    s.step("inactive xml after revert", d.XMLDesc, S.VIR_DOMAIN_XML_INACTIVE)
    s.events()
    s.step("define over", s.conn.defineXML, tr)
    s.step("destroy", d.destroy)
    snap(s, "t3", dom="tr")
    s.step("undefine", d.undefine)
    s.step("undefine with flag", d.undefineFlags, S.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    s.step("lookup gone", s.conn.lookupByName, "tr")
    s.events()
    s.step("define other", s.conn.defineXML, OTHER)
    snap(s, "off", dom="other")
    s.step("start other", s.dom("other").create)
    snap(s, "on", dom="other")
    s.step("undefine running other", s.dom("other").undefine)
    revert_to(s, "transient to offline", "off", dom="other")
    revert_to(s, "transient to offline running", "off", S.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING,
              dom="other")
    s.step("state", s.dom("other").state)
    s.step("list", s.conn.listAllDomains, mask=unordered)
    s.step("isActive", s.dom("other").isActive)
    revert_to(s, "transient back online", "on", dom="other")
    s.step("state online", s.dom("other").state)
    s.step("xml online", s.dom("other").XMLDesc)
    s.events()


@scenario
def delete(s: Session) -> None:
    _tree(s)
    d = s.dom()
    lookup = d.snapshotLookupByName
    s.step("delete metadata only", lookup("s2").delete,
           S.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
    s.step("delete both children flags", lookup("s2").delete,
           S.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN | S.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY)
    s.step("delete bad flag", lookup("s2").delete, 1 << 8)
    s.step("delete s2 (reparents s3)", lookup("s2").delete)
    s.step("s3 parent", lookup("s3").getParent, mask=names)
    s.step("s3 xml", lookup("s3").getXMLDesc, mask=xml)
    s.step("s1 children", lookup("s1").listChildrenNames)
    s.step("delete s4 children only", lookup("s4").delete,
           S.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY)
    s.step("current after children only", d.snapshotCurrent, mask=names)
    s.step("s4 numChildren", lookup("s4").numChildren)
    s.step("delete current s4", lookup("s4").delete)
    s.step("current after deleting s4", d.snapshotCurrent, mask=names)
    snap(s, "s6")
    snap(s, "s7")
    s.step("delete s1 with children", lookup("s1").delete,
           S.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN)
    s.step("num", d.snapshotNum)
    s.step("hasCurrent", d.hasCurrentSnapshot)
    snap(s, "r1")
    snap(s, "r2")
    revert_to(s, "revert r1", "r1")
    s.step("delete root r1", lookup("r1").delete)
    s.step("r2 parent", lookup("r2").getParent)
    s.step("r2 xml", lookup("r2").getXMLDesc, mask=xml)
    s.step("current", d.snapshotCurrent)
    s.step("listAll roots", d.listAllSnapshots, S.VIR_DOMAIN_SNAPSHOT_LIST_ROOTS, mask=names)
    stale = lookup("r2")
    s.step("delete r2", stale.delete)
    s.step("delete r2 again", stale.delete)
    s.step("xml of deleted", stale.getXMLDesc)
    s.step("parent of deleted", stale.getParent)
    s.step("children of deleted", stale.numChildren)
    s.step("revert deleted", d.revertToSnapshot, stale)
    s.events()


@scenario
def checkpoints(s: Session) -> None:
    d = s.dom()
    s.step("define other", s.conn.defineXML, OTHER)
    s.step("listAll none", d.listAllCheckpoints)
    s.step("lookup none", d.checkpointLookupByName, "c1")
    c1 = s.step("create c1", d.checkpointCreateXML,
                "<domaincheckpoint><name>c1</name><description>one</description>"
                "</domaincheckpoint>")
    s.step("c1 xml", c1.getXMLDesc, mask=xml)
    s.step("c1 xml no domain", c1.getXMLDesc, S.VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN, mask=xml)
    s.step("c1 xml size", c1.getXMLDesc, S.VIR_DOMAIN_CHECKPOINT_XML_SIZE, mask=xml)
    s.step("c1 xml secure", c1.getXMLDesc, S.VIR_DOMAIN_CHECKPOINT_XML_SECURE, mask=xml)
    s.step("c1 xml bad flag", c1.getXMLDesc, 8)
    s.step("c1 parent", c1.getParent)
    s.step("c1 name", c1.getName)
    c2 = s.step("create c2", d.checkpointCreateXML,
                "<domaincheckpoint><name>c2</name><disks><disk name='vda' checkpoint='no'/>"
                "</disks></domaincheckpoint>")
    s.step("c2 xml", c2.getXMLDesc, mask=xml)
    s.step("c2 parent", c2.getParent, mask=lambda v: v.getName())
    s.step("create c3", d.checkpointCreateXML,
           "<domaincheckpoint><name>c3</name><disks><disk name='/guest/diskimage1' "
           "bitmap='b3'/></disks></domaincheckpoint>", mask=lambda v: xml(v.getXMLDesc()))
    s.step("listAll", d.listAllCheckpoints, mask=unordered)
    for label, flags in [("roots", S.VIR_DOMAIN_CHECKPOINT_LIST_ROOTS),
                         ("topological", S.VIR_DOMAIN_CHECKPOINT_LIST_TOPOLOGICAL),
                         ("leaves", S.VIR_DOMAIN_CHECKPOINT_LIST_LEAVES),
                         ("no leaves", S.VIR_DOMAIN_CHECKPOINT_LIST_NO_LEAVES),
                         ("both leaves", S.VIR_DOMAIN_CHECKPOINT_LIST_LEAVES
                          | S.VIR_DOMAIN_CHECKPOINT_LIST_NO_LEAVES),
                         ("bad", 16)]:
        ordered = flags in (1, 2)
        s.step(f"listAll {label}", d.listAllCheckpoints, flags,
               mask=names if ordered else unordered)
        s.step(f"c1 children {label}", c1.listAllChildren, flags, mask=names)
    s.step("lookup c2", d.checkpointLookupByName, "c2")
    s.step("lookup flags", d.checkpointLookupByName, "c2", 1)
    s.step("has checkpoint filter", s.conn.listAllDomains,
           S.VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT, mask=unordered)
    s.step("no checkpoint filter", s.conn.listAllDomains,
           S.VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT, mask=unordered)
    s.step("snapshot while checkpoint", d.snapshotCreateXML, "<domainsnapshot/>")
    s.step("checkpoint of inactive", s.dom("other").checkpointCreateXML,
           "<domaincheckpoint><name>x</name></domaincheckpoint>")
    for label, body in [
        ("duplicate", "<domaincheckpoint><name>c1</name></domaincheckpoint>"),
        ("invalid", "<domaincheckpoint><name>x</name><bogus/></domaincheckpoint>"),
        ("malformed", "<domaincheckpoint>"),
        ("unknown disk", "<domaincheckpoint><name>x</name><disks><disk name='vdz'/></disks>"
                         "</domaincheckpoint>"),
        ("twice", "<domaincheckpoint><name>x</name><disks><disk name='vda'/>"
                  "<disk name='vda'/></disks></domaincheckpoint>"),
    ]:
        s.step(f"create {label}", d.checkpointCreateXML, body)
    dated = s.step("create default name", d.checkpointCreateXML, "<domaincheckpoint/>",
                   mask=lambda v: v.getName().isdigit())
    s.step("delete default name", dated.delete)
    s.step("create quiesce", d.checkpointCreateXML,
           "<domaincheckpoint><name>q</name></domaincheckpoint>",
           S.VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE, mask=names)
    s.step("create redefine+quiesce", d.checkpointCreateXML,
           "<domaincheckpoint><name>q2</name></domaincheckpoint>",
           S.VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE | S.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE)
    s.step("create redefine validate", d.checkpointCreateXML,
           "<domaincheckpoint><name>q2</name></domaincheckpoint>",
           S.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE
           | S.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE)
    text = c1.getXMLDesc()
    s.step("redefine c1", d.checkpointCreateXML, text,
           S.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE, mask=names)
    s.step("c1 after redefine", c1.getXMLDesc, mask=xml)
    new = re.sub(r"<name>c1</name>", "<name>c9</name><parent><name>c2</name></parent>",
                 text, count=1)
    s.step("redefine c9", d.checkpointCreateXML, new, S.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE,
           mask=lambda v: xml(v.getXMLDesc()))
    s.step("redefine no creation", d.checkpointCreateXML,
           "<domaincheckpoint><name>c8</name></domaincheckpoint>",
           S.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE)
    s.step("redefine no domain", d.checkpointCreateXML,
           "<domaincheckpoint><name>c8</name><creationTime>5</creationTime><disks>"
           "<disk name='vda'/></disks></domaincheckpoint>",
           S.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE, mask=lambda v: xml(v.getXMLDesc()))
    s.step("listAll topological", d.listAllCheckpoints,
           S.VIR_DOMAIN_CHECKPOINT_LIST_TOPOLOGICAL, mask=names)
    s.step("destroy", d.destroy)
    s.step("c1 xml size inactive", c1.getXMLDesc, S.VIR_DOMAIN_CHECKPOINT_XML_SIZE)
    s.step("c1 xml inactive", c1.getXMLDesc, mask=xml)
    s.step("start", d.create)
    lookup = d.checkpointLookupByName
    s.step("delete metadata only c3", lookup("c3").delete,
           S.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY)
    s.step("delete both flags", lookup("c2").delete,
           S.VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN | S.VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN_ONLY)
    s.step("delete bad flag", lookup("c2").delete, 8)
    s.step("delete c2 children only", lookup("c2").delete,
           S.VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN_ONLY)
    s.step("listAll after children only", d.listAllCheckpoints, mask=unordered)
    s.step("delete c1 (reparents)", lookup("c1").delete)
    s.step("c2 parent after", lookup("c2").getParent)
    s.step("c2 xml after", lookup("c2").getXMLDesc, S.VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN,
           mask=xml)
    s.step("delete c2 with children", lookup("c2").delete,
           S.VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN)
    s.step("listAll end", d.listAllCheckpoints, mask=unordered)
    s.step("nodisk define", s.conn.defineXML, NODISK)
    s.step("nodisk start", s.dom("nodisk").create)
    s.step("nodisk checkpoint", s.dom("nodisk").checkpointCreateXML,
           "<domaincheckpoint><name>n</name></domaincheckpoint>")
    s.step("other start", s.dom("other").create)
    s.step("other checkpoint", s.dom("other").checkpointCreateXML,
           "<domaincheckpoint><name>o</name></domaincheckpoint>",
           mask=lambda v: xml(v.getXMLDesc()))
    s.step("other checkpoint ro disk", s.dom("other").checkpointCreateXML,
           "<domaincheckpoint><name>o2</name><disks><disk name='vdb'/></disks>"
           "</domaincheckpoint>")
    s.step("other checkpoint ro disk skipped", s.dom("other").checkpointCreateXML,
           "<domaincheckpoint><name>o3</name><disks><disk name='vdb' checkpoint='no'/>"
           "<disk name='vda'/></disks></domaincheckpoint>", mask=lambda v: xml(v.getXMLDesc()))
    s.events()
