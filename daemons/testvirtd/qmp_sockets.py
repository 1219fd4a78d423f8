"""One QMP unix socket per running domain, as QEMU's ``-qmp unix:PATH,server`` gives.

:class:`QmpSockets` serves ``<directory>/<domain name>.sock`` with a
:class:`~daemons.testvirtd.qmp.QmpSocketServer` for every running domain of the
hypervisor: sockets appear when a domain starts (and for those running when the daemon
starts) and disappear when it stops.  Clients such as go-qemu's ``qmp.SocketMonitor`` talk
to the same fake monitor the QEMU program uses, and see the same events.
"""

from __future__ import annotations

import errno
import logging
import os

import anyio
import anyio.abc
import anyio.from_thread
from anyio.streams.memory import MemoryObjectSendStream

from .connection import in_event_loop
from .hypervisor import DomainEventType, DomainLifecycleEvent, Event, Hypervisor
from .qemu import QemuProgram
from .qmp import QmpSocketServer

__all__ = ("QmpSockets",)

log = logging.getLogger("testvirtd.qmp")


class QmpSockets:
    """Keep a QMP socket in *directory* for each running domain.

    :param qemu: the QEMU program whose per-domain monitors the sockets serve.
    :param directory: created (mode 0700) if missing.
    """

    def __init__(self, qemu: QemuProgram, directory: str) -> None:
        self.qemu = qemu
        self.hv: Hypervisor = qemu.hv
        self.directory = directory
        self._serving: dict[bytes, anyio.Event] = {}
        self._scopes: dict[bytes, anyio.CancelScope] = {}
        self._listening: set[bytes] = set()
        self._send: MemoryObjectSendStream[bytes] | None = None

    def path(self, name: str) -> str:
        """The socket path of the domain called *name*."""
        return os.path.join(self.directory, f"{name}.sock")

    def paths(self) -> dict[str, str]:
        """Domain name → QMP socket path, for the domains whose socket listens now."""
        out = {}
        for ref in self.hv.domains.list_all(1):  # active ones
            if ref.uuid in self._listening:
                out[ref.name] = self.path(ref.name)
        return out

    def _on_event(self, event: Event) -> None:
        if not (
            isinstance(event, DomainLifecycleEvent) and event.event == DomainEventType.STARTED
        ):
            return
        if in_event_loop():
            self._queue(event.dom.uuid)
            return
        try:
            anyio.from_thread.run_sync(self._queue, event.dom.uuid)
        except RuntimeError:
            log.warning("no QMP socket for %s: started outside the event loop", event.dom.name)

    def _on_reset(self) -> None:
        # A reset (the last connection to test:///default closed, or an admin reset)
        # sends no events: stop every server (their domains and monitors are gone) and
        # serve the fresh state's running domains, each once its old socket went.
        if in_event_loop():
            self._restart_all()
            return
        try:
            anyio.from_thread.run_sync(self._restart_all)
        except RuntimeError:
            log.warning("QMP sockets not restarted: state reset outside the event loop")

    def _restart_all(self) -> None:
        for scope in self._scopes.values():
            scope.cancel()
        for ref in self.hv.domains.list_all(1):
            self._queue(ref.uuid)

    def _queue(self, uuid: bytes) -> None:
        if self._send is None:
            return
        try:
            self._send.send_nowait(uuid)
        except (anyio.WouldBlock, anyio.ClosedResourceError):
            log.warning("QMP socket start request dropped")

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Serve sockets until cancelled (reports started once the initial ones listen).

        The directory is created if missing, and removed again on the way out when it was
        created here and nothing else was put in it.
        """
        created = _make_directory(self.directory)
        send, receive = anyio.create_memory_object_stream[bytes](1000)
        self._send = send
        token = self.hv.subscribe(self._on_event)
        self.hv.on_reset.append(self._on_reset)
        try:
            async with send, receive, anyio.create_task_group() as tg:
                for ref in self.hv.domains.list_all(1):
                    await tg.start(self._serve_one, ref.uuid)
                task_status.started()
                async for uuid in receive:
                    tg.start_soon(self._serve_one, uuid)
        finally:
            self.hv.unsubscribe(token)
            self.hv.on_reset.remove(self._on_reset)
            self._send = None
            if created:
                try:
                    os.rmdir(self.directory)
                except OSError:
                    pass  # not empty: somebody else's files are in it

    async def _serve_one(
        self, uuid: bytes, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        previous = self._serving.get(uuid)
        if previous is not None:
            await previous.wait()  # a restart: the old socket goes first
            if uuid in self._serving:  # another request for the same start won the race
                task_status.started()
                return
        try:
            ref = self.hv.domains.ref(uuid)
        except Exception:
            task_status.started()
            return
        if not self.hv.domains.is_active(ref):
            task_status.started()
            return
        done = self._serving[uuid] = anyio.Event()
        path = self.path(ref.name)
        server = QmpSocketServer(self.qemu.engine(uuid), path)
        started = False
        try:
            async with anyio.create_task_group() as inner:
                self._scopes[uuid] = inner.cancel_scope
                await inner.start(server.serve)
                log.info("QMP socket of domain %s: %s", ref.name, path)
                started = True
                self._listening.add(uuid)
                task_status.started()
        except* OSError as group:
            for exc in group.exceptions:
                log.error("QMP socket %s of domain %s: %s", path, ref.name, exc)
        finally:
            if self._serving.get(uuid) is done:
                del self._serving[uuid]
                self._scopes.pop(uuid, None)
                self._listening.discard(uuid)
            done.set()
            if not started:
                task_status.started()


def _make_directory(directory: str) -> bool:
    """Create *directory* (mode 0700) unless it exists; true when it was created.

    :raises OSError: naming the directory, when it cannot be created or is not one.
    """
    try:
        os.makedirs(directory, mode=0o700)
        return True
    except FileExistsError:
        if os.path.isdir(directory):
            return False
        error: OSError = FileExistsError(errno.EEXIST, "file exists")
    except OSError as exc:
        error = exc
    reason = (error.strerror or str(error)).lower()
    raise OSError(error.errno, f"cannot create the QMP socket directory {directory}: {reason}")
