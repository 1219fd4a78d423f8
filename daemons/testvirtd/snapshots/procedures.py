"""REMOTE procedures of domain snapshots and checkpoints."""

from __future__ import annotations

from netrpc import Call

from ..connection import RemoteBase
from ..domains.procedures import dom_ref
from ..remote_types import DomainFlagsArgs, IntRet

__all__ = ("SnapshotProcedures",)


class SnapshotProcedures(RemoteBase):
    """Snapshot and checkpoint procedures of the REMOTE program."""

    def domain_snapshot_num(self, call: Call, args: DomainFlagsArgs) -> IntRet:
        hv = self.opened(call).hv
        return IntRet(hv.snapshots.num(dom_ref(args.dom), args.flags))
