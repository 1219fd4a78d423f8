"""XDR declarations of the libvirt REMOTE and QEMU program messages testvirtd serves.

Names follow ``remote_protocol.x`` without the ``remote_`` prefix, in CamelCase.  Layout
rules worth remembering (interop.md section 1):

* ``char x[N]`` / ``char x<N>`` fields are arrays of XDR ``char``: 4 bytes per character,
  and variable ones include the trailing NUL (:func:`char_array` / :func:`from_char_array`).
* ``u_char`` and ``u_short`` fields take 4 bytes too (declared ``UInt`` here).
* ``remote_string`` and ``remote_domain`` are optional data (a bool, then the value).
"""

from __future__ import annotations

from typing import Annotated

from netrpc import xdr

__all__ = (
    "AUTH_TYPE_LIST_MAX",
    "DOMAIN_LIST_MAX",
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

REMOTE_PROGRAM = 0x20008086
QEMU_PROGRAM = 0x20008087

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


# ------------------------------------------------------------------------------ objects


@xdr.struct
class NonnullDomain:
    """remote_nonnull_domain: the id is -1 for inactive domains."""

    name: _String
    uuid: _Uuid
    id: xdr.Int


@xdr.struct
class NonnullNetwork:
    """remote_nonnull_network."""

    name: _String
    uuid: _Uuid


@xdr.struct
class NonnullStoragePool:
    """remote_nonnull_storage_pool."""

    name: _String
    uuid: _Uuid


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
class ConnectOpenArgs:
    """remote_connect_open_args."""

    name: _OptString
    flags: xdr.UInt


@xdr.struct
class SupportsFeatureArgs:
    """remote_connect_supports_feature_args."""

    feature: xdr.Int


@xdr.struct
class AuthListRet:
    """remote_auth_list_ret: ``remote_auth_type types<REMOTE_AUTH_TYPE_LIST_MAX>``."""

    types: Annotated[list[int], xdr.Array(xdr.INT, AUTH_TYPE_LIST_MAX)]


ConnectGetTypeRet = StringRet
ConnectGetHostnameRet = StringRet
ConnectGetUriRet = StringRet
ConnectGetCapabilitiesRet = StringRet
ConnectGetVersionRet = UHyperRet
ConnectGetLibVersionRet = UHyperRet


@xdr.struct
class NodeGetInfoRet:
    """remote_node_get_info_ret: ``char model[32]`` is 32 four-byte chars."""

    model: Annotated[list[int], xdr.FixedArray(xdr.INT, NODE_MODEL_LEN)]
    memory: xdr.UHyper
    cpus: xdr.Int
    mhz: xdr.Int
    nodes: xdr.Int
    sockets: xdr.Int
    cores: xdr.Int
    threads: xdr.Int


@xdr.struct
class NodeGetSecurityModelRet:
    """remote_node_get_security_model_ret: two NUL-terminated char arrays."""

    model: Annotated[list[int], _Chars]
    doi: Annotated[list[int], _Chars]


@xdr.struct
class ConnectListAllArgs:
    """remote_connect_list_all_{domains,networks,storage_pools}_args."""

    need_results: xdr.Int
    flags: xdr.UInt


@xdr.struct
class ConnectListAllDomainsRet:
    """remote_connect_list_all_domains_ret."""

    domains: Annotated[list[NonnullDomain], xdr.Array(NonnullDomain.xdr, DOMAIN_LIST_MAX)]
    ret: xdr.UInt


@xdr.struct
class ConnectListAllNetworksRet:
    """remote_connect_list_all_networks_ret."""

    nets: Annotated[list[NonnullNetwork], xdr.Array(NonnullNetwork.xdr, NETWORK_LIST_MAX)]
    ret: xdr.UInt


@xdr.struct
class ConnectListAllStoragePoolsRet:
    """remote_connect_list_all_storage_pools_ret."""

    pools: Annotated[
        list[NonnullStoragePool],
        xdr.Array(NonnullStoragePool.xdr, STORAGE_POOL_LIST_MAX),
    ]
    ret: xdr.UInt


# ------------------------------------------------------------------------------ domains


@xdr.struct
class LookupByIdArgs:
    """remote_domain_lookup_by_id_args."""

    id: xdr.Int


@xdr.struct
class LookupByUuidArgs:
    """remote_*_lookup_by_uuid_args."""

    uuid: _Uuid


@xdr.struct
class DomainDefineXmlArgs:
    """remote_domain_define_xml_args."""

    xml: _String


@xdr.struct
class DomainDefineXmlFlagsArgs:
    """remote_domain_define_xml_flags_args."""

    xml: _String
    flags: xdr.UInt


@xdr.struct
class DomainCreateXmlArgs:
    """remote_domain_create_xml_args."""

    xml_desc: _String
    flags: xdr.UInt


@xdr.struct
class DomainSetAutostartArgs:
    """remote_domain_set_autostart_args."""

    dom: NonnullDomain
    autostart: xdr.Int


@xdr.struct
class DomainGetInfoRet:
    """remote_domain_get_info_ret (32 bytes: u_char and u_short take 4 bytes each)."""

    state: xdr.UInt
    max_mem: xdr.UHyper
    memory: xdr.UHyper
    nr_virt_cpu: xdr.UInt
    cpu_time: xdr.UHyper


@xdr.struct
class DomainGetStateRet:
    """remote_domain_get_state_ret."""

    state: xdr.Int
    reason: xdr.Int


@xdr.struct
class DomainGetSecurityLabelRet:
    """remote_domain_get_security_label_ret."""

    label: Annotated[list[int], xdr.Array(xdr.INT, SECURITY_LABEL_MAX)]
    enforcing: xdr.Int


@xdr.struct
class DomainGetMessagesRet:
    """remote_domain_get_messages_ret."""

    msgs: Annotated[list[str], xdr.Array(xdr.String(STRING_MAX), DOMAIN_MESSAGES_MAX)]


# ------------------------------------------------------------------------------ storage


@xdr.struct
class StoragePoolGetInfoRet:
    """remote_storage_pool_get_info_ret (state is a u_char: 4 bytes)."""

    state: xdr.UInt
    capacity: xdr.UHyper
    allocation: xdr.UHyper
    available: xdr.UHyper


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


@xdr.struct
class DomainEventLifecycleMsg:
    """remote_domain_event_lifecycle_msg (legacy procedure 107)."""

    dom: NonnullDomain
    event: xdr.Int
    detail: xdr.Int


@xdr.struct
class DomainEventCallbackLifecycleMsg:
    """remote_domain_event_callback_lifecycle_msg (procedure 318)."""

    callback_id: xdr.Int
    msg: DomainEventLifecycleMsg


@xdr.struct
class DomainEventRebootMsg:
    """remote_domain_event_reboot_msg (legacy procedure 108)."""

    dom: NonnullDomain


@xdr.struct
class DomainEventCallbackRebootMsg:
    """remote_domain_event_callback_reboot_msg (procedure 319)."""

    callback_id: xdr.Int
    msg: DomainEventRebootMsg


# ------------------------------------------------------------------------------ QEMU program


@xdr.struct
class DomainMonitorCommandArgs:
    """qemu_domain_monitor_command_args."""

    dom: NonnullDomain
    cmd: _String
    flags: xdr.UInt


@xdr.struct
class DomainMonitorCommandRet:
    """qemu_domain_monitor_command_ret."""

    result: _String
