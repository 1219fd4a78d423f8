"""What libvirt's parser refuses in ``<cpu>`` and ``<features>``, in the order it reads them.

libvirt reads these sections attribute by attribute and child by child, and the first thing
it cannot read is the error the client sees, so the checks here follow its reading order:
``<cpu>`` as its CPU definition parser goes (mode, match, check, model, vendor, topology,
features, cache, physical address bits), ``<features>`` child by child in document order,
each feature as its own reader goes (Hyper-V enlightenments, KVM and Xen features, the
capability policy...).  The XML layer's attribute readers (``virXMLProp*``) and their
complaints are here too, for the device checks to share.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping

from . import domcanon
from .domcanon import c_number
from .domxml import ErrCode, ErrDomain, VirtError, check_memory_overflow

__all__ = ("MAX_IOTHREADS", "MAX_VCPUS", "bitmap", "check_boot_devices", "check_clock",
           "check_cpu", "check_features", "check_firmware", "check_idmap", "check_idmap_pairs",
           "check_ids", "check_keywrap",
           "check_memory_sections", "check_numa", "check_numatune", "check_perf", "check_pm",
           "check_seclabels", "check_title", "check_vcpu_sections", "prop_enum", "prop_int",
           "prop_uint", "scaled", "scaled_value", "tristate")

# --------------------------------------------------------------------------------------------
# the XML layer's attribute readers

#: the most vCPUs a definition may have (REMOTE_VCPUINFO_MAX: no more can be reported)
MAX_VCPUS = 16384
#: the most IOThreads a definition may have (REMOTE_IOTHREAD_INFO_MAX)
MAX_IOTHREADS = 16384

_UINT_MAX = 2**32 - 1
_ULLONG_MAX = 2**64 - 1
_INT_MAX = 2**31 - 1


def _missing(elem: ET.Element, attr: str) -> VirtError:
    return VirtError.xml_error(
        ErrDomain.XML, f"Missing required attribute '{attr}' in element '{elem.tag}'")


def _invalid(elem: ET.Element, attr: str, value: str, expected: str = "") -> VirtError:
    text = f"Invalid value for attribute '{attr}' in element '{elem.tag}': '{value}'."
    return VirtError.xml_error(ErrDomain.XML, f"{text} Expected {expected}" if expected else text)


def prop_uint(elem: ET.Element, attr: str, *, required: bool = False, nonzero: bool = False,
              base: int = 10, wide: bool = False) -> int | None:
    """An unsigned attribute as ``virXMLPropUInt`` reads it (None: absent and optional);
    with *wide*, as ``virXMLPropULongLong`` reads it (the same but for its 64 bits).

    :raises VirtError: libvirt's complaint about a missing, malformed or zero value."""
    value = elem.get(attr)
    if value is None:
        if required:
            raise _missing(elem, attr)
        return None
    number = c_number(value, base)
    limit = _ULLONG_MAX if wide else _UINT_MAX
    if number is None or number < 0 or number > limit or "-" in value:
        raise _invalid(elem, attr, value, "non-negative integer value")
    if nonzero and number == 0:
        raise VirtError.xml_error(
            ErrDomain.XML,
            f"Invalid value for attribute '{attr}' in element '{elem.tag}': "
            "Zero is not permitted")
    return number


def bitmap(elem: ET.Element, attr: str) -> set[int] | None:
    """A CPU or node set attribute as ``virBitmapParse`` reads it (None: absent).

    :raises VirtError: libvirt's complaint about a set it cannot read, or one naming a CPU
        or node from 16384 on."""
    value = elem.get(attr)
    if value is None:
        return None
    members = domcanon.parse_bitmap(value)
    if members is None:
        raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.NONE, "invalid argument: %s",
                            f"Failed to parse bitmap '{value}'")
    return members


def prop_int(elem: ET.Element, attr: str, *, required: bool = False) -> int | None:
    """A signed attribute as ``virXMLPropInt`` reads it (None: absent and optional)."""
    value = elem.get(attr)
    if value is None:
        if required:
            raise _missing(elem, attr)
        return None
    number = c_number(value, 10)
    if number is None or not -_INT_MAX - 1 <= number <= _INT_MAX:
        raise _invalid(elem, attr, value, "integer value")
    return number


def prop_enum(elem: ET.Element, attr: str, values: frozenset[str] | tuple[str, ...], *,
              required: bool = False) -> str | None:
    """An attribute from a fixed list, as ``virXMLPropEnum`` reads it (None: absent and
    optional)."""
    value = elem.get(attr)
    if value is None:
        if required:
            raise _missing(elem, attr)
        return None
    if value not in values:
        raise _invalid(elem, attr, value)
    return value


#: ``virXMLPropTristateSwitch``'s values ("default" is refused)
_ON_OFF = frozenset({"on", "off"})


def tristate(elem: ET.Element, attr: str = "state", *, required: bool = False) -> str | None:
    """An on/off attribute as ``virXMLPropTristateSwitch`` reads it."""
    return prop_enum(elem, attr, _ON_OFF, required=required)


_SUFFIXES = frozenset({"b", "bytes", "k", "kib", "kb", "m", "mib", "mb", "g", "gib", "gb",
                       "t", "tib", "tb", "p", "pib", "pb", "e", "eib", "eb"})


def scaled(elem: ET.Element) -> None:
    """A size element's unit, as ``virScaleInteger`` reads it."""
    unit = elem.get("unit")
    if unit is not None and unit.lower() not in _SUFFIXES:
        raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.NONE, "invalid argument: %s",
                            f"unknown suffix '{unit}'")


def _unsupported(text: str) -> VirtError:
    return VirtError.fmt(ErrCode.CONFIG_UNSUPPORTED, ErrDomain.DOMAIN,
                         "unsupported configuration: %s", text)


# --------------------------------------------------------------------------------------------
# <cpu>

_CPU_MODES = frozenset({"custom", "host-model", "host-passthrough", "maximum"})
_CPU_MATCHES = frozenset({"minimum", "exact", "strict"})
_CPU_CHECKS = frozenset({"none", "partial", "full"})
_CPU_FALLBACKS = frozenset({"allow", "forbid"})
_CPU_FEATURE_POLICIES = frozenset({"force", "require", "optional", "disable", "forbid"})
_CPU_CACHE_MODES = frozenset({"emulate", "passthrough", "disable"})
_CPU_PHYSADDR_MODES = frozenset({"emulate", "passthrough"})
_VENDOR_ID_LENGTH = 12


def _cpu_error(text: str, *, unsupported: bool = False) -> VirtError:
    if unsupported:
        return VirtError.fmt(ErrCode.CONFIG_UNSUPPORTED, ErrDomain.CPU,
                             "unsupported configuration: %s", text)
    return VirtError.xml_error(ErrDomain.CPU, text)


def check_cpu(cpu: ET.Element) -> None:
    """Refuse what libvirt's CPU definition parser refuses in a guest's ``<cpu>``, first
    things first."""
    mode = cpu.get("mode")
    if mode is not None and mode not in _CPU_MODES:
        raise _cpu_error(f"Invalid mode attribute '{mode}'", unsupported=True)
    mode = mode or "custom"
    if tristate(cpu, "migratable") is not None and mode not in ("host-passthrough",
                                                                  "maximum"):
        raise _cpu_error("Attribute migratable is only allowed for 'host-passthrough' / "
                         "'maximum' CPU mode", unsupported=True)
    prop_enum(cpu, "match", _CPU_MATCHES)
    prop_enum(cpu, "check", _CPU_CHECKS)
    model = cpu.find("model")
    if model is not None and mode != "host-passthrough":
        fallback = model.get("fallback")
        if fallback is not None and fallback not in _CPU_FALLBACKS:
            raise _cpu_error("Invalid fallback attribute", unsupported=True)
        vendor_id = model.get("vendor_id")
        if vendor_id is not None and len(vendor_id) != _VENDOR_ID_LENGTH:
            raise _cpu_error("vendor_id must be exactly 12 characters long")
        if vendor_id is not None and "," in vendor_id:
            raise _cpu_error("vendor id is invalid")
    if cpu.find("vendor") is not None and model is None:
        raise _cpu_error("CPU vendor specified without CPU model")
    topology = cpu.find("topology")
    if topology is not None:
        prop_uint(topology, "sockets", required=True, nonzero=True)
        prop_uint(topology, "dies", nonzero=True)
        prop_uint(topology, "cores", required=True, nonzero=True)
        prop_uint(topology, "threads", required=True, nonzero=True)
    features = cpu.findall("feature")
    if features and model is None and mode == "custom":
        raise _cpu_error("Non-empty feature list specified without CPU model")
    names: set[str] = set()
    for feature in features:
        policy = feature.get("policy")
        if policy is not None and policy not in _CPU_FEATURE_POLICIES:
            raise _cpu_error("Invalid CPU feature policy", unsupported=True)
        name = feature.get("name")
        if not name:
            raise _cpu_error("Invalid CPU feature name")
        if name in names:
            raise _cpu_error(f"CPU feature '{name}' specified more than once")
        names.add(name)
    caches = cpu.findall("cache")
    if len(caches) > 1:
        raise _cpu_error("at most one CPU cache element may be specified")
    if caches:
        prop_int(caches[0], "level")
        prop_enum(caches[0], "mode", _CPU_CACHE_MODES, required=True)
    physaddr = cpu.find("maxphysaddr")
    if physaddr is not None:
        prop_enum(physaddr, "mode", _CPU_PHYSADDR_MODES, required=True)
        prop_int(physaddr, "bits")


# --------------------------------------------------------------------------------------------
# <features>

#: the Hyper-V enlightenments libvirt 9.0 knows
_HYPERV = frozenset({"relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer",
                     "reset", "vendor_id", "frequencies", "reenlightenment", "tlbflush", "ipi",
                     "evmcs", "avic"})
_HYPERV_MODES = frozenset({"custom", "passthrough"})
#: the fewest spinlock retries Hyper-V takes
_MIN_SPINLOCK_RETRIES = 0xFFF


def _hyperv(elem: ET.Element) -> None:
    prop_enum(elem, "mode", _HYPERV_MODES)
    for child in elem:
        if child.tag not in _HYPERV:
            raise _unsupported(f"unsupported HyperV Enlightenment feature: {child.tag}")
        if tristate(child, required=True) != "on":
            continue
        if child.tag == "stimer":
            for sub in child:
                if sub.tag != "direct":
                    raise _unsupported(f"unsupported Hyper-V stimer feature: {sub.tag}")
                tristate(sub, required=True)
        elif child.tag == "spinlocks":
            retries = prop_uint(child, "retries", required=True, base=0)
            if retries is not None and retries < _MIN_SPINLOCK_RETRIES:
                raise VirtError.xml_error(
                    ErrDomain.DOMAIN,
                    f"HyperV spinlock retry count must be at least {_MIN_SPINLOCK_RETRIES}")
        elif child.tag == "vendor_id":
            value = child.get("value")
            if value is None:
                raise VirtError.xml_error(
                    ErrDomain.DOMAIN, "missing 'value' attribute for HyperV feature 'vendor_id'")
            if len(value) > _VENDOR_ID_LENGTH:
                raise VirtError.xml_error(
                    ErrDomain.DOMAIN, "HyperV vendor_id value must not be more than "
                    f"{_VENDOR_ID_LENGTH} characters.")
            if "," in value:
                raise VirtError.xml_error(ErrDomain.DOMAIN, "HyperV vendor_id value is invalid")


_KVM = frozenset({"hidden", "hint-dedicated", "poll-control", "pv-ipi", "dirty-ring"})
_DIRTY_RING_SIZES = range(1024, 65536 + 1)


def _kvm(elem: ET.Element) -> None:
    for child in elem:
        if child.tag not in _KVM:
            raise _unsupported(f"unsupported KVM feature: {child.tag}")
        if tristate(child, required=True) == "on" and child.tag == "dirty-ring":
            size = prop_uint(child, "size", required=True)
            if size is None or size not in _DIRTY_RING_SIZES or size & (size - 1):
                raise VirtError.xml_error(
                    ErrDomain.DOMAIN, "dirty ring must be power of 2 and ranges [1024, 65536]")


_XEN = frozenset({"e820_host", "passthrough"})
_XEN_PASSTHROUGH_MODES = frozenset({"sync_pt", "share_pt"})


def _xen(elem: ET.Element) -> None:
    for child in elem:
        if child.tag not in _XEN:
            raise _unsupported(f"unsupported Xen feature: {child.tag}")
        if tristate(child, required=True) == "on" and child.tag == "passthrough":
            prop_enum(child, "mode", _XEN_PASSTHROUGH_MODES)


#: the capabilities a container's capability policy names (Linux capabilities)
_CAPABILITIES = frozenset({
    "audit_control", "audit_write", "block_suspend", "chown", "dac_override",
    "dac_read_search", "fowner", "fsetid", "ipc_lock", "ipc_owner", "kill", "lease",
    "linux_immutable", "mac_admin", "mac_override", "mknod", "net_admin", "net_bind_service",
    "net_broadcast", "net_raw", "setgid", "setfcap", "setpcap", "setuid", "sys_admin",
    "sys_boot", "sys_chroot", "sys_module", "sys_nice", "sys_pacct", "sys_ptrace",
    "sys_rawio", "sys_resource", "sys_time", "sys_tty_config", "syslog", "wake_alarm"})


def _capabilities(elem: ET.Element) -> None:
    prop_enum(elem, "policy", frozenset({"default", "allow", "deny"}))
    for child in elem:
        if child.tag not in _CAPABILITIES:
            raise _unsupported(f"unexpected capability feature '{child.tag}'")
        tristate(child)


def _state(elem: ET.Element) -> None:
    tristate(elem)


def _smm(elem: ET.Element) -> None:
    if tristate(elem) in (None, "on"):
        tseg = elem.find("tseg")
        if tseg is not None:
            scaled(tseg)


def _tcg(elem: ET.Element) -> None:
    cache = elem.find("tb-cache")
    if cache is not None:
        scaled(cache)


def _hpt(elem: ET.Element) -> None:
    prop_enum(elem, "resizing", frozenset({"enabled", "disabled", "required"}))
    size = elem.find("maxpagesize")
    if size is not None and (size.get("unit") or "KiB").lower() not in _SUFFIXES:
        raise _unsupported("Unable to parse HPT maxpagesize setting")


def _attr(attr: str, values: str, *, required: bool = False) -> Callable[[ET.Element], None]:
    known = frozenset(values.split())

    def read(elem: ET.Element) -> None:
        prop_enum(elem, attr, known, required=required)
    return read


def _nothing(_elem: ET.Element) -> None:
    """A feature that is on by being there: nothing more is read."""


_SECURITY_FIX = "broken workaround fixed"

#: each feature libvirt 9.0 knows, with what its reader refuses
_FEATURES: Mapping[str, Callable[[ET.Element], None]] = {
    **dict.fromkeys(("acpi", "pae", "viridian", "privnet"), _nothing),
    **dict.fromkeys(("hap", "pmu", "vmport", "vmcoreinfo", "htm", "nested-hv", "ccf-assist",
                     "pvspinlock"), _state),
    "apic": _attr("eoi", "on off"),
    "hyperv": _hyperv,
    "kvm": _kvm,
    "xen": _xen,
    "capabilities": _capabilities,
    "smm": _smm,
    "tcg": _tcg,
    "hpt": _hpt,
    "gic": _attr("version", "host 2 3"),
    "ioapic": _attr("driver", "kvm qemu"),
    "msrs": _attr("unknown", "ignore fault", required=True),
    "cfpc": _attr("value", _SECURITY_FIX),
    "sbbc": _attr("value", _SECURITY_FIX),
    "ibs": _attr("value", "broken workaround fixed-ibs fixed-ccd fixed-na"),
}


def check_features(features: ET.Element) -> None:
    """Refuse what libvirt's parser refuses in ``<features>``: the features in document
    order, each read in full before the next."""
    for child in features:
        reader = _FEATURES.get(child.tag)
        if reader is None:
            raise _unsupported(f"unexpected feature '{child.tag}'")
        reader(child)


# --------------------------------------------------------------------------------------------
# the other sections outside the devices, in the order libvirt reads them

def _xml_error(text: str) -> VirtError:
    return VirtError.xml_error(ErrDomain.DOMAIN, text)


def scaled_value(elem: ET.Element, xpath: str, value: str | None, unit: str | None, *,
                 required: bool = False, memory: bool = False) -> None:
    """A scaled size as ``virDomainParseScaledValue`` reads it (*xpath* names it in the
    complaints); with *memory*, a memory size as ``virDomainParseMemory`` takes it."""
    if value is None:
        if required:
            raise VirtError.xml_error(ErrDomain.XML,
                                      f"missing element or attribute '{xpath}'")
        return
    number = c_number(value)
    if number is None or "-" in value or number >= 2**64:
        raise VirtError.xml_error(ErrDomain.XML,
                                  f"Invalid value '{value}' for element or attribute '{xpath}'")
    if unit is not None and unit.lower() not in _SUFFIXES:
        raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.NONE, "invalid argument: %s",
                            f"unknown suffix '{unit}'")
    if memory:
        check_memory_overflow(number, unit)


_UUID_TEXT = re.compile(r"[ \t\n\v\f\r]*(?:[- ]*[0-9a-fA-F]{2}){16}[ \t\n\v\f\r]*")


def check_ids(root: ET.Element) -> None:
    """The generation id, read with the name and the UUID."""
    genid = root.find("genid")
    text = "".join(genid.itertext()) if genid is not None else ""
    if genid is not None and text and not _UUID_TEXT.fullmatch(text):
        raise VirtError.internal_error(ErrDomain.DOMAIN, "malformed genid element")


def check_title(root: ET.Element) -> None:
    """The title: one line (read after the OS type)."""
    title = root.find("title")
    if title is not None and "\n" in "".join(title.itertext()):
        raise _xml_error("Domain title can't contain newlines")


_SECLABEL_TYPES = frozenset({"none", "dynamic", "static"})


def check_seclabels(root: ET.Element) -> None:
    """The domain's security labels: their types, and models when there are several."""
    labels = root.findall("seclabel")
    models: list[str | None] = []
    for label in labels:
        ltype = prop_enum(label, "type", _SECLABEL_TYPES)
        prop_enum(label, "relabel", frozenset({"yes", "no"}))
        if ltype == "static" and not (label.findtext("label") or "").strip():
            raise _xml_error("security label is missing")
        model = label.get("model")
        if model in models:
            text = f"seclabel for model {model or '(null)'} is already provided"
            raise VirtError(ErrCode.XML_DETAIL, ErrDomain.DOMAIN, text, str1="%s", str2=text)
        models.append(model)
    if len(labels) > 1 and None in models:
        raise _xml_error("missing security model when using multiple labels")


_MEMTUNE = ("hard_limit", "soft_limit", "swap_hard_limit", "min_guarantee")


def check_memory_sections(root: ET.Element) -> None:
    """What is read after the memory size: the memory slots, huge pages and tuning."""
    max_memory = root.find("maxMemory")
    if max_memory is not None:
        scaled_value(max_memory, "./maxMemory[1]", "".join(max_memory.itertext()) or None,
                     max_memory.get("unit"), memory=True)
    slots = max_memory.get("slots") if max_memory is not None else None
    if slots is not None and (c_number(slots) is None or "-" in slots):
        raise _xml_error("Failed to parse memory slot count")
    for page in root.findall("memoryBacking/hugepages/page"):
        scaled_value(page, "./@size", page.get("size"), page.get("unit"), required=True)
        bitmap(page, "nodeset")
    for name in _MEMTUNE:
        node = root.find(f"memtune/{name}")
        if node is not None:
            scaled_value(node, f"./memtune/{name}[1]", "".join(node.itertext()),
                         node.get("unit"))


_SCHEDULERS = frozenset({"other", "batch", "idle", "fifo", "rr"})


def _scheduler(elem: ET.Element, what: str | None) -> None:
    if what is not None and elem.get(what) is None:
        raise _xml_error(f"Missing attribute '{what}' in element '{elem.tag}'")
    if what is not None:
        bitmap(elem, what)
    if prop_enum(elem, "scheduler", _SCHEDULERS, required=True) in ("fifo", "rr"):
        prop_int(elem, "priority", required=True)


#: the numbers of the CPU tuning, in libvirt's reading order (and whether they are signed)
_CPUTUNE_NUMBERS = (("shares", False), ("period", False), ("quota", True),
                    ("global_period", False), ("global_quota", True),
                    ("emulator_period", False), ("emulator_quota", True),
                    ("iothread_period", False), ("iothread_quota", True))


def _iothread_ids(root: ET.Element) -> set[int]:
    """The domain's I/O thread ids: those listed, then the lowest free ones up to the count
    (as libvirt fills them in)."""
    ids = {c_number(t.get("id", "")) for t in root.findall("iothreadids/iothread")}
    numbers = {n for n in ids if n is not None}
    node = root.find("iothreads")
    count = c_number("".join(node.itertext())) if node is not None else None
    candidate = 1
    while count is not None and len(numbers) < count:
        if candidate not in numbers:
            numbers.add(candidate)
        candidate += 1
    return numbers


def _pinned(pin: ET.Element) -> None:
    if pin.get("cpuset") is None:
        raise VirtError.internal_error(ErrDomain.DOMAIN, f"missing cpuset for {pin.tag}")
    bitmap(pin, "cpuset")


def check_vcpu_sections(root: ET.Element) -> None:
    """What is read after the vCPU count: the vCPUs, the I/O threads, the CPU tuning."""
    for vcpu in root.findall("vcpus/vcpu"):
        prop_uint(vcpu, "id", required=True)
        prop_enum(vcpu, "enabled", frozenset({"yes", "no"}), required=True)
    iothreads = root.find("iothreads")
    text = "".join(iothreads.itertext()) if iothreads is not None else None
    count = c_number(text) if text is not None else None
    if text is not None and (count is None or "-" in text):
        raise _xml_error(f"invalid iothreads count '{text}'")
    if count is not None and count > MAX_IOTHREADS:
        # libvirt makes room for every IOThread at once (and fails on 2**32 - 1 of them);
        # no more than this many can be reported by virDomainGetIOThreadInfo anyway
        raise _unsupported(f"at most {MAX_IOTHREADS} IOThreads are supported ({count} given)")
    for node in root.findall("defaultiothread"):
        prop_int(node, "thread_pool_min")
        prop_int(node, "thread_pool_max")
    for thread in root.findall("iothreadids/iothread"):
        prop_uint(thread, "id", required=True, nonzero=True)
        prop_int(thread, "thread_pool_min")
        prop_int(thread, "thread_pool_max")
    for name, signed in _CPUTUNE_NUMBERS:
        tune = root.find(f"cputune/{name}")
        text = "".join(tune.itertext()) if tune is not None else None
        number = c_number(text) if text is not None else None
        if text is not None and (number is None or (not signed and number < 0)):
            raise _xml_error(f"can't parse cputune {name} value")
    for pin in root.findall("cputune/vcpupin"):
        prop_uint(pin, "vcpu", required=True)
        _pinned(pin)
    for pin in root.findall("cputune/emulatorpin"):
        _pinned(pin)
    threads = _iothread_ids(root)
    for pin in root.findall("cputune/iothreadpin"):
        thread_id = prop_uint(pin, "iothread", required=True)
        if thread_id not in threads:
            raise _unsupported(f"Cannot find 'iothread' : {thread_id}")
        _pinned(pin)
    for sched in root.findall("cputune/vcpusched"):
        _scheduler(sched, "vcpus")
    for sched in root.findall("cputune/iothreadsched"):
        _scheduler(sched, "iothreads")
    for sched in root.findall("cputune/emulatorsched"):
        _scheduler(sched, None)


_MEM_ACCESS = frozenset({"shared", "private"})


def check_numa(root: ET.Element, max_vcpus: int) -> None:
    """The guest NUMA cells (read after the CPU), then their vCPUs against the *max_vcpus*
    the domain has."""
    if root.find("cpu/numa") is not None and root.find("cpu/numa/cell") is None:
        raise _xml_error("NUMA topology defined without NUMA cells")
    # each cell's vCPUs (cells naming none left out) by cell number, and the cell each vCPU
    # is in (so that a cell is compared with those before it in one pass over its vCPUs)
    cpus: dict[int, set[int]] = {}
    owner: dict[int, int] = {}
    seen: set[int] = set()
    for n, cell in enumerate(root.findall("cpu/numa/cell")):
        cell_id = prop_uint(cell, "id")
        number = n if cell_id is None else cell_id
        members = bitmap(cell, "cpus")
        if members:
            # libvirt names the lowest-numbered cell read before it that shares a vCPU
            shared = {owner[c] for c in members if c in owner} - {number}
            if shared:
                raise VirtError.fmt(
                    ErrCode.CONFIG_UNSUPPORTED, ErrDomain.DOMAIN,
                    "unsupported configuration: %s",
                    f"NUMA cells {number} and {min(shared)} have overlapping vCPU ids")
            cpus[number] = members
            owner.update(dict.fromkeys(members, number))
        scaled_value(cell, "./@memory", cell.get("memory"), cell.get("unit"), required=True,
                     memory=True)
        prop_enum(cell, "memAccess", _MEM_ACCESS)
        if number in seen:
            raise _xml_error(f"Duplicate NUMA cell info for cell id '{number}'")
        seen.add(number)
    if sum(len(members) for members in cpus.values()) > max_vcpus:
        raise VirtError.internal_error(ErrDomain.DOMAIN,
                                       "Number of CPUs in <numa> exceeds the <vcpu> count")
    if max((max(members) for members in cpus.values()), default=0) >= max_vcpus:
        raise VirtError.internal_error(ErrDomain.DOMAIN,
                                       "CPU IDs in <numa> exceed the <vcpu> count")


_NUMATUNE_MODES = frozenset({"strict", "preferred", "interleave", "restrictive"})


def check_numatune(root: ET.Element) -> None:
    """The host NUMA tuning's memory mode."""
    memory = root.find("numatune/memory")
    mode = memory.get("mode") if memory is not None else None
    if mode is not None and mode not in _NUMATUNE_MODES:
        raise _unsupported(f"Unsupported NUMA memory tuning mode '{mode}'")
    if memory is not None:
        bitmap(memory, "nodeset")
    for memnode in root.findall("numatune/memnode"):
        bitmap(memnode, "nodeset")
    if root.find("numatune/memnode") is not None and root.find("cpu/numa/cell") is None:
        raise _xml_error("Element 'memnode' is invalid without any guest NUMA cells")


def check_pm(root: ET.Element) -> None:
    """The power management switches (read after the lifecycle actions)."""
    for tag in ("suspend-to-mem", "suspend-to-disk"):
        node = root.find(f"pm/{tag}")
        if node is not None:
            prop_enum(node, "enabled", frozenset({"yes", "no"}))


_CLOCK_OFFSETS = frozenset({"utc", "localtime", "variable", "timezone", "absolute"})
_TIMERS = frozenset({"platform", "pit", "rtc", "hpet", "tsc", "kvmclock", "hypervclock",
                     "armvtimer"})


def check_clock(root: ET.Element) -> None:
    """The clock's offset, then its timers' names."""
    clock = root.find("clock")
    if clock is None:
        return
    offset = clock.get("offset")
    if offset is not None and offset not in _CLOCK_OFFSETS:
        raise _unsupported(f"unknown clock offset '{offset}'")
    for timer in clock.findall("timer"):
        prop_enum(timer, "name", _TIMERS, required=True)


_BOOT_DEVICES = frozenset({"fd", "cdrom", "hd", "network"})


def check_boot_devices(root: ET.Element) -> None:
    """An HVM guest's boot devices (read after the clock)."""
    for boot in root.findall("os/boot"):
        prop_enum(boot, "dev", _BOOT_DEVICES, required=True)


_PERF_EVENTS = frozenset({
    "cmt", "mbmt", "mbml", "cpu_cycles", "instructions", "cache_references", "cache_misses",
    "branch_instructions", "branch_misses", "bus_cycles", "stalled_cycles_frontend",
    "stalled_cycles_backend", "ref_cpu_cycles", "cpu_clock", "task_clock", "page_faults",
    "context_switches", "cpu_migrations", "page_faults_min", "page_faults_maj",
    "alignment_faults", "emulation_faults"})


def check_perf(root: ET.Element) -> None:
    """The performance events (read after the power management)."""
    for event in root.findall("perf/event"):
        prop_enum(event, "name", _PERF_EVENTS, required=True)
        prop_enum(event, "enabled", frozenset({"yes", "no"}), required=True)


def check_idmap(root: ET.Element) -> None:
    """A container's id maps' numbers (read after the devices)."""
    entries = root.findall("idmap/uid") + root.findall("idmap/gid")
    for entry in entries:
        for attr in ("start", "target", "count"):
            value = entry.get(attr)
            if value is None or c_number(value) is None:
                raise _xml_error("invalid idmap start/target/count settings")


def check_idmap_pairs(root: ET.Element) -> None:
    """Users and groups are mapped both (checked last, once the devices are validated)."""
    if root.find("idmap") is not None and (not root.findall("idmap/uid")
                                           or not root.findall("idmap/gid")):
        raise _unsupported("uid and gid should be mapped both")


def check_firmware(root: ET.Element) -> None:
    """A loader or NVRAM store needs a loader path, unless the firmware is selected
    automatically (checked as the definition is validated)."""
    os_elem = root.find("os")
    if os_elem is None or os_elem.get("firmware"):
        return
    loader = os_elem.find("loader")
    if (loader is not None or os_elem.find("nvram") is not None) and not (
            loader is not None and "".join(loader.itertext())):
        text = "no loader path specified and firmware auto selection disabled"
        raise VirtError(ErrCode.XML_DETAIL, ErrDomain.DOMAIN, text, str1="%s", str2=text)


def check_keywrap(root: ET.Element) -> None:
    """The key wrapping ciphers (read last)."""
    for cipher in root.findall("keywrap/cipher"):
        prop_enum(cipher, "name", frozenset({"aes", "dea"}), required=True)
        tristate(cipher, required=True)
