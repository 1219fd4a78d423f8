"""Error replies and malformed input (interop.md section 6, traces/raw_error_probe.txt)."""

from __future__ import annotations

import struct

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from netrpc import RPCError

from ._support import QEMU, REMOTE, connect, packet, read_packet, running_daemon, tcp_port

pytestmark = pytest.mark.anyio

#: The error payload libvirtd 9.0 sent for CONNECT_GET_URI before CONNECT_OPEN (probe 4g).
NOT_OPEN_PAYLOAD = bytes.fromhex(
    "0000000100000007000000010000002e696e7465726e616c206572726f723a2068797065727669736f7220"
    "636f6e6e656374696f6e206e6f74206f70656e000000000002000000000000000100000012696e7465726e"
    "616c206572726f723a2025730000000000010000001e68797065727669736f7220636f6e6e656374696f6e"
    "206e6f74206f70656e000000000000ffffffffffffffff00000000"
)

#: ... and for CONNECT_OPEN with the name absent (probe 4g).
ABSENT_NAME_PAYLOAD = bytes.fromhex(
    "00000001000000070000000100000023696e7465726e616c206572726f723a20636f6e6e656374696f6e20"
    "6e6f74206f70656e00000000020000000000000001"
    "00000012696e7465726e616c206572726f723a20257300000000000100000013636f6e6e656374696f6e20"
    "6e6f74206f70656e0000000000ffffffffffffffff"
    "00000000"
)


async def _raw_exchange(port: int, data: bytes) -> tuple[tuple[int, ...], bytes]:
    stream = await anyio.connect_tcp("127.0.0.1", port)
    async with stream:
        await stream.send(data)
        with anyio.fail_after(5):
            return await read_packet(stream)


async def test_not_open_exact_bytes() -> None:
    async with running_daemon() as daemon:
        header, payload = await _raw_exchange(tcp_port(daemon), packet(REMOTE, 110, serial=21))
        assert header[3:] == (110, 1, 21, 1)
        assert payload == NOT_OPEN_PAYLOAD


async def test_absent_name_exact_bytes() -> None:
    async with running_daemon() as daemon:
        header, payload = await _raw_exchange(
            tcp_port(daemon), packet(REMOTE, 1, bytes(8), serial=20)
        )
        assert header[3:] == (1, 1, 20, 1)
        assert payload == ABSENT_NAME_PAYLOAD


@pytest.mark.parametrize("proc", [3, 4, 6, 23, 110, 157, 273, 316, 360])
async def test_procedures_before_open(proc: int) -> None:
    payloads = {23: rt.NameArgs.xdr.encode(rt.NameArgs("test")),
                273: bytes(8), 316: bytes(8)}
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        with pytest.raises(RPCError) as info:
            await r.client.call(REMOTE, 1, proc, payloads.get(proc, b""))
        err = info.value
        assert (err.code, err.domain) == (1, 7)
        assert err.message == "internal error: hypervisor connection not open"
        assert (err.str1, err.str2, err.str3) == ("internal error: %s",
                                                  "hypervisor connection not open", None)


async def test_open_twice() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        with pytest.raises(RPCError) as info:
            await r.open()
        assert (info.value.code, info.value.domain) == (1, 7)
        assert info.value.message == "internal error: connection already open"
        assert (await r.call(3, None, rt.StringRet)).value == "TEST"


@pytest.mark.parametrize("uri", ["bogus:///x", "lxc:///system", "QEMU:///system", "TEST:///default"])
async def test_unknown_driver(uri: str) -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        with pytest.raises(RPCError) as info:
            await r.open(uri)
        err = info.value
        assert (err.code, err.domain) == (5, 0)
        assert err.message == f"no connection driver available for {uri}"
        assert (err.str1, err.str2) == ("no connection driver available for %s", uri)
        await r.open("test:///default")  # the connection stays usable


async def test_test_driver_without_path() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        with pytest.raises(RPCError) as info:
            await r.open("test:///")
        assert (info.value.code, info.value.domain) == (8, 12)
        assert "supply a path or use test:///default" in str(info.value.message)


async def test_absent_name() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        with pytest.raises(RPCError) as info:
            await r.open(None)
        assert info.value.message == "internal error: connection not open"


@pytest.mark.parametrize(
    ("program", "version", "proc", "message"),
    [
        (0x12345678, 1, 66, "Cannot find program 305419896 version 1"),
        (REMOTE, 2, 66, "Cannot find program 536903814 version 2"),
        (REMOTE, 1, 9999, "unknown procedure: 9999"),
        (REMOTE, 1, 0, "unknown procedure: 0"),
        (QEMU, 1, 9999, "unknown procedure: 9999"),
        (0x6B656570, 1, 1, "Cannot find program 1801807216 version 1"),
    ],
)
async def test_dispatch_errors(program: int, version: int, proc: int, message: str) -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        with pytest.raises(RPCError) as info:
            await r.client.call(program, version, proc)
        assert (info.value.code, info.value.domain, info.value.message) == (39, 7, message)
        assert (await r.call(3, None, rt.StringRet)).value == "TEST"


async def test_truncated_xdr() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        with pytest.raises(RPCError) as info:
            await r.client.call(REMOTE, 1, 1, bytes.fromhex("000000010000000f7465"))
        assert info.value.message == "Unable to decode message payload"
        await r.open()


async def test_trailing_garbage_accepted() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        args = rt.ConnectOpenArgs("test:///default", 0)
        await r.client.call(REMOTE, 1, 1, rt.ConnectOpenArgs.xdr.encode(args) + b"junk")
        assert (await r.call(3, None, rt.StringRet)).value == "TEST"


async def test_missing_domain_error() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        with pytest.raises(RPCError) as info:
            await r.lookup("no-such-domain")
        err = info.value
        assert (err.code, err.domain, err.message) == (42, 12, "Domain not found")
        assert (err.str1, err.str2) == ("Domain not found", None)


@pytest.mark.parametrize("garbage", [b"\x00\x00\x00\x02", b"\x00\x00\x00\x08\x00\x00\x00\x00",
                                     b"\x7f\xff\xff\xff" + bytes(24)])
async def test_bad_framing_disconnects_only_that_client(garbage: bytes) -> None:
    async with running_daemon() as daemon, connect(daemon) as other:
        stream = await anyio.connect_tcp("127.0.0.1", tcp_port(daemon))
        async with stream:
            await stream.send(garbage)
            with anyio.fail_after(5), pytest.raises(
                (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError)
            ):
                await stream.receive()
        assert (await other.call(3, None, rt.StringRet)).value == "TEST"


async def test_call_with_error_status() -> None:
    async with running_daemon() as daemon:
        header, payload = await _raw_exchange(
            tcp_port(daemon), packet(REMOTE, 66, serial=5, status=1)
        )
        assert header[3:] == (66, 1, 5, 1)
        assert b"Unexpected message status 1" in payload


async def test_reply_and_message_types_ignored() -> None:
    async with running_daemon() as daemon:
        stream = await anyio.connect_tcp("127.0.0.1", tcp_port(daemon))
        async with stream:
            await stream.send(packet(REMOTE, 66, serial=1, type=1)
                              + packet(REMOTE, 66, serial=2, type=2)
                              + packet(REMOTE, 66, serial=4242))
            with anyio.fail_after(5):
                header, payload = await read_packet(stream)
            assert header[5] == 4242
            assert payload == struct.pack(">II", 1, 0)


async def test_pipelined_calls_answered_by_serial() -> None:
    async with running_daemon() as daemon, connect(daemon) as r:
        dom = await r.lookup()
        results = {}

        async def state(i: int) -> None:
            results[i] = await r.state(dom)

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(state, i)
        assert set(results.values()) == {(1, 0)}
