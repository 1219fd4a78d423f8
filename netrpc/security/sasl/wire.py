"""The authentication procedures of libvirt's REMOTE program, on the wire.

libvirt authenticates inside the daemon's own program: procedures 66 (AUTH_LIST), 67
(AUTH_SASL_INIT), 68 (AUTH_SASL_START) and 69 (AUTH_SASL_STEP) of the REMOTE program
(0x20008086 v1).  Their layouts, as ``remote_protocol.x`` declares them::

    auth_list_ret        { remote_auth_type types<20>; }
    auth_sasl_init_ret   { nonnull_string mechlist; }
    auth_sasl_start_args { nonnull_string mech; int nil; char data<65536>; }
    auth_sasl_start_ret  { int complete; int nil; char data<65536>; }
    auth_sasl_step_args  { int nil; char data<65536>; }
    auth_sasl_step_ret   { int complete; int nil; char data<65536>; }

``char data<>`` is an XDR *array of char*, not an opaque: every byte takes four bytes on the
wire, and libvirt's x86 peers sign-extend bytes >= 0x80 (``0x82`` travels as ``ffffff82``).
:class:`CharData` decodes with ``& 0xFF`` and encodes sign-extended, byte for byte as
libvirtd does.  ``nil = 1`` means "no data" (SASL's NULL), which is not the same as empty
data.
"""

from __future__ import annotations

import enum
import struct
from typing import Annotated

from ...core import xdr
from ...core.errors import ErrorCode, ErrorDomain, RPCError

__all__ = (
    "AUTH_LIST",
    "AUTH_SASL_INIT",
    "AUTH_SASL_START",
    "AUTH_SASL_STEP",
    "DATA_MAX",
    "REMOTE_PROGRAM",
    "REMOTE_VERSION",
    "AuthListRet",
    "AuthSaslInitRet",
    "AuthSaslStartArgs",
    "AuthSaslStartRet",
    "AuthSaslStepArgs",
    "AuthSaslStepRet",
    "AuthType",
    "CharData",
    "auth_failed",
)

#: libvirt's REMOTE program, where the authentication procedures live
REMOTE_PROGRAM = 0x20008086
REMOTE_VERSION = 1

AUTH_LIST = 66
AUTH_SASL_INIT = 67
AUTH_SASL_START = 68
AUTH_SASL_STEP = 69

#: REMOTE_AUTH_SASL_DATA_MAX: bytes of SASL data in one message
DATA_MAX = 65536
#: REMOTE_AUTH_TYPE_LIST_MAX
AUTH_TYPE_LIST_MAX = 20
#: REMOTE_STRING_MAX
_STRING_MAX = 4_194_304

_U32 = struct.Struct(">I")


class AuthType(enum.IntEnum):
    """remote_auth_type."""

    NONE = 0
    SASL = 1
    POLKIT = 2


class CharData(xdr.XdrType[bytes]):
    """``char data<max_length>``: a counted array of chars, four bytes per byte.

    Encodes each byte as a sign-extended 32-bit integer (as libvirt's x86 peers do) and
    decodes any 32-bit value by keeping its low byte (as ``xdr_char`` does).
    """

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length

    def pack(self, out: bytearray, value: bytes) -> None:
        n = len(value)
        if n > self.max_length:
            raise xdr.XdrError(f"char array of {n} bytes exceeds maximum {self.max_length}")
        out += _U32.pack(n)
        if n:
            out += struct.pack(f">{n}i", *memoryview(value).cast("b"))

    def unpack(self, data: bytes | memoryview, offset: int) -> tuple[bytes, int]:
        try:
            n = _U32.unpack_from(data, offset)[0]
        except struct.error:
            raise xdr.XdrError("truncated char array length", offset=offset) from None
        if n > self.max_length:
            raise xdr.XdrError(
                f"char array length {n} exceeds maximum {self.max_length}", offset=offset
            )
        start = offset + 4
        end = start + 4 * n
        if end > len(data):
            raise xdr.XdrError(f"char array of {n} bytes runs past end of input", offset=offset)
        values = struct.unpack_from(f">{n}i", data, start)
        return bytes(v & 0xFF for v in values), end

    def __repr__(self) -> str:
        return f"CharData({self.max_length})"


_Data = Annotated[bytes, CharData(DATA_MAX)]
_NonnullString = Annotated[str, xdr.String(_STRING_MAX)]


@xdr.struct
class AuthListRet:
    """remote_auth_list_ret: the authentication types the client must go through."""

    types: Annotated[list[int], xdr.Array(xdr.INT, AUTH_TYPE_LIST_MAX)]


@xdr.struct
class AuthSaslInitRet:
    """remote_auth_sasl_init_ret: the offered mechanisms, comma-separated."""

    mechlist: _NonnullString


@xdr.struct
class AuthSaslStartArgs:
    """remote_auth_sasl_start_args: the chosen mechanism and the client's first data."""

    mech: _NonnullString
    nil: xdr.Int
    data: _Data


@xdr.struct
class AuthSaslStartRet:
    """remote_auth_sasl_start_ret."""

    complete: xdr.Int
    nil: xdr.Int
    data: _Data


@xdr.struct
class AuthSaslStepArgs:
    """remote_auth_sasl_step_args."""

    nil: xdr.Int
    data: _Data


@xdr.struct
class AuthSaslStepRet:
    """remote_auth_sasl_step_ret."""

    complete: xdr.Int
    nil: xdr.Int
    data: _Data


def auth_failed() -> RPCError:
    """libvirtd's answer to every failed authentication step (code 45, domain 7):
    ``authentication failed: authentication failed``."""
    return RPCError.formatted(
        ErrorCode.AUTH_FAILED,
        ErrorDomain.RPC,
        "authentication failed: %s",
        "authentication failed",
    )
