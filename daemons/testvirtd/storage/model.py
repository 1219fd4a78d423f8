"""Storage pools and their volumes of a driver instance, as libvirt's test driver keeps them.

Volume contents live in sparse files in the instance's storage directory, so uploads and
downloads move real bytes (see :class:`VolumeData`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from ..core import DriverCore, Event, list_filter
from ..domxml import ErrCode, ErrDomain, VirtError, format_uuid, parse_size, parse_uuid, parse_xml
from .xml import PoolSpec, VolumeSpec, format_pool_xml, format_volume_xml, parse_volume

__all__ = (
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

_POOL_INACTIVE = 0
_POOL_RUNNING = 2
_VOL_TYPE_NUMBERS: Final = {"file": 0, "block": 1, "dir": 2, "network": 3, "netdir": 4,
                            "ploop": 5}
#: the capacity the test driver gives every pool it loads (100 GiB)
DEFAULT_POOL_CAPACITY: Final = 100 * 1024**3


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
    """A storage pool lifecycle event (DEFINED 0, UNDEFINED 1, STARTED 2, STOPPED 3)."""

    pool: PoolRef
    event: int
    detail: int


@dataclass(frozen=True, slots=True)
class PoolRefreshEvent(Event):
    """A storage pool REFRESH event (``VIR_STORAGE_POOL_EVENT_ID_REFRESH``)."""

    pool: PoolRef


PoolKey = PoolRef | bytes | str


@dataclass
class _Volume:
    name: str
    capacity: int
    allocation: int
    format: str | None
    file: str  # backing file name inside the instance's storage directory ("" until used)
    type: str = "file"
    key: str | None = None  # None: the path
    path: str | None = None  # None: <pool path>/<name>
    permissions: ET.Element | None = None
    backing: ET.Element | None = None


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
    source: ET.Element | None = None
    permissions: ET.Element | None = None

    def ref(self) -> PoolRef:
        return PoolRef(self.name, self.uuid)

    @property
    def allocation(self) -> int:
        return sum(v.allocation for v in self.volumes.values())


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

    def populate_default(self) -> None:
        """Add test:///default's active dir pool "default-pool"."""
        pool = _Pool(
            name="default-pool",
            uuid=parse_uuid("dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566"),
            type="dir",
            path="/default-pool",
            capacity=107374182400,
        )
        self._pools[pool.uuid] = pool

    def add_pool(self, spec: PoolSpec, volumes: list[VolumeSpec]) -> PoolRef:
        """Add an active pool with its volumes as a node file defines them, quietly.

        As the test driver, the pool gets a capacity of 100 GiB whatever the XML says, and
        its allocation is what its volumes allocate.
        :raises VirtError: when the name or UUID is taken or two volumes share a name.
        """
        from ..domxml import random_uuid

        with self._core.lock:
            uuid = spec.uuid or random_uuid()
            for other in self._pools.values():
                if other.name == spec.name or other.uuid == uuid:
                    raise VirtError.failed(
                        ErrDomain.STORAGE,
                        f"pool '{spec.name}' is already defined with uuid "
                        f"{format_uuid(other.uuid)}" if other.name == spec.name else
                        f"pool '{other.name}' is already defined with uuid "
                        f"{format_uuid(other.uuid)}",
                    )
            pool = _Pool(
                name=spec.name, uuid=uuid, type=spec.type, path=spec.path or "",
                capacity=DEFAULT_POOL_CAPACITY, source=spec.source,
                permissions=spec.permissions,
            )
            for vs in volumes:
                if vs.name in pool.volumes:
                    raise VirtError.failed(ErrDomain.STORAGE,
                                           f"volume '{vs.name}' already exists")
                pool.volumes[vs.name] = _Volume(
                    vs.name, vs.capacity,
                    vs.capacity if vs.allocation is None else vs.allocation,
                    vs.format, "", type=vs.type, key=vs.key, path=vs.path,
                    permissions=vs.permissions, backing=vs.backing,
                )
            self._pools[uuid] = pool
            return pool.ref()

    def close(self) -> None:
        """Release the temporary volume directory (if this room created one)."""
        with self._core.lock:
            if self._tmpdir is not None:
                self._tmpdir.cleanup()
                self._tmpdir = None

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

    def pool_lookup_by_name(self, name: str) -> PoolRef:
        """``virStoragePoolLookupByName``; misses raise code 49."""
        with self._core.lock:
            for pool in self._pools.values():
                if pool.name == name:
                    return pool.ref()
        raise _pool_not_found("name", name)

    def pool_lookup_by_uuid(self, uuid: bytes | str) -> PoolRef:
        """``virStoragePoolLookupByUUID``."""
        with self._core.lock:
            return self._find_pool(uuid).ref()

    def pool_lookup_by_volume(self, vol: VolumeRef) -> PoolRef:
        """``virStoragePoolLookupByVolume``."""
        return self.pool_lookup_by_name(vol.pool)

    def list_all_pools(self, flags: int = 0) -> list[PoolRef]:
        """``virConnectListAllStoragePools`` with the ``VIR_CONNECT_LIST_STORAGE_POOLS_*``
        filters, including the pool-type bits (64 = dir, ...)."""
        f = PoolListFlags
        type_bits = flags >> 6
        with self._core.lock:
            out = []
            for p in self._pools.values():
                if not (
                    list_filter(flags, f.ACTIVE, f.INACTIVE, p.active)
                    and list_filter(flags, f.PERSISTENT, f.TRANSIENT, p.persistent)
                    and list_filter(flags, f.AUTOSTART, f.NO_AUTOSTART, p.autostart)
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
        with self._core.lock:
            p = self._find_pool(pool)
            alloc = p.allocation
            # an over-full pool's available space wraps around, as libvirt's unsigned sum
            return PoolInfo(
                _POOL_RUNNING if p.active else _POOL_INACTIVE, p.capacity, alloc,
                (p.capacity - alloc) % (1 << 64),
            )

    def pool_get_xml_desc(self, pool: PoolRef | bytes | str, flags: int = 0) -> str:
        """``virStoragePoolGetXMLDesc``."""
        with self._core.lock:
            p = self._find_pool(pool)
            alloc = p.allocation
            spec = PoolSpec(p.name, p.uuid, p.type, p.path, p.source, p.permissions)
            return format_pool_xml(spec, format_uuid(p.uuid), p.capacity, alloc,
                                   p.capacity - alloc)

    def pool_is_active(self, pool: PoolRef | bytes | str) -> bool:
        """``virStoragePoolIsActive``."""
        with self._core.lock:
            return self._find_pool(pool).active

    def pool_is_persistent(self, pool: PoolRef | bytes | str) -> bool:
        """``virStoragePoolIsPersistent``."""
        with self._core.lock:
            return self._find_pool(pool).persistent

    def pool_get_autostart(self, pool: PoolRef | bytes | str) -> bool:
        """``virStoragePoolGetAutostart``."""
        with self._core.lock:
            return self._find_pool(pool).autostart

    def pool_set_autostart(self, pool: PoolRef | bytes | str, autostart: bool) -> None:
        """``virStoragePoolSetAutostart``."""
        with self._core.lock:
            self._find_pool(pool).autostart = bool(autostart)

    def pool_create(self, pool: PoolRef | bytes | str, flags: int = 0) -> None:
        """``virStoragePoolCreate``: start an inactive pool (event STARTED)."""
        with self._core.locked():
            p = self._find_pool(pool)
            if p.active:
                raise VirtError.invalid(ErrDomain.TEST, f"storage pool '{p.name}' is active")
            p.active = True
            self._core.emit(PoolLifecycleEvent(p.ref(), PoolEventType.STARTED, 0))

    def pool_destroy(self, pool: PoolRef | bytes | str) -> None:
        """``virStoragePoolDestroy``: stop an active pool (event STOPPED); volumes stay."""
        with self._core.locked():
            p = self._active_pool(pool)
            p.active = False
            self._core.emit(PoolLifecycleEvent(p.ref(), PoolEventType.STOPPED, 0))

    def pool_refresh(self, pool: PoolRef | bytes | str, flags: int = 0) -> None:
        """``virStoragePoolRefresh``: nothing to rescan; the state is checked and the
        REFRESH event sent."""
        with self._core.locked():
            p = self._active_pool(pool)
            self._core.emit(PoolRefreshEvent(p.ref()))

    def pool_define_xml(self, xml: str | bytes) -> PoolRef:
        """``virStoragePoolDefineXML``: a new persistent pool, inactive (event DEFINED)."""
        from .xml import parse_pool

        sd = ErrDomain.STORAGE
        spec = parse_pool(parse_xml(xml, "pool", context="storage_pool_definition",
                                    err_domain=sd))
        with self._core.locked():
            ref = self.add_pool(spec, [])
            p = self._pools[ref.uuid]
            p.active = False
            self._core.emit(PoolLifecycleEvent(ref, PoolEventType.DEFINED, 0))
            return ref

    def pool_undefine(self, pool: PoolRef | bytes | str) -> None:
        """``virStoragePoolUndefine``: only an inactive pool (event UNDEFINED)."""
        with self._core.locked():
            p = self._find_pool(pool)
            if p.active:
                raise VirtError.invalid(ErrDomain.TEST,
                                        f"storage pool '{p.name}' is active")
            del self._pools[p.uuid]
            self._core.emit(PoolLifecycleEvent(p.ref(), PoolEventType.UNDEFINED, 0))

    def pool_num_of_volumes(self, pool: PoolRef | bytes | str) -> int:
        """``virStoragePoolNumOfVolumes``."""
        with self._core.lock:
            return len(self._active_pool(pool).volumes)

    def pool_list_volumes(self, pool: PoolRef | bytes | str, maxnames: int = 1 << 20) -> list[str]:
        """``virStoragePoolListVolumes``."""
        with self._core.lock:
            return list(self._active_pool(pool).volumes)[:maxnames]

    def pool_list_all_volumes(self, pool: PoolRef | bytes | str, flags: int = 0) -> list[VolumeRef]:
        """``virStoragePoolListAllVolumes``."""
        with self._core.lock:
            p = self._active_pool(pool)
            return [self._vol_ref(p, v) for v in p.volumes.values()]

    # ---------------------------------------------------------------- storage volumes

    @staticmethod
    def _vol_path(p: _Pool, v: _Volume) -> str:
        # the test driver joins a missing pool path as "(null)", as glibc prints NULL
        return v.path or f"{p.path if p.path else '(null)'}/{v.name}"

    def _vol_key(self, p: _Pool, v: _Volume) -> str:
        return v.key or self._vol_path(p, v)

    def _vol_ref(self, p: _Pool, v: _Volume) -> VolumeRef:
        return VolumeRef(p.name, v.name, self._vol_key(p, v))

    def _find_vol(self, vol: VolumeRef) -> tuple[_Pool, _Volume]:
        for p in self._pools.values():
            if p.name == vol.pool:
                v = p.volumes.get(vol.name)
                if v is not None:
                    return p, v
        raise _vol_not_found("name", vol.name)

    def vol_lookup_by_name(self, pool: PoolRef | bytes | str, name: str) -> VolumeRef:
        """``virStorageVolLookupByName``."""
        with self._core.lock:
            p = self._active_pool(pool)
            v = p.volumes.get(name)
            if v is None:
                raise _vol_not_found("name", name)
            return self._vol_ref(p, v)

    def _lookup_vol_by_path(self, path: str, what: str) -> VolumeRef:
        with self._core.lock:
            for p in self._pools.values():
                if not p.active:
                    continue
                for v in p.volumes.values():
                    found = self._vol_key(p, v) if what == "key" else self._vol_path(p, v)
                    if found == path:
                        return self._vol_ref(p, v)
        raise _vol_not_found(what, path)

    def vol_lookup_by_key(self, key: str) -> VolumeRef:
        """``virStorageVolLookupByKey`` (the key is the path unless a node file says)."""
        return self._lookup_vol_by_path(key, "key")

    def vol_lookup_by_path(self, path: str) -> VolumeRef:
        """``virStorageVolLookupByPath``."""
        return self._lookup_vol_by_path(path, "path")

    def vol_create(
        self,
        pool: PoolRef | bytes | str,
        name: str,
        capacity: int,
        allocation: int | None = None,
        fmt: str | None = "raw",
    ) -> VolumeRef:
        """Create a volume from plain values (what ``vol_create_xml`` ends in)."""
        with self._core.locked():
            p = self._active_pool(pool)
            if name in p.volumes:
                raise VirtError.failed(ErrDomain.TEST, "storage vol already exists")
            alloc = capacity if allocation is None else allocation
            if p.allocation + alloc > p.capacity:
                raise VirtError.internal_error(
                    ErrDomain.TEST, f"Not enough free space in pool for volume '{name}'"
                )
            v = _Volume(name, capacity, alloc, fmt, self._new_backing_file(capacity))
            p.volumes[name] = v
            return self._vol_ref(p, v)

    def vol_create_xml(
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
        with self._core.lock:
            pool_type = self._find_pool(pool).type
        spec = parse_volume(root, pool_type)
        return self.vol_create(pool, name, capacity, allocation, spec.format)

    def vol_delete(self, vol: VolumeRef, flags: int = 0) -> None:
        """``virStorageVolDelete``: the backing file goes too."""
        with self._core.locked():
            p, v = self._find_vol(vol)
            if not p.active:
                raise VirtError.invalid(ErrDomain.TEST, f"storage pool '{p.name}' is not active")
            del p.volumes[v.name]
            if v.file:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.storage_dir, v.file))

    def vol_get_info(self, vol: VolumeRef) -> VolumeInfo:
        """``virStorageVolGetInfo`` (type 0 = file, 1 = block, 3 = network ...)."""
        with self._core.lock:
            _, v = self._find_vol(vol)
            return VolumeInfo(_VOL_TYPE_NUMBERS.get(v.type, 0), v.capacity, v.allocation)

    def vol_get_path(self, vol: VolumeRef) -> str:
        """``virStorageVolGetPath``."""
        with self._core.lock:
            p, v = self._find_vol(vol)
            return self._vol_path(p, v)

    def vol_get_xml_desc(self, vol: VolumeRef, flags: int = 0) -> str:
        """``virStorageVolGetXMLDesc``."""
        with self._core.lock:
            p, v = self._find_vol(vol)
            spec = VolumeSpec(v.name, v.type, v.capacity, v.allocation, format=v.format,
                              permissions=v.permissions, backing=v.backing)
            return format_volume_xml(spec, self._vol_key(p, v), self._vol_path(p, v),
                                     v.allocation)

    def vol_backing_file(self, vol: VolumeRef) -> str:
        """The real file holding the volume's bytes (sparse; opened by stream code)."""
        with self._core.lock:
            _, v = self._find_vol(vol)
            if not v.file:
                # volumes a node file defines get their sparse file when first used
                v.file = self._new_backing_file(v.capacity)
            return os.path.join(self.storage_dir, v.file)

    def _new_backing_file(self, capacity: int) -> str:
        fd, file_path = tempfile.mkstemp(prefix="vol-", suffix=".img", dir=self.storage_dir)
        try:
            # A sparse file: uploads with holes never materialise the holes on disk.
            os.ftruncate(fd, capacity)
        finally:
            os.close(fd)
        return os.path.basename(file_path)

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
                            "type": v.type,
                            "key": v.key,
                            "path": v.path,
                        }
                        for v in p.volumes.values()
                    ],
                }
                for p in self._pools.values()
            ]

    def restore(self, items: list[dict[str, Any]]) -> None:
        """Load what :meth:`dump` produced (into an empty room).  Volume files missing from
        the storage directory are recreated empty (sparse) with their capacity."""
        for item in items:
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
                    None if vi["format"] is None else str(vi["format"]),
                    fname,
                    type=str(vi.get("type", "file")),
                    key=vi.get("key"),
                    path=vi.get("path"),
                )
                full = os.path.join(self.storage_dir, fname)
                if fname and not os.path.exists(full):
                    with open(full, "wb") as fh:
                        fh.truncate(vol.capacity)
                pool.volumes[vol.name] = vol
            self._pools[pool.uuid] = pool


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
