"""What a domain's tuning leaves behind, for ``--state``: :func:`change_everything` changes
it, :func:`read_back` records it; the records must be the same before and after testvirtd
restarts on its state file."""

from __future__ import annotations

from ..scenario_runner import Session, libvirt, scenario

SPARE = """<domain type='test'><name>spare</name>
  <uuid>7b6f3c4e-0000-4000-8000-000000000001</uuid>
  <title>spare one</title><description>kept
across restarts</description>
  <metadata>
    <s:conf xmlns:s="http://spare/"><s:v a="1">x</s:v><!-- c --></s:conf>
  </metadata>
  <memory>131072</memory><vcpu current='1'>2</vcpu><os><type>hvm</type></os>
  <devices><disk type='file' device='disk'><source file='/tmp/spare.img'/>
  <target dev='vdb' bus='virtio'/></disk></devices>
</domain>"""

ELEMENT = libvirt.VIR_DOMAIN_METADATA_ELEMENT if libvirt is not None else 2


@scenario
def change_everything(s: Session) -> None:
    """The tuning APIs on the running ``test`` (live and config) and a defined domain."""
    d = s.dom()
    A = libvirt
    s.step("metadata element", d.setMetadata, ELEMENT, "<a>\n  <b/>\n  t\n</a>", "k",
           "http://k/", A.VIR_DOMAIN_AFFECT_LIVE)
    s.step("metadata config", d.setMetadata, ELEMENT, "<c x='1'/>", "c", "http://c/",
           A.VIR_DOMAIN_AFFECT_CONFIG)
    s.step("title", d.setMetadata, A.VIR_DOMAIN_METADATA_TITLE, "T", None, None, 0)
    s.step("description", d.setMetadata, A.VIR_DOMAIN_METADATA_DESCRIPTION, "D", None, None, 0)
    s.step("setMemory", d.setMemory, 1048576)
    s.step("setMemoryFlags config", d.setMemoryFlags, 1000000, A.VIR_DOMAIN_AFFECT_CONFIG)
    s.step("setVcpus", d.setVcpus, 1)
    s.step("pinVcpu", d.pinVcpu, 0, (True, False))
    s.step("pinEmulator", d.pinEmulator, (False, True), 0)
    s.step("addIOThread", d.addIOThread, 4, 0)
    s.step("pinIOThread", d.pinIOThread, 4, (False, True), 0)
    s.step("setIOThreadParams", d.setIOThreadParams, 4,
           {"poll_max_ns": 100, "poll_grow": 2, "poll_shrink": 3}, 0)
    s.step("setLifecycleAction", d.setLifecycleAction, 0, 1, 0)
    s.step("setMemoryParameters", d.setMemoryParameters, {"hard_limit": 1000000}, 0)
    s.step("setNumaParameters", d.setNumaParameters, {"numa_nodeset": "0", "numa_mode": 1}, 0)
    s.step("setBlkioParameters", d.setBlkioParameters, {"weight": 500}, 0)
    s.step("setInterfaceParameters", d.setInterfaceParameters, "testnet0",
           {"inbound.average": 100}, 0)
    s.step("setBlockIoTune", d.setBlockIoTune, "vda",
           {"total_bytes_sec": 1000, "total_bytes_sec_max": 2000}, 0)
    s.step("setPerfEvents", d.setPerfEvents, {"cmt": True}, 0)
    s.step("setTime", d.setTime, {"seconds": 1234, "nseconds": 5}, 0)
    s.step("fsFreeze", d.fsFreeze, ["/boot"], 0)
    s.step("setAutostart", d.setAutostart, 1)
    spare = s.step("define spare", s.conn.defineXML, SPARE)
    if spare is not None:
        s.step("spare setMaxMemory", spare.setMaxMemory, 262144)
        s.step("spare vcpus", spare.setVcpusFlags, 2, A.VIR_DOMAIN_AFFECT_CONFIG)
        s.step("spare metadata", spare.setMetadata, ELEMENT, "<z/>", "z", "http://z/", 0)


@scenario
def read_back(s: Session) -> None:
    """Everything :func:`change_everything` changed, as clients see it."""
    A = libvirt
    for name in ("test", "spare"):
        d = s.dom(name)
        s.step(f"{name} state", d.state)
        s.step(f"{name} autostart", d.autostart)
        s.step(f"{name} xml", d.XMLDesc, 0)
        s.step(f"{name} xml inactive", d.XMLDesc, A.VIR_DOMAIN_XML_INACTIVE)
        for uri in ("http://k/", "http://c/", "http://spare/", "http://z/"):
            for flags in (0, A.VIR_DOMAIN_AFFECT_CONFIG):
                s.step(f"{name} metadata {uri} {flags}", d.metadata, ELEMENT, uri, flags)
        s.step(f"{name} ioThreadInfo", d.ioThreadInfo, 0)
        s.step(f"{name} vcpuPinInfo", d.vcpuPinInfo, 0)
        s.step(f"{name} emulatorPinInfo", d.emulatorPinInfo, 0)
        s.step(f"{name} vcpusFlags", d.vcpusFlags, 0)
        s.step(f"{name} memoryParameters", d.memoryParameters, 0)
        s.step(f"{name} numaParameters", d.numaParameters, 0)
        s.step(f"{name} blkioParameters", d.blkioParameters, 0)
        s.step(f"{name} perfEvents", d.perfEvents, 0)
    d = s.dom()
    s.step("interfaceParameters", d.interfaceParameters, "testnet0", 0)
    s.step("blockIoTune", d.blockIoTune, "vda", 0)
    s.step("getTime", d.getTime)
    s.step("fsInfo", d.fsInfo)
    s.step("iothread stats", s.conn.domainListGetStats, [d], A.VIR_DOMAIN_STATS_IOTHREAD, 0)


@scenario
def thaw(s: Session) -> None:
    """How many filesystems were frozen (this thaws them)."""
    s.step("fsThaw", s.dom().fsThaw)
