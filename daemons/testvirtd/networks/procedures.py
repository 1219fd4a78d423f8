"""REMOTE procedures of virtual networks."""

from __future__ import annotations

from typing import Any, Final

from netrpc import Call, xdr

from .. import protocol as wire
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

__all__ = ("NETWORK_EVENT_ID_LAST", "NetworkProcedures", "net_ref", "wire_net")

#: ``VIR_NETWORK_EVENT_ID_LAST`` of libvirt 9.0: only LIFECYCLE (0)
NETWORK_EVENT_ID_LAST: Final = 1
#: REMOTE_PROC_NETWORK_EVENT_LIFECYCLE
NETWORK_EVENT_LIFECYCLE: Final = 315
KIND: Final = "network"

_LIFECYCLE_CODEC: Final = xdr.codec_for(wire.NetworkEventLifecycleMsg)


def net_ref(wire: NonnullNetwork) -> NetworkRef:
    """A ``remote_nonnull_network`` as the model's handle."""
    return NetworkRef(wire.name, bytes(wire.uuid))


def wire_net(ref: NetworkRef) -> NonnullNetwork:
    """A model handle as ``remote_nonnull_network``."""
    return NonnullNetwork(ref.name, ref.uuid)


def _lifecycle(event: NetworkLifecycleEvent) -> Outgoing:
    net = wire_net(event.net)
    return Outgoing(
        KIND, 0, event.net.uuid, NETWORK_EVENT_LIFECYCLE,
        lambda cb: _LIFECYCLE_CODEC.encode(
            wire.NetworkEventLifecycleMsg(cb, net, event.event, event.detail)
        ),
    )


class NetworkProcedures(RemoteBase):
    """Network procedures of the REMOTE program."""

    #: how this kind's events travel (collected by RemoteProgram)
    event_formatters: Any = {NetworkLifecycleEvent: _lifecycle}

    # ============================================================== events

    def connect_network_event_register_any(
        self, call: Call, args: wire.ConnectNetworkEventRegisterAnyArgs
    ) -> wire.ConnectNetworkEventRegisterAnyRet:
        key = bytes(args.net.uuid) if args.net is not None else None
        cb_id = self.register_event(call, KIND, args.eventID, NETWORK_EVENT_ID_LAST, key,
                                    "network")
        return wire.ConnectNetworkEventRegisterAnyRet(cb_id)

    def connect_network_event_deregister_any(
        self, call: Call, args: wire.ConnectNetworkEventDeregisterAnyArgs
    ) -> None:
        self.deregister_event(call, KIND, args.callbackID, "network")

    # ============================================================== define / undefine

    def network_define_xml(
        self, call: Call, args: wire.NetworkDefineXmlArgs
    ) -> wire.NetworkDefineXmlRet:
        ref = self.writable(call, "virNetworkDefineXML").hv.networks.define_xml(args.xml)
        self.changed(call)
        return wire.NetworkDefineXmlRet(wire_net(ref))

    def network_create_xml(
        self, call: Call, args: wire.NetworkCreateXmlArgs
    ) -> wire.NetworkCreateXmlRet:
        ref = self.writable(call, "virNetworkCreateXML").hv.networks.create_xml(args.xml)
        self.changed(call)
        return wire.NetworkCreateXmlRet(wire_net(ref))

    def network_undefine(self, call: Call, args: wire.NetworkUndefineArgs) -> None:
        self.writable(call, "virNetworkUndefine").hv.networks.undefine(net_ref(args.net))
        self.changed(call)

    def connect_list_all_networks(
        self, call: Call, args: ConnectListAllArgs
    ) -> ConnectListAllNetworksRet:
        nets = self.opened(call).hv.networks.list_all(args.flags)
        wire = [wire_net(n) for n in nets] if args.need_results else []
        return ConnectListAllNetworksRet(wire, len(nets))

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

    def network_create(self, call: Call, args: NetworkArgs) -> None:
        self.writable(call, "virNetworkCreate").hv.networks.create(net_ref(args.net))
        self.changed(call)

    def network_destroy(self, call: Call, args: NetworkArgs) -> None:
        self.writable(call, "virNetworkDestroy").hv.networks.destroy(net_ref(args.net))
        self.changed(call)
