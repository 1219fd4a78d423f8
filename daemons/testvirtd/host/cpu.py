"""CPU models per architecture, as libvirt 9.0's CPU drivers list them
(``virConnectGetCPUModelNames``, ``virsh cpu-models``).

libvirt knows an architecture by its canonical name only (``x86_64``, not ``amd64``); it has
a CPU driver for a few of them, and only the x86 and ppc64 drivers name models (the arm and
s390 drivers answer an empty list).  The names and their order are those of libvirt 9.0's
CPU map, probed from libvirtd.
"""

from __future__ import annotations

from typing import Final

from ..domxml import ErrCode, ErrDomain, VirtError

__all__ = ("ARCHITECTURES", "cpu_model_names")

#: ``VIR_FROM_CPU``
FROM_CPU: Final = 31

#: every architecture name libvirt 9.0 knows (``virArchFromString``)
ARCHITECTURES: Final = frozenset({
    "alpha", "armv6l", "armv7l", "armv7b", "aarch64", "cris", "i686", "ia64", "lm32", "m68k",
    "microblaze", "microblazeel", "mips", "mipsel", "mips64", "mips64el", "openrisc",
    "parisc", "parisc64", "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb", "riscv32", "riscv64",
    "s390", "s390x", "sh4", "sh4eb", "sparc", "sparc64", "unicore32", "x86_64", "xtensa",
    "xtensaeb",
})

_X86_MODELS: Final = (
    "486", "pentium", "pentium2", "pentium3", "pentiumpro", "coreduo", "n270", "core2duo",
    "qemu32", "kvm32", "cpu64-rhel5", "cpu64-rhel6", "qemu64", "kvm64", "Conroe", "Penryn",
    "Nehalem", "Nehalem-IBRS", "Westmere", "Westmere-IBRS", "SandyBridge", "SandyBridge-IBRS",
    "IvyBridge", "IvyBridge-IBRS", "Haswell-noTSX", "Haswell-noTSX-IBRS", "Haswell",
    "Haswell-IBRS", "Broadwell-noTSX", "Broadwell-noTSX-IBRS", "Broadwell", "Broadwell-IBRS",
    "Skylake-Client", "Skylake-Client-IBRS", "Skylake-Client-noTSX-IBRS", "Skylake-Server",
    "Skylake-Server-IBRS", "Skylake-Server-noTSX-IBRS", "Cascadelake-Server",
    "Cascadelake-Server-noTSX", "Icelake-Client", "Icelake-Client-noTSX", "Icelake-Server",
    "Icelake-Server-noTSX", "Cooperlake", "Snowridge", "athlon", "phenom", "Opteron_G1",
    "Opteron_G2", "Opteron_G3", "Opteron_G4", "Opteron_G5", "EPYC", "EPYC-IBPB", "EPYC-Rome",
    "EPYC-Milan", "Dhyana",
)
_PPC64_MODELS: Final = (
    "POWER6", "POWER7", "POWER8", "POWER9", "POWER10", "POWERPC_e5500", "POWERPC_e6500",
)

#: the architectures a CPU driver serves, and the models it names
_DRIVER_MODELS: Final[dict[str, tuple[str, ...]]] = {
    "i686": _X86_MODELS, "x86_64": _X86_MODELS,
    "ppc64": _PPC64_MODELS, "ppc64le": _PPC64_MODELS,
    "armv6l": (), "armv7l": (), "armv7b": (), "aarch64": (),
    "s390": (), "s390x": (),
}


def cpu_model_names(arch: str) -> list[str]:
    """The CPU models of *arch*, or libvirt's error for an unknown architecture (the test
    driver's "cannot find architecture") or one no CPU driver serves."""
    if arch not in ARCHITECTURES:
        raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                            f"cannot find architecture {arch}")
    models = _DRIVER_MODELS.get(arch)
    if models is None:
        raise VirtError.no_support(FROM_CPU,
                                   f"'{arch}' architecture is not supported by CPU driver")
    return list(models)
