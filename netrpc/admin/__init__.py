"""Administration: libvirt's ADMIN program, libvirtd.conf-style configuration, logging."""

from .program import AdminProgram as AdminProgram
from .program import enable_admin as enable_admin

__all__ = ("AdminProgram", "enable_admin")
