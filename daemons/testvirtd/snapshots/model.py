"""Domain snapshots and checkpoints of a driver instance.

The test driver keeps snapshots in memory per domain; testvirtd does not model them yet, so
every domain has none.
"""

from __future__ import annotations

from ..domains.model import DomainKey, Domains
from ..hypervisor.core import DriverCore

__all__ = ("Snapshots",)


class Snapshots:
    """Snapshots and checkpoints, per domain."""

    def __init__(self, core: DriverCore, domains: Domains) -> None:
        self._core = core
        self._domains = domains

    def num(self, dom: DomainKey, flags: int = 0) -> int:
        """``virDomainSnapshotNum``."""
        self._domains.ref(dom)
        return 0

    def has_any(self, dom: DomainKey) -> bool:
        """Whether the domain has a snapshot (the HAS_SNAPSHOT list filter)."""
        return self.num(dom) > 0
