"""Fault injection in testvirtd: how rules name REMOTE procedures.

Rules name procedures as remote_protocol.x does without the ``REMOTE_PROC_`` prefix
(``DOMAIN_GET_INFO``); :func:`remote_procedure_number` is the one place that turns such a
name into its number, from the whole protocol table (every procedure of libvirt 9.0's
REMOTE program, implemented or not).
"""

from __future__ import annotations

__all__ = ("remote_procedure_number",)


def remote_procedure_number(name: str) -> int | None:
    """The number of REMOTE procedure *name* (``DOMAIN_GET_INFO`` → 16), or None."""
    # Imported here: the table is compiled on first use, not when the daemon starts.
    from .protocol import PROCS

    key = name.upper()
    return PROCS[key].number if key in PROCS else None
