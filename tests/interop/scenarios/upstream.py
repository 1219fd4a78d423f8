"""The test cases of libvirt-python's and libvirt-go-module's own suites that exercise the
test driver, re-expressed as side-by-side scenarios (the suites' sources are not available
everywhere; tests/interop/test_upstream_suites.py runs the suites themselves when they are).

Each scenario names the upstream test it stands for.  Values the test driver derives from
the clock (snapshot and checkpoint names, which are the creation time) are masked.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ..scenario_runner import Session, libvirt, scenario

#: libvirt-go-module's buildTestDomain / buildSMPTestDomain, with fixed names
_MINIMAL = """<domain type="test">
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit="KiB">8192</memory>
  {vcpu}
  <os><type>hvm</type></os>
</domain>"""


def _domain_xml(name: str, n: int, vcpus: int = 0) -> str:
    vcpu = f"<vcpu>{vcpus}</vcpu>" if vcpus else ""
    return _MINIMAL.format(name=name, uuid=f"a1b2c3d4-0000-4000-8000-{n:012d}", vcpu=vcpu)


def _screenshot(s: Session) -> list[Any]:
    stream = s.conn.newStream(0)
    mime = s.dom().screenshot(stream, 0, 0)
    chunks: list[bytes] = []
    stream.recvAll(lambda _st, data, _opaque: chunks.append(data) or len(data), None)
    stream.finish()
    data = b"".join(chunks)
    return [mime, len(data), hashlib.sha256(data).hexdigest()]


def _kind(value: Any) -> Any:
    """A snapshot or checkpoint by type only: its name is the creation time."""
    return type(value).__name__


# ---------------------------------------------------------------------------- libvirt-python


@scenario
def python_conn(s: Session) -> None:
    """test_conn.TestLibvirtConn.testConnDomainList."""
    s.step("listAllDomains", lambda: [d.name() for d in s.conn.listAllDomains()])


@scenario
def python_domain(s: Session) -> None:
    """test_domain.TestLibvirtDomain: testDomainSchedParams, testScreenshot."""
    d = s.dom()
    s.step("schedulerParameters", d.schedulerParameters)
    s.step("setSchedulerParameters", d.setSchedulerParameters, {"weight": 100})
    s.step("schedulerParameters after", d.schedulerParameters)
    s.step("screenshot", _screenshot, s)


@scenario
def python_snapshot_and_checkpoint(s: Session) -> None:
    """test_domain_snapshot.testSnapCreate, test_domain_checkpoint.testCheckpointCreate."""
    d = s.dom()
    snap = s.step("snapshotCreateXML", d.snapshotCreateXML, "<domainsnapshot/>", mask=_kind)
    if snap is not None:
        s.step("snapshot isCurrent", snap.isCurrent)
        s.step("snapshot delete", snap.delete)
    s.step("snapshotNum", d.snapshotNum)
    cp = s.step("checkpointCreateXML", d.checkpointCreateXML, "<domaincheckpoint/>",
                mask=_kind)
    if cp is not None:
        s.step("checkpoint delete", cp.delete)
    s.step("listAllCheckpoints", d.listAllCheckpoints)


@scenario
def python_lifecycle_events(s: Session) -> None:
    """test_aio.TestLibvirtAio (its events and states; whether the client's event loop is
    idle is the client's business)."""
    d = s.dom()
    s.step("state", d.state)
    s.step("destroy", d.destroy)
    s.events("after destroy")
    s.step("state after destroy", d.state)
    s.step("create", d.create)
    s.events("after create")
    s.step("state after create", d.state)


@scenario
def python_other_objects(s: Session) -> None:
    """test_network, test_nodedev, test_interface, test_storage (testAttr, testVol)."""
    c = s.conn
    s.step("network", lambda: c.networkLookupByName("default").name())
    s.step("nodedev", lambda: c.nodeDeviceLookupByName("computer").name())
    s.step("interface", lambda: c.interfaceLookupByName("eth1").name())
    pool = c.storagePoolLookupByName("default-pool")
    s.step("pool", pool.name)
    vol = s.step("createXML", pool.createXML, """<volume type="file">
  <name>raw.img</name>
  <allocation unit="M">10</allocation>
  <capacity unit="M">1000</capacity>
</volume>""")
    if vol is not None:
        s.step("vol path", vol.path)
        s.step("vol info", vol.info)
        s.step("vol delete", vol.delete)


# ------------------------------------------------------------------------ libvirt-go-module


@scenario
def go_domain_queries(s: Session) -> None:
    """domain_test.go: TestUndefineDomain, TestGetDomain{Name,State,ID,UUID,UUIDString,Info,
    XMLDesc}, TestDomainIsActive, TestDomainIsPersistent, TestDomainAutostart, TestDomainFree."""
    d = s.step("define", s.conn.defineXML, _domain_xml("go-queries", 1))
    if d is None:
        return
    for name, func in (("name", d.name), ("state", d.state), ("ID", d.ID),
                       ("UUIDString", d.UUIDString), ("XMLDesc", d.XMLDesc),
                       ("isActive", d.isActive), ("isPersistent", d.isPersistent),
                       ("autostart", d.autostart)):
        s.step(name, func)
    s.step("info", d.info, mask=lambda r: r[:4])  # CPU time is the wall clock
    s.step("setAutostart", d.setAutostart, 1)
    s.step("autostart after", d.autostart)
    s.step("create", d.create)
    s.step("ID running", d.ID)
    s.step("isActive running", d.isActive)
    s.step("destroy", d.destroy)
    s.step("undefine", d.undefine)
    s.step("lookup undefined", s.conn.lookupByName, "go-queries")


@scenario
def go_domain_lifecycle(s: Session) -> None:
    """domain_test.go: TestCreateDestroyDomain, TestShutdownDomain, TestShutdownReboot,
    TestDomainSuspend, TestCreateDomainSnapshotXML, TestSaveDomainFlags, and a transient
    domain (buildTransientTestDomain)."""
    d = s.conn.defineXML(_domain_xml("go-lifecycle", 2))
    s.step("create", d.create)
    s.step("destroy", d.destroy)
    s.step("create again", d.create)
    s.step("shutdown", d.shutdown)
    s.step("state after shutdown", d.state)
    s.step("create for reboot", d.create)
    s.step("reboot", d.reboot, 0)
    s.step("suspend", d.suspend)
    s.step("state suspended", d.state)
    s.step("resume", d.resume)
    snap = s.step("snapshot", d.snapshotCreateXML, """
		<domainsnapshot>
			<description>Test snapshot that will fail because its unsupported</description>
		</domainsnapshot>
	""", 0, mask=_kind)
    if snap is not None:
        s.step("snapshot XML description", lambda: "<description>Test snapshot" in
               snap.getXMLDesc(0))
    s.step("saveFlags with xml", d.saveFlags, f"/tmp/netrpc-go-save-{os.getuid()}.img", "",
           0)
    s.step("destroy", d.destroy)
    s.events("lifecycle")
    t = s.step("createXML transient", s.conn.createXML, _domain_xml("go-transient", 3), 0)
    if t is not None:
        s.step("transient isPersistent", t.isPersistent)
        s.step("transient destroy", t.destroy)
        s.step("transient lookup", s.conn.lookupByName, "go-transient")
    s.events("transient")


@scenario
def go_domain_tuning(s: Session) -> None:
    """domain_test.go: TestDomainSetMaxMemory, TestDomainSetMemory, TestDomainSetVcpus,
    TestDomainGetVcpus, TestDomainGetVcpusFlags, TestDomainPinVcpu, TestSetMetadata."""
    d = s.conn.defineXML(_domain_xml("go-tuning", 4, vcpus=8))
    s.step("setMaxMemory", d.setMaxMemory, 16384)
    s.step("setMemory inactive", d.setMemory, 4096)
    s.step("create", d.create)
    s.step("setMemory", d.setMemory, 1024)
    s.step("setVcpus", d.setVcpus, 4)
    s.step("vcpusFlags", d.vcpusFlags, 0)
    s.step("vcpus", lambda: [[v[0], v[1]] for v in d.vcpus()[0]])  # CPU time is the clock
    s.step("pinVcpu", d.pinVcpu, 2, (False, True, False, False, True, False, False, False))
    s.step("vcpuPinInfo", d.vcpuPinInfo, 0)
    uri = "http://libvirt.org/xmlns/libvirt-go-module/test"
    live = libvirt.VIR_DOMAIN_AFFECT_LIVE
    s.step("metadata missing", d.metadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT, uri, live)
    s.step("setMetadata", d.setMetadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT, "<blob/>",
           "test", uri, live)
    s.step("metadata", d.metadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT, uri, live)
    s.step("remove metadata", d.setMetadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None,
           uri, live)
    s.step("metadata removed", d.metadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT, uri, live)
    s.step("destroy", d.destroy)
    s.step("undefine", d.undefine)
