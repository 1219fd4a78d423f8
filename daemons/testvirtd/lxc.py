"""libvirt's LXC program (0x00068000 v1): ``virsh lxc-enter-namespace`` and friends.

libvirtd serves the program on every connection; with the test driver behind it, its one
procedure (DOMAIN_OPEN_NAMESPACE) is not supported, and testvirtd answers exactly that.
"""

from __future__ import annotations

from netrpc import Program

from .protocol import LXC_PROCS, LXC_PROGRAM
from .remote import RemoteProgram
from .unsupported import UnsupportedAnswers

__all__ = ("LxcProgram",)


class LxcProgram(UnsupportedAnswers, Program):
    """The LXC program, sharing the REMOTE program's connection state."""

    number = LXC_PROGRAM
    version = 1
    declarations = LXC_PROCS
    inline_by_default = True
    answers_key = "LXC"

    def __init__(self, remote: RemoteProgram) -> None:
        self.remote = remote
