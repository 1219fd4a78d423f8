"""A fake QEMU guest agent (qemu-ga) for the test hypervisor's domains.

:meth:`GuestAgent.execute` returns the agent's raw JSON reply; :meth:`GuestAgent.command`
behaves like libvirt's ``virDomainQemuAgentCommand``: it raises :class:`VirtError` for an
inactive domain or an agent error, and returns the reply text otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from .domxml import ErrDomain, VirtError
from .hypervisor import DomainKey, DomainRef, DomainState, Hypervisor
from .textguard import JSON_NESTING_ERROR, JsonInputError, command_name, dumps_json, loads_json

__all__ = ("AGENT_VERSION", "GuestAgent")

AGENT_VERSION: Final = "7.2.0"

_OSINFO: Final = {
    "name": "Debian GNU/Linux",
    "kernel-release": "6.1.0-18-amd64",
    "version": "12 (bookworm)",
    "pretty-name": "Debian GNU/Linux 12 (bookworm)",
    "version-id": "12",
    "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
    "machine": "x86_64",
    "id": "debian",
}


class GuestAgent:
    """The guest agent of one domain.

    :param hv: the hypervisor owning the domain.
    :param dom: the domain.
    """

    def __init__(self, hv: Hypervisor, dom: DomainKey) -> None:
        self.hv = hv
        self.dom: DomainRef = hv.domains.ref(dom)
        self._commands: dict[str, Callable[[dict[str, Any]], Any]] = {
            "guest-ping": self._ping,
            "guest-sync": self._sync,
            "guest-sync-delimited": self._sync,
            "guest-info": self._info,
            "guest-get-osinfo": self._osinfo,
            "guest-get-host-name": self._host_name,
            "guest-network-get-interfaces": self._interfaces,
        }

    def _check_running(self) -> None:
        # libvirt refuses agent commands unless the domain is running (paused counts as
        # not running), before talking to the agent at all.
        state, _ = self.hv.domains.get_state(self.dom)
        if state != DomainState.RUNNING:
            raise VirtError.invalid(ErrDomain.QEMU, "domain is not running")

    def execute(self, cmd_json: str | bytes) -> str:
        """Run one agent command (JSON text) and return the agent's JSON reply text.

        :raises VirtError: if the domain is not running.
        """
        self._check_running()
        try:
            request = loads_json(cmd_json, "guest agent command")
        except JsonInputError as exc:
            if exc.reason == JSON_NESTING_ERROR:
                return _error("GenericError", exc.reason)
            return _error("GenericError", f"JSON parse error, {exc.reason}")
        if not isinstance(request, dict) or not isinstance(request.get("execute"), str):
            return _error("GenericError", "QMP input lacks member 'execute'")
        name = request["execute"]
        args = request.get("arguments", {})
        if not isinstance(args, dict):
            return _error("GenericError", "QMP input member 'arguments' must be an object")
        handler = self._commands.get(name)
        if handler is None:
            return _error("CommandNotFound", f"The command {name} has not been found")
        try:
            result = handler(args)
        except _AgentError as exc:
            return _error(exc.cls, exc.desc)
        try:
            return dumps_json({"return": result})
        except JsonInputError as exc:
            return _error("GenericError", exc.reason)

    def command(self, cmd_json: str | bytes) -> str:
        """``virDomainQemuAgentCommand`` semantics: errors become :class:`VirtError`."""
        reply = self.execute(cmd_json)
        decoded = json.loads(reply)
        if "error" in decoded:
            name = command_name(cmd_json)
            raise VirtError.internal_error(
                ErrDomain.QEMU,
                f"unable to execute QEMU agent command '{name}': {decoded['error']['desc']}",
            )
        return reply

    # ------------------------------------------------------------------ commands

    def _ping(self, args: dict[str, Any]) -> Any:
        return {}

    def _sync(self, args: dict[str, Any]) -> Any:
        if "id" not in args:
            raise _AgentError("GenericError", "Parameter 'id' is missing")
        if not isinstance(args["id"], int) or isinstance(args["id"], bool):
            raise _AgentError("GenericError", "Invalid parameter type for 'id', expected: integer")
        return args["id"]

    def _info(self, args: dict[str, Any]) -> Any:
        return {
            "version": AGENT_VERSION,
            "supported_commands": [
                {"enabled": True, "name": name, "success-response": True}
                for name in sorted(self._commands)
            ],
        }

    def _osinfo(self, args: dict[str, Any]) -> Any:
        return dict(_OSINFO)

    def _host_name(self, args: dict[str, Any]) -> Any:
        return {"host-name": self.dom.name}

    def _interfaces(self, args: dict[str, Any]) -> Any:
        out: list[dict[str, Any]] = [
            {
                "name": "lo",
                "ip-addresses": [
                    {"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8},
                    {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128},
                ],
                "statistics": _zero_stats(),
                "hardware-address": "00:00:00:00:00:00",
            }
        ]
        macs = self.hv.domains.definition(self.dom).interface_macs()
        for index, mac in enumerate(macs):
            # Addresses from the default network's DHCP range, stable per interface.
            out.append(
                {
                    "name": f"eth{index}",
                    "ip-addresses": [
                        {
                            "ip-address-type": "ipv4",
                            "ip-address": f"192.168.122.{10 + index}",
                            "prefix": 24,
                        },
                    ],
                    "statistics": _zero_stats(),
                    "hardware-address": mac,
                }
            )
        return out


class _AgentError(Exception):
    def __init__(self, cls: str, desc: str) -> None:
        super().__init__(desc)
        self.cls = cls
        self.desc = desc


def _zero_stats() -> dict[str, int]:
    return {
        key: 0
        for key in (
            "tx-packets",
            "tx-errs",
            "rx-bytes",
            "rx-dropped",
            "rx-packets",
            "rx-errs",
            "tx-bytes",
            "tx-dropped",
        )
    }


def _error(cls: str, desc: str) -> str:
    return json.dumps({"error": {"class": cls, "desc": desc}})
