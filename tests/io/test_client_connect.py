"""Client.connect(uri) over unix, tcp, tls and ext; command transports: stderr, reaping."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import anyio
import pytest

from netrpc import Client, ConnectionLostError, Service
from netrpc.security.certs import make_ca, make_client_cert, make_server_cert, write_pki
from netrpc.security.tls import TLSContext

from .helpers import SampleProgram, Text, running_server

pytestmark = pytest.mark.anyio

# stdin/stdout <-> a unix socket, like "nc -U PATH" (first argument); writes the second
# argument's number of KiB to stderr first.
RELAY = r'''
import os, socket, sys, threading
noise = int(sys.argv[2]) if len(sys.argv) > 2 else 0
for _ in range(noise):
    os.write(2, b"x" * 1023 + b"\n")
os.write(2, b"relay: connected\n")
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def up():
    while True:
        data = os.read(0, 65536)
        if not data:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(data)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    os.write(1, data)
'''


def script(tmp: Path, name: str, body: str) -> str:
    path = tmp / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


async def test_connect_unix_tcp_and_tls(tmp_path: Path) -> None:
    ca = make_ca("CN=test CA")
    write_pki(tmp_path / "pki", ca=ca, server=make_server_cert(ca, ["127.0.0.1"]),
              clients={"c": make_client_cert(ca, "c")})
    server_tls = TLSContext.server_from_pki(tmp_path / "pki")
    async with running_server() as (server, _, where):
        tls = server.add_service(Service.tls(server_tls, "127.0.0.1", 0))
        await anyio.sleep(0.2)
        port = where["tcp"][1]
        for uri in (
            f"test+unix:///default?socket={where['unix']}",
            f"test+tcp://127.0.0.1:{port}/default",
            f"test+tls://127.0.0.1:{tls.ports[0]}/default?pkipath={tmp_path / 'pki'}",
        ):
            async with Client.connect(uri) as client:
                assert await client.stub(SampleProgram).echo(Text(uri)) == Text(uri)
                assert client.uri is not None and client.uri.name == "test:///default"


async def test_connect_ext_relays_through_the_command(tmp_path: Path) -> None:
    relay = tmp_path / "relay.py"
    relay.write_text(RELAY)
    async with running_server(tcp=False) as (_, _, where):
        command = script(tmp_path, "ext", f'exec {sys.executable} {relay} {where["unix"]} 1024\n')
        async with Client.connect(f"test+ext:///default?command={command}") as client:
            # 1 MiB on stderr first: the command never blocks on it.
            with anyio.fail_after(20):
                assert await client.stub(SampleProgram).echo(Text("ext")) == Text("ext")
            process = client.stream.process  # type: ignore[attr-defined]
        assert process.returncode is not None  # reaped
        with pytest.raises(ProcessLookupError):
            os.kill(process.pid, 0)


async def test_a_failing_command_reports_its_stderr(tmp_path: Path) -> None:
    command = script(
        tmp_path, "failing-ssh",
        "echo 'ssh: connect to host 192.0.2.1 port 22: Connection refused' >&2\nexit 255\n",
    )
    async with Client.connect(f"test+ext:///default?command={command}") as client:
        with pytest.raises(ConnectionLostError) as info:
            with anyio.fail_after(20):
                await client.stub(SampleProgram).echo(Text("x"))
    assert str(info.value) == (
        "End of file while reading data: "
        "ssh: connect to host 192.0.2.1 port 22: Connection refused"
    )


async def test_a_command_that_ignores_sigterm_is_killed_and_reaped(tmp_path: Path) -> None:
    command = script(tmp_path, "stubborn", "trap '' TERM\necho started >&2\nsleep 100\n")
    start = time.monotonic()
    async with Client.connect(f"test+ext:///default?command={command}") as client:
        with anyio.move_on_after(0.3):
            await client.stub(SampleProgram).echo(Text("nobody answers"))
        process = client.stream.process  # type: ignore[attr-defined]
    assert time.monotonic() - start < 10
    assert process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)


async def test_a_missing_command_fails_at_connect() -> None:
    with pytest.raises(FileNotFoundError):
        async with Client.connect("test+ext:///default?command=/no/such/command"):
            pass


