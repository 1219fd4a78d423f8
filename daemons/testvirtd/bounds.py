"""The limits a REMOTE call's counts and sizes must keep, refused as libvirtd 9.0 refuses them.

libvirtd sizes its buffers by the counts and lengths a peer sends (``maxnames``, ``nparams``,
``maplen`` ...), so its dispatcher refuses a value past the protocol's ``REMOTE_..._MAX``
before it allocates anything, and the public API entry points then refuse what the driver
must not see (``virCheckPositiveArgGoto`` and friends).  testvirtd makes the same checks, in
the same order, before a handler builds anything whose size a peer chose: each is one call
of a function here.

* :func:`at_most` / :func:`non_negative`: the dispatcher's checks.  Its hand-written
  handlers report an internal error (``internal error: nparams too large``); the generated
  stubs an RPC error with the bare text (``maxnames > REMOTE_DOMAIN_LIST_MAX``): pass
  ``rpc=True`` for those.
* :func:`encodable`: a reply longer than its array's limit, which libvirtd builds and then
  fails to encode; testvirtd refuses it before building it.
* :func:`arg_positive`, :func:`arg_non_negative`, :func:`arg_non_null`: the API entry
  points' argument checks ("*arg* in *api* must be greater than zero").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from netrpc import RPCError

from . import protocol as P
from .domxml import VirtError

__all__ = (
    "arg_invalid",
    "arg_non_negative",
    "arg_non_null",
    "arg_positive",
    "at_most",
    "encodable",
    "list_max",
    "non_negative",
    "nparams",
    "typed_params_reply",
    "unhandled",
)

#: libvirt's error domain of the public API entry points (VIR_FROM_DOMAIN)
API_DOMAIN = 20


def _refusal(text: str, rpc: bool) -> RPCError:
    return RPCError.rpc(text) if rpc else RPCError.internal(text)


def at_most(value: int, limit: int, text: str, *, rpc: bool = False) -> None:
    """The dispatcher's ``if (value > limit)``: refuse with *text*."""
    if value > limit:
        raise _refusal(text, rpc)


def non_negative(value: int, text: str, *, rpc: bool = False) -> None:
    """The dispatcher's ``if (value < 0)``: refuse with *text*."""
    if value < 0:
        raise _refusal(text, rpc)


def list_max(value: int, limit: int, arg: str, limit_name: str) -> None:
    """The generated stubs' checks of a list's length (``maxnames`` ...): RPC errors."""
    non_negative(value, f"{arg} must be non-negative", rpc=True)
    at_most(value, limit, f"{arg} > {limit_name}", rpc=True)


def nparams(value: int, limit: int) -> None:
    """The checks of the *nparams* a ``virXxxGetParameters``-like call sizes its list by."""
    non_negative(value, "nparams must be non-negative")
    at_most(value, limit, "nparams too large")


def encodable(length: int, limit: int) -> None:
    """A reply array of *length* items, declared ``<limit>``: libvirtd cannot encode more."""
    if length > limit:
        raise RPCError.rpc("Unable to encode message payload")


def arg_positive(value: int, api: str, arg: str, domain: int = API_DOMAIN) -> None:
    """``virCheckPositiveArgGoto``."""
    if value <= 0:
        raise VirtError.bad_argument(api, arg, "must be greater than zero", domain)


def arg_non_negative(value: int, api: str, arg: str, domain: int = API_DOMAIN) -> None:
    """``virCheckNonNegativeArgGoto``."""
    if value < 0:
        raise VirtError.bad_argument(api, arg, "must be zero or greater", domain)


def arg_non_null(present: bool, api: str, arg: str, domain: int = API_DOMAIN) -> None:
    """``virCheckNonNullArgGoto``: libvirtd passes NULL for a buffer of no bytes."""
    if not present:
        raise VirtError.bad_argument(api, arg, "must not be NULL", domain)


def arg_invalid(api: str, arg: str, text: str, domain: int = API_DOMAIN) -> VirtError:
    """``virReportInvalidArg`` with a text of its own."""
    return VirtError.api_invalid_arg(domain, api, arg, text)


def live_or_config(api: str, flags: int) -> None:
    """``VIR_EXCLUSIVE_FLAGS_GOTO`` of an API entry point taking AFFECT_LIVE and _CONFIG."""
    if flags & 3 == 3:
        raise arg_invalid(api, "ctl", "Flags 'VIR_DOMAIN_AFFECT_LIVE' and "
                          "'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive")


#: VIR_TYPED_PARAM_STRING_OKAY
STRING_OKAY = 4
#: the wire tag of a string typed parameter
_STRING = 7


def typed_params_reply(params: list[tuple[str, int, Any]], nparams: int, flags: int
                       ) -> tuple[list[tuple[str, int, Any]], int]:
    """What libvirtd sends back for a ``virXxxGetParameters`` call asking for *nparams* of
    them: (name, type, value) triples (the driver's answer, already cut to that many), the
    string ones only when the caller's *flags* allow them, and the count only when it asked
    for the count."""
    if nparams == 0:
        return [], len(params)
    if not flags & STRING_OKAY:
        params = [p for p in params if p[1] != _STRING]
    return params, 0


#: libvirtd's dispatcher checks of the procedures testvirtd leaves unhandled (see
#: :mod:`.unsupported`): they come before the API's own checks and the driver's refusal
UNHANDLED: Final[dict[str, Callable[[Any], None]]] = {
    "DOMAIN_BLOCK_PEEK": lambda a: at_most(a.size, P.DOMAIN_BLOCK_PEEK_BUFFER_MAX,
                                           "size > maximum buffer size"),
    "DOMAIN_BLOCK_STATS_FLAGS": lambda a: nparams(a.nparams,
                                                  P.DOMAIN_BLOCK_STATS_PARAMETERS_MAX),
    "NODE_GET_MEMORY_STATS": lambda a: nparams(a.nparams, P.NODE_MEMORY_STATS_MAX),
    "NODE_GET_MEMORY_PARAMETERS": lambda a: nparams(a.nparams, P.NODE_MEMORY_PARAMETERS_MAX),
    "CONNECT_LIST_NWFILTERS": lambda a: list_max(a.maxnames, P.NWFILTER_LIST_MAX, "maxnames",
                                                 "REMOTE_NWFILTER_LIST_MAX"),
    "CONNECT_LIST_SECRETS": lambda a: list_max(a.maxuuids, P.SECRET_LIST_MAX, "maxuuids",
                                               "REMOTE_SECRET_LIST_MAX"),
}


def unhandled(name: str, args: Any) -> None:
    """The dispatcher's checks of an unhandled procedure's arguments (if it has any)."""
    check = UNHANDLED.get(name)
    if check is not None:
        check(args)
