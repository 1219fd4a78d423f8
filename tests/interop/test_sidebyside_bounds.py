"""Counts and sizes a peer sends, at their limits and past them, side by side with libvirtd.

libvirtd's dispatcher refuses a count or length past the protocol's ``REMOTE_..._MAX`` (and a
negative one) before it allocates anything, and the API entry points then refuse what the
driver must not see; testvirtd must refuse the same values with the same errors, in the
same order (the domain lookup comes first for some calls, last for others).  Each bound is
called at its limit, one past it, with the largest value of its type and, where the type
is signed, with -1 and the smallest value.  Where the API refuses something else,
the calls at the limit carry it (a start CPU of -2, both address flags), so that they show
the bound let them through; the other calls at a limit, and the few that succeed, show the
same.  KEPT_CALLS holds the bounds testvirtd kept before they were gathered in one module.
"""

from __future__ import annotations

import pytest

from daemons.testvirtd import protocol as P

from .rawcalls import RawCall, compare
from .sidebyside import SideBySide

pytestmark = pytest.mark.interop

I32 = 2**31 - 1
N32 = -(2**31)
U32 = 2**32 - 1

_TEST = P.NonnullDomain("test", bytes.fromhex("6695eb01f6a4830479aa97f2502e193f"), 1)
_GONE = P.NonnullDomain("gone", bytes.fromhex("6695eb01f6a4830479aa97f2502e1930"), -1)
#: an inactive domain: calls that pass the bounds then fail the same way in both daemons
_IDLE_UUID = "9b4a2b5e-6f1c-4c1a-8a52-1d0b5d7e3c11"
_IDLE = P.NonnullDomain("idle", bytes.fromhex(_IDLE_UUID.replace("-", "")), -1)
_IDLE_XML = (f"<domain type='test'><name>idle</name><uuid>{_IDLE_UUID}</uuid>"
             "<memory>1048576</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>")
#: both daemons allocate a buffer this large for such a call: keep it out of successes
_MAPS = P.CPUMAPS_MAX


def _signed(name: str, make: object, limit: int) -> list[RawCall]:
    """*make(value)* at the limit, one past it, at the type's extremes and at -1."""
    assert callable(make)
    return [(name, make(v)) for v in (limit, limit + 1, I32, -1, N32)]


def _unsigned(name: str, make: object, limit: int) -> list[RawCall]:
    assert callable(make)
    return [(name, make(v)) for v in (limit, limit + 1, U32)]


VCPU_CALLS: list[RawCall] = [
    ("DOMAIN_DEFINE_XML", (_IDLE_XML,)),
    # maxinfo, maplen: the counts, their product, then the API's own checks
    ("DOMAIN_GET_VCPUS", (_IDLE, 16384, 1)), ("DOMAIN_GET_VCPUS", (_IDLE, 16385, 0)),
    ("DOMAIN_GET_VCPUS", (_IDLE, -1, 1)), ("DOMAIN_GET_VCPUS", (_IDLE, N32, 1)),
    ("DOMAIN_GET_VCPUS", (_IDLE, 1, -1)), ("DOMAIN_GET_VCPUS", (_IDLE, 1, N32)),
    ("DOMAIN_GET_VCPUS", (_IDLE, I32, I32)), ("DOMAIN_GET_VCPUS", (_IDLE, 1, _MAPS)),
    ("DOMAIN_GET_VCPUS", (_IDLE, 1, _MAPS + 1)), ("DOMAIN_GET_VCPUS", (_IDLE, 2, _MAPS // 2 + 1)),
    ("DOMAIN_GET_VCPUS", (_IDLE, 4096, 2**20)), ("DOMAIN_GET_VCPUS", (_IDLE, 16384, 513)),
    ("DOMAIN_GET_VCPUS", (_IDLE, 1, I32)), ("DOMAIN_GET_VCPUS", (_IDLE, 0, 0)),
    ("DOMAIN_GET_VCPUS", (_IDLE, 0, 1)), ("DOMAIN_GET_VCPUS", (_IDLE, 1, 0)),
    ("DOMAIN_GET_VCPUS", (_GONE, I32, I32)), ("DOMAIN_GET_VCPUS", (_GONE, -1, -1)),
    ("DOMAIN_GET_VCPUS", (_GONE, 0, 5)), ("DOMAIN_GET_VCPUS", (_GONE, 1, 1)),
    # ncpumaps, maplen
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 1, 1, 0)), ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 3, 2, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 16384, 1, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 16385, 1, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 16385, 0, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, -1, 1, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, N32, 1, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 1, -1, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 1, N32, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, -1, -1, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 1, _MAPS, 3)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 1, _MAPS + 1, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 2, _MAPS // 2 + 1, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 4096, 2**20, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, I32, I32, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 1, I32, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 65536, 65536, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 0, 0, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 0, 1, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 1, 0, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 1, 1, 3)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 16385, 1, 3)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_GONE, -1, -1, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_GONE, 0, 1, 0)), ("DOMAIN_GET_VCPU_PIN_INFO", (_GONE, 1, 0, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_GONE, 1, 1, 3)), ("DOMAIN_GET_VCPU_PIN_INFO", (_GONE, 1, 1, 0)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_IDLE, 4, 1, 2)),
    # maplen: only the reply's limit
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_TEST, 1, 0)),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_TEST, 2049, 0)),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_TEST, _MAPS, 3)),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_TEST, _MAPS + 1, 0)),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_TEST, I32, 0)),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_TEST, -1, 0)),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_TEST, N32, 0)),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_TEST, 0, 0)),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_TEST, -1, 3)),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_GONE, -1, 0)),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_GONE, 0, 0)), ("DOMAIN_GET_EMULATOR_PIN_INFO", (_GONE, I32, 0)),
    ("DOMAIN_UNDEFINE", (_IDLE,)),
]


STATS_CALLS: list[RawCall] = [
    # nparams, ncpus (unsigned), start_cpu (signed; -1 means the total)
    # (start_cpu -2: within the limits the API's check refuses it)
    *_unsigned("DOMAIN_GET_CPU_STATS", lambda n: (_TEST, n, -2, 1, 0), P.NODE_CPU_STATS_MAX),
    *_unsigned("DOMAIN_GET_CPU_STATS", lambda n: (_TEST, 2, -2, n, 0),
               P.DOMAIN_GET_CPU_STATS_NCPUS_MAX),
    ("DOMAIN_GET_CPU_STATS", (_TEST, 16, 0, 128, 0)),
    ("DOMAIN_GET_CPU_STATS", (_TEST, 2, -2, 1, 0)), ("DOMAIN_GET_CPU_STATS", (_TEST, 2, N32, 1, 0)),
    ("DOMAIN_GET_CPU_STATS", (_TEST, 2, I32, 1, 0)), ("DOMAIN_GET_CPU_STATS", (_TEST, 0, -1, 0, 0)),
    ("DOMAIN_GET_CPU_STATS", (_TEST, 2, -1, 2, 0)), ("DOMAIN_GET_CPU_STATS", (_TEST, 2, 0, 0, 0)),
    ("DOMAIN_GET_CPU_STATS", (_TEST, 0, 0, 0, 0)), ("DOMAIN_GET_CPU_STATS", (_TEST, 2, -1, 1, 0)),
    ("DOMAIN_GET_CPU_STATS", (_GONE, U32, 0, U32, 0)),
    ("DOMAIN_GET_CPU_STATS", (_GONE, 2, -2, 1, 0)), ("DOMAIN_GET_CPU_STATS", (_GONE, 2, 0, 0, 0)),
    # size against the peek buffer's limit (before the domain's state or the flags)
    # (flags 3: within the limit the API's check refuses them)
    *_unsigned("DOMAIN_MEMORY_PEEK", lambda n: (_TEST, 0, n, 3),
               P.DOMAIN_MEMORY_PEEK_BUFFER_MAX),
    ("DOMAIN_MEMORY_PEEK", (_TEST, 2**64 - 1, 16, 1)), ("DOMAIN_MEMORY_PEEK", (_TEST, 5, 0, 2)),
    ("DOMAIN_MEMORY_PEEK", (_GONE, 0, U32, 1)),
    *_unsigned("DOMAIN_BLOCK_PEEK", lambda n: (_TEST, "vda", 0, n, 0),
               P.DOMAIN_BLOCK_PEEK_BUFFER_MAX),
    ("DOMAIN_BLOCK_PEEK", (_GONE, "vda", 0, U32, 0)), ("DOMAIN_BLOCK_PEEK", (_GONE, "vda", 0, 1, 0)),
    ("DOMAIN_BLOCK_PEEK", (_TEST, "vda", 0, 0, 0)),
    # maxerrors, maxStats
    *_unsigned("DOMAIN_GET_DISK_ERRORS", lambda n: (_TEST, n, 0), P.DOMAIN_DISK_ERRORS_MAX),
    ("DOMAIN_GET_DISK_ERRORS", (_TEST, 1, 0)), ("DOMAIN_GET_DISK_ERRORS", (_TEST, 0, 0)),
    ("DOMAIN_GET_DISK_ERRORS", (_GONE, U32, 0)), ("DOMAIN_GET_DISK_ERRORS", (_TEST, U32, 1)),
    *_unsigned("DOMAIN_MEMORY_STATS", lambda n: (_TEST, n, 0), P.DOMAIN_MEMORY_STATS_MAX),
    ("DOMAIN_MEMORY_STATS", (_TEST, 0, 0)), ("DOMAIN_MEMORY_STATS", (_TEST, 3, 0)),
    ("DOMAIN_MEMORY_STATS", (_GONE, U32, 0)), ("DOMAIN_MEMORY_STATS", (_TEST, U32, 1)),
    ("DOMAIN_MEMORY_STATS", (_GONE, 0, 0)), ("DOMAIN_MEMORY_STATS", (_TEST, 0, 1)),
]


PARAMETER_CALLS: list[RawCall] = [
    *_signed("DOMAIN_GET_SCHEDULER_PARAMETERS", lambda n: (_TEST, n),
             P.DOMAIN_SCHEDULER_PARAMETERS_MAX),
    *_signed("DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS", lambda n: (_TEST, n, 0),
             P.DOMAIN_SCHEDULER_PARAMETERS_MAX),
    *_signed("DOMAIN_GET_BLKIO_PARAMETERS", lambda n: (_TEST, n, 0),
             P.DOMAIN_BLKIO_PARAMETERS_MAX),
    *_signed("DOMAIN_GET_MEMORY_PARAMETERS", lambda n: (_TEST, n, 0),
             P.DOMAIN_MEMORY_PARAMETERS_MAX),
    *_signed("DOMAIN_GET_NUMA_PARAMETERS", lambda n: (_TEST, n, 0),
             P.DOMAIN_NUMA_PARAMETERS_MAX),
    *_signed("DOMAIN_GET_INTERFACE_PARAMETERS", lambda n: (_TEST, "vnet0", n, 0),
             P.DOMAIN_INTERFACE_PARAMETERS_MAX),
    *_signed("DOMAIN_GET_BLOCK_IO_TUNE", lambda n: (_TEST, "vda", n, 0),
             P.DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX),
    *_signed("DOMAIN_BLOCK_STATS_FLAGS", lambda n: (_TEST, "vda", n, 0),
             P.DOMAIN_BLOCK_STATS_PARAMETERS_MAX),
    *_signed("NODE_GET_MEMORY_STATS", lambda n: (n, -1, 0), P.NODE_MEMORY_STATS_MAX),
    *_signed("NODE_GET_MEMORY_PARAMETERS", lambda n: (n, 0), P.NODE_MEMORY_PARAMETERS_MAX),
    ("DOMAIN_GET_SCHEDULER_PARAMETERS", (_GONE, -1)),
    ("DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS", (_GONE, I32, 0)),
    ("DOMAIN_GET_MEMORY_PARAMETERS", (_GONE, -1, 0)),
    ("DOMAIN_GET_NUMA_PARAMETERS", (_GONE, I32, 0)),
    ("DOMAIN_GET_BLKIO_PARAMETERS", (_GONE, -1, 0)),
    ("DOMAIN_GET_INTERFACE_PARAMETERS", (_GONE, "vnet0", -1, 0)),
    ("DOMAIN_GET_BLOCK_IO_TUNE", (_GONE, "vda", I32, 0)),
    ("DOMAIN_BLOCK_STATS_FLAGS", (_GONE, "vda", -1, 0)),
]


#: list calls whose upper bound testvirtd kept already (see KEPT_CALLS), and their limit
_LISTS = {"CONNECT_LIST_DOMAINS": P.DOMAIN_LIST_MAX,
          "CONNECT_LIST_DEFINED_DOMAINS": P.DOMAIN_LIST_MAX,
          "CONNECT_LIST_NETWORKS": P.NETWORK_LIST_MAX,
          "CONNECT_LIST_DEFINED_NETWORKS": P.NETWORK_LIST_MAX,
          "CONNECT_LIST_STORAGE_POOLS": P.STORAGE_POOL_LIST_MAX,
          "CONNECT_LIST_DEFINED_STORAGE_POOLS": P.STORAGE_POOL_LIST_MAX}

LIST_CALLS: list[RawCall] = [
    *[(name, (n,)) for name in _LISTS for n in (-1, N32)],
    *_signed("CONNECT_LIST_NWFILTERS", lambda n: (n,), P.NWFILTER_LIST_MAX),
    *_signed("CONNECT_LIST_SECRETS", lambda n: (n,), P.SECRET_LIST_MAX),
    *_signed("STORAGE_POOL_LIST_VOLUMES",
             lambda n: (P.NonnullStoragePool("default-pool", bytes.fromhex(
                 "dfe224cb28fb8dd0c4b2b4e4d2a17aaa")), n), P.STORAGE_VOL_LIST_MAX),
    # pages * cellCount wrapping round to 0: no counts buffer for the API
    ("NODE_GET_FREE_PAGES", ([4] * 2, 0, 2**31, 0)),
]


#: bounds testvirtd kept before they were gathered in daemons/testvirtd/bounds.py
KEPT_CALLS: list[RawCall] = [
    *[(name, (n,)) for name, limit in _LISTS.items() for n in (limit, limit + 1, I32)],
    *_signed("NODE_GET_CPU_STATS", lambda n: (-1, n, 0), P.NODE_CPU_STATS_MAX),
    *_signed("CONNECT_LIST_INTERFACES", lambda n: (n,), P.INTERFACE_LIST_MAX),
    *_signed("CONNECT_LIST_DEFINED_INTERFACES", lambda n: (n,), P.INTERFACE_LIST_MAX),
    *_signed("NODE_LIST_DEVICES", lambda n: ("system", n, 0), P.NODE_DEVICE_LIST_MAX),
    *_signed("NODE_DEVICE_LIST_CAPS", lambda n: ("computer", n), P.NODE_DEVICE_CAPS_LIST_MAX),
    # cells: pages * cellCount, then the API's checks
    ("NODE_GET_FREE_PAGES", ([4] * 1024, 0, 1, 0)), ("NODE_GET_FREE_PAGES", ([4] * 2, 0, 512, 0)),
    ("NODE_GET_FREE_PAGES", ([4] * 2, 0, 513, 0)), ("NODE_GET_FREE_PAGES", ([4], 0, U32, 0)),
    ("NODE_GET_FREE_PAGES", ([4], N32, 1, 0)),
    # (not a product that wraps round to a small non-zero one: libvirtd 9.0 then lets the
    # test driver write past its buffer, and crashes)
    ("NODE_GET_FREE_PAGES", ([4], I32, 1, 0)),
    ("NODE_GET_CELLS_FREE_MEMORY", (0, 1024)), ("NODE_GET_CELLS_FREE_MEMORY", (0, 1025)),
    ("NODE_GET_CELLS_FREE_MEMORY", (0, I32)), ("NODE_GET_CELLS_FREE_MEMORY", (0, N32)),
    ("NODE_GET_CELLS_FREE_MEMORY", (I32, 1)), ("NODE_GET_CELLS_FREE_MEMORY", (N32, 1)),
]


#: both of a pair of exclusive flags, where the API entry point or the driver refuses them
#: (every error field compared)
EXCLUSIVE_CALLS: list[RawCall] = [
    ("DOMAIN_SET_MEMORY_FLAGS", (_TEST, 1024, 3)),
    ("DOMAIN_SET_MEMORY_STATS_PERIOD", (_TEST, 1, 3)),
    ("DOMAIN_GET_VCPUS_FLAGS", (_TEST, 3)),
    ("DOMAIN_SET_VCPUS_FLAGS", (_TEST, 1, 3)),
    ("DOMAIN_PIN_IOTHREAD", (_TEST, 1, b"\x01", 3)),
    ("DOMAIN_ADD_IOTHREAD", (_TEST, 1, 3)),
    ("DOMAIN_DEL_IOTHREAD", (_TEST, 1, 3)),
    ("DOMAIN_GET_IOTHREAD_INFO", (_TEST, 3)),
    ("DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS", (_TEST, 1, 3)),
    ("DOMAIN_GET_BLKIO_PARAMETERS", (_TEST, 1, 3)),
    ("DOMAIN_GET_MEMORY_PARAMETERS", (_TEST, 1, 3)),
    ("DOMAIN_GET_NUMA_PARAMETERS", (_TEST, 1, 3)),
    ("DOMAIN_SET_NUMA_PARAMETERS", (_TEST, [P.TypedParam("numa_mode", (1, 0))], 3)),
    ("DOMAIN_SET_MEMORY_PARAMETERS", (_TEST, [P.TypedParam("hard_limit", (4, 1 << 20))],
                                      3)),
    ("DOMAIN_SET_BLKIO_PARAMETERS", (_TEST, [P.TypedParam("weight", (2, 500))], 3)),
    ("DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS", (_TEST, [P.TypedParam("weight", (2, 50))],
                                               3)),
    ("DOMAIN_GET_METADATA", (_TEST, 0, None, 3)),
    ("DOMAIN_SET_METADATA", (_TEST, 0, "d", None, None, 3)),
    ("DOMAIN_GET_PERF_EVENTS", (_TEST, 3)),
    ("DOMAIN_SET_PERF_EVENTS", (_TEST, [P.TypedParam("cmt", (6, 1))], 3)),
    ("DOMAIN_PIN_EMULATOR", (_TEST, b"\x01", 3)),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_TEST, 1, 3)),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 1, 1, 3)),
    ("DOMAIN_PIN_VCPU_FLAGS", (_TEST, 0, b"\x01", 3)),
    ("DOMAIN_MEMORY_PEEK", (_TEST, 0, 1, 3)),
]


#: no typed parameters to set: libvirtd hands the API a NULL list
EMPTY_PARAMETER_CALLS: list[RawCall] = [
    ("DOMAIN_SET_SCHEDULER_PARAMETERS", (_TEST, [])),
    ("DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS", (_TEST, [], 0)),
    ("DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS", (_TEST, [], 3)),
    ("DOMAIN_SET_MEMORY_PARAMETERS", (_TEST, [], 0)),
    ("DOMAIN_SET_MEMORY_PARAMETERS", (_TEST, [], 3)),
    ("DOMAIN_SET_BLKIO_PARAMETERS", (_TEST, [], 0)),
    ("DOMAIN_SET_NUMA_PARAMETERS", (_TEST, [], 0)),
    ("DOMAIN_SET_NUMA_PARAMETERS", (_TEST, [], 3)),
    ("DOMAIN_SET_PERF_EVENTS", (_TEST, [], 0)),
    ("DOMAIN_SET_BLOCK_IO_TUNE", (_TEST, "vda", [], 0)),
    ("DOMAIN_SET_INTERFACE_PARAMETERS", (_TEST, "eth0", [], 0)),
    ("DOMAIN_SET_IOTHREAD_PARAMS", (_TEST, 1, [], 0)),
    ("NODE_SET_MEMORY_PARAMETERS", ([], 0)),
    ("DOMAIN_SET_SCHEDULER_PARAMETERS", (_GONE, [])),
    ("DOMAIN_SET_MEMORY_PARAMETERS", (_GONE, [], 0)),
]


@pytest.mark.parametrize("calls", [VCPU_CALLS, STATS_CALLS, PARAMETER_CALLS, LIST_CALLS,
                                   KEPT_CALLS, EXCLUSIVE_CALLS, EMPTY_PARAMETER_CALLS],
                         ids=["vcpus", "stats", "parameters", "lists", "kept", "exclusive",
                              "empty-parameters"])
def test_raw_bounds(sidebyside: SideBySide, calls: list[RawCall]) -> None:
    """Counts and sizes at and past their limits get the same answers."""
    real_path, tvd_path = sidebyside.real.unix_path, sidebyside.tvd.unix_path
    assert real_path and tvd_path
    differences = compare(real_path, tvd_path, calls)
    assert not differences, "\n".join(differences)
