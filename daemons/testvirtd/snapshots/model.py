"""Domain snapshots and checkpoints of a driver instance, as libvirt 9.0's test driver keeps
them: in memory, per domain object (they go when the domain goes), as trees with a current
one (:mod:`.moments`), with the XML of :mod:`.defs`.

Every operation names its domain by handle and its snapshot or checkpoint by name; errors
are the test driver's (flags refused as its ``virCheckFlags`` masks refuse them, naming
every unsupported bit).  State changes of a revert or a halting snapshot emit the lifecycle
events the test driver emits, in its order.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, Final

from ..core import DriverCore
from ..domains.model import (
    DomainEventDetail,
    DomainEventType,
    DomainKey,
    DomainLifecycleEvent,
    DomainRecord,
    Domains,
    DomainState,
)
from ..domxml import ErrCode, ErrDomain, VirtError, parse_xml
from . import moments as M
from .defs import (
    ERR_FROM_SNAPSHOT,
    LOC_EXTERNAL,
    LOC_INTERNAL,
    LOC_MANUAL,
    LOC_NO,
    STATE_DISK_SNAPSHOT,
    STATE_SHUTOFF,
    CheckpointDef,
    SnapshotDef,
    align_checkpoint_disks,
    align_snapshot_disks,
    assign_bitmap_names,
    format_checkpoint,
    format_snapshot,
    parse_checkpoint,
    parse_snapshot,
    parse_snapshot_element,
)

__all__ = (
    "CheckpointFlags",
    "DomainMoments",
    "SavedMoments",
    "SnapshotFlags",
    "Snapshots",
)


class SnapshotFlags:
    """The public ``VIR_DOMAIN_SNAPSHOT_*`` flag values."""

    CREATE_REDEFINE = 1
    CREATE_CURRENT = 2
    CREATE_NO_METADATA = 4
    CREATE_HALT = 8
    CREATE_DISK_ONLY = 16
    CREATE_REUSE_EXT = 32
    CREATE_QUIESCE = 64
    CREATE_ATOMIC = 128
    CREATE_LIVE = 256
    CREATE_VALIDATE = 512

    LIST_ROOTS = 1
    LIST_DESCENDANTS = 1
    LIST_METADATA = 2
    LIST_LEAVES = 4
    LIST_NO_LEAVES = 8
    LIST_NO_METADATA = 16
    LIST_INACTIVE = 32
    LIST_ACTIVE = 64
    LIST_DISK_ONLY = 128
    LIST_INTERNAL = 256
    LIST_EXTERNAL = 512
    LIST_TOPOLOGICAL = 1024

    XML_SECURE = 1

    REVERT_RUNNING = 1
    REVERT_PAUSED = 2
    REVERT_FORCE = 4

    DELETE_CHILDREN = 1
    DELETE_METADATA_ONLY = 2
    DELETE_CHILDREN_ONLY = 4


class CheckpointFlags:
    """The public ``VIR_DOMAIN_CHECKPOINT_*`` flag values."""

    CREATE_REDEFINE = 1
    CREATE_QUIESCE = 2
    CREATE_REDEFINE_VALIDATE = 4

    LIST_ROOTS = 1
    LIST_DESCENDANTS = 1
    LIST_TOPOLOGICAL = 2
    LIST_LEAVES = 4
    LIST_NO_LEAVES = 8

    XML_SECURE = 1
    XML_NO_DOMAIN = 2
    XML_SIZE = 4

    DELETE_CHILDREN = 1
    DELETE_METADATA_ONLY = 2
    DELETE_CHILDREN_ONLY = 4


S = SnapshotFlags
C = CheckpointFlags

_S_FILTERS_STATUS: Final = S.LIST_INACTIVE | S.LIST_ACTIVE | S.LIST_DISK_ONLY
_S_FILTERS_LOCATION: Final = S.LIST_INTERNAL | S.LIST_EXTERNAL
_S_FILTERS_ALL: Final = (S.LIST_METADATA | S.LIST_NO_METADATA | S.LIST_LEAVES
                         | S.LIST_NO_LEAVES | _S_FILTERS_STATUS | _S_FILTERS_LOCATION)
_S_LIST_ALL: Final = S.LIST_ROOTS | S.LIST_TOPOLOGICAL | _S_FILTERS_ALL
_C_LIST_ALL: Final = C.LIST_ROOTS | C.LIST_TOPOLOGICAL | C.LIST_LEAVES | C.LIST_NO_LEAVES

#: public snapshot list flags -> the common moment flags
_S_TO_MOMENT: Final = (
    (S.LIST_ROOTS, M.LIST_ROOTS),
    (S.LIST_TOPOLOGICAL, M.LIST_TOPOLOGICAL),
    (S.LIST_LEAVES, M.LIST_LEAVES),
    (S.LIST_NO_LEAVES, M.LIST_NO_LEAVES),
    (S.LIST_METADATA, M.LIST_METADATA),
    (S.LIST_NO_METADATA, M.LIST_NO_METADATA),
)

_ERR_NO_SNAPSHOT: Final = 72
_ERR_REVERT_RISKY: Final = 77
_ERR_OPERATION_UNSUPPORTED: Final = 84
_ERR_NO_CHECKPOINT: Final = 103


#: what a state file keeps of a domain's snapshots and checkpoints: (snapshot XMLs, current
#: snapshot, checkpoint XMLs, current checkpoint); hashable, JSON-serialisable as lists
SavedMoments = tuple[tuple[str, ...], str | None, tuple[str, ...], str | None]


class DomainMoments:
    """What a domain object keeps of its snapshots and checkpoints."""

    __slots__ = ("_saved", "checkpoints", "snapshots")

    def __init__(self) -> None:
        self.snapshots = M.MomentList()
        self.checkpoints = M.MomentList()
        self._saved: SavedMoments | None = None

    def changed(self) -> None:
        """Forget the saved form (call after every change)."""
        self._saved = None

    def dump(self) -> SavedMoments | None:
        """The snapshots and checkpoints as a state file keeps them (None when there are
        none); worked out again only after a change."""
        if not len(self.snapshots) and not len(self.checkpoints):
            return None
        if self._saved is None:
            self._saved = (
                tuple(format_snapshot(m.defn, None, internal=True) for m in self.snapshots),
                self.snapshots.current_name,
                tuple(format_checkpoint(m.defn) for m in self.checkpoints),
                self.checkpoints.current_name,
            )
        return self._saved

    def restore(self, saved: Any) -> None:
        """Load what :meth:`dump` produced (into an empty list)."""
        snapshots, current, checkpoints, checkpoint_current = saved
        for text in snapshots:
            root = parse_xml(text, "domainsnapshot", context="domain_snapshot",
                             err_domain=ERR_FROM_SNAPSHOT)
            self.snapshots.assign(parse_snapshot_element(root, redefine=True,
                                                         internal=True)[0])
        for text in checkpoints:
            self.checkpoints.assign(parse_checkpoint(text, redefine=True))
        self.snapshots.update_relations()
        self.checkpoints.update_relations()
        self.snapshots.current = self.snapshots.find(current)
        self.checkpoints.current = self.checkpoints.find(checkpoint_current)


def _moments(d: DomainRecord) -> DomainMoments:
    """A domain object's snapshots and checkpoints (created on first use)."""
    if d.moments is None:
        d.moments = DomainMoments()
    return d.moments


def _changing(d: DomainRecord) -> DomainMoments:
    """:func:`_moments`, for a change: the saved form is forgotten."""
    moments = _moments(d)
    moments.changed()
    return moments


def _check_flags(function: str, flags: int, allowed: int) -> None:
    if flags & ~allowed:
        raise VirtError.bad_flags(function, flags & ~allowed)


def _unsupported(text: str) -> VirtError:
    return VirtError.fmt(_ERR_OPERATION_UNSUPPORTED, ErrDomain.TEST,
                         "Operation not supported: %s", text)


def _no_snapshot(text: str) -> VirtError:
    return VirtError.fmt(_ERR_NO_SNAPSHOT, ErrDomain.TEST, "Domain snapshot not found: %s",
                         text)


def _no_checkpoint(text: str) -> VirtError:
    return VirtError.fmt(_ERR_NO_CHECKPOINT, ErrDomain.TEST,
                         "Domain checkpoint not found: %s", text)


def _snapshot(d: DomainRecord, name: str) -> M.Moment:
    found = _moments(d).snapshots.find(name)
    if found is None:
        raise _no_snapshot(f"no domain snapshot with matching name '{name}'")
    return found


def _checkpoint(d: DomainRecord, name: str) -> M.Moment:
    found = _moments(d).checkpoints.find(name)
    if found is None:
        raise _no_checkpoint(f"no domain checkpoint with matching name '{name}'")
    return found


def _snapshot_filter(flags: int) -> tuple[int, Callable[[M.Moment], bool]]:
    """``virDomainSnapshotObjListGetNames``: public list flags as moment flags and the
    snapshot filter (status and location)."""
    moment_flags = 0
    for public, common in _S_TO_MOMENT:
        if flags & public:
            flags &= ~public
            moment_flags |= common
    if flags & _S_FILTERS_STATUS == _S_FILTERS_STATUS:
        flags &= ~_S_FILTERS_STATUS
    if flags & _S_FILTERS_LOCATION == _S_FILTERS_LOCATION:
        flags &= ~_S_FILTERS_LOCATION

    def accept(moment: M.Moment) -> bool:
        defn: SnapshotDef = moment.defn
        if flags & _S_FILTERS_STATUS:
            if not flags & S.LIST_INACTIVE and defn.state == STATE_SHUTOFF:
                return False
            if not flags & S.LIST_DISK_ONLY and defn.state == STATE_DISK_SNAPSHOT:
                return False
            if (not flags & S.LIST_ACTIVE
                    and defn.state not in (STATE_SHUTOFF, STATE_DISK_SNAPSHOT)):
                return False
        if flags & S.LIST_INTERNAL and defn.is_external:
            return False
        return not (flags & S.LIST_EXTERNAL and not defn.is_external)

    return moment_flags, accept


class Snapshots:
    """Snapshots and checkpoints, per domain (thread-safe; events go through the core)."""

    def __init__(self, core: DriverCore, domains: Domains) -> None:
        self._core = core
        self._domains = domains
        domains.has_snapshots = self.has_any
        domains.has_checkpoints = self.has_any_checkpoint

    # ---------------------------------------------------------------- helpers

    def _object(self, uuid: bytes) -> Any:
        for d in self._domains.objects():
            if d.defn.uuid == uuid:
                return d
        return None

    def has_any(self, uuid: bytes) -> bool:
        """Whether the domain with *uuid* has a snapshot (the HAS_SNAPSHOT list filter)."""
        d = self._object(uuid)
        return d is not None and d.moments is not None and len(d.moments.snapshots) > 0

    def has_any_checkpoint(self, uuid: bytes) -> bool:
        """Whether the domain with *uuid* has a checkpoint (the HAS_CHECKPOINT filter)."""
        d = self._object(uuid)
        return d is not None and d.moments is not None and len(d.moments.checkpoints) > 0

    # ---------------------------------------------------------------- state files

    def restore(self, saved: dict[bytes, Any]) -> None:
        """Give domains (by UUID) the snapshots and checkpoints a state file kept for
        them (:meth:`DomainMoments.dump`)."""
        with self._core.lock:
            for d in self._domains.objects():
                data = saved.get(d.defn.uuid)
                if data:
                    moments = DomainMoments()
                    moments.restore(data)
                    d.moments = moments

    # ---------------------------------------------------------------- node files

    def load(self, dom: DomainKey, snapshots: list[ET.Element]) -> None:
        """Attach the ``<domainsnapshot>`` elements a node file gives for *dom*
        (``testParseDomainSnapshots``: each parsed as a redefinition, ``<active>`` marks
        the current one, then the tree is built)."""
        with self._domains.access(dom) as d:
            snaps = _changing(d).snapshots
            for elem in snapshots:
                defn, current = parse_snapshot_element(elem, redefine=True, internal=True)
                snap = snaps.assign(defn)
                if current:
                    if snaps.current is not None:
                        raise VirtError.internal_error(
                            ErrDomain.TEST, "more than one snapshot claims to be active")
                    snaps.current = snap
            if not snaps.update_relations():
                raise VirtError.internal_error(
                    ErrDomain.TEST,
                    f"Snapshots have inconsistent relations for domain {d.defn.name}")

    # ================================================================ snapshots

    def create_xml(self, dom: DomainKey, xml: str, flags: int) -> str:
        """``virDomainSnapshotCreateXML``; returns the new snapshot's name."""
        _check_flags("testDomainSnapshotCreateXML", flags,
                     S.CREATE_REDEFINE | S.CREATE_CURRENT | S.CREATE_HALT | S.CREATE_QUIESCE
                     | S.CREATE_ATOMIC | S.CREATE_LIVE | S.CREATE_VALIDATE)
        redefine = bool(flags & S.CREATE_REDEFINE)
        update_current = not redefine or bool(flags & S.CREATE_CURRENT)
        with self._domains.access(dom) as d:
            moments = _changing(d)
            if len(moments.checkpoints):
                raise _unsupported("cannot create snapshot while checkpoint exists")
            if not d.persistent and flags & S.CREATE_HALT:
                raise VirtError.invalid(ErrDomain.TEST,
                                        "cannot halt after transient domain snapshot")
            defn = parse_snapshot(xml, redefine=redefine,
                                  validate=bool(flags & S.CREATE_VALIDATE))
            snaps = moments.snapshots
            if redefine:
                snap = self._redefine(d, snaps, defn)
            else:
                defn.dom = d.defn.copy()
                self._align_new(d, defn, flags)
                snap = snaps.assign(defn)
                defn.parent_name = snaps.current_name
                if flags & S.CREATE_HALT and d.active:
                    self._domains.stop_object(d, DomainState.SHUTOFF_FROM_SNAPSHOT,
                                              DomainEventDetail.STOPPED_FROM_SNAPSHOT)
            if update_current:
                snaps.current = snap
            snaps.link_parent(snap)
            return snap.name

    def _align_new(self, d: DomainRecord, defn: SnapshotDef, flags: int) -> None:
        """``testDomainSnapshotAlignDisks`` of a new snapshot."""
        if any(disk.snapshot == LOC_MANUAL for disk in defn.disks):
            raise _unsupported("'manual' snapshot mode is not supported by the test driver")
        defn.state = d.state
        if defn.memory == LOC_EXTERNAL:
            location = LOC_EXTERNAL
        else:
            defn.memory = LOC_NO if defn.state == STATE_SHUTOFF else LOC_INTERNAL
            location = LOC_INTERNAL
        align_snapshot_disks(defn, None, location, True)

    def _redefine(self, d: DomainRecord, snaps: M.MomentList, defn: SnapshotDef) -> M.Moment:
        """``virDomainSnapshotRedefinePrep`` and the test driver's redefinition."""
        snaps.check_cycles(defn)
        other = snaps.find(defn.name)
        if defn.dom is not None and defn.dom.uuid != d.defn.uuid:
            raise _invalid_arg(f"definition for snapshot {defn.name} must use uuid "
                               f"{d.defn.uuid_str}")
        if other is not None:
            old: SnapshotDef = other.defn
            if old.online != defn.online:
                raise _invalid_arg("cannot change between online and offline snapshot state "
                                   f"in snapshot {defn.name}")
            if (old.state == STATE_DISK_SNAPSHOT) != (defn.state == STATE_DISK_SNAPSHOT):
                raise _invalid_arg("cannot change between disk only and full system in "
                                   f"snapshot {defn.name}")
        location = (LOC_EXTERNAL if defn.state == STATE_DISK_SNAPSHOT or defn.is_external
                    else LOC_INTERNAL)
        align_snapshot_disks(defn, other.defn.dom if other is not None else None, location,
                             True)
        if other is None:
            return snaps.assign(defn)
        if defn.dom is None:
            defn.dom = other.defn.dom
        other.drop_parent()
        other.defn = defn
        return other

    def num(self, dom: DomainKey, flags: int = 0) -> int:
        """``virDomainSnapshotNum``."""
        return len(self.list_names(dom, flags, function="testDomainSnapshotNum"))

    def list_names(self, dom: DomainKey, flags: int = 0, *,
                   function: str = "testDomainSnapshotListNames") -> list[str]:
        """``virDomainSnapshotListNames`` / ``virDomainListAllSnapshots`` (every name the
        flags select, in libvirt's order)."""
        _check_flags(function, flags, _S_LIST_ALL)
        with self._domains.access(dom) as d:
            moment_flags, accept = _snapshot_filter(flags)
            return _moments(d).snapshots.names(None, moment_flags, accept)

    def list_children(self, dom: DomainKey, name: str, flags: int = 0, *,
                      function: str = "testDomainSnapshotListChildrenNames") -> list[str]:
        """``virDomainSnapshotListChildrenNames`` / ``NumChildren`` / ``ListAllChildren``."""
        _check_flags(function, flags,
                     S.LIST_DESCENDANTS | S.LIST_TOPOLOGICAL | _S_FILTERS_ALL)
        with self._domains.access(dom) as d:
            snap = _snapshot(d, name)
            moment_flags, accept = _snapshot_filter(flags)
            return _moments(d).snapshots.names(snap, moment_flags, accept)

    def lookup_by_name(self, dom: DomainKey, name: str, flags: int = 0) -> str:
        """``virDomainSnapshotLookupByName``."""
        _check_flags("testDomainSnapshotLookupByName", flags, 0)
        with self._domains.access(dom) as d:
            return _snapshot(d, name).name

    def has_current(self, dom: DomainKey, flags: int = 0) -> bool:
        """``virDomainHasCurrentSnapshot``."""
        _check_flags("testDomainHasCurrentSnapshot", flags, 0)
        with self._domains.access(dom) as d:
            return _moments(d).snapshots.current is not None

    def get_parent(self, dom: DomainKey, name: str, flags: int = 0) -> str:
        """``virDomainSnapshotGetParent``."""
        _check_flags("testDomainSnapshotGetParent", flags, 0)
        with self._domains.access(dom) as d:
            snap = _snapshot(d, name)
            if snap.defn.parent_name is None:
                raise _no_snapshot(f"snapshot '{snap.name}' does not have a parent")
            return str(snap.defn.parent_name)

    def current(self, dom: DomainKey, flags: int = 0) -> str:
        """``virDomainSnapshotCurrent``."""
        _check_flags("testDomainSnapshotCurrent", flags, 0)
        with self._domains.access(dom) as d:
            cur = _moments(d).snapshots.current
            if cur is None:
                raise _no_snapshot("the domain does not have a current snapshot")
            return cur.name

    def get_xml_desc(self, dom: DomainKey, name: str, flags: int = 0,
                     domain_uuid: str | None = None) -> str:
        """``virDomainSnapshotGetXMLDesc``; *domain_uuid* is the caller's handle's UUID
        (shown when the snapshot keeps no domain definition)."""
        _check_flags("testDomainSnapshotGetXMLDesc", flags, S.XML_SECURE)
        with self._domains.access(dom) as d:
            snap = _snapshot(d, name)
            return format_snapshot(snap.defn, domain_uuid or d.defn.uuid_str,
                                   secure=bool(flags & S.XML_SECURE))

    def is_current(self, dom: DomainKey, name: str, flags: int = 0) -> bool:
        """``virDomainSnapshotIsCurrent``."""
        _check_flags("testDomainSnapshotIsCurrent", flags, 0)
        with self._domains.access(dom) as d:
            return _snapshot(d, name) is _moments(d).snapshots.current

    def has_metadata(self, dom: DomainKey, name: str, flags: int = 0) -> bool:
        """``virDomainSnapshotHasMetadata``: always, in the test driver."""
        _check_flags("testDomainSnapshotHasMetadata", flags, 0)
        with self._domains.access(dom) as d:
            _snapshot(d, name)
            return True

    def revert(self, dom: DomainKey, name: str, flags: int = 0) -> None:
        """``virDomainRevertToSnapshot``, with the test driver's transitions and events:

        ======================  =============================================
        inactive -> inactive    none
        inactive -> running     STARTED
        inactive -> paused      STARTED, SUSPENDED
        running  -> inactive    STOPPED
        running  -> running     STOPPED, STARTED
        running  -> paused      STOPPED, STARTED, SUSPENDED
        ======================  =============================================

        (paused domains as running ones).  Reverting to an inactive snapshot with
        ``REVERT_RUNNING`` or ``REVERT_PAUSED`` sends the start events but, as in the test
        driver, leaves the domain shut off.
        """
        _check_flags("testDomainRevertToSnapshot", flags,
                     S.REVERT_RUNNING | S.REVERT_PAUSED | S.REVERT_FORCE)
        with self._domains.access(dom) as d:
            snaps = _changing(d).snapshots
            snap = _snapshot(d, name)
            defn: SnapshotDef = snap.defn
            if (not d.persistent and not defn.online
                    and not flags & (S.REVERT_RUNNING | S.REVERT_PAUSED)):
                raise VirtError.invalid(
                    ErrDomain.TEST,
                    "transient domain needs to request run or pause to revert to inactive "
                    "snapshot")
            if defn.dom is None:
                raise VirtError.fmt(
                    _ERR_REVERT_RISKY, ErrDomain.TEST, "revert requires force: %s",
                    f"snapshot '{defn.name}' lacks domain '{d.defn.name}' rollback info")
            snaps.current = None
            config = defn.dom.copy()
            ev = DomainEventDetail
            if defn.online:
                if d.active:
                    self._domains.stop_object(d, DomainState.SHUTOFF_FROM_SNAPSHOT,
                                              ev.STOPPED_FROM_SNAPSHOT, remove_transient=False)
                _assign_def(d, config)
                self._domains.start_object(d, DomainState.RUNNING_FROM_SNAPSHOT,
                                           ev.STARTED_FROM_SNAPSHOT)
                if not flags & S.REVERT_RUNNING and (defn.state == DomainState.PAUSED
                                                     or flags & S.REVERT_PAUSED):
                    d.state, d.reason = DomainState.PAUSED, DomainState.PAUSED_FROM_SNAPSHOT
                    self._domains.emit(DomainLifecycleEvent(
                        d.ref(), DomainEventType.SUSPENDED, ev.SUSPENDED_FROM_SNAPSHOT))
            else:
                _assign_def(d, config)
                if d.active:
                    self._domains.stop_object(d, DomainState.SHUTOFF_FROM_SNAPSHOT,
                                              ev.STOPPED_FROM_SNAPSHOT, remove_transient=False)
                if flags & (S.REVERT_RUNNING | S.REVERT_PAUSED):
                    self._domains.emit(DomainLifecycleEvent(
                        d.ref(), DomainEventType.STARTED, ev.STARTED_FROM_SNAPSHOT))
                    if flags & S.REVERT_PAUSED:
                        self._domains.emit(DomainLifecycleEvent(
                            d.ref(), DomainEventType.SUSPENDED, ev.SUSPENDED_FROM_SNAPSHOT))
            snaps.current = snap

    def delete(self, dom: DomainKey, name: str, flags: int = 0) -> None:
        """``virDomainSnapshotDelete``: with its children, its children only, or alone
        (its children then go to its parent)."""
        _check_flags("testDomainSnapshotDelete", flags,
                     S.DELETE_CHILDREN | S.DELETE_CHILDREN_ONLY)
        with self._domains.access(dom) as d:
            _delete_moment(_changing(d).snapshots, _snapshot(d, name),
                           children=bool(flags & S.DELETE_CHILDREN),
                           children_only=bool(flags & S.DELETE_CHILDREN_ONLY))

    # ================================================================ checkpoints

    def checkpoint_create_xml(self, dom: DomainKey, xml: str, flags: int) -> str:
        """``virDomainCheckpointCreateXML``; returns the new checkpoint's name."""
        _check_flags("testDomainCheckpointCreateXML", flags,
                     C.CREATE_REDEFINE | C.CREATE_QUIESCE)
        redefine = bool(flags & C.CREATE_REDEFINE)
        update_current = not redefine
        with self._domains.access(dom) as d:
            moments = _changing(d)
            if len(moments.snapshots):
                raise _unsupported("cannot create checkpoint while snapshot exists")
            if not d.active:
                raise _unsupported("cannot create checkpoint for inactive domain")
            defn = parse_checkpoint(xml, redefine=redefine)
            chks = moments.checkpoints
            if redefine:
                chks.check_cycles(defn)
                if defn.dom is not None:
                    if defn.dom.uuid != d.defn.uuid:
                        raise _invalid_arg(f"definition for checkpoint {defn.name} must use "
                                           f"uuid {d.defn.uuid_str}", 69)
                    align_checkpoint_disks(defn)
                else:
                    assign_bitmap_names(defn)
                parent = chks.find(defn.parent_name)
                if parent is not None and parent is chks.current:
                    update_current = True
                if chks.current is None:
                    update_current = True
                chk = chks.find(defn.name)
                if chk is not None:
                    chk.drop_parent()
                    chk.defn = defn
                else:
                    chk = chks.assign(defn)
            else:
                defn.dom = d.defn.copy()
                align_checkpoint_disks(defn)
                chk = chks.assign(defn)
            current = chks.current
            if current is not None:
                if not redefine:
                    defn.parent_name = current.name
                if update_current:
                    chks.current = None
            if update_current:
                chks.current = chk
            chks.link_parent(chk)
            return chk.name

    def list_checkpoints(self, dom: DomainKey, flags: int = 0) -> list[str]:
        """``virDomainListAllCheckpoints``."""
        _check_flags("testDomainListAllCheckpoints", flags, _C_LIST_ALL)
        with self._domains.access(dom) as d:
            return _moments(d).checkpoints.names(None, flags)

    def list_checkpoint_children(self, dom: DomainKey, name: str, flags: int = 0) -> list[str]:
        """``virDomainCheckpointListAllChildren``."""
        _check_flags("testDomainCheckpointListAllChildren", flags,
                     C.LIST_DESCENDANTS | C.LIST_TOPOLOGICAL | C.LIST_LEAVES
                     | C.LIST_NO_LEAVES)
        with self._domains.access(dom) as d:
            chk = _checkpoint(d, name)
            return _moments(d).checkpoints.names(chk, flags)

    def checkpoint_lookup_by_name(self, dom: DomainKey, name: str, flags: int = 0) -> str:
        """``virDomainCheckpointLookupByName``."""
        _check_flags("testDomainCheckpointLookupByName", flags, 0)
        with self._domains.access(dom) as d:
            return _checkpoint(d, name).name

    def checkpoint_get_parent(self, dom: DomainKey, name: str, flags: int = 0) -> str:
        """``virDomainCheckpointGetParent``."""
        _check_flags("testDomainCheckpointGetParent", flags, 0)
        with self._domains.access(dom) as d:
            chk = _checkpoint(d, name)
            if chk.defn.parent_name is None:
                raise _no_checkpoint(f"checkpoint '{chk.name}' does not have a parent")
            return str(chk.defn.parent_name)

    def checkpoint_get_xml_desc(self, dom: DomainKey, name: str, flags: int = 0) -> str:
        """``virDomainCheckpointGetXMLDesc`` (``XML_SIZE`` needs a running domain; the test
        driver computes sizes it then never shows)."""
        _check_flags("testDomainCheckpointGetXMLDesc", flags,
                     C.XML_SECURE | C.XML_NO_DOMAIN | C.XML_SIZE)
        with self._domains.access(dom) as d:
            chk = _checkpoint(d, name)
            if flags & C.XML_SIZE and not d.active:
                raise VirtError.invalid(ErrDomain.DOMAIN, "domain is not running")
            defn: CheckpointDef = chk.defn
            return format_checkpoint(defn, secure=bool(flags & C.XML_SECURE),
                                     no_domain=bool(flags & C.XML_NO_DOMAIN))

    def checkpoint_delete(self, dom: DomainKey, name: str, flags: int = 0) -> None:
        """``virDomainCheckpointDelete`` (``METADATA_ONLY`` changes nothing more here)."""
        _check_flags("testDomainCheckpointDelete", flags,
                     C.DELETE_CHILDREN | C.DELETE_METADATA_ONLY | C.DELETE_CHILDREN_ONLY)
        with self._domains.access(dom) as d:
            _delete_moment(_changing(d).checkpoints, _checkpoint(d, name),
                           children=bool(flags & C.DELETE_CHILDREN),
                           children_only=bool(flags & C.DELETE_CHILDREN_ONLY))


def _invalid_arg(text: str, domain: int = ERR_FROM_SNAPSHOT) -> VirtError:
    return VirtError.fmt(ErrCode.INVALID_ARG, domain, "invalid argument: %s", text)


def _assign_def(d: DomainRecord, config: Any) -> None:
    """``virDomainObjAssignDef(vm, config, live=false)``: the next persistent definition of
    a running domain, else its definition."""
    if d.active:
        d.new_defn = config
    else:
        d.defn = config


def _delete_moment(objs: M.MomentList, moment: M.Moment, *, children: bool,
                   children_only: bool) -> None:
    """What the test driver's snapshot and checkpoint deletions share."""
    if children or children_only:
        was_current = False
        for descendant in moment.descendants():
            was_current |= objs.remove(descendant)
        if was_current:
            objs.current = moment
    elif moment.nchildren:
        parent = moment.parent
        for child in moment.children():
            child.defn.parent_name = (parent.defn.name if parent is not None
                                      and parent.defn is not None else None)
        if parent is not None:
            moment.move_children(parent)
    if children_only:
        moment.drop_children()
        return
    moment.drop_parent()
    if moment is objs.current:
        objs.current = objs.find(moment.defn.parent_name)
    objs.remove(moment)
