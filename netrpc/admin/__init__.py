"""Administration: what runs a daemon rather than the protocol.

libvirt's ADMIN program (:mod:`.program`: servers, clients, worker pools, limits and
logging, steered by ``virt-admin``), the fault control program (:mod:`.faults`),
libvirtd.conf-style configuration (:mod:`.config`) and libvirt's logging settings
(:mod:`.logconfig`).

May import: core, security, discovery, io.
"""

from .program import AdminProgram as AdminProgram
from .program import enable_admin as enable_admin

__all__ = ("AdminProgram", "enable_admin")
