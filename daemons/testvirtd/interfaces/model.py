"""Host network interfaces of a driver instance (``virInterface``)."""

from __future__ import annotations

from ..hypervisor.core import DriverCore

__all__ = ("Interfaces",)


class Interfaces:
    """The host interfaces of one driver instance."""

    def __init__(self, core: DriverCore) -> None:
        self._core = core
