"""REMOTE procedures of node devices (what ``virsh nodedev-*`` reads)."""

from __future__ import annotations

from typing import Annotated, Final

from netrpc import Call, RPCError, procedure, xdr

from .. import protocol as wire
from ..connection import RemoteBase
from ..remote_types import STRING_MAX, ConnectListAllArgs, IntRet, NameArgs, StringRet

__all__ = (
    "ConnectListAllNodeDevicesRet",
    "NodeDeviceProcedures",
    "NodeDeviceRet",
    "NonnullNodeDevice",
)

#: REMOTE_NODE_DEVICE_LIST_MAX and REMOTE_NODE_DEVICE_CAPS_LIST_MAX
NODE_DEVICE_LIST_MAX: Final = 65536
NODE_DEVICE_CAPS_LIST_MAX: Final = 65536

_String = Annotated[str, xdr.String(STRING_MAX)]
_OptString = Annotated[str | None, xdr.Optional(xdr.String(STRING_MAX))]
_Names = Annotated[list[str], xdr.Array(xdr.String(STRING_MAX), NODE_DEVICE_LIST_MAX)]


@xdr.struct
class NonnullNodeDevice:
    """remote_nonnull_node_device."""

    name: _String


@xdr.struct
class NodeDeviceRet:
    """``{ remote_nonnull_node_device dev; }``."""

    dev: NonnullNodeDevice


@xdr.struct
class ConnectListAllNodeDevicesRet:
    """remote_connect_list_all_node_devices_ret."""

    devices: Annotated[
        list[NonnullNodeDevice], xdr.Array(NonnullNodeDevice.xdr, NODE_DEVICE_LIST_MAX)
    ]
    ret: xdr.UInt


@xdr.struct
class NodeNumOfDevicesArgs:
    """remote_node_num_of_devices_args."""

    cap: _OptString
    flags: xdr.UInt


@xdr.struct
class NodeListDevicesArgs:
    """remote_node_list_devices_args."""

    cap: _OptString
    maxnames: xdr.Int
    flags: xdr.UInt


@xdr.struct
class NamesRet:
    """``{ remote_nonnull_string names<...>; }``."""

    names: _Names


@xdr.struct
class NodeDeviceXmlArgs:
    """remote_node_device_get_xml_desc_args."""

    name: _String
    flags: xdr.UInt


@xdr.struct
class NodeDeviceGetParentRet:
    """remote_node_device_get_parent_ret."""

    parent: _OptString


@xdr.struct
class NodeDeviceListCapsArgs:
    """remote_node_device_list_caps_args."""

    name: _String
    maxnames: xdr.Int


def _check_max(maxnames: int, limit: int, what: str) -> None:
    if maxnames > limit:
        raise RPCError.rpc(f"maxnames > {what} ({maxnames} > {limit})")


#: ``VIR_NODE_DEVICE_EVENT_ID_LAST`` of libvirt 9.0: LIFECYCLE (0) and UPDATE (1)
NODE_DEVICE_EVENT_ID_LAST: Final = 2
NODEDEV_KIND: Final = "node_device"


class NodeDeviceProcedures(RemoteBase):
    """Node device procedures of the REMOTE program.

    Registrations for node device events are kept as libvirtd keeps them; the test
    driver's node devices never change here (creating and destroying vHBAs is not
    modelled), so no event is sent.
    """

    def connect_node_device_event_register_any(
        self, call: Call, args: wire.ConnectNodeDeviceEventRegisterAnyArgs
    ) -> wire.ConnectNodeDeviceEventRegisterAnyRet:
        key = args.dev.name if args.dev is not None else None
        cb_id = self.register_event(call, NODEDEV_KIND, args.eventID,
                                    NODE_DEVICE_EVENT_ID_LAST, key, "node device")
        return wire.ConnectNodeDeviceEventRegisterAnyRet(cb_id)

    def connect_node_device_event_deregister_any(
        self, call: Call, args: wire.ConnectNodeDeviceEventDeregisterAnyArgs
    ) -> None:
        self.deregister_event(call, NODEDEV_KIND, args.callbackID, "node device")

    @procedure(285, args=ConnectListAllArgs, ret=ConnectListAllNodeDevicesRet, readonly=True,
               inline=True)
    def connect_list_all_node_devices(
        self, call: Call, args: ConnectListAllArgs
    ) -> ConnectListAllNodeDevicesRet:
        names = self.opened(call).hv.nodedevs.list_all(args.flags)
        wire = [NonnullNodeDevice(n) for n in names] if args.need_results else []
        return ConnectListAllNodeDevicesRet(wire, len(names))

    @procedure(111, args=NodeNumOfDevicesArgs, ret=IntRet, readonly=True, inline=True)
    def node_num_of_devices(self, call: Call, args: NodeNumOfDevicesArgs) -> IntRet:
        hv = self.opened(call).hv
        if args.flags:
            from ..domxml import VirtError

            raise VirtError.bad_flags("testNodeNumOfDevices", args.flags)
        return IntRet(len(hv.nodedevs.names(args.cap)))

    @procedure(112, args=NodeListDevicesArgs, ret=NamesRet, readonly=True, inline=True)
    def node_list_devices(self, call: Call, args: NodeListDevicesArgs) -> NamesRet:
        hv = self.opened(call).hv
        _check_max(args.maxnames, NODE_DEVICE_LIST_MAX, "REMOTE_NODE_DEVICE_LIST_MAX")
        if args.flags:
            from ..domxml import VirtError

            raise VirtError.bad_flags("testNodeListDevices", args.flags)
        return NamesRet(hv.nodedevs.names(args.cap)[: max(args.maxnames, 0)])

    @procedure(113, args=NameArgs, ret=NodeDeviceRet, readonly=True, inline=True)
    def node_device_lookup_by_name(self, call: Call, args: NameArgs) -> NodeDeviceRet:
        name = self.opened(call).hv.nodedevs.lookup_by_name(args.name)
        return NodeDeviceRet(NonnullNodeDevice(name))

    @procedure(114, args=NodeDeviceXmlArgs, ret=StringRet, readonly=True, inline=True)
    def node_device_get_xml_desc(self, call: Call, args: NodeDeviceXmlArgs) -> StringRet:
        hv = self.opened(call).hv
        return StringRet(hv.nodedevs.get_xml_desc(args.name, args.flags))

    @procedure(115, args=NameArgs, ret=NodeDeviceGetParentRet, readonly=True, inline=True)
    def node_device_get_parent(self, call: Call, args: NameArgs) -> NodeDeviceGetParentRet:
        return NodeDeviceGetParentRet(self.opened(call).hv.nodedevs.get_parent(args.name))

    @procedure(116, args=NameArgs, ret=IntRet, readonly=True, inline=True)
    def node_device_num_of_caps(self, call: Call, args: NameArgs) -> IntRet:
        return IntRet(len(self.opened(call).hv.nodedevs.list_caps(args.name)))

    @procedure(117, args=NodeDeviceListCapsArgs, ret=NamesRet, readonly=True, inline=True)
    def node_device_list_caps(self, call: Call, args: NodeDeviceListCapsArgs) -> NamesRet:
        hv = self.opened(call).hv
        _check_max(args.maxnames, NODE_DEVICE_CAPS_LIST_MAX, "REMOTE_NODE_DEVICE_CAPS_LIST_MAX")
        return NamesRet(hv.nodedevs.list_caps(args.name)[: max(args.maxnames, 0)])
