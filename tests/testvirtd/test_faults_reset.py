"""testvirtd's fault rules (by REMOTE procedure name) and its state reset."""

from __future__ import annotations

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.faults import remote_procedure_number
from daemons.testvirtd.hypervisor import Hypervisor
from netrpc import ConnectionLostError, RPCError

from ._support import connect, running_daemon

pytestmark = pytest.mark.anyio

NEW_DOMAIN = """<domain type='test'><name>extra</name><memory>1024</memory>
<os><type>hvm</type></os></domain>"""


def test_procedure_names_are_libvirts() -> None:
    assert remote_procedure_number("DOMAIN_GET_INFO") == 16
    assert remote_procedure_number("domain_get_info") == 16
    assert remote_procedure_number("DOMAIN_CREATE_XML_WITH_FILES") == 309
    assert remote_procedure_number("STORAGE_VOL_CREATE_XML_FROM") == 125
    assert remote_procedure_number("CONNECT_OPEN") == 1
    # Procedures testvirtd does not implement have names too.
    assert remote_procedure_number("CONNECT_NUM_OF_SECRETS") == 139
    assert remote_procedure_number("NO_SUCH_THING") is None


async def test_rules_by_name_apply_to_the_remote_program() -> None:
    async with running_daemon(faults=["DOMAIN_GET_INFO:error=1/10/injected failure,times=1"]
                              ) as daemon, connect(daemon) as r:
        dom = await r.lookup()
        with pytest.raises(RPCError) as info:
            await r.call(16, rt.DomainArgs(dom))
        assert (info.value.code, info.value.domain, info.value.message) == (
            1, 10, "injected failure")
        assert len(await r.call(16, rt.DomainArgs(dom))) == 32
        daemon.faults.add("*:drop-before")
        with pytest.raises(ConnectionLostError):
            await r.call(3)


async def test_reset_gives_fresh_state_and_drops_connections() -> None:
    async with running_daemon() as daemon:
        async with connect(daemon) as r:
            await r.call(11, rt.DomainDefineXmlArgs(NEW_DOMAIN), rt.DomainRet)
            dom = await r.lookup()
            await r.call(12, rt.DomainArgs(dom))  # destroy "test"
            first = await r.call(316, rt.DomainCallbackRegisterAnyArgs(0, None),
                                 rt.CallbackIdRet)
            assert first.callback_id == 0
            daemon.faults.add("DOMAIN_GET_INFO:hang")
            await daemon.reset()
            with anyio.fail_after(5):
                await r.client.closed.wait()
        assert daemon.faults.rules == []
        with Hypervisor(hostname="testhost") as fresh:
            assert daemon.hv.to_json() == fresh.to_json()
        async with connect(daemon) as r:
            names = await r.call(273, rt.ConnectListAllArgs(1, 3),
                                 rt.ConnectListAllDomainsRet)
            assert [d.name for d in names.domains] == ["test"]
            dom = await r.lookup()
            assert (dom.id, await r.state(dom)) == (1, (1, 0))
            again = await r.call(316, rt.DomainCallbackRegisterAnyArgs(0, None),
                                 rt.CallbackIdRet)
            assert again.callback_id == 0
            assert len(await r.call(16, rt.DomainArgs(dom))) == 32
