"""Typed seams: settings in groups (old keywords still work), typed procedure declarations
for clients (checked by mypy), and handlers that see the shell through protocols."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

from netrpc import Client, Server
from netrpc.core.program import ClientHandle, Procedure, declare
from netrpc.io.server import ClientLimits, KeepAliveSettings, PoolSettings

from .helpers import SampleProgram, Text, running_server

ROOT = Path(__file__).resolve().parents[2]

ECHO: Procedure[Text, Text] = declare(1, args=Text, ret=Text, name="echo")


def test_settings_in_groups_and_the_old_keywords() -> None:
    server = Server(
        "s",
        limits=ClientLimits(max_clients=50, max_client_output=None),
        pool=PoolSettings(max_workers=0),
        keepalive=KeepAliveSettings(interval=2, count=3),
        max_clients=40,  # a flat keyword wins over its group
    )
    assert (server.max_clients, server.max_anonymous_clients) == (40, 20)
    assert server.max_client_output is None
    assert server.workers.max_workers == 0
    assert (server.keepalive_interval, server.keepalive_count) == (2, 3)
    old = Server("s", max_client_requests=9, min_workers=1, max_workers=3, keepalive_count=7)
    assert (old.max_client_requests, old.workers.max_workers, old.keepalive_count) == (9, 3, 7)
    with pytest.raises(ValueError, match="waiting for authentication"):
        Server("s", max_clients=5, max_anonymous_clients=10)
    with pytest.raises(ValueError, match="max_client_requests must be at least 1"):
        ClientLimits(max_client_requests=0)


@pytest.mark.anyio
async def test_a_declared_procedure_is_called_with_its_types() -> None:
    seen: list[ClientHandle] = []
    async with running_server(tcp=False) as (_, program, where):
        program.on_echo = seen.append
        async with Client.unix(where["unix"]) as client:
            reply = await client.call_procedure(SampleProgram, ECHO, Text("typed"))
            assert reply == Text("typed")
    # The handler got the connection as a ClientHandle.
    assert seen and isinstance(seen[0].id, int) and seen[0].identity.transport.name == "UNIX"


def test_mypy_checks_declared_procedures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = pytest.importorskip("mypy.api")
    monkeypatch.setenv("MYPYPATH", str(ROOT))  # this checkout's netrpc
    code = textwrap.dedent(
        """
        from typing import Annotated

        from netrpc import Client, Program
        from netrpc.core import xdr
        from netrpc.core.program import declare

        @xdr.struct
        class Name:
            name: Annotated[str, xdr.String(64)]

        @xdr.struct
        class Greeting:
            text: Annotated[str, xdr.String(64)]

        class Greeter(Program):
            number, version = 0x20249999, 1

        GREET = declare(1, args=Name, ret=Greeting)
        COUNT = declare(2, ret=xdr.UINT)

        async def use(client: Client) -> None:
            greeting = await client.call_procedure(Greeter, GREET, Name("x"))
            reveal_type(greeting)
            reveal_type(await client.call_procedure(Greeter, COUNT))
            await client.call_procedure(Greeter, GREET, Greeting("wrong"))
        """
    )
    path = tmp_path / "use_stubs.py"
    path.write_text(code)
    out, _err, status = api.run(
        [str(path), "--strict", "--no-incremental", "--cache-dir", os.devnull,
         "--python-version", "3.11", "--config-file", str(ROOT / "pyproject.toml")]
    )
    lines = [line for line in out.splitlines() if "use_stubs.py" in line]
    assert status == 1, out
    assert any('Revealed type is "use_stubs.Greeting"' in line for line in lines), out
    assert any(re.search(r'Revealed type is "(builtins\.)?int"', line) for line in lines), out
    errors = [line for line in lines if ": error:" in line]
    wrong = code.splitlines().index(
        '    await client.call_procedure(Greeter, GREET, Greeting("wrong"))'
    ) + 1
    # The one error: the arguments of another procedure.
    assert [line.split(":")[1] for line in errors] == [str(wrong)], out
