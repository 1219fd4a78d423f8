"""A driver instance per URI: test:///default discarded with its last connection (unless
kept), a private instance per connection for node files, loaded with the test driver's
rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.domxml import VirtError
from daemons.testvirtd.nodefile import load_node_file
from netrpc import RPCError

from ._support import connect, running_daemon

pytestmark = pytest.mark.anyio

NODE = Path(__file__).resolve().parents[1] / "interop" / "data" / "node" / "node.xml"


async def _names(r: object) -> list[str]:
    ret = await r.call(273, rt.ConnectListAllArgs(1, 0), rt.ConnectListAllDomainsRet)  # type: ignore[attr-defined]
    return sorted(d.name for d in ret.domains)


async def test_default_discarded_with_last_connection() -> None:
    async with running_daemon(keep_state=False) as daemon:
        async with connect(daemon) as a, connect(daemon) as b:
            dom = await a.lookup()
            await a.call(34, rt.DomainArgs(dom))  # suspend
            assert (await b.state(dom))[0] == 3  # shared while both are open
        async with connect(daemon) as c:
            assert (await c.state(await c.lookup()))[0] == 1  # a fresh test:///default


async def test_default_kept_with_keep_state() -> None:
    async with running_daemon(keep_state=True) as daemon:
        async with connect(daemon) as a:
            await a.call(34, rt.DomainArgs(await a.lookup()))
        async with connect(daemon) as b:
            assert (await b.state(await b.lookup()))[0] == 3


async def test_node_file_instance_per_connection() -> None:
    async with running_daemon() as daemon:
        async with connect(daemon, open=False) as a, connect(daemon, open=False) as b:
            await a.open(f"test://{NODE}")
            await b.open(f"test://{NODE}")
            assert "web" in await _names(a) and "test" not in await _names(a)
            web = (await a.call(23, rt.NameArgs("web"), rt.DomainRet)).dom
            assert web.id == 1
            await a.call(34, rt.DomainArgs(web))
            assert (await a.state(web))[0] == 3
            assert (await b.state(web))[0] == 1  # b has its own instance
            assert daemon.remote.drivers.private_count == 2
            info = await a.call(6, None, rt.NodeGetInfoRet)
            assert (info.cpus, info.mhz, info.memory) == (24, 3200, 16777216)
        async with connect(daemon) as c:
            assert await _names(c) == ["test"]  # test:///default is untouched
        assert daemon.remote.drivers.private_count == 0


async def test_node_file_errors_reach_the_client(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<node><cpu><mhz>fast</mhz></cpu></node>")
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        with pytest.raises(RPCError) as info:
            await r.open(f"test://{bad}")
        assert (info.value.code, info.value.domain) == (27, 12)
        assert info.value.message == "XML error: invalid node cpu mhz value"
        with pytest.raises(RPCError) as info:
            await r.open(f"test://{tmp_path}/missing.xml")
        assert info.value.message == (
            f"XML error: failed to parse xml document '{tmp_path}/missing.xml'")
        await r.open("test:///default")  # the connection is still usable


async def test_default_uri_may_name_a_node_file() -> None:
    async with running_daemon(default_uri=f"test://{NODE}") as daemon:
        async with connect(daemon, open=False) as r:
            await r.open("")
            assert "snapper" in await _names(r)
            uri = await r.call(110, None, rt.StringRet)
            assert uri.value == f"test://{NODE}"


def test_loader_follows_the_test_driver() -> None:
    hv = load_node_file(str(NODE))
    try:
        states = {d.name: (d.id, hv.domains.get_state(d)) for d in hv.domains.list_all()}
        assert states["web"] == (1, (1, 0)) and states["db"] == (2, (3, 0))
        assert states["batch"] == (-1, (5, 0)) and states["crashed"][1] == (6, 0)
        assert not hv.domains.is_persistent(hv.domains.lookup_by_name("scratch"))
        assert hv.domains.has_managed_save_image(hv.domains.lookup_by_name("saved"))
        assert hv.snapshots.num(hv.domains.lookup_by_name("snapper")) == 2
        pool = hv.storage.pool_lookup_by_name("pool-a")
        assert hv.storage.pool_get_info(pool).capacity == 100 * 1024**3
        vol = hv.storage.vol_lookup_by_name(pool, "install.iso")
        assert vol.key == "/pool-a/install.iso"  # the path is sanitised, the file= resolved
        assert sorted(i.name for i in hv.interfaces.list_all()) == [
            "bond0", "br0", "eth0", "eth0.42"]
        assert hv.nodedevs.get_parent("block_sda_WDC_1234") == "scsi_host5"
        assert "cells num='0'" in hv.host.get_capabilities()
    finally:
        hv.close()


def test_runstate_errors(tmp_path: Path) -> None:
    ns = "xmlns:test='http://libvirt.org/schemas/domain/test/1.0'"
    base = "<name>a</name><memory>1024</memory><os><type>hvm</type></os>"
    cases = {
        "<test:runstate>8</test:runstate>": "XML error: runstate '8' out of range'",
        "<test:transient/><test:runstate>5</test:runstate>":
            "XML error: transient domain cannot have runstate 'shutoff'",
        "<test:hasmanagedsave/>":
            "XML error: domain with managedsave data can only have runstate 'shutoff'",
    }
    for extra, message in cases.items():
        path = tmp_path / "n.xml"
        path.write_text(f"<node><domain type='test' {ns}>{base}{extra}</domain></node>")
        with pytest.raises(VirtError) as info:
            load_node_file(str(path))
        assert info.value.message == message
