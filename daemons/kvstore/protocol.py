"""The kvstore wire protocol: program number, procedure numbers, XDR types and errors.

Everything a client and the daemon must agree on lives here, like a libvirt ``.x`` file:

* program ``0x4E525031`` ("NRP1"), version 1;
* procedures 1-8 (see :class:`Proc`) and one event, ``KEY_CHANGED`` (100), that the daemon
  sends as a MESSAGE to clients that called ``watch``;
* errors in their own domain, :data:`ERROR_DOMAIN` (100), with libvirt's codes where one
  fits and :data:`NO_KEY` (1000) for a missing key.
"""

from __future__ import annotations

import enum
import os
from typing import Annotated, Final
from urllib.parse import urlsplit

from netrpc import ErrorCode
from netrpc.core import xdr

__all__ = (
    "DEFAULT_TCP_PORT",
    "ERROR_DOMAIN",
    "EVENT_KEY_CHANGED",
    "INVALID_ARG",
    "KEY_EVENT_CODEC",
    "KEY_MAX",
    "LIST_MAX",
    "NOT_WATCHING",
    "NO_KEY",
    "PROGRAM",
    "TIMEOUT",
    "VALUE_MAX",
    "VERSION",
    "WAIT_MAX",
    "WATCH_MAX",
    "Address",
    "DeleteRet",
    "EventKind",
    "GetRet",
    "KeyArgs",
    "KeyEvent",
    "ListRet",
    "PrefixArgs",
    "Proc",
    "PutArgs",
    "PutRet",
    "StatsRet",
    "WaitArgs",
    "default_unix_path",
    "parse_address",
)

#: program number: "NRP1" in ASCII.  libvirt's own programs use 0x20008086 (remote),
#: 0x20008087 (qemu), 0x20008088 (lxc) and 0x06900690 (admin); anything else is free.
PROGRAM = 0x4E525031
VERSION = 1


class Proc(enum.IntEnum):
    """Procedure numbers.  Never renumber: add new procedures at the end."""

    PUT = 1  #: put(key, value) -> revision; plain ``def``, runs on a worker thread
    GET = 2  #: get(key) -> value; inline
    DELETE = 3  #: delete(key) -> revision; plain ``def``
    LIST = 4  #: list(prefix) -> keys; inline
    STATS = 5  #: stats() -> counters; inline
    WAIT_FOR_KEY = 6  #: wait_for_key(key, timeout) -> value; ``async def``
    WATCH = 7  #: watch(prefix): start receiving KEY_CHANGED events; inline
    UNWATCH = 8  #: unwatch(prefix); inline


#: event procedure number: events share the procedure number space with calls; they start
#: at 100 so new calls can be numbered 9, 10, ...
EVENT_KEY_CHANGED = 100

#: longest key, in UTF-8 bytes
KEY_MAX = 1024
#: largest value, in bytes
VALUE_MAX = 1024 * 1024
#: most keys one ``list`` call returns (the reply says whether it was truncated)
LIST_MAX = 10_000
#: longest ``wait_for_key`` timeout, in seconds
WAIT_MAX = 3600.0
#: most prefixes one connection may watch
WATCH_MAX = 64

#: error domain of every error kvstore itself raises (libvirt's domains stop below 100)
ERROR_DOMAIN = 100
#: error code: the key does not exist.  Message ``key not found: 'KEY'``.
NO_KEY = 1000
#: error code: an argument is out of range.  Message ``invalid argument: ...`` (libvirt's
#: VIR_ERR_INVALID_ARG).
INVALID_ARG = ErrorCode.INVALID_ARG
#: error code: ``wait_for_key`` timed out (libvirt's VIR_ERR_OPERATION_TIMEOUT).
TIMEOUT = ErrorCode.OPERATION_TIMEOUT
#: error code: ``unwatch`` of a prefix that is not watched (VIR_ERR_OPERATION_INVALID).
NOT_WATCHING = ErrorCode.OPERATION_INVALID

Key = Annotated[str, xdr.String(KEY_MAX)]
Value = Annotated[bytes, xdr.Opaque(VALUE_MAX)]


@xdr.struct
class KeyArgs:
    """Arguments of get and delete."""

    key: Key


@xdr.struct
class PrefixArgs:
    """Arguments of list, watch and unwatch; ``""`` matches every key."""

    prefix: Key


@xdr.struct
class PutArgs:
    key: Key
    value: Value


@xdr.struct
class PutRet:
    #: the store's revision after this put (revisions count every change, from 1)
    revision: xdr.UHyper
    #: True when the key did not exist before
    created: xdr.Bool


@xdr.struct
class GetRet:
    value: Value
    #: revision of the change that wrote this value
    revision: xdr.UHyper


@xdr.struct
class DeleteRet:
    revision: xdr.UHyper


@xdr.struct
class ListRet:
    #: matching keys, sorted
    keys: Annotated[list[str], xdr.Array(xdr.String(KEY_MAX), LIST_MAX)]
    #: True when more than LIST_MAX keys matched
    truncated: xdr.Bool


@xdr.struct
class WaitArgs:
    key: Key
    #: seconds, at most WAIT_MAX
    timeout: xdr.Double


@xdr.struct
class StatsRet:
    keys: xdr.UHyper
    #: total size of the values, in bytes
    size: xdr.UHyper
    revision: xdr.UHyper
    puts: xdr.UHyper
    gets: xdr.UHyper
    deletes: xdr.UHyper
    #: KEY_CHANGED events sent
    events: xdr.UHyper
    #: connections with at least one watch
    watchers: xdr.UInt
    #: wait_for_key calls waiting
    waiters: xdr.UInt
    #: connections to this server
    clients: xdr.UInt
    uptime: xdr.Double


class EventKind(enum.IntEnum):
    PUT = 1
    DELETE = 2


@xdr.struct
class KeyEvent:
    """Payload of a KEY_CHANGED event."""

    kind: EventKind
    key: Key
    #: the new value (empty for DELETE)
    value: Value
    revision: xdr.UHyper


#: the codec of :class:`KeyEvent` (``KeyEvent.xdr``, typed: type checkers do not see the
#: attribute :func:`xdr.struct` adds)
KEY_EVENT_CODEC: Final[xdr.XdrType[KeyEvent]] = xdr.codec_for(KeyEvent)


# ---------------------------------------------------------------------- addresses

#: TCP port of the default ``tcp://127.0.0.1:17100`` listener
DEFAULT_TCP_PORT = 17100


def default_unix_path() -> str:
    """``$XDG_RUNTIME_DIR/kvstore.sock``, or ``/tmp/kvstore-UID.sock`` without it."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "kvstore.sock")
    return f"/tmp/kvstore-{os.getuid()}.sock"


class Address:
    """A parsed ``unix:///path`` or ``tcp://host:port`` address.

    :ivar readonly: ``?readonly`` was given: the daemon serves only read-only procedures there.
    """

    __slots__ = ("host", "path", "port", "readonly", "scheme")

    def __init__(
        self,
        scheme: str,
        *,
        path: str = "",
        host: str = "",
        port: int = 0,
        readonly: bool = False,
    ) -> None:
        self.scheme = scheme
        self.path = path
        self.host = host
        self.port = port
        self.readonly = readonly

    def __str__(self) -> str:
        query = "?readonly" if self.readonly else ""
        if self.scheme == "unix":
            return f"unix://{self.path}{query}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}{query}"

    def __repr__(self) -> str:
        return f"Address({str(self)!r})"


def parse_address(text: str) -> Address:
    """Parse ``unix:///path/to.sock`` or ``tcp://host:port`` (``?readonly`` optional).

    :raises ValueError: with a message that quotes *text*.
    """
    parts = urlsplit(text)
    readonly = parts.query in ("readonly", "readonly=1", "ro")
    if parts.query and not readonly:
        raise ValueError(f"{text!r}: unknown option {parts.query!r} (only 'readonly')")
    if parts.scheme == "unix":
        path = parts.netloc + parts.path
        if not path:
            raise ValueError(f"{text!r}: expected unix:///absolute/path.sock")
        return Address("unix", path=path, readonly=readonly)
    if parts.scheme == "tcp":
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{text!r}: the port must be a number from 0 to 65535") from None
        if not parts.hostname or port is None:
            raise ValueError(f"{text!r}: expected tcp://host:port")
        return Address("tcp", host=parts.hostname, port=port, readonly=readonly)
    raise ValueError(f"{text!r}: expected unix:///path or tcp://host:port")
