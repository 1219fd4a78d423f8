"""Domains of a driver instance: definitions, the test driver's state machine (states and
reasons, running ids), lifecycle, reboot and QMP monitor events.

:class:`Domains` knows nothing about RPC.  Errors are :class:`VirtError` with the test
driver's code, domain and text.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from .. import xmltree
from ..core import DriverCore, Event, Flavour, list_filter
from ..domxml import (
    DomainDef,
    ErrCode,
    ErrDomain,
    VirtError,
    format_domain_xml,
    format_uuid,
    parse_domain_xml,
    parse_uuid,
)

if TYPE_CHECKING:
    from ..snapshots.model import DomainMoments

__all__ = (
    "TEST_DOMAIN_UUID",
    "DomainEventDetail",
    "DomainEventType",
    "DomainInfo",
    "DomainKey",
    "DomainLifecycleEvent",
    "DomainListFlags",
    "DomainRebootEvent",
    "DomainRecord",
    "DomainRef",
    "DomainState",
    "Domains",
    "MonitorEvent",
    "domain_entry",
)


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
    RUNNING_RESTORED = 3
    RUNNING_FROM_SNAPSHOT = 4
    RUNNING_UNPAUSED = 5
    PAUSED_UNKNOWN = 0
    PAUSED_USER = 1
    PAUSED_FROM_SNAPSHOT = 7
    SHUTDOWN_UNKNOWN = 0
    SHUTDOWN_USER = 1
    SHUTOFF_UNKNOWN = 0
    SHUTOFF_SHUTDOWN = 1
    SHUTOFF_DESTROYED = 2
    SHUTOFF_CRASHED = 3
    SHUTOFF_SAVED = 5
    SHUTOFF_FROM_SNAPSHOT = 7


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
    STARTED_RESTORED = 2
    STARTED_FROM_SNAPSHOT = 3
    SUSPENDED_PAUSED = 0
    SUSPENDED_FROM_SNAPSHOT = 5
    RESUMED_UNPAUSED = 0
    STOPPED_SHUTDOWN = 0
    STOPPED_DESTROYED = 1
    STOPPED_CRASHED = 2
    STOPPED_SAVED = 4
    STOPPED_FROM_SNAPSHOT = 6
    SHUTDOWN_FINISHED = 0
    SHUTDOWN_GUEST = 1
    SHUTDOWN_HOST = 2


class DomainListFlags:
    """``virConnectListAllDomainsFlags``."""

    ACTIVE = 1
    INACTIVE = 2
    PERSISTENT = 4
    TRANSIENT = 8
    RUNNING = 16
    PAUSED = 32
    SHUTOFF = 64
    OTHER = 128
    MANAGEDSAVE = 256
    NO_MANAGEDSAVE = 512
    AUTOSTART = 1024
    NO_AUTOSTART = 2048
    HAS_SNAPSHOT = 4096
    NO_SNAPSHOT = 8192
    HAS_CHECKPOINT = 16384
    NO_CHECKPOINT = 32768
    ALL = 0xFFFF


XML_SECURE = 1
XML_INACTIVE = 2
XML_UPDATE_CPU = 4
XML_MIGRATABLE = 8

#: virDomainUndefineFlagsValues the test driver knows
UNDEFINE_MANAGED_SAVE = 1
UNDEFINE_SNAPSHOTS_METADATA = 2


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


DomainKey = DomainRef | bytes | str


@dataclass(frozen=True, slots=True)
class DomainInfo:
    """``virDomainInfo``: memory values in KiB, cpu_time in nanoseconds."""

    state: int
    max_mem: int
    memory: int
    nr_virt_cpu: int
    cpu_time: int


@dataclass(frozen=True, slots=True)
class DomainLifecycleEvent(Event):
    """A ``VIR_DOMAIN_EVENT_ID_LIFECYCLE`` event; ``dom`` is the domain as it was then."""

    dom: DomainRef
    event: int
    detail: int


@dataclass(frozen=True, slots=True)
class DomainRebootEvent(Event):
    """A ``VIR_DOMAIN_EVENT_ID_REBOOT`` event (the guest was reset)."""

    dom: DomainRef


@dataclass(frozen=True, slots=True)
class MonitorEvent(Event):
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


@dataclass
class DomainRecord:
    """One domain of a driver instance as the other modules of the package see it through
    :meth:`Domains.access`: its definitions, state and what the driver keeps beside them."""

    defn: DomainDef  # the live definition while running, else the persistent one
    new_defn: DomainDef | None = None  # pending persistent config of a running domain
    persistent: bool = True
    state: int = DomainState.SHUTOFF
    reason: int = DomainState.SHUTOFF_UNKNOWN
    id: int = -1
    autostart: bool = False
    #: what the test driver keeps beside the definition (guest clock, frozen filesystems,
    #: IOThread polling parameters); see :mod:`.runtime`
    priv: dict[str, Any] = field(default_factory=dict)
    managed_save: bool = False
    #: the domain's snapshots and checkpoints (see :mod:`..snapshots.model`)
    moments: DomainMoments | None = None
    #: counts the lookups of the object (its definitions may have changed in place since
    #: the last state-file snapshot of them when it moved)
    version: int = 0

    @property
    def active(self) -> bool:
        return self.id != -1

    def ref(self) -> DomainRef:
        return DomainRef(self.defn.name, self.defn.uuid, self.id)


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


def _dom_error_not_found() -> VirtError:
    return VirtError(ErrCode.NO_DOMAIN, ErrDomain.TEST, "Domain not found", str1="Domain not found")


def _not_running(d: DomainRecord) -> VirtError:
    return VirtError.internal_error(ErrDomain.TEST, f"domain '{d.defn.name}' not running")


def _fields(d: DomainRecord) -> tuple[Any, ...]:
    """The state-file fields of *d* beside its definitions (hashable)."""
    priv = json.dumps(d.priv, sort_keys=True) if d.priv else ""
    # the saved form of the snapshots and checkpoints (see ..snapshots.model.DomainMoments)
    moments = d.moments.dump() if d.moments is not None else None
    return (d.persistent, d.state, d.reason, d.id, d.autostart, priv, d.managed_save, moments)


def domain_entry(defn: DomainDef, new_defn: DomainDef | None, fields: tuple[Any, ...]
                 ) -> dict[str, Any]:
    """One domain's entry in the state file (see :meth:`Domains.snapshot`)."""
    persistent, state, reason, dom_id, autostart, priv, managed_save, moments = fields
    item: dict[str, Any] = {
        "xml": format_domain_xml(defn, None, secure=True),
        "new_xml": format_domain_xml(new_defn, None, secure=True) if new_defn else None,
        "persistent": persistent,
        "state": state,
        "reason": reason,
        "id": dom_id,
        "autostart": autostart,
    }
    if defn.metadata is not None:
        item["metadata"] = xmltree.to_json(defn.metadata)
    if new_defn is not None and new_defn.metadata is not None:
        item["new_metadata"] = xmltree.to_json(new_defn.metadata)
    if priv:
        item["priv"] = json.loads(priv)
    if managed_save:
        item["managed_save"] = True
    if moments:
        item["moments"] = moments
    return item


class Domains:
    """The domains of one driver instance (thread-safe; events go through the core)."""

    def __init__(self, core: DriverCore) -> None:
        self._core = core
        self._objects: dict[bytes, DomainRecord] = {}
        #: the copies the last snapshot took: uuid -> (object, its version, defn, new_defn)
        self._snapshots: dict[bytes, tuple[DomainRecord, int, DomainDef, DomainDef | None]] = {}
        #: the id the next domain to start gets
        self.next_id = 1
        #: whether a domain (by UUID) has snapshots; the snapshots room answers it
        self.has_snapshots: Callable[[bytes], bool] = lambda uuid: False
        #: whether a domain (by UUID) has checkpoints; the snapshots room answers it
        self.has_checkpoints: Callable[[bytes], bool] = lambda uuid: False

    def load(
        self, defn: DomainDef, *, state: int = DomainState.RUNNING, persistent: bool = True,
        managed_save: bool = False,
    ) -> DomainRef:
        """Add a domain as a node file describes it, quietly: any state but SHUTOFF starts
        it (a new id) and then sets that state with reason 0, as the test driver does.

        :raises VirtError: when its name or UUID is taken.
        """
        with self._core.lock:
            self._check_conflicts(defn, live=False)
            dom = DomainRecord(defn=defn, persistent=persistent, managed_save=managed_save)
            if state != DomainState.SHUTOFF:
                dom.id = self._new_id()
                if persistent:
                    # testDomainStartState: the persistent definition is kept apart
                    dom.new_defn = defn.copy()
            dom.state, dom.reason = state, 0
            self._objects[defn.uuid] = dom
            return dom.ref()

    def populate_default(self) -> None:
        """Add test:///default's running domain "test"."""
        flavour = self._core.flavour
        xml = _TEST_DOMAIN_XML
        if flavour == "qemu":
            xml = xml.replace("type='test'", "type='kvm'", 1)
        defn = parse_domain_xml(xml, default_arch="i686" if flavour == "test" else "x86_64")
        self._objects[defn.uuid] = DomainRecord(
            defn=defn,
            persistent=True,
            state=DomainState.RUNNING,
            reason=DomainState.RUNNING_UNKNOWN,
            id=self._new_id(),
        )
        self._objects[defn.uuid].new_defn = defn.copy()

    def _emit_monitor(self, dom: DomainRecord, name: str, data: dict[str, Any] | None) -> None:
        now = time.time_ns() // 1000
        self._core.emit(MonitorEvent(dom.ref(), name, now // 1_000_000, now % 1_000_000, data))

    def _new_id(self) -> int:
        new = self.next_id
        self.next_id += 1
        return new

    def _find(self, key: DomainKey) -> DomainRecord:
        """Resolve a handle the way the test driver does: by UUID."""
        name: str | None = None
        if isinstance(key, DomainRef):
            name, raw = key.name, key.uuid
        else:
            try:
                raw = parse_uuid(key)
            except ValueError:
                raise _dom_error_not_found() from None
        dom = self._objects.get(raw)
        if dom is None:
            if name is None:
                raise _dom_error_not_found()
            raise VirtError.fmt(
                ErrCode.NO_DOMAIN,
                ErrDomain.TEST,
                "Domain not found: %s",
                f"no domain with matching uuid '{format_uuid(raw)}' ({name})",
            )
        dom.version += 1  # the caller may change its definitions in place
        return dom

    def lookup_by_name(self, name: str) -> DomainRef:
        """``virDomainLookupByName``; misses raise code 42 "Domain not found"."""
        with self._core.lock:
            for dom in self._objects.values():
                if dom.defn.name == name:
                    return dom.ref()
        raise _dom_error_not_found()

    def lookup_by_uuid(self, uuid: bytes | str) -> DomainRef:
        """``virDomainLookupByUUID`` (raw 16 bytes or text)."""
        with self._core.lock:
            try:
                dom = self._objects.get(parse_uuid(uuid))
            except ValueError:
                dom = None
            if dom is None:
                raise _dom_error_not_found()
            return dom.ref()

    def lookup_by_id(self, dom_id: int) -> DomainRef:
        """``virDomainLookupByID`` (active domains only)."""
        with self._core.lock:
            for dom in self._objects.values():
                if dom.active and dom.id == dom_id:
                    return dom.ref()
        raise _dom_error_not_found()

    @contextlib.contextmanager
    def access(self, key: DomainKey) -> Iterator[DomainRecord]:
        """The domain object behind *key*, for the other modules of this package, with the
        state lock held; events emitted meanwhile are delivered when the block ends.

        :raises VirtError: "Domain not found" as the test driver words it.
        """
        with self._core.locked():
            yield self._find(key)

    def emit(self, event: Event) -> None:
        """Queue *event* (inside :meth:`access`)."""
        self._core.emit(event)

    def objects(self) -> list[DomainRecord]:
        """Every domain object, in definition order (call inside :meth:`access` or with the
        lock held)."""
        for d in self._objects.values():
            d.version += 1
        return list(self._objects.values())

    @property
    def lock(self) -> Any:
        """The state lock."""
        return self._core.lock

    def ref(self, dom: DomainKey) -> DomainRef:
        """The current name/uuid/id of a domain handle."""
        with self._core.lock:
            return self._find(dom).ref()

    # ---------------------------------------------------------------- domain listing

    def list_all(self, flags: int = 0) -> list[DomainRef]:
        """``virConnectListAllDomains`` with the ``VIR_CONNECT_LIST_DOMAINS_*`` filters."""
        f = DomainListFlags
        out = []
        with self._core.lock:
            for dom in self._objects.values():
                if not list_filter(flags, f.ACTIVE, f.INACTIVE, dom.active):
                    continue
                if not list_filter(flags, f.PERSISTENT, f.TRANSIENT, dom.persistent):
                    continue
                state_bits = flags & (
                    f.RUNNING | f.PAUSED | f.SHUTOFF | f.OTHER
                )
                if state_bits:
                    bit = {
                        DomainState.RUNNING: f.RUNNING,
                        DomainState.PAUSED: f.PAUSED,
                        DomainState.SHUTOFF: f.SHUTOFF,
                    }.get(dom.state, f.OTHER)
                    if not state_bits & bit:
                        continue
                if not list_filter(flags, f.MANAGEDSAVE, f.NO_MANAGEDSAVE, dom.managed_save):
                    continue
                if not list_filter(flags, f.AUTOSTART, f.NO_AUTOSTART, dom.autostart):
                    continue
                has_snapshot = self.has_snapshots(dom.defn.uuid)
                if not list_filter(flags, f.HAS_SNAPSHOT, f.NO_SNAPSHOT, has_snapshot):
                    continue
                has_checkpoint = self.has_checkpoints(dom.defn.uuid)
                if not list_filter(flags, f.HAS_CHECKPOINT, f.NO_CHECKPOINT, has_checkpoint):
                    continue
                out.append(dom.ref())
        return out

    def num_of_active(self) -> int:
        """``virConnectNumOfDomains`` (active ones)."""
        with self._core.lock:
            return sum(1 for d in self._objects.values() if d.active)

    def list_active_ids(self, maxids: int) -> list[int]:
        """``virConnectListDomains``: ids of active domains."""
        with self._core.lock:
            return [d.id for d in self._objects.values() if d.active][:maxids]

    def num_of_inactive(self) -> int:
        """``virConnectNumOfDefinedDomains`` (inactive ones)."""
        with self._core.lock:
            return sum(1 for d in self._objects.values() if not d.active)

    def list_inactive_names(self, maxnames: int) -> list[str]:
        """``virConnectListDefinedDomains``: names of inactive domains."""
        with self._core.lock:
            return [d.defn.name for d in self._objects.values() if not d.active][:maxnames]

    # ---------------------------------------------------------------- domain queries

    def get_info(self, dom: DomainKey) -> DomainInfo:
        """``virDomainGetInfo``.  cpu_time is the wall clock in ns, as in the test driver."""
        with self._core.lock:
            d = self._find(dom)
            vcpus = d.defn.current_vcpus or d.defn.vcpus
            return DomainInfo(
                d.state,
                d.defn.memory_kib,
                d.defn.current_memory_kib,
                vcpus,
                (time.time_ns() // 1000) * 1000,
            )

    def get_state(self, dom: DomainKey, flags: int = 0) -> tuple[int, int]:
        """``virDomainGetState``: (state, reason)."""
        if flags:
            raise VirtError.bad_flags("testDomainGetState", flags)
        with self._core.lock:
            d = self._find(dom)
            return d.state, d.reason

    def get_os_type(self, dom: DomainKey, flavour: Flavour | None = None) -> str:
        """``virDomainGetOSType``; the test driver always answers "linux"."""
        with self._core.lock:
            d = self._find(dom)
            return "linux" if self._core.view(flavour) == "test" else d.defn.os_type

    def get_max_memory(self, dom: DomainKey) -> int:
        """``virDomainGetMaxMemory`` in KiB."""
        with self._core.lock:
            return self._find(dom).defn.memory_kib

    def get_max_vcpus(self, dom: DomainKey) -> int:
        """``virDomainGetMaxVcpus``."""
        with self._core.lock:
            return self._find(dom).defn.vcpus

    def get_xml_desc(self, dom: DomainKey, flags: int = 0) -> str:
        """``virDomainGetXMLDesc``; flags SECURE (1), INACTIVE (2) and MIGRATABLE (8)."""
        unsupported = flags & ~(XML_SECURE | XML_INACTIVE | XML_MIGRATABLE)
        if unsupported:
            raise VirtError.bad_flags("testDomainGetXMLDesc", flags)
        with self._core.lock:
            d = self._find(dom)
            if flags & (XML_INACTIVE | XML_MIGRATABLE):
                defn = d.new_defn or d.defn
                return format_domain_xml(defn, None, secure=bool(flags & XML_SECURE))
            return format_domain_xml(
                d.defn, d.id if d.active else None, secure=bool(flags & XML_SECURE)
            )

    def is_active(self, dom: DomainKey) -> bool:
        """``virDomainIsActive``."""
        with self._core.lock:
            return self._find(dom).active

    def is_persistent(self, dom: DomainKey) -> bool:
        """``virDomainIsPersistent``."""
        with self._core.lock:
            return self._find(dom).persistent

    def is_updated(self, dom: DomainKey) -> bool:
        """``virDomainIsUpdated``: the test driver always answers 0."""
        with self._core.lock:
            self._find(dom)
            return False

    def get_autostart(self, dom: DomainKey) -> bool:
        """``virDomainGetAutostart``."""
        with self._core.lock:
            return self._find(dom).autostart

    def set_autostart(self, dom: DomainKey, autostart: bool) -> None:
        """``virDomainSetAutostart`` (the test driver allows it on transient domains too)."""
        with self._core.lock:
            self._find(dom).autostart = bool(autostart)

    def has_managed_save_image(self, dom: DomainKey, flags: int = 0) -> bool:
        """``virDomainHasManagedSaveImage``."""
        if flags:
            raise VirtError.bad_flags("testDomainHasManagedSaveImage", flags)
        with self._core.lock:
            return self._find(dom).managed_save

    def get_security_label(
        self, dom: DomainKey, flavour: Flavour | None = None
    ) -> tuple[str, bool]:
        """``virDomainGetSecurityLabel``: (label, enforcing)."""
        with self._core.lock:
            self._find(dom)
            test = self._core.view(flavour) == "test"
            return ("libvirt-test", True) if test else ("", False)

    def get_messages(self, dom: DomainKey, flags: int = 0) -> list[str]:
        """``virDomainGetMessages``: none."""
        with self._core.lock:
            self._find(dom)
            return []

    def definition(self, dom: DomainKey) -> DomainDef:
        """A copy of the live (or, when inactive, persistent) definition."""
        with self._core.lock:
            return self._find(dom).defn.copy()

    # ---------------------------------------------------------------- define / undefine

    def _check_conflicts(self, defn: DomainDef, *, live: bool) -> DomainRecord | None:
        """Apply libvirt's name/UUID uniqueness rules; return the domain being replaced."""
        existing = self._objects.get(defn.uuid)
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
        for other in self._objects.values():
            if other.defn.name == defn.name:
                raise VirtError.failed(
                    ErrDomain.DOMAIN,
                    f"domain '{defn.name}' already exists with uuid {other.defn.uuid_str}",
                )
        return None

    def _parse_domain(self, xml: str | bytes, flavour: Flavour | None = None) -> DomainDef:
        if self._core.view(flavour) == "qemu":
            return parse_domain_xml(xml, default_arch="x86_64", allowed_types=("qemu", "kvm"))
        return parse_domain_xml(xml, default_arch="i686")

    def define_xml(
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
        with self._core.locked():
            existing = self._check_conflicts(defn, live=False)
            if existing is None:
                dom = DomainRecord(defn=defn)
                self._objects[defn.uuid] = dom
                detail = DomainEventDetail.DEFINED_ADDED
            else:
                dom = existing
                # libvirt says UPDATED when it replaced a definition: the persistent one
                # (a running domain's pending one, if it has one).
                detail = (
                    DomainEventDetail.DEFINED_UPDATED
                    if not dom.active or dom.new_defn is not None
                    else DomainEventDetail.DEFINED_ADDED
                )
                if dom.active:
                    dom.new_defn = defn
                else:
                    dom.defn = defn
                dom.persistent = True
            self._core.emit(DomainLifecycleEvent(dom.ref(), DomainEventType.DEFINED, detail))
            return dom.ref()

    def undefine(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainUndefine(Flags)``: an active domain becomes transient, else it goes.

        As the test driver: a managed save image needs ``VIR_DOMAIN_UNDEFINE_MANAGED_SAVE``
        (and is dropped), snapshots of an inactive domain need
        ``VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA``.
        """
        if flags & ~(UNDEFINE_MANAGED_SAVE | UNDEFINE_SNAPSHOTS_METADATA):
            raise VirtError.bad_flags("testDomainUndefineFlags",
                                      flags & ~(UNDEFINE_MANAGED_SAVE
                                                | UNDEFINE_SNAPSHOTS_METADATA))
        with self._core.locked():
            d = self._find(dom)
            if d.managed_save and not flags & UNDEFINE_MANAGED_SAVE:
                raise VirtError.invalid(
                    ErrDomain.TEST, "Refusing to undefine while domain managed save image exists"
                )
            snapshots = len(d.moments.snapshots) if d.moments is not None else 0
            if not d.active and snapshots and not flags & UNDEFINE_SNAPSHOTS_METADATA:
                raise VirtError.invalid(
                    ErrDomain.TEST, f"cannot delete inactive domain with {snapshots} snapshots"
                )
            self._core.emit(
                DomainLifecycleEvent(
                    d.ref(), DomainEventType.UNDEFINED, DomainEventDetail.UNDEFINED_REMOVED
                )
            )
            d.managed_save = False
            if d.active:
                d.persistent = False
                d.new_defn = None
            else:
                del self._objects[d.defn.uuid]

    # ---------------------------------------------------------------- lifecycle

    def _start(
        self,
        d: DomainRecord,
        reason: int = DomainState.RUNNING_BOOTED,
        detail: int | None = DomainEventDetail.STARTED_BOOTED,
    ) -> None:
        if d.persistent and d.new_defn is None:
            # As the test driver, a running persistent domain keeps its persistent
            # definition apart from the live one, which changes on its own from now on.
            d.new_defn = d.defn.copy()
        d.id = self._new_id()
        d.state, d.reason = DomainState.RUNNING, reason
        d.managed_save = False
        if detail is not None:
            self._core.emit(DomainLifecycleEvent(d.ref(), DomainEventType.STARTED, detail))

    def _stop(
        self, d: DomainRecord, reason: int, detail: int | None, *, remove_transient: bool = True
    ) -> None:
        d.state, d.reason = DomainState.SHUTOFF, reason
        if d.persistent or remove_transient or d.new_defn is not None:
            # libvirt resets the id when it goes back to the persistent definition; a
            # transient domain kept without one keeps its id (and counts as active).
            d.id = -1
        if detail is not None:
            self._core.emit(DomainLifecycleEvent(d.ref(), DomainEventType.STOPPED, detail))
        if not d.persistent and remove_transient:
            del self._objects[d.defn.uuid]
        elif d.new_defn is not None:
            d.defn, d.new_defn = d.new_defn, None

    def start_object(self, d: DomainRecord, reason: int, detail: int | None) -> None:
        """The test driver's ``testDomainStartState`` on a domain object (inside
        :meth:`access`): a new id, RUNNING with *reason*, no managed save image, and the
        STARTED event with *detail* (None: no event)."""
        self._start(d, reason, detail)

    def stop_object(
        self, d: DomainRecord, reason: int, detail: int | None, *, remove_transient: bool = True
    ) -> None:
        """The test driver's ``testDomainShutdownState`` on a domain object (inside
        :meth:`access`): SHUTOFF with *reason*, the STOPPED event with *detail* (None: no
        event), and a transient domain removed unless *remove_transient* is false."""
        self._stop(d, reason, detail, remove_transient=remove_transient)

    def remove_object(self, d: DomainRecord) -> None:
        """Forget a domain object (inside :meth:`access`)."""
        self._objects.pop(d.defn.uuid, None)

    def start_live(self, defn: DomainDef, reason: int, detail: int) -> DomainRef:
        """Start *defn* as a new transient domain, or as the live definition of the
        inactive domain with its UUID (``virDomainObjListAdd`` with ``ADD_LIVE`` and
        ``CHECK_LIVE``, then ``testDomainStartState``); the STARTED event has *detail*."""
        with self._core.locked():
            existing = self._check_conflicts(defn, live=True)
            if existing is None:
                d = DomainRecord(defn=defn, persistent=False)
                self._objects[defn.uuid] = d
            else:
                d = existing
                d.new_defn = d.defn
                d.defn = defn
            self._start(d, reason, detail)
            return d.ref()

    def create(self, dom: DomainKey, flags: int = 0) -> DomainRef:
        """``virDomainCreate(WithFlags)``: boot an inactive domain with a new id."""
        if flags:
            raise VirtError.bad_flags("testDomainCreateWithFlags", flags)
        with self._core.locked():
            d = self._find(dom)
            if d.active:
                raise VirtError.internal_error(
                    ErrDomain.TEST, f"Domain '{d.defn.name}' is already running"
                )
            self._start(d)
            return d.ref()

    def create_xml(
        self, xml: str | bytes, flags: int = 0, flavour: Flavour | None = None
    ) -> DomainRef:
        """``virDomainCreateXML``: start a transient domain (or boot an inactive persistent
        one with this XML as its live definition)."""
        if flags & ~4:  # VIR_DOMAIN_START_VALIDATE only
            raise VirtError.bad_flags("testDomainCreateXML", flags)
        defn = self._parse_domain(xml, flavour)
        return self.start_live(defn, DomainState.RUNNING_BOOTED, DomainEventDetail.STARTED_BOOTED)

    def shutdown(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainShutdown(Flags)``: graceful stop (SHUTOFF/SHUTDOWN, STOPPED/SHUTDOWN)."""
        with self._core.locked():
            d = self._find(dom)
            if d.state == DomainState.SHUTOFF:
                raise _not_running(d)
            self._emit_monitor(d, "POWERDOWN", None)
            self._emit_monitor(d, "SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
            self._stop(d, DomainState.SHUTOFF_SHUTDOWN, DomainEventDetail.STOPPED_SHUTDOWN)

    def destroy(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainDestroy(Flags)``: hard stop (SHUTOFF/DESTROYED, STOPPED/DESTROYED)."""
        with self._core.locked():
            d = self._find(dom)
            if not d.active:
                raise VirtError.invalid(ErrDomain.DOMAIN, "domain is not running")
            self._emit_monitor(d, "SHUTDOWN", {"guest": False, "reason": "host-signal"})
            self._stop(d, DomainState.SHUTOFF_DESTROYED, DomainEventDetail.STOPPED_DESTROYED)

    def suspend(self, dom: DomainKey) -> None:
        """``virDomainSuspend``: RUNNING → PAUSED/USER, event SUSPENDED/PAUSED."""
        with self._core.locked():
            d = self._find(dom)
            if d.state != DomainState.RUNNING:
                raise _not_running(d)
            self._pause(d, DomainState.PAUSED_USER)

    def _pause(self, d: DomainRecord, reason: int) -> None:
        d.state, d.reason = DomainState.PAUSED, reason
        self._emit_monitor(d, "STOP", None)
        self._core.emit(
            DomainLifecycleEvent(
                d.ref(), DomainEventType.SUSPENDED, DomainEventDetail.SUSPENDED_PAUSED
            )
        )

    def resume(self, dom: DomainKey) -> None:
        """``virDomainResume``: PAUSED → RUNNING/UNPAUSED, event RESUMED/UNPAUSED."""
        with self._core.locked():
            d = self._find(dom)
            if d.state != DomainState.PAUSED:
                raise VirtError.internal_error(ErrDomain.TEST, f"domain '{d.defn.name}' not paused")
            self._unpause(d)

    def _unpause(self, d: DomainRecord) -> None:
        d.state, d.reason = DomainState.RUNNING, DomainState.RUNNING_UNPAUSED
        self._emit_monitor(d, "RESUME", None)
        self._core.emit(
            DomainLifecycleEvent(
                d.ref(), DomainEventType.RESUMED, DomainEventDetail.RESUMED_UNPAUSED
            )
        )

    def reboot(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainReboot``: follows ``<on_reboot>``.  With "restart" (the default) the
        domain keeps its id, ends up RUNNING/BOOTED and, like the test driver, no lifecycle
        event is sent; with "destroy" it stops (STOPPED/SHUTDOWN)."""
        with self._core.locked():
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

    def reset(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainReset``: needs an active domain; the state does not change."""
        with self._core.locked():
            d = self._find(dom)
            if not d.active:
                raise VirtError.invalid(ErrDomain.DOMAIN, "domain is not running")
            self._emit_monitor(d, "RESET", {"guest": False, "reason": "host-qmp-system-reset"})

    # ---------------------------------------------------------------- monitor-side operations

    def monitor_stop(self, dom: DomainKey) -> None:
        """What QMP ``stop`` does: pause (PAUSED/UNKNOWN as libvirt records an unexpected
        STOP) and emit STOP plus SUSPENDED/PAUSED.  A paused domain stays as it is."""
        with self._core.locked():
            d = self._require_running_monitor(dom)
            if d.state == DomainState.RUNNING:
                self._pause(d, DomainState.PAUSED_UNKNOWN)

    def monitor_cont(self, dom: DomainKey) -> None:
        """What QMP ``cont`` does: resume a paused domain (RESUME + RESUMED/UNPAUSED)."""
        with self._core.locked():
            d = self._require_running_monitor(dom)
            if d.state == DomainState.PAUSED:
                self._unpause(d)

    def monitor_system_reset(self, dom: DomainKey) -> None:
        """QMP ``system_reset``: RESET event plus libvirt's REBOOT event; state unchanged."""
        with self._core.locked():
            d = self._require_running_monitor(dom)
            self._emit_monitor(d, "RESET", {"guest": False, "reason": "host-qmp-system-reset"})
            self._core.emit(DomainRebootEvent(d.ref()))

    def monitor_system_powerdown(self, dom: DomainKey) -> None:
        """QMP ``system_powerdown``: the guest reacts to the ACPI button and powers off.

        Events: QMP POWERDOWN and SHUTDOWN, lifecycle SHUTDOWN/GUEST then STOPPED/SHUTDOWN.
        A paused guest cannot react, so only POWERDOWN is emitted then.
        """
        with self._core.locked():
            d = self._require_running_monitor(dom)
            self._emit_monitor(d, "POWERDOWN", None)
            if d.state != DomainState.RUNNING:
                return
            self._emit_monitor(d, "SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
            self._core.emit(
                DomainLifecycleEvent(
                    d.ref(), DomainEventType.SHUTDOWN, DomainEventDetail.SHUTDOWN_GUEST
                )
            )
            self._stop(d, DomainState.SHUTOFF_SHUTDOWN, DomainEventDetail.STOPPED_SHUTDOWN)

    def _require_running_monitor(self, dom: DomainKey) -> DomainRecord:
        d = self._find(dom)
        if not d.active:
            # What libvirt's QEMU driver says when there is no monitor to talk to.
            raise VirtError.invalid(ErrDomain.QEMU, "domain is not running")
        return d

    # ---------------------------------------------------------------- persistence

    def dump(self) -> dict[str, Any]:
        """The domains as JSON-serialisable data (for the state file)."""
        with self._core.lock:
            items = [domain_entry(d.defn, d.new_defn, _fields(d)) for d in self._objects.values()]
            return {"next_id": self.next_id, "domains": items}

    def snapshot(self) -> tuple[int, list[tuple[Any, ...]]]:
        """What :meth:`dump` needs, taken quickly: ``(next_id, [(defn, new_defn, fields),
        ...])`` for :func:`domain_entry`.  The definitions are copies of their own, taken
        again only for domains looked up since the last snapshot, so they can be formatted
        later, in another thread, and the same objects mean the same contents."""
        with self._core.lock:
            taken: dict[bytes, tuple[DomainRecord, int, DomainDef, DomainDef | None]] = {}
            out = []
            for uuid, d in self._objects.items():
                old = self._snapshots.get(uuid)
                if old is not None and old[0] is d and old[1] == d.version:
                    defn, new_defn = old[2], old[3]
                else:
                    defn = copy.deepcopy(d.defn)
                    new_defn = copy.deepcopy(d.new_defn)
                taken[uuid] = (d, d.version, defn, new_defn)
                out.append((defn, new_defn, _fields(d)))
            self._snapshots = taken
            return self.next_id, out

    def restore(self, data: dict[str, Any]) -> None:
        """Load what :meth:`dump` produced (into an empty room)."""
        self.next_id = int(data["next_id"])
        for item in data["domains"]:
            defn = self._parse_domain(item["xml"])
            new_defn = self._parse_domain(item["new_xml"]) if item.get("new_xml") else None
            # <metadata> exactly as it was (read back from XML, its whitespace could change)
            if item.get("metadata") is not None:
                defn.metadata = xmltree.from_json(item["metadata"])
            if new_defn is not None and item.get("new_metadata") is not None:
                new_defn.metadata = xmltree.from_json(item["new_metadata"])
            priv = item.get("priv") or {}
            if not isinstance(priv, dict):
                raise ValueError("priv is not an object")
            self._objects[defn.uuid] = DomainRecord(
                defn=defn,
                new_defn=new_defn,
                persistent=bool(item["persistent"]),
                state=int(item["state"]),
                reason=int(item["reason"]),
                id=int(item["id"]),
                autostart=bool(item["autostart"]),
                priv=priv,
                managed_save=bool(item.get("managed_save", False)),
            )
