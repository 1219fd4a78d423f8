"""REMOTE procedures of node devices (``virsh nodedev-*``): lists, lookups, XML, parents,
capabilities, vHBA creation and destruction, and node device lifecycle events."""

from __future__ import annotations

from typing import Any, Final

from netrpc import Call, xdr

from .. import bounds
from .. import protocol as P
from ..connection import RemoteBase
from ..domxml import VirtError
from ..events import Outgoing
from .model import NodeDeviceLifecycleEvent

__all__ = ("NodeDeviceProcedures",)

KIND: Final = "node_device"
#: VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE, VIR_NODE_DEVICE_EVENT_ID_LAST
EVENT_ID_LIFECYCLE: Final = 0
EVENT_ID_LAST: Final = 2
LIFECYCLE_PROC: Final = 376
_LIFECYCLE_CODEC = xdr.codec_for(P.NodeDeviceEventLifecycleMsg)


def _lifecycle(event: NodeDeviceLifecycleEvent) -> Outgoing:
    def encode(cb: int) -> bytes:
        msg = P.NodeDeviceEventLifecycleMsg(cb, P.NonnullNodeDevice(event.name), event.event,
                                            event.detail)
        return _LIFECYCLE_CODEC.encode(msg)

    return Outgoing(KIND, EVENT_ID_LIFECYCLE, event.name, LIFECYCLE_PROC, encode)


def _check_maxnames(maxnames: int, limit: int, what: str) -> None:
    # libvirtd's dispatcher, before the driver is asked
    bounds.list_max(maxnames, limit, "maxnames", what)


class NodeDeviceProcedures(RemoteBase):
    """Node device procedures of the REMOTE program."""

    #: how this kind's events travel (collected by RemoteProgram)
    event_formatters: Any = {NodeDeviceLifecycleEvent: _lifecycle}

    def connect_list_all_node_devices(self, call: Call, args: Any) -> Any:
        names = self.opened(call).hv.nodedevs.list_all(args.flags)
        wire = [P.NonnullNodeDevice(n) for n in names] if args.need_results else []
        return P.ConnectListAllNodeDevicesRet(wire, len(names))

    def node_num_of_devices(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        if args.flags:
            raise VirtError.bad_flags("testNodeNumOfDevices", args.flags)
        return P.NodeNumOfDevicesRet(len(hv.nodedevs.names(args.cap)))

    def node_list_devices(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        _check_maxnames(args.maxnames, P.NODE_DEVICE_LIST_MAX, "REMOTE_NODE_DEVICE_LIST_MAX")
        if args.flags:
            raise VirtError.bad_flags("testNodeListDevices", args.flags)
        return P.NodeListDevicesRet(hv.nodedevs.names(args.cap)[: args.maxnames])

    def node_device_lookup_by_name(self, call: Call, args: Any) -> Any:
        name = self.opened(call).hv.nodedevs.lookup_by_name(args.name)
        return P.NodeDeviceLookupByNameRet(P.NonnullNodeDevice(name))

    def node_device_get_xml_desc(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        return P.NodeDeviceGetXmlDescRet(hv.nodedevs.get_xml_desc(args.name, args.flags))

    def node_device_get_parent(self, call: Call, args: Any) -> Any:
        return P.NodeDeviceGetParentRet(self.opened(call).hv.nodedevs.get_parent(args.name))

    def node_device_num_of_caps(self, call: Call, args: Any) -> Any:
        return P.NodeDeviceNumOfCapsRet(len(self.opened(call).hv.nodedevs.list_caps(args.name)))

    def node_device_list_caps(self, call: Call, args: Any) -> Any:
        hv = self.opened(call).hv
        _check_maxnames(args.maxnames, P.NODE_DEVICE_CAPS_LIST_MAX,
                        "REMOTE_NODE_DEVICE_CAPS_LIST_MAX")
        return P.NodeDeviceListCapsRet(hv.nodedevs.list_caps(args.name)[: args.maxnames])

    def node_device_create_xml(self, call: Call, args: Any) -> Any:
        hv = self.writable(call, "virNodeDeviceCreateXML").hv
        name = hv.nodedevs.create_xml(args.xml_desc, args.flags)
        self.changed(call)
        return P.NodeDeviceCreateXmlRet(P.NonnullNodeDevice(name))

    def node_device_destroy(self, call: Call, args: Any) -> None:
        self.writable(call, "virNodeDeviceDestroy").hv.nodedevs.destroy(args.name)
        self.changed(call)

    # ============================================================== events

    def connect_node_device_event_register_any(self, call: Call, args: Any) -> Any:
        key = args.dev.name if args.dev is not None else None
        cb_id = self.register_event(call, KIND, args.eventID, EVENT_ID_LAST, key,
                                    "node device")
        return P.ConnectNodeDeviceEventRegisterAnyRet(cb_id)

    def connect_node_device_event_deregister_any(self, call: Call, args: Any) -> None:
        self.deregister_event(call, KIND, args.callbackID, "node device")
