"""Host, domain, network and pool procedures, reply layouts, read-only refusal, QEMU program."""

from __future__ import annotations

import json
import struct

import pytest

from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.hypervisor import Hypervisor
from netrpc import RPCError

from ._support import QEMU, REMOTE, TEST_UUID, connect, running_daemon

pytestmark = pytest.mark.anyio

#: NODE_GET_SECURITY_MODEL and DOMAIN_GET_SECURITY_LABEL replies of libvirtd 9.0.
SECURITY_MODEL_HEX = (
    "0000000d000000740000006500000073000000740000005300000065000000630000007500000072000000"
    "690000007400000079000000000000000100000000"
)
SECURITY_LABEL_HEX = (
    "0000000d0000006c0000006900000062000000760000006900000072000000740000002d00000074000000"
    "6500000073000000740000000000000001"
)


async def test_host_queries() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        assert (await r.call(3, None, rt.StringRet)).value == "TEST"
        assert (await r.call(4, None, rt.UHyperRet)).value == 2
        assert (await r.call(157, None, rt.UHyperRet)).value == 9_000_000
        assert (await r.call(59, None, rt.StringRet)).value == "testhost"
        caps = (await r.call(7, None, rt.StringRet)).value
        assert caps.startswith("<capabilities>")
        raw = await r.call(6)
        assert len(raw) == 160
        info = rt.NodeGetInfoRet.xdr.decode(raw)
        assert rt.from_char_array(info.model) == "i686"
        assert (info.memory, info.cpus, info.mhz, info.nodes) == (3145728, 16, 1400, 2)
        assert (await r.call(122)).hex() == SECURITY_MODEL_HEX


async def test_dominfo_procedures() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        dom = await r.lookup()
        assert (dom.name, bytes(dom.uuid), dom.id) == ("test", TEST_UUID, 1)
        assert (await r.call(19, rt.DomainArgs(dom), rt.StringRet)).value == "linux"
        raw = await r.call(16, rt.DomainArgs(dom))
        assert len(raw) == 32
        info = rt.DomainGetInfoRet.xdr.decode(raw)
        assert (info.state, info.maxMem, info.memory, info.nrVirtCpu) == (1, 8388608,
                                                                              2097152, 2)
        assert raw[:24].hex() == "000000010000000000800000000000000020000000000002"
        for proc, want in ((151, 1), (15, 0), (150, 1), (202, 0)):
            assert (await r.call(proc, rt.DomainArgs(dom), rt.IntRet)).value == want
        for proc in (183, 187):
            assert (await r.call(proc, rt.DomainFlagsArgs(dom, 0), rt.IntRet)).value == 0
        assert (await r.call(121, rt.DomainArgs(dom))).hex() == SECURITY_LABEL_HEX
        assert (await r.call(426, rt.DomainFlagsArgs(dom, 0))) == bytes(4)


async def test_lookups() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        dom = await r.lookup()
        by_uuid = (await r.call(24, rt.LookupByUuidArgs(TEST_UUID), rt.DomainRet)).dom
        by_id = (await r.call(22, rt.LookupByIdArgs(1), rt.DomainRet)).dom
        assert by_uuid == dom == by_id
        with pytest.raises(RPCError) as info:
            await r.call(22, rt.LookupByIdArgs(99))
        assert info.value.code == 42


async def test_list_all_domains() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        raw = await r.call(273, rt.ConnectListAllArgs(1, 3))
        ret = rt.ConnectListAllDomainsRet.xdr.decode(raw)
        assert [d.name for d in ret.domains] == ["test"] and ret.ret == 1
        assert raw.hex() == (
            "00000001" "0000000474657374" "6695eb01f6a4830479aa97f2502e193f" "00000001"
            "00000001"
        )
        ret = await r.call(273, rt.ConnectListAllArgs(0, 0), rt.ConnectListAllDomainsRet)
        assert (ret.domains, ret.ret) == ([], 1)
        with pytest.raises(RPCError) as info:
            await r.call(273, rt.ConnectListAllArgs(1, 1 << 31))
        assert (info.value.code, info.value.domain) == (8, 12)


async def test_lifecycle() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        dom = await r.lookup()
        await r.call(34, rt.DomainArgs(dom))
        assert await r.state(dom) == (3, 1)
        await r.call(28, rt.DomainArgs(dom))
        assert await r.state(dom) == (1, 5)
        await r.call(27, rt.DomainFlagsArgs(dom, 0))
        assert await r.state(dom) == (1, 1)
        await r.call(33, rt.DomainArgs(dom))
        assert await r.state(dom) == (5, 1)
        await r.call(9, rt.DomainArgs(dom))
        dom = (await r.call(24, rt.LookupByUuidArgs(TEST_UUID), rt.DomainRet)).dom
        assert dom.id == 2 and await r.state(dom) == (1, 1)
        await r.call(12, rt.DomainArgs(dom))
        assert await r.state(dom) == (5, 2)
        with pytest.raises(RPCError) as info:
            await r.call(12, rt.DomainArgs(dom))
        assert info.value.code == 55


async def test_networks_and_pools() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        nets = await r.call(283, rt.ConnectListAllArgs(1, 3), rt.ConnectListAllNetworksRet)
        assert [n.name for n in nets.nets] == ["default"] and nets.ret == 1
        net = (await r.call(46, rt.NameArgs("default"), rt.NetworkRet)).net
        assert net == nets.nets[0]
        for proc, want in ((152, 1), (153, 1), (44, 0)):
            assert (await r.call(proc, rt.NetworkArgs(net), rt.IntRet)).value == want
        assert (await r.call(45, rt.NetworkArgs(net), rt.StringRet)).value == "virbr0"
        pools = await r.call(281, rt.ConnectListAllArgs(1, 3), rt.ConnectListAllStoragePoolsRet)
        assert [p.name for p in pools.pools] == ["default-pool"]
        pool = (await r.call(84, rt.NameArgs("default-pool"), rt.StoragePoolRet)).pool
        raw = await r.call(87, rt.StoragePoolArgs(pool))
        assert raw.hex() == "00000002000000190000000000000000000000000000001900000000"
        for proc, want in ((154, 1), (155, 1), (89, 0)):
            assert (await r.call(proc, rt.StoragePoolArgs(pool), rt.IntRet)).value == want
        with pytest.raises(RPCError) as info:
            await r.call(46, rt.NameArgs("nosuch"))
        assert (info.value.code, info.value.domain) == (43, 12)


async def test_readonly_socket_refuses_changes() -> None:
    async with running_daemon() as daemon, connect(daemon, via="ro") as r:
        dom = await r.lookup()
        assert await r.state(dom) == (1, 0)
        with pytest.raises(RPCError) as info:
            await r.call(34, rt.DomainArgs(dom))
        err = info.value
        assert (err.code, err.domain) == (29, 20)
        assert err.message == "operation forbidden: read only access prevents virDomainSuspend"
        assert (err.str1, err.str2) == ("operation forbidden: %s",
                                        "read only access prevents virDomainSuspend")
        with pytest.raises(RPCError) as info:
            await r.call(11, rt.DomainDefineXmlArgs("<domain/>"))
        assert info.value.message.endswith("virDomainDefineXML")
        with pytest.raises(RPCError) as info:
            await r.call(42, rt.NetworkArgs(rt.NonnullNetwork("default", bytes(16))))
        assert (info.value.code, info.value.domain) == (29, 19)
        await r.call(316, rt.DomainCallbackRegisterAnyArgs(0, None))  # events are allowed
        assert await r.state(dom) == (1, 0)


async def test_readonly_open_flag() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        await r.open("test:///default", 1)  # VIR_CONNECT_RO
        dom = await r.lookup()
        with pytest.raises(RPCError) as info:
            await r.call(34, rt.DomainArgs(dom))
        assert (info.value.code, info.value.domain) == (29, 20)


async def test_qemu_monitor_command() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        dom = await r.lookup()
        args = rt.DomainMonitorCommandArgs(dom, '{"execute":"query-status","id":7}', 0)
        ret = await r.call(1, args, rt.DomainMonitorCommandRet, program=QEMU)
        reply = json.loads(ret.result)
        assert reply["return"]["status"] == "running" and reply["id"] == 7
        args = rt.DomainMonitorCommandArgs(dom, '{"execute":"stop"}', 0)
        await r.call(1, args, rt.DomainMonitorCommandRet, program=QEMU)
        assert (await r.state(dom))[0] == 3
        hmp = rt.DomainMonitorCommandArgs(dom, "info status", 1)
        ret = await r.call(1, hmp, rt.DomainMonitorCommandRet, program=QEMU)
        assert ret.result == "VM status: paused\r\n"
        await r.call(12, rt.DomainArgs(dom))
        with pytest.raises(RPCError) as info:
            await r.call(1, args, program=QEMU)
        assert info.value.code == 55


async def test_qemu_program_needs_open_and_write_access() -> None:
    async with running_daemon() as daemon:
        async with connect(daemon, open=False) as r:
            args = rt.DomainMonitorCommandArgs(rt.NonnullDomain("test", TEST_UUID, 1), "{}", 0)
            with pytest.raises(RPCError) as info:
                await r.call(1, args, program=QEMU)
            assert info.value.message == "internal error: hypervisor connection not open"
        async with connect(daemon, via="ro") as r:
            with pytest.raises(RPCError) as info:
                await r.call(1, args, program=QEMU)
            assert info.value.message.endswith("virDomainQemuMonitorCommand")


async def test_state_file_saved_after_each_change(tmp_path: pytest.TempPathFactory) -> None:
    path = str(tmp_path / "state.json")  # type: ignore[operator]
    async with running_daemon(state_file=path) as daemon, connect(daemon) as r:
        dom = await r.lookup()
        await r.call(34, rt.DomainArgs(dom))
        with Hypervisor.load(path) as saved:
            assert saved.domains.get_state(TEST_UUID) == (3, 1)
        await r.call(28, rt.DomainArgs(dom))
        with Hypervisor.load(path) as saved:
            assert saved.domains.get_state(TEST_UUID)[0] == 1


async def test_get_max_vcpus_and_misc() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        assert (await r.call(5, rt.OptStringArgs(None), rt.IntRet)).value == 32
        dom = await r.lookup()
        assert (await r.call(17, rt.DomainArgs(dom), rt.UHyperRet)).value == 8388608
        await r.call(29, rt.DomainSetAutostartArgs(dom, 1))
        assert (await r.call(15, rt.DomainArgs(dom), rt.IntRet)).value == 1
        raw = await r.client.call(REMOTE, 1, 14, rt.DomainFlagsArgs.xdr.encode(
            rt.DomainFlagsArgs(dom, 0)))
        (length,) = struct.unpack(">I", raw[:4])
        assert b"<name>test</name>" in raw[4:4 + length]


async def test_paths_end_at_their_first_nul() -> None:
    """A save-image path holding a NUL is read up to it, as libvirtd's C string is: a
    missing file gets libvirt's system error, never a traceback."""
    path = b"/nonexistent-netrpc-dir/image\0tail"
    payload = struct.pack(">I", len(path)) + path + b"\0" * (-len(path) % 4)
    async with running_daemon() as daemon, connect(daemon) as r:
        with pytest.raises(RPCError) as caught:
            await r.client.call(REMOTE, 1, 54, payload)  # DOMAIN_RESTORE
        assert caught.value.code == 38
        assert caught.value.message == (
            "cannot read domain image '/nonexistent-netrpc-dir/image': No such file or directory")
