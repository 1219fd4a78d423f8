"""The fault control program: steer a server's :class:`~netrpc.io.server.faults.FaultInjector`
over RPC, so that another process (a test runner) can make a daemon fail on purpose.

:class:`FaultControlProgram` is served on an admin-only socket; :class:`FaultControl` is its
client over a connected :class:`~netrpc.Client`.  The rule grammar is that of
:mod:`netrpc.io.server.faults`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Final

from ..core import xdr
from ..core.errors import ErrorCode, ErrorDomain, RPCError
from ..core.program import Call, Program, procedure
from ..io.client import Client
from ..io.server.faults import FaultInjector, FaultRuleError

__all__ = (
    "FAULT_PROGRAM",
    "CountRet",
    "FaultControl",
    "FaultControlProgram",
    "RestartArgs",
    "RuleArgs",
    "RuleListRet",
)

#: Program number of :class:`FaultControlProgram` ("nrpf" in ASCII).
FAULT_PROGRAM: Final = 0x6E727066

_RULE_MAX = 4096
_RULES_MAX = 1024


@xdr.struct
class RuleArgs:
    """A rule in text form."""

    rule: Annotated[str, xdr.String(_RULE_MAX)]


@xdr.struct
class RuleListRet:
    """The active rules."""

    rules: Annotated[list[str], xdr.Array(xdr.String(_RULE_MAX), _RULES_MAX)]


@xdr.struct
class CountRet:
    """How many things an operation touched."""

    count: xdr.UInt


@xdr.struct
class RestartArgs:
    """How long a restart refuses new connections."""

    downtime_ms: xdr.UInt


class FaultControlProgram(Program):
    """Steer a :class:`FaultInjector` over RPC (serve it on an admin-only socket).

    :param injector: the injector to steer.
    :param reset: what ``RESET`` does (e.g. give the daemon fresh state; may be async);
        without it
        ``RESET`` answers "this function is not supported".
    """

    number = FAULT_PROGRAM
    version = 1

    def __init__(
        self, injector: FaultInjector, *, reset: Callable[[], Any] | None = None
    ) -> None:
        self.injector = injector
        self.reset_hook = reset

    @procedure(1, args=RuleArgs, ret=RuleArgs, inline=True)
    def add(self, call: Call, args: RuleArgs) -> RuleArgs:
        """Add a rule; returns it in canonical form."""
        try:
            rule = self.injector.add(args.rule)
        except FaultRuleError as exc:
            raise RPCError.formatted(
                ErrorCode.INVALID_ARG, ErrorDomain.RPC, "invalid argument: %s", str(exc)
            ) from None
        return RuleArgs(rule.text)

    @procedure(2, ret=CountRet, inline=True)
    def clear(self, call: Call, args: None) -> CountRet:
        """Remove every rule."""
        return CountRet(self.injector.clear())

    @procedure(3, ret=RuleListRet, inline=True)
    def list_rules(self, call: Call, args: None) -> RuleListRet:
        """The active rules, in canonical form."""
        return RuleListRet([rule.text for rule in self.injector.rules])

    @procedure(4, ret=CountRet, inline=True)
    def disconnect_all(self, call: Call, args: None) -> CountRet:
        """Close every connection of the injector's server."""
        return CountRet(self.injector.disconnect_all())

    @procedure(5, args=RestartArgs, ret=CountRet, inline=True)
    def restart(self, call: Call, args: RestartArgs) -> CountRet:
        """Drop every connection and refuse new ones for the given time."""
        return CountRet(self.injector.restart(args.downtime_ms / 1000.0))

    @procedure(6)
    async def reset(self, call: Call, args: None) -> None:
        """Run the reset hook (the daemon's fresh state); answers once it is done."""
        if self.reset_hook is None:
            raise RPCError.formatted(
                ErrorCode.NO_SUPPORT,
                ErrorDomain.RPC,
                "this function is not supported by the connection driver: %s",
                "reset",
            )
        result = self.reset_hook()
        if inspect.isawaitable(result):
            await result


class FaultControl:
    """Client side of :class:`FaultControlProgram` over a connected :class:`Client`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def add(self, rule: str) -> str:
        """Add *rule*; returns its canonical form.

        :raises RPCError: code 8 (invalid argument) for a bad rule.
        """
        ret: RuleArgs = await self.client.call_procedure(
            FaultControlProgram, "add", RuleArgs(rule)
        )
        return ret.rule

    async def clear(self) -> int:
        """Remove every rule; returns how many there were."""
        ret: CountRet = await self.client.call_procedure(FaultControlProgram, "clear")
        return ret.count

    async def rules(self) -> list[str]:
        """The active rules."""
        ret: RuleListRet = await self.client.call_procedure(FaultControlProgram, "list_rules")
        return list(ret.rules)

    async def disconnect_all(self) -> int:
        """Close every connection of the server."""
        ret: CountRet = await self.client.call_procedure(FaultControlProgram, "disconnect_all")
        return ret.count

    async def restart(self, downtime: float = 0.0) -> int:
        """Restart (keeping state): drop every connection, refuse new ones for *downtime*."""
        ret: CountRet = await self.client.call_procedure(
            FaultControlProgram, "restart", RestartArgs(round(downtime * 1000))
        )
        return ret.count

    async def reset(self) -> None:
        """Ask the daemon for fresh state."""
        await self.client.call_procedure(FaultControlProgram, "reset")
