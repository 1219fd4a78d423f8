"""Node devices of a driver instance (``virNodeDevice``)."""

from __future__ import annotations

from ..hypervisor.core import DriverCore

__all__ = ("NodeDevices",)


class NodeDevices:
    """The node devices of one driver instance."""

    def __init__(self, core: DriverCore) -> None:
        self._core = core
