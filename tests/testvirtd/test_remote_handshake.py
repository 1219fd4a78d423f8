"""The connection-opening handshake of interop.md section 2, against an in-process testvirtd."""

from __future__ import annotations

import struct

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from netrpc import RPCError

from ._support import REMOTE, connect, packet, read_packet, running_daemon, tcp_port

pytestmark = pytest.mark.anyio


async def test_auth_list_exact_bytes() -> None:
    async with running_daemon() as daemon:
        stream = await anyio.connect_tcp("127.0.0.1", tcp_port(daemon))
        async with stream:
            await stream.send(bytes.fromhex("0000001c200080860000000100000042000000000000000000000000"))
            with anyio.fail_after(5):
                header, payload = await read_packet(stream)
            raw = struct.pack(">IIIiiIi", *header) + payload
            assert raw.hex() == (
                "00000024200080860000000100000042000000010000000000000000"
                "0000000100000000"
            )


async def test_c_library_handshake() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        assert (await r.call(66, None, rt.AuthListRet)).types == [0]
        assert (await r.call(60, rt.SupportsFeatureArgs(10), rt.IntRet)).value == 1
        await r.open("test:///default")
        for feature in (14, 15):
            assert (await r.call(60, rt.SupportsFeatureArgs(feature), rt.IntRet)).value == 1
        assert (await r.call(60, rt.SupportsFeatureArgs(9999), rt.IntRet)).value == 0
        await r.call(360)
        await r.call(361)
        await r.call(2)


@pytest.mark.parametrize("flags", [0, 6, 0x80000000])
async def test_empty_name_opens_default_uri(flags: int) -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        await r.open("", flags)
        assert (await r.call(110, None, rt.StringRet)).value == "test:///default"


async def test_uri_with_query_is_echoed() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        await r.open("test:///default?mode=x")
        assert (await r.call(110, None, rt.StringRet)).value == "test:///default?mode=x"


async def test_name_read_as_a_c_string() -> None:
    """libvirtd never sees what follows a NUL in the name; a node-file path with one is the
    path before it (found by bench/fuzz.py: it used to end in a traceback)."""
    async with running_daemon() as daemon:
        async with connect(daemon, open=False) as r:
            with pytest.raises(RPCError, match="failed to parse xml document '/nonexistent/a'"):
                await r.open("test:///nonexistent/a\0b.xml")
        async with connect(daemon, open=False) as r:
            await r.open("test:///default\0junk")
            assert (await r.call(110, None, rt.StringRet)).value == "test:///default"


async def test_go_libvirt_optional_bool() -> None:
    """go-libvirt sends the optional-string discriminant as 0x01000000."""
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        name = b"test:///default"
        payload = bytes.fromhex("01000000") + struct.pack(">I", len(name)) + name + b"\0" + \
            struct.pack(">I", 0)
        await r.client.call(REMOTE, 1, 1, payload)
        assert (await r.call(157, None, rt.UHyperRet)).value == 9_000_000


async def test_feature_before_open() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        assert (await r.call(60, rt.SupportsFeatureArgs(10), rt.IntRet)).value == 1
        with pytest.raises(RPCError) as info:
            await r.call(60, rt.SupportsFeatureArgs(14))
        assert info.value.message == "internal error: hypervisor connection not open"


async def test_keepalive_starts_after_feature_10() -> None:
    async with running_daemon(keepalive_interval=0.2, keepalive_count=50) as daemon:
        stream = await anyio.connect_tcp("127.0.0.1", tcp_port(daemon))
        async with stream:
            await stream.send(packet(REMOTE, 60, struct.pack(">i", 10), serial=1))
            with anyio.fail_after(5):
                header, payload = await read_packet(stream)
                assert header[3] == 60 and payload == struct.pack(">i", 1)
                header, payload = await read_packet(stream)
            assert header == (28, 0x6B656570, 1, 1, 2, 0, 0)  # PING, MESSAGE, serial 0


async def test_no_keepalive_without_feature_10() -> None:
    async with running_daemon(keepalive_interval=0.1, keepalive_count=50) as daemon:
        stream = await anyio.connect_tcp("127.0.0.1", tcp_port(daemon))
        async with stream:
            await stream.send(packet(REMOTE, 66, serial=1))
            with anyio.fail_after(5):
                await read_packet(stream)
            with anyio.move_on_after(0.5) as scope:
                await stream.receive()
            assert scope.cancelled_caught


async def test_connect_close_closes_socket() -> None:
    async with running_daemon() as daemon:
        stream = await anyio.connect_tcp("127.0.0.1", tcp_port(daemon))
        async with stream:
            await stream.send(packet(REMOTE, 2, serial=7))
            with anyio.fail_after(5):
                header, payload = await read_packet(stream)
                assert header[3:] == (2, 1, 7, 0) and payload == b""
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await stream.receive()


async def test_unix_socket_and_readonly_socket_handshake() -> None:
    async with running_daemon() as daemon:
        for via in ("unix", "ro"):
            async with connect(daemon, via=via) as r:
                assert (await r.call(3, None, rt.StringRet)).value == "TEST"


async def test_polkit_refused_without_a_reason() -> None:
    """No testvirtd listener uses polkit: AUTH_POLKIT fails as libvirtd's does on a worker
    thread that has no error left over, before and after CONNECT_OPEN."""
    async with running_daemon() as daemon, connect(daemon, open=False) as r:
        for opened in (False, True):
            if opened:
                await r.open("test:///default")
            with pytest.raises(RPCError) as info:
                await r.call(70)
            err = info.value
            assert (err.code, err.domain, err.message, err.str1, err.int1) == (
                1, 7, "Library function returned error but did not set virError", None, 0)
