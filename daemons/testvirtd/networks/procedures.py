"""REMOTE procedures of virtual networks, and their lifecycle events."""

from __future__ import annotations

from typing import Any, Final

from netrpc import Call
from netrpc.core import xdr

from .. import bounds
from .. import protocol as P
from ..connection import RemoteBase
from ..events import Outgoing
from ..remote_types import (
    ConnectListAllArgs,
    ConnectListAllNetworksRet,
    IntRet,
    LookupByUuidArgs,
    NameArgs,
    NetworkArgs,
    NetworkFlagsArgs,
    NetworkRet,
    NonnullNetwork,
    StringRet,
)
from .model import NetworkLifecycleEvent, NetworkRef

__all__ = ("NetworkProcedures", "net_ref", "wire_net")

KIND: Final = "network"
#: VIR_NETWORK_EVENT_ID_LIFECYCLE, VIR_NETWORK_EVENT_ID_LAST
EVENT_ID_LIFECYCLE: Final = 0
EVENT_ID_LAST: Final = 1
LIFECYCLE_PROC: Final = 315
_LIFECYCLE_CODEC = xdr.codec_for(P.NetworkEventLifecycleMsg)


def net_ref(wire: NonnullNetwork) -> NetworkRef:
    """A ``remote_nonnull_network`` as the model's handle."""
    return NetworkRef(wire.name, bytes(wire.uuid))


def wire_net(ref: NetworkRef) -> NonnullNetwork:
    """A model handle as ``remote_nonnull_network``."""
    return NonnullNetwork(ref.name, ref.uuid)


def _lifecycle(event: NetworkLifecycleEvent) -> Outgoing:
    def encode(cb: int) -> bytes:
        net = P.NonnullNetwork(event.net.name, event.net.uuid)
        return _LIFECYCLE_CODEC.encode(P.NetworkEventLifecycleMsg(cb, net, event.event,
                                                                  event.detail))

    return Outgoing(KIND, EVENT_ID_LIFECYCLE, event.net.uuid, LIFECYCLE_PROC, encode)


def _check_max(value: int, what: str) -> None:
    bounds.list_max(value, P.NETWORK_LIST_MAX, what, "REMOTE_NETWORK_LIST_MAX")


class NetworkProcedures(RemoteBase):
    """Network procedures of the REMOTE program."""

    #: how this kind's events travel (collected by RemoteProgram)
    event_formatters: Any = {NetworkLifecycleEvent: _lifecycle}

    # ============================================================== lists

    def connect_list_all_networks(
        self, call: Call, args: ConnectListAllArgs
    ) -> ConnectListAllNetworksRet:
        nets = self.opened(call).hv.networks.list_all(args.flags)
        wire = [wire_net(n) for n in nets] if args.need_results else []
        return ConnectListAllNetworksRet(wire, len(nets))

    def connect_num_of_networks(self, call: Call, args: None) -> Any:
        return P.ConnectNumOfNetworksRet(self.opened(call).hv.networks.count(True))

    def connect_num_of_defined_networks(self, call: Call, args: None) -> Any:
        return P.ConnectNumOfDefinedNetworksRet(self.opened(call).hv.networks.count(False))

    def connect_list_networks(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        _check_max(args.maxnames, "maxnames")
        return P.ConnectListNetworksRet(hv.networks.names(True, max(args.maxnames, 0)))

    def connect_list_defined_networks(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        _check_max(args.maxnames, "maxnames")
        return P.ConnectListDefinedNetworksRet(hv.networks.names(False, max(args.maxnames, 0)))

    # ============================================================== lookups and queries

    def network_lookup_by_name(self, call: Call, args: NameArgs) -> NetworkRet:
        return NetworkRet(wire_net(self.opened(call).hv.networks.lookup_by_name(args.name)))

    def network_lookup_by_uuid(self, call: Call, args: LookupByUuidArgs) -> NetworkRet:
        hv = self.opened(call).hv
        return NetworkRet(wire_net(hv.networks.lookup_by_uuid(bytes(args.uuid))))

    def network_get_autostart(self, call: Call, args: NetworkArgs) -> IntRet:
        return IntRet(int(self.opened(call).hv.networks.get_autostart(net_ref(args.net))))

    def network_is_active(self, call: Call, args: NetworkArgs) -> IntRet:
        return IntRet(int(self.opened(call).hv.networks.is_active(net_ref(args.net))))

    def network_is_persistent(self, call: Call, args: NetworkArgs) -> IntRet:
        return IntRet(int(self.opened(call).hv.networks.is_persistent(net_ref(args.net))))

    def network_get_bridge_name(self, call: Call, args: NetworkArgs) -> StringRet:
        return StringRet(self.opened(call).hv.networks.get_bridge_name(net_ref(args.net)))

    def network_get_xml_desc(self, call: Call, args: NetworkFlagsArgs) -> StringRet:
        hv = self.opened(call).hv
        return StringRet(hv.networks.get_xml_desc(net_ref(args.net), args.flags))

    # ============================================================== changes

    def network_define_xml(self, call: Call, args: Any) -> Any:
        ref = self.opened(call).hv.networks.define_xml(args.xml, 0)
        self.changed(call)
        return P.NetworkDefineXmlRet(wire_net(ref))

    def network_define_xml_flags(self, call: Call, args: Any) -> Any:
        ref = self.opened(call).hv.networks.define_xml(args.xml, args.flags)
        self.changed(call)
        return P.NetworkDefineXmlFlagsRet(wire_net(ref))

    def network_create_xml(self, call: Call, args: Any) -> Any:
        ref = self.opened(call).hv.networks.create_xml(args.xml, 0)
        self.changed(call)
        return P.NetworkCreateXmlRet(wire_net(ref))

    def network_create_xml_flags(self, call: Call, args: Any) -> Any:
        ref = self.opened(call).hv.networks.create_xml(args.xml, args.flags)
        self.changed(call)
        return P.NetworkCreateXmlFlagsRet(wire_net(ref))

    def network_undefine(self, call: Call, args: NetworkArgs) -> None:
        self.opened(call).hv.networks.undefine(net_ref(args.net))
        self.changed(call)

    def network_create(self, call: Call, args: NetworkArgs) -> None:
        self.opened(call).hv.networks.create(net_ref(args.net))
        self.changed(call)

    def network_destroy(self, call: Call, args: NetworkArgs) -> None:
        self.opened(call).hv.networks.destroy(net_ref(args.net))
        self.changed(call)

    def network_set_autostart(self, call: Call, args: Any) -> None:
        self.opened(call).hv.networks.set_autostart(net_ref(args.net), bool(args.autostart))
        self.changed(call)

    def network_update(self, call: Call, args: Any) -> None:
        self.opened(call).hv.networks.update(net_ref(args.net), args.command, args.section,
                                             args.parentIndex, args.xml, args.flags)
        self.changed(call)

    # ============================================================== events

    def connect_network_event_register_any(self, call: Call, args: Any) -> Any:
        key = bytes(args.net.uuid) if args.net is not None else None
        cb = self.register_event(call, KIND, args.eventID, EVENT_ID_LAST, key, "network")
        return P.ConnectNetworkEventRegisterAnyRet(cb)

    def connect_network_event_deregister_any(self, call: Call, args: Any) -> None:
        self.deregister_event(call, KIND, args.callbackID, "network")
