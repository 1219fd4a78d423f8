"""Storage pools and their volumes of a driver instance, as libvirt's test driver keeps them.

Each pool has the definition it runs with and, once an active pool was redefined, the one it
will have next, as libvirt's pool objects do; like the test driver, nothing switches from one
to the other when the pool stops.  The sizes the test driver reports (capacity, allocation,
available) live in the definition, which is why redefining a pool resets them while its
volumes stay.  A pool is persistent while it has a configuration (the test driver's
"config file"): creating one from XML takes it away, even from a defined pool.

Volume contents live in sparse files in the instance's storage directory, so uploads and
downloads move real bytes (see :class:`VolumeData`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from ..core import DriverCore, Event, list_filter
from ..domxml import ErrCode, ErrDomain, VirtError, format_uuid, parse_uuid, parse_xml
from ..snapshots import schema
from .xml import (
    POOL_TYPES,
    PoolDef,
    PoolSource,
    VolDef,
    format_pool_xml,
    format_volume_xml,
    parse_pool,
    parse_pool_source,
    parse_volume,
)

__all__ = (
    "DEFAULT_POOL_CAPACITY",
    "PoolEventType",
    "PoolInfo",
    "PoolLifecycleEvent",
    "PoolListFlags",
    "PoolRef",
    "PoolRefreshEvent",
    "Storage",
    "VolumeData",
    "VolumeInfo",
    "VolumeRef",
    "parse_pool_xml",
)


class PoolListFlags:
    """``virConnectListAllStoragePoolsFlags``."""

    INACTIVE = 1
    ACTIVE = 2
    PERSISTENT = 4
    TRANSIENT = 8
    AUTOSTART = 16
    NO_AUTOSTART = 32
    #: VIR_CONNECT_LIST_STORAGE_POOLS_DIR; the other type bits follow it (fs = 128, ...).
    DIR = 64
    ALL = (1 << 20) - 1


class PoolEventType:
    """``virStoragePoolEventLifecycleType``."""

    DEFINED = 0
    UNDEFINED = 1
    STARTED = 2
    STOPPED = 3
    CREATED = 4
    DELETED = 5


#: Pool types in the order of their VIR_CONNECT_LIST_STORAGE_POOLS_<TYPE> bits (from 64 on).
_POOL_TYPE_BITS: Final = (
    "dir", "fs", "netfs", "logical", "disk", "iscsi", "scsi", "mpath", "rbd", "sheepdog",
    "gluster", "zfs", "vstorage", "iscsi-direct",
)

_POOL_INACTIVE = 0
_POOL_RUNNING = 2
#: the capacity the test driver gives every pool (100 GiB), nothing of it allocated
DEFAULT_POOL_CAPACITY: Final = 100 * 1024**3
#: VIR_STORAGE_POOL_DEFINE_VALIDATE
DEFINE_VALIDATE: Final = 1

#: what virConnectFindStoragePoolSources answers for logical pools
_LOGICAL_SOURCES: Final = """<sources>
  <source>
    <device path='/dev/sda20'/>
    <name>testvg1</name>
    <format type='lvm2'/>
  </source>
  <source>
    <device path='/dev/sda21'/>
    <name>testvg2</name>
    <format type='lvm2'/>
  </source>
</sources>
"""

_DEFAULT_POOL_XML: Final = """<pool type='dir'>
  <name>default-pool</name>
  <uuid>dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566</uuid>
  <target>
    <path>/default-pool</path>
  </target>
</pool>"""


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
class PoolLifecycleEvent(Event):
    """A storage pool lifecycle event (DEFINED 0 ... DELETED 5)."""

    pool: PoolRef
    event: int
    detail: int


@dataclass(frozen=True, slots=True)
class PoolRefreshEvent(Event):
    """A storage pool refresh event."""

    pool: PoolRef


PoolKey = PoolRef | bytes | str


class Vports(Protocol):
    """Where fibre channel pools make and remove their pretend vHBA (the node devices)."""

    def mock_create_vport(self, wwnn: str, wwpn: str) -> bool:
        """Make the vHBA; False when the test driver fails without a reason."""

    def remove_vport(self) -> None:
        """Remove the vHBA (an error when there is none)."""


@dataclass
class _Volume:
    vdef: VolDef  # with its key and path filled in
    file: str = ""  # backing file name inside the instance's storage directory ("": none yet)

    @property
    def name(self) -> str:
        return self.vdef.name

    @property
    def key(self) -> str:
        return self.vdef.key or ""

    @property
    def path(self) -> str:
        return self.vdef.target.path or ""


@dataclass
class _Pool:
    defn: PoolDef
    active: bool = False
    persistent: bool = True  # it has a configuration ("config file")
    autostart: bool = False
    new_def: PoolDef | None = None
    volumes: dict[str, _Volume] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.defn.name

    @property
    def uuid(self) -> bytes:
        return self.defn.uuid

    def ref(self) -> PoolRef:
        return PoolRef(self.name, self.uuid)

    def set_defaults(self) -> None:
        """``testStoragePoolObjSetDefaults``: sizes back to 100 GiB free, a configuration."""
        self.defn.capacity = DEFAULT_POOL_CAPACITY
        self.defn.allocation = 0
        self.defn.available = DEFAULT_POOL_CAPACITY
        self.persistent = True


def parse_pool_xml(xml: str | bytes, *, validate: bool = False) -> PoolDef:
    """A pool definition from a client's XML text, checked against libvirt's schema first
    with *validate*."""
    root = parse_xml(xml, "pool", context="storage_pool_definition",
                     err_domain=ErrDomain.STORAGE)
    if validate:
        schema.validate(xml, "storagepool")
    return parse_pool(root)


def _parse_volume_xml(xml: str | bytes, pool_type: str) -> VolDef:
    root = parse_xml(xml, "volume", context="storage_volume_definition",
                     err_domain=ErrDomain.STORAGE)
    return parse_volume(root, pool_type)


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


def _single_host(a: PoolSource, b: PoolSource) -> bool:
    if len(a.hosts) != 1 or len(b.hosts) != 1:
        return False
    return a.hosts[0].name == b.hosts[0].name and a.hosts[0].port == b.hosts[0].port


def _source_conflict(obj: PoolDef, new: PoolDef) -> bool:
    """Whether *new* uses the storage of the existing pool *obj*
    (``virStoragePoolObjSourceFindDuplicate``)."""
    t = obj.type
    if t in ("dir", "gluster", "netfs", "fs"):
        if new.type != t:
            return False
        if t == "dir":
            return obj.path == new.path
        if t == "gluster":
            return (obj.source.name == new.source.name and obj.source.dir == new.source.dir
                    and _single_host(obj.source, new.source))
        if t == "netfs":
            return obj.source.dir == new.source.dir and _single_host(obj.source, new.source)
        return bool(obj.source.devices and new.source.devices
                    and obj.source.devices[0].path == new.source.devices[0].path)
    if t == "scsi":
        if new.type != t:
            return False
        a, b = obj.source.adapter, new.source.adapter
        if a.type != b.type:
            return False
        if a.type == "fc_host":
            return a.wwnn == b.wwnn and a.wwpn == b.wwpn
        if a.name is not None and b.name is not None:
            return a.name == b.name
        return a.parent_addr is not None and a.parent_addr == b.parent_addr and \
            a.unique_id == b.unique_id
    if t in ("iscsi", "iscsi-direct", "logical", "disk", "zfs"):
        shared = any(d.path == e.path for d in obj.source.devices for e in new.source.devices)
        if t == "iscsi":
            return (new.type == "iscsi" and shared
                    and obj.source.initiator_iqn == new.source.initiator_iqn)
        return new.type in ("iscsi-direct", "logical", "disk", "zfs") and shared
    if t == "sheepdog":
        return new.type == t and _single_host(obj.source, new.source)
    if t == "mpath":
        return new.type == t
    if t == "vstorage":
        return new.type == t and obj.source.name == new.source.name
    return False


class Storage:
    """The storage pools (with their volumes) of one driver instance.

    :param storage_dir: where volume backing files live.  ``None`` uses a private temporary
        directory removed by :meth:`close`.
    """

    def __init__(self, core: DriverCore, storage_dir: str | None = None) -> None:
        self._core = core
        self._pools: dict[bytes, _Pool] = {}
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if storage_dir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="testvirtd-vols-")
            storage_dir = self._tmpdir.name
        os.makedirs(storage_dir, exist_ok=True)
        self.storage_dir = storage_dir
        #: the node devices, for fibre channel pools' vHBAs (set by the driver instance)
        self.vports: Vports | None = None

    def populate_default(self) -> None:
        """Add test:///default's active dir pool "default-pool"."""
        self.add_pool(parse_pool_xml(_DEFAULT_POOL_XML), [])

    def add_pool(self, defn: PoolDef, volumes: list[VolDef]) -> PoolRef:
        """Add an active pool with its volumes as a node file defines them, quietly.

        As the test driver, the pool gets 100 GiB of capacity whatever the XML says, its
        volumes' path and key default to the pool's path joined with their name, and their
        allocation is charged to the pool.
        :raises VirtError: when the name, UUID or storage is taken or two volumes clash.
        """
        with self._core.lock:
            pool = self._add(defn, check_active=False)
            pool.set_defaults()
            pool.active = True
            for vdef in volumes:
                if vdef.target.path is None:
                    vdef.target.path = f"{_c_str(pool.defn.path)}/{vdef.name}"
                if vdef.key is None:
                    vdef.key = vdef.target.path
                self._add_volume(pool, vdef)
                pool.defn.allocation += vdef.allocation
                pool.defn.available = pool.defn.capacity - pool.defn.allocation
            return pool.ref()

    def close(self) -> None:
        """Release the temporary volume directory (if this room created one)."""
        with self._core.lock:
            if self._tmpdir is not None:
                self._tmpdir.cleanup()
                self._tmpdir = None

    # ---------------------------------------------------------------- finding pools

    def _by_name(self, name: str) -> _Pool:
        for pool in self._pools.values():
            if pool.name == name:
                return pool
        raise _pool_not_found("name", name)

    def _by_uuid(self, uuid: bytes) -> _Pool:
        pool = self._pools.get(uuid)
        if pool is None:
            raise _pool_not_found("uuid", format_uuid(uuid))
        return pool

    def _find(self, key: PoolKey) -> _Pool:
        """By the handle's UUID (or a raw/textual UUID)."""
        if isinstance(key, PoolRef):
            return self._by_uuid(key.uuid)
        try:
            raw = parse_uuid(key)
        except ValueError:
            raise _pool_not_found("uuid", str(key)) from None
        return self._by_uuid(raw)

    def _named(self, key: PoolKey) -> _Pool:
        """By the handle's name, as most of the test driver's pool calls look up."""
        return self._by_name(key.name) if isinstance(key, PoolRef) else self._find(key)

    def _active(self, key: PoolKey) -> _Pool:
        pool = self._named(key)
        if not pool.active:
            name = key.name if isinstance(key, PoolRef) else pool.name
            raise VirtError.invalid(ErrDomain.TEST, f"storage pool '{name}' is not active")
        return pool

    def _active_name(self, name: str) -> _Pool:
        """The active pool a volume handle names."""
        return self._active(PoolRef(name, b""))

    def _inactive(self, key: PoolKey) -> _Pool:
        pool = self._named(key)
        if pool.active:
            name = key.name if isinstance(key, PoolRef) else pool.name
            raise VirtError.invalid(ErrDomain.TEST, f"storage pool '{name}' is active")
        return pool

    # ---------------------------------------------------------------- lookups and lists

    def pool_lookup_by_name(self, name: str) -> PoolRef:
        """``virStoragePoolLookupByName``; misses raise code 49."""
        with self._core.lock:
            return self._by_name(name).ref()

    def pool_lookup_by_uuid(self, uuid: bytes | str) -> PoolRef:
        """``virStoragePoolLookupByUUID``."""
        with self._core.lock:
            return self._find(uuid).ref()

    def pool_lookup_by_volume(self, vol: VolumeRef) -> PoolRef:
        """``virStoragePoolLookupByVolume`` (by the volume handle's pool name)."""
        return self.pool_lookup_by_name(vol.pool)

    def list_all_pools(self, flags: int = 0) -> list[PoolRef]:
        """``virConnectListAllStoragePools`` with the ``VIR_CONNECT_LIST_STORAGE_POOLS_*``
        filters, including the pool-type bits (64 = dir, ...)."""
        if flags & ~PoolListFlags.ALL:
            raise VirtError.bad_flags("testConnectListAllStoragePools",
                                      flags & ~PoolListFlags.ALL)
        f = PoolListFlags
        type_bits = flags >> 6
        with self._core.lock:
            out = []
            for p in self._pools.values():
                if not (
                    list_filter(flags, f.ACTIVE, f.INACTIVE, p.active)
                    and list_filter(flags, f.PERSISTENT, f.TRANSIENT, p.persistent)
                    and list_filter(flags, f.AUTOSTART, f.NO_AUTOSTART,
                                    p.autostart and p.persistent)
                ):
                    continue
                if type_bits and not type_bits & (1 << _POOL_TYPE_BITS.index(p.defn.type)):
                    continue
                out.append(p.ref())
            return out

    def count_pools(self, active: bool) -> int:
        """``virConnectNumOf(Defined)StoragePools``."""
        with self._core.lock:
            return sum(1 for p in self._pools.values() if p.active == active)

    def pool_names(self, active: bool, maxnames: int) -> list[str]:
        """``virConnectList(Defined)StoragePools``: at most *maxnames* names."""
        with self._core.lock:
            return [p.name for p in self._pools.values() if p.active == active][:maxnames]

    # ---------------------------------------------------------------- pool queries

    def pool_get_info(self, pool: PoolKey) -> PoolInfo:
        """``virStoragePoolGetInfo``: state 2 (running) or 0 (inactive) and sizes."""
        with self._core.lock:
            p = self._named(pool)
            d = p.defn
            return PoolInfo(_POOL_RUNNING if p.active else _POOL_INACTIVE,
                            d.capacity % (1 << 64), d.allocation % (1 << 64),
                            d.available % (1 << 64))

    def pool_get_xml_desc(self, pool: PoolKey, flags: int = 0) -> str:
        """``virStoragePoolGetXMLDesc`` (the test driver takes no flag)."""
        if flags:
            raise VirtError.bad_flags("testStoragePoolGetXMLDesc", flags)
        with self._core.lock:
            return format_pool_xml(self._named(pool).defn)

    def pool_def(self, pool: PoolKey) -> PoolDef:
        """A copy of the pool's definition (for other object kinds)."""
        with self._core.lock:
            return self._named(pool).defn.copy()

    def pool_is_active(self, pool: PoolKey) -> bool:
        """``virStoragePoolIsActive``."""
        with self._core.lock:
            return self._find(pool).active

    def pool_is_persistent(self, pool: PoolKey) -> bool:
        """``virStoragePoolIsPersistent``."""
        with self._core.lock:
            return self._find(pool).persistent

    def pool_get_autostart(self, pool: PoolKey) -> bool:
        """``virStoragePoolGetAutostart`` (never for a transient pool)."""
        with self._core.lock:
            p = self._named(pool)
            return p.autostart and p.persistent

    def pool_set_autostart(self, pool: PoolKey, autostart: bool) -> None:
        """``virStoragePoolSetAutostart``: only a pool with a configuration."""
        with self._core.lock:
            p = self._named(pool)
            if not p.persistent:
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                    "invalid argument: %s", "pool has no config file")
            p.autostart = bool(autostart)

    # ---------------------------------------------------------------- pool changes

    def _add(self, defn: PoolDef, *, check_active: bool) -> _Pool:
        """``virStoragePoolObjListAdd``: a new pool, or *defn* given to the pool with its
        UUID (as its next definition while it runs)."""
        for other in self._pools.values():
            if other.name != defn.name and _source_conflict(other.defn, defn):
                raise VirtError.failed(ErrDomain.STORAGE,
                                       f"Storage source conflict with pool: '{other.name}'")
        pool = self._pools.get(defn.uuid)
        if pool is not None:
            if pool.name != defn.name:
                raise VirtError.failed(
                    ErrDomain.STORAGE,
                    f"pool '{pool.name}' is already defined with uuid {format_uuid(pool.uuid)}")
            if check_active and pool.active:
                raise VirtError.invalid(ErrDomain.STORAGE,
                                        f"pool is already active as '{pool.name}'")
            if pool.active:
                pool.new_def = defn
            else:
                pool.defn = defn
            return pool
        for other in self._pools.values():
            if other.name == defn.name:
                raise VirtError.failed(
                    ErrDomain.STORAGE,
                    f"pool '{defn.name}' already exists with uuid {format_uuid(other.uuid)}")
        pool = _Pool(defn, persistent=False)
        self._pools[pool.uuid] = pool
        return pool

    def pool_define_xml(self, xml: str, flags: int = 0) -> PoolRef:
        """``virStoragePoolDefineXML``: event DEFINED; the pool's sizes start afresh."""
        if flags & ~DEFINE_VALIDATE:
            raise VirtError.bad_flags("testStoragePoolDefineXML", flags & ~DEFINE_VALIDATE)
        defn = parse_pool_xml(xml, validate=bool(flags & DEFINE_VALIDATE))
        defn.capacity, defn.allocation, defn.available = (
            DEFAULT_POOL_CAPACITY, 0, DEFAULT_POOL_CAPACITY)
        with self._core.locked():
            pool = self._add(defn, check_active=False)
            self._core.emit(PoolLifecycleEvent(pool.ref(), PoolEventType.DEFINED, 0))
            pool.set_defaults()
            return pool.ref()

    def pool_create_xml(self, xml: str, flags: int = 0) -> PoolRef:
        """``virStoragePoolCreateXML``: a running pool without configuration (event
        STARTED), even when it replaces an inactive defined one."""
        if flags:
            raise VirtError.bad_flags("testStoragePoolCreateXML", flags)
        defn = parse_pool_xml(xml)
        with self._core.locked():
            pool = self._add(defn, check_active=True)
            adapter = pool.defn.source.adapter
            if adapter.type == "fc_host" and self.vports is not None:
                # a validated fc_host adapter has both WWNs
                if not self.vports.mock_create_vport(adapter.wwnn or "", adapter.wwpn or ""):
                    self._remove(pool)
                    raise VirtError(ErrCode.INTERNAL_ERROR, ErrDomain.NONE,
                                    "An error occurred, but the cause is unknown",
                                    int1=0, int2=0)
            pool.set_defaults()
            pool.persistent = False
            pool.active = True
            self._core.emit(PoolLifecycleEvent(pool.ref(), PoolEventType.STARTED, 0))
            return pool.ref()

    def pool_undefine(self, pool: PoolRef) -> None:
        """``virStoragePoolUndefine``: an inactive pool goes (event UNDEFINED)."""
        with self._core.locked():
            p = self._inactive(pool)
            self._core.emit(PoolLifecycleEvent(pool, PoolEventType.UNDEFINED, 0))
            self._remove(p)

    def pool_build(self, pool: PoolRef, flags: int = 0) -> None:
        """``virStoragePoolBuild``: only an inactive pool; event CREATED."""
        if flags:
            raise VirtError.bad_flags("testStoragePoolBuild", flags)
        with self._core.locked():
            self._inactive(pool)
            self._core.emit(PoolLifecycleEvent(pool, PoolEventType.CREATED, 0))

    def pool_create(self, pool: PoolKey, flags: int = 0) -> None:
        """``virStoragePoolCreate``: start an inactive pool (event STARTED)."""
        if flags:
            raise VirtError.bad_flags("testStoragePoolCreate", flags)
        with self._core.locked():
            p = self._inactive(pool)
            p.active = True
            ref = pool if isinstance(pool, PoolRef) else p.ref()
            self._core.emit(PoolLifecycleEvent(ref, PoolEventType.STARTED, 0))

    def pool_destroy(self, pool: PoolKey) -> None:
        """``virStoragePoolDestroy``: stop an active pool (event STOPPED); volumes stay, a
        pool without configuration goes.  A fibre channel pool removes the vHBA
        (``scsi_host12``) first; without one it stays stopped but fails, as the test
        driver does."""
        with self._core.locked():
            p = self._active(pool)
            p.active = False
            if p.defn.source.adapter.type == "fc_host" and self.vports is not None:
                self.vports.remove_vport()
            self._core.emit(PoolLifecycleEvent(p.ref(), PoolEventType.STOPPED, 0))
            if not p.persistent:
                self._remove(p)

    def pool_delete(self, pool: PoolRef, flags: int = 0) -> None:
        """``virStoragePoolDelete``: only an inactive pool; event DELETED (nothing goes)."""
        if flags:
            raise VirtError.bad_flags("testStoragePoolDelete", flags)
        with self._core.locked():
            self._inactive(pool)
            self._core.emit(PoolLifecycleEvent(pool, PoolEventType.DELETED, 0))

    def pool_refresh(self, pool: PoolKey, flags: int = 0) -> None:
        """``virStoragePoolRefresh``: nothing to rescan; the refresh event."""
        if flags:
            raise VirtError.bad_flags("testStoragePoolRefresh", flags)
        with self._core.locked():
            p = self._active(pool)
            ref = pool if isinstance(pool, PoolRef) else p.ref()
            self._core.emit(PoolRefreshEvent(ref))

    def _remove(self, p: _Pool) -> None:
        del self._pools[p.uuid]
        for vol in p.volumes.values():
            self._drop_file(vol)

    def find_pool_sources(self, pool_type: str, spec: str | None, flags: int = 0) -> str:
        """``virConnectFindStoragePoolSources`` as the test driver answers it: logical
        pools have two made-up volume groups, netfs sources are made up for the host the
        specification names."""
        if flags:
            raise VirtError.bad_flags("testConnectFindStoragePoolSources", flags)
        if pool_type == "dir":  # type 0: libvirt's test takes it for "unknown"
            raise VirtError.internal_error(ErrDomain.TEST,
                                           f"unknown storage pool type {pool_type}")
        source = None
        if spec is not None and pool_type in POOL_TYPES:
            root = parse_xml(spec, "source", context="storage_source_specification",
                             err_domain=ErrDomain.STORAGE)
            source = parse_pool_source(root, pool_type)
        if pool_type == "logical":
            return _LOGICAL_SOURCES
        if pool_type == "netfs":
            if source is None or not source.hosts:
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                                    "hostname must be specified for netfs sources")
            # the test driver prints the host name as given, unescaped
            return ("<sources>\n  <source>\n"
                    f"    <host name='{source.hosts[0].name}'/>\n"
                    "    <dir path='/testshare'/>\n    <format type='nfs'/>\n"
                    "  </source>\n</sources>\n")
        raise VirtError.fmt(ErrCode.NO_SUPPORT, ErrDomain.TEST,
                            "this function is not supported by the connection driver: %s",
                            f"pool type '{pool_type}' does not support source discovery")

    # ---------------------------------------------------------------- volumes

    def _vol_ref(self, p: _Pool, v: _Volume) -> VolumeRef:
        return VolumeRef(p.name, v.name, v.key)

    def _vol(self, p: _Pool, name: str) -> _Volume:
        v = p.volumes.get(name)
        if v is None:
            raise _vol_not_found("name", name)
        return v

    def _find_vol(self, vol: VolumeRef) -> tuple[_Pool, _Volume]:
        p = self._active_name(vol.pool)
        return p, self._vol(p, vol.name)

    def pool_num_of_volumes(self, pool: PoolKey) -> int:
        """``virStoragePoolNumOfVolumes``."""
        with self._core.lock:
            return len(self._active(pool).volumes)

    def pool_list_volumes(self, pool: PoolKey, maxnames: int = 1 << 20) -> list[str]:
        """``virStoragePoolListVolumes``."""
        with self._core.lock:
            return list(self._active(pool).volumes)[:maxnames]

    def pool_list_all_volumes(self, pool: PoolKey, flags: int = 0) -> list[VolumeRef]:
        """``virStoragePoolListAllVolumes`` (the pool found by UUID)."""
        if flags:
            raise VirtError.bad_flags("testStoragePoolListAllVolumes", flags)
        with self._core.lock:
            p = self._find(pool)
            if not p.active:
                raise VirtError.invalid(ErrDomain.TEST, "storage pool is not active")
            return [self._vol_ref(p, v) for v in p.volumes.values()]

    def vol_lookup_by_name(self, pool: PoolKey, name: str) -> VolumeRef:
        """``virStorageVolLookupByName``."""
        with self._core.lock:
            p = self._active(pool)
            return self._vol_ref(p, self._vol(p, name))

    def _search(self, value: str, what: str) -> VolumeRef:
        with self._core.lock:
            for p in self._pools.values():
                if not p.active:
                    continue
                for v in p.volumes.values():
                    if (v.key if what == "key" else v.path) == value:
                        return self._vol_ref(p, v)
        raise _vol_not_found(what, value)

    def vol_lookup_by_key(self, key: str) -> VolumeRef:
        """``virStorageVolLookupByKey`` (active pools only)."""
        return self._search(key, "key")

    def vol_lookup_by_path(self, path: str) -> VolumeRef:
        """``virStorageVolLookupByPath`` (active pools only)."""
        return self._search(path, "path")

    def _add_volume(self, p: _Pool, vdef: VolDef) -> _Volume:
        for other in p.volumes.values():
            if other.key == vdef.key or other.path == vdef.target.path:
                raise VirtError.failed(ErrDomain.STORAGE,
                                       f"volume '{vdef.name}' already exists")
        v = _Volume(vdef)
        p.volumes[vdef.name] = v
        return v

    def _create_volume(self, p: _Pool, vdef: VolDef, clone_of: str | None) -> VolumeRef:
        if vdef.name in p.volumes:
            raise VirtError.failed(ErrDomain.TEST, "storage vol already exists")
        if clone_of is not None and clone_of not in p.volumes:
            raise _vol_not_found("name", clone_of)
        d = p.defn
        if d.allocation + vdef.allocation > d.capacity:
            raise VirtError.internal_error(
                ErrDomain.TEST, f"Not enough free space in pool for volume '{vdef.name}'")
        vdef.target.path = f"{_c_str(d.path)}/{vdef.name}"
        vdef.key = vdef.target.path
        v = self._add_volume(p, vdef)
        d.allocation += vdef.allocation
        d.available = d.capacity - d.allocation
        return self._vol_ref(p, v)

    def vol_create_xml(self, pool: PoolKey, xml: str | bytes, flags: int = 0) -> VolumeRef:
        """``virStorageVolCreateXML``: the allocation (the capacity unless given) is charged
        to the pool; path and key are the pool's path joined with the name."""
        if flags:
            raise VirtError.bad_flags("testStorageVolCreateXML", flags)
        with self._core.locked():
            p = self._active(pool)
            vdef = _parse_volume_xml(xml, p.defn.type)
            return self._create_volume(p, vdef, None)

    def vol_create_xml_from(self, pool: PoolKey, xml: str | bytes, clone: VolumeRef,
                            flags: int = 0) -> VolumeRef:
        """``virStorageVolCreateXMLFrom``: as the test driver, the volume to clone must be in
        the same pool; the new one is made from the XML alone (its data copied here)."""
        if flags:
            raise VirtError.bad_flags("testStorageVolCreateXMLFrom", flags)
        with self._core.locked():
            p = self._active(pool)
            vdef = _parse_volume_xml(xml, p.defn.type)
            ref = self._create_volume(p, vdef, clone.name)
            source = p.volumes[clone.name]
            if source.file:
                new = p.volumes[vdef.name]
                new.file = self._new_backing_file(vdef.capacity)
                self._copy_data(source.file, new.file, vdef.capacity)
            return ref

    def vol_create(self, pool: PoolKey, name: str, capacity: int,
                   allocation: int | None = None, fmt: str | None = "raw") -> VolumeRef:
        """Create a volume from plain values (what ``vol_create_xml`` ends in)."""
        with self._core.locked():
            p = self._active(pool)
            vdef = VolDef(name, capacity=capacity,
                          allocation=capacity if allocation is None else allocation,
                          has_allocation=allocation is not None)
            if POOL_TYPES[p.defn.type].vol_formats is not None:
                vdef.target.format = fmt
            return self._create_volume(p, vdef, None)

    def vol_delete(self, vol: VolumeRef, flags: int = 0) -> None:
        """``virStorageVolDelete``: the backing file goes too."""
        if flags:
            raise VirtError.bad_flags("testStorageVolDelete", flags)
        with self._core.locked():
            p, v = self._find_vol(vol)
            p.defn.allocation -= v.vdef.allocation
            p.defn.available = p.defn.capacity - p.defn.allocation
            del p.volumes[v.name]
            self._drop_file(v)

    def vol_get_info(self, vol: VolumeRef) -> VolumeInfo:
        """``virStorageVolGetInfo``: the type follows the pool's type (file, block or
        network)."""
        with self._core.lock:
            p, v = self._find_vol(vol)
            return VolumeInfo(POOL_TYPES[p.defn.type].vol_type, v.vdef.capacity,
                              v.vdef.allocation)

    def vol_get_path(self, vol: VolumeRef) -> str:
        """``virStorageVolGetPath``."""
        with self._core.lock:
            return self._find_vol(vol)[1].path

    def vol_get_xml_desc(self, vol: VolumeRef, flags: int = 0) -> str:
        """``virStorageVolGetXMLDesc``."""
        if flags:
            raise VirtError.bad_flags("testStorageVolGetXMLDesc", flags)
        with self._core.lock:
            p, v = self._find_vol(vol)
            return format_volume_xml(v.vdef, p.defn.type)

    # ---------------------------------------------------------------- volume data

    def vol_backing_file(self, vol: VolumeRef) -> str:
        """The real file holding the volume's bytes (sparse; opened by stream code)."""
        with self._core.lock:
            _, v = self._find_vol(vol)
            if not v.file:
                # a volume gets its sparse file when its data is first used
                v.file = self._new_backing_file(v.vdef.capacity)
            return os.path.join(self.storage_dir, v.file)

    def _new_backing_file(self, capacity: int) -> str:
        fd, file_path = tempfile.mkstemp(prefix="vol-", suffix=".img", dir=self.storage_dir)
        try:
            # A sparse file: uploads with holes never materialise the holes on disk.
            os.ftruncate(fd, capacity)
        finally:
            os.close(fd)
        return os.path.basename(file_path)

    def _copy_data(self, source: str, target: str, size: int) -> None:
        with VolumeData(os.path.join(self.storage_dir, source)) as src, \
                VolumeData(os.path.join(self.storage_dir, target), write=True) as dst:
            for offset, length, is_data in src.data_regions():
                if not is_data or offset >= size:
                    continue
                length = min(length, size - offset)
                pos = offset
                while pos < offset + length:
                    chunk = src.read_at(pos, min(1 << 20, offset + length - pos))
                    if not chunk:
                        break
                    dst.write_at(pos, chunk)
                    pos += len(chunk)

    def _drop_file(self, v: _Volume) -> None:
        if v.file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.storage_dir, v.file))
            v.file = ""

    def vol_open(self, vol: VolumeRef, *, write: bool = False) -> VolumeData:
        """Open the volume's data for a stream upload (``write=True``) or download."""
        path = self.vol_backing_file(vol)
        return VolumeData(path, write=write)

    # ---------------------------------------------------------------- persistence

    def dump(self) -> list[dict[str, Any]]:
        """The pools and volumes as JSON-serialisable data (for the state file)."""
        with self._core.lock:
            return [
                {
                    "xml": format_pool_xml(p.defn),
                    "next_xml": None if p.new_def is None else format_pool_xml(p.new_def),
                    "active": p.active,
                    "persistent": p.persistent,
                    "autostart": p.autostart,
                    "volumes": [
                        {"xml": format_volume_xml(v.vdef, p.defn.type), "file": v.file}
                        for v in p.volumes.values()
                    ],
                }
                for p in self._pools.values()
            ]

    def restore(self, items: list[dict[str, Any]]) -> None:
        """Load what :meth:`dump` produced (into an empty room).  Volume files missing from
        the storage directory are recreated empty (sparse) with their capacity."""
        for item in items:
            if "xml" not in item:
                item = _legacy_item(item)
            defn = _restore_def(str(item["xml"]))
            next_xml = item.get("next_xml")
            pool = _Pool(defn, active=bool(item["active"]),
                         persistent=bool(item["persistent"]),
                         autostart=bool(item["autostart"]),
                         new_def=_restore_def(str(next_xml)) if next_xml else None)
            for vi in item["volumes"]:
                vdef = _parse_volume_xml(str(vi["xml"]), defn.type)
                fname = os.path.basename(str(vi.get("file", "")))
                full = os.path.join(self.storage_dir, fname)
                if fname and not os.path.exists(full):
                    with open(full, "wb") as fh:
                        fh.truncate(vdef.capacity)
                pool.volumes[vdef.name] = _Volume(vdef, fname)
            self._pools[pool.uuid] = pool


def _c_str(value: str | None) -> str:
    """A string as C's printf writes it: NULL is "(null)"."""
    return "(null)" if value is None else value


def _restore_def(xml: str) -> PoolDef:
    """A pool definition from a state file: sizes as saved."""
    root = parse_xml(xml, "pool", context="storage_pool_definition",
                     err_domain=ErrDomain.STORAGE)
    defn = parse_pool(root)
    for attr in ("capacity", "allocation", "available"):
        text = root.findtext(attr)
        setattr(defn, attr, int(text) if text else 0)
    return defn


def _legacy_item(item: dict[str, Any]) -> dict[str, Any]:
    """A pool of a state file written before pools were kept as XML."""
    capacity = int(item.get("capacity", DEFAULT_POOL_CAPACITY))
    allocation = sum(int(v["allocation"]) for v in item["volumes"])
    xml = (f"<pool type='{item['type']}'><name>{item['name']}</name>"
           f"<uuid>{item['uuid']}</uuid><capacity>{capacity}</capacity>"
           f"<allocation>{allocation}</allocation>"
           f"<available>{capacity - allocation}</available>"
           f"<target><path>{item['path']}</path></target></pool>")
    volumes = []
    for v in item["volumes"]:
        path = v.get("path") or f"{item['path']}/{v['name']}"
        fmt = f"<format type='{v['format']}'/>" if v.get("format") else ""
        volumes.append({
            "xml": (f"<volume type='{v.get('type', 'file')}'><name>{v['name']}</name>"
                    f"<key>{v.get('key') or path}</key>"
                    f"<capacity>{v['capacity']}</capacity>"
                    f"<allocation>{v['allocation']}</allocation>"
                    f"<target><path>{path}</path>{fmt}</target></volume>"),
            "file": v.get("file", ""),
        })
    return {**item, "xml": xml, "volumes": volumes}


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
