"""Streams in both directions, holes, aborts, back-pressure; FD passing."""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from typing import Annotated

import anyio
import pytest

from netrpc import Call, Client, Program, Reply, RPCError, Server, Service, procedure
from netrpc.core import xdr
from netrpc.core.stream import CHUNK_SIZE, STREAM_WINDOW, Hole, StreamAbortedError
from netrpc.io.server.stream import ServerStream

pytestmark = pytest.mark.anyio

PROG = 0x20240002


@xdr.struct
class Spec:
    size: xdr.UHyper
    seed: xdr.UInt
    sparse: xdr.Bool


@xdr.struct
class Digest:
    sha256: Annotated[bytes, xdr.FixedOpaque(32)]
    holes: xdr.UHyper


def pattern(size: int, seed: int) -> bytes:
    block = hashlib.sha256(struct.pack(">I", seed)).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


class StreamProgram(Program):
    number, version = PROG, 1

    def __init__(self) -> None:
        self.uploads: dict[int, Digest] = {}
        self.received_upload = anyio.Event()
        self.aborted = anyio.Event()
        self.sent_chunks = 0

    @procedure(1, args=Spec, inline=True)
    def download(self, call: Call, args: Spec) -> None:
        stream = call.open_stream(sparse=args.sparse)
        call.client.spawn(self._download, stream, args)

    async def _download(self, stream: ServerStream, args: Spec) -> None:
        data = pattern(args.size, args.seed)
        if args.sparse:
            # data, hole, data layout: [0, n/3) data, [n/3, 2n/3) hole, rest data
            third = args.size // 3
            await stream.send(data[:third])
            await stream.send_hole(third)
            await stream.send(data[2 * third :])
        else:
            for start in range(0, len(data), CHUNK_SIZE):
                await stream.send(data[start : start + CHUNK_SIZE])
                self.sent_chunks += 1
        await stream.finish()

    @procedure(2, args=Spec, inline=True)
    def upload(self, call: Call, args: Spec) -> None:
        stream = call.open_stream(sparse=args.sparse)
        call.client.spawn(self._upload, stream, call.header.serial)

    async def _upload(self, stream: ServerStream, key: int) -> None:
        digest = hashlib.sha256()
        holes = 0
        try:
            while True:
                chunk = await stream.receive()
                if isinstance(chunk, Hole):
                    holes += chunk.length
                    digest.update(b"\0" * chunk.length)
                elif not chunk:
                    break
                else:
                    digest.update(chunk)
        except StreamAbortedError:
            self.aborted.set()
            return
        # Recorded before the confirmation goes out: the client may look as soon as it has it.
        self.uploads[key] = Digest(digest.digest(), holes)
        await stream.finish()
        self.received_upload.set()

    @procedure(3, args=Spec, inline=True)
    def failing_download(self, call: Call, args: Spec) -> None:
        stream = call.open_stream()
        call.client.spawn(self._fail, stream)

    async def _fail(self, stream: ServerStream) -> None:
        await stream.send(b"partial")
        await stream.abort(RPCError(1, 18, "internal error: disk on fire"))

    @procedure(10, args=xdr.UInt, ret=xdr.UInt, inline=True)
    def count_fds(self, call: Call, args: int) -> int:
        return len(call.fds)

    @procedure(11, ret=xdr.UInt, inline=True)
    def pipe_pair(self, call: Call, args: None) -> Reply:
        read_end, write_end = os.pipe()
        os.write(write_end, b"from server")
        os.close(write_end)
        return Reply(1, fds=(read_end,))

    @procedure(12, ret=xdr.UInt, inline=True)
    def keep_fd(self, call: Call, args: None) -> int:
        [fd] = call.take_fds()
        data = os.read(fd, 100)
        os.close(fd)
        return len(data)


async def _serve(tg: anyio.abc.TaskGroup, tmp: str) -> tuple[Server, StreamProgram, str, int]:
    program = StreamProgram()
    server = Server("streams", programs=[program])
    path = os.path.join(tmp, "s")
    server.add_service(Service.unix(path))
    tcp = server.add_service(Service.tcp("127.0.0.1", 0))
    await tg.start(server.serve)
    return server, program, path, tcp.ports[0]


async def _download(client: Client, spec: Spec) -> tuple[bytes, int]:
    _, stream = await client.open_stream(PROG, 1, 1, Spec.xdr.encode(spec), sparse=spec.sparse)
    parts: list[bytes] = []
    holes = 0
    while True:
        chunk = await stream.receive()
        if isinstance(chunk, Hole):
            holes += chunk.length
            parts.append(b"\0" * chunk.length)
        elif not chunk:
            break
        else:
            parts.append(chunk)
    await stream.finish()
    return b"".join(parts), holes


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17]
)
async def test_round_trips_around_chunk_boundaries(size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with anyio.create_task_group() as tg:
            server, program, path, _ = await _serve(tg, tmp)
            async with Client.unix(path) as client:
                with anyio.fail_after(20):
                    data, _ = await _download(client, Spec(size, 7, False))
                    assert data == pattern(size, 7)
                    reply, stream = await client.open_stream(
                        PROG, 1, 2, Spec.xdr.encode(Spec(size, 0, False))
                    )
                    await stream.send(pattern(size, 9))
                    await stream.finish()
                    digest = program.uploads[stream.header.serial]
                    assert digest.sha256 == hashlib.sha256(pattern(size, 9)).digest()
            server.shutdown()


async def test_large_stream_over_tcp() -> None:
    size = 64 * 1024 * 1024 + 5
    with tempfile.TemporaryDirectory() as tmp:
        async with anyio.create_task_group() as tg:
            server, program, _, port = await _serve(tg, tmp)
            async with Client.tcp("127.0.0.1", port) as client:
                with anyio.fail_after(60):
                    data, _ = await _download(client, Spec(size, 3, False))
                    assert (
                        hashlib.sha256(data).digest() == hashlib.sha256(pattern(size, 3)).digest()
                    )
            server.shutdown()


async def test_sparse_round_trip_preserves_holes() -> None:
    size = 3 * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        async with anyio.create_task_group() as tg:
            server, program, path, _ = await _serve(tg, tmp)
            async with Client.unix(path) as client:
                with anyio.fail_after(20):
                    data, holes = await _download(client, Spec(size, 1, True))
                    assert holes == size // 3
                    expected = pattern(size, 1)
                    third = size // 3
                    assert data == expected[:third] + b"\0" * third + expected[2 * third :]
                    _, stream = await client.open_stream(
                        PROG, 1, 2, Spec.xdr.encode(Spec(0, 0, True)), sparse=True
                    )
                    await stream.send(b"abc")
                    await stream.send_hole(1000)
                    await stream.send(b"xyz")
                    await stream.finish()
                    digest = program.uploads[stream.header.serial]
                    assert digest.holes == 1000
                    assert digest.sha256 == hashlib.sha256(b"abc" + b"\0" * 1000 + b"xyz").digest()
            server.shutdown()


async def test_hole_on_a_non_sparse_stream_is_refused() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with anyio.create_task_group() as tg:
            server, program, path, _ = await _serve(tg, tmp)
            async with Client.unix(path) as client:
                _, stream = await client.open_stream(
                    PROG, 1, 2, Spec.xdr.encode(Spec(0, 0, False)), sparse=False
                )
                stream.sparse = True  # lie, to send a hole anyway
                await stream.send_hole(10)
                with (
                    anyio.fail_after(5),
                    pytest.raises(StreamAbortedError, match="Unexpected stream hole"),
                ):
                    await stream.finish()
            server.shutdown()


async def test_client_abort_and_server_abort() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with anyio.create_task_group() as tg:
            server, program, path, _ = await _serve(tg, tmp)
            async with Client.unix(path) as client:
                with anyio.fail_after(10):
                    _, stream = await client.open_stream(
                        PROG, 1, 2, Spec.xdr.encode(Spec(0, 0, False))
                    )
                    await stream.send(b"some data")
                    await stream.abort()
                    await program.aborted.wait()
                    _, down = await client.open_stream(
                        PROG, 1, 3, Spec.xdr.encode(Spec(0, 0, False))
                    )
                    assert await down.receive() == b"partial"
                    with pytest.raises(StreamAbortedError, match="disk on fire") as info:
                        await down.receive()
                    assert info.value.error is not None and info.value.error.domain == 18
                    # the connection is still fine for other work
                    data, _ = await _download(client, Spec(10, 1, False))
                    assert data == pattern(10, 1)
            server.shutdown()


async def test_slow_reader_bounds_server_memory() -> None:
    size = 200 * CHUNK_SIZE
    with tempfile.TemporaryDirectory() as tmp:
        async with anyio.create_task_group() as tg:
            server, program, path, _ = await _serve(tg, tmp)
            async with Client.unix(path) as client:
                _, stream = await client.open_stream(
                    PROG, 1, 1, Spec.xdr.encode(Spec(size, 2, False))
                )
                assert await stream.receive()
                await anyio.sleep(0.5)
                # the server only got as far as the socket buffers and our small queue allow
                assert program.sent_chunks < 40
                [peer] = server.clients.values()
                assert peer.conn.pending_output <= STREAM_WINDOW + CHUNK_SIZE
                await stream.abort()
            server.shutdown()


async def test_client_disconnect_mid_stream_leaves_server_healthy() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with anyio.create_task_group() as tg:
            server, program, path, _ = await _serve(tg, tmp)
            async with Client.unix(path) as client:
                _, stream = await client.open_stream(
                    PROG, 1, 1, Spec.xdr.encode(Spec(100 * CHUNK_SIZE, 2, False))
                )
                await stream.receive()
            with anyio.fail_after(5):
                while server.nclients:
                    await anyio.sleep(0.01)
            async with Client.unix(path) as client:
                data, _ = await _download(client, Spec(1000, 4, False))
                assert data == pattern(1000, 4)
            server.shutdown()


async def test_fd_passing_both_ways_and_limits() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with anyio.create_task_group() as tg:
            server, program, path, port = await _serve(tg, tmp)
            async with Client.unix(path) as client:
                pipes = [os.pipe() for _ in range(3)]
                try:
                    payload = await client.call(
                        PROG, 1, 10, xdr.UINT.encode(0), fds=[r for r, _ in pipes]
                    )
                    assert xdr.UINT.decode(payload) == 3
                    r, w = os.pipe()
                    os.write(w, b"hello")
                    os.close(w)
                    payload = await client.call(PROG, 1, 12, fds=[r])
                    assert xdr.UINT.decode(payload) == 5
                    os.close(r)
                    header, payload, fds = await client.call_with_fds(PROG, 1, 11)
                    assert header.type == 5  # REPLY_WITH_FDS
                    assert os.read(fds[0], 100) == b"from server"
                    os.close(fds[0])
                    with pytest.raises(Exception, match="Too many FDs"):
                        await client.call(PROG, 1, 10, xdr.UINT.encode(0), fds=[pipes[0][0]] * 33)
                finally:
                    for a, b in pipes:
                        os.close(a)
                        os.close(b)
            async with Client.tcp("127.0.0.1", port) as client:
                with pytest.raises(Exception, match="unix sockets"):
                    await client.call(PROG, 1, 10, xdr.UINT.encode(0), fds=[0])
                with pytest.raises(
                    RPCError, match="file descriptors can only be sent on unix sockets"
                ):
                    await client.call_with_fds(PROG, 1, 11)
            server.shutdown()


async def test_received_fds_are_closed_when_the_handler_does_not_take_them() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with anyio.create_task_group() as tg:
            server, program, path, _ = await _serve(tg, tmp)
            async with Client.unix(path) as client:
                r, w = os.pipe()
                before = len(os.listdir("/proc/self/fd"))
                for _ in range(20):
                    await client.call(PROG, 1, 10, xdr.UINT.encode(0), fds=[r])
                assert len(os.listdir("/proc/self/fd")) <= before + 1
                os.close(r)
                os.close(w)
            server.shutdown()
