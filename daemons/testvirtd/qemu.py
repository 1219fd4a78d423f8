"""libvirt's QEMU program (0x20008087 v1): ``virsh qemu-monitor-command`` and friends.

DOMAIN_MONITOR_COMMAND runs the command on the domain's fake QMP monitor
(:class:`~daemons.testvirtd.qmp.QmpEngine`) and answers QEMU's JSON reply text, or the HMP
output with ``VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP``.  The program shares the REMOTE
program's per-connection state: the connection must be open, and read-only connections are
refused.
"""

from __future__ import annotations

from typing import Final

from netrpc import Call, Procedure, Program, RPCError, procedure

from .domxml import ErrDomain, VirtError
from .qmp import QmpEngine
from .remote import RemoteProgram, _dom, _readonly_refusal
from .remote_types import QEMU_PROGRAM, DomainMonitorCommandArgs, DomainMonitorCommandRet

__all__ = ("QemuProgram",)

#: VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP
MONITOR_COMMAND_HMP: Final = 1


class QemuProgram(Program):
    """The QEMU program, for the domains of *remote*'s hypervisor."""

    number = QEMU_PROGRAM
    version = 1

    def __init__(self, remote: RemoteProgram) -> None:
        self.remote = remote
        self.hv = remote.hv
        self._engines: dict[bytes, QmpEngine] = {}

    def readonly_error(self, proc: Procedure) -> RPCError:
        return _readonly_refusal(proc.name)

    def engine(self, uuid: bytes) -> QmpEngine:
        """The monitor of the domain with *uuid* (created on first use)."""
        engine = self._engines.get(uuid)
        if engine is None:
            engine = self._engines[uuid] = QmpEngine(self.hv, uuid)
        return engine

    def close(self) -> None:
        """Close every monitor (and the descriptors they hold)."""
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()

    @procedure(1, args=DomainMonitorCommandArgs, ret=DomainMonitorCommandRet, inline=True,
               name="virDomainQemuMonitorCommand")
    def domain_monitor_command(
        self, call: Call, args: DomainMonitorCommandArgs
    ) -> DomainMonitorCommandRet:
        self.remote._writable(call, "virDomainQemuMonitorCommand")
        if args.flags & ~MONITOR_COMMAND_HMP:
            raise VirtError.bad_flags("qemuDomainQemuMonitorCommand", args.flags)
        ref = self.hv.domain_ref(_dom(args.dom))
        engine = self.engine(ref.uuid)
        if args.flags & MONITOR_COMMAND_HMP:
            if not self.hv.domain_is_active(ref):
                raise VirtError.invalid(ErrDomain.QEMU, "domain is not running")
            result = engine.hmp(args.cmd)
        else:
            result = engine.execute(args.cmd)
        self.remote._changed()
        return DomainMonitorCommandRet(result)
