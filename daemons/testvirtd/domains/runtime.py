"""What the test driver answers about a domain's guest and resources: statistics, block and
interface counters, the guest clock, filesystems, addresses, vCPUs and their pinning,
memory peeks, keys and signals, and the ``connectGetAllDomainStats`` records.

Values are the test driver's: constants, or numbers derived from the wall clock in
microseconds (``g_get_real_time``) where it derives them, so they cannot be compared
exactly.  Errors carry its codes, domains and texts; flags are refused as its
``virCheckFlags`` masks refuse them (naming only the unsupported bits).

:class:`DomainRuntime` works on :class:`~.model.Domains` through
:meth:`~.model.Domains.access`; it keeps per-domain data in ``DomainRecord.priv``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

from ..domcanon import format_members, parse_bitmap
from ..domxml import DomainDef, ErrCode, ErrDomain, VirtError
from .model import DomainKey, DomainRecord, DomainRef, Domains, DomainState

__all__ = (
    "AFFECT_CONFIG",
    "AFFECT_LIVE",
    "HOST_CPUS",
    "DomainRuntime",
    "TypedParam",
    "check_flags",
    "not_running",
    "select_def",
)

AFFECT_LIVE: Final = 1
AFFECT_CONFIG: Final = 2
TYPED_PARAM_STRING_OKAY: Final = 4

#: VIR_NODEINFO_MAXCPUS of the test host (2 nodes x 2 sockets x 2 cores x 2 threads)
HOST_CPUS: Final = 16
#: nodeInfo.cores of the test host
HOST_CORES: Final = 2

#: the guest clock of a new domain object (seconds since the epoch)
INITIAL_TIME: Final = 627319920

TOTAL_CPU_TIME: Final = 48772617035

#: (name, type, value); types as ``virTypedParameterType`` (1 int ... 7 string)
TypedParam = tuple[str, int, Any]

T_INT, T_UINT, T_LLONG, T_ULLONG, T_DOUBLE, T_BOOLEAN, T_STRING = range(1, 8)

#: virDomainProcessSignal: VIR_DOMAIN_PROCESS_SIGNAL_LAST
PROCESS_SIGNAL_LAST: Final = 65
#: VIR_KEYCODE_SET_LAST
KEYCODE_SETS: Final = ("linux", "xt", "atset1", "atset2", "atset3", "os_x", "xt_kbd",
                       "usb", "win32", "qnum")

#: virConnectGetAllDomainStats flags the test driver knows
STATS_ACTIVE = 1
STATS_INACTIVE = 2
STATS_PERSISTENT = 4
STATS_TRANSIENT = 8
STATS_RUNNING = 16
STATS_PAUSED = 32
STATS_SHUTOFF = 64
STATS_OTHER = 128
STATS_NOWAIT = 1 << 29
STATS_BACKING = 1 << 30
STATS_ENFORCE = 1 << 31
STATS_FILTERS = 0xFF
#: VIR_DOMAIN_STATS_*: the groups libvirt knows (the test driver fills state and iothread)
STATS_GROUP_STATE = 1
STATS_GROUP_IOTHREAD = 128
STATS_GROUPS_KNOWN = 0x3FFF


def check_flags(function: str, flags: int, allowed: int) -> None:
    """``virCheckFlags(allowed)`` of the test driver's *function*."""
    bad = flags & ~allowed
    if bad:
        raise VirtError.bad_flags(function, bad)


def not_running() -> VirtError:
    """``virDomainObjCheckActive``'s error."""
    return VirtError.invalid(ErrDomain.DOMAIN, "domain is not running")


#: 256 bytes of guest memory, as memory_peek reads it
_PEEK_PATTERN: Final = bytes(range(256))


def exclusive(flag1: str, flag2: str, function: str = "virDomainObjGetOneDefState",
              arg: str = "flags") -> VirtError:
    """What libvirt says about two mutually exclusive flags (``virReportInvalidArg`` of
    *arg* in *function*: by default the driver's helper picking the definition to use)."""
    return VirtError.api_invalid_arg(ErrDomain.DOMAIN, function, arg,
                                     f"Flags '{flag1}' and '{flag2}' are mutually exclusive")


def select_def(d: DomainRecord, flags: int) -> tuple[DomainDef, bool]:
    """``virDomainObjGetOneDefState``: the live or the persistent definition *flags*
    (AFFECT_LIVE / AFFECT_CONFIG / neither: current) name, and whether it is the live one.

    The persistent definition of a running domain is copied on first use, so changing it
    does not change the live one.
    """
    if flags & AFFECT_LIVE and flags & AFFECT_CONFIG:
        raise exclusive("VIR_DOMAIN_AFFECT_LIVE", "VIR_DOMAIN_AFFECT_CONFIG")
    live = update_impact(d, flags)
    if live & AFFECT_LIVE:
        return d.defn, True
    return persistent_def(d), False


def update_impact(d: DomainRecord, flags: int) -> int:
    """``virDomainObjUpdateModificationImpact``: *flags* with "current" resolved."""
    if not flags & (AFFECT_LIVE | AFFECT_CONFIG):
        flags |= AFFECT_LIVE if d.active else AFFECT_CONFIG
    if not d.active and flags & AFFECT_LIVE:
        raise not_running()
    if not d.persistent and flags & AFFECT_CONFIG:
        raise VirtError.invalid(ErrDomain.DOMAIN,
                                "transient domains do not have any persistent config")
    return flags


def select_defs(d: DomainRecord, flags: int) -> tuple[DomainDef | None, DomainDef | None]:
    """``virDomainObjGetDefs``: (live, persistent), each None when *flags* leave it out."""
    flags = update_impact(d, flags)
    live = d.defn if flags & AFFECT_LIVE else None
    config = persistent_def(d) if flags & AFFECT_CONFIG else None
    return live, config


def persistent_def(d: DomainRecord) -> DomainDef:
    """The persistent definition (a running domain's pending copy, made on first use)."""
    if not d.active:
        return d.defn
    if d.new_defn is None:
        d.new_defn = d.defn.copy()
    return d.new_defn


def priv(d: DomainRecord) -> dict[str, Any]:
    """The test driver's private data of a domain object (created on first use)."""
    p: dict[str, Any] = d.priv
    if not p:
        p.update(frozen=[False, False], seconds=INITIAL_TIME, nseconds=0, iothreads=[])
    return p


def now_us() -> int:
    """``g_get_real_time()``: the wall clock in microseconds."""
    return time.time_ns() // 1000


def disk_targets(defn: DomainDef) -> list[tuple[str, Any]]:
    """(target dev, element) of each disk, in device order."""
    out = []
    for dev in defn.devices:
        if dev.tag == "disk":
            target = dev.find("target")
            out.append((target.get("dev", "") if target is not None else "", dev))
    return out


def disk_source(dev: Any) -> str | None:
    """A disk's source path (file, dev, dir or volume name), if any."""
    src = dev.find("source")
    if src is None:
        return None
    for attr in ("file", "dev", "dir", "name", "volume"):
        if src.get(attr):
            return str(src.get(attr))
    return None


def find_disk(defn: DomainDef, path: str) -> Any | None:
    """``virDomainDiskByName``: a disk by target name or source path."""
    for target, dev in disk_targets(defn):
        if target == path:
            return dev
    for _target, dev in disk_targets(defn):
        if disk_source(dev) == path:
            return dev
    return None


def interfaces(defn: DomainDef) -> list[Any]:
    """The interface elements, in device order."""
    return [dev for dev in defn.devices if dev.tag == "interface"]


def find_net(defn: DomainDef, device: str) -> Any:
    """``virDomainNetFind``: by MAC address (when *device* parses as one) or by target
    device name."""
    is_mac = _parse_mac(device)
    for dev in interfaces(defn):
        if is_mac is not None:
            mac = dev.find("mac")
            if mac is not None and _parse_mac(mac.get("address", "")) == is_mac:
                return dev
        else:
            target = dev.find("target")
            if target is not None and target.get("dev") == device:
                return dev
    raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.DOMAIN, "invalid argument: %s",
                        f"'{device}' is not a known interface")


def _parse_mac(text: str) -> bytes | None:
    parts = text.split(":")
    if len(parts) != 6:
        return None
    try:
        raw = bytes(int(p, 16) for p in parts)
    except ValueError:
        return None
    if any(len(p) > 2 or not p for p in parts):
        return None
    return raw


def cpumap_bytes(cpus: Sequence[int], maplen: int) -> bytes:
    """A CPU bitmap of *maplen* bytes with *cpus* set."""
    buf = bytearray(maplen)
    for cpu in cpus:
        if 0 <= cpu < maplen * 8:
            buf[cpu // 8] |= 1 << (cpu % 8)
    return bytes(buf)


def parse_cpuset(text: str) -> list[int]:
    """libvirt's cpuset syntax ("0-3,^2,5") as sorted CPU numbers (none for a set libvirt
    cannot read: definitions only hold sets it can)."""
    return sorted(parse_bitmap(text) or ())


def format_cpuset(cpus: Sequence[int]) -> str:
    """CPU numbers in libvirt's compact syntax ("0-2,5")."""
    return format_members(cpus)


def cpus_from_map(cpumap: bytes) -> list[int]:
    """The CPUs set in a bitmap."""
    return [i for i in range(len(cpumap) * 8) if cpumap[i // 8] >> (i % 8) & 1]


class DomainRuntime:
    """Statistics, guest operations and per-domain data of the test driver.

    :param domains: the domains of the driver instance.
    :param network_ip: resolves a network name to (first DHCP range start or address,
        prefix, is_ipv6) for interface addresses; None when there is no such network.
    """

    def __init__(self, domains: Domains, network_ip: Any = None) -> None:
        self.domains = domains
        self.network_ip = network_ip

    # ------------------------------------------------------------------ simple queries

    def control_info(self, key: DomainKey, flags: int) -> tuple[int, int, int]:
        """``virDomainGetControlInfo``: always OK."""
        check_flags("testDomainGetControlInfo", flags, 0)
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            return 0, 0, 0

    def block_stats(self, key: DomainKey, path: str) -> tuple[int, ...]:
        """``virDomainBlockStats``: counters from the wall clock."""
        if not path:
            raise VirtError.fmt(84, ErrDomain.TEST, "Operation not supported: %s",
                                "summary statistics are not supported yet")
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            if not any(t == path for t, _ in disk_targets(d.defn)) and not any(
                disk_source(dev) == path for _, dev in disk_targets(d.defn)
            ):
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                    "invalid argument: %s", f"invalid path: {path}")
            base = now_us()
            return base // 10, base // 20, base // 30, base // 40, base // 2_000_000

    def block_info(self, key: DomainKey, path: str, flags: int) -> tuple[int, int, int]:
        """``virDomainGetBlockInfo``: (allocation, capacity, physical): the test driver
        reports 1 TiB allocated and physical, a little less as capacity."""
        check_flags("testDomainGetBlockInfo", flags, 0)
        with self.domains.access(key) as d:
            if find_disk(d.defn, path) is None:
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                    "invalid argument: %s",
                                    f"invalid path {path} not assigned to domain")
            size = 1099511627776
            return size, size - 5177344, size

    def interface_stats(self, key: DomainKey, device: str) -> tuple[int, ...]:
        """``virDomainInterfaceStats``: counters from the wall clock."""
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            find_net(d.defn, device)
            base = now_us()
            return (base // 10, base // 100, base // 1_000_000, base // 2_000_000,
                    base // 20, base // 110, base // 3_000_000, base // 4_000_000)

    def memory_stats(self, key: DomainKey, max_stats: int, flags: int) -> list[tuple[int, int]]:
        """``virDomainMemoryStats``: (tag, value) pairs, at most *max_stats*."""
        check_flags("testDomainMemoryStats", flags, 0)
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            cur = d.defn.current_memory_kib
            stats = [
                (6, cur),          # actual balloon
                (0, 0), (1, 0),    # swap in / out
                (2, 0), (3, 0),    # major / minor faults
                (4, cur // 2),     # unused
                (5, cur),          # available
                (8, cur // 2),     # usable
                (9, INITIAL_TIME),  # last update
                (10, cur // 8),    # disk caches
                (11, 0), (12, 0),  # hugetlb alloc / fail
                (7, cur // 2),     # rss
            ]
            return stats[:max_stats]

    def cpu_stats(
        self, key: DomainKey, nparams: int, start_cpu: int, ncpus: int, flags: int
    ) -> tuple[list[TypedParam], int]:
        """``virDomainGetCPUStats``: (params, the returned count)."""
        check_flags("testDomainGetCPUStats", flags, TYPED_PARAM_STRING_OKAY)
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
        if start_cpu == -1:
            if nparams == 0:
                return [], 3
            full = [("cpu_time", T_ULLONG, TOTAL_CPU_TIME),
                    ("user_time", T_ULLONG, 5540000000),
                    ("system_time", T_ULLONG, 6460000000)]
            got = full[:max(1, min(nparams, 3))]
            return got, len(got)
        total = HOST_CORES
        if nparams == 0 and ncpus != 0:
            return [], 2
        if ncpus == 0:
            return [], total
        if start_cpu >= total:
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                                f"start_cpu {start_cpu} larger than maximum of {total - 1}")
        percpu = TOTAL_CPU_TIME // total
        need = min(total, start_cpu + ncpus)
        per = min(nparams, 2)
        params: list[TypedParam] = []
        for cpu in range(start_cpu, need):
            row: list[TypedParam] = [("cpu_time", T_ULLONG, percpu + cpu)]
            if per > 1:
                row.append(("vcpu_time", T_ULLONG, percpu + cpu - 1234567890))
            params.extend(row)
        return params, per

    def disk_errors(
        self, key: DomainKey, maxerrors: int, flags: int
    ) -> list[tuple[str, int]] | int:
        """``virDomainGetDiskErrors``: (disk, error) pairs, or the disk count when
        *maxerrors* is 0."""
        check_flags("testDomainGetDiskErrors", flags, 0)
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            disks = [t for t, _ in disk_targets(d.defn)]
            if maxerrors == 0:
                return len(disks)
            return [(name, (i % 2) + 1) for i, name in enumerate(disks[:maxerrors])]

    def get_time(self, key: DomainKey, flags: int) -> tuple[int, int]:
        """``virDomainGetTime``: the guest clock the domain keeps (set with set_time)."""
        check_flags("testDomainGetTime", flags, 0)
        with self.domains.access(key) as d:
            if not d.active:
                raise VirtError.invalid(ErrDomain.TEST, "domain is not running")
            p = priv(d)
            return p["seconds"], p["nseconds"]

    def set_time(self, key: DomainKey, seconds: int, nseconds: int, flags: int) -> None:
        """``virDomainSetTime``: stores the values (SYNC accepted)."""
        check_flags("testDomainSetTime", flags, 1)
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            p = priv(d)
            p["seconds"], p["nseconds"] = seconds, nseconds

    def hostname(self, key: DomainKey, flags: int) -> str:
        """``virDomainGetHostname``."""
        check_flags("testDomainGetHostname", flags, 0)
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            return "testhost"

    def fs_info(self, key: DomainKey, flags: int) -> list[tuple[str, str, str, list[str]]]:
        """``virDomainGetFSInfo``: "/" and "/boot" on the first disk of device "disk"."""
        check_flags("testDomainGetFSInfo", flags, 0)
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            for target, dev in disk_targets(d.defn):
                if dev.get("device", "disk") == "disk":
                    return [("/", f"{target}1", "ext4", [target]),
                            ("/boot", f"{target}2", "ext4", [target])]
            return []

    def interface_addresses(
        self, key: DomainKey, source: int, flags: int
    ) -> list[tuple[str, str, list[tuple[int, str, int]]]]:
        """``virDomainInterfaceAddresses``: one made-up address per interface."""
        check_flags("testDomainInterfaceAddresses", flags, 0)
        if source >= 3:
            raise VirtError.fmt(ErrCode.ARGUMENT_UNSUPPORTED, ErrDomain.TEST,
                                "argument unsupported: %s",
                                f"Unknown IP address data source {source}")
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            out = []
            for i, dev in enumerate(interfaces(d.defn)):
                target = dev.find("target")
                name = target.get("dev", "") if target is not None else ""
                mac_elem = dev.find("mac")
                mac = mac_elem.get("address", "") if mac_elem is not None else ""
                if dev.get("type") == "network":
                    src = dev.find("source")
                    network = src.get("network", "") if src is not None else ""
                    offset = 20 * (d.id - 1) + i + 1
                    if self.network_ip is None:
                        raise _no_network(network)
                    start, prefix, ipv6 = self.network_ip(network)
                    addr = _offset_ip(start, offset, ipv6)
                    out.append((name, mac.lower(), [(1 if ipv6 else 0, addr, prefix)]))
                else:
                    out.append((name, mac.lower(), [(0, f"192.168.0.{1 + i}", 24)]))
            return out

    def launch_security_info(self, key: DomainKey, flags: int) -> list[TypedParam]:
        """``virDomainGetLaunchSecurityInfo``: nothing (libvirt's clients always pass the
        typed-string flag, which the test driver refuses)."""
        check_flags("testDomainGetLaunchSecurityInfo", flags, 0)
        return []

    def vcpus(
        self, key: DomainKey, maxinfo: int, maplen: int
    ) -> tuple[list[tuple[int, int, int, int]], bytes]:
        """``virDomainGetVcpus``: (number, state, cpu time, cpu) per online vCPU, and their
        affinity maps."""
        with self.domains.access(key) as d:
            if not d.active:
                raise VirtError.invalid(ErrDomain.TEST,
                                        "cannot list vcpus for an inactive domain")
            base = now_us()
            count = min(maxinfo, current_vcpus(d.defn))
            info = []
            maps = bytearray()
            for i in range(count):
                cpus = vcpu_affinity(d.defn, i)
                info.append((i, 1, base // 10, max(cpus) if cpus else -1))
                maps += cpumap_bytes(cpus, maplen)
            return info, bytes(maps)

    def vcpus_flags(self, key: DomainKey, flags: int) -> int:
        """``virDomainGetVcpusFlags``."""
        check_flags("testDomainGetVcpusFlags", flags, AFFECT_LIVE | AFFECT_CONFIG | 4)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            if flags & 4:
                return defn.vcpus
            return current_vcpus(defn)

    def vcpu_pin_info(
        self, key: DomainKey, ncpumaps: int, maplen: int, flags: int
    ) -> tuple[bytes, int]:
        """``virDomainGetVcpuPinInfo``: one map per vCPU (up to *ncpumaps*)."""
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            n = min(ncpumaps, defn.vcpus)
            maps = b"".join(cpumap_bytes(vcpu_affinity(defn, i), maplen) for i in range(n))
            return maps, n

    def emulator_pin_info(self, key: DomainKey, maplen: int, flags: int) -> bytes:
        """``virDomainGetEmulatorPinInfo``."""
        check_flags("testDomainGetEmulatorPinInfo", flags, AFFECT_LIVE | AFFECT_CONFIG)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            pin = _cputune_child(defn, "emulatorpin")
            if pin is not None and pin.get("cpuset"):
                cpus = parse_cpuset(pin.get("cpuset", ""))
            elif defn.vcpu_attrs.get("cpuset"):
                cpus = parse_cpuset(defn.vcpu_attrs["cpuset"])
            else:
                cpus = list(range(HOST_CPUS))
            return cpumap_bytes(cpus, maplen)

    def memory_peek(self, key: DomainKey, offset: int, size: int, flags: int) -> bytes:
        """``virDomainMemoryPeek``: byte i of the guest's memory is i mod 256."""
        check_flags("testDomainMemoryPeek", flags, 1 | 2)
        if flags not in (1, 2):  # (both: refused by the API entry point before)
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                                "flags parameter must be VIR_MEMORY_VIRTUAL or "
                                "VIR_MEMORY_PHYSICAL")
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            start = offset % 256
            return (_PEEK_PATTERN * (size // 256 + 2))[start:start + size]

    def send_key(self, key: DomainKey, codeset: int, holdtime: int, keycodes: Sequence[int],
                 flags: int) -> None:
        """``virDomainSendKey``: keycodes must exist in the codeset."""
        check_flags("testDomainSendKey", flags, 0)
        if codeset >= len(KEYCODE_SETS):
            raise VirtError(ErrCode.INVALID_ARG, ErrDomain.DOMAIN,
                            f"Unsupported codeset '{codeset}'")
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            for code in keycodes:
                if not _keycode_valid(codeset, code):
                    raise VirtError.internal_error(
                        ErrDomain.TEST,
                        f"invalid keycode {code} of {KEYCODE_SETS[codeset]} codeset")

    def send_process_signal(self, key: DomainKey, pid: int, signum: int, flags: int) -> None:
        """``virDomainSendProcessSignal``: pid 1 only, signal numbers in range."""
        check_flags("testDomainSendProcessSignal", flags, 0)
        if pid != 1:
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                                "only sending a signal to pid 1 is supported")
        if signum >= PROCESS_SIGNAL_LAST:
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                                f"signum value {signum} is out of range")
        with self.domains.access(key):
            pass

    def inject_nmi(self, key: DomainKey, flags: int) -> None:
        """``virDomainInjectNMI``: needs a running domain."""
        check_flags("testDomainInjectNMI", flags, 0)
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()

    def set_user_password(self, key: DomainKey, flags: int) -> None:
        """``virDomainSetUserPassword``: accepted for running domains (ENCRYPTED allowed)."""
        check_flags("testDomainSetUserPassword", flags, 1)
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()

    def fs_freeze(self, key: DomainKey, mountpoints: Sequence[str], flags: int,
                  thaw: bool = False) -> int:
        """``virDomainFSFreeze`` / ``FSThaw`` on "/" and "/boot": how many changed."""
        check_flags("testDomainFSThaw" if thaw else "testDomainFSFreeze", flags, 0)
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            frozen = priv(d)["frozen"]
            want = not thaw
            if not mountpoints:
                changed = sum(1 for f in frozen if f != want)
                frozen[:] = [want, want]
                return changed
            new = list(frozen)
            changed = 0
            for mp in mountpoints:
                if mp not in ("/", "/boot"):
                    raise VirtError.invalid(ErrDomain.TEST, f"mount point not found: {mp}")
                i = 0 if mp == "/" else 1
                if new[i] != want:
                    new[i] = want
                    changed += 1
            frozen[:] = new
            return changed

    def fs_trim(self, key: DomainKey, mountpoint: str | None, flags: int) -> None:
        """``virDomainFSTrim``: "/" and "/boot" (or all) only."""
        check_flags("testDomainFSTrim", flags, 0)
        with self.domains.access(key) as d:
            if not d.active:
                raise not_running()
            if mountpoint is not None and mountpoint not in ("/", "/boot"):
                raise VirtError.invalid(ErrDomain.TEST, f"mount point not found: {mountpoint}")

    # ------------------------------------------------------------------ scheduler

    def scheduler_parameters(self, key: DomainKey, flags: int) -> list[TypedParam]:
        """``virDomainGetSchedulerParameters(Flags)``: a fixed weight of 50."""
        check_flags("testDomainGetSchedulerParametersFlags", flags, 0)
        with self.domains.access(key):
            return [("weight", T_UINT, 50)]

    def set_scheduler_parameters(
        self, key: DomainKey, params: Sequence[TypedParam], flags: int
    ) -> None:
        """``virDomainSetSchedulerParameters(Flags)``: validated, then ignored."""
        check_flags("testDomainSetSchedulerParametersFlags", flags, 0)
        validate_params(params, {"weight": T_UINT})
        with self.domains.access(key):
            pass

    # ------------------------------------------------------------------ domain stats

    def all_stats(
        self, refs: Sequence[DomainRef] | None, stats: int, flags: int
    ) -> list[tuple[DomainRef, list[TypedParam]]]:
        """``virConnectGetAllDomainStats`` (*refs* None) / ``virDomainListGetStats``."""
        allowed = STATS_FILTERS | STATS_NOWAIT | STATS_BACKING | STATS_ENFORCE
        check_flags("testConnectGetAllDomainStats", flags, allowed)
        if flags & STATS_ENFORCE and stats & ~STATS_GROUPS_KNOWN:
            raise VirtError.fmt(ErrCode.ARGUMENT_UNSUPPORTED, ErrDomain.TEST,
                                "argument unsupported: %s",
                                f"Stats types bits 0x{stats & ~STATS_GROUPS_KNOWN:x} are not "
                                "supported by this daemon")
        if stats == 0:
            stats = STATS_GROUPS_KNOWN
        out = []
        with self.domains.lock:
            if refs is None:
                objs = self.domains.objects()
            else:
                objs = []
                for ref in refs:
                    with self.domains.access(ref) as d:
                        objs.append(d)
            for d in objs:
                if not _stats_filter(d, flags):
                    continue
                params: list[TypedParam] = []
                if stats & STATS_GROUP_STATE:
                    params += [("state.state", T_INT, d.state),
                               ("state.reason", T_INT, d.reason)]
                if stats & STATS_GROUP_IOTHREAD:
                    params += self._iothread_stats(d)
                out.append((d.ref(), params))
        return out

    def _iothread_stats(self, d: DomainRecord) -> list[TypedParam]:
        threads = priv(d)["iothreads"]
        if not d.active or not threads:
            return []
        params: list[TypedParam] = [("iothread.count", T_UINT, len(threads))]
        for t in threads:
            n = t["id"]
            params += [(f"iothread.{n}.poll-max-ns", T_ULLONG, t["poll_max_ns"]),
                       (f"iothread.{n}.poll-grow", T_UINT, t["poll_grow"]),
                       (f"iothread.{n}.poll-shrink", T_UINT, t["poll_shrink"])]
        return params


def _stats_filter(d: DomainRecord, flags: int) -> bool:
    if flags & (STATS_ACTIVE | STATS_INACTIVE) not in (0, STATS_ACTIVE | STATS_INACTIVE):
        if bool(flags & STATS_ACTIVE) != d.active:
            return False
    if flags & (STATS_PERSISTENT | STATS_TRANSIENT) not in (0, STATS_PERSISTENT | STATS_TRANSIENT):
        if bool(flags & STATS_PERSISTENT) != d.persistent:
            return False
    states = flags & (STATS_RUNNING | STATS_PAUSED | STATS_SHUTOFF | STATS_OTHER)
    if states:
        bit = {DomainState.RUNNING: STATS_RUNNING, DomainState.PAUSED: STATS_PAUSED,
               DomainState.SHUTOFF: STATS_SHUTOFF}.get(d.state, STATS_OTHER)
        if not states & bit:
            return False
    return True


def current_vcpus(defn: DomainDef) -> int:
    """The online vCPU count of a definition."""
    return defn.current_vcpus if defn.current_vcpus is not None else defn.vcpus


def _cputune_child(defn: DomainDef, tag: str, **attrs: str) -> Any | None:
    for tune in defn.extra.get("cputune", []):
        for child in tune:
            if child.tag == tag and all(child.get(k) == v for k, v in attrs.items()):
                return child
    return None


def vcpu_affinity(defn: DomainDef, vcpu: int) -> list[int]:
    """The host CPUs vCPU *vcpu* may run on: its pin, else the domain's cpuset, else all."""
    pin = _cputune_child(defn, "vcpupin", vcpu=str(vcpu))
    if pin is not None and pin.get("cpuset"):
        return parse_cpuset(pin.get("cpuset", ""))
    if defn.vcpu_attrs.get("cpuset"):
        return parse_cpuset(defn.vcpu_attrs["cpuset"])
    return list(range(HOST_CPUS))


def validate_params(params: Sequence[TypedParam], known: dict[str, int]) -> None:
    """``virTypedParamsValidate``: known names with the right types, each at most once."""
    names = {1: "int", 2: "uint", 3: "llong", 4: "ullong", 5: "double", 6: "boolean",
             7: "string"}
    seen: set[str] = set()
    for name, ptype, _value in sorted(params, key=lambda p: p[0]):
        if name not in known:
            raise VirtError.fmt(ErrCode.ARGUMENT_UNSUPPORTED, ErrDomain.NONE,
                                "argument unsupported: %s", f"parameter '{name}' not supported")
        if name in seen:
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.NONE, "invalid argument: %s",
                                f"parameter '{name}' occurs multiple times")
        seen.add(name)
        if ptype != known[name]:
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.NONE, "invalid argument: %s",
                                f"invalid type '{names.get(ptype, '?')}' for parameter "
                                f"'{name}', expected '{names[known[name]]}'")


def _no_network(name: str) -> VirtError:
    return VirtError.fmt(ErrCode.NO_NETWORK, ErrDomain.TEST, "Network not found: %s",
                         f"no network with matching name '{name}'")


def _offset_ip(start: str, offset: int, ipv6: bool) -> str:
    import ipaddress

    if ipv6:
        raw = bytearray(ipaddress.IPv6Address(start).packed)
        raw[15] = (raw[15] + offset) & 0xFF
        return str(ipaddress.IPv6Address(bytes(raw)))
    return str(ipaddress.IPv4Address((int(ipaddress.IPv4Address(start)) + offset) & 0xFFFFFFFF))


#: the largest keycode of each codeset (libvirt's keymap tables), for validation
_KEYCODE_MAX: Final = {0: 0x2FF, 1: 0x7F, 2: 0xE05E, 3: 0xE07D, 4: 0x85, 5: 0x7E, 6: 0x7F,
                       7: 0xE7, 8: 0xFE, 9: 0xDE}


def _keycode_valid(codeset: int, code: int) -> bool:
    return 0 <= code <= _KEYCODE_MAX.get(codeset, 0)
