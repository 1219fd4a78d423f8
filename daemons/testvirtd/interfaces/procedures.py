"""REMOTE procedures of host interfaces (what ``virsh iface-*`` reads)."""

from __future__ import annotations

from typing import Annotated, Final

from netrpc import Call, RPCError, procedure, xdr

from ..connection import RemoteBase
from ..remote_types import STRING_MAX, ConnectListAllArgs, IntRet, NameArgs, StringRet
from .model import InterfaceRef

__all__ = (
    "ConnectListAllInterfacesRet",
    "InterfaceFlagsArgs",
    "InterfaceProcedures",
    "InterfaceRet",
    "NonnullInterface",
)

#: REMOTE_INTERFACE_LIST_MAX
INTERFACE_LIST_MAX: Final = 16384

_String = Annotated[str, xdr.String(STRING_MAX)]


@xdr.struct
class NonnullInterface:
    """remote_nonnull_interface."""

    name: _String
    mac: _String


@xdr.struct
class InterfaceArgs:
    """``{ remote_nonnull_interface iface; }``."""

    iface: NonnullInterface


@xdr.struct
class InterfaceFlagsArgs:
    """``{ remote_nonnull_interface iface; unsigned int flags; }``."""

    iface: NonnullInterface
    flags: xdr.UInt


@xdr.struct
class InterfaceRet:
    """``{ remote_nonnull_interface iface; }``."""

    iface: NonnullInterface


@xdr.struct
class MacArgs:
    """remote_interface_lookup_by_mac_string_args."""

    mac: _String


@xdr.struct
class MaxNamesArgs:
    """``{ int maxnames; }``."""

    maxnames: xdr.Int


@xdr.struct
class NamesRet:
    """``{ remote_nonnull_string names<REMOTE_INTERFACE_LIST_MAX>; }``."""

    names: Annotated[list[str], xdr.Array(xdr.String(STRING_MAX), INTERFACE_LIST_MAX)]


@xdr.struct
class ConnectListAllInterfacesRet:
    """remote_connect_list_all_interfaces_ret."""

    ifaces: Annotated[
        list[NonnullInterface], xdr.Array(NonnullInterface.xdr, INTERFACE_LIST_MAX)
    ]
    ret: xdr.UInt


def wire_iface(ref: InterfaceRef) -> NonnullInterface:
    """A model handle as ``remote_nonnull_interface``."""
    return NonnullInterface(ref.name, ref.mac)


def _check_max(maxnames: int) -> None:
    if maxnames > INTERFACE_LIST_MAX:
        raise RPCError.rpc(
            f"maxnames > REMOTE_INTERFACE_LIST_MAX ({maxnames} > {INTERFACE_LIST_MAX})"
        )


class InterfaceProcedures(RemoteBase):
    """Interface procedures of the REMOTE program."""

    @procedure(284, args=ConnectListAllArgs, ret=ConnectListAllInterfacesRet, readonly=True,
               inline=True)
    def connect_list_all_interfaces(
        self, call: Call, args: ConnectListAllArgs
    ) -> ConnectListAllInterfacesRet:
        hv = self.opened(call).hv
        if args.flags & ~3:
            from ..domxml import VirtError

            raise VirtError.bad_flags("testConnectListAllInterfaces", args.flags)
        ifaces = hv.interfaces.list_all(args.flags)
        wire = [wire_iface(i) for i in ifaces] if args.need_results else []
        return ConnectListAllInterfacesRet(wire, len(ifaces))

    @procedure(126, ret=IntRet, readonly=True, inline=True)
    def connect_num_of_interfaces(self, call: Call, args: None) -> IntRet:
        return IntRet(len(self.opened(call).hv.interfaces.names(True)))

    @procedure(127, args=MaxNamesArgs, ret=NamesRet, readonly=True, inline=True)
    def connect_list_interfaces(self, call: Call, args: MaxNamesArgs) -> NamesRet:
        hv = self.opened(call).hv
        _check_max(args.maxnames)
        return NamesRet(hv.interfaces.names(True)[: max(args.maxnames, 0)])

    @procedure(137, ret=IntRet, readonly=True, inline=True)
    def connect_num_of_defined_interfaces(self, call: Call, args: None) -> IntRet:
        return IntRet(len(self.opened(call).hv.interfaces.names(False)))

    @procedure(138, args=MaxNamesArgs, ret=NamesRet, readonly=True, inline=True)
    def connect_list_defined_interfaces(self, call: Call, args: MaxNamesArgs) -> NamesRet:
        hv = self.opened(call).hv
        _check_max(args.maxnames)
        return NamesRet(hv.interfaces.names(False)[: max(args.maxnames, 0)])

    @procedure(128, args=NameArgs, ret=InterfaceRet, readonly=True, inline=True)
    def interface_lookup_by_name(self, call: Call, args: NameArgs) -> InterfaceRet:
        return InterfaceRet(wire_iface(self.opened(call).hv.interfaces.lookup_by_name(args.name)))

    @procedure(129, args=MacArgs, ret=InterfaceRet, readonly=True, inline=True)
    def interface_lookup_by_mac_string(self, call: Call, args: MacArgs) -> InterfaceRet:
        return InterfaceRet(wire_iface(self.opened(call).hv.interfaces.lookup_by_mac(args.mac)))

    @procedure(130, args=InterfaceFlagsArgs, ret=StringRet, readonly=True, inline=True)
    def interface_get_xml_desc(self, call: Call, args: InterfaceFlagsArgs) -> StringRet:
        hv = self.opened(call).hv
        return StringRet(hv.interfaces.get_xml_desc(args.iface.name, args.flags))

    @procedure(156, args=InterfaceArgs, ret=IntRet, readonly=True, inline=True)
    def interface_is_active(self, call: Call, args: InterfaceArgs) -> IntRet:
        return IntRet(int(self.opened(call).hv.interfaces.is_active(args.iface.name)))
