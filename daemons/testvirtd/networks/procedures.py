"""REMOTE procedures of virtual networks."""

from __future__ import annotations

from netrpc import Call

from ..connection import RemoteBase
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
from .model import NetworkRef

__all__ = ("NetworkProcedures", "net_ref", "wire_net")


def net_ref(wire: NonnullNetwork) -> NetworkRef:
    """A ``remote_nonnull_network`` as the model's handle."""
    return NetworkRef(wire.name, bytes(wire.uuid))


def wire_net(ref: NetworkRef) -> NonnullNetwork:
    """A model handle as ``remote_nonnull_network``."""
    return NonnullNetwork(ref.name, ref.uuid)


class NetworkProcedures(RemoteBase):
    """Network procedures of the REMOTE program."""

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
