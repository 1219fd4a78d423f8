"""Fault injection in testvirtd: how rules name REMOTE procedures.

Rules name procedures as remote_protocol.x does without the ``REMOTE_PROC_`` prefix
(``DOMAIN_GET_INFO``); :func:`remote_procedure_number` is the one place that turns such a
name into its number.
"""

from __future__ import annotations

import functools
import re

from .remote import RemoteProgram

__all__ = ("remote_procedure_number",)

# "virDomainCreateXMLWithFiles" -> "Domain_Create_XML_With_Files"
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _wire_name(handler_name: str) -> str:
    if handler_name.startswith("vir"):
        return _CAMEL.sub("_", handler_name[3:]).upper()
    return handler_name.upper()


@functools.cache
def _table() -> dict[str, int]:
    # The procedures testvirtd declares; procedures it does not declare can still be named
    # by number in a rule.
    return {_wire_name(proc.name): number for number, proc in RemoteProgram.procedures.items()}


def remote_procedure_number(name: str) -> int | None:
    """The number of REMOTE procedure *name* (``DOMAIN_GET_INFO`` → 16), or None."""
    return _table().get(name.upper())
