"""File-descriptor passing: domain creation with files and monitor commands with files.

* :class:`RemoteFdProcedures` (mixed into RemoteProgram) serves
  DOMAIN_CREATE_XML_WITH_FILES (309) and DOMAIN_CREATE_WITH_FILES (310), what
  ``virsh create FILE --pass-fds N,M`` and ``virsh start DOM --pass-fds N`` call with
  CALL_WITH_FDS.  The domain starts as with DOMAIN_CREATE_XML / DOMAIN_CREATE.  The received
  descriptors are handed to the domain's fake QEMU the way QEMU receives descriptors at
  start-up (``-add-fd``): they form one new fdset of the domain's monitor, with the opaque
  strings ``pass-fds:0``, ``pass-fds:1`` ..., so ``query-fdsets`` shows them and ``remove-fd``
  closes them; whatever is left closes when the domain stops, as its QEMU would exit.
  Without a QEMU program on the server they are closed (as libvirtd's test
  driver does, which ignores them).
* :class:`QemuFdProcedures` (mixed into QemuProgram) serves
  QEMU_PROC_DOMAIN_MONITOR_COMMAND_WITH_FILES (7), ``virsh qemu-monitor-command --pass-fds``:
  the command runs on the domain's :class:`~daemons.testvirtd.qmp.QmpEngine` with the
  descriptors (``getfd``/``add-fd`` keep one; unused ones are closed).  As QEMU's driver,
  at most one descriptor may come with a command.
* :class:`~daemons.testvirtd.qmp_sockets.QmpSockets` serves the same engines on unix
  sockets, one per running domain, where QMP clients can pass descriptors too.

Descriptors only travel on unix sockets; netrpc refuses CALL_WITH_FDS carrying descriptors
on other transports and closes any descriptor a handler does not take.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import TYPE_CHECKING, Any, Final

from netrpc import Call, procedure

from .connection import RemoteBase
from .domxml import ErrCode, ErrDomain, VirtError
from .hypervisor import DomainRef
from .parity import QEMU_EXTENSION, differs
from .remote_types import (
    DomainCreateXmlArgs,
    DomainFlagsArgs,
    DomainMonitorCommandArgs,
    DomainMonitorCommandRet,
    DomainRet,
    NonnullDomain,
)

if TYPE_CHECKING:
    from .hypervisor import Hypervisor
    from .qmp import QmpEngine

__all__ = (
    "PASS_FDS_OPAQUE",
    "QemuFdProcedures",
    "RemoteFdProcedures",
    "adopt_fds",
)

log = logging.getLogger("testvirtd.fdpass")

#: VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP
_MONITOR_COMMAND_HMP: Final = 1
#: opaque string of the descriptors passed at domain creation: "pass-fds:<index>"
PASS_FDS_OPAQUE: Final = "pass-fds:{index}"


def _dom(wire: NonnullDomain) -> DomainRef:
    return DomainRef(wire.name, bytes(wire.uuid), wire.id)


def _wire_dom(ref: DomainRef) -> NonnullDomain:
    return NonnullDomain(ref.name, ref.uuid, ref.id)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()


def _qemu_program(call: Call) -> Any:
    """The server's QEMU program (the one with per-domain monitors), or None."""
    server = call.server
    for program in getattr(server, "programs", ()):
        if isinstance(program, QemuFdProcedures):
            return program
    return None


def adopt_fds(engine: QmpEngine, fds: list[int]) -> int | None:
    """Give *fds* to *engine* as one new fdset (QEMU's ``-add-fd``); returns its id.

    The engine owns what it accepted; whatever it refused is closed.  *fds* is emptied.
    """
    fdset_id: int | None = None
    try:
        for index in range(len(fds)):
            arguments: dict[str, Any] = {"opaque": PASS_FDS_OPAQUE.format(index=index)}
            if fdset_id is not None:
                arguments["fdset-id"] = fdset_id
            pending = [fds[index]]
            reply = json.loads(
                engine.execute_obj({"execute": "add-fd", "arguments": arguments}, pending)
            )
            if pending:  # refused: it is still ours
                _close_all(pending)
            elif fdset_id is None:
                fdset_id = reply.get("return", {}).get("fdset-id")
            fds[index] = -1
    finally:
        _close_all([fd for fd in fds if fd >= 0])
        fds.clear()
    return fdset_id


# ------------------------------------------------------------------------------ REMOTE


class RemoteFdProcedures(RemoteBase):
    """DOMAIN_CREATE_XML_WITH_FILES / DOMAIN_CREATE_WITH_FILES of the REMOTE program."""

    def _hand_over(self, call: Call, ref: DomainRef) -> None:
        fds = call.take_fds()
        if not fds:
            return
        qemu = _qemu_program(call)
        if qemu is None or qemu.hv is not self.state(call.client).driver:
            _close_all(fds)
            return
        try:
            adopt_fds(qemu.engine(ref.uuid), fds)
        except Exception:
            log.exception("could not hand the passed descriptors to %s", ref.name)
            _close_all(fds)

    @procedure(309, args=DomainCreateXmlArgs, ret=DomainRet, inline=True,
               name="virDomainCreateXMLWithFiles")
    def domain_create_xml_with_files(self, call: Call, args: DomainCreateXmlArgs) -> DomainRet:
        hv = self.writable(call, "virDomainCreateXMLWithFiles").hv
        ref = hv.domains.create_xml(args.xml_desc, args.flags)
        self.changed(call)
        self._hand_over(call, ref)
        return DomainRet(_wire_dom(ref))

    @procedure(310, args=DomainFlagsArgs, ret=DomainRet, inline=True,
               name="virDomainCreateWithFiles")
    def domain_create_with_files(self, call: Call, args: DomainFlagsArgs) -> DomainRet:
        hv = self.writable(call, "virDomainCreateWithFiles").hv
        ref = hv.domains.create(_dom(args.dom), args.flags)
        self.changed(call)
        self._hand_over(call, ref)
        return DomainRet(_wire_dom(ref))


# ------------------------------------------------------------------------------ QEMU


class QemuFdProcedures:
    """QEMU_PROC_DOMAIN_MONITOR_COMMAND_WITH_FILES, mixed into QemuProgram (uses its
    ``remote``, ``hv`` and ``engine()``)."""

    if TYPE_CHECKING:
        remote: Any
        hv: Hypervisor

        def engine(self, uuid: bytes) -> QmpEngine: ...

        def monitor_json(self, uuid: bytes, text: str, fds: list[int]) -> str: ...

    @differs(QEMU_EXTENSION)
    @procedure(7, args=DomainMonitorCommandArgs, ret=DomainMonitorCommandRet, inline=True,
               name="virDomainQemuMonitorCommandWithFiles")
    def domain_monitor_command_with_files(
        self, call: Call, args: DomainMonitorCommandArgs
    ) -> DomainMonitorCommandRet:
        if self.remote.writable(call, "virDomainQemuMonitorCommandWithFiles").driver is not self.hv:
            raise VirtError.no_support(ErrDomain.TEST, "virDomainQemuMonitorCommandWithFiles")
        if args.flags & ~_MONITOR_COMMAND_HMP:
            error = VirtError.bad_flags("qemuDomainQemuMonitorCommandWithFiles", args.flags)
            error.domain = ErrDomain.QEMU
            raise error
        ref = self.hv.domains.ref(_dom(args.dom))
        if not self.hv.domains.is_active(ref):
            raise VirtError.invalid(ErrDomain.DOMAIN, "domain is not running")
        if len(call.fds) > 1:
            raise VirtError.fmt(
                ErrCode.ARGUMENT_UNSUPPORTED, ErrDomain.QEMU, "argument unsupported: %s",
                "at most 1 fd can be passed to qemu along with a command",
            )
        engine = self.engine(ref.uuid)
        fds = call.take_fds()
        try:
            if args.flags & _MONITOR_COMMAND_HMP:
                result = engine.hmp(args.cmd, fds)
            else:
                result = self.monitor_json(ref.uuid, args.cmd, fds)
        finally:
            _close_all(fds)  # whatever the command did not keep
        self.remote.changed(call)
        return DomainMonitorCommandRet(result)


# ------------------------------------------------------------------------------ QMP sockets
