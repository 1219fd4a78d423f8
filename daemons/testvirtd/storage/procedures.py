"""Storage pool and volume procedures of the REMOTE program, including the data streams.

:class:`StorageProcedures` serves what ``virsh pool-*`` and ``virsh vol-*`` need on the
test hypervisor's pools and what libvirt's clients call on them, and the data transfers
``vol-upload`` / ``vol-download`` (with ``--sparse``, ``--offset``, ``--length``) and
``vol-wipe``.

Replies, errors and events follow libvirtd 9.0's test driver: pool definition and
lifecycle (define, create, build, start, refresh, stop, delete, undefine, autostart), source
discovery, volume creation, cloning (``virStorageVolCreateXMLFrom``: the test driver clones
within one pool, from the new volume's XML; testvirtd also copies the data) and deletion,
lookups and queries.  That driver does not implement upload, download, wipe, resize or
``virStorageVolGetInfoFlags``: resize and the flags variant answer "this function is not
supported by the connection driver" as libvirtd does, while testvirtd deliberately implements
upload, download and wipe the way the ``dir`` pool backend does on a regular file:

* upload writes in place from ``offset`` (the file is neither truncated nor preallocated;
  writing past its end makes it longer); with ``length`` > 0 at most that many bytes are
  accepted, more aborts the stream with ENOSPC as libvirt's fdstream does;
* download reads from ``offset`` to the end of the file, or at most ``length`` bytes;
* with the ``SPARSE_STREAM`` flag (1) holes travel as STREAM_HOLE packets: download finds
  them with SEEK_DATA/SEEK_HOLE, upload punches them into the file (so they stay holes and
  previous data in that range reads as zeros);
* wipe zeroes the volume by punching one hole over it (every pattern algorithm gives zeros;
  ``trim`` is refused as on a file).

Data moves one 256 KiB packet at a time: a download waits for each packet to be written to
the socket before reading the next chunk, an upload writes each packet before taking the next
from the connection, so a volume of any size costs one chunk of memory per stream.  The
volume's recorded capacity and allocation are not changed by transfers.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import Annotated, Any, Final

from netrpc import Call, RPCError
from netrpc.core import xdr
from netrpc.core.stream import CHUNK_SIZE, Hole, StreamAbortedError
from netrpc.io.server.stream import ServerStream

from .. import bounds
from .. import protocol as P
from ..connection import RemoteBase
from ..domxml import ErrCode, ErrDomain, VirtError
from ..events import Outgoing
from ..hypervisor import Hypervisor
from ..parity import VOLUME_DATA, differs
from ..remote_types import (
    STRING_MAX,
    ConnectListAllArgs,
    ConnectListAllStoragePoolsRet,
    IntRet,
    LookupByUuidArgs,
    NameArgs,
    NonnullStoragePool,
    StoragePoolArgs,
    StoragePoolFlagsArgs,
    StoragePoolGetInfoRet,
    StoragePoolRet,
    StringRet,
)
from .model import PoolLifecycleEvent, PoolRef, PoolRefreshEvent, VolumeData, VolumeRef

__all__ = (
    "DOWNLOAD_SPARSE_STREAM",
    "UPLOAD_SPARSE_STREAM",
    "NonnullStorageVol",
    "StorageProcedures",
    "pool_ref",
    "vol_ref",
    "wire_pool",
    "wire_vol",
)

log = logging.getLogger("testvirtd.storage")

#: VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM / VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM
UPLOAD_SPARSE_STREAM: Final = 1
DOWNLOAD_SPARSE_STREAM: Final = 1
#: REMOTE_STORAGE_VOL_LIST_MAX
STORAGE_VOL_LIST_MAX: Final = 16384
#: VIR_STORAGE_VOL_WIPE_ALG_TRIM and VIR_STORAGE_VOL_WIPE_ALG_LAST
_WIPE_ALG_TRIM: Final = 9
_WIPE_ALG_LAST: Final = 10
#: VIR_ERR_SYSTEM_ERROR and VIR_FROM_STREAMS
_SYSTEM_ERROR: Final = 38
_FROM_STREAMS: Final = 38

_String = Annotated[str, xdr.String(STRING_MAX)]

KIND: Final = "storage_pool"
#: VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, _REFRESH, _LAST and their messages
POOL_EVENT_ID_LIFECYCLE: Final = 0
POOL_EVENT_ID_REFRESH: Final = 1
POOL_EVENT_ID_LAST: Final = 2
LIFECYCLE_PROC: Final = 370
REFRESH_PROC: Final = 373
_LIFECYCLE_CODEC = xdr.codec_for(P.StoragePoolEventLifecycleMsg)
_REFRESH_CODEC = xdr.codec_for(P.StoragePoolEventRefreshMsg)


# ------------------------------------------------------------------------------ wire types


@xdr.struct
class NonnullStorageVol:
    """remote_nonnull_storage_vol."""

    pool: _String
    name: _String
    key: _String


@xdr.struct
class StorageVolArgs:
    """``{ remote_nonnull_storage_vol vol; }``."""

    vol: NonnullStorageVol


@xdr.struct
class StorageVolFlagsArgs:
    """``{ remote_nonnull_storage_vol vol; unsigned int flags; }``."""

    vol: NonnullStorageVol
    flags: xdr.UInt


@xdr.struct
class StorageVolRet:
    """``{ remote_nonnull_storage_vol vol; }``."""

    vol: NonnullStorageVol


@xdr.struct
class StorageVolLookupByNameArgs:
    """remote_storage_vol_lookup_by_name_args."""

    pool: NonnullStoragePool
    name: _String


@xdr.struct
class StringArgs:
    """``{ remote_nonnull_string key/path; }``."""

    value: _String


@xdr.struct
class StorageVolCreateXmlArgs:
    """remote_storage_vol_create_xml_args."""

    pool: NonnullStoragePool
    xml: _String
    flags: xdr.UInt


@xdr.struct
class StorageVolGetInfoRet:
    """remote_storage_vol_get_info_ret (``char type`` travels as an XDR int)."""

    type: xdr.Int
    capacity: xdr.UHyper
    allocation: xdr.UHyper


@xdr.struct
class StorageVolWipePatternArgs:
    """remote_storage_vol_wipe_pattern_args."""

    vol: NonnullStorageVol
    algorithm: xdr.UInt
    flags: xdr.UInt


@xdr.struct
class StorageVolTransferArgs:
    """remote_storage_vol_upload_args and remote_storage_vol_download_args."""

    vol: NonnullStorageVol
    offset: xdr.UHyper
    length: xdr.UHyper
    flags: xdr.UInt


@xdr.struct
class StoragePoolListAllVolumesArgs:
    """remote_storage_pool_list_all_volumes_args."""

    pool: NonnullStoragePool
    need_results: xdr.Int
    flags: xdr.UInt


@xdr.struct
class StoragePoolListAllVolumesRet:
    """remote_storage_pool_list_all_volumes_ret."""

    vols: Annotated[list[NonnullStorageVol], xdr.Array(NonnullStorageVol.xdr, STORAGE_VOL_LIST_MAX)]
    ret: xdr.UInt


@xdr.struct
class StoragePoolListVolumesArgs:
    """remote_storage_pool_list_volumes_args."""

    pool: NonnullStoragePool
    maxnames: xdr.Int


@xdr.struct
class StoragePoolListVolumesRet:
    """remote_storage_pool_list_volumes_ret."""

    names: Annotated[list[str], xdr.Array(xdr.String(STRING_MAX), STORAGE_VOL_LIST_MAX)]


# ------------------------------------------------------------------------------ helpers


def vol_ref(wire: NonnullStorageVol) -> VolumeRef:
    """A ``remote_nonnull_storage_vol`` as the model's handle."""
    return VolumeRef(wire.pool, wire.name, wire.key)


def wire_vol(ref: VolumeRef) -> NonnullStorageVol:
    """A model handle as ``remote_nonnull_storage_vol``."""
    return NonnullStorageVol(ref.pool, ref.name, ref.key)


def pool_ref(wire: NonnullStoragePool) -> PoolRef:
    """A ``remote_nonnull_storage_pool`` as the model's handle."""
    return PoolRef(wire.name, bytes(wire.uuid))


def wire_pool(ref: PoolRef) -> NonnullStoragePool:
    """A model handle as ``remote_nonnull_storage_pool``."""
    return NonnullStoragePool(ref.name, ref.uuid)


def vol_ref_p(wire: Any) -> VolumeRef:
    """A ``remote_nonnull_storage_vol`` of the protocol package as the model's handle."""
    return VolumeRef(wire.pool, wire.name, wire.key)


def _check_max(value: int, limit: int, name: str) -> None:
    bounds.list_max(value, limit, "maxnames", name)


def _lifecycle(event: PoolLifecycleEvent) -> Outgoing:
    def encode(cb: int) -> bytes:
        pool = P.NonnullStoragePool(event.pool.name, event.pool.uuid)
        return _LIFECYCLE_CODEC.encode(P.StoragePoolEventLifecycleMsg(cb, pool, event.event,
                                                                      event.detail))

    return Outgoing(KIND, POOL_EVENT_ID_LIFECYCLE, event.pool.uuid, LIFECYCLE_PROC, encode)


def _refresh(event: PoolRefreshEvent) -> Outgoing:
    def encode(cb: int) -> bytes:
        pool = P.NonnullStoragePool(event.pool.name, event.pool.uuid)
        return _REFRESH_CODEC.encode(P.StoragePoolEventRefreshMsg(cb, pool))

    return Outgoing(KIND, POOL_EVENT_ID_REFRESH, event.pool.uuid, REFRESH_PROC, encode)


def _storage_bad_flags(function: str, flags: int) -> VirtError:
    error = VirtError.bad_flags(function, flags)
    error.domain = ErrDomain.STORAGE
    return error


def _wipe(hv: Hypervisor, wire: NonnullStorageVol, algorithm: int, flags: int) -> None:
    if flags:
        raise _storage_bad_flags("storageVolWipePattern", flags)
    if algorithm >= _WIPE_ALG_LAST:
        raise VirtError.fmt(
            ErrCode.INVALID_ARG, ErrDomain.STORAGE, "invalid argument: %s",
            f"wiping algorithm {algorithm} not supported",
        )
    vol = vol_ref(wire)
    hv.storage.vol_lookup_by_name(hv.storage.pool_lookup_by_volume(vol), vol.name)
    if algorithm == _WIPE_ALG_TRIM:
        raise VirtError.fmt(
            ErrCode.NO_SUPPORT, ErrDomain.STORAGE,
            "this function is not supported by the connection driver: %s",
            "'trim' algorithm not supported",
        )
    with hv.storage.vol_open(vol, write=True) as data:
        size = data.size
        if size:
            data.punch_hole(0, size)


def _stream_error(what: str, exc: OSError) -> RPCError:
    # libvirt's fdstream reports I/O failures as system errors (virReportSystemError).
    text = f"{what}: {exc.strerror or exc}"
    return RPCError(_SYSTEM_ERROR, _FROM_STREAMS, text, str1=text, int1=exc.errno or -1)


# ------------------------------------------------------------------------------ the mixin


class StorageProcedures(RemoteBase):
    """Storage pool and volume procedures of the REMOTE program."""

    #: how this kind's events travel (collected by RemoteProgram)
    event_formatters: Any = {PoolLifecycleEvent: _lifecycle, PoolRefreshEvent: _refresh}

    #: volumes with a stream in progress, for tests and diagnostics
    active_transfers: int = 0

    # ============================================================== pools

    def connect_list_all_storage_pools(
        self, call: Call, args: ConnectListAllArgs
    ) -> ConnectListAllStoragePoolsRet:
        pools = self.opened(call).hv.storage.list_all_pools(args.flags)
        wire = [wire_pool(p) for p in pools] if args.need_results else []
        return ConnectListAllStoragePoolsRet(wire, len(pools))

    def storage_pool_lookup_by_name(self, call: Call, args: NameArgs) -> StoragePoolRet:
        hv = self.opened(call).hv
        return StoragePoolRet(wire_pool(hv.storage.pool_lookup_by_name(args.name)))

    def storage_pool_lookup_by_uuid(self, call: Call, args: LookupByUuidArgs) -> StoragePoolRet:
        hv = self.opened(call).hv
        return StoragePoolRet(wire_pool(hv.storage.pool_lookup_by_uuid(bytes(args.uuid))))

    def storage_pool_get_info(self, call: Call, args: StoragePoolArgs) -> StoragePoolGetInfoRet:
        info = self.opened(call).hv.storage.pool_get_info(pool_ref(args.pool))
        return StoragePoolGetInfoRet(info.state, info.capacity, info.allocation, info.available)

    def storage_pool_get_autostart(self, call: Call, args: StoragePoolArgs) -> IntRet:
        return IntRet(int(self.opened(call).hv.storage.pool_get_autostart(pool_ref(args.pool))))

    def storage_pool_is_active(self, call: Call, args: StoragePoolArgs) -> IntRet:
        return IntRet(int(self.opened(call).hv.storage.pool_is_active(pool_ref(args.pool))))

    def storage_pool_is_persistent(self, call: Call, args: StoragePoolArgs) -> IntRet:
        hv = self.opened(call).hv
        return IntRet(int(hv.storage.pool_is_persistent(pool_ref(args.pool))))

    def storage_pool_get_xml_desc(self, call: Call, args: StoragePoolFlagsArgs) -> StringRet:
        hv = self.opened(call).hv
        return StringRet(hv.storage.pool_get_xml_desc(pool_ref(args.pool), args.flags))

    def connect_num_of_storage_pools(self, call: Call, args: None) -> Any:
        return P.ConnectNumOfStoragePoolsRet(self.opened(call).hv.storage.count_pools(True))

    def connect_num_of_defined_storage_pools(self, call: Call, args: None) -> Any:
        hv = self.opened(call).hv
        return P.ConnectNumOfDefinedStoragePoolsRet(hv.storage.count_pools(False))

    def connect_list_storage_pools(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        _check_max(args.maxnames, P.STORAGE_POOL_LIST_MAX, "REMOTE_STORAGE_POOL_LIST_MAX")
        return P.ConnectListStoragePoolsRet(hv.storage.pool_names(True, max(args.maxnames, 0)))

    def connect_list_defined_storage_pools(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        _check_max(args.maxnames, P.STORAGE_POOL_LIST_MAX, "REMOTE_STORAGE_POOL_LIST_MAX")
        names = hv.storage.pool_names(False, max(args.maxnames, 0))
        return P.ConnectListDefinedStoragePoolsRet(names)

    def connect_find_storage_pool_sources(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        xml = hv.storage.find_pool_sources(args.type, args.srcSpec, args.flags)
        return P.ConnectFindStoragePoolSourcesRet(xml)

    def storage_pool_define_xml(self, call: Call, args: Any) -> Any:
        ref = self.opened(call).hv.storage.pool_define_xml(args.xml, args.flags)
        self.changed(call)
        return P.StoragePoolDefineXmlRet(wire_pool(ref))

    def storage_pool_create_xml(self, call: Call, args: Any) -> Any:
        ref = self.opened(call).hv.storage.pool_create_xml(args.xml, args.flags)
        self.changed(call)
        return P.StoragePoolCreateXmlRet(wire_pool(ref))

    def storage_pool_undefine(self, call: Call, args: StoragePoolArgs) -> None:
        self.opened(call).hv.storage.pool_undefine(pool_ref(args.pool))
        self.changed(call)

    def storage_pool_build(self, call: Call, args: Any) -> None:
        self.opened(call).hv.storage.pool_build(pool_ref(args.pool), args.flags)

    def storage_pool_create(self, call: Call, args: Any) -> None:
        self.opened(call).hv.storage.pool_create(pool_ref(args.pool), args.flags)
        self.changed(call)

    def storage_pool_destroy(self, call: Call, args: StoragePoolArgs) -> None:
        self.opened(call).hv.storage.pool_destroy(pool_ref(args.pool))
        self.changed(call)

    def storage_pool_delete(self, call: Call, args: Any) -> None:
        self.opened(call).hv.storage.pool_delete(pool_ref(args.pool), args.flags)

    def storage_pool_refresh(self, call: Call, args: Any) -> None:
        self.opened(call).hv.storage.pool_refresh(pool_ref(args.pool), args.flags)

    def storage_pool_set_autostart(self, call: Call, args: Any) -> None:
        hv = self.opened(call).hv
        hv.storage.pool_set_autostart(pool_ref(args.pool), bool(args.autostart))
        self.changed(call)

    # ============================================================== events

    def connect_storage_pool_event_register_any(self, call: Call, args: Any) -> Any:
        key = bytes(args.pool.uuid) if args.pool is not None else None
        cb = self.register_event(call, KIND, args.eventID, POOL_EVENT_ID_LAST, key,
                                 "storage pool")
        return P.ConnectStoragePoolEventRegisterAnyRet(cb)

    def connect_storage_pool_event_deregister_any(self, call: Call, args: Any) -> None:
        self.deregister_event(call, KIND, args.callbackID, "storage pool")

    # ============================================================== lookups & listing

    def storage_pool_lookup_by_volume(self, call: Call, args: StorageVolArgs) -> StoragePoolRet:
        hv = self.opened(call).hv
        ref = hv.storage.pool_lookup_by_volume(vol_ref(args.vol))
        return StoragePoolRet(NonnullStoragePool(ref.name, ref.uuid))

    def storage_pool_num_of_volumes(self, call: Call, args: StoragePoolArgs) -> IntRet:
        hv = self.opened(call).hv
        return IntRet(hv.storage.pool_num_of_volumes(pool_ref(args.pool)))

    def storage_pool_list_volumes(
        self, call: Call, args: StoragePoolListVolumesArgs
    ) -> StoragePoolListVolumesRet:
        hv = self.opened(call).hv
        bounds.list_max(args.maxnames, STORAGE_VOL_LIST_MAX, "maxnames",
                        "REMOTE_STORAGE_VOL_LIST_MAX")
        names = hv.storage.pool_list_volumes(pool_ref(args.pool), max(args.maxnames, 0))
        return StoragePoolListVolumesRet(names)

    def storage_pool_list_all_volumes(
        self, call: Call, args: StoragePoolListAllVolumesArgs
    ) -> StoragePoolListAllVolumesRet:
        hv = self.opened(call).hv
        vols = hv.storage.pool_list_all_volumes(pool_ref(args.pool), args.flags)
        wire = [wire_vol(v) for v in vols] if args.need_results else []
        return StoragePoolListAllVolumesRet(wire, len(vols))

    def storage_vol_lookup_by_name(
        self, call: Call, args: StorageVolLookupByNameArgs
    ) -> StorageVolRet:
        hv = self.opened(call).hv
        return StorageVolRet(
            wire_vol(hv.storage.vol_lookup_by_name(pool_ref(args.pool), args.name))
        )

    def storage_vol_lookup_by_key(self, call: Call, args: StringArgs) -> StorageVolRet:
        hv = self.opened(call).hv
        return StorageVolRet(wire_vol(hv.storage.vol_lookup_by_key(args.value)))

    def storage_vol_lookup_by_path(self, call: Call, args: StringArgs) -> StorageVolRet:
        hv = self.opened(call).hv
        return StorageVolRet(wire_vol(hv.storage.vol_lookup_by_path(args.value)))

    # ============================================================== queries

    def storage_vol_get_info(self, call: Call, args: StorageVolArgs) -> StorageVolGetInfoRet:
        hv = self.opened(call).hv
        info = hv.storage.vol_get_info(vol_ref(args.vol))
        return StorageVolGetInfoRet(info.type, info.capacity, info.allocation)

    def storage_vol_get_xml_desc(self, call: Call, args: StorageVolFlagsArgs) -> StringRet:
        hv = self.opened(call).hv
        return StringRet(hv.storage.vol_get_xml_desc(vol_ref(args.vol), args.flags))

    def storage_vol_get_path(self, call: Call, args: StorageVolArgs) -> StringRet:
        hv = self.opened(call).hv
        return StringRet(hv.storage.vol_get_path(vol_ref(args.vol)))

    # ============================================================== changes

    def storage_vol_create_xml(self, call: Call, args: StorageVolCreateXmlArgs) -> StorageVolRet:
        hv = self.opened(call).hv
        ref = hv.storage.vol_create_xml(pool_ref(args.pool), args.xml, args.flags)
        self.changed(call)
        return StorageVolRet(wire_vol(ref))

    def storage_vol_create_xml_from(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        ref = hv.storage.vol_create_xml_from(pool_ref(args.pool), args.xml,
                                             vol_ref_p(args.clonevol), args.flags)
        self.changed(call)
        return P.StorageVolCreateXmlFromRet(P.NonnullStorageVol(ref.pool, ref.name, ref.key))

    def storage_vol_delete(self, call: Call, args: StorageVolFlagsArgs) -> None:
        hv = self.opened(call).hv
        hv.storage.vol_delete(vol_ref(args.vol), args.flags)
        self.changed(call)

    @differs(VOLUME_DATA)
    def storage_vol_wipe(self, call: Call, args: StorageVolFlagsArgs) -> None:
        hv = self.writable(call, "virStorageVolWipe").hv
        _wipe(hv, args.vol, 0, args.flags)

    @differs(VOLUME_DATA)
    def storage_vol_wipe_pattern(self, call: Call, args: StorageVolWipePatternArgs) -> None:
        hv = self.writable(call, "virStorageVolWipePattern").hv
        _wipe(hv, args.vol, args.algorithm, args.flags)

    # ============================================================== streams


    def _open_for_transfer(
        self, hv: Hypervisor, args: StorageVolTransferArgs, *, write: bool
    ) -> VolumeData:
        vol = vol_ref(args.vol)
        # Same lookup as every other volume call: the pool must be active.
        hv.storage.vol_lookup_by_name(hv.storage.pool_lookup_by_volume(vol), vol.name)
        try:
            data: VolumeData = hv.storage.vol_open(vol, write=write)
            return data
        except OSError as exc:
            raise VirtError.fmt(
                ErrCode.OPERATION_FAILED, ErrDomain.STORAGE, "operation failed: %s",
                f"cannot open volume '{vol.key}': {exc.strerror}",
            ) from None

    @differs(VOLUME_DATA)
    def storage_vol_upload(self, call: Call, args: StorageVolTransferArgs) -> None:
        hv = self.writable(call, "virStorageVolUpload").hv
        if args.flags & ~UPLOAD_SPARSE_STREAM:
            raise _storage_bad_flags("storageVolUpload", args.flags)
        data = self._open_for_transfer(hv, args, write=True)
        try:
            stream = call.open_stream(sparse=bool(args.flags & UPLOAD_SPARSE_STREAM))
            call.client.spawn(self._receive_volume, call, stream, data, args.offset, args.length)
        except BaseException:
            data.close()
            raise

    @differs(VOLUME_DATA)
    def storage_vol_download(self, call: Call, args: StorageVolTransferArgs) -> None:
        hv = self.writable(call, "virStorageVolDownload").hv
        if args.flags & ~DOWNLOAD_SPARSE_STREAM:
            raise _storage_bad_flags("storageVolDownload", args.flags)
        data = self._open_for_transfer(hv, args, write=False)
        try:
            stream = call.open_stream(sparse=bool(args.flags & DOWNLOAD_SPARSE_STREAM))
            call.client.spawn(self._send_volume, stream, data, args.offset, args.length)
        except BaseException:
            data.close()
            raise

    async def _send_volume(
        self, stream: ServerStream, data: VolumeData, offset: int, length: int
    ) -> None:
        StorageProcedures.active_transfers += 1
        try:
            with data:
                size = data.size
                end = size if length == 0 else min(size, offset + length)
                try:
                    if stream.sparse:
                        await _send_sparse(stream, data, offset, end)
                    else:
                        await _send_range(stream, data, offset, end)
                except OSError as exc:
                    await stream.abort(_stream_error("Unable to read from file", exc))
                    return
            await stream.finish()
        except StreamAbortedError as exc:
            log.debug("download stopped: %s", exc)
        finally:
            StorageProcedures.active_transfers -= 1

    async def _receive_volume(
        self, call: Call, stream: ServerStream, data: VolumeData, offset: int, length: int
    ) -> None:
        StorageProcedures.active_transfers += 1
        try:
            with data:
                pos = offset
                limit = offset + length if length else None
                while True:
                    chunk = await stream.receive()
                    if isinstance(chunk, Hole):
                        size = chunk.length
                    elif not chunk:
                        break
                    else:
                        size = len(chunk)
                    if limit is not None and pos + size > limit:
                        full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                        await stream.abort(_stream_error("Unable to write stream", full))
                        return
                    try:
                        if isinstance(chunk, Hole):
                            data.punch_hole(pos, size)
                        else:
                            data.write_at(pos, chunk)
                    except OSError as exc:
                        await stream.abort(_stream_error("Unable to write stream", exc))
                        return
                    pos += size
            await stream.finish()
            self.changed(call)
        except StreamAbortedError as exc:
            log.debug("upload stopped: %s", exc)
        finally:
            StorageProcedures.active_transfers -= 1


async def _send_range(stream: ServerStream, data: VolumeData, start: int, end: int) -> None:
    pos = start
    while pos < end:
        chunk = data.read_at(pos, min(CHUNK_SIZE, end - pos))
        if not chunk:
            break
        await stream.send(chunk)
        pos += len(chunk)


async def _send_sparse(stream: ServerStream, data: VolumeData, start: int, end: int) -> None:
    for offset, size, is_data in data.data_regions(start):
        if offset >= end:
            break
        size = min(size, end - offset)
        if is_data:
            await _send_range(stream, data, offset, offset + size)
        else:
            await stream.send_hole(size)
