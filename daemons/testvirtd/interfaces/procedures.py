"""REMOTE procedures of host interfaces (``virsh iface-*``): lists, lookups, XML, define,
undefine, create, destroy and the change transactions."""

from __future__ import annotations

from typing import Any

from netrpc import Call

from .. import bounds
from .. import protocol as P
from ..connection import RemoteBase
from .model import InterfaceRef

__all__ = ("InterfaceProcedures", "wire_iface")


def wire_iface(ref: InterfaceRef) -> Any:
    """A model handle as ``remote_nonnull_interface``."""
    return P.NonnullInterface(ref.name, ref.mac)


def _check_maxnames(maxnames: int) -> None:
    # libvirtd's dispatcher, before the driver is asked
    bounds.list_max(maxnames, P.INTERFACE_LIST_MAX, "maxnames", "REMOTE_INTERFACE_LIST_MAX")


class InterfaceProcedures(RemoteBase):
    """Interface procedures of the REMOTE program."""

    def connect_list_all_interfaces(self, call: Call, args: Any) -> Any:
        ifaces = self.opened(call).hv.interfaces.list_all(args.flags)
        wire = [wire_iface(i) for i in ifaces] if args.need_results else []
        return P.ConnectListAllInterfacesRet(wire, len(ifaces))

    def connect_num_of_interfaces(self, call: Call, args: None) -> Any:
        return P.ConnectNumOfInterfacesRet(len(self.opened(call).hv.interfaces.names(True)))

    def connect_list_interfaces(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        _check_maxnames(args.maxnames)
        return P.ConnectListInterfacesRet(hv.interfaces.names(True)[: args.maxnames])

    def connect_num_of_defined_interfaces(self, call: Call, args: None) -> Any:
        names = self.opened(call).hv.interfaces.names(False)
        return P.ConnectNumOfDefinedInterfacesRet(len(names))

    def connect_list_defined_interfaces(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        _check_maxnames(args.maxnames)
        return P.ConnectListDefinedInterfacesRet(hv.interfaces.names(False)[: args.maxnames])

    def interface_lookup_by_name(self, call: Call, args: Any) -> Any:
        ref = self.opened(call).hv.interfaces.lookup_by_name(args.name)
        return P.InterfaceLookupByNameRet(wire_iface(ref))

    def interface_lookup_by_mac_string(self, call: Call, args: Any) -> Any:
        ref = self.opened(call).hv.interfaces.lookup_by_mac(args.mac)
        return P.InterfaceLookupByMacStringRet(wire_iface(ref))

    def interface_get_xml_desc(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        return P.InterfaceGetXmlDescRet(hv.interfaces.get_xml_desc(args.iface.name, args.flags))

    def interface_is_active(self, call: Call, args: Any) -> Any:
        active = self.opened(call).hv.interfaces.is_active(args.iface.name)
        return P.InterfaceIsActiveRet(int(active))

    def interface_define_xml(self, call: Call, args: Any) -> Any:
        hv = self.writable(call, "virInterfaceDefineXML").hv
        ref = hv.interfaces.define(args.xml, args.flags)
        self.changed(call)
        return P.InterfaceDefineXmlRet(wire_iface(ref))

    def interface_undefine(self, call: Call, args: Any) -> None:
        self.writable(call, "virInterfaceUndefine").hv.interfaces.undefine(args.iface.name)
        self.changed(call)

    def interface_create(self, call: Call, args: Any) -> None:
        hv = self.writable(call, "virInterfaceCreate").hv
        hv.interfaces.create(args.iface.name, args.flags)
        self.changed(call)

    def interface_destroy(self, call: Call, args: Any) -> None:
        hv = self.writable(call, "virInterfaceDestroy").hv
        hv.interfaces.destroy(args.iface.name, args.flags)
        self.changed(call)

    def interface_change_begin(self, call: Call, args: Any) -> None:
        self.writable(call, "virInterfaceChangeBegin").hv.interfaces.change_begin(args.flags)

    def interface_change_commit(self, call: Call, args: Any) -> None:
        self.writable(call, "virInterfaceChangeCommit").hv.interfaces.change_commit(args.flags)
        self.changed(call)

    def interface_change_rollback(self, call: Call, args: Any) -> None:
        hv = self.writable(call, "virInterfaceChangeRollback").hv
        hv.interfaces.change_rollback(args.flags)
        self.changed(call)
