"""Client limits across several listeners: every listener resumes when capacity returns,
and pending TLS handshakes never block the other transports."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from netrpc import Client, Server, Service
from netrpc.security.tls import TLSContext

from ..security.certfactory import matrix, write_pki
from .helpers import SampleProgram, Text

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def pki_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    m = matrix()
    base = tmp_path_factory.mktemp("pki")
    server = write_pki(base / "server", role="server", cas=[m.ca], leaf=m.server)
    client = write_pki(base / "client", role="client", cas=[m.ca], leaf=m.client)
    return server, client


Connect = contextlib.AbstractAsyncContextManager[Client]


@contextlib.asynccontextmanager
async def serving(
    kinds: list[str], pki: tuple[Path, Path], **options: Any
) -> AsyncIterator[tuple[Server, list[Any]]]:
    """Serve SampleProgram on one service per entry of *kinds* ("unix", "tcp", "tls");
    yields the server and, per service, a function opening a client on it."""
    server = Server("cap", programs=[SampleProgram()], **options)
    server_ctx = TLSContext.server_from_pki(pki[0])
    client_ctx = TLSContext.client_from_pki(pki[1])
    with tempfile.TemporaryDirectory() as tmp:
        services: list[Service] = []
        for i, kind in enumerate(kinds):
            if kind == "unix":
                services.append(server.add_service(Service.unix(os.path.join(tmp, f"s{i}"))))
            elif kind == "tcp":
                services.append(server.add_service(Service.tcp("127.0.0.1", 0)))
            else:
                services.append(
                    server.add_service(
                        Service.tls(server_ctx, "127.0.0.1", 0, handshake_timeout=20)
                    )
                )
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)

            def opener(service: Service) -> Any:
                def connect() -> Connect:
                    if service.kind == "unix":
                        assert service.path is not None
                        return Client.unix(service.path)
                    port = service.ports[0]
                    if service.tls_context is not None:
                        return Client.tls(
                            "127.0.0.1",
                            port,
                            client_ctx,
                            hostname="localhost",
                            handshake_timeout=20,
                        )
                    return Client.tcp("127.0.0.1", port)

                return connect

            try:
                yield server, [opener(s) for s in services]
            finally:
                server.shutdown(timeout=2)


async def wait_for(predicate: Any, timeout: float = 10) -> None:  # noqa: ASYNC109
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


LAYOUTS = {
    "plain-1": ["unix"],
    "plain-2": ["unix", "tcp"],
    "plain-3": ["unix", "tcp", "unix"],
    "tls-1": ["tls"],
    "tls-2": ["tls", "tls"],
    "tls-3": ["tls", "unix", "tls"],
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
async def test_every_listener_resumes_when_capacity_returns(
    layout: str, pki_dirs: tuple[Path, Path]
) -> None:
    kinds = LAYOUTS[layout]
    async with serving(kinds, pki_dirs, max_clients=1, max_anonymous_clients=1) as (
        server,
        connect,
    ):
        # Fill the server through the first listener, then connect once to each of the
        # others: their accept loops take the connection and wait for capacity, like the
        # first listener's loop.
        async with anyio.create_task_group() as tg:
            async with connect[0]() as first:
                assert await first.stub(SampleProgram).echo(Text("0")) == Text("0")

                async def parked(i: int) -> None:
                    # max_clients is 1: these are served one after the other.
                    with anyio.fail_after(20):
                        async with connect[i]() as client:
                            reply = await client.stub(SampleProgram).echo(Text(str(i)))
                            assert reply == Text(str(i))

                for i in range(1, len(kinds)):
                    tg.start_soon(parked, i)
                await anyio.sleep(0.5)
                assert server.nclients == 1
        await wait_for(lambda: server.nclients == 0)
        # Capacity is back: each listener serves a new client, in turn and more than once.
        for _ in range(2):
            for i in range(len(kinds)):
                with anyio.fail_after(10):
                    async with connect[i]() as client:
                        assert await client.stub(SampleProgram).echo(Text(str(i))) == Text(str(i))
                await wait_for(lambda: server.nclients == 0)


async def test_idle_tls_handshakes_stall_no_one(
    pki_dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    # Twice the handshake bound in idle TLS connections (connected, silent): unix clients
    # are served at once, TLS clients that complete their handshake get in within seconds
    # (not after the 20 s handshake timeout), and the idle ones are given up.
    async with serving(["unix", "tls"], pki_dirs, max_anonymous_clients=3) as (server, connect):
        port = server.services[1].ports[0]
        idle = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(6)]
        try:
            await wait_for(lambda: server.nclients == 3)
            assert server.nclients_unauthenticated == 3
            for i in range(20):
                with anyio.fail_after(5):
                    async with connect[0]() as client:
                        assert await client.stub(SampleProgram).echo(Text(str(i))) == Text(str(i))
            started = anyio.current_time()
            for i in range(3):
                with anyio.fail_after(10):
                    async with connect[1]() as client:
                        assert await client.stub(SampleProgram).echo(Text(str(i))) == Text(str(i))
            assert anyio.current_time() - started < 15
            # Each TLS client got in by giving up an idle handshake; never more than the
            # bound were pending.
            assert server.nclients_handshaking <= 3
            given_up = [
                r for r in caplog.records if "giving up the TLS handshake" in r.getMessage()
            ]
            assert len(given_up) >= 3
        finally:
            for stream in idle:
                await stream.aclose()
