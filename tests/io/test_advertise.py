"""A server advertises its TCP and TLS services and withdraws them on shutdown."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import pytest

from netrpc import Server, Service
from netrpc.discovery.mdns import Registration

from .helpers import SampleProgram

pytestmark = pytest.mark.anyio


class FakeAdvertiser:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[dict[str, Any]] = []
        self.withdrawn: list[str] = []
        self.addresses: list[list[str] | None] = []
        self.fail = fail

    async def publish(
        self,
        *,
        name: str | None = None,
        port: int,
        type_: str = "_libvirt._tcp",
        txt: Mapping[str, str] | None = None,
        host: str | None = None,
        addresses: Sequence[str] | None = None,
    ) -> Registration:
        if self.fail:
            raise RuntimeError("zeroconf exploded")
        self.published.append({"name": name, "port": port, "type": type_, "txt": dict(txt or {})})
        self.addresses.append(None if addresses is None else list(addresses))
        return Registration(
            name=name or "", requested_name=name or "", type=type_, port=port,
            txt=dict(txt or {}), server="host.local.", addresses=(), error=None,
        )

    async def withdraw(self, registration: Registration | None) -> None:
        assert registration is not None
        self.withdrawn.append(registration.name)

    async def aclose(self) -> None:
        pass


async def test_tcp_services_are_advertised_and_withdrawn() -> None:
    fake = FakeAdvertiser()
    server = Server("adv", programs=[SampleProgram()])
    with tempfile.TemporaryDirectory() as tmp:
        server.add_service(Service.unix(os.path.join(tmp, "s")))
        tcp = server.add_service(Service.tcp("127.0.0.1", 0))
        server.advertise(fake, name="Virtualization Host test", txt={"driver": "test"})
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            with anyio.fail_after(5):
                while not fake.published:
                    await anyio.sleep(0.01)
            assert fake.published == [
                {
                    "name": "Virtualization Host test",
                    "port": tcp.ports[0],
                    "type": "_libvirt._tcp",
                    "txt": {"transport": "tcp", "driver": "test"},
                }
            ]
            server.shutdown()
        assert fake.withdrawn == ["Virtualization Host test"]


async def test_advertising_failure_never_stops_serving() -> None:
    from netrpc import Client

    from .helpers import Text

    server = Server("adv", programs=[SampleProgram()])
    tcp = server.add_service(Service.tcp("127.0.0.1", 0))
    server.advertise(FakeAdvertiser(fail=True))
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        async with Client.tcp("127.0.0.1", tcp.ports[0]) as client:
            assert await client.stub(SampleProgram).echo(Text("ok")) == Text("ok")
        server.shutdown()
