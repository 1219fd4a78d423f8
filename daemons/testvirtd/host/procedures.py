"""REMOTE procedures of the connection and the host: handshake, CONNECT_OPEN/CLOSE, close
callbacks, driver type and versions, node info, capabilities, security model."""

from __future__ import annotations

from typing import Final

from netrpc import Call, RPCError

from ..connection import RemoteBase
from ..drivers import uri_flavour
from ..remote_types import (
    ConnectOpenArgs,
    IntRet,
    NodeGetInfoRet,
    NodeGetSecurityModelRet,
    OptStringArgs,
    StringRet,
    SupportsFeatureArgs,
    UHyperRet,
    char_array,
)

__all__ = ("SUPPORTED_FEATURES", "Feature", "HostProcedures")


class Feature:
    """``VIR_DRV_FEATURE_*`` numbers the daemon answers specially."""

    PROGRAM_KEEPALIVE: Final = 10
    REMOTE_EVENT_CALLBACK: Final = 14
    REMOTE_CLOSE_CALLBACK: Final = 15


#: Features the test driver behind libvirtd 9.0 reports as supported (probed: 8, 9, 10, 14,
#: 15 and 16 answer 1, everything else 0).
SUPPORTED_FEATURES: Final = frozenset({8, 9, 10, 14, 15, 16})

VIR_CONNECT_RO: Final = 1


class HostProcedures(RemoteBase):
    """Handshake, connection and host procedures."""

    # ============================================================== handshake & connection

    def connect_supports_feature(self, call: Call, args: SupportsFeatureArgs) -> IntRet:
        if args.feature == Feature.PROGRAM_KEEPALIVE:
            call.client.start_keepalive()
            return IntRet(1)
        self.opened(call)
        return IntRet(1 if args.feature in SUPPORTED_FEATURES else 0)

    def connect_open(self, call: Call, args: ConnectOpenArgs) -> None:
        st = self.state(call.client)
        if st.uri is not None:
            raise RPCError.internal("connection already open")
        if args.name is None:
            raise RPCError.internal("connection not open")
        name = args.name or self.drivers.default_uri
        st.driver = self.drivers.open(name)
        st.uri = name
        st.flavour = uri_flavour(name)
        st.readonly = bool(call.client.readonly or args.flags & VIR_CONNECT_RO)

    def connect_close(self, call: Call, args: None) -> None:
        self.release(call.client)
        call.client.close_after_reply()

    def connect_get_uri(self, call: Call, args: None) -> StringRet:
        st = self.opened(call)
        assert st.uri is not None
        return StringRet(st.uri)

    def connect_register_close_callback(self, call: Call, args: None) -> None:
        self.opened(call).close_callback = True

    def connect_unregister_close_callback(self, call: Call, args: None) -> None:
        self.opened(call).close_callback = False

    # ============================================================== host

    def connect_get_type(self, call: Call, args: None) -> StringRet:
        st = self.opened(call)
        return StringRet(st.hv.host.get_type(st.flavour))

    def connect_get_version(self, call: Call, args: None) -> UHyperRet:
        st = self.opened(call)
        return UHyperRet(st.hv.host.get_version(st.flavour))

    def connect_get_lib_version(self, call: Call, args: None) -> UHyperRet:
        return UHyperRet(self.opened(call).hv.host.get_lib_version())

    def connect_get_hostname(self, call: Call, args: None) -> StringRet:
        return StringRet(self.opened(call).hv.host.get_hostname())

    def connect_get_max_vcpus(self, call: Call, args: OptStringArgs) -> IntRet:
        st = self.opened(call)
        return IntRet(st.hv.host.get_max_vcpus(args.value, st.flavour))

    def node_get_info(self, call: Call, args: None) -> NodeGetInfoRet:
        st = self.opened(call)
        info = st.hv.host.node_get_info(st.flavour)
        return NodeGetInfoRet(char_array(info.model, 32), info.memory, info.cpus, info.mhz,
                              info.nodes, info.sockets, info.cores, info.threads)

    def connect_get_capabilities(self, call: Call, args: None) -> StringRet:
        st = self.opened(call)
        return StringRet(st.hv.host.get_capabilities(st.flavour))

    def node_get_security_model(self, call: Call, args: None) -> NodeGetSecurityModelRet:
        st = self.opened(call)
        model, doi = st.hv.host.node_get_security_model(st.flavour)
        return NodeGetSecurityModelRet(char_array(model), char_array(doi))
