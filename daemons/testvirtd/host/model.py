"""The host a driver instance runs on: driver type and versions, node info, capabilities,
security model and free memory, as libvirt's test driver reports them (or, for the QEMU
flavour, a small x86_64 KVM host).

Node files (``test:///PATH.xml``) may replace the node info (``<cpu>``/``<memory>``).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Final

from netrpc import ErrorCode, ErrorDomain, RPCError

from ..core import DriverCore, Flavour
from ..domxml import ErrCode, ErrDomain, VirtError

__all__ = ("CPU_STATS", "SYSINFO", "Host", "NodeInfo", "check_flags", "unset_error")


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """``virNodeInfo``: memory in KiB, mhz in MHz."""

    model: str
    memory: int
    cpus: int
    mhz: int
    nodes: int
    sockets: int
    cores: int
    threads: int


#: The test driver's built-in node (testNodeInfo) and a small KVM host for the QEMU view.
TEST_NODE: Final = NodeInfo("i686", 3145728, 16, 1400, 2, 2, 2, 2)
QEMU_NODE: Final = NodeInfo("x86_64", 3145728, 4, 2400, 1, 1, 2, 2)

#: hypervisor version (``virConnectGetVersion``) per flavour: the test driver says 2.
_HV_VERSION: Final = {"test": 2, "qemu": 7_002_000}
LIB_VERSION: Final = 9_000_000
HOST_UUID: Final = "7d9a8c62-0b5e-4e3f-9d43-6a7e2a3c1f00"

#: what the test driver answers to ``virConnectGetSysinfo``
SYSINFO: Final = (
    "<sysinfo type='smbios'>\n"
    "  <bios>\n"
    "    <entry name='vendor'>LENOVO</entry>\n"
    "    <entry name='version'>G4ETA1WW (2.61 )</entry>\n"
    "    <entry name='date'>05/07/2014</entry>\n"
    "    <entry name='release'>2.61</entry>\n"
    "  </bios>\n"
    "</sysinfo>\n"
)

#: the test driver's host CPU counters (``virNodeGetCPUStats``), in nanoseconds
CPU_STATS: Final = (
    ("user", 9797400000),
    ("kernel", 34678723400000),
    ("idle", 87264900000),
    ("iowait", 763600000),
)


def check_flags(function: str, flags: int, allowed: int) -> None:
    """``virCheckFlags(allowed)`` of the test driver's *function*."""
    bad = flags & ~allowed
    if bad:
        raise VirtError.bad_flags(function, bad)


def unset_error() -> RPCError:
    """What libvirtd's dispatcher sends when a call failed without saying why."""
    return RPCError(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                    "Library function returned error but did not set virError",
                    int1=0, int2=0)


class Host:
    """The node of one driver instance.

    :param hostname: what ``virConnectGetHostname`` answers (default: this machine's name,
        as the test driver does).
    """

    def __init__(self, core: DriverCore, hostname: str | None = None) -> None:
        self._core = core
        self._hostname = hostname
        self._node = TEST_NODE
        self.host_uuid = HOST_UUID
        #: NUMA cells of the test view: test:///default has two, node-file instances none
        self.numa = True

    @property
    def hostname(self) -> str | None:
        """The host name given at construction (None: this machine's)."""
        return self._hostname

    def set_node_info(self, info: NodeInfo) -> None:
        """Replace the test view's node info (what a node file's ``<cpu>`` and ``<memory>``
        say)."""
        self._node = info

    def get_type(self, flavour: Flavour | None = None) -> str:
        """``virConnectGetType``: "TEST" or "QEMU"."""
        return "TEST" if self._core.view(flavour) == "test" else "QEMU"

    def get_version(self, flavour: Flavour | None = None) -> int:
        """``virConnectGetVersion``: 2 for the test driver (0.0.2), 7002000 for QEMU 7.2."""
        return _HV_VERSION[self._core.view(flavour)]

    def get_lib_version(self) -> int:
        """``virConnectGetLibVersion``: 9000000 (libvirt 9.0.0)."""
        return LIB_VERSION

    def get_hostname(self) -> str:
        """``virConnectGetHostname``: the host's name, like the test driver."""
        return self._hostname or socket.gethostname()

    def get_max_vcpus(self, type: str | None = None, flavour: Flavour | None = None) -> int:
        """``virConnectGetMaxVcpus`` (32 for the test driver)."""
        return 32 if self._core.view(flavour) == "test" else 255

    def node_get_info(self, flavour: Flavour | None = None) -> NodeInfo:
        """``virNodeGetInfo``, with the test driver's numbers (or the node file's)."""
        return self._node if self._core.view(flavour) == "test" else QEMU_NODE

    def node_get_cells_free_memory(
        self, start: int, maxcells: int, flavour: Flavour | None = None
    ) -> list[int]:
        """``virNodeGetCellsFreeMemory`` in bytes (the test driver's cells: 2 and 4 MiB)."""
        cells = [mem for mem, _free in self._cells(flavour)]
        if start < 0 or start >= len(cells):
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                                "Range exceeds available cells")
        return cells[start : start + maxcells]

    def _cells(self, flavour: Flavour | None) -> list[tuple[int, int]]:
        """(memory, free memory) in bytes of each NUMA cell: the test driver gives its cells
        2 and 4 MiB, of which 1 and 2 MiB are free (it counts KiB values as bytes)."""
        if self._core.view(flavour) == "test":
            # node-file instances have no NUMA cells
            return [(2097152, 1048576), (4194304, 2097152)] if self.numa else []
        return [(3145728 * 1024, 2097152 * 1024)]

    def node_get_free_memory(self, flavour: Flavour | None = None) -> int:
        """``virNodeGetFreeMemory``: the cells' free memory, in bytes."""
        return sum(free for _mem, free in self._cells(flavour))

    def node_get_free_pages(self, pages: list[int], start: int, count: int, flags: int,
                            flavour: Flavour | None = None) -> list[int]:
        """``virNodeGetFreePages``.

        The test driver fills in made-up counts but reports 0 counts filled, which libvirtd's
        dispatcher takes for a failure without an error: every call that gets that far fails
        with "Library function returned error but did not set virError".
        """
        check_flags("testNodeGetFreePages", flags, 0)
        raise unset_error()

    def node_get_cpu_stats(self, cpu: int, nparams: int, flags: int,
                           flavour: Flavour | None = None) -> list[tuple[str, int]]:
        """``virNodeGetCPUStats``: the test driver's fixed counters, whatever the CPU (none
        when *nparams* is 0: the caller asks how many there are)."""
        check_flags("testNodeGetCPUStats", flags, 0)
        if nparams == 0:
            return []
        return list(CPU_STATS[:nparams])

    def get_sysinfo(self, flags: int, flavour: Flavour | None = None) -> str:
        """``virConnectGetSysinfo``: the test driver's SMBIOS document."""
        check_flags("testConnectGetSysinfo", flags, 0)
        return SYSINFO

    def get_capabilities(self, flavour: Flavour | None = None) -> str:
        """``virConnectGetCapabilities``: the test driver's document (or a QEMU host's)."""
        if self._core.view(flavour) == "test":
            return _test_capabilities(self.numa)
        return _qemu_capabilities(self.host_uuid)

    def node_get_security_model(self, flavour: Flavour | None = None) -> tuple[str, str]:
        """``virNodeGetSecurityModel``: (model, doi)."""
        return ("testSecurity", "") if self._core.view(flavour) == "test" else ("none", "0")


# --------------------------------------------------------------------------------------------
# Capabilities documents


def _test_capabilities(numa: bool = True) -> str:
    cells = []
    for cell, (mem, pagesize) in enumerate(((2097152, 4), (4194304, 8)) if numa else ()):
        cpus = "".join(
            f"            <cpu id='{cell * 8 + i}' socket_id='{cell}' die_id='0' "
            f"core_id='{i}' siblings='{cell * 8 + i}'/>\n"
            for i in range(8)
        )
        cells.append(
            f"        <cell id='{cell}'>\n"
            f"          <memory unit='KiB'>{mem}</memory>\n"
            f"          <pages unit='KiB' size='{pagesize}'>524288</pages>\n"
            "          <pages unit='KiB' size='2048'>0</pages>\n"
            "          <pages unit='KiB' size='1048576'>0</pages>\n"
            "          <cpus num='8'>\n"
            f"{cpus}"
            "          </cpus>\n"
            "        </cell>\n"
        )
    guests = "".join(
        "  <guest>\n"
        f"    <os_type>{os_type}</os_type>\n"
        "    <arch name='i686'>\n"
        "      <wordsize>32</wordsize>\n"
        "      <emulator>/usr/bin/test-hv</emulator>\n"
        "      <domain type='test'/>\n"
        "    </arch>\n"
        "    <features>\n"
        "      <pae/>\n"
        "      <nonpae/>\n"
        "    </features>\n"
        "  </guest>\n\n"
        for os_type in ("hvm", "xen")
    )
    return (
        "<capabilities>\n\n"
        "  <host>\n"
        "    <cpu>\n"
        "      <arch>i686</arch>\n"
        "      <features>\n"
        "        <pae/>\n"
        "        <nonpae/>\n"
        "      </features>\n"
        "      <pages unit='KiB' size='4'/>\n"
        "      <pages unit='KiB' size='8'/>\n"
        "      <pages unit='KiB' size='2048'/>\n"
        "      <pages unit='KiB' size='1048576'/>\n"
        "    </cpu>\n"
        "    <power_management/>\n"
        "    <iommu support='no'/>\n"
        "    <topology>\n"
        f"      <cells num='{len(cells)}'>\n"
        f"{''.join(cells)}"
        "      </cells>\n"
        "    </topology>\n"
        "    <secmodel>\n"
        "      <model>testSecurity</model>\n"
        "      <doi></doi>\n"
        "    </secmodel>\n"
        "  </host>\n\n"
        f"{guests}"
        "</capabilities>\n"
    )


def _qemu_capabilities(host_uuid: str) -> str:
    machines = "".join(
        f"      <machine maxCpus='{n}'>{m}</machine>\n"
        for m, n in (("pc-i440fx-7.2", 255), ("pc-q35-7.2", 288))
    )
    guest = (
        "  <guest>\n"
        "    <os_type>hvm</os_type>\n"
        "    <arch name='x86_64'>\n"
        "      <wordsize>64</wordsize>\n"
        "      <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
        f"{machines}"
        "      <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>\n"
        "      <machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine>\n"
        "      <domain type='qemu'/>\n"
        "      <domain type='kvm'/>\n"
        "    </arch>\n"
        "    <features>\n"
        "      <acpi default='on' toggle='yes'/>\n"
        "      <apic default='on' toggle='no'/>\n"
        "      <cpuselection/>\n"
        "      <deviceboot/>\n"
        "      <disksnapshot default='on' toggle='no'/>\n"
        "    </features>\n"
        "  </guest>\n\n"
    )
    cpus = "".join(
        f"            <cpu id='{i}' socket_id='0' die_id='0' core_id='{i // 2}' "
        f"siblings='{i - i % 2}-{i - i % 2 + 1}'/>\n"
        for i in range(4)
    )
    return (
        "<capabilities>\n\n"
        "  <host>\n"
        f"    <uuid>{host_uuid}</uuid>\n"
        "    <cpu>\n"
        "      <arch>x86_64</arch>\n"
        "      <model>qemu64</model>\n"
        "      <vendor>AMD</vendor>\n"
        "      <topology sockets='1' dies='1' cores='2' threads='2'/>\n"
        "      <pages unit='KiB' size='4'/>\n"
        "      <pages unit='KiB' size='2048'/>\n"
        "    </cpu>\n"
        "    <power_management/>\n"
        "    <iommu support='no'/>\n"
        "    <migration_features>\n"
        "      <live/>\n"
        "      <uri_transports>\n"
        "        <uri_transport>tcp</uri_transport>\n"
        "        <uri_transport>rdma</uri_transport>\n"
        "      </uri_transports>\n"
        "    </migration_features>\n"
        "    <topology>\n"
        "      <cells num='1'>\n"
        "        <cell id='0'>\n"
        "          <memory unit='KiB'>3145728</memory>\n"
        "          <pages unit='KiB' size='4'>786432</pages>\n"
        "          <pages unit='KiB' size='2048'>0</pages>\n"
        "          <cpus num='4'>\n"
        f"{cpus}"
        "          </cpus>\n"
        "        </cell>\n"
        "      </cells>\n"
        "    </topology>\n"
        "    <secmodel>\n"
        "      <model>none</model>\n"
        "      <doi>0</doi>\n"
        "    </secmodel>\n"
        "  </host>\n\n"
        f"{guest}"
        "</capabilities>\n"
    )
