"""A fake QEMU monitor (QMP) for the test hypervisor's running domains.

:class:`QmpEngine` answers QMP commands for one domain with replies formatted like QEMU 7.2's
(``{"return": ...}`` / ``{"error": {"class": ..., "desc": ...}}``, ``"id"`` echoed last).
Commands that change the guest (stop, cont, system_reset, system_powerdown) go through the
:class:`~daemons.testvirtd.hypervisor.Hypervisor`, so libvirt lifecycle events and QMP events
fire exactly as for API calls.

:class:`QmpSocketServer` serves an engine on a UNIX socket with anyio (asyncio or trio):
greeting, capabilities negotiation, commands, asynchronous events and SCM_RIGHTS file
descriptors for ``getfd``/``add-fd``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream

from .domxml import ErrDomain, VirtError
from .hypervisor import (
    DomainKey,
    DomainLifecycleEvent,
    DomainRef,
    Event,
    Hypervisor,
    MonitorEvent,
)
from .textguard import (
    JSON_NESTING_ERROR,
    JsonInputError,
    JsonSkipper,
    decode_json_prefix,
    dumps_json,
    json_decoder,
    loads_json,
)

__all__ = ("QEMU_PACKAGE", "QEMU_VERSION", "QmpEngine", "QmpError", "QmpSocketServer")

QEMU_VERSION: Final = {"micro": 0, "minor": 2, "major": 7}
QEMU_PACKAGE: Final = "Debian 1:7.2+dfsg-7+deb12u6"

#: Largest command accepted on a QMP socket before the connection is dropped.
MAX_COMMAND_SIZE: Final = 1024 * 1024


class QmpError(Exception):
    """A QMP error reply: ``class`` (CommandNotFound, GenericError, ...) and ``desc``."""

    def __init__(self, cls: str, desc: str) -> None:
        super().__init__(desc)
        self.cls = cls
        self.desc = desc


def _generic(desc: str) -> QmpError:
    return QmpError("GenericError", desc)


def _arg(
    args: dict[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    type_name: str,
    *,
    required: bool = True,
) -> Any:
    if name not in args:
        if required:
            raise _generic(f"Parameter '{name}' is missing")
        return None
    value = args[name]
    # bool is an int subclass in Python but not in QAPI.
    if not isinstance(value, kind) or (
        isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
    ):
        raise _generic(f"Invalid parameter type for '{name}', expected: {type_name}")
    return value


def _no_extra(args: dict[str, Any], allowed: Sequence[str]) -> None:
    for key in args:
        if key not in allowed:
            raise _generic(f"Parameter '{key}' is unexpected")


class QmpEngine:
    """The monitor of one domain.

    :param hv: the hypervisor that owns the domain.
    :param dom: the domain (its UUID is what identifies it).

    File descriptors handed to :meth:`execute` belong to the engine from then on: those a
    command keeps (``getfd``, ``add-fd``) stay open until ``closefd``/``remove-fd`` or
    :meth:`close` (called when the domain stops); the others are closed right away, as QEMU
    does with unused ones.
    """

    COMMANDS: Final = (
        "qmp_capabilities",
        "query-status",
        "query-version",
        "query-name",
        "query-uuid",
        "query-commands",
        "query-kvm",
        "query-events",
        "stop",
        "cont",
        "system_reset",
        "system_powerdown",
        "human-monitor-command",
        "getfd",
        "closefd",
        "add-fd",
        "remove-fd",
        "query-fdsets",
        "quit",
    )
    EVENTS: Final = ("STOP", "RESUME", "RESET", "POWERDOWN", "SHUTDOWN")

    def __init__(self, hv: Hypervisor, dom: DomainKey) -> None:
        self.hv = hv
        self.dom: DomainRef = hv.domains.ref(dom)
        self._lock = threading.Lock()
        self._closed = False
        self._named_fds: dict[str, int] = {}
        self._fdsets: dict[int, list[tuple[int, str | None]]] = {}

    # ------------------------------------------------------------------ public entry points

    def execute(self, cmd_json: str | bytes, fds: Sequence[int] = ()) -> str:
        """Run one QMP command given as JSON text and return QEMU's JSON reply text.

        :param fds: file descriptors received with the command (SCM_RIGHTS).
        :raises VirtError: if the domain is not running (there is no monitor then).
        """
        remaining = list(fds)
        try:
            try:
                request = loads_json(cmd_json, "QMP command")
            except JsonInputError as exc:
                return _error_reply(_unreadable(exc), None)
            return self.execute_obj(request, remaining)
        finally:
            for fd in remaining:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def execute_obj(self, request: Any, fds: list[int] | None = None) -> str:
        """Like :meth:`execute` for an already decoded request; consumed FDs are removed
        from *fds* (the caller closes what is left)."""
        fds = [] if fds is None else fds
        if not isinstance(request, dict):
            return _error_reply(_generic("QMP input must be a JSON object"), None)
        req_id = request.get("id")
        has_id = "id" in request
        for key in request:
            if key not in ("execute", "exec-oob", "arguments", "id", "control"):
                return _error_reply(
                    _generic(f"QMP input member '{key}' is unexpected"), req_id, has_id
                )
        name = request.get("execute", request.get("exec-oob"))
        if name is None:
            return _error_reply(_generic("QMP input lacks member 'execute'"), req_id, has_id)
        if not isinstance(name, str):
            return _error_reply(
                _generic("QMP input member 'execute' must be a string"), req_id, has_id
            )
        args = request.get("arguments", {})
        if not isinstance(args, dict):
            return _error_reply(
                _generic("QMP input member 'arguments' must be an object"), req_id, has_id
            )
        self._check_running()
        try:
            result = self._dispatch(name, args, fds)
        except QmpError as exc:
            return _error_reply(exc, req_id, has_id)
        reply: dict[str, Any] = {"return": result}
        if has_id:
            reply["id"] = req_id
        try:
            return dumps_json(reply)
        except JsonInputError as exc:  # an id nested too deep to echo
            return _error_reply(_generic(exc.reason), None)

    def close(self) -> None:
        """Close every descriptor the monitor still holds; it answers no more commands (the
        QEMU process it stood for is gone)."""
        with self._lock:
            self._closed = True
            fds = list(self._named_fds.values())
            fds += [fd for entries in self._fdsets.values() for fd, _ in entries]
            self._named_fds.clear()
            self._fdsets.clear()
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def named_fds(self) -> dict[str, int]:
        """The descriptors registered with ``getfd`` (name → fd)."""
        with self._lock:
            return dict(self._named_fds)

    # ------------------------------------------------------------------ commands

    def _check_running(self) -> None:
        if self._closed or not self.hv.domains.is_active(self.dom):
            raise VirtError.invalid(ErrDomain.QEMU, "domain is not running")

    def _dispatch(self, name: str, args: dict[str, Any], fds: list[int]) -> Any:
        handler: Callable[[dict[str, Any], list[int]], Any] | None = (
            getattr(self, "_cmd_" + name.replace("-", "_"), None) if name in self.COMMANDS else None
        )
        if handler is None:
            raise QmpError("CommandNotFound", f"The command {name} has not been found")
        return handler(args, fds)

    def _cmd_qmp_capabilities(self, args: dict[str, Any], fds: list[int]) -> Any:
        # Only reached outside a socket session (monitor-command passthrough); the socket
        # server handles negotiation itself.
        raise QmpError(
            "CommandNotFound", "Capabilities negotiation is already complete, command ignored"
        )

    def _status(self) -> tuple[str, bool]:
        state, _ = self.hv.domains.get_state(self.dom)
        if state == 1:
            return "running", True
        if state == 3:
            return "paused", False
        if state == 4:
            return "shutdown", False
        return "prelaunch", False

    def _cmd_query_status(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        status, running = self._status()
        return {"status": status, "singlestep": False, "running": running}

    def _cmd_query_version(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        return {"qemu": dict(QEMU_VERSION), "package": QEMU_PACKAGE}

    def _cmd_query_name(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        return {"name": self.dom.name}

    def _cmd_query_uuid(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        return {"UUID": self.dom.uuid_str}

    def _cmd_query_kvm(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        kvm = self.hv.domains.definition(self.dom).type == "kvm"
        return {"enabled": kvm, "present": kvm}

    def _cmd_query_commands(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        return [{"name": n} for n in self.COMMANDS]

    def _cmd_query_events(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        return [{"name": n} for n in self.EVENTS]

    def _cmd_stop(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        self.hv.domains.monitor_stop(self.dom)
        return {}

    def _cmd_cont(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        self.hv.domains.monitor_cont(self.dom)
        return {}

    def _cmd_system_reset(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        self.hv.domains.monitor_system_reset(self.dom)
        return {}

    def _cmd_system_powerdown(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        self.hv.domains.monitor_system_powerdown(self.dom)
        return {}

    def _cmd_quit(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        # QEMU exits: the guest is gone as if destroyed.
        self.hv.domains.destroy(self.dom)
        return {}

    def _cmd_getfd(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ("fdname",))
        fdname = _arg(args, "fdname", str, "string")
        if not fds:
            raise _generic("No file descriptor supplied via SCM_RIGHTS")
        if fdname[:1].isdigit():
            raise _generic("Parameter 'fdname' expects a name not starting with a digit")
        fd = fds.pop(0)
        with self._lock:
            old = self._named_fds.pop(fdname, None)
            self._named_fds[fdname] = fd
        if old is not None:
            with contextlib.suppress(OSError):
                os.close(old)
        return {}

    def _cmd_closefd(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ("fdname",))
        fdname = _arg(args, "fdname", str, "string")
        with self._lock:
            fd = self._named_fds.pop(fdname, None)
        if fd is None:
            raise _generic(f"File descriptor named '{fdname}' not found")
        with contextlib.suppress(OSError):
            os.close(fd)
        return {}

    def _cmd_add_fd(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ("fdset-id", "opaque"))
        fdset_id = _arg(args, "fdset-id", int, "integer", required=False)
        opaque = _arg(args, "opaque", str, "string", required=False)
        if not fds:
            raise _generic("No file descriptor supplied via SCM_RIGHTS")
        fd = fds.pop(0)
        with self._lock:
            if fdset_id is None:
                fdset_id = 0
                while fdset_id in self._fdsets:
                    fdset_id += 1
            self._fdsets.setdefault(fdset_id, []).append((fd, opaque))
        return {"fdset-id": fdset_id, "fd": fd}

    def _cmd_remove_fd(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ("fdset-id", "fd"))
        fdset_id = _arg(args, "fdset-id", int, "integer")
        fd = _arg(args, "fd", int, "integer", required=False)
        with self._lock:
            entries = self._fdsets.get(fdset_id)
            if entries is None or (fd is not None and all(f != fd for f, _ in entries)):
                what = f"fdset-id={fdset_id}" + ("" if fd is None else f", fd={fd}")
                raise _generic(f"File descriptor named '{what}' not found")
            closing = [f for f, _ in entries if fd is None or f == fd]
            remaining = [(f, o) for f, o in entries if f not in closing]
            if remaining:
                self._fdsets[fdset_id] = remaining
            else:
                del self._fdsets[fdset_id]
        for f in closing:
            with contextlib.suppress(OSError):
                os.close(f)
        return {}

    def _cmd_query_fdsets(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ())
        with self._lock:
            out = []
            for fdset_id in sorted(self._fdsets):
                entries = []
                for fd, opaque in self._fdsets[fdset_id]:
                    entry: dict[str, Any] = {"fd": fd}
                    if opaque is not None:
                        entry["opaque"] = opaque
                    entries.append(entry)
                out.append({"fdset-id": fdset_id, "fds": entries})
            return out

    def _cmd_human_monitor_command(self, args: dict[str, Any], fds: list[int]) -> Any:
        _no_extra(args, ("command-line", "cpu-index"))
        line = _arg(args, "command-line", str, "string").strip()
        _arg(args, "cpu-index", int, "integer", required=False)
        return self.hmp(line, fds)

    # ------------------------------------------------------------------ HMP

    def hmp(self, line: str, fds: list[int] | None = None) -> str:
        """Run a human-monitor command line; returns its text output (CRLF line ends)."""
        words = line.split()
        if not words:
            return ""
        cmd, rest = words[0], words[1:]
        if cmd == "info":
            if not rest:
                return (
                    "info balloon  -- show balloon information\r\ninfo name  -- show the "
                    "current VM name\r\ninfo status  -- show the current VM status "
                    "(running|paused)\r\ninfo uuid  -- show the current VM UUID\r\n"
                    "info version  -- show the version of QEMU\r\n"
                )
            what = rest[0]
            if what == "status":
                status, _ = self._status()
                return f"VM status: {status}\r\n"
            if what == "version":
                return (
                    f"{QEMU_VERSION['major']}.{QEMU_VERSION['minor']}."
                    f"{QEMU_VERSION['micro']} ({QEMU_PACKAGE})\r\n"
                )
            if what == "name":
                return f"{self.dom.name}\r\n"
            if what == "uuid":
                return f"{self.dom.uuid_str}\r\n"
            if what == "balloon":
                mem = self.hv.domains.get_info(self.dom).memory
                return f"balloon: actual={mem // 1024}\r\n"
            if what == "kvm":
                kvm = self.hv.domains.definition(self.dom).type == "kvm"
                return f"kvm support: {'enabled' if kvm else 'disabled'}\r\n"
            return f"unknown command: 'info {what}'\r\n"
        simple = {
            "stop": "stop",
            "c": "cont",
            "cont": "cont",
            "system_reset": "system_reset",
            "system_powerdown": "system_powerdown",
        }
        if cmd in simple and not rest:
            self._dispatch(simple[cmd], {}, fds or [])
            return ""
        if cmd == "getfd" and len(rest) == 1:
            try:
                self._dispatch("getfd", {"fdname": rest[0]}, fds if fds is not None else [])
            except QmpError as exc:
                return f"Error: {exc.desc}\r\n"
            return ""
        if cmd == "closefd" and len(rest) == 1:
            try:
                self._dispatch("closefd", {"fdname": rest[0]}, [])
            except QmpError as exc:
                return f"Error: {exc.desc}\r\n"
            return ""
        return f"unknown command: '{cmd}'\r\n"


def _error_reply(exc: QmpError, req_id: Any, has_id: bool = False) -> str:
    reply: dict[str, Any] = {"error": {"class": exc.cls, "desc": exc.desc}}
    if has_id:
        reply["id"] = req_id
    try:
        return dumps_json(reply)
    except JsonInputError as too_deep:  # an id nested too deep to echo
        return json.dumps({"error": {"class": "GenericError", "desc": too_deep.reason}})


def _unreadable(exc: JsonInputError) -> QmpError:
    """QEMU's error for input it cannot read: its own limits, or "JSON parse error, ..."."""
    if exc.reason == JSON_NESTING_ERROR:
        return _generic(exc.reason)
    return _generic(f"JSON parse error, {exc.reason}")


# --------------------------------------------------------------------------------------------
# UNIX socket server


class _Client:
    def __init__(self, send: MemoryObjectSendStream[str]) -> None:
        self.send = send
        self.negotiated = False


class QmpSocketServer:
    """Serve a :class:`QmpEngine` on a UNIX socket, as QEMU's ``-qmp unix:PATH,server``.

    Several clients may connect at once; each gets the greeting, must send
    ``qmp_capabilities`` first, and then receives command replies and the domain's
    asynchronous events (STOP, RESUME, RESET, POWERDOWN, SHUTDOWN).  File descriptors sent
    with SCM_RIGHTS are attached to the next command parsed from that read, which is how
    QEMU pairs them with ``getfd``/``add-fd``.

    :meth:`serve` returns when the domain stops (QEMU would exit) or when cancelled; the
    socket file is removed either way.
    """

    #: Per-client queue of outgoing messages; events for a client that lets it fill up
    #: are dropped rather than blocking the others.
    QUEUE_SIZE: Final = 1000

    def __init__(self, engine: QmpEngine, path: str) -> None:
        self.engine = engine
        self.path = path
        self._clients: set[_Client] = set()
        self._events: collections.deque[Event] = collections.deque()
        # The self-pipe exists only while serve() runs, so a server that never ran (its
        # task cancelled before the first step) holds no descriptors.
        self._wake_w: socket.socket | None = None

    def greeting(self) -> str:
        """The banner QEMU sends when a client connects."""
        return json.dumps(
            {
                "QMP": {
                    "version": {"qemu": dict(QEMU_VERSION), "package": QEMU_PACKAGE},
                    "capabilities": ["oob"],
                }
            }
        )

    def _on_event(self, event: Event) -> None:
        # Runs in whatever thread changed the domain: hand the event to the event loop
        # through a self-pipe, which never blocks and needs no loop token.
        if (
            isinstance(event, MonitorEvent | DomainLifecycleEvent)
            and event.dom.uuid == self.engine.dom.uuid
        ):
            self._events.append(event)
            wake = self._wake_w
            if wake is not None:
                with contextlib.suppress(OSError):
                    wake.send(b"\0")

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen on :attr:`path` until the domain stops or the task is cancelled."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        self._wake_w = wake_w
        token = self.engine.hv.subscribe(self._on_event)
        try:
            # Subscribed first, then checked: a domain that stopped before could never
            # stop this server (and its socket and descriptors would stay for good).
            if not self._domain_running():
                task_status.started()
                return
            listener = await anyio.create_unix_listener(self.path, mode=0o600)
            async with listener, anyio.create_task_group() as tg:
                tg.start_soon(self._pump_events, wake_r, tg.cancel_scope)
                task_status.started()
                await listener.serve(self._handle, task_group=tg)
        finally:
            self.engine.hv.unsubscribe(token)
            self._wake_w = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            wake_r.close()
            wake_w.close()

    def _domain_running(self) -> bool:
        try:
            return self.engine.hv.domains.is_active(self.engine.dom)
        except VirtError:
            return False  # undefined meanwhile

    async def _pump_events(self, wake_r: socket.socket, scope: anyio.CancelScope) -> None:
        while True:
            await anyio.wait_readable(wake_r)
            with contextlib.suppress(BlockingIOError):
                while wake_r.recv(4096):
                    pass
            while self._events:
                event = self._events.popleft()
                if isinstance(event, DomainLifecycleEvent):
                    if event.event == 5:  # STOPPED: the QEMU process would be gone now
                        await anyio.sleep(0.01)  # let queued replies/events go out first
                        scope.cancel()
                        return
                    continue
                if not isinstance(event, MonitorEvent):
                    continue
                text = event.to_json()
                for client in list(self._clients):
                    if client.negotiated:
                        with contextlib.suppress(
                            anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError
                        ):
                            client.send.send_nowait(text)

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        send, receive = anyio.create_memory_object_stream[str](self.QUEUE_SIZE)
        client = _Client(send)
        self._clients.add(client)
        pending_fds: list[int] = []
        try:
            async with stream, anyio.create_task_group() as tg:
                tg.start_soon(self._writer, stream, receive, tg.cancel_scope)
                await send.send(self.greeting())
                await self._reader(stream, client, pending_fds)
                tg.cancel_scope.cancel()
        finally:
            self._clients.discard(client)
            send.close()
            for fd in pending_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    @staticmethod
    async def _writer(
        stream: anyio.abc.SocketStream,
        receive: anyio.abc.ObjectReceiveStream[str],
        scope: anyio.CancelScope,
    ) -> None:
        async with receive:
            try:
                async for text in receive:
                    # QEMU terminates every QMP message with CRLF.
                    await stream.send(text.encode() + b"\r\n")
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                scope.cancel()  # the client went away: stop reading too

    async def _reader(
        self, stream: anyio.abc.SocketStream, client: _Client, pending_fds: list[int]
    ) -> None:
        decoder = json_decoder()
        skipper: JsonSkipper | None = None
        buf = ""
        raw: socket.socket | None = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        can_fds = raw is not None and raw.family == socket.AF_UNIX
        while True:
            try:
                if can_fds:
                    assert raw is not None
                    data, new_fds = await _recv_with_fds(raw)
                    if not data and not new_fds:
                        return
                else:
                    data = await stream.receive(65536)
                    new_fds = []
            except (
                anyio.EndOfStream,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
                OSError,
            ):
                return
            if new_fds:
                # A new batch replaces descriptors nobody claimed (QEMU keeps only the
                # latest set received on the channel).
                for fd in pending_fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)
                pending_fds[:] = new_fds
            text = data.decode("utf-8", "replace")
            if skipper is not None:  # the rest of a refused command goes unread
                end = skipper.feed(text)
                if end is None:
                    continue
                skipper, text = None, text[end:]
            buf += text
            if len(buf) > MAX_COMMAND_SIZE:
                return
            while True:
                stripped = buf.lstrip()
                if not stripped:
                    buf = ""
                    break
                try:
                    request, end = decode_json_prefix(decoder, stripped, "QMP command")
                except JsonInputError as exc:
                    # one error for the whole command; what follows it is read as usual
                    await client.send.send(_error_reply(_unreadable(exc), None))
                    skipper = JsonSkipper()
                    end_of_refused = skipper.start(stripped)
                    if end_of_refused is None:
                        buf = ""
                        break
                    skipper, buf = None, stripped[end_of_refused:]
                    continue
                except json.JSONDecodeError as exc:
                    if _looks_incomplete(stripped):
                        buf = stripped
                        break
                    buf = ""
                    await client.send.send(
                        _error_reply(_generic(f"JSON parse error, {exc.msg}"), None)
                    )
                    break
                buf = stripped[end:]
                reply = self._run(client, request, pending_fds)
                if reply is None:
                    return
                await client.send.send(reply)

    def _run(self, client: _Client, request: Any, fds: list[int]) -> str | None:
        name = request.get("execute") if isinstance(request, dict) else None
        has_id = isinstance(request, dict) and "id" in request
        req_id = request.get("id") if isinstance(request, dict) else None
        if not client.negotiated:
            if name == "qmp_capabilities":
                args = request.get("arguments", {})
                enable = args.get("enable", []) if isinstance(args, dict) else []
                if enable and enable != ["oob"]:
                    return _error_reply(
                        _generic(f"Capability '{enable[0]}' not available"), req_id, has_id
                    )
                client.negotiated = True
                reply: dict[str, Any] = {"return": {}}
                if has_id:
                    reply["id"] = req_id
                return json.dumps(reply)
            return _error_reply(
                QmpError(
                    "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'"
                ),
                req_id,
                has_id,
            )
        try:
            return self.engine.execute_obj(request, fds)
        except VirtError:
            return None  # the domain is gone; QEMU would have closed the socket


async def _recv_with_fds(raw: socket.socket) -> tuple[bytes, list[int]]:
    """Receive data plus SCM_RIGHTS descriptors from a non-blocking UNIX socket.

    This waits with ``anyio.wait_readable`` and reads the raw socket itself rather than
    using ``UNIXSocketStream.receive_fds``, whose asyncio implementation can fail with
    InvalidStateError when cancelled just as data arrives.
    """
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(raw, 65536, 16)
        except (BlockingIOError, InterruptedError):
            await anyio.wait_readable(raw)
            continue
        return data, list(fds)


def _looks_incomplete(text: str) -> bool:
    """Whether a JSON decode failure may just be a command cut in the middle."""
    depth = 0
    in_str = False
    escape = False
    for ch in text:
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return depth > 0 or in_str
