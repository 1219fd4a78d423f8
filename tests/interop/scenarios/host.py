"""Host and connection APIs of the test driver, side by side (memory, CPUs, sysinfo, identity,
and the secret and nwfilter APIs the test driver lacks)."""

from __future__ import annotations

from ..scenario_runner import Session, libvirt, scenario


@scenario
def memory_and_cells(s: Session) -> None:
    c = s.conn
    s.step("getFreeMemory", c.getFreeMemory)
    s.step("getCellsFreeMemory all", c.getCellsFreeMemory, 0, 8)
    s.step("getCellsFreeMemory one", c.getCellsFreeMemory, 0, 1)
    s.step("getCellsFreeMemory second", c.getCellsFreeMemory, 1, 8)
    s.step("getCellsFreeMemory past the end", c.getCellsFreeMemory, 2, 1)
    s.step("getCellsFreeMemory negative start", c.getCellsFreeMemory, -1, 1)
    s.step("getFreePages", c.getFreePages, [4, 8, 2048], 0, 2)
    s.step("getFreePages one cell", c.getFreePages, [4], 1, 1)
    s.step("getFreePages flags", c.getFreePages, [4], 0, 1, 1)
    s.step("getMemoryStats", c.getMemoryStats, -1)
    s.step("getMemoryParameters", c.getMemoryParameters)
    s.step("allocPages", c.allocPages, {4: 1}, 0, 1)
    s.step("getInfo", c.getInfo)


@scenario
def cpus(s: Session) -> None:
    c = s.conn
    s.step("getCPUStats all", c.getCPUStats, -1)
    s.step("getCPUStats cpu 0", c.getCPUStats, 0)
    s.step("getCPUStats cpu 99", c.getCPUStats, 99)
    s.step("getCPUStats flags", c.getCPUStats, -1, 1)
    s.step("getCPUMap", c.getCPUMap)
    for arch in ("x86_64", "i686", "ppc64le", "aarch64", "s390x", "sparc", "amd64", ""):
        s.step(f"getCPUModelNames {arch}", c.getCPUModelNames, arch)
    s.step("getCPUModelNames flags", c.getCPUModelNames, "x86_64", 1)
    s.step("compareCPU", c.compareCPU, "<cpu><arch>i686</arch><model>pentium</model></cpu>")
    s.step("getDomainCapabilities", c.getDomainCapabilities)
    s.step("getDomainCapabilities arch", c.getDomainCapabilities, None, "i686", None, "test")
    s.step("baselineHypervisorCPU", c.baselineHypervisorCPU, None, None, None, None,
           ["<cpu><arch>x86_64</arch><model>Nehalem</model></cpu>"])
    s.step("compareHypervisorCPU", c.compareHypervisorCPU, None, None, None, None,
           "<cpu><arch>x86_64</arch><model>Nehalem</model></cpu>")
    s.step("getSEVInfo", c.getSEVInfo)


@scenario
def connection(s: Session) -> None:
    c = s.conn
    s.step("getSysinfo", c.getSysinfo)
    s.step("getSysinfo flags", c.getSysinfo, 1)
    s.step("isSecure", c.isSecure)
    s.step("isEncrypted", c.isEncrypted)
    s.step("isAlive", c.isAlive)
    s.step("getType", c.getType)
    s.step("getVersion", c.getVersion)
    s.step("getLibVersion", c.getLibVersion)
    s.step("getMaxVcpus", c.getMaxVcpus, None)
    s.step("getMaxVcpus test", c.getMaxVcpus, "test")
    s.step("getSecurityModel", c.getSecurityModel)
    s.step("getCapabilities", c.getCapabilities)
    s.step("setIdentity empty", c.setIdentity, {})
    s.step("setIdentity", c.setIdentity, {"user-name": "bob", "unix-user-id": 4242,
                                          "process-id": 77})
    s.step("setIdentity unknown", c.setIdentity, {"user.name": "bob"})
    s.step("suspendForDuration", c.suspendForDuration, 0, 60, 0)
    s.step("getStoragePoolCapabilities", c.getStoragePoolCapabilities)
    s.step("domainXMLFromNative", c.domainXMLFromNative, "qemu-argv", "x", 0)
    s.step("domainXMLToNative", c.domainXMLToNative, "qemu-argv", "<domain/>", 0)


SECRET_XML = """<secret ephemeral='no' private='no'>
  <uuid>7a5f6e3d-1c2b-4a59-8e7d-6c5b4a392817</uuid>
  <usage type='volume'><volume>/var/lib/libvirt/images/a.img</volume></usage>
</secret>"""

NWFILTER_XML = """<filter name='no-spoofing' chain='root'>
  <rule action='drop' direction='out' priority='500'><mac match='no' srcmacaddr='$MAC'/></rule>
</filter>"""


@scenario
def secrets_and_nwfilters(s: Session) -> None:
    c = s.conn
    s.step("listAllSecrets", c.listAllSecrets)
    s.step("numOfSecrets", c.numOfSecrets)
    s.step("listSecrets", c.listSecrets)
    s.step("secretDefineXML", c.secretDefineXML, SECRET_XML)
    s.step("secretLookupByUUIDString", c.secretLookupByUUIDString,
           "7a5f6e3d-1c2b-4a59-8e7d-6c5b4a392817")
    s.step("secretLookupByUsage", c.secretLookupByUsage, libvirt.VIR_SECRET_USAGE_TYPE_VOLUME,
           "/var/lib/libvirt/images/a.img")
    s.step("secretEventRegisterAny", c.secretEventRegisterAny, None,
           libvirt.VIR_SECRET_EVENT_ID_LIFECYCLE, lambda *a: None, None)
    s.step("secretEventRegisterAny value", c.secretEventRegisterAny, None,
           libvirt.VIR_SECRET_EVENT_ID_VALUE_CHANGED, lambda *a: None, None)
    s.step("listAllNWFilters", c.listAllNWFilters)
    s.step("numOfNWFilters", c.numOfNWFilters)
    s.step("listNWFilters", c.listNWFilters)
    s.step("nwfilterDefineXML", c.nwfilterDefineXML, NWFILTER_XML)
    s.step("nwfilterDefineXMLFlags", c.nwfilterDefineXMLFlags, NWFILTER_XML, 0)
    s.step("nwfilterLookupByName", c.nwfilterLookupByName, "no-spoofing")
    s.step("nwfilterLookupByUUIDString", c.nwfilterLookupByUUIDString,
           "7a5f6e3d-1c2b-4a59-8e7d-6c5b4a392817")
    s.step("listAllNWFilterBindings", c.listAllNWFilterBindings)
    s.step("nwfilterBindingLookupByPortDev", c.nwfilterBindingLookupByPortDev, "vnet0")
    s.step("nwfilterBindingCreateXML", c.nwfilterBindingCreateXML,
           "<filterbinding><portdev name='vnet0'/><mac address='52:54:00:7b:35:93'/>"
           "<filterref filter='clean-traffic'/></filterbinding>")
