"""Procedures testvirtd does not implement answer as libvirtd 9.0 with the test driver."""

from __future__ import annotations

import pytest

from daemons.testvirtd import parity, protocol
from netrpc import RPCError

from ._support import connect, running_daemon

NOT_SUPPORTED = "this function is not supported by the connection driver: "


async def _error(r: object, program: int, proc: int, args: object = None) -> RPCError:
    payload = b"" if args is None else type(args).xdr.encode(args)  # type: ignore[attr-defined]
    with pytest.raises(RPCError) as info:
        await r.client.call(program, 1, proc, payload)  # type: ignore[attr-defined]
    return info.value


async def test_not_supported_by_the_driver() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        error = await _error(r, protocol.REMOTE_PROGRAM, 139)
        assert (error.code, error.domain, error.level) == (3, 30, 2)
        assert error.message == NOT_SUPPORTED + "virConnectNumOfSecrets"
        assert (error.str1, error.str2) == (NOT_SUPPORTED + "%s", "virConnectNumOfSecrets")


async def test_before_open_the_connection_is_not_open() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        error = await _error(r, protocol.REMOTE_PROGRAM, 139)
        assert error.code == 1 and "connection not open" in (error.message or "")


async def test_readonly_refusal_comes_before_the_driver() -> None:
    args = protocol.ConnectDomainXmlToNativeArgs("native", "<domain/>", 0)
    async with running_daemon() as daemon:
        async with connect(daemon, via="ro") as r:
            error = await _error(r, protocol.REMOTE_PROGRAM, 136, args)
            assert (error.code, error.domain) == (29, 20)
            assert error.message == ("operation forbidden: read only access prevents "
                                     "virConnectDomainXMLToNative")
        async with connect(daemon) as r:
            error = await _error(r, protocol.REMOTE_PROGRAM, 136, args)
            assert error.message == NOT_SUPPORTED + "virConnectDomainXMLToNative"


async def test_argument_checks_come_before_the_driver() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        empty = protocol.NodeAllocPagesArgs([], [], 0, 0, 0)
        error = await _error(r, protocol.REMOTE_PROGRAM, 347, empty)
        assert (error.code, error.domain) == (8, 20)
        assert error.message == "npages in virNodeAllocPages must not be zero"
        pages = protocol.NodeAllocPagesArgs([4], [1], 0, 1, 0)
        error = await _error(r, protocol.REMOTE_PROGRAM, 347, pages)
        assert error.message == NOT_SUPPORTED + "virNodeAllocPages"


async def test_lxc_program_answers_as_libvirtd() -> None:
    args = protocol.DomainOpenNamespaceArgs(protocol.NonnullDomain("test", bytes(16), 1), 0)
    async with running_daemon() as daemon:
        async with connect(daemon) as r:
            error = await _error(r, protocol.LXC_PROGRAM, 1, args)
            assert (error.code, error.domain) == (3, 0)
            assert error.message == NOT_SUPPORTED + "virDomainLxcOpenNamespace"
        async with connect(daemon, via="ro") as r:
            error = await _error(r, protocol.LXC_PROGRAM, 1, args)
            assert error.code == 29
            assert error.message == ("operation forbidden: read only access prevents "
                                     "virDomainLxcOpenNamespace")


def test_parity_table_is_up_to_date() -> None:
    assert parity.update(parity.DOC, check=True), (
        "docs/testvirtd.md is stale: run python3 -m daemons.testvirtd.parity"
    )


def test_parity_statuses() -> None:
    rows = {(row.program, row.procedure): row for row in parity.rows()}
    assert rows[("REMOTE", "CONNECT_NUM_OF_SECRETS")].status == parity.NOT_SUPPORTED
    assert rows[("REMOTE", "DOMAIN_GET_INFO")].status == parity.SAME
    upload = rows[("REMOTE", "STORAGE_VOL_UPLOAD")]
    assert upload.status == parity.DIFFERENT and upload.reason
    assert rows[("LXC", "DOMAIN_OPEN_NAMESPACE")].status == parity.NOT_SUPPORTED
    assert ("REMOTE", "DOMAIN_EVENT_LIFECYCLE") not in rows
