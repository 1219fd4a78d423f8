"""What connections cost the server in memory: a few KiB each when idle, never what a peer
announces, and buffers that shrink back after a large record.

Measured with tracemalloc in the test process (server and clients; a client here is a bare
socket), once every connection is parked (idle without a task of its own).  The bound per
idle connection is 1.5 times what libvirtd 9.0 costs (3.3 KiB of RSS per idle libvirt
client in bench/resources.py, the lowest of its runs).
"""

from __future__ import annotations

import gc
import socket
import struct
import tracemalloc
from collections.abc import Iterator

import anyio
import pytest

from netrpc import Client, Server

from .helpers import PROGRAM, SampleProgram, Text, running_server

pytestmark = pytest.mark.anyio

LIBVIRTD_IDLE_KIB = 3.3
IDLE_BOUND = 1.5 * LIBVIRTD_IDLE_KIB * 1024


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def traced_now() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def wait_clients(server: Server, count: int) -> None:
    with anyio.fail_after(20):
        while server.nclients != count or server.nclients_parked != count:
            await anyio.sleep(0.02)


async def connect_many(
    path: str, count: int, first: bytes, server: Server
) -> tuple[int, list[socket.socket]]:
    """Open *count* connections that each send *first*; return the memory they cost."""
    socks = [socket.socket(socket.AF_UNIX) for _ in range(count)]
    before = traced_now()
    for sock in socks:
        sock.connect(path)
        if first:
            sock.sendall(first)
    await wait_clients(server, count)
    return traced_now() - before, socks


@pytest.mark.usefixtures("traced")
@pytest.mark.parametrize("first", [b"", b"\0\0"], ids=["silent", "half-length-word"])
async def test_an_idle_connection_costs_a_few_kib(first: bytes) -> None:
    async with running_server(tcp=False) as (server, _, where):
        # Warm up (first connection, first call: code paths, caches).
        async with Client.unix(where["unix"]) as client:
            await client.stub(SampleProgram).echo(Text("warm"))
        await wait_clients(server, 0)
        cost, socks = await connect_many(where["unix"], 200, first, server)
        try:
            assert cost / 200 <= IDLE_BOUND, f"{cost / 200:.0f} bytes per idle connection"
        finally:
            for sock in socks:
                sock.close()


@pytest.mark.usefixtures("traced")
async def test_an_idle_connection_with_keepalive_costs_a_few_kib() -> None:
    # libvirt clients turn keepalive on: one timer task serves all connections.
    call = struct.pack(">IIIiiIi", 28, PROGRAM, 1, 8, 0, 1, 0)
    async with running_server(tcp=False) as (server, _, where):
        async with Client.unix(where["unix"]) as client:
            await client.stub(SampleProgram).keepalive()
        await wait_clients(server, 0)
        cost, socks = await connect_many(where["unix"], 200, call, server)
        try:
            for sock in socks:
                assert len(sock.recv(100)) == 28  # the reply: keepalive is on
            assert cost / 200 <= IDLE_BOUND, f"{cost / 200:.0f} bytes per idle connection"
        finally:
            for sock in socks:
                sock.close()


@pytest.mark.usefixtures("traced")
async def test_an_announced_length_allocates_nothing() -> None:
    # 40 connections each announce a 32 MiB record, send its header and 1000 bytes, and
    # stop: the server holds what arrived, not what was announced.
    header = struct.pack(">IIiiIi", PROGRAM, 1, 1, 0, 1, 0)
    first = struct.pack(">I", 32 * 1024 * 1024 + 4) + header + b"x" * 1000
    async with running_server(tcp=False) as (server, _, where):
        cost, socks = await connect_many(where["unix"], 40, first, server)
        try:
            assert cost / 40 <= IDLE_BOUND + 2048, f"{cost / 40:.0f} bytes per connection"
            for client in server.clients.values():
                assert client.conn.receive_footprint == len(first)
        finally:
            for sock in socks:
                sock.close()


@pytest.mark.usefixtures("traced")
async def test_receive_memory_shrinks_back_after_a_large_record() -> None:
    async with running_server(tcp=False) as (server, _, where):
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)
            await stub.echo(Text("warm"))
            [conn] = [c.conn for c in server.clients.values()]
            before = traced_now()
            # A 4 MiB record (an echo of "" followed by zeros the procedure ignores): once
            # it is answered, nothing of it is left in the server's memory.
            await client.call(PROGRAM, 1, 1, b"\0" * (4 * 1024 * 1024))
            assert await stub.echo(Text("after")) == Text("after")
            assert conn.receive_footprint == 0
            assert traced_now() - before < 64 * 1024
