"""REMOTE procedures of the domain tuning APIs (see :mod:`.tuning`)."""

from __future__ import annotations

from typing import Any

from netrpc import Call
from netrpc.core import xdr

from .. import bounds
from .. import protocol as P
from ..connection import RemoteBase
from ..events import Outgoing
from .procedures import KIND, dom_ref, wire_dom
from .runtime_procedures import typed_params, wire_params
from .tuning import DomainMetadata, DomainMetadataChangeEvent, DomainTuning, iothread_cpumap

#: VIR_DOMAIN_EVENT_ID_METADATA_CHANGE and its message
METADATA_CHANGE_ID = 23
METADATA_CHANGE_PROC = 379
_METADATA_CODEC = xdr.codec_for(P.DomainEventCallbackMetadataChangeMsg)


def _metadata_change(event: DomainMetadataChangeEvent) -> Outgoing:
    def encode(cb: int) -> bytes:
        msg = P.DomainEventCallbackMetadataChangeMsg(cb, wire_dom(event.dom), event.type,
                                                     event.nsuri)
        return _METADATA_CODEC.encode(msg)

    return Outgoing(KIND, METADATA_CHANGE_ID, event.dom.uuid, METADATA_CHANGE_PROC, encode)

__all__ = ("DomainTuningProcedures",)


def _reply(params: list[Any], n: int, args: Any) -> tuple[list[Any], int]:
    """A ``virDomainGetXxxParameters`` reply: the count alone when asked for it."""
    if args.nparams == 0:
        return [], n
    got, count = bounds.typed_params_reply(params, args.nparams, args.flags)
    return wire_params(got), count


def _params_given(api: str, params: list[Any]) -> None:
    """``virCheckNonNullArgGoto(params)`` of a setter of typed parameters: libvirtd hands
    the API a NULL list for an empty one."""
    bounds.arg_non_null(bool(params), api, "params")


class DomainTuningProcedures(RemoteBase):
    """Tuning of domains: memory, vCPUs, pinning, lifecycle actions, typed parameters,
    IOThreads, metadata and renaming (REMOTE program)."""

    event_formatters: Any = {DomainMetadataChangeEvent: _metadata_change}

    def _tuning(self, call: Call) -> DomainTuning:
        return DomainTuning(self.opened(call).hv.domains)

    def domain_get_iothread_info(self, call: Call, args: Any) -> Any:
        self.opened(call)  # (before any argument check)
        bounds.live_or_config("virDomainGetIOThreadInfo", args.flags)
        infos = self._tuning(call).iothread_info(dom_ref(args.dom), args.flags)
        # each distinct list is converted once (IOThreads not pinned share one)
        maps = {id(cpus): iothread_cpumap(cpus) for _n, cpus in infos}
        wire = [P.DomainIothreadInfo(n, maps[id(cpus)]) for n, cpus in infos]
        return P.DomainGetIothreadInfoRet(wire, len(wire))

    def domain_add_iothread(self, call: Call, args: Any) -> None:
        self._tuning(call).add_iothread(dom_ref(args.dom), args.iothread_id, args.flags)
        self.changed(call)

    def domain_del_iothread(self, call: Call, args: Any) -> None:
        self._tuning(call).del_iothread(dom_ref(args.dom), args.iothread_id, args.flags)
        self.changed(call)

    def domain_pin_iothread(self, call: Call, args: Any) -> None:
        self._tuning(call).pin_iothread(dom_ref(args.dom), args.iothreads_id,
                                        bytes(args.cpumap), args.flags)
        self.changed(call)

    def domain_set_iothread_params(self, call: Call, args: Any) -> None:
        self.opened(call)  # (before any argument check)
        _params_given("virDomainSetIOThreadParams", args.params)
        self._tuning(call).set_iothread_params(dom_ref(args.dom), args.iothread_id,
                                               typed_params(args.params), args.flags)
        self.changed(call)

    # -------------------------------------------------------------- memory and vCPUs

    def domain_set_memory(self, call: Call, args: Any) -> None:
        self._tuning(call).set_memory(dom_ref(args.dom), args.memory, 1)
        self.changed(call)

    def domain_set_max_memory(self, call: Call, args: Any) -> None:
        self._tuning(call).set_memory(dom_ref(args.dom), args.memory, 4)
        self.changed(call)

    def domain_set_memory_flags(self, call: Call, args: Any) -> None:
        self._tuning(call).set_memory(dom_ref(args.dom), args.memory, args.flags)
        self.changed(call)

    def domain_set_memory_stats_period(self, call: Call, args: Any) -> None:
        self._tuning(call).set_memory_stats_period(dom_ref(args.dom), args.period, args.flags)
        self.changed(call)

    def domain_set_vcpus(self, call: Call, args: Any) -> None:
        self._tuning(call).set_vcpus(dom_ref(args.dom), args.nvcpus, 1)
        self.changed(call)

    def domain_set_vcpus_flags(self, call: Call, args: Any) -> None:
        self._tuning(call).set_vcpus(dom_ref(args.dom), args.nvcpus, args.flags)
        self.changed(call)

    def domain_pin_vcpu(self, call: Call, args: Any) -> None:
        self._tuning(call).pin_vcpu(dom_ref(args.dom), args.vcpu, bytes(args.cpumap), 0)
        self.changed(call)

    def domain_pin_vcpu_flags(self, call: Call, args: Any) -> None:
        self._tuning(call).pin_vcpu(dom_ref(args.dom), args.vcpu, bytes(args.cpumap),
                                    args.flags)
        self.changed(call)

    def domain_pin_emulator(self, call: Call, args: Any) -> None:
        self._tuning(call).pin_emulator(dom_ref(args.dom), bytes(args.cpumap), args.flags)
        self.changed(call)

    def domain_set_lifecycle_action(self, call: Call, args: Any) -> None:
        self._tuning(call).set_lifecycle_action(dom_ref(args.dom), args.type, args.action,
                                                args.flags)
        self.changed(call)

    # -------------------------------------------------------------- typed parameters

    def domain_get_memory_parameters(self, call: Call, args: Any) -> Any:
        self.opened(call)  # (before any argument check)
        bounds.nparams(args.nparams, P.DOMAIN_MEMORY_PARAMETERS_MAX)
        bounds.live_or_config("virDomainGetMemoryParameters", args.flags)
        params, n = self._tuning(call).memory_parameters(dom_ref(args.dom), args.nparams,
                                                         args.flags)
        return P.DomainGetMemoryParametersRet(*_reply(params, n, args))

    def domain_set_memory_parameters(self, call: Call, args: Any) -> None:
        self.opened(call)  # (before any argument check)
        _params_given("virDomainSetMemoryParameters", args.params)
        self._tuning(call).set_memory_parameters(dom_ref(args.dom), typed_params(args.params),
                                                 args.flags)
        self.changed(call)

    def domain_get_numa_parameters(self, call: Call, args: Any) -> Any:
        self.opened(call)  # (before any argument check)
        bounds.nparams(args.nparams, P.DOMAIN_NUMA_PARAMETERS_MAX)
        params, n = self._tuning(call).numa_parameters(dom_ref(args.dom), args.nparams,
                                                       args.flags)
        return P.DomainGetNumaParametersRet(*_reply(params, n, args))

    def domain_set_numa_parameters(self, call: Call, args: Any) -> None:
        self.opened(call)  # (before any argument check)
        _params_given("virDomainSetNumaParameters", args.params)
        self._tuning(call).set_numa_parameters(dom_ref(args.dom), typed_params(args.params),
                                               args.flags)
        self.changed(call)

    def domain_get_blkio_parameters(self, call: Call, args: Any) -> Any:
        self.opened(call)  # (before any argument check)
        bounds.nparams(args.nparams, P.DOMAIN_BLKIO_PARAMETERS_MAX)
        bounds.live_or_config("virDomainGetBlkioParameters", args.flags)
        params, n = self._tuning(call).blkio_parameters(dom_ref(args.dom), args.nparams,
                                                        args.flags)
        return P.DomainGetBlkioParametersRet(*_reply(params, n, args))

    def domain_set_blkio_parameters(self, call: Call, args: Any) -> None:
        self.opened(call)  # (before any argument check)
        _params_given("virDomainSetBlkioParameters", args.params)
        self._tuning(call).set_blkio_parameters(dom_ref(args.dom), typed_params(args.params),
                                                args.flags)
        self.changed(call)

    def domain_get_interface_parameters(self, call: Call, args: Any) -> Any:
        self.opened(call)  # (before any argument check)
        bounds.nparams(args.nparams, P.DOMAIN_INTERFACE_PARAMETERS_MAX)
        params, n = self._tuning(call).interface_parameters(dom_ref(args.dom), args.device,
                                                            args.nparams, args.flags)
        return P.DomainGetInterfaceParametersRet(*_reply(params, n, args))

    def domain_set_interface_parameters(self, call: Call, args: Any) -> None:
        self.opened(call)  # (before any argument check)
        _params_given("virDomainSetInterfaceParameters", args.params)
        self._tuning(call).set_interface_parameters(dom_ref(args.dom), args.device,
                                                    typed_params(args.params), args.flags)
        self.changed(call)

    def domain_get_block_io_tune(self, call: Call, args: Any) -> Any:
        self.opened(call)  # (before any argument check)
        bounds.nparams(args.nparams, P.DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX)
        params, n = self._tuning(call).block_io_tune(dom_ref(args.dom), args.disk or "",
                                                     args.nparams, args.flags)
        return P.DomainGetBlockIoTuneRet(*_reply(params, n, args))

    def domain_set_block_io_tune(self, call: Call, args: Any) -> None:
        self.opened(call)  # (before any argument check)
        bounds.arg_positive(len(args.params), "virDomainSetBlockIoTune", "nparams")
        self._tuning(call).set_block_io_tune(dom_ref(args.dom), args.disk,
                                             typed_params(args.params), args.flags)
        self.changed(call)

    def domain_get_perf_events(self, call: Call, args: Any) -> Any:
        params = self._tuning(call).perf_events(dom_ref(args.dom), args.flags)
        return P.DomainGetPerfEventsRet(wire_params(params))

    def domain_set_perf_events(self, call: Call, args: Any) -> None:
        self.opened(call)  # (before any argument check)
        _params_given("virDomainSetPerfEvents", args.params)
        self._tuning(call).set_perf_events(dom_ref(args.dom), typed_params(args.params),
                                           args.flags)
        self.changed(call)

    # -------------------------------------------------------------- metadata and name

    def domain_get_metadata(self, call: Call, args: Any) -> Any:
        self.opened(call)  # (before any argument check)
        bounds.live_or_config("virDomainGetMetadata", args.flags)
        meta = DomainMetadata(self.opened(call).hv.domains)
        return P.DomainGetMetadataRet(meta.get(dom_ref(args.dom), args.type, args.uri,
                                               args.flags))

    def domain_set_metadata(self, call: Call, args: Any) -> None:
        meta = DomainMetadata(self.opened(call).hv.domains)
        meta.set(dom_ref(args.dom), args.type, args.metadata, args.key, args.uri, args.flags)
        self.changed(call)

    def domain_rename(self, call: Call, args: Any) -> Any:
        self._tuning(call).rename(dom_ref(args.dom), args.new_name or "", args.flags)
        self.changed(call)
        return P.DomainRenameRet(0)
