"""REMOTE procedures of the domain tuning APIs (see :mod:`.tuning`)."""

from __future__ import annotations

import os
from typing import Any

from netrpc import Call

from .. import protocol as P
from ..connection import RemoteBase
from .procedures import dom_ref
from .runtime_procedures import typed_params
from .tuning import DomainTuning, iothread_cpumap

__all__ = ("DomainTuningProcedures",)


class DomainTuningProcedures(RemoteBase):
    """Tuning of domains: IOThreads (REMOTE program)."""

    def _tuning(self, call: Call) -> DomainTuning:
        return DomainTuning(self.opened(call).hv.domains)

    def domain_get_iothread_info(self, call: Call, args: Any) -> Any:
        infos = self._tuning(call).iothread_info(dom_ref(args.dom), args.flags)
        maplen = ((os.cpu_count() or 1) + 7) // 8
        wire = [P.DomainIothreadInfo(n, iothread_cpumap(cpus, maplen)) for n, cpus in infos]
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
        self._tuning(call).set_iothread_params(dom_ref(args.dom), args.iothread_id,
                                               typed_params(args.params), args.flags)
        self.changed(call)
