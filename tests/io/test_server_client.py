"""Server and Client over real unix and TCP sockets, on asyncio and trio."""

from __future__ import annotations

import os
import socket
import struct
import tempfile

import anyio
import pytest

from netrpc import Client, ConnectionLostError, RPCError, Server, Service
from netrpc.core.protocol import Header, MessageType, encode_message

from .helpers import PROGRAM, Delay, Number, SampleProgram, Text, running_server

pytestmark = pytest.mark.anyio


async def test_calls_over_unix_and_tcp() -> None:
    async with running_server() as (_, _, where):
        async with Client.unix(where["unix"]) as client:
            assert await client.stub(SampleProgram).echo(Text("hi")) == Text("hi")
        async with Client.tcp(*where["tcp"]) as client:
            assert await client.stub(SampleProgram).echo(Text("tcp")) == Text("tcp")


async def test_pipelined_calls_complete_out_of_order() -> None:
    async with running_server() as (_, program, where):
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)
            finished: list[int] = []

            async def one(tag: int, seconds: float) -> None:
                result = await stub.sleep(Delay(seconds, tag))
                finished.append(result.value)

            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    for tag, seconds in [(1, 0.3), (2, 0.05), (3, 0.15)]:
                        tg.start_soon(one, tag, seconds)
            assert finished == [2, 3, 1]
            assert program.max_parallel == 3


async def test_blocking_handlers_run_on_workers_concurrently() -> None:
    async with running_server(min_workers=1, max_workers=4) as (_, _, where):
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)
            start = anyio.current_time()
            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    for tag in range(4):
                        tg.start_soon(stub.blocking, Delay(0.3, tag))
            assert anyio.current_time() - start < 1.0


async def test_failing_handler_gives_internal_error_and_others_unaffected() -> None:
    async with running_server() as (_, _, where):
        async with Client.unix(where["unix"]) as a, Client.unix(where["unix"]) as b:
            with pytest.raises(RPCError) as info:
                await a.stub(SampleProgram).fail()
            assert (info.value.code, info.value.domain) == (1, 7)
            assert "secret detail" not in str(info.value.message)
            with pytest.raises(RPCError) as info:
                await a.stub(SampleProgram).fail_rpc()
            assert (info.value.code, info.value.domain, info.value.message) == (
                42,
                12,
                "Domain not found",
            )
            with pytest.raises(RPCError, match="bad_return failed"):
                await a.stub(SampleProgram).bad_return()
            assert await a.stub(SampleProgram).echo(Text("still")) == Text("still")
            assert await b.stub(SampleProgram).echo(Text("fine")) == Text("fine")


async def test_unknown_program_and_procedure_keep_the_connection() -> None:
    async with running_server() as (_, _, where):
        async with Client.tcp(*where["tcp"]) as client:
            with pytest.raises(RPCError, match="Cannot find program 305419896 version 1"):
                await client.call(0x12345678, 1, 1)
            with pytest.raises(RPCError, match="unknown procedure: 999"):
                await client.call(PROGRAM, 1, 999)
            with pytest.raises(RPCError, match="Unable to decode message payload"):
                await client.call(PROGRAM, 1, 1, b"\0\0\1\0")
            assert await client.stub(SampleProgram).echo(Text("ok")) == Text("ok")


async def test_events_broadcast_to_every_client() -> None:
    async with running_server() as (_, _, where):
        async with Client.unix(where["unix"]) as a, Client.tcp(*where["tcp"]) as b:
            got: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
            done = anyio.Event()

            def record(name: str):
                def callback(header: Header, payload: bytes) -> None:
                    got[name].append((header.serial, struct.unpack(">i", payload)[0]))
                    if got["a"] and got["b"]:
                        done.set()

                return callback

            a.on_event(PROGRAM, 100, record("a"))
            b.on_event(PROGRAM, 100, record("b"))
            # An event reaches the clients the server has accepted.  b's connect() returning
            # does not mean the server has b yet: the last step of the TCP handshake and the
            # server's accept() may still be pending (under load the kernel defers that work)
            # when a's call, sent over a unix socket, is already there to be read, and then
            # the broadcast goes to a alone.  A reply to b proves the server serves it.
            assert await b.stub(SampleProgram).echo(Text("here")) == Text("here")
            await a.stub(SampleProgram).broadcast(Number(7))
            with anyio.fail_after(5):
                await done.wait()
            assert got == {"a": [(1, 7)], "b": [(1, 7)]}


async def test_close_after_reply_closes_the_socket() -> None:
    async with running_server() as (server, _, where):
        async with Client.unix(where["unix"]) as client:
            await client.stub(SampleProgram).bye()
            with anyio.fail_after(5):
                await client.closed.wait()
            with pytest.raises(ConnectionLostError):
                await client.stub(SampleProgram).echo(Text("x"))
        with anyio.fail_after(5):
            while server.nclients:
                await anyio.sleep(0.01)


async def test_pending_calls_fail_when_the_server_goes_away() -> None:
    async with running_server() as (server, _, where):
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)

            async def long_call() -> None:
                with pytest.raises(ConnectionLostError):
                    await stub.sleep(Delay(30, 1))

            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(long_call)
                    await anyio.sleep(0.1)
                    for c in list(server.clients.values()):
                        c.close("test")


@pytest.mark.parametrize("transport", ["unix", "tcp"])
async def test_shutdown_drains_in_flight_calls(transport: str) -> None:
    async with running_server() as (server, _, where):
        connect = Client.unix(where["unix"]) if transport == "unix" else Client.tcp(*where["tcp"])
        async with connect as client, Client.unix(where["unix"]) as idle:
            await idle.stub(SampleProgram).echo(Text("idle"))
            stub = client.stub(SampleProgram)
            results: list[int] = []

            async def call() -> None:
                results.append((await stub.sleep(Delay(0.3, 5))).value)

            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call)
                    await anyio.sleep(0.1)
                    server.shutdown(timeout=5)
            assert results == [5]
            with anyio.fail_after(5):
                await client.closed.wait()
                await idle.closed.wait()


async def test_keepalive_times_out_a_silent_peer() -> None:
    async with running_server(keepalive_interval=0.2, keepalive_count=2) as (server, _, where):
        stream = await anyio.connect_unix(where["unix"])
        async with stream:
            await stream.send(encode_message(Header(PROGRAM, 1, 8, 0, 1, 0)))
            pings = 0
            start = anyio.current_time()
            with anyio.fail_after(5):
                try:
                    while True:
                        data = await stream.receive()
                        pings += data.count(bytes.fromhex("6b656570 00000001 00000001 00000002"))
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass
            elapsed = anyio.current_time() - start
            assert pings == 2
            assert 0.5 <= elapsed < 2.0  # interval * (count + 1) = 0.6 s
        with anyio.fail_after(5):
            while server.nclients:
                await anyio.sleep(0.01)


async def test_client_answers_pings_so_keepalive_never_fires() -> None:
    async with running_server(keepalive_interval=0.1, keepalive_count=1) as (server, _, where):
        async with Client.unix(where["unix"]) as client:
            await client.stub(SampleProgram).keepalive()
            await anyio.sleep(0.6)
            assert await client.stub(SampleProgram).echo(Text("alive")) == Text("alive")
            assert server.nclients == 1


async def test_request_budget_stops_reading() -> None:
    async with running_server(max_client_requests=2, max_workers=10) as (_, program, where):
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)
            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(stub.wait_release)
                await anyio.sleep(0.3)
                # only two calls were read and started; the rest wait unread
                assert program.started == 2
                program.release.set()
            assert program.started == 5


async def test_max_clients_pauses_accepting_and_resumes() -> None:
    async with running_server(max_clients=2, max_anonymous_clients=0) as (server, _, where):
        async with Client.unix(where["unix"]) as a, Client.unix(where["unix"]) as b:
            await a.stub(SampleProgram).echo(Text("a"))
            await b.stub(SampleProgram).echo(Text("b"))
            async with Client.unix(where["unix"]) as c:
                # c is connected at the kernel level but not accepted yet
                with anyio.move_on_after(0.3) as scope:
                    await c.stub(SampleProgram).echo(Text("c"))
                assert scope.cancelled_caught
                assert server.nclients == 2
                await a.aclose()
                with anyio.fail_after(5):
                    assert await c.stub(SampleProgram).echo(Text("c")) == Text("c")


async def test_client_messages_of_wrong_type_are_ignored() -> None:
    async with running_server() as (_, _, where):
        stream = await anyio.connect_tcp(*where["tcp"])
        async with stream:
            await stream.send(
                encode_message(Header(PROGRAM, 1, 1, MessageType.REPLY, 1, 0))
                + encode_message(Header(PROGRAM, 1, 1, MessageType.MESSAGE, 2, 0))
                + encode_message(Header(PROGRAM, 1, 1, MessageType.STREAM, 3, 2), b"xx")
                + encode_message(Header(PROGRAM, 1, 1, 0, 4, 0), b"\0\0\0\0")
            )
            with anyio.fail_after(5):
                data = await stream.receive()
            assert Header.unpack(data, 4).serial == 4


async def test_oversized_length_word_closes_without_reply() -> None:
    async with running_server() as (server, _, where):
        async with Client.tcp(*where["tcp"]) as good:
            for length in (2, 8, 33554437, 0x7FFFFFFF):
                stream = await anyio.connect_tcp(*where["tcp"])
                async with stream:
                    await stream.send(struct.pack(">I", length))
                    with (
                        anyio.fail_after(5),
                        pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)),
                    ):
                        await stream.receive()
            assert await good.stub(SampleProgram).echo(Text("ok")) == Text("ok")


async def test_unix_socket_mode_and_stale_socket() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s")
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)
        stale.close()  # a socket file with no listener
        server = Server("t", programs=[SampleProgram()])
        server.add_service(Service.unix(path, mode=0o660))
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            assert os.stat(path).st_mode & 0o777 == 0o660
            second = Server("t2", programs=[SampleProgram()])
            second.add_service(Service.unix(path))
            with pytest.raises(OSError, match="already listening"):
                await tg.start(second.serve)
            server.shutdown()
        assert not os.path.exists(path)


async def test_inherited_listening_socket() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    port = sock.getsockname()[1]
    server = Server("fd", programs=[SampleProgram()])
    server.add_service(Service.from_fds([sock.detach()]))
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        async with Client.tcp("127.0.0.1", port) as client:
            assert await client.stub(SampleProgram).echo(Text("fd")) == Text("fd")
        server.shutdown()


async def test_identity_of_unix_and_tcp_peers() -> None:
    async with running_server() as (server, _, where):
        async with Client.unix(where["unix"]) as client:
            await client.stub(SampleProgram).echo(Text("x"))
            [peer] = server.clients.values()
            assert peer.identity.unix_uid == os.getuid()
            assert peer.identity.unix_pid == os.getpid()
        async with Client.tcp(*where["tcp"]) as client:
            await client.stub(SampleProgram).echo(Text("x"))
            [peer] = server.clients.values()
            assert peer.identity.address is not None
            assert peer.identity.address.startswith("127.0.0.1:")


async def test_readonly_service_refuses_other_procedures() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ro")
        server = Server("ro", programs=[SampleProgram()])
        server.add_service(Service.unix(path, readonly=True))
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            async with Client.unix(path) as client:
                assert await client.stub(SampleProgram).echo(Text("r")) == Text("r")
                with pytest.raises(RPCError, match="read only access prevents blocking"):
                    await client.stub(SampleProgram).blocking(Delay(0, 0))
            server.shutdown()


async def test_dual_stack_port_zero() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    server = Server("ds", programs=[SampleProgram()])
    service = server.add_service(Service.tcp(["127.0.0.1", "::1"], 0))
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        [port] = service.ports
        for host in ("127.0.0.1", "::1"):
            async with Client.tcp(host, port) as client:
                assert await client.stub(SampleProgram).echo(Text(host)) == Text(host)
        server.shutdown()


async def test_exceptions_in_the_client_body_are_not_wrapped() -> None:
    async with running_server() as (_, _, where):
        with pytest.raises(RPCError, match="Cannot find program"):
            async with Client.unix(where["unix"]) as client:
                await client.call(1, 1, 1)


async def test_client_that_never_reads_its_events_is_dropped() -> None:
    async with running_server(max_pending_output=200_000) as (server, _, where):
        stream = await anyio.connect_unix(where["unix"])
        async with stream:
            # Never read: broadcast events until the server gives up on us.
            async with Client.unix(where["unix"]) as sender:
                assert await sender.stub(SampleProgram).echo(Text("up")) == Text("up")
                with anyio.fail_after(5):
                    while server.nclients < 2:
                        await anyio.sleep(0.01)
                silent = min(server.clients)  # the raw stream connected first
                with anyio.fail_after(20):
                    while server.nclients > 1:
                        for _ in range(50):
                            server.broadcast_event(
                                PROGRAM, 1, 100, b"x" * 60000, predicate=lambda c: c.id == silent
                            )
                        await anyio.sleep(0.01)
                assert silent not in server.clients
                assert await sender.stub(SampleProgram).echo(Text("fine")) == Text("fine")
