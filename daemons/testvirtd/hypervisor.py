"""An in-memory hypervisor equivalent to libvirt's ``test:///default`` driver.

:class:`Hypervisor` holds the node, domains, networks, storage pools and volumes, enforces
the same state machine as the test driver (state and reason codes, running ids, errors with
the same code/domain/text) and publishes events to subscribers.  It knows nothing about RPC:
the daemon maps procedures onto its methods and turns :class:`VirtError` into error replies.

All public methods are thread-safe.  Subscriber callbacks run synchronously, outside the
state lock, in the order the events happened.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .domxml import (
    DomainDef,
    ErrCode,
    ErrDomain,
    VirtError,
    format_domain_xml,
    format_uuid,
    parse_domain_xml,
    parse_size,
    parse_uuid,
    parse_xml,
)

__all__ = (
    "DomainEventDetail",
    "DomainEventType",
    "DomainInfo",
    "DomainLifecycleEvent",
    "DomainRebootEvent",
    "DomainRef",
    "DomainState",
    "Event",
    "Flavour",
    "Hypervisor",
    "ListFlags",
    "MonitorEvent",
    "NetworkLifecycleEvent",
    "NetworkRef",
    "NodeInfo",
    "PoolInfo",
    "PoolLifecycleEvent",
    "PoolRef",
    "StateFileError",
    "VirtError",
    "VolumeInfo",
    "VolumeRef",
)

Flavour = Literal["test", "qemu"]


# --------------------------------------------------------------------------------------------
# Public constants (numbers from libvirt-domain.h and friends)


class DomainState:
    """``virDomainState`` and the reason enums that go with it."""

    NOSTATE = 0
    RUNNING = 1
    BLOCKED = 2
    PAUSED = 3
    SHUTDOWN = 4
    SHUTOFF = 5
    CRASHED = 6
    PMSUSPENDED = 7

    RUNNING_UNKNOWN = 0
    RUNNING_BOOTED = 1
    RUNNING_UNPAUSED = 5
    PAUSED_UNKNOWN = 0
    PAUSED_USER = 1
    SHUTDOWN_UNKNOWN = 0
    SHUTDOWN_USER = 1
    SHUTOFF_UNKNOWN = 0
    SHUTOFF_SHUTDOWN = 1
    SHUTOFF_DESTROYED = 2
    SHUTOFF_SAVED = 5


class DomainEventType:
    """``virDomainEventType`` (lifecycle event numbers)."""

    DEFINED = 0
    UNDEFINED = 1
    STARTED = 2
    SUSPENDED = 3
    RESUMED = 4
    STOPPED = 5
    SHUTDOWN = 6
    PMSUSPENDED = 7
    CRASHED = 8


class DomainEventDetail:
    """The detail enums of each lifecycle event type."""

    DEFINED_ADDED = 0
    DEFINED_UPDATED = 1
    UNDEFINED_REMOVED = 0
    STARTED_BOOTED = 0
    SUSPENDED_PAUSED = 0
    RESUMED_UNPAUSED = 0
    STOPPED_SHUTDOWN = 0
    STOPPED_DESTROYED = 1
    SHUTDOWN_FINISHED = 0
    SHUTDOWN_GUEST = 1
    SHUTDOWN_HOST = 2


class ListFlags:
    """``virConnectListAll*Flags`` bits for domains, networks and storage pools."""

    DOMAINS_ACTIVE = 1
    DOMAINS_INACTIVE = 2
    DOMAINS_PERSISTENT = 4
    DOMAINS_TRANSIENT = 8
    DOMAINS_RUNNING = 16
    DOMAINS_PAUSED = 32
    DOMAINS_SHUTOFF = 64
    DOMAINS_OTHER = 128
    DOMAINS_MANAGEDSAVE = 256
    DOMAINS_NO_MANAGEDSAVE = 512
    DOMAINS_AUTOSTART = 1024
    DOMAINS_NO_AUTOSTART = 2048
    DOMAINS_HAS_SNAPSHOT = 4096
    DOMAINS_NO_SNAPSHOT = 8192
    DOMAINS_HAS_CHECKPOINT = 16384
    DOMAINS_NO_CHECKPOINT = 32768

    NETWORKS_INACTIVE = 1
    NETWORKS_ACTIVE = 2
    NETWORKS_PERSISTENT = 4
    NETWORKS_TRANSIENT = 8
    NETWORKS_AUTOSTART = 16
    NETWORKS_NO_AUTOSTART = 32

    POOLS_INACTIVE = 1
    POOLS_ACTIVE = 2
    POOLS_PERSISTENT = 4
    POOLS_TRANSIENT = 8
    POOLS_AUTOSTART = 16
    POOLS_NO_AUTOSTART = 32
    #: VIR_CONNECT_LIST_STORAGE_POOLS_DIR; the other type bits follow it (fs = 128, ...).
    POOLS_DIR = 64


#: Pool types in the order of their VIR_CONNECT_LIST_STORAGE_POOLS_<TYPE> bits (from 64 on).
_POOL_TYPE_BITS: Final = (
    "dir",
    "fs",
    "netfs",
    "logical",
    "disk",
    "iscsi",
    "scsi",
    "mpath",
    "rbd",
    "sheepdog",
    "gluster",
    "zfs",
    "vstorage",
    "iscsi-direct",
)

XML_SECURE = 1
XML_INACTIVE = 2
XML_UPDATE_CPU = 4
XML_MIGRATABLE = 8

_POOL_INACTIVE = 0
_POOL_RUNNING = 2

_NETWORK_EVENT_DEFINED, _NETWORK_EVENT_UNDEFINED = 0, 1
_NETWORK_EVENT_STARTED, _NETWORK_EVENT_STOPPED = 2, 3
_POOL_EVENT_DEFINED, _POOL_EVENT_UNDEFINED = 0, 1
_POOL_EVENT_STARTED, _POOL_EVENT_STOPPED = 2, 3

STATE_FORMAT: Final = "testvirtd-state"
STATE_VERSION: Final = 1


# --------------------------------------------------------------------------------------------
# Value objects handed out to callers


@dataclass(frozen=True, slots=True)
class DomainRef:
    """What ``remote_nonnull_domain`` carries: name, raw UUID and id (-1 when inactive)."""

    name: str
    uuid: bytes
    id: int

    @property
    def uuid_str(self) -> str:
        """The UUID in textual form."""
        return format_uuid(self.uuid)


@dataclass(frozen=True, slots=True)
class NetworkRef:
    """``remote_nonnull_network``: name and raw UUID."""

    name: str
    uuid: bytes


@dataclass(frozen=True, slots=True)
class PoolRef:
    """``remote_nonnull_storage_pool``: name and raw UUID."""

    name: str
    uuid: bytes


@dataclass(frozen=True, slots=True)
class VolumeRef:
    """``remote_nonnull_storage_vol``: pool name, volume name and key."""

    pool: str
    name: str
    key: str


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """``virNodeInfo``: memory in KiB, mhz in MHz."""

    model: str
    memory: int
    cpus: int
    mhz: int
    nodes: int
    sockets: int
    cores: int
    threads: int


@dataclass(frozen=True, slots=True)
class DomainInfo:
    """``virDomainInfo``: memory values in KiB, cpu_time in nanoseconds."""

    state: int
    max_mem: int
    memory: int
    nr_virt_cpu: int
    cpu_time: int


@dataclass(frozen=True, slots=True)
class PoolInfo:
    """``virStoragePoolInfo``: state and sizes in bytes."""

    state: int
    capacity: int
    allocation: int
    available: int


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    """``virStorageVolInfo``: type (0 = file) and sizes in bytes."""

    type: int
    capacity: int
    allocation: int


@dataclass(frozen=True, slots=True)
class DomainLifecycleEvent:
    """A ``VIR_DOMAIN_EVENT_ID_LIFECYCLE`` event; ``dom`` is the domain as it was then."""

    dom: DomainRef
    event: int
    detail: int


@dataclass(frozen=True, slots=True)
class DomainRebootEvent:
    """A ``VIR_DOMAIN_EVENT_ID_REBOOT`` event (the guest was reset)."""

    dom: DomainRef


@dataclass(frozen=True, slots=True)
class MonitorEvent:
    """A QMP event of a running domain, for ``qemu-monitor-event`` and QMP sockets.

    ``data`` is the JSON object of the event's ``data`` member (or ``None`` for none).
    """

    dom: DomainRef
    event: str
    seconds: int
    microseconds: int
    data: dict[str, Any] | None

    def to_json(self) -> str:
        """The event as QEMU writes it on a QMP socket (without the line terminator)."""
        msg: dict[str, Any] = {"event": self.event}
        if self.data is not None:
            msg["data"] = self.data
        msg["timestamp"] = {"seconds": self.seconds, "microseconds": self.microseconds}
        return json.dumps(msg)


@dataclass(frozen=True, slots=True)
class NetworkLifecycleEvent:
    """A network lifecycle event (DEFINED 0, UNDEFINED 1, STARTED 2, STOPPED 3)."""

    net: NetworkRef
    event: int
    detail: int


@dataclass(frozen=True, slots=True)
class PoolLifecycleEvent:
    """A storage pool lifecycle event (DEFINED 0, UNDEFINED 1, STARTED 2, STOPPED 3)."""

    pool: PoolRef
    event: int
    detail: int


Event = (
    DomainLifecycleEvent
    | DomainRebootEvent
    | MonitorEvent
    | NetworkLifecycleEvent
    | PoolLifecycleEvent
)
EventCallback = Callable[[Event], None]
DomainKey = DomainRef | bytes | str


class StateFileError(Exception):
    """A saved state file could not be read; the message names the file and the problem."""


# --------------------------------------------------------------------------------------------
# Internal records


@dataclass
class _Domain:
    defn: DomainDef  # the live definition while running, else the persistent one
    new_defn: DomainDef | None = None  # pending persistent config of a running domain
    persistent: bool = True
    state: int = DomainState.SHUTOFF
    reason: int = DomainState.SHUTOFF_UNKNOWN
    id: int = -1
    autostart: bool = False

    @property
    def active(self) -> bool:
        return self.id != -1

    def ref(self) -> DomainRef:
        return DomainRef(self.defn.name, self.defn.uuid, self.id)


@dataclass
class _Network:
    name: str
    uuid: bytes
    xml_body: str  # everything between <uuid> and </network>, already formatted
    bridge: str
    active: bool = True
    persistent: bool = True
    autostart: bool = False

    def ref(self) -> NetworkRef:
        return NetworkRef(self.name, self.uuid)


@dataclass
class _Volume:
    name: str
    capacity: int
    allocation: int
    format: str
    file: str  # backing file name inside the hypervisor's storage directory


@dataclass
class _Pool:
    name: str
    uuid: bytes
    type: str
    path: str
    capacity: int
    active: bool = True
    persistent: bool = True
    autostart: bool = False
    volumes: dict[str, _Volume] = field(default_factory=dict)

    def ref(self) -> PoolRef:
        return PoolRef(self.name, self.uuid)

    @property
    def allocation(self) -> int:
        return sum(v.allocation for v in self.volumes.values())


# --------------------------------------------------------------------------------------------
# Built-in objects of test:///default

TEST_DOMAIN_UUID: Final = "6695eb01-f6a4-8304-79aa-97f2502e193f"

_TEST_DOMAIN_XML: Final = f"""<domain type='test'>
  <name>test</name>
  <uuid>{TEST_DOMAIN_UUID}</uuid>
  <memory>8388608</memory>
  <currentMemory>2097152</currentMemory>
  <vcpu>2</vcpu>
  <os><type>hvm</type></os>
  <clock offset='utc'/>
  <devices>
    <disk type='file' device='disk'>
      <source file='/guest/diskimage1'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>
    <interface type='network'>
      <mac address='aa:bb:cc:dd:ee:ff'/>
      <source network='default'/>
      <target dev='testnet0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
    </interface>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </memballoon>
  </devices>
</domain>
"""

_DEFAULT_NETWORK_BODY: Final = """  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
"""


def _test_capabilities() -> str:
    cells = []
    for cell, (mem, pagesize) in enumerate(((2097152, 4), (4194304, 8))):
        cpus = "".join(
            f"            <cpu id='{cell * 8 + i}' socket_id='{cell}' die_id='0' "
            f"core_id='{i}' siblings='{cell * 8 + i}'/>\n"
            for i in range(8)
        )
        cells.append(
            f"        <cell id='{cell}'>\n"
            f"          <memory unit='KiB'>{mem}</memory>\n"
            f"          <pages unit='KiB' size='{pagesize}'>524288</pages>\n"
            "          <pages unit='KiB' size='2048'>0</pages>\n"
            "          <pages unit='KiB' size='1048576'>0</pages>\n"
            "          <cpus num='8'>\n"
            f"{cpus}"
            "          </cpus>\n"
            "        </cell>\n"
        )
    guests = "".join(
        "  <guest>\n"
        f"    <os_type>{os_type}</os_type>\n"
        "    <arch name='i686'>\n"
        "      <wordsize>32</wordsize>\n"
        "      <emulator>/usr/bin/test-hv</emulator>\n"
        "      <domain type='test'/>\n"
        "    </arch>\n"
        "    <features>\n"
        "      <pae/>\n"
        "      <nonpae/>\n"
        "    </features>\n"
        "  </guest>\n\n"
        for os_type in ("hvm", "xen")
    )
    return (
        "<capabilities>\n\n"
        "  <host>\n"
        "    <cpu>\n"
        "      <arch>i686</arch>\n"
        "      <features>\n"
        "        <pae/>\n"
        "        <nonpae/>\n"
        "      </features>\n"
        "      <pages unit='KiB' size='4'/>\n"
        "      <pages unit='KiB' size='8'/>\n"
        "      <pages unit='KiB' size='2048'/>\n"
        "      <pages unit='KiB' size='1048576'/>\n"
        "    </cpu>\n"
        "    <power_management/>\n"
        "    <iommu support='no'/>\n"
        "    <topology>\n"
        "      <cells num='2'>\n"
        f"{''.join(cells)}"
        "      </cells>\n"
        "    </topology>\n"
        "    <secmodel>\n"
        "      <model>testSecurity</model>\n"
        "      <doi></doi>\n"
        "    </secmodel>\n"
        "  </host>\n\n"
        f"{guests}"
        "</capabilities>\n"
    )


def _qemu_capabilities(host_uuid: str) -> str:
    machines = "".join(
        f"      <machine maxCpus='{n}'>{m}</machine>\n"
        for m, n in (("pc-i440fx-7.2", 255), ("pc-q35-7.2", 288))
    )
    guest = (
        "  <guest>\n"
        "    <os_type>hvm</os_type>\n"
        "    <arch name='x86_64'>\n"
        "      <wordsize>64</wordsize>\n"
        "      <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
        f"{machines}"
        "      <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>\n"
        "      <machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine>\n"
        "      <domain type='qemu'/>\n"
        "      <domain type='kvm'/>\n"
        "    </arch>\n"
        "    <features>\n"
        "      <acpi default='on' toggle='yes'/>\n"
        "      <apic default='on' toggle='no'/>\n"
        "      <cpuselection/>\n"
        "      <deviceboot/>\n"
        "      <disksnapshot default='on' toggle='no'/>\n"
        "    </features>\n"
        "  </guest>\n\n"
    )
    cpus = "".join(
        f"            <cpu id='{i}' socket_id='0' die_id='0' core_id='{i // 2}' "
        f"siblings='{i - i % 2}-{i - i % 2 + 1}'/>\n"
        for i in range(4)
    )
    return (
        "<capabilities>\n\n"
        "  <host>\n"
        f"    <uuid>{host_uuid}</uuid>\n"
        "    <cpu>\n"
        "      <arch>x86_64</arch>\n"
        "      <model>qemu64</model>\n"
        "      <vendor>AMD</vendor>\n"
        "      <topology sockets='1' dies='1' cores='2' threads='2'/>\n"
        "      <pages unit='KiB' size='4'/>\n"
        "      <pages unit='KiB' size='2048'/>\n"
        "    </cpu>\n"
        "    <power_management/>\n"
        "    <iommu support='no'/>\n"
        "    <migration_features>\n"
        "      <live/>\n"
        "      <uri_transports>\n"
        "        <uri_transport>tcp</uri_transport>\n"
        "        <uri_transport>rdma</uri_transport>\n"
        "      </uri_transports>\n"
        "    </migration_features>\n"
        "    <topology>\n"
        "      <cells num='1'>\n"
        "        <cell id='0'>\n"
        "          <memory unit='KiB'>3145728</memory>\n"
        "          <pages unit='KiB' size='4'>786432</pages>\n"
        "          <pages unit='KiB' size='2048'>0</pages>\n"
        "          <cpus num='4'>\n"
        f"{cpus}"
        "          </cpus>\n"
        "        </cell>\n"
        "      </cells>\n"
        "    </topology>\n"
        "    <secmodel>\n"
        "      <model>none</model>\n"
        "      <doi>0</doi>\n"
        "    </secmodel>\n"
        "  </host>\n\n"
        f"{guest}"
        "</capabilities>\n"
    )


def _dom_error_not_found() -> VirtError:
    return VirtError(ErrCode.NO_DOMAIN, ErrDomain.TEST, "Domain not found", str1="Domain not found")


# --------------------------------------------------------------------------------------------


class Hypervisor:
    """The test hypervisor.  A fresh instance equals a freshly opened ``test:///default``.

    :param flavour: ``"test"`` (type TEST, the test driver's capabilities) or ``"qemu"``
        (type QEMU, x86_64 KVM/QEMU capabilities; domain types qemu/kvm only).
    :param storage_dir: where volume backing files live.  ``None`` uses a private temporary
        directory removed by :meth:`close`.
    :param hostname: what ``CONNECT_GET_HOSTNAME`` answers (default: this machine's name,
        as the test driver does).
    """

    #: hypervisor version (``virConnectGetVersion``) per flavour: the test driver says 2.
    _HV_VERSION: Final = {"test": 2, "qemu": 7_002_000}
    LIB_VERSION: Final = 9_000_000

    def __init__(
        self,
        *,
        flavour: Flavour = "test",
        storage_dir: str | None = None,
        hostname: str | None = None,
        populate: bool = True,
    ) -> None:
        if flavour not in ("test", "qemu"):
            raise ValueError(f"unknown flavour {flavour!r}")
        self.flavour: Flavour = flavour
        self._lock = threading.RLock()
        self._dispatch_lock = threading.RLock()
        self._pending: collections.deque[Event] = collections.deque()
        self._subscribers: dict[int, EventCallback] = {}
        self._next_token = 1
        self._domains: dict[bytes, _Domain] = {}
        self._networks: dict[bytes, _Network] = {}
        self._pools: dict[bytes, _Pool] = {}
        self._next_id = 1
        self._hostname = hostname
        self.host_uuid = "7d9a8c62-0b5e-4e3f-9d43-6a7e2a3c1f00"
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if storage_dir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="testvirtd-vols-")
            storage_dir = self._tmpdir.name
        os.makedirs(storage_dir, exist_ok=True)
        self.storage_dir = storage_dir
        if populate:
            self._populate()

    def _populate(self) -> None:
        arch = "i686" if self.flavour == "test" else "x86_64"
        xml = _TEST_DOMAIN_XML
        if self.flavour == "qemu":
            xml = xml.replace("type='test'", "type='kvm'", 1)
        defn = parse_domain_xml(xml, default_arch=arch)
        dom = _Domain(
            defn=defn,
            persistent=True,
            state=DomainState.RUNNING,
            reason=DomainState.RUNNING_UNKNOWN,
            id=self._new_id(),
        )
        self._domains[defn.uuid] = dom
        net = _Network(
            name="default",
            uuid=parse_uuid("dd8fe884-6c02-601e-7551-cca97df1c5df"),
            xml_body=_DEFAULT_NETWORK_BODY,
            bridge="virbr0",
        )
        self._networks[net.uuid] = net
        pool = _Pool(
            name="default-pool",
            uuid=parse_uuid("dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566"),
            type="dir",
            path="/default-pool",
            capacity=107374182400,
        )
        self._pools[pool.uuid] = pool

    def close(self) -> None:
        """Release the temporary volume directory (if the hypervisor created one)."""
        with self._lock:
            if self._tmpdir is not None:
                self._tmpdir.cleanup()
                self._tmpdir = None

    def __enter__(self) -> Hypervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- events

    def subscribe(self, callback: EventCallback) -> int:
        """Register *callback* for every event; returns a token for :meth:`unsubscribe`.

        Callbacks get :class:`DomainLifecycleEvent`, :class:`DomainRebootEvent`,
        :class:`MonitorEvent`, :class:`NetworkLifecycleEvent` and :class:`PoolLifecycleEvent`
        objects; they run synchronously in the thread that caused the event, after the state
        change is complete and outside the state lock (so they may call back in).  Exceptions
        they raise are swallowed: one bad subscriber must not break the others.
        """
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._subscribers[token] = callback
            return token

    def unsubscribe(self, token: int) -> None:
        """Remove a subscription (unknown tokens are ignored)."""
        with self._lock:
            self._subscribers.pop(token, None)

    def _emit(self, event: Event) -> None:
        # Called with the state lock held: events are queued in state order and delivered
        # by _flush() once the lock is released.
        self._pending.append(event)

    def _emit_monitor(self, dom: _Domain, name: str, data: dict[str, Any] | None) -> None:
        now = time.time_ns() // 1000
        self._emit(MonitorEvent(dom.ref(), name, now // 1_000_000, now % 1_000_000, data))

    def _flush(self) -> None:
        with self._dispatch_lock:
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    event = self._pending.popleft()
                    subscribers = list(self._subscribers.values())
                for callback in subscribers:
                    with contextlib.suppress(Exception):
                        callback(event)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the state lock for one operation, then deliver the events it produced."""
        try:
            with self._lock:
                yield
        finally:
            self._flush()

    # ---------------------------------------------------------------- connection / node

    def view_flavour(self, flavour: Flavour | None) -> Flavour:
        """*flavour*, or the hypervisor's own one when ``None``.

        Every flavour-dependent query takes an optional ``flavour``: connections opened
        with ``test:///default`` and with ``qemu:///system`` see the same domains, networks
        and pools, each through its own driver's eyes (type, versions, capabilities, node
        and XML rules).
        """
        if flavour is None:
            return self.flavour
        if flavour not in ("test", "qemu"):
            raise ValueError(f"unknown flavour {flavour!r}")
        return flavour

    def get_type(self, flavour: Flavour | None = None) -> str:
        """``virConnectGetType``: "TEST" or "QEMU"."""
        return "TEST" if self.view_flavour(flavour) == "test" else "QEMU"

    def get_version(self, flavour: Flavour | None = None) -> int:
        """``virConnectGetVersion``: 2 for the test driver (0.0.2), 7002000 for QEMU 7.2."""
        return self._HV_VERSION[self.view_flavour(flavour)]

    def get_lib_version(self) -> int:
        """``virConnectGetLibVersion``: 9000000 (libvirt 9.0.0)."""
        return self.LIB_VERSION

    def get_hostname(self) -> str:
        """``virConnectGetHostname``: the host's name, like the test driver."""
        return self._hostname or socket.gethostname()

    def get_max_vcpus(self, type: str | None = None, flavour: Flavour | None = None) -> int:
        """``virConnectGetMaxVcpus`` (32 for the test driver)."""
        return 32 if self.view_flavour(flavour) == "test" else 255

    def node_get_info(self, flavour: Flavour | None = None) -> NodeInfo:
        """``virNodeGetInfo``, with the test driver's numbers."""
        if self.view_flavour(flavour) == "test":
            return NodeInfo("i686", 3145728, 16, 1400, 2, 2, 2, 2)
        return NodeInfo("x86_64", 3145728, 4, 2400, 1, 1, 2, 2)

    def node_get_cells_free_memory(
        self, start: int, maxcells: int, flavour: Flavour | None = None
    ) -> list[int]:
        """``virNodeGetCellsFreeMemory`` in bytes (the test driver's cells: 2 and 4 MiB)."""
        test = self.view_flavour(flavour) == "test"
        cells = [2097152, 4194304] if test else [3145728 * 1024]
        if start < 0 or start >= len(cells):
            raise VirtError.fmt(
                ErrCode.INVALID_ARG,
                ErrDomain.TEST,
                "invalid argument: %s",
                f"Range exceeds available cells: {len(cells)}",
            )
        return cells[start : start + maxcells]

    def get_capabilities(self, flavour: Flavour | None = None) -> str:
        """``virConnectGetCapabilities``: the test driver's document (or a QEMU host's)."""
        if self.view_flavour(flavour) == "test":
            return _test_capabilities()
        return _qemu_capabilities(self.host_uuid)

    def node_get_security_model(self, flavour: Flavour | None = None) -> tuple[str, str]:
        """``virNodeGetSecurityModel``: (model, doi)."""
        return ("testSecurity", "") if self.view_flavour(flavour) == "test" else ("none", "0")

    # ---------------------------------------------------------------- domain lookup

    def _new_id(self) -> int:
        new = self._next_id
        self._next_id += 1
        return new

    def _find(self, key: DomainKey) -> _Domain:
        """Resolve a handle the way the test driver does: by UUID."""
        name: str | None = None
        if isinstance(key, DomainRef):
            name, raw = key.name, key.uuid
        else:
            try:
                raw = parse_uuid(key)
            except ValueError:
                raise _dom_error_not_found() from None
        dom = self._domains.get(raw)
        if dom is None:
            if name is None:
                raise _dom_error_not_found()
            raise VirtError.fmt(
                ErrCode.NO_DOMAIN,
                ErrDomain.TEST,
                "Domain not found: %s",
                f"no domain with matching uuid '{format_uuid(raw)}' ({name})",
            )
        return dom

    def lookup_domain_by_name(self, name: str) -> DomainRef:
        """``virDomainLookupByName``; misses raise code 42 "Domain not found"."""
        with self._lock:
            for dom in self._domains.values():
                if dom.defn.name == name:
                    return dom.ref()
        raise _dom_error_not_found()

    def lookup_domain_by_uuid(self, uuid: bytes | str) -> DomainRef:
        """``virDomainLookupByUUID`` (raw 16 bytes or text)."""
        with self._lock:
            try:
                dom = self._domains.get(parse_uuid(uuid))
            except ValueError:
                dom = None
            if dom is None:
                raise _dom_error_not_found()
            return dom.ref()

    def lookup_domain_by_id(self, dom_id: int) -> DomainRef:
        """``virDomainLookupByID`` (active domains only)."""
        with self._lock:
            for dom in self._domains.values():
                if dom.active and dom.id == dom_id:
                    return dom.ref()
        raise _dom_error_not_found()

    def domain_ref(self, dom: DomainKey) -> DomainRef:
        """The current name/uuid/id of a domain handle."""
        with self._lock:
            return self._find(dom).ref()

    # ---------------------------------------------------------------- domain listing

    def list_all_domains(self, flags: int = 0) -> list[DomainRef]:
        """``virConnectListAllDomains`` with the ``VIR_CONNECT_LIST_DOMAINS_*`` filters."""
        f = ListFlags
        out = []
        with self._lock:
            for dom in self._domains.values():
                if not _filter(flags, f.DOMAINS_ACTIVE, f.DOMAINS_INACTIVE, dom.active):
                    continue
                if not _filter(flags, f.DOMAINS_PERSISTENT, f.DOMAINS_TRANSIENT, dom.persistent):
                    continue
                state_bits = flags & (
                    f.DOMAINS_RUNNING | f.DOMAINS_PAUSED | f.DOMAINS_SHUTOFF | f.DOMAINS_OTHER
                )
                if state_bits:
                    bit = {
                        DomainState.RUNNING: f.DOMAINS_RUNNING,
                        DomainState.PAUSED: f.DOMAINS_PAUSED,
                        DomainState.SHUTOFF: f.DOMAINS_SHUTOFF,
                    }.get(dom.state, f.DOMAINS_OTHER)
                    if not state_bits & bit:
                        continue
                if not _filter(flags, f.DOMAINS_MANAGEDSAVE, f.DOMAINS_NO_MANAGEDSAVE, False):
                    continue
                if not _filter(flags, f.DOMAINS_AUTOSTART, f.DOMAINS_NO_AUTOSTART, dom.autostart):
                    continue
                if not _filter(flags, f.DOMAINS_HAS_SNAPSHOT, f.DOMAINS_NO_SNAPSHOT, False):
                    continue
                if not _filter(flags, f.DOMAINS_HAS_CHECKPOINT, f.DOMAINS_NO_CHECKPOINT, False):
                    continue
                out.append(dom.ref())
        return out

    def num_of_domains(self) -> int:
        """``virConnectNumOfDomains`` (active ones)."""
        with self._lock:
            return sum(1 for d in self._domains.values() if d.active)

    def list_domain_ids(self, maxids: int) -> list[int]:
        """``virConnectListDomains``: ids of active domains."""
        with self._lock:
            return [d.id for d in self._domains.values() if d.active][:maxids]

    def num_of_defined_domains(self) -> int:
        """``virConnectNumOfDefinedDomains`` (inactive ones)."""
        with self._lock:
            return sum(1 for d in self._domains.values() if not d.active)

    def list_defined_domains(self, maxnames: int) -> list[str]:
        """``virConnectListDefinedDomains``: names of inactive domains."""
        with self._lock:
            return [d.defn.name for d in self._domains.values() if not d.active][:maxnames]

    # ---------------------------------------------------------------- domain queries

    def domain_get_info(self, dom: DomainKey) -> DomainInfo:
        """``virDomainGetInfo``.  cpu_time is the wall clock in ns, as in the test driver."""
        with self._lock:
            d = self._find(dom)
            vcpus = d.defn.current_vcpus or d.defn.vcpus
            return DomainInfo(
                d.state,
                d.defn.memory_kib,
                d.defn.current_memory_kib,
                vcpus,
                (time.time_ns() // 1000) * 1000,
            )

    def domain_get_state(self, dom: DomainKey, flags: int = 0) -> tuple[int, int]:
        """``virDomainGetState``: (state, reason)."""
        if flags:
            raise VirtError.bad_flags("testDomainGetState", flags)
        with self._lock:
            d = self._find(dom)
            return d.state, d.reason

    def domain_get_os_type(self, dom: DomainKey, flavour: Flavour | None = None) -> str:
        """``virDomainGetOSType``; the test driver always answers "linux"."""
        with self._lock:
            d = self._find(dom)
            return "linux" if self.view_flavour(flavour) == "test" else d.defn.os_type

    def domain_get_max_memory(self, dom: DomainKey) -> int:
        """``virDomainGetMaxMemory`` in KiB."""
        with self._lock:
            return self._find(dom).defn.memory_kib

    def domain_get_max_vcpus(self, dom: DomainKey) -> int:
        """``virDomainGetMaxVcpus``."""
        with self._lock:
            return self._find(dom).defn.vcpus

    def domain_get_xml_desc(self, dom: DomainKey, flags: int = 0) -> str:
        """``virDomainGetXMLDesc``; flags SECURE (1), INACTIVE (2) and MIGRATABLE (8)."""
        unsupported = flags & ~(XML_SECURE | XML_INACTIVE | XML_MIGRATABLE)
        if unsupported:
            raise VirtError.bad_flags("testDomainGetXMLDesc", flags)
        with self._lock:
            d = self._find(dom)
            if flags & (XML_INACTIVE | XML_MIGRATABLE):
                defn = d.new_defn or d.defn
                return format_domain_xml(defn, None, secure=bool(flags & XML_SECURE))
            return format_domain_xml(
                d.defn, d.id if d.active else None, secure=bool(flags & XML_SECURE)
            )

    def domain_is_active(self, dom: DomainKey) -> bool:
        """``virDomainIsActive``."""
        with self._lock:
            return self._find(dom).active

    def domain_is_persistent(self, dom: DomainKey) -> bool:
        """``virDomainIsPersistent``."""
        with self._lock:
            return self._find(dom).persistent

    def domain_is_updated(self, dom: DomainKey) -> bool:
        """``virDomainIsUpdated``: the test driver always answers 0."""
        with self._lock:
            self._find(dom)
            return False

    def domain_get_autostart(self, dom: DomainKey) -> bool:
        """``virDomainGetAutostart``."""
        with self._lock:
            return self._find(dom).autostart

    def domain_set_autostart(self, dom: DomainKey, autostart: bool) -> None:
        """``virDomainSetAutostart`` (the test driver allows it on transient domains too)."""
        with self._lock:
            self._find(dom).autostart = bool(autostart)

    def domain_has_managed_save_image(self, dom: DomainKey, flags: int = 0) -> bool:
        """``virDomainHasManagedSaveImage``: never (managed save is not modelled)."""
        with self._lock:
            self._find(dom)
            return False

    def domain_snapshot_num(self, dom: DomainKey, flags: int = 0) -> int:
        """``virDomainSnapshotNum``: snapshots are not modelled, so 0."""
        with self._lock:
            self._find(dom)
            return 0

    def domain_get_security_label(
        self, dom: DomainKey, flavour: Flavour | None = None
    ) -> tuple[str, bool]:
        """``virDomainGetSecurityLabel``: (label, enforcing)."""
        with self._lock:
            self._find(dom)
            test = self.view_flavour(flavour) == "test"
            return ("libvirt-test", True) if test else ("", False)

    def domain_get_messages(self, dom: DomainKey, flags: int = 0) -> list[str]:
        """``virDomainGetMessages``: none."""
        with self._lock:
            self._find(dom)
            return []

    def domain_definition(self, dom: DomainKey) -> DomainDef:
        """A copy of the live (or, when inactive, persistent) definition."""
        with self._lock:
            return self._find(dom).defn.copy()

    # ---------------------------------------------------------------- define / undefine

    def _check_conflicts(self, defn: DomainDef, *, live: bool) -> _Domain | None:
        """Apply libvirt's name/UUID uniqueness rules; return the domain being replaced."""
        existing = self._domains.get(defn.uuid)
        if existing is not None:
            if existing.defn.name != defn.name:
                raise VirtError.failed(
                    ErrDomain.DOMAIN,
                    f"domain '{existing.defn.name}' is already defined with uuid "
                    f"{existing.defn.uuid_str}",
                )
            if live and existing.active:
                raise VirtError.invalid(ErrDomain.DOMAIN, f"domain '{defn.name}' is already active")
            return existing
        for other in self._domains.values():
            if other.defn.name == defn.name:
                raise VirtError.failed(
                    ErrDomain.DOMAIN,
                    f"domain '{defn.name}' already exists with uuid {other.defn.uuid_str}",
                )
        return None

    def _parse_domain(self, xml: str | bytes, flavour: Flavour | None = None) -> DomainDef:
        if self.view_flavour(flavour) == "qemu":
            return parse_domain_xml(xml, default_arch="x86_64", allowed_types=("qemu", "kvm"))
        return parse_domain_xml(xml, default_arch="i686")

    def domain_define_xml(
        self, xml: str | bytes, flags: int = 0, flavour: Flavour | None = None
    ) -> DomainRef:
        """``virDomainDefineXML(Flags)``: define or update a persistent domain.

        Emits DEFINED/ADDED for a new (or so far transient) domain, DEFINED/UPDATED when a
        persistent one is redefined.  Redefining a running domain only changes its next
        configuration (visible with ``VIR_DOMAIN_XML_INACTIVE``).
        """
        if flags & ~1:  # VIR_DOMAIN_DEFINE_VALIDATE is accepted and ignored
            raise VirtError.bad_flags("testDomainDefineXMLFlags", flags)
        defn = self._parse_domain(xml, flavour)
        with self._locked():
            existing = self._check_conflicts(defn, live=False)
            if existing is None:
                dom = _Domain(defn=defn)
                self._domains[defn.uuid] = dom
                detail = DomainEventDetail.DEFINED_ADDED
            else:
                dom = existing
                detail = (
                    DomainEventDetail.DEFINED_UPDATED
                    if dom.persistent
                    else DomainEventDetail.DEFINED_ADDED
                )
                if dom.active:
                    dom.new_defn = defn
                else:
                    dom.defn = defn
                dom.persistent = True
            self._emit(DomainLifecycleEvent(dom.ref(), DomainEventType.DEFINED, detail))
            return dom.ref()

    def domain_undefine(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainUndefine(Flags)``: an active domain becomes transient, else it goes."""
        with self._locked():
            d = self._find(dom)
            self._emit(
                DomainLifecycleEvent(
                    d.ref(), DomainEventType.UNDEFINED, DomainEventDetail.UNDEFINED_REMOVED
                )
            )
            if d.active:
                d.persistent = False
                d.new_defn = None
            else:
                del self._domains[d.defn.uuid]

    # ---------------------------------------------------------------- lifecycle

    def _start(self, d: _Domain) -> None:
        d.id = self._new_id()
        d.state, d.reason = DomainState.RUNNING, DomainState.RUNNING_BOOTED
        self._emit(
            DomainLifecycleEvent(d.ref(), DomainEventType.STARTED, DomainEventDetail.STARTED_BOOTED)
        )

    def _stop(self, d: _Domain, reason: int, detail: int) -> None:
        d.state, d.reason = DomainState.SHUTOFF, reason
        d.id = -1
        self._emit(DomainLifecycleEvent(d.ref(), DomainEventType.STOPPED, detail))
        if not d.persistent:
            del self._domains[d.defn.uuid]
        elif d.new_defn is not None:
            d.defn, d.new_defn = d.new_defn, None

    def domain_create(self, dom: DomainKey, flags: int = 0) -> DomainRef:
        """``virDomainCreate(WithFlags)``: boot an inactive domain with a new id."""
        if flags:
            raise VirtError.bad_flags("testDomainCreateWithFlags", flags)
        with self._locked():
            d = self._find(dom)
            if d.active:
                raise VirtError.internal_error(
                    ErrDomain.TEST, f"Domain '{d.defn.name}' is already running"
                )
            self._start(d)
            return d.ref()

    def domain_create_xml(
        self, xml: str | bytes, flags: int = 0, flavour: Flavour | None = None
    ) -> DomainRef:
        """``virDomainCreateXML``: start a transient domain (or boot an inactive persistent
        one with this XML as its live definition)."""
        if flags & ~4:  # VIR_DOMAIN_START_VALIDATE only
            raise VirtError.bad_flags("testDomainCreateXML", flags)
        defn = self._parse_domain(xml, flavour)
        with self._locked():
            existing = self._check_conflicts(defn, live=True)
            if existing is None:
                d = _Domain(defn=defn, persistent=False)
                self._domains[defn.uuid] = d
            else:
                d = existing
                d.new_defn = d.defn
                d.defn = defn
            self._start(d)
            return d.ref()

    def domain_shutdown(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainShutdown(Flags)``: graceful stop (SHUTOFF/SHUTDOWN, STOPPED/SHUTDOWN)."""
        with self._locked():
            d = self._find(dom)
            if d.state == DomainState.SHUTOFF:
                raise _not_running(d)
            self._emit_monitor(d, "POWERDOWN", None)
            self._emit_monitor(d, "SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
            self._stop(d, DomainState.SHUTOFF_SHUTDOWN, DomainEventDetail.STOPPED_SHUTDOWN)

    def domain_destroy(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainDestroy(Flags)``: hard stop (SHUTOFF/DESTROYED, STOPPED/DESTROYED)."""
        with self._locked():
            d = self._find(dom)
            if not d.active:
                raise VirtError.invalid(ErrDomain.DOMAIN, "domain is not running")
            self._emit_monitor(d, "SHUTDOWN", {"guest": False, "reason": "host-signal"})
            self._stop(d, DomainState.SHUTOFF_DESTROYED, DomainEventDetail.STOPPED_DESTROYED)

    def domain_suspend(self, dom: DomainKey) -> None:
        """``virDomainSuspend``: RUNNING → PAUSED/USER, event SUSPENDED/PAUSED."""
        with self._locked():
            d = self._find(dom)
            if d.state != DomainState.RUNNING:
                raise _not_running(d)
            self._pause(d, DomainState.PAUSED_USER)

    def _pause(self, d: _Domain, reason: int) -> None:
        d.state, d.reason = DomainState.PAUSED, reason
        self._emit_monitor(d, "STOP", None)
        self._emit(
            DomainLifecycleEvent(
                d.ref(), DomainEventType.SUSPENDED, DomainEventDetail.SUSPENDED_PAUSED
            )
        )

    def domain_resume(self, dom: DomainKey) -> None:
        """``virDomainResume``: PAUSED → RUNNING/UNPAUSED, event RESUMED/UNPAUSED."""
        with self._locked():
            d = self._find(dom)
            if d.state != DomainState.PAUSED:
                raise VirtError.internal_error(ErrDomain.TEST, f"domain '{d.defn.name}' not paused")
            self._unpause(d)

    def _unpause(self, d: _Domain) -> None:
        d.state, d.reason = DomainState.RUNNING, DomainState.RUNNING_UNPAUSED
        self._emit_monitor(d, "RESUME", None)
        self._emit(
            DomainLifecycleEvent(
                d.ref(), DomainEventType.RESUMED, DomainEventDetail.RESUMED_UNPAUSED
            )
        )

    def domain_reboot(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainReboot``: follows ``<on_reboot>``.  With "restart" (the default) the
        domain keeps its id, ends up RUNNING/BOOTED and, like the test driver, no lifecycle
        event is sent; with "destroy" it stops (STOPPED/SHUTDOWN)."""
        with self._locked():
            d = self._find(dom)
            if not d.active:
                raise VirtError.invalid(ErrDomain.DOMAIN, "domain is not running")
            action = d.defn.on_reboot
            if action in ("destroy", "coredump-destroy"):
                self._emit_monitor(d, "SHUTDOWN", {"guest": True, "reason": "guest-reset"})
                self._stop(d, DomainState.SHUTOFF_SHUTDOWN, DomainEventDetail.STOPPED_SHUTDOWN)
            elif action == "preserve":
                d.state, d.reason = DomainState.SHUTDOWN, DomainState.SHUTDOWN_USER
            else:
                self._emit_monitor(d, "RESET", {"guest": True, "reason": "guest-reset"})
                d.state, d.reason = DomainState.RUNNING, DomainState.RUNNING_BOOTED

    def domain_reset(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainReset``: needs an active domain; the state does not change."""
        with self._locked():
            d = self._find(dom)
            if not d.active:
                raise VirtError.invalid(ErrDomain.DOMAIN, "domain is not running")
            self._emit_monitor(d, "RESET", {"guest": False, "reason": "host-qmp-system-reset"})

    # ---------------------------------------------------------------- monitor-side operations

    def monitor_stop(self, dom: DomainKey) -> None:
        """What QMP ``stop`` does: pause (PAUSED/UNKNOWN as libvirt records an unexpected
        STOP) and emit STOP plus SUSPENDED/PAUSED.  A paused domain stays as it is."""
        with self._locked():
            d = self._require_running_monitor(dom)
            if d.state == DomainState.RUNNING:
                self._pause(d, DomainState.PAUSED_UNKNOWN)

    def monitor_cont(self, dom: DomainKey) -> None:
        """What QMP ``cont`` does: resume a paused domain (RESUME + RESUMED/UNPAUSED)."""
        with self._locked():
            d = self._require_running_monitor(dom)
            if d.state == DomainState.PAUSED:
                self._unpause(d)

    def monitor_system_reset(self, dom: DomainKey) -> None:
        """QMP ``system_reset``: RESET event plus libvirt's REBOOT event; state unchanged."""
        with self._locked():
            d = self._require_running_monitor(dom)
            self._emit_monitor(d, "RESET", {"guest": False, "reason": "host-qmp-system-reset"})
            self._emit(DomainRebootEvent(d.ref()))

    def monitor_system_powerdown(self, dom: DomainKey) -> None:
        """QMP ``system_powerdown``: the guest reacts to the ACPI button and powers off.

        Events: QMP POWERDOWN and SHUTDOWN, lifecycle SHUTDOWN/GUEST then STOPPED/SHUTDOWN.
        A paused guest cannot react, so only POWERDOWN is emitted then.
        """
        with self._locked():
            d = self._require_running_monitor(dom)
            self._emit_monitor(d, "POWERDOWN", None)
            if d.state != DomainState.RUNNING:
                return
            self._emit_monitor(d, "SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
            self._emit(
                DomainLifecycleEvent(
                    d.ref(), DomainEventType.SHUTDOWN, DomainEventDetail.SHUTDOWN_GUEST
                )
            )
            self._stop(d, DomainState.SHUTOFF_SHUTDOWN, DomainEventDetail.STOPPED_SHUTDOWN)

    def _require_running_monitor(self, dom: DomainKey) -> _Domain:
        d = self._find(dom)
        if not d.active:
            # What libvirt's QEMU driver says when there is no monitor to talk to.
            raise VirtError.invalid(ErrDomain.QEMU, "domain is not running")
        return d

    # ---------------------------------------------------------------- networks

    def _find_net(self, key: NetworkRef | bytes | str) -> _Network:
        if isinstance(key, NetworkRef):
            net = self._networks.get(key.uuid)
            if net is None:
                raise _net_not_found("uuid", format_uuid(key.uuid))
            return net
        try:
            raw = parse_uuid(key)
        except ValueError:
            raise _net_not_found("uuid", str(key)) from None
        net = self._networks.get(raw)
        if net is None:
            raise _net_not_found("uuid", format_uuid(raw))
        return net

    def lookup_network_by_name(self, name: str) -> NetworkRef:
        """``virNetworkLookupByName``; misses raise code 43 with the test driver's text."""
        with self._lock:
            for net in self._networks.values():
                if net.name == name:
                    return net.ref()
        raise _net_not_found("name", name)

    def lookup_network_by_uuid(self, uuid: bytes | str) -> NetworkRef:
        """``virNetworkLookupByUUID``."""
        with self._lock:
            return self._find_net(uuid).ref()

    def list_all_networks(self, flags: int = 0) -> list[NetworkRef]:
        """``virConnectListAllNetworks`` with the ``VIR_CONNECT_LIST_NETWORKS_*`` filters."""
        f = ListFlags
        with self._lock:
            return [
                n.ref()
                for n in self._networks.values()
                if _filter(flags, f.NETWORKS_ACTIVE, f.NETWORKS_INACTIVE, n.active)
                and _filter(flags, f.NETWORKS_PERSISTENT, f.NETWORKS_TRANSIENT, n.persistent)
                and _filter(flags, f.NETWORKS_AUTOSTART, f.NETWORKS_NO_AUTOSTART, n.autostart)
            ]

    def network_get_xml_desc(self, net: NetworkRef | bytes | str, flags: int = 0) -> str:
        """``virNetworkGetXMLDesc``; the test driver rejects every flag (even INACTIVE)."""
        if flags:
            raise VirtError.bad_flags("testNetworkGetXMLDesc", flags)
        with self._lock:
            n = self._find_net(net)
            return (
                f"<network>\n  <name>{n.name}</name>\n  <uuid>{format_uuid(n.uuid)}</uuid>\n"
                f"{n.xml_body}</network>\n"
            )

    def network_is_active(self, net: NetworkRef | bytes | str) -> bool:
        """``virNetworkIsActive``."""
        with self._lock:
            return self._find_net(net).active

    def network_is_persistent(self, net: NetworkRef | bytes | str) -> bool:
        """``virNetworkIsPersistent``."""
        with self._lock:
            return self._find_net(net).persistent

    def network_get_autostart(self, net: NetworkRef | bytes | str) -> bool:
        """``virNetworkGetAutostart``."""
        with self._lock:
            return self._find_net(net).autostart

    def network_set_autostart(self, net: NetworkRef | bytes | str, autostart: bool) -> None:
        """``virNetworkSetAutostart``."""
        with self._lock:
            self._find_net(net).autostart = bool(autostart)

    def network_get_bridge_name(self, net: NetworkRef | bytes | str) -> str:
        """``virNetworkGetBridgeName``."""
        with self._lock:
            return self._find_net(net).bridge

    def network_create(self, net: NetworkRef | bytes | str) -> None:
        """``virNetworkCreate``: start an inactive network (event STARTED)."""
        with self._locked():
            n = self._find_net(net)
            if n.active:
                raise VirtError.invalid(ErrDomain.TEST, f"Network '{n.name}' is already running")
            n.active = True
            self._emit(NetworkLifecycleEvent(n.ref(), _NETWORK_EVENT_STARTED, 0))

    def network_destroy(self, net: NetworkRef | bytes | str) -> None:
        """``virNetworkDestroy``; like the test driver it does not check the state first."""
        with self._locked():
            n = self._find_net(net)
            n.active = False
            self._emit(NetworkLifecycleEvent(n.ref(), _NETWORK_EVENT_STOPPED, 0))
            if not n.persistent:
                del self._networks[n.uuid]

    # ---------------------------------------------------------------- storage pools

    def _find_pool(self, key: PoolRef | bytes | str) -> _Pool:
        raw = key.uuid if isinstance(key, PoolRef) else None
        if raw is None:
            try:
                raw = parse_uuid(key)  # type: ignore[arg-type]
            except ValueError:
                raise _pool_not_found("uuid", str(key)) from None
        pool = self._pools.get(raw)
        if pool is None:
            raise _pool_not_found("uuid", format_uuid(raw))
        return pool

    def _active_pool(self, key: PoolRef | bytes | str) -> _Pool:
        pool = self._find_pool(key)
        if not pool.active:
            raise VirtError.invalid(ErrDomain.TEST, f"storage pool '{pool.name}' is not active")
        return pool

    def lookup_pool_by_name(self, name: str) -> PoolRef:
        """``virStoragePoolLookupByName``; misses raise code 49."""
        with self._lock:
            for pool in self._pools.values():
                if pool.name == name:
                    return pool.ref()
        raise _pool_not_found("name", name)

    def lookup_pool_by_uuid(self, uuid: bytes | str) -> PoolRef:
        """``virStoragePoolLookupByUUID``."""
        with self._lock:
            return self._find_pool(uuid).ref()

    def lookup_pool_by_volume(self, vol: VolumeRef) -> PoolRef:
        """``virStoragePoolLookupByVolume``."""
        return self.lookup_pool_by_name(vol.pool)

    def list_all_storage_pools(self, flags: int = 0) -> list[PoolRef]:
        """``virConnectListAllStoragePools`` with the ``VIR_CONNECT_LIST_STORAGE_POOLS_*``
        filters, including the pool-type bits (64 = dir, ...)."""
        f = ListFlags
        type_bits = flags >> 6
        with self._lock:
            out = []
            for p in self._pools.values():
                if not (
                    _filter(flags, f.POOLS_ACTIVE, f.POOLS_INACTIVE, p.active)
                    and _filter(flags, f.POOLS_PERSISTENT, f.POOLS_TRANSIENT, p.persistent)
                    and _filter(flags, f.POOLS_AUTOSTART, f.POOLS_NO_AUTOSTART, p.autostart)
                ):
                    continue
                if type_bits:
                    idx = _POOL_TYPE_BITS.index(p.type) if p.type in _POOL_TYPE_BITS else -1
                    if idx < 0 or not type_bits & (1 << idx):
                        continue
                out.append(p.ref())
            return out

    def pool_get_info(self, pool: PoolRef | bytes | str) -> PoolInfo:
        """``virStoragePoolGetInfo``: state 2 (running) or 0 (inactive) and sizes."""
        with self._lock:
            p = self._find_pool(pool)
            alloc = p.allocation
            return PoolInfo(
                _POOL_RUNNING if p.active else _POOL_INACTIVE, p.capacity, alloc, p.capacity - alloc
            )

    def pool_get_xml_desc(self, pool: PoolRef | bytes | str, flags: int = 0) -> str:
        """``virStoragePoolGetXMLDesc``."""
        with self._lock:
            p = self._find_pool(pool)
            alloc = p.allocation
            return (
                f"<pool type='{p.type}'>\n"
                f"  <name>{p.name}</name>\n"
                f"  <uuid>{format_uuid(p.uuid)}</uuid>\n"
                f"  <capacity unit='bytes'>{p.capacity}</capacity>\n"
                f"  <allocation unit='bytes'>{alloc}</allocation>\n"
                f"  <available unit='bytes'>{p.capacity - alloc}</available>\n"
                "  <source>\n  </source>\n"
                "  <target>\n"
                f"    <path>{p.path}</path>\n"
                "  </target>\n"
                "</pool>\n"
            )

    def pool_is_active(self, pool: PoolRef | bytes | str) -> bool:
        """``virStoragePoolIsActive``."""
        with self._lock:
            return self._find_pool(pool).active

    def pool_is_persistent(self, pool: PoolRef | bytes | str) -> bool:
        """``virStoragePoolIsPersistent``."""
        with self._lock:
            return self._find_pool(pool).persistent

    def pool_get_autostart(self, pool: PoolRef | bytes | str) -> bool:
        """``virStoragePoolGetAutostart``."""
        with self._lock:
            return self._find_pool(pool).autostart

    def pool_set_autostart(self, pool: PoolRef | bytes | str, autostart: bool) -> None:
        """``virStoragePoolSetAutostart``."""
        with self._lock:
            self._find_pool(pool).autostart = bool(autostart)

    def pool_create(self, pool: PoolRef | bytes | str, flags: int = 0) -> None:
        """``virStoragePoolCreate``: start an inactive pool (event STARTED)."""
        with self._locked():
            p = self._find_pool(pool)
            if p.active:
                raise VirtError.invalid(ErrDomain.TEST, f"storage pool '{p.name}' is active")
            p.active = True
            self._emit(PoolLifecycleEvent(p.ref(), _POOL_EVENT_STARTED, 0))

    def pool_destroy(self, pool: PoolRef | bytes | str) -> None:
        """``virStoragePoolDestroy``: stop an active pool (event STOPPED); volumes stay."""
        with self._locked():
            p = self._active_pool(pool)
            p.active = False
            self._emit(PoolLifecycleEvent(p.ref(), _POOL_EVENT_STOPPED, 0))

    def pool_refresh(self, pool: PoolRef | bytes | str, flags: int = 0) -> None:
        """``virStoragePoolRefresh``: nothing to rescan, only the state is checked."""
        with self._lock:
            self._active_pool(pool)

    def pool_num_of_volumes(self, pool: PoolRef | bytes | str) -> int:
        """``virStoragePoolNumOfVolumes``."""
        with self._lock:
            return len(self._active_pool(pool).volumes)

    def pool_list_volumes(self, pool: PoolRef | bytes | str, maxnames: int = 1 << 20) -> list[str]:
        """``virStoragePoolListVolumes``."""
        with self._lock:
            return list(self._active_pool(pool).volumes)[:maxnames]

    def pool_list_all_volumes(self, pool: PoolRef | bytes | str, flags: int = 0) -> list[VolumeRef]:
        """``virStoragePoolListAllVolumes``."""
        with self._lock:
            p = self._active_pool(pool)
            return [self._vol_ref(p, v) for v in p.volumes.values()]

    # ---------------------------------------------------------------- storage volumes

    @staticmethod
    def _vol_path(p: _Pool, v: _Volume) -> str:
        return f"{p.path}/{v.name}"

    def _vol_ref(self, p: _Pool, v: _Volume) -> VolumeRef:
        return VolumeRef(p.name, v.name, self._vol_path(p, v))

    def _find_vol(self, vol: VolumeRef) -> tuple[_Pool, _Volume]:
        for p in self._pools.values():
            if p.name == vol.pool:
                v = p.volumes.get(vol.name)
                if v is not None:
                    return p, v
        raise _vol_not_found("name", vol.name)

    def storage_vol_lookup_by_name(self, pool: PoolRef | bytes | str, name: str) -> VolumeRef:
        """``virStorageVolLookupByName``."""
        with self._lock:
            p = self._active_pool(pool)
            v = p.volumes.get(name)
            if v is None:
                raise _vol_not_found("name", name)
            return self._vol_ref(p, v)

    def _lookup_vol_by_path(self, path: str, what: str) -> VolumeRef:
        with self._lock:
            for p in self._pools.values():
                if not p.active:
                    continue
                for v in p.volumes.values():
                    if self._vol_path(p, v) == path:
                        return self._vol_ref(p, v)
        raise _vol_not_found(what, path)

    def storage_vol_lookup_by_key(self, key: str) -> VolumeRef:
        """``virStorageVolLookupByKey`` (the key is the path)."""
        return self._lookup_vol_by_path(key, "key")

    def storage_vol_lookup_by_path(self, path: str) -> VolumeRef:
        """``virStorageVolLookupByPath``."""
        return self._lookup_vol_by_path(path, "path")

    def storage_vol_create(
        self,
        pool: PoolRef | bytes | str,
        name: str,
        capacity: int,
        allocation: int | None = None,
        fmt: str = "raw",
    ) -> VolumeRef:
        """Create a volume from plain values (what ``storage_vol_create_xml`` ends in)."""
        with self._locked():
            p = self._active_pool(pool)
            if name in p.volumes:
                raise VirtError.failed(ErrDomain.TEST, "storage vol already exists")
            alloc = capacity if allocation is None else allocation
            if p.allocation + alloc > p.capacity:
                raise VirtError.internal_error(
                    ErrDomain.TEST, f"Not enough free space in pool for volume '{name}'"
                )
            fd, file_path = tempfile.mkstemp(prefix="vol-", suffix=".img", dir=self.storage_dir)
            try:
                # A sparse file: uploads with holes never materialise the holes on disk.
                os.ftruncate(fd, capacity)
            finally:
                os.close(fd)
            v = _Volume(name, capacity, alloc, fmt, os.path.basename(file_path))
            p.volumes[name] = v
            return self._vol_ref(p, v)

    def storage_vol_create_xml(
        self, pool: PoolRef | bytes | str, xml: str | bytes, flags: int = 0
    ) -> VolumeRef:
        """``virStorageVolCreateXML``: allocation defaults to the capacity (as the test
        driver does) and is charged to the pool."""
        sd = ErrDomain.STORAGE
        root = parse_xml(xml, "volume", context="storage_volume_definition", err_domain=sd)
        name = (root.findtext("name") or "").strip()
        if not name:
            raise VirtError.xml_error(sd, "missing volume name element")
        cap = root.find("capacity")
        if cap is None:
            raise VirtError.xml_error(sd, "missing capacity element")
        capacity = parse_size(cap.text or "", cap.get("unit"), "bytes", sd)
        alloc_elem = root.find("allocation")
        allocation = (
            None
            if alloc_elem is None
            else parse_size(alloc_elem.text or "", alloc_elem.get("unit"), "bytes", sd)
        )
        fmt_elem = root.find("target/format")
        fmt = fmt_elem.get("type", "raw") if fmt_elem is not None else "raw"
        return self.storage_vol_create(pool, name, capacity, allocation, fmt)

    def storage_vol_delete(self, vol: VolumeRef, flags: int = 0) -> None:
        """``virStorageVolDelete``: the backing file goes too."""
        with self._locked():
            p, v = self._find_vol(vol)
            if not p.active:
                raise VirtError.invalid(ErrDomain.TEST, f"storage pool '{p.name}' is not active")
            del p.volumes[v.name]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.storage_dir, v.file))

    def storage_vol_get_info(self, vol: VolumeRef) -> VolumeInfo:
        """``virStorageVolGetInfo`` (type 0 = file)."""
        with self._lock:
            _, v = self._find_vol(vol)
            return VolumeInfo(0, v.capacity, v.allocation)

    def storage_vol_get_path(self, vol: VolumeRef) -> str:
        """``virStorageVolGetPath``."""
        with self._lock:
            p, v = self._find_vol(vol)
            return self._vol_path(p, v)

    def storage_vol_get_xml_desc(self, vol: VolumeRef, flags: int = 0) -> str:
        """``virStorageVolGetXMLDesc``."""
        with self._lock:
            p, v = self._find_vol(vol)
            path = self._vol_path(p, v)
            return (
                "<volume type='file'>\n"
                f"  <name>{v.name}</name>\n"
                f"  <key>{path}</key>\n"
                f"  <capacity unit='bytes'>{v.capacity}</capacity>\n"
                f"  <allocation unit='bytes'>{v.allocation}</allocation>\n"
                "  <target>\n"
                f"    <path>{path}</path>\n"
                f"    <format type='{v.format}'/>\n"
                "  </target>\n"
                "</volume>\n"
            )

    def storage_vol_backing_file(self, vol: VolumeRef) -> str:
        """The real file holding the volume's bytes (sparse; opened by stream code)."""
        with self._lock:
            _, v = self._find_vol(vol)
            return os.path.join(self.storage_dir, v.file)

    def storage_vol_open(self, vol: VolumeRef, *, write: bool = False) -> VolumeData:
        """Open the volume's data for a stream upload (``write=True``) or download."""
        path = self.storage_vol_backing_file(vol)
        return VolumeData(path, write=write)

    # ---------------------------------------------------------------- persistence

    def to_json(self) -> dict[str, Any]:
        """The whole mutable state as a JSON-serialisable dict."""
        with self._lock:
            domains = []
            for d in self._domains.values():
                domains.append(
                    {
                        "xml": format_domain_xml(d.defn, None, secure=True),
                        "new_xml": (
                            format_domain_xml(d.new_defn, None, secure=True) if d.new_defn else None
                        ),
                        "persistent": d.persistent,
                        "state": d.state,
                        "reason": d.reason,
                        "id": d.id,
                        "autostart": d.autostart,
                    }
                )
            networks = [
                {
                    "name": n.name,
                    "uuid": format_uuid(n.uuid),
                    "xml_body": n.xml_body,
                    "bridge": n.bridge,
                    "active": n.active,
                    "persistent": n.persistent,
                    "autostart": n.autostart,
                }
                for n in self._networks.values()
            ]
            pools = [
                {
                    "name": p.name,
                    "uuid": format_uuid(p.uuid),
                    "type": p.type,
                    "path": p.path,
                    "capacity": p.capacity,
                    "active": p.active,
                    "persistent": p.persistent,
                    "autostart": p.autostart,
                    "volumes": [
                        {
                            "name": v.name,
                            "capacity": v.capacity,
                            "allocation": v.allocation,
                            "format": v.format,
                            "file": v.file,
                        }
                        for v in p.volumes.values()
                    ],
                }
                for p in self._pools.values()
            ]
            return {
                "format": STATE_FORMAT,
                "version": STATE_VERSION,
                "flavour": self.flavour,
                "next_id": self._next_id,
                "domains": domains,
                "networks": networks,
                "pools": pools,
            }

    def save(self, path: str) -> None:
        """Write the state to *path* atomically (temp file, fsync, rename, fsync dir)."""
        data = json.dumps(self.to_json(), indent=1, sort_keys=True).encode()
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @classmethod
    def load(
        cls, path: str, *, storage_dir: str | None = None, hostname: str | None = None
    ) -> Hypervisor:
        """Restore a hypervisor saved with :meth:`save`.

        Volume files missing from *storage_dir* are recreated empty (sparse) with their
        capacity.  :raises StateFileError: if the file is unreadable or malformed; the
        message names the file and what is wrong.  Nothing is ever silently replaced.
        """
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise StateFileError(f"{path}: cannot read state file: {exc.strerror}") from exc
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateFileError(f"{path}: not valid JSON: {exc}") from exc
        try:
            return cls._from_json(data, storage_dir=storage_dir, hostname=hostname)
        except StateFileError as exc:
            raise StateFileError(f"{path}: {exc}") from exc
        except VirtError as exc:
            raise StateFileError(f"{path}: invalid definition: {exc.message}") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateFileError(f"{path}: malformed state: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def _from_json(cls, data: Any, *, storage_dir: str | None, hostname: str | None) -> Hypervisor:
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise StateFileError(f"not a {STATE_FORMAT} file")
        if data.get("version") != STATE_VERSION:
            raise StateFileError(f"unsupported state version {data.get('version')!r}")
        hv = cls(
            flavour=data["flavour"], storage_dir=storage_dir, hostname=hostname, populate=False
        )
        hv._next_id = int(data["next_id"])
        for item in data["domains"]:
            defn = hv._parse_domain(item["xml"])
            dom = _Domain(
                defn=defn,
                new_defn=hv._parse_domain(item["new_xml"]) if item.get("new_xml") else None,
                persistent=bool(item["persistent"]),
                state=int(item["state"]),
                reason=int(item["reason"]),
                id=int(item["id"]),
                autostart=bool(item["autostart"]),
            )
            hv._domains[defn.uuid] = dom
        for item in data["networks"]:
            net = _Network(
                name=str(item["name"]),
                uuid=parse_uuid(item["uuid"]),
                xml_body=str(item["xml_body"]),
                bridge=str(item["bridge"]),
                active=bool(item["active"]),
                persistent=bool(item["persistent"]),
                autostart=bool(item["autostart"]),
            )
            hv._networks[net.uuid] = net
        for item in data["pools"]:
            pool = _Pool(
                name=str(item["name"]),
                uuid=parse_uuid(item["uuid"]),
                type=str(item["type"]),
                path=str(item["path"]),
                capacity=int(item["capacity"]),
                active=bool(item["active"]),
                persistent=bool(item["persistent"]),
                autostart=bool(item["autostart"]),
            )
            for vi in item["volumes"]:
                fname = os.path.basename(str(vi["file"]))
                vol = _Volume(
                    str(vi["name"]),
                    int(vi["capacity"]),
                    int(vi["allocation"]),
                    str(vi["format"]),
                    fname,
                )
                full = os.path.join(hv.storage_dir, fname)
                if not os.path.exists(full):
                    with open(full, "wb") as fh:
                        fh.truncate(vol.capacity)
                pool.volumes[vol.name] = vol
            hv._pools[pool.uuid] = pool
        return hv


class VolumeData:
    """Random access to a volume's sparse backing file, for stream upload/download.

    Reads and writes go straight to the file, so volumes of any size cost no memory; holes
    are found with ``SEEK_DATA``/``SEEK_HOLE`` (:meth:`data_regions`) so sparse transfers
    can skip them.
    """

    def __init__(self, path: str, *, write: bool = False) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR if write else os.O_RDONLY)

    @property
    def size(self) -> int:
        """Current size of the volume in bytes."""
        return os.fstat(self._fd).st_size

    def read_at(self, offset: int, length: int) -> bytes:
        """Read up to *length* bytes at *offset* (holes read as zeros)."""
        return os.pread(self._fd, length, offset)

    def write_at(self, offset: int, data: bytes) -> None:
        """Write *data* at *offset*."""
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, offset)
            view, offset = view[n:], offset + n

    def punch_hole(self, offset: int, length: int) -> None:
        """Make ``[offset, offset+length)`` a hole (zeros); extends the file if needed.

        Uses ``fallocate(PUNCH_HOLE)`` when the file system supports it and otherwise
        writes zeros, which keeps the content right even where holes are not possible.
        """
        end = offset + length
        if end > self.size:
            os.ftruncate(self._fd, end)
        try:
            _punch_hole(self._fd, offset, length)
        except OSError:
            zero = bytes(min(length, 1 << 20))
            pos = offset
            while pos < end:
                chunk = min(len(zero), end - pos)
                self.write_at(pos, zero[:chunk])
                pos += chunk

    def truncate(self, size: int) -> None:
        """Set the volume's size."""
        os.ftruncate(self._fd, size)

    def data_regions(self, start: int = 0) -> Iterator[tuple[int, int, bool]]:
        """Yield ``(offset, length, is_data)`` extents from *start* to the end of the file.

        Consecutive extents alternate between data and holes; on file systems without hole
        reporting the whole file is one data extent.
        """
        size = self.size
        pos = start
        while pos < size:
            try:
                data = os.lseek(self._fd, pos, os.SEEK_DATA)
            except OSError:
                data = size  # ENXIO: only a hole remains
            if data > pos:
                yield (pos, min(data, size) - pos, False)
                pos = data
                if pos >= size:
                    break
            try:
                hole = os.lseek(self._fd, pos, os.SEEK_HOLE)
            except OSError:
                hole = size
            hole = min(hole, size)
            yield (pos, hole - pos, True)
            pos = hole

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> VolumeData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _punch_hole(fd: int, offset: int, length: int) -> None:
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    falloc_fl_keep_size, falloc_fl_punch_hole = 0x01, 0x02
    res = libc.fallocate(
        ctypes.c_int(fd),
        ctypes.c_int(falloc_fl_keep_size | falloc_fl_punch_hole),
        ctypes.c_longlong(offset),
        ctypes.c_longlong(length),
    )
    if res != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _not_running(d: _Domain) -> VirtError:
    return VirtError.internal_error(ErrDomain.TEST, f"domain '{d.defn.name}' not running")


def _filter(flags: int, yes_bit: int, no_bit: int, value: bool) -> bool:
    """libvirt's paired filter bits: with neither (or both) set everything matches."""
    want = flags & (yes_bit | no_bit)
    if not want or want == (yes_bit | no_bit):
        return True
    return value if want == yes_bit else not value


def _net_not_found(what: str, value: str) -> VirtError:
    return VirtError.fmt(
        ErrCode.NO_NETWORK,
        ErrDomain.TEST,
        "Network not found: %s",
        f"no network with matching {what} '{value}'",
    )


def _pool_not_found(what: str, value: str) -> VirtError:
    return VirtError.fmt(
        ErrCode.NO_STORAGE_POOL,
        ErrDomain.TEST,
        "Storage pool not found: %s",
        f"no storage pool with matching {what} '{value}'",
    )


def _vol_not_found(what: str, value: str) -> VirtError:
    return VirtError.fmt(
        ErrCode.NO_STORAGE_VOL,
        ErrDomain.TEST,
        "Storage volume not found: %s",
        f"no storage vol with matching {what} '{value}'",
    )
