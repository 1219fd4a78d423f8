"""What libvirtd 9.0, with the test driver, answers to the procedures testvirtd does not serve.

The answers were recorded from the real daemon by ``bench/probe_libvirtd.py --write`` into
``protocol/libvirtd_answers.json``: every procedure of the REMOTE, QEMU and LXC programs,
called on ``test:///default`` with well-formed default arguments over a read-write and a
read-only connection (and, where libvirt's API entry point refused the default arguments,
once more with arguments that pass those checks: ``rw_filled``/``ro_filled``).

A procedure testvirtd has no handler for answers in libvirtd's order:

1. "hypervisor connection not open" before CONNECT_OPEN;
2. the read-only refusal of the API's entry point ("operation forbidden: read only access
   prevents virXxx"), when libvirtd refused the read-only call;
3. the entry point's argument check, when the argument it names (``nvcpus in
   virDomainSetVcpus must not be zero``) has the value libvirtd refused;
4. the driver's answer: "this function is not supported by the connection driver: virXxx".

Procedures the test driver does implement but testvirtd does not yet get steps 1-3 as
libvirtd, then the same "not supported" answer: a difference the parity table lists.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from netrpc import Call, ErrorCode, RPCError
from netrpc.core import xdrlang
from netrpc.core.program import Declaration

from . import bounds

__all__ = (
    "ANSWERS_PATH",
    "NOT_SUPPORTED",
    "UnsupportedAnswers",
    "answer_for",
    "api_error_domain",
    "driver_implements",
    "is_api_answer",
    "libvirtd_answers",
)

#: where the recorded answers live
ANSWERS_PATH = Path(__file__).parent / "protocol" / "libvirtd_answers.json"
#: the driver's refusal, followed by the API name
NOT_SUPPORTED = "this function is not supported by the connection driver: "
_READONLY = "operation forbidden: read only access prevents "
#: the dispatcher's complaint about a call that came without its descriptor
_NO_FD = "No FD available at slot 0"
_ARG_CHECK = re.compile(r"^(?:string )?(\w+) in (vir\w+) ")
#: API parameter names whose ``.x`` field is named differently
_FIELD_ALIASES = {
    "disk": ("path",),
    "info": ("maxinfo",),
    "npages": ("pages", "pageSizes"),
    "maxCells": ("maxcells",),
    "nparams": ("params",),
}
_MISSING = object()


@cache
def libvirtd_answers() -> dict[str, Any]:
    """The recorded answers: ``{"programs": {"REMOTE": {"16": entry, ...}, ...}, ...}``."""
    try:
        data: dict[str, Any] = json.loads(ANSWERS_PATH.read_text())
    except FileNotFoundError:
        return {}
    return data


def entry_for(program: str, number: int) -> dict[str, Any] | None:
    """The recorded entry of a procedure (None when it was not probed)."""
    entry: dict[str, Any] | None = (
        libvirtd_answers().get("programs", {}).get(program, {}).get(str(number))
    )
    return entry


def driver_implements(entry: dict[str, Any]) -> bool:
    """True when libvirtd's test driver implements the procedure (it did not answer "not
    supported" to arguments that passed the API's checks)."""
    answer = entry.get("rw_filled", entry["rw"])
    error = answer.get("error")
    api = entry.get("api")
    return not (error and api and error.get("message") == NOT_SUPPORTED + api)


def is_api_answer(error: dict[str, Any], api: str | None) -> bool:
    """True for answers libvirt gives before reaching any driver code: the read-only
    refusal, an argument check of the API's entry point, or the driver's absence."""
    if api is None:
        return False
    message = error.get("message") or ""
    code = error.get("code")
    if code == ErrorCode.NO_SUPPORT:
        return message == NOT_SUPPORTED + api
    if code == ErrorCode.OPERATION_DENIED:
        return message == _READONLY + api
    if code == ErrorCode.INVALID_ARG:
        found = _ARG_CHECK.match(message)
        return found is not None and found.group(2) == api
    return False


def _checked_argument_refused(decl: Declaration, args: Any, error: dict[str, Any],
                              call: Call | None) -> bool:
    """Whether the call's arguments fail the same entry-point check as the probe's."""
    found = _ARG_CHECK.match(error.get("message") or "")
    if found is not None:
        name = found.group(1)
        if name == "nfds":
            return not (call.fds if call is not None else [])
        for field in (name, *_FIELD_ALIASES.get(name, ())):
            value = getattr(args, field, _MISSING)
            if value is not _MISSING:
                return not value
    if decl.args is None:
        return True
    return bool(args == xdrlang.default_value(decl.args))


def answer_for(program: str, decl: Declaration, args: Any, readonly: bool,
               call: Call | None = None) -> dict[str, Any] | None:
    """The error libvirtd gives for this call, as far as it does not depend on driver
    state: the read-only refusal, an argument check, or "not supported" (None: the test
    driver would have handled it)."""
    entry = entry_for(program, decl.number)
    if entry is None:
        return None
    first = entry["ro" if readonly else "rw"]
    answer = first
    if "rw_filled" in entry:
        error = first.get("error")
        if error is not None and _NO_FD in (error.get("message") or ""):
            # the dispatcher wants the call's descriptor before anything else
            if not (call.fds if call is not None else []):
                return dict(error)
            refused = False
        else:
            refused = error is not None and error.get("code") == ErrorCode.INVALID_ARG and \
                _checked_argument_refused(decl, args, error, call)
        if not refused:
            answer = entry["ro_filled" if readonly else "rw_filled"]
    error = answer.get("error")
    if error is not None and is_api_answer(error, decl.api):
        return dict(error)
    return None


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

    def unhandled(self, call: Call, decl: Declaration, args: Any) -> Any:
        remote: Any = getattr(self, "remote", self)
        st = remote.opened(call)
        if self.answers_key == "REMOTE":
            bounds.unhandled(decl.name, args)
        fields = answer_for(self.answers_key, decl, args, bool(st.readonly), call)
        if fields is not None:
            raise _error(fields)
        # Not recorded, or implemented by libvirt's test driver but not by testvirtd: the
        # driver's refusal, worded as libvirt words it.
        raise RPCError.formatted(
            ErrorCode.NO_SUPPORT,
            api_error_domain(self.answers_key, decl),
            NOT_SUPPORTED + "%s",
            decl.api or decl.name,
        )


#: the error domain of an API's source file (its VIR_FROM_THIS), by API name prefix
_API_DOMAINS = (
    ("virDomainQemu", 0), ("virConnectDomainQemu", 0), ("virDomainLxc", 0),
    ("virDomainSnapshot", 20), ("virDomainCheckpoint", 20), ("virDomain", 20),
    ("virNetworkPort", 19), ("virNetwork", 19), ("virStorage", 18), ("virNodeDevice", 22),
    ("virSecret", 30), ("virNWFilter", 33), ("virInterface", 26),
)


def api_error_domain(program: str, decl: Declaration) -> int:
    """The error domain libvirt reports the API's own errors in (recorded when possible)."""
    entry = entry_for(program, decl.number)
    if entry is not None:
        for key in ("rw", "ro", "rw_filled", "ro_filled"):
            error = entry.get(key, {}).get("error")
            if error is not None and error.get("code") in (
                ErrorCode.NO_SUPPORT, ErrorCode.OPERATION_DENIED
            ) and is_api_answer(error, decl.api):
                return int(error["domain"])
    api = decl.api or ""
    for prefix, domain in _API_DOMAINS:
        if api.startswith(prefix):
            return domain
    return 0
