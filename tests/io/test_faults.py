"""Fault injection through a real server and client, on asyncio and trio."""

from __future__ import annotations

import os
import socket
import time

import anyio
import pytest

from netrpc import Client, ConnectionLostError, RPCError, Server, Service
from netrpc.admin.faults import FaultControl, FaultControlProgram
from netrpc.core.xdr import XdrError
from netrpc.io.server.faults import FaultInjector

from .helpers import PROGRAM, Delay, Number, SampleProgram, Text, running_server

pytestmark = pytest.mark.anyio

NAMES = {"ECHO": 1, "SLEEP": 2, "BLOCKING": 3, "KEEPALIVE": 8}


def install(server: object) -> FaultInjector:
    return FaultInjector(server, program=PROGRAM, resolve=NAMES.get)  # type: ignore[arg-type]


async def test_error_rule_answers_with_the_error_then_runs_out() -> None:
    async with running_server() as (server, _, where):
        faults = install(server)
        faults.add("ECHO:error=1/10/injected failure,times=1")
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)
            with pytest.raises(RPCError) as info:
                await stub.echo(Text("x"))
            assert (info.value.code, info.value.domain, info.value.message) == (
                1,
                10,
                "injected failure",
            )
            assert await stub.echo(Text("y")) == Text("y")
            assert faults.rules == []


async def test_delay_answers_late_while_other_calls_go_on() -> None:
    async with running_server() as (server, _, where):
        install(server).add("BLOCKING:delay=0.5")
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)
            done: list[str] = []

            async def slow() -> None:
                await stub.blocking(Delay(0, 7))
                done.append("slow")

            start = time.monotonic()
            async with anyio.create_task_group() as tg:
                tg.start_soon(slow)
                await anyio.sleep(0.05)
                assert await stub.echo(Text("fast")) == Text("fast")
                done.append("fast")
            assert done == ["fast", "slow"]
            assert time.monotonic() - start >= 0.45


async def test_hang_holds_the_call_until_the_rules_are_cleared() -> None:
    async with running_server() as (server, program, where):
        faults = install(server)
        faults.add("SLEEP:hang")
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)
            with anyio.move_on_after(0.3) as scope:
                await stub.sleep(Delay(0, 1))
            assert scope.cancelled_caught
            assert program.started == 0
            # The connection is still served.
            assert await stub.echo(Text("alive")) == Text("alive")
            result: list[int] = []

            async def waiting() -> None:
                result.append((await stub.sleep(Delay(0, 5))).value)

            async with anyio.create_task_group() as tg:
                tg.start_soon(waiting)
                await anyio.sleep(0.1)
                assert result == []
                faults.clear()
            assert result == [5]


async def test_drop_before_closes_without_running_the_call() -> None:
    async with running_server() as (server, program, where):
        install(server).add("SLEEP:drop-before,times=1")
        async with Client.unix(where["unix"]) as client:
            with pytest.raises(ConnectionLostError):
                await client.stub(SampleProgram).sleep(Delay(0, 1))
        assert program.started == 0
        async with Client.unix(where["unix"]) as client:
            assert (await client.stub(SampleProgram).sleep(Delay(0, 2))).value == 2
        assert program.started == 1


async def test_drop_after_answers_then_closes() -> None:
    async with running_server() as (server, program, where):
        install(server).add("SLEEP:drop-after")
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)
            results: dict[str, object] = {}

            async def first() -> None:
                results["sleep"] = (await stub.sleep(Delay(0.2, 3))).value

            async def second() -> None:
                await anyio.sleep(0.05)  # sent while the first call runs
                try:
                    await stub.echo(Text("late"))
                except ConnectionLostError:
                    results["echo"] = "lost"
                else:
                    results["echo"] = "answered"

            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                tg.start_soon(second)
            # The faulted call is answered; nothing sent after it is.
            assert results == {"sleep": 3, "echo": "lost"}
            with anyio.fail_after(5):
                await client.closed.wait()
        assert program.started == 1


async def test_corrupt_reply_cannot_be_decoded_and_the_connection_stays() -> None:
    async with running_server() as (server, program, where):
        install(server).add("SLEEP:corrupt,times=1")
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)
            with pytest.raises(XdrError):
                await stub.sleep(Delay(0, 4))
            assert program.started == 1  # the call itself ran
            assert (await stub.sleep(Delay(0, 5))).value == 5


async def test_keepalive_hang_lets_the_client_time_out() -> None:
    async with running_server() as (server, _, where):
        faults = install(server)
        async with Client.unix(where["unix"], keepalive_interval=0.1, keepalive_count=1) as ok:
            await anyio.sleep(0.5)  # PINGs answered: still connected
            assert not ok.is_closed
            faults.add("keepalive:hang")
            with anyio.fail_after(5):
                await ok.closed.wait()
            assert "keepalive" in (ok.closed_reason or "")


async def refused(connect: object) -> bool:
    """True when a connection is refused: connect fails, or the first call finds it closed."""
    try:
        async with connect as client:  # type: ignore[attr-defined]
            await client.stub(SampleProgram).echo(Text("hello"))
    except (ConnectionLostError, ConnectionError):
        return True
    return False


async def test_refuse_and_restart_drop_and_refuse_connections() -> None:
    async with running_server() as (server, _, where):
        faults = install(server)
        faults.add("accept:refuse,times=2")
        assert await refused(Client.unix(where["unix"]))
        assert await refused(Client.tcp(*where["tcp"]))
        assert not await refused(Client.tcp(*where["tcp"]))
        async with Client.unix(where["unix"]) as client:
            assert await client.stub(SampleProgram).echo(Text("yes")) == Text("yes")
            assert faults.restart(downtime=0.5) == 1
            with anyio.fail_after(5):
                await client.closed.wait()
        assert await refused(Client.unix(where["unix"]))
        await anyio.sleep(0.6)
        assert not await refused(Client.unix(where["unix"]))


async def test_control_program_steers_faults_from_another_server() -> None:
    async with running_server() as (server, _, where):
        faults = install(server)
        resets: list[int] = []
        control_path = os.path.join(os.path.dirname(where["unix"]), "control")
        admin = Server("admin", programs=[FaultControlProgram(faults, reset=lambda: resets.append(1))])
        admin.add_service(Service.unix(control_path))
        async with anyio.create_task_group() as tg:
            await tg.start(admin.serve)
            async with Client.unix(control_path) as ctl_client, Client.unix(
                where["unix"]
            ) as client:
                control = FaultControl(ctl_client)
                assert await control.add("echo:error=9/7/nope") == "ECHO:error=9/7/nope"
                with pytest.raises(RPCError) as info:
                    await control.add("echo:bogus")
                assert info.value.code == 8
                assert "unknown action 'bogus'" in str(info.value.message)
                assert await control.rules() == ["ECHO:error=9/7/nope"]
                with pytest.raises(RPCError, match="nope"):
                    await client.stub(SampleProgram).echo(Text("x"))
                assert await control.clear() == 1
                assert await client.stub(SampleProgram).echo(Text("x")) == Text("x")
                await control.reset()
                assert resets == [1]
                assert await control.disconnect_all() == 1
                with anyio.fail_after(5):
                    await client.closed.wait()
                assert await control.restart(0.2) == 0
                assert await refused(Client.unix(where["unix"]))
            admin.shutdown()


async def test_no_rules_means_no_change(tmp_path: object) -> None:
    """An installed injector without rules leaves every reply byte-identical."""
    async with running_server() as (server, _, where):
        async with Client.unix(where["unix"]) as client:
            before = await client.call(PROGRAM, 1, 2, Delay.xdr.encode(Delay(0, 9)))
        faults = install(server)
        faults.add("SLEEP:hang")
        faults.clear()
        async with Client.unix(where["unix"]) as client:
            after = await client.call(PROGRAM, 1, 2, Delay.xdr.encode(Delay(0, 9)))
        assert before == after == Number.xdr.encode(Number(9))


def test_refused_tcp_connection_is_reset() -> None:
    """accept:refuse answers a TCP client with a reset, seen by a plain socket."""

    async def main() -> None:
        async with running_server(unix=False) as (server, _, where):
            install(server).add("accept:refuse")
            host, port = where["tcp"]

            def probe() -> str:
                try:
                    with socket.create_connection((host, port), timeout=5) as sock:
                        data = sock.recv(1)
                except ConnectionResetError:
                    return "reset"
                return "eof" if data == b"" else "data"

            assert await anyio.to_thread.run_sync(probe) == "reset"

    anyio.run(main)
