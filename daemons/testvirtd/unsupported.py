"""What libvirtd 9.0 answers, with the test driver, to the procedures testvirtd does not serve.

The answers were recorded from the real daemon by ``bench/probe_libvirtd.py`` into
``protocol/libvirtd_answers.json``: for every procedure of the REMOTE, QEMU and LXC programs,
called with well-formed default arguments on a read-write and on a read-only connection to
``test:///default``, the error libvirtd sent back (code, domain, level, message, str1..3,
int1..2).  A procedure testvirtd has no handler for replays the recorded error; without a
recording it says the function is not supported, naming the API, as libvirt does.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from netrpc import Call, ErrorCode, RPCError
from netrpc.program import Declaration

__all__ = ("UnsupportedAnswers", "libvirtd_answers", "recorded_error")

_DATA = Path(__file__).parent / "protocol" / "libvirtd_answers.json"


@cache
def libvirtd_answers() -> dict[str, Any]:
    """The recorded answers: ``{"REMOTE": {"16": {"rw": {...}, "ro": {...}}, ...}, ...}``."""
    try:
        data: dict[str, Any] = json.loads(_DATA.read_text())
    except FileNotFoundError:
        return {}
    return data


def recorded_error(program: str, number: int, readonly: bool) -> dict[str, Any] | None:
    """libvirtd's recorded error for a call, or None when it answered without error."""
    entry = libvirtd_answers().get("programs", {}).get(program, {}).get(str(number))
    if entry is None:
        return None
    answer: dict[str, Any] | None = entry.get("ro" if readonly else "rw")
    if answer is None or "error" not in answer:
        return None
    error: dict[str, Any] = answer["error"]
    return error


def _error(fields: dict[str, Any]) -> RPCError:
    return RPCError(
        fields["code"],
        fields["domain"],
        fields["message"],
        level=fields["level"],
        str1=fields.get("str1"),
        str2=fields.get("str2"),
        str3=fields.get("str3"),
        int1=fields.get("int1", -1),
        int2=fields.get("int2", -1),
    )


class UnsupportedAnswers:
    """Mixin for testvirtd's programs: unhandled procedures answer as libvirtd does."""

    #: the program's name in the recordings ("REMOTE", "QEMU", "LXC")
    answers_key: str = "REMOTE"

    if False:  # pragma: no cover - for type checkers only
        def opened(self, call: Call) -> Any: ...

    def unhandled(self, call: Call, decl: Declaration, args: Any) -> Any:
        st = self._open_state(call)
        fields = recorded_error(self.answers_key, decl.number, bool(st.readonly))
        if fields is not None:
            raise _error(fields)
        raise RPCError.formatted(
            ErrorCode.NO_SUPPORT,
            0,
            "this function is not supported by the connection driver: %s",
            decl.api or decl.name,
        )

    def _open_state(self, call: Call) -> Any:
        remote = getattr(self, "remote", self)
        return remote.opened(call)
