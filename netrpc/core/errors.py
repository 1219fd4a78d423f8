"""The exception hierarchy of netrpc.

::

    NetRPCError                     base of everything netrpc raises
    ├── ProtocolError               abstract: the wire protocol was violated
    │   ├── LocalProtocolError      our caller misused the API
    │   └── RemoteProtocolError     the peer sent bytes that force a disconnect
    │       └── MessageTooLargeError
    ├── XdrError (netrpc.xdr)       a value could not be encoded or decoded
    ├── RPCError                    an error *reply* (libvirt's ``virNetMessageError``)
    └── ConnectionLostError         the connection died while a call was pending

Transport failures stay anyio's own (``EndOfStream``, ``BrokenResourceError``, ...).
"""

from __future__ import annotations

from typing import Any

__all__ = (
    "ConnectionLostError",
    "ErrorCode",
    "ErrorDomain",
    "LocalProtocolError",
    "MessageTooLargeError",
    "NetRPCError",
    "ProtocolError",
    "RPCError",
    "RemoteProtocolError",
)


class NetRPCError(Exception):
    """Base class of every exception netrpc raises."""


class ProtocolError(NetRPCError):
    """The wire protocol was violated; use one of the two concrete subclasses."""

    def __init__(self, message: str) -> None:
        if type(self) is ProtocolError:
            raise TypeError("ProtocolError is abstract; raise Local- or RemoteProtocolError")
        super().__init__(message)


class LocalProtocolError(ProtocolError):
    """The local caller asked for something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something that cannot be answered; the connection must be closed."""


class MessageTooLargeError(RemoteProtocolError):
    """A length word announced a message over the limit (or under the minimum).

    :param length: the offending value of the length word.
    """

    def __init__(self, message: str, length: int) -> None:
        super().__init__(message)
        self.length = length


class ConnectionLostError(NetRPCError):
    """The connection closed before the reply to a pending call arrived."""


class ErrorCode:
    """libvirt ``virErrorNumber`` values used on the wire (include/libvirt/virterror.h)."""

    OK = 0
    INTERNAL_ERROR = 1  #: VIR_ERR_INTERNAL_ERROR
    NO_MEMORY = 2
    NO_SUPPORT = 3  #: VIR_ERR_NO_SUPPORT
    UNKNOWN_HOST = 4
    NO_CONNECT = 5  #: VIR_ERR_NO_CONNECT
    INVALID_CONN = 6
    INVALID_DOMAIN = 7
    INVALID_ARG = 8  #: VIR_ERR_INVALID_ARG
    OPERATION_FAILED = 9
    XML_ERROR = 27  #: VIR_ERR_XML_ERROR
    RPC = 39  #: VIR_ERR_RPC
    NO_DOMAIN = 42  #: VIR_ERR_NO_DOMAIN
    NO_NETWORK = 43
    INVALID_MAC = 44
    AUTH_FAILED = 45  #: VIR_ERR_AUTH_FAILED
    OPERATION_DENIED = 29  #: VIR_ERR_OPERATION_DENIED
    OPERATION_INVALID = 55  #: VIR_ERR_OPERATION_INVALID
    NO_STORAGE_POOL = 49
    NO_STORAGE_VOL = 50
    OPERATION_TIMEOUT = 68
    NO_SERVER = 95  #: VIR_ERR_NO_SERVER
    NO_CLIENT = 96  #: VIR_ERR_NO_CLIENT


class ErrorDomain:
    """libvirt ``virErrorDomain`` values used on the wire."""

    NONE = 0
    RPC = 7  #: VIR_FROM_RPC
    REMOTE = 13  #: VIR_FROM_REMOTE
    TEST = 12  #: VIR_FROM_TEST
    ADMIN = 62  #: VIR_FROM_ADMIN


#: VIR_ERR_ERROR: every error netrpc itself raises has this level.
LEVEL_ERROR = 2


class RPCError(NetRPCError):
    """An error reply, as carried by libvirt's ``remote_error`` / ``virNetMessageError``.

    Raise it from a procedure handler to send exactly these fields back; a client raises it
    when a call is answered with status ERROR.

    :param code: libvirt error number (``virErrorNumber``).
    :param domain: libvirt error domain (``virErrorDomain``).
    :param message: the full human text, as libvirt formats it.
    :param str1: libvirt keeps the format string here (``"%s"`` for plain RPC errors).
    :param str2: the format's argument.
    """

    def __init__(
        self,
        code: int,
        domain: int,
        message: str | None,
        *,
        level: int = LEVEL_ERROR,
        str1: str | None = None,
        str2: str | None = None,
        str3: str | None = None,
        int1: int = -1,
        int2: int = -1,
    ) -> None:
        super().__init__(message or f"error code {code}")
        self.code = code
        self.domain = domain
        self.message = message
        self.level = level
        self.str1 = str1
        self.str2 = str2
        self.str3 = str3
        self.int1 = int1
        self.int2 = int2

    @classmethod
    def rpc(cls, message: str) -> RPCError:
        """An RPC-level error (code 39, domain 7) as libvirt's dispatcher sends them."""
        return cls(ErrorCode.RPC, ErrorDomain.RPC, message, str1="%s", str2=message)

    @classmethod
    def formatted(
        cls, code: int, domain: int, template: str, info: str | None = None, **kwargs: Any
    ) -> RPCError:
        """Build an error the way ``virRaiseError`` does: *template* holds one ``%s``.

        ``formatted(1, 7, "internal error: %s", "connection not open")`` gives the message
        ``internal error: connection not open`` with ``str1`` = the template and ``str2`` =
        *info*.  With ``info=None`` the template is the whole message (and ``str1``).
        """
        message = template if info is None else template.replace("%s", info, 1)
        return cls(code, domain, message, str1=template, str2=info, **kwargs)

    @classmethod
    def internal(cls, info: str, domain: int = ErrorDomain.RPC) -> RPCError:
        """``internal error: <info>`` (code 1), as libvirt's VIR_ERR_INTERNAL_ERROR."""
        return cls.formatted(ErrorCode.INTERNAL_ERROR, domain, "internal error: %s", info)

    def __repr__(self) -> str:
        return f"RPCError(code={self.code}, domain={self.domain}, message={self.message!r})"
