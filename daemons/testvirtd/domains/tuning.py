"""Changes the test driver makes to a domain's definition through the tuning APIs, and the
queries that read them back: IOThreads (add, delete, pin, polling parameters).

Changes apply to the live definition, the persistent one, or both, as the
``VIR_DOMAIN_AFFECT_*`` flags select (see :func:`.runtime.select_def`); the XML shows them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import xmltree
from ..core import Event
from ..domcanon import parse_bitmap
from ..domxml import DomainDef, ErrCode, ErrDomain, VirtError, parse_xml
from .model import DomainKey, DomainRef, Domains
from .runtime import (
    AFFECT_CONFIG,
    AFFECT_LIVE,
    T_BOOLEAN,
    T_INT,
    T_STRING,
    T_UINT,
    T_ULLONG,
    TypedParam,
    check_flags,
    cpumap_bytes,
    cpus_from_map,
    current_vcpus,
    find_disk,
    find_net,
    format_cpuset,
    parse_cpuset,
    priv,
    select_def,
    select_defs,
    validate_params,
)

__all__ = (
    "DomainMetadata",
    "DomainMetadataChangeEvent",
    "DomainTuning",
    "get_metadata",
    "set_metadata",
)

POLL_MAX_NS_DEFAULT = 32768
MEM_MAXIMUM = 4
VCPU_MAXIMUM = 4
TYPED_PARAM_STRING_OKAY = 4
#: testConnectGetMaxVcpus
MAX_VCPUS = 32
#: the memory tunables the test driver reports, in its order ("unlimited" by default)
MEMTUNE_PARAMS = ("hard_limit", "soft_limit", "swap_hard_limit")
MEMTUNE_UNLIMITED = 9007199254740991
NUMA_MODES = ("strict", "preferred", "interleave", "restrictive")
LIFECYCLE_ACTIONS = ("destroy", "restart", "rename-restart", "preserve", "coredump-destroy",
                     "coredump-restart")
BLKIO_DEVICE_PARAMS = (("device_weight", "weight"), ("device_read_iops_sec", "read_iops_sec"),
                       ("device_write_iops_sec", "write_iops_sec"),
                       ("device_read_bytes_sec", "read_bytes_sec"),
                       ("device_write_bytes_sec", "write_bytes_sec"))
PERF_EVENTS = ("cmt", "mbmt", "mbml", "cpu_cycles", "instructions", "cache_references",
               "cache_misses", "branch_instructions", "branch_misses", "bus_cycles",
               "stalled_cycles_frontend", "stalled_cycles_backend", "ref_cpu_cycles",
               "cpu_clock", "task_clock", "page_faults", "context_switches", "cpu_migrations",
               "page_faults_min", "page_faults_maj", "alignment_faults", "emulation_faults")
IOTUNE_PARAMS = ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec",
                 "read_iops_sec", "write_iops_sec", "total_bytes_sec_max",
                 "read_bytes_sec_max", "write_bytes_sec_max", "total_iops_sec_max",
                 "read_iops_sec_max", "write_iops_sec_max", "size_iops_sec", "group_name",
                 "total_bytes_sec_max_length", "read_bytes_sec_max_length",
                 "write_bytes_sec_max_length", "total_iops_sec_max_length",
                 "read_iops_sec_max_length", "write_iops_sec_max_length")
IOTUNE_MAX = 1000000000000000


def _iothread_ids(defn: DomainDef) -> list[int]:
    ids = defn.extra.get("iothreadids", [])
    if ids:
        return [int(t.get("id", "0")) for t in ids[0] if t.tag == "iothread"]
    count = defn.extra.get("iothreads", [])
    if count:
        return list(range(1, int((count[0].text or "0").strip() or 0) + 1))
    return []


def _set_iothread_ids(defn: DomainDef, ids: Sequence[int]) -> None:
    if not ids:
        defn.extra.pop("iothreads", None)
        defn.extra.pop("iothreadids", None)
        return
    count = ET.Element("iothreads")
    count.text = str(len(ids))
    holder = ET.Element("iothreadids")
    for n in ids:
        ET.SubElement(holder, "iothread", {"id": str(n)})
    defn.extra["iothreads"] = [count]
    defn.extra["iothreadids"] = [holder]


def cputune(defn: DomainDef, create: bool = True) -> ET.Element | None:
    """The ``<cputune>`` element (created empty on demand)."""
    tunes = defn.extra.get("cputune")
    if tunes:
        return tunes[0]
    if not create:
        return None
    elem = ET.Element("cputune")
    defn.extra["cputune"] = [elem]
    return elem


#: the order libvirt writes the children of <cputune> in
_CPUTUNE_ORDER = ("shares", "global_period", "global_quota", "period", "quota",
                  "emulator_period", "emulator_quota", "iothread_period", "iothread_quota",
                  "vcpupin", "emulatorpin", "iothreadpin", "vcpusched", "iothreadsched",
                  "cachetune", "memorytune")


def set_cputune_child(defn: DomainDef, tag: str, match: dict[str, str],
                      attrs: dict[str, str] | None) -> None:
    """Replace (or, with *attrs* None, remove) the ``<cputune>`` child *tag* whose
    attributes include *match*; keeps libvirt's order and drops an empty ``<cputune>``."""
    tune = cputune(defn)
    assert tune is not None
    for child in list(tune):
        if child.tag == tag and all(child.get(k) == v for k, v in match.items()):
            tune.remove(child)
    if attrs is not None:
        tune.append(ET.Element(tag, attrs))
    rank = {t: i for i, t in enumerate(_CPUTUNE_ORDER)}

    def key(e: ET.Element) -> tuple[int, int]:
        num = e.get("vcpu") or e.get("iothread") or "0"
        return rank.get(e.tag, len(rank)), int(num) if num.isdigit() else 0

    children = sorted(tune, key=key)
    for child in list(tune):
        tune.remove(child)
    tune.extend(children)
    if not len(tune):
        defn.extra.pop("cputune", None)


class DomainTuning:
    """The tuning APIs of the test driver on the domains of one driver instance."""

    def __init__(self, domains: Domains) -> None:
        self.domains = domains

    # ------------------------------------------------------------------ IOThreads

    def iothread_info(self, key: DomainKey, flags: int, maplen: int | None = None
                      ) -> list[tuple[int, list[int]]]:
        """``virDomainGetIOThreadInfo``: (id, CPUs) per IOThread of the selected
        definition."""
        check_flags("testDomainGetIOThreadInfo", flags, AFFECT_LIVE | AFFECT_CONFIG)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            tune = cputune(defn, create=False)
            pins: dict[str | None, ET.Element] = {}
            for child in tune if tune is not None else ():
                if child.tag == "iothreadpin":
                    pins.setdefault(child.get("iothread"), child)
            # The IOThreads not pinned share one list (the caller converts each list once):
            # the domain's cpuset, else every current vCPU (the test driver's default
            # affinity, not the host's CPUs: a map as wide as the current vCPU count).
            unpinned = (parse_cpuset(defn.vcpu_attrs["cpuset"])
                        if defn.vcpu_attrs.get("cpuset")
                        else list(range(defn.current_vcpus or defn.vcpus)))
            out = []
            for n in _iothread_ids(defn):
                pin = pins.get(str(n))
                out.append((n, parse_cpuset(pin.get("cpuset", "")) if pin is not None
                            else unpinned))
            return out

    def add_iothread(self, key: DomainKey, iothread_id: int, flags: int) -> None:
        """``virDomainAddIOThread``."""
        check_flags("testDomainAddIOThread", flags, AFFECT_LIVE | AFFECT_CONFIG)
        if iothread_id == 0:
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                                "invalid value of 0 for iothread_id")
        with self.domains.access(key) as d:
            _exclusive_affect(flags)
            live, config = select_defs(d, flags)
            for defn in (live, config):
                if defn is not None and iothread_id in _iothread_ids(defn):
                    raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.DOMAIN,
                                        "invalid argument: %s",
                                        f"an IOThread is already using iothread_id "
                                        f"'{iothread_id}'")
            for defn in (live, config):
                if defn is not None:
                    _set_iothread_ids(defn, [*_iothread_ids(defn), iothread_id])
            threads = priv(d)["iothreads"]
            threads.append({"id": iothread_id, "poll_max_ns": POLL_MAX_NS_DEFAULT,
                            "poll_grow": 0, "poll_shrink": 0})

    def del_iothread(self, key: DomainKey, iothread_id: int, flags: int) -> None:
        """``virDomainDelIOThread``."""
        check_flags("testDomainDelIOThread", flags, AFFECT_LIVE | AFFECT_CONFIG)
        with self.domains.access(key) as d:
            _exclusive_affect(flags)
            live, config = select_defs(d, flags)
            for defn in (live, config):
                if defn is not None and iothread_id not in _iothread_ids(defn):
                    raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.DOMAIN,
                                        "invalid argument: %s",
                                        f"cannot find IOThread '{iothread_id}' in "
                                        "iothreadids list")
            for defn in (live, config):
                if defn is not None:
                    _set_iothread_ids(defn, [n for n in _iothread_ids(defn) if n != iothread_id])
                    if cputune(defn, create=False) is not None:
                        set_cputune_child(defn, "iothreadpin", {"iothread": str(iothread_id)},
                                          None)
            threads = priv(d)["iothreads"]
            threads[:] = [t for t in threads if t["id"] != iothread_id]

    def pin_iothread(self, key: DomainKey, iothread_id: int, cpumap: bytes,
                     flags: int) -> None:
        """``virDomainPinIOThread``."""
        check_flags("testDomainPinIOThread", flags, AFFECT_LIVE | AFFECT_CONFIG)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            if iothread_id not in _iothread_ids(defn):
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                    "invalid argument: %s", f"iothreadid {iothread_id} not found")
            cpus = cpus_from_map(cpumap)
            if not cpus:
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                    "invalid argument: %s",
                                    "Empty iothread cpumap list for pinning")
            set_cputune_child(defn, "iothreadpin", {"iothread": str(iothread_id)},
                              {"iothread": str(iothread_id), "cpuset": format_cpuset(cpus)})

    def set_iothread_params(self, key: DomainKey, iothread_id: int,
                            params: Sequence[TypedParam], flags: int) -> None:
        """``virDomainSetIOThreadParams``: polling parameters of a live IOThread."""
        check_flags("testDomainSetIOThreadParams", flags, AFFECT_LIVE)
        validate_params(params, {"poll_max_ns": T_ULLONG, "poll_grow": T_UINT,
                                 "poll_shrink": T_UINT})
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            if iothread_id not in _iothread_ids(defn):
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                    "invalid argument: %s",
                                    f"cannot find IOThread '{iothread_id}' in iothreadids")
            for t in priv(d)["iothreads"]:
                if t["id"] == iothread_id:
                    for name, _ptype, value in params:
                        t[name] = value


    # ------------------------------------------------------------------ memory and vCPUs

    def set_memory(self, key: DomainKey, memory: int, flags: int) -> None:
        """``virDomainSetMemoryFlags`` (``setMemory``: LIVE, ``setMaxMemory``: MAXIMUM)."""
        check_flags("testDomainSetMemoryFlags", flags, AFFECT_LIVE | AFFECT_CONFIG | MEM_MAXIMUM)
        with self.domains.access(key) as d:
            defn, live = select_def(d, flags)
            if flags & MEM_MAXIMUM:
                if live:
                    raise VirtError.invalid(
                        ErrDomain.TEST, "cannot resize the maximum memory on an active domain")
                defn.memory_kib = memory
                defn.current_memory_kib = min(defn.current_memory_kib, memory)
            else:
                if memory > defn.memory_kib:
                    raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                        "invalid argument: %s",
                                        "cannot set memory higher than max memory")
                defn.current_memory_kib = memory

    def set_memory_stats_period(self, key: DomainKey, period: int, flags: int) -> None:
        """``virDomainSetMemoryStatsPeriod``: the balloon's ``<stats period>``."""
        check_flags("testDomainSetMemoryStatsPeriod", flags, AFFECT_LIVE | AFFECT_CONFIG)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            balloon = next((dev for dev in defn.devices if dev.tag == "memballoon"), None)
            if balloon is None or balloon.get("model") == "none":
                raise VirtError.internal_error(
                    ErrDomain.TEST,
                    "No memory balloon device configured, can not set the collection period")
            for child in list(balloon):
                if child.tag == "stats":
                    balloon.remove(child)
            if period:
                balloon.insert(0, ET.Element("stats", {"period": str(period)}))

    def set_vcpus(self, key: DomainKey, count: int, flags: int) -> None:
        """``virDomainSetVcpusFlags`` (``setVcpus``: LIVE)."""
        check_flags("testDomainSetVcpusFlags", flags,
                    AFFECT_LIVE | AFFECT_CONFIG | VCPU_MAXIMUM)
        if count > MAX_VCPUS:
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                                f"requested cpu amount exceeds maximum supported amount "
                                f"({count} > {MAX_VCPUS})")
        with self.domains.access(key) as d:
            live, config = select_defs(d, flags)
            if live is not None and live.vcpus < count:
                raise _above_max(count, live.vcpus)
            if config is not None and not flags & VCPU_MAXIMUM and config.vcpus < count:
                raise _above_max(count, config.vcpus)
            if live is not None:
                _set_current_vcpus(live, count)
            if config is not None:
                if flags & VCPU_MAXIMUM:
                    current = min(current_vcpus(config), count)
                    config.vcpus = count
                    _set_current_vcpus(config, current)
                else:
                    _set_current_vcpus(config, count)

    def pin_vcpu(self, key: DomainKey, vcpu: int, cpumap: bytes, flags: int) -> None:
        """``virDomainPinVcpu(Flags)``: live pinning of an online vCPU."""
        check_flags("testDomainPinVcpuFlags", flags, 0)
        with self.domains.access(key) as d:
            if not d.active:
                raise VirtError.invalid(ErrDomain.TEST, "cannot pin vcpus on an inactive domain")
            if vcpu >= current_vcpus(d.defn):
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                    "invalid argument: %s",
                                    f"requested vcpu '{vcpu}' is not present in the domain")
            set_cputune_child(d.defn, "vcpupin", {"vcpu": str(vcpu)},
                              {"vcpu": str(vcpu),
                               "cpuset": format_cpuset(cpus_from_map(cpumap))})

    def pin_emulator(self, key: DomainKey, cpumap: bytes, flags: int) -> None:
        """``virDomainPinEmulator``."""
        check_flags("testDomainPinEmulator", flags, AFFECT_LIVE | AFFECT_CONFIG)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            cpus = cpus_from_map(cpumap)
            if not cpus:
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                    "invalid argument: %s", "Empty cpu list for pinning")
            set_cputune_child(defn, "emulatorpin", {}, {"cpuset": format_cpuset(cpus)})

    # ------------------------------------------------------------------ lifecycle actions

    def set_lifecycle_action(self, key: DomainKey, kind: int, action: int, flags: int) -> None:
        """``virDomainSetLifecycleAction``."""
        check_flags("testDomainSetLifecycleAction", flags, AFFECT_LIVE | AFFECT_CONFIG)
        if not 0 <= kind < 3:
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.DOMAIN, "invalid argument: %s",
                                f"invalid lifecycle type '{kind}'")
        if not 0 <= action < len(LIFECYCLE_ACTIONS):
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.DOMAIN, "invalid argument: %s",
                                f"invalid lifecycle action '{action}'")
        with self.domains.access(key) as d:
            live, config = select_defs(d, flags)
            attr = ("on_poweroff", "on_reboot", "on_crash")[kind]
            for defn in (live, config):
                if defn is not None:
                    setattr(defn, attr, LIFECYCLE_ACTIONS[action])

    # ------------------------------------------------------------------ typed parameters

    def memory_parameters(self, key: DomainKey, nparams: int, flags: int
                          ) -> tuple[list[TypedParam], int]:
        """``virDomainGetMemoryParameters``."""
        check_flags("testDomainGetMemoryParameters", flags,
                    AFFECT_LIVE | AFFECT_CONFIG | TYPED_PARAM_STRING_OKAY)
        if nparams == 0:
            return [], 3
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags & ~TYPED_PARAM_STRING_OKAY)
            values = [(name, T_ULLONG, _memtune(defn, name)) for name in MEMTUNE_PARAMS]
            got = values[:nparams]
            return got, len(got)

    def set_memory_parameters(self, key: DomainKey, params: Sequence[TypedParam],
                              flags: int) -> None:
        """``virDomainSetMemoryParameters``."""
        check_flags("testDomainSetMemoryParameters", flags, AFFECT_LIVE | AFFECT_CONFIG)
        validate_params(params, dict.fromkeys(MEMTUNE_PARAMS, T_ULLONG))
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            given = {name: value for name, _t, value in params}
            if "hard_limit" in given or "swap_hard_limit" in given:
                hard = given.get("hard_limit", _memtune(d.defn, "hard_limit"))
                swap = given.get("swap_hard_limit", _memtune(d.defn, "swap_hard_limit"))
                if hard > swap:
                    raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                        "invalid argument: %s",
                                        "memory hard_limit tunable value must be lower than "
                                        "or equal to swap_hard_limit")
            for name in ("soft_limit", "hard_limit", "swap_hard_limit"):
                if name in given:
                    _set_memtune(defn, name, given[name])

    def numa_parameters(self, key: DomainKey, nparams: int, flags: int
                        ) -> tuple[list[TypedParam], int]:
        """``virDomainGetNumaParameters``."""
        check_flags("testDomainGetNumaParameters", flags,
                    AFFECT_LIVE | AFFECT_CONFIG | TYPED_PARAM_STRING_OKAY)
        if nparams == 0:
            return [], 2
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags & ~TYPED_PARAM_STRING_OKAY)
            mem = _numatune_memory(defn)
            mode = NUMA_MODES.index(mem.get("mode", "strict")) if mem is not None else 0
            nodeset = mem.get("nodeset", "") if mem is not None else ""
            got = [("numa_mode", T_INT, mode), ("numa_nodeset", T_STRING, nodeset)][:nparams]
            return got, len(got)

    def set_numa_parameters(self, key: DomainKey, params: Sequence[TypedParam],
                            flags: int) -> None:
        """``virDomainSetNumaParameters``."""
        check_flags("testDomainSetNumaParameters", flags, AFFECT_LIVE | AFFECT_CONFIG)
        validate_params(params, {"numa_mode": T_INT, "numa_nodeset": T_STRING})
        with self.domains.access(key) as d:
            defn, live = select_def(d, flags)
            mode: int | None = None
            nodeset: str | None = None
            for name, _t, value in params:
                if name == "numa_mode":
                    if not 0 <= value < len(NUMA_MODES):
                        raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                            "invalid argument: %s",
                                            f"unsupported numatune mode: '{value}'")
                    mode = value
                else:
                    members = parse_bitmap(value)
                    if members is None:
                        raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.NONE,
                                            "invalid argument: %s",
                                            f"Failed to parse bitmap '{value}'")
                    cpus = sorted(members)
                    if not cpus:
                        raise VirtError.invalid(ErrDomain.TEST,
                                                f"Invalid nodeset of 'numatune': {value}")
                    nodeset = format_cpuset(cpus)
            mem = _numatune_memory(defn)
            if live and mode is not None and mem is not None and \
                    NUMA_MODES.index(mem.get("mode", "strict")) != mode:
                raise VirtError.invalid(ErrDomain.TEST,
                                        "can't change numatune mode for running domain")
            if mem is None:
                if mode is None and nodeset is None:
                    return
                tune = ET.Element("numatune")
                mem = ET.SubElement(tune, "memory", {"mode": "strict"})
                defn.extra["numatune"] = [tune]
            if mode is not None:
                mem.set("mode", NUMA_MODES[mode])
            if nodeset is not None:
                mem.set("nodeset", nodeset)
            attrs = {"mode": mem.get("mode", "strict")}
            if mem.get("nodeset"):
                attrs["nodeset"] = mem.get("nodeset", "")
            mem.attrib.clear()
            mem.attrib.update(attrs)

    def blkio_parameters(self, key: DomainKey, nparams: int, flags: int
                         ) -> tuple[list[TypedParam], int]:
        """``virDomainGetBlkioParameters``."""
        check_flags("testDomainGetBlkioParameters", flags,
                    AFFECT_LIVE | AFFECT_CONFIG | TYPED_PARAM_STRING_OKAY)
        if nparams == 0:
            return [], 6
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags & ~TYPED_PARAM_STRING_OKAY)
            tune = defn.extra.get("blkiotune", [None])[0]
            weight = 0
            devices: list[dict[str, str]] = []
            if tune is not None:
                w = tune.find("weight")
                weight = int((w.text or "0").strip()) if w is not None else 0
                for dev in tune.findall("device"):
                    devices.append({c.tag: (c.text or "").strip() for c in dev})
            out: list[TypedParam] = [("weight", T_UINT, weight)]
            for pname, tag in BLKIO_DEVICE_PARAMS:
                text = ",".join(f"{dv['path']},{dv[tag]}" for dv in devices if tag in dv)
                out.append((pname, T_STRING, text))
            got = out[:nparams]
            return got, len(got)

    def set_blkio_parameters(self, key: DomainKey, params: Sequence[TypedParam],
                             flags: int) -> None:
        """``virDomainSetBlkioParameters``."""
        check_flags("testDomainSetBlkioParameters", flags, AFFECT_LIVE | AFFECT_CONFIG)
        validate_params(params, {"weight": T_UINT,
                                 **{name: T_STRING for name, _tag in BLKIO_DEVICE_PARAMS}})
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            tunes = defn.extra.get("blkiotune")
            tune = tunes[0] if tunes else ET.Element("blkiotune")
            for name, _t, value in params:
                if name == "weight":
                    w = tune.find("weight")
                    if w is None:
                        w = ET.Element("weight")
                        tune.insert(0, w)
                    w.text = str(value)
                    continue
                tag = dict(BLKIO_DEVICE_PARAMS)[name]
                items = [x for x in value.split(",") if x != ""]
                for path, number in zip(items[::2], items[1::2], strict=False):
                    dev = next((dv for dv in tune.findall("device")
                                if (dv.findtext("path") or "") == path), None)
                    if dev is None:
                        dev = ET.SubElement(tune, "device")
                        ET.SubElement(dev, "path").text = path
                    elem = dev.find(tag)
                    if elem is None:
                        elem = ET.SubElement(dev, tag)
                    elem.text = number
            if len(tune):
                defn.extra["blkiotune"] = [tune]

    def interface_parameters(self, key: DomainKey, device: str, nparams: int, flags: int
                             ) -> tuple[list[TypedParam], int]:
        """``virDomainGetInterfaceParameters``."""
        check_flags("testDomainGetInterfaceParameters", flags,
                    AFFECT_LIVE | AFFECT_CONFIG | TYPED_PARAM_STRING_OKAY)
        if nparams == 0:
            return [], 7
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags & ~TYPED_PARAM_STRING_OKAY)
            net = find_net(defn, device)
            out: list[TypedParam] = []
            for direction, fields in (("inbound", ("average", "peak", "burst", "floor")),
                                      ("outbound", ("average", "peak", "burst"))):
                elem = net.find(f"bandwidth/{direction}")
                for f in fields:
                    value = int(elem.get(f, "0")) if elem is not None else 0
                    out.append((f"{direction}.{f}", T_UINT, value))
            got = out[:nparams]
            return got, len(got)

    def set_interface_parameters(self, key: DomainKey, device: str,
                                 params: Sequence[TypedParam], flags: int) -> None:
        """``virDomainSetInterfaceParameters``: replaces each direction given."""
        check_flags("testDomainSetInterfaceParameters", flags, AFFECT_LIVE | AFFECT_CONFIG)
        known = {f"inbound.{f}": T_UINT for f in ("average", "peak", "burst", "floor")}
        known.update({f"outbound.{f}": T_UINT for f in ("average", "peak", "burst")})
        validate_params(params, known)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            net = find_net(defn, device)
            new: dict[str, dict[str, int]] = {"inbound": {}, "outbound": {}}
            for name, _t, value in params:
                direction, field = name.split(".")
                new[direction][field] = value
            bw = net.find("bandwidth")
            for direction in ("inbound", "outbound"):
                values = new[direction]
                mandatory = values.get("average") or (direction == "inbound"
                                                      and values.get("floor"))
                specified = "average" in values or "floor" in values
                if not mandatory and not specified:
                    continue
                if bw is None:
                    bw = ET.Element("bandwidth")
                    _insert_bandwidth(net, bw)
                old = bw.find(direction)
                if old is not None:
                    bw.remove(old)
                if mandatory:
                    attrs = {f: str(values[f]) for f in ("average", "peak", "floor", "burst")
                             if values.get(f)}
                    elem = ET.Element(direction, attrs)
                    if direction == "inbound":
                        bw.insert(0, elem)
                    else:
                        bw.append(elem)
            if bw is not None and not len(bw):
                net.remove(bw)

    def perf_events(self, key: DomainKey, flags: int) -> list[TypedParam]:
        """``virDomainGetPerfEvents``: every event, enabled or not."""
        check_flags("testDomainGetPerfEvents", flags,
                    AFFECT_LIVE | AFFECT_CONFIG | TYPED_PARAM_STRING_OKAY)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags & ~TYPED_PARAM_STRING_OKAY)
            state = _perf_state(defn)
            return [(name, T_BOOLEAN, int(state.get(name) == "yes")) for name in PERF_EVENTS]

    def set_perf_events(self, key: DomainKey, params: Sequence[TypedParam], flags: int) -> None:
        """``virDomainSetPerfEvents``."""
        check_flags("testDomainSetPerfEvents", flags, AFFECT_LIVE | AFFECT_CONFIG)
        validate_params(params, dict.fromkeys(PERF_EVENTS, T_BOOLEAN))
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            state = _perf_state(defn)
            for name, _t, value in params:
                state[name] = "yes" if value else "no"
            perf = ET.Element("perf")
            for name in PERF_EVENTS:
                if name in state:
                    ET.SubElement(perf, "event", {"name": name, "enabled": state[name]})
            defn.extra["perf"] = [perf]

    def block_io_tune(self, key: DomainKey, disk: str, nparams: int, flags: int
                      ) -> tuple[list[TypedParam], int]:
        """``virDomainGetBlockIoTune``."""
        check_flags("testDomainGetBlockIoTune", flags,
                    AFFECT_LIVE | AFFECT_CONFIG | TYPED_PARAM_STRING_OKAY)
        if nparams == 0:
            return [], len(IOTUNE_PARAMS)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags & ~TYPED_PARAM_STRING_OKAY)
            dev = find_disk(defn, disk)
            if dev is None:
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                                    f"disk '{disk}' was not found in the domain config")
            tune = dev.find("iotune")
            out: list[TypedParam] = []
            for name in IOTUNE_PARAMS:
                text = tune.findtext(name) if tune is not None else None
                if name == "group_name":
                    out.append((name, T_STRING, text or ""))
                else:
                    out.append((name, T_ULLONG, int(text) if text else 0))
            got = out[:nparams]
            return got, len(got)

    def set_block_io_tune(self, key: DomainKey, disk: str, params: Sequence[TypedParam],
                          flags: int) -> None:
        """``virDomainSetBlockIoTune``."""
        check_flags("testDomainSetBlockIoTune", flags, AFFECT_LIVE | AFFECT_CONFIG)
        validate_params(params, {n: T_STRING if n == "group_name" else T_ULLONG
                                 for n in IOTUNE_PARAMS})
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            dev = find_disk(defn, disk)
            if dev is None:
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                                    f"missing persistent configuration for disk '{disk}'")
            tune = dev.find("iotune")
            info: dict[str, Any] = {}
            for name in IOTUNE_PARAMS:
                text = tune.findtext(name) if tune is not None else None
                info[name] = text if name == "group_name" else int(text or 0)
            for name, _t, value in params:
                if name != "group_name" and value > IOTUNE_MAX:
                    raise VirtError.fmt(ErrCode.ARGUMENT_UNSUPPORTED, ErrDomain.TEST,
                                        "argument unsupported: %s",
                                        "block I/O throttle limit value must be no more than "
                                        f"{IOTUNE_MAX}")
                info[name] = value
            for kind in ("bytes_sec", "iops_sec", "bytes_sec_max", "iops_sec_max"):
                if info[f"total_{kind}"] and (info[f"read_{kind}"] or info[f"write_{kind}"]):
                    raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                        "invalid argument: %s",
                                        f"total and read/write of {kind} cannot be set at the "
                                        "same time")
            for rw in ("total", "read", "write"):
                for kind in ("bytes_sec", "iops_sec"):
                    if info[f"{rw}_{kind}"] > info[f"{rw}_{kind}_max"]:
                        raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                            "invalid argument: %s",
                                            f"{rw}_{kind} cannot be set higher than "
                                            f"{rw}_{kind}_max ")
            _write_iotune(dev, info)

    # ------------------------------------------------------------------ rename

    def rename(self, key: DomainKey, new_name: str, flags: int) -> Any:
        """``virDomainRename``: shut off persistent domains only; UNDEFINED/RENAMED then
        DEFINED/RENAMED."""
        from .model import DomainLifecycleEvent

        check_flags("testDomainRename", flags, 0)
        with self.domains.access(key) as d:
            if d.active:
                raise VirtError.invalid(ErrDomain.TEST, "cannot rename active domain")
            if not d.persistent:
                raise VirtError.invalid(ErrDomain.TEST, "cannot rename a transient domain")
            if d.state != 5:
                raise VirtError.invalid(ErrDomain.TEST,
                                        "domain has to be shutoff before renaming")
            for other in self.domains.objects():
                if other.defn.name == new_name:
                    raise VirtError.fmt(ErrCode.OPERATION_INVALID, ErrDomain.DOMAIN,
                                        "Requested operation is not valid: %s",
                                        f"domain with name '{new_name}' already exists")
            if "/" in new_name:
                raise VirtError.xml_error(ErrDomain.TEST, f"name {new_name} cannot contain '/'")
            self.domains.emit(DomainLifecycleEvent(d.ref(), 1, 1))
            d.defn.name = new_name
            self.domains.emit(DomainLifecycleEvent(d.ref(), 0, 2))
            return d.ref()


def _exclusive_affect(flags: int) -> None:
    if flags & AFFECT_LIVE and flags & AFFECT_CONFIG:
        from .runtime import exclusive

        raise exclusive("VIR_DOMAIN_AFFECT_LIVE", "VIR_DOMAIN_AFFECT_CONFIG")


def iothread_cpumap(cpus: Sequence[int]) -> bytes:
    """An IOThread's CPU map for the wire: as libvirt's virBitmapToData makes it, just long
    enough for the highest CPU set (one byte when none is)."""
    maplen = max(cpus) // 8 + 1 if cpus else 1
    return cpumap_bytes(cpus, maplen)


def _above_max(count: int, maximum: int) -> VirtError:
    return VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                         f"requested cpu amount exceeds maximum ({count} > {maximum})")


def _set_current_vcpus(defn: DomainDef, count: int) -> None:
    defn.current_vcpus = None if count == defn.vcpus else count


def _memtune(defn: DomainDef, name: str) -> int:
    tune = defn.extra.get("memtune", [None])[0]
    if tune is None:
        return MEMTUNE_UNLIMITED
    text = tune.findtext(name)
    return int(text) if text else MEMTUNE_UNLIMITED


def _set_memtune(defn: DomainDef, name: str, value: int) -> None:
    tunes = defn.extra.get("memtune")
    tune = tunes[0] if tunes else ET.Element("memtune")
    values = {n: tune.findtext(n) for n in ("hard_limit", "soft_limit", "min_guarantee",
                                            "swap_hard_limit")}
    values[name] = str(value)
    for child in list(tune):
        tune.remove(child)
    for n in ("hard_limit", "soft_limit", "min_guarantee", "swap_hard_limit"):
        text = values[n]
        if text is not None and int(text) < MEMTUNE_UNLIMITED:
            ET.SubElement(tune, n, {"unit": "KiB"}).text = text
    if len(tune):
        defn.extra["memtune"] = [tune]
    else:
        defn.extra.pop("memtune", None)


def _numatune_memory(defn: DomainDef) -> ET.Element | None:
    tune = defn.extra.get("numatune", [None])[0]
    return tune.find("memory") if tune is not None else None


def _perf_state(defn: DomainDef) -> dict[str, str]:
    perf = defn.extra.get("perf", [None])[0]
    if perf is None:
        return {}
    return {e.get("name", ""): e.get("enabled", "no") for e in perf.findall("event")}


def _insert_bandwidth(net: ET.Element, bw: ET.Element) -> None:
    # libvirt writes <bandwidth> after <source>/<model> and before <target>
    children = list(net)
    for i, child in enumerate(children):
        if child.tag in ("target", "guest", "alias", "address", "rom", "boot", "mtu",
                         "coalesce", "driver", "link", "filterref", "vlan", "virtualport",
                         "ip", "route", "script", "backenddomain", "tune", "teaming"):
            net.insert(i, bw)
            return
    net.append(bw)


def _write_iotune(dev: ET.Element, info: dict[str, Any]) -> None:
    old = dev.find("iotune")
    if old is not None:
        dev.remove(old)
    tune = ET.Element("iotune")
    for name in IOTUNE_PARAMS:
        value = info[name]
        if name == "group_name":
            if value:
                ET.SubElement(tune, name).text = value
        elif value:
            ET.SubElement(tune, name).text = str(value)
    if not len(tune):
        return
    children = list(dev)
    pos = next((i for i, c in enumerate(children)
                if c.tag in ("alias", "address", "boot", "serial", "wwn", "vendor", "product",
                             "encryption", "readonly", "shareable", "transient")), len(children))
    dev.insert(pos, tune)


# ---------------------------------------------------------------------- metadata

METADATA_DESCRIPTION = 0
METADATA_TITLE = 1
METADATA_ELEMENT = 2


@dataclass(frozen=True, slots=True)
class DomainMetadataChangeEvent(Event):
    """``VIR_DOMAIN_EVENT_ID_METADATA_CHANGE``: *type* changed (*nsuri* for elements)."""

    dom: DomainRef
    type: int
    nsuri: str | None


def _no_metadata() -> VirtError:
    return VirtError(80, ErrDomain.DOMAIN,
                     "metadata not found: Requested metadata element is not present",
                     str1="metadata not found: %s",
                     str2="Requested metadata element is not present")


#: an XML NCName (the namespace prefix virDomainSetMetadata accepts as key)
_NCNAME = re.compile(r"[^\W\d][\w.\-\u00b7\u0300-\u036f\u203f\u2040]*")


def get_metadata(defn: DomainDef, mtype: int, uri: str | None) -> str:
    """What ``virDomainGetMetadata`` answers for one definition."""
    if mtype == METADATA_DESCRIPTION:
        if defn.description is None:
            raise _no_metadata()
        return defn.description
    if mtype == METADATA_TITLE:
        if defn.title is None:
            raise _no_metadata()
        return defn.title
    found = xmltree.metadata_element(defn.metadata, uri or "")
    if found is None:
        raise _no_metadata()
    return found


def parse_metadata_element(text: str, key: str | None, uri: str | None) -> xmltree.Element:
    """``virDomainSetMetadata``'s element: parsed (blanks kept), then put into namespace
    *uri* with prefix *key*."""
    parse_xml(text, None, context="metadata_xml", err_domain=ErrDomain.DOMAIN)
    raw = text.encode("utf-8", "surrogateescape")
    first = xmltree.parse_document(raw, keep_blanks=True)[0]
    # libxml2 accepts surrounding blanks in the prefix (and keeps them)
    if not _NCNAME.fullmatch((key or "").strip(" \t\n\r")):
        raise VirtError.internal_error(ErrDomain.XML,
                                       "failed to validate prefix for a new XML namespace")
    if not isinstance(first, xmltree.Element):
        # the document's first node is a comment or processing instruction
        raise VirtError.internal_error(ErrDomain.XML, "failed to create a new XML namespace")
    xmltree.inject_namespace(first, uri or "", key or "")
    return xmltree.copy_node(first)


def set_metadata(defn: DomainDef, mtype: int, text: str | None, key: str | None,
                 uri: str | None) -> None:
    """``virDomainSetMetadata`` on one definition."""
    if mtype == METADATA_DESCRIPTION:
        defn.description = text or None
        return
    if mtype == METADATA_TITLE:
        defn.title = text or None
        return
    new = parse_metadata_element(text, key, uri) if text is not None else None
    defn.metadata = xmltree.replace_metadata_element(defn.metadata, new, uri or "")


class DomainMetadata:
    """``virDomainGetMetadata`` / ``virDomainSetMetadata`` with the metadata-change event."""

    def __init__(self, domains: Domains) -> None:
        self.domains = domains

    def get(self, key: DomainKey, mtype: int, uri: str | None, flags: int) -> str:
        """The description, title or element (by namespace URI) of one definition."""
        check_flags("testDomainGetMetadata", flags, AFFECT_LIVE | AFFECT_CONFIG)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            if mtype not in (0, 1, 2):
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.DOMAIN,
                                    "invalid argument: %s", f"unknown metadata type '{mtype}'")
            return get_metadata(defn, mtype, uri)

    def set(self, key: DomainKey, mtype: int, text: str | None, ns_key: str | None,
            uri: str | None, flags: int) -> None:
        """Change it in the live and/or persistent definition; emits METADATA_CHANGE."""
        check_flags("testDomainSetMetadata", flags, AFFECT_LIVE | AFFECT_CONFIG)
        with self.domains.access(key) as d:
            if mtype not in (0, 1, 2):
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.DOMAIN,
                                    "invalid argument: %s", f"unknown metadata type '{mtype}'")
            if mtype == METADATA_TITLE and text and "\n" in text:
                raise VirtError(ErrCode.INVALID_ARG, ErrDomain.DOMAIN,
                                "metadata title can't contain newlines")
            live, config = select_defs(d, flags)
            for defn in (live, config):
                if defn is not None:
                    set_metadata(defn, mtype, text, ns_key, uri)
            self.domains.emit(DomainMetadataChangeEvent(
                d.ref(), mtype, uri if mtype == METADATA_ELEMENT else None))
