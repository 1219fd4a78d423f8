"""Client calls that are given up on: cancelled mid-write, or timed out before the reply."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from netrpc import Client, RPCError

from .helpers import PROGRAM, Delay, SampleProgram, Text, running_server

pytestmark = pytest.mark.anyio

BIG = 24 * 1024 * 1024


@pytest.mark.parametrize("transport", ["unix", "tcp"])
async def test_cancelling_a_call_during_a_large_write_leaves_the_connection_usable(
    transport: str,
) -> None:
    async with running_server() as (_, _, where):
        connect = Client.unix(where["unix"]) if transport == "unix" else Client.tcp(*where["tcp"])
        async with connect as client:
            stub = client.stub(SampleProgram)
            for _ in range(3):
                scope = anyio.CancelScope()

                async def big_call(scope: anyio.CancelScope = scope) -> None:
                    with scope:
                        # Procedure 1 (echo) cannot decode 24 MiB: answered with an error.
                        await client.call(PROGRAM, 1, 1, bytes(BIG))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(big_call)
                    # Cancel the caller while its message is being written.
                    with anyio.fail_after(10):
                        while not client._pump.sending:
                            await anyio.lowlevel.checkpoint()
                    scope.cancel()
                assert scope.cancelled_caught
                with anyio.fail_after(20):
                    assert await stub.echo(Text("after")) == Text("after")
            assert not client.is_closed


async def test_a_timed_out_call_has_its_late_reply_discarded() -> None:
    async with running_server() as (_, _, where):
        async with Client.unix(where["unix"]) as client:
            stub = client.stub(SampleProgram)
            with pytest.raises(TimeoutError):
                with anyio.fail_after(0.1):
                    await stub.sleep(Delay(0.5, 1))
            # Other calls go on meanwhile, and after the late reply has come and gone.
            assert (await stub.sleep(Delay(0, 2))).value == 2
            await anyio.sleep(0.6)
            assert (await stub.sleep(Delay(0, 3))).value == 3
            with pytest.raises(RPCError):
                await stub.fail()
            assert not client.is_closed
