"""The VMs vmmd pretends to run, and the commands of albatross's client wire.

Each VM has a name, a command line, a process id and tap devices.  ``info`` lists them
(all, or the one named), ``destroy`` removes one, ``attach`` makes the daemon send the
client a console line of that VM every ``console_interval`` seconds (unsolicited messages:
id 0, tag 0xFFF0), ``detach`` stops it.  Failures are 0xFFFE replies with a message.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import anyio

from netrpc import Call, Program, RPCError, procedure
from netrpc.core.program import ClientHandle

from .wire import (
    ATTACH,
    CONSOLE,
    DESTROY,
    DETACH,
    INFO,
    VERSION,
    VMM_PROGRAM,
    ConsoleLine,
    ConsoleLineCodec,
    OptionalString,
    VmInfo,
    VmInfoList,
)

__all__ = ("VirtualMachine", "VmmProgram")

log = logging.getLogger("vmmd")

_NAME = OptionalString()
_CONSOLE = ConsoleLineCodec()


@dataclass(slots=True)
class VirtualMachine:
    """A VM as vmmd keeps it."""

    name: str
    cmdline: str
    pid: int
    taps: tuple[str, ...] = ()
    #: console lines produced so far
    lines: int = 0

    def info(self) -> VmInfo:
        """Its record in an info reply."""
        return VmInfo(name=self.name, cmdline=self.cmdline, pid=self.pid, taps=self.taps)


@dataclass(slots=True)
class _Attachments:
    """The consoles one client is attached to."""

    names: set[str] = field(default_factory=set)
    running: bool = False


class VmmProgram(Program):
    """The client commands of albatross's wire, version 0.

    :param vms: the VMs, as ``(name, command line)`` pairs.
    :param console_interval: seconds between two lines of an attached console.
    """

    number, version = VMM_PROGRAM, VERSION

    def __init__(self, vms: list[tuple[str, str]], *, console_interval: float = 1.0) -> None:
        pids = itertools.count(4200)
        self.vms: dict[str, VirtualMachine] = {}
        for index, (name, cmdline) in enumerate(vms):
            self.vms[name] = VirtualMachine(
                name=name,
                cmdline=cmdline or f"solo5-hvt --net:service=tap{index} {name}.hvt",
                pid=next(pids),
                taps=(f"tap{index}",),
            )
        self.console_interval = console_interval

    def _vm(self, name: str | None, command: str) -> VirtualMachine:
        if not name:
            raise RPCError.rpc(f"{command}: a VM name is required")
        vm = self.vms.get(name)
        if vm is None:
            raise RPCError.rpc(f"{command}: no VM named {name!r}")
        return vm

    @procedure(INFO, args=_NAME, ret=VmInfoList(), inline=True)
    def info(self, call: Call, name: str | None) -> list[VmInfo]:
        """Every VM, or the one named."""
        if name:
            return [self._vm(name, "info").info()]
        return [vm.info() for vm in self.vms.values()]

    @procedure(DESTROY, args=_NAME, ret=_NAME, inline=True)
    def destroy(self, call: Call, name: str | None) -> str:
        """Remove a VM (its attached consoles fall silent)."""
        vm = self._vm(name, "destroy")
        del self.vms[vm.name]
        log.info("destroyed %s (pid %d)", vm.name, vm.pid)
        return f"destroyed {vm.name}"

    @procedure(ATTACH, args=_NAME, inline=True)
    def attach(self, call: Call, name: str | None) -> None:
        """Send this client the VM's console output from now on."""
        vm = self._vm(name, "attach")
        attached = self._attachments(call.client)
        attached.names.add(vm.name)
        if not attached.running:
            attached.running = True
            call.client.spawn(self._console, call.client, attached)

    @procedure(DETACH, args=_NAME, inline=True)
    def detach(self, call: Call, name: str | None) -> None:
        """Stop sending the VM's console output."""
        if not name:
            raise RPCError.rpc("detach: a VM name is required")
        attached = self._attachments(call.client)
        if name not in attached.names:
            raise RPCError.rpc(f"detach: not attached to {name!r}")
        attached.names.discard(name)

    def _attachments(self, client: ClientHandle) -> _Attachments:
        attached = client.private.get(VmmProgram)
        if not isinstance(attached, _Attachments):
            attached = client.private[VmmProgram] = _Attachments()
        return attached

    async def _console(self, client: ClientHandle, attached: _Attachments) -> None:
        """One line per attached VM every interval, until the client goes."""
        while True:
            await anyio.sleep(self.console_interval)
            for name in sorted(attached.names):
                vm = self.vms.get(name)
                if vm is None:
                    attached.names.discard(name)
                    continue
                vm.lines += 1
                line = f"[{vm.name}] console line {vm.lines}\n".encode()
                payload = _CONSOLE.encode(ConsoleLine(name=vm.name, line=line))
                client.send_event(VMM_PROGRAM, VERSION, CONSOLE, payload, serial=0)
