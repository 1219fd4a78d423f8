"""File-descriptor passing: domain creation with files, monitor commands with files, and a
QMP socket per running domain.

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
* :class:`QmpSocketManager` serves the same engines on unix sockets, one per running domain,
  at ``DIRECTORY/domain-<id>-<name>/monitor.sock`` (libvirt's layout under
  ``/var/lib/libvirt/qemu``), started when a domain starts and removed when it stops.  It
  has to be run by the daemon next to its server (see :meth:`QmpSocketManager.run`).

Descriptors only travel on unix sockets; netrpc refuses CALL_WITH_FDS carrying descriptors
on other transports and closes any descriptor a handler does not take.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import socket
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc

from netrpc import Call, procedure

from .connection import RemoteBase
from .domxml import ErrCode, ErrDomain, VirtError
from .hypervisor import DomainEventType, DomainLifecycleEvent, DomainRef, Event
from .parity import QEMU_EXTENSION, differs
from .qmp import QmpSocketServer
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
    "QmpSocketManager",
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


class QmpSocketManager:
    """A QMP unix socket for every running domain, served by the domain's monitor engine.

    :param qemu: the QEMU program (its ``engine(uuid)`` gives the monitors, so QMP socket
        clients and ``qemu-monitor-command`` share descriptors and state).
    :param directory: where the per-domain directories go.

    Run it in the daemon's task group, e.g. ``await tg.start(manager.run)``; it stops with
    the task group.
    """

    def __init__(self, qemu: Any, directory: str) -> None:
        self.qemu = qemu
        self.hv: Hypervisor = qemu.hv
        self.directory = directory
        self._events: collections.deque[Event] = collections.deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._scopes: dict[bytes, anyio.CancelScope] = {}
        self._paths: dict[bytes, str] = {}

    def path_for(self, dom: DomainRef) -> str:
        """Where the monitor socket of running domain *dom* is (or will be)."""
        return os.path.join(self.directory, f"domain-{dom.id}-{dom.name}", "monitor.sock")

    def socket_path(self, name: str) -> str | None:
        """The monitor socket of the running domain called *name*, if it is served."""
        for uuid, path in self._paths.items():
            with contextlib.suppress(VirtError):
                if self.hv.domains.ref(uuid).name == name:
                    return path
        return None

    def _on_event(self, event: Event) -> None:
        if isinstance(event, DomainLifecycleEvent) and event.event in (
            DomainEventType.STARTED,
            DomainEventType.STOPPED,
        ):
            self._events.append(event)
            with contextlib.suppress(OSError):
                self._wake_w.send(b"\0")

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Serve until cancelled; reports once the sockets of running domains exist."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        token = self.hv.subscribe(self._on_event)
        try:
            async with anyio.create_task_group() as tg:
                for ref in self.hv.domains.list_all(1):  # VIR_CONNECT_LIST_DOMAINS_ACTIVE
                    await tg.start(self._serve_domain, ref)
                task_status.started()
                while True:
                    await anyio.wait_readable(self._wake_r)
                    with contextlib.suppress(BlockingIOError):
                        while self._wake_r.recv(4096):
                            pass
                    while self._events:
                        event = self._events.popleft()
                        assert isinstance(event, DomainLifecycleEvent)
                        uuid = event.dom.uuid
                        if event.event == DomainEventType.STOPPED:
                            scope = self._scopes.pop(uuid, None)
                            if scope is not None:
                                scope.cancel()
                        elif uuid not in self._scopes:
                            with contextlib.suppress(VirtError):
                                if self.hv.domains.is_active(uuid):
                                    await tg.start(self._serve_domain, event.dom)
        finally:
            self.hv.unsubscribe(token)
            self._wake_r.close()
            self._wake_w.close()

    async def _serve_domain(
        self, ref: DomainRef, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        ref = self.hv.domains.ref(ref.uuid)
        path = self.path_for(ref)
        directory = os.path.dirname(path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        server = QmpSocketServer(self.qemu.engine(ref.uuid), path)
        with anyio.CancelScope() as scope:
            self._scopes[ref.uuid] = scope
            try:
                async with anyio.create_task_group() as tg:
                    await tg.start(server.serve)
                    self._paths[ref.uuid] = path
                    task_status.started()
            finally:
                if self._scopes.get(ref.uuid) is scope:
                    del self._scopes[ref.uuid]
                if self._paths.get(ref.uuid) == path:
                    del self._paths[ref.uuid]
                with contextlib.suppress(OSError):
                    os.rmdir(directory)
        # serve() closes its wake-up socketpair itself, unless it was cancelled before it
        # ran; closing twice is harmless.
        for sock in (getattr(server, "_wake_r", None), getattr(server, "_wake_w", None)):
            if sock is not None:
                sock.close()
