"""A daemon: several named servers in one process (libvirt's virNetDaemon).

libvirtd runs a "libvirtd" server and an "admin" server side by side.  :class:`Daemon` runs
any number of :class:`~netrpc.io.server.Server` objects, handles signals (SIGTERM, SIGINT and
SIGQUIT drain and exit; SIGHUP reloads), writes a pid file, and can exit by itself after a
period with no clients (libvirt's ``--timeout``).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
import anyio.abc
from anyio.abc import TaskStatus

from .server import Server

__all__ = ("Daemon", "PidFileError")

log = logging.getLogger("netrpc.daemon")

ReloadHook = Callable[[], Awaitable[None] | None]


class PidFileError(OSError):
    """The pid file cannot be created or is held by another running daemon."""

    def __init__(self, path: str, code: int | None, reason: str) -> None:
        super().__init__(code, reason)
        self.path = path

    def __str__(self) -> str:
        return f"pid file {self.path}: {self.strerror}"


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Daemon:
    """Run named servers until a signal (or :meth:`shutdown`) stops them.

    :param servers: the servers, addressed by their :attr:`~netrpc.io.server.Server.name`.
    :param pid_file: path of a pid file to create, lock and remove on exit.
    :param on_reload: called on SIGHUP (may be async); exceptions are logged, not fatal.
    :param shutdown_timeout: seconds a graceful shutdown may take before in-flight calls are
        cancelled (libvirt: 30).
    :param idle_timeout: exit after this many seconds with no client on any server
        (None or 0: never).
    """

    def __init__(
        self,
        servers: Iterable[Server],
        *,
        pid_file: str | os.PathLike[str] | None = None,
        on_reload: ReloadHook | None = None,
        shutdown_timeout: float = 30.0,
        idle_timeout: float | None = None,
    ) -> None:
        self.servers: dict[str, Server] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self.shutdown_timeout = shutdown_timeout
        for server in servers:
            self.add_server(server)
        self.pid_file = os.fspath(pid_file) if pid_file is not None else None
        self.on_reload = on_reload
        self.idle_timeout = idle_timeout
        self._pid_fd: int | None = None
        self._quit: anyio.Event | None = None
        self._idle_changed: anyio.Event | None = None
        self.reloads = 0

    def add_server(self, server: Server) -> None:
        """Add a server.

        :raises ValueError: when a server with the same name exists.
        """
        if server.name in self.servers:
            raise ValueError(f"a server named {server.name!r} already exists")
        self.servers[server.name] = server
        if self._task_group is not None:
            # The daemon is running: serve the new server at once.
            server.shutdown_timeout = self.shutdown_timeout
            self._task_group.start_soon(server.serve)

    def set_idle_timeout(self, seconds: float | None) -> None:
        """Change the idle timeout while running (admin ``SET_DAEMON_TIMEOUT``)."""
        self.idle_timeout = seconds
        if self._idle_changed is not None:
            self._idle_changed.set()

    def shutdown(self) -> None:
        """Ask :meth:`run` to stop gracefully."""
        if self._quit is not None:
            self._quit.set()

    async def run(
        self, *, task_status: TaskStatus[dict[str, list[Any]]] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until SIGTERM/SIGINT/SIGQUIT or :meth:`shutdown`; reports the bound
        addresses of every server (by name) through *task_status*."""
        self._quit = anyio.Event()
        self._idle_changed = anyio.Event()
        self._write_pid_file()
        try:
            async with anyio.create_task_group() as tg:
                addresses: dict[str, list[Any]] = {}
                for name, server in self.servers.items():
                    server.shutdown_timeout = self.shutdown_timeout
                    addresses[name] = await tg.start(server.serve)
                if threading.current_thread() is threading.main_thread():
                    tg.start_soon(self._signal_loop)
                tg.start_soon(self._idle_loop)
                self._task_group = tg
                task_status.started(addresses)
                await self._quit.wait()
                log.info("shutting down")
                for server in self.servers.values():
                    server.shutdown(self.shutdown_timeout)
                with anyio.CancelScope(shield=True):
                    for server in self.servers.values():
                        await server.aclose()
                tg.cancel_scope.cancel()
        finally:
            self._task_group = None
            self._remove_pid_file()

    async def reload(self) -> None:
        """Run the reload hook (what SIGHUP does)."""
        self.reloads += 1
        if self.on_reload is None:
            log.info("reload requested; nothing to reload")
            return
        try:
            result = self.on_reload()
            if result is not None:
                await result
            log.info("reloaded")
        except (OSError, ValueError) as exc:
            # A user's mistake (a bad or unreadable configuration file): one line naming it.
            log.error("reload failed, keeping the previous configuration: %s", exc)
        except Exception:
            log.exception("reload failed; keeping the previous configuration")

    async def _signal_loop(self) -> None:
        with anyio.open_signal_receiver(
            signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP
        ) as signals:
            async for signum in signals:
                if signum == signal.SIGHUP:
                    await self.reload()
                else:
                    log.info("received %s", signal.Signals(signum).name)
                    self.shutdown()

    def _has_clients(self) -> bool:
        return any(server.nclients for server in self.servers.values())

    async def _idle_loop(self) -> None:
        idle_since = anyio.current_time()
        while True:
            timeout = self.idle_timeout
            assert self._idle_changed is not None
            if not timeout:
                self._idle_changed = anyio.Event()
                await self._idle_changed.wait()
                idle_since = anyio.current_time()
                continue
            if self._has_clients():
                idle_since = anyio.current_time()
            elif anyio.current_time() - idle_since >= timeout:
                log.info("no clients for %.0f s: exiting", timeout)
                self.shutdown()
                return
            with anyio.move_on_after(min(1.0, timeout)):
                await self._idle_changed.wait()
                self._idle_changed = anyio.Event()

    def _write_pid_file(self) -> None:
        if self.pid_file is None:
            return
        try:
            fd = os.open(self.pid_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise PidFileError(self.pid_file, exc.errno, exc.strerror or str(exc)) from None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                who = f"another daemon (pid {holder})" if holder else "another daemon"
                raise PidFileError(self.pid_file, errno.EEXIST, f"{who} holds it") from None
            raise PidFileError(self.pid_file, exc.errno, exc.strerror or str(exc)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._pid_fd = fd

    def _remove_pid_file(self) -> None:
        if self._pid_fd is None or self.pid_file is None:
            return
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass
        os.close(self._pid_fd)
        self._pid_fd = None
