"""A netrpc client for vmmd (or any daemon speaking albatross's client wire, version 0).

::

    async with VmmClient.unix("/run/vmmd.sock") as vmm:
        for vm in await vmm.info():
            print(vm.name, vm.pid)
        async with vmm.console("web") as lines:
            async for line in lines:
                print(line.line.decode(), end="")
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from netrpc import Client, Header, Program
from netrpc.core.program import Procedure, declare

from .wire import (
    ATTACH,
    CONSOLE,
    DESTROY,
    DETACH,
    INFO,
    VERSION,
    VMM_PROGRAM,
    VMM_WIRE,
    ConsoleLine,
    ConsoleLineCodec,
    OptionalString,
    VmInfo,
    VmInfoList,
)

__all__ = ("VmmClient",)

_NAME = OptionalString()
_CONSOLE = ConsoleLineCodec()

INFO_CALL: Procedure[str | None, list[VmInfo]] = declare(
    INFO, args=_NAME, ret=VmInfoList(), name="info"
)
DESTROY_CALL: Procedure[str | None, str | None] = declare(
    DESTROY, args=_NAME, ret=_NAME, name="destroy"
)
ATTACH_CALL: Procedure[str | None, None] = declare(ATTACH, args=_NAME, name="attach")
DETACH_CALL: Procedure[str | None, None] = declare(DETACH, args=_NAME, name="detach")


class _Vmm(Program):
    number, version = VMM_PROGRAM, VERSION


class VmmClient:
    """The commands of the wire as methods; failures raise :class:`netrpc.RPCError` with
    the daemon's message."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @classmethod
    @contextlib.asynccontextmanager
    async def unix(cls, path: str | os.PathLike[str], **options: Any) -> AsyncIterator[VmmClient]:
        """Connect to a unix socket."""
        async with Client.unix(path, wire=VMM_WIRE, **options) as client:
            yield cls(client)

    async def info(self, name: str | None = None) -> list[VmInfo]:
        """Every VM, or the one named."""
        return await self.client.call_procedure(_Vmm, INFO_CALL, name)

    async def destroy(self, name: str) -> str | None:
        """Destroy a VM; returns the daemon's message."""
        return await self.client.call_procedure(_Vmm, DESTROY_CALL, name)

    async def attach(self, name: str) -> None:
        """Ask for the VM's console output (see :meth:`console`)."""
        await self.client.call_procedure(_Vmm, ATTACH_CALL, name)

    async def detach(self, name: str) -> None:
        """Stop the VM's console output."""
        await self.client.call_procedure(_Vmm, DETACH_CALL, name)

    @contextlib.asynccontextmanager
    async def console(self, name: str) -> AsyncIterator[MemoryObjectReceiveStream[ConsoleLine]]:
        """Attach to a VM's console for the duration of the block; its lines arrive on the
        stream yielded (lines of other attached VMs are left out)."""
        send, receive = anyio.create_memory_object_stream[ConsoleLine](64)

        def arrived(header: Header, payload: bytes) -> None:
            line = _CONSOLE.decode(payload)
            if line.name == name:
                with contextlib.suppress(anyio.WouldBlock, anyio.BrokenResourceError):
                    send.send_nowait(line)

        self.client.on_event(VMM_PROGRAM, CONSOLE, arrived)
        try:
            await self.attach(name)
            async with receive:
                yield receive
            if not self.client.is_closed:
                await self.detach(name)
        finally:
            self.client.remove_event_handler(VMM_PROGRAM, CONSOLE, arrived)
            send.close()
