"""FD passing: DOMAIN_CREATE_XML_WITH_FILES, QEMU MONITOR_COMMAND_WITH_FILES, the per-domain
QMP sockets, transports without descriptors, and descriptor hygiene."""

from __future__ import annotations

import json
import os
import socket
import struct
import tempfile
from typing import Any

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.qmp_sockets import QmpSockets
from netrpc import RPCError
from netrpc.core.errors import LocalProtocolError

from ._support import QEMU, REMOTE, TEST_UUID, connect, packet, read_packet, running_daemon

pytestmark = pytest.mark.anyio

FDTEST_XML = """<domain type='test'>
  <name>fdtest</name>
  <uuid>3a1c5d38-2b5e-4c1f-9a77-0d5c0ffee0fd</uuid>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686'>hvm</type></os>
</domain>
"""


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def monitor(r: Any, dom: rt.NonnullDomain, cmd: str, *, fds: list[int] | None = None,
                  flags: int = 0) -> Any:
    args = rt.DomainMonitorCommandArgs(dom, cmd, flags)
    proc = 7 if fds is not None else 1
    reply = await r.client.call(QEMU, 1, proc, args.xdr.encode(args), fds=fds or ())
    text = rt.DomainMonitorCommandRet.xdr.decode(reply).result
    return text if flags else json.loads(text)


async def test_create_xml_with_files_hands_the_fds_to_the_monitor() -> None:
    async with running_daemon() as daemon, connect(daemon, via="unix") as r:
        pipes = [os.pipe() for _ in range(2)]
        try:
            args = rt.DomainCreateXmlArgs(FDTEST_XML, 0)
            reply = await r.client.call(REMOTE, 1, 309, args.xdr.encode(args),
                                        fds=[p[0] for p in pipes])
            dom = rt.DomainRet.xdr.decode(reply).dom
            assert dom.name == "fdtest" and dom.id > 0
            fdsets = (await monitor(r, dom, '{"execute":"query-fdsets"}'))["return"]
            assert len(fdsets) == 1
            entries = fdsets[0]["fds"]
            assert [e["opaque"] for e in entries] == ["pass-fds:0", "pass-fds:1"]
            # the server is in this process: its copies are the same pipes
            for (_, w), entry in zip(pipes, entries, strict=True):
                os.write(w, b"ping")
                assert os.read(entry["fd"], 10) == b"ping"
        finally:
            for a, b in pipes:
                os.close(a)
                os.close(b)
        # DOMAIN_CREATE_WITH_FILES: an inactive persistent domain
        define = rt.DomainDefineXmlArgs(FDTEST_XML.replace("fdtest", "fdpersist").replace(
            "0ffee0fd", "0ffee0fe"))
        pdom = (await r.call(11, define, rt.DomainRet)).dom
        rd, wr = os.pipe()
        try:
            reply = await r.client.call(REMOTE, 1, 310,
                                        rt.DomainFlagsArgs(pdom, 0).xdr.encode(
                                            rt.DomainFlagsArgs(pdom, 0)), fds=[rd])
            started = rt.DomainRet.xdr.decode(reply).dom
            assert started.id > 0
            fdsets = (await monitor(r, started, '{"execute":"query-fdsets"}'))["return"]
            assert [e["opaque"] for e in fdsets[0]["fds"]] == ["pass-fds:0"]
        finally:
            os.close(rd)
            os.close(wr)


async def test_create_xml_with_files_errors_close_the_fds() -> None:
    async with running_daemon() as daemon, connect(daemon, via="unix") as r:
        rd, wr = os.pipe()
        before = open_fds()
        args = rt.DomainCreateXmlArgs(
            FDTEST_XML.replace("fdtest", "test").replace(
                "3a1c5d38-2b5e-4c1f-9a77-0d5c0ffee0fd", "6695eb01-f6a4-8304-79aa-97f2502e193f"),
            0)
        for _ in range(10):
            with pytest.raises(RPCError, match=r"already exists|already running|is already"):
                await r.client.call(REMOTE, 1, 309, args.xdr.encode(args), fds=[rd, wr])
        assert open_fds() <= before + 1
        os.close(rd)
        os.close(wr)


async def test_monitor_command_with_files() -> None:
    async with running_daemon() as daemon, connect(daemon, via="unix") as r:
        dom = rt.NonnullDomain("test", TEST_UUID, 1)
        rd, wr = os.pipe()
        try:
            got = await monitor(r, dom, '{"execute":"getfd","arguments":{"fdname":"x"}}',
                                fds=[rd])
            assert got == {"return": {}, "id": "libvirt-1"}
            engine = daemon.qemu.engine(TEST_UUID)
            kept = engine.named_fds()["x"]
            os.write(wr, b"through")
            assert os.read(kept, 10) == b"through"
            got = await monitor(r, dom, '{"execute":"add-fd","arguments":{"opaque":"o"}}',
                                fds=[rd])
            assert got["return"]["fdset-id"] == 0
            fdsets = (await monitor(r, dom, '{"execute":"query-fdsets"}'))["return"]
            assert fdsets == [{"fdset-id": 0, "fds": [{"fd": got["return"]["fd"],
                                                       "opaque": "o"}]}]
            # HMP getfd takes the descriptor too
            assert await monitor(r, dom, "getfd y", fds=[rd], flags=1) == ""
            assert "y" in engine.named_fds()
            # unused descriptors are closed; at most one may come with a command
            before = open_fds()
            for _ in range(5):
                got = await monitor(r, dom, '{"execute":"query-status"}', fds=[rd])
                assert got["return"]["status"] == "running"
            assert open_fds() <= before
            with pytest.raises(RPCError) as info:
                await monitor(r, dom, '{"execute":"getfd","arguments":{"fdname":"z"}}',
                              fds=[rd, wr])
            assert info.value.message == (
                "argument unsupported: at most 1 fd can be passed to qemu along with a command")
            assert (info.value.code, info.value.domain) == (74, 10)
            assert open_fds() <= before
            with pytest.raises(RPCError, match="unsupported flags \\(0x4\\)"):
                await monitor(r, dom, '{"execute":"query-status"}', fds=[], flags=4)
        finally:
            os.close(rd)
            os.close(wr)


async def test_no_descriptors_over_tcp() -> None:
    async with running_daemon() as daemon:
        async with connect(daemon, via="tcp") as r:
            args = rt.DomainCreateXmlArgs(FDTEST_XML, 0)
            with pytest.raises(LocalProtocolError, match="unix sockets"):
                await r.client.call(REMOTE, 1, 309, args.xdr.encode(args), fds=[0])
        # CALL_WITH_FDS with nfds 0 over TCP is processed normally, as libvirtd does
        stream = await anyio.connect_tcp("127.0.0.1", daemon.tcp_ports[0])
        async with stream:
            await stream.send(packet(REMOTE, 66, serial=1))
            await read_packet(stream)
            name = rt.ConnectOpenArgs("test:///default", 0)
            await stream.send(packet(REMOTE, 1, name.xdr.encode(name), serial=2))
            await read_packet(stream)
            payload = struct.pack(">I", 0) + args.xdr.encode(args)
            await stream.send(packet(REMOTE, 309, payload, serial=3, type=4))
            header, body = await read_packet(stream)
            assert header[4:] == (1, 3, 0)  # REPLY, serial 3, OK
            assert rt.DomainRet.xdr.decode(body).dom.name == "fdtest"


def _qmp_session(path: str, fd: int) -> list[Any]:
    """A blocking QMP client: greeting, negotiation, getfd with SCM_RIGHTS, query-fdsets."""
    out: list[Any] = []
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        reader = sock.makefile("rb")
        out.append(json.loads(reader.readline()))
        sock.sendall(b'{"execute":"qmp_capabilities"}\n')
        out.append(json.loads(reader.readline()))
        socket.send_fds(sock, [b'{"execute":"add-fd","arguments":{"opaque":"qmp"}}\n'], [fd])
        out.append(json.loads(reader.readline()))
        sock.sendall(b'{"execute":"query-fdsets"}\n')
        out.append(json.loads(reader.readline()))
    return out


async def test_qmp_socket_per_running_domain() -> None:
    with tempfile.TemporaryDirectory(prefix="qmp-") as qdir:
        async with running_daemon() as daemon, connect(daemon, via="unix") as r:
            manager = QmpSockets(daemon.qemu, qdir)
            async with anyio.create_task_group() as tg:
                await tg.start(manager.run)
                path = os.path.join(qdir, "test.sock")
                assert manager.paths() == {"test": path}
                assert os.path.exists(path)
                rd, wr = os.pipe()
                try:
                    replies = await anyio.to_thread.run_sync(_qmp_session, path, rd)
                finally:
                    os.close(rd)
                    os.close(wr)
                assert replies[0]["QMP"]["version"]["qemu"]["major"] == 7
                assert replies[1] == {"return": {}}
                fdset = replies[2]["return"]
                assert replies[3]["return"] == [
                    {"fdset-id": fdset["fdset-id"], "fds": [{"fd": fdset["fd"],
                                                             "opaque": "qmp"}]}]
                # the libvirt side sees the same monitor
                dom = rt.NonnullDomain("test", TEST_UUID, 1)
                seen = await monitor(r, dom, '{"execute":"query-fdsets"}')
                assert seen["return"] == replies[3]["return"]
                # the socket goes with the domain, and comes back when it starts again
                await r.call(12, rt.DomainArgs(dom))
                with anyio.fail_after(5):
                    while os.path.exists(path) or manager.paths():
                        await anyio.sleep(0.02)
                await r.call(9, rt.DomainArgs(rt.NonnullDomain("test", TEST_UUID, -1)))
                with anyio.fail_after(5):
                    while not manager.paths() or not os.path.exists(path):
                        await anyio.sleep(0.02)
                # a domain created later gets its own socket
                args = rt.DomainCreateXmlArgs(FDTEST_XML, 0)
                await r.call(10, args, rt.DomainRet)
                with anyio.fail_after(5):
                    while "fdtest" not in manager.paths():
                        await anyio.sleep(0.02)
                assert os.path.exists(os.path.join(qdir, "fdtest.sock"))
                tg.cancel_scope.cancel()
            assert not os.listdir(qdir)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _qmp_session_with_a_pipe(path: str) -> list[Any]:
    """:func:`_qmp_session` in a thread, handing over a pipe's reading end."""
    rd, wr = os.pipe()
    try:
        return await anyio.to_thread.run_sync(_qmp_session, path, rd)
    finally:
        os.close(rd)
        os.close(wr)


async def test_qmp_sockets_follow_a_discarded_state() -> None:
    # The last connection to test:///default closing discards its state and sends no
    # events: the sockets of the domains that state ran must go with their descriptors,
    # and the fresh state's running domain must be served by its fresh monitor.
    with tempfile.TemporaryDirectory(prefix="qmp-") as qdir:
        async with running_daemon(keep_state=False) as daemon:
            manager = QmpSockets(daemon.qemu, qdir)
            async with anyio.create_task_group() as tg:
                await tg.start(manager.run)
                test_path = os.path.join(qdir, "test.sock")
                baseline = _open_fds()
                async with connect(daemon, via="unix") as r:
                    await r.call(10, rt.DomainCreateXmlArgs(FDTEST_XML, 0), rt.DomainRet)
                    with anyio.fail_after(5):
                        while "fdtest" not in manager.paths():
                            await anyio.sleep(0.02)
                    replies = await _qmp_session_with_a_pipe(test_path)
                    assert len(replies[3]["return"]) == 1  # the monitor kept a descriptor
                with anyio.fail_after(5):
                    while os.path.exists(os.path.join(qdir, "fdtest.sock")) or (
                        _open_fds() > baseline
                    ):
                        await anyio.sleep(0.02)
                assert _open_fds() == baseline
                with anyio.fail_after(5):
                    while manager.paths() != {"test": test_path} or not os.path.exists(test_path):
                        await anyio.sleep(0.02)
                replies = await _qmp_session_with_a_pipe(test_path)
                # the fresh monitor: only the descriptor just added, none from before
                assert [len(s["fds"]) for s in replies[3]["return"]] == [1]
                tg.cancel_scope.cancel()
            assert not os.listdir(qdir)
