"""Counts and sizes a peer sends are refused before testvirtd sizes anything by them.

(What the refusals say is checked side by side with libvirtd in
tests/interop/test_sidebyside_bounds.py; here: that they cost neither memory nor time.)
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest

from daemons.testvirtd import bounds
from daemons.testvirtd import protocol as P
from netrpc import RPCError
from netrpc.core import xdrlang

from ._support import REMOTE, TEST_UUID, connect, running_daemon

pytestmark = pytest.mark.anyio

I32 = 2**31 - 1
U32 = 2**32 - 1
_TEST = P.NonnullDomain("test", TEST_UUID, 1)

#: calls whose counts or sizes would have testvirtd build gigabytes if it trusted them
HUGE: list[tuple[str, tuple[Any, ...], str]] = [
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 1, I32, 0), "maxinfo * maplen > REMOTE_CPUMAPS_MAX"),
    ("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, I32, 1, 0), "ncpumaps > REMOTE_VCPUINFO_MAX"),
    ("DOMAIN_GET_VCPUS", (_TEST, 1, I32), "maxinfo * maplen > REMOTE_CPUMAPS_MAX"),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", (_TEST, I32, 0), "Unable to encode message payload"),
    ("DOMAIN_MEMORY_PEEK", (_TEST, 0, U32, 1), "size > maximum buffer size"),
    ("DOMAIN_BLOCK_PEEK", (_TEST, "vda", 0, U32, 0), "size > maximum buffer size"),
    ("DOMAIN_GET_CPU_STATS", (_TEST, 2, 0, U32, 0), "ncpus too large"),
    ("DOMAIN_GET_DISK_ERRORS", (_TEST, U32, 0), "maxerrors too large"),
    ("DOMAIN_MEMORY_STATS", (_TEST, U32, 0), "maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX"),
    ("DOMAIN_GET_MEMORY_PARAMETERS", (_TEST, I32, 0), "nparams too large"),
    ("CONNECT_LIST_DOMAINS", (I32,), "maxids > REMOTE_DOMAIN_LIST_MAX"),
    ("NODE_GET_FREE_PAGES", ([4], 0, U32, 0), "the result won't fit into REMOTE_NODE_MAX_CELLS"),
]


def _encode(name: str, values: tuple[Any, ...]) -> bytes:
    decl = P.PROCS[name]
    assert decl.args is not None
    return decl.args.encode(type(xdrlang.default_value(decl.args))(*values))


async def test_huge_counts_are_refused_without_allocating() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        tracemalloc.start()
        try:
            started = time.monotonic()
            for name, values, text in HUGE:
                with pytest.raises(RPCError) as caught:
                    await r.client.call(REMOTE, 1, P.PROCS[name].number, _encode(name, values))
                assert text in caught.value.message, name
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert elapsed < 10, elapsed
    assert peak < 4 * 2**20, peak


async def test_replies_at_the_limit_have_the_length_asked_for() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        ret = P.PROCS["DOMAIN_GET_VCPU_PIN_INFO"].ret
        assert ret is not None
        reply = ret.decode(await r.client.call(
            REMOTE, 1, P.PROCS["DOMAIN_GET_VCPU_PIN_INFO"].number,
            _encode("DOMAIN_GET_VCPU_PIN_INFO", (_TEST, 4, 3, 0))))
        # libvirtd sends all ncpumaps * maplen bytes, the maps it did not fill zeroed
        assert reply.num == 2 and len(reply.cpumaps) == 12
        assert reply.cpumaps[6:] == bytes(6)


def test_helpers() -> None:
    bounds.at_most(16, 16, "x")
    with pytest.raises(RPCError) as caught:
        bounds.at_most(17, 16, "nparams too large")
    assert (caught.value.code, caught.value.message) == (1, "internal error: nparams too large")
    with pytest.raises(RPCError) as caught:
        bounds.list_max(-1, 5, "maxnames", "REMOTE_X_MAX")
    assert (caught.value.code, caught.value.message) == (39, "maxnames must be non-negative")
    with pytest.raises(RPCError) as caught:
        bounds.list_max(6, 5, "maxnames", "REMOTE_X_MAX")
    assert caught.value.message == "maxnames > REMOTE_X_MAX"
    params = [("a", 1, 5), ("b", 7, "s")]
    assert bounds.typed_params_reply(params, 0, 0) == ([], 2)
    assert bounds.typed_params_reply(params, 2, 0) == ([("a", 1, 5)], 0)
    assert bounds.typed_params_reply(params, 2, bounds.STRING_OKAY) == (params, 0)
