"""The testvirtd fixture and TestVirtd, driven with netrpc's own client (both backends)."""

from __future__ import annotations

import os
import statistics
import time

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from netrpc import Client, ConnectionLostError, RPCError
from netrpc.io.server.faults import FaultRuleError
from netrpc.testing import SyncClient, TestVirtd

REMOTE = rt.REMOTE_PROGRAM
EXTRA = """<domain type='test'><name>extra</name><memory>1024</memory>
<os><type>hvm</type></os></domain>"""


def call(client: SyncClient, proc: int, args: object = None, ret: object = None) -> object:
    payload = b"" if args is None else type(args).xdr.encode(args)  # type: ignore[attr-defined]
    reply = client.call(REMOTE, 1, proc, payload)
    return reply if ret is None else ret.xdr.decode(reply)  # type: ignore[attr-defined]


def opened(path: str) -> SyncClient:
    client = SyncClient(path, timeout=10)
    try:
        call(client, 1, rt.ConnectOpenArgs("test:///default", 0))
    except BaseException:
        client.close()
        raise
    return client


def domain_names(client: SyncClient) -> list[str]:
    ret = call(client, 273, rt.ConnectListAllArgs(1, 0), rt.ConnectListAllDomainsRet)
    return sorted(d.name for d in ret.domains)  # type: ignore[attr-defined]


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_fresh_state(testvirtd: TestVirtd, round_: int) -> None:
    # Whichever round runs second would see the first one's domain without the reset.
    with opened(testvirtd.socket) as client:
        assert domain_names(client) == ["test"]
        call(client, 11, rt.DomainDefineXmlArgs(EXTRA), rt.DomainRet)
        assert domain_names(client) == ["extra", "test"]


def test_reset_drops_connections_and_faults(testvirtd: TestVirtd) -> None:
    with opened(testvirtd.socket) as client:
        testvirtd.fault("CONNECT_GET_TYPE:error=1/7/boom")
        testvirtd.reset()
        with pytest.raises(ConnectionLostError):
            call(client, 3)
    assert testvirtd.faults == []
    with opened(testvirtd.socket) as client:
        assert call(client, 3, None, rt.StringRet).value == "TEST"  # type: ignore[attr-defined]


def test_fault_api(testvirtd: TestVirtd) -> None:
    assert testvirtd.fault("domain_get_info:error=1/10/injected failure,times=1") == (
        "DOMAIN_GET_INFO:error=1/10/injected failure,times=1"
    )
    assert testvirtd.faults == ["DOMAIN_GET_INFO:error=1/10/injected failure,times=1"]
    with pytest.raises(FaultRuleError, match="unknown procedure NOPE"):
        testvirtd.fault("NOPE:hang")
    with opened(testvirtd.socket) as client:
        dom = call(client, 23, rt.NameArgs("test"), rt.DomainRet).dom  # type: ignore[attr-defined]
        with pytest.raises(RPCError, match="injected failure"):
            call(client, 16, rt.DomainArgs(dom))
        assert len(call(client, 16, rt.DomainArgs(dom))) == 32  # type: ignore[arg-type]
    assert testvirtd.faults == []
    testvirtd.fault("*:hang")
    assert testvirtd.clear_faults() == 1
    assert "fault rule added: *:hang" in testvirtd.log()


def test_disconnect_all_and_restart(testvirtd: TestVirtd) -> None:
    with opened(testvirtd.socket) as client:
        assert testvirtd.disconnect_all() == 1
        with pytest.raises(ConnectionLostError):
            call(client, 3)
    with opened(testvirtd.socket) as client:
        call(client, 11, rt.DomainDefineXmlArgs(EXTRA), rt.DomainRet)
        assert testvirtd.restart(downtime=1.0) == 1
    with pytest.raises((ConnectionLostError, OSError)):
        opened(testvirtd.socket).close()
    deadline = time.monotonic() + 10
    while True:
        try:
            client = opened(testvirtd.socket)
            break
        except (ConnectionLostError, OSError):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    with client:
        assert domain_names(client) == ["extra", "test"]  # state kept


@pytest.mark.anyio
async def test_async_clients_on_both_backends(testvirtd: TestVirtd, anyio_backend: str) -> None:
    async with Client.unix(testvirtd.socket) as client:
        await client.call(REMOTE, 1, 1, rt.ConnectOpenArgs.xdr.encode(rt.ConnectOpenArgs("", 0)))
        reply = await client.call(REMOTE, 1, 3)
        assert rt.StringRet.xdr.decode(reply).value == "TEST"
        testvirtd.fault("CONNECT_GET_TYPE:delay=0.3,times=1")
        start = anyio.current_time()
        await client.call(REMOTE, 1, 3)
        assert anyio.current_time() - start >= 0.25


def test_per_test_overhead(testvirtd: TestVirtd) -> None:
    """What the fixture costs per test: one reset over the control socket."""
    with opened(testvirtd.socket) as client:
        call(client, 11, rt.DomainDefineXmlArgs(EXTRA), rt.DomainRet)
    times = []
    for _ in range(100):
        start = time.perf_counter()
        testvirtd.reset()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"testvirtd reset: median {median * 1000:.2f} ms, max {max(times) * 1000:.2f} ms")
    assert median < 0.05  # generous: about a millisecond on an idle machine


def test_context_manager_without_pytest() -> None:
    with TestVirtd(tls=False) as tv:
        pid = tv.pid
        assert tv.running
        with opened(tv.socket) as client:
            assert domain_names(client) == ["test"]
        assert tv.uri == f"test+unix:///default?socket={tv.socket}"
        assert tv.tcp_uri.startswith("test+tcp://127.0.0.1:")
        assert tv.qemu_uri == f"qemu+unix:///system?socket={tv.socket}"
        assert tv.admin_uri == f"libvirtd:///system?socket={tv.admin_socket}"
        workdir = tv.workdir
    assert not tv.running
    assert workdir is not None and not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_bad_start_reports_the_daemon_output() -> None:
    from netrpc.testing import TestVirtdError

    with pytest.raises(TestVirtdError, match="unknown procedure NOPE"):
        TestVirtd(tls=False, faults=["NOPE:hang"], startup_timeout=20).start()
