"""Names testvirtd's modules use for REMOTE and QEMU messages.

The messages of libvirt's protocols are declared in :mod:`daemons.testvirtd.protocol` (every
struct, named in CamelCase from the ``.x`` name, fields as in the ``.x``); this module
re-exports the ones testvirtd's code has always imported from here, and adds generic shapes
(:class:`IntRet`, :class:`DomainArgs` ...) that put the same bytes on the wire as many
``.x`` structs at once, so one handler signature fits several procedures.  Layout rules worth
remembering (interop.md section 1):

* ``char x[N]`` / ``char x<N>`` fields are arrays of XDR ``char``: 4 bytes per character,
  and variable ones include the trailing NUL (:func:`char_array` / :func:`from_char_array`).
* ``u_char`` and ``u_short`` fields take 4 bytes too.
* ``remote_string`` and ``remote_domain`` are optional data (a bool, then the value).
"""

from __future__ import annotations

from typing import Annotated

from netrpc.core import xdr

from .protocol import (
    LXC_PROGRAM as LXC_PROGRAM,
)
from .protocol import (
    QEMU_PROGRAM as QEMU_PROGRAM,
)
from .protocol import (
    REMOTE_PROGRAM as REMOTE_PROGRAM,
)
from .protocol import (
    AuthListRet,
    ConnectGetCapabilitiesRet,
    ConnectGetHostnameRet,
    ConnectGetLibVersionRet,
    ConnectGetTypeRet,
    ConnectGetUriRet,
    ConnectGetVersionRet,
    ConnectListAllDomainsRet,
    ConnectListAllNetworksRet,
    ConnectListAllStoragePoolsRet,
    ConnectOpenArgs,
    DomainCreateXmlArgs,
    DomainDefineXmlArgs,
    DomainDefineXmlFlagsArgs,
    DomainEventCallbackLifecycleMsg,
    DomainEventCallbackRebootMsg,
    DomainEventLifecycleMsg,
    DomainEventRebootMsg,
    DomainGetInfoRet,
    DomainGetMessagesRet,
    DomainGetSecurityLabelRet,
    DomainGetStateRet,
    DomainMonitorCommandArgs,
    DomainMonitorCommandRet,
    DomainSetAutostartArgs,
    NodeGetInfoRet,
    NodeGetSecurityModelRet,
    NonnullDomain,
    NonnullNetwork,
    NonnullStoragePool,
    StoragePoolGetInfoRet,
)

__all__ = (
    "AUTH_TYPE_LIST_MAX",
    "DOMAIN_LIST_MAX",
    "LXC_PROGRAM",
    "NETWORK_LIST_MAX",
    "QEMU_PROGRAM",
    "REMOTE_PROGRAM",
    "SECURITY_LABEL_MAX",
    "SECURITY_MODEL_BUFLEN",
    "STORAGE_POOL_LIST_MAX",
    "STRING_MAX",
    "AuthListRet",
    "CallbackIdArgs",
    "CallbackIdRet",
    "ConnectGetCapabilitiesRet",
    "ConnectGetHostnameRet",
    "ConnectGetLibVersionRet",
    "ConnectGetTypeRet",
    "ConnectGetUriRet",
    "ConnectGetVersionRet",
    "ConnectListAllArgs",
    "ConnectListAllDomainsRet",
    "ConnectListAllNetworksRet",
    "ConnectListAllStoragePoolsRet",
    "ConnectOpenArgs",
    "DomainArgs",
    "DomainCallbackRegisterAnyArgs",
    "DomainCreateXmlArgs",
    "DomainDefineXmlArgs",
    "DomainDefineXmlFlagsArgs",
    "DomainEventCallbackLifecycleMsg",
    "DomainEventCallbackRebootMsg",
    "DomainEventLifecycleMsg",
    "DomainEventRebootMsg",
    "DomainFlagsArgs",
    "DomainGetInfoRet",
    "DomainGetMessagesRet",
    "DomainGetSecurityLabelRet",
    "DomainGetStateRet",
    "DomainMonitorCommandArgs",
    "DomainMonitorCommandRet",
    "DomainRet",
    "DomainSetAutostartArgs",
    "EventIdArgs",
    "IntRet",
    "LookupByIdArgs",
    "LookupByUuidArgs",
    "NameArgs",
    "NetworkArgs",
    "NetworkFlagsArgs",
    "NetworkRet",
    "NodeGetInfoRet",
    "NodeGetSecurityModelRet",
    "NonnullDomain",
    "NonnullNetwork",
    "NonnullStoragePool",
    "OptStringArgs",
    "StoragePoolArgs",
    "StoragePoolFlagsArgs",
    "StoragePoolGetInfoRet",
    "StoragePoolRet",
    "StringRet",
    "SupportsFeatureArgs",
    "UHyperRet",
    "char_array",
    "from_char_array",
)

STRING_MAX = 4_194_304  # REMOTE_STRING_MAX
AUTH_TYPE_LIST_MAX = 20  # REMOTE_AUTH_TYPE_LIST_MAX
DOMAIN_LIST_MAX = 16_384  # REMOTE_DOMAIN_LIST_MAX
NETWORK_LIST_MAX = 16_384  # REMOTE_NETWORK_LIST_MAX
STORAGE_POOL_LIST_MAX = 16_384  # REMOTE_STORAGE_POOL_LIST_MAX
DOMAIN_MESSAGES_MAX = 2_048  # REMOTE_DOMAIN_MESSAGES_MAX
SECURITY_MODEL_BUFLEN = 257  # VIR_SECURITY_MODEL_BUFLEN (and VIR_SECURITY_DOI_BUFLEN)
SECURITY_LABEL_MAX = 4_097  # REMOTE_SECURITY_LABEL_MAX
NODE_MODEL_LEN = 32  # char model[32] of remote_node_get_info_ret

_String = Annotated[str, xdr.String(STRING_MAX)]
_OptString = Annotated[str | None, xdr.Optional(xdr.String(STRING_MAX))]
_Uuid = Annotated[bytes, xdr.FixedOpaque(16)]
_Chars = xdr.Array(xdr.INT, SECURITY_MODEL_BUFLEN)


def char_array(text: str, size: int | None = None) -> list[int]:
    """*text* as an XDR char array: NUL-terminated, or NUL-padded to *size* when fixed."""
    raw = list(text.encode())
    if size is None:
        return [*raw, 0]
    if len(raw) >= size:
        raw = raw[: size - 1]
    return raw + [0] * (size - len(raw))


def from_char_array(chars: list[int]) -> str:
    """The text of an XDR char array (up to the first NUL)."""
    raw = bytes(c & 0xFF for c in chars)
    return raw.split(b"\0", 1)[0].decode(errors="replace")


_OptDomain = Annotated[NonnullDomain | None, xdr.Optional(NonnullDomain.xdr)]


# ------------------------------------------------------------------------------ generic shapes


@xdr.struct
class IntRet:
    """Any ``{ int x; }`` reply (is_active, autostart, supported, callbackID ...)."""

    value: xdr.Int


@xdr.struct
class UHyperRet:
    """Any ``{ unsigned hyper x; }`` reply (versions)."""

    value: xdr.UHyper


@xdr.struct
class StringRet:
    """Any ``{ remote_nonnull_string x; }`` reply."""

    value: _String


@xdr.struct
class OptStringArgs:
    """``{ remote_string x; }`` (CONNECT_GET_MAX_VCPUS type)."""

    value: _OptString


@xdr.struct
class NameArgs:
    """``{ remote_nonnull_string name; }`` (lookups by name)."""

    name: _String


@xdr.struct
class DomainArgs:
    """``{ remote_nonnull_domain dom; }``."""

    dom: NonnullDomain


@xdr.struct
class DomainFlagsArgs:
    """``{ remote_nonnull_domain dom; unsigned int flags; }``."""

    dom: NonnullDomain
    flags: xdr.UInt


@xdr.struct
class DomainRet:
    """``{ remote_nonnull_domain dom; }``."""

    dom: NonnullDomain


@xdr.struct
class NetworkArgs:
    """``{ remote_nonnull_network net; }``."""

    net: NonnullNetwork


@xdr.struct
class NetworkFlagsArgs:
    """``{ remote_nonnull_network net; unsigned int flags; }``."""

    net: NonnullNetwork
    flags: xdr.UInt


@xdr.struct
class NetworkRet:
    """``{ remote_nonnull_network net; }``."""

    net: NonnullNetwork


@xdr.struct
class StoragePoolArgs:
    """``{ remote_nonnull_storage_pool pool; }``."""

    pool: NonnullStoragePool


@xdr.struct
class StoragePoolFlagsArgs:
    """``{ remote_nonnull_storage_pool pool; unsigned int flags; }``."""

    pool: NonnullStoragePool
    flags: xdr.UInt


@xdr.struct
class StoragePoolRet:
    """``{ remote_nonnull_storage_pool pool; }``."""

    pool: NonnullStoragePool


# ------------------------------------------------------------------------------ connection


@xdr.struct
class SupportsFeatureArgs:
    """remote_connect_supports_feature_args."""

    feature: xdr.Int


@xdr.struct
class ConnectListAllArgs:
    """remote_connect_list_all_{domains,networks,storage_pools}_args."""

    need_results: xdr.Int
    flags: xdr.UInt


# ------------------------------------------------------------------------------ domains


@xdr.struct
class LookupByIdArgs:
    """remote_domain_lookup_by_id_args."""

    id: xdr.Int


@xdr.struct
class LookupByUuidArgs:
    """remote_*_lookup_by_uuid_args."""

    uuid: _Uuid


# ------------------------------------------------------------------------------ events


@xdr.struct
class EventIdArgs:
    """remote_connect_domain_event_{register,deregister}_any_args."""

    event_id: xdr.Int


@xdr.struct
class DomainCallbackRegisterAnyArgs:
    """remote_connect_domain_event_callback_register_any_args."""

    event_id: xdr.Int
    dom: _OptDomain


@xdr.struct
class CallbackIdRet:
    """remote_connect_domain_event_callback_register_any_ret."""

    callback_id: xdr.Int


@xdr.struct
class CallbackIdArgs:
    """remote_connect_domain_event_callback_deregister_any_args."""

    callback_id: xdr.Int
