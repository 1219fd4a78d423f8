"""In-process testvirtd for the unit tests, and a small typed REMOTE client."""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import anyio

from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.daemon import Listen, TestVirtd
from daemons.testvirtd.hypervisor import Hypervisor
from netrpc import Client

REMOTE = rt.REMOTE_PROGRAM
QEMU = rt.QEMU_PROGRAM
TEST_UUID = bytes.fromhex("6695eb01f6a4830479aa97f2502e193f")
HEADER = struct.Struct(">IIIiiIi")


@contextlib.asynccontextmanager
async def running_daemon(
    state_file: str | None = None, *, keep_state: bool = True, **server_options: Any
) -> AsyncIterator[TestVirtd]:
    """A testvirtd serving TCP (any port), a unix socket and a read-only unix socket.

    Its test:///default state survives the last connection (``keep_state``) unless a test
    checks libvirtd's discarding."""
    with tempfile.TemporaryDirectory(prefix="tvd-") as tmp:
        hv = Hypervisor(hostname="testhost")
        listens = [
            Listen("tcp", host="127.0.0.1", port=0),
            Listen("unix", path=os.path.join(tmp, "sock")),
            Listen("unix-ro", path=os.path.join(tmp, "sock-ro")),
        ]
        daemon = TestVirtd(hv, listens, state_file=state_file, keep_state=keep_state,
                           **server_options)
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(daemon.server.serve)
                yield daemon
                daemon.server.shutdown(1.0)
        finally:
            daemon.remote.close()
            daemon.qemu.close()
            hv.close()


def tcp_port(daemon: TestVirtd) -> int:
    return daemon.tcp_ports[0]


def unix_path(daemon: TestVirtd, readonly: bool = False) -> str:
    kind = "unix-ro" if readonly else "unix"
    return next(listen.path for listen in daemon.listens if listen.kind == kind)


class Remote:
    """Typed REMOTE calls over a :class:`netrpc.Client`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def call(self, proc: int, args: Any = None, ret: Any = None, *,
                   program: int = REMOTE) -> Any:
        payload = b"" if args is None else type(args).xdr.encode(args)
        reply = await self.client.call(program, 1, proc, payload)
        if ret is None:
            return reply
        return ret.xdr.decode(reply)

    async def open(self, name: str | None = "test:///default", flags: int = 0) -> None:
        await self.call(1, rt.ConnectOpenArgs(name, flags))

    async def handshake(self) -> None:
        await self.call(66)
        await self.call(60, rt.SupportsFeatureArgs(10))
        await self.open()

    async def lookup(self, name: str = "test") -> rt.NonnullDomain:
        return (await self.call(23, rt.NameArgs(name), rt.DomainRet)).dom  # type: ignore[no-any-return]

    async def state(self, dom: rt.NonnullDomain) -> tuple[int, int]:
        ret = await self.call(212, rt.DomainFlagsArgs(dom, 0), rt.DomainGetStateRet)
        return ret.state, ret.reason


@contextlib.asynccontextmanager
async def connect(daemon: TestVirtd, *, via: str = "tcp", open: bool = True
                  ) -> AsyncIterator[Remote]:
    """A client connected over *via* ("tcp", "unix" or "ro"), handshaken when *open*."""
    if via == "tcp":
        cm = Client.tcp("127.0.0.1", tcp_port(daemon))
    else:
        cm = Client.unix(unix_path(daemon, readonly=via == "ro"))
    async with cm as client:
        remote = Remote(client)
        if open:
            await remote.handshake()
        yield remote


def packet(program: int, proc: int, payload: bytes = b"", *, serial: int = 0,
           type: int = 0, status: int = 0, version: int = 1) -> bytes:
    """A raw framed message."""
    return HEADER.pack(28 + len(payload), program, version, proc, type, serial, status) + payload


async def read_packet(stream: Any) -> tuple[tuple[int, ...], bytes]:
    """Read one framed message from a raw anyio stream: (header fields, payload)."""
    buf = b""
    while len(buf) < 4:
        buf += await stream.receive()
    (length,) = struct.unpack(">I", buf[:4])
    while len(buf) < length:
        buf += await stream.receive()
    assert len(buf) == length, "test reads one message at a time"
    return HEADER.unpack(buf[:28]), buf[28:]
