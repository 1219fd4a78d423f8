"""libvirt's QEMU program (0x20008087 v1): what ``virsh qemu-monitor-command``,
``qemu-monitor-event`` and ``qemu-agent-command`` (and go-qemu's libvirt monitor) use.

=====  ==========================================  ==========================================
proc   name                                        testvirtd
=====  ==========================================  ==========================================
1      DOMAIN_MONITOR_COMMAND                      QMP on the domain's fake monitor
                                                   (:class:`~daemons.testvirtd.qmp.QmpEngine`);
                                                   HMP with ``VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP``
2      DOMAIN_ATTACH                               not provided ("unknown procedure")
3      DOMAIN_AGENT_COMMAND                        the fake guest agent
                                                   (:class:`~daemons.testvirtd.agent.GuestAgent`)
4, 5   CONNECT_DOMAIN_MONITOR_EVENT_(DE)REGISTER   QMP event subscriptions
6      DOMAIN_MONITOR_EVENT                        (server → client) one QMP event
=====  ==========================================  ==========================================

Replies are formatted as libvirt's QEMU driver formats them: compact JSON, with libvirt's
own ``"id": "libvirt-N"`` added to monitor commands that carry none.  The program shares the
REMOTE program's per-connection state: the connection must be open, and read-only connections
may neither send commands nor register for events (as libvirt's API refuses them).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

import anyio.from_thread

from netrpc import Call, ErrorCode, ErrorDomain, Procedure, Program, RPCError
from netrpc.core import xdr

from . import safe_regex
from .agent import GuestAgent
from .connection import ConnectionState, in_event_loop, readonly_refusal
from .domains.procedures import dom_ref, wire_dom
from .domxml import ErrDomain, VirtError
from .fdpass import QemuFdProcedures
from .hypervisor import DomainEventType, DomainLifecycleEvent, DomainState, Event, MonitorEvent
from .parity import QEMU_EXTENSION, differs
from .protocol import QEMU_PROCS
from .qmp import QmpEngine
from .remote import RemoteProgram
from .remote_types import (
    QEMU_PROGRAM,
    STRING_MAX,
    DomainMonitorCommandArgs,
    DomainMonitorCommandRet,
    NonnullDomain,
)
from .textguard import JSON_NESTING_ERROR, JsonInputError, command_name, loads_json
from .unsupported import UnsupportedAnswers

__all__ = (
    "DomainAgentCommandArgs",
    "DomainAgentCommandRet",
    "MonitorEventDeregisterArgs",
    "MonitorEventMsg",
    "MonitorEventRegisterArgs",
    "MonitorEventRegisterRet",
    "QemuProc",
    "QemuProgram",
)

log = logging.getLogger("testvirtd.qemu")

#: VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP
MONITOR_COMMAND_HMP: Final = 1
#: VIR_CONNECT_DOMAIN_QEMU_MONITOR_EVENT_REGISTER_REGEX / _NOCASE
EVENT_REGISTER_REGEX: Final = 1
EVENT_REGISTER_NOCASE: Final = 2
#: VIR_DOMAIN_QEMU_AGENT_COMMAND_MIN (-2: block), _DEFAULT is -1 and _NOWAIT 0
AGENT_COMMAND_MIN: Final = -2
#: event names whose match result a regex registration remembers
_SEEN_NAMES: Final = 256

_String = Annotated[str, xdr.String(STRING_MAX)]


class QemuProc:
    """QEMU program procedure numbers."""

    DOMAIN_MONITOR_COMMAND: Final = 1
    DOMAIN_ATTACH: Final = 2
    DOMAIN_AGENT_COMMAND: Final = 3
    CONNECT_DOMAIN_MONITOR_EVENT_REGISTER: Final = 4
    CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER: Final = 5
    DOMAIN_MONITOR_EVENT: Final = 6


# ------------------------------------------------------------------------------ XDR types


@xdr.struct
class DomainAgentCommandArgs:
    """qemu_domain_agent_command_args."""

    dom: NonnullDomain
    cmd: _String
    timeout: xdr.Int
    flags: xdr.UInt


@xdr.struct
class DomainAgentCommandRet:
    """qemu_domain_agent_command_ret (``remote_string result``)."""

    result: Annotated[str | None, xdr.Optional(xdr.String(STRING_MAX))]


@xdr.struct
class MonitorEventRegisterArgs:
    """qemu_connect_domain_monitor_event_register_args."""

    dom: Annotated[NonnullDomain | None, xdr.Optional(NonnullDomain)]
    event: Annotated[str | None, xdr.Optional(xdr.String(STRING_MAX))]
    flags: xdr.UInt


@xdr.struct
class MonitorEventRegisterRet:
    """qemu_connect_domain_monitor_event_register_ret."""

    callback_id: xdr.Int


@xdr.struct
class MonitorEventDeregisterArgs:
    """qemu_connect_domain_monitor_event_deregister_args."""

    callback_id: xdr.Int


@xdr.struct
class MonitorEventMsg:
    """qemu_domain_monitor_event_msg."""

    callback_id: xdr.Int
    dom: NonnullDomain
    event: _String
    seconds: xdr.Hyper
    micros: xdr.UInt
    details: Annotated[str | None, xdr.Optional(xdr.String(STRING_MAX))]


_EVENT_CODEC: Final = xdr.codec_for(MonitorEventMsg)


# ------------------------------------------------------------------------------ helpers


def _compact(value: Any) -> str:
    """JSON as libvirt's ``virJSONValueToString(value, false)`` writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _parse_json(text: str, what: str) -> Any:
    """Parse client JSON as libvirt does before anything reaches QEMU or the agent.

    :raises JsonInputError: for JSON nested deeper than can be decoded, which libvirt would
        pass on for QEMU (or the agent) to refuse.
    :raises RPCError: libvirt's "cannot parse json" for anything else it cannot parse.
    """
    try:
        return loads_json(text, what)
    except JsonInputError as exc:
        if exc.reason == JSON_NESTING_ERROR:
            raise
        raise RPCError.formatted(
            ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE, "internal error: %s",
            f"cannot parse json {text}: {exc.reason}",
        ) from None


def _qemu_refusal(reason: str) -> str:
    """QEMU's reply to a command it could not read (without an id: it never saw one)."""
    return _compact({"error": {"class": "GenericError", "desc": reason}})


def _bad_flags(function: str, flags: int, domain: int) -> RPCError:
    return RPCError(
        ErrorCode.INVALID_ARG, domain, f"unsupported flags (0x{flags:x}) in function {function}",
        str1=function, str2="flags", int1=0,
    )


def _not_running(domain: int) -> VirtError:
    return VirtError.invalid(domain, "domain is not running")


@dataclass(eq=False)
class _MonitorRegistration:
    client: Any
    uuid: bytes | None
    event: str | None
    flags: int
    regex: safe_regex.Pattern | None
    #: what the pattern said about the event names seen so far (QMP has a few dozen)
    seen: dict[str, bool] = field(default_factory=dict)

    def matches(self, event: MonitorEvent) -> bool:
        """libvirt's filter: domain, then regex search, case-insensitive or exact name."""
        if self.uuid is not None and event.dom.uuid != self.uuid:
            return False
        if self.event is None:
            return True
        if self.regex is not None:
            found = self.seen.get(event.event)
            if found is None:
                found = self.regex.search(event.event)
                if len(self.seen) < _SEEN_NAMES:
                    self.seen[event.event] = found
            return found
        if self.flags & EVENT_REGISTER_NOCASE:
            return event.event.lower() == self.event.lower()
        return event.event == self.event


# ------------------------------------------------------------------------------ the program


class QemuProgram(UnsupportedAnswers, QemuFdProcedures, Program):
    """The QEMU program, for the domains of *remote*'s hypervisor."""

    number = QEMU_PROGRAM
    version = 1
    declarations = QEMU_PROCS
    inline_by_default = True
    answers_key = "QEMU"

    def __init__(self, remote: RemoteProgram) -> None:
        self.remote = remote
        self.hv = remote.hv
        self._engines: dict[bytes, QmpEngine] = {}
        self._agents: dict[bytes, GuestAgent] = {}
        self._command_ids: dict[bytes, int] = {}
        self._registrations: dict[int, _MonitorRegistration] = {}
        remote.drop_hooks.append(self._drop_client)
        self._token: int | None = self.hv.subscribe(self._on_event)

    def readonly_error(self, proc: Procedure[Any, Any]) -> RPCError:
        return readonly_refusal(proc.name)

    def _on_shared(self, st: ConnectionState, api: str) -> ConnectionState:
        """*st*, if its connection has the shared instance open: a node file's instance is
        libvirt's test driver, which has no QEMU monitor."""
        if st.driver is not self.hv:
            raise VirtError.no_support(ErrDomain.TEST, api)
        return st

    def engine(self, uuid: bytes) -> QmpEngine:
        """The monitor of the domain with *uuid* (created on first use)."""
        engine = self._engines.get(uuid)
        if engine is None:
            engine = self._engines[uuid] = QmpEngine(self.hv, uuid)
        return engine

    def agent(self, uuid: bytes) -> GuestAgent:
        """The guest agent of the domain with *uuid* (created on first use)."""
        agent = self._agents.get(uuid)
        if agent is None:
            agent = self._agents[uuid] = GuestAgent(self.hv, uuid)
        return agent

    def close(self) -> None:
        """Stop listening to events; close every monitor (and the descriptors it holds)."""
        if self._token is not None:
            self.hv.unsubscribe(self._token)
            self._token = None
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()

    def reset(self) -> None:
        """Forget monitors, agents and registrations (the hypervisor was reset)."""
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
        self._agents.clear()
        self._command_ids.clear()
        self._registrations.clear()

    # -------------------------------------------------------------- registrations

    def _client_ids(self, client: Any) -> set[int]:
        ids = client.private.get(QemuProgram)
        if isinstance(ids, set):
            return ids
        fresh: set[int] = set()
        client.private[QemuProgram] = fresh
        return fresh

    def _drop_client(self, client: Any, st: ConnectionState | None = None) -> None:
        ids = client.private.get(QemuProgram)
        if isinstance(ids, set):
            for cb_id in ids:
                self._registrations.pop(cb_id, None)
            ids.clear()

    def client_closed(self, client: Any) -> None:
        self._drop_client(client)

    def registrations(self) -> dict[int, tuple[bytes | None, str | None, int]]:
        """Current monitor event registrations: callback id → (uuid, event, flags)."""
        return {k: (r.uuid, r.event, r.flags) for k, r in self._registrations.items()}

    # -------------------------------------------------------------- events

    def _on_event(self, event: Event) -> None:
        if isinstance(event, DomainLifecycleEvent):
            self._domain_changed(event)
            return
        if not isinstance(event, MonitorEvent):
            return
        if in_event_loop():
            self.deliver(event)
            return
        try:
            anyio.from_thread.run_sync(self.deliver, event)
        except RuntimeError:
            log.warning("dropping QMP event %s raised outside the event loop", event.event)

    def _domain_changed(self, event: DomainLifecycleEvent) -> None:
        """When a domain stops, its QEMU would exit: the descriptors its monitor holds
        (``getfd``, ``add-fd``, those passed at creation) are closed; an undefined domain's
        agent and command counter go too."""
        uuid = event.dom.uuid
        if event.event in (DomainEventType.STOPPED, DomainEventType.UNDEFINED):
            engine = self._engines.pop(uuid, None)
            if engine is not None:
                engine.close()
        if event.event == DomainEventType.UNDEFINED:
            self._agents.pop(uuid, None)
            self._command_ids.pop(uuid, None)

    def deliver(self, event: MonitorEvent) -> None:
        """Send *event* as DOMAIN_MONITOR_EVENT to every matching registration."""
        details = None if event.data is None else _compact(event.data)
        dom = wire_dom(event.dom)
        for cb_id, reg in sorted(self._registrations.items()):
            if not reg.matches(event):
                continue
            msg = MonitorEventMsg(cb_id, dom, event.event, event.seconds, event.microseconds,
                                  details)
            reg.client.send_event(self.number, self.version, QemuProc.DOMAIN_MONITOR_EVENT,
                                  _EVENT_CODEC.encode(msg))

    # -------------------------------------------------------------- procedures

    @differs(QEMU_EXTENSION)
    def domain_monitor_command(
        self, call: Call, args: DomainMonitorCommandArgs
    ) -> DomainMonitorCommandRet:
        self._on_shared(self.remote.writable(call, "virDomainQemuMonitorCommand"),
                        "virDomainQemuMonitorCommand")
        if args.flags & ~MONITOR_COMMAND_HMP:
            raise _bad_flags("qemuDomainQemuMonitorCommandWithFiles", args.flags,
                             ErrDomain.QEMU)
        ref = self.hv.domains.ref(dom_ref(args.dom))
        if not self.hv.domains.is_active(ref):
            raise _not_running(ErrDomain.DOMAIN)
        engine = self.engine(ref.uuid)
        if args.flags & MONITOR_COMMAND_HMP:
            result = engine.hmp(args.cmd)
        else:
            result = self.monitor_json(ref.uuid, args.cmd, [])
        self.remote.changed(call)
        return DomainMonitorCommandRet(result)

    def monitor_json(self, uuid: bytes, text: str, fds: list[int]) -> str:
        """Run the QMP command *text* on the monitor of domain *uuid* as libvirt runs it:
        parsed first (libvirt's errors), given libvirt's own id unless it has one, and
        answered in compact JSON.  Descriptors the command keeps are taken from *fds*."""
        try:
            request = _parse_json(text, "QEMU monitor command")
        except JsonInputError as exc:
            return _qemu_refusal(exc.reason)  # libvirt passes it on; QEMU refuses it
        if isinstance(request, dict) and "execute" in request and "id" not in request:
            n = self._command_ids.get(uuid, 0) + 1
            self._command_ids[uuid] = n
            request["id"] = f"libvirt-{n}"
        try:
            return _compact(json.loads(self.engine(uuid).execute_obj(request, fds)))
        except (RecursionError, JsonInputError):  # an id nested too deep to echo
            return _qemu_refusal(JSON_NESTING_ERROR)

    @differs(QEMU_EXTENSION)
    def domain_agent_command(
        self, call: Call, args: DomainAgentCommandArgs
    ) -> DomainAgentCommandRet:
        self._on_shared(self.remote.writable(call, "virDomainQemuAgentCommand"),
                        "virDomainQemuAgentCommand")
        if args.flags:
            raise _bad_flags("qemuDomainQemuAgentCommand", args.flags, ErrDomain.QEMU)
        ref = self.hv.domains.ref(dom_ref(args.dom))
        state, _ = self.hv.domains.get_state(ref)
        if state == DomainState.SHUTOFF or not self.hv.domains.is_active(ref):
            raise _not_running(ErrDomain.DOMAIN)
        if state != DomainState.RUNNING:
            raise _not_running(ErrDomain.QEMU)  # the agent cannot answer a paused guest
        if args.timeout < AGENT_COMMAND_MIN:
            raise RPCError.formatted(
                ErrorCode.INVALID_ARG, ErrDomain.QEMU, "invalid argument: %s",
                f"guest agent timeout '{args.timeout}' is less than the minimum "
                f"'{AGENT_COMMAND_MIN}'",
            )
        try:
            _parse_json(args.cmd, "guest agent command")
        except JsonInputError as exc:  # libvirt passes it on; the agent refuses it
            raise VirtError.internal_error(
                ErrDomain.QEMU,
                f"unable to execute QEMU agent command '{command_name(args.cmd)}': {exc.reason}",
            ) from None
        reply = self.agent(ref.uuid).command(args.cmd)
        return DomainAgentCommandRet(_compact(json.loads(reply)))

    @differs(QEMU_EXTENSION)
    def connect_domain_monitor_event_register(
        self, call: Call, args: MonitorEventRegisterArgs
    ) -> MonitorEventRegisterRet:
        st = self._on_shared(self.remote.opened(call), "virConnectDomainQemuMonitorEventRegister")
        if st.readonly:
            # libvirt's API refuses any registration on a read-only connection
            raise readonly_refusal("virConnectDomainQemuMonitorEventRegister")
        flags = args.flags
        if flags & ~(EVENT_REGISTER_REGEX | EVENT_REGISTER_NOCASE):
            raise _bad_flags("virDomainQemuMonitorEventStateRegisterID", flags,
                             ErrorDomain.NONE)
        regex = None
        if args.event is not None and flags & EVENT_REGISTER_REGEX:
            # libvirt compiles it with GLib's g_regex_new (PCRE); testvirtd matches it in
            # bounded time whatever it is (see safe_regex)
            try:
                regex = safe_regex.compile(args.event, icase=bool(flags & EVENT_REGISTER_NOCASE))
            except safe_regex.RegexError as exc:
                log.warning("refused monitor event pattern %r: %s", args.event[:80], exc)
                raise RPCError.formatted(
                    ErrorCode.INVALID_ARG, ErrorDomain.NONE, "invalid argument: %s",
                    f"failed to compile regex '{args.event}': {exc}",
                ) from None
        uuid = bytes(args.dom.uuid) if args.dom is not None else None
        cb_id = self.remote.new_callback_id()
        self._registrations[cb_id] = _MonitorRegistration(
            call.client, uuid, args.event, flags, regex
        )
        self._client_ids(call.client).add(cb_id)
        return MonitorEventRegisterRet(cb_id)

    def connect_domain_monitor_event_deregister(
        self, call: Call, args: MonitorEventDeregisterArgs
    ) -> None:
        self.remote.opened(call)
        ids = self._client_ids(call.client)
        if args.callback_id not in ids:
            raise RPCError.internal(
                f"qemu monitor event callback {args.callback_id} not registered"
            )
        ids.discard(args.callback_id)
        self._registrations.pop(args.callback_id, None)
