"""Domain APIs of the test driver, side by side (lists, stats, tuning, metadata, devices)."""

from __future__ import annotations

from ..scenario_runner import Session, libvirt, over_unix, scenario


@scenario
def lists_and_counts(s: Session) -> None:
    c = s.conn
    s.step("numOfDomains", c.numOfDomains)
    s.step("numOfDefinedDomains", c.numOfDefinedDomains)
    s.step("listDomainsID", c.listDomainsID)
    s.step("listDefinedDomains", c.listDefinedDomains)
    s.step("suspend", s.dom().suspend)
    s.step("destroy", s.dom().destroy)
    s.step("numOfDomains after destroy", c.numOfDomains)
    s.step("listDefinedDomains after destroy", c.listDefinedDomains)
    s.step("create", s.dom().create)
    s.step("listDomainsID after create", c.listDomainsID)
    s.events()


# Values the test driver derives from the wall clock (microseconds) cannot match: only their
# count (and, where the formula makes it stable, their ratio) is compared.
def _count(value: object) -> object:
    return len(value) if isinstance(value, (list, tuple)) else value


def _vcpus_mask(value: tuple) -> object:  # type: ignore[type-arg]
    info, maps = value
    return [[n, state, cpu] for n, state, _t, cpu in info], maps


@scenario
def stats_and_info(s: Session) -> None:
    d = s.dom()
    s.step("controlInfo", d.controlInfo)
    s.step("controlInfo flags", d.controlInfo, 1)
    s.step("blockStats", d.blockStats, "vda", mask=_count)
    s.step("blockStats by source", d.blockStats, "/guest/diskimage1", mask=_count)
    s.step("blockStats bad path", d.blockStats, "vdz")
    s.step("blockStats summary", d.blockStats, "")
    s.step("blockInfo", d.blockInfo, "vda")
    s.step("blockInfo by source", d.blockInfo, "/guest/diskimage1")
    s.step("blockInfo bad path", d.blockInfo, "vdz")
    s.step("blockInfo flags", d.blockInfo, "vda", 1)
    s.step("interfaceStats", d.interfaceStats, "testnet0", mask=_count)
    s.step("interfaceStats by mac", d.interfaceStats, "aa:bb:cc:dd:ee:ff", mask=_count)
    s.step("interfaceStats bad", d.interfaceStats, "nope")
    s.step("memoryStats", d.memoryStats)
    s.step("getCPUStats total", d.getCPUStats, True)
    s.step("getCPUStats per cpu", d.getCPUStats, False)
    s.step("getCPUStats flags", d.getCPUStats, True, 1)
    s.step("diskErrors", d.diskErrors)
    s.step("diskErrors flags", d.diskErrors, 1)
    s.step("getTime", d.getTime)
    s.step("getTime flags", d.getTime, 1)
    s.step("hostname", d.hostname)
    s.step("hostname flags", d.hostname, 1)
    s.step("fsInfo", d.fsInfo)
    s.step("fsInfo flags", d.fsInfo, 1)
    for src in range(3):
        s.step(f"interfaceAddresses {src}", d.interfaceAddresses, src)
    s.step("interfaceAddresses bad source", d.interfaceAddresses, 7)
    s.step("interfaceAddresses flags", d.interfaceAddresses, 0, 1)
    s.step("launchSecurityInfo", d.launchSecurityInfo)
    s.step("securityLabel", d.securityLabel)
    s.step("securityLabelList", d.securityLabelList)
    s.step("vcpus", d.vcpus, mask=_vcpus_mask)
    s.step("vcpusFlags", d.vcpusFlags, 0)
    s.step("vcpusFlags max", d.vcpusFlags, libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
    s.step("vcpusFlags config", d.vcpusFlags, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    s.step("vcpusFlags both", d.vcpusFlags, 3)
    s.step("vcpusFlags bad", d.vcpusFlags, 64)
    s.step("vcpuPinInfo", d.vcpuPinInfo, 0)
    s.step("vcpuPinInfo config", d.vcpuPinInfo, 2)
    s.step("emulatorPinInfo", d.emulatorPinInfo)
    s.step("emulatorPinInfo config", d.emulatorPinInfo, 2)
    s.step("emulatorPinInfo bad flags", d.emulatorPinInfo, 8)
    s.step("memoryPeek", d.memoryPeek, 0, 16, libvirt.VIR_MEMORY_VIRTUAL)
    s.step("memoryPeek offset", d.memoryPeek, 250, 10, libvirt.VIR_MEMORY_PHYSICAL)
    s.step("memoryPeek no flag", d.memoryPeek, 0, 8, 0)
    s.step("memoryPeek both", d.memoryPeek, 0, 8, 3)
    s.step("schedulerType", d.schedulerType)
    s.step("schedulerParameters", d.schedulerParameters)
    s.step("schedulerParametersFlags", d.schedulerParametersFlags, 0)
    s.step("setSchedulerParameters", d.setSchedulerParameters, {"weight": 100})
    s.step("schedulerParameters after set", d.schedulerParameters)
    s.step("setSchedulerParametersFlags", d.setSchedulerParametersFlags, {"weight": 5}, 0)
    s.step("setSchedulerParametersFlags live", d.setSchedulerParametersFlags, {"weight": 5}, 1)


@scenario
def stats_inactive(s: Session) -> None:
    d = s.dom()
    s.step("destroy", d.destroy)
    for name, call, args in [
        ("controlInfo", d.controlInfo, ()),
        ("blockStats", d.blockStats, ("vda",)),
        ("blockInfo", d.blockInfo, ("vda",)),
        ("interfaceStats", d.interfaceStats, ("testnet0",)),
        ("memoryStats", d.memoryStats, ()),
        ("getCPUStats", d.getCPUStats, (True,)),
        ("diskErrors", d.diskErrors, ()),
        ("getTime", d.getTime, ()),
        ("setTime", d.setTime, ({"seconds": 5},)),
        ("hostname", d.hostname, ()),
        ("fsInfo", d.fsInfo, ()),
        ("interfaceAddresses", d.interfaceAddresses, (0,)),
        ("vcpus", d.vcpus, ()),
        ("vcpusFlags", d.vcpusFlags, (0,)),
        ("vcpusFlags live", d.vcpusFlags, (1,)),
        ("vcpuPinInfo", d.vcpuPinInfo, (0,)),
        ("emulatorPinInfo", d.emulatorPinInfo, (0,)),
        ("memoryPeek", d.memoryPeek, (0, 8, 1)),
        ("sendKey", d.sendKey, (0, 0, [30], 1, 0)),
        ("sendProcessSignal", d.sendProcessSignal, (1, 9, 0)),
        ("injectNMI", d.injectNMI, (0,)),
        ("fsFreeze", d.fsFreeze, ()),
        ("fsThaw", d.fsThaw, ()),
        ("fSTrim", d.fSTrim, (None, 0, 0)),
        ("setUserPassword", d.setUserPassword, ("root", "pw", 0)),
        ("ioThreadInfo", d.ioThreadInfo, (0,)),
        ("schedulerParameters", d.schedulerParameters, ()),
    ]:
        s.step(name, call, *args)


@scenario
def guest_operations(s: Session) -> None:
    d = s.dom()
    s.step("setTime", d.setTime, {"seconds": 1234, "nseconds": 5}, 0)
    s.step("getTime", d.getTime)
    s.step("setTime sync", d.setTime, None, libvirt.VIR_DOMAIN_TIME_SYNC)
    s.step("getTime after sync", d.getTime)
    s.step("setTime bad flags", d.setTime, {"seconds": 1}, 2)
    s.step("setUserPassword", d.setUserPassword, "root", "pw", 0)
    s.step("setUserPassword encrypted", d.setUserPassword, "root", "$6$x", 1)
    s.step("setUserPassword bad flags", d.setUserPassword, "root", "pw", 2)
    s.step("sendKey", d.sendKey, 0, 0, [30, 48], 2, 0)
    s.step("sendKey usb", d.sendKey, libvirt.VIR_KEYCODE_SET_USB, 10, [4], 1, 0)
    s.step("sendKey bad codeset", d.sendKey, 99, 0, [1], 1, 0)
    s.step("sendKey flags", d.sendKey, 0, 0, [1], 1, 1)
    s.step("sendProcessSignal", d.sendProcessSignal, 1, 9, 0)
    s.step("sendProcessSignal pid 2", d.sendProcessSignal, 2, 9, 0)
    s.step("sendProcessSignal bad signal", d.sendProcessSignal, 1, 999, 0)
    s.step("sendProcessSignal flags", d.sendProcessSignal, 1, 9, 1)
    s.step("injectNMI", d.injectNMI, 0)
    s.step("injectNMI flags", d.injectNMI, 1)
    s.step("fsFreeze all", d.fsFreeze)
    s.step("fsFreeze again", d.fsFreeze)
    s.step("fsThaw boot", d.fsThaw, ["/boot"], 0)
    s.step("fsFreeze root and boot", d.fsFreeze, ["/", "/boot"], 0)
    s.step("fsFreeze bad", d.fsFreeze, ["/x"], 0)
    s.step("fsThaw all", d.fsThaw)
    s.step("fsThaw again", d.fsThaw)
    s.step("fsFreeze flags", d.fsFreeze, None, 1)
    s.step("fSTrim", d.fSTrim, None, 0, 0)
    s.step("fSTrim boot", d.fSTrim, "/boot", 1024, 0)
    s.step("fSTrim bad", d.fSTrim, "/x", 0, 0)
    s.step("fSTrim flags", d.fSTrim, None, 0, 1)


@scenario
def domain_stats(s: Session) -> None:
    c = s.conn
    S = libvirt
    s.step("all", c.getAllDomainStats, 0, 0)
    s.step("state", c.getAllDomainStats, S.VIR_DOMAIN_STATS_STATE, 0)
    for bit in range(1, 14):
        s.step(f"group {1 << bit}", c.getAllDomainStats, 1 << bit, 0)
    s.step("active", c.getAllDomainStats, 0, S.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
    s.step("inactive", c.getAllDomainStats, 0, S.VIR_CONNECT_GET_ALL_DOMAINS_STATS_INACTIVE)
    s.step("paused", c.getAllDomainStats, 0, S.VIR_CONNECT_GET_ALL_DOMAINS_STATS_PAUSED)
    s.step("running", c.getAllDomainStats, 0, S.VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING)
    s.step("bad flag", c.getAllDomainStats, 0, 1 << 20)
    s.step("enforce unknown", c.getAllDomainStats, 1 << 20,
           S.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS)
    s.step("enforce known", c.getAllDomainStats, 1,
           S.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS)
    s.step("nowait", c.getAllDomainStats, 1, S.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)
    d = s.dom()
    s.step("list", c.domainListGetStats, [d], 0, 0)
    s.step("suspend", d.suspend)
    s.step("list paused", c.domainListGetStats, [d], 0, 0)
    s.step("destroy", d.destroy)
    s.step("list active filter", c.domainListGetStats, [d], 0,
           S.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
    s.step("all inactive", c.getAllDomainStats, 0, 0)


@scenario
def iothreads(s: Session) -> None:
    d, c = s.dom(), s.conn
    s.step("info", d.ioThreadInfo, 0)
    s.step("add 0", d.addIOThread, 0, 0)
    s.step("add 1", d.addIOThread, 1, 0)
    s.step("add 1 again", d.addIOThread, 1, 0)
    s.step("add live", d.addIOThread, 2, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    s.step("add config", d.addIOThread, 3, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    s.step("add bad flags", d.addIOThread, 5, 4)
    s.step("add both", d.addIOThread, 5, 3)
    s.step("info live", d.ioThreadInfo, 0)
    s.step("info config", d.ioThreadInfo, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    s.step("info bad flags", d.ioThreadInfo, 4)
    s.step("pin", d.pinIOThread, 1, (True, False), 0)
    s.step("pin missing", d.pinIOThread, 9, (True,), 0)
    s.step("pin empty", d.pinIOThread, 1, (False,), 0)
    s.step("pin bad flags", d.pinIOThread, 1, (True,), 4)
    s.step("pin config", d.pinIOThread, 3, (False, True), libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    s.step("params", d.setIOThreadParams, 1,
           {"poll_max_ns": 100, "poll_grow": 2, "poll_shrink": 3}, 0)
    s.step("params missing", d.setIOThreadParams, 9, {"poll_max_ns": 5}, 0)
    s.step("params unknown", d.setIOThreadParams, 1, {"thread_pool_min": 5}, 0)
    s.step("params config", d.setIOThreadParams, 1, {"poll_max_ns": 5}, 2)
    s.step("del", d.delIOThread, 2, 0)
    s.step("del missing", d.delIOThread, 9, 0)
    s.step("del bad flags", d.delIOThread, 1, 4)
    s.step("info after del", d.ioThreadInfo, 0)
    s.step("stats", c.getAllDomainStats, libvirt.VIR_DOMAIN_STATS_IOTHREAD, 0)
    s.step("xml", d.XMLDesc, 0)
    s.step("xml inactive", d.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE)
    s.step("destroy", d.destroy)
    s.step("add inactive", d.addIOThread, 7, 0)
    s.step("info inactive", d.ioThreadInfo, 0)
    s.step("stats inactive", c.getAllDomainStats, 0, 0)
    s.step("create", d.create)
    s.step("info after start", d.ioThreadInfo, 0)
    s.step("stats after start", c.getAllDomainStats, 0, 0)
    s.step("xml after start", d.XMLDesc, 0)


@scenario
def memory_and_vcpus(s: Session) -> None:
    d = s.dom()
    A = libvirt
    s.step("setMemory", d.setMemory, 1048576)
    s.step("setMemory too big", d.setMemory, 99999999)
    s.step("info", d.info, mask=lambda r: r[:4])  # cpu time is the wall clock
    s.step("setMemoryFlags config", d.setMemoryFlags, 1000000, A.VIR_DOMAIN_AFFECT_CONFIG)
    s.step("setMemoryFlags max config", d.setMemoryFlags, 4000000,
           A.VIR_DOMAIN_AFFECT_CONFIG | A.VIR_DOMAIN_MEM_MAXIMUM)
    s.step("setMaxMemory running", d.setMaxMemory, 9000000)
    s.step("setMemoryFlags bad flags", d.setMemoryFlags, 1000, 8)
    s.step("setMemoryFlags both", d.setMemoryFlags, 1000, 3)
    s.step("setMemoryStatsPeriod", d.setMemoryStatsPeriod, 5, 0)
    s.step("setMemoryStatsPeriod bad flags", d.setMemoryStatsPeriod, 5, 4)
    s.step("memoryStats", d.memoryStats)
    s.step("setVcpus", d.setVcpus, 1)
    s.step("vcpusFlags", d.vcpusFlags, 0)
    s.step("setVcpusFlags max config", d.setVcpusFlags, 4,
           A.VIR_DOMAIN_VCPU_MAXIMUM | A.VIR_DOMAIN_AFFECT_CONFIG)
    s.step("vcpusFlags max config", d.vcpusFlags,
           A.VIR_DOMAIN_VCPU_MAXIMUM | A.VIR_DOMAIN_AFFECT_CONFIG)
    s.step("setVcpus too many", d.setVcpus, 40)
    s.step("setVcpus above max", d.setVcpus, 3)
    s.step("setVcpusFlags bad flags", d.setVcpusFlags, 1, 8)
    s.step("pinVcpu", d.pinVcpu, 0, (True, False))
    s.step("pinVcpu offline", d.pinVcpu, 1, (True, False))
    s.step("pinVcpuFlags flags", d.pinVcpuFlags, 0, (True,), 1)
    s.step("vcpuPinInfo", d.vcpuPinInfo, 0)
    s.step("vcpus", d.vcpus, mask=_vcpus_mask)
    s.step("pinEmulator", d.pinEmulator, (True, False, True), 0)
    s.step("pinEmulator empty", d.pinEmulator, (False,), 0)
    s.step("emulatorPinInfo", d.emulatorPinInfo)
    s.step("setLifecycleAction", d.setLifecycleAction, 0, 1, 0)
    s.step("setLifecycleAction crash", d.setLifecycleAction, 2, 4, 0)
    s.step("setLifecycleAction bad type", d.setLifecycleAction, 9, 0, 0)
    s.step("setLifecycleAction bad action", d.setLifecycleAction, 0, 9, 0)
    s.step("setLifecycleAction config", d.setLifecycleAction, 1, 3, 2)
    s.step("xml", d.XMLDesc, 0)
    s.step("xml inactive", d.XMLDesc, A.VIR_DOMAIN_XML_INACTIVE)
    s.step("destroy", d.destroy)
    s.step("xml after destroy", d.XMLDesc, 0)
    s.step("setMaxMemory", d.setMaxMemory, 5000000)
    s.step("setMemory inactive", d.setMemory, 1000)
    s.step("setVcpusFlags inactive", d.setVcpusFlags, 3, 0)
    s.step("pinVcpu inactive", d.pinVcpu, 0, (True,))
    s.step("info inactive", d.info, mask=lambda r: r[:4])
    s.step("xml inactive domain", d.XMLDesc, 0)


@scenario
def typed_parameters(s: Session) -> None:
    d = s.dom()
    s.step("memoryParameters", d.memoryParameters, 0)
    s.step("setMemoryParameters", d.setMemoryParameters,
           {"hard_limit": 1000000, "soft_limit": 500000}, 0)
    s.step("setMemoryParameters bad", d.setMemoryParameters,
           {"hard_limit": 10, "swap_hard_limit": 5}, 0)
    s.step("setMemoryParameters config", d.setMemoryParameters, {"swap_hard_limit": 7}, 2)
    s.step("memoryParameters after", d.memoryParameters, 0)
    s.step("memoryParameters config", d.memoryParameters, 2)
    s.step("numaParameters", d.numaParameters, 0)
    s.step("setNumaParameters", d.setNumaParameters, {"numa_nodeset": "0", "numa_mode": 1}, 0)
    s.step("setNumaParameters mode change", d.setNumaParameters, {"numa_mode": 2}, 0)
    s.step("setNumaParameters config", d.setNumaParameters,
           {"numa_nodeset": "0-1", "numa_mode": 2}, 2)
    for nodeset in ("0-4294967295", "16384", "x", "^0"):
        s.step(f"setNumaParameters {nodeset}", d.setNumaParameters,
               {"numa_nodeset": nodeset}, 2)
    s.step("numaParameters after", d.numaParameters, 0)
    s.step("numaParameters config", d.numaParameters, 2)
    s.step("blkioParameters", d.blkioParameters, 0)
    s.step("setBlkioParameters", d.setBlkioParameters,
           {"weight": 500, "device_weight": "/dev/sda,100"}, 0)
    s.step("blkioParameters after", d.blkioParameters, 0)
    s.step("interfaceParameters", d.interfaceParameters, "testnet0", 0)
    s.step("setInterfaceParameters", d.setInterfaceParameters, "testnet0",
           {"inbound.average": 100, "inbound.peak": 200, "outbound.average": 50}, 0)
    s.step("interfaceParameters after", d.interfaceParameters, "testnet0", 0)
    s.step("interfaceParameters bad device", d.interfaceParameters, "nope", 0)
    s.step("setInterfaceParameters clear in", d.setInterfaceParameters, "testnet0",
           {"inbound.average": 0}, 0)
    s.step("interfaceParameters cleared", d.interfaceParameters, "testnet0", 0)
    s.step("blockIoTune", d.blockIoTune, "vda", 0)
    s.step("setBlockIoTune over max", d.setBlockIoTune, "vda", {"total_bytes_sec": 1000}, 0)
    s.step("setBlockIoTune", d.setBlockIoTune, "vda",
           {"total_bytes_sec": 1000, "total_bytes_sec_max": 2000}, 0)
    s.step("setBlockIoTune total and read", d.setBlockIoTune, "vda",
           {"read_bytes_sec": 5, "read_bytes_sec_max": 10}, 0)
    s.step("setBlockIoTune bad disk", d.setBlockIoTune, "vdz", {"total_bytes_sec": 1}, 0)
    s.step("blockIoTune after", d.blockIoTune, "vda", 0)
    s.step("blockIoTune bad disk", d.blockIoTune, "vdz", 0)
    s.step("perfEvents", d.perfEvents, 0)
    s.step("setPerfEvents", d.setPerfEvents, {"cmt": True, "mbml": False}, 0)
    s.step("perfEvents after", d.perfEvents, 0)
    s.step("xml", d.XMLDesc, 0)
    s.step("xml inactive", d.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE)


@scenario
def metadata(s: Session) -> None:
    d = s.dom()
    M = libvirt
    s.step("get description", d.metadata, M.VIR_DOMAIN_METADATA_DESCRIPTION, None, 0)
    s.step("set description", d.setMetadata, M.VIR_DOMAIN_METADATA_DESCRIPTION, "hello <b>",
           None, None, 0)
    s.step("set title", d.setMetadata, M.VIR_DOMAIN_METADATA_TITLE, "T", None, None, 0)
    s.step("set title newline", d.setMetadata, M.VIR_DOMAIN_METADATA_TITLE, "T\nx", None,
           None, 0)
    s.step("set element", d.setMetadata, M.VIR_DOMAIN_METADATA_ELEMENT,
           "<foo bar='1'>x</foo>", "ex", "http://example.org/", 0)
    s.step("set element config", d.setMetadata, M.VIR_DOMAIN_METADATA_ELEMENT, "<zz/>", "zz",
           "http://z.org/", M.VIR_DOMAIN_AFFECT_CONFIG)
    s.step("set bad flags", d.setMetadata, M.VIR_DOMAIN_METADATA_TITLE, "T", None, None, 4)
    s.events("after set")
    s.step("get element", d.metadata, M.VIR_DOMAIN_METADATA_ELEMENT, "http://example.org/", 0)
    s.step("get element config", d.metadata, M.VIR_DOMAIN_METADATA_ELEMENT, "http://z.org/",
           2)
    s.step("get missing element", d.metadata, M.VIR_DOMAIN_METADATA_ELEMENT, "http://no/", 0)
    s.step("get description", d.metadata, M.VIR_DOMAIN_METADATA_DESCRIPTION, None, 0)
    s.step("get title config", d.metadata, M.VIR_DOMAIN_METADATA_TITLE, None, 2)
    s.step("get bad flags", d.metadata, M.VIR_DOMAIN_METADATA_TITLE, None, 4)
    s.step("xml", d.XMLDesc, 0)
    s.step("xml inactive", d.XMLDesc, M.VIR_DOMAIN_XML_INACTIVE)
    s.step("remove element", d.setMetadata, M.VIR_DOMAIN_METADATA_ELEMENT, None, None,
           "http://example.org/", 0)
    s.step("remove title", d.setMetadata, M.VIR_DOMAIN_METADATA_TITLE, None, None, None, 0)
    s.step("xml after removal", d.XMLDesc, 0)


@scenario
def rename(s: Session) -> None:
    d = s.dom()
    s.step("rename running", d.rename, "test2", 0)
    s.step("destroy", d.destroy)
    s.step("rename bad flags", d.rename, "test2", 1)
    s.step("rename slash", d.rename, "a/b", 0)
    s.step("rename", d.rename, "test2", 0)
    s.events("after rename")
    s.step("lookup old", s.conn.lookupByName, "test")
    s.step("lookup new", s.conn.lookupByName, "test2")
    s.step("xml", s.conn.lookupByName("test2").XMLDesc, 0)
    s.step("list", s.conn.listDefinedDomains)


@scenario
def metadata_events(s: Session) -> None:
    d = s.dom()
    M = libvirt
    s.step("set description", d.setMetadata, M.VIR_DOMAIN_METADATA_DESCRIPTION, "x", None,
           None, 0)
    s.step("set element", d.setMetadata, M.VIR_DOMAIN_METADATA_ELEMENT, "<foo/>", "ex",
           "http://example.org/", 0)
    s.events("after set")


#: <metadata> in definitions: namespaces, comments, CDATA, whitespace, what libvirt drops
_DEFINED_METADATA = {
    "prefixed": '<ex:foo xmlns:ex="http://example.org/" a="1"><ex:bar>t</ex:bar><ex:e/>'
                '</ex:foo>',
    "default_ns": '\n   <foo xmlns="http://x.org/">\n      <bar   b="2"/>\n      text\n   '
                  '</foo>\n',
    "no_ns_and_dup": '<foo/><a:x xmlns:a="http://d/">1</a:x><b:y xmlns:b="http://d/">2</b:y>'
                     '<!-- gone -->',
    "nested_ns": '<a:x xmlns:a="http://a/" xmlns:b="http://b/"><b:y b:attr="v"/><z/>'
                 '<c:w xmlns:c="http://a/"/></a:x>',
    "mixed": '<a:x xmlns:a="http://a/"><!--c-->   <b/>  x  <c/>   <?pi d?></a:x>',
    "cdata": '<a:x xmlns:a="http://a/"><b/><![CDATA[ <raw> ]]>  <c/></a:x>',
    "escapes": '<a:x xmlns:a="http://a/" v="&lt;&amp;&quot;\u00e9\n">&lt;&gt;&amp;\'"'
               '\u20ac&#32;</a:x>',
    "space": '<a:x xmlns:a="http://a/" xml:space="preserve">\n  <b/>\n</a:x>'
             '<q:x xmlns:q="http://q/">   </q:x>',
    "undeclared": '<u:x/>',
}


@scenario
def metadata_in_definitions(s: Session) -> None:
    """Namespaced <metadata> given to defineXML comes back as libvirt keeps it."""
    uris = ("http://example.org/", "http://x.org/", "http://d/", "http://a/", "http://b/",
            "http://q/")
    for n, (name, body) in enumerate(_DEFINED_METADATA.items()):
        xml = (f"<domain type='test' xmlns:q='http://q/'><name>md-{name}</name>"
               f"<uuid>5d1f0e6c-0000-4000-8000-{n:012d}</uuid>"
               f"<memory>65536</memory><os><type>hvm</type></os><metadata>{body}</metadata>"
               "</domain>")
        d = s.step(f"define {name}", s.conn.defineXML, xml)
        if d is None:
            continue
        s.step(f"xml {name}", d.XMLDesc, 0)
        for uri in uris:
            s.step(f"get {name} {uri}", d.metadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT, uri, 0)
        s.step(f"undefine {name}", d.undefine)


@scenario
def metadata_elements_set(s: Session) -> None:
    """setMetadata keeps the element's whitespace until the definition is copied (start)."""
    M = libvirt
    xml = ("<domain type='test'><name>md-set</name>"
           "<uuid>5d1f0e6c-0000-4000-8000-100000000000</uuid><memory>65536</memory>"
           "<os><type>hvm</type></os></domain>")
    d = s.conn.defineXML(xml)
    for i, (text, key, uri) in enumerate([
        ("<foo>\n  <bar a='1'/>\n  text\n</foo>", "k", "http://s1/"),
        ("<foo xmlns:o='http://o/'>\n  <o:bar/>\n  <baz/>\n</foo>", "k2", "http://s2/"),
        ("<foo>\u00e9<!--c--><![CDATA[x]]>  <b/></foo>", "k3", "http://s3/"),
        ("  <foo/>  ", "k4", "http://s4/"),
        ("<foo><a:b xmlns:a='http://s5/'/></foo>", "k5", "http://s5/"),
    ]):
        s.step(f"set {i}", d.setMetadata, M.VIR_DOMAIN_METADATA_ELEMENT, text, key, uri, 0)
        s.step(f"get {i}", d.metadata, M.VIR_DOMAIN_METADATA_ELEMENT, uri, 0)
    s.step("replace", d.setMetadata, M.VIR_DOMAIN_METADATA_ELEMENT, "<new/>", "n",
           "http://s4/", 0)
    s.step("xml", d.XMLDesc, 0)
    for bad in ("<foo>", "", "<a:b/>", "<foo/><bar/>", "<!--c--><foo/>"):
        s.step(f"bad {bad!r}", d.setMetadata, M.VIR_DOMAIN_METADATA_ELEMENT, bad, "k",
               "http://bad/", 0)
    s.step("get bad", d.metadata, M.VIR_DOMAIN_METADATA_ELEMENT, "http://bad/", 0)
    for key in ("1x", "a:b", ""):
        s.step(f"key {key!r}", d.setMetadata, M.VIR_DOMAIN_METADATA_ELEMENT, "<x/>", key,
               "http://key/", 0)
    s.step("xml after bad", d.XMLDesc, 0)
    s.step("create", d.create)
    s.step("set live", d.setMetadata, M.VIR_DOMAIN_METADATA_ELEMENT, "<l>\n <m/>\n</l>", "l",
           "http://live/", M.VIR_DOMAIN_AFFECT_LIVE)
    s.step("xml live", d.XMLDesc, 0)
    s.step("xml inactive", d.XMLDesc, M.VIR_DOMAIN_XML_INACTIVE)
    s.step("destroy", d.destroy)
    s.step("xml after destroy", d.XMLDesc, 0)
    s.step("remove", d.setMetadata, M.VIR_DOMAIN_METADATA_ELEMENT, None, None, "http://s1/", 0)
    s.step("get removed", d.metadata, M.VIR_DOMAIN_METADATA_ELEMENT, "http://s1/", 0)
    s.step("undefine", d.undefine)


@scenario
def define_errors(s: Session) -> None:
    """Documents defineXML refuses, with libxml2's words and positions, and the order of
    libvirt's first checks (name, UUID, then type)."""
    for doc in ("<domain>", "<domain type='test'><name>x</name>", "<domain></domaine>",
                "<domain/><x/>", "<domain/>junk", "<domain a='1' a='2'/>", "<domain a='1/>",
                "<domain><a></b></domain>", "<domain>&foo;</domain>",
                "<domain>\n  <name>x</name>\n  <os>\n</domain>", "<domain>&#0;</domain>",
                "<dom:ain/>", "<?xml version='1.0'?><domain>", "text",
                "<domain>\n<a>\n</domain>\n", "<a></a", "<!-- c", "<domain/>",
                "<domain><name>x</name></domain>", "<domain x:y='1'><name>x</name></domain>",
                "<domain type='test'><name>x</name><uuid>nope</uuid></domain>",
                "<domain type='bogus'><name>a/b</name></domain>", "<domain a=1/>",
                "<domain <x/>", "<domain 1a='x'/>", "<domain a='1'b='2'/>", "<domain a=/>",
                "<domain a = 1 />", "<domain a='<'/>", "<domain>\n  <name a=b>x</name>\n</domain>",
                "<domain\n  <x/>", "<domain a='1' =/>", "<domain a/>", "<domain>&</domain>",
                "<domain>& x</domain>", "<domain>&amp</domain>", "<domain><!DOCTYPE x></domain>",
                "<domain>]]></domain>", "< domain/>", "<domain/ >", "<domain><?pi x</domain>"):
        s.step(f"define {doc!r}", s.conn.defineXML, doc)


@scenario
@over_unix
def graphics_and_descriptors(s: Session) -> None:
    """openGraphics and FDAssociate: the test driver has neither; the descriptor checks of
    libvirt's entry points come first."""
    import os
    import socket

    d = s.dom()
    ours, theirs = socket.socketpair()
    rd, wr = os.pipe()
    try:
        s.step("openGraphics", d.openGraphics, 0, ours.fileno(), 0)
        s.step("openGraphics skip auth", d.openGraphics, 1, ours.fileno(), 1)
        # the client checks this one ("fd N must be a socket", N its own)
        s.step("openGraphics pipe", d.openGraphics, 0, rd, 0)
        s.step("openGraphicsFD", d.openGraphicsFD, 0, 0)
        s.step("FDAssociate", d.FDAssociate, "name", [rd], 0)
        s.step("FDAssociate none", d.FDAssociate, "name", [], 0)
        s.step("FDAssociate flags", d.FDAssociate, "name", [rd, wr], 3)
        ro = libvirt.openReadOnly(s.uri)
        dro = ro.lookupByName("test")
        s.step("ro openGraphics", dro.openGraphics, 0, ours.fileno(), 0)
        s.step("ro FDAssociate", dro.FDAssociate, "name", [rd], 0)
        ro.close()
    finally:
        for end in (ours, theirs):
            end.close()
        os.close(rd)
        os.close(wr)


@scenario
def metadata_in_snapshots(s: Session) -> None:
    """A definition inside snapshot and checkpoint XML: indented as the rest of it, except
    for text that spans lines (a description, <metadata> elements holding text)."""
    import re

    def no_time(text: str) -> str:
        return re.sub(r"<creationTime>\d+</creationTime>", "<creationTime/>", text)

    d = s.conn.defineXML(
        "<domain type='test'><name>snapmd</name>"
        "<uuid>5d1f0e6c-0000-4000-8000-200000000000</uuid>"
        "<description>two\nlines</description><memory>65536</memory>"
        "<os><type>hvm</type></os><metadata><a:x xmlns:a='http://a/'><b/>text\n  more</a:x>"
        "<c:y xmlns:c='http://c/'><z><w/></z></c:y></metadata>"
        "<devices><disk type='file' device='disk'><source file='/tmp/snapmd.img'/>"
        "<target dev='vda' bus='virtio'/></disk></devices></domain>")
    s.step("setMetadata", d.setMetadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT,
           "<foo>\n  <bar/>\n  t\n</foo>", "k", "http://k/", 0)
    s.step("create", d.create)  # checkpoints are of running domains
    cp = s.step("checkpoint", d.checkpointCreateXML,
                "<domaincheckpoint><name>c1</name></domaincheckpoint>", 0)
    if cp is not None:  # (no snapshot may exist beside a checkpoint)
        s.step("checkpoint xml", lambda: no_time(cp.getXMLDesc(0)))
        s.step("checkpoint delete", cp.delete, 0)
    snap = s.step("snapshot", d.snapshotCreateXML,
                  "<domainsnapshot><name>s1</name></domainsnapshot>", 0)
    if snap is not None:
        s.step("snapshot xml", lambda: no_time(snap.getXMLDesc(0)))
        s.step("snapshot delete", snap.delete, 0)
    s.step("destroy", d.destroy)
    s.step("undefine", d.undefine)
