"""A small program and helpers shared by the I/O tests."""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio

from netrpc import Call, Program, RPCError, Server, Service, procedure
from netrpc.core import xdr

PROGRAM = 0x20240001


@xdr.struct
class Text:
    text: Annotated[str, xdr.String(1024)]


@xdr.struct
class Delay:
    seconds: xdr.Double
    tag: xdr.Int


@xdr.struct
class Number:
    value: xdr.Int


class SampleProgram(Program):
    """Procedures exercising every execution mode."""

    number, version = PROGRAM, 1

    def __init__(self) -> None:
        self.release = threading.Event()
        #: called with the connection of each echo call
        self.on_echo: Any = None
        self.started = 0
        self.max_parallel = 0
        self._running = 0

    @procedure(1, args=Text, ret=Text, readonly=True, inline=True)
    def echo(self, call: Call, args: Text) -> Text:
        if self.on_echo is not None:
            self.on_echo(call.client)
        return Text(args.text)

    @procedure(2, args=Delay, ret=Number, readonly=True)
    async def sleep(self, call: Call, args: Delay) -> Number:
        self.started += 1
        self._running += 1
        self.max_parallel = max(self.max_parallel, self._running)
        try:
            await anyio.sleep(args.seconds)
        finally:
            self._running -= 1
        return Number(args.tag)

    @procedure(3, args=Delay, ret=Number)
    def blocking(self, call: Call, args: Delay) -> Number:
        time.sleep(args.seconds)
        return Number(args.tag)

    @procedure(4, readonly=True)
    async def fail(self, call: Call, args: None) -> None:
        raise ZeroDivisionError("secret detail")

    @procedure(5, readonly=True)
    def fail_rpc(self, call: Call, args: None) -> None:
        raise RPCError(42, 12, "Domain not found", str1="Domain not found")

    @procedure(6, args=Number, readonly=True, inline=True)
    def broadcast(self, call: Call, args: Number) -> None:
        call.server.broadcast_event(PROGRAM, 1, 100, struct.pack(">i", args.value))

    @procedure(7, readonly=True, inline=True)
    def bye(self, call: Call, args: None) -> None:
        call.client.close_after_reply()

    @procedure(8, readonly=True, inline=True)
    def keepalive(self, call: Call, args: None) -> None:
        call.client.start_keepalive()

    @procedure(9, ret=Number, readonly=True)
    def wait_release(self, call: Call, args: None) -> Number:
        self.started += 1
        self.release.wait(10)
        return Number(1)

    @procedure(10, ret=Text, readonly=True, inline=True)
    def bad_return(self, call: Call, args: None) -> Any:
        return 12345


@contextlib.asynccontextmanager
async def running_server(
    *, unix: bool = True, tcp: bool = True, **options: Any
) -> AsyncIterator[tuple[Server, SampleProgram, dict[str, Any]]]:
    """Serve SampleProgram on a temporary unix socket and/or a loopback TCP port."""
    program = SampleProgram()
    server = Server("test", programs=[program], **options)
    with tempfile.TemporaryDirectory() as tmp:
        where: dict[str, Any] = {}
        if unix:
            where["unix"] = os.path.join(tmp, "sock")
            server.add_service(Service.unix(where["unix"]))
        if tcp:
            service = server.add_service(Service.tcp("127.0.0.1", 0))
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            if tcp:
                where["tcp"] = ("127.0.0.1", service.ports[0])
            try:
                yield server, program, where
            finally:
                program.release.set()
                server.shutdown(timeout=2)
