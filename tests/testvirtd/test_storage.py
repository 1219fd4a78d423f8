"""Storage volumes: procedures, replies and errors as libvirtd's test driver gives them, and
the upload/download streams (sizes, sparse holes, offsets, aborts, back-pressure)."""

from __future__ import annotations

import hashlib
import os
import resource
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from daemons.testvirtd import daemon as tvd
from daemons.testvirtd import protocol as P
from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.hypervisor import VolumeData
from daemons.testvirtd.storage import procedures as st
from netrpc import Client, RPCError
from netrpc.core.stream import CHUNK_SIZE, Hole, StreamAbortedError

from ._support import REMOTE, Remote, connect, running_daemon

pytestmark = pytest.mark.anyio

POOL_UUID = bytes.fromhex("dfe224cb28fb8dd0c4b264eb3f0f4566")
POOL = rt.NonnullStoragePool("default-pool", POOL_UUID)
MiB = 1024 * 1024


def vol_xml(name: str, capacity: int, allocation: int | None = None) -> str:
    alloc = "" if allocation is None else f"<allocation>{allocation}</allocation>"
    return f"<volume><name>{name}</name><capacity>{capacity}</capacity>{alloc}</volume>"


async def create(r: Remote, name: str, capacity: int, allocation: int | None = None
                 ) -> st.NonnullStorageVol:
    ret = await r.call(93, st.StorageVolCreateXmlArgs(POOL, vol_xml(name, capacity, allocation),
                                                      0), st.StorageVolRet)
    return ret.vol  # type: ignore[no-any-return]


def backing(daemon: tvd.TestVirtd, vol: st.NonnullStorageVol) -> str:
    return daemon.hv.storage.vol_backing_file(st.vol_ref(vol))


def regions(path: str) -> list[tuple[int, int, bool]]:
    with VolumeData(path) as data:
        return list(data.data_regions())


async def upload(client: Client, vol: st.NonnullStorageVol, parts: list[bytes | Hole], *,
                 offset: int = 0, length: int = 0, sparse: bool = False) -> None:
    args = st.StorageVolTransferArgs(vol, offset, length, int(sparse))
    _, stream = await client.open_stream(REMOTE, 1, 208, args.xdr.encode(args), sparse=sparse)
    for part in parts:
        if isinstance(part, Hole):
            await stream.send_hole(part.length)
        else:
            await stream.send(part)
    await stream.finish()


async def download_iter(client: Client, vol: st.NonnullStorageVol, *, offset: int = 0,
                        length: int = 0, sparse: bool = False) -> AsyncIterator[bytes | Hole]:
    args = st.StorageVolTransferArgs(vol, offset, length, int(sparse))
    _, stream = await client.open_stream(REMOTE, 1, 209, args.xdr.encode(args), sparse=sparse)
    while True:
        chunk = await stream.receive()
        if not isinstance(chunk, Hole) and not chunk:
            break
        yield chunk
    await stream.finish()


async def download(client: Client, vol: st.NonnullStorageVol, **kw: Any) -> bytes:
    parts = []
    async for chunk in download_iter(client, vol, **kw):
        parts.append(b"\0" * chunk.length if isinstance(chunk, Hole) else chunk)
    return b"".join(parts)


def assert_error(info: pytest.ExceptionInfo[RPCError], code: int, domain: int, message: str
                 ) -> None:
    err = info.value
    assert (err.code, err.domain, err.message) == (code, domain, message)


# ------------------------------------------------------------------------------ procedures


async def test_volume_lifecycle_and_queries() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        listing = await r.call(282, st.StoragePoolListAllVolumesArgs(POOL, 1, 0),
                               st.StoragePoolListAllVolumesRet)
        assert (listing.vols, listing.ret) == ([], 0)
        vol = await create(r, "v1", 10 * MiB)
        assert (vol.pool, vol.name, vol.key) == ("default-pool", "v1", "/default-pool/v1")
        listing = await r.call(282, st.StoragePoolListAllVolumesArgs(POOL, 1, 0),
                               st.StoragePoolListAllVolumesRet)
        assert listing.vols == [vol] and listing.ret == 1
        count = await r.call(282, st.StoragePoolListAllVolumesArgs(POOL, 0, 0),
                             st.StoragePoolListAllVolumesRet)
        assert (count.vols, count.ret) == ([], 1)
        assert (await r.call(91, rt.StoragePoolArgs(POOL), rt.IntRet)).value == 1
        names = await r.call(92, st.StoragePoolListVolumesArgs(POOL, 10),
                             st.StoragePoolListVolumesRet)
        assert names.names == ["v1"]
        # the exact reply bytes libvirtd's test driver sends for vol-info of a 10 MiB volume
        raw = await r.call(98, st.StorageVolArgs(vol))
        assert raw.hex() == "000000000000000000a000000000000000a00000"
        assert (await r.call(100, st.StorageVolArgs(vol), rt.StringRet)).value == vol.key
        xml = (await r.call(99, st.StorageVolFlagsArgs(vol, 0), rt.StringRet)).value
        assert "<capacity unit='bytes'>10485760</capacity>" in xml
        for proc, arg in ((96, vol.key), (97, vol.key)):
            assert (await r.call(proc, st.StringArgs(arg), st.StorageVolRet)).vol == vol
        found = await r.call(95, st.StorageVolLookupByNameArgs(POOL, "v1"), st.StorageVolRet)
        assert found.vol == vol
        pool = await r.call(86, st.StorageVolArgs(vol), rt.StoragePoolRet)
        assert pool.pool == POOL
        v2 = await create(r, "v2", 5 * MiB, 0)
        info = await r.call(98, st.StorageVolArgs(v2), st.StorageVolGetInfoRet)
        assert (info.type, info.capacity, info.allocation) == (0, 5 * MiB, 0)
        await r.call(94, st.StorageVolFlagsArgs(v2, 0))
        names = await r.call(92, st.StoragePoolListVolumesArgs(POOL, 10),
                             st.StoragePoolListVolumesRet)
        assert names.names == ["v1"]


async def test_errors_match_the_test_driver() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        vol = await create(r, "v1", MiB)
        with pytest.raises(RPCError) as info:
            await create(r, "v1", MiB)
        assert_error(info, 9, 12, "operation failed: storage vol already exists")
        for proc, args, what in (
            (95, st.StorageVolLookupByNameArgs(POOL, "nope"), "name"),
            (96, st.StringArgs("nope"), "key"),
            (97, st.StringArgs("nope"), "path"),
        ):
            with pytest.raises(RPCError) as info:
                await r.call(proc, args)
            assert_error(info, 50, 12,
                         f"Storage volume not found: no storage vol with matching {what} 'nope'")
            assert info.value.str1 == "Storage volume not found: %s"
        with pytest.raises(RPCError) as info:
            await r.call(94, st.StorageVolFlagsArgs(vol, 2))
        assert_error(info, 8, 12, "unsupported flags (0x2) in function testStorageVolDelete")
        assert (info.value.str1, info.value.str2, info.value.int1) == (
            "testStorageVolDelete", "flags", 0)
        for proc, args, api in (
            (378, st.StorageVolFlagsArgs(vol, 1), "virStorageVolGetInfoFlags"),
            (260, P.StorageVolResizeArgs(P.NonnullStorageVol(vol.pool, vol.name, vol.key),
                                         2 * MiB, 0), "virStorageVolResize"),
        ):
            with pytest.raises(RPCError) as info:
                await r.call(proc, args)
            assert_error(info, 3, 18,
                         f"this function is not supported by the connection driver: {api}")
        with pytest.raises(RPCError) as info:
            await r.call(259, st.StorageVolWipePatternArgs(vol, 42, 0))
        assert_error(info, 8, 18, "invalid argument: wiping algorithm 42 not supported")


async def test_readonly_and_unopened_connections_are_refused() -> None:
    async with running_daemon() as daemon:
        async with connect(daemon) as r:
            vol = await create(r, "v1", MiB)
        async with connect(daemon, via="ro") as ro:
            assert (await ro.call(100, st.StorageVolArgs(vol), rt.StringRet)).value
            for proc, args, api in (
                (93, st.StorageVolCreateXmlArgs(POOL, vol_xml("x", 1), 0),
                 "virStorageVolCreateXML"),
                (94, st.StorageVolFlagsArgs(vol, 0), "virStorageVolDelete"),
                (208, st.StorageVolTransferArgs(vol, 0, 0, 0), "virStorageVolUpload"),
                (209, st.StorageVolTransferArgs(vol, 0, 0, 0), "virStorageVolDownload"),
            ):
                with pytest.raises(RPCError) as info:
                    await ro.call(proc, args)
                assert (info.value.code, info.value.domain) == (29, 18)
                assert info.value.message == (
                    f"operation forbidden: read only access prevents {api}")
        async with connect(daemon, open=False) as raw:
            with pytest.raises(RPCError) as info:  # a secondary driver: no "hypervisor"
                await raw.call(100, st.StorageVolArgs(vol))
            assert info.value.message == "internal error: connection not open"


async def test_wipe_zeroes_the_volume() -> None:
    async with running_daemon() as daemon, connect(daemon, via="unix") as r:
        vol = await create(r, "v1", 3 * MiB)
        await upload(r.client, vol, [os.urandom(3 * MiB)])
        await r.call(165, st.StorageVolFlagsArgs(vol, 0))
        assert await download(r.client, vol) == bytes(3 * MiB)
        assert all(not is_data for _, _, is_data in regions(backing(daemon, vol)))
        with pytest.raises(RPCError, match="'trim' algorithm not supported"):
            await r.call(259, st.StorageVolWipePatternArgs(vol, 9, 0))


# ------------------------------------------------------------------------------ streams


@pytest.mark.parametrize(
    "size", [1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 4 * CHUNK_SIZE + 17]
)
async def test_round_trip_around_the_chunk_size(size: int) -> None:
    data = os.urandom(size)
    async with running_daemon() as daemon, connect(daemon, via="unix") as r:
        vol = await create(r, "v", size)
        with anyio.fail_after(20):
            await upload(r.client, vol, [data])
            assert await download(r.client, vol) == data
            chunks = [c async for c in download_iter(r.client, vol)]
            assert all(isinstance(c, bytes) and len(c) <= CHUNK_SIZE for c in chunks)
        assert await anyio.Path(backing(daemon, vol)).read_bytes() == data


async def test_offset_and_length() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        vol = await create(r, "v", 4 * MiB)
        base = os.urandom(4 * MiB)
        patch = os.urandom(MiB + 3)
        await upload(r.client, vol, [base])
        await upload(r.client, vol, [patch], offset=MiB - 1, length=len(patch))
        expected = base[: MiB - 1] + patch + base[2 * MiB + 2:]
        assert await download(r.client, vol) == expected
        assert await download(r.client, vol, offset=12345, length=CHUNK_SIZE * 2 + 1) == \
            expected[12345:12345 + CHUNK_SIZE * 2 + 1]
        assert await download(r.client, vol, offset=3 * MiB) == expected[3 * MiB:]
        assert await download(r.client, vol, offset=8 * MiB) == b""
        # more data than the announced length: the server aborts with ENOSPC
        with pytest.raises(StreamAbortedError) as info:
            await upload(r.client, vol, [b"x" * 100], offset=0, length=10)
        assert info.value.error is not None
        assert info.value.error.message == "Unable to write stream: No space left on device"
        assert (info.value.error.code, info.value.error.domain) == (38, 38)


async def test_big_sparse_volume_keeps_its_holes() -> None:
    """512 MiB volume with a few MiB of data: sparse upload and download, holes intact."""
    size = 512 * MiB
    pieces = {0: os.urandom(MiB), 100 * MiB + 4096: os.urandom(2 * MiB),
              511 * MiB: os.urandom(MiB // 2)}
    parts: list[bytes | Hole] = []
    pos = 0
    for off in sorted(pieces):
        if off > pos:
            parts.append(Hole(off - pos))
        parts.append(pieces[off])
        pos = off + len(pieces[off])
    parts.append(Hole(size - pos))
    async with running_daemon() as daemon, connect(daemon, via="unix") as r:
        vol = await create(r, "sparse", size)
        path = backing(daemon, vol)
        with VolumeData(path, write=True) as old:  # old content the holes must erase
            old.write_at(300 * MiB, b"stale" * 1000)
        with anyio.fail_after(30):
            await upload(r.client, vol, parts, sparse=True)
            layout = regions(path)
            data_bytes = sum(n for _, n, is_data in layout if is_data)
            assert data_bytes < 8 * MiB
            assert os.stat(path).st_blocks * 512 < 8 * MiB
            received: list[tuple[int, int, bool]] = []
            digest = hashlib.sha256()
            pos = 0
            async for chunk in download_iter(r.client, vol, sparse=True):
                if isinstance(chunk, Hole):
                    received.append((pos, chunk.length, False))
                    digest.update(bytes(chunk.length))
                    pos += chunk.length
                else:
                    received.append((pos, len(chunk), True))
                    digest.update(chunk)
                    pos += len(chunk)
            assert pos == size
        merged: list[tuple[int, int, bool]] = []
        for off, n, is_data in received:
            if merged and merged[-1][2] == is_data and merged[-1][0] + merged[-1][1] == off:
                merged[-1] = (merged[-1][0], merged[-1][1] + n, is_data)
            else:
                merged.append((off, n, is_data))
        assert merged == layout
        expected = hashlib.sha256()
        pos = 0
        for off in sorted(pieces):
            expected.update(bytes(off - pos))
            expected.update(pieces[off])
            pos = off + len(pieces[off])
        expected.update(bytes(size - pos))
        assert digest.digest() == expected.digest()


async def test_large_plain_round_trip() -> None:
    """A 192 MiB volume streamed up and down without sparse support, hashed on the fly."""
    size = 192 * MiB
    block = os.urandom(CHUNK_SIZE * 4)
    async with running_daemon() as daemon, connect(daemon, via="unix") as r:
        vol = await create(r, "big", size)
        args = st.StorageVolTransferArgs(vol, 0, 0, 0)
        sent = hashlib.sha256()
        with anyio.fail_after(60):
            _, stream = await r.client.open_stream(REMOTE, 1, 208, args.xdr.encode(args))
            for pos in range(0, size, len(block)):
                piece = block[: min(len(block), size - pos)]
                sent.update(piece)
                await stream.send(piece)
            await stream.finish()
            got = hashlib.sha256()
            total = 0
            async for chunk in download_iter(r.client, vol):
                assert isinstance(chunk, bytes)
                got.update(chunk)
                total += len(chunk)
        assert total == size and got.digest() == sent.digest()


async def test_hole_on_a_plain_upload_is_refused() -> None:
    async with running_daemon() as daemon, connect(daemon, via="unix") as r:
        vol = await create(r, "v", MiB)
        args = st.StorageVolTransferArgs(vol, 0, 0, 0)
        _, stream = await r.client.open_stream(REMOTE, 1, 208, args.xdr.encode(args))
        stream.sparse = True  # lie, to send a hole anyway
        await stream.send_hole(4096)
        with anyio.fail_after(5), pytest.raises(StreamAbortedError,
                                                match="Unexpected stream hole"):
            await stream.finish()
        with pytest.raises(RPCError) as info:
            await r.call(208, st.StorageVolTransferArgs(vol, 0, 0, 2))
        assert info.value.message == "unsupported flags (0x2) in function storageVolUpload"


async def test_aborts_both_ways() -> None:
    async with running_daemon() as daemon, connect(daemon, via="unix") as r:
        vol = await create(r, "v", 8 * MiB)
        data = os.urandom(8 * MiB)
        await upload(r.client, vol, [data])
        # client aborts an upload half way: what arrived is written, the rest is untouched
        args = st.StorageVolTransferArgs(vol, 0, 0, 0)
        _, up = await r.client.open_stream(REMOTE, 1, 208, args.xdr.encode(args))
        await up.send(b"\1" * CHUNK_SIZE)
        with anyio.fail_after(5):
            await up.abort()
            while st.StorageProcedures.active_transfers:
                await anyio.sleep(0.01)
        got = await download(r.client, vol)
        assert got[:CHUNK_SIZE] == b"\1" * CHUNK_SIZE and got[CHUNK_SIZE:] == data[CHUNK_SIZE:]
        # client aborts a download
        _, down = await r.client.open_stream(REMOTE, 1, 209, args.xdr.encode(args))
        assert await down.receive()
        with anyio.fail_after(5):
            await down.abort()
            while st.StorageProcedures.active_transfers:
                await anyio.sleep(0.01)
        # the volume goes away under the server: it aborts with an error on the next read
        # (there is none: the open file keeps working, as with a real deleted file)
        await r.call(94, st.StorageVolFlagsArgs(vol, 0))
        with pytest.raises(RPCError, match="Storage volume not found"):
            await r.call(209, args)
        # the connection is still fine
        v2 = await create(r, "v2", 10)
        await upload(r.client, v2, [b"0123456789"])
        assert await download(r.client, v2) == b"0123456789"


async def test_stalled_reader_keeps_server_memory_bounded() -> None:
    size = 256 * MiB
    async with running_daemon() as daemon, connect(daemon, via="unix") as r:
        vol = await create(r, "v", size)  # all hole: reads are cheap zeros
        args = st.StorageVolTransferArgs(vol, 0, 0, 0)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _, stream = await r.client.open_stream(REMOTE, 1, 209, args.xdr.encode(args))
        assert await stream.receive()
        await anyio.sleep(1.0)
        [peer] = daemon.server.clients.values()
        [server_stream] = peer.streams.values()
        # socket buffers plus the client's small queue: far from the 256 MiB volume
        assert server_stream.bytes_sent < 32 * MiB
        assert not peer.conn.has_output or peer.conn.nrequests <= 5
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert (rss_after - rss_before) * 1024 < 64 * MiB
        assert st.StorageProcedures.active_transfers == 1
        with anyio.fail_after(5):
            await stream.abort()
            while st.StorageProcedures.active_transfers:
                await anyio.sleep(0.01)


async def test_many_concurrent_transfers_on_one_connection() -> None:
    async with running_daemon() as daemon, connect(daemon, via="unix") as r:
        vols = [await create(r, f"v{i}", 3 * CHUNK_SIZE + i) for i in range(4)]
        payloads = [os.urandom(3 * CHUNK_SIZE + i) for i in range(4)]
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for vol, data in zip(vols, payloads, strict=True):
                    tg.start_soon(upload, r.client, vol, [data])
            results: dict[int, bytes] = {}

            async def fetch(i: int) -> None:
                results[i] = await download(r.client, vols[i])

            async with anyio.create_task_group() as tg:
                for i in range(4):
                    tg.start_soon(fetch, i)
        assert [results[i] for i in range(4)] == payloads
