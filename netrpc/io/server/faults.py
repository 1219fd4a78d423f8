"""Fault injection: make a server fail on purpose, so that clients can be tested against it.

A :class:`FaultInjector` installed on a :class:`~netrpc.io.server.Server` sees every call after
the dispatcher accepted it, every keepalive PING and every new connection, and applies the
first of its rules that matches.  With no rules the server behaves exactly as without an
injector (the hooks cost one attribute check per call).

Rules are written in one grammar everywhere (command line, control program, Python)::

    PROC:ACTION[,times=N][,probability=P][,seed=S]

``PROC`` is a procedure name (as the daemon's protocol table spells it, e.g.
``DOMAIN_GET_INFO``), a procedure number, or ``*`` for every call of the program; ``ACTION``
is one of

=============================  =============================================================
``error=CODE/DOMAIN/MESSAGE``  answer with this libvirt error (the message runs to the next
                               comma) instead of running the call
``delay=SECONDS``              run the call after SECONDS (other calls go on meanwhile)
``hang``                       never answer (until the rules are cleared: the call then runs)
``drop-before``                close the connection instead of running the call
``drop-after``                 run the call, send its reply, then close the connection
``corrupt``                    run the call and send a reply that cannot be decoded
=============================  =============================================================

Two server-wide targets take the place of ``PROC``: ``keepalive:hang`` leaves keepalive
PINGs unanswered and sends none (what a hung daemon looks like), and ``accept:refuse``
closes new connections as soon as they are accepted (TCP with a reset).  ``times=N``
applies a rule to the next N matches only, ``probability=P`` to each match with probability
P, drawn from a generator seeded with ``seed=S`` when given.  :meth:`FaultInjector.restart`
and :meth:`FaultInjector.disconnect_all` are one-shot actions: drop every connection (and
refuse new ones for a while).

:class:`netrpc.admin.faults.FaultControlProgram` offers all of it as a small RPC program, so
another process (a test runner) can steer a daemon's faults over a socket.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Final, Protocol

import anyio

from ...core.errors import RPCError
from ...core.protocol import Header

__all__ = (
    "CORRUPT_ERROR_PAYLOAD",
    "FAULT_GRAMMAR",
    "FaultAction",
    "FaultHost",
    "FaultInjector",
    "FaultRule",
    "FaultRuleError",
    "FaultTarget",
    "ProcedureResolver",
    "parse_rule",
)

log = logging.getLogger("netrpc.faults")

#: Maps a procedure name to its number (None when the name is unknown).
ProcedureResolver = Callable[[str], "int | None"]

#: The rule grammar, for ``--help`` texts.
FAULT_GRAMMAR: Final = (
    "PROC:ACTION[,times=N][,probability=P][,seed=S]; PROC is a procedure name "
    "(DOMAIN_GET_INFO), a number or *; ACTION is error=CODE/DOMAIN/MESSAGE (the message runs "
    "to the next comma), delay=SECONDS, hang, drop-before, drop-after or corrupt.  "
    "Server-wide: keepalive:hang (PINGs go unanswered) and accept:refuse (new connections "
    "are closed at once)"
)

#: The payload of a ``corrupt`` reply: status ERROR with a ``remote_error`` cut short after
#: its code, so that no client can decode it (libvirt reports "Unable to decode message
#: payload") whatever the procedure returns.
CORRUPT_ERROR_PAYLOAD: Final = b"\x00\x00\x00\x01\xff\xff"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_PROCEDURE = 0x7FFFFFFF


class FaultRuleError(ValueError):
    """A rule that does not follow the grammar; the message names the rule and the problem."""


class FaultTarget(enum.Enum):
    """What a rule applies to."""

    CALL = "call"  #: calls of the program (by procedure, or all)
    KEEPALIVE = "keepalive"  #: keepalive PINGs
    ACCEPT = "accept"  #: new connections


class FaultAction(enum.Enum):
    """What a rule does when it fires."""

    ERROR = "error"
    DELAY = "delay"
    HANG = "hang"
    DROP_BEFORE = "drop-before"
    DROP_AFTER = "drop-after"
    CORRUPT = "corrupt"
    REFUSE = "refuse"


_ALLOWED: Final = {
    FaultTarget.CALL: (
        FaultAction.ERROR,
        FaultAction.DELAY,
        FaultAction.HANG,
        FaultAction.DROP_BEFORE,
        FaultAction.DROP_AFTER,
        FaultAction.CORRUPT,
    ),
    FaultTarget.KEEPALIVE: (FaultAction.HANG,),
    FaultTarget.ACCEPT: (FaultAction.REFUSE,),
}


@dataclasses.dataclass(eq=False)
class FaultRule:
    """One parsed rule.  :attr:`times` counts down as the rule fires.

    :ivar text: the rule in canonical form (what logs and listings show).
    :ivar target: calls, keepalive or new connections.
    :ivar procedure: the procedure number (None: every call).
    :ivar action: what happens.
    :ivar error: the error sent by ``error=``.
    :ivar delay: seconds of ``delay=``.
    :ivar times: matches left before the rule goes away (None: until cleared).
    :ivar probability: chance that a match fires.
    :ivar seed: seed of the rule's random generator (None: unpredictable).
    :ivar fired: how often the rule fired so far.
    """

    text: str
    target: FaultTarget
    procedure: int | None
    action: FaultAction
    error: RPCError | None = None
    delay: float = 0.0
    times: int | None = None
    probability: float = 1.0
    seed: int | None = None
    fired: int = 0
    _random: random.Random = dataclasses.field(default_factory=random.Random, repr=False)

    def matches(self, procedure: int) -> bool:
        """True when this is a call rule for *procedure* (or for every procedure)."""
        return self.target is FaultTarget.CALL and (
            self.procedure is None or self.procedure == procedure
        )

    def draw(self) -> bool:
        """Decide whether a match fires (always, unless a probability is set)."""
        return self.probability >= 1.0 or self._random.random() < self.probability


def parse_rule(text: str, *, resolve: ProcedureResolver | None = None) -> FaultRule:
    """Parse one rule (see the module documentation for the grammar).

    :param resolve: turns procedure names into numbers; without it only numbers and ``*``
        are accepted.
    :raises FaultRuleError: naming the rule and what is wrong with it.
    """

    def bad(problem: str) -> FaultRuleError:
        return FaultRuleError(f"bad fault rule {text!r}: {problem}")

    spec = text.strip()
    head, sep, rest = spec.partition(":")
    if not sep or not head.strip() or not rest.strip():
        raise bad("expected PROC:ACTION")
    head = head.strip()
    target = FaultTarget.CALL
    number: int | None = None
    label = head
    if head == "*":
        pass
    elif head.isdigit():
        number = int(head)
        if number > _MAX_PROCEDURE:
            raise bad(f"procedure number {head} is out of range")
        label = str(number)
    elif head.lower() in ("keepalive", "accept"):
        target = FaultTarget(head.lower())
        label = head.lower()
    elif _NAME.fullmatch(head):
        name = head.upper()
        if name.startswith("REMOTE_PROC_"):
            name = name[len("REMOTE_PROC_") :]
        if resolve is None:
            raise bad(f"procedure {head} cannot be looked up here: give its number")
        number = resolve(name)
        if number is None:
            raise bad(f"unknown procedure {head}")
        label = name
    else:
        raise bad(f"{head!r} is not a procedure name, number or *")

    action_text, *options = rest.split(",")
    action_name, has_value, value = action_text.strip().partition("=")
    action_name = action_name.strip().lower()
    try:
        action = FaultAction(action_name)
    except ValueError:
        raise bad(
            f"unknown action {action_name!r} (want error=CODE/DOMAIN/MESSAGE, delay=SECONDS, "
            "hang, drop-before, drop-after or corrupt)"
        ) from None
    if action not in _ALLOWED[target]:
        names = [a.value for a in _ALLOWED[target]]
        allowed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        raise bad(f"{label} takes {allowed}, not {action.value}")
    rule = FaultRule(text="", target=target, procedure=number, action=action)
    canonical = f"{label}:{action.value}"
    if action is FaultAction.ERROR:
        if not has_value:
            raise bad("error needs =CODE/DOMAIN/MESSAGE")
        parts = value.split("/", 2)
        if len(parts) != 3:
            raise bad("error needs =CODE/DOMAIN/MESSAGE")
        try:
            code, domain = int(parts[0]), int(parts[1])
        except ValueError:
            raise bad("the error code and domain must be integers") from None
        message = parts[2]
        rule.error = RPCError(code, domain, message, str1="%s", str2=message)
        canonical += f"={code}/{domain}/{message}"
    elif action is FaultAction.DELAY:
        try:
            delay = float(value) if has_value else math.nan
        except ValueError:
            delay = math.nan
        if not math.isfinite(delay) or delay < 0:
            raise bad("delay needs =SECONDS (a number >= 0)")
        rule.delay = delay
        canonical += f"={value.strip()}"
    elif has_value:
        raise bad(f"{action.value} takes no value")

    seen: set[str] = set()
    for option in options:
        key, has_eq, raw = option.partition("=")
        key = key.strip().lower()
        raw = raw.strip()
        if key not in ("times", "probability", "seed") or not has_eq:
            raise bad(f"unknown option {option.strip()!r} (want times=N, probability=P, seed=S)")
        if key in seen:
            raise bad(f"{key} given twice")
        seen.add(key)
        if key == "times":
            if not raw.isdigit() or int(raw) < 1:
                raise bad("times needs a whole number >= 1")
            rule.times = int(raw)
        elif key == "probability":
            try:
                p = float(raw)
            except ValueError:
                p = math.nan
            if not 0.0 < p <= 1.0:
                raise bad("probability needs a number in (0, 1]")
            rule.probability = p
        else:
            try:
                rule.seed = int(raw)
            except ValueError:
                raise bad("seed needs an integer") from None
    if rule.times is not None:
        canonical += f",times={rule.times}"
    if rule.probability < 1.0:
        canonical += f",probability={rule.probability:g}"
    if rule.seed is not None:
        canonical += f",seed={rule.seed}"
        rule._random = random.Random(rule.seed)
    rule.text = canonical
    return rule


class _Closable(Protocol):
    def close(self, reason: str) -> None: ...


class FaultHost(Protocol):
    """What an injector needs of the server it is installed on (a :class:`~netrpc.Server`)."""

    #: the installed injector
    faults: FaultInjector | None

    @property
    def clients(self) -> Mapping[int, _Closable]:
        """The connected clients by id."""
        ...


class FaultInjector:
    """The rules of one server, and the server-wide one-shot faults.

    Creating it with a *server* installs it there (``server.faults``).

    :param server: the server whose calls, keepalives and connections it sees.
    :param program: apply call rules to this program number only (None: every program).
    :param resolve: procedure names → numbers, for rules given by name.
    """

    def __init__(
        self,
        server: FaultHost | None = None,
        *,
        program: int | None = None,
        resolve: ProcedureResolver | None = None,
    ) -> None:
        self.program = program
        self.resolve = resolve
        #: active rules, in the order they were added (the first match wins)
        self.rules: list[FaultRule] = []
        self._server = server
        self._released: anyio.Event | None = None
        self._refuse_until = 0.0
        if server is not None:
            server.faults = self

    @property
    def server(self) -> FaultHost | None:
        """The server the injector is installed on."""
        return self._server

    # ------------------------------------------------------------------ rules

    def parse(self, text: str) -> FaultRule:
        """Parse *text* with this injector's procedure names.

        :raises FaultRuleError: see :func:`parse_rule`.
        """
        return parse_rule(text, resolve=self.resolve)

    def add(self, rule: str | FaultRule) -> FaultRule:
        """Add a rule (text or parsed); it applies from the next call on.

        :raises FaultRuleError: for bad rule text.
        """
        if isinstance(rule, str):
            rule = self.parse(rule)
        self.rules.append(rule)
        log.warning("fault rule added: %s", rule.text)
        return rule

    def clear(self) -> int:
        """Remove every rule and let hung calls run; returns how many rules there were.

        Afterwards the server behaves exactly as without an injector (a refusal window
        opened by :meth:`restart` is closed too).
        """
        count = len(self.rules)
        self.rules.clear()
        self._refuse_until = 0.0
        if self._released is not None:
            self._released.set()
            self._released = None
        log.warning("fault rules cleared (%d removed)", count)
        return count

    def _fire(self, rule: FaultRule) -> bool:
        if not rule.draw():
            return False
        rule.fired += 1
        if rule.times is not None:
            rule.times -= 1
            if rule.times <= 0:
                self.rules.remove(rule)
                log.warning("fault rule used up: %s", rule.text)
        return True

    # ------------------------------------------------------------------ hooks

    def match_call(self, header: Header, client_id: int = 0) -> FaultRule | None:
        """The rule that fires for this call, if any (consumes one of its ``times``)."""
        if self.program is not None and header.program != self.program:
            return None
        for rule in self.rules:
            if rule.matches(header.procedure) and self._fire(rule):
                log.info(
                    "fault %s fires on procedure %d (serial %d, client %d)",
                    rule.text,
                    header.procedure,
                    header.serial,
                    client_id,
                )
                return rule
        return None

    def keepalive_filter(self, kind: str) -> bool:
        """Connection hook: False to swallow a keepalive message.

        *kind* is ``"pong"`` for the answer to a peer's PING (a ``keepalive:hang`` rule
        fires on it) or ``"ping"`` for a PING the server wants to send (none is sent while
        such a rule exists, since any message would keep the peer's timer alive).
        """
        for rule in self.rules:
            if rule.target is FaultTarget.KEEPALIVE:
                if kind == "ping":
                    return False
                if self._fire(rule):
                    log.info("fault %s: PING left unanswered", rule.text)
                    return False
        return True

    def refuse_connection(self) -> bool:
        """Accept hook: True to close a new connection at once."""
        if self._refuse_until and time.monotonic() < self._refuse_until:
            log.info("refusing a connection: the server is restarting")
            return True
        for rule in self.rules:
            if rule.target is FaultTarget.ACCEPT and self._fire(rule):
                log.info("fault %s: connection refused", rule.text)
                return True
        return False

    async def wait_released(self) -> None:
        """Wait until the rules are cleared (what a ``hang`` fault does)."""
        if self._released is None:
            self._released = anyio.Event()
        await self._released.wait()

    # ------------------------------------------------------------------ one-shot faults

    def disconnect_all(self, reason: str = "closed by fault injection") -> int:
        """Close every connection of the server at once; returns how many."""
        if self._server is None:
            return 0
        clients = list(self._server.clients.values())
        for client in clients:
            client.close(reason)
        log.warning("fault: closed %d connections", len(clients))
        return len(clients)

    def restart(self, downtime: float = 0.0) -> int:
        """Behave like a daemon restart that keeps its state: drop every connection and
        refuse new ones for *downtime* seconds.  Returns how many connections were closed."""
        count = self.disconnect_all("daemon restart")
        self._refuse_until = time.monotonic() + downtime if downtime > 0 else 0.0
        log.warning("fault: restart (%d connections closed, down for %.3g s)", count, downtime)
        return count
